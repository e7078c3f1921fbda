/* SPDX-License-Identifier: Apache-2.0 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static OSSL_FUNC_core_new_error_fn *core_new_error;
static OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
static OSSL_FUNC_core_vset_error_fn *core_vset_error;

static const OSSL_ITEM reason_strings[] = {
    {P11BE_R_MODULE_PATH_NOT_SET,
     "pkcs11-module-path is not set (nor CRYPTOGRAPHY_PKCS11_PATH)"},
    {P11BE_R_MODULE_LOAD_FAILED, "cannot load the PKCS#11 module"},
    {P11BE_R_BAD_SETTING, "invalid pkcs11be setting"},
    {P11BE_R_TOKEN_NOT_FOUND, "no matching PKCS#11 token"},
    {P11BE_R_LOGIN_FAILED, "login to the token failed"},
    {P11BE_R_PIN_REFUSED, "refusing to try the PIN"},
    {P11BE_R_TOKEN_OP_FAILED, "the token refused the operation"},
    {P11BE_R_MECH_NOT_SUPPORTED, "mechanism not supported by the token"},
    {P11BE_R_DUP_NOT_POSSIBLE, "context cannot be duplicated"},
    {P11BE_R_BUFFER_TOO_SMALL, "output buffer too small"},
    {P11BE_R_BAD_STATE, "operation called out of order"},
    {P11BE_R_NO_SESSION, "no PKCS#11 session available"},
    {P11BE_R_OUT_OF_MEMORY, "out of memory"},
    {P11BE_R_INVALID_ARGUMENT, "invalid argument"},
    {P11BE_R_FALLBACK_FAILED,
     "re-entrant call could not be served by the default provider"},
    {P11BE_R_NO_KEY, "no key set"},
    {P11BE_R_OBJECT_NOT_FOUND, "no matching object on the token"},
    {P11BE_R_AMBIGUOUS, "more than one object on the token matches"},
    {P11BE_R_NOT_EXTRACTABLE, "the private key cannot leave the token"},
    {P11BE_R_OVER_BOUND, "more input than a pkcs11be setting allows"},
    {0, NULL},
};

void p11be_err_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in)
{
    (void)handle;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            core_new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            core_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            core_vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
}

const OSSL_ITEM *p11be_err_reason_strings(void)
{
    return reason_strings;
}

void p11be_raise_at(const OSSL_CORE_HANDLE *handle, const char *file, int line,
                    const char *func, int reason, const char *fmt, ...)
{
    va_list ap;

    if (handle == NULL || core_new_error == NULL || core_vset_error == NULL)
        return;
    core_new_error(handle);
    if (core_set_error_debug != NULL)
        core_set_error_debug(handle, file, line, func);
    va_start(ap, fmt);
    core_vset_error(handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

/* Every code's name and class (err.h): the one table of what they mean. */
#define CKR_ROW(name, class)                                                   \
    {                                                                          \
        name, #name, P11BE_CKR_##class                                         \
    }
