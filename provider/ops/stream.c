/* SPDX-License-Identifier: Apache-2.0 */
/* The streaming engine of digests and MACs: see stream.h. */
#include "stream.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "err.h"
#include "p11call.h"

/* Spares larger than this are freed: they would pin too much memory. */
#define SPARE_CAP_MAX (256 * 1024)

/*
 * Spare buffers for held input. OpenSSL 3.0 frees and re-creates the
 * provider context at every EVP_DigestInit_ex, even on a reused
 * EVP_MD_CTX, so a context that holds more than its inline buffer would
 * allocate and free a buffer per message: the provider keeps a few.
 */
static unsigned char *spare_take(P11BE_PROV_CTX *prov, size_t need, size_t *cap)
{
    unsigned char *buf = NULL;
    size_t i;

    pthread_mutex_lock(&prov->spare_lock);
    for (i = 0; i < prov->spare_count && buf == NULL; i++) {
        if (prov->spare_cap[i] >= need) {
            buf = prov->spare[i];
            *cap = prov->spare_cap[i];
            prov->spare_count--;
            prov->spare[i] = prov->spare[prov->spare_count];
            prov->spare_cap[i] = prov->spare_cap[prov->spare_count];
        }
    }
    pthread_mutex_unlock(&prov->spare_lock);
    return buf;
}

static void spare_give(P11BE_PROV_CTX *prov, unsigned char *buf, size_t cap)
{
    if (cap <= SPARE_CAP_MAX) {
        pthread_mutex_lock(&prov->spare_lock);
        if (prov->spare_count < P11BE_SPARES) {
            prov->spare[prov->spare_count] = buf;
            prov->spare_cap[prov->spare_count] = cap;
            prov->spare_count++;
            buf = NULL;
        }
        pthread_mutex_unlock(&prov->spare_lock);
    }
    OPENSSL_free(buf);
}

int p11be_params_answer(OSSL_PARAM params[], const OSSL_PARAM gettable[],
                        const size_t values[])
{
    OSSL_PARAM *p;
    size_t i;

    for (i = 0; gettable[i].key != NULL; i++)
        if ((p = OSSL_PARAM_locate(params, gettable[i].key)) != NULL
            && !OSSL_PARAM_set_size_t(p, values[i]))
            return 0;
    return 1;
}

void p11be_spare_free_all(P11BE_PROV_CTX *prov)
{
    while (prov->spare_count > 0) {
        prov->spare_count--;
        OPENSSL_free(prov->spare[prov->spare_count]);
    }
}

/* ---- the token's calls, C_Digest* or C_Sign*, through the runner ---- */

/* What the step does: a one-shot (out set), a stream's start, a copy. */
struct stream_call {
    const struct p11be_stream_mech *m;
    const unsigned char *in; /* never NULL: modules refuse a NULL pData */
    size_t inl;
    unsigned char *out; /* a one-shot's result; NULL: start or copy */
    CK_ULONG *out_len;  /* room, then bytes */
    CK_ULONG room;
    int copy;      /* `in` is a C_GetOperationState answer */
    int refusable; /* see P11BE_STREAM */
    int refused;   /* refusable, and the token refused at C_xInit */
};

static CK_RV call_update(P11BE_SESSION *sess, int sign, const unsigned char *in,
                         size_t inl)
{
    return sign ? P11BE_CALL(sess->fns, C_SignUpdate, sess->handle,
                             (CK_BYTE *)in, inl)
                : P11BE_CALL(sess->fns, C_DigestUpdate, sess->handle,
                             (CK_BYTE *)in, inl);
}

static CK_RV call_final(P11BE_SESSION *sess, int sign, unsigned char *out,
                        CK_ULONG *len)
{
    return sign ? P11BE_CALL(sess->fns, C_SignFinal, sess->handle, out, len)
                : P11BE_CALL(sess->fns, C_DigestFinal, sess->handle, out, len);
}

/*
 * The runner's step: C_SetOperationState for a copy, else C_xInit and
 * then C_x (a one-shot) or C_xUpdate of what was held (a stream's start).
 */
