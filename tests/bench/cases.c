/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmark cases: one row each in bench_cases[] at the end of the
 * file, and the op functions the rows name. See bench.h for what an op
 * gets and what the runner does around it.
 */
#include "bench.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

/* Digests: the targets (#2, section 11). */
/* clang-format off */
#define DIGEST_SIZES {{64, 0.90}, {16384, 0.97}, {0, 0}}
/* clang-format on */

/* What an application hashing many messages does: reuse one EVP_MD_CTX. */
static int digest_evp_op(struct bench_evp_thread *t)
{
    unsigned int len;

    return EVP_DigestInit_ex(t->md_ctx, t->md, NULL)
           && EVP_DigestUpdate(t->md_ctx, t->in, t->in_len)
           && EVP_DigestFinal_ex(t->md_ctx, t->out, &len);
}

/* EVP_Digest() makes and frees an EVP_MD_CTX (and the provider's) per call. */
static int digest_oneshot_evp_op(struct bench_evp_thread *t)
{
    return EVP_Digest(t->in, t->in_len, t->out, NULL, t->md, NULL);
}

/* The least a PKCS#11 application can do: C_DigestInit + C_Digest. */
static CK_RV digest_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {t->mech, NULL, 0};
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_DigestInit(t->session, &mech);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Digest(t->session, t->in, t->in_len, t->out, &out_len);
}

/* MACs and ciphers: the issues' targets (#3, #4). */
/* clang-format off */
#define MAC_SIZES {{64, 0.90}, {16384, 0.97}, {0, 0}}
#define CMAC_SIZES {{64, 0.90}, {0, 0}}
#define CIPHER_SIZES {{64, 0.85}, {16384, 0.95}, {0, 0}}
/* clang-format on */

/*
 * What an application MACing many messages with one key does: set the key
 * once, then re-initialise with no key (the key object is reused).
 */
static int mac_evp_op(struct bench_evp_thread *t, const char *param,
                      const char *value)
{
    OSSL_PARAM params[2];
    size_t len;

    if (EVP_MAC_CTX_get_mac_size(t->mac_ctx) == 0) {
        params[0] = OSSL_PARAM_construct_utf8_string(param, (char *)value, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (!EVP_MAC_init(t->mac_ctx, t->key, t->key_len, params))
            return 0;
    } else if (!EVP_MAC_init(t->mac_ctx, NULL, 0, NULL)) {
        return 0;
    }
    return EVP_MAC_update(t->mac_ctx, t->in, t->in_len)
           && EVP_MAC_final(t->mac_ctx, t->out, &len, t->out_cap);
}

static int hmac_sha256_evp_op(struct bench_evp_thread *t)
{
    return mac_evp_op(t, "digest", "SHA256");
}

static int cmac_aes128_evp_op(struct bench_evp_thread *t)
{
    return mac_evp_op(t, "cipher", "AES-128-CBC");
}

/* C_SignInit + C_Sign with the key object made once. */
static CK_RV sign_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {t->mech, NULL, 0};
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_SignInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Sign(t->session, t->in, t->in_len, t->out, &out_len);
}

/*
 * One message with the key set once: a new IV through
 * EVP_CipherInit_ex2 with no cipher and no key keeps the context and the
 * key object; PKCS#7 padding on, as by default.
 */
static int cipher_evp_op(struct bench_evp_thread *t, const char *cipher)
{
    int len, fin;

    (void)cipher;
    if (EVP_CIPHER_CTX_get0_cipher(t->cipher_ctx) == NULL) {
        if (!EVP_EncryptInit_ex2(t->cipher_ctx, t->cipher, t->key, t->iv, NULL))
            return 0;
    } else if (!EVP_EncryptInit_ex2(t->cipher_ctx, NULL, NULL, t->iv, NULL)) {
        return 0;
    }
    return EVP_EncryptUpdate(t->cipher_ctx, t->out, &len, t->in, (int)t->in_len)
           && EVP_EncryptFinal_ex(t->cipher_ctx, t->out + len, &fin);
}

static int aes_cbc_evp_op(struct bench_evp_thread *t)
{
    return cipher_evp_op(t, "AES-128-CBC");
}

/* GCM: the same, and the tag. */
static int aes_gcm_evp_op(struct bench_evp_thread *t)
{
    unsigned char tag[16];

    return cipher_evp_op(t, "AES-256-GCM")
           && EVP_CIPHER_CTX_ctrl(t->cipher_ctx, EVP_CTRL_AEAD_GET_TAG,
                                  sizeof(tag), tag);
}

