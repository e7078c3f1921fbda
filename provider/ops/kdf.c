/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KDFs, run whole by the default provider in pkcs11be's private library
 * context (reentry.h).
 *
 * Why pkcs11be offers them at all: a KDF that the default provider runs
 * in the application's library context fetches its digest or HMAC there,
 * where pkcs11be is preferred, and so calls the token once per iteration
 * (PBKDF2 with 600,000 iterations: 1.2 million C_SignInit/C_Sign pairs, and
 * minutes on a network HSM). The secrets they iterate on (passwords, TLS
 * secrets) are in process memory anyway, so the token protects nothing
 * here. Offering each KDF and handing it to the default provider with the
 * default provider's HMAC and digests keeps a derivation at no token calls.
 *
 * A token mechanism could take over where the token has one
 * (CKM_PKCS5_PBKD2); SoftHSM2 2.6.1 lists none, so there is no token path
 * (none that the tests could exercise). HKDF and TLS13-KDF are the
 * exception: where the token lists CKM_HKDF_DERIVE (NSS's softokn), a
 * derivation with SHA-256, -384 or -512 runs there (hkdf_token_derive,
 * tls13_token_derive: a TLS 1.3 handshake's key schedule); the parameters
 * still go to the default provider's context too, which checks them and
 * derives whatever the token lacks or refuses.
 *
 * Every entry forwards one-to-one to an EVP_KDF_CTX of the same name; the
 * default provider checks the parameters and raises its own errors.
 *
 * PBKDF1 is in OpenSSL 3.0's legacy provider only, and iterates its
 * digest as PBKDF2 does: it runs in a library context of its own with the
 * default and legacy providers (offered whether or not the application
 * loaded the legacy provider; without legacy.so, newctx fails, naming it).
 */
#include <stddef.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>

#include "algorithms.h"
#include "debug.h"
#include "delegate.h"
#include "digests.h"
#include "err.h"
#include "mechs.h"
#include "pkey_op.h"
#include "provider.h"
#include "reentry.h"
#include "runner.h"
#include "secret_key.h"

/* PBKDF1's home: the default provider kept beside the legacy one. */
static int legacy_load(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provider,
                       void **kept)
{
    *kept = OSSL_PROVIDER_load(libctx, "default");
    if (*kept != NULL)
        *provider = OSSL_PROVIDER_load(libctx, "legacy");
    return *provider != NULL;
}

static void legacy_free(void *deflt)
{
    OSSL_PROVIDER_unload(deflt);
}

static struct p11be_libctx_ref legacy = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                         .load = legacy_load,
                                         .free_kept = legacy_free};

/*
 * Where a KDF runs: `home` (PBKDF1's), or NULL for the private library
 * context. Held while a context uses it.
 */
static int home_get(struct p11be_libctx_ref *home)
{
    return home != NULL ? p11be_libctx_ref_get(home) : p11be_fallback_prepare();
}

static OSSL_LIB_CTX *home_libctx(struct p11be_libctx_ref *home)
{
    return home != NULL ? home->libctx : p11be_fallback_libctx();
}

static void home_put(struct p11be_libctx_ref *home)
{
    if (home != NULL)
        p11be_libctx_ref_put(home);
    else
        p11be_fallback_release();
}

/* PKCS#11 3.0's HKDF, absent from p11-kit's pkcs11.h. */
#define P11BE_CKM_HKDF_DERIVE    0x402aUL
#define P11BE_CKF_HKDF_SALT_NULL 0x1UL
#define P11BE_CKF_HKDF_SALT_DATA 0x2UL

struct p11be_hkdf_params {
    CK_BBOOL extract;
    CK_BBOOL expand;
    CK_MECHANISM_TYPE prf;
    CK_ULONG salt_type;
    CK_BYTE_PTR salt;
    CK_ULONG salt_len;
    CK_OBJECT_HANDLE salt_key;
    CK_BYTE_PTR info;
    CK_ULONG info_len;
};

/* What an HKDF context was given, as the default provider keeps it. */
struct hkdf_state {
    const P11BE_DIGEST *md; /* NULL: none, or no token digest */
    int mode;               /* EVP_KDF_HKDF_MODE_* */
    struct p11be_buf key, salt, info;
    struct p11be_buf prefix, label, data; /* TLS13-KDF's */
};

typedef struct kdf_ctx_st {
    struct p11be_libctx_ref *home; /* where inner lives (home_get) */
    P11BE_PROV_CTX *prov;          /* provider that made us */
    const char *name;              /* the default provider's name for the KDF */
    const char *note;              /* for p11be_delegated_note(): "KDF " name */
    EVP_KDF_CTX *inner;            /* the default provider's context */
    struct hkdf_state *hkdf;       /* HKDF's, TLS13-KDF's copy of params */
} KDF_CTX;

static OSSL_FUNC_kdf_dupctx_fn kdf_dupctx;
static OSSL_FUNC_kdf_freectx_fn kdf_freectx;
static OSSL_FUNC_kdf_reset_fn kdf_reset;
static OSSL_FUNC_kdf_derive_fn kdf_derive;
static OSSL_FUNC_kdf_set_ctx_params_fn kdf_set_ctx_params;
static OSSL_FUNC_kdf_get_ctx_params_fn kdf_get_ctx_params;

static void hkdf_buf_clear(struct p11be_buf *b)
{
    OPENSSL_clear_free(b->data, b->len);
    b->data = NULL;
    b->len = 0;
}

/* The octet-string parameters kept as given (info concatenates). */
static const struct {
    const char *name;
    size_t offset;
} hkdf_octets[] = {
    {OSSL_KDF_PARAM_KEY, offsetof(struct hkdf_state, key)},
    {OSSL_KDF_PARAM_SALT, offsetof(struct hkdf_state, salt)},
    {OSSL_KDF_PARAM_PREFIX, offsetof(struct hkdf_state, prefix)},
    {OSSL_KDF_PARAM_LABEL, offsetof(struct hkdf_state, label)},
    {OSSL_KDF_PARAM_DATA, offsetof(struct hkdf_state, data)},
};

static struct p11be_buf *hkdf_octet(struct hkdf_state *h, size_t i)
{
    return (struct p11be_buf *)((char *)h + hkdf_octets[i].offset);
}

static void hkdf_state_clear(struct hkdf_state *h)
{
    size_t i;

    for (i = 0; i < sizeof(hkdf_octets) / sizeof(hkdf_octets[0]); i++)
        hkdf_buf_clear(hkdf_octet(h, i));
    hkdf_buf_clear(&h->info);
    h->md = NULL;
    h->mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
}

static void hkdf_state_free(struct hkdf_state *h)
{
    if (h != NULL) {
        hkdf_state_clear(h);
        OPENSSL_free(h);
    }
}

static int hkdf_buf_dup(struct p11be_buf *dst, const struct p11be_buf *src)
{
    dst->len = src->len;
    dst->data =
        src->data == NULL ? NULL : OPENSSL_memdup(src->data, src->len + 1);
    return src->data == NULL || dst->data != NULL;
}

static struct hkdf_state *hkdf_state_dup(const struct hkdf_state *src)
{
    struct hkdf_state *h = OPENSSL_zalloc(sizeof(*h));
    size_t i;
    int ok;

    if (h == NULL)
        return NULL;
    h->md = src->md;
    h->mode = src->mode;
    ok = hkdf_buf_dup(&h->info, &src->info);
    for (i = 0; ok && i < sizeof(hkdf_octets) / sizeof(hkdf_octets[0]); i++)
        ok = hkdf_buf_dup(hkdf_octet(h, i),
                          (const struct p11be_buf *)((const char *)src
                                                     + hkdf_octets[i].offset));
    if (ok)
        return h;
    hkdf_state_free(h);
    return NULL;
}

/* An octet parameter's bytes (a NUL after them, for an empty one). */
static int hkdf_buf_take(struct p11be_buf *b, const OSSL_PARAM *p)
{
    hkdf_buf_clear(b);
    b->data = OPENSSL_malloc(p->data_size + 1);
    if (b->data == NULL)
        return 0;
    if (p->data_size > 0)
        memcpy(b->data, p->data, p->data_size);
    b->len = p->data_size;
    return 1;
}

/*
 * Keeps what the default provider's HKDF just accepted: its digest when
 * the token has an HKDF for it (SHA-256/384/512), its mode, key, salt, and
 * info (every info of the call, concatenated, as the default provider
 * does).
 */
static int hkdf_state_set(struct hkdf_state *h, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    const char *name = NULL;
    size_t len = 0, i;

    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_DIGEST)) != NULL
        && OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
        h->md = p11be_digest_find(name);
        if (h->md != NULL && h->md->mech != CKM_SHA256
            && h->md->mech != CKM_SHA384 && h->md->mech != CKM_SHA512)
            h->md = NULL;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_MODE)) != NULL) {
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            name = p->data;
            h->mode = OPENSSL_strcasecmp(name, "EXTRACT_ONLY") == 0
                          ? EVP_KDF_HKDF_MODE_EXTRACT_ONLY
                      : OPENSSL_strcasecmp(name, "EXPAND_ONLY") == 0
                          ? EVP_KDF_HKDF_MODE_EXPAND_ONLY
                          : EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
        } else if (!OSSL_PARAM_get_int(p, &h->mode)) {
            return 0;
        }
    }
    for (i = 0; i < sizeof(hkdf_octets) / sizeof(hkdf_octets[0]); i++)
        if ((p = OSSL_PARAM_locate_const(params, hkdf_octets[i].name)) != NULL
            && !hkdf_buf_take(hkdf_octet(h, i), p))
            return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_INFO)) == NULL)
        return 1;
    hkdf_buf_clear(&h->info);
    for (; p != NULL; p = OSSL_PARAM_locate_const(p + 1, OSSL_KDF_PARAM_INFO))
        len += p->data_size;
    if ((h->info.data = OPENSSL_malloc(len + 1)) == NULL)
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_INFO);
    for (; p != NULL; p = OSSL_PARAM_locate_const(p + 1, OSSL_KDF_PARAM_INFO)) {
        if (p->data_size > 0)
            memcpy(h->info.data + h->info.len, p->data, p->data_size);
        h->info.len += p->data_size;
    }
    return 1;
}

