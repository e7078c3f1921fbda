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
 *     (p11be_shared_op_claim) and goes on alone; the others then fail
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

#include "provider.h"
#include "session.h"

typedef struct p11be_shared_op P11BE_SHARED_OP;

/* Ends a running operation on sess that nobody will finish; gives sess back. */
typedef void p11be_shared_op_end_fn(P11BE_SESSION *sess);

/*
 * Finishes the running operation on sess into out (at most
 * P11BE_SHARED_OP_MAX bytes), gives sess back to the pool, and returns 1;
 * or raises why not and returns 0.
 */
typedef int p11be_shared_op_final_fn(void *arg, P11BE_SESSION *sess,
                                     unsigned char *out, size_t *out_len);

#define P11BE_SHARED_OP_MAX 64 /* EVP_MAX_MD_SIZE: any digest or MAC */

/*
 * Shares the running operation on *sess, which it takes over (*sess is
 * then NULL); the caller holds the first reference. NULL when out of
 * memory (raised), *sess untouched.
 */
P11BE_SHARED_OP *p11be_shared_op_new(const P11BE_PROV_CTX *prov,
                                     P11BE_SESSION **sess,
                                     p11be_shared_op_end_fn *end);

/*
 * Another holder: *holder = op. 0 when a holder has taken the operation on
 * alone (nothing raised: see p11be_shared_op_raise_taken).
 */
int p11be_shared_op_join(P11BE_SHARED_OP *op, P11BE_SHARED_OP **holder);

/* Lets go of *holder (NULL is fine), which is then NULL; the last holder
 * ends the operation if nobody took it. */
void p11be_shared_op_leave(P11BE_SHARED_OP **holder);

/*
 * Before more input: moves the session into *sess and lets go of *holder;
 * 0 when another holder took or finished the operation (*holder is kept,
 * so that later calls and copies say the same; nothing raised).
 */
int p11be_shared_op_claim(P11BE_SHARED_OP **holder, P11BE_SESSION **sess);

/*
 * The result: the first holder's final runs `final` (on the token), later
 * ones get what it gave. 1: out and *out_len set; 0: another holder took
 * the operation (nothing raised); -1: `final` failed (it raised why).
 */
int p11be_shared_op_finish(P11BE_SHARED_OP *op, p11be_shared_op_final_fn *final,
                           void *arg, unsigned char *out, size_t *out_len);

/*
 * "this NAME context was copied past pkcs11-digest-buffer-max ... and a
 * copy has continued or finished the KIND", KIND "digest" or "MAC".
 */
void p11be_shared_op_raise_taken(const P11BE_PROV_CTX *prov, const char *name,
                                 const char *kind);

#endif
