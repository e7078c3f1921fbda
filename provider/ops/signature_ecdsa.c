/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signature "ECDSA", with the private-key operation on the token.
 *
 * Parameters go to a context of OpenSSL's default provider on the key's
 * host copy (keyobj.h), so digest and digest-size are checked and
 * reported, and the algorithm-id built, exactly as OpenSSL does.
 *
 * Signing: the digest (hashed on the host for EVP_DigestSign*, by the
 * default provider in the fallback library context) is signed by C_Sign
 * with CKM_ECDSA, which returns r||s, each as long as the group order;
 * that becomes the DER ECDSA-Sig-Value OpenSSL writes. One C_SignInit +
 * C_Sign per signature, and no session held between update and final.
 *
 * Verification is a public-key operation: it runs on the host copy, as
 * does everything in a context made while the thread is inside a token
 * call (re-entry, see reentry.h).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "keyop.h"
#include "provider.h"
#include "reentry.h"

/* r||s of the largest curve offered (P-521: 2 x 66 bytes). */
#define ECDSA_RAW_MAX 132

static OSSL_FUNC_signature_newctx_fn ecdsa_newctx;
static OSSL_FUNC_signature_freectx_fn ecdsa_freectx;
static OSSL_FUNC_signature_dupctx_fn ecdsa_dupctx;
static OSSL_FUNC_signature_sign_init_fn ecdsa_sign_init;
static OSSL_FUNC_signature_sign_fn ecdsa_sign;
static OSSL_FUNC_signature_verify_init_fn ecdsa_verify_init;
static OSSL_FUNC_signature_verify_fn ecdsa_verify;
static OSSL_FUNC_signature_digest_sign_init_fn ecdsa_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn ecdsa_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn ecdsa_digest_sign_final;
static OSSL_FUNC_signature_digest_verify_init_fn ecdsa_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn ecdsa_digest_verify_final;
static OSSL_FUNC_signature_get_ctx_params_fn ecdsa_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn ecdsa_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn ecdsa_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn ecdsa_settable_ctx_params;
static OSSL_FUNC_signature_get_ctx_md_params_fn ecdsa_get_ctx_md_params;
static OSSL_FUNC_signature_gettable_ctx_md_params_fn
    ecdsa_gettable_ctx_md_params;
static OSSL_FUNC_signature_set_ctx_md_params_fn ecdsa_set_ctx_md_params;
static OSSL_FUNC_signature_settable_ctx_md_params_fn
    ecdsa_settable_ctx_md_params;

struct ecdsa_ctx_st {
    P11BE_KEYOP op;    /* the key and its host context: see top */
    EVP_MD_CTX *mdctx; /* DigestSign/DigestVerify: the host's hash */
};

typedef struct ecdsa_ctx_st ECDSA_CTX;

static void *ecdsa_newctx(void *provctx, const char *propq)
{
    ECDSA_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    (void)propq; /* digests come from the default provider: see top */
    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, "ECDSA signature");
    return ctx;
}

static void ecdsa_freectx(void *vctx)
{
    ECDSA_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->mdctx);
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *ecdsa_dupctx(void *vctx)
{
    ECDSA_CTX *src = vctx;
    ECDSA_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    if (!p11be_keyop_dup(&dst->op, &src->op)
        || (src->mdctx != NULL
            && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
                || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))) {
        ecdsa_freectx(dst);
        return NULL;
    }
    return dst;
}

/* Takes the key (NULL: keep the one set before), params applied. */
static int ecdsa_init(ECDSA_CTX *ctx, void *provkey, const OSSL_PARAM params[],
                      int operation)
{
    int sign = operation == EVP_PKEY_OP_SIGN, ok;

    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    if (!p11be_keyop_init(&ctx->op, provkey, operation, sign))
        return 0;
    if (!EVP_PKEY_is_a(ctx->op.key->host, "EC")) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA needs an EC key, not %s", ctx->op.key->kind->name);
        return 0;
    }
    /* Signing on the token: the host context only holds the params. */
    ok = sign ? EVP_PKEY_sign_init(ctx->op.host)
              : EVP_PKEY_verify_init(ctx->op.host);
    if (ok <= 0 || !p11be_keyop_set_params(&ctx->op, params))
        return 0;
    if (sign && !ctx->op.on_host)
        return p11be_check_mech(&ctx->op.prov->tc, CKM_ECDSA, "CKM_ECDSA");
    return 1;
}

static int ecdsa_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return ecdsa_init(vctx, provkey, params, EVP_PKEY_OP_SIGN);
}

static int ecdsa_verify_init(void *vctx, void *provkey,
                             const OSSL_PARAM params[])
{
    return ecdsa_init(vctx, provkey, params, EVP_PKEY_OP_VERIFY);
}

