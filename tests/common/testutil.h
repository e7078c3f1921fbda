/* SPDX-License-Identifier: Apache-2.0 */
/* What every C test program under tests/c needs: linked into each. */
#ifndef P11BE_TESTUTIL_H
#define P11BE_TESTUTIL_H

#include <stddef.h>

#include <openssl/provider.h>

/* Prints "FAIL: what" and the OpenSSL error queue; returns 0. */
int tu_fail(const char *what);

/* Deterministic test bytes: the same seed gives the same bytes. */
void tu_fill(unsigned char *buf, size_t len, unsigned seed);

/*
 * Loads OpenSSL's default provider, then pkcs11be from $P11BE_BUILD_DIR
 * (default "build"), into the default library context. Default first, so
 * that fetches without a property query (OpenSSL's own DRBG) stay there;
 * tests ask for "provider=pkcs11be" explicitly. Either out pointer may be
 * NULL. Returns 1 when both loaded.
 */
int tu_load_providers(OSSL_PROVIDER **p11be, OSSL_PROVIDER **deflt);

#endif
