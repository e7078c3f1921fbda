/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-ECB, AES-CBC, AES-CTR, DES-EDE3-ECB and DES-EDE3-CBC on the token's
 * raw mechanisms, with OpenSSL's semantics to the byte: PKCS#7 padding, a
 * partial block kept between updates, the last block held back on
 * decryption until final (where bad padding fails), OpenSSL's output
 * sizes. Only whole blocks reach the token for ECB and CBC.
 *
 * So that a padded message costs what a direct caller pays (C_xInit + C_x,
 * no call in final), one-shot batches up to BLOCK_SHAPE_MAX bytes are
 * shaped: an encrypting update also encrypts the padded block final would
 * make (`spec`, dropped if more data comes); a decrypting update also
 * decrypts the block OpenSSL holds back, keeping its plaintext (`held`)
 * until the next update or final checks the padding. Shaped batches run in
 * the scratch buffer: only the bytes an update reports are ever written to
 * the caller's buffer (callers, OpenSSL's DRBG among them, give no more).
 *
 * The chaining state lives on the host (CBC's next IV; CTR's counter and
 * how much of its block is used), so a token operation can always start
 * again from the host: the first batch after init, final and any batch
 * under BLOCK_STREAM_MIN bytes are C_xInit + C_x on a borrowed session (a
 * context left idle holds no session: OpenSSL's DRBG keeps its contexts
 * for the life of a thread); later, larger batches stream on a session the
 * context keeps until final, init or free; a lost session is replaced and
 * the batch run again; a copy starts its own token operation; a context
 * used from inside a token call (SoftHSM2's RAND_bytes reaching a DRBG on
 * our cipher) runs that batch in the default provider from the host state.
 *
 * CTR: ulCounterBits = 128, as OpenSSL counts. A token may refuse to let
 * the counter wrap (SoftHSM2 does), so a batch that reaches 2^128 ends its
 * operation there and the rest starts again at counter zero, as OpenSSL's.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cipher.h"
#include "debug.h"
#include "err.h"
#include "reentry.h"

/* Smallest batch worth keeping a session for (see the file comment). */
#define BLOCK_STREAM_MIN 1024
/* Largest batch shaped to spare final a call (through ctx->c.work). */
#define BLOCK_SHAPE_MAX ((size_t)64 * 1024)

struct block_ctx_st {
    P11BE_CIPHER_CTX c; /* what every cipher context has */
    int finished;       /* final done: updates refused */
    unsigned int pad;   /* PKCS#7 padding on (ECB, CBC) */
    int iv_set;         /* an IV was given since newctx */
    unsigned char oiv[P11BE_CIPHER_BLOCK_MAX]; /* the IV as given */
    unsigned char iv[P11BE_CIPHER_BLOCK_MAX];  /* CBC: next IV; CTR: counter
                                                  of the current block */
    unsigned char updated_iv[P11BE_CIPHER_BLOCK_MAX]; /* for get_ctx_params */
    unsigned char buf[P11BE_CIPHER_BLOCK_MAX];  /* ECB/CBC input not yet run */
    size_t buf_len;                             /* bytes in buf */
    unsigned char held[P11BE_CIPHER_BLOCK_MAX]; /* decryption: plaintext of
                                       the block OpenSSL holds back */
    size_t held_len;                            /* 0 or the block size */
    unsigned char spec[P11BE_CIPHER_BLOCK_MAX]; /* encryption: the final
                                       padded block, encrypted ahead */
    int spec_valid;        /* spec is what final would output */
    unsigned int num;      /* CTR: bytes of the current block used */
    unsigned long batches; /* token batches since init */
};

typedef struct block_ctx_st BLOCK_CTX;

static int block_is_ctr(const BLOCK_CTX *ctx)
{
    return ctx->c.alg->mode == EVP_CIPH_CTR_MODE;
}

/* Adds `blocks` to the big-endian 128-bit counter, modulo 2^128. */
static void ctr_add(unsigned char counter[16], uint64_t blocks)
{
    int i;

    for (i = 15; i >= 0 && blocks != 0; i--) {
        blocks += counter[i];
        counter[i] = (unsigned char)blocks;
        blocks >>= 8;
    }
}

