/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cipher checks through the EVP API, each result compared with OpenSSL's
 * default provider byte for byte. Prints "ok: ..." lines and exits 0, or
 * prints "FAIL: ..." and exits 1.
 *
 *   cipher_check vectors        lines on stdin (see run_vectors)
 *   cipher_check random SEED    every algorithm, 0..1100 bytes, splits
 *   cipher_check gcm-edge       GCM corner cases
 *   cipher_check gcm-bound LEN AADLEN CHUNK   a GCM message of LEN bytes
 *                               decrypted in CHUNK-byte updates, the tag set
 *                               first and last: "ok" or "refused" lines
 *   cipher_check copy           EVP_CIPHER_CTX_copy mid-stream
 *   cipher_check reinit N       N new IVs with the same key
 *   cipher_check count ALG LEN PAD   one encryption, for the call counts
 *   cipher_check bad            bad input: clear errors, no crash
 *   cipher_check params         algorithm and context params
 *   cipher_check ctr-wrap       the CTR counter wrapping at 2^128
 *   cipher_check evp-cipher     EVP_Cipher() on every mode
 *   cipher_check threads N      N threads at once
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/proverr.h>
#include <openssl/provider.h>

#define MAX_MSG 70000

static const char *const all_algs[] = {
    "AES-128-ECB", "AES-192-ECB", "AES-256-ECB",  "AES-128-CBC",  "AES-192-CBC",
    "AES-256-CBC", "AES-128-CTR", "AES-192-CTR",  "AES-256-CTR",  "AES-128-GCM",
    "AES-192-GCM", "AES-256-GCM", "DES-EDE3-ECB", "DES-EDE3-CBC", NULL,
};

static OSSL_PROVIDER *p11be, *deflt;
static int failures;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    ERR_print_errors_fp(stdout);
    failures++;
    return 0;
}

static unsigned rnd_state = 1;

static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) & 0xffffff;
}

static void fill(unsigned char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = (unsigned char)rnd();
}

static int load_providers(void)
{
    const char *dir = getenv("P11BE_BUILD_DIR");

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    p11be = OSSL_PROVIDER_load(NULL, "pkcs11be");
    deflt = OSSL_PROVIDER_load(NULL, "default");
    if (p11be == NULL || deflt == NULL) {
        ERR_print_errors_fp(stdout);
        return 0;
    }
    return 1;
}

static EVP_CIPHER *fetch(const char *alg, int ours)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(
        NULL, alg, ours ? "provider=pkcs11be" : "provider=default");

    if (c == NULL)
        fail("fetch %s from %s", alg, ours ? "pkcs11be" : "default");
    return c;
}

static int is_gcm(const EVP_CIPHER *c)
{
    return EVP_CIPHER_get_mode(c) == EVP_CIPH_GCM_MODE;
}

/* One message through a cipher, in pieces; see run_op(). */
struct op {
    int enc;                  /* 1 encrypt, 0 decrypt */
    const unsigned char *key; /* the cipher's key length */
    const unsigned char *iv;  /* NULL: none given */
    size_t ivlen;             /* GCM: set when not 12 */
    const unsigned char *in;  /* the message */
    size_t inl;               /* its length */
    int pad;                  /* padding on (ECB, CBC) */
    const unsigned char *aad; /* GCM */
    size_t aadl;              /* GCM */
    unsigned char *tag;       /* GCM: in (decrypt) or out (encrypt) */
    size_t taglen;            /* GCM */
    int tag_late;             /* GCM decrypt: tag set just before final */
    unsigned split;           /* 0: one update; else seed for the pieces */
};

/* Piece lengths from `*seed`: 0..40 bytes, often block-sized. */
static size_t piece(unsigned *seed, size_t left)
{
    size_t n;

    *seed = *seed * 1103515245u + 12345u;
    switch ((*seed >> 16) % 6) {
    case 0:
        n = 0;
        break;
    case 1:
        n = 16;
        break;
    case 2:
        n = 8;
        break;
    default:
        n = (*seed >> 8) % 41;
        break;
    }
    if ((*seed >> 20) % 9 == 0)
        n = left;
    return n < left ? n : left;
}

/*
 * Returns 1 when final succeeded, 0 when final failed, -1 when something
 * before final failed. `out` gets the output, `*outl` its length.
 */
static int run_op(EVP_CIPHER *c, const struct op *op, unsigned char *out,
                  size_t *outl)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned seed = op->split;
    size_t done = 0, total = 0;
    int len, ret = -1;

    if (ctx == NULL || !EVP_CipherInit_ex2(ctx, c, NULL, NULL, op->enc, NULL))
        goto out;
    if (is_gcm(c)) {
        if (op->ivlen != 12
            && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)op->ivlen,
                                   NULL)
                   <= 0)
            goto out;
        if (!op->enc && !op->tag_late
            && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)op->taglen,
                                   op->tag)
                   <= 0)
            goto out;
    }
    if (!EVP_CipherInit_ex2(ctx, NULL, op->key, op->iv, op->enc, NULL))
        goto out;
    if (!is_gcm(c))
        EVP_CIPHER_CTX_set_padding(ctx, op->pad);
    while (is_gcm(c) && done < op->aadl) {
        size_t n = op->split ? piece(&seed, op->aadl - done) : op->aadl - done;

        if (!EVP_CipherUpdate(ctx, NULL, &len, op->aad + done, (int)n))
            goto out;
        done += n;
    }
    done = 0;
    do {
        size_t n = op->split ? piece(&seed, op->inl - done) : op->inl - done;
        /* Exactly the room EVP_EncryptUpdate(3) asks for, so that ASan
         * sees any write beyond it. */
        size_t room = n + (size_t)EVP_CIPHER_CTX_get_block_size(ctx) - 1;
        unsigned char *piece_out = malloc(room > 0 ? room : 1);
        int ok =
            piece_out != NULL
            && EVP_CipherUpdate(ctx, piece_out, &len, op->in + done, (int)n);

        if (ok)
            memcpy(out + total, piece_out, (size_t)len);
        free(piece_out);
        if (!ok)
            goto out;
        done += n;
        total += (size_t)len;
    } while (done < op->inl);
    if (is_gcm(c) && !op->enc && op->tag_late
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)op->taglen,
                               op->tag)
               <= 0)
        goto out;
    ret = EVP_CipherFinal_ex(ctx, out + total, &len) ? 1 : 0;
    if (ret == 1)
        total += (size_t)len;
    if (ret == 1 && is_gcm(c) && op->enc
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)op->taglen,
                               op->tag)
               <= 0)
        ret = -1;
    *outl = total;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ret;
}

