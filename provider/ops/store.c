/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "pkcs11" OSSL_STORE loader: RFC 7512 URIs (uri.h) name keys and
 * certificates on the token this provider instance is configured for.
 * What a URI finds, the ambiguity rule, the pairing of a private key with
 * its public parts and where the PIN comes from are the user's contract:
 * doc/token-keys.md, "What a URI finds". Here, the reasons behind it:
 *
 * - One token per instance: the URI's token and module attributes are
 *   checks against the configured one, never a way to choose another.
 * - One rule for a URI on the command line and the same URI in a key
 *   file: an application that expects a key gets exactly one, never "the
 *   first" (store_search's `unique`).
 * - A key pair is two token objects, so it lists as two entries; every
 *   object is yielded once, private keys, then public keys, then
 *   certificates.
 * - A key is yielded by reference (a P11BE_KEY *) for pkcs11be's keymgmt
 *   load(); other providers' keymgmts get public keys only
 *   (store_export_object says why).
 */
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "algorithms.h"
#include "debug.h"
#include "err.h"
#include "keymgmt.h"
#include "p11call.h"
#include "reentry.h"
#include "session.h"
#include "token_ctx.h"
#include "uri.h"

#define STORE_FIND_BATCH 64
#define STORE_PIN_MAX    256

static OSSL_FUNC_store_open_fn store_open;
static OSSL_FUNC_store_settable_ctx_params_fn store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn store_set_ctx_params;
static OSSL_FUNC_store_load_fn store_load;
static OSSL_FUNC_store_eof_fn store_eof;
static OSSL_FUNC_store_close_fn store_close;
static OSSL_FUNC_store_export_object_fn store_export_object;

struct store_item {
    CK_OBJECT_CLASS cls;               /* private, public key or cert */
    CK_OBJECT_HANDLE handle;           /* on the token */
    const struct p11be_key_kind *kind; /* keys: the type; certs: NULL */
    char *label;                       /* CKA_LABEL (NUL-terminated) */
    unsigned char *id;                 /* CKA_ID; NULL when empty */
    size_t id_len;                     /* bytes in id */
    int is_private;                    /* CKA_PRIVATE */
};

struct store_ctx_st {
    P11BE_PROV_CTX *prov;     /* provider that made us */
    char *shown;              /* the URI without its query, for messages */
    P11BE_URI uri;            /* parsed; holds the PIN until close */
    int expect;               /* OSSL_STORE_INFO_* wanted; 0: any */
    unsigned char *subject;   /* DER X509_NAME of certs wanted, or NULL */
    size_t subject_len;       /* bytes in subject */
    int searched;             /* the search ran (or failed) */
    int failed;               /* it failed: eof from now on */
    int skipped_login;        /* no PIN anywhere: private keys unseen */
    int keys_only;            /* p11be_store_key_by_uri(): no certs */
    struct store_item *items; /* what it found */
    size_t count;             /* entries in items */
    size_t next;              /* the next to yield */
};

typedef struct store_ctx_st STORE_CTX;

/* ---- the context ---- */

static void store_ctx_free(STORE_CTX *ctx)
{
    size_t i;

    if (ctx == NULL)
        return;
    for (i = 0; i < ctx->count; i++) {
        OPENSSL_free(ctx->items[i].label);
        OPENSSL_free(ctx->items[i].id);
    }
    OPENSSL_free(ctx->items);
    p11be_uri_clear(&ctx->uri);
    OPENSSL_free(ctx->shown);
    OPENSSL_free(ctx->subject);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

/* A context for `text`, parsed; NULL (raised with the parser's message). */
static STORE_CTX *store_ctx_new(P11BE_PROV_CTX *prov, const char *text)
{
    STORE_CTX *ctx;
    char err[256];

    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL)
        return NULL;
    ctx->prov = prov;
    ctx->shown = OPENSSL_strndup(text, strcspn(text, "?"));
    if (ctx->shown == NULL)
        goto out_free;
    if (!p11be_uri_parse(text, &ctx->uri, err, sizeof(err))) {
        p11be_raise(prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "bad pkcs11: URI: %s", err);
        goto out_free;
    }
    return ctx;

out_free:
    store_ctx_free(ctx);
    return NULL;
}

static void *store_open(void *provctx, const char *uri)
{
    P11BE_PROV_CTX *prov = provctx;

    if (p11be_reentered()) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "a pkcs11: URI opened from inside a token call");
        return NULL;
    }
    return store_ctx_new(prov, uri);
}

static const OSSL_PARAM store_settable[] = {
    OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
    OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
    (void)provctx;
    return store_settable;
}

/* Before the first load(); NULL or empty params: nothing to do. */
static int store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    STORE_CTX *ctx = loaderctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &ctx->expect))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SUBJECT);
    if (p != NULL) {
        OPENSSL_free(ctx->subject);
        ctx->subject = NULL;
        ctx->subject_len = 0;
        if (!OSSL_PARAM_get_octet_string(p, (void **)&ctx->subject, 0,
                                         &ctx->subject_len))
            return 0;
    }
    return 1;
}