/* One HKDF the token is asked for. */
struct hkdf_call {
    const P11BE_DIGEST *md;
    int extract, expand;
    struct p11be_buf key, salt, info; /* salt: none when empty */
};

/*
 * One HKDF on the token's CKM_HKDF_DERIVE: 1 derived, 0 raised, -1 when
 * the token lacks it or refused it, or the request is one the token path
 * does not take (then the default provider derives, as before).
 */
static int hkdf_token_run(KDF_CTX *ctx, const struct hkdf_call *c,
                          unsigned char *out, size_t outlen)
{
    P11BE_TOKEN_CTX *tc = &ctx->prov->tc;
    struct p11be_hkdf_params hp = {0};
    CK_MECHANISM mech = {P11BE_CKM_HKDF_DERIVE, &hp, sizeof(hp)};
    struct p11be_derive_read d = {&mech, out, outlen};
    P11BE_SECRET_KEY key = {.derive_readable = 1}; /* bytes we hold anyway */
    CK_MECHANISM_INFO info;
    struct p11be_run run = {
        .tc = tc,
        .req = {.mech = P11BE_CKM_HKDF_DERIVE},
        .what = ctx->name,
        .fn = "C_DeriveKey",
        .mech_name = "CKM_HKDF_DERIVE",
        .step = p11be_derive_read_step,
        .arg = &d,
        .object = p11be_secret_key_object,
        .object_arg = &key,
        .object_use = CKF_DERIVE,
        .refusable = 1,
    };
    int has, ok;

    if (c->md == NULL || c->key.len == 0 || p11be_reentered()
        || (!c->expand && outlen != c->md->size) || outlen == 0
        || (c->expand && outlen > 255 * c->md->size)
        || p11be_secret_key_refused(tc, CKK_GENERIC_SECRET))
        return -1;
    ERR_set_mark();
    has =
        p11be_mech_lookup(tc, P11BE_CKM_HKDF_DERIVE, "CKM_HKDF_DERIVE", &info);
    ERR_pop_to_mark(); /* no token: the KDF works as it did without one */
    if (has <= 0 || !(info.flags & CKF_DERIVE) || c->key.len < info.ulMinKeySize
        || (info.ulMaxKeySize != 0 && c->key.len > info.ulMaxKeySize))
        return -1;
    hp.extract = c->extract ? CK_TRUE : CK_FALSE;
    hp.expand = c->expand ? CK_TRUE : CK_FALSE;
    hp.prf = c->md->mech;
    /* No salt and an empty one are the same: HashLen zeros (RFC 5869). */
    hp.salt_type =
        c->salt.len > 0 ? P11BE_CKF_HKDF_SALT_DATA : P11BE_CKF_HKDF_SALT_NULL;
    hp.salt = c->salt.len > 0 ? c->salt.data : NULL;
    hp.salt_len = c->salt.len;
    hp.salt_key = CK_INVALID_HANDLE;
    hp.info = c->info.len > 0 ? c->info.data : NULL;
    hp.info_len = c->info.len;
    if (!p11be_secret_key_set(tc, &key, CKK_GENERIC_SECRET, c->key.data,
                              c->key.len))
        return 0;
    /* A key the token will not take (learned: secret_key.h) is derived
     * by the default provider, as with a mechanism it refused. */
    ok = p11be_secret_key_import(tc, &key, ctx->name, CKF_DERIVE);
    if (ok > 0)
        ok = p11be_run(&run);
    p11be_secret_key_clear(tc, &key);
    if (ok <= 0)
        return ok < 0 || run.refused ? -1 : 0;
    if (d.len != outlen) {
        OPENSSL_cleanse(out, outlen);
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DeriveKey (CKM_HKDF_DERIVE) gave %lu bytes, not %zu",
                    (unsigned long)d.len, outlen);
        return 0;
    }
    P11BE_DEBUG("%s with %s: %zu bytes on the token", ctx->name, c->md->name,
                outlen);
    return 1;
}

