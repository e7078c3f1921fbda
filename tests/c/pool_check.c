/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session pool at its bounds (tests/76-session-pool.t). Streaming
 * contexts keep a session until final; these modes make as many of them
 * as the bounds allow and then ask for more work. Every digest and
 * ciphertext is compared with OpenSSL's default provider.
 *
 *   pool_check threads T BYTES   T threads, each streaming a SHA-256
 *                                digest of BYTES bytes (kept open); when
 *                                all are streaming, each does one
 *                                EVP_Digest, then the stream's final;
 *                                prints "threads: ok=.. failed=.. wrong=.."
 *   pool_check contexts N BYTES [R]
 *                                one thread: N streaming SHA-256 contexts
 *                                of BYTES bytes each kept open at once,
 *                                then one EVP_Digest, then every final;
 *                                prints "contexts: open=.. ok=.. failed=..
 *                                wrong=.. oneshot=ok|FAILED|WRONG ms=.."
 *                                and the first error; with R, all of
 *                                that R times over
 *   pool_check cbc N             one thread: N AES-128-CBC encryptions
 *                                streamed in 4 KiB batches, interleaved;
 *                                prints "cbc: ok=.. failed=.. wrong=.."
 *
 * Exit status: 0 unless a result was WRONG (1) or the program could not
 * run (2); failures are for the caller to judge.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "testutil.h"

#define P11          "provider=pkcs11be"
#define MAX_THREADS  64
#define MAX_CONTEXTS 256
#define CBC_BATCH    4096
#define CBC_BATCHES  4

enum result { R_OK, R_FAILED, R_WRONG };

static EVP_MD *sha_p11, *sha_def;
static pthread_barrier_t all_streaming; /* threads: every stream is open */
static EVP_CIPHER *cbc_p11, *cbc_def;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void first_error(char *out, size_t len)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_data(&data, &flags);
    size_t used;

    if (out[0] != '\0' || e == 0)
        return;
    ERR_error_string_n(e, out, len);
    used = strlen(out);
    if ((flags & ERR_TXT_STRING) != 0 && data != NULL && used + 2 < len)
        snprintf(out + used, len - used, ": %s", data);
}

/* The default provider's SHA-256 of `len` bytes of tu_fill(seed). */
static int reference_digest(size_t len, unsigned seed, unsigned char *md)
{
    unsigned char *buf = malloc(len + 1);
    int ok;

    if (buf == NULL)
        return 0;
    tu_fill(buf, len, seed);
    ok = EVP_Digest(buf, len, md, NULL, sha_def, NULL);
    free(buf);
    return ok;
}

/* A pkcs11be SHA-256 context fed `len` bytes: past the held bound, so it
 * keeps a session. NULL on failure. */
static EVP_MD_CTX *stream_open(size_t len, unsigned seed)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(len + 1);
    int ok;

    tu_fill(buf, len, seed);
    ok = ctx != NULL && buf != NULL && EVP_DigestInit_ex2(ctx, sha_p11, NULL)
         && EVP_DigestUpdate(ctx, buf, len / 2)
         && EVP_DigestUpdate(ctx, buf + len / 2, len - len / 2);
    free(buf);
    if (!ok) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static enum result stream_close(EVP_MD_CTX *ctx, size_t len, unsigned seed)
{
    unsigned char got[32], want[32];
    int ok = EVP_DigestFinal_ex(ctx, got, NULL);

    EVP_MD_CTX_free(ctx);
    if (!ok || !reference_digest(len, seed, want))
        return R_FAILED;
    return memcmp(got, want, 32) == 0 ? R_OK : R_WRONG;
}

static enum result one_shot(unsigned seed)
{
    unsigned char msg[100], got[32], want[32];

    tu_fill(msg, sizeof(msg), seed);
    if (!EVP_Digest(msg, sizeof(msg), got, NULL, sha_p11, NULL)
        || !EVP_Digest(msg, sizeof(msg), want, NULL, sha_def, NULL))
        return R_FAILED;
    return memcmp(got, want, 32) == 0 ? R_OK : R_WRONG;
}

