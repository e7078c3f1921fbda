/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keymgmt "ED25519" and "ED448": EdDSA keys as P11BE_KEY (keyobj.h), with
 * the functions all key types share from keymgmt.c.
 *
 * On the token they are CKK_EC_EDWARDS objects whose CKA_EC_PARAMS is the
 * curve's OID (id-Ed25519, id-Ed448, as SoftHSM2 takes them); an imported
 * private key is CKA_VALUE, the raw private key of RFC 8032. Generation
 * runs on the token with CKM_EC_EDWARDS_KEY_PAIR_GEN, as a session pair
 * or a persistent one with pkcs11-key-label and/or pkcs11-key-id, as for
 * RSA; the public key (CKA_EC_POINT, a DER OCTET STRING or raw) becomes
 * the host copy.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "err.h"
#include "keymgmt.h"
#include "keyobj.h"
#include "names.h"
#include "reentry.h"

#define ED_KEY_MAX 57 /* Ed448 */

static OSSL_FUNC_keymgmt_new_fn ed25519_new;
static OSSL_FUNC_keymgmt_new_fn ed448_new;
static OSSL_FUNC_keymgmt_load_fn ed25519_load;
static OSSL_FUNC_keymgmt_load_fn ed448_load;
static OSSL_FUNC_keymgmt_import_types_fn ed_key_types;
static OSSL_FUNC_keymgmt_gettable_params_fn ed_gettable_params;
static OSSL_FUNC_keymgmt_query_operation_name_fn ed25519_query_operation_name;
static OSSL_FUNC_keymgmt_query_operation_name_fn ed448_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn ed25519_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn ed448_gen_init;
static OSSL_FUNC_keymgmt_gen_set_params_fn ed_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn ed_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_fn ed_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn ed_gen_cleanup;

/* What differs between Ed25519 and Ed448. */
struct ed_curve {
    const struct p11be_key_kind *kind; /* the key type */
    unsigned char oid[5];              /* DER OID: CKA_EC_PARAMS */
    size_t key_len;                    /* bytes in a raw key */
};

struct ed_gen_ctx_st {
    P11BE_PROV_CTX *prov;         /* provider that made us */
    const struct ed_curve *curve; /* Ed25519 or Ed448 */
    int selection;                /* what to generate */
    char *label;                  /* pkcs11-key-label, or NULL */
    unsigned char *id;            /* pkcs11-key-id, or NULL */
    size_t id_len;                /* bytes in id */
};

typedef struct ed_gen_ctx_st ED_GEN_CTX;

static int ed_private_attrs(const P11BE_KEY *key, P11BE_ATTRS *attrs);
static int ed_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra);
static OSSL_PARAM *ed_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                         CK_OBJECT_HANDLE obj);

const struct p11be_key_kind p11be_kind_ed25519 = {
    "ED25519",        CKK_EC_EDWARDS,       OSSL_PKEY_PARAM_PRIV_KEY,
    ed_private_attrs, ed_public_from_token, ed_private_from_token,
};

const struct p11be_key_kind p11be_kind_ed448 = {
    "ED448",          CKK_EC_EDWARDS,       OSSL_PKEY_PARAM_PRIV_KEY,
    ed_private_attrs, ed_public_from_token, ed_private_from_token,
};

static const struct ed_curve ed25519_curve = {
    &p11be_kind_ed25519,
    {0x06, 0x03, 0x2b, 0x65, 0x70},
    32,
};

static const struct ed_curve ed448_curve = {
    &p11be_kind_ed448,
    {0x06, 0x03, 0x2b, 0x65, 0x71},
    57,
};

static const struct ed_curve *ed_curve_of(const P11BE_KEY *key)
{
    return key->kind == &p11be_kind_ed448 ? &ed448_curve : &ed25519_curve;
}

const struct p11be_key_kind *p11be_ed_kind_of(const unsigned char *params,
                                              size_t len)
{
    /* RFC 8410 OIDs, and the curve names PKCS#11 3.0 also allows. */
    static const unsigned char name25519[] = {
        0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};
    static const unsigned char name448[] = {0x13, 0x0a, 'e', 'd', 'w', 'a',
                                            'r',  'd',  's', '4', '4', '8'};

    if ((len == sizeof(ed25519_curve.oid)
         && memcmp(params, ed25519_curve.oid, len) == 0)
        || (len == sizeof(name25519) && memcmp(params, name25519, len) == 0))
        return &p11be_kind_ed25519;
    if ((len == sizeof(ed448_curve.oid)
         && memcmp(params, ed448_curve.oid, len) == 0)
        || (len == sizeof(name448) && memcmp(params, name448, len) == 0))
        return &p11be_kind_ed448;
    return NULL;
}

