#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Secrets (issue 8): the PIN never shows in the debug log, on stderr or in
# the error queue; keys pkcs11be makes are sensitive and not extractable
# (the ECDH secret, extractable by necessity, is destroyed at once; key
# pairs generated without a name are made to be written out, see
# tests/75-keygen-exportable.t, and destroyed at free); a
# wrong PIN is tried once per process, whichever way it was given; and the
# copies of the PIN pkcs11be reads for C_Login are wiped (a scan of the
# process's memory after the workload).
#
# The workload is tests/c/secrets_check.c: every kind of key (imported RSA,
# EC and Ed25519 private keys, HMAC, CMAC and AES keys, key pairs generated
# on the token, ECDH) and two operations that fail on purpose. The shim
# logs the attributes of every object made (P11SHIM_LOG), and C_Login's
# PIN length, never the PIN. The token gets a PIN of its own that no other
# text contains, so a grep for it means something.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

need_mechs(qw(CKM_SHA256 CKM_AES_CBC CKM_ECDSA));

my $PIN = 'Zk9-pkcs11be-PIN-x7Q';
my $WRONG = 'Wq3-wrong-PIN-m2V8';
my $SO_PIN = 'Qso-77-SoPin-secret';

# A second token with a PIN no other text contains.
my ($rc, $out, $err) = run('softhsm2-util', '--init-token', '--free',
    '--label', 'p11be-secrets', '--so-pin', $SO_PIN, '--pin', $PIN);
BAIL_OUT("softhsm2-util --init-token failed: $out$err") if $rc != 0;
# Its slot in the module in front (the proxy numbers slots its own way).
($rc, $out, $err) = run(test_program('p11slot'), real_module(),
                        'p11be-secrets');
BAIL_OUT("the new token is not in " . real_module() . ": $err") if $rc != 0;
chomp(my $slot = $out);
$ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID} = $slot;
delete $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD};

use_shim();
my $check = test_program('secrets_check');
my $pin_file = File::Spec->catfile(tmp_dir(), 'pin.txt');
my $wrong_file = File::Spec->catfile(tmp_dir(), 'wrong-pin.txt');
write_file($pin_file, "$PIN\n");
write_file($wrong_file, "$WRONG\n");

# Each secret, and how a careless trace could spell it.
sub spellings {
    my ($secret) = @_;
    my $hex = unpack('H*', $secret);
    return ($secret, $hex, uc $hex, join(' ', $hex =~ /(..)/g),
            join(':', $hex =~ /(..)/g));
}
# The workload's AES/HMAC key and its message (tests/c/secrets_check.c):
# the debug log may show handles and mechanisms, never key bytes or data.
my $KEY = '0123456789abcdef0123456789abcdef';
my $MSG = 'a message for the secrets workload';
my @secrets = map { spellings($_) } ($PIN, $WRONG, $SO_PIN, $KEY, $MSG);

# No spelling of any secret in the text.
sub no_secret {
    my ($text, $name) = @_;
    my @found = grep { index($text, $_) >= 0 } @secrets;
    is_deeply(\@found, [], $name) or diag("found: @found");
}

# A config file with pkcs11be's params (the form the config gives a PIN).
sub config_with {
    my (%params) = @_;
    my $path = File::Spec->catfile(tmp_dir(),
                                   'openssl-' . int(rand(1e9)) . '.cnf');
    my $text = "openssl_conf = init\n[init]\nproviders = provs\n"
        . "[provs]\npkcs11be = p11\ndefault = dflt\n"
        . "[p11]\nmodule = " . provider_module() . "\nactivate = 1\n";
    $text .= "$_ = $params{$_}\n" for sort keys %params;
    $text .= "[dflt]\nactivate = 1\n";
    write_file($path, $text);
    return $path;
}

# Runs the workload; returns (exit, stdout, stderr, debug log, shim log).
sub workload {
    my ($tag, $rounds, %env) = @_;
    my $debug = File::Spec->catfile(tmp_dir(), "debug-$tag.log");
    my $log = File::Spec->catfile(tmp_dir(), "shim-$tag.log");
    reset_counts();
    my ($rc, $out, $err) = run($check, 'work', $rounds,
        ($env{SECRETS_SCAN_PIN} ? ('scan') : ()),
        { env => { P11BE_BUILD_DIR => build_dir(), P11BE_DEBUG => $debug,
                   P11SHIM_LOG => $log, P11BE_LOGIN => 'at-first-use',
                   %env },
          timeout => 300 });
    return ($rc, $out, $err, (-e $debug ? read_file($debug) : ''),
            (-e $log ? read_file($log) : ''));
}

