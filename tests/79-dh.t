#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# keymgmt "DH" and keyexch "DH" (finite-field Diffie-Hellman on the RFC
# 7919 groups), under config activation (build/openssl.cnf, pkcs11be
# preferred):
#
# - a key pair generated on the token (CKM_DH_PKCS_KEY_PAIR_GEN) on
#   ffdhe2048 and ffdhe3072, written out and read by the default provider
#   (the same group, a public key it takes);
# - the shared secret on the token (C_DeriveKey with CKM_DH_PKCS_DERIVE)
#   equal to the default provider's, both ways; with the token lacking
#   CKM_DH_PKCS_DERIVE (the shim hides it) pkcs11be says so;
# - with kdf-type X942KDF-ASN1 (CMS's DH), the token's secret through the
#   X9.42 KDF of the default provider: the default provider's output;
# - TLS 1.3 on ffdhe2048: s_server and s_client both with pkcs11be
#   preferred, so each side's key share is a key pair on its token and its
#   secret a C_DeriveKey there.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use POSIX ();
use Test::More;
use Time::HiRes ();
use P11BE;

my $cnf = build_dir() . '/openssl.cnf';
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;
need_mechs(qw(CKM_DH_PKCS_KEY_PAIR_GEN CKM_DH_PKCS_DERIVE));
plan tests => 3;

use_shim();
my $dir = tmp_dir();
sub path { return File::Spec->catfile($dir, @_) }
sub slurp { return -e $_[0] ? read_file($_[0]) : '' }

my $conf = { env => { OPENSSL_CONF => $cnf }, timeout => 120 };
my $plain = { env => { OPENSSL_CONF => undef }, timeout => 120 };

sub conf_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = ossl(@args, $conf);
    is($rc, 0, $name) or diag $err;
    return $out;
}

sub plain_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = ossl(@args, $plain);
    is($rc, 0, $name) or diag $err;
    return $out;
}

# The largest prime CKM_DH_PKCS_DERIVE takes, in bits, from the token's
# C_GetMechanismInfo as OpenSC's pkcs11-tool prints it ("keySize={512,2048}";
# 0: no limit given). opencryptoki's soft token derives on primes of at most
# 2048 bits (it refuses a longer public value with
# CKR_MECHANISM_PARAM_INVALID) though it generates longer keys.
sub derive_max_bits {
    my ($rc, $out) = run('pkcs11-tool', '--module', real_module(), '--slot',
                         real_slot(), '-M');
    return $rc == 0 && $out =~ /^\s*DH-PKCS-DERIVE, keySize=\{\d+,(\d+)\}/m
        ? $1 : 0;
}
my $derive_max = derive_max_bits();

