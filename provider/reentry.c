/* SPDX-License-Identifier: Apache-2.0 */
#include "reentry.h"

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

__thread unsigned p11be_token_call_depth P11BE_TLS_FAST;

static pthread_mutex_t fallback_lock = PTHREAD_MUTEX_INITIALIZER;
static OSSL_LIB_CTX *fallback_libctx;
static OSSL_PROVIDER *fallback_default;
static unsigned fallback_users;

int p11be_fallback_prepare(void)
{
    int ok = 1;

    pthread_mutex_lock(&fallback_lock);
    if (fallback_libctx == NULL) {
        fallback_libctx = OSSL_LIB_CTX_new();
        if (fallback_libctx != NULL)
            fallback_default = OSSL_PROVIDER_load(fallback_libctx, "default");
        if (fallback_default == NULL) {
            OSSL_LIB_CTX_free(fallback_libctx);
            fallback_libctx = NULL;
            ok = 0;
        }
    }
    if (ok)
        fallback_users++;
    pthread_mutex_unlock(&fallback_lock);
    return ok;
}

OSSL_LIB_CTX *p11be_fallback_libctx(void)
{
    /* Set before any token call and cleared only after the last user. */
    return fallback_libctx;
}

void p11be_fallback_release(void)
{
    pthread_mutex_lock(&fallback_lock);
    if (fallback_users > 0 && --fallback_users == 0) {
        OSSL_PROVIDER_unload(fallback_default);
        OSSL_LIB_CTX_free(fallback_libctx);
        fallback_default = NULL;
        fallback_libctx = NULL;
    }
    pthread_mutex_unlock(&fallback_lock);
}
