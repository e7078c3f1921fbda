/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key object (see keyobj.h) and the template helpers that build its
 * token objects. (The operations' base on a key, P11BE_KEYOP, is
 * ops/keyop.h.)
 *
 * Login. Imported private keys are session objects with CKA_PRIVATE
 * false, which SoftHSM2 creates and uses without a login. A token that
 * reports CKF_LOGIN_REQUIRED may insist on one (many HSMs refuse a private
 * key that is not CKA_PRIVATE), so when it does and a PIN is configured,
 * the objects are made CKA_PRIVATE after a login; with no PIN configured
 * they are tried without one, and the token's refusal names what to set.
 * Persistent generated keys are always CKA_PRIVATE, after a login.
 *
 * Generated key pairs are made on the object session (objects.h), so a
 * session pair lives as long as its key, like an imported one. A
 * persistent pair outlives that session: it is found again by its id or
 * label when the token was re-inserted or the process forked.
 */
#include "keyobj.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "debug.h"
#include "err.h"
#include "p11call.h"
#include "reentry.h"
#include "token.h"

/* ---- templates ---------------------------------------------------------- */

void p11be_attrs_add(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                     const void *value, size_t len)
{
    unsigned char *copy;

    if (attrs->failed)
        return;
    /* One spare byte, so that an empty value still has a buffer. */
    copy = attrs->count < P11BE_ATTRS_MAX ? OPENSSL_malloc(len + 1) : NULL;
    if (copy == NULL) {
        attrs->failed = 1;
        return;
    }
    if (len > 0)
        memcpy(copy, value, len);
    attrs->list[attrs->count].type = type;
    attrs->list[attrs->count].pValue = copy;
    attrs->list[attrs->count].ulValueLen = len;
    attrs->count++;
}

void p11be_attrs_add_bool(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type, int value)
{
    CK_BBOOL b = value ? CK_TRUE : CK_FALSE;

    p11be_attrs_add(attrs, type, &b, sizeof(b));
}

void p11be_attrs_add_ulong(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                           CK_ULONG value)
{
    p11be_attrs_add(attrs, type, &value, sizeof(value));
}

int p11be_attrs_add_bn(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                       const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    int len;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        return 0;
    len = BN_num_bytes(bn);
    buf = OPENSSL_malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        attrs->failed = 1;
    } else {
        BN_bn2bin(bn, buf);
        p11be_attrs_add(attrs, type, buf, len);
        OPENSSL_clear_free(buf, len > 0 ? len : 1);
    }
    BN_clear_free(bn);
    return 1;
}

void p11be_attrs_free(P11BE_ATTRS *attrs)
{
    CK_ULONG i;

    for (i = 0; i < attrs->count; i++)
        OPENSSL_clear_free(attrs->list[i].pValue,
                           attrs->list[i].ulValueLen + 1);
    attrs->count = 0;
}

/* ---- what the token says ------------------------------------------------ */

/*
 * Whether imported private keys are made CKA_PRIVATE after a login (see
 * the top of the file): 1 or 0, or -1 on failure (raised).
 */
static int key_login_for_keys(P11BE_TOKEN_CTX *tc)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);

    if (token == NULL)
        return -1;
    return (token->token_flags & CKF_LOGIN_REQUIRED) != 0
           && p11be_config_get(tc->config, P11BE_SET_PIN) != NULL;
}

/* ---- the key object ----------------------------------------------------- */

static void ref_clear(P11BE_OBJECT_REF *ref)
{
    memset(ref, 0, sizeof(*ref));
    ref->handle = CK_INVALID_HANDLE;
}

/* A token key's object made or found on a session of the same insertion. */
static void ref_set_token(P11BE_OBJECT_REF *ref, CK_OBJECT_HANDLE handle,
                          const P11BE_SESSION *sess)
{
    ref_clear(ref);
    ref->handle = handle;
    ref->generation = sess->generation;
    ref->forks = sess->fork_generation;
}

/* Whether that object is still there, as far as `sess` can tell. */
static int ref_token_current(const P11BE_OBJECT_REF *ref,
                             const P11BE_SESSION *sess)
{
    return ref->handle != CK_INVALID_HANDLE
           && ref->generation == sess->generation
           && ref->forks == sess->fork_generation;
}

P11BE_KEY *p11be_key_new(P11BE_TOKEN_CTX *tc, const struct p11be_key_kind *kind)
{
    P11BE_KEY *key;
    int i;

    if (!p11be_fallback_prepare()) {
        p11be_raise(tc->handle, P11BE_R_FALLBACK_FAILED,
                    "cannot load OpenSSL's default provider for the public "
                    "half of a %s key",
                    kind->name);
        return NULL;
    }
    key = OPENSSL_zalloc(sizeof(*key));
    if (key == NULL) {
        p11be_fallback_release();
        return NULL;
    }
    key->tc = tc;
    key->kind = kind;
    key->refs = 1;
    pthread_mutex_init(&key->lock, NULL);
    for (i = 0; i < P11BE_USE_COUNT; i++)
        ref_clear(&key->priv[i]);
    ref_clear(&key->pub);
    ref_clear(&key->copy);
    return key;
}

