#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# A TPM as the token (P11BE_TOKEN=tpm: tpm2-pkcs11 on swtpm, no resource
# manager, made by scripts/mktoken), used as a new user would, under
# pkcs11-offload = keys (build/openssl-keys.cnf):
#
# - RSA and EC P-256 key pairs generated on the TPM with
#   pkcs11-key-label (EC: tpm2-pkcs11 refuses a template that says
#   CKA_ENCRYPT/CKA_DECRYPT false), their signatures verified by the
#   default provider, RSA-OAEP decryption on the TPM.
# - TLS 1.3 (openssl s_server with the key by URI, s_client verifying the
#   certificate made on the TPM), RSA and ECDSA.
# - A forked child leaves the TPM alone (tpm2-pkcs11 shares its TPM
#   connection and sessions across fork): its signature fails, saying
#   why, and the parent's next signature works.
# - Eight processes in a row each log in and sign: without a resource
#   manager each process's TPM sessions stay until C_Finalize, which
#   pkcs11-finalize=auto now calls at exit (the fourth process failed,
#   "out of memory for session contexts").
# Elsewhere (P11BE_TOKEN other than tpm) the file is skipped.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use POSIX ();
use Test::More;
use Time::HiRes ();
use P11BE;

plan skip_all => 'P11BE_TOKEN=' . token_kind() . ': runs on the tpm token'
    if token_kind() ne 'tpm';
my $keys_cnf = File::Spec->catfile(build_dir(), 'openssl-keys.cnf');
plan skip_all => "no $keys_cnf (configure with CMake)" unless -f $keys_cnf;
plan tests => 7;

my $tmp = tmp_dir();
my $timeout = 60;
my $keys = { env => { OPENSSL_CONF => $keys_cnf }, timeout => $timeout };
my $plain = { env => { OPENSSL_CONF => undef }, timeout => $timeout };

sub path { return File::Spec->catfile($tmp, @_) }
sub uri { return "pkcs11:object=$_[0];type=private" }

my $msg = path('msg.bin');
write_file($msg, random_bytes(3000, 87));

# openssl under the keys config; a test named $name that it exits 0.
sub keys_ok {
    my ($name, @args) = @_;
    my ($rc, $out, $err) = ossl(@args, $keys);
    is($rc, 0, $name) or diag $err;
    return $out;
}

subtest 'key pairs generated on the TPM' => sub {
    plan tests => 4;
    for my $gen (['tpm-rsa', 'RSA', 'rsa_keygen_bits:2048'],
                 ['tpm-ec', 'EC', 'ec_paramgen_curve:P-256']) {
        my ($label, $alg, $opt) = @$gen;
        keys_ok("$alg: genpkey -pkeyopt pkcs11-key-label:$label", 'genpkey',
                '-propquery', 'provider=pkcs11be', '-algorithm', $alg,
                '-pkeyopt', $opt, '-pkeyopt',
                "pkcs11-key-label:$label", '-out', path("$label.key"));
        keys_ok("$alg: its public key", 'pkey', '-in', uri($label), '-pubout',
                '-out', path("$label.pub"));
    }
};

subtest 'signatures verified by the default provider' => sub {
    plan tests => 4;
    for my $label (qw(tpm-rsa tpm-ec)) {
        my $sig = path("$label.sig");
        keys_ok("$label: dgst -sha256 -sign on the TPM", 'dgst', '-sha256',
                '-sign', uri($label), '-out', $sig, $msg);
        my ($rc, $out, $err) = ossl('dgst', '-sha256', '-verify',
            path("$label.pub"), '-signature', $sig, $msg, $plain);
        like($out, qr/Verified OK/, "$label: the default provider verifies")
            or diag "$rc $err";
    }
};

subtest 'RSA-OAEP decryption on the TPM' => sub {
    plan tests => 3;
    my $secret = path('secret.bin');
    my $ct = path('secret.oaep');
    write_file($secret, random_bytes(32, 'oaep'));
    my ($rc, undef, $err) = ossl('pkeyutl', '-encrypt', '-pubin', '-inkey',
        path('tpm-rsa.pub'), '-pkeyopt', 'rsa_padding_mode:oaep', '-in',
        $secret, '-out', $ct, $plain);
    is($rc, 0, 'the default provider encrypts') or diag $err;
    my $out = keys_ok('pkeyutl -decrypt -pkeyopt rsa_padding_mode:oaep',
        'pkeyutl', '-decrypt', '-inkey', uri('tpm-rsa'), '-pkeyopt',
        'rsa_padding_mode:oaep', '-in', $ct);
    ok($out eq read_file($secret), 'the plaintext comes back');
};

