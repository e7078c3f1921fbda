#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The premaster secret of a TLS 1.0-1.2 RSA key exchange (libssl's
# pad-mode 7) decrypted on the token, case by case against OpenSSL's
# default provider (tests/c/rsa_tls_check.c): a right premaster comes out,
# a wrong padding, length or version gives random bytes with success and
# an empty error queue (as the default provider), a publicly wrong call
# fails with an error. With a software key imported into the token, a key
# generated on the token, and a token without raw RSA (the shim hides
# CKM_RSA_X_509: CKM_RSA_PKCS, whose refusals must not show). The real
# handshakes are in tests/84-tls.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_RSA_PKCS CKM_RSA_X_509));
plan tests => 3;

use_shim();
my $check = test_program('rsa_tls_check');
my $tmp = tmp_dir();
my $log = File::Spec->catfile($tmp, 'shim.log');

my @keys;
for my $bits (1024, 2048, 4096) {
    my $path = File::Spec->catfile($tmp, "rsa$bits.pem");
    my ($rc, undef, $err) = ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt',
                                 "rsa_keygen_bits:$bits", '-out', $path);
    die "openssl genpkey $bits: $err" if $rc != 0;
    push @keys, [$bits, $path];
}

# Runs rsa_tls_check; checks it passed and that every decryption that
# reaches the token was one C_Decrypt (3 tests). Returns its output.
sub check_cases {
    my ($what, $arg, %env) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, $arg,
        { env => { P11BE_BUILD_DIR => build_dir(), %env } });
    is($rc, 0, "$what: every case as OpenSSL's default provider does it")
        or diag "$out$err";
    my ($n) = $out =~ /^(\d+) decryptions by pkcs11be$/m;
    cmp_ok($n // 0, '>=', 20, "$what: every case ran");
    is(count_of('C_Decrypt'), $n // -1, "$what: each one C_Decrypt");
    return $out;
}

subtest 'a software key imported into the token' => sub {
    plan tests => 3 * @keys;
    check_cases("RSA-$_->[0]", $_->[1]) for @keys;
};

subtest 'a key generated on the token' => sub {
    plan tests => 3;
    check_cases('token key', 'token');
};

subtest 'a token without raw RSA: CKM_RSA_PKCS, refusals hidden' => sub {
    plan tests => 5;
    unlink $log;
    check_cases('CKM_RSA_PKCS', $keys[1][1], P11SHIM_HIDE_MECHS => '0x3',
                P11SHIM_LOG => $log);
    my @refused = grep { /rv C_Decrypt / } split /\n/, read_file($log);
    cmp_ok(scalar @refused, '>', 0,
           'the token refused the bad blocks (C_Decrypt failed)');
    is(count_of('C_DecryptInit'), count_of('C_Decrypt'),
       'no raw attempt first');
};