int p11be_key_up_ref(P11BE_KEY *key)
{
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_RELAXED);
    return 1;
}

void p11be_key_free(P11BE_KEY *key)
{
    int i;

    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (!key->persistent) {
        for (i = 0; i < P11BE_USE_COUNT; i++)
            p11be_object_destroy(key->tc, &key->priv[i]);
        p11be_object_destroy(key->tc, &key->pub);
    }
    p11be_object_destroy(key->tc, &key->copy);
    /* Before the fallback library context its contexts live in may go. */
    if (key->ext != NULL)
        key->ext->free(key->ext);
    EVP_PKEY_free(key->host);
    EVP_PKEY_free(key->host_full);
    p11be_fallback_release();
    OPENSSL_free(key->id);
    OPENSSL_free(key->label);
    pthread_mutex_destroy(&key->lock);
    OPENSSL_clear_free(key, sizeof(*key));
}

int p11be_key_set_host(P11BE_KEY *key, EVP_PKEY *host, int has_private)
{
    if (key->host != NULL) {
        p11be_raise(key->tc->handle, P11BE_R_BAD_STATE,
                    "a %s key cannot be imported twice", key->kind->name);
        return 0;
    }
    key->host = host;
    key->host_private = has_private;
    return 1;
}

int p11be_key_set_params_host(P11BE_KEY *key, EVP_PKEY *params)
{
    if (!p11be_key_set_host(key, params, 0))
        return 0;
    key->params_only = 1;
    return 1;
}

int p11be_key_set_public(P11BE_KEY *key, EVP_PKEY *host)
{
    EVP_PKEY *params;

    pthread_mutex_lock(&key->lock);
    if (!key->params_only) {
        pthread_mutex_unlock(&key->lock);
        p11be_raise(key->tc->handle, P11BE_R_BAD_STATE,
                    "the %s key already has a public key: keys are not "
                    "changed once made",
                    key->kind->name);
        return 0;
    }
    params = key->host;
    key->host = host;
    key->params_only = 0;
    pthread_mutex_unlock(&key->lock);
    EVP_PKEY_free(params);
    return 1;
}

/*
 * The host copy's public parameters (RSA-PSS restrictions included) and
 * the private values the kind reads from `obj`, as one key pair.
 */
static EVP_PKEY *key_read_private(P11BE_KEY *key, P11BE_SESSION *sess,
                                  CK_OBJECT_HANDLE obj)
{
    OSSL_PARAM *pub = NULL, *priv, *all = NULL, *p;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *full = NULL;

    priv = key->kind->private_from_token(key, sess, obj);
    if (priv == NULL)
        return NULL;
    if (EVP_PKEY_todata(key->host, EVP_PKEY_PUBLIC_KEY, &pub) != 1
        || (all = OSSL_PARAM_merge(pub, priv)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(p11be_fallback_libctx(),
                                             key->kind->name, NULL))
               == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &full, EVP_PKEY_KEYPAIR, all) != 1) {
        full = NULL;
        p11be_raise(key->tc->handle, P11BE_R_FALLBACK_FAILED,
                    "the %s private key read from the token is not one "
                    "OpenSSL's default provider takes",
                    key->kind->name);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(all); /* points into pub and priv */
    /* OpenSSL 3.0 has no OSSL_PARAM_clear_free(): wipe, then free. */
    for (p = priv; p != NULL && p->key != NULL; p++)
        OPENSSL_cleanse(p->data, p->data_size);
    OSSL_PARAM_free(priv);
    OSSL_PARAM_free(pub);
    return full;
}

EVP_PKEY *p11be_key_private_host(P11BE_KEY *key)
{
    struct p11be_session_req req = {.need_login = key->need_login};
    P11BE_SESSION *sess;
    EVP_PKEY *full;

    if (key->host_private)
        return key->host;
    if (!key->exportable) {
        p11be_raise(key->tc->handle, P11BE_R_NOT_EXTRACTABLE,
                    "the private half of this %s key is on the token and "
                    "cannot leave it",
                    key->kind->name);
        return NULL;
    }
    pthread_mutex_lock(&key->lock);
    full = key->host_full;
    pthread_mutex_unlock(&key->lock);
    if (full != NULL)
        return full;
    /* The session first: never wait for one holding key->lock. */
    sess = p11be_session_acquire(key->tc, &req);
    if (sess == NULL)
        return NULL;
    pthread_mutex_lock(&key->lock);
    if (key->host_full == NULL) {
        if (p11be_object_alive(key->tc, &key->priv[0]))
            key->host_full = key_read_private(key, sess, key->priv[0].handle);
        else
            p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                        "the %s key pair generated on the token is gone (the "
                        "token was removed or the process forked)",
                        key->kind->name);
    }
    full = key->host_full;
    pthread_mutex_unlock(&key->lock);
    p11be_session_release(sess, CKR_OK);
    if (full != NULL)
        P11BE_DEBUG("%s private key read from the token for export",
                    key->kind->name);
    return full;
}

int p11be_key_has_private(const P11BE_KEY *key)
{
    return key->host_private || key->token_private;
}

