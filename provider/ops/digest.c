/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message digests on the token (CKM_SHA_1, CKM_SHA224 .. CKM_SHA512, and
 * CKM_MD5).
 *
 * Input is held in the context until final, or until it grows beyond
 * pkcs11-digest-buffer-max (1 MiB by default). So a digest of a message
 * that fits costs exactly C_DigestInit + C_Digest, and a context can be
 * duplicated by copying what it holds, on any token. Beyond the bound the
 * context streams (C_DigestInit, C_DigestUpdate .. C_DigestFinal) on a
 * session it keeps; duplicating it then uses the token's
 * C_GetOperationState/C_SetOperationState. On tokens without them
 * (SoftHSM2 2.6.1 among them) the copies share the one running operation
 * (shared_op.h): the first of them to take more input takes it, the others
 * then fail with a clear error, and copies that only finish all get the
 * digest of the input they share. CMS and PKCS#7 signing need no more:
 * they copy the content's digest for each signer and finish the copies.
 *
 * A context created while the thread is inside a call into the module
 * (re-entry, see reentry.h) is served by OpenSSL's default provider.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "debug.h"
#include "err.h"
#include "names.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"
#include "session.h"
#include "shared_op.h"
#include "spare.h"

struct digest_alg {
    unsigned bit;           /* in P11BE_PROV_CTX.digest_checked */
    const char *name;       /* as the default provider fetches it */
    CK_MECHANISM_TYPE mech; /* the token's mechanism */
    const char *mech_name;  /* for messages */
    size_t size;            /* output bytes */
    size_t block_size;      /* input block bytes */
};

/* clang-format off */
static const struct digest_alg digest_md5 =
    {1u << 0, "MD5", CKM_MD5, "CKM_MD5", 16, 64};
static const struct digest_alg digest_sha1 =
    {1u << 1, "SHA1", CKM_SHA_1, "CKM_SHA_1", 20, 64};
static const struct digest_alg digest_sha224 =
    {1u << 2, "SHA2-224", CKM_SHA224, "CKM_SHA224", 28, 64};
static const struct digest_alg digest_sha256 =
    {1u << 3, "SHA2-256", CKM_SHA256, "CKM_SHA256", 32, 64};
static const struct digest_alg digest_sha384 =
    {1u << 4, "SHA2-384", CKM_SHA384, "CKM_SHA384", 48, 128};
static const struct digest_alg digest_sha512 =
    {1u << 5, "SHA2-512", CKM_SHA512, "CKM_SHA512", 64, 128};
/* clang-format on */

struct digest_ctx_st {
    P11BE_PROV_CTX *prov;         /* provider that made us */
    const struct digest_alg *alg; /* which digest */
    EVP_MD_CTX *fallback;         /* set when made during re-entry */
    EVP_MD *fallback_md;          /* the default provider's digest */
    P11BE_SESSION *sess;          /* set while the token streams for us */
    P11BE_SHARED_OP *shared;      /* a running digest shared with copies */
    unsigned char *held;          /* input not yet given to the token */
    size_t held_len;              /* bytes in held */
    size_t held_cap;              /* bytes allocated for held */
    int ready;                    /* init done, final not yet */
    /* held's first home: OpenSSL 3.0 makes a new context per digest */
    unsigned char held_inline[192];
};

typedef struct digest_ctx_st DIGEST_CTX;

static OSSL_FUNC_digest_init_fn digest_init;
static OSSL_FUNC_digest_update_fn digest_update;
static OSSL_FUNC_digest_final_fn digest_final;
static OSSL_FUNC_digest_freectx_fn digest_freectx;
static OSSL_FUNC_digest_dupctx_fn digest_dupctx;
static OSSL_FUNC_digest_gettable_params_fn digest_gettable_params;
static OSSL_FUNC_digest_newctx_fn md5_newctx;
static OSSL_FUNC_digest_newctx_fn sha1_newctx;
static OSSL_FUNC_digest_newctx_fn sha224_newctx;
static OSSL_FUNC_digest_newctx_fn sha256_newctx;
static OSSL_FUNC_digest_newctx_fn sha384_newctx;
static OSSL_FUNC_digest_newctx_fn sha512_newctx;
static OSSL_FUNC_digest_get_params_fn md5_get_params;
static OSSL_FUNC_digest_get_params_fn sha1_get_params;
static OSSL_FUNC_digest_get_params_fn sha224_get_params;
static OSSL_FUNC_digest_get_params_fn sha256_get_params;
static OSSL_FUNC_digest_get_params_fn sha384_get_params;
static OSSL_FUNC_digest_get_params_fn sha512_get_params;

