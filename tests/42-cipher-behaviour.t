#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Cipher behaviours through tests/c/cipher_check: GCM corner cases, context
# copies mid-stream, re-initialisation without re-importing the key, the
# PKCS#11 calls a one-shot message costs (the same as a direct caller's
# C_xInit + C_x), and bad input: clear errors, no crash, no object left on
# the token; pkcs11-gcm-decrypt-max. On a token lacking GCM (the shim hides
# CKM_AES_GCM): the default provider inside pkcs11be (delegated), or with
# pkcs11-delegate = no an error naming the mechanism.
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
my $check = test_program('cipher_check');

sub check {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 120 });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

check('GCM: AAD only, empty message, IV 1 to 128 bytes, tags 1 to 16 '
      . 'bytes right and wrong, order errors, generated IV', 'gcm-edge');

reset_counts();
my $out = check('EVP_CIPHER_CTX_copy at every point of CBC, ECB, CTR, '
                . 'DES-EDE3-CBC and GCM messages', 'copy');
like($out, qr/streaming GCM copy refused: .*/,
     'a streaming GCM encryption is refused, not copied wrongly');
is(count_of('C_GetOperationState'), 0,
   'copies come from the host state, on any token');

reset_counts();
check('100 messages, new IV each, one key', 'reinit', 100);
is(count_of('C_CreateObject'), 1, 'the key was imported once');
is(count_of('C_DestroyObject'), 1, 'and destroyed with the context');

