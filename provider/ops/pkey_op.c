/* SPDX-License-Identifier: Apache-2.0 */
/* The context every operation on a key shares; see pkey_op.h. */
#include "pkey_op.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "err.h"
#include "reentry.h"

/* Ready host contexts per key (below): one per init kind a key sees. */
#define PKEY_READY_MAX 8
/* Longest digest name a ready context is kept for, with its NUL. */
#define PKEY_MD_NAME_MAX 32

P11BE_PKEY_CTX *p11be_pkey_ctx_new(void *provctx,
                                   const struct p11be_pkey_alg *alg)
{
    P11BE_PKEY_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, alg->what);
    ctx->alg = alg;
    return ctx;
}

/* Forgets what the last init or set_peer left. */
static void pkey_ctx_reset(P11BE_PKEY_CTX *ctx)
{
    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    p11be_key_free(ctx->peer);
    ctx->peer = NULL;
    OPENSSL_free(ctx->peer_pub);
    ctx->peer_pub = NULL;
    ctx->peer_pub_len = 0;
}

void p11be_pkey_ctx_free(void *vctx)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    pkey_ctx_reset(ctx);
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

void *p11be_pkey_ctx_dup(void *vctx)
{
    P11BE_PKEY_CTX *src = vctx;
    P11BE_PKEY_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    dst->alg = src->alg;
    dst->pad = src->pad;
    if (!p11be_keyop_dup(&dst->op, &src->op))
        goto out_free;
    if (src->mdctx != NULL
        && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
            || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))
        goto out_free;
    if (src->peer_pub != NULL
        && (dst->peer_pub = OPENSSL_memdup(src->peer_pub, src->peer_pub_len))
               == NULL)
        goto out_free;
    dst->peer_pub_len = src->peer_pub_len;
    if (src->peer != NULL && p11be_key_up_ref(src->peer))
        dst->peer = src->peer;
    return dst;

out_free:
    p11be_pkey_ctx_free(dst);
    return NULL;
}

/* EVP_PKEY_*_init of the host context for `operation`. */
static int pkey_host_init(EVP_PKEY_CTX *host, int operation)
{
    switch (operation) {
    case EVP_PKEY_OP_SIGN:
        return EVP_PKEY_sign_init(host);
    case EVP_PKEY_OP_VERIFY:
        return EVP_PKEY_verify_init(host);
    case EVP_PKEY_OP_VERIFYRECOVER:
        return EVP_PKEY_verify_recover_init(host);
    case EVP_PKEY_OP_ENCRYPT:
        return EVP_PKEY_encrypt_init(host);
    case EVP_PKEY_OP_DECRYPT:
        return EVP_PKEY_decrypt_init(host);
    default:
        return EVP_PKEY_derive_init(host);
    }
}

/*
 * A host context as an init without parameters leaves it, made once per
 * key and what tells inits apart, then dup'ed by every such init: making
 * one fetches the key manager, the signature and the digest by name in
 * the fallback library context, each time, which cost a TLS handshake
 * about as much as all of pkcs11be's own work. Never used itself, so
 * threads dup it at once; immutable once published.
 */
struct pkey_ready {
    const struct p11be_pkey_alg *alg; /* the row whose init made it */
    int host_op;                      /* EVP_PKEY_OP_* host was inited for */
    const EVP_PKEY *pkey;             /* the host copy (held by host) */
    char md_name[PKEY_MD_NAME_MAX];   /* the digest asked for; "": none */
    EVP_PKEY_CTX *host;               /* the context to dup */
    EVP_MD *md;                       /* the host's hash; NULL: none */
};

/* What pkey_op.c keeps per key (keyobj.h), freed with it. */
struct pkey_ext {
    struct p11be_key_ext head;                /* first: the key frees it */
    struct pkey_ready *ready[PKEY_READY_MAX]; /* published once each */
};

static void pkey_ready_free(struct pkey_ready *r)
{
    if (r == NULL)
        return;
    EVP_PKEY_CTX_free(r->host);
    EVP_MD_free(r->md);
    OPENSSL_free(r);
}

static void pkey_ext_free(struct p11be_key_ext *head)
{
    struct pkey_ext *ext = (struct pkey_ext *)head;
    size_t i;

    for (i = 0; i < PKEY_READY_MAX; i++)
        pkey_ready_free(ext->ready[i]);
    OPENSSL_free(ext);
}