/* Bytes from the current position to where the counter wraps to zero. */
static size_t ctr_room(const BLOCK_CTX *ctx)
{
    uint64_t high = 0, low = 0, blocks;
    int i;

    for (i = 0; i < 8; i++) {
        high = high << 8 | ctx->iv[i];
        low = low << 8 | ctx->iv[8 + i];
    }
    /* Far from the wrap unless the high half is all ones. */
    if (high != UINT64_MAX || low == 0)
        return SIZE_MAX;
    blocks = UINT64_MAX - low + 1;
    if (blocks > SIZE_MAX / 16)
        return SIZE_MAX;
    return (size_t)blocks * 16 - ctx->num;
}

/* The mechanism, with the host-held IV or counter as its parameter. */
static void block_mechanism(const BLOCK_CTX *ctx, CK_MECHANISM *mech,
                            CK_AES_CTR_PARAMS *ctr)
{
    mech->mechanism = ctx->c.alg->mech;
    mech->pParameter = NULL;
    mech->ulParameterLen = 0;
    if (ctx->c.alg->mode == EVP_CIPH_CBC_MODE) {
        mech->pParameter = (CK_VOID_PTR)ctx->iv;
        mech->ulParameterLen = ctx->c.alg->iv_bytes;
    } else if (block_is_ctr(ctx)) {
        ctr->ulCounterBits = 128;
        memcpy(ctr->cb, ctx->iv, sizeof(ctr->cb));
        mech->pParameter = ctr;
        mech->ulParameterLen = sizeof(*ctr);
    }
}

/*
 * C_xInit + C_x. CTR in the middle of a block (only for batches under
 * BLOCK_STREAM_MIN) runs the used part of the block first, in a scratch
 * buffer, and drops its output.
 */
static int block_one_shot(BLOCK_CTX *ctx, struct p11be_cipher_op *op)
{
    unsigned char scratch[BLOCK_STREAM_MIN + P11BE_CIPHER_BLOCK_MAX];
    unsigned char *out = op->out;
    size_t len = op->in_len;
    int ok;

    if (ctx->num != 0) {
        memset(scratch, 0, ctx->num);
        memcpy(scratch + ctx->num, op->in, len);
        op->in = op->out = scratch;
        op->in_len += ctx->num;
    }
    op->out_len = op->in_len;
    ok = p11be_cipher_once(&ctx->c, op);
    if (ok && ctx->num != 0)
        memcpy(out, scratch + ctx->num, len);
    if (ctx->num != 0)
        OPENSSL_cleanse(scratch, ctx->num + len);
    return ok;
}

/*
 * Re-entry (see the file comment): the batch in OpenSSL's default provider,
 * from the host state. A stream the context kept is out of step after
 * this, so it is given up.
 */
static int block_soft_batch(BLOCK_CTX *ctx, const unsigned char *in, size_t len,
                            unsigned char *out)
{
    EVP_CIPHER_CTX *soft;
    unsigned char skip[P11BE_CIPHER_BLOCK_MAX] = {0};
    int n, ok;

    P11BE_DEBUG("re-entered: %s batch by the default provider",
                ctx->c.alg->name);
    p11be_cipher_stream_abandon(&ctx->c);
    soft = p11be_cipher_host(&ctx->c, 1,
                             ctx->c.alg->iv_bytes != 0 ? ctx->iv : NULL, 0);
    ok = soft != NULL
         && (ctx->num == 0
             || EVP_CipherUpdate(soft, skip, &n, skip, (int)ctx->num));
    while (ok && len > 0) {
        int chunk = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;

        ok = EVP_CipherUpdate(soft, out, &n, in, chunk) && n == chunk;
        in += chunk;
        out += chunk;
        len -= (size_t)chunk;
    }
    OPENSSL_cleanse(skip, sizeof(skip));
    EVP_CIPHER_CTX_free(soft);
    return ok;
}

/*
 * CBC or CTR where the token has only the cipher's ECB (cipher.c): the
 * chaining on the host, every block through the token's ECB. CTR: the
 * counter blocks encrypted in one call and XORed in. CBC decryption: the
 * blocks decrypted in one call, each XORed with the ciphertext before it.
 * CBC encryption chains: one C_EncryptUpdate per block on a kept session.
 */
