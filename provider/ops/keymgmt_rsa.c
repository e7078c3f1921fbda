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
#include "pkey_op.h"

#define RSA_GEN_PARAM_FIND "pkcs11-key-existing"

#define RSA_DEFAULT_BITS 2048
#define RSA_MIN_BITS     512 /* as OpenSSL's default provider */

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
    static const CK_ATTRIBUTE_TYPE types[] = {
        CKA_PRIVATE_EXPONENT, CKA_PRIME_1,    CKA_PRIME_2,
        CKA_EXPONENT_1,       CKA_EXPONENT_2, CKA_COEFFICIENT};
    static const char *const names[] = {
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };

    return p11be_keymgmt_bn_params(key, sess, obj, types, names, 6,
                                   "the RSA private key's "
                                   "CKA_PRIVATE_EXPONENT and CRT values");
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
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_MODULUS, CKA_PUBLIC_EXPONENT};
    static const char *const names[] = {OSSL_PKEY_PARAM_RSA_N,
                                        OSSL_PKEY_PARAM_RSA_E};

    return p11be_keymgmt_public_bn(key, sess, obj, types, names, 2, extra,
                                   "the RSA key's CKA_MODULUS and "
                                   "CKA_PUBLIC_EXPONENT");
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

static const OSSL_PARAM rsa_key_types_table[] = {RSA_KEY_TYPES, OSSL_PARAM_END};
static const OSSL_PARAM rsa_pss_key_types_table[] = {
    RSA_KEY_TYPES, RSA_PSS_PARAM_TYPES, OSSL_PARAM_END};
static const OSSL_PARAM rsa_gettable[] = {
    P11BE_KEYMGMT_GETTABLE_COMMON,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
    RSA_KEY_TYPES,
    OSSL_PARAM_END,
};

P11BE_KEY_TYPES_FN(rsa_key_types, rsa_key_types_table,
                   OSSL_KEYMGMT_SELECT_KEYPAIR)
P11BE_KEY_TYPES_FN(rsa_pss_key_types, rsa_pss_key_types_table,
                   OSSL_KEYMGMT_SELECT_KEYPAIR)
P11BE_KEYMGMT_GETTABLE_FN(rsa_gettable_params, rsa_gettable)

static const char *rsa_query_operation_name(int operation_id)
{
    (void)operation_id;
    return "RSA";
}

/* ---- generation on the token -------------------------------------------- */

/*
 * Keeps the RSA-PSS restrictions given (merged over earlier ones) for the
 * host copy; the default provider checks them when the key is made.
 */
static int rsa_gen_keep_pss(P11BE_GEN_CTX *gctx, const OSSL_PARAM params[])
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
    merged = OSSL_PARAM_merge(gctx->extra, kept); /* the new ones win */
    if (merged == NULL)
        return 0;
    /* OSSL_PARAM_merge() points into its inputs: make it self-contained. */
    p = merged;
    merged = OSSL_PARAM_dup(p);
    OSSL_PARAM_free((OSSL_PARAM *)p);
    OSSL_PARAM_free(gctx->extra);
    gctx->extra = merged;
    return merged != NULL;
}

/* Also at gen_init (params NULL): the defaults, 2048 bits, e = 65537. */
static int rsa_gen_set_params(P11BE_GEN_CTX *gctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    size_t primes = 2;

    if (gctx->e == NULL) {
        gctx->bits = RSA_DEFAULT_BITS;
        if ((gctx->e = BN_new()) == NULL || !BN_set_word(gctx->e, 65537))
            return 0;
    }

    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS);
    if (p != NULL && !OSSL_PARAM_get_size_t(p, &gctx->bits))
        goto out_bad;
    /* Refused when set, as the default provider does. */
    if (p != NULL && gctx->bits < RSA_MIN_BITS) {
        p11be_raise(gctx->prov->handle, P11BE_R_KEY_SIZE_TOO_SMALL,
                    "RSA keys of %zu bits (at least %d)", gctx->bits,
                    RSA_MIN_BITS);
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
    p = OSSL_PARAM_locate_const(params, RSA_GEN_PARAM_FIND);
    if (p != NULL && !OSSL_PARAM_get_int(p, &gctx->existing))
        goto out_bad;
    return gctx->km->kind != &p11be_kind_rsa_pss
           || rsa_gen_keep_pss(gctx, params);

out_bad:
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "RSA key generation: bad \"%s\" parameter", p->key);
    return 0;
}

/* pkcs11-key-existing (the pair is found: 2), and the exponent's check. */
static int rsa_gen_prepare(P11BE_GEN_CTX *gctx, P11BE_KEY *key)
{
    if (gctx->existing)
        return p11be_key_find(key, gctx->label, gctx->id, gctx->id_len)
                       && p11be_key_load_public(key, NULL, gctx->extra)
                   ? 2
                   : 0;
    /* As the default provider (which then fails with its own reason). */
    if (!BN_is_odd(gctx->e) || BN_is_one(gctx->e)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "pub exponent out of range: an RSA public exponent is "
                    "odd and greater than 1");
        return 0;
    }
    return 1;
}

