/* SPDX-License-Identifier: Apache-2.0 */
/* The provider's capabilities (capabilities.c): "TLS-GROUP". */
#ifndef P11BE_CAPABILITIES_H
#define P11BE_CAPABILITIES_H

#include <openssl/core.h>

/* OSSL_FUNC_PROVIDER_GET_CAPABILITIES. */
int p11be_get_capabilities(void *provctx, const char *capability,
                           OSSL_CALLBACK *cb, void *arg);

#endif
