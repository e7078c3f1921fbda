/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KDFs, run whole by the default provider in pkcs11be's private library
 * context (reentry.h).
 *
 * Why pkcs11be offers them at all: a KDF that the default provider runs
 * in the application's library context fetches its digest or HMAC there,
 * where pkcs11be is preferred, and so calls the token once per iteration
 * (PBKDF2 with 600,000 iterations: 1.2 million C_SignInit/C_Sign pairs, and
 * minutes on a network HSM). The secrets they iterate on (passwords, TLS
 * secrets) are in process memory anyway, so the token protects nothing
 * here. Offering each KDF and handing it to the default provider with the
 * default provider's HMAC and digests keeps a derivation at no token calls.
 *
 * A token mechanism could take over where the token has one
 * (CKM_PKCS5_PBKD2); SoftHSM2 2.6.1 lists none, so there is no token path
 * (none that the tests could exercise).
 *
 * Every entry forwards one-to-one to an EVP_KDF_CTX of the same name; the
 * default provider checks the parameters and raises its own errors.
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "algorithms.h"
#include "delegate.h"
#include "err.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"

/* One KDF pkcs11be offers: the default provider's name for it. */
struct kdf_kind {
    const char *name; /* fetched from the default provider */
    const char *note; /* for p11be_delegated_note(): "KDF " name */
};

typedef struct kdf_ctx_st {
    P11BE_PROV_CTX *prov;        /* provider that made us */
    const struct kdf_kind *kind; /* which KDF */
    EVP_KDF_CTX *inner;          /* the default provider's context */
} KDF_CTX;

static OSSL_FUNC_kdf_dupctx_fn kdf_dupctx;
static OSSL_FUNC_kdf_freectx_fn kdf_freectx;
static OSSL_FUNC_kdf_reset_fn kdf_reset;
static OSSL_FUNC_kdf_derive_fn kdf_derive;
static OSSL_FUNC_kdf_set_ctx_params_fn kdf_set_ctx_params;
static OSSL_FUNC_kdf_get_ctx_params_fn kdf_get_ctx_params;

/*
 * Every context holds a reference on the private library context, so it
 * exists whether or not the token was ever opened, and outlives no user.
 */
static void *kdf_newctx(void *provctx, const struct kdf_kind *kind)
{
    P11BE_PROV_CTX *prov = provctx;
    KDF_CTX *ctx;
    EVP_KDF *kdf;

    if (!p11be_fallback_prepare()) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: cannot load the default provider", kind->name);
        return NULL;
    }
    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL) {
        p11be_fallback_release();
        return NULL;
    }
    ctx->prov = prov;
    ctx->kind = kind;
    kdf = EVP_KDF_fetch(p11be_fallback_libctx(), kind->name, NULL);
    ctx->inner = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx->inner == NULL) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: the default provider has no such KDF", kind->name);
        kdf_freectx(ctx);
        return NULL;
    }
    return ctx;
}

static void *kdf_dupctx(void *vctx)
{
    const KDF_CTX *src = vctx;
    KDF_CTX *ctx;

    if (!p11be_fallback_prepare())
        return NULL;
    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL) {
        p11be_fallback_release();
        return NULL;
    }
    ctx->prov = src->prov;
    ctx->kind = src->kind;
    ctx->inner = EVP_KDF_CTX_dup(src->inner);
    if (ctx->inner == NULL) {
        /* OpenSSL 3.0's default KDFs have no dupctx (3.1 added them). */
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "%s: the default provider cannot copy this context",
                    src->kind->name);
        kdf_freectx(ctx);
        return NULL;
    }
    return ctx;
}

static void kdf_freectx(void *vctx)
{
    KDF_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    /* The default provider wipes the password, key and salt it holds. */
    EVP_KDF_CTX_free(ctx->inner);
    OPENSSL_free(ctx);
    p11be_fallback_release();
}

static void kdf_reset(void *vctx)
{
    KDF_CTX *ctx = vctx;

    EVP_KDF_CTX_reset(ctx->inner);
}

static int kdf_derive(void *vctx, unsigned char *key, size_t keylen,
                      const OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;

    p11be_delegated_note(ctx->prov, ctx->kind->note);
    return EVP_KDF_derive(ctx->inner, key, keylen, params);
}

static int kdf_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;

    return EVP_KDF_CTX_set_params(ctx->inner, params);
}

static int kdf_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    KDF_CTX *ctx = vctx;

    return EVP_KDF_CTX_get_params(ctx->inner, params);
}

/*
 * OpenSSL asks for the tables with a NULL context too
 * (EVP_KDF_settable_ctx_params), so they come from the kind. They are the
 * default provider's static tables, valid after its method is freed.
 */
