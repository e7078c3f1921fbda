/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MACs on the token: EVP_MAC "HMAC" (each digest of digests.h with an HMAC
 * mechanism) and "CMAC" (each cipher of cmac_ciphers[]), run by the
 * streaming engine (stream.h: held input, streaming past the bound,
 * copies).
 *
 * Keys. The caller's key becomes a session secret-key object
 * (secret_key.h, CKA_SIGN its only usage), created the first time a MAC
 * needs it. Contexts duplicated from one another share it (reference
 * counted); it is destroyed when the last of them is freed or given
 * another key. Re-init with a NULL key reuses it: a MAC over a held
 * message then costs C_SignInit + C_Sign.
 *
 * Any HMAC key length. A token takes HMAC keys within the range it reports
 * in C_GetMechanismInfo (SoftHSM2 2.6.1: 32 .. 512 bytes for SHA-256), read
 * once per token and mechanism and taken in bytes. RFC 2104 pads a key of up
 * to B bytes (the digest's block) with zeros to B bytes, and hashes a longer
 * key to L bytes (the digest size) first. So a key gives the same HMAC as
 *   - itself padded with zeros to any length up to B: a key shorter than the
 *     token's minimum is padded to the minimum (when that is at most B);
 *   - its hash, when longer than B: a key longer than the token's maximum is
 *     hashed on the token (C_DigestInit + C_Digest, once per key), or by
 *     the default provider where the token lacks the digest (counted as
 *     delegated), and the hash imported.
 * Both keep the token's own CKM_*_HMAC. When neither fits (a token with no
 * CKM_*_HMAC, or one whose minimum exceeds B, as a module that reports bits
 * would seem to), or the context sets pkcs11-hmac-method to "digest", HMAC
 * is built per RFC 2104 on the token's digest mechanism:
 *     H((K0 ^ opad) || H((K0 ^ ipad) || message))
 * with both hashes (and the hash of a long key) on the token. K0 then
 * reaches the token as digest input, as the caller gave it to us.
 *
 * MAC keys as EVP_PKEYs: keymgmt and signature "HMAC" and "CMAC", the
 * interface OpenSSL kept from its legacy EVP_PKEY MACs and that `openssl
 * dgst -hmac`, `openssl dgst -mac` and EVP_DigestSign* with a MAC key
 * still use (without them a strict `-propquery provider=pkcs11be` cannot
 * make such a key at all). The key is the caller's bytes (and, for CMAC,
 * its cipher name), kept in memory like the default provider's MAC keys;
 * the signature context is an EVP_MAC context of this file.
 *
 * Delegation. A context is handed for the rest of its life (dup, re-init,
 * params) to OpenSSL's default provider's MAC in p11be_fallback_libctx()
 * (mac_delegate) when it is made while the thread is inside a call into
 * the module (re-entry, see reentry.h), and, counted as delegated
 * (delegate.h), when it is asked for a digest or cipher pkcs11be does not
 * offer (SHA3-*, SM3, BLAKE2 ..) or whose mechanisms the token lacks.
 * With pkcs11-delegate = no that fails instead, naming what is missing.
 */
#include <pthread.h>
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

/* pkcs11be's own HMAC parameter: "auto" (the default) or "digest". */
#define MAC_PARAM_HMAC_METHOD "pkcs11-hmac-method"

#define MAC_MAX_BLOCK       128 /* the largest digest block, SHA-384/512's */
#define MAC_PKEY_CIPHER_MAX 64  /* longest cipher name a CMAC key keeps */

struct cmac_cipher {
    const char *name;       /* primary name, for messages */
    const char *names;      /* every name, as OpenSSL spells them */
    size_t key_len;         /* key bytes */
    CK_KEY_TYPE key_type;   /* of the object */
    CK_MECHANISM_TYPE mech; /* the token's CMAC */
    const char *mech_name;  /* for messages */
    size_t block;           /* the cipher's block: CMAC's output */
};