/*
 * One DER INTEGER holding the unsigned big-endian number in[0..len) (len
 * >= 1): written to out unless out is NULL; returns its size. Lengths stay
 * below 128 for every curve pkcs11be offers (P-521: 66 bytes + a pad).
 */
static size_t ecdsa_der_uint(const unsigned char *in, size_t len,
                             unsigned char *out)
{
    size_t pad;

    while (len > 1 && in[0] == 0) {
        in++;
        len--;
    }
    pad = (in[0] & 0x80) != 0;
    if (out != NULL) {
        out[0] = 0x02;
        out[1] = (unsigned char)(len + pad);
        out[2] = 0;
        memcpy(out + 2 + pad, in, len);
    }
    return 2 + pad + len;
}

/*
 * r||s (half bytes each) as the DER SEQUENCE OpenSSL writes, into sig
 * (room sigsize). Written directly: through ECDSA_SIG and i2d it cost
 * ~2% of a P-256 signature on SoftHSM2.
 */
static int ecdsa_raw_to_der(ECDSA_CTX *ctx, const unsigned char *raw,
                            size_t half, unsigned char *sig, size_t *siglen,
                            size_t sigsize)
{
    size_t r_len = ecdsa_der_uint(raw, half, NULL);
    size_t s_len = ecdsa_der_uint(raw + half, half, NULL);
    size_t body = r_len + s_len;
    size_t head = body < 0x80 ? 2 : 3;

    if (head + body > sigsize) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an ECDSA signature needs %zu bytes, got %zu", head + body,
                    sigsize);
        return 0;
    }
    sig[0] = 0x30;
    if (head == 2) {
        sig[1] = (unsigned char)body;
    } else {
        sig[1] = 0x81;
        sig[2] = (unsigned char)body;
    }
    ecdsa_der_uint(raw, half, sig + head);
    ecdsa_der_uint(raw + half, half, sig + head + r_len);
    *siglen = head + body;
    return 1;
}

/* The private-key operation over tbs (a digest when one is set). */
static int ecdsa_sign_digest(ECDSA_CTX *ctx, unsigned char *sig, size_t *siglen,
                             size_t sigsize, const unsigned char *tbs,
                             size_t tbs_len)
{
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    size_t max = EVP_PKEY_get_size(ctx->op.key->host);
    size_t half = (EVP_PKEY_get_bits(ctx->op.key->host) + 7) / 8;
    unsigned char raw[ECDSA_RAW_MAX];
    size_t raw_len = sizeof(raw);
    size_t md_size = 0;
    OSSL_PARAM get[2];

    if (ctx->op.on_host) {
        *siglen = sigsize;
        return EVP_PKEY_sign(ctx->op.host, sig, siglen, tbs, tbs_len) > 0;
    }
    if (sig == NULL) {
        *siglen = max;
        return 1;
    }
    if (sigsize < max) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an ECDSA signature needs up to %zu bytes, got %zu", max,
                    sigsize);
        return 0;
    }
    if (2 * half > sizeof(raw)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA: the curve is too large");
        return 0;
    }
    /* As OpenSSL: with a digest set, the input must be that digest. */
    get[0] =
        OSSL_PARAM_construct_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, &md_size);
    get[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(ctx->op.host, get) > 0 && md_size != 0
        && tbs_len != md_size) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA signature: the input must be the %zu-byte digest, "
                    "got %zu bytes",
                    md_size, tbs_len);
        return 0;
    }
    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_SIGN, &mech, "CKM_ECDSA",
                              tbs, tbs_len, raw, &raw_len, NULL))
        return 0;
    if (raw_len != 2 * half) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_Sign (CKM_ECDSA) returned %zu bytes, not %zu", raw_len,
                    2 * half);
        return 0;
    }
    return ecdsa_raw_to_der(ctx, raw, half, sig, siglen, sigsize);
}

static int ecdsa_sign(void *vctx, unsigned char *sig, size_t *siglen,
                      size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
    ECDSA_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
        return 0;
    return ecdsa_sign_digest(ctx, sig, siglen, sigsize, tbs, tbslen);
}

static int ecdsa_verify(void *vctx, const unsigned char *sig, size_t siglen,
                        const unsigned char *tbs, size_t tbslen)
{
    ECDSA_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFY))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, tbs, tbslen);
}

