# SPDX-License-Identifier: Apache-2.0
# PKCS11-RAND: random bytes from the token's C_GenerateRandom, fetched
# directly and as the seed source of OpenSSL's DRBG by config
# ([random] seed = PKCS11-RAND), under threads, across a fork, and with
# SoftHSM2 drawing its own random bytes from OpenSSL inside token calls.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Spec;
use P11BE;

use_shim();
my $prog = test_program('rand_check');
my $dir = tmp_dir();
my $module = provider_module();

# A config whose [random] section makes the token the DRBG's seed source,
# by default with OpenSSL's own DRBG (properties); $extra->{drbg} replaces
# that line.
sub seed_conf {
    my ($name, $extra) = @_;
    my $drbg = $extra->{drbg} // 'properties = provider=default';
    my $path = File::Spec->catfile($dir, $name);

    write_file($path, <<"EOF");
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
random = random_sect
$extra->{init}
[provider_sect]
pkcs11be = pkcs11be_sect
default = default_sect
[pkcs11be_sect]
module = $module
activate = 1
[default_sect]
activate = 1
[random_sect]
seed = PKCS11-RAND
$drbg
$extra->{sections}
EOF
    return $path;
}
my $seed_conf = seed_conf('seed.cnf', { init => '', sections => '' });
my $seed_pref_conf = seed_conf('seed-pref.cnf', {
    init => 'alg_section = algorithm_sect',
    sections => "[algorithm_sect]\ndefault_properties = ?provider=pkcs11be\n",
});

subtest 'fetched directly: 1 MiB in 4 KiB generates' => sub {
    plan tests => 5;

    reset_counts();
    my ($rc, $out, $err) = run($prog, 'direct', { timeout => 60 });
    is($rc, 0, 'generates, random-looking, bad strength refused')
        or diag $err;
    like($out, qr/ones=\d+ of 8388608/, 'bit balance within 6 sigma');
    my ($generates) = $out =~ /generates=(\d+)/;
    ok(defined $generates, 'generate count printed');
    is(count_of('C_GenerateRandom'), $generates // -1,
       'one C_GenerateRandom per generate');
    is(count_of('C_EncryptInit'), 0, 'nothing else on the token');
};

subtest 'a lost session is replaced; a failing token is a clear error' => sub {
    plan tests => 4;

    reset_counts();
    my ($rc, $out, $err) = run($prog, 'direct', { timeout => 60, env => {
        P11SHIM_FAULTS => 'C_GenerateRandom:CKR_SESSION_HANDLE_INVALID:nth=5' } });
    is($rc, 0, 'the fifth C_GenerateRandom loses its session: still 1 MiB')
        or diag $err;
    is(fault_of('C_GenerateRandom.injected'), 1, 'the fault was injected');
    reset_counts();
    ($rc, $out, $err) = run($prog, 'direct', { timeout => 60, env => {
        P11SHIM_FAULTS => 'C_GenerateRandom:CKR_DEVICE_ERROR:nth=3' } });
    isnt($rc, 0, 'CKR_DEVICE_ERROR fails the generate');
    like($out . $err, qr/C_GenerateRandom: CKR_DEVICE_ERROR/, 'and says so');
};

subtest 'the seed of a library context\'s DRBG, 8 threads' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out, $err) = run($prog, 'seeded', $seed_conf, { timeout => 60 });
    is($rc, 0, '8 threads x 200 RAND_bytes_ex, all distinct') or diag $err;
    cmp_ok(count_of('C_GenerateRandom'), '>=', 1,
           'the DRBG was seeded from the token');
};

subtest 'a fork: the child\'s bytes are its own' => sub {
    plan tests => 2;

    reset_counts();
    my ($rc, $out, $err) = run($prog, 'fork', $seed_conf, { timeout => 60 });
    is($rc, 0, 'directly and through the seeded DRBG') or diag $err;
    like($out, qr/seeded DRBG: child and parent differ/, 'both checked');
};

subtest 're-entry: SoftHSM2 draws from OpenSSL inside token calls' => sub {
    my $why = lacks_mechs('CKM_EC_KEY_PAIR_GEN');
    plan $why ? (skip_all => $why) : (tests => 4);

    # The process's own DRBG seeded from the token, pkcs11be preferred: a
    # key generation on the token makes SoftHSM2 call RAND_bytes inside
    # C_GenerateKeyPair, which must not come back to the token.
    my $log = File::Spec->catfile($dir, 'reentry.log');
    reset_counts();
    my ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-pkeyopt', 'pkcs11-key-label:rand-reentry',
        '-out', File::Spec->catfile($dir, 'k.pem'),
        { env => { OPENSSL_CONF => $seed_pref_conf, P11BE_DEBUG => $log },
          timeout => 30 });
    isnt($rc, 124, 'no hang');
    is($rc, 0, 'the key is generated') or diag $err;
    is(count_of('C_GenerateKeyPair'), 1, 'on the token');
    like(read_file($log), qr/rand_bytes: re-entered from the module/,
         'the seed SoftHSM2 asked for inside the call came from the host');
};

