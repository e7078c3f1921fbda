/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmarks' direct way onto the module: see p11open.h. */
#include "p11open.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CK_FUNCTION_LIST *bench_p11_load(const char *module, int *ours, char *why,
                                 size_t why_len)
{
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK};
    CK_FUNCTION_LIST *p11 = NULL;
    CK_C_GetFunctionList get_list;
    void *handle = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_RV rv;

    if (handle == NULL) {
        snprintf(why, why_len, "dlopen: %s", dlerror());
        return NULL;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL || get_list(&p11) != CKR_OK || p11 == NULL) {
        snprintf(why, why_len, "%s: no usable C_GetFunctionList", module);
        return NULL;
    }
    rv = p11->C_Initialize(&init_args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        snprintf(why, why_len, "C_Initialize: CKR 0x%08lx", rv);
        return NULL;
    }
    *ours = rv == CKR_OK;
    return p11;
}

int bench_p11_slot(CK_FUNCTION_LIST *p11, const char *want, CK_SLOT_ID *slot,
                   char *why, size_t why_len)
{
    CK_SLOT_ID slots[64];
    CK_ULONG count = sizeof(slots) / sizeof(slots[0]);
    char *end;
    CK_RV rv;

    if (want != NULL && *want != '\0') {
        errno = 0;
        *slot = strtoul(want, &end, 10);
        if (errno == 0 && *end == '\0')
            return 1;
        snprintf(why, why_len, "bad slot id \"%s\"", want);
        return 0;
    }
    rv = p11->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK || count == 0) {
        snprintf(why, why_len,
                 "C_GetSlotList: CKR 0x%08lx, %lu slots with a token", rv,
                 rv == CKR_OK ? count : 0);
        return 0;
    }
    *slot = slots[0];
    return 1;
}

int bench_p11_login(CK_FUNCTION_LIST *p11, CK_SLOT_ID slot,
                    CK_SESSION_HANDLE session, CK_RV *rv)
{
    const char *pin = getenv("CRYPTOGRAPHY_PKCS11_PASSWORD");
    CK_TOKEN_INFO info;

    *rv = p11->C_GetTokenInfo(slot, &info);
    if (*rv != CKR_OK || (info.flags & CKF_LOGIN_REQUIRED) == 0 || pin == NULL
        || *pin == '\0')
        return 0;
    *rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    if (*rv == CKR_USER_ALREADY_LOGGED_IN)
        *rv = CKR_OK;
    return *rv == CKR_OK;
}
