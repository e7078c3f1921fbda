/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoder and decoder checks that need a C program (tests/83-encoder.t).
 * Each mode prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and
 * exits 1.
 *
 *   encoder_check soft FILE   a software private key (PEM) imported into
 *                             pkcs11be is written exactly as the default
 *                             provider writes it: PrivateKeyInfo PEM and
 *                             DER, type-specific, SubjectPublicKeyInfo,
 *                             text; and encrypted PKCS#8 that the default
 *                             provider reads back with the passphrase
 *   encoder_check read FILE PUBOUT
 *                             under OPENSSL_CONF: FILE (a PKCS11 KEY URI,
 *                             PEM or DER) read as a private key by the
 *                             application API (PEM_read_bio_PrivateKey,
 *                             d2i_AutoPrivateKey) is a pkcs11be key; it
 *                             signs a message that the default provider
 *                             verifies with the key's SubjectPublicKeyInfo
 *                             (i2d_PUBKEY), written as PEM to PUBOUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

static OSSL_PROVIDER *p11be, *deflt;

/* The bytes `what` wrote into a memory BIO, compared with another's. */
static int same_output(const char *what, BIO *a, BIO *b)
{
    char *pa, *pb;
    long la = BIO_get_mem_data(a, &pa), lb = BIO_get_mem_data(b, &pb);

    if (la <= 0 || la != lb || memcmp(pa, pb, (size_t)la) != 0) {
        printf("FAIL: %s: pkcs11be wrote %ld bytes, the default provider "
               "%ld, and they differ\n",
               what, la, lb);
        return 0;
    }
    printf("ok: %s: %ld bytes, as the default provider\n", what, la);
    return 1;
}

/* One encoding of both keys through OSSL_ENCODER, compared. */
static int same_encoding(const char *what, EVP_PKEY *p11, EVP_PKEY *def,
                         int selection, const char *type, const char *structure)
{
    BIO *a = BIO_new(BIO_s_mem()), *b = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ca, *cb;
    int ok = 0;

    ca = OSSL_ENCODER_CTX_new_for_pkey(p11, selection, type, structure, NULL);
    cb = OSSL_ENCODER_CTX_new_for_pkey(def, selection, type, structure, NULL);
    if (a == NULL || b == NULL || ca == NULL || cb == NULL
        || !OSSL_ENCODER_to_bio(ca, a) || !OSSL_ENCODER_to_bio(cb, b))
        tu_fail(what);
    else
        ok = same_output(what, a, b);
    OSSL_ENCODER_CTX_free(ca);
    OSSL_ENCODER_CTX_free(cb);
    BIO_free(a);
    BIO_free(b);
    return ok;
}

/* The key in pkcs11be: exported from the default provider, imported. */
static EVP_PKEY *to_pkcs11be(EVP_PKEY *def)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *p11 = NULL;

    if (EVP_PKEY_todata(def, EVP_PKEY_KEYPAIR, &params) != 1)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, EVP_PKEY_get0_type_name(def), P11);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &p11, EVP_PKEY_KEYPAIR, params) != 1)
        p11 = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (p11 != NULL && EVP_PKEY_get0_provider(p11) != p11be) {
        EVP_PKEY_free(p11);
        p11 = NULL;
    }
    return p11;
}

static int encrypted_round_trip(EVP_PKEY *p11, EVP_PKEY *def)
{
    static char pass[] = "correct horse";
    BIO *out = BIO_new(BIO_s_mem());
    EVP_PKEY *back = NULL;
    char *data;
    long len;
    int ok = 0;

    if (out == NULL
        || !PEM_write_bio_PKCS8PrivateKey(out, p11, EVP_aes_256_cbc(), NULL, 0,
                                          NULL, pass))
        return tu_fail("encrypted PKCS#8 from pkcs11be");
    len = BIO_get_mem_data(out, &data);
    if (len < 40 || strncmp(data, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37))
        tu_fail("encrypted PKCS#8: not an ENCRYPTED PRIVATE KEY block");
    else if ((back =
                  PEM_read_bio_PrivateKey_ex(out, NULL, NULL, pass, NULL, DEF))
             == NULL)
        tu_fail("encrypted PKCS#8: the default provider cannot read it");
    else if (EVP_PKEY_eq(back, def) != 1)
        tu_fail("encrypted PKCS#8: read back, it is another key");
    else
        ok = printf("ok: encrypted PKCS#8 (AES-256-CBC) read back by the "
                    "default provider with the passphrase\n");
    EVP_PKEY_free(back);
    BIO_free(out);
    return ok;
}

static int text_same(EVP_PKEY *p11, EVP_PKEY *def)
{
    BIO *a = BIO_new(BIO_s_mem()), *b = BIO_new(BIO_s_mem());
    int ok = 0;

    if (a == NULL || b == NULL || EVP_PKEY_print_private(a, p11, 0, NULL) != 1
        || EVP_PKEY_print_private(b, def, 0, NULL) != 1)
        tu_fail("EVP_PKEY_print_private");
    else
        ok = same_output("text (EVP_PKEY_print_private)", a, b);
    BIO_free(a);
    BIO_free(b);
    return ok;
}

