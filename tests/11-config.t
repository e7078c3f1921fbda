# SPDX-License-Identifier: Apache-2.0
# Configuration: environment alone, config file alone, both (the config
# file wins), slot choice by id and by label, the PIN's three forms, the
# one-shot login, and bad settings that must fail clearly without a crash.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use P11BE;

# SHA-256 on the token is what every check here runs.
need_mechs(qw(CKM_SHA256));

my $shim = use_shim();
my $slot = $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
my $label = $ENV{P11BE_TOKEN_LABEL};
my $pin = $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD};
my $file = tmp_dir() . '/abc.txt';
write_file($file, 'abc');
my @strict = ('-provider', 'default', '-propquery', 'provider=pkcs11be');
my %no_env = map { ($_ => undef) } qw(CRYPTOGRAPHY_PKCS11_PATH
    CRYPTOGRAPHY_PKCS11_SLOT_ID CRYPTOGRAPHY_PKCS11_PASSWORD
    CRYPTOGRAPHY_PKCS11_FLAGS CRYPTOGRAPHY_PKCS11_USER_TYPE);

# An OpenSSL config that activates pkcs11be with these provider params.
sub config_with {
    my (%params) = @_;
    my $path = tmp_dir() . '/openssl-' . (0 + keys %params) . '-'
        . int(rand(1e9)) . '.cnf';
    my $text = "openssl_conf = init\n[init]\nproviders = provs\n"
        . "alg_section = algs\n[provs]\npkcs11be = p11\ndefault = dflt\n"
        . "[p11]\nmodule = " . provider_module() . "\nactivate = 1\n";
    $text .= "$_ = $params{$_}\n" for sort keys %params;
    $text .= "[dflt]\nactivate = 1\n[algs]\n"
        . "default_properties = ?provider=pkcs11be\n";
    write_file($path, $text);
    return $path;
}

sub dgst_ok {
    my ($rc, $out, $err, $name) = @_;
    ok($rc == 0 && $out =~ /\Q${\ sha256_hex('abc')}\E/, $name)
        or diag "exit $rc: $out$err";
}

# Environment alone.
reset_counts();
my ($rc, $out, $err) = ossl_p11('dgst', @strict, '-sha256', $file);
dgst_ok($rc, $out, $err, 'environment alone');
cmp_ok(count_of('C_Digest'), '>=', 1, 'environment alone: on the token');

# Config file alone: plain `openssl dgst`, no -provider, no environment.
# The PIN too: tpm2-pkcs11 hashes only for a logged-in user (C_DigestInit
# answers CKR_USER_NOT_LOGGED_IN).
my $cnf = config_with('pkcs11-module-path' => $shim,
                      'pkcs11-slot-id' => $slot, 'pkcs11-pin' => $pin);
reset_counts();
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
                         { env => { %no_env, OPENSSL_CONF => $cnf } });
dgst_ok($rc, $out, $err, 'config file alone');
cmp_ok(count_of('C_Digest'), '>=', 1, 'config file alone: on the token');

# Both: the config file's parameters win over the environment.
$cnf = config_with('pkcs11-slot-id' => $slot);
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
    { env => { OPENSSL_CONF => $cnf, CRYPTOGRAPHY_PKCS11_SLOT_ID => 4242 } });
dgst_ok($rc, $out, $err, 'config slot id wins over a wrong env slot id');
$cnf = config_with('pkcs11-slot-id' => 4242);
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
                         { env => { OPENSSL_CONF => $cnf } });
isnt($rc, 0, 'a wrong config slot id wins over a right env slot id');
like($err, qr/pkcs11-slot-id=4242: no token in that slot/,
     '... and the error names the config parameter');

# Slot by token label.
$cnf = config_with('pkcs11-token-label' => $label);
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
    { env => { OPENSSL_CONF => $cnf, CRYPTOGRAPHY_PKCS11_SLOT_ID => undef } });
dgst_ok($rc, $out, $err, 'slot chosen by token label');
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
                         { env => { CRYPTOGRAPHY_PKCS11_SLOT_ID => undef } });
dgst_ok($rc, $out, $err, 'no slot id: the first initialised token')
    unless 0; # SoftHSM2 also shows a blank token: it must be skipped

# Loading never needs the token, nor a module path.
($rc, $out, $err) = ossl_p11('list', '-providers', '-verbose',
    { env => { %no_env } });
