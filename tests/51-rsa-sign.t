#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# signature "RSA", with the shim proving every signature was made by the
# token (C_Sign) and none verified there: every padding, digest, PSS salt
# length and MGF1 digest against the default provider in both directions
# (tests/c/rsa_check.c), 1024 to 4096-bit keys, the calls per signature,
# EVP_MD_CTX_copy mid-stream, the openssl command, config activation,
# pyca/cryptography, and bad input.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA ();
use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_RSA_PKCS CKM_RSA_X_509));
plan tests => 10;

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

sub check {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

# The count rsa_check printed is the count the token saw.
sub signed_on_token {
    my ($out) = @_;
    my ($n) = $out =~ /(\d+) signatures by pkcs11be/;
    is(count_of('C_Sign'), $n // -1, "the token made all ${\($n // '?')}");
    is(count_of('C_Verify'), 0, 'and verified none (the host does)');
}

my %key = map { $_ => make_key($_) } (512, 1024, 2048, 3072, 4096);

subtest '2048 bits: every padding, digest, salt length and MGF1' => sub {
    plan tests => 4;

    reset_counts();
    my $out = check('sign, verify, both directions', 'sign', 1, $key{2048});
    like($out, qr/ok: \d+ signature cases/, 'all cases ran');
    signed_on_token($out);
};

subtest '1024, 3072 and 4096 bits' => sub {
    plan tests => 4;

    reset_counts();
    my $out = check('sign, verify, both directions', 'sign', 0,
                    @key{1024, 3072, 4096});
    is(() = $out =~ /ok: \d+-bit key/g, 3, 'every size');
    signed_on_token($out);
};

subtest 'RSA-PSS keys: restrictions kept and enforced' => sub {
    plan tests => 3;

    my $pss = File::Spec->catfile($tmp, 'rsa-pss.pem');
    my ($rc, undef, $err) = ossl('genpkey', '-algorithm', 'RSA-PSS',
        '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt',
        'rsa_pss_keygen_md:sha256', '-pkeyopt', 'rsa_pss_keygen_mgf1_md:sha256',
        '-pkeyopt', 'rsa_pss_keygen_saltlen:32', '-out', $pss);
    die "openssl genpkey RSA-PSS: $err" if $rc != 0;
    reset_counts();
    check('imported and generated on the token', 'pss-key', $pss);
    is(count_of('C_GenerateKeyPair'), 1, 'one pair generated');
    is(count_of('C_Sign'), 2, 'both keys signed on the token');
};

subtest 'one C_SignInit and one C_Sign per signature' => sub {
    plan tests => 5;

    reset_counts();
    check('50 PKCS#1 SHA-256 signatures', 'repeat', 50, $key{2048});
    is(count_of('C_SignInit'), 50, '50 C_SignInit');
    is(count_of('C_Sign'), 50, '50 C_Sign');
    is(count_of('C_CreateObject'), 1, 'one key object');
    cmp_ok(count_of('C_OpenSession'), '<=', 2,
           'a pooled session and the object session');
};

subtest 'EVP_MD_CTX_copy of a DigestSign, mid-stream' => sub {
    plan tests => 2;

    reset_counts();
    check('both copies sign their own message', 'dup', $key{2048});
    is(count_of('C_Sign'), 2, 'two signatures on the token');
};

my $msg = File::Spec->catfile($tmp, 'msg.bin');
my $dgst = File::Spec->catfile($tmp, 'msg.sha256');
write_file($msg, random_bytes(5000));
write_file($dgst, Digest::SHA::sha256(read_file($msg)));
my @p11 = ('-provider', 'default', '-propquery', '?provider=pkcs11be');

subtest 'openssl pkeyutl and dgst' => sub {
    plan tests => 9;

    my $ref = File::Spec->catfile($tmp, 'ref.sig');
    my $sig = File::Spec->catfile($tmp, 'p11.sig');
    my @opts = ('-pkeyopt', 'digest:sha256');
    my @pss = (@opts, '-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt',
               'rsa_pss_saltlen:digest', '-pkeyopt', 'rsa_mgf1_md:sha1');

    reset_counts();
    my ($rc, $out, $err) = ossl_p11('pkeyutl', @p11, '-sign', '-inkey',
                                    $key{2048}, '-in', $dgst, '-out', $sig,
                                    @opts);
    is($rc, 0, 'pkeyutl -sign') or diag $err;
    ossl('pkeyutl', '-sign', '-inkey', $key{2048}, '-in', $dgst, '-out',
         $ref, @opts);
    is(read_file($sig), read_file($ref), 'the default provider\'s bytes');
    ($rc, undef, $err) = ossl_p11('pkeyutl', @p11, '-sign', '-inkey',
                                  $key{2048}, '-in', $dgst, '-out', $sig,
                                  @pss);
    is($rc, 0, 'pkeyutl -sign, PSS with MGF1-SHA1') or diag $err;
    ($rc, undef, $err) = ossl('pkeyutl', '-verify', '-inkey', $key{2048},
                              '-in', $dgst, '-sigfile', $sig, @pss);
    is($rc, 0, 'verified by the default provider') or diag $err;
    ($rc, undef, $err) = ossl_p11('pkeyutl', @p11, '-verify', '-inkey',
                                  $key{2048}, '-in', $dgst, '-sigfile', $sig,
                                  @pss);
    is($rc, 0, 'and by pkcs11be') or diag $err;
    ($rc, undef, $err) = ossl_p11('dgst', @p11, '-sha384', '-sign',
                                  $key{3072}, '-out', $sig, $msg);
    is($rc, 0, 'dgst -sha384 -sign') or diag $err;
    ossl('dgst', '-sha384', '-sign', $key{3072}, '-out', $ref, $msg);
    is(read_file($sig), read_file($ref), 'the default provider\'s bytes');
    ($rc, $out, $err) = ossl_p11('dgst', @p11, '-sha384', '-prverify',
                                 $key{3072}, '-signature', $sig, $msg);
    like($out, qr/Verified OK/, 'dgst -prverify through pkcs11be')
        or diag $err;
    is(count_of('C_Sign'), 3, 'three signatures on the token');
};

subtest 'config activation (OPENSSL_CONF, no -provider)' => sub {
    plan tests => 3;

    my $sig = File::Spec->catfile($tmp, 'conf.sig');
    my $ref = File::Spec->catfile($tmp, 'conf-ref.sig');
    my $conf = { env => { OPENSSL_CONF => File::Spec->catfile(build_dir(),
                                                              'openssl.cnf') } };
    reset_counts();
    my ($rc, undef, $err) = ossl('dgst', '-sha256', '-sign', $key{2048},
                                 '-out', $sig, $msg, $conf);
    is($rc, 0, 'dgst -sha256 -sign') or diag $err;
    ossl('dgst', '-sha256', '-sign', $key{2048}, '-out', $ref, $msg);
    is(read_file($sig), read_file($ref), 'the default provider\'s bytes');
    is(count_of('C_Sign'), 1, 'signed on the token');
};

subtest 'pyca/cryptography under OPENSSL_CONF' => sub {
    my $python = '/usr/bin/python3';
    plan skip_all => 'no /usr/bin/python3 with cryptography'
        unless -x $python && run($python, '-c', 'import cryptography') == 0;
    plan tests => 5;

    my $script = <<'PY';
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)
msg = open(sys.argv[2], 'rb').read()
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA1()),
                  salt_length=padding.PSS.MAX_LENGTH)
