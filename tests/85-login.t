#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# The login (provider/token/token.c): one state per token in the process, shared
# by every library context; lost and made again when the application logs
# out, closes every session or the token goes; a refused PIN tried once
# per process; an empty PIN never sent; key files never a PIN source; and
# the errors a failed look-up gives. tests/c/login_check.c does the C
# side; the shim's counts prove what reached the token.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Test::More;
use P11BE;

need_mechs(qw(CKM_EC_KEY_PAIR_GEN CKM_ECDSA));
plan tests => 13;

use_shim();
my $tmp = tmp_dir();
my $pin = $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD};
my $check = test_program('login_check');
my %build = (P11BE_BUILD_DIR => build_dir());
my $label = 'login-key';
my $priv = "pkcs11:object=$label;type=private";
my $msg = File::Spec->catfile($tmp, 'msg.bin');
write_file($msg, random_bytes(32, 'login'));
my $setsid = (grep { -x "$_/setsid" } split /:/, $ENV{PATH})[0];

our $timeout = 60;
my @P = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
         '-provider', 'default', '-propquery', '?provider=pkcs11be');

sub path { return File::Spec->catfile($tmp, @_) }

# openssl $cmd with pkcs11be; the configured PIN unless $env says; in a
# session of its own, so that no terminal is there to prompt on.
sub p11 {
    my ($cmd, @args) = @_;
    my $env = (@args && ref $args[-1] eq 'HASH') ? pop @args : {};
    my @pre = defined $setsid ? ("$setsid/setsid", '-w') : ();
    my ($rc, $out, $err) = run(@pre, $ENV{P11BE_OPENSSL} // 'openssl', $cmd,
                               @P, @args, { env => $env, timeout => $timeout });
    return ($rc, "$out$err");
}

sub sign_with {
    my ($key, @more) = @_;
    my $sig = path('sig.bin');
    unlink $sig;
    my ($rc, $out) = p11('pkeyutl', '-sign', '-inkey', $key, '-in', $msg,
                         '-out', $sig, @more);
    return ($rc == 0 && -s $sig, $out);
}

# A PKCS11 KEY URI file (keyuri.h) holding $uri, written as-is.
sub key_file {
    my ($name, $uri) = @_;
    my $utf8 = pack('C C', 0x0c, length $uri) . $uri;
    my $der = pack('C C', 0x30, length $utf8) . $utf8;
    my $file = path($name);
    write_file($file, "-----BEGIN PKCS11 KEY URI-----\n"
                      . encode_base64($der)
                      . "-----END PKCS11 KEY URI-----\n");
    return $file;
}

subtest 'the application logs out: pkcs11be logs in again' => sub {
    plan tests => 8;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'logout',
                               { env => \%build, timeout => 60 });
    is($rc, 0, 'every key made after C_Logout imports and signs')
        or diag "$out$err";
    like($out, qr/^application: C_Logout: 0x0$/m, 'the application logged out');
    like($out, qr/^after: import and sign: ok$/m, 'import');
    like($out, qr/^after: generate and sign: ok$/m, 'generation');
    like($out, qr/^after: sign with the imported key: ok$/m,
         'the key imported before (destroyed by C_Logout) made again');
    like($out, qr/^after: sign with the generated key: (ok|failed: .*session keys cannot come back)$/m,
         'a session pair from before: a clear error');
    is(real_calls('C_Login'), 2, 'logged in once more, once');
    is(count_of('C_Logout'), 1, 'the only C_Logout is the application\'s');
};

subtest 'the application closes every session: pkcs11be logs in again' => sub {
    plan tests => 4;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'closeall',
                               { env => \%build, timeout => 60 });
    is($rc, 0, 'import, generate and sign after C_CloseAllSessions')
        or diag "$out$err";
    like($out, qr/^after: generate and sign: ok$/m, 'generation');
    like($out, qr/^after: import and sign again: ok$/m, 'import');
    is(real_calls('C_Login'), 2, 'logged in once more');
};

subtest 'CKR_DEVICE_REMOVED on C_CreateObject, 16 threads' => sub {
    plan tests => 5;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'threads', 16, 20,
        { env => { %build,
                   P11SHIM_FAULTS => 'C_CreateObject:CKR_DEVICE_REMOVED:nth=40' },
          timeout => 120 });
    is($rc, 0, 'ran') or diag "$out$err";
    is(fault_of('removals'), 1, 'the token was removed once');
    my ($failed) = $out =~ /^threads: ops=\d+ ok=\d+ failed=(\d+)$/m;
    ok(defined $failed && $failed <= 16,
       'at most one failure per thread around the removal')
        or diag $out;
    like($out, qr/^after: ok=16 failed=0$/m, 'then every thread imports and signs')
        or diag $out;
    is(real_calls('C_Login'), 2, 'one login before, one after the removal');
};

