/* SPDX-License-Identifier: Apache-2.0 */
#include "rwlock.h"

int p11be_rwlock_init(P11BE_RWLOCK *lock)
{
    lock->readers = 0;
    lock->writers_waiting = 0;
    lock->writer = 0;
    if (pthread_mutex_init(&lock->mutex, NULL) != 0)
        return 0;
    if (pthread_cond_init(&lock->readers_go, NULL) != 0) {
        pthread_mutex_destroy(&lock->mutex);
        return 0;
    }
    if (pthread_cond_init(&lock->writers_go, NULL) != 0) {
        pthread_cond_destroy(&lock->readers_go);
        pthread_mutex_destroy(&lock->mutex);
        return 0;
    }
    return 1;
}

void p11be_rwlock_destroy(P11BE_RWLOCK *lock)
{
    pthread_cond_destroy(&lock->writers_go);
    pthread_cond_destroy(&lock->readers_go);
    pthread_mutex_destroy(&lock->mutex);
}

void p11be_rwlock_read(P11BE_RWLOCK *lock)
{
    pthread_mutex_lock(&lock->mutex);
    while (lock->writer || lock->writers_waiting > 0)
        pthread_cond_wait(&lock->readers_go, &lock->mutex);
    lock->readers++;
    pthread_mutex_unlock(&lock->mutex);
}

static void take_exclusive_locked(P11BE_RWLOCK *lock)
{
    lock->writers_waiting++;
    while (lock->writer || lock->readers > 0)
        pthread_cond_wait(&lock->writers_go, &lock->mutex);
    lock->writers_waiting--;
    lock->writer = 1;
}

void p11be_rwlock_write(P11BE_RWLOCK *lock)
{
    pthread_mutex_lock(&lock->mutex);
    take_exclusive_locked(lock);
    pthread_mutex_unlock(&lock->mutex);
}

/* A writer and readers never hold it at once: `writer` says which it is. */
static void give_back_locked(P11BE_RWLOCK *lock)
{
    if (lock->writer)
        lock->writer = 0;
    else if (--lock->readers > 0)
        return;
    if (lock->writers_waiting > 0)
        pthread_cond_signal(&lock->writers_go);
    else
        pthread_cond_broadcast(&lock->readers_go);
}

void p11be_rwlock_unlock(P11BE_RWLOCK *lock)
{
    pthread_mutex_lock(&lock->mutex);
    give_back_locked(lock);
    pthread_mutex_unlock(&lock->mutex);
}

void p11be_rwlock_atfork_prepare(P11BE_RWLOCK *lock)
{
    pthread_mutex_lock(&lock->mutex);
    take_exclusive_locked(lock);
}

void p11be_rwlock_atfork_parent(P11BE_RWLOCK *lock)
{
    give_back_locked(lock);
    pthread_mutex_unlock(&lock->mutex);
}

void p11be_rwlock_atfork_child(P11BE_RWLOCK *lock)
{
    /* The parent's other threads, and their waits, are not here. */
    pthread_cond_init(&lock->readers_go, NULL);
    pthread_cond_init(&lock->writers_go, NULL);
    lock->writers_waiting = 0;
    lock->readers = 0;
    lock->writer = 0;
    pthread_mutex_unlock(&lock->mutex);
}