static int mode_soft(const char *file)
{
    EVP_PKEY *def = NULL, *p11 = NULL;
    int ok = 1, ts;
    BIO *in;

    in = BIO_new_file(file, "r");
    if (in == NULL
        || (def = PEM_read_bio_PrivateKey_ex(in, NULL, NULL, NULL, NULL, DEF))
               == NULL)
        return tu_fail("reading the software key");
    BIO_free(in);
    p11 = to_pkcs11be(def);
    if (p11 == NULL) {
        EVP_PKEY_free(def);
        return tu_fail("importing the key into pkcs11be");
    }
    printf("ok: %s key in pkcs11be\n", EVP_PKEY_get0_type_name(p11));
    ts = EVP_PKEY_is_a(def, "RSA") || EVP_PKEY_is_a(def, "EC");
    ok &= same_encoding("PrivateKeyInfo PEM", p11, def, EVP_PKEY_KEYPAIR, "PEM",
                        "PrivateKeyInfo");
    ok &= same_encoding("PrivateKeyInfo DER", p11, def, EVP_PKEY_KEYPAIR, "DER",
                        "PrivateKeyInfo");
    if (ts)
        ok &= same_encoding("type-specific PEM", p11, def, EVP_PKEY_KEYPAIR,
                            "PEM", "type-specific");
    ok &= same_encoding("SubjectPublicKeyInfo PEM", p11, def,
                        EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo");
    ok &= same_encoding("SubjectPublicKeyInfo DER", p11, def,
                        EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo");
    ok &= text_same(p11, def);
    ok &= encrypted_round_trip(p11, def);
    EVP_PKEY_free(p11);
    EVP_PKEY_free(def);
    return ok;
}

static EVP_PKEY *read_key(const char *file)
{
    EVP_PKEY *key = NULL;
    BIO *in = BIO_new_file(file, "rb");
    unsigned char buf[4096];
    const unsigned char *p = buf;
    int len;

    if (in == NULL)
        return NULL;
    len = BIO_read(in, buf, sizeof(buf));
    BIO_free(in);
    if (len <= 0)
        return NULL;
    if (buf[0] == '-') {
        in = BIO_new_mem_buf(buf, len);
        key = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
        BIO_free(in);
        printf("ok: PEM_read_bio_PrivateKey\n");
    } else {
        key = d2i_AutoPrivateKey(NULL, &p, len);
        printf("ok: d2i_AutoPrivateKey\n");
    }
    return key;
}

/* The signature the token makes verifies with the default provider. */
static int mode_read(const char *file, const char *pubout)
{
    static const unsigned char msg[] = "signed on the token";
    unsigned char sig[1024], *der = NULL;
    const unsigned char *p;
    size_t sig_len = sizeof(sig);
    EVP_PKEY *key, *pub = NULL;
    EVP_MD_CTX *md = NULL;
    const char *prov;
    int der_len, ok = 0;
    BIO *out = NULL;

    key = read_key(file);
    if (key == NULL)
        return tu_fail("reading the key file");
    prov = OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key));
    if (strcmp(prov, "pkcs11be") != 0) {
        printf("FAIL: the key is in provider %s, not pkcs11be\n", prov);
        goto out;
    }
    printf("ok: a %s key in pkcs11be\n", EVP_PKEY_get0_type_name(key));
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestSignInit_ex(md, NULL,
                                 EVP_PKEY_is_a(key, "ED25519")
                                         || EVP_PKEY_is_a(key, "ED448")
                                     ? NULL
                                     : "SHA256",
                                 NULL, NULL, key, NULL)
               != 1
        || EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)) != 1) {
        tu_fail("signing with the key");
        goto out;
    }
    der_len = i2d_PUBKEY(key, &der);
    p = der;
    if (der_len <= 0
        || (pub = d2i_PUBKEY_ex(NULL, &p, der_len, NULL, DEF)) == NULL) {
        tu_fail("i2d_PUBKEY / d2i_PUBKEY");
        goto out;
    }
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestVerifyInit_ex(md, NULL,
                                   EVP_PKEY_is_a(pub, "ED25519")
                                           || EVP_PKEY_is_a(pub, "ED448")
                                       ? NULL
                                       : "SHA256",
                                   NULL, DEF, pub, NULL)
               != 1
        || EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)) != 1) {
        tu_fail("the default provider does not verify the signature");
        goto out;
    }
    printf("ok: signed, verified by the default provider\n");
    out = BIO_new_file(pubout, "w");
    if (out == NULL || !PEM_write_bio_PUBKEY(out, key)) {
        tu_fail("PEM_write_bio_PUBKEY");
        goto out;
    }
    ok = 1;
out:
    BIO_free(out);
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return ok;
}

int main(int argc, char **argv)
{
    int ok;

    if (argc == 3 && strcmp(argv[1], "soft") == 0) {
        if (!tu_load_providers(&p11be, &deflt))
            return tu_fail("loading the providers"), 1;
        ok = mode_soft(argv[2]);
        OSSL_PROVIDER_unload(p11be);
        OSSL_PROVIDER_unload(deflt);
    } else if (argc == 4 && strcmp(argv[1], "read") == 0) {
        /* Config activation: the providers come from OPENSSL_CONF. */
        ok = mode_read(argv[2], argv[3]);
    } else {
        fprintf(stderr, "usage: encoder_check soft FILE | "
                        "read FILE PUBOUT\n");
        return 2;
    }
    return ok ? 0 : 1;
}
