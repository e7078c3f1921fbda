/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keymgmt "DH": finite-field Diffie-Hellman keys (PKCS#3) as P11BE_KEY
 * (keyobj.h), on the groups OpenSSL names (the RFC 7919 ffdhe2048 ..
 * ffdhe8192 of TLS 1.3, RFC 3526's modp groups) or on explicit p and g.
 *
 * The host copy holds the domain parameters and the public value, so
 * OpenSSL's default provider names the group, checks peers and exports
 * what OpenSSL's own DH keys hold. On the token a key is CKK_DH:
 * CKA_PRIME, CKA_BASE and CKA_VALUE (x for the private object, y for the
 * public one). Generation runs there with CKM_DH_PKCS_KEY_PAIR_GEN on the
 * group's p and g; derivation is exchange_dh.c's.
 */
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "err.h"
#include "keymgmt.h"
#include "keyobj.h"
#include "pkey_op.h"
#include "reentry.h"

/* CKA_PRIME, CKA_BASE and CKA_VALUE (x). */
static int dh_private_attrs(const P11BE_KEY *key, P11BE_ATTRS *attrs)
{
    if (p11be_attrs_add_bn(attrs, CKA_PRIME, key->host, OSSL_PKEY_PARAM_FFC_P)
        && p11be_attrs_add_bn(attrs, CKA_BASE, key->host, OSSL_PKEY_PARAM_FFC_G)
        && p11be_attrs_add_bn(attrs, CKA_VALUE, key->host,
                              OSSL_PKEY_PARAM_PRIV_KEY))
        return 1;
    p11be_raise(key->prov->handle, P11BE_R_NO_KEY,
                "the DH private key lacks p, g or its value");
    return 0;
}

/* `count` big-endian attributes as BIGNUM parameters `names`; NULL. */
static OSSL_PARAM *dh_params_of(const CK_ATTRIBUTE *tmpl,
                                const char *const *names, size_t count)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *bn[3] = {NULL, NULL, NULL};
    size_t i;
    int ok = bld != NULL;

    for (i = 0; i < count && ok; i++)
        ok =
            (bn[i] = BN_secure_new()) != NULL
            && BN_bin2bn(tmpl[i].pValue, (int)tmpl[i].ulValueLen, bn[i]) != NULL
            && OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]);
    if (ok)
        params = OSSL_PARAM_BLD_to_param(bld);
    OSSL_PARAM_BLD_free(bld);
    for (i = 0; i < count; i++)
        BN_clear_free(bn[i]);
    return params;
}

/* p, g and y of the public object: the default provider names the group. */
static int dh_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    static const char *const names[] = {
        OSSL_PKEY_PARAM_FFC_P, OSSL_PKEY_PARAM_FFC_G, OSSL_PKEY_PARAM_PUB_KEY};
    CK_ATTRIBUTE tmpl[] = {
        {CKA_PRIME, NULL, 0}, {CKA_BASE, NULL, 0}, {CKA_VALUE, NULL, 0}};
    OSSL_PARAM *params;
    int ok = 0;

    (void)extra;
    if (!p11be_token_read_attrs(key->prov, sess, obj, tmpl, 3,
                                "the DH key's CKA_PRIME, CKA_BASE and "
                                "CKA_VALUE"))
        return 0;
    params = dh_params_of(tmpl, names, 3);
    if (params != NULL)
        ok = p11be_keymgmt_set_public_from(key, params);
    OSSL_PARAM_free(params);
    p11be_token_free_attrs(tmpl, 3);
    return ok;
}

/* CKA_VALUE, the x of an exportable pair. */
static OSSL_PARAM *dh_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                         CK_OBJECT_HANDLE obj)
{
    static const char *const names[] = {OSSL_PKEY_PARAM_PRIV_KEY};
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE, NULL, 0}};
    OSSL_PARAM *params;

    if (!p11be_token_read_attrs(key->prov, sess, obj, tmpl, 1,
                                "the DH private key's CKA_VALUE"))
        return NULL;
    params = dh_params_of(tmpl, names, 1);
    if (params == NULL)
        p11be_raise(key->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "holding the DH private key read from the token");
    p11be_token_free_secret(tmpl, 1);
    return params;
}

const struct p11be_key_kind p11be_kind_dh = {
    "DH",
    CKK_DH,
    OSSL_PKEY_PARAM_PRIV_KEY,
    dh_private_attrs,
    dh_public_from_token,
    dh_private_from_token,
};