static const struct cmac_cipher cmac_ciphers[] = {
    {"AES-128-CBC", "AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2", 16, CKK_AES,
     P11BE_MECH(CKM_AES_CMAC), 16},
    {"AES-192-CBC", "AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22", 24, CKK_AES,
     P11BE_MECH(CKM_AES_CMAC), 16},
    {"AES-256-CBC", "AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42", 32, CKK_AES,
     P11BE_MECH(CKM_AES_CMAC), 16},
    {"DES-EDE3-CBC", "DES-EDE3-CBC:DES3:1.2.840.113549.3.7", 24, CKK_DES3,
     P11BE_MECH(CKM_DES3_CMAC), 8},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* A key as the token uses it; shared by duplicated contexts. */
struct mac_key_st {
    int refs;                   /* contexts holding it */
    pthread_mutex_t lock;       /* guards sk's object */
    const void *made_for;       /* its digest or cipher row */
    int forced;                 /* made under pkcs11-hmac-method=digest */
    P11BE_SECRET_KEY raw;       /* the caller's key (no object): derive again */
    P11BE_SECRET_KEY sk;        /* the object's value, or K0 (RFC 2104) */
    struct p11be_stream_mech m; /* what runs with it; m.key NULL: RFC 2104 */
};

typedef struct mac_key_st MAC_KEY;

/* An EVP_PKEY MAC key: what the caller gave, nothing on the token yet. */
struct mac_pkey_st {
    P11BE_PROV_CTX *prov;             /* provider that made us */
    int refs;                         /* holders; freed at 0 */
    int cmac;                         /* a CMAC key (else HMAC) */
    P11BE_SECRET_KEY priv;            /* the key bytes (no object) */
    char cipher[MAC_PKEY_CIPHER_MAX]; /* CMAC: the cipher; "" none */
};

typedef struct mac_pkey_st MAC_PKEY;

struct mac_ctx_st {
    P11BE_STREAM st;                  /* first: the post hook casts */
    int is_cmac;                      /* CMAC, else HMAC */
    const P11BE_DIGEST *digest;       /* HMAC: NULL until set */
    const struct cmac_cipher *cipher; /* CMAC: NULL until set */
    int force_digest;                 /* pkcs11-hmac-method=digest */
    MAC_KEY *key;                     /* NULL until a key is given */
    EVP_MAC_CTX *fallback;            /* set once delegated */
    int fallback_held;                /* p11be_fallback_prepare() held */
};

typedef struct mac_ctx_st MAC_CTX;

static int mac_token_digest(P11BE_PROV_CTX *prov, const P11BE_DIGEST *d,
                            const unsigned char *in, size_t in_len,
                            unsigned char *out)
{
    struct p11be_stream_mech m = {d->mech, d->mech_name, NULL, 0};
    CK_ULONG len = d->size;

    return p11be_stream_once(prov, &m, in, in_len, out, &len);
}

/*
 * A key longer than the block, hashed (RFC 2104) before the token's
 * CKM_*_HMAC gets it: on the token when it has the digest, else (NSS's
 * key slot has no digest at all) by the default provider, counted as
 * delegated, unless pkcs11-delegate = no. 1, or 0 raised.
 */
static int mac_key_hash(MAC_CTX *ctx, const unsigned char *raw, size_t raw_len,
                        unsigned char *out)
{
    P11BE_PROV_CTX *prov = ctx->st.prov;
    const P11BE_DIGEST *d = ctx->digest;
    const struct p11be_mech_shape shape = {d->mech, 0, 0};
    CK_MECHANISM_INFO info;
    EVP_MD *md = NULL;
    int has = p11be_mech_lookup(&prov->tc, d->mech, d->mech_name, &info);
    int allowed, held, ok;

    if (has > 0 && !p11be_key_shape_refused(&prov->tc, &shape))
        return mac_token_digest(prov, d, raw, raw_len, out);
    if (has < 0 || (allowed = p11be_delegate_allowed(prov)) < 0)
        return 0;
    if (!allowed) {
        p11be_raise(prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "%s: a key longer than %zu bytes is hashed first, the "
                    "token lacks %s, and %s=no keeps the default provider "
                    "from doing it",
                    ctx->st.name, d->block_size, d->mech_name,
                    p11be_config_source(&prov->config, P11BE_SET_DELEGATE));
        return 0;
    }
    held = p11be_fallback_prepare();
    if (held)
        md = EVP_MD_fetch(p11be_fallback_libctx(), d->name, NULL);
    ok = md != NULL && EVP_Digest(raw, raw_len, out, NULL, md, NULL);
    EVP_MD_free(md);
    if (held)
        p11be_fallback_release();
    if (!ok) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot hash the key with OpenSSL's default provider",
                    ctx->st.name);
        return 0;
    }
    P11BE_DEBUG("%s: the key hashed by the default provider (%s lacked)",
                ctx->st.name, d->mech_name);
    p11be_delegated_note(prov, "digest");
    return 1;
}

static void mac_key_free(MAC_KEY *key, P11BE_PROV_CTX *prov)
{
    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p11be_secret_key_clear(&prov->tc, &key->sk);
    p11be_secret_key_clear(&prov->tc, &key->raw);
    pthread_mutex_destroy(&key->lock);
    OPENSSL_free(key);
}

/*
 * The zero-padded length under which the token's CKM_*_HMAC gives the HMAC
 * of an `n`-byte key (see the top of the file); 0 when none does.
 * *hash_first says that the key is to be hashed first.
 */
static size_t hmac_fit(const P11BE_DIGEST *d, const CK_MECHANISM_INFO *r,
                       size_t n, int *hash_first)
{
    size_t len = n;

    *hash_first = 0;
    if (r->ulMaxKeySize != 0 && len > r->ulMaxKeySize) {
        if (len <= d->block_size)
            return 0; /* RFC 2104 does not hash it: no shorter form */
        *hash_first = 1;
        len = d->size;
    }
    if (len < r->ulMinKeySize) {
        if (r->ulMinKeySize > d->block_size)
            return 0; /* zeros beyond B would change the key */
        len = r->ulMinKeySize;
    }
    if (len == 0 || (r->ulMaxKeySize != 0 && len > r->ulMaxKeySize))
        return 0;
    return len;
}

/* What a key becomes on the token. */
struct mac_plan {
    struct p11be_stream_mech m; /* CKM_*_HMAC, CKM_*_CMAC, or the digest */
    size_t len;                 /* bytes of key the token gets */
    int hash_first;             /* those are the key's hash, zero-padded */
};

/*
 * The plan for a raw_len-byte key and the context's digest or cipher: for
 * HMAC the token's CKM_*_HMAC when the key fits, else RFC 2104 on the
 * digest. 1; 0 raised; -1 when the token has none of the mechanisms.
 */