static const struct {
    CK_RV rv;
    const char *name;
    enum p11be_ckr_class class;
} ckr_table[] = {
    CKR_ROW(CKR_OK, OK),
    CKR_ROW(CKR_CANCEL, OTHER),
    CKR_ROW(CKR_HOST_MEMORY, OTHER),
    CKR_ROW(CKR_SLOT_ID_INVALID, OTHER),
    CKR_ROW(CKR_GENERAL_ERROR, OTHER),
    CKR_ROW(CKR_FUNCTION_FAILED, OTHER),
    CKR_ROW(CKR_ARGUMENTS_BAD, REFUSED),
    CKR_ROW(CKR_NO_EVENT, OTHER),
    CKR_ROW(CKR_NEED_TO_CREATE_THREADS, OTHER),
    CKR_ROW(CKR_CANT_LOCK, OTHER),
    CKR_ROW(CKR_ATTRIBUTE_READ_ONLY, TEMPLATE),
    CKR_ROW(CKR_ATTRIBUTE_SENSITIVE, OTHER),
    CKR_ROW(CKR_ATTRIBUTE_TYPE_INVALID, TEMPLATE),
    CKR_ROW(CKR_ATTRIBUTE_VALUE_INVALID, TEMPLATE),
    CKR_ROW(CKR_ACTION_PROHIBITED, UNSUPPORTED),
    CKR_ROW(CKR_DATA_INVALID, OTHER),
    CKR_ROW(CKR_DATA_LEN_RANGE, OTHER),
    CKR_ROW(CKR_DEVICE_ERROR, OTHER),
    CKR_ROW(CKR_DEVICE_MEMORY, OTHER),
    CKR_ROW(CKR_DEVICE_REMOVED, TOKEN),
    CKR_ROW(CKR_ENCRYPTED_DATA_INVALID, CALLER),
    CKR_ROW(CKR_ENCRYPTED_DATA_LEN_RANGE, CALLER),
    CKR_ROW(CKR_FUNCTION_CANCELED, OTHER),
    CKR_ROW(CKR_FUNCTION_NOT_PARALLEL, OTHER),
    CKR_ROW(CKR_FUNCTION_NOT_SUPPORTED, UNSUPPORTED),
    CKR_ROW(CKR_KEY_HANDLE_INVALID, OBJECT),
    CKR_ROW(CKR_KEY_SIZE_RANGE, CALLER),
    CKR_ROW(CKR_KEY_TYPE_INCONSISTENT, CALLER),
    CKR_ROW(CKR_KEY_NOT_NEEDED, OTHER),
    CKR_ROW(CKR_KEY_CHANGED, OTHER),
    CKR_ROW(CKR_KEY_NEEDED, OTHER),
    CKR_ROW(CKR_KEY_INDIGESTIBLE, OTHER),
    CKR_ROW(CKR_KEY_FUNCTION_NOT_PERMITTED, CALLER),
    CKR_ROW(CKR_KEY_NOT_WRAPPABLE, OTHER),
    CKR_ROW(CKR_KEY_UNEXTRACTABLE, OTHER),
    CKR_ROW(CKR_MECHANISM_INVALID, REFUSED),
    CKR_ROW(CKR_MECHANISM_PARAM_INVALID, REFUSED),
    CKR_ROW(CKR_OBJECT_HANDLE_INVALID, OBJECT),
    CKR_ROW(CKR_OPERATION_ACTIVE, ACTIVE),
    CKR_ROW(CKR_OPERATION_NOT_INITIALIZED, OTHER),
    CKR_ROW(CKR_PIN_INCORRECT, PIN),
    CKR_ROW(CKR_PIN_INVALID, PIN),
    CKR_ROW(CKR_PIN_LEN_RANGE, PIN),
    CKR_ROW(CKR_PIN_EXPIRED, PIN),
    CKR_ROW(CKR_PIN_LOCKED, PIN),
    CKR_ROW(CKR_SESSION_CLOSED, SESSION),
    CKR_ROW(CKR_SESSION_COUNT, OTHER),
    CKR_ROW(CKR_SESSION_HANDLE_INVALID, SESSION),
    CKR_ROW(CKR_SESSION_PARALLEL_NOT_SUPPORTED, OTHER),
    CKR_ROW(CKR_SESSION_READ_ONLY, OTHER),
    CKR_ROW(CKR_SESSION_EXISTS, OTHER),
    CKR_ROW(CKR_SESSION_READ_ONLY_EXISTS, OTHER),
    CKR_ROW(CKR_SESSION_READ_WRITE_SO_EXISTS, OTHER),
    CKR_ROW(CKR_SIGNATURE_INVALID, CALLER),
    CKR_ROW(CKR_SIGNATURE_LEN_RANGE, CALLER),
    CKR_ROW(CKR_TEMPLATE_INCOMPLETE, TEMPLATE),
    CKR_ROW(CKR_TEMPLATE_INCONSISTENT, TEMPLATE),
    CKR_ROW(CKR_TOKEN_NOT_PRESENT, TOKEN),
    CKR_ROW(CKR_TOKEN_NOT_RECOGNIZED, OTHER),
    CKR_ROW(CKR_TOKEN_WRITE_PROTECTED, OTHER),
    CKR_ROW(CKR_UNWRAPPING_KEY_HANDLE_INVALID, OTHER),
    CKR_ROW(CKR_UNWRAPPING_KEY_SIZE_RANGE, OTHER),
    CKR_ROW(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, OTHER),
    CKR_ROW(CKR_USER_ALREADY_LOGGED_IN, OTHER),
    CKR_ROW(CKR_USER_NOT_LOGGED_IN, LOGIN),
    CKR_ROW(CKR_USER_PIN_NOT_INITIALIZED, PIN),
    CKR_ROW(CKR_USER_TYPE_INVALID, PIN),
    CKR_ROW(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, OTHER),
    CKR_ROW(CKR_USER_TOO_MANY_TYPES, OTHER),
    CKR_ROW(CKR_WRAPPED_KEY_INVALID, OTHER),
    CKR_ROW(CKR_WRAPPED_KEY_LEN_RANGE, OTHER),
    CKR_ROW(CKR_WRAPPING_KEY_HANDLE_INVALID, OTHER),
    CKR_ROW(CKR_WRAPPING_KEY_SIZE_RANGE, OTHER),
    CKR_ROW(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, OTHER),
    CKR_ROW(CKR_RANDOM_SEED_NOT_SUPPORTED, OTHER),
    CKR_ROW(CKR_RANDOM_NO_RNG, OTHER),
    CKR_ROW(CKR_DOMAIN_PARAMS_INVALID, TEMPLATE),
    CKR_ROW(CKR_CURVE_NOT_SUPPORTED, TEMPLATE),
    CKR_ROW(CKR_BUFFER_TOO_SMALL, OTHER),
    CKR_ROW(CKR_SAVED_STATE_INVALID, OTHER),
    CKR_ROW(CKR_INFORMATION_SENSITIVE, OTHER),
    CKR_ROW(CKR_STATE_UNSAVEABLE, OTHER),
    CKR_ROW(CKR_CRYPTOKI_NOT_INITIALIZED, OTHER),
    CKR_ROW(CKR_CRYPTOKI_ALREADY_INITIALIZED, OTHER),
    CKR_ROW(CKR_MUTEX_BAD, OTHER),
    CKR_ROW(CKR_MUTEX_NOT_LOCKED, OTHER),
    CKR_ROW(CKR_FUNCTION_REJECTED, OTHER),
};

