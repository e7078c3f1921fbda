/* SPDX-License-Identifier: Apache-2.0 */
/*
 * initargs_check CONFIG... (tests/18-module-init-args.t): for each OpenSSL
 * config file in turn, a new library context loads it (each activates
 * pkcs11be and the default provider) and runs SHA-256 of "abc" on
 * pkcs11be, printing "CONFIG: ok" when it matches the default provider or
 * "CONFIG: failed" and the error queue. Every context lives until the end,
 * so the instances are loaded at the same time and share their module.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#define MAX_CONFIGS 8

int main(int argc, char **argv)
{
    static const unsigned char msg[3] = "abc";
    OSSL_LIB_CTX *libctx[MAX_CONFIGS] = {NULL};
    unsigned char want[32];
    int i;

    if (argc < 2 || argc > MAX_CONFIGS + 1) {
        fputs("usage: initargs_check CONFIG...\n", stderr);
        return 2;
    }
    if (!EVP_Q_digest(NULL, "SHA2-256", "provider=default", msg, sizeof(msg),
                      want, NULL)) {
        ERR_print_errors_fp(stdout);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        unsigned char got[32];
        int ok;

        libctx[i - 1] = OSSL_LIB_CTX_new();
        ok = libctx[i - 1] != NULL
             && OSSL_LIB_CTX_load_config(libctx[i - 1], argv[i])
             && EVP_Q_digest(libctx[i - 1], "SHA2-256", "provider=pkcs11be",
                             msg, sizeof(msg), got, NULL)
             && memcmp(got, want, 32) == 0;
        printf("%s: %s\n", argv[i], ok ? "ok" : "failed");
        ERR_print_errors_fp(stdout);
    }
    for (i = 0; i < MAX_CONFIGS; i++)
        OSSL_LIB_CTX_free(libctx[i]);
    return 0;
}
