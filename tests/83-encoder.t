#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Encoders and decoders (provider/ops/encoder.c, decoder.c; tests/c/
# encoder_check.c). Keys generated on the token (RSA, EC P-256, Ed25519,
# Ed448): their public keys written by pkcs11be (-pubout, PEM and DER,
# i2d_PUBKEY) are byte for byte what the default provider writes for the
# same public key, and the token's signatures verify with them; -text
# prints the public parts as the default provider does and where the
# private half is. A persistent token key is written as a PKCS11 KEY URI
# (PEM or DER) that a second process reads back (openssl pkey, pkeyutl,
# req; PEM_read_bio_PrivateKey and d2i_AutoPrivateKey under OPENSSL_CONF)
# and signs with on the token (the shim counts C_Sign). A session key
# generated on the token refuses to be written with a clear error. A
# software key imported into pkcs11be is written exactly as the default
# provider writes it (PKCS#8, type-specific, SPKI, text, encrypted).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use MIME::Base64 qw(encode_base64);
use Test::More;
use P11BE;

plan tests => 10;

use_shim();
my $check = test_program('encoder_check');
my $tmp = tmp_dir();
my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
my @p11 = ('-provider', 'default', '-propquery', '?provider=pkcs11be');
my $msg = File::Spec->catfile($tmp, 'msg.txt');
write_file($msg, "a message signed on the token\n");

# The key types: genpkey options, and what its text prints.
my %types = (
    RSA => { opts => ['-pkeyopt', 'rsa_keygen_bits:2048'],
             mech => 'CKM_RSA_PKCS_KEY_PAIR_GEN', text => qr/^Modulus:/m },
    EC => { opts => ['-pkeyopt', 'ec_paramgen_curve:P-256'],
            mech => 'CKM_EC_KEY_PAIR_GEN', text => qr/^pub:.*^ASN1 OID: prime256v1/ms },
    ED25519 => { opts => [], mech => 'CKM_EC_EDWARDS_KEY_PAIR_GEN',
                 text => qr/^ED25519 Public-Key:\npub:/m },
    ED448 => { opts => [], mech => 'CKM_EC_EDWARDS_KEY_PAIR_GEN',
               text => qr/^ED448 Public-Key:\npub:/m },
);
my @types = grep { has_mech($types{$_}{mech}) } qw(RSA EC ED25519 ED448);
diag("no $_ keys: the token lacks $types{$_}{mech}")
    for grep { !has_mech($types{$_}{mech}) } qw(RSA EC ED25519 ED448);

sub path { return File::Spec->catfile($tmp, @_) }

sub p11 {
    my ($command, @args) = @_;
    my $opts = (@args && ref $args[-1] eq 'HASH') ? pop @args : {};
    return ossl_p11($command, @p11, @args, $opts);
}

