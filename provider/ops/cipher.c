/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symmetric ciphers on the token: the algorithm table and what the modes
 * share (cipher.h). ECB, CBC and CTR live in cipher_block.c, GCM in
 * cipher_gcm.c.
 *
 * Keys come from the application as bytes and are imported as session
 * secret-key objects (CKO_SECRET_KEY, CKA_TOKEN and CKA_PRIVATE false,
 * sensitive, not extractable, allowing only the direction the context
 * needs). A context keeps its object while the key does not change and
 * destroys it when freed.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cipher.h"
#include "debug.h"
#include "err.h"
#include "names.h"
#include "p11call.h"
#include "provider.h"
#include "reentry.h"

/* Names as OpenSSL's default provider spells them (its prov/names.h). */
#define P11BE_NAMES_AES_256_ECB "AES-256-ECB:2.16.840.1.101.3.4.1.41"
#define P11BE_NAMES_AES_192_ECB "AES-192-ECB:2.16.840.1.101.3.4.1.21"
#define P11BE_NAMES_AES_128_ECB "AES-128-ECB:2.16.840.1.101.3.4.1.1"
#define P11BE_NAMES_AES_256_CBC "AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42"
#define P11BE_NAMES_AES_192_CBC "AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22"
#define P11BE_NAMES_AES_128_CBC "AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2"
#define P11BE_NAMES_AES_256_CTR "AES-256-CTR"
#define P11BE_NAMES_AES_192_CTR "AES-192-CTR"
#define P11BE_NAMES_AES_128_CTR "AES-128-CTR"
#define P11BE_NAMES_AES_256_GCM                                                \
    "AES-256-GCM:id-aes256-GCM:2.16.840.1.101.3.4.1.46"
#define P11BE_NAMES_AES_192_GCM                                                \
    "AES-192-GCM:id-aes192-GCM:2.16.840.1.101.3.4.1.26"
#define P11BE_NAMES_AES_128_GCM                                                \
    "AES-128-GCM:id-aes128-GCM:2.16.840.1.101.3.4.1.6"
#define P11BE_NAMES_DES_EDE3_ECB "DES-EDE3-ECB:DES-EDE3"
#define P11BE_NAMES_DES_EDE3_CBC "DES-EDE3-CBC:DES3:1.2.840.113549.3.7"

#define GCM_FLAGS (P11BE_CIPHER_AEAD | P11BE_CIPHER_CUSTOM_IV)

