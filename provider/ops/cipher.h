/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the cipher files share: cipher.c (algorithm table, imported keys,
 * the token's key sizes, the re-entry fallback, algorithm params),
 * cipher_block.c (ECB, CBC, CTR) and cipher_gcm.c (GCM).
 *
 * Note for readers of <p11-kit/pkcs11.h>: in its default compatibility mode
 * it #defines lower-case names such as iv_len, iv_bits, aad_len, tag_bits
 * and counter_bits to the CK_* structure fields. So no identifier in these
 * files uses those names, and the CK_GCM_PARAMS/CK_AES_CTR_PARAMS fields are
 * spelt as in the PKCS#11 specification (pIv, ulIvLen, ulCounterBits ...).
 */
#ifndef P11BE_CIPHER_H
#define P11BE_CIPHER_H

#include <stddef.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "objects.h"
#include "provider.h"
#include "session.h"

#define P11BE_CIPHER_KEY_MAX   32 /* AES-256 */
#define P11BE_CIPHER_BLOCK_MAX 16 /* AES */

/* Flags of an algorithm, reported by get_params as the default does. */
#define P11BE_CIPHER_AEAD      0x1 /* OSSL_CIPHER_PARAM_AEAD */
#define P11BE_CIPHER_CUSTOM_IV 0x2 /* OSSL_CIPHER_PARAM_CUSTOM_IV */
#define P11BE_CIPHER_RAND_KEY  0x4 /* OSSL_CIPHER_PARAM_HAS_RAND_KEY */

typedef struct p11be_cipher_alg_st {
    const char *name;       /* primary name, for messages and fallback */
    CK_MECHANISM_TYPE mech; /* the token's mechanism */
    const char *mech_name;  /* for messages */
    CK_KEY_TYPE key_type;   /* CKK_AES or CKK_DES3 */
    unsigned int mode;      /* EVP_CIPH_*_MODE */
    size_t key_bytes;       /* key length */
    size_t iv_bytes;        /* default IV length; 0 for ECB */
    size_t block_bytes;     /* OpenSSL's block size: 1 for CTR, GCM */
    size_t cipher_block;    /* the block cipher's block: 16 or 8 */
    unsigned int flags;     /* P11BE_CIPHER_* */
} P11BE_CIPHER_ALG;

/*
 * A key given to a context: kept on the host so that the token object can
 * be re-created after the token was removed or the process forked, so that
 * re-initialising with the same key costs nothing, and so that a context
 * used from inside a token call (re-entry) can be served in software. The
 * object allows only the directions it is made for. An object replaced
 * while re-entered (no token call allowed then) is destroyed at the next
 * chance.
 */
typedef struct p11be_cipher_key_st {
    unsigned char value[P11BE_CIPHER_KEY_MAX]; /* the key bytes */
    size_t len;                                /* 0 while no key is set */
    CK_FLAGS usage;         /* CKF_ENCRYPT|CKF_DECRYPT of the object */
    P11BE_OBJECT_REF ref;   /* the session object; none when invalid */
    P11BE_OBJECT_REF stale; /* replaced during re-entry, to destroy */
} P11BE_CIPHER_KEY;

/* A context made during re-entry, served by OpenSSL's default provider. */
typedef struct p11be_cipher_fallback_st {
    EVP_CIPHER *cipher;  /* the default provider's implementation */
    EVP_CIPHER_CTX *ctx; /* its context */
    int started;         /* ctx has been given the cipher */
} P11BE_CIPHER_FALLBACK;

/* How a context talks to the token for one mechanism. */
struct p11be_cipher_call {
    P11BE_PROV_CTX *prov;        /* provider, for sessions and errors */
    const P11BE_CIPHER_ALG *alg; /* the algorithm */
    P11BE_CIPHER_KEY *key;       /* the key to use (imported on demand) */
    CK_FLAGS usage;              /* directions the key object must allow */
    int encrypt;                 /* C_Encrypt* (1) or C_Decrypt* (0) */
    CK_MECHANISM *mech;          /* mechanism and its parameters */
};

/* OpenSSL's own reason, where applications test for it (pyca does). */
#define P11BE_PROV_REASON(r) ERR_PACK(ERR_LIB_PROV, 0, (r))

/*
 * Checks that the token offers the algorithm's mechanism and, from
 * C_GetMechanismInfo (read once per token), its key size. Raises "not
 * supported by the token" otherwise.
 */
int p11be_cipher_check_token(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg);

/*
 * Takes a key; drops the token object if the bytes differ from before.
 * Makes no token call while re-entered.
 */
void p11be_cipher_key_set(P11BE_PROV_CTX *prov, P11BE_CIPHER_KEY *key,
                          const unsigned char *value, size_t len);
/*
 * The object for `usage`, made (C_CreateObject) when missing, dead or made
 * for other directions. Raises and returns 0 on failure.
 */
int p11be_cipher_key_handle(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                            P11BE_CIPHER_KEY *key, CK_FLAGS usage,
                            CK_OBJECT_HANDLE *handle);
/* Destroys the object (not while re-entered) and wipes the bytes. */
void p11be_cipher_key_clear(P11BE_PROV_CTX *prov, P11BE_CIPHER_KEY *key);
/* Copies the bytes only: the copy makes its own object when it needs one. */
void p11be_cipher_key_copy(P11BE_CIPHER_KEY *dst, const P11BE_CIPHER_KEY *src);

/*
 * C_xInit + C_x on a borrowed session, retried once on a fresh session when
 * the first was lost. Returns 1 on success. On failure returns 0 and sets
 * *rv: the token's CK_RV, not raised (the caller words it), or CKR_OK when
 * the failure was before the token call (no session, key import) and has
 * been raised already.
 */
int p11be_cipher_one_shot(const struct p11be_cipher_call *call,
                          const unsigned char *in, size_t in_len,
                          unsigned char *out, CK_ULONG *out_len, CK_RV *rv);
/*
 * Borrows a session and runs C_xInit on it, retried once; the caller keeps
 * the session for C_xUpdate until p11be_cipher_stream_end(). NULL on
 * failure, with *rv as for p11be_cipher_one_shot().
 */
P11BE_SESSION *p11be_cipher_stream_start(const struct p11be_cipher_call *call,
                                         CK_RV *rv);
/* C_xUpdate; *out_len in: room, out: bytes written. */
CK_RV p11be_cipher_stream_update(P11BE_SESSION *sess, int encrypt,
                                 const unsigned char *in, size_t in_len,
                                 unsigned char *out, CK_ULONG *out_len);
/*
 * Ends a stream: C_xFinal into `out` (or a scratch buffer when NULL) and
 * gives the session back. Returns the C_xFinal result.
 */
CK_RV p11be_cipher_stream_end(P11BE_SESSION *sess, int encrypt,
                              unsigned char *out, CK_ULONG *out_len);
/*
 * A stream nobody will finish: C_xFinal into a scratch buffer when calls
 * into the module are safe now (not at exit, not in a forked child, not
 * from inside a token call), then the session goes back.
 */
void p11be_cipher_stream_abandon(P11BE_SESSION *sess, int encrypt);
/* After a failed C_xUpdate: the operation is over, give the session back. */
void p11be_cipher_stream_drop(P11BE_SESSION *sess, CK_RV rv);

/* Raises TOKEN_OP_FAILED naming the calls, the mechanism and the CKR_*. */
void p11be_cipher_raise_token(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                              const char *calls, CK_RV rv);

/* Re-entry: the default provider's cipher, driven through EVP. */
int p11be_cipher_fallback_new(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                              P11BE_CIPHER_FALLBACK *fb);
int p11be_cipher_fallback_init(P11BE_CIPHER_FALLBACK *fb,
                               const unsigned char *key,
                               const unsigned char *iv,
                               const OSSL_PARAM params[], int enc);
int p11be_cipher_fallback_update(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                 size_t *outl, const unsigned char *in,
                                 size_t inl);
int p11be_cipher_fallback_final(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                size_t *outl);
int p11be_cipher_fallback_cipher(P11BE_CIPHER_FALLBACK *fb, unsigned char *out,
                                 size_t *outl, const unsigned char *in,
                                 size_t inl);
int p11be_cipher_fallback_dup(P11BE_CIPHER_FALLBACK *dst,
                              const P11BE_CIPHER_FALLBACK *src);
void p11be_cipher_fallback_free(P11BE_CIPHER_FALLBACK *fb);

/* Algorithm params (get_params) exactly as the default provider has them. */
int p11be_cipher_get_params(OSSL_PARAM params[], const P11BE_CIPHER_ALG *alg);
const OSSL_PARAM *p11be_cipher_gettable_params(void *provctx);

/*
 * Whether params hold one of the TLS 1.0-1.2 record-layer parameters
 * (tls-version, tls-mac-size, tlsaad, tlsivfixed, tlsivinv) that libssl
 * gives a cipher it protects records with.
 *
 * Such a context moves to OpenSSL's default provider for good (see
 * p11be_cipher_to_host): the record keys come out of the TLS key schedule
 * in process memory, so the token would protect nothing, and record
 * processing (explicit nonces, CBC padding and MAC checks in constant
 * time) belongs with OpenSSL's own code. TLS 1.3 records use plain AEAD
 * calls and stay on the token.
 */
int p11be_cipher_is_tls(const OSSL_PARAM params[]);

/*
 * Moves a context to OpenSSL's default provider: a fallback context with
 * the key, the IV (NULL: none yet) and the direction, and padding `pad`
 * (< 0: leave the default). Raises and returns 0 on failure, or when no
 * key was set yet.
 */
int p11be_cipher_to_host(P11BE_PROV_CTX *prov, const P11BE_CIPHER_ALG *alg,
                         P11BE_CIPHER_FALLBACK *fb, const P11BE_CIPHER_KEY *key,
                         const unsigned char *iv, int enc, int pad);

extern const P11BE_CIPHER_ALG p11be_cipher_aes_128_ecb,
    p11be_cipher_aes_192_ecb, p11be_cipher_aes_256_ecb,
    p11be_cipher_aes_128_cbc, p11be_cipher_aes_192_cbc,
    p11be_cipher_aes_256_cbc, p11be_cipher_aes_128_ctr,
    p11be_cipher_aes_192_ctr, p11be_cipher_aes_256_ctr,
    p11be_cipher_aes_128_gcm, p11be_cipher_aes_192_gcm,
    p11be_cipher_aes_256_gcm, p11be_cipher_des_ede3_ecb,
    p11be_cipher_des_ede3_cbc;

#endif
