#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Setuid programs: pkcs11be reads its environment settings the way OpenSSL
# reads its own, ignoring them in a process that runs with privileges its
# caller lacks. tests/c/setuid_check.c, copied setuid-root into a
# directory the user nobody can reach, is run by nobody with
# CRYPTOGRAPHY_PKCS11_PATH naming p11marker.so (which records that it was
# loaded, and as whom) and P11BE_DEBUG naming a file: neither is used. The
# same program without the setuid bit, run by nobody, uses both.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Copy qw(copy);
use File::Spec;
use Test::More;
use P11BE;

plan skip_all => 'needs root (to install a setuid-root program)' if $> != 0;
my $setpriv = (grep { -x } qw(/usr/bin/setpriv /bin/setpriv))[0];
plan skip_all => 'needs setpriv (util-linux)' unless defined $setpriv;
my $nobody = getpwnam('nobody');
plan skip_all => 'needs the user nobody' unless defined $nobody;

# Reachable by nobody: tmp_dir() is 0700.
chmod 0711, tmp_dir() or die "chmod: $!";
my $dir = File::Spec->catdir(tmp_dir(), 'suid');
my $out = File::Spec->catdir($dir, 'out');
mkdir $dir or die "mkdir $dir: $!";
mkdir $out or die "mkdir $out: $!";
chmod 0755, $dir;
chmod 01777, $out;
for my $file (test_program('setuid_check'), provider_module(),
              test_program('p11marker.so')) {
    my $to = File::Spec->catfile($dir, (File::Spec->splitpath($file))[2]);
    copy($file, $to) or die "copy $file: $!";
    chmod 0755, $to;
}
my $plain = File::Spec->catfile($dir, 'setuid_check');
my $suid = File::Spec->catfile($dir, 'setuid_check.suid');
copy($plain, $suid) or die "copy: $!";
chown 0, 0, $suid;
chmod 04755, $suid or die "chmod 4755: $!";
# A TMPDIR under a private directory, or a nosuid mount, defeats the test.
plan skip_all => "nobody cannot run programs in $dir (TMPDIR?)"
    if run($setpriv, "--reuid=$nobody", "--regid=$nobody", '--clear-groups',
           'test', '-x', $plain) != 0;
plan tests => 8;

# Runs `prog` as nobody with the settings pointing at p11marker.so and a
# debug file named after `tag`; returns (output, marker text, debug file?).
sub as_nobody {
    my ($prog, $tag) = @_;
    my $marker = File::Spec->catfile($out, "marker-$tag");
    my $debug = File::Spec->catfile($out, "debug-$tag");
    my ($rc, $stdout, $stderr) = run($setpriv, "--reuid=$nobody",
        "--regid=$nobody", '--clear-groups', $prog, $dir,
        { env => { CRYPTOGRAPHY_PKCS11_PATH =>
                       File::Spec->catfile($dir, 'p11marker.so'),
                   P11MARKER => $marker, P11BE_DEBUG => $debug } });
    note("$tag: exit $rc\n$stdout$stderr");
    return ("$stdout$stderr", -e $marker ? read_file($marker) : undef,
            -e $debug);
}

my ($text, $marker, $debug) = as_nobody($plain, 'plain');
like($marker // '', qr/loaded with euid $nobody\b/,
     'not setuid: CRYPTOGRAPHY_PKCS11_PATH is used');
ok($debug, 'not setuid: P11BE_DEBUG is used');
like($text, qr/not a PKCS#11 module/, 'not setuid: the error names the '
                                      . 'library that is not a module');

($text, $marker, $debug) = as_nobody($suid, 'setuid');
like($text, qr/sha256: failed/, 'setuid: the program ran');
ok(!defined $marker, 'setuid: the library CRYPTOGRAPHY_PKCS11_PATH names '
                     . 'was not loaded') or diag("marker: $marker");
ok(!$debug, 'setuid: P11BE_DEBUG was not written');
like($text, qr/set pkcs11-module-path.*the environment is ignored: this process runs setuid/,
     'setuid: pkcs11be says no module is configured, and why');
unlike($text, qr/p11marker/, 'setuid: nothing mentions the library');