/*
 * OpenSSL 3.0 frees and re-creates the context for every digest: the
 * provider keeps one freed context to hand out again (see digest_freectx).
 */
static DIGEST_CTX *digest_ctx_alloc(P11BE_PROV_CTX *prov)
{
    DIGEST_CTX *ctx =
        __atomic_exchange_n(&prov->digest_ctx_spare, NULL, __ATOMIC_ACQUIRE);

    if (ctx == NULL)
        return OPENSSL_zalloc(sizeof(*ctx));
    /* Everything but the inline buffer, which holds nothing yet. */
    memset(ctx, 0, offsetof(DIGEST_CTX, held_inline));
    return ctx;
}

static void digest_ctx_recycle(P11BE_PROV_CTX *prov, DIGEST_CTX *ctx)
{
    void *none = NULL;

    if (!__atomic_compare_exchange_n(&prov->digest_ctx_spare, &none, ctx, 0,
                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        OPENSSL_free(ctx);
}

void p11be_digest_teardown(P11BE_PROV_CTX *prov)
{
    OPENSSL_free(prov->digest_ctx_spare);
    prov->digest_ctx_spare = NULL;
}

static void *digest_newctx(void *provctx, const struct digest_alg *alg)
{
    DIGEST_CTX *ctx = digest_ctx_alloc(provctx);

    if (ctx == NULL)
        return NULL;
    ctx->prov = provctx;
    ctx->alg = alg;
    ctx->held = ctx->held_inline;
    ctx->held_cap = sizeof(ctx->held_inline);
    if (p11be_reentered()) {
        P11BE_DEBUG("re-entered from the module: %s by the default provider",
                    alg->name);
        ctx->fallback = EVP_MD_CTX_new();
        ctx->fallback_md =
            EVP_MD_fetch(p11be_fallback_libctx(), alg->name, NULL);
        if (ctx->fallback == NULL || ctx->fallback_md == NULL) {
            p11be_raise(ctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                        "%s requested from inside a token call", alg->name);
            EVP_MD_CTX_free(ctx->fallback);
            EVP_MD_free(ctx->fallback_md);
            digest_ctx_recycle(ctx->prov, ctx);
            return NULL;
        }
    }
    return ctx;
}

static void *md5_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_md5);
}

static void *sha1_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_sha1);
}

static void *sha224_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_sha224);
}

static void *sha256_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_sha256);
}

static void *sha384_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_sha384);
}

static void *sha512_newctx(void *provctx)
{
    return digest_newctx(provctx, &digest_sha512);
}

/*
 * Ends a running token operation nobody wants any more. PKCS#11 2.40 has no
 * cancel: finishing into a scratch buffer leaves the session clean and
 * poolable, which is cheaper than closing it and opening another.
 */
static void digest_end_operation(P11BE_SESSION *sess)
{
    unsigned char scratch[EVP_MAX_MD_SIZE];
    CK_ULONG len = sizeof(scratch);
    CK_RV rv;

    if (sess == NULL)
        return;
    if (!p11be_session_usable_now(sess))
        return; /* freed during exit clean-up: the module may be gone */
    rv = P11BE_CALL(sess->fns, C_DigestFinal, sess->handle, scratch, &len);
    if (rv == CKR_OK || p11be_ckr_session_lost(rv))
        p11be_session_release(sess, rv);
    else
        p11be_session_discard(sess);
}

static void digest_abandon(DIGEST_CTX *ctx)
{
    digest_end_operation(ctx->sess);
    ctx->sess = NULL;
    p11be_shared_op_leave(&ctx->shared);
}

