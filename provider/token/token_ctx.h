/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the token layer knows of one provider instance: its handle for
 * errors, its settings and its token, opened on first use. The provider
 * context embeds one (provider.h, `tc`); operations pass `&prov->tc` to
 * the token layer, which never sees the provider context itself.
 */
#ifndef P11BE_TOKEN_CTX_H
#define P11BE_TOKEN_CTX_H

#include <pthread.h>

#include <openssl/core.h>

#include "config.h"

struct p11be_token_st;

typedef struct p11be_token_ctx_st {
    const OSSL_CORE_HANDLE *handle; /* the core's handle, for errors */
    const P11BE_CONFIG *config;     /* the instance's settings */
    /*
     * Before the first open: checks the settings the instance reads
     * itself (provider.c). 1, or 0 (raised: the token stays closed).
     */
    int (*opening)(struct p11be_token_ctx_st *tc);
    pthread_mutex_t lock;         /* serialises the first open */
    struct p11be_token_st *token; /* NULL until first use */
} P11BE_TOKEN_CTX;

void p11be_token_ctx_init(P11BE_TOKEN_CTX *tc, const OSSL_CORE_HANDLE *handle,
                          const P11BE_CONFIG *config,
                          int (*opening)(P11BE_TOKEN_CTX *tc));
/* Closes the token, if open (pkcs11-finalize decides the module's end). */
void p11be_token_ctx_cleanup(P11BE_TOKEN_CTX *tc);

/*
 * The instance's token, opened on first use (module loaded, slot chosen,
 * mechanisms read; no login). Raises and returns NULL when that fails,
 * and tries again on the next call.
 */
struct p11be_token_st *p11be_token_ctx_token(P11BE_TOKEN_CTX *tc);

/* The token if it is open already, else NULL; never opens it. */
struct p11be_token_st *p11be_token_ctx_opened(P11BE_TOKEN_CTX *tc);

#endif
