#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# pyca/cryptography (Debian's, /usr/bin/python3) with pkcs11be activated
# by OPENSSL_CONF: an EC key loaded, ECDSA signatures and an ECDH exchange
# against a key pyca generated. The shim shows the exchange ran on the token
# (pyca 38 signs with a legacy call that no provider sees: see below).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

my $python = '/usr/bin/python3';
plan skip_all => 'no /usr/bin/python3 with cryptography'
    unless -x $python && run($python, '-c', 'import cryptography') == 0;
need_mechs(qw(CKM_ECDSA CKM_ECDH1_DERIVE));
plan tests => 4;

use_shim();
my $tmp = tmp_dir();
my $key = File::Spec->catfile($tmp, 'ec.pem');
my ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC', '-pkeyopt',
                            'ec_paramgen_curve:P-384', '-out', $key);
die "openssl genpkey: $err" if $rc != 0;

my $script = <<'PY';
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)
msg = b'a message for ECDSA'
for h in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
    sig = key.sign(msg, ec.ECDSA(h))
    key.public_key().verify(sig, msg, ec.ECDSA(h))
print('signed 3')
peer = ec.generate_private_key(ec.SECP384R1())
a = key.exchange(ec.ECDH(), peer.public_key())
b = peer.exchange(ec.ECDH(), key.public_key())
assert a == b and len(a) == 48, 'secrets differ'
print('exchanged 2')
PY

reset_counts();
($rc, $out, $err) = run($python, '-c', $script, $key,
    { env => { OPENSSL_CONF => File::Spec->catfile(build_dir(),
                                                    'openssl.cnf') } });
is($rc, 0, 'sign, verify and exchange, same secret both ways')
    or diag "$out$err";
SKIP: {
    # pyca/cryptography 38 signs with ECDSA_sign() on its EC_KEY, a legacy
    # call that never reaches a provider; its exchange uses EVP_PKEY_derive.
    skip 'this pyca signs ECDSA with the legacy ECDSA_sign(), not EVP', 1
        if count_of('C_Sign') == 0;
    cmp_ok(count_of('C_Sign'), '>=', 3, 'the signatures were made on the token');
}
cmp_ok(count_of('C_DeriveKey'), '>=', 1, 'an exchange ran on the token');
is(count_of('C_Verify'), 0, 'no verification there');