/* The same op through both providers: same status, same bytes. */
static int compare_op(const char *alg, EVP_CIPHER *ours, EVP_CIPHER *theirs,
                      const struct op *op, const char *what)
{
    static __thread unsigned char out1[MAX_MSG + 64], out2[MAX_MSG + 64];
    unsigned char tag1[16] = {0}, tag2[16] = {0};
    struct op op1 = *op, op2 = *op;
    size_t l1 = 0, l2 = 0;
    int r1, r2;

    if (op->enc) {
        op1.tag = tag1;
        op2.tag = tag2;
    }
    r1 = run_op(ours, &op1, out1, &l1);
    ERR_clear_error();
    r2 = run_op(theirs, &op2, out2, &l2);
    ERR_clear_error();
    if (r1 != r2 || (r1 == 1 && (l1 != l2 || memcmp(out1, out2, l1) != 0))
        || (r1 == 1 && op->enc && memcmp(tag1, tag2, op->taglen) != 0)) {
        printf("FAIL: %s %s %s len %zu pad %d split %u: status %d/%d, "
               "length %zu/%zu\n",
               alg, what, op->enc ? "enc" : "dec", op->inl, op->pad, op->split,
               r1, r2, l1, l2);
        failures++;
        return 0;
    }
    return 1;
}

static int hex2bin(const char *hex, unsigned char *bin, size_t *len)
{
    size_t n = 0;

    if (strcmp(hex, "-") == 0) {
        *len = 0;
        return 1;
    }
    while (hex[0] != '\0' && hex[1] != '\0') {
        unsigned v;

        if (sscanf(hex, "%2x", &v) != 1)
            return 0;
        bin[n++] = (unsigned char)v;
        hex += 2;
    }
    *len = n;
    return hex[0] == '\0';
}

/*
 * stdin lines: ALG enc|dec KEY IV IN OUT [AAD TAG], hex or "-" for empty;
 * OUT "FAIL" for a GCM decryption that must fail. Padding is off. Each
 * vector runs in one update and in pieces, through pkcs11be and default.
 */
static int run_vectors(void)
{
    static char line[4 * MAX_MSG];
    static unsigned char key[64], iv[256], in[MAX_MSG], want[MAX_MSG],
        aad[MAX_MSG], tag[16], out[MAX_MSG + 64];
    unsigned long count = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char alg[32], dir[8], k[160], v[520],
            *i = malloc(2 * MAX_MSG + 8), *o = malloc(2 * MAX_MSG + 8),
            *a = malloc(2 * MAX_MSG + 8), t[40] = "-";
        size_t kl, vl, il, ol, al = 0, tl = 0, got;
        int fields, prov, split, must_fail;

        fields = sscanf(line,
                        "%31s %7s %159s %519s %140007s %140007s "
                        "%140007s %39s",
                        alg, dir, k, v, i, o, a, t);
        if (fields < 6 || !hex2bin(k, key, &kl) || !hex2bin(v, iv, &vl)
            || !hex2bin(i, in, &il)
            || (fields == 8
                && (!hex2bin(a, aad, &al) || !hex2bin(t, tag, &tl)))) {
            fail("bad vector line %s", line);
            free(i), free(o), free(a);
            continue;
        }
        must_fail = strcmp(o, "FAIL") == 0;
        if (!must_fail && !hex2bin(o, want, &ol)) {
            fail("bad vector line %s", line);
            free(i), free(o), free(a);
            continue;
        }
        for (prov = 1; prov >= 0; prov--) {
            EVP_CIPHER *c = fetch(alg, prov);

            for (split = 0; c != NULL && split < 3; split++) {
                unsigned char gtag[16];
                struct op op = {
                    .enc = strcmp(dir, "enc") == 0,
                    .key = key,
                    .iv = vl > 0 ? iv : NULL,
                    .ivlen = vl,
                    .in = in,
                    .inl = il,
                    .pad = 0,
                    .aad = aad,
                    .aadl = al,
                    .tag = tag,
                    .taglen = tl,
                    .tag_late = split == 2,
                    .split = split ? 7u * split + (unsigned)count : 0,
                };
                int r;

                if (op.enc)
                    op.tag = gtag;
                r = run_op(c, &op, out, &got);
                if (must_fail
                        ? r != 0
                        : r != 1 || got != ol || memcmp(out, want, ol) != 0
                              || (op.enc && tl > 0
                                  && memcmp(gtag, tag, tl) != 0)) {
                    printf("FAIL: vector %lu (%s %s, %s, split %d): %d\n",
                           count, alg, dir, prov ? "pkcs11be" : "default",
                           split, r);
                    ERR_print_errors_fp(stdout);
                    failures++;
                }
                ERR_clear_error();
            }
            EVP_CIPHER_free(c);
        }
        count++;
        free(i), free(o), free(a);
    }
    if (failures == 0)
        printf("ok: %lu vectors, one-shot and in pieces, both providers\n",
               count);
    return failures == 0;
}

/* Every algorithm, every length 0..1100, random pieces, both paddings. */
static int run_random(unsigned seed)
{
    static unsigned char key[32], iv[128], msg[1200], aad[64], tag[16],
        ct[1300];
    const char *const *alg;
    unsigned long ops = 0;

    rnd_state = seed;
    for (alg = all_algs; *alg != NULL; alg++) {
        EVP_CIPHER *ours = fetch(*alg, 1), *theirs = fetch(*alg, 0);
        size_t len;

        if (ours == NULL || theirs == NULL)
            return 0;
        for (len = 0; len <= 1100; len++) {
            struct op op = {0};
            size_t ctl;
            int gcm = is_gcm(ours);

            fill(key, sizeof(key));
            fill(iv, sizeof(iv));
            fill(msg, len);
            op.key = key;
            op.iv = iv;
            op.ivlen = gcm ? (const size_t[]){12, 12, 8, 16, 60}[rnd() % 5] : 0;
            op.in = msg;
            op.inl = len;
            op.pad = (int)(rnd() & 1);
            op.split = rnd() % 4 == 0 ? 0 : rnd() | 1;
            op.aad = aad;
            op.aadl = gcm ? rnd() % 40 : 0;
            fill(aad, op.aadl);
            op.tag = tag;
            op.taglen = gcm ? 4 + rnd() % 13 : 0;
            op.enc = 1;
            if (!compare_op(*alg, ours, theirs, &op, "random"))
                continue;
            /* Decrypt what the default provider made, through both. */
            op.tag = tag;
            if (run_op(theirs, &op, ct, &ctl) != 1) {
                ERR_clear_error();
                continue; /* padding off and not whole blocks */
            }
            op.enc = 0;
            op.in = ct;
            op.inl = ctl;
            op.tag_late = (int)(rnd() & 1);
            op.split = rnd() % 4 == 0 ? 0 : rnd() | 1;
            compare_op(*alg, ours, theirs, &op, "random");
            /* Corrupted: a wrong tag, or garbage for the padding check. */
            if (ctl > 0 || gcm) {
                if (gcm)
                    tag[rnd() % op.taglen] ^= 1;
                else
                    ct[ctl - 1 - rnd() % (ctl < 16 ? ctl : 16)] ^= 0x55;
                compare_op(*alg, ours, theirs, &op, "corrupted");
            }
            ops += 3;
        }
        EVP_CIPHER_free(ours);
        EVP_CIPHER_free(theirs);
    }
    if (failures == 0)
        printf("ok: %lu random operations match the default provider\n", ops);
    return failures == 0;
}

