/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-GCM on the token (CKM_AES_GCM, CK_GCM_PARAMS) with OpenSSL's AEAD
 * semantics: AAD by update with a NULL output, the IV length settable (12
 * bytes by default, 1 to 128), the tag (1 to 16 bytes) read after an
 * encryption's final and set before a decryption's final, and each
 * update's output returned by that update. PKCS#11 2.40 has the AAD in the
 * mechanism parameters, so AAD is kept until the first data.
 *
 * Encryption. The first data update is C_EncryptInit + C_Encrypt, which
 * gives ciphertext and tag at once: a message of one update costs what a
 * direct caller pays. Its ciphertext (up to GCM_ONE_SHOT_MAX) is kept
 * until final: should a second update come, the plaintext is made again
 * from it, run through C_EncryptInit on a kept session (output dropped),
 * and the message streams with C_EncryptUpdate, final is C_EncryptFinal.
 * A larger first update streams at once.
 *
 * Tokens that do GCM in one call only (NSS softokn 3.87 answers
 * C_EncryptUpdate with CKR_OPERATION_NOT_INITIALIZED): learned from the
 * first refusal, once per token (mechs.h). There an encryption's later
 * updates run the whole message so far through C_Encrypt again (the new
 * part is the output, the tag is kept), and past GCM_ONE_SHOT_MAX the
 * default provider carries on from the start of the message (counted as
 * delegated); a decryption's keystream is C_Encrypt over all the
 * ciphertext held.
 *
 * Decryption. A 2.40 token releases GCM plaintext only once it has checked
 * the tag, at C_DecryptFinal, but OpenSSL returns plaintext from each
 * update and checks the tag in final. So the ciphertext is kept until
 * final, where C_DecryptInit + C_Decrypt(ciphertext || tag) has the token
 * check the tag. An update's plaintext is the keystream on the ciphertext:
 * GCM *encryption* of the ciphertext with the same IV and no AAD (CTR is
 * its own inverse; that tag is dropped), one-shot for the first update and
 * on a kept session after; so the key object of a decrypting context
 * allows CKA_ENCRYPT too. When the tag is set before the first update
 * (pyca's AESGCM does that), that update is C_Decrypt(ciphertext || tag)
 * at once and final needs no call. As in OpenSSL, a wrong tag fails final
 * with no error on the queue (pyca relies on it for InvalidTag).
 *
 * Memory: encryption holds the AAD and at most GCM_ONE_SHOT_MAX bytes of
 * ciphertext, decryption the AAD and the whole ciphertext (only the
 * token checks the tag, over the whole message), each plus a scratch buffer the
 * size of an update; pkcs11-gcm-decrypt-max bounds what a decryption holds
 * (the update that would pass it fails, naming the setting).
 *
 * A copy works before any data, after a one-shot encryption update and at
 * any point of a decryption (it replays the kept ciphertext on its own
 * session); a streaming encryption cannot be copied (the GHASH state is on
 * the token) and fails with a clear error.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cipher.h"
#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "mechs.h"
#include "provider.h"
#include "reentry.h"

#define GCM_IV_MAX     128 /* OpenSSL's GCM_IV_MAX_SIZE */
#define GCM_IV_DEFAULT 12  /* and the shortest it generates */
#define GCM_TAG_MAX    16  /* bytes */
#define GCM_ONE_SHOT_MAX                                                       \
    ((size_t)1024 * 1024) /* plaintext kept for a restart */

#ifndef CKR_AEAD_DECRYPT_FAILED
#define CKR_AEAD_DECRYPT_FAILED 0x35UL /* PKCS#11 3.0 */
#endif

enum gcm_iv_state {
    GCM_IV_NONE, /* no IV given: encryption makes one, as OpenSSL does */
    GCM_IV_SET,  /* given, not yet used */
    GCM_IV_USED, /* a message was finished with it: a new one is needed */
};

enum gcm_phase {
    GCM_AAD,      /* no data yet: AAD is being collected */
    GCM_ONE_SHOT, /* the first data update ran one-shot */
    GCM_STREAM,   /* more updates: the token streams (or must be restarted),
                     or, one-shot only, the message is held */
    GCM_DONE,     /* final done: updates refused until init */
};

struct gcm_ctx_st {
    P11BE_CIPHER_CTX c;             /* what every cipher context has */
    enum gcm_iv_state iv_state;     /* see enum */
    unsigned char iv[GCM_IV_MAX];   /* the IV */
    P11BE_CIPHER_BUF aad;           /* AAD of the message */
    P11BE_CIPHER_BUF data;          /* ciphertext: all so far (decryption),
                                     until the token streams (encryption) */
    unsigned char tag[GCM_TAG_MAX]; /* expected (decryption) or computed */
    size_t taglen;                  /* bytes in tag; 0: not set */
    int verdict;                    /* decryption: token said tag matches
                                       data (1), does not (-1), unknown (0) */
    enum gcm_phase phase;           /* see enum */
};

typedef struct gcm_ctx_st GCM_CTX;

/* How the token's refusal of multi-part GCM is kept (mechs.h). */
static const struct p11be_mech_shape gcm_multipart = {.mech = CKM_AES_GCM};

static int gcm_one_shot_only(GCM_CTX *ctx)
{
    return p11be_key_shape_refused(&ctx->c.prov->tc, &gcm_multipart);
}

/*
 * Whether a decryption may hold `more` bytes besides its AAD and ciphertext
 * so far (see the file comment); raises naming the setting when not.
 */
static int gcm_decrypt_may_hold(GCM_CTX *ctx, size_t more)
{
    size_t held = ctx->aad.len + ctx->data.len;
    size_t max = ctx->c.prov->gcm_decrypt_max;

    return (held <= max && more <= max - held)
           || P11BE_CIPHER_FAIL(
               &ctx->c, P11BE_R_OVER_BOUND,
               "a decryption holds its AAD and ciphertext until final, "
               "where the token checks the tag: %zu bytes held and %zu more "
               "would exceed %s (%zu bytes)",
               held, more,
               p11be_config_source(&ctx->c.prov->config,
                                   P11BE_SET_GCM_DECRYPT_MAX),
               max);
}

/*
 * CK_GCM_PARAMS as p11-kit's 2.40 header lays it out (with ulIvBits, which
 * SoftHSM2 2.6.1 ignores and some HSMs require).
 */
static void gcm_op(GCM_CTX *ctx, struct p11be_cipher_op *op,
                   CK_GCM_PARAMS *params, int encrypt, int with_aad,
                   size_t tag_bytes)
{
    params->pIv = ctx->iv;
    params->ulIvLen = ctx->c.ivlen;
    params->ulIvBits = ctx->c.ivlen * 8;
    params->pAAD = with_aad && ctx->aad.len > 0 ? ctx->aad.data : NULL;
    params->ulAADLen = with_aad ? ctx->aad.len : 0;
    params->ulTagBits = tag_bytes * 8;
    op->encrypt = encrypt;
    op->mech.mechanism = CKM_AES_GCM;
    op->mech.pParameter = params;
    op->mech.ulParameterLen = sizeof(*params);
}

/* Back to the start of a message, keeping key, IV, tag and params. */
static void gcm_reset(GCM_CTX *ctx)
{
    p11be_cipher_stream_abandon(&ctx->c);
    p11be_cipher_buf_forget(&ctx->aad, 1);
    p11be_cipher_buf_forget(&ctx->data, 0);
    ctx->verdict = 0;
    ctx->phase = GCM_AAD;
}

/* The key object may be needed for encryption in both directions. */
static int gcm_init(P11BE_CIPHER_CTX *c, const unsigned char *iv, size_t ivlen,
                    int enc)
{
    GCM_CTX *ctx = (GCM_CTX *)c;

    gcm_reset(ctx);
    c->enc = enc;
    c->usage = enc ? CKF_ENCRYPT : CKF_ENCRYPT | CKF_DECRYPT;
    if (iv != NULL) {
        if (ivlen == 0 || ivlen > GCM_IV_MAX)
            return P11BE_CIPHER_FAIL(c, P11BE_R_INVALID_IV_LENGTH,
                                     "IV length %zu is not 1 to %d", ivlen,
                                     GCM_IV_MAX);
        memcpy(ctx->iv, iv, ivlen);
        ctx->c.ivlen = ivlen;
        ctx->iv_state = GCM_IV_SET;
    }
    return 1;
}

/*
 * Before the first data or final: a key, a message not finished, and an IV
 * not used before (an encryption without one makes one, as OpenSSL).
 */
static int gcm_check_ready(GCM_CTX *ctx, const char *what)
{
    P11BE_CIPHER_CTX *c = &ctx->c;

    /* Only a context made outside a token call gets here re-entered. */
    if (p11be_reentered())
        return P11BE_CIPHER_FAIL(c, P11BE_R_FALLBACK_FAILED,
                                 "a context made outside a token call is "
                                 "used from inside one");
    if (c->key.value == NULL)
        return P11BE_CIPHER_FAIL(c, P11BE_R_NO_KEY, "cipher %s without a key",
                                 what);
    if (ctx->phase == GCM_DONE)
        return P11BE_CIPHER_FAIL(c, P11BE_R_BAD_STATE,
                                 "cipher %s after final; initialise again "
                                 "with a new IV first",
                                 what);
    if (ctx->iv_state == GCM_IV_USED)
        return P11BE_CIPHER_FAIL(c, P11BE_R_BAD_STATE,
                                 "the IV was used for a finished message; a "
                                 "GCM IV is never reused");
    if (ctx->iv_state == GCM_IV_NONE && (!c->enc || c->ivlen < GCM_IV_DEFAULT))
        return P11BE_CIPHER_FAIL(c, P11BE_R_BAD_STATE, "no IV set");
    if (ctx->iv_state == GCM_IV_NONE && RAND_bytes(ctx->iv, (int)c->ivlen) <= 0)
        return 0;
    ctx->iv_state = GCM_IV_SET;
    return 1;
}

/*
 * C_EncryptUpdate on the kept session, output exactly as long as input.
 * With none, C_EncryptInit first on a session then kept, and `replay`
 * (bytes already handled) run through again, output dropped: for
 * encryption the kept plaintext (with the AAD), for decryption the
 * ciphertext (no AAD). 1, 0 raised, or -1 when the token refuses to start
 * multi-part GCM (learned; nothing raised).
 */
static int gcm_stream(GCM_CTX *ctx, const unsigned char *replay,
                      size_t replay_len, const unsigned char *in, size_t len,
                      unsigned char *out)
{
    CK_GCM_PARAMS params;
    struct p11be_cipher_op op = {.replay = replay,
                                 .replay_len = replay_len,
                                 .in = in,
                                 .in_len = len,
                                 .out = out,
                                 .out_len = len};
    int starting = ctx->c.sess == NULL, ok;

    gcm_op(ctx, &op, &params, 1, ctx->c.enc, GCM_TAG_MAX);
    ERR_set_mark();
    ok = p11be_cipher_stream(&ctx->c, &op, 0);
    if (ok || !starting
        || (op.rv != CKR_OPERATION_NOT_INITIALIZED
            && op.rv != CKR_FUNCTION_NOT_SUPPORTED)) {
        ERR_clear_last_mark();
        return ok;
    }
    ERR_pop_to_mark();
    P11BE_DEBUG("%s: C_EncryptUpdate refused (%s): GCM in one call only on "
                "this token from now on",
                ctx->c.alg->name, p11be_ckr_name(op.rv));
    p11be_key_note_refused(&ctx->c.prov->tc, &gcm_multipart);
    return -1;
}

/*
 * C_EncryptInit + C_Encrypt into the scratch buffer (the output and a tag):
 * the output (ciphertext, or for decryption the plaintext: see the file
 * comment) from byte `skip` on is copied to `out` unless NULL, and the tag
 * to ctx->tag when `with_aad` (it is a real message's tag only then). The
 * scratch buffer is wiped.
 */
static int gcm_encrypt_one_shot(GCM_CTX *ctx, const unsigned char *in,
                                size_t inl, size_t skip, unsigned char *out,
                                int with_aad)
{
    CK_GCM_PARAMS params;
    struct p11be_cipher_op op = {
        .in = in, .in_len = inl, .out_len = inl + GCM_TAG_MAX};
    int ok;

    op.out = p11be_cipher_work(&ctx->c, op.out_len);
    if (op.out == NULL)
        return 0;
    gcm_op(ctx, &op, &params, 1, with_aad, GCM_TAG_MAX);
    ok = p11be_cipher_once(&ctx->c, &op);
    if (ok && out != NULL)
        memcpy(out, op.out + skip, inl - skip);
    if (ok && with_aad)
        memcpy(ctx->tag, op.out + inl, GCM_TAG_MAX);
    ctx->c.work.len = inl;
    if (!with_aad) /* the keystream on ciphertext: plaintext */
        p11be_cipher_buf_forget(&ctx->c.work, 1);
    return ok;
}

/*
 * The message so far (`in`) one-shot with its AAD: the ciphertext from
 * `skip` on to `out`, and kept (public: no copy, no wipe) with its tag for
 * final or the next update.
 */
static int gcm_encrypt_held(GCM_CTX *ctx, const unsigned char *in, size_t inl,
                            size_t skip, unsigned char *out)
{
    P11BE_CIPHER_BUF ciphertext;

    if (!gcm_encrypt_one_shot(ctx, in, inl, skip, out, 1))
        return 0;
    ciphertext = ctx->c.work;
    ctx->c.work = ctx->data;
    ctx->data = ciphertext;
    return 1;
}

/*
 * The default provider at the start of this message: key, IV (of any
 * length), direction, AAD. NULL on failure (raised).
 */
static EVP_CIPHER_CTX *gcm_host(GCM_CTX *ctx)
{
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_size_t(
                                OSSL_CIPHER_PARAM_AEAD_IVLEN, &ctx->c.ivlen),
                            OSSL_PARAM_END};
    EVP_CIPHER_CTX *host = p11be_cipher_host(&ctx->c, 1, NULL, -1);
    int n;

    if (host != NULL && ctx->aad.len <= INT_MAX
        && EVP_CIPHER_CTX_set_params(host, params)
        && EVP_CipherInit_ex2(host, NULL, NULL, ctx->iv, ctx->c.enc, NULL)
        && (ctx->aad.len == 0
            || EVP_CipherUpdate(host, NULL, &n, ctx->aad.data,
                                (int)ctx->aad.len)))
        return host;
    EVP_CIPHER_CTX_free(host);
    return NULL;
}

