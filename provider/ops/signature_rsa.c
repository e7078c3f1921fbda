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
 * Hashing for EVP_DigestSign* happens on the host, by the default provider
 * in the fallback library context (never by pkcs11be, so no recursion),
 * and the digest is signed as above: one C_SignInit + C_Sign per
 * signature, a context that EVP_MD_CTX_copy can duplicate at any point,
 * and no session held between update and final. Measured with SoftHSM2
 * (tests/c/rsa_check.c hashbench, RSA-2048), host hashing + CKM_RSA_PKCS
 * is as fast as CKM_SHA256_RSA_PKCS for short messages (about 800/s both)
 * and about twice as fast for 1 MiB ones (about 400/s against 200/s).
 *
 * Verification (and verify-recover) is a public-key operation: it runs on
 * the host copy by the default provider, as does everything in a context
 * made while the thread is inside a token call (re-entry, see reentry.h;
 * signing there needs a key imported from software).
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
#include "keyop.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "rsa_pad.h"

static OSSL_FUNC_signature_newctx_fn sig_newctx;
static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_sign_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_verify_init_fn sig_verify_init;
static OSSL_FUNC_signature_verify_fn sig_verify;
static OSSL_FUNC_signature_verify_recover_init_fn sig_verify_recover_init;
static OSSL_FUNC_signature_verify_recover_fn sig_verify_recover;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_sign_final;
static OSSL_FUNC_signature_digest_verify_init_fn sig_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn sig_digest_verify_final;
static OSSL_FUNC_signature_get_ctx_params_fn sig_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn sig_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn sig_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn sig_settable_ctx_params;
static OSSL_FUNC_signature_get_ctx_md_params_fn sig_get_ctx_md_params;
static OSSL_FUNC_signature_gettable_ctx_md_params_fn sig_gettable_ctx_md_params;
static OSSL_FUNC_signature_set_ctx_md_params_fn sig_set_ctx_md_params;
static OSSL_FUNC_signature_settable_ctx_md_params_fn sig_settable_ctx_md_params;

struct sig_ctx_st {
    P11BE_KEYOP op;    /* the key and its host context: see top */
    EVP_MD_CTX *mdctx; /* DigestSign/DigestVerify: the host's hash */
};

typedef struct sig_ctx_st SIG_CTX;

static void *sig_newctx(void *provctx, const char *propq)
{
    SIG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    (void)propq; /* digests come from the default provider: see top */
    if (ctx == NULL)
        return NULL;
    p11be_keyop_new(&ctx->op, provctx, "RSA signature");
    return ctx;
}

static void sig_freectx(void *vctx)
{
    SIG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->mdctx);
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *sig_dupctx(void *vctx)
{
    SIG_CTX *src = vctx;
    SIG_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst == NULL)
        return NULL;
    if (!p11be_keyop_dup(&dst->op, &src->op)
        || (src->mdctx != NULL
            && ((dst->mdctx = EVP_MD_CTX_new()) == NULL
                || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))) {
        sig_freectx(dst);
        return NULL;
    }
    return dst;
}

/*
 * Takes the key (NULL: keep the one set before) and initialises the host
 * context for `operation`, with params applied.
 */
static int sig_init(SIG_CTX *ctx, void *provkey, const OSSL_PARAM params[],
                    int operation)
{
    int sign = operation == EVP_PKEY_OP_SIGN, ok;

    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    if (!p11be_keyop_init(&ctx->op, provkey, operation, sign))
        return 0;
    if (!EVP_PKEY_is_a(ctx->op.key->host, "RSA")
        && !EVP_PKEY_is_a(ctx->op.key->host, "RSA-PSS")) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA signature needs an RSA key, not %s",
                    ctx->op.key->kind->name);
        return 0;
    }
    /* Signing on the token: the host context only holds the params. */
    if (sign && ctx->op.on_host)
        ok = EVP_PKEY_sign_init(ctx->op.host);
    else if (operation == EVP_PKEY_OP_VERIFYRECOVER)
        ok = EVP_PKEY_verify_recover_init(ctx->op.host);
    else
        ok = EVP_PKEY_verify_init(ctx->op.host);
    if (ok <= 0 || !p11be_keyop_set_params(&ctx->op, params))
        return 0;
    if (sign && !ctx->op.on_host)
        return p11be_check_mech(&ctx->op.prov->tc, CKM_RSA_PKCS,
                                "CKM_RSA_PKCS");
    return 1;
}