/*
 * One GCM decryption through pkcs11be in `chunk`-byte updates. Prints "ok:"
 * when it gives back `msg`, "refused at byte N:" with the errors when an
 * update fails; returns 0 only for a wrong result or a failed final.
 */
static int gcm_bound_decrypt(EVP_CIPHER *c, const unsigned char *key,
                             const unsigned char *iv, const unsigned char *aad,
                             size_t aadl, const unsigned char *ct,
                             const unsigned char *msg, size_t len, size_t chunk,
                             unsigned char *tag, int tag_late)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char *out = malloc(len + 16);
    const char *when = tag_late ? "set last" : "set first";
    size_t done = 0;
    int n, ok = ctx != NULL && out != NULL
                && EVP_DecryptInit_ex2(ctx, c, key, iv, NULL)
                && (tag_late
                    || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag)
                           > 0);

    if (ok && aadl > 0 && !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadl)) {
        printf("refused at the AAD, tag %s: ", when);
        ERR_print_errors_fp(stdout);
        goto out;
    }
    while (ok && done < len) {
        size_t piece_len = len - done < chunk ? len - done : chunk;

        if (!EVP_DecryptUpdate(ctx, out + done, &n, ct + done,
                               (int)piece_len)) {
            printf("refused at byte %zu, tag %s: ", done, when);
            ERR_print_errors_fp(stdout);
            goto out;
        }
        done += (size_t)n;
    }
    ok = ok
         && (!tag_late
             || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) > 0)
         && EVP_DecryptFinal_ex(ctx, out + done, &n) && done == len
         && memcmp(out, msg, len) == 0;
    if (ok)
        printf("ok: decrypted %zu bytes with %zu of AAD in %zu-byte updates, "
               "tag %s: the message\n",
               len, aadl, chunk, when);
    else
        fail("gcm-bound: decrypting %zu bytes, tag %s", len, when);
out:
    EVP_CIPHER_CTX_free(ctx);
    free(out);
    return ok;
}

/*
 * A message encrypted by the default provider and by pkcs11be (same
 * ciphertext and tag, whatever pkcs11-gcm-decrypt-max says), then
 * decrypted by pkcs11be with the tag set first and last.
 */
static int run_gcm_bound(size_t len, size_t aadl, size_t chunk)
{
    EVP_CIPHER *c = fetch("AES-256-GCM", 1), *d = fetch("AES-256-GCM", 0);
    unsigned char key[32], iv[12], tag[16], tag2[16];
    unsigned char *msg = malloc(len + 1), *aad = malloc(aadl + 1);
    unsigned char *ct = malloc(len + 16), *ct2 = malloc(len + 16);
    struct op op = {.enc = 1,
                    .key = key,
                    .iv = iv,
                    .ivlen = 12,
                    .in = msg,
                    .inl = len,
                    .aad = aad,
                    .aadl = aadl,
                    .tag = tag,
                    .taglen = 16};
    size_t ct_len = 0, ct2_len = 0;
    int ok = c != NULL && d != NULL && msg != NULL && aad != NULL && ct != NULL
             && ct2 != NULL && chunk > 0;

    if (ok) {
        fill(key, sizeof(key));
        fill(iv, sizeof(iv));
        fill(msg, len);
        fill(aad, aadl);
        ok = run_op(d, &op, ct, &ct_len) == 1 && ct_len == len;
        op.tag = tag2;
        ok = ok && run_op(c, &op, ct2, &ct2_len) == 1 && ct2_len == len
             && memcmp(ct, ct2, len) == 0 && memcmp(tag, tag2, 16) == 0;
        if (ok)
            printf("ok: pkcs11be encrypted the %zu bytes as the default "
                   "provider\n",
                   len);
        else
            fail("gcm-bound: encrypting %zu bytes", len);
    }
    ok =
        ok
        && gcm_bound_decrypt(c, key, iv, aad, aadl, ct, msg, len, chunk, tag, 0)
        && gcm_bound_decrypt(c, key, iv, aad, aadl, ct, msg, len, chunk, tag,
                             1);
    EVP_CIPHER_free(c);
    EVP_CIPHER_free(d);
    free(msg);
    free(aad);
    free(ct);
    free(ct2);
    return ok;
}

static int gcm_expect(const char *what, int cond)
{
    if (cond)
        return 1;
    printf("FAIL: GCM %s\n", what);
    ERR_print_errors_fp(stdout);
    failures++;
    return 0;
}