static int block_on_ecb(BLOCK_CTX *ctx, const unsigned char *in, size_t len,
                        unsigned char *out)
{
    size_t bs = ctx->c.alg->cipher_block, n = len, i, j;
    unsigned char x[P11BE_CIPHER_BLOCK_MAX];
    struct p11be_cipher_op op = {.encrypt = ctx->c.enc, .in = x};
    unsigned char *ecb;
    int ok = 1;

    op.mech.mechanism = ctx->c.ecb;
    if (block_is_ctr(ctx) || !ctx->c.enc) {
        if (block_is_ctr(ctx))
            n = (ctx->num + len + bs - 1) / bs * bs;
        /* Not ctx->c.work: a shaped batch may be running in it. */
        ecb = OPENSSL_malloc(n);
        if (ecb == NULL)
            return 0;
        for (i = 0; block_is_ctr(ctx) && i < n; i += bs) {
            memcpy(ecb + i, i == 0 ? ctx->iv : ecb + i - bs, bs);
            if (i > 0)
                ctr_add(ecb + i, 1);
        }
        op.encrypt = block_is_ctr(ctx);
        op.in = block_is_ctr(ctx) ? ecb : in;
        op.out = ecb;
        op.in_len = op.out_len = n;
        ok = p11be_cipher_once(&ctx->c, &op);
        /* Backwards: `out` may be `in`, whose blocks CBC still needs. */
        for (i = len; ok && i-- > 0;)
            out[i] = block_is_ctr(ctx)
                         ? in[i] ^ ecb[ctx->num + i]
                         : ecb[i] ^ (i < bs ? ctx->iv[i] : in[i - bs]);
        OPENSSL_clear_free(ecb, n);
        return ok;
    }
    for (i = 0; ok && i < len; i += bs) {
        for (j = 0; j < bs; j++)
            x[j] = in[i + j] ^ (i == 0 ? ctx->iv[j] : out[i - bs + j]);
        op.out = out + i;
        op.in_len = op.out_len = bs;
        ok = p11be_cipher_stream(&ctx->c, &op, 1);
    }
    OPENSSL_cleanse(x, sizeof(x));
    return p11be_cipher_stream_end(&ctx->c, NULL, NULL) && ok;
}

/*
 * One batch, `in` and `out` possibly the same buffer, then the host state
 * moves on. ECB and CBC batches are whole blocks. `spec` more bytes after
 * `len` (the padded final block, see the file comment) go along when the
 * batch is one call anyway; they do not move the chaining state. With
 * `end` a token operation kept for streaming is finished after the batch.
 */
static int block_batch(BLOCK_CTX *ctx, const unsigned char *in, size_t len,
                       unsigned char *out, int end, size_t spec)
{
    size_t bs = ctx->c.alg->cipher_block;
    unsigned char next_iv[P11BE_CIPHER_BLOCK_MAX];
    CK_AES_CTR_PARAMS ctr;
    struct p11be_cipher_op op = {
        .encrypt = ctx->c.enc, .in = in, .in_len = len + spec, .out = out};
    int ok;

    block_mechanism(ctx, &op.mech, &ctr);
    ctx->spec_valid = 0;
    /* CBC decryption: the last input block is the next IV; in may be out. */
    if (ctx->c.alg->mode == EVP_CIPH_CBC_MODE && !ctx->c.enc)
        memcpy(next_iv, in + len - bs, bs);
    if (p11be_reentered()) {
        ok = block_soft_batch(ctx, in, len + spec, out);
    } else if (ctx->c.ecb != 0) {
        ok = block_on_ecb(ctx, in, len + spec, out);
    } else if (ctx->c.sess == NULL
               && (len < BLOCK_STREAM_MIN
                   || (ctx->num == 0 && (end || ctx->batches == 0)))) {
        ok = block_one_shot(ctx, &op);
    } else {
        spec = 0;
        op.in_len = op.out_len = len;
        op.replay_len = ctx->num;
        ok = p11be_cipher_stream(&ctx->c, &op, 1);
        if (ok && end)
            ok = p11be_cipher_stream_end(&ctx->c, NULL, NULL);
    }
    if (!ok)
        return 0;
    ctx->batches++;
    if (spec != 0) {
        memcpy(ctx->spec, out + len, spec);
        ctx->spec_valid = 1;
    }
    if (ctx->c.alg->mode == EVP_CIPH_CBC_MODE)
        memcpy(ctx->iv, ctx->c.enc ? out + len - bs : next_iv, bs);
    if (block_is_ctr(ctx)) {
        size_t pos = ctx->num + len;

        ctr_add(ctx->iv, pos / 16);
        ctx->num = (unsigned int)(pos % 16);
    }
    return 1;
}

