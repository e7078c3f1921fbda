#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The pkcs11-keygen-exportable setting (P11BE_KEYGEN_EXPORTABLE), for key
# pairs generated through pkcs11be without pkcs11-key-label/-id:
#
#   auto (default)  made on the token (C_GenerateKeyPair) as a session pair
#                   with CKA_SENSITIVE false and CKA_EXTRACTABLE true, so
#                   the application can write it out (genpkey -out, req
#                   -newkey, genrsa, pyca private_bytes) and hand it to the
#                   default provider; it still signs on the token; where
#                   the token refuses such a template, made in memory;
#   yes             made by OpenSSL's default provider in process memory;
#   no              made on the token, sensitive, never extractable: every
#                   way out is refused with a clear error.
#
# Named keys are sensitive and never extractable whatever the setting.
# Written keys are read back by the default provider alone; the shim
# counts C_GenerateKeyPair and C_Sign and logs the attributes of the
# private keys made (P11SHIM_LOG).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

my $python = '/usr/bin/python3';
need_mechs(qw(CKM_RSA_PKCS_KEY_PAIR_GEN CKM_EC_KEY_PAIR_GEN
              CKM_EC_EDWARDS_KEY_PAIR_GEN));
plan tests => 12;

use_shim();
my $tmp = tmp_dir();
my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');
my $check = test_program('keygen_check');
my $log = File::Spec->catfile($tmp, 'shim.log');

sub path { return File::Spec->catfile($tmp, @_) }

