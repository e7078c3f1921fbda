#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Python's ssl module (Debian's python3, linked with the system OpenSSL)
# with the server key on the token: `SSLContext.load_cert_chain(certfile,
# keyfile)` given the PKCS11 KEY URI key file under OPENSSL_CONF, in a
# forking HTTPS server (socketserver.ForkingMixIn: the parent loads the
# key, a child forked per connection answers it). The call log must show
# the children signing each handshake, on SoftHSM2 directly and through
# p11-kit's proxy, in both offload modes. A second server takes the key
# through load_cert_chain's password callback for the PIN instead of the
# configuration's pkcs11-pin.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;
use P11BE::Server;

servers_wanted('python3', 'curl');
my @variants = variants();
plan tests => 1 + @variants;

my $requests = 20;
my $ca = make_ca();
my ($key, $crt) = token_key_cert('python', $ca);
my $server = conf_path('server.py');
write_file($server, <<'PY');
import http.server, socketserver, ssl, sys

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pin_file = sys.argv[4] if len(sys.argv) > 4 else None

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake happens in the forked child, on its first read.
        return ctx.wrap_socket(sock, server_side=True,
                               do_handshake_on_connect=False), addr

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.options |= ssl.OP_NO_TICKET
if pin_file:
    # The PIN as the key's password, read when OpenSSL asks for it.
    ctx.load_cert_chain(cert, key,
                        password=lambda: open(pin_file).read().strip())
else:
    ctx.load_cert_chain(cert, key)
Server(("127.0.0.1", port), Hello).serve_forever()
PY

for my $v (@variants) {
    subtest "python ssl, $v->{name}" => sub {
        plan tests => 6;
        my $env = variant_env($v);
        my $port = free_port();
        my $srv = start_server(['python3', $server, $port, $crt, $key],
                               env => $env, port => $port,
                               name => "python-$v->{mode}-$v->{via}");
        ok($srv->{ok}, 'the python server started');
        my ($ok, $why) = https_requests($port, $ca->{crt}, $requests);
        is($ok, $requests, "$requests requests answered over TLS")
            or diag $why . P11BE::Server::server_output($srv);
        stop_server($srv);
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, $srv->{pid}, $requests);
    };
}

subtest 'the PIN from load_cert_chain(password=...) (no pkcs11-pin)' => sub {
    plan tests => 2;
    my $env = variant_env($variants[0], no_pin => 1);
    my $port = free_port();
    my $srv = start_server(['python3', $server, $port, $crt, $key,
                            pin_file()],
                           env => $env, port => $port,
                           name => 'python-password');
    ok($srv->{ok}, 'the key loaded with the PIN from the password callback')
        or diag P11BE::Server::server_output($srv);
    my ($ok, $why) = https_requests($port, $ca->{crt}, 2);
    is($ok, 2, 'and the children sign with it') or diag $why;
    stop_server($srv);
};
