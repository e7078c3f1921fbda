#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# HAProxy from Debian with its key on the token: `bind ... ssl crt FILE`
# where FILE is the certificate followed by the PKCS11 KEY URI key file
# (HAProxy 2.6 reads both from one PEM, the key through OpenSSL's
# decoders), in master-worker mode (-W: the master loads the
# configuration and the key, the worker it forks serves) with the worker
# running as the haproxy user (the token shared with its group), the PIN
# from the provider's `pkcs11-pin = file:`. The call log must show the
# worker signing each handshake, on SoftHSM2 directly and through p11-kit's
# proxy, in both offload modes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
use P11BE::Server;

servers_wanted('haproxy', 'curl');
my @variants = variants();
plan tests => scalar @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('haproxy', $ca);
share_token_with('haproxy');
my $haproxy = need_program('haproxy');
my $pem = conf_path('haproxy.pem');
write_file($pem, read_file($crt), read_file($key));
chmod 0644, $pem;

for my $v (@variants) {
    subtest "haproxy, $v->{name}" => sub {
        plan tests => 8;
        my $env = variant_env($v);
        my $dir = conf_path("haproxy-$v->{mode}-$v->{via}");
        mkdir $dir;
        my $port = free_port();
        write_file("$dir/haproxy.cfg", <<"CFG");
global
    user haproxy
    group haproxy
    nbthread 1
    pidfile $dir/haproxy.pid
    setenv OPENSSL_CONF $env->{OPENSSL_CONF}
defaults
    mode http
    timeout connect 5s
    timeout client 20s
    timeout server 20s
frontend tls
    bind 127.0.0.1:$port ssl crt $pem no-tls-tickets
    http-request return status 200 content-type text/plain string "hello\\n" hdr Connection close
CFG
        my $srv = start_server([$haproxy, '-W', '-db', '-f',
                                "$dir/haproxy.cfg"],
                               env => $env, port => $port,
                               name => "haproxy-$v->{mode}-$v->{via}");
        ok($srv->{ok}, 'haproxy started');
        is(join(' ', child_users($srv->{pid}, 1)), 'haproxy',
           'one worker, running as haproxy');
        my ($ok, $why) = https_requests($port, $ca->{crt}, $requests);
        is($ok, $requests, "$requests requests answered over TLS")
            or diag $why . P11BE::Server::server_output($srv);
        my $rc = stop_server($srv, signal => 'USR1');
        ok($rc == 0 || $rc == 143, 'haproxy stopped') or diag "exit $rc";
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, $srv->{pid}, $requests);
    };
}
