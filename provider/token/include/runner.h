/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operation runner: the one place that borrows a session, makes the
 * operation's object ready, runs the operation's step on them, decides
 * from the CK_RV (err.h's table) whether to try again on a new session,
 * to discard the session or to give it back, and raises the one error
 * naming `C_x (mechanism): CKR_...`. Operations write only their step:
 *
 *     static CK_RV digest_step(struct p11be_run *run, P11BE_SESSION *sess,
 *                              CK_OBJECT_HANDLE obj)
 *     {
 *         DIGEST_CTX *ctx = run->arg;
 *         CK_MECHANISM mech = {ctx->alg->mech, NULL, 0};
 *         CK_RV rv = P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
 *
 *         if (rv != CKR_OK)
 *             return rv;
 *         return P11BE_CALL(sess->fns, C_Digest, sess->handle, ...);
 *     }
 *
 *     struct p11be_run run = {
 *         .tc = &ctx->prov->tc,
 *         .req = {.mech = ctx->alg->mech},
 *         .fn = "C_DigestInit/C_Digest",
 *         .mech_name = ctx->alg->mech_name,
 *         .step = digest_step,
 *         .arg = ctx,
 *     };
 *     if (!p11be_run(&run))
 *         return 0; // raised: "C_DigestInit/C_Digest (CKM_SHA256): CKR_..."
 *
 * A stream keeps its session: `.req.held = 1, .keep = 1`, and on success
 * the session is in run.sess (give it back with p11be_session_release()
 * after the last call, or p11be_session_discard() if an operation still
 * runs on it). A step that names an object sets `.object` (see
 * p11be_object_make_fn below) and receives the object's handle, in use
 * (objects.h) for the whole step; a key pair's private object comes from
 * p11be_key_run() (keyobj.h), which fills these hooks. The calls that
 * make objects run with `.on_objects` on the object session, held for
 * writing (objects.c), instead of a pooled session.
 *
 * The step runs at most P11BE_SESSION_ATTEMPTS times (session.h), once
 * per session, so it must be repeatable: it starts from its C_*Init each
 * time and must not consume its input (on the first failure it may set
 * run->fn to name the call that failed, and run->at_init when that was
 * the C_*Init).
 */
#ifndef P11BE_RUNNER_H
#define P11BE_RUNNER_H

#include <p11-kit/pkcs11.h>

#include "objects.h"
#include "session.h"

struct p11be_run;

/* A buffer, for a step's argument. */
struct p11be_buf {
    unsigned char *data;
    size_t len;
};

/*
 * Makes the object the step names ready (created, or created again after
 * its object session went) and copies its reference into *ref; `sess` is
 * the session the step will run on. Returns P11BE_OBJECT_ON_SESSION for
 * an object on the object session (checked alive and held in use, made
 * again when it went: objects.h), P11BE_OBJECT_ON_TOKEN for a token
 * object (used as is), or 0 when it cannot be made (raised).
 */
enum p11be_object_kind { P11BE_OBJECT_ON_SESSION = 1, P11BE_OBJECT_ON_TOKEN };
typedef int p11be_object_make_fn(struct p11be_run *run, P11BE_SESSION *sess,
                                 P11BE_OBJECT_REF *ref);

struct p11be_run {
    /* ---- the request ---- */
    P11BE_TOKEN_CTX *tc;          /* whose token */
    struct p11be_session_req req; /* mechanism, login, held (session.h) */
    const char *what;             /* "AES-128-CBC": message prefix; or NULL */
    const char *fn;               /* "C_SignInit/C_Sign", for the message */
    const char *mech_name;        /* "CKM_SHA256"; NULL: not named */
    /* The operation: C_*Init and its call(s) on `sess`, naming `obj`. */
    CK_RV(*step)
    (struct p11be_run *run, P11BE_SESSION *sess, CK_OBJECT_HANDLE obj);
    void *arg;                    /* the step's own */
    p11be_object_make_fn *object; /* the object the step names; or NULL */
    void *object_arg;             /* the object maker's own */
    int object_use;               /* what for, if the maker asks */
    /*
     * After a failed step that named `obj` (NULL: nothing to do): 1 when
     * the owner forgot the object and a new try may find it (a persistent
     * key whose handle the token dropped).
     */
    int (*object_failed)(struct p11be_run *run, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE obj, CK_RV rv);
    int keep;       /* on success the session stays in run->sess */
    int on_objects; /* on the object session (objects.h), not the pool's */
    int refusable;  /* a C_*Init refusal (err.h): no error, run->refused */
    int quiet;      /* raise nothing on the step's failure: read run->rv */
    /* ---- set by the step ---- */
    int at_init; /* the failure was the C_*Init */
    /* ---- the result ---- */
    P11BE_SESSION *sess; /* with keep, the session the step succeeded on */
    CK_RV rv;            /* the step's last result (CKR_GENERAL_ERROR when
                            it never ran) */
    int refused;         /* see refusable */
};

/*
 * Runs the request: 1 when the step succeeded, else 0, raised (unless
 * quiet, or refused), with run->rv the token's code.
 */
int p11be_run(struct p11be_run *run);

#endif
