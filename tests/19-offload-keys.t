#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# pkcs11-offload = keys (build/openssl-keys.cnf, P11BE_OFFLOAD=keys): only
# keys that live on the token are used there.
#
# - Digests, ciphers, HMAC and software keys cost no PKCS#11 call at all:
#   the shim's counter file shows every function at 0 (the token is not
#   even opened), and the results are the default provider's.
# - Preferring pkcs11be on the command line (-propquery) does not change
#   that: a software key handed to pkcs11be is used on the host (its
#   P11BE_DEBUG trace says so), and a key generated without a label is a
#   software key. With pkcs11-key-label the key is made on the token.
# - Token keys, by pkcs11: URI and by key file, sign on the token.
# - s_server with the key on the token: exactly one C_SignInit and one
#   C_Sign per handshake (TLS 1.3, and TLS 1.2 ECDHE-ECDSA), counted over
#   several handshakes after a first one; the figure of offload "all"
#   (build/openssl.cnf) is reported beside it.
# - p11tlsbench --offload keys (no property query, a token session key):
#   C_SignInit + C_Sign per handshake, nothing else.
# - openssl list -providers -verbose shows the module, slot, token and
#   offload mode (OpenSSL 3.0 prints only the names of other parameters).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use POSIX ();
use Test::More;
use Time::HiRes ();
use P11BE;

my $keys_cnf = File::Spec->catfile(build_dir(), 'openssl-keys.cnf');
my $all_cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
plan skip_all => "no $keys_cnf (configure with CMake)" unless -f $keys_cnf;
need_mechs(qw(CKM_EC_KEY_PAIR_GEN CKM_ECDSA CKM_RSA_PKCS_KEY_PAIR_GEN
              CKM_RSA_PKCS));
plan tests => 11;

use_shim();
my $tmp = tmp_dir();
my $timeout = 60;
# Handshakes counted after the first (which loads the key and logs in).
my $rounds = 4;

sub path { return File::Spec->catfile($tmp, @_) }
sub uri { return "pkcs11:object=$_[0];type=private" }
sub slurp { return -e $_[0] ? read_file($_[0]) : '' }

my $keys = { env => { OPENSSL_CONF => $keys_cnf } };
my $plain = { env => { OPENSSL_CONF => undef, P11SHIM_COUNTS => undef } };

sub total_calls {
    my $sum = 0;
    $sum += $_ for values %{ counts() };
    return $sum;
}

sub keys_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = ossl(@args, $keys);
    is($rc, 0, $name) or diag $err;
    return $out;
}

sub plain_out {
    my ($rc, $out, $err) = ossl(@_, $plain);
    diag $err if $rc != 0;
    return $out;
}

