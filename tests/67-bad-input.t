#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Bad input everywhere (issue 8): tests/c/badinput_check.c runs a table of
# {operation, misuse} rows (digests, HMAC, CMAC, AES/3DES block modes,
# GCM, RSA signatures and decryption, ECDSA, EdDSA, ECDH) through pkcs11be
# and OpenSSL's default provider. Each row is one assertion here, named by
# the program's line, which carries pkcs11be's error text: it must fail
# with an error on the queue (or do what the default provider does), not
# crash, and leave the next good operation working. The table runs three
# times: as is, with a pool of one session (a session left with an
# operation running would hit the next row), and with digest and HMAC
# input streamed to the token after 16 bytes (sessions kept across calls).
# The shim's log (P11SHIM_LOG) then shows that the token never answered
# CKR_OPERATION_ACTIVE and that every object made was destroyed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_AES_CBC CKM_ECDSA));

use_shim();
my $check = test_program('badinput_check');

# Runs the table under %env; one assertion per row. Returns the log lines.
sub table {
    my ($what, %env) = @_;
    my $log = File::Spec->catfile(tmp_dir(), "shim-$what.log");
    my ($rc, $out, $err) = run($check,
        { env => { P11BE_BUILD_DIR => build_dir(), P11SHIM_LOG => $log,
                   %env },
          timeout => 300 });
    my @lines = split /\n/, $out;
    my ($summary) = grep { /\Arows \d+ failed \d+ todo \d+\z/ } @lines;

    ok(defined $summary, "$what: the table ran to its end (exit $rc)")
        or diag("$out$err");
    is($rc, 0, "$what: no row failed, no crash") or diag($err);
    for my $line (grep { /\A(ok|FAIL|TODO): / } @lines) {
        my ($verdict, $text) = $line =~ /\A(\w+): (.*)\z/;
        if ($verdict eq 'TODO') {
            local $TODO = 'a bug in a file another helper owns';
            ok(0, "$what: $text");
        } else {
            ok($verdict eq 'ok', "$what: $text");
        }
    }
    return -e $log ? [split /\n/, read_file($log)] : [];
}

# The shim log's verdicts: no CKR_OPERATION_ACTIVE, every object made in a
# process destroyed in it, and the ECDH secrets (C_DeriveKey) among them.
sub log_checks {
    my ($what, $log) = @_;
    my (%made, %gone);

    cmp_ok(scalar @$log, '>', 0, "$what: the shim logged");
    is_deeply([grep { /CKR_OPERATION_ACTIVE/ } @$log], [],
              "$what: the token never answered CKR_OPERATION_ACTIVE");
    for (@$log) {
        $made{"$1 $2"} = $3 if /\Apid=(\d+) object fn=(?:\S+) h=(\d+) (.*)/;
        $gone{"$1 $2"} = 1 if /\Apid=(\d+) destroy h=(\d+) rv=CKR_OK\z/;
    }
    my @left = grep { !$gone{$_} } sort keys %made;
    is_deeply(\@left, [], "$what: every object made was destroyed")
        or diag(join("\n", map { "$_ $made{$_}" } @left));
    my @derived = grep { /\Apid=\d+ object fn=C_DeriveKey / } @$log;
    cmp_ok(scalar @derived, '>', 0, "$what: ECDH derived secrets on the token");
    my %errors;
    for (@$log) { $errors{"$1 $2"}++ if /\Apid=\d+ rv (\S+) (\S+)\z/ }
    note("$what: the token's refusals: "
         . join(', ', map { "$_ x$errors{$_}" } sort keys %errors));
}

log_checks('plain', table('plain'));
log_checks('pool of one session',
           table('pool1', P11BE_SESSION_POOL_MAX => 1));
reset_counts();
log_checks('streaming digests and MACs',
           table('stream', P11BE_DIGEST_BUFFER_MAX => 16));
cmp_ok(count_of('C_DigestUpdate'), '>', 0,
       'streaming: digests really streamed (C_DigestUpdate)');

done_testing();
