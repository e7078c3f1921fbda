#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# KDFs (provider/ops/kdf.c): pkcs11be offers the default provider's KDFs and
# runs them whole there, so that a derivation makes no token call per
# iteration. Known answers and the default provider's outputs
# (tests/c/kdf_check.c), the token call counts of iterated derivations
# under OPENSSL_CONF (openssl kdf, enc -pbkdf2, pkcs12 -export, pyca's
# PBKDF2 and PKCS#12 vectors), and the "pkcs11-delegated" counter.
# Timings with and without pkcs11be are printed (diag), not asserted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Time::HiRes ();
use Test::More;
use P11BE;

my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;

use_shim();
my $check = test_program('kdf_check');
my $tmp = tmp_dir();
my $no_cnf = File::Spec->catfile($tmp, 'empty.cnf');
write_file($no_cnf, "# the default provider alone\n");
my %with = (env => { OPENSSL_CONF => $cnf }, timeout => 300);
my %without = (env => { OPENSSL_CONF => $no_cnf }, timeout => 300);

# Calls that an iterated HMAC or digest on the token would make.
sub token_hash_calls {
    my $n = 0;
    $n += count_of($_) for qw(C_SignInit C_Sign C_SignUpdate C_SignFinal
                              C_DigestInit C_Digest C_DigestUpdate
                              C_DigestFinal);
    return $n;
}

sub timed {
    my $t0 = Time::HiRes::time();
    my @r = run(@_);
    return (Time::HiRes::time() - $t0, @r);
}

for my $mode (['vectors'], ['random', 12], ['errors'], ['counter']) {
    my ($rc, $out, $err) = run($check, @$mode,
        { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 120 });
    is($rc, 0, "kdf_check @$mode") or diag "$out$err";
}

reset_counts();
my ($rc, $out, $err) = run($check, 'pbkdf2', 100000,
    { env => { P11BE_BUILD_DIR => build_dir() } });
is($rc, 0, 'PBKDF2 of 100,000 iterations fetched from pkcs11be')
    or diag "$out$err";
is(token_hash_calls(), 0, '... makes no C_Sign*/C_Digest* call');

my @kdf = ('kdf', '-keylen', 32, '-kdfopt', 'digest:SHA256',
           '-kdfopt', 'pass:password', '-kdfopt', 'salt:saltsaltsaltsalt',
           '-kdfopt', 'iter:100000', 'PBKDF2');
reset_counts();
my ($rc1, $mine) = ossl(@kdf, \%with);
my $calls = token_hash_calls();
my ($rc2, $ref) = ossl(@kdf, \%without);
ok($rc1 == 0 && $rc2 == 0 && $mine eq $ref && $mine =~ /[0-9A-F]{2}:/,
   'openssl kdf PBKDF2 under the config: the default provider\'s answer')
    or diag "$mine / $ref";
is($calls, 0, '... 100,000 iterations, no C_Sign*/C_Digest* call');

# PBKDF1 (OpenSSL 3.0's legacy provider): with the legacy provider loaded
# too, pkcs11be runs it whole, its digest rounds included (evpkdf_pbkdf1.txt
# line 105: 65,537 iterations of SHA-1).
(my $legacy_text = read_file($cnf)) =~
    s/^(default = default_sect\n)/$1legacy = legacy_sect\n/m
    or die "no default provider line in $cnf";
my $legacy_cnf = File::Spec->catfile($tmp, 'legacy.cnf');
write_file($legacy_cnf, "$legacy_text\n[legacy_sect]\nactivate = 1\n");
my $legacy_only = File::Spec->catfile($tmp, 'legacy-only.cnf');
write_file($legacy_only, "openssl_conf = openssl_init\n[openssl_init]\n"
    . "providers = provider_sect\n[provider_sect]\ndefault = default_sect\n"
    . "legacy = legacy_sect\n[default_sect]\nactivate = 1\n"
    . "[legacy_sect]\nactivate = 1\n");
my @pbkdf1 = ('kdf', '-keylen', 16, '-kdfopt', 'digest:SHA1',
              '-kdfopt', 'pass:passwordPASSWORDpassword',
              '-kdfopt', 'salt:saltSALT', '-kdfopt', 'iter:65537', 'PBKDF1');
my $pbkdf1_log = File::Spec->catfile($tmp, 'pbkdf1.log');
reset_counts();
($rc1, $mine) = ossl(@pbkdf1, { env => { OPENSSL_CONF => $legacy_cnf,
                                         P11BE_DEBUG => $pbkdf1_log } });
$calls = token_hash_calls();
($rc2, $ref) = ossl(@pbkdf1, { env => { OPENSSL_CONF => $legacy_only } });
ok($rc1 == 0 && $mine eq $ref
   && $mine =~ /^B2:B4:63:57:18:AA:AD:9F:EF:23:FE:32:8E:B8:3E:CF\s*$/,
   'openssl kdf PBKDF1 with the legacy provider: the known answer')
    or diag "$mine / $ref";
is($calls, 0, '... 65,537 iterations, no C_Digest* call');
like(read_file($pbkdf1_log), qr/KDF PBKDF1 delegated/,
     '... run whole by the default and legacy providers (delegated)');