static void digest_raise_taken(const DIGEST_CTX *ctx)
{
    p11be_shared_op_raise_taken(ctx->prov, ctx->alg->name, "digest");
}

static void digest_forget_input(DIGEST_CTX *ctx)
{
    /* Message input is not a secret (STYLE.md): no wipe, as OpenSSL. */
    ctx->held_len = 0;
}

static int digest_init(void *vctx, const OSSL_PARAM params[])
{
    DIGEST_CTX *ctx = vctx;

    (void)params; /* no settable params */
    if (ctx->fallback != NULL)
        return EVP_DigestInit_ex2(ctx->fallback, ctx->fallback_md, NULL);
    digest_abandon(ctx);
    digest_forget_input(ctx);
    ctx->ready = 0;
    /*
     * The token's list does not change: look each mechanism up once. A
     * thread that skips the lookup never meets p11be_prov_token(), so the
     * bit must publish what opening the token set (digest_buffer_max):
     * release here, acquire there (tests/c/digest_check.c first-use).
     */
    if (!(__atomic_load_n(&ctx->prov->digest_checked, __ATOMIC_ACQUIRE)
          & ctx->alg->bit)) {
        if (!p11be_check_mech(&ctx->prov->tc, ctx->alg->mech,
                              ctx->alg->mech_name))
            return 0;
        __atomic_fetch_or(&ctx->prov->digest_checked, ctx->alg->bit,
                          __ATOMIC_RELEASE);
    }
    ctx->ready = 1;
    return 1;
}

static int digest_hold(DIGEST_CTX *ctx, const unsigned char *in, size_t inl)
{
    if (ctx->held_len + inl > ctx->held_cap) {
        size_t cap = ctx->held_cap;
        unsigned char *bigger;

        while (cap < ctx->held_len + inl)
            cap *= 2;
        if (ctx->held == ctx->held_inline) {
            bigger = p11be_spare_take(ctx->prov, cap, &cap);
            if (bigger == NULL)
                bigger = OPENSSL_malloc(cap);
            if (bigger != NULL)
                memcpy(bigger, ctx->held, ctx->held_len);
        } else {
            bigger = OPENSSL_realloc(ctx->held, cap);
        }
        if (bigger == NULL) {
            p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                        "holding %zu bytes of digest input",
                        ctx->held_len + inl);
            return 0;
        }
        ctx->held = bigger;
        ctx->held_cap = cap;
    }
    memcpy(ctx->held + ctx->held_len, in, inl);
    ctx->held_len += inl;
    return 1;
}

/*
 * Starts streaming: a session kept until final, C_DigestInit, and the held
 * input. All input so far is held, so a lost session is retried once.
 */
static int digest_start_streaming(DIGEST_CTX *ctx)
{
    struct p11be_session_req req = {.held = 1};
    CK_MECHANISM mech = {ctx->alg->mech, NULL, 0};
    int attempt;
    CK_RV rv = CKR_OK;

    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = p11be_session_acquire(&ctx->prov->tc, &req);

        if (sess == NULL)
            return 0;
        rv = P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
        if (rv == CKR_OK && ctx->held_len > 0)
            rv = P11BE_CALL(sess->fns, C_DigestUpdate, sess->handle, ctx->held,
                            ctx->held_len);
        if (rv == CKR_OK) {
            ctx->sess = sess;
            digest_forget_input(ctx);
            return 1;
        }
        if (!p11be_session_done(sess, rv))
            break;
    }
    p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                "C_DigestInit/C_DigestUpdate (%s): %s", ctx->alg->mech_name,
                p11be_ckr_name(rv));
    return 0;
}

