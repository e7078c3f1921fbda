/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keymgmt "RSA" and "RSA-PSS": RSA keys as P11BE_KEY (keyobj.h), with the
 * functions all key types share from keymgmt.c. An RSA-PSS key is an RSA
 * key on the token (CKK_RSA); its PSS restrictions (digest, mgf1-digest,
 * minimum saltlen) live in its host copy, which OpenSSL's default provider
 * enforces on every signature (signature_rsa.c sends parameters there).
 *
 * Import (a software key, from OpenSSL's decoders or another provider)
 * keeps a host copy and makes the token objects when an operation first
 * needs them: a CKO_PRIVATE_KEY/CKK_RSA session object, sensitive and not
 * extractable, with CKA_MODULUS .. CKA_COEFFICIENT (a multi-prime key,
 * which PKCS#11 cannot hold with its CRT values, goes with n, e and d
 * only). Public-key operations run on the host copy, so a public key
 * never reaches the token.
 *
 * Generation runs on the token (CKM_RSA_PKCS_KEY_PAIR_GEN) with the
 * "bits" (default 2048), "e" (default 65537) and "primes" (2 only)
 * parameters, as a session key pair, or a persistent one when
 * pkcs11-key-label and/or pkcs11-key-id is given:
 *
 *   openssl genpkey -provider pkcs11be -algorithm RSA \
 *       -pkeyopt rsa_keygen_bits:3072 -pkeyopt pkcs11-key-label:signer
 *
 * pkcs11-key-id is an octet string (on the command line
 * "-pkeyopt hexpkcs11-key-id:0102"). A persistent key stays on the token
 * when freed. RSA-PSS generation also takes "digest", "mgf1-digest" and
 * "saltlen", which make a restricted key as with the default provider.
 *
 * Token keys are normally found by pkcs11: URI through the store
 * (store.c). For programs that make keys through EVP_PKEY_generate(),
 * "pkcs11-key-existing" (an integer, 1) turns generation into a look-up:
 * instead of generating, the key pair that an earlier process made with
 * that label and/or id is found on the token (after a login; by the id
 * when one is given, else by the label; exactly one private and one
 * public CKK_RSA object must match), its n and e are read from the public
 * object, and the key is used like a generated one and kept on the token
 * when freed:
 *
 *   EVP_PKEY_keygen_init(ctx);   (ctx for "RSA", provider=pkcs11be)
 *   params: pkcs11-key-label = "signer", pkcs11-key-existing = 1
 *   EVP_PKEY_CTX_set_params(ctx, params); EVP_PKEY_generate(ctx, &key);
 *
 * "bits", "e" and "primes" are then ignored.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "err.h"
#include "keymgmt.h"
#include "keyobj.h"
#include "names.h"
#include "reentry.h"

#define RSA_GEN_PARAM_FIND "pkcs11-key-existing"

#define RSA_DEFAULT_BITS 2048
#define RSA_MIN_BITS     512 /* as OpenSSL's default provider */

static OSSL_FUNC_keymgmt_new_fn rsa_new;
static OSSL_FUNC_keymgmt_new_fn rsa_pss_new;
static OSSL_FUNC_keymgmt_load_fn rsa_load;
static OSSL_FUNC_keymgmt_load_fn rsa_pss_load;
static OSSL_FUNC_keymgmt_gettable_params_fn rsa_gettable_params;
static OSSL_FUNC_keymgmt_import_types_fn rsa_key_types;
static OSSL_FUNC_keymgmt_import_types_fn rsa_pss_key_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn rsa_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn rsa_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn rsa_pss_gen_init;
static OSSL_FUNC_keymgmt_gen_set_params_fn rsa_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn rsa_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn rsa_pss_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_fn rsa_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn rsa_gen_cleanup;

struct rsa_gen_ctx_st {
    P11BE_PROV_CTX *prov;              /* provider that made us */
    const struct p11be_key_kind *kind; /* RSA or RSA-PSS */
    int selection;                     /* what to generate */
    size_t bits;                       /* modulus bits */
    BIGNUM *e;                         /* public exponent */
    char *label;                       /* pkcs11-key-label, or NULL */
    unsigned char *id;                 /* pkcs11-key-id, or NULL */
    size_t id_len;                     /* bytes in id */
    int existing;                      /* find the pair, do not generate */
    OSSL_PARAM *pss;                   /* RSA-PSS restrictions, or NULL */
};

typedef struct rsa_gen_ctx_st RSA_GEN_CTX;

/* n, e, d, and the CRT values of a two-prime key. */
static int rsa_private_attrs(const P11BE_KEY *key, P11BE_ATTRS *attrs)
{
    const EVP_PKEY *host = key->host;
    BIGNUM *third = NULL;

    if (!p11be_attrs_add_bn(attrs, CKA_MODULUS, host, OSSL_PKEY_PARAM_RSA_N)
        || !p11be_attrs_add_bn(attrs, CKA_PUBLIC_EXPONENT, host,
                               OSSL_PKEY_PARAM_RSA_E)
        || !p11be_attrs_add_bn(attrs, CKA_PRIVATE_EXPONENT, host,
                               OSSL_PKEY_PARAM_RSA_D)) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the RSA private key lacks n, e or d");
        return 0;
    }
    if (EVP_PKEY_get_bn_param(host, OSSL_PKEY_PARAM_RSA_FACTOR3, &third)) {
        BN_free(third);
        return 1; /* multi-prime: the token computes without CRT */
    }
    p11be_attrs_add_bn(attrs, CKA_PRIME_1, host, OSSL_PKEY_PARAM_RSA_FACTOR1);
    p11be_attrs_add_bn(attrs, CKA_PRIME_2, host, OSSL_PKEY_PARAM_RSA_FACTOR2);
    p11be_attrs_add_bn(attrs, CKA_EXPONENT_1, host,
                       OSSL_PKEY_PARAM_RSA_EXPONENT1);
    p11be_attrs_add_bn(attrs, CKA_EXPONENT_2, host,
                       OSSL_PKEY_PARAM_RSA_EXPONENT2);
    p11be_attrs_add_bn(attrs, CKA_COEFFICIENT, host,
                       OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
    return 1;
}

static int rsa_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                 CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra);

