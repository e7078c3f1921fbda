/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11shim.so: a PKCS#11 module that wraps another one for the tests.
 *
 * P11SHIM_MODULE names the real module (required).  Every entry of the
 * shim's CK_FUNCTION_LIST passes through shim_enter(), which counts the
 * call in the file named by P11SHIM_COUNTS (optional, see
 * p11shim_counts.h) and then lets the wrapper forward to the real module.
 * shim_enter() is also the one place where fault and latency injection
 * will go, so no wrapper needs to change for that.
 *
 * Only C_GetFunctionList is exported (p11shim.map).  There is no
 * C_GetInterface: callers must take the PKCS#11 2.40 path.
 */
#define _GNU_SOURCE /* dladdr() */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "p11shim_counts.h"
#include "p11shim_names.h"

/*
 * The counter file and shim_enter() index functions by their position in
 * CK_FUNCTION_LIST; fail the build if the table and the header ever
 * disagree.
 */
#define SHIM_CHECK_ROW(id, fn)                                                 \
    _Static_assert(offsetof(CK_FUNCTION_LIST, fn) ==                           \
                       offsetof(CK_FUNCTION_LIST, C_Initialize) +              \
                           (id) * sizeof(CK_C_Initialize),                     \
                   #fn " is out of CK_FUNCTION_LIST order");
P11SHIM_FUNCTIONS(SHIM_CHECK_ROW)
#undef SHIM_CHECK_ROW
_Static_assert(sizeof(CK_FUNCTION_LIST) ==
                   offsetof(CK_FUNCTION_LIST, C_Initialize) +
                       P11SHIM_FN_COUNT * sizeof(CK_C_Initialize),
               "CK_FUNCTION_LIST has more entries than the shim's table");

/* Where each function's pointer sits in a CK_FUNCTION_LIST. */
/* clang-format cannot see the rows inside the macro. */
/* clang-format off */
#define SHIM_OFFSET_ROW(id, fn) [id] = offsetof(CK_FUNCTION_LIST, fn),
static const size_t shim_offsets[P11SHIM_FN_COUNT] = {
    P11SHIM_FUNCTIONS(SHIM_OFFSET_ROW)
};
#undef SHIM_OFFSET_ROW
/* clang-format on */

static struct {
    pthread_once_t once;          /* guards shim_load() */
    CK_RV load_rv;                /* CKR_OK once shim_load() succeeded */
    CK_FUNCTION_LIST_PTR real;    /* the wrapped module's list */
    struct p11shim_counts counts; /* counter file; map NULL if not counting */
} shim = {
    .once = PTHREAD_ONCE_INIT,
    .load_rv = CKR_GENERAL_ERROR,
};

/*
 * A test shim has no better channel than stderr, and a silent refusal
 * would leave a test wondering why the module did not load.
 */
static void shim_warn(const char *what, const char *detail)
{
    fprintf(stderr, "p11shim: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

/*
 * Whether fn lives in this very object.  Comparing with the address of
 * C_GetFunctionList would not do: that name is interposable, so with the
 * real module already loaded RTLD_GLOBAL it resolves to the real one.
 */
static int shim_is_self(CK_C_GetFunctionList fn)
{
    Dl_info self;
    Dl_info other;

    return dladdr((void *)shim_C_GetFunctionList, &self) != 0 &&
           dladdr((void *)fn, &other) != 0 && self.dli_fbase == other.dli_fbase;
}

/*
 * Runs once per process (pthread_once).  The module is never dlclosed:
 * callers may hold pointers into it until exit.  If the real module is
 * already loaded by the application, dlopen() hands back the same copy,
 * and both users share its state (C_Initialize then reports
 * CKR_CRYPTOKI_ALREADY_INITIALIZED to the second one, as it would
 * without the shim).
 */
static void shim_load(void)
{
    const char *path = getenv("P11SHIM_MODULE");
    const char *counts_path = getenv("P11SHIM_COUNTS");
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR real = NULL;
    char why[512];
    void *handle;

    if (path == NULL || *path == '\0') {
        shim_warn("P11SHIM_MODULE is not set", NULL);
        return;
    }
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        shim_warn("cannot load P11SHIM_MODULE", dlerror());
        return;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    /* Pointing the shim at itself would recurse forever. */
    if (get_list == NULL || shim_is_self(get_list)) {
        shim_warn("P11SHIM_MODULE has no usable C_GetFunctionList", path);
        goto out_close;
    }
    if (get_list(&real) != CKR_OK || real == NULL) {
        shim_warn("C_GetFunctionList of P11SHIM_MODULE failed", path);
        goto out_close;
    }
    if (counts_path != NULL && *counts_path != '\0' &&
        !p11shim_counts_open(&shim.counts, counts_path,
                             P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE, why,
                             sizeof(why))) {
        shim_warn("cannot use P11SHIM_COUNTS", why);
        goto out_close;
    }
    shim.real = real;
    shim.load_rv = CKR_OK;
    return;
out_close:
    dlclose(handle);
}

/*
 * Every wrapper calls this first; CKR_OK means "forward to the real
 * module", anything else is returned to the caller instead.  Counting is
 * relaxed: the counts are only read after the calls being measured have
 * finished.
 */
static CK_RV shim_enter(enum p11shim_fn fn)
{
    void (*real_fn)(void);

    if (shim.counts.counter != NULL)
        __atomic_fetch_add(&shim.counts.counter[fn], 1, __ATOMIC_RELAXED);
    /*
     * A module that leaves an entry NULL gets the answer the standard
     * gives for a missing function rather than a crash in the wrapper.
     */
    memcpy(&real_fn, (const unsigned char *)shim.real + shim_offsets[fn],
           sizeof(real_fn));
    if (real_fn == NULL)
        return CKR_FUNCTION_NOT_SUPPORTED;
    return CKR_OK;
}

static CK_RV shim_C_Initialize(CK_VOID_PTR init_args)
{
    CK_RV rv = shim_enter(P11SHIM_C_Initialize);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Initialize(init_args);
}

static CK_RV shim_C_Finalize(CK_VOID_PTR reserved)
{
    CK_RV rv = shim_enter(P11SHIM_C_Finalize);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Finalize(reserved);
}

static CK_RV shim_C_GetInfo(CK_INFO_PTR info)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetInfo);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetInfo(info);
}

static CK_RV shim_C_GetSlotList(CK_BBOOL token_present,
                                CK_SLOT_ID_PTR slot_list, CK_ULONG_PTR count)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetSlotList);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetSlotList(token_present, slot_list, count);
}

