/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CTR-DRBG, HASH-DRBG and HMAC-DRBG that run whole in OpenSSL's default
 * provider, inside pkcs11be's private library context.
 *
 * Why: with pkcs11be preferred (default_properties = ?provider=pkcs11be),
 * OpenSSL's own DRBG fetches its AES-256-CTR, digest or HMAC from
 * pkcs11be, so every RAND_bytes costs token calls, and a token without
 * CKM_AES_CTR breaks `openssl rand`. Offering the DRBGs here, under their
 * own names, makes the preferred DRBG one whose every part is the default
 * provider's: a DRBG never costs a token call.
 *
 * The parent. OpenSSL hands a DRBG its parent (the seed source, or the
 * primary DRBG) as a context pointer and a dispatch table, and the public
 * API can only give an EVP_RAND_CTX a parent that is itself an
 * EVP_RAND_CTX. So each wrapped DRBG with a parent gets one more
 * context: "PKCS11BE-PARENT", from a built-in provider in a library
 * context of its own (so the private context stays default-only), which
 * passes every call on to the real parent's functions.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "provider.h"
#include "reentry.h"

/* The real parent's functions, as its dispatch table gave them. */
typedef struct {
    void *ctx;
    OSSL_FUNC_rand_enable_locking_fn *enable_locking;
    OSSL_FUNC_rand_lock_fn *lock;
    OSSL_FUNC_rand_unlock_fn *unlock;
    OSSL_FUNC_rand_get_ctx_params_fn *get_ctx_params;
    OSSL_FUNC_rand_get_seed_fn *get_seed;
    OSSL_FUNC_rand_clear_seed_fn *clear_seed;
} PARENT;

/* ---- the parent proxy ------------------------------------------------ */

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

static int proxy_instantiate(void *vctx, unsigned int strength,
                             int prediction_resistance,
                             const unsigned char *pstr, size_t pstr_len,
                             const OSSL_PARAM params[])
{
    (void)vctx;
    (void)strength;
    (void)prediction_resistance;
    (void)pstr;
    (void)pstr_len;
    (void)params;
    return 1;
}

static int proxy_uninstantiate(void *vctx)
{
    (void)vctx;
    return 1;
}

/* A DRBG asks its parent for seeds, never for output. */
static int proxy_generate(void *vctx, unsigned char *out, size_t outlen,
                          unsigned int strength, int prediction_resistance,
                          const unsigned char *adin, size_t adin_len)
{
    (void)vctx;
    (void)out;
    (void)outlen;
    (void)strength;
    (void)prediction_resistance;
    (void)adin;
    (void)adin_len;
    return 0;
}

static int proxy_enable_locking(void *vctx)
{
    PARENT *p = vctx;

    return p->enable_locking == NULL || p->enable_locking(p->ctx);
}

static int proxy_lock(void *vctx)
{
    PARENT *p = vctx;

    return p->lock == NULL || p->lock(p->ctx);
}

static void proxy_unlock(void *vctx)
{
    PARENT *p = vctx;

    if (p->unlock != NULL)
        p->unlock(p->ctx);
}

static const OSSL_PARAM *proxy_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
        OSSL_PARAM_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static int proxy_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    PARENT *p = vctx;

    return p->get_ctx_params != NULL && p->get_ctx_params(p->ctx, params);
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
    unsigned char *theirs = NULL, *mine;
    size_t len;

    if (p->get_seed == NULL)
        return 0;
    len = p->get_seed(p->ctx, &theirs, entropy, min_len, max_len,
                      prediction_resistance, adin, adin_len);
    if (len == 0)
        return 0;
    mine = OPENSSL_secure_malloc(len);
    if (mine != NULL)
        memcpy(mine, theirs, len);
    if (p->clear_seed != NULL)
        p->clear_seed(p->ctx, theirs, len);
    if (mine == NULL)
        return 0;
    *buffer = mine;
    return len;
}

static void proxy_clear_seed(void *vctx, unsigned char *buffer, size_t b_len)
{
    (void)vctx;
    OPENSSL_secure_clear_free(buffer, b_len);
}

static const OSSL_DISPATCH proxy_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))proxy_newctx},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))proxy_freectx},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))proxy_instantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))proxy_uninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))proxy_generate},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))proxy_enable_locking},
    {OSSL_FUNC_RAND_LOCK, (void (*)(void))proxy_lock},
    {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))proxy_unlock},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS,
     (void (*)(void))proxy_gettable_ctx_params},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))proxy_get_ctx_params},
    {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))proxy_get_seed},
    {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))proxy_clear_seed},
    {0, NULL},
};