# --- (c) and (a): a wrong PIN, in each form --------------------------------

my @wrong_forms = (
    ['CRYPTOGRAPHY_PKCS11_PASSWORD literal',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => $WRONG },
     qr/PIN from CRYPTOGRAPHY_PKCS11_PASSWORD/],
    ['CRYPTOGRAPHY_PKCS11_PASSWORD=env:NAME',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => 'env:P11BE_SECRET_PIN',
       P11BE_SECRET_PIN => $WRONG },
     qr/PIN from CRYPTOGRAPHY_PKCS11_PASSWORD/],
    ['CRYPTOGRAPHY_PKCS11_PASSWORD=file:PATH',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => "file:$wrong_file" },
     qr/PIN from CRYPTOGRAPHY_PKCS11_PASSWORD/],
    ['pkcs11-pin literal in the config',
     { OPENSSL_CONF => config_with('pkcs11-pin' => $WRONG) },
     qr/PIN from pkcs11-pin/],
    ['pkcs11-pin = file:PATH in the config',
     { OPENSSL_CONF => config_with('pkcs11-pin' => "file:$wrong_file") },
     qr/PIN from pkcs11-pin/],
);

for my $form (@wrong_forms) {
    my ($name, $env, $source) = @$form;
    subtest "wrong PIN, $name" => sub {
        plan tests => 9;
        my ($rc, $out, $err, $debug, $log) = workload('wrong', 2, %$env);
        is($rc, 0, 'the workload ran (exit 0)') or diag($err);
        my ($ops, $failed) = $out =~ /^ops (\d+) failed (\d+)$/m;
        ok(defined $ops && $failed == $ops - 4,
           'every operation failed (all log in first)')
            or diag($out);
        like($out, qr/C_Login failed: CKR_PIN_INCORRECT \($source\); not retried/,
             'the error says what failed and where the PIN came from');
        is(count_of('C_Login'), 1, "C_Login tried once for $ops operations");
        like($log, qr/login user=1 pin_len=${\ length $WRONG} rv=CKR_PIN_INCORRECT/,
             'the shim saw one login, of the PIN\'s length');
        cmp_ok(length $debug, '>', 0, 'the debug log was written');
        no_secret($debug, 'no PIN, key or message in the debug log');
        no_secret("$out$err", 'no PIN on stdout (error queue) or stderr');
        no_secret($log, 'no PIN in the shim log');
    };
}

# The openssl command with a wrong PIN, tracing to stderr.
{
    reset_counts();
    my ($rc, $out, $err) = ossl_p11('genpkey', '-provider', 'default',
        '-propquery', 'provider=pkcs11be', '-algorithm', 'EC',
        '-pkeyopt', 'ec_paramgen_curve:P-256',
        { env => { CRYPTOGRAPHY_PKCS11_PASSWORD => $WRONG,
                   P11BE_DEBUG => 'stderr' } });
    isnt($rc, 0, 'openssl genpkey with a wrong PIN fails');
    like($err, qr/CKR_PIN_INCORRECT/, '... saying why');
    no_secret("$out$err", '... and prints no PIN, tracing on');
    cmp_ok(count_of('C_Login'), '<=', 1, '... trying the PIN at most once');
}

# --- the right PIN: (a), (b), (c), (d) -------------------------------------

my %right_log;
my @right_forms = (
    ['CRYPTOGRAPHY_PKCS11_PASSWORD literal',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => $PIN }, 'literal'],
    ['CRYPTOGRAPHY_PKCS11_PASSWORD=env:NAME',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => 'env:P11BE_SECRET_PIN',
       P11BE_SECRET_PIN => $PIN }, 'env'],
    ['CRYPTOGRAPHY_PKCS11_PASSWORD=file:PATH',
     { CRYPTOGRAPHY_PKCS11_PASSWORD => "file:$pin_file" }, 'file'],
    ['pkcs11-pin = file:PATH in the config',
     { OPENSSL_CONF => config_with('pkcs11-pin' => "file:$pin_file") },
     'file'],
);
for my $form (@right_forms) {
    my ($name, $env, $kind) = @$form;
    subtest "right PIN, $name" => sub {
        plan tests => 10;
        my ($rc, $out, $err, $debug, $log) =
            workload('right', 2, %$env, SECRETS_SCAN_PIN => $PIN);
        is($rc, 0, 'the workload ran (exit 0)') or diag($err);
        like($out, qr/^ops \d+ failed 0$/m, 'every operation worked')
            or diag($out);
        is(count_of('C_Login'), 1, 'one login for the whole workload');
        like($log, qr/login user=1 pin_len=${\ length $PIN} rv=CKR_OK/,
             'the shim saw it, by length');
        (my $printed = $out) =~ s/^scan hit: .*\n//mg;
        no_secret($debug, 'no PIN, key or message in the debug log');
        no_secret("$printed$err", 'no PIN on stdout (error queue) or stderr');
        no_secret($log, 'no PIN in the shim log');
        my ($hits) = $out =~ /^scan: (\d+) hits$/m;
        ok(defined $hits, 'the memory scan ran') or diag($out);
        if ($kind eq 'literal') {
            # The setting itself is kept (it is needed to log in again
            # after the token was removed): one copy, the setting's.
            cmp_ok($hits // 0, '>=', 1,
                   'memory scan finds the kept literal setting (control)');
            cmp_ok($hits // 99, '<=', 1,
                   '... and no other copy of the PIN');
        } else {
            is($hits, 0, "memory scan: no copy of the PIN ($kind form: "
                         . 'the copy read for C_Login was wiped)')
                or diag($out);
            pass('(control only for the literal form)');
        }
        $right_log{$name} = $log;
    };
}