static CK_RV shim_C_GetSlotInfo(CK_SLOT_ID slot_id, CK_SLOT_INFO_PTR info)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetSlotInfo);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetSlotInfo(slot_id, info);
}

static CK_RV shim_C_GetTokenInfo(CK_SLOT_ID slot_id, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetTokenInfo);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetTokenInfo(slot_id, info);
}

static CK_RV shim_C_GetMechanismList(CK_SLOT_ID slot_id,
                                     CK_MECHANISM_TYPE_PTR mech_list,
                                     CK_ULONG_PTR count)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetMechanismList);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetMechanismList(slot_id, mech_list, count);
}

static CK_RV shim_C_GetMechanismInfo(CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type,
                                     CK_MECHANISM_INFO_PTR info)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetMechanismInfo);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetMechanismInfo(slot_id, type, info);
}

static CK_RV shim_C_InitToken(CK_SLOT_ID slot_id, CK_UTF8CHAR_PTR pin,
                              CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
    CK_RV rv = shim_enter(P11SHIM_C_InitToken);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_InitToken(slot_id, pin, pin_len, label);
}

static CK_RV shim_C_InitPIN(CK_SESSION_HANDLE sess, CK_UTF8CHAR_PTR pin,
                            CK_ULONG pin_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_InitPIN);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_InitPIN(sess, pin, pin_len);
}