static CK_RV stream_step(struct p11be_run *run, P11BE_SESSION *sess,
                         CK_OBJECT_HANDLE obj)
{
    struct stream_call *c = run->arg;
    CK_MECHANISM mech = {c->m->mech, NULL, 0};
    int sign = c->m->key != NULL;
    CK_RV rv;

    if (c->copy)
        return P11BE_CALL(sess->fns, C_SetOperationState, sess->handle,
                          (CK_BYTE *)c->in, c->inl, CK_INVALID_HANDLE, obj);
    rv = sign ? P11BE_CALL(sess->fns, C_SignInit, sess->handle, &mech, obj)
              : P11BE_CALL(sess->fns, C_DigestInit, sess->handle, &mech);
    run->at_init = rv != CKR_OK;
    if (rv == CKR_OK && c->out == NULL && c->inl > 0)
        return call_update(sess, sign, c->in, c->inl);
    if (rv != CKR_OK || c->out == NULL)
        return rv;
    *c->out_len = c->room;
    return sign ? P11BE_CALL(sess->fns, C_Sign, sess->handle, (CK_BYTE *)c->in,
                             c->inl, c->out, c->out_len)
                : P11BE_CALL(sess->fns, C_Digest, sess->handle,
                             (CK_BYTE *)c->in, c->inl, c->out, c->out_len);
}

/*
 * Runs the step for c->m, with the key's object when it signs: on a held
 * session kept on success (*kept) when kept is not NULL. 1, or 0 raised.
 */
static int stream_run(P11BE_PROV_CTX *prov, struct stream_call *c,
                      P11BE_SESSION **kept)
{
    int sign = c->m->key != NULL;
    struct p11be_run run = {
        .tc = &prov->tc,
        .req = {.mech = c->m->checked ? 0 : c->m->mech, .held = kept != NULL},
        .fn = c->copy ? "C_SetOperationState"
              : c->out != NULL
                  ? (sign ? "C_SignInit/C_Sign" : "C_DigestInit/C_Digest")
              : sign ? "C_SignInit/C_SignUpdate"
                     : "C_DigestInit/C_DigestUpdate",
        .mech_name = c->m->mech_name,
        .step = stream_step,
        .arg = c,
        .object = sign ? p11be_secret_key_object : NULL,
        .object_arg = c->m->key,
        .object_use = CKF_SIGN,
        .keep = kept != NULL,
        .refusable = c->refusable,
    };

    if (!p11be_run(&run)) {
        c->refused = run.refused;
        return 0;
    }
    if (kept != NULL)
        *kept = run.sess;
    return 1;
}

/* "C_SignUpdate (CKM_...): CKR_...", after a call outside the runner. */
static void raise_token(P11BE_PROV_CTX *prov, const struct p11be_stream_mech *m,
                        const char *step, CK_RV rv)
{
    p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED, "%s%s (%s): %s",
                m->key != NULL ? "C_Sign" : "C_Digest", step, m->mech_name,
                p11be_ckr_name(rv));
}

int p11be_stream_once(P11BE_PROV_CTX *prov, const struct p11be_stream_mech *m,
                      const unsigned char *in, size_t inl, unsigned char *out,
                      CK_ULONG *out_len)
{
    static unsigned char empty[1]; /* modules refuse a NULL pData */
    struct stream_call c = {
        m, in != NULL ? in : empty, inl, out, out_len, *out_len, 0, 0, 0};

    return stream_run(prov, &c, NULL);
}

/*
 * Ends a running operation nobody wants any more. PKCS#11 2.40 has no
 * cancel: finishing into a scratch buffer leaves the session clean and
 * poolable, which is cheaper than closing it and opening another.
 */
static void end_operation(P11BE_SESSION *sess, int sign)
{
    unsigned char scratch[EVP_MAX_MD_SIZE];
    CK_ULONG len = sizeof(scratch);
    CK_RV rv;

    if (sess == NULL || !p11be_session_usable_now(sess))
        return; /* freed during exit clean-up: the module may be gone */
    rv = call_final(sess, sign, scratch, &len);
    if (rv == CKR_OK || p11be_ckr_session_lost(rv))
        p11be_session_release(sess, rv);
    else
        p11be_session_discard(sess);
    OPENSSL_cleanse(scratch, sizeof(scratch));
}

