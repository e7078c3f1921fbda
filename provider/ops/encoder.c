/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoders for pkcs11be keys (P11BE_KEY, keyobj.h): what each key is
 * written as is the user's contract, doc/token-keys.md, "Key files".
 * OpenSSL prefers the encoders of the key's own provider, so these are
 * the ones that write pkcs11be keys; they take no keys of other providers
 * (no import_object). Whatever OpenSSL's own encoding covers (public
 * parts, parameters, text, a software key's private parts) is made by the
 * default provider on the key's host copy in the fallback library
 * context, so it is byte for byte what the default provider writes. A
 * private half on the token leaves it only as its URI (keyuri.h), or read
 * out once for a session pair generated to be exportable.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "algorithms.h"
#include "err.h"
#include "keyobj.h"
#include "keyuri.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "store.h"

static OSSL_FUNC_encoder_freectx_fn enc_freectx;
static OSSL_FUNC_encoder_set_ctx_params_fn enc_set_ctx_params;
static OSSL_FUNC_encoder_settable_ctx_params_fn enc_settable_ctx_params;
static OSSL_FUNC_encoder_encode_fn enc_encode;

/* One way of writing a key: an encoder's output and structure. */
struct enc_format {
    const char *output;       /* "pem", "der" or "text" */
    const char *structure;    /* "PrivateKeyInfo" ..; NULL for text */
    struct p11be_encoder row; /* for algorithms.c */
};

struct enc_ctx_st {
    P11BE_PROV_CTX *prov;            /* provider that made us */
    const struct enc_format *format; /* what this encoder writes */
    char *cipher;                    /* "cipher" for PKCS#8, or NULL */
    int save_parameters;             /* "save-parameters"; -1: not set */
};

typedef struct enc_ctx_st ENC_CTX;

static void *enc_newctx(void *provctx, const struct enc_format *format)
{
    ENC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx != NULL)
        *ctx = (ENC_CTX){provctx, format, NULL, -1};
    return ctx;
}

static void enc_freectx(void *vctx)
{
    ENC_CTX *ctx = vctx;

    if (ctx != NULL)
        OPENSSL_free(ctx->cipher);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

/*
 * Which selections an encoder takes, as the default provider's encoders
 * of the same structure decide it, so that OpenSSL picks one of ours
 * wherever it would have picked one of theirs: the first of private key,
 * public key and parameters that the caller asks for must be in `mask`.
 */
static int enc_check_selection(int selection, int mask)
{
    static const int levels[] = {
        OSSL_KEYMGMT_SELECT_PRIVATE_KEY,
        OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
        OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
    };
    size_t i;

    if (selection == 0)
        return 1;
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if ((selection & levels[i]) != 0)
            return (mask & levels[i]) != 0;
    return 0;
}

/* One does_selection per `mask`; names are spelled out. */
#define ENC_SELECTION(name, mask)                                              \
    static int name(void *provctx, int selection)                              \
    {                                                                          \
        (void)provctx;                                                         \
        return enc_check_selection(selection, mask);                           \
    }

/* clang-format off */
/* SubjectPublicKeyInfo */
ENC_SELECTION(spki_does_selection, OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
/* PrivateKeyInfo, EncryptedPrivateKeyInfo */
ENC_SELECTION(pki_does_selection, OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
/* RSA's type-specific, "rsa" and "pkcs1": RSAPrivateKey, RSAPublicKey */
ENC_SELECTION(keypair_does_selection, OSSL_KEYMGMT_SELECT_KEYPAIR)
/* EC's type-specific, "ec" and "X9.62": ECPrivateKey, ECParameters */
ENC_SELECTION(nopub_does_selection, OSSL_KEYMGMT_SELECT_PRIVATE_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)
/* clang-format on */

static const OSSL_PARAM enc_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *enc_settable_ctx_params(void *provctx)
{
    (void)provctx;
    return enc_settable;
}

/*
 * Any time before encode(). The cipher is fetched where the encoding
 * runs, in the fallback library context, so "properties" (a query for
 * the caller's context, possibly naming pkcs11be) is accepted and not
 * used: the default provider's cipher of that name encrypts.
 */
static int enc_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ENC_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    const char *name = NULL;
    OSSL_LIB_CTX *libctx;
    EVP_CIPHER *cipher;
    char *copy = NULL;

    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_CIPHER);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        libctx = p11be_fallback_libctx();
        if (name != NULL && libctx != NULL) {
            /* Fail now, as the default provider does, on an unknown name. */
            cipher = EVP_CIPHER_fetch(libctx, name, NULL);
            if (cipher == NULL) {
                p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                            "unknown cipher \"%s\" for the private key", name);
                return 0;
            }
            EVP_CIPHER_free(cipher);
        }
        if (name != NULL && (copy = OPENSSL_strdup(name)) == NULL)
            return 0;
        OPENSSL_free(ctx->cipher);
        ctx->cipher = copy;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_SAVE_PARAMETERS);
    if (p != NULL && !OSSL_PARAM_get_int(p, &ctx->save_parameters))
        return 0;
    return 1;
}

