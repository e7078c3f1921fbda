#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Fork (tests/c/stress_check.c "fork"): a parent uses the provider
# (SHA-256, HMAC with a kept key, AES-CBC and AES-GCM, RSA-2048 signatures
# with a key it imported), forks 50 children at once that each use all of
# it, the parent's key and keyed HMAC context included, unload the
# providers and exit() (so the provider's teardown runs in them during
# OpenSSL's exit clean-up); the parent keeps working meanwhile. Then 20
# children that never use the provider exit(), half of them after
# unloading it: they must make no PKCS#11 call at all, so they cannot
# finalise the parent's token, close its sessions or log it out, and the
# parent must still work after them.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC CKM_AES_CBC CKM_AES_GCM
              CKM_RSA_PKCS CKM_RSA_PKCS_PSS));
plan tests => 2;

use_shim();
my $check = test_program('stress_check');
my ($children, $idle) = (50, 20);

# Runs `stress_check fork`; returns its figures and exit status.
sub fork_run {
    my ($env) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'fork', $children, $idle,
        { env => { P11BE_BUILD_DIR => build_dir(), %{ $env // {} } },
          timeout => 60 });
    my %r;
    %r = %+ if $out =~ /\bfork:\ children=\d+\ ok=(?<ok>\d+)
                        \ failed=(?<failed>\d+)\ wrong=(?<wrong>\d+)
                        \ crashed=(?<crashed>\d+)\ idle=\d+
                        \ idle_calls=(?<idle_calls>-?\d+)
                        \ parent=(?<parent>\w+)/x;
    $r{rc} = $rc;
    $r{out} = $out . $err;
    note("stress_check fork $children $idle: $out");
    return \%r;
}

# The checks both runs share: 6 tests.
sub common {
    my ($r, $what) = @_;
    ok($r->{rc} == 0 && defined $r->{ok}, "$what: finished, exit 0")
        or diag("exit $r->{rc}\n$r->{out}");
    is($r->{ok} // 0, $children, "$what: all $children children succeeded");
    is(($r->{wrong} // -1) + ($r->{crashed} // -1), 0,
       "$what: no wrong result, no crash");
    is($r->{idle_calls} // -1, 0,
       "$what: the $idle idle children made no PKCS#11 call");
    is($r->{parent} // '', 'ok', "$what: the parent worked before, during "
                                 . 'and after');
    is(count_of('C_Initialize'), 1 + $children,
       "$what: C_Initialize once in the parent and once per child that "
       . 'used the provider');
}

subtest 'pkcs11-finalize=auto (the default)' => sub {
    plan tests => 8;

    my $r = fork_run();
    common($r, 'auto');
    # auto finalises at exit, as always does, except on SoftHSM2 (also
    # behind p11-kit, which passes its token information through).
    if (defined $ENV{P11BE_SOFTHSM2_SLOT_ID}) {
        is(count_of('C_Finalize'), 0,
           'no process finalised SoftHSM2 at exit');
    } else {
        is(count_of('C_Finalize'), 1 + $r->{ok},
           'each process whose C_Initialize succeeded finalised at exit');
    }
    is(count_of('C_CloseAllSessions'), 0, 'no C_CloseAllSessions');
};

subtest 'pkcs11-finalize=always' => sub {
    plan tests => 7;

    my $r = fork_run({ P11BE_FINALIZE => 'always' });
    common($r, 'always');
    # On SoftHSM2 only the parent finalises (stress_check fork 0 0 also
    # makes one): a child's C_Initialize answers "already initialised",
    # so pkcs11be does not own it there, and the process ends anyway.
    # On a module that follows the fork rules (p11-kit's, softokn) each
    # child's C_Initialize succeeded, so it finalises too.
    my $finalizers = token_kind() eq 'softhsm' ? 1 : 1 + $r->{ok};
    is(count_of('C_Finalize'), $finalizers,
       "$finalizers C_Finalize: each process whose C_Initialize succeeded, "
       . 'at exit');
};