/* GCM corner cases, each against the default provider. */
static int run_gcm_edge(void)
{
    static const size_t ivlens[] = {1, 8, 12, 16, 60, 128};
    unsigned char key[32], iv[128], msg[100], aad[50], tag[16], out[200];
    EVP_CIPHER *ours = fetch("AES-256-GCM", 1);
    EVP_CIPHER *theirs = fetch("AES-256-GCM", 0);
    EVP_CIPHER_CTX *ctx;
    struct op op = {0};
    size_t i, t, outl;
    int len;

    if (ours == NULL || theirs == NULL)
        return 0;
    fill(key, sizeof(key));
    fill(iv, sizeof(iv));
    fill(msg, sizeof(msg));
    fill(aad, sizeof(aad));
    op.key = key;
    op.iv = iv;
    op.ivlen = 12;
    op.tag = tag;
    op.taglen = 16;
    op.aad = aad;
    op.enc = 1;

    op.aadl = sizeof(aad);
    gcm_expect("AAD only", compare_op("GCM", ours, theirs, &op, "aad-only"));
    op.aadl = 0;
    gcm_expect("empty message", compare_op("GCM", ours, theirs, &op, "empty"));
    op.in = msg;
    op.inl = sizeof(msg);
    op.aadl = 17;
    for (i = 0; i < sizeof(ivlens) / sizeof(ivlens[0]); i++) {
        op.ivlen = ivlens[i];
        op.enc = 1;
        gcm_expect("IV length", compare_op("GCM", ours, theirs, &op, "ivlen"));
    }
    op.ivlen = 12;
    /* Decryption: right tag, wrong tag, truncated tags. */
    op.enc = 1;
    if (run_op(theirs, &op, out, &outl) != 1)
        return gcm_expect("default provider encrypts", 0);
    op.enc = 0;
    op.in = out;
    for (t = 1; t <= 16; t++) {
        op.taglen = t;
        op.tag_late = (int)(t & 1);
        gcm_expect("truncated tag",
                   compare_op("GCM", ours, theirs, &op, "truncated tag"));
        tag[t - 1] ^= 0x80;
        gcm_expect("wrong truncated tag",
                   compare_op("GCM", ours, theirs, &op, "wrong tag"));
        tag[t - 1] ^= 0x80;
    }
    /* A wrong tag fails final with nothing on the error queue. */
    op.taglen = 16;
    tag[3] ^= 1;
    ERR_clear_error();
    gcm_expect("wrong tag fails final", run_op(ours, &op, msg, &outl) == 0);
    gcm_expect("wrong tag raises no error (as OpenSSL)", ERR_peek_error() == 0);
    tag[3] ^= 1;

    /* Order errors, like OpenSSL's: AAD after data, update after final. */
    ctx = EVP_CIPHER_CTX_new();
    gcm_expect("init", EVP_EncryptInit_ex2(ctx, ours, key, iv, NULL));
    gcm_expect("data", EVP_EncryptUpdate(ctx, out, &len, msg, 10));
    gcm_expect("AAD after data refused",
               !EVP_EncryptUpdate(ctx, NULL, &len, aad, 10));
    ERR_clear_error();
    gcm_expect("final", EVP_EncryptFinal_ex(ctx, out, &len));
    gcm_expect("update after final refused",
               !EVP_EncryptUpdate(ctx, out, &len, msg, 10));
    gcm_expect("final after final refused",
               !EVP_EncryptFinal_ex(ctx, out, &len));
    ERR_clear_error();
    gcm_expect("same IV again refused",
               EVP_EncryptInit_ex2(ctx, NULL, NULL, NULL, NULL)
                   && !EVP_EncryptUpdate(ctx, out, &len, msg, 10));
    ERR_clear_error();
    gcm_expect("new IV accepted",
               EVP_EncryptInit_ex2(ctx, NULL, NULL, iv + 1, NULL)
                   && EVP_EncryptUpdate(ctx, out, &len, msg, 10)
                   && EVP_EncryptFinal_ex(ctx, out, &len));
    /* Encryption without an IV makes a random one, readable after. */
    {
        unsigned char got_iv[12], ct[10], back[10];
        EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();

        gcm_expect("no IV: init",
                   EVP_EncryptInit_ex2(ctx, ours, key, NULL, NULL));
        gcm_expect(
            "no IV: update",
            EVP_EncryptUpdate(ctx, ct, &len, msg, 10)
                && EVP_EncryptFinal_ex(ctx, out, &len)
                && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag)
                       > 0);
        gcm_expect("no IV: IV readable",
                   EVP_CIPHER_CTX_get_original_iv(ctx, got_iv, 12));
        gcm_expect("no IV: the default provider decrypts",
                   EVP_DecryptInit_ex2(d, theirs, key, got_iv, NULL)
                       && EVP_DecryptUpdate(d, back, &len, ct, 10)
                       && EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_SET_TAG, 16, tag)
                              > 0
                       && EVP_DecryptFinal_ex(d, out, &len)
                       && memcmp(back, msg, 10) == 0);
        EVP_CIPHER_CTX_free(d);
    }
    /* Decryption with no IV and no tag: clear errors, no crash. */
    ERR_clear_error();
    gcm_expect("decrypt without IV fails",
               EVP_DecryptInit_ex2(ctx, ours, key, NULL, NULL)
                   && !EVP_DecryptUpdate(ctx, out, &len, msg, 10));
    gcm_expect("... with an error", ERR_peek_error() != 0);
    ERR_clear_error();
    gcm_expect("decrypt without tag fails at final",
               EVP_DecryptInit_ex2(ctx, ours, key, iv, NULL)
                   && EVP_DecryptUpdate(ctx, out, &len, msg, 10)
                   && !EVP_DecryptFinal_ex(ctx, out, &len));
    ERR_clear_error();
    gcm_expect("tag refused on encryption",
               EVP_EncryptInit_ex2(ctx, ours, key, iv, NULL)
                   && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag)
                          <= 0);
    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(ours);
    EVP_CIPHER_free(theirs);
    if (failures == 0)
        printf("ok: GCM corner cases match the default provider\n");
    return failures == 0;
}

/*
 * Copies at every point of a message; both the original and the copy go
 * on to the end and must match the default provider's result.
 */
