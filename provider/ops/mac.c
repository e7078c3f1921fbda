/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MACs on the token: EVP_MAC "HMAC" (CKM_SHA_1_HMAC .. CKM_SHA512_HMAC)
 * and "CMAC" (CKM_AES_CMAC with AES-128/192/256-CBC).
 *
 * Keys. The caller's key becomes a session secret-key object (CKO_SECRET_KEY,
 * CKA_TOKEN and CKA_PRIVATE false, sensitive, CKA_SIGN its only usage),
 * created on the object session the first time a MAC needs it. Contexts
 * duplicated from one another share it (reference counted); it is destroyed
 * when the last of them is freed or given another key, and re-created from
 * the bytes kept in memory after a fork or a token re-insertion. Re-init
 * with a NULL key reuses it: a MAC over a held message then costs
 * C_SignInit + C_Sign.
 *
 * Any HMAC key length. A token takes HMAC keys within the range it reports
 * in C_GetMechanismInfo (SoftHSM2 2.6.1: 32 .. 512 bytes for SHA-256), read
 * once per token and mechanism and taken in bytes. RFC 2104 pads a key of up
 * to B bytes (the digest's block) with zeros to B bytes, and hashes a longer
 * key to L bytes (the digest size) first. So a key gives the same HMAC as
 *   - itself padded with zeros to any length up to B: a key shorter than the
 *     token's minimum is padded to the minimum (when that is at most B);
 *   - its hash, when longer than B: a key longer than the token's maximum is
 *     hashed on the token (C_DigestInit + C_Digest, once per key) and the
 *     hash imported.
 * Both keep the token's own CKM_*_HMAC. When neither fits (a token with no
 * CKM_*_HMAC, or one whose minimum exceeds B, as a module that reports bits
 * would seem to), or the context sets pkcs11-hmac-method to "digest", HMAC
 * is built per RFC 2104 on the token's digest mechanism:
 *     H((K0 ^ opad) || H((K0 ^ ipad) || message))
 * with both hashes (and the hash of a long key) on the token. K0 then
 * reaches the token as digest input, as the caller gave it to us.
 *
 * Input is held in the context until final, or until it grows beyond
 * pkcs11-digest-buffer-max (1 MiB by default, the bound digest.c uses), so
 * a context can be duplicated by copying what it holds on any token. Beyond
 * the bound it streams (C_SignUpdate, or C_DigestUpdate for RFC 2104) on a
 * session it keeps; duplicating it then uses C_GetOperationState and
 * C_SetOperationState, and on tokens without them (SoftHSM2 2.6.1 among
 * them) the copies share the running MAC (shared_op.h): the first to take
 * more input keeps it, the others then fail clearly, and copies that only
 * finish all get the MAC of the input they share (what
 * EVP_DigestSignFinal's copy needs).
 *
 * A context created while the thread is inside a call into the module
 * (re-entry, see reentry.h) is served by OpenSSL's default provider.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "debug.h"
#include "err.h"
#include "names.h"
#include "objects.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"
#include "session.h"
#include "shared_op.h"

/* pkcs11be's own HMAC parameter: "auto" (the default) or "digest". */
#define MAC_PARAM_HMAC_METHOD "pkcs11-hmac-method"

#define MAC_MAX_BLOCK  128 /* the largest digest block, SHA-384/512's */
#define CMAC_BLOCK_LEN 16  /* AES block: CMAC output and block size */

struct hmac_digest {
    const char *name;              /* primary name, for messages */
    const char *names;             /* every name, as names.h spells them */
    CK_MECHANISM_TYPE hmac_mech;   /* the token's HMAC */
    const char *hmac_mech_name;    /* for messages */
    CK_MECHANISM_TYPE digest_mech; /* for long keys and RFC 2104 */
    const char *digest_mech_name;  /* for messages */
    size_t size;                   /* L: output bytes */
    size_t block_size;             /* B: input block bytes */
};

static const struct hmac_digest hmac_digests[] = {
    {"SHA1", P11BE_NAMES_SHA1, CKM_SHA_1_HMAC, "CKM_SHA_1_HMAC", CKM_SHA_1,
     "CKM_SHA_1", 20, 64},
    {"SHA2-224", P11BE_NAMES_SHA2_224, CKM_SHA224_HMAC, "CKM_SHA224_HMAC",
     CKM_SHA224, "CKM_SHA224", 28, 64},
    {"SHA2-256", P11BE_NAMES_SHA2_256, CKM_SHA256_HMAC, "CKM_SHA256_HMAC",
     CKM_SHA256, "CKM_SHA256", 32, 64},
    {"SHA2-384", P11BE_NAMES_SHA2_384, CKM_SHA384_HMAC, "CKM_SHA384_HMAC",
     CKM_SHA384, "CKM_SHA384", 48, 128},
    {"SHA2-512", P11BE_NAMES_SHA2_512, CKM_SHA512_HMAC, "CKM_SHA512_HMAC",
     CKM_SHA512, "CKM_SHA512", 64, 128},
};

struct cmac_cipher {
    const char *name;  /* primary name, for messages */
    const char *names; /* every name, as OpenSSL spells them */
    size_t key_len;    /* AES key bytes */
};

static const struct cmac_cipher cmac_ciphers[] = {
    {"AES-128-CBC", "AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2", 16},
    {"AES-192-CBC", "AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22", 24},
    {"AES-256-CBC", "AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42", 32},
};

/* What C_GetMechanismInfo said about one mechanism of the token. */
struct mac_range {
    int present;      /* the token has it */
    CK_ULONG min_len; /* shortest key, bytes */
    CK_ULONG max_len; /* longest key, bytes; 0: no limit given */
};

/* A key as the token uses it; shared by duplicated contexts. */
struct mac_key_st {
    P11BE_PROV_CTX *prov;   /* owner of the object */
    int refs;               /* contexts holding it */
    pthread_mutex_t lock;   /* guards obj */
    const void *made_for;   /* its row in hmac_digests[] or cmac_ciphers[] */
    int via_digest;         /* RFC 2104 on the digest mechanism */
    int forced;             /* made under pkcs11-hmac-method=digest */
    CK_KEY_TYPE key_type;   /* of the object */
    CK_MECHANISM_TYPE mech; /* used with the object, or the digest */
    const char *mech_name;  /* for messages */
    unsigned char *raw;     /* the caller's key, to derive again */
    size_t raw_len;         /* bytes in raw */
    unsigned char *value;   /* the object's CKA_VALUE, or K0 (B bytes) */
    size_t value_len;       /* bytes in value */
    P11BE_OBJECT_REF obj;   /* the token's copy; none until first used */
};

typedef struct mac_key_st MAC_KEY;

struct mac_ctx_st {
    P11BE_PROV_CTX *prov;             /* provider that made us */
    int is_cmac;                      /* CMAC, else HMAC */
    const struct hmac_digest *digest; /* HMAC: NULL until set */
    const struct cmac_cipher *cipher; /* CMAC: NULL until set */
    int force_digest;                 /* pkcs11-hmac-method=digest */
    MAC_KEY *key;                     /* NULL until a key is given */
    EVP_MAC_CTX *fallback;            /* set when made during re-entry */
    P11BE_SESSION *sess;              /* set while the token streams */
    P11BE_SHARED_OP *shared;          /* a running MAC shared with copies */
    unsigned char *held;              /* input not yet given to the token */
    size_t held_len;                  /* bytes in held */
    size_t held_cap;                  /* bytes allocated for held */
    size_t held_prefix;               /* of held_len: K0 ^ ipad (RFC 2104) */
    int ready;                        /* init done, final not yet */
};

typedef struct mac_ctx_st MAC_CTX;

static OSSL_FUNC_mac_newctx_fn hmac_newctx;
static OSSL_FUNC_mac_newctx_fn cmac_newctx;
static OSSL_FUNC_mac_dupctx_fn mac_dupctx;
static OSSL_FUNC_mac_freectx_fn mac_freectx;
static OSSL_FUNC_mac_init_fn mac_init;
static OSSL_FUNC_mac_update_fn mac_update;
static OSSL_FUNC_mac_final_fn mac_final;
static OSSL_FUNC_mac_gettable_ctx_params_fn mac_gettable_ctx_params;
static OSSL_FUNC_mac_get_ctx_params_fn mac_get_ctx_params;
static OSSL_FUNC_mac_settable_ctx_params_fn hmac_settable_ctx_params;
static OSSL_FUNC_mac_settable_ctx_params_fn cmac_settable_ctx_params;
static OSSL_FUNC_mac_set_ctx_params_fn mac_set_ctx_params;

/* Whether `name` is one of the colon-separated `names`, in any case. */
static int mac_name_in(const char *names, const char *name)
{
    size_t len = strlen(name);

    while (*names != '\0') {
        size_t seg = strcspn(names, ":");

        if (seg == len && strncasecmp(names, name, len) == 0)
            return 1;
        names += seg;
        if (*names == ':')
            names++;
    }
    return 0;
}

/*
 * The token's key length range for `mech` (read once per token by the
 * core). A mechanism the token lacks comes back with present = 0; 0 is
 * returned only for a failure, raised.
 */
static int mac_range_get(P11BE_PROV_CTX *prov, CK_MECHANISM_TYPE mech,
                         const char *mech_name, struct mac_range *out)
{
    CK_MECHANISM_INFO minfo = {0};
    int found = p11be_mech_lookup(&prov->tc, mech, mech_name, &minfo);

    if (found < 0)
        return 0;
    out->present = found;
    out->min_len = minfo.ulMinKeySize;
    out->max_len = minfo.ulMaxKeySize;
    P11BE_DEBUG("%s: %s, keys of %lu..%lu bytes", mech_name,
                out->present ? "present" : "absent",
                (unsigned long)out->min_len, (unsigned long)out->max_len);
    return 1;
}

/* C_DigestInit + C_Digest of `in` into `out` (d->size bytes), retried once. */
static int mac_token_digest(P11BE_PROV_CTX *prov, const struct hmac_digest *d,
                            const unsigned char *in, size_t in_len,
                            unsigned char *out)
{
    struct p11be_session_req req = {.mech = d->digest_mech};
    CK_MECHANISM mech = {d->digest_mech, NULL, 0};
    CK_ULONG out_len;
    CK_RV rv = CKR_GENERAL_ERROR;
    int attempt;

    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = p11be_session_acquire(&prov->tc, &req);

        if (sess == NULL)
            return 0;
        rv = P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
        if (rv == CKR_OK) {
            out_len = d->size;
            rv = P11BE_CALL(sess->fns, C_Digest, sess->handle, (CK_BYTE *)in,
                            in_len, out, &out_len);
        }
        if (!p11be_session_done(sess, rv))
            break;
    }
    if (rv != CKR_OK) {
        p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DigestInit/C_Digest (%s): %s", d->digest_mech_name,
                    p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

static MAC_KEY *mac_key_alloc(P11BE_PROV_CTX *prov, const void *made_for,
                              const unsigned char *raw, size_t raw_len,
                              size_t value_len)
{
    MAC_KEY *key = OPENSSL_zalloc(sizeof(*key));

    if (key == NULL)
        goto out_raise;
    /* One spare byte each, so that an empty key still has a buffer. */
    key->raw = OPENSSL_malloc(raw_len + 1);
    key->value = OPENSSL_zalloc(value_len + 1);
    if (key->raw == NULL || key->value == NULL) {
        OPENSSL_free(key->raw);
        OPENSSL_free(key->value);
        OPENSSL_free(key);
        goto out_raise;
    }
    if (raw_len > 0)
        memcpy(key->raw, raw, raw_len);
    key->raw_len = raw_len;
    key->value_len = value_len;
    key->prov = prov;
    key->refs = 1;
    key->made_for = made_for;
    key->obj.handle = CK_INVALID_HANDLE;
    pthread_mutex_init(&key->lock, NULL);
    return key;

out_raise:
    p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY, "holding a %zu-byte key",
                raw_len);
    return NULL;
}

static void mac_key_free(MAC_KEY *key)
{
    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p11be_object_destroy(&key->prov->tc, &key->obj);
    pthread_mutex_destroy(&key->lock);
    OPENSSL_clear_free(key->raw, key->raw_len + 1);
    OPENSSL_clear_free(key->value, key->value_len + 1);
    OPENSSL_clear_free(key, sizeof(*key));
}

/*
 * The zero-padded length under which the token's CKM_*_HMAC gives the HMAC
 * of an `n`-byte key (see the top of the file); 0 when none does.
 * *hash_first says that the key is to be hashed first.
 */
static size_t hmac_fit(const struct hmac_digest *d, const struct mac_range *r,
                       size_t n, int *hash_first)
{
    size_t len = n;

    *hash_first = 0;
    if (!r->present)
        return 0;
    if (r->max_len != 0 && len > r->max_len) {
        if (len <= d->block_size)
            return 0; /* RFC 2104 does not hash it: no shorter form */
        *hash_first = 1;
        len = d->size;
    }
    if (len < r->min_len) {
        if (r->min_len > d->block_size)
            return 0; /* zeros beyond B would change the key */
        len = r->min_len;
    }
    if (len == 0 || (r->max_len != 0 && len > r->max_len))
        return 0;
    return len;
}

/* Makes the key RFC 2104's way: K0, B bytes, for the digest mechanism. */
static MAC_KEY *hmac_key_via_digest(MAC_CTX *ctx, const unsigned char *raw,
                                    size_t raw_len)
{
    const struct hmac_digest *d = ctx->digest;
    struct mac_range range;
    MAC_KEY *key;

    if (!mac_range_get(ctx->prov, d->digest_mech, d->digest_mech_name, &range))
        return NULL;
    if (!range.present) {
        p11be_check_mech(&ctx->prov->tc, d->digest_mech, d->digest_mech_name);
        return NULL;
    }
    key = mac_key_alloc(ctx->prov, d, raw, raw_len, d->block_size);
    if (key == NULL)
        return NULL;
    key->via_digest = 1;
    key->forced = ctx->force_digest;
    key->mech = d->digest_mech;
    key->mech_name = d->digest_mech_name;
    if (raw_len <= d->block_size) {
        if (raw_len > 0)
            memcpy(key->value, raw, raw_len);
    } else if (!mac_token_digest(ctx->prov, d, raw, raw_len, key->value)) {
        mac_key_free(key);
        return NULL;
    }
    P11BE_DEBUG("HMAC-%s: %zu-byte key, RFC 2104 on %s", d->name, raw_len,
                d->digest_mech_name);
    return key;
}

/* The key for ctx->digest: on CKM_*_HMAC when it fits, else RFC 2104. */
static MAC_KEY *hmac_key_new(MAC_CTX *ctx, const unsigned char *raw,
                             size_t raw_len)
{
    const struct hmac_digest *d = ctx->digest;
    struct mac_range range;
    size_t len;
    int hash_first;
    MAC_KEY *key;

    if (d == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "HMAC: set the digest parameter before the key");
        return NULL;
    }
    if (ctx->force_digest)
        return hmac_key_via_digest(ctx, raw, raw_len);
    if (!mac_range_get(ctx->prov, d->hmac_mech, d->hmac_mech_name, &range))
        return NULL;
    len = hmac_fit(d, &range, raw_len, &hash_first);
    if (len == 0)
        return hmac_key_via_digest(ctx, raw, raw_len);
    key = mac_key_alloc(ctx->prov, d, raw, raw_len, len);
    if (key == NULL)
        return NULL;
    key->key_type = CKK_GENERIC_SECRET;
    key->mech = d->hmac_mech;
    key->mech_name = d->hmac_mech_name;
    if (hash_first) {
        if (!mac_token_digest(ctx->prov, d, raw, raw_len, key->value)) {
            mac_key_free(key);
            return NULL;
        }
    } else if (raw_len > 0) {
        memcpy(key->value, raw, raw_len); /* zero-padded to len */
    }
    P11BE_DEBUG("HMAC-%s: %zu-byte key as %zu bytes%s on %s", d->name, raw_len,
                len, hash_first ? " (hashed first)" : "", d->hmac_mech_name);
    return key;
}

