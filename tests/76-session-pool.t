#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The session pool at its bounds (tests/c/pool_check.c). Contexts that
# stream (digests past pkcs11-digest-buffer-max, ciphers in batches) keep
# a session until final; they count against pkcs11-session-held-max, not
# the pool's bound, so work that gives its session back always finds one,
# and a wait that cannot end (one thread holding every held session)
# fails with an error naming the setting after P11BE_SESSION_WAIT_SECONDS
# (10 s) instead of hanging. Every result is compared with OpenSSL's
# default provider; every run is bounded by a timeout.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_AES_CBC));
plan tests => 6;

use_shim();
my $check = test_program('pool_check');

sub pool {
    my ($env, @args) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), %$env }, timeout => 60 });
    note("pool_check @args: $out$err");
    return ($rc, $out . $err);
}

subtest '32 threads streaming past the buffer bound, then one more digest' => sub {
    plan tests => 2;

    # The default bound (1 MiB) and the default pool (64 sessions).
    my ($rc, $out) = pool({}, 'threads', 32, 1100 * 1024);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    like($out, qr/^threads: ok=32 failed=0 wrong=0$/m, 'all 32 succeed');
};

subtest '33 streaming contexts in one thread' => sub {
    plan tests => 3;

    my ($rc, $out) = pool({ P11BE_DIGEST_BUFFER_MAX => 4096 },
                          'contexts', 33, 8192);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    like($out, qr/^contexts: open=33 ok=33 failed=0 wrong=0 oneshot=ok/m,
         'all 33 and the one-shot digest succeed');
    cmp_ok(count_of('C_DigestUpdate'), '>=', 33, 'the token streamed');
};

subtest 'pool of 2: three streaming CBC contexts' => sub {
    plan tests => 2;

    my ($rc, $out) = pool({ P11BE_SESSION_POOL_MAX => 2 }, 'cbc', 3);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    like($out, qr/^cbc: ok=3 failed=0 wrong=0$/m, 'all three succeed');
};

subtest 'every held session taken by the waiting thread: a clear error' => sub {
    plan tests => 4;

    my ($rc, $out) = pool({ P11BE_DIGEST_BUFFER_MAX => 4096,
                            P11BE_SESSION_HELD_MAX => 2,
                            P11BE_SESSION_POOL_MAX => 1 },
                          'contexts', 3, 8192);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    like($out, qr/^contexts: open=2 ok=2 failed=1 wrong=0 oneshot=ok/m,
         'the third context fails; the others and a one-shot digest do not');
    like($out, qr/pkcs11-session-held-max = 2/, 'the error names the setting');
    my ($ms) = $out =~ /ms=(\d+)/;
    cmp_ok($ms // 0, '>=', 9000, 'after the documented wait');
};

subtest 'held sessions are given back' => sub {
    plan tests => 2;

    # Four rounds of the held bound's worth of streams: each final gives
    # its session back to the held count, or the second round would wait.
    my ($rc, $out) = pool({ P11BE_DIGEST_BUFFER_MAX => 4096,
                            P11BE_SESSION_HELD_MAX => 2 },
                          'contexts', 2, 8192, 4);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    my @rounds = $out =~ /^contexts: open=2 ok=2 failed=0 wrong=0 oneshot=ok/mg;
    is(scalar @rounds, 4, 'all four rounds succeed');
};

subtest 'streams took every session the token allows: one-shot work fails in time' => sub {
    plan tests => 4;

    # The token refuses a third session: two streams took both before the
    # pool learned the limit, so neither the third stream nor the one-shot
    # digest can have one until a stream ends, and this thread ends none.
    my ($rc, $out) = pool({ P11BE_DIGEST_BUFFER_MAX => 4096,
                            P11SHIM_FAULTS =>
                                'C_OpenSession:CKR_SESSION_COUNT:from=3' },
                          'contexts', 3, 8192);
    is($rc, 0, 'finished in time, no wrong result') or diag($out);
    like($out, qr/^contexts: open=2 ok=2 failed=1 wrong=0 oneshot=FAILED/m,
         'the two streams finish; the third and the one-shot fail');
    like($out, qr/pkcs11-session-held-max = 64; the token allows 2 sessions/,
         'the error names the setting and the token\'s limit');
    my ($ms) = $out =~ /ms=(\d+)/;
    cmp_ok($ms // 0, '>=', 18000, 'each after the documented wait');
};
