#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# p11bench's network-HSM mode (--latency-us, tests/bench/): pkcs11be and
# direct PKCS#11 both go through p11shim.so, which sleeps before every
# call (P11SHIM_LATENCY_US), and the threads' waits overlap. Bounds only,
# never a speed: with 2 ms per call and two calls per digest, no way can
# exceed 250 digests/s per thread, whatever the machine (300 allowed: an
# operation that runs past its way's 20 ms slice still counts for it).
# p11tlsbench's --latency-us and --threads (issue 17's TLS rows, a short
# smoke run): the token way and pkcs11be wait alike, one signature (two
# calls) per handshake, the bound columns filled.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

plan tests => 4;

my $p11bench = test_program('p11bench');
my $p11tlsbench = test_program('p11tlsbench');
my %env = (OPENSSL_CONF => undef, TMPDIR => tmp_dir());

# The text table's rows for the case, by thread count: { column => value }.
sub rows {
    my ($out) = @_;
    my @lines = split /\n/, $out;
    my @head = split /\s{2,}/, shift(@lines) // '';
    my %rows;
    for my $line (@lines) {
        last if $line eq '';
        my @cells = split /\s{2,}/, $line;
        my %row;
        @row{@head} = @cells;
        $rows{ $row{thr} } = \%row;
    }
    return \%rows;
}

subtest 'both ways wait for every call; calls/op unchanged' => sub {
    plan tests => 13;

    my ($rc, $out, $err) = run($p11bench, '--latency-us', 2000,
        '--case', 'SHA-256 Init', '--size', 64, '--threads', '1,4',
        '--repeat', 1, '--seconds', 0.2, '--count-ops', 20,
        { env => \%env, timeout => 120 });
    is($rc, 0, 'p11bench runs') or diag($err);
    my $rows = rows($out);
    for my $threads (1, 4) {
        my $row = $rows->{$threads} // {};
        my $most = 300 * $threads;
        for my $way ('pkcs11be/s', 'direct/s') {
            my $rate = $row->{$way} // 0;
            ok($rate > 0 && $rate <= $most,
               "$threads thread(s), $way: $rate, at most $most");
        }
        is($row->{'default/s'}, '-', 'the default provider is not run');
        is($row->{'calls/op p11be'}, '2.00', 'pkcs11be: two calls per digest');
        is($row->{'calls/op direct'}, '2.00', 'direct: two calls per digest');
    }
    # 4 threads beating one thread's bound: the shim holds no lock while
    # it sleeps, or the calls would queue behind each other.
    cmp_ok($rows->{4}{'direct/s'} // 0, '>', 300,
           'threads wait side by side');
    like($out, qr/sleeps 2000 us first in p11shim\.so/,
         'the legend says how long');
};

subtest 'a bad value is refused' => sub {
    plan tests => 2;

    my ($rc, $out, $err) = run($p11bench, '--latency-us', 'soon',
        { env => \%env, timeout => 30 });
    is($rc, 2, 'usage error');
    like($err, qr/bad value for -L: "soon"/, 'says which');
};

subtest 'without --latency-us: no shim in the timed runs' => sub {
    plan tests => 2;

    my ($rc, $out, $err) = run($p11bench, '--case', 'SHA-256 Init',
        '--size', 64, '--threads', 1, '--repeat', 1, '--seconds', 0.05,
        '--count-ops', 0, { env => \%env, timeout => 120 });
    is($rc, 0, 'p11bench runs') or diag($err);
    my $rate = rows($out)->{1}{'direct/s'} // 0;
    cmp_ok($rate, '>', 300, "direct is not held to 2 ms a call ($rate/s)");
};

# p11tlsbench's Markdown rows: [ { column => value } ], in order.
sub md_rows {
    my ($out) = @_;
    my @head;
    my @rows;
    for my $line (split /\n/, $out) {
        next unless $line =~ /^\|/;
        my @cells = map { s/^\s+|\s+$//gr } split /\|/, $line;
        shift @cells;
        if (!@head) {
            @head = @cells;
            next;
        }
        next if $cells[0] =~ /^:?-+$/;
        my %row;
        @row{@head} = @cells;
        push @rows, \%row;
    }
    return \@rows;
}

subtest 'p11tlsbench: delay and threads, the token bound beside' => sub {
    plan tests => 19;

    # ECDSA P-256, or RSA-2048 where the token has no ECDSA (opencryptoki):
    # its signatures are slow enough (some 400/s) that only a longer delay
    # tells a waiting token way from one that does not wait.
    my ($case, $delay) = has_mech('CKM_ECDSA') ? ('ec', 2000) : ('rsa', 10000);
    # 2 calls of $delay us per signature: 1e6 / (2 * $delay) per thread at
    # most, with a fifth more for timing slack.
    my $per_thread = 1.2 * 1e6 / (2 * $delay);
    my ($rc, $out, $err) = run($p11tlsbench, '-s', '0.2', '-r', 1, '-n', 5,
        '-c', $case, '-o', 'keys', '-t', '1,2', '-L', "0,$delay", '-m',
        { env => \%env, timeout => 300 });
    is($rc, 0, "p11tlsbench runs ($case)") or diag("$out$err");
    my $rows = md_rows($out);
    is(scalar(@$rows), 4, 'a row per delay and thread count');
    for my $row (@$rows) {
        my ($delay_us, $thr) = ($row->{'delay us'} // '', $row->{thr} // 0);
        my $what = "$delay_us us, $thr thread(s)";
        my $most = $per_thread * $thr;
        if ($delay_us eq $delay) {
            my $token = $row->{'token sign/s'} // 0;
            my $hs = $row->{'pkcs11be hs/s'} // 0;
            ok($token > 0 && $token <= $most,
               "$what: token $token sign/s, at most $most");
            ok($hs > 0 && $hs <= $most,
               "$what: pkcs11be $hs hs/s, at most $most");
        } else {
            cmp_ok($row->{'token sign/s'} // 0, '>', $most,
                   "$what: the token way does not wait");
            cmp_ok($row->{'default hs/s'} // 0, '>', 0,
                   "$what: default handshakes");
        }
        like($row->{'pkcs11be/bound'} // '', qr/^\d+\.\d\d$/,
             "$what: a ratio to the bound");
    }
    my $row = $rows->[0] // {};
    is($row->{'C_Sign/hs pkcs11be'}, '1.00', 'one C_Sign per handshake');
    is($row->{'calls/hs pkcs11be'}, '2.00', 'two calls per handshake');
    is($row->{'calls/sign token'}, '2.00', 'the token way: two per signature');
    is($row->{'calls/hs default'}, '0.00', 'none with the default key');
    like($out, qr/serial bound = /, 'the legend says how the bound is made');
};