/* ---- the token must be the one the URI names ---- */

/* Raises the mismatch of one attribute; returns 0. */
static int store_mismatch(STORE_CTX *ctx, const P11BE_TOKEN *token,
                          const char *attr, const char *want, const char *have)
{
    p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_NOT_FOUND,
                "%s asks for %s=\"%s\", but pkcs11be is configured for the "
                "token \"%s\" in slot %lu, whose %s is \"%s\" (choose the "
                "token with pkcs11-token-label or pkcs11-slot-id)",
                ctx->shown, attr, want, p11be_token_label(token),
                (unsigned long)p11be_token_slot_id(token), attr, have);
    return 0;
}

/* Whether a text attribute, when given, equals the blank-padded field. */
static int store_field_ok(STORE_CTX *ctx, const P11BE_TOKEN *token,
                          const char *attr, const char *want,
                          const CK_UTF8CHAR *padded, size_t len)
{
    char have[65];

    if (want == NULL)
        return 1;
    memcpy(have, padded, len);
    while (len > 0 && have[len - 1] == ' ')
        len--;
    have[len] = '\0';
    return strcmp(want, have) == 0
           || store_mismatch(ctx, token, attr, want, have);
}

/* The file name of a module path without "lib" and from ".so" on. */
static int store_module_name_ok(const char *path, const char *want)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base != NULL ? base + 1 : path;
    if (strcmp(base, want) == 0)
        return 1;
    if (strncmp(base, "lib", 3) == 0)
        base += 3;
    len = strcspn(base, ".");
    return strlen(want) == len && strncmp(base, want, len) == 0;
}

static int store_module_path_ok(const char *path, const char *want)
{
    char a[PATH_MAX], b[PATH_MAX];

    if (strcmp(path, want) == 0)
        return 1;
    return realpath(path, a) != NULL && realpath(want, b) != NULL
           && strcmp(a, b) == 0;
}

/* Whether a token information call succeeded; raises if not. */
static int store_call_ok(STORE_CTX *ctx, CK_RV rv, const char *fn)
{
    if (rv != CKR_OK)
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s: %s", fn,
                    p11be_ckr_name(rv));
    return rv == CKR_OK;
}

static int store_match_token(STORE_CTX *ctx, P11BE_TOKEN *token)
{
    const P11BE_URI *uri = &ctx->uri;
    const char *path =
        p11be_config_get(&ctx->prov->config, P11BE_SET_MODULE_PATH);
    CK_TOKEN_INFO ti;
    CK_SLOT_INFO si;
    CK_INFO li;
    const char *attr = NULL, *module = NULL;
    char have[32];

    if (uri->module_path != NULL
        && !store_module_path_ok(path, uri->module_path)) {
        attr = "module-path";
        module = uri->module_path;
    } else if (uri->module_name != NULL
               && !store_module_name_ok(path, uri->module_name)) {
        attr = "module-name";
        module = uri->module_name;
    }
    if (attr != NULL) {
        p11be_raise(
            ctx->prov->handle, P11BE_R_TOKEN_NOT_FOUND,
            "%s names %s=%s, but pkcs11be is configured for the "
            "module %s (%s); the store uses the configured module "
            "only",
            ctx->shown, attr, module, path,
            p11be_config_source(&ctx->prov->config, P11BE_SET_MODULE_PATH));
        return 0;
    }
    if (uri->has_slot_id && uri->slot_id != p11be_token_slot_id(token)) {
        char want[32];

        snprintf(want, sizeof(want), "%lu", uri->slot_id);
        snprintf(have, sizeof(have), "%lu",
                 (unsigned long)p11be_token_slot_id(token));
        return store_mismatch(ctx, token, "slot-id", want, have);
    }
    if (uri->token != NULL || uri->manufacturer != NULL || uri->serial != NULL
        || uri->model != NULL) {
        if (!store_call_ok(ctx,
                           P11BE_CALL(p11be_token_fns(token), C_GetTokenInfo,
                                      p11be_token_slot_id(token), &ti),
                           "C_GetTokenInfo")
            || !store_field_ok(ctx, token, "token", uri->token, ti.label, 32)
            || !store_field_ok(ctx, token, "manufacturer", uri->manufacturer,
                               ti.manufacturerID, 32)
            || !store_field_ok(ctx, token, "serial", uri->serial,
                               ti.serialNumber, 16)
            || !store_field_ok(ctx, token, "model", uri->model, ti.model, 16))
            return 0;
    }
    if (uri->slot_description != NULL || uri->slot_manufacturer != NULL) {
        if (!store_call_ok(ctx,
                           P11BE_CALL(p11be_token_fns(token), C_GetSlotInfo,
                                      p11be_token_slot_id(token), &si),
                           "C_GetSlotInfo")
            || !store_field_ok(ctx, token, "slot-description",
                               uri->slot_description, si.slotDescription, 64)
            || !store_field_ok(ctx, token, "slot-manufacturer",
                               uri->slot_manufacturer, si.manufacturerID, 32))
            return 0;
    }
    if (uri->library_manufacturer != NULL || uri->library_description != NULL
        || uri->has_library_version) {
        if (!store_call_ok(ctx,
                           P11BE_CALL(p11be_token_fns(token), C_GetInfo, &li),
                           "C_GetInfo")
            || !store_field_ok(ctx, token, "library-manufacturer",
                               uri->library_manufacturer, li.manufacturerID, 32)
            || !store_field_ok(ctx, token, "library-description",
                               uri->library_description, li.libraryDescription,
                               32))
            return 0;
        if (uri->has_library_version
            && (uri->library_major != li.libraryVersion.major
                || uri->library_minor != li.libraryVersion.minor)) {
            char want[32];

            snprintf(want, sizeof(want), "%u.%u", uri->library_major,
                     uri->library_minor);
            snprintf(have, sizeof(have), "%u.%u", li.libraryVersion.major,
                     li.libraryVersion.minor);
            return store_mismatch(ctx, token, "library-version", want, have);
        }
    }
    return 1;
}