static int copy_one(const char *alg, int enc, int pad, size_t len, size_t at)
{
    unsigned char key[32], iv[16], msg[300], tag[16], want[400], got1[400],
        got2[400], tag1[16], tag2[16];
    EVP_CIPHER *ours = fetch(alg, 1), *theirs = fetch(alg, 0);
    EVP_CIPHER_CTX *a = EVP_CIPHER_CTX_new(), *b = EVP_CIPHER_CTX_new();
    struct op op = {0};
    size_t wantl;
    int l1, l2, l3, gcm, ok = 0;

    fill(key, sizeof(key));
    fill(iv, sizeof(iv));
    fill(msg, len);
    gcm = is_gcm(ours);
    op.enc = 1;
    op.key = key;
    op.iv = iv;
    op.ivlen = 12;
    op.in = msg;
    op.inl = len;
    op.pad = pad;
    op.tag = tag;
    op.taglen = 16;
    if (run_op(theirs, &op, want, &wantl) != 1)
        goto out;
    if (!enc) {
        /* Decrypt `want` back to msg. */
        memcpy(got1, want, wantl);
        memcpy(want, msg, len);
        memcpy(msg, got1, wantl);
        l1 = (int)wantl;
        wantl = len;
        len = (size_t)l1;
    }
    if (!EVP_CipherInit_ex2(a, ours, key, iv, enc, NULL))
        goto out;
    EVP_CIPHER_CTX_set_padding(a, pad);
    if (gcm && !enc
        && EVP_CIPHER_CTX_ctrl(a, EVP_CTRL_AEAD_SET_TAG, 16, tag) <= 0)
        goto out;
    if (!EVP_CipherUpdate(a, got1, &l1, msg, (int)at)
        || !EVP_CIPHER_CTX_copy(b, a))
        goto out;
    memcpy(got2, got1, (size_t)l1);
    if (!EVP_CipherUpdate(a, got1 + l1, &l2, msg + at, (int)(len - at))
        || !EVP_CipherFinal_ex(a, got1 + l1 + l2, &l3)
        || (size_t)l1 + (size_t)l2 + (size_t)l3 != wantl
        || memcmp(got1, want, wantl) != 0)
        goto out;
    if (!EVP_CipherUpdate(b, got2 + l1, &l2, msg + at, (int)(len - at))
        || !EVP_CipherFinal_ex(b, got2 + l1 + l2, &l3)
        || (size_t)l1 + (size_t)l2 + (size_t)l3 != wantl
        || memcmp(got2, want, wantl) != 0)
        goto out;
    if (gcm && enc
        && (EVP_CIPHER_CTX_ctrl(a, EVP_CTRL_AEAD_GET_TAG, 16, tag1) <= 0
            || EVP_CIPHER_CTX_ctrl(b, EVP_CTRL_AEAD_GET_TAG, 16, tag2) <= 0
            || memcmp(tag1, tag, 16) != 0 || memcmp(tag2, tag, 16) != 0))
        goto out;
    ok = 1;
out:
    if (!ok) {
        printf("FAIL: copy %s %s pad %d len %zu at %zu\n", alg,
               enc ? "enc" : "dec", pad, len, at);
        ERR_print_errors_fp(stdout);
        failures++;
    }
    EVP_CIPHER_CTX_free(a);
    EVP_CIPHER_CTX_free(b);
    EVP_CIPHER_free(ours);
    EVP_CIPHER_free(theirs);
    return ok;
}

static int run_copy(void)
{
    static const char *const algs[] = {"AES-128-CBC", "AES-256-ECB",
                                       "AES-192-CTR", "DES-EDE3-CBC",
                                       "AES-128-GCM"};
    size_t a, at;
    int enc, pad;

    for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++)
        for (enc = 0; enc <= 1; enc++)
            for (pad = 0; pad <= 1; pad++)
                for (at = 0; at <= 96; at += (at < 40 ? 1 : 13)) {
                    size_t len = pad ? 100 : 96;

                    /* GCM encryption: only before the second update. */
                    if (strcmp(algs[a], "AES-128-GCM") == 0
                        && (pad || at > len))
                        continue;
                    copy_one(algs[a], enc, pad, len, at);
                }
    /* A streaming GCM encryption cannot be copied: a clear refusal. */
    {
        unsigned char key[16] = {0}, iv[12] = {0}, buf[64];
        EVP_CIPHER *ours = fetch("AES-128-GCM", 1);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(),
                       *copy = EVP_CIPHER_CTX_new();
        int len;

        if (!EVP_EncryptInit_ex2(ctx, ours, key, iv, NULL)
            || !EVP_EncryptUpdate(ctx, buf, &len, buf, 16)
            || !EVP_EncryptUpdate(ctx, buf, &len, buf, 16)
            || EVP_CIPHER_CTX_copy(copy, ctx)) {
            fail("GCM streaming copy not refused");
        } else {
            unsigned long err;

            /* Ours, under EVP's own "not able to copy ctx". */
            while ((err = ERR_get_error()) != 0) {
                char text[256];

                ERR_error_string_n(err, text, sizeof(text));
                printf("ok: streaming GCM copy refused: %s\n", text);
            }
        }
        EVP_CIPHER_CTX_free(ctx);
        EVP_CIPHER_CTX_free(copy);
        EVP_CIPHER_free(ours);
    }
    if (failures == 0)
        printf("ok: copies at every point match the default provider\n");
    return failures == 0;
}

/* N messages with new IVs and the key given once. */
static int run_reinit(int n)
{
    unsigned char key[16], iv[16], msg[100], out1[200], out2[200];
    EVP_CIPHER *ours = fetch("AES-128-CBC", 1);
    EVP_CIPHER *theirs = fetch("AES-128-CBC", 0);
    EVP_CIPHER_CTX *a = EVP_CIPHER_CTX_new(), *b = EVP_CIPHER_CTX_new();
    int i, l1, l2, l3, l4;

    fill(key, sizeof(key));
    fill(msg, sizeof(msg));
    if (!EVP_EncryptInit_ex2(a, ours, key, NULL, NULL)
        || !EVP_EncryptInit_ex2(b, theirs, key, NULL, NULL))
        return fail("reinit: init");
    for (i = 0; i < n; i++) {
        fill(iv, sizeof(iv));
        if (!EVP_EncryptInit_ex2(a, NULL, NULL, iv, NULL)
            || !EVP_EncryptInit_ex2(b, NULL, NULL, iv, NULL)
            || !EVP_EncryptUpdate(a, out1, &l1, msg, 100)
            || !EVP_EncryptFinal_ex(a, out1 + l1, &l2)
            || !EVP_EncryptUpdate(b, out2, &l3, msg, 100)
            || !EVP_EncryptFinal_ex(b, out2 + l3, &l4) || l1 + l2 != l3 + l4
            || memcmp(out1, out2, (size_t)l1 + (size_t)l2) != 0)
            return fail("reinit: message %d", i);
    }
    /* Same key bytes again: still no new object. */
    if (!EVP_EncryptInit_ex2(a, NULL, key, iv, NULL)
        || !EVP_EncryptUpdate(a, out1, &l1, msg, 100))
        return fail("reinit: same key");
    EVP_CIPHER_CTX_free(a);
    EVP_CIPHER_CTX_free(b);
    EVP_CIPHER_free(ours);
    EVP_CIPHER_free(theirs);
    printf("ok: %d messages with new IVs on one key\n", n);
    return 1;
}