static MAC_KEY *cmac_key_new(MAC_CTX *ctx, const unsigned char *raw,
                             size_t raw_len)
{
    const struct cmac_cipher *c = ctx->cipher;
    struct mac_range range;
    MAC_KEY *key;

    if (c == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "CMAC: set the cipher parameter before the key");
        return NULL;
    }
    if (raw_len != c->key_len) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "CMAC with %s needs a %zu-byte key, got %zu bytes", c->name,
                    c->key_len, raw_len);
        return NULL;
    }
    if (!mac_range_get(ctx->prov, CKM_AES_CMAC, "CKM_AES_CMAC", &range))
        return NULL;
    if (!range.present) {
        p11be_check_mech(&ctx->prov->tc, CKM_AES_CMAC, "CKM_AES_CMAC");
        return NULL;
    }
    if (raw_len < range.min_len
        || (range.max_len != 0 && raw_len > range.max_len)) {
        p11be_raise(ctx->prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "CMAC with %s: the token's CKM_AES_CMAC takes keys of "
                    "%lu..%lu bytes",
                    c->name, (unsigned long)range.min_len,
                    (unsigned long)range.max_len);
        return NULL;
    }
    key = mac_key_alloc(ctx->prov, c, raw, raw_len, raw_len);
    if (key == NULL)
        return NULL;
    key->key_type = CKK_AES;
    key->mech = CKM_AES_CMAC;
    key->mech_name = "CKM_AES_CMAC";
    memcpy(key->value, raw, raw_len);
    return key;
}

