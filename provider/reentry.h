/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Re-entry from the PKCS#11 module.
 *
 * A module such as SoftHSM2 calls OpenSSL itself (C_Login hashes the PIN,
 * C_Digest calls EVP) through the default library context. When pkcs11be is
 * preferred there (default_properties), those calls come back into
 * pkcs11be while the calling thread is inside a C_* function. Sending them
 * to the token again would recurse or deadlock, so every C_* call marks the
 * thread, and an algorithm created while the mark is set is served by a
 * private library context that holds only OpenSSL's default provider.
 */
#ifndef P11BE_REENTRY_H
#define P11BE_REENTRY_H

#include <openssl/types.h>

/*
 * Read on every call into the module: the initial-exec model skips
 * __tls_get_addr. Four bytes of the static TLS surplus glibc keeps for
 * dlopen'd libraries.
 */
#define P11BE_TLS_FAST __attribute__((tls_model("initial-exec")))

extern __thread unsigned p11be_token_call_depth P11BE_TLS_FAST;

static inline void p11be_reentry_enter(void)
{
    p11be_token_call_depth++;
}

static inline void p11be_reentry_leave(void)
{
    p11be_token_call_depth--;
}

/* True while this thread is inside a call into the PKCS#11 module. */
static inline int p11be_reentered(void)
{
    return p11be_token_call_depth != 0;
}

/*
 * The private library context (default provider only). Made by
 * p11be_fallback_prepare(), which runs before the first call into a module
 * so that it never has to be built from inside one.
 */
int p11be_fallback_prepare(void);
OSSL_LIB_CTX *p11be_fallback_libctx(void);
void p11be_fallback_release(void);

#endif
