#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The shim's fault injection itself (P11SHIM_FAULTS, tests/shim/p11shim.c),
# driven call by call through tests/c/fault_shim.c against a real SoftHSM2
# token: when rules fire, what the token is made to do (a session closed,
# the token removed and re-inserted, the user logged out), the fault
# counters p11count prints, and the refusal of malformed rules. The
# provider's recovery is tested in 61-faults-*.t and 62-faults-*.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use Time::HiRes ();
use P11BE;

# The drives digest on the token.
need_mechs(qw(CKM_SHA256));

plan tests => 16;

my $shim = use_shim();
my $slot = $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
my $drive = test_program('fault_shim');
my $p11count = test_program('p11count');

# Runs fault_shim with the rules and steps; returns its lines. Rules
# count their calls in the counter file: drive() zeroes it first,
# drive_on() adds to it.
sub drive {
    reset_counts();
    return drive_on(@_);
}

sub drive_on {
    my ($faults, @steps) = @_;
    my %env = (P11COUNT => $p11count);
    $env{P11SHIM_FAULTS} = $faults if defined $faults;
    my ($rc, $out, $err) = run($drive, $shim, $slot, @steps,
                               { env => \%env, timeout => 30 });
    is($rc, 0, "fault_shim runs: @steps") or diag($err);
    return [split /\n/, $out];
}

subtest 'nth: the Nth call, and the session really is gone' => sub {
    plan tests => 6;

    my $lines = drive('C_Digest:CKR_SESSION_HANDLE_INVALID:nth=2',
                      qw(open digestx3 info open digest));
    is_deeply($lines, ['open CKR_OK', 'digest CKR_OK good',
                       'digest CKR_SESSION_HANDLE_INVALID',
                       'digest CKR_SESSION_HANDLE_INVALID',
                       'info CKR_SESSION_HANDLE_INVALID', 'open CKR_OK',
                       'digest CKR_OK good'],
              'second C_Digest fails; the session stays dead; a new one works');
    is(fault_of('C_Digest.injected'), 1, 'one fault injected into C_Digest');
    is(fault_of('rule1.fired'), 1, 'rule 1 fired once');
    is(real_calls('C_Digest'), 2, 'two C_Digest calls reached the token');
    is(fault_of('injected'), 1, 'fault.injected totals them');
};

subtest 'keep: only the code, the token untouched' => sub {
    plan tests => 2;

    my $lines = drive('C_Digest:CKR_SESSION_HANDLE_INVALID:keep:nth=1',
                      qw(open digest digest info));
    is_deeply($lines, ['open CKR_OK', 'digest CKR_SESSION_HANDLE_INVALID',
                       'digest CKR_OPERATION_ACTIVE', 'info CKR_OK public'],
              'the session lives on, its digest still running on the token');
};

subtest 'after: the call runs, its answer is lost' => sub {
    plan tests => 3;

    my $lines = drive('C_Digest:CKR_DEVICE_ERROR:after:nth=1',
                      qw(open digest digest));
    is_deeply($lines, ['open CKR_OK', 'digest CKR_DEVICE_ERROR overwritten',
                       'digest CKR_OK good'],
              'output overwritten with 0xa5, operation ended on the token');
    is(count_of('C_Digest'), 2, 'both C_Digest calls forwarded');
};

subtest 'every, from, times and max' => sub {
    plan tests => 8;

    my @fail = ('getinfo CKR_FUNCTION_FAILED');
    my @ok = ('getinfo CKR_OK');
    my $lines = drive('C_GetInfo:CKR_FUNCTION_FAILED:every=3', 'getinfox7');
    is_deeply($lines, [(@ok, @ok, @fail) x 2, @ok], 'every=3');
    $lines = drive('C_GetInfo:CKR_FUNCTION_FAILED:from=5', 'getinfox7');
    is_deeply($lines, [(@ok) x 4, (@fail) x 3], 'from=5');
    $lines = drive('C_GetInfo:CKR_FUNCTION_FAILED:nth=2:times=3', 'getinfox7');
    is_deeply($lines, [@ok, (@fail) x 3, (@ok) x 3], 'nth=2:times=3');
    $lines = drive('C_GetInfo:CKR_FUNCTION_FAILED:from=1:max=2', 'getinfox4');
    is_deeply($lines, [(@fail) x 2, (@ok) x 2], 'max=2');
};

