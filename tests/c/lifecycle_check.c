/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading and unloading pkcs11be in several library contexts at once
 * (tests/16-module-lifecycle.t): T threads each repeat R times: a new
 * OSSL_LIB_CTX, pkcs11be loaded into it, D SHA-256 digests on the token,
 * pkcs11be unloaded, the context freed. The module is shared by the
 * instances of the moment, so one thread's unload (the last reference:
 * C_Finalize) races another's load (C_Initialize). Every digest is
 * compared with the default provider's. Prints "lifecycle: rounds=..
 * ok=.. failed=.. wrong=.."; exit 0 when every digest was right.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "testutil.h"

#define MAX_THREADS 16

static int rounds, digests;
static const char *provider_dir;
static unsigned char want[64][32]; /* the default provider's digests */
static unsigned char msgs[64][100];

struct result {
    int ok, failed, wrong;
};

static void *worker(void *arg)
{
    struct result *res = arg;
    int r, d;

    for (r = 0; r < rounds; r++) {
        OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *prov = NULL;
        EVP_MD *md = NULL;
        int good = 1;

        if (libctx != NULL
            && OSSL_PROVIDER_set_default_search_path(libctx, provider_dir))
            prov = OSSL_PROVIDER_load(libctx, "pkcs11be");
        if (prov != NULL)
            md = EVP_MD_fetch(libctx, "SHA2-256", "provider=pkcs11be");
        for (d = 0; md != NULL && d < digests; d++) {
            unsigned char got[32];
            unsigned int len = 0;
            int i = (d + r) % 64;

            if (!EVP_Digest(msgs[i], sizeof(msgs[i]), got, &len, md, NULL)) {
                good = 0;
                break;
            }
            if (len != 32 || memcmp(got, want[i], 32) != 0) {
                res->wrong++;
                good = 0;
            }
        }
        if (md == NULL)
            good = 0;
        if (good) {
            res->ok++;
        } else {
            res->failed++;
            ERR_print_errors_fp(stdout);
        }
        ERR_clear_error();
        EVP_MD_free(md);
        OSSL_PROVIDER_unload(prov);
        OSSL_LIB_CTX_free(libctx);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t tids[MAX_THREADS];
    struct result res[MAX_THREADS];
    int threads, i, ok = 0, failed = 0, wrong = 0;

    if (argc != 4 || (threads = atoi(argv[1])) < 1 || threads > MAX_THREADS
        || (rounds = atoi(argv[2])) < 1 || (digests = atoi(argv[3])) < 1) {
        fputs("usage: lifecycle_check THREADS ROUNDS DIGESTS\n", stderr);
        return 2;
    }
    provider_dir = getenv("P11BE_BUILD_DIR");
    if (provider_dir == NULL)
        provider_dir = "build";
    for (i = 0; i < 64; i++) {
        tu_fill(msgs[i], sizeof(msgs[i]), (unsigned)i);
        if (!EVP_Q_digest(NULL, "SHA2-256", "provider=default", msgs[i],
                          sizeof(msgs[i]), want[i], NULL))
            return tu_fail("the default provider's SHA-256"), 2;
    }
    memset(res, 0, sizeof(res));
    for (i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, worker, &res[i]) != 0)
            return tu_fail("pthread_create"), 2;
    for (i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        ok += res[i].ok;
        failed += res[i].failed;
        wrong += res[i].wrong;
    }
    printf("lifecycle: rounds=%d ok=%d failed=%d wrong=%d\n", threads * rounds,
           ok, failed, wrong);
    return ok == threads * rounds ? 0 : 1;
}