/* Batches, split where the CTR counter wraps; see the file comment. */
static int block_run(BLOCK_CTX *ctx, const unsigned char *in, size_t len,
                     unsigned char *out, int end)
{
    while (len > 0) {
        size_t n = len;
        int wraps = 0;

        if (block_is_ctr(ctx) && ctr_room(ctx) <= n) {
            n = ctr_room(ctx);
            wraps = 1;
        }
        if (!block_batch(ctx, in, n, out, end || wraps, 0))
            return 0;
        in += n;
        out += n;
        len -= n;
    }
    return end ? p11be_cipher_stream_end(&ctx->c, NULL, NULL) : 1;
}

/* newctx: PKCS#7 padding is on by default. */
static void block_start(P11BE_CIPHER_CTX *c)
{
    ((BLOCK_CTX *)c)->pad = 1;
}

static int block_init(P11BE_CIPHER_CTX *c, const unsigned char *iv,
                      size_t ivlen, int enc)
{
    BLOCK_CTX *ctx = (BLOCK_CTX *)c;

    ctx->finished = 0;
    ctx->batches = 0;
    c->enc = enc;
    c->usage = enc ? CKF_ENCRYPT : CKF_DECRYPT;
    OPENSSL_cleanse(ctx->buf, sizeof(ctx->buf));
    OPENSSL_cleanse(ctx->held, sizeof(ctx->held));
    ctx->buf_len = 0;
    ctx->held_len = 0;
    ctx->spec_valid = 0;
    if (iv != NULL && c->alg->iv_bytes != 0) {
        if (ivlen != c->alg->iv_bytes)
            return P11BE_CIPHER_FAIL(c, P11BE_R_INVALID_IV_LENGTH,
                                     "takes a %zu-byte IV, got %zu",
                                     c->alg->iv_bytes, ivlen);
        memcpy(ctx->oiv, iv, ivlen);
        memcpy(ctx->iv, iv, ivlen);
        ctx->iv_set = 1;
        ctx->num = 0;
    } else if (block_is_ctr(ctx)) {
        /* OpenSSL's counter goes on from the next block. */
        if (ctx->num != 0)
            ctr_add(ctx->iv, 1);
        ctx->num = 0;
    } else if (ctx->iv_set) {
        /* CBC starts again from the IV last given. */
        memcpy(ctx->iv, ctx->oiv, sizeof(ctx->iv));
    }
    return 1;
}

static int block_check_ready(BLOCK_CTX *ctx, const char *what)
{
    if (ctx->c.ready)
        return 1;
    if (ctx->finished)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_STATE,
                                 "cipher %s after final; initialise again "
                                 "first",
                                 what);
    return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_NO_KEY, "cipher %s without a key",
                             what);
}

/*
 * ECB and CBC, as OpenSSL's ossl_cipher_generic_block_update: the input
 * continues the partial block in buf; every complete block is output,
 * except that decryption with padding holds the last one back when the
 * input ends on a block boundary (and gives it out on the next update that
 * brings data, or always with padding off). A shaped batch (see the file
 * comment) also decrypts that block, or encrypts the padded final block.
 * The token input is made contiguous: buf, then the input, then the padded
 * block; in the caller's buffer after the held plaintext given out first
 * when nothing beyond the update's output is run, else in ctx->c.work.
 */
