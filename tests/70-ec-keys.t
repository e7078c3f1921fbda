#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# keymgmt "EC", signature "ECDSA" and keyexch "ECDH" (tests/c/ec_check.c):
# P-256, P-384 and P-521 keys imported and generated on the token, their
# params, export, match, dup and validate as the default provider gives
# them; ECDSA with every SHA-2 digest (and SHA-1) against the default
# provider both ways, and an EVP_MD_CTX_copy mid-stream; ECDH against
# the default provider on both sides, plain and with X9.63 KDF;
# a persistent key pair; bad input. The shim proves every signature and
# derivation ran on the token (C_Sign, C_DeriveKey) and no verification.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_ECDSA CKM_EC_KEY_PAIR_GEN));
plan tests => 6;

use_shim();
my $check = test_program('ec_check');

sub check {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

subtest 'keys: params, export, match, dup, validate' => sub {
    plan tests => 2;
    my $out = check('every curve, imported and generated', 'params');
    is(() = $out =~ /^ok: P-\d+ params/mg, 3, 'three curves');
};

subtest 'ECDSA: every curve and digest, both directions' => sub {
    plan tests => 5;
    reset_counts();
    my $out = check('sign and verify', 'sign');
    is(() = $out =~ /^ok: P-\d+, 5 digests/mg, 3, 'three curves');
    my ($n) = $out =~ /(\d+) signatures by pkcs11be/;
    ok(($n // 0) >= 30, "${\($n // 0)} signatures by pkcs11be");
    is(count_of('C_Sign'), $n // -1, 'the token made every one (C_Sign)');
    is(count_of('C_Verify'), 0, 'and verified none (the host does)');
};

subtest 'ECDH: the same secret as the default provider' => sub {
    plan tests => 5;
    SKIP: {
        skip 'the token lacks CKM_ECDH1_DERIVE', 5
            unless has_mech('CKM_ECDH1_DERIVE');
        reset_counts();
        my $out = check('derive on both sides', 'ecdh');
        is(() = $out =~ /^ok: P-\d+ ECDH, \d+-byte secret/mg, 3,
           'three curves');
        is(() = $out =~ /^ok: P-\d+ ECDH with X9.63 KDF/mg, 3,
           'and with X9.63 KDF (SHA-256, UKM) on the host');
        my ($n) = $out =~ /(\d+) derives by pkcs11be/;
        is(count_of('C_DeriveKey'), $n // -1,
           "the token derived all ${\($n // '?')} (C_DeriveKey)");
        # Each derived secret object is destroyed at once; the key objects
        # are destroyed with their keys.
        is(count_of('C_CreateObject') + count_of('C_DeriveKey')
               + 2 * count_of('C_GenerateKeyPair'),
           count_of('C_DestroyObject'), 'every object destroyed');
    }
};

subtest 'a persistent key pair' => sub {
    plan tests => 3;
    reset_counts();
    check('generated with a label and id', 'gen', 'ec-signer', '0a0b');
    is(count_of('C_GenerateKeyPair'), 1, 'one C_GenerateKeyPair');
    is(count_of('C_DestroyObject'), count_of('C_CopyObject'),
       'kept on the token: only session copies destroyed');
};

subtest 'bad input: clear errors' => sub {
    need_mechs(qw(CKM_ECDH1_DERIVE));
    plan tests => 3;
    my $out = check('every case refused', 'errors');
    is(() = $out =~ /^ok: .* refused/mg, 7, 'seven cases');
    like($out, qr/^ok: explicit curve parameters: a host key, signed/m,
         'explicit curve parameters: a host key (issue 14)');
};

subtest 'openssl dgst -sign, pkeyutl -derive' => sub {
    need_mechs(qw(CKM_ECDH1_DERIVE));
    plan tests => 8;
    my $tmp = tmp_dir();
    my $key = "$tmp/ec-cli.pem";
    my ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC', '-pkeyopt',
                                'ec_paramgen_curve:P-256', '-out', $key);
    is($rc, 0, 'software key') or diag $err;
    write_file("$tmp/msg", 'the message');
    reset_counts();
    ($rc, $out, $err) = ossl_p11('dgst', '-provider', 'default',
        '-propquery', '?provider=pkcs11be', '-sha384', '-sign', $key,
        '-out', "$tmp/sig", "$tmp/msg");
    is($rc, 0, 'openssl dgst -sign through pkcs11be') or diag $err;
    is(count_of('C_Sign'), 1, 'signed on the token');
    ($rc, $out, $err) = ossl('dgst', '-sha384', '-prverify', $key,
                             '-signature', "$tmp/sig", "$tmp/msg");
    is($rc, 0, 'the default provider verifies it') or diag "$out$err";

    my $peer = "$tmp/ec-peer.pem";
    ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC', '-pkeyopt',
                             'ec_paramgen_curve:P-256', '-out', $peer);
    ossl('pkey', '-in', $peer, '-pubout', '-out', "$peer.pub");
    ossl('pkey', '-in', $key, '-pubout', '-out', "$key.pub");
    reset_counts();
    ($rc, $out, $err) = ossl_p11('pkeyutl', '-provider', 'default',
        '-propquery', '?provider=pkcs11be', '-derive', '-inkey', $key,
        '-peerkey', "$peer.pub", '-out', "$tmp/z1");
    is($rc, 0, 'openssl pkeyutl -derive through pkcs11be') or diag $err;
    is(count_of('C_DeriveKey'), 1, 'derived on the token');
    ($rc, $out, $err) = ossl('pkeyutl', '-derive', '-inkey', $peer,
                             '-peerkey', "$key.pub", '-out', "$tmp/z2");
    is($rc, 0, 'the default provider derives the other side') or diag $err;
    ok(length(read_file("$tmp/z1")) == 32
           && read_file("$tmp/z1") eq read_file("$tmp/z2"),
       'the same 32-byte secret');
};