subtest 'rate is repeatable with a seed' => sub {
    plan tests => 7;

    my $spec = 'C_GetInfo:CKR_DEVICE_MEMORY:rate=0.25:seed=7';
    my $first = drive($spec, 'getinfox400');
    my $again = drive($spec, 'getinfox400');
    my $other = drive('C_GetInfo:CKR_DEVICE_MEMORY:rate=0.25:seed=8',
                      'getinfox400');
    my $hits = grep { /DEVICE_MEMORY/ } @$first;
    is_deeply($first, $again, 'the same seed, the same calls fail');
    isnt(join(',', @$first), join(',', @$other), 'another seed, other calls');
    cmp_ok($hits, '>', 60, "about a quarter fail ($hits)");
    cmp_ok($hits, '<', 140, 'but not many more');
};

subtest 'latency_us' => sub {
    plan tests => 3;

    my $t0 = Time::HiRes::time();
    drive('C_GetInfo:latency_us=20000', 'getinfox5');
    my $took = Time::HiRes::time() - $t0;
    cmp_ok($took, '>=', 0.1, sprintf('5 calls x 20 ms took %.2f s', $took));
    is(fault_of('delayed'), 5, 'fault.delayed counts them');
};

subtest 'P11SHIM_LATENCY_US: every call waits, no rule needed' => sub {
    plan tests => 4;

    my $t0 = Time::HiRes::time();
    my ($rc, $out, $err) = run($drive, $shim, $slot, 'getinfox5',
        { env => { P11SHIM_LATENCY_US => 20000 }, timeout => 30 });
    my $took = Time::HiRes::time() - $t0;
    is($rc, 0, 'fault_shim runs') or diag($err);
    # C_Initialize and C_Finalize wait too: at least 7 calls.
    cmp_ok($took, '>=', 0.14,
        sprintf('5 x C_GetInfo and the rest x 20 ms took %.2f s', $took));

    ($rc, $out, $err) = run($drive, $shim, $slot, 'getinfo',
        { env => { P11SHIM_LATENCY_US => '100us' }, timeout => 30 });
    is($rc, 2, 'a malformed P11SHIM_LATENCY_US is refused');
    like($err, qr/P11SHIM_LATENCY_US must be .*: 100us/, 'with the reason');
};

# opencryptoki numbers a new session like one it closed, which the shim's
# refusal of stale handles (by number) cannot tell apart.
my $reused_handles = token_kind() eq 'opencryptoki'
    ? 'opencryptoki gives a new session the number of a closed one' : undef;

subtest 'remove: sessions die, login lost, token back at the next open' => sub {
    plan tests => 10;

    my $lines = drive('C_Digest:remove:nth=2:absent=1',
                      qw(open digest open login digest digest info pick=1
                         info open open info digest login info));
    is_deeply($lines, ['open CKR_OK', 'digest CKR_OK good', 'open CKR_OK',
                       'login CKR_OK', 'digest CKR_DEVICE_REMOVED',
                       'digest CKR_DEVICE_REMOVED', 'info CKR_DEVICE_REMOVED',
                       'info CKR_DEVICE_REMOVED', 'open CKR_TOKEN_NOT_PRESENT',
                       'open CKR_OK', 'info CKR_OK public',
                       'digest CKR_OK good', 'login CKR_OK',
                       'info CKR_OK user'],
              'old sessions refused; one open refused; then a fresh token');
    is(fault_of('removals'), 1, 'one removal');
    is(fault_of('absent'), 1, 'one open refused while out');
    is(fault_of('stale'), 3, 'three calls on dead sessions refused');
    is(real_calls('C_Login'), 2, 'the login had to be done again');

    $lines = drive('C_Digest:remove:nth=1:gone=CKR_SESSION_HANDLE_INVALID',
                   qw(open digest info open pick=1 info));
    {
        local $TODO = $reused_handles;
        is_deeply($lines, ['open CKR_OK', 'digest CKR_SESSION_HANDLE_INVALID',
                           'info CKR_SESSION_HANDLE_INVALID', 'open CKR_OK',
                           'info CKR_SESSION_HANDLE_INVALID'],
                  'gone=: a removal the token reports only as lost sessions');
    }
    $lines = drive('C_Digest:CKR_DEVICE_REMOVED:nth=1',
                   qw(open login digest open info));
    is_deeply($lines, ['open CKR_OK', 'login CKR_OK',
                       'digest CKR_DEVICE_REMOVED', 'open CKR_OK',
                       'info CKR_OK public'],
              'an injected CKR_DEVICE_REMOVED removes the token');
};

