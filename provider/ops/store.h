/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "pkcs11" OSSL_STORE loader (store.c) and what other parts of the
 * provider borrow from it: finding token keys by pkcs11: URI.
 */
#ifndef P11BE_STORE_H
#define P11BE_STORE_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "keyobj.h"
#include "provider.h"

/*
 * The one key the URI names, as a new reference: the private key (paired
 * with its public key by CKA_ID, see store.c) when the URI's type is
 * "private" or not given and a private key matches, else the public key.
 * More than one private (or public) key matching is "ambiguous", even
 * when the URI names no object. `pw_cb` (may be NULL) asks for the PIN
 * when the URI and the settings give none. Raises "no object matches" /
 * "ambiguous" / parse and token-mismatch errors and returns NULL.
 */
P11BE_KEY *p11be_store_key_by_uri(P11BE_PROV_CTX *prov, const char *uri,
                                  OSSL_PASSPHRASE_CALLBACK *pw_cb,
                                  void *pw_cbarg);

/*
 * The pkcs11: URI that names a persistent token key (token label, object
 * label and/or id, "type=private"; "type=public" for a public key found
 * on the token), in a fresh string to OPENSSL_free; NULL (raised) for a
 * key that is not on the token persistently.
 */
char *p11be_store_key_uri(const P11BE_KEY *key);

#endif