EVP_PKEY_CTX *p11be_key_host_ctx(const P11BE_KEY *key)
{
    EVP_PKEY_CTX *ctx = NULL;

    if (key->host != NULL)
        ctx = EVP_PKEY_CTX_new_from_pkey(p11be_fallback_libctx(), key->host,
                                         NULL);
    if (ctx == NULL)
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY, "no %s key to work with",
                    key->kind->name);
    return ctx;
}

/* A private key's protection, imported or generated. */
static void attrs_private(P11BE_ATTRS *attrs, int on_token, int login,
                          int exportable)
{
    p11be_attrs_add_bool(attrs, CKA_TOKEN, on_token);
    p11be_attrs_add_bool(attrs, CKA_PRIVATE, login);
    p11be_attrs_add_bool(attrs, CKA_SENSITIVE, !exportable);
    p11be_attrs_add_bool(attrs, CKA_EXTRACTABLE, exportable);
    /* Tokens default what a template leaves out to TRUE: say no. */
    p11be_attrs_add_bool(attrs, CKA_SIGN_RECOVER, 0);
    p11be_attrs_add_bool(attrs, CKA_UNWRAP, 0);
}

/*
 * C_CreateObject of the imported private key, with `use` its only usage;
 * rv (may be NULL) as p11be_object_make().
 */
static int key_create_private(P11BE_KEY *key, enum p11be_key_use use, int login,
                              P11BE_OBJECT_REF *ref, CK_RV *rv)
{
    struct p11be_object_call c = {.ref = ref};
    P11BE_ATTRS attrs = {0};
    int ok = 0;

    p11be_attrs_add_ulong(&attrs, CKA_CLASS, CKO_PRIVATE_KEY);
    p11be_attrs_add_ulong(&attrs, CKA_KEY_TYPE, key->kind->key_type);
    attrs_private(&attrs, 0, login, 0);
    p11be_attrs_add_bool(&attrs, CKA_SIGN, use == P11BE_USE_SIGN);
    p11be_attrs_add_bool(&attrs, CKA_DECRYPT, use == P11BE_USE_DECRYPT);
    p11be_attrs_add_bool(&attrs, CKA_DERIVE, use == P11BE_USE_DERIVE);
    if (!key->kind->private_attrs(key, &attrs) || attrs.failed) {
        if (attrs.failed)
            p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                        "building the %s private key template",
                        key->kind->name);
        goto out_free_attrs;
    }
    c.tmpl = attrs.list;
    c.count = attrs.count;
    ok = p11be_object_make(key->tc, login, &c, rv);
    if (ok)
        key->need_login = login;
out_free_attrs:
    p11be_attrs_free(&attrs);
    return ok;
}

/*
 * C_FindObjects for the objects of `cls` with the key's id (or label):
 * *count is 0, 1 (*found set) or 2 (more than one).
 */
static CK_RV key_find_one(P11BE_KEY *key, P11BE_SESSION *sess,
                          CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *found,
                          CK_ULONG *count)
{
    CK_KEY_TYPE type = key->kind->key_type;
    CK_BBOOL on_token = CK_TRUE;
    /* CKA_TOKEN: not the key's own session copy, which shares its id. */
    CK_ATTRIBUTE tmpl[4] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &on_token, sizeof(on_token)},
    };
    CK_OBJECT_HANDLE handles[2];
    CK_RV rv;

    *count = 0;
    if (key->id_len > 0) {
        tmpl[3].type = CKA_ID;
        tmpl[3].pValue = key->id;
        tmpl[3].ulValueLen = key->id_len;
    } else {
        tmpl[3].type = CKA_LABEL;
        tmpl[3].pValue = key->label;
        tmpl[3].ulValueLen = strlen(key->label);
    }
    rv = P11BE_CALL(sess->fns, C_FindObjectsInit, sess->handle, tmpl, 4);
    if (rv != CKR_OK)
        return rv;
    rv = P11BE_CALL(sess->fns, C_FindObjects, sess->handle, handles, 2, count);
    P11BE_CALL(sess->fns, C_FindObjectsFinal, sess->handle);
    if (rv == CKR_OK && *count == 1)
        *found = handles[0];
    return rv;
}

/*
 * A persistent key after a fork, re-insertion or logout: found by id or
 * label, its private object and, with `want_pub`, its public object.
 * Raises saying what C_FindObjects found when it is not exactly one.
 */
