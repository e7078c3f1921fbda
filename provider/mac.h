/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkcs11be's EVP_MAC implementations (mac.c), as the provider's dispatch
 * and the MAC-key signatures (mac_pkey.c) reach them.
 */
#ifndef P11BE_MAC_H
#define P11BE_MAC_H

#include <openssl/core.h>

extern const OSSL_ALGORITHM p11be_mac_algorithms[];

/*
 * True when a context made by p11be_mac_algorithms' newctx streams on the
 * token (its input outgrew pkcs11-digest-buffer-max), so that copying it
 * needs the token's C_GetOperationState.
 */
int p11be_mac_streaming(const void *macctx);

#endif