static CK_RV shim_C_SetPIN(CK_SESSION_HANDLE sess, CK_UTF8CHAR_PTR old_pin,
                           CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin,
                           CK_ULONG new_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SetPIN);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SetPIN(sess, old_pin, old_len, new_pin, new_len);
}

static CK_RV shim_C_OpenSession(CK_SLOT_ID slot_id, CK_FLAGS flags,
                                CK_VOID_PTR app, CK_NOTIFY notify,
                                CK_SESSION_HANDLE_PTR sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_OpenSession);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_OpenSession(slot_id, flags, app, notify, sess);
}

static CK_RV shim_C_CloseSession(CK_SESSION_HANDLE sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_CloseSession);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_CloseSession(sess);
}

static CK_RV shim_C_CloseAllSessions(CK_SLOT_ID slot_id)
{
    CK_RV rv = shim_enter(P11SHIM_C_CloseAllSessions);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_CloseAllSessions(slot_id);
}

static CK_RV shim_C_GetSessionInfo(CK_SESSION_HANDLE sess,
                                   CK_SESSION_INFO_PTR info)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetSessionInfo);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetSessionInfo(sess, info);
}

static CK_RV shim_C_GetOperationState(CK_SESSION_HANDLE sess, CK_BYTE_PTR state,
                                      CK_ULONG_PTR state_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetOperationState);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetOperationState(sess, state, state_len);
}

static CK_RV shim_C_SetOperationState(CK_SESSION_HANDLE sess, CK_BYTE_PTR state,
                                      CK_ULONG state_len,
                                      CK_OBJECT_HANDLE enc_key,
                                      CK_OBJECT_HANDLE auth_key)
{
    CK_RV rv = shim_enter(P11SHIM_C_SetOperationState);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SetOperationState(sess, state, state_len, enc_key,
                                          auth_key);
}

static CK_RV shim_C_Login(CK_SESSION_HANDLE sess, CK_USER_TYPE user,
                          CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Login);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Login(sess, user, pin, pin_len);
}

static CK_RV shim_C_Logout(CK_SESSION_HANDLE sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_Logout);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Logout(sess);
}

static CK_RV shim_C_CreateObject(CK_SESSION_HANDLE sess, CK_ATTRIBUTE_PTR tmpl,
                                 CK_ULONG count, CK_OBJECT_HANDLE_PTR obj)
{
    CK_RV rv = shim_enter(P11SHIM_C_CreateObject);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_CreateObject(sess, tmpl, count, obj);
}

static CK_RV shim_C_CopyObject(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
                               CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                               CK_OBJECT_HANDLE_PTR new_obj)
{
    CK_RV rv = shim_enter(P11SHIM_C_CopyObject);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_CopyObject(sess, obj, tmpl, count, new_obj);
}

static CK_RV shim_C_DestroyObject(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj)
{
    CK_RV rv = shim_enter(P11SHIM_C_DestroyObject);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DestroyObject(sess, obj);
}

static CK_RV shim_C_GetObjectSize(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
                                  CK_ULONG_PTR size)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetObjectSize);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetObjectSize(sess, obj, size);
}

static CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE sess,
                                      CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetAttributeValue);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetAttributeValue(sess, obj, tmpl, count);
}

static CK_RV shim_C_SetAttributeValue(CK_SESSION_HANDLE sess,
                                      CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    CK_RV rv = shim_enter(P11SHIM_C_SetAttributeValue);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SetAttributeValue(sess, obj, tmpl, count);
}

static CK_RV shim_C_FindObjectsInit(CK_SESSION_HANDLE sess,
                                    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    CK_RV rv = shim_enter(P11SHIM_C_FindObjectsInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_FindObjectsInit(sess, tmpl, count);
}

static CK_RV shim_C_FindObjects(CK_SESSION_HANDLE sess,
                                CK_OBJECT_HANDLE_PTR objs, CK_ULONG max_count,
                                CK_ULONG_PTR count)
{
    CK_RV rv = shim_enter(P11SHIM_C_FindObjects);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_FindObjects(sess, objs, max_count, count);
}

static CK_RV shim_C_FindObjectsFinal(CK_SESSION_HANDLE sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_FindObjectsFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_FindObjectsFinal(sess);
}

static CK_RV shim_C_EncryptInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_EncryptInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_EncryptInit(sess, mech, key);
}