/* C_CreateObject for the key: secret, sensitive, for signing only. */
static int mac_key_create(MAC_KEY *key)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key->key_type, sizeof(key->key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_VALUE, key->value, key->value_len},
    };

    return p11be_object_create(&key->prov->tc, tmpl,
                               sizeof(tmpl) / sizeof(tmpl[0]), 0, &key->obj);
}

/* The key's object, created (again, after a fork) when missing. */
static int mac_key_object(MAC_KEY *key, P11BE_OBJECT_REF *used)
{
    int ok = 1;

    pthread_mutex_lock(&key->lock);
    if (!p11be_object_alive(&key->prov->tc, &key->obj))
        ok = mac_key_create(key);
    *used = key->obj;
    pthread_mutex_unlock(&key->lock);
    return ok;
}

static void *mac_newctx(void *provctx, int is_cmac)
{
    const char *name = is_cmac ? "CMAC" : "HMAC";
    MAC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));
    EVP_MAC *mac;

    if (ctx == NULL)
        return NULL;
    ctx->prov = provctx;
    ctx->is_cmac = is_cmac;
    if (p11be_reentered()) {
        P11BE_DEBUG("re-entered from the module: %s by the default provider",
                    name);
        mac = EVP_MAC_fetch(p11be_fallback_libctx(), name, NULL);
        ctx->fallback = mac == NULL ? NULL : EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
        if (ctx->fallback == NULL) {
            p11be_raise(ctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                        "%s requested from inside a token call", name);
            OPENSSL_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

static void *hmac_newctx(void *provctx)
{
    return mac_newctx(provctx, 0);
}

static void *cmac_newctx(void *provctx)
{
    return mac_newctx(provctx, 1);
}

static size_t mac_size(const MAC_CTX *ctx)
{
    if (ctx->is_cmac)
        return ctx->cipher != NULL ? CMAC_BLOCK_LEN : 0;
    return ctx->digest != NULL ? ctx->digest->size : 0;
}

/* Its row in hmac_digests[] or cmac_ciphers[]; NULL until set. */
static const void *mac_alg(const MAC_CTX *ctx)
{
    if (ctx->is_cmac)
        return ctx->cipher;
    return ctx->digest;
}

static CK_RV mac_op_update(MAC_CTX *ctx, const unsigned char *in, size_t inl)
{
    if (ctx->key->via_digest)
        return P11BE_CALL(ctx->sess->fns, C_DigestUpdate, ctx->sess->handle,
                          (CK_BYTE *)in, inl);
    return P11BE_CALL(ctx->sess->fns, C_SignUpdate, ctx->sess->handle,
                      (CK_BYTE *)in, inl);
}

static CK_RV mac_op_final(MAC_CTX *ctx, unsigned char *out, CK_ULONG *out_len)
{
    if (ctx->key->via_digest)
        return P11BE_CALL(ctx->sess->fns, C_DigestFinal, ctx->sess->handle, out,
                          out_len);
    return P11BE_CALL(ctx->sess->fns, C_SignFinal, ctx->sess->handle, out,
                      out_len);
}

/*
 * Ends a running token operation nobody wants any more. PKCS#11 2.40 has no
 * cancel: finishing into a scratch buffer leaves the session poolable.
 */
static void mac_end_operation(P11BE_SESSION *sess, int via_digest)
{
    unsigned char scratch[EVP_MAX_MD_SIZE];
    CK_ULONG len = sizeof(scratch);
    CK_RV rv;

    if (via_digest)
        rv = P11BE_CALL(sess->fns, C_DigestFinal, sess->handle, scratch, &len);
    else
        rv = P11BE_CALL(sess->fns, C_SignFinal, sess->handle, scratch, &len);
    if (rv == CKR_OK || p11be_ckr_session_lost(rv))
        p11be_session_release(sess, rv);
    else
        p11be_session_discard(sess);
    OPENSSL_cleanse(scratch, sizeof(scratch));
}

/* For p11be_shared_op_new(): the two kinds of running MAC. */
static void mac_end_signing(P11BE_SESSION *sess)
{
    mac_end_operation(sess, 0);
}

static void mac_end_digesting(P11BE_SESSION *sess)
{
    mac_end_operation(sess, 1);
}

static void mac_abandon(MAC_CTX *ctx)
{
    if (ctx->sess != NULL)
        mac_end_operation(ctx->sess, ctx->key->via_digest);
    ctx->sess = NULL;
    p11be_shared_op_leave(&ctx->shared);
}

static void mac_raise_taken(const MAC_CTX *ctx)
{
    p11be_shared_op_raise_taken(ctx->prov, ctx->is_cmac ? "CMAC" : "HMAC",
                                "MAC");
}

/*
 * Only the RFC 2104 prefix (K0 ^ ipad) is key material; the message is not
 * a secret (STYLE.md) and wiping it would cost as much as hashing it.
 */
static void mac_forget_input(MAC_CTX *ctx)
{
    if (ctx->held_prefix > 0)
        OPENSSL_cleanse(ctx->held, ctx->held_prefix);
    ctx->held_len = 0;
    ctx->held_prefix = 0;
}

static int mac_hold(MAC_CTX *ctx, const unsigned char *in, size_t inl)
{
    if (ctx->held_len + inl > ctx->held_cap) {
        size_t cap = ctx->held_cap > 0 ? ctx->held_cap : 256;
        unsigned char *bigger;

        while (cap < ctx->held_len + inl)
            cap *= 2;
        /* A moved prefix must not stay behind in freed memory. */
        if (ctx->held_prefix > 0)
            bigger = OPENSSL_clear_realloc(ctx->held, ctx->held_cap, cap);
        else
            bigger = OPENSSL_realloc(ctx->held, cap);
        if (bigger == NULL) {
            p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                        "holding %zu bytes of MAC input", ctx->held_len + inl);
            return 0;
        }
        ctx->held = bigger;
        ctx->held_cap = cap;
    }
    memcpy(ctx->held + ctx->held_len, in, inl);
    ctx->held_len += inl;
    return 1;
}

/* Ends the operation in progress, if any: init is needed again. */
static void mac_stop(MAC_CTX *ctx)
{
    mac_abandon(ctx);
    mac_forget_input(ctx);
    ctx->ready = 0;
}

/* Replaces the context's key; the old one goes when nobody holds it. */
static int mac_set_key(MAC_CTX *ctx, const unsigned char *raw, size_t raw_len)
{
    MAC_KEY *key;

    mac_stop(ctx);
    key = ctx->is_cmac ? cmac_key_new(ctx, raw, raw_len)
                       : hmac_key_new(ctx, raw, raw_len);
    if (key == NULL)
        return 0;
    mac_key_free(ctx->key);
    ctx->key = key;
    return 1;
}

/* RFC 2104: the inner hash starts with K0 ^ ipad, held like input. */
static int hmac_hold_ipad(MAC_CTX *ctx)
{
    unsigned char ipad[MAC_MAX_BLOCK];
    size_t i, block = ctx->digest->block_size;
    int ok;

    for (i = 0; i < block; i++)
        ipad[i] = ctx->key->value[i] ^ 0x36;
    ok = mac_hold(ctx, ipad, block);
    OPENSSL_cleanse(ipad, sizeof(ipad));
    if (ok)
        ctx->held_prefix = block;
    return ok;
}

/*
 * (Re)starts a MAC with the key set. The key is derived again only when
 * the digest, cipher or method changed since it was made.
 */
static int mac_start(MAC_CTX *ctx)
{
    mac_stop(ctx);
    if (ctx->key == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                    "%s: pass a key to EVP_MAC_init() or set the \"%s\" "
                    "parameter",
                    ctx->is_cmac ? "CMAC" : "HMAC", OSSL_MAC_PARAM_KEY);
        return 0;
    }
    if (mac_alg(ctx) != ctx->key->made_for
        || ctx->force_digest != ctx->key->forced) {
        MAC_KEY *old = ctx->key;

        if (!mac_set_key(ctx, old->raw, old->raw_len))
            return 0;
    }
    if (ctx->key->via_digest && !hmac_hold_ipad(ctx))
        return 0;
    ctx->ready = 1;
    return 1;
}

