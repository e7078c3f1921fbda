#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# HMAC and CMAC behaviours that need a C program (tests/c/mac_check.c),
# each compared with OpenSSL's default provider and counted through the
# shim: every key length, long messages and the held-input bound,
# EVP_MAC_CTX_dup mid-stream, threads, fork, the key object's life, the
# calls per MAC, bad input and params.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256_HMAC CKM_AES_CMAC));
plan tests => 15;

use_shim();
my $check = test_program('mac_check');

sub check {
    my ($name, $args, $env) = @_;
    my ($rc, $out, $err) = run($check, @$args,
        { env => { P11BE_BUILD_DIR => build_dir(), %{ $env // {} } },
          timeout => 120 });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

# Every object the provider made is gone by the time the program exits.
sub objects_balanced {
    my ($what) = @_;
    my $made = count_of('C_CreateObject');
    is(count_of('C_DestroyObject'), $made,
       "$what: all $made key objects destroyed");
}

subtest 'keys of 0..300 and 511..5000 bytes, messages up to 1 MiB + 7' => sub {
    plan tests => 6;

    reset_counts();
    my $out = check('every digest and key length agrees with the default',
                    ['random']);
    like($out, qr/ok: 1530 HMACs/, 'all HMACs ran');
    like($out, qr/ok: CMAC with AES-256-CBC/, 'and the CMACs');
    is(count_of('C_SignInit'), 1530 + 60, 'each MAC signed on the token');
    is(count_of('C_Digest'), 15,
       'only keys above the token\'s 512 bytes were hashed first');
    objects_balanced('random');
};

subtest 'the same beyond a 4 KiB held-input bound (streaming)' => sub {
    plan tests => 3;

    reset_counts();
    check('streamed MACs agree with the default', ['random'],
          { P11BE_DIGEST_BUFFER_MAX => 4096 });
    cmp_ok(count_of('C_SignUpdate'), '>', 1000, 'the token streamed');
    objects_balanced('streaming');
};

subtest 'RFC 2104 over the token\'s digest, every key length' => sub {
    plan tests => 4;

    reset_counts();
    check('pkcs11-hmac-method=digest agrees with the default',
          ['random', 'digest']);
    check('and streams beyond the bound', ['random', 'digest'],
          { P11BE_DIGEST_BUFFER_MAX => 4096 });
    is(count_of('C_SignInit') + count_of('C_CreateObject'), 0,
       'no HMAC mechanism, no key object');
    cmp_ok(count_of('C_DigestUpdate'), '>', 1000, 'hashed on the token');
};

subtest 'EVP_MAC_CTX_dup mid-stream, then different tails' => sub {
    plan tests => 6;

    reset_counts();
    for my $head (0, 1, 100, 70000) {
        check("dup after $head bytes, both contexts agree with the default",
              ['dup', $head]);
    }
    is(count_of('C_GetOperationState'), 0,
       'held input is copied on the host');
    objects_balanced('dup');
};

# SoftHSM2 cannot copy a running MAC: the copies share it, the first to go
# on keeps it, and the other says why it cannot.
subtest 'dup beyond the held-input bound' => sub {
    plan tests => 5;

    my $out = check('the copies share the running MAC', ['dup', 1048600]);
    like($out, qr/shared: HMAC-SHA2-256 dup after 1048600 bytes:.*copied past pkcs11-digest-buffer-max \(1048576 bytes\) on a token that cannot copy a running MAC, and a copy has continued or finished the MAC/,
         'the second to go on is refused, naming the bound and why');
    like($out, qr/shared: CMAC-AES-128-CBC dup/, 'for CMAC too');
    is(() = $out =~ /^ok: .* the original, after its copy was refused/mg, 18,
       'and every first one is right');
    check('a larger bound lets the same dup work', ['dup', 1048600],
          { P11BE_DIGEST_BUFFER_MAX => 2 * 1024 * 1024 });
};

subtest '8 threads: own keys and dups of one keyed context' => sub {
    plan tests => 3;

    reset_counts();
    check('8 threads agree with the default', ['threads', 8]);
    cmp_ok(count_of('C_CreateObject'), '>=', 960, 'a key object per context');
    objects_balanced('threads: the token does not grow');
};

subtest 'fork: a keyed context in the parent and the child' => sub {
    plan tests => 3;

    reset_counts();
    check('child and parent agree with the default', ['fork']);
    is(count_of('C_CreateObject'), 2,
       'the child made its own key object (the parent\'s is not its own)');
    objects_balanced('fork');
};

subtest 'a MAC over a held message is C_SignInit + C_Sign' => sub {
    plan tests => 5;

    reset_counts();
    check('100 HMACs and 100 CMACs, keys set once', ['oneshot', 100]);
    is(count_of('C_SignInit'), 200, 'one C_SignInit per MAC');
    is(count_of('C_Sign'), 200, 'one C_Sign per MAC');
    is(count_of('C_SignUpdate') + count_of('C_SignFinal')
       + count_of('C_Digest'), 0, 'nothing else per MAC');
    is(count_of('C_CreateObject'), 2, 'one key object per key');
};

subtest 're-init with a NULL key reuses the key object' => sub {
    plan tests => 3;

    reset_counts();
    check('50 inits with one key', ['reinit', 50]);
    is(count_of('C_CreateObject'), 1, 'one key object');
    is(count_of('C_DestroyObject'), 1, 'destroyed with the context');
};

subtest 'a new key replaces the key object' => sub {
    plan tests => 3;

    reset_counts();
    check('20 keys on one context', ['rekey', 20]);
    is(count_of('C_CreateObject'), 20, 'one object per key');
    is(count_of('C_DestroyObject'), 20,
       'each destroyed when replaced or freed');
};

# OpenSSL 3.0's EVP_DigestSignFinal finishes a copy of the context; past
# the held bound SoftHSM2 cannot copy a running MAC, so the copies share it.
subtest 'EVP_DigestSign with MAC keys past the held-input bound' => sub {
    plan tests => 6;

    reset_counts();
    my $out = check('final, a copy mid-stream and re-init agree with the '
                    . 'default', ['sigmove'],
                    { P11BE_DIGEST_BUFFER_MAX => 4096 });
    is(() = $out =~ /^ok: the copy matches/mg, 2, 'HMAC and CMAC copies');
    is(() = $out =~ /^ok: a second final matches/mg, 2,
       'a second final gives the same MAC');
    is(() = $out =~ /^ok: an update of the original says/mg, 2,
       'the original then says where its MAC went');
    cmp_ok(count_of('C_SignUpdate'), '>', 0, 'the token streamed');
    objects_balanced('sigmove');
};

# The MAC recipe (doc/recipes.md): HMAC-MD5 on CKM_MD5_HMAC and CMAC with
# DES-EDE3-CBC on CKM_DES3_CMAC, every way a MAC is used.
subtest 'MD5-HMAC and DES3-CMAC agree with the default provider' => sub {
    my @cases = (['CKM_MD5_HMAC', 'HMAC', 'MD5'],
                 ['CKM_DES3_CMAC', 'CMAC', 'DES-EDE3-CBC', 24]);
    @cases = grep { has_mech($_->[0]) } @cases;
    plan skip_all => 'the token lacks CKM_MD5_HMAC and CKM_DES3_CMAC'
        unless @cases;
    plan tests => 3 * @cases;

    for my $case (@cases) {
        my ($mech, @args) = @$case;
        reset_counts();
        my $out = check("$args[0]-$args[1]: keys, lengths, streaming, a dup",
                        ['agree', @args]);
        like($out, qr/^ok: \Q$args[0]-$args[1]\E agrees/m, 'all agreed');
        # 40 MACs and both halves of the dup; a 0-byte HMAC key may go
        # RFC 2104's way on a token whose minimum is 0.
        cmp_ok(count_of('C_SignInit'), '>=', 41, "signed on the token ($mech)");
    }
};

# Digests and ciphers pkcs11be does not offer, or the token lacks (the
# shim hides them), run by the default provider inside pkcs11be (mac.c).
subtest 'delegated: the default provider\'s MAC, dup and re-init' => sub {
    my @algs = (['HMAC', 'SHA3-256'], ['HMAC', 'SM3'],
                ['HMAC', 'SHA2-512/224'], ['HMAC', 'BLAKE2b512'],
                ['CMAC', 'CAMELLIA-128-CBC', 16]);
    plan tests => 2 * @algs + 4;

    for my $a (@algs) {
        reset_counts();
        my $out = check("$a->[0]-$a->[1] agrees with the default",
                        ['agree', @$a]);
        is(count_of('C_SignInit'), 0, '... none of it on the token');
    }
    my $hide = { P11SHIM_HIDE_MECHS => '0x250,0x251' };
    reset_counts();
    check('HMAC-SHA2-256 on a token without CKM_SHA256(_HMAC)',
          ['agree', 'HMAC', 'SHA2-256'], $hide);
    check('... re-init with a NULL key', ['reinit', 20], $hide);
    check('... in a forked child', ['fork'], $hide);
    is(count_of('C_SignInit') + count_of('C_DigestInit'), 0,
       '... none of it on the token');
};

subtest 'bad input: clear errors, no crash, nothing left on the token' => sub {
    plan tests => 17;

    reset_counts();
    # mac_check runs it without delegation (P11BE_DELEGATE=no).
    my $out = check('every bad input fails cleanly', ['errors']);
    for my $case ('unknown digest', 'digest the token lacks', 'missing key',
                  'update without init', 'final before init',
                  'tls-data-size', 'output buffer too small', 'final twice',
                  'unknown pkcs11-hmac-method', 'HMAC without a digest',
                  'CMAC without a cipher', 'CMAC key of the wrong size',
                  'CMAC with no key', 'CMAC AES-256 with a 16-byte key',
                  'CMAC with a cipher pkcs11be lacks') {
        like($out, qr/^ok: \Q$case\E says/m, $case);
    }
    is(count_of('C_CreateObject'), 1,
       'only the one good key made an object');
};

subtest 'size, block-size and parameter names match OpenSSL\'s' => sub {
    plan tests => 3;

    my $out = check('params', ['params']);
    like($out, qr/ok: HMAC-SHA2-512 size 64, block-size 128/, 'HMAC sizes');
    like($out, qr/ok: CMAC-AES-192-CBC size 16, block-size 16/,
         'CMAC sizes');
};
