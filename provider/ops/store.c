/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "pkcs11" OSSL_STORE loader: RFC 7512 URIs (uri.h) name keys and
 * certificates on the token this provider instance is configured for.
 *
 *   openssl storeutl -provider-path build -provider pkcs11be \
 *       'pkcs11:token=T'                       (lists everything)
 *   openssl pkeyutl -sign -inkey 'pkcs11:object=signer;type=private' ...
 *
 * Decisions:
 *
 * - One token. A provider instance works with one token (its settings
 *   choose the module and slot). The URI's token attributes (token,
 *   manufacturer, serial, model, slot-id, slot-description,
 *   slot-manufacturer, library-manufacturer, library-description,
 *   library-version) must describe that token, and module-path /
 *   module-name that module; otherwise the URI is refused with an error
 *   naming what the URI asks for and what pkcs11be uses. Labels and the
 *   other blank-padded fields compare without their padding.
 *
 * - What is searched. "object" is CKA_LABEL, "id" is CKA_ID, "type" the
 *   class: private, public, cert; "secret-key" and "data" are refused
 *   (the store yields asymmetric keys and certificates only). Without a
 *   type every class is searched. OSSL_STORE_expect() narrows the classes
 *   further (PKEY: private keys, PUBKEY: public keys, CERT: certificates;
 *   an application that wants a public key for a type=private URI gets
 *   the public key objects with the same label and id),
 *   and OSSL_STORE_PARAM_SUBJECT (DER X509_NAME) makes it certificates
 *   with that CKA_SUBJECT. Keys are CKK_RSA (yielded as "RSA"), CKK_EC
 *   ("EC", named curves pkcs11be offers) and CKK_EC_EDWARDS ("ED25519" or
 *   "ED448" by CKA_EC_PARAMS); other key types and non-X.509 certificates
 *   are skipped. Every object found is yielded once, in the order private
 *   keys, public keys, certificates (a key pair lists as two entries, as
 *   the token holds two objects).
 *
 * - Ambiguity. When the URI names an object (object= or id= given), or
 *   the application expects a key (OSSL_STORE_expect PKEY or PUBKEY, as
 *   openssl's -inkey and -key do, and as a key file is read), and more
 *   than one private key, public key or certificate matches, the load
 *   fails with an "ambiguous" error listing the matches: one rule for a
 *   URI on the command line and the same URI in a key file, never "the
 *   first". (So `openssl storeutl -keys` lists one key; storeutl without
 *   -keys lists them all.) When none matches: "no object matches <uri>
 *   on token <label>: C_FindObjects found nothing; likely causes: ..."
 *   (also for a URI with only a type). A listing URI that finds nothing
 *   is empty.
 *
 * - Keys. A key is yielded by reference (OSSL_OBJECT_PARAM_REFERENCE, a
 *   P11BE_KEY * passed by address) for pkcs11be's keymgmt load();
 *   export_object() gives other providers' keymgmts public keys only (see
 *   there). A
 *   private key is paired with its public key: the CKO_PUBLIC_KEY of the
 *   same type with the same CKA_ID (the same CKA_LABEL when it has no
 *   id), else the certificate with the same CKA_ID, else the private
 *   object's own public attributes (RSA's CKA_MODULUS and
 *   CKA_PUBLIC_EXPONENT); an EC or EdDSA private key with neither is an
 *   error naming what is missing. Keys found are persistent token keys
 *   (keyobj.h): never destroyed, found again by id or label after a fork.
 *
 * - Login only when private keys are searched (type=private, or no type
 *   and no expectation that excludes them). The PIN comes from, in order:
 *   the URI's pin-value, its pin-source ("file:PATH" or an absolute path:
 *   the first line), the provider's pkcs11-pin setting, then the
 *   application's passphrase callback (openssl -passin). Without a type
 *   and with no PIN from any of them, the search goes on without a login
 *   (and finds no CKA_PRIVATE objects); with type=private it fails. A
 *   refused PIN is never tried again in the process (token.c), whatever
 *   its source, and the error names the source
 *   ("C_Login failed: CKR_PIN_INCORRECT (PIN from URI pin-value)"). PINs
 *   are wiped after use, and messages show the URI without its query part.
 *
 * - module-path and module-name are checks, not a way to load a module:
 *   the configured one is used.
 */