/* C_EncryptInit + C_Encrypt; the mechanism's padding or tag included. */
static CK_RV encrypt_p11_op(struct bench_p11_thread *t, CK_MECHANISM *mech)
{
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_EncryptInit(t->session, mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Encrypt(t->session, t->in, t->in_len, t->out, &out_len);
}

static CK_RV aes_cbc_pad_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {CKM_AES_CBC_PAD, t->iv, 16};

    return encrypt_p11_op(t, &mech);
}

static CK_RV aes_gcm_p11_op(struct bench_p11_thread *t)
{
    CK_GCM_PARAMS gcm = {t->iv, 12, 96, NULL, 0, 128};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};

    return encrypt_p11_op(t, &mech);
}

/*
 * RSA-2048 (BENCH_PKEY, bench.h): the targets (#5) for the
 * private-key operations; verify has none (pkcs11be verifies on the host).
 */
/* clang-format off */
#define RSA_SIZES {{32, 0.97}, {0, 0}}
#define RSA_VERIFY_SIZES {{32, 0.0}, {0, 0}}
/* clang-format on */

/*
 * Signing many digests with one key: the context is set up once, then one
 * EVP_PKEY_sign per SHA-256 digest. EVP_PKEY_sign on a digest rather than
 * EVP_DigestSign on a message, because pkcs11be hashes on the host
 * (signature_rsa.c) and the token's part is then exactly direct's: one
 * C_SignInit + C_Sign over the DigestInfo (CKM_RSA_PKCS) or the digest
 * (CKM_RSA_PKCS_PSS).
 */
static int rsa_evp_setup(struct bench_evp_thread *t, int sign, const char *pad)
{
    OSSL_PARAM params[4], *p = params;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                            (char *)pad, 0);
    if (sign)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                "SHA256", 0);
    if (strcmp(pad, "pss") == 0)
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN, "digest", 0);
    *p = OSSL_PARAM_construct_end();
    t->pkey_ready = EVP_PKEY_CTX_set_params(t->pkey_ctx, params) > 0;
    return t->pkey_ready;
}

static int rsa_sign_evp_op(struct bench_evp_thread *t, const char *pad)
{
    size_t len = t->out_cap;

    if (!t->pkey_ready
        && (EVP_PKEY_sign_init(t->pkey_ctx) <= 0 || !rsa_evp_setup(t, 1, pad)))
        return 0;
    return EVP_PKEY_sign(t->pkey_ctx, t->out, &len, t->in, t->in_len) > 0;
}

static int rsa_pkcs1_sign_evp_op(struct bench_evp_thread *t)
{
    return rsa_sign_evp_op(t, "pkcs1");
}

static int rsa_pss_sign_evp_op(struct bench_evp_thread *t)
{
    return rsa_sign_evp_op(t, "pss");
}

static int rsa_verify_evp_op(struct bench_evp_thread *t)
{
    if (!t->pkey_ready
        && (EVP_PKEY_verify_init(t->pkey_ctx) <= 0
            || !rsa_evp_setup(t, 1, "pkcs1")))
        return 0;
    return EVP_PKEY_verify(t->pkey_ctx, t->sig, t->sig_len, t->in, t->in_len)
           == 1;
}

static int rsa_oaep_decrypt_evp_op(struct bench_evp_thread *t)
{
    size_t len = t->out_cap;

    if (!t->pkey_ready
        && (EVP_PKEY_decrypt_init(t->pkey_ctx) <= 0
            || !rsa_evp_setup(t, 0, "oaep")))
        return 0;
    return EVP_PKEY_decrypt(t->pkey_ctx, t->out, &len, t->ct, t->ct_len) > 0;
}

/* The DER DigestInfo of a SHA-256 digest, as CKM_RSA_PKCS signs it. */
static const unsigned char sha256_info[19] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

/* DigestInfo of the input (a SHA-256 digest); its length, 0 if too long. */
static CK_ULONG rsa_digest_info(const struct bench_p11_thread *t,
                                unsigned char *info, size_t cap)
{
    if (t->in_len + sizeof(sha256_info) > cap)
        return 0;
    memcpy(info, sha256_info, sizeof(sha256_info));
    memcpy(info + sizeof(sha256_info), t->in, t->in_len);
    return sizeof(sha256_info) + t->in_len;
}

static CK_RV rsa_pkcs1_sign_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
    unsigned char info[128];
    CK_ULONG info_len = rsa_digest_info(t, info, sizeof(info));
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_SignInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Sign(t->session, info, info_len, t->out, &out_len);
}