static const OSSL_PARAM *kdf_params_table(const struct kdf_kind *kind,
                                          int settable)
{
    const OSSL_PARAM *table = NULL;
    EVP_KDF *kdf;

    if (!p11be_fallback_prepare())
        return NULL;
    kdf = EVP_KDF_fetch(p11be_fallback_libctx(), kind->name, NULL);
    if (kdf != NULL)
        table = settable ? EVP_KDF_settable_ctx_params(kdf)
                         : EVP_KDF_gettable_ctx_params(kdf);
    EVP_KDF_free(kdf);
    p11be_fallback_release();
    return table;
}

/*
 * One kind: its row, the three entries that must know the kind before a
 * context exists, and its dispatch table. Names are spelled out in full.
 */
#define KDF_KIND(kind, newctx, settable, gettable, functions, kdf_name)        \
    static const struct kdf_kind kind = {kdf_name, "KDF " kdf_name};           \
    static void *newctx(void *provctx)                                         \
    {                                                                          \
        return kdf_newctx(provctx, &kind);                                     \
    }                                                                          \
    static const OSSL_PARAM *settable(void *vctx, void *provctx)               \
    {                                                                          \
        (void)vctx;                                                            \
        (void)provctx;                                                         \
        return kdf_params_table(&kind, 1);                                     \
    }                                                                          \
    static const OSSL_PARAM *gettable(void *vctx, void *provctx)               \
    {                                                                          \
        (void)vctx;                                                            \
        (void)provctx;                                                         \
        return kdf_params_table(&kind, 0);                                     \
    }                                                                          \
    const OSSL_DISPATCH functions[] = {                                        \
        {OSSL_FUNC_KDF_NEWCTX, (void (*)(void))newctx},                        \
        {OSSL_FUNC_KDF_DUPCTX, (void (*)(void))kdf_dupctx},                    \
        {OSSL_FUNC_KDF_FREECTX, (void (*)(void))kdf_freectx},                  \
        {OSSL_FUNC_KDF_RESET, (void (*)(void))kdf_reset},                      \
        {OSSL_FUNC_KDF_DERIVE, (void (*)(void))kdf_derive},                    \
        {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))settable},         \
        {OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))kdf_set_ctx_params},    \
        {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))gettable},         \
        {OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))kdf_get_ctx_params},    \
        {0, NULL},                                                             \
    }

KDF_KIND(kdf_hkdf, hkdf_newctx, hkdf_settable, hkdf_gettable,
         p11be_kdf_hkdf_functions, "HKDF");
KDF_KIND(kdf_tls13, tls13_newctx, tls13_settable, tls13_gettable,
         p11be_kdf_tls13_functions, "TLS13-KDF");
KDF_KIND(kdf_sskdf, sskdf_newctx, sskdf_settable, sskdf_gettable,
         p11be_kdf_sskdf_functions, "SSKDF");
KDF_KIND(kdf_pbkdf2, pbkdf2_newctx, pbkdf2_settable, pbkdf2_gettable,
         p11be_kdf_pbkdf2_functions, "PBKDF2");
KDF_KIND(kdf_pkcs12, pkcs12_newctx, pkcs12_settable, pkcs12_gettable,
         p11be_kdf_pkcs12_functions, "PKCS12KDF");
KDF_KIND(kdf_sshkdf, sshkdf_newctx, sshkdf_settable, sshkdf_gettable,
         p11be_kdf_sshkdf_functions, "SSHKDF");
KDF_KIND(kdf_x963, x963_newctx, x963_settable, x963_gettable,
         p11be_kdf_x963_functions, "X963KDF");
KDF_KIND(kdf_tls1_prf, tls1_prf_newctx, tls1_prf_settable, tls1_prf_gettable,
         p11be_kdf_tls1_prf_functions, "TLS1-PRF");
KDF_KIND(kdf_kbkdf, kbkdf_newctx, kbkdf_settable, kbkdf_gettable,
         p11be_kdf_kbkdf_functions, "KBKDF");
KDF_KIND(kdf_krb5, krb5_newctx, krb5_settable, krb5_gettable,
         p11be_kdf_krb5_functions, "KRB5KDF");
KDF_KIND(kdf_x942_asn1, x942_asn1_newctx, x942_asn1_settable,
         x942_asn1_gettable, p11be_kdf_x942_asn1_functions, "X942KDF-ASN1");
KDF_KIND(kdf_scrypt, scrypt_newctx, scrypt_settable, scrypt_gettable,
         p11be_kdf_scrypt_functions, "SCRYPT");