/*
 * Only the RFC 2104 prefix (K0 ^ ipad) is key material; the message is not
 * a secret (STYLE.md) and wiping it would cost as much as hashing it.
 */
static void forget_input(P11BE_STREAM *st)
{
    if (st->held_prefix > 0)
        OPENSSL_cleanse(st->held, st->held_prefix);
    st->held_len = 0;
    st->held_prefix = 0;
}

/*
 * The result into out (room bytes), through st->post: C_xFinal on sess
 * (given back), or without one the held input at once.
 */
static int finish(P11BE_STREAM *st, P11BE_SESSION *sess, unsigned char *out,
                  size_t room, size_t *outl)
{
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned char *dst = st->post != NULL ? inner : out;
    CK_ULONG len = st->post != NULL ? sizeof(inner) : room;
    CK_RV rv;
    int ok;

    if (sess == NULL) {
        struct stream_call c = {&st->m, st->held, st->held_len,  dst, &len,
                                len,    0,        st->refusable, 0};

        if (!(ok = stream_run(st->prov, &c, NULL)) && c.refused) {
            st->refused = 1; /* the owner takes the held input elsewhere */
            return 0;
        }
        forget_input(st);
    } else {
        rv = call_final(sess, st->m.key != NULL, dst, &len);
        p11be_session_release(sess, rv);
        if (!(ok = rv == CKR_OK))
            raise_token(st->prov, &st->m, "Final", rv);
    }
    if (ok && st->post != NULL) {
        ok = st->post(st, inner, out);
        len = st->size;
        OPENSSL_cleanse(inner, sizeof(inner));
    }
    *outl = len;
    return ok;
}

/* ---- an operation that copies share (no C_GetOperationState) ---- */

struct p11be_shared_op {
    P11BE_SESSION *sess;  /* the running operation; NULL once taken */
    int sign;             /* C_Sign* (else C_Digest*), to end it */
    unsigned refs;        /* holders */
    pthread_mutex_t lock; /* orders finals */
    int finished;         /* result holds the first final's */
    unsigned char result[EVP_MAX_MD_SIZE];
    size_t result_len; /* bytes in result */
};

static void raise_taken(const P11BE_STREAM *st)
{
    const char *kind = st->mac ? "MAC" : "digest";

    p11be_raise(st->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                "this %s context was copied past pkcs11-digest-buffer-max "
                "(%zu bytes) on a token that cannot copy a running %s, and "
                "a copy has continued or finished the %s",
                st->name, st->prov->digest_buffer_max, kind, kind);
}

/* Shares st's running operation: st->sess moves into it. */
static int shared_new(P11BE_STREAM *st)
{
    struct p11be_shared_op *op = OPENSSL_zalloc(sizeof(*op));

    if (op == NULL || pthread_mutex_init(&op->lock, NULL) != 0) {
        OPENSSL_free(op);
        p11be_raise(st->prov->handle, P11BE_R_OUT_OF_MEMORY,
                    "sharing a running operation");
        return 0;
    }
    op->sess = st->sess;
    op->sign = st->m.key != NULL;
    op->refs = 1;
    st->sess = NULL;
    st->shared = op;
    return 1;
}

/* Another holder; 0 when a holder has taken the operation on alone. */
static int shared_join(struct p11be_shared_op *op,
                       struct p11be_shared_op **holder)
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

