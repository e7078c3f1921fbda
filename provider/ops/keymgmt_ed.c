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
#include "pkey_op.h"

#define ED_KEY_MAX 57 /* Ed448 */

/* What differs between Ed25519 and Ed448. */
struct ed_curve {
    const struct p11be_key_kind *kind; /* the key type */
    unsigned char oid[5];              /* DER OID: CKA_EC_PARAMS */
    size_t key_len;                    /* bytes in a raw key */
};

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

static const struct ed_curve *ed_curve_of(const struct p11be_key_kind *kind)
{
    return kind == &p11be_kind_ed448 ? &ed448_curve : &ed25519_curve;
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
    const struct ed_curve *curve = ed_curve_of(key->kind);
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

#define ED_KEY_TYPES                                                           \
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),                 \
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0)

static const OSSL_PARAM ed_key_types_table[] = {ED_KEY_TYPES, OSSL_PARAM_END};
static const OSSL_PARAM ed_gettable[] = {
    P11BE_KEYMGMT_GETTABLE_COMMON,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    ED_KEY_TYPES,
    OSSL_PARAM_END,
};

P11BE_KEY_TYPES_FN(ed_key_types, ed_key_types_table,
                   OSSL_KEYMGMT_SELECT_KEYPAIR)
P11BE_KEYMGMT_GETTABLE_FN(ed_gettable_params, ed_gettable)

/* The host copy from a token public key's CKA_EC_POINT. */
static int ed_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    const struct ed_curve *curve = ed_curve_of(key->kind);
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
    const struct ed_curve *curve = ed_curve_of(key->kind);
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

/* CKM_EDDSA for either curve: PKCS#11 names no size for them. */
static int ed_token_fit(P11BE_TOKEN_CTX *tc, char *why, size_t why_len)
{
    static const CK_MECHANISM_TYPE mech = CKM_EDDSA;
    static const char *const name = "CKM_EDDSA";

    return tc == NULL
           || p11be_keymgmt_mech_fit(tc, &mech, &name, 1, 0, "keys", why,
                                     why_len);
}

int p11be_ed25519_token_fit(P11BE_TOKEN_CTX *tc, const char *group, size_t bits,
                            char *why, size_t why_len)
{
    (void)group;
    (void)bits;
    return ed_token_fit(tc, why, why_len);
}

int p11be_ed448_token_fit(P11BE_TOKEN_CTX *tc, const char *group, size_t bits,
                          char *why, size_t why_len)
{
    (void)group;
    (void)bits;
    return ed_token_fit(tc, why, why_len);
}

static int ed_gen_template(P11BE_GEN_CTX *gctx, P11BE_ATTRS *pub)
{
    const struct ed_curve *curve = ed_curve_of(gctx->km->kind);

    p11be_attrs_add(pub, CKA_EC_PARAMS, curve->oid, sizeof(curve->oid));
    return 1;
}

/* The same for both but the kind. */
#define ED_KEYMGMT_KIND(kind_row, ed_fit_fn)                                   \
    {                                                                          \
        .kind = kind_row, .gen_mech = CKM_EC_EDWARDS_KEY_PAIR_GEN,             \
        .gen_mech_name = "CKM_EC_EDWARDS_KEY_PAIR_GEN",                        \
        .gen_use = P11BE_GEN_VERIFY | P11BE_GEN_SIGN,                          \
        .gen_deny = P11BE_GEN_ENCRYPT | P11BE_GEN_DECRYPT | P11BE_GEN_DERIVE,  \
        .host_when_reentered = 1, .gen_template = ed_gen_template,             \
        .token_fit = ed_fit_fn,                                                \
    }

static const struct p11be_keymgmt_kind ed25519_keymgmt =
    ED_KEYMGMT_KIND(&p11be_kind_ed25519, p11be_ed25519_token_fit);
static const struct p11be_keymgmt_kind ed448_keymgmt =
    ED_KEYMGMT_KIND(&p11be_kind_ed448, p11be_ed448_token_fit);

static const OSSL_PARAM ed_gen_settable[] = {
    P11BE_KEYGEN_SETTABLE,
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(ed_gen_settable_params, ed_gen_settable)

P11BE_KEYMGMT_KIND_FNS(ed25519_new, ed25519_load, ed25519_gen_init,
                       ed25519_keymgmt)
P11BE_KEYMGMT_KIND_FNS(ed448_new, ed448_load, ed448_gen_init, ed448_keymgmt)

static const char *ed25519_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

static const char *ed448_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED448" : NULL;
}

/* Both tables but the names. */
#define ED_FUNCTIONS(new_fn, load_fn, gen_init_fn, query_fn)                   \
    P11BE_KEYMGMT_FUNCTIONS(new_fn, load_fn, gen_init_fn,                      \
                            p11be_keymgmt_import, ed_key_types,                \
                            ed_gettable_params, ed_gen_settable_params),       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, query_fn)

const OSSL_DISPATCH p11be_keymgmt_ed25519_functions[] = {
    ED_FUNCTIONS(ed25519_new, ed25519_load, ed25519_gen_init,
                 ed25519_query_operation_name),
    {0, NULL},
};

const OSSL_DISPATCH p11be_keymgmt_ed448_functions[] = {
    ED_FUNCTIONS(ed448_new, ed448_load, ed448_gen_init,
                 ed448_query_operation_name),
    {0, NULL},
};