/*
 * A token that does GCM in one call only, and a message too long to hold:
 * the default provider carries on from the start of the message (the
 * plaintext held run through it first), and the context stays with it.
 */
static int gcm_to_host(GCM_CTX *ctx, const unsigned char *plain, size_t held,
                       const unsigned char *in, size_t inl, unsigned char *out)
{
    unsigned char *skip = p11be_cipher_work(&ctx->c, held + 1);
    EVP_CIPHER_CTX *host =
        skip != NULL && inl <= INT_MAX ? gcm_host(ctx) : NULL;
    int n, ok = host != NULL
                && (held == 0
                    || EVP_CipherUpdate(host, skip, &n, plain, (int)held))
                && EVP_CipherUpdate(host, out, &n, in, (int)inl);

    p11be_cipher_buf_forget(&ctx->c.work, 1);
    if (!ok) {
        EVP_CIPHER_CTX_free(host);
        return 0;
    }
    P11BE_DEBUG("%s: over %zu bytes on a token with one-shot GCM only: by "
                "the default provider",
                ctx->c.alg->name, (size_t)GCM_ONE_SHOT_MAX);
    gcm_reset(ctx);
    ctx->c.host = host;
    p11be_delegated_note(ctx->c.prov, "cipher");
    return 1;
}

/*
 * The first update is one call (GCM_ONE_SHOT). A later one (or a first
 * one too long to keep) makes the plaintext so far again from the
 * ciphertext kept, then streams on the token, replaying it first; or on a
 * token that does GCM in one call only runs the whole message again.
 */