static int digest_update(void *vctx, const unsigned char *in, size_t inl)
{
    DIGEST_CTX *ctx = vctx;
    CK_RV rv;

    if (ctx->fallback != NULL)
        return EVP_DigestUpdate(ctx->fallback, in, inl);
    if (!ctx->ready) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "digest update without init, or after final");
        return 0;
    }
    if (inl == 0)
        return 1;
    /* A shared digest (shared_op.h): only one holder may take more input. */
    if (ctx->shared != NULL
        && !p11be_shared_op_claim(&ctx->shared, &ctx->sess)) {
        digest_raise_taken(ctx);
        return 0;
    }
    if (ctx->sess == NULL) {
        if (ctx->held_len + inl <= ctx->prov->digest_buffer_max)
            return digest_hold(ctx, in, inl);
        if (!digest_start_streaming(ctx))
            goto out_failed;
    }
    rv = P11BE_CALL(ctx->sess->fns, C_DigestUpdate, ctx->sess->handle,
                    (CK_BYTE *)in, inl);
    if (rv == CKR_OK)
        return 1;
    /* A failed C_DigestUpdate ends the token's operation. */
    p11be_session_release(ctx->sess, rv);
    ctx->sess = NULL;
    p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                "C_DigestUpdate (%s): %s", ctx->alg->mech_name,
                p11be_ckr_name(rv));
out_failed:
    ctx->ready = 0;
    return 0;
}

/* The whole message is held: C_DigestInit + C_Digest, retried once. */
static CK_RV digest_one_shot(DIGEST_CTX *ctx, unsigned char *out,
                             CK_ULONG *out_len)
{
    struct p11be_session_req req = {0};
    CK_MECHANISM mech = {ctx->alg->mech, NULL, 0};
    CK_ULONG room = *out_len;
    int attempt;
    CK_RV rv = CKR_GENERAL_ERROR;

    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = p11be_session_acquire(&ctx->prov->tc, &req);

        if (sess == NULL)
            return CKR_GENERAL_ERROR; /* raised already */
        rv = P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
        if (rv == CKR_OK) {
            /* Never NULL, even empty: modules refuse a NULL pData. */
            *out_len = room;
            rv = P11BE_CALL(sess->fns, C_Digest, sess->handle, ctx->held,
                            ctx->held_len, out, out_len);
        }
        if (!p11be_session_done(sess, rv))
            break;
    }
    if (rv != CKR_OK)
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DigestInit/C_Digest (%s): %s", ctx->alg->mech_name,
                    p11be_ckr_name(rv));
    return rv;
}

/* C_DigestFinal of a shared digest, for p11be_shared_op_finish(). */
static int digest_final_shared_on(void *arg, P11BE_SESSION *sess,
                                  unsigned char *out, size_t *out_len)
{
    DIGEST_CTX *ctx = arg;
    CK_ULONG len = P11BE_SHARED_OP_MAX;
    CK_RV rv = P11BE_CALL(sess->fns, C_DigestFinal, sess->handle, out, &len);

    p11be_session_release(sess, rv);
    if (rv != CKR_OK) {
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DigestFinal (%s): %s", ctx->alg->mech_name,
                    p11be_ckr_name(rv));
        return 0;
    }
    *out_len = len;
    return 1;
}

static int digest_final(void *vctx, unsigned char *out, size_t *outl,
                        size_t outsz)
{
    DIGEST_CTX *ctx = vctx;
    CK_ULONG out_len = outsz;
    CK_RV rv;

    if (ctx->fallback != NULL) {
        unsigned int len = 0;
        int ok = EVP_DigestFinal_ex(ctx->fallback, out, &len);

        *outl = len;
        return ok;
    }
    if (!ctx->ready) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "digest final without init, or twice");
        return 0;
    }
    /*
     * A NULL output asks for the size (STYLE.md) and leaves the digest
     * running. Passed on to C_Digest it would be the token's size query:
     * CKR_OK, and the digest ended without ever being written.
     */
    if (out == NULL) {
        *outl = ctx->alg->size;
        return 1;
    }
    if (outsz < ctx->alg->size) {
        p11be_raise(ctx->prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "%s needs %zu bytes of output, got %zu", ctx->alg->name,
                    ctx->alg->size, outsz);
        return 0;
    }
    if (ctx->shared != NULL) {
        int rc = p11be_shared_op_finish(ctx->shared, digest_final_shared_on,
                                        ctx, out, outl);

        if (rc == 0)
            digest_raise_taken(ctx);
        ctx->ready = 0;
        p11be_shared_op_leave(&ctx->shared);
        return rc == 1;
    }
    ctx->ready = 0;
    if (ctx->sess == NULL) {
        rv = digest_one_shot(ctx, out, &out_len);
        digest_forget_input(ctx);
    } else {
        rv = P11BE_CALL(ctx->sess->fns, C_DigestFinal, ctx->sess->handle, out,
                        &out_len);
        p11be_session_release(ctx->sess, rv);
        ctx->sess = NULL;
        if (rv != CKR_OK)
            p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                        "C_DigestFinal (%s): %s", ctx->alg->mech_name,
                        p11be_ckr_name(rv));
    }
    if (rv != CKR_OK)
        return 0;
    *outl = out_len;
    return 1;
}

