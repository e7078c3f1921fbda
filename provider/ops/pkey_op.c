/* SPDX-License-Identifier: Apache-2.0 */
/* The context every operation on a key shares; see pkey_op.h. */
#include "pkey_op.h"

#include <string.h>

#include <openssl/crypto.h>

#include "err.h"

P11BE_PKEY_CTX *p11be_pkey_ctx_new(void *provctx,
                                   const struct p11be_pkey_alg *alg)
{
    P11BE_PKEY_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, alg->what);
    ctx->alg = alg;
    return ctx;
}

/* Forgets what the last init or set_peer left. */
static void pkey_ctx_reset(P11BE_PKEY_CTX *ctx)
{
    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    p11be_key_free(ctx->peer);
    ctx->peer = NULL;
    OPENSSL_free(ctx->peer_pub);
    ctx->peer_pub = NULL;
    ctx->peer_pub_len = 0;
}

void p11be_pkey_ctx_free(void *vctx)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    pkey_ctx_reset(ctx);
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

void *p11be_pkey_ctx_dup(void *vctx)
{
    P11BE_PKEY_CTX *src = vctx;
    P11BE_PKEY_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->alg = src->alg;
    dst->pad = src->pad;
    if (!p11be_keyop_dup(&dst->op, &src->op))
        goto out_free;
    if (src->mdctx != NULL
        && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
            || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))
        goto out_free;
    if (src->peer_pub != NULL
        && (dst->peer_pub = OPENSSL_memdup(src->peer_pub, src->peer_pub_len))
               == NULL)
        goto out_free;
    dst->peer_pub_len = src->peer_pub_len;
    if (src->peer != NULL && p11be_key_up_ref(src->peer))
        dst->peer = src->peer;
    return dst;

out_free:
    p11be_pkey_ctx_free(dst);
    return NULL;
}

/* EVP_PKEY_*_init of the host context for `operation`. */
static int pkey_host_init(EVP_PKEY_CTX *host, int operation)
{
    switch (operation) {
    case EVP_PKEY_OP_SIGN:
        return EVP_PKEY_sign_init(host);
    case EVP_PKEY_OP_VERIFY:
        return EVP_PKEY_verify_init(host);
    case EVP_PKEY_OP_VERIFYRECOVER:
        return EVP_PKEY_verify_recover_init(host);
    case EVP_PKEY_OP_ENCRYPT:
        return EVP_PKEY_encrypt_init(host);
    case EVP_PKEY_OP_DECRYPT:
        return EVP_PKEY_decrypt_init(host);
    default:
        return EVP_PKEY_derive_init(host);
    }
}

int p11be_pkey_ctx_init(P11BE_PKEY_CTX *ctx, void *provkey,
                        const OSSL_PARAM params[], int operation)
{
    const struct p11be_pkey_alg *alg = ctx->alg;
    int private = operation == EVP_PKEY_OP_SIGN
                  || operation == EVP_PKEY_OP_DECRYPT
                  || operation == EVP_PKEY_OP_DERIVE;
    int host_op = operation;
    EVP_PKEY *host;

    pkey_ctx_reset(ctx);
    if (!p11be_keyop_init(&ctx->op, provkey, operation, private))
        return 0;
    host = ctx->op.key->host;
    if (!EVP_PKEY_is_a(host, alg->key_type)
        && (alg->key_type_alt == NULL
            || !EVP_PKEY_is_a(host, alg->key_type_alt))) {
        if (alg->host_refuses != NULL && EVP_PKEY_is_a(host, alg->host_refuses)
            && pkey_host_init(ctx->op.host, operation) <= 0)
            return 0;
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s needs an %s key, not %s", alg->what, alg->key_type,
                    ctx->op.key->kind->name);
        return 0;
    }
    if (private && alg->mech_name != NULL
        && !p11be_keyop_token_mech(&ctx->op, alg->mech, alg->mech_name))
        return 0;
    /* On the token, the host context only holds the parameters. */
    if (private && !ctx->op.on_host)
        host_op = alg->token_host_op;
    return alg->token_host_op == 0
           || (pkey_host_init(ctx->op.host, host_op) > 0
               && p11be_pkey_ctx_set_params(ctx, params));
}

int p11be_pkey_ctx_get_params(void *vctx, OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

/* After init (OpenSSL allows nothing else); NULL or empty: nothing to do. */
int p11be_pkey_ctx_set_params(void *vctx, const OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (ctx->alg->set_params != NULL && !ctx->alg->set_params(ctx, params))
        return 0;
    return p11be_keyop_set_params(&ctx->op, params);
}
