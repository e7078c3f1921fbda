/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symmetric ciphers on the token: the skeleton every mode shares
 * (cipher.h) and the algorithm table. ECB, CBC and CTR live in
 * cipher_block.c, GCM in cipher_gcm.c.
 *
 * Keys come from the application as bytes and are imported as session
 * secret-key objects (CKO_SECRET_KEY, CKA_TOKEN and CKA_PRIVATE false,
 * sensitive, not extractable, allowing only the direction the context
 * needs). A context keeps its object while the key does not change and
 * destroys it when freed.
 *
 * A context created while the thread is inside a call into the module
 * (re-entry, see reentry.h), and one given TLS 1.0-1.2 record parameters
 * (cipher_is_tls), is served by OpenSSL's default provider through
 * `host`; every entry point below passes such a context straight on. So
 * is one initialised for an algorithm the token lacks (not even its ECB
 * to chain on), unless pkcs11-delegate = no (cipher_init).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/proverr.h>

#include "algorithms.h"
#include "cipher.h"
#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "mechs.h"
#include "names.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"
#include "runner.h"
#include "secret_key.h"
#include "stream.h"

/* Bytes a stream's start runs through C_xUpdate at a time. */
#define CIPHER_REPLAY_CHUNK ((size_t)1024 * 1024)

/*
 * The token's mechanism for the algorithm, and its key sizes. A token that
 * lacks CBC or CTR but has the cipher's ECB (Debian 12's p11-kit RPC
 * client) gets the chaining done on the host (ctx->ecb, cipher_block.c):
 * the key stays on the token. 1, 0 (raised), or -1 when the token lacks
 * it and pkcs11-delegate allows the default provider to do it.
 */
static int cipher_check_token(P11BE_CIPHER_CTX *ctx)
{
    const P11BE_CIPHER_ALG *alg = ctx->alg;
    const char *mech_name = alg->mech_name;
    CK_MECHANISM_INFO info;
    CK_ULONG min_bytes, max_bytes, unit;
    int found = p11be_mech_lookup(&ctx->prov->tc, alg->mech, mech_name, &info);

    ctx->ecb = 0;
    if (found == 0
        && (alg->mode == EVP_CIPH_CBC_MODE || alg->mode == EVP_CIPH_CTR_MODE)) {
        int aes = alg->key_type == CKK_AES;

        mech_name = aes ? "CKM_AES_ECB" : "CKM_DES3_ECB";
        found = p11be_mech_lookup(
            &ctx->prov->tc, aes ? CKM_AES_ECB : CKM_DES3_ECB, mech_name, &info);
        ctx->ecb = found > 0 ? (aes ? CKM_AES_ECB : CKM_DES3_ECB) : 0;
    }
    if (found == 0 && p11be_delegate_allowed(ctx->prov) > 0)
        return -1;
    /* The token would not take such a key before (secret_key.h). */
    if (found > 0 && p11be_secret_key_refused(&ctx->prov->tc, alg->key_type)
        && p11be_delegate_allowed(ctx->prov) > 0)
        return -1;
    if (found == 0) /* raises "not supported by the token" */
        p11be_check_mech(&ctx->prov->tc, alg->mech, alg->mech_name);
    /* DES3 keys have one size; the specification leaves the info unused. */
    if (found <= 0 || alg->key_type != CKK_AES)
        return found > 0;
    /* Bytes by the specification; a maximum of 128 or more means bits. */
    unit = info.ulMaxKeySize >= 128 ? 8 : 1;
    min_bytes = info.ulMinKeySize / unit;
    max_bytes = info.ulMaxKeySize / unit;
    return max_bytes == 0
           || (alg->key_bytes >= min_bytes && alg->key_bytes <= max_bytes)
           || P11BE_CIPHER_FAIL(ctx, P11BE_R_MECH_NOT_SUPPORTED,
                                "%zu-byte keys are not supported by the "
                                "token (%s takes %lu to %lu bytes)",
                                alg->key_bytes, mech_name,
                                (unsigned long)min_bytes,
                                (unsigned long)max_bytes);
}

enum cipher_call { CALL_INIT, CALL_ONCE, CALL_UPDATE, CALL_FINAL };