/* clang-format off */
const P11BE_CIPHER_ALG p11be_cipher_aes_128_ecb = {
    "AES-128-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES, EVP_CIPH_ECB_MODE,
    16, 0, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_192_ecb = {
    "AES-192-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES, EVP_CIPH_ECB_MODE,
    24, 0, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_256_ecb = {
    "AES-256-ECB", CKM_AES_ECB, "CKM_AES_ECB", CKK_AES, EVP_CIPH_ECB_MODE,
    32, 0, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_128_cbc = {
    "AES-128-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES, EVP_CIPH_CBC_MODE,
    16, 16, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_192_cbc = {
    "AES-192-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES, EVP_CIPH_CBC_MODE,
    24, 16, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_256_cbc = {
    "AES-256-CBC", CKM_AES_CBC, "CKM_AES_CBC", CKK_AES, EVP_CIPH_CBC_MODE,
    32, 16, 16, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_128_ctr = {
    "AES-128-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES, EVP_CIPH_CTR_MODE,
    16, 16, 1, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_192_ctr = {
    "AES-192-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES, EVP_CIPH_CTR_MODE,
    24, 16, 1, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_256_ctr = {
    "AES-256-CTR", CKM_AES_CTR, "CKM_AES_CTR", CKK_AES, EVP_CIPH_CTR_MODE,
    32, 16, 1, 16, 0};
const P11BE_CIPHER_ALG p11be_cipher_aes_128_gcm = {
    "AES-128-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES, EVP_CIPH_GCM_MODE,
    16, 12, 1, 16, GCM_FLAGS};
const P11BE_CIPHER_ALG p11be_cipher_aes_192_gcm = {
    "AES-192-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES, EVP_CIPH_GCM_MODE,
    24, 12, 1, 16, GCM_FLAGS};
const P11BE_CIPHER_ALG p11be_cipher_aes_256_gcm = {
    "AES-256-GCM", CKM_AES_GCM, "CKM_AES_GCM", CKK_AES, EVP_CIPH_GCM_MODE,
    32, 12, 1, 16, GCM_FLAGS};
const P11BE_CIPHER_ALG p11be_cipher_des_ede3_ecb = {
    "DES-EDE3-ECB", CKM_DES3_ECB, "CKM_DES3_ECB", CKK_DES3, EVP_CIPH_ECB_MODE,
    24, 0, 8, 8, P11BE_CIPHER_RAND_KEY};
const P11BE_CIPHER_ALG p11be_cipher_des_ede3_cbc = {
    "DES-EDE3-CBC", CKM_DES3_CBC, "CKM_DES3_CBC", CKK_DES3, EVP_CIPH_CBC_MODE,
    24, 8, 8, 8, P11BE_CIPHER_RAND_KEY};
/* clang-format on */

/*
 * AES key sizes are in bytes by the specification; some tokens give bits,
 * which a maximum of 128 or more betrays.
 */
static void key_sizes_in_bytes(const CK_MECHANISM_INFO *info,
                               CK_ULONG *min_bytes, CK_ULONG *max_bytes)
{
    *min_bytes = info->ulMinKeySize;
    *max_bytes = info->ulMaxKeySize;
    if (*max_bytes >= 128) {
        *min_bytes /= 8;
        *max_bytes /= 8;
    }
}

int p11be_cipher_check_token(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg)
{
    CK_MECHANISM_INFO info;
    CK_ULONG min_bytes, max_bytes;

    if (!p11be_check_mech(&prov->tc, alg->mech, alg->mech_name))
        return 0;
    /* DES3 keys have one size; the specification leaves the info unused. */
    if (alg->key_type != CKK_AES)
        return 1;
    if (!p11be_mech_info(&prov->tc, alg->mech, alg->mech_name, &info))
        return 0;
    key_sizes_in_bytes(&info, &min_bytes, &max_bytes);
    if (max_bytes != 0
        && (alg->key_bytes < min_bytes || alg->key_bytes > max_bytes)) {
        p11be_raise(prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "%s: %zu-byte keys are not supported by the token "
                    "(%s takes %lu to %lu bytes)",
                    alg->name, alg->key_bytes, alg->mech_name,
                    (unsigned long)min_bytes, (unsigned long)max_bytes);
        return 0;
    }
    return 1;
}

void p11be_cipher_key_set(P11BE_PROV_CTX *prov, P11BE_CIPHER_KEY *key,
                          const unsigned char *value, size_t len)
{
    if (key->len == len && CRYPTO_memcmp(key->value, value, len) == 0)
        return;
    if (!p11be_reentered()) {
        p11be_object_destroy(&prov->tc, &key->ref);
    } else if (key->ref.handle != CK_INVALID_HANDLE) {
        /* Made outside re-entry, so no other can be pending. */
        key->stale = key->ref;
        key->ref.handle = CK_INVALID_HANDLE;
    }
    key->usage = 0;
    memcpy(key->value, value, len);
    key->len = len;
}

/*
 * Every usage attribute is given, all but the directions asked for false:
 * SoftHSM2 (among others) defaults every usage attribute of a secret key to
 * true, and a key left with CKA_WRAP or CKA_SIGN could wrap other keys or
 * MAC with this one.
 */
static int key_create(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                      P11BE_CIPHER_KEY *key, CK_FLAGS usage)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = alg->key_type;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BBOOL encrypt = (usage & CKF_ENCRYPT) != 0 ? CK_TRUE : CK_FALSE;
    CK_BBOOL decrypt = (usage & CKF_DECRYPT) != 0 ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_ENCRYPT, &encrypt, sizeof(encrypt)},
        {CKA_DECRYPT, &decrypt, sizeof(decrypt)},
        {CKA_SIGN, &no, sizeof(no)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_VALUE, key->value, key->len},
    };

    if (!p11be_object_create(&prov->tc, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), 0,
                             &key->ref)) {
        p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "%s: importing the %zu-byte key as a session object",
                    alg->name, key->len);
        return 0;
    }
    key->usage = usage;
    P11BE_DEBUG("%s: key imported as object %lu", alg->name,
                (unsigned long)key->ref.handle);
    return 1;
}

int p11be_cipher_key_handle(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                            P11BE_CIPHER_KEY *key, CK_FLAGS usage,
                            CK_OBJECT_HANDLE *handle)
{
    if (key->len == 0) {
        p11be_raise(prov->handle, P11BE_R_NO_KEY, "%s: no key set", alg->name);
        return 0;
    }
    p11be_object_destroy(&prov->tc, &key->stale);
    if (key->ref.handle == CK_INVALID_HANDLE || (key->usage & usage) != usage
        || !p11be_object_alive(&prov->tc, &key->ref)) {
        p11be_object_destroy(&prov->tc, &key->ref);
        if (!key_create(prov, alg, key, usage))
            return 0;
    }
    *handle = key->ref.handle;
    return 1;
}

void p11be_cipher_key_clear(P11BE_PROV_CTX *prov, P11BE_CIPHER_KEY *key)
{
    /* From inside a token call the objects are left to the object session. */
    if (!p11be_reentered()) {
        p11be_object_destroy(&prov->tc, &key->stale);
        p11be_object_destroy(&prov->tc, &key->ref);
    }
    key->ref.handle = CK_INVALID_HANDLE;
    key->stale.handle = CK_INVALID_HANDLE;
    OPENSSL_cleanse(key->value, sizeof(key->value));
    key->len = 0;
    key->usage = 0;
}

void p11be_cipher_key_copy(P11BE_CIPHER_KEY *dst, const P11BE_CIPHER_KEY *src)
{
    memcpy(dst->value, src->value, sizeof(dst->value));
    dst->len = src->len;
    dst->usage = 0;
    dst->ref.handle = CK_INVALID_HANDLE;
    dst->stale.handle = CK_INVALID_HANDLE;
}

static CK_RV call_init(const struct p11be_cipher_call *call,
                       P11BE_SESSION *sess, CK_OBJECT_HANDLE key)
{
    if (call->encrypt)
        return P11BE_CALL(sess->fns, C_EncryptInit, sess->handle, call->mech,
                          key);
    return P11BE_CALL(sess->fns, C_DecryptInit, sess->handle, call->mech, key);
}

/*
 * The key's object made (again) and in use (objects.h), made once more
 * when its object session goes between the check and the use. 1, or 0
 * (raised).
 */
static int key_in_use(const struct p11be_cipher_call *call,
                      CK_OBJECT_HANDLE *handle)
{
    int tries;

    for (tries = 0; tries < P11BE_OBJECT_REMAKES; tries++) {
        if (!p11be_cipher_key_handle(call->prov, call->alg, call->key,
                                     call->usage, handle))
            return 0;
        if (p11be_object_use_begin(&call->prov->tc, &call->key->ref))
            return 1;
    }
    p11be_raise(call->prov->handle, P11BE_R_NO_KEY,
                "%s: the key's object on the token went with its object "
                "session %d times in a row",
                call->alg->name, P11BE_OBJECT_REMAKES);
    return 0;
}

int p11be_cipher_one_shot(const struct p11be_cipher_call *call,
                          const unsigned char *in, size_t in_len,
                          unsigned char *out, CK_ULONG *out_len, CK_RV *rv)
{
    struct p11be_session_req req = {.mech = call->mech->mechanism};
    CK_ULONG room = *out_len;
    int attempt;

    *rv = CKR_OK;
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        CK_OBJECT_HANDLE key;
        P11BE_SESSION *sess = p11be_session_acquire(&call->prov->tc, &req);

        if (sess == NULL)
            return 0;
        if (!key_in_use(call, &key)) {
            p11be_session_release(sess, CKR_OK);
            return 0;
        }
        *rv = call_init(call, sess, key);
        if (*rv == CKR_OK) {
            *out_len = room;
            if (call->encrypt)
                *rv = P11BE_CALL(sess->fns, C_Encrypt, sess->handle,
                                 (CK_BYTE *)in, in_len, out, out_len);
            else
                *rv = P11BE_CALL(sess->fns, C_Decrypt, sess->handle,
                                 (CK_BYTE *)in, in_len, out, out_len);
        }
        p11be_object_use_end(&call->prov->tc);
        if (*rv == CKR_BUFFER_TOO_SMALL) {
            /* The operation is still running: never pool the session. */
            p11be_session_discard(sess);
            break;
        }
        if (!p11be_session_done(sess, *rv))
            break;
    }
    return *rv == CKR_OK;
}

P11BE_SESSION *p11be_cipher_stream_start(const struct p11be_cipher_call *call,
                                         CK_RV *rv)
{
    struct p11be_session_req req = {.mech = call->mech->mechanism, .held = 1};
    int attempt;

    *rv = CKR_OK;
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        CK_OBJECT_HANDLE key;
        P11BE_SESSION *sess = p11be_session_acquire(&call->prov->tc, &req);

        if (sess == NULL)
            return NULL;
        if (!key_in_use(call, &key)) {
            p11be_session_release(sess, CKR_OK);
            return NULL;
        }
        *rv = call_init(call, sess, key);
        p11be_object_use_end(&call->prov->tc);
        if (*rv == CKR_OK)
            return sess;
        if (!p11be_session_done(sess, *rv))
            break;
    }
    return NULL;
}

CK_RV p11be_cipher_stream_update(P11BE_SESSION *sess, int encrypt,
                                 const unsigned char *in, size_t in_len,
                                 unsigned char *out, CK_ULONG *out_len)
{
    if (encrypt)
        return P11BE_CALL(sess->fns, C_EncryptUpdate, sess->handle,
                          (CK_BYTE *)in, in_len, out, out_len);
    return P11BE_CALL(sess->fns, C_DecryptUpdate, sess->handle, (CK_BYTE *)in,
                      in_len, out, out_len);
}

CK_RV p11be_cipher_stream_end(P11BE_SESSION *sess, int encrypt,
                              unsigned char *out, CK_ULONG *out_len)
{
    unsigned char scratch[2 * P11BE_CIPHER_BLOCK_MAX];
    CK_ULONG scratch_len = sizeof(scratch);
    CK_RV rv;

    if (out == NULL) {
        out = scratch;
        out_len = &scratch_len;
    }
    if (encrypt)
        rv = P11BE_CALL(sess->fns, C_EncryptFinal, sess->handle, out, out_len);
    else
        rv = P11BE_CALL(sess->fns, C_DecryptFinal, sess->handle, out, out_len);
    OPENSSL_cleanse(scratch, sizeof(scratch));
    p11be_cipher_stream_drop(sess, rv);
    return rv;
}

void p11be_cipher_stream_abandon(P11BE_SESSION *sess, int encrypt)
{
    if (sess == NULL)
        return;
    if (!p11be_reentered() && p11be_session_usable_now(sess))
        p11be_cipher_stream_end(sess, encrypt, NULL, NULL);
    else
        p11be_session_release(sess, CKR_OK);
}

/* A too small buffer leaves the operation running: never pool that. */
void p11be_cipher_stream_drop(P11BE_SESSION *sess, CK_RV rv)
{
    if (rv == CKR_BUFFER_TOO_SMALL)
        p11be_session_discard(sess);
    else
        p11be_session_release(sess, rv);
}

void p11be_cipher_raise_token(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                              const char *calls, CK_RV rv)
{
    p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s: %s (%s): %s",
                alg->name, calls, alg->mech_name, p11be_ckr_name(rv));
}

