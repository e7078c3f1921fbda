#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# pkcs11-key-cache (provider/token/keyobj.c): a token key found by URI is copied
# once into a session object (C_CopyObject, only CKA_TOKEN changed) that
# every operation uses, so that the token does not unwrap its private
# value at each use; no C_FindObjects per operation; the copy is destroyed
# when the key is freed; `no`, or a token that refuses the copy, uses the
# token object. tests/c/store_check.c loads and signs, each signature
# verified by OpenSSL's default provider; the shim's counts and object log
# prove what reached the token.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

plan skip_all => 'the token lacks CKM_EC_KEY_PAIR_GEN or CKM_ECDSA'
    unless has_mech('CKM_EC_KEY_PAIR_GEN') && has_mech('CKM_ECDSA');
plan tests => 7;

use_shim();
my $tmp = tmp_dir();
my $label = 'cache-key';
my $uri = "pkcs11:object=$label;type=private";
my $check = test_program('store_check');
my $signs = 20;

# store_check $uri 1 with $signs signatures; returns its output.
sub signs {
    my ($env, $n) = @_;
    my ($rc, $out, $err) = run($check, $uri, 1,
        { env => { P11BE_BUILD_DIR => build_dir(),
                   STORE_CHECK_SIGNS => $n // $signs, %{ $env // {} } } });
    return ($rc, "$out$err");
}

# The shim's object log: { h => attributes } of what C_CopyObject made, and
# the handles C_DestroyObject destroyed.
sub object_log {
    my ($log) = @_;
    my (%copies, %destroyed);

    open my $fh, '<', $log or return ({}, {});
    while (<$fh>) {
        chomp;
        $copies{$1} = $2 if /\Apid=\d+ object fn=C_CopyObject h=(\d+) (.*)/;
        $destroyed{$1} = 1 if /\Apid=\d+ destroy h=(\d+) rv=CKR_OK\z/;
    }
    close $fh;
    return (\%copies, \%destroyed);
}

subtest 'a persistent EC key on the token' => sub {
    plan tests => 1;
    reset_counts();
    ossl_p11('genpkey', '-provider', 'default', '-propquery',
             'provider=pkcs11be', '-algorithm', 'EC', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-pkeyopt', "pkcs11-key-label:$label",
             '-out', File::Spec->catfile($tmp, 'gen.pem'));
    is(count_of('C_GenerateKeyPair'), 1, 'generated');
};

my $finds_for_one;
subtest 'one session copy serves every signature' => sub {
    plan tests => 10;
    reset_counts();
    my ($rc, $out) = signs({}, 1);
    is($rc, 0, 'one signature') or diag $out;
    $finds_for_one = count_of('C_FindObjects');

    my $log = File::Spec->catfile($tmp, 'copy.log');
    unlink $log;
    reset_counts();
    ($rc, $out) = signs({ P11SHIM_LOG => $log });
    is($rc, 0, "$signs signatures, each verified by the default provider")
        or diag $out;
    is(count_of('C_Sign'), $signs, 'all on the token');
    is(count_of('C_CopyObject'), 1, 'one C_CopyObject for the key');
    is(count_of('C_FindObjects'), $finds_for_one,
       'no C_FindObjects per signature (as many as for one)');
    my ($copies, $destroyed) = object_log($log);
    my ($h) = keys %$copies;
    ok(defined $h, 'the copy is in the shim\'s object log');
    like($copies->{$h} // '', qr/\btoken=0\b/, 'a session object');
    like($copies->{$h} // '',
         qr/\bprivate=1\b.*\bsensitive=1\b.*\bextractable=0\b/,
         'private, sensitive and not extractable like the original');
    like($copies->{$h} // '', qr/ tmpl=CKA_TOKEN=0\z/,
         'the copy\'s template changes CKA_TOKEN only');
    ok(defined $h && $destroyed->{$h}, 'destroyed when the key was freed');
};

subtest 'pkcs11-key-cache = no: the token object' => sub {
    plan tests => 4;
    reset_counts();
    my ($rc, $out) = signs({ P11BE_KEY_CACHE => 'no' });
    is($rc, 0, "$signs signatures") or diag $out;
    is(count_of('C_Sign'), $signs, 'on the token');
    is(count_of('C_CopyObject'), 0, 'no copy');
    is(count_of('C_DestroyObject'), 0, 'nothing destroyed');
};

# CKR_ACTION_PROHIBITED (0x1b): CKA_COPYABLE false.
for my $refusal (qw(0x1b CKR_FUNCTION_NOT_SUPPORTED)) {
    subtest "a token that refuses the copy ($refusal)" => sub {
        plan tests => 5;
        reset_counts();
        my ($rc, $out) = signs({ P11SHIM_FAULTS => "C_CopyObject:$refusal" });
        is($rc, 0, "$signs signatures on the token object") or diag $out;
        is(count_of('C_Sign'), $signs, 'on the token');
        is(count_of('C_CopyObject'), 1, 'the copy asked for once only');
        is(count_of('C_FindObjects'), $finds_for_one,
           'no C_FindObjects per signature');
        is(count_of('C_DestroyObject'), 0, 'nothing destroyed');
    };
}

subtest 'a bad pkcs11-key-cache is an error naming it' => sub {
    plan tests => 3;
    reset_counts();
    my ($rc, $out) = signs({ P11BE_KEY_CACHE => 'maybe' }, 1);
    isnt($rc, 0, 'the signature fails');
    like($out, qr/P11BE_KEY_CACHE="maybe": not a known value/,
         'naming the setting and its value');
    is(count_of('C_Sign'), 0, 'nothing signed');
};

subtest 'the copy is made again after the application logged out' => sub {
    plan tests => 4;
    reset_counts();
    my ($rc, $out) = signs({ STORE_CHECK_LOGOUT => 1 }, 5);
    is($rc, 0, 'signatures before and after the logout') or diag $out;
    is(count_of('C_Sign'), 10, 'on the token');
    # After: the first try names the original's handle the logout dropped.
    is(count_of('C_CopyObject'), 3, 'a copy before, one after');
    is(count_of('C_FindObjects'), $finds_for_one + 1,
       'the token object found again once');
};
