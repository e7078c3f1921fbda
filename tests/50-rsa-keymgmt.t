#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# keymgmt "RSA" (tests/c/rsa_check.c), counted through the shim: software
# keys imported with the default provider's parameters, export, eq, dup
# and validate, and no token object until an operation needs one; key
# pairs generated on the token, as session objects destroyed on free or
# as persistent ones kept there; keys that outlive the pooled sessions
# they were used on, and a forked child.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_RSA_PKCS CKM_RSA_PKCS_KEY_PAIR_GEN));
plan tests => 10;

use_shim();
my $check = test_program('rsa_check');

sub make_key {
    my ($bits) = @_;
    my $path = File::Spec->catfile(tmp_dir(), "rsa$bits.pem");
    my ($rc, undef, $err) = ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt',
                                 "rsa_keygen_bits:$bits", '-out', $path);
    die "openssl genpkey $bits: $err" if $rc != 0;
    return $path;
}

sub check {
    my ($name, $args, $env) = @_;
    my ($rc, $out, $err) = run($check, @$args,
        { env => { P11BE_BUILD_DIR => build_dir(), %{ $env // {} } } });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

my %key = map { $_ => make_key($_) } (1024, 2048, 3072);

subtest 'import: parameters and export as the default provider' => sub {
    plan tests => 4;

    reset_counts();
    my $out = check('1024, 2048 and 3072-bit keys', ['params', @key{1024, 2048, 3072}]);
    is(() = $out =~ /ok: \d+-bit key: params/g, 3, 'every key checked');
    is(count_of('C_CreateObject'), 0,
       'importing, comparing and exporting made no token object');
    is(count_of('C_Sign'), 0, 'and a public key never signed');
};

subtest 'generation: a session key pair, destroyed when freed' => sub {
    plan tests => 5;

    # A pair that never leaves the token (rsa_check gen checks that the
    # key-pair export is refused); tests/75 covers the exportable default.
    my $strict = { P11BE_KEYGEN_EXPORTABLE => 'no' };
    reset_counts();
    check('2048 bits', ['gen', 2048], $strict);
    check('1024 bits', ['gen', 1024], $strict);
    is(count_of('C_GenerateKeyPair'), 2, 'both generated on the token');
    is(count_of('C_Sign'), 2, 'and signed there');
    is(count_of('C_DestroyObject'), 4, 'both pairs destroyed at free');
};

subtest 'generation: a persistent key pair with a label and an id' => sub {
    my $tool = '/usr/bin/pkcs11-tool';
    plan skip_all => 'no pkcs11-tool to look at the token' unless -x $tool;
    plan tests => 5;

    my $label = 'p11be-rsa-persistent';
    my @tool = ($tool, '--module', real_module(), '--slot',
                $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID}, '--login', '--pin',
                $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD});
    reset_counts();
    check('generated', ['gen', 2048, $label, '0a0b0c']);
    is(count_of('C_DestroyObject'), count_of('C_CopyObject'),
       'nothing destroyed at free: only session copies destroyed');
    my ($rc, $out) = run(@tool, '--list-objects');
    is(() = $out =~ /label:\s+\Q$label\E/g, 2,
       'another process finds both objects by label');
    like($out, qr/ID:\s+0a0b0c/, 'with the id');
    for my $type (qw(privkey pubkey)) {
        run(@tool, '--delete-object', '--type', $type, '--label', $label);
    }
    ($rc, $out) = run(@tool, '--list-objects');
    unlike($out, qr/\Q$label\E/, 'deleted in teardown');
};

# Whether the shim injects faults (P11SHIM_FAULTS); a bad rule says so.
sub shim_has_faults {
    my ($rc) = run($check, 'repeat', 1, $key{1024},
                   { env => { P11BE_BUILD_DIR => build_dir(),
                              P11SHIM_FAULTS => 'C_Nothing:1' } });
    return $rc != 0;
}

# One counter, read without P11BE::counts(), which knows no fault lines.
sub calls_of {
    my ($name) = @_;
    my (undef, $out) = run(test_program('p11count'), $ENV{P11SHIM_COUNTS});
    return $out =~ /^\Q$name\E (\d+)$/m ? $1 : 0;
}

subtest 'an imported key outlives the sessions it was used on' => sub {
    plan skip_all => 'the shim injects no faults' unless shim_has_faults();
    plan tests => 3;

    reset_counts();
    # The shim closes the session of the 2nd C_Sign and of the 4th
    # C_SignInit; the pool drops them, the signature runs again on a new
    # session, and the key object (on the object session) is still there.
    check('four signatures', ['outlive', $key{2048}],
          { P11SHIM_FAULTS => 'C_Sign:CKR_SESSION_HANDLE_INVALID:nth=2;'
                              . 'C_SignInit:CKR_SESSION_CLOSED:nth=4' });
    is(calls_of('C_CreateObject'), 1, 'the key object was made once');
    cmp_ok(calls_of('C_OpenSession'), '>=', 3, 'while sessions came and went');
};

subtest 'a generated key outlives the session it was made on' => sub {
    plan skip_all => 'the shim injects no faults' unless shim_has_faults();
    plan tests => 1;

    reset_counts();
    check('four signatures', ['outlive-gen'],
          { P11SHIM_FAULTS => 'C_SignInit:CKR_SESSION_CLOSED:nth=2' });
};

subtest 'a refused template: one retry with a minimal one' => sub {
    plan skip_all => 'the shim injects no faults' unless shim_has_faults();
    plan tests => 4;

    # tpm2-pkcs11 refuses templates that set usage flags its keys do not
    # have; the retry leaves out what says no (keyobj.c). 0xd1 is
    # CKR_TEMPLATE_INCONSISTENT, 0x13 CKR_ATTRIBUTE_VALUE_INVALID.
    reset_counts();
    check('generated after one refusal', ['gen', 2048, 'p11be-retry', '0d'],
          { P11SHIM_FAULTS =>
                'C_GenerateKeyPair:0xd1:nth=1' });
    is(calls_of('C_GenerateKeyPair'), 2, 'the second template was taken');
    reset_counts();
    my ($rc, $out, $err) = run($check, 'gen', 2048, 'p11be-retry2', '0e',
        { env => { P11BE_BUILD_DIR => build_dir(), P11SHIM_FAULTS =>
                       'C_GenerateKeyPair:0x13:nth=1;'
                       . 'C_GenerateKeyPair:0xd1:nth=2' } });
    isnt($rc, 0, 'refused twice: an error');
    is(calls_of('C_GenerateKeyPair'), 2, 'after one retry, no more');
};

subtest 'fork: the child re-creates the key object' => sub {
    plan tests => 2;

    reset_counts();
    check('parent, child, parent', ['fork', $key{2048}]);
    is(count_of('C_CreateObject'), 2, 'one object in each process');
};

subtest 'fork: generated key pairs' => sub {
    plan tests => 5;

    reset_counts();
    check('a persistent pair is found again in the child',
          ['gen-fork', 'persistent']);
    cmp_ok(count_of('C_FindObjectsInit'), '>=', 2,
           'by its id (private and public objects)');
    # The child exits without freeing the key: its copy goes with it.
    is(count_of('C_DestroyObject'), count_of('C_CopyObject') - 1,
       'and kept on the token: only the parent\'s session copy destroyed');
    my $out = check('a session pair is gone in the child, clearly',
                    ['gen-fork']);
    like($out, qr/session keys cannot come back/, 'the error says why');
    # The persistent pair goes in teardown, with the token.
};

subtest 'threads share one key object' => sub {
    plan tests => 2;

    reset_counts();
    check('8 threads', ['threads', 8, $key{2048}]);
    is(count_of('C_CreateObject'), 1, 'made once for all');
};

# Each misuse fails through pkcs11be with the reason the default provider
# gives, at the same step, and never reaches the token.
subtest 'bad parameters refused as the default provider refuses them' => sub {
    # The openssl command cannot load a ThreadSanitizer build of the
    # provider; the normal and ASan runs check this.
    plan skip_all => 'openssl cannot load the ThreadSanitizer build'
        if defined $ENV{TSAN_OPTIONS};
    my @p11 = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
               '-provider', 'default', '-propquery', '?provider=pkcs11be');
    my $pss = File::Spec->catfile(tmp_dir(), 'pss.pem');
    my $in = File::Spec->catfile(tmp_dir(), 'in.bin');
    my ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'RSA-PSS', '-pkeyopt',
                                'rsa_keygen_bits:1024', '-out', $pss);
    die "openssl genpkey RSA-PSS: $err" if $rc != 0;
    write_file($in, 'x' x 16);
    my @cases = (
        ['public exponent 1', qr/pub exponent out of range/, 'genpkey',
         '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-pkeyopt',
         'rsa_keygen_pubexp:1'],
        ['public exponent 2', qr/pub exponent out of range/, 'genpkey',
         '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-pkeyopt',
         'rsa_keygen_pubexp:2'],
        ['128-bit key', qr/Error setting rsa_keygen_bits:128 parameter.*key size too small/s,
         'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:128'],
        ['RSA-PSS key decrypting',
         qr/Error initializing context.*operation not supported for this keytype/s,
         'pkeyutl', '-decrypt', '-inkey', $pss, '-in', $in],
        ['RSA-PSS key encrypting',
         qr/Error initializing context.*operation not supported for this keytype/s,
         'pkeyutl', '-encrypt', '-inkey', $pss, '-in', $in],
    );
    plan tests => 4 * @cases;
    for my $case (@cases) {
        my ($name, $why, $command, @args) = @$case;
        ($rc, $out, $err) = ossl($command, @args);
        isnt($rc, 0, "$name: the default provider refuses");
        like($err, $why, "$name: the default provider's reason");
        reset_counts();
        ($rc, $out, $err) = ossl($command, @p11, @args);
        like($err, $why, "$name: pkcs11be gives the same reason")
            or diag $err;
        is(count_of('C_GenerateKeyPair') + count_of('C_DecryptInit'), 0,
           "$name: the token never saw it");
    }
};
