/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object session and its lock. A token that loses a session destroys
 * every object on it, and SoftHSM2 does so while another thread may be
 * inside C_Sign or C_Decrypt with one of them (it then reads freed key
 * material and crashes), and may hand the freed handle numbers to new
 * objects. So the object session has a reader-writer lock: every call on
 * it (create, generate, destroy, the login, the check after a loss) holds
 * it for writing, and every use of one of its objects, from the liveness
 * check to the last call naming the handle, holds it for reading
 * (p11be_object_use_begin). An object is then never destroyed with its
 * session under a call that uses it, and a handle is never used after its
 * session was replaced. Writers go first (a steady stream of operations
 * must not starve a key import), so a reader never takes it twice.
 */
#include "objects.h"

#include <stdio.h>

#include "debug.h"
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

/* Every object on the object session went with it (locked for writing). */
static void object_session_lost_locked(P11BE_TOKEN *token, CK_RV rv)
{
    token->object_session_open = 0;
    token->object_lost_rv = rv;
}

/* Whether `ref` names a live object (object_lock held either way). */
static int alive_locked(P11BE_TOKEN *token, const P11BE_OBJECT_REF *ref)
{
    return ref->handle != CK_INVALID_HANDLE
           && ref->forks == p11be_fork_generation()
           && token->object_session_open && ref->epoch == token->object_epoch
           && ref->generation == token_generation(token);
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

/*
 * What runs on the object session: C_CreateObject, C_GenerateKeyPair or
 * C_CopyObject.
 */
struct object_call {
    CK_OBJECT_HANDLE source; /* C_CopyObject of it; else CK_INVALID_HANDLE */
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
    if (c->source != CK_INVALID_HANDLE)
        return P11BE_CALL(token->fns, C_CopyObject, token->object_session,
                          c->source, c->tmpl, c->count, &c->ref->handle);
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
static int object_run(P11BE_TOKEN_CTX *tc, int need_login,
                      struct object_call *c, const char *what, CK_RV *last_rv)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);
    int attempt;
    CK_RV rv = CKR_OK;

    *last_rv = CKR_GENERAL_ERROR; /* until the call itself answers */
    c->ref->handle = CK_INVALID_HANDLE;
    if (c->priv != NULL)
        c->priv->handle = CK_INVALID_HANDLE;
    if (token == NULL)
        return 0;
    p11be_rwlock_write(&token->object_lock);
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        rv = object_session_locked(token);
        if (rv != CKR_OK) {
            p11be_rwlock_unlock(&token->object_lock);
            return 0; /* raised */
        }
        if (need_login && !p11be_token_login(token, token->object_session, &rv)
            && !p11be_ckr_session_lost(rv)) {
            p11be_rwlock_unlock(&token->object_lock);
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
        object_session_lost_locked(token, rv);
    }
    object_ref_set(token, c->ref, rv);
    if (c->priv != NULL)
        object_ref_set(token, c->priv, rv);
    p11be_rwlock_unlock(&token->object_lock);
    *last_rv = rv;
    if (rv != CKR_OK) {
        p11be_raise(tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "%s on the token \"%s\": %s", what, token->label,
                    p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

int p11be_object_create(P11BE_TOKEN_CTX *tc, CK_ATTRIBUTE *tmpl, CK_ULONG count,
                        int need_login, P11BE_OBJECT_REF *ref)
{
    struct object_call c = {
        CK_INVALID_HANDLE, NULL, tmpl, count, NULL, 0, ref, NULL};
    CK_RV rv;

    return object_run(tc, need_login, &c, "C_CreateObject", &rv);
}

int p11be_object_copy(P11BE_TOKEN_CTX *tc, CK_OBJECT_HANDLE source,
                      CK_ATTRIBUTE *tmpl, CK_ULONG count, int need_login,
                      P11BE_OBJECT_REF *ref, CK_RV *rv)
{
    struct object_call c = {source, NULL, tmpl, count, NULL, 0, ref, NULL};

    return object_run(tc, need_login, &c, "C_CopyObject", rv);
}

int p11be_object_generate_pair(P11BE_TOKEN_CTX *tc, CK_MECHANISM *mech,
                               CK_ATTRIBUTE *pub_tmpl, CK_ULONG pub_count,
                               CK_ATTRIBUTE *priv_tmpl, CK_ULONG priv_count,
                               int need_login, P11BE_OBJECT_REF *pub,
                               P11BE_OBJECT_REF *priv, CK_RV *rv)
{
    struct object_call c = {CK_INVALID_HANDLE, mech,       pub_tmpl, pub_count,
                            priv_tmpl,         priv_count, pub,      priv};
    CK_RV unused;

    return object_run(tc, need_login, &c, "C_GenerateKeyPair",
                      rv != NULL ? rv : &unused);
}

int p11be_object_alive(P11BE_TOKEN_CTX *tc, const P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = p11be_token_ctx_opened(tc);
    int alive;

    if (token == NULL || ref->handle == CK_INVALID_HANDLE)
        return 0;
    p11be_rwlock_read(&token->object_lock);
    alive = alive_locked(token, ref);
    p11be_rwlock_unlock(&token->object_lock);
    return alive;
}

int p11be_object_use_begin(P11BE_TOKEN_CTX *tc, const P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = p11be_token_ctx_opened(tc);

    if (token == NULL)
        return 0;
    p11be_rwlock_read(&token->object_lock);
    if (ref == NULL || alive_locked(token, ref))
        return 1;
    p11be_rwlock_unlock(&token->object_lock);
    P11BE_DEBUG("object %lu went with its object session: made again",
                (unsigned long)ref->handle);
    return 0;
}

void p11be_object_use_end(P11BE_TOKEN_CTX *tc)
{
    P11BE_TOKEN *token = p11be_token_ctx_opened(tc);

    p11be_rwlock_unlock(&token->object_lock);
}

const char *p11be_object_gone_why(P11BE_TOKEN_CTX *tc,
                                  const P11BE_OBJECT_REF *ref, char *buf,
                                  size_t len)
{
    P11BE_TOKEN *token = p11be_token_ctx_opened(tc);

    if (ref->forks != p11be_fork_generation())
        return "the process forked";
    if (token == NULL || ref->generation != token_generation(token))
        return "the token was removed";
    p11be_rwlock_read(&token->object_lock);
    snprintf(buf, len,
             "the object session that held it was lost (%s), which "
             "destroyed it",
             p11be_ckr_name(token->object_lost_rv));
    p11be_rwlock_unlock(&token->object_lock);
    return buf;
}

int p11be_objects_recheck(P11BE_TOKEN *token)
{
    CK_SESSION_INFO info;
    int gone = 0;

    p11be_rwlock_write(&token->object_lock);
    if (token->object_session_open
        && token->object_forks == p11be_fork_generation()) {
        CK_RV rv = P11BE_CALL(token->fns, C_GetSessionInfo,
                              token->object_session, &info);

        if (p11be_ckr_session_lost(rv)) {
            /* Every object on it died with it: re-create them on use. */
            object_session_lost_locked(token, rv);
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
    } else {
        /* Lost or replaced since the caller's object was made. */
        gone = 1;
    }
    p11be_rwlock_unlock(&token->object_lock);
    return gone;
}

void p11be_object_destroy(P11BE_TOKEN_CTX *tc, P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = p11be_token_ctx_opened(tc);

    if (ref->handle != CK_INVALID_HANDLE && token != NULL
        && ref->forks == p11be_fork_generation()
        && p11be_module_usable_now(token->module)) {
        p11be_rwlock_write(&token->object_lock);
        if (alive_locked(token, ref)) {
            CK_RV rv = P11BE_CALL(token->fns, C_DestroyObject,
                                  token->object_session, ref->handle);

            if (p11be_ckr_session_lost(rv))
                object_session_lost_locked(token, rv);
        }
        p11be_rwlock_unlock(&token->object_lock);
    }
    ref->handle = CK_INVALID_HANDLE;
}