static int mac_plan(MAC_CTX *ctx, size_t raw_len, struct mac_plan *plan)
{
    struct p11be_stream_mech *m = &plan->m;
    size_t *len = &plan->len;
    int *hash_first = &plan->hash_first;
    P11BE_TOKEN_CTX *tc = &ctx->st.prov->tc;
    const P11BE_DIGEST *d = ctx->digest;
    const struct cmac_cipher *c = ctx->cipher;
    CK_MECHANISM_INFO info = {0};
    int has_hmac = 0, has;

    if (ctx->is_cmac ? c == NULL : d == NULL) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_BAD_STATE,
                    "%s: set the %s parameter before the key", ctx->st.name,
                    ctx->is_cmac ? "cipher" : "digest");
        return 0;
    }
    *len = raw_len;
    *hash_first = 0;
    if (!ctx->is_cmac && !ctx->force_digest) {
        has_hmac =
            p11be_mech_lookup(tc, d->hmac_mech, d->hmac_mech_name, &info);
        *m = (struct p11be_stream_mech){.mech = d->hmac_mech,
                                        .mech_name = d->hmac_mech_name};
        if (has_hmac < 0)
            return 0;
        if (has_hmac > 0 && (*len = hmac_fit(d, &info, raw_len, hash_first)))
            return 1;
    }
    *m = ctx->is_cmac ? (struct p11be_stream_mech){.mech = c->mech,
                                                   .mech_name = c->mech_name}
                      : (struct p11be_stream_mech){.mech = d->mech,
                                                   .mech_name = d->mech_name};
    has = p11be_mech_lookup(tc, m->mech, m->mech_name, &info);
    if (has == 0 && has_hmac)
        p11be_check_mech(tc, m->mech, m->mech_name); /* raises */
    if (has <= 0)
        return has < 0 || has_hmac ? 0 : -1;
    if (!ctx->is_cmac) {
        *len = d->block_size;
        *hash_first = raw_len > d->block_size;
    } else if (raw_len != c->key_len) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "CMAC with %s needs a %zu-byte key, got %zu bytes", c->name,
                    c->key_len, raw_len);
        return 0;
    } else if (c->key_type == CKK_AES /* DES3 has one size: info unused */
               && (raw_len < info.ulMinKeySize
                   || (info.ulMaxKeySize != 0
                       && raw_len > info.ulMaxKeySize))) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "CMAC with %s: the token's %s takes keys of %lu..%lu bytes",
                    c->name, c->mech_name, (unsigned long)info.ulMinKeySize,
                    (unsigned long)info.ulMaxKeySize);
        return 0;
    }
    return 1;
}

/* A key made from the caller's bytes as `plan` says. */
static MAC_KEY *mac_key_new(MAC_CTX *ctx, const unsigned char *raw,
                            size_t raw_len, const struct mac_plan *plan)
{
    unsigned char buf[MAC_MAX_BLOCK] = {0};
    const unsigned char *value = buf;
    MAC_KEY *key;
    int ok;

    if (plan->hash_first && !mac_key_hash(ctx, raw, raw_len, buf))
        return NULL;
    if (!plan->hash_first && plan->len > raw_len)
        memcpy(buf, raw, raw_len); /* zero-padded to len */
    else if (!plan->hash_first)
        value = raw;
    key = OPENSSL_zalloc(sizeof(*key));
    if (key != NULL) {
        key->refs = 1;
        pthread_mutex_init(&key->lock, NULL);
        key->sk.lock = &key->lock;
    }
    ok = key != NULL
         && p11be_secret_key_set(&ctx->st.prov->tc, &key->raw, 0, raw, raw_len)
         && p11be_secret_key_set(&ctx->st.prov->tc, &key->sk,
                                 ctx->is_cmac ? ctx->cipher->key_type
                                              : CKK_GENERIC_SECRET,
                                 value, plan->len);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (!ok) {
        mac_key_free(key, ctx->st.prov);
        return NULL;
    }
    key->made_for = ctx->is_cmac ? (const void *)ctx->cipher : ctx->digest;
    key->forced = ctx->force_digest;
    key->m = plan->m;
    if (ctx->is_cmac || plan->m.mech == ctx->digest->hmac_mech)
        key->m.key = &key->sk; /* signs with it; else K0 for RFC 2104 */
    P11BE_DEBUG("%s: %zu-byte key as %zu bytes%s on %s", ctx->st.name, raw_len,
                plan->len, plan->hash_first ? " (hashed first)" : "",
                plan->m.mech_name);
    return key;
}

