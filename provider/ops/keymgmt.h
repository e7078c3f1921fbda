/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keymgmt functions that are the same for every key type, all working
 * on P11BE_KEY (keyobj.h) and its host copy. A type's keymgmt file
 * (keymgmt_rsa.c ..) puts them in its dispatch table beside its own
 * import/export types, gettable params and generation.
 *
 * Export gives what may leave: the public parts always, the private parts
 * of a key that came from software (they are the caller's own) or of an
 * exportable pair generated on the token (read from it when first asked).
 * Any other private half stays on the token: an export that asks for it
 * is refused (see p11be_keymgmt_export).
 */
#ifndef P11BE_KEYMGMT_H
#define P11BE_KEYMGMT_H

#include <openssl/core_dispatch.h>

#include "keyobj.h"
#include "provider.h"

/*
 * A host copy for `key` (of its kind) from params, as EVP_PKEY_fromdata()
 * with `evp_selection` in the fallback library context; raises on NULL.
 */
EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[]);

/*
 * The same, given to the key as its public host copy (p11be_key_set_host):
 * 1, or 0 (raised, nothing kept).
 */
int p11be_keymgmt_set_public_from(P11BE_KEY *key, OSSL_PARAM params[]);

/*
 * CKA_EC_POINT's value: a DER OCTET STRING as PKCS#11 says, or the raw
 * point (key) that some tokens give. Points *point into `value`.
 */
void p11be_ec_point_of(const unsigned char *value, size_t len,
                       const unsigned char **point, size_t *point_len);

OSSL_FUNC_keymgmt_free_fn p11be_keymgmt_free;
OSSL_FUNC_keymgmt_import_fn p11be_keymgmt_import;
OSSL_FUNC_keymgmt_has_fn p11be_keymgmt_has;
OSSL_FUNC_keymgmt_match_fn p11be_keymgmt_match;
OSSL_FUNC_keymgmt_validate_fn p11be_keymgmt_validate;
OSSL_FUNC_keymgmt_export_fn p11be_keymgmt_export;
OSSL_FUNC_keymgmt_get_params_fn p11be_keymgmt_get_params;
OSSL_FUNC_keymgmt_dup_fn p11be_keymgmt_dup;

/*
 * OSSL_FUNC_keymgmt_load for a key of `kind`: the reference is a
 * P11BE_KEY * that the store (store.c) passes by address
 * (OSSL_OBJECT_PARAM_REFERENCE, sizeof(P11BE_KEY *) bytes) and keeps its
 * own reference to; returns a new reference, or NULL when the reference
 * is malformed or of another kind.
 */
void *p11be_keymgmt_load(const void *reference, size_t reference_sz,
                         const struct p11be_key_kind *kind);

/* The key types, one row each in its keymgmt file. */
extern const struct p11be_key_kind p11be_kind_rsa;     /* keymgmt_rsa.c */
extern const struct p11be_key_kind p11be_kind_rsa_pss; /* keymgmt_rsa.c */
extern const struct p11be_key_kind p11be_kind_ec;      /* keymgmt_ec.c */
extern const struct p11be_key_kind p11be_kind_ed25519; /* keymgmt_ed.c */
extern const struct p11be_key_kind p11be_kind_ed448;   /* keymgmt_ed.c */

/*
 * The Ed25519 or Ed448 kind for a CKK_EC_EDWARDS object's CKA_EC_PARAMS
 * (the curve's OID, or the PrintableString "edwards25519" / "edwards448"
 * some tools write), or NULL.
 */
const struct p11be_key_kind *p11be_ed_kind_of(const unsigned char *params,
                                              size_t len);

/*
 * Key generation parameters every key type takes: a label and/or an id
 * make the generated pair a persistent token key.
 */
#define P11BE_KEYGEN_PARAM_LABEL "pkcs11-key-label"
#define P11BE_KEYGEN_PARAM_ID    "pkcs11-key-id"

/*
 * How a key pair is made: the pkcs11-keygen-exportable setting for one
 * asked for without a label or id; a persistent key (label or id) is
 * always P11BE_KEYGEN_TOKEN. In pkcs11-offload = keys mode the default is
 * "yes" (only named keys go to the token).
 */
enum p11be_keygen_mode {
    P11BE_KEYGEN_TOKEN,      /* "no": on the token, never leaves it */
    P11BE_KEYGEN_EXPORTABLE, /* "auto" (default): a session pair on the
                                token that the application can write out
                                (keyobj.h); in memory where the token
                                refuses such a pair */
    P11BE_KEYGEN_HOST,       /* "yes": by OpenSSL's default provider, in
                                process memory */
};

/* The mode, or -1 for a bad setting (raised). */
int p11be_keygen_mode(P11BE_PROV_CTX *prov, const char *label, size_t id_len);

/*
 * Generates on the token as `mode` says (P11BE_KEYGEN_TOKEN or _EXPORTABLE:
 * gen->exportable is set here), then, for an exportable pair the token
 * refuses, with `on_host` (the type's generation in the default
 * provider). 1, or 0 (raised).
 */
int p11be_keygen_run(P11BE_KEY *key, struct p11be_keygen *gen, int mode,
                     int (*on_host)(P11BE_KEY *key, const void *arg),
                     const void *arg);

/*
 * Reads pkcs11-key-label and pkcs11-key-id from `params` into *label and
 * *id / *id_len (replacing what they held). On a malformed one returns 0
 * with *bad pointing at it, for the caller's error.
 */
int p11be_keygen_token_params(const OSSL_PARAM params[], char **label,
                              unsigned char **id, size_t *id_len,
                              const OSSL_PARAM **bad);

#endif
