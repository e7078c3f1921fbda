#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# CBC and CTR where the token offers only the cipher's ECB (as Debian 12's
# p11-kit RPC client does): the shim hides CKM_AES_CBC, CKM_AES_CTR and
# CKM_DES3_CBC, pkcs11be chains on the host over the token's ECB, and
# `openssl enc` (strictly pkcs11be) must match the default provider byte
# for byte, both ways, with the token doing the block cipher.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_AES_ECB CKM_DES3_ECB));

use_shim();
# CKM_AES_CBC, CKM_AES_CTR, CKM_DES3_CBC
$ENV{P11SHIM_HIDE_MECHS} = '0x1082,0x1086,0x133';
my @strict = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
              '-provider', 'default', '-propquery', 'provider=pkcs11be');
my $key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
my $iv = 'f0e0d0c0b0a090807060504030201000';
my $dir = tmp_dir();

sub file_of { return File::Spec->catfile($dir, $_[0]) }

sub enc {
    my ($cipher, $how, $in, $out, @more) = @_;
    my $klen = $cipher =~ /128/ ? 32 : $cipher =~ /192|des/ ? 48 : 64;
    return ossl('enc', "-$cipher", '-K', substr($key, 0, $klen), '-iv',
                substr($iv, 0, $cipher =~ /des/ ? 16 : 32), '-in', $in,
                '-out', $out, @more, $how eq 'pkcs11be' ? @strict : (),
                { timeout => 120 });
}

my $data = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 70_000;
for my $len (0, 5, 16, 33, 1000, 5000, 70_001) {
    write_file(file_of("in$len"), substr($data, 0, $len));
}

for my $cipher (qw(aes-128-cbc aes-256-cbc aes-128-ctr aes-192-ctr
                   des-ede3-cbc)) {
    subtest "$cipher on the token's ECB" => sub {
        for my $len (0, 5, 16, 33, 1000, 5000, 70_001) {
            my $in = file_of("in$len");
            reset_counts();
            my ($rc1, undef, $err1) = enc($cipher, 'pkcs11be', $in,
                                          file_of('p11'));
            my ($rc2) = enc($cipher, 'default', $in, file_of('def'));
            ok($rc1 == 0 && $rc2 == 0
               && read_file(file_of('p11')) eq read_file(file_of('def')),
               "$len bytes: same as the default provider") or diag $err1;
            cmp_ok(count_of('C_EncryptInit'), '>', 0, '... on the token')
                if $len > 0;
            my ($rc3, undef, $err3) = enc($cipher, 'pkcs11be', file_of('p11'),
                                          file_of('back'), '-d');
            ok($rc3 == 0 && read_file(file_of('back')) eq read_file($in),
               '... and back') or diag $err3;
        }
    };
}
done_testing();
