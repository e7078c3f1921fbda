# SPDX-License-Identifier: Apache-2.0
# Config-file activation with pkcs11be preferred (default_properties): plain
# openssl commands use the token, and SoftHSM2's own OpenSSL calls, which
# come back into pkcs11be from inside the token, are served without
# recursion or deadlock. Teardown at exit never crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex sha512_hex);
use P11BE;

# SHA-256 on the token is what every check here runs.
need_mechs(qw(CKM_SHA256));

use_shim();
my $cnf = build_dir() . '/openssl.cnf';
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;
my $file = tmp_dir() . '/msg.bin';
my $msg = random_bytes(100_000);
write_file($file, $msg);
my $log = tmp_dir() . '/debug.log';
my %env = (OPENSSL_CONF => $cnf, P11BE_DEBUG => $log);

reset_counts();
my ($rc, $out, $err) = ossl('dgst', '-sha256', $file,
                            { env => \%env, timeout => 30 });
is($rc, 0, 'plain openssl dgst under OPENSSL_CONF: exit 0') or diag $err;
like($out, qr/\Q${\ sha256_hex($msg)}\E/, 'right digest');
cmp_ok(count_of('C_Digest'), '>=', 1, 'the token did it');
my $trace = read_file($log);
SKIP: {
    # Only SoftHSM2 in this process calls OpenSSL (rpc: in the p11-kit
    # server; NSS's softokn has its own crypto).
    skip 'P11BE_TOKEN=' . token_kind() . ': the module does not call back '
         . 'into OpenSSL here', 1 if token_kind() !~ /\A(?:softhsm|proxy)\z/;
    like($trace, qr/re-entered from the module: SHA2-256 by the default provider/,
         "the module's own SHA-256 came back into pkcs11be and was served");
}
unlike($trace, qr/bystander/, 'no second instance was needed');

# Several commands, each starting and tearing down the provider.
for my $cmd (['dgst', '-sha512', $file], ['sha256', $file],
             ['dgst', '-sha1', '-r', $file]) {
    ($rc, $out, $err) = ossl(@$cmd, { env => \%env, timeout => 30 });
    is($rc, 0, "openssl @$cmd[0..1]: exit 0, no crash at exit") or diag $err;
}

# Finalise policies: auto and never both exit cleanly; a wrong name fails
# at use, not at start-up.
for my $mode (qw(auto never)) {
    ($rc, $out, $err) = ossl('dgst', '-sha256', $file,
        { env => { %env, P11BE_FINALIZE => $mode }, timeout => 30 });
    is($rc, 0, "pkcs11-finalize=$mode: clean exit") or diag $err;
}

# Login under config activation: SoftHSM2's C_Login hashes the PIN with
# OpenSSL, which comes straight back into pkcs11be.
reset_counts();
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
    { env => { %env, P11BE_LOGIN => 'at-first-use' }, timeout => 30 });
is($rc, 0, 'login under config activation: no deadlock') or diag $err;
is(count_of('C_Login'), 1, 'one login');
unlike(read_file($log), qr/\Q$ENV{CRYPTOGRAPHY_PKCS11_PASSWORD}\E\b(?!\d)/,
       'the PIN never reaches the debug log');

# Private library context plus the config's default-context instance.
($rc, $out, $err) = run(test_program('digest_check'), 'libctx',
                        { env => \%env, timeout => 60 });
is($rc, 0, 'pkcs11be in a private libctx beside the config one') or diag
    "$out$err";

# CMS and S/MIME signing copy the content's digest for each signer and
# finish the copies: past pkcs11-digest-buffer-max (1 MiB) SoftHSM2 cannot
# copy a running digest, so the copies share it (stream.c).
{
    my $big = tmp_dir() . '/big.bin';
    write_file($big, random_bytes(3 * 1024 * 1024 + 7));
    my @signers;
    # The signatures run on the token too: RSA keys where it has no ECDSA
    # (opencryptoki); the digest copies are the same.
    my @newkey = has_mech('CKM_ECDSA')
        ? ('ec', '-pkeyopt', 'ec_paramgen_curve:P-256') : ('rsa:2048');
    for my $n (1, 2) {
        my ($key, $cert) = map { tmp_dir() . "/signer$n.$_" } qw(key crt);
        ($rc, $out, $err) = ossl('req', '-x509', '-newkey', @newkey, '-nodes',
                                 '-keyout', $key, '-out', $cert, '-subj',
                                 "/CN=signer $n", '-days', '2');
        is($rc, 0, "signer $n made by the default provider") or diag $err;
        push @signers, '-signer', $cert, '-inkey', $key;
    }
    write_file(tmp_dir() . '/signers.crt',
               join('', map { read_file(tmp_dir() . "/signer$_.crt") } 1, 2));
    for my $cmd ('cms', 'smime') {
        my $signed = tmp_dir() . "/big.$cmd";
        reset_counts();
        ($rc, $out, $err) = ossl($cmd, '-sign', '-binary', '-in', $big,
                                 @signers, '-outform', 'DER', '-out', $signed,
                                 { env => \%env, timeout => 60 });
        is($rc, 0, "openssl $cmd -sign, 3 MiB, two signers") or diag $err;
        cmp_ok(count_of('C_DigestUpdate'), '>', 0,
               "$cmd: the content was hashed on the token");
        ($rc, $out, $err) = ossl($cmd, '-verify', '-binary', '-inform', 'DER',
                                 '-in', $signed, '-content', $big, '-CAfile',
                                 tmp_dir() . '/signers.crt', '-out', '/dev/null',
                                 { timeout => 60 });
        like($err, qr/Verification successful/,
             "$cmd: the default provider verifies both signatures")
            or diag "$rc $err";
    }
}

# pyca/cryptography through the system OpenSSL (Debian's python3).
SKIP: {
    skip 'no /usr/bin/python3 with cryptography', 3
        unless run('/usr/bin/python3', '-c', 'import cryptography') == 0;
    reset_counts();
    my $py = <<'PY';
import sys
from cryptography.hazmat.primitives import hashes
data = open(sys.argv[1], 'rb').read()
h = hashes.Hash(hashes.SHA256())
h.update(data[:5000])
c = h.copy()
h.update(data[5000:])
c.update(b"tail")
print(h.finalize().hex())
print(c.finalize().hex())
PY
    ($rc, $out, $err) = run('/usr/bin/python3', '-c', $py, $file,
                            { env => \%env, timeout => 60 });
    is($rc, 0, 'pyca/cryptography hashes under OPENSSL_CONF') or diag $err;
    is($out, sha256_hex($msg) . "\n" . sha256_hex(substr($msg, 0, 5000)
        . 'tail') . "\n", 'pyca: Hash and Hash.copy() give the right digests');
    cmp_ok(count_of('C_Digest'), '>=', 2, 'pyca: the token did it');
}

done_testing();