static CK_RV rsa_pss_sign_p11_op(struct bench_p11_thread *t)
{
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM mech = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_SignInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Sign(t->session, t->in, t->in_len, t->out, &out_len);
}

static CK_RV rsa_verify_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
    unsigned char info[128];
    CK_ULONG info_len = rsa_digest_info(t, info, sizeof(info));
    CK_RV rv;

    rv = t->p11->C_VerifyInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Verify(t->session, info, info_len, t->sig, t->sig_len);
}

static CK_RV rsa_oaep_decrypt_p11_op(struct bench_p11_thread *t)
{
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1,
                                    CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM mech = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_DecryptInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Decrypt(t->session, t->ct, t->ct_len, t->out, &out_len);
}

/*
 * EC P-256 and Ed25519 (BENCH_PKEY, bench.h): the targets (#6).
 * ECDSA verification runs on the host in pkcs11be (no token call), so
 * its row compares the host with the token's C_Verify.
 */
/* clang-format off */
#define EC_SIZES {{32, 0.95}, {0, 0}}
/*
 * Token keys (bench.h, token_key): pkcs11be against direct on a session
 * copy of the same token key.
 */
#define TOKEN_KEY_SIZES {{32, 0.95}, {0, 0}}
/* clang-format on */

/*
 * ECDSA: as for RSA, the context set up once (digest SHA-256, so the
 * input must be a 32-byte digest), then one EVP_PKEY_sign per digest;
 * pkcs11be's token part is then direct's: C_SignInit + C_Sign with
 * CKM_ECDSA over the digest, and it turns r||s into DER on the host.
 */
static int ecdsa_setup(struct bench_evp_thread *t)
{
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                 "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    t->pkey_ready = EVP_PKEY_CTX_set_params(t->pkey_ctx, params) > 0;
    return t->pkey_ready;
}

static int ecdsa_sign_evp_op(struct bench_evp_thread *t)
{
    size_t len = t->out_cap;

    if (!t->pkey_ready
        && (EVP_PKEY_sign_init(t->pkey_ctx) <= 0 || !ecdsa_setup(t)))
        return 0;
    return EVP_PKEY_sign(t->pkey_ctx, t->out, &len, t->in, t->in_len) > 0;
}

static int ecdsa_verify_evp_op(struct bench_evp_thread *t)
{
    if (!t->pkey_ready
        && (EVP_PKEY_verify_init(t->pkey_ctx) <= 0 || !ecdsa_setup(t)))
        return 0;
    return EVP_PKEY_verify(t->pkey_ctx, t->sig, t->sig_len, t->in, t->in_len)
           == 1;
}

/* C_VerifyInit + C_Verify of r||s on the public key object. */
static CK_RV verify_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {t->mech, NULL, 0};
    CK_RV rv;

    rv = t->p11->C_VerifyInit(t->session, &mech, t->key);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Verify(t->session, t->in, t->in_len, t->sig, t->sig_len);
}

/*
 * Ed25519 is one-shot: EVP_DigestSignInit_ex on the thread's EVP_MD_CTX
 * once, then EVP_DigestSign per message (OpenSSL 3.0 lets a one-shot
 * context sign again). The token gets C_SignInit + C_Sign with CKM_EDDSA
 * over the message, as direct does (sign_p11_op).
 */
static int ed25519_sign_evp_op(struct bench_evp_thread *t)
{
    size_t len = t->out_cap;

    if (!t->pkey_ready) {
        if (t->md_ctx == NULL && (t->md_ctx = EVP_MD_CTX_new()) == NULL)
            return 0;
        if (EVP_DigestSignInit_ex(t->md_ctx, NULL, NULL, t->libctx, NULL,
                                  t->pkey, NULL)
            != 1)
            return 0;
        t->pkey_ready = 1;
    }
    return EVP_DigestSign(t->md_ctx, t->out, &len, t->in, t->in_len) == 1;
}

/*
 * ECDH: derive initialised and the peer set once, then one EVP_PKEY_derive
 * per secret (the raw x coordinate, 32 bytes).
 */
static int ecdh_derive_evp_op(struct bench_evp_thread *t)
{
    size_t len = t->out_cap;

    if (!t->pkey_ready) {
        if (EVP_PKEY_derive_init(t->pkey_ctx) <= 0
            || EVP_PKEY_derive_set_peer(t->pkey_ctx, t->peer) <= 0)
            return 0;
        t->pkey_ready = 1;
    }
    return EVP_PKEY_derive(t->pkey_ctx, t->out, &len) > 0 && len == 32;
}