static int gcm_encrypt_update(GCM_CTX *ctx, const unsigned char *in, size_t inl,
                              unsigned char *out)
{
    size_t held = ctx->data.len, room;
    unsigned char *plain;
    int ok, streamed;

    if (ctx->phase == GCM_STREAM && held == 0)
        return ctx->c.sess != NULL
                   ? gcm_stream(ctx, NULL, 0, in, inl, out) > 0
                   : P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_STATE,
                                       "the token's encryption was lost "
                                       "mid-message");
    if (ctx->phase == GCM_AAD && inl <= GCM_ONE_SHOT_MAX) {
        ctx->phase = GCM_ONE_SHOT;
        return gcm_encrypt_held(ctx, in, inl, 0, out);
    }
    ctx->phase = GCM_STREAM;
    room = held + 1 + (held + inl <= GCM_ONE_SHOT_MAX ? inl : 0);
    plain = OPENSSL_malloc(room);
    if (plain == NULL)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_OUT_OF_MEMORY,
                                 "holding %zu bytes", room);
    ok = held == 0
         || gcm_encrypt_one_shot(ctx, ctx->data.data, held, 0, plain, 0);
    streamed = ok && !gcm_one_shot_only(ctx)
                   ? gcm_stream(ctx, plain, held, in, inl, out)
                   : -1;
    if (streamed >= 0) {
        ok = streamed;
        p11be_cipher_buf_forget(&ctx->data, 0);
    } else if (ok && held + inl > GCM_ONE_SHOT_MAX) {
        ok = gcm_to_host(ctx, plain, held, in, inl, out);
    } else if (ok) {
        memcpy(plain + held, in, inl);
        ok = gcm_encrypt_held(ctx, plain, held + inl, held, out);
    }
    OPENSSL_clear_free(plain, room);
    return ok;
}