my @hkdf = ('kdf', '-keylen', 42, '-kdfopt', 'digest:SHA256',
            '-kdfopt', 'hexkey:0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
            '-kdfopt', 'hexsalt:000102030405060708090a0b0c',
            '-kdfopt', 'hexinfo:f0f1f2f3f4f5f6f7f8f9', 'HKDF');
($rc1, $mine) = ossl(@hkdf, \%with);
($rc2, $ref) = ossl(@hkdf, \%without);
ok($rc1 == 0 && $mine eq $ref && $mine =~ /^3C:B2:5F:25/,
   'openssl kdf HKDF under the config: RFC 5869 A.1') or diag $mine;

my ($rc0, $list) = ossl('list', '-kdf-algorithms', \%with);
like($list, qr/PBKDF2 } \@ pkcs11be/, 'the KDFs are offered under the config');
($rc0, $list) = ossl('list', '-kdf-algorithms',
                     { env => { OPENSSL_CONF => $cnf, P11BE_OFFLOAD => 'keys' } });
ok($rc0 == 0 && $list =~ /\@ default/ && $list !~ /\@ pkcs11be/,
   'pkcs11-offload = keys: no KDF offered');

# openssl enc -pbkdf2 -iter 600000: same ciphertext, no per-iteration call.
my $plain = File::Spec->catfile($tmp, 'plain');
write_file($plain, random_bytes(1000));
my @enc = ('enc', '-aes-256-cbc', '-pbkdf2', '-iter', 600000, '-md',
           'sha256', '-pass', 'pass:secret', '-S', '0102030405060708',
           '-in', $plain);
reset_counts();
my ($t_with, $rc3, $ct_with) = timed('openssl', @enc, \%with);
$calls = token_hash_calls();
my ($t_without, $rc4, $ct_without) = timed('openssl', @enc, \%without);
ok($rc3 == 0 && $rc4 == 0 && $ct_with eq $ct_without,
   'openssl enc -pbkdf2 -iter 600000 under the config: same ciphertext');
is($calls, 0, '... no C_Sign*/C_Digest* call');
# Best of three, alternating, for a figure that survives a busy machine.
for (1 .. 2) {
    my ($t1) = timed('openssl', @enc, \%with);
    my ($t2) = timed('openssl', @enc, \%without);
    $t_with = $t1 if $t1 < $t_with;
    $t_without = $t2 if $t2 < $t_without;
}
diag(sprintf('openssl enc -pbkdf2 -iter 600000: %.2f s with pkcs11be, '
             . '%.2f s without (%.2fx, best of 3)', $t_with, $t_without,
             $t_with / $t_without));

# openssl pkcs12 -export under the config, read back without it.
my $key = File::Spec->catfile($tmp, 'key.pem');
my $crt = File::Spec->catfile($tmp, 'crt.pem');
my $p12 = File::Spec->catfile($tmp, 'out.p12');
ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
     '-nodes', '-keyout', $key, '-out', $crt, '-subj', '/CN=kdf', \%without);
reset_counts();
($rc) = ossl('pkcs12', '-export', '-inkey', $key, '-in', $crt, '-out', $p12,
             '-passout', 'pass:secret', \%with);
$calls = token_hash_calls();
is($rc, 0, 'openssl pkcs12 -export under the config');
cmp_ok($calls, '<', 50,
       '... bounded C_Sign*/C_Digest* calls (the MAC, not its KDF rounds)');
my ($rc5, $back) = ossl('pkcs12', '-in', $p12, '-passin', 'pass:secret',
                        '-nodes', \%without);
my $key_text = read_file($key);
my ($key_b64) = $key_text =~ /-----\n(.*)-----END/s;
ok($rc5 == 0 && index($back, read_file($crt)) >= 0
   && defined $key_b64 && index($back, $key_b64) >= 0,
   '... the default provider reads back the same key and certificate');

# pyca/cryptography's own vectors (Debian's python3-cryptography-vectors).
my $python = '/usr/bin/python3';
my ($has) = run($python, '-c', 'import cryptography, cryptography_vectors');
SKIP: {
    skip 'python3-cryptography(-vectors) not installed', 6 if $has != 0;
    my $driver = File::Spec->catfile(source_dir(), 'tests', 'common',
                                     'pyca_kdf_vectors.py');
    for my $set ('pbkdf2', 'pkcs12') {
        reset_counts();
        my ($tw, $r1, $o1, $e1) = timed($python, $driver, $set, \%with);
        my $n = token_hash_calls();
        my ($to, $r2, $o2, $e2) = timed($python, $driver, $set, \%without);
        ok($r1 == 0 && $r2 == 0 && $o1 eq $o2 && $o1 =~ /^ok /m,
           "pyca $set vectors under the config: same results")
            or diag "$o1$e1$o2$e2";
        like($o1, qr/^ok: \d+ vectors/m, "... all known answers matched");
        cmp_ok($n, '<', $set eq 'pbkdf2' ? 1 : 500,
               "... no token call per iteration ($n calls)");
        diag(sprintf('pyca %s vectors: %.2f s with pkcs11be, %.2f s '
                     . 'without (%.2fx)', $set, $tw, $to, $tw / $to));
    }
}

done_testing();
