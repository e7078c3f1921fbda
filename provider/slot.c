/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the token: slot choice, token facts, mechanisms, and the login. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "err.h"
#include "p11call.h"

#define DEFAULT_POOL_MAX 32

/* PKCS#11 pads labels with blanks to 32 bytes; make a C string of one. */
static void label_to_string(const CK_UTF8CHAR *padded, char out[33])
{
    size_t len = 32;

    memcpy(out, padded, 32);
    while (len > 0 && out[len - 1] == ' ')
        len--;
    out[len] = '\0';
}

static int mech_compare(const void *a, const void *b)
{
    CK_MECHANISM_TYPE x = *(const CK_MECHANISM_TYPE *)a;
    CK_MECHANISM_TYPE y = *(const CK_MECHANISM_TYPE *)b;

    return x < y ? -1 : x > y;
}

static int read_mechanisms(P11BE_TOKEN *token)
{
    CK_ULONG count = 0;
    CK_RV rv;

    rv = P11BE_CALL(token->fns, C_GetMechanismList, token->slot_id, NULL,
                    &count);
    if (rv == CKR_OK && count > 0) {
        token->mechs = OPENSSL_malloc(count * sizeof(*token->mechs));
        if (token->mechs == NULL)
            return 0;
        rv = P11BE_CALL(token->fns, C_GetMechanismList, token->slot_id,
                        token->mechs, &count);
    }
    if (rv != CKR_OK) {
        p11be_raise(token->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_GetMechanismList on slot %lu: %s",
                    (unsigned long)token->slot_id, p11be_ckr_name(rv));
        return 0;
    }
    qsort(token->mechs, count, sizeof(*token->mechs), mech_compare);
    token->mech_count = count;
    token->mech_infos =
        OPENSSL_zalloc((count + 1) * sizeof(*token->mech_infos));
    token->mech_info_known = OPENSSL_zalloc(count + 1);
    return token->mech_infos != NULL && token->mech_info_known != NULL;
}

int p11be_token_mech_info(P11BE_TOKEN *token, CK_MECHANISM_TYPE mech,
                          CK_MECHANISM_INFO *info, CK_RV *rv)
{
    const CK_MECHANISM_TYPE *found =
        bsearch(&mech, token->mechs, token->mech_count, sizeof(*token->mechs),
                mech_compare);
    size_t i;

    *rv = CKR_MECHANISM_INVALID;
    if (found == NULL)
        return 0;
    i = (size_t)(found - token->mechs);
    pthread_mutex_lock(&token->lock);
    if (token->mech_info_known[i]) {
        *info = token->mech_infos[i];
        pthread_mutex_unlock(&token->lock);
        *rv = CKR_OK;
        return 1;
    }
    pthread_mutex_unlock(&token->lock);
    /* Needs no session; a second reader racing us stores the same. */
    *rv =
        P11BE_CALL(token->fns, C_GetMechanismInfo, token->slot_id, mech, info);
    if (*rv != CKR_OK)
        return 0;
    pthread_mutex_lock(&token->lock);
    token->mech_infos[i] = *info;
    token->mech_info_known[i] = 1;
    pthread_mutex_unlock(&token->lock);
    return 1;
}

int p11be_token_has_mech(const P11BE_TOKEN *token, CK_MECHANISM_TYPE mech)
{
    return bsearch(&mech, token->mechs, token->mech_count,
                   sizeof(*token->mechs), mech_compare)
           != NULL;
}

/* Slots with a token present, in the module's order. */
static CK_SLOT_ID *list_slots(P11BE_TOKEN *token, CK_BBOOL present_only,
                              CK_ULONG *count)
{
    CK_SLOT_ID *slots = NULL;
    CK_RV rv;

    rv = P11BE_CALL(token->fns, C_GetSlotList, present_only, NULL, count);
    if (rv == CKR_OK && *count > 0) {
        slots = OPENSSL_malloc(*count * sizeof(*slots));
        if (slots == NULL)
            return NULL;
        rv = P11BE_CALL(token->fns, C_GetSlotList, present_only, slots, count);
    }
    if (rv != CKR_OK) {
        p11be_raise(token->handle, P11BE_R_TOKEN_OP_FAILED, "C_GetSlotList: %s",
                    p11be_ckr_name(rv));
        OPENSSL_free(slots);
        return NULL;
    }
    if (slots == NULL)
        slots = OPENSSL_malloc(1); /* an empty, freeable list */
    return slots;
}

