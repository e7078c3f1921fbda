/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkcs11be's RANDs: PKCS11-RAND, the token's C_GenerateRandom, and
 * CTR-DRBG, HASH-DRBG and HMAC-DRBG, run whole by OpenSSL's default
 * provider in pkcs11be's private library context.
 *
 * PKCS11-RAND can be fetched directly or named as the seed source of
 * OpenSSL's DRBG ([random] seed = PKCS11-RAND). Its name is its own, not
 * SEED-SRC: with pkcs11be preferred (default_properties), a SEED-SRC here
 * would silently become every DRBG's seed source. It has no state of its
 * own to seed, so instantiate and reseed only change the state, and it
 * never touches the token before the first bytes are asked for: OpenSSL
 * instantiates a seed source while it holds its DRBG lock, and a module
 * that opens while that lock is held and asks OpenSSL for random bytes
 * (SoftHSM2 does) would find it taken. SoftHSM2's C_GenerateRandom is
 * OpenSSL's RAND_bytes: when this RAND seeds the DRBG that RAND_bytes
 * uses, a reseed inside that call comes back here while the thread is
 * inside the module, and is served by the private library context.
 *
 * The DRBGs. With pkcs11be preferred, OpenSSL's own DRBG fetches its
 * AES-256-CTR, digest or HMAC from pkcs11be, so every RAND_bytes costs
 * token calls, and a token without CKM_AES_CTR breaks `openssl rand`.
 * Offering the DRBGs here, under their own names, makes the preferred DRBG
 * one whose every part is the default provider's: never a token call.
 *
 * A DRBG's parent. OpenSSL hands a DRBG its parent (the seed source, or
 * the primary DRBG) as a context pointer and a dispatch table, and the
 * public API can only give an EVP_RAND_CTX a parent that is itself an
 * EVP_RAND_CTX. So each wrapped DRBG with a parent gets one more context:
 * "PKCS11BE-PARENT", from a built-in provider in a library context of its
 * own (so the private context stays default-only), which passes every
 * call on to the real parent's functions.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "algorithms.h"
#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"
#include "runner.h"

/*
 * Bytes per C_GenerateRandom: EVP_RAND_generate splits larger requests.
 * Large enough that a DRBG seed or a key is one call.
 */
#define RAND_MAX_REQUEST 65536
/* What a token's generator is trusted for, as OpenSSL's SEED-SRC. */
#define RAND_STRENGTH 256

/* A DRBG's real parent: its context and its method's dispatch table. */
typedef struct {
    void *ctx;
    const OSSL_DISPATCH *dispatch; /* static in its provider, kept loaded */
} PARENT;

/*
 * Every RAND's context: PKCS11-RAND's, or a DRBG's (inner set), whose
 * entries pass each call on to inner.
 */
typedef struct {
    P11BE_PROV_CTX *prov; /* provider that made us */
    const char *name;     /* "PKCS11-RAND", "CTR-DRBG" ..: for messages */
    /*
     * Made by enable_locking. OpenSSL's lock, not a mutex: a thread that
     * comes back for it from inside a token call gets an error, not a hang.
     */
    CRYPTO_RWLOCK *lock;
    int state;           /* PKCS11-RAND's EVP_RAND_STATE_* */
    EVP_RAND_CTX *inner; /* the default provider's DRBG, private libctx */
    EVP_RAND_CTX *proxy; /* inner's parent, passing calls on; NULL: none */
    PARENT parent;       /* what the proxy passes them to */
    int fallback_held;   /* p11be_fallback_prepare() succeeded */
} RAND_CTX;

static OSSL_FUNC_rand_newctx_fn rand_newctx;
static OSSL_FUNC_rand_freectx_fn rand_freectx;
static OSSL_FUNC_rand_instantiate_fn rand_instantiate;
static OSSL_FUNC_rand_uninstantiate_fn rand_uninstantiate;
static OSSL_FUNC_rand_generate_fn rand_generate;
static OSSL_FUNC_rand_reseed_fn rand_reseed;
static OSSL_FUNC_rand_enable_locking_fn rand_enable_locking;
static OSSL_FUNC_rand_lock_fn rand_lock;
static OSSL_FUNC_rand_unlock_fn rand_unlock;
static OSSL_FUNC_rand_gettable_ctx_params_fn rand_gettable_ctx_params;
static OSSL_FUNC_rand_get_ctx_params_fn rand_get_ctx_params;
static OSSL_FUNC_rand_verify_zeroization_fn rand_verify_zeroization;
static OSSL_FUNC_rand_get_seed_fn rand_get_seed;
static OSSL_FUNC_rand_clear_seed_fn rand_clear_seed;

