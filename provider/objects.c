/* SPDX-License-Identifier: Apache-2.0 */
#include "objects.h"

#include "err.h"
#include "p11call.h"
#include "session.h"
#include "token.h"

static unsigned token_generation(P11BE_TOKEN *token)
{
    unsigned generation;

    pthread_mutex_lock(&token->lock);
    generation = token->generation;
    pthread_mutex_unlock(&token->lock);
    return generation;
}

/* The object session, (re)opened when missing or stale. Locked by caller. */
static CK_RV object_session_locked(P11BE_TOKEN *token)
{
    unsigned generation = token_generation(token);
    unsigned forks = p11be_fork_generation();
    CK_RV rv;

    if (token->object_session_open && token->object_generation == generation
        && token->object_forks == forks)
        return CKR_OK;
    token->object_session_open = 0;
    rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                    token->session_flags, NULL, NULL, &token->object_session);
    /* At the token's limit: an idle pooled session makes room. */
    while (rv == CKR_SESSION_COUNT && p11be_pool_close_one_idle(token))
        rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                        token->session_flags, NULL, NULL,
                        &token->object_session);
    if (rv != CKR_OK) {
        p11be_raise(token->handle, P11BE_R_NO_SESSION,
                    "C_OpenSession for the object session (token \"%s\"): %s",
                    token->label, p11be_ckr_name(rv));
        return rv;
    }
    token->object_session_open = 1;
    token->object_generation = generation;
    token->object_forks = forks;
    token->object_epoch++;
    return CKR_OK;
}

/* What runs on the object session: C_CreateObject or C_GenerateKeyPair. */
struct object_call {
    CK_MECHANISM *mech;      /* C_GenerateKeyPair; NULL: C_CreateObject */
    CK_ATTRIBUTE *tmpl;      /* the object's (the public key's) template */
    CK_ULONG count;          /* entries in tmpl */
    CK_ATTRIBUTE *priv_tmpl; /* C_GenerateKeyPair: the private key's */
    CK_ULONG priv_count;     /* entries in priv_tmpl */
    P11BE_OBJECT_REF *ref;   /* the object (the public key) */
    P11BE_OBJECT_REF *priv;  /* C_GenerateKeyPair: the private key */
};

static CK_RV object_call_once(P11BE_TOKEN *token, struct object_call *c)
{
    if (c->mech == NULL)
        return P11BE_CALL(token->fns, C_CreateObject, token->object_session,
                          c->tmpl, c->count, &c->ref->handle);
    return P11BE_CALL(token->fns, C_GenerateKeyPair, token->object_session,
                      c->mech, c->tmpl, c->count, c->priv_tmpl, c->priv_count,
                      &c->ref->handle, &c->priv->handle);
}

static void object_ref_set(P11BE_TOKEN *token, P11BE_OBJECT_REF *ref, CK_RV rv)
{
    if (rv != CKR_OK)
        ref->handle = CK_INVALID_HANDLE;
    ref->generation = token->object_generation;
    ref->forks = token->object_forks;
    ref->epoch = token->object_epoch;
}

/*
 * Runs the call on the object session (opened, and logged in when asked),
 * once more if that session was lost. Raises naming what failed; the last
 * code goes to *last_rv.
 */
static int object_run(P11BE_PROV_CTX *prov, int need_login,
                      struct object_call *c, const char *what, CK_RV *last_rv)
{
    P11BE_TOKEN *token = p11be_prov_token(prov);
    int attempt;
    CK_RV rv = CKR_OK;

