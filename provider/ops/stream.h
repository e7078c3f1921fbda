/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming engine of digests and MACs: what digest.c and mac.c hand
 * the token, and when.
 *
 * Input is held in the context until final, or until it grows beyond
 * pkcs11-digest-buffer-max (1 MiB by default). So a digest or MAC of a
 * message that fits costs exactly C_xInit + C_x (C_Digest, or C_Sign with
 * the key's object), and a context can be duplicated by copying what it
 * holds, on any token. Beyond the bound the context streams (C_xInit,
 * C_xUpdate .. C_xFinal) on a session it keeps; duplicating it then uses
 * the token's C_GetOperationState/C_SetOperationState. On tokens without
 * them (SoftHSM2 2.6.1 among them) the copies share the one running
 * operation:
 *   - the first of them to take more input takes the session and goes on
 *     alone; the others then fail with a clear error, as their input is no
 *     longer the token's;
 *   - copies that only finish all get the result of the first final: they
 *     share the same input;
 *   - the last one to let go ends an operation nobody took.
 * That is the pattern OpenSSL's own copies follow (EVP_DigestSignFinal,
 * CMS and PKCS#7 signing copy a context and finish the copy), and no copy
 * can ever finish an operation over input it did not see.
 */
#ifndef P11BE_STREAM_H
#define P11BE_STREAM_H

#include <stddef.h>

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

#include "algorithms.h"
#include "provider.h"
#include "secret_key.h"
#include "session.h"

/* What runs on the token: a digest, or a MAC with a key object. */
struct p11be_stream_mech {
    CK_MECHANISM_TYPE mech; /* the token's mechanism */
    const char *mech_name;  /* for messages */
    P11BE_SECRET_KEY *key;  /* C_Sign* with its object; NULL: C_Digest* */
    int checked;            /* init checked mech: not again per session */
};

typedef struct p11be_stream_st P11BE_STREAM;

/*
 * Turns the token's result (a digest, the inner hash of RFC 2104) into
 * the context's (st->size bytes). 1, or 0 raised.
 */
typedef int p11be_stream_post_fn(P11BE_STREAM *st, const unsigned char *inner,
                                 unsigned char *out);

struct p11be_stream_st {
    P11BE_PROV_CTX *prov;           /* provider that made us */
    const char *name;               /* "SHA2-256", "HMAC": for messages */
    int mac;                        /* a MAC (else a digest): for messages */
    struct p11be_stream_mech m;     /* set by the owner before input */
    size_t size;                    /* result bytes */
    p11be_stream_post_fn *post;     /* NULL: the token's result is it */
    P11BE_SESSION *sess;            /* set while the token streams for us */
    struct p11be_shared_op *shared; /* a running operation shared by copies */
    unsigned char *held;            /* input not yet given to the token */
    size_t held_len;                /* bytes in held */
    size_t held_cap;                /* bytes allocated for held */
    size_t held_prefix;             /* of held_len: key material (RFC 2104) */
    int ready;                      /* started, final not yet */
    int refusable; /* a refusal at C_xInit sets refused, raises nothing */
    int refused;   /* the token refused m: the input is still held */
    /* held's first home: OpenSSL 3.0 makes a new context per digest */
    unsigned char held_inline[192];
};

/* A new stream in zeroed memory; nothing to free yet. */
void p11be_stream_new(P11BE_STREAM *st, P11BE_PROV_CTX *prov, const char *name,
                      int mac);

/* Ends the operation in progress, if any, and forgets the input. */
void p11be_stream_stop(P11BE_STREAM *st);

/*
 * Holds `in` (key material when `prefix`: wiped when let go of). 1, or 0
 * raised.
 */
int p11be_stream_hold(P11BE_STREAM *st, const unsigned char *in, size_t inl,
                      int prefix);

/* More input: held, or past the bound given to the token. 1, or 0 raised. */
int p11be_stream_update(P11BE_STREAM *st, const unsigned char *in, size_t inl);

/*
 * The result into out (NULL: its size in *outl, the operation goes on);
 * the stream needs a start again. 1, or 0 raised.
 */
int p11be_stream_final(P11BE_STREAM *st, unsigned char *out, size_t *outl,
                       size_t outsize);

/* dst (zeroed memory) becomes a copy of src. 1, or 0 raised. */
int p11be_stream_dup(P11BE_STREAM *dst, P11BE_STREAM *src);

/* Ends what runs and frees what the stream holds. */
void p11be_stream_free(P11BE_STREAM *st);

/* C_xInit + C_x of `in` into out (*out_len: room, then bytes), raised. */
int p11be_stream_once(P11BE_PROV_CTX *prov, const struct p11be_stream_mech *m,
                      const unsigned char *in, size_t inl, unsigned char *out,
                      CK_ULONG *out_len);

/*
 * get_params of digests and MACs: each of `gettable`'s keys that params
 * asks for gets the number at the same index of `values`. 1, or 0.
 */
int p11be_params_answer(OSSL_PARAM params[], const OSSL_PARAM gettable[],
                        const size_t values[]);

/* Frees the spare buffers held input grows into; at teardown. */
void p11be_spare_free_all(P11BE_PROV_CTX *prov);

#endif