/* RFC 2104's outer hash, on the token: H((K0 ^ opad) || inner). */
static int hmac_outer(P11BE_STREAM *st, const unsigned char *inner,
                      unsigned char *out)
{
    MAC_CTX *ctx = (MAC_CTX *)st;
    const P11BE_DIGEST *d = ctx->digest;
    unsigned char buf[MAC_MAX_BLOCK + EVP_MAX_MD_SIZE];
    size_t i;
    int ok;

    for (i = 0; i < d->block_size; i++)
        buf[i] = ctx->key->sk.value[i] ^ 0x5c;
    memcpy(buf + d->block_size, inner, d->size);
    ok = mac_token_digest(st->prov, d, buf, d->block_size + d->size, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

static size_t mac_size(const MAC_CTX *ctx)
{
    if (ctx->is_cmac)
        return ctx->cipher != NULL ? ctx->cipher->block : 0;
    return ctx->digest != NULL ? ctx->digest->size : 0;
}

/*
 * Hands the context to the default provider's MAC for the rest of its life
 * (see the top of the file): with the digest or cipher `alg` and the key
 * (raw) when given; counted as delegated, except for a context made during
 * re-entry (alg NULL). 1, or 0 (raised).
 */
static int mac_delegate(MAC_CTX *ctx, const char *alg, const unsigned char *raw,
                        size_t raw_len)
{
    OSSL_PARAM params[3], *p = params;
    EVP_MAC *mac = NULL;

    ctx->fallback_held = p11be_fallback_prepare();
    if (ctx->fallback_held)
        mac = EVP_MAC_fetch(p11be_fallback_libctx(), ctx->st.name, NULL);
    ctx->fallback = mac == NULL ? NULL : EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (ctx->fallback == NULL) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot use OpenSSL's default provider", ctx->st.name);
        return 0;
    }
    if (alg == NULL) {
        P11BE_DEBUG("re-entered from the module: %s by the default provider",
                    ctx->st.name);
        return 1;
    }
    P11BE_DEBUG("%s with %s: by the default provider", ctx->st.name, alg);
    p11be_delegated_note(ctx->st.prov, ctx->is_cmac ? "MAC CMAC" : "MAC HMAC");
    p11be_stream_stop(&ctx->st);
    *p++ = OSSL_PARAM_construct_utf8_string(
        ctx->is_cmac ? OSSL_MAC_PARAM_CIPHER : OSSL_MAC_PARAM_DIGEST,
        (char *)alg, 0);
    if (raw != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                 (void *)raw, raw_len);
    *p = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(ctx->fallback, params);
}

/*
 * A new key's object, made now (not at the first update, when input is
 * held), so that a token that will not take it (learned for the token:
 * secret_key.h) hands the context to the default provider before any: 1
 * made, 0 raised, -1 refused and pkcs11-delegate allows.
 */
static int mac_key_import(MAC_CTX *ctx, MAC_KEY *key)
{
    int made = p11be_secret_key_import(&ctx->st.prov->tc, &key->sk,
                                       ctx->st.name, CKF_SIGN);
    int allowed = made < 0 ? p11be_delegate_allowed(ctx->st.prov) : 1;

    if (allowed == 0)
        p11be_raise(
            ctx->st.prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
            P11BE_SECRET_KEY_REFUSED, ctx->st.name,
            p11be_ckr_name(key->sk.refused),
            p11be_config_source(&ctx->st.prov->config, P11BE_SET_DELEGATE));
    return allowed > 0 ? made : 0;
}

/*
 * Replaces the context's key; the old one goes when nobody holds it. A
 * token without the mechanisms, or that will not take the key (learned
 * once per token), hands the context to the default provider.
 */
static int mac_set_key(MAC_CTX *ctx, const unsigned char *raw, size_t raw_len)
{
    struct mac_plan plan;
    MAC_KEY *key;
    int usable = mac_plan(ctx, raw_len, &plan), allowed = 0, keyed, made = 1;
    const char *alg = NULL;

    if (usable != 0) /* the digest or cipher is set */
        alg = ctx->is_cmac ? ctx->cipher->name : ctx->digest->name;
    keyed =
        usable > 0 && (ctx->is_cmac || plan.m.mech == ctx->digest->hmac_mech);
    if (keyed
        && p11be_secret_key_refused(&ctx->st.prov->tc,
                                    ctx->is_cmac ? ctx->cipher->key_type
                                                 : CKK_GENERIC_SECRET)
        && p11be_delegate_allowed(ctx->st.prov) > 0)
        return mac_delegate(ctx, alg, raw, raw_len);
    if (usable < 0 && (allowed = p11be_delegate_allowed(ctx->st.prov)) > 0)
        return mac_delegate(ctx, alg, raw, raw_len);
    if (usable < 0 && allowed == 0) /* pkcs11-delegate = no */
        p11be_check_mech(&ctx->st.prov->tc, plan.m.mech, plan.m.mech_name);
    p11be_stream_stop(&ctx->st);
    if (usable <= 0)
        return 0;
    key = mac_key_new(ctx, raw, raw_len, &plan);
    if (key != NULL && keyed && !p11be_reentered())
        made = mac_key_import(ctx, key);
    if (made < 0) {
        mac_key_free(key, ctx->st.prov);
        return mac_delegate(ctx, alg, raw, raw_len);
    }
    if (key == NULL || !made) {
        mac_key_free(key, ctx->st.prov);
        return 0;
    }
    mac_key_free(ctx->key, ctx->st.prov);
    ctx->key = key;
    return 1;
}

/*
 * (Re)starts a MAC with the key set. The key is derived again only when
 * the digest, cipher or method changed since it was made.
 */
static int mac_start(MAC_CTX *ctx)
{
    unsigned char ipad[MAC_MAX_BLOCK];
    size_t i, block = ctx->digest != NULL ? ctx->digest->block_size : 0;
    const void *alg = ctx->is_cmac ? (const void *)ctx->cipher : ctx->digest;
    int ok = 1;

    if (ctx->fallback != NULL)
        return EVP_MAC_init(ctx->fallback, NULL, 0, NULL);
    p11be_stream_stop(&ctx->st);
    if (ctx->key == NULL) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_NO_KEY,
                    "%s: pass a key to EVP_MAC_init() or set the \"%s\" "
                    "parameter",
                    ctx->st.name, OSSL_MAC_PARAM_KEY);
        return 0;
    }
    if ((alg != ctx->key->made_for || ctx->force_digest != ctx->key->forced)
        && !mac_set_key(ctx, ctx->key->raw.value, ctx->key->raw.len))
        return 0;
    if (ctx->fallback != NULL)
        return 1; /* mac_set_key handed it over, keyed */
    ctx->st.m = ctx->key->m;
    ctx->st.size = mac_size(ctx);
    ctx->st.post = NULL;
    if (ctx->key->m.key == NULL) {
        /* RFC 2104: the inner hash starts with K0 ^ ipad, held like input. */
        ctx->st.post = hmac_outer;
        for (i = 0; i < block; i++)
            ipad[i] = ctx->key->sk.value[i] ^ 0x36;
        ok = p11be_stream_hold(&ctx->st, ipad, block, 1);
        OPENSSL_cleanse(ipad, sizeof(ipad));
    }
    ctx->st.ready = ok;
    return ok;
}

