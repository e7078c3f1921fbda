/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What pkcs11be's RANDs share (rand.c: PKCS11-RAND, the token's generator;
 * drbg.c: OpenSSL's DRBGs run by the default provider): the start of their
 * contexts, and the entry points that need nothing more.
 */
#ifndef P11BE_RAND_H
#define P11BE_RAND_H

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>

#include "provider.h"

/* The first member of every pkcs11be RAND context. */
typedef struct {
    P11BE_PROV_CTX *prov; /* provider that made us */
    const char *name;     /* "PKCS11-RAND", "CTR-DRBG" ..: for messages */
    /*
     * Made by enable_locking. OpenSSL's lock, not a mutex: a thread that
     * comes back for it from inside a token call gets an error, not a hang.
     */
    CRYPTO_RWLOCK *lock;
} P11BE_RAND_BASE;

OSSL_FUNC_rand_enable_locking_fn p11be_rand_enable_locking;
OSSL_FUNC_rand_lock_fn p11be_rand_lock;
OSSL_FUNC_rand_unlock_fn p11be_rand_unlock;
/* Must not read its context: OpenSSL 3.0 passes the child's, not ours. */
OSSL_FUNC_rand_clear_seed_fn p11be_rand_clear_seed;

/*
 * get_seed's buffer: `entropy` bits within min_len..max_len bytes, from
 * OPENSSL_secure_malloc (p11be_rand_clear_seed frees it); *len is set.
 * NULL (raised) when no length from 1 to `limit` fits, or no memory.
 */
unsigned char *p11be_rand_seed_new(P11BE_RAND_BASE *base, int entropy,
                                   size_t min_len, size_t max_len, size_t limit,
                                   size_t *len);

#endif
