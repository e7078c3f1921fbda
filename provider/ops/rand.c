/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS11-RAND: random bytes from the token's C_GenerateRandom, as an
 * EVP_RAND that can be fetched directly or named as the seed source of
 * OpenSSL's DRBG ([random] seed = PKCS11-RAND). Its name is its own, not
 * SEED-SRC: with pkcs11be preferred (default_properties), a SEED-SRC here
 * would silently become every DRBG's seed source.
 *
 * A token RAND has no state of its own to seed, so instantiate and reseed
 * only change the state, and it never touches the token before the first
 * bytes are asked for: OpenSSL instantiates a seed source while it holds
 * its DRBG lock, and a module that opens while that lock is held and asks
 * OpenSSL for random bytes (SoftHSM2 does) would find it taken.
 *
 * Re-entry: SoftHSM2's C_GenerateRandom is OpenSSL's RAND_bytes. When this
 * RAND seeds the DRBG that RAND_bytes uses, a reseed inside that call
 * comes back here while the thread is inside the module: such requests are
 * served by the private library context (default provider only), never
 * the token.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "debug.h"
#include "err.h"
#include "names.h"
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

typedef struct {
    P11BE_PROV_CTX *prov;
    int state; /* EVP_RAND_STATE_* */
    /*
     * Made by enable_locking. OpenSSL's lock, not a mutex: a thread that
     * comes back for it from inside a token call gets an error, not a hang.
     */
    CRYPTO_RWLOCK *lock;
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

static void *rand_newctx(void *provctx, void *parent,
                         const OSSL_DISPATCH *parent_dispatch)
{
    P11BE_PROV_CTX *prov = provctx;
    RAND_CTX *ctx;

    (void)parent_dispatch;
    if (parent != NULL) {
        /* The token is the source: there is nothing to seed it from. */
        p11be_raise(prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND is a seed source and takes no parent");
        return NULL;
    }
    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL) {
        p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY, "PKCS11-RAND context");
        return NULL;
    }
    ctx->prov = prov;
    ctx->state = EVP_RAND_STATE_UNINITIALISED;
    return ctx;
}

static void rand_freectx(void *vctx)
{
    RAND_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    CRYPTO_THREAD_lock_free(ctx->lock);
    OPENSSL_free(ctx);
}

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
    if (strength > RAND_STRENGTH) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND: strength %u asked for, %d offered", strength,
                    RAND_STRENGTH);
        return 0;
    }
    ctx->state = EVP_RAND_STATE_READY;
    return 1;
}

static int rand_uninstantiate(void *vctx)
{
    RAND_CTX *ctx = vctx;

    ctx->state = EVP_RAND_STATE_UNINITIALISED;
    return 1;
}

/* The runner's step (runner.h): C_GenerateRandom into the request. */
static CK_RV rand_step(struct p11be_run *run, P11BE_SESSION *sess,
                       CK_OBJECT_HANDLE obj)
{
    struct p11be_buf *buf = run->arg;

    (void)obj;
    return P11BE_CALL(sess->fns, C_GenerateRandom, sess->handle, buf->data,
                      (CK_ULONG)buf->len);
}

/* One C_GenerateRandom on a pooled session, again on a new one if lost. */
static int rand_from_token(RAND_CTX *ctx, unsigned char *out, size_t outlen)
{
    struct p11be_buf buf = {out, outlen};
    struct p11be_run run = {
        .tc = &ctx->prov->tc,
        .fn = "C_GenerateRandom",
        .step = rand_step,
        .arg = &buf,
    };

    if (p11be_run(&run))
        return 1;
    /* Never hand out what a failed call may have left. */
    OPENSSL_cleanse(out, outlen);
    return 0;
}

static int rand_bytes(RAND_CTX *ctx, unsigned char *out, size_t outlen)
{
    if (outlen == 0)
        return 1;
    if (p11be_reentered()) {
        /* Asked from inside a token call (see the top of this file). */
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
    return rand_from_token(ctx, out, outlen);
}

static int rand_generate(void *vctx, unsigned char *out, size_t outlen,
                         unsigned int strength, int prediction_resistance,
                         const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;

    /* Every call is fresh from the token: resistant by nature. */
    (void)prediction_resistance;
    (void)adin;
    (void)adin_len;
    if (ctx->state != EVP_RAND_STATE_READY) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "PKCS11-RAND: generate before instantiate");
        return 0;
    }
    if (strength > RAND_STRENGTH) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND: strength %u asked for, %d offered", strength,
                    RAND_STRENGTH);
        return 0;
    }
    return rand_bytes(ctx, out, outlen);
}

