# SPDX-License-Identifier: Apache-2.0
"""pyca/cryptography on every curve and key type it offers (tests/23-pyca-curves.t).

usage: pyca_curves.py make RSA_PEM OUT.json
       pyca_curves.py check RSA_PEM OTHER.json OUT.json

The test runs "make" twice, with pkcs11be preferred (OPENSSL_CONF) and
without, and compares the two: per item (a curve, Ed25519, Ed448, X25519,
X448, RSA) each step's output or the error it raised. Keys are derived
from fixed scalars (EC), fixed bytes (the Edwards and Montgomery keys) or
RSA_PEM (RSA), so that what is deterministic (serialisations, shared
secrets, Ed25519/Ed448 and PKCS#1 v1.5 signatures) must be equal byte for
byte. "check" then takes the other run's output: verifies its signatures,
loads its generated and serialised keys and signs or derives with them;
the test runs it on each side with the other's output. A step that
raises records "ERROR: <exception class>: <text>" and the others go on.
"""
import json
import sys

from cryptography.exceptions import InternalError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (ec, ed448, ed25519,
                                                       padding, rsa, x448,
                                                       x25519)

MSG = b"pkcs11be: the same answers as the default provider"
# Below every curve's order (sect163k1's is about 2^162).
SCALAR = 0x5F3A9C0B7E21D4468A1B2C3D4E5F6071
PEER_SCALAR = 0x1D2C3B4A596877665544332211009988
ENC = serialization.Encoding
PRIV = serialization.PrivateFormat
PUB = serialization.PublicFormat
NOENC = serialization.NoEncryption()
SPKI = PUB.SubjectPublicKeyInfo


def curves():
    """Every curve class pyca offers, once (prime256v1 is secp256r1)."""
    seen = {}
    for cls in ec._CURVE_TYPES.values():
        seen.setdefault(cls.name, cls)
    return [seen[n] for n in sorted(seen)]


def serialisations(key):
    pub = key.public_key()
    out = {
        "pkcs8_pem": key.private_bytes(ENC.PEM, PRIV.PKCS8, NOENC),
        "pkcs8_der": key.private_bytes(ENC.DER, PRIV.PKCS8, NOENC),
        "spki_pem": pub.public_bytes(ENC.PEM, SPKI),
        "spki_der": pub.public_bytes(ENC.DER, SPKI),
    }
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
                        x25519.X25519PrivateKey, x448.X448PrivateKey)):
        out["raw_pub"] = pub.public_bytes(ENC.Raw, PUB.Raw)
    else:
        out["trad_pem"] = key.private_bytes(ENC.PEM, PRIV.TraditionalOpenSSL,
                                            NOENC)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        out["point"] = pub.public_bytes(ENC.X962, PUB.UncompressedPoint)
        out["point_compressed"] = pub.public_bytes(ENC.X962,
                                                   PUB.CompressedPoint)
    return {k: v.hex() for k, v in out.items()}


def error(e):
    """An exception as one line; for pyca's InternalError ("Unknown OpenSSL
    error" and a long plea) the OpenSSL error queue it saw instead."""
    if isinstance(e, InternalError):
        queue = "; ".join(err.reason_text.decode(errors="replace")
                          for err in e.err_code)
        return "ERROR: InternalError: Unknown OpenSSL error, queue: %s" % (
            queue or "EMPTY")
    return "ERROR: %s: %s" % (type(e).__name__,
                              str(e).replace("\n", " "))


def step(result, name, fn):
    """Runs fn() into result[name]: its value, or the error it raised."""
    try:
        value = fn()
        result[name] = value.hex() if isinstance(value, bytes) else value
    except Exception as e:  # record it, go on with the other steps
        result[name] = error(e)


def ec_sign(key):
    sig = key.sign(MSG, ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, MSG, ec.ECDSA(hashes.SHA256()))
    return sig


def pss():
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                       salt_length=padding.PSS.MAX_LENGTH)


def oaep():
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                        algorithm=hashes.SHA256(), label=None)


def load_pem(hex_pem):
    return serialization.load_pem_private_key(bytes.fromhex(hex_pem), None)


