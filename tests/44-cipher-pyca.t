#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
#
# pyca/cryptography (Debian's python3-cryptography, /usr/bin/python3) under
# OPENSSL_CONF with pkcs11be preferred: AES ECB/CBC/CTR, GCM (encryptor
# and decryptor, tag given up front or at finalize_with_tag, wrong tags),
# AESGCM and TripleDES. Known answers where there are some, and every
# output the same as the same script's under the default provider alone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

# Every file here runs AES (ECB, CBC, CTR, GCM) and DES3-CBC on the token.
need_mechs(qw(CKM_AES_ECB CKM_AES_CBC CKM_AES_CTR CKM_AES_GCM CKM_DES3_CBC));

my $python = '/usr/bin/python3';
my $cnf = File::Spec->catfile(build_dir(), 'openssl.cnf');
plan skip_all => "no $python" unless -x $python;
plan skip_all => "no $cnf (configure with CMake)" unless -f $cnf;
my ($has) = run($python, '-c', 'import cryptography');
plan skip_all => 'python3-cryptography is not installed' if $has != 0;

use_shim();
my $script = File::Spec->catfile(tmp_dir(), 'ciphers.py');
write_file($script, <<'PY');
import os, sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

h = bytes.fromhex
out = []

def emit(name, data):
    out.append("%s %s" % (name, data.hex()))

def run(cipher, data, pieces=(len,)):
    enc = cipher.encryptor()
    ct = b"".join(enc.update(data[i:i + 7]) for i in range(0, len(data), 7))
    return ct + enc.finalize()

def back(cipher, ct):
    dec = cipher.decryptor()
    return dec.update(ct) + dec.finalize()

# NIST SP 800-38A F.2.1 and F.5.1 (AES-128 CBC and CTR).
k = h("2b7e151628aed2a6abf7158809cf4f3c")
pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
       "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
