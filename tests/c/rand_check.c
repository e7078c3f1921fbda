/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rand_check: PKCS11-RAND, fetched directly and as the seed source of a
 * library context's DRBG. One mode per run, for tests/20-rand.t:
 *
 *   rand_check direct          1 MiB in 4 KiB generates, checked; prints
 *                              "generates=N"
 *   rand_check seeded CONF     a library context configured by CONF
 *                              ([random] seed = PKCS11-RAND): 8 threads x
 *                              RAND_bytes_ex, outputs all distinct
 *   rand_check fork            a child's bytes differ from its parent's,
 *                              directly and through the seeded DRBG (CONF
 *                              as the second argument)
 *   rand_check public N        N x RAND_bytes in the default library
 *                              context (whatever OPENSSL_CONF says)
 *   rand_check kat             pkcs11be's CTR- and HMAC-DRBG on NIST
 *                              vectors (evprand.txt) with a TEST-RAND
 *                              parent, as the default provider's; a
 *                              parent without entropy: the same error
 */
#include <pthread.h>
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
#include <openssl/rand.h>

#include "testutil.h"

#define CHUNK      4096
#define TOTAL      (1024 * 1024)
#define THREADS    8
#define PER_THREAD 200

static EVP_RAND_CTX *token_rand(OSSL_LIB_CTX *libctx)
{
    EVP_RAND *rand = EVP_RAND_fetch(libctx, "PKCS11-RAND", "provider=pkcs11be");
    EVP_RAND_CTX *ctx = rand != NULL ? EVP_RAND_CTX_new(rand, NULL) : NULL;

    EVP_RAND_free(rand);
    if (ctx == NULL || !EVP_RAND_instantiate(ctx, 256, 0, NULL, 0, NULL)) {
        EVP_RAND_CTX_free(ctx);
        tu_fail("fetch and instantiate PKCS11-RAND");
        return NULL;
    }
    return ctx;
}

static int popcount_buf(const unsigned char *buf, size_t len, size_t *ones)
{
    size_t i;

    for (i = 0; i < len; i++)
        *ones += (size_t)__builtin_popcount(buf[i]);
    return 1;
}

/* Each misuse fails with an error on the queue, never a crash. */
static int misuse_refused(void)
{
    EVP_RAND *rand = EVP_RAND_fetch(NULL, "PKCS11-RAND", "provider=pkcs11be");
    EVP_RAND_CTX *ctx = rand != NULL ? EVP_RAND_CTX_new(rand, NULL) : NULL;
    EVP_RAND_CTX *child = NULL;
    unsigned char buf[16];
    int ok = 0;

    if (ctx == NULL) {
        tu_fail("a PKCS11-RAND context");
        goto end;
    }
    ERR_clear_error();
    if (EVP_RAND_generate(ctx, buf, sizeof(buf), 0, 0, NULL, 0)
        || ERR_peek_error() == 0) {
        fprintf(stderr, "FAIL: generate before instantiate: no clear error\n");
        goto end;
    }
    ERR_clear_error();
    child = EVP_RAND_CTX_new(rand, ctx);
    if (child != NULL || ERR_peek_error() == 0) {
        fprintf(stderr, "FAIL: PKCS11-RAND under a parent: no clear error\n");
        goto end;
    }
    ERR_clear_error();
    ok = 1;
end:
    EVP_RAND_CTX_free(child);
    EVP_RAND_CTX_free(ctx);
    EVP_RAND_free(rand);
    return ok;
}

