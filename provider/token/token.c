/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the token: slot choice, token facts, mechanisms, and the login. */
#include "token.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "err.h"
#include "p11call.h"

#define DEFAULT_POOL_MAX 64

static int login_attach(P11BE_TOKEN *token, const CK_TOKEN_INFO *info);
static void login_detach(P11BE_LOGIN *login);

/* PKCS#11 pads text fields with blanks; make a C string of one. */
static void unpad(const CK_UTF8CHAR *padded, size_t len, char *out)
{
    memcpy(out, padded, len);
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
        /*
         * One spare element, zeroed: Debian 12's p11-kit RPC client
         * (0.24.1) drops the mechanisms it cannot carry by moving the rest
         * of the list down, reading one element past the count it
         * announced (fixed upstream in p11-kit pull request 456).
         */
        token->mechs = OPENSSL_zalloc((count + 1) * sizeof(*token->mechs));
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
    return token->mech_infos != NULL;
}

/* Where `mech` is in the token's sorted list, or -1. */
static long mech_index(const P11BE_TOKEN *token, CK_MECHANISM_TYPE mech)
{
    const CK_MECHANISM_TYPE *found =
        bsearch(&mech, token->mechs, token->mech_count, sizeof(*token->mechs),
                mech_compare);

    return found != NULL ? found - token->mechs : -1;
}

int p11be_token_has_mech(const P11BE_TOKEN *token, CK_MECHANISM_TYPE mech)
{
    return mech_index(token, mech) >= 0;
}

/* C_GetMechanismInfo, read once per token; 0 with *rv when it fails. */
static int token_mech_info(P11BE_TOKEN *token, CK_MECHANISM_TYPE mech,
                           CK_MECHANISM_INFO *info, CK_RV *rv)
{
    long i = mech_index(token, mech);
    int known;

    *rv = CKR_MECHANISM_INVALID;
    if (i < 0)
        return 0;
    pthread_mutex_lock(&token->lock);
    known = token->mech_infos[i].known;
    *info = token->mech_infos[i].info;
    pthread_mutex_unlock(&token->lock);
    /* Needs no session; a second reader racing us stores the same. */
    *rv = known ? CKR_OK
                : P11BE_CALL(token->fns, C_GetMechanismInfo, token->slot_id,
                             mech, info);
    if (*rv != CKR_OK)
        return 0;
    pthread_mutex_lock(&token->lock);
    token->mech_infos[i].info = *info;
    token->mech_infos[i].known = 1;
    pthread_mutex_unlock(&token->lock);
    return 1;
}

/* "<name> is not supported by the token ..." (mechs.h). */
static void raise_unsupported(P11BE_TOKEN *token, const char *mech_name,
                              const char *why)
{
    p11be_raise(token->handle, P11BE_R_MECH_NOT_SUPPORTED,
                "%s is not supported by the token \"%s\" in slot %lu%s",
                mech_name, token->label, (unsigned long)token->slot_id, why);
}

int p11be_check_mech(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                     const char *mech_name)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);

    if (token == NULL)
        return 0;
    if (!p11be_token_has_mech(token, mech)) {
        raise_unsupported(token, mech_name, "");
        return 0;
    }
    return 1;
}

int p11be_has_mech(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);

    return token != NULL && p11be_token_has_mech(token, mech);
}

/* 1 present, 0 absent (raised when `needed`), -1 raised. */
static int mech_find(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                     const char *mech_name, CK_MECHANISM_INFO *info, int needed)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);
    char why[80];
    CK_RV rv;

    if (token == NULL)
        return -1;
    if (token_mech_info(token, mech, info, &rv))
        return 1;
    if (needed) {
        snprintf(why, sizeof(why), " (C_GetMechanismInfo: %s)",
                 p11be_ckr_name(rv));
        raise_unsupported(token, mech_name, why);
        return 0;
    }
    if (rv == CKR_MECHANISM_INVALID)
        return 0;
    p11be_raise(token->handle, P11BE_R_TOKEN_OP_FAILED,
                "C_GetMechanismInfo (%s): %s", mech_name, p11be_ckr_name(rv));
    return -1;
}

