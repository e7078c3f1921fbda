/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signature "RSA": PKCS#1 v1.5, PSS and raw ("none") signatures, with the
 * private-key operation always on the token.
 *
 * Parameters. Each context keeps a context of OpenSSL's default provider
 * on the key's host copy (keyobj.h), and every parameter goes there: so
 * pad-mode, digest, mgf1-digest and saltlen are checked, defaulted and
 * reported exactly as OpenSSL does, and the algorithm-id is OpenSSL's. A
 * signature reads the settled values back from it.
 *
 * Signing, per padding:
 *   pkcs1  C_Sign with CKM_RSA_PKCS over the DigestInfo built on the host
 *          (or over the input itself when no digest is set, as OpenSSL).
 *   none   C_Sign with CKM_RSA_X_509 over exactly modulus-size input.
 *   pss    CKM_RSA_PKCS_PSS with the hash, MGF1 and salt length when the
 *          token lists it for signing and has not refused that hash/MGF1
 *          pair before; otherwise (SoftHSM2 2.6.1 refuses MGF1 other than
 *          the hash, and PKCS#11 has no name for SHA-3) EMSA-PSS is done on
 *          the host by OpenSSL (rsa_pad.c) and the token signs raw with
 *          CKM_RSA_X_509. A refusal at C_SignInit is remembered per token
 *          (keyobj.h), so each pair costs the token one refused init, once.
 *   Salt lengths as OpenSSL 3.0 signs: "digest" is the hash size, "max"
 *   and "auto" the largest that fits.
 *
 * The rest is the skeleton's (signature.c): hashing on the host, then the
 * digest signed as above. Measured with SoftHSM2 (tests/c/rsa_check.c
 * hashbench, RSA-2048), host hashing + CKM_RSA_PKCS is as fast as
 * CKM_SHA256_RSA_PKCS for short messages (about 800/s both) and about
 * twice as fast for 1 MiB ones (about 400/s against 200/s).
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "debug.h"
#include "err.h"
#include "names.h"
#include "pkey_op.h"
#include "provider.h"
#include "rsa_pad.h"

typedef P11BE_PKEY_CTX SIG_CTX;

/*
 * The token's signature into sig (k bytes), left-padded with zeros if the
 * token drops leading zero bytes. `refused` as p11be_key_private_op().
 */
static int sig_token(SIG_CTX *ctx, CK_MECHANISM *mech, const char *mech_name,
                     const unsigned char *in, size_t in_len, unsigned char *sig,
                     size_t k, int *refused)
{
    size_t len = k;

    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_SIGN, mech, mech_name, in,
                              in_len, sig, &len, refused))
        return 0;
    p11be_rsa_left_pad(sig, len, k);
    return 1;
}

/* DER DigestInfo of the digest, as RSA_sign() builds it; -1 on failure. */
static int sig_digest_info(const EVP_MD *md, const unsigned char *dgst,
                           size_t dgst_len, unsigned char **out)
{
    int nid = EVP_MD_get_type(md);
    X509_SIG *xs;
    X509_ALGOR *alg;
    ASN1_OCTET_STRING *os;
    int len = -1;

    if (nid == NID_undef || (xs = X509_SIG_new()) == NULL)
        return -1;
    X509_SIG_getm(xs, &alg, &os);
    if (X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL)
        && ASN1_OCTET_STRING_set(os, dgst, (int)dgst_len))
        len = i2d_X509_SIG(xs, out);
    X509_SIG_free(xs);
    return len;
}

static int sig_pkcs1(SIG_CTX *ctx, const struct p11be_rsa_params *sp,
                     const unsigned char *tbs, size_t tbs_len,
                     unsigned char *sig, size_t k)
{
    CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
    unsigned char *info = NULL;
    int info_len, ok;

    /* No digest, or TLS's MD5+SHA-1: the input is signed as it is. */
    if (sp->md == NULL || EVP_MD_is_a(sp->md, "MD5-SHA1")) {
        if (tbs_len + 11 <= k)
            return sig_token(ctx, &mech, "CKM_RSA_PKCS", tbs, tbs_len, sig, k,
                             NULL);
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA PKCS#1 signature: %zu bytes are too long for a "
                    "%zu-bit key",
                    tbs_len, k * 8);
        return 0;
    }
    info_len = sig_digest_info(sp->md, tbs, tbs_len, &info);
    if (info_len < 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA PKCS#1 signature: no DigestInfo for %s",
                    EVP_MD_get0_name(sp->md));
        return 0;
    }
    if ((size_t)info_len + 11 > k) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA PKCS#1 signature: a %s digest is too long for a "
                    "%zu-bit key",
                    EVP_MD_get0_name(sp->md), k * 8);
        OPENSSL_free(info);
        return 0;
    }
    ok = sig_token(ctx, &mech, "CKM_RSA_PKCS", info, info_len, sig, k, NULL);
    OPENSSL_free(info);
    return ok;
}

