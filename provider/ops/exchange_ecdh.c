/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyexch "ECDH" with the private key on the token, on the key-exchange
 * skeleton of exchange.c.
 *
 * Deriving: C_DeriveKey with CKM_ECDH1_DERIVE (no KDF, the peer's
 * uncompressed point). The secret is as long as the field (the x
 * coordinate), as with OpenSSL, and is truncated to a shorter buffer as
 * OpenSSL does. With kdf-type X963KDF (CMS uses it), the token's secret
 * goes through X9.63 KDF on the host, with kdf-digest, kdf-ukm and
 * kdf-outlen, as OpenSSL's ECDH does.
 *
 * Cofactor mode changes nothing on the curves offered (cofactor 1).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"
#include "reentry.h"

/* The largest x coordinate offered (P-521). */
#define ECDH_SECRET_MAX 66

/* The KDF settings of the host context (kdf-type "" when none). */
struct ecdh_kdf {
    char type[32];   /* kdf-type: "" or "X963KDF" */
    char digest[64]; /* kdf-digest */
    size_t outlen;   /* kdf-outlen */
    const void *ukm; /* kdf-ukm, owned by the host context */
    size_t ukm_len;  /* bytes in ukm */
};

/* Reads them; refuses a KDF other than X9.63 (the only one OpenSSL has). */
static int ecdh_read_kdf(P11BE_PKEY_CTX *ctx, struct ecdh_kdf *kdf)
{
    OSSL_PARAM get[5];

    memset(kdf, 0, sizeof(*kdf));
    get[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                              kdf->type, sizeof(kdf->type));
    get[1] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST,
                                              kdf->digest, sizeof(kdf->digest));
    get[2] = OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN,
                                         &kdf->outlen);
    get[3] = OSSL_PARAM_construct_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM,
                                            (void **)&kdf->ukm, 0);
    get[4] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(ctx->op.host, get) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "ECDH: cannot read the KDF settings");
        return 0;
    }
    kdf->ukm_len = get[3].return_size;
    if (kdf->type[0] != '\0' && strcmp(kdf->type, OSSL_KDF_NAME_X963KDF) != 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH with kdf-type %s is not offered by pkcs11be",
                    kdf->type);
        return 0;
    }
    if (kdf->type[0] != '\0' && (kdf->digest[0] == '\0' || kdf->outlen == 0)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH with %s needs kdf-digest and kdf-outlen", kdf->type);
        return 0;
    }
    return 1;
}

/* X9.63 KDF over the shared secret z, on the host (as OpenSSL's ECDH). */
static int ecdh_x963(P11BE_PKEY_CTX *ctx, const struct ecdh_kdf *kdf,
                     const unsigned char *z, size_t z_len, unsigned char *out)
{
    EVP_KDF *alg =
        EVP_KDF_fetch(p11be_fallback_libctx(), OSSL_KDF_NAME_X963KDF, NULL);
    EVP_KDF_CTX *kctx = alg != NULL ? EVP_KDF_CTX_new(alg) : NULL;
    OSSL_PARAM params[4], *p = params;
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)kdf->digest, 0);
    *p++ =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
    if (kdf->ukm != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, (void *)kdf->ukm, kdf->ukm_len);
    *p = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, kdf->outlen, params) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(alg);
    if (!ok)
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: %s with %s failed", kdf->type, kdf->digest);
    return ok;
}

static int ecdh_derive(P11BE_PKEY_CTX *ctx, unsigned char *secret,
                       size_t *secretlen, size_t outlen,
                       const unsigned char *unused, size_t unused_len)
{
    CK_ECDH1_DERIVE_PARAMS params = {CKD_NULL, 0, NULL, 0, NULL};
    CK_MECHANISM mech = {CKM_ECDH1_DERIVE, &params, sizeof(params)};
    unsigned char z[ECDH_SECRET_MAX];
    size_t size;
    struct ecdh_kdf kdf;
    int ok = 0;

    (void)unused;
    (void)unused_len;
    if (!ecdh_read_kdf(ctx, &kdf))
        return 0;
    size = (EVP_PKEY_get_bits(ctx->op.key->host) + 7) / 8;
    if (secret == NULL) {
        *secretlen = kdf.type[0] != '\0' ? kdf.outlen : size;
        return 1;
    }
    if (kdf.type[0] != '\0' && outlen < kdf.outlen) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "ECDH with %s: the secret needs %zu bytes, got %zu",
                    kdf.type, kdf.outlen, outlen);
        return 0;
    }
    if (size > sizeof(z)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: the curve is too large");
        return 0;
    }
    params.ulPublicDataLen = ctx->peer_pub_len;
    params.pPublicData = ctx->peer_pub;
    if (!p11be_exch_token_secret(ctx, &mech, z, size))
        goto out_wipe;
    if (kdf.type[0] != '\0') {
        ok = ecdh_x963(ctx, &kdf, z, size, secret);
        if (ok)
            *secretlen = kdf.outlen;
        goto out_wipe;
    }
    /* Without a KDF, truncated to a shorter buffer as OpenSSL does. */
    *secretlen = outlen < size ? outlen : size;
    memcpy(secret, z, *secretlen);
    ok = 1;
out_wipe:
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

static const OSSL_PARAM ecdh_settable[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ecdh_gettable[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(ecdh_settable_ctx_params, ecdh_settable)
P11BE_PARAMS_TABLE_FN(ecdh_gettable_ctx_params, ecdh_gettable)

static const struct p11be_pkey_alg exch_ecdh = {
    .what = "ECDH",
    .key_type = "EC",
    .mech = CKM_ECDH1_DERIVE,
    .mech_name = "CKM_ECDH1_DERIVE",
    .token_host_op = EVP_PKEY_OP_DERIVE,
    .token_op = ecdh_derive,
};

static void *ecdh_newctx(void *provctx)
{
    return p11be_pkey_ctx_new(provctx, &exch_ecdh);
}

const OSSL_DISPATCH p11be_keyexch_ecdh_functions[] = {
    {OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))ecdh_newctx},
    {OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS,
     (void (*)(void))ecdh_settable_ctx_params},
    {OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS,
     (void (*)(void))ecdh_gettable_ctx_params},
    P11BE_EXCH_FUNCTIONS,
    {0, NULL},
};