static enum result worse(enum result a, enum result b)
{
    return a > b ? a : b;
}

/* ---- threads ---------------------------------------------------------- */

struct worker {
    pthread_t tid;
    unsigned seed;
    size_t bytes;
    enum result res;
    char error[256];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    EVP_MD_CTX *ctx = stream_open(w->bytes, w->seed);

    /* Every thread keeps its session before any asks for one more. */
    pthread_barrier_wait(&all_streaming);
    if (ctx == NULL) {
        w->res = R_FAILED;
    } else {
        w->res = one_shot(w->seed + 1);
        w->res = worse(w->res, stream_close(ctx, w->bytes, w->seed));
    }
    if (w->res == R_FAILED)
        first_error(w->error, sizeof(w->error));
    ERR_clear_error();
    return NULL;
}

static int run_threads(unsigned long threads, size_t bytes)
{
    static struct worker workers[MAX_THREADS];
    unsigned long i, ok = 0, failed = 0, wrong = 0;

    if (threads == 0 || threads > MAX_THREADS
        || pthread_barrier_init(&all_streaming, NULL, (unsigned)threads) != 0)
        return 2;
    for (i = 0; i < threads; i++) {
        workers[i].seed = (unsigned)(i * 131u + 7u);
        workers[i].bytes = bytes;
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])
            != 0)
            return 2;
    }
    for (i = 0; i < threads; i++) {
        pthread_join(workers[i].tid, NULL);
        ok += workers[i].res == R_OK;
        failed += workers[i].res == R_FAILED;
        wrong += workers[i].res == R_WRONG;
        if (workers[i].res == R_FAILED)
            printf("thread %lu: %s\n", i, workers[i].error);
    }
    pthread_barrier_destroy(&all_streaming);
    printf("threads: ok=%lu failed=%lu wrong=%lu\n", ok, failed, wrong);
    return wrong > 0;
}

/* ---- contexts ---------------------------------------------------------- */

static int run_contexts(unsigned long count, size_t bytes)
{
    static EVP_MD_CTX *ctxs[MAX_CONTEXTS];
    unsigned long i, open = 0, ok = 0, failed = 0, wrong = 0;
    enum result shot;
    char error[256] = "";
    long t0 = now_ms();

    if (count == 0 || count > MAX_CONTEXTS)
        return 2;
    for (i = 0; i < count; i++) {
        ctxs[i] = stream_open(bytes, (unsigned)i);
        if (ctxs[i] == NULL) {
            failed++;
            first_error(error, sizeof(error));
        } else {
            open++;
        }
        ERR_clear_error();
    }
    shot = one_shot(999);
    if (shot == R_FAILED)
        first_error(error, sizeof(error));
    ERR_clear_error();
    for (i = 0; i < count; i++) {
        enum result r;

        if (ctxs[i] == NULL)
            continue;
        r = stream_close(ctxs[i], bytes, (unsigned)i);
        ok += r == R_OK;
        failed += r == R_FAILED;
        wrong += r == R_WRONG;
        if (r == R_FAILED)
            first_error(error, sizeof(error));
        ERR_clear_error();
    }
    printf("contexts: open=%lu ok=%lu failed=%lu wrong=%lu oneshot=%s "
           "ms=%ld\n",
           open, ok, failed, wrong,
           shot == R_OK      ? "ok"
           : shot == R_WRONG ? "WRONG"
                             : "FAILED",
           now_ms() - t0);
    if (error[0] != '\0')
        printf("first error: %s\n", error);
    return wrong > 0 || shot == R_WRONG;
}

/* ---- cbc ---------------------------------------------------------------- */

