/* SPDX-License-Identifier: Apache-2.0 */
/* Keymgmt functions shared by every key type; see keymgmt.h. */
#include "keymgmt.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "mechs.h"
#include "reentry.h"

/* The EVP_PKEY_fromdata/todata selection for an OSSL_KEYMGMT_SELECT_*. */
static int keymgmt_evp_selection(int selection, int with_private)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && with_private)
        return EVP_PKEY_KEYPAIR;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return EVP_PKEY_PUBLIC_KEY;
    return EVP_PKEY_KEY_PARAMETERS;
}

EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[])
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(p11be_fallback_libctx(), key->kind->name,
                                     NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, evp_selection, params) <= 0) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "OpenSSL's default provider refuses this %s key",
                    key->kind->name);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

int p11be_keymgmt_set_public_from(P11BE_KEY *key, OSSL_PARAM params[])
{
    EVP_PKEY *host = p11be_keymgmt_host_from(key, EVP_PKEY_PUBLIC_KEY, params);

    if (host != NULL && p11be_key_set_host(key, host, 0))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

#define KEYMGMT_BN_MAX 6 /* RSA's d and CRT values */

OSSL_PARAM *p11be_keymgmt_bn_params(P11BE_KEY *key, P11BE_SESSION *sess,
                                    CK_OBJECT_HANDLE obj,
                                    const CK_ATTRIBUTE_TYPE *types,
                                    const char *const *names, size_t count,
                                    const char *what)
{
    CK_ATTRIBUTE tmpl[KEYMGMT_BN_MAX];
    BIGNUM *bn[KEYMGMT_BN_MAX] = {NULL};
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    size_t i;
    int ok;

    for (i = 0; i < count && i < KEYMGMT_BN_MAX; i++)
        tmpl[i].type = types[i];
    if (count > KEYMGMT_BN_MAX
        || !p11be_token_read_attrs(key->tc, sess, obj, tmpl, count, what))
        return NULL;
    ok = (bld = OSSL_PARAM_BLD_new()) != NULL;
    for (i = 0; i < count && ok; i++)
        ok =
            (bn[i] = BN_secure_new()) != NULL
            && BN_bin2bn(tmpl[i].pValue, (int)tmpl[i].ulValueLen, bn[i]) != NULL
            && OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]);
    /* The builder reads the numbers here, so they live until now. */
    if (ok)
        params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "holding %s read from the token", what);
    OSSL_PARAM_BLD_free(bld);
    for (i = 0; i < count; i++)
        BN_clear_free(bn[i]);
    p11be_token_free_secret(tmpl, count);
    return params;
}

int p11be_keymgmt_public_bn(P11BE_KEY *key, P11BE_SESSION *sess,
                            CK_OBJECT_HANDLE obj,
                            const CK_ATTRIBUTE_TYPE *types,
                            const char *const *names, size_t count,
                            const OSSL_PARAM *extra, const char *what)
{
    OSSL_PARAM *params, *all = NULL;
    int ok;

    params = p11be_keymgmt_bn_params(key, sess, obj, types, names, count, what);
    ok = params != NULL && (all = OSSL_PARAM_merge(params, extra)) != NULL
         && p11be_keymgmt_set_public_from(key, all);
    OSSL_PARAM_free(all); /* points into params */
    OSSL_PARAM_free(params);
    return ok;
}

void p11be_ec_point_of(const unsigned char *value, size_t len,
                       const unsigned char **point, size_t *point_len)
{
    size_t head = 0, body = 0;

    /* 04 LEN or 04 81 LEN: the only lengths a point or EdDSA key needs. */
    if (len >= 2 && value[0] == 0x04 && value[1] < 0x80) {
        head = 2;
        body = value[1];
    } else if (len >= 3 && value[0] == 0x04 && value[1] == 0x81
               && value[2] >= 0x80) {
        head = 3;
        body = value[2];
    }
    if (head != 0 && head + body == len) {
        *point = value + head;
        *point_len = body;
    } else {
        *point = value;
        *point_len = len;
    }
}