static int hkdf_token_derive(KDF_CTX *ctx, unsigned char *out, size_t outlen)
{
    const struct hkdf_state *h = ctx->hkdf;
    const struct hkdf_call c = {h->md,
                                h->mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY,
                                h->mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY,
                                h->key,
                                h->salt,
                                h->info};

    return hkdf_token_run(ctx, &c, out, outlen);
}

/*
 * TLS 1.3's HKDF-Expand-Label (RFC 8446 7.1) on the token: the HkdfLabel
 * (length, prefix and label, context) built here as HKDF's info.
 */
static int tls13_token_expand(KDF_CTX *ctx, const struct p11be_buf *secret,
                              const char *label, size_t label_len,
                              const unsigned char *data, size_t data_len,
                              unsigned char *out, size_t outlen)
{
    const struct hkdf_state *h = ctx->hkdf;
    unsigned char info[2 + 1 + 255 + 1 + 255];
    size_t n = 0, names = h->prefix.len + label_len;
    struct hkdf_call c = {h->md, 0, 1, *secret, {NULL, 0}, {info, 0}};

    if (outlen > 0xffff || names > 255 || data_len > 255)
        return -1;
    info[n++] = (unsigned char)(outlen >> 8);
    info[n++] = (unsigned char)outlen;
    info[n++] = (unsigned char)names;
    if (h->prefix.len > 0)
        memcpy(info + n, h->prefix.data, h->prefix.len);
    n += h->prefix.len;
    if (label_len > 0)
        memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = (unsigned char)data_len;
    if (data_len > 0)
        memcpy(info + n, data, data_len);
    c.info.len = n + data_len;
    return hkdf_token_run(ctx, &c, out, outlen);
}