for my $group (qw(ffdhe2048 ffdhe3072)) {
    my ($bits) = $group =~ /(\d+)\z/;
    subtest "$group: keys on the token, secrets as the default provider's"
        => sub {
        plan skip_all => 'the ' . token_kind() . ' token\'s CKM_DH_PKCS_DERIVE'
            . " takes primes of at most $derive_max bits, not $bits"
            if $derive_max > 0 && $derive_max < $bits;
        plan tests => 21;
        my ($a, $t) = (path("$group-a"), path("$group-t"));

        plain_ok('a key by the default provider', 'genpkey', '-algorithm',
                 'DH', '-pkeyopt', "group:$group", '-out', "$a.pem");
        reset_counts();
        conf_ok('a key pair generated on the token', 'genpkey', '-algorithm',
                'DH', '-pkeyopt', "group:$group", '-out', "$t.pem");
        is(count_of('C_GenerateKeyPair'), 1, 'by C_GenerateKeyPair');
        my $text = plain_ok('the default provider reads it', 'pkey', '-in',
                            "$t.pem", '-noout', '-text');
        like($text, qr/GROUP: \Q$group\E/, "on $group");
        for my $k ($a, $t) {
            plain_ok("public half of $k", 'pkey', '-in', "$k.pem", '-pubout',
                     '-out', "$k.pub");
        }
        plain_ok('the default provider derives', 'pkeyutl', '-derive',
                 '-inkey', "$a.pem", '-peerkey', "$t.pub", '-out',
                 "$a.secret");
        reset_counts();
        conf_ok('pkcs11be derives with the token key', 'pkeyutl', '-derive',
                '-inkey', "$t.pem", '-peerkey', "$a.pub", '-out',
                "$t.secret");
        is(count_of('C_DeriveKey'), 1, 'by C_DeriveKey on the token');
        ok(length(slurp("$a.secret")) > 0
           && slurp("$a.secret") eq slurp("$t.secret"),
           'the same secret as the default provider');
        reset_counts();
        conf_ok('pkcs11be derives with the default key', 'pkeyutl',
                '-derive', '-inkey', "$a.pem", '-peerkey', "$t.pub", '-out',
                "$a.p11");
        is(count_of('C_DeriveKey'), 1, 'by C_DeriveKey on the token');
        ok(slurp("$a.p11") eq slurp("$a.secret"), 'the same secret again');
        # A key from a file on a token without CKM_DH_PKCS_DERIVE: the
        # default provider's secret, inside pkcs11be (issue 14), unless
        # pkcs11-delegate = no.
        reset_counts();
        my ($rc, $out, $err) = ossl(
            'pkeyutl', '-derive', '-inkey', "$t.pem", '-peerkey', "$a.pub",
            '-out', "$t.host",
            { env => { OPENSSL_CONF => $cnf, P11SHIM_HIDE_MECHS => '0x21' },
              timeout => 120 });
        ok($rc == 0 && slurp("$t.host") eq slurp("$t.secret")
           && count_of('C_DeriveKey') == 0,
           'without CKM_DH_PKCS_DERIVE: the default provider\'s secret')
            or diag $err;
        ($rc, $out, $err) = ossl(
            'pkeyutl', '-derive', '-inkey', "$t.pem", '-peerkey', "$a.pub",
            '-out', File::Spec->devnull,
            { env => { OPENSSL_CONF => $cnf, P11SHIM_HIDE_MECHS => '0x21',
                       P11BE_DELEGATE => 'no' },
              timeout => 120 });
        like($err, qr/CKM_DH_PKCS_DERIVE is not supported by the token.*pkcs11-delegate = no/,
             '... with pkcs11-delegate = no pkcs11be says so');

        my @kdf = map { ('-pkeyopt', $_) } qw(kdf-type:X942KDF-ASN1
            kdf-digest:SHA256 kdf-outlen:40 cekalg:id-aes128-wrap
            kdf-ukm:0123456789);
        plain_ok('the default provider derives with X942KDF-ASN1', 'pkeyutl',
                 '-derive', '-inkey', "$a.pem", '-peerkey', "$t.pub", @kdf,
                 '-out', "$a.kdf");
        my $log = path("$group-kdf.log");
        reset_counts();
        ($rc, $out, $err) = ossl('pkeyutl', '-derive', '-inkey', "$t.pem",
            '-peerkey', "$a.pub", @kdf, '-out', "$t.kdf",
            { env => { OPENSSL_CONF => $cnf, P11BE_DEBUG => $log },
              timeout => 120 });
        is($rc, 0, 'pkcs11be derives with X942KDF-ASN1') or diag $err;
        is(count_of('C_DeriveKey'), 1, '... the secret by C_DeriveKey');
        ok(length(slurp("$t.kdf")) == 40 && slurp("$t.kdf") eq slurp("$a.kdf"),
           '... the default provider\'s 40 bytes');
        like(slurp($log), qr/KDF X942KDF-ASN1 of DH delegated/,
             '... the KDF run (and counted) by the default provider');
    };
}