int p11be_keymgmt_import_params(P11BE_KEY *key, const OSSL_PARAM params[])
{
    EVP_PKEY *host = p11be_keymgmt_host_from(key, EVP_PKEY_KEY_PARAMETERS,
                                             (OSSL_PARAM *)params);

    if (host != NULL && p11be_key_set_params_host(key, host))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

int p11be_keymgmt_mech_fit(P11BE_TOKEN_CTX *tc, const CK_MECHANISM_TYPE *mechs,
                           const char *const *names, size_t count, size_t bits,
                           const char *what, char *why, size_t why_len)
{
    CK_MECHANISM_INFO info;
    size_t i;
    int found = 0;

    for (i = 0; i < count && found == 0; i++)
        found = p11be_mech_lookup(tc, mechs[i], names[i], &info);
    if (found < 0)
        return -1;
    if (found == 0) {
        snprintf(why, why_len, "%s%s is not supported by the token",
                 count > 1 ? "none of them: " : "", names[count - 1]);
        return 0;
    }
    i--;
    if (bits == 0
        || (bits >= info.ulMinKeySize
            && (info.ulMaxKeySize == 0 || bits <= info.ulMaxKeySize)))
        return 1;
    snprintf(why, why_len, "the token's %s takes %s of %lu..%lu bits, not %zu",
             names[i], what, (unsigned long)info.ulMinKeySize,
             (unsigned long)info.ulMaxKeySize, bits);
    return 0;
}

/* The key type's check, or NULL: the token takes every key of it. */
static p11be_token_fit_fn *keymgmt_fit_fn(const struct p11be_key_kind *kind)
{
    if (kind == &p11be_kind_ec)
        return p11be_ec_token_fit;
    if (kind == &p11be_kind_rsa || kind == &p11be_kind_rsa_pss)
        return p11be_rsa_token_fit;
    if (kind == &p11be_kind_ed25519)
        return p11be_ed25519_token_fit;
    if (kind == &p11be_kind_ed448)
        return p11be_ed448_token_fit;
    if (kind == &p11be_kind_dh)
        return p11be_dh_token_fit;
    return NULL;
}

/* The type's check on the key's host copy: 1, 0 (why) or -1 (raised). */
static int keymgmt_fit_check(const P11BE_KEY *key, P11BE_TOKEN_CTX *tc,
                             char *why, size_t why_len)
{
    p11be_token_fit_fn *fit = keymgmt_fit_fn(key->kind);
    char group[64], encoding[16];
    size_t len = 0;
    int bits;

    if (fit == NULL || key->host == NULL || key->params_only)
        return 1;
    /*
     * Explicit EC parameters name no group for the token, even where
     * OpenSSL knows them for a named curve.
     */
    if (!EVP_PKEY_get_utf8_string_param(key->host, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), &len)
        || (EVP_PKEY_get_utf8_string_param(key->host,
                                           OSSL_PKEY_PARAM_EC_ENCODING,
                                           encoding, sizeof(encoding), NULL)
            && strcmp(encoding, OSSL_PKEY_EC_ENCODING_EXPLICIT) == 0))
        len = 0;
    bits = EVP_PKEY_get_bits(key->host);
    return fit(tc, len > 0 ? group : NULL, bits > 0 ? (size_t)bits : 0, why,
               why_len);
}

int p11be_keymgmt_fit(P11BE_KEY *key, char *why, size_t why_len)
{
    int fit = __atomic_load_n(&key->fit, __ATOMIC_ACQUIRE);
    char scratch[200];
    int ok;

    if (fit != P11BE_FIT_UNKNOWN && (why == NULL || fit == P11BE_FIT_TOKEN))
        return fit;
    /* Decided: only what the token lacks is asked for. */
    if (fit != P11BE_FIT_UNKNOWN) {
        if (key->import_refused != CKR_OK)
            snprintf(why, why_len,
                     "the token refused its private key: C_CreateObject "
                     "answered %s",
                     p11be_ckr_name(key->import_refused));
        else if (keymgmt_fit_check(key, key->tc, why, why_len) != 0)
            snprintf(why, why_len, "made where the token could not");
        return fit;
    }
    if (why == NULL) {
        why = scratch;
        why_len = sizeof(scratch);
    }
    /* A key the token made or holds is one it takes. */
    ok = key->host_private ? keymgmt_fit_check(key, key->tc, why, why_len) : 1;
    if (ok < 0)
        return -1;
    fit = ok ? P11BE_FIT_TOKEN : P11BE_FIT_HOST;
    if (!ok)
        P11BE_DEBUG("%s key kept on the host: %s", key->kind->name, why);
    __atomic_store_n(&key->fit, fit, __ATOMIC_RELEASE);
    return fit;
}

