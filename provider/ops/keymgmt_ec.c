/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keymgmt "EC": elliptic-curve keys on named curves (P-256, P-384, P-521,
 * and secp256k1 where the token has it) as P11BE_KEY (keyobj.h), with the
 * functions all key types share from keymgmt.c.
 *
 * Import keeps a host copy (OpenSSL's default provider checks the curve
 * and that the point is on it) and makes the token objects when an
 * operation first needs them: a CKO_PRIVATE_KEY/CKK_EC session object,
 * sensitive and not extractable, with CKA_EC_PARAMS (the curve's OID) and
 * CKA_VALUE (the private scalar). Public-key operations run on the host
 * copy. Explicit curve parameters are refused: PKCS#11 tokens work with
 * named curves, and OpenSSL itself deprecates explicit ones.
 *
 * Generation runs on the token (CKM_EC_KEY_PAIR_GEN with CKA_EC_PARAMS
 * the named curve's OID) as a session key pair, or a persistent one when
 * pkcs11-key-label and/or pkcs11-key-id is given, as for RSA:
 *
 *   openssl genpkey -provider pkcs11be -algorithm EC \
 *       -pkeyopt ec_paramgen_curve:P-256 -pkeyopt pkcs11-key-label:signer
 *
 * The public point (CKA_EC_POINT, DER OCTET STRING or raw as the token
 * gives it) becomes the host copy.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "err.h"
#include "keymgmt.h"
#include "keyobj.h"
#include "names.h"
#include "reentry.h"

#define EC_OID_MAX 16

static OSSL_FUNC_keymgmt_new_fn ec_new;
static OSSL_FUNC_keymgmt_load_fn ec_load;
static OSSL_FUNC_keymgmt_import_fn ec_import;
static OSSL_FUNC_keymgmt_import_types_fn ec_key_types;
static OSSL_FUNC_keymgmt_gettable_params_fn ec_gettable_params;
static OSSL_FUNC_keymgmt_set_params_fn ec_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn ec_settable_params;
static OSSL_FUNC_keymgmt_query_operation_name_fn ec_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn ec_gen_init;
static OSSL_FUNC_keymgmt_gen_set_template_fn ec_gen_set_template;
static OSSL_FUNC_keymgmt_gen_set_params_fn ec_gen_set_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn ec_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_fn ec_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn ec_gen_cleanup;

/* A named curve pkcs11be offers. */
struct ec_curve {
    int nid;                       /* OpenSSL's NID */
    const char *name;              /* OpenSSL's group name */
    unsigned char oid[EC_OID_MAX]; /* DER OBJECT IDENTIFIER: CKA_EC_PARAMS */
    size_t oid_len;                /* bytes in oid */
};

static const struct ec_curve ec_curves[] = {
    {NID_X9_62_prime256v1,
     "prime256v1",
     {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07},
     10},
    {NID_secp384r1, "secp384r1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 7},
    {NID_secp521r1, "secp521r1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, 7},
    {NID_secp256k1, "secp256k1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, 7},
};

#define EC_CURVES_OFFERED "P-256, P-384, P-521 and secp256k1"

struct ec_gen_ctx_st {
    P11BE_PROV_CTX *prov;         /* provider that made us */
    int selection;                /* what to generate */
    const struct ec_curve *curve; /* NULL until a group is set */
    char *label;                  /* pkcs11-key-label, or NULL */
    unsigned char *id;            /* pkcs11-key-id, or NULL */
    size_t id_len;                /* bytes in id */
};

typedef struct ec_gen_ctx_st EC_GEN_CTX;

/* The row for a group name in any of OpenSSL's spellings, or NULL. */
static const struct ec_curve *ec_curve_by_name(const char *name)
{
    int nid = OBJ_sn2nid(name);
    size_t i;

    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(name);
    if (nid == NID_undef)
        nid = OBJ_txt2nid(name);
    for (i = 0;
         nid != NID_undef && i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
        if (ec_curves[i].nid == nid)
            return &ec_curves[i];
    return NULL;
}

/* The row for a host key's group; raises and returns NULL if none. */
static const struct ec_curve *ec_curve_of(const P11BE_KEY *key)
{
    char name[64];
    const struct ec_curve *curve = NULL;

    if (key->host != NULL
        && EVP_PKEY_get_utf8_string_param(key->host, OSSL_PKEY_PARAM_GROUP_NAME,
                                          name, sizeof(name), NULL))
        curve = ec_curve_by_name(name);
    if (curve == NULL)
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "the EC key is not on a named curve pkcs11be offers (%s)",
                    EC_CURVES_OFFERED);
    return curve;
}

/* CKA_EC_PARAMS and CKA_VALUE (the scalar, left-padded to the order). */
static int ec_private_attrs(const P11BE_KEY *key, P11BE_ATTRS *attrs)
{
    const struct ec_curve *curve = ec_curve_of(key);
    BIGNUM *d = NULL;
    unsigned char *buf;
    int len;

    if (curve == NULL)
        return 0;
    if (!EVP_PKEY_get_bn_param(key->host, OSSL_PKEY_PARAM_PRIV_KEY, &d)) {
        p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                    "the EC private key lacks its scalar");
        return 0;
    }
    len = (EVP_PKEY_get_bits(key->host) + 7) / 8;
    buf = OPENSSL_malloc(len);
    if (buf == NULL || BN_bn2binpad(d, buf, len) != len) {
        attrs->failed = 1;
    } else {
        p11be_attrs_add(attrs, CKA_EC_PARAMS, curve->oid, curve->oid_len);
        p11be_attrs_add(attrs, CKA_VALUE, buf, len);
    }
    OPENSSL_clear_free(buf, len);
    BN_clear_free(d);
    return 1;
}

static int ec_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra);

/* CKA_VALUE, the scalar of an exportable pair. */
static OSSL_PARAM *ec_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                         CK_OBJECT_HANDLE obj)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE, NULL, 0}};
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *d = NULL;

    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 1,
                                "the EC private key's CKA_VALUE"))
        return NULL;
    if ((d = BN_secure_new()) != NULL
        && BN_bin2bn(tmpl[0].pValue, (int)tmpl[0].ulValueLen, d) != NULL
        && (bld = OSSL_PARAM_BLD_new()) != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
        params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        p11be_raise(key->tc->handle, P11BE_R_OUT_OF_MEMORY,
                    "holding the EC private key read from the token");
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    p11be_token_free_secret(tmpl, 1);
    return params;
}