/*
 * Writes the host copy with OpenSSL's default provider, in the same
 * output and structure, with the cipher and passphrase the caller gave.
 */
static int enc_host(ENC_CTX *ctx, const P11BE_KEY *key, const EVP_PKEY *pkey,
                    int selection, BIO *out, OSSL_PASSPHRASE_CALLBACK *cb,
                    void *cbarg)
{
    OSSL_ENCODER_CTX *ectx;
    OSSL_PARAM params[2];
    int ok = 0;

    if (pkey == NULL)
        return 0; /* raised */
    ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, ctx->format->output,
                                         ctx->format->structure, NULL);
    if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
        p11be_raise(ctx->prov->handle, P11BE_R_FALLBACK_FAILED,
                    "OpenSSL's default provider has no %s %s encoder for "
                    "this %s key",
                    ctx->format->output,
                    ctx->format->structure != NULL ? ctx->format->structure
                                                   : "",
                    key->kind->name);
        goto out_free_ectx;
    }
    if (ctx->cipher != NULL
        && !OSSL_ENCODER_CTX_set_cipher(ectx, ctx->cipher, NULL))
        goto out_free_ectx;
    if (cb != NULL && !OSSL_ENCODER_CTX_set_passphrase_cb(ectx, cb, cbarg))
        goto out_free_ectx;
    if (ctx->save_parameters >= 0) {
        params[0] = OSSL_PARAM_construct_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS,
                                             &ctx->save_parameters);
        params[1] = OSSL_PARAM_construct_end();
        (void)OSSL_ENCODER_CTX_set_params(ectx, params);
    }
    ok = OSSL_ENCODER_to_bio(ectx, out);
out_free_ectx:
    OSSL_ENCODER_CTX_free(ectx);
    return ok;
}

/* The DER of keyuri.h: SEQUENCE { UTF8String uri }; its length, or 0. */
static int enc_uri_der(const char *uri, unsigned char **der)
{
    int len = (int)strlen(uri);
    int inner = ASN1_object_size(0, len, V_ASN1_UTF8STRING);
    int total = inner > 0 ? ASN1_object_size(1, inner, V_ASN1_SEQUENCE) : -1;
    unsigned char *p;

    if (total <= 0 || (*der = p = OPENSSL_malloc(total)) == NULL)
        return 0;
    ASN1_put_object(&p, 1, inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    ASN1_put_object(&p, 0, len, V_ASN1_UTF8STRING, V_ASN1_UNIVERSAL);
    memcpy(p, uri, len);
    return total;
}

/* A persistent token key's private half: its URI (keyuri.h). */
static int enc_uri(ENC_CTX *ctx, const P11BE_KEY *key, BIO *out)
{
    unsigned char *der = NULL;
    char *uri;
    int der_len, ok = 0;

    uri = p11be_store_key_uri(key);
    if (uri == NULL)
        return 0;
    der_len = enc_uri_der(uri, &der);
    if (der_len == 0) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "cannot encode the key's URI");
        goto out_free_uri;
    }
    if (strcmp(ctx->format->output, "der") == 0)
        ok = BIO_write(out, der, der_len) == der_len;
    else
        ok = PEM_write_bio(out, P11BE_KEYURI_PEM_LABEL, "", der, der_len) > 0;
    OPENSSL_free(der);