static int gcm_encrypt_final(GCM_CTX *ctx)
{
    static const unsigned char nothing[1];
    CK_ULONG tag_len = GCM_TAG_MAX;

    if (ctx->phase == GCM_AAD) /* modules refuse a NULL pData, even empty */
        return gcm_encrypt_one_shot(ctx, nothing, 0, 0, NULL, 1);
    if (ctx->data.len > 0) /* held: the tag is the last one-shot's */
        return 1;
    if (ctx->c.sess == NULL)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_STATE,
                                 "the token's encryption was lost "
                                 "mid-message");
    return p11be_cipher_stream_end(&ctx->c, ctx->tag, &tag_len)
           && (tag_len == GCM_TAG_MAX
               || P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_TOKEN_OP_FAILED,
                                    "C_EncryptFinal returned a %lu-byte tag",
                                    (unsigned long)tag_len));
}

/* The token's answers that mean "this tag does not match". */
static int gcm_tag_mismatch(CK_RV rv)
{
    /* SoftHSM2 2.6.1 reports a wrong tag as CKR_GENERAL_ERROR. */
    return rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_SIGNATURE_INVALID
           || rv == CKR_AEAD_DECRYPT_FAILED || rv == CKR_GENERAL_ERROR;
}

/*
 * C_DecryptInit + C_Decrypt(ciphertext || tag) over the kept ciphertext;
 * the plaintext goes to `out` (room for the ciphertext's length) or, when
 * NULL, nowhere. The token may want room for ciphertext and tag (SoftHSM2
 * does), so it writes into a scratch buffer, or in place when `out` is
 * NULL. Returns 1 if the tag matches, -1 if it does not, 0 on other
 * failures (raised).
 */