static const char *const call_names[2][4] = {
    {"C_DecryptInit", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal"},
    {"C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal"},
};

/* One call; `in` is the mechanism for CALL_INIT, `len` the key object. */
static CK_RV cipher_call(P11BE_SESSION *sess, int encrypt, enum cipher_call c,
                         const void *in, CK_ULONG len, unsigned char *out,
                         CK_ULONG *out_len)
{
    CK_FUNCTION_LIST *fns = sess->fns;
    CK_SESSION_HANDLE h = sess->handle;
    CK_BYTE *data = (CK_BYTE *)in;
    CK_MECHANISM *mech = (CK_MECHANISM *)in;

    if (c == CALL_INIT)
        return encrypt ? P11BE_CALL(fns, C_EncryptInit, h, mech, len)
                       : P11BE_CALL(fns, C_DecryptInit, h, mech, len);
    if (c == CALL_ONCE)
        return encrypt ? P11BE_CALL(fns, C_Encrypt, h, data, len, out, out_len)
                       : P11BE_CALL(fns, C_Decrypt, h, data, len, out, out_len);
    if (c == CALL_UPDATE)
        return encrypt ? P11BE_CALL(fns, C_EncryptUpdate, h, data, len, out,
                                    out_len)
                       : P11BE_CALL(fns, C_DecryptUpdate, h, data, len, out,
                                    out_len);
    return encrypt ? P11BE_CALL(fns, C_EncryptFinal, h, out, out_len)
                   : P11BE_CALL(fns, C_DecryptFinal, h, out, out_len);
}

/* What the runner's step reads and writes (cipher_step). */
struct cipher_run {
    struct p11be_cipher_op *op; /* the caller's request */
    CK_ULONG room;              /* bytes at op->out */
    unsigned char *scratch;     /* for the replay's dropped output */
    size_t scratch_len;         /* its size */
    int ran;                    /* the step was called */
};

/*
 * The runner's step: C_xInit, then C_x; or for a stream the replay through
 * C_xUpdate (output dropped) and C_xUpdate.
 */
static CK_RV cipher_step(struct p11be_run *run, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE obj)
{
    struct cipher_run *cr = run->arg;
    struct p11be_cipher_op *op = cr->op;
    const unsigned char *replay = op->replay;
    size_t left = op->replay_len;
    CK_RV rv =
        cipher_call(sess, op->encrypt, CALL_INIT, &op->mech, obj, NULL, NULL);

    cr->ran = 1;
    run->at_init = 1;
    while (rv == CKR_OK && left > 0) {
        CK_ULONG n = left < cr->scratch_len ? left : cr->scratch_len;
        CK_ULONG got = n;

        run->at_init = 0;
        rv = cipher_call(sess, op->encrypt, CALL_UPDATE,
                         replay != NULL ? replay : cr->scratch, n, cr->scratch,
                         &got);
        if (rv == CKR_OK && got != n)
            rv = CKR_DATA_LEN_RANGE;
        OPENSSL_cleanse(cr->scratch, n);
        replay = replay != NULL ? replay + n : NULL;
        left -= n;
    }
    if (rv != CKR_OK) {
        run->fn =
            call_names[op->encrypt][run->at_init ? CALL_INIT : CALL_UPDATE];
        return rv;
    }
    run->at_init = 0;
    op->out_len = cr->room;
    return cipher_call(sess, op->encrypt, run->keep ? CALL_UPDATE : CALL_ONCE,
                       op->in, op->in_len, op->out, &op->out_len);
}

/* "NAME: C_x (CKM_x): CKR_x" for a call outside the runner. */
static int cipher_raise(P11BE_CIPHER_CTX *ctx, int encrypt, enum cipher_call c,
                        CK_RV rv)
{
    return P11BE_CIPHER_FAIL(ctx, P11BE_R_TOKEN_OP_FAILED, "%s (%s): %s",
                             call_names[encrypt][c], ctx->alg->mech_name,
                             p11be_ckr_name(rv));
}

/* The token wrote what the raw mechanism must: as much as there was room. */
static int cipher_check_len(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op,
                            CK_ULONG room, enum cipher_call c)
{
    return op->quiet || op->out_len == room
           || P11BE_CIPHER_FAIL(ctx, P11BE_R_TOKEN_OP_FAILED,
                                "%s (%s) returned %lu bytes where %lu were due",
                                call_names[op->encrypt][c], ctx->alg->mech_name,
                                (unsigned long)op->out_len,
                                (unsigned long)room);
}

/* The runner's request for `op`; a stream keeps its session. */
static int cipher_run(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op,
                      struct cipher_run *cr, int keep)
{
    char fn[40];
    struct p11be_run run = {
        .tc = &ctx->prov->tc,
        .req = {.mech = op->mech.mechanism, .held = keep},
        .what = ctx->alg->name,
        .fn = fn,
        .mech_name = ctx->alg->mech_name,
        .step = cipher_step,
        .arg = cr,
        .object = p11be_secret_key_object,
        .object_arg = &ctx->key,
        .object_use = ctx->usage,
        .keep = keep,
        .quiet = op->quiet,
    };
    CK_ULONG room = op->out_len;
    int ok;

    snprintf(fn, sizeof(fn), "%s/%s", call_names[op->encrypt][CALL_INIT],
             call_names[op->encrypt][keep ? CALL_UPDATE : CALL_ONCE]);
    cr->op = op;
    cr->room = room;
    ok = p11be_run(&run);
    op->rv = cr->ran ? run.rv : CKR_OK;
    if (keep) {
        ctx->sess = run.sess;
        ctx->sess_encrypt = op->encrypt;
    }
    return ok
           && cipher_check_len(ctx, op, room, keep ? CALL_UPDATE : CALL_ONCE);
}

int p11be_cipher_once(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op)
{
    struct cipher_run cr = {0};

    return cipher_run(ctx, op, &cr, 0);
}

/* A failed C_xUpdate or a C_xFinal ends the operation: session back. */
static void stream_drop(P11BE_CIPHER_CTX *ctx, CK_RV rv)
{
    if (rv == CKR_BUFFER_TOO_SMALL)
        p11be_session_discard(ctx->sess); /* the operation still runs */
    else
        p11be_session_release(ctx->sess, rv);
    ctx->sess = NULL;
}

int p11be_cipher_stream(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op,
                        int restart)
{
    unsigned char small[P11BE_CIPHER_BLOCK_MAX] = {0};
    struct cipher_run cr = {.scratch = small, .scratch_len = sizeof(small)};
    CK_ULONG room = op->out_len;
    int ok;

    if (ctx->sess != NULL) {
        op->rv = cipher_call(ctx->sess, op->encrypt, CALL_UPDATE, op->in,
                             op->in_len, op->out, &op->out_len);
        if (op->rv == CKR_OK)
            return cipher_check_len(ctx, op, room, CALL_UPDATE);
        stream_drop(ctx, op->rv);
        if (!restart || !p11be_ckr_retry(op->rv))
            return cipher_raise(ctx, op->encrypt, CALL_UPDATE, op->rv);
        op->out_len = room;
    }
    if (op->replay_len > sizeof(small)) {
        cr.scratch_len = op->replay_len < CIPHER_REPLAY_CHUNK
                             ? op->replay_len
                             : CIPHER_REPLAY_CHUNK;
        cr.scratch = OPENSSL_malloc(cr.scratch_len);
        if (cr.scratch == NULL)
            return P11BE_CIPHER_FAIL(ctx, P11BE_R_OUT_OF_MEMORY,
                                     "%zu bytes to start the token operation "
                                     "again",
                                     cr.scratch_len);
    }
    ok = cipher_run(ctx, op, &cr, 1);
    if (cr.scratch != small)
        OPENSSL_clear_free(cr.scratch, cr.scratch_len);
    return ok;
}

int p11be_cipher_stream_end(P11BE_CIPHER_CTX *ctx, unsigned char *out,
                            CK_ULONG *out_len)
{
    unsigned char scratch[2 * P11BE_CIPHER_BLOCK_MAX];
    CK_ULONG scratch_len = sizeof(scratch);
    CK_RV rv;

    if (ctx->sess == NULL)
        return 1;
    if (out == NULL) {
        out = scratch;
        out_len = &scratch_len;
    }
    rv = cipher_call(ctx->sess, ctx->sess_encrypt, CALL_FINAL, NULL, 0, out,
                     out_len);
    OPENSSL_cleanse(scratch, sizeof(scratch));
    stream_drop(ctx, rv);
    return rv == CKR_OK || cipher_raise(ctx, ctx->sess_encrypt, CALL_FINAL, rv);
}

void p11be_cipher_stream_abandon(P11BE_CIPHER_CTX *ctx)
{
    if (ctx->sess == NULL)
        return;
    if (!p11be_reentered() && p11be_session_usable_now(ctx->sess)) {
        ERR_set_mark();
        p11be_cipher_stream_end(ctx, NULL, NULL);
        ERR_pop_to_mark();
    } else {
        p11be_session_release(ctx->sess, CKR_OK);
        ctx->sess = NULL;
    }
}

int p11be_cipher_room(P11BE_CIPHER_CTX *ctx, size_t need, size_t outsize)
{
    if (outsize >= need)
        return 1;
    p11be_raise(ctx->prov->handle, P11BE_R_OUTPUT_BUFFER_TOO_SMALL,
                "%s needs %zu bytes of output, got %zu", ctx->alg->name, need,
                outsize);
    return 0;
}

int p11be_cipher_buf_append(P11BE_CIPHER_CTX *ctx, P11BE_CIPHER_BUF *buf,
                            const unsigned char *in, size_t len)
{
    if (len > SIZE_MAX - buf->len)
        return P11BE_CIPHER_FAIL(ctx, P11BE_R_OUT_OF_MEMORY,
                                 "message too long");
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap > 0 ? buf->cap : 256;
        unsigned char *bigger;

        while (cap < buf->len + len)
            cap = cap > SIZE_MAX / 2 ? buf->len + len : cap * 2;
        bigger = OPENSSL_clear_realloc(buf->data, buf->cap, cap);
        if (bigger == NULL)
            return P11BE_CIPHER_FAIL(ctx, P11BE_R_OUT_OF_MEMORY,
                                     "holding %zu bytes", buf->len + len);
        buf->data = bigger;
        buf->cap = cap;
    }
    if (in != NULL && len > 0)
        memcpy(buf->data + buf->len, in, len);
    buf->len += len;
    return 1;
}

