# SPDX-License-Identifier: Apache-2.0
# Every digest through `openssl dgst` with pkcs11be: known answers (Perl's
# own Digest::SHA / Digest::MD5), the default provider's output, and the
# shim's counters showing that the token did the hashing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::MD5 ();
use Digest::SHA ();
use P11BE;

# SHA-256 on the token is what every check here runs.
need_mechs(qw(CKM_SHA256));

my %digests = (
    sha1   => [\&Digest::SHA::sha1_hex,   'CKM_SHA_1'],
    sha224 => [\&Digest::SHA::sha224_hex, 'CKM_SHA224'],
    sha256 => [\&Digest::SHA::sha256_hex, 'CKM_SHA256'],
    sha384 => [\&Digest::SHA::sha384_hex, 'CKM_SHA384'],
    sha512 => [\&Digest::SHA::sha512_hex, 'CKM_SHA512'],
    md5    => [\&Digest::MD5::md5_hex,    'CKM_MD5'],
);
my @props = ('-provider', 'default', '-propquery', 'provider=pkcs11be');

my %inputs = (
    empty => '',
    abc   => 'abc',
    '3MiB' => random_bytes(3 * 1024 * 1024 + 17),
);
my %files;
for my $name (keys %inputs) {
    $files{$name} = tmp_dir() . "/$name.bin";
    write_file($files{$name}, $inputs{$name});
}

sub digest_of {
    my ($out) = @_;
    return $out =~ /= ([0-9a-f]+)\s*\z/ ? $1 : "(no digest in: $out)";
}

use_shim();

for my $alg (sort keys %digests) {
    my ($reference, $mech) = @{ $digests{$alg} };

    subtest "$alg through the token" => sub {
        plan skip_all => "token lacks $mech" unless has_mech($mech);
        plan tests => 4 * keys %inputs;
        for my $name (sort keys %inputs) {
            reset_counts();
            my ($rc, $out, $err) = ossl_p11('dgst', @props, "-$alg",
                                            $files{$name});
            is($rc, 0, "$name: exit 0") or diag $err;
            is(digest_of($out), $reference->($inputs{$name}),
               "$name: known answer");
            my (undef, $ref) = ossl('dgst', '-provider', 'default', "-$alg",
                                    $files{$name});
            is(digest_of($out), digest_of($ref),
               "$name: matches the default provider");
            cmp_ok(count_of('C_Digest') + count_of('C_DigestFinal'), '>=', 1,
                   "$name: the token hashed it");
        }
    };
}

# Both load orders, with and without a property query: the right answer,
# no hang; with the query, on the token.
for my $order (['pkcs11be', 'default'], ['default', 'pkcs11be']) {
    my @load = map { ('-provider', $_) } @$order;
    my $label = join(' then ', @$order);

    reset_counts();
    my ($rc, $out, $err) = ossl('dgst', '-provider-path', build_dir(), @load,
                                '-propquery', 'provider=pkcs11be', '-sha256',
                                $files{abc}, { timeout => 30 });
    is(digest_of($out), Digest::SHA::sha256_hex('abc'),
       "$label, propquery: right answer") or diag $err;
    cmp_ok(count_of('C_Digest'), '>=', 1, "$label, propquery: on the token");

    ($rc, $out, $err) = ossl('dgst', '-provider-path', build_dir(), @load,
                             '-sha256', $files{abc}, { timeout => 30 });
    is(digest_of($out), Digest::SHA::sha256_hex('abc'),
       "$label, no propquery: right answer, no hang") or diag $err;
}

# Several files in one process share the provider, the session and login.
reset_counts();
my ($rc, $out) = ossl_p11('dgst', @props, '-sha256', $files{abc},
                          $files{empty}, $files{'3MiB'});
is(scalar(() = $out =~ /= [0-9a-f]{64}/g), 3, 'three files, three digests');
is(count_of('C_OpenSession'), 1, 'one session serves them all');
is(count_of('C_Login'), 0, 'digests need no login');

done_testing();