/* The row of `rv`, or -1. */
static int ckr_row(CK_RV rv)
{
    size_t i;

    for (i = 0; i < sizeof(ckr_table) / sizeof(ckr_table[0]); i++)
        if (ckr_table[i].rv == rv)
            return (int)i;
    return -1;
}

const char *p11be_ckr_name(CK_RV rv)
{
    static __thread char unknown[32];
    int row = ckr_row(rv);

    if (row >= 0)
        return ckr_table[row].name;
    snprintf(unknown, sizeof(unknown), "CKR_0x%lx", (unsigned long)rv);
    return unknown;
}

enum p11be_ckr_class p11be_ckr_class(CK_RV rv)
{
    int row;

    if (rv == CKR_OK)
        return P11BE_CKR_OK;
    row = ckr_row(rv);
    return row >= 0 ? ckr_table[row].class : P11BE_CKR_OTHER;
}

int p11be_ckr_session_lost(CK_RV rv)
{
    enum p11be_ckr_class c = p11be_ckr_class(rv);

    return c == P11BE_CKR_SESSION || c == P11BE_CKR_TOKEN;
}

int p11be_ckr_token_gone(CK_RV rv)
{
    return p11be_ckr_class(rv) == P11BE_CKR_TOKEN;
}

int p11be_ckr_session_clean(CK_RV rv)
{
    enum p11be_ckr_class c = p11be_ckr_class(rv);

    return c == P11BE_CKR_OK || c == P11BE_CKR_CALLER || c == P11BE_CKR_REFUSED
           || c == P11BE_CKR_OBJECT || c == P11BE_CKR_LOGIN;
}

int p11be_ckr_retry(CK_RV rv)
{
    return p11be_ckr_session_lost(rv) || p11be_ckr_class(rv) == P11BE_CKR_LOGIN;
}

int p11be_ckr_refused_for_params(CK_RV rv)
{
    return p11be_ckr_class(rv) == P11BE_CKR_REFUSED;
}

int p11be_ckr_import_refused(CK_RV rv)
{
    enum p11be_ckr_class c = p11be_ckr_class(rv);

    return c == P11BE_CKR_TEMPLATE || c == P11BE_CKR_UNSUPPORTED
           || rv == CKR_SESSION_READ_ONLY || rv == CKR_TOKEN_WRITE_PROTECTED;
}
