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

#include <p11-kit/pkcs11.h>

/* The token (token.h), opaque to operations. */
typedef struct p11be_token_st P11BE_TOKEN;

typedef struct p11be_token_ctx_st {
    const OSSL_CORE_HANDLE *handle; /* the core's handle, for errors */
    const P11BE_CONFIG *config;     /* the instance's settings */
    /*
     * Before the first open: checks the settings the instance reads
     * itself (provider.c). 1, or 0 (raised: the token stays closed).
     */
    int (*opening)(struct p11be_token_ctx_st *tc);
    pthread_mutex_t lock; /* serialises the first open */
    P11BE_TOKEN *token;   /* NULL until first use */
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
P11BE_TOKEN *p11be_token_ctx_token(P11BE_TOKEN_CTX *tc);

/* The token if it is open already, else NULL; never opens it. */
P11BE_TOKEN *p11be_token_ctx_opened(P11BE_TOKEN_CTX *tc);

/* What messages and the store name: label (blanks trimmed), slot. */
const char *p11be_token_label(const P11BE_TOKEN *token);
CK_SLOT_ID p11be_token_slot_id(const P11BE_TOKEN *token);
/* The module's functions, for calls that need no session (P11BE_CALL). */
CK_FUNCTION_LIST *p11be_token_fns(const P11BE_TOKEN *token);

/* The token's login in this process, shared by provider instances. */
enum p11be_login_state {
    P11BE_LOGGED_OUT,
    P11BE_LOGGING_IN, /* one thread is trying; the others wait for it */
    P11BE_LOGGED_IN,
    P11BE_LOGIN_REFUSED, /* a PIN failed or the token is locked: never again */
};

/*
 * Logs in on `session` unless already done, never trying again a PIN the
 * token refused (that refusal holds for the process, whatever the PIN's
 * source). `pin` (pin_len bytes) is the caller's (the store: from the URI,
 * a PIN file or a passphrase callback; the caller wipes it), named in
 * messages as "PIN from <source>"; NULL: the configured one and the
 * setting's name. On failure *last_rv is the last result seen on the
 * session (a lost session there means: release it with that code, try
 * another).
 */
int p11be_token_login_pin(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                          const char *pin, size_t pin_len, const char *source,
                          CK_RV *last_rv);

/* The login state now (for a caller deciding whether to find a PIN). */
enum p11be_login_state p11be_token_login_state(P11BE_TOKEN *token);

#endif
