/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work pkcs11be offers but hands whole to OpenSSL's default provider (in
 * p11be_fallback_libctx()), because the token has no mechanism for it and
 * doing it piecemeal on the token would cost a call per step (a KDF's
 * iterations, a DRBG's blocks). Each hand-over is counted per provider
 * instance, so a user can see that it happens: the provider parameter
 * "pkcs11-delegated" (an unsigned number) and, with P11BE_DEBUG, a line
 * naming the work. The setting pkcs11-delegate = no forbids it where
 * the token lacks what was asked (p11be_delegate_allowed); KDFs and DRBGs
 * pkcs11be only ever runs this way are not affected.
 */
#ifndef P11BE_DELEGATE_H
#define P11BE_DELEGATE_H

#include <stdint.h>

#include "provider.h"

/* Provider parameter that reports p11be_delegated_count(). */
#define P11BE_PARAM_DELEGATED "pkcs11-delegated"

/*
 * Counts one piece of work run by the default provider instead of the
 * token. what names it for the debug trace ("KDF PBKDF2", "RAND CTR-DRBG"):
 * a string literal, never data. Thread-safe, lock-free.
 */
void p11be_delegated_note(P11BE_PROV_CTX *prov, const char *what);

/*
 * Whether the setting pkcs11-delegate allows handing work the token lacks
 * to the default provider: 1 (yes, the default), 0 (no: fail, naming what
 * the token lacks), -1 for a value other than yes or no (raised).
 */
int p11be_delegate_allowed(P11BE_PROV_CTX *prov);

/* How many times p11be_delegated_note() was called on this instance. */
uint64_t p11be_delegated_count(const P11BE_PROV_CTX *prov);

#endif
