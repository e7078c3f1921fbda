#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# HKDF and TLS13-KDF on the token (provider/ops/kdf.c): where the token
# lists CKM_HKDF_DERIVE (NSS's softokn), openssl kdf HKDF with
# SHA-256/384/512 runs there, one C_DeriveKey per derivation, in each mode,
# and TLS13-KDF one per HKDF step; elsewhere (SoftHSM2) the default
# provider derives, with no C_DeriveKey, as before. Known answers from RFC
# 5869 (A.1, A.3) and RFC 8448 (early and handshake secrets) and, for every
# case, the default provider's answer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;

use_shim();
my $tmp = tmp_dir();
my $no_cnf = File::Spec->catfile($tmp, 'empty.cnf');
write_file($no_cnf, "# the default provider alone\n");
my $on_token = has_mech('CKM_HKDF_DERIVE');
diag($on_token ? 'the token lists CKM_HKDF_DERIVE: HKDF on the token'
               : 'the token lacks CKM_HKDF_DERIVE: HKDF by the default provider');

my $ikm1 = '0b' x 22;
my $salt1 = join '', map { sprintf '%02x', $_ } 0 .. 12;
my $info1 = join '', map { sprintf '%02x', $_ } 0xf0 .. 0xf9;
my $prk1 = '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5';
my $ikm2 = join '', map { sprintf '%02x', $_ } 0 .. 0x4f;
my $salt2 = join '', map { sprintf '%02x', $_ } 0x60 .. 0xaf;
my $info2 = join '', map { sprintf '%02x', $_ } 0xb0 .. 0xff;

sub colons { return join ':', map { uc } unpack '(A2)*', $_[0] }

# [name, digest, mode, length, key, salt, info, known answer or undef]
my @cases = (
    ['RFC 5869 A.1', 'SHA256', undef, 42, $ikm1, $salt1, $info1,
     '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf'
     . '34007208d5b887185865'],
    ['RFC 5869 A.1, extract only', 'SHA256', 'EXTRACT_ONLY', 32, $ikm1,
     $salt1, undef, $prk1],
    ['RFC 5869 A.1, expand only', 'SHA256', 'EXPAND_ONLY', 42, $prk1, undef,
     $info1, '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf'
     . '34007208d5b887185865'],
    ['RFC 5869 A.2 (long inputs)', 'SHA256', undef, 82, $ikm2, $salt2,
     $info2, undef],
    ['RFC 5869 A.3 (no salt, no info)', 'SHA256', undef, 42, $ikm1, undef,
     undef, '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d'
     . '9d201395faa4b61a96c8'],
    ['SHA-384', 'SHA384', undef, 100, $ikm2, $salt1, $info2, undef],
    ['SHA-384, extract only', 'SHA384', 'EXTRACT_ONLY', 48, $ikm2, $salt2,
     undef, undef],
    ['SHA-512', 'SHA512', undef, 200, $ikm1, $salt2, $info1, undef],
    ['SHA-512, expand only', 'SHA512', 'EXPAND_ONLY', 64, $ikm2, undef,
     $info1, undef],
);

# TLS13-KDF (OpenSSL 3.0's TLS 1.3 key schedule steps), RFC 8448's simple
# 1-RTT handshake: [name, digest, mode, length, key, salt, label, data,
# known answer or undef, C_DeriveKey calls on the token]
my $early = '33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a';
my $ecdhe = '8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d';
my $hs = '1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac';
my @tls13 = (
    ['TLS13-KDF, RFC 8448 early secret', 'SHA256', 'EXTRACT_ONLY', 32, undef,
     undef, undef, undef, $early, 1],
    ['TLS13-KDF, RFC 8448 handshake secret', 'SHA256', 'EXTRACT_ONLY', 32,
     $ecdhe, $early, 'derived', undef, $hs, 2],
    ['TLS13-KDF, c hs traffic', 'SHA256', 'EXPAND_ONLY', 32, $hs, undef,
     'c hs traffic', $ikm2 =~ s/^(.{64}).*/$1/r, undef, 1],
    ['TLS13-KDF SHA-384, key', 'SHA384', 'EXPAND_ONLY', 16, $ikm2 =~
     s/^(.{96}).*/$1/r, undef, 'key', undef, undef, 1],
);

