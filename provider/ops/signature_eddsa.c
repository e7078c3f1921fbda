/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signature "ED25519" and "ED448": pure EdDSA (RFC 8032), one-shot as
 * OpenSSL requires (EVP_DigestSign / EVP_DigestVerify, no digest), on the
 * skeleton of signature.c.
 *
 * Signing is C_SignInit + C_Sign with CKM_EDDSA (no parameters: pure
 * Ed25519, and Ed448 with an empty context) over the whole message, on
 * the token. Verification, and signing with a key in process memory when
 * the work stays on the host, run on the key's host copy by OpenSSL's
 * default provider.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "pkey_op.h"
#include "reentry.h"

/* One-shot signing on the host copy (fallback library context). */
static int eddsa_host_sign(P11BE_PKEY_CTX *ctx, unsigned char *sig,
                           size_t *siglen, const unsigned char *tbs,
                           size_t tbslen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx != NULL
             && EVP_DigestSignInit_ex(mctx, NULL, NULL, p11be_fallback_libctx(),
                                      NULL, ctx->op.key->host, NULL)
                    == 1
             && EVP_DigestSign(mctx, sig, siglen, tbs, tbslen) == 1;

    EVP_MD_CTX_free(mctx);
    return ok;
}

static int eddsa_token_sign(P11BE_PKEY_CTX *ctx, unsigned char *sig,
                            size_t *siglen, size_t sigsize,
                            const unsigned char *tbs, size_t tbslen)
{
    static const unsigned char empty[1];
    CK_MECHANISM mech = {CKM_EDDSA, NULL, 0};
    size_t want = EVP_PKEY_get_size(ctx->op.key->host), len = sigsize;

    /* An empty message may come as NULL; C_Sign wants a pointer. */
    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_SIGN, &mech, "CKM_EDDSA",
                              tbs != NULL ? tbs : empty, tbslen, sig, &len,
                              NULL))
        return 0;
    if (len != want) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_Sign (CKM_EDDSA) returned %zu bytes, not %zu", len,
                    want);
        return 0;
    }
    *siglen = len;
    return 1;
}

static const OSSL_PARAM eddsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_END,
};

P11BE_PARAMS_TABLE_FN(eddsa_gettable_ctx_params, eddsa_gettable)

/* The algorithm-id: the OID alone, as OpenSSL writes it. */
static int eddsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    static const unsigned char ed25519_aid[] = {0x30, 0x05, 0x06, 0x03,
                                                0x2b, 0x65, 0x70};
    static const unsigned char ed448_aid[] = {0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x71};
    P11BE_PKEY_CTX *ctx = vctx;
    OSSL_PARAM *p;
    int ed448 = strcmp(ctx->alg->key_type, "ED448") == 0;

    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL
        && !OSSL_PARAM_set_octet_string(p, ed448 ? ed448_aid : ed25519_aid,
                                        ed448 ? sizeof(ed448_aid)
                                              : sizeof(ed25519_aid)))
        return 0;
    return 1;
}

static const struct p11be_pkey_alg sig_ed25519 = {
    .what = "Ed25519 signature",
    .key_type = "ED25519",
    .mech = CKM_EDDSA,
    .mech_name = "CKM_EDDSA",
    .token_op = eddsa_token_sign,
    .host_sign = eddsa_host_sign,
};

static const struct p11be_pkey_alg sig_ed448 = {
    .what = "Ed448 signature",
    .key_type = "ED448",
    .mech = CKM_EDDSA,
    .mech_name = "CKM_EDDSA",
    .token_op = eddsa_token_sign,
    .host_sign = eddsa_host_sign,
};

static void *ed25519_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return p11be_pkey_ctx_new(provctx, &sig_ed25519);
}

static void *ed448_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return p11be_pkey_ctx_new(provctx, &sig_ed448);
}

/* The entries both share; no set_ctx_params (EdDSA takes none). */
#define EDDSA_FUNCTIONS                                                        \
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))p11be_pkey_ctx_free},        \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))p11be_pkey_ctx_dup},      \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,                                 \
         (void (*)(void))p11be_sig_digest_sign_init},                          \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))p11be_sig_sign},     \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,                               \
         (void (*)(void))p11be_sig_digest_verify_init},                        \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY,                                    \
         (void (*)(void))p11be_sig_digest_verify},                             \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,                                   \
         (void (*)(void))eddsa_get_ctx_params},                                \
    {                                                                          \
        OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,                               \
            (void (*)(void))eddsa_gettable_ctx_params                          \
    }

const OSSL_DISPATCH p11be_signature_ed25519_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ed25519_newctx},
    EDDSA_FUNCTIONS,
    {0, NULL},
};

const OSSL_DISPATCH p11be_signature_ed448_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ed448_newctx},
    EDDSA_FUNCTIONS,
    {0, NULL},
};