int p11be_mech_info(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                    const char *mech_name, CK_MECHANISM_INFO *info)
{
    return mech_find(tc, mech, mech_name, info, 1) > 0;
}

int p11be_mech_lookup(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                      const char *mech_name, CK_MECHANISM_INFO *info)
{
    return mech_find(tc, mech, mech_name, info, 0);
}

static int shape_refused(P11BE_TOKEN *token,
                         const struct p11be_mech_shape *shape)
{
    size_t i, n = __atomic_load_n(&token->refused_count, __ATOMIC_ACQUIRE);

    for (i = 0; i < n; i++)
        if (token->refused[i].mech == shape->mech
            && token->refused[i].hash == shape->hash
            && token->refused[i].mgf == shape->mgf)
            return 1;
    return 0;
}

int p11be_key_shape_refused(P11BE_TOKEN_CTX *tc,
                            const struct p11be_mech_shape *shape)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);

    return token != NULL && shape_refused(token, shape);
}

void p11be_key_note_refused(P11BE_TOKEN_CTX *tc,
                            const struct p11be_mech_shape *shape)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);

    P11BE_DEBUG("the token refuses mechanism 0x%lx with hash 0x%lx and "
                "mgf 0x%lx: padding on the host from now on",
                (unsigned long)shape->mech, (unsigned long)shape->hash,
                (unsigned long)shape->mgf);
    if (token == NULL)
        return;
    pthread_mutex_lock(&token->lock);
    if (token->refused_count < P11BE_REFUSED_MAX
        && !shape_refused(token, shape)) {
        token->refused[token->refused_count] = *shape;
        __atomic_store_n(&token->refused_count, token->refused_count + 1,
                         __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&token->lock);
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
 * Software tokens (SoftHSM2) do not list a token whose files this user
 * cannot read: a worker that runs as another user than the one that made
 * the token (nginx's "user nobody;") finds no token, not a refusal.
 */
static const char *invisible_hint(char *out, size_t room)
{
    snprintf(out, room,
             "; this process runs as user ID %u: a token whose storage that "
             "user cannot read is not listed",
             (unsigned)getuid());
    return out;
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
    char hint[160];
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
                    "%s=%lu: no token in that slot (%lu slots have one)%s",
                    p11be_config_source(cfg, P11BE_SET_SLOT_ID), want_id,
                    (unsigned long)count, invisible_hint(hint, sizeof(hint)));
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
        unpad(info->label, sizeof(info->label), label);
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
                    "pkcs11-token-label=\"%s\": no token has that label%s%s",
                    want_label, have_id ? " in the configured slot" : "",
                    invisible_hint(hint, sizeof(hint)));
    else if (!found)
        p11be_raise(token->handle, P11BE_R_TOKEN_NOT_FOUND,
                    "%s: no slot has a token%s",
                    p11be_config_source(cfg, P11BE_SET_MODULE_PATH),
                    invisible_hint(hint, sizeof(hint)));
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

void p11be_token_ctx_init(P11BE_TOKEN_CTX *tc, const OSSL_CORE_HANDLE *handle,
                          const P11BE_CONFIG *config,
                          int (*opening)(P11BE_TOKEN_CTX *tc))
{
    tc->handle = handle;
    tc->config = config;
    tc->opening = opening;
    tc->token = NULL;
    pthread_mutex_init(&tc->lock, NULL);
}

void p11be_token_ctx_cleanup(P11BE_TOKEN_CTX *tc)
{
    int mode = p11be_config_choice(tc->config, P11BE_SET_FINALIZE, tc->handle,
                                   P11BE_FINALIZE_AUTO, p11be_finalize_choices);

    p11be_token_free(tc->token, mode < 0 ? P11BE_FINALIZE_AUTO
                                         : (enum p11be_finalize_mode)mode);
    tc->token = NULL;
    pthread_mutex_destroy(&tc->lock);
}

const char *p11be_token_label(const P11BE_TOKEN *token)
{
    return token->label;
}

CK_SLOT_ID p11be_token_slot_id(const P11BE_TOKEN *token)
{
    return token->slot_id;
}

CK_FUNCTION_LIST *p11be_token_fns(const P11BE_TOKEN *token)
{
    return token->fns;
}

P11BE_TOKEN *p11be_token_ctx_opened(P11BE_TOKEN_CTX *tc)
{
    return __atomic_load_n(&tc->token, __ATOMIC_ACQUIRE);
}

P11BE_TOKEN *p11be_token_ctx_token(P11BE_TOKEN_CTX *tc)
{
    P11BE_TOKEN *token;

    /*
     * P11BE_CALL would do it too, but perhaps under the pool's or the
     * object session's lock: here a module that forks in C_Initialize
     * (p11-kit's remote modules) finds none held by this thread.
     */
    p11be_call_ready();
    token = p11be_token_ctx_opened(tc);
    if (token != NULL)
        return token;
    pthread_mutex_lock(&tc->lock);
    token = tc->token;
    if (token == NULL && (tc->opening == NULL || tc->opening(tc))) {
        token = p11be_token_open(tc->config, tc->handle);
        __atomic_store_n(&tc->token, token, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&tc->lock);
    return token;
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
                    "or CRYPTOGRAPHY_PKCS11_PATH in the environment%s",
                    p11be_env_ignored() ? " (the environment is ignored: "
                                          "this process runs setuid or setgid)"
                                        : "");
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
        path, p11be_config_source(config, P11BE_SET_MODULE_PATH),
        p11be_config_get(config, P11BE_SET_MODULE_INIT_ARGS),
        p11be_config_source(config, P11BE_SET_MODULE_INIT_ARGS), handle);
    if (token->module == NULL)
        goto out_free;
    token->fns = p11be_module_functions(token->module);
    if (!choose_slot(token, &info))
        goto out_put_module;
    /*
     * "auto" finalises at exit too, so that a module whose sessions live
     * outside the process (a TPM without a resource manager runs out of
     * session slots after three processes; opencryptoki's shared memory,
     * a network HSM) gets them back; except on SoftHSM2, which keeps
     * nothing outside the process and whose C_Finalize has crashed at
     * exit (README, Exit), so that it stays as it was.
     */
    if (finalize == P11BE_FINALIZE_ALWAYS
        || (finalize == P11BE_FINALIZE_AUTO
            && memcmp(info.manufacturerID, "SoftHSM", 7) != 0))
        p11be_module_finalize_at_exit(token->module);
    if (!read_mechanisms(token) || !login_attach(token, &info))
        goto out_put_module;

    token->token_flags = info.flags;
    token->max_sessions = pool_max;
    /* CK_EFFECTIVELY_INFINITE is 0, CK_UNAVAILABLE_INFORMATION is ~0. */
    if (info.ulMaxSessionCount != 0
        && info.ulMaxSessionCount != CK_UNAVAILABLE_INFORMATION)
        token->session_limit = info.ulMaxSessionCount;
    if (token->session_limit != 0 && token->session_limit < pool_max)
        token->max_sessions = token->session_limit;
    if (!p11be_pool_init(token))
        goto out_detach;
    P11BE_DEBUG("slot %lu, token \"%s\", %lu mechanisms, up to %zu sessions",
                (unsigned long)token->slot_id, token->label,
                (unsigned long)token->mech_count, token->max_sessions);
    return token;

out_detach:
    login_detach(token->login);
out_put_module:
    OPENSSL_free(token->mechs);
    OPENSSL_free(token->mech_infos);
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
    login_detach(token->login);
    p11be_module_put(token->module, mode);
    OPENSSL_free(token->mechs);
    OPENSSL_free(token->mech_infos);
    OPENSSL_free(token);
}