/*
 * One message of LEN bytes through pkcs11be, for the call counts: "enc"
 * encrypts; "dec" decrypts what the default provider made (GCM with the
 * tag set before the data, as pyca does; "dec-late": after).
 */
static int run_count(const char *alg, size_t len, int pad, const char *dir)
{
    static unsigned char key[32], iv[16], msg[1 << 20], ct[(1 << 20) + 32],
        out[(1 << 20) + 32];
    EVP_CIPHER *c = fetch(alg, 1), *d = fetch(alg, 0);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int enc = strcmp(dir, "enc") == 0, late = strcmp(dir, "dec-late") == 0;
    unsigned char tag[16] = {0};
    struct op op = {.enc = 1,
                    .iv = iv,
                    .ivlen = 12,
                    .in = msg,
                    .inl = len,
                    .pad = pad,
                    .tag = tag,
                    .taglen = 16};
    const unsigned char *in = msg;
    size_t inl = len;
    int l1, l2;

    if (c == NULL || d == NULL || len > sizeof(msg))
        return 0;
    fill(key, sizeof(key));
    fill(iv, sizeof(iv));
    fill(msg, len);
    op.key = key;
    if (!enc) {
        if (run_op(d, &op, ct, &inl) != 1)
            return fail("count %s %zu: the default provider", alg, len);
        in = ct;
    }
    if (!EVP_CipherInit_ex2(ctx, c, key, iv, enc, NULL))
        return fail("count %s %zu: init", alg, len);
    EVP_CIPHER_CTX_set_padding(ctx, pad);
    if (is_gcm(c) && !enc && !late)
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    if (!EVP_CipherUpdate(ctx, out, &l1, in, (int)inl))
        return fail("count %s %zu: update", alg, len);
    if (is_gcm(c) && late)
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    if (!EVP_CipherFinal_ex(ctx, out + l1, &l2))
        return fail("count %s %zu: final", alg, len);
    if (!enc && ((size_t)l1 + (size_t)l2 != len || memcmp(out, msg, len) != 0))
        return fail("count %s %zu: wrong plaintext", alg, len);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    EVP_CIPHER_free(d);
    printf("ok: %s %s of %zu bytes, padding %d\n", alg, dir, len, pad);
    return 1;
}

static int expect_reason(const char *what, int lib, int reason)
{
    unsigned long err = ERR_peek_last_error();
    char text[256];

    ERR_error_string_n(err, text, sizeof(text));
    if (err == 0 || (lib != 0 && ERR_GET_LIB(err) != lib)
        || (reason != 0 && ERR_GET_REASON(err) != reason)) {
        printf("FAIL: %s: wrong error %s\n", what, text);
        failures++;
        ERR_clear_error();
        return 0;
    }
    printf("ok: %s: %s\n", what, text);
    ERR_clear_error();
    return 1;
}

/* Bad input: each fails like the default provider, with a clear error. */
static int run_bad(void)
{
    unsigned char key[32], key2[32], iv[16], msg[64], ct[100], out[100];
    EVP_CIPHER *cbc = fetch("AES-256-CBC", 1);
    EVP_CIPHER *ecb = fetch("DES-EDE3-ECB", 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1, l2, ctl;

    fill(key, sizeof(key));
    fill(key2, sizeof(key2));
    fill(iv, sizeof(iv));
    fill(msg, sizeof(msg));
    if (cbc == NULL || ecb == NULL)
        return 0;
    /* A key length the cipher does not have. */
    if (!EVP_EncryptInit_ex2(ctx, cbc, NULL, NULL, NULL)
        || EVP_CIPHER_CTX_set_key_length(ctx, 20) > 0)
        fail("set_key_length(20) accepted");
    else
        printf("ok: wrong key length refused\n");
    ERR_clear_error();
    /* No key at all. */
    if (EVP_EncryptUpdate(ctx, out, &l1, msg, 16))
        fail("update without key accepted");
    else
        expect_reason("update without a key", 0, 0);
    /* The size protocol: a NULL output reports the length, uses nothing. */
    if (!EVP_EncryptInit_ex2(ctx, cbc, key, iv, NULL)
        || !EVP_EncryptUpdate(ctx, NULL, &l1, msg, 40) || l1 != 32
        || !EVP_EncryptUpdate(ctx, ct, &l1, msg, 40) || l1 != 32
        || !EVP_EncryptFinal_ex(ctx, ct + l1, &l2) || l2 != 16)
        fail("size protocol");
    else
        printf("ok: a NULL output reports 32 bytes for 40, uses nothing\n");
    /* Update after final. */
    if (!EVP_EncryptInit_ex2(ctx, cbc, key, iv, NULL)
        || !EVP_EncryptUpdate(ctx, ct, &l1, msg, 40)
        || !EVP_EncryptFinal_ex(ctx, ct + l1, &l2))
        return fail("encrypt");
    ctl = l1 + l2;
    if (EVP_EncryptUpdate(ctx, out, &l1, msg, 16))
        fail("update after final accepted");
    else
        expect_reason("update after final", 0, 0);
    /* Decrypt with the wrong key: bad padding at final. */
    if (!EVP_DecryptInit_ex2(ctx, cbc, key2, iv, NULL)
        || !EVP_DecryptUpdate(ctx, out, &l1, ct, ctl))
        return fail("decrypt");
    if (EVP_DecryptFinal_ex(ctx, out + l1, &l2))
        fail("wrong key: final succeeded");
    else
        expect_reason("decrypt with the wrong key", ERR_LIB_PROV,
                      PROV_R_BAD_DECRYPT);
    /* Truncated ciphertext, padding off: wrong final block length. */
    if (!EVP_DecryptInit_ex2(ctx, cbc, key, iv, NULL))
        return fail("decrypt");
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    if (!EVP_DecryptUpdate(ctx, out, &l1, ct, ctl - 3)
        || EVP_DecryptFinal_ex(ctx, out + l1, &l2))
        fail("partial block accepted");
    else
        expect_reason("partial last block, padding off", ERR_LIB_PROV,
                      PROV_R_WRONG_FINAL_BLOCK_LENGTH);
    /* Wrong IV length. */
    {
        OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
        size_t ivlen = 8;

        params[0] =
            OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_IVLEN, &ivlen);
        if (EVP_EncryptInit_ex2(ctx, cbc, key, iv, params)
            && EVP_CIPHER_CTX_get_iv_length(ctx) == 8)
            fail("IV length 8 for CBC accepted");
        else
            printf("ok: IV length cannot be changed for CBC\n");
        ERR_clear_error();
    }
    /* Padding back on: the context kept "off" from above, as OpenSSL's. */
    if (!EVP_EncryptInit_ex2(ctx, ecb, key, NULL, NULL)
        || !EVP_CIPHER_CTX_set_padding(ctx, 1)
        || !EVP_EncryptUpdate(ctx, out, &l1, msg, 20) || l1 != 16
        || !EVP_EncryptFinal_ex(ctx, out + l1, &l2) || l2 != 8)
        fail("DES-EDE3 ECB lengths wrong");
    else
        printf("ok: DES-EDE3-ECB 20 bytes -> 16 + 8\n");
    /*
     * A TLS fixed IV longer than the IV leaves room for: OpenSSL 3.0's own
     * GCM, where such a context goes, would write past its IV buffer.
     */
    {
        EVP_CIPHER *gcm = fetch("AES-256-GCM", 1);
        unsigned char fixed[20];
        OSSL_PARAM set[2];

        fill(fixed, sizeof(fixed));
        set[0] = OSSL_PARAM_construct_octet_string(
            OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, fixed, sizeof(fixed));
        set[1] = OSSL_PARAM_construct_end();
        if (gcm == NULL || !EVP_EncryptInit_ex2(ctx, gcm, key, NULL, NULL))
            fail("AES-256-GCM init");
        else if (EVP_CIPHER_CTX_set_params(ctx, set))
            fail("a 20-byte TLS fixed IV for a 12-byte GCM IV accepted");
        else
            expect_reason("a TLS fixed IV longer than the IV", 0, 0);
        EVP_CIPHER_free(gcm);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cbc);
    EVP_CIPHER_free(ecb);
    return failures == 0;
}

