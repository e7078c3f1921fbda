/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one table of PKCS#11 2.40 functions shared by the shim, p11count and
 * the counter file.  Rows are in CK_FUNCTION_LIST order, so a row's enum
 * value is both the function's slot in the list and its counter's index in
 * the counter file.  p11shim.c checks that order against the real struct at
 * compile time.
 *
 * Each row is X(enum name, function name).  Both names are spelled out so
 * that grep finds them; the table only ever stringifies, never pastes.
 */
#ifndef P11SHIM_NAMES_H
#define P11SHIM_NAMES_H

#define P11SHIM_FUNCTIONS(X)                                                   \
    X(P11SHIM_C_Initialize, C_Initialize)                                      \
    X(P11SHIM_C_Finalize, C_Finalize)                                          \
    X(P11SHIM_C_GetInfo, C_GetInfo)                                            \
    X(P11SHIM_C_GetFunctionList, C_GetFunctionList)                            \
    X(P11SHIM_C_GetSlotList, C_GetSlotList)                                    \
    X(P11SHIM_C_GetSlotInfo, C_GetSlotInfo)                                    \
    X(P11SHIM_C_GetTokenInfo, C_GetTokenInfo)                                  \
    X(P11SHIM_C_GetMechanismList, C_GetMechanismList)                          \
    X(P11SHIM_C_GetMechanismInfo, C_GetMechanismInfo)                          \
    X(P11SHIM_C_InitToken, C_InitToken)                                        \
    X(P11SHIM_C_InitPIN, C_InitPIN)                                            \
    X(P11SHIM_C_SetPIN, C_SetPIN)                                              \
    X(P11SHIM_C_OpenSession, C_OpenSession)                                    \
    X(P11SHIM_C_CloseSession, C_CloseSession)                                  \
    X(P11SHIM_C_CloseAllSessions, C_CloseAllSessions)                          \
    X(P11SHIM_C_GetSessionInfo, C_GetSessionInfo)                              \
    X(P11SHIM_C_GetOperationState, C_GetOperationState)                        \
    X(P11SHIM_C_SetOperationState, C_SetOperationState)                        \
    X(P11SHIM_C_Login, C_Login)                                                \
    X(P11SHIM_C_Logout, C_Logout)                                              \
    X(P11SHIM_C_CreateObject, C_CreateObject)                                  \
    X(P11SHIM_C_CopyObject, C_CopyObject)                                      \
    X(P11SHIM_C_DestroyObject, C_DestroyObject)                                \
    X(P11SHIM_C_GetObjectSize, C_GetObjectSize)                                \
    X(P11SHIM_C_GetAttributeValue, C_GetAttributeValue)                        \
    X(P11SHIM_C_SetAttributeValue, C_SetAttributeValue)                        \
    X(P11SHIM_C_FindObjectsInit, C_FindObjectsInit)                            \
    X(P11SHIM_C_FindObjects, C_FindObjects)                                    \
    X(P11SHIM_C_FindObjectsFinal, C_FindObjectsFinal)                          \
    X(P11SHIM_C_EncryptInit, C_EncryptInit)                                    \
    X(P11SHIM_C_Encrypt, C_Encrypt)                                            \
    X(P11SHIM_C_EncryptUpdate, C_EncryptUpdate)                                \
    X(P11SHIM_C_EncryptFinal, C_EncryptFinal)                                  \
    X(P11SHIM_C_DecryptInit, C_DecryptInit)                                    \
    X(P11SHIM_C_Decrypt, C_Decrypt)                                            \
    X(P11SHIM_C_DecryptUpdate, C_DecryptUpdate)                                \
    X(P11SHIM_C_DecryptFinal, C_DecryptFinal)                                  \
    X(P11SHIM_C_DigestInit, C_DigestInit)                                      \
    X(P11SHIM_C_Digest, C_Digest)                                              \
    X(P11SHIM_C_DigestUpdate, C_DigestUpdate)                                  \
    X(P11SHIM_C_DigestKey, C_DigestKey)                                        \
    X(P11SHIM_C_DigestFinal, C_DigestFinal)                                    \
    X(P11SHIM_C_SignInit, C_SignInit)                                          \
    X(P11SHIM_C_Sign, C_Sign)                                                  \
    X(P11SHIM_C_SignUpdate, C_SignUpdate)                                      \
    X(P11SHIM_C_SignFinal, C_SignFinal)                                        \
    X(P11SHIM_C_SignRecoverInit, C_SignRecoverInit)                            \
    X(P11SHIM_C_SignRecover, C_SignRecover)                                    \
    X(P11SHIM_C_VerifyInit, C_VerifyInit)                                      \
    X(P11SHIM_C_Verify, C_Verify)                                              \
    X(P11SHIM_C_VerifyUpdate, C_VerifyUpdate)                                  \
    X(P11SHIM_C_VerifyFinal, C_VerifyFinal)                                    \
    X(P11SHIM_C_VerifyRecoverInit, C_VerifyRecoverInit)                        \
    X(P11SHIM_C_VerifyRecover, C_VerifyRecover)                                \
    X(P11SHIM_C_DigestEncryptUpdate, C_DigestEncryptUpdate)                    \
    X(P11SHIM_C_DecryptDigestUpdate, C_DecryptDigestUpdate)                    \
    X(P11SHIM_C_SignEncryptUpdate, C_SignEncryptUpdate)                        \
    X(P11SHIM_C_DecryptVerifyUpdate, C_DecryptVerifyUpdate)                    \
    X(P11SHIM_C_GenerateKey, C_GenerateKey)                                    \
    X(P11SHIM_C_GenerateKeyPair, C_GenerateKeyPair)                            \
    X(P11SHIM_C_WrapKey, C_WrapKey)                                            \
    X(P11SHIM_C_UnwrapKey, C_UnwrapKey)                                        \
    X(P11SHIM_C_DeriveKey, C_DeriveKey)                                        \
    X(P11SHIM_C_SeedRandom, C_SeedRandom)                                      \
    X(P11SHIM_C_GenerateRandom, C_GenerateRandom)                              \
    X(P11SHIM_C_GetFunctionStatus, C_GetFunctionStatus)                        \
    X(P11SHIM_C_CancelFunction, C_CancelFunction)                              \
    X(P11SHIM_C_WaitForSlotEvent, C_WaitForSlotEvent)

/* clang-format cannot see the rows inside the macro. */
/* clang-format off */
#define P11SHIM_ENUM_ROW(id, fn) id,
enum p11shim_fn {
    P11SHIM_FUNCTIONS(P11SHIM_ENUM_ROW)
    P11SHIM_FN_COUNT /* 68 for PKCS#11 2.40 */
};
#undef P11SHIM_ENUM_ROW
/* clang-format on */

/*
 * Defined in p11shim_counts.c, which both the shim and the tools link, so
 * the strings exist once.
 */
extern const char *const p11shim_fn_names[P11SHIM_FN_COUNT];

#endif /* P11SHIM_NAMES_H */