/* CKA_EC_PARAMS and CKA_VALUE, the raw private key. */
static int ed_private_attrs(const P11BE_KEY *key, P11BE_ATTRS *attrs)
{
    const struct ed_curve *curve = ed_curve_of(key);
    unsigned char priv[ED_KEY_MAX];
    size_t len = 0;

    if (!EVP_PKEY_get_octet_string_param(key->host, OSSL_PKEY_PARAM_PRIV_KEY,
                                         priv, sizeof(priv), &len)
        || len != curve->key_len) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the %s private key lacks its value", key->kind->name);
        OPENSSL_cleanse(priv, sizeof(priv));
        return 0;
    }
    p11be_attrs_add(attrs, CKA_EC_PARAMS, curve->oid, sizeof(curve->oid));
    p11be_attrs_add(attrs, CKA_VALUE, priv, len);
    OPENSSL_cleanse(priv, sizeof(priv));
    return 1;
}

static void *ed25519_new(void *provctx)
{
    return p11be_key_new(p11be_tc(provctx), &p11be_kind_ed25519);
}

static void *ed448_new(void *provctx)
{
    return p11be_key_new(p11be_tc(provctx), &p11be_kind_ed448);
}

/* Token keys from the store (store.c). */
static void *ed25519_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_ed25519);
}

static void *ed448_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_ed448);
}

static const OSSL_PARAM *ed_key_types(int selection)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        return NULL;
    return types;
}

static const OSSL_PARAM *ed_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

static const char *ed25519_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

static const char *ed448_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED448" : NULL;
}

/* ---- generation on the token -------------------------------------------- */

static void *ed_gen_init(void *provctx, int selection,
                         const OSSL_PARAM params[],
                         const struct ed_curve *curve)
{
    ED_GEN_CTX *gctx = OPENSSL_zalloc(sizeof(*gctx));

    if (gctx == NULL)
        return NULL;
    gctx->prov = provctx;
    gctx->curve = curve;
    gctx->selection = selection;
    if (!ed_gen_set_params(gctx, params)) {
        ed_gen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

static void *ed25519_gen_init(void *provctx, int selection,
                              const OSSL_PARAM params[])
{
    return ed_gen_init(provctx, selection, params, &ed25519_curve);
}

static void *ed448_gen_init(void *provctx, int selection,
                            const OSSL_PARAM params[])
{
    return ed_gen_init(provctx, selection, params, &ed448_curve);
}

static void ed_gen_cleanup(void *genctx)
{
    ED_GEN_CTX *gctx = genctx;

    if (gctx == NULL)
        return;
    OPENSSL_free(gctx->label);
    OPENSSL_free(gctx->id);
    OPENSSL_free(gctx);
}

static int ed_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    ED_GEN_CTX *gctx = genctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (!p11be_keygen_token_params(params, &gctx->label, &gctx->id,
                                   &gctx->id_len, &p))
        goto out_bad;
    return 1;

out_bad:
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s key generation: bad \"%s\" parameter",
                gctx->curve->kind->name, p->key);
    return 0;
}

static const OSSL_PARAM *ed_gen_settable_params(void *genctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(P11BE_KEYGEN_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_octet_string(P11BE_KEYGEN_PARAM_ID, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return settable;
}

/* The host copy from a token public key's CKA_EC_POINT. */
static int ed_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    const struct ed_curve *curve = ed_curve_of(key);
    CK_ATTRIBUTE tmpl[] = {{CKA_EC_POINT, NULL, 0}};
    const unsigned char *pub;
    size_t pub_len;
    OSSL_PARAM params[2];
    int ok = 0;

    (void)extra;
    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 1,
                                "the EdDSA key's CKA_EC_POINT"))
        return 0;
    p11be_ec_point_of(tmpl[0].pValue, tmpl[0].ulValueLen, &pub, &pub_len);
    if (pub_len != curve->key_len) {
        p11be_raise(key->tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "the token's %s public key is %zu bytes, not %zu",
                    curve->kind->name, pub_len, curve->key_len);
        goto out_free;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)pub, pub_len);
    params[1] = OSSL_PARAM_construct_end();
    ok = p11be_keymgmt_set_public_from(key, params);
