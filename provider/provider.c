/* SPDX-License-Identifier: Apache-2.0 */
/* OSSL_provider_init, the algorithm tables, provider params, teardown. */
#include "provider.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "algorithms.h"
#include "capabilities.h"
#include "debug.h"
#include "delegate.h"
#include "err.h"
#include "module.h"
#include "reentry.h"
#include "stream.h"
#include "token.h"

#define P11BE_NAME "pkcs11be"

static OSSL_FUNC_provider_teardown_fn prov_teardown;
static OSSL_FUNC_provider_gettable_params_fn prov_gettable_params;
static OSSL_FUNC_provider_get_params_fn prov_get_params;
static OSSL_FUNC_provider_query_operation_fn prov_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn prov_get_reason_strings;

const char *const p11be_offload_choices[] = {"all", "keys", NULL};

/* Before the token first opens: the settings the instance reads itself. */
static int prov_opening(P11BE_TOKEN_CTX *tc)
{
    P11BE_PROV_CTX *prov =
        (P11BE_PROV_CTX *)((char *)tc - offsetof(P11BE_PROV_CTX, tc));
    unsigned long buffer_max, gcm_max;

    if (p11be_config_choice(&prov->config, P11BE_SET_OFFLOAD, prov->handle,
                            P11BE_OFFLOAD_ALL, p11be_offload_choices)
            < 0
        || !p11be_config_ulong(&prov->config, P11BE_SET_DIGEST_BUFFER_MAX,
                               prov->handle, P11BE_DIGEST_BUFFER_DEFAULT, 0,
                               (unsigned long)1 << 30, &buffer_max)
        || !p11be_config_ulong(&prov->config, P11BE_SET_GCM_DECRYPT_MAX,
                               prov->handle, P11BE_GCM_DECRYPT_DEFAULT, 0,
                               SIZE_MAX, &gcm_max))
        return 0;
    prov->digest_buffer_max = buffer_max;
    prov->gcm_decrypt_max = gcm_max;
    return 1;
}

static const OSSL_PARAM prov_gettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_utf8_ptr("pkcs11-module-path", NULL, 0),
    OSSL_PARAM_utf8_ptr("pkcs11-slot-id", NULL, 0),
    OSSL_PARAM_utf8_ptr("pkcs11-token-label", NULL, 0),
    OSSL_PARAM_uint64(P11BE_PARAM_DELEGATED, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *prov_gettable_params(void *provctx)
{
    (void)provctx;
    return prov_gettable;
}

/* Reports what is configured, and what is in use once the token is open. */
static int prov_get_params(void *provctx, OSSL_PARAM params[])
{
    P11BE_PROV_CTX *prov = provctx;
    struct p11be_token_st *token = p11be_token_ctx_opened(&prov->tc);
    const char *module = p11be_config_get(&prov->config, P11BE_SET_MODULE_PATH);
    const char *slot = p11be_config_get(&prov->config, P11BE_SET_SLOT_ID);
    const char *label = p11be_config_get(&prov->config, P11BE_SET_TOKEN_LABEL);
    char slot_text[24];
    OSSL_PARAM *p;
    size_t i;

    if (token != NULL) {
        snprintf(slot_text, sizeof(slot_text), "%lu",
                 (unsigned long)token->slot_id);
        slot = slot_text;
        label = token->label;
    }
    const char *texts[][2] = {
        {OSSL_PROV_PARAM_NAME, "pkcs11be PKCS#11 provider"},
        {OSSL_PROV_PARAM_VERSION, P11BE_VERSION_STR},
        {OSSL_PROV_PARAM_BUILDINFO, prov->buildinfo},
        {"pkcs11-module-path", module != NULL ? module : "(unset)"},
        {"pkcs11-slot-id", slot != NULL ? slot : "(first)"},
        {"pkcs11-token-label", label != NULL ? label : "(any)"},
    };

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        p = OSSL_PARAM_locate(params, texts[i][0]);
        if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, texts[i][1]))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    p = OSSL_PARAM_locate(params, P11BE_PARAM_DELEGATED);
    return p == NULL || OSSL_PARAM_set_uint64(p, p11be_delegated_count(prov));
}

static const OSSL_ALGORITHM *
prov_query_operation(void *provctx, int operation_id, int *no_cache)
{
    P11BE_PROV_CTX *prov = provctx;

    *no_cache = 0;
    if (prov->bystander)
        return NULL;
    /*
     * Keys mode: a provider never sees the property query, so the only way
     * to leave digests, MACs, ciphers and KDFs to the default provider
     * whatever the application prefers is not to offer them. The asymmetric
     * operations stay: OpenSSL 3.0 runs a token key's operation in the
     * key's own provider once exporting it elsewhere is refused.
     */
    return p11be_algorithms(operation_id, prov->offload_keys);
}

