/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL 3.0 has no public, non-deprecated entry point for the PSS and
 * OAEP encodings alone (the providers call them internally), and writing
 * them again would give up OpenSSL's constant-time OAEP check. So this
 * file, and only this one, allows the deprecated RSA_padding_* API. It also
 * holds the parameter plumbing signature_rsa.c and asym_cipher.c share.
 */
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED

#include "rsa_pad.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "digests.h"
#include "err.h"
#include "reentry.h"

#define RSA_NAME_MAX 64 /* longest digest name read back from the host */

void p11be_rsa_params_free(struct p11be_rsa_params *rp)
{
    EVP_MD_free(rp->md);
    EVP_MD_free(rp->mgf1);
    rp->md = rp->mgf1 = NULL;
}

int p11be_rsa_params_read(P11BE_KEYOP *op, int signature,
                          struct p11be_rsa_params *rp)
{
    char md_name[RSA_NAME_MAX] = "", mgf1_name[RSA_NAME_MAX] = "";
    void *label = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &rp->pad),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, md_name,
                               sizeof(md_name)),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1_name,
                               sizeof(mgf1_name)),
        OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &rp->saltlen),
        OSSL_PARAM_END,
        OSSL_PARAM_END,
        OSSL_PARAM_END,
    };
    OSSL_LIB_CTX *libctx = p11be_fallback_libctx();

    memset(rp, 0, sizeof(*rp));
    if (!signature) {
        params[3] = OSSL_PARAM_construct_octet_ptr(
            OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, &label, 0);
        params[4] = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &rp->tls_client);
        params[5] = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &rp->tls_alt);
    }
    if (EVP_PKEY_CTX_get_params(op->host, params) <= 0)
        goto out_raise;
    rp->label = label;
    rp->label_len = label != NULL ? params[3].return_size : 0;
    if (md_name[0] != '\0'
        && (rp->md = EVP_MD_fetch(libctx, md_name, NULL)) == NULL)
        goto out_raise;
    if (mgf1_name[0] == '\0' && rp->md != NULL && EVP_MD_up_ref(rp->md))
        rp->mgf1 = rp->md;
    else if (mgf1_name[0] != '\0'
             && (rp->mgf1 = EVP_MD_fetch(libctx, mgf1_name, NULL)) == NULL)
        goto out_raise;
    return 1;

out_raise:
    p11be_raise(op->prov->handle, P11BE_R_INVALID_ARGUMENT,
                "%s: cannot read back the parameters (digest \"%s\", "
                "mgf1-digest \"%s\")",
                op->what, md_name, mgf1_name);
    p11be_rsa_params_free(rp);
    return 0;
}

/* md as PKCS#11 names it: its hash mechanism and its MGF1; 0 if none. */
static int rsa_hash_mech(const EVP_MD *md, CK_MECHANISM_TYPE *hash,
                         CK_RSA_PKCS_MGF_TYPE *mgf)
{
    const P11BE_DIGEST *d;

    for (d = p11be_digests; d->name != NULL; d++) {
        if (d->mgf != 0 && EVP_MD_is_a(md, d->name)) {
            *hash = d->mech;
            *mgf = d->mgf;
            return 1;
        }
    }
    return 0;
}

int p11be_rsa_native_ok(P11BE_KEYOP *op, CK_MECHANISM_TYPE mech,
                        const char *mech_name, CK_FLAGS flag,
                        const struct p11be_rsa_params *rp,
                        struct p11be_mech_shape *shape)
{
    CK_RSA_PKCS_MGF_TYPE unused_mgf;
    CK_MECHANISM_TYPE mgf1_hash;
    CK_MECHANISM_INFO info;
    int present;

    shape->mech = mech;
    if (!rsa_hash_mech(rp->md, &shape->hash, &unused_mgf)
        || !rsa_hash_mech(rp->mgf1, &mgf1_hash, &shape->mgf))
        return 0;
    present = p11be_mech_lookup(&op->prov->tc, mech, mech_name, &info);
    if (present <= 0)
        return present;
    /*
     * Nor with a hash the token lacks: opencryptoki 3.8 (no SHA-224) takes
     * MGF1 with SHA-224 at C_DecryptInit and fails C_Decrypt with
     * CKR_FUNCTION_FAILED.
     */
    return (info.flags & flag) != 0
           && p11be_has_mech(&op->prov->tc, shape->hash)
           && p11be_has_mech(&op->prov->tc, mgf1_hash)
           && !p11be_key_shape_refused(&op->prov->tc, shape);
}

void p11be_rsa_left_pad(unsigned char *buf, size_t len, size_t k)
{
    if (len < k) {
        memmove(buf + (k - len), buf, len);
        memset(buf, 0, k - len);
    }
}