/*
 * What pkcs11be does for one secret (exchange_ecdh.c), and the least a
 * PKCS#11 application can do to get the secret's bytes: C_DeriveKey with
 * CKM_ECDH1_DERIVE (no KDF, the peer's point) into an extractable session
 * secret key, C_GetAttributeValue of CKA_VALUE, C_DestroyObject.
 */
static CK_RV ecdh_derive_p11_op(struct bench_p11_thread *t)
{
    CK_ECDH1_DERIVE_PARAMS params = {CKD_NULL, 0, NULL, t->peer_point_len,
                                     t->peer_point};
    CK_MECHANISM mech = {CKM_ECDH1_DERIVE, &params, sizeof(params)};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG value_len = 32;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
    };
    CK_ATTRIBUTE value = {CKA_VALUE, t->out, 32};
    CK_OBJECT_HANDLE secret;
    CK_RV rv, drv;

    rv = t->p11->C_DeriveKey(t->session, &mech, t->key, tmpl,
                             sizeof(tmpl) / sizeof(tmpl[0]), &secret);
    if (rv != CKR_OK)
        return rv;
    rv = t->p11->C_GetAttributeValue(t->session, secret, &value, 1);
    drv = t->p11->C_DestroyObject(t->session, secret);
    return rv != CKR_OK ? rv : drv;
}

