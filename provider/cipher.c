/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the cipher algorithms land: an empty algorithm table. */
#include <openssl/core.h>

const OSSL_ALGORITHM p11be_cipher_algorithms[] = {
    {NULL, NULL, NULL, NULL},
};