static const OSSL_ITEM *prov_get_reason_strings(void *provctx)
{
    (void)provctx;
    return p11be_err_reason_strings();
}

static void prov_teardown(void *provctx)
{
    P11BE_PROV_CTX *prov = provctx;

    if (prov == NULL)
        return;
    p11be_token_ctx_cleanup(&prov->tc);
    p11be_config_free(&prov->config);
    p11be_spare_free_all(prov);
    p11be_digest_teardown(prov);
    OSSL_LIB_CTX_free(prov->corebio_libctx);
    pthread_mutex_destroy(&prov->spare_lock);
    OPENSSL_free(prov);
}

static const OSSL_DISPATCH prov_dispatch[] = {
    P11BE_FN(OSSL_FUNC_PROVIDER_TEARDOWN, prov_teardown),
    P11BE_FN(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, prov_gettable_params),
    P11BE_FN(OSSL_FUNC_PROVIDER_GET_PARAMS, prov_get_params),
    P11BE_FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, prov_query_operation),
    P11BE_FN(OSSL_FUNC_PROVIDER_GET_CAPABILITIES, p11be_get_capabilities),
    P11BE_FN(OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, prov_get_reason_strings),
    {0, NULL},
};

static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;

/*
 * OpenSSL 3.0's `openssl list -providers -verbose` prints the build info
 * but only the names of other gettable parameters: the configured token
 * and offload mode go into the build info so that they are seen there.
 */
static void prov_make_buildinfo(P11BE_PROV_CTX *prov)
{
    const char *module = p11be_config_get(&prov->config, P11BE_SET_MODULE_PATH);
    const char *slot = p11be_config_get(&prov->config, P11BE_SET_SLOT_ID);
    const char *label = p11be_config_get(&prov->config, P11BE_SET_TOKEN_LABEL);
    const char *offload = p11be_config_get(&prov->config, P11BE_SET_OFFLOAD);

    snprintf(prov->buildinfo, sizeof(prov->buildinfo),
             "pkcs11be " P11BE_VERSION_STR " built with " OPENSSL_VERSION_TEXT
             "; module %s, slot %s, token %s, offload %s",
             module ? module : "(unset)", slot ? slot : "(first)",
             label ? label : "(any)", offload ? offload : "all");
}

__attribute__((visibility("default"))) OSSL_provider_init_fn OSSL_provider_init;

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
    const OSSL_DISPATCH *d;
    P11BE_PROV_CTX *prov;

    p11be_debug_init();
    p11be_err_init(handle, in);
    for (d = in; d->function_id != 0; d++)
        if (d->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            core_get_params = OSSL_FUNC_core_get_params(d);

    prov = OPENSSL_zalloc(sizeof(*prov));
    if (prov == NULL)
        return 0;
    prov->handle = handle;
    prov->digest_buffer_max = P11BE_DIGEST_BUFFER_DEFAULT;
    prov->gcm_decrypt_max = P11BE_GCM_DECRYPT_DEFAULT;
    p11be_token_ctx_init(&prov->tc, handle, &prov->config, prov_opening);
    pthread_mutex_init(&prov->spare_lock, NULL);
    /* Core BIOs for the encoders and decoders (provider.h). */
    prov->corebio_libctx = OSSL_LIB_CTX_new_from_dispatch(handle, in);
    if (prov->corebio_libctx == NULL
        || !p11be_config_load(&prov->config, handle, core_get_params)) {
        OSSL_LIB_CTX_free(prov->corebio_libctx);
        pthread_mutex_destroy(&prov->spare_lock);
        pthread_mutex_destroy(&prov->tc.lock);
        OPENSSL_free(prov);
        return 0;
    }
    /*
     * Loaded by the module's own OpenSSL initialisation while another
     * pkcs11be instance is inside a token call (OPENSSL_CONF names us):
     * stand aside, offering nothing, so nothing can recurse into the token.
     */
    prov->bystander = p11be_reentered();
    prov->offload_keys =
        p11be_config_get(&prov->config, P11BE_SET_OFFLOAD) != NULL
        && strcmp(p11be_config_get(&prov->config, P11BE_SET_OFFLOAD),
                  p11be_offload_choices[P11BE_OFFLOAD_KEYS])
               == 0;
    prov_make_buildinfo(prov);
    /* Exit hooks that outlive an unload (see there). */
    pthread_once(&exit_hook_once, p11be_module_pin_self);
    P11BE_DEBUG("provider loaded%s: %s", prov->bystander ? " (bystander)" : "",
                prov->buildinfo);

    *out = prov_dispatch;
    *provctx = prov;
    return 1;
}