/*
 * Nothing touches the token here: objects are made on first use, and
 * whether the token takes the key is decided then, unless pkcs11be alone
 * knows it does not (p11be_keymgmt_fit).
 */
int p11be_keymgmt_import(void *keydata, int selection,
                         const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    int with_private, evp_selection;
    char why[200];
    EVP_PKEY *host;

    if (key == NULL || params == NULL)
        return 0;
    /* Parameters alone: only a curve is worth keeping (EC's ECDHE peers). */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) == 0
            || OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)
                   == NULL)
            return 1;
        return p11be_keymgmt_import_params(key, params);
    }
    with_private =
        (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
        && OSSL_PARAM_locate_const(params, key->kind->private_param) != NULL;
    evp_selection = keymgmt_evp_selection(selection, with_private);
    host = p11be_keymgmt_host_from(key, evp_selection, (OSSL_PARAM *)params);
    if (host == NULL)
        return 0;
    if (!p11be_key_set_host(key, host, with_private)) {
        EVP_PKEY_free(host);
        return 0;
    }
    if (with_private && keymgmt_fit_check(key, NULL, why, sizeof(why)) == 0) {
        P11BE_DEBUG("%s key kept on the host: %s", key->kind->name, why);
        key->fit = P11BE_FIT_HOST;
    }
    return 1;
}

void p11be_keymgmt_free(void *keydata)
{
    p11be_key_free(keydata);
}

int p11be_keymgmt_has(const void *keydata, int selection)
{
    const P11BE_KEY *key = keydata;
    int ok = key != NULL;

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = ok && key->host != NULL && !key->params_only;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        ok = ok && p11be_key_has_private(key);
    return ok;
}

/* The public parts decide: one public key has one private key. */
int p11be_keymgmt_match(const void *keydata1, const void *keydata2,
                        int selection)
{
    const P11BE_KEY *a = keydata1, *b = keydata2;
    int ok = 1;

    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        ok = EVP_PKEY_parameters_eq(a->host, b->host) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = ok && EVP_PKEY_eq(a->host, b->host) == 1;
    return ok;
}

/*
 * The host copy is checked by the default provider; a private half on the
 * token is the token's to keep sound, and is taken as valid.
 */
int p11be_keymgmt_validate(const void *keydata, int selection, int checktype)
{
    const P11BE_KEY *key = keydata;
    EVP_PKEY_CTX *ctx;
    int ok = 1;

    (void)checktype;
    if (key->host == NULL)
        return 0;
    ctx = p11be_key_host_ctx(key);
    if (ctx == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        ok = EVP_PKEY_public_check(ctx) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key->host_private)
        ok = ok && EVP_PKEY_private_check(ctx) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR
        && key->host_private)
        ok = ok && EVP_PKEY_pairwise_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

int p11be_keymgmt_export(void *keydata, int selection, OSSL_CALLBACK *param_cb,
                         void *cbarg)
{
    P11BE_KEY *key = keydata;
    OSSL_PARAM *params = NULL, *p;
    EVP_PKEY *from = key->host;
    int with_private = key->host_private, ok;

    if (key->host == NULL)
        return 0;
    /*
     * The private half of a token key cannot be exported, and a public-only
     * answer to a request that includes it would be taken for the whole
     * key: OpenSSL 3.0 hands a key to the provider its property query
     * prefers by exporting it, and with a public-only copy the default
     * provider's signature fails ("missing private key") where a refusal
     * makes OpenSSL fall back to pkcs11be's own operation. Comparisons
     * (EVP_PKEY_eq) then run in the other direction; an application that
     * wants the public parts asks for them alone (EVP_PKEY_PUBLIC_KEY).
     * An exportable generated pair is the exception: the application asked
     * for a key it can write out, so it gets the private parts too.
     */
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
        && !key->host_private) {
        if (!key->exportable) {
            p11be_raise(key->tc->handle, P11BE_R_NOT_EXTRACTABLE,
                        "the private half of this %s key is on the token and "
                        "cannot be exported (keys generated without "
                        "pkcs11-key-label/-id can be, unless "
                        "pkcs11-keygen-exportable = no)",
                        key->kind->name);
            return 0;
        }
        from = p11be_key_private_host(key);
        if (from == NULL)
            return 0;
        with_private = 1;
    }
    if (EVP_PKEY_todata(from, keymgmt_evp_selection(selection, with_private),
                        &params)
        != 1)
        return 0;
    ok = param_cb(params, cbarg);
    /* OpenSSL 3.0 has no OSSL_PARAM_clear_free(): wipe, then free. */
    for (p = params; p->key != NULL; p++)
        OPENSSL_cleanse(p->data, p->data_size);
    OSSL_PARAM_free(params);
    return ok;
}