const struct p11be_key_kind p11be_kind_ec = {
    "EC",
    CKK_EC,
    OSSL_PKEY_PARAM_PRIV_KEY,
    ec_private_attrs,
    ec_public_from_token,
    ec_private_from_token,
};

/* The row whose OID is CKA_EC_PARAMS `params`, or NULL. */
static const struct ec_curve *ec_curve_by_oid(const unsigned char *params,
                                              size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
        if (ec_curves[i].oid_len == len
            && memcmp(ec_curves[i].oid, params, len) == 0)
            return &ec_curves[i];
    return NULL;
}

/*
 * The host copy from a token object's CKA_EC_PARAMS (a named curve's OID)
 * and CKA_EC_POINT (DER OCTET STRING, or raw as some tokens give it).
 * Private-key objects have no CKA_EC_POINT: the public object it is.
 */
static int ec_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    CK_ATTRIBUTE tmpl[] = {
        {CKA_EC_PARAMS, NULL, 0},
        {CKA_EC_POINT, NULL, 0},
    };
    const struct ec_curve *curve;
    const unsigned char *point;
    size_t point_len;
    OSSL_PARAM params[3];
    int ok = 0;

    (void)extra;
    if (!p11be_token_read_attrs(key->tc, sess, obj, tmpl, 2,
                                "the EC key's CKA_EC_PARAMS and "
                                "CKA_EC_POINT"))
        return 0;
    curve = ec_curve_by_oid(tmpl[0].pValue, tmpl[0].ulValueLen);
    if (curve == NULL) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "the token's EC key is not on a named curve pkcs11be "
                    "offers (%s)",
                    EC_CURVES_OFFERED);
        goto out_free;
    }
    p11be_ec_point_of(tmpl[1].pValue, tmpl[1].ulValueLen, &point, &point_len);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)curve->name, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)point, point_len);
    params[2] = OSSL_PARAM_construct_end();
    ok = p11be_keymgmt_set_public_from(key, params);
out_free:
    p11be_token_free_attrs(tmpl, 2);
    return ok;
}

static void *ec_new(void *provctx)
{
    return p11be_key_new(p11be_tc(provctx), &p11be_kind_ec);
}

/* A token key from the store (store.c). */
static void *ec_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_ec);
}

/* Whether params do not ask for explicit curve parameters. */
static int ec_named_encoding(const OSSL_PARAM params[])
{
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_EC_ENCODING);
    const char *encoding = NULL;

    if (p == NULL)
        return 1;
    return OSSL_PARAM_get_utf8_string_ptr(p, &encoding)
           && strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) == 0;
}

