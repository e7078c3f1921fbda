/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signature skeleton RSA, ECDSA and EdDSA fill in (pkey_op.h): init,
 * the size protocol, hashing on the host, verification, and the digest's
 * parameters. An algorithm's row gives the private-key operation on the
 * token (token_op).
 *
 * Hashing for EVP_DigestSign* happens on the host, by the default provider
 * in the fallback library context (never by pkcs11be, so no recursion),
 * and the digest is signed by the token: one C_SignInit + C_Sign per
 * signature, a context that EVP_MD_CTX_copy can duplicate at any point,
 * and no session held between update and final. EdDSA (no default_md)
 * is one-shot, over the whole message, as OpenSSL requires.
 *
 * Verification (and verify-recover) is a public-key operation: it runs on
 * the host copy by the default provider, as does everything in a context
 * made while the thread is inside a token call (re-entry, see reentry.h).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"
#include "reentry.h"

int p11be_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return p11be_pkey_ctx_init(vctx, provkey, params, EVP_PKEY_OP_SIGN);
}

int p11be_sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return p11be_pkey_ctx_init(vctx, provkey, params, EVP_PKEY_OP_VERIFY);
}

int p11be_sig_verify_recover_init(void *vctx, void *provkey,
                                  const OSSL_PARAM params[])
{
    return p11be_pkey_ctx_init(vctx, provkey, params,
                               EVP_PKEY_OP_VERIFYRECOVER);
}

/* The private-key operation over tbs (a digest when one is set). */
static int sig_sign_tbs(P11BE_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen,
                        size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
    size_t size = EVP_PKEY_get_size(ctx->op.key->host);

    if (ctx->op.on_host && ctx->alg->host_sign == NULL) {
        *siglen = sigsize;
        return EVP_PKEY_sign(ctx->op.host, sig, siglen, tbs, tbslen) > 0;
    }
    if (sig == NULL) {
        *siglen = size;
        return 1;
    }
    if (sigsize < size) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an %s needs up to %zu bytes, got %zu", ctx->alg->what,
                    size, sigsize);
        return 0;
    }
    if (ctx->op.on_host) {
        *siglen = sigsize;
        return ctx->alg->host_sign(ctx, sig, siglen, tbs, tbslen);
    }
    return ctx->alg->token_op(ctx, sig, siglen, sigsize, tbs, tbslen);
}

int p11be_sig_sign(void *vctx, unsigned char *sig, size_t *siglen,
                   size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
        return 0;
    return sig_sign_tbs(ctx, sig, siglen, sigsize, tbs, tbslen);
}

int p11be_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFY))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, tbs, tbslen);
}

int p11be_sig_verify_recover(void *vctx, unsigned char *rout, size_t *routlen,
                             size_t routsize, const unsigned char *sig,
                             size_t siglen)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFYRECOVER))
        return 0;
    *routlen = routsize;
    return EVP_PKEY_verify_recover(ctx->op.host, rout, routlen, sig, siglen)
           > 0;
}

/*
 * Init, then the digest (OpenSSL's order), hashed on the host; a one-shot
 * signature (no default_md) takes none.
 */
static int sig_digest_init(P11BE_PKEY_CTX *ctx, const char *mdname,
                           void *provkey, const OSSL_PARAM params[],
                           int operation)
{
    if (ctx->alg->default_md == NULL && mdname != NULL && mdname[0] != '\0') {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s takes no digest (got %s)", ctx->alg->what, mdname);
        return 0;
    }
    if (ctx->alg->default_md == NULL)
        mdname = NULL;
    else if (mdname == NULL)
        mdname = ctx->alg->default_md;
    return p11be_pkey_ctx_init_md(ctx, provkey, params, operation, mdname);
}

int p11be_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                               const OSSL_PARAM params[])
{
    return sig_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_SIGN);
}

int p11be_sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                 const OSSL_PARAM params[])
{
    return sig_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_VERIFY);
}

/* The host's hash, or NULL (raised) out of order. */
static EVP_MD_CTX *sig_mdctx(P11BE_PKEY_CTX *ctx, const char *step)
{
    if (ctx->mdctx == NULL)
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "%s: digest %s without digest init", ctx->alg->what, step);
    return ctx->mdctx;
}

int p11be_sig_digest_update(void *vctx, const unsigned char *data,
                            size_t datalen)
{
    EVP_MD_CTX *mdctx = sig_mdctx(vctx, "update");

    return mdctx != NULL && EVP_DigestUpdate(mdctx, data, datalen);
}

int p11be_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
                                size_t sigsize)
{
    P11BE_PKEY_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;
    EVP_MD_CTX *mdctx;

    /* A size query leaves the hash running. */
    if (sig == NULL) {
        if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
            return 0;
        *siglen = EVP_PKEY_get_size(ctx->op.key->host);
        return 1;
    }
    mdctx = sig_mdctx(ctx, "final");
    if (mdctx == NULL || !EVP_DigestFinal_ex(mdctx, dgst, &dgst_len))
        return 0;
    return sig_sign_tbs(ctx, sig, siglen, sigsize, dgst, dgst_len);
}

int p11be_sig_digest_verify_final(void *vctx, const unsigned char *sig,
                                  size_t siglen)
{
    P11BE_PKEY_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;
    EVP_MD_CTX *mdctx = sig_mdctx(ctx, "final");

    if (mdctx == NULL || !EVP_DigestFinal_ex(mdctx, dgst, &dgst_len))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, dgst, dgst_len);
}

/* One-shot verification on the host copy (fallback library context). */
int p11be_sig_digest_verify(void *vctx, const unsigned char *sig, size_t siglen,
                            const unsigned char *tbs, size_t tbslen)
{
    P11BE_PKEY_CTX *ctx = vctx;
    EVP_MD_CTX *mctx;
    int ok;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFY))
        return 0;
    mctx = EVP_MD_CTX_new();
    ok = mctx != NULL
         && EVP_DigestVerifyInit_ex(mctx, NULL, NULL, p11be_fallback_libctx(),
                                    NULL, ctx->op.key->host, NULL)
                == 1
         && EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

int p11be_sig_get_ctx_md_params(void *vctx, OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_get_params(ctx->mdctx, params);
}

int p11be_sig_set_ctx_md_params(void *vctx, const OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_set_params(ctx->mdctx, params);
}

/* The running digest's own tables, or NULL. */
static const EVP_MD *sig_md(P11BE_PKEY_CTX *ctx)
{
    return ctx->mdctx != NULL ? EVP_MD_CTX_get0_md(ctx->mdctx) : NULL;
}

const OSSL_PARAM *p11be_sig_gettable_ctx_md_params(void *vctx)
{
    const EVP_MD *md = sig_md(vctx);

    return md != NULL ? EVP_MD_gettable_ctx_params(md) : NULL;
}

const OSSL_PARAM *p11be_sig_settable_ctx_md_params(void *vctx)
{
    const EVP_MD *md = sig_md(vctx);

    return md != NULL ? EVP_MD_settable_ctx_params(md) : NULL;
}
