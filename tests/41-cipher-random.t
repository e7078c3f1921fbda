#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Every cipher against OpenSSL's default provider, byte for byte: random
# keys, IVs and messages of every length 0..1100 in random update sizes
# (zero-length updates included), padding on and off, encryption and
# decryption, corrupted input; algorithm and context params; EVP_Cipher();
# the CTR counter wrapping at 2^128; threads. tests/c/cipher_check does the
# work, the shim's counters prove the token did it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use P11BE;

# Every file here runs AES (ECB, CBC, CTR, GCM) and DES3-CBC on the token.
need_mechs(qw(CKM_AES_ECB CKM_AES_CBC CKM_AES_CTR CKM_AES_GCM CKM_DES3_CBC));

use_shim();
my $check = test_program('cipher_check');

sub check {
    my ($name, @args) = @_;
    my $env = ref $args[-1] eq 'HASH' ? pop @args : {};
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), %$env }, timeout => 120 });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

reset_counts();
my $out = check('14 ciphers x 0..1100 bytes, random pieces, both paddings',
                'random', 20240601);
like($out, qr/ok: \d{5} random operations/, 'tens of thousands of them');
my $c = counts();
cmp_ok(($c->{C_Encrypt} // 0) + ($c->{C_EncryptUpdate} // 0), '>', 10_000,
       'the token encrypted');
cmp_ok(($c->{C_Decrypt} // 0) + ($c->{C_DecryptUpdate} // 0), '>', 10_000,
       'the token decrypted');
is($c->{C_CreateObject}, $c->{C_DestroyObject},
   'each context destroyed the key it imported');

check('algorithm params, EVP flags, context params as the default',
      'params');
check('EVP_Cipher(), the raw interface', 'evp-cipher');
reset_counts();
check('CTR counters just below 2^128 wrap like OpenSSL\'s', 'ctr-wrap');
cmp_ok(count_of('C_EncryptInit') + count_of('C_DecryptInit'), '>', 0,
       'CKM_AES_CTR on the token');
check('8 threads at once', 'threads', 8);
reset_counts();
# Streaming contexts keep their session outside the one-shot pool, up to
# pkcs11-session-held-max (tests/76-session-pool.t).
check('16 threads through a pool of 2 sessions and 4 held ones wait, never fail',
      'threads', 16,
      { P11BE_SESSION_POOL_MAX => 2, P11BE_SESSION_HELD_MAX => 4 });
# A context freed with its operation running closes its session, and a new
# one is opened: what may stay open is bounded, not what was opened.
cmp_ok(count_of('C_OpenSession') - count_of('C_CloseSession'), '<=', 7,
       'the bounds held (2 pooled + 4 held + the object session)')
    or diag explain counts();

done_testing();
