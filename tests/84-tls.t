#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# TLS with the private key on the token: openssl s_server and s_client on
# 127.0.0.1, every process bounded by a timeout.
#
# - Keys generated on the token by `openssl genpkey -pkeyopt
#   pkcs11-key-label:NAME`, certificates made by `openssl req -x509 -key
#   'pkcs11:object=NAME;type=private'` (self-signed on the token), the
#   server given the same URI: TLS 1.3 and 1.2 with RSA (PSS and PKCS#1
#   v1.5), ECDSA P-256 and Ed25519, and mutual TLS with the client's key on the
#   token. The providers are `-provider pkcs11be -provider default`
#   (pkcs11be first: OpenSSL 3.0 needs it for pkcs11: keys).
# - A software PEM key under config activation (build/openssl.cnf,
#   ?provider=pkcs11be): pkcs11be imports it as a session object and signs
#   there.
# - TLS 1.2 RSA key exchange (AES128-SHA, AES256-GCM-SHA384): the server
#   decrypts the client's premaster secret on the token (libssl's
#   pad-mode 7), with the key by URI, a software key under config
#   activation, and a token without raw RSA (the shim hides
#   CKM_RSA_X_509, so CKM_RSA_PKCS does it).
# - p11tlsbench for a moment: in one process, with everything but the
#   server key in the default provider, exactly one C_Sign per handshake.
#
# Each process counts into its own shim counter file, so "the server
# signed on the token" is the s_server process's C_Sign count. As the rest
# of the handshake runs through pkcs11be too (pkcs11be first or preferred:
# its HMAC is C_Sign as well), each process's P11BE_DEBUG trace then tells
# the key's C_Sign from the MACs': exactly one per side and handshake.
#
# With pkcs11be preferred, ECDHE on P-256 makes its key share with
# pkcs11be's EC keymgmt (the TLS-GROUP capability keeps the NIST groups),
# and TLS 1.2 AES records move to the default provider when libssl gives
# the cipher its record parameters (cipher.h): both are tested below. The
# other TLS 1.2 tests use ChaCha20-Poly1305, which pkcs11be does not offer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use POSIX ();
use Test::More;
use Time::HiRes ();
use P11BE;


# pkcs11be is preferred for everything here: the key exchange (ECDH), the
# record layer (AES-GCM) and OpenSSL's CTR-DRBG (AES-CTR) run on the token.
need_mechs(qw(CKM_RSA_PKCS_KEY_PAIR_GEN CKM_EC_KEY_PAIR_GEN CKM_ECDSA
              CKM_RSA_PKCS_PSS CKM_ECDH1_DERIVE CKM_AES_GCM CKM_AES_CTR));
plan tests => 16;

use_shim();
my $tmp = tmp_dir();
my @prov = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
            '-provider', 'default');
my $timeout = 60;

sub path { return File::Spec->catfile($tmp, @_) }
sub uri { return "pkcs11:object=$_[0];type=private" }

# A file's bytes, or '' while it does not exist yet.
sub slurp { return -e $_[0] ? read_file($_[0]) : '' }

# Counter file of one process role; created (zeroed) by reset_role().
sub counts_of { return path("$_[0].counts") }

sub reset_role {
    my ($role) = @_;
    local $ENV{P11SHIM_COUNTS} = counts_of($role);
    reset_counts();
    return;
}

sub role_count {
    my ($role, $fn) = @_;
    local $ENV{P11SHIM_COUNTS} = counts_of($role);
    return count_of($fn);
}