int p11be_cipher_fallback_new(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                              P11BE_CIPHER_FALLBACK *fb)
{
    P11BE_DEBUG("%s: %s by the default provider",
                p11be_reentered() ? "re-entered from the module"
                                  : "TLS record parameters given",
                alg->name);
    fb->ctx = EVP_CIPHER_CTX_new();
    fb->cipher = EVP_CIPHER_fetch(p11be_fallback_libctx(), alg->name, NULL);
    if (fb->ctx == NULL || fb->cipher == NULL) {
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: OpenSSL's default provider lacks it", alg->name);
        p11be_cipher_fallback_free(fb);
        return 0;
    }
    return 1;
}

int p11be_cipher_fallback_init(P11BE_CIPHER_FALLBACK *fb,
                               const unsigned char *key,
                               const unsigned char *iv,
                               const OSSL_PARAM params[], int enc)
{
    const EVP_CIPHER *cipher = fb->started ? NULL : fb->cipher;

    fb->started = 1;
    return EVP_CipherInit_ex2(fb->ctx, cipher, key, iv, enc, params);
}

int p11be_cipher_fallback_update(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                 size_t *outl, const unsigned char *in,
                                 size_t inl)
{
    int len = 0;

    if (inl > INT_MAX || !EVP_CipherUpdate(fb->ctx, out, &len, in, (int)inl))
        return 0;
    *outl = (size_t)len;
    return 1;
}

