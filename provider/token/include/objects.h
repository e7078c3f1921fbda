/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session objects (imported keys, session copies of token keys) that
 * live as long as the OpenSSL object that owns them, whatever happens to
 * the pooled sessions.
 *
 * A PKCS#11 session object dies with the session that created it, so
 * objects are never created on pooled sessions (which may be closed when
 * discarded): each token keeps one dedicated object session, used for
 * nothing else, that creates and destroys them. Every session of the
 * application can use the objects it holds. An object remembers the token
 * generation and object session it was made in; after the token is
 * removed, the object session is lost, or the process forked, it is gone,
 * p11be_object_alive() says so, and its owner re-creates it from what it
 * kept. The object session counts against the token's session limit but
 * not against the pool's bound: on CKR_SESSION_COUNT an idle pooled
 * session is closed to make room.
 */
#ifndef P11BE_OBJECTS_H
#define P11BE_OBJECTS_H

#include <p11-kit/pkcs11.h>

#include "token_ctx.h"

typedef struct p11be_object_ref_st {
    CK_OBJECT_HANDLE handle; /* CK_INVALID_HANDLE when none */
    unsigned generation;     /* token generation it was created in */
    unsigned forks;          /* fork generation it was created in */
    unsigned epoch;          /* object session it lives on */
} P11BE_OBJECT_REF;

/*
 * What to make on the object session: C_CopyObject of the token's object
 * `source` (a handle of any session; `tmpl` changes the copy) when set,
 * else C_GenerateKeyPair with `mech` (`priv_tmpl` and `priv` the private
 * key's: a session pair lives as long as its owner, like a created
 * object), else C_CreateObject of `tmpl`.
 */
struct p11be_object_call {
    CK_OBJECT_HANDLE source; /* C_CopyObject of it; else CK_INVALID_HANDLE */
    CK_MECHANISM *mech;      /* C_GenerateKeyPair; NULL: C_CreateObject */
    CK_ATTRIBUTE *tmpl;      /* the object's (the public key's) template */
    CK_ULONG count;          /* entries in tmpl */
    CK_ATTRIBUTE *priv_tmpl; /* C_GenerateKeyPair: the private key's */
    CK_ULONG priv_count;     /* entries in priv_tmpl */
    P11BE_OBJECT_REF *ref;   /* the object (the public key) */
    P11BE_OBJECT_REF *priv;  /* C_GenerateKeyPair: the private key */
};

/*
 * Runs the call through the runner (runner.h) on the object session,
 * opened on first use and logged in first when `need_login`. Raises
 * naming what failed and returns 0 then, with the token's code in *rv
 * when rv is not NULL.
 */
int p11be_object_make(P11BE_TOKEN_CTX *tc, int need_login,
                      struct p11be_object_call *c, CK_RV *rv);

/* Whether the object still exists (same token insertion, same process). */
int p11be_object_alive(P11BE_TOKEN_CTX *tc, const P11BE_OBJECT_REF *ref);

/*
 * Using an object: from its liveness check to the last call that names its
 * handle, no call on the object session may run (a token that loses that
 * session there destroys the object under the call, and may give its
 * handle to another object). Returns 1 with the object in use when `ref`
 * is still alive (NULL: a token object, not on the object session), or 0,
 * nothing held, when it went with its object session: make it again, then
 * begin again. End with p11be_object_use_end() before giving the session
 * back; in between, no session acquire and no object create or destroy.
 */
int p11be_object_use_begin(P11BE_TOKEN_CTX *tc, const P11BE_OBJECT_REF *ref);

/*
 * How many times an operation makes its object again when it went with
 * its object session between the check and the use (every loss takes
 * every object, so a burst of losses can hit one operation a few times).
 */
#define P11BE_OBJECT_REMAKES 5
void p11be_object_use_end(P11BE_TOKEN_CTX *tc);

/*
 * Why `ref` is no longer alive, for messages: "the process forked", "the
 * token was removed", or that its object session was lost (in buf).
 */
const char *p11be_object_gone_why(P11BE_TOKEN_CTX *tc,
                                  const P11BE_OBJECT_REF *ref, char *buf,
                                  size_t len);

/* C_DestroyObject if still alive; always leaves ref empty. */
void p11be_object_destroy(P11BE_TOKEN_CTX *tc, P11BE_OBJECT_REF *ref);

#endif
