/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MAC keys as EVP_PKEYs: keymgmt and signature "HMAC" and "CMAC", the
 * interface OpenSSL kept from its legacy EVP_PKEY MACs and that
 * `openssl dgst -hmac`, `openssl dgst -mac` and EVP_DigestSign* with a MAC
 * key still use. Without them in pkcs11be, a strict
 * `-propquery provider=pkcs11be` cannot make such a key at all.
 *
 * The key is the caller's bytes (and, for CMAC, its cipher name), kept in
 * memory like the default provider's MAC keys; the signature runs pkcs11be's
 * own EVP_MAC implementation (mac.c, through mac.h),
 * so the MAC is computed on the token exactly as through EVP_MAC, with its
 * key handling, any-length HMAC keys, context duplication and re-entry.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "err.h"
#include "mac.h"
#include "names.h"
#include "provider.h"

#define MAC_PKEY_CIPHER_MAX 64 /* longest cipher name a CMAC key keeps */

/* A MAC key: what the caller gave, nothing on the token yet. */
struct mac_key_st {
    P11BE_PROV_CTX *prov;             /* provider that made us */
    int refs;                         /* holders; freed at 0 */
    int cmac;                         /* a CMAC key (else HMAC) */
    unsigned char *priv;              /* the key bytes; NULL: none yet */
    size_t priv_len;                  /* bytes in priv */
    char cipher[MAC_PKEY_CIPHER_MAX]; /* CMAC: the cipher; "" none */
};

typedef struct mac_key_st MAC_KEY;

struct mac_sig_ctx_st {
    P11BE_PROV_CTX *prov; /* provider that made us */
    int cmac;             /* CMAC (else HMAC) */
    void *mac;            /* mac.c's context; NULL until init */
    MAC_KEY *key;         /* a reference; NULL until init */
};

typedef struct mac_sig_ctx_st MAC_SIG_CTX;

/* ---- keys ---- */

static MAC_KEY *mac_key_alloc(void *provctx, int cmac)
{
    MAC_KEY *key = OPENSSL_zalloc(sizeof(*key));

    if (key == NULL)
        return NULL;
    key->prov = provctx;
    key->refs = 1;
    key->cmac = cmac;
    return key;
}

static void mac_key_free(void *keydata)
{
    MAC_KEY *key = keydata;

    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    OPENSSL_clear_free(key->priv, key->priv_len);
    OPENSSL_free(key);
}

static int mac_key_has(const void *keydata, int selection)
{
    const MAC_KEY *key = keydata;

    if (key == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return key->priv != NULL;
    return 1;
}

static int mac_key_match(const void *keydata1, const void *keydata2,
                         int selection)
{
    const MAC_KEY *a = keydata1, *b = keydata2;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0)
        return 1;
    return a->priv != NULL && b->priv != NULL && a->priv_len == b->priv_len
           && CRYPTO_memcmp(a->priv, b->priv, a->priv_len) == 0
           && strcmp(a->cipher, b->cipher) == 0;
}

/* The key bytes and (CMAC) the cipher from params; 1 or 0 (raised). */
static int mac_key_take(MAC_KEY *key, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    unsigned char *priv = NULL;
    size_t priv_len = 0;
    const char *cipher = NULL;

    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY);
    if (p != NULL
        && !OSSL_PARAM_get_octet_string(p, (void **)&priv, 0, &priv_len)) {
        p11be_raise(key->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a MAC key's \"%s\" must be an octet string", p->key);
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_CIPHER);
    if (key->cmac && p != NULL
        && (!OSSL_PARAM_get_utf8_string_ptr(p, &cipher)
            || strlen(cipher) >= sizeof(key->cipher))) {
        OPENSSL_clear_free(priv, priv_len);
        p11be_raise(key->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a CMAC key's \"%s\" must name a cipher", p->key);
        return 0;
    }
    if (priv != NULL) {
        OPENSSL_clear_free(key->priv, key->priv_len);
        key->priv = priv;
        key->priv_len = priv_len;
    }
    if (cipher != NULL)
        strcpy(key->cipher, cipher); /* length checked above */
    return 1;
}

static int mac_key_import(void *keydata, int selection,
                          const OSSL_PARAM params[])
{
    MAC_KEY *key = keydata;

    if (key == NULL || params == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0)
        return 1;
    return mac_key_take(key, params)
           && (key->priv != NULL
               || (p11be_raise(key->prov->handle, P11BE_R_NO_KEY,
                               "a MAC key needs its \"%s\"",
                               OSSL_PKEY_PARAM_PRIV_KEY),
                   0));
}

static const OSSL_PARAM hmac_types[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM cmac_types[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_CIPHER, NULL, 0),
    OSSL_PARAM_END,
};

/* The caller's own key bytes: they may go back to the caller. */
static int mac_key_export(void *keydata, int selection, OSSL_CALLBACK *cb,
                          void *cbarg)
{
    MAC_KEY *key = keydata;
    OSSL_PARAM params[3], *p = params;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 || key->priv == NULL)
        return 0;
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                             key->priv, key->priv_len);
    if (key->cipher[0] != '\0')
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_CIPHER,
                                                key->cipher, 0);
    *p = OSSL_PARAM_construct_end();
    return cb(params, cbarg);
}

