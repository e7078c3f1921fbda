/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token one provider instance works with: its module, its slot, the
 * token's mechanism list (read once), the login state and the session
 * pool. token.c opens it and logs in; session.c lends its sessions.
 * Operations see only token/include/ (runner.h, session.h, ...).
 *
 * Locks, in the one order a thread may take them (holding one, it takes
 * only locks further down; the module is never called under the last):
 *
 *   token_list_lock (session.c: the tokens, for fork handling)
 *   the provider's first-open lock
 *   key->lock (keyobj.c)
 *   token->object_lock (the object session, objects.c)
 *   token->lock (the pool, session.c)
 *   the module registry (module.c: a forked child's first P11BE_CALL
 *   initialises the module again, perhaps under any lock above)
 *   logins_lock, then login->lock (token.c)
 *
 * session.c's atfork_prepare takes token_list_lock, per token its
 * object_lock and lock, then every login; module.c's handler runs after
 * it and takes the registry (never held together with a login lock).
 * reentry.c's callers_lock and fallback_lock are taken alone.
 */
#ifndef P11BE_TOKEN_H
#define P11BE_TOKEN_H

#include <pthread.h>

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

#include "config.h"
#include "mechs.h"
#include "module.h"
#include "rwlock.h"
#include "session.h"
#include "token_ctx.h"

/* The token's login in this process, shared by provider instances (token.c). */
typedef struct p11be_login_st P11BE_LOGIN;

enum p11be_login_policy {
    P11BE_LOGIN_ON_DEMAND,    /* when an operation needs it */
    P11BE_LOGIN_AT_FIRST_USE, /* with the first session */
};

/* A mechanism's C_GetMechanismInfo, once read (under the token's lock). */
struct p11be_mech_info {
    int known;
    CK_MECHANISM_INFO info;
};

struct p11be_token_st {
    const OSSL_CORE_HANDLE *handle;       /* for raising errors */
    const P11BE_CONFIG *config;           /* the owning provider's settings */
    P11BE_MODULE *module;                 /* shared, reference counted */
    CK_FUNCTION_LIST *fns;                /* the module's functions */
    CK_SLOT_ID slot_id;                   /* chosen at open */
    char label[33];                       /* token label, blanks trimmed */
    CK_MECHANISM_TYPE *mechs;             /* sorted, from C_GetMechanismList */
    CK_ULONG mech_count;                  /* entries in mechs */
    struct p11be_mech_info *mech_infos;   /* by mechs' index, read lazily */
    CK_FLAGS session_flags;               /* C_OpenSession flags */
    CK_USER_TYPE user_type;               /* C_Login user type */
    enum p11be_login_policy login_policy; /* when to log in */
    CK_FLAGS token_flags;                 /* CK_TOKEN_INFO.flags at open */
    /*
     * Parameter sets the token refused (keyobj.h, p11be_mech_shape):
     * appended under `lock`, read without it up to refused_count.
     */
    struct p11be_mech_shape refused[P11BE_REFUSED_MAX];
    size_t refused_count;

    pthread_mutex_t lock;         /* guards everything below */
    pthread_cond_t session_freed; /* signalled when a session comes back */
    P11BE_SESSION *idle;          /* stack of idle sessions */
    P11BE_SESSION *hot;           /* one idle session lent without the lock */
    size_t open_count;            /* sessions open, idle or lent */
    size_t max_sessions;          /* bound on sessions not held */
    size_t held_count;            /* sessions lent as held (session.h) */
    size_t held_max;              /* pkcs11-session-held-max */
    size_t session_limit;         /* the token's own bound; 0: none known */
    size_t waiting;               /* threads waiting for a session */
    unsigned generation;          /* bumped when all sessions are lost */
    unsigned fork_generation;     /* p11be_fork_generation seen last */
    P11BE_LOGIN *login;           /* the login state; token.c owns it */

    P11BE_RWLOCK object_lock;     /* the object session's: see objects.c */
    P11BE_SESSION object_session; /* holds session objects; see objects.c */
    int object_session_open;      /* object_session is valid */
    unsigned object_epoch; /* bumped each time the object session opens */
    CK_RV object_lost_rv;  /* why the last object session went */

    struct p11be_token_st *next_token; /* all tokens, for fork handling */
};

/* Open the token the settings name; raises and returns NULL on failure. */
P11BE_TOKEN *p11be_token_open(const P11BE_CONFIG *config,
                              const OSSL_CORE_HANDLE *handle);
void p11be_token_free(P11BE_TOKEN *token, enum p11be_finalize_mode mode);

/* Whether the token offers `mech`. */
int p11be_token_has_mech(const P11BE_TOKEN *token, CK_MECHANISM_TYPE mech);

/* Whether the token asked for a login for something not marked private. */
int p11be_token_login_wanted(P11BE_TOKEN *token);

/*
 * The login is gone (the token was removed, the process forked, the
 * application logged out or closed all sessions): the next operation that
 * needs it logs in again, unless a PIN was refused. `token_asked`: the
 * token answered CKR_USER_NOT_LOGGED_IN, so log in from now on even for
 * operations that do not say they need it. Takes only the login's lock.
 */
void p11be_token_login_lost(P11BE_TOKEN *token, int token_asked);

/* For session.c's fork handlers: the login records' locks, taken last. */
void p11be_logins_atfork_prepare(void);
void p11be_logins_atfork_parent(void);
void p11be_logins_atfork_child(void);

/*
 * After CKR_KEY_HANDLE_INVALID: is the object session (and every object on
 * it) gone? Then its objects are re-created on use; returns 1.
 */
int p11be_objects_recheck(P11BE_TOKEN *token);

/*
 * The runner's session source for work on the object session (runner.h,
 * on_objects): take holds it for writing, opened and, with `need_login`,
 * logged in (NULL: raised); done gives it back after a try and says
 * whether a new try may succeed (the session or the login went under it).
 */
P11BE_SESSION *p11be_object_session_take(P11BE_TOKEN_CTX *tc, int need_login);
int p11be_object_session_done(P11BE_SESSION *sess, CK_RV rv, int need_login);

/* Closes one idle pooled session to make room; 0 when none is idle. */
int p11be_pool_close_one_idle(P11BE_TOKEN *token);

/* Pool internals shared by token.c, session.c and objects.c. */
int p11be_pool_init(P11BE_TOKEN *token);
void p11be_pool_close_all(P11BE_TOKEN *token, int call_module);

#endif
