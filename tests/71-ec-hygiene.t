#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Object hygiene for EC keys: 1000 software P-256 keys imported into the
# token by their first signature and freed, in one process
# (tests/c/ec_check.c). Every key object is destroyed: the shim counts
# C_CreateObject and C_DestroyObject.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

plan skip_all => 'the token lacks CKM_ECDSA' unless has_mech('CKM_ECDSA');
plan tests => 4;

use_shim();
my $n = 1000;
reset_counts();
my ($rc, $out, $err) = run(test_program('ec_check'), 'hygiene', $n,
                           { env => { P11BE_BUILD_DIR => build_dir() } });
is($rc, 0, "$n keys imported, used and freed") or diag "$out$err";
is(count_of('C_CreateObject'), $n, 'one key object each');
is(count_of('C_DestroyObject'), $n, 'every one destroyed');
is(count_of('C_Sign'), $n, 'every one signed on the token');