/* ---- key "generation": a key from the given bytes (dgst -mac) ---- */

static int mac_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    return params == NULL || mac_key_take(genctx, params);
}

static void *mac_gen_init(void *provctx, int selection,
                          const OSSL_PARAM params[], int cmac)
{
    MAC_KEY *key = NULL;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        key = mac_key_alloc(provctx, cmac);
    if (key != NULL && !mac_gen_set_params(key, params)) {
        mac_key_free(key);
        return NULL;
    }
    return key;
}

/* The generation context is the key: it is handed over once. */
static void *mac_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    MAC_KEY *key = genctx;

    (void)cb;
    (void)cbarg;
    if (key == NULL)
        return NULL;
    if (key->priv == NULL) {
        p11be_raise(key->prov->handle, P11BE_R_NO_KEY,
                    "a MAC key needs its \"%s\" (-macopt key:... or "
                    "hexkey:...)",
                    OSSL_PKEY_PARAM_PRIV_KEY);
        return NULL;
    }
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_ACQ_REL);
    return key;
}

static void mac_gen_cleanup(void *genctx)
{
    mac_key_free(genctx);
}

/* ---- the signature: pkcs11be's EVP_MAC behind EVP_DigestSign ---- */

/* mac.c's context answers update and final before init, as EVP_MAC. */
static void *mac_sig_newctx(void *provctx, int cmac)
{
    MAC_SIG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->prov = provctx;
    ctx->cmac = cmac;
    ctx->mac = p11be_mac_newctx(provctx, cmac);
    if (ctx->mac != NULL)
        return ctx;
    OPENSSL_free(ctx);
    return NULL;
}

static void mac_sig_freectx(void *vctx)
{
    MAC_SIG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11be_mac_freectx(ctx->mac);
    mac_key_free(ctx->key);
    OPENSSL_free(ctx);
}

/*
 * OpenSSL 3.0's EVP_DigestSignFinal() finishes a copy of the context; past
 * pkcs11-digest-buffer-max, on a token that cannot copy a running MAC, the
 * copy shares it (mac.c), so input of any size works.
 */
static void *mac_sig_dupctx(void *vctx)
{
    MAC_SIG_CTX *src = vctx;
    MAC_SIG_CTX *dst = OPENSSL_memdup(src, sizeof(*src));

    if (dst == NULL)
        return NULL;
    dst->mac = p11be_mac_dupctx(src->mac);
    if (dst->mac == NULL) {
        OPENSSL_free(dst);
        return NULL;
    }
    if (dst->key != NULL)
        __atomic_add_fetch(&dst->key->refs, 1, __ATOMIC_ACQ_REL);
    return dst;
}