static int slot_in(const CK_SLOT_ID *slots, CK_ULONG count, CK_SLOT_ID id)
{
    CK_ULONG i;

    for (i = 0; i < count; i++)
        if (slots[i] == id)
            return 1;
    return 0;
}

/*
 * The slot: the configured id, or the token with the configured label, or
 * the first slot that has a token. Both set: they must agree.
 */
static int choose_slot(P11BE_TOKEN *token, CK_TOKEN_INFO *info)
{
    const P11BE_CONFIG *cfg = token->config;
    const char *want_label = p11be_config_get(cfg, P11BE_SET_TOKEN_LABEL);
    int have_id = p11be_config_get(cfg, P11BE_SET_SLOT_ID) != NULL;
    unsigned long want_id = 0;
    CK_SLOT_ID *slots;
    CK_ULONG count, i;
    int found = 0;
    CK_RV rv;

    if (!p11be_config_ulong(cfg, P11BE_SET_SLOT_ID, token->handle, 0, 0,
                            (unsigned long)-1, &want_id))
        return 0;
    slots = list_slots(token, CK_TRUE, &count);
    if (slots == NULL)
        return 0;
    if (have_id && !slot_in(slots, count, want_id)) {
        p11be_raise(token->handle, P11BE_R_TOKEN_NOT_FOUND,
                    "%s=%lu: no token in that slot (%lu slots have one)",
                    p11be_config_source(cfg, P11BE_SET_SLOT_ID), want_id,
                    (unsigned long)count);
        goto out_free;
    }
    for (i = 0; i < count && !found; i++) {
        char label[33];

        if (have_id && slots[i] != want_id)
            continue;
        rv = P11BE_CALL(token->fns, C_GetTokenInfo, slots[i], info);
        if (rv != CKR_OK) {
            P11BE_DEBUG("C_GetTokenInfo(slot %lu): %s", (unsigned long)slots[i],
                        p11be_ckr_name(rv));
            continue;
        }
        label_to_string(info->label, label);
        if (want_label != NULL && strcmp(label, want_label) != 0)
            continue;
        /* SoftHSM2 always shows a blank token in a spare slot: skip it. */
        if (!have_id && !(info->flags & CKF_TOKEN_INITIALIZED))
            continue;
        token->slot_id = slots[i];
        memcpy(token->label, label, sizeof(label));
        found = 1;
    }
    if (!found && want_label != NULL)
        p11be_raise(token->handle, P11BE_R_TOKEN_NOT_FOUND,
                    "pkcs11-token-label=\"%s\": no token has that label%s",
                    want_label, have_id ? " in the configured slot" : "");
    else if (!found)
        p11be_raise(token->handle, P11BE_R_TOKEN_NOT_FOUND,
                    "%s: no slot has a token",
                    p11be_config_source(cfg, P11BE_SET_MODULE_PATH));
out_free:
    OPENSSL_free(slots);
    return found;
}

/* Reads the tuning settings; each raises naming itself when wrong. */
static int read_settings(P11BE_TOKEN *token, unsigned long *pool_max,
                         int *finalize)
{
    static const char *const login_choices[] = {"on-demand", "at-first-use",
                                                NULL};
    const P11BE_CONFIG *cfg = token->config;
    unsigned long flags, user_type;
    int policy;

    if (!p11be_config_ulong(cfg, P11BE_SET_SESSION_FLAGS, token->handle,
                            CKF_SERIAL_SESSION | CKF_RW_SESSION, 0,
                            (unsigned long)-1, &flags)
        || !p11be_config_ulong(cfg, P11BE_SET_USER_TYPE, token->handle,
                               CKU_USER, 0, (unsigned long)-1, &user_type)
        || !p11be_config_ulong(cfg, P11BE_SET_POOL_MAX, token->handle,
                               DEFAULT_POOL_MAX, 1, 65536, pool_max))
        return 0;
    policy = p11be_config_choice(cfg, P11BE_SET_LOGIN, token->handle,
                                 P11BE_LOGIN_ON_DEMAND, login_choices);
    if (policy < 0)
        return 0;
    *finalize =
        p11be_config_choice(cfg, P11BE_SET_FINALIZE, token->handle,
                            P11BE_FINALIZE_AUTO, p11be_finalize_choices);
    if (*finalize < 0)
        return 0;
    token->session_flags = flags | CKF_SERIAL_SESSION;
    token->user_type = user_type;
    token->login_policy = policy;
    return 1;
}