static int sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_SIGN);
}

static int sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFY);
}

static int sig_verify_recover_init(void *vctx, void *provkey,
                                   const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFYRECOVER);
}

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
    struct p11be_mech_shape shape;
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_MECHANISM mech = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
    int native, refused = 0;

    native = p11be_rsa_native_ok(&ctx->op, CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS",
                                 CKF_SIGN, sp, &shape);
    if (native <= 0)
        return native < 0 ? 0 : -1;
    pss.hashAlg = shape.hash;
    pss.mgf = shape.mgf;
    pss.sLen = salt;
    if (sig_token(ctx, &mech, "CKM_RSA_PKCS_PSS", tbs, tbs_len, sig, k,
                  &refused))
        return 1;
    if (!refused)
        return 0;
    p11be_key_note_refused(&ctx->op.prov->tc, &shape);
    return -1;
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

    if (ctx->op.on_host) {
        *siglen = sigsize;
        return EVP_PKEY_sign(ctx->op.host, sig, siglen, tbs, tbs_len) > 0;
    }
    if (sig == NULL) {
        *siglen = k;
        return 1;
    }
    if (sigsize < k) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "an RSA signature needs %zu bytes, got %zu", k, sigsize);
        return 0;
    }
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

static int sig_sign(void *vctx, unsigned char *sig, size_t *siglen,
                    size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
    SIG_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
        return 0;
    return sig_sign_digest(ctx, sig, siglen, sigsize, tbs, tbslen);
}

static int sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                      const unsigned char *tbs, size_t tbslen)
{
    SIG_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFY))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, tbs, tbslen);
}

static int sig_verify_recover(void *vctx, unsigned char *rout, size_t *routlen,
                              size_t routsize, const unsigned char *sig,
                              size_t siglen)
{
    SIG_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_VERIFYRECOVER))
        return 0;
    *routlen = routsize;
    return EVP_PKEY_verify_recover(ctx->op.host, rout, routlen, sig, siglen)
           > 0;
}

/* Init, then the digest (OpenSSL's order), hashed on the host. */
static int sig_digest_init(SIG_CTX *ctx, const char *mdname, void *provkey,
                           const OSSL_PARAM params[], int operation)
{
    EVP_MD *md;
    int ok;

    if (!sig_init(ctx, provkey, params, operation))
        return 0;
    if (mdname != NULL) {
        OSSL_PARAM set[2];

        set[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                  (char *)mdname, 0);
        set[1] = OSSL_PARAM_construct_end();

        if (EVP_PKEY_CTX_set_params(ctx->op.host, set) <= 0)
            return 0;
    } else {
        mdname = "SHA256"; /* the RSA keymgmt's default-digest */
    }
    md = EVP_MD_fetch(p11be_fallback_libctx(), mdname, NULL);
    ctx->mdctx = EVP_MD_CTX_new();
    ok = md != NULL && ctx->mdctx != NULL
         && EVP_DigestInit_ex2(ctx->mdctx, md, NULL);
    EVP_MD_free(md);
    if (!ok)
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA signature: cannot hash with %s", mdname);
    return ok;
}

static int sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                                const OSSL_PARAM params[])
{
    return sig_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_SIGN);
}

static int sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                  const OSSL_PARAM params[])
{
    return sig_digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_VERIFY);
}

static int sig_digest_update(void *vctx, const unsigned char *data,
                             size_t datalen)
{
    SIG_CTX *ctx = vctx;

    if (ctx->mdctx == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "RSA digest update without digest init");
        return 0;
    }
    return EVP_DigestUpdate(ctx->mdctx, data, datalen);
}

/* Finishes the host's hash into dgst; 0 (raised) out of order. */
static int sig_digest_final(SIG_CTX *ctx, unsigned char *dgst,
                            unsigned int *dgst_len)
{
    if (ctx->mdctx == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "RSA digest final without digest init");
        return 0;
    }
    return EVP_DigestFinal_ex(ctx->mdctx, dgst, dgst_len);
}

static int sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
                                 size_t sigsize)
{
    SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;

    /* A size query leaves the hash running. */
    if (sig == NULL) {
        if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_SIGN))
            return 0;
        *siglen = EVP_PKEY_get_size(ctx->op.key->host);
        return 1;
    }
    if (!sig_digest_final(ctx, dgst, &dgst_len))
        return 0;
    return sig_sign_digest(ctx, sig, siglen, sigsize, dgst, dgst_len);
}