subtest 'a wrong PIN in four library contexts: one C_Login' => sub {
    plan tests => 3;
    reset_counts();
    my ($rc, $out, $err) = run($check, 'libctx', 4,
        { env => { %build, CRYPTOGRAPHY_PKCS11_PASSWORD => '97531' },
          timeout => 60 });
    is($rc, 0, 'ran') or diag "$out$err";
    is(() = $out =~ /^ctx \d: failed: .*C_Login failed: CKR_PIN_INCORRECT \(PIN from CRYPTOGRAPHY_PKCS11_PASSWORD\); not retried in this process$/mg,
       4, 'each context fails, saying why') or diag $out;
    is(count_of('C_Login'), 1, 'one C_Login for the four');
};

subtest 'a persistent key to sign with' => sub {
    plan tests => 2;
    reset_counts();
    my ($rc, $out) = p11('genpkey', '-algorithm', 'EC', '-pkeyopt',
                         'ec_paramgen_curve:P-256', '-pkeyopt',
                         "pkcs11-key-label:$label", '-out', path('key.pem'));
    is($rc, 0, 'generated') or diag $out;
    my ($ok, $o) = sign_with(path('key.pem'));
    ok($ok, 'its key file signs') or diag $o;
};

subtest 'an empty PIN is never sent to the token' => sub {
    my $empty = path('empty.pin');
    write_file($empty, '');
    my $blank_line = path('blank-line.pin');
    write_file($blank_line, "\n$pin\n");
    my $dir = path('pin-dir');
    mkdir $dir;
    $ENV{P11BE_TEST_EMPTY} = '';
    my $PW = 'CRYPTOGRAPHY_PKCS11_PASSWORD';
    my @cases = (
        ['an empty PIN file', $priv, { $PW => "file:$empty" },
         qr/the PIN from \Q$PW\E \(the first line of \Q$empty\E\) is empty: not sent/],
        ['a PIN file whose first line is empty', $priv,
         { $PW => "file:$blank_line" },
         qr/the PIN from \Q$PW\E \(the first line of \Q$blank_line\E\) is empty/],
        ['/dev/null', $priv, { $PW => 'file:/dev/null' },
         qr/the PIN from \Q$PW\E \(the first line of \/dev\/null\) is empty/],
        ['a directory', $priv, { $PW => "file:$dir" },
         qr/\Q$PW\E: cannot read the PIN file \Q$dir\E: Is a directory/],
        ['an empty environment variable', $priv,
         { $PW => 'env:P11BE_TEST_EMPTY' },
         qr/the PIN from \Q$PW\E \(the environment variable P11BE_TEST_EMPTY\) is empty/],
        ['an empty setting', $priv, { $PW => '' },
         qr/the PIN from \Q$PW\E is empty/],
        ['pin-value=', "$priv?pin-value=", { $PW => undef },
         qr/the PIN from URI pin-value is empty/],
        ['an empty pin-source file', "$priv?pin-source=file:$empty",
         { $PW => undef },
         qr/the PIN from URI pin-source \(the first line of \Q$empty\E\) is empty/],
        ['an empty passphrase', $priv, { $PW => undef },
         qr/the PIN from the passphrase callback is empty/, '-passin', 'pass:'],
    );
    plan tests => 2 * @cases;
    for my $case (@cases) {
        my ($what, $key, $env, $re, @more) = @$case;
        reset_counts();
        my ($ok, $out) = sign_with($key, @more, $env);
        like($out, $re, "$what: refused, naming the source") or diag $out;
        is(count_of('C_Login'), 0, "$what: no C_Login");
    }
};

subtest 'key files carrying a PIN are refused' => sub {
    plan tests => 8;
    my $fifo = path('pin.fifo');
    POSIX::mkfifo($fifo, 0600) or die "mkfifo: $!";
    my %files = (
        'pin-value' => key_file('pin-value.pem', "$priv?pin-value=$pin"),
        'pin-source' => key_file('pin-source.pem',
                                 "$priv?pin-source=file:$fifo"),
    );
    for my $what (sort keys %files) {
        reset_counts();
        # Opening the FIFO would block until the timeout.
        local $timeout = 20;
        my ($ok, $out) = sign_with($files{$what},
                                   { CRYPTOGRAPHY_PKCS11_PASSWORD => undef });
        ok(!$ok, "$what: the key file is refused");
        like($out, qr/a PKCS11 KEY URI file must not carry a PIN \(pin-value or pin-source\)/,
             "$what: saying why") or diag $out;
        unlike($out, qr/\Q$pin\E/, "$what: without showing the PIN");
        is(count_of('C_Login'), 0, "$what: no C_Login");
    }
};