static unsigned int get_padding(EVP_CIPHER_CTX *ctx)
{
    OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    unsigned int pad = 77;

    params[0] = OSSL_PARAM_construct_uint(OSSL_CIPHER_PARAM_PADDING, &pad);
    EVP_CIPHER_CTX_get_params(ctx, params);
    return pad;
}

/* Algorithm params, EVP flags and context params of both providers. */
static int run_params(void)
{
    const char *const *alg;

    for (alg = all_algs; *alg != NULL; alg++) {
        EVP_CIPHER *ours = fetch(*alg, 1), *theirs = fetch(*alg, 0);
        EVP_CIPHER_CTX *a = EVP_CIPHER_CTX_new(), *b = EVP_CIPHER_CTX_new();
        unsigned char key[32] = {1}, iv[16] = {2}, buf[64] = {0}, o1[64],
                      o2[64];
        int l;
        const OSSL_PARAM *p;

        if (ours == NULL || theirs == NULL)
            return 0;
        if (EVP_CIPHER_get_flags(ours) != EVP_CIPHER_get_flags(theirs)
            || EVP_CIPHER_get_mode(ours) != EVP_CIPHER_get_mode(theirs)
            || EVP_CIPHER_get_key_length(ours)
                   != EVP_CIPHER_get_key_length(theirs)
            || EVP_CIPHER_get_iv_length(ours)
                   != EVP_CIPHER_get_iv_length(theirs)
            || EVP_CIPHER_get_block_size(ours)
                   != EVP_CIPHER_get_block_size(theirs)
            || EVP_CIPHER_get_nid(ours) != EVP_CIPHER_get_nid(theirs)) {
            printf("FAIL: %s: flags %lx/%lx\n", *alg,
                   EVP_CIPHER_get_flags(ours), EVP_CIPHER_get_flags(theirs));
            failures++;
        }
        /* Every settable/gettable param of ours is one the default has. */
        for (p = EVP_CIPHER_gettable_ctx_params(ours); p->key != NULL; p++)
            if (OSSL_PARAM_locate_const(EVP_CIPHER_gettable_ctx_params(theirs),
                                        p->key)
                == NULL) {
                printf("FAIL: %s: gettable %s unknown to default\n", *alg,
                       p->key);
                failures++;
            }
        /* After 21 bytes: updated IV, num, key and IV lengths agree. */
        if (!EVP_EncryptInit_ex2(a, ours, key, iv, NULL)
            || !EVP_EncryptInit_ex2(b, theirs, key, iv, NULL)
            || !EVP_EncryptUpdate(a, o1, &l, buf, 21)
            || !EVP_EncryptUpdate(b, o2, &l, buf, 21)) {
            printf("FAIL: %s: update\n", *alg);
            failures++;
        } else {
            size_t ivl = (size_t)EVP_CIPHER_CTX_get_iv_length(b);
            unsigned int n1 = (unsigned)EVP_CIPHER_CTX_get_num(a);
            unsigned int n2 = (unsigned)EVP_CIPHER_CTX_get_num(b);
            unsigned char u1[16], u2[16];

            if (EVP_CIPHER_CTX_get_key_length(a)
                    != EVP_CIPHER_CTX_get_key_length(b)
                || EVP_CIPHER_CTX_get_iv_length(a) != (int)ivl
                || get_padding(a) != get_padding(b)
                || (!is_gcm(ours) && n1 != n2)
                || (ivl > 0 && ivl <= 16
                    && (!EVP_CIPHER_CTX_get_updated_iv(a, u1, ivl)
                        || !EVP_CIPHER_CTX_get_updated_iv(b, u2, ivl)
                        || memcmp(u1, u2, ivl) != 0))) {
                printf("FAIL: %s: context params differ (num %u/%u)\n", *alg,
                       n1, n2);
                ERR_print_errors_fp(stdout);
                failures++;
            }
        }
        if ((EVP_CIPHER_get_flags(ours) & EVP_CIPH_RAND_KEY) != 0
            && EVP_CIPHER_CTX_rand_key(a, key) <= 0) {
            printf("FAIL: %s: random key\n", *alg);
            ERR_print_errors_fp(stdout);
            failures++;
        }
        ERR_clear_error();
        EVP_CIPHER_CTX_free(a);
        EVP_CIPHER_CTX_free(b);
        EVP_CIPHER_free(ours);
        EVP_CIPHER_free(theirs);
    }
    if (failures == 0)
        printf("ok: params and flags match the default provider\n");
    return failures == 0;
}

