#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Key requests the token cannot serve (issue 14), through C
# (tests/c/hostkey_check.c) and the command line: keys on curves the
# token does not take (P-192, P-224, brainpool, binary curves), with
# explicit curve parameters (P-256's too), of an RSA size outside the token's
# CKM_RSA_PKCS range, or of a type or for an operation whose mechanism
# the token lacks (hidden by the shim) stay host keys. Their signatures,
# ECDH secrets and decryptions are the default provider's (equal bytes,
# or verified there), generation on such curves gives a host key, and
# where the default provider fails, pkcs11be fails with its reason. The
# shim shows that no token call did the work, "pkcs11-delegated" (and
# P11BE_DEBUG) that pkcs11be counted it, and with pkcs11-delegate = no
# every request is refused with an error naming what the token lacks.
# A token that refuses the key's C_CreateObject (its template or domain
# parameters) makes it a host key the same way, learned once per key.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_ECDSA CKM_RSA_PKCS));
plan tests => 9;

use_shim();
my $check = test_program('hostkey_check');
my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
my $tmp = tmp_dir();

# RSA-496 is below SoftHSM2's CKM_RSA_PKCS range (512..16384 bits); NSS
# softokn and others take it, so there it is not a request the token
# cannot serve.
my @skip = token_kind() =~ /\A(?:softhsm|proxy|rpc)\z/ ? () : ('RSA-496');
my %skip_env = @skip ? (HOSTKEY_SKIP => join(',', @skip)) : ();

# The calls that would mean the token did the work.
my @WORK = qw(C_SignInit C_Sign C_DeriveKey C_DecryptInit C_Decrypt
              C_CreateObject C_GenerateKeyPair);

sub work_calls {
    return join(', ', map { "$_ " . count_of($_) } grep { count_of($_) }
                @WORK) || 'none';
}

sub check {
    my ($name, $env, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), %$env }, timeout => 300 });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

subtest 'curves, sizes and parameters the token lacks' => sub {
    plan tests => 4;
    reset_counts();
    my $out = check('the default provider\'s results, inside pkcs11be',
                    \%skip_env, 'table');
    my @rows = $out =~ /^ok: (.+?): \d+ delegated$/mg;
    is(scalar(@rows), 8 - @skip, 'every row: ' . join(', ', @rows));
    my ($n) = $out =~ /^ok: P-224: (\d+) delegated$/m;
    # A signature and an ECDH on the imported key, the same on a
    # generated one, and its generation.
    is($n, 5, 'P-224: every private-key operation and the generation '
       . 'counted in pkcs11-delegated');
    is(work_calls(), 'none', 'no token call did the work');
};

subtest 'where the default provider fails: its reasons' => sub {
    plan tests => 3;
    my $out = check('RSA-PSS decryption, SHA-512 with RSA-496', \%skip_env,
                    'errors');
    like($out, qr/^ok: RSA-PSS decryption: "operation not supported for this keytype" as the default provider$/m,
         'RSA-PSS decryption: "operation not supported for this keytype"');
    SKIP: {
        skip 'RSA-496 is a token key on ' . token_kind(), 1 if @skip;
        like($out,
             qr/^ok: SHA-512 with RSA-496: "[^"]+" as the default provider$/m,
             'SHA-512 with a 496-bit key (a host key): the default '
             . 'provider\'s reason');
    }
};

subtest 'pkcs11-delegate = no: refused, naming what the token lacks' => sub {
    plan tests => 3;
    reset_counts();
    my $out = check('every request refused',
                    { P11BE_DELEGATE => 'no', %skip_env }, 'deny');
    is(() = $out =~ /^ok: .* refused$/mg, 21 - 2 * @skip, 'every operation and '
       . 'generation of the table');
    is(work_calls(), 'none', 'no token call either');
};

# name, mechanisms hidden, what the token lacks then
my @hidden = (
    ['P-256 ECDH', '0x1050', 'CKM_ECDH1_DERIVE'],
    ['ED448', '0x1057', 'CKM_EDDSA'],
    ['RSA-2048', '0x1,0x3', 'CKM_RSA_PKCS and CKM_RSA_X_509'],
);
subtest "a token without $_->[2]: $_->[0]" => sub {
    my ($name, $hide) = @$_;
    plan tests => 3;
    reset_counts();
    my $out = check('the default provider\'s results',
                    { P11SHIM_HIDE_MECHS => $hide }, 'one', $name);
    like($out, qr/^ok: \Q$name\E: [1-9]\d* delegated$/m, 'counted');
    is(work_calls(), 'none', 'no token call did the work');
} for @hidden;

