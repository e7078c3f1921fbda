/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyexch "ECDH" with the private key on the token.
 *
 * Parameters go to a context of OpenSSL's default provider on the key's
 * host copy (keyobj.h), which also takes the peer key, so that the peer
 * is checked (same curve, point on it) as OpenSSL does.
 *
 * Deriving: C_DeriveKey with CKM_ECDH1_DERIVE (no KDF, the peer's
 * uncompressed point) makes a session CKO_SECRET_KEY that is extractable
 * and not sensitive, since OpenSSL's API hands the shared secret to the
 * caller; C_GetAttributeValue reads CKA_VALUE, and C_DestroyObject removes
 * the object at once, on the session it was made on. The secret is as
 * long as the field (the x coordinate), as with OpenSSL, and is truncated
 * to a shorter buffer as OpenSSL does. With kdf-type X963KDF (CMS uses
 * it), the token's secret goes through X9.63 KDF on the host, with
 * kdf-digest, kdf-ukm and kdf-outlen, as OpenSSL's ECDH does.
 *
 * Cofactor mode changes nothing on the curves offered (cofactor 1).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "err.h"
#include "keyop.h"
#include "names.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"
#include "session.h"

/* The largest point (P-521 uncompressed) and x coordinate offered. */
#define ECDH_POINT_MAX  133
#define ECDH_SECRET_MAX 66

static OSSL_FUNC_keyexch_newctx_fn ecdh_newctx;
static OSSL_FUNC_keyexch_init_fn ecdh_init;
static OSSL_FUNC_keyexch_set_peer_fn ecdh_set_peer;
static OSSL_FUNC_keyexch_derive_fn ecdh_derive;
static OSSL_FUNC_keyexch_freectx_fn ecdh_freectx;
static OSSL_FUNC_keyexch_dupctx_fn ecdh_dupctx;
static OSSL_FUNC_keyexch_set_ctx_params_fn ecdh_set_ctx_params;
static OSSL_FUNC_keyexch_settable_ctx_params_fn ecdh_settable_ctx_params;
static OSSL_FUNC_keyexch_get_ctx_params_fn ecdh_get_ctx_params;
static OSSL_FUNC_keyexch_gettable_ctx_params_fn ecdh_gettable_ctx_params;

struct ecdh_ctx_st {
    P11BE_KEYOP op;  /* the key and its host context: see top */
    P11BE_KEY *peer; /* a reference; NULL until set_peer */
    /* The peer's encoded point, read once at set_peer (it costs ~4% of a
     * derive on SoftHSM2 when encoded again each time). */
    unsigned char point[ECDH_POINT_MAX];
    size_t point_len; /* bytes in point; 0 until set_peer */
};

typedef struct ecdh_ctx_st ECDH_CTX;

static void *ecdh_newctx(void *provctx)
{
    ECDH_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, "ECDH");
    return ctx;
}

static void ecdh_freectx(void *vctx)
{
    ECDH_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11be_key_free(ctx->peer);
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *ecdh_dupctx(void *vctx)
{
    ECDH_CTX *src = vctx;
    ECDH_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    if (!p11be_keyop_dup(&dst->op, &src->op)) {
        ecdh_freectx(dst);
        return NULL;
    }
    if (src->peer != NULL && p11be_key_up_ref(src->peer))
        dst->peer = src->peer;
    memcpy(dst->point, src->point, src->point_len);
    dst->point_len = src->point_len;
    return dst;
}

static int ecdh_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;

    p11be_key_free(ctx->peer);
    ctx->peer = NULL;
    if (!p11be_keyop_init(&ctx->op, provkey, EVP_PKEY_OP_DERIVE, 1))
        return 0;
    if (!EVP_PKEY_is_a(ctx->op.key->host, "EC")) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH needs an EC key, not %s", ctx->op.key->kind->name);
        return 0;
    }
    if (EVP_PKEY_derive_init(ctx->op.host) <= 0
        || !p11be_keyop_set_params(&ctx->op, params))
        return 0;
    if (!ctx->op.on_host)
        return p11be_check_mech(&ctx->op.prov->tc, CKM_ECDH1_DERIVE,
                                "CKM_ECDH1_DERIVE");
    return 1;
}