/* The default provider's answers: bits, security-bits, max-size, n, e .. */
int p11be_keymgmt_get_params(void *keydata, OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;

    if (key->host == NULL)
        return 1;
    return EVP_PKEY_get_params(key->host, params);
}

/*
 * Keys are immutable, so a full copy is the same key with one more
 * reference; a copy without the private half is a new, public-only key.
 */
void *p11be_keymgmt_dup(const void *keydata_from, int selection)
{
    P11BE_KEY *from = (P11BE_KEY *)keydata_from;
    int want_keypair = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
    OSSL_PARAM *params = NULL;
    int evp_selection, ok;
    P11BE_KEY *key;
    EVP_PKEY *host;

    if (from->host == NULL
        || (!from->params_only && want_keypair
            && ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
                || !p11be_key_has_private(from)))) {
        p11be_key_up_ref(from);
        return from;
    }
    /* A parameters-only copy may be completed later: never shared. */
    evp_selection = from->params_only ? EVP_PKEY_KEY_PARAMETERS
                                      : keymgmt_evp_selection(selection, 0);
    key = p11be_key_new(from->tc, from->kind);
    if (key == NULL)
        return NULL;
    if (EVP_PKEY_todata(from->host, evp_selection, &params) != 1)
        goto out_free_key;
    host = p11be_keymgmt_host_from(key, evp_selection, params);
    OSSL_PARAM_free(params);
    ok = host != NULL
         && (evp_selection == EVP_PKEY_KEY_PARAMETERS
                 ? p11be_key_set_params_host(key, host)
                 : p11be_key_set_host(key, host, 0));
    if (ok)
        return key;
    EVP_PKEY_free(host);
out_free_key:
    p11be_key_free(key);
    return NULL;
}

void *p11be_keymgmt_load(const void *reference, size_t reference_sz,
                         const struct p11be_key_kind *kind)
{
    P11BE_KEY *key;

    if (reference == NULL || reference_sz != sizeof(key))
        return NULL;
    memcpy(&key, reference, sizeof(key));
    if (key == NULL || key->kind != kind)
        return NULL;
    p11be_key_up_ref(key);
    return key;
}

/*
 * How a key pair is made: the pkcs11-keygen-exportable setting for one
 * asked for without a label or id; a persistent key (label or id) is
 * always P11BE_KEYGEN_TOKEN. In pkcs11-offload = keys mode the default is
 * "yes" (only named keys go to the token).
 */
enum p11be_keygen_mode {
    P11BE_KEYGEN_TOKEN,      /* "no": on the token, never leaves it */
    P11BE_KEYGEN_EXPORTABLE, /* "auto" (default): a session pair on the
                                token that the application can write out
                                (keyobj.h); in memory where the token
                                refuses such a pair */
    P11BE_KEYGEN_HOST,       /* "yes": by OpenSSL's default provider, in
                                process memory */
};

/* The mode, or -1 for a bad setting (raised). */
static int keygen_mode(P11BE_PROV_CTX *prov, const char *label, size_t id_len)
{
    static const char *const choices[] = {"auto", "yes", "no", NULL};
    static const int modes[] = {P11BE_KEYGEN_EXPORTABLE, P11BE_KEYGEN_HOST,
                                P11BE_KEYGEN_TOKEN};
    int choice;

    if (label != NULL || id_len > 0)
        return P11BE_KEYGEN_TOKEN;
    /* Keys mode: an unnamed key is a software key unless asked otherwise. */
    choice =
        p11be_config_choice(&prov->config, P11BE_SET_KEYGEN_EXPORTABLE,
                            prov->handle, prov->offload_keys ? 1 : 0, choices);
    return choice < 0 ? -1 : modes[choice];
}