void p11be_cipher_buf_forget(P11BE_CIPHER_BUF *buf, int wipe)
{
    if (wipe && buf->len > 0)
        OPENSSL_cleanse(buf->data, buf->len);
    buf->len = 0;
}

void p11be_cipher_buf_free(P11BE_CIPHER_BUF *buf)
{
    OPENSSL_clear_free(buf->data, buf->cap);
    memset(buf, 0, sizeof(*buf));
}

unsigned char *p11be_cipher_work(P11BE_CIPHER_CTX *ctx, size_t len)
{
    ctx->work.len = 0;
    if (len > ctx->work.cap
        && !p11be_cipher_buf_append(ctx, &ctx->work, NULL, len))
        return NULL;
    ctx->work.len = len;
    return ctx->work.data;
}

EVP_CIPHER_CTX *p11be_cipher_host(P11BE_CIPHER_CTX *ctx, int keyed,
                                  const unsigned char *iv, int pad)
{
    EVP_CIPHER *cipher =
        EVP_CIPHER_fetch(p11be_fallback_libctx(), ctx->alg->name, NULL);
    EVP_CIPHER_CTX *host = EVP_CIPHER_CTX_new();
    unsigned int padding = pad > 0;
    OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    int ok;

    if (pad >= 0)
        params[0] =
            OSSL_PARAM_construct_uint(OSSL_CIPHER_PARAM_PADDING, &padding);
    ok = cipher != NULL && host != NULL
         && EVP_CipherInit_ex2(host, cipher, keyed ? ctx->key.value : NULL, iv,
                               ctx->enc, params);
    EVP_CIPHER_free(cipher);
    if (ok)
        return host;
    EVP_CIPHER_CTX_free(host);
    p11be_raise(ctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                "%s: OpenSSL's default provider lacks it or refused the key",
                ctx->alg->name);
    return NULL;
}