/* The peer must be on our curve; the host context checks its point. */
static int ecdh_set_peer(void *vctx, void *provkey)
{
    ECDH_CTX *ctx = vctx;
    P11BE_KEY *peer = provkey;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_DERIVE))
        return 0;
    if (peer == NULL || peer->host == NULL
        || EVP_PKEY_parameters_eq(ctx->op.key->host, peer->host) != 1) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: the peer key is not on the same curve as ours");
        return 0;
    }
    if (EVP_PKEY_derive_set_peer(ctx->op.host, peer->host) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: OpenSSL's default provider refuses the peer key");
        return 0;
    }
    if (!EVP_PKEY_get_octet_string_param(
            peer->host, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ctx->point,
            sizeof(ctx->point), &ctx->point_len)) {
        ctx->point_len = 0;
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: cannot read the peer's public point");
        return 0;
    }
    p11be_key_up_ref(peer);
    p11be_key_free(ctx->peer);
    ctx->peer = peer;
    return 1;
}

/* The KDF settings of the host context (kdf-type "" when none). */
struct ecdh_kdf {
    char type[32];   /* kdf-type: "" or "X963KDF" */
    char digest[64]; /* kdf-digest */
    size_t outlen;   /* kdf-outlen */
    const void *ukm; /* kdf-ukm, owned by the host context */
    size_t ukm_len;  /* bytes in ukm */
};

/* Reads them; refuses a KDF other than X9.63 (the only one OpenSSL has). */
static int ecdh_read_kdf(ECDH_CTX *ctx, struct ecdh_kdf *kdf)
{
    OSSL_PARAM get[5];

    memset(kdf, 0, sizeof(*kdf));
    get[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                              kdf->type, sizeof(kdf->type));
    get[1] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST,
                                              kdf->digest, sizeof(kdf->digest));
    get[2] = OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN,
                                         &kdf->outlen);
    get[3] = OSSL_PARAM_construct_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM,
                                            (void **)&kdf->ukm, 0);
    get[4] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(ctx->op.host, get) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "ECDH: cannot read the KDF settings");
        return 0;
    }
    kdf->ukm_len = get[3].return_size;
    if (kdf->type[0] != '\0' && strcmp(kdf->type, OSSL_KDF_NAME_X963KDF) != 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH with kdf-type %s is not offered by pkcs11be",
                    kdf->type);
        return 0;
    }
    if (kdf->type[0] != '\0' && (kdf->digest[0] == '\0' || kdf->outlen == 0)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH with %s needs kdf-digest and kdf-outlen", kdf->type);
        return 0;
    }
    return 1;
}

/* X9.63 KDF over the shared secret z, on the host (as OpenSSL's ECDH). */
static int ecdh_x963(ECDH_CTX *ctx, const struct ecdh_kdf *kdf,
                     const unsigned char *z, size_t z_len, unsigned char *out)
{
    EVP_KDF *alg =
        EVP_KDF_fetch(p11be_fallback_libctx(), OSSL_KDF_NAME_X963KDF, NULL);
    EVP_KDF_CTX *kctx = alg != NULL ? EVP_KDF_CTX_new(alg) : NULL;
    OSSL_PARAM params[4], *p = params;
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)kdf->digest, 0);
    *p++ =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
    if (kdf->ukm != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, (void *)kdf->ukm, kdf->ukm_len);
    *p = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, kdf->outlen, params) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(alg);
    if (!ok)
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: %s with %s failed", kdf->type, kdf->digest);
    return ok;
}

/*
 * C_DeriveKey, C_GetAttributeValue of CKA_VALUE (len bytes into out) and
 * C_DestroyObject on one session; the last CK_RV, in *rv_out.
 */
static void ecdh_token_once(ECDH_CTX *ctx, P11BE_SESSION *sess,
                            CK_OBJECT_HANDLE priv, CK_MECHANISM *mech,
                            unsigned char *out, CK_ULONG *len, CK_RV *rv_out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG value_len = *len;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        /* Only read, then destroyed: usable for nothing else meanwhile. */
        {CKA_SIGN, &no, sizeof(no)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
    };
    CK_ATTRIBUTE value = {CKA_VALUE, out, *len};
    CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
    CK_RV rv, drv;

    (void)ctx;
    rv = P11BE_CALL(sess->fns, C_DeriveKey, sess->handle, mech, priv, tmpl,
                    sizeof(tmpl) / sizeof(tmpl[0]), &secret);
    if (rv != CKR_OK) {
        *rv_out = rv;
        return;
    }
    rv = P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, secret,
                    &value, 1);
    *len = value.ulValueLen;
    drv = P11BE_CALL(sess->fns, C_DestroyObject, sess->handle, secret);
    *rv_out = rv != CKR_OK ? rv : drv;
}

