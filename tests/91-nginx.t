#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# nginx from Debian with its key on the token: a master and two workers
# running as www-data, `ssl_certificate_key` naming the PKCS11 KEY URI key
# file, the PIN from the provider's `pkcs11-pin = file:` (group-readable
# by www-data, as the token is: P11BE::Server::share_token_with). nginx
# loads the key in the master; the call log must show the workers signing
# each handshake on the token, on SoftHSM2 directly and through p11-kit's
# proxy, in both offload modes.  nginx passes a worker only the
# environment its `env` directives name.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
use P11BE::Server;

servers_wanted('nginx', 'curl');
my @variants = variants();
plan tests => 3 + @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('nginx', $ca);
share_token_with('www-data');
my $nginx = need_program('nginx');

subtest 'nginx does not take a pkcs11: URI (engine: or a file only)' => sub {
    plan tests => 1;
    my $dir = conf_path('nginx-uri');
    mkdir $dir;
    my $port = free_port();
    write_file("$dir/nginx.conf", nginx_conf($dir, $port,
        "pkcs11:token=$ENV{P11BE_TOKEN_LABEL};object=nginx;type=private"));
    my $env = variant_env($variants[0]);
    my ($rc, $out, $err) = run($nginx, '-t', '-p', $dir, '-c',
                               "$dir/nginx.conf", { env => $env });
    isnt($rc, 0, 'nginx -t refuses the URI as a file name') or diag $err;
};

sub nginx_conf {
    my ($dir, $port, $keyspec, $extra) = @_;
    $extra //= '';
    return <<"CONF";
daemon off;
master_process on;
worker_processes 2;
user www-data www-data;
pid $dir/nginx.pid;
error_log $dir/error.log info;
env OPENSSL_CONF;
env SOFTHSM2_CONF;
env P11BE_OFFLOAD;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $crt;
        ssl_certificate_key $keyspec;
        ssl_session_cache off;
        ssl_session_tickets off;
        $extra
        location / { return 200 "hello\\n"; }
    }
}
CONF
}

for my $v (@variants) {
    subtest "nginx, $v->{name}" => sub {
        plan tests => 8;
        my $env = variant_env($v);
        my $dir = conf_path("nginx-$v->{mode}-$v->{via}");
        mkdir $dir;
        my $port = free_port();
        write_file("$dir/nginx.conf", nginx_conf($dir, $port, $key));
        my $srv = start_server([$nginx, '-p', $dir, '-c', "$dir/nginx.conf"],
                               env => $env, port => $port,
                               name => "nginx-$v->{mode}-$v->{via}");
        push @{ $srv->{logs} }, "$dir/error.log";
        ok($srv->{ok}, 'nginx started');
        my (undef, $ps) = run('ps', '--ppid', $srv->{pid}, '-o', 'user=');
        my @users = sort split /\s+/, $ps =~ s/\A\s+//r;
        my ($ok, $why) = https_requests($port, $ca->{crt}, $requests);
        is($ok, $requests, "$requests requests answered over TLS")
            or diag $why . P11BE::Server::server_output($srv);
        is("@users", 'www-data www-data', 'two workers, running as www-data');
        is(stop_server($srv, signal => 'QUIT'), 0, 'nginx stopped cleanly');
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, $srv->{pid}, $requests);
    };
}

subtest 'the PIN from ssl_password_file (no pkcs11-pin)' => sub {
    plan tests => 2;
    my $env = variant_env($variants[0], no_pin => 1);
    my $dir = conf_path('nginx-password-file');
    mkdir $dir;
    my $port = free_port();
    write_file("$dir/nginx.conf", nginx_conf($dir, $port, $key,
        "ssl_password_file ${\ pin_file()};"));
    my $srv = start_server([$nginx, '-p', $dir, '-c', "$dir/nginx.conf"],
                           env => $env, port => $port,
                           name => 'nginx-password-file');
    push @{ $srv->{logs} }, "$dir/error.log";
    ok($srv->{ok}, 'nginx loaded the key with the PIN from ssl_password_file');
    my ($ok, $why) = https_requests($port, $ca->{crt}, 2);
    is($ok, 2, 'and its workers sign with it')
        or diag $why . P11BE::Server::server_output($srv);
    stop_server($srv, signal => 'QUIT');
};

# A token that forgets the login in the worker (the shim answers each
# worker's first C_SignInit with CKR_USER_NOT_LOGGED_IN and logs that
# process out, as a token whose C_Initialize in the child drops the login
# would): the worker must log in again with the PIN it can read (the
# group-readable pkcs11-pin file) and sign. It logs in, but then signs
# with the key handle it inherited, which SoftHSM2 dropped at the logout:
# C_SignInit CKR_OBJECT_HANDLE_INVALID on every handshake from then on.
subtest 'a worker whose token dropped the login logs in again' => sub {
    plan tests => 3;
    my $env = variant_env($variants[0]);
    my $dir = conf_path('nginx-relogin');
    mkdir $dir;
    my $port = free_port();
    write_file("$dir/nginx.conf", nginx_conf($dir, $port, $key));
    my $srv = start_server([$nginx, '-p', $dir, '-c', "$dir/nginx.conf"],
        env => { %$env,
                 P11SHIM_FAULTS => 'C_SignInit:CKR_USER_NOT_LOGGED_IN:nth=1' },
        port => $port, name => 'nginx-relogin');
    push @{ $srv->{logs} }, "$dir/error.log";
    my ($ok, $why) = https_requests($port, $ca->{crt}, 4);
    stop_server($srv, signal => 'QUIT');
    my $calls = calls_log($env->{P11SHIM_CALLS});
    my @relogged = grep {
        my $pid = $_;
        $pid != $srv->{pid} && grep { $_->[0] eq 'C_Login' && $_->[1] eq 'CKR_OK' }
            @{ $calls->{$pid} } } keys %$calls;
    cmp_ok(scalar @relogged, '>', 0,
           'a worker logged in again with the PIN from the pkcs11-pin file');
    cmp_ok($ok, '>=', 3, 'the requests after the first are answered')
        or diag $why;
    is($ok, 4, 'the first one too: the handshake is retried');
};