static int mode_direct(void)
{
    EVP_RAND_CTX *ctx = token_rand(NULL);
    unsigned char *all = malloc(TOTAL);
    unsigned char other[CHUNK];
    size_t off, ones = 0, generates = 0, bits = (size_t)TOTAL * 8;
    long long dev;
    unsigned strength = 0;
    size_t max_request = 0;
    int state = 0, ok = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, &state),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, &strength),
        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, &max_request),
        OSSL_PARAM_END,
    };
    EVP_RAND_CTX *ctx2;

    if (ctx == NULL || all == NULL)
        goto end;
    if (!EVP_RAND_CTX_get_params(ctx, params)) {
        tu_fail("get_ctx_params");
        goto end;
    }
    if (state != EVP_RAND_STATE_READY || strength < 256
        || max_request < CHUNK) {
        fprintf(stderr, "FAIL: state %d strength %u max_request %zu\n", state,
                strength, max_request);
        goto end;
    }
    for (off = 0; off < TOTAL; off += CHUNK, generates++)
        if (!EVP_RAND_generate(ctx, all + off, CHUNK, 256, 0, NULL, 0)) {
            tu_fail("EVP_RAND_generate");
            goto end;
        }
    for (off = 0; off < TOTAL; off += CHUNK) {
        const unsigned char *c = all + off;
        size_t i;

        for (i = 1; i < CHUNK && c[i] == c[0]; i++)
            ;
        if (i == CHUNK) {
            fprintf(stderr, "FAIL: chunk at %zu is constant\n", off);
            goto end;
        }
        if (off > 0 && memcmp(c, c - CHUNK, CHUNK) == 0) {
            fprintf(stderr, "FAIL: chunk at %zu repeats the one before\n", off);
            goto end;
        }
    }
    popcount_buf(all, TOTAL, &ones);
    /* Bits are Bernoulli(1/2): sigma = sqrt(n)/2 = 1448 for 1 MiB. */
    dev = (long long)ones - (long long)(bits / 2);
    printf("ones=%zu of %zu (deviation %lld, 6 sigma = 8689)\n", ones, bits,
           dev);
    if (dev > 8689 || dev < -8689) {
        fprintf(stderr, "FAIL: bit balance off by %lld\n", dev);
        goto end;
    }
    /* A second context, and bad input. */
    ctx2 = token_rand(NULL);
    if (ctx2 == NULL
        || !EVP_RAND_generate(ctx2, other, sizeof(other), 0, 0, NULL, 0)) {
        EVP_RAND_CTX_free(ctx2);
        tu_fail("a second context");
        goto end;
    }
    generates++;
    EVP_RAND_CTX_free(ctx2);
    if (memcmp(other, all, CHUNK) == 0) {
        fprintf(stderr, "FAIL: a second context gave the first one's bytes\n");
        goto end;
    }
    ERR_clear_error();
    if (EVP_RAND_generate(ctx, other, 16, 512, 0, NULL, 0)) {
        fprintf(stderr, "FAIL: strength 512 accepted\n");
        goto end;
    }
    if (ERR_peek_error() == 0) {
        fprintf(stderr, "FAIL: strength 512 refused with no error\n");
        goto end;
    }
    ERR_clear_error();
    if (!misuse_refused())
        goto end;
    printf("generates=%zu\n", generates);
    ok = 1;
end:
    free(all);
    EVP_RAND_CTX_free(ctx);
    return ok;
}

struct thread_arg {
    OSSL_LIB_CTX *libctx;
    unsigned char first[32];
    int ok;
};

static void *seeded_thread(void *varg)
{
    struct thread_arg *arg = varg;
    unsigned char buf[32];
    int i;

    arg->ok = RAND_bytes_ex(arg->libctx, arg->first, sizeof(arg->first), 0) > 0;
    for (i = 1; arg->ok && i < PER_THREAD; i++)
        arg->ok = RAND_bytes_ex(arg->libctx, buf, sizeof(buf), 0) > 0;
    return NULL;
}

static OSSL_LIB_CTX *seeded_libctx(const char *conf)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();

    if (libctx == NULL || !OSSL_LIB_CTX_load_config(libctx, conf)) {
        OSSL_LIB_CTX_free(libctx);
        tu_fail("load the seed config into a library context");
        return NULL;
    }
    return libctx;
}