/*
 * The login. A PKCS#11 login belongs to the application and the token,
 * not to a session or a provider instance: all of this process's sessions
 * on the token are logged in, or none is. So the state is kept once per
 * token in the process (module path, slot, serial number, label) and
 * shared by every provider instance (library context) that opens that
 * token; a PIN the token refused is never tried again by any of them. A
 * token re-initialised with a new PIN in the same process keeps its
 * refusal while it keeps its serial number and label.
 *
 * The state is written by login_set() only, under login->lock, the last
 * lock in the order (token->object_lock, then token->lock, then it):
 * nothing else is taken and the module is never called while it is held.
 * A login attempt runs without it, in the P11BE_LOGGING_IN state, which
 * makes other threads wait for its outcome.
 */
struct p11be_login_st {
    char *module_path;           /* the key: module, slot, serial, label */
    CK_SLOT_ID slot_id;          /* ... */
    char serial[17];             /* ... */
    char label[33];              /* ... */
    unsigned refs;               /* tokens using it; under logins_lock */
    struct p11be_login_st *next; /* all of them; under logins_lock */

    pthread_mutex_t lock;         /* guards what follows */
    pthread_cond_t settled;       /* a login attempt ended */
    enum p11be_login_state state; /* see the enum; set by login_set() */
    int wanted;                   /* the token answered USER_NOT_LOGGED_IN */
    char error[160];              /* why the login was refused */
};

