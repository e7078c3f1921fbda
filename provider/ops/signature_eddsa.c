/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signature "ED25519" and "ED448": pure EdDSA (RFC 8032), one-shot as
 * OpenSSL requires (EVP_DigestSign / EVP_DigestVerify, no digest).
 *
 * Signing is C_SignInit + C_Sign with CKM_EDDSA (no parameters: pure
 * Ed25519, and Ed448 with an empty context) over the whole message, on
 * the token. Verification is a public-key operation, done on the key's
 * host copy by OpenSSL's default provider, as is everything in a context
 * made while the thread is inside a token call (reentry.h).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "keyop.h"
#include "provider.h"
#include "reentry.h"

static OSSL_FUNC_signature_newctx_fn ed25519_newctx;
static OSSL_FUNC_signature_newctx_fn ed448_newctx;
static OSSL_FUNC_signature_freectx_fn eddsa_freectx;
static OSSL_FUNC_signature_dupctx_fn eddsa_dupctx;
static OSSL_FUNC_signature_digest_sign_init_fn eddsa_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_fn eddsa_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn eddsa_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_fn eddsa_digest_verify;
static OSSL_FUNC_signature_get_ctx_params_fn eddsa_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn eddsa_gettable_ctx_params;

struct eddsa_ctx_st {
    P11BE_KEYOP op;   /* the key (its host context is unused) */
    const char *type; /* "ED25519" or "ED448": the key type asked for */
    size_t sig_len;   /* 64 or 114 */
};

typedef struct eddsa_ctx_st EDDSA_CTX;

static void *eddsa_newctx(void *provctx, const char *type, size_t sig_len)
{
    EDDSA_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, type);
    ctx->type = type;
    ctx->sig_len = sig_len;
    return ctx;
}

static void *ed25519_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return eddsa_newctx(provctx, "ED25519", 64);
}

static void *ed448_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return eddsa_newctx(provctx, "ED448", 114);
}

static void eddsa_freectx(void *vctx)
{
    EDDSA_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *eddsa_dupctx(void *vctx)
{
    EDDSA_CTX *src = vctx;
    EDDSA_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->type = src->type;
    dst->sig_len = src->sig_len;
    if (!p11be_keyop_dup(&dst->op, &src->op)) {
        eddsa_freectx(dst);
        return NULL;
    }
    return dst;
}

/* No digest may be named (EdDSA hashes inside); the key must match. */
static int eddsa_init(EDDSA_CTX *ctx, const char *mdname, void *provkey,
                      int operation)
{
    int sign = operation == EVP_PKEY_OP_SIGN;

    if (mdname != NULL && mdname[0] != '\0') {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s takes no digest (got %s)", ctx->type, mdname);
        return 0;
    }
    if (!p11be_keyop_init(&ctx->op, provkey, operation, sign))
        return 0;
    if (!EVP_PKEY_is_a(ctx->op.key->host, ctx->type)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s needs an %s key, not %s", ctx->type, ctx->type,
                    ctx->op.key->kind->name);
        return 0;
    }
    if (sign && !ctx->op.on_host)
        return p11be_check_mech(&ctx->op.prov->tc, CKM_EDDSA, "CKM_EDDSA");
    return 1;
}

static int eddsa_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                                  const OSSL_PARAM params[])
{
    (void)params;
    return eddsa_init(vctx, mdname, provkey, EVP_PKEY_OP_SIGN);
}

static int eddsa_digest_verify_init(void *vctx, const char *mdname,
                                    void *provkey, const OSSL_PARAM params[])
{
    (void)params;
    return eddsa_init(vctx, mdname, provkey, EVP_PKEY_OP_VERIFY);
}

/* A one-shot sign or verify on the host copy (fallback library context). */
static int eddsa_host(EDDSA_CTX *ctx, unsigned char *sig, size_t *siglen,
                      const unsigned char *tbs, size_t tbslen, int sign)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    if (sign)
        ok = mctx != NULL
             && EVP_DigestSignInit_ex(mctx, NULL, NULL, p11be_fallback_libctx(),
                                      NULL, ctx->op.key->host, NULL)
                    == 1
             && EVP_DigestSign(mctx, sig, siglen, tbs, tbslen) == 1;
    else
        ok = mctx != NULL
             && EVP_DigestVerifyInit_ex(mctx, NULL, NULL,
                                        p11be_fallback_libctx(), NULL,
                                        ctx->op.key->host, NULL)
                    == 1
             && EVP_DigestVerify(mctx, sig, *siglen, tbs, tbslen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

static int eddsa_digest_sign(void *vctx, unsigned char *sig, size_t *siglen,
                             size_t sigsize, const unsigned char *tbs,
                             size_t tbslen)
{
    static const unsigned char empty[1];
    EDDSA_CTX *ctx = vctx;
    CK_MECHANISM mech = {CKM_EDDSA, NULL, 0};
    size_t len = sigsize;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
        return 0;
    if (sig == NULL) {
        *siglen = ctx->sig_len;
        return 1;
    }
    if (sigsize < ctx->sig_len) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an %s signature needs %zu bytes, got %zu", ctx->type,
                    ctx->sig_len, sigsize);
        return 0;
    }
    if (ctx->op.on_host) {
        *siglen = sigsize;
        return eddsa_host(ctx, sig, siglen, tbs, tbslen, 1);
    }
    /* An empty message may come as NULL; C_Sign wants a pointer. */
    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_SIGN, &mech, "CKM_EDDSA",
                              tbs != NULL ? tbs : empty, tbslen, sig, &len,
                              NULL))
        return 0;
    if (len != ctx->sig_len) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_Sign (CKM_EDDSA) returned %zu bytes, not %zu", len,
                    ctx->sig_len);
        return 0;
    }
    *siglen = len;
    return 1;
}

static int eddsa_digest_verify(void *vctx, const unsigned char *sig,
                               size_t siglen, const unsigned char *tbs,
                               size_t tbslen)
{
    EDDSA_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFY))
        return 0;
    return eddsa_host(ctx, (unsigned char *)sig, &siglen, tbs, tbslen, 0);
}

static const OSSL_PARAM *eddsa_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

/* The algorithm-id: the OID alone, as OpenSSL writes it. */
static int eddsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    static const unsigned char ed25519_aid[] = {0x30, 0x05, 0x06, 0x03,
                                                0x2b, 0x65, 0x70};
    static const unsigned char ed448_aid[] = {0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x71};
    EDDSA_CTX *ctx = vctx;
    OSSL_PARAM *p;
    int ed448 = strcmp(ctx->type, "ED448") == 0;

    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL
        && !OSSL_PARAM_set_octet_string(p, ed448 ? ed448_aid : ed25519_aid,
                                        ed448 ? sizeof(ed448_aid)
                                              : sizeof(ed25519_aid)))
        return 0;
    return 1;
}

const OSSL_DISPATCH p11be_signature_ed25519_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ed25519_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))eddsa_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))eddsa_dupctx},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))eddsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))eddsa_digest_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
     (void (*)(void))eddsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))eddsa_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))eddsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))eddsa_gettable_ctx_params},
    {0, NULL},
};

const OSSL_DISPATCH p11be_signature_ed448_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ed448_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))eddsa_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))eddsa_dupctx},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))eddsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))eddsa_digest_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
     (void (*)(void))eddsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))eddsa_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))eddsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))eddsa_gettable_ctx_params},
    {0, NULL},
};
