/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmarks' direct way onto the module (p11bench's "direct",
 * p11tlsbench's "token"): load it, find the slot, log in as pkcs11be
 * would. Shared by run.c and tlsbench.c.
 */
#ifndef P11BENCH_P11OPEN_H
#define P11BENCH_P11OPEN_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/*
 * dlopens module (never dlclosed) and calls C_Initialize (OS locking);
 * CKR_CRYPTOKI_ALREADY_INITIALIZED is fine: *ours says whether ours was
 * the call that did it. NULL, with the reason in why, on failure.
 */
CK_FUNCTION_LIST *bench_p11_load(const char *module, int *ours, char *why,
                                 size_t why_len);

/* The slot `want` names (decimal), or the first one holding a token. */
int bench_p11_slot(CK_FUNCTION_LIST *p11, const char *want, CK_SLOT_ID *slot,
                   char *why, size_t why_len);

/*
 * Logs session's application in when the token reports CKF_LOGIN_REQUIRED
 * and CRYPTOGRAPHY_PKCS11_PASSWORD is set, as pkcs11be does before it
 * makes a private key CKA_PRIVATE (keyobj.c). 1 if logged in (now or
 * before), 0 if not (*rv says whether that is a failure).
 */
int bench_p11_login(CK_FUNCTION_LIST *p11, CK_SLOT_ID slot,
                    CK_SESSION_HANDLE session, CK_RV *rv);

#endif