/* ---- the login ---- */

/* The PIN from the application's passphrase callback into buf; 0: none. */
static int store_pin_from_cb(const P11BE_TOKEN *token,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg,
                             char *buf, size_t room, size_t *len)
{
    char info[80];
    OSSL_PARAM params[2];

    if (pw_cb == NULL)
        return 0;
    snprintf(info, sizeof(info), "PIN of the PKCS#11 token \"%s\"",
             p11be_token_label(token));
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, info, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!pw_cb(buf, room - 1, len, params, pw_cbarg) || *len >= room) {
        P11BE_DEBUG("the passphrase callback gave no PIN");
        return 0;
    }
    buf[*len] = '\0';
    return 1;
}

/*
 * Logs in (see the top of the file for where the PIN comes from). With
 * `optional`, no PIN anywhere is not an error: returns 2 and sets
 * skipped_login. 1 logged in, 0 failed (raised).
 */
static int store_login(STORE_CTX *ctx, P11BE_TOKEN *token, P11BE_SESSION *sess,
                       OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg,
                       int optional)
{
    char buf[STORE_PIN_MAX], named[PATH_MAX + 48];
    const char *path = ctx->uri.pin_source, *source = NULL, *pin = NULL;
    char *from_file = NULL;
    size_t len = 0;
    int ok = 0;
    CK_RV rv;
    enum p11be_login_state state = p11be_token_login_state(token);

    if (state == P11BE_LOGGED_IN)
        return 1;
    if (state == P11BE_LOGIN_REFUSED) /* raises why, tries nothing */
        return p11be_token_login_pin(token, sess->handle, NULL, 0, NULL, &rv);
    if (ctx->uri.pin_value != NULL) {
        pin = ctx->uri.pin_value;
        len = strlen(pin);
        source = "URI pin-value";
    } else if (path != NULL) {
        if (strncmp(path, "file:", 5) == 0)
            path += 5;
        if (!p11be_pin_from_file(ctx->prov->handle, ctx->shown, "pin-source",
                                 path, &from_file, &len))
            return 0;
        pin = from_file;
        snprintf(named, sizeof(named), "URI pin-source (the first line of %s)",
                 path);
        source = named;
    } else if (p11be_config_get(&ctx->prov->config, P11BE_SET_PIN) == NULL) {
        if (store_pin_from_cb(token, pw_cb, pw_cbarg, buf, sizeof(buf), &len)) {
            pin = buf;
            source = "the passphrase callback";
        } else if (optional) {
            P11BE_DEBUG("no PIN from the URI, the settings or a callback: "
                        "searching without a login");
            ctx->skipped_login = 1;
            ok = 2;
            goto out_wipe;
        } else {
            p11be_raise(ctx->prov->handle, P11BE_R_LOGIN_FAILED,
                        "%s: the token \"%s\" needs a login to find private "
                        "keys: give pin-value or pin-source in the URI, set "
                        "pkcs11-pin, or a passphrase (-passin)",
                        ctx->shown, p11be_token_label(token));
            goto out_wipe;
        }
    }
    /* pin NULL: the configured PIN, read and named by token.c. */
    ok = p11be_token_login_pin(token, sess->handle, pin, len, source, &rv);
out_wipe:
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_clear_free(from_file, len);
    return ok;
}

/* ---- the search ---- */

static CK_RV store_get_ulong(P11BE_SESSION *sess, CK_OBJECT_HANDLE obj,
                             CK_ATTRIBUTE_TYPE type, CK_ULONG *value)
{
    CK_ATTRIBUTE a = {type, value, sizeof(*value)};

    return P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, obj, &a, 1);
}