out_free_uri:
    OPENSSL_free(uri);
    return ok;
}

/* The text line that says where the private half of a token key is. */
static int enc_text_private(const P11BE_KEY *key, BIO *out)
{
    char *uri;
    int ok;

    if (!key->persistent)
        return BIO_printf(out, "Private key: a session object on the "
                               "PKCS#11 token (not addressable by URI)\n")
               > 0;
    uri = p11be_store_key_uri(key);
    if (uri == NULL)
        return 0;
    ok = BIO_printf(out, "Private key: on the PKCS#11 token (%s)\n", uri) > 0;
    OPENSSL_free(uri);
    return ok;
}

static int enc_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                      const OSSL_PARAM obj_abstract[], int selection,
                      OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    ENC_CTX *ctx = vctx;
    const P11BE_KEY *key = obj_raw;
    int public_selection;
    BIO *out;
    int ok = 0;

    /* Only keys of pkcs11be's keymgmts: no object abstractions. */
    if (key == NULL || obj_abstract != NULL || key->host == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                    "no pkcs11be key to encode");
        return 0;
    }
    out = BIO_new_from_core_bio(ctx->prov->corebio_libctx, cout);
    if (out == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "cannot open the encoder's output");
        return 0;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 || key->host_private
        || !key->token_private) {
        /* Public parts, or the caller's own key, or no private half. */
        ok = enc_host(ctx, key, key->host, selection, out, cb, cbarg);
    } else if (key->exportable) {
        /* Generated to be written out: read from the token once. */
        ok = enc_host(ctx, key, p11be_key_private_host((P11BE_KEY *)key),
                      selection, out, cb, cbarg);
    } else if (ctx->format->structure == NULL) {
        public_selection = (selection & ~OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
                           | OSSL_KEYMGMT_SELECT_PUBLIC_KEY;
        ok = enc_host(ctx, key, key->host, public_selection, out, cb, cbarg)
             && enc_text_private(key, out);
    } else if (!key->persistent) {
        p11be_raise(ctx->prov->handle, P11BE_R_NOT_EXTRACTABLE,
                    "the private half of a session key generated on the "
                    "token with %s = no cannot leave it; generate it with "
                    "-pkeyopt %s:NAME to keep it on the token and refer to "
                    "it by URI, or leave %s at auto (%s) for keys that can "
                    "be written out",
                    "pkcs11-keygen-exportable", "pkcs11-key-label",
                    "pkcs11-keygen-exportable", "P11BE_KEYGEN_EXPORTABLE");
    } else {
        ok = enc_uri(ctx, key, out);
    }
    BIO_free(out);
    return ok;
}

/*
 * One encoder: its format, a newctx that picks it and its dispatch table,
 * for the key types in `types` (P11BE_ENC_*). Names are spelled out.
 */
#define ENC_FORMAT(fmt, newctx, functions, output, structure, selection,       \
                   types)                                                      \
    static const struct enc_format fmt;                                        \
    static void *newctx(void *provctx)                                         \
    {                                                                          \
        return enc_newctx(provctx, &fmt);                                      \
    }                                                                          \
    static const OSSL_DISPATCH functions[] = {                                 \
        {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))newctx},                    \
        {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx},              \
        {OSSL_FUNC_ENCODER_SET_CTX_PARAMS,                                     \
         (void (*)(void))enc_set_ctx_params},                                  \
        {OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,                                \
         (void (*)(void))enc_settable_ctx_params},                             \
        {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))selection},         \
        {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode},                \
        {0, NULL},                                                             \
    };                                                                         \
    static const struct enc_format fmt = {                                     \
        output,                                                                \
        structure,                                                             \
        {P11BE_PROPS ",output=" output ",structure=" structure, types,         \
         functions}}