static void mac_freectx(void *vctx);

static void *mac_newctx(void *provctx, int is_cmac)
{
    MAC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    p11be_stream_new(&ctx->st, provctx, is_cmac ? "CMAC" : "HMAC", 1);
    ctx->is_cmac = is_cmac;
    if (p11be_reentered() && !mac_delegate(ctx, NULL, NULL, 0)) {
        mac_freectx(ctx);
        return NULL;
    }
    return ctx;
}

static int mac_update(void *vctx, const unsigned char *in, size_t inl)
{
    MAC_CTX *ctx = vctx;

    return ctx->fallback != NULL ? EVP_MAC_update(ctx->fallback, in, inl)
                                 : p11be_stream_update(&ctx->st, in, inl);
}

static int mac_final(void *vctx, unsigned char *out, size_t *outl,
                     size_t outsize)
{
    MAC_CTX *ctx = vctx;

    if (ctx->fallback != NULL)
        return EVP_MAC_final(ctx->fallback, out, outl, outsize);
    return p11be_stream_final(&ctx->st, out, outl, outsize);
}

static void mac_freectx(void *vctx)
{
    MAC_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11be_stream_free(&ctx->st);
    mac_key_free(ctx->key, ctx->st.prov);
    EVP_MAC_CTX_free(ctx->fallback);
    if (ctx->fallback_held)
        p11be_fallback_release();
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *mac_dupctx(void *vctx)
{
    MAC_CTX *src = vctx;
    MAC_CTX *dst = OPENSSL_memdup(src, sizeof(*src));

    if (dst == NULL)
        return NULL;
    memset(&dst->st, 0, sizeof(dst->st));
    p11be_stream_new(&dst->st, src->st.prov, src->st.name, 1);
    if (dst->key != NULL)
        __atomic_add_fetch(&dst->key->refs, 1, __ATOMIC_RELAXED);
    dst->fallback = NULL;
    dst->fallback_held = src->fallback != NULL && p11be_fallback_prepare();
    if (src->fallback != NULL
            ? dst->fallback_held
                  && (dst->fallback = EVP_MAC_CTX_dup(src->fallback)) != NULL
            : p11be_stream_dup(&dst->st, &src->st))
        return dst;
    mac_freectx(dst);
    return NULL;
}

static const char *mac_param_string(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *value = NULL;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &value))
        p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be a UTF-8 string", p->key);
    return value;
}

/* properties: accepted and unused (the token does the hashing). */
static int mac_take_props(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    return mac_param_string(ctx, p) != NULL;
}

/* The digest (HMAC) or cipher (CMAC); a change ends a MAC in progress. */
static int mac_pick_alg(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *name = mac_param_string(ctx, p);
    const struct cmac_cipher *c = cmac_ciphers;
    const P11BE_DIGEST *d = NULL;
    const void *alg = NULL;
    int allowed;

    if (name == NULL)
        return 0;
    if (ctx->is_cmac) {
        while (c->name != NULL && !p11be_name_in(c->names, name))
            c++;
        alg = c->name != NULL ? c : NULL;
    } else if ((d = p11be_digest_find(name)) != NULL
               && d->hmac_mech_name != NULL) {
        alg = d; /* not a digest without the token's HMAC */
    }
    if (alg == NULL) {
        allowed = p11be_delegate_allowed(ctx->st.prov);
        if (allowed > 0)
            return mac_delegate(ctx, name,
                                ctx->key ? ctx->key->raw.value : NULL,
                                ctx->key ? ctx->key->raw.len : 0);
        if (allowed == 0)
            p11be_raise(
                ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s \"%s\" is not offered by pkcs11be, and %s=no "
                "keeps the default provider from doing it",
                ctx->is_cmac ? "CMAC cipher" : "HMAC digest", name,
                p11be_config_source(&ctx->st.prov->config, P11BE_SET_DELEGATE));
        return 0;
    }
    if (alg != (ctx->is_cmac ? (const void *)ctx->cipher : ctx->digest))
        p11be_stream_stop(&ctx->st);
    if (ctx->is_cmac)
        ctx->cipher = alg;
    else
        ctx->digest = alg;
    return 1;
}

static int hmac_pick_method(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *method = mac_param_string(ctx, p);
    int force = method != NULL && strcmp(method, "digest") == 0;

    if (method == NULL)
        return 0;
    if (!force && strcmp(method, "auto") != 0) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s=\"%s\": use \"auto\" or \"digest\"",
                    MAC_PARAM_HMAC_METHOD, method);
        return 0;
    }
    if (force != ctx->force_digest)
        p11be_stream_stop(&ctx->st);
    ctx->force_digest = force;
    return 1;
}

