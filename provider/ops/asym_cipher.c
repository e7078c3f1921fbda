/* SPDX-License-Identifier: Apache-2.0 */
/*
 * asym-cipher "RSA": PKCS#1 v1.5, OAEP and raw ("none") decryption with
 * the private key on the token; encryption with the public key on the
 * host.
 *
 * As in signature_rsa.c, each context keeps a context of OpenSSL's
 * default provider on the key's host copy and sends every parameter there
 * (pad-mode, digest, mgf1-digest, oaep-label ..), so they are checked and
 * defaulted as OpenSSL does. Encryption is a public-key operation and runs
 * there, by the default provider.
 *
 * Decryption, per padding:
 *   pkcs1  C_Decrypt with CKM_RSA_PKCS.
 *   none   C_Decrypt with CKM_RSA_X_509; the result is modulus-size.
 *   oaep   CKM_RSA_PKCS_OAEP with the hash and MGF1 when the token lists
 *          it for decryption and has not refused that pair before;
 *          otherwise (SoftHSM2 2.6.1 takes SHA-1 only; PKCS#11 has no name
 *          for SHA-3) the token decrypts raw with CKM_RSA_X_509 and
 *          OpenSSL's constant-time OAEP check runs on the host (rsa_pad.c).
 *          A refusal at C_DecryptInit is remembered per token (keyobj.h).
 *          A label goes the host way too: SoftHSM2 2.6.1 accepts one at
 *          C_DecryptInit and then ignores it, and no mechanism info tells
 *          such a token from one that honours it; only a token without
 *          CKM_RSA_X_509 gets the label. Every failed decryption raises
 *          the same error.
 *   TLS    (RSA_PKCS1_WITH_TLS_PADDING, libssl's RSA key exchange) the
 *          premaster secret, always 48 bytes: see enc_decrypt_tls().
 * A ciphertext shorter than the modulus is left-padded with zeros, as
 * OpenSSL reads it; a longer one is refused.
 *
 * A context made while the thread is inside a token call (re-entry, see
 * reentry.h) runs on the host copy only, so it decrypts only with a key
 * imported from software.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "debug.h"
#include "err.h"
#include "keyop.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "rsa_pad.h"

static OSSL_FUNC_asym_cipher_newctx_fn enc_newctx;
static OSSL_FUNC_asym_cipher_freectx_fn enc_freectx;
static OSSL_FUNC_asym_cipher_dupctx_fn enc_dupctx;
static OSSL_FUNC_asym_cipher_encrypt_init_fn enc_encrypt_init;
static OSSL_FUNC_asym_cipher_encrypt_fn enc_encrypt;
static OSSL_FUNC_asym_cipher_decrypt_init_fn enc_decrypt_init;
static OSSL_FUNC_asym_cipher_decrypt_fn enc_decrypt;
static OSSL_FUNC_asym_cipher_get_ctx_params_fn enc_get_ctx_params;
static OSSL_FUNC_asym_cipher_gettable_ctx_params_fn enc_gettable_ctx_params;
static OSSL_FUNC_asym_cipher_set_ctx_params_fn enc_set_ctx_params;
static OSSL_FUNC_asym_cipher_settable_ctx_params_fn enc_settable_ctx_params;

struct enc_ctx_st {
    P11BE_KEYOP op; /* the key and its host context: see top */
};

typedef struct enc_ctx_st ENC_CTX;

static void *enc_newctx(void *provctx)
{
    ENC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx != NULL)
        p11be_keyop_new(&ctx->op, provctx, "RSA encryption");
    return ctx;
}

static void enc_freectx(void *vctx)
{
    ENC_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11be_keyop_cleanup(&ctx->op);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

static void *enc_dupctx(void *vctx)
{
    ENC_CTX *src = vctx;
    ENC_CTX *dst = OPENSSL_zalloc(sizeof(*dst));

    if (dst != NULL && !p11be_keyop_dup(&dst->op, &src->op)) {
        enc_freectx(dst);
        return NULL;
    }
    return dst;
}

/* Takes the key and initialises the host context, with params applied. */
static int enc_init(ENC_CTX *ctx, void *provkey, const OSSL_PARAM params[],
                    int operation)
{
    int decrypt = operation == EVP_PKEY_OP_DECRYPT, ok;

    if (!p11be_keyop_init(&ctx->op, provkey, operation, decrypt))
        return 0;
    if (!EVP_PKEY_is_a(ctx->op.key->host, "RSA")) {
        /* An RSA-PSS key: the default provider's own refusal. */
        if (EVP_PKEY_is_a(ctx->op.key->host, "RSA-PSS")
            && (decrypt ? EVP_PKEY_decrypt_init(ctx->op.host)
                        : EVP_PKEY_encrypt_init(ctx->op.host))
                   <= 0)
            return 0;
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA %s needs an RSA key, not %s",
                    decrypt ? "decryption" : "encryption",
                    ctx->op.key->kind->name);
        return 0;
    }
    /* Decrypting on the token: the host context only holds the params. */
    if (decrypt && ctx->op.on_host)
        ok = EVP_PKEY_decrypt_init(ctx->op.host);
    else
        ok = EVP_PKEY_encrypt_init(ctx->op.host);
    return ok > 0 && p11be_keyop_set_params(&ctx->op, params);
}

