/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyexch "DH" (finite-field Diffie-Hellman, PKCS#3) with the private key
 * on the token, on the key-exchange skeleton of exchange.c.
 *
 * Deriving: C_DeriveKey with CKM_DH_PKCS_DERIVE, whose parameter is the
 * peer's public value. The secret is as OpenSSL's DH gives it: with
 * "pad" (TLS 1.3 asks for it) as long as the prime, else without its
 * leading zero bytes. With kdf-type X942KDF-ASN1 (CMS uses it), the
 * secret, padded, goes through the X9.42 KDF in the default provider, as
 * OpenSSL's DH does (p11be_exch_kdf_derive).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"

/* pad: the host context takes it but does not report it back. */
static int dh_set_params(P11BE_PKEY_CTX *ctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p =
        OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_PAD);
    unsigned int pad;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_uint(p, &pad))
        return 0;
    ctx->pad = pad != 0;
    return 1;
}

static int dh_derive(P11BE_PKEY_CTX *ctx, unsigned char *secret,
                     size_t *secretlen, size_t outlen,
                     const unsigned char *unused, size_t unused_len)
{
    CK_MECHANISM mech = {CKM_DH_PKCS_DERIVE, ctx->peer_pub, ctx->peer_pub_len};
    size_t size = EVP_PKEY_get_size(ctx->op.key->host), skip = 0;
    unsigned char *z;
    int ok;

    (void)unused;
    (void)unused_len;
    ok = p11be_exch_kdf_derive(ctx, &mech, size, secret, secretlen, outlen);
    if (ok >= 0)
        return ok;
    if (secret == NULL) {
        *secretlen = size;
        return 1;
    }
    if (outlen < size) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "a DH secret needs %zu bytes, got %zu", size, outlen);
        return 0;
    }
    if ((z = OPENSSL_malloc(size)) == NULL)
        return 0;
    ok = p11be_exch_token_secret(ctx, &mech, z, size);
    while (ok && !ctx->pad && skip < size - 1 && z[skip] == 0)
        skip++;
    if (ok) {
        *secretlen = size - skip;
        memcpy(secret, z + skip, *secretlen);
    }
    OPENSSL_clear_free(z, size);
    return ok;
}

/* What the default provider's DH takes and reports. */
#define DH_PARAMS                                                              \
    P11BE_EXCH_KDF_PARAMS,                                                     \
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_CEK_ALG, NULL, 0)

static const OSSL_PARAM dh_settable[] = {
    OSSL_PARAM_uint(OSSL_EXCHANGE_PARAM_PAD, NULL), DH_PARAMS,
    P11BE_EXCH_KDF_SETTABLE, OSSL_PARAM_END};
static const OSSL_PARAM dh_gettable[] = {DH_PARAMS, OSSL_PARAM_END};

P11BE_PARAMS_TABLE_FN(dh_settable_ctx_params, dh_settable)
P11BE_PARAMS_TABLE_FN(dh_gettable_ctx_params, dh_gettable)

static const struct p11be_pkey_alg exch_dh = {
    .what = "DH",
    .key_type = "DH",
    .mech = CKM_DH_PKCS_DERIVE,
    .mech_name = "CKM_DH_PKCS_DERIVE",
    .token_host_op = EVP_PKEY_OP_DERIVE,
    .token_op = dh_derive,
    .set_params = dh_set_params,
};

P11BE_PKEY_NEWCTX_FN(dh_newctx, exch_dh)

const OSSL_DISPATCH p11be_keyexch_dh_functions[] = {
    P11BE_EXCH_FUNCTIONS(dh_newctx, dh_gettable_ctx_params,
                         dh_settable_ctx_params),
    {0, NULL},
};