static CK_RV shim_C_Encrypt(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                            CK_ULONG in_len, CK_BYTE_PTR out,
                            CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Encrypt);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Encrypt(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_EncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                  CK_ULONG in_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_EncryptUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_EncryptUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_EncryptFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                 CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_EncryptFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_EncryptFinal(sess, out, out_len);
}

static CK_RV shim_C_DecryptInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_DecryptInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DecryptInit(sess, mech, key);
}

static CK_RV shim_C_Decrypt(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                            CK_ULONG in_len, CK_BYTE_PTR out,
                            CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Decrypt);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Decrypt(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_DecryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                  CK_ULONG in_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DecryptUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DecryptUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_DecryptFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                 CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DecryptFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DecryptFinal(sess, out, out_len);
}

static CK_RV shim_C_DigestInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech)
{
    CK_RV rv = shim_enter(P11SHIM_C_DigestInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DigestInit(sess, mech);
}

static CK_RV shim_C_Digest(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                           CK_ULONG in_len, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Digest);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Digest(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_DigestUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                 CK_ULONG in_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DigestUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DigestUpdate(sess, in, in_len);
}

static CK_RV shim_C_DigestKey(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_DigestKey);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DigestKey(sess, key);
}

static CK_RV shim_C_DigestFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DigestFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DigestFinal(sess, out, out_len);
}

static CK_RV shim_C_SignInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                             CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignInit(sess, mech, key);
}

static CK_RV shim_C_Sign(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                         CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Sign);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Sign(sess, in, in_len, sig, sig_len);
}

static CK_RV shim_C_SignUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                               CK_ULONG in_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignUpdate(sess, in, in_len);
}

static CK_RV shim_C_SignFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                              CK_ULONG_PTR sig_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignFinal(sess, sig, sig_len);
}

static CK_RV shim_C_SignRecoverInit(CK_SESSION_HANDLE sess,
                                    CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignRecoverInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignRecoverInit(sess, mech, key);
}

static CK_RV shim_C_SignRecover(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                CK_ULONG in_len, CK_BYTE_PTR sig,
                                CK_ULONG_PTR sig_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignRecover);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignRecover(sess, in, in_len, sig, sig_len);
}

static CK_RV shim_C_VerifyInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                               CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_VerifyInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_VerifyInit(sess, mech, key);
}

static CK_RV shim_C_Verify(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                           CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_Verify);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_Verify(sess, in, in_len, sig, sig_len);
}

static CK_RV shim_C_VerifyUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                 CK_ULONG in_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_VerifyUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_VerifyUpdate(sess, in, in_len);
}

static CK_RV shim_C_VerifyFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                                CK_ULONG sig_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_VerifyFinal);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_VerifyFinal(sess, sig, sig_len);
}

static CK_RV shim_C_VerifyRecoverInit(CK_SESSION_HANDLE sess,
                                      CK_MECHANISM_PTR mech,
                                      CK_OBJECT_HANDLE key)
{
    CK_RV rv = shim_enter(P11SHIM_C_VerifyRecoverInit);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_VerifyRecoverInit(sess, mech, key);
}

static CK_RV shim_C_VerifyRecover(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                                  CK_ULONG sig_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_VerifyRecover);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_VerifyRecover(sess, sig, sig_len, out, out_len);
}

static CK_RV shim_C_DigestEncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DigestEncryptUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DigestEncryptUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_DecryptDigestUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DecryptDigestUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DecryptDigestUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_SignEncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                      CK_ULONG in_len, CK_BYTE_PTR out,
                                      CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SignEncryptUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SignEncryptUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_DecryptVerifyUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_DecryptVerifyUpdate);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DecryptVerifyUpdate(sess, in, in_len, out, out_len);
}

