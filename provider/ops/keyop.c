/* SPDX-License-Identifier: Apache-2.0 */
/* The operation base (keyop.h). */
#include "keyop.h"

#include <string.h>

#include "debug.h"
#include "err.h"
#include "reentry.h"

void p11be_keyop_new(P11BE_KEYOP *op, P11BE_PROV_CTX *prov, const char *what)
{
    op->prov = prov;
    op->what = what;
    op->reentered = p11be_reentered();
    if (op->reentered)
        P11BE_DEBUG("re-entered from the module: %s on the host", what);
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
