#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The ciphers from the openssl command line: a 64 MiB stream through
# `openssl enc` both ways (strictly pkcs11be via -propquery) against the
# default provider, the other modes on 1 MiB, config-file activation with
# pkcs11be preferred (SoftHSM2's own AES calls come back into pkcs11be and
# are served by the default provider), and bad input: clear errors and no
# object left on the token.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

# Every file here runs AES (ECB, CBC, CTR, GCM) and DES3-CBC on the token.
need_mechs(qw(CKM_AES_ECB CKM_AES_CBC CKM_AES_CTR CKM_AES_GCM CKM_DES3_CBC));

use_shim();
my @strict = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
              '-provider', 'default', '-propquery', 'provider=pkcs11be');
my $key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
my $iv = 'f0e0d0c0b0a090807060504030201000';
my $dir = tmp_dir();
my $big = File::Spec->catfile($dir, 'big.bin');

sub file_of { return File::Spec->catfile($dir, $_[0]) }

sub enc {
    my ($cipher, $how, $in, $out, @more) = @_;
    my @iv = $cipher =~ /ecb|^des-ede3$/ ? () : ('-iv', substr($iv, 0,
                                                 $cipher =~ /des/ ? 16 : 32));
    my $klen = $cipher =~ /128/ ? 32 : $cipher =~ /192|des/ ? 48 : 64;
    return ossl('enc', "-$cipher", '-K', substr($key, 0, $klen), @iv,
                '-in', $in, '-out', $out, @more,
                $how eq 'pkcs11be' ? @strict : (), { timeout => 120 });
}

my ($rc, $out, $err) = ossl('rand', '-out', $big, 64 * 1024 * 1024);
is($rc, 0, '64 MiB of test data') or diag $err;

reset_counts();
($rc, $out, $err) = enc('aes-256-cbc', 'pkcs11be', $big, file_of('p11'));
is($rc, 0, 'openssl enc -aes-256-cbc: 64 MiB through pkcs11be') or diag $err;
($rc, $out, $err) = enc('aes-256-cbc', 'default', $big, file_of('def'));
is($rc, 0, '... and through the default provider') or diag $err;
ok(read_file(file_of('p11')) eq read_file(file_of('def')),
   'the same ciphertext, byte for byte');
cmp_ok(count_of('C_EncryptUpdate'), '>=', 1000,
       'the token encrypted it, streaming (C_EncryptUpdate)');
reset_counts();
($rc, $out, $err) = enc('aes-256-cbc', 'pkcs11be', file_of('p11'),
                        file_of('back'), '-d');
is($rc, 0, 'openssl enc -d: 64 MiB back through pkcs11be') or diag $err;
ok(read_file(file_of('back')) eq read_file($big), 'the original data');
cmp_ok(count_of('C_DecryptUpdate'), '>=', 1000, 'the token decrypted it');
unlink map { file_of($_) } qw(p11 def back);

my $mib = file_of('mib.bin');
write_file($mib, substr(read_file($big), 0, 1024 * 1024 + 7));
for my $cipher (qw(aes-128-ctr aes-192-ecb aes-128-cbc des-ede3-cbc
                   des-ede3)) {
    reset_counts();
    my ($rc1, undef, $err1) = enc($cipher, 'pkcs11be', $mib, file_of('p11'));
    my ($rc2) = enc($cipher, 'default', $mib, file_of('def'));
    ok($rc1 == 0 && $rc2 == 0
       && read_file(file_of('p11')) eq read_file(file_of('def')),
       "openssl enc -$cipher: same as the default provider") or diag $err1;
    my ($rc3) = enc($cipher, 'pkcs11be', file_of('p11'), file_of('back'),
                    '-d');
    ok($rc3 == 0 && read_file(file_of('back')) eq read_file($mib),
       "... and back");
    cmp_ok(count_of('C_EncryptInit') + count_of('C_DecryptInit'), '>', 0,
           '... on the token');
}

# Config activation: no -provider, no -propquery.
my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
SKIP: {
    skip "no $cnf", 4 unless -f $cnf;
    my $log = file_of('debug.log');
    reset_counts();
    ($rc, $out, $err) = ossl('enc', '-aes-128-cbc', '-K', substr($key, 0, 32),
        '-iv', $iv, '-in', $mib, '-out', file_of('cnf'),
        { env => { OPENSSL_CONF => $cnf, P11BE_DEBUG => $log },
          timeout => 60 });
    is($rc, 0, 'config activation: openssl enc -aes-128-cbc') or diag $err;
    enc('aes-128-cbc', 'default', $mib, file_of('def'));
    ok(read_file(file_of('cnf')) eq read_file(file_of('def')),
       '... the default provider\'s ciphertext');
    cmp_ok(count_of('C_EncryptInit'), '>', 0, '... made by the token');
  SKIP: {
        # NSS's softokn has its own AES (freebl): nothing comes back.
        skip 'the nss token does not call OpenSSL', 1
            if token_kind() eq 'nss';
        like(read_file($log),
             qr/re-entered from the module: AES-128-(CBC|ECB) by the default/,
             'SoftHSM2\'s own AES came back into pkcs11be and was served');
    }
}

# Bad input.
reset_counts();
($rc, $out, $err) = ossl('enc', '-aes-128-cbc', '-K', substr($key, 0, 32),
                         '-in', $mib, '-out', file_of('x'), @strict);
isnt($rc, 0, 'no IV: refused');
like($err, qr/iv undefined/i, '... "iv undefined"');
($rc, $out, $err) = ossl('enc', '-aes-128-cbc', '-K', '0011', '-iv', $iv,
                         '-in', $mib, '-out', file_of('short'), @strict);
my ($rc_d, undef, $err_d) = ossl('enc', '-aes-128-cbc', '-K', '0011',
    '-iv', $iv, '-in', $mib, '-out', file_of('short-def'));
ok($rc == 0 && $rc_d == 0
   && read_file(file_of('short')) eq read_file(file_of('short-def')),
   'a short key is padded with zeros, as with the default provider')
    or diag "$err$err_d";
like($err, qr/too short/, '... with OpenSSL\'s warning');
enc('aes-128-cbc', 'pkcs11be', $mib, file_of('p11'));
($rc, $out, $err) = ossl('enc', '-d', '-aes-128-cbc',
    '-K', 'ff' x 16, '-iv', $iv, '-in', file_of('p11'),
    '-out', file_of('x'), @strict);
isnt($rc, 0, 'decrypting with the wrong key fails');
like($err, qr/bad decrypt/, '... with "bad decrypt"');
is(count_of('C_CreateObject'), count_of('C_DestroyObject'),
   'no object left on the token');

done_testing();