static const OSSL_ALGORITHM proxy_algorithms[] = {
    {"PKCS11BE-PARENT", "provider=pkcs11be-parent", proxy_functions, NULL},
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
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))proxy_query},
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
    if (OSSL_PROVIDER_add_builtin(libctx, "pkcs11be-parent",
                                  proxy_provider_init))
        *provider = OSSL_PROVIDER_load(libctx, "pkcs11be-parent");
    if (*provider != NULL)
        *kept = EVP_RAND_fetch(libctx, "PKCS11BE-PARENT", NULL);
    return *kept != NULL;
}

static void proxy_free(void *rand)
{
    EVP_RAND_free(rand);
}

/* The PKCS11BE-PARENT method, in a library context of its own. */
static struct p11be_libctx_ref proxy = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                        .load = proxy_load,
                                        .free_kept = proxy_free};

static EVP_RAND *proxy_prepare(void)
{
    return p11be_libctx_ref_get(&proxy) ? proxy.kept : NULL;
}

static void proxy_release(void)
{
    p11be_libctx_ref_put(&proxy);
}

/* ---- the DRBGs ------------------------------------------------------- */

typedef struct {
    P11BE_PROV_CTX *prov;
    const char *name;
    EVP_RAND_CTX *inner; /* the default provider's DRBG, private libctx */
    EVP_RAND_CTX *proxy; /* its parent, passing calls on; NULL: none */
    PARENT *parent;      /* what the proxy passes them to */
    CRYPTO_RWLOCK *lock; /* made by enable_locking */
    int fallback_held;   /* p11be_fallback_prepare() succeeded */
} DRBG_CTX;

static void drbg_freectx(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_RAND_CTX_free(ctx->inner);
    if (ctx->proxy != NULL) {
        EVP_RAND_CTX_free(ctx->proxy);
        proxy_release();
    }
    OPENSSL_free(ctx->parent);
    CRYPTO_THREAD_lock_free(ctx->lock);
    if (ctx->fallback_held)
        p11be_fallback_release();
    OPENSSL_free(ctx);
}

static PARENT *parent_from(void *parent, const OSSL_DISPATCH *d)
{
    PARENT *p = OPENSSL_zalloc(sizeof(*p));

    if (p == NULL)
        return NULL;
    p->ctx = parent;
    for (; d != NULL && d->function_id != 0; d++) {
        switch (d->function_id) {
        case OSSL_FUNC_RAND_ENABLE_LOCKING:
            p->enable_locking = OSSL_FUNC_rand_enable_locking(d);
            break;
        case OSSL_FUNC_RAND_LOCK:
            p->lock = OSSL_FUNC_rand_lock(d);
            break;
        case OSSL_FUNC_RAND_UNLOCK:
            p->unlock = OSSL_FUNC_rand_unlock(d);
            break;
        case OSSL_FUNC_RAND_GET_CTX_PARAMS:
            p->get_ctx_params = OSSL_FUNC_rand_get_ctx_params(d);
            break;
        case OSSL_FUNC_RAND_GET_SEED:
            p->get_seed = OSSL_FUNC_rand_get_seed(d);
            break;
        case OSSL_FUNC_RAND_CLEAR_SEED:
            p->clear_seed = OSSL_FUNC_rand_clear_seed(d);
            break;
        default:
            break;
        }
    }
    return p;
}

static void *drbg_newctx(P11BE_PROV_CTX *prov, const char *name, void *parent,
                         const OSSL_DISPATCH *parent_dispatch)
{
    DRBG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));
    EVP_RAND *rand = NULL, *proxy_alg;

    if (ctx == NULL) {
        p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY, "%s context", name);
        return NULL;
    }
    ctx->prov = prov;
    ctx->name = name;
    if (!p11be_fallback_prepare()) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot load OpenSSL's default provider into a "
                    "private library context",
                    name);
        goto err;
    }
    ctx->fallback_held = 1;
    rand = EVP_RAND_fetch(p11be_fallback_libctx(), name, NULL);
    if (rand == NULL) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: the default provider does not offer it", name);
        goto err;
    }
    if (parent != NULL) {
        proxy_alg = proxy_prepare();
        if (proxy_alg == NULL) {
            p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                        "%s: cannot pass its parent on", name);
            goto err;
        }
        ctx->parent = parent_from(parent, parent_dispatch);
        pending_parent = ctx->parent;
        if (ctx->parent != NULL)
            ctx->proxy = EVP_RAND_CTX_new(proxy_alg, NULL);
        pending_parent = NULL;
        if (ctx->proxy == NULL) {
            proxy_release();
            p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY,
                        "%s: its parent's proxy", name);
            goto err;
        }
    }
    ctx->inner = EVP_RAND_CTX_new(rand, ctx->proxy);
    EVP_RAND_free(rand);
    rand = NULL;
    if (ctx->inner == NULL) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: the default provider's context", name);
        goto err;
    }
    return ctx;