static int mode_seeded(const char *conf)
{
    OSSL_LIB_CTX *libctx = seeded_libctx(conf);
    struct thread_arg args[THREADS];
    pthread_t threads[THREADS];
    int i, j, ok = 1;

    if (libctx == NULL)
        return 0;
    for (i = 0; i < THREADS; i++) {
        args[i].libctx = libctx;
        args[i].ok = 0;
        if (pthread_create(&threads[i], NULL, seeded_thread, &args[i]) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            abort();
        }
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    for (i = 0; i < THREADS; i++) {
        if (!args[i].ok) {
            ok = tu_fail("RAND_bytes_ex in a thread");
            continue;
        }
        for (j = 0; j < i; j++)
            if (args[j].ok
                && memcmp(args[i].first, args[j].first, sizeof(args[i].first))
                       == 0)
                ok = tu_fail("two threads got the same bytes");
    }
    OSSL_LIB_CTX_free(libctx);
    if (ok)
        printf("threads=%d requests=%d\n", THREADS, THREADS * PER_THREAD);
    return ok;
}

/* Bytes from `gen` in a child and then in the parent must differ. */
static int differs_across_fork(const char *what,
                               int (*gen)(void *, unsigned char *, size_t),
                               void *arg)
{
    unsigned char before[32], mine[32], childs[32];
    int fds[2], status;
    pid_t pid;

    if (!gen(arg, before, sizeof(before)) || pipe(fds) != 0)
        return tu_fail(what);
    pid = fork();
    if (pid < 0)
        return tu_fail("fork");
    if (pid == 0) {
        int good = gen(arg, mine, sizeof(mine))
                   && write(fds[1], mine, sizeof(mine)) == sizeof(mine);

        if (!good)
            ERR_print_errors_fp(stderr);
        _exit(good ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], childs, sizeof(childs)) != sizeof(childs)
        || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0) {
        close(fds[0]);
        fprintf(stderr, "FAIL: %s: the child got no bytes\n", what);
        return 0;
    }
    close(fds[0]);
    if (!gen(arg, mine, sizeof(mine)))
        return tu_fail(what);
    if (memcmp(mine, childs, sizeof(mine)) == 0) {
        fprintf(stderr, "FAIL: %s: the child's bytes are the parent's\n", what);
        return 0;
    }
    printf("%s: child and parent differ\n", what);
    return 1;
}

static int gen_direct(void *arg, unsigned char *out, size_t len)
{
    return EVP_RAND_generate(arg, out, len, 0, 0, NULL, 0);
}

static int gen_seeded(void *arg, unsigned char *out, size_t len)
{
    return RAND_bytes_ex(arg, out, len, 0) > 0;
}

static int mode_fork(const char *conf)
{
    EVP_RAND_CTX *ctx = token_rand(NULL);
    OSSL_LIB_CTX *libctx = seeded_libctx(conf);
    int ok = ctx != NULL && libctx != NULL
             && differs_across_fork("PKCS11-RAND", gen_direct, ctx)
             && differs_across_fork("seeded DRBG", gen_seeded, libctx);

    EVP_RAND_CTX_free(ctx);
    OSSL_LIB_CTX_free(libctx);
    return ok;
}

/* A DRBG known answer: NIST's CAVP vectors, as in evprand.txt. */
typedef struct {
    const char *name, *cipher, *digest; /* the DRBG and its part */
    int pr;                             /* prediction resistance */
    const char *entropy, *nonce, *pr_a, *pr_b, *output; /* hex */
} DRBG_KAT;

