#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# pkcs11-module-init-args (P11BE_MODULE_INIT_ARGS): a string passed to
# C_Initialize in CK_C_INITIALIZE_ARGS.pReserved. NSS's softokn
# (libsoftokn3.so) refuses to start without one naming its database. The
# token is softokn's "NSS Generic Crypto Services", chosen by label,
# behind the counting shim; SHA-256, HMAC-SHA256 and AES-128-CBC results
# are compared with the default provider's. Two provider instances that
# ask for the same module with different init args: the second is refused
# with an error naming both (a module is initialised once per process).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use File::Spec;
use Test::More;
use P11BE;

my ($softokn) = grep { -f } (glob('/usr/lib/*/libsoftokn3.so'),
                             glob('/usr/lib/*/nss/libsoftokn3.so'));
plan skip_all => "NSS's libsoftokn3.so (libnss3) is not installed"
    unless defined $softokn;
my $certutil = (grep { -x } qw(/usr/bin/certutil))[0];
plan skip_all => 'certutil (libnss3-tools) is not installed'
    unless defined $certutil;
plan tests => 9;

my $db = File::Spec->catdir(tmp_dir(), 'nssdb');
mkdir $db or die "mkdir $db: $!";
my ($rc, $out, $err) = run($certutil, '-N', '-d', "sql:$db",
                           '--empty-password');
die "certutil -N failed: $out$err" if $rc != 0;

use_shim();
# This file gives softokn its own database and arguments, whatever token
# P11BE_TOKEN made.
delete $ENV{P11BE_MODULE_INIT_ARGS};
$ENV{P11SHIM_MODULE} = $softokn;
delete $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
my $args = "configdir='sql:$db' certPrefix='' keyPrefix='' "
         . "secmod='secmod.db' flags=";

# A config file activating the default provider and pkcs11be on softokn's
# crypto token, with these init args (none: undef).
sub config {
    my ($name, $init_args) = @_;
    my $path = File::Spec->catfile(tmp_dir(), "$name.cnf");
    my $line = defined $init_args
        ? qq{pkcs11-module-init-args = "$init_args"\n} : '';
    my $module = provider_module();
    write_file($path, <<"CNF");
openssl_conf = init
[init]
providers = provs
[provs]
default = def
pkcs11be = p11
[def]
activate = 1
[p11]
module = $module
activate = 1
pkcs11-module-path = $ENV{CRYPTOGRAPHY_PKCS11_PATH}
pkcs11-token-label = NSS Generic Crypto Services
$line
CNF
    return $path;
}

my $cnf = config('nss', $args);
my %env = (env => { OPENSSL_CONF => $cnf });
my @p11 = ('-propquery', 'provider=pkcs11be');
my $msg = File::Spec->catfile(tmp_dir(), 'msg');
write_file($msg, random_bytes(1000, 'nss'));
my $sha = sha256_hex(random_bytes(1000, 'nss'));

reset_counts();
($rc, $out, $err) = ossl('dgst', '-sha256', '-r', @p11, $msg, \%env);
is((split ' ', $out)[0] // '', $sha, 'SHA-256 on softokn matches')
    or diag("$out$err");
cmp_ok(count_of('C_Digest'), '>=', 1, 'softokn computed it');

my $key = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
my @mac = ('-digest', 'SHA256', '-macopt', "hexkey:$key", '-in', $msg,
           'HMAC');
my ($rc1, $got) = ossl('mac', @p11, @mac, \%env);
my ($rc2, $want) = ossl('mac', @mac);
ok($rc1 == 0 && $got eq $want && $want ne '',
   'HMAC-SHA256 on softokn matches the default provider')
    or diag("got $got want $want");
cmp_ok(count_of('C_Sign') + count_of('C_SignFinal'), '>=', 1,
       'softokn computed it');

my @enc = ('-aes-128-cbc', '-K', substr($key, 0, 32), '-iv',
           substr($key, 32, 32), '-in', $msg);
($rc1, $got) = ossl('enc', @p11, @enc, \%env);
($rc2, $want) = ossl('enc', @enc);
ok($rc1 == 0 && $got eq $want && length($want) == 1008,
   'AES-128-CBC on softokn matches the default provider');
cmp_ok(count_of('C_Encrypt') + count_of('C_EncryptUpdate'), '>=', 1,
       'softokn computed it');

# The environment form, and none at all.
my $noargs = config('noargs', undef);
($rc, $out, $err) = ossl('dgst', '-sha256', '-r', @p11, $msg,
    { env => { OPENSSL_CONF => $noargs, P11BE_MODULE_INIT_ARGS => $args } });
is((split ' ', $out)[0] // '', $sha, 'P11BE_MODULE_INIT_ARGS works the same')
    or diag("$out$err");
($rc, $out, $err) = ossl('dgst', '-sha256', @p11, $msg,
                         { env => { OPENSSL_CONF => $noargs } });
like("$out$err", qr/C_Initialize failed: CKR_ARGUMENTS_BAD/,
     'without init args softokn refuses C_Initialize, and the error says so');

# Two instances, two library contexts, one module, different init args.
($rc, $out, $err) = run(test_program('initargs_check'), $cnf,
                        config('readonly', "${args}readOnly"), $cnf);
like($out, qr/\Q$cnf\E: ok\n.*readonly\.cnf: failed\n.*pkcs11-module-init-args=.*flags=readOnly.*already in use in this process with init args .*flags=".*\Q$cnf\E: ok/s,
     'a second instance asking for other init args is refused, naming '
     . 'both; the first goes on') or diag("$out$err");