static int key_find_again(P11BE_KEY *key, P11BE_SESSION *sess, int want_pub)
{
    static const CK_OBJECT_CLASS classes[2] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    CK_OBJECT_HANDLE handles[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    char by[160];
    CK_ULONG count = 1;
    CK_RV rv = CKR_OK;
    int i;

    if (key->label == NULL && key->id_len == 0) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the persistent %s key pair has no label or id to find "
                    "it by on the token",
                    key->kind->name);
        return 0;
    }
    if (key->id_len > 0)
        snprintf(by, sizeof(by), "with the CKA_ID of %zu bytes%s%s%s",
                 key->id_len, key->label != NULL ? " (labelled \"" : "",
                 key->label != NULL ? key->label : "",
                 key->label != NULL ? "\")" : "");
    else
        snprintf(by, sizeof(by), "labelled \"%s\"", key->label);
    for (i = 0; i < 2 && rv == CKR_OK && count == 1; i++)
        if (i == 0 ? key->token_private : want_pub)
            rv = key_find_one(key, sess, classes[i], &handles[i], &count);
    i--;
    if (rv != CKR_OK)
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "looking for the persistent %s key pair %s: "
                    "C_FindObjects: %s",
                    key->kind->name, by, p11be_ckr_name(rv));
    else if (count == 0)
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the persistent %s key pair %s is not on the token: "
                    "C_FindObjects found no %s key object; likely causes: %s",
                    key->kind->name, by, i == 0 ? "private" : "public",
                    P11BE_NOT_FOUND_CAUSES);
    else if (count > 1)
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the persistent %s key pair %s is not unique: "
                    "C_FindObjects found more than one %s key object; give "
                    "each pair its own id or label",
                    key->kind->name, by, i == 0 ? "private" : "public");
    if (rv != CKR_OK || count != 1)
        return 0;
    if (handles[0] != CK_INVALID_HANDLE)
        ref_set_token(&key->priv[0], handles[0], sess);
    if (handles[1] != CK_INVALID_HANDLE)
        ref_set_token(&key->pub, handles[1], sess);
    return 1;
}

/*
 * A key on token objects, found again by `id` (when id_len > 0) or
 * `label`: 1, or 0 (out of memory).
 */
static int key_set_persistent(P11BE_KEY *key, const char *label,
                              const unsigned char *id, size_t id_len,
                              int token_private, int need_login)
{
    if (label != NULL && (key->label = OPENSSL_strdup(label)) == NULL)
        return 0;
    if (id_len > 0 && (key->id = OPENSSL_memdup(id, id_len)) == NULL)
        return 0;
    key->id_len = id_len;
    key->persistent = 1;
    key->token_private = token_private;
    key->need_login = need_login;
    return 1;
}

int p11be_key_find(P11BE_KEY *key, const char *label, const unsigned char *id,
                   size_t id_len)
{
    struct p11be_session_req req = {.need_login = 1};
    P11BE_SESSION *sess;
    int ok;

    if (label == NULL && id_len == 0) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "finding a %s key pair on the token needs a label or an "
                    "id",
                    key->kind->name);
        return 0;
    }
    /* A token pair, kept at free: as p11be_key_generate() leaves one. */
    if (!key_set_persistent(key, label, id, id_len, 1, 1))
        return 0;
    sess = p11be_session_acquire(key->tc, &req);
    if (sess == NULL)
        return 0;
    pthread_mutex_lock(&key->lock);
    ok = key_find_again(key, sess, 1);
    pthread_mutex_unlock(&key->lock);
    p11be_session_release(sess, CKR_OK);
    if (ok)
        P11BE_DEBUG("%s key pair found: private 0x%lx, public 0x%lx",
                    key->kind->name, (unsigned long)key->priv[0].handle,
                    (unsigned long)key->pub.handle);
    return ok;
}

/* pkcs11-key-cache values. */
static const char *const key_cache_choices[] = {"yes", "no", NULL};

/*
 * Whether a persistent key's operations use a session copy (key->lock
 * held): 1 or 0, -1 for a bad setting (raised).
 */
static int key_copy_wanted(P11BE_KEY *key)
{
    if (!key->copy_decided) {
        int choice = p11be_config_choice(key->tc->config, P11BE_SET_KEY_CACHE,
                                         key->tc->handle, 0, key_cache_choices);

        if (choice < 0)
            return -1;
        key->copy_off = choice == 1;
        key->copy_decided = 1;
    }
    return key->token_private && !key->copy_off;
}

/*
 * Makes the session copy of the token key's current private object on
 * the object session (key->lock held). Only CKA_TOKEN changes: the copy
 * keeps the original's sensitivity, extractability and usage. A token
 * that refuses the copy (CKA_COPYABLE false, no C_CopyObject) has its
 * object used from then on. 1 when made, 0 when the token object serves
 * (nothing raised), -1 when the object cannot be found again (raised).
 */
static int key_copy_make(P11BE_KEY *key, P11BE_SESSION *sess, int need_login)
{
    CK_BBOOL session_object = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &session_object, sizeof(CK_BBOOL)}};
    struct p11be_object_call c = {.source = key->priv[0].handle,
                                  .tmpl = tmpl,
                                  .count = 1,
                                  .ref = &key->copy};
    CK_RV rv = CKR_OK;
    int made;

    ERR_set_mark();
    made = p11be_object_make(key->tc, need_login, &c, &rv);
    if (!made && p11be_ckr_class(rv) == P11BE_CKR_OBJECT) {
        /* The token dropped the original's handle at a logout. */
        ERR_pop_to_mark();
        ERR_set_mark();
        if (!key_find_again(key, sess, 0)) {
            ERR_clear_last_mark();
            return -1;
        }
        c.source = key->priv[0].handle;
        made = p11be_object_make(key->tc, need_login, &c, &rv);
    }
    /* The token object's own use says what is wrong, if anything is. */
    ERR_pop_to_mark();
    if (made) {
        P11BE_DEBUG("%s token key 0x%lx: session copy 0x%lx made",
                    key->kind->name, (unsigned long)key->priv[0].handle,
                    (unsigned long)key->copy.handle);
    } else if (p11be_ckr_class(rv) == P11BE_CKR_TEMPLATE
               || p11be_ckr_class(rv) == P11BE_CKR_UNSUPPORTED) {
        /* This token makes no such copy. */
        key->copy_off = 1;
        P11BE_DEBUG("%s token key 0x%lx: no session copy (C_CopyObject: %s), "
                    "the token object serves",
                    key->kind->name, (unsigned long)key->priv[0].handle,
                    p11be_ckr_name(rv));
    }
    return made;
}

