#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Everyday openssl commands under config activation (OPENSSL_CONF, pkcs11be
# preferred): each must work as it does without pkcs11be, its output is
# checked by the default provider alone (a round trip, a verification or
# the same bytes), and the shim shows that the token did the work.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

# Digests on the token (SHA-256) run through every check here.
need_mechs(qw(CKM_SHA256));

my $cnf = build_dir() . '/openssl.cnf';
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;
plan tests => 9;

use_shim();
my $dir = tmp_dir();
sub path { return "$dir/$_[0]" }

my $conf = { env => { OPENSSL_CONF => $cnf }, timeout => 120 };
my $plain = { env => { OPENSSL_CONF => undef }, timeout => 120 };

# Under config activation.
sub conf_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = ossl(@args, $conf);
    is($rc, 0, $name) or diag $err;
    return $out;
}

# With the default provider alone: the independent check.
sub plain {
    my ($rc, $out, $err) = ossl(@_, $plain);
    return ($rc, $out, $err);
}

write_file(path('big'), random_bytes(2 * 1024 * 1024 + 3));
my ($rc, $out, $err) = plain('req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                             '-keyout', path('ca.key'), '-out', path('ca.crt'),
                             '-subj', '/CN=everyday CA', '-days', '2');
die "making the CA: $err" if $rc != 0;

subtest 'enc -pbkdf2 (HMAC and AES-CBC) of 2 MiB, both ways' => sub {
    need_mechs(qw(CKM_AES_CBC));
    plan tests => 5;
    reset_counts();
    conf_ok('encrypt', 'enc', '-aes-256-cbc', '-pbkdf2', '-in', path('big'),
            '-out', path('big.enc'), '-pass', 'pass:everyday');
    cmp_ok(count_of('C_EncryptUpdate') + count_of('C_Encrypt'), '>', 0,
           'AES on the token');
    # PBKDF2 is delegated whole to the default provider (tests/21-kdf.t).
    is(count_of('C_Digest') + count_of('C_Sign'), 0,
       'PBKDF2\'s 10000 HMAC-SHA256 rounds not on the token, one by one');
    ($rc, $out, $err) = plain('enc', '-d', '-aes-256-cbc', '-pbkdf2', '-in',
                              path('big.enc'), '-out', path('big.dec'),
                              '-pass', 'pass:everyday');
    ok($rc == 0 && read_file(path('big.dec')) eq read_file(path('big')),
       'the default provider decrypts it');
    conf_ok('and pkcs11be decrypts it too', 'enc', '-d', '-aes-256-cbc',
            '-pbkdf2', '-in', path('big.enc'), '-out', path('big.dec2'),
            '-pass', 'pass:everyday');
};

subtest 'a CSR signed by a software CA key (x509 -req), verified' => sub {
    plan tests => 5;
    ($rc, $out, $err) = plain('req', '-new', '-newkey', 'ec', '-pkeyopt',
                              'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                              path('leaf.key'), '-out', path('leaf.csr'),
                              '-subj', '/CN=leaf');
    is($rc, 0, 'the CSR, by the default provider') or diag $err;
    reset_counts();
    conf_ok('x509 -req -CA', 'x509', '-req', '-in', path('leaf.csr'), '-CA',
            path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial',
            '-out', path('leaf.crt'), '-days', '2');
    is(count_of('C_Sign'), 1, 'the CA key signed on the token');
    ($rc, $out, $err) = plain('verify', '-CAfile', path('ca.crt'),
                              path('leaf.crt'));
    like($out, qr/: OK$/m, 'the default provider verifies the chain');
    conf_ok('and so does pkcs11be', 'verify', '-CAfile', path('ca.crt'),
            path('leaf.crt'));
};

subtest 'pkcs8 -topk8 -v2 aes256 and back' => sub {
    need_mechs(qw(CKM_AES_CBC));
    plan tests => 3;
    conf_ok('encrypt the key', 'pkcs8', '-topk8', '-v2', 'aes256', '-in',
            path('ca.key'), '-out', path('ca.p8'), '-passout', 'pass:pw');
    ($rc, $out, $err) = plain('pkey', '-in', path('ca.p8'), '-passin',
                              'pass:pw');
    my ($rc2, $want) = plain('pkey', '-in', path('ca.key'));
    ok($rc == 0 && $out eq $want, 'the default provider decrypts the same key');
    conf_ok('pkcs11be decrypts it', 'pkcs8', '-in', path('ca.p8'), '-passin',
            'pass:pw', '-out', path('ca.back'));
};