static CK_RV shim_C_GenerateKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                                CK_OBJECT_HANDLE_PTR key)
{
    CK_RV rv = shim_enter(P11SHIM_C_GenerateKey);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GenerateKey(sess, mech, tmpl, count, key);
}

static CK_RV shim_C_GenerateKeyPair(
    CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl,
    CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
    CK_OBJECT_HANDLE_PTR pub_key, CK_OBJECT_HANDLE_PTR priv_key)
{
    CK_RV rv = shim_enter(P11SHIM_C_GenerateKeyPair);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GenerateKeyPair(sess, mech, pub_tmpl, pub_count,
                                        priv_tmpl, priv_count, pub_key,
                                        priv_key);
}

static CK_RV shim_C_WrapKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                            CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                            CK_BYTE_PTR wrapped, CK_ULONG_PTR wrapped_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_WrapKey);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_WrapKey(sess, mech, wrapping_key, key, wrapped,
                                wrapped_len);
}

static CK_RV shim_C_UnwrapKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                              CK_OBJECT_HANDLE unwrapping_key,
                              CK_BYTE_PTR wrapped, CK_ULONG wrapped_len,
                              CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                              CK_OBJECT_HANDLE_PTR key)
{
    CK_RV rv = shim_enter(P11SHIM_C_UnwrapKey);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_UnwrapKey(sess, mech, unwrapping_key, wrapped,
                                  wrapped_len, tmpl, count, key);
}

static CK_RV shim_C_DeriveKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                              CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE_PTR tmpl,
                              CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
    CK_RV rv = shim_enter(P11SHIM_C_DeriveKey);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_DeriveKey(sess, mech, base_key, tmpl, count, key);
}

static CK_RV shim_C_SeedRandom(CK_SESSION_HANDLE sess, CK_BYTE_PTR seed,
                               CK_ULONG seed_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_SeedRandom);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_SeedRandom(sess, seed, seed_len);
}

static CK_RV shim_C_GenerateRandom(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                   CK_ULONG out_len)
{
    CK_RV rv = shim_enter(P11SHIM_C_GenerateRandom);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GenerateRandom(sess, out, out_len);
}

static CK_RV shim_C_GetFunctionStatus(CK_SESSION_HANDLE sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_GetFunctionStatus);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_GetFunctionStatus(sess);
}

static CK_RV shim_C_CancelFunction(CK_SESSION_HANDLE sess)
{
    CK_RV rv = shim_enter(P11SHIM_C_CancelFunction);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_CancelFunction(sess);
}

static CK_RV shim_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot_id,
                                     CK_VOID_PTR reserved)
{
    CK_RV rv = shim_enter(P11SHIM_C_WaitForSlotEvent);

    if (rv != CKR_OK)
        return rv;
    return shim.real->C_WaitForSlotEvent(flags, slot_id, reserved);
}