/* The key kind of a key object, or NULL for a type the store skips. */
static const struct p11be_key_kind *store_kind_of(P11BE_SESSION *sess,
                                                  CK_OBJECT_HANDLE obj)
{
    const struct p11be_key_kind *kind = NULL;
    const struct p11be_key_type *row;
    CK_ATTRIBUTE params = {CKA_EC_PARAMS, NULL, 0};
    CK_KEY_TYPE type;

    if (store_get_ulong(sess, obj, CKA_KEY_TYPE, &type) != CKR_OK)
        return NULL;
    if (type == CKK_EC_EDWARDS) {
        if (p11be_token_get_attrs(sess, obj, &params, 1) != CKR_OK)
            return NULL;
        kind = p11be_ed_kind_of(params.pValue, params.ulValueLen);
        p11be_token_free_attrs(&params, 1);
        return kind;
    }
    for (row = p11be_key_types; row->kind != NULL; row++)
        if (row->store_yields && row->kind->key_type == type)
            return row->kind;
    return NULL;
}

/* Reads what the store keeps of a found object; 0 to skip it. */
static int store_item_read(P11BE_SESSION *sess, CK_OBJECT_CLASS cls,
                           CK_OBJECT_HANDLE obj, struct store_item *item)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, NULL, 0}, {CKA_ID, NULL, 0}};
    CK_BBOOL priv = CK_FALSE;
    CK_ATTRIBUTE priv_attr = {CKA_PRIVATE, &priv, sizeof(priv)};
    CK_ULONG cert_type;

    memset(item, 0, sizeof(*item));
    item->cls = cls;
    item->handle = obj;
    if (cls == CKO_CERTIFICATE) {
        if (store_get_ulong(sess, obj, CKA_CERTIFICATE_TYPE, &cert_type)
                != CKR_OK
            || cert_type != CKC_X_509)
            return 0;
    } else if ((item->kind = store_kind_of(sess, obj)) == NULL) {
        return 0;
    }
    if (P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, obj,
                   &priv_attr, 1)
        == CKR_OK)
        item->is_private = priv == CK_TRUE;
    if (p11be_token_get_attrs(sess, obj, tmpl, 2) != CKR_OK)
        return 0;
    item->label = tmpl[0].pValue; /* p11be_token_get_attrs ends it with 0 */
    if (tmpl[1].ulValueLen > 0) {
        item->id = tmpl[1].pValue;
        item->id_len = tmpl[1].ulValueLen;
    } else {
        OPENSSL_free(tmpl[1].pValue);
    }
    return 1;
}

static void store_tmpl_add(CK_ATTRIBUTE *tmpl, CK_ULONG *n,
                           CK_ATTRIBUTE_TYPE type, void *value, size_t len)
{
    tmpl[*n].type = type;
    tmpl[*n].pValue = value;
    tmpl[(*n)++].ulValueLen = (CK_ULONG)len;
}

/* Appends the objects of class `cls` the URI matches; 0 (raised) on error. */
static int store_find_class(STORE_CTX *ctx, P11BE_SESSION *sess,
                            CK_OBJECT_CLASS cls, CK_RV *last_rv)
{
    CK_BBOOL on_token = CK_TRUE;
    CK_ATTRIBUTE tmpl[5];
    CK_ULONG n = 0, got = 0, i;
    CK_OBJECT_HANDLE found[STORE_FIND_BATCH];
    size_t from = ctx->count, kept = from;
    CK_RV rv;

    store_tmpl_add(tmpl, &n, CKA_CLASS, &cls, sizeof(cls));
    /* Not this process's session copies of them (keyobj.h). */
    store_tmpl_add(tmpl, &n, CKA_TOKEN, &on_token, sizeof(on_token));
    if (ctx->uri.object != NULL)
        store_tmpl_add(tmpl, &n, CKA_LABEL, ctx->uri.object,
                       strlen(ctx->uri.object));
    if (ctx->uri.has_id)
        store_tmpl_add(tmpl, &n, CKA_ID, ctx->uri.id, ctx->uri.id_len);
    if (cls == CKO_CERTIFICATE && ctx->subject != NULL)
        store_tmpl_add(tmpl, &n, CKA_SUBJECT, ctx->subject, ctx->subject_len);
    rv = P11BE_CALL(sess->fns, C_FindObjectsInit, sess->handle, tmpl, n);
    if (rv != CKR_OK) {
        *last_rv = rv;
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_FindObjectsInit: %s", p11be_ckr_name(rv));
        return 0;
    }
    do {
        struct store_item *more;

        rv = P11BE_CALL(sess->fns, C_FindObjects, sess->handle, found,
                        STORE_FIND_BATCH, &got);
        if (rv != CKR_OK || got == 0)
            break;
        more = OPENSSL_realloc(ctx->items,
                               (ctx->count + got) * sizeof(*ctx->items));
        if (more == NULL) {
            rv = CKR_HOST_MEMORY;
            break;
        }
        ctx->items = more;
        for (i = 0; i < got; i++)
            ctx->items[ctx->count++].handle = found[i];
    } while (got == STORE_FIND_BATCH);
    P11BE_CALL(sess->fns, C_FindObjectsFinal, sess->handle);
    if (rv != CKR_OK) {
        ctx->count = from; /* nothing of them read yet */
        *last_rv = rv;
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_FindObjects: %s", p11be_ckr_name(rv));
        return 0;
    }
    /* Attributes are read after C_FindObjectsFinal (some tokens want). */
    for (i = from; i < ctx->count; i++) {
        struct store_item item;

        if (store_item_read(sess, cls, ctx->items[i].handle, &item))
            ctx->items[kept++] = item;
        else
            P11BE_DEBUG("skipping object 0x%lx: a type the store does not "
                        "yield",
                        (unsigned long)ctx->items[i].handle);
    }
    ctx->count = kept;
    return 1;
}