void *p11be_keygen_init(void *provctx, int selection, const OSSL_PARAM params[],
                        const struct p11be_keymgmt_kind *km)
{
    P11BE_GEN_CTX *gctx = OPENSSL_zalloc(sizeof(*gctx));

    if (gctx == NULL)
        return NULL;
    /* Parameters may need the default provider (DH's named groups). */
    if (!p11be_fallback_prepare()) {
        OPENSSL_free(gctx);
        return NULL;
    }
    gctx->prov = provctx;
    gctx->km = km;
    gctx->selection = selection;
    if (!p11be_keygen_set_params(gctx, params)) {
        p11be_keygen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

void p11be_keygen_cleanup(void *genctx)
{
    P11BE_GEN_CTX *gctx = genctx;

    if (gctx == NULL)
        return;
    EVP_PKEY_free(gctx->domain);
    OSSL_PARAM_free(gctx->extra);
    BN_free(gctx->e);
    OPENSSL_free(gctx->label);
    OPENSSL_free(gctx->id);
    OPENSSL_free(gctx);
    p11be_fallback_release();
}

/* Reads pkcs11-key-label and pkcs11-key-id; 0 with *bad on a bad one. */
static int keygen_token_params(P11BE_GEN_CTX *gctx, const OSSL_PARAM params[],
                               const OSSL_PARAM **bad)
{
    const OSSL_PARAM *p;

    p = OSSL_PARAM_locate_const(params, P11BE_KEYGEN_PARAM_LABEL);
    if (p != NULL) {
        OPENSSL_free(gctx->label);
        gctx->label = NULL;
        if (!OSSL_PARAM_get_utf8_string(p, &gctx->label, 0)) {
            *bad = p;
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, P11BE_KEYGEN_PARAM_ID);
    if (p != NULL) {
        OPENSSL_free(gctx->id);
        gctx->id = NULL;
        gctx->id_len = 0;
        if (!OSSL_PARAM_get_octet_string(p, (void **)&gctx->id, 0,
                                         &gctx->id_len)) {
            *bad = p;
            return 0;
        }
    }
    return 1;
}

int p11be_keygen_set_params(void *genctx, const OSSL_PARAM params[])
{
    P11BE_GEN_CTX *gctx = genctx;
    const struct p11be_keymgmt_kind *km = gctx->km;
    const OSSL_PARAM *p = NULL;
    const char *name = NULL;

    /* NULL params too: a type's hook may set its defaults (RSA). */
    if (km->gen_group != NULL
        && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME))
               != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            goto out_bad;
        if (!km->gen_group(gctx, name))
            return 0;
    }
    if (!keygen_token_params(gctx, params, &p))
        goto out_bad;
    return km->gen_set_params == NULL || km->gen_set_params(gctx, params);

out_bad:
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s key generation: bad \"%s\" parameter", km->kind->name,
                p->key);
    return 0;
}

int p11be_keygen_set_template(void *genctx, void *templ)
{
    P11BE_GEN_CTX *gctx = genctx;

    return gctx->km->gen_template_key(gctx, templ);
}

/* A key made by the default provider, private half on the host. */
static int keygen_on_host(P11BE_KEY *key, const void *arg)
{
    const P11BE_GEN_CTX *gctx = arg;
    OSSL_LIB_CTX *libctx = p11be_fallback_libctx();
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *host = NULL;
    int ok;

    ctx = gctx->domain != NULL
              ? EVP_PKEY_CTX_new_from_pkey(libctx, gctx->domain, NULL)
              : EVP_PKEY_CTX_new_from_name(libctx, key->kind->name, NULL);
    ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1
         && (gctx->group == NULL
             || EVP_PKEY_CTX_set_group_name(ctx, gctx->group) == 1)
         && (gctx->km->gen_host_params == NULL
             || gctx->km->gen_host_params(gctx, ctx))
         && EVP_PKEY_generate(ctx, &host) == 1
         && p11be_key_set_host(key, host, 1);
    EVP_PKEY_CTX_free(ctx);
    if (ok)
        return 1;
    EVP_PKEY_free(host);
    p11be_raise(key->tc->handle, P11BE_R_FALLBACK_FAILED,
                "%s key generation on the host failed", key->kind->name);
    return 0;
}

