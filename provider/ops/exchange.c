/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key-exchange skeleton ECDH and DH fill in (pkey_op.h).
 *
 * Parameters go to a context of OpenSSL's default provider on the key's
 * host copy, which also takes the peer key, so that the peer is checked
 * (same group, a valid public key) as OpenSSL does. The peer's encoded
 * public key (an EC point, a DH public value) is read once, at set_peer.
 *
 * Deriving on the token: the algorithm's token_op names the peer in its
 * mechanism's parameter and calls p11be_exch_token_secret(): C_DeriveKey
 * makes a session CKO_SECRET_KEY that is extractable and not sensitive,
 * since OpenSSL's API hands the shared secret to the caller;
 * C_GetAttributeValue reads CKA_VALUE, and C_DestroyObject removes the
 * object at once, on the session it was made on.
 *
 * A KDF set on the host context (ECDH's X963KDF, DH's X942KDF-ASN1, for
 * CMS) runs as in OpenSSL: over the token's secret, in the default
 * provider (p11be_exch_kdf_derive).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "delegate.h"
#include "err.h"
#include "names.h"
#include "p11call.h"
#include "pkey_op.h"
#include "provider.h"
#include "reentry.h"
#include "runner.h"

int p11be_exch_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return p11be_pkey_ctx_init(vctx, provkey, params, EVP_PKEY_OP_DERIVE);
}

/* The peer must be in our group; the host context checks its key. */
int p11be_exch_set_peer(void *vctx, void *provkey)
{
    P11BE_PKEY_CTX *ctx = vctx;
    P11BE_KEY *peer = provkey;
    const char *what = ctx->alg->what;
    int len;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_DERIVE))
        return 0;
    if (peer == NULL || peer->host == NULL
        || EVP_PKEY_parameters_eq(ctx->op.key->host, peer->host) != 1) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: the peer key is not on the same curve or group as "
                    "ours",
                    what);
        return 0;
    }
    /*
     * Unchecked here, as in the default provider's own set_peer: the
     * caller chose (EVP_PKEY_derive_set_peer_ex), and a bad point fails
     * at derive, on the token or the host.
     */
    if (EVP_PKEY_derive_set_peer_ex(ctx->op.host, peer->host, 0) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: OpenSSL's default provider refuses the peer key",
                    what);
        return 0;
    }
    /*
     * Read with one call, into room for the key's size (a DH public value,
     * or more than an EC point: the size is the largest ECDSA signature).
     */
    len = EVP_PKEY_get_size(peer->host);
    OPENSSL_free(ctx->peer_pub);
    ctx->peer_pub = len > 0 ? OPENSSL_malloc(len) : NULL;
    if (ctx->peer_pub != NULL
        && !EVP_PKEY_get_octet_string_param(
            peer->host, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ctx->peer_pub, len,
            &ctx->peer_pub_len)) {
        OPENSSL_free(ctx->peer_pub);
        ctx->peer_pub = NULL;
    }
    if (ctx->peer_pub == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: cannot read the peer's public key", what);
        return 0;
    }
    p11be_key_up_ref(peer);
    p11be_key_free(ctx->peer);
    ctx->peer = peer;
    return 1;
}

int p11be_exch_derive(void *vctx, unsigned char *secret, size_t *secretlen,
                      size_t outlen)
{
    P11BE_PKEY_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_DERIVE))
        return 0;
    if (ctx->peer == NULL) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "%s: derive without a peer key", ctx->alg->what);
        return 0;
    }
    if (ctx->op.on_host) {
        *secretlen = outlen;
        return EVP_PKEY_derive(ctx->op.host, secret, secretlen) > 0;
    }
    return ctx->alg->token_op(ctx, secret, secretlen, outlen, NULL, 0);
}

CK_RV p11be_derive_read_step(struct p11be_run *run, P11BE_SESSION *sess,
                             CK_OBJECT_HANDLE base)
{
    struct p11be_derive_read *d = run->arg;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG value_len = d->len;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        /* Only read, then destroyed: usable for nothing else meanwhile. */
        {CKA_SIGN, &no, sizeof(no)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
    };
    CK_ATTRIBUTE value = {CKA_VALUE, d->out, value_len};
    CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
    CK_RV rv, drv;

    rv = P11BE_CALL(sess->fns, C_DeriveKey, sess->handle, d->mech, base, tmpl,
                    sizeof(tmpl) / sizeof(tmpl[0]), &secret);
    if (rv != CKR_OK) {
        run->at_init = 1; /* nothing made: a refusal for .refusable */
        return rv;
    }
    rv = P11BE_CALL(sess->fns, C_GetAttributeValue, sess->handle, secret,
                    &value, 1);
    d->len = value.ulValueLen;
    drv = P11BE_CALL(sess->fns, C_DestroyObject, sess->handle, secret);
    if (rv != CKR_OK)
        run->fn = "C_GetAttributeValue";
    else if (drv != CKR_OK)
        run->fn = "C_DestroyObject";
    return rv != CKR_OK ? rv : drv;
}