static int enc_encrypt_init(void *vctx, void *provkey,
                            const OSSL_PARAM params[])
{
    return enc_init(vctx, provkey, params, EVP_PKEY_OP_ENCRYPT);
}

static int enc_decrypt_init(void *vctx, void *provkey,
                            const OSSL_PARAM params[])
{
    return enc_init(vctx, provkey, params, EVP_PKEY_OP_DECRYPT);
}

static int enc_encrypt(void *vctx, unsigned char *out, size_t *outlen,
                       size_t outsize, const unsigned char *in, size_t inlen)
{
    ENC_CTX *ctx = vctx;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_ENCRYPT))
        return 0;
    *outlen = outsize;
    return EVP_PKEY_encrypt(ctx->op.host, out, outlen, in, inlen) > 0;
}

/* The token's raw decryption, made modulus-size (k bytes) in em. */
static int enc_raw(ENC_CTX *ctx, const unsigned char *in, unsigned char *em,
                   size_t k)
{
    CK_MECHANISM mech = {CKM_RSA_X_509, NULL, 0};
    size_t len = k;

    if (!p11be_key_private_op(ctx->op.key, P11BE_USE_DECRYPT, &mech,
                              "CKM_RSA_X_509", in, k, em, &len, NULL))
        return 0;
    p11be_rsa_left_pad(em, len, k);
    return 1;
}

/* Whether the token decrypts raw (CKM_RSA_X_509): 1, 0, or -1 (raised). */
static int enc_raw_usable(ENC_CTX *ctx)
{
    CK_MECHANISM_INFO info;
    int present = p11be_mech_lookup(&ctx->op.prov->tc, CKM_RSA_X_509,
                                    "CKM_RSA_X_509", &info);

    return present <= 0 ? present : (info.flags & CKF_DECRYPT) != 0;
}

/* CKM_RSA_PKCS_OAEP if the token may take it: 1 done, 0 failed, -1 no. */
static int enc_oaep_native(ENC_CTX *ctx, const struct p11be_rsa_params *ep,
                           const unsigned char *in, size_t k,
                           unsigned char *msg, size_t *msg_len)
{
    struct p11be_mech_shape shape;
    CK_RSA_PKCS_OAEP_PARAMS oaep;
    CK_MECHANISM mech = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
    int raw, native = 0, refused = 0;

    /* A label goes the host way unless the token cannot decrypt raw. */
    raw = ep->label_len > 0 ? enc_raw_usable(ctx) : 0;
    if (raw < 0)
        return 0;
    if (!raw)
        native =
            p11be_rsa_native_ok(&ctx->op, CKM_RSA_PKCS_OAEP,
                                "CKM_RSA_PKCS_OAEP", CKF_DECRYPT, ep, &shape);
    if (native <= 0)
        return native < 0 ? 0 : -1;
    oaep.hashAlg = shape.hash;
    oaep.mgf = shape.mgf;
    oaep.source = CKZ_DATA_SPECIFIED;
    oaep.pSourceData = ep->label_len > 0 ? (void *)ep->label : NULL;
    oaep.ulSourceDataLen = ep->label_len;
    if (p11be_key_private_op(ctx->op.key, P11BE_USE_DECRYPT, &mech,
                             "CKM_RSA_PKCS_OAEP", in, k, msg, msg_len,
                             &refused))
        return 1;
    if (!refused)
        return 0;
    p11be_key_note_refused(&ctx->op.prov->tc, &shape);
    return -1;
}