/* The salt length to sign with, as OpenSSL 3.0 does; -1 (raised) if none. */
static int sig_pss_salt(SIG_CTX *ctx, const struct p11be_rsa_params *sp,
                        size_t k)
{
    int bits = EVP_PKEY_get_bits(ctx->op.key->host);
    int hlen = EVP_MD_get_size(sp->md);
    /* EM is one byte shorter when the modulus is 8n + 1 bits long. */
    int max = (int)k - (((bits - 1) & 7) == 0) - hlen - 2;
    int salt = sp->saltlen;

    if (salt == RSA_PSS_SALTLEN_DIGEST)
        salt = hlen;
    else if (salt == RSA_PSS_SALTLEN_MAX_SIGN || salt == RSA_PSS_SALTLEN_MAX)
        salt = max;
#ifdef RSA_PSS_SALTLEN_AUTO_DIGEST_MAX
    else if (salt == RSA_PSS_SALTLEN_AUTO_DIGEST_MAX)
        salt = max < hlen ? max : hlen;
#endif
    if (salt < 0 || salt > max) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA PSS with %s: a salt of %d bytes does not fit a "
                    "%d-bit key (at most %d)",
                    EVP_MD_get0_name(sp->md), salt, bits, max);
        return -1;
    }
    return salt;
}

/* CKM_RSA_PKCS_PSS if the token may take it: 1 signed, 0 failed, -1 no. */
static int sig_pss_native(SIG_CTX *ctx, const struct p11be_rsa_params *sp,
                          int salt, const unsigned char *tbs, size_t tbs_len,
                          unsigned char *sig, size_t k)
{
    CK_RSA_PKCS_PSS_PARAMS pss = {0, 0, (CK_ULONG)salt};
    CK_MECHANISM mech = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
    size_t len = k;
    int done = p11be_rsa_native_op(&ctx->op, P11BE_USE_SIGN, &mech,
                                   "CKM_RSA_PKCS_PSS", sp, &pss.hashAlg,
                                   &pss.mgf, tbs, tbs_len, sig, &len);

    if (done == 1)
        p11be_rsa_left_pad(sig, len, k);
    return done;
}

static int sig_pss(SIG_CTX *ctx, const struct p11be_rsa_params *sp,
                   const unsigned char *tbs, size_t tbs_len, unsigned char *sig,
                   size_t k)
{
    CK_MECHANISM mech = {CKM_RSA_X_509, NULL, 0};
    CK_MECHANISM_INFO info;
    unsigned char *em;
    int salt, done, ok = 0;

    if ((salt = sig_pss_salt(ctx, sp, k)) < 0)
        return 0;
    done = sig_pss_native(ctx, sp, salt, tbs, tbs_len, sig, k);
    if (done >= 0)
        return done;
    if (p11be_mech_lookup(&ctx->op.prov->tc, CKM_RSA_X_509, "CKM_RSA_X_509",
                          &info)
            != 1
        || !(info.flags & CKF_SIGN)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "RSA PSS with %s and MGF1 with %s: the token takes it "
                    "neither as CKM_RSA_PKCS_PSS nor as CKM_RSA_X_509 after "
                    "host padding",
                    EVP_MD_get0_name(sp->md), EVP_MD_get0_name(sp->mgf1));
        return 0;
    }
    P11BE_DEBUG("PSS with %s / MGF1 %s, salt %d: padded on the host",
                EVP_MD_get0_name(sp->md), EVP_MD_get0_name(sp->mgf1), salt);
    em = OPENSSL_malloc(k);
    if (em == NULL)
        return 0;
    if (!p11be_rsa_pss_encode(ctx->op.key->host, em, tbs, sp->md, sp->mgf1,
                              salt))
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA PSS encoding with %s failed",
                    EVP_MD_get0_name(sp->md));
    else
        ok = sig_token(ctx, &mech, "CKM_RSA_X_509", em, k, sig, k, NULL);
    OPENSSL_clear_free(em, k);
    return ok;
}

