#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Fork on a module that follows PKCS#11's fork rules: p11-kit's proxy in
# front of SoftHSM2 (SoftHSM2 alone keeps working in a child that never
# called C_Initialize, which hides mistakes). tests/c/fork_strict.c: the
# parent uses the token (SHA-256, HMAC, AES, RSA with an imported key and
# with a token key found by URI), then each child starts with a call the
# parent never made (a mechanism look-up, a store look-up) before any
# session, then does all the parent did with the parent's keys. Everything
# is checked against the default provider. Then tests/c/stress_check.c's
# fork battery (tests/64-fork.t) runs through the proxy too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC CKM_SHA384_HMAC CKM_AES_CBC
              CKM_AES_GCM CKM_RSA_PKCS CKM_RSA_PKCS_KEY_PAIR_GEN));
plan tests => 6;

# A persistent key on the token, made before a strict module is in front.
my $label = 'p11be-fork-strict';
my $pub = File::Spec->catfile(tmp_dir(), 'pub.pem');
my ($rc, $out, $err) = run(test_program('rsa_check'), 'gen', 2048, $label,
                           '0a0b', $pub,
                           { env => { P11BE_BUILD_DIR => build_dir() } });
is($rc, 0, 'a persistent RSA key on the token') or diag("$out$err");

use_shim();
use_proxy();
reset_counts();
($rc, $out, $err) = run(test_program('fork_strict'),
    "pkcs11:object=$label;type=private", $pub,
    { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 120 });
note($out);
is($rc, 0, 'every child, started on a call that is not a session, and the '
           . 'parent got every result right through the proxy')
    or diag("$out$err");
# The shim counts every process: the parent's C_Initialize and one per
# child (the proxy wants it; SoftHSM2 alone would not).
is(count_of('C_Initialize'), 7, 'C_Initialize once in the parent and once '
                                . 'in each of the 6 children');

($rc, $out, $err) = run(test_program('stress_check'), 'fork', 20, 10,
    { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 120 });
note($out);
like($out, qr/fork: children=20 ok=20 failed=0 wrong=0 crashed=0 idle=10 idle_calls=0 parent=ok/,
     "stress_check fork (tests/64-fork.t's battery) through the proxy")
    or diag("$out$err");

# A module that forks inside C_Initialize (p11-kit's remote modules start
# their helper so): the fork handlers run while pkcs11be is initialising
# it, in the first load and again in each child. Nothing may wait there.
my %forking = (env => { P11BE_BUILD_DIR => build_dir(),
                        P11SHIM_FORK_IN_INITIALIZE => 1 },
               timeout => 60);
($rc, $out, $err) = run(test_program('fork_strict'),
    "pkcs11:object=$label;type=private", $pub, \%forking);
is($rc, 0, 'a module that forks in C_Initialize: fork_strict passes, no '
           . 'deadlock') or diag("$out$err");
($rc, $out, $err) = run(test_program('lifecycle_check'), 2, 10, 5,
                        \%forking);
is($rc, 0, 'a module that forks in C_Initialize: loads and unloads in '
           . 'two threads') or diag("$out$err");