subtest 'sessions from before a removal stay dead after re-insertion' => sub {
    plan tests => 4;

    # The shim refuses them itself: a module may give a new session an old
    # number (SoftHSM2 2.6.1 never does, so this holds either way).
    my $lines = drive('C_Digest:remove:nth=1',
                      qw(open digest open open pick=1 info pick=2 info));
    {
        local $TODO = $reused_handles;
        is_deeply($lines, ['open CKR_OK', 'digest CKR_DEVICE_REMOVED',
                           'open CKR_OK', 'open CKR_OK',
                           'info CKR_SESSION_HANDLE_INVALID',
                           'info CKR_OK public'],
                  'the handle from before the removal is refused');
    }
    $lines = drive('C_Digest:CKR_SESSION_CLOSED:nth=1',
                   qw(open digest open info));
    is_deeply($lines, ['open CKR_OK', 'digest CKR_SESSION_CLOSED',
                       'open CKR_OK', 'info CKR_OK public'],
              'a lost session does not take new ones with it');
};

subtest 'p11count --remove reaches a running process' => sub {
    plan tests => 4;

    my $lines = drive('', qw(open login info remove info open info));
    is_deeply($lines, ['open CKR_OK', 'login CKR_OK', 'info CKR_OK user',
                       'info CKR_DEVICE_REMOVED', 'open CKR_OK',
                       'info CKR_OK public'],
              'removed before the next call, logged out');
    is(fault_of('removals'), 1, 'one removal');
    cmp_ok(fault_of('remove_requests'), '>=', 1, 'the request is counted');
};

subtest 'CKR_USER_NOT_LOGGED_IN logs the token out' => sub {
    plan tests => 2;

    my $lines = drive('C_Digest:CKR_USER_NOT_LOGGED_IN:nth=1',
                      qw(open login info digest info));
    is_deeply($lines, ['open CKR_OK', 'login CKR_OK', 'info CKR_OK user',
                       'digest CKR_USER_NOT_LOGGED_IN', 'info CKR_OK public'],
              'the session is public again');
};

subtest '* is every function with a session, and | lists them' => sub {
    plan tests => 4;

    my $lines = drive('*:CKR_DEVICE_ERROR:keep', qw(getinfo open info));
    is_deeply($lines, ['getinfo CKR_OK', 'open CKR_OK',
                       'info CKR_DEVICE_ERROR'], '*');
    $lines = drive('C_GetInfo|C_OpenSession:CKR_HOST_MEMORY:from=2',
                   qw(getinfo open getinfo));
    is_deeply($lines, ['getinfo CKR_OK', 'open CKR_HOST_MEMORY',
                       'getinfo CKR_HOST_MEMORY'], 'a list counts its calls together');
};