/*
 * A tag length the token refuses (NSS softokn takes 4 to 16 bytes, OpenSSL
 * 1 to 16): the default provider checks it over the ciphertext held,
 * counted as delegated. As gcm_decrypt_check.
 */
static int gcm_host_check(GCM_CTX *ctx, unsigned char *out)
{
    size_t len = ctx->data.len;
    unsigned char *pt = out != NULL ? out : p11be_cipher_work(&ctx->c, len + 1);
    EVP_CIPHER_CTX *host = pt != NULL && len <= INT_MAX ? gcm_host(ctx) : NULL;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, ctx->tag,
                                          ctx->taglen),
        OSSL_PARAM_END};
    int n, verdict = 0;

    if (host != NULL && EVP_CipherUpdate(host, pt, &n, ctx->data.data, (int)len)
        && EVP_CIPHER_CTX_set_params(host, params)) {
        p11be_delegated_note(ctx->c.prov, "cipher");
        verdict = EVP_CipherFinal_ex(host, pt + len, &n) > 0 ? 1 : -1;
    }
    if (pt != out)
        p11be_cipher_buf_forget(&ctx->c.work, 1);
    EVP_CIPHER_CTX_free(host);
    return verdict;
}

static int gcm_decrypt_check(GCM_CTX *ctx, unsigned char *out)
{
    CK_GCM_PARAMS params;
    struct p11be_cipher_op op = {.quiet = 1};
    size_t ct_len = ctx->data.len, all_len;
    /* A tag length the token refused, learned once per token (mechs.h). */
    struct p11be_mech_shape tag_shape = {.mech = CKM_AES_GCM,
                                         .hash = ctx->taglen};
    int ok;

    if (p11be_key_shape_refused(&ctx->c.prov->tc, &tag_shape))
        return gcm_host_check(ctx, out);
    if (!p11be_cipher_buf_append(&ctx->c, &ctx->data, ctx->tag, ctx->taglen))
        return 0;
    all_len = ctx->data.len;
    ctx->data.len = ct_len;
    op.out = out == NULL ? ctx->data.data : p11be_cipher_work(&ctx->c, all_len);
    if (op.out == NULL)
        return 0;
    op.in = ctx->data.data;
    op.in_len = op.out_len = all_len;
    gcm_op(ctx, &op, &params, 0, 1, ctx->taglen);
    ok = p11be_cipher_once(&ctx->c, &op);
    /* NSS softokn refuses a short tag with CKR_HOST_MEMORY at C_DecryptInit. */
    if (!ok && ctx->taglen < GCM_TAG_MAX
        && (op.rv == CKR_HOST_MEMORY || op.rv == CKR_MECHANISM_PARAM_INVALID
            || op.rv == CKR_ARGUMENTS_BAD)) {
        P11BE_DEBUG("%s: the token refuses %zu-byte tags (%s): checked by "
                    "the default provider from now on",
                    ctx->c.alg->name, ctx->taglen, p11be_ckr_name(op.rv));
        p11be_key_note_refused(&ctx->c.prov->tc, &tag_shape);
        return gcm_host_check(ctx, out);
    }
    if (ok && op.out_len == ct_len && out != NULL)
        memcpy(out, op.out, ct_len);
    OPENSSL_cleanse(op.out, all_len);
    if (ok && op.out_len == ct_len)
        return 1;
    if (ok || !gcm_tag_mismatch(op.rv))
        return P11BE_CIPHER_FAIL(
            &ctx->c, P11BE_R_TOKEN_OP_FAILED,
            "C_DecryptInit/C_Decrypt (%s): %s", ctx->c.alg->mech_name,
            p11be_ckr_name(ok ? CKR_DATA_LEN_RANGE : op.rv));
    P11BE_DEBUG("%s: C_Decrypt says the tag does not match (%s)",
                ctx->c.alg->name, p11be_ckr_name(op.rv));
    return -1;
}