/*
 * A named curve pkcs11be offers, or a clear refusal: explicit parameters
 * and other curves. Then the shared import (keymgmt.c).
 */
static int ec_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    const OSSL_PARAM *p;
    const char *name = NULL;

    if (key == NULL || params == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p == NULL || !OSSL_PARAM_get_utf8_string_ptr(p, &name)
        || !ec_named_encoding(params)) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "EC keys with explicit curve parameters are not "
                    "supported: use a named curve (%s)",
                    EC_CURVES_OFFERED);
        return 0;
    }
    if (ec_curve_by_name(name) == NULL) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "the EC curve \"%s\" is not offered by pkcs11be (%s)", name,
                    EC_CURVES_OFFERED);
        return 0;
    }
    return p11be_keymgmt_import(keydata, selection, params);
}

#define EC_KEY_TYPES                                                           \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),               \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),          \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,     \
                               NULL, 0),                                       \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_USE_COFACTOR_ECDH, NULL),               \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, NULL),               \
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),             \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0)

static const OSSL_PARAM *ec_key_types(int selection)
{
    static const OSSL_PARAM types[] = {
        EC_KEY_TYPES,
        OSSL_PARAM_END,
    };

    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
        return NULL;
    return types;
}

static const OSSL_PARAM *ec_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
        EC_KEY_TYPES,
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

/*
 * The peer's point for a parameters-only key (EVP_PKEY_set1_encoded_public_
 * key: libssl's ECDHE key share). Keys are otherwise immutable.
 */
static int ec_set_params(void *keydata, const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    const struct ec_curve *curve;
    const void *point = NULL;
    size_t point_len = 0;
    OSSL_PARAM pub[3];
    EVP_PKEY *host;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_octet_string_ptr(p, &point, &point_len)) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "the \"%s\" parameter must be an octet string", p->key);
        return 0;
    }
    if (!key->params_only) {
        p11be_raise(key->tc->handle, P11BE_R_BAD_STATE,
                    "only an EC key holding curve parameters alone takes "
                    "\"%s\"",
                    p->key);
        return 0;
    }
    curve = ec_curve_of(key);
    if (curve == NULL)
        return 0;
    pub[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                              (char *)curve->name, 0);
    pub[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                               (void *)point, point_len);
    pub[2] = OSSL_PARAM_construct_end();
    host = p11be_keymgmt_host_from(key, EVP_PKEY_PUBLIC_KEY, pub);
    if (host != NULL && p11be_key_set_public(key, host))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

static const OSSL_PARAM *ec_settable_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return settable;
}

static const char *ec_query_operation_name(int operation_id)
{
    if (operation_id == OSSL_OP_KEYEXCH)
        return "ECDH";
    if (operation_id == OSSL_OP_SIGNATURE)
        return "ECDSA";
    return NULL;
}

/* ---- generation on the token -------------------------------------------- */

static void *ec_gen_init(void *provctx, int selection,
                         const OSSL_PARAM params[])
{
    EC_GEN_CTX *gctx = OPENSSL_zalloc(sizeof(*gctx));

    if (gctx == NULL)
        return NULL;
    gctx->prov = provctx;
    gctx->selection = selection;
    if (!ec_gen_set_params(gctx, params)) {
        ec_gen_cleanup(gctx);
        return NULL;
    }
    return gctx;
}

static void ec_gen_cleanup(void *genctx)
{
    EC_GEN_CTX *gctx = genctx;

    if (gctx == NULL)
        return;
    OPENSSL_free(gctx->label);
    OPENSSL_free(gctx->id);
    OPENSSL_free(gctx);
}

/* The curve of a key made before (genpkey -paramfile and the like). */
static int ec_gen_set_template(void *genctx, void *templ)
{
    EC_GEN_CTX *gctx = genctx;
    const struct ec_curve *curve = ec_curve_of(templ);

    if (curve == NULL)
        return 0;
    gctx->curve = curve;
    return 1;
}

static int ec_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    EC_GEN_CTX *gctx = genctx;
    const OSSL_PARAM *p;
    const char *text = NULL;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text))
            goto out_bad;
        gctx->curve = ec_curve_by_name(text);
        if (gctx->curve == NULL) {
            p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                        "the EC curve \"%s\" is not offered by pkcs11be (%s)",
                        text, EC_CURVES_OFFERED);
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_EC_ENCODING);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text))
            goto out_bad;
        if (strcmp(text, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
            p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                        "EC keys with explicit curve parameters are not "
                        "supported: use the \"%s\" encoding",
                        OSSL_PKEY_EC_ENCODING_GROUP);
            return 0;
        }
    }
    if (!p11be_keygen_token_params(params, &gctx->label, &gctx->id,
                                   &gctx->id_len, &p))
        goto out_bad;
    return 1;

