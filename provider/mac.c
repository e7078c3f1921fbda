/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the mac algorithms land: an empty algorithm table. */
#include <openssl/core.h>

const OSSL_ALGORITHM p11be_mac_algorithms[] = {
    {NULL, NULL, NULL, NULL},
};