static pthread_mutex_t logins_lock = PTHREAD_MUTEX_INITIALIZER;
static P11BE_LOGIN *logins;

/* The one writer of the state; login->lock held. */
static void login_set(P11BE_LOGIN *login, enum p11be_login_state state)
{
    __atomic_store_n(&login->state, state, __ATOMIC_RELEASE);
    if (state != P11BE_LOGGING_IN)
        pthread_cond_broadcast(&login->settled);
}

static int login_attach(P11BE_TOKEN *token, const CK_TOKEN_INFO *info)
{
    const char *path = p11be_module_path(token->module);
    P11BE_LOGIN *login;
    char serial[17];

    unpad(info->serialNumber, sizeof(info->serialNumber), serial);
    pthread_mutex_lock(&logins_lock);
    for (login = logins; login != NULL; login = login->next)
        if (login->slot_id == token->slot_id
            && strcmp(login->module_path, path) == 0
            && strcmp(login->serial, serial) == 0
            && strcmp(login->label, token->label) == 0)
            break;
    if (login == NULL && (login = OPENSSL_zalloc(sizeof(*login))) != NULL) {
        login->module_path = OPENSSL_strdup(path);
        if (login->module_path == NULL) {
            OPENSSL_free(login);
            login = NULL;
        } else {
            login->slot_id = token->slot_id;
            memcpy(login->serial, serial, sizeof(serial));
            memcpy(login->label, token->label, sizeof(login->label));
            pthread_mutex_init(&login->lock, NULL);
            pthread_cond_init(&login->settled, NULL);
            login->next = logins;
            logins = login;
        }
    }
    if (login != NULL)
        login->refs++;
    pthread_mutex_unlock(&logins_lock);
    token->login = login;
    return login != NULL;
}

/* A refusal stays for the process: its record is kept. */
static void login_detach(P11BE_LOGIN *login)
{
    P11BE_LOGIN **link;

    if (login == NULL)
        return;
    pthread_mutex_lock(&logins_lock);
    if (--login->refs > 0
        || __atomic_load_n(&login->state, __ATOMIC_ACQUIRE)
               == P11BE_LOGIN_REFUSED) {
        pthread_mutex_unlock(&logins_lock);
        return;
    }
    for (link = &logins; *link != login; link = &(*link)->next)
        ;
    *link = login->next;
    pthread_mutex_unlock(&logins_lock);
    pthread_mutex_destroy(&login->lock);
    pthread_cond_destroy(&login->settled);
    OPENSSL_free(login->module_path);
    OPENSSL_free(login);
}

void p11be_logins_atfork_prepare(void)
{
    P11BE_LOGIN *login;

    pthread_mutex_lock(&logins_lock);
    for (login = logins; login != NULL; login = login->next)
        pthread_mutex_lock(&login->lock);
}

void p11be_logins_atfork_parent(void)
{
    P11BE_LOGIN *login;

    for (login = logins; login != NULL; login = login->next)
        pthread_mutex_unlock(&login->lock);
    pthread_mutex_unlock(&logins_lock);
}