# One message each; the direct PKCS#11 cost is C_xInit + C_x.
my @one_shot = (
    ['AES-128-CBC', 16384, 1, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-128-CBC', 16384, 0, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-128-CBC', 64, 1, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-128-CBC', 16384, 1, 'dec', 'C_DecryptInit', 'C_Decrypt'],
    ['AES-128-CBC', 64, 1, 'dec', 'C_DecryptInit', 'C_Decrypt'],
    ['AES-256-ECB', 1000, 1, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-256-CTR', 1000, 0, 'dec', 'C_DecryptInit', 'C_Decrypt'],
    ['DES-EDE3-CBC', 100, 1, 'dec', 'C_DecryptInit', 'C_Decrypt'],
    ['AES-256-GCM', 16384, 0, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-256-GCM', 64, 0, 'enc', 'C_EncryptInit', 'C_Encrypt'],
    ['AES-256-GCM', 16384, 0, 'dec', 'C_DecryptInit', 'C_Decrypt'],
);
for my $case (@one_shot) {
    my ($alg, $len, $pad, $dir, $init, $op) = @$case;
    reset_counts();
    check("$alg $dir $len bytes, padding $pad", 'count', $alg, $len, $pad,
          $dir);
    my %got = map { $_ => count_of($_) }
              qw(C_EncryptInit C_Encrypt C_EncryptUpdate C_EncryptFinal
                 C_DecryptInit C_Decrypt C_DecryptUpdate C_DecryptFinal);
    my %want = map { $_ => 0 } keys %got;
    @want{$init, $op} = (1, 1);
    is_deeply(\%got, \%want, "... costs $init + $op, as a direct caller");
}
# GCM decryption with the tag set only before final: the plaintext comes
# from the keystream (C_Encrypt), the tag is checked by C_Decrypt in final.
reset_counts();
check('AES-256-GCM dec, tag set before final', 'count', 'AES-256-GCM',
      16384, 0, 'dec-late');
is(count_of('C_Decrypt') + count_of('C_Encrypt'), 2,
   '... costs one keystream pass and one checked C_Decrypt');

# pkcs11-gcm-decrypt-max: a decryption holds its AAD and ciphertext until
# final (the token checks the tag only there); past the bound the update
# fails, naming the setting. Encryption is not bounded by it.
sub gcm_bound {
    my ($max, @args) = @_;
    my ($rc, $out, $err) = run($check, 'gcm-bound', @args,
        { env => { P11BE_BUILD_DIR => build_dir(),
                   P11BE_GCM_DECRYPT_MAX => $max },
          timeout => 120 });
    return ($rc, "$out$err");
}
my $bound_error = join(' ',
    'AES-256-GCM: a decryption holds its AAD and ciphertext until final,',
    'where the token checks the tag: \d+ bytes held and \d+ more would',
    'exceed P11BE_GCM_DECRYPT_MAX \(65536 bytes\)');
reset_counts();
my ($rc, $bound_out) = gcm_bound(65536, 65436, 100, 4096);
is($rc, 0, 'GCM decryption of AAD and ciphertext up to the bound');
is(() = $bound_out =~ /^ok: decrypted 65436 bytes .*: the message$/mg, 2,
   '... gives the message, tag set first and last')
    or diag($bound_out);
cmp_ok(count_of('C_Decrypt'), '>=', 2, '... the token checked the tags');
($rc, $bound_out) = gcm_bound(65536, 65437, 100, 4096);
is($rc, 0, 'one byte more: no wrong result, no crash');
is(() = $bound_out =~ /^refused at byte 61440, tag set \w+: .*$bound_error/mg,
   2, '... is refused at the update that passes the bound, naming it')
    or diag($bound_out);
like($bound_out, qr/^ok: pkcs11be encrypted the 65437 bytes as the default/m,
     'encryption is not bounded by it');
($rc, $bound_out) = gcm_bound(65536, 0, 70000, 4096);
is(() = $bound_out =~ /^refused at the AAD, tag set \w+: .*$bound_error/mg, 2,
   'AAD counts too') or diag($bound_out);
($rc, $bound_out) = gcm_bound('64k', 16, 0, 16);
like($bound_out,
     qr/P11BE_GCM_DECRYPT_MAX="64k": expected a decimal number from 0 to/,
     'a bound that is not a number is named');
($rc, $bound_out) = gcm_bound(undef, 3 << 20, 16, 65536);
is(() = $bound_out =~ /^ok: decrypted 3145728 bytes .*: the message$/mg, 2,
   'unset: 3 MiB decrypts (the default bound is 2 GiB - 1)')
    or diag($bound_out);
is(count_of('C_CreateObject'), count_of('C_DestroyObject'),
   'no key object left on the token');

reset_counts();
$out = check('bad input', 'bad');
like($out, qr/ok: decrypt with the wrong key: .*bad decrypt/,
     'a wrong key fails final with OpenSSL\'s "bad decrypt"');
like($out, qr/ok: update after final: .*operation called out of order/,
     'an update after final is refused');
like($out, qr/ok: partial last block, padding off: .*wrong final block length/,
     'a partial block with padding off: "wrong final block length"');
like($out, qr/ok: update without a key: .*no key set/, 'no key: "no key set"');
like($out, qr/ok: a NULL output reports 32 bytes for 40/,
     'a NULL output asks for the length (the size protocol)');
is(count_of('C_CreateObject'), count_of('C_DestroyObject'),
   'no object left on the token');

# The token without CKM_AES_GCM: the default provider serves GCM contexts
# from their first init (cipher.c), with the same results and errors.
sub check_env {
    my ($env, $name, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), %$env }, timeout => 120 });
    is($rc, 0, $name) or diag "$out$err";
    return ($rc, "$out$err");
}
my $no_gcm = { P11SHIM_HIDE_MECHS => '0x1087',
               P11BE_DEBUG => File::Spec->catfile(tmp_dir(), 'gcm.log') };
reset_counts();
check_env($no_gcm, 'no CKM_AES_GCM: GCM corner cases as the default '
          . 'provider', 'gcm-edge');
check_env($no_gcm, 'no CKM_AES_GCM: every algorithm, random messages',
          'random', 3);
reset_counts();
check_env($no_gcm, 'no CKM_AES_GCM: GCM decryption, tag first', 'count',
          'AES-256-GCM', 1000, 0, 'dec');
is(count_of('C_DecryptInit'), 0, '... not on the token');
like(read_file($no_gcm->{P11BE_DEBUG}),
     qr/cipher delegated to the default provider/,
     '... delegated to the default provider, counted');
my ($gcm_rc, $gcm_out) = run($check, 'count', 'AES-128-GCM', 64, 0, 'enc',
    { env => { P11BE_BUILD_DIR => build_dir(),
               P11SHIM_HIDE_MECHS => '0x1087', P11BE_DELEGATE => 'no' },
      timeout => 120 });
isnt($gcm_rc, 0, 'pkcs11-delegate=no: GCM fails on that token');
like($gcm_out, qr/CKM_AES_GCM is not supported by the token/,
     '... naming the missing CKM_AES_GCM');

done_testing();