/* The PKCS11BE-PARENT provider's library context (below). */
static struct p11be_libctx_ref proxy;

static RAND_CTX *rand_ctx_new(P11BE_PROV_CTX *prov, const char *name)
{
    RAND_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY, "%s context", name);
        return NULL;
    }
    ctx->prov = prov;
    ctx->name = name;
    ctx->state = EVP_RAND_STATE_UNINITIALISED;
    return ctx;
}

static void rand_freectx(void *vctx)
{
    RAND_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_RAND_CTX_free(ctx->inner);
    if (ctx->proxy != NULL) {
        EVP_RAND_CTX_free(ctx->proxy);
        p11be_libctx_ref_put(&proxy);
    }
    CRYPTO_THREAD_lock_free(ctx->lock);
    if (ctx->fallback_held)
        p11be_fallback_release();
    OPENSSL_free(ctx);
}

/* A DRBG's also locks its parent chain, as OpenSSL's own DRBG does. */
static int rand_enable_locking(void *vctx)
{
    RAND_CTX *ctx = vctx;

    if (ctx->lock == NULL && (ctx->lock = CRYPTO_THREAD_lock_new()) == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s lock",
                    ctx->name);
        return 0;
    }
    return ctx->inner == NULL || EVP_RAND_enable_locking(ctx->inner);
}

static int rand_lock(void *vctx)
{
    RAND_CTX *ctx = vctx;

    return ctx->lock == NULL || CRYPTO_THREAD_write_lock(ctx->lock);
}

static void rand_unlock(void *vctx)
{
    RAND_CTX *ctx = vctx;

    if (ctx->lock != NULL)
        CRYPTO_THREAD_unlock(ctx->lock);
}

static int rand_uninstantiate(void *vctx)
{
    RAND_CTX *ctx = vctx;

    ctx->state = EVP_RAND_STATE_UNINITIALISED;
    return ctx->inner == NULL || EVP_RAND_uninstantiate(ctx->inner);
}

/* PKCS11-RAND keeps nothing secret: every byte goes straight out. */
static int rand_verify_zeroization(void *vctx)
{
    RAND_CTX *ctx = vctx;

    return ctx->inner == NULL || EVP_RAND_verify_zeroization(ctx->inner);
}

/* Must not read its context: OpenSSL 3.0 passes the child's, not ours. */
static void rand_clear_seed(void *vctx, unsigned char *buffer, size_t b_len)
{
    (void)vctx;
    OPENSSL_secure_clear_free(buffer, b_len);
}

/* ---- PKCS11-RAND ---- */

static void *rand_newctx(void *provctx, void *parent,
                         const OSSL_DISPATCH *parent_dispatch)
{
    P11BE_PROV_CTX *prov = provctx;

    (void)parent_dispatch;
    if (parent != NULL) {
        p11be_raise(prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND is a seed source and takes no parent");
        return NULL;
    }
    return rand_ctx_new(prov, "PKCS11-RAND");
}

/*
 * Whether a request may be served: instantiated (unless `instantiating`),
 * and for no more than the token's strength. 0 (raised) if not.
 */
static int rand_may(RAND_CTX *ctx, const char *what, unsigned int strength,
                    int instantiating)
{
    if (!instantiating && ctx->state != EVP_RAND_STATE_READY) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "PKCS11-RAND: %s before instantiate", what);
        return 0;
    }
    if (strength > RAND_STRENGTH) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND: strength %u asked for, %d offered", strength,
                    RAND_STRENGTH);
        return 0;
    }
    return 1;
}

/* The token needs no seed or personalisation: only the state changes. */
static int rand_instantiate(void *vctx, unsigned int strength,
                            int prediction_resistance,
                            const unsigned char *pstr, size_t pstr_len,
                            const OSSL_PARAM params[])
{
    RAND_CTX *ctx = vctx;

    (void)prediction_resistance;
    (void)pstr;
    (void)pstr_len;
    (void)params;
    if (!rand_may(ctx, "instantiate", strength, 1))
        return 0;
    ctx->state = EVP_RAND_STATE_READY;
    return 1;
}