/* C_SignInit with the key's object, or C_DigestInit for RFC 2104. */
static CK_RV mac_op_init(MAC_CTX *ctx, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE obj)
{
    CK_MECHANISM mech = {ctx->key->mech, NULL, 0};

    if (ctx->key->via_digest)
        return P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
    return P11BE_CALL(sess->fns, C_SignInit, sess->handle, &mech, obj);
}

/*
 * A session for the key's mechanism, with the key's object ready and in
 * use (objects.h; acquired first: in a forked child that re-initialises
 * the module). End the use with mac_use_end() after the last call naming
 * *obj, before the session goes back.
 */
static P11BE_SESSION *mac_session(MAC_CTX *ctx, CK_OBJECT_HANDLE *obj, int held)
{
    struct p11be_session_req req = {.mech = ctx->key->mech, .held = held};
    P11BE_SESSION *sess = p11be_session_acquire(&ctx->prov->tc, &req);
    P11BE_OBJECT_REF used;
    int tries;

    *obj = CK_INVALID_HANDLE;
    if (sess == NULL || ctx->key->via_digest)
        return sess;
    for (tries = 0; tries < P11BE_OBJECT_REMAKES; tries++) {
        if (!mac_key_object(ctx->key, &used))
            break;
        if (p11be_object_use_begin(&ctx->prov->tc, &used)) {
            *obj = used.handle;
            return sess;
        }
        if (tries + 1 == P11BE_OBJECT_REMAKES)
            p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                        "%s: the key's object on the token went with its "
                        "object session %d times in a row",
                        ctx->key->mech_name, P11BE_OBJECT_REMAKES);
    }
    p11be_session_release(sess, CKR_OK);
    return NULL;
}