/* d and the CRT values of an exportable pair, as OpenSSL names them. */
static OSSL_PARAM *rsa_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                          CK_OBJECT_HANDLE obj)
{
    static const char *const names[] = {
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    CK_ATTRIBUTE tmpl[] = {
        {CKA_PRIVATE_EXPONENT, NULL, 0}, {CKA_PRIME_1, NULL, 0},
        {CKA_PRIME_2, NULL, 0},          {CKA_EXPONENT_1, NULL, 0},
        {CKA_EXPONENT_2, NULL, 0},       {CKA_COEFFICIENT, NULL, 0},
    };
    OSSL_PARAM_BLD *bld;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn[6] = {NULL};
    size_t i;
    int ok;

    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 6,
                                "the RSA private key's CKA_PRIVATE_EXPONENT "
                                "and CRT values"))
        return NULL;
    ok = (bld = OSSL_PARAM_BLD_new()) != NULL;
    for (i = 0; i < 6 && ok; i++) {
        bn[i] = BN_secure_new();
        ok =
            bn[i] != NULL
            && BN_bin2bn(tmpl[i].pValue, (int)tmpl[i].ulValueLen, bn[i]) != NULL
            && OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]);
    }
    /* The builder reads the numbers here, so they live until now. */
    if (ok)
        params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "holding the RSA private key read from the token");
    OSSL_PARAM_BLD_free(bld);
    for (i = 0; i < 6; i++)
        BN_clear_free(bn[i]);
    p11be_token_free_secret(tmpl, 6);
    return params;
}