/* Ends the token's work for the context and frees its buffers. */
static void cipher_clear(P11BE_CIPHER_CTX *ctx)
{
    EVP_CIPHER_CTX_free(ctx->host);
    ctx->host = NULL;
    p11be_cipher_stream_abandon(ctx);
    p11be_cipher_buf_free(&ctx->work);
    if (ctx->alg->impl->clear != NULL)
        ctx->alg->impl->clear(ctx);
}

/* TLS records: the context moves to the default provider for good. */
static int host_take_over(P11BE_CIPHER_CTX *ctx, const unsigned char *iv,
                          int pad)
{
    cipher_clear(ctx);
    if (ctx->key.value == NULL)
        return P11BE_CIPHER_FAIL(ctx, P11BE_R_BAD_STATE,
                                 "TLS record parameters need the key set "
                                 "first");
    P11BE_DEBUG("%s: TLS record parameters: to the default provider",
                ctx->alg->name);
    ctx->host = p11be_cipher_host(ctx, 1, iv, pad);
    return ctx->host != NULL;
}

/* Ends the token's work, frees and wipes the context (NULL: nothing). */
static void cipher_freectx(void *vctx)
{
    P11BE_CIPHER_CTX *ctx = vctx;

    if (ctx != NULL) {
        cipher_clear(ctx);
        p11be_secret_key_clear(&ctx->prov->tc, &ctx->key);
        OPENSSL_clear_free(ctx, ctx->alg->impl->ctx_size);
    }
}