/*
 * TLS13-KDF as OpenSSL 3.0 defines it: expand-only is HKDF-Expand-Label
 * of key with label and data; extract-only is HKDF-Extract of key (HashLen
 * zeros when none) with, as salt, HKDF-Expand-Label(salt, label, the
 * hash of no messages) when a salt is given (TLS 1.3's label "derived"). Both
 * on the token, one C_DeriveKey per step.
 */
static int tls13_token_derive(KDF_CTX *ctx, unsigned char *out, size_t outlen)
{
    const struct hkdf_state *h = ctx->hkdf;
    unsigned char zeros[EVP_MAX_MD_SIZE] = {0}, empty_hash[EVP_MAX_MD_SIZE];
    unsigned char derived[EVP_MAX_MD_SIZE];
    struct hkdf_call c = {h->md, 1, 0, h->key, {NULL, 0}, {NULL, 0}};
    int ok;

    if (h->md == NULL || h->mode == EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND)
        return -1;
    if (h->mode == EVP_KDF_HKDF_MODE_EXPAND_ONLY)
        return tls13_token_expand(ctx, &h->key, (const char *)h->label.data,
                                  h->label.len, h->data.data, h->data.len, out,
                                  outlen);
    if (h->key.data == NULL)
        c.key = (struct p11be_buf){zeros, h->md->size};
    else if (h->key.len == 0)
        return -1;
    if (h->salt.len > 0) {
        /* The hash of no messages: a constant, not worth a token call. */
        EVP_MD *md = EVP_MD_fetch(home_libctx(ctx->home), h->md->name, NULL);

        ok = md != NULL && EVP_Digest(NULL, 0, empty_hash, NULL, md, NULL);
        EVP_MD_free(md);
        if (!ok)
            return -1;
        ok = tls13_token_expand(ctx, &h->salt, (const char *)h->label.data,
                                h->label.len, empty_hash, h->md->size, derived,
                                h->md->size);
        if (ok <= 0)
            return ok;
        c.salt = (struct p11be_buf){derived, h->md->size};
    }
    ok = hkdf_token_run(ctx, &c, out, outlen);
    OPENSSL_cleanse(derived, sizeof(derived));
    return ok;
}

