/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A running token operation shared by copies of a context: see
 * shared_op.h.
 */
#include "shared_op.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"

struct p11be_shared_op {
    P11BE_SESSION *sess;         /* the running operation; NULL once taken */
    p11be_shared_op_end_fn *end; /* ends it when nobody took it */
    unsigned refs;               /* holders */
    pthread_mutex_t lock;        /* orders finals */
    int finished;                /* result holds the first final's */
    unsigned char result[P11BE_SHARED_OP_MAX];
    size_t result_len; /* bytes in result */
};

P11BE_SHARED_OP *p11be_shared_op_new(const P11BE_PROV_CTX *prov,
                                     P11BE_SESSION **sess,
                                     p11be_shared_op_end_fn *end)
{
    P11BE_SHARED_OP *op = OPENSSL_zalloc(sizeof(*op));

    if (op == NULL || pthread_mutex_init(&op->lock, NULL) != 0) {
        OPENSSL_free(op);
        p11be_raise(prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "sharing a running operation");
        return NULL;
    }
    op->sess = *sess;
    op->end = end;
    op->refs = 1;
    *sess = NULL;
    return op;
}

int p11be_shared_op_join(P11BE_SHARED_OP *op, P11BE_SHARED_OP **holder)
{
    int alive;

    pthread_mutex_lock(&op->lock);
    alive =
        op->finished || __atomic_load_n(&op->sess, __ATOMIC_ACQUIRE) != NULL;
    if (alive)
        __atomic_add_fetch(&op->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&op->lock);
    if (alive)
        *holder = op;
    return alive;
}

void p11be_shared_op_leave(P11BE_SHARED_OP **holder)
{
    P11BE_SHARED_OP *op = *holder;

    *holder = NULL;
    if (op == NULL || __atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (op->sess != NULL)
        op->end(op->sess);
    pthread_mutex_destroy(&op->lock);
    OPENSSL_cleanse(op->result, sizeof(op->result)); /* a MAC, maybe */
    OPENSSL_free(op);
}

int p11be_shared_op_claim(P11BE_SHARED_OP **holder, P11BE_SESSION **sess)
{
    P11BE_SESSION *taken =
        __atomic_exchange_n(&(*holder)->sess, NULL, __ATOMIC_ACQ_REL);

    if (taken == NULL)
        return 0;
    p11be_shared_op_leave(holder);
    *sess = taken;
    return 1;
}

void p11be_shared_op_raise_taken(const P11BE_PROV_CTX *prov, const char *name,
                                 const char *kind)
{
    p11be_raise(prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                "this %s context was copied past pkcs11-digest-buffer-max "
                "(%zu bytes) on a token that cannot copy a running %s, and "
                "a copy has continued or finished the %s",
                name, prov->digest_buffer_max, kind, kind);
}

int p11be_shared_op_finish(P11BE_SHARED_OP *op, p11be_shared_op_final_fn *final,
                           void *arg, unsigned char *out, size_t *out_len)
{
    int rc = 1;

    pthread_mutex_lock(&op->lock);
    if (!op->finished) {
        P11BE_SESSION *sess =
            __atomic_exchange_n(&op->sess, NULL, __ATOMIC_ACQ_REL);

        if (sess == NULL)
            rc = 0;
        else if (!final(arg, sess, op->result, &op->result_len))
            rc = -1;
        else
            op->finished = 1;
    }
    if (rc == 1) {
        memcpy(out, op->result, op->result_len);
        *out_len = op->result_len;
    }
    pthread_mutex_unlock(&op->lock);
    return rc;
}
