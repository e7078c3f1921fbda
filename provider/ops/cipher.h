/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the cipher files share. cipher.c is the skeleton: the algorithm
 * table, every OpenSSL entry point (newctx, init, update, final, dupctx,
 * params ...), imported keys, the token's key sizes, the default
 * provider's copy of a context (re-entry, TLS records). A mode fills in a
 * P11BE_CIPHER_MODE: cipher_block.c (ECB, CBC, CTR), cipher_gcm.c (GCM).
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

#include "err.h"
#include "provider.h"
#include "secret_key.h"
#include "session.h"

#define P11BE_CIPHER_BLOCK_MAX 16 /* AES */

/* Flags of an algorithm, reported by get_params as the default does. */
#define P11BE_CIPHER_AEAD      0x1 /* OSSL_CIPHER_PARAM_AEAD */
#define P11BE_CIPHER_CUSTOM_IV 0x2 /* OSSL_CIPHER_PARAM_CUSTOM_IV */
#define P11BE_CIPHER_RAND_KEY  0x4 /* OSSL_CIPHER_PARAM_HAS_RAND_KEY */

typedef struct p11be_cipher_ctx_st P11BE_CIPHER_CTX;
typedef struct p11be_cipher_mode_st P11BE_CIPHER_MODE;

typedef struct p11be_cipher_alg_st {
    const char *name;              /* primary name, for messages, fallback */
    CK_MECHANISM_TYPE mech;        /* the token's mechanism */
    const char *mech_name;         /* for messages */
    CK_KEY_TYPE key_type;          /* CKK_AES or CKK_DES3 */
    const P11BE_CIPHER_MODE *impl; /* the mode's file */
    unsigned int mode;             /* EVP_CIPH_*_MODE */
    size_t key_bytes;              /* key length */
    size_t iv_bytes;               /* default IV length; 0 for ECB */
    size_t block_bytes;            /* OpenSSL's block size: 1 for CTR, GCM */
    size_t cipher_block;           /* the block cipher's block: 16 or 8 */
} P11BE_CIPHER_ALG;

/* A growing heap buffer, wiped when it grows or is freed. */
typedef struct p11be_cipher_buf_st {
    unsigned char *data; /* heap */
    size_t len;          /* bytes used */
    size_t cap;          /* bytes allocated */
} P11BE_CIPHER_BUF;

/* What every cipher context starts with; the mode's fields follow. */
struct p11be_cipher_ctx_st {
    P11BE_PROV_CTX *prov;        /* provider that made us */
    const P11BE_CIPHER_ALG *alg; /* row in cipher.c */
    EVP_CIPHER_CTX *host;        /* set: the default provider serves it all
                                    (made during re-entry, or TLS records) */
    P11BE_SECRET_KEY key;        /* the key and its token object */
    CK_FLAGS usage;              /* directions the key object must allow */
    CK_MECHANISM_TYPE ecb;       /* set: CBC or CTR chained on the host
                                    over this ECB (the token lacks them) */
    size_t ivlen;                /* IV length (GCM's may be set) */
    int enc;                     /* direction of the last init */
    int ready;                   /* the last init succeeded with a key */
    P11BE_SESSION *sess;         /* held while the token streams for us */
    int sess_encrypt;            /* its operation: C_Encrypt* or C_Decrypt* */
    P11BE_CIPHER_BUF work;       /* scratch for token output; wiped */
};

/*
 * A mode: cipher.c calls these for a context the token serves (never with
 * `host` set). Each raises what it refuses.
 */
struct p11be_cipher_mode_st {
    size_t ctx_size;    /* the mode's context, P11BE_CIPHER_CTX first */
    unsigned int flags; /* P11BE_CIPHER_* of its algorithms */
    /* newctx: the mode's defaults in a zeroed context; or NULL. */
    void (*start)(P11BE_CIPHER_CTX *ctx);
    /* init, before the key: a new message, the IV (NULL: the last one). */
    int (*init)(P11BE_CIPHER_CTX *ctx, const unsigned char *iv, size_t ivlen,
                int enc);
    OSSL_FUNC_cipher_update_fn *update;
    OSSL_FUNC_cipher_final_fn *final;
    OSSL_FUNC_cipher_cipher_fn *cipher;
    /* dst is a byte copy of src: make what the mode owns its own; or NULL. */
    int (*dup)(P11BE_CIPHER_CTX *dst, const P11BE_CIPHER_CTX *src);
    /* Frees the mode's buffers (idempotent); or NULL. */
    void (*clear)(P11BE_CIPHER_CTX *ctx);
    OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params; /* but the lengths */
    OSSL_FUNC_cipher_set_ctx_params_fn *set_ctx_params; /* params != NULL */
    /*
     * TLS record parameters given (also with `host` set): refuse them, or
     * say what the host's copy starts from (IV or NULL, padding or -1).
     */
    int (*tls)(P11BE_CIPHER_CTX *ctx, const OSSL_PARAM params[],
               const unsigned char **iv, int *pad);
    const OSSL_PARAM *gettable; /* gettable_ctx_params */
    const OSSL_PARAM *settable; /* settable_ctx_params */
};

