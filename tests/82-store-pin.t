#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Where the "pkcs11" store (provider/ops/store.c) gets the PIN when a private
# key is asked for: the URI's pin-value, its pin-source (file:PATH or an
# absolute path), the provider's configured PIN (environment or config
# file), then the application's passphrase (-passin). A wrong PIN fails
# once with an error naming its source and is never tried again in the
# process; public keys need no login; the PIN never shows in errors or
# the debug log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

my ($type) = grep { has_mech($_ eq 'EC' ? 'CKM_EC_KEY_PAIR_GEN'
                                        : 'CKM_RSA_PKCS_KEY_PAIR_GEN') }
             qw(EC RSA);
plan skip_all => 'the token generates no EC or RSA keys' unless $type;
plan tests => 14;

use_shim();
my $tmp = tmp_dir();
my $pin = $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD};
my $wrong = '97531';
my $label = 'pin-key';
my $priv = "pkcs11:object=$label;type=private";
my $msg = File::Spec->catfile($tmp, 'msg.bin');
write_file($msg, random_bytes(32, 'pin'));
my $pinfile = File::Spec->catfile($tmp, 'pin.txt');
write_file($pinfile, "$pin\n");
my $setsid = (grep { -x "$_/setsid" } split /:/, $ENV{PATH})[0];

my @P = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
         '-provider', 'default', '-propquery', 'provider=pkcs11be');
my %nopin = (CRYPTOGRAPHY_PKCS11_PASSWORD => undef);

# openssl $cmd with pkcs11be, without a configured PIN unless $env says;
# in a session of its own, so that no terminal is there to prompt on.
sub p11 {
    my ($cmd, @args) = @_;
    my $env = (@args && ref $args[-1] eq 'HASH') ? pop @args : {};
    my @pre = defined $setsid ? ("$setsid/setsid", "-w") : ();
    return run(@pre, $ENV{P11BE_OPENSSL} // 'openssl', $cmd, @P, @args,
               { env => { %nopin, %$env }, timeout => 60 });
}

sub sign {
    my ($uri, @more) = @_;
    my $sig = File::Spec->catfile($tmp, 'sig.bin');
    unlink $sig;
    my ($rc, $out, $err) = p11('pkeyutl', '-sign', '-inkey', $uri, '-in',
                               $msg, '-out', $sig, @more);
    return ($rc == 0 && -s $sig, "$out$err");
}

subtest 'a persistent key to sign with' => sub {
    plan tests => 1;
    reset_counts();
    p11('genpkey', '-algorithm', $type,
        $type eq 'EC' ? ('-pkeyopt', 'ec_paramgen_curve:P-256') : (),
        '-pkeyopt', "pkcs11-key-label:$label", '-out',
        File::Spec->catfile($tmp, 'gen.pem'),
        { CRYPTOGRAPHY_PKCS11_PASSWORD => $pin });
    is(count_of('C_GenerateKeyPair'), 1, "$type pair generated");
};

for my $case (["the URI's pin-value", "$priv?pin-value=$pin"],
              ["the URI's pin-source=file:", "$priv?pin-source=file:$pinfile"],
              ["the URI's pin-source (absolute path)",
               "$priv?pin-source=$pinfile"]) {
    my ($what, $uri) = @$case;
    subtest "PIN from $what" => sub {
        plan tests => 3;
        reset_counts();
        my ($ok, $out) = sign($uri);
        ok($ok, 'signed') or diag $out;
        is(count_of('C_Login'), 1, 'one login');
        is(count_of('C_Sign'), 1, 'on the token');
    };
}

subtest 'PIN from the configured setting (environment, config file)' => sub {
    plan tests => 4;
    reset_counts();
    my ($ok, $out) = sign($priv, { CRYPTOGRAPHY_PKCS11_PASSWORD => $pin });
    ok($ok, 'CRYPTOGRAPHY_PKCS11_PASSWORD') or diag $out;
    is(count_of('C_Login'), 1, 'one login');

    my $cnf = File::Spec->catfile($tmp, 'pin.cnf');
    write_file($cnf, <<"CNF");
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
pkcs11be = pkcs11be_sect
default = default_sect
[pkcs11be_sect]
module = @{[provider_module()]}
pkcs11-pin = file:$pinfile
activate = 1
[default_sect]
activate = 1
CNF
    reset_counts();
    my $sig = File::Spec->catfile($tmp, 'cnf.sig');
    my ($rc, $o, $e) = ossl('pkeyutl', '-sign', '-propquery',
                            'provider=pkcs11be', '-inkey', $priv, '-in', $msg,
                            '-out', $sig,
                            { env => { %nopin, OPENSSL_CONF => $cnf } });
    is($rc, 0, 'pkcs11-pin = file:... in the config file') or diag "$o$e";
    is(count_of('C_Sign'), 1, 'signed on the token');
};

subtest 'PIN from the passphrase (-passin)' => sub {
    plan tests => 3;
    reset_counts();
    my ($ok, $out) = sign($priv, '-passin', "pass:$pin");
    ok($ok, 'pkeyutl -passin pass:PIN') or diag $out;
    is(count_of('C_Login'), 1, 'one login');
    is(count_of('C_Sign'), 1, 'on the token');
};

subtest 'the URI wins over the configured PIN' => sub {
    plan tests => 3;
    reset_counts();
    my ($ok, $out) = sign("$priv?pin-value=$wrong",
                          { CRYPTOGRAPHY_PKCS11_PASSWORD => $pin });
    ok(!$ok, 'a wrong pin-value fails although the configured PIN is right');
    like($out, qr/C_Login failed: CKR_PIN_INCORRECT \(PIN from URI pin-value\)/,
         'naming the PIN\'s source');
    is(count_of('C_Login'), 1, 'one C_Login');
};