const struct p11be_key_kind p11be_kind_rsa = {
    "RSA",
    CKK_RSA,
    OSSL_PKEY_PARAM_RSA_D,
    rsa_private_attrs,
    rsa_public_from_token,
    rsa_private_from_token,
};

const struct p11be_key_kind p11be_kind_rsa_pss = {
    "RSA-PSS",
    CKK_RSA,
    OSSL_PKEY_PARAM_RSA_D,
    rsa_private_attrs,
    rsa_public_from_token,
    rsa_private_from_token,
};

/*
 * n and e of a token object (a public key, or a private key, which
 * carries them too), plus `extra` (RSA-PSS restrictions), as the host copy.
 */
static int rsa_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                 CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    CK_ATTRIBUTE tmpl[] = {
        {CKA_MODULUS, NULL, 0},
        {CKA_PUBLIC_EXPONENT, NULL, 0},
    };
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL, *all = NULL;
    BIGNUM *n = NULL, *e = NULL;
    int ok = 0;

    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 2,
                                "the RSA key's CKA_MODULUS and "
                                "CKA_PUBLIC_EXPONENT"))
        return 0;
    n = BN_bin2bn(tmpl[0].pValue, (int)tmpl[0].ulValueLen, NULL);
    e = BN_bin2bn(tmpl[1].pValue, (int)tmpl[1].ulValueLen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (all = OSSL_PARAM_merge(params, extra)) == NULL) {
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "holding an RSA public key from the token");
        goto out_free;
    }
    ok = p11be_keymgmt_set_public_from(key, all);
out_free:
    OSSL_PARAM_free(all);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    p11be_token_free_attrs(tmpl, 2);
    return ok;
}

static void *rsa_new(void *provctx)
{
    return p11be_key_new(p11be_tc(provctx), &p11be_kind_rsa);
}

static void *rsa_pss_new(void *provctx)
{
    return p11be_key_new(p11be_tc(provctx), &p11be_kind_rsa_pss);
}

/* A token key from the store (store.c). */
static void *rsa_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_rsa);
}

static void *rsa_pss_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_rsa_pss);
}

/* The PSS restrictions, as OpenSSL's RSA-PSS keys take them. */
#define RSA_PSS_PARAM_TYPES                                                    \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST, NULL, 0),               \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST_PROPS, NULL, 0),     \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_MASKGENFUNC, NULL, 0),      \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_MGF1_DIGEST, NULL, 0),      \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_RSA_PSS_SALTLEN, NULL)

/* The key parameters, for import and export alike. */
#define RSA_KEY_TYPES                                                          \
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),                             \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_D, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR1, NULL, 0),                   \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR2, NULL, 0),                   \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT1, NULL, 0),                 \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT2, NULL, 0),                 \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, NULL, 0)

static const OSSL_PARAM *rsa_key_types(int selection)
{
    static const OSSL_PARAM types[] = {
        RSA_KEY_TYPES,
        OSSL_PARAM_END,
    };

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        return NULL;
    return types;
}

static const OSSL_PARAM *rsa_pss_key_types(int selection)
{
    static const OSSL_PARAM types[] = {
        RSA_KEY_TYPES,
        RSA_PSS_PARAM_TYPES,
        OSSL_PARAM_END,
    };

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        return NULL;
    return types;
}

static const OSSL_PARAM *rsa_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        RSA_KEY_TYPES,
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}
static const char *rsa_query_operation_name(int operation_id)
{
    (void)operation_id;
    return "RSA";
}

/* ---- generation on the token -------------------------------------------- */