/* A modulus size the token's CKM_RSA_PKCS_KEY_PAIR_GEN makes, and e. */
static int rsa_gen_template(P11BE_GEN_CTX *gctx, P11BE_ATTRS *pub)
{
    CK_MECHANISM_INFO info;
    unsigned char e[16];
    int e_len = BN_num_bytes(gctx->e);

    if ((size_t)e_len > sizeof(e)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "an RSA public exponent of %d bytes: pkcs11be gives a "
                    "token at most %zu",
                    e_len, sizeof(e));
        return 0;
    }
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
    BN_bn2bin(gctx->e, e);
    p11be_attrs_add_ulong(pub, CKA_MODULUS_BITS, gctx->bits);
    p11be_attrs_add(pub, CKA_PUBLIC_EXPONENT, e, e_len);
    return 1;
}

int p11be_rsa_token_fit(P11BE_TOKEN_CTX *tc, const char *group, size_t bits,
                        char *why, size_t why_len)
{
    static const CK_MECHANISM_TYPE mechs[] = {CKM_RSA_PKCS, CKM_RSA_X_509};
    static const char *const names[] = {"CKM_RSA_PKCS", "CKM_RSA_X_509"};

    (void)group;
    return tc == NULL
           || p11be_keymgmt_mech_fit(tc, mechs, names, 2, bits, "RSA keys", why,
                                     why_len);
}

/* Size, exponent and PSS restrictions for the default provider. */
static int rsa_gen_host_params(const P11BE_GEN_CTX *gctx, EVP_PKEY_CTX *ctx)
{
    size_t bits = gctx->bits;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(ctx, params) == 1
           && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, gctx->e) == 1
           && (gctx->extra == NULL
               || EVP_PKEY_CTX_set_params(ctx, gctx->extra) == 1);
}

#define RSA_KEYMGMT_KIND(kind_row)                                             \
    {                                                                          \
        .kind = kind_row, .gen_mech = CKM_RSA_PKCS_KEY_PAIR_GEN,               \
        .gen_mech_name = "CKM_RSA_PKCS_KEY_PAIR_GEN",                          \
        .gen_use = P11BE_GEN_VERIFY | P11BE_GEN_ENCRYPT | P11BE_GEN_SIGN       \
                   | P11BE_GEN_DECRYPT,                                        \
        .gen_set_params = rsa_gen_set_params, .gen_prepare = rsa_gen_prepare,  \
        .gen_template = rsa_gen_template,                                      \
        .gen_host_params = rsa_gen_host_params,                                \
        .token_fit = p11be_rsa_token_fit,                                      \
    }

static const struct p11be_keymgmt_kind rsa_keymgmt =
    RSA_KEYMGMT_KIND(&p11be_kind_rsa);
static const struct p11be_keymgmt_kind rsa_pss_keymgmt =
    RSA_KEYMGMT_KIND(&p11be_kind_rsa_pss);

#define RSA_GEN_SETTABLE                                                       \
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),                         \
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),                   \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0), P11BE_KEYGEN_SETTABLE,  \
        OSSL_PARAM_int(RSA_GEN_PARAM_FIND, NULL)

static const OSSL_PARAM rsa_gen_settable[] = {
    RSA_GEN_SETTABLE,
    OSSL_PARAM_END,
};

static const OSSL_PARAM rsa_pss_gen_settable[] = {
    RSA_GEN_SETTABLE,
    RSA_PSS_PARAM_TYPES,
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(rsa_gen_settable_params, rsa_gen_settable)
P11BE_PARAMS_TABLE_FN(rsa_pss_gen_settable_params, rsa_pss_gen_settable)

P11BE_KEYMGMT_KIND_FNS(rsa_new, rsa_load, rsa_gen_init, rsa_keymgmt)
P11BE_KEYMGMT_KIND_FNS(rsa_pss_new, rsa_pss_load, rsa_pss_gen_init,
                       rsa_pss_keymgmt)

const OSSL_DISPATCH p11be_keymgmt_rsa_functions[] = {
    P11BE_KEYMGMT_FUNCTIONS(rsa_new, rsa_load, rsa_gen_init,
                            p11be_keymgmt_import, rsa_key_types,
                            rsa_gettable_params, rsa_gen_settable_params),
    P11BE_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_query_operation_name),
    {0, NULL},
};

const OSSL_DISPATCH p11be_keymgmt_rsa_pss_functions[] = {
    P11BE_KEYMGMT_FUNCTIONS(rsa_pss_new, rsa_pss_load, rsa_pss_gen_init,
                            p11be_keymgmt_import, rsa_pss_key_types,
                            rsa_gettable_params, rsa_pss_gen_settable_params),
    P11BE_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_query_operation_name),
    {0, NULL},
};