is($rc, 0, 'openssl list works with no module configured') or diag $err;
like($out, qr/pkcs11-module-path: .*|pkcs11be/, 'provider is listed');

# PIN forms and the login, with pkcs11-login = at-first-use so that a
# digest logs in.
my $pin_file = tmp_dir() . '/pin.txt';
write_file($pin_file, "$pin\nsecond line ignored\n");
for my $form (["literal", $pin], ["file:", "file:$pin_file"],
              ["env:", "env:P11BE_TEST_PIN"]) {
    reset_counts();
    $cnf = config_with('pkcs11-login' => 'at-first-use',
                       'pkcs11-pin' => $form->[1]);
    ($rc, $out, $err) = ossl('dgst', '-sha256', $file, $file,
        { env => { OPENSSL_CONF => $cnf, P11BE_TEST_PIN => $pin,
                   CRYPTOGRAPHY_PKCS11_PASSWORD => undef } });
    dgst_ok($rc, $out, $err, "PIN as $form->[0]: works");
    is(count_of('C_Login'), 1, "PIN as $form->[0]: one login for two digests");
}

# A wrong PIN: tried once, reported, never retried, nothing leaks it.
reset_counts();
($rc, $out, $err) = ossl_p11('dgst', @strict, '-sha256', $file, $file,
    { env => { P11BE_LOGIN => 'at-first-use',
               CRYPTOGRAPHY_PKCS11_PASSWORD => '98765' } });
isnt($rc, 0, 'wrong PIN: the digest fails');
cmp_ok($rc, '<', 128, 'wrong PIN: no crash');
like($err, qr/C_Login failed: CKR_PIN_INCORRECT \(PIN from CRYPTOGRAPHY_PKCS11_PASSWORD\)/,
     'wrong PIN: the error says what failed and where the PIN came from');
unlike($err, qr/98765/, 'wrong PIN: the PIN itself is never printed');
is(count_of('C_Login'), 1, 'wrong PIN: tried once for two digests');
reset_counts();
($rc, $out, $err) = ossl_p11('dgst', @strict, '-sha256', $file,
    { env => { P11BE_LOGIN => 'at-first-use' } });
dgst_ok($rc, $out, $err, 'the right PIN works afterwards');
is(count_of('C_Login'), 1, '... with one login');

# Bad settings: each a clear error naming the setting, and no crash.
my @bad = (
    ['no module path', { CRYPTOGRAPHY_PKCS11_PATH => undef },
     qr/pkcs11-module-path is not set/],
    ['a module that is not PKCS#11',
     { CRYPTOGRAPHY_PKCS11_PATH => (glob('/lib/*/libc.so.6'))[0]
           // '/lib/x86_64-linux-gnu/libc.so.6' },
     qr/CRYPTOGRAPHY_PKCS11_PATH=.*is not a PKCS#11 module/],
    ['a module path that does not exist',
     { CRYPTOGRAPHY_PKCS11_PATH => '/nonexistent/module.so' },
     qr/cannot load the PKCS#11 module.*CRYPTOGRAPHY_PKCS11_PATH=/],
    ['a slot that does not exist', { CRYPTOGRAPHY_PKCS11_SLOT_ID => 4242 },
     qr/CRYPTOGRAPHY_PKCS11_SLOT_ID=4242: no token in that slot/],
    ['a slot id that is not a number',
     { CRYPTOGRAPHY_PKCS11_SLOT_ID => 'first' },
     qr/CRYPTOGRAPHY_PKCS11_SLOT_ID="first": expected a decimal number/],
    ['an unknown login policy', { P11BE_LOGIN => 'sometimes' },
     qr/P11BE_LOGIN="sometimes": not a known value/],
);
for my $case (@bad) {
    my ($name, $env, $want) = @$case;
    ($rc, $out, $err) = ossl_p11('dgst', @strict, '-sha256', $file,
                                 { env => $env });
    ok($rc != 0 && $rc < 128, "$name: fails without a crash (exit $rc)");
    like($err, $want, "$name: clear error");
}
$cnf = config_with('pkcs11-token-label' => 'no-such-token');
($rc, $out, $err) = ossl('dgst', '-sha256', $file,
    { env => { OPENSSL_CONF => $cnf, CRYPTOGRAPHY_PKCS11_SLOT_ID => undef } });
ok($rc != 0 && $rc < 128, 'a label no token has: fails without a crash');
like($err, qr/pkcs11-token-label="no-such-token": no token has that label/,
     'a label no token has: clear error');

done_testing();
