# SPDX-License-Identifier: Apache-2.0
# A token that will not take an imported secret key (tpm2-pkcs11 answers
# C_CreateObject with CKR_SESSION_READ_ONLY or CKR_ATTRIBUTE_VALUE_INVALID):
# ciphers (cipher.c's init) and MACs (mac.c's key) go to OpenSSL's default
# provider inside pkcs11be, counted in pkcs11-delegated, with the default
# provider's results (tests/c/cipher_check.c, mac_check.c compare every
# result with it); the refusal is learned once per token and key type, so
# C_CreateObject is asked once; with pkcs11-delegate = no the init fails,
# naming the token's answer. The shim makes C_CreateObject refuse
# (P11SHIM_FAULTS).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use POSIX ();
use Test::More;
use P11BE;

need_mechs(qw(CKM_AES_CBC CKM_SHA256_HMAC));

use_shim();
my $ciphers = test_program('cipher_check');
my $macs = test_program('mac_check');
my $log = File::Spec->catfile(tmp_dir(), 'debug.log');

# Runs a check under the refusal; returns its exit code, its output and
# the P11BE_DEBUG trace.
sub refused_run {
    my ($prog, $ckr, $env, @args) = @_;
    unlink $log;
    reset_counts();
    my ($rc, $out, $err) = run($prog, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), P11BE_DEBUG => $log,
                   P11SHIM_FAULTS => "C_CreateObject:$ckr", %$env },
          timeout => 600 });
    return ($rc, "$out$err", -e $log ? read_file($log) : '');
}

sub delegated {
    my ($trace, $what) = @_;
    return scalar(() = $trace =~ /\Q$what\E delegated to the default provider/g);
}

# The shim spells CKR_ATTRIBUTE_VALUE_INVALID as its number.
for my $case (['CKR_SESSION_READ_ONLY', 'CKR_SESSION_READ_ONLY'],
              ['0x13', 'CKR_ATTRIBUTE_VALUE_INVALID']) {
    my ($code, $ckr) = @$case;
    subtest "ciphers, C_CreateObject answering $ckr" => sub {
        my ($rc, $out, $trace) =
            refused_run($ciphers, $code, {}, 'random', 7);
        is($rc, 0, 'AES-CBC, CTR, GCM, DES3: encrypt and decrypt as the '
           . 'default provider') or diag $out;
        cmp_ok(() = $out =~ /^ok: /mg, '>', 0, 'the checks ran');
        my $asked = count_of('C_CreateObject');
        cmp_ok($asked, '>=', 1, "the token was asked ($asked)");
        cmp_ok($asked, '<=', 2, '... once per key type (AES, DES3)');
        is(real_calls('C_CreateObject'), 0, 'no key reached the token');
        is(count_of('C_EncryptInit') + count_of('C_DecryptInit'), 0,
           'nothing ciphered on the token');
        cmp_ok(delegated($trace, 'cipher'), '>', 1,
               'pkcs11-delegated counts the contexts');
        like($trace, qr/the token refuses key type 0x1f \(\Q$ckr\E\)/,
             'P11BE_DEBUG says why');
    };
}

subtest 'GCM edge cases and re-inits, refused' => sub {
    for my $mode (['gcm-edge'], ['reinit', 20]) {
        my ($rc, $out) =
            refused_run($ciphers, 'CKR_SESSION_READ_ONLY', {}, @$mode);
        is($rc, 0, "cipher_check @$mode as the default provider")
            or diag $out;
        # A token without GCM (a TPM) has nothing to ask for gcm-edge.
        is(count_of('C_CreateObject'),
           $mode->[0] eq 'gcm-edge' && !has_mech('CKM_AES_GCM') ? 0 : 1,
           "@$mode: asked once");
    }
};

for my $case (['HMAC', 'SHA256', 'CKK_GENERIC_SECRET', '0x10'],
              ['CMAC', 'AES-128-CBC', 'CKK_AES', '0x1f']) {
    my ($mac, $sub, $type, $hex) = @$case;
    subtest "$mac with $sub, C_CreateObject refused" => sub {
        plan skip_all => 'the token lacks CKM_AES_CMAC'
            if $mac eq 'CMAC' && !has_mech('CKM_AES_CMAC');
        my ($rc, $out, $trace) =
            refused_run($macs, 'CKR_SESSION_READ_ONLY', {}, 'agree', $mac,
                        $sub, $mac eq 'CMAC' ? 16 : 32);
        is($rc, 0, "$mac: every MAC (keys, messages, a dup) as the default "
           . 'provider') or diag $out;
        is(count_of('C_CreateObject'), 1, "$type: the token was asked once");
        is(count_of('C_SignInit'), 0, 'nothing signed on the token');
        cmp_ok(delegated($trace, "MAC $mac"), '>=', 40,
               'pkcs11-delegated counts each key');
        like($trace, qr/the token refuses key type $hex/,
             'P11BE_DEBUG says why');
    };
}

