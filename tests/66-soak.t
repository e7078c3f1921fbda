#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Memory and token objects over many operations in one process
# (tests/c/stress_check.c "soak"): SHA-256 digests and HMAC/AES-128-CBC
# key imports (a new context and key object each), every result checked
# against the default provider. RSS comes from /proc/self/statm after a
# warm-up of 1% of the run; the token's object count is C_CreateObject -
# C_DestroyObject as the shim counts them. scripts/soak runs the issue's
# full sizes (1,000,000 operations, 100,000 imports).
#
# Tolerances: digests keep RSS flat (within 1 MiB). Imports do not, on
# SoftHSM2 2.6.1: its SessionObjectStore keeps every session object it
# ever created (allObjects, freed at C_Finalize) after C_DestroyObject,
# about 270 bytes each (valgrind massif: the allocations under
# C_CreateObject grow by that per import while the provider's stay
# constant). So imports may grow RSS by at most 400 bytes each, and the
# object count must come back to where it started.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC CKM_AES_CBC));
plan tests => 3;

use_shim();
my $check = test_program('stress_check');
# ASan holds freed memory in its quarantine (256 MB by default): RSS says
# nothing about leaks there.
my $asan = ($ENV{LD_PRELOAD} // '') =~ /libasan/;

# Runs `stress_check soak D K`; returns its figures.
sub soak {
    my ($digests, $imports) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'soak', $digests, $imports,
        { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 60 });
    my %r;
    %r = %+ if $out =~ /\bsoak:\ ops=(?<ops>\d+)\ imports=\d+
                        \ failed=(?<failed>\d+)\ wrong=(?<wrong>\d+)
                        \ rss_start_kb=(?<rss_start>\d+)
                        \ rss_mid_kb=(?<rss_mid>\d+)
                        \ rss_end_kb=(?<rss_end>\d+)
                        \ objects_start=(?<obj_start>-?\d+)
                        \ objects_end=(?<obj_end>-?\d+)/x;
    $r{rc} = $rc;
    $r{out} = $out . $err;
    note("stress_check soak $digests $imports: $out");
    return \%r;
}

# 4 tests.
sub common {
    my ($r, $what, $ops) = @_;
    ok($r->{rc} == 0 && defined $r->{ops}, "$what: finished, exit 0")
        or diag("exit $r->{rc}\n$r->{out}");
    is(($r->{failed} // -1) + ($r->{wrong} // -1), 0,
       "$what: all $ops operations right, none failed");
    is($r->{obj_end} // -1, $r->{obj_start} // -2,
       "$what: token objects $r->{obj_start} at start, $r->{obj_end} at end");
    cmp_ok($r->{obj_end} // 99, '<=', 0,
           "$what: no object left behind by the run");
}

subtest '200,000 digests: RSS flat' => sub {
    plan tests => 5;

    my $r = soak(200_000, 0);
    common($r, 'digests', 200_000);
    SKIP: {
        skip 'RSS under ASan is its quarantine', 1 if $asan;
        cmp_ok(($r->{rss_end} // 1e9) - ($r->{rss_start} // 0), '<=', 1024,
               "RSS $r->{rss_start} kB at start, $r->{rss_end} kB at end "
               . '(within 1 MiB)');
    }
};

subtest '20,000 key imports: objects flat, RSS within SoftHSM2\'s keep' => sub {
    plan tests => 5;

    my $imports = 20_000;
    my $r = soak(0, $imports);
    common($r, 'imports', $imports);
    my $per = (($r->{rss_end} // 1e9) - ($r->{rss_start} // 0)) * 1024
        / $imports;
    SKIP: {
        skip 'RSS under ASan is its quarantine', 1 if $asan;
        cmp_ok($per, '<=', 400,
               sprintf('RSS %d kB at start, %d kB at end: %.0f bytes per '
                       . 'import', $r->{rss_start} // -1,
                       $r->{rss_end} // -1, $per));
    }
};

subtest '100,000 digests and 10,000 imports in one process' => sub {
    plan tests => 5;

    my $imports = 10_000;
    my $r = soak(100_000, $imports);
    common($r, 'mixed', 110_000);
    SKIP: {
        skip 'RSS under ASan is its quarantine', 1 if $asan;
        cmp_ok(($r->{rss_end} // 1e9) - ($r->{rss_start} // 0), '<=',
               1024 + 400 * $imports / 1024,
               "RSS $r->{rss_start} kB at start, $r->{rss_end} kB at end "
               . '(1 MiB + 400 bytes per import)');
    }
};