/* tls-data-size is accepted as 0 only: see mac_set_ctx_params(). */
static int hmac_check_tls_size(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    size_t tls_size = 0;

    if (OSSL_PARAM_get_size_t(p, &tls_size) && tls_size == 0)
        return 1;
    p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                "HMAC \"%s\" (the TLS CBC record MAC) is not supported by "
                "pkcs11be",
                OSSL_MAC_PARAM_TLS_DATA_SIZE);
    return 0;
}

static int mac_set_key_param(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const void *raw = NULL;
    size_t raw_len = 0;

    if (!OSSL_PARAM_get_octet_string_ptr(p, &raw, &raw_len)) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be an octet string",
                    OSSL_MAC_PARAM_KEY);
        return 0;
    }
    return mac_set_key(ctx, raw, raw_len) && mac_start(ctx);
}

/*
 * What each MAC takes, in order: digest (HMAC) or cipher (CMAC),
 * properties and pkcs11-hmac-method apply from the next key or init; a key
 * starts a MAC at once, as with OpenSSL's HMAC and CMAC. tls-data-size
 * (the constant-time TLS CBC record MAC, built on the hash's internals)
 * cannot be done on a token and is refused unless 0.
 */
static const struct {
    const char *key;                                /* the param */
    int hmac, cmac;                                 /* who takes it */
    int (*take)(MAC_CTX *ctx, const OSSL_PARAM *p); /* 1, or 0 raised */
} mac_takes[] = {
    {OSSL_MAC_PARAM_DIGEST, 1, 0, mac_pick_alg},
    {OSSL_MAC_PARAM_CIPHER, 0, 1, mac_pick_alg},
    {OSSL_MAC_PARAM_PROPERTIES, 1, 1, mac_take_props},
    {MAC_PARAM_HMAC_METHOD, 1, 0, hmac_pick_method},
    {OSSL_MAC_PARAM_TLS_DATA_SIZE, 1, 0, hmac_check_tls_size},
    {OSSL_MAC_PARAM_KEY, 1, 1, mac_set_key_param},
};

static int mac_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    size_t i;

    for (i = 0; params != NULL && i < sizeof(mac_takes) / sizeof(mac_takes[0]);
         i++) {
        /* Delegated, before or by the digest or cipher just taken. */
        if (ctx->fallback != NULL)
            return EVP_MAC_CTX_set_params(ctx->fallback, params);
        if ((ctx->is_cmac ? mac_takes[i].cmac : mac_takes[i].hmac)
            && (p = OSSL_PARAM_locate_const(params, mac_takes[i].key)) != NULL
            && !mac_takes[i].take(ctx, p))
            return 0;
    }
    return 1;
}

/* A NULL key re-uses the one set before (and its token object). */
static int mac_init(void *vctx, const unsigned char *key, size_t keylen,
                    const OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    int before = ctx->fallback != NULL;

    if (!before && !mac_set_ctx_params(ctx, params))
        return 0;
    if (ctx->fallback != NULL) /* delegated, before or by params */
        return EVP_MAC_init(ctx->fallback, key, keylen, before ? params : NULL);
    if (key != NULL && !mac_set_key(ctx, key, keylen))
        return 0;
    return mac_start(ctx);
}

static const OSSL_PARAM mac_gettable[] = {
    OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, NULL),
    OSSL_PARAM_size_t(OSSL_MAC_PARAM_BLOCK_SIZE, NULL),
    OSSL_PARAM_END,
};

/* size and block-size; 0 until the digest or cipher is set. */
static int mac_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    size_t values[] = {mac_size(ctx), mac_size(ctx)};

    if (ctx->fallback != NULL)
        return EVP_MAC_CTX_get_params(ctx->fallback, params);
    if (!ctx->is_cmac && ctx->digest != NULL)
        values[1] = ctx->digest->block_size;
    return p11be_params_answer(params, mac_gettable, values);
}

/* ---- EVP_PKEY MAC keys ---- */

static MAC_PKEY *pkey_alloc(void *provctx, int cmac)
{
    MAC_PKEY *key = OPENSSL_zalloc(sizeof(*key));

    if (key == NULL)
        return NULL;
    key->prov = provctx;
    key->refs = 1;
    key->cmac = cmac;
    return key;
}

static void pkey_free(void *keydata)
{
    MAC_PKEY *key = keydata;

    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p11be_secret_key_clear(&key->prov->tc, &key->priv);
    OPENSSL_free(key);
}

static int pkey_has(const void *keydata, int selection)
{
    const MAC_PKEY *key = keydata;

    if (key == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return key->priv.value != NULL;
    return 1;
}

static int pkey_match(const void *keydata1, const void *keydata2, int selection)
{
    const MAC_PKEY *a = keydata1, *b = keydata2;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0)
        return 1;
    return a->priv.value != NULL && b->priv.value != NULL
           && a->priv.len == b->priv.len
           && CRYPTO_memcmp(a->priv.value, b->priv.value, a->priv.len) == 0
           && strcmp(a->cipher, b->cipher) == 0;
}

/*
 * The key bytes and (CMAC) the cipher from params (NULL: nothing to take),
 * at import or as a "generation" parameter; 1 or 0 (raised).
 */