/*
 * A context around `inner` (NULL: raises `why`) for the KDF `like` names,
 * holding the reference on the private library context that its caller
 * took, so that it exists whether or not the token was ever opened, and
 * outlives no user.
 */
static void *kdf_wrap(P11BE_PROV_CTX *prov, const KDF_CTX *like,
                      EVP_KDF_CTX *inner, int reason, const char *why)
{
    KDF_CTX *ctx = inner == NULL ? NULL : OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        if (inner == NULL)
            p11be_raise(prov->handle, reason, "%s: %s", like->name, why);
        EVP_KDF_CTX_free(inner);
        home_put(like->home);
        return NULL;
    }
    *ctx = *like;
    ctx->prov = prov;
    ctx->inner = inner;
    if (like->hkdf != NULL
        && (ctx->hkdf = hkdf_state_dup(like->hkdf)) == NULL) {
        kdf_freectx(ctx);
        return NULL;
    }
    return ctx;
}

static void *kdf_newctx(void *provctx, struct p11be_libctx_ref *home,
                        const char *name, const char *note)
{
    struct hkdf_state fresh = {.mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND};
    KDF_CTX like = {home, provctx, name, note, NULL, NULL};
    EVP_KDF_CTX *inner = NULL;
    EVP_KDF *kdf;

    if (strcmp(name, "HKDF") == 0 || strcmp(name, "TLS13-KDF") == 0)
        like.hkdf = &fresh;

    if (!home_get(home)) {
        p11be_raise(like.prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot load %s", name,
                    home != NULL ? "the default and legacy providers"
                                 : "the default provider");
        return NULL;
    }
    kdf = EVP_KDF_fetch(home_libctx(home), name, NULL);
    if (kdf != NULL)
        inner = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    return kdf_wrap(provctx, &like, inner, P11BE_R_FALLBACK_FAILED,
                    "the default provider has no such KDF");
}

static void *kdf_dupctx(void *vctx)
{
    const KDF_CTX *src = vctx;

    if (!home_get(src->home))
        return NULL;
    /* OpenSSL 3.0's default KDFs have no dupctx (3.1 added them). */
    return kdf_wrap(src->prov, src, EVP_KDF_CTX_dup(src->inner),
                    P11BE_R_DUP_NOT_POSSIBLE,
                    "the default provider cannot copy this context");
}

/* The default provider wipes the password, key and salt it holds. */
static void kdf_freectx(void *vctx)
{
    KDF_CTX *ctx = vctx;

    if (ctx != NULL) {
        EVP_KDF_CTX_free(ctx->inner);
        hkdf_state_free(ctx->hkdf);
        home_put(ctx->home);
        OPENSSL_free(ctx);
    }
}

static void kdf_reset(void *vctx)
{
    KDF_CTX *ctx = vctx;

    EVP_KDF_CTX_reset(ctx->inner);
    if (ctx->hkdf != NULL)
        hkdf_state_clear(ctx->hkdf);
}

static int kdf_derive(void *vctx, unsigned char *key, size_t keylen,
                      const OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;
    int done;

    if (ctx->hkdf != NULL) {
        if (!kdf_set_ctx_params(ctx, params))
            return 0;
        done = strcmp(ctx->name, "HKDF") == 0
                   ? hkdf_token_derive(ctx, key, keylen)
                   : tls13_token_derive(ctx, key, keylen);
        if (done >= 0)
            return done;
        params = NULL; /* given to inner already */
    }
    p11be_delegated_note(ctx->prov, ctx->note);
    return EVP_KDF_derive(ctx->inner, key, keylen, params);
}

static int kdf_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;

    if (!EVP_KDF_CTX_set_params(ctx->inner, params))
        return 0;
    return ctx->hkdf == NULL || params == NULL
           || hkdf_state_set(ctx->hkdf, params);
}

static int kdf_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;

    return EVP_KDF_CTX_get_params(ctx->inner, params);
}

/*
 * OpenSSL asks for the tables with a NULL context too
 * (EVP_KDF_settable_ctx_params), so they come from the name. They are the
 * default provider's static tables, valid after its method is freed.
 */