static void *rsa_gen_init_kind(void *provctx, int selection,
                               const OSSL_PARAM params[],
                               const struct p11be_key_kind *kind)
{
    RSA_GEN_CTX *gctx = OPENSSL_zalloc(sizeof(*gctx));

    if (gctx == NULL)
        return NULL;
    gctx->prov = provctx;
    gctx->kind = kind;
    gctx->selection = selection;
    gctx->bits = RSA_DEFAULT_BITS;
    gctx->e = BN_new();
    if (gctx->e == NULL || !BN_set_word(gctx->e, 65537)
        || !rsa_gen_set_params(gctx, params)) {
        rsa_gen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

static void *rsa_gen_init(void *provctx, int selection,
                          const OSSL_PARAM params[])
{
    return rsa_gen_init_kind(provctx, selection, params, &p11be_kind_rsa);
}

static void *rsa_pss_gen_init(void *provctx, int selection,
                              const OSSL_PARAM params[])
{
    return rsa_gen_init_kind(provctx, selection, params, &p11be_kind_rsa_pss);
}

static void rsa_gen_cleanup(void *genctx)
{
    RSA_GEN_CTX *gctx = genctx;

    if (gctx == NULL)
        return;
    OSSL_PARAM_free(gctx->pss);
    BN_free(gctx->e);
    OPENSSL_free(gctx->label);
    OPENSSL_free(gctx->id);
    OPENSSL_free(gctx);
}

/*
 * Keeps the RSA-PSS restrictions given (merged over earlier ones) for the
 * host copy; the default provider checks them when the key is made.
 */
static int rsa_gen_keep_pss(RSA_GEN_CTX *gctx, const OSSL_PARAM params[])
{
    static const char *const names[] = {
        OSSL_PKEY_PARAM_RSA_DIGEST, OSSL_PKEY_PARAM_RSA_MASKGENFUNC,
        OSSL_PKEY_PARAM_RSA_MGF1_DIGEST, OSSL_PKEY_PARAM_RSA_PSS_SALTLEN};
    OSSL_PARAM kept[sizeof(names) / sizeof(names[0]) + 1], *merged;
    const OSSL_PARAM *p;
    size_t i, n = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((p = OSSL_PARAM_locate_const(params, names[i])) != NULL)
            kept[n++] = *p;
    if (n == 0)
        return 1;
    kept[n] = OSSL_PARAM_construct_end();
    merged = OSSL_PARAM_merge(gctx->pss, kept); /* the new ones win */
    if (merged == NULL)
        return 0;
    /* OSSL_PARAM_merge() points into its inputs: make it self-contained. */
    p = merged;
    merged = OSSL_PARAM_dup(p);
    OSSL_PARAM_free((OSSL_PARAM *)p);
    OSSL_PARAM_free(gctx->pss);
    gctx->pss = merged;
    return merged != NULL;
}

static int rsa_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    RSA_GEN_CTX *gctx = genctx;
    const OSSL_PARAM *p;
    size_t primes = 2;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS);
    if (p != NULL && !OSSL_PARAM_get_size_t(p, &gctx->bits))
        goto out_bad;
    /* Refused when set, as the default provider does. */
    if (p != NULL && gctx->bits < RSA_MIN_BITS) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "key size too small: RSA keys of %zu bits (at least %d)",
                    gctx->bits, RSA_MIN_BITS);
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_PRIMES);
    if (p != NULL && (!OSSL_PARAM_get_size_t(p, &primes) || primes != 2)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a PKCS#11 token generates two-prime RSA keys only "
                    "(\"%s\" must be 2)",
                    OSSL_PKEY_PARAM_RSA_PRIMES);
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);
    if (p != NULL && !OSSL_PARAM_get_BN(p, &gctx->e))
        goto out_bad;
    if (!p11be_keygen_token_params(params, &gctx->label, &gctx->id,
                                   &gctx->id_len, &p))
        goto out_bad;
    p = OSSL_PARAM_locate_const(params, RSA_GEN_PARAM_FIND);
    if (p != NULL && !OSSL_PARAM_get_int(p, &gctx->existing))
        goto out_bad;
    return gctx->kind != &p11be_kind_rsa_pss || rsa_gen_keep_pss(gctx, params);

out_bad:
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "RSA key generation: bad \"%s\" parameter", p->key);
    return 0;
}

