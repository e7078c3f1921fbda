/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CKR_* names P11SHIM_FAULTS may spell out (any other code can be
 * given as a number, 0x... or decimal) and the test programs print.  Each
 * row is X(CKR_NAME); the table only ever stringifies, never pastes.
 */
#ifndef P11SHIM_CKR_H
#define P11SHIM_CKR_H

#include <string.h>

#include <p11-kit/pkcs11.h>

#define P11SHIM_CKRS(X)                                                        \
    X(CKR_OK)                                                                  \
    X(CKR_CANCEL)                                                              \
    X(CKR_HOST_MEMORY)                                                         \
    X(CKR_SLOT_ID_INVALID)                                                     \
    X(CKR_GENERAL_ERROR)                                                       \
    X(CKR_FUNCTION_FAILED)                                                     \
    X(CKR_ARGUMENTS_BAD)                                                       \
    X(CKR_CANT_LOCK)                                                           \
    X(CKR_DATA_INVALID)                                                        \
    X(CKR_DATA_LEN_RANGE)                                                      \
    X(CKR_DEVICE_ERROR)                                                        \
    X(CKR_DEVICE_MEMORY)                                                       \
    X(CKR_DEVICE_REMOVED)                                                      \
    X(CKR_FUNCTION_CANCELED)                                                   \
    X(CKR_FUNCTION_NOT_SUPPORTED)                                              \
    X(CKR_KEY_HANDLE_INVALID)                                                  \
    X(CKR_MECHANISM_INVALID)                                                   \
    X(CKR_OBJECT_HANDLE_INVALID)                                               \
    X(CKR_OPERATION_ACTIVE)                                                    \
    X(CKR_OPERATION_NOT_INITIALIZED)                                           \
    X(CKR_PIN_INCORRECT)                                                       \
    X(CKR_PIN_LOCKED)                                                          \
    X(CKR_SESSION_CLOSED)                                                      \
    X(CKR_SESSION_COUNT)                                                       \
    X(CKR_SESSION_HANDLE_INVALID)                                              \
    X(CKR_SESSION_READ_ONLY)                                                   \
    X(CKR_TOKEN_NOT_PRESENT)                                                   \
    X(CKR_TOKEN_NOT_RECOGNIZED)                                                \
    X(CKR_USER_ALREADY_LOGGED_IN)                                              \
    X(CKR_USER_NOT_LOGGED_IN)                                                  \
    X(CKR_BUFFER_TOO_SMALL)                                                    \
    X(CKR_CRYPTOKI_NOT_INITIALIZED)                                            \
    X(CKR_CRYPTOKI_ALREADY_INITIALIZED)

struct p11shim_ckr {
    CK_RV rv;         /* the code */
    const char *name; /* its CKR_* name */
};

/* clang-format cannot see the rows inside the macro. */
/* clang-format off */
#define P11SHIM_CKR_ROW(name) {name, #name},
static const struct p11shim_ckr p11shim_ckrs[] = {
    P11SHIM_CKRS(P11SHIM_CKR_ROW)
};
#undef P11SHIM_CKR_ROW
/* clang-format on */

#define P11SHIM_CKR_COUNT (sizeof(p11shim_ckrs) / sizeof(p11shim_ckrs[0]))

/* The name of rv; NULL if the table lacks it. */
static inline const char *p11shim_ckr_name(CK_RV rv)
{
    size_t i;

    for (i = 0; i < P11SHIM_CKR_COUNT; i++)
        if (p11shim_ckrs[i].rv == rv)
            return p11shim_ckrs[i].name;
    return NULL;
}

/* The code named `name`; 0 if the table lacks it. */
static inline int p11shim_ckr_value(const char *name, CK_RV *rv)
{
    size_t i;

    for (i = 0; i < P11SHIM_CKR_COUNT; i++) {
        if (strcmp(name, p11shim_ckrs[i].name) == 0) {
            *rv = p11shim_ckrs[i].rv;
            return 1;
        }
    }
    return 0;
}

#endif /* P11SHIM_CKR_H */
