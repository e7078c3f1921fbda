/* SPDX-License-Identifier: Apache-2.0 */
/* Keymgmt functions shared by every key type; see keymgmt.h. */
#include "keymgmt.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "debug.h"
#include "err.h"
#include "reentry.h"

/* The EVP_PKEY_fromdata/todata selection for an OSSL_KEYMGMT_SELECT_*. */
static int keymgmt_evp_selection(int selection, int with_private)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && with_private)
        return EVP_PKEY_KEYPAIR;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return EVP_PKEY_PUBLIC_KEY;
    return EVP_PKEY_KEY_PARAMETERS;
}

EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[])
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(p11be_fallback_libctx(), key->kind->name,
                                     NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, evp_selection, params) <= 0) {
        p11be_raise(key->tc->handle, P11BE_R_INVALID_ARGUMENT,
                    "OpenSSL's default provider refuses this %s key",
                    key->kind->name);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

int p11be_keymgmt_set_public_from(P11BE_KEY *key, OSSL_PARAM params[])
{
    EVP_PKEY *host = p11be_keymgmt_host_from(key, EVP_PKEY_PUBLIC_KEY, params);

    if (host != NULL && p11be_key_set_host(key, host, 0))
        return 1;
    EVP_PKEY_free(host);
    return 0;
}

void p11be_ec_point_of(const unsigned char *value, size_t len,
                       const unsigned char **point, size_t *point_len)
{
    size_t head = 0, body = 0;

    /* 04 LEN or 04 81 LEN: the only lengths a point or EdDSA key needs. */
    if (len >= 2 && value[0] == 0x04 && value[1] < 0x80) {
        head = 2;
        body = value[1];
    } else if (len >= 3 && value[0] == 0x04 && value[1] == 0x81
               && value[2] >= 0x80) {
        head = 3;
        body = value[2];
    }
    if (head != 0 && head + body == len) {
        *point = value + head;
        *point_len = body;
    } else {
        *point = value;
        *point_len = len;
    }
}

/* Nothing touches the token here: objects are made on first use. */
int p11be_keymgmt_import(void *keydata, int selection,
                         const OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;
    int with_private, evp_selection;
    EVP_PKEY *host;

    if (key == NULL || params == NULL)
        return 0;
    /* Parameters alone: only a curve is worth keeping (EC's ECDHE peers). */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) == 0
            || OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)
                   == NULL)
            return 1;
        host = p11be_keymgmt_host_from(key, EVP_PKEY_KEY_PARAMETERS,
                                       (OSSL_PARAM *)params);
        if (host != NULL && p11be_key_set_params_host(key, host))
            return 1;
        EVP_PKEY_free(host);
        return 0;
    }
    with_private =
        (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
        && OSSL_PARAM_locate_const(params, key->kind->private_param) != NULL;
    evp_selection = keymgmt_evp_selection(selection, with_private);
    host = p11be_keymgmt_host_from(key, evp_selection, (OSSL_PARAM *)params);
    if (host == NULL)
        return 0;
    if (!p11be_key_set_host(key, host, with_private)) {
        EVP_PKEY_free(host);
        return 0;
    }
    return 1;
}

void p11be_keymgmt_free(void *keydata)
{
    p11be_key_free(keydata);
}

int p11be_keymgmt_has(const void *keydata, int selection)
{
    const P11BE_KEY *key = keydata;
    int ok = key != NULL;

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = ok && key->host != NULL && !key->params_only;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        ok = ok && p11be_key_has_private(key);
    return ok;
}

/* The public parts decide: one public key has one private key. */
int p11be_keymgmt_match(const void *keydata1, const void *keydata2,
                        int selection)
{
    const P11BE_KEY *a = keydata1, *b = keydata2;
    int ok = 1;

    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        ok = EVP_PKEY_parameters_eq(a->host, b->host) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = ok && EVP_PKEY_eq(a->host, b->host) == 1;
    return ok;
}

/*
 * The host copy is checked by the default provider; a private half on the
 * token is the token's to keep sound, and is taken as valid.
 */
int p11be_keymgmt_validate(const void *keydata, int selection, int checktype)
{
    const P11BE_KEY *key = keydata;
    EVP_PKEY_CTX *ctx;
    int ok = 1;

    (void)checktype;
    if (key->host == NULL)
        return 0;
    ctx = p11be_key_host_ctx(key);
    if (ctx == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        ok = EVP_PKEY_public_check(ctx) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key->host_private)
        ok = ok && EVP_PKEY_private_check(ctx) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR
        && key->host_private)
        ok = ok && EVP_PKEY_pairwise_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