/* The classes the store yields, in the order it yields them. */
static const struct store_class {
    CK_OBJECT_CLASS cls;
    enum p11be_uri_type type; /* the URI's type= for it */
    const char *name;         /* for messages */
} store_classes[] = {
    {CKO_PRIVATE_KEY, P11BE_URI_TYPE_PRIVATE, "private key"},
    {CKO_PUBLIC_KEY, P11BE_URI_TYPE_PUBLIC, "public key"},
    {CKO_CERTIFICATE, P11BE_URI_TYPE_CERT, "certificate"},
};

#define STORE_CLASS_COUNT (sizeof(store_classes) / sizeof(store_classes[0]))

static const char *store_class_name(CK_OBJECT_CLASS cls)
{
    size_t i = 0;

    while (i < STORE_CLASS_COUNT - 1 && store_classes[i].cls != cls)
        i++;
    return store_classes[i].name;
}

/* "RSA private key \"label\" id 0102" into buf. */
static void store_item_describe(const struct store_item *item, char *buf,
                                size_t room)
{
    size_t used, i;

    used = (size_t)snprintf(buf, room, "%s%s%s \"%s\"",
                            item->kind != NULL ? item->kind->name : "",
                            item->kind != NULL ? " " : "",
                            store_class_name(item->cls), item->label);
    if (used < room && item->id_len > 0)
        used += (size_t)snprintf(buf + used, room - used, " id ");
    for (i = 0; i < item->id_len && used + 3 < room; i++)
        used += (size_t)snprintf(buf + used, room - used, "%02x", item->id[i]);
}

/* The "ambiguous" check: at most one object per class. */
static int store_check_unique(STORE_CTX *ctx, const P11BE_TOKEN *token)
{
    char list[512], one[160];
    size_t c, i, n, used;

    for (c = 0; c < STORE_CLASS_COUNT; c++) {
        list[0] = '\0';
        for (i = 0, n = 0, used = 0; i < ctx->count; i++) {
            if (ctx->items[i].cls != store_classes[c].cls)
                continue;
            store_item_describe(&ctx->items[i], one, sizeof(one));
            if (used < sizeof(list))
                used += (size_t)snprintf(list + used, sizeof(list) - used,
                                         "%s%s", used > 0 ? "; " : "", one);
            n++;
        }
        if (n < 2)
            continue;
        p11be_raise(ctx->prov->handle, P11BE_R_AMBIGUOUS,
                    "%s is ambiguous on token \"%s\": %zu %ss match (%s); "
                    "add id= or type= to name one",
                    ctx->shown, p11be_token_label(token), n,
                    store_classes[c].name, list);
        return 0;
    }
    return 1;
}

/* A bit per class to search, by the URI type that names it. */
#define STORE_WANT_PRIVATE (1 << P11BE_URI_TYPE_PRIVATE)
#define STORE_WANT_PUBLIC  (1 << P11BE_URI_TYPE_PUBLIC)
#define STORE_WANT_CERT    (1 << P11BE_URI_TYPE_CERT)
#define STORE_WANT_KEYS    (STORE_WANT_PRIVATE | STORE_WANT_PUBLIC)

/* The classes to search, from the URI's type and what is expected. */
static int store_wanted(STORE_CTX *ctx, int *want)
{
    if (ctx->uri.type > P11BE_URI_TYPE_CERT) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: type=%s is not supported: the pkcs11 store yields "
                    "private keys, public keys and certificates",
                    ctx->shown, p11be_uri_type_name(ctx->uri.type));
        return 0;
    }
    *want = ctx->uri.type == P11BE_URI_TYPE_ANY
                ? STORE_WANT_KEYS | STORE_WANT_CERT
                : 1 << ctx->uri.type;
    /* PUBKEY: a private key's public half is its pair's public object. */
    if (ctx->expect == OSSL_STORE_INFO_PUBKEY)
        *want = *want & STORE_WANT_KEYS ? STORE_WANT_PUBLIC : 0;
    else if (ctx->expect == OSSL_STORE_INFO_PKEY)
        *want &= STORE_WANT_PRIVATE;
    else if (ctx->expect == OSSL_STORE_INFO_CERT)
        *want &= STORE_WANT_CERT;
    else if (ctx->expect != 0) /* parameters, CRLs, names: none for us */
        *want = 0;
    if (ctx->subject != NULL)
        *want &= STORE_WANT_CERT;
    if (ctx->keys_only)
        *want &= STORE_WANT_KEYS;
    return 1;
}