subtest 'openssl rand with the process\'s DRBG seeded from the token' => sub {
    plan tests => 4;

    reset_counts();
    my ($rc, $out, $err) = ossl('rand', '-hex', '32',
        { env => { OPENSSL_CONF => $seed_conf }, timeout => 30 });
    isnt($rc, 124, 'no hang');
    cmp_ok(count_of('C_GenerateRandom'), '>=', 1, 'the token was asked');
    ok($rc == 0 || $err =~ /cannot seed this process's DRBG/,
       'a failure says why') or diag $err;
  TODO: {
        # SoftHSM2's C_GenerateRandom is this process's RAND_bytes: OpenSSL
        # 3.0 asks the seed source while it holds the lock that RAND_bytes
        # needs, so SoftHSM2's call fails (CKR_GENERAL_ERROR). A token with
        # its own generator (an HSM) has no such loop; the library-context
        # subtest above is that case.
        local $TODO = 'SoftHSM2 cannot seed the DRBG it draws from itself';
        is($rc, 0, 'random bytes come out') or diag $err;
    }
};

# pkcs11be's CTR-, HASH- and HMAC-DRBG run whole in the default provider:
# with pkcs11be preferred and no [random] section, OpenSSL's DRBG used to
# fetch its AES-256-CTR from pkcs11be (an import and an encryption on the
# token per DRBG generate, and no random at all without CKM_AES_CTR).
my $cnf = build_dir() . '/openssl.cnf';
(my $user_cnf_text = read_file($cnf)) =~ s/^random = random_sect\n//m
    or die "no random line in $cnf";
$user_cnf_text =~ s/^\[random_sect\]\n[^[]*//m;
my $user_cnf = File::Spec->catfile($dir, 'user.cnf');
write_file($user_cnf, $user_cnf_text);
my @host_only = qw(C_EncryptInit C_Encrypt C_DigestInit C_Digest
                   C_CreateObject C_SignInit C_Sign);

sub token_work {
    my $counts = counts();

    return join(' ', map { "$_=$counts->{$_}" } grep { $counts->{$_} }
                @host_only) || 'none';
}

subtest 'the DRBG never costs a token call' => sub {
    plan tests => 8;

    for my $conf ([$cnf, 'build/openssl.cnf'],
                  [$user_cnf, 'the same without its [random] section']) {
        my $log = File::Spec->catfile($dir, 'drbg.log');
        unlink $log;
        reset_counts();
        my ($rc, $out, $err) = ossl('rand', '-hex', '64',
            { env => { OPENSSL_CONF => $conf->[0], P11BE_DEBUG => $log },
              timeout => 30 });
        is($rc, 0, "openssl rand -hex 64 under $conf->[1]") or diag $err;
        is(token_work(), 'none', '... no cipher, digest or MAC on the token');
        reset_counts();
        ($rc, $out, $err) = run($prog, 'public', '1000',
            { env => { OPENSSL_CONF => $conf->[0] }, timeout => 60 });
        is($rc, 0, "1000 x RAND_bytes under $conf->[1]") or diag $err;
        is(token_work(), 'none', '... no cipher, digest or MAC on the token');
    }
};

subtest 'pkcs11be\'s DRBG, seeded from SEED-SRC and from the token' => sub {
    plan tests => 6;

    my $log = File::Spec->catfile($dir, 'delegated.log');
    reset_counts();
    my ($rc, $out, $err) = ossl('rand', '-hex', '16',
        { env => { OPENSSL_CONF => $user_cnf, P11BE_DEBUG => $log },
          timeout => 30 });
    is($rc, 0, 'parent SEED-SRC (the default seed source)') or diag $err;
    like(read_file($log),
         qr/CTR-DRBG delegated to the default provider \(2 so far\)/,
         'the primary and public DRBGs are pkcs11be\'s, delegated');

    my $conf = seed_conf('seed-drbg.cnf', {
        init => 'alg_section = algorithm_sect', drbg => '',
        sections => "[algorithm_sect]\ndefault_properties = ?provider=pkcs11be\n",
    });
    reset_counts();
    ($rc, $out, $err) = run($prog, 'seeded', $conf, { timeout => 60 });
    is($rc, 0, 'parent PKCS11-RAND, 8 threads') or diag $err;
    cmp_ok(count_of('C_GenerateRandom'), '>=', 1, 'seeded from the token');
    is(token_work(), 'none', 'and nothing else on the token');
    ($rc, $out, $err) = run($prog, 'fork', $conf, { timeout => 60 });
    is($rc, 0, 'a fork: the child\'s bytes differ from its parent\'s')
        or diag $err;
};

subtest 'a token without CKM_AES_CTR' => sub {
    plan tests => 3;

    my %env = (OPENSSL_CONF => $user_cnf, P11SHIM_HIDE_MECHS => '0x1086');
    my ($rc, $out, $err) = ossl('rand', '-hex', '16',
                                { env => \%env, timeout => 30 });
    is($rc, 0, 'openssl rand') or diag $err;
    like($out, qr/\A[0-9a-f]{32}\s*\z/, 'random bytes come out');
    SKIP: {
        my $why = lacks_mechs('CKM_EC_KEY_PAIR_GEN');
        skip $why, 1 if $why;
        ($rc, $out, $err) = ossl('genpkey', '-algorithm', 'EC', '-pkeyopt',
                                 'ec_paramgen_curve:P-256',
                                 { env => \%env, timeout => 30 });
        is($rc, 0, 'openssl genpkey -algorithm EC') or diag $err;
    }
};

done_testing();
