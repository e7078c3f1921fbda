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
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
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
    p11be_raise(key->tc->handle, P11BE_R_NO_KEY,
                "the DH private key lacks p, g or its value");
    return 0;
}

/* p, g and y of the public object: the default provider names the group. */
static int dh_public_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra)
{
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_PRIME, CKA_BASE, CKA_VALUE};
    static const char *const names[] = {
        OSSL_PKEY_PARAM_FFC_P, OSSL_PKEY_PARAM_FFC_G, OSSL_PKEY_PARAM_PUB_KEY};

    return p11be_keymgmt_public_bn(key, sess, obj, types, names, 3, extra,
                                   "the DH public key's CKA_PRIME, CKA_BASE "
                                   "and CKA_VALUE");
}

/* CKA_VALUE, the x of an exportable pair. */
static OSSL_PARAM *dh_private_from_token(P11BE_KEY *key, P11BE_SESSION *sess,
                                         CK_OBJECT_HANDLE obj)
{
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_VALUE};
    static const char *const names[] = {OSSL_PKEY_PARAM_PRIV_KEY};

    return p11be_keymgmt_bn_params(key, sess, obj, types, names, 1,
                                   "the DH private key's CKA_VALUE");
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
    if (keydata == NULL || params == NULL
        || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0
        || (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) == 0)
        return p11be_keymgmt_import(keydata, selection, params);
    return p11be_keymgmt_import_params(keydata, params);
}

#define DH_KEY_TYPES                                                           \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),               \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_P, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_Q, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_FFC_G, NULL, 0),                         \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),                       \
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0)

static const OSSL_PARAM dh_key_types_table[] = {DH_KEY_TYPES, OSSL_PARAM_END};
static const OSSL_PARAM dh_gettable[] = {
    P11BE_KEYMGMT_GETTABLE_COMMON,
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    DH_KEY_TYPES,
    OSSL_PARAM_END,
};

P11BE_KEY_TYPES_FN(dh_key_types, dh_key_types_table, OSSL_KEYMGMT_SELECT_ALL)
P11BE_KEYMGMT_GETTABLE_FN(dh_gettable_params, dh_gettable)

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

int p11be_dh_token_fit(P11BE_TOKEN_CTX *tc, const char *group, size_t bits,
                       char *why, size_t why_len)
{
    static const CK_MECHANISM_TYPE mech = CKM_DH_PKCS_DERIVE;
    static const char *const name = "CKM_DH_PKCS_DERIVE";

    (void)group;
    return tc == NULL
           || p11be_keymgmt_mech_fit(tc, &mech, &name, 1, bits, "DH primes",
                                     why, why_len);
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
    .token_fit = p11be_dh_token_fit,
};

static const OSSL_PARAM dh_gen_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    P11BE_KEYGEN_SETTABLE,
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(dh_gen_settable_params, dh_gen_settable)

P11BE_KEYMGMT_KIND_FNS(dh_new, dh_load, dh_gen_init, dh_keymgmt)

const OSSL_DISPATCH p11be_keymgmt_dh_functions[] = {
    P11BE_KEYMGMT_FUNCTIONS(dh_new, dh_load, dh_gen_init, dh_import,
                            dh_key_types, dh_gettable_params,
                            dh_gen_settable_params),
    P11BE_KEYMGMT_GROUP_FUNCTIONS,
    {0, NULL},
};