/* clang-format off */
ENC_FORMAT(spki_der, spki_der_newctx, spki_der_functions, "der", "SubjectPublicKeyInfo", spki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(spki_pem, spki_pem_newctx, spki_pem_functions, "pem", "SubjectPublicKeyInfo", spki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(pki_der, pki_der_newctx, pki_der_functions, "der", "PrivateKeyInfo", pki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(pki_pem, pki_pem_newctx, pki_pem_functions, "pem", "PrivateKeyInfo", pki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(epki_der, epki_der_newctx, epki_der_functions, "der", "EncryptedPrivateKeyInfo", pki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(epki_pem, epki_pem_newctx, epki_pem_functions, "pem", "EncryptedPrivateKeyInfo", pki_does_selection, P11BE_ENC_ANY);
ENC_FORMAT(rsa_ts_der, rsa_ts_der_newctx, rsa_ts_der_functions, "der", "type-specific", keypair_does_selection, P11BE_ENC_RSA);
ENC_FORMAT(rsa_ts_pem, rsa_ts_pem_newctx, rsa_ts_pem_functions, "pem", "type-specific", keypair_does_selection, P11BE_ENC_RSA);
ENC_FORMAT(rsa_der, rsa_der_newctx, rsa_der_functions, "der", "rsa", keypair_does_selection, P11BE_ENC_RSA);
ENC_FORMAT(rsa_pem, rsa_pem_newctx, rsa_pem_functions, "pem", "rsa", keypair_does_selection, P11BE_ENC_RSA);
ENC_FORMAT(pkcs1_der, pkcs1_der_newctx, pkcs1_der_functions, "der", "pkcs1", keypair_does_selection, P11BE_ENC_PKCS1);
ENC_FORMAT(pkcs1_pem, pkcs1_pem_newctx, pkcs1_pem_functions, "pem", "pkcs1", keypair_does_selection, P11BE_ENC_PKCS1);
ENC_FORMAT(ec_ts_der, ec_ts_der_newctx, ec_ts_der_functions, "der", "type-specific", nopub_does_selection, P11BE_ENC_EC);
ENC_FORMAT(ec_ts_pem, ec_ts_pem_newctx, ec_ts_pem_functions, "pem", "type-specific", nopub_does_selection, P11BE_ENC_EC);
ENC_FORMAT(ec_der, ec_der_newctx, ec_der_functions, "der", "ec", nopub_does_selection, P11BE_ENC_EC);
ENC_FORMAT(ec_pem, ec_pem_newctx, ec_pem_functions, "pem", "ec", nopub_does_selection, P11BE_ENC_EC);
ENC_FORMAT(x962_der, x962_der_newctx, x962_der_functions, "der", "X9.62", nopub_does_selection, P11BE_ENC_EC);
ENC_FORMAT(x962_pem, x962_pem_newctx, x962_pem_functions, "pem", "X9.62", nopub_does_selection, P11BE_ENC_EC);
/* clang-format on */

/* Text takes every selection, as the default provider's does. */
static const struct enc_format text;

static void *text_newctx(void *provctx)
{
    return enc_newctx(provctx, &text);
}

static const OSSL_DISPATCH text_functions[] = {
    P11BE_FN(OSSL_FUNC_ENCODER_NEWCTX, text_newctx),
    P11BE_FN(OSSL_FUNC_ENCODER_FREECTX, enc_freectx),
    P11BE_FN(OSSL_FUNC_ENCODER_ENCODE, enc_encode),
    {0, NULL},
};

static const struct enc_format text = {
    "text", NULL, {P11BE_PROPS ",output=text", P11BE_ENC_ANY, text_functions}};

/* Each key type's in this order: text, SPKI, PKCS#8, type-specific. */
const struct p11be_encoder *const p11be_encoders[] = {
    &text.row,       &spki_der.row,  &spki_pem.row,  &pki_der.row,
    &pki_pem.row,    &epki_der.row,  &epki_pem.row,  &rsa_ts_der.row,
    &rsa_ts_pem.row, &rsa_der.row,   &rsa_pem.row,   &pkcs1_der.row,
    &pkcs1_pem.row,  &ec_ts_der.row, &ec_ts_pem.row, &ec_der.row,
    &ec_pem.row,     &x962_der.row,  &x962_pem.row,  NULL,
};