# openssl under config activation (pkcs11be preferred), logging objects.
sub cnf {
    my $opts = (@_ && ref $_[-1] eq 'HASH') ? pop : {};
    return ossl(@_, { %$opts, env => { OPENSSL_CONF => $conf,
                                       P11SHIM_LOG => $log,
                                       %{ $opts->{env} // {} } } });
}

# The attributes of the private keys C_GenerateKeyPair made since the log
# was last removed: a list of { sensitive => 0|1, extractable => 0|1 }.
sub generated_private {
    my @lines = grep { /object fn=C_GenerateKeyPair\.priv / }
        split /\n/, (-e $log ? read_file($log) : '');
    return map { { /\b(sensitive|extractable)=(\S+)/g } } @lines;
}

# The default provider alone (no config): the key's public half.
sub default_pubkey {
    my ($rc, $out, $err) = ossl('pkey', '-in', $_[0], '-pubout',
                                { env => { OPENSSL_CONF => undef } });
    return $rc == 0 ? $out : "pkey failed: $err";
}

# A written key that the default provider alone reads and checks.
sub default_checks {
    my ($pem) = @_;
    my ($rc, $out, $err) = ossl('pkey', '-in', $pem, '-check', '-noout',
                                { env => { OPENSSL_CONF => undef } });
    return $rc == 0 && ($out . $err) =~ /valid/i;
}

my %algs = (
    'RSA' => ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    'EC P-256' => ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'EC P-384' => ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    'Ed25519' => ['-algorithm', 'ED25519'],
    'Ed448' => ['-algorithm', 'ED448'],
);

subtest 'genpkey -out, default setting: made on the token, written' => sub {
    plan tests => 5 * keys %algs;
    for my $name (sort keys %algs) {
        my $pem = path("gen-$name.pem" =~ s/ /-/gr);
        unlink $log;
        reset_counts();
        my ($rc, $out, $err) = cnf('genpkey', @{ $algs{$name} }, '-out',
                                   $pem);
        is($rc, 0, "$name: genpkey -out") or diag $err;
        is(count_of('C_GenerateKeyPair'), 1, "$name: the token generated it");
        is_deeply([generated_private()],
                  [{ sensitive => 0, extractable => 1 }],
                  "$name: a session pair, not sensitive, extractable");
        ok(default_checks($pem),
           "$name: the default provider alone reads and checks the key");
        like(default_pubkey($pem), qr/BEGIN PUBLIC KEY/,
             "$name: and gives its public key");
    }
};

subtest 'req -newkey and genrsa, default setting' => sub {
    plan tests => 2 * 6 + 4;
    for my $newkey (['rsa', 'rsa:2048'], ['ec', 'ec', '-pkeyopt',
                                          'ec_paramgen_curve:P-256']) {
        my ($name, @opts) = @$newkey;
        my ($key, $csr) = (path("req-$name.key"), path("req-$name.csr"));
        unlink $log;
        reset_counts();
        my ($rc, $out, $err) = cnf('req', '-new', '-newkey', @opts, '-nodes',
                                   '-keyout', $key, '-out', $csr, '-subj',
                                   "/CN=req-$name");
        is($rc, 0, "$name: req -newkey writes key and request") or diag $err;
        is(count_of('C_GenerateKeyPair'), 1, "$name: generated on the token");
        cmp_ok(count_of('C_Sign'), '>=', 1,
               "$name: the request signed on the token");
        ($rc, $out, $err) = ossl('req', '-in', $csr, '-verify', '-noout',
                                 { env => { OPENSSL_CONF => undef } });
        is($rc, 0, "$name: the default provider verifies the request")
            or diag $err;
        ($rc, $out, $err) = ossl('req', '-in', $csr, '-pubkey', '-noout',
                                 { env => { OPENSSL_CONF => undef } });
        is($out, default_pubkey($key),
           "$name: its public key is the written key's");
        ok(default_checks($key), "$name: the written key checks");
    }
    my $key = path('genrsa.key');
    reset_counts();
    my ($rc, $out, $err) = cnf('genrsa', '-out', $key, '2048');
    is($rc, 0, 'genrsa -out') or diag $err;
    is(count_of('C_GenerateKeyPair'), 1, 'genrsa: generated on the token');
    ok(default_checks($key), 'genrsa: the default provider checks the key');
    like(default_pubkey($key), qr/BEGIN PUBLIC KEY/,
         'genrsa: and gives its public key');
};

subtest 'keys leave through export, legacy views and raw keys (C)' => sub {
    plan tests => 3;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'export',
        { env => { P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, 'RSA, EC P-256/384, Ed25519, Ed448: every way out')
        or diag "$out$err";
    is(count_of('C_GenerateKeyPair'), 5, 'each generated on the token');
    cmp_ok(count_of('C_Sign'), '>=', 5, 'and signing there');
};

SKIP: {
    skip 'no /usr/bin/python3 with cryptography', 3
        unless -x $python && run($python, '-c', 'import cryptography') == 0;

    # pyca 38 generates EC and RSA keys with the legacy EC_KEY/RSA
    # functions, which no provider sees: those round trips prove that
    # nothing else broke; Ed25519 and Ed448 are generated by pkcs11be.
    my $script = <<'PY';
import sys
from cryptography.hazmat.primitives.asymmetric import (ec, ed448, ed25519,
                                                       padding, rsa)
from cryptography.hazmat.primitives import hashes, serialization
kind = sys.argv[1]
if kind == 'Ed25519':
    key = ed25519.Ed25519PrivateKey.generate()
elif kind == 'Ed448':
    key = ed448.Ed448PrivateKey.generate()
elif kind == 'EC':
    key = ec.generate_private_key(ec.SECP256R1())
else:
    key = rsa.generate_private_key(65537, 2048)
try:
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
except Exception as e:
    print("refused", type(e).__name__)
    sys.exit(0)
copy = serialization.load_pem_private_key(pem, None)
spki = lambda k: k.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print("written", "same-public" if spki(copy) == spki(key) else "other-public")
if kind in ('Ed25519', 'Ed448'):
    raw = key.private_bytes(serialization.Encoding.Raw,
                            serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    print("raw", len(raw))
    copy.public_key().verify(key.sign(b"m"), b"m")
elif kind == 'EC':
    copy.public_key().verify(key.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m",
                             ec.ECDSA(hashes.SHA256()))
else:
    copy.public_key().verify(key.sign(b"m", padding.PKCS1v15(),
                                      hashes.SHA256()),
                             b"m", padding.PKCS1v15(), hashes.SHA256())
sys.stdout.write(pem.decode())
print("signed")
PY

    subtest 'pyca generate().private_bytes(), default setting' => sub {
        plan tests => 5 * 4 + 2;
        for my $kind (qw(Ed25519 Ed448 EC RSA)) {
            reset_counts();
            my ($rc, $out, $err) = run($python, '-c', $script, $kind,
                { env => { OPENSSL_CONF => $conf } });
            is($rc, 0, "$kind: script ran") or diag $err;
            like($out, qr/^written same-public$/m,
                 "$kind: private_bytes, read back, same public key");
            like($out, qr/^signed$/m,
                 "$kind: signed, verified by the copy");
            # pyca 38 signs EC with the legacy ECDSA_sign (no provider).
            cmp_ok(count_of('C_Sign'), '>=', $kind eq 'EC' ? 0 : 1,
                   "$kind: signed on the token");
            my $pem = path("pyca-$kind.pem");
            write_file($pem, $out =~ /(-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----\n)/s);
            ok(default_checks($pem),
               "$kind: the default provider alone reads the key");
            if ($kind =~ /^Ed/) {
                is(count_of('C_GenerateKeyPair'), 1,
                   "$kind: generated on the token");
            }
        }
    };

    subtest 'pyca Ed25519, pkcs11-keygen-exportable=yes: in memory' => sub {
        plan tests => 4;
        reset_counts();
        my ($rc, $out, $err) = run($python, '-c', $script, 'Ed25519',
            { env => { OPENSSL_CONF => $conf,
                       P11BE_KEYGEN_EXPORTABLE => 'yes' } });
        is($rc, 0, 'script ran') or diag $err;
        like($out, qr/^written same-public$/m, 'private_bytes gives the key');
        is(count_of('C_GenerateKeyPair'), 0, 'not generated on the token');
        cmp_ok(count_of('C_Sign'), '>=', 1, 'signed on the token');
    };

    subtest 'pyca Ed25519, pkcs11-keygen-exportable=no: never leaves' => sub {
        plan tests => 3;
        reset_counts();
        my ($rc, $out, $err) = run($python, '-c', $script, 'Ed25519',
            { env => { OPENSSL_CONF => $conf,
                       P11BE_KEYGEN_EXPORTABLE => 'no' } });
        is($rc, 0, 'script ran') or diag $err;
        like($out, qr/^refused /m, 'private_bytes refused');
        is(count_of('C_GenerateKeyPair'), 1, 'the token generated the pair');
    };
}

subtest 'pkcs11-keygen-exportable=yes: genpkey makes the key in memory' => sub {
    plan tests => 4;
    my $pem = path('rsa-yes.pem');
    reset_counts();
    my ($rc, $out, $err) = cnf('genpkey', @{ $algs{RSA} }, '-out', $pem,
        { env => { P11BE_KEYGEN_EXPORTABLE => 'yes' } });
    is($rc, 0, 'genpkey') or diag $err;
    is(count_of('C_GenerateKeyPair'), 0, 'made on the host');
    ok(default_checks($pem), 'the default provider reads and checks it');
    like(default_pubkey($pem), qr/BEGIN PUBLIC KEY/, 'and its public key');
};

subtest 'pkcs11-keygen-exportable=no: sensitive, refused clearly' => sub {
    plan tests => 6;
    unlink $log;
    reset_counts();
    my ($rc, $out, $err) = cnf('genpkey', @{ $algs{'EC P-256'} },
        { env => { P11BE_KEYGEN_EXPORTABLE => 'no' } });
    isnt($rc, 0, 'genpkey fails to write the key');
    like($err, qr/cannot leave it/, 'saying why');
    like($err, qr/pkcs11-keygen-exportable = no/, 'naming the setting');
    unlike($err, qr/malloc failure/, 'not a misleading malloc failure');
    is_deeply([generated_private()], [{ sensitive => 1, extractable => 0 }],
              'the token made a sensitive, non-extractable pair');
    ($rc, $out, $err) = run($check, 'refuse',
        { env => { P11BE_BUILD_DIR => build_dir(),
                   P11BE_KEYGEN_EXPORTABLE => 'no' } });
    is($rc, 0, 'C: no way out for RSA, EC, Ed25519, Ed448; they still sign')
        or diag "$out$err";
};

subtest 'named keys stay sensitive whatever the setting' => sub {
    plan tests => 4;
    unlink $log;
    my ($rc, $out, $err) = run($check, 'refuse', 'named',
        { env => { P11BE_BUILD_DIR => build_dir(), P11SHIM_LOG => $log } });
    is($rc, 0, 'C: no way out for named RSA, EC, Ed25519, Ed448 keys')
        or diag "$out$err";
    my @made = generated_private();
    is(scalar @made, 5, 'five pairs generated');
    is_deeply([grep { $_->{sensitive} ne '1' || $_->{extractable} ne '0' }
               @made], [], 'each sensitive and not extractable');
    my $pem = path('named.pem');
    ($rc, $out, $err) = cnf('genpkey', @{ $algs{'EC P-256'} }, '-pkeyopt',
                            'pkcs11-key-label:named-file', '-out', $pem);
    like(read_file($pem), qr/BEGIN PKCS11 KEY URI/,
         'genpkey -out writes a named key as its URI');
};

subtest 'a token that refuses exportable pairs: made in memory' => sub {
    plan tests => 4;
    my $pem = path('refused.pem');
    reset_counts();
    my ($rc, $out, $err) = cnf('genpkey', @{ $algs{'EC P-256'} }, '-out',
                               $pem,
        # 0xd1: CKR_TEMPLATE_INCONSISTENT
        { env => { P11SHIM_FAULTS => 'C_GenerateKeyPair:0xd1' } });
    is($rc, 0, 'genpkey -out') or diag $err;
    is($err, '', 'no error shown');
    is(count_of('C_GenerateKeyPair'), 1, 'the token was asked once');
    ok(default_checks($pem), 'the key made in memory is written');
};

subtest 'a bad value is a clear error' => sub {
    plan tests => 2;
    my ($rc, $out, $err) = cnf('genpkey', @{ $algs{'EC P-256'} },
        { env => { P11BE_KEYGEN_EXPORTABLE => 'maybe' } });
    isnt($rc, 0, 'genpkey fails');
    like($err, qr/P11BE_KEYGEN_EXPORTABLE="maybe": not a known value/,
         'naming the setting');
};

subtest '"auto" may be set by name' => sub {
    plan tests => 1;
    my ($rc, $out, $err) = cnf('genpkey', @{ $algs{'Ed25519'} },
        { env => { P11BE_KEYGEN_EXPORTABLE => 'auto' } });
    like($out, qr/BEGIN PRIVATE KEY/, '"auto" accepted: the key written');
};
