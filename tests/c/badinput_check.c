/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bad input everywhere (issue 8): a table of {operation, misuse} rows run
 * through pkcs11be and through OpenSSL's default provider. A row passes
 * when pkcs11be
 *   - fails the misuse with an error on the queue whose text is not empty
 *     (printed, so a person can judge it), or does what the default
 *     provider does (both succeed; where a row says so, the same output),
 *   - does not crash (rows marked RISKY run in a forked child, so a crash
 *     is reported as one failed row rather than ending the table),
 *   - and the family's next good operation, on a fresh context, still
 *     works and matches the default provider (so the token and the session
 *     pool were not left in a bad state; tests/67-bad-input.t also checks
 *     the shim's log for CKR_OPERATION_ACTIVE).
 * Rows marked P11ONLY are not run on the default provider, which would
 * crash on them (NULL output where it writes), or cannot be reached there.
 * pkcs11be takes a NULL output as the size query (STYLE.md): those rows
 * check that it reports the size and consumes nothing (the real call that
 * follows gives the default provider's result).
 *
 *   badinput_check [-v] [ROW-PREFIX]
 *
 * Prints one line per row: "ok: ...", "FAIL: ..." or "TODO: ..." (a known
 * bug in a file another helper owns, with the reason), then
 * "rows N failed F todo T" and exits 1 if any row failed.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Row flags. */
#define SAME_OUT 0x1 /* both succeed: outputs must be equal */
#define P11ONLY  0x2 /* not run on the default provider */
#define RISKY    0x4 /* run in a forked child */
#define MUST_OK  0x8 /* a legitimate edge case: pkcs11be must succeed */

/* Keys of one provider: made by the default, moved into pkcs11be. */
struct keys {
    EVP_PKEY *rsa;    /* RSA-1024 key pair */
    EVP_PKEY *ec;     /* P-256 key pair */
    EVP_PKEY *ec_b;   /* another P-256 key pair: the ECDH peer */
    EVP_PKEY *ec384;  /* a P-384 public key: a peer on another curve */
    EVP_PKEY *ed;     /* Ed25519 key pair */
    EVP_PKEY *rsapub; /* RSA public key only, as a wrong ECDH peer */
};

/* What a row's run left behind. */
struct res {
    unsigned char out[512]; /* output, for SAME_OUT rows */
    size_t out_len;         /* bytes in out */
};

/* The provider a row runs on. */
struct side {
    const char *pq;      /* property query */
    OSSL_PROVIDER *prov; /* the provider */
    struct keys *k;      /* its keys */
};

typedef int row_fn(const struct side *s, struct res *r);

enum family {
    F_DIGEST,
    F_HMAC,
    F_CMAC,
    F_CIPHER,
    F_GCM,
    F_RSA,
    F_ECDSA,
    F_EDDSA,
    F_ECDH
};

struct row {
    enum family fam;  /* which good operation follows */
    const char *name; /* "operation / misuse" */
    row_fn *run;      /* 1: the call succeeded, 0: it failed */
    unsigned flags;   /* SAME_OUT, P11ONLY, RISKY, MUST_OK */
    const char *todo; /* a known bug elsewhere: reported, not failed */
    const char *want; /* when it fails, the error must say this */
};

static struct keys keys_p11, keys_def;
static OSSL_PROVIDER *p11be, *deflt;
static int verbose;

static const unsigned char key32[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const unsigned char iv16[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                       0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
                                       0xac, 0xad, 0xae, 0xaf};
static const unsigned char msg[40] = "forty bytes of message for bad input!!!";

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Moves `from` into the keymgmt of `props` (selection: EVP_PKEY_*). */
static EVP_PKEY *convert(EVP_PKEY *from, const char *props, int selection)
{
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_name(NULL, EVP_PKEY_get0_type_name(from), props);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(from, selection, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, selection, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

/* The last error on the queue as one line; "" if the queue is empty. */
static void last_error(char *buf, size_t size)
{
    const char *file, *func, *data;
    int line, flags;
    unsigned long e =
        ERR_peek_last_error_all(&file, &line, &func, &data, &flags);
    const char *reason;

    buf[0] = '\0';
    if (e == 0)
        return;
    reason = ERR_reason_error_string(e);
    snprintf(buf, size, "%s%s%s", reason != NULL ? reason : "",
             (flags & ERR_TXT_STRING) && data != NULL && *data != '\0' ? ": "
                                                                       : "",
             (flags & ERR_TXT_STRING) && data != NULL ? data : "");
}

static int digest(const struct side *s, const char *alg,
                  const unsigned char *in, size_t len, struct res *r)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, s->pq);
    unsigned int n = 0;
    int ok = md != NULL && EVP_Digest(in, len, r->out, &n, md, NULL);

    r->out_len = n;
    EVP_MD_free(md);
    return ok;
}

static EVP_MD_CTX *md_ctx(const struct side *s, const char *alg)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, s->pq);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (md == NULL || ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL)) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    EVP_MD_free(md);
    return ctx;
}

/* A MAC context, initialised unless init is 0. */
static EVP_MAC_CTX *mac_ctx(const struct side *s, const char *mac,
                            const char *pname, const char *pval,
                            const unsigned char *key, size_t key_len, int init)
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, mac, s->pq);
    EVP_MAC_CTX *ctx = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};

    EVP_MAC_free(m);
    if (ctx == NULL)
        return NULL;
    if (pname != NULL)
        params[0] = OSSL_PARAM_construct_utf8_string(pname, (char *)pval, 0);
    if (init && !EVP_MAC_init(ctx, key, key_len, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int mac_once(const struct side *s, const char *mac, const char *pname,
                    const char *pval, const unsigned char *key, size_t key_len,
                    const unsigned char *in, size_t len, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, mac, pname, pval, key, key_len, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, in, len)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static EVP_CIPHER_CTX *cipher_ctx(const struct side *s, const char *alg,
                                  const unsigned char *key,
                                  const unsigned char *iv, int enc)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, alg, s->pq);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (c == NULL || ctx == NULL
        || !EVP_CipherInit_ex2(ctx, c, key, iv, enc, NULL)) {
        EVP_CIPHER_CTX_free(ctx);
        ctx = NULL;
    }
    EVP_CIPHER_free(c);
    return ctx;
}

/* Whole message through update + final; 1 if both succeed. */
static int cipher_all(EVP_CIPHER_CTX *ctx, const unsigned char *in, size_t len,
                      struct res *r)
{
    int n1 = 0, n2 = 0;

    if (ctx == NULL || len + 32 > sizeof(r->out))
        return 0;
    if (!EVP_CipherUpdate(ctx, r->out, &n1, in, (int)len))
        return 0;
    r->out_len = (size_t)n1;
    if (!EVP_CipherFinal_ex(ctx, r->out + n1, &n2))
        return 0;
    r->out_len += (size_t)n2;
    return 1;
}

static int cipher_once(const struct side *s, const char *alg, int enc,
                       const unsigned char *in, size_t len, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, alg, key32, iv16, enc);
    int ok = cipher_all(ctx, in, len, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* GCM encryption with a 16-byte tag appended to the output. */
static int gcm_encrypt(const struct side *s, const unsigned char *in,
                       size_t len, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 1);
    int n = 0, ok;

    ok = ctx != NULL && EVP_CipherUpdate(ctx, NULL, &n, msg, 8)
         && cipher_all(ctx, in, len, r)
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
                                r->out + r->out_len)
                > 0;
    if (ok)
        r->out_len += 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* GCM decryption of ct||tag (tag of tag_len bytes; 0: no tag set). */
static int gcm_decrypt(const struct side *s, const unsigned char *ct,
                       size_t ct_len, const unsigned char *tag, int tag_len,
                       struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 0);
    int n = 0, ok;

    ok = ctx != NULL && EVP_CipherUpdate(ctx, NULL, &n, msg, 8)
         && (tag_len == 0
             || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_len,
                                    (void *)tag)
                    > 0)
         && cipher_all(ctx, ct, ct_len, r);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static EVP_PKEY_CTX *pkey_ctx(const struct side *s, EVP_PKEY *key)
{
    return EVP_PKEY_CTX_new_from_pkey(NULL, key, s->pq);
}