static int mac_sig_init(void *vctx, const char *mdname, void *provkey,
                        const OSSL_PARAM params[])
{
    MAC_SIG_CTX *ctx = vctx;
    MAC_KEY *key = provkey;
    OSSL_PARAM init[2] = {OSSL_PARAM_END, OSSL_PARAM_END};

    if (key == NULL || key->priv == NULL || key->cmac != ctx->cmac) {
        p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                    "%s signing needs a %s key", ctx->cmac ? "CMAC" : "HMAC",
                    ctx->cmac ? "CMAC" : "HMAC");
        return 0;
    }
    if (ctx->cmac && key->cipher[0] == '\0') {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a CMAC key needs its \"%s\"", OSSL_PKEY_PARAM_CIPHER);
        return 0;
    }
    if (!ctx->cmac && (mdname == NULL || mdname[0] == '\0'))
        mdname = "SHA256"; /* as the default provider's HMAC signature */
    p11be_mac_freectx(ctx->mac);
    ctx->mac = p11be_mac_newctx(ctx->prov, ctx->cmac);
    if (ctx->mac == NULL)
        return 0;
    init[0] = ctx->cmac
                  ? OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                     key->cipher, 0)
                  : OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)mdname, 0);
    if (!p11be_mac_set_ctx_params(ctx->mac, init)
        || (params != NULL && !p11be_mac_set_ctx_params(ctx->mac, params))
        || !p11be_mac_init(ctx->mac, key->priv, key->priv_len, NULL))
        return 0;
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_ACQ_REL);
    mac_key_free(ctx->key);
    ctx->key = key;
    return 1;
}

static int mac_sig_update(void *vctx, const unsigned char *data, size_t datalen)
{
    return p11be_mac_update(((MAC_SIG_CTX *)vctx)->mac, data, datalen);
}

static int mac_sig_final(void *vctx, unsigned char *sig, size_t *siglen,
                         size_t sigsize)
{
    MAC_SIG_CTX *ctx = vctx;
    OSSL_PARAM size[2];

    /* A size query: EVP_MAC_final() answers it above the provider. */
    if (sig == NULL) {
        size[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, siglen);
        size[1] = OSSL_PARAM_construct_end();
        return p11be_mac_get_ctx_params(ctx->mac, size);
    }
    return p11be_mac_final(ctx->mac, sig, siglen, sigsize);
}

/* Passed to the MAC: "digest", "cipher", "properties", HMAC's own. */
static int mac_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    return p11be_mac_set_ctx_params(((MAC_SIG_CTX *)vctx)->mac, params);
}

static const OSSL_PARAM sig_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_CIPHER, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};

P11BE_PARAMS_FN(mac_sig_settable_ctx_params, sig_settable)

/* OpenSSL tells these functions no key kind: one set per kind. */
#define MAC_KIND(kind, cmac)                                                   \
    static void *kind##_key_new(void *provctx)                                 \
    {                                                                          \
        return mac_key_alloc(provctx, cmac);                                   \
    }                                                                          \
    static const OSSL_PARAM *kind##_key_types(int selection)                   \
    {                                                                          \
        return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0              \
                   ? kind##_types                                              \
                   : NULL;                                                     \
    }                                                                          \
    static void *kind##_gen_init(void *provctx, int selection,                 \
                                 const OSSL_PARAM params[])                    \
    {                                                                          \
        return mac_gen_init(provctx, selection, params, cmac);                 \
    }                                                                          \
    P11BE_PARAMS_FN(kind##_gen_settable_params, kind##_types)                  \
    static void *kind##_sig_newctx(void *provctx, const char *propq)           \
    {                                                                          \
        (void)propq; /* the MAC is pkcs11be's own */                           \
        return mac_sig_newctx(provctx, cmac);                                  \
    }                                                                          \
    const OSSL_DISPATCH p11be_keymgmt_##kind##_functions[] = {                 \
        {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))kind##_key_new},               \
        {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))mac_key_free},                \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))mac_key_has},                  \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))mac_key_match},              \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))mac_key_import},            \
        {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))kind##_key_types},    \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))mac_key_export},            \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))kind##_key_types},    \
        {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))kind##_gen_init},         \
        {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                     \
         (void (*)(void))mac_gen_set_params},                                  \
        {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,                                \
         (void (*)(void))kind##_gen_settable_params},                          \
        {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))mac_gen},                      \
        {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))mac_gen_cleanup},      \
        {0, NULL},                                                             \
    };                                                                         \
    const OSSL_DISPATCH p11be_signature_##kind##_functions[] = {               \
        {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))kind##_sig_newctx},       \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))mac_sig_init},  \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,                               \
         (void (*)(void))mac_sig_update},                                      \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,                                \
         (void (*)(void))mac_sig_final},                                       \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))mac_sig_freectx},        \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))mac_sig_dupctx},          \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,                                   \
         (void (*)(void))mac_sig_set_ctx_params},                              \
        {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,                              \
         (void (*)(void))mac_sig_settable_ctx_params},                         \
        {0, NULL},                                                             \
    }

MAC_KIND(hmac, 0);
MAC_KIND(cmac, 1);