class Item:
    """One curve or key type: how to make its keys and use them."""

    def __init__(self, name, kind, fixed, peer=None, generate=None):
        self.name = name
        self.kind = kind      # "ec", "sign" (EdDSA), "xdh" or "rsa"
        self.fixed = fixed    # () -> the fixed private key
        self.peer = peer      # () -> the fixed peer key (ec, xdh)
        self.generate = generate

    def sign(self, key):
        if self.kind == "ec":
            return ec_sign(key)
        if self.kind == "rsa":
            return key.sign(MSG, padding.PKCS1v15(), hashes.SHA256())
        sig = key.sign(MSG)
        key.public_key().verify(sig, MSG)
        return sig

    def verify(self, pub, sig):
        sig = bytes.fromhex(sig)
        if self.kind == "ec":
            pub.verify(sig, MSG, ec.ECDSA(hashes.SHA256()))
        elif self.kind == "rsa":
            pub.verify(sig, MSG, padding.PKCS1v15(), hashes.SHA256())
        else:
            pub.verify(sig, MSG)
        return "verified"

    def exchange(self, key, peer_pub):
        if self.kind == "ec":
            return key.exchange(ec.ECDH(), peer_pub)
        return key.exchange(peer_pub)

    def make(self):
        r = {}
        key = peer = gen = None
        try:
            key = self.fixed()
            r["serialise"] = serialisations(key)
        except Exception as e:
            r["serialise"] = error(e)
        if key is not None and self.kind in ("ec", "sign", "rsa"):
            step(r, "sign", lambda: self.sign(key))
        if key is not None and self.kind == "rsa":
            step(r, "pss", lambda: key.sign(MSG, pss(), hashes.SHA256()))
            step(r, "oaep", lambda: key.public_key().encrypt(MSG, oaep()))
        if key is not None and self.kind in ("ec", "xdh"):
            try:
                peer = self.peer()
            except Exception as e:
                r["ecdh"] = error(e)
            if peer is not None:
                step(r, "ecdh", lambda: self.exchange(key, peer.public_key()))
                step(r, "ecdh_back",
                     lambda: self.exchange(peer, key.public_key()))
        try:
            gen = self.generate()
            r["generate"] = gen.private_bytes(ENC.PEM, PRIV.PKCS8,
                                              NOENC).hex()
        except Exception as e:
            r["generate"] = error(e)
        if gen is not None and self.kind in ("ec", "sign", "rsa"):
            step(r, "generate_sign", lambda: self.sign(gen))
        if gen is not None and self.kind in ("ec", "xdh"):
            step(r, "generate_ecdh",
                 lambda: self.exchange(gen, self.peer().public_key()))
        return r

    def check(self, other):
        """Uses the other run's output (other: its dict for this item)."""
        r = {}
        key = self.fixed()
        if self.kind in ("ec", "sign", "rsa"):
            step(r, "verify_sign",
                 lambda: self.verify(key.public_key(), other["sign"]))
        if self.kind == "rsa":
            step(r, "verify_pss", lambda: key.public_key().verify(
                bytes.fromhex(other["pss"]), MSG, pss(), hashes.SHA256())
                or "verified")
            step(r, "decrypt_oaep", lambda: key.decrypt(
                bytes.fromhex(other["oaep"]), oaep()))
        ser = other["serialise"]
        if isinstance(ser, dict):
            step(r, "load_pkcs8", lambda: serialisations(
                load_pem(ser["pkcs8_pem"]))["pkcs8_der"])
            step(r, "load_spki", lambda: serialization.load_der_public_key(
                bytes.fromhex(ser["spki_der"])).public_bytes(
                    ENC.PEM, SPKI))
        gen_pem = other["generate"]
        if not gen_pem.startswith("ERROR"):
            gen = load_pem(gen_pem)
            if self.kind in ("ec", "sign", "rsa"):
                step(r, "verify_generate_sign", lambda: self.verify(
                    gen.public_key(), other["generate_sign"]))
                step(r, "sign_with_generated", lambda: self.verify(
                    gen.public_key(), self.sign(gen).hex()))
            if self.kind in ("ec", "xdh"):
                step(r, "generated_ecdh", lambda: self.exchange(
                    gen, self.peer().public_key()))
        return r


def items(rsa_pem):
    out = []
    for cls in curves():
        out.append(Item(
            cls.name, "ec",
            lambda cls=cls: ec.derive_private_key(SCALAR, cls()),
            lambda cls=cls: ec.derive_private_key(PEER_SCALAR, cls()),
            lambda cls=cls: ec.generate_private_key(cls())))
    # The Edwards (signing) and Montgomery (exchange) keys: raw bytes.
    for name, mod, size, kind in (("Ed25519", ed25519, 32, "sign"),
                                  ("Ed448", ed448, 57, "sign"),
                                  ("X25519", x25519, 32, "xdh"),
                                  ("X448", x448, 56, "xdh")):
        cls = getattr(mod, name + "PrivateKey")

        def raw(first, cls=cls, size=size):
            return lambda: cls.from_private_bytes(
                bytes(range(first, first + size)))

        out.append(Item(name, kind, raw(1),
                        raw(100) if kind == "xdh" else None, cls.generate))
    rsa_key = lambda: load_pem(rsa_pem.hex())  # noqa: E731
    out.append(Item("RSA-2048", "rsa", rsa_key, None,
                    lambda: rsa.generate_private_key(65537, 2048)))
    return out


def main():
    mode, rsa_path = sys.argv[1], sys.argv[2]
    with open(rsa_path, "rb") as f:
        rsa_pem = f.read()
    result = {}
    if mode == "make":
        out_path = sys.argv[3]
        for item in items(rsa_pem):
            result[item.name] = item.make()
    elif mode == "check":
        with open(sys.argv[3]) as f:
            other = json.load(f)
        out_path = sys.argv[4]
        for item in items(rsa_pem):
            try:
                result[item.name] = item.check(other[item.name])
            except Exception as e:
                result[item.name] = {"check": error(e)}
    else:
        raise SystemExit(__doc__)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print("ok: %d items" % len(result))


if __name__ == "__main__":
    main()