/* OAEP on the token, or raw on the token and the check on the host. */
static int enc_oaep(ENC_CTX *ctx, const struct p11be_rsa_params *ep,
                    const unsigned char *in, size_t k, unsigned char *msg,
                    size_t *msg_len)
{
    unsigned char *em;
    int done, len = -1;

    done = enc_oaep_native(ctx, ep, in, k, msg, msg_len);
    if (done >= 0)
        return done;
    P11BE_DEBUG("OAEP with %s / MGF1 %s, %s label: checked on the host",
                EVP_MD_get0_name(ep->md), EVP_MD_get0_name(ep->mgf1),
                ep->label_len > 0 ? "a" : "no");
    em = OPENSSL_malloc(k);
    if (em == NULL)
        return 0;
    if (enc_raw(ctx, in, em, k))
        len = p11be_rsa_oaep_decode(msg, k, em, k, ep->label, ep->label_len,
                                    ep->md, ep->mgf1);
    OPENSSL_clear_free(em, k);
    if (len < 0)
        return 0;
    *msg_len = len;
    return 1;
}

/*
 * The TLS premaster secret (libssl's RSA key exchange in a TLS 1.0-1.2
 * server) into out, 48 bytes. As OpenSSL's default provider does (RFC 5246
 * 7.4.7.1), a ClientKeyExchange whose padding, length or version is wrong
 * gives 48 random bytes, success and no error: the handshake then fails at
 * Finished and the client learns nothing for Bleichenbacher's attack. So
 * the token decrypts raw (CKM_RSA_X_509), which fails only for reasons the
 * client already knows, and the host checks in constant time (rsa_pad.c).
 * A token without raw RSA decrypts with CKM_RSA_PKCS, and any failure of
 * that is taken as bad padding too (how long the token took to refuse is
 * then its own to hide). em is k bytes of scratch.
 */
static int enc_decrypt_tls(ENC_CTX *ctx, const struct p11be_rsa_params *ep,
                           const unsigned char *in, size_t k, unsigned char *em,
                           unsigned char *out)
{
    CK_MECHANISM raw_mech = {CKM_RSA_X_509, NULL, 0};
    CK_MECHANISM pkcs1 = {CKM_RSA_PKCS, NULL, 0};
    unsigned char random[P11BE_TLS_PREMASTER_LEN];
    size_t len = k;
    int raw, refused = 0, decrypted;

    if (ep->tls_client == 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA TLS premaster decryption needs the client's "
                    "version (\"%s\")",
                    OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
        return 0;
    }
    if (k < RSA_PKCS1_PADDING_SIZE + P11BE_TLS_PREMASTER_LEN) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a %zu-byte RSA key is too small for a TLS premaster", k);
        return 0;
    }
    if (RAND_priv_bytes_ex(p11be_fallback_libctx(), random, sizeof(random), 0)
        <= 0) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_FALLBACK_FAILED,
                    "no random bytes for the TLS premaster");
        return 0;
    }
    raw = enc_raw_usable(ctx);
    if (raw < 0)
        return 0;
    if (raw
        && p11be_key_private_op(ctx->op.key, P11BE_USE_DECRYPT, &raw_mech,
                                "CKM_RSA_X_509", in, k, em, &len, &refused)) {
        p11be_rsa_left_pad(em, len, k);
        p11be_rsa_tls_premaster(out, em, k, ep, random);
        OPENSSL_cleanse(random, sizeof(random));
        return 1;
    }
    if (raw && !refused)
        return 0;
    P11BE_DEBUG("TLS premaster with CKM_RSA_PKCS: the token lacks raw RSA");
    ERR_set_mark();
    decrypted = p11be_key_private_op(ctx->op.key, P11BE_USE_DECRYPT, &pkcs1,
                                     "CKM_RSA_PKCS", in, k, em, &len, NULL);
    ERR_pop_to_mark();
    p11be_rsa_tls_premaster_msg(out, em, len, decrypted, ep, random);
    OPENSSL_cleanse(random, sizeof(random));
    return 1;
}

/* The decryption into msg (k bytes of room); *msg_len its length. */
static int enc_decrypt_token(ENC_CTX *ctx, const struct p11be_rsa_params *ep,
                             const unsigned char *in, size_t k,
                             unsigned char *msg, size_t *msg_len)
{
    CK_MECHANISM pkcs1 = {CKM_RSA_PKCS, NULL, 0};

    switch (ep->pad) {
    case RSA_PKCS1_PADDING:
        *msg_len = k;
        return p11be_key_private_op(ctx->op.key, P11BE_USE_DECRYPT, &pkcs1,
                                    "CKM_RSA_PKCS", in, k, msg, msg_len, NULL);
    case RSA_NO_PADDING:
        *msg_len = k;
        return enc_raw(ctx, in, msg, k);
    case RSA_PKCS1_OAEP_PADDING:
        *msg_len = k;
        if (ep->md != NULL)
            return enc_oaep(ctx, ep, in, k, msg, msg_len);
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA OAEP decryption without a digest");
        return 0;
    default:
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA decryption: padding mode %d is not offered by "
                    "pkcs11be (pkcs1, oaep, none or pkcs1 for TLS)",
                    ep->pad);
        return 0;
    }
}