/* Ends what mac_session() began. */
static void mac_use_end(MAC_CTX *ctx)
{
    if (!ctx->key->via_digest)
        p11be_object_use_end(&ctx->prov->tc);
}

/*
 * Starts streaming: a session kept until final, the operation's init and
 * the held input. All input so far is held, so a lost session is retried
 * once.
 */
static int mac_start_streaming(MAC_CTX *ctx)
{
    CK_OBJECT_HANDLE obj;
    int attempt;
    CK_RV rv = CKR_OK;

    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = mac_session(ctx, &obj, 1);

        if (sess == NULL)
            return 0;
        rv = mac_op_init(ctx, sess, obj);
        ctx->sess = sess;
        if (rv == CKR_OK && ctx->held_len > 0)
            rv = mac_op_update(ctx, ctx->held, ctx->held_len);
        mac_use_end(ctx);
        if (rv == CKR_OK) {
            mac_forget_input(ctx);
            return 1;
        }
        ctx->sess = NULL;
        if (!p11be_session_done(sess, rv))
            break;
    }
    p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s/%s (%s): %s",
                ctx->key->via_digest ? "C_DigestInit" : "C_SignInit",
                ctx->key->via_digest ? "C_DigestUpdate" : "C_SignUpdate",
                ctx->key->mech_name, p11be_ckr_name(rv));
    return 0;
}

static int mac_update(void *vctx, const unsigned char *in, size_t inl)
{
    MAC_CTX *ctx = vctx;
    CK_RV rv;

    if (ctx->fallback != NULL)
        return EVP_MAC_update(ctx->fallback, in, inl);
    if (!ctx->ready) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "MAC update without init, or after final");
        return 0;
    }
    if (inl == 0)
        return 1;
    /* A shared MAC (shared_op.h): only one holder may take more input. */
    if (ctx->shared != NULL
        && !p11be_shared_op_claim(&ctx->shared, &ctx->sess)) {
        mac_raise_taken(ctx);
        return 0;
    }
    if (ctx->sess == NULL) {
        if (ctx->held_len - ctx->held_prefix + inl
            <= ctx->prov->digest_buffer_max)
            return mac_hold(ctx, in, inl);
        if (!mac_start_streaming(ctx))
            goto out_failed;
    }
    rv = mac_op_update(ctx, in, inl);
    if (rv == CKR_OK)
        return 1;
    /* A failed update ends the token's operation. */
    p11be_session_release(ctx->sess, rv);
    ctx->sess = NULL;
    p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s (%s): %s",
                ctx->key->via_digest ? "C_DigestUpdate" : "C_SignUpdate",
                ctx->key->mech_name, p11be_ckr_name(rv));