void p11be_logins_atfork_child(void)
{
    P11BE_LOGIN *login;

    for (login = logins; login != NULL; login = login->next) {
        /* The parent's waiters and login attempts are not in the child. */
        pthread_cond_init(&login->settled, NULL);
        if (login->state != P11BE_LOGIN_REFUSED)
            login_set(login, P11BE_LOGGED_OUT);
        pthread_mutex_unlock(&login->lock);
    }
    pthread_mutex_unlock(&logins_lock);
}

enum p11be_login_state p11be_token_login_state(P11BE_TOKEN *token)
{
    return __atomic_load_n(&token->login->state, __ATOMIC_ACQUIRE);
}

int p11be_token_login_wanted(P11BE_TOKEN *token)
{
    return __atomic_load_n(&token->login->wanted, __ATOMIC_ACQUIRE);
}

void p11be_token_login_lost(P11BE_TOKEN *token, int token_asked)
{
    P11BE_LOGIN *login = token->login;

    pthread_mutex_lock(&login->lock);
    if (token_asked)
        __atomic_store_n(&login->wanted, 1, __ATOMIC_RELEASE);
    if (login->state == P11BE_LOGGED_IN) {
        login_set(login, P11BE_LOGGED_OUT);
        P11BE_DEBUG("the login to \"%s\" is gone: logging in again when "
                    "needed",
                    token->label);
    }
    pthread_mutex_unlock(&login->lock);
}

/*
 * Refuses before the token would lock: never spend its last PIN try.
 * Returns 2 when the session is already logged in, and 3 (with *rv) when
 * the session turned out to be gone; 0 with `error` set when refused.
 * *flags: the token's flags, when it gave them.
 */
static int login_allowed(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                         const char *source, char *error, size_t room,
                         CK_FLAGS *flags, CK_RV *rv)
{
    CK_SESSION_INFO sinfo;
    CK_TOKEN_INFO info;
    CK_FLAGS locked =
        token->user_type == CKU_SO ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED;
    CK_FLAGS final_try = token->user_type == CKU_SO ? CKF_SO_PIN_FINAL_TRY
                                                    : CKF_USER_PIN_FINAL_TRY;

    *flags = 0;
    *rv = P11BE_CALL(token->fns, C_GetSessionInfo, session, &sinfo);
    if (p11be_ckr_session_lost(*rv))
        return 3;
    if (*rv == CKR_OK
        && (sinfo.state == CKS_RO_USER_FUNCTIONS
            || sinfo.state == CKS_RW_USER_FUNCTIONS
            || sinfo.state == CKS_RW_SO_FUNCTIONS))
        return 2; /* someone (the application itself) already logged in */
    *rv = CKR_OK;
    if (P11BE_CALL(token->fns, C_GetTokenInfo, token->slot_id, &info) != CKR_OK)
        return 1; /* C_Login will say what is wrong */
    *flags = info.flags;
    if (info.flags & locked)
        snprintf(error, room, "the token \"%s\" reports its PIN locked",
                 token->label);
    else if (info.flags & final_try)
        snprintf(error, room,
                 "the token \"%s\" says the next wrong PIN locks it: not "
                 "trying %s",
                 token->label, source);
    else
        return 1;
    return 0;
}

/*
 * One login attempt, with no lock held: P11BE_LOGGED_IN, P11BE_LOGGED_OUT
 * (raised; a later attempt may do better) or P11BE_LOGIN_REFUSED (the
 * reason in `error`, not raised).
 */
