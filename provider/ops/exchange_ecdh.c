/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyexch "ECDH" with the private key on the token, on the key-exchange
 * skeleton of exchange.c.
 *
 * Deriving: C_DeriveKey with CKM_ECDH1_DERIVE (no KDF, the peer's
 * uncompressed point). The secret is as long as the field (the x
 * coordinate), as with OpenSSL, and is truncated to a shorter buffer as
 * OpenSSL does. With kdf-type X963KDF (CMS uses it), the token's secret
 * goes through the X9.63 KDF in the default provider, as OpenSSL's ECDH
 * does (p11be_exch_kdf_derive).
 *
 * Cofactor mode changes nothing on the curves offered (cofactor 1).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"

/* The largest x coordinate offered (P-521). */
#define ECDH_SECRET_MAX 66

static int ecdh_derive(P11BE_PKEY_CTX *ctx, unsigned char *secret,
                       size_t *secretlen, size_t outlen,
                       const unsigned char *unused, size_t unused_len)
{
    CK_ECDH1_DERIVE_PARAMS params = {CKD_NULL, 0, NULL, ctx->peer_pub_len,
                                     ctx->peer_pub};
    CK_MECHANISM mech = {CKM_ECDH1_DERIVE, &params, sizeof(params)};
    unsigned char z[ECDH_SECRET_MAX];
    size_t size = (EVP_PKEY_get_bits(ctx->op.key->host) + 7) / 8;
    int ok;

    (void)unused;
    (void)unused_len;
    if (size > sizeof(z)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDH: the curve is too large");
        return 0;
    }
    ok = p11be_exch_kdf_derive(ctx, &mech, size, secret, secretlen, outlen);
    if (ok >= 0)
        return ok;
    if (secret == NULL) {
        *secretlen = size;
        return 1;
    }
    ok = p11be_exch_token_secret(ctx, &mech, z, size);
    if (ok) {
        /* Without a KDF, truncated to a shorter buffer as OpenSSL does. */
        *secretlen = outlen < size ? outlen : size;
        memcpy(secret, z, *secretlen);
    }
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

/* What the default provider's ECDH takes and reports. */
#define ECDH_PARAMS                                                            \
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),           \
        P11BE_EXCH_KDF_PARAMS

static const OSSL_PARAM ecdh_gettable[] = {ECDH_PARAMS, OSSL_PARAM_END};
static const OSSL_PARAM ecdh_settable[] = {ECDH_PARAMS, P11BE_EXCH_KDF_SETTABLE,
                                           OSSL_PARAM_END};

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

P11BE_PKEY_NEWCTX_FN(ecdh_newctx, exch_ecdh)

const OSSL_DISPATCH p11be_keyexch_ecdh_functions[] = {
    P11BE_EXCH_FUNCTIONS(ecdh_newctx, ecdh_gettable_ctx_params,
                         ecdh_settable_ctx_params),
    {0, NULL},
};
