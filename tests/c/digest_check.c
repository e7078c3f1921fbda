/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest checks that need a C program: context copies mid-stream, threads,
 * fork, the bounded pool, abandoned contexts and unloading. Each mode
 * prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and exits 1.
 * Every result is compared with OpenSSL's default provider.
 *
 *   digest_check copy | copy-large | threads N | first-use | fork | abandon
 *                | unload | libctx | shared
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <p11-kit/pkcs11.h>

#include "testutil.h"
#include <p11-kit/pkcs11.h>

static OSSL_PROVIDER *p11be, *deflt;

static int digest_with(const char *props, const char *alg,
                       const unsigned char *in, size_t len, unsigned char *out,
                       unsigned int *out_len)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, props);
    int ok = md != NULL && EVP_Digest(in, len, out, out_len, md, NULL);

    EVP_MD_free(md);
    return ok;
}

/* Copy mid-stream, finish both with different tails, check both. */
static int check_copy(size_t head_len)
{
    static const char *const algs[] = {"SHA1", "SHA224", "SHA256", "SHA384",
                                       "SHA512"};
    unsigned char *msg = malloc(head_len + 64);
    size_t i;
    int ok = 1;

    tu_fill(msg, head_len + 64, 7);
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]) && ok; i++) {
        EVP_MD *md = EVP_MD_fetch(NULL, algs[i], "provider=pkcs11be");
        EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
        unsigned char ra[64], rb[64], ea[64], eb[64];
        unsigned int la, lb, lea, leb;

        ok =
            md != NULL && EVP_DigestInit_ex(a, md, NULL)
            && EVP_DigestUpdate(a, msg, head_len / 2)
            && EVP_DigestUpdate(a, msg + head_len / 2, head_len - head_len / 2);
        if (ok && !EVP_MD_CTX_copy_ex(b, a)) {
            /* Beyond the held bound on a token without operation state. */
            printf("copy refused: ");
            ERR_print_errors_fp(stdout);
            ok = 2;
        }
        if (ok == 1) {
            ok = EVP_DigestUpdate(a, msg + head_len, 32)
                 && EVP_DigestUpdate(b, msg + head_len + 32, 32)
                 && EVP_DigestFinal_ex(a, ra, &la)
                 && EVP_DigestFinal_ex(b, rb, &lb)
                 && digest_with("provider=default", algs[i], msg, head_len + 32,
                                ea, &lea);
            memcpy(msg + head_len, msg + head_len + 32, 32);
            ok = ok
                 && digest_with("provider=default", algs[i], msg, head_len + 32,
                                eb, &leb)
                 && la == lea && lb == leb && memcmp(ra, ea, la) == 0
                 && memcmp(rb, eb, lb) == 0;
            tu_fill(msg, head_len + 64, 7);
            printf("%s: %s copy after %zu bytes\n", ok ? "ok" : "FAIL", algs[i],
                   head_len);
        }
        EVP_MD_CTX_free(a);
        EVP_MD_CTX_free(b);
        EVP_MD_free(md);
    }
    free(msg);
    if (ok == 2)
        return 2;
    return ok ? 1 : tu_fail("copy");
}

/* The default provider's SHA-256 of a || b. */
static int expect_sha256(const unsigned char *a, size_t a_len,
                         const unsigned char *b, size_t b_len,
                         unsigned char *out)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", "provider=default");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL)
             && EVP_DigestUpdate(ctx, a, a_len)
             && EVP_DigestUpdate(ctx, b, b_len)
             && EVP_DigestFinal_ex(ctx, out, NULL);

    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return ok;
}

/* Finishes ctx with tail and compares with the default provider's. */
static int finish_as(const char *what, EVP_MD_CTX *ctx,
                     const unsigned char *msg, size_t msg_len,
                     const unsigned char *tail, size_t tail_len)
{
    unsigned char got[32], want[32];
    int ok = (tail_len == 0 || EVP_DigestUpdate(ctx, tail, tail_len))
             && EVP_DigestFinal_ex(ctx, got, NULL)
             && expect_sha256(msg, msg_len, tail, tail_len, want)
             && memcmp(got, want, sizeof(got)) == 0;

    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok)
        ERR_print_errors_fp(stdout);
    return ok;
}

