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

#define CKR_ROW(name)                                                          \
    {                                                                          \
        name, #name                                                            \
    }
static const struct {
    CK_RV rv;
    const char *name;
} ckr_names[] = {
    CKR_ROW(CKR_OK),
    CKR_ROW(CKR_CANCEL),
    CKR_ROW(CKR_HOST_MEMORY),
    CKR_ROW(CKR_SLOT_ID_INVALID),
    CKR_ROW(CKR_GENERAL_ERROR),
    CKR_ROW(CKR_FUNCTION_FAILED),
    CKR_ROW(CKR_ARGUMENTS_BAD),
    CKR_ROW(CKR_NO_EVENT),
    CKR_ROW(CKR_NEED_TO_CREATE_THREADS),
    CKR_ROW(CKR_CANT_LOCK),
    CKR_ROW(CKR_ATTRIBUTE_READ_ONLY),
    CKR_ROW(CKR_ATTRIBUTE_SENSITIVE),
    CKR_ROW(CKR_ATTRIBUTE_TYPE_INVALID),
    CKR_ROW(CKR_ATTRIBUTE_VALUE_INVALID),
    CKR_ROW(CKR_ACTION_PROHIBITED),
    CKR_ROW(CKR_DATA_INVALID),
    CKR_ROW(CKR_DATA_LEN_RANGE),
    CKR_ROW(CKR_DEVICE_ERROR),
    CKR_ROW(CKR_DEVICE_MEMORY),
    CKR_ROW(CKR_DEVICE_REMOVED),
    CKR_ROW(CKR_ENCRYPTED_DATA_INVALID),
    CKR_ROW(CKR_ENCRYPTED_DATA_LEN_RANGE),
    CKR_ROW(CKR_FUNCTION_CANCELED),
    CKR_ROW(CKR_FUNCTION_NOT_PARALLEL),
    CKR_ROW(CKR_FUNCTION_NOT_SUPPORTED),
    CKR_ROW(CKR_KEY_HANDLE_INVALID),
    CKR_ROW(CKR_KEY_SIZE_RANGE),
    CKR_ROW(CKR_KEY_TYPE_INCONSISTENT),
    CKR_ROW(CKR_KEY_NOT_NEEDED),
    CKR_ROW(CKR_KEY_CHANGED),
    CKR_ROW(CKR_KEY_NEEDED),
    CKR_ROW(CKR_KEY_INDIGESTIBLE),
    CKR_ROW(CKR_KEY_FUNCTION_NOT_PERMITTED),
    CKR_ROW(CKR_KEY_NOT_WRAPPABLE),
    CKR_ROW(CKR_KEY_UNEXTRACTABLE),
    CKR_ROW(CKR_MECHANISM_INVALID),
    CKR_ROW(CKR_MECHANISM_PARAM_INVALID),
    CKR_ROW(CKR_OBJECT_HANDLE_INVALID),
    CKR_ROW(CKR_OPERATION_ACTIVE),
    CKR_ROW(CKR_OPERATION_NOT_INITIALIZED),
    CKR_ROW(CKR_PIN_INCORRECT),
    CKR_ROW(CKR_PIN_INVALID),
    CKR_ROW(CKR_PIN_LEN_RANGE),
    CKR_ROW(CKR_PIN_EXPIRED),
    CKR_ROW(CKR_PIN_LOCKED),
    CKR_ROW(CKR_SESSION_CLOSED),
    CKR_ROW(CKR_SESSION_COUNT),
    CKR_ROW(CKR_SESSION_HANDLE_INVALID),
    CKR_ROW(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    CKR_ROW(CKR_SESSION_READ_ONLY),
    CKR_ROW(CKR_SESSION_EXISTS),
    CKR_ROW(CKR_SESSION_READ_ONLY_EXISTS),
    CKR_ROW(CKR_SESSION_READ_WRITE_SO_EXISTS),
    CKR_ROW(CKR_SIGNATURE_INVALID),
    CKR_ROW(CKR_SIGNATURE_LEN_RANGE),
    CKR_ROW(CKR_TEMPLATE_INCOMPLETE),
    CKR_ROW(CKR_TEMPLATE_INCONSISTENT),
    CKR_ROW(CKR_TOKEN_NOT_PRESENT),
    CKR_ROW(CKR_TOKEN_NOT_RECOGNIZED),
    CKR_ROW(CKR_TOKEN_WRITE_PROTECTED),
    CKR_ROW(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
    CKR_ROW(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    CKR_ROW(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    CKR_ROW(CKR_USER_ALREADY_LOGGED_IN),
    CKR_ROW(CKR_USER_NOT_LOGGED_IN),
    CKR_ROW(CKR_USER_PIN_NOT_INITIALIZED),
    CKR_ROW(CKR_USER_TYPE_INVALID),
    CKR_ROW(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    CKR_ROW(CKR_USER_TOO_MANY_TYPES),
    CKR_ROW(CKR_WRAPPED_KEY_INVALID),
    CKR_ROW(CKR_WRAPPED_KEY_LEN_RANGE),
    CKR_ROW(CKR_WRAPPING_KEY_HANDLE_INVALID),
    CKR_ROW(CKR_WRAPPING_KEY_SIZE_RANGE),
    CKR_ROW(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    CKR_ROW(CKR_RANDOM_SEED_NOT_SUPPORTED),
    CKR_ROW(CKR_RANDOM_NO_RNG),
    CKR_ROW(CKR_DOMAIN_PARAMS_INVALID),
    CKR_ROW(CKR_CURVE_NOT_SUPPORTED),
    CKR_ROW(CKR_BUFFER_TOO_SMALL),
    CKR_ROW(CKR_SAVED_STATE_INVALID),
    CKR_ROW(CKR_INFORMATION_SENSITIVE),
    CKR_ROW(CKR_STATE_UNSAVEABLE),
    CKR_ROW(CKR_CRYPTOKI_NOT_INITIALIZED),
    CKR_ROW(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    CKR_ROW(CKR_MUTEX_BAD),
    CKR_ROW(CKR_MUTEX_NOT_LOCKED),
    CKR_ROW(CKR_FUNCTION_REJECTED),
};

const char *p11be_ckr_name(CK_RV rv)
{
    static __thread char unknown[32];
    size_t i;

    for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
        if (ckr_names[i].rv == rv)
            return ckr_names[i].name;
    snprintf(unknown, sizeof(unknown), "CKR_0x%lx", (unsigned long)rv);
    return unknown;
}

int p11be_ckr_session_lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED
           || p11be_ckr_token_gone(rv);
}

int p11be_ckr_token_gone(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}
