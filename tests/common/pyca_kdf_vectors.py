# SPDX-License-Identifier: Apache-2.0
"""pyca/cryptography's own KDF vectors, run by pyca (tests/21-kdf.t).

usage: pyca_kdf_vectors.py pbkdf2|pkcs12

pbkdf2: every vector of cryptography_vectors/KDF/rfc-6070-PBKDF2-SHA1.txt
through PBKDF2HMAC, checked against its DERIVED_KEY. pkcs12: every file of
cryptography_vectors/pkcs12/ but the RC2 one (legacy provider) through
load_key_and_certificates, with the passwords pyca's tests give; in the
files made from pyca's x509/custom/ca key and certificate (KNOWN_CA)
they must be those. Prints one
"ok NAME DIGEST" line per vector (the same with any provider) and
"ok: N vectors", or raises.
"""
import hashlib
import os
import sys

import cryptography_vectors
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12

ROOT = os.path.dirname(cryptography_vectors.__file__)


def vector_blocks(path):
    block = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                continue
            if not line:
                if block:
                    yield block
                block = {}
                continue
            name, _, value = line.partition(" = ")
            block[name] = value
    if block:
        yield block


def run_pbkdf2():
    count = 0
    path = os.path.join(ROOT, "KDF", "rfc-6070-PBKDF2-SHA1.txt")
    for v in vector_blocks(path):
        # The file writes NUL as \0 (RFC 6070 case 6).
        password, salt = (v[k].replace("\\0", "\0").encode()
                          for k in ("PASSWORD", "SALT"))
        kdf = PBKDF2HMAC(hashes.SHA1(), int(v["LENGTH"]), salt,
                         int(v["ITERATIONS"]))
        key = kdf.derive(password)
        assert key.hex() == v["DERIVED_KEY"], "vector %s" % v["COUNT"]
        print("ok pbkdf2-%s %s" % (v["COUNT"], key.hex()))
        count += 1
    print("ok: %d vectors" % count)


def public_der(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


KNOWN_CA = ("cert-key-aes256cbc.p12", "cert-none-key-none.p12",
            "no-password.p12", "cert-aes256cbc-no-key.p12",
            "no-cert-key-aes256cbc.p12")


def run_pkcs12():
    ca = os.path.join(ROOT, "x509", "custom", "ca")
    with open(os.path.join(ca, "ca.pem"), "rb") as f:
        want_cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(ca, "ca_key.pem"), "rb") as f:
        want_key = serialization.load_pem_private_key(f.read(), None)
    count = 0
    folder = os.path.join(ROOT, "pkcs12")
    for name in sorted(os.listdir(folder)):
        if name.startswith("cert-rc2"):
            continue  # RC2 needs OpenSSL's legacy provider
        if "no-pwd" in name or name == "no-password.p12":
            password = None
        elif name.startswith(("name-", "no-cert-name-", "no-cert-no-name-",
                              "no-name-")):
            password = b"password"
        else:
            password = b"cryptography"
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data,
                                                                password)
        except ValueError:
            # RC2 or 40-bit RC2 inside: OpenSSL's legacy provider only.
            assert name not in KNOWN_CA, name
            print("refused %s" % name)
            continue
        digest = hashlib.sha256()
        known = name in KNOWN_CA
        if key is not None:
            assert not known or public_der(key) == public_der(want_key), name
            digest.update(public_der(key))
        for c in ([cert] if cert is not None else []) + extra:
            assert not known or c == want_cert, name
            digest.update(c.public_bytes(serialization.Encoding.DER))
        print("ok %s %s" % (name, digest.hexdigest()))
        count += 1
    print("ok: %d vectors" % count)


{"pbkdf2": run_pbkdf2, "pkcs12": run_pkcs12}[sys.argv[1]]()