/* A step that must fail and say that a copy continued the digest. */
static int refused_as(const char *what, int step_ok)
{
    char text[512] = "";
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);

    if (e != 0 && (flags & ERR_TXT_STRING) != 0)
        snprintf(text, sizeof(text), "%s", data);
    ERR_clear_error();
    if (!step_ok && strstr(text, "a copy has continued or finished") != NULL) {
        printf("ok: %s refused: %s\n", what, text);
        return 1;
    }
    printf("FAIL: %s: %s\n", what, step_ok ? "succeeded" : text);
    return 0;
}

/* A SHA-256 context that has taken len bytes of msg. */
static EVP_MD_CTX *started(const unsigned char *msg, size_t len)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", "provider=pkcs11be");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL)
             && EVP_DigestUpdate(ctx, msg, len);

    EVP_MD_free(md);
    if (ok)
        return ctx;
    EVP_MD_CTX_free(ctx);
    return NULL;
}

struct race_arg {
    EVP_MD_CTX *ctx;         /* one of the copies */
    const unsigned char *in; /* its tail */
    unsigned char md[32];    /* its digest, when it went on */
    int went_on;             /* its update and final worked */
};

static void *race_thread(void *varg)
{
    struct race_arg *arg = varg;

    arg->went_on = EVP_DigestUpdate(arg->ctx, arg->in, 32)
                   && EVP_DigestFinal_ex(arg->ctx, arg->md, NULL);
    ERR_clear_error();
    return NULL;
}

/* Two threads go on with two copies at once: one wins, and is right. */
static int check_copy_race(const unsigned char *msg, size_t len)
{
    struct race_arg args[2] = {{0}};
    pthread_t threads[2];
    unsigned char want[32];
    int i, winners = 0, ok = 1;

    args[0].ctx = started(msg, len);
    args[1].ctx = EVP_MD_CTX_new();
    if (args[0].ctx == NULL || args[1].ctx == NULL
        || !EVP_MD_CTX_copy_ex(args[1].ctx, args[0].ctx))
        ok = 0;
    for (i = 0; i < 2 && ok; i++) {
        args[i].in = msg + len + 32 * i;
        pthread_create(&threads[i], NULL, race_thread, &args[i]);
    }
    for (i = 0; i < 2 && ok; i++)
        pthread_join(threads[i], NULL);
    for (i = 0; i < 2 && ok; i++) {
        if (!args[i].went_on)
            continue;
        winners++;
        ok = expect_sha256(msg, len, args[i].in, 32, want)
             && memcmp(args[i].md, want, sizeof(want)) == 0;
    }
    ok = ok && winners == 1;
    printf("%s: two threads raced, %d went on\n", ok ? "ok" : "FAIL", winners);
    EVP_MD_CTX_free(args[0].ctx);
    EVP_MD_CTX_free(args[1].ctx);
    return ok;
}

/*
 * Copies past the held bound on a token without operation state share the
 * running digest: whichever continues first takes it, and the others say
 * so. Every digest that is made is right.
 */
static int check_copy_shared(size_t len)
{
    unsigned char *msg = malloc(len + 96);
    const unsigned char *t1, *t2;
    EVP_MD_CTX *a = NULL, *b = EVP_MD_CTX_new(), *c = EVP_MD_CTX_new();
    unsigned char out[32];
    int ok;

    if (msg == NULL || b == NULL || c == NULL)
        return tu_fail("malloc");
    tu_fill(msg, len + 96, 11);
    t1 = msg + len;
    t2 = msg + len + 32;

    /* CMS and PKCS#7 signing: finish the copy, drop the original. */
    ok = (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a)
         && finish_as("the copy finished, the original dropped", b, msg, len,
                      t1, 32);
    EVP_MD_CTX_free(a);
    a = NULL;

    /* A checkpoint nobody used: the original goes on. */
    ok = ok && (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a);
    EVP_MD_CTX_reset(b);
    ok = ok
         && finish_as("the copy dropped, the original finished", a, msg, len,
                      t1, 32);
    EVP_MD_CTX_free(a);
    a = NULL;

    /* Two CMS signers: a copy each, finished; the original then ends. */
    ok = ok && (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a)
         && finish_as("the first signer's copy", b, msg, len, t1, 0)
         && EVP_MD_CTX_copy_ex(c, a)
         && finish_as("the second signer's copy", c, msg, len, t1, 0)
         && finish_as("the original", a, msg, len, t1, 0);
    EVP_MD_CTX_free(a);
    a = NULL;
    ok = ok && (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a)
         && finish_as("a finished copy", b, msg, len, t1, 0)
         && refused_as("more input after it", EVP_DigestUpdate(a, t1, 32));
    EVP_MD_CTX_free(a);
    a = NULL;

    /* Both go on: the first takes the digest, the other says why not. */
    ok = ok && (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a)
         && EVP_DigestUpdate(a, t1, 32)
         && refused_as("the copy, after the original went on",
                       EVP_DigestUpdate(b, t2, 32))
         && refused_as("a copy of that copy", EVP_MD_CTX_copy_ex(c, b))
         && finish_as("the original", a, msg, len + 32, t1, 0);
    EVP_MD_CTX_free(a);
    a = NULL;

    /* The one that went on copies again: a new sharing, the old one out. */
    ok = ok && (a = started(msg, len)) != NULL && EVP_MD_CTX_copy_ex(b, a)
         && EVP_DigestUpdate(a, t1, 32) && EVP_MD_CTX_copy_ex(c, a)
         && refused_as("the first copy", EVP_DigestFinal_ex(b, out, NULL))
         && finish_as("the second copy", c, msg, len + 32, t2, 32)
         && refused_as("the original after it", EVP_DigestUpdate(a, t1, 32));
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    EVP_MD_CTX_free(c);
    for (int round = 0; round < 20 && ok; round++)
        ok = check_copy_race(msg, len);
    free(msg);
    return ok ? 1 : tu_fail("copy past the held bound");
}

