# SPDX-License-Identifier: Apache-2.0
# The RFC 7512 "pkcs11:" URI parser (provider/base/uri.c) on its own, through
# tests/c/uri_check.c: RFC 7512's examples, edge cases, malformed URIs
# with the message each must give, and an encode/parse round trip. No
# token is needed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use P11BE ':notoken';

my ($rc, $out, $err) = run(test_program('uri_check'), { timeout => 60 });
my @lines = split /\n/, $out;
my ($plan) = map { /\A1\.\.(\d+)\z/ ? $1 : () } @lines;

my $cases = grep { /\A(?:not )?ok \d+ - / } @lines;
plan tests => $cases + 3;

my $seen = 0;
my @diag;
for my $line (@lines) {
    if ($line =~ /\A#\s?(.*)\z/) {
        push @diag, $1;
    } elsif ($line =~ /\A(not )?ok \d+ - (.*)\z/) {
        ok(!$1, $2) or diag join("\n", @diag);
        @diag = ();
        $seen++;
    }
}
ok(defined $plan && $plan == $seen, "uri_check ran all its cases ($seen)")
    or diag "plan " . ($plan // 'missing') . ", seen $seen\n$err";
is($rc, 0, 'uri_check exits 0') or diag $err;
cmp_ok($seen, '>=', 90, 'at least 90 cases');