/* The last holder to let go ends an operation nobody took. */
static void shared_leave(struct p11be_shared_op **holder)
{
    struct p11be_shared_op *op = *holder;

    *holder = NULL;
    if (op == NULL || __atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    end_operation(op->sess, op->sign);
    pthread_mutex_destroy(&op->lock);
    OPENSSL_cleanse(op->result, sizeof(op->result)); /* a MAC, maybe */
    OPENSSL_free(op);
}

/*
 * Before more input: the session moves to st, which lets go; 0 when
 * another holder took or finished it (st keeps holding, so that later
 * calls and copies say the same).
 */
static int shared_claim(P11BE_STREAM *st)
{
    P11BE_SESSION *taken =
        __atomic_exchange_n(&st->shared->sess, NULL, __ATOMIC_ACQ_REL);

    if (taken == NULL)
        return 0;
    shared_leave(&st->shared);
    st->sess = taken;
    return 1;
}

/*
 * The first holder's final runs on the token, later ones get what it
 * gave; st lets go. 1, or 0 raised (another holder took the operation, or
 * the token failed).
 */
static int shared_finish(P11BE_STREAM *st, unsigned char *out, size_t *outl)
{
    struct p11be_shared_op *op = st->shared;
    int rc = 1;

    pthread_mutex_lock(&op->lock);
    if (!op->finished) {
        P11BE_SESSION *sess =
            __atomic_exchange_n(&op->sess, NULL, __ATOMIC_ACQ_REL);

        if (sess == NULL)
            rc = 0;
        else if (!finish(st, sess, op->result, sizeof(op->result),
                         &op->result_len))
            rc = -1;
        else
            op->finished = 1;
    }
    if (rc == 1) {
        memcpy(out, op->result, op->result_len);
        *outl = op->result_len;
    }
    pthread_mutex_unlock(&op->lock);
    if (rc == 0)
        raise_taken(st);
    shared_leave(&st->shared);
    return rc == 1;
}

/* ---- the stream ---- */

void p11be_stream_new(P11BE_STREAM *st, P11BE_PROV_CTX *prov, const char *name,
                      int mac)
{
    st->prov = prov;
    st->name = name;
    st->mac = mac;
    st->held = st->held_inline;
    st->held_cap = sizeof(st->held_inline);
}

void p11be_stream_stop(P11BE_STREAM *st)
{
    end_operation(st->sess, st->m.key != NULL);
    st->sess = NULL;
    shared_leave(&st->shared);
    forget_input(st);
    st->ready = 0;
}

int p11be_stream_hold(P11BE_STREAM *st, const unsigned char *in, size_t inl,
                      int prefix)
{
    if (st->held_len + inl > st->held_cap) {
        size_t cap = st->held_cap;
        unsigned char *bigger;

        while (cap < st->held_len + inl)
            cap *= 2;
        bigger = spare_take(st->prov, cap, &cap);
        if (bigger == NULL && (bigger = OPENSSL_malloc(cap)) == NULL) {
            p11be_raise(st->prov->handle, P11BE_R_OUT_OF_MEMORY,
                        "holding %zu bytes of %s input", st->held_len + inl,
                        st->name);
            return 0;
        }
        memcpy(bigger, st->held, st->held_len);
        /* A moved prefix must not stay behind in a spare or freed memory. */
        OPENSSL_cleanse(st->held, st->held_prefix);
        if (st->held != st->held_inline)
            spare_give(st->prov, st->held, st->held_cap);
        st->held = bigger;
        st->held_cap = cap;
    }
    memcpy(st->held + st->held_len, in, inl);
    st->held_len += inl;
    if (prefix)
        st->held_prefix = st->held_len;
    return 1;
}

/*
 * Starts streaming: a session kept until final, C_xInit and the held
 * input. All input so far is held, so a lost session is tried again.
 */
static int start_streaming(P11BE_STREAM *st)
{
    struct stream_call c = {&st->m, st->held, st->held_len,  NULL, NULL,
                            0,      0,        st->refusable, 0};

    if (!stream_run(st->prov, &c, &st->sess)) {
        st->refused = c.refused;
        return 0;
    }
    forget_input(st);
    return 1;
}

/* Whether the stream is started; else raises "KIND STEP without init". */
static int started(const P11BE_STREAM *st, const char *step)
{
    if (!st->ready)
        p11be_raise(st->prov->handle, P11BE_R_BAD_STATE, "%s %s without init%s",
                    st->mac ? "MAC" : "digest", step,
                    step[0] == 'u' ? ", or after final" : ", or twice");
    return st->ready;
}

int p11be_stream_update(P11BE_STREAM *st, const unsigned char *in, size_t inl)
{
    CK_RV rv;

    if (!started(st, "update"))
        return 0;
    if (inl == 0)
        return 1;
    if (st->shared != NULL && !shared_claim(st)) {
        raise_taken(st);
        return 0;
    }
    if (st->sess == NULL) {
        if (st->held_len - st->held_prefix + inl <= st->prov->digest_buffer_max)
            return p11be_stream_hold(st, in, inl, 0);
        if (!start_streaming(st))
            goto out_failed;
    }
    rv = call_update(st->sess, st->m.key != NULL, in, inl);
    if (rv == CKR_OK)
        return 1;
    /* A failed update ends the token's operation. */
    p11be_session_release(st->sess, rv);
    st->sess = NULL;
    raise_token(st->prov, &st->m, "Update", rv);
out_failed:
    st->ready = 0;
    return 0;
}

int p11be_stream_final(P11BE_STREAM *st, unsigned char *out, size_t *outl,
                       size_t outsize)
{
    P11BE_SESSION *sess = st->sess;

    if (!started(st, "final"))
        return 0;
    /*
     * A NULL output asks for the size (STYLE.md) and leaves the operation
     * running. Passed on to C_Digest it would be the token's size query:
     * CKR_OK, and the digest ended without ever being written.
     */
    if (out == NULL) {
        *outl = st->size;
        return 1;
    }
    if (outsize < st->size) {
        p11be_raise(st->prov->handle, P11BE_R_BUFFER_TOO_SMALL,
                    "%s needs %zu bytes of output, got %zu", st->name, st->size,
                    outsize);
        return 0;
    }
    st->ready = 0;
    st->sess = NULL;
    return st->shared == NULL ? finish(st, sess, out, outsize, outl)
                              : shared_finish(st, out, outl);
}

/* Copies a running token operation with C_Get/SetOperationState. */
static int dup_streaming(P11BE_STREAM *src, P11BE_STREAM *dst)
{
    struct stream_call c = {&dst->m, NULL, 0, NULL, NULL, 0, 1, 0, 0};
    unsigned char *state = NULL;
    CK_ULONG state_len = 0;
    int ok;
    CK_RV rv;

    rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                    NULL, &state_len);
    if (rv == CKR_OK && (state = OPENSSL_malloc(state_len)) == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = P11BE_CALL(src->sess->fns, C_GetOperationState, src->sess->handle,
                        state, &state_len);
    if (rv != CKR_OK)
        p11be_raise(src->prov->handle, P11BE_R_DUP_NOT_POSSIBLE,
                    "%s: the token cannot copy a running %s "
                    "(C_GetOperationState: %s)",
                    src->name, src->m.mech_name, p11be_ckr_name(rv));
    c.in = state;
    c.inl = state_len;
    ok = rv == CKR_OK && stream_run(dst->prov, &c, &dst->sess);
    OPENSSL_clear_free(state, state_len);
    return ok;
}

int p11be_stream_dup(P11BE_STREAM *dst, P11BE_STREAM *src)
{
    p11be_stream_new(dst, src->prov, src->name, src->mac);
    dst->m = src->m;
    dst->size = src->size;
    dst->post = src->post;
    dst->ready = src->ready;
    dst->refusable = src->refusable;
    if (src->held_len > 0
        && !p11be_stream_hold(dst, src->held, src->held_len, 0))
        return 0;
    dst->held_prefix = src->held_prefix;
    if (src->sess != NULL) {
        /* Where the token cannot copy it, the two share it. */
        ERR_set_mark();
        if (dup_streaming(src, dst)) {
            ERR_clear_last_mark();
            return 1;
        }
        ERR_pop_to_mark();
        if (!shared_new(src))
            return 0;
    }
    if (src->shared != NULL && !shared_join(src->shared, &dst->shared)) {
        raise_taken(src);
        return 0;
    }
    return 1;
}

void p11be_stream_free(P11BE_STREAM *st)
{
    p11be_stream_stop(st);
    if (st->held != st->held_inline)
        spare_give(st->prov, st->held, st->held_cap);
    st->held = st->held_inline;
    st->held_cap = sizeof(st->held_inline);
}