# The wrong PIN did not lock the token: the right one works after it.
# (Shown by the subtests above running after the wrong-PIN ones.)

# --- (b): the attributes of every object made ------------------------------

my $log = $right_log{'CRYPTOGRAPHY_PKCS11_PASSWORD literal'} // '';
my @objects = $log =~ /^(pid=\d+ object .*)$/mg;
my %attr_of = map {
    my %a = /(\w+)=(\S+)/g;
    ($_ => \%a)
} @objects;
my @private = grep { $attr_of{$_}{class} eq '0x3' } @objects;
my @secret = grep { $attr_of{$_}{class} eq '0x4' } @objects;
my @derived = grep { $attr_of{$_}{fn} eq 'C_DeriveKey' } @secret;
my @made_secret = grep { $attr_of{$_}{fn} ne 'C_DeriveKey' } @secret;

cmp_ok(scalar @private, '>=', 10,
       'the workload made private keys (imported and generated)');
cmp_ok(scalar @made_secret, '>=', 10, '... and secret keys');
cmp_ok(scalar @derived, '>=', 2, '... and ECDH secrets');

sub all_have {
    my ($objs, $want, $name) = @_;
    my @bad = grep {
        my $o = $_;
        grep { ($attr_of{$o}{$_} // '') ne $want->{$_} } keys %$want
    } @$objs;
    is_deeply(\@bad, [], $name) or diag(join("\n", @bad));
}

my @generated = grep { $attr_of{$_}{fn} =~ /GenerateKey/ } @private;
all_have([(grep { $attr_of{$_}{fn} !~ /GenerateKey/ } @private),
          @made_secret],
         { sensitive => 1, extractable => 0, token => 0 },
         'every imported private key and secret key: CKA_SENSITIVE, not '
         . 'CKA_EXTRACTABLE, a session object');
# The workload names no generated pair: pkcs11-keygen-exportable = auto
# makes them for the application to write out.
all_have(\@generated, { sensitive => 0, extractable => 1, token => 0 },
         'generated private keys (no name): exportable session objects');
all_have(\@made_secret, { wrap => 0, unwrap => 0, derive => 0 },
         'secret keys (HMAC, CMAC, AES) cannot wrap, unwrap or derive');
all_have([grep { $attr_of{$_}{key_type} eq '0x10' } @made_secret],
         { sign => 1, verify => 0, encrypt => 0, decrypt => 0 },
         'HMAC keys: CKA_SIGN only');
all_have([grep { $attr_of{$_}{fn} eq 'C_CreateObject' } @private],
         { unwrap => 0 },
         'imported private keys cannot unwrap (only the usage needed)');
all_have([grep { $attr_of{$_}{key_type} ne '0x0' } @private],
         { decrypt => 0, unwrap => 0 },
         'EC and EdDSA private keys cannot decrypt or unwrap');
my %destroyed;
$destroyed{"$1 $2"} = 1 while $log =~ /^(pid=\d+) destroy h=(\d+) rv=CKR_OK$/mg;
my @kept = grep {
    my ($pid, $h) = /^(pid=\d+) object fn=\S+ h=(\d+)/;
    !$destroyed{"$pid $h"}
} @derived;
is_deeply(\@kept, [], 'every ECDH secret (extractable by necessity) '
          . 'was destroyed');
my @left = grep {
    my ($pid, $h) = /^(pid=\d+) object fn=\S+ h=(\d+)/;
    !$destroyed{"$pid $h"}
} @objects;
is_deeply(\@left, [], 'every object made was destroyed by the end');

done_testing();