out_failed:
    ctx->ready = 0;
    return 0;
}

/* The whole message is held: C_SignInit + C_Sign, retried once. */
static int mac_sign_one_shot(MAC_CTX *ctx, unsigned char *out,
                             CK_ULONG *out_len)
{
    static unsigned char empty[1]; /* modules refuse a NULL pData */
    CK_ULONG room = *out_len;
    CK_OBJECT_HANDLE obj;
    int attempt;
    CK_RV rv = CKR_GENERAL_ERROR;

    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = mac_session(ctx, &obj, 0);

        if (sess == NULL)
            return 0;
        rv = mac_op_init(ctx, sess, obj);
        if (rv == CKR_OK) {
            *out_len = room;
            rv = P11BE_CALL(sess->fns, C_Sign, sess->handle,
                            ctx->held != NULL ? ctx->held : empty,
                            ctx->held_len, out, out_len);
        }
        mac_use_end(ctx);
        if (!p11be_session_done(sess, rv))
            break;
    }
    if (rv != CKR_OK) {
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_SignInit/C_Sign (%s): %s", ctx->key->mech_name,
                    p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

/* RFC 2104's outer hash, on the token: H((K0 ^ opad) || inner). */
static int hmac_outer(MAC_CTX *ctx, const unsigned char *inner,
                      unsigned char *out)
{
    const struct hmac_digest *d = ctx->digest;
    unsigned char buf[MAC_MAX_BLOCK + EVP_MAX_MD_SIZE];
    size_t i;
    int ok;

    for (i = 0; i < d->block_size; i++)
        buf[i] = ctx->key->value[i] ^ 0x5c;
    memcpy(buf + d->block_size, inner, d->size);
    ok = mac_token_digest(ctx->prov, d, buf, d->block_size + d->size, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

/* Finishes the streaming operation into out (the inner hash for RFC 2104). */
static int mac_finish_streaming(MAC_CTX *ctx, unsigned char *out,
                                CK_ULONG *out_len)
{
    CK_RV rv = mac_op_final(ctx, out, out_len);

    p11be_session_release(ctx->sess, rv);
    ctx->sess = NULL;
    if (rv != CKR_OK) {
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s (%s): %s",
                    ctx->key->via_digest ? "C_DigestFinal" : "C_SignFinal",
                    ctx->key->mech_name, p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

/* The final of a shared MAC, for p11be_shared_op_finish(). */
static int mac_final_shared_on(void *arg, P11BE_SESSION *sess,
                               unsigned char *out, size_t *out_len)
{
    MAC_CTX *ctx = arg;
    unsigned char inner[EVP_MAX_MD_SIZE];
    CK_ULONG len = P11BE_SHARED_OP_MAX;
    int ok;

    ctx->sess = sess;
    if (!ctx->key->via_digest) {
        ok = mac_finish_streaming(ctx, out, &len);
        *out_len = len;
        return ok;
    }
    len = sizeof(inner);
    ok = mac_finish_streaming(ctx, inner, &len) && hmac_outer(ctx, inner, out);
    OPENSSL_cleanse(inner, sizeof(inner));
    *out_len = mac_size(ctx);
    return ok;
}

static int mac_final(void *vctx, unsigned char *out, size_t *outl,
                     size_t outsize)
{
    MAC_CTX *ctx = vctx;
    unsigned char inner[EVP_MAX_MD_SIZE];
    size_t size = mac_size(ctx);
    CK_ULONG out_len = outsize;
    int ok;

    if (ctx->fallback != NULL)
        return EVP_MAC_final(ctx->fallback, out, outl, outsize);
    if (!ctx->ready) {
        p11be_raise(ctx->prov->handle, P11BE_R_BAD_STATE,
                    "MAC final without init, or twice");
        return 0;
    }
    if (outsize < size) {
        p11be_raise(ctx->prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "%s needs %zu bytes of output, got %zu",
                    ctx->is_cmac ? "CMAC" : "HMAC", size, outsize);
        return 0;
    }
    ctx->ready = 0;
    if (ctx->shared != NULL) {
        int rc = p11be_shared_op_finish(ctx->shared, mac_final_shared_on, ctx,
                                        out, outl);

        if (rc == 0)
            mac_raise_taken(ctx);
        p11be_shared_op_leave(&ctx->shared);
        return rc == 1;
    }
    if (ctx->key->via_digest) {
        out_len = sizeof(inner);
        if (ctx->sess == NULL)
            ok = mac_token_digest(ctx->prov, ctx->digest, ctx->held,
                                  ctx->held_len, inner);
        else
            ok = mac_finish_streaming(ctx, inner, &out_len);
        ok = ok && hmac_outer(ctx, inner, out);
        out_len = size;
        OPENSSL_cleanse(inner, sizeof(inner));
    } else if (ctx->sess == NULL) {
        ok = mac_sign_one_shot(ctx, out, &out_len);
    } else {
        ok = mac_finish_streaming(ctx, out, &out_len);
    }
    mac_forget_input(ctx);
    if (!ok)
        return 0;
    *outl = out_len;
    return 1;
}

static void mac_freectx(void *vctx)
{
    MAC_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MAC_CTX_free(ctx->fallback);
    mac_abandon(ctx);
    mac_forget_input(ctx);
    OPENSSL_free(ctx->held);
    mac_key_free(ctx->key);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

/* Copies a running token operation with C_Get/SetOperationState. */
static int mac_dup_streaming(MAC_CTX *src, MAC_CTX *dst)
{
    unsigned char *state = NULL;
    CK_ULONG state_len = 0;
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    const char *mech_name = src->key != NULL ? src->key->mech_name : "MAC";
    CK_RV rv;

    rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                    NULL, &state_len);
    if (rv == CKR_OK && (state = OPENSSL_malloc(state_len)) == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                        state, &state_len);
    if (rv != CKR_OK) {
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "%s context holds more than pkcs11-digest-buffer-max "
                    "(%zu bytes) of input and the token cannot copy a running "
                    "%s (C_GetOperationState: %s)",
                    src->is_cmac ? "CMAC" : "HMAC",
                    src->prov->digest_buffer_max, mech_name,
                    p11be_ckr_name(rv));
        goto out_free_state;
    }
    dst->sess = mac_session(dst, &obj, 1);
    if (dst->sess == NULL) {
        rv = CKR_GENERAL_ERROR;
        goto out_free_state;
    }
    rv = P11BE_CALL(dst->sess->fns, C_SetOperationState, dst->sess->handle,
                    state, state_len, CK_INVALID_HANDLE, obj);
    mac_use_end(dst);
    if (rv != CKR_OK) {
        p11be_session_release(dst->sess, rv);
        dst->sess = NULL;
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "C_SetOperationState (%s): %s", mech_name,
                    p11be_ckr_name(rv));
    }
out_free_state:
    OPENSSL_clear_free(state, state_len);
    return rv == CKR_OK;
}

static void *mac_dupctx(void *vctx)
{
    MAC_CTX *src = vctx;
    MAC_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->prov = src->prov;
    dst->is_cmac = src->is_cmac;
    dst->digest = src->digest;
    dst->cipher = src->cipher;
    dst->force_digest = src->force_digest;
    dst->ready = src->ready;
    if (src->fallback != NULL) {
        dst->fallback = EVP_MAC_CTX_dup(src->fallback);
        if (dst->fallback == NULL)
            goto out_free_dst;
        return dst;
    }
    if (src->key != NULL) {
        __atomic_add_fetch(&src->key->refs, 1, __ATOMIC_RELAXED);
        dst->key = src->key;
    }
    if (src->held_len > 0 && !mac_hold(dst, src->held, src->held_len))
        goto out_free_dst;
    dst->held_prefix = src->held_prefix;
    if (src->sess != NULL) {
        /* Where the token cannot copy it, the two share it. */
        ERR_set_mark();
        if (mac_dup_streaming(src, dst)) {
            ERR_clear_last_mark();
            return dst;
        }
        ERR_pop_to_mark();
        src->shared = p11be_shared_op_new(
            src->prov, &src->sess,
            src->key->via_digest ? mac_end_digesting : mac_end_signing);
        if (src->shared == NULL)
            goto out_free_dst;
    }
    if (src->shared != NULL
        && !p11be_shared_op_join(src->shared, &dst->shared)) {
        mac_raise_taken(src);
        goto out_free_dst;
    }
    return dst;

out_free_dst:
    mac_freectx(dst);
    return NULL;
}

static int mac_set_key_param(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const void *raw = NULL;
    size_t raw_len = 0;

    if (!OSSL_PARAM_get_octet_string_ptr(p, &raw, &raw_len)) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be an octet string",
                    OSSL_MAC_PARAM_KEY);
        return 0;
    }
    return mac_set_key(ctx, raw, raw_len) && mac_start(ctx);
}

/* Fetches a UTF-8 parameter, raising a message that names it. */
static const char *mac_param_string(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *value = NULL;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &value)) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be a UTF-8 string", p->key);
        return NULL;
    }
    return value;
}

