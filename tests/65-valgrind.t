#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# valgrind (memcheck) on a subset of the C test programs: digest copies
# mid-stream, digests from 4 threads, HMAC/CMAC re-inits, dups and bad
# input, GCM corner cases and bad cipher input, PKCS11-RAND and the
# delegating DRBGs, and token keys by URI
# (the pkcs11 store, with and without a fork) and as key files (the
# encoders and decoder). A memcheck error (invalid
# read or write, use of uninitialised memory, bad free) or a definitely
# lost block fails the program with exit 99. Suppressions, with the reason
# for each: tests/valgrind.supp. The programs run two at a time to keep
# the file short.
#
# Skipped without valgrind, and under ASan (LD_PRELOAD holding libasan):
# the two cannot share a process.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use POSIX ();
use Test::More;
use P11BE;

plan skip_all => 'ASan is preloaded: valgrind cannot run with it'
    if ($ENV{LD_PRELOAD} // '') =~ /libasan/;
my ($valgrind) = grep { -x } map { File::Spec->catfile($_, 'valgrind') }
    File::Spec->path();
plan skip_all => 'valgrind is not installed' unless defined $valgrind;
# The suppressions vouch for SoftHSM2 and libcrypto only: p11-kit's
# modules leave blocks definitely lost at exit (its proxy state, reached
# from pkcs11be's C_Initialize) that nobody has yet shown not to be ours.
plan skip_all => 'P11BE_TOKEN=' . token_kind() . ': memcheck runs on '
                 . 'SoftHSM2 alone (tests/valgrind.supp covers no other module)'
    if token_kind() ne 'softhsm';
need_mechs(qw(CKM_SHA256 CKM_SHA256_HMAC CKM_AES_ECB CKM_AES_GCM
              CKM_EC_KEY_PAIR_GEN CKM_ECDSA));

# A persistent EC key for the store and key-file runs, made outside
# valgrind; its key file holds the key's pkcs11: URI.
my $key_file = File::Spec->catfile(tmp_dir(), 'vg-key.pem');
my ($gen_rc, undef, $gen_err) = ossl_p11('genpkey', '-provider', 'default',
    '-propquery', '?provider=pkcs11be', '-algorithm', 'EC', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-pkeyopt', 'pkcs11-key-label:vg',
    '-out', $key_file);
die "genpkey on the token failed: $gen_err" if $gen_rc != 0;
my $uri = 'pkcs11:object=vg;type=private';
my $conf = File::Spec->catfile(build_dir(), 'openssl.cnf');
# The same without its [random] section: OpenSSL's DRBG is then pkcs11be's
# delegating one (rand.c), its parent passed through a proxy.
(my $drbg_text = read_file($conf)) =~ s/^random = random_sect\n//m;
$drbg_text =~ s/^\[random_sect\]\n[^[]*//m;
my $drbg_conf = File::Spec->catfile(tmp_dir(), 'vg-drbg.cnf');
write_file($drbg_conf, $drbg_text);

my @runs = (
    [qw(digest_check copy)],
    [qw(digest_check threads 4)],
    [qw(mac_check reinit 5)],
    [qw(mac_check dup 100)],
    [qw(mac_check errors)],
    [qw(cipher_check gcm-edge)],
    [qw(cipher_check bad)],
    [qw(rand_check direct)],
    ['rand_check', 'public', '100', { OPENSSL_CONF => $drbg_conf }],
    ['store_check', $uri, 3],
    ['store_check', $uri, 2, { STORE_CHECK_FORK => 1 }],
    ['encoder_check', 'read', $key_file,
     File::Spec->catfile(tmp_dir(), 'vg-pub.pem'), { OPENSSL_CONF => $conf }],
);
plan tests => scalar @runs;

my $supp = File::Spec->catfile(source_dir(), 'tests', 'valgrind.supp');
my @memcheck = ($valgrind, '--error-exitcode=99', '--leak-check=full',
                '--errors-for-leak-kinds=definite', "--suppressions=$supp",
                '--num-callers=30');

# Runs one program under memcheck in a child process; its exit status and
# output go to files in tmp_dir(). Returns the child's pid.
sub start {
    my ($i, $argv) = @_;
    my $pid = fork() // die "fork: $!";
    return $pid if $pid != 0;

    my %env = (P11BE_BUILD_DIR => build_dir());
    my @args = @$argv[1 .. $#$argv];
    %env = (%env, %{ pop @args }) if @args && ref $args[-1] eq 'HASH';
    my ($rc, $out, $err) = run(@memcheck, '--trace-children=yes',
        test_program($argv->[0]), @args, { env => \%env, timeout => 180 });
    write_file(File::Spec->catfile(tmp_dir(), "vg$i.out"),
               "$rc\n$out$err");
    POSIX::_exit(0); # no END blocks: they belong to the parent
}

for (my $i = 0; $i < @runs; $i += 2) {
    my @batch = grep { $_ < @runs } ($i, $i + 1);
    waitpid($_, 0) for map { start($_, $runs[$_]) } @batch;
    for my $j (@batch) {
        my $text = read_file(File::Spec->catfile(tmp_dir(), "vg$j.out"));
        my ($rc) = $text =~ /\A(\d+)\n/;
        my $name = join ' ', grep { !ref } @{ $runs[$j] };
        ok(defined $rc && $rc == 0, "memcheck clean: $name")
            or diag("exit " . ($rc // '?') . "\n$text");
    }
}