static int block_update_blocks(BLOCK_CTX *ctx, unsigned char *out, size_t *outl,
                               size_t outsize, const unsigned char *in,
                               size_t inl)
{
    size_t bs = ctx->c.alg->cipher_block;
    size_t total = ctx->buf_len + inl;
    size_t run = total - total % bs, hold = 0, release, proc, spec = 0;
    unsigned char tail[P11BE_CIPHER_BLOCK_MAX];
    unsigned char old_held[P11BE_CIPHER_BLOCK_MAX];
    unsigned char *work;
    size_t tail_len, outlen;
    int shape, ok = 1;

    if (!ctx->c.enc && ctx->pad && run == total && run > 0)
        hold = bs;
    release = inl > 0 || !ctx->pad ? ctx->held_len : 0;
    outlen = release + run - hold;
    if (out == NULL) {
        *outl = outlen;
        return 1;
    }
    if (!p11be_cipher_room(&ctx->c, outlen, outsize))
        return 0;
    if (inl == 0 && release == 0) {
        *outl = 0;
        return 1;
    }
    ctx->spec_valid = 0;
    /* Whether the batch would be one call: see block_batch(). */
    shape = ctx->c.sess == NULL && ctx->num == 0 && run <= BLOCK_SHAPE_MAX
            && (run < BLOCK_STREAM_MIN || ctx->batches == 0);
    proc = shape ? run : run - hold;
    if (shape && ctx->c.enc && ctx->pad && proc > 0)
        spec = bs;
    tail_len = total - proc;
    if (proc > 0) {
        /* proc >= bs >= buf_len: the tail lies in `in`; save it first. */
        memcpy(tail, in + (proc - ctx->buf_len), tail_len);
    } else {
        memcpy(tail, ctx->buf, ctx->buf_len);
        memcpy(tail + ctx->buf_len, in, inl);
    }
    memcpy(old_held, ctx->held, release);
    work = proc + spec > outlen - release
               ? p11be_cipher_work(&ctx->c, proc + spec)
               : out + release;
    if (work == NULL)
        return 0;
    if (proc > 0) {
        memmove(work + ctx->buf_len, in, proc - ctx->buf_len);
        memcpy(work, ctx->buf, ctx->buf_len);
        if (spec != 0) {
            memcpy(work + proc, tail, tail_len);
            memset(work + proc + tail_len, (int)(bs - tail_len), bs - tail_len);
        }
        ok = block_batch(ctx, work, proc, work, 0, spec);
    }
    if (ok) {
        if (work != out + release)
            memcpy(out + release, work, run - hold);
        if (proc != run - hold)
            memcpy(ctx->held, work + proc - bs, bs);
        memcpy(out, old_held, release);
        ctx->held_len = proc != run - hold ? bs : 0;
        memcpy(ctx->buf, tail, tail_len);
        ctx->buf_len = tail_len;
        *outl = outlen;
    }
    /* After an encryption the scratch holds only ciphertext. */
    if (work != out + release && (!ok || !ctx->c.enc))
        OPENSSL_cleanse(work, proc + spec);
    OPENSSL_cleanse(tail, sizeof(tail));
    OPENSSL_cleanse(old_held, sizeof(old_held));
    return ok;
}

/* As many bytes out as in: CTR's update, and EVP_Cipher() for all. */
static int block_raw(BLOCK_CTX *ctx, unsigned char *out, size_t *outl,
                     size_t outsize, const unsigned char *in, size_t inl)
{
    if (out != NULL && inl > 0
        && (!p11be_cipher_room(&ctx->c, inl, outsize)
            || !block_run(ctx, in, inl, out, 0)))
        return 0;
    *outl = inl;
    return 1;
}

static int block_update(void *vctx, unsigned char *out, size_t *outl,
                        size_t outsize, const unsigned char *in, size_t inl)
{
    BLOCK_CTX *ctx = vctx;

    if (!block_check_ready(ctx, "update"))
        return 0;
    if (!block_is_ctr(ctx))
        return block_update_blocks(ctx, out, outl, outsize, in, inl);
    return block_raw(ctx, out, outl, outsize, in, inl);
}

/* PKCS#7, checked as OpenSSL's ossl_cipher_unpadblock does. */
static int block_unpad(BLOCK_CTX *ctx, const unsigned char *block, size_t *len)
{
    size_t bs = ctx->c.alg->cipher_block;
    size_t pad = block[bs - 1], i;

    for (i = 0; pad != 0 && pad <= bs && i < pad; i++)
        if (block[bs - 1 - i] != pad)
            break;
    *len = bs - pad;
    return (pad != 0 && pad <= bs && i == pad)
           || P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BAD_DECRYPT,
                                "bad padding in the last block (wrong key "
                                "or corrupted data)");
}

/*
 * The padded block (encrypted ahead by the last update when `spec`),
 * or the block decryption held back, unpadded; nothing for CTR.
 */
