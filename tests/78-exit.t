#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# exit() while another thread is inside a call into the module
# (tests/c/exit_check.c slow-call): the exit hook closes the module to
# other threads and waits, at most a second, for the calls under way to
# end before the module's exit-time destructors run (and, with
# pkcs11-finalize=always, before C_Finalize). The shim makes the worker's
# C_Digest slow; the P11BE_DEBUG log shows the order, because a call's
# trace line is written before the thread leaves the module.
#
# Not tested: that exit() with busy threads never crashes. It still can,
# in OpenSSL's own clean-up (the default provider alone crashes too);
# README ("Exit") has the figures and the advice: join threads first.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes ();
use P11BE;

plan skip_all => 'the token lacks CKM_SHA256' unless has_mech('CKM_SHA256');
plan tests => 3;

use_shim();
my $check = test_program('exit_check');
my $log = tmp_dir() . '/debug.log';

# Runs `exit_check slow-call` with the worker's C_Digest slowed by
# $latency_us; returns the seconds it took, the debug log's lines about
# C_Digest and exit, and the output.
sub slow_call {
    my ($latency_us, $env) = @_;
    unlink $log;
    reset_counts();
    my $start = Time::HiRes::time();
    my ($rc, $out, $err) = run($check, 'slow-call',
        { env => { P11BE_BUILD_DIR => build_dir(), P11BE_DEBUG => $log,
                   P11SHIM_FAULTS => "C_Digest:latency_us=$latency_us:nth=2",
                   %{ $env // {} } },
          timeout => 60 });
    my $took = Time::HiRes::time() - $start;
    my @lines = grep { /C_Digest ->|at exit/ } split /\n/, read_file($log);
    s/\A.*?: // for @lines;
    note("exit $rc in ${took}s: $out$err", map { "$_\n" } @lines);
    return ($took, \@lines, "$out$err");
}

subtest 'a call under way ends before the exit hook goes on' => sub {
    plan tests => 2;

    my (undef, $lines, $out) = slow_call(500_000);
    like($out, qr/\Aexiting\n/, 'exit() came while the call slept');
    is(scalar(grep { /C_Digest -> CKR_OK/ } @$lines), 2,
       'both digests returned from the token, the slow one too')
        or diag(explain($lines));
};

subtest 'pkcs11-finalize=always: C_Finalize after the call' => sub {
    plan tests => 3;

    my (undef, $lines, $out) = slow_call(500_000,
                                         { P11BE_FINALIZE => 'always' });
    like($out, qr/\Aexiting\n/, 'exit() came while the call slept');
    is_deeply($lines, [('C_Digest -> CKR_OK') x 2,
                       'finalised ' . shim_module() . ' at exit'],
              'both digests returned from the token, then C_Finalize')
        or diag(explain($lines));
    is(count_of('C_Finalize'), 1, 'C_Finalize reached the token once');
};

subtest 'a call longer than the bound: exit goes on after it' => sub {
    plan tests => 4;

    my ($took, $lines, $out) = slow_call(6_000_000,
                                         { P11BE_FINALIZE => 'always' });
    like($out, qr/\Aexiting\n/, 'exit() came while the call slept');
    cmp_ok($took, '<', 5, "the process ended before the call (${took}s)");
    is_deeply($lines, ['C_Digest -> CKR_OK', 'not finalising ' . shim_module()
                       . ' at exit: another thread is still inside a call'],
              'and did not finalise the module under it')
        or diag(explain($lines));
    is(count_of('C_Finalize'), 0, 'no C_Finalize');
};
