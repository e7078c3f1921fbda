/* SPDX-License-Identifier: Apache-2.0 */
/* One provider instance: its settings and, once first used, its token. */
#ifndef P11BE_PROVIDER_H
#define P11BE_PROVIDER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/types.h>

#include "config.h"
#include "token_ctx.h"

#define P11BE_SPARES 8

typedef struct p11be_prov_ctx_st {
    const OSSL_CORE_HANDLE *handle; /* the core's handle, for errors */
    P11BE_CONFIG config;            /* settings read at load */
    int bystander; /* loaded from inside a token call: offers nothing */
    /*
     * pkcs11-offload = keys: only keys that live on the token are used
     * there; pkcs11be offers no digest, MAC or cipher, and runs what it
     * gets for a software key on the host copy (keyobj.h). Read at load
     * (query_operation needs it before any token is open); a bad value
     * counts as "all" and fails the token's opening, naming the setting.
     */
    int offload_keys;
    char buildinfo[512]; /* build info with the configured token, at load */
    size_t digest_buffer_max;   /* see digest.c; set at token open */
    size_t gcm_decrypt_max;     /* see cipher_gcm.c; set at token open */
    P11BE_TOKEN_CTX tc;         /* the token layer's view (token_ctx.h) */
    unsigned digest_checked;    /* digest.c: mechanisms found, a bit each */
    void *digest_ctx_spare;     /* digest.c: a freed context to reuse */
    pthread_mutex_t spare_lock; /* guards the spares (stream.c) */
    unsigned char *spare[P11BE_SPARES]; /* buffers kept for reuse */
    size_t spare_cap[P11BE_SPARES];     /* their sizes */
    size_t spare_count;                 /* entries in spare */
    /*
     * Made at init with OSSL_LIB_CTX_new_from_dispatch(): holds no
     * providers, only the core's BIO upcalls, for BIO_new_from_core_bio()
     * (encoder.c, decoder.c). Freed at teardown.
     */
    OSSL_LIB_CTX *corebio_libctx;
    uint64_t delegated_count; /* delegate.h: work handed to the default */
} P11BE_PROV_CTX;

/* The token layer's view of the instance `provctx` (token_ctx.h). */
static inline P11BE_TOKEN_CTX *p11be_tc(void *provctx)
{
    return &((P11BE_PROV_CTX *)provctx)->tc;
}

/* pkcs11-offload values, in the order of enum p11be_offload. */
enum p11be_offload { P11BE_OFFLOAD_ALL, P11BE_OFFLOAD_KEYS };
extern const char *const p11be_offload_choices[];

/* Frees what digest.c keeps in the provider; at teardown. */
void p11be_digest_teardown(P11BE_PROV_CTX *prov);

#define P11BE_DIGEST_BUFFER_DEFAULT ((size_t)1024 * 1024)
/* pyca's largest AEAD message, and OpenSSL's largest single update. */
#define P11BE_GCM_DECRYPT_DEFAULT ((size_t)0x7fffffff)

#endif
