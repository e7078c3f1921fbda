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
 * copy. Keys on other curves (P-224, brainpool, binary curves ..), with
 * explicit curve parameters (PKCS#11 tokens work with named curves), or
 * of a size the token's CKM_ECDSA (or CKM_ECDH1_DERIVE) does not take
 * stay host keys: OpenSSL's default provider does their work
 * (p11be_ec_token_fit, keymgmt.h), as it generates them.
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
#include <stdio.h>
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
#include "pkey_op.h"

#define EC_OID_MAX 16

/* A named curve pkcs11be puts on a token. */
struct ec_curve {
    int nid;                       /* OpenSSL's NID */
    const char *name;              /* OpenSSL's group name */
    unsigned char oid[EC_OID_MAX]; /* DER OBJECT IDENTIFIER: CKA_EC_PARAMS */
    size_t oid_len;                /* bytes in oid */
    size_t bits;                   /* the field's size: mechanism key sizes */
};

static const struct ec_curve ec_curves[] = {
    {NID_X9_62_prime256v1,
     "prime256v1",
     {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07},
     10,
     256},
    {NID_secp384r1,
     "secp384r1",
     {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22},
     7,
     384},
    {NID_secp521r1,
     "secp521r1",
     {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23},
     7,
     521},
    {NID_secp256k1,
     "secp256k1",
     {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a},
     7,
     256},
};

#define EC_CURVES_OFFERED "P-256, P-384, P-521 and secp256k1"

/* OpenSSL's NID for a curve name in any of its spellings, or NID_undef. */
static int ec_nid_by_name(const char *name)
{
    int nid = OBJ_sn2nid(name);

    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(name);
    if (nid == NID_undef)
        nid = OBJ_txt2nid(name);
    return nid;
}

/* The row for a group name in any of OpenSSL's spellings, or NULL. */
static const struct ec_curve *ec_curve_by_name(const char *name)
{
    int nid = ec_nid_by_name(name);
    size_t i;

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
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_VALUE};
    static const char *const names[] = {OSSL_PKEY_PARAM_PRIV_KEY};

    return p11be_keymgmt_bn_params(key, sess, obj, types, names, 1,
                                   "the EC private key's CKA_VALUE");
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

int p11be_ec_token_fit(P11BE_TOKEN_CTX *tc, const char *group, size_t bits,
                       char *why, size_t why_len)
{
    static const CK_MECHANISM_TYPE mechs[] = {CKM_ECDSA, CKM_ECDH1_DERIVE};
    static const char *const names[] = {"CKM_ECDSA", "CKM_ECDH1_DERIVE"};
    const struct ec_curve *curve =
        group != NULL ? ec_curve_by_name(group) : NULL;

    (void)bits; /* the curve's own */
    if (group == NULL) {
        snprintf(why, why_len,
                 "explicit curve parameters: tokens take named curves");
        return 0;
    }
    if (curve == NULL) {
        snprintf(why, why_len, "the curve %s: pkcs11be puts %s on a token",
                 group, EC_CURVES_OFFERED);
        return 0;
    }
    if (tc == NULL)
        return 1;
    return p11be_keymgmt_mech_fit(tc, mechs, names, 2, curve->bits, "EC keys",
                                  why, why_len);
}

/*
 * The shared import (keymgmt.c): keys on curves the token cannot take,
 * or with explicit parameters, are host keys (p11be_ec_token_fit).
 */
static int ec_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;

    if (key == NULL || params == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
        return 1;
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

static const OSSL_PARAM ec_key_types_table[] = {EC_KEY_TYPES, OSSL_PARAM_END};
static const OSSL_PARAM ec_gettable[] = {
    P11BE_KEYMGMT_GETTABLE_COMMON,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
    EC_KEY_TYPES,
    OSSL_PARAM_END,
};

P11BE_KEY_TYPES_FN(ec_key_types, ec_key_types_table, OSSL_KEYMGMT_SELECT_ALL)
P11BE_KEYMGMT_GETTABLE_FN(ec_gettable_params, ec_gettable)

static const char *ec_query_operation_name(int operation_id)
{
    if (operation_id == OSSL_OP_KEYEXCH)
        return "ECDH";
    if (operation_id == OSSL_OP_SIGNATURE)
        return "ECDSA";
    return NULL;
}

/* ---- generation on the token -------------------------------------------- */

/*
 * Keeps a curve's row (NULL for one pkcs11be does not put on a token: a
 * host key, p11be_ec_token_fit) and name; 0 (raised) for a name OpenSSL
 * does not know.
 */
static int ec_gen_group(P11BE_GEN_CTX *gctx, const char *name)
{
    const struct ec_curve *curve = ec_curve_by_name(name);

    gctx->row = curve;
    gctx->bits = curve != NULL ? curve->bits : 0;
    if (curve != NULL) {
        gctx->group = curve->name;
        return 1;
    }
    gctx->group = NULL;
    if (ec_nid_by_name(name) == NID_undef
        || strlen(name) >= sizeof(gctx->group_name)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the EC curve \"%s\" is not known to OpenSSL", name);
        return 0;
    }
    strcpy(gctx->group_name, name);
    gctx->group = gctx->group_name;
    return 1;
}

/* The curve of a key made before (genpkey -paramfile and the like). */
static int ec_gen_template_key(P11BE_GEN_CTX *gctx, const P11BE_KEY *templ)
{
    char name[64];

    if (templ == NULL || templ->host == NULL
        || !EVP_PKEY_get_utf8_string_param(templ->host,
                                           OSSL_PKEY_PARAM_GROUP_NAME, name,
                                           sizeof(name), NULL)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "EC key generation: the template names no curve");
        return 0;
    }
    return ec_gen_group(gctx, name);
}