err:
    EVP_RAND_free(rand);
    drbg_freectx(ctx);
    return NULL;
}

/*
 * The caller's parameters without the property query: "provider=pkcs11be"
 * (the [random] section's properties, given to the DRBG) would make the
 * default provider's DRBG look for its cipher where it cannot be, and the
 * point is that its parts are the default provider's. NULL on no memory.
 */
static OSSL_PARAM *params_without_properties(const OSSL_PARAM params[],
                                             OSSL_PARAM **to_free)
{
    size_t n = 0, i, j = 0;
    OSSL_PARAM *copy;

    *to_free = NULL;
    if (params == NULL)
        return NULL;
    while (params[n].key != NULL)
        n++;
    copy = OPENSSL_malloc((n + 1) * sizeof(*copy));
    if (copy == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (strcmp(params[i].key, OSSL_DRBG_PARAM_PROPERTIES) != 0)
            copy[j++] = params[i];
    copy[j] = OSSL_PARAM_construct_end();
    *to_free = copy;
    return copy;
}

/* params_without_properties, raising when it cannot copy them. */
static int drbg_params(DRBG_CTX *ctx, const OSSL_PARAM params[],
                       const OSSL_PARAM **filtered, OSSL_PARAM **copy)
{
    *filtered = params_without_properties(params, copy);
    if (params == NULL || *filtered != NULL)
        return 1;
    p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s parameters",
                ctx->name);
    return 0;
}

static int drbg_instantiate(void *vctx, unsigned int strength,
                            int prediction_resistance,
                            const unsigned char *pstr, size_t pstr_len,
                            const OSSL_PARAM params[])
{
    DRBG_CTX *ctx = vctx;
    const OSSL_PARAM *filtered;
    OSSL_PARAM *copy;
    int ok;

    if (!drbg_params(ctx, params, &filtered, &copy))
        return 0;
    p11be_delegated_note(ctx->prov, ctx->name);
    ok = EVP_RAND_instantiate(ctx->inner, strength, prediction_resistance, pstr,
                              pstr_len, filtered);
    OPENSSL_free(copy);
    return ok;
}

static int drbg_uninstantiate(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    return EVP_RAND_uninstantiate(ctx->inner);
}

static int drbg_generate(void *vctx, unsigned char *out, size_t outlen,
                         unsigned int strength, int prediction_resistance,
                         const unsigned char *adin, size_t adin_len)
{
    DRBG_CTX *ctx = vctx;

    return EVP_RAND_generate(ctx->inner, out, outlen, strength,
                             prediction_resistance, adin, adin_len);
}

static int drbg_reseed(void *vctx, int prediction_resistance,
                       const unsigned char *ent, size_t ent_len,
                       const unsigned char *adin, size_t adin_len)
{
    DRBG_CTX *ctx = vctx;

    return EVP_RAND_reseed(ctx->inner, prediction_resistance, ent, ent_len,
                           adin, adin_len);
}

static int drbg_enable_locking(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    if (ctx->lock == NULL && (ctx->lock = CRYPTO_THREAD_lock_new()) == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s lock",
                    ctx->name);
        return 0;
    }
    /* Also locks the parent chain, as OpenSSL's own DRBG does. */
    return EVP_RAND_enable_locking(ctx->inner);
}

static int drbg_lock(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    return ctx->lock == NULL || CRYPTO_THREAD_write_lock(ctx->lock);
}

static void drbg_unlock(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    if (ctx->lock != NULL)
        CRYPTO_THREAD_unlock(ctx->lock);
}

static int drbg_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    DRBG_CTX *ctx = vctx;

    return EVP_RAND_CTX_get_params(ctx->inner, params);
}