static const OSSL_PARAM *kdf_params_table(struct p11be_libctx_ref *home,
                                          const char *name, int settable)
{
    const OSSL_PARAM *table = NULL;
    EVP_KDF *kdf;

    if (!home_get(home))
        return NULL;
    kdf = EVP_KDF_fetch(home_libctx(home), name, NULL);
    if (kdf != NULL)
        table = settable ? EVP_KDF_settable_ctx_params(kdf)
                         : EVP_KDF_gettable_ctx_params(kdf);
    EVP_KDF_free(kdf);
    home_put(home);
    return table;
}

/* A KDF's settable (1) or gettable (0) list, for its dispatch table. */
#define KDF_TABLE(fn, home, name, settable)                                    \
    static const OSSL_PARAM *fn(void *vctx, void *provctx)                     \
    {                                                                          \
        (void)vctx;                                                            \
        (void)provctx;                                                         \
        return kdf_params_table(home, name, settable);                         \
    }

/*
 * One KDF: the three entries that must know it before a context exists,
 * and its dispatch table. Names are spelled out in full.
 */
#define KDF_KIND_IN(home, functions, newctx, settable, gettable, name)         \
    static void *newctx(void *provctx)                                         \
    {                                                                          \
        return kdf_newctx(provctx, home, name, "KDF " name);                   \
    }                                                                          \
    KDF_TABLE(settable, home, name, 1)                                         \
    KDF_TABLE(gettable, home, name, 0)                                         \
    const OSSL_DISPATCH functions[] = {                                        \
        P11BE_FN(OSSL_FUNC_KDF_NEWCTX, newctx),                                \
        P11BE_FN(OSSL_FUNC_KDF_DUPCTX, kdf_dupctx),                            \
        P11BE_FN(OSSL_FUNC_KDF_FREECTX, kdf_freectx),                          \
        P11BE_FN(OSSL_FUNC_KDF_RESET, kdf_reset),                              \
        P11BE_FN(OSSL_FUNC_KDF_DERIVE, kdf_derive),                            \
        P11BE_FN(OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, settable),                 \
        P11BE_FN(OSSL_FUNC_KDF_SET_CTX_PARAMS, kdf_set_ctx_params),            \
        P11BE_FN(OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, gettable),                 \
        P11BE_FN(OSSL_FUNC_KDF_GET_CTX_PARAMS, kdf_get_ctx_params),            \
        {0, NULL},                                                             \
    }
#define KDF_KIND(...) KDF_KIND_IN(NULL, __VA_ARGS__)

/* clang-format off */
KDF_KIND(p11be_kdf_hkdf_functions, hkdf_newctx, hkdf_settable, hkdf_gettable, "HKDF");
KDF_KIND(p11be_kdf_tls13_functions, tls13_newctx, tls13_settable, tls13_gettable, "TLS13-KDF");
KDF_KIND(p11be_kdf_sskdf_functions, sskdf_newctx, sskdf_settable, sskdf_gettable, "SSKDF");
KDF_KIND(p11be_kdf_pbkdf2_functions, pbkdf2_newctx, pbkdf2_settable, pbkdf2_gettable, "PBKDF2");
KDF_KIND(p11be_kdf_pkcs12_functions, pkcs12_newctx, pkcs12_settable, pkcs12_gettable, "PKCS12KDF");
KDF_KIND(p11be_kdf_sshkdf_functions, sshkdf_newctx, sshkdf_settable, sshkdf_gettable, "SSHKDF");
KDF_KIND(p11be_kdf_x963_functions, x963_newctx, x963_settable, x963_gettable, "X963KDF");
KDF_KIND(p11be_kdf_tls1_prf_functions, tls1_prf_newctx, tls1_prf_settable, tls1_prf_gettable, "TLS1-PRF");
KDF_KIND(p11be_kdf_kbkdf_functions, kbkdf_newctx, kbkdf_settable, kbkdf_gettable, "KBKDF");
KDF_KIND(p11be_kdf_krb5_functions, krb5_newctx, krb5_settable, krb5_gettable, "KRB5KDF");
KDF_KIND(p11be_kdf_x942_asn1_functions, x942_asn1_newctx, x942_asn1_settable, x942_asn1_gettable, "X942KDF-ASN1");
KDF_KIND(p11be_kdf_scrypt_functions, scrypt_newctx, scrypt_settable, scrypt_gettable, "SCRYPT");
KDF_KIND_IN(&legacy, p11be_kdf_pbkdf1_functions, pbkdf1_newctx, pbkdf1_settable, pbkdf1_gettable, "PBKDF1");
/* clang-format on */