static int pkey_take(void *keydata, const OSSL_PARAM params[])
{
    MAC_PKEY *key = keydata;
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_CIPHER);
    const char *cipher = NULL;
    const void *priv;
    size_t priv_len;

    if (key->cmac && p != NULL
        && (!OSSL_PARAM_get_utf8_string_ptr(p, &cipher)
            || strlen(cipher) >= sizeof(key->cipher))) {
        p11be_raise(key->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a CMAC key's \"%s\" must name a cipher", p->key);
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY);
    if (p != NULL && !OSSL_PARAM_get_octet_string_ptr(p, &priv, &priv_len)) {
        p11be_raise(key->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a MAC key's \"%s\" must be an octet string", p->key);
        return 0;
    }
    if (p != NULL
        && !p11be_secret_key_set(&key->prov->tc, &key->priv, 0, priv, priv_len))
        return 0;
    if (cipher != NULL)
        strcpy(key->cipher, cipher); /* length checked above */
    return 1;
}

static int pkey_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    MAC_PKEY *key = keydata;

    if (key == NULL || params == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0)
        return 1;
    if (!pkey_take(key, params))
        return 0;
    if (key->priv.value == NULL)
        p11be_raise(key->prov->handle, P11BE_R_NO_KEY,
                    "a MAC key needs its \"%s\"", OSSL_PKEY_PARAM_PRIV_KEY);
    return key->priv.value != NULL;
}

/* The caller's own key bytes: they may go back to the caller. */
static int pkey_export(void *keydata, int selection, OSSL_CALLBACK *cb,
                       void *cbarg)
{
    MAC_PKEY *key = keydata;
    OSSL_PARAM params[3], *p = params;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0
        || key->priv.value == NULL)
        return 0;
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                             key->priv.value, key->priv.len);
    if (key->cipher[0] != '\0')
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_CIPHER,
                                                key->cipher, 0);
    *p = OSSL_PARAM_construct_end();
    return cb(params, cbarg);
}

/* ---- key "generation": a key from the given bytes (dgst -mac) ---- */

static void *pkey_gen_init(void *provctx, int selection,
                           const OSSL_PARAM params[], int cmac)
{
    MAC_PKEY *key = NULL;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        key = pkey_alloc(provctx, cmac);
    if (key != NULL && !pkey_take(key, params)) {
        pkey_free(key);
        return NULL;
    }
    return key;
}

/* The generation context is the key: it is handed over once. */
static void *pkey_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    MAC_PKEY *key = genctx;

    (void)cb;
    (void)cbarg;
    if (key == NULL)
        return NULL;
    if (key->priv.value == NULL) {
        p11be_raise(key->prov->handle, P11BE_R_NO_KEY,
                    "a MAC key needs its \"%s\" (-macopt key:... or "
                    "hexkey:...)",
                    OSSL_PKEY_PARAM_PRIV_KEY);
        return NULL;
    }
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_ACQ_REL);
    return key;
}

/* ---- the signature: pkcs11be's EVP_MAC behind EVP_DigestSign ---- */

/*
 * The signature context is a MAC context (with its own copy of the key's
 * bytes, mac_key_new). OpenSSL 3.0's
 * EVP_DigestSignFinal() finishes a copy of it; past pkcs11-digest-buffer-max,
 * on a token that cannot copy a running MAC, the copy shares it, so input
 * of any size works.
 */
static int mac_sig_init(void *vctx, const char *mdname, void *provkey,
                        const OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    MAC_PKEY *key = provkey;
    OSSL_PARAM init[2] = {OSSL_PARAM_END, OSSL_PARAM_END};

    if (key == NULL || key->priv.value == NULL || key->cmac != ctx->is_cmac) {
        p11be_raise(ctx->st.prov->handle, P11BE_R_NO_KEY,
                    "%s signing needs a %s key", ctx->st.name, ctx->st.name);
        return 0;
    }
    if (ctx->is_cmac && key->cipher[0] == '\0') {
        p11be_raise(ctx->st.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a CMAC key needs its \"%s\"", OSSL_PKEY_PARAM_CIPHER);
        return 0;
    }
    if (!ctx->is_cmac && (mdname == NULL || mdname[0] == '\0'))
        mdname = "SHA256"; /* as the default provider's HMAC signature */
    init[0] = OSSL_PARAM_construct_utf8_string(
        ctx->is_cmac ? OSSL_MAC_PARAM_CIPHER : OSSL_MAC_PARAM_DIGEST,
        ctx->is_cmac ? key->cipher : (char *)mdname, 0);
    if (!mac_set_ctx_params(ctx, init)
        || (params != NULL && !mac_set_ctx_params(ctx, params))
        || !mac_init(ctx, key->priv.value, key->priv.len, NULL))
        return 0;
    return 1;
}

/* A size query: EVP_MAC_final() answers it above the provider. */
static int mac_sig_final(void *vctx, unsigned char *sig, size_t *siglen,
                         size_t sigsize)
{
    MAC_CTX *ctx = vctx;

    if (sig != NULL)
        return mac_final(ctx, sig, siglen, sigsize);
    *siglen = ctx->fallback != NULL ? EVP_MAC_CTX_get_mac_size(ctx->fallback)
                                    : mac_size(ctx);
    return 1;
}

#define MAC_STR(key) OSSL_PARAM_utf8_string(key, NULL, 0)