#include "store.h"

#include <errno.h>
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

#include "debug.h"
#include "err.h"
#include "keymgmt.h"
#include "names.h"
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

/* One object the search found. */
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

static void store_items_free(STORE_CTX *ctx)
{
    size_t i;

    for (i = 0; i < ctx->count; i++) {
        OPENSSL_free(ctx->items[i].label);
        OPENSSL_free(ctx->items[i].id);
    }
    OPENSSL_free(ctx->items);
    ctx->items = NULL;
    ctx->count = 0;
}

static void store_ctx_free(STORE_CTX *ctx)
{
    if (ctx == NULL)
        return;
    store_items_free(ctx);
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

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return settable;
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

/* A blank-padded PKCS#11 field as a C string. */
static void store_unpad(const CK_UTF8CHAR *padded, size_t len, char *out)
{
    memcpy(out, padded, len);
    while (len > 0 && out[len - 1] == ' ')
        len--;
    out[len] = '\0';
}

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

/* Whether a text attribute, when given, equals the padded field. */
static int store_field_ok(STORE_CTX *ctx, const P11BE_TOKEN *token,
                          const char *attr, const char *want,
                          const CK_UTF8CHAR *padded, size_t len)
{
    char have[65];

    if (want == NULL)
        return 1;
    store_unpad(padded, len, have);
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

static int store_match_token(STORE_CTX *ctx, P11BE_TOKEN *token)
{
    const P11BE_URI *uri = &ctx->uri;
    const char *path =
        p11be_config_get(&ctx->prov->config, P11BE_SET_MODULE_PATH);
    CK_TOKEN_INFO ti;
    CK_SLOT_INFO si;
    CK_INFO li;
    char have[32];
    CK_RV rv;

    if (uri->module_path != NULL
        && !store_module_path_ok(path, uri->module_path)) {
        p11be_raise(
            ctx->prov->handle, P11BE_R_TOKEN_NOT_FOUND,
            "%s names module-path=%s, but pkcs11be is configured for "
            "the module %s (%s); the store uses the configured "
            "module only",
            ctx->shown, uri->module_path, path,
            p11be_config_source(&ctx->prov->config, P11BE_SET_MODULE_PATH));
        return 0;
    }
    if (uri->module_name != NULL
        && !store_module_name_ok(path, uri->module_name)) {
        p11be_raise(
            ctx->prov->handle, P11BE_R_TOKEN_NOT_FOUND,
            "%s names module-name=%s, but pkcs11be is configured for "
            "the module %s (%s)",
            ctx->shown, uri->module_name, path,
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
        rv = P11BE_CALL(p11be_token_fns(token), C_GetTokenInfo,
                        p11be_token_slot_id(token), &ti);
        if (rv != CKR_OK) {
            p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                        "C_GetTokenInfo: %s", p11be_ckr_name(rv));
            return 0;
        }
        if (!store_field_ok(ctx, token, "token", uri->token, ti.label, 32)
            || !store_field_ok(ctx, token, "manufacturer", uri->manufacturer,
                               ti.manufacturerID, 32)
            || !store_field_ok(ctx, token, "serial", uri->serial,
                               ti.serialNumber, 16)
            || !store_field_ok(ctx, token, "model", uri->model, ti.model, 16))
            return 0;
    }
    if (uri->slot_description != NULL || uri->slot_manufacturer != NULL) {
        rv = P11BE_CALL(p11be_token_fns(token), C_GetSlotInfo,
                        p11be_token_slot_id(token), &si);
        if (rv != CKR_OK) {
            p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                        "C_GetSlotInfo: %s", p11be_ckr_name(rv));
            return 0;
        }
        if (!store_field_ok(ctx, token, "slot-description",
                            uri->slot_description, si.slotDescription, 64)
            || !store_field_ok(ctx, token, "slot-manufacturer",
                               uri->slot_manufacturer, si.manufacturerID, 32))
            return 0;
    }
    if (uri->library_manufacturer != NULL || uri->library_description != NULL
        || uri->has_library_version) {
        rv = P11BE_CALL(p11be_token_fns(token), C_GetInfo, &li);
        if (rv != CKR_OK) {
            p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                        "C_GetInfo: %s", p11be_ckr_name(rv));
            return 0;
        }
        if (!store_field_ok(ctx, token, "library-manufacturer",
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

/* The PIN from the application's passphrase callback; length, or -1. */
static int store_pin_from_cb(STORE_CTX *ctx, const P11BE_TOKEN *token,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg,
                             char *buf, size_t room)
{
    char info[80];
    OSSL_PARAM params[2];
    size_t len = 0;

    if (pw_cb == NULL)
        return -1;
    snprintf(info, sizeof(info), "PIN of the PKCS#11 token \"%s\"",
             p11be_token_label(token));
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, info, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!pw_cb(buf, room - 1, &len, params, pw_cbarg) || len >= room) {
        P11BE_DEBUG("the passphrase callback gave no PIN");
        return -1;
    }
    buf[len] = '\0';
    (void)ctx;
    return (int)len;
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
    char *from_file = NULL;
    size_t file_len = 0;
    const char *source = NULL;
    const char *pin = NULL;
    int len = 0, ok;
    CK_RV rv;

    enum p11be_login_state state = p11be_token_login_state(token);

    if (state == P11BE_LOGGED_IN)
        return 1;
    if (state == P11BE_LOGIN_REFUSED) /* raises why, tries nothing */
        return p11be_token_login_pin(token, sess->handle, NULL, 0, NULL, &rv);
    if (ctx->uri.pin_value != NULL) {
        pin = ctx->uri.pin_value;
        len = (int)strlen(pin);
        source = "URI pin-value";
    } else if (ctx->uri.pin_source != NULL) {
        const char *path = ctx->uri.pin_source;

        if (strncmp(path, "file:", 5) == 0)
            path += 5;
        if (!p11be_pin_from_file(ctx->prov->handle, ctx->shown, "pin-source",
                                 path, &from_file, &file_len))
            return 0;
        pin = from_file;
        len = (int)file_len;
        snprintf(named, sizeof(named), "URI pin-source (the first line of %s)",
                 path);
        source = named;
    } else if (p11be_config_get(&ctx->prov->config, P11BE_SET_PIN) == NULL) {
        len = store_pin_from_cb(ctx, token, pw_cb, pw_cbarg, buf, sizeof(buf));
        if (len >= 0) {
            pin = buf;
            source = "the passphrase callback";
        } else if (optional) {
            P11BE_DEBUG("no PIN from the URI, the settings or a callback: "
                        "searching without a login");
            ctx->skipped_login = 1;
            return 2;
        } else {
            p11be_raise(ctx->prov->handle, P11BE_R_LOGIN_FAILED,
                        "%s: the token \"%s\" needs a login to find private "
                        "keys: give pin-value or pin-source in the URI, set "
                        "pkcs11-pin, or a passphrase (-passin)",
                        ctx->shown, p11be_token_label(token));
            OPENSSL_cleanse(buf, sizeof(buf));
            return 0;
        }
    }
    /* pin NULL: the configured PIN, read and named by token.c. */
    ok = p11be_token_login_pin(token, sess->handle, pin, (size_t)len, source,
                               &rv);
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_clear_free(from_file, file_len);
    return ok;
}

/* ---- the search ---- */

/* One CK_ULONG-sized attribute (class, key type, certificate type). */
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
    CK_ATTRIBUTE params = {CKA_EC_PARAMS, NULL, 0};
    CK_KEY_TYPE type;

    if (store_get_ulong(sess, obj, CKA_KEY_TYPE, &type) != CKR_OK)
        return NULL;
    if (type == CKK_RSA)
        return &p11be_kind_rsa;
    if (type == CKK_EC)
        return &p11be_kind_ec;
    if (type != CKK_EC_EDWARDS
        || p11be_token_get_attrs(sess, obj, &params, 1) != CKR_OK)
        return NULL;
    kind = p11be_ed_kind_of(params.pValue, params.ulValueLen);
    p11be_token_free_attrs(&params, 1);
    return kind;
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
    item->label = tmpl[0].pValue; /* zero-terminated by store_get_attrs */
    if (tmpl[1].ulValueLen > 0) {
        item->id = tmpl[1].pValue;
        item->id_len = tmpl[1].ulValueLen;
    } else {
        OPENSSL_free(tmpl[1].pValue);
    }
    return 1;
}

/* Appends the objects of class `cls` the URI matches; 0 (raised) on error. */
static int store_find_class(STORE_CTX *ctx, P11BE_SESSION *sess,
                            CK_OBJECT_CLASS cls, CK_RV *last_rv)
{
    CK_BBOOL on_token = CK_TRUE;
    CK_ATTRIBUTE tmpl[5];
    CK_ULONG n = 0, got = 0, i;
    CK_OBJECT_HANDLE found[STORE_FIND_BATCH];
    CK_RV rv;

    tmpl[n].type = CKA_CLASS;
    tmpl[n].pValue = &cls;
    tmpl[n++].ulValueLen = sizeof(cls);
    /* Not this process's session copies of them (keyobj.h). */
    tmpl[n].type = CKA_TOKEN;
    tmpl[n].pValue = &on_token;
    tmpl[n++].ulValueLen = sizeof(on_token);
    if (ctx->uri.object != NULL) {
        tmpl[n].type = CKA_LABEL;
        tmpl[n].pValue = ctx->uri.object;
        tmpl[n++].ulValueLen = strlen(ctx->uri.object);
    }
    if (ctx->uri.has_id) {
        tmpl[n].type = CKA_ID;
        tmpl[n].pValue = ctx->uri.id;
        tmpl[n++].ulValueLen = ctx->uri.id_len;
    }
    if (cls == CKO_CERTIFICATE && ctx->subject != NULL) {
        tmpl[n].type = CKA_SUBJECT;
        tmpl[n].pValue = ctx->subject;
        tmpl[n++].ulValueLen = ctx->subject_len;
    }
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
        /* Attributes are read after C_FindObjectsFinal (some tokens want). */
        for (i = 0; i < got; i++) {
            memset(&ctx->items[ctx->count], 0, sizeof(*ctx->items));
            ctx->items[ctx->count].cls = cls;
            ctx->items[ctx->count++].handle = found[i];
        }
    } while (got == STORE_FIND_BATCH);
    P11BE_CALL(sess->fns, C_FindObjectsFinal, sess->handle);
    if (rv != CKR_OK) {
        *last_rv = rv;
        p11be_raise(ctx->prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_FindObjects: %s", p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

/* Reads the attributes of items[from..] and drops those the store skips. */
static void store_read_items(STORE_CTX *ctx, P11BE_SESSION *sess, size_t from)
{
    size_t i, kept = from;

    for (i = from; i < ctx->count; i++) {
        struct store_item item;

        if (store_item_read(sess, ctx->items[i].cls, ctx->items[i].handle,
                            &item))
            ctx->items[kept++] = item;
        else
            P11BE_DEBUG("skipping object 0x%lx: a type the store does not "
                        "yield",
                        (unsigned long)ctx->items[i].handle);
    }
    ctx->count = kept;
}

static const char *store_class_name(CK_OBJECT_CLASS cls)
{
    return cls == CKO_PRIVATE_KEY  ? "private key"
           : cls == CKO_PUBLIC_KEY ? "public key"
                                   : "certificate";
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
    static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
                                              CKO_CERTIFICATE};
    char list[512], one[160];
    size_t c, i, n, used;

    for (c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
        for (i = 0, n = 0; i < ctx->count; i++)
            n += ctx->items[i].cls == classes[c];
        if (n < 2)
            continue;
        list[0] = '\0';
        used = 0;
        for (i = 0; i < ctx->count; i++) {
            if (ctx->items[i].cls != classes[c])
                continue;
            store_item_describe(&ctx->items[i], one, sizeof(one));
            if (used < sizeof(list))
                used += (size_t)snprintf(list + used, sizeof(list) - used,
                                         "%s%s", used > 0 ? "; " : "", one);
        }
        p11be_raise(ctx->prov->handle, P11BE_R_AMBIGUOUS,
                    "%s is ambiguous on token \"%s\": %zu %ss match (%s); "
                    "add id= or type= to name one",
                    ctx->shown, p11be_token_label(token), n,
                    store_class_name(classes[c]), list);
        return 0;
    }
    return 1;
}

/* Which classes to search: a bit each, from the URI's type and expect. */
#define STORE_WANT_PRIVATE 1
#define STORE_WANT_PUBLIC  2
#define STORE_WANT_CERT    4

static int store_wanted(STORE_CTX *ctx, int *want)
{
    switch (ctx->uri.type) {
    case P11BE_URI_TYPE_ANY:
        *want = STORE_WANT_PRIVATE | STORE_WANT_PUBLIC | STORE_WANT_CERT;
        break;
    case P11BE_URI_TYPE_PRIVATE:
        *want = STORE_WANT_PRIVATE;
        break;
    case P11BE_URI_TYPE_PUBLIC:
        *want = STORE_WANT_PUBLIC;
        break;
    case P11BE_URI_TYPE_CERT:
        *want = STORE_WANT_CERT;
        break;
    default:
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: type=%s is not supported: the pkcs11 store yields "
                    "private keys, public keys and certificates",
                    ctx->shown, p11be_uri_type_name(ctx->uri.type));
        return 0;
    }
    switch (ctx->expect) {
    case 0:
        break;
    case OSSL_STORE_INFO_PKEY:
        *want &= STORE_WANT_PRIVATE;
        break;
    case OSSL_STORE_INFO_PUBKEY:
        /* A private key's public half: its pair's public object. */
        *want = *want & (STORE_WANT_PUBLIC | STORE_WANT_PRIVATE)
                    ? STORE_WANT_PUBLIC
                    : 0;
        break;
    case OSSL_STORE_INFO_CERT:
        *want &= STORE_WANT_CERT;
        break;
    default: /* parameters, CRLs, names: the token has none for us */
        *want = 0;
        break;
    }
    if (ctx->subject != NULL)
        *want &= STORE_WANT_CERT;
    if (ctx->keys_only)
        *want &= STORE_WANT_PRIVATE | STORE_WANT_PUBLIC;
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
    static const struct {
        int bit;             /* STORE_WANT_* */
        CK_OBJECT_CLASS cls; /* searched for it */
    } order[] = {{STORE_WANT_PRIVATE, CKO_PRIVATE_KEY},
                 {STORE_WANT_PUBLIC, CKO_PUBLIC_KEY},
                 {STORE_WANT_CERT, CKO_CERTIFICATE}};
    struct p11be_session_req req = {0};
    P11BE_TOKEN *token;
    P11BE_SESSION *sess;
    int want, named, ok = 0, login = 1;
    size_t i, from;
    CK_RV rv = CKR_OK;

    token = p11be_token_ctx_token(&ctx->prov->tc);
    if (token == NULL || !store_wanted(ctx, &want)
        || !store_match_token(ctx, token))
        return 0;
    sess = p11be_session_acquire(&ctx->prov->tc, &req);
    if (sess == NULL)
        return 0;
    if (want & STORE_WANT_PRIVATE) {
        login = store_login(ctx, token, sess, pw_cb, pw_cbarg,
                            ctx->uri.type == P11BE_URI_TYPE_ANY);
        if (!login)
            goto out_release;
    }
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(want & order[i].bit))
            continue;
        from = ctx->count;
        if (!store_find_class(ctx, sess, order[i].cls, &rv))
            goto out_release;
        store_read_items(ctx, sess, from);
    }
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

    if (item->id_len > 0) {
        tmpl[n].type = CKA_ID;
        tmpl[n].pValue = item->id;
        tmpl[n++].ulValueLen = item->id_len;
    } else if (item->label[0] != '\0') {
        tmpl[n].type = CKA_LABEL;
        tmpl[n].pValue = item->label;
        tmpl[n++].ulValueLen = strlen(item->label);
    } else {
        return CK_INVALID_HANDLE;
    }
    if (cls == CKO_PUBLIC_KEY) {
        tmpl[n].type = CKA_KEY_TYPE;
        tmpl[n].pValue = &type;
        tmpl[n++].ulValueLen = sizeof(type);
    }
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

/* Hands one key to OpenSSL by reference; the callback's result. */
static int store_yield_key(STORE_CTX *ctx, const struct store_item *item,
                           const char *desc, OSSL_CALLBACK *object_cb,
                           void *object_cbarg)
{
    int type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[5];
    P11BE_KEY *key = store_make_key(ctx, item);
    int ok;

    if (key == NULL)
        return 0;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)item->kind->name, 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                                  &key, sizeof(key));
    params[3] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC,
                                                 (char *)desc, 0);
    params[4] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    p11be_key_free(key); /* load() took its own reference */
    return ok;
}

