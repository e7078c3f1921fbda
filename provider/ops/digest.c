/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message digests on the token, one for each row of digests.h (CKM_SHA_1,
 * CKM_SHA224 .. CKM_SHA512, CKM_MD5), run by the streaming engine
 * (stream.h: held input, streaming past the bound, copies).
 *
 * OpenSSL's default provider in p11be_fallback_libctx() serves a context
 * for the rest of its life (re-init, dup, final) when it is created while
 * the thread is inside a call into the module (re-entry, see reentry.h),
 * and, counted as delegated (delegate.h), when the token lacks the
 * digest's mechanism: absent from its list (opencryptoki and p11-kit's
 * RPC have no CKM_SHA224, NSS's key slot no digest at all) or refused at
 * C_DigestInit although listed. A refusal comes when the input is still
 * all held (at final, or when it outgrows pkcs11-digest-buffer-max), so
 * the default provider takes it over, and the token remembers it
 * (mechs.h): later contexts go to the default provider at init. With
 * pkcs11-delegate = no these fail instead, naming the mechanism.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "debug.h"
#include "delegate.h"
#include "digests.h"
#include "err.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "stream.h"

struct digest_ctx_st {
    const P11BE_DIGEST *alg; /* which digest */
    EVP_MD_CTX *fallback;    /* set when made during re-entry, delegated */
    int fallback_held;       /* p11be_fallback_prepare() held */
    P11BE_STREAM st;         /* last: its inline buffer survives recycling */
};

typedef struct digest_ctx_st DIGEST_CTX;

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
    memset(ctx, 0, offsetof(DIGEST_CTX, st.held_inline));
    return ctx;
}

static void digest_freectx(void *vctx)
{
    DIGEST_CTX *ctx = vctx;
    void *none = NULL;

    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->fallback);
    if (ctx->fallback_held)
        p11be_fallback_release();
    p11be_stream_free(&ctx->st);
    if (!__atomic_compare_exchange_n(&ctx->st.prov->digest_ctx_spare, &none,
                                     ctx, 0, __ATOMIC_RELEASE,
                                     __ATOMIC_RELAXED))
        OPENSSL_free(ctx);
}

void p11be_digest_teardown(P11BE_PROV_CTX *prov)
{
    OPENSSL_free(prov->digest_ctx_spare);
    prov->digest_ctx_spare = NULL;
}

static void digest_ctx_setup(DIGEST_CTX *ctx, P11BE_PROV_CTX *prov,
                             const P11BE_DIGEST *alg)
{
    ctx->alg = alg;
    p11be_stream_new(&ctx->st, prov, alg->name, 0);
    ctx->st.m.mech = alg->mech;
    ctx->st.m.mech_name = alg->mech_name;
    ctx->st.m.checked = 1;
    ctx->st.refusable = 1;
    ctx->st.size = alg->size;
}

/* The default provider's digest, initialised, in ctx->fallback. 1, or 0. */
static int digest_fallback_new(DIGEST_CTX *ctx)
{
    EVP_MD *md = NULL;
    int ok;

    ctx->fallback_held = p11be_fallback_prepare();
    if (ctx->fallback_held)
        md = EVP_MD_fetch(p11be_fallback_libctx(), ctx->alg->name, NULL);
    /* The context keeps the digest: init again with NULL reuses it. */
    ctx->fallback = md == NULL ? NULL : EVP_MD_CTX_new();
    ok = ctx->fallback != NULL && EVP_DigestInit_ex2(ctx->fallback, md, NULL);
    EVP_MD_free(md);
    return ok;
}

/*
 * The token lacks the digest (`why` says how, for the trace): the default
 * provider takes the context over, counted, unless pkcs11-delegate = no.
 * 1, or 0 raised.
 */
static int digest_delegate(DIGEST_CTX *ctx, const char *why)
{
    P11BE_PROV_CTX *prov = ctx->st.prov;
    int allowed = p11be_delegate_allowed(prov);

    if (allowed < 0)
        return 0;
    if (!allowed) {
        p11be_raise(prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "%s: %s is not supported by the token (%s), and %s=no "
                    "keeps the default provider from doing it",
                    ctx->alg->name, ctx->alg->mech_name, why,
                    p11be_config_source(&prov->config, P11BE_SET_DELEGATE));
        return 0;
    }
    if (!digest_fallback_new(ctx)) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot use OpenSSL's default provider",
                    ctx->alg->name);
        return 0;
    }
    P11BE_DEBUG("%s: %s %s, by the default provider", ctx->alg->name,
                ctx->alg->mech_name, why);
    p11be_delegated_note(prov, "digest");
    return 1;
}