/*
 * Finds what the URI names (see the top of the file). `unique`: at most
 * one object per class even when the URI names no object. 1, or 0
 * (raised).
 */
static int store_search(STORE_CTX *ctx, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                        void *pw_cbarg, int unique)
{
    struct p11be_session_req req = {0};
    P11BE_TOKEN *token;
    P11BE_SESSION *sess;
    int want, named, ok = 0;
    size_t c;
    CK_RV rv = CKR_OK;

    token = p11be_token_ctx_token(&ctx->prov->tc);
    if (token == NULL || !store_wanted(ctx, &want)
        || !store_match_token(ctx, token))
        return 0;
    sess = p11be_session_acquire(&ctx->prov->tc, &req);
    if (sess == NULL)
        return 0;
    if ((want & STORE_WANT_PRIVATE)
        && !store_login(ctx, token, sess, pw_cb, pw_cbarg,
                        ctx->uri.type == P11BE_URI_TYPE_ANY))
        goto out_release;
    for (c = 0; c < STORE_CLASS_COUNT; c++)
        if ((want & (1 << store_classes[c].type))
            && !store_find_class(ctx, sess, store_classes[c].cls, &rv))
            goto out_release;
    P11BE_DEBUG("%zu objects match on token \"%s\"", ctx->count,
                p11be_token_label(token));
    named = ctx->uri.object != NULL || ctx->uri.has_id;
    if ((named || unique) && !store_check_unique(ctx, token))
        goto out_release;
    if (ctx->count == 0
        && (named || unique || ctx->uri.type != P11BE_URI_TYPE_ANY)) {
        p11be_raise(ctx->prov->handle, P11BE_R_OBJECT_NOT_FOUND,
                    "no object matches %s on token \"%s\": C_FindObjects "
                    "found nothing%s; likely causes: %s",
                    ctx->shown, p11be_token_label(token),
                    ctx->skipped_login ? " (no PIN was given, so private "
                                         "keys were not searched)"
                                       : "",
                    P11BE_NOT_FOUND_CAUSES);
        goto out_release;
    }
    ok = 1;
out_release:
    p11be_session_release(sess, rv);
    return ok;
}

/* ---- turning objects into keys and certificates ---- */

/*
 * The first object of `cls` (a public key of `kind`, or a certificate)
 * that shares the item's CKA_ID, or its CKA_LABEL when it has no id.
 */
static CK_OBJECT_HANDLE store_find_partner(P11BE_SESSION *sess,
                                           const struct store_item *item,
                                           CK_OBJECT_CLASS cls)
{
    CK_KEY_TYPE type = item->kind->key_type;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_OBJECT_HANDLE found[8];
    CK_ULONG n = 1, got = 0, i;
    CK_OBJECT_HANDLE partner = CK_INVALID_HANDLE;

    if (item->id_len > 0)
        store_tmpl_add(tmpl, &n, CKA_ID, item->id, item->id_len);
    else if (item->label[0] != '\0')
        store_tmpl_add(tmpl, &n, CKA_LABEL, item->label, strlen(item->label));
    else
        return CK_INVALID_HANDLE;
    if (cls == CKO_PUBLIC_KEY)
        store_tmpl_add(tmpl, &n, CKA_KEY_TYPE, &type, sizeof(type));
    if (P11BE_CALL(sess->fns, C_FindObjectsInit, sess->handle, tmpl, n)
        != CKR_OK)
        return CK_INVALID_HANDLE;
    if (P11BE_CALL(sess->fns, C_FindObjects, sess->handle, found, 8, &got)
        != CKR_OK)
        got = 0;
    P11BE_CALL(sess->fns, C_FindObjectsFinal, sess->handle);
    for (i = 0; i < got && partner == CK_INVALID_HANDLE; i++)
        if (cls != CKO_PUBLIC_KEY
            || store_kind_of(sess, found[i]) == item->kind)
            partner = found[i];
    return partner;
}

/* The host copy from an X.509 certificate's public key. */
static int store_host_from_cert(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE cert)
{
    CK_ATTRIBUTE value = {CKA_VALUE, NULL, 0};
    const unsigned char *der;
    OSSL_PARAM *params = NULL;
    X509 *x509 = NULL;
    EVP_PKEY *pub;
    int ok = 0;

    if (!p11be_token_read_attrs(key->tc, sess, cert, &value, 1,
                                "a certificate's CKA_VALUE"))
        return 0;
    der = value.pValue;
    x509 = X509_new_ex(p11be_fallback_libctx(), NULL);
    if (x509 == NULL || d2i_X509(&x509, &der, (long)value.ulValueLen) == NULL
        || (pub = X509_get0_pubkey(x509)) == NULL
        || !EVP_PKEY_is_a(pub, key->kind->name)
        || EVP_PKEY_todata(pub, EVP_PKEY_PUBLIC_KEY, &params) != 1) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the certificate paired with the %s key by CKA_ID does "
                    "not hold a %s public key",
                    key->kind->name, key->kind->name);
        goto out_free;
    }
    ok = p11be_keymgmt_set_public_from(key, params);