/*
 * The runner's object (runner.h): the key's object for `use` made ready
 * under key->lock (created, created again, found again or copied).
 */
static int key_object_make(struct p11be_run *run, P11BE_SESSION *sess,
                           P11BE_OBJECT_REF *used)
{
    P11BE_KEY *key = run->object_arg;
    enum p11be_key_use use = run->object_use;
    P11BE_OBJECT_REF *ref;
    CK_RV rv = CKR_OK;
    char why[160];
    int ok, copy = 0;

    pthread_mutex_lock(&key->lock);
    if (key->persistent) {
        copy = key_copy_wanted(key);
        if (copy < 0) {
            pthread_mutex_unlock(&key->lock);
            return 0;
        }
    }
    if (copy && p11be_object_alive(key->tc, &key->copy)) {
        /* The hot path: no token object check, no find. */
        *used = key->copy;
        pthread_mutex_unlock(&key->lock);
        return P11BE_OBJECT_ON_SESSION;
    }
    ref = &key->priv[key->token_private ? 0 : use];
    ok = key->persistent ? ref_token_current(ref, sess)
                         : p11be_object_alive(key->tc, ref);
    if (!ok && key->host_private) {
        ok = key_create_private(key, use, run->req.need_login, ref, &rv);
        /* Kept for p11be_key_import_private: the key goes to the host. */
        if (!ok && p11be_ckr_import_refused(rv))
            key->import_refused = rv;
    } else if (!ok && key->persistent)
        /* The public object too when its handle is stale as well. */
        ok = key_find_again(key, sess,
                            key->pub.handle != CK_INVALID_HANDLE
                                && !ref_token_current(&key->pub, sess));
    else if (!ok)
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the %s key pair generated on the token is gone (%s): "
                    "session keys cannot come back",
                    key->kind->name,
                    p11be_object_gone_why(key->tc, ref, why, sizeof(why)));
    if (ok && copy) {
        int made = key_copy_make(key, sess, run->req.need_login);

        ok = made >= 0;
        if (made > 0)
            ref = &key->copy;
    }
    *used = *ref;
    pthread_mutex_unlock(&key->lock);
    if (!ok)
        return 0;
    return !key->persistent || ref == &key->copy ? P11BE_OBJECT_ON_SESSION
                                                 : P11BE_OBJECT_ON_TOKEN;
}

/*
 * Whether the token still has the login on `sess`: the application may
 * have logged out behind our back, which a pool that believes it logged
 * in must learn before it finds private objects again.
 */
static void key_check_login(P11BE_SESSION *sess)
{
    CK_SESSION_INFO info;

    if (P11BE_CALL(sess->fns, C_GetSessionInfo, sess->handle, &info) == CKR_OK
        && (info.state == CKS_RO_PUBLIC_SESSION
            || info.state == CKS_RW_PUBLIC_SESSION)
        && p11be_token_login_state(sess->token) == P11BE_LOGGED_IN)
        p11be_token_login_lost(sess->token, 0);
}

/*
 * The runner's object_failed (runner.h): when the token no longer knows a
 * persistent key's handle, the key finds its object again on a new try.
 */
static int key_object_failed(struct p11be_run *run, P11BE_SESSION *sess,
                             CK_OBJECT_HANDLE obj, CK_RV rv)
{
    P11BE_KEY *key = run->object_arg;
    int forgotten = 0;

    if (p11be_ckr_class(rv) == P11BE_CKR_OBJECT && key->persistent) {
        /*
         * The token dropped the handle (SoftHSM2 does for private objects
         * when it logs out, and the login may have been made again since):
         * the object is found again on the next try.
         */
        pthread_mutex_lock(&key->lock);
        if (key->copy.handle == obj) {
            /* Gone with a logout: made again from the original. */
            key->copy.handle = CK_INVALID_HANDLE;
            forgotten = 1;
        } else if (key->priv[0].handle == obj) {
            key->priv[0].handle = CK_INVALID_HANDLE;
            forgotten = 1;
        }
        pthread_mutex_unlock(&key->lock);
        if (forgotten && key->need_login)
            key_check_login(sess);
        if (forgotten)
            P11BE_DEBUG("%s key object 0x%lx: %s, found again", key->kind->name,
                        (unsigned long)obj, p11be_ckr_name(rv));
    }
    return forgotten;
}