out_bad:
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "EC key generation: bad \"%s\" parameter", p->key);
    return 0;
}

static const OSSL_PARAM *ec_gen_settable_params(void *genctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(P11BE_KEYGEN_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_octet_string(P11BE_KEYGEN_PARAM_ID, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return settable;
}

/*
 * Parameter generation (selection: domain parameters only): a key that
 * names its curve and nothing else, as libssl makes for an ECDHE peer
 * before it sets the peer's point with ec_set_params(). No token call.
 */
static int ec_params_host(P11BE_KEY *key, const struct ec_curve *curve)
{
    OSSL_PARAM params[2];
    EVP_PKEY *host;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)curve->name, 0);
    params[1] = OSSL_PARAM_construct_end();
    host = p11be_keymgmt_host_from(key, EVP_PKEY_KEY_PARAMETERS, params);
    if (host != NULL && p11be_key_set_params_host(key, host))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

/* A key made by the default provider, private half on the host. */
static int ec_gen_on_host(P11BE_KEY *key, const void *arg)
{
    const struct ec_curve *curve = arg;
    EVP_PKEY *host =
        EVP_PKEY_Q_keygen(p11be_fallback_libctx(), NULL, "EC", curve->name);

    if (host != NULL && p11be_key_set_host(key, host, 1))
        return 1;
    EVP_PKEY_free(host);
    p11be_raise(key->tc->handle, P11BE_R_FALLBACK_FAILED,
                "EC key generation on the host failed");
    return 0;
}

static void *ec_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    EC_GEN_CTX *gctx = genctx;
    P11BE_ATTRS pub = {0}, priv = {0};
    struct p11be_keygen gen = {
        CKM_EC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
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
    if ((gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0
        && gctx->curve == NULL) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "EC key generation: no curve given (set \"%s\", for "
                    "example -pkeyopt ec_paramgen_curve:P-256)",
                    OSSL_PKEY_PARAM_GROUP_NAME);
        return NULL;
    }
    key = p11be_key_new(&gctx->prov->tc, &p11be_kind_ec);
    if (key == NULL)
        return NULL;
    if ((gctx->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        if (gctx->curve != NULL && !ec_params_host(key, gctx->curve)) {
            p11be_key_free(key);
            return NULL;
        }
        return key;
    }
    /*
     * The module itself asking, or keys in memory wanted: a software key
     * from the default provider.
     */
    mode = p11be_reentered()
               ? P11BE_KEYGEN_HOST
               : p11be_keygen_mode(gctx->prov, gctx->label, gctx->id_len);
    if (mode < 0 || mode == P11BE_KEYGEN_HOST) {
        if (mode >= 0 && ec_gen_on_host(key, gctx->curve))
            return key;
        p11be_key_free(key);
        return NULL;
    }
    p11be_attrs_add(&pub, CKA_EC_PARAMS, gctx->curve->oid,
                    gctx->curve->oid_len);
    p11be_attrs_add_bool(&pub, CKA_VERIFY, 1);
    p11be_attrs_add_bool(&priv, CKA_SIGN, 1);
    /*
     * Key agreement, and the "no"s beside it, only where the token has
     * ECDH: tpm2-pkcs11 (no ECDH) makes every EC key sign and decrypt
     * (TPM2_ECDH_ZGen) and refuses a template saying CKA_ENCRYPT or
     * CKA_DECRYPT false, leaving a TPM object behind.
     */
    if (p11be_has_mech(&gctx->prov->tc, CKM_ECDH1_DERIVE)) {
        p11be_attrs_add_bool(&pub, CKA_ENCRYPT, 0);
        p11be_attrs_add_bool(&priv, CKA_DERIVE, 1);
        p11be_attrs_add_bool(&priv, CKA_DECRYPT, 0);
    }
    ok = p11be_keygen_run(key, &gen, mode, ec_gen_on_host, gctx->curve);
    p11be_attrs_free(&pub);
    p11be_attrs_free(&priv);
    if (ok)
        return key;
    p11be_key_free(key);
    return NULL;
}

const OSSL_DISPATCH p11be_keymgmt_ec_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ec_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ec_load},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ec_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ec_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ec_key_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p11be_keymgmt_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ec_gettable_params},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))ec_set_params},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))ec_settable_params},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
     (void (*)(void))ec_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ec_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))ec_gen_set_template},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))ec_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))ec_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))ec_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))ec_gen_cleanup},
    {0, NULL},
};