static int rand_reseed(void *vctx, int prediction_resistance,
                       const unsigned char *ent, size_t ent_len,
                       const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;

    /* The token seeds itself; what the caller offers is not needed. */
    (void)prediction_resistance;
    (void)ent;
    (void)ent_len;
    (void)adin;
    (void)adin_len;
    if (ctx->state != EVP_RAND_STATE_READY) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "PKCS11-RAND: reseed before instantiate");
        return 0;
    }
    return 1;
}

static int rand_enable_locking(void *vctx)
{
    RAND_CTX *ctx = vctx;

    if (ctx->lock == NULL && (ctx->lock = CRYPTO_THREAD_lock_new()) == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "PKCS11-RAND lock");
        return 0;
    }
    return 1;
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

static const OSSL_PARAM *rand_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static int rand_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    RAND_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE);
    if (p != NULL && !OSSL_PARAM_set_int(p, ctx->state))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH);
    if (p != NULL && !OSSL_PARAM_set_uint(p, RAND_STRENGTH))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, RAND_MAX_REQUEST))
        return 0;
    return 1;
}

static int rand_verify_zeroization(void *vctx)
{
    /* Nothing secret is kept: every byte goes straight to the caller. */
    (void)vctx;
    return 1;
}

/* As a DRBG's parent: `entropy` bits in min_len..max_len bytes. */
static size_t rand_get_seed(void *vctx, unsigned char **buffer, int entropy,
                            size_t min_len, size_t max_len,
                            int prediction_resistance,
                            const unsigned char *adin, size_t adin_len)
{
    RAND_CTX *ctx = vctx;
    size_t len = entropy > 0 ? ((size_t)entropy + 7) / 8 : 0;
    unsigned char *seed;

    (void)prediction_resistance;
    (void)adin;
    (void)adin_len;
    if (len < min_len)
        len = min_len;
    if (len > max_len)
        len = max_len;
    if (len == 0 || len > RAND_MAX_REQUEST) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "PKCS11-RAND: a seed of %zu..%zu bytes asked for", min_len,
                    max_len);
        return 0;
    }
    seed = OPENSSL_secure_malloc(len);
    if (seed == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "PKCS11-RAND seed");
        return 0;
    }
    if (!rand_bytes(ctx, seed, len)) {
        OPENSSL_secure_clear_free(seed, len);
        /* The likely cause when it is the process's own DRBG being seeded. */
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "PKCS11-RAND: no seed from the token (a module that "
                    "draws its own random bytes from this process's OpenSSL, "
                    "as SoftHSM2 does, cannot seed this process's DRBG)");
        return 0;
    }
    *buffer = seed;
    return len;
}

/*
 * OpenSSL 3.0's DRBG passes its own context here, not its parent's: so
 * this must not read `vctx`.
 */
static void rand_clear_seed(void *vctx, unsigned char *buffer, size_t b_len)
{
    (void)vctx;
    OPENSSL_secure_clear_free(buffer, b_len);
}

static const OSSL_DISPATCH rand_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))rand_newctx},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))rand_freectx},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))rand_instantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))rand_uninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))rand_generate},
    {OSSL_FUNC_RAND_RESEED, (void (*)(void))rand_reseed},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))rand_enable_locking},
    {OSSL_FUNC_RAND_LOCK, (void (*)(void))rand_lock},
    {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))rand_unlock},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS,
     (void (*)(void))rand_gettable_ctx_params},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))rand_get_ctx_params},
    {OSSL_FUNC_RAND_VERIFY_ZEROIZATION,
     (void (*)(void))rand_verify_zeroization},
    {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))rand_get_seed},
    {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))rand_clear_seed},
    {0, NULL},
};

/* drbg.c: OpenSSL's DRBGs, run whole by the default provider. */
extern const OSSL_DISPATCH p11be_drbg_ctr_functions[];
extern const OSSL_DISPATCH p11be_drbg_hash_functions[];
extern const OSSL_DISPATCH p11be_drbg_hmac_functions[];

const OSSL_ALGORITHM p11be_rand_algorithms[] = {
    {"PKCS11-RAND", P11BE_PROPS, rand_functions,
     "random bytes from the token's C_GenerateRandom"},
    {"CTR-DRBG", P11BE_PROPS, p11be_drbg_ctr_functions,
     "OpenSSL's CTR-DRBG, run whole by the default provider"},
    {"HASH-DRBG", P11BE_PROPS, p11be_drbg_hash_functions,
     "OpenSSL's HASH-DRBG, run whole by the default provider"},
    {"HMAC-DRBG", P11BE_PROPS, p11be_drbg_hmac_functions,
     "OpenSSL's HMAC-DRBG, run whole by the default provider"},
    {NULL, NULL, NULL, NULL},
};
