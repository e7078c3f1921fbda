#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The test infrastructure itself, against a real SoftHSM2 token: mktoken,
# p11mechs, the counting shim and its counter file, p11count, and the
# P11BE.pm helpers that every later test leans on.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

plan tests => 11;

my $slot = $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
my $label = $ENV{P11BE_TOKEN_LABEL};
my $mktoken = File::Spec->catfile(source_dir(), 'scripts', 'mktoken');
my $p11mechs = test_program('p11mechs');
my $p11count = test_program('p11count');

# The functions a fresh p11mechs run makes, in list order.
my @mechs_calls = qw(C_Initialize C_Finalize C_GetFunctionList
                     C_GetMechanismList);

subtest 'mktoken made a token with our label' => sub {
    plan tests => 5;

    like($slot, qr/\A\d+\z/, 'slot ID is a decimal number');
    is($label, token_kind() eq 'nss' ? 'NSS Certificate DB' : 'pkcs11be-test',
       'default label exported');
    is($ENV{CRYPTOGRAPHY_PKCS11_PASSWORD}, '1234', 'user PIN exported');

    my ($rc, $out, $err) = run(test_program('p11slot'), real_module(), $label);
    # p11-kit's proxy also loads the machine's other registered modules,
    # which may write to stderr (tpm2-pkcs11 without a TPM: scripts/mktoken).
    $err = '' if token_kind() eq 'proxy';
    is("$out$err", "$slot\n", "slot $slot of " . real_module()
                              . " holds the token labelled $label");

    SKIP: {
        skip 'no SoftHSM2 behind the ' . token_kind() . ' token', 1
            unless defined $ENV{P11BE_SOFTHSM2_SLOT_ID};
        my $backend = $ENV{P11BE_SOFTHSM2_SLOT_ID};
        my ($cur, %labels);
        ($rc, $out) = run('softhsm2-util', '--show-slots');
        for (split /\n/, $out) {
            $cur = $1 if /^Slot (\d+)$/;
            $labels{$cur} = $1 if defined $cur && /^\s+Label:\s*(.*?)\s*$/;
        }
        is($labels{$backend}, $label,
           "SoftHSM2's slot $backend holds the token labelled $label");
    }
};

subtest 'mktoken reports errors' => sub {
    plan tests => 5;

    my ($rc, $out, $err) = run('bash', $mktoken);
    isnt($rc, 0, 'no DIR: non-zero exit');
    like($err, qr/usage: mktoken/, 'no DIR: usage on stderr');
    is($out, '', 'no DIR: nothing on stdout');

    my $dir = File::Spec->catdir(tmp_dir(), 'token');
    ($rc, $out, $err) = run('bash', $mktoken, $dir);
    isnt($rc, 0, 'existing token directory refused');
    like($err, qr/already holds a token/, 'and says why');
};

my @real_mechs;
subtest 'p11mechs and has_mech on the real module' => sub {
    plan tests => 5;

    my ($rc, $out, $err) = run($p11mechs, real_module(), $slot);
    is($rc, 0, 'p11mechs exits 0') or diag($err);
    @real_mechs = split /\n/, $out;
    cmp_ok(scalar @real_mechs, '>', 10, 'lists a fair number of mechanisms');
    is_deeply([grep { !/\A(CKM_\w+|0x[0-9a-f]{8})\z/ } @real_mechs], [],
              'every line is a CKM_ name or hex');
    ok(has_mech('CKM_AES_ECB'), 'has_mech finds CKM_AES_ECB');
    ok(!has_mech('CKM_NO_SUCH_THING'), 'has_mech rejects an unknown name');
};

subtest 'the shim forwards and counts' => sub {
    plan tests => 7;

    my $shim = use_shim();
    is($ENV{CRYPTOGRAPHY_PKCS11_PATH}, $shim,
       'CRYPTOGRAPHY_PKCS11_PATH is the shim');
    is($ENV{P11SHIM_MODULE}, real_module(),
       'P11SHIM_MODULE is the real module');
    is_deeply(counts(), {}, 'counters start at zero');

    my ($rc, $out, $err) = run($p11mechs, $shim, $slot);
    is($rc, 0, 'p11mechs through the shim exits 0') or diag($err);
    is_deeply([split /\n/, $out], \@real_mechs,
              'same mechanisms, same order as the real module');
    cmp_ok(count_of('C_GetMechanismList'), '>', 0,
           'C_GetMechanismList was counted');
    my %expect = map { $_ => 1 } @mechs_calls;
    $expect{C_GetMechanismList} = 2;
    is_deeply(counts(), \%expect,
              'exact counts: one init, size query + fetch, one finalize');
};