my $msg = path('msg.bin');
write_file($msg, random_bytes(3000, 19));
for my $alg (['ec', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
             ['rsa', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']) {
    my ($name, @gen) = @$alg;
    ossl('genpkey', @gen, '-out', path("soft-$name.pem"), $plain) == 0
        or BAIL_OUT("software $name key");
}

subtest 'openssl list -providers -verbose shows the token settings' => sub {
    plan tests => 2;
    my $slot = $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
    my $out = keys_ok('listed', 'list', '-providers', '-verbose');
    like($out, qr/build info: pkcs11be .*; module \Q$ENV{CRYPTOGRAPHY_PKCS11_PATH}\E, slot \Q$slot\E, token \(any\), offload keys$/m,
         'module, slot, token and offload mode in the build info');
};

subtest 'digests, ciphers and HMAC: the default provider, no token call'
    => sub {
    plan tests => 2 * 12;
    my $key = '00112233445566778899aabbccddeeff' x 2;
    my $iv = 'ffeeddccbbaa99887766554433221100';
    my @enc = ('enc', '-aes-256-cbc', '-K', $key, '-iv', $iv, '-in', $msg);
    # openssl-keys.cnf, and openssl.cnf (pkcs11be preferred) in keys mode.
    for my $setup (['keys.cnf', $keys->{env}],
                   ['preferred', { OPENSSL_CONF => $all_cnf,
                                   P11BE_OFFLOAD => 'keys' }]) {
        my ($how, $env) = @$setup;
        local $keys->{env} = $env;
        reset_counts();
        for my $case (['sha256', 'sha256', $msg],
                      ['aes-256-cbc', @enc],
                      ['HMAC-SHA256', 'dgst', '-sha256', '-hmac', 'secret',
                       $msg]) {
            my ($name, @args) = @$case;
            my $out = keys_ok("$how: $name runs", @args);
            isnt($out, '', "$how: $name: output");
            is($out, plain_out(@args), "$how: $name: the default provider's");
        }
        is(total_calls(), 0, "$how: no PKCS#11 call (token not opened)")
            or diag explain counts();
        my $list = keys_ok("$how: algorithms listed", 'list',
                           '-digest-algorithms', '-mac-algorithms',
                           '-cipher-algorithms');
        unlike($list, qr/pkcs11be/, "$how: no digest, MAC or cipher offered");
    }
};

subtest 'software keys sign in the default provider, no token call' => sub {
    plan tests => 4 * 2;
    for my $name (qw(ec rsa)) {
        my $key = path("soft-$name.pem");
        my $sig = path("soft-$name.sig");
        reset_counts();
        keys_ok("$name: dgst -sign with a PEM key", 'dgst', '-sha256',
                '-sign', $key, '-out', $sig, $msg);
        is(total_calls(), 0, "$name: no PKCS#11 call") or diag explain counts();
        like(plain_out('dgst', '-sha256', '-prverify', $key, '-signature',
                       $sig, $msg),
             qr/Verified OK/, "$name: the default provider verifies it");
        my $ref = plain_out('dgst', '-sha256', '-sign', $key, $msg);
        if ($name eq 'rsa') {
            is(slurp($sig), $ref, 'rsa: the default provider\'s signature');
        } else {
            pass('ec: ECDSA is randomised; verified above');
        }
    }
};

subtest 'pkcs11be preferred: software keys stay on the host' => sub {
    plan tests => 5 * 2 + 4;
    for my $name (qw(ec rsa)) {
        my $key = path("soft-$name.pem");
        my $sig = path("pref-$name.sig");
        my $trace = path("pref-$name.trace");
        reset_counts();
        unlink $trace;
        my ($rc, $out, $err) = ossl(
            'pkeyutl', '-sign', '-rawin', '-digest', 'sha256', '-inkey', $key,
            '-in', $msg, '-out', $sig, '-propquery', '?provider=pkcs11be',
            { env => { %{ $keys->{env} }, P11BE_DEBUG => $trace } });
        is($rc, 0, "$name: pkeyutl -sign -propquery ?provider=pkcs11be")
            or diag $err;
        like(slurp($trace), qr/signature with a software key, offload keys: on the host/,
             "$name: pkcs11be got the key and used it on the host");
        is(total_calls(), 0, "$name: no PKCS#11 call") or diag explain counts();
        ($rc) = ossl('pkeyutl', '-verify', '-rawin', '-digest', 'sha256',
                     '-inkey', $key, '-in', $msg, '-sigfile', $sig, $plain);
        is($rc, 0, "$name: the default provider verifies it");
        my $gen = path("gen-$name.pem");
        reset_counts();
        keys_ok("$name: genpkey through pkcs11be without a label", 'genpkey',
                '-propquery', 'provider=pkcs11be',
                $name eq 'ec' ? ('-algorithm', 'EC', '-pkeyopt',
                                 'ec_paramgen_curve:P-256')
                              : ('-algorithm', 'RSA'),
                '-out', $gen);
    }
    is(total_calls(), 0, 'generated without a PKCS#11 call')
        or diag explain counts();
    like(slurp(path('gen-ec.pem')), qr/^-----BEGIN PRIVATE KEY-----/,
         'written out as a software key');
    like(plain_out('pkey', '-in', path('gen-rsa.pem'), '-noout', '-text'),
         qr/Private-Key: \(2048 bit/, 'the default provider reads it');
    ok(1, 'keys mode keeps unnamed keys in software');
};

my %tokkeys = (
    'off-ec' => ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'off-rsa' => ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
);

subtest 'token keys: generated with a label, sign on the token' => sub {
    plan tests => 9 * 2;
    for my $name (sort keys %tokkeys) {
        reset_counts();
        keys_ok("$name: genpkey -pkeyopt pkcs11-key-label", 'genpkey',
                '-propquery', 'provider=pkcs11be', @{ $tokkeys{$name} },
                '-pkeyopt', "pkcs11-key-label:$name",
                '-out', path("$name.key"));
        is(count_of('C_GenerateKeyPair'), 1, "$name: made on the token");
        like(slurp(path("$name.key")), qr/^-----BEGIN PKCS11 KEY URI-----/,
             "$name: written as a reference to the token key");
        keys_ok("$name: public key", 'pkey', '-in', path("$name.key"),
                '-pubout', '-out', path("$name.pub"));
        for my $how (['by URI', uri($name)], ['by key file', path("$name.key")]) {
            my ($what, $key) = @$how;
            my $sig = path("$name.sig");
            reset_counts();
            keys_ok("$name $what: dgst -sign", 'dgst', '-sha256', '-sign',
                    $key, '-out', $sig, $msg);
            is(count_of('C_Sign'), 1, "$name $what: signed on the token");
        }
        like(plain_out('dgst', '-sha256', '-verify', path("$name.pub"),
                       '-signature', path("$name.sig"), $msg),
             qr/Verified OK/, "$name: the default provider verifies it");
    }
    ossl('req', '-x509', '-key', uri('off-ec'), '-subj', '/CN=off-ec',
         '-days', '2', '-out', path('off-ec.crt'), $keys) == 0
        or diag 'no certificate for off-ec';
    ossl('req', '-x509', '-key', uri('off-rsa'), '-subj', '/CN=off-rsa',
         '-days', '2', '-out', path('off-rsa.crt'), $keys) == 0
        or diag 'no certificate for off-rsa';
};

# ---- s_server: PKCS#11 calls per handshake ------------------------------

# s_server answering $rounds + 2 connections with its -www page, counting
# into its own counter file; the first handshake is a warm-up (key found,
# login, its session copy made), the calls of the next $rounds are divided
# by $rounds, and one more ends s_server. Returns
# { calls => { C_Name => per handshake }, protocol, sig, error }.
sub per_handshake {
    my (%a) = @_;
    my $counts = path("server-$a{name}.counts");
    my $out = path("server-$a{name}.out");
    my %r = (calls => {}, protocol => '', sig => '', error => '');
    local $ENV{P11SHIM_COUNTS} = $counts;
    reset_counts();

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>', $out) or POSIX::_exit(127);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
        $ENV{OPENSSL_CONF} = $a{conf};
        %ENV = (%ENV, %{ $a{env} // {} });
        { no warnings 'exec';
          exec { 'openssl' } 'openssl', 's_server', @{ $a{server} },
              '-accept', '127.0.0.1:0', '-naccept', $rounds + 2, '-www'; }
        POSIX::_exit(127);
    }
    my $port;
    my $deadline = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $deadline) {
        last if ($port) = slurp($out) =~ /^ACCEPT 127\.0\.0\.1:(\d+)$/m;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    my ($before, $after);
    for my $i (0 .. $rounds + 1) {
        last unless $port;
        my ($rc, $cout, $cerr) = ossl(
            's_client', '-connect', "127.0.0.1:$port", '-ign_eof', '-brief',
            @{ $a{client} },
            { stdin => "GET / HTTP/1.0\r\n\r\n", timeout => $timeout,
              env => { OPENSSL_CONF => undef, P11SHIM_COUNTS => undef } });
        if ($cout !~ /^\s*Protocol\s*:\s*(\S+)/m) {
            $r{error} = "handshake $i: $cerr";
            last;
        }
        $r{protocol} = $1;
        ($r{sig}) = $cerr =~ /^(?:Peer s|S)ignature type: (\S+)/m;
        $before = counts() if $i == 0;
        # The last connection only lets s_server exit: freeing its key as
        # it does (a token key's session copy destroyed) is no handshake's.
        $after = counts() if $i == $rounds;
    }
    $deadline = Time::HiRes::time() + $timeout;
    while (waitpid($pid, POSIX::WNOHANG()) != $pid) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', -$pid, $pid;
            waitpid($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    $r{error} ||= 's_server did not start: ' . slurp($out) unless $port;
    if (!$r{error}) {
        for my $fn (keys %$after) {
            my $n = $after->{$fn} - ($before->{$fn} // 0);
            $r{calls}{$fn} = $n / $rounds if $n > 0;
        }
    }
    return \%r;
}

sub calls_text {
    my ($calls) = @_;
    return join(', ', map { "$_ $calls->{$_}" } sort keys %$calls) || 'none';
}

sub total { my $t = 0; $t += $_ for values %{ $_[0] }; return $t }

# Keys mode: exactly C_SignInit + C_Sign per handshake, nothing else; the
# same handshakes with offload "all" for comparison (reported, and more).
sub server_case {
    my ($name, $proto, $sig, %a) = @_;
    my $k = per_handshake(name => "$name-keys", conf => $keys_cnf, %a);
    is($k->{error}, '', "$name: $rounds + 2 handshakes in keys mode");
    is($k->{protocol}, $proto, "$name: $proto");
    is($k->{sig}, $sig, "$name: the server signed with $sig");
    is_deeply($k->{calls}, { C_SignInit => 1, C_Sign => 1 },
              "$name: keys mode, per handshake: C_SignInit 1, C_Sign 1")
        or diag 'per handshake: ' . calls_text($k->{calls});
    SKIP: {
        # Offload all puts the key exchange and the record layer on the
        # token too.
        my $why = lacks_mechs(qw(CKM_ECDH1_DERIVE CKM_AES_GCM));
        skip "$name: offload all: $why", 1 if $why;
        my $all = per_handshake(name => "$name-all", conf => $all_cnf, %a);
        cmp_ok(total($all->{calls}), '>', 2,
               "$name: offload all makes more calls per handshake")
            or diag $all->{error};
        diag sprintf('%s: PKCS#11 calls per handshake: keys %g, all %g (%s)',
                     $name, total($k->{calls}), total($all->{calls}),
                     calls_text($all->{calls}));
    }
}

subtest 'TLS 1.3 s_server, EC key on the token by URI' => sub {
    plan tests => 5;
    server_case('tls13-ec-uri', 'TLSv1.3', 'ECDSA',
                server => ['-key', uri('off-ec'), '-cert', path('off-ec.crt')],
                client => ['-tls1_3']);
};

subtest 'TLS 1.3 s_server, RSA key on the token by key file' => sub {
    plan tests => 5;
    server_case('tls13-rsa-file', 'TLSv1.3', 'RSA-PSS',
                server => ['-key', path('off-rsa.key'), '-cert',
                           path('off-rsa.crt')],
                client => ['-tls1_3']);
};

subtest 'TLS 1.2 ECDHE-ECDSA s_server, EC key on the token' => sub {
    plan tests => 5;
    server_case('tls12-ecdhe-ecdsa', 'TLSv1.2', 'ECDSA',
                server => ['-key', uri('off-ec'), '-cert', path('off-ec.crt')],
                client => ['-tls1_2', '-cipher',
                           'ECDHE-ECDSA-AES128-GCM-SHA256']);
};

# openssl.cnf prefers pkcs11be; in keys mode the ECDHE key share (P-256,
# which pkcs11be's EC keymgmt then generates) is a software key, made and
# used on the host.
subtest 'pkcs11be preferred in keys mode: ECDHE P-256 costs no call' => sub {
    plan tests => 2 * 3;
    for my $case (['tls13-preferred', 'TLSv1.3', ['-groups', 'P-256']],
                  ['tls12-preferred', 'TLSv1.2',
                   ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256',
                    '-curves', 'P-256']]) {
        my ($name, $proto, $client) = @$case;
        my $r = per_handshake(
            name => $name, conf => $all_cnf,
            env => { P11BE_OFFLOAD => 'keys' },
            server => ['-key', uri('off-ec'), '-cert', path('off-ec.crt')],
            client => $client);
        is($r->{error}, '', "$name: handshakes");
        is($r->{protocol}, $proto, "$name: $proto");
        is_deeply($r->{calls}, { C_SignInit => 1, C_Sign => 1 },
                  "$name: per handshake: C_SignInit 1, C_Sign 1")
            or diag 'per handshake: ' . calls_text($r->{calls});
    }
};

subtest 'a bad pkcs11-offload value names the setting' => sub {
    plan tests => 2;
    my ($rc, $out, $err) = ossl('dgst', '-sha256', '-sign', uri('off-ec'),
                                $msg,
                                { env => { OPENSSL_CONF => $all_cnf,
                                           P11BE_OFFLOAD => 'key' } });
    isnt($rc, 0, 'the operation fails');
    like($err, qr/P11BE_OFFLOAD="key": not a known value/,
         'the error names P11BE_OFFLOAD and its value');
};

subtest 'p11tlsbench --offload keys: C_SignInit + C_Sign per handshake' => sub {
    # Both of its ways sign with a session key pair made on the token
    # (CKA_TOKEN false, pkcs11-keygen-exportable = no), which tpm2-pkcs11
    # refuses: it keeps no session keys ("Expected attr 0x1 to be 0").
    plan skip_all => 'the tpm token (tpm2-pkcs11) makes no session key '
        . 'pairs, which p11tlsbench signs with' if token_kind() eq 'tpm';
    plan tests => 5;
    my ($rc, $out, $err) = run(test_program('p11tlsbench'), '-s', '0.2',
                               '-n', '5', '--offload', 'keys', '--markdown',
                               { timeout => 300 });
    is($rc, 0, 'p11tlsbench ran') or diag "$out$err";
    for my $key ('ECDSA P-256', 'RSA-2048') {
        my ($row) = $out =~ /^(\| \Q$key\E .*)$/m;
        # | key | signature | hs/s | hs/s | ratio | C_Sign/hs | calls | calls |
        my @f = map { s/^\s+|\s+$//gr } split /\|/, $row // '';
        is($f[6], '1.00', "$key: 1 C_Sign per handshake");
        is($f[7], '2.00', "$key: 2 PKCS#11 calls per handshake in all");
    }
};
