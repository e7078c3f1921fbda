/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fault recovery checks (tests/6x-faults*.t, scripts/faults): runs
 * digests and HMACs through pkcs11be while p11shim.so injects the faults
 * P11SHIM_FAULTS asks for, and compares every result with OpenSSL's
 * default provider. A result that differs is WRONG, whatever else happens;
 * a failure must come with an error in the queue.
 *
 *   fault_check ops OP...      the operations in order, one line each:
 *                              "N OP ok", "N OP ERR: <errors>" or
 *                              "N OP WRONG"
 *   fault_check threads T N [MIX]
 *                              T threads x N operations taken in turn
 *                              from MIX (OPs joined by ',', default
 *                              sha256,hmac,sha256,hmac,hmac-new,stream);
 *                              prints "threads: ops=.. ok=.. failed=..
 *                              wrong=..", then "errors: CKR_X=N ..." (the
 *                              last CKR_* name in each failure's errors)
 *   fault_check campaign T N [MIX]
 *                              the same, also reading the shim's fault
 *                              counters; prints "campaign: ops=..
 *                              injected=.. recovered=.. failed=..
 *                              wrong=.."
 *
 * OP is one of (optionally "xCOUNT", e.g. sha256x5):
 *   sha256     one-shot SHA-256 (a held message: C_DigestInit + C_Digest)
 *   stream     SHA-256 of 10000 bytes in 1000-byte updates (streams on
 *              the token when P11BE_DIGEST_BUFFER_MAX is below that)
 *   hmac       HMAC-SHA256 with one key kept for the whole run (its key
 *              object is made once, re-made after a token removal)
 *   hmac-new   HMAC-SHA256 with a new key (C_CreateObject each time)
 *   warm=K     K streaming digests open at once, so that the pool holds
 *              K sessions, then finished
 *   remove     `$P11COUNT --remove`: the token is pulled out and put back
 *
 * Exit status: 0 unless a result was WRONG (1) or the program could not
 * run (2). Failures are for the caller to judge. "recovered" counts the
 * faults the shim injected into an operation that still succeeded; the
 * shim counts injected faults by thread, so this holds with threads too.
 */
#define _GNU_SOURCE /* gettid() */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "p11shim_counts.h"
#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define STREAM_LEN   10000 /* bytes of a "stream" digest */
#define STREAM_CHUNK 1000  /* its updates */
#define WARM_LEN     5000  /* bytes each "warm" context holds */
#define MAX_WARM     64    /* contexts "warm" may open */
#define MAX_THREADS  64    /* for threads and campaign */
#define KEY_LEN      32    /* HMAC keys */
#define MAX_MIX      16    /* operations in a MIX */
#define MAX_CODES    16    /* distinct CKR_* names in failures */

enum op_result {
    OP_OK,
    OP_FAILED, /* an error, with a reason in the queue */
    OP_WRONG,  /* a result that differs from the default provider's */
};

/* How many failures named one CKR_* code last. */
struct code_count {
    char name[48];       /* "CKR_..." or "other" */
    unsigned long count; /* failures */
};

/* What one thread needs to run operations. */
struct worker {
    EVP_MAC_CTX *hmac_ctx;              /* keyed once; NULL until first hmac */
    unsigned char key[KEY_LEN];         /* its key */
    int keyed;                          /* an init with the key succeeded */
    unsigned seed;                      /* varies messages and keys */
    unsigned long first;                /* where in the mix the thread starts */
    unsigned long ops;                  /* threads/campaign: ops to run */
    unsigned long ok;                   /* results */
    unsigned long failed;               /* ... */
    unsigned long wrong;                /* ... */
    uint64_t charged;                   /* faults injected into failed ops */
    unsigned slot;                      /* in the shim's by_thread counters */
    char last_error[512];               /* of the last failed op */
    struct code_count codes[MAX_CODES]; /* failures by code */
    pthread_t tid;                      /* valid when started */
};

static EVP_MD *md_p11, *md_def;
static EVP_MAC *mac_p11, *mac_def;
static struct p11shim_counts counts; /* campaign: the shim's counter file */
static char mix_text[256] = "sha256,hmac,sha256,hmac,hmac-new,stream";
static const char *mix[MAX_MIX]; /* threads/campaign: from mix_text */
static size_t mix_count;         /* entries in mix */

