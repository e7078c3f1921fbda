#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# keymgmt and signature "ED25519" and "ED448" (tests/c/ec_check.c): the
# first 64 Ed25519 vectors of pyca's sign.input (RFC 8032's first) signed
# on the token byte for byte; imported keys sign exactly as the default
# provider (EdDSA is deterministic); keys generated on the token
# (CKM_EC_EDWARDS_KEY_PAIR_GEN) verify there; openssl pkeyutl and
# pyca/cryptography under OPENSSL_CONF. The shim counts C_Sign.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_EDDSA CKM_EC_EDWARDS_KEY_PAIR_GEN));
plan tests => 5;

use_shim();
my $check = test_program('ec_check');
my $tmp = tmp_dir();
my $vectors = '/usr/lib/python3/dist-packages/cryptography_vectors/'
            . 'asymmetric/Ed25519/sign.input';

sub check {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

subtest 'Ed25519 known answers' => sub {
    plan skip_all => 'no python3-cryptography-vectors' unless -r $vectors;
    plan tests => 3;
    reset_counts();
    my $out = check('64 vectors', 'ed-vectors', $vectors, 64);
    is(count_of('C_Sign'), 64, 'all signed on the token');
    is(count_of('C_DestroyObject'), count_of('C_CreateObject'),
       'every key object destroyed');
};

for my $type (qw(ED25519 ED448)) {
    subtest "$type: imported and generated keys" => sub {
        plan tests => 3;
        reset_counts();
        my $out = check('same bytes as the default provider, verified',
                        'ed', $type);
        my ($n) = $out =~ /(\d+) signatures by pkcs11be/;
        is(count_of('C_Sign'), $n // -1, 'the token signed them');
        is(count_of('C_Verify'), 0, 'and verified none');
    };
}

subtest 'openssl pkeyutl -sign -rawin' => sub {
    plan tests => 4;
    my $key = File::Spec->catfile($tmp, 'ed.pem');
    my ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'ED25519',
                                '-out', $key);
    is($rc, 0, 'software key') or diag $err;
    write_file("$tmp/msg", 'the message');
    reset_counts();
    ($rc, $out, $err) = ossl_p11('pkeyutl', '-provider', 'default',
        '-propquery', '?provider=pkcs11be', '-sign', '-rawin', '-inkey', $key,
        '-in', "$tmp/msg", '-out', "$tmp/p11.sig");
    is($rc, 0, 'signed through pkcs11be') or diag $err;
    is(count_of('C_Sign'), 1, 'on the token');
    ossl('pkeyutl', '-sign', '-rawin', '-inkey', $key, '-in', "$tmp/msg",
         '-out', "$tmp/ref.sig");
    is(read_file("$tmp/p11.sig"), read_file("$tmp/ref.sig"),
       'the default provider\'s bytes');
};

subtest 'pyca/cryptography Ed25519 under OPENSSL_CONF' => sub {
    my $python = '/usr/bin/python3';
    plan skip_all => 'no /usr/bin/python3 with cryptography'
        unless -x $python && run($python, '-c', 'import cryptography') == 0;
    plan tests => 2;
    my $script = <<'PY';
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey)
sk = bytes.fromhex(
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
key = Ed25519PrivateKey.from_private_bytes(sk)
sig = key.sign(b'')
assert sig.hex() == (
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155'
    '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b')
key.public_key().verify(sig, b'')
gen = Ed25519PrivateKey.generate()
gen.public_key().verify(gen.sign(b'abc'), b'abc')
print('ok')
PY
    reset_counts();
    my ($rc, $out, $err) = run($python, '-c', $script,
        { env => { OPENSSL_CONF => File::Spec->catfile(build_dir(),
                                                        'openssl.cnf') } });
    is($rc, 0, 'RFC 8032 test 1, and a generated key') or diag "$out$err";
    cmp_ok(count_of('C_Sign'), '>=', 1, 'signed on the token');
};