/*
 * After the token refused the mechanism at C_DigestInit: remembered for
 * the token, and the input held so far goes to the default provider.
 */
static int digest_refused(DIGEST_CTX *ctx)
{
    P11BE_PROV_CTX *prov = ctx->st.prov;
    const struct p11be_mech_shape shape = {ctx->alg->mech, 0, 0};
    unsigned bit = 1u << (ctx->alg - p11be_digests);
    int ok;

    p11be_key_note_refused(&prov->tc, &shape);
    __atomic_fetch_and(&prov->digest_checked, ~bit, __ATOMIC_SEQ_CST);
    ctx->st.refused = 0;
    ok = digest_delegate(ctx, "refused at C_DigestInit")
         && EVP_DigestUpdate(ctx->fallback, ctx->st.held, ctx->st.held_len);
    p11be_stream_stop(&ctx->st);
    return ok;
}

/* Whether the token refused the digest before (digest_refused). */
static int digest_was_refused(DIGEST_CTX *ctx)
{
    const struct p11be_mech_shape shape = {ctx->alg->mech, 0, 0};

    return p11be_key_shape_refused(&ctx->st.prov->tc, &shape);
}

/* Whether the token offers the digest: 1, 0 (*why says how), -1 raised. */
static int digest_token_has(DIGEST_CTX *ctx, const char **why)
{
    CK_MECHANISM_INFO info;
    int has = p11be_mech_lookup(&ctx->st.prov->tc, ctx->alg->mech,
                                ctx->alg->mech_name, &info);

    *why = "not in its mechanism list";
    if (has > 0 && digest_was_refused(ctx)) {
        *why = "refused at C_DigestInit";
        has = 0;
    }
    return has;
}

static void *digest_newctx(void *provctx, const P11BE_DIGEST *alg)
{
    DIGEST_CTX *ctx = digest_ctx_alloc(provctx);

    if (ctx == NULL)
        return NULL;
    digest_ctx_setup(ctx, provctx, alg);
    if (!p11be_reentered())
        return ctx;
    P11BE_DEBUG("re-entered from the module: %s by the default provider",
                alg->name);
    if (!digest_fallback_new(ctx)) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s requested from inside a token call", alg->name);
        digest_freectx(ctx);
        ctx = NULL;
    }
    return ctx;
}

static int digest_init(void *vctx, const OSSL_PARAM params[])
{
    DIGEST_CTX *ctx = vctx;
    P11BE_PROV_CTX *prov = ctx->st.prov;
    unsigned bit = 1u << (ctx->alg - p11be_digests);
    const char *why;
    int has;

    (void)params; /* no settable params */
    if (ctx->fallback != NULL)
        return EVP_DigestInit_ex2(ctx->fallback, NULL, NULL);
    p11be_stream_stop(&ctx->st);
    /*
     * The token's list does not change: look each mechanism up once. A
     * thread that skips the lookup never meets p11be_token_ctx_token(), so the
     * bit must publish what opening the token set (digest_buffer_max):
     * release here, acquire there (tests/c/digest_check.c first-use).
     */
    if (!(__atomic_load_n(&prov->digest_checked, __ATOMIC_ACQUIRE) & bit)) {
        if ((has = digest_token_has(ctx, &why)) <= 0)
            return has == 0 && digest_delegate(ctx, why);
        __atomic_fetch_or(&prov->digest_checked, bit, __ATOMIC_SEQ_CST);
        /*
         * A refusal noted since the lookup (digest_refused: note, then
         * clear the bit) is seen here, or its clearing comes after our
         * set: the bit never hides a refusal from later contexts.
         */
        if (digest_was_refused(ctx)) {
            __atomic_fetch_and(&prov->digest_checked, ~bit, __ATOMIC_SEQ_CST);
            return digest_delegate(ctx, "refused at C_DigestInit");
        }
    }
    ctx->st.ready = 1;
    return 1;
}

