/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11slot MODULE LABEL: print the id of the slot whose token has LABEL.
 * Modules number slots their own way (p11-kit's proxy renumbers those of
 * the modules behind it), so tests that go through another module find
 * their token by label. Exit 1 when no token has the label.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

/* Whether the blank-padded 32-byte `padded` is `label`. */
static int label_is(const CK_UTF8CHAR *padded, const char *label)
{
    size_t len = strlen(label), i;

    if (len > 32 || memcmp(padded, label, len) != 0)
        return 0;
    for (i = len; i < 32; i++)
        if (padded[i] != ' ')
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    /* The provider's own setting, so that a module needing arguments
     * (NSS's softokn) is listed the way pkcs11be will see it. */
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK,
                                      .pReserved =
                                          getenv("P11BE_MODULE_INIT_ARGS")};
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR p11 = NULL;
    CK_SLOT_ID slots[64];
    CK_ULONG count = 64, i;
    CK_TOKEN_INFO info;
    int ret = 1;
    void *handle;

    if (argc != 3) {
        fputs("usage: p11slot MODULE LABEL\n", stderr);
        return 2;
    }
    handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    get_list = handle == NULL
                   ? NULL
                   : (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL || get_list(&p11) != CKR_OK || p11 == NULL
        || p11->C_Initialize(&init_args) != CKR_OK) {
        fprintf(stderr, "p11slot: cannot initialise %s\n", argv[1]);
        return 2;
    }
    if (p11->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK)
        count = 0;
    for (i = 0; i < count && ret != 0; i++)
        if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK
            && label_is(info.label, argv[2])) {
            printf("%lu\n", (unsigned long)slots[i]);
            ret = 0;
        }
    if (ret != 0)
        fprintf(stderr, "p11slot: no token labelled \"%s\"\n", argv[2]);
    p11->C_Finalize(NULL);
    return ret;
}