/* The digest (HMAC) or cipher (CMAC); a change ends a MAC in progress. */
static int mac_pick_alg(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *name = mac_param_string(ctx, p);
    const void *row = NULL;
    size_t i;

    if (name == NULL)
        return 0;
    if (ctx->is_cmac) {
        for (i = 0; i < sizeof(cmac_ciphers) / sizeof(cmac_ciphers[0]); i++)
            if (mac_name_in(cmac_ciphers[i].names, name))
                row = &cmac_ciphers[i];
    } else {
        for (i = 0; i < sizeof(hmac_digests) / sizeof(hmac_digests[0]); i++)
            if (mac_name_in(hmac_digests[i].names, name))
                row = &hmac_digests[i];
    }
    if (row == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s \"%s\" is not offered by pkcs11be (%s)",
                    ctx->is_cmac ? "CMAC cipher" : "HMAC digest", name,
                    ctx->is_cmac ? "AES-128-CBC, AES-192-CBC or AES-256-CBC"
                                 : "SHA1, SHA2-224, SHA2-256, SHA2-384 or "
                                   "SHA2-512");
        return 0;
    }
    if (row != mac_alg(ctx))
        mac_stop(ctx);
    if (ctx->is_cmac)
        ctx->cipher = row;
    else
        ctx->digest = row;
    return 1;
}

static int hmac_pick_method(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    const char *method = mac_param_string(ctx, p);

    if (method == NULL)
        return 0;
    if (strcmp(method, "auto") == 0 || strcmp(method, "digest") == 0) {
        int force = strcmp(method, "digest") == 0;

        if (force != ctx->force_digest)
            mac_stop(ctx);
        ctx->force_digest = force;
        return 1;
    }
    p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s=\"%s\": use \"auto\" or \"digest\"", MAC_PARAM_HMAC_METHOD,
                method);
    return 0;
}

/* tls-data-size is accepted as 0 only: see mac_set_ctx_params(). */
static int hmac_check_tls_size(MAC_CTX *ctx, const OSSL_PARAM *p)
{
    size_t tls_size = 0;

    if (OSSL_PARAM_get_size_t(p, &tls_size) && tls_size == 0)
        return 1;
    p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "HMAC \"%s\" (the TLS CBC record MAC) is not supported by "
                "pkcs11be",
                OSSL_MAC_PARAM_TLS_DATA_SIZE);
    return 0;
}

