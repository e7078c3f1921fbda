/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Spare buffers for input held on the host. OpenSSL 3.0 frees and
 * re-creates the provider context at every EVP_DigestInit_ex, even on a
 * reused EVP_MD_CTX, so a context that holds more than its inline buffer
 * would allocate and free a buffer per message. The provider keeps a few
 * spares instead.
 */
#ifndef P11BE_SPARE_H
#define P11BE_SPARE_H

#include <stddef.h>

#include "provider.h"

/* A spare of at least `need` bytes (its size in *cap), or NULL. */
unsigned char *p11be_spare_take(P11BE_PROV_CTX *prov, size_t need, size_t *cap);

/* Keeps `buf` as a spare, or frees it when there is no room for it. */
void p11be_spare_give(P11BE_PROV_CTX *prov, unsigned char *buf, size_t cap);

/* Frees every spare; at teardown. */
void p11be_spare_free_all(P11BE_PROV_CTX *prov);

#endif
