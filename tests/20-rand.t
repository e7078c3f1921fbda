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

# A config whose [random] section makes the token the DRBG's seed source.
# The DRBG itself stays in the default provider (properties): this file
# tests the seed, not where the DRBG runs.
sub seed_conf {
    my ($name, $extra) = @_;
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
properties = provider=default
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
    plan tests => 4;

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
    plan tests => 3;

    reset_counts();
    my ($rc, $out, $err) = ossl('rand', '-hex', '32',
        { env => { OPENSSL_CONF => $seed_conf }, timeout => 30 });
    isnt($rc, 124, 'no hang');
    cmp_ok(count_of('C_GenerateRandom'), '>=', 1, 'the token was asked');
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

done_testing();