int p11be_cipher_fallback_final(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                size_t *outl)
{
    int len = 0;

    if (!EVP_CipherFinal_ex(fb->ctx, out, &len))
        return 0;
    *outl = (size_t)len;
    return 1;
}

int p11be_cipher_fallback_cipher(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                 size_t *outl, const unsigned char *in,
                                 size_t inl)
{
    int len;

    if (inl > INT_MAX)
        return 0;
    len = EVP_Cipher(fb->ctx, out, in, (unsigned int)inl);
    if (len < 0)
        return 0;
    *outl = (size_t)len;
    return 1;
}

int p11be_cipher_fallback_dup(P11BE_CIPHER_FALLBACK *dst,
                              const P11BE_CIPHER_FALLBACK *src)
{
    dst->ctx = EVP_CIPHER_CTX_new();
    if (dst->ctx == NULL || !EVP_CIPHER_CTX_copy(dst->ctx, src->ctx)
        || !EVP_CIPHER_up_ref(src->cipher)) {
        EVP_CIPHER_CTX_free(dst->ctx);
        dst->ctx = NULL;
        return 0;
    }
    dst->cipher = src->cipher;
    dst->started = src->started;
    return 1;
}

void p11be_cipher_fallback_free(P11BE_CIPHER_FALLBACK *fb)
{
    EVP_CIPHER_CTX_free(fb->ctx);
    EVP_CIPHER_free(fb->cipher);
    fb->ctx = NULL;
    fb->cipher = NULL;
}

