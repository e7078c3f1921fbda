#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# Known answers for the ciphers on the token: NIST SP 800-38A (ECB, CBC,
# CTR), RFC 3686 (CTR), the NIST AES MMT sets (ECB, CBC), the NIST GCMVS
# sets (a bounded subset: the first vector of every parameter set), the
# NIST TDES MMT sets, through tests/c/cipher_check (one update and in
# pieces, both providers) and through the openssl CLI. The shim's counters
# prove the token did the work.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

# Every file here runs AES (ECB, CBC, CTR, GCM) and DES3-CBC on the token.
need_mechs(qw(CKM_AES_ECB CKM_AES_CBC CKM_AES_CTR CKM_AES_GCM CKM_DES3_CBC));

my $vec_dir = '/usr/lib/python3/dist-packages/cryptography_vectors/ciphers';
plan skip_all => "no cryptography_vectors in $vec_dir"
    unless -d $vec_dir;

use_shim();
my $check = test_program('cipher_check');
my %env = (P11BE_BUILD_DIR => build_dir());

# NIST SP 800-38A, appendix F: the four plaintext blocks and the results.
my $sp_pt = '6bc1bee22e409f96e93d7e117393172a' . 'ae2d8a571e03ac9c9eb76fac45af8e51'
          . '30c81c46a35ce411e5fbc1191a0a52ef' . 'f69f2445df4f9b17ad2b417be66c3710';
