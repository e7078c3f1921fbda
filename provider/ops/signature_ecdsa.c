/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signature "ECDSA", with the private-key operation on the token.
 *
 * Parameters go to a context of OpenSSL's default provider on the key's
 * host copy (keyobj.h), so digest and digest-size are checked and
 * reported, and the algorithm-id built, exactly as OpenSSL does.
 *
 * Signing: the digest (hashed on the host for EVP_DigestSign*, by the
 * default provider in the fallback library context) is signed by C_Sign
 * with CKM_ECDSA, which returns r||s, each as long as the group order;
 * that becomes the DER ECDSA-Sig-Value OpenSSL writes. One C_SignInit +
 * C_Sign per signature; the rest is the skeleton's (signature.c).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"

/* r||s of the largest curve offered (P-521: 2 x 66 bytes). */
#define ECDSA_RAW_MAX 132

typedef P11BE_PKEY_CTX ECDSA_CTX;

/*
 * One DER INTEGER holding the unsigned big-endian number in[0..len) (len
 * >= 1): written to out unless out is NULL; returns its size. Lengths stay
 * below 128 for every curve pkcs11be offers (P-521: 66 bytes + a pad).
 */
static size_t ecdsa_der_uint(const unsigned char *in, size_t len,
                             unsigned char *out)
{
    size_t pad;

    while (len > 1 && in[0] == 0) {
        in++;
        len--;
    }
    pad = (in[0] & 0x80) != 0;
    if (out != NULL) {
        out[0] = 0x02;
        out[1] = (unsigned char)(len + pad);
        out[2] = 0;
        memcpy(out + 2 + pad, in, len);
    }
    return 2 + pad + len;
}

/*
 * r||s (half bytes each) as the DER SEQUENCE OpenSSL writes, into sig
 * (room sigsize). Written directly: through ECDSA_SIG and i2d it cost
 * ~2% of a P-256 signature on SoftHSM2.
 */
static int ecdsa_raw_to_der(ECDSA_CTX *ctx, const unsigned char *raw,
                            size_t half, unsigned char *sig, size_t *siglen,
                            size_t sigsize)
{
    size_t r_len = ecdsa_der_uint(raw, half, NULL);
    size_t s_len = ecdsa_der_uint(raw + half, half, NULL);
    size_t body = r_len + s_len;
    size_t head = body < 0x80 ? 2 : 3;

    if (head + body > sigsize) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an ECDSA signature needs %zu bytes, got %zu", head + body,
                    sigsize);
        return 0;
    }
    sig[0] = 0x30;
    if (head == 2) {
        sig[1] = (unsigned char)body;
    } else {
        sig[1] = 0x81;
        sig[2] = (unsigned char)body;
    }
    ecdsa_der_uint(raw, half, sig + head);
    ecdsa_der_uint(raw + half, half, sig + head + r_len);
    *siglen = head + body;
    return 1;
}

/* The private-key operation over tbs (a digest when one is set). */
static int ecdsa_sign_digest(ECDSA_CTX *ctx, unsigned char *sig, size_t *siglen,
                             size_t sigsize, const unsigned char *tbs,
                             size_t tbs_len)
{
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    size_t half = (EVP_PKEY_get_bits(ctx->op.key->host) + 7) / 8;
    unsigned char raw[ECDSA_RAW_MAX];
    size_t raw_len = sizeof(raw);
    size_t md_size = 0;
    OSSL_PARAM get[2];

    if (2 * half > sizeof(raw)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA: the curve is too large");
        return 0;
    }
    /* As OpenSSL: with a digest set, the input must be that digest. */
    get[0] =
        OSSL_PARAM_construct_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, &md_size);
    get[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(ctx->op.host, get) > 0 && md_size != 0
        && tbs_len != md_size) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "ECDSA signature: the input must be the %zu-byte digest, "
                    "got %zu bytes",
                    md_size, tbs_len);
        return 0;
    }
    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_SIGN, &mech, "CKM_ECDSA",
                              tbs, tbs_len, raw, &raw_len, NULL))
        return 0;
    if (raw_len != 2 * half) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_Sign (CKM_ECDSA) returned %zu bytes, not %zu", raw_len,
                    2 * half);
        return 0;
    }
    return ecdsa_raw_to_der(ctx, raw, half, sig, siglen, sigsize);
}

static const OSSL_PARAM ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_END,
};

/* Whatever OpenSSL's own ECDSA reports, algorithm-id included. */
P11BE_PARAMS_TABLE_FN(ecdsa_gettable_ctx_params, ecdsa_gettable)
P11BE_PARAMS_TABLE_FN(ecdsa_settable_ctx_params, ecdsa_settable)

static const struct p11be_pkey_alg sig_ecdsa = {
    .what = "ECDSA signature",
    .key_type = "EC",
    .mech = CKM_ECDSA,
    .mech_name = "CKM_ECDSA",
    .token_host_op = EVP_PKEY_OP_SIGN,
    .default_md = "SHA256", /* the EC keymgmt's default-digest */
    .token_op = ecdsa_sign_digest,
};

static void *ecdsa_newctx(void *provctx, const char *propq)
{
    (void)propq; /* digests come from the default provider */
    return p11be_pkey_ctx_new(provctx, &sig_ecdsa);
}

const OSSL_DISPATCH p11be_signature_ecdsa_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))ecdsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))ecdsa_settable_ctx_params},
    P11BE_SIG_DIGEST_FUNCTIONS,
    {0, NULL},
};