static CK_RV rand_step(struct p11be_run *run, P11BE_SESSION *sess,
                       CK_OBJECT_HANDLE obj)
{
    struct p11be_buf *buf = run->arg;

    (void)obj;
    return P11BE_CALL(sess->fns, C_GenerateRandom, sess->handle, buf->data,
                      (CK_ULONG)buf->len);
}

static int rand_bytes(RAND_CTX *ctx, unsigned char *out, size_t outlen)
{
    struct p11be_buf buf = {out, outlen};
    struct p11be_run run = {
        .tc = &ctx->prov->tc,
        .fn = "C_GenerateRandom",
        .step = rand_step,
        .arg = &buf,
    };

    if (outlen == 0)
        return 1;
    if (p11be_reentered()) {
        P11BE_DEBUG("re-entered from the module: %zu random bytes by the "
                    "default provider",
                    outlen);
        if (RAND_bytes_ex(p11be_fallback_libctx(), out, outlen, RAND_STRENGTH)
            > 0)
            return 1;
        p11be_raise(ctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                    "PKCS11-RAND: random bytes asked for from inside a token "
                    "call, and the default provider gave none");
        return 0;
    }
    if (p11be_run(&run))
        return 1;
    /* Never hand out what a failed call may have left. */
    OPENSSL_cleanse(out, outlen);
    return 0;
}

/* Every call is fresh from the token: resistant by nature. */
static int rand_generate(void *vctx, unsigned char *out, size_t outlen,
                         unsigned int strength, int prediction_resistance,
                         const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;

    if (ctx->inner != NULL)
        return EVP_RAND_generate(ctx->inner, out, outlen, strength,
                                 prediction_resistance, adin, adin_len);
    return rand_may(ctx, "generate", strength, 0)
           && rand_bytes(ctx, out, outlen);
}

/* The token seeds itself; what the caller offers is not needed. */
static int rand_reseed(void *vctx, int prediction_resistance,
                       const unsigned char *ent, size_t ent_len,
                       const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;

    if (ctx->inner != NULL)
        return EVP_RAND_reseed(ctx->inner, prediction_resistance, ent, ent_len,
                               adin, adin_len);
    return rand_may(ctx, "reseed", 0, 0);
}

static const OSSL_PARAM rand_gettable[] = {
    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *rand_gettable_ctx_params(void *vctx, void *provctx)
{
    (void)vctx;
    (void)provctx;
    return rand_gettable;
}

static int rand_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    RAND_CTX *ctx = vctx;
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
    OSSL_PARAM *strength = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
    OSSL_PARAM *max = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);

    if (ctx->inner != NULL)
        return EVP_RAND_CTX_get_params(ctx->inner, params);
    return (p == NULL || OSSL_PARAM_set_int(p, ctx->state))
           && (strength == NULL || OSSL_PARAM_set_uint(strength, RAND_STRENGTH))
           && (max == NULL || OSSL_PARAM_set_size_t(max, RAND_MAX_REQUEST));
}

/* As a parent: `entropy` bits in min_len..max_len bytes. */
static size_t rand_get_seed(void *vctx, unsigned char **buffer, int entropy,
                            size_t min_len, size_t max_len,
                            int prediction_resistance,
                            const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;
    size_t limit = ctx->inner != NULL ? max_len : RAND_MAX_REQUEST;
    size_t len = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
    unsigned char *seed;
    int ok;

    len = len < min_len ? min_len : len > max_len ? max_len : len;
    if (len == 0 || len > limit) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: a seed of %zu..%zu bytes asked for", ctx->name,
                    min_len, max_len);
        return 0;
    }
    if ((seed = OPENSSL_secure_malloc(len)) == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s seed",
                    ctx->name);
        return 0;
    }
    if (ctx->inner != NULL)
        ok = EVP_RAND_generate(ctx->inner, seed, len, 0, prediction_resistance,
                               adin, adin_len);
    else if (!(ok = rand_bytes(ctx, seed, len)))
        /* The likely cause when it is the process's own DRBG being seeded. */
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "PKCS11-RAND: no seed from the token (a module that "
                    "draws its own random bytes from this process's OpenSSL, "
                    "as SoftHSM2 does, cannot seed this process's DRBG)");
    if (!ok) {
        OPENSSL_secure_clear_free(seed, len);
        return 0;
    }
    *buffer = seed;
    return len;
}

