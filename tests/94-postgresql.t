#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# PostgreSQL 15 from Debian with TLS and client certificates, both keys
# on the token: the server's `ssl_key_file` is the PKCS11 KEY URI key
# file (root-owned, mode 0640, group postgres: what PostgreSQL accepts
# for a root-owned key), the cluster made by initdb and run by the
# postgres user (the token shared with its group), the PIN from the
# provider's `pkcs11-pin = file:`. psql connects with sslmode=verify-full
# and its own key on the token (sslkey, a key file; `cert`
# authentication), one connection per request. The postmaster loads the
# key; each connection's backend is a forked child, and the call log must
# show the backends signing, on SoftHSM2 directly and through p11-kit's
# proxy, in both offload modes. The client keeps its own call log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
use P11BE::Server;

servers_wanted('postgres', 'initdb', 'psql', 'setpriv');
my @variants = variants();
plan tests => 2 + @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('pgserver', $ca);
my ($ckey, $ccrt) = token_key_cert('pgclient', $ca, cn => 'postgres');
share_token_with('postgres');
my $gid = getgrnam('postgres');
chown(-1, $gid, $key) && chmod(0640, $key) or die "chmod $key: $!";
# libpq wants a client key file that only its owner reads.
chmod(0600, $ckey) or die "chmod $ckey: $!";
my @as_postgres = (need_program('setpriv'), '--reuid=postgres',
                   '--regid=postgres', '--init-groups', '--');
my $data = conf_path('pgdata');
mkdir $data;
chown((getpwnam('postgres'))[2], $gid, $data) or die "chown $data: $!";

subtest 'initdb' => sub {
    plan tests => 1;
    my ($rc, $out, $err) = run(@as_postgres, need_program('initdb'), '-D',
                               $data, '-A', 'trust', '--no-sync',
                               { env => { OPENSSL_CONF => undef },
                                 timeout => 120 });
    is($rc, 0, 'initdb made a cluster') or diag "$out$err";
    write_file("$data/pg_hba.conf",
               "hostssl all postgres 127.0.0.1/32 cert\n");
};

# $n psql connections, each asking the server about its own TLS session;
# returns how many saw TLS 1.3 with the client certificate, and why the
# last one that did not failed.
sub psql_requests {
    my ($port, $env, $n) = @_;
    my $conn = "host=localhost port=$port dbname=postgres user=postgres "
        . "sslmode=verify-full sslrootcert=$ca->{crt} sslcert=$ccrt "
        . "sslkey=$ckey";
    my ($ok, $why) = (0, '');
    for (1 .. $n) {
        my ($rc, $out, $err) = run(
            need_program('psql'), '-X', '-At', '-d', $conn, '-c',
            "select 'hello ' || ssl::text || ' ' || version || ' ' "
            . '|| client_dn from pg_stat_ssl where pid = pg_backend_pid()',
            { env => $env, timeout => 30 });
        if ($rc == 0 && $out =~ m{\Ahello true TLSv1\.3 /CN=postgres\n\z}) {
            $ok++;
        } else {
            $why = "psql exit $rc: $out$err";
        }
    }
    return ($ok, $why);
}

for my $v (@variants) {
    subtest "postgresql, $v->{name}" => sub {
        plan tests => 9;
        my $env = variant_env($v);
        my $cenv = { %$env, P11SHIM_CALLS => conf_path(
            "client-$v->{mode}-$v->{via}.log") };
        write_file($cenv->{P11SHIM_CALLS}, '');
        my $port = free_port();
        my $srv = start_server(
            [@as_postgres, need_program('postgres'), '-D', $data,
             '-c', 'listen_addresses=127.0.0.1', '-c', "port=$port",
             '-c', "unix_socket_directories=$data", '-c', 'ssl=on',
             '-c', "ssl_cert_file=$crt", '-c', "ssl_key_file=$key",
             '-c', "ssl_ca_file=$ca->{crt}", '-c', 'fsync=off',
             '-c', 'logging_collector=off'],
            env => $env, port => $port,
            name => "postgres-$v->{mode}-$v->{via}");
        ok($srv->{ok}, 'postgres started');
        my ($ok, $why) = psql_requests($port, $cenv, $requests);
        is($ok, $requests,
           "$requests connections over TLS 1.3 with the client certificate")
            or diag $why . P11BE::Server::server_output($srv);
        is(stop_server($srv, signal => 'INT'), 0, 'postgres stopped (fast)');
        my $ccalls = calls_log($cenv->{P11SHIM_CALLS});
        my $csigns = grep { $_->[0] eq 'C_Sign' && $_->[1] eq 'CKR_OK' }
            map { @$_ } values %$ccalls;
        cmp_ok(scalar keys %$ccalls, '==', $requests,
               'every psql used the token');
        cmp_ok($csigns, '>=', $requests,
               'the clients signed with their key on the token');
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, $srv->{pid}, $requests);
    };
}

subtest 'the server PIN from ssl_passphrase_command (no pkcs11-pin)' => sub {
    plan tests => 2;
    my $env = variant_env($variants[0], no_pin => 1);
    my $cenv = variant_env($variants[0]);
    my $port = free_port();
    my $srv = start_server(
        [@as_postgres, need_program('postgres'), '-D', $data,
         '-c', 'listen_addresses=127.0.0.1', '-c', "port=$port",
         '-c', "unix_socket_directories=$data", '-c', 'ssl=on',
         '-c', "ssl_cert_file=$crt", '-c', "ssl_key_file=$key",
         '-c', "ssl_ca_file=$ca->{crt}", '-c', 'fsync=off',
         '-c', "ssl_passphrase_command=cat ${\ pin_file()}"],
        env => $env, port => $port, name => 'postgres-passphrase');
    ok($srv->{ok}, 'postgres loaded its key with the PIN from '
                   . 'ssl_passphrase_command')
        or diag P11BE::Server::server_output($srv);
    my ($ok, $why) = psql_requests($port, $cenv, 2);
    is($ok, 2, 'and its backends sign with it') or diag $why;
    stop_server($srv, signal => 'INT');
};
