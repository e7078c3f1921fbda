/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the token offers: its mechanisms (the list read when the token is
 * opened), their C_GetMechanismInfo (read once per token and kept), and
 * the parameter sets it turned down although it lists the mechanism.
 * Algorithms are offered statically; init asks here. Digests, MACs and
 * ciphers look up (p11be_mech_lookup) and hand an absent mechanism to the
 * default provider (delegate.h); operations with no other way check
 * (p11be_check_mech, p11be_mech_info) and fail with "... is not supported
 * by the token".
 */
#ifndef P11BE_MECHS_H
#define P11BE_MECHS_H

#include <p11-kit/pkcs11.h>

#include "token_ctx.h"

/*
 * Checks that the token offers `mech` (opening it on first use); raises a
 * "not supported by the token" error naming it otherwise.
 */
int p11be_check_mech(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                     const char *mech_name);

/*
 * The token's C_GetMechanismInfo for `mech` (key sizes, flags). Raises
 * "not supported by the token" naming `mech_name` when the token lacks it.
 */
int p11be_mech_info(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                    const char *mech_name, CK_MECHANISM_INFO *info);

/* Whether the token offers `mech`: 1, or 0 (absent, or not opened: raised). */
int p11be_has_mech(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech);

/* The same for a caller with a plan B: 1 present, 0 absent, -1 raised. */
int p11be_mech_lookup(P11BE_TOKEN_CTX *tc, CK_MECHANISM_TYPE mech,
                      const char *mech_name, CK_MECHANISM_INFO *info);

/*
 * A parameter set the token refused at C_*Init although it lists the
 * mechanism (SoftHSM2 2.6.1: OAEP with a hash other than SHA-1, PSS with
 * MGF1 other than the hash). Learned once per token (kept in the token),
 * so the next call goes straight to the host-padding path.
 */
struct p11be_mech_shape {
    CK_MECHANISM_TYPE mech; /* CKM_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP .. */
    CK_ULONG hash;          /* hashAlg */
    CK_ULONG mgf;           /* CKG_MGF1_* */
};
#define P11BE_REFUSED_MAX 64

int p11be_key_shape_refused(P11BE_TOKEN_CTX *tc,
                            const struct p11be_mech_shape *shape);
void p11be_key_note_refused(P11BE_TOKEN_CTX *tc,
                            const struct p11be_mech_shape *shape);

#endif