static int enc_decrypt(void *vctx, unsigned char *out, size_t *outlen,
                       size_t outsize, const unsigned char *in, size_t inlen)
{
    ENC_CTX *ctx = vctx;
    struct p11be_rsa_params ep;
    unsigned char *buf;
    size_t k, out_len, msg_len = 0;
    int ok = 0;

    if (!p11be_keyop_ready(&ctx->op, EVP_PKEY_OP_DECRYPT))
        return 0;
    if (ctx->op.on_host) {
        *outlen = outsize;
        return EVP_PKEY_decrypt(ctx->op.host, out, outlen, in, inlen) > 0;
    }
    k = out_len = EVP_PKEY_get_size(ctx->op.key->host);
    if (!p11be_rsa_params_read(&ctx->op, 0, &ep))
        return 0;
    if (ep.pad == RSA_PKCS1_WITH_TLS_PADDING)
        out_len = P11BE_TLS_PREMASTER_LEN;
    if (out == NULL) {
        *outlen = out_len;
        ok = 1;
        goto out_free_params;
    }
    if (ep.pad == RSA_PKCS1_WITH_TLS_PADDING && outsize < out_len) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "the TLS premaster is %zu bytes, the buffer %zu", out_len,
                    outsize);
        goto out_free_params;
    }
    if (inlen > k) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "RSA decryption: a %zu-byte ciphertext is longer than "
                    "the %zu-byte modulus",
                    inlen, k);
        goto out_free_params;
    }
    /* Ciphertext (left-padded to k) then the message, in one buffer. */
    buf = OPENSSL_zalloc(2 * k);
    if (buf == NULL)
        goto out_free_params;
    memcpy(buf + (k - inlen), in, inlen);
    if (ep.pad == RSA_PKCS1_WITH_TLS_PADDING) {
        ok = enc_decrypt_tls(ctx, &ep, buf, k, buf + k, out);
        if (ok)
            *outlen = out_len;
        goto out_free_buf;
    }
    if (!enc_decrypt_token(ctx, &ep, buf, k, buf + k, &msg_len)) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "RSA decryption failed");
        goto out_free_buf;
    }
    if (msg_len > outsize) {
        p11be_raise(ctx->op.prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "the RSA decryption is %zu bytes, the buffer %zu", msg_len,
                    outsize);
        goto out_free_buf;
    }
    memcpy(out, buf + k, msg_len);
    *outlen = msg_len;
    ok = 1;
out_free_buf:
    OPENSSL_clear_free(buf, 2 * k);
out_free_params:
    p11be_rsa_params_free(&ep);
    return ok;
}

static const OSSL_PARAM *enc_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return gettable;
}

static int enc_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    ENC_CTX *ctx = vctx;

    return p11be_keyop_get_params(&ctx->op, params);
}

static const OSSL_PARAM *enc_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, NULL,
                               0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, NULL,
                               0),
        OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
        OSSL_PARAM_END,
    };

    (void)vctx;
    (void)provctx;
    return settable;
}

/* After init (OpenSSL allows nothing else); NULL or empty: nothing to do. */
static int enc_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ENC_CTX *ctx = vctx;

    return p11be_keyop_set_params(&ctx->op, params);
}

static const OSSL_DISPATCH p11be_asym_cipher_rsa_functions[] = {
    {OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))enc_newctx},
    {OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))enc_freectx},
    {OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))enc_dupctx},
    {OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (void (*)(void))enc_encrypt_init},
    {OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))enc_encrypt},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))enc_decrypt_init},
    {OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))enc_decrypt},
    {OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, (void (*)(void))enc_get_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
     (void (*)(void))enc_gettable_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (void (*)(void))enc_set_ctx_params},
    {OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS,
     (void (*)(void))enc_settable_ctx_params},
    {0, NULL},
};

const OSSL_ALGORITHM p11be_asym_cipher_algorithms[] = {
    {P11BE_NAMES_RSA, P11BE_PROPS, p11be_asym_cipher_rsa_functions,
     "RSA decryption with the key on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
