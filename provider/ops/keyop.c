/* SPDX-License-Identifier: Apache-2.0 */
/* The operation base (keyop.h). */
#include "keyop.h"

#include <stdio.h>
#include <string.h>

#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "keymgmt.h"
#include "mechs.h"
#include "reentry.h"

void p11be_keyop_new(P11BE_KEYOP *op, P11BE_PROV_CTX *prov, const char *what)
{
    op->prov = prov;
    op->what = what;
    op->reentered = p11be_reentered();
    if (op->reentered)
        P11BE_DEBUG("re-entered from the module: %s on the host", what);
}

/*
 * The private-key work of a key the token cannot do (what it lacks in
 * why) moves to the host copy, counted, unless pkcs11-delegate = no.
 */
static int keyop_delegate(P11BE_KEYOP *op, const char *why)
{
    int allowed = p11be_delegate_allowed(op->prov);

    if (allowed > 0) {
        op->on_host = 1;
        P11BE_DEBUG("%s: %s, on the host", op->what, why);
        p11be_delegated_note(op->prov, op->what);
        return 1;
    }
    if (allowed == 0)
        p11be_raise(op->prov->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "%s: the token cannot use this %s key (%s), and "
                    "pkcs11-delegate = no forbids the default provider",
                    op->what, op->key->kind->name, why);
    return 0;
}

/* A key from software whose type, curve or size the token lacks. */
static int keyop_fit(P11BE_KEYOP *op)
{
    char why[200];
    int fit = p11be_keymgmt_fit(op->key, NULL, 0);

    if (fit < 0)
        return 0;
    if (fit == P11BE_FIT_TOKEN)
        return 1;
    if (p11be_keymgmt_fit(op->key, why, sizeof(why)) < 0)
        return 0;
    return keyop_delegate(op, why);
}

int p11be_keyop_token_mech(P11BE_KEYOP *op, CK_MECHANISM_TYPE mech,
                           const char *mech_name)
{
    char why[120];

    if (op->on_host)
        return 1;
    if (p11be_token_ctx_token(&op->prov->tc) == NULL)
        return 0;
    if (p11be_has_mech(&op->prov->tc, mech))
        return 1;
    /* A token key: nothing to fall back on. */
    if (!op->key->host_private)
        return p11be_check_mech(&op->prov->tc, mech, mech_name);
    snprintf(why, sizeof(why), "%s is not supported by the token", mech_name);
    return keyop_delegate(op, why);
}

int p11be_keyop_token_key(P11BE_KEYOP *op)
{
    P11BE_KEY *key = op->key;
    enum p11be_key_use use = op->operation == EVP_PKEY_OP_SIGN ? P11BE_USE_SIGN
                             : op->operation == EVP_PKEY_OP_DECRYPT
                                 ? P11BE_USE_DECRYPT
                                 : P11BE_USE_DERIVE;
    int ok;

    if (op->on_host || !key->host_private)
        return 1;
    ok = p11be_key_import_private(key, use);
    if (ok >= 0)
        return ok;
    /* Learned once: every later init finds a host key (keyop_fit). */
    __atomic_store_n(&key->fit, P11BE_FIT_HOST, __ATOMIC_RELEASE);
    return keyop_fit(op);
}

int p11be_keyop_init(P11BE_KEYOP *op, void *provkey, int operation,
                     int uses_private)
{
    P11BE_KEY *key = provkey;

    if (key != NULL) {
        p11be_key_up_ref(key);
        p11be_key_free(op->key);
        op->key = key;
    }
    key = op->key;
    EVP_PKEY_CTX_free(op->host);
    op->host = NULL;
    op->operation = operation;
    if (key == NULL) {
        p11be_raise(op->prov->handle, P11BE_R_NO_KEY, "%s: no key given",
                    op->what);
        return 0;
    }
    if (uses_private && !p11be_key_has_private(key)) {
        p11be_raise(op->prov->handle, P11BE_R_NO_KEY,
                    "%s: the key is a public key", op->what);
        return 0;
    }
    if (uses_private && op->reentered && !key->host_private) {
        p11be_raise(op->prov->handle, P11BE_R_FALLBACK_FAILED,
                    "%s with a token key requested from inside a token call",
                    op->what);
        return 0;
    }
    op->on_host =
        op->reentered || (op->prov->offload_keys && key->host_private);
    if (op->on_host && !op->reentered)
        P11BE_DEBUG("%s with a software key, offload keys: on the host",
                    op->what);
    if (uses_private && !op->on_host && key->host_private && !keyop_fit(op))
        return 0;
    return 1;
}

int p11be_keyop_ready(P11BE_KEYOP *op, int operation)
{
    if (op->host != NULL && op->operation == operation)
        return 1;
    p11be_raise(op->prov->handle, P11BE_R_BAD_STATE,
                "%s: called without its init", op->what);
    return 0;
}

int p11be_keyop_dup(P11BE_KEYOP *dst, const P11BE_KEYOP *src)
{
    *dst = *src;
    dst->key = NULL;
    dst->host = NULL;
    if (src->key != NULL && p11be_key_up_ref(src->key))
        dst->key = src->key;
    return src->host == NULL
           || (dst->host = EVP_PKEY_CTX_dup(src->host)) != NULL;
}

void p11be_keyop_cleanup(P11BE_KEYOP *op)
{
    EVP_PKEY_CTX_free(op->host);
    p11be_key_free(op->key);
    op->host = NULL;
    op->key = NULL;
}

int p11be_keyop_get_params(P11BE_KEYOP *op, OSSL_PARAM params[])
{
    if (op->host == NULL) {
        p11be_raise(op->prov->handle, P11BE_R_BAD_STATE,
                    "%s: parameters asked before init", op->what);
        return 0;
    }
    return EVP_PKEY_CTX_get_params(op->host, params) > 0;
}

/* Whether `key` names a property query (dropped for the host). */
static int keyop_param_is_props(const char *key)
{
    size_t len = strlen(key);

    return (len >= 10 && strcmp(key + len - 10, "properties") == 0)
           || (len >= 6 && strcmp(key + len - 6, "-props") == 0);
}

int p11be_keyop_set_params(P11BE_KEYOP *op, const OSSL_PARAM params[])
{
    OSSL_PARAM *kept;
    size_t count = 0, n = 0, i;
    int ok;

    if (params == NULL || params[0].key == NULL)
        return 1;
    if (op->host == NULL) {
        p11be_raise(op->prov->handle, P11BE_R_BAD_STATE,
                    "%s: parameters set before init", op->what);
        return 0;
    }
    while (params[count].key != NULL)
        count++;
    kept = OPENSSL_malloc((count + 1) * sizeof(*kept));
    if (kept == NULL)
        return 0;
    for (i = 0; i < count; i++)
        if (!keyop_param_is_props(params[i].key))
            kept[n++] = params[i];
    kept[n] = params[count]; /* the end marker */
    ok = n == 0 || EVP_PKEY_CTX_set_params(op->host, kept) > 0;
    OPENSSL_free(kept);
    return ok;
}