const OSSL_DISPATCH p11be_rand_pkcs11_functions[] = {
    P11BE_FN(OSSL_FUNC_RAND_NEWCTX, rand_newctx),
    P11BE_FN(OSSL_FUNC_RAND_FREECTX, rand_freectx),
    P11BE_FN(OSSL_FUNC_RAND_INSTANTIATE, rand_instantiate),
    P11BE_FN(OSSL_FUNC_RAND_UNINSTANTIATE, rand_uninstantiate),
    P11BE_FN(OSSL_FUNC_RAND_GENERATE, rand_generate),
    P11BE_FN(OSSL_FUNC_RAND_RESEED, rand_reseed),
    P11BE_FN(OSSL_FUNC_RAND_ENABLE_LOCKING, rand_enable_locking),
    P11BE_FN(OSSL_FUNC_RAND_LOCK, rand_lock),
    P11BE_FN(OSSL_FUNC_RAND_UNLOCK, rand_unlock),
    P11BE_FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, rand_gettable_ctx_params),
    P11BE_FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, rand_get_ctx_params),
    P11BE_FN(OSSL_FUNC_RAND_VERIFY_ZEROIZATION, rand_verify_zeroization),
    P11BE_FN(OSSL_FUNC_RAND_GET_SEED, rand_get_seed),
    P11BE_FN(OSSL_FUNC_RAND_CLEAR_SEED, rand_clear_seed),
    {0, NULL},
};

/* ---- PKCS11BE-PARENT: a DRBG's real parent behind an EVP_RAND_CTX ---- */

static const OSSL_DISPATCH *parent_fn(const PARENT *p, int id)
{
    const OSSL_DISPATCH *d;

    for (d = p->dispatch; d != NULL && d->function_id != 0; d++)
        if (d->function_id == id)
            return d;
    return NULL;
}

/* Handed from drbg_newctx to proxy_newctx across EVP_RAND_CTX_new. */
static __thread PARENT *pending_parent;

static void *proxy_newctx(void *provctx, void *parent,
                          const OSSL_DISPATCH *parent_dispatch)
{
    (void)provctx;
    (void)parent;
    (void)parent_dispatch;
    return pending_parent;
}

static void proxy_freectx(void *vctx)
{
    (void)vctx; /* owned by the DRBG context */
}

/*
 * A DRBG instantiates itself from its parent's seeds and asks it for
 * nothing else, so these three are never called: OpenSSL's fetch only
 * wants them to exist.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
static int proxy_instantiate(void *vctx, unsigned int strength,
                             int prediction_resistance,
                             const unsigned char *pstr, size_t pstr_len,
                             const OSSL_PARAM params[])
{
    return 1;
}

static int proxy_uninstantiate(void *vctx)
{
    return 1;
}

static int proxy_generate(void *vctx, unsigned char *out, size_t outlen,
                          unsigned int strength, int prediction_resistance,
                          const unsigned char *adin, size_t adin_len)
{
    return 0;
}
#pragma GCC diagnostic pop

static int proxy_enable_locking(void *vctx)
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *d = parent_fn(p, OSSL_FUNC_RAND_ENABLE_LOCKING);

    return d == NULL || OSSL_FUNC_rand_enable_locking(d)(p->ctx);
}

static int proxy_lock(void *vctx)
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *d = parent_fn(p, OSSL_FUNC_RAND_LOCK);

    return d == NULL || OSSL_FUNC_rand_lock(d)(p->ctx);
}

static void proxy_unlock(void *vctx)
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *d = parent_fn(p, OSSL_FUNC_RAND_UNLOCK);

    if (d != NULL)
        OSSL_FUNC_rand_unlock(d)(p->ctx);
}

/*
 * No gettable list: a DRBG asks its parent's get_ctx_params directly, and
 * nothing lists a method of this private library context.
 */
static int proxy_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *d = parent_fn(p, OSSL_FUNC_RAND_GET_CTX_PARAMS);

    return d != NULL && OSSL_FUNC_rand_get_ctx_params(d)(p->ctx, params);
}