static const DRBG_KAT kats[] = {
    /* evprand.txt line 19: prediction resistance, reseeds from the parent */
    {"CTR-DRBG", "AES-192-CTR", NULL, 1,
     "22ED7A66C9E9F494C8D2B8F81D0D49BCDD0C03863FF5979212211EFE3E945758"
     "B6228CDD9E9EEC5F7984AEF7212699F3",
     "5BF245B95F8E1377D5A17EB331AABCD9",
     "C0535ACD3D715A0B1453AB3447D53D9131C939AEE1D9CA24A75B285CF58D7940"
     "3A4111E2F3DEE011154D31D646D93001",
     "9FBC48890273FCAFCA1904B6486D1877CAD91EB601E979259506F93BA462AC17"
     "D8676C570B2231D4D98EC617C4826573",
     "19CED57563D065B606DA27DD5E8DE83B93BB7C8F8B02D0288F475550C3F44B77"},
    /* line 36: the nonce from the parent's nonce function */
    {"CTR-DRBG", "AES-128-CTR", NULL, 0, "890eb067acf7382eff80b0c73bc872c6",
     "aad471ef3ef1d203", NULL, NULL,
     "a5514ed7095f64f3d0d3a5760394ab42062f373a25072a6ea6bcfd8489e94af6"
     "cf18659fea22ed1ca0a9e33f718b115ee536b12809c31b72b08ddd8be1910fa3"},
    /* line 14448 */
    {"HMAC-DRBG", NULL, "SHA-1", 0, "e91b63309e93d1d08e30e8d556906875",
     "f59747c468b0d0da", NULL, NULL,
     "b7928f9503a417110788f9d0c2585f8aee6fb73b220a626b3ab9825b7a9facc7"
     "9723d7e1ba9255e40e65c249b6082a7bc5e3f129d3d8f69b04ed1183419d6c4f"
     "2a13b304d2c5743f41c8b0ee73225347"},
};

/* Gives the TEST-RAND parent `hex` as its entropy (and `nonce`). */
static int test_entropy(EVP_RAND_CTX *parent, const char *hex,
                        const char *nonce, int instantiate)
{
    OSSL_PARAM params[3], *p = params;
    unsigned char *e = NULL, *n = NULL;
    long elen = 0, nlen = 0;
    int ok;

    if (hex != NULL && *hex != '\0')
        e = OPENSSL_hexstr2buf(hex, &elen);
    if (nonce != NULL)
        n = OPENSSL_hexstr2buf(nonce, &nlen);
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_RAND_PARAM_TEST_ENTROPY, e != NULL ? e : (void *)"", (size_t)elen);
    if (n != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_RAND_PARAM_TEST_NONCE, n,
                                                 (size_t)nlen);
    *p = OSSL_PARAM_construct_end();
    ok = instantiate ? EVP_RAND_instantiate(parent, 256, 0, NULL, 0, params)
                     : EVP_RAND_CTX_set_params(parent, params);
    OPENSSL_free(e);
    OPENSSL_free(n);
    return ok;
}

/*
 * Runs `k` on the DRBG fetched with `props`; *err: the first error's code
 * when instantiating fails (1 for an empty queue). out: 0 on failure.
 */
static int drbg_kat(const DRBG_KAT *k, const char *props, unsigned char *out,
                    size_t outlen, unsigned long *err)
{
    unsigned int strength = 256;
    int use_df = 1, ok = 0;
    OSSL_PARAM params[5], *p = params;
    EVP_RAND *rand = EVP_RAND_fetch(NULL, "TEST-RAND", "provider=default");
    EVP_RAND_CTX *parent = rand != NULL ? EVP_RAND_CTX_new(rand, NULL) : NULL;
    EVP_RAND_CTX *ctx = NULL;

    EVP_RAND_free(rand);
    rand = EVP_RAND_fetch(NULL, k->name, props);
    if (rand != NULL && parent != NULL)
        ctx = EVP_RAND_CTX_new(rand, parent);
    EVP_RAND_free(rand);
    params[0] = OSSL_PARAM_construct_uint(OSSL_RAND_PARAM_STRENGTH, &strength);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || !EVP_RAND_CTX_set_params(parent, params))
        goto done;
    *p++ = OSSL_PARAM_construct_int(OSSL_DRBG_PARAM_USE_DF, &use_df);
    if (k->cipher != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER,
                                                (char *)k->cipher, 0);
    if (k->digest != NULL) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_DIGEST,
                                                (char *)k->digest, 0);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_MAC, "HMAC", 0);
    }
    *p = OSSL_PARAM_construct_end();
    if (!EVP_RAND_CTX_set_params(ctx, params)
        || !test_entropy(parent, k->entropy, k->nonce, 1))
        goto done;
    ERR_clear_error();
    strength = EVP_RAND_get_strength(ctx);
    if (!EVP_RAND_instantiate(ctx, strength, k->pr, (const unsigned char *)"",
                              0, NULL)) {
        *err = ERR_peek_error() != 0 ? ERR_peek_error() : 1;
        goto done;
    }
    ok = (k->pr_a == NULL || test_entropy(parent, k->pr_a, NULL, 0))
         && EVP_RAND_generate(ctx, out, outlen, strength, k->pr, NULL, 0)
         && (k->pr_b == NULL || test_entropy(parent, k->pr_b, NULL, 0))
         && EVP_RAND_generate(ctx, out, outlen, strength, k->pr, NULL, 0);