# s_server (one connection, -www) with the key by URI on 127.0.0.1, a
# port of its own choosing; s_client verifies the certificate and asks for
# the page, which names the protocol. Bounded by run()'s timeouts.
sub tls13 {
    my ($label) = @_;
    my $cert = path("$label.crt");
    my ($out_f, $err_f) = (path("$label.s.out"), path("$label.s.err"));
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        $ENV{OPENSSL_CONF} = $keys_cnf;
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>', $out_f) or POSIX::_exit(127);
        open(STDERR, '>', $err_f) or POSIX::_exit(127);
        { no warnings 'exec';
          exec 'timeout', $timeout, 'openssl', 's_server', '-cert', $cert,
              '-key', uri($label), '-tls1_3', '-naccept', '1', '-www',
              '-accept', '127.0.0.1:0'; }
        POSIX::_exit(127);
    }
    my ($port, $deadline) = (undef, Time::HiRes::time() + $timeout);
    while (!defined $port && Time::HiRes::time() < $deadline) {
        ($port) = (-e $out_f ? read_file($out_f) : '')
            =~ /^ACCEPT 127\.0\.0\.1:(\d+)$/m;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    my ($rc, $out, $err) = defined $port
        ? ossl('s_client', '-connect', "127.0.0.1:$port", '-tls1_3',
               '-CAfile', $cert, '-verify_return_error', '-ign_eof',
               { %$plain, stdin => "GET / HTTP/1.0\r\n\r\n" })
        : (-1, '', 's_server did not start: ' . read_file($err_f));
    kill 'TERM', -$pid, $pid if waitpid($pid, POSIX::WNOHANG()) == 0;
    waitpid($pid, 0);
    like($out, qr/^\s*Protocol\s*:\s*TLSv1\.3$/m,
         "$label: TLS 1.3 handshake, page received")
        or diag "$rc $err\n" . read_file($err_f);
    return;
}

subtest 'TLS 1.3, the server key on the TPM' => sub {
    plan tests => 4;
    for my $label (qw(tpm-rsa tpm-ec)) {
        keys_ok("$label: req -x509 -key URI (self-signed on the TPM)", 'req',
                '-new', '-x509', '-key', uri($label), '-subj', "/CN=$label",
                '-days', '1', '-out', path("$label.crt"));
        tls13($label);
    }
};

subtest 'eight processes in a row log in and sign' => sub {
    plan tests => 8;
    for my $n (1 .. 8) {
        keys_ok("process $n", 'dgst', '-sha256', '-sign', uri('tpm-rsa'),
                '-out', path("row$n.sig"), $msg);
    }
};

# tpm2-pkcs11 keeps its state across fork (C_Initialize in the child says
# CKR_CRYPTOKI_ALREADY_INITIALIZED), so parent and child would share one
# TPM connection and its sessions: a signature in the child (or the
# child's C_Finalize) puts the parent's session out of step with the TPM,
# and each of the parent's failures then counts towards the TPM's
# dictionary-attack lockout. pkcs11be leaves the module alone in such a
# child: the child's signature fails, saying why, and the parent's works.
subtest 'a forked child leaves the TPM to its parent' => sub {
    plan tests => 4;
    my $log = path('fork.log');
    my ($rc, $out, $err) = run(test_program('store_check'), uri('tpm-ec'), 1,
        { env => { P11BE_BUILD_DIR => build_dir(), STORE_CHECK_FORK => 1,
                   P11BE_DEBUG => $log },
          timeout => $timeout });
    like($out, qr/^child: failed$/m, 'the child does not sign')
        or diag "$out$err";
    like("$out$err", qr/keeps its state and its TPM connection across fork/,
         'and says why');
    like($out, qr/^parent: signed$/m, 'the parent signs after the child')
        or diag "$out$err";
    unlike(read_file($log), qr/HMAC|C_Sign -> CKR_(?!OK)/,
           'no failed signature in the parent');
};

subtest 'with pkcs11-finalize=never the TPM runs out of sessions' => sub {
    plan tests => 1;
    # The old default, shown to fail: without C_Finalize every process
    # leaves its sessions on a TPM that has no resource manager.
    my @rcs = map {
        scalar ossl('dgst', '-sha256', '-sign', uri('tpm-rsa'), '-out',
                    path("never$_.sig"), $msg,
                    { %$keys, env => { %{ $keys->{env} },
                                       P11BE_FINALIZE => 'never' } })
    } 1 .. 5;
    isnt(join(',', @rcs), '0,0,0,0,0',
         'some of five processes fail (exits: ' . join(',', @rcs) . ')');
};