static int ecdh_derive(void *vctx, unsigned char *secret, size_t *secretlen,
                       size_t outlen)
{
    ECDH_CTX *ctx = vctx;
    CK_ECDH1_DERIVE_PARAMS params = {CKD_NULL, 0, NULL, 0, NULL};
    CK_MECHANISM mech = {CKM_ECDH1_DERIVE, &params, sizeof(params)};
    unsigned char z[ECDH_SECRET_MAX];
    size_t size;
    struct ecdh_kdf kdf;
    CK_ULONG len = 0;
    CK_OBJECT_HANDLE priv;
    CK_RV rv = CKR_OK;
    int attempt, ok = 0;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_DERIVE))
        return 0;
    if (ctx->peer == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "ECDH: derive without a peer key");
        return 0;
    }
    if (ctx->op.on_host) {
        *secretlen = outlen;
        return EVP_PKEY_derive(ctx->op.host, secret, secretlen) > 0;
    }
    if (!ecdh_read_kdf(ctx, &kdf))
        return 0;
    size = (EVP_PKEY_get_bits(ctx->op.key->host) + 7) / 8;
    if (secret == NULL) {
        *secretlen = kdf.type[0] != '\0' ? kdf.outlen : size;
        return 1;
    }
    if (kdf.type[0] != '\0' && outlen < kdf.outlen) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "ECDH with %s: the secret needs %zu bytes, got %zu",
                    kdf.type, kdf.outlen, outlen);
        return 0;
    }
    if (size > sizeof(z) || ctx->point_len == 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: cannot read the peer's public point");
        return 0;
    }
    params.ulPublicDataLen = ctx->point_len;
    params.pPublicData = ctx->point;
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = p11be_key_session(ctx->op.key, P11BE_USE_DERIVE,
                                                CKM_ECDH1_DERIVE, &priv);

        if (sess == NULL)
            goto out_wipe;
        len = size;
        ecdh_token_once(ctx, sess, priv, &mech, z, &len, &rv);
        p11be_object_use_end(&ctx->op.prov->tc);
        if (!p11be_key_session_done(ctx->op.key, sess, priv, rv))
            break;
    }
    if (rv != CKR_OK) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DeriveKey (CKM_ECDH1_DERIVE): %s", p11be_ckr_name(rv));
        goto out_wipe;
    }
    if (len > size) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DeriveKey (CKM_ECDH1_DERIVE) gave %lu bytes, not %zu",
                    (unsigned long)len, size);
        goto out_wipe;
    }
    /* Left-pad a secret the token shortened. */
    memmove(z + (size - len), z, len);
    memset(z, 0, size - len);
    if (kdf.type[0] != '\0') {
        ok = ecdh_x963(ctx, &kdf, z, size, secret);
        if (ok)
            *secretlen = kdf.outlen;
        goto out_wipe;
    }
    /* Without a KDF, truncated to a shorter buffer as OpenSSL does. */
    *secretlen = outlen < size ? outlen : size;
    memcpy(secret, z, *secretlen);
    ok = 1;
out_wipe:
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

static const OSSL_PARAM *ecdh_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
        OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

/* After init; NULL or empty: nothing to do. */
static int ecdh_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;

    return p11be_keyop_set_params(&ctx->op, params);
}

static const OSSL_PARAM *ecdh_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
        OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static int ecdh_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

static const OSSL_DISPATCH p11be_keyexch_ecdh_functions[] = {
    {OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))ecdh_newctx},
    {OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))ecdh_init},
    {OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))ecdh_set_peer},
    {OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))ecdh_derive},
    {OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))ecdh_freectx},
    {OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))ecdh_dupctx},
    {OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, (void (*)(void))ecdh_set_ctx_params},
    {OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS,
     (void (*)(void))ecdh_settable_ctx_params},
    {OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, (void (*)(void))ecdh_get_ctx_params},
    {OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS,
     (void (*)(void))ecdh_gettable_ctx_params},
    {0, NULL},
};

const OSSL_ALGORITHM p11be_keyexch_algorithms[] = {
    {P11BE_NAMES_ECDH, P11BE_PROPS, p11be_keyexch_ecdh_functions,
     "ECDH with the key on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