cbc = Cipher(algorithms.AES(k), modes.CBC(h("000102030405060708090a0b0c0d0e0f")))
assert run(cbc, pt)[:16] == h("7649abac8119b246cee98e9b12e9197d"), "CBC KAT"
assert back(cbc, run(cbc, pt)) == pt
ctr = Cipher(algorithms.AES(k), modes.CTR(h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")))
assert run(ctr, pt)[-16:] == h("1e031dda2fbe03d1792170a0f3009cee"), "CTR KAT"
emit("sp800-38a-cbc", run(cbc, pt))

# AES, all key sizes and modes, with pyca's PKCS7 padder for CBC/ECB.
for bits in (128, 192, 256):
    key = bytes(range(bits // 8))
    for n in (0, 1, 15, 16, 17, 100, 1000):
        msg = bytes((i * 7 + n) % 256 for i in range(n))
        padder = padding.PKCS7(128).padder()
        padded = padder.update(msg) + padder.finalize()
        for name, mode in (("cbc", modes.CBC(b"\x01" * 16)), ("ecb", modes.ECB()),
                           ("ctr", modes.CTR(b"\xff" * 15 + b"\xfe"))):
            c = Cipher(algorithms.AES(key), mode)
            data = msg if name == "ctr" else padded
            ct = run(c, data)
            assert back(c, ct) == data
            emit("aes%d-%s-%d" % (bits, name, n), ct)

# GCM: the GCMVS vector with plaintext and AAD (128-bit key, count 0).
key = h("feffe9928665731c6d6a8f9467308308")
iv = h("cafebabefacedbaddecaf888")
aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2")
msg = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
enc.authenticate_additional_data(aad)
ct = enc.update(msg) + enc.finalize()
assert ct.hex().startswith("42831ec2217774244b7221b784d0d49c"), "GCM KAT"
assert enc.tag == h("5bc94fbc3221a5db94fae95ae7121a47"), "GCM tag KAT"
emit("gcm-ct", ct + enc.tag)
# Decryptor, tag up front.
dec = Cipher(algorithms.AES(key), modes.GCM(iv, enc.tag)).decryptor()
dec.authenticate_additional_data(aad)
assert dec.update(ct) + dec.finalize() == msg
# Decryptor, tag at the end, in pieces.
dec = Cipher(algorithms.AES(key), modes.GCM(iv)).decryptor()
dec.authenticate_additional_data(aad)
got = dec.update(ct[:10]) + dec.update(ct[10:])
assert got + dec.finalize_with_tag(enc.tag) == msg
# A truncated tag is checked on its length; wrong tags: InvalidTag only.
dec = Cipher(algorithms.AES(key), modes.GCM(iv, enc.tag[:12],
             min_tag_length=4)).decryptor()
dec.authenticate_additional_data(aad)
assert dec.update(ct) + dec.finalize() == msg
for bad_tag in (enc.tag[:-1] + bytes([enc.tag[-1] ^ 1]),
                enc.tag[:11] + bytes([enc.tag[11] ^ 0x80]),
                enc.tag[:4][::-1]):
    dec = Cipher(algorithms.AES(key), modes.GCM(iv, bad_tag,
                 min_tag_length=4)).decryptor()
    dec.authenticate_additional_data(aad)
    dec.update(ct)
    try:
        dec.finalize()
        raise SystemExit("wrong tag accepted")
    except InvalidTag:
        emit("gcm-invalid-tag-%d" % len(bad_tag), b"")

# AESGCM, 12- and 16-byte nonces, empty and long messages.
for bits in (128, 192, 256):
    a = AESGCM(bytes(range(bits // 8)))
    for nonce in (b"\x07" * 12, b"\x08" * 16):
        for m in (b"", b"x", b"y" * 1000):
            c = a.encrypt(nonce, m, b"header")
            assert a.decrypt(nonce, c, b"header") == m
            emit("aesgcm%d-%d-%d" % (bits, len(nonce), len(m)), c)
            try:
                a.decrypt(nonce, c, b"other header")
                raise SystemExit("wrong AAD accepted")
            except InvalidTag:
                pass

# Triple DES, CBC and ECB.
tk = h("0123456789abcdef23456789abcdef01456789abcdef0123")
for name, mode in (("cbc", modes.CBC(b"\x02" * 8)), ("ecb", modes.ECB())):
    c = Cipher(algorithms.TripleDES(tk), mode)
    data = bytes(range(64))
    ct = run(c, data)
    assert back(c, ct) == data
    emit("3des-" + name, ct)

print("\n".join(out))
PY

my $log = File::Spec->catfile(tmp_dir(), 'debug.log');
reset_counts();
my ($rc, $ours, $err) = run($python, $script,
    { env => { OPENSSL_CONF => $cnf, P11BE_DEBUG => $log }, timeout => 120 });
is($rc, 0, 'pyca under OPENSSL_CONF: known answers, round trips, '
           . 'InvalidTag for wrong tags') or diag $err;
my ($rc2, $theirs, $err2) = run($python, $script,
    { env => { OPENSSL_CONF => undef }, timeout => 120 });
is($rc2, 0, 'the same script under the default provider') or diag $err2;
my @lines = split /\n/, $ours;
cmp_ok(scalar @lines, '>', 80, 'it printed its results');
is($ours, $theirs, 'every output the same as the default provider\'s');
my $c = counts();
cmp_ok(($c->{C_Encrypt} // 0) + ($c->{C_EncryptUpdate} // 0), '>', 100,
       'pkcs11be encrypted on the token');
cmp_ok(($c->{C_Decrypt} // 0) + ($c->{C_DecryptUpdate} // 0), '>', 50,
       'and decrypted on the token');
cmp_ok($c->{C_DecryptInit} // 0, '>', 0, 'GCM tags checked by the token');
SKIP: {
    # NSS's softokn has its own AES (freebl): nothing comes back.
    skip 'the nss token does not call OpenSSL', 1 if token_kind() eq 'nss';
    like(read_file($log),
         qr/re-entered from the module: AES-\d+-\w+ by the default/,
         'SoftHSM2\'s own AES calls came back and were served');
}

done_testing();