int p11be_key_run(P11BE_KEY *key, enum p11be_key_use use, struct p11be_run *run)
{
    if (!p11be_key_has_private(key)) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the %s key has no private half", key->kind->name);
        return 0;
    }
    run->tc = key->tc;
    run->req.need_login =
        key->token_private ? key->need_login : key_login_for_keys(key->tc);
    run->object = key_object_make;
    run->object_arg = key;
    run->object_use = use;
    run->object_failed = key_object_failed;
    return run->req.need_login >= 0 && p11be_run(run);
}

/* The runner's step when only the object is wanted: no call. */
static CK_RV key_no_step(struct p11be_run *run, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE obj)
{
    (void)run;
    (void)sess;
    (void)obj;
    return CKR_OK;
}

int p11be_key_import_private(P11BE_KEY *key, enum p11be_key_use use)
{
    /*
     * Through the runner as an operation: a pooled session first, which
     * learns of a fork or re-insertion before the object is made.
     */
    struct p11be_run run = {.fn = "C_CreateObject", .step = key_no_step};
    CK_RV refused;
    int alive, ok;

    if (!key->host_private || key->token_private)
        return 1;
    pthread_mutex_lock(&key->lock);
    refused = key->import_refused;
    alive = refused == CKR_OK && p11be_object_alive(key->tc, &key->priv[use]);
    pthread_mutex_unlock(&key->lock);
    if (refused != CKR_OK)
        return -1;
    if (alive)
        return 1;
    ERR_set_mark();
    ok = p11be_key_run(key, use, &run);
    pthread_mutex_lock(&key->lock);
    refused = key->import_refused;
    pthread_mutex_unlock(&key->lock);
    if (ok || refused == CKR_OK) {
        ERR_clear_last_mark();
        return ok;
    }
    /* The caller goes another way: no error shows. */
    ERR_pop_to_mark();
    P11BE_DEBUG("the token refuses the %s private key (C_CreateObject: %s)",
                key->kind->name, p11be_ckr_name(refused));
    return -1;
}

/* C_SignInit + C_Sign, or C_DecryptInit + C_Decrypt (run->arg). */
struct key_private_call {
    int sign;
    CK_MECHANISM *mech;
    const unsigned char *in;
    size_t in_len;
    unsigned char *out;
    CK_ULONG len;
    CK_ULONG room;
};

static CK_RV key_private_step(struct p11be_run *run, P11BE_SESSION *sess,
                              CK_OBJECT_HANDLE obj)
{
    struct key_private_call *c = run->arg;
    CK_RV rv;

    if (c->sign)
        rv = P11BE_CALL(sess->fns, C_SignInit, sess->handle, c->mech, obj);
    else
        rv = P11BE_CALL(sess->fns, C_DecryptInit, sess->handle, c->mech, obj);
    run->at_init = rv != CKR_OK;
    if (rv != CKR_OK) {
        run->fn = c->sign ? "C_SignInit" : "C_DecryptInit";
        return rv;
    }
    c->len = c->room;
    if (c->sign)
        rv = P11BE_CALL(sess->fns, C_Sign, sess->handle, (CK_BYTE *)c->in,
                        c->in_len, c->out, &c->len);
    else
        rv = P11BE_CALL(sess->fns, C_Decrypt, sess->handle, (CK_BYTE *)c->in,
                        c->in_len, c->out, &c->len);
    /*
     * opencryptoki 3.8 takes OAEP parameters it cannot do (MGF1 with
     * another hash) at C_DecryptInit and refuses them at C_Decrypt: the
     * same refusal, and the operation has ended either way.
     */
    run->at_init = rv == CKR_MECHANISM_PARAM_INVALID;
    return rv;
}

int p11be_key_private_op(P11BE_KEY *key, enum p11be_key_use use,
                         CK_MECHANISM *mech, const char *mech_name,
                         const unsigned char *in, size_t in_len,
                         unsigned char *out, size_t *out_len, int *refused)
{
    struct key_private_call c = {
        use == P11BE_USE_SIGN, mech, in, in_len, out, 0, *out_len};
    struct p11be_run run = {
        .req = {.mech = mech->mechanism},
        .fn = c.sign ? "C_Sign" : "C_Decrypt",
        .mech_name = mech_name,
        .step = key_private_step,
        .arg = &c,
        .refusable = refused != NULL,
    };

    if (!p11be_key_run(key, use, &run)) {
        if (run.refused)
            *refused = 1;
        return 0;
    }
    *out_len = c.len;
    return 1;
}

/*
 * Appends the template's own entries (pointers, not copies) to `out`. With
 * `minimal` (the retry when the token refused the full template) only what
 * the key cannot do without: usage flags that say no are left to the
 * token's defaults, and CKA_DERIVE goes (tpm2-pkcs11 answers a template
 * its key does not match with CKR_GENERAL_ERROR, "User specified and TPM
 * specified attr mismatch"); CKA_TOKEN, CKA_PRIVATE and CKA_SENSITIVE stay.
 */