static void digest_freectx(void *vctx)
{
    DIGEST_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->fallback);
    EVP_MD_free(ctx->fallback_md);
    digest_abandon(ctx);
    digest_forget_input(ctx);
    if (ctx->held != ctx->held_inline)
        p11be_spare_give(ctx->prov, ctx->held, ctx->held_cap);
    digest_ctx_recycle(ctx->prov, ctx);
}

/* Copies a running token operation with C_Get/SetOperationState. */
static int digest_dup_streaming(DIGEST_CTX *src, DIGEST_CTX *dst)
{
    struct p11be_session_req req = {.held = 1};
    unsigned char *state = NULL;
    CK_ULONG state_len = 0;
    CK_RV rv;

    rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                    NULL, &state_len);
    if (rv == CKR_OK && (state = OPENSSL_malloc(state_len)) == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                        state, &state_len);
    if (rv != CKR_OK) {
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "%s context holds more than pkcs11-digest-buffer-max "
                    "(%zu bytes) of input and the token cannot copy a running "
                    "digest (C_GetOperationState: %s)",
                    src->alg->name, src->prov->digest_buffer_max,
                    p11be_ckr_name(rv));
        goto out_free_state;
    }
    dst->sess = p11be_session_acquire(&dst->prov->tc, &req);
    if (dst->sess == NULL) {
        rv = CKR_GENERAL_ERROR;
        goto out_free_state;
    }
    rv = P11BE_CALL(dst->sess->fns, C_SetOperationState, dst->sess->handle,
                    state, state_len, CK_INVALID_HANDLE, CK_INVALID_HANDLE);
    if (rv != CKR_OK) {
        p11be_session_release(dst->sess, rv);
        dst->sess = NULL;
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "C_SetOperationState (%s): %s", src->alg->mech_name,
                    p11be_ckr_name(rv));
    }
out_free_state:
    OPENSSL_clear_free(state, state_len);
    return rv == CKR_OK;
}

static void *digest_dupctx(void *vctx)
{
    DIGEST_CTX *src = vctx;
    DIGEST_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->prov = src->prov;
    dst->alg = src->alg;
    dst->ready = src->ready;
    dst->held = dst->held_inline;
    dst->held_cap = sizeof(dst->held_inline);
    if (src->fallback != NULL) {
        dst->fallback = EVP_MD_CTX_new();
        if (dst->fallback == NULL
            || !EVP_MD_CTX_copy_ex(dst->fallback, src->fallback)
            || !EVP_MD_up_ref(src->fallback_md))
            goto out_free_dst;
        dst->fallback_md = src->fallback_md;
        return dst;
    }
    if (src->held_len > 0 && !digest_hold(dst, src->held, src->held_len))
        goto out_free_dst;
    if (src->sess != NULL) {
        /* Where the token cannot copy it, the two share it. */
        ERR_set_mark();
        if (digest_dup_streaming(src, dst)) {
            ERR_clear_last_mark();
            return dst;
        }
        ERR_pop_to_mark();
        src->shared =
            p11be_shared_op_new(src->prov, &src->sess, digest_end_operation);
        if (src->shared == NULL)
            goto out_free_dst;
    }
    if (src->shared != NULL
        && !p11be_shared_op_join(src->shared, &dst->shared)) {
        digest_raise_taken(src);
        goto out_free_dst;
    }
    return dst;

out_free_dst:
    digest_freectx(dst);
    return NULL;
}