static const OSSL_PARAM *hmac_settable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, NULL, 0),
        OSSL_PARAM_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, NULL),
        OSSL_PARAM_utf8_string(MAC_PARAM_HMAC_METHOD, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)ctx;
    (void)provctx;
    return settable;
}

static const OSSL_PARAM *cmac_settable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_CIPHER, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)ctx;
    (void)provctx;
    return settable;
}

/*
 * digest (HMAC) or cipher (CMAC), properties and pkcs11-hmac-method apply
 * from the next key or init; a key starts a MAC at once, as with OpenSSL's
 * HMAC and CMAC. properties is accepted and unused: the token does the
 * hashing. tls-data-size (the constant-time TLS CBC record MAC, built on
 * the hash's internals) cannot be done on a token and is refused unless 0.
 */
static int mac_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    const OSSL_PARAM *p;

    if (ctx->fallback != NULL)
        return EVP_MAC_CTX_set_params(ctx->fallback, params);
    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, ctx->is_cmac ? OSSL_MAC_PARAM_CIPHER
                                                     : OSSL_MAC_PARAM_DIGEST);
    if (p != NULL && !mac_pick_alg(ctx, p))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_MAC_PARAM_PROPERTIES);
    if (p != NULL && mac_param_string(ctx, p) == NULL)
        return 0;
    if (!ctx->is_cmac) {
        p = OSSL_PARAM_locate_const(params, MAC_PARAM_HMAC_METHOD);
        if (p != NULL && !hmac_pick_method(ctx, p))
            return 0;
        p = OSSL_PARAM_locate_const(params, OSSL_MAC_PARAM_TLS_DATA_SIZE);
        if (p != NULL && !hmac_check_tls_size(ctx, p))
            return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_MAC_PARAM_KEY);
    if (p != NULL && !mac_set_key_param(ctx, p))
        return 0;
    return 1;
}

/* A NULL key re-uses the one set before (and its token object). */
static int mac_init(void *vctx, const unsigned char *key, size_t keylen,
                    const OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;

    if (ctx->fallback != NULL)
        return EVP_MAC_init(ctx->fallback, key, keylen, params);
    if (!mac_set_ctx_params(ctx, params))
        return 0;
    if (key != NULL && !mac_set_key(ctx, key, keylen))
        return 0;
    return mac_start(ctx);
}

static const OSSL_PARAM *mac_gettable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, NULL),
        OSSL_PARAM_size_t(OSSL_MAC_PARAM_BLOCK_SIZE, NULL),
        OSSL_PARAM_END,
    };

    (void)ctx;
    (void)provctx;
    return gettable;
}

/* size and block-size; 0 until the digest or cipher is set. */
static int mac_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    MAC_CTX *ctx = vctx;
    size_t block = 0;
    OSSL_PARAM *p;

    if (ctx->fallback != NULL)
        return EVP_MAC_CTX_get_params(ctx->fallback, params);
    if (ctx->is_cmac && ctx->cipher != NULL)
        block = CMAC_BLOCK_LEN;
    else if (!ctx->is_cmac && ctx->digest != NULL)
        block = ctx->digest->block_size;
    p = OSSL_PARAM_locate(params, OSSL_MAC_PARAM_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, mac_size(ctx)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_MAC_PARAM_BLOCK_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, block))
        return 0;
    return 1;
}

static const OSSL_DISPATCH p11be_mac_hmac_functions[] = {
    {OSSL_FUNC_MAC_NEWCTX, (void (*)(void))hmac_newctx},
    {OSSL_FUNC_MAC_DUPCTX, (void (*)(void))mac_dupctx},
    {OSSL_FUNC_MAC_FREECTX, (void (*)(void))mac_freectx},
    {OSSL_FUNC_MAC_INIT, (void (*)(void))mac_init},
    {OSSL_FUNC_MAC_UPDATE, (void (*)(void))mac_update},
    {OSSL_FUNC_MAC_FINAL, (void (*)(void))mac_final},
    {OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS,
     (void (*)(void))mac_gettable_ctx_params},
    {OSSL_FUNC_MAC_GET_CTX_PARAMS, (void (*)(void))mac_get_ctx_params},
    {OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS,
     (void (*)(void))hmac_settable_ctx_params},
    {OSSL_FUNC_MAC_SET_CTX_PARAMS, (void (*)(void))mac_set_ctx_params},
    {0, NULL},
};

static const OSSL_DISPATCH p11be_mac_cmac_functions[] = {
    {OSSL_FUNC_MAC_NEWCTX, (void (*)(void))cmac_newctx},
    {OSSL_FUNC_MAC_DUPCTX, (void (*)(void))mac_dupctx},
    {OSSL_FUNC_MAC_FREECTX, (void (*)(void))mac_freectx},
    {OSSL_FUNC_MAC_INIT, (void (*)(void))mac_init},
    {OSSL_FUNC_MAC_UPDATE, (void (*)(void))mac_update},
    {OSSL_FUNC_MAC_FINAL, (void (*)(void))mac_final},
    {OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS,
     (void (*)(void))mac_gettable_ctx_params},
    {OSSL_FUNC_MAC_GET_CTX_PARAMS, (void (*)(void))mac_get_ctx_params},
    {OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS,
     (void (*)(void))cmac_settable_ctx_params},
    {OSSL_FUNC_MAC_SET_CTX_PARAMS, (void (*)(void))mac_set_ctx_params},
    {0, NULL},
};

const OSSL_ALGORITHM p11be_mac_algorithms[] = {
    {"HMAC", P11BE_PROPS, p11be_mac_hmac_functions,
     "HMAC (SHA-1, SHA-2) on the PKCS#11 token"},
    {"CMAC", P11BE_PROPS, p11be_mac_cmac_functions,
     "AES-CMAC on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