const OSSL_PARAM *p11be_cipher_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_CTS, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, NULL),
        OSSL_PARAM_int(OSSL_CIPHER_PARAM_HAS_RAND_KEY, NULL),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return gettable;
}

int p11be_cipher_get_params(OSSL_PARAM params[], const P11BE_CIPHER_ALG *alg)
{
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_MODE);
    if (p != NULL && !OSSL_PARAM_set_uint(p, alg->mode))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, alg->key_bytes))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, alg->iv_bytes))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_BLOCK_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, alg->block_bytes))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD);
    if (p != NULL
        && !OSSL_PARAM_set_int(p, (alg->flags & P11BE_CIPHER_AEAD) != 0))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_CUSTOM_IV);
    if (p != NULL
        && !OSSL_PARAM_set_int(p, (alg->flags & P11BE_CIPHER_CUSTOM_IV) != 0))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_CTS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 0))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK);
    if (p != NULL && !OSSL_PARAM_set_int(p, 0))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_HAS_RAND_KEY);
    if (p != NULL
        && !OSSL_PARAM_set_int(p, (alg->flags & P11BE_CIPHER_RAND_KEY) != 0))
        return 0;
    return 1;
}

int p11be_cipher_is_tls(const OSSL_PARAM params[])
{
    static const char *const tls_params[] = {
        OSSL_CIPHER_PARAM_TLS_VERSION,
        OSSL_CIPHER_PARAM_TLS_MAC_SIZE,
        OSSL_CIPHER_PARAM_AEAD_TLS1_AAD,
        OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
        OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
    };
    size_t i;

    for (i = 0;
         params != NULL && i < sizeof(tls_params) / sizeof(tls_params[0]); i++)
        if (OSSL_PARAM_locate_const(params, tls_params[i]) != NULL)
            return 1;
    return 0;
}