static int run_cbc(unsigned long count)
{
    static EVP_CIPHER_CTX *ctxs[MAX_CONTEXTS];
    static unsigned char out[MAX_CONTEXTS][CBC_BATCH * CBC_BATCHES + 16];
    static unsigned char msg[CBC_BATCH * CBC_BATCHES];
    unsigned char key[16], iv[16], want[sizeof(msg) + 16];
    int lens[MAX_CONTEXTS] = {0}, live[MAX_CONTEXTS] = {0};
    unsigned long i, ok = 0, failed = 0, wrong = 0;
    int b, len, want_len = 0, fin;
    char error[256] = "";
    EVP_CIPHER_CTX *ref;

    if (count == 0 || count > MAX_CONTEXTS)
        return 2;
    tu_fill(key, sizeof(key), 1);
    tu_fill(iv, sizeof(iv), 2);
    tu_fill(msg, sizeof(msg), 3);
    ref = EVP_CIPHER_CTX_new();
    if (ref == NULL || !EVP_EncryptInit_ex2(ref, cbc_def, key, iv, NULL)
        || !EVP_EncryptUpdate(ref, want, &want_len, msg, sizeof(msg))
        || !EVP_EncryptFinal_ex(ref, want + want_len, &fin))
        return 2;
    want_len += fin;
    EVP_CIPHER_CTX_free(ref);

    for (i = 0; i < count; i++) {
        ctxs[i] = EVP_CIPHER_CTX_new();
        live[i] = ctxs[i] != NULL
                  && EVP_EncryptInit_ex2(ctxs[i], cbc_p11, key, iv, NULL);
    }
    /* Batch by batch across all contexts: every one streams at once. */
    for (b = 0; b < CBC_BATCHES; b++)
        for (i = 0; i < count; i++) {
            if (!live[i])
                continue;
            live[i] = EVP_EncryptUpdate(ctxs[i], out[i] + lens[i], &len,
                                        msg + b * CBC_BATCH, CBC_BATCH);
            lens[i] += live[i] ? len : 0;
            if (!live[i])
                first_error(error, sizeof(error));
            ERR_clear_error();
        }
    for (i = 0; i < count; i++) {
        if (live[i] && EVP_EncryptFinal_ex(ctxs[i], out[i] + lens[i], &fin)) {
            lens[i] += fin;
            if (lens[i] == want_len && memcmp(out[i], want, want_len) == 0)
                ok++;
            else
                wrong++;
        } else {
            failed++;
            first_error(error, sizeof(error));
        }
        ERR_clear_error();
        EVP_CIPHER_CTX_free(ctxs[i]);
    }
    printf("cbc: ok=%lu failed=%lu wrong=%lu\n", ok, failed, wrong);
    if (error[0] != '\0')
        printf("first error: %s\n", error);
    return wrong > 0;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    int rc = 2, round;

    if (argc < 3) {
        fprintf(stderr, "usage: pool_check threads T BYTES | contexts N BYTES "
                        "[R] | cbc N\n");
        return 2;
    }
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading the providers"), 2;
    sha_p11 = EVP_MD_fetch(NULL, "SHA256", P11);
    sha_def = EVP_MD_fetch(NULL, "SHA256", "provider=default");
    cbc_p11 = EVP_CIPHER_fetch(NULL, "AES-128-CBC", P11);
    cbc_def = EVP_CIPHER_fetch(NULL, "AES-128-CBC", "provider=default");
    if (sha_p11 == NULL || sha_def == NULL || cbc_p11 == NULL
        || cbc_def == NULL)
        return tu_fail("fetching SHA256 and AES-128-CBC"), 2;
    if (strcmp(argv[1], "threads") == 0 && argc == 4)
        rc =
            run_threads(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    else if (strcmp(argv[1], "contexts") == 0 && (argc == 4 || argc == 5))
        for (round = argc == 5 ? atoi(argv[4]) : 1; round > 0 && rc != 1;
             round--)
            rc = run_contexts(strtoul(argv[2], NULL, 10),
                              strtoul(argv[3], NULL, 10));
    else if (strcmp(argv[1], "cbc") == 0)
        rc = run_cbc(strtoul(argv[2], NULL, 10));
    EVP_MD_free(sha_p11);
    EVP_MD_free(sha_def);
    EVP_CIPHER_free(cbc_p11);
    EVP_CIPHER_free(cbc_def);
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return rc;
}