out_free:
    OSSL_PARAM_free(params);
    X509_free(x509);
    p11be_token_free_attrs(&value, 1);
    return ok;
}

/* A new key for a found key object (see the top of the file); NULL raised. */
static P11BE_KEY *store_make_key(STORE_CTX *ctx, const struct store_item *item)
{
    struct p11be_session_req req = {0};
    int is_priv = item->cls == CKO_PRIVATE_KEY;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, cert = CK_INVALID_HANDLE;
    P11BE_SESSION *sess;
    P11BE_KEY *key;
    int ok;

    key = p11be_key_new(&ctx->prov->tc, item->kind);
    if (key == NULL)
        return NULL;
    /* Logged in already when the object is private (store_search). */
    sess = p11be_session_acquire(&ctx->prov->tc, &req);
    if (sess == NULL)
        goto out_free_key;
    if (!is_priv)
        pub = item->handle;
    else if ((pub = store_find_partner(sess, item, CKO_PUBLIC_KEY))
             == CK_INVALID_HANDLE)
        cert = store_find_partner(sess, item, CKO_CERTIFICATE);
    ok = p11be_key_attach(key, sess, is_priv ? item->handle : CK_INVALID_HANDLE,
                          pub, is_priv && item->is_private, item->label,
                          item->id, item->id_len);
    if (ok && cert != CK_INVALID_HANDLE)
        ok = store_host_from_cert(key, sess, cert);
    else if (ok)
        ok = p11be_key_load_public(key, sess, NULL);
    if (!ok && is_priv && pub == CK_INVALID_HANDLE && cert == CK_INVALID_HANDLE)
        p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                    "the %s private key \"%s\" has no public key object or "
                    "certificate with the same CKA_ID on the token, and its "
                    "public values cannot be read from the private object",
                    item->kind->name, item->label);
    p11be_session_release(sess, CKR_OK);
    if (ok) {
        P11BE_DEBUG("%s %s 0x%lx found (public parts from %s)",
                    item->kind->name, store_class_name(item->cls),
                    (unsigned long)item->handle,
                    pub != CK_INVALID_HANDLE    ? "its public key"
                    : cert != CK_INVALID_HANDLE ? "its certificate"
                                                : "the private object");
        return key;
    }
out_free_key:
    p11be_key_free(key);
    return NULL;
}

/*
 * Hands one object to OpenSSL, a key by reference, a certificate as DER;
 * the callback's result.
 */
static int store_yield(STORE_CTX *ctx, const struct store_item *item,
                       const char *desc, OSSL_CALLBACK *object_cb,
                       void *object_cbarg)
{
    struct p11be_session_req req = {0};
    CK_ATTRIBUTE value = {CKA_VALUE, NULL, 0};
    int cert = item->cls == CKO_CERTIFICATE;
    int type = cert ? OSSL_OBJECT_CERT : OSSL_OBJECT_PKEY;
    OSSL_PARAM params[5], *p = params;
    P11BE_SESSION *sess;
    P11BE_KEY *key = NULL;
    int ok;

    if (cert && (sess = p11be_session_acquire(&ctx->prov->tc, &req)) != NULL) {
        ok = p11be_token_read_attrs(&ctx->prov->tc, sess, item->handle, &value,
                                    1, "a certificate's CKA_VALUE");
        p11be_session_release(sess, CKR_OK);
    } else {
        ok = !cert && (key = store_make_key(ctx, item)) != NULL;
    }
    if (!ok)
        return 0;
    *p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
    if (cert) {
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_OBJECT_PARAM_DATA, value.pValue, value.ulValueLen);
    } else {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                (char *)item->kind->name, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                                 &key, sizeof(key));
    }
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC,
                                            (char *)desc, 0);
    *p = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    p11be_key_free(key); /* load() took its own reference */
    p11be_token_free_attrs(&value, 1);
    return ok;
}

static int store_load(void *loaderctx, OSSL_CALLBACK *object_cb,
                      void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                      void *pw_cbarg)
{
    STORE_CTX *ctx = loaderctx;
    const struct store_item *item;
    char desc[160];

    if (!ctx->searched) {
        ctx->searched = 1;
        /* An application that expects a key gets one, never the first. */
        if (!store_search(ctx, pw_cb, pw_cbarg,
                          ctx->expect == OSSL_STORE_INFO_PKEY
                              || ctx->expect == OSSL_STORE_INFO_PUBKEY)) {
            ctx->failed = 1;
            return 0;
        }
    }
    if (ctx->failed || ctx->next >= ctx->count)
        return 0;
    item = &ctx->items[ctx->next++];
    store_item_describe(item, desc, sizeof(desc));
    return store_yield(ctx, item, desc, object_cb, object_cbarg);
}

