#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Known answers for HMAC and CMAC through pkcs11be, with the counting shim
# proving the token computed them: RFC 2202 (HMAC-SHA-1) and RFC 4231
# (HMAC-SHA-2) vectors, every key length in them, NIST SP 800-38B /
# RFC 4493 AES-CMAC vectors, and RFC 2202 HMAC-MD5 and SP 800-38B
# 3DES-CMAC where the token has CKM_MD5_HMAC and CKM_DES3_CMAC (the MAC
# recipe of doc/recipes.md); through a C program (tests/c/mac_check.c, on
# the token's CKM_*_HMAC and on RFC 2104 over its digests), through
# `openssl mac`, and through pyca/cryptography under OPENSSL_CONF.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use P11BE;

my $vectors = '/usr/lib/python3/dist-packages/cryptography_vectors';
plan skip_all => "no test vectors in $vectors (python3-cryptography-vectors)"
    unless -d $vectors;
need_mechs(qw(CKM_SHA256_HMAC CKM_AES_CMAC));
plan tests => 6;

use_shim();
my $build = build_dir();
my $mac_check = test_program('mac_check');

# [alg, sub, key hex, message hex, expected hex], from the vector files.
my @hmac_files = (['SHA1', 'rfc-2202-sha1.txt'],
                  ['SHA2-224', 'rfc-4231-sha224.txt'],
                  ['SHA2-256', 'rfc-4231-sha256.txt'],
                  ['SHA2-384', 'rfc-4231-sha384.txt'],
                  ['SHA2-512', 'rfc-4231-sha512.txt']);
my @cmac_files = (['AES-128-CBC', 'nist-800-38b-aes128.txt'],
                  ['AES-192-CBC', 'nist-800-38b-aes192.txt'],
                  ['AES-256-CBC', 'nist-800-38b-aes256.txt']);
# The MAC recipe's proof, on tokens that have the mechanisms.
my %recipe = (MD5 => 0x211, 'DES-EDE3-CBC' => 0x138); # CKM_MD5_HMAC, _DES3_CMAC
push @hmac_files, ['MD5', 'rfc-2202-md5.txt'] if has_mech('CKM_MD5_HMAC');
push @cmac_files, ['DES-EDE3-CBC', 'nist-800-38b-3des.txt']
    if has_mech('CKM_DES3_CMAC');