static CK_FUNCTION_LIST shim_list = {
    .version = {2, 40},
    .C_Initialize = shim_C_Initialize,
    .C_Finalize = shim_C_Finalize,
    .C_GetInfo = shim_C_GetInfo,
    .C_GetFunctionList = shim_C_GetFunctionList,
    .C_GetSlotList = shim_C_GetSlotList,
    .C_GetSlotInfo = shim_C_GetSlotInfo,
    .C_GetTokenInfo = shim_C_GetTokenInfo,
    .C_GetMechanismList = shim_C_GetMechanismList,
    .C_GetMechanismInfo = shim_C_GetMechanismInfo,
    .C_InitToken = shim_C_InitToken,
    .C_InitPIN = shim_C_InitPIN,
    .C_SetPIN = shim_C_SetPIN,
    .C_OpenSession = shim_C_OpenSession,
    .C_CloseSession = shim_C_CloseSession,
    .C_CloseAllSessions = shim_C_CloseAllSessions,
    .C_GetSessionInfo = shim_C_GetSessionInfo,
    .C_GetOperationState = shim_C_GetOperationState,
    .C_SetOperationState = shim_C_SetOperationState,
    .C_Login = shim_C_Login,
    .C_Logout = shim_C_Logout,
    .C_CreateObject = shim_C_CreateObject,
    .C_CopyObject = shim_C_CopyObject,
    .C_DestroyObject = shim_C_DestroyObject,
    .C_GetObjectSize = shim_C_GetObjectSize,
    .C_GetAttributeValue = shim_C_GetAttributeValue,
    .C_SetAttributeValue = shim_C_SetAttributeValue,
    .C_FindObjectsInit = shim_C_FindObjectsInit,
    .C_FindObjects = shim_C_FindObjects,
    .C_FindObjectsFinal = shim_C_FindObjectsFinal,
    .C_EncryptInit = shim_C_EncryptInit,
    .C_Encrypt = shim_C_Encrypt,
    .C_EncryptUpdate = shim_C_EncryptUpdate,
    .C_EncryptFinal = shim_C_EncryptFinal,
    .C_DecryptInit = shim_C_DecryptInit,
    .C_Decrypt = shim_C_Decrypt,
    .C_DecryptUpdate = shim_C_DecryptUpdate,
    .C_DecryptFinal = shim_C_DecryptFinal,
    .C_DigestInit = shim_C_DigestInit,
    .C_Digest = shim_C_Digest,
    .C_DigestUpdate = shim_C_DigestUpdate,
    .C_DigestKey = shim_C_DigestKey,
    .C_DigestFinal = shim_C_DigestFinal,
    .C_SignInit = shim_C_SignInit,
    .C_Sign = shim_C_Sign,
    .C_SignUpdate = shim_C_SignUpdate,
    .C_SignFinal = shim_C_SignFinal,
    .C_SignRecoverInit = shim_C_SignRecoverInit,
    .C_SignRecover = shim_C_SignRecover,
    .C_VerifyInit = shim_C_VerifyInit,
    .C_Verify = shim_C_Verify,
    .C_VerifyUpdate = shim_C_VerifyUpdate,
    .C_VerifyFinal = shim_C_VerifyFinal,
    .C_VerifyRecoverInit = shim_C_VerifyRecoverInit,
    .C_VerifyRecover = shim_C_VerifyRecover,
    .C_DigestEncryptUpdate = shim_C_DigestEncryptUpdate,
    .C_DecryptDigestUpdate = shim_C_DecryptDigestUpdate,
    .C_SignEncryptUpdate = shim_C_SignEncryptUpdate,
    .C_DecryptVerifyUpdate = shim_C_DecryptVerifyUpdate,
    .C_GenerateKey = shim_C_GenerateKey,
    .C_GenerateKeyPair = shim_C_GenerateKeyPair,
    .C_WrapKey = shim_C_WrapKey,
    .C_UnwrapKey = shim_C_UnwrapKey,
    .C_DeriveKey = shim_C_DeriveKey,
    .C_SeedRandom = shim_C_SeedRandom,
    .C_GenerateRandom = shim_C_GenerateRandom,
    .C_GetFunctionStatus = shim_C_GetFunctionStatus,
    .C_CancelFunction = shim_C_CancelFunction,
    .C_WaitForSlotEvent = shim_C_WaitForSlotEvent,
};

/*
 * Unlike the other entries this one does not forward: the caller must get
 * the shim's list, not the real one.  The list points here rather than at
 * C_GetFunctionList for the same interposition reason as shim_is_self().
 */
static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    CK_RV rv;

    pthread_once(&shim.once, shim_load);
    if (shim.load_rv != CKR_OK)
        return shim.load_rv;
    rv = shim_enter(P11SHIM_C_GetFunctionList);
    if (rv != CKR_OK)
        return rv;
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    *list = &shim_list;
    return CKR_OK;
}

/* The one exported symbol (p11shim.map). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    return shim_C_GetFunctionList(list);
}
