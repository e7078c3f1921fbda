/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message digests on the token, one for each row of digests.h (CKM_SHA_1,
 * CKM_SHA224 .. CKM_SHA512, CKM_MD5), run by the streaming engine
 * (stream.h: held input, streaming past the bound, copies).
 *
 * A context created while the thread is inside a call into the module
 * (re-entry, see reentry.h) is served by OpenSSL's default provider.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "debug.h"
#include "digests.h"
#include "err.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "stream.h"

struct digest_ctx_st {
    const P11BE_DIGEST *alg; /* which digest */
    EVP_MD_CTX *fallback;    /* set when made during re-entry */
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
    ctx->st.size = alg->size;
}

static void *digest_newctx(void *provctx, const P11BE_DIGEST *alg)
{
    DIGEST_CTX *ctx = digest_ctx_alloc(provctx);
    EVP_MD *md;

    if (ctx == NULL)
        return NULL;
    digest_ctx_setup(ctx, provctx, alg);
    if (!p11be_reentered())
        return ctx;
    P11BE_DEBUG("re-entered from the module: %s by the default provider",
                alg->name);
    /* The context keeps the digest: init again with NULL reuses it. */
    md = EVP_MD_fetch(p11be_fallback_libctx(), alg->name, NULL);
    ctx->fallback = EVP_MD_CTX_new();
    if (md == NULL || ctx->fallback == NULL
        || !EVP_DigestInit_ex2(ctx->fallback, md, NULL)) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s requested from inside a token call", alg->name);
        digest_freectx(ctx);
        ctx = NULL;
    }
    EVP_MD_free(md);
    return ctx;
}

static int digest_init(void *vctx, const OSSL_PARAM params[])
{
    DIGEST_CTX *ctx = vctx;
    P11BE_PROV_CTX *prov = ctx->st.prov;
    unsigned bit = 1u << (ctx->alg - p11be_digests);

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
        if (!p11be_check_mech(&prov->tc, ctx->alg->mech, ctx->alg->mech_name))
            return 0;
        __atomic_fetch_or(&prov->digest_checked, bit, __ATOMIC_RELEASE);
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

    if (ctx->fallback == NULL)
        return p11be_stream_final(&ctx->st, out, outl, outsz);
    ok = EVP_DigestFinal_ex(ctx->fallback, out, &len);
    *outl = len;
    return ok;
}

static int digest_update(void *vctx, const unsigned char *in, size_t inl)
{
    DIGEST_CTX *ctx = vctx;

    return ctx->fallback != NULL ? EVP_DigestUpdate(ctx->fallback, in, inl)
                                 : p11be_stream_update(&ctx->st, in, inl);
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
            : (dst->fallback = EVP_MD_CTX_new()) != NULL
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