out_free:
    p11be_token_free_attrs(tmpl, 1);
    return ok;
}

/*
 * CKA_VALUE of an exportable pair: the raw private key of RFC 8032, or
 * that key in a DER OCTET STRING, as some tokens give it.
 */
static OSSL_PARAM *ed_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                         CK_OBJECT_HANDLE obj)
{
    const struct ed_curve *curve = ed_curve_of(key);
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE, NULL, 0}};
    const unsigned char *priv;
    OSSL_PARAM params[2], *dup = NULL;
    size_t priv_len;

    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 1,
                                "the EdDSA private key's CKA_VALUE"))
        return NULL;
    p11be_ec_point_of(tmpl[0].pValue, tmpl[0].ulValueLen, &priv, &priv_len);
    if (priv_len != curve->key_len) {
        p11be_raise(key->tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "the token's %s private key is %zu bytes, not %zu",
                    curve->kind->name, priv_len, curve->key_len);
    } else {
        params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                                      (void *)priv, priv_len);
        params[1] = OSSL_PARAM_construct_end();
        dup = OSSL_PARAM_dup(params);
        if (dup == NULL)
            p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                        "holding the %s private key read from the token",
                        curve->kind->name);
    }
    p11be_token_free_secret(tmpl, 1);
    return dup;
}

/* A key made by the default provider, private half on the host. */
static int ed_gen_on_host(P11BE_KEY *key, const void *unused)
{
    EVP_PKEY *host =
        EVP_PKEY_Q_keygen(p11be_fallback_libctx(), NULL, key->kind->name);

    if (host != NULL && p11be_key_set_host(key, host, 1))
        return 1;
    EVP_PKEY_free(host);
    (void)unused;
    p11be_raise(key->tc->handle, P11BE_R_FALLBACK_FAILED,
                "%s key generation on the host failed", key->kind->name);
    return 0;
}

static void *ed_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    ED_GEN_CTX *gctx = genctx;
    P11BE_ATTRS pub = {0}, priv = {0};
    struct p11be_keygen gen = {
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        &pub,
        &priv,
        gctx->label,
        gctx->id,
        gctx->id_len,
        NULL,
        0,
    };
    P11BE_KEY *key;
    int mode, ok;

    (void)cb; /* the token reports no progress */
    (void)cbarg;
    key = p11be_key_new(&gctx->prov->tc, gctx->curve->kind);
    if (key == NULL || (gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        return key;
    /*
     * The module itself asking (SoftHSM2 makes its EdDSA keys with
     * EVP_PKEY_keygen), or keys in memory wanted: a software key from the
     * default provider.
     */
    mode = p11be_reentered()
               ? P11BE_KEYGEN_HOST
               : p11be_keygen_mode(gctx->prov, gctx->label, gctx->id_len);
    if (mode < 0 || mode == P11BE_KEYGEN_HOST) {
        if (mode >= 0 && ed_gen_on_host(key, NULL))
            return key;
        p11be_key_free(key);
        return NULL;
    }
    p11be_attrs_add(&pub, CKA_EC_PARAMS, gctx->curve->oid,
                    sizeof(gctx->curve->oid));
    p11be_attrs_add_bool(&pub, CKA_VERIFY, 1);
    p11be_attrs_add_bool(&pub, CKA_ENCRYPT, 0);
    p11be_attrs_add_bool(&priv, CKA_SIGN, 1);
    p11be_attrs_add_bool(&priv, CKA_DECRYPT, 0);
    p11be_attrs_add_bool(&priv, CKA_DERIVE, 0);
    ok = p11be_keygen_run(key, &gen, mode, ed_gen_on_host, NULL);
    p11be_attrs_free(&pub);
    p11be_attrs_free(&priv);
    if (ok)
        return key;
    p11be_key_free(key);
    return NULL;
}

const OSSL_DISPATCH p11be_keymgmt_ed25519_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ed25519_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ed25519_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))p11be_keymgmt_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ed_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ed_key_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p11be_keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ed_gettable_params},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))ed25519_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ed25519_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))ed_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))ed_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))ed_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))ed_gen_cleanup},
    {0, NULL},
};

const OSSL_DISPATCH p11be_keymgmt_ed448_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ed448_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ed448_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))p11be_keymgmt_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ed_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ed_key_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p11be_keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ed_gettable_params},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))ed448_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ed448_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))ed_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))ed_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))ed_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))ed_gen_cleanup},
    {0, NULL},
};
