/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exit() while threads are busy (README, "Exit"): THREADS threads run
 * SHA-256 digests, HMAC-SHA256, AES-256-GCM encryptions and RSA-2048
 * PKCS#1 signatures in a loop, through pkcs11be or OpenSSL's default
 * provider; once every thread has finished an operation, the main thread
 * sleeps MS milliseconds and calls exit(0) without joining them.
 *
 *   exit_check p11be|default THREADS MS [join]
 *
 * With "join" the main thread stops the workers and joins them first: what
 * applications should do. Prints "exiting" just before exit(); the exit
 * status is 0 unless the process crashes during exit (a signal), or could
 * not run (2). The crash rate is for the caller to count; README has the
 * figures. Not a test: it crashes now and then however pkcs11be behaves,
 * in OpenSSL's own clean-up.
 *
 *   exit_check slow-call
 *
 * One digest by the main thread, then a second one in a worker thread
 * whose C_Digest the shim slows down (P11SHIM_FAULTS with latency_us and
 * nth=2); once the shim counts the delay, the main thread calls exit().
 * tests/69-exit.t reads the P11BE_DEBUG log: whether the worker's call
 * ended before the exit hook went on, and what the hook did.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "p11shim_counts.h"
#include "testutil.h"

#define MAX_THREADS 64

static const char *props;        /* "provider=pkcs11be" or "=default" */
static EVP_PKEY *rsa_key;        /* made by the default provider */
static int stop;                 /* join mode: the workers stop */
static int started[MAX_THREADS]; /* a worker finished an operation */

/* One operation of each kind; the results do not matter here. */
static void one_round(unsigned seed)
{
    static const unsigned char key[32] = {1, 2, 3};
    unsigned char msg[1024], out[1024 + 16], sig[256], md[64];
    size_t md_len = sizeof(md), sig_len = sizeof(sig);
    unsigned int dlen;
    int len;
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", props);
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", props);
    EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", props);
    EVP_MAC_CTX *mac_ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    EVP_CIPHER_CTX *cipher_ctx = EVP_CIPHER_CTX_new();
    EVP_PKEY_CTX *sign_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa_key, props);
    OSSL_PARAM mac_params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end()};

    tu_fill(msg, sizeof(msg), seed);
    if (sha256 != NULL)
        EVP_Digest(msg, sizeof(msg), md, &dlen, sha256, NULL);
    if (mac_ctx != NULL && EVP_MAC_init(mac_ctx, key, sizeof(key), mac_params)
        && EVP_MAC_update(mac_ctx, msg, sizeof(msg)))
        EVP_MAC_final(mac_ctx, md, &md_len, sizeof(md));
    if (gcm != NULL && cipher_ctx != NULL
        && EVP_EncryptInit_ex2(cipher_ctx, gcm, key, msg, NULL)
        && EVP_EncryptUpdate(cipher_ctx, out, &len, msg, sizeof(msg)))
        EVP_EncryptFinal_ex(cipher_ctx, out + len, &len);
    if (sign_ctx != NULL && EVP_PKEY_sign_init(sign_ctx) > 0)
        EVP_PKEY_sign(sign_ctx, sig, &sig_len, md, 32);
    EVP_PKEY_CTX_free(sign_ctx);
    EVP_CIPHER_CTX_free(cipher_ctx);
    EVP_MAC_CTX_free(mac_ctx);
    EVP_CIPHER_free(gcm);
    EVP_MAC_free(hmac);
    EVP_MD_free(sha256);
    ERR_clear_error();
}

static void *worker(void *arg)
{
    int index = (int)(size_t)arg;
    unsigned seed = (unsigned)index * 1000;

    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        one_round(seed++);
        __atomic_store_n(&started[index], 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int slow_digest(void)
{
    static const unsigned char msg[] = "abc";
    unsigned char md[32];
    unsigned int md_len;
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", "provider=pkcs11be");
    int ok = sha256 != NULL
             && EVP_Digest(msg, sizeof(msg) - 1, md, &md_len, sha256, NULL);

    EVP_MD_free(sha256);
    return ok;
}

static void *slow_worker(void *arg)
{
    (void)arg;
    slow_digest();
    for (;;)
        pause();
    return NULL;
}

static int run_slow_call(void)
{
    struct p11shim_counts counts;
    const char *path = getenv("P11SHIM_COUNTS");
    char why[256];
    pthread_t worker_thread;
    int i;

    if (!tu_load_providers(NULL, NULL) || !slow_digest()) {
        tu_fail("the first digest");
        return 2;
    }
    if (path == NULL || !p11shim_counts_open(&counts, path, 0, why, sizeof(why))
        || counts.faults == NULL) {
        fprintf(stderr, "exit_check: no shim fault counters (%s)\n",
                path == NULL ? "P11SHIM_COUNTS unset" : why);
        return 2;
    }
    if (pthread_create(&worker_thread, NULL, slow_worker, NULL) != 0)
        return 2;
    for (i = 0;
         i < 30000
         && __atomic_load_n(&counts.faults->delayed, __ATOMIC_ACQUIRE) == 0;
         i++)
        usleep(1000);
    printf("exiting%s\n", i < 30000 ? "" : " (the call was never delayed)");
    fflush(stdout);
    exit(0);
}

int main(int argc, char **argv)
{
    pthread_t threads[MAX_THREADS];
    int count, ms, join, i;

    if (argc == 2 && strcmp(argv[1], "slow-call") == 0)
        return run_slow_call();
    if (argc < 4) {
        fprintf(stderr, "usage: exit_check p11be|default THREADS MS [join] "
                        "| slow-call\n");
        return 2;
    }
    props = strcmp(argv[1], "p11be") == 0 ? "provider=pkcs11be"
                                          : "provider=default";
    count = atoi(argv[2]);
    ms = atoi(argv[3]);
    join = argc > 4 && strcmp(argv[4], "join") == 0;
    if (count < 1 || count > MAX_THREADS || ms < 0
        || !tu_load_providers(NULL, NULL)) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    rsa_key = EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA", (size_t)2048);
    if (rsa_key == NULL) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    for (i = 0; i < count; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(size_t)i) != 0)
            return 2;
    for (i = 0; i < count; i++)
        while (!__atomic_load_n(&started[i], __ATOMIC_ACQUIRE))
            usleep(1000);
    usleep((useconds_t)ms * 1000);
    if (join) {
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (i = 0; i < count; i++)
            pthread_join(threads[i], NULL);
        EVP_PKEY_free(rsa_key);
    }
    printf("exiting\n");
    fflush(stdout);
    exit(0);
}
