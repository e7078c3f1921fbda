/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A reader-writer lock that waiting writers go first in, and that a fork
 * handler can take and give back in the child.
 *
 * Why not pthread_rwlock_t: the object session's lock is held across
 * fork() (session.c's handlers), and glibc decides whether an unlock is a
 * writer's by comparing thread ids, which change in the child, so the
 * child could only make the lock again, leaving ThreadSanitizer (and any
 * other checker) believing it still held. This one is a mutex, two
 * condition variables and counts: the child gives it back like the
 * parent does, and every checker sees the same thread take and release
 * the same mutex.
 */
#ifndef P11BE_RWLOCK_H
#define P11BE_RWLOCK_H

#include <pthread.h>

typedef struct p11be_rwlock_st {
    pthread_mutex_t mutex;     /* guards the counts */
    pthread_cond_t readers_go; /* no writer holds or waits any more */
    pthread_cond_t writers_go; /* the lock may be free for a writer */
    unsigned readers;          /* holding it shared */
    unsigned writers_waiting;  /* blocked in p11be_rwlock_write */
    int writer;                /* held exclusively */
} P11BE_RWLOCK;

int p11be_rwlock_init(P11BE_RWLOCK *lock);
void p11be_rwlock_destroy(P11BE_RWLOCK *lock);

/* Shared; waits while a writer holds the lock or waits for it. */
void p11be_rwlock_read(P11BE_RWLOCK *lock);
/* Exclusive. */
void p11be_rwlock_write(P11BE_RWLOCK *lock);
/* Gives back a shared or an exclusive hold. */
void p11be_rwlock_unlock(P11BE_RWLOCK *lock);

/*
 * Fork handlers: _prepare holds the lock exclusively and its mutex, so the
 * child gets the counts as they are; _parent and _child give both back
 * (the child also forgets the parent's waiters, which it does not have).
 */
void p11be_rwlock_atfork_prepare(P11BE_RWLOCK *lock);
void p11be_rwlock_atfork_parent(P11BE_RWLOCK *lock);
void p11be_rwlock_atfork_child(P11BE_RWLOCK *lock);

#endif