struct thread_arg {
    int index;
    int ok;
};

static void *hash_thread(void *varg)
{
    struct thread_arg *arg = varg;
    unsigned char msg[5000], got[64], want[64];
    unsigned int got_len, want_len;
    int i;

    arg->ok = 1;
    for (i = 0; i < 200 && arg->ok; i++) {
        size_t len = (size_t)(i * 37 + arg->index) % sizeof(msg);

        tu_fill(msg, len, (unsigned)(arg->index * 1000 + i));
        arg->ok =
            digest_with("provider=pkcs11be", "SHA256", msg, len, got, &got_len)
            && digest_with("provider=default", "SHA256", msg, len, want,
                           &want_len)
            && got_len == want_len && memcmp(got, want, got_len) == 0;
    }
    return NULL;
}

static int check_threads(int count)
{
    pthread_t threads[64];
    struct thread_arg args[64];
    int i, ok = 1;

    if (count > 64)
        count = 64;
    for (i = 0; i < count; i++) {
        args[i].index = i;
        pthread_create(&threads[i], NULL, hash_thread, &args[i]);
    }
    for (i = 0; i < count; i++) {
        pthread_join(threads[i], NULL);
        ok &= args[i].ok;
    }
    printf("%s: %d threads x 200 SHA-256 digests\n", ok ? "ok" : "FAIL", count);
    return ok ? 1 : tu_fail("threads");
}

/*
 * The first thread to digest opens the token; a second thread starts its
 * first digest only once that is done, and learns it through a relaxed
 * flag, which orders nothing: all it may rely on is what pkcs11be itself
 * publishes. The first keeps its context meanwhile, so no context passes
 * between them. Under ThreadSanitizer a report fails this mode.
 */
struct first_use {
    const EVP_MD *md; /* SHA-256 from pkcs11be, fetched before the threads */
    int first_done;   /* set by the first thread */
    int second_done;  /* set by the second thread */
    int ok[2];        /* each thread's digest was right */
};

static int first_use_digest(struct first_use *fu, EVP_MD_CTX *ctx,
                            unsigned seed)
{
    unsigned char msg[100], got[32], want[32];
    unsigned int got_len, want_len;

    tu_fill(msg, sizeof(msg), seed);
    return EVP_DigestInit_ex(ctx, fu->md, NULL)
           && EVP_DigestUpdate(ctx, msg, sizeof(msg))
           && EVP_DigestFinal_ex(ctx, got, &got_len)
           && digest_with("provider=default", "SHA256", msg, sizeof(msg), want,
                          &want_len)
           && got_len == want_len && memcmp(got, want, got_len) == 0;
}

static void *first_use_first(void *varg)
{
    struct first_use *fu = varg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    fu->ok[0] = ctx != NULL && first_use_digest(fu, ctx, 1);
    __atomic_store_n(&fu->first_done, 1, __ATOMIC_RELAXED);
    while (!__atomic_load_n(&fu->second_done, __ATOMIC_RELAXED))
        usleep(1000);
    EVP_MD_CTX_free(ctx);
    return NULL;
}

