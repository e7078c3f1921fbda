/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key pairs generated through pkcs11be, and what may leave the token
 * (tests/75-keygen-exportable.t). For RSA 2048, EC P-256 and P-384,
 * Ed25519 and Ed448, each generated with "provider=pkcs11be":
 *
 *   keygen_check export    keys made as pkcs11-keygen-exportable says
 *                          (the test sets it to auto or yes): the private
 *                          half comes out (EVP_PKEY_todata of the key
 *                          pair, the legacy RSA / EC_KEY view pyca 38 uses,
 *                          the raw EdDSA key) and the default provider's
 *                          copy is the same key: each side verifies the
 *                          other's signature, EVP_PKEY_eq holds.
 *   keygen_check refuse [LABEL]  keys that must keep their private half
 *                          (pkcs11-keygen-exportable = no, or LABEL-TYPE
 *                          persistent keys): every way out fails with an
 *                          error on the queue, the public half still
 *                          comes out, and the key still signs.
 *
 * Prints "ok: ..." lines and exits 0, or "FAIL: ..." and exits 1.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the legacy views pyca 38 takes */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

struct key_type {
    const char *name;  /* for messages */
    const char *alg;   /* keymgmt name */
    const char *group; /* EC curve, or NULL */
    size_t bits;       /* RSA bits, or 0 */
    const char *md;    /* signature digest; NULL for EdDSA */
};

static const struct key_type types[] = {
    {"RSA-2048", "RSA", NULL, 2048, "SHA256"},
    {"EC-P256", "EC", "P-256", 0, "SHA256"},
    {"EC-P384", "EC", "P-384", 0, "SHA384"},
    {"Ed25519", "ED25519", NULL, 0, NULL},
    {"Ed448", "ED448", NULL, 0, NULL},
};

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int failf(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tu_fail(msg);
}