static int gcm_decrypt_update(GCM_CTX *ctx, const unsigned char *in, size_t inl,
                              unsigned char *out)
{
    size_t before = ctx->data.len;
    int verdict;

    /* Keep the ciphertext first: `in` may be `out`. */
    if (!gcm_decrypt_may_hold(ctx, inl)
        || !p11be_cipher_buf_append(&ctx->c, &ctx->data, in, inl))
        return 0;
    ctx->verdict = 0;
    if (ctx->phase == GCM_AAD) {
        ctx->phase = GCM_ONE_SHOT;
        if (ctx->taglen > 0) {
            verdict = gcm_decrypt_check(ctx, out);
            if (verdict == 0)
                goto out_forget;
            ctx->verdict = verdict;
            if (verdict > 0)
                return 1;
        }
        /* Plaintext from the keystream: GCM encryption of the ciphertext. */
        if (gcm_encrypt_one_shot(ctx, ctx->data.data, inl, 0, out, 0))
            return 1;
        goto out_forget;
    }
    ctx->phase = GCM_STREAM;
    verdict = gcm_one_shot_only(ctx)
                  ? -1
                  : gcm_stream(ctx, ctx->data.data, before,
                               ctx->data.data + before, inl, out);
    if (verdict < 0)
        verdict = gcm_encrypt_one_shot(ctx, ctx->data.data, ctx->data.len,
                                       before, out, 0);
    if (verdict)
        return 1;
out_forget:
    ctx->data.len = before;
    ctx->phase = before == 0 ? GCM_AAD : ctx->phase;
    return 0;
}

