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
#include "runner.h"
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
    P11BE_SESSION *sess = &token->object_session;
    unsigned generation = token_generation(token);
    unsigned forks = p11be_fork_generation();
    CK_RV rv;

    if (token->object_session_open && sess->generation == generation
        && sess->fork_generation == forks)
        return CKR_OK;
    token->object_session_open = 0;
    rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                    token->session_flags, NULL, NULL, &sess->handle);
    /* At the token's limit: an idle pooled session makes room. */
    while (rv == CKR_SESSION_COUNT && p11be_pool_close_one_idle(token))
        rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                        token->session_flags, NULL, NULL, &sess->handle);
    if (rv != CKR_OK) {
        p11be_raise(token->handle, P11BE_R_NO_SESSION,
                    "C_OpenSession for the object session (token \"%s\"): %s",
                    token->label, p11be_ckr_name(rv));
        return rv;
    }
    sess->token = token;
    sess->fns = token->fns;
    sess->generation = generation;
    sess->fork_generation = forks;
    token->object_session_open = 1;
    token->object_epoch++;
    return CKR_OK;
}

P11BE_SESSION *p11be_object_session_take(P11BE_TOKEN_CTX *tc, int need_login)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);
    int attempt;
    CK_RV rv;

    if (token == NULL)
        return NULL;
    p11be_rwlock_write(&token->object_lock);
    /* As a pooled session's acquire: one lost under the login, once more. */
    for (attempt = 0; attempt < 2; attempt++) {
        if (object_session_locked(token) != CKR_OK)
            break; /* raised */
        if (!need_login
            || p11be_token_login_pin(token, token->object_session.handle, NULL,
                                     0, NULL, &rv))
            return &token->object_session;
        if (!p11be_ckr_session_lost(rv))
            break;
        object_session_lost_locked(token, rv);
    }
    p11be_rwlock_unlock(&token->object_lock);
    return NULL;
}

int p11be_object_session_done(P11BE_SESSION *sess, CK_RV rv, int need_login)
{
    P11BE_TOKEN *token = sess->token;
    int retry = rv == CKR_USER_NOT_LOGGED_IN && need_login;

    if (rv == CKR_USER_NOT_LOGGED_IN || p11be_ckr_token_gone(rv))
        p11be_token_login_lost(token, rv == CKR_USER_NOT_LOGGED_IN);
    if (p11be_ckr_session_lost(rv)) {
        object_session_lost_locked(token, rv);
        retry = 1;
    }
    p11be_rwlock_unlock(&token->object_lock);
    return retry;
}

static void object_ref_set(P11BE_SESSION *sess, P11BE_OBJECT_REF *ref, CK_RV rv)
{
    if (rv != CKR_OK)
        ref->handle = CK_INVALID_HANDLE;
    ref->generation = sess->generation;
    ref->forks = sess->fork_generation;
    ref->epoch = sess->token->object_epoch;
}

/* The runner's step on the object session (run->arg: the call). */
static CK_RV object_step(struct p11be_run *run, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE unused)
{
    struct p11be_object_call *c = run->arg;
    CK_RV rv;

    (void)unused;
    if (c->source != CK_INVALID_HANDLE)
        rv = P11BE_CALL(sess->fns, C_CopyObject, sess->handle, c->source,
                        c->tmpl, c->count, &c->ref->handle);
    else if (c->mech == NULL)
        rv = P11BE_CALL(sess->fns, C_CreateObject, sess->handle, c->tmpl,
                        c->count, &c->ref->handle);
    else
        rv = P11BE_CALL(sess->fns, C_GenerateKeyPair, sess->handle, c->mech,
                        c->tmpl, c->count, c->priv_tmpl, c->priv_count,
                        &c->ref->handle, &c->priv->handle);
    object_ref_set(sess, c->ref, rv);
    if (c->priv != NULL)
        object_ref_set(sess, c->priv, rv);
    return rv;
}

int p11be_object_make(P11BE_TOKEN_CTX *tc, int need_login,
                      struct p11be_object_call *c, CK_RV *rv)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);
    const char *call = c->source != CK_INVALID_HANDLE ? "C_CopyObject"
                       : c->mech == NULL              ? "C_CreateObject"
                                                      : "C_GenerateKeyPair";
    char fn[96];
    struct p11be_run run = {
        .tc = tc,
        .req = {.need_login = need_login},
        .fn = fn,
        .step = object_step,
        .arg = c,
        .on_objects = 1,
    };
    int ok;

    c->ref->handle = CK_INVALID_HANDLE;
    if (c->priv != NULL)
        c->priv->handle = CK_INVALID_HANDLE;
    if (token != NULL)
        snprintf(fn, sizeof(fn), "%s on the token \"%s\"", call, token->label);
    ok = token != NULL && p11be_run(&run);
    if (rv != NULL)
        *rv = token != NULL ? run.rv : CKR_GENERAL_ERROR;
    return ok;
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
        && token->object_session.fork_generation == p11be_fork_generation()) {
        CK_RV rv = P11BE_CALL(token->fns, C_GetSessionInfo,
                              token->object_session.handle, &info);

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
                                  token->object_session.handle, ref->handle);

            if (p11be_ckr_session_lost(rv))
                object_session_lost_locked(token, rv);
        }
        p11be_rwlock_unlock(&token->object_lock);
    }
    ref->handle = CK_INVALID_HANDLE;
}