/* clang-format off */
const struct bench_case bench_cases[] = {
    {.name = "SHA-256 Init+Update+Final", .kind = BENCH_DIGEST,
     .alg = "SHA2-256", .mech = CKM_SHA256, .sizes = DIGEST_SIZES,
     .evp_op = digest_evp_op, .p11_op = digest_p11_op},
    {.name = "SHA-256 EVP_Digest", .kind = BENCH_DIGEST,
     .alg = "SHA2-256", .mech = CKM_SHA256, .sizes = DIGEST_SIZES,
     .evp_op = digest_oneshot_evp_op, .p11_op = digest_p11_op},
    {.name = "HMAC-SHA256 (key set once)", .kind = BENCH_MAC,
     .alg = "HMAC", .mech = CKM_SHA256_HMAC, .key_type = CKK_GENERIC_SECRET,
     .key_use = CKA_SIGN, .key_len = 32, .sizes = MAC_SIZES,
     .evp_op = hmac_sha256_evp_op, .p11_op = sign_p11_op},
    {.name = "CMAC-AES128 (key set once)", .kind = BENCH_MAC,
     .alg = "CMAC", .mech = CKM_AES_CMAC, .key_type = CKK_AES,
     .key_use = CKA_SIGN, .key_len = 16, .sizes = CMAC_SIZES,
     .evp_op = cmac_aes128_evp_op, .p11_op = sign_p11_op},
    {.name = "AES-128-CBC encrypt, padded", .kind = BENCH_CIPHER,
     .alg = "AES-128-CBC", .mech = CKM_AES_CBC_PAD, .key_type = CKK_AES,
     .key_use = CKA_ENCRYPT, .key_len = 16, .sizes = CIPHER_SIZES,
     .evp_op = aes_cbc_evp_op, .p11_op = aes_cbc_pad_p11_op},
    {.name = "AES-256-GCM encrypt + tag", .kind = BENCH_CIPHER,
     .alg = "AES-256-GCM", .mech = CKM_AES_GCM, .key_type = CKK_AES,
     .key_use = CKA_ENCRYPT, .key_len = 32, .sizes = CIPHER_SIZES,
     .evp_op = aes_gcm_evp_op, .p11_op = aes_gcm_p11_op},
    {.name = "RSA-2048 sign PKCS#1 v1.5 SHA-256", .kind = BENCH_PKEY,
     .alg = "RSA", .mech = CKM_RSA_PKCS, .key_type = CKK_RSA,
     .key_use = CKA_SIGN, .sizes = RSA_SIZES,
     .evp_op = rsa_pkcs1_sign_evp_op, .p11_op = rsa_pkcs1_sign_p11_op},
    {.name = "RSA-2048 sign PSS SHA-256", .kind = BENCH_PKEY,
     .alg = "RSA", .mech = CKM_RSA_PKCS_PSS, .key_type = CKK_RSA,
     .key_use = CKA_SIGN, .sizes = RSA_SIZES,
     .evp_op = rsa_pss_sign_evp_op, .p11_op = rsa_pss_sign_p11_op},
    {.name = "RSA-2048 verify PKCS#1 v1.5 SHA-256", .kind = BENCH_PKEY,
     .alg = "RSA", .mech = CKM_RSA_PKCS, .key_type = CKK_RSA,
     .key_use = CKA_VERIFY, .sizes = RSA_VERIFY_SIZES,
     .evp_op = rsa_verify_evp_op, .p11_op = rsa_verify_p11_op},
    {.name = "RSA-2048 decrypt OAEP SHA-1", .kind = BENCH_PKEY,
     .alg = "RSA", .mech = CKM_RSA_PKCS_OAEP, .key_type = CKK_RSA,
     .key_use = CKA_DECRYPT, .sizes = RSA_SIZES,
     .evp_op = rsa_oaep_decrypt_evp_op, .p11_op = rsa_oaep_decrypt_p11_op},
    {.name = "ECDSA P-256 sign SHA-256", .kind = BENCH_PKEY,
     .alg = "EC", .mech = CKM_ECDSA, .key_type = CKK_EC,
     .key_use = CKA_SIGN, .sizes = EC_SIZES,
     .evp_op = ecdsa_sign_evp_op, .p11_op = sign_p11_op},
    {.name = "ECDSA P-256 verify SHA-256", .kind = BENCH_PKEY,
     .alg = "EC", .mech = CKM_ECDSA, .key_type = CKK_EC,
     .key_use = CKA_VERIFY, .sizes = EC_SIZES,
     .evp_op = ecdsa_verify_evp_op, .p11_op = verify_p11_op},
    {.name = "Ed25519 sign", .kind = BENCH_PKEY,
     .alg = "ED25519", .mech = CKM_EDDSA, .key_type = CKK_EC_EDWARDS,
     .key_use = CKA_SIGN, .sizes = EC_SIZES,
     .evp_op = ed25519_sign_evp_op, .p11_op = sign_p11_op},
    {.name = "ECDH P-256 derive", .kind = BENCH_PKEY,
     .alg = "EC", .mech = CKM_ECDH1_DERIVE, .key_type = CKK_EC,
     .key_use = CKA_DERIVE, .sizes = EC_SIZES,
     .evp_op = ecdh_derive_evp_op, .p11_op = ecdh_derive_p11_op},
    {.name = "token key RSA-2048 sign PKCS#1 v1.5 SHA-256",
     .kind = BENCH_PKEY, .alg = "RSA", .mech = CKM_RSA_PKCS,
     .key_type = CKK_RSA, .key_use = CKA_SIGN, .sizes = TOKEN_KEY_SIZES,
     .evp_op = rsa_pkcs1_sign_evp_op, .p11_op = rsa_pkcs1_sign_p11_op,
     .token_key = 1},
    {.name = "token key RSA-2048 sign PSS SHA-256",
     .kind = BENCH_PKEY, .alg = "RSA", .mech = CKM_RSA_PKCS_PSS,
     .key_type = CKK_RSA, .key_use = CKA_SIGN, .sizes = TOKEN_KEY_SIZES,
     .evp_op = rsa_pss_sign_evp_op, .p11_op = rsa_pss_sign_p11_op,
     .token_key = 1},
    {.name = "token key RSA-2048 decrypt OAEP SHA-1",
     .kind = BENCH_PKEY, .alg = "RSA", .mech = CKM_RSA_PKCS_OAEP,
     .key_type = CKK_RSA, .key_use = CKA_DECRYPT, .sizes = TOKEN_KEY_SIZES,
     .evp_op = rsa_oaep_decrypt_evp_op, .p11_op = rsa_oaep_decrypt_p11_op,
     .token_key = 1},
    {.name = "token key ECDSA P-256 sign SHA-256",
     .kind = BENCH_PKEY, .alg = "EC", .mech = CKM_ECDSA,
     .key_type = CKK_EC, .key_use = CKA_SIGN, .sizes = TOKEN_KEY_SIZES,
     .evp_op = ecdsa_sign_evp_op, .p11_op = sign_p11_op, .token_key = 1},
    {.name = "token key Ed25519 sign",
     .kind = BENCH_PKEY, .alg = "ED25519", .mech = CKM_EDDSA,
     .key_type = CKK_EC_EDWARDS, .key_use = CKA_SIGN, .sizes = TOKEN_KEY_SIZES,
     .evp_op = ed25519_sign_evp_op, .p11_op = sign_p11_op, .token_key = 1},
    {.name = NULL},
};
/* clang-format on */