static int load_providers(void)
{
    const char *dir = getenv("P11BE_BUILD_DIR");

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    if (OSSL_PROVIDER_load(NULL, "pkcs11be") == NULL
        || OSSL_PROVIDER_load(NULL, "default") == NULL)
        return 0;
    md_p11 = EVP_MD_fetch(NULL, "SHA2-256", P11);
    md_def = EVP_MD_fetch(NULL, "SHA2-256", DEF);
    mac_p11 = EVP_MAC_fetch(NULL, "HMAC", P11);
    mac_def = EVP_MAC_fetch(NULL, "HMAC", DEF);
    return md_p11 != NULL && md_def != NULL && mac_p11 != NULL
           && mac_def != NULL;
}

/* The error queue as one line (and emptied); "(no error)" if empty. */
static void take_errors(char *out, size_t out_len)
{
    const char *data;
    unsigned long e;
    size_t used = 0;
    int flags;

    snprintf(out, out_len, "(no error)");
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *reason = ERR_reason_error_string(e);

        if (used < out_len)
            used += (size_t)snprintf(
                out + used, out_len - used, "%s%s: %s", used > 0 ? " | " : "",
                reason != NULL ? reason : "?",
                (flags & ERR_TXT_STRING) && data != NULL ? data : "");
    }
}

static int digest_default(const unsigned char *in, size_t len,
                          unsigned char *out)
{
    unsigned int out_len = 0;

    return EVP_Digest(in, len, out, &out_len, md_def, NULL) && out_len == 32;
}

static enum op_result op_sha256(struct worker *w)
{
    unsigned char msg[300], got[32], want[32];
    size_t len = (w->seed++ * 37u) % sizeof(msg);
    unsigned int got_len = 0;

    tu_fill(msg, len, w->seed);
    if (!digest_default(msg, len, want))
        return OP_FAILED;
    memset(got, 0, sizeof(got));
    if (!EVP_Digest(msg, len, got, &got_len, md_p11, NULL))
        return OP_FAILED;
    return got_len == 32 && memcmp(got, want, 32) == 0 ? OP_OK : OP_WRONG;
}

static enum op_result op_stream(struct worker *w)
{
    unsigned char msg[STREAM_LEN];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char got[32], want[32];
    unsigned int got_len = 0;
    enum op_result res = OP_FAILED;
    size_t done;

    tu_fill(msg, sizeof(msg), 7); /* the same for every thread */
    if (ctx == NULL || !digest_default(msg, sizeof(msg), want)
        || !EVP_DigestInit_ex2(ctx, md_p11, NULL))
        goto out_free;
    for (done = 0; done < sizeof(msg); done += STREAM_CHUNK)
        if (!EVP_DigestUpdate(ctx, msg + done, STREAM_CHUNK))
            goto out_free;
    memset(got, 0, sizeof(got));
    if (!EVP_DigestFinal_ex(ctx, got, &got_len))
        goto out_free;
    res = got_len == 32 && memcmp(got, want, 32) == 0 ? OP_OK : OP_WRONG;
out_free:
    (void)w;
    EVP_MD_CTX_free(ctx);
    return res;
}

static EVP_MAC_CTX *hmac_new(EVP_MAC *mac, const char *props)
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[3];

    if (ctx == NULL)
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA2-256", 0);
    /* The default provider's HMAC must not fetch its hash from pkcs11be. */
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES,
                                                 (char *)props, 0);
    params[2] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* HMAC-SHA256 of msg under key with the default provider. */
static int hmac_default(const unsigned char *key, const unsigned char *msg,
                        size_t len, unsigned char *out)
{
    EVP_MAC_CTX *ctx = hmac_new(mac_def, DEF);
    size_t out_len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, key, KEY_LEN, NULL)
             && EVP_MAC_update(ctx, msg, len)
             && EVP_MAC_final(ctx, out, &out_len, 32) && out_len == 32;

    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* One MAC on ctx (pkcs11be); key NULL: the key ctx already has. */
