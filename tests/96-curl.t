#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# curl from Debian (libcurl with the system OpenSSL) as a TLS client whose
# key is on the token: mutual TLS against `openssl s_server -Verify 1
# -verify_return_error` (a software key, no pkcs11be in the server), curl
# given --cert and --key with the PKCS11 KEY URI key file under
# OPENSSL_CONF, one curl process per request. The call log must show each
# curl process signing its CertificateVerify on the token, on SoftHSM2
# directly and through p11-kit's proxy, in both offload modes. Then: the
# PIN from `--pass` (the configuration has no pkcs11-pin), and what curl
# does with a pkcs11: URI in --key.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
use P11BE::Server;

servers_wanted('curl', 'openssl');
my @variants = variants();
plan tests => 2 + @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('curl', $ca, cn => 'curl-client');
my $www = conf_path('www');
mkdir $www;
write_file("$www/hello", "hello\n");
my $skey = conf_path('server.key');
my $scsr = conf_path('server.csr');
my $scrt = conf_path('server.crt');
my $ext = conf_path('server.ext');
write_file($ext, "subjectAltName = DNS:localhost, IP:127.0.0.1\n");
for my $cmd (['req', '-new', '-newkey', 'ec', '-pkeyopt',
              'ec_paramgen_curve:P-256', '-nodes', '-keyout', $skey,
              '-subj', '/CN=localhost', '-out', $scsr],
             ['x509', '-req', '-in', $scsr, '-CA', $ca->{crt}, '-CAkey',
              $ca->{key}, '-CAcreateserial', '-days', '2', '-extfile', $ext,
              '-out', $scrt]) {
    my ($rc, undef, $err) = ossl(@$cmd, { env => { OPENSSL_CONF => undef } });
    die "server certificate: $err" if $rc != 0;
}

# s_server for $n connections, requiring a client certificate from the CA.
sub mtls_server {
    my ($name, $n) = @_;
    my $port = free_port();
    return start_server(
        ['openssl', 's_server', '-accept', "127.0.0.1:$port", '-naccept', $n,
         '-WWW', '-key', $skey, '-cert', $scrt, '-CAfile', $ca->{crt},
         '-Verify', '1', '-verify_return_error', '-no_ticket'],
        env => { OPENSSL_CONF => undef, P11SHIM_CALLS => undef },
        port => $port, dir => $www, name => $name), $port;
}

for my $v (@variants) {
    subtest "curl, $v->{name}" => sub {
        plan tests => 6;
        my $env = variant_env($v);
        # One connection of wait_port's, then the requests.
        my ($srv, $port) = mtls_server("s_server-$v->{mode}-$v->{via}",
                                       $requests + 1);
        ok($srv->{ok}, 's_server started');
        my ($ok, $why) = https_requests($port, $ca->{crt}, $requests,
            path => 'hello', env => $env,
            args => ['--cert', $crt, '--key', $key]);
        is($ok, $requests, "$requests requests with the client key on the "
                           . 'token') or diag $why;
        stop_server($srv);
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, 0, $requests);
    };
}

subtest 'the PIN from curl --pass (no pkcs11-pin in the configuration)'
    => sub {
    plan tests => 3;
    my $env = variant_env($variants[0], no_pin => 1);
    my ($srv, $port) = mtls_server('s_server-pass', 3);
    my ($ok, $why) = https_requests($port, $ca->{crt}, 1, path => 'hello',
        env => $env, args => ['--cert', $crt, '--key', $key, '--pass',
                              $ENV{CRYPTOGRAPHY_PKCS11_PASSWORD}]);
    is($ok, 1, 'curl --pass gives the PIN') or diag $why;
    ($ok, $why) = https_requests($port, $ca->{crt}, 1, path => 'hello',
        env => $env, args => ['--cert', $crt, '--key', $key]);
    is($ok, 0, 'without --pass and pkcs11-pin there is no PIN');
    like($why, qr/pin|login|key/i, 'curl says why') or diag $why;
    stop_server($srv);
};

subtest 'a pkcs11: URI in curl --key' => sub {
    plan tests => 1;
    my $env = variant_env($variants[0]);
    my ($srv, $port) = mtls_server('s_server-uri', 2);
    my ($ok, $why) = https_requests($port, $ca->{crt}, 1, path => 'hello',
        env => $env, args => ['--cert', $crt, '--key',
            "pkcs11:token=$ENV{P11BE_TOKEN_LABEL};object=curl;type=private"]);
    note("curl --key pkcs11:...: " . ($ok ? 'works' : $why));
    like($why, qr/engine|key/i,
         'curl 7.88 hands a pkcs11: --key to an OpenSSL engine, not to '
         . 'OSSL_STORE: it fails, use the key file');
    stop_server($srv);
};