static int sig_digest_verify_final(void *vctx, const unsigned char *sig,
                                   size_t siglen)
{
    SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dgst_len = 0;

    if (!sig_digest_final(ctx, dgst, &dgst_len))
        return 0;
    return EVP_PKEY_verify(ctx->op.host, sig, siglen, dgst, dgst_len);
}

static const OSSL_PARAM *sig_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

/* Whatever OpenSSL's own RSA signature reports, algorithm-id included. */
static int sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

static const OSSL_PARAM *sig_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

/* After init (OpenSSL allows nothing else); NULL or empty: nothing to do. */
static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;

    return p11be_keyop_set_params(&ctx->op, params);
}

static const OSSL_PARAM *sig_gettable_ctx_md_params(void *vctx)
{
    SIG_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || EVP_MD_CTX_get0_md(ctx->mdctx) == NULL)
        return NULL;
    return EVP_MD_gettable_ctx_params(EVP_MD_CTX_get0_md(ctx->mdctx));
}

static int sig_get_ctx_md_params(void *vctx, OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_get_params(ctx->mdctx, params);
}

static const OSSL_PARAM *sig_settable_ctx_md_params(void *vctx)
{
    SIG_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || EVP_MD_CTX_get0_md(ctx->mdctx) == NULL)
        return NULL;
    return EVP_MD_settable_ctx_params(EVP_MD_CTX_get0_md(ctx->mdctx));
}

static int sig_set_ctx_md_params(void *vctx, const OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;

    return ctx->mdctx != NULL && EVP_MD_CTX_set_params(ctx->mdctx, params);
}

static const OSSL_DISPATCH p11be_signature_rsa_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify},
    {OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT,
     (void (*)(void))sig_verify_recover_init},
    {OSSL_FUNC_SIGNATURE_VERIFY_RECOVER, (void (*)(void))sig_verify_recover},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
     (void (*)(void))sig_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
     (void (*)(void))sig_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
     (void (*)(void))sig_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
     (void (*)(void))sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
     (void (*)(void))sig_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sig_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
     (void (*)(void))sig_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
     (void (*)(void))sig_settable_ctx_params},
    {OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS,
     (void (*)(void))sig_get_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
     (void (*)(void))sig_gettable_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS,
     (void (*)(void))sig_set_ctx_md_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS,
     (void (*)(void))sig_settable_ctx_md_params},
    {0, NULL},
};

/* In signature_ecdsa.c and signature_eddsa.c. */
extern const OSSL_DISPATCH p11be_signature_ecdsa_functions[];
extern const OSSL_DISPATCH p11be_signature_ed25519_functions[];
extern const OSSL_DISPATCH p11be_signature_ed448_functions[];
/* In mac_pkey.c. */
extern const OSSL_DISPATCH p11be_signature_hmac_functions[];
extern const OSSL_DISPATCH p11be_signature_cmac_functions[];

/*
 * The MAC rows come first: in pkcs11-offload = keys mode provider.c offers
 * the table from the first key row on (p11be_signature_key_algorithms).
 */
const OSSL_ALGORITHM p11be_signature_algorithms[] = {
    {"HMAC", P11BE_PROPS, p11be_signature_hmac_functions,
     "HMAC through EVP_DigestSign, made on the PKCS#11 token"},
    {"CMAC", P11BE_PROPS, p11be_signature_cmac_functions,
     "CMAC through EVP_DigestSign, made on the PKCS#11 token"},
    {P11BE_NAMES_RSA, P11BE_PROPS, p11be_signature_rsa_functions,
     "RSA signatures with the key on the PKCS#11 token"},
    {P11BE_NAMES_ECDSA, P11BE_PROPS, p11be_signature_ecdsa_functions,
     "ECDSA signatures with the key on the PKCS#11 token"},
    {P11BE_NAMES_ED25519, P11BE_PROPS, p11be_signature_ed25519_functions,
     "Ed25519 signatures with the key on the PKCS#11 token"},
    {P11BE_NAMES_ED448, P11BE_PROPS, p11be_signature_ed448_functions,
     "Ed448 signatures with the key on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
const OSSL_ALGORITHM *const p11be_signature_key_algorithms =
    p11be_signature_algorithms + 2;