static CK_ULONG attrs_append(CK_ATTRIBUTE *out, CK_ULONG n,
                             const P11BE_ATTRS *more, int minimal)
{
    static const CK_ATTRIBUTE_TYPE usage[] = {
        CKA_EXTRACTABLE, CKA_SIGN,         CKA_VERIFY,
        CKA_ENCRYPT,     CKA_DECRYPT,      CKA_WRAP,
        CKA_UNWRAP,      CKA_SIGN_RECOVER, CKA_VERIFY_RECOVER};
    CK_ULONG i;
    size_t u;

    for (i = 0; more != NULL && i < more->count; i++) {
        const CK_ATTRIBUTE *a = &more->list[i];
        int drop = minimal && a->type == CKA_DERIVE;

        for (u = 0; minimal && !drop && u < sizeof(usage) / sizeof(usage[0]);
             u++)
            drop =
                a->type == usage[u] && *(const CK_BBOOL *)a->pValue == CK_FALSE;
        if (!drop)
            out[n++] = *a;
    }
    return n;
}

/*
 * C_GenerateKeyPair with the full templates, and, if `retry`, once more
 * with minimal ones when the token refuses the template or fails without
 * saying why; the first failure's error goes when the retry works. 1, or
 * 0 (raised, *rv the last answer).
 */
static int generate_pair(P11BE_KEY *key, CK_MECHANISM *mech,
                         const P11BE_ATTRS *const pub[2],
                         const P11BE_ATTRS *const priv[2], int login, int retry,
                         CK_RV *rv)
{
    CK_ATTRIBUTE pub_tmpl[P11BE_ATTRS_MAX * 2], priv_tmpl[P11BE_ATTRS_MAX * 2];
    struct p11be_object_call c = {.mech = mech,
                                  .tmpl = pub_tmpl,
                                  .priv_tmpl = priv_tmpl,
                                  .ref = &key->pub,
                                  .priv = &key->priv[0]};
    CK_ULONG npub, npriv;
    int minimal, ok = 0;

    ERR_set_mark();
    for (minimal = 0; !ok && minimal <= retry; minimal++) {
        if (minimal && p11be_ckr_class(*rv) != P11BE_CKR_TEMPLATE
            && *rv != CKR_GENERAL_ERROR)
            break;
        if (minimal)
            P11BE_DEBUG("the token refused the %s key-pair template (%s): "
                        "trying a minimal one",
                        key->kind->name, p11be_ckr_name(*rv));
        npub =
            attrs_append(pub_tmpl, attrs_append(pub_tmpl, 0, pub[0], minimal),
                         pub[1], minimal);
        npriv = attrs_append(priv_tmpl,
                             attrs_append(priv_tmpl, 0, priv[0], minimal),
                             priv[1], minimal);
        c.count = npub;
        c.priv_count = npriv;
        ok = p11be_object_make(key->tc, login, &c, rv);
    }
    if (ok && minimal > 1)
        ERR_pop_to_mark();
    else
        ERR_clear_last_mark();
    return ok;
}

int p11be_key_generate(P11BE_KEY *key, const struct p11be_keygen *gen)
{
    CK_MECHANISM mech = {gen->mech, NULL, 0};
    P11BE_ATTRS common_pub = {0}, common_priv = {0};
    const P11BE_ATTRS *const pub[2] = {&common_pub, gen->pub};
    const P11BE_ATTRS *const priv[2] = {&common_priv, gen->priv};
    int persistent = gen->label != NULL || gen->id_len > 0;
    int exportable = gen->exportable && !persistent;
    int login, ok = 0;
    CK_RV rv;

    if (gen->pub->failed || gen->priv->failed) {
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "building the %s key-pair templates", key->kind->name);
        return 0;
    }
    if (!p11be_check_mech(key->tc, gen->mech, gen->mech_name))
        return 0;
    login = persistent ? 1 : key_login_for_keys(key->tc);
    if (login < 0)
        return 0;
    p11be_attrs_add_bool(&common_pub, CKA_TOKEN, persistent);
    p11be_attrs_add_bool(&common_pub, CKA_PRIVATE, 0);
    attrs_private(&common_priv, persistent, login, exportable);
    /* Tokens default what a template leaves out to TRUE: say no. */
    p11be_attrs_add_bool(&common_pub, CKA_VERIFY_RECOVER, 0);
    p11be_attrs_add_bool(&common_pub, CKA_WRAP, 0);
    if (gen->label != NULL) {
        p11be_attrs_add(&common_pub, CKA_LABEL, gen->label, strlen(gen->label));
        p11be_attrs_add(&common_priv, CKA_LABEL, gen->label,
                        strlen(gen->label));
    }
    if (gen->id_len > 0) {
        p11be_attrs_add(&common_pub, CKA_ID, gen->id, gen->id_len);
        p11be_attrs_add(&common_priv, CKA_ID, gen->id, gen->id_len);
    }
    if (common_pub.failed || common_priv.failed) {
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "building the key-pair templates");
        goto out_free_attrs;
    }
    if (exportable)
        ERR_set_mark();
    /* An exportable pair the token refuses is made on the host instead. */
    if (!generate_pair(key, &mech, pub, priv, login, !exportable, &rv)) {
        if (exportable && p11be_ckr_class(rv) == P11BE_CKR_TEMPLATE) {
            /* The caller makes the key another way: no error shows. */
            ERR_pop_to_mark();
            P11BE_DEBUG("the token refuses an exportable %s key pair "
                        "(C_GenerateKeyPair: %s)",
                        key->kind->name, p11be_ckr_name(rv));
            ok = -1;
        } else if (exportable) {
            ERR_clear_last_mark();
        }
        goto out_free_attrs;
    }
    if (exportable)
        ERR_clear_last_mark();
    key->exportable = exportable;
    if (!key_set_persistent(key, gen->label, gen->id, gen->id_len, 1, login))
        goto out_free_attrs;
    key->persistent = persistent;
    P11BE_DEBUG("%s key pair generated: private 0x%lx, public 0x%lx%s",
                key->kind->name, (unsigned long)key->priv[0].handle,
                (unsigned long)key->pub.handle,
                persistent ? " (persistent)" : "");
    ok = p11be_key_load_public(key, NULL, gen->extra);