# s_server in the background on 127.0.0.1, answering one connection.
sub start_server {
    my (%a) = @_;
    my ($out, $err) = (path("server.out"), path("server.err"));
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        setpgrp(0, 0);
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>', $out) or POSIX::_exit(127);
        open(STDERR, '>', $err) or POSIX::_exit(127);
        $ENV{$_} = $a{env}{$_} for keys %{ $a{env} };
        { no warnings 'exec'; exec { 'openssl' } 'openssl', 's_server',
              @{ $a{args} }, '-accept', '127.0.0.1:0', '-naccept', '1',
              '-www'; }
        POSIX::_exit(127);
    }
    my $deadline = Time::HiRes::time() + 60;
    while (Time::HiRes::time() < $deadline) {
        return { pid => $pid, port => $1, out => $out, err => $err }
            if slurp($out) =~ /^ACCEPT 127\.0\.0\.1:(\d+)$/m;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$pid, $pid;
    waitpid($pid, 0);
    diag "s_server did not start:\n" . slurp($err);
    return undef;
}

sub server_done {
    my ($srv) = @_;
    my $deadline = Time::HiRes::time() + 60;

    while (Time::HiRes::time() < $deadline) {
        return if waitpid($srv->{pid}, POSIX::WNOHANG()) == $srv->{pid};
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$srv->{pid}, $srv->{pid};
    waitpid($srv->{pid}, 0);
    diag 's_server timed out and was killed';
    return;
}

subtest 'TLS 1.3 on ffdhe2048, both key shares on the token' => sub {
    plan tests => 8;
    my %counts = map { $_ => path("$_.counts") } qw(server client);

    # The server's signature runs on the token too: an RSA key where the
    # token has no ECDSA (opencryptoki).
    my @newkey = has_mech('CKM_ECDSA')
        ? ('ec', '-pkeyopt', 'ec_paramgen_curve:P-256') : ('rsa:2048');
    plain_ok('a server key', 'req', '-x509', '-newkey', @newkey,
             '-nodes', '-subj', '/CN=dh',
             '-keyout', path('srv.key'), '-out', path('srv.crt'), '-days',
             '2');
    for my $role (keys %counts) {
        local $ENV{P11SHIM_COUNTS} = $counts{$role};
        reset_counts();
    }
    my $srv = start_server(
        args => ['-key', path('srv.key'), '-cert', path('srv.crt'),
                 '-tls1_3', '-groups', 'ffdhe2048'],
        env => { OPENSSL_CONF => $cnf, P11SHIM_COUNTS => $counts{server} });
    my ($rc, $out, $err) = $srv ? ossl(
        's_client', '-connect', "127.0.0.1:$srv->{port}", '-ign_eof',
        '-tls1_3', '-groups', 'ffdhe2048',
        { stdin => "GET / HTTP/1.0\r\n\r\n", timeout => 60,
          env => { OPENSSL_CONF => $cnf,
                   P11SHIM_COUNTS => $counts{client} } })
        : (-1, '', 'no server');
    server_done($srv) if $srv;
    is($rc, 0, 'the handshake completes') or diag "$out$err"
        . slurp(path('server.err'));
    like($out, qr/^\s*Protocol\s*:\s*TLSv1\.3/m, 'TLS 1.3');
    like("$out$err", qr/(Server Temp Key|Peer Temp Key): DH, 2048 bits|group: ffdhe2048/,
         'on ffdhe2048');
    for my $role (qw(server client)) {
        local $ENV{P11SHIM_COUNTS} = $counts{$role};
        is(count_of('C_GenerateKeyPair'), 1,
           "$role: its key share is a key pair on the token");
        # Where the token has CKM_HKDF_DERIVE (NSS), the TLS 1.3 key
        # schedule (TLS13-KDF) derives there too: a C_DeriveKey per step.
        if (has_mech('CKM_HKDF_DERIVE')) {
            cmp_ok(count_of('C_DeriveKey'), '>', 1,
                   "$role: its secret and key schedule are derived there");
        } else {
            is(count_of('C_DeriveKey'), 1,
               "$role: its secret is derived there");
        }
    }
};