subtest 'nth counts across processes sharing the counter file' => sub {
    plan tests => 5;

    reset_counts();
    my $spec = 'C_Digest:CKR_DEVICE_ERROR:nth=2';
    my @runs = map { drive_on($spec, qw(open digest))->[1] } 1 .. 3;
    is_deeply(\@runs, ['digest CKR_OK good', 'digest CKR_DEVICE_ERROR',
                       'digest CKR_OK good'], 'the second process fails');
    is(fault_of('rule1.calls'), 3, 'rule 1 saw three calls in all');
};

subtest 'malformed rules: the module refuses to load and says why' => sub {
    my @bad = (
        ['C_Nothing:CKR_DEVICE_ERROR', qr/rule 1: unknown function/],
        ['C_Digest:CKR_NO_SUCH', qr/rule 1: CKR_NO_SUCH/],
        ['C_Digest:nth=2', qr/rule 1: a rule needs/],
        ['C_Digest:CKR_DEVICE_ERROR;C_Sign:rate=2:CKR_DEVICE_ERROR',
         qr/rule 2: rate=2/],
        ['C_Digest:CKR_DEVICE_ERROR:nth=1:from=2', qr/exclude each other/],
        ['C_Digest:CKR_DEVICE_ERROR:times=2', qr/times= needs nth=/],
        ['C_Digest:CKR_DEVICE_ERROR:nth=0', qr/rule 1: nth=0/],
        [' C_GetInfo:CKR_DEVICE_ERROR ; C_Digest:CKR_DEVICE_ERROR :nth=2',
         qr/rule 2: CKR_DEVICE_ERROR $/m],
    );
    plan tests => 2 * @bad;

    for my $case (@bad) {
        my ($spec, $why) = @$case;
        my ($rc, $out, $err) = run($drive, $shim, $slot, 'getinfo',
            { env => { P11SHIM_FAULTS => $spec }, timeout => 30 });
        is($rc, 2, "refused: $spec");
        like($err, qr/bad P11SHIM_FAULTS: .*$why/, 'with the reason');
    }
};

subtest 'counter file: fault region only when faults are on' => sub {
    plan tests => 7;

    my $file = File::Spec->catfile(tmp_dir(), 'plain.counts');
    my $base = 16 + 68 * 8;
    my ($rc) = run($drive, $shim, $slot, 'getinfo',
        { env => { P11SHIM_COUNTS => $file, P11SHIM_FAULTS => undef } });
    is(-s $file, $base, 'without P11SHIM_FAULTS: the 00-shim.t layout');
    ($rc) = run($drive, $shim, $slot, 'getinfo',
        { env => { P11SHIM_COUNTS => $file, P11SHIM_FAULTS => '' } });
    cmp_ok(-s $file, '>', $base, 'P11SHIM_FAULTS appends the fault region');
    my $raw = read_file($file);
    is(substr($raw, $base, 8), 'P11FLT01', 'fault region magic');
    my ($out);
    ($rc, $out) = run($p11count, '--faults', $file);
    like($out, qr/\Afault\.injected 0\nfault\.delayed 0\n/, '--faults');
    ($rc, $out) = run($p11count, '--all', $file);
    is(scalar(grep { /\AC_/ } split /\n/, $out), 68,
       '--all still lists the 68 functions');
    run($p11count, '--remove', $file);
    run($p11count, '--reset', $file);
    ($rc, $out) = run($p11count, $file);
    is($out, "fault.remove_requests 1\n",
       '--reset zeroes all but the removal requests');
    ($rc) = run($p11count, '--all', '--faults', $file);
    is($rc, 2, 'one mode at a time');
};

subtest 'without P11SHIM_COUNTS, rules count within the process' => sub {
    plan tests => 2;

    my ($rc, $out) = run($drive, $shim, $slot, qw(getinfox3),
        { env => { P11SHIM_COUNTS => undef,
                   P11SHIM_FAULTS => 'C_GetInfo:CKR_DEVICE_ERROR:nth=2' } });
    is($rc, 0, 'runs');
    is($out, "getinfo CKR_OK\ngetinfo CKR_DEVICE_ERROR\ngetinfo CKR_OK\n",
       'nth=2 is this process\'s second call');
};