/* The private-key operation over tbs (a digest when one is set). */
static int sig_sign_digest(SIG_CTX *ctx, unsigned char *sig, size_t *siglen,
                           size_t sigsize, const unsigned char *tbs,
                           size_t tbs_len)
{
    CK_MECHANISM raw = {CKM_RSA_X_509, NULL, 0};
    size_t k = EVP_PKEY_get_size(ctx->op.key->host);
    struct p11be_rsa_params sp;
    int ok = 0;

    (void)sigsize; /* at least k: signature.c checked */
    if (!p11be_rsa_params_read(&ctx->op, 1, &sp))
        return 0;
    if (sp.md != NULL && sp.pad != RSA_NO_PADDING
        && tbs_len != (size_t)EVP_MD_get_size(sp.md)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA signature with %s: the input must be its %d-byte "
                    "digest, got %zu bytes",
                    EVP_MD_get0_name(sp.md), EVP_MD_get_size(sp.md), tbs_len);
        goto out_free_params;
    }
    switch (sp.pad) {
    case RSA_PKCS1_PADDING:
        ok = sig_pkcs1(ctx, &sp, tbs, tbs_len, sig, k);
        break;
    case RSA_PKCS1_PSS_PADDING:
        if (sp.md != NULL)
            ok = sig_pss(ctx, &sp, tbs, tbs_len, sig, k);
        else
            p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                        "RSA PSS signature without a digest");
        break;
    case RSA_NO_PADDING:
        if (tbs_len != k
            || !p11be_rsa_below_modulus(ctx->op.key->host, tbs, tbs_len)) {
            p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                        "raw RSA signature: the input must be %zu bytes and "
                        "below the modulus",
                        k);
            break;
        }
        ok = sig_token(ctx, &raw, "CKM_RSA_X_509", tbs, tbs_len, sig, k, NULL);
        break;
    default:
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA signature: padding mode %d is not offered by "
                    "pkcs11be (pkcs1, pss or none)",
                    sp.pad);
        break;
    }
    if (ok)
        *siglen = k;
out_free_params:
    p11be_rsa_params_free(&sp);
    return ok;
}

/* What the default provider's RSA signature takes and reports. */
#define SIG_RSA_PARAMS                                                         \
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),            \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),          \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),     \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0)

static const OSSL_PARAM sig_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    SIG_RSA_PARAMS, OSSL_PARAM_END};
static const OSSL_PARAM sig_settable[] = {
    SIG_RSA_PARAMS,
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_END};

/* Whatever OpenSSL's own RSA signature reports, algorithm-id included. */
P11BE_PARAMS_TABLE_FN(sig_gettable_ctx_params, sig_gettable)
P11BE_PARAMS_TABLE_FN(sig_settable_ctx_params, sig_settable)

static const struct p11be_pkey_alg sig_rsa = {
    .what = "RSA signature",
    .key_type = "RSA",
    .key_type_alt = "RSA-PSS",
    .mech = CKM_RSA_PKCS,
    .mech_name = "CKM_RSA_PKCS",
    .token_host_op = EVP_PKEY_OP_VERIFY,
    .default_md = "SHA256", /* the RSA keymgmt's default-digest */
    .token_op = sig_sign_digest,
};

P11BE_SIG_NEWCTX_FN(sig_newctx, sig_rsa)

const OSSL_DISPATCH p11be_signature_rsa_functions[] = {
    P11BE_SIG_DIGEST_FUNCTIONS(sig_newctx, sig_gettable_ctx_params,
                               sig_settable_ctx_params),
    P11BE_FN(OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT,
             p11be_sig_verify_recover_init),
    P11BE_FN(OSSL_FUNC_SIGNATURE_VERIFY_RECOVER, p11be_sig_verify_recover),
    {0, NULL},
};