static int gcm_decrypt_final(GCM_CTX *ctx)
{
    int verdict = ctx->verdict;

    if (ctx->taglen == 0)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_STATE,
                                 "decryption needs the tag before final "
                                 "(EVP_CTRL_AEAD_SET_TAG)");
    p11be_cipher_stream_abandon(&ctx->c);
    if (verdict == 0)
        verdict = gcm_decrypt_check(ctx, NULL);
    /* A wrong tag raises nothing, as in OpenSSL: pyca counts on it. */
    return verdict > 0;
}

static int gcm_update(void *vctx, unsigned char *out, size_t *outl,
                      size_t outsize, const unsigned char *in, size_t inl)
{
    GCM_CTX *ctx = vctx;
    int ok;

    *outl = 0;
    if (inl == 0)
        return 1;
    if (!gcm_check_ready(ctx, "update"))
        return 0;
    if (out == NULL) {
        if (ctx->phase != GCM_AAD)
            return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_STATE,
                                     "AAD after data");
        if ((!ctx->c.enc && !gcm_decrypt_may_hold(ctx, inl))
            || !p11be_cipher_buf_append(&ctx->c, &ctx->aad, in, inl))
            return 0;
        *outl = inl;
        return 1;
    }
    if (!p11be_cipher_room(&ctx->c, inl, outsize))
        return 0;
    ok = ctx->c.enc ? gcm_encrypt_update(ctx, in, inl, out)
                    : gcm_decrypt_update(ctx, in, inl, out);
    if (ok)
        *outl = inl;
    return ok;
}

static int gcm_final(void *vctx, unsigned char *out, size_t *outl,
                     size_t outsize)
{
    GCM_CTX *ctx = vctx;
    int ok;

    (void)out;
    (void)outsize;
    *outl = 0;
    if (!gcm_check_ready(ctx, "final"))
        return 0;
    ok = ctx->c.enc ? gcm_encrypt_final(ctx) : gcm_decrypt_final(ctx);
    if (ok && ctx->c.enc)
        ctx->taglen = GCM_TAG_MAX;
    gcm_reset(ctx);
    ctx->phase = GCM_DONE;
    ctx->iv_state = GCM_IV_USED;
    return ok;
}

/* EVP_Cipher(): in NULL is final, out NULL is AAD, as ossl_gcm_cipher. */
static int gcm_cipher(void *vctx, unsigned char *out, size_t *outl,
                      size_t outsize, const unsigned char *in, size_t inl)
{
    GCM_CTX *ctx = vctx;

    if (in == NULL)
        return gcm_final(ctx, out, outl, outsize);
    return gcm_update(ctx, out, outl, outsize, in, inl);
}

static void gcm_clear(P11BE_CIPHER_CTX *c)
{
    GCM_CTX *ctx = (GCM_CTX *)c;

    p11be_cipher_buf_free(&ctx->aad);
    p11be_cipher_buf_free(&ctx->data);
}

static int gcm_dup(P11BE_CIPHER_CTX *dst, const P11BE_CIPHER_CTX *src)
{
    GCM_CTX *ctx = (GCM_CTX *)dst;
    const GCM_CTX *from = (const GCM_CTX *)src;
    static const P11BE_CIPHER_BUF none;

    ctx->aad = ctx->data = none;
    if (src->host == NULL && src->enc && from->phase == GCM_STREAM)
        return P11BE_CIPHER_FAIL(src, P11BE_R_DUP_NOT_POSSIBLE,
                                 "an encryption streaming on the token cannot "
                                 "be copied (its GHASH state is on the "
                                 "token); copy before the second update");
    return p11be_cipher_buf_append(&ctx->c, &ctx->aad, from->aad.data,
                                   from->aad.len)
           && p11be_cipher_buf_append(&ctx->c, &ctx->data, from->data.data,
                                      from->data.len);
}

/* The IV, once there is one (OpenSSL fails quietly before). */
static int gcm_get_iv(GCM_CTX *ctx, OSSL_PARAM *p)
{
    if (ctx->iv_state == GCM_IV_NONE)
        return 0;
    if (ctx->c.ivlen > p->data_size)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_IV_LENGTH,
                                 "the IV is %zu bytes", ctx->c.ivlen);
    return OSSL_PARAM_set_octet_string(p, ctx->iv, ctx->c.ivlen)
           || OSSL_PARAM_set_octet_ptr(p, ctx->iv, ctx->c.ivlen);
}