int p11be_rsa_below_modulus(const EVP_PKEY *host, const unsigned char *in,
                            size_t len)
{
    BIGNUM *n = NULL, *x = BN_bin2bn(in, (int)len, NULL);
    int below =
        x != NULL && EVP_PKEY_get_bn_param(host, "n", &n) && BN_cmp(x, n) < 0;

    BN_free(n);
    BN_clear_free(x);
    return below;
}

int p11be_rsa_pss_encode(const EVP_PKEY *host, unsigned char *em,
                         const unsigned char *mhash, const EVP_MD *md,
                         const EVP_MD *mgf1_md, int salt_len)
{
    /* The legacy view of the public key: the encoding needs its size. */
    const RSA *rsa = EVP_PKEY_get0_RSA(host);

    return rsa != NULL
           && RSA_padding_add_PKCS1_PSS_mgf1((RSA *)rsa, em, mhash, md, mgf1_md,
                                             salt_len)
                  == 1;
}

int p11be_rsa_oaep_decode(unsigned char *to, size_t tlen,
                          const unsigned char *em, size_t k,
                          const unsigned char *label, size_t label_len,
                          const EVP_MD *md, const EVP_MD *mgf1_md)
{
    if (tlen > INT_MAX || k > INT_MAX || label_len > INT_MAX)
        return -1;
    return RSA_padding_check_PKCS1_OAEP_mgf1(
        to, (int)tlen, em, (int)k, (int)k, label, (int)label_len, md, mgf1_md);
}

/*
 * Constant-time helpers: masks are all ones (true) or all zeros (false),
 * and no branch or index depends on a secret. The empty asm keeps the
 * compiler from turning a mask back into a branch.
 */
static unsigned int ct_barrier(unsigned int a)
{
    __asm__("" : "+r"(a));
    return a;
}

static unsigned int ct_msb(unsigned int a)
{
    return 0u - (a >> (sizeof(a) * 8 - 1));
}

static unsigned int ct_is_zero(unsigned int a)
{
    return ct_msb(~a & (a - 1));
}

static unsigned int ct_eq(unsigned int a, unsigned int b)
{
    return ct_is_zero(a ^ b);
}

static unsigned char ct_select_8(unsigned int mask, unsigned char a,
                                 unsigned char b)
{
    mask = ct_barrier(mask);
    return (unsigned char)((mask & a) | (~mask & b));
}

/*
 * out = secret when good and the secret starts with the client's version
 * (or the negotiated one, when libssl tolerates clients that send it:
 * SSL_OP_TLS_ROLLBACK_BUG), else random. The version is checked like the
 * padding: a wrong one must not be told apart (Klima, Pokorny and Rosa).
 */
static void tls_select(unsigned char *out, const unsigned char *secret,
                       unsigned int good, const struct p11be_rsa_params *rp,
                       const unsigned char *random)
{
    unsigned int version_good, alt_good;
    size_t i;

    version_good = ct_eq(secret[0], (rp->tls_client >> 8) & 0xff)
                   & ct_eq(secret[1], rp->tls_client & 0xff);
    alt_good = ct_eq(secret[0], (rp->tls_alt >> 8) & 0xff)
               & ct_eq(secret[1], rp->tls_alt & 0xff)
               & ~ct_is_zero(rp->tls_alt); /* rp->tls_alt is public */
    good &= version_good | alt_good;
    for (i = 0; i < P11BE_TLS_PREMASTER_LEN; i++)
        out[i] = ct_select_8(good, secret[i], random[i]);
}

void p11be_rsa_tls_premaster(unsigned char *out, const unsigned char *em,
                             size_t k, const struct p11be_rsa_params *rp,
                             const unsigned char *random)
{
    size_t zero_at = k - P11BE_TLS_PREMASTER_LEN - 1, i;
    unsigned int good;

    /* 00 02, non-zero padding up to the 00 just before 48 bytes. */
    good = ct_is_zero(em[0]) & ct_eq(em[1], 2);
    for (i = 2; i < zero_at; i++)
        good &= ~ct_is_zero(em[i]);
    good &= ct_is_zero(em[zero_at]);
    tls_select(out, em + zero_at + 1, good, rp, random);
}

void p11be_rsa_tls_premaster_msg(unsigned char *out, const unsigned char *msg,
                                 size_t msg_len, int decrypted,
                                 const struct p11be_rsa_params *rp,
                                 const unsigned char *random)
{
    unsigned int good = ct_eq((unsigned int)decrypted, 1)
                        & ct_eq((unsigned int)msg_len, P11BE_TLS_PREMASTER_LEN);

    tls_select(out, msg, good, rp, random);
}