static int block_final(void *vctx, unsigned char *out, size_t *outl,
                       size_t outsize)
{
    BLOCK_CTX *ctx = vctx;
    size_t bs = ctx->c.alg->cipher_block, len = bs;
    unsigned char block[P11BE_CIPHER_BLOCK_MAX];
    int enc = ctx->c.enc, ok = 1, empty;

    if (!block_check_ready(ctx, "final"))
        return 0;
    empty = block_is_ctr(ctx)
            || (!ctx->pad && ctx->buf_len == 0 && ctx->held_len == 0);
    /* The most final can write; decryption may write less. */
    *outl = empty ? 0 : bs;
    if (out == NULL)
        return 1;
    *outl = 0;
    if (empty) {
        ok = 1;
    } else if (ctx->held_len == 0 && ctx->buf_len != bs && !(enc && ctx->pad)) {
        ok = enc ? P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_WRONG_FINAL_BLOCK_LENGTH,
                                     "%zu bytes left over with padding off",
                                     ctx->buf_len)
                 : P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_WRONG_FINAL_BLOCK_LENGTH,
                                     "the ciphertext is not a whole number "
                                     "of %zu-byte blocks",
                                     bs);
    } else {
        if (enc && ctx->pad && ctx->spec_valid) {
            memcpy(block, ctx->spec, bs);
        } else if (ctx->held_len != 0) {
            memcpy(block, ctx->held, bs);
        } else {
            if (enc && ctx->pad)
                memset(ctx->buf + ctx->buf_len, (int)(bs - ctx->buf_len),
                       bs - ctx->buf_len);
            ok = block_run(ctx, ctx->buf, bs, block, 1);
        }
        ok = ok && (enc || !ctx->pad || block_unpad(ctx, block, &len))
             && p11be_cipher_room(&ctx->c, len, outsize);
        if (ok) {
            memcpy(out, block, len);
            *outl = len;
            ctx->buf_len = 0;
            ctx->held_len = 0;
        }
        OPENSSL_cleanse(block, sizeof(block));
    }
    ok = p11be_cipher_stream_end(&ctx->c, NULL, NULL) && ok;
    p11be_cipher_stream_abandon(&ctx->c);
    ctx->c.ready = 0;
    ctx->finished = 1;
    return ok;
}

/*
 * EVP_Cipher(): the raw mode, no padding and no partial block, as
 * OpenSSL's ossl_cipher_generic_cipher. ECB and CBC take whole blocks.
 */
static int block_cipher(void *vctx, unsigned char *out, size_t *outl,
                        size_t outsize, const unsigned char *in, size_t inl)
{
    BLOCK_CTX *ctx = vctx;
    size_t bs = block_is_ctr(ctx) ? 1 : ctx->c.alg->cipher_block;

    if (!block_check_ready(ctx, "EVP_Cipher"))
        return 0;
    if (inl % bs == 0)
        return block_raw(ctx, out, outl, outsize, in, inl);
    return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_WRONG_FINAL_BLOCK_LENGTH,
                             "EVP_Cipher takes whole %zu-byte blocks, got "
                             "%zu bytes",
                             bs, inl);
}

/* The IV OpenSSL reports as updated: for CTR its counter is one ahead. */
static const unsigned char *block_updated_iv(BLOCK_CTX *ctx)
{
    memcpy(ctx->updated_iv, ctx->iv, sizeof(ctx->updated_iv));
    if (block_is_ctr(ctx) && ctx->num != 0)
        ctr_add(ctx->updated_iv, 1);
    return ctx->updated_iv;
}

static int block_set_iv_param(OSSL_PARAM *p, const unsigned char *iv,
                              size_t len)
{
    return OSSL_PARAM_set_octet_ptr(p, iv, len)
           || OSSL_PARAM_set_octet_string(p, iv, len);
}

/*
 * A random Triple DES key with odd parity, made by the default provider
 * (host randomness either way). EVP_CIPHER_CTX_rand_key() passes a buffer
 * of the key's length but a data_size of 0: key_bytes are written.
 */
static int des3_random_key(BLOCK_CTX *ctx, OSSL_PARAM *p)
{
    EVP_CIPHER_CTX *soft;
    int ok;

    /* data_size 0 is EVP_CIPHER_CTX_rand_key(); a stated size must fit. */
    if (p->data_type != OSSL_PARAM_OCTET_STRING
        || (p->data_size != 0 && p->data_size < ctx->c.alg->key_bytes))
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_BUFFER_TOO_SMALL,
                                 "\"%s\" needs an octet string of %zu bytes",
                                 p->key, ctx->c.alg->key_bytes);
    soft = p11be_cipher_host(&ctx->c, 0, NULL, -1);
    ok = soft != NULL && p->data != NULL
         && EVP_CIPHER_CTX_rand_key(soft, p->data) > 0;
    EVP_CIPHER_CTX_free(soft);
    if (ok)
        p->return_size = ctx->c.alg->key_bytes;
    return ok;
}