static EVP_PKEY *generate(const struct key_type *t, const char *label)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, t->alg, P11);
    OSSL_PARAM params[4], *p = params;
    size_t bits = t->bits;
    EVP_PKEY *key = NULL;

    if (t->bits != 0)
        *p++ = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    if (t->group != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                (char *)t->group, 0);
    if (label != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string("pkcs11-key-label",
                                                (char *)label, 0);
    *p = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
        || EVP_PKEY_CTX_set_params(ctx, params) != 1
        || EVP_PKEY_generate(ctx, &key) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* A signature of a fixed message by `key` through the provider `propq`. */
static int sign(const struct key_type *t, EVP_PKEY *key, const char *propq,
                unsigned char *sig, size_t *sig_len)
{
    static const unsigned char msg[] = "keygen_check";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok =
        md != NULL
        && EVP_DigestSignInit_ex(md, NULL, t->md, NULL, propq, key, NULL) == 1
        && EVP_DigestSign(md, sig, sig_len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

static int verify(const struct key_type *t, EVP_PKEY *key, const char *propq,
                  const unsigned char *sig, size_t sig_len)
{
    static const unsigned char msg[] = "keygen_check";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok =
        md != NULL
        && EVP_DigestVerifyInit_ex(md, NULL, t->md, NULL, propq, key, NULL) == 1
        && EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

/* The legacy view (RSA, EC_KEY) or raw key (EdDSA) has the private half. */
static int legacy_private(const struct key_type *t, EVP_PKEY *key,
                          EVP_PKEY *copy)
{
    unsigned char raw[2][64];
    size_t raw_len[2] = {sizeof(raw[0]), sizeof(raw[1])};
    int ok = 0;

    if (strcmp(t->alg, "RSA") == 0) {
        RSA *rsa = EVP_PKEY_get1_RSA(key);

        ok = rsa != NULL && RSA_get0_d(rsa) != NULL
             && BN_cmp(RSA_get0_d(rsa), RSA_get0_d(EVP_PKEY_get0_RSA(copy)))
                    == 0;
        RSA_free(rsa);
    } else if (strcmp(t->alg, "EC") == 0) {
        EC_KEY *ec = EVP_PKEY_get1_EC_KEY(key);

        ok = ec != NULL && EC_KEY_get0_private_key(ec) != NULL
             && BN_cmp(EC_KEY_get0_private_key(ec),
                       EC_KEY_get0_private_key(EVP_PKEY_get0_EC_KEY(copy)))
                    == 0;
        EC_KEY_free(ec);
    } else {
        ok = EVP_PKEY_get_raw_private_key(key, raw[0], &raw_len[0]) == 1
             && EVP_PKEY_get_raw_private_key(copy, raw[1], &raw_len[1]) == 1
             && raw_len[0] == raw_len[1]
             && memcmp(raw[0], raw[1], raw_len[0]) == 0;
    }
    return ok;
}

static int check_export(const struct key_type *t)
{
    EVP_PKEY *key = generate(t, NULL), *copy = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *params = NULL;
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    int ok = 0;

    if (key == NULL)
        return failf("%s: generation", t->name);
    if (EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params) != 1
        || OSSL_PARAM_locate(params, strcmp(t->alg, "RSA") == 0
                                         ? OSSL_PKEY_PARAM_RSA_D
                                         : OSSL_PKEY_PARAM_PRIV_KEY)
               == NULL) {
        failf("%s: EVP_PKEY_todata(EVP_PKEY_KEYPAIR) without the private "
              "half",
              t->name);
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, t->alg, DEF);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &copy, EVP_PKEY_KEYPAIR, params) != 1) {
        failf("%s: the default provider takes the exported key", t->name);
        goto out;
    }
    if (EVP_PKEY_eq(key, copy) != 1) {
        failf("%s: the copy is another key", t->name);
        goto out;
    }
    if (!sign(t, key, P11, sig, &sig_len)
        || !verify(t, copy, DEF, sig, sig_len)) {
        failf("%s: pkcs11be's signature, verified by the copy", t->name);
        goto out;
    }
    sig_len = sizeof(sig);
    if (!sign(t, copy, DEF, sig, &sig_len)
        || !verify(t, key, P11, sig, sig_len)) {
        failf("%s: the copy's signature, verified by pkcs11be", t->name);
        goto out;
    }
    if (!legacy_private(t, key, copy)) {
        failf("%s: the legacy or raw private key", t->name);
        goto out;
    }
    printf("ok: %s: exported, the default provider's copy signs and "
           "verifies, legacy/raw private key the same\n",
           t->name);
    ok = 1;
out:
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(copy);
    EVP_PKEY_free(key);
    return ok;
}

/* The last call failed with something on the error queue; clears it. */
static int refused(const char *what, const struct key_type *t, int failed)
{
    int queued = ERR_peek_error() != 0;

    ERR_clear_error();
    if (!failed)
        return failf("%s: %s gave the private half", t->name, what);
    if (!queued)
        return failf("%s: %s failed with nothing on the error queue", t->name,
                     what);
    return 1;
}

static int check_refuse(const struct key_type *t, const char *prefix)
{
    char label[64];
    EVP_PKEY *key;
    OSSL_PARAM *params = NULL;
    unsigned char sig[1024], raw[64];
    size_t sig_len = sizeof(sig), raw_len = sizeof(raw);
    int ok;

    snprintf(label, sizeof(label), "%s-%s", prefix != NULL ? prefix : "",
             t->name);
    key = generate(t, prefix != NULL ? label : NULL);
    if (key == NULL)
        return failf("%s: generation", t->name);
    ERR_clear_error();
    ok = refused("EVP_PKEY_todata(EVP_PKEY_KEYPAIR)", t,
                 EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params) != 1);
    OSSL_PARAM_free(params);
    params = NULL;
    if (ok && strcmp(t->alg, "RSA") == 0) {
        RSA *rsa = EVP_PKEY_get1_RSA(key);

        ok = refused("EVP_PKEY_get1_RSA", t,
                     rsa == NULL || RSA_get0_d(rsa) == NULL);
        RSA_free(rsa);
    } else if (ok && strcmp(t->alg, "EC") == 0) {
        EC_KEY *ec = EVP_PKEY_get1_EC_KEY(key);

        ok = refused("EVP_PKEY_get1_EC_KEY", t,
                     ec == NULL || EC_KEY_get0_private_key(ec) == NULL);
        EC_KEY_free(ec);
    } else if (ok) {
        ok = refused("EVP_PKEY_get_raw_private_key", t,
                     EVP_PKEY_get_raw_private_key(key, raw, &raw_len) != 1);
    }
    if (ok && EVP_PKEY_todata(key, EVP_PKEY_PUBLIC_KEY, &params) != 1)
        ok = failf("%s: the public half does not come out", t->name);
    OSSL_PARAM_free(params);
    if (ok
        && (!sign(t, key, P11, sig, &sig_len)
            || !verify(t, key, P11, sig, sig_len)))
        ok = failf("%s: the key no longer signs", t->name);
    if (ok)
        printf("ok: %s: the private half stays on the token, the key "
               "signs\n",
               t->name);
    EVP_PKEY_free(key);
    return ok;
}

int main(int argc, char **argv)
{
    size_t i;
    int ok = 1, export;

    if (argc < 2 || argc > 3
        || (strcmp(argv[1], "export") != 0 && strcmp(argv[1], "refuse") != 0)) {
        fprintf(stderr, "usage: keygen_check export | refuse [LABEL]\n");
        return 2;
    }
    if (!tu_load_providers(NULL, NULL))
        return !tu_fail("loading the providers");
    export = strcmp(argv[1], "export") == 0;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        ok &= export ? check_export(&types[i])
                     : check_refuse(&types[i], argc == 3 ? argv[2] : NULL);
    return ok ? 0 : 1;
}