    *last_rv = CKR_GENERAL_ERROR; /* until the call itself answers */
    c->ref->handle = CK_INVALID_HANDLE;
    if (c->priv != NULL)
        c->priv->handle = CK_INVALID_HANDLE;
    if (token == NULL)
        return 0;
    pthread_mutex_lock(&token->object_lock);
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        rv = object_session_locked(token);
        if (rv != CKR_OK) {
            pthread_mutex_unlock(&token->object_lock);
            return 0; /* raised */
        }
        if (need_login && !p11be_token_login(token, token->object_session, &rv)
            && !p11be_ckr_session_lost(rv)) {
            pthread_mutex_unlock(&token->object_lock);
            return 0;
        }
        if (rv == CKR_OK)
            rv = object_call_once(token, c);
        if (rv == CKR_USER_NOT_LOGGED_IN || p11be_ckr_token_gone(rv))
            p11be_token_login_lost(token, rv == CKR_USER_NOT_LOGGED_IN);
        /* The login went under the object session: log in again. */
        if (rv == CKR_USER_NOT_LOGGED_IN && need_login)
            continue;
        if (!p11be_ckr_session_lost(rv))
            break;
        token->object_session_open = 0;
    }
    object_ref_set(token, c->ref, rv);
    if (c->priv != NULL)
        object_ref_set(token, c->priv, rv);
    pthread_mutex_unlock(&token->object_lock);
    *last_rv = rv;
    if (rv != CKR_OK) {
        p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "%s on the token \"%s\": %s", what, token->label,
                    p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

int p11be_object_create(P11BE_PROV_CTX *prov, CK_ATTRIBUTE *tmpl,
                        CK_ULONG count, int need_login, P11BE_OBJECT_REF *ref)
{
    struct object_call c = {NULL, tmpl, count, NULL, 0, ref, NULL};
    CK_RV rv;

    return object_run(prov, need_login, &c, "C_CreateObject", &rv);
}

int p11be_object_generate_pair(P11BE_PROV_CTX *prov, CK_MECHANISM *mech,
                               CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
                               CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
                               int need_login, P11BE_OBJECT_REF *pub,
                               P11BE_OBJECT_REF *priv, CK_RV *rv)
{
    struct object_call c = {mech,       pub_tmpl, pub_count, priv_tmpl,
                            priv_count, pub,      priv};
    CK_RV unused;

    return object_run(prov, need_login, &c, "C_GenerateKeyPair",
                      rv != NULL ? rv : &unused);
}

int p11be_object_alive(P11BE_PROV_CTX *prov, const P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = __atomic_load_n(&prov->token, __ATOMIC_ACQUIRE);
    int alive;

    if (token == NULL || ref->handle == CK_INVALID_HANDLE
        || ref->forks != p11be_fork_generation())
        return 0;
    pthread_mutex_lock(&token->object_lock);
    alive = token->object_session_open && ref->epoch == token->object_epoch;
    pthread_mutex_unlock(&token->object_lock);
    return alive && ref->generation == token_generation(token);
}

int p11be_objects_recheck(P11BE_TOKEN *token)
{
    CK_SESSION_INFO info;
    int gone = 0;

    pthread_mutex_lock(&token->object_lock);
    if (token->object_session_open
        && token->object_forks == p11be_fork_generation()) {
        CK_RV rv = P11BE_CALL(token->fns, C_GetSessionInfo,
                              token->object_session, &info);

        if (p11be_ckr_session_lost(rv)) {
            /* Every object on it died with it: re-create them on use. */
            token->object_session_open = 0;
            gone = 1;
        } else if (rv == CKR_OK
                   && (info.state == CKS_RO_PUBLIC_SESSION
                       || info.state == CKS_RW_PUBLIC_SESSION)
                   && p11be_token_login_state(token) == P11BE_LOGGED_IN) {
            /*
             * The application logged out: C_Logout destroys the private
             * session objects. Re-create them on use, after a login.
             */
            p11be_token_login_lost(token, 0);
            token->object_epoch++;
            gone = 1;
        }
    }
    pthread_mutex_unlock(&token->object_lock);
    return gone;
}

void p11be_object_destroy(P11BE_PROV_CTX *prov, P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = __atomic_load_n(&prov->token, __ATOMIC_ACQUIRE);

    if (ref->handle != CK_INVALID_HANDLE && p11be_object_alive(prov, ref)
        && p11be_module_usable_now(token->module)) {
        pthread_mutex_lock(&token->object_lock);
        if (token->object_session_open && ref->epoch == token->object_epoch)
            P11BE_CALL(token->fns, C_DestroyObject, token->object_session,
                       ref->handle);
        pthread_mutex_unlock(&token->object_lock);
    }
    ref->handle = CK_INVALID_HANDLE;
}