static int digest_final(void *vctx, unsigned char *out, size_t *outl,
                        size_t outsz)
{
    DIGEST_CTX *ctx = vctx;
    unsigned int len = 0;
    int ok;

    if (ctx->fallback == NULL) {
        if (p11be_stream_final(&ctx->st, out, outl, outsz))
            return 1;
        if (!ctx->st.refused || !digest_refused(ctx))
            return 0;
    }
    ok = EVP_DigestFinal_ex(ctx->fallback, out, &len);
    *outl = len;
    return ok;
}

static int digest_update(void *vctx, const unsigned char *in, size_t inl)
{
    DIGEST_CTX *ctx = vctx;

    if (ctx->fallback == NULL) {
        if (p11be_stream_update(&ctx->st, in, inl))
            return 1;
        if (!ctx->st.refused || !digest_refused(ctx))
            return 0;
    }
    return EVP_DigestUpdate(ctx->fallback, in, inl);
}

static void *digest_dupctx(void *vctx)
{
    DIGEST_CTX *src = vctx;
    DIGEST_CTX *dst = digest_ctx_alloc(src->st.prov);

    if (dst == NULL)
        return NULL;
    digest_ctx_setup(dst, src->st.prov, src->alg);
    if (src->fallback == NULL
            ? p11be_stream_dup(&dst->st, &src->st)
            : (dst->fallback_held = p11be_fallback_prepare())
                  && (dst->fallback = EVP_MD_CTX_new()) != NULL
                  && EVP_MD_CTX_copy_ex(dst->fallback, src->fallback))
        return dst;
    digest_freectx(dst);
    return NULL;
}

static const OSSL_PARAM digest_gettable[] = {
    OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_BLOCK_SIZE, NULL),
    OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_SIZE, NULL),
    OSSL_PARAM_int(OSSL_DIGEST_PARAM_XOF, NULL),
    OSSL_PARAM_int(OSSL_DIGEST_PARAM_ALGID_ABSENT, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *digest_gettable_params(void *provctx)
{
    (void)provctx;
    return digest_gettable;
}

/*
 * The same answers as OpenSSL's default provider gives, in
 * digest_gettable's order: SHA-1 and SHA-2 AlgorithmIdentifiers omit the
 * NULL parameters.
 */
static int digest_get_params(OSSL_PARAM params[], const P11BE_DIGEST *alg)
{
    const size_t values[] = {alg->block_size, alg->size, 0, alg->algid_absent};

    return p11be_params_answer(params, digest_gettable, values);
}

/* OpenSSL gives newctx and get_params no algorithm: one pair per row. */
#define DIGEST_FUNCTIONS(i, functions)                                         \
    static void *digest##i##_newctx(void *provctx)                             \
    {                                                                          \
        return digest_newctx(provctx, &p11be_digests[i]);                      \
    }                                                                          \
    static int digest##i##_get_params(OSSL_PARAM params[])                     \
    {                                                                          \
        return digest_get_params(params, &p11be_digests[i]);                   \
    }                                                                          \
    const OSSL_DISPATCH functions[] = {                                        \
        P11BE_FN(OSSL_FUNC_DIGEST_NEWCTX, digest##i##_newctx),                 \
        P11BE_FN(OSSL_FUNC_DIGEST_INIT, digest_init),                          \
        P11BE_FN(OSSL_FUNC_DIGEST_UPDATE, digest_update),                      \
        P11BE_FN(OSSL_FUNC_DIGEST_FINAL, digest_final),                        \
        P11BE_FN(OSSL_FUNC_DIGEST_FREECTX, digest_freectx),                    \
        P11BE_FN(OSSL_FUNC_DIGEST_DUPCTX, digest_dupctx),                      \
        P11BE_FN(OSSL_FUNC_DIGEST_GET_PARAMS, digest##i##_get_params),         \
        P11BE_FN(OSSL_FUNC_DIGEST_GETTABLE_PARAMS, digest_gettable_params),    \
        {0, NULL},                                                             \
    }

/* The index of each row in p11be_digests[]; the tables in algorithms.h. */
DIGEST_FUNCTIONS(0, p11be_digest_sha1_functions);
DIGEST_FUNCTIONS(1, p11be_digest_sha224_functions);
DIGEST_FUNCTIONS(2, p11be_digest_sha256_functions);
DIGEST_FUNCTIONS(3, p11be_digest_sha384_functions);
DIGEST_FUNCTIONS(4, p11be_digest_sha512_functions);
DIGEST_FUNCTIONS(5, p11be_digest_md5_functions);