int p11be_exch_token_secret(P11BE_PKEY_CTX *ctx, CK_MECHANISM *mech,
                            unsigned char *z, size_t z_len)
{
    struct p11be_derive_read d = {mech, z, z_len};
    struct p11be_run run = {
        .req = {.mech = mech->mechanism},
        .fn = "C_DeriveKey",
        .mech_name = ctx->alg->mech_name,
        .step = p11be_derive_read_step,
        .arg = &d,
    };

    if (!p11be_key_run(ctx->op.key, P11BE_USE_DERIVE, &run))
        return 0;
    if (d.len > z_len) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_DeriveKey (%s) gave %lu bytes, not %zu",
                    ctx->alg->mech_name, (unsigned long)d.len, z_len);
        return 0;
    }
    /* Left-pad a secret the token shortened. */
    memmove(z + (z_len - d.len), z, d.len);
    memset(z, 0, z_len - d.len);
    return 1;
}

/* The KDFs OpenSSL's key exchanges take, and how their params differ. */
static const struct {
    const char *name;      /* kdf-type */
    const char *note;      /* for p11be_delegated_note() */
    const char *ukm_param; /* the KDF's parameter kdf-ukm goes to */
    int cekalg;            /* takes cekalg (X9.42) */
} exch_kdfs[] = {
    {OSSL_KDF_NAME_X963KDF, "KDF X963KDF of ECDH", OSSL_KDF_PARAM_INFO, 0},
    {OSSL_KDF_NAME_X942KDF_ASN1, "KDF X942KDF-ASN1 of DH", OSSL_KDF_PARAM_UKM,
     1},
};

/* The KDF settings of the host context (kdf-type "" when none). */
struct exch_kdf {
    char type[32];   /* kdf-type */
    char digest[64]; /* kdf-digest */
    char cekalg[64]; /* cekalg: the key-wrap algorithm (X9.42) */
    size_t outlen;   /* kdf-outlen */
    void *ukm;       /* kdf-ukm, owned by the host context */
    size_t ukm_len;  /* bytes in ukm */
};

/*
 * Reads them, and with a kdf-type its row of exch_kdfs[] into *row. 1, or
 * 0 (raised).
 */
static int exch_kdf_read(P11BE_PKEY_CTX *ctx, struct exch_kdf *kdf, size_t *row)
{
    const char *what = ctx->alg->what;
    OSSL_PARAM get[] = {
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, kdf->type,
                               sizeof(kdf->type)),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, kdf->digest,
                               sizeof(kdf->digest)),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_CEK_ALG, kdf->cekalg,
                               sizeof(kdf->cekalg)),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, &kdf->outlen),
        OSSL_PARAM_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM, &kdf->ukm, 0),
        OSSL_PARAM_END,
    };

    memset(kdf, 0, sizeof(*kdf));
    if (EVP_PKEY_CTX_get_params(ctx->op.host, get) <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BAD_STATE,
                    "%s: cannot read the KDF settings", what);
        return 0;
    }
    kdf->ukm_len = get[4].return_size;
    if (kdf->type[0] == '\0')
        return 1;
    for (*row = 0; *row < sizeof(exch_kdfs) / sizeof(exch_kdfs[0]); (*row)++)
        if (strcmp(kdf->type, exch_kdfs[*row].name) == 0)
            break;
    if (*row == sizeof(exch_kdfs) / sizeof(exch_kdfs[0])) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s with kdf-type %s is not offered by pkcs11be", what,
                    kdf->type);
        return 0;
    }
    if (kdf->digest[0] == '\0' || kdf->outlen == 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s with %s needs kdf-digest and kdf-outlen", what,
                    kdf->type);
        return 0;
    }
    return 1;
}

/* The KDF over the shared secret z, in the default provider. */
static int exch_kdf_run(P11BE_PKEY_CTX *ctx, const struct exch_kdf *kdf,
                        size_t row, const unsigned char *z, size_t z_len,
                        unsigned char *out)
{
    EVP_KDF *alg = EVP_KDF_fetch(p11be_fallback_libctx(), kdf->type, NULL);
    EVP_KDF_CTX *kctx = alg != NULL ? EVP_KDF_CTX_new(alg) : NULL;
    OSSL_PARAM params[5], *p = params;
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)kdf->digest, 0);
    *p++ =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
    if (kdf->ukm != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(exch_kdfs[row].ukm_param,
                                                 kdf->ukm, kdf->ukm_len);
    if (exch_kdfs[row].cekalg)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_CEK_ALG,
                                                (char *)kdf->cekalg, 0);
    *p = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, kdf->outlen, params) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(alg);
    if (ok)
        p11be_delegated_note(ctx->op.prov, exch_kdfs[row].note);
    else
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "%s: %s with %s failed", ctx->alg->what, kdf->type,
                    kdf->digest);
    return ok;
}

int p11be_exch_kdf_derive(P11BE_PKEY_CTX *ctx, CK_MECHANISM *mech, size_t z_len,
                          unsigned char *secret, size_t *secretlen,
                          size_t outlen)
{
    struct exch_kdf kdf;
    unsigned char *z;
    size_t row;
    int ok;

    if (!exch_kdf_read(ctx, &kdf, &row))
        return 0;
    if (kdf.type[0] == '\0')
        return -1;
    if (secret == NULL) {
        *secretlen = kdf.outlen;
        return 1;
    }
    if (outlen < kdf.outlen) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "%s with %s: the secret needs %zu bytes, got %zu",
                    ctx->alg->what, kdf.type, kdf.outlen, outlen);
        return 0;
    }
    if ((z = OPENSSL_malloc(z_len)) == NULL)
        return 0;
    ok = p11be_exch_token_secret(ctx, mech, z, z_len)
         && exch_kdf_run(ctx, &kdf, row, z, z_len, secret);
    OPENSSL_clear_free(z, z_len);
    if (ok)
        *secretlen = kdf.outlen;
    return ok;
}
