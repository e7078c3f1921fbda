#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Recovery from token faults with 8 threads at once (tests/c/fault_check.c
# "threads" mode): the token's session limit, random lost sessions,
# removals mid-run, a wrong PIN, a slow token. Every result is compared
# with OpenSSL's default provider; no result may be wrong and no run may
# hang (each is bounded by a timeout). Tests marked TODO are known limits;
# each says which.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC));
plan tests => 7;

use_shim();
my $check = test_program('fault_check');
my ($threads, $per_thread) = (8, 250);
my $ops = $threads * $per_thread;

# Runs `fault_check threads` under the rules after zeroing the counters;
# checks that it ended by itself with no wrong result, and returns
# { ops, ok, failed, wrong, errors => { CKR_X => failures }, out }.
sub threads {
    my ($faults, $mix, $env) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'threads', $threads, $per_thread, $mix,
        { env => { P11BE_BUILD_DIR => build_dir(), P11SHIM_FAULTS => $faults,
                   %{ $env // {} } },
          timeout => 60 });
    my %r;
    %r = %+ if $out =~ /\bthreads:\ ops=(?<ops>\d+)\ ok=(?<ok>\d+)
                        \ failed=(?<failed>\d+)\ wrong=(?<wrong>\d+)/x;
    ok($rc == 0 && defined $r{ops} && $r{wrong} == 0,
       "$mix: finished, no wrong result") or diag("rc $rc\n$out$err");
    $r{out} = $out;
    $r{failed} //= $ops;
    $r{errors} = { $out =~ /\b(CKR_\w+|other)=(\d+)/g };
    note("$mix under $faults: $out");
    return \%r;
}

subtest 'the token\'s session limit: threads wait rather than fail' => sub {
    plan tests => 6;

    # SoftHSM2 has no session limit of its own: the shim makes every
    # C_OpenSession after the second answer CKR_SESSION_COUNT.
    my $limit = 'C_OpenSession:CKR_SESSION_COUNT:from=3';
    my $r = threads($limit, 'sha256,stream', { P11BE_DIGEST_BUFFER_MAX => 4096 });
    is($r->{failed}, 0, "digests: all $ops succeed");
    cmp_ok(real_calls('C_OpenSession'), '<=', 2,
           'on at most two sessions');

    # One session: an HMAC takes its pool session before its key object's
    # session, so the object session is always the one refused.
    $r = threads('C_OpenSession:CKR_SESSION_COUNT:from=2',
                 'hmac,hmac-new,sha256');
    TODO: {
        local $TODO = 'a token that allows one session cannot hold session '
            . 'objects apart from the operations (objects.h); pkcs11be needs '
            . 'two';
        is($r->{failed}, 0, "HMAC: all $ops succeed ($r->{failed} failed)");
    }
    cmp_ok(real_calls('C_OpenSession'), '<=', 1, 'on one session');
};

subtest 'one call in a hundred loses its session' => sub {
    plan tests => 4;

    my $lost = '*:CKR_SESSION_HANDLE_INVALID:rate=0.01:seed=11';
    # An operation fails only when its retry is hit too: about 0.02^2.
    my $r = threads($lost, 'sha256');
    cmp_ok($r->{failed}, '<=', $ops / 100,
           "digests: $r->{failed} of $ops failed, each twice unlucky");

    # Lost object sessions too: no call on it runs under a C_SignInit
    # that uses one of its keys, and a key that went is made again.
    $r = threads($lost, 'hmac,hmac-new');
    cmp_ok($r->{failed}, '<=', $ops / 100,
           "HMAC: $r->{failed} of $ops failed");
};

subtest 'the token removed and re-inserted every 150 digests' => sub {
    plan tests => 5;

    my $r = threads('C_Digest:remove:every=150', 'sha256',
                    { P11BE_LOGIN => 'at-first-use' });
    my $removals = fault_of('removals');
    cmp_ok($removals, '>=', 10, "$removals removals");
    cmp_ok(real_calls('C_Login'), '<=', $removals + 1,
           'one login per insertion at most: no login storm');
    TODO: {
        local $TODO = 'a removal every 150 operations across 8 threads can '
            . 'hit one operation on each of its attempts';
        is($r->{failed}, 0, "all $ops succeed ($r->{failed} failed)");
    }
    unlike($r->{out}, qr/last error.*(?:no error)/,
           'every failure came with an error');
};

subtest 'HMAC keys across removals' => sub {
    plan tests => 3;

    my $r = threads('C_Sign|C_Digest:remove:every=150', 'hmac,sha256,hmac-new',
                    { P11BE_LOGIN => 'at-first-use' });
    cmp_ok(fault_of('removals'), '>=', 10, fault_of('removals') . ' removals');
    TODO: {
        local $TODO = 'as above: removals can outpace the retry budget';
        is($r->{failed}, 0, "all $ops succeed ($r->{failed} failed)");
    }
};

subtest 'a wrong PIN: one C_Login for all threads' => sub {
    plan tests => 4;

    my $r = threads('C_OpenSession:latency_us=2000', 'sha256,hmac',
                    { P11BE_LOGIN => 'at-first-use',
                      CRYPTOGRAPHY_PKCS11_PASSWORD => '9999' });
    is($r->{failed}, $ops, 'every operation fails');
    like($r->{out}, qr/C_Login failed: CKR_PIN_INCORRECT/, 'saying why');
    is(real_calls('C_Login'), 1, 'C_Login reached the token once');
};

subtest 'a slow token' => sub {
    plan tests => 2;

    my $r = threads('C_Sign|C_Digest|C_OpenSession:latency_us=300',
                    'sha256,hmac');
    is($r->{failed}, 0, "all $ops succeed");
};

subtest 'dirty sessions from mid-operation failures do not spread' => sub {
    plan tests => 4;

    # keep: the token leaves the operation running after the error. An
    # operation that meets such a session closes it and retries once.
    my $r = threads('C_Digest|C_Sign:CKR_DEVICE_ERROR:keep:rate=0.02:seed=5',
                    'sha256,hmac');
    my $injected = fault_of('injected');
    is($r->{errors}{CKR_DEVICE_ERROR} // 0, $injected,
       "each of the $injected device errors fails its own operation");
    cmp_ok($r->{failed}, '<=', $injected * 1.5,
           'a dirty session costs another operation at most an attempt');
    is($r->{errors}{CKR_OPERATION_ACTIVE} // 0, 0,
       'no operation fails with CKR_OPERATION_ACTIVE');
};