static void *cipher_newctx(void *provctx, const P11BE_CIPHER_ALG *alg)
{
    P11BE_CIPHER_CTX *ctx = OPENSSL_zalloc(alg->impl->ctx_size);

    if (ctx == NULL)
        return NULL;
    ctx->prov = provctx;
    ctx->alg = alg;
    ctx->ivlen = alg->iv_bytes;
    if (alg->impl->start != NULL)
        alg->impl->start(ctx);
    if (p11be_reentered()) {
        P11BE_DEBUG("re-entered from the module: %s by the default provider",
                    alg->name);
        ctx->host = p11be_cipher_host(ctx, 0, NULL, -1);
        if (ctx->host == NULL) {
            OPENSSL_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* A byte copy, then each owned part made the copy's own. */
static void *cipher_dupctx(void *vctx)
{
    P11BE_CIPHER_CTX *src = vctx;
    P11BE_CIPHER_CTX *dst = OPENSSL_memdup(src, src->alg->impl->ctx_size);

    if (dst == NULL)
        return NULL;
    dst->host = NULL;
    dst->sess = NULL;
    memset(&dst->work, 0, sizeof(dst->work));
    if (!p11be_secret_key_copy(&src->prov->tc, &dst->key, &src->key)
        || (src->alg->impl->dup != NULL && !src->alg->impl->dup(dst, src)))
        goto out_free_dst;
    if (src->host != NULL) {
        dst->host = EVP_CIPHER_CTX_new();
        if (dst->host == NULL || !EVP_CIPHER_CTX_copy(dst->host, src->host))
            goto out_free_dst;
    }
    return dst;

out_free_dst:
    cipher_freectx(dst);
    return NULL;
}

/*
 * Whether params hold one of the TLS 1.0-1.2 record-layer parameters that
 * libssl gives a cipher it protects records with. Such a context moves to
 * OpenSSL's default provider for good: the record keys come out of the TLS
 * key schedule in process memory, so the token would protect nothing, and
 * record processing (explicit nonces, CBC padding and MAC checks in
 * constant time) belongs with OpenSSL's own code. TLS 1.3 records use
 * plain AEAD calls and stay on the token.
 */
static int cipher_is_tls(const OSSL_PARAM params[])
{
    static const char *const tls_params[] = {
        OSSL_CIPHER_PARAM_TLS_VERSION,
        OSSL_CIPHER_PARAM_TLS_MAC_SIZE,
        OSSL_CIPHER_PARAM_AEAD_TLS1_AAD,
        OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
        OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
    };
    size_t i;

    for (i = 0;
         params != NULL && i < sizeof(tls_params) / sizeof(tls_params[0]); i++)
        if (OSSL_PARAM_locate_const(params, tls_params[i]) != NULL)
            return 1;
    return 0;
}

/* TLS record parameters move the context to the host (cipher.h). */
static int cipher_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    P11BE_CIPHER_CTX *ctx = vctx;
    const unsigned char *iv = NULL;
    int pad = -1;

    if (params == NULL)
        return 1;
    if (ctx->host == NULL && !cipher_is_tls(params))
        return ctx->alg->impl->set_ctx_params(ctx, params);
    if (!ctx->alg->impl->tls(ctx, params, &iv, &pad))
        return 0;
    if (ctx->host == NULL && !host_take_over(ctx, iv, pad))
        return 0;
    return EVP_CIPHER_CTX_set_params(ctx->host, params);
}

/*
 * The token would not take the key at this init (key.refused, now learned
 * for the token: secret_key.h): the default provider serves the context
 * from here on, keyed, with the IV (given, or the one the mode holds from
 * an earlier init) and IV length, counted as delegated; with
 * pkcs11-delegate = no, an error naming the token's answer. 1, or 0 raised.
 */
static int cipher_import_refused(P11BE_CIPHER_CTX *ctx, const unsigned char *iv,
                                 const OSSL_PARAM params[], int enc)
{
    unsigned char held[EVP_MAX_IV_LENGTH];
    OSSL_PARAM get[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    OSSL_PARAM set[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    size_t ivlen = ctx->ivlen;
    int allowed = p11be_delegate_allowed(ctx->prov);

    if (allowed == 0)
        p11be_raise(
            ctx->prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
            P11BE_SECRET_KEY_REFUSED, ctx->alg->name,
            p11be_ckr_name(ctx->key.refused),
            p11be_config_source(&ctx->prov->config, P11BE_SET_DELEGATE));
    if (allowed <= 0)
        return 0;
    if (iv == NULL && ctx->alg->iv_bytes > 0 && ivlen <= sizeof(held)) {
        get[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_IV, held,
                                                   ivlen);
        ERR_set_mark(); /* no IV yet: none to carry over */
        if (ctx->alg->impl->get_ctx_params(ctx, get)
            && get[0].return_size == ivlen)
            iv = held;
        ERR_pop_to_mark();
    }
    P11BE_DEBUG("%s: the token refused the key (%s): by the default provider",
                ctx->alg->name, p11be_ckr_name(ctx->key.refused));
    cipher_clear(ctx);
    ctx->enc = enc;
    ctx->host = p11be_cipher_host(ctx, 0, NULL, -1);
    if (ctx->host == NULL)
        return 0;
    p11be_delegated_note(ctx->prov, "cipher");
    if (ivlen != ctx->alg->iv_bytes) {
        set[0] =
            OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
        if (!EVP_CIPHER_CTX_set_params(ctx->host, set))
            return 0;
    }
    return EVP_CipherInit_ex2(ctx->host, NULL, ctx->key.value, iv, enc, params);
}

static int cipher_init(P11BE_CIPHER_CTX *ctx, const unsigned char *key,
                       size_t keylen, const unsigned char *iv, size_t ivlen,
                       const OSSL_PARAM params[], int enc)
{
    const P11BE_CIPHER_ALG *alg = ctx->alg;
    int has =
        ctx->host != NULL || p11be_reentered() ? 1 : cipher_check_token(ctx);

    if (has == 0)
        return 0;
    /*
     * The token lacks it: from the first init on (so before any state the
     * mode would hold, a GCM tag, an IV length), the default provider
     * serves the context, as one made during re-entry.
     */
    if (has < 0) {
        P11BE_DEBUG("%s: not on the token (or its key refused), by the "
                    "default provider",
                    alg->name);
        ctx->enc = enc;
        ctx->host = p11be_cipher_host(ctx, 0, NULL, -1);
        if (ctx->host == NULL)
            return 0;
        p11be_delegated_note(ctx->prov, "cipher");
    }
    if (ctx->host != NULL)
        return EVP_CipherInit_ex2(ctx->host, NULL, key, iv, enc, params);
    ctx->ready = 0;
    p11be_cipher_stream_abandon(ctx);
    if (!alg->impl->init(ctx, iv, ivlen, enc))
        return 0;
    if (key != NULL) {
        if (keylen != alg->key_bytes)
            return P11BE_CIPHER_FAIL(ctx, P11BE_R_INVALID_KEY_LENGTH,
                                     "takes a %zu-byte key, got %zu",
                                     alg->key_bytes, keylen);
        if (!p11be_secret_key_set(&ctx->prov->tc, &ctx->key, alg->key_type, key,
                                  keylen))
            return 0;
    }
    /* CTR on ECB: the keystream is ECB encryption in both directions. */
    if (ctx->ecb != 0 && alg->mode == EVP_CIPH_CTR_MODE)
        ctx->usage = CKF_ENCRYPT;
    /* Import now, so that a refused key fails init, not update. */
    if (ctx->key.value != NULL && !p11be_reentered()) {
        int made = p11be_secret_key_import(&ctx->prov->tc, &ctx->key, alg->name,
                                           ctx->usage);

        if (made < 0)
            return cipher_import_refused(ctx, iv, params, enc);
        if (!made)
            return 0;
    }
    ctx->ready = ctx->key.value != NULL;
    return cipher_set_ctx_params(ctx, params);
}

/* encrypt_init and decrypt_init: cipher_init with the direction. */
#define CIPHER_INIT_FN(name, enc)                                              \
    static int name(void *vctx, const unsigned char *key, size_t keylen,       \
                    const unsigned char *iv, size_t ivlen,                     \
                    const OSSL_PARAM params[])                                 \
    {                                                                          \
        return cipher_init(vctx, key, keylen, iv, ivlen, params, (enc));       \
    }
CIPHER_INIT_FN(cipher_einit, 1)
CIPHER_INIT_FN(cipher_dinit, 0)

static int cipher_update(void *vctx, unsigned char *out, size_t *outl,
                         size_t outsize, const unsigned char *in, size_t inl)
{
    P11BE_CIPHER_CTX *ctx = vctx;
    int len = 0;

    if (ctx->host == NULL)
        return ctx->alg->impl->update(ctx, out, outl, outsize, in, inl);
    if (inl > INT_MAX || !EVP_CipherUpdate(ctx->host, out, &len, in, (int)inl))
        return 0;
    *outl = (size_t)len;
    return 1;
}

static int cipher_final(void *vctx, unsigned char *out, size_t *outl,
                        size_t outsize)
{
    P11BE_CIPHER_CTX *ctx = vctx;
    int len = 0;

    if (ctx->host == NULL)
        return ctx->alg->impl->final(ctx, out, outl, outsize);
    if (!EVP_CipherFinal_ex(ctx->host, out, &len))
        return 0;
    *outl = (size_t)len;
    return 1;
}

static int cipher_cipher(void *vctx, unsigned char *out, size_t *outl,
                         size_t outsize, const unsigned char *in, size_t inl)
{
    P11BE_CIPHER_CTX *ctx = vctx;
    int len;

    if (ctx->host == NULL)
        return ctx->alg->impl->cipher(ctx, out, outl, outsize, in, inl);
    if (inl > INT_MAX)
        return 0;
    len = EVP_Cipher(ctx->host, out, in, (unsigned int)inl);
    if (len < 0)
        return 0;
    *outl = (size_t)len;
    return 1;
}

static const OSSL_PARAM cipher_ctx_sizes[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
    OSSL_PARAM_END,
};

static int cipher_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    P11BE_CIPHER_CTX *ctx = vctx;
    const size_t sizes[] = {ctx->alg->key_bytes, ctx->ivlen};

    if (ctx->host != NULL)
        return EVP_CIPHER_CTX_get_params(ctx->host, params);
    return p11be_params_answer(params, cipher_ctx_sizes, sizes)
           && ctx->alg->impl->get_ctx_params(ctx, params);
}

static const OSSL_PARAM cipher_gettable[] = {
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CTS, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_HAS_RAND_KEY, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *cipher_gettable_params(void *provctx)
{
    (void)provctx;
    return cipher_gettable;
}

/* Algorithm params exactly as the default provider has them. */
static int cipher_get_params(OSSL_PARAM params[], const P11BE_CIPHER_ALG *alg)
{
    unsigned int flags = alg->impl->flags;
    const size_t values[] = {
        alg->mode,
        alg->key_bytes,
        alg->iv_bytes,
        alg->block_bytes,
        (flags & P11BE_CIPHER_AEAD) != 0,
        (flags & P11BE_CIPHER_CUSTOM_IV) != 0,
        0, /* CTS */
        0, /* TLS1_MULTIBLOCK */
        (flags & P11BE_CIPHER_RAND_KEY) != 0,
    };

    return p11be_params_answer(params, cipher_gettable, values);
}

/*
 * Row: name, mechanism, key type, the mode's file, EVP mode, key bytes, IV
 * bytes (default), OpenSSL's block size, the block cipher's block.
 */
/* clang-format off */
static const P11BE_CIPHER_ALG cipher_algs[] = {
    {"AES-128-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_ECB_MODE, 16, 0, 16, 16},
    {"AES-192-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_ECB_MODE, 24, 0, 16, 16},
    {"AES-256-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_ECB_MODE, 32, 0, 16, 16},
    {"AES-128-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CBC_MODE, 16, 16, 16, 16},
    {"AES-192-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CBC_MODE, 24, 16, 16, 16},
    {"AES-256-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CBC_MODE, 32, 16, 16, 16},
    {"AES-128-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CTR_MODE, 16, 16, 1, 16},
    {"AES-192-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CTR_MODE, 24, 16, 1, 16},
    {"AES-256-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES,
     &p11be_cipher_block_mode, EVP_CIPH_CTR_MODE, 32, 16, 1, 16},
    {"AES-128-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES,
     &p11be_cipher_gcm_mode, EVP_CIPH_GCM_MODE, 16, 12, 1, 16},
    {"AES-192-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES,
     &p11be_cipher_gcm_mode, EVP_CIPH_GCM_MODE, 24, 12, 1, 16},
    {"AES-256-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES,
     &p11be_cipher_gcm_mode, EVP_CIPH_GCM_MODE, 32, 12, 1, 16},
    {"DES-EDE3-ECB", CKM_DES3_ECB, "CKM_DES3_ECB", CKK_DES3,
     &p11be_cipher_des3_mode, EVP_CIPH_ECB_MODE, 24, 0, 8, 8},
    {"DES-EDE3-CBC", CKM_DES3_CBC, "CKM_DES3_CBC", CKK_DES3,
     &p11be_cipher_des3_mode, EVP_CIPH_CBC_MODE, 24, 8, 8, 8},
};
/* clang-format on */

/*
 * One algorithm: its row in cipher_algs[] and the entry points that
 * OpenSSL calls without a context (so each algorithm needs its own:
 * newctx, get_params and the ctx param tables), and its dispatch table
 * p11be_cipher_NAME_functions (algorithms.h, algorithms.c).
 */
#define CIPHER_KIND(index, name)                                               \
    static void *name##_newctx(void *provctx)                                  \
    {                                                                          \
        return cipher_newctx(provctx, &cipher_algs[index]);                    \
    }                                                                          \
    static int name##_get_params(OSSL_PARAM params[])                          \
    {                                                                          \
        return cipher_get_params(params, &cipher_algs[index]);                 \
    }                                                                          \
    static const OSSL_PARAM *name##_gettable(void *vctx, void *provctx)        \
    {                                                                          \
        return (void)vctx, (void)provctx, cipher_algs[index].impl->gettable;   \
    }                                                                          \
    static const OSSL_PARAM *name##_settable(void *vctx, void *provctx)        \
    {                                                                          \
        return (void)vctx, (void)provctx, cipher_algs[index].impl->settable;   \
    }                                                                          \
    const OSSL_DISPATCH p11be_cipher_##name##_functions[] = {                  \
        P11BE_FN(OSSL_FUNC_CIPHER_NEWCTX, name##_newctx),                      \
        P11BE_FN(OSSL_FUNC_CIPHER_ENCRYPT_INIT, cipher_einit),                 \
        P11BE_FN(OSSL_FUNC_CIPHER_DECRYPT_INIT, cipher_dinit),                 \
        P11BE_FN(OSSL_FUNC_CIPHER_UPDATE, cipher_update),                      \
        P11BE_FN(OSSL_FUNC_CIPHER_FINAL, cipher_final),                        \
        P11BE_FN(OSSL_FUNC_CIPHER_CIPHER, cipher_cipher),                      \
        P11BE_FN(OSSL_FUNC_CIPHER_FREECTX, cipher_freectx),                    \
        P11BE_FN(OSSL_FUNC_CIPHER_DUPCTX, cipher_dupctx),                      \
        P11BE_FN(OSSL_FUNC_CIPHER_GET_PARAMS, name##_get_params),              \
        P11BE_FN(OSSL_FUNC_CIPHER_GETTABLE_PARAMS, cipher_gettable_params),    \
        P11BE_FN(OSSL_FUNC_CIPHER_GET_CTX_PARAMS, cipher_get_ctx_params),      \
        P11BE_FN(OSSL_FUNC_CIPHER_SET_CTX_PARAMS, cipher_set_ctx_params),      \
        P11BE_FN(OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS, name##_gettable),       \
        P11BE_FN(OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS, name##_settable),       \
        {0, NULL},                                                             \
    };

CIPHER_KIND(0, aes_128_ecb)
CIPHER_KIND(1, aes_192_ecb)
CIPHER_KIND(2, aes_256_ecb)
CIPHER_KIND(3, aes_128_cbc)
CIPHER_KIND(4, aes_192_cbc)
CIPHER_KIND(5, aes_256_cbc)
CIPHER_KIND(6, aes_128_ctr)
CIPHER_KIND(7, aes_192_ctr)
CIPHER_KIND(8, aes_256_ctr)
CIPHER_KIND(9, aes_128_gcm)
CIPHER_KIND(10, aes_192_gcm)
CIPHER_KIND(11, aes_256_gcm)
CIPHER_KIND(12, des_ede3_ecb)
CIPHER_KIND(13, des_ede3_cbc)
