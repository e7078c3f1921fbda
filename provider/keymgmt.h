/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keymgmt functions that are the same for every key type, all working
 * on P11BE_KEY (keyobj.h) and its host copy. A type's keymgmt file
 * (keymgmt_rsa.c ..) puts them in its dispatch table beside its own
 * import/export types, gettable params and generation.
 *
 * Export gives what may leave: the public parts always, the private parts
 * only of a key that came from software (they are the caller's own). A
 * key whose private half is on the token exports its public parts only,
 * whatever the selection, so that OpenSSL can still print, encode and
 * compare it; an importer that needs the private half then fails cleanly.
 */
#ifndef P11BE_KEYMGMT_H
#define P11BE_KEYMGMT_H

#include <openssl/core_dispatch.h>

#include "keyobj.h"

/*
 * A host copy for `key` (of its kind) from params, as EVP_PKEY_fromdata()
 * with `evp_selection` in the fallback library context; raises on NULL.
 */
EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[]);

OSSL_FUNC_keymgmt_free_fn p11be_keymgmt_free;
OSSL_FUNC_keymgmt_import_fn p11be_keymgmt_import;
OSSL_FUNC_keymgmt_has_fn p11be_keymgmt_has;
OSSL_FUNC_keymgmt_match_fn p11be_keymgmt_match;
OSSL_FUNC_keymgmt_validate_fn p11be_keymgmt_validate;
OSSL_FUNC_keymgmt_export_fn p11be_keymgmt_export;
OSSL_FUNC_keymgmt_get_params_fn p11be_keymgmt_get_params;
OSSL_FUNC_keymgmt_dup_fn p11be_keymgmt_dup;

/*
 * Key generation parameters every key type takes: a label and/or an id
 * make the generated pair a persistent token key.
 */
#define P11BE_KEYGEN_PARAM_LABEL "pkcs11-key-label"
#define P11BE_KEYGEN_PARAM_ID    "pkcs11-key-id"

/*
 * Reads pkcs11-key-label and pkcs11-key-id from `params` into *label and
 * *id / *id_len (replacing what they held). On a malformed one returns 0
 * with *bad pointing at it, for the caller's error.
 */
int p11be_keygen_token_params(const OSSL_PARAM params[], char **label,
                              unsigned char **id, size_t *id_len,
                              const OSSL_PARAM **bad);

#endif
