# SPDX-License-Identifier: Apache-2.0
# `cmake --install` puts pkcs11be.so in OpenSSL's modules directory (here
# under a DESTDIR), and the installed module works.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use P11BE;

# Digests on the token (SHA-256) run through every check here.
need_mechs(qw(CKM_SHA256));

my $modulesdir = `pkg-config --variable=modulesdir libcrypto`;
chomp $modulesdir;
plan skip_all => 'pkg-config does not know libcrypto\'s modulesdir'
    unless $modulesdir;
plan skip_all => 'no cmake' unless run('cmake', '--version') == 0;
plan tests => 4;

my $dest = tmp_dir() . '/destdir';
my ($rc, $out, $err) = run('cmake', '--install', build_dir(),
                           { env => { DESTDIR => $dest } });
is($rc, 0, 'cmake --install succeeds') or diag "$out$err";
my $installed = "$dest$modulesdir/pkcs11be.so";
ok(-f $installed, "installed as $modulesdir/pkcs11be.so");

use_shim();
my $file = tmp_dir() . '/abc';
write_file($file, 'abc');
($rc, $out, $err) = ossl('dgst', '-provider-path', "$dest$modulesdir",
                         '-provider', 'pkcs11be', '-provider', 'default',
                         '-propquery', 'provider=pkcs11be', '-sha256', $file);
like($out, qr/\Q${\ sha256_hex('abc')}\E/, 'the installed module hashes')
    or diag $err;
cmp_ok(count_of('C_Digest'), '>=', 1, 'on the token');
