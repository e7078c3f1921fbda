/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A running token operation that copies of a context share, on tokens that
 * cannot copy it (no C_GetOperationState: SoftHSM2 2.6.1 among them).
 *
 * Digest and MAC contexts hold their input on the host up to
 * pkcs11-digest-buffer-max and then stream on a session of their own. A
 * copy of a streaming context needs the token to copy the operation; where
 * it cannot, the context and its copies share the one operation instead:
 *   - the first of them to take more input takes the session
 *     (p11be_shared_op_take) and goes on alone; the others then fail
 *     with a clear error, as their input is no longer the token's;
 *   - copies that only finish all get the result of the first final
 *     (p11be_shared_op_finish): they share the same input;
 *   - the last one to let go ends an operation nobody took.
 * That is the pattern OpenSSL's own copies follow (EVP_DigestSignFinal,
 * CMS and PKCS#7 signing copy a context and finish the copy), and no copy
 * can ever finish an operation over input it did not see.
 */
#ifndef P11BE_SHARED_OP_H
#define P11BE_SHARED_OP_H

#include <stddef.h>

#include "session.h"

typedef struct p11be_shared_op P11BE_SHARED_OP;

/* Ends a running operation on sess that nobody will finish; returns sess. */
typedef void p11be_shared_op_end_fn(P11BE_SESSION *sess);

/*
 * Finishes the running operation on sess into out (at most
 * P11BE_SHARED_OP_MAX bytes), gives sess back to the pool, and returns 1;
 * or raises why not and returns 0.
 */
typedef int p11be_shared_op_final_fn(void *arg, P11BE_SESSION *sess,
                                     unsigned char *out, size_t *out_len);

#define P11BE_SHARED_OP_MAX 64 /* EVP_MAX_MD_SIZE: any digest or MAC */

/* Shares sess's running operation; the caller holds the first reference. */
P11BE_SHARED_OP *p11be_shared_op_new(P11BE_SESSION *sess,
                                     p11be_shared_op_end_fn *end);

/* One more holder; 0 when a holder has taken the operation on alone. */
int p11be_shared_op_join(P11BE_SHARED_OP *op);

/* One holder fewer; the last ends the operation if nobody took it. */
void p11be_shared_op_leave(P11BE_SHARED_OP *op);

/* The session, for more input; NULL when another holder took or ended it. */
P11BE_SESSION *p11be_shared_op_take(P11BE_SHARED_OP *op);

/*
 * The result: the first holder's final runs `final` (on the token), later
 * ones get what it gave. 1: out and *out_len set; 0: another holder took
 * the operation (nothing raised); -1: `final` failed (it raised why).
 */
int p11be_shared_op_finish(P11BE_SHARED_OP *op, p11be_shared_op_final_fn *final,
                           void *arg, unsigned char *out, size_t *out_len);

#endif