my @runs;
for my $c (@cases) {
    my ($name, $md, $mode, $len, $key, $salt, $info, $want) = @$c;
    my @kdf = ('kdf', '-keylen', $len, '-kdfopt', "digest:$md",
               '-kdfopt', "hexkey:$key");
    push @kdf, '-kdfopt', "mode:$mode" if defined $mode;
    push @kdf, '-kdfopt', "hexsalt:$salt" if defined $salt;
    push @kdf, '-kdfopt', "hexinfo:$info" if defined $info;
    push @runs, [$name, $len, $want, 1, 'HKDF', @kdf, 'HKDF'];
}
for my $c (@tls13) {
    my ($name, $md, $mode, $len, $key, $salt, $label, $data, $want, $n) = @$c;
    my @kdf = ('kdf', '-keylen', $len, '-kdfopt', "digest:$md",
               '-kdfopt', 'prefix:tls13 ', '-kdfopt', "mode:$mode");
    push @kdf, '-kdfopt', "hexkey:$key" if defined $key;
    push @kdf, '-kdfopt', "hexsalt:$salt" if defined $salt;
    push @kdf, '-kdfopt', "label:$label" if defined $label;
    push @kdf, '-kdfopt', "hexdata:$data" if defined $data;
    push @runs, [$name, $len, $want, $n, 'TLS13-KDF', @kdf, 'TLS13-KDF'];
}

for my $r (@runs) {
    my ($name, $len, $want, $n, $alg, @kdf) = @$r;
    my $log = File::Spec->catfile($tmp, 'debug.log');
    unlink $log;
    reset_counts();
    my ($rc1, $mine, $err) =
        ossl(@kdf, { env => { OPENSSL_CONF => $cnf, P11BE_DEBUG => $log } });
    my $derives = count_of('C_DeriveKey');
    my ($rc2, $ref) = ossl(@kdf, { env => { OPENSSL_CONF => $no_cnf } });
    $_ =~ s/\s+\z// for $mine, $ref;
    ok($rc1 == 0 && $rc2 == 0 && $mine eq $ref && length $mine == 3 * $len - 1,
       "$name: the default provider's answer") or diag "$mine / $ref $err";
    is($mine, colons($want), "$name: the known answer") if defined $want;
    my $trace = -f $log ? read_file($log) : '';
    if ($on_token) {
        is($derives, $n, "$name: $n C_DeriveKey");
        unlike($trace, qr/KDF \Q$alg\E delegated/, "$name: nothing delegated");
    } else {
        is($derives, 0, "$name: no C_DeriveKey");
        like($trace, qr/KDF \Q$alg\E delegated/,
             "$name: by the default provider (delegated)");
    }
}

# A digest the token path does not take: the default provider, as before.
my @sha1 = ('kdf', '-keylen', 20, '-kdfopt', 'digest:SHA1',
            '-kdfopt', "hexkey:$ikm1", '-kdfopt', "hexsalt:$salt1", 'HKDF');
reset_counts();
my ($rc1, $mine) = ossl(@sha1, { env => { OPENSSL_CONF => $cnf } });
my $derives = count_of('C_DeriveKey');
my ($rc2, $ref) = ossl(@sha1, { env => { OPENSSL_CONF => $no_cnf } });
ok($rc1 == 0 && $mine eq $ref, 'HKDF-SHA1: the default provider\'s answer')
    or diag "$mine / $ref";
is($derives, 0, 'HKDF-SHA1: no C_DeriveKey (SHA-1 stays with the default '
   . 'provider)');

# Extract-only into a buffer of the wrong size fails as the default
# provider's does.
my @bad = ('kdf', '-keylen', 20, '-kdfopt', 'digest:SHA256', '-kdfopt',
           'mode:EXTRACT_ONLY', '-kdfopt', "hexkey:$ikm1", 'HKDF');
($rc1) = ossl(@bad, { env => { OPENSSL_CONF => $cnf } });
($rc2) = ossl(@bad, { env => { OPENSSL_CONF => $no_cnf } });
ok($rc1 != 0 && $rc2 != 0, 'extract only into 20 bytes fails with and '
   . 'without pkcs11be');

done_testing();
