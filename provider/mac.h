/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkcs11be's EVP_MAC implementations (mac.c), which the provider's
 * dispatch and the MAC-key signatures (mac_pkey.c) reach.
 */
#ifndef P11BE_MAC_H
#define P11BE_MAC_H

#include <openssl/core.h>

extern const OSSL_ALGORITHM p11be_mac_algorithms[];

#endif