/* The ctx params every mode reports; a mode's table adds its own. */
#define P11BE_CIPHER_GETTABLE                                                  \
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),                         \
        OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),                      \
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_IV, NULL, 0),                \
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_UPDATED_IV, NULL, 0)

extern const P11BE_CIPHER_MODE p11be_cipher_block_mode, p11be_cipher_des3_mode,
    p11be_cipher_gcm_mode;

/*
 * One token operation on the context's key, through the runner (runner.h:
 * the key's object, a new session when one is lost, the error naming
 * "NAME: C_x (CKM_x): CKR_x"). The token must write `out_len` bytes
 * (raised otherwise, unless quiet).
 */
struct p11be_cipher_op {
    int encrypt;                 /* C_Encrypt* (1) or C_Decrypt* (0) */
    CK_MECHANISM mech;           /* mechanism and its parameter */
    const unsigned char *replay; /* a stream's start: run through first,
                                    output dropped; NULL: any bytes */
    size_t replay_len;           /* bytes of it */
    const unsigned char *in;     /* input of C_x or C_xUpdate */
    size_t in_len;               /* bytes of it */
    unsigned char *out;          /* output */
    CK_ULONG out_len;            /* in: room; out: bytes written */
    int quiet;                   /* a failure raises nothing: read rv */
    CK_RV rv;                    /* the token's last answer (CKR_OK: the
                                    failure came first, raised) */
};

/* C_xInit + C_x on a borrowed session. 1, or 0 (raised unless quiet). */
int p11be_cipher_once(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op);
/*
 * C_xUpdate on the session the context keeps (ctx->sess); with none (or,
 * with `restart`, when it was lost) C_xInit and the replay first, on a
 * session then kept. 1, or 0 raised (the session is gone then).
 */
int p11be_cipher_stream(P11BE_CIPHER_CTX *ctx, struct p11be_cipher_op *op,
                        int restart);
/*
 * C_xFinal into `out` (a scratch buffer when NULL) and the kept session
 * back; none kept: nothing to do. 1, or 0 raised.
 */
int p11be_cipher_stream_end(P11BE_CIPHER_CTX *ctx, unsigned char *out,
                            CK_ULONG *out_len);
/*
 * A stream nobody will finish: ended quietly when calls into the module
 * are safe now (not at exit, not in a forked child, not re-entered).
 */
void p11be_cipher_stream_abandon(P11BE_CIPHER_CTX *ctx);

/*
 * A new context of the default provider's algorithm: the key when `keyed`,
 * the IV (NULL: none yet), ctx->enc, padding `pad` (< 0: its default).
 * NULL, raised, on failure.
 */
EVP_CIPHER_CTX *p11be_cipher_host(P11BE_CIPHER_CTX *ctx, int keyed,
                                  const unsigned char *iv, int pad);

/* Raises "NAME: message" (at the caller's line) and is 0. */
#define P11BE_CIPHER_FAIL(ctx, reason, fmt, ...)                               \
    (p11be_raise((ctx)->prov->handle, (reason), "%s: " fmt, (ctx)->alg->name,  \
                 ##__VA_ARGS__),                                               \
     0)

/* Raises OUTPUT_BUFFER_TOO_SMALL unless `outsize` holds `need` bytes. */
int p11be_cipher_room(P11BE_CIPHER_CTX *ctx, size_t need, size_t outsize);

/* Appends (in NULL: room only); 0, raised, when out of memory. */
int p11be_cipher_buf_append(P11BE_CIPHER_CTX *ctx, P11BE_CIPHER_BUF *buf,
                            const unsigned char *in, size_t len);
/* Empties a buffer; only what may hold plaintext needs wiping. */
void p11be_cipher_buf_forget(P11BE_CIPHER_BUF *buf, int wipe);
void p11be_cipher_buf_free(P11BE_CIPHER_BUF *buf);
/* ctx->work, `len` bytes of it; wiped by the caller after use. */
unsigned char *p11be_cipher_work(P11BE_CIPHER_CTX *ctx, size_t len);

#endif