subtest 'a URI typed on the command line may carry the PIN' => sub {
    plan tests => 2;
    reset_counts();
    my ($ok, $out) = sign_with("$priv?pin-value=$pin",
                               { CRYPTOGRAPHY_PKCS11_PASSWORD => undef });
    ok($ok, 'pkeyutl -inkey URI?pin-value signs') or diag $out;
    is(count_of('C_Login'), 1, 'one C_Login');
};

subtest 'a key file naming a key that is not on the token' => sub {
    plan tests => 3;
    my $file = key_file('gone.pem', 'pkcs11:object=no-such-key;type=private');
    my ($ok, $out) = sign_with($file);
    ok(!$ok, 'fails');
    like($out, qr/no object matches pkcs11:object=no-such-key;type=private on token "[^"]*": C_FindObjects found nothing/,
         'says what was found') or diag $out;
    like($out, qr/likely causes: .*not visible to this user or process.*not logged in.*another token/,
         'and the likely causes') or diag $out;
};

subtest 'pkcs11-key-existing for a key pair that is not on the token' => sub {
    need_mechs(qw(CKM_RSA_PKCS_KEY_PAIR_GEN));
    plan tests => 3;
    my ($rc, $out) = p11('genpkey', '-algorithm', 'RSA', '-pkeyopt',
                         'pkcs11-key-label:not-there', '-pkeyopt',
                         'pkcs11-key-existing:1', '-out', path('nt.pem'));
    isnt($rc, 0, 'fails');
    unlike($out, qr/CKR_KEY_HANDLE_INVALID/, 'no made-up CKR_* code');
    like($out, qr/the persistent RSA key pair labelled "not-there" is not on the token: C_FindObjects found no private key object; likely causes: .*not visible to this user or process/,
         'says what was found, and the likely causes') or diag $out;
};

subtest 'one rule for ambiguous keys: refused, key file or -inkey' => sub {
    plan tests => 4;
    my ($rc, $out) = p11('genpkey', '-algorithm', 'EC', '-pkeyopt',
                         'ec_paramgen_curve:P-256', '-pkeyopt',
                         'pkcs11-key-label:second-key', '-out', path('k2.pem'));
    is($rc, 0, 'a second persistent key') or diag $out;
    my $ok;
    ($ok, $out) = sign_with('pkcs11:type=private');
    ok(!$ok, '-inkey pkcs11:type=private with two keys fails');
    like($out, qr/is ambiguous on token .*2 private keys match/, 'as ambiguous')
        or diag $out;
    ($ok, $out) = sign_with(key_file('amb.pem', 'pkcs11:type=private'));
    like($out, qr/is ambiguous on token .*2 private keys match/,
         'the same URI in a key file: the same error') or diag $out;
};

subtest 'a key file naming a public key where a private key is needed' => sub {
    plan tests => 2;
    my $file = key_file('pub.pem', "pkcs11:object=$label;type=public");
    my ($ok, $out) = sign_with($file);
    ok(!$ok, 'signing fails');
    like($out, qr/pkcs11be.*a PKCS11 KEY URI file names a private key on the token, and pkcs11:object=\Q$label\E;type=public names type=public/,
         'pkcs11be says why') or diag $out;
};

subtest 'a worker running as another user: the error says what to suspect' => sub {
    my $setpriv = (grep { -x "$_/setpriv" } split /:/, $ENV{PATH})[0];
    my $nobody = getpwnam('nobody');
    plan skip_all => 'needs root, setpriv and the user nobody'
        unless $> == 0 && defined $setpriv && defined $nobody;
    plan tests => 3;
    # As nginx's workers: the key file readable, the token's files not
    # (SoftHSM2 makes each token's directory 0700).
    chmod 0711, $tmp;
    chmod 0644, path('key.pem'), $msg;
    my ($rc, $out, $err) = run("$setpriv/setpriv", '--reuid=nobody',
        '--regid=nogroup', '--clear-groups', $ENV{P11BE_OPENSSL} // 'openssl',
        'pkeyutl', '-sign', @P, '-inkey', path('key.pem'), '-in', $msg,
        '-out', '/dev/null',
        { env => { CRYPTOGRAPHY_PKCS11_PATH => real_module(),
                   P11SHIM_COUNTS => undef }, timeout => 60 });
    chmod 0700, $tmp;
    isnt($rc, 0, 'fails');
    like("$out$err", qr/pkcs11be/, 'with an error from pkcs11be');
    # p11-kit's modules number slots by position: as nobody the slot ID
    # names SoftHSM2's empty slot instead, and pkcs11be's error then
    # blames the token's label without the hint (reported to the lead).
    local $main::TODO = 'P11BE_TOKEN=' . token_kind() . ': a slot ID that '
        . 'now names an empty slot gets no user ID hint'
        if token_kind() ne 'softhsm';
    like("$out$err", qr/this process runs as user ID $nobody: a token whose storage that user cannot read is not listed/,
         'naming the likely cause') or diag "$out$err";
};