subtest 'a wrong PIN is tried once per process' => sub {
    plan tests => 6;
    my $check = test_program('store_check');
    my $log = File::Spec->catfile($tmp, 'debug.log');
    reset_counts();
    my ($rc, $out, $err) = run($check, "$priv?pin-value=$wrong", 3,
                               { env => { %nopin, P11BE_BUILD_DIR => build_dir(),
                                          P11BE_DEBUG => $log } });
    isnt($rc, 0, 'three loads with a wrong PIN fail');
    is(() = $out =~ /^load \d: failed$/mg, 3, 'all three');
    is(count_of('C_Login'), 1, 'C_Login was called once');
    like($out, qr/not retried in this process/, 'later ones say why');
    unlike("$out$err", qr/$wrong/, 'the PIN is not in any error');
    unlike(read_file($log), qr/$wrong/, 'nor in the debug log');
};

# A token that counts wrong PINs (opencryptoki, a TPM, NSS) says after two
# that the next locks it, and pkcs11be then tries no PIN at all: a login
# with the right PIN (not through pkcs11be) clears the count.
if (token_kind() =~ /\A(?:opencryptoki|tpm|nss)\z/) {
    my ($rc, undef, $err) = run('pkcs11-tool', '--module', real_module(),
        '--slot', real_slot(), '--login', '--pin', $pin, '--list-objects');
    diag "clearing the wrong-PIN count failed: $err" if $rc != 0;
}

subtest 'the right PIN through a program\'s passphrase callback' => sub {
    plan tests => 3;
    my $check = test_program('store_check');
    reset_counts();
    my ($rc, $out, $err) = run($check, $priv, 2, $pin,
                               { env => { %nopin, P11BE_BUILD_DIR => build_dir() } });
    is($rc, 0, 'two loads and signatures') or diag "$out$err";
    is(count_of('C_Login'), 1, 'one login for both');
    is(count_of('C_Sign'), 2, 'two signatures on the token');
};

subtest 'no PIN anywhere' => sub {
    plan tests => 5;
    reset_counts();
    my ($ok, $out) = sign($priv);
    ok(!$ok, 'a private key cannot be used');
    like($out, qr/needs a login to find private keys: give pin-value or pin-source in the URI, set pkcs11-pin, or a passphrase/,
         'the error says where a PIN may come from');
    is(count_of('C_Login'), 0, 'no C_Login without a PIN');
    my ($rc, $o, $e) = p11('storeutl', "pkcs11:object=$label");
    like($o, qr/0: Public key/, 'a listing without a type still shows the public key')
        or diag "$o$e";
    is(count_of('C_Login'), 0, 'still no login');
};

subtest 'a public key needs no login' => sub {
    plan tests => 5;
    reset_counts();
    my ($rc, $out, $err) = p11('pkey', '-pubin', '-in',
                               "pkcs11:object=$label;type=public", '-pubout');
    is($rc, 0, 'openssl pkey -pubin') or diag "$out$err";
    like($out, qr/BEGIN PUBLIC KEY/, 'prints it');
    is(count_of('C_Login'), 0, 'without a login, even with a PIN at hand');
    ($rc, my $out2, $err) = p11('pkey', '-pubin', '-in', $priv, '-pubout');
    is($out2, $out, '-pubin with a type=private URI: the same public key');
    is(count_of('C_Login'), 0, 'still without a login');
};

subtest 'an unreadable pin-source is an error naming the file' => sub {
    plan tests => 2;
    my $missing = File::Spec->catfile($tmp, 'no-such-pin');
    reset_counts();
    my ($ok, $out) = sign("$priv?pin-source=file:$missing");
    like($out, qr/cannot read the pin-source file \Q$missing\E/, 'says which file');
    is(count_of('C_Login'), 0, 'and tries no login');
};

subtest 'a key found by URI signs in a forked child (configured PIN)' => sub {
    plan tests => 5;
    my $check = test_program('store_check');
    reset_counts();
    my ($rc, $out, $err) = run($check, $priv, 1,
                               { env => { P11BE_BUILD_DIR => build_dir(),
                                          STORE_CHECK_FORK => 1 } });
    is($rc, 0, 'loaded, then the child and the parent signed')
        or diag "$out$err";
    like($out, qr/^child: signed$/m, 'the child found the key again');
    is(count_of('C_Sign'), 2, 'both on the token');
    is(count_of('C_CopyObject'), 2, 'a session copy of it in each process');
    is(count_of('C_DestroyObject'), 1,
       'the token key is kept: only the parent\'s copy destroyed (the '
       . 'child exits without freeing the key)');
};

subtest 'a key found by URI signs after the application logged out' => sub {
    plan tests => 5;
    my $check = test_program('store_check');
    my %env = (P11BE_BUILD_DIR => build_dir());
    reset_counts();
    my ($rc, $out, $err) = run($check, $priv, 1, { env => \%env });
    is($rc, 0, 'loaded and signed once') or diag "$out$err";
    my $finds = count_of('C_FindObjects');
    reset_counts();
    ($rc, $out, $err) = run($check, $priv, 1,
                            { env => { %env, STORE_CHECK_LOGOUT => 1 } });
    like($out, qr/^application C_Logout: 0x0$/m, 'the application logged out');
    is($rc, 0, 'the signature after it works') or diag "$out$err";
    is(count_of('C_Sign'), 2, 'both signatures on the token');
    is(count_of('C_FindObjects'), $finds + 1,
       'the private key found again once, with one C_FindObjects');
};