sub load_vectors {
    my ($alg, $sub, $file, $k, $m, $o) = @_;
    my (@out, %cur);

    for my $line (split /\n/, read_file($file)) {
        $line =~ s/\s+\z//;
        next unless $line =~ /\A(\w+) = ?(.*)\z/;
        $cur{$1} = $2;
        if ($1 eq $o) {
            # 3DES vectors give the key as KEY1, KEY2 and KEY3.
            my $key = $cur{$k} // join '', @cur{qw(KEY1 KEY2 KEY3)};
            push @out, [$alg, $sub, lc $key, lc($cur{$m} // ''),
                        lc $cur{$o}];
            %cur = ();
        }
    }
    return @out;
}

my @hmac = map { load_vectors('HMAC', $_->[0],
                              "$vectors/HMAC/$_->[1]", qw(Key Msg MD)) }
           @hmac_files;
my @cmac = map { load_vectors('CMAC', $_->[0],
                              "$vectors/CMAC/$_->[1]",
                              qw(KEY MESSAGE OUTPUT)) } @cmac_files;
my @all = (@hmac, @cmac);
my %key_lens = map { length($_->[2]) / 2 => 1 } @hmac;

# The C program reads "ALG SUB KEYHEX MSGHEX [METHOD]", prints MAC hex.
sub kat_through_c {
    my ($method, @vecs) = @_;
    my $in = join '', map {
        join(' ', @$_[0 .. 2], $_->[3] eq '' ? '-' : $_->[3],
             $method // ()) . "\n"
    } @vecs;
    my ($rc, $out, $err) = run($mac_check, 'kat',
        { stdin => $in, env => { P11BE_BUILD_DIR => $build } });
    is($rc, 0, 'mac_check kat exits 0') or diag "$out$err";
    my @got = split /\n/, $out;
    is(scalar @got, scalar @vecs, 'one answer per vector');
    for my $i (0 .. $#vecs) {
        my ($alg, $sub, $key) = @{ $vecs[$i] };
        is($got[$i], $vecs[$i][4],
           sprintf('%s-%s, %d-byte key', $alg, $sub, length($key) / 2));
    }
}

subtest 'RFC 2202/4231 HMAC and SP 800-38B CMAC through a C program' => sub {
    plan tests => 2 + @all + 4;

    reset_counts();
    kat_through_c(undef, @all);
    is(count_of('C_Sign'), scalar @all, 'one C_Sign per vector');
    is(count_of('C_SignInit'), scalar @all, 'one C_SignInit per vector');
    is(count_of('C_CreateObject'), scalar @all, 'one key object per vector');
    is(count_of('C_DestroyObject'), count_of('C_CreateObject'),
       'every key object destroyed');
};

subtest 'HMAC vectors by RFC 2104 over the token\'s digest' => sub {
    plan tests => 2 + @hmac + 3;

    reset_counts();
    kat_through_c('digest', @hmac);
    is(count_of('C_SignInit'), 0, 'no CKM_*_HMAC used');
    # Inner and outer hash, and the hash of every key longer than B.
    my $long = grep { length($_->[2]) / 2 > ($_->[1] =~ /384|512/ ? 128 : 64) }
               @hmac;
    is(count_of('C_Digest'), 2 * @hmac + $long,
       'C_Digest: inner and outer per vector, and each long key');
    is(count_of('C_CreateObject'), 0, 'no key object needed');
};

subtest 'the same vectors through openssl mac' => sub {
    plan tests => 2 * @all + 1;

    my $dir = tmp_dir();
    reset_counts();
    for my $i (0 .. $#all) {
        my ($alg, $sub, $key, $msg, $want) = @{ $all[$i] };
        my $file = File::Spec->catfile($dir, "msg$i");
        write_file($file, pack('H*', $msg));
        my ($rc, $out, $err) = ossl_p11('mac', '-provider', 'default',
            '-propquery', 'provider=pkcs11be',
            $alg eq 'HMAC' ? ('-digest', $sub) : ('-cipher', $sub),
            '-macopt', "hexkey:$key", '-in', $file, $alg);
        is($rc, 0, "openssl mac $alg-$sub vector $i exits 0") or diag $err;
        (my $got = lc $out) =~ s/\s+//g;
        is($got, $want, "openssl mac $alg-$sub, "
                        . length($key) / 2 . '-byte key');
    }
    is(count_of('C_Sign'), scalar @all, 'the token made every MAC');
};

# pyca/cryptography 38 uses OpenSSL's HMAC_* and CMAC_* functions, which
# run on EVP digests and ciphers (not EVP_MAC): under OPENSSL_CONF those
# come from pkcs11be where it offers them.
my $pyca = <<'PY';
import sys
from cryptography.hazmat.primitives import cmac, hashes, hmac
from cryptography.hazmat.primitives.ciphers import algorithms

HASHES = {"MD5": hashes.MD5, "SHA1": hashes.SHA1, "SHA2-224": hashes.SHA224,
          "SHA2-256": hashes.SHA256, "SHA2-384": hashes.SHA384,
          "SHA2-512": hashes.SHA512}
for line in sys.stdin:
    alg, sub, key, msg = line.split()
    key = bytes.fromhex(key)
    msg = b"" if msg == "-" else bytes.fromhex(msg)
    if alg == "HMAC":
        ctx = hmac.HMAC(key, HASHES[sub]())
    elif sub == "DES-EDE3-CBC":
        ctx = cmac.CMAC(algorithms.TripleDES(key))
    else:
        ctx = cmac.CMAC(algorithms.AES(key))
    half = len(msg) // 2
    ctx.update(msg[:half])
    copy = ctx.copy()
    ctx.update(msg[half:])
    copy.update(msg[half:])
    a, b = ctx.finalize().hex(), copy.finalize().hex()
    print(a if a == b else "copy differs: %s %s" % (a, b))
PY

subtest 'pyca/cryptography hmac.HMAC and cmac.CMAC under OPENSSL_CONF' => sub {
    plan skip_all => 'no /usr/bin/python3' unless -x '/usr/bin/python3';
    plan tests => 3 + @all + 1;

    my $conf = File::Spec->catfile($build, 'openssl.cnf');
    my $in = join '', map {
        join(' ', @$_[0 .. 2], $_->[3] eq '' ? '-' : $_->[3]) . "\n"
    } @all;
    reset_counts();
    my ($rc, $out, $err) = run('/usr/bin/python3', '-c', $pyca,
        { stdin => $in, env => { OPENSSL_CONF => $conf } });
    is($rc, 0, 'python3 exits 0') or diag $err;
    my @got = split /\n/, $out;
    is(scalar @got, scalar @all, 'one answer per vector');
    for my $i (0 .. $#all) {
        my ($alg, $sub, $key) = @{ $all[$i] };
        is($got[$i], $all[$i][4],
           "$alg-$sub, " . length($key) / 2 . '-byte key, copy() mid-stream');
    }
    cmp_ok(count_of('C_DigestInit'), '>=', 2 * @hmac,
           'HMAC_* hashed on the token');

    SKIP: {
        my (undef, $list) = ossl_p11('list', '-cipher-algorithms');
        skip 'pkcs11be offers no AES-128-CBC yet: CMAC_* ran in software', 1
            unless $list =~ /AES-128-CBC.*\@ pkcs11be/;
        cmp_ok(count_of('C_EncryptInit'), '>', 0,
               'CMAC_* encrypted on the token');
    }
};

# P11SHIM_LOG names the mechanism of every C_SignInit: the recipe's MACs
# ran on the token's own CKM_MD5_HMAC and CKM_DES3_CMAC.
subtest 'MD5-HMAC and DES3-CMAC on the token\'s own mechanisms' => sub {
    my @vecs = grep { exists $recipe{$_->[1]} } @all;
    plan skip_all => 'the token lacks CKM_MD5_HMAC and CKM_DES3_CMAC'
        unless @vecs;
    plan tests => 2 + @vecs + 2 * keys %recipe;

    my $log = File::Spec->catfile(tmp_dir(), 'shim.log');
    my $in = join '', map {
        join(' ', @$_[0 .. 2], $_->[3] eq '' ? '-' : $_->[3]) . "\n"
    } @vecs;
    my ($rc, $out, $err) = run($mac_check, 'kat',
        { stdin => $in, env => { P11BE_BUILD_DIR => $build,
                                 P11SHIM_LOG => $log } });
    is($rc, 0, 'mac_check kat exits 0') or diag "$out$err";
    my @got = split /\n/, $out;
    is(scalar @got, scalar @vecs, 'one answer per vector');
    is($got[$_], $vecs[$_][4], "$vecs[$_][0]-$vecs[$_][1] vector $_")
        for 0 .. $#vecs;
    my $text = -e $log ? read_file($log) : '';
    for my $sub (sort keys %recipe) {
        my $want = grep { $_->[1] eq $sub } @vecs;
        my $mech = sprintf '0x%x', $recipe{$sub};
        my $signs = () = $text =~ /^pid=\d+ mech C_SignInit $mech CKR_OK$/mg;
        is($signs, $want, "$sub: a C_SignInit with mechanism $mech per vector");
        my $type = $sub eq 'MD5' ? '0x10' : '0x15'; # CKK_GENERIC_SECRET, _DES3
        my $keys = () = $text
            =~ /^pid=\d+ object fn=C_CreateObject h=\d+ class=0x4 key_type=$type /mg;
        is($keys, $want, "$sub: a key object of type $type per vector");
    }
};

subtest 'the vectors cover every class of key length' => sub {
    plan tests => 3;

    # SoftHSM2's CKM_SHA256_HMAC takes 32..512 bytes; B is 64 or 128.
    ok((grep { $_ < 20 } keys %key_lens), 'keys shorter than any digest');
    ok((grep { $_ > 64 && $_ <= 128 } keys %key_lens),
       'keys longer than SHA-1/SHA-2-256\'s block');
    ok((grep { $_ > 128 } keys %key_lens),
       'keys longer than SHA-512\'s block');
};