subtest 'counter file layout and p11count' => sub {
    plan tests => 7;

    my $file = $ENV{P11SHIM_COUNTS};
    my $raw = read_file($file);
    is(length($raw), 16 + 68 * 8, 'file is 16 + 68 * 8 bytes');
    is(substr($raw, 0, 8), 'P11SHIM1', 'magic');
    my ($n, @counters) = unpack('Q Q*', substr($raw, 8));
    is($n, 68, 'slot count');

    my ($rc, $out) = run($p11count, '--all', $file);
    my @lines = split /\n/, $out;
    is(scalar @lines, 68, '--all prints all 68 functions');
    is($lines[0], "C_Initialize $counters[0]", 'first is C_Initialize');
    is($lines[-1], "C_WaitForSlotEvent $counters[67]",
       'last is C_WaitForSlotEvent');
    is_deeply([map { (split / /)[1] } @lines], \@counters,
              'p11count agrees with the raw counters');
};

subtest 'reset zeroes the counters' => sub {
    plan tests => 4;

    cmp_ok(count_of('C_Initialize'), '>', 0, 'something counted before');
    reset_counts();
    is_deeply(counts(), {}, 'p11count prints nothing after reset');
    my ($rc, $out) = run($p11count, '--all', $ENV{P11SHIM_COUNTS});
    is(scalar(grep { !/ 0\z/ } split /\n/, $out), 0, '--all shows only zeros');

    my $fresh = File::Spec->catfile(tmp_dir(), 'fresh.counts');
    ($rc) = run($p11count, '--reset', $fresh);
    ok($rc == 0 && -s $fresh == 16 + 68 * 8, '--reset creates a missing file');
};

subtest 'counts add up across processes' => sub {
    plan tests => 3;

    reset_counts();
    my @rcs = map { scalar run($p11mechs, shim_module(), $slot) } 1 .. 3;
    is_deeply(\@rcs, [0, 0, 0], 'three p11mechs runs succeed');
    is(count_of('C_GetMechanismList'), 6, 'C_GetMechanismList: 3 x 2');
    is(count_of('C_Initialize'), 3, 'C_Initialize: 3 x 1');
};

# shimfork forks before C_Initialize; every process runs its own threads.
my ($procs, $threads, $calls) = (4, 4, 250);
my %fork_expect = (
    C_GetFunctionList => 1,
    C_Initialize => $procs,
    C_Finalize => $procs,
    C_GetInfo => $procs * $threads * $calls,
);

subtest 'counts add up across fork and threads' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out, $err) = run(test_program('shimfork'), shim_module(),
                               $procs, $threads, $calls);
    is($rc, 0, "shimfork: $procs processes x $threads threads") or diag($err);
    is_deeply(counts(), \%fork_expect, 'every call counted exactly once');
};

subtest 'real module already loaded' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out, $err) = run(test_program('shimfork'), '--preload',
                               real_module(), shim_module(),
                               $procs, $threads, $calls);
    is($rc, 0, 'shim works with the real module preloaded RTLD_GLOBAL')
        or diag($err);
    is_deeply(counts(), \%fork_expect, 'counts are unchanged by preloading');
};

subtest 'shim refuses without P11SHIM_MODULE, exports one symbol' => sub {
    plan tests => 4;

    reset_counts();
    my ($rc, $out, $err) = run($p11mechs, shim_module(), $slot,
                               { env => { P11SHIM_MODULE => undef } });
    isnt($rc, 0, 'p11mechs fails');
    like($err, qr/P11SHIM_MODULE is not set/, 'shim says why');
    like($err, qr/C_GetFunctionList: CKR 0x00000005/,
         'C_GetFunctionList returns CKR_GENERAL_ERROR');

    SKIP: {
        my ($nm_rc, $syms) = run('nm', '-D', '--defined-only', shim_module());
        skip 'nm is not available', 1 if $nm_rc != 0;
        my @exported = map { (split ' ')[-1] } grep { / [A-Z] / }
                       split /\n/, $syms;
        is_deeply(\@exported, ['C_GetFunctionList'],
                  'only C_GetFunctionList is exported');
    }
};

subtest 'P11BE.pm helpers' => sub {
    plan tests => 8;

    my ($rc, $out, $err) = run('cat', { stdin => "a\0b" });
    is($out, "a\0b", 'run: stdin reaches the program, binary-safe');
    ($rc, $out) = run('sh', '-c', 'printf %s "$P11BE_X"; exit 3',
                      { env => { P11BE_X => 'x y' } });
    ok($rc == 3 && $out eq 'x y', 'run: env and exit code');
    ($rc, undef, $err) = run('sh', '-c', 'sleep 30', { timeout => 1 });
    ok($rc == 124 && $err =~ /timed out/, 'run: a hung program is killed');
    ($rc) = run('sh', '-c', 'kill -9 $$');
    is($rc, 128 + 9, 'run: death by signal is 128 + signal');

    is(random_bytes(100), random_bytes(100), 'random_bytes is deterministic');
    isnt(random_bytes(32, 'a'), random_bytes(32, 'b'), 'seeds differ');
    my $file = File::Spec->catfile(tmp_dir(), 'blob');
    write_file($file, random_bytes(4097));
    is(read_file($file), random_bytes(4097),
       'write_file/read_file round trip');

    ($rc, $out) = ossl('version');
    like($out, qr/\AOpenSSL 3\./, 'ossl runs OpenSSL 3');
};