static void *first_use_second(void *varg)
{
    struct first_use *fu = varg;
    EVP_MD_CTX *ctx;

    while (!__atomic_load_n(&fu->first_done, __ATOMIC_RELAXED))
        usleep(1000);
    ctx = EVP_MD_CTX_new();
    fu->ok[1] = ctx != NULL && first_use_digest(fu, ctx, 2);
    __atomic_store_n(&fu->second_done, 1, __ATOMIC_RELAXED);
    EVP_MD_CTX_free(ctx);
    return NULL;
}

static int check_first_use(void)
{
    struct first_use fu = {0};
    pthread_t first, second;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", "provider=pkcs11be");
    int ok;

    if (md == NULL)
        return tu_fail("fetching SHA256 from pkcs11be");
    fu.md = md;
    pthread_create(&second, NULL, first_use_second, &fu);
    pthread_create(&first, NULL, first_use_first, &fu);
    pthread_join(first, NULL);
    pthread_join(second, NULL);
    EVP_MD_free(md);
    ok = fu.ok[0] && fu.ok[1];
    printf("%s: a second thread's first digest after the first's\n",
           ok ? "ok" : "FAIL");
    return ok ? 1 : tu_fail("first use");
}

static int one_digest_matches(unsigned seed)
{
    unsigned char msg[3000], got[64], want[64];
    unsigned int got_len, want_len;

    tu_fill(msg, sizeof(msg), seed);
    return digest_with("provider=pkcs11be", "SHA384", msg, sizeof(msg), got,
                       &got_len)
           && digest_with("provider=default", "SHA384", msg, sizeof(msg), want,
                          &want_len)
           && got_len == want_len && memcmp(got, want, got_len) == 0;
}

/*
 * Parent uses the token, a child uses it, a child that never touches it
 * exits (and must not finalise the parent's token), the parent goes on.
 */
static int check_fork(void)
{
    int status, i;
    pid_t pid;

    if (!one_digest_matches(1))
        return tu_fail("parent before fork");
    for (i = 0; i < 2; i++) {
        pid = fork();
        if (pid == 0) {
            /* i == 0: uses the provider; i == 1: never touches it. */
            int ok = i == 1 || (one_digest_matches(2) && one_digest_matches(3));

            if (!ok)
                ERR_print_errors_fp(stdout);
            exit(ok ? 0 : 1);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            return tu_fail(i == 0 ? "child using the provider"
                                  : "child not using the provider");
        if (!one_digest_matches(4 + i))
            return tu_fail("parent after fork");
    }
    printf("ok: fork: parent, child, idle child, parent again\n");
    return 1;
}

/* Contexts freed mid-stream and re-initialised mid-stream. */
static int check_abandon(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", "provider=pkcs11be");
    unsigned char big[1 << 16];
    int i;

    tu_fill(big, sizeof(big), 9);
    for (i = 0; i < 40; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int j;

        /* 2 MiB: beyond the default held bound, so the token streams. */
        if (!EVP_DigestInit_ex(ctx, md, NULL))
            return tu_fail("init");
        for (j = 0; j < 32; j++)
            if (!EVP_DigestUpdate(ctx, big, sizeof(big)))
                return tu_fail("update");
        if (i % 2 == 1 && !EVP_DigestInit_ex(ctx, md, NULL))
            return tu_fail("re-init mid-stream");
        EVP_MD_CTX_free(ctx);
    }
    EVP_MD_free(md);
    if (!one_digest_matches(11))
        return tu_fail("digest after abandoned contexts");
    printf("ok: 40 contexts abandoned mid-stream\n");
    return 1;
}

/* One private library context: load, digest, unload, free. */
static int private_round(unsigned seed)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    const char *dir = getenv("P11BE_BUILD_DIR");
    OSSL_PROVIDER *prov;
    EVP_MD *md = NULL;
    unsigned char msg[100], got[64], want[64];
    unsigned int got_len, want_len;
    int ok;

    tu_fill(msg, sizeof(msg), seed);
    OSSL_PROVIDER_set_default_search_path(libctx, dir != NULL ? dir : "build");
    prov = OSSL_PROVIDER_load(libctx, "pkcs11be");
    ok = prov != NULL
         && (md = EVP_MD_fetch(libctx, "SHA256", "provider=pkcs11be")) != NULL
         && EVP_Digest(msg, sizeof(msg), got, &got_len, md, NULL)
         && EVP_Digest(msg, sizeof(msg), want, &want_len, EVP_sha256(), NULL)
         && got_len == want_len && memcmp(got, want, got_len) == 0;
    EVP_MD_free(md);
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return ok;
}