/* Counters just below 2^128: OpenSSL wraps to zero, so must we. */
static int run_ctr_wrap(void)
{
    static const char starts[][33] = {
        "ffffffffffffffffffffffffffffffff", "fffffffffffffffffffffffffffffffe",
        "fffffffffffffffffffffffffffffff0", "ffffffffffffffff0000000000000000",
        "00000000000000fffffffffffffffffe", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
    };
    static unsigned char msg[300], key[32];
    EVP_CIPHER *ours = fetch("AES-256-CTR", 1);
    EVP_CIPHER *theirs = fetch("AES-256-CTR", 0);
    size_t s, len, ivl;
    unsigned split;

    fill(key, sizeof(key));
    fill(msg, sizeof(msg));
    for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        unsigned char iv[16];

        hex2bin(starts[s], iv, &ivl);
        for (len = 0; len <= 300; len += 7)
            for (split = 0; split < 4; split++) {
                struct op op = {.enc = (int)(split & 1),
                                .key = key,
                                .iv = iv,
                                .in = msg,
                                .inl = len,
                                .split = split * 31};

                compare_op("AES-256-CTR", ours, theirs, &op, starts[s]);
            }
    }
    EVP_CIPHER_free(ours);
    EVP_CIPHER_free(theirs);
    if (failures == 0)
        printf("ok: CTR counters wrap at 2^128 like OpenSSL's\n");
    return failures == 0;
}

/* EVP_Cipher(): the raw interface libssl and OpenSSH use. */
static int run_evp_cipher(void)
{
    const char *const *alg;

    for (alg = all_algs; *alg != NULL; alg++) {
        EVP_CIPHER *c[2] = {fetch(*alg, 1), fetch(*alg, 0)};
        unsigned char key[32], iv[16], msg[96], aad[20], out[2][96], tag[2][16];
        int r[2][4], i;

        fill(key, sizeof(key));
        fill(iv, sizeof(iv));
        fill(msg, sizeof(msg));
        fill(aad, sizeof(aad));
        for (i = 0; i < 2; i++) {
            EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

            memset(r[i], 0, sizeof(r[i]));
            r[i][0] = EVP_EncryptInit_ex2(ctx, c[i], key, iv, NULL);
            if (is_gcm(c[i]))
                r[i][1] = EVP_Cipher(ctx, NULL, aad, sizeof(aad));
            r[i][2] = EVP_Cipher(ctx, out[i], msg, 48);
            r[i][3] = EVP_Cipher(ctx, out[i] + 48, msg + 48, 48);
            if (is_gcm(c[i])) {
                EVP_Cipher(ctx, NULL, NULL, 0);
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag[i]);
            }
            EVP_CIPHER_CTX_free(ctx);
        }
        if (memcmp(r[0], r[1], sizeof(r[0])) != 0
            || memcmp(out[0], out[1], sizeof(out[0])) != 0
            || (is_gcm(c[0]) && memcmp(tag[0], tag[1], 16) != 0)) {
            printf("FAIL: EVP_Cipher %s: %d %d %d\n", *alg, r[0][2], r[1][2],
                   r[0][3]);
            ERR_print_errors_fp(stdout);
            failures++;
        }
        ERR_clear_error();
        EVP_CIPHER_free(c[0]);
        EVP_CIPHER_free(c[1]);
    }
    if (failures == 0)
        printf("ok: EVP_Cipher matches the default provider\n");
    return failures == 0;
}

static void *thread_main(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;
    static const char *const algs[] = {"AES-128-CBC", "AES-256-GCM",
                                       "AES-128-CTR", "DES-EDE3-CBC"};
    const char *alg = algs[seed % 4];
    EVP_CIPHER *ours = fetch(alg, 1), *theirs = fetch(alg, 0);
    unsigned char key[32], iv[16], msg[500], tag[16];
    int i, bad = 0;

    for (i = 0; i < 30 && ours != NULL && theirs != NULL; i++) {
        struct op op = {.enc = 1,
                        .key = key,
                        .iv = iv,
                        .ivlen = 12,
                        .in = msg,
                        .inl = (seed * 31 + (unsigned)i * 7) % 500,
                        .pad = 1,
                        .tag = tag,
                        .taglen = 16,
                        .split = seed + (unsigned)i};

        memset(key, (int)(seed + (unsigned)i), sizeof(key));
        memset(iv, i, sizeof(iv));
        memset(msg, (int)seed, sizeof(msg));
        if (!compare_op(alg, ours, theirs, &op, "thread"))
            bad = 1;
    }
    EVP_CIPHER_free(ours);
    EVP_CIPHER_free(theirs);
    return bad ? (void *)1 : NULL;
}

static int run_threads(int n)
{
    pthread_t t[64];
    int i, bad = 0;

    if (n > 64)
        n = 64;
    for (i = 0; i < n; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)(size_t)i);
    for (i = 0; i < n; i++) {
        void *r;

        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    if (bad)
        return 0;
    printf("ok: %d threads\n", n);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int ok;

    if (!load_providers())
        return 1;
    if (strcmp(mode, "vectors") == 0)
        ok = run_vectors();
    else if (strcmp(mode, "random") == 0 && argc > 2)
        ok = run_random((unsigned)strtoul(argv[2], NULL, 0));
    else if (strcmp(mode, "gcm-edge") == 0)
        ok = run_gcm_edge();
    else if (strcmp(mode, "gcm-bound") == 0 && argc > 4)
        ok = run_gcm_bound(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0),
                           strtoul(argv[4], NULL, 0));
    else if (strcmp(mode, "copy") == 0)
        ok = run_copy();
    else if (strcmp(mode, "reinit") == 0 && argc > 2)
        ok = run_reinit((int)strtol(argv[2], NULL, 10));
    else if (strcmp(mode, "count") == 0 && argc > 5)
        ok = run_count(argv[2], strtoul(argv[3], NULL, 0),
                       (int)strtol(argv[4], NULL, 10), argv[5]);
    else if (strcmp(mode, "bad") == 0)
        ok = run_bad();
    else if (strcmp(mode, "params") == 0)
        ok = run_params();
    else if (strcmp(mode, "ctr-wrap") == 0)
        ok = run_ctr_wrap();
    else if (strcmp(mode, "evp-cipher") == 0)
        ok = run_evp_cipher();
    else if (strcmp(mode, "threads") == 0 && argc > 2)
        ok = run_threads((int)strtol(argv[2], NULL, 10));
    else {
        (void)fprintf(stderr, "usage: see the comment at the top of %s\n",
                      __FILE__);
        return 2;
    }
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok && failures == 0 ? 0 : 1;
}