P11BE_TOKEN *p11be_token_open(const P11BE_CONFIG *config,
                              const OSSL_CORE_HANDLE *handle)
{
    const char *path = p11be_config_get(config, P11BE_SET_MODULE_PATH);
    P11BE_TOKEN *token;
    CK_TOKEN_INFO info;
    unsigned long pool_max;
    int finalize;

    if (path == NULL || *path == '\0') {
        p11be_raise(handle, P11BE_R_MODULE_PATH_NOT_SET,
                    "set pkcs11-module-path in the provider's config section "
                    "or CRYPTOGRAPHY_PKCS11_PATH in the environment");
        return NULL;
    }
    token = OPENSSL_zalloc(sizeof(*token));
    if (token == NULL)
        return NULL;
    token->handle = handle;
    token->config = config;
    if (!read_settings(token, &pool_max, &finalize))
        goto out_free;
    token->module = p11be_module_get(
        path, p11be_config_source(config, P11BE_SET_MODULE_PATH), handle);
    if (token->module == NULL)
        goto out_free;
    if (finalize == P11BE_FINALIZE_ALWAYS)
        p11be_module_finalize_at_exit(token->module);
    token->fns = p11be_module_functions(token->module);
    if (!choose_slot(token, &info) || !read_mechanisms(token))
        goto out_put_module;

    token->max_sessions = pool_max;
    /* CK_EFFECTIVELY_INFINITE is 0, CK_UNAVAILABLE_INFORMATION is ~0. */
    if (info.ulMaxSessionCount != 0
        && info.ulMaxSessionCount != CK_UNAVAILABLE_INFORMATION)
        token->session_limit = info.ulMaxSessionCount;
    if (token->session_limit != 0 && token->session_limit < pool_max)
        token->max_sessions = token->session_limit;
    if (!p11be_pool_init(token))
        goto out_put_module;
    P11BE_DEBUG("slot %lu, token \"%s\", %lu mechanisms, up to %zu sessions",
                (unsigned long)token->slot_id, token->label,
                (unsigned long)token->mech_count, token->max_sessions);
    return token;

out_put_module:
    OPENSSL_free(token->mechs);
    OPENSSL_free(token->mech_infos);
    OPENSSL_free(token->mech_info_known);
    p11be_module_put(token->module, P11BE_FINALIZE_AUTO);
out_free:
    OPENSSL_free(token);
    return NULL;
}

void p11be_token_free(P11BE_TOKEN *token, enum p11be_finalize_mode mode)
{
    if (token == NULL)
        return;
    p11be_pool_close_all(token, p11be_module_usable_now(token->module));
    p11be_module_put(token->module, mode);
    OPENSSL_free(token->mechs);
    OPENSSL_free(token->mech_infos);
    OPENSSL_free(token->mech_info_known);
    OPENSSL_free(token);
}

/*
 * Refuses before the token would lock: never spend its last PIN try.
 * Returns 2 when the session is already logged in, and 3 (with *lost_rv)
 * when the session turned out to be gone.
 */
static int login_allowed(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                         const char *source, CK_RV *lost_rv)
{
    CK_SESSION_INFO sinfo;
    CK_TOKEN_INFO info;
    CK_FLAGS locked =
        token->user_type == CKU_SO ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED;
    CK_FLAGS final_try = token->user_type == CKU_SO ? CKF_SO_PIN_FINAL_TRY
                                                    : CKF_USER_PIN_FINAL_TRY;
    CK_RV rv;

    rv = P11BE_CALL(token->fns, C_GetSessionInfo, session, &sinfo);
    if (p11be_ckr_session_lost(rv)) {
        *lost_rv = rv;
        return 3;
    }
    if (rv == CKR_OK
        && (sinfo.state == CKS_RO_USER_FUNCTIONS
            || sinfo.state == CKS_RW_USER_FUNCTIONS
            || sinfo.state == CKS_RW_SO_FUNCTIONS))
        return 2; /* someone (the application itself) already logged in */
    rv = P11BE_CALL(token->fns, C_GetTokenInfo, token->slot_id, &info);
    if (rv != CKR_OK)
        return 1; /* C_Login will say what is wrong */
    if (info.flags & locked)
        snprintf(token->login_error, sizeof(token->login_error),
                 "the token \"%s\" reports its PIN locked", token->label);
    else if (info.flags & final_try)
        snprintf(token->login_error, sizeof(token->login_error),
                 "the token \"%s\" says the next wrong PIN locks it: not "
                 "trying %s",
                 token->label, source);
    else
        return 1;
    return 0;
}

