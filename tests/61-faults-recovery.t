#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Recovery from token faults, one operation at a time: digests and HMAC
# (tests/c/fault_check.c) through pkcs11be while the shim injects the
# faults of P11SHIM_FAULTS (syntax in tests/shim/p11shim.c). Every result
# is compared with OpenSSL's default provider: a fault may make an
# operation fail with a clear error, never give a wrong answer. The shim's
# counters prove what reached the token.
#
# Threads are in 62-faults-threads.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC));
plan tests => 16;

use_shim();
my $check = test_program('fault_check');

# Runs `fault_check ops @ops` under the rules, after zeroing the counters;
# checks that no result was wrong and returns the output lines with
# "N OP " stripped: "ok", "ERR: ..." or "WRONG".
sub ops {
    my ($faults, $env, @ops) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'ops', @ops,
        { env => { P11BE_BUILD_DIR => build_dir(),
                   P11COUNT => test_program('p11count'),
                   P11SHIM_FAULTS => $faults, %$env },
          timeout => 30 });
    is($rc, 0, "no wrong result, no crash: @ops") or diag("$out$err");
    return [map { s/\A\d+ \S+ //r } split /\n/, $out];
}

sub all_ok {
    my ($lines, $name) = @_;
    is_deeply($lines, [('ok') x @$lines], $name) or diag(explain($lines));
}

my %at_first_use = (P11BE_LOGIN => 'at-first-use');
my %streaming = (P11BE_DIGEST_BUFFER_MAX => 4096);

subtest 'a lost session on C_DigestInit or C_Digest: one retry' => sub {
    plan tests => 10;

    my $lines = ops('C_DigestInit:CKR_SESSION_HANDLE_INVALID:nth=2', {},
                    qw(sha256x3));
    all_ok($lines, 'C_DigestInit: every digest right');
    is(fault_of('injected'), 1, 'one fault injected');
    is(count_of('C_OpenSession'), 2, 'the lost session replaced by one new');
    is(real_calls('C_Digest'), 3, 'three digests on the token');

    $lines = ops('C_Digest:CKR_SESSION_CLOSED:nth=1', {}, qw(sha256x2));
    all_ok($lines, 'C_Digest: CKR_SESSION_CLOSED');
    $lines = ops('C_Digest:CKR_SESSION_HANDLE_INVALID:after:nth=1', {},
                 qw(sha256x2));
    all_ok($lines, 'C_Digest did the work, then the session was lost');
    is(count_of('C_Digest'), 3, 'C_Digest ran 3 times: the lost answer '
                                . '(overwritten) was thrown away');
};

subtest 'HMAC: a lost session on C_SignInit or C_Sign' => sub {
    plan tests => 7;

    my $lines = ops('C_SignInit:CKR_SESSION_HANDLE_INVALID:nth=2', {},
                    qw(hmacx3 hmac-new));
    all_ok($lines, 'C_SignInit: every MAC right');
    $lines = ops('C_Sign:CKR_SESSION_CLOSED:after:nth=2', {},
                 qw(hmacx3 hmac-new));
    all_ok($lines, 'C_Sign: every MAC right');
    is(count_of('C_CreateObject'), 2,
       'the key object outlives the lost session (and one new key)');
    $lines = ops('C_Sign:CKR_SESSION_HANDLE_INVALID:every=2', {},
                 qw(hmacx4));
    all_ok($lines, 'every second C_Sign lost');
};

subtest 'CKR_DEVICE_REMOVED drops every session, the retry succeeds' => sub {
    plan tests => 9;

    # warm=4 leaves four sessions in the pool; the removal kills them all.
    my $lines = ops('C_Digest:CKR_DEVICE_REMOVED:nth=2', \%streaming,
                    qw(warm=4 sha256x3 streamx2));
    all_ok($lines, 'every digest right');
    is(fault_of('removals'), 1, 'the token was removed once');
    is(fault_of('stale'), 0, 'no call was made on a dead session');
    is(count_of('C_OpenSession'), 5, 'four, then one new session');

    $lines = ops('C_SignInit:CKR_DEVICE_REMOVED:nth=2', {},
                 qw(hmacx3 sha256));
    all_ok($lines, 'HMAC: every MAC right');
    is(count_of('C_CreateObject'), 2, 'the key object was made again');
    is(fault_of('stale'), 0, 'no call was made on a dead session');
};

subtest 'token removed and re-inserted mid-run (the real C_CloseAllSessions)'
    => sub {
    plan tests => 6;

    my $lines = ops('', \%at_first_use,
                    qw(hmac sha256 remove hmac sha256 hmac-new remove hmacx2
                       sha256));
    all_ok($lines, 'every operation succeeds, nothing done by the application');
    is(fault_of('removals'), 2, 'two removals');
    is(real_calls('C_Login'), 3, 'pkcs11-login=at-first-use: logged in again '
                                 . 'after each');
    is(count_of('C_CreateObject'), 4,
       'the kept HMAC key re-created after each removal (plus hmac-new)');
    is(count_of('C_CloseSession'), 0, 'no dead session closed');
};

subtest 'a removal during an operation, token back at once' => sub {
    plan tests => 5;

    my $lines = ops('C_Sign:remove:nth=2', \%at_first_use,
                    qw(hmacx3 sha256 hmac));
    all_ok($lines, 'the operation hit is retried on the re-inserted token');
    is(real_calls('C_Login'), 2, 'logged in again');
    is(count_of('C_CreateObject'), 2, 'key object re-created');
    is(fault_of('C_Sign.injected'), 1, 'one C_Sign lost');
};

subtest 'a removal with the token out for one open: fails once, clearly' => sub {
    plan tests => 4;

    my $lines = ops('C_SignInit:remove:nth=2:absent=1', \%at_first_use,
                    qw(hmacx4));
    is($lines->[0], 'ok', 'before: ok');
    like($lines->[1], qr/\AERR: .*C_OpenSession .*CKR_TOKEN_NOT_PRESENT/,
         'the operation meeting the empty slot fails, naming the cause');
    is_deeply([@$lines[2, 3]], ['ok', 'ok'], 'the next ones succeed');
};

subtest 'CKR_OPERATION_ACTIVE never reaches the next user' => sub {
    plan tests => 12;

    # keep: C_Digest fails without reaching the token, so the digest that
    # C_DigestInit started stays active on that session, as on a token
    # that does not end an operation on error.
    my $lines = ops('C_Digest:CKR_DEVICE_ERROR:keep:nth=1', {},
                    qw(sha256x2 hmac sha256 hmac-new sha256));
    like($lines->[0], qr/\AERR: .*C_Digest.*CKR_DEVICE_ERROR/,
         'the failed digest reports the device error');
    all_ok([@$lines[1 .. 5]], 'the next users of the pool all succeed');
    is(count_of('C_CloseSession'), 1, 'the dirty session was closed');

    $lines = ops('C_Sign:CKR_FUNCTION_FAILED:keep:nth=1', {},
                 qw(hmacx2 sha256 hmac));
    like($lines->[0], qr/\AERR: .*C_Sign.*CKR_FUNCTION_FAILED/,
         'HMAC: the failed MAC reports it');
    all_ok([@$lines[1 .. 3]], 'HMAC: the next users succeed');

    $lines = ops('C_DigestInit|C_SignInit:CKR_OPERATION_ACTIVE:nth=1', {},
                 qw(sha256 hmac));
    all_ok($lines, 'an injected CKR_OPERATION_ACTIVE is retried');

    # stream: C_DigestUpdate fails mid-stream; the next users do not care.
    $lines = ops('C_DigestUpdate:CKR_DEVICE_MEMORY:keep:nth=3', \%streaming,
                 qw(stream sha256 stream));
    like($lines->[0], qr/\AERR: .*C_DigestUpdate.*CKR_DEVICE_MEMORY/,
         'streaming: the failed update reports it');
    all_ok([@$lines[1, 2]], 'streaming: the next users succeed');
};

subtest 'errors that cannot be retried: clear, never a wrong result' => sub {
    my @codes = qw(CKR_DEVICE_ERROR CKR_DEVICE_MEMORY CKR_FUNCTION_FAILED
                   CKR_GENERAL_ERROR CKR_HOST_MEMORY);
    plan tests => 4 * @codes + 5;

    for my $code (@codes) {
        my $lines = ops("C_Digest|C_Sign:$code:after:every=2", {},
                        qw(sha256x4 hmacx4));
        my @err = grep { /\AERR:/ } @$lines;
        is(scalar @err, 4, "$code: every second operation fails");
        like($err[0] // '', qr/C_Digest \(CKM_SHA256\): $code/,
             "$code: the digest error names the call and the code");
        like($err[-1] // '', qr/C_Sign \(CKM_SHA256_HMAC\): $code/,
             "$code: the MAC error too");
    }
    my $lines = ops('C_Digest:CKR_DEVICE_ERROR:nth=1', {}, qw(sha256x2));
    is(real_calls('C_Digest'), 1, 'not retried: one C_Digest reached the '
                                  . 'token');
    is($lines->[1], 'ok', 'the next digest succeeds');
    $lines = ops('C_DigestFinal:CKR_DEVICE_ERROR:after:nth=1', \%streaming,
                 qw(stream stream));
    is_deeply([map { /\AERR/ ? 'ERR' : $_ } @$lines], ['ERR', 'ok'],
              'streaming: a lost final fails, the next succeeds');
};

subtest 'latency does not change results' => sub {
    plan tests => 2;

    my $lines = ops('C_Digest|C_Sign|C_OpenSession:latency_us=2000', {},
                    qw(sha256x5 hmacx5));
    all_ok($lines, 'slow token, right answers');
};

subtest 'a wrong PIN is tried once, even under faults' => sub {
    plan tests => 5;

    # The first operation finds no session; the second's token check
    # fails; then the login runs, and never again. Nothing after it
    # reaches the token: a refused login stops every operation first.
    my $lines = ops('C_OpenSession:CKR_SESSION_COUNT:nth=1;'
                    . 'C_GetTokenInfo:CKR_DEVICE_ERROR:nth=2;'
                    . 'C_DigestInit:CKR_SESSION_HANDLE_INVALID',
                    { %at_first_use, CRYPTOGRAPHY_PKCS11_PASSWORD => '9999' },
                    qw(sha256x3 hmac hmac-new sha256));
    like($lines->[0], qr/\AERR: .*C_OpenSession.*CKR_SESSION_COUNT/,
         'no session: a clear error');
    is(scalar(grep { /C_Login failed: CKR_PIN_INCORRECT .*not retried/ }
              @$lines), 5,
       'every later operation fails with C_Login\'s CKR_PIN_INCORRECT');
    is(real_calls('C_Login'), 1, 'C_Login reached the token once');
    is(fault_of('injected'), 2, 'after both faults');
};

# Found by these tests; see the reasons.
subtest 'the session lost during C_Login is dropped' => sub {
    plan tests => 6;

    my $lines = ops('C_Login:CKR_SESSION_HANDLE_INVALID:nth=1',
                    \%at_first_use, qw(sha256x3));
    is($lines->[0], 'ok',
       'the first operation logs in again on a new session and succeeds');
    is_deeply([@$lines[1, 2]], ['ok', 'ok'],
              'the next operations log in on a new session');

    $lines = ops('C_Login:CKR_SESSION_HANDLE_INVALID:nth=1',
                 { %at_first_use, CRYPTOGRAPHY_PKCS11_PASSWORD => '9999' },
                 qw(sha256x3));
    is(real_calls('C_Login'), 1,
       'wrong PIN: C_Login reaches the token once, on a new session');
    cmp_ok(real_calls('C_Login'), '<=', 1, 'and never more than once');
};

subtest 'a device error during C_Login is not a wrong PIN' => sub {
    plan tests => 3;

    my $lines = ops('C_Login:CKR_DEVICE_ERROR:nth=1', \%at_first_use,
                    qw(sha256x2));
    like($lines->[0], qr/\AERR: .*CKR_DEVICE_ERROR/,
         'the first operation fails with the device error');
    is($lines->[1], 'ok', 'the next operation logs in');
};

subtest 'after re-login, the retry does not meet its own dirty session' => sub {
    plan tests => 3;

    # C_Sign answers CKR_USER_NOT_LOGGED_IN (and the token is logged out):
    # the provider logs in again and retries; the session it pooled still
    # has the signature running.
    my $lines = ops('C_Sign:CKR_USER_NOT_LOGGED_IN:nth=1', \%at_first_use,
                    qw(hmacx3));
    all_ok($lines, 'every MAC succeeds');
    is(real_calls('C_Login'), 2, 'logged in again');
};

subtest 'a removal the token reports only as lost sessions' => sub {
    plan tests => 3;

    # Many HSMs, after a reset or a network reconnect, answer
    # CKR_SESSION_HANDLE_INVALID and never CKR_DEVICE_REMOVED.
    my $lines = ops('C_Digest:remove:CKR_SESSION_HANDLE_INVALID:'
                    . 'gone=CKR_SESSION_HANDLE_INVALID:nth=1', \%streaming,
                    qw(warm=4 sha256x4));
    all_ok($lines, 'every digest succeeds');
    cmp_ok(scalar(grep { /\AERR: .*CKR_SESSION_HANDLE_INVALID/ } @$lines),
           '==', scalar(grep { $_ ne 'ok' } @$lines),
           'any failure names the lost session');
};

subtest 'an HMAC key whose object session was lost is made again' => sub {
    plan tests => 3;

    # The second C_CreateObject (for hmac-new) loses the object session,
    # and with it (on the token) the first key's object.
    my $lines = ops('C_CreateObject:CKR_SESSION_HANDLE_INVALID:nth=2', {},
                    qw(hmac hmac-new hmacx2));
    is_deeply([@$lines[0, 1]], ['ok', 'ok'],
              'the key being created survives the loss');
    is_deeply([@$lines[2, 3]], ['ok', 'ok'],
              'the kept key works afterwards');
};

subtest 'faults with no counter file' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out) = run($check, 'ops', qw(sha256x3),
        { env => { P11BE_BUILD_DIR => build_dir(), P11SHIM_COUNTS => undef,
                   P11SHIM_FAULTS => 'C_Digest:CKR_SESSION_CLOSED:nth=2' },
          timeout => 30 });
    is($rc, 0, 'runs');
    is($out, "1 sha256 ok\n2 sha256 ok\n3 sha256 ok\n",
       'faults still injected and recovered');
};