static int gcm_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    GCM_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD_TAGLEN);
    if (p != NULL
        && !OSSL_PARAM_set_size_t(p,
                                  ctx->taglen > 0 ? ctx->taglen : GCM_TAG_MAX))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IV);
    if (p != NULL && !gcm_get_iv(ctx, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_UPDATED_IV);
    if (p != NULL && !gcm_get_iv(ctx, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD_TAG);
    if (p == NULL)
        return 1;
    if (p->data_size == 0 || p->data_size > GCM_TAG_MAX || !ctx->c.enc
        || ctx->taglen == 0)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_TAG,
                                 "the tag is read after an encryption's "
                                 "final, 1 to %d bytes",
                                 GCM_TAG_MAX);
    return OSSL_PARAM_set_octet_string(p, ctx->tag, p->data_size);
}

/*
 * TLS record parameters: the host's copy starts from the IV, if set.
 * OpenSSL 3.0's GCM takes a TLS fixed IV longer than the IV and then writes
 * random bytes past its IV buffer (its length check subtracts in size_t;
 * found by fuzz_params). Such a length is refused before the parameters
 * reach it.
 */
static int gcm_tls(P11BE_CIPHER_CTX *c, const OSSL_PARAM params[],
                   const unsigned char **iv, int *pad)
{
    GCM_CTX *ctx = (GCM_CTX *)c;
    const OSSL_PARAM *fixed =
        OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED);
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_IVLEN);
    size_t ivlen = c->host != NULL
                       ? (size_t)EVP_CIPHER_CTX_get_iv_length(c->host)
                       : c->ivlen;

    *iv = ctx->iv_state == GCM_IV_SET ? ctx->iv : NULL;
    *pad = -1;
    if (fixed == NULL || (p != NULL && !OSSL_PARAM_get_size_t(p, &ivlen)))
        return 1; /* a bad IV length is refused where it is read */
    if (fixed->data != NULL
        && (fixed->data_size == (size_t)-1
            || (fixed->data_size >= EVP_GCM_TLS_FIXED_IV_LEN
                && fixed->data_size <= ivlen
                && ivlen - fixed->data_size >= EVP_GCM_TLS_EXPLICIT_IV_LEN)))
        return 1;
    return P11BE_CIPHER_FAIL(c, P11BE_R_INVALID_IV_LENGTH,
                             "a TLS fixed IV of %zu bytes does not fit a "
                             "%zu-byte IV with an 8-byte explicit part",
                             fixed->data_size, ivlen);
}

/*
 * The tag (decryption only) and the IV length (before the init that gives
 * the IV) may be set at any time before they are used.
 */
static int gcm_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    GCM_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    size_t len;

    p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_TAG);
    if (p != NULL) {
        void *tag = ctx->tag;

        if (!OSSL_PARAM_get_octet_string(p, &tag, sizeof(ctx->tag), &len)
            || len == 0 || ctx->c.enc)
            return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_TAG,
                                     "the tag is set for decryption, 1 to %d "
                                     "bytes",
                                     GCM_TAG_MAX);
        ctx->taglen = len;
        ctx->verdict = 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_IVLEN);
    if (p != NULL) {
        if (!OSSL_PARAM_get_size_t(p, &len) || len == 0 || len > GCM_IV_MAX)
            return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_IV_LENGTH,
                                     "IV length must be 1 to %d", GCM_IV_MAX);
        ctx->c.ivlen = len;
    }
    return 1;
}

static const OSSL_PARAM gcm_gettable[] = {
    P11BE_CIPHER_GETTABLE,
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_END};
static const OSSL_PARAM gcm_settable[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_END};

const P11BE_CIPHER_MODE p11be_cipher_gcm_mode = {
    .ctx_size = sizeof(GCM_CTX),
    .flags = P11BE_CIPHER_AEAD | P11BE_CIPHER_CUSTOM_IV,
    .init = gcm_init,
    .update = gcm_update,
    .final = gcm_final,
    .cipher = gcm_cipher,
    .dup = gcm_dup,
    .clear = gcm_clear,
    .get_ctx_params = gcm_get_ctx_params,
    .set_ctx_params = gcm_set_ctx_params,
    .tls = gcm_tls,
    .gettable = gcm_gettable,
    .settable = gcm_settable};
