#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The pkcs11-keygen-exportable setting (P11BE_KEYGEN_EXPORTABLE): by
# default a key pair generated through pkcs11be without a label or id is a
# session key pair on the token whose private half cannot be serialised
# (pyca's private_bytes fails, EVP_PKEY_get_raw_private_key raises "the
# private key cannot leave the token"); with "yes" it is made by OpenSSL's
# default provider, can be serialised, and still signs on the token. A key
# with a label is made on the token whatever the setting. The shim counts
# C_GenerateKeyPair and C_Sign.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

my $python = '/usr/bin/python3';
plan tests => 5;

use_shim();
my $tmp = tmp_dir();
my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');
my @p11 = ('-provider', 'default', '-propquery', '?provider=pkcs11be');

my $script = <<'PY';
import sys
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization
from cryptography.exceptions import InvalidSignature
key = ed25519.Ed25519PrivateKey.generate()
try:
    raw = key.private_bytes(serialization.Encoding.Raw,
                            serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    copy = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    same = copy.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == \
        key.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    print("serialised", len(raw), "same-public" if same else "other-public")
except Exception as e:
    print("refused", type(e).__name__)
sig = key.sign(b"message")
key.public_key().verify(sig, b"message")
print("signed")
PY

SKIP: {
    skip 'no /usr/bin/python3 with cryptography', 2
        unless -x $python && run($python, '-c', 'import cryptography') == 0;
    my $why = lacks_mechs(qw(CKM_EC_EDWARDS_KEY_PAIR_GEN CKM_EDDSA));
    skip "pyca Ed25519: $why", 2 if $why;

    subtest 'pyca Ed25519, default setting: on the token, not serialisable'
        => sub {
        plan tests => 4;
        reset_counts();
        my ($rc, $out, $err) = run($python, '-c', $script,
            { env => { OPENSSL_CONF => $conf } });
        is($rc, 0, 'script ran') or diag $err;
        like($out, qr/^refused /m, 'private_bytes refused');
        is(count_of('C_GenerateKeyPair'), 1, 'the token generated the pair');
        cmp_ok(count_of('C_Sign'), '>=', 1, 'and signed');
    };

    subtest 'pyca Ed25519, pkcs11-keygen-exportable=yes' => sub {
        plan tests => 5;
        reset_counts();
        my ($rc, $out, $err) = run($python, '-c', $script,
            { env => { OPENSSL_CONF => $conf,
                       P11BE_KEYGEN_EXPORTABLE => 'yes' } });
        is($rc, 0, 'script ran') or diag $err;
        like($out, qr/^serialised 32 same-public$/m,
             'private_bytes gives the key');
        like($out, qr/^signed$/m, 'signature verified');
        is(count_of('C_GenerateKeyPair'), 0, 'not generated on the token');
        cmp_ok(count_of('C_Sign'), '>=', 1, 'signed on the token');
    };
}

subtest 'genpkey RSA with the setting writes a usable private key' => sub {
    plan tests => 4;
    my $pem = File::Spec->catfile($tmp, 'rsa.pem');
    reset_counts();
    my ($rc, $out, $err) = ossl_p11('genpkey', @p11, '-algorithm', 'RSA',
        '-pkeyopt', 'rsa_keygen_bits:2048', '-out', $pem,
        { env => { P11BE_KEYGEN_EXPORTABLE => 'yes' } });
    is($rc, 0, 'genpkey') or diag $err;
    is(count_of('C_GenerateKeyPair'), 0, 'made on the host');
    ($rc, $out, $err) = ossl('pkey', '-in', $pem, '-check', '-noout');
    is($rc, 0, 'the default provider reads and checks it') or diag $err;
    like($out . $err, qr/valid/i, 'key pair valid');
};

subtest 'default setting: genpkey without a label refuses clearly' => sub {
    plan tests => 3;
    reset_counts();
    my ($rc, $out, $err) = ossl_p11('genpkey', @p11, '-algorithm', 'EC',
        '-pkeyopt', 'ec_paramgen_curve:P-256');
    isnt($rc, 0, 'genpkey fails');
    like($err, qr/cannot leave (it|the token)/, 'saying why');
    unlike($err, qr/malloc failure/, 'not a misleading malloc failure');
};

subtest 'a bad value is a clear error' => sub {
    plan tests => 2;
    my ($rc, $out, $err) = ossl_p11('genpkey', @p11, '-algorithm', 'EC',
        '-pkeyopt', 'ec_paramgen_curve:P-256',
        { env => { P11BE_KEYGEN_EXPORTABLE => 'maybe' } });
    isnt($rc, 0, 'genpkey fails');
    like($err, qr/P11BE_KEYGEN_EXPORTABLE="maybe": not a known value/,
         'naming the setting');
};
