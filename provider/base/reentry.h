/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Re-entry from the PKCS#11 module.
 *
 * A module such as SoftHSM2 calls OpenSSL itself (C_Login hashes the PIN,
 * C_Digest calls EVP) through the default library context. When pkcs11be is
 * preferred there (default_properties), those calls come back into
 * pkcs11be while the calling thread is inside a C_* function. Sending them
 * to the token again would recurse or deadlock, so every C_* call marks the
 * thread, and an algorithm created while the mark is set is served by a
 * private library context that holds only OpenSSL's default provider.
 */
#ifndef P11BE_REENTRY_H
#define P11BE_REENTRY_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/types.h>

/*
 * Read on every call into the module: the initial-exec model skips
 * __tls_get_addr. Sixteen bytes (the depth and p11be_caller_self) of the
 * static TLS surplus glibc keeps for dlopen'd libraries.
 */
#define P11BE_TLS_FAST __attribute__((tls_model("initial-exec")))

extern __thread unsigned p11be_token_call_depth P11BE_TLS_FAST;

/*
 * Exit. exit() runs the module's exit-time destructors (SoftHSM2's C++
 * statics) while the application's other threads may be inside a call
 * into it, which crashes there. So each thread that calls a module has a
 * record of its own saying whether it is inside a call (on its own cache
 * line: marking it costs no contention), and the exit hook closes the
 * modules to every other thread and waits, bounded, for the calls under
 * way to end before those destructors run (p11be_reentry_close).
 */
struct p11be_caller {
    unsigned inside;           /* 1 while its thread is inside a call */
    unsigned in_use;           /* 0 once its thread ended: reusable */
    struct p11be_caller *next; /* every record; never freed */
} __attribute__((aligned(64)));

extern __thread struct p11be_caller *p11be_caller_self P11BE_TLS_FAST;
/* NULL while calls are open; once closed, the only thread still allowed. */
extern struct p11be_caller *p11be_calls_closed_to_all_but;

/* The first call of a thread (its record is made), out of line. */
int p11be_reentry_enter_first(void);

/*
 * Marks the thread as inside the module. Returns 0, marking nothing, when
 * exit has closed the modules to this thread.
 */
static inline int p11be_reentry_enter(void)
{
    struct p11be_caller *self = p11be_caller_self;
    struct p11be_caller *allowed;

    if (p11be_token_call_depth == 0) {
        if (self == NULL)
            return p11be_reentry_enter_first();
        /* Sequentially consistent, against p11be_reentry_close's pair. */
        __atomic_store_n(&self->inside, 1, __ATOMIC_SEQ_CST);
        allowed =
            __atomic_load_n(&p11be_calls_closed_to_all_but, __ATOMIC_SEQ_CST);
        if (allowed != NULL && allowed != self) {
            __atomic_store_n(&self->inside, 0, __ATOMIC_RELEASE);
            return 0;
        }
    }
    p11be_token_call_depth++;
    return 1;
}

static inline void p11be_reentry_leave(void)
{
    if (--p11be_token_call_depth == 0 && p11be_caller_self != NULL)
        __atomic_store_n(&p11be_caller_self->inside, 0, __ATOMIC_RELEASE);
}

/*
 * Start keeping records (once pkcs11be.so is pinned in memory: a record's
 * thread-exit destructor is in it). Without them calls are still closed at
 * exit, but nothing waits for the ones under way.
 */
void p11be_reentry_track_callers(void);

/*
 * At exit: closes the modules to every thread but the calling one, then
 * waits at most `timeout_ms` for the other threads inside a call to leave.
 * Returns 1 when none is left inside.
 */
int p11be_reentry_close(unsigned timeout_ms);

/* True while this thread is inside a call into the PKCS#11 module. */
static inline int p11be_reentered(void)
{
    return p11be_token_call_depth != 0;
}

/*
 * The private library context (default provider only). Made by
 * p11be_fallback_prepare(), which runs before the first call into a module
 * so that it never has to be built from inside one.
 */
int p11be_fallback_prepare(void);
OSSL_LIB_CTX *p11be_fallback_libctx(void);
void p11be_fallback_release(void);

/*
 * A library context of the provider's own, made on first use, shared and
 * freed by its last user: the fallback above, the DRBG parent's (rand.c).
 * It is made and freed outside `lock`: that takes libcrypto's own locks,
 * which libcrypto may hold while it frees a context of ours that releases
 * it (a DRBG at exit: ThreadSanitizer saw the lock-order inversion).
 */
struct p11be_libctx_ref {
    pthread_mutex_t lock;
    unsigned users;          /* holders; freed at 0 */
    OSSL_LIB_CTX *libctx;    /* NULL while nobody holds it */
    OSSL_PROVIDER *provider; /* what load() loaded */
    void *kept;              /* what load() fetched, or NULL */
    /* Loads the provider into a new libctx (and fetches what it keeps). */
    int (*load)(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provider, void **kept);
    void (*free_kept)(void *kept);
};

/* Takes a reference, making the context first; 1, or 0 when it failed. */
int p11be_libctx_ref_get(struct p11be_libctx_ref *ref);
void p11be_libctx_ref_put(struct p11be_libctx_ref *ref);

#endif
