/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The base of every operation on a key pair (signature, asym-cipher, key
 * exchange): the key (keyobj.h) and a context of OpenSSL's default
 * provider on its host copy.
 */
#ifndef P11BE_KEYOP_H
#define P11BE_KEYOP_H

#include "keyobj.h"
#include "provider.h"

/*
 * What every operation context on a key shares (signature, asym-cipher,
 * key exchange): the key, and a context of OpenSSL's default provider on
 * its host copy, which takes every parameter, checks, defaults and reports
 * them as OpenSSL does, and runs the public-key side. The operation reads
 * the settled values back from it for the token's part.
 */
typedef struct p11be_keyop_st {
    P11BE_PROV_CTX *prov; /* provider that made us */
    const char *what;     /* "RSA signature" .., for messages */
    int reentered;        /* made inside a token call: host only */
    int operation;        /* EVP_PKEY_OP_* of the last init */
    P11BE_KEY *key;       /* a reference; NULL until init */
    EVP_PKEY_CTX *host;   /* on key->host; NULL until init */
    /*
     * Set by init: the work runs on the host copy and never on the token.
     * On re-entry, and in pkcs11-offload = keys mode for a key that came
     * from software (its private half is in the host copy), so that such
     * keys cost no token call even where pkcs11be is preferred; and for a
     * key from software that the token cannot use (its type, curve or
     * size, keymgmt.h P11BE_FIT_HOST, or the operation's mechanism), as
     * OpenSSL's default provider would do it (counted as delegated).
     */
    int on_host;
} P11BE_KEYOP;

/* For newctx: notes whether the thread is inside a token call. */
void p11be_keyop_new(P11BE_KEYOP *op, P11BE_PROV_CTX *prov, const char *what);

/*
 * For init: takes provkey (NULL keeps the key set before) and drops the
 * host context, which the caller then makes for its operation (pkey_op.c).
 * With `uses_private`, refuses a public key, and a token key in re-entry.
 */
int p11be_keyop_init(P11BE_KEYOP *op, void *provkey, int operation,
                     int uses_private);

/*
 * For init, after p11be_keyop_init: whether the token has `mech` for the
 * private-key work. Without it, a key from software moves that work to
 * its host copy (on_host, counted as delegated) unless pkcs11-delegate =
 * no; otherwise "... is not supported by the token". 1, or 0 (raised).
 */
int p11be_keyop_token_mech(P11BE_KEYOP *op, CK_MECHANISM_TYPE mech,
                           const char *mech_name);

/*
 * For init, after the mechanism checks, when the private-key work stays
 * on the token: a key from software gets its private object for the
 * operation now. A token that refuses it (its template, curve or domain
 * parameters: keyobj.h p11be_key_import_private) makes it a host key,
 * once, and the work moves to its host copy as for a key the token
 * lacks the curve of (counted; "... refused its private key: ... CKR_*"
 * under pkcs11-delegate = no). 1, or 0 (raised).
 */
int p11be_keyop_token_key(P11BE_KEYOP *op);

/* Whether the last init was for `operation`; raises otherwise. */
int p11be_keyop_ready(P11BE_KEYOP *op, int operation);

int p11be_keyop_dup(P11BE_KEYOP *dst, const P11BE_KEYOP *src);
void p11be_keyop_cleanup(P11BE_KEYOP *op);

/* get_ctx_params: what the host context reports. */
int p11be_keyop_get_params(P11BE_KEYOP *op, OSSL_PARAM params[]);

/*
 * set_ctx_params (after init; NULL or empty: nothing to do): to the host
 * context, less the property queries for digests ("properties",
 * "digest-props" ..): the host's digests come from the default provider
 * whatever the caller prefers.
 */
int p11be_keyop_set_params(P11BE_KEYOP *op, const OSSL_PARAM params[]);

#endif
