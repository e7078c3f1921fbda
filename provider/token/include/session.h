/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Borrowing sessions. Operations run their work through the runner
 * (runner.h), which borrows a session with a small request and gives it
 * back with the last CK_RV it saw; the pool decides from that code (err.h)
 * whether the session is reusable, lost (dropped, and with
 * CKR_DEVICE_REMOVED every session of the token and the login too) or
 * needs a login again. A stream keeps the session the runner handed it
 * and gives it back here. Operations never open, close or log in sessions.
 */
#ifndef P11BE_SESSION_H
#define P11BE_SESSION_H

#include <p11-kit/pkcs11.h>

#include "mechs.h"
#include "token_ctx.h"

typedef struct p11be_session_st P11BE_SESSION;

struct p11be_session_st {
    struct p11be_token_st *token; /* owner */
    CK_FUNCTION_LIST *fns;        /* the module's functions */
    CK_SESSION_HANDLE handle;     /* the PKCS#11 session */
    unsigned generation;          /* token generation it was opened in */
    unsigned fork_generation;     /* fork generation it was opened in */
    int verify; /* a sibling was lost: check it before lending it */
    int held;   /* lent to a context that keeps it across calls */
    struct p11be_session_st *next_idle; /* pool link while idle */
};

struct p11be_session_req {
    CK_MECHANISM_TYPE mech; /* checked against the token's list; 0: none */
    int need_login;         /* the operation uses private objects */
    /*
     * The context keeps the session across calls (a stream, a copy of
     * one): counted against pkcs11-session-held-max, not the pool's bound,
     * so held sessions never starve work that gives its session back
     * before returning.
     */
    int held;
};

/*
 * How long an acquire waits at a bound before it fails, naming the
 * setting: long enough for any one-shot operation to give its session
 * back, short enough that a thread waiting for sessions that it holds
 * itself (streaming contexts it has not finished) gets an error, not a
 * hang.
 */
#define P11BE_SESSION_WAIT_SECONDS 10

/*
 * Raises (naming the mechanism, setting or CKR_*) and returns NULL when the
 * token cannot be opened, lacks the mechanism, refuses the login or has no
 * session to give. Waits while the pool (or, for a held session, the held
 * bound) is full, at most P11BE_SESSION_WAIT_SECONDS.
 */
P11BE_SESSION *p11be_session_acquire(P11BE_TOKEN_CTX *tc,
                                     const struct p11be_session_req *req);

/*
 * Gives the session back; `last_rv` is the last result seen on it. A
 * session that failed in a way that may leave an operation running is
 * closed rather than pooled, so no failure leaks into its next user.
 */
void p11be_session_release(P11BE_SESSION *sess, CK_RV last_rv);

/* For a session left with an operation running: close it, don't pool it. */
void p11be_session_discard(P11BE_SESSION *sess);

/*
 * False during exit clean-up and in a forked child that holds its parent's
 * session: then a context being freed must not call into the module.
 */
int p11be_session_usable_now(const P11BE_SESSION *sess);

/*
 * How many times a one-shot operation runs at most: once, once more on a
 * new session after a lost one, and once more after a session that an
 * earlier failure left dirty (CKR_OPERATION_ACTIVE, discarded).
 */
#define P11BE_SESSION_ATTEMPTS 3

/*
 * Ends a step that did not leave an operation running: gives the session
 * back (or closes it, when the token says an operation is still active),
 * and returns 1 when the step failed in a way that a new session may fix.
 */
int p11be_session_done(P11BE_SESSION *sess, CK_RV rv);

#endif