static int drbg_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    DRBG_CTX *ctx = vctx;
    const OSSL_PARAM *filtered;
    OSSL_PARAM *copy;
    int ok;

    if (!drbg_params(ctx, params, &filtered, &copy))
        return 0;
    ok = EVP_RAND_CTX_set_params(ctx->inner, filtered);
    OPENSSL_free(copy);
    return ok;
}

static int drbg_verify_zeroization(void *vctx)
{
    DRBG_CTX *ctx = vctx;

    return EVP_RAND_verify_zeroization(ctx->inner);
}

/* As a parent (the primary DRBG of the public and private ones). */
static size_t drbg_get_seed(void *vctx, unsigned char **buffer, int entropy,
                            size_t min_len, size_t max_len,
                            int prediction_resistance,
                            const unsigned char *adin, size_t adin_len)
{
    DRBG_CTX *ctx = vctx;
    size_t len = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
    unsigned char *seed;

    if (len < min_len)
        len = min_len;
    if (len > max_len)
        len = max_len;
    if (len == 0)
        return 0;
    seed = OPENSSL_secure_malloc(len);
    if (seed == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY, "%s seed",
                    ctx->name);
        return 0;
    }
    if (!EVP_RAND_generate(ctx->inner, seed, len, 0, prediction_resistance,
                           adin, adin_len)) {
        OPENSSL_secure_clear_free(seed, len);
        return 0;
    }
    *buffer = seed;
    return len;
}

/* Must not read `vctx`: OpenSSL 3.0 passes the child's context here. */
static void drbg_clear_seed(void *vctx, unsigned char *buffer, size_t b_len)
{
    (void)vctx;
    OPENSSL_secure_clear_free(buffer, b_len);
}

/*
 * Parameter lists: asked with or without a context, so from an algorithm
 * fetched in the private library context by name.
 */
static const OSSL_PARAM *drbg_list(const char *name, void *vctx, int settable)
{
    DRBG_CTX *ctx = vctx;
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

#define DRBG_FUNCTIONS(id, NAME)                                               \
    static void *drbg_##id##_newctx(void *provctx, void *parent,               \
                                    const OSSL_DISPATCH *parent_dispatch)      \
    {                                                                          \
        return drbg_newctx(provctx, NAME, parent, parent_dispatch);            \
    }                                                                          \
    static const OSSL_PARAM *drbg_##id##_gettable(void *vctx, void *provctx)   \
    {                                                                          \
        (void)provctx;                                                         \
        return drbg_list(NAME, vctx, 0);                                       \
    }                                                                          \
    static const OSSL_PARAM *drbg_##id##_settable(void *vctx, void *provctx)   \
    {                                                                          \
        (void)provctx;                                                         \
        return drbg_list(NAME, vctx, 1);                                       \
    }                                                                          \
    const OSSL_DISPATCH p11be_drbg_##id##_functions[] = {                      \
        {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))drbg_##id##_newctx},           \
        {OSSL_FUNC_RAND_FREECTX, (void (*)(void))drbg_freectx},                \
        {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))drbg_instantiate},        \
        {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))drbg_uninstantiate},    \
        {OSSL_FUNC_RAND_GENERATE, (void (*)(void))drbg_generate},              \
        {OSSL_FUNC_RAND_RESEED, (void (*)(void))drbg_reseed},                  \
        {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))drbg_enable_locking},  \
        {OSSL_FUNC_RAND_LOCK, (void (*)(void))drbg_lock},                      \
        {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))drbg_unlock},                  \
        {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS,                                   \
         (void (*)(void))drbg_##id##_gettable},                                \
        {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))drbg_get_ctx_params},  \
        {OSSL_FUNC_RAND_SETTABLE_CTX_PARAMS,                                   \
         (void (*)(void))drbg_##id##_settable},                                \
        {OSSL_FUNC_RAND_SET_CTX_PARAMS, (void (*)(void))drbg_set_ctx_params},  \
        {OSSL_FUNC_RAND_VERIFY_ZEROIZATION,                                    \
         (void (*)(void))drbg_verify_zeroization},                             \
        {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))drbg_get_seed},              \
        {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))drbg_clear_seed},          \
        {0, NULL},                                                             \
    };

DRBG_FUNCTIONS(ctr, "CTR-DRBG")
DRBG_FUNCTIONS(hash, "HASH-DRBG")
DRBG_FUNCTIONS(hmac, "HMAC-DRBG")