/* Hands one certificate to OpenSSL as DER; the callback's result. */
static int store_yield_cert(STORE_CTX *ctx, const struct store_item *item,
                            const char *desc, OSSL_CALLBACK *object_cb,
                            void *object_cbarg)
{
    struct p11be_session_req req = {0};
    CK_ATTRIBUTE value = {CKA_VALUE, NULL, 0};
    int type = OSSL_OBJECT_CERT;
    OSSL_PARAM params[4];
    P11BE_SESSION *sess;
    int ok;

    sess = p11be_session_acquire(&ctx->prov->tc, &req);
    if (sess == NULL)
        return 0;
    ok = p11be_token_read_attrs(&ctx->prov->tc, sess, item->handle, &value, 1,
                                "a certificate's CKA_VALUE");
    p11be_session_release(sess, CKR_OK);
    if (!ok)
        return 0;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_OBJECT_PARAM_DATA, value.pValue, value.ulValueLen);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC,
                                                 (char *)desc, 0);
    params[3] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
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
    if (item->cls == CKO_CERTIFICATE)
        return store_yield_cert(ctx, item, desc, object_cb, object_cbarg);
    return store_yield_key(ctx, item, desc, object_cb, object_cbarg);
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
    room =
        64
        + 3
              * (strlen(p11be_token_label(token))
                 + (key->label != NULL ? strlen(key->label) : 0) + key->id_len);
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

static const OSSL_DISPATCH p11be_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
     (void (*)(void))store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close},
    {OSSL_FUNC_STORE_EXPORT_OBJECT, (void (*)(void))store_export_object},
    {0, NULL},
};

const OSSL_ALGORITHM p11be_store_algorithms[] = {
    {"pkcs11", P11BE_PROPS, p11be_store_functions,
     "keys and certificates on the PKCS#11 token, by pkcs11: URI"},
    {NULL, NULL, NULL, NULL},
};
