#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# One library context loads pkcs11be while another unloads it
# (tests/c/lifecycle_check.c): 4 threads x 50 rounds of new OSSL_LIB_CTX,
# load, 20 SHA-256 digests on the token, unload, free. The instances share
# the module, so the last unload's C_Finalize races the next load's
# C_Initialize; neither may see the other half done. Run three times:
# every round must work and every digest match the default provider's.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256));
# tpm2-pkcs11 1.9 hashes only for a logged-in user, and its C_CloseSession
# of the last session logs the token out through the TPM connection
# without the token's lock: a C_Login in another thread at that moment
# fails (Esys_Load "called in bad sequence", CKR_GENERAL_ERROR; seen with
# TPM2_PKCS11_LOG_LEVEL=2). Here 4 instances log in and close their last
# session 200 times side by side.
plan skip_all => 'the tpm token (tpm2-pkcs11) races C_CloseSession '
    . 'against C_Login in another thread' if token_kind() eq 'tpm';
plan tests => 4;

use_shim();
for my $run (1 .. 3) {
    my ($rc, $out, $err) = run(test_program('lifecycle_check'), 4, 50, 20,
        { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 120 });
    note($out);
    is($rc, 0, "run $run: 200 rounds, every digest right, no crash")
        or diag("exit $rc\n" . substr("$out$err", 0, 2000));
}
# Every load that found no other instance initialised the module, and
# every last unload finalised it: they pair up.
is(count_of('C_Initialize'), count_of('C_Finalize'),
   'as many C_Finalize as C_Initialize');