# A token that refuses a key from software when its private object is
# made (tpm2-pkcs11 imports no private key; NSS refuses secp256k1 with
# CKR_DOMAIN_PARAMS_INVALID): the shim answers the key's C_CreateObject
# with the row's code. name, the code, its name
my @refused = (
    ['RSA-2048', '0xd1', 'CKR_TEMPLATE_INCONSISTENT'],
    ['P-256', '0x130', 'CKR_DOMAIN_PARAMS_INVALID'],
);
subtest "the token refuses the key ($_->[2]): $_->[0]" => sub {
    my ($name, $code, $ckr) = @$_;
    my %faults = (P11SHIM_FAULTS => "C_CreateObject:$code");
    plan tests => 10;
    reset_counts();
    my $out = check('the default provider\'s results', \%faults, 'one',
                    $name);
    like($out, qr/^ok: \Q$name\E: [1-9]\d* delegated$/m, 'counted');
    is(count_of('C_CreateObject'), 1,
       'one C_CreateObject for the key, refused: learned once');
    is(fault_of('C_CreateObject.injected'), 1, '... by the shim');
    is(work_calls(), 'C_CreateObject 1', 'no token call did the work');
    reset_counts();
    $out = check('pkcs11-delegate = no: refused',
                 { %faults, P11BE_DELEGATE => 'no' }, 'deny-one', $name);
    my @why = $out =~ /^why: \Q$name\E: (.*)$/mg;
    ok(@why >= 1, 'every operation refused');
    is(scalar(grep { /C_CreateObject answered \Q$ckr\E.*pkcs11-delegate = no/ } @why),
       scalar(@why), "each error names $ckr") or diag $out;
    is(count_of('C_CreateObject'), 1, 'one refused C_CreateObject');
    is(work_calls(), 'C_CreateObject 1', 'no token call did the work');
} for @refused;

subtest 'command line: P-224 and brainpool through build/openssl.cnf' => sub {
    plan tests => 8;
    my %conf = (OPENSSL_CONF => $cnf);
    my $plain = { env => { OPENSSL_CONF => File::Spec->devnull } };
    for my $curve (qw(P-224 brainpoolP384r1)) {
        my ($a, $b) = map { File::Spec->catfile($tmp, "$curve-$_") } qw(a b);
        my $log = File::Spec->catfile($tmp, "$curve.log");
        my ($rc, $out, $err);
        for my $k ($a, $b) {
            ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC',
                '-pkeyopt', "ec_paramgen_curve:$curve", '-out', "$k.pem",
                $plain);
            ($rc, $out, $err) = ossl('pkey', '-in', "$k.pem", '-pubout',
                '-out', "$k.pub", $plain) if $rc == 0;
            die "keys: $err" if $rc != 0;
        }
        ossl('pkeyutl', '-derive', '-inkey', "$a.pem", '-peerkey', "$b.pub",
             '-out', "$a.ref", $plain);
        reset_counts();
        ($rc, $out, $err) = ossl('pkeyutl', '-derive', '-inkey', "$a.pem",
            '-peerkey', "$b.pub", '-out',
            "$a.p11", { env => { %conf, P11BE_DEBUG => $log } });
        ok($rc == 0 && -s "$a.ref"
           && read_file("$a.p11") eq read_file("$a.ref"),
           "$curve: ECDH through pkcs11be, the default provider's secret")
            or diag $err;
        like(read_file($log), qr/ECDH delegated to the default provider/,
             '... delegated, counted');
        is(work_calls(), 'none', '... no token call did the work');
        ($rc, $out, $err) = ossl('pkeyutl', '-derive', '-inkey', "$a.pem",
            '-peerkey', "$b.pub", '-out',
            File::Spec->devnull,
            { env => { %conf, P11BE_DELEGATE => 'no' } });
        like($err, qr/the token cannot use this EC key \(the curve \S+: .*\), and pkcs11-delegate = no/,
             '... with pkcs11-delegate = no: refused, naming why');
    }
};