/*
 * The parent's seed, copied: OpenSSL 3.0's DRBG hands clear_seed its own
 * context, not its parent's, so the parent's buffer is given back to the
 * parent here, where its context is known.
 */
static size_t proxy_get_seed(void *vctx, unsigned char **buffer, int entropy,
                             size_t min_len, size_t max_len,
                             int prediction_resistance,
                             const unsigned char *adin, size_t adin_len)
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *get = parent_fn(p, OSSL_FUNC_RAND_GET_SEED);
    const OSSL_DISPATCH *clear = parent_fn(p, OSSL_FUNC_RAND_CLEAR_SEED);
    unsigned char *theirs = NULL, *mine;
    size_t len;

    if (get == NULL)
        return 0;
    len =
        OSSL_FUNC_rand_get_seed(get)(p->ctx, &theirs, entropy, min_len, max_len,
                                     prediction_resistance, adin, adin_len);
    if (len == 0)
        return 0;
    mine = OPENSSL_secure_malloc(len);
    if (mine != NULL)
        memcpy(mine, theirs, len);
    if (clear != NULL)
        OSSL_FUNC_rand_clear_seed(clear)(p->ctx, theirs, len);
    if (mine == NULL)
        return 0;
    *buffer = mine;
    return len;
}

/*
 * OpenSSL's DRBG takes its nonce from the parent's nonce function when the
 * parent has one, and otherwise asks the parent's get_seed for entropy and
 * nonce in one longer seed: a different input (TEST-RAND's vectors need
 * the nonce). So the proxy has this function exactly when the parent has
 * it: PKCS11BE-PARENT-NONCE, or PKCS11BE-PARENT without it.
 */
static size_t proxy_nonce(void *vctx, unsigned char *out, unsigned int strength,
                          size_t min_noncelen, size_t max_noncelen)
{
    PARENT *p = vctx;
    const OSSL_DISPATCH *d = parent_fn(p, OSSL_FUNC_RAND_NONCE);

    return d == NULL ? 0
                     : OSSL_FUNC_rand_nonce(d)(p->ctx, out, strength,
                                               min_noncelen, max_noncelen);
}

/* With the nonce first, so that proxy_functions + 1 is the table without. */
static const OSSL_DISPATCH proxy_functions[] = {
    P11BE_FN(OSSL_FUNC_RAND_NONCE, proxy_nonce),
    P11BE_FN(OSSL_FUNC_RAND_NEWCTX, proxy_newctx),
    P11BE_FN(OSSL_FUNC_RAND_FREECTX, proxy_freectx),
    P11BE_FN(OSSL_FUNC_RAND_INSTANTIATE, proxy_instantiate),
    P11BE_FN(OSSL_FUNC_RAND_UNINSTANTIATE, proxy_uninstantiate),
    P11BE_FN(OSSL_FUNC_RAND_GENERATE, proxy_generate),
    P11BE_FN(OSSL_FUNC_RAND_ENABLE_LOCKING, proxy_enable_locking),
    P11BE_FN(OSSL_FUNC_RAND_LOCK, proxy_lock),
    P11BE_FN(OSSL_FUNC_RAND_UNLOCK, proxy_unlock),
    P11BE_FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, proxy_get_ctx_params),
    P11BE_FN(OSSL_FUNC_RAND_GET_SEED, proxy_get_seed),
    P11BE_FN(OSSL_FUNC_RAND_CLEAR_SEED, rand_clear_seed),
    {0, NULL},
};

static const OSSL_ALGORITHM proxy_algorithms[] = {
    {"PKCS11BE-PARENT", "provider=pkcs11be-parent", proxy_functions + 1, NULL},
    {"PKCS11BE-PARENT-NONCE", "provider=pkcs11be-parent", proxy_functions,
     NULL},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *proxy_query(void *provctx, int operation_id,
                                         int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    return operation_id == OSSL_OP_RAND ? proxy_algorithms : NULL;
}

static const OSSL_DISPATCH proxy_provider_functions[] = {
    P11BE_FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, proxy_query),
    {0, NULL},
};

static int proxy_provider_init(const OSSL_CORE_HANDLE *handle,
                               const OSSL_DISPATCH *in,
                               const OSSL_DISPATCH **out, void **provctx)
{
    (void)in;
    *out = proxy_provider_functions;
    *provctx = (void *)handle;
    return 1;
}