int p11be_keymgmt_export(void *keydata, int selection, OSSL_CALLBACK *param_cb,
                         void *cbarg)
{
    P11BE_KEY *key = keydata;
    OSSL_PARAM *params = NULL, *p;
    EVP_PKEY *from = key->host;
    int with_private = key->host_private, ok;

    if (key->host == NULL)
        return 0;
    /*
     * The private half of a token key cannot be exported, and a public-only
     * answer to a request that includes it would be taken for the whole
     * key: OpenSSL 3.0 hands a key to the provider its property query
     * prefers by exporting it, and with a public-only copy the default
     * provider's signature fails ("missing private key") where a refusal
     * makes OpenSSL fall back to pkcs11be's own operation. Comparisons
     * (EVP_PKEY_eq) then run in the other direction; an application that
     * wants the public parts asks for them alone (EVP_PKEY_PUBLIC_KEY).
     * An exportable generated pair is the exception: the application asked
     * for a key it can write out, so it gets the private parts too.
     */
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
        && !key->host_private) {
        if (!key->exportable) {
            p11be_raise(key->tc->handle, P11BE_R_NOT_EXTRACTABLE,
                        "the private half of this %s key is on the token and "
                        "cannot be exported (keys generated without "
                        "pkcs11-key-label/-id can be, unless "
                        "pkcs11-keygen-exportable = no)",
                        key->kind->name);
            return 0;
        }
        from = p11be_key_private_host(key);
        if (from == NULL)
            return 0;
        with_private = 1;
    }
    if (EVP_PKEY_todata(from, keymgmt_evp_selection(selection, with_private),
                        &params)
        != 1)
        return 0;
    ok = param_cb(params, cbarg);
    /* OpenSSL 3.0 has no OSSL_PARAM_clear_free(): wipe, then free. */
    for (p = params; p->key != NULL; p++)
        OPENSSL_cleanse(p->data, p->data_size);
    OSSL_PARAM_free(params);
    return ok;
}

/* The default provider's answers: bits, security-bits, max-size, n, e .. */
int p11be_keymgmt_get_params(void *keydata, OSSL_PARAM params[])
{
    P11BE_KEY *key = keydata;

    if (key->host == NULL)
        return 1;
    return EVP_PKEY_get_params(key->host, params);
}

/*
 * Keys are immutable, so a full copy is the same key with one more
 * reference; a copy without the private half is a new, public-only key.
 */
void *p11be_keymgmt_dup(const void *keydata_from, int selection)
{
    P11BE_KEY *from = (P11BE_KEY *)keydata_from;
    int want_keypair = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
    OSSL_PARAM *params = NULL;
    int evp_selection, ok;
    P11BE_KEY *key;
    EVP_PKEY *host;

    if (from->host == NULL
        || (!from->params_only && want_keypair
            && ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
                || !p11be_key_has_private(from)))) {
        p11be_key_up_ref(from);
        return from;
    }
    /* A parameters-only copy may be completed later: never shared. */
    evp_selection = from->params_only ? EVP_PKEY_KEY_PARAMETERS
                                      : keymgmt_evp_selection(selection, 0);
    key = p11be_key_new(from->tc, from->kind);
    if (key == NULL)
        return NULL;
    if (EVP_PKEY_todata(from->host, evp_selection, &params) != 1)
        goto out_free_key;
    host = p11be_keymgmt_host_from(key, evp_selection, params);
    OSSL_PARAM_free(params);
    ok = host != NULL
         && (evp_selection == EVP_PKEY_KEY_PARAMETERS
                 ? p11be_key_set_params_host(key, host)
                 : p11be_key_set_host(key, host, 0));
    if (ok)
        return key;
    EVP_PKEY_free(host);
out_free_key:
    p11be_key_free(key);
    return NULL;
}

void *p11be_keymgmt_load(const void *reference, size_t reference_sz,
                         const struct p11be_key_kind *kind)
{
    P11BE_KEY *key;

    if (reference == NULL || reference_sz != sizeof(key))
        return NULL;
    memcpy(&key, reference, sizeof(key));
    if (key == NULL || key->kind != kind)
        return NULL;
    p11be_key_up_ref(key);
    return key;
}

int p11be_keygen_mode(P11BE_PROV_CTX *prov, const char *label, size_t id_len)
{
    static const char *const choices[] = {"auto", "yes", "no", NULL};
    static const int modes[] = {P11BE_KEYGEN_EXPORTABLE, P11BE_KEYGEN_HOST,
                                P11BE_KEYGEN_TOKEN};
    int choice;

    if (label != NULL || id_len > 0)
        return P11BE_KEYGEN_TOKEN;
    /* Keys mode: an unnamed key is a software key unless asked otherwise. */
    choice =
        p11be_config_choice(&prov->config, P11BE_SET_KEYGEN_EXPORTABLE,
                            prov->handle, prov->offload_keys ? 1 : 0, choices);
    return choice < 0 ? -1 : modes[choice];
}

int p11be_keygen_run(P11BE_KEY *key, struct p11be_keygen *gen, int mode,
                     int (*on_host)(P11BE_KEY *key, const void *arg),
                     const void *arg)
{
    int done;

    gen->exportable = mode == P11BE_KEYGEN_EXPORTABLE;
    done = p11be_key_generate(key, gen);
    if (done >= 0)
        return done;
    P11BE_DEBUG("%s key pair made in process memory instead", key->kind->name);
    return on_host(key, arg);
}

int p11be_keygen_token_params(const OSSL_PARAM params[], char **label,
                              unsigned char **id, size_t *id_len,
                              const OSSL_PARAM **bad)
{
    const OSSL_PARAM *p;

    p = OSSL_PARAM_locate_const(params, P11BE_KEYGEN_PARAM_LABEL);
    if (p != NULL) {
        OPENSSL_free(*label);
        *label = NULL;
        if (!OSSL_PARAM_get_utf8_string(p, label, 0)) {
            *bad = p;
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, P11BE_KEYGEN_PARAM_ID);
    if (p != NULL) {
        OPENSSL_free(*id);
        *id = NULL;
        *id_len = 0;
        if (!OSSL_PARAM_get_octet_string(p, (void **)id, 0, id_len)) {
            *bad = p;
            return 0;
        }
    }
    return 1;
}