subtest 'pkcs12 -export and back' => sub {
    need_mechs(qw(CKM_AES_CBC));
    plan tests => 2;
    conf_ok('export', 'pkcs12', '-export', '-in', path('ca.crt'), '-inkey',
            path('ca.key'), '-out', path('ca.p12'), '-passout', 'pass:pw');
    ($rc, $out, $err) = plain('pkcs12', '-in', path('ca.p12'), '-passin',
                              'pass:pw', '-nokeys');
    like($out, qr/BEGIN CERTIFICATE/, 'the default provider reads it');
};

subtest 'rsa -aes256 -traditional (PEM encryption, MD5 key derivation)' => sub {
    need_mechs(qw(CKM_AES_CBC));
    plan tests => 3;
    reset_counts();
    conf_ok('encrypt the PEM', 'rsa', '-aes256', '-traditional', '-in',
            path('ca.key'), '-out', path('ca.enc.key'), '-passout', 'pass:pw');
    like(read_file(path('ca.enc.key')), qr/^DEK-Info: AES-256-CBC,/m,
         'a traditional encrypted PEM');
    ($rc, $out, $err) = plain('rsa', '-in', path('ca.enc.key'), '-passin',
                              'pass:pw', '-check', '-noout');
    like($out, qr/RSA key ok/, 'the default provider decrypts it');
};

subtest 'dgst -sign with RSA-PSS over 2 MiB' => sub {
    plan tests => 3;
    reset_counts();
    conf_ok('sign', 'dgst', '-sha384', '-sign', path('ca.key'), '-sigopt',
            'rsa_padding_mode:pss', '-out', path('big.sig'), path('big'));
    is(count_of('C_Sign'), 1, 'signed on the token');
    ($rc, $out, $err) = plain('dgst', '-sha384', '-prverify', path('ca.key'),
                              '-sigopt', 'rsa_padding_mode:pss', '-signature',
                              path('big.sig'), path('big'));
    like($out, qr/Verified OK/, 'the default provider verifies it');
};

subtest 'pkeyutl OAEP (SHA-256): encrypt by the default, decrypt here' => sub {
    plan tests => 3;
    write_file(path('secret'), 'forty-two');
    ($rc, $out, $err) = plain('pkeyutl', '-encrypt', '-inkey', path('ca.key'),
                              '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt',
                              'rsa_oaep_md:sha256', '-in', path('secret'),
                              '-out', path('secret.ct'));
    is($rc, 0, 'encrypted by the default provider') or diag $err;
    reset_counts();
    $out = conf_ok('decrypted', 'pkeyutl', '-decrypt', '-inkey',
                   path('ca.key'), '-pkeyopt', 'rsa_padding_mode:oaep',
                   '-pkeyopt', 'rsa_oaep_md:sha256', '-in', path('secret.ct'));
    is($out, 'forty-two', 'the plaintext, decrypted on the token')
        or diag 'C_Decrypt: ' . count_of('C_Decrypt');
};

subtest 'passwd -6 and -5 (thousands of SHA-2 digests)' => sub {
    plan tests => 5;
    reset_counts();
    for my $alg ('-6', '-5') {
        my $got = conf_ok("passwd $alg", 'passwd', $alg, '-salt', 'evrydays',
                          'secret');
        my (undef, $want) = plain('passwd', $alg, '-salt', 'evrydays',
                                  'secret');
        is($got, $want, "passwd $alg: the default provider's hash");
    }
    cmp_ok(count_of('C_Digest'), '>=', 5000, 'the digests ran on the token');
};

subtest 'ts -query of 2 MiB: the same request digest' => sub {
    plan tests => 2;
    conf_ok('ts -query', 'ts', '-query', '-data', path('big'), '-sha256',
            '-no_nonce', '-out', path('q.tsq'));
    ($rc, $out, $err) = plain('ts', '-query', '-data', path('big'), '-sha256',
                              '-no_nonce', '-out', path('q2.tsq'));
    ok($rc == 0 && read_file(path('q.tsq')) eq read_file(path('q2.tsq')),
       'byte for byte the default provider\'s request');
};