/* A MAC key's params: a CMAC key's all, an HMAC key's from [1]. */
static const OSSL_PARAM pkey_types[] = {
    MAC_STR(OSSL_PKEY_PARAM_CIPHER),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM hmac_settable[] = {
    MAC_STR(OSSL_MAC_PARAM_DIGEST),
    MAC_STR(OSSL_MAC_PARAM_PROPERTIES),
    OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, NULL, 0),
    OSSL_PARAM_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, NULL),
    MAC_STR(MAC_PARAM_HMAC_METHOD),
    OSSL_PARAM_END,
};
/* A MAC signature's settable params (either MAC); CMAC's from [1]. */
static const OSSL_PARAM sig_settable[] = {
    MAC_STR(OSSL_MAC_PARAM_DIGEST),
    MAC_STR(OSSL_MAC_PARAM_CIPHER),
    MAC_STR(OSSL_MAC_PARAM_PROPERTIES),
    OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, NULL, 0),
    OSSL_PARAM_END,
};
P11BE_PARAMS_TABLE_FN(hmac_settable_ctx_params, hmac_settable)
P11BE_PARAMS_TABLE_FN(cmac_settable_ctx_params, &sig_settable[1])
P11BE_PARAMS_TABLE_FN(mac_gettable_ctx_params, mac_gettable)
P11BE_PARAMS_TABLE_FN(mac_sig_settable_ctx_params, sig_settable)

/* OpenSSL tells these functions no algorithm: one set per MAC. */
#define MAC_KIND(kind, cmac)                                                   \
    static void *kind##_newctx(void *provctx)                                  \
    {                                                                          \
        return mac_newctx(provctx, cmac);                                      \
    }                                                                          \
    static void *kind##_sig_newctx(void *provctx, const char *propq)           \
    {                                                                          \
        (void)propq; /* the MAC is pkcs11be's own */                           \
        return mac_newctx(provctx, cmac);                                      \
    }                                                                          \
    static void *kind##_key_new(void *provctx)                                 \
    {                                                                          \
        return pkey_alloc(provctx, cmac);                                      \
    }                                                                          \
    static const OSSL_PARAM *kind##_key_types(int selection)                   \
    {                                                                          \
        return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0              \
                   ? &pkey_types[(cmac) ? 0 : 1]                               \
                   : NULL;                                                     \
    }                                                                          \
    static void *kind##_gen_init(void *provctx, int selection,                 \
                                 const OSSL_PARAM params[])                    \
    {                                                                          \
        return pkey_gen_init(provctx, selection, params, cmac);                \
    }                                                                          \
    P11BE_PARAMS_TABLE_FN(kind##_gen_settable_params,                          \
                          &pkey_types[(cmac) ? 0 : 1])                         \
    const OSSL_DISPATCH p11be_mac_##kind##_functions[] = {                     \
        P11BE_FN(OSSL_FUNC_MAC_NEWCTX, kind##_newctx),                         \
        P11BE_FN(OSSL_FUNC_MAC_DUPCTX, mac_dupctx),                            \
        P11BE_FN(OSSL_FUNC_MAC_FREECTX, mac_freectx),                          \
        P11BE_FN(OSSL_FUNC_MAC_INIT, mac_init),                                \
        P11BE_FN(OSSL_FUNC_MAC_UPDATE, mac_update),                            \
        P11BE_FN(OSSL_FUNC_MAC_FINAL, mac_final),                              \
        P11BE_FN(OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS, mac_gettable_ctx_params),  \
        P11BE_FN(OSSL_FUNC_MAC_GET_CTX_PARAMS, mac_get_ctx_params),            \
        P11BE_FN(OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS,                            \
                 kind##_settable_ctx_params),                                  \
        P11BE_FN(OSSL_FUNC_MAC_SET_CTX_PARAMS, mac_set_ctx_params),            \
        {0, NULL},                                                             \
    };                                                                         \
    const OSSL_DISPATCH p11be_keymgmt_##kind##_functions[] = {                 \
        P11BE_FN(OSSL_FUNC_KEYMGMT_NEW, kind##_key_new),                       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_FREE, pkey_free),                           \
        P11BE_FN(OSSL_FUNC_KEYMGMT_HAS, pkey_has),                             \
        P11BE_FN(OSSL_FUNC_KEYMGMT_MATCH, pkey_match),                         \
        P11BE_FN(OSSL_FUNC_KEYMGMT_IMPORT, pkey_import),                       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, kind##_key_types),            \
        P11BE_FN(OSSL_FUNC_KEYMGMT_EXPORT, pkey_export),                       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, kind##_key_types),            \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_INIT, kind##_gen_init),                 \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, pkey_take),                 \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,                        \
                 kind##_gen_settable_params),                                  \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN, pkey_gen),                             \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_CLEANUP, pkey_free),                    \
        {0, NULL},                                                             \
    };                                                                         \
    const OSSL_DISPATCH p11be_signature_##kind##_functions[] = {               \
        P11BE_FN(OSSL_FUNC_SIGNATURE_NEWCTX, kind##_sig_newctx),               \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, mac_sig_init),          \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, mac_update),          \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, mac_sig_final),        \
        P11BE_FN(OSSL_FUNC_SIGNATURE_FREECTX, mac_freectx),                    \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DUPCTX, mac_dupctx),                      \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, mac_set_ctx_params),      \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,                      \
                 mac_sig_settable_ctx_params),                                 \
        {0, NULL},                                                             \
    }

MAC_KIND(hmac, 0);
MAC_KIND(cmac, 1);