done:
    EVP_RAND_CTX_free(ctx);
    EVP_RAND_CTX_free(parent);
    return ok;
}

static int mode_kat(void)
{
    unsigned char got[80], deflt[80], *want;
    unsigned long err = 0, deflt_err = 0;
    DRBG_KAT empty = kats[1];
    size_t i;
    long len;

    for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
        want = OPENSSL_hexstr2buf(kats[i].output, &len);
        if (want == NULL || (size_t)len > sizeof(got))
            return tu_fail("the vector");
        if (!drbg_kat(&kats[i], "provider=pkcs11be", got, (size_t)len, &err)
            || memcmp(got, want, (size_t)len) != 0
            || !drbg_kat(&kats[i], "provider=default", deflt, (size_t)len, &err)
            || memcmp(deflt, want, (size_t)len) != 0) {
            OPENSSL_free(want);
            printf("%s %s: ", kats[i].name,
                   kats[i].cipher != NULL ? kats[i].cipher : kats[i].digest);
            return tu_fail("the known answer, through pkcs11be and default");
        }
        OPENSSL_free(want);
        printf("%s pr=%d: known answer\n", kats[i].name, kats[i].pr);
    }
    /* No entropy from the parent: both fail, with the same error. */
    empty.entropy = "";
    if (drbg_kat(&empty, "provider=pkcs11be", got, 16, &err)
        || drbg_kat(&empty, "provider=default", deflt, 16, &deflt_err))
        return tu_fail("a DRBG instantiated without entropy");
    printf("no entropy: %s (default provider: %s)\n",
           err > 1 ? ERR_reason_error_string(err) : "empty queue",
           deflt_err > 1 ? ERR_reason_error_string(deflt_err) : "empty queue");
    return err > 1 && ERR_GET_REASON(err) == ERR_GET_REASON(deflt_err);
}

static int mode_public(int n)
{
    unsigned char buf[64];
    int i;

    for (i = 0; i < n; i++)
        if (RAND_bytes(buf, sizeof(buf)) <= 0)
            return tu_fail("RAND_bytes");
    printf("RAND_bytes x %d\n", n);
    return 1;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    int ok;

    if (argc < 2) {
        fprintf(stderr, "usage: rand_check direct|seeded CONF|fork CONF|"
                        "public N|kat\n");
        return 2;
    }
    if (strcmp(argv[1], "public") == 0 && argc == 3)
        return mode_public(atoi(argv[2])) ? 0 : 1;
    if (!tu_load_providers(&p11be, &deflt))
        return 1;
    if (strcmp(argv[1], "direct") == 0)
        ok = mode_direct();
    else if (strcmp(argv[1], "seeded") == 0 && argc == 3)
        ok = mode_seeded(argv[2]);
    else if (strcmp(argv[1], "fork") == 0 && argc == 3)
        ok = mode_fork(argv[2]);
    else if (strcmp(argv[1], "kat") == 0)
        ok = mode_kat();
    else {
        fprintf(stderr, "rand_check: unknown mode %s\n", argv[1]);
        ok = 0;
    }
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