/* EVP_PKEY_sign of tbs with `md` and `pad` (0: leave alone). */
static int pkey_sign(const struct side *s, EVP_PKEY *key, const char *md,
                     int pad, const unsigned char *tbs, size_t tbs_len,
                     unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, key);
    int ok;

    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
         && (md == NULL
             || EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md))
                    == 1)
         && (pad == 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1)
         && EVP_PKEY_sign(ctx, sig, sig_len, tbs, tbs_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* DigestSign of msg; md NULL for EdDSA. */
static int digest_sign(const struct side *s, EVP_PKEY *key, const char *md,
                       unsigned char *sig, size_t *sig_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok =
        mctx != NULL
        && EVP_DigestSignInit_ex(mctx, NULL, md, NULL, s->pq, key, NULL) == 1
        && EVP_DigestSign(mctx, sig, sig_len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(mctx);
    return ok;
}

/* DigestVerify of msg: 1 valid, 0 invalid or error. */
static int digest_verify(const struct side *s, EVP_PKEY *key, const char *md,
                         const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok =
        mctx != NULL
        && EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, s->pq, key, NULL) == 1
        && EVP_DigestVerify(mctx, sig, sig_len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(mctx);
    return ok;
}

/* RSA decryption with `pad`; out_len in: room. */
static int rsa_decrypt(const struct side *s, int pad, const unsigned char *in,
                       size_t in_len, unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1
             && EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1
             && EVP_PKEY_decrypt(ctx, out, out_len, in, in_len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A ciphertext of msg made on the host with the default provider. */
static int rsa_encrypt_def(int pad, unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, keys_def.rsa, DEF);
    int ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1
             && EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1
             && EVP_PKEY_encrypt(ctx, out, out_len, msg, 20) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* ECDH of s->k->ec with `peer`; out_len in: room (0: size query only). */
static int ecdh(const struct side *s, EVP_PKEY *peer, unsigned char *out,
                size_t *out_len)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ec);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && (peer == NULL || EVP_PKEY_derive_set_peer(ctx, peer) == 1)
             && EVP_PKEY_derive(ctx, out, out_len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* ------------------------------------------------------------------ */
/* digests                                                             */

static const char *const digest_names[] = {"SHA1", "SHA2-224", "SHA2-256",
                                           "SHA2-384", "SHA2-512"};

/* Every digest: final twice (the second must not give a result). */
static int d_final_twice(const struct side *s, struct res *r)
{
    size_t i;
    int all_ok = 1;

    for (i = 0; i < COUNT(digest_names); i++) {
        EVP_MD_CTX *ctx = md_ctx(s, digest_names[i]);
        unsigned int n = 0;

        if (ctx == NULL || !EVP_DigestUpdate(ctx, msg, 3)
            || !EVP_DigestFinal_ex(ctx, r->out, &n)) {
            EVP_MD_CTX_free(ctx);
            return 0; /* setup failed: counts as a failure */
        }
        all_ok &= EVP_DigestFinal_ex(ctx, r->out, &n);
        EVP_MD_CTX_free(ctx);
    }
    return all_ok;
}

static int d_update_after_final(const struct side *s, struct res *r)
{
    size_t i;
    int all_ok = 1;

    for (i = 0; i < COUNT(digest_names); i++) {
        EVP_MD_CTX *ctx = md_ctx(s, digest_names[i]);
        unsigned int n = 0;

        if (ctx == NULL || !EVP_DigestFinal_ex(ctx, r->out, &n)) {
            EVP_MD_CTX_free(ctx);
            return 0;
        }
        all_ok &= EVP_DigestUpdate(ctx, msg, 3);
        EVP_MD_CTX_free(ctx);
    }
    return all_ok;
}

static int d_final_no_init(const struct side *s, struct res *r)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(ctx, r->out, &n);

    (void)s;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static int d_update_no_init(const struct side *s, struct res *r)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = EVP_DigestUpdate(ctx, msg, 3);

    (void)s;
    (void)r;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Every digest of zero bytes, concatenated: a legitimate edge case. */
static int d_zero_length(const struct side *s, struct res *r)
{
    size_t i;
    struct res one;

    r->out_len = 0;
    for (i = 0; i < COUNT(digest_names); i++) {
        EVP_MD_CTX *ctx = md_ctx(s, digest_names[i]);
        unsigned int n = 0;
        int ok = ctx != NULL && EVP_DigestUpdate(ctx, NULL, 0)
                 && EVP_DigestUpdate(ctx, msg, 0)
                 && EVP_DigestFinal_ex(ctx, one.out, &n);

        EVP_MD_CTX_free(ctx);
        if (!ok)
            return 0;
        memcpy(r->out + r->out_len, one.out, n);
        r->out_len += n;
    }
    return 1;
}

/*
 * NULL output: the project's size query (STYLE.md). It must report the
 * size and leave the digest running: the real final must then match.
 */
static int d_final_null_out(const struct side *s, struct res *r)
{
    EVP_MD_CTX *ctx = md_ctx(s, "SHA2-256");
    struct res want;
    unsigned int n = 0;
    int ok = ctx != NULL && EVP_DigestUpdate(ctx, msg, 3)
             && EVP_DigestFinal_ex(ctx, NULL, &n) && n == 32
             && EVP_DigestFinal_ex(ctx, r->out, &n)
             && digest(&(struct side){DEF, NULL, &keys_def}, "SHA2-256", msg, 3,
                       &want)
             && n == want.out_len && memcmp(r->out, want.out, n) == 0;

    EVP_MD_CTX_free(ctx);
    return ok;
}

static int d_copy_uninit(const struct side *s, struct res *r)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    int ok = EVP_MD_CTX_copy_ex(b, a);

    (void)s;
    (void)r;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    return ok;
}

static int d_xof_on_sha256(const struct side *s, struct res *r)
{
    EVP_MD_CTX *ctx = md_ctx(s, "SHA2-256");
    int ok = ctx != NULL && EVP_DigestFinalXOF(ctx, r->out, 10);

    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Provider level: the digest's own functions with what EVP never passes. */
static void (*dispatch_fn(OSSL_PROVIDER *prov, int op, const char *name,
                          int id))(void)
{
    int no_cache = 0;
    const OSSL_ALGORITHM *algs =
        OSSL_PROVIDER_query_operation(prov, op, &no_cache);
    const OSSL_DISPATCH *d;

    for (; algs != NULL && algs->algorithm_names != NULL; algs++) {
        size_t len = strlen(name);
        const char *n = algs->algorithm_names;

        if (strncmp(n, name, len) != 0 || (n[len] != ':' && n[len] != '\0'))
            continue;
        for (d = algs->implementation; d->function_id != 0; d++)
            if (d->function_id == id)
                return d->function;
    }
    return NULL;
}

/* Digest dispatch: final before init, and an output of outsz bytes. */
static int d_dispatch_final(const struct side *s, int init, size_t outsz,
                            int null_out, struct res *r)
{
    OSSL_FUNC_digest_newctx_fn *newctx =
        (OSSL_FUNC_digest_newctx_fn *)dispatch_fn(
            s->prov, OSSL_OP_DIGEST, "SHA2-256", OSSL_FUNC_DIGEST_NEWCTX);
    OSSL_FUNC_digest_init_fn *init_fn = (OSSL_FUNC_digest_init_fn *)dispatch_fn(
        s->prov, OSSL_OP_DIGEST, "SHA2-256", OSSL_FUNC_DIGEST_INIT);
    OSSL_FUNC_digest_final_fn *final = (OSSL_FUNC_digest_final_fn *)dispatch_fn(
        s->prov, OSSL_OP_DIGEST, "SHA2-256", OSSL_FUNC_DIGEST_FINAL);
    OSSL_FUNC_digest_freectx_fn *freectx =
        (OSSL_FUNC_digest_freectx_fn *)dispatch_fn(
            s->prov, OSSL_OP_DIGEST, "SHA2-256", OSSL_FUNC_DIGEST_FREECTX);
    void *provctx = OSSL_PROVIDER_get0_provider_ctx(s->prov);
    void *ctx;
    size_t n = 0;
    int ok;

    if (newctx == NULL || init_fn == NULL || final == NULL || freectx == NULL)
        return 0;
    ctx = newctx(provctx);
    if (ctx == NULL)
        return 0;
    ok = (!init || init_fn(ctx, NULL))
         && final(ctx, null_out ? NULL : r->out, &n, outsz);
    if (ok && null_out) {
        /* The size query leaves the digest running: the real final. */
        struct res want;

        ok = n == 32 && final(ctx, r->out, &n, sizeof(r->out))
             && digest(&(struct side){DEF, NULL, &keys_def}, "SHA2-256", msg, 0,
                       &want)
             && n == want.out_len && memcmp(r->out, want.out, n) == 0;
    }
    freectx(ctx);
    return ok;
}

static int d_disp_final_before_init(const struct side *s, struct res *r)
{
    return d_dispatch_final(s, 0, 32, 0, r);
}

static int d_disp_out_too_small(const struct side *s, struct res *r)
{
    return d_dispatch_final(s, 1, 31, 0, r);
}

static int d_disp_null_out(const struct side *s, struct res *r)
{
    return d_dispatch_final(s, 1, 32, 1, r);
}

/* ------------------------------------------------------------------ */
/* HMAC, CMAC                                                          */

static int h_final_before_init(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, "HMAC", NULL, NULL, NULL, 0, 0);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_MAC_CTX_set_params(ctx, params)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_update_before_init(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, "HMAC", NULL, NULL, NULL, 0, 0);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3);

    (void)r;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_no_key(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", NULL, 0, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_no_digest(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, "HMAC", NULL, NULL, key32, 32, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_unknown_digest(const struct side *s, struct res *r)
{
    return mac_once(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "NO-SUCH-DIGEST", key32,
                    32, msg, 3, r);
}

static int h_cipher_as_digest(const struct side *s, struct res *r)
{
    return mac_once(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "AES-128-CBC", key32, 32,
                    msg, 3, r);
}

static int h_digest_param_int(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, "HMAC", NULL, NULL, NULL, 0, 0);
    int bogus = 5;
    OSSL_PARAM params[2] = {OSSL_PARAM_int(OSSL_MAC_PARAM_DIGEST, &bogus),
                            OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_MAC_CTX_set_params(ctx, params);

    (void)r;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_key_param_utf8(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx = mac_ctx(s, "HMAC", NULL, NULL, NULL, 0, 0);
    OSSL_PARAM params[3] = {
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0),
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_KEY, "a key as text", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_MAC_CTX_set_params(ctx, params)
             && EVP_MAC_init(ctx, NULL, 0, NULL) && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_update_after_final(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32, 32, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    ok = ok && EVP_MAC_update(ctx, msg, 3);
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_final_twice(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32, 32, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    ok = ok && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int h_out_too_small(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32, 32, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, 16);

    EVP_MAC_CTX_free(ctx);
    return ok;
}

/*
 * A NULL output is the size query: both must answer it, and keep the MAC
 * running (the real final, compared, follows).
 */
static int h_null_out_size(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32, 32, 1);
    size_t n = 0;
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, NULL, &n, 0) && n == 32
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* Keys of 0, 1 and 200 bytes and an empty message: legitimate edges. */
static int h_odd_keys(const struct side *s, struct res *r)
{
    static const size_t lens[] = {1, 200};
    unsigned char key[200];
    size_t i;
    struct res one;

    memset(key, 0x5c, sizeof(key));
    r->out_len = 0;
    for (i = 0; i < COUNT(lens); i++) {
        if (!mac_once(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key,
                      lens[i], msg, 0, &one))
            return 0;
        memcpy(r->out + r->out_len, one.out, one.out_len);
        r->out_len += one.out_len;
    }
    return 1;
}

static int h_empty_key(const struct side *s, struct res *r)
{
    unsigned char key[1] = {0};

    return mac_once(s, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key, 0, msg,
                    3, r);
}

static int c_no_cipher(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", NULL, NULL, key32, 16, msg, 3, r);
}

static int c_wrong_key_len(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", key32, 15,
                    msg, 3, r);
}

static int c_key_for_other_size(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-256-CBC", key32, 16,
                    msg, 3, r);
}

static int c_gcm_cipher(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-GCM", key32, 16,
                    msg, 3, r);
}

static int c_unknown_cipher(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "NO-SUCH-CIPHER", key32,
                    16, msg, 3, r);
}

static int c_update_after_final(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", key32, 16, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, sizeof(r->out));

    ok = ok && EVP_MAC_update(ctx, msg, 3);
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int c_out_too_small(const struct side *s, struct res *r)
{
    EVP_MAC_CTX *ctx =
        mac_ctx(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", key32, 16, 1);
    int ok = ctx != NULL && EVP_MAC_update(ctx, msg, 3)
             && EVP_MAC_final(ctx, r->out, &r->out_len, 8);

    EVP_MAC_CTX_free(ctx);
    return ok;
}

static int c_zero_length(const struct side *s, struct res *r)
{
    return mac_once(s, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", key32, 16,
                    msg, 0, r);
}

/* ------------------------------------------------------------------ */
/* ciphers                                                             */

static const char *const block_ciphers[] = {
    "AES-128-ECB", "AES-192-ECB",  "AES-256-ECB", "AES-128-CBC",
    "AES-192-CBC", "AES-256-CBC",  "AES-128-CTR", "AES-192-CTR",
    "AES-256-CTR", "DES-EDE3-ECB", "DES-EDE3-CBC"};

static int e_update_no_init(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    int ok = EVP_EncryptUpdate(ctx, r->out, &n, msg, 16);

    (void)s;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* Every block cipher with a key set but no IV given (NULL IV). */
static int e_no_key(const struct side *s, struct res *r)
{
    size_t i;
    int any_ok = 0;

    for (i = 0; i < COUNT(block_ciphers); i++) {
        EVP_CIPHER_CTX *ctx = cipher_ctx(s, block_ciphers[i], NULL, NULL, 1);

        if (ctx == NULL)
            return 0;
        any_ok |= cipher_all(ctx, msg, 32, r);
        EVP_CIPHER_CTX_free(ctx);
    }
    return any_ok;
}

static int e_key_len_wrong(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", NULL, NULL, 1);
    int ok = ctx != NULL && EVP_CIPHER_CTX_set_key_length(ctx, 15)
             && EVP_CipherInit_ex2(ctx, NULL, key32, iv16, 1, NULL)
             && cipher_all(ctx, msg, 32, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int e_iv_len_wrong(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", NULL, NULL, 1);
    size_t ivlen = 8;
    OSSL_PARAM params[2] = {OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, &ivlen),
                            OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_CIPHER_CTX_set_params(ctx, params)
             && EVP_CipherInit_ex2(ctx, NULL, key32, iv16, 1, NULL)
             && cipher_all(ctx, msg, 32, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int e_padding_param_utf8(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", key32, iv16, 1);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_CIPHER_PARAM_PADDING, "no", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_CIPHER_CTX_set_params(ctx, params);

    (void)r;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int e_keylen_param_octets(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", key32, iv16, 1);
    unsigned char sixteen[1] = {16};
    OSSL_PARAM params[2] = {
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_KEYLEN, sixteen, 1),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_CIPHER_CTX_set_params(ctx, params);

    (void)r;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int e_cbc_bad_padding(const struct side *s, struct res *r)
{
    struct res ct;
    size_t i;
    int any_ok = 0;

    /* Each CBC key size; the last block's padding byte made invalid. */
    static const char *const cbc[] = {"AES-128-CBC", "AES-192-CBC",
                                      "AES-256-CBC", "DES-EDE3-CBC"};
    for (i = 0; i < COUNT(cbc); i++) {
        EVP_CIPHER_CTX *ctx = cipher_ctx(s, cbc[i], key32, iv16, 1);
        unsigned char block[16];
        int n = 0, bs;

        /* Encrypt a full block of 0x00 without padding: pad byte 0. */
        memset(block, 0, sizeof(block));
        if (ctx == NULL)
            return 0;
        bs = EVP_CIPHER_CTX_get_block_size(ctx);
        EVP_CIPHER_CTX_set_padding(ctx, 0);
        if (!EVP_CipherUpdate(ctx, ct.out, &n, block, bs)) {
            EVP_CIPHER_CTX_free(ctx);
            return 0;
        }
        EVP_CIPHER_CTX_free(ctx);
        ctx = cipher_ctx(s, cbc[i], key32, iv16, 0);
        any_ok |= cipher_all(ctx, ct.out, (size_t)bs, r);
        EVP_CIPHER_CTX_free(ctx);
    }
    return any_ok;
}

static int e_decrypt_partial(const struct side *s, struct res *r)
{
    size_t i;
    int any_ok = 0;

    for (i = 0; i < COUNT(block_ciphers); i++) {
        EVP_CIPHER_CTX *ctx;

        if (strstr(block_ciphers[i], "CTR") != NULL)
            continue;
        ctx = cipher_ctx(s, block_ciphers[i], key32, iv16, 0);
        any_ok |= cipher_all(ctx, msg, 13, r);
        EVP_CIPHER_CTX_free(ctx);
    }
    return any_ok;
}

static int e_nopad_partial(const struct side *s, struct res *r)
{
    size_t i;
    int any_ok = 0;

    for (i = 0; i < COUNT(block_ciphers); i++) {
        EVP_CIPHER_CTX *ctx;

        if (strstr(block_ciphers[i], "CTR") != NULL)
            continue;
        ctx = cipher_ctx(s, block_ciphers[i], key32, iv16, 1);
        if (ctx != NULL)
            EVP_CIPHER_CTX_set_padding(ctx, 0);
        any_ok |= cipher_all(ctx, msg, 13, r);
        EVP_CIPHER_CTX_free(ctx);
    }
    return any_ok;
}

/* Update after final: the default provider carries on; output compared. */
static int e_update_after_final(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", key32, iv16, 1);
    int n = 0;
    int ok = cipher_all(ctx, msg, 20, r)
             && EVP_CipherUpdate(ctx, r->out, &n, msg, 16);

    r->out_len = ok ? (size_t)n : 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int e_final_twice(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", key32, iv16, 1);
    int n = 0;
    int ok = cipher_all(ctx, msg, 20, r) && EVP_CipherFinal_ex(ctx, r->out, &n);

    r->out_len = ok ? (size_t)n : 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/*
 * Update with a NULL output (not GCM, where NULL means AAD): the size
 * query of STYLE.md. Nothing may be consumed: the real update and final
 * that follow must give what the default provider gives.
 */
static int e_update_null_out(const struct side *s, struct res *r)
{
    size_t i;

    r->out_len = 0;
    for (i = 0; i < COUNT(block_ciphers); i++) {
        EVP_CIPHER_CTX *ctx = cipher_ctx(s, block_ciphers[i], key32, iv16, 1);
        struct res got, want;
        int n = 0;
        int ok = ctx != NULL && EVP_CipherUpdate(ctx, NULL, &n, msg, 32)
                 && n >= 16 && cipher_all(ctx, msg, 32, &got)
                 && cipher_once(&(struct side){DEF, NULL, &keys_def},
                                block_ciphers[i], 1, msg, 32, &want)
                 && got.out_len == want.out_len
                 && memcmp(got.out, want.out, got.out_len) == 0;

        EVP_CIPHER_CTX_free(ctx);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Final with a NULL output (CBC with a padding block): size query too. */
static int e_final_null_out(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-128-CBC", key32, iv16, 1);
    struct res want;
    int n1 = 0, n2 = 0, q = 0;
    int ok = ctx != NULL && EVP_CipherUpdate(ctx, r->out, &n1, msg, 20)
             && EVP_CipherFinal_ex(ctx, NULL, &q) && q == 16
             && EVP_CipherFinal_ex(ctx, r->out + n1, &n2)
             && cipher_once(&(struct side){DEF, NULL, &keys_def}, "AES-128-CBC",
                            1, msg, 20, &want)
             && (size_t)(n1 + n2) == want.out_len
             && memcmp(r->out, want.out, want.out_len) == 0;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* Zero-length input through every block cipher: legitimate edges. */
static int e_zero_length(const struct side *s, struct res *r)
{
    size_t i;
    struct res one;

    r->out_len = 0;
    for (i = 0; i < COUNT(block_ciphers); i++) {
        EVP_CIPHER_CTX *ctx = cipher_ctx(s, block_ciphers[i], key32, iv16, 1);
        int ok = cipher_all(ctx, msg, 0, &one);

        EVP_CIPHER_CTX_free(ctx);
        if (!ok)
            return 0;
        memcpy(r->out + r->out_len, one.out, one.out_len);
        r->out_len += one.out_len;
    }
    return 1;
}

/* Provider level: update with an output smaller than the input needs. */
static int e_disp_out_too_small(const struct side *s, struct res *r)
{
    OSSL_FUNC_cipher_newctx_fn *newctx =
        (OSSL_FUNC_cipher_newctx_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_NEWCTX);
    OSSL_FUNC_cipher_encrypt_init_fn *einit =
        (OSSL_FUNC_cipher_encrypt_init_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC",
            OSSL_FUNC_CIPHER_ENCRYPT_INIT);
    OSSL_FUNC_cipher_update_fn *update =
        (OSSL_FUNC_cipher_update_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_UPDATE);
    OSSL_FUNC_cipher_freectx_fn *freectx =
        (OSSL_FUNC_cipher_freectx_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_FREECTX);
    void *ctx;
    size_t n = 0;
    int ok;

    if (newctx == NULL || einit == NULL || update == NULL || freectx == NULL)
        return 0;
    ctx = newctx(OSSL_PROVIDER_get0_provider_ctx(s->prov));
    if (ctx == NULL)
        return 0;
    ok = einit(ctx, key32, 16, iv16, 16, NULL)
         && update(ctx, r->out, &n, 16, msg, 40);
    freectx(ctx);
    return ok;
}

/* Provider level: update before init. */
static int e_disp_update_no_init(const struct side *s, struct res *r)
{
    OSSL_FUNC_cipher_newctx_fn *newctx =
        (OSSL_FUNC_cipher_newctx_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_NEWCTX);
    OSSL_FUNC_cipher_update_fn *update =
        (OSSL_FUNC_cipher_update_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_UPDATE);
    OSSL_FUNC_cipher_final_fn *final = (OSSL_FUNC_cipher_final_fn *)dispatch_fn(
        s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_FINAL);
    OSSL_FUNC_cipher_freectx_fn *freectx =
        (OSSL_FUNC_cipher_freectx_fn *)dispatch_fn(
            s->prov, OSSL_OP_CIPHER, "AES-128-CBC", OSSL_FUNC_CIPHER_FREECTX);
    void *ctx;
    size_t n = 0;
    int ok;

    if (newctx == NULL || update == NULL || final == NULL || freectx == NULL)
        return 0;
    ctx = newctx(OSSL_PROVIDER_get0_provider_ctx(s->prov));
    if (ctx == NULL)
        return 0;
    ok = update(ctx, r->out, &n, sizeof(r->out), msg, 32);
    ok = final(ctx, r->out, &n, sizeof(r->out)) || ok;
    freectx(ctx);
    return ok;
}

/* GCM */

static int g_wrong_tag(const struct side *s, struct res *r)
{
    struct res ct;
    unsigned char tag[16];

    if (!gcm_encrypt(&(struct side){DEF, NULL, &keys_def}, msg, 40, &ct))
        return 0;
    memcpy(tag, ct.out + 40, 16);
    tag[3] ^= 1;
    return gcm_decrypt(s, ct.out, 40, tag, 16, r);
}

static int g_no_tag(const struct side *s, struct res *r)
{
    struct res ct;

    if (!gcm_encrypt(&(struct side){DEF, NULL, &keys_def}, msg, 40, &ct))
        return 0;
    return gcm_decrypt(s, ct.out, 40, NULL, 0, r);
}

static int g_wrong_ciphertext(const struct side *s, struct res *r)
{
    struct res ct;

    if (!gcm_encrypt(&(struct side){DEF, NULL, &keys_def}, msg, 40, &ct))
        return 0;
    ct.out[5] ^= 0x80;
    return gcm_decrypt(s, ct.out, 40, ct.out + 40, 16, r);
}

static int g_tag_too_long(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 0);
    unsigned char tag[17] = {0};
    int ok = ctx != NULL
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 17, tag) > 0;

    (void)r;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_tag_zero_len(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 0);
    unsigned char tag[16] = {0};
    int ok = ctx != NULL
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 0, tag) > 0
             && cipher_all(ctx, msg, 16, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* A 4-byte tag: a truncated but valid tag (NIST allows 4..16). */
static int g_short_tag(const struct side *s, struct res *r)
{
    struct res ct;

    if (!gcm_encrypt(&(struct side){DEF, NULL, &keys_def}, msg, 40, &ct))
        return 0;
    return gcm_decrypt(s, ct.out, 40, ct.out + 40, 4, r);
}

static int g_get_tag_before_final(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 1);
    int n = 0;
    int ok = ctx != NULL && EVP_CipherUpdate(ctx, r->out, &n, msg, 16)
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, r->out) > 0;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_get_tag_on_decrypt(const struct side *s, struct res *r)
{
    struct res ct;
    EVP_CIPHER_CTX *ctx;
    int ok, n = 0;

    if (!gcm_encrypt(&(struct side){DEF, NULL, &keys_def}, msg, 16, &ct))
        return 0;
    ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 0);
    ok = ctx != NULL && EVP_CipherUpdate(ctx, NULL, &n, msg, 8)
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, ct.out + 16) > 0
         && cipher_all(ctx, ct.out, 16, r)
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, r->out) > 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_tag_too_long_get(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 1);
    unsigned char tag[32];
    int ok = cipher_all(ctx, msg, 16, r)
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 17, tag) > 0;

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_iv_len_zero(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", NULL, NULL, 1);
    int ok = ctx != NULL
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 0, NULL) > 0
             && EVP_CipherInit_ex2(ctx, NULL, key32, iv16, 1, NULL)
             && cipher_all(ctx, msg, 16, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_ivlen_param_utf8(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", NULL, NULL, 1);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_CIPHER_PARAM_AEAD_IVLEN, "12", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_CIPHER_CTX_set_params(ctx, params);

    (void)r;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_aad_after_data(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 1);
    int n = 0;
    int ok = ctx != NULL && EVP_CipherUpdate(ctx, r->out, &n, msg, 16)
             && EVP_CipherUpdate(ctx, NULL, &n, msg, 8)
             && EVP_CipherFinal_ex(ctx, r->out, &n);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_update_after_final(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", key32, iv16, 1);
    int n = 0;
    int ok = cipher_all(ctx, msg, 16, r)
             && EVP_CipherUpdate(ctx, r->out, &n, msg, 16);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static int g_zero_length(const struct side *s, struct res *r)
{
    return gcm_encrypt(s, msg, 0, r);
}

static int g_no_key(const struct side *s, struct res *r)
{
    EVP_CIPHER_CTX *ctx = cipher_ctx(s, "AES-256-GCM", NULL, NULL, 1);
    int ok = cipher_all(ctx, msg, 16, r);

    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* ------------------------------------------------------------------ */
/* RSA                                                                 */

static int r_pss_digest_too_long(const struct side *s, struct res *r)
{
    unsigned char tbs[64];
    size_t len = sizeof(r->out);
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    int ok;

    memset(tbs, 7, sizeof(tbs));
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1
         && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha512()) == 1
         && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 64) == 1
         && EVP_PKEY_sign(ctx, r->out, &len, tbs, sizeof(tbs)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int r_tbs_wrong_size(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return pkey_sign(s, s->k->rsa, "SHA256", RSA_PKCS1_PADDING, msg, 20, r->out,
                     &len);
}

static int r_raw_too_long(const struct side *s, struct res *r)
{
    unsigned char tbs[200];
    size_t len = sizeof(r->out);

    memset(tbs, 1, sizeof(tbs));
    return pkey_sign(s, s->k->rsa, NULL, RSA_PKCS1_PADDING, tbs, 118, r->out,
                     &len);
}

static int r_sig_buffer_small(const struct side *s, struct res *r)
{
    size_t len = 64;

    return pkey_sign(s, s->k->rsa, "SHA256", RSA_PKCS1_PADDING, msg, 32, r->out,
                     &len);
}

static int r_sig_size_query(const struct side *s, struct res *r)
{
    size_t len = 0;
    int ok = pkey_sign(s, s->k->rsa, "SHA256", RSA_PKCS1_PADDING, msg, 32, NULL,
                       &len);

    r->out_len = sizeof(len);
    memcpy(r->out, &len, sizeof(len));
    return ok;
}

static int r_verify_short(const struct side *s, struct res *r)
{
    unsigned char sig[256];
    size_t len = sizeof(sig);

    (void)r;
    if (!digest_sign(&(struct side){DEF, NULL, &keys_def}, keys_def.rsa,
                     "SHA256", sig, &len))
        return 0;
    return digest_verify(s, s->k->rsa, "SHA256", sig, len - 1);
}

static int r_verify_long(const struct side *s, struct res *r)
{
    unsigned char sig[257];
    size_t len = sizeof(sig) - 1;

    (void)r;
    if (!digest_sign(&(struct side){DEF, NULL, &keys_def}, keys_def.rsa,
                     "SHA256", sig, &len))
        return 0;
    sig[len] = 0;
    return digest_verify(s, s->k->rsa, "SHA256", sig, len + 1);
}

static int r_decrypt_bad_padding(const struct side *s, struct res *r)
{
    unsigned char ct[128];
    size_t len = sizeof(r->out);

    /* Random bytes below the modulus: a PKCS#1 v1.5 padding error. */
    tu_fill(ct, sizeof(ct), 99);
    ct[0] = 0x01;
    return rsa_decrypt(s, RSA_PKCS1_PADDING, ct, sizeof(ct), r->out, &len);
}

static int r_decrypt_oaep_bad(const struct side *s, struct res *r)
{
    unsigned char ct[128];
    size_t len = sizeof(r->out), ct_len = sizeof(ct);

    /* A PKCS#1 v1.5 ciphertext decrypted as OAEP. */
    if (!rsa_encrypt_def(RSA_PKCS1_PADDING, ct, &ct_len))
        return 0;
    return rsa_decrypt(s, RSA_PKCS1_OAEP_PADDING, ct, ct_len, r->out, &len);
}

static int r_decrypt_too_long(const struct side *s, struct res *r)
{
    unsigned char ct[129];
    size_t len = sizeof(r->out);

    tu_fill(ct, sizeof(ct), 98);
    ct[0] = 0;
    return rsa_decrypt(s, RSA_PKCS1_PADDING, ct, sizeof(ct), r->out, &len);
}

static int r_decrypt_above_modulus(const struct side *s, struct res *r)
{
    unsigned char ct[128];
    size_t len = sizeof(r->out);

    memset(ct, 0xff, sizeof(ct));
    return rsa_decrypt(s, RSA_NO_PADDING, ct, sizeof(ct), r->out, &len);
}

static int r_decrypt_out_small(const struct side *s, struct res *r)
{
    unsigned char ct[128];
    size_t len = 8, ct_len = sizeof(ct);

    if (!rsa_encrypt_def(RSA_PKCS1_OAEP_PADDING, ct, &ct_len))
        return 0;
    return rsa_decrypt(s, RSA_PKCS1_OAEP_PADDING, ct, ct_len, r->out, &len);
}

static int r_decrypt_empty(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return rsa_decrypt(s, RSA_PKCS1_PADDING, msg, 0, r->out, &len);
}

static int r_pad_mode_bogus(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, "bogus", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1;

    (void)r;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int r_pad_mode_int_bogus(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    int pad = 99;
    OSSL_PARAM params[2] = {OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad),
                            OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1;

    (void)r;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int r_digest_param_int(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    int v = 5;
    OSSL_PARAM params[2] = {OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_DIGEST, &v),
                            OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1;

    (void)r;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int r_oaep_on_sign(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return pkey_sign(s, s->k->rsa, "SHA256", RSA_PKCS1_OAEP_PADDING, msg, 32,
                     r->out, &len);
}

static int r_sign_public_only(const struct side *s, struct res *r)
{
    EVP_PKEY *pub = convert(s->k->rsa, s->pq, EVP_PKEY_PUBLIC_KEY);
    size_t len = sizeof(r->out);
    int ok = pub != NULL
             && pkey_sign(s, pub, "SHA256", RSA_PKCS1_PADDING, msg, 32, r->out,
                          &len);

    EVP_PKEY_free(pub);
    return ok;
}

static int r_ec_key_rsa_padding(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return pkey_sign(s, s->k->ec, "SHA256", RSA_PKCS1_PADDING, msg, 32, r->out,
                     &len);
}

/* Provider level: an EC key of the provider into its RSA signature. */
static int r_disp_ec_key_into_rsa(const struct side *s, struct res *r)
{
    OSSL_FUNC_keymgmt_new_fn *knew = (OSSL_FUNC_keymgmt_new_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, "EC", OSSL_FUNC_KEYMGMT_NEW);
    OSSL_FUNC_keymgmt_import_fn *kimport =
        (OSSL_FUNC_keymgmt_import_fn *)dispatch_fn(
            s->prov, OSSL_OP_KEYMGMT, "EC", OSSL_FUNC_KEYMGMT_IMPORT);
    OSSL_FUNC_keymgmt_free_fn *kfree = (OSSL_FUNC_keymgmt_free_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, "EC", OSSL_FUNC_KEYMGMT_FREE);
    OSSL_FUNC_signature_newctx_fn *snew =
        (OSSL_FUNC_signature_newctx_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "RSA", OSSL_FUNC_SIGNATURE_NEWCTX);
    OSSL_FUNC_signature_sign_init_fn *sinit =
        (OSSL_FUNC_signature_sign_init_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "RSA", OSSL_FUNC_SIGNATURE_SIGN_INIT);
    OSSL_FUNC_signature_sign_fn *sign =
        (OSSL_FUNC_signature_sign_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "RSA", OSSL_FUNC_SIGNATURE_SIGN);
    OSSL_FUNC_signature_freectx_fn *sfree =
        (OSSL_FUNC_signature_freectx_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "RSA", OSSL_FUNC_SIGNATURE_FREECTX);
    void *provctx = OSSL_PROVIDER_get0_provider_ctx(s->prov);
    OSSL_PARAM *params = NULL;
    void *key = NULL, *sctx = NULL;
    size_t len = sizeof(r->out);
    int ok = 0;

    if (knew == NULL || kimport == NULL || kfree == NULL || snew == NULL
        || sinit == NULL || sign == NULL || sfree == NULL
        || EVP_PKEY_todata(keys_def.ec, EVP_PKEY_KEYPAIR, &params) != 1)
        goto out;
    key = knew(provctx);
    if (key == NULL || !kimport(key, OSSL_KEYMGMT_SELECT_ALL, params))
        goto out;
    sctx = snew(provctx, NULL);
    ok = sctx != NULL && sinit(sctx, key, NULL)
         && sign(sctx, r->out, &len, sizeof(r->out), msg, 32);
out:
    if (sctx != NULL)
        sfree(sctx);
    if (key != NULL)
        kfree(key);
    OSSL_PARAM_free(params);
    return ok;
}

/* ------------------------------------------------------------------ */
/* ECDSA, EdDSA, ECDH                                                  */

static int ec_tbs_wrong_size(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return pkey_sign(s, s->k->ec, "SHA256", 0, msg, 20, r->out, &len);
}

/* No digest set: ECDSA takes any length (truncated to the order). */
static int ec_tbs_long(const struct side *s, struct res *r)
{
    unsigned char tbs[100];
    size_t len = sizeof(r->out);
    int ok;

    memset(tbs, 3, sizeof(tbs));
    ok = pkey_sign(s, s->k->ec, NULL, 0, tbs, sizeof(tbs), r->out, &len);
    r->out_len = 0; /* random: compared by verification in the good op */
    return ok;
}

static int ec_tbs_empty(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return pkey_sign(s, s->k->ec, NULL, 0, msg, 0, r->out, &len);
}

static int ec_sig_buffer_small(const struct side *s, struct res *r)
{
    size_t len = 20;

    return pkey_sign(s, s->k->ec, "SHA256", 0, msg, 32, r->out, &len);
}

static int ec_verify_garbage(const struct side *s, struct res *r)
{
    unsigned char sig[72];

    (void)r;
    tu_fill(sig, sizeof(sig), 5);
    return digest_verify(s, s->k->ec, "SHA256", sig, sizeof(sig));
}

static int ec_verify_trailing(const struct side *s, struct res *r)
{
    unsigned char sig[80];
    size_t len = sizeof(sig) - 1;

    (void)r;
    if (!digest_sign(&(struct side){DEF, NULL, &keys_def}, keys_def.ec,
                     "SHA256", sig, &len))
        return 0;
    sig[len] = 0;
    return digest_verify(s, s->k->ec, "SHA256", sig, len + 1);
}

static int ec_digest_param_bogus(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ec);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, "NO-SUCH", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1;

    (void)r;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int ec_ed_key_into_ecdsa(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return digest_sign(s, s->k->ed, "SHA256", r->out, &len);
}

static int ec_sign_public_only(const struct side *s, struct res *r)
{
    EVP_PKEY *pub = convert(s->k->ec, s->pq, EVP_PKEY_PUBLIC_KEY);
    size_t len = sizeof(r->out);
    int ok =
        pub != NULL && pkey_sign(s, pub, "SHA256", 0, msg, 32, r->out, &len);

    EVP_PKEY_free(pub);
    return ok;
}

/*
 * Provider level: a key of type `kt` (made from `from`) into `alg` of
 * operation `op`: a signature by digest_sign (EdDSA has nothing else) or
 * the key exchange by init.
 */
static int disp_wrong_key(const struct side *s, const char *kt, EVP_PKEY *from,
                          int op, const char *alg, struct res *r)
{
    OSSL_FUNC_keymgmt_new_fn *knew = (OSSL_FUNC_keymgmt_new_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, kt, OSSL_FUNC_KEYMGMT_NEW);
    OSSL_FUNC_keymgmt_import_fn *kimport =
        (OSSL_FUNC_keymgmt_import_fn *)dispatch_fn(s->prov, OSSL_OP_KEYMGMT, kt,
                                                   OSSL_FUNC_KEYMGMT_IMPORT);
    OSSL_FUNC_keymgmt_free_fn *kfree = (OSSL_FUNC_keymgmt_free_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, kt, OSSL_FUNC_KEYMGMT_FREE);
    int sig = op == OSSL_OP_SIGNATURE;
    OSSL_FUNC_signature_newctx_fn *onew =
        (OSSL_FUNC_signature_newctx_fn *)dispatch_fn(
            s->prov, op, alg,
            sig                         ? OSSL_FUNC_SIGNATURE_NEWCTX
            : op == OSSL_OP_ASYM_CIPHER ? OSSL_FUNC_ASYM_CIPHER_NEWCTX
                                        : OSSL_FUNC_KEYEXCH_NEWCTX);
    OSSL_FUNC_signature_freectx_fn *ofree =
        (OSSL_FUNC_signature_freectx_fn *)dispatch_fn(
            s->prov, op, alg,
            sig                         ? OSSL_FUNC_SIGNATURE_FREECTX
            : op == OSSL_OP_ASYM_CIPHER ? OSSL_FUNC_ASYM_CIPHER_FREECTX
                                        : OSSL_FUNC_KEYEXCH_FREECTX);
    OSSL_FUNC_signature_digest_sign_init_fn *sinit =
        (OSSL_FUNC_signature_digest_sign_init_fn *)dispatch_fn(
            s->prov, op, alg, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT);
    OSSL_FUNC_signature_digest_sign_fn *sign =
        (OSSL_FUNC_signature_digest_sign_fn *)dispatch_fn(
            s->prov, op, alg, OSSL_FUNC_SIGNATURE_DIGEST_SIGN);
    OSSL_FUNC_keyexch_init_fn *xinit = (OSSL_FUNC_keyexch_init_fn *)dispatch_fn(
        s->prov, op, alg, OSSL_FUNC_KEYEXCH_INIT);
    OSSL_FUNC_asym_cipher_decrypt_init_fn *dinit =
        (OSSL_FUNC_asym_cipher_decrypt_init_fn *)dispatch_fn(
            s->prov, op, alg, OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT);
    OSSL_FUNC_asym_cipher_decrypt_fn *decrypt =
        (OSSL_FUNC_asym_cipher_decrypt_fn *)dispatch_fn(
            s->prov, op, alg, OSSL_FUNC_ASYM_CIPHER_DECRYPT);
    int asym = op == OSSL_OP_ASYM_CIPHER;
    unsigned char ct[128];
    void *provctx = OSSL_PROVIDER_get0_provider_ctx(s->prov);
    OSSL_PARAM *params = NULL;
    void *key = NULL, *octx = NULL;
    size_t len = sizeof(r->out);
    int ok = 0;

    if (knew == NULL || kimport == NULL || kfree == NULL || onew == NULL
        || ofree == NULL || (sig && (sinit == NULL || sign == NULL))
        || (asym && (dinit == NULL || decrypt == NULL))
        || (!sig && !asym && xinit == NULL)
        || EVP_PKEY_todata(from, EVP_PKEY_KEYPAIR, &params) != 1) {
        printf("(test setup failed)\n");
        goto out;
    }
    key = knew(provctx);
    if (key == NULL || !kimport(key, OSSL_KEYMGMT_SELECT_ALL, params))
        goto out;
    octx = onew(provctx, NULL);
    if (sig)
        ok = octx != NULL && sinit(octx, NULL, key, NULL)
             && sign(octx, r->out, &len, sizeof(r->out), msg, 32);
    else if (asym) {
        tu_fill(ct, sizeof(ct), 3);
        ct[0] = 0;
        ok = octx != NULL && dinit(octx, key, NULL)
             && decrypt(octx, r->out, &len, sizeof(r->out), ct, sizeof(ct));
    } else
        ok = octx != NULL && xinit(octx, key, NULL);
out:
    if (octx != NULL)
        ofree(octx);
    if (key != NULL)
        kfree(key);
    OSSL_PARAM_free(params);
    return ok;
}

static int ed_disp_ec_key_into_eddsa(const struct side *s, struct res *r)
{
    return disp_wrong_key(s, "EC", keys_def.ec, OSSL_OP_SIGNATURE, "ED25519",
                          r);
}

static int r_disp_ec_key_into_rsa_decrypt(const struct side *s, struct res *r)
{
    return disp_wrong_key(s, "EC", keys_def.ec, OSSL_OP_ASYM_CIPHER, "RSA", r);
}

static int x_disp_ed_key_into_ecdh(const struct side *s, struct res *r)
{
    return disp_wrong_key(s, "ED25519", keys_def.ed, OSSL_OP_KEYEXCH, "ECDH",
                          r);
}

/* Provider level: an RSA key of the provider into its ECDSA signature. */
static int ec_disp_rsa_key_into_ecdsa(const struct side *s, struct res *r)
{
    OSSL_FUNC_keymgmt_new_fn *knew = (OSSL_FUNC_keymgmt_new_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, "RSA", OSSL_FUNC_KEYMGMT_NEW);
    OSSL_FUNC_keymgmt_import_fn *kimport =
        (OSSL_FUNC_keymgmt_import_fn *)dispatch_fn(
            s->prov, OSSL_OP_KEYMGMT, "RSA", OSSL_FUNC_KEYMGMT_IMPORT);
    OSSL_FUNC_keymgmt_free_fn *kfree = (OSSL_FUNC_keymgmt_free_fn *)dispatch_fn(
        s->prov, OSSL_OP_KEYMGMT, "RSA", OSSL_FUNC_KEYMGMT_FREE);
    OSSL_FUNC_signature_newctx_fn *snew =
        (OSSL_FUNC_signature_newctx_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "ECDSA", OSSL_FUNC_SIGNATURE_NEWCTX);
    OSSL_FUNC_signature_sign_init_fn *sinit =
        (OSSL_FUNC_signature_sign_init_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "ECDSA", OSSL_FUNC_SIGNATURE_SIGN_INIT);
    OSSL_FUNC_signature_sign_fn *sign =
        (OSSL_FUNC_signature_sign_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "ECDSA", OSSL_FUNC_SIGNATURE_SIGN);
    OSSL_FUNC_signature_freectx_fn *sfree =
        (OSSL_FUNC_signature_freectx_fn *)dispatch_fn(
            s->prov, OSSL_OP_SIGNATURE, "ECDSA", OSSL_FUNC_SIGNATURE_FREECTX);
    void *provctx = OSSL_PROVIDER_get0_provider_ctx(s->prov);
    OSSL_PARAM *params = NULL;
    void *key = NULL, *sctx = NULL;
    size_t len = sizeof(r->out);
    int ok = 0;

    if (knew == NULL || kimport == NULL || kfree == NULL || snew == NULL
        || sinit == NULL || sign == NULL || sfree == NULL
        || EVP_PKEY_todata(keys_def.rsa, EVP_PKEY_KEYPAIR, &params) != 1)
        goto out;
    key = knew(provctx);
    if (key == NULL || !kimport(key, OSSL_KEYMGMT_SELECT_ALL, params))
        goto out;
    sctx = snew(provctx, NULL);
    ok = sctx != NULL && sinit(sctx, key, NULL)
         && sign(sctx, r->out, &len, sizeof(r->out), msg, 32);
out:
    if (sctx != NULL)
        sfree(sctx);
    if (key != NULL)
        kfree(key);
    OSSL_PARAM_free(params);
    return ok;
}

static int ed_with_digest(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return digest_sign(s, s->k->ed, "SHA512", r->out, &len);
}

static int ed_buffer_small(const struct side *s, struct res *r)
{
    size_t len = 32;

    return digest_sign(s, s->k->ed, NULL, r->out, &len);
}

static int ed_verify_short(const struct side *s, struct res *r)
{
    unsigned char sig[64];
    size_t len = sizeof(sig);

    (void)r;
    if (!digest_sign(&(struct side){DEF, NULL, &keys_def}, keys_def.ed, NULL,
                     sig, &len))
        return 0;
    return digest_verify(s, s->k->ed, NULL, sig, len - 1);
}

static int ed_verify_long(const struct side *s, struct res *r)
{
    unsigned char sig[65];
    size_t len = 64;

    (void)r;
    if (!digest_sign(&(struct side){DEF, NULL, &keys_def}, keys_def.ed, NULL,
                     sig, &len))
        return 0;
    sig[64] = 0;
    return digest_verify(s, s->k->ed, NULL, sig, 65);
}

/* EdDSA of an empty message: deterministic, so the bytes must match. */
static int ed_empty_message(const struct side *s, struct res *r)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t len = sizeof(r->out);
    int ok =
        mctx != NULL
        && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, s->pq, s->k->ed, NULL)
               == 1
        && EVP_DigestSign(mctx, r->out, &len, msg, 0) == 1;

    r->out_len = ok ? len : 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

static int ed_streaming(const struct side *s, struct res *r)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t len = sizeof(r->out);
    int ok =
        mctx != NULL
        && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, s->pq, s->k->ed, NULL)
               == 1
        && EVP_DigestSignUpdate(mctx, msg, 10) == 1
        && EVP_DigestSignFinal(mctx, r->out, &len) == 1;

    EVP_MD_CTX_free(mctx);
    return ok;
}

static int x_no_peer(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return ecdh(s, NULL, r->out, &len);
}

static int x_peer_other_curve(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return ecdh(s, s->k->ec384, r->out, &len);
}

static int x_peer_rsa(const struct side *s, struct res *r)
{
    size_t len = sizeof(r->out);

    return ecdh(s, s->k->rsapub, r->out, &len);
}

static int x_rsa_key(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->rsa);
    size_t len = sizeof(r->out);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, s->k->rsapub) == 1
             && EVP_PKEY_derive(ctx, r->out, &len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int x_ed_key(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ed);
    size_t len = sizeof(r->out);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, s->k->ec_b) == 1
             && EVP_PKEY_derive(ctx, r->out, &len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A short buffer: the default provider truncates the shared secret. */
static int x_out_small(const struct side *s, struct res *r)
{
    size_t len = 16;
    int ok = ecdh(s, s->k->ec_b, r->out, &len);

    r->out_len = ok ? len : 0;
    return ok;
}

static int x_size_query(const struct side *s, struct res *r)
{
    size_t len = 0;
    int ok = ecdh(s, s->k->ec_b, NULL, &len);

    r->out_len = sizeof(len);
    memcpy(r->out, &len, sizeof(len));
    return ok;
}

static int x_kdf_bogus(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ec);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, "NO-SUCH-KDF", 0),
        OSSL_PARAM_END};
    size_t len = sizeof(r->out);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, s->k->ec_b) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1
             && EVP_PKEY_derive(ctx, r->out, &len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int x_kdf_no_outlen(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ec);
    OSSL_PARAM params[3] = {
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, "X963KDF", 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, "SHA256", 0),
        OSSL_PARAM_END};
    size_t len = sizeof(r->out);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, s->k->ec_b) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1
             && EVP_PKEY_derive(ctx, r->out, &len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int x_kdf_outlen_utf8(const struct side *s, struct res *r)
{
    EVP_PKEY_CTX *ctx = pkey_ctx(s, s->k->ec);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, "32", 0),
        OSSL_PARAM_END};
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_CTX_set_params(ctx, params) == 1;

    (void)r;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* ------------------------------------------------------------------ */
/* the table                                                           */

static const struct row rows[] = {
    {F_DIGEST, "digest / final twice (all SHA)", d_final_twice, 0, NULL, NULL},
    {F_DIGEST, "digest / update after final (all SHA)", d_update_after_final, 0,
     NULL, NULL},
    {F_DIGEST, "digest / final before init", d_final_no_init, 0, NULL, NULL},
    {F_DIGEST, "digest / update before init", d_update_no_init, 0, NULL, NULL},
    {F_DIGEST, "digest / zero-length input (all SHA)", d_zero_length,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_DIGEST, "digest / NULL output: size query, digest kept",
     d_final_null_out, P11ONLY | MUST_OK, NULL, NULL},
    {F_DIGEST, "digest / copy of an uninitialised context", d_copy_uninit, 0,
     NULL, NULL},
    {F_DIGEST, "digest / XOF final on SHA-256", d_xof_on_sha256, 0, NULL, NULL},
    {F_DIGEST, "digest dispatch / final before init", d_disp_final_before_init,
     P11ONLY, NULL, NULL},
    {F_DIGEST, "digest dispatch / output buffer too small",
     d_disp_out_too_small, 0, NULL, NULL},
    {F_DIGEST, "digest dispatch / NULL output: size query, digest kept",
     d_disp_null_out, P11ONLY | MUST_OK, NULL, NULL},
    {F_HMAC, "HMAC / final before init", h_final_before_init, 0, NULL, NULL},
    {F_HMAC, "HMAC / update before init", h_update_before_init, 0, NULL, NULL},
    {F_HMAC, "HMAC / no key", h_no_key, 0, NULL, NULL},
    {F_HMAC, "HMAC / no digest", h_no_digest, 0, NULL, NULL},
    {F_HMAC, "HMAC / unknown digest", h_unknown_digest, 0, NULL, NULL},
    {F_HMAC, "HMAC / a cipher named as digest", h_cipher_as_digest, 0, NULL,
     NULL},
    {F_HMAC, "HMAC / digest param of type int", h_digest_param_int, 0, NULL,
     NULL},
    {F_HMAC, "HMAC / key param of type utf8", h_key_param_utf8, 0, NULL, NULL},
    {F_HMAC, "HMAC / update after final", h_update_after_final, 0, NULL, NULL},
    {F_HMAC, "HMAC / final twice", h_final_twice, 0, NULL, NULL},
    {F_HMAC, "HMAC / output buffer too small", h_out_too_small, 0, NULL, NULL},
    {F_HMAC, "HMAC / NULL output: size query, MAC kept", h_null_out_size,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_HMAC, "HMAC / 1- and 200-byte keys, empty message", h_odd_keys,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_HMAC, "HMAC / zero-length key", h_empty_key, SAME_OUT, NULL, NULL},
    {F_CMAC, "CMAC / no cipher", c_no_cipher, 0, NULL, NULL},
    {F_CMAC, "CMAC / 15-byte key for AES-128", c_wrong_key_len, 0, NULL, NULL},
    {F_CMAC, "CMAC / 16-byte key for AES-256", c_key_for_other_size, 0, NULL,
     NULL},
    {F_CMAC, "CMAC / GCM cipher", c_gcm_cipher, 0, NULL, NULL},
    {F_CMAC, "CMAC / unknown cipher", c_unknown_cipher, 0, NULL, NULL},
    {F_CMAC, "CMAC / update after final", c_update_after_final, 0, NULL, NULL},
    {F_CMAC, "CMAC / output buffer too small", c_out_too_small, 0, NULL, NULL},
    {F_CMAC, "CMAC / zero-length message", c_zero_length, SAME_OUT | MUST_OK,
     NULL, NULL},
    {F_CIPHER, "cipher / update before init", e_update_no_init, 0, NULL, NULL},
    {F_CIPHER, "cipher / no key, no IV (all block ciphers)", e_no_key, 0, NULL,
     NULL},
    {F_CIPHER, "cipher / key length 15 for AES-128-CBC", e_key_len_wrong, 0,
     NULL, NULL},
    {F_CIPHER, "cipher / IV length 8 for AES-128-CBC", e_iv_len_wrong, 0, NULL,
     NULL},
    {F_CIPHER, "cipher / padding param of type utf8", e_padding_param_utf8, 0,
     NULL, NULL},
    {F_CIPHER, "cipher / keylen param of type octets", e_keylen_param_octets, 0,
     NULL, NULL},
    {F_CIPHER, "cipher / CBC decrypt with bad padding", e_cbc_bad_padding, 0,
     NULL, NULL},
    {F_CIPHER, "cipher / decrypt of a partial block (ECB, CBC)",
     e_decrypt_partial, 0, NULL, NULL},
    {F_CIPHER, "cipher / encrypt partial block without padding",
     e_nopad_partial, 0, NULL, NULL},
    {F_CIPHER, "cipher / update after final", e_update_after_final, SAME_OUT,
     NULL, NULL},
    {F_CIPHER, "cipher / final twice", e_final_twice, SAME_OUT, NULL, NULL},
    {F_CIPHER, "cipher / update NULL output: size query, input kept (all)",
     e_update_null_out, P11ONLY | MUST_OK, NULL, NULL},
    {F_CIPHER, "cipher / final NULL output: size query, block kept (CBC)",
     e_final_null_out, P11ONLY | MUST_OK, NULL, NULL},
    {F_CIPHER, "cipher / zero-length input (all block ciphers)", e_zero_length,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_CIPHER, "cipher dispatch / update output too small",
     e_disp_out_too_small, 0, NULL, NULL},
    {F_CIPHER, "cipher dispatch / update and final before init",
     e_disp_update_no_init, 0, NULL, NULL},
    {F_GCM, "GCM / wrong tag", g_wrong_tag, 0, NULL, NULL},
    {F_GCM, "GCM / no tag on decrypt", g_no_tag, 0, NULL, NULL},
    {F_GCM, "GCM / altered ciphertext", g_wrong_ciphertext, 0, NULL, NULL},
    {F_GCM, "GCM / 17-byte tag", g_tag_too_long, 0, NULL, NULL},
    {F_GCM, "GCM / 0-byte tag", g_tag_zero_len, 0, NULL, NULL},
    {F_GCM, "GCM / 4-byte truncated tag", g_short_tag, SAME_OUT, NULL, NULL},
    {F_GCM, "GCM / get tag before final", g_get_tag_before_final, 0, NULL,
     NULL},
    {F_GCM, "GCM / get tag on decrypt", g_get_tag_on_decrypt, 0, NULL, NULL},
    {F_GCM, "GCM / get 17-byte tag", g_tag_too_long_get, 0, NULL, NULL},
    {F_GCM, "GCM / IV length 0", g_iv_len_zero, 0, NULL, NULL},
    {F_GCM, "GCM / ivlen param of type utf8", g_ivlen_param_utf8, 0, NULL,
     NULL},
    {F_GCM, "GCM / AAD after data", g_aad_after_data, 0, NULL, NULL},
    {F_GCM, "GCM / update after final", g_update_after_final, 0, NULL, NULL},
    {F_GCM, "GCM / zero-length plaintext", g_zero_length, SAME_OUT | MUST_OK,
     NULL, NULL},
    {F_GCM, "GCM / no key", g_no_key, 0, NULL, NULL},
    {F_RSA, "RSA sign / PSS SHA-512 digest too long for RSA-1024",
     r_pss_digest_too_long, 0, NULL, NULL},
    {F_RSA, "RSA sign / 20-byte input for SHA-256", r_tbs_wrong_size, 0, NULL,
     NULL},
    {F_RSA, "RSA sign / raw PKCS#1 input too long for the key", r_raw_too_long,
     0, NULL, NULL},
    {F_RSA, "RSA sign / signature buffer too small", r_sig_buffer_small, 0,
     NULL, NULL},
    {F_RSA, "RSA sign / NULL output: size query", r_sig_size_query,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_RSA, "RSA sign / OAEP padding on a signature", r_oaep_on_sign, 0, NULL,
     NULL},
    {F_RSA, "RSA sign / public key only", r_sign_public_only, 0, NULL, NULL},
    {F_RSA, "RSA sign / pad-mode \"bogus\"", r_pad_mode_bogus, 0, NULL, NULL},
    {F_RSA, "RSA sign / pad-mode int 99", r_pad_mode_int_bogus, 0, NULL, NULL},
    {F_RSA, "RSA sign / digest param of type int", r_digest_param_int, 0, NULL,
     NULL},
    {F_RSA, "RSA verify / signature one byte short", r_verify_short, 0, NULL,
     NULL},
    {F_RSA, "RSA verify / signature one byte long", r_verify_long, 0, NULL,
     NULL},
    {F_RSA, "RSA decrypt / bad PKCS#1 padding", r_decrypt_bad_padding, 0, NULL,
     NULL},
    {F_RSA, "RSA decrypt / PKCS#1 ciphertext as OAEP", r_decrypt_oaep_bad, 0,
     NULL, NULL},
    {F_RSA, "RSA decrypt / ciphertext longer than the modulus",
     r_decrypt_too_long, 0, NULL, NULL},
    {F_RSA, "RSA decrypt / raw ciphertext above the modulus",
     r_decrypt_above_modulus, 0, NULL, NULL},
    {F_RSA, "RSA decrypt / output buffer too small", r_decrypt_out_small, 0,
     NULL, NULL},
    {F_RSA, "RSA decrypt / empty ciphertext", r_decrypt_empty, 0, NULL, NULL},
    {F_RSA, "RSA sign / EC key with RSA padding", r_ec_key_rsa_padding, 0, NULL,
     NULL},
    {F_RSA, "RSA dispatch / EC key into the RSA signature",
     r_disp_ec_key_into_rsa, RISKY, NULL, "RSA key"},
    {F_RSA, "RSA dispatch / EC key into RSA decryption",
     r_disp_ec_key_into_rsa_decrypt, RISKY, NULL, "RSA key"},
    {F_ECDSA, "ECDSA sign / 20-byte input for SHA-256", ec_tbs_wrong_size, 0,
     NULL, NULL},
    {F_ECDSA, "ECDSA sign / 100-byte input, no digest", ec_tbs_long, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA sign / empty input, no digest", ec_tbs_empty, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA sign / signature buffer too small", ec_sig_buffer_small, 0,
     NULL, NULL},
    {F_ECDSA, "ECDSA sign / digest \"NO-SUCH\"", ec_digest_param_bogus, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA sign / public key only", ec_sign_public_only, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA verify / garbage signature", ec_verify_garbage, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA verify / trailing byte", ec_verify_trailing, 0, NULL,
     NULL},
    {F_ECDSA, "ECDSA sign / Ed25519 key with SHA-256", ec_ed_key_into_ecdsa, 0,
     NULL, NULL},
    {F_ECDSA, "ECDSA dispatch / RSA key into the ECDSA signature",
     ec_disp_rsa_key_into_ecdsa, RISKY, NULL, "EC key"},
    {F_EDDSA, "EdDSA dispatch / EC key into the Ed25519 signature",
     ed_disp_ec_key_into_eddsa, RISKY, NULL, "key"},
    {F_ECDH, "ECDH dispatch / Ed25519 key into ECDH", x_disp_ed_key_into_ecdh,
     RISKY, NULL, "key"},
    {F_EDDSA, "EdDSA sign / with a digest", ed_with_digest, 0, NULL, NULL},
    {F_EDDSA, "EdDSA sign / signature buffer too small", ed_buffer_small, 0,
     NULL, NULL},
    {F_EDDSA, "EdDSA sign / streaming (update+final)", ed_streaming, 0, NULL,
     NULL},
    {F_EDDSA, "EdDSA verify / signature one byte short", ed_verify_short, 0,
     NULL, NULL},
    {F_EDDSA, "EdDSA verify / signature one byte long", ed_verify_long, 0, NULL,
     NULL},
    {F_EDDSA, "EdDSA sign / empty message", ed_empty_message,
     SAME_OUT | MUST_OK, NULL, NULL},
    {F_ECDH, "ECDH / no peer", x_no_peer, 0, NULL, NULL},
    {F_ECDH, "ECDH / peer on another curve", x_peer_other_curve, 0, NULL, NULL},
    {F_ECDH, "ECDH / RSA peer", x_peer_rsa, 0, NULL, NULL},
    {F_ECDH, "ECDH / RSA key", x_rsa_key, 0, NULL, NULL},
    {F_ECDH, "ECDH / Ed25519 key", x_ed_key, 0, NULL, NULL},
    {F_ECDH, "ECDH / output buffer too small", x_out_small, SAME_OUT, NULL,
     NULL},
    {F_ECDH, "ECDH / NULL output: size query", x_size_query, SAME_OUT | MUST_OK,
     NULL, NULL},
    {F_ECDH, "ECDH / unknown KDF", x_kdf_bogus, 0, NULL, NULL},
    {F_ECDH, "ECDH / X9.63 KDF without outlen", x_kdf_no_outlen, 0, NULL, NULL},
    {F_ECDH, "ECDH / kdf-outlen of type utf8", x_kdf_outlen_utf8, 0, NULL,
     NULL},
};

/* ------------------------------------------------------------------ */
/* good operations: the next user must find everything working         */

static int good_op(enum family fam)
{
    struct side p = {P11, NULL, &keys_p11}, d = {DEF, NULL, &keys_def};
    struct res a, b;
    unsigned char sig[256];
    size_t sig_len = sizeof(sig);
    int ok = 0;

    switch (fam) {
    case F_DIGEST:
        ok = digest(&p, "SHA2-256", msg, 40, &a)
             && digest(&d, "SHA2-256", msg, 40, &b);
        break;
    case F_HMAC:
        ok = mac_once(&p, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32, 32,
                      msg, 40, &a)
             && mac_once(&d, "HMAC", OSSL_MAC_PARAM_DIGEST, "SHA2-256", key32,
                         32, msg, 40, &b);
        break;
    case F_CMAC:
        ok = mac_once(&p, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", key32,
                      16, msg, 40, &a)
             && mac_once(&d, "CMAC", OSSL_MAC_PARAM_CIPHER, "AES-128-CBC",
                         key32, 16, msg, 40, &b);
        break;
    case F_CIPHER:
        ok = cipher_once(&p, "AES-128-CBC", 1, msg, 40, &a)
             && cipher_once(&d, "AES-128-CBC", 1, msg, 40, &b);
        break;
    case F_GCM:
        ok = gcm_encrypt(&p, msg, 40, &a) && gcm_encrypt(&d, msg, 40, &b);
        break;
    case F_RSA: {
        unsigned char ct[128];
        size_t ct_len = sizeof(ct);

        a.out_len = sizeof(a.out);
        ok = digest_sign(&p, keys_p11.rsa, "SHA256", sig, &sig_len)
             && digest_verify(&d, keys_def.rsa, "SHA256", sig, sig_len)
             && rsa_encrypt_def(RSA_PKCS1_OAEP_PADDING, ct, &ct_len)
             && rsa_decrypt(&p, RSA_PKCS1_OAEP_PADDING, ct, ct_len, a.out,
                            &a.out_len);
        memcpy(b.out, msg, 20);
        b.out_len = 20;
        break;
    }
    case F_ECDSA:
        ok = digest_sign(&p, keys_p11.ec, "SHA256", sig, &sig_len)
             && digest_verify(&d, keys_def.ec, "SHA256", sig, sig_len);
        a.out_len = b.out_len = 0;
        break;
    case F_EDDSA:
        a.out_len = b.out_len = 64;
        ok = digest_sign(&p, keys_p11.ed, NULL, a.out, &a.out_len)
             && digest_sign(&d, keys_def.ed, NULL, b.out, &b.out_len);
        break;
    case F_ECDH:
        a.out_len = b.out_len = sizeof(a.out);
        ok = ecdh(&p, keys_p11.ec_b, a.out, &a.out_len)
             && ecdh(&d, keys_def.ec_b, b.out, &b.out_len);
        break;
    }
    return ok && a.out_len == b.out_len && memcmp(a.out, b.out, a.out_len) == 0;
}

/* ------------------------------------------------------------------ */

/* Outcome of one side of a row. */
struct outcome {
    int ran;        /* 0: not run (P11ONLY on the default) */
    int ok;         /* the call succeeded */
    int crashed;    /* RISKY child died: the signal */
    char err[400];  /* last error text, "" if none */
    struct res res; /* output */
};

static void run_side(const struct row *row, const struct side *s,
                     struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->ran = 1;
    ERR_clear_error();
    if (row->flags & RISKY) {
        int fds[2];
        pid_t pid;
        int status = 0;

        fflush(stdout);
        if (pipe(fds) != 0)
            return;
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            o->ok = row->run(s, &o->res);
            last_error(o->err, sizeof(o->err));
            if (write(fds[1], o, sizeof(*o)) != (ssize_t)sizeof(*o))
                _exit(3);
            _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], o, sizeof(*o)) != (ssize_t)sizeof(*o))
            o->ran = 1;
        close(fds[0]);
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            o->crashed = WTERMSIG(status);
        o->ran = 1;
        return;
    }
    o->ok = row->run(s, &o->res);
    last_error(o->err, sizeof(o->err));
    ERR_clear_error();
}

static int run_row(const struct row *row)
{
    struct side p = {P11, NULL, &keys_p11}, d = {DEF, NULL, &keys_def};
    struct outcome op, od;
    const char *why = NULL;
    int good;

    p.prov = p11be;
    d.prov = deflt;
    run_side(row, &p, &op);
    if (!(row->flags & P11ONLY))
        run_side(row, &d, &od);
    else
        memset(&od, 0, sizeof(od));

    if (op.crashed)
        why = "pkcs11be crashed";
    else if (!op.ok && op.err[0] == '\0'
             && !(od.ran && !od.ok && !od.crashed && od.err[0] == '\0'))
        why = "pkcs11be failed with an empty error queue";
    else if (op.ok && (row->flags & P11ONLY) && !(row->flags & MUST_OK))
        why = "pkcs11be accepted it";
    else if (op.ok && od.ran && !od.ok && !(row->flags & MUST_OK))
        why = "pkcs11be accepted what the default provider refuses";
    else if (!op.ok && row->want != NULL && strstr(op.err, row->want) == NULL)
        why = "pkcs11be's error does not name the problem";
    else if (!op.ok && (row->flags & MUST_OK))
        why = "pkcs11be refused a legitimate edge case";
    else if (op.ok && od.ran && od.ok && (row->flags & SAME_OUT)
             && (op.res.out_len != od.res.out_len
                 || memcmp(op.res.out, od.res.out, op.res.out_len) != 0))
        why = "pkcs11be's output differs from the default provider's";
    good = good_op(row->fam);
    if (why == NULL && !good)
        why = "the next good operation failed";

    printf("%s: %s: pkcs11be %s",
           why == NULL ? "ok"
           : row->todo ? "TODO"
                       : "FAIL",
           row->name,
           op.crashed ? "CRASHED"
           : op.ok    ? "succeeded"
                      : "failed");
    if (!op.ok && !op.crashed)
        printf(" [%s]", op.err[0] != '\0' ? op.err : "no error queued");
    if (od.ran)
        printf("; default %s", od.crashed ? "CRASHED"
                               : od.ok    ? "succeeded"
                                          : "failed");
    if (od.ran && !od.ok && !od.crashed && (verbose || od.err[0] == '\0'))
        printf(" [%s]", od.err[0] != '\0' ? od.err : "no error queued");
    if (why != NULL)
        printf(" -- %s", why);
    if (why != NULL && row->todo != NULL)
        printf(" (TODO: %s)", row->todo);
    printf("\n");
    if (!good) {
        printf("  next good operation: ");
        ERR_print_errors_fp(stdout);
        printf("\n");
    }
    ERR_clear_error();
    if (why == NULL)
        return 0;
    return row->todo != NULL ? 2 : 1;
}

static int make_keys(void)
{
    EVP_PKEY *ec384;

    keys_def.rsa = EVP_PKEY_Q_keygen(NULL, DEF, "RSA", (size_t)1024);
    keys_def.ec = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    keys_def.ec_b = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-384");
    keys_def.ed = EVP_PKEY_Q_keygen(NULL, DEF, "ED25519");
    if (keys_def.rsa == NULL || keys_def.ec == NULL || keys_def.ec_b == NULL
        || ec384 == NULL || keys_def.ed == NULL)
        return 0;
    keys_def.ec384 = convert(ec384, DEF, EVP_PKEY_PUBLIC_KEY);
    keys_def.rsapub = convert(keys_def.rsa, DEF, EVP_PKEY_PUBLIC_KEY);
    EVP_PKEY_free(ec384);
    keys_p11.rsa = convert(keys_def.rsa, P11, EVP_PKEY_KEYPAIR);
    keys_p11.ec = convert(keys_def.ec, P11, EVP_PKEY_KEYPAIR);
    keys_p11.ec_b = convert(keys_def.ec_b, P11, EVP_PKEY_PUBLIC_KEY);
    keys_p11.ec384 = convert(keys_def.ec384, P11, EVP_PKEY_PUBLIC_KEY);
    keys_p11.ed = convert(keys_def.ed, P11, EVP_PKEY_KEYPAIR);
    keys_p11.rsapub = convert(keys_def.rsa, P11, EVP_PKEY_PUBLIC_KEY);
    return keys_p11.rsa != NULL && keys_p11.ec != NULL && keys_p11.ec_b != NULL
           && keys_p11.ec384 != NULL && keys_p11.ed != NULL
           && keys_p11.rsapub != NULL && keys_def.ec384 != NULL
           && keys_def.rsapub != NULL;
}

static void free_keys(struct keys *k)
{
    EVP_PKEY_free(k->rsa);
    EVP_PKEY_free(k->ec);
    EVP_PKEY_free(k->ec_b);
    EVP_PKEY_free(k->ec384);
    EVP_PKEY_free(k->ed);
    EVP_PKEY_free(k->rsapub);
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    size_t i;
    int rows_run = 0, failed = 0, todo = 0;

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            only = argv[i];
    }
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading the providers"), 1;
    if (!make_keys())
        return tu_fail("making the keys"), 1;
    for (i = 0; i < COUNT(rows); i++) {
        int rc;

        if (only != NULL && strncmp(rows[i].name, only, strlen(only)) != 0)
            continue;
        rows_run++;
        rc = run_row(&rows[i]);
        failed += rc == 1;
        todo += rc == 2;
    }
    free_keys(&keys_p11);
    free_keys(&keys_def);
    printf("rows %d failed %d todo %d\n", rows_run, failed, todo);
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return failed == 0 ? 0 : 1;
}
