# SPDX-License-Identifier: Apache-2.0
# Digests the token lacks, delegated (digest.c): a digest pkcs11be offers
# whose mechanism the token does not list, or refuses at C_DigestInit
# although it lists it, runs in OpenSSL's default provider inside
# pkcs11be, counted in "pkcs11-delegated", with the default provider's
# results for one-shots, streams, copies, re-inits and params
# (tests/c/digest_delegate.c); with pkcs11-delegate = no it fails, naming
# the mechanism. The shim hides a mechanism (P11SHIM_HIDE_MECHS) or makes
# C_DigestInit refuse it (P11SHIM_FAULTS); then every digest pkcs11be
# offers, as the token has it: on the token where it lists the mechanism,
# delegated where not (NSS's key slot has no digest, opencryptoki no
# SHA-224).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

my %MECHS = (SHA1 => 'CKM_SHA_1', SHA224 => 'CKM_SHA224',
             SHA256 => 'CKM_SHA256', SHA384 => 'CKM_SHA384',
             SHA512 => 'CKM_SHA512', MD5 => 'CKM_MD5');
# Mechanisms a token lists but refuses at C_DigestInit.
my %REFUSES = ();

use_shim();
my $check = test_program('digest_delegate');
my $kind = token_kind();

sub check {
    my ($env, @args) = @_;
    my ($rc, $out, $err) = run($check, @args,
        { env => { P11BE_BUILD_DIR => build_dir(), %$env }, timeout => 300 });
    my ($delegated) = $out =~ /^delegated: (\d+)$/m;
    return ($rc, "$out$err", $delegated // -1);
}

sub token_calls {
    my $n = 0;
    $n += count_of($_) for qw(C_DigestInit C_Digest C_DigestUpdate
                              C_DigestFinal);
    return $n;
}

my $log = File::Spec->catfile(tmp_dir(), 'debug.log');

# Digests one `compare` starts: OpenSSL 3.0 makes a provider context at
# every EVP_DigestInit_ex2, even on a reused EVP_MD_CTX, so each init
# counts: params 1, and per length a one-shot 1, the stream 3 (an init, a
# re-init after half the message, one more), a copy 1 (copies are not
# counted).
my $STARTED = 1 + 5 * (1 + 3 + 1);

# A digest hidden by the shim: the token's list lacks it.
subtest 'SHA-224 hidden from the mechanism list: delegated' => sub {
    unlink $log;
    reset_counts();
    my ($rc, $out, $delegated) = check(
        { P11SHIM_HIDE_MECHS => '0x255', P11BE_DEBUG => $log },
        'compare', 'SHA224');
    is($rc, 0, 'EVP_Digest, streams, copies, re-init and params as the '
       . 'default provider') or diag $out;
    is(() = $out =~ /^ok: /mg, 16, 'every check ran');
    is(token_calls(), 0, 'no C_Digest* call reached the token');
    is($delegated, $STARTED, 'pkcs11-delegated counts each digest started');
    my $trace = -e $log ? read_file($log) : '';
    like($trace, qr/SHA2-224: CKM_SHA224 not in its mechanism list, by the default provider/,
         'P11BE_DEBUG says why');
    like($trace, qr/digest delegated to the default provider/,
         '... and counts it');

    # openssl dgst: what a user sees, against the default provider.
    my $file = File::Spec->catfile(tmp_dir(), 'msg.bin');
    write_file($file, random_bytes(100_000, 3));
    my ($drc, $dout, $derr) = ossl_p11('dgst', '-provider', 'default',
        '-propquery', 'provider=pkcs11be', '-sha224', $file,
        { env => { P11SHIM_HIDE_MECHS => '0x255' } });
    my (undef, $ref) = ossl('dgst', '-provider', 'default', '-sha224', $file);
    is($drc, 0, 'openssl dgst -sha224 succeeds') or diag $derr;
    is($dout, $ref, '... with the default provider\'s digest');

    my ($frc, $fout) = check(
        { P11SHIM_HIDE_MECHS => '0x255', P11BE_DELEGATE => 'no' },
        'fail', 'SHA224');
    is($frc, 0, 'pkcs11-delegate=no: SHA-224 fails') or diag $fout;
    like($fout, qr/SHA2-224: CKM_SHA224 is not supported by the token \(not in its mechanism list\), and P11BE_DELEGATE=no keeps the default provider from doing it/,
         '... naming the missing mechanism and the setting');
    ($drc, undef, $derr) = ossl_p11('dgst', '-provider', 'default',
        '-propquery', 'provider=pkcs11be', '-sha224', $file,
        { env => { P11SHIM_HIDE_MECHS => '0x255', P11BE_DELEGATE => 'no' } });
    isnt($drc, 0, 'openssl dgst -sha224 fails too');
    like($derr, qr/CKM_SHA224 is not supported by the token/,
         '... and says why');
};

# Listed, but refused when used: learned at the first C_DigestInit.
subtest 'SHA-256 refused at C_DigestInit: delegated from then on' => sub {
    plan skip_all => "the $kind token lacks CKM_SHA256"
        unless has_mech('CKM_SHA256');
    my $refuse = 'C_DigestInit:CKR_MECHANISM_INVALID';
    # One-shots first: params' context ends before final, on the token.
    # A 2 MiB one-shot first: that one too is delegated.
    for my $case (['one-shots first', 'compare', $STARTED - 1],
                  ['a 2 MiB stream first', 'compare-big', $STARTED + 1]) {
        my ($name, $mode, $contexts) = @$case;
        unlink $log;
        reset_counts();
        my ($rc, $out, $delegated) = check(
            { P11SHIM_FAULTS => $refuse, P11BE_DEBUG => $log },
            $mode, 'SHA256');
        is($rc, 0, "$name: every result as the default provider's")
            or diag $out;
        is(count_of('C_DigestInit'), 1, "$name: the token was asked once");
        is(count_of('C_Digest') + count_of('C_DigestUpdate'), 0,
           "$name: and never digested");
        is($delegated, $contexts, "$name: every later context delegated");
        like(-e $log ? read_file($log) : '',
             qr/SHA2-256: CKM_SHA256 refused at C_DigestInit, by the default provider/,
             "$name: P11BE_DEBUG says why");
    }

    my ($frc, $fout) = check(
        { P11SHIM_FAULTS => $refuse, P11BE_DELEGATE => 'no' },
        'fail', 'SHA256');
    is($frc, 0, 'pkcs11-delegate=no: SHA-256 fails') or diag $fout;
    like($fout, qr/CKM_SHA256 is not supported by the token \(refused at C_DigestInit\)/,
         '... naming the mechanism');
};

# 8 threads x 200 SHA-256 digests (tests/c/digest_check.c), each checked
# against the default provider: hidden, and refused while threads race to
# learn it.
subtest '8 threads, SHA-256 delegated' => sub {
    plan skip_all => "the $kind token lacks CKM_SHA256"
        unless has_mech('CKM_SHA256');
    my $threads = test_program('digest_check');
    for my $case (['hidden', { P11SHIM_HIDE_MECHS => '0x250' }],
                  ['refused at C_DigestInit',
                   { P11SHIM_FAULTS => 'C_DigestInit:CKR_MECHANISM_INVALID' }]) {
        my ($name, $env) = @$case;
        reset_counts();
        my ($rc, $out, $err) = run($threads, 'threads', 8,
            { env => { P11BE_BUILD_DIR => build_dir(), %$env },
              timeout => 300 });
        is($rc, 0, "$name: every digest as the default provider's")
            or diag "$out$err";
        is(count_of('C_Digest') + count_of('C_DigestUpdate'), 0,
           "$name: none on the token");
        cmp_ok(count_of('C_DigestInit'), '<=', 8,
               "$name: at most one refusal per thread before it is known");
    }
};

# Every digest on this token as it is: the token where it lists the
# mechanism, the default provider inside pkcs11be where it does not.
for my $alg (sort keys %MECHS) {
    my $mech = $MECHS{$alg};
    my $on_token = has_mech($mech) && !$REFUSES{$kind}{$mech};
    subtest "$alg on the $kind token: "
        . ($on_token ? 'on the token' : 'delegated') => sub {
        reset_counts();
        my ($rc, $out, $delegated) = check({}, 'compare', $alg);
        is($rc, 0, 'every result as the default provider\'s') or diag $out;
        if ($on_token) {
            cmp_ok(count_of('C_Digest') + count_of('C_DigestFinal'), '>', 0,
                   "$mech: the token digested");
            is($delegated, 0, 'nothing delegated');
        } else {
            cmp_ok(count_of('C_DigestInit'), '<=', 1,
                   "no $mech on the token");
            cmp_ok($delegated, '>=', $STARTED - 1, "delegated ($delegated)");
        }
    };
}

done_testing();