static enum p11be_login_state
login_attempt(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
              const char *given_pin, size_t given_len, const char *source,
              char *error, size_t room, CK_RV *rv)
{
    char *pin = NULL, origin[PATH_MAX + 64];
    size_t pin_len = 0;
    CK_FLAGS flags;
    int have_pin;

    switch (login_allowed(token, session, source, error, room, &flags, rv)) {
    case 3:
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED,
                    "C_GetSessionInfo before C_Login: %s", p11be_ckr_name(*rv));
        return P11BE_LOGGED_OUT;
    case 2:
        return P11BE_LOGGED_IN;
    case 0:
        return P11BE_LOGIN_REFUSED;
    }
    /* The caller's PIN is used as it is (and wiped by the caller). */
    have_pin = given_pin != NULL
                   ? 1
                   : p11be_config_read_pin(token->config, token->handle, &pin,
                                           &pin_len);
    if (have_pin == 0)
        return P11BE_LOGGED_OUT; /* raised */
    if (have_pin < 0) {
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED,
                    "the token \"%s\" needs a login: set pkcs11-pin or "
                    "CRYPTOGRAPHY_PKCS11_PASSWORD",
                    token->label);
        return P11BE_LOGGED_OUT;
    }
    if (given_pin != NULL) {
        pin = (char *)given_pin;
        pin_len = given_len;
    }
    /* An empty PIN only spends a try, unless the token has a PIN pad. */
    if (pin_len == 0 && !(flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        if (given_pin == NULL) {
            p11be_config_pin_origin(token->config, origin, sizeof(origin));
            source = origin;
        }
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED,
                    "the PIN from %s is empty: not sent to the token \"%s\"",
                    source, token->label);
        if (given_pin == NULL)
            OPENSSL_clear_free(pin, pin_len);
        return P11BE_LOGGED_OUT;
    }
    *rv =
        P11BE_CALL(token->fns, C_Login, session, token->user_type,
                   pin_len > 0 ? (CK_UTF8CHAR *)pin : NULL, (CK_ULONG)pin_len);
    if (given_pin == NULL)
        OPENSSL_clear_free(pin, pin_len);
    if (*rv == CKR_OK || *rv == CKR_USER_ALREADY_LOGGED_IN) {
        P11BE_DEBUG("logged in to \"%s\" (PIN from %s)", token->label,
                    pin_len > 0 ? source : "the token's PIN pad");
        return P11BE_LOGGED_IN;
    }
    if (p11be_ckr_class(*rv) != P11BE_CKR_PIN) {
        /* Not about the PIN (a lost session, a device error): may retry. */
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED, "C_Login: %s",
                    p11be_ckr_name(*rv));
        return P11BE_LOGGED_OUT;
    }
    /* A wrong PIN is tried once: retry storms lock real tokens. */
    snprintf(error, room,
             "C_Login failed: %s (PIN from %s); not retried in this process",
             p11be_ckr_name(*rv), source);
    return P11BE_LOGIN_REFUSED;
}

int p11be_token_login_pin(P11BE_TOKEN *token, CK_SESSION_HANDLE session,
                          const char *given_pin, size_t given_len,
                          const char *source, CK_RV *last_rv)
{
    P11BE_LOGIN *login = token->login;
    char error[sizeof(login->error)];
    enum p11be_login_state outcome;
    CK_RV rv = CKR_OK;

    if (source == NULL)
        source = p11be_config_source(token->config, P11BE_SET_PIN);
    pthread_mutex_lock(&login->lock);
    while (login->state == P11BE_LOGGING_IN)
        pthread_cond_wait(&login->settled, &login->lock);
    outcome = login->state;
    if (outcome == P11BE_LOGGED_OUT)
        login_set(login, P11BE_LOGGING_IN);
    else
        memcpy(error, login->error, sizeof(error));
    pthread_mutex_unlock(&login->lock);

    if (outcome == P11BE_LOGGED_OUT) {
        outcome = login_attempt(token, session, given_pin, given_len, source,
                                error, sizeof(error), &rv);
        pthread_mutex_lock(&login->lock);
        if (outcome == P11BE_LOGIN_REFUSED)
            memcpy(login->error, error, sizeof(error));
        login_set(login, outcome);
        pthread_mutex_unlock(&login->lock);
    }
    if (outcome == P11BE_LOGIN_REFUSED)
        p11be_raise(token->handle, P11BE_R_LOGIN_FAILED, "%s", error);
    *last_rv = outcome == P11BE_LOGGED_IN ? CKR_OK : rv;
    return outcome == P11BE_LOGGED_IN;
}