int p11be_cipher_to_host(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                         P11BE_CIPHER_FALLBACK *fb, const P11BE_CIPHER_KEY *key,
                         const unsigned char *iv, int enc, int pad)
{
    unsigned int padding = pad > 0;
    OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};

    if (key->len == 0) {
        p11be_raise(prov->handle, P11BE_R_BAD_STATE,
                    "%s: TLS record parameters need the key set first",
                    alg->name);
        return 0;
    }
    if (pad >= 0)
        params[0] =
            OSSL_PARAM_construct_uint(OSSL_CIPHER_PARAM_PADDING, &padding);
    if (!p11be_cipher_fallback_new(prov, alg, fb))
        return 0;
    if (!p11be_cipher_fallback_init(fb, key->value, iv, params, enc)) {
        p11be_cipher_fallback_free(fb);
        p11be_raise(prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s: OpenSSL's default provider refused the key for TLS "
                    "records",
                    alg->name);
        return 0;
    }
    return 1;
}

const OSSL_ALGORITHM p11be_cipher_algorithms[] = {
    {P11BE_NAMES_AES_256_ECB, P11BE_PROPS, p11be_cipher_aes_256_ecb_functions,
     "AES-256-ECB on the PKCS#11 token"},
    {P11BE_NAMES_AES_192_ECB, P11BE_PROPS, p11be_cipher_aes_192_ecb_functions,
     "AES-192-ECB on the PKCS#11 token"},
    {P11BE_NAMES_AES_128_ECB, P11BE_PROPS, p11be_cipher_aes_128_ecb_functions,
     "AES-128-ECB on the PKCS#11 token"},
    {P11BE_NAMES_AES_256_CBC, P11BE_PROPS, p11be_cipher_aes_256_cbc_functions,
     "AES-256-CBC on the PKCS#11 token"},
    {P11BE_NAMES_AES_192_CBC, P11BE_PROPS, p11be_cipher_aes_192_cbc_functions,
     "AES-192-CBC on the PKCS#11 token"},
    {P11BE_NAMES_AES_128_CBC, P11BE_PROPS, p11be_cipher_aes_128_cbc_functions,
     "AES-128-CBC on the PKCS#11 token"},
    {P11BE_NAMES_AES_256_CTR, P11BE_PROPS, p11be_cipher_aes_256_ctr_functions,
     "AES-256-CTR on the PKCS#11 token"},
    {P11BE_NAMES_AES_192_CTR, P11BE_PROPS, p11be_cipher_aes_192_ctr_functions,
     "AES-192-CTR on the PKCS#11 token"},
    {P11BE_NAMES_AES_128_CTR, P11BE_PROPS, p11be_cipher_aes_128_ctr_functions,
     "AES-128-CTR on the PKCS#11 token"},
    {P11BE_NAMES_AES_256_GCM, P11BE_PROPS, p11be_cipher_aes_256_gcm_functions,
     "AES-256-GCM on the PKCS#11 token"},
    {P11BE_NAMES_AES_192_GCM, P11BE_PROPS, p11be_cipher_aes_192_gcm_functions,
     "AES-192-GCM on the PKCS#11 token"},
    {P11BE_NAMES_AES_128_GCM, P11BE_PROPS, p11be_cipher_aes_128_gcm_functions,
     "AES-128-GCM on the PKCS#11 token"},
    {P11BE_NAMES_DES_EDE3_ECB, P11BE_PROPS, p11be_cipher_des_ede3_ecb_functions,
     "DES-EDE3-ECB (Triple DES) on the PKCS#11 token"},
    {P11BE_NAMES_DES_EDE3_CBC, P11BE_PROPS, p11be_cipher_des_ede3_cbc_functions,
     "DES-EDE3-CBC (Triple DES) on the PKCS#11 token"},
    {NULL, NULL, NULL, NULL},
};