out_free_attrs:
    p11be_attrs_free(&common_pub);
    p11be_attrs_free(&common_priv);
    return ok;
}

int p11be_key_attach(P11BE_KEY *key, const P11BE_SESSION *sess,
                     CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub,
                     int need_login, const char *label, const unsigned char *id,
                     size_t id_len)
{
    if (!key_set_persistent(key, label, id, id_len, priv != CK_INVALID_HANDLE,
                            need_login))
        return 0;
    if (priv != CK_INVALID_HANDLE)
        ref_set_token(&key->priv[0], priv, sess);
    if (pub != CK_INVALID_HANDLE)
        ref_set_token(&key->pub, pub, sess);
    return 1;
}

void p11be_token_free_attrs(CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_ULONG i;

    for (i = 0; i < count; i++) {
        OPENSSL_free(tmpl[i].pValue);
        tmpl[i].pValue = NULL;
    }
}

CK_RV p11be_token_get_attrs(P11BE_SESSION *sess, CK_OBJECT_HANDLE obj,
                            CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_ULONG room[P11BE_ATTRS_MAX], i;
    CK_RV rv = count <= P11BE_ATTRS_MAX ? CKR_OK : CKR_ARGUMENTS_BAD;

    for (i = 0; i < count; i++) {
        tmpl[i].pValue = NULL;
        tmpl[i].ulValueLen = 0;
    }
    if (rv == CKR_OK)
        rv = P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, obj, tmpl,
                        count);
    for (i = 0; rv == CKR_OK && i < count; i++) {
        room[i] = tmpl[i].ulValueLen;
        tmpl[i].pValue = OPENSSL_zalloc(room[i] + 1);
        if (tmpl[i].pValue == NULL)
            rv = CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK)
        rv = P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, obj, tmpl,
                        count);
    if (rv == CKR_OK)
        return rv;
    /* A failed call may have filled some (a secret?): wipe each buffer. */
    for (i = 0; i < count && tmpl[i].pValue != NULL; i++)
        tmpl[i].ulValueLen = room[i];
    p11be_token_free_secret(tmpl, count);
    return rv;
}

void p11be_token_free_secret(CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_ULONG i;

    for (i = 0; i < count; i++)
        if (tmpl[i].pValue != NULL)
            OPENSSL_cleanse(tmpl[i].pValue, tmpl[i].ulValueLen);
    p11be_token_free_attrs(tmpl, count);
}

int p11be_token_read_attrs(P11BE_TOKEN_CTX *tc, P11BE_SESSION *sess,
                           CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *tmpl,
                           CK_ULONG count, const char *what)
{
    CK_RV rv = p11be_token_get_attrs(sess, obj, tmpl, count);

    if (rv != CKR_OK) {
        p11be_raise(tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_GetAttributeValue of %s: %s", what, p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

int p11be_key_load_public(P11BE_KEY *key, P11BE_SESSION *sess,
                          const OSSL_PARAM *extra)
{
    struct p11be_session_req req = {0};
    const P11BE_OBJECT_REF *ref =
        key->pub.handle != CK_INVALID_HANDLE ? &key->pub : &key->priv[0];
    P11BE_SESSION *own = NULL;
    char why[160];
    int ok;

    if (sess == NULL) {
        /* A CKA_PRIVATE private object is visible only after a login. */
        req.need_login = ref != &key->pub && key->need_login;
        own = sess = p11be_session_acquire(key->tc, &req);
        if (sess == NULL)
            return 0;
    }
    /* Read while in use: a lost object session must not free it meanwhile. */
    ok = key->persistent ? ref_token_current(ref, sess)
                         : p11be_object_use_begin(key->tc, ref);
    if (!ok) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the %s key's token object is gone (%s)", key->kind->name,
                    p11be_object_gone_why(key->tc, ref, why, sizeof(why)));
    } else {
        ok = key->kind->public_from_token(key, sess, ref->handle, extra);
        if (!key->persistent)
            p11be_object_use_end(key->tc);
    }
    if (own != NULL)
        p11be_session_release(own, CKR_OK);
    return ok;
}