/* Domain parameters alone are kept too: libssl's FFDHE and DHE groups. */
static int dh_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    EVP_PKEY *host;

    if (key == NULL || params == NULL
        || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0
        || (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) == 0)
        return p11be_keymgmt_import(keydata, selection, params);
    host = p11be_keymgmt_host_from(key, EVP_PKEY_KEY_PARAMETERS,
                                   (OSSL_PARAM *)params);
    if (host != NULL && p11be_key_set_params_host(key, host))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

#define DH_KEY_TYPES                                                           \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),               \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_P, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_Q, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_G, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),                       \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0)

static const OSSL_PARAM *dh_key_types(int selection)
{
    static const OSSL_PARAM types[] = {DH_KEY_TYPES, OSSL_PARAM_END};

    return (selection & OSSL_KEYMGMT_SELECT_ALL) != 0 ? types : NULL;
}

static const OSSL_PARAM *dh_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        DH_KEY_TYPES,
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

/* ---- generation on the token -------------------------------------------- */

/* A named group's domain parameters, made by the default provider. */
static int dh_gen_group(P11BE_GEN_CTX *gctx, const char *name)
{
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_name(p11be_fallback_libctx(), "DH", NULL);
    EVP_PKEY *domain = NULL;

    if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) != 1
        || EVP_PKEY_CTX_set_group_name(ctx, name) != 1
        || EVP_PKEY_paramgen(ctx, &domain) != 1) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "DH key generation: OpenSSL knows no group \"%s\"", name);
        EVP_PKEY_CTX_free(ctx);
        return 0;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(gctx->domain);
    gctx->domain = domain;
    return 1;
}

/* The domain parameters of a key made before (libssl's key shares). */
static int dh_gen_template_key(P11BE_GEN_CTX *gctx, const P11BE_KEY *templ)
{
    if (templ == NULL || templ->host == NULL || !EVP_PKEY_up_ref(templ->host)) {
        p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "DH key generation: the template holds no parameters");
        return 0;
    }
    EVP_PKEY_free(gctx->domain);
    gctx->domain = templ->host;
    return 1;
}

static int dh_gen_prepare(P11BE_GEN_CTX *gctx, P11BE_KEY *key)
{
    (void)key;
    if (gctx->domain != NULL)
        return 1;
    p11be_raise(gctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "DH key generation: no group given (set \"%s\", for "
                "example -pkeyopt group:ffdhe2048)",
                OSSL_PKEY_PARAM_GROUP_NAME);
    return 0;
}

static int dh_gen_template(P11BE_GEN_CTX *gctx, P11BE_ATTRS *pub)
{
    return p11be_attrs_add_bn(pub, CKA_PRIME, gctx->domain,
                              OSSL_PKEY_PARAM_FFC_P)
           && p11be_attrs_add_bn(pub, CKA_BASE, gctx->domain,
                                 OSSL_PKEY_PARAM_FFC_G);
}

static const struct p11be_keymgmt_kind dh_keymgmt = {
    .kind = &p11be_kind_dh,
    .gen_mech = CKM_DH_PKCS_KEY_PAIR_GEN,
    .gen_mech_name = "CKM_DH_PKCS_KEY_PAIR_GEN",
    .gen_use = P11BE_GEN_DERIVE,
    .host_when_reentered = 1,
    .gen_group = dh_gen_group,
    .gen_template_key = dh_gen_template_key,
    .gen_prepare = dh_gen_prepare,
    .gen_template = dh_gen_template,
};

static const OSSL_PARAM dh_gen_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    P11BE_KEYGEN_SETTABLE,
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(dh_gen_settable_params, dh_gen_settable)

static void *dh_new(void *provctx)
{
    return p11be_key_new(provctx, &p11be_kind_dh);
}

static void *dh_load(const void *reference, size_t reference_sz)
{
    return p11be_keymgmt_load(reference, reference_sz, &p11be_kind_dh);
}

static void *dh_gen_init(void *provctx, int selection,
                         const OSSL_PARAM params[])
{
    return p11be_keygen_init(provctx, selection, params, &dh_keymgmt);
}

const OSSL_DISPATCH p11be_keymgmt_dh_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))dh_new},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))dh_load},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))dh_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))dh_key_types},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))dh_key_types},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))dh_gettable_params},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))p11be_keymgmt_set_params},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,
     (void (*)(void))p11be_keymgmt_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))dh_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE,
     (void (*)(void))p11be_keygen_set_template},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
     (void (*)(void))dh_gen_settable_params},
    P11BE_KEYMGMT_FUNCTIONS,
    {0, NULL},
};
