#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Apache httpd from Debian with mod_ssl and the prefork MPM, its key on
# the token: a private ServerRoot configuration (no /etc/apache2, no
# APACHE_* variables), `SSLCertificateKeyFile` naming the PKCS11 KEY URI
# key file, children running as www-data (the token shared with that
# group), the PIN from the provider's `pkcs11-pin = file:`. mod_ssl loads
# the key in the parent; the call log must show the children signing each
# handshake, on SoftHSM2 directly and through p11-kit's proxy, in both
# offload modes. A second run gives SSLCertificateKeyFile the pkcs11: URI
# itself, which mod_ssl 2.4.71 hands to OSSL_STORE.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
our $TODO;
use P11BE::Server;

servers_wanted('apache2', 'curl');
my @variants = variants();
plan tests => 2 + @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('apache', $ca);
share_token_with('www-data');
my $apache = need_program('apache2');
my $modules = '/usr/lib/apache2/modules';

sub apache_conf {
    my ($dir, $port, $keyspec, $extra) = @_;
    $extra //= '';
    mkdir "$dir/htdocs";
    write_file("$dir/htdocs/hello.txt", "hello\n");
    chmod 0755, $dir, "$dir/htdocs";
    chmod 0644, "$dir/htdocs/hello.txt";
    return <<"CONF";
ServerRoot $dir
ServerName localhost
PidFile $dir/httpd.pid
Mutex file:$dir default
DefaultRuntimeDir $dir
LoadModule mpm_prefork_module $modules/mod_mpm_prefork.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule ssl_module $modules/mod_ssl.so
User www-data
Group www-data
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 8
ErrorLog $dir/error.log
LogLevel warn ssl:info
Listen 127.0.0.1:$port
DocumentRoot $dir/htdocs
<Directory $dir/htdocs>
    Require all granted
</Directory>
SSLSessionCache none
SSLSessionTickets off
$extra
<VirtualHost 127.0.0.1:$port>
    SSLEngine on
    SSLCertificateFile $crt
    SSLCertificateKeyFile $keyspec
</VirtualHost>
CONF
}

# Starts httpd with the key given as $keyspec, makes $requests requests,
# stops it: 5 tests plus worker_signs_ok's 4.
sub apache_run {
    my ($v, $keyspec, $what, %o) = @_;
    my $env = variant_env($v, no_pin => $o{no_pin});
    my $dir = conf_path("apache-$v->{mode}-$v->{via}-$v->{runs}");
    mkdir $dir;
    my $port = free_port();
    write_file("$dir/httpd.conf", apache_conf($dir, $port, $keyspec, $o{extra}));
    my $srv = start_server([$apache, '-DFOREGROUND', '-d', $dir, '-f',
                            "$dir/httpd.conf"],
                           env => $env, port => $port,
                           name => "apache-$v->{mode}-$v->{via}-$v->{runs}");
    push @{ $srv->{logs} }, "$dir/error.log";
    ok($srv->{ok}, "$what: httpd started");
    my %users = map { $_ => 1 } child_users($srv->{pid}, 2);
    is(join(' ', sort keys %users), 'www-data',
       "$what: the children run as www-data");
    my ($ok, $why) = https_requests($port, $ca->{crt}, $requests,
                                    path => 'hello.txt');
    is($ok, $requests, "$what: $requests requests answered over TLS")
        or diag $why . P11BE::Server::server_output($srv);
    is(stop_server($srv), 0, "$what: httpd stopped cleanly");
    unlike(read_file("$dir/error.log"), qr/\[ssl:(?:error|emerg)\]/,
           "$what: no mod_ssl error logged");
    worker_signs_ok({ %$v, name => "$v->{name}, $what" },
                    $env->{P11SHIM_CALLS}, $srv->{pid}, $requests);
}

subtest 'the pkcs11: URI in SSLCertificateKeyFile (all, softhsm2)' => sub {
    plan tests => 9;
    apache_run($variants[0],
               "pkcs11:token=$ENV{P11BE_TOKEN_LABEL};object=apache;type=private",
               'URI');
};

for my $v (@variants) {
    subtest "httpd, $v->{name}" => sub {
        plan tests => 9;
        apache_run($v, $key, 'key file');
    };
}

# mod_ssl first calls the passphrase callback without running the dialog
# and hands back an empty passphrase, then runs the dialog. An empty PIN is
# never sent to the token (it would spend a try and, being refused, stop
# every later login), so the dialog's PIN is the one used.
subtest 'the PIN from SSLPassPhraseDialog exec: (no pkcs11-pin)' => sub {
    plan tests => 9;
    my $dialog = conf_path('pin-dialog');
    write_file($dialog, "#!/bin/sh\nexec cat ${\ pin_file()}\n");
    chmod 0700, $dialog;
    apache_run($variants[0], $key, 'SSLPassPhraseDialog',
               no_pin => 1, extra => "SSLPassPhraseDialog exec:$dialog");
};
