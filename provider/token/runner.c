/* SPDX-License-Identifier: Apache-2.0 */
/* The operation runner (runner.h). */
#include "runner.h"

#include "err.h"
#include "token.h"

/* Whose work it is, for messages: "AES-128-CBC", or the mechanism. */
static const char *run_name(const struct p11be_run *run)
{
    if (run->what != NULL)
        return run->what;
    return run->mech_name != NULL ? run->mech_name : "the operation";
}

/*
 * Makes the object ready and begins its use (objects.h), making it again
 * when it went in between, at most P11BE_OBJECT_REMAKES times: 1 with
 * *handle set, or 0 (raised).
 */
static int object_ready(struct p11be_run *run, P11BE_SESSION *sess,
                        CK_OBJECT_HANDLE *handle)
{
    P11BE_OBJECT_REF ref;
    int tries, kind;

    for (tries = 0; tries < P11BE_OBJECT_REMAKES; tries++) {
        kind = run->object(run, sess, &ref);
        if (kind == 0)
            return 0;
        if (p11be_object_use_begin(
                run->tc, kind == P11BE_OBJECT_ON_SESSION ? &ref : NULL)) {
            *handle = ref.handle;
            return 1;
        }
    }
    p11be_raise(run->tc->handle, P11BE_R_NO_KEY,
                "%s: the key's object on the token went with its object "
                "session %d times in a row",
                run_name(run), P11BE_OBJECT_REMAKES);
    return 0;
}

/* A session from the pool, or the object session (run->on_objects). */
static P11BE_SESSION *run_take(struct p11be_run *run)
{
    if (run->on_objects)
        return p11be_object_session_take(run->tc, run->req.need_login);
    return p11be_session_acquire(run->tc, &run->req);
}

/* Gives the session back after a try: 1 when a new try may succeed. */
static int run_give(struct p11be_run *run, P11BE_SESSION *sess, CK_RV rv)
{
    if (run->on_objects)
        return p11be_object_session_done(sess, rv, run->req.need_login);
    return p11be_session_done(sess, rv);
}

/*
 * One try on `sess`: the object, the step, the end of the object's use.
 * -1 when the object could not be made (raised), else whether the step
 * succeeded.
 */
static int run_once(struct p11be_run *run, P11BE_SESSION *sess,
                    CK_OBJECT_HANDLE *obj)
{
    *obj = CK_INVALID_HANDLE;
    if (run->object != NULL && !object_ready(run, sess, obj))
        return -1;
    run->at_init = 0;
    run->rv = run->step(run, sess, *obj);
    if (run->object != NULL)
        p11be_object_use_end(run->tc);
    return run->rv == CKR_OK;
}

int p11be_run(struct p11be_run *run)
{
    const char *fn = run->fn;
    int attempt, done;

    run->sess = NULL;
    run->refused = 0;
    run->rv = CKR_GENERAL_ERROR; /* until the step answers */
    for (attempt = 0; attempt < P11BE_SESSION_ATTEMPTS; attempt++) {
        P11BE_SESSION *sess = run_take(run);
        CK_OBJECT_HANDLE obj;
        int retry = 0;

        if (sess == NULL)
            return 0; /* raised */
        run->fn = fn;
        done = run_once(run, sess, &obj);
        if (done < 0) {
            run_give(run, sess, CKR_OK);
            return 0;
        }
        if (done && run->keep) {
            run->sess = sess;
            return 1;
        }
        if (run->refusable && run->at_init
            && p11be_ckr_refused_for_params(run->rv)) {
            /*
             * A refused init starts nothing: the session is clean, whatever
             * the code (SoftHSM2 says CKR_ARGUMENTS_BAD where PKCS#11 says
             * CKR_MECHANISM_PARAM_INVALID), so the pool keeps it.
             */
            p11be_session_release(sess, CKR_MECHANISM_PARAM_INVALID);
            run->refused = 1;
            return 0;
        }
        if (!done && run->object_failed != NULL)
            retry = run->object_failed(run, sess, obj, run->rv);
        if (!(run_give(run, sess, run->rv) || retry))
            break;
    }
    if (run->rv == CKR_OK)
        return 1;
    if (!run->quiet)
        p11be_raise(run->tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "%s%s%s%s%s%s: %s", run->what != NULL ? run->what : "",
                    run->what != NULL ? ": " : "", run->fn,
                    run->mech_name != NULL ? " (" : "",
                    run->mech_name != NULL ? run->mech_name : "",
                    run->mech_name != NULL ? ")" : "", p11be_ckr_name(run->rv));
    return 0;
}