/* Only the named-curve encoding. */
static int ec_gen_set_params(P11BE_GEN_CTX *gctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_EC_ENCODING);
    const char *text = NULL;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &text)
        || (strcmp(text, OSSL_PKEY_EC_ENCODING_GROUP) != 0
            && strcmp(text, OSSL_PKEY_EC_ENCODING_EXPLICIT) != 0)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "EC key generation: the \"%s\" parameter is \"%s\" or "
                    "\"%s\"",
                    OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_GROUP,
                    OSSL_PKEY_EC_ENCODING_EXPLICIT);
        return 0;
    }
    /* Explicit: a host key (p11be_ec_token_fit), as the default makes it. */
    gctx->explicit_ec = strcmp(text, OSSL_PKEY_EC_ENCODING_EXPLICIT) == 0;
    return 1;
}

static int ec_gen_host_params(const P11BE_GEN_CTX *gctx, EVP_PKEY_CTX *ctx)
{
    OSSL_PARAM params[2];

    if (!gctx->explicit_ec)
        return 1;
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT, 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(ctx, params) == 1;
}

static int ec_gen_prepare(P11BE_GEN_CTX *gctx, P11BE_KEY *key)
{
    (void)key;
    if (gctx->group != NULL)
        return 1;
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "EC key generation: no curve given (set \"%s\", for "
                "example -pkeyopt ec_paramgen_curve:P-256)",
                OSSL_PKEY_PARAM_GROUP_NAME);
    return 0;
}

static int ec_gen_template(P11BE_GEN_CTX *gctx, P11BE_ATTRS *pub)
{
    const struct ec_curve *curve = gctx->row;

    p11be_attrs_add(pub, CKA_EC_PARAMS, curve->oid, curve->oid_len);
    return 1;
}

static const struct p11be_keymgmt_kind ec_keymgmt = {
    .kind = &p11be_kind_ec,
    .gen_mech = CKM_EC_KEY_PAIR_GEN,
    .gen_mech_name = "CKM_EC_KEY_PAIR_GEN",
    .gen_use = P11BE_GEN_VERIFY | P11BE_GEN_SIGN,
    .gen_if_mech = CKM_ECDH1_DERIVE,
    .gen_if_use = P11BE_GEN_DERIVE,
    .gen_if_deny = P11BE_GEN_ENCRYPT | P11BE_GEN_DECRYPT,
    .host_when_reentered = 1,
    .gen_group = ec_gen_group,
    .gen_template_key = ec_gen_template_key,
    .gen_set_params = ec_gen_set_params,
    .gen_prepare = ec_gen_prepare,
    .gen_template = ec_gen_template,
    .gen_host_params = ec_gen_host_params,
    .token_fit = p11be_ec_token_fit,
};

static const OSSL_PARAM ec_gen_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    P11BE_KEYGEN_SETTABLE,
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(ec_gen_settable_params, ec_gen_settable)

P11BE_KEYMGMT_KIND_FNS(ec_new, ec_load, ec_gen_init, ec_keymgmt)

const OSSL_DISPATCH p11be_keymgmt_ec_functions[] = {
    P11BE_KEYMGMT_FUNCTIONS(ec_new, ec_load, ec_gen_init, ec_import,
                            ec_key_types, ec_gettable_params,
                            ec_gen_settable_params),
    P11BE_KEYMGMT_GROUP_FUNCTIONS,
    P11BE_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, ec_query_operation_name),
    {0, NULL},
};