/*
 * Parameter generation (selection: domain parameters only): a key that
 * names its group and nothing else, as libssl makes for an ECDHE or FFDHE
 * peer before it sets the peer's public key (p11be_keymgmt_set_params).
 * No token call. Without a group, an empty key.
 */
static int keygen_params_only(P11BE_GEN_CTX *gctx, P11BE_KEY *key)
{
    OSSL_PARAM params[2];
    EVP_PKEY *host = gctx->domain;

    if (host != NULL && !EVP_PKEY_up_ref(host))
        return 0;
    if (host == NULL && gctx->group != NULL) {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *)gctx->group, 0);
        params[1] = OSSL_PARAM_construct_end();
        host = p11be_keymgmt_host_from(key, EVP_PKEY_KEY_PARAMETERS, params);
        if (host == NULL)
            return 0;
    }
    if (host == NULL || p11be_key_set_params_host(key, host))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

/* The pair on the token, as `mode` says. */
static int keygen_token(P11BE_GEN_CTX *gctx, P11BE_KEY *key, int mode)
{
    static const struct {
        unsigned int flag;      /* P11BE_GEN_* */
        CK_ATTRIBUTE_TYPE type; /* its attribute */
        int pub;                /* on the public key */
    } uses[] = {
        {P11BE_GEN_VERIFY, CKA_VERIFY, 1}, {P11BE_GEN_ENCRYPT, CKA_ENCRYPT, 1},
        {P11BE_GEN_SIGN, CKA_SIGN, 0},     {P11BE_GEN_DECRYPT, CKA_DECRYPT, 0},
        {P11BE_GEN_DERIVE, CKA_DERIVE, 0},
    };
    const struct p11be_keymgmt_kind *km = gctx->km;
    P11BE_ATTRS pub = {0}, priv = {0};
    size_t i;
    struct p11be_keygen gen = {
        km->gen_mech, km->gen_mech_name, &pub,        &priv, gctx->label,
        gctx->id,     gctx->id_len,      gctx->extra, 0,
    };
    unsigned int use = km->gen_use, deny = km->gen_deny;
    CK_MECHANISM_INFO info;
    int done = 0;

    if (km->gen_if_mech != 0
        && p11be_mech_lookup(&gctx->prov->tc, km->gen_if_mech, NULL, &info)
               == 1) {
        use |= km->gen_if_use;
        deny |= km->gen_if_deny;
    }
    for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
        if (((use | deny) & uses[i].flag) != 0)
            p11be_attrs_add_bool(uses[i].pub ? &pub : &priv, uses[i].type,
                                 (use & uses[i].flag) != 0);
    if (km->gen_template(gctx, &pub)) {
        gen.exportable = mode == P11BE_KEYGEN_EXPORTABLE;
        done = p11be_key_generate(key, &gen);
        if (done < 0) {
            P11BE_DEBUG("%s key pair made in process memory instead",
                        key->kind->name);
            done = keygen_on_host(key, gctx);
        }
    }
    p11be_attrs_free(&pub);
    p11be_attrs_free(&priv);
    return done;
}

/*
 * Whether the token makes and takes the pair asked for: the type's check,
 * then its generation mechanism. 1, 0 (why), or -1 (raised).
 */
static int keygen_token_fit(P11BE_GEN_CTX *gctx, char *why, size_t why_len)
{
    const struct p11be_keymgmt_kind *km = gctx->km;
    P11BE_TOKEN_CTX *tc = &gctx->prov->tc;
    size_t bits = gctx->bits;
    int ok;

    if (km->token_fit == NULL)
        return 1;
    if (bits == 0 && gctx->domain != NULL
        && EVP_PKEY_get_bits(gctx->domain) > 0)
        bits = (size_t)EVP_PKEY_get_bits(gctx->domain);
    /* Explicit EC parameters name no group for the token. */
    ok = km->token_fit(tc, gctx->explicit_ec ? NULL : gctx->group, bits, why,
                       why_len);
    if (ok > 0)
        ok = p11be_keymgmt_mech_fit(tc, &km->gen_mech, &km->gen_mech_name, 1,
                                    bits, "keys", why, why_len);
    return ok;
}