# The default provider alone (no pkcs11be, no config).
sub plain {
    my @args = @_;
    my $opts = (@args && ref $args[-1] eq 'HASH') ? pop @args : {};
    $opts->{env} = { %{ $opts->{env} // {} }, OPENSSL_CONF => undef };
    return ossl(@args, $opts);
}

# Signs msg with $key (a file or URI) through pkcs11be (by -propquery, or
# by OPENSSL_CONF with $opts->{conf}), verifies with the default provider
# and $pub; returns whether it verified.
sub sign_verify {
    my ($type, $key, $pub, $opts) = @_;
    my $sig = path("$type.sig");
    my (@how, $in);

    if ($type =~ /^ED/) {
        @how = ('-rawin');
        $in = $msg;
    } else {
        my ($rc, $out) = plain('dgst', '-sha256', '-binary', $msg);
        $in = path('msg.sha256');
        write_file($in, $out);
        @how = ('-pkeyopt', 'digest:sha256');
    }
    unlink $sig;
    my @sign = ('-sign', '-inkey', $key, @how, '-in', $in, '-out', $sig);
    my ($rc, $out, $err) = $opts->{conf}
        ? ossl('pkeyutl', @sign, { env => { OPENSSL_CONF => $cnf } })
        : p11('pkeyutl', @sign);
    if ($rc != 0) {
        diag("sign: $err");
        return 0;
    }
    ($rc, $out, $err) = plain('pkeyutl', '-verify', '-pubin', '-inkey', $pub,
                              @how, '-in', $in, '-sigfile', $sig);
    diag("verify: $out$err") if $rc != 0;
    return $rc == 0;
}

my %pub;    # type => the default provider's SPKI PEM of the token key

subtest 'genpkey with a label writes the PKCS11 KEY URI' => sub {
    plan tests => 4 * @types;
    for my $type (@types) {
        my $file = path("$type.pem");
        my ($rc, $out, $err) = p11('genpkey', '-algorithm', $type,
            @{ $types{$type}{opts} }, '-pkeyopt', "pkcs11-key-label:enc-$type",
            '-out', $file);
        is($rc, 0, "$type: genpkey -out") or diag $err;
        my $pem = -r $file ? read_file($file) : '';
        like($pem, qr/\A-----BEGIN PKCS11 KEY URI-----\n/,
             "$type: a PKCS11 KEY URI block");
        ($rc, $out) = plain('asn1parse', '-in', $file);
        like($out, qr/UTF8STRING\s+:pkcs11:token=[^;]+;object=enc-$type;type=private$/m,
             "$type: SEQUENCE { UTF8String pkcs11: URI }");
        unlike($err, qr/malloc failure/, "$type: no malloc failure");
    }
};

subtest 'public keys: -pubout as the default provider writes them' => sub {
    plan tests => 6 * @types;
    for my $type (@types) {
        my $file = path("$type.pem");
        my $pub = path("$type.pub.pem");
        my ($rc, $out, $err) = p11('pkey', '-in', $file, '-pubout', '-out',
                                   $pub);
        is($rc, 0, "$type: pkey -in key.pem -pubout") or diag $err;
        my ($rc2, $ref) = plain('pkey', '-pubin', '-in', $pub, '-pubout');
        is($rc2, 0, "$type: the default provider reads it");
        is(read_file($pub), $ref, "$type: PEM as the default provider's");
        $pub{$type} = $ref;
        ($rc, $out) = p11('pkey', '-in', "pkcs11:object=enc-$type;type=private",
                          '-pubout', '-outform', 'DER');
        ($rc2, $ref) = plain('pkey', '-pubin', '-in', $pub, '-pubout',
                             '-outform', 'DER');
        ok($rc == 0 && length($out) > 30 && $out eq $ref,
           "$type: DER by URI as the default provider's");
        reset_counts();
        ok(sign_verify($type, $file, $pub),
           "$type: signed by key.pem, verified with the default provider");
        is(count_of('C_Sign'), 1, "$type: the token signed (C_Sign)");
    }
};

subtest 'text: the public parts, and where the private half is' => sub {
    plan tests => 3 * @types;
    for my $type (@types) {
        my $file = path("$type.pem");
        my ($rc, $out, $err) = p11('pkey', '-in', $file, '-text', '-noout');
        like($out, $types{$type}{text}, "$type: -text prints the public key")
            or diag $err;
        like($out, qr/^Private key: on the PKCS#11 token \(pkcs11:token=[^;]+;object=enc-$type;type=private\)$/m,
             "$type: and names the token key");
        my ($rc2, $ref) = plain('pkey', '-pubin', '-in', path("$type.pub.pem"),
                                '-text_pub', '-noout');
        ($rc, $out) = p11('pkey', '-in', $file, '-text_pub', '-noout');
        is($out, $ref, "$type: -text_pub as the default provider's");
    }
};

subtest 'a second process: pkeyutl, req, config activation' => sub {
    plan tests => 3 + 4 * @types;
    for my $type (@types) {
        my $file = path("$type.pem");
        my $pub = path("$type.pub.pem");
        reset_counts();
        ok(sign_verify($type, $file, $pub, { conf => 1 }),
           "$type: OPENSSL_CONF pkeyutl -inkey key.pem signs");
        is(count_of('C_Sign'), 1, "$type: on the token (C_Sign)");
        my $cpub = path("$type.c.pub.pem");
        reset_counts();
        my ($rc, $out, $err) = run($check, 'read', $file, $cpub,
                                   { env => { OPENSSL_CONF => $cnf } });
        is($rc, 0, "$type: PEM_read_bio_PrivateKey, sign, verify (C)")
            or diag "$out$err";
        is(-r $cpub ? read_file($cpub) : '', $pub{$type},
           "$type: PEM_write_bio_PUBKEY as the default provider's");
    }
    my $cert = path('cert.pem');
    reset_counts();
    my ($rc, $out, $err) = ossl('req', '-new', '-x509', '-key',
        path('RSA.pem'), '-subj', '/CN=pkcs11be encoder test', '-days', '1',
        '-out', $cert, { env => { OPENSSL_CONF => $cnf } });
    is($rc, 0, 'req -x509 -key key.pem (self-signed on the token)')
        or diag $err;
    is(count_of('C_Sign'), 1, 'the self-signature was made on the token');
    ($rc, $out, $err) = plain('verify', '-CAfile', $cert, $cert);
    like($out, qr/: OK$/m, 'the default provider verifies the certificate')
        or diag $err;
};

subtest 'DER form: genpkey -outform DER, read back' => sub {
    my $why = lacks_mechs(qw(CKM_EC_KEY_PAIR_GEN CKM_ECDSA));
    plan $why ? (skip_all => $why) : (tests => 5);
    my $der = path('ec-der.der');
    my ($rc, $out, $err) = p11('genpkey', '-algorithm', 'EC',
        '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt',
        'pkcs11-key-label:enc-der', '-pkeyopt', 'hexpkcs11-key-id:0a0b',
        '-outform', 'DER', '-out', $der);
    is($rc, 0, 'genpkey -outform DER') or diag $err;
    ($rc, $out) = plain('asn1parse', '-inform', 'DER', '-in', $der);
    like($out, qr/UTF8STRING\s+:pkcs11:token=[^;]+;object=enc-der;id=%0A%0B;type=private$/m,
         'the DER SEQUENCE with label and id');
    my $pub = path('ec-der.pub.pem');
    ($rc, $out, $err) = p11('pkey', '-inform', 'DER', '-in', $der, '-pubout',
                            '-out', $pub);
    is($rc, 0, 'pkey -inform DER -pubout') or diag $err;
    reset_counts();
    ($rc, $out, $err) = run($check, 'read', $der, path('ec-der.c.pub'),
                            { env => { OPENSSL_CONF => $cnf } });
    like($out, qr/^ok: d2i_AutoPrivateKey.*^ok: signed, verified/ms,
         'd2i_AutoPrivateKey, sign, verify (C)') or diag "$out$err";
    is(count_of('C_Sign'), 1, 'on the token (C_Sign)');
};

subtest 'a token key found by URI writes the same URI file' => sub {
    plan tests => 2;
    my ($rc, $out, $err) = p11('pkey', '-in',
                               'pkcs11:object=enc-RSA;type=private');
    is($rc, 0, 'pkey -in pkcs11:... (private key out)') or diag $err;
    is($out, read_file(path('RSA.pem')), 'the same PKCS11 KEY URI block');
};

subtest 'a session key kept on the token (keygen-exportable = no)' => sub {
    plan tests => 5 * @types;
    for my $type (@types) {
        my ($rc, $out, $err) = p11('genpkey', '-algorithm', $type,
                                   @{ $types{$type}{opts} }, '-text',
            { env => { P11BE_KEYGEN_EXPORTABLE => 'no' } });
        isnt($rc, 0, "$type: genpkey without a label fails");
        like($err, qr/the private half of a session key generated on the token with pkcs11-keygen-exportable = no cannot leave it; generate it with -pkeyopt pkcs11-key-label:NAME/,
             "$type: with the clear error");
        like($err, qr/or leave pkcs11-keygen-exportable at auto \(P11BE_KEYGEN_EXPORTABLE\)/,
             "$type: naming the setting that makes exportable keys");
        unlike($err, qr/malloc failure/, "$type: not a malloc failure");
        like($out, qr/^Private key: a session object on the PKCS#11 token/m,
             "$type: -text says where the private half is");
    }
};

subtest 'a session key generated to be written out (the default)' => sub {
    plan tests => 3 * @types;
    for my $type (@types) {
        my ($rc, $out, $err) = p11('genpkey', '-algorithm', $type,
                                   @{ $types{$type}{opts} }, '-text');
        is($rc, 0, "$type: genpkey without a label writes the key")
            or diag $err;
        like($out, qr/^-----BEGIN PRIVATE KEY-----$/m,
             "$type: as a PrivateKeyInfo");
        like($out, qr/^(?:Private-Key|priv):/m,
             "$type: -text shows the private half as OpenSSL's does");
    }
};

subtest 'bad URI files' => sub {
    plan tests => 3;
    my $der = "\x0c" . chr(length('pkcs11:object=no-such-key;type=private'))
            . 'pkcs11:object=no-such-key;type=private';
    $der = "\x30" . chr(length($der)) . $der;
    my $file = path('nosuch.pem');
    write_file($file, "-----BEGIN PKCS11 KEY URI-----\n" . encode_base64($der)
                      . "-----END PKCS11 KEY URI-----\n");
    my ($rc, $out, $err) = p11('pkey', '-in', $file, '-pubout');
    isnt($rc, 0, 'a URI that names no key fails');
    like($err, qr/no-such-key/, 'and the error names the URI');
    my $junk = path('junk.pem');
    write_file($junk, "-----BEGIN PKCS11 KEY URI-----\n"
                      . encode_base64("\x30\x03\x0c\x01x")
                      . "-----END PKCS11 KEY URI-----\n");
    ($rc, $out, $err) = p11('pkey', '-in', $junk, '-pubout');
    isnt($rc, 0, 'a block without a pkcs11: URI is not a key');
};

subtest 'software keys imported into pkcs11be: written as the default' => sub {
    plan tests => scalar @types;
    for my $type (@types) {
        my $soft = path("soft-$type.pem");
        my ($rc, $out, $err) = plain('genpkey', '-algorithm', $type,
                                     @{ $types{$type}{opts} }, '-out', $soft);
        ($rc, $out, $err) = run($check, 'soft', $soft,
                                { env => { P11BE_BUILD_DIR => build_dir() } });
        ok($rc == 0 && $out =~ /^ok: encrypted PKCS#8/m,
           "$type: PKCS#8 PEM/DER, type-specific, SPKI, text, encrypted")
            or diag "$out$err";
    }
};