my %sp_key = (
    128 => '2b7e151628aed2a6abf7158809cf4f3c',
    192 => '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b',
    256 => '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
);
my %sp_iv = (ECB => '-', CBC => '000102030405060708090a0b0c0d0e0f',
             CTR => 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
my %sp_ct = (
    'ECB-128' => '3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf'
               . '43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4',
    'ECB-192' => 'bd334f1d6e45f25ff712a214571fa5cc974104846d0ad3ad7734ecb3ecee4eef'
               . 'ef7afd2270e2e60adce0ba2face6444e9a4b41ba738d6c72fb16691603c18e0e',
    'ECB-256' => 'f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870'
               . 'b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7',
    'CBC-128' => '7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2'
               . '73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7',
    'CBC-192' => '4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a'
               . '571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd',
    'CBC-256' => 'f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d'
               . '39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b',
    'CTR-128' => '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff'
               . '5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee',
    'CTR-192' => '1abc932417521ca24f2b0459fe7e6e0b090339ec0aa6faefd5ccc2c6f4ce8e94'
               . '1e36b26bd1ebc670d1bd1d665620abf74f78a7f6d29809585a97daec58c6b050',
    'CTR-256' => '601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5'
               . '2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6',
);

sub sp800_38a_lines {
    my @lines;
    for my $key (sort keys %sp_ct) {
        my ($mode, $bits) = split /-/, $key;
        push @lines, "AES-$bits-$mode enc $sp_key{$bits} $sp_iv{$mode} "
                     . "$sp_pt $sp_ct{$key}",
                     "AES-$bits-$mode dec $sp_key{$bits} $sp_iv{$mode} "
                     . "$sp_ct{$key} $sp_pt";
    }
    return @lines;
}

# Records of a NIST .rsp (or RFC 3686 .txt) file: hashes of lower-cased
# field names, plus the [ENCRYPT]/[DECRYPT] section and FAIL marks.
sub rsp_records {
    my ($path) = @_;
    my (@records, %cur, $section);
    open(my $fh, '<', $path) or die "$path: $!";
    while (my $line = <$fh>) {
        $line =~ s/\r?\n\z//;
        if ($line =~ /^\[(ENCRYPT|DECRYPT)\]/) {
            $section = lc $1;
        } elsif ($line =~ /^\s*(\w+)\s*=\s*(\S*)/) {
            push @records, {%cur} if lc($1) eq 'count' && %cur;
            %cur = (section => $section) if lc($1) eq 'count';
            $cur{lc $1} = lc $2;
        } elsif ($line =~ /^FAIL/) {
            $cur{fail} = 1;
        }
    }
    push @records, {%cur} if %cur;
    close $fh;
    return @records;
}

sub hexor { my ($h) = @_; return defined $h && length $h ? $h : '-' }

# AES ECB/CBC MMT, in the file's direction.
sub aes_mmt_lines {
    my @lines;
    for my $mode (qw(ECB CBC)) {
        for my $bits (128, 192, 256) {
            for my $r (rsp_records("$vec_dir/AES/$mode/${mode}MMT$bits.rsp")) {
                my $enc = $r->{section} eq 'encrypt';
                push @lines, join ' ', "AES-$bits-$mode",
                    $enc ? 'enc' : 'dec', $r->{key}, hexor($r->{iv}),
                    $enc ? ($r->{plaintext}, $r->{ciphertext})
                         : ($r->{ciphertext}, $r->{plaintext});
            }
        }
    }
    return @lines;
}

sub rfc3686_lines {
    my @lines;
    for my $bits (128, 192, 256) {
        for my $r (rsp_records("$vec_dir/AES/CTR/aes-$bits-ctr.txt")) {
            push @lines, "AES-$bits-CTR enc $r->{key} $r->{iv} "
                         . "$r->{plaintext} $r->{ciphertext}";
        }
    }
    return @lines;
}

# GCMVS: the first vector of each [Keylen/IVlen/PTlen/AADlen/Taglen] set.
sub gcm_lines {
    my @lines;
    for my $bits (128, 192, 256) {
        for my $r (rsp_records("$vec_dir/AES/GCM/gcmEncryptExtIV$bits.rsp")) {
            next unless $r->{count} eq '0';
            push @lines, join ' ', "AES-$bits-GCM", 'enc', $r->{key},
                $r->{iv}, hexor($r->{pt}), hexor($r->{ct}), hexor($r->{aad}),
                $r->{tag};
        }
    }
    # Decryption, passing and FAIL vectors, 128-bit keys.
    my %seen;
    for my $r (rsp_records("$vec_dir/AES/GCM/gcmDecrypt128.rsp")) {
        my $set = join ',', map { length($r->{$_} // '') } qw(iv ct aad tag);
        next if $seen{$set, $r->{fail} ? 1 : 0}++;
        push @lines, join ' ', 'AES-128-GCM', 'dec', $r->{key}, $r->{iv},
            hexor($r->{ct}), $r->{fail} ? 'FAIL' : hexor($r->{pt}),
            hexor($r->{aad}), $r->{tag};
    }
    return @lines;
}

sub tdes_lines {
    my @lines;
    for my $file (qw(ECB/TECBMMT2 ECB/TECBMMT3 CBC/TCBCMMT2 CBC/TCBCMMT3)) {
        my $mode = $file =~ /CBC/ ? 'CBC' : 'ECB';
        for my $r (rsp_records("$vec_dir/3DES/$file.rsp")) {
            my $enc = $r->{section} eq 'encrypt';
            my $key = $r->{key1} . $r->{key2} . $r->{key3};
            push @lines, join ' ', "DES-EDE3-$mode", $enc ? 'enc' : 'dec',
                $key, hexor($r->{iv}),
                $enc ? ($r->{plaintext}, $r->{ciphertext})
                     : ($r->{ciphertext}, $r->{plaintext});
        }
    }
    return @lines;
}

sub run_vectors {
    my ($name, @lines) = @_;
    my ($rc, $out, $err) = run($check, 'vectors',
        { stdin => join("\n", @lines) . "\n", env => \%env, timeout => 120 });
    is($rc, 0, "$name: " . scalar(@lines) . ' vectors') or diag "$out$err";
    return $out;
}

reset_counts();
my $out = run_vectors('NIST SP 800-38A ECB, CBC, CTR', sp800_38a_lines());
like($out, qr/^ok: 18 vectors/m, 'all 18 ran');
cmp_ok(count_of('C_Encrypt'), '>=', 9 * 3, 'the token encrypted (C_Encrypt)');
cmp_ok(count_of('C_Decrypt'), '>=', 9 * 3, 'the token decrypted (C_Decrypt)');

run_vectors('RFC 3686 CTR', rfc3686_lines());
run_vectors('NIST AES MMT ECB and CBC', aes_mmt_lines());
reset_counts();
run_vectors('NIST GCMVS subset (IV 8 to 1024 bits, tags 32 to 128)',
            gcm_lines());
cmp_ok(count_of('C_EncryptInit'), '>', 0, 'CKM_AES_GCM on the token');
cmp_ok(count_of('C_DecryptInit'), '>', 0, 'GCM tags checked by the token');
reset_counts();
run_vectors('NIST TDES MMT ECB and CBC (2- and 3-key)', tdes_lines());
cmp_ok(count_of('C_Encrypt') + count_of('C_Decrypt'), '>', 0,
       'CKM_DES3_* on the token');
is(count_of('C_CreateObject'), count_of('C_DestroyObject'),
   'every imported key was destroyed');

# The CLI, strictly through pkcs11be (-propquery), padding off.
my @strict = ('-provider-path', build_dir(), '-provider', 'pkcs11be',
              '-provider', 'default', '-propquery', 'provider=pkcs11be');
my $pt_file = File::Spec->catfile(tmp_dir(), 'sp.bin');
write_file($pt_file, pack('H*', $sp_pt));
reset_counts();
for my $key (sort keys %sp_ct) {
    my ($mode, $bits) = split /-/, $key;
    my @iv = $mode eq 'ECB' ? () : ('-iv', $sp_iv{$mode});
    my ($rc, $ct, $err) = ossl('enc', '-e', lc "-aes-$bits-$mode", '-nopad',
        '-K', $sp_key{$bits}, @iv, '-in', $pt_file, @strict);
    is(unpack('H*', $ct), $sp_ct{$key}, "openssl enc -aes-$bits-$mode")
        or diag $err;
}
cmp_ok(count_of('C_EncryptInit'), '>=', 9, 'the CLI used the token');

done_testing();
