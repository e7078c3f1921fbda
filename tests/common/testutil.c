/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

int tu_fail(const char *what)
{
    printf("FAIL: %s\n", what);
    ERR_print_errors_fp(stdout);
    return 0;
}

void tu_fill(unsigned char *buf, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

int tu_load_providers(OSSL_PROVIDER **p11be, OSSL_PROVIDER **deflt)
{
    const char *dir = getenv("P11BE_BUILD_DIR");
    OSSL_PROVIDER *d, *p;

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    d = OSSL_PROVIDER_load(NULL, "default");
    p = OSSL_PROVIDER_load(NULL, "pkcs11be");
    if (deflt != NULL)
        *deflt = d;
    if (p11be != NULL)
        *p11be = p;
    return d != NULL && p != NULL;
}