#define RSA_GEN_SETTABLE                                                       \
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),                         \
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),                   \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),                         \
        OSSL_PARAM_utf8_string(P11BE_KEYGEN_PARAM_LABEL, NULL, 0),             \
        OSSL_PARAM_octet_string(P11BE_KEYGEN_PARAM_ID, NULL, 0),               \
        OSSL_PARAM_int(RSA_GEN_PARAM_FIND, NULL)

static const OSSL_PARAM *rsa_gen_settable_params(void *genctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        RSA_GEN_SETTABLE,
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return settable;
}

static const OSSL_PARAM *rsa_pss_gen_settable_params(void *genctx,
                                                     void *provctx)
{
    static const OSSL_PARAM settable[] = {
        RSA_GEN_SETTABLE,
        RSA_PSS_PARAM_TYPES,
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return settable;
}

/* Refuses sizes the token's CKM_RSA_PKCS_KEY_PAIR_GEN does not make. */
static int rsa_gen_check(RSA_GEN_CTX *gctx)
{
    CK_MECHANISM_INFO info;

    if (!p11be_mech_info(&gctx->prov->tc, CKM_RSA_PKCS_KEY_PAIR_GEN,
                         "CKM_RSA_PKCS_KEY_PAIR_GEN", &info))
        return 0;
    if (gctx->bits < info.ulMinKeySize
        || (info.ulMaxKeySize != 0 && gctx->bits > info.ulMaxKeySize)) {
        p11be_raise(gctx->prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "the token generates RSA keys of %lu..%lu bits, not %zu",
                    (unsigned long)info.ulMinKeySize,
                    (unsigned long)info.ulMaxKeySize, gctx->bits);
        return 0;
    }
    return 1;
}

/* A key made by the default provider, private half on the host. */
static int rsa_gen_on_host(P11BE_KEY *key, const void *arg)
{
    const RSA_GEN_CTX *gctx = arg;
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *host = NULL;
    size_t bits = gctx->bits;
    int ok;

    ctx = EVP_PKEY_CTX_new_from_name(p11be_fallback_libctx(), key->kind->name,
                                     NULL);
    params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    params[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1
         && EVP_PKEY_CTX_set_params(ctx, params) == 1
         && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, gctx->e) == 1
         && (gctx->pss == NULL || EVP_PKEY_CTX_set_params(ctx, gctx->pss) == 1)
         && EVP_PKEY_generate(ctx, &host) == 1
         && p11be_key_set_host(key, host, 1);
    EVP_PKEY_CTX_free(ctx);
    if (ok)
        return 1;
    EVP_PKEY_free(host);
    p11be_raise(key->tc->handle, P11BE_R_FALLBACK_FAILED,
                "%s key generation on the host failed", key->kind->name);
    return 0;
}

static void *rsa_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    RSA_GEN_CTX *gctx = genctx;
    P11BE_ATTRS pub = {0}, priv = {0};
    struct p11be_keygen gen = {
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        &pub,
        &priv,
        gctx->label,
        gctx->id,
        gctx->id_len,
        gctx->pss,
        0,
    };
    unsigned char e[16];
    P11BE_KEY *key;
    int e_len, mode, ok;

    (void)cb; /* the token reports no progress */
    (void)cbarg;
    if (p11be_reentered()) {
        p11be_raise(gctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                    "RSA key generation requested from inside a token call");
        return NULL;
    }
    key = p11be_key_new(&gctx->prov->tc, gctx->kind);
    if (key == NULL || (gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        return key;
    if (gctx->existing) {
        if (!p11be_key_find(key, gctx->label, gctx->id, gctx->id_len)
            || !p11be_key_load_public(key, NULL, gctx->pss))
            goto out_free_key;
        return key;
    }
    /* As the default provider (which then fails with its own reason). */
    if (!BN_is_odd(gctx->e) || BN_is_one(gctx->e)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "pub exponent out of range: an RSA public exponent is "
                    "odd and greater than 1");
        goto out_free_key;
    }
    mode = p11be_keygen_mode(gctx->prov, gctx->label, gctx->id_len);
    if (mode < 0)
        goto out_free_key;
    if (mode == P11BE_KEYGEN_HOST) {
        if (!rsa_gen_on_host(key, gctx))
            goto out_free_key;
        return key;
    }
    e_len = BN_num_bytes(gctx->e);
    if ((size_t)e_len > sizeof(e)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "an RSA public exponent of %d bytes: pkcs11be gives a "
                    "token at most %zu",
                    e_len, sizeof(e));
        goto out_free_key;
    }
    BN_bn2bin(gctx->e, e);
    if (!rsa_gen_check(gctx))
        goto out_free_key;
    p11be_attrs_add_ulong(&pub, CKA_MODULUS_BITS, gctx->bits);
    p11be_attrs_add(&pub, CKA_PUBLIC_EXPONENT, e, e_len);
    p11be_attrs_add_bool(&pub, CKA_VERIFY, 1);
    p11be_attrs_add_bool(&pub, CKA_ENCRYPT, 1);
    p11be_attrs_add_bool(&priv, CKA_SIGN, 1);
    p11be_attrs_add_bool(&priv, CKA_DECRYPT, 1);
    ok = p11be_keygen_run(key, &gen, mode, rsa_gen_on_host, gctx);
    p11be_attrs_free(&pub);
    p11be_attrs_free(&priv);
    if (ok)
        return key;
out_free_key:
    p11be_key_free(key);
    return NULL;
}