static const OSSL_PARAM *digest_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_BLOCK_SIZE, NULL),
        OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_SIZE, NULL),
        OSSL_PARAM_int(OSSL_DIGEST_PARAM_XOF, NULL),
        OSSL_PARAM_int(OSSL_DIGEST_PARAM_ALGID_ABSENT, NULL),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

/* The same answers as OpenSSL's default provider gives. */
static int digest_get_params(OSSL_PARAM params[], const struct digest_alg *alg)
{
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_BLOCK_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, alg->block_size))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, alg->size))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_XOF);
    if (p != NULL && !OSSL_PARAM_set_int(p, 0))
        return 0;
    /* SHA-1 and SHA-2 AlgorithmIdentifiers omit the NULL parameters. */
    p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_ALGID_ABSENT);
    if (p != NULL && !OSSL_PARAM_set_int(p, alg != &digest_md5))
        return 0;
    return 1;
}

static int md5_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_md5);
}

static int sha1_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_sha1);
}

static int sha224_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_sha224);
}

static int sha256_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_sha256);
}

static int sha384_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_sha384);
}

static int sha512_get_params(OSSL_PARAM params[])
{
    return digest_get_params(params, &digest_sha512);
}

/* Everything but newctx and get_params is shared by all digests. */
#define DIGEST_DISPATCH(newctx, get_params)                                    \
    {                                                                          \
        {OSSL_FUNC_DIGEST_NEWCTX, (void (*)(void))(newctx)},                   \
            {OSSL_FUNC_DIGEST_INIT, (void (*)(void))digest_init},              \
            {OSSL_FUNC_DIGEST_UPDATE, (void (*)(void))digest_update},          \
            {OSSL_FUNC_DIGEST_FINAL, (void (*)(void))digest_final},            \
            {OSSL_FUNC_DIGEST_FREECTX, (void (*)(void))digest_freectx},        \
            {OSSL_FUNC_DIGEST_DUPCTX, (void (*)(void))digest_dupctx},          \
            {OSSL_FUNC_DIGEST_GET_PARAMS, (void (*)(void))(get_params)},       \
            {OSSL_FUNC_DIGEST_GETTABLE_PARAMS,                                 \
             (void (*)(void))digest_gettable_params},                          \
            {0, NULL},                                                         \
    }

static const OSSL_DISPATCH p11be_digest_md5_functions[] =
    DIGEST_DISPATCH(md5_newctx, md5_get_params);
static const OSSL_DISPATCH p11be_digest_sha1_functions[] =
    DIGEST_DISPATCH(sha1_newctx, sha1_get_params);
static const OSSL_DISPATCH p11be_digest_sha224_functions[] =
    DIGEST_DISPATCH(sha224_newctx, sha224_get_params);
static const OSSL_DISPATCH p11be_digest_sha256_functions[] =
    DIGEST_DISPATCH(sha256_newctx, sha256_get_params);
static const OSSL_DISPATCH p11be_digest_sha384_functions[] =
    DIGEST_DISPATCH(sha384_newctx, sha384_get_params);
static const OSSL_DISPATCH p11be_digest_sha512_functions[] =
    DIGEST_DISPATCH(sha512_newctx, sha512_get_params);

const OSSL_ALGORITHM p11be_digest_algorithms[] = {
    {P11BE_NAMES_SHA1, P11BE_PROPS, p11be_digest_sha1_functions,
     "SHA-1 on the PKCS#11 token"},
    {P11BE_NAMES_SHA2_224, P11BE_PROPS, p11be_digest_sha224_functions,
     "SHA-224 on the PKCS#11 token"},
    {P11BE_NAMES_SHA2_256, P11BE_PROPS, p11be_digest_sha256_functions,
     "SHA-256 on the PKCS#11 token"},
    {P11BE_NAMES_SHA2_384, P11BE_PROPS, p11be_digest_sha384_functions,
     "SHA-384 on the PKCS#11 token"},
    {P11BE_NAMES_SHA2_512, P11BE_PROPS, p11be_digest_sha512_functions,
     "SHA-512 on the PKCS#11 token"},
    {P11BE_NAMES_MD5, P11BE_PROPS, p11be_digest_md5_functions,
     "MD5 on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
