#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# NIST CAVS ECDSA vectors (FIPS 186-3, Debian's
# python3-cryptography-vectors) through pkcs11be (tests/c/ecvec_check.c),
# for P-256, P-384 and P-521 with SHA-1, SHA-224, SHA-256, SHA-384 and
# SHA-512:
#   - SigVer.rsp: every vector's (R, S) verified by pkcs11be; the verdict
#     is the file's Result (P/F), and the default provider's;
#   - SigGen.txt: every vector's private key d imported into pkcs11be,
#     its message signed on the token (C_Sign counted by the shim) and
#     verified by the default provider; the file's own (R, S) verified by
#     pkcs11be.
# Ed25519 (RFC 8032) vectors are in tests/73-ec-eddsa.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use P11BE;

my $dir = '/usr/lib/python3/dist-packages/cryptography_vectors/'
        . 'asymmetric/ECDSA/FIPS_186-3';
need_mechs(qw(CKM_ECDSA));
plan skip_all => "no python3-cryptography-vectors ($dir)"
    unless -r "$dir/SigVer.rsp" && -r "$dir/SigGen.txt";
plan tests => 2;

use_shim();
my $check = test_program('ecvec_check');

# Runs ecvec_check; returns its exit code, output and the figures line.
sub vectors {
    my ($mode, $file) = @_;
    reset_counts();
    my ($rc, $out, $err) = run($check, $mode, "$dir/$file",
        { env => { P11BE_BUILD_DIR => build_dir() }, timeout => 300 });
    my %f;
    %f = %+ if $out =~ /^vectors:\ total=(?<total>\d+)\ checked=(?<checked>\d+)
                        \ valid=(?<valid>\d+)\ invalid=(?<invalid>\d+)
                        \ signed=(?<signed>\d+)\ refused=(?<refused>\d+)
                        \ mismatched=(?<mismatched>\d+)$/mx;
    note($out);
    return ($rc, "$out$err", \%f);
}

subtest 'SigVer.rsp: pkcs11be verdicts match Result' => sub {
    plan tests => 7;
    my ($rc, $out, $f) = vectors('verify', 'SigVer.rsp');
    is($rc, 0, 'ecvec_check verify exits 0') or diag $out;
    # 3 curves x 5 digests x 15 vectors: 45 P, 180 F (R, S, Q or the
    # message changed).
    is($f->{total} // 0, 225, 'every P-256/384/521 vector read');
    is($f->{mismatched} // -1, 0, 'no verdict differs from the file');
    is($f->{valid} // 0, 45, 'the 45 good signatures verify');
    is($f->{invalid} // 0, 180, 'the 180 bad ones do not');
    like($out, qr/^ok: \[P-521,SHA-512\] 15 vectors, 0 mismatched$/m,
         'the last section too');
    is(count_of('C_Verify'), 0, 'verification runs on the host');
};

subtest 'SigGen.txt: vector keys sign on the token' => sub {
    plan tests => 6;
    my ($rc, $out, $f) = vectors('sign', 'SigGen.txt');
    is($rc, 0, 'ecvec_check sign exits 0') or diag $out;
    is($f->{total} // 0, 225, 'every P-256/384/521 key read');
    is($f->{signed} // 0, 225, 'every signature verified by default');
    is($f->{mismatched} // -1, 0, "and every file signature by pkcs11be");
    is(count_of('C_Sign'), 225, 'the token signed each message');
    is(count_of('C_DestroyObject'), count_of('C_CreateObject'),
       'every key object destroyed');
};