# s_server in the background on 127.0.0.1, a port of its own choosing;
# answers one connection (-naccept 1) with its -www status page. Returns
# a handle for server_done(), or undef if it did not start listening.
sub start_server {
    my (%a) = @_;
    my $out = path("server-$a{name}.out");
    my $err = path("server-$a{name}.err");
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        setpgrp(0, 0);
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>', $out) or POSIX::_exit(127);
        open(STDERR, '>', $err) or POSIX::_exit(127);
        while (my ($k, $v) = each %{ $a{env} // {} }) {
            $ENV{$k} = $v;
        }
        {
            no warnings 'exec';
            exec { 'openssl' } 'openssl', 's_server', @{ $a{args} },
                '-accept', '127.0.0.1:0', '-naccept', '1', '-www';
        }
        POSIX::_exit(127);
    }
    my $srv = { pid => $pid, out => $out, err => $err };
    my $deadline = Time::HiRes::time() + $timeout;
    while (Time::HiRes::time() < $deadline) {
        if (slurp($out) =~ /^ACCEPT 127\.0\.0\.1:(\d+)$/m) {
            $srv->{port} = $1;
            return $srv;
        }
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    server_done($srv);
    diag "s_server did not start:\n" . slurp($err);
    return undef;
}

# Waits for the server (bounded), killing it if it is still there;
# returns (exit code, stdout, stderr).
sub server_done {
    my ($srv) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    my $status;

    while (Time::HiRes::time() < $deadline) {
        if (waitpid($srv->{pid}, POSIX::WNOHANG()) == $srv->{pid}) {
            $status = $?;
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    if (!defined $status) {
        kill 'TERM', -$srv->{pid}, $srv->{pid};
        Time::HiRes::sleep(1);
        kill 'KILL', -$srv->{pid}, $srv->{pid};
        waitpid($srv->{pid}, 0);
        $status = 124 << 8;
        diag 's_server timed out and was killed';
    }
    return (POSIX::WIFEXITED($status) ? POSIX::WEXITSTATUS($status) : 128,
            slurp($srv->{out}), slurp($srv->{err}));
}

# Signatures made with a private key on the token, from a P11BE_DEBUG
# trace: the C_Sign calls not traced from stream.c (the engine of digests
# and MACs: HMAC is C_Sign too).
sub key_signs {
    my ($trace) = @_;
    return scalar grep { /token: C_Sign -> CKR_OK/ && !/ stream\.c:/ }
        split /\n/, slurp($trace);
}

# One connection: s_server with %server, s_client with @client; returns
# a hash of what both said, each one's C_Sign count (its own shim counter
# file) and key signatures (its own P11BE_DEBUG trace).
sub handshake {
    my (%a) = @_;
    my %trace = map { $_ => path("$a{name}-$_.trace") } qw(server client);
    my %r;

    reset_role('server');
    reset_role('client');
    unlink values %trace;
    my $srv = start_server(
        name => $a{name}, args => $a{server},
        env => { P11SHIM_COUNTS => counts_of('server'),
                 P11BE_DEBUG => $trace{server},
                 %{ $a{server_env} // {} } })
        or return { client_rc => -1, client_out => 'no server',
                    client_err => '', server_out => '', server_err => '' };
    @r{qw(client_rc client_out client_err)} = ossl(
        's_client', '-connect', "127.0.0.1:$srv->{port}", '-ign_eof',
        @{ $a{client} },
        { stdin => "GET / HTTP/1.0\r\n\r\n", timeout => $timeout,
          env => { P11SHIM_COUNTS => counts_of('client'),
                   P11BE_DEBUG => $trace{client} } });
    @r{qw(server_rc server_out server_err)} = server_done($srv);
    for my $role (qw(server client)) {
        $r{"${role}_sign"} = role_count($role, 'C_Sign');
        $r{"${role}_key_signs"} = key_signs($trace{$role});
    }
    return \%r;
}

# The -www page the client received says which protocol was used.
sub protocol_of {
    my ($r) = @_;
    return $r->{client_out} =~ /^\s*Protocol\s*:\s*(\S+)/m ? $1 : '';
}

# The server's signature scheme as the client printed it (-brief).
sub peer_sig_of {
    my ($r) = @_;
    return $r->{client_err} =~ /^(?:Peer s|S)ignature type: (\S+)/m ? $1 : '';
}

sub explain_failure {
    my ($r) = @_;
    diag "client ($r->{client_rc}):\n$r->{client_out}$r->{client_err}"
        . "server ($r->{server_rc}):\n$r->{server_out}$r->{server_err}";
}

# A handshake that must work (4 tests): protocol, the server's signature
# scheme, the s_server process's C_Sign count, and exactly one signature
# with the server's key on the token (one handshake: CertificateVerify in
# TLS 1.3, ServerKeyExchange in TLS 1.2).
sub handshake_ok {
    my ($name, $want_proto, $want_sig, %a) = @_;
    my $r = handshake(name => $name, %a);

    is(protocol_of($r), $want_proto, "$name: $want_proto negotiated")
        or explain_failure($r);
    is(peer_sig_of($r), $want_sig, "$name: the server signed with $want_sig");
    cmp_ok($r->{server_sign}, '>', 0,
           "$name: the s_server process called C_Sign on the token");
    is($r->{server_key_signs}, 1,
       "$name: one signature with the server key, made on the token");
    return $r;
}

my %keys = (
    'tls-rsa' => ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    'tls-ec' => ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    'tls-client' => ['-algorithm', 'EC', '-pkeyopt',
                     'ec_paramgen_curve:P-256'],
);

subtest 'persistent keys on the token, self-signed certificates' => sub {
    plan tests => 4 * keys %keys;

    for my $name (sort keys %keys) {
        reset_role('gen');
        my ($rc, $out, $err) = ossl(
            'genpkey', @prov, '-propquery', 'provider=pkcs11be',
            @{ $keys{$name} }, '-pkeyopt', "pkcs11-key-label:$name",
            '-out', File::Spec->devnull,
            { env => { P11SHIM_COUNTS => counts_of('gen') } });
        is($rc, 0, "$name generated on the token") or diag $err;

        reset_role('req');
        ($rc, $out, $err) = ossl(
            'req', @prov, '-x509', '-key', uri($name), '-subj', "/CN=$name",
            '-days', '2', '-out', path("$name.crt"),
            { env => { P11SHIM_COUNTS => counts_of('req') } });
        is($rc, 0, "$name: req -x509 with the pkcs11: URI") or diag $err;
        cmp_ok(role_count('req', 'C_Sign'), '>=', 1,
               "$name: the self-signature was made on the token");
        ($rc, $out, $err) = ossl('verify', '-CAfile', path("$name.crt"),
                                 path("$name.crt"));
        like($out, qr/: OK$/m,
             "$name: the default provider verifies the certificate")
            or diag "$out$err";
    }
};

my @rsa_server = (@prov, '-key', uri('tls-rsa'), '-cert', path('tls-rsa.crt'));
my @ec_server = (@prov, '-key', uri('tls-ec'), '-cert', path('tls-ec.crt'));

subtest 'TLS 1.3, RSA key on the token (RSA-PSS)' => sub {
    plan tests => 4;
    handshake_ok('tls13-rsa', 'TLSv1.3', 'RSA-PSS', server => \@rsa_server,
                 client => ['-tls1_3', '-brief']);
};

subtest 'TLS 1.3, ECDSA P-256 key on the token' => sub {
    plan tests => 4;
    handshake_ok('tls13-ec', 'TLSv1.3', 'ECDSA', server => \@ec_server,
                 client => ['-tls1_3', '-brief']);
};

# CHACHA20-POLY1305: pkcs11be has no ChaCha, so libssl's record cipher is
# the default provider's (pkcs11be's AES refuses TLS 1.2 record params).
subtest 'TLS 1.2, RSA key on the token, RSA-PSS signature' => sub {
    plan tests => 4;
    handshake_ok('tls12-rsa-pss', 'TLSv1.2', 'RSA-PSS',
                 server => \@rsa_server,
                 client => ['-tls1_2', '-brief', '-sigalgs',
                            'rsa_pss_rsae_sha256', '-cipher',
                            'ECDHE-RSA-CHACHA20-POLY1305']);
};

subtest 'TLS 1.2, RSA key on the token, PKCS#1 v1.5 signature' => sub {
    plan tests => 4;
    handshake_ok('tls12-rsa-pkcs1', 'TLSv1.2', 'RSA',
                 server => \@rsa_server,
                 client => ['-tls1_2', '-brief', '-sigalgs',
                            'rsa_pkcs1_sha256', '-cipher',
                            'ECDHE-RSA-CHACHA20-POLY1305']);
};

subtest 'TLS 1.2, ECDSA P-256 key on the token' => sub {
    plan tests => 4;
    handshake_ok('tls12-ec', 'TLSv1.2', 'ECDSA', server => \@ec_server,
                 client => ['-tls1_2', '-brief', '-cipher',
                            'ECDHE-ECDSA-CHACHA20-POLY1305']);
};

subtest 'TLS 1.3 and 1.2, Ed25519 key on the token' => sub {
    need_mechs(qw(CKM_EDDSA CKM_EC_EDWARDS_KEY_PAIR_GEN));
    plan tests => 11;

    reset_role('gen');
    my ($rc, $out, $err) = ossl(
        'genpkey', @prov, '-propquery', 'provider=pkcs11be', '-algorithm',
        'ED25519', '-pkeyopt', 'pkcs11-key-label:tls-ed', '-out',
        File::Spec->devnull,
        { env => { P11SHIM_COUNTS => counts_of('gen') } });
    is($rc, 0, 'tls-ed generated on the token') or diag $err;
    ($rc, $out, $err) = ossl('req', @prov, '-x509', '-key', uri('tls-ed'),
                             '-subj', '/CN=tls-ed', '-days', '2', '-out',
                             path('tls-ed.crt'));
    is($rc, 0, 'tls-ed: certificate signed on the token') or diag $err;
    ($rc, $out, $err) = ossl('verify', '-CAfile', path('tls-ed.crt'),
                             path('tls-ed.crt'));
    like($out, qr/: OK$/m, 'tls-ed: the default provider verifies it');
    my @server = (@prov, '-key', uri('tls-ed'), '-cert', path('tls-ed.crt'));
    handshake_ok('tls13-ed', 'TLSv1.3', 'ed25519', server => \@server,
                 client => ['-tls1_3', '-brief']);
    handshake_ok('tls12-ed', 'TLSv1.2', 'ed25519', server => \@server,
                 client => ['-tls1_2', '-brief', '-cipher',
                            'ECDHE-ECDSA-CHACHA20-POLY1305']);
};

subtest 'mutual TLS 1.3: the client key on the token too' => sub {
    plan tests => 8;

    my $r = handshake_ok(
        'mtls', 'TLSv1.3', 'ECDSA',
        server => [@ec_server, '-Verify', '1', '-verify_return_error',
                   '-CAfile', path('tls-client.crt')],
        client => ['-tls1_3', '-brief', @prov, '-cert',
                   path('tls-client.crt'), '-key', uri('tls-client')]);
    like($r->{server_err}, qr/^depth=0 CN = tls-client\s*\nverify return:1/m,
         'the server verified the client certificate')
        or explain_failure($r);
    like($r->{client_out}, qr/Client certificate.*CN\s*=\s*tls-client/s,
         'the server page shows the client certificate');
    cmp_ok($r->{client_sign}, '>', 0,
           'the s_client process called C_Sign on the token');
    is($r->{client_key_signs}, 1,
       'the client signed its CertificateVerify with its key on the token');
};

subtest 'a client that is not trusted is refused' => sub {
    plan tests => 2;

    my $r = handshake(
        name => 'mtls-untrusted',
        server => [@ec_server, '-Verify', '1', '-verify_return_error',
                   '-CAfile', path('tls-rsa.crt')],
        client => ['-tls1_3', '-brief', @prov, '-cert',
                   path('tls-client.crt'), '-key', uri('tls-client')]);
    isnt(protocol_of($r), 'TLSv1.3', 'no page for an untrusted client');
    like($r->{server_out} . $r->{server_err},
         qr/verify error|certificate verify failed|unable to get/i,
         'the server says why');
};

subtest 'config activation: software PEM keys imported into the token' => sub {
    plan tests => 2 * 5;

    my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');
    for my $alg (['rsa', ['-newkey', 'rsa:2048'], 'RSA-PSS'],
                 ['ec', ['-newkey', 'ec', '-pkeyopt',
                         'ec_paramgen_curve:P-256'], 'ECDSA']) {
        my ($name, $newkey, $sig) = @$alg;
        my $key = path("soft-$name.key");
        my $crt = path("soft-$name.crt");
        my ($rc, $out, $err) = ossl('req', '-x509', @$newkey, '-nodes',
                                    '-keyout', $key, '-out', $crt, '-subj',
                                    "/CN=soft-$name", '-days', '2');
        is($rc, 0, "$name: software key and certificate") or diag $err;
        handshake_ok("soft-$name", 'TLSv1.3', $sig,
                     server => ['-key', $key, '-cert', $crt],
                     server_env => { OPENSSL_CONF => $conf },
                     client => ['-tls1_3', '-brief']);
    }
};

subtest 'p11tlsbench: one C_Sign per handshake, nothing else on the token'
    => sub {
    plan tests => 5;

    my ($rc, $out, $err) = run(test_program('p11tlsbench'), '-s', '0.2',
                               '-n', '5', '--markdown', { timeout => 300 });
    is($rc, 0, 'p11tlsbench ran') or diag "$out$err";
    for my $key ('ECDSA P-256', 'RSA-2048') {
        my ($row) = $out =~ /^(\| \Q$key\E .*)$/m;
        # | key | signature | hs/s | hs/s | ratio | C_Sign/hs | calls | calls |
        my @f = map { s/^\s+|\s+$//gr } split /\|/, $row // '';
        is($f[6], '1.00', "$key: 1 C_Sign per handshake with pkcs11be");
        is($f[8], '0.00', "$key: no PKCS#11 call with the default key");
    }
};

# ---- ECDHE through pkcs11be, TLS 1.2 records on the host ---------------

subtest 'ECDHE on P-256 (the client offers only P-256)' => sub {
    plan tests => 8;
    handshake_ok('tls13-p256', 'TLSv1.3', 'RSA-PSS', server => \@rsa_server,
                 client => ['-tls1_3', '-brief', '-curves', 'P-256']);
    handshake_ok('tls12-p384', 'TLSv1.2', 'RSA-PSS', server => \@rsa_server,
                 client => ['-tls1_2', '-brief', '-curves', 'P-384',
                            '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305']);
};

subtest 'TLS 1.2, RSA key on the token, AES-GCM and AES-CBC records' => sub {
    plan tests => 8;
    handshake_ok('tls12-rsa-gcm', 'TLSv1.2', 'RSA-PSS',
                 server => \@rsa_server,
                 client => ['-tls1_2', '-brief', '-cipher',
                            'ECDHE-RSA-AES128-GCM-SHA256']);
    handshake_ok('tls12-rsa-cbc', 'TLSv1.2', 'RSA-PSS',
                 server => \@rsa_server,
                 client => ['-tls1_2', '-brief', '-cipher',
                            'ECDHE-RSA-AES256-SHA384']);
};

# ---- TLS 1.2 RSA key exchange: the premaster decrypted on the token ----

# Decryptions with a private key on the token, from a P11BE_DEBUG trace:
# the C_Decrypt calls traced from keyobj.c (a record cipher's are not).
sub key_decrypts {
    my ($trace) = @_;
    return scalar grep { /token: C_Decrypt -> CKR_OK/ && / keyobj\.c:/ }
        split /\n/, slurp($trace);
}

# A TLS 1.2 handshake with RSA key exchange that must work (5 tests): the
# page received over it, the cipher suite, the s_server process's
# C_Decrypt count, and one premaster decrypted with the server key.
sub rsa_kex_ok {
    my ($name, $cipher, %a) = @_;
    my $r = handshake(name => $name, client => ['-tls1_2', '-cipher', $cipher],
                      %a);
    my $trace = path("$name-server.trace");

    # s_client prints the session (protocol, cipher) even when the
    # handshake fails; only the -www page proves data went over it.
    like($r->{client_out}, qr{^HTTP/1\.0 200 ok\r?$}m,
         "$name: the server's page came over the connection")
        or explain_failure($r);
    like($r->{client_out}, qr/^\s*Cipher\s*:\s*\Q$cipher\E$/m,
         "$name: $cipher");
    is(protocol_of($r), 'TLSv1.2', "$name: TLSv1.2");
    cmp_ok(role_count('server', 'C_Decrypt'), '>', 0,
           "$name: the s_server process called C_Decrypt on the token");
    is(key_decrypts($trace), 1,
       "$name: one premaster decrypted with the server key on the token");
    return $r;
}

subtest 'TLS 1.2 RSA key exchange, RSA key on the token by URI' => sub {
    plan tests => 10;
    rsa_kex_ok('kex-uri-cbc', 'AES128-SHA', server => \@rsa_server);
    rsa_kex_ok('kex-uri-gcm', 'AES256-GCM-SHA384', server => \@rsa_server);
};

subtest 'TLS 1.2 RSA key exchange, software key under config activation'
    => sub {
    plan tests => 11;
    my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');
    my ($key, $crt) = (path('kex-soft.key'), path('kex-soft.crt'));
    my ($rc, $out, $err) = ossl('req', '-x509', '-newkey', 'rsa:2048',
                                '-nodes', '-keyout', $key, '-out', $crt,
                                '-subj', '/CN=kex-soft', '-days', '2');
    is($rc, 0, 'software key and certificate') or diag $err;
    for my $cipher ('AES128-SHA', 'AES256-GCM-SHA384') {
        rsa_kex_ok("kex-soft-$cipher", $cipher,
                   server => ['-key', $key, '-cert', $crt],
                   server_env => { OPENSSL_CONF => $conf });
    }
};

subtest 'TLS 1.2 RSA key exchange on a token without raw RSA' => sub {
    plan tests => 6;
    rsa_kex_ok('kex-pkcs1', 'AES128-SHA', server => \@rsa_server,
               server_env => { P11SHIM_HIDE_MECHS => '0x3' });
    like(slurp(path('kex-pkcs1-server.trace')),
         qr/TLS premaster with CKM_RSA_PKCS/, 'decrypted with CKM_RSA_PKCS');
};
