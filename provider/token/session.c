/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session pool. Sessions are opened on demand up to a bound (the
 * pkcs11-session-pool-max setting, lowered to the token's own limit), kept
 * on an idle stack so the hottest one is reused, and never closed for
 * housekeeping: a session that comes back with an error the pool does not
 * know how to clean is closed by the thread that returns it, outside the
 * lock, so other threads never wait for it.
 *
 * Fork: pthread_atfork holds every pool lock across fork(), so the child
 * gets consistent pools; the child forgets the parent's session handles
 * (never closing them: on a shared device that would close the parent's)
 * and initialises the module again before its first session.
 */
#include "session.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "err.h"
#include "p11call.h"
#include "token.h"

static pthread_mutex_t token_list_lock = PTHREAD_MUTEX_INITIALIZER;
static P11BE_TOKEN *token_list;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    P11BE_TOKEN *t;

    pthread_mutex_lock(&token_list_lock);
    for (t = token_list; t != NULL; t = t->next_token) {
        p11be_rwlock_atfork_prepare(&t->object_lock);
        pthread_mutex_lock(&t->lock);
    }
    p11be_logins_atfork_prepare();
}

static void unlock_tokens(int in_child)
{
    P11BE_TOKEN *t;

    for (t = token_list; t != NULL; t = t->next_token) {
        pthread_mutex_unlock(&t->lock);
        if (in_child)
            p11be_rwlock_atfork_child(&t->object_lock);
        else
            p11be_rwlock_atfork_parent(&t->object_lock);
    }
    pthread_mutex_unlock(&token_list_lock);
}

static void atfork_parent(void)
{
    p11be_logins_atfork_parent();
    unlock_tokens(0);
}

/* The child's fork generation was bumped by module.c's handler. */
static void atfork_child(void)
{
    p11be_logins_atfork_child();
    unlock_tokens(1);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Sessions streaming contexts may keep, unless pkcs11-session-held-max. */
#define DEFAULT_HELD_MAX 64

int p11be_pool_init(P11BE_TOKEN *token)
{
    unsigned long held_max;

    if (!p11be_config_ulong(token->config, P11BE_SET_HELD_MAX, token->handle,
                            DEFAULT_HELD_MAX, 1, 65536, &held_max))
        return 0;
    token->held_max = held_max;
    pthread_once(&atfork_once, atfork_register);
    if (pthread_mutex_init(&token->lock, NULL) != 0)
        return 0;
    pthread_cond_init(&token->session_freed, NULL);
    if (!p11be_rwlock_init(&token->object_lock)) {
        pthread_mutex_destroy(&token->lock);
        return 0;
    }
    pthread_mutex_lock(&token_list_lock);
    token->fork_generation = p11be_fork_generation();
    token->next_token = token_list;
    token_list = token;
    pthread_mutex_unlock(&token_list_lock);
    return 1;
}

/* Frees the idle sessions' records (not the sessions: they are gone). */
static void forget_idle_locked(P11BE_TOKEN *token)
{
    while (token->idle != NULL) {
        P11BE_SESSION *sess = token->idle;

        token->idle = sess->next_idle;
        token->open_count--;
        OPENSSL_free(sess);
    }
}

/*
 * The hot slot: the last session given back, lent again without the lock
 * on the next acquire (the common case of one thread doing operation after
 * operation). Whatever needs to see every idle session moves it onto the
 * idle stack first.
 */
static void drain_hot_locked(P11BE_TOKEN *token)
{
    P11BE_SESSION *sess =
        __atomic_exchange_n(&token->hot, NULL, __ATOMIC_ACQUIRE);

    if (sess != NULL) {
        sess->next_idle = token->idle;
        token->idle = sess;
    }
}

/* Every session and the login are gone (token removed, or forked). */
static void invalidate_locked(P11BE_TOKEN *token)
{
    drain_hot_locked(token);
    forget_idle_locked(token);
    __atomic_add_fetch(&token->generation, 1, __ATOMIC_RELEASE);
    p11be_token_login_lost(token, 0);
    pthread_cond_broadcast(&token->session_freed);
}

void p11be_pool_close_all(P11BE_TOKEN *token, int call_module)
{
    P11BE_TOKEN **link;

    pthread_mutex_lock(&token_list_lock);
    for (link = &token_list; *link != NULL; link = &(*link)->next_token)
        if (*link == token) {
            *link = token->next_token;
            break;
        }
    pthread_mutex_unlock(&token_list_lock);

    pthread_mutex_lock(&token->lock);
    drain_hot_locked(token);
    while (token->idle != NULL) {
        P11BE_SESSION *sess = token->idle;

        token->idle = sess->next_idle;
        if (call_module && token->fork_generation == p11be_fork_generation())
            P11BE_CALL(token->fns, C_CloseSession, sess->handle);
        OPENSSL_free(sess);
    }
    if (call_module && token->object_session_open
        && token->object_session.fork_generation == p11be_fork_generation())
        P11BE_CALL(token->fns, C_CloseSession, token->object_session.handle);
    pthread_mutex_unlock(&token->lock);
    pthread_mutex_destroy(&token->lock);
    p11be_rwlock_destroy(&token->object_lock);
    pthread_cond_destroy(&token->session_freed);
}

/* In a forked child: forget the parent's sessions, re-init the module. */
static int after_fork(P11BE_TOKEN *token)
{
    if (!p11be_module_reinit_in_child(token->module, token->handle))
        return 0;
    pthread_mutex_lock(&token->lock);
    if (token->fork_generation != p11be_fork_generation()) {
        invalidate_locked(token);
        /* Sessions lent in the parent never come back here. */
        token->open_count = 0;
        token->held_count = 0;
        token->fork_generation = p11be_fork_generation();
    }
    pthread_mutex_unlock(&token->lock);
    return 1;
}

static P11BE_SESSION *open_session(P11BE_TOKEN *token, unsigned generation,
                                   unsigned forks, CK_RV *rv)
{
    P11BE_SESSION *sess = OPENSSL_zalloc(sizeof(*sess));

    if (sess == NULL) {
        *rv = CKR_HOST_MEMORY;
        return NULL;
    }
    *rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                     token->session_flags, NULL, NULL, &sess->handle);
    if (*rv != CKR_OK) {
        OPENSSL_free(sess);
        return NULL;
    }
    sess->token = token;
    sess->fns = token->fns;
    sess->generation = generation;
    sess->fork_generation = forks;
    return sess;
}

/*
 * Waits at most 20 ms for a session to come back: 0 once `deadline` (on
 * CLOCK_MONOTONIC) has passed.
 */
static int wait_a_little(P11BE_TOKEN *token, const struct timespec *deadline)
{
    struct timespec now, until;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > deadline->tv_sec
        || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
        return 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    __atomic_add_fetch(&token->waiting, 1, __ATOMIC_RELAXED);
    pthread_cond_timedwait(&token->session_freed, &token->lock, &until);
    __atomic_sub_fetch(&token->waiting, 1, __ATOMIC_RELAXED);
    return 1;
}

/*
 * Whether a held session may be lent now: below pkcs11-session-held-max,
 * and leaving one of the token's own sessions for work that does not keep
 * its session, so that held sessions never stop everything else.
 */
static int held_room_locked(const P11BE_TOKEN *token)
{
    return token->held_count < token->held_max
           && (token->session_limit == 0
               || token->held_count + 1 < token->session_limit);
}

/* Whether one more session may be opened for this kind of work. */
static int open_room_locked(const P11BE_TOKEN *token, int held)
{
    if (token->session_limit != 0 && token->open_count >= token->session_limit)
        return 0;
    if (held)
        return held_room_locked(token);
    return token->open_count - token->held_count < token->max_sessions;
}

static void raise_no_room(P11BE_TOKEN *token, int held)
{
    char limit[64] = "";

    if (token->session_limit != 0)
        snprintf(limit, sizeof(limit), "; the token allows %zu sessions",
                 token->session_limit);
    if (held)
        p11be_raise(token->handle, P11BE_R_NO_SESSION,
                    "no session for a streaming context on the token \"%s\": "
                    "%zu sessions are kept by streaming contexts "
                    "(pkcs11-session-held-max = %zu%s) and none was given "
                    "back within %d s; finish or free some contexts, or "
                    "raise pkcs11-session-held-max",
                    token->label, token->held_count, token->held_max, limit,
                    P11BE_SESSION_WAIT_SECONDS);
    else
        p11be_raise(token->handle, P11BE_R_NO_SESSION,
                    "no session on the token \"%s\": all %zu are in use "
                    "(pkcs11-session-pool-max = %zu, %zu more kept by "
                    "streaming contexts%s) and none was given back within "
                    "%d s",
                    token->label, token->open_count - token->held_count,
                    token->max_sessions, token->held_count, limit,
                    P11BE_SESSION_WAIT_SECONDS);
}

/*
 * A sibling of `sess` was lost (a token reset that reports only
 * CKR_SESSION_HANDLE_INVALID, as network HSMs do): ask before lending it,
 * and notice a login that went with the reset.
 */
static int session_still_there(P11BE_TOKEN *token, P11BE_SESSION *sess)
{
    CK_SESSION_INFO info;
    CK_RV rv = P11BE_CALL(sess->fns, C_GetSessionInfo, sess->handle, &info);

    sess->verify = 0;
    if (p11be_ckr_session_lost(rv)) {
        P11BE_DEBUG("idle session %lu is gone too: %s",
                    (unsigned long)sess->handle, p11be_ckr_name(rv));
        return 0;
    }
    if (rv == CKR_OK
        && (info.state == CKS_RO_PUBLIC_SESSION
            || info.state == CKS_RW_PUBLIC_SESSION))
        p11be_token_login_lost(token, 0);
    return 1;
}

/* Lends `sess` (taken from the pool); counts it when it will be held. */
static P11BE_SESSION *lend_locked(P11BE_TOKEN *token, P11BE_SESSION *sess,
                                  int held)
{
    sess->held = held;
    if (held)
        token->held_count++;
    return sess;
}

/* Gives back the count of a held session (locked by the caller). */
static void unhold_locked(P11BE_TOKEN *token, P11BE_SESSION *sess)
{
    if (sess->held) {
        sess->held = 0;
        token->held_count--;
    }
}

/*
 * An idle session, a fresh one, or wait (at most
 * P11BE_SESSION_WAIT_SECONDS); NULL (raised) on failure. `held`: the
 * caller keeps the session across calls (session.h).
 */
static P11BE_SESSION *take_session(P11BE_TOKEN *token, int held)
{
    P11BE_SESSION *sess = NULL;
    unsigned generation, forks;
    struct timespec deadline;
    int waited = 0;
    CK_RV rv;

    if (!held) {
        sess = __atomic_exchange_n(&token->hot, NULL, __ATOMIC_ACQUIRE);
        if (sess != NULL && !sess->verify
            && sess->generation
                   == __atomic_load_n(&token->generation, __ATOMIC_ACQUIRE)
            && sess->fork_generation == p11be_fork_generation())
            return sess;
    }

    pthread_mutex_lock(&token->lock);
    if (sess != NULL) {
        sess->next_idle = token->idle;
        token->idle = sess;
    }
    for (;;) {
        drain_hot_locked(token);
        if (token->idle != NULL && (!held || held_room_locked(token))) {
            int usable;

            sess = token->idle;
            token->idle = sess->next_idle;
            /* Not one given back after its token went. */
            usable = sess->generation == token->generation;
            if (usable && sess->verify) {
                pthread_mutex_unlock(&token->lock);
                usable = session_still_there(token, sess);
                pthread_mutex_lock(&token->lock);
            }
            if (usable) {
                lend_locked(token, sess, held);
                pthread_mutex_unlock(&token->lock);
                return sess;
            }
            token->open_count--;
            OPENSSL_free(sess);
            continue;
        }
        if (open_room_locked(token, held))
            break;
        if (!waited) {
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += P11BE_SESSION_WAIT_SECONDS;
            waited = 1;
        }
        /*
         * Timed: a session given back to the hot slot just before we began
         * waiting signals nobody; the next look finds it.
         */
        if (!wait_a_little(token, &deadline)) {
            raise_no_room(token, held);
            pthread_mutex_unlock(&token->lock);
            return NULL;
        }
    }
    token->open_count++;
    generation = token->generation;
    forks = token->fork_generation;
    pthread_mutex_unlock(&token->lock);

    sess = open_session(token, generation, forks, &rv);
    pthread_mutex_lock(&token->lock);
    if (sess != NULL) {
        lend_locked(token, sess, held);
        pthread_mutex_unlock(&token->lock);
        return sess;
    }
    token->open_count--;
    if (rv == CKR_SESSION_COUNT && token->open_count > 0) {
        /* The token's real limit is lower than it said: wait at it. */
        token->session_limit = token->open_count;
        if (token->max_sessions > token->session_limit)
            token->max_sessions = token->session_limit;
        P11BE_DEBUG("C_OpenSession: CKR_SESSION_COUNT; token limit now %zu",
                    token->session_limit);
        pthread_mutex_unlock(&token->lock);
        return take_session(token, held);
    }
    if (p11be_ckr_token_gone(rv))
        invalidate_locked(token);
    pthread_mutex_unlock(&token->lock);
    p11be_raise(token->handle, P11BE_R_NO_SESSION,
                "C_OpenSession on slot %lu (token \"%s\"): %s",
                (unsigned long)token->slot_id, token->label,
                p11be_ckr_name(rv));
    return NULL;
}

P11BE_SESSION *p11be_session_acquire(P11BE_TOKEN_CTX *tc,
                                     const struct p11be_session_req *req)
{
    P11BE_TOKEN *token = p11be_token_ctx_token(tc);
    P11BE_SESSION *sess;
    int attempt;

    if (token == NULL)
        return NULL;
    if (req->mech != 0 && !p11be_token_has_mech(token, req->mech)) {
        p11be_raise(tc->handle, P11BE_R_MECH_NOT_SUPPORTED,
                    "mechanism 0x%lx is not supported by the token \"%s\"",
                    (unsigned long)req->mech, token->label);
        return NULL;
    }
    if (token->fork_generation != p11be_fork_generation() && !after_fork(token))
        return NULL;
    for (attempt = 0; attempt < 2; attempt++) {
        CK_RV rv;

        sess = take_session(token, req->held);
        if (sess == NULL)
            return NULL;
        if (!(req->need_login || token->login_policy == P11BE_LOGIN_AT_FIRST_USE
              || p11be_token_login_wanted(token))
            || p11be_token_login_state(token) == P11BE_LOGGED_IN
            || p11be_token_login_pin(token, sess->handle, NULL, 0, NULL, &rv))
            return sess;
        /* A session lost under the login: the next one may do. */
        p11be_session_release(sess, rv);
        if (!p11be_ckr_session_lost(rv))
            break;
    }
    return NULL;
}

/* Every idle session may have gone with a lost sibling: check on reuse. */
static void suspect_idle_locked(P11BE_TOKEN *token)
{
    P11BE_SESSION *sess;

    drain_hot_locked(token);
    for (sess = token->idle; sess != NULL; sess = sess->next_idle)
        sess->verify = 1;
}

/*
 * Locks the pool to give `sess` back: 0, freeing it and holding nothing,
 * for the parent's session in a forked child (already uncounted here).
 */
static int lock_for(P11BE_TOKEN *token, P11BE_SESSION *sess)
{
    pthread_mutex_lock(&token->lock);
    if (sess->fork_generation == token->fork_generation)
        return 1;
    pthread_mutex_unlock(&token->lock);
    OPENSSL_free(sess);
    return 0;
}

void p11be_session_release(P11BE_SESSION *sess, CK_RV last_rv)
{
    P11BE_TOKEN *token;
    P11BE_SESSION *none = NULL;
    int close_it = 0, was_held;

    if (sess == NULL)
        return;
    token = sess->token;
    /* The common case: a good session, nobody waiting, the hot slot free. */
    if (last_rv == CKR_OK && !sess->held
        && sess->fork_generation == p11be_fork_generation()
        && sess->generation
               == __atomic_load_n(&token->generation, __ATOMIC_ACQUIRE)
        && __atomic_load_n(&token->waiting, __ATOMIC_RELAXED) == 0
        && __atomic_compare_exchange_n(&token->hot, &none, sess, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return;
    if (!lock_for(token, sess))
        return;
    was_held = sess->held;
    unhold_locked(token, sess);
    if (p11be_ckr_token_gone(last_rv) && sess->generation == token->generation)
        invalidate_locked(token);
    if (last_rv == CKR_USER_NOT_LOGGED_IN)
        p11be_token_login_lost(token, 1);
    if (sess->generation != token->generation
        || p11be_ckr_session_lost(last_rv)) {
        /* Gone with its token, or lost on its own: forget it. */
        if (sess->generation == token->generation)
            suspect_idle_locked(token);
        token->open_count--;
        OPENSSL_free(sess);
    } else if (was_held
               && token->open_count - token->held_count > token->max_sessions) {
        /*
         * Pooled, it would count against pkcs11-session-pool-max, which
         * sessions opened for held work must not push past: so that the
         * two bounds add up, close it.
         */
        close_it = 1;
    } else if (p11be_ckr_session_clean(last_rv)) {
        sess->next_idle = token->idle;
        token->idle = sess;
    } else {
        close_it = 1;
    }
    if (token->waiting > 0 && !close_it)
        pthread_cond_signal(&token->session_freed);
    pthread_mutex_unlock(&token->lock);
    if (close_it)
        p11be_session_discard(sess);
}

void p11be_session_discard(P11BE_SESSION *sess)
{
    P11BE_TOKEN *token;

    if (sess == NULL)
        return;
    token = sess->token;
    if (!lock_for(token, sess))
        return;
    unhold_locked(token, sess);
    pthread_mutex_unlock(&token->lock);
    P11BE_CALL(sess->fns, C_CloseSession, sess->handle);
    pthread_mutex_lock(&token->lock);
    token->open_count--;
    if (token->waiting > 0)
        pthread_cond_signal(&token->session_freed);
    pthread_mutex_unlock(&token->lock);
    OPENSSL_free(sess);
}

int p11be_session_done(P11BE_SESSION *sess, CK_RV rv)
{
    P11BE_TOKEN *token = sess->token;

    if (p11be_ckr_class(rv) == P11BE_CKR_ACTIVE) {
        /* Left dirty by an earlier failure: never hand it on. */
        p11be_session_discard(sess);
        return 1;
    }
    p11be_session_release(sess, rv);
    if (p11be_ckr_class(rv) == P11BE_CKR_OBJECT)
        return p11be_objects_recheck(token);
    return p11be_ckr_retry(rv);
}

int p11be_session_usable_now(const P11BE_SESSION *sess)
{
    return sess->fork_generation == p11be_fork_generation()
           && p11be_module_usable_now(sess->token->module);
}

int p11be_pool_close_one_idle(P11BE_TOKEN *token)
{
    P11BE_SESSION *sess;

    pthread_mutex_lock(&token->lock);
    drain_hot_locked(token);
    sess = token->idle;
    if (sess != NULL)
        token->idle = sess->next_idle;
    pthread_mutex_unlock(&token->lock);
    if (sess == NULL)
        return 0;
    p11be_session_discard(sess);
    return 1;
}
