/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider's reason codes, the helper that raises them through the
 * core's error upcalls, and the one place that classifies CKR_* codes.
 */
#ifndef P11BE_ERR_H
#define P11BE_ERR_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/proverr.h>
#include <p11-kit/pkcs11.h>

/* Reason codes: a person reads the string, so each names what to fix. */
enum p11be_reason {
    P11BE_R_MODULE_PATH_NOT_SET = 100,
    P11BE_R_MODULE_LOAD_FAILED,
    P11BE_R_BAD_SETTING,
    P11BE_R_TOKEN_NOT_FOUND,
    P11BE_R_LOGIN_FAILED,
    P11BE_R_PIN_REFUSED,
    P11BE_R_TOKEN_OP_FAILED,
    P11BE_R_MECH_NOT_SUPPORTED,
    P11BE_R_DUP_NOT_POSSIBLE,
    P11BE_R_BUFFER_TOO_SMALL,
    P11BE_R_BAD_STATE,
    P11BE_R_NO_SESSION,
    P11BE_R_OUT_OF_MEMORY,
    P11BE_R_INVALID_ARGUMENT,
    P11BE_R_FALLBACK_FAILED,
    P11BE_R_NO_KEY,
    P11BE_R_OBJECT_NOT_FOUND,
    P11BE_R_AMBIGUOUS,
    P11BE_R_NOT_EXTRACTABLE,
    P11BE_R_OVER_BOUND,
    /*
     * OpenSSL's own reasons (ERR_LIB_PROV, its strings), where applications
     * test for them: pyca/cryptography tells a bad decryption and a partial
     * last block apart by them.
     */
    P11BE_R_BAD_DECRYPT = ERR_PACK(ERR_LIB_PROV, 0, PROV_R_BAD_DECRYPT),
    P11BE_R_INVALID_IV_LENGTH =
        ERR_PACK(ERR_LIB_PROV, 0, PROV_R_INVALID_IV_LENGTH),
    P11BE_R_INVALID_KEY_LENGTH =
        ERR_PACK(ERR_LIB_PROV, 0, PROV_R_INVALID_KEY_LENGTH),
    P11BE_R_INVALID_TAG = ERR_PACK(ERR_LIB_PROV, 0, PROV_R_INVALID_TAG),
    P11BE_R_KEY_SIZE_TOO_SMALL =
        ERR_PACK(ERR_LIB_PROV, 0, PROV_R_KEY_SIZE_TOO_SMALL),
    P11BE_R_OUTPUT_BUFFER_TOO_SMALL =
        ERR_PACK(ERR_LIB_PROV, 0, PROV_R_OUTPUT_BUFFER_TOO_SMALL),
    P11BE_R_WRONG_FINAL_BLOCK_LENGTH =
        ERR_PACK(ERR_LIB_PROV, 0, PROV_R_WRONG_FINAL_BLOCK_LENGTH),
};

/* Remember the core's error functions; called once from provider init. */
void p11be_err_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in);

/* The provider's reason strings, for OSSL_FUNC_PROVIDER_GET_REASON_STRINGS. */
const OSSL_ITEM *p11be_err_reason_strings(void);

/*
 * Raise an error on the calling thread's queue with a message that says
 * what happened (for token failures: the C_* function and the CKR_* name).
 * `handle` may be NULL before the provider has one; the message is then
 * dropped.
 */
#define p11be_raise(handle, reason, ...)                                       \
    p11be_raise_at((handle), OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC,         \
                   (reason), __VA_ARGS__)
void p11be_raise_at(const OSSL_CORE_HANDLE *handle, const char *file, int line,
                    const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * What a CKR_* code means for the session it came from and for the
 * operation: one table (err.c) that the pool, the runner (runner.h), the
 * objects and the login read.
 */
enum p11be_ckr_class {
    P11BE_CKR_OK,
    P11BE_CKR_CALLER,      /* the input or key is wrong (a bad signature, a
                              key the token will not use for it): no retry */
    P11BE_CKR_REFUSED,     /* the mechanism or its parameters, refused at
                              C_*Init: another way (the host) may serve */
    P11BE_CKR_OBJECT,      /* the handle is unknown: its object may have gone
                              with its session (objects.h), or a logout */
    P11BE_CKR_LOGIN,       /* the login went: log in again and retry */
    P11BE_CKR_SESSION,     /* the session went: drop it, retry on another */
    P11BE_CKR_TOKEN,       /* the token went: every session and the login */
    P11BE_CKR_ACTIVE,      /* an operation still runs on the session (an
                              earlier failure, a short buffer): close it */
    P11BE_CKR_TEMPLATE,    /* the object's template is refused (its
                              attributes, curve or domain parameters) */
    P11BE_CKR_UNSUPPORTED, /* the token does not make such an object */
    P11BE_CKR_PIN,         /* the PIN or user is refused: never try again */
    P11BE_CKR_OTHER,       /* anything else: the session may be dirty */
};

/* The class of `rv` (P11BE_CKR_OTHER for a code the table lacks). */
enum p11be_ckr_class p11be_ckr_class(CK_RV rv);

/* "CKR_PIN_INCORRECT", or "CKR_0x%lx" for a code the table lacks. */
const char *p11be_ckr_name(CK_RV rv);

/* The session is gone (P11BE_CKR_SESSION or _TOKEN): try another. */
int p11be_ckr_session_lost(CK_RV rv);
/* The token itself went away: every session and the login are gone. */
int p11be_ckr_token_gone(CK_RV rv);
/*
 * The operation failed but the session is clean: the pool keeps it
 * (P11BE_CKR_CALLER, _REFUSED, _OBJECT and _LOGIN).
 */
int p11be_ckr_session_clean(CK_RV rv);
/* Another session (after a new login) may succeed: lost or logged out. */
int p11be_ckr_retry(CK_RV rv);
/*
 * The token refused the mechanism or its parameters (at C_*Init): the
 * work may go another way (host padding; delegation to the default
 * provider).
 */
int p11be_ckr_refused_for_params(CK_RV rv);
/*
 * The token will not take the object as asked (its template, or objects
 * made at all: tpm2-pkcs11 answers a secret-key import with
 * CKR_SESSION_READ_ONLY): the work may go to the default provider.
 */
int p11be_ckr_import_refused(CK_RV rv);

/*
 * What to suspect when C_FindObjects finds nothing the key names: the end
 * of a "not found" message, after "likely causes: ".
 */
#define P11BE_NOT_FOUND_CAUSES                                                 \
    "the token's objects are not visible to this user or process (a "          \
    "worker running as another user, a token store it cannot read), it is "    \
    "not logged in (private objects need the PIN), or it uses another "        \
    "token (pkcs11-token-label, pkcs11-slot-id)"

#endif