/* The key's, made by the first thread that asks; NULL without memory. */
static struct pkey_ext *pkey_ext_get(P11BE_KEY *key)
{
    struct p11be_key_ext *head = __atomic_load_n(&key->ext, __ATOMIC_ACQUIRE);
    struct pkey_ext *ext;

    if (head != NULL)
        return (struct pkey_ext *)head;
    ext = OPENSSL_zalloc(sizeof(*ext));
    if (ext == NULL)
        return NULL;
    ext->head.free = pkey_ext_free;
    head = NULL;
    if (__atomic_compare_exchange_n(&key->ext, &head, &ext->head, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return ext;
    OPENSSL_free(ext); /* another thread's came first */
    return (struct pkey_ext *)head;
}

static struct pkey_ready *pkey_ready_find(struct pkey_ext *ext,
                                          const struct p11be_pkey_alg *alg,
                                          int host_op, const EVP_PKEY *pkey,
                                          const char *md_name)
{
    struct pkey_ready *r;
    size_t i;

    for (i = 0; i < PKEY_READY_MAX; i++) {
        r = __atomic_load_n(&ext->ready[i], __ATOMIC_ACQUIRE);
        if (r == NULL)
            return NULL; /* slots fill in order */
        if (r->alg == alg && r->host_op == host_op && r->pkey == pkey
            && strcmp(r->md_name, md_name) == 0)
            return r;
    }
    return NULL;
}

/* 1 if r is now the key's; 0 if every slot is taken (r stays the caller's). */
static int pkey_ready_publish(struct pkey_ext *ext, struct pkey_ready *r)
{
    struct pkey_ready *none;
    size_t i;

    for (i = 0; i < PKEY_READY_MAX; i++) {
        none = NULL;
        if (__atomic_compare_exchange_n(&ext->ready[i], &none, r, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
}

/* Sets the digest on the host context and fetches it for the host's hash. */
static int pkey_host_digest(P11BE_PKEY_CTX *ctx, EVP_PKEY_CTX *host,
                            const char *md_name, EVP_MD **md)
{
    const char *what = ctx->alg->what;
    OSSL_PARAM set[2];

    set[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                              (char *)md_name, 0);
    set[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_set_params(host, set) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: digest %s refused", what, md_name);
        return 0;
    }
    *md = EVP_MD_fetch(p11be_fallback_libctx(), md_name, NULL);
    if (*md != NULL)
        return 1;
    p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s: cannot hash with %s", what, md_name);
    return 0;
}

/* The host's hash of a DigestSign/DigestVerify, started. */
static int pkey_ctx_start_hash(P11BE_PKEY_CTX *ctx, const EVP_MD *md,
                               const char *md_name)
{
    ctx->mdctx = EVP_MD_CTX_new();
    if (ctx->mdctx != NULL && EVP_DigestInit_ex2(ctx->mdctx, md, NULL))
        return 1;
    p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s: cannot hash with %s", ctx->alg->what, md_name);
    return 0;
}

/*
 * The ready context for this init (no parameters), made and published
 * the first time; NULL (raised) if making it failed. *own is set when
 * it could not be published: the caller then uses and frees it.
 */
static struct pkey_ready *pkey_ready_get(P11BE_PKEY_CTX *ctx, int host_op,
                                         const char *md_name, int *own)
{
    P11BE_KEY *key = ctx->op.key;
    struct pkey_ext *ext = pkey_ext_get(key);
    struct pkey_ready *r = NULL;
    const char *name = md_name != NULL ? md_name : "";

    *own = 0;
    if (ext == NULL || strlen(name) >= PKEY_MD_NAME_MAX)
        return NULL;
    r = pkey_ready_find(ext, ctx->alg, host_op, key->host, name);
    if (r != NULL)
        return r;
    r = OPENSSL_zalloc(sizeof(*r));
    if (r == NULL)
        return NULL;
    r->alg = ctx->alg;
    r->host_op = host_op;
    r->pkey = key->host;
    strcpy(r->md_name, name);
    r->host = p11be_key_host_ctx(key);
    if (r->host == NULL || pkey_host_init(r->host, host_op) <= 0
        || (md_name != NULL
            && !pkey_host_digest(ctx, r->host, md_name, &r->md))) {
        pkey_ready_free(r);
        return NULL;
    }
    *own = !pkey_ready_publish(ext, r);
    return r;
}

/*
 * The host context of an init without parameters: a dup of the ready
 * one, with the hash started from its digest. 1, 0 (raised), or -1 when
 * there is none to be had (no memory, a name too long): the caller makes
 * the context itself.
 */
static int pkey_ctx_from_ready(P11BE_PKEY_CTX *ctx, int host_op,
                               const char *md_name)
{
    struct pkey_ready *r;
    int own, ok;

    ERR_set_mark();
    r = pkey_ready_get(ctx, host_op, md_name, &own);
    if (r == NULL) {
        /* Raised while making it: the caller's own try raises again. */
        ERR_pop_to_mark();
        return -1;
    }
    ERR_clear_last_mark();
    if (own) {
        ctx->op.host = r->host;
        r->host = NULL;
    } else {
        ctx->op.host = EVP_PKEY_CTX_dup(r->host);
    }
    ok = ctx->op.host != NULL
         && (md_name == NULL || pkey_ctx_start_hash(ctx, r->md, md_name));
    if (own)
        pkey_ready_free(r);
    return ok;
}

int p11be_pkey_ctx_init_md(P11BE_PKEY_CTX *ctx, void *provkey,
                           const OSSL_PARAM params[], int operation,
                           const char *md_name)
{
    const struct p11be_pkey_alg *alg = ctx->alg;
    int private = operation == EVP_PKEY_OP_SIGN
                  || operation == EVP_PKEY_OP_DECRYPT
                  || operation == EVP_PKEY_OP_DERIVE;
    int host_op = operation, done = -1;
    EVP_PKEY *host;
    EVP_MD *md = NULL;

    pkey_ctx_reset(ctx);
    if (!p11be_keyop_init(&ctx->op, provkey, operation, private))
        return 0;
    host = ctx->op.key->host;
    if (!EVP_PKEY_is_a(host, alg->key_type)
        && (alg->key_type_alt == NULL
            || !EVP_PKEY_is_a(host, alg->key_type_alt))) {
        if (alg->host_refuses != NULL && EVP_PKEY_is_a(host, alg->host_refuses)
            && (ctx->op.host = p11be_key_host_ctx(ctx->op.key)) != NULL
            && pkey_host_init(ctx->op.host, operation) <= 0)
            return 0;
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s needs an %s key, not %s", alg->what, alg->key_type,
                    ctx->op.key->kind->name);
        return 0;
    }
    if (private && alg->mech_name != NULL
        && !p11be_keyop_token_mech(&ctx->op, alg->mech, alg->mech_name))
        return 0;
    if (private && !p11be_keyop_token_key(&ctx->op))
        return 0;
    /* On the token, the host context only holds the parameters. */
    if (private && !ctx->op.on_host)
        host_op = alg->token_host_op;
    /*
     * With parameters, in OpenSSL's order: init, parameters, then the
     * digest; without, the same as one ready context, dup'ed.
     */
    if (alg->token_host_op != 0 && (params == NULL || params[0].key == NULL)) {
        done = pkey_ctx_from_ready(ctx, host_op, md_name);
        if (done == 0)
            return 0;
    }
    if (done < 0) {
        ctx->op.host = p11be_key_host_ctx(ctx->op.key);
        if (ctx->op.host == NULL)
            return 0;
        if (alg->token_host_op != 0
            && (pkey_host_init(ctx->op.host, host_op) <= 0
                || !p11be_pkey_ctx_set_params(ctx, params)))
            return 0;
    } else if (!p11be_pkey_ctx_set_params(ctx, params)) {
        return 0;
    }
    if (done > 0 || md_name == NULL)
        return 1;
    if (!pkey_host_digest(ctx, ctx->op.host, md_name, &md)) {
        EVP_MD_free(md);
        return 0;
    }
    done = pkey_ctx_start_hash(ctx, md, md_name);
    EVP_MD_free(md);
    return done;
}

int p11be_pkey_ctx_init(P11BE_PKEY_CTX *ctx, void *provkey,
                        const OSSL_PARAM params[], int operation)
{
    return p11be_pkey_ctx_init_md(ctx, provkey, params, operation, NULL);
}

int p11be_pkey_ctx_get_params(void *vctx, OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

/* After init (OpenSSL allows nothing else); NULL or empty: nothing to do. */
int p11be_pkey_ctx_set_params(void *vctx, const OSSL_PARAM params[])
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (ctx->alg->set_params != NULL && !ctx->alg->set_params(ctx, params))
        return 0;
    return p11be_keyop_set_params(&ctx->op, params);
}