static int store_eof(void *loaderctx)
{
    STORE_CTX *ctx = loaderctx;

    return ctx->failed || (ctx->searched && ctx->next >= ctx->count);
}

static int store_close(void *loaderctx)
{
    store_ctx_free(loaderctx);
    return 1;
}

/*
 * For another provider's keymgmt: the public parts of a yielded public key.
 * A key whose private half is on the token is refused: OpenSSL 3.0 first
 * tries the keymgmt its property query prefers (the default provider's,
 * when that was loaded first) and would turn the key into a public-only
 * copy there; refused, it falls back to pkcs11be's own keymgmt.
 */
static int store_export_object(void *loaderctx, const void *reference,
                               size_t reference_sz, OSSL_CALLBACK *export_cb,
                               void *export_cbarg)
{
    P11BE_KEY *key;

    (void)loaderctx;
    if (reference == NULL || reference_sz != sizeof(key))
        return 0;
    memcpy(&key, reference, sizeof(key));
    if (p11be_key_has_private(key))
        return 0;
    return p11be_keymgmt_export(key, OSSL_KEYMGMT_SELECT_ALL, export_cb,
                                export_cbarg);
}

/* ---- for the rest of the provider ---- */

P11BE_KEY *p11be_store_key_by_uri(P11BE_PROV_CTX *prov, const char *uri,
                                  OSSL_PASSPHRASE_CALLBACK *pw_cb,
                                  void *pw_cbarg)
{
    STORE_CTX *ctx = store_ctx_new(prov, uri);
    P11BE_KEY *key = NULL;
    size_t i;

    if (ctx == NULL)
        return NULL;
    /* Keys only; a private key wins over a public one (listed first). */
    if (ctx->uri.type == P11BE_URI_TYPE_CERT) {
        p11be_raise(prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s names a certificate, not a key", ctx->shown);
        goto out_free;
    }
    ctx->keys_only = 1;
    if (!store_search(ctx, pw_cb, pw_cbarg, 1))
        goto out_free;
    for (i = 0; i < ctx->count && key == NULL; i++)
        if (ctx->items[i].cls != CKO_CERTIFICATE)
            key = store_make_key(ctx, &ctx->items[i]);
out_free:
    store_ctx_free(ctx);
    return key;
}

char *p11be_store_key_uri(const P11BE_KEY *key)
{
    P11BE_TOKEN *token;
    char *uri, *p;
    size_t room, used;

    if (!key->persistent || (key->label == NULL && key->id_len == 0)) {
        p11be_raise(key->tc->handle, P11BE_R_NOT_EXTRACTABLE,
                    "the %s key is not a persistent token key: it has no "
                    "pkcs11: URI",
                    key->kind->name);
        return NULL;
    }
    token = p11be_token_ctx_token(key->tc);
    if (token == NULL)
        return NULL;
    /* Every byte encodes to at most three characters. */
    room = key->label != NULL ? strlen(key->label) : 0;
    room = 64 + 3 * (strlen(p11be_token_label(token)) + room + key->id_len);
    uri = p = OPENSSL_malloc(room);
    if (uri == NULL)
        return NULL;
    used = (size_t)snprintf(p, room, "pkcs11:token=");
    used += p11be_uri_encode((const unsigned char *)p11be_token_label(token),
                             strlen(p11be_token_label(token)), p + used,
                             room - used);
    if (key->label != NULL) {
        used += (size_t)snprintf(p + used, room - used, ";object=");
        used += p11be_uri_encode((const unsigned char *)key->label,
                                 strlen(key->label), p + used, room - used);
    }
    if (key->id_len > 0) {
        used += (size_t)snprintf(p + used, room - used, ";id=");
        used += p11be_uri_encode(key->id, key->id_len, p + used, room - used);
    }
    snprintf(p + used, room - used, ";type=%s",
             key->token_private ? "private" : "public");
    return uri;
}

const OSSL_DISPATCH p11be_store_pkcs11_functions[] = {
    P11BE_FN(OSSL_FUNC_STORE_OPEN, store_open),
    P11BE_FN(OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, store_settable_ctx_params),
    P11BE_FN(OSSL_FUNC_STORE_SET_CTX_PARAMS, store_set_ctx_params),
    P11BE_FN(OSSL_FUNC_STORE_LOAD, store_load),
    P11BE_FN(OSSL_FUNC_STORE_EOF, store_eof),
    P11BE_FN(OSSL_FUNC_STORE_CLOSE, store_close),
    P11BE_FN(OSSL_FUNC_STORE_EXPORT_OBJECT, store_export_object),
    {0, NULL},
};