subtest 'pkcs11-delegate = no: the init fails, naming the answer' => sub {
    my $in = File::Spec->catfile(tmp_dir(), 'plain.bin');
    write_file($in, random_bytes(1000, 28));
    my @enc = ('enc', '-provider', 'default', '-propquery',
               'provider=pkcs11be', '-aes-128-cbc', '-K', '00' x 16, '-iv',
               '11' x 16, '-in', $in);
    my %env = (P11SHIM_FAULTS => 'C_CreateObject:CKR_SESSION_READ_ONLY');
    my ($rc, undef, $err) =
        ossl_p11(@enc, { env => { %env, P11BE_DELEGATE => 'no' } });
    isnt($rc, 0, 'openssl enc -aes-128-cbc fails');
    like($err, qr/CKR_SESSION_READ_ONLY/, '... naming the token\'s answer');
    like($err, qr/P11BE_DELEGATE=no keeps the default provider from doing it/,
         '... and the setting');

    my ($orc, $out, $oerr) = ossl_p11(@enc, { env => \%env });
    my (undef, $ref) = ossl(@enc[0, 5 .. $#enc]);
    is($orc, 0, 'delegated: openssl enc succeeds') or diag $oerr;
    ok($out eq $ref, '... with the default provider\'s ciphertext');

    my @mac = ('mac', '-provider', 'default', '-propquery',
               'provider=pkcs11be', '-digest', 'SHA256', '-macopt',
               'hexkey:' . ('22' x 32), '-in', $in, 'HMAC');
    ($rc, undef, $err) =
        ossl_p11(@mac, { env => { %env, P11BE_DELEGATE => 'no' } });
    isnt($rc, 0, 'openssl mac HMAC fails');
    like($err, qr/HMAC: the token refused to import the key \(C_CreateObject: CKR_SESSION_READ_ONLY\)/,
         '... naming the token\'s answer');
    ($orc, $out, $oerr) = ossl_p11(@mac, { env => \%env });
    (undef, $ref) = ossl(@mac[0, 5 .. $#mac]);
    is($orc, 0, 'delegated: openssl mac succeeds') or diag $oerr;
    is($out, $ref, '... with the default provider\'s MAC');
};

# A TPM (tpm2-pkcs11 refuses every secret-key import, no shim fault):
# TLS 1.3 under build/openssl.cnf, the server's key generated on the TPM
# and given by URI, both sides' HMAC and record keys delegated.
subtest 'TLS 1.3 on the TPM under build/openssl.cnf' => sub {
    plan skip_all => 'P11BE_TOKEN=' . token_kind() . ': runs on the tpm token'
        if token_kind() ne 'tpm';
    my $tmp = tmp_dir();
    my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
    my $keys = { env => { OPENSSL_CONF =>
                     File::Spec->catfile(build_dir(), 'openssl-keys.cnf') },
                 timeout => 120 };
    my $uri = 'pkcs11:object=tls28;type=private';
    my $cert = File::Spec->catfile($tmp, 'tls28.crt');
    my ($rc, undef, $err) = ossl('genpkey', '-propquery', 'provider=pkcs11be',
        '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt',
        'pkcs11-key-label:tls28', '-out', File::Spec->catfile($tmp, 'k'), $keys);
    is($rc, 0, 'an EC key generated on the TPM') or diag $err;
    ($rc, undef, $err) = ossl('req', '-new', '-x509', '-key', $uri, '-subj',
        '/CN=localhost', '-days', '1', '-out', $cert, $keys);
    is($rc, 0, 'its certificate') or diag $err;

    my ($out_f, $err_f) = map { File::Spec->catfile($tmp, $_) } qw(s.out s.err);
    my %logs = map { $_ => File::Spec->catfile($tmp, "$_.log") } qw(s c);
    unlink values %logs;
    reset_counts();
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        @ENV{qw(OPENSSL_CONF P11BE_DEBUG)} = ($cnf, $logs{s});
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>', $out_f) or POSIX::_exit(127);
        open(STDERR, '>', $err_f) or POSIX::_exit(127);
        { no warnings 'exec';
          exec 'timeout', 120, 'openssl', 's_server', '-cert', $cert, '-key',
              $uri, '-tls1_3', '-naccept', '1', '-www', '-accept',
              '127.0.0.1:0'; }
        POSIX::_exit(127);
    }
    my ($port, $deadline) = (undef, time + 60);
    while (!defined $port && time < $deadline) {
        ($port) = (-e $out_f ? read_file($out_f) : '')
            =~ /^ACCEPT 127\.0\.0\.1:(\d+)$/m;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        select(undef, undef, undef, 0.05);
    }
    my $out;
    ($rc, $out, $err) = defined $port
        ? ossl('s_client', '-connect', "127.0.0.1:$port", '-tls1_3',
               '-CAfile', $cert, '-verify_return_error', '-ign_eof',
               { env => { OPENSSL_CONF => $cnf, P11BE_DEBUG => $logs{c} },
                 stdin => "GET / HTTP/1.0\r\n\r\n", timeout => 120 })
        : (-1, '', 's_server did not start: ' . read_file($err_f));
    kill 'TERM', -$pid, $pid if waitpid($pid, POSIX::WNOHANG()) == 0;
    waitpid($pid, 0);
    is($rc, 0, 's_client: the handshake completes') or diag $err;
    like($out, qr/^\s*Protocol\s*:\s*TLSv1\.3$/m, '... TLS 1.3, page received');
    for my $side (qw(s c)) {
        my $trace = -e $logs{$side} ? read_file($logs{$side}) : '';
        like($trace, qr/the token refuses key type 0x10/,
             "$side: the HMAC key refusal learned");
        cmp_ok(delegated($trace, 'MAC HMAC'), '>', 0,
               "$side: the handshake's HMACs delegated");
    }
    cmp_ok(count_of('C_CreateObject'), '<=', 4,
           'C_CreateObject: once per process and key type');
};

done_testing();