/*
 * Unload (the last user finalises the module) and load again, three times
 * in one process: nothing of the old module may be used after C_Finalize.
 */
static int check_unload(void)
{
    int round;

    for (round = 0; round < 3; round++)
        if (!private_round((unsigned)round))
            return tu_fail("load, digest, unload round");
    printf("ok: three load/unload rounds\n");
    return 1;
}

/*
 * pkcs11be in a private library context while OPENSSL_CONF also activates
 * it in the default one (where the module's own OpenSSL calls land): two
 * instances share one module, and neither recurses into the other.
 */
static int check_libctx(void)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    const char *dir = getenv("P11BE_BUILD_DIR");
    OSSL_PROVIDER *mine;
    EVP_MD *md = NULL;
    unsigned char got[64], want[64];
    unsigned int got_len, want_len;
    int ok;

    OSSL_PROVIDER_set_default_search_path(libctx, dir != NULL ? dir : "build");
    mine = OSSL_PROVIDER_load(libctx, "pkcs11be");
    ok = mine != NULL
         && (md = EVP_MD_fetch(libctx, "SHA256", "provider=pkcs11be")) != NULL
         && EVP_Digest("abc", 3, got, &got_len, md, NULL)
         && EVP_Digest("abc", 3, want, &want_len, EVP_sha256(), NULL)
         && got_len == want_len && memcmp(got, want, got_len) == 0
         && one_digest_matches(31);
    EVP_MD_free(md);
    OSSL_PROVIDER_unload(mine);
    OSSL_LIB_CTX_free(libctx);
    ok = ok && one_digest_matches(32);
    printf("%s: private library context beside the default one\n",
           ok ? "ok" : "FAIL");
    return ok ? 1 : tu_fail("libctx");
}

/*
 * The application initialises the module itself before pkcs11be does:
 * pkcs11be shares it (CKR_CRYPTOKI_ALREADY_INITIALIZED) and, not having
 * initialised it, never finalises it under the application.
 */
static int check_shared_module(void)
{
    const char *path = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    void *dl = path != NULL ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST *fns = NULL;
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK,
                                 .pReserved = getenv("P11BE_MODULE_INIT_ARGS")};
    CK_ULONG slots = 0;
    int ok;

    if (dl == NULL)
        return tu_fail("dlopen of the module");
    get_list = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    if (get_list == NULL || get_list(&fns) != CKR_OK
        || fns->C_Initialize(&args) != CKR_OK)
        return tu_fail("the application's own C_Initialize");
    ok = private_round(41) && private_round(42);
    /* Still initialised for the application after pkcs11be let go. */
    ok = ok && fns->C_GetSlotList(CK_TRUE, NULL, &slots) == CKR_OK
         && fns->C_Finalize(NULL) == CKR_OK;
    printf("%s: module initialised by the application, shared\n",
           ok ? "ok" : "FAIL");
    return ok ? 1 : tu_fail("shared module");
}

int main(int argc, char **argv)
{
    int ok;

    /* These two load pkcs11be themselves, into private contexts. */
    if (argc > 1 && strcmp(argv[1], "libctx") == 0)
        return check_libctx() ? 0 : 1;
    if (argc > 1 && strcmp(argv[1], "unload") == 0)
        return check_unload() ? 0 : 1;
    if (argc > 1 && strcmp(argv[1], "shared") == 0)
        return check_shared_module() ? 0 : 1;
    if (argc < 2 || !tu_load_providers(&p11be, &deflt)) {
        fprintf(stderr, "usage: digest_check MODE (providers must load)\n");
        ERR_print_errors_fp(stderr);
        return 2;
    }
    if (strcmp(argv[1], "copy") == 0)
        ok = check_copy(0) == 1 && check_copy(1) == 1 && check_copy(100) == 1
             && check_copy(70000) == 1;
    else if (strcmp(argv[1], "copy-large") == 0)
        ok = check_copy_shared(3 << 20);
    else if (strcmp(argv[1], "threads") == 0)
        ok = check_threads(argc > 2 ? atoi(argv[2]) : 8);
    else if (strcmp(argv[1], "first-use") == 0)
        ok = check_first_use();
    else if (strcmp(argv[1], "fork") == 0)
        ok = check_fork();
    else if (strcmp(argv[1], "abandon") == 0)
        ok = check_abandon();
    else
        ok = tu_fail("unknown mode");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