static int proxy_load(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provider,
                      void **kept)
{
    (void)kept;
    if (OSSL_PROVIDER_add_builtin(libctx, "pkcs11be-parent",
                                  proxy_provider_init))
        *provider = OSSL_PROVIDER_load(libctx, "pkcs11be-parent");
    return *provider != NULL;
}

static struct p11be_libctx_ref proxy = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                        .load = proxy_load};

/* ---- the DRBGs ---- */

static int drbg_proxy_new(RAND_CTX *ctx, void *parent,
                          const OSSL_DISPATCH *parent_dispatch)
{
    EVP_RAND *alg;

    ctx->parent.ctx = parent;
    ctx->parent.dispatch = parent_dispatch;
    if (!p11be_libctx_ref_get(&proxy))
        return 0;
    alg = EVP_RAND_fetch(proxy.libctx,
                         parent_fn(&ctx->parent, OSSL_FUNC_RAND_NONCE) != NULL
                             ? "PKCS11BE-PARENT-NONCE"
                             : "PKCS11BE-PARENT",
                         NULL);
    pending_parent = &ctx->parent;
    ctx->proxy = alg != NULL ? EVP_RAND_CTX_new(alg, NULL) : NULL;
    pending_parent = NULL;
    EVP_RAND_free(alg);
    if (ctx->proxy == NULL)
        p11be_libctx_ref_put(&proxy);
    return ctx->proxy != NULL;
}

static void *drbg_newctx(P11BE_PROV_CTX *prov, const char *name, void *parent,
                         const OSSL_DISPATCH *parent_dispatch)
{
    RAND_CTX *ctx = rand_ctx_new(prov, name);
    const char *why = NULL;
    EVP_RAND *rand;

    if (ctx == NULL)
        return NULL;
    ctx->fallback_held = p11be_fallback_prepare();
    if (!ctx->fallback_held) {
        why = "cannot load OpenSSL's default provider into a private library "
              "context";
    } else if (parent != NULL
               && !drbg_proxy_new(ctx, parent, parent_dispatch)) {
        why = "cannot pass its parent on";
    } else if ((rand = EVP_RAND_fetch(p11be_fallback_libctx(), name, NULL))
               == NULL) {
        why = "the default provider does not offer it";
    } else {
        ctx->inner = EVP_RAND_CTX_new(rand, ctx->proxy);
        EVP_RAND_free(rand);
        if (ctx->inner == NULL)
            why = "the default provider's context";
    }
    if (why == NULL)
        return ctx;
    p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED, "%s: %s", name, why);
    rand_freectx(ctx);
    return NULL;
}

/*
 * The caller's parameters without the property query, in *copy to free
 * (NULL for none): "provider=pkcs11be" (the [random] section's properties,
 * given to the DRBG) would make the default provider's DRBG look for its
 * cipher where it cannot be, and the point is that its parts are the
 * default provider's. 0 (raised) on no memory.
 */
static int drbg_params(RAND_CTX *ctx, const OSSL_PARAM params[],
                       OSSL_PARAM **copy)
{
    size_t n = 0, j = 0;

    *copy = NULL;
    if (params == NULL)
        return 1;
    while (params[n].key != NULL)
        n++;
    *copy = OPENSSL_malloc((n + 1) * sizeof(**copy));
    if (*copy == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s parameters",
                    ctx->name);
        return 0;
    }
    for (n = 0; params[n].key != NULL; n++)
        if (strcmp(params[n].key, OSSL_DRBG_PARAM_PROPERTIES) != 0)
            (*copy)[j++] = params[n];
    (*copy)[j] = OSSL_PARAM_construct_end();
    return 1;
}

static int drbg_instantiate(void *vctx, unsigned int strength,
                            int prediction_resistance,
                            const unsigned char *pstr, size_t pstr_len,
                            const OSSL_PARAM params[])
{
    RAND_CTX *ctx = vctx;
    OSSL_PARAM *copy;
    int ok;

    if (!drbg_params(ctx, params, &copy))
        return 0;
    p11be_delegated_note(ctx->prov, ctx->name);
    ok = EVP_RAND_instantiate(ctx->inner, strength, prediction_resistance, pstr,
                              pstr_len, copy);
    OPENSSL_free(copy);
    return ok;
}