/* The token's verdict on the PIN or the user: final for this process. */
static int login_verdict(CK_RV rv)
{
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID
           || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED
           || rv == CKR_PIN_LOCKED || rv == CKR_USER_PIN_NOT_INITIALIZED
           || rv == CKR_USER_TYPE_INVALID;
}

enum p11be_login_state p11be_token_login_state(P11BE_TOKEN *token)
{
    return __atomic_load_n(&token->login, __ATOMIC_ACQUIRE);
}

int p11be_token_login(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                      CK_RV *last_rv)
{
    return p11be_token_login_pin(token, session, NULL, 0, NULL, last_rv);
}

int p11be_token_login_pin(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                          const char *given_pin, size_t given_len,
                          const char *source, CK_RV *last_rv)
{
    char *pin = NULL;
    size_t pin_len = 0;
    int have_pin, allowed, ok = 0;
    CK_RV rv = CKR_OK;

    if (source == NULL)
        source = p11be_config_source(token->config, P11BE_SET_PIN);
    pthread_mutex_lock(&token->login_lock);
    if (token->login == P11BE_LOGGED_IN) {
        ok = 1;
        goto out_unlock;
    }
    if (token->login == P11BE_LOGIN_REFUSED)
        goto out_raise;
    allowed = login_allowed(token, session, source, &rv);
    if (allowed == 3) {
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED,
                    "C_GetSessionInfo before C_Login: %s", p11be_ckr_name(rv));
        goto out_unlock;
    }
    if (allowed == 2) {
        token->login = P11BE_LOGGED_IN;
        ok = 1;
        goto out_unlock;
    }
    if (!allowed) {
        token->login = P11BE_LOGIN_REFUSED;
        goto out_raise;
    }
    /* The caller's PIN is used as it is (and wiped by the caller). */
    have_pin = given_pin != NULL
                   ? 1
                   : p11be_config_read_pin(token->config, token->handle, &pin,
                                           &pin_len);
    if (have_pin == 0)
        goto out_unlock;
    if (have_pin < 0) {
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED,
                    "the token \"%s\" needs a login: set pkcs11-pin or "
                    "CRYPTOGRAPHY_PKCS11_PASSWORD",
                    token->label);
        goto out_unlock;
    }
    if (given_pin != NULL)
        rv = P11BE_CALL(token->fns, C_Login, session, token->user_type,
                        (CK_UTF8CHAR *)given_pin, (CK_ULONG)given_len);
    else
        rv = P11BE_CALL(token->fns, C_Login, session, token->user_type,
                        (CK_UTF8CHAR *)pin, (CK_ULONG)pin_len);
    OPENSSL_clear_free(pin, pin_len);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        __atomic_store_n(&token->login, P11BE_LOGGED_IN, __ATOMIC_RELEASE);
        P11BE_DEBUG("logged in to \"%s\" (PIN from %s)", token->label, source);
        ok = 1;
        goto out_unlock;
    }
    if (!login_verdict(rv)) {
        /* Not about the PIN (a lost session, a device error): may retry. */
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED, "C_Login: %s",
                    p11be_ckr_name(rv));
        goto out_unlock;
    }
    /* A wrong PIN is tried once: retry storms lock real tokens. */
    token->login = P11BE_LOGIN_REFUSED;
    snprintf(token->login_error, sizeof(token->login_error),
             "C_Login failed: %s (PIN from %s); not retried in this process",
             p11be_ckr_name(rv), source);
out_raise:
    p11be_raise(token->handle, P11BE_R_LOGIN_FAILED, "%s", token->login_error);
out_unlock:
    pthread_mutex_unlock(&token->login_lock);
    *last_rv = ok ? CKR_OK : rv;
    return ok;
}
