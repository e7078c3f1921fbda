#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Losing the object session (objects.c) under load. Imported keys are
# session objects on one dedicated object session; a token that loses it
# destroys every object on it. Here the shim makes 2% of C_CreateObject
# and C_DestroyObject (both run on the object session) answer
# CKR_SESSION_HANDLE_INVALID and close that session, while 16 threads on
# a pool of 4 sessions sign, decrypt, MAC and encrypt with imported keys
# (tests/c/stress_check.c "run"). SoftHSM2 2.6.1 crashes when an object is
# destroyed under a call that uses it, and reuses the freed handle numbers;
# pkcs11be must never call the object session while another thread uses
# one of its objects, and must make a lost object again rather than fail.
# Every result is compared with OpenSSL's default provider.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

my @mechs = qw(CKM_SHA256 CKM_SHA256_HMAC CKM_AES_CBC CKM_AES_GCM
               CKM_RSA_PKCS CKM_RSA_PKCS_PSS CKM_ECDSA CKM_EC_KEY_PAIR_GEN);
need_mechs(@mechs);
plan tests => 4;

use_shim();
my $check = test_program('stress_check');
my ($threads, $per_thread) = (16, 300);
my $ops = $threads * $per_thread;

for my $seed (3, 4, 5) {
    subtest "2% of object-session calls lose it, seed $seed" => sub {
        plan tests => 5;

        reset_counts();
        my ($rc, $out, $err) = run($check, 'run', $threads, $per_thread,
            { env => { P11BE_BUILD_DIR => build_dir(),
                       P11BE_SESSION_POOL_MAX => 4,
                       P11SHIM_FAULTS => 'C_CreateObject|C_DestroyObject:'
                           . "CKR_SESSION_HANDLE_INVALID:rate=0.02:seed=$seed" },
              timeout => 120 });
        note("stress_check run $threads $per_thread: $out");
        my %r;
        %r = %+ if $out =~ /\bstress:\ threads=\d+\ ops=(?<ops>\d+)
                            \ ok=(?<ok>\d+)\ failed=(?<failed>\d+)
                            \ wrong=(?<wrong>\d+)\ injected=(?<injected>-?\d+)/x;
        is($rc, 0, 'no crash, no wrong result') or diag("exit $rc\n$out$err");
        is($r{ops} // 0, $ops, "all $ops operations ran");
        is($r{wrong} // -1, 0, 'no wrong result');
        cmp_ok($r{injected} // 0, '>=', 20,
               ($r{injected} // 0) . ' object sessions lost');
        is($r{failed} // -1, 0, 'every lost object was made again')
            or diag($out);
    };
}

subtest 'a generated session pair lost with its object session says so' => sub {
    plan tests => 5;

    # The pair's generation is C_GenerateKeyPair; the first C_CreateObject
    # is the HMAC key's import, which loses the object session.
    reset_counts();
    my ($rc, $out, $err) = run($check, 'lost-pair', 0, 0,
        { env => { P11BE_BUILD_DIR => build_dir(),
                   P11SHIM_FAULTS =>
                       'C_CreateObject:CKR_SESSION_HANDLE_INVALID:nth=1' } });
    is($rc, 0, 'ran') or diag("$out$err");
    like($out, qr/first=ok hmac=ok second=FAILED/,
         'signs, the HMAC recovers, then the lost pair cannot sign');
    like($out, qr/object session that held it was lost/,
         'the error says the object session was lost');
    like($out, qr/CKR_SESSION_HANDLE_INVALID/, 'naming the token\'s answer');
    unlike($out, qr/removed or the process forked/,
           'and not a removal or a fork, which did not happen');
};
