/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder: filled in by the issue-7 work. */
#include <openssl/core.h>

const OSSL_ALGORITHM p11be_store_algorithms[] = {{NULL, NULL, NULL, NULL}};