static enum op_result hmac_on(EVP_MAC_CTX *ctx, const unsigned char *key,
                              const unsigned char *want_key, unsigned seed)
{
    unsigned char msg[200], got[32], want[32];
    size_t len = (seed * 13u) % sizeof(msg), got_len = 0;

    tu_fill(msg, len, seed);
    if (!hmac_default(want_key, msg, len, want))
        return OP_FAILED;
    memset(got, 0, sizeof(got));
    if (!EVP_MAC_init(ctx, key, key != NULL ? KEY_LEN : 0, NULL)
        || !EVP_MAC_update(ctx, msg, len)
        || !EVP_MAC_final(ctx, got, &got_len, sizeof(got)))
        return OP_FAILED;
    return got_len == 32 && memcmp(got, want, 32) == 0 ? OP_OK : OP_WRONG;
}

static enum op_result op_hmac(struct worker *w)
{
    enum op_result res;

    if (w->hmac_ctx == NULL) {
        w->hmac_ctx = hmac_new(mac_p11, P11);
        if (w->hmac_ctx == NULL)
            return OP_FAILED;
        tu_fill(w->key, KEY_LEN, w->seed + 1000);
    }
    /* Once keyed, a NULL key reuses the key (and its token object). */
    res = hmac_on(w->hmac_ctx, w->keyed ? NULL : w->key, w->key, w->seed++);
    if (res == OP_OK)
        w->keyed = 1;
    return res;
}

static enum op_result op_hmac_new(struct worker *w)
{
    EVP_MAC_CTX *ctx = hmac_new(mac_p11, P11);
    unsigned char key[KEY_LEN];
    enum op_result res = OP_FAILED;

    tu_fill(key, sizeof(key), w->seed + 5000);
    if (ctx != NULL)
        res = hmac_on(ctx, key, key, w->seed++);
    EVP_MAC_CTX_free(ctx);
    return res;
}

/* k streaming contexts open at once: the pool ends up with k sessions. */
static enum op_result op_warm(struct worker *w, unsigned long k)
{
    unsigned char msg[WARM_LEN];
    EVP_MD_CTX *ctx[MAX_WARM] = {NULL};
    unsigned char got[32], want[32];
    unsigned int got_len;
    enum op_result res = OP_OK;
    unsigned long i;

    (void)w;
    tu_fill(msg, sizeof(msg), 11);
    if (k > MAX_WARM || !digest_default(msg, sizeof(msg), want))
        return OP_FAILED;
    for (i = 0; i < k && res == OP_OK; i++) {
        ctx[i] = EVP_MD_CTX_new();
        if (ctx[i] == NULL || !EVP_DigestInit_ex2(ctx[i], md_p11, NULL)
            || !EVP_DigestUpdate(ctx[i], msg, sizeof(msg)))
            res = OP_FAILED;
    }
    for (i = 0; i < k; i++) {
        if (res == OP_OK) {
            got_len = 0;
            if (!EVP_DigestFinal_ex(ctx[i], got, &got_len))
                res = OP_FAILED;
            else if (got_len != 32 || memcmp(got, want, 32) != 0)
                res = OP_WRONG;
        }
        EVP_MD_CTX_free(ctx[i]);
    }
    return res;
}

/* `$P11COUNT --remove`: every shim with P11SHIM_FAULTS pulls the token. */
static enum op_result op_remove(void)
{
    const char *p11count = getenv("P11COUNT");
    pid_t pid;
    int status;

