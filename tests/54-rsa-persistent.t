#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Persistent RSA keys across processes (tests/c/rsa_check.c): one process
# generates a key pair on the token with a label and an id; others find
# it with the keygen parameter pkcs11-key-existing (by label, by id),
# sign and decrypt with it on the token, and OpenSSL's default provider
# verifies the signature with the public key the first process wrote.
# Teardown destroys the objects straight on the module.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_RSA_PKCS CKM_RSA_PKCS_KEY_PAIR_GEN));
plan tests => 5;

use_shim();
my $check = test_program('rsa_check');
my $label = 'p11be-rsa-found';
my $id = '0c0d0e0f';
my $pub = File::Spec->catfile(tmp_dir(), 'pub.pem');
my $msg = File::Spec->catfile(tmp_dir(), 'msg.bin');
write_file($msg, random_bytes(1000, 'persistent'));

sub check {
    my (@args) = @_;
    return run($check, @args, { env => { P11BE_BUILD_DIR => build_dir() } });
}

# openssl dgst -verify with the default provider only.
sub default_verifies {
    my ($sig) = @_;
    my ($rc, $out) = ossl('dgst', '-sha256', '-verify', $pub, '-signature',
                          $sig, $msg);
    return $rc == 0 && $out =~ /Verified OK/;
}

subtest 'process 1 generates a persistent key pair' => sub {
    plan tests => 3;

    reset_counts();
    my ($rc, $out, $err) = check('gen', 2048, $label, $id, $pub);
    is($rc, 0, 'generated with a label and an id') or diag "$out$err";
    is(count_of('C_GenerateKeyPair'), 1, 'on the token');
    is(count_of('C_DestroyObject'), count_of('C_CopyObject'),
       'and kept there at exit: only session copies destroyed');
};

for my $by (['label', $label, '-'], ['id', '-', $id],
            ['label and id', $label, $id]) {
    my ($what, $l, $i) = @$by;
    subtest "another process finds it by $what and signs" => sub {
        plan tests => 6;

        my $sig = File::Spec->catfile(tmp_dir(), "sig-$i-$l");
        reset_counts();
        my ($rc, $out, $err) = check('find', $l, $i, $msg, $sig);
        is($rc, 0, 'found and signed') or diag "$out$err";
        is(count_of('C_GenerateKeyPair'), 0, 'nothing generated');
        is(count_of('C_Sign'), 1, 'signed on the token');
        is(count_of('C_Decrypt'), 1, 'and decrypted there');
        is(count_of('C_DestroyObject'), count_of('C_CopyObject'),
       'the pair stays on the token: only session copies destroyed');
        ok(default_verifies($sig),
           "the default provider verifies with process 1's public key");
    };
}

subtest 'teardown: the objects are destroyed, then not found' => sub {
    plan tests => 5;

    my ($rc, $out, $err) = check('find', 'p11be-no-such-key', '-', $msg,
                                 File::Spec->catfile(tmp_dir(), 'none'));
    isnt($rc, 0, 'an unknown label is an error');
    like("$out$err", qr/is not on the token/, 'which says so');
    ($rc, $out, $err) = check('destroy', $label);
    is($rc, 0, 'destroyed') or diag "$out$err";
    like($out, qr/destroyed 2 objects/, 'the private and public objects');
    ($rc, $out, $err) = check('find', $label, '-', $msg,
                              File::Spec->catfile(tmp_dir(), 'gone'));
    isnt($rc, 0, 'and they are gone');
};
