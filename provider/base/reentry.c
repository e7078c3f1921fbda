/* SPDX-License-Identifier: Apache-2.0 */
#include "reentry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

__thread unsigned p11be_token_call_depth P11BE_TLS_FAST;
__thread struct p11be_caller *p11be_caller_self P11BE_TLS_FAST;
struct p11be_caller *p11be_calls_closed_to_all_but;

/* Closes calls to every thread, for a closing thread without a record. */
static struct p11be_caller no_caller;

static pthread_mutex_t callers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11be_caller *callers; /* every record, newest first */
static pthread_key_t caller_key;     /* gives a record back at thread exit */
static int tracking;                 /* caller_key was made */
static pthread_once_t tracking_once = PTHREAD_ONCE_INIT;

/* Runs in the ending thread; a later destructor's call makes a new one. */
static void caller_thread_ended(void *record)
{
    struct p11be_caller *caller = record;

    p11be_caller_self = NULL;
    __atomic_store_n(&caller->inside, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&caller->in_use, 0, __ATOMIC_RELEASE);
}

static void callers_lock_for_fork(void)
{
    pthread_mutex_lock(&callers_lock);
}

static void callers_unlock_after_fork(void)
{
    pthread_mutex_unlock(&callers_lock);
}

/* The child has one thread: the other records' threads are not in it. */
static void callers_forked_child(void)
{
    struct p11be_caller *caller;

    for (caller = callers; caller != NULL; caller = caller->next)
        if (caller != p11be_caller_self) {
            __atomic_store_n(&caller->inside, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&caller->in_use, 0, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&callers_lock);
}

static void tracking_start(void)
{
    int made = pthread_key_create(&caller_key, caller_thread_ended) == 0;

    if (made)
        pthread_atfork(callers_lock_for_fork, callers_unlock_after_fork,
                       callers_forked_child);
    __atomic_store_n(&tracking, made, __ATOMIC_RELEASE);
}

void p11be_reentry_track_callers(void)
{
    pthread_once(&tracking_once, tracking_start);
}

/* This thread's record, made or reused; NULL when none can be kept. */
static struct p11be_caller *caller_record(void)
{
    struct p11be_caller *self;

    if (!__atomic_load_n(&tracking, __ATOMIC_ACQUIRE))
        return NULL;
    pthread_mutex_lock(&callers_lock);
    for (self = callers; self != NULL; self = self->next)
        if (!__atomic_load_n(&self->in_use, __ATOMIC_ACQUIRE))
            break;
    if (self == NULL
        && posix_memalign((void **)&self, sizeof(*self), sizeof(*self)) == 0) {
        memset(self, 0, sizeof(*self));
        self->next = callers;
        callers = self;
    }
    if (self != NULL)
        __atomic_store_n(&self->in_use, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&callers_lock);
    if (self != NULL && pthread_setspecific(caller_key, self) != 0) {
        __atomic_store_n(&self->in_use, 0, __ATOMIC_RELEASE);
        self = NULL;
    }
    p11be_caller_self = self;
    return self;
}

int p11be_reentry_enter_first(void)
{
    struct p11be_caller *allowed;

    if (caller_record() != NULL)
        return p11be_reentry_enter();
    /* No record: the call is not waited for at exit, but still closed. */
    allowed = __atomic_load_n(&p11be_calls_closed_to_all_but, __ATOMIC_SEQ_CST);
    if (allowed != NULL)
        return 0;
    p11be_token_call_depth++;
    return 1;
}

int p11be_reentry_close(unsigned timeout_ms)
{
    struct p11be_caller *self = p11be_caller_self;
    struct p11be_caller *caller;
    unsigned waited;
    int inside;

    if (self == NULL)
        self = caller_record();
    if (__atomic_load_n(&p11be_calls_closed_to_all_but, __ATOMIC_SEQ_CST)
        == NULL)
        __atomic_store_n(&p11be_calls_closed_to_all_but,
                         self != NULL ? self : &no_caller, __ATOMIC_SEQ_CST);
    for (waited = 0;; waited++) {
        inside = 0;
        pthread_mutex_lock(&callers_lock);
        for (caller = callers; caller != NULL; caller = caller->next)
            if (caller != self
                && __atomic_load_n(&caller->inside, __ATOMIC_SEQ_CST))
                inside++;
        pthread_mutex_unlock(&callers_lock);
        if (inside == 0 || waited >= timeout_ms)
            return inside == 0;
        usleep(1000);
    }
}

/* Frees what `ref` made and did not keep, or what its last user left. */
static void libctx_ref_free(struct p11be_libctx_ref *ref, OSSL_LIB_CTX *libctx,
                            OSSL_PROVIDER *provider, void *kept)
{
    if (kept != NULL)
        ref->free_kept(kept);
    OSSL_PROVIDER_unload(provider);
    OSSL_LIB_CTX_free(libctx);
}

/* Takes a reference when the context exists; ref->lock held. */
static int libctx_ref_take_locked(struct p11be_libctx_ref *ref)
{
    if (ref->libctx == NULL)
        return 0;
    ref->users++;
    return 1;
}

int p11be_libctx_ref_get(struct p11be_libctx_ref *ref)
{
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *provider = NULL;
    void *kept = NULL;
    int ok;

    pthread_mutex_lock(&ref->lock);
    ok = libctx_ref_take_locked(ref);
    pthread_mutex_unlock(&ref->lock);
    if (ok)
        return 1;
    libctx = OSSL_LIB_CTX_new();
    ok = libctx != NULL && ref->load(libctx, &provider, &kept);
    pthread_mutex_lock(&ref->lock);
    if (ref->libctx == NULL && ok) {
        ref->libctx = libctx;
        ref->provider = provider;
        ref->kept = kept;
        libctx = NULL;
        provider = NULL;
        kept = NULL;
    }
    ok = libctx_ref_take_locked(ref);
    pthread_mutex_unlock(&ref->lock);
    libctx_ref_free(ref, libctx, provider, kept);
    return ok;
}

void p11be_libctx_ref_put(struct p11be_libctx_ref *ref)
{
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *provider = NULL;
    void *kept = NULL;

    pthread_mutex_lock(&ref->lock);
    if (ref->users > 0 && --ref->users == 0) {
        libctx = ref->libctx;
        provider = ref->provider;
        kept = ref->kept;
        ref->libctx = NULL;
        ref->provider = NULL;
        ref->kept = NULL;
    }
    pthread_mutex_unlock(&ref->lock);
    libctx_ref_free(ref, libctx, provider, kept);
}

static int fallback_load(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provider,
                         void **kept)
{
    (void)kept;
    *provider = OSSL_PROVIDER_load(libctx, "default");
    return *provider != NULL;
}

static struct p11be_libctx_ref fallback = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                           .load = fallback_load};

int p11be_fallback_prepare(void)
{
    return p11be_libctx_ref_get(&fallback);
}

OSSL_LIB_CTX *p11be_fallback_libctx(void)
{
    /* Set before any token call and cleared only after the last user. */
    return fallback.libctx;
}

void p11be_fallback_release(void)
{
    p11be_libctx_ref_put(&fallback);
}