    if (p11count == NULL) {
        fprintf(stderr, "fault_check: set P11COUNT for \"remove\"\n");
        return OP_FAILED;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execl(p11count, p11count, "--remove", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
        return OP_FAILED;
    return OP_OK;
}

/* Runs one named operation; 0 if the name is unknown. */
static int op_run(struct worker *w, const char *name, enum op_result *res)
{
    unsigned long k;

    if (strcmp(name, "sha256") == 0)
        *res = op_sha256(w);
    else if (strcmp(name, "stream") == 0)
        *res = op_stream(w);
    else if (strcmp(name, "hmac") == 0)
        *res = op_hmac(w);
    else if (strcmp(name, "hmac-new") == 0)
        *res = op_hmac_new(w);
    else if (strcmp(name, "remove") == 0)
        *res = op_remove();
    else if (sscanf(name, "warm=%lu", &k) == 1)
        *res = op_warm(w, k);
    else
        return 0;
    return 1;
}

/* ops mode: each argument is OP or OPxCOUNT. */
static int run_ops(int argc, char **argv)
{
    struct worker w = {.seed = 1};
    unsigned long n = 0, count, i;
    int a, wrong = 0;

    for (a = 0; a < argc; a++) {
        char name[64];
        const char *x = strrchr(argv[a], 'x');

        count = 1;
        snprintf(name, sizeof(name), "%s", argv[a]);
        if (x != NULL && sscanf(x, "x%lu", &count) == 1)
            name[x - argv[a]] = '\0';
        for (i = 0; i < count; i++) {
            enum op_result res;

            if (!op_run(&w, name, &res)) {
                fprintf(stderr, "fault_check: unknown operation %s\n", name);
                return 2;
            }
            n++;
            if (res == OP_OK) {
                printf("%lu %s ok\n", n, name);
            } else if (res == OP_WRONG) {
                printf("%lu %s WRONG\n", n, name);
                wrong = 1;
            } else {
                take_errors(w.last_error, sizeof(w.last_error));
                printf("%lu %s ERR: %s\n", n, name, w.last_error);
            }
            ERR_clear_error();
            fflush(stdout);
        }
    }
    EVP_MAC_CTX_free(w.hmac_ctx);
    return wrong;
}

/* Faults the shim injected into this thread so far. */
static uint64_t injected_now(void)
{
    if (counts.faults == NULL)
        return 0;
    return __atomic_load_n(
        &counts.faults->by_thread[(unsigned)gettid() % P11SHIM_THREAD_SLOTS],
        __ATOMIC_RELAXED);
}

/* All faults the shim injected so far. */
static uint64_t injected_total(void)
{
    if (counts.faults == NULL)
        return 0;
    return __atomic_load_n(&counts.faults->injected_total, __ATOMIC_RELAXED);
}

/* Counts a failure under the last CKR_* name in its error text. */
static void code_add(struct code_count *codes, const char *name,
                     unsigned long n)
{
    int i = 0;

    /* The last entry takes whatever does not fit. */
    while (i < MAX_CODES - 1 && codes[i].name[0] != '\0'
           && strcmp(codes[i].name, name) != 0)
        i++;
    if (codes[i].name[0] == '\0')
        snprintf(codes[i].name, sizeof(codes[i].name), "%s", name);
    codes[i].count += n;
}

static void code_count_error(struct code_count *codes, const char *text)
{
    const char *at = NULL, *p = text;
    char name[48] = "other";

    while ((p = strstr(p, "CKR_")) != NULL)
        at = p++;
    if (at != NULL) {
        size_t len = strspn(at, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789abcdefx");
        snprintf(name, sizeof(name), "%.*s", (int)len, at);
    }
    code_add(codes, name, 1);
}

/* A thread of threads/campaign: a fixed mix of operations. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned long i;

    w->slot = (unsigned)gettid() % P11SHIM_THREAD_SLOTS;
    for (i = 0; i < w->ops; i++) {
        const char *name = mix[(i + w->first) % mix_count];
        uint64_t before = injected_now();
        enum op_result res;

        op_run(w, name, &res);
        if (res == OP_OK) {
            w->ok++;
        } else if (res == OP_WRONG) {
            w->wrong++;
            printf("WRONG: %s, operation %lu of a thread\n", name, i);
        } else {
            w->failed++;
            w->charged += injected_now() - before;
            take_errors(w->last_error, sizeof(w->last_error));
            code_count_error(w->codes, w->last_error);
        }
        ERR_clear_error();
    }
    return NULL;
}

/* Splits MIX into mix[]; 0 if it names an unknown operation. */
static int parse_mix(const char *text)
{
    char *save = NULL;
    char *name;

    if (text != NULL)
        snprintf(mix_text, sizeof(mix_text), "%s", text);
    for (name = strtok_r(mix_text, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        if (mix_count == MAX_MIX
            || (strcmp(name, "sha256") != 0 && strcmp(name, "stream") != 0
                && strcmp(name, "hmac") != 0
                && strcmp(name, "hmac-new") != 0)) {
            fprintf(stderr, "fault_check: %s cannot be in a MIX\n", name);
            return 0;
        }
        mix[mix_count++] = name;
    }
    return mix_count > 0;
}

/* campaign: maps the shim's counter file, with its fault region. */
static int open_counts(void)
{
    const char *path = getenv("P11SHIM_COUNTS");
    char why[256];

    if (path == NULL) {
        fprintf(stderr, "fault_check: campaign needs P11SHIM_COUNTS\n");
        return 0;
    }
    if (!p11shim_counts_open(&counts, path,
                             P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE
                                 | P11SHIM_COUNTS_FAULTS,
                             why, sizeof(why))) {
        fprintf(stderr, "fault_check: %s\n", why);
        return 0;
    }
    return 1;
}

/* threads and campaign modes. */
static int run_threads(unsigned long threads, unsigned long ops, int campaign)
{
    static struct worker workers[MAX_THREADS];
    struct code_count codes[MAX_CODES];
    unsigned long i, ok = 0, failed = 0, wrong = 0;
    int c;
    uint64_t start = 0, injected, charged = 0;

    if (threads == 0 || threads > MAX_THREADS) {
        fprintf(stderr, "fault_check: 1..%d threads\n", MAX_THREADS);
        return 2;
    }
    if (campaign) {
        if (!open_counts())
            return 2;
        start = injected_total();
    }
    for (i = 0; i < threads; i++) {
        workers[i].seed = (unsigned)(i * 7919u + 1u);
        workers[i].first = i;
        workers[i].ops = ops;
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])
            != 0) {
            fprintf(stderr, "fault_check: pthread_create failed\n");
            return 2;
        }
    }
    memset(codes, 0, sizeof(codes));
    for (i = 0; i < threads; i++)
        pthread_join(workers[i].tid, NULL);
    /* Before the contexts go: freeing them calls the token too. */
    injected = injected_total() - start;
    for (i = 0; i < threads; i++) {
        for (c = 0; c < (int)i; c++)
            if (workers[c].slot == workers[i].slot)
                printf("warning: threads %d and %lu share a fault counter: "
                       "\"recovered\" is approximate\n",
                       c, i);
        for (c = 0; c < MAX_CODES && workers[i].codes[c].name[0] != '\0'; c++)
            code_add(codes, workers[i].codes[c].name,
                     workers[i].codes[c].count);
        ok += workers[i].ok;
        failed += workers[i].failed;
        wrong += workers[i].wrong;
        charged += workers[i].charged;
        if (workers[i].failed > 0)
            printf("last error of thread %lu: %s\n", i, workers[i].last_error);
        EVP_MAC_CTX_free(workers[i].hmac_ctx);
    }
    if (campaign) {
        printf(
            "campaign: ops=%lu injected=%llu recovered=%llu failed=%lu "
            "wrong=%lu\n",
            threads * ops, (unsigned long long)injected,
            (unsigned long long)(charged < injected ? injected - charged : 0),
            failed, wrong);
        p11shim_counts_close(&counts);
    } else {
        printf("threads: ops=%lu ok=%lu failed=%lu wrong=%lu\n", threads * ops,
               ok, failed, wrong);
    }
    printf("errors:");
    for (c = 0; c < MAX_CODES && codes[c].name[0] != '\0'; c++)
        printf(" %s=%lu", codes[c].name, codes[c].count);
    printf("\n");
    return wrong > 0;
}

int main(int argc, char **argv)
{
    int threaded, rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fputs("usage: fault_check ops OP... | threads T N [MIX] | "
              "campaign T N [MIX]\n",
              stderr);
        return 2;
    }
    if (!load_providers()) {
        printf("FAIL: cannot load pkcs11be and default\n");
        ERR_print_errors_fp(stdout);
        return 2;
    }
    threaded =
        strcmp(argv[1], "threads") == 0 || strcmp(argv[1], "campaign") == 0;
    if (strcmp(argv[1], "ops") == 0)
        rc = run_ops(argc - 2, argv + 2);
    else if (!threaded || argc < 4 || argc > 5
             || !parse_mix(argc == 5 ? argv[4] : NULL))
        rc = 2;
    else
        rc = run_threads(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10),
                         strcmp(argv[1], "campaign") == 0);
    EVP_MD_free(md_p11);
    EVP_MD_free(md_def);
    EVP_MAC_free(mac_p11);
    EVP_MAC_free(mac_def);
    return rc;
}