static int drbg_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    RAND_CTX *ctx = vctx;
    OSSL_PARAM *copy;
    int ok;

    if (!drbg_params(ctx, params, &copy))
        return 0;
    ok = EVP_RAND_CTX_set_params(ctx->inner, copy);
    OPENSSL_free(copy);
    return ok;
}

/*
 * Parameter lists: asked with or without a context, so from an algorithm
 * fetched in the private library context by name.
 */
static const OSSL_PARAM *drbg_list(const char *name, void *vctx, int settable)
{
    RAND_CTX *ctx = vctx;
    const OSSL_PARAM *list;
    EVP_RAND *rand;

    if (ctx != NULL)
        return settable ? EVP_RAND_CTX_settable_params(ctx->inner)
                        : EVP_RAND_CTX_gettable_params(ctx->inner);
    if (p11be_fallback_libctx() == NULL)
        return NULL;
    rand = EVP_RAND_fetch(p11be_fallback_libctx(), name, NULL);
    if (rand == NULL)
        return NULL;
    /* Static in the default provider: outlives this reference. */
    list = settable ? EVP_RAND_settable_ctx_params(rand)
                    : EVP_RAND_gettable_ctx_params(rand);
    EVP_RAND_free(rand);
    return list;
}

/* One DRBG: the entries that must know its name, and its dispatch table. */
#define DRBG_KIND(newctx, gettable, settable, functions, name)                 \
    static void *newctx(void *provctx, void *parent,                           \
                        const OSSL_DISPATCH *parent_dispatch)                  \
    {                                                                          \
        return drbg_newctx(provctx, name, parent, parent_dispatch);            \
    }                                                                          \
    static const OSSL_PARAM *gettable(void *vctx, void *provctx)               \
    {                                                                          \
        (void)provctx;                                                         \
        return drbg_list(name, vctx, 0);                                       \
    }                                                                          \
    static const OSSL_PARAM *settable(void *vctx, void *provctx)               \
    {                                                                          \
        (void)provctx;                                                         \
        return drbg_list(name, vctx, 1);                                       \
    }                                                                          \
    const OSSL_DISPATCH functions[] = {                                        \
        P11BE_FN(OSSL_FUNC_RAND_NEWCTX, newctx),                               \
        P11BE_FN(OSSL_FUNC_RAND_FREECTX, rand_freectx),                        \
        P11BE_FN(OSSL_FUNC_RAND_INSTANTIATE, drbg_instantiate),                \
        P11BE_FN(OSSL_FUNC_RAND_UNINSTANTIATE, rand_uninstantiate),            \
        P11BE_FN(OSSL_FUNC_RAND_GENERATE, rand_generate),                      \
        P11BE_FN(OSSL_FUNC_RAND_RESEED, rand_reseed),                          \
        P11BE_FN(OSSL_FUNC_RAND_ENABLE_LOCKING, rand_enable_locking),          \
        P11BE_FN(OSSL_FUNC_RAND_LOCK, rand_lock),                              \
        P11BE_FN(OSSL_FUNC_RAND_UNLOCK, rand_unlock),                          \
        P11BE_FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, gettable),                \
        P11BE_FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, rand_get_ctx_params),          \
        P11BE_FN(OSSL_FUNC_RAND_SETTABLE_CTX_PARAMS, settable),                \
        P11BE_FN(OSSL_FUNC_RAND_SET_CTX_PARAMS, drbg_set_ctx_params),          \
        P11BE_FN(OSSL_FUNC_RAND_VERIFY_ZEROIZATION, rand_verify_zeroization),  \
        P11BE_FN(OSSL_FUNC_RAND_GET_SEED, rand_get_seed),                      \
        P11BE_FN(OSSL_FUNC_RAND_CLEAR_SEED, rand_clear_seed),                  \
        {0, NULL},                                                             \
    }

/* clang-format off */
DRBG_KIND(ctr_newctx, ctr_gettable, ctr_settable, p11be_drbg_ctr_functions, "CTR-DRBG");
DRBG_KIND(hash_newctx, hash_gettable, hash_settable, p11be_drbg_hash_functions, "HASH-DRBG");
DRBG_KIND(hmac_newctx, hmac_gettable, hmac_settable, p11be_drbg_hmac_functions, "HMAC-DRBG");
/* clang-format on */
