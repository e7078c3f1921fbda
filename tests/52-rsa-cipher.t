#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# asym-cipher "RSA", with the shim proving every decryption ran on the
# token (C_Decrypt) and no encryption did: PKCS#1 v1.5, raw, and OAEP with
# every SHA-1/SHA-2 hash and MGF1 and with a label, against the default
# provider in both directions (tests/c/rsa_check.c); pyca/cryptography OAEP
# vectors decrypted with the vectors' keys; the openssl command and
# pyca/cryptography under OPENSSL_CONF.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_RSA_PKCS CKM_RSA_X_509));
plan tests => 4;

use_shim();
my $check = test_program('rsa_check');
my $tmp = tmp_dir();

sub make_key {
    my ($bits) = @_;
    my $path = File::Spec->catfile($tmp, "rsa$bits.pem");
    my ($rc, undef, $err) = ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt',
                                 "rsa_keygen_bits:$bits", '-out', $path);
    die "openssl genpkey $bits: $err" if $rc != 0;
    return $path;
}

my %key = map { $_ => make_key($_) } (1024, 2048, 4096);
my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');

subtest 'pkcs1, none and OAEP (hashes, MGF1, label), both directions' => sub {
    plan tests => 5;
    local $TODO = 'opencryptoki 3.8 decrypts an empty PKCS#1 v1.5 message '
        . 'to modulus-size junk with CKR_OK (its bug), and rsa_check stops '
        . 'there' if token_kind() eq 'opencryptoki';

    reset_counts();
    my ($rc, $out, $err) = run($check, 'decrypt', @key{1024, 2048, 4096},
        { env => { P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, '1024, 2048 and 4096 bits') or diag "$out$err";
    my ($n) = $out =~ /(\d+) decryptions by pkcs11be/;
    cmp_ok($n // 0, '>', 50, 'every case ran');
    is(count_of('C_Decrypt'), $n // -1, 'each decryption on the token, once');
    is(count_of('C_Encrypt') + count_of('C_EncryptInit'), 0,
       'no encryption there (the host does)');
    # Refused OAEP hash/MGF1 pairs are learned: one refused init each.
    cmp_ok(count_of('C_DecryptInit') - count_of('C_Decrypt'), '<=', 25,
           'at most one refused C_DecryptInit per OAEP hash/MGF1 pair');
};

subtest 'openssl pkeyutl -encrypt / -decrypt' => sub {
    plan tests => 7;

    my $pt = File::Spec->catfile($tmp, 'pt.bin');
    my $ct = File::Spec->catfile($tmp, 'ct.bin');
    my $out = File::Spec->catfile($tmp, 'out.bin');
    my @oaep = ('-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt',
                'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha1',
                '-pkeyopt', 'rsa_oaep_label:0102030405');
    my @p11 = ('-provider', 'default', '-propquery', '?provider=pkcs11be');
    write_file($pt, random_bytes(40, 'pkeyutl'));

    reset_counts();
    my ($rc, undef, $err) = ossl('pkeyutl', '-encrypt', '-inkey', $key{2048},
                                 '-in', $pt, '-out', $ct, @oaep);
    is($rc, 0, 'OAEP-SHA256/MGF1-SHA1 with a label, by default') or diag $err;
    ($rc, undef, $err) = ossl_p11('pkeyutl', @p11, '-decrypt', '-inkey',
                                  $key{2048}, '-in', $ct, '-out', $out, @oaep);
    is($rc, 0, 'decrypted by pkcs11be') or diag $err;
    is(read_file($out), read_file($pt), 'the plaintext');
    ($rc, undef, $err) = ossl_p11('pkeyutl', @p11, '-encrypt', '-inkey',
                                  $key{2048}, '-in', $pt, '-out', $ct);
    is($rc, 0, 'PKCS#1 by pkcs11be') or diag $err;
    ($rc, undef, $err) = ossl_p11('pkeyutl', @p11, '-decrypt', '-inkey',
                                  $key{2048}, '-in', $ct, '-out', $out);
    is($rc, 0, 'decrypted by pkcs11be') or diag $err;
    is(read_file($out), read_file($pt), 'the plaintext');
    is(count_of('C_Decrypt'), 2, 'both decryptions on the token');
};

subtest 'pyca/cryptography under OPENSSL_CONF' => sub {
    my $python = '/usr/bin/python3';
    plan skip_all => 'no /usr/bin/python3 with cryptography'
        unless -x $python && run($python, '-c', 'import cryptography') == 0;
    plan tests => 2;

    my $script = <<'PY';
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)
pub = key.public_key()
for pad in (padding.PKCS1v15(),
            padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
            padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA384(),
                         b'a label')):
    msg = b'pkcs11be decrypts this'
    assert key.decrypt(pub.encrypt(msg, pad), pad) == msg
try:
    key.decrypt(b'\x01' * 256, padding.PKCS1v15())
    print('decrypted garbage')
except ValueError:
    print('decrypted')
PY
    reset_counts();
    my ($rc, $out, $err) = run($python, '-c', $script, $key{2048},
                               { env => { OPENSSL_CONF => $conf } });
    like($out, qr/^decrypted$/m, 'PKCS#1 and OAEP round trips, garbage refused')
        or diag "$out$err";
    is(count_of('C_Decrypt'), 4, 'decrypted on the token');
};

subtest 'pyca/cryptography OAEP vectors (RSA-OAEP SHA-2)' => sub {
    my $vectors = '/usr/lib/python3/dist-packages/cryptography_vectors';
    my $dir = "$vectors/asymmetric/RSA/oaep-custom";
    plan skip_all => "no vectors in $dir" unless -d $dir;
    plan tests => 2;

    # Each file: "# Label:" lines, each followed by its value: a key
    # (Modulus .. Coefficient), then Message/Encryption pairs, ten times.
    my $script = <<'PY';
import glob, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateNumbers, RSAPublicNumbers, rsa_crt_dmp1, rsa_crt_dmq1,
    rsa_crt_iqmp)
algs = {'sha1': hashes.SHA1, 'sha224': hashes.SHA224,
        'sha256': hashes.SHA256, 'sha384': hashes.SHA384,
        'sha512': hashes.SHA512}
count = 0
for path in sorted(glob.glob(sys.argv[1] + '/oaep-*.txt')):
    mgf, alg = (algs[a] for a in path.rsplit('/', 1)[1][5:-4].split('-'))
    pad = padding.OAEP(padding.MGF1(mgf()), alg(), None)
    lines = [l.strip() for l in open(path)]
    f, key = {}, None
    for label, value in zip(lines, lines[1:]):
        if not (label.startswith('# ') and label.endswith(':')):
            continue
        f[label[2:-1]] = value
        if label == '# Coefficient:' and key is not None:
            break  # the first key of each file: pyca checks keys slowly
        if label == '# Coefficient:':
            n, e, d, p, q = (int(f[k], 16) for k in (
                'Modulus', 'Public exponent', 'Exponent', 'Prime 1',
                'Prime 2'))
            key = RSAPrivateNumbers(p, q, d, rsa_crt_dmp1(d, p),
                                    rsa_crt_dmq1(d, q), rsa_crt_iqmp(p, q),
                                    RSAPublicNumbers(e, n)).private_key()
        elif label == '# Encryption:':
            pt = key.decrypt(bytes.fromhex(value), pad)
            assert pt == bytes.fromhex(f['Message']), path
            count += 1
print('vectors: %d' % count)
PY
    reset_counts();
    my ($rc, $out, $err) = run('/usr/bin/python3', '-c', $script, $dir,
                               { env => { OPENSSL_CONF => $conf } });
    my ($n) = $out =~ /vectors: (\d+)/;
    ok(($n // 0) > 0, "decrypted ${\($n // 0)} vectors") or diag "$out$err";
    is(count_of('C_Decrypt'), $n // -1, 'every one on the token');
};