pkcs1 = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
sig = key.sign(msg, pss, hashes.SHA512())
key.public_key().verify(sig, msg, pss, hashes.SHA512())
open(sys.argv[3], 'wb').write(pkcs1)
open(sys.argv[4], 'wb').write(sig)
print('signed')
PY
    my ($pkcs1, $pss, $ref) = map { File::Spec->catfile($tmp, "py-$_.sig") }
                              qw(pkcs1 pss ref);
    reset_counts();
    my ($rc, $out, $err) = run($python, '-c', $script, $key{2048}, $msg,
        $pkcs1, $pss,
        { env => { OPENSSL_CONF => File::Spec->catfile(build_dir(),
                                                        'openssl.cnf') } });
    is($rc, 0, 'PKCS#1 SHA-256 and PSS SHA-512/MGF1-SHA1, verified') or diag $err;
    ossl('dgst', '-sha256', '-sign', $key{2048}, '-out', $ref, $msg);
    is(read_file($pkcs1), read_file($ref), 'the default provider\'s bytes');
    ($rc, undef, $err) = ossl('pkeyutl', '-verify', '-inkey', $key{2048},
                              '-in', write_digest('sha512', $msg),
                              '-sigfile', $pss, '-pkeyopt', 'digest:sha512',
                              '-pkeyopt', 'rsa_padding_mode:pss',
                              '-pkeyopt', 'rsa_mgf1_md:sha1');
    is($rc, 0, 'the PSS signature verifies with the default provider')
        or diag $err;
    is(count_of('C_Sign'), 2, 'both signed on the token');
    is(count_of('C_Verify'), 0, 'none verified there');
};

sub write_digest {
    my ($alg, $file) = @_;
    my $path = "$file.$alg";
    write_file($path, Digest::SHA->new($alg =~ s/sha//r)->add(read_file($file))
                                                       ->digest);
    return $path;
}

subtest 'bad input: clear errors, no crash' => sub {
    plan tests => 3;

    reset_counts();
    my $out = check('every case refused', 'errors', $key{2048}, $key{512});
    is(() = $out =~ /ok: refused/g, 14, 'fourteen refusals');
    like($out, qr/a wrong signature verifies as 0/, 'a wrong signature is 0');
};

subtest 'verification never touches the token' => sub {
    plan tests => 2;

    my $sig = File::Spec->catfile($tmp, 'verify.sig');
    ossl('dgst', '-sha256', '-sign', $key{2048}, '-out', $sig, $msg);
    reset_counts();
    my ($rc, $out) = ossl_p11('dgst', @p11, '-sha256', '-prverify',
                              $key{2048}, '-signature', $sig, $msg);
    like($out, qr/Verified OK/, 'verified through pkcs11be');
    is(count_of('C_CreateObject') + count_of('C_VerifyInit'), 0,
       'no key object, no C_VerifyInit');
};