static const OSSL_DISPATCH p11be_keymgmt_rsa_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))rsa_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))rsa_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))p11be_keymgmt_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))rsa_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_key_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p11be_keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))rsa_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))rsa_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))rsa_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))rsa_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))rsa_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))rsa_gen_cleanup},
    {0, NULL},
};

static const OSSL_DISPATCH p11be_keymgmt_rsa_pss_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))rsa_pss_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))rsa_pss_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))p11be_keymgmt_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))rsa_pss_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_pss_key_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p11be_keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))rsa_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))rsa_pss_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))rsa_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))rsa_pss_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))rsa_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))rsa_gen_cleanup},
    {0, NULL},
};

/* In keymgmt_ec.c and keymgmt_ed.c. */
extern const OSSL_DISPATCH p11be_keymgmt_ec_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_ed25519_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_ed448_functions[];
/* In mac_pkey.c. */
extern const OSSL_DISPATCH p11be_keymgmt_hmac_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_cmac_functions[];

/*
 * The MAC rows come first: in pkcs11-offload = keys mode provider.c offers
 * the table from the first key row on (p11be_keymgmt_key_algorithms).
 */
const OSSL_ALGORITHM p11be_keymgmt_algorithms[] = {
    {"HMAC", P11BE_PROPS, p11be_keymgmt_hmac_functions,
     "HMAC keys for EVP_DigestSign, the MAC made on the PKCS#11 token"},
    {"CMAC", P11BE_PROPS, p11be_keymgmt_cmac_functions,
     "CMAC keys for EVP_DigestSign, the MAC made on the PKCS#11 token"},
    {P11BE_NAMES_RSA, P11BE_PROPS, p11be_keymgmt_rsa_functions,
     "RSA keys on the PKCS#11 token"},
    {P11BE_NAMES_RSA_PSS, P11BE_PROPS, p11be_keymgmt_rsa_pss_functions,
     "RSA-PSS keys on the PKCS#11 token"},
    {P11BE_NAMES_EC, P11BE_PROPS, p11be_keymgmt_ec_functions,
     "EC keys on the PKCS#11 token"},
    {P11BE_NAMES_ED25519, P11BE_PROPS, p11be_keymgmt_ed25519_functions,
     "Ed25519 keys on the PKCS#11 token"},
    {P11BE_NAMES_ED448, P11BE_PROPS, p11be_keymgmt_ed448_functions,
     "Ed448 keys on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
const OSSL_ALGORITHM *const p11be_keymgmt_key_algorithms =
    p11be_keymgmt_algorithms + 2;
