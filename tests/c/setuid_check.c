/* SPDX-License-Identifier: Apache-2.0 */
/*
 * setuid_check PROVIDER_DIR (tests/17-setuid.t, installed setuid-root in a
 * temporary directory): loads the default provider and pkcs11be from
 * PROVIDER_DIR explicitly (OpenSSL ignores OPENSSL_CONF in a setuid
 * process), runs one SHA-256 on pkcs11be and prints "sha256: ok" or
 * "sha256: failed" with the error queue. Which module pkcs11be loaded, if
 * any, and where it traced are for the caller to see.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

int main(int argc, char **argv)
{
    unsigned char msg[3] = "abc", got[32], want[32];
    unsigned int len = 0;
    EVP_MD *md;
    int ok;

    if (argc != 2) {
        fputs("usage: setuid_check PROVIDER_DIR\n", stderr);
        return 2;
    }
    if (!OSSL_PROVIDER_set_default_search_path(NULL, argv[1])
        || OSSL_PROVIDER_load(NULL, "default") == NULL
        || OSSL_PROVIDER_load(NULL, "pkcs11be") == NULL) {
        printf("cannot load the providers\n");
        ERR_print_errors_fp(stdout);
        return 2;
    }
    md = EVP_MD_fetch(NULL, "SHA2-256", "provider=pkcs11be");
    ok = md != NULL && EVP_Digest(msg, sizeof(msg), got, &len, md, NULL)
         && EVP_Q_digest(NULL, "SHA2-256", "provider=default", msg, sizeof(msg),
                         want, NULL)
         && len == 32 && memcmp(got, want, 32) == 0;
    printf("sha256: %s\n", ok ? "ok" : "failed");
    ERR_print_errors_fp(stdout);
    EVP_MD_free(md);
    return 0;
}