/* Init, then the digest (OpenSSL's order), hashed on the host. */
static int ecdsa_digest_init(ECDSA_CTX *ctx, const char *mdname, void *provkey,
                             const OSSL_PARAM params[], int operation)
{
    OSSL_PARAM set[2];
    EVP_MD *md;
    int ok;

    if (!ecdsa_init(ctx, provkey, params, operation))
        return 0;
    if (mdname == NULL)
        mdname = "SHA256"; /* the EC keymgmt's default-digest */
    set[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                              (char *)mdname, 0);
    set[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_set_params(ctx->op.host, set) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA signature: digest %s refused", mdname);
        return 0;
    }
    md = EVP_MD_fetch(p11be_fallback_libctx(), mdname, NULL);
    ctx->mdctx = EVP_MD_CTX_new();
    ok = md != NULL && ctx->mdctx != NULL
         && EVP_DigestInit_ex2(ctx->mdctx, md, NULL);
    EVP_MD_free(md);
    if (!ok)
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA signature: cannot hash with %s", mdname);
    return ok;
}

static int ecdsa_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                                  const OSSL_PARAM params[])
{
    return ecdsa_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_SIGN);
}

static int ecdsa_digest_verify_init(void *vctx, const char *mdname,
                                    void *provkey, const OSSL_PARAM params[])
{
    return ecdsa_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_VERIFY);
}

static int ecdsa_digest_update(void *vctx, const unsigned char *data,
                               size_t datalen)
{
    ECDSA_CTX *ctx = vctx;

    if (ctx->mdctx == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "ECDSA digest update without digest init");
        return 0;
    }
    return EVP_DigestUpdate(ctx->mdctx, data, datalen);
}

/* Finishes the host's hash into dgst; 0 (raised) out of order. */
static int ecdsa_digest_final(ECDSA_CTX *ctx, unsigned char *dgst,
                              unsigned int *dgst_len)
{
    if (ctx->mdctx == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "ECDSA digest final without digest init");
        return 0;
    }
    return EVP_DigestFinal_ex(ctx->mdctx, dgst, dgst_len);
}

static int ecdsa_digest_sign_final(void *vctx, unsigned char *sig,
                                   size_t *siglen, size_t sigsize)
{
    ECDSA_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;

    /* A size query leaves the hash running. */
    if (sig == NULL) {
        if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
            return 0;
        *siglen = EVP_PKEY_get_size(ctx->op.key->host);
        return 1;
    }
    if (!ecdsa_digest_final(ctx, dgst, &dgst_len))
        return 0;
    return ecdsa_sign_digest(ctx, sig, siglen, sigsize, dgst, dgst_len);
}

static int ecdsa_digest_verify_final(void *vctx, const unsigned char *sig,
                                     size_t siglen)
{
    ECDSA_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;

    if (!ecdsa_digest_final(ctx, dgst, &dgst_len))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, dgst, dgst_len);
}

static const OSSL_PARAM *ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

/* Whatever OpenSSL's own ECDSA reports, algorithm-id included. */
static int ecdsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    ECDSA_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

static const OSSL_PARAM *ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

/* After init (OpenSSL allows nothing else); NULL or empty: nothing to do. */
static int ecdsa_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ECDSA_CTX *ctx = vctx;

    return p11be_keyop_set_params(&ctx->op, params);
}

static const OSSL_PARAM *ecdsa_gettable_ctx_md_params(void *vctx)
{
    ECDSA_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || EVP_MD_CTX_get0_md(ctx->mdctx) == NULL)
        return NULL;
    return EVP_MD_gettable_ctx_params(EVP_MD_CTX_get0_md(ctx->mdctx));
}

static int ecdsa_get_ctx_md_params(void *vctx, OSSL_PARAM params[])
{
    ECDSA_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_get_params(ctx->mdctx, params);
}

static const OSSL_PARAM *ecdsa_settable_ctx_md_params(void *vctx)
{
    ECDSA_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || EVP_MD_CTX_get0_md(ctx->mdctx) == NULL)
        return NULL;
    return EVP_MD_settable_ctx_params(EVP_MD_CTX_get0_md(ctx->mdctx));
}

static int ecdsa_set_ctx_md_params(void *vctx, const OSSL_PARAM params[])
{
    ECDSA_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_set_params(ctx->mdctx, params);
}

const OSSL_DISPATCH p11be_signature_ecdsa_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ecdsa_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ecdsa_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))ecdsa_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))ecdsa_sign},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ecdsa_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ecdsa_verify},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))ecdsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
     (void (*)(void))ecdsa_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
     (void (*)(void))ecdsa_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
     (void (*)(void))ecdsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
     (void (*)(void))ecdsa_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
     (void (*)(void))ecdsa_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ecdsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))ecdsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ecdsa_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))ecdsa_settable_ctx_params},
    {OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS,
     (void (*)(void))ecdsa_get_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
     (void (*)(void))ecdsa_gettable_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS,
     (void (*)(void))ecdsa_set_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS,
     (void (*)(void))ecdsa_settable_ctx_md_params},
    {0, NULL},
};