/*
 * A pair the token cannot make or hold (keygen_token_fit): made by the
 * default provider, a host key (counted as delegated), where nothing asks
 * for the token: 1, or 0 (raised) for a persistent pair (label or id), a
 * pair that must stay on the token (pkcs11-keygen-exportable = no) or
 * pkcs11-delegate = no.
 */
static int keygen_lacking(P11BE_GEN_CTX *gctx, P11BE_KEY *key, int mode,
                          const char *why)
{
    const char *name = key->kind->name;
    int allowed = 1;

    if (mode == P11BE_KEYGEN_TOKEN
        || (allowed = p11be_delegate_allowed(gctx->prov)) <= 0) {
        if (allowed == 0 || mode == P11BE_KEYGEN_TOKEN)
            p11be_raise(gctx->prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                        "%s key generation%s%s: the token cannot hold the key "
                        "(%s), and %s",
                        name, gctx->group != NULL ? " on " : "",
                        gctx->group != NULL ? gctx->group : "", why,
                        mode != P11BE_KEYGEN_TOKEN
                            ? "pkcs11-delegate = no forbids the default "
                              "provider"
                        : gctx->label != NULL || gctx->id_len > 0
                            ? "a key with pkcs11-key-label/-id is a token key"
                            : "pkcs11-keygen-exportable = no keeps keys on "
                              "the token");
        return 0;
    }
    if (!keygen_on_host(key, gctx))
        return 0;
    key->fit = P11BE_FIT_HOST;
    p11be_delegated_note(gctx->prov, "key generation the token lacks");
    return 1;
}

void *p11be_keygen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    P11BE_GEN_CTX *gctx = genctx;
    const struct p11be_keymgmt_kind *km = gctx->km;
    int reentered = p11be_reentered(), mode, ok, fit;
    char why[200];
    P11BE_KEY *key;

    (void)cb; /* the token reports no progress */
    (void)cbarg;
    if (reentered && !km->host_when_reentered) {
        p11be_raise(gctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s key generation requested from inside a token call",
                    km->kind->name);
        return NULL;
    }
    key = p11be_key_new(&gctx->prov->tc, km->kind);
    if (key == NULL)
        return NULL;
    if ((gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        ok = keygen_params_only(gctx, key);
        goto out;
    }
    ok = km->gen_prepare == NULL ? 1 : km->gen_prepare(gctx, key);
    if (ok != 1)
        goto out;
    /*
     * The module itself asking (SoftHSM2 makes its EdDSA keys with
     * EVP_PKEY_keygen), or keys in memory wanted: a software key from the
     * default provider.
     */
    mode = reentered ? P11BE_KEYGEN_HOST
                     : keygen_mode(gctx->prov, gctx->label, gctx->id_len);
    fit = mode == P11BE_KEYGEN_HOST || mode < 0
              ? 1
              : keygen_token_fit(gctx, why, sizeof(why));
    if (mode < 0 || fit < 0)
        ok = 0;
    else if (fit == 0)
        ok = keygen_lacking(gctx, key, mode, why);
    else if (mode == P11BE_KEYGEN_HOST)
        ok = keygen_on_host(key, gctx);
    else
        ok = keygen_token(gctx, key, mode);
out:
    if (ok)
        return key;
    p11be_key_free(key);
    return NULL;
}

int p11be_keymgmt_set_params(void *keydata, const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    const void *pub = NULL;
    size_t pub_len = 0;
    EVP_PKEY *host;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_octet_string_ptr(p, &pub, &pub_len)) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be an octet string", p->key);
        return 0;
    }
    if (!key->params_only) {
        p11be_raise(key->tc->handle, P11BE_R_BAD_STATE,
                    "only a %s key holding domain parameters alone takes "
                    "\"%s\"",
                    key->kind->name, p->key);
        return 0;
    }
    /* The default provider checks the key (an EC point on the curve). */
    host = EVP_PKEY_dup(key->host);
    if (host != NULL && EVP_PKEY_set1_encoded_public_key(host, pub, pub_len)
        && p11be_key_set_public(key, host))
        return 1;
    EVP_PKEY_free(host);
    p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                "OpenSSL's default provider refuses this %s public key",
                key->kind->name);
    return 0;
}

const OSSL_PARAM *p11be_keymgmt_settable_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return settable;
}
