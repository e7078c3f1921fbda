#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# HMAC and CMAC as users reach them from the openssl command: `openssl
# mac` with -provider, `openssl dgst -hmac`, config-file activation, and
# the module's own OpenSSL calls coming back into pkcs11be (re-entry)
# while pkcs11be is preferred by config.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256_HMAC CKM_AES_CMAC));
plan tests => 9;

use_shim();
my $build = build_dir();
my $conf = File::Spec->catfile($build, 'openssl.cnf');
my $dir = tmp_dir();
my $key_hex = '0b' x 20;
my $small = File::Spec->catfile($dir, 'small');
my $medium = File::Spec->catfile($dir, 'medium');
my $large = File::Spec->catfile($dir, 'large');
write_file($small, 'Hi There');
write_file($medium, random_bytes(200 * 1024));
write_file($large, random_bytes(3 * 1024 * 1024 + 5));

my $strict = ['-provider', 'default', '-propquery', 'provider=pkcs11be'];

# `openssl mac` output, lower case, no blanks.
sub mac_out {
    my ($rc, $out, $err) = @_;
    diag $err if $rc != 0;
    (my $mac = lc($out // '')) =~ s/\s+//g;
    return $rc == 0 ? $mac : "exit $rc";
}

# The default provider alone, for comparison.
sub default_mac {
    return mac_out(ossl('mac', @_));
}

sub dgst_value {
    my ($rc, $out, $err) = @_;
    diag $err if $rc != 0;
    return $rc == 0 && $out =~ /= ([0-9a-f]+)\s*\z/ ? $1 : "exit $rc";
}

subtest 'openssl mac -provider pkcs11be: HMAC-SHA256' => sub {
    plan tests => 4;

    reset_counts();
    my $got = mac_out(ossl_p11('mac', @$strict, '-digest', 'SHA256',
                               '-macopt', "hexkey:$key_hex", '-in', $small,
                               'HMAC'));
    is($got, 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
       'RFC 4231 test case 1');
    is(count_of('C_SignInit') . '+' . count_of('C_Sign'), '1+1',
       'C_SignInit + C_Sign, as direct PKCS#11 would');
    is(count_of('C_CreateObject'), 1, 'one key object');
    is(count_of('C_DestroyObject'), 1, 'destroyed on exit');
};

subtest 'openssl mac -provider pkcs11be: CMAC and a 3 MiB file' => sub {
    plan tests => 5;

    my @cmac = ('-cipher', 'AES-256-CBC', '-macopt', 'hexkey:' . '2b' x 32,
                '-in', $large, 'CMAC');
    my @hmac = ('-digest', 'SHA512', '-macopt', 'hexkey:' . 'aa' x 200,
                '-in', $large, 'HMAC');
    reset_counts();
    is(mac_out(ossl_p11('mac', @$strict, @cmac)), default_mac(@cmac),
       'CMAC-AES-256 of 3 MiB matches the default provider');
    is(mac_out(ossl_p11('mac', @$strict, @hmac)), default_mac(@hmac),
       'HMAC-SHA512 of 3 MiB, 200-byte key, matches the default provider');
    cmp_ok(count_of('C_SignUpdate'), '>', 2,
           'beyond the held bound the token streams');
    is(count_of('C_SignFinal'), 2, 'one C_SignFinal each');
    is(count_of('C_DestroyObject'), count_of('C_CreateObject'),
       'key objects destroyed');
};

# The MAC recipe (doc/recipes.md): the token's CKM_MD5_HMAC and
# CKM_DES3_CMAC through openssl mac and openssl dgst.
subtest 'openssl mac and dgst: MD5-HMAC and DES3-CMAC' => sub {
    my @cases;
    push @cases, ['-digest', 'MD5', '-macopt', 'key:Jefe'], ['-digest', 'MD5',
                  '-macopt', 'hexkey:' . 'aa' x 80]
        if has_mech('CKM_MD5_HMAC');
    push @cases, ['-cipher', 'DES-EDE3-CBC', '-macopt',
                  'hexkey:8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5']
        if has_mech('CKM_DES3_CMAC');
    plan skip_all => 'the token lacks CKM_MD5_HMAC and CKM_DES3_CMAC'
        unless @cases;
    plan tests => 3 * @cases + 1;

    for my $case (@cases) {
        my $alg = $case->[0] eq '-digest' ? 'HMAC' : 'CMAC';
        for my $in ($small, $large) {
            my @mac = (@$case, '-in', $in, $alg);
            reset_counts();
            is(mac_out(ossl_p11('mac', @$strict, @mac)), default_mac(@mac),
               "openssl mac $alg-$case->[1], " . length($case->[3])
               . '-char key option, ' . (-s $in)
               . ' bytes: matches the default provider');
            next if $in eq $large;
            is(count_of('C_SignInit') . '+' . count_of('C_Sign'), '1+1',
               '... made on the token by C_SignInit + C_Sign');
        }
    }
    SKIP: {
        skip 'the token lacks CKM_MD5_HMAC', 1 unless has_mech('CKM_MD5_HMAC');
        reset_counts();
        my $want = dgst_value(ossl('dgst', '-md5', '-hmac', 'Jefe', $small));
        is(dgst_value(ossl_p11('dgst', @$strict, '-md5', '-hmac', 'Jefe',
                               $small)) . ' ' . count_of('C_Sign'),
           "$want 1", 'openssl dgst -md5 -hmac: the token made it, as default');
    }
};

subtest 'openssl dgst -hmac and -mac (EVP_PKEY MAC keys)' => sub {
    plan tests => 10;

    my $want = dgst_value(ossl('dgst', '-sha256', '-hmac', 'Jefe', $small));
    reset_counts();
    is(dgst_value(ossl_p11('dgst', '-provider', 'default', '-propquery',
                           '?provider=pkcs11be', '-sha256', '-hmac', 'Jefe',
                           $small)),
       $want, 'preferring pkcs11be: matches the default provider');
    is(count_of('C_Sign'), 1, 'the token made the HMAC');

    # Requiring pkcs11be: the HMAC key and the signature are pkcs11be's
    # (mac.c), the MAC its EVP_MAC on the token.
    reset_counts();
    is(dgst_value(ossl_p11('dgst', @$strict, '-sha256', '-hmac', 'Jefe',
                           $small)),
       $want, 'requiring provider=pkcs11be: matches the default provider');
    is(count_of('C_Sign'), 1, 'the token made the HMAC');

    # Within pkcs11-digest-buffer-max: EVP_DigestSignFinal finishes a copy
    # of the held input (past it, see the config activation subtest).
    my @hmac = ('-sha512', '-mac', 'HMAC', '-macopt', "hexkey:$key_hex");
    $want = dgst_value(ossl('dgst', @hmac, $medium));
    reset_counts();
    is(dgst_value(ossl_p11('dgst', @$strict, @hmac, $medium)), $want,
       '-mac HMAC -sha512 of 200 KiB, required: matches the default provider');
    is(count_of('C_Sign'), 1, 'the token made it');

    my @cmac = ('-mac', 'CMAC', '-macopt', 'cipher:AES-128-CBC', '-macopt',
                'hexkey:2b7e151628aed2a6abf7158809cf4f3c');
    $want = dgst_value(ossl('dgst', @cmac, $small));
    reset_counts();
    is(dgst_value(ossl_p11('dgst', @$strict, @cmac, $small)), $want,
       '-mac CMAC, required: matches the default provider');
    is(count_of('C_Sign'), 1, 'the token made the CMAC');

    my ($rc, $out, $err) = ossl_p11('dgst', @$strict, '-mac', 'CMAC',
                                    '-macopt', 'hexkey:00112233', $small);
    isnt($rc, 0, 'a CMAC key without a cipher fails');
    like($err, qr/CMAC key needs its "cipher"/, '... saying so');
};

subtest 'config activation (OPENSSL_CONF) needs no -provider' => sub {
    plan tests => 9;

    my $env = { env => { OPENSSL_CONF => $conf } };
    my @hmac = ('-digest', 'SHA384', '-macopt', 'key:Jefe', '-in', $small,
                'HMAC');
    my @cmac = ('-cipher', 'AES-128-CBC', '-macopt',
                'hexkey:2b7e151628aed2a6abf7158809cf4f3c', '-in', $small,
                'CMAC');
    reset_counts();
    is(mac_out(ossl('mac', @hmac, $env)), default_mac(@hmac),
       'openssl mac HMAC');
    is(mac_out(ossl('mac', @cmac, $env)), default_mac(@cmac),
       'openssl mac CMAC');
    is(dgst_value(ossl('dgst', '-sha1', '-hmac', 'Jefe', $small, $env)),
       dgst_value(ossl('dgst', '-sha1', '-hmac', 'Jefe', $small)),
       'openssl dgst -hmac');
    is(dgst_value(ossl('dgst', '-mac', 'CMAC', '-macopt', 'cipher:AES-128-CBC',
                       '-macopt', 'hexkey:2b7e151628aed2a6abf7158809cf4f3c',
                       $small, $env)),
       dgst_value(ossl('dgst', '-mac', 'CMAC', '-macopt', 'cipher:AES-128-CBC',
                       '-macopt', 'hexkey:2b7e151628aed2a6abf7158809cf4f3c',
                       $small)),
       'openssl dgst -mac CMAC');
    is(count_of('C_Sign'), 4, 'the token made all four');
    is(count_of('C_DestroyObject'), count_of('C_CreateObject'),
       'key objects destroyed');

    # Past pkcs11-digest-buffer-max the MAC streams, and the copy
    # EVP_DigestSignFinal makes takes the running operation (mac.c, stream.c).
    reset_counts();
    is(dgst_value(ossl('dgst', '-sha256', '-hmac', 'Jefe', $large, $env)),
       dgst_value(ossl('dgst', '-sha256', '-hmac', 'Jefe', $large)),
       'openssl dgst -hmac of 3 MiB');
    cmp_ok(count_of('C_SignUpdate'), '>', 0, 'streamed on the token');
    is(count_of('C_SignFinal'), 1, 'and finished there');
};

# SoftHSM2's CKM_*_HMAC and CKM_AES_CMAC run on OpenSSL's HMAC_* and CMAC_*
# inside C_Sign; with pkcs11be preferred their digests and ciphers are
# fetched from pkcs11be again, and must be served in software.
subtest 're-entry: the module\'s own hashing under config activation' => sub {
    plan tests => 4;

    my $env = { env => { OPENSSL_CONF => $conf }, timeout => 30 };
    reset_counts();
    my @hmac = ('-digest', 'SHA256', '-macopt', "hexkey:$key_hex", '-in',
                $large, 'HMAC');
    is(mac_out(ossl('mac', @hmac, $env)), default_mac(@hmac),
       'HMAC over 3 MiB: no recursion, no deadlock');
    cmp_ok(count_of('C_SignUpdate'), '>', 0, 'the token streamed it');
    is(count_of('C_DigestInit'), 0,
       'the module\'s inner hashing never came back to the token');
    my @cmac = ('-cipher', 'AES-128-CBC', '-macopt',
                'hexkey:2b7e151628aed2a6abf7158809cf4f3c', '-in', $large,
                'CMAC');
    is(mac_out(ossl('mac', @cmac, $env)), default_mac(@cmac), 'CMAC too');
};

# What pkcs11be does not offer, or the token lacks, runs in OpenSSL's
# default provider inside pkcs11be (mac.c's delegation), even with
# pkcs11be required; pkcs11-delegate = no forbids it.
subtest 'delegated: digests and ciphers the token lacks' => sub {
    plan tests => 11;

    my $log = File::Spec->catfile($dir, 'mac-delegated.log');
    my @sha3 = ('-digest', 'SHA3-256', '-macopt', 'key:Jefe', '-in', $small,
                'HMAC');
    my $debug = { env => { P11BE_DEBUG => $log }, timeout => 30 };
    reset_counts();
    unlink $log;
    is(mac_out(ossl_p11('mac', @$strict, @sha3, $debug)), default_mac(@sha3),
       'openssl mac -digest SHA3-256 HMAC, required: the default provider\'s');
    like(read_file($log),
         qr/MAC HMAC delegated to the default provider \(1 so far\)/,
         '... delegated, counted in pkcs11-delegated');
    is(count_of('C_Sign'), 0, '... nothing signed on the token');

    my @cmac = ('-cipher', 'CAMELLIA-128-CBC', '-macopt',
                'hexkey:2b7e151628aed2a6abf7158809cf4f3c', '-in', $large,
                'CMAC');
    is(mac_out(ossl_p11('mac', @$strict, @cmac)), default_mac(@cmac),
       'CMAC with CAMELLIA-128-CBC, 3 MiB: the default provider\'s');

    # The token lacking both SHA-256 mechanisms (the shim hides them).
    my @sha256 = ('-digest', 'SHA256', '-macopt', 'key:Jefe', '-in', $small,
                  'HMAC');
    my $hide = { env => { P11SHIM_HIDE_MECHS => '0x250,0x251',
                          P11BE_DEBUG => $log }, timeout => 30 };
    unlink $log;
    reset_counts();
    is(mac_out(ossl_p11('mac', @$strict, @sha256, $hide)),
       default_mac(@sha256),
       'HMAC-SHA256 on a token without CKM_SHA256(_HMAC): delegated');
    like(read_file($log), qr/MAC HMAC delegated/, '... and counted');
    is(count_of('C_Sign') + count_of('C_Digest'), 0, '... not on the token');

    my ($rc, $out, $err) = ossl_p11('mac', @$strict, @sha3,
        { env => { P11BE_DELEGATE => 'no' }, timeout => 30 });
    isnt($rc, 0, 'P11BE_DELEGATE=no: SHA3-256 HMAC fails');
    like($err, qr/HMAC digest "SHA3-256" is not offered by pkcs11be, and (?i:P11BE_DELEGATE)=no/,
         '... naming the digest and the setting');
    ($rc, $out, $err) = ossl_p11('mac', @$strict, @sha256,
        { env => { P11BE_DELEGATE => 'no', P11SHIM_HIDE_MECHS => '0x250,0x251' },
          timeout => 30 });
    isnt($rc, 0, '... and HMAC-SHA256 on the token without it fails');
    like($err, qr/CKM_SHA256 is not supported by the token/,
         '... naming the mechanism the token lacks');
};

# A config that makes OpenSSL's DRBG an HMAC-DRBG: the first random bytes
# are asked for inside C_Initialize (by the module), so the DRBG is created
# while re-entered. With pkcs11be preferred it is pkcs11be's HMAC-DRBG,
# which runs whole in the default provider (rand.c): its HMAC never reaches
# the token, inside a token call or not.
my $drbg_conf = File::Spec->catfile($dir, 'hmac-drbg.cnf');
(my $drbg = read_file($conf))
    =~ s/^\[random_sect\]\n[^[]*/[random_sect]\nrandom = HMAC-DRBG\ndigest = SHA256\n/m
    or die "no [random_sect] in $conf";
write_file($drbg_conf, $drbg);

subtest 're-entry: a DRBG created inside a token call' => sub {
    plan tests => 3;

    reset_counts();
    my ($rc, $out, $err) = ossl('mac', '-digest', 'SHA256', '-macopt',
        'key:Jefe', '-in', $small, 'HMAC',
        { env => { OPENSSL_CONF => $drbg_conf, P11BE_DEBUG => 'stderr' },
          timeout => 30 });
    is(mac_out($rc, $out, $err),
       default_mac('-digest', 'SHA256', '-macopt', 'key:Jefe', '-in', $small,
                   'HMAC'),
       'the HMAC is right');
    like($err, qr/HMAC-DRBG delegated to the default provider/,
         'the DRBG, made inside C_Initialize, is the default provider\'s');
    is(count_of('C_Sign'), 1, 'only the application\'s HMAC used the token');
};

subtest 'an HMAC-DRBG made inside a token call, freed at exit' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out) = ossl('rand', '-hex', '16',
                          { env => { OPENSSL_CONF => $drbg_conf },
                            timeout => 30 });
    like($out, qr/\A[0-9a-f]{32}\s*\z/, 'random bytes come out');
    # The exit hook runs before SoftHSM2's destructors (module.c).
    is($rc, 0, 'openssl rand exits cleanly');
};