static int block_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    BLOCK_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_PADDING);
    if (p != NULL && !OSSL_PARAM_set_uint(p, ctx->pad))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IV);
    if (p != NULL && !block_set_iv_param(p, ctx->oiv, ctx->c.alg->iv_bytes))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_UPDATED_IV);
    if (p != NULL
        && !block_set_iv_param(p, block_updated_iv(ctx), ctx->c.alg->iv_bytes))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_NUM);
    if (p != NULL && !OSSL_PARAM_set_uint(p, ctx->num))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_RANDOM_KEY);
    if (p != NULL && (ctx->c.alg->impl->flags & P11BE_CIPHER_RAND_KEY) != 0
        && !des3_random_key(ctx, p))
        return 0;
    return 1;
}

/* An unsigned parameter: 1 with *value, -1 when absent, 0 raised. */
static int block_uint_param(BLOCK_CTX *ctx, const OSSL_PARAM params[],
                            const char *key, unsigned int *value)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, key);

    if (p == NULL)
        return -1;
    return OSSL_PARAM_get_uint(p, value)
           || P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_ARGUMENT,
                                "the \"%s\" parameter must be an unsigned "
                                "integer",
                                key);
}

/*
 * Padding may be set before or after init and holds until changed. NUM
 * (the CTR keystream position) can only be "set" to what it is: the
 * keystream it would select is on the token.
 */
static int block_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    BLOCK_CTX *ctx = vctx;
    unsigned int value;
    int found;

    found = block_uint_param(ctx, params, OSSL_CIPHER_PARAM_PADDING, &value);
    if (found == 0)
        return 0;
    if (found > 0) {
        if (ctx->pad != (value != 0))
            ctx->spec_valid = 0;
        ctx->pad = value != 0;
    }
    found = block_uint_param(ctx, params, OSSL_CIPHER_PARAM_NUM, &value);
    if (found > 0 && value != ctx->num)
        return P11BE_CIPHER_FAIL(&ctx->c, P11BE_R_INVALID_ARGUMENT,
                                 "setting num to %u (it is %u) is not "
                                 "supported",
                                 value, ctx->num);
    return found != 0;
}

/*
 * libssl gives TLS record parameters to CBC ciphers only; on a stream mode
 * they would reach the default provider's CTR unchecked (its "num" is an
 * index there).
 */
static int block_tls(P11BE_CIPHER_CTX *c, const OSSL_PARAM params[],
                     const unsigned char **iv, int *pad)
{
    BLOCK_CTX *ctx = (BLOCK_CTX *)c;

    (void)params;
    if (c->host == NULL && c->alg->mode != EVP_CIPH_CBC_MODE)
        return P11BE_CIPHER_FAIL(c, P11BE_R_INVALID_ARGUMENT,
                                 "TLS record parameters are for CBC and GCM "
                                 "ciphers only");
    *iv = ctx->iv_set ? ctx->iv : NULL;
    *pad = (int)ctx->pad;
    return 1;
}

#define BLOCK_GETTABLE                                                         \
    P11BE_CIPHER_GETTABLE, OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, NULL),   \
        OSSL_PARAM_uint(OSSL_CIPHER_PARAM_NUM, NULL)

static const OSSL_PARAM block_gettable[] = {BLOCK_GETTABLE, OSSL_PARAM_END};
static const OSSL_PARAM des3_gettable[] = {
    BLOCK_GETTABLE,
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_RANDOM_KEY, NULL, 0),
    OSSL_PARAM_END};
static const OSSL_PARAM block_settable[] = {
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, NULL),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_NUM, NULL), OSSL_PARAM_END};

/* Triple DES differs only in its RANDOM_KEY. */
#define BLOCK_MODE(rand_key, gettable_params)                                  \
    {                                                                          \
        .ctx_size = sizeof(BLOCK_CTX), .flags = (rand_key),                    \
        .start = block_start, .init = block_init, .update = block_update,      \
        .final = block_final, .cipher = block_cipher,                          \
        .get_ctx_params = block_get_ctx_params,                                \
        .set_ctx_params = block_set_ctx_params, .tls = block_tls,              \
        .gettable = (gettable_params), .settable = block_settable,             \
    }

const P11BE_CIPHER_MODE p11be_cipher_block_mode = BLOCK_MODE(0, block_gettable);
const P11BE_CIPHER_MODE p11be_cipher_des3_mode =
    BLOCK_MODE(P11BE_CIPHER_RAND_KEY, des3_gettable);
