/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MAC checks that need a C program (tests/30-mac*.t). Every result is
 * compared with OpenSSL's default provider. Each mode prints "ok: ..."
 * lines and exits 0, or prints "FAIL: ..." and exits 1.
 *
 *   mac_check kat            lines "HMAC|CMAC SUB KEYHEX MSGHEX [METHOD]"
 *                            on stdin; prints the MAC in hex, or "ERR"
 *   mac_check agree ALG SUB [KEYLEN]  40 keys (KEYLEN bytes, or 0..273),
 *                            messages up to 1 MiB + 7, a dup
 *   mac_check random [METHOD]  HMAC keys of 0..300 and 511..5000 bytes
 *                            with every digest, CMAC keys, messages up to
 *                            1 MiB + 7
 *   mac_check dup HEAD_LEN   EVP_MAC_CTX_dup after HEAD_LEN bytes, then
 *                            different tails; beyond the held bound on a
 *                            token without operation state, "shared: ..."
 *                            (the second to go on is refused)
 *   mac_check threads N      N threads: own keys, and dups of one context
 *   mac_check fork           a keyed context used in parent and child
 *   mac_check reinit N       one key, N inits with a NULL key
 *   mac_check rekey N        N keys on one context
 *   mac_check oneshot N      N MACs of held messages, key set once
 *   mac_check errors         bad input: clear errors, no crash; run with
 *                            P11BE_DELEGATE=no (set unless set), so that
 *                            what pkcs11be lacks fails instead of running
 *                            in the default provider
 *   mac_check params         size, block-size and the settable names
 *   mac_check sigmove        EVP_DigestSign with HMAC and CMAC EVP_PKEYs
 *                            past the held bound (run with a small
 *                            P11BE_DIGEST_BUFFER_MAX): final (twice), a
 *                            copy that goes on, the original then failing
 *                            clearly and working again after init
 *
 * METHOD is a value for pkcs11-hmac-method ("auto" or "digest").
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

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

static const char *const digests[] = {"SHA1", "SHA2-224", "SHA2-256",
                                      "SHA2-384", "SHA2-512"};
static const char *const ciphers[] = {"AES-128-CBC", "AES-192-CBC",
                                      "AES-256-CBC"};
static const size_t cipher_keys[] = {16, 24, 32};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static OSSL_PROVIDER *p11be, *deflt;

static int is_cmac(const char *alg)
{
    return strcmp(alg, "CMAC") == 0;
}

/* A new context of alg ("HMAC"/"CMAC") from props, with sub set. */
static EVP_MAC_CTX *mac_new(const char *props, const char *alg, const char *sub,
                            const char *method)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, alg, props);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[4];
    int n = 0;

    EVP_MAC_free(mac);
    if (ctx == NULL)
        return NULL;
    params[n++] = OSSL_PARAM_construct_utf8_string(
        is_cmac(alg) ? OSSL_MAC_PARAM_CIPHER : OSSL_MAC_PARAM_DIGEST,
        (char *)sub, 0);
    /* The default provider's MAC must not fetch its hash from pkcs11be. */
    if (strcmp(props, DEF) == 0)
        params[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_MAC_PARAM_PROPERTIES, (char *)DEF, 0);
    if (method != NULL && strcmp(props, P11) == 0)
        params[n++] = OSSL_PARAM_construct_utf8_string("pkcs11-hmac-method",
                                                       (char *)method, 0);
    params[n] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Feeds msg in chunks of `chunk` bytes (0: at once). */
static int mac_feed(EVP_MAC_CTX *ctx, const unsigned char *msg, size_t len,
                    size_t chunk)
{
    size_t done = 0;

    if (chunk == 0)
        chunk = len;
    while (done < len) {
        size_t n = len - done < chunk ? len - done : chunk;

        if (!EVP_MAC_update(ctx, msg + done, n))
            return 0;
        done += n;
    }
    return 1;
}

static int mac_with(const char *props, const char *alg, const char *sub,
                    const char *method, const unsigned char *key,
                    size_t key_len, const unsigned char *msg, size_t len,
                    size_t chunk, unsigned char *out, size_t *out_len)
{
    EVP_MAC_CTX *ctx = mac_new(props, alg, sub, method);
    int ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, NULL)
             && mac_feed(ctx, msg, len, chunk)
             && EVP_MAC_final(ctx, out, out_len, EVP_MAX_MD_SIZE);

    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* pkcs11be and the default provider agree on one MAC. */
static int mac_agree(const char *alg, const char *sub, const char *method,
                     const unsigned char *key, size_t key_len,
                     const unsigned char *msg, size_t len, size_t chunk)
{
    unsigned char got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
    size_t got_len = 0, want_len = 0;

    if (!mac_with(P11, alg, sub, method, key, key_len, msg, len, chunk, got,
                  &got_len)
        || !mac_with(DEF, alg, sub, NULL, key, key_len, msg, len, 0, want,
                     &want_len)) {
        printf("FAIL: %s-%s, %zu-byte key, %zu-byte message: error\n", alg, sub,
               key_len, len);
        ERR_print_errors_fp(stdout);
        return 0;
    }
    if (got_len != want_len || memcmp(got, want, got_len) != 0) {
        printf("FAIL: %s-%s, %zu-byte key, %zu-byte message (chunks of %zu):"
               " differs from the default provider\n",
               alg, sub, key_len, len, chunk);
        return 0;
    }
    return 1;
}

static int hex_decode(const char *hex, unsigned char **out, size_t *len)
{
    long n = 0;

    if (strcmp(hex, "-") == 0) {
        *out = OPENSSL_malloc(1);
        *len = 0;
        return *out != NULL;
    }
    *out = OPENSSL_hexstr2buf(hex, &n);
    *len = (size_t)n;
    return *out != NULL;
}

/* Known answers: the caller compares what is printed. */
static int run_kat(void)
{
    char line[65536];
    int ok = 1;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        char alg[16], sub[32], keyhex[32768], msghex[32768], method[16] = "";
        unsigned char *key = NULL, *msg = NULL, out[EVP_MAX_MD_SIZE];
        size_t key_len = 0, msg_len = 0, out_len = 0, i;
        int fields = sscanf(line, "%15s %31s %32767s %32767s %15s", alg, sub,
                            keyhex, msghex, method);

        if (fields < 4 || !hex_decode(keyhex, &key, &key_len)
            || !hex_decode(msghex, &msg, &msg_len)) {
            printf("ERR bad input line\n");
            ok = 0;
        } else if (!mac_with(P11, alg, sub, fields == 5 ? method : NULL, key,
                             key_len, msg, msg_len, 0, out, &out_len)) {
            printf("ERR ");
            ERR_print_errors_fp(stdout);
            printf("\n");
        } else {
            for (i = 0; i < out_len; i++)
                printf("%02x", out[i]);
            printf("\n");
        }
        OPENSSL_free(key);
        OPENSSL_free(msg);
    }
    return ok;
}

/* Every key length 0..300 with every digest; CMAC with every cipher. */
static int run_random(const char *method)
{
    static const size_t lens[] = {0,   1,   13,  55,   63,   64,   65,   111,
                                  127, 128, 129, 1000, 4095, 4097, 70000};
    /* Beyond SoftHSM2's 512-byte maximum: hashed on the token first. */
    static const size_t long_keys[] = {511, 512, 513, 1024, 5000};
    size_t big = 1024 * 1024 + 7;
    unsigned char key[5000], *msg = malloc(big);
    size_t key_len, i, len, count = 0;
    int ok = msg != NULL;

    if (ok)
        tu_fill(msg, big, 42);
    for (i = 0; i < COUNT(long_keys) * COUNT(digests) && ok; i++) {
        key_len = long_keys[i / COUNT(digests)];
        tu_fill(key, key_len, (unsigned)key_len);
        ok = mac_agree("HMAC", digests[i % COUNT(digests)], method, key,
                       key_len, msg, lens[i % COUNT(lens)], 0);
        count++;
    }
    for (key_len = 0; key_len <= 300 && ok; key_len++) {
        tu_fill(key, key_len, (unsigned)key_len);
        for (i = 0; i < COUNT(digests) && ok; i++) {
            len = lens[(key_len * 7 + i) % COUNT(lens)];
            if (key_len % 60 == 7 && i == 2)
                len = key_len % 120 == 7 ? big - 7 : big;
            ok = mac_agree("HMAC", digests[i], method, key, key_len, msg, len,
                           key_len % 3 == 0 ? 0 : 1 + key_len * 97 % 5000);
            count++;
        }
    }
    if (ok)
        printf("ok: %zu HMACs, keys of 0..300 and 511..5000 bytes, messages "
               "up to %zu bytes\n",
               count, big);
    for (i = 0; i < COUNT(ciphers) && ok && method == NULL; i++) {
        for (key_len = 0; key_len < 20 && ok; key_len++) {
            tu_fill(key, cipher_keys[i], (unsigned)(key_len * 31 + i));
            len = key_len == 19 ? big : lens[key_len % COUNT(lens)];
            ok = mac_agree("CMAC", ciphers[i], NULL, key, cipher_keys[i], msg,
                           len, key_len % 2 ? 0 : 1 + key_len * 13 % 100);
        }
        if (ok)
            printf("ok: CMAC with %s, 20 keys\n", ciphers[i]);
    }
    free(msg);
    return ok;
}

/*
 * One MAC (a row added by the MAC recipe) against the default provider: 40
 * keys (of key_len bytes, or 0..273 when 0), messages of 0 bytes to past
 * the held bound in chunks or at once, and a dup mid-message.
 */
static int dup_one(const char *alg, const char *sub, const unsigned char *key,
                   size_t key_len, unsigned char *msg, size_t head_len);
static int run_agree(const char *alg, const char *sub, size_t key_len)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000, 70000};
    size_t big = 1024 * 1024 + 7, i, len;
    unsigned char key[300], *msg = malloc(big);
    int ok = msg != NULL && alg != NULL && sub != NULL;

    if (ok)
        tu_fill(msg, big, 5);
    for (i = 0; i < 40 && ok; i++) {
        len = i == 39 ? big : lens[i % COUNT(lens)];
        tu_fill(key, sizeof(key), (unsigned)i);
        ok = mac_agree(alg, sub, NULL, key, key_len != 0 ? key_len : i * 7, msg,
                       len, i % 2 ? 0 : 1 + i * 13 % 100);
    }
    ok = ok && dup_one(alg, sub, key, key_len != 0 ? key_len : 20, msg, 100);
    printf("%s: %s-%s agrees with the default provider\n", ok ? "ok" : "FAIL",
           alg, sub);
    free(msg);
    return ok;
}

/* Dup after head_len bytes; both finish with a different 32-byte tail. */
static int dup_one(const char *alg, const char *sub, const unsigned char *key,
                   size_t key_len, unsigned char *msg, size_t head_len)
{
    EVP_MAC_CTX *a = mac_new(P11, alg, sub, NULL), *b = NULL;
    unsigned char ra[EVP_MAX_MD_SIZE], rb[EVP_MAX_MD_SIZE];
    unsigned char ea[EVP_MAX_MD_SIZE], eb[EVP_MAX_MD_SIZE];
    size_t la = 0, lb = 0, lea = 0, leb = 0;
    int ok;

    ok = a != NULL && EVP_MAC_init(a, key, key_len, NULL)
         && mac_feed(a, msg, head_len, 1 + head_len / 3);
    if (ok && (b = EVP_MAC_CTX_dup(a)) == NULL) {
        printf("refused: %s-%s dup after %zu bytes: ", alg, sub, head_len);
        ERR_print_errors_fp(stdout);
        EVP_MAC_CTX_free(a);
        return 1;
    }
    ok = ok && EVP_MAC_update(a, msg + head_len, 32);
    if (ok && !EVP_MAC_update(b, msg + head_len + 32, 32)) {
        /* Past the held bound on a token without operation state. */
        printf("shared: %s-%s dup after %zu bytes: ", alg, sub, head_len);
        ERR_print_errors_fp(stdout);
        ok = EVP_MAC_final(a, ra, &la, sizeof(ra))
             && mac_with(DEF, alg, sub, NULL, key, key_len, msg, head_len + 32,
                         0, ea, &lea)
             && la == lea && memcmp(ra, ea, la) == 0;
        printf("%s: %s-%s the original, after its copy was refused\n",
               ok ? "ok" : "FAIL", alg, sub);
        EVP_MAC_CTX_free(a);
        EVP_MAC_CTX_free(b);
        return ok;
    }
    ok = ok && EVP_MAC_final(b, rb, &lb, sizeof(rb))
         && EVP_MAC_final(a, ra, &la, sizeof(ra))
         && mac_with(DEF, alg, sub, NULL, key, key_len, msg, head_len + 32, 0,
                     ea, &lea);
    memcpy(msg + head_len, msg + head_len + 32, 32);
    ok = ok
         && mac_with(DEF, alg, sub, NULL, key, key_len, msg, head_len + 32, 0,
                     eb, &leb)
         && la == lea && lb == leb && memcmp(ra, ea, la) == 0
         && memcmp(rb, eb, lb) == 0;
    tu_fill(msg + head_len, 64, 9);
    printf("%s: %s-%s dup after %zu bytes\n", ok ? "ok" : "FAIL", alg, sub,
           head_len);
    EVP_MAC_CTX_free(a);
    EVP_MAC_CTX_free(b);
    return ok;
}

static int run_dup(size_t head_len)
{
    unsigned char key[200], *msg = malloc(head_len + 64);
    size_t i;
    int ok = msg != NULL;

    if (ok) {
        tu_fill(msg, head_len, 5);
        tu_fill(msg + head_len, 64, 9);
    }
    tu_fill(key, sizeof(key), 3);
    for (i = 0; i < COUNT(digests) && ok; i++) {
        /* Short (padded), in range, and longer than the block (hashed). */
        ok = dup_one("HMAC", digests[i], key, 5, msg, head_len)
             && dup_one("HMAC", digests[i], key, 64, msg, head_len)
             && dup_one("HMAC", digests[i], key, 200, msg, head_len);
    }
    for (i = 0; i < COUNT(ciphers) && ok; i++)
        ok = dup_one("CMAC", ciphers[i], key, cipher_keys[i], msg, head_len);
    free(msg);
    return ok ? 1 : tu_fail("dup");
}

struct thread_arg {
    int index;           /* thread number */
    EVP_MAC_CTX *shared; /* keyed context to dup, or NULL */
    int ok;              /* result */
};

static void *mac_thread(void *varg)
{
    struct thread_arg *arg = varg;
    unsigned char msg[3000], key[100];
    int i;

    arg->ok = 1;
    for (i = 0; i < 60 && arg->ok; i++) {
        size_t len = (size_t)(i * 37 + arg->index) % sizeof(msg);
        size_t key_len = (size_t)(i + arg->index) % sizeof(key);
        const char *digest = digests[(i + arg->index) % COUNT(digests)];

        tu_fill(msg, len, (unsigned)(arg->index * 1000 + i));
        tu_fill(key, key_len, (unsigned)i);
        arg->ok =
            mac_agree("HMAC", digest, NULL, key, key_len, msg, len, 0)
            && mac_agree("CMAC", "AES-128-CBC", NULL, key, 16, msg, len, 0);
        if (arg->ok && arg->shared != NULL) {
            /* A dup of the shared context: the same key object. */
            EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(arg->shared);
            unsigned char got[64], want[64];
            size_t got_len = 0, want_len = 0;

            tu_fill(key, 40, 77);
            arg->ok = ctx != NULL && EVP_MAC_update(ctx, msg, len)
                      && EVP_MAC_final(ctx, got, &got_len, sizeof(got))
                      && mac_with(DEF, "HMAC", "SHA2-256", NULL, key, 40, msg,
                                  len, 0, want, &want_len)
                      && got_len == want_len && memcmp(got, want, got_len) == 0;
            EVP_MAC_CTX_free(ctx);
        }
    }
    return NULL;
}

static int run_threads(int count)
{
    pthread_t threads[64];
    struct thread_arg args[64] = {{0}};
    unsigned char key[40];
    EVP_MAC_CTX *shared = mac_new(P11, "HMAC", "SHA2-256", NULL);
    int i, started = 0, ok;

    tu_fill(key, sizeof(key), 77);
    ok = shared != NULL && EVP_MAC_init(shared, key, sizeof(key), NULL);
    if (count > 64)
        count = 64;
    for (i = 0; i < count && ok; i++) {
        args[i].index = i;
        args[i].shared = shared;
        args[i].ok = 0;
        if (pthread_create(&threads[i], NULL, mac_thread, &args[i]) != 0)
            break;
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (i = 0; i < count && ok; i++)
        ok = i < started && args[i].ok;
    EVP_MAC_CTX_free(shared);
    if (!ok)
        return tu_fail("threads");
    printf("ok: %d threads\n", count);
    return 1;
}

/* Re-init with a NULL key and MAC `msg`; compare with the default. */
static int mac_again(EVP_MAC_CTX *ctx, const unsigned char *key, size_t key_len,
                     const unsigned char *msg, size_t len)
{
    unsigned char got[64], want[64];
    size_t got_len = 0, want_len = 0;

    return EVP_MAC_init(ctx, NULL, 0, NULL) && EVP_MAC_update(ctx, msg, len)
           && EVP_MAC_final(ctx, got, &got_len, sizeof(got))
           && mac_with(DEF, "HMAC", "SHA2-256", NULL, key, key_len, msg, len, 0,
                       want, &want_len)
           && got_len == want_len && memcmp(got, want, got_len) == 0;
}

static int run_fork(void)
{
    unsigned char key[10], msg[1000];
    EVP_MAC_CTX *ctx = mac_new(P11, "HMAC", "SHA2-256", NULL);
    int status;
    pid_t pid;

    tu_fill(key, sizeof(key), 1);
    tu_fill(msg, sizeof(msg), 2);
    if (ctx == NULL || !EVP_MAC_init(ctx, key, sizeof(key), NULL)
        || !mac_again(ctx, key, sizeof(key), msg, sizeof(msg)))
        return tu_fail("parent before fork");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return tu_fail("fork");
    if (pid == 0) {
        EVP_MAC_CTX *copy = EVP_MAC_CTX_dup(ctx);
        int ok = copy != NULL
                 && mac_again(ctx, key, sizeof(key), msg, sizeof(msg))
                 && mac_again(copy, key, sizeof(key), msg, 10);

        printf("%s: child uses the parent's keyed context\n",
               ok ? "ok" : "FAIL");
        if (!ok)
            ERR_print_errors_fp(stdout);
        EVP_MAC_CTX_free(copy);
        EVP_MAC_CTX_free(ctx);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
        return tu_fail("child");
    if (!mac_again(ctx, key, sizeof(key), msg, sizeof(msg)))
        return tu_fail("parent after the child");
    printf("ok: parent after the child\n");
    EVP_MAC_CTX_free(ctx);
    return 1;
}

static int run_reinit(int count)
{
    unsigned char key[64], msg[100];
    EVP_MAC_CTX *ctx = mac_new(P11, "HMAC", "SHA2-256", NULL);
    int i;

    tu_fill(key, sizeof(key), 4);
    tu_fill(msg, sizeof(msg), 5);
    if (ctx == NULL || !EVP_MAC_init(ctx, key, sizeof(key), NULL))
        return tu_fail("init");
    for (i = 0; i < count; i++)
        if (!mac_again(ctx, key, sizeof(key), msg, (size_t)i % sizeof(msg)))
            return tu_fail("re-init with a NULL key");
    EVP_MAC_CTX_free(ctx);
    printf("ok: %d inits with one key\n", count);
    return 1;
}

static int run_rekey(int count)
{
    unsigned char key[64], msg[100];
    EVP_MAC_CTX *ctx = mac_new(P11, "HMAC", "SHA2-256", NULL);
    int i;

    tu_fill(msg, sizeof(msg), 5);
    for (i = 0; i < count && ctx != NULL; i++) {
        tu_fill(key, sizeof(key), (unsigned)i);
        if (!EVP_MAC_init(ctx, key, sizeof(key), NULL)
            || !mac_again(ctx, key, sizeof(key), msg, sizeof(msg)))
            return tu_fail("re-key");
    }
    EVP_MAC_CTX_free(ctx);
    printf("ok: %d keys on one context\n", count);
    return 1;
}

/* The key set once; each MAC is init (NULL key), update, final. */
static int run_oneshot(int count)
{
    unsigned char key[32], msg[64], out[64];
    EVP_MAC_CTX *ctx = mac_new(P11, "HMAC", "SHA2-256", NULL);
    EVP_MAC_CTX *cmac = mac_new(P11, "CMAC", "AES-128-CBC", NULL);
    size_t out_len;
    int i;

    tu_fill(key, sizeof(key), 4);
    tu_fill(msg, sizeof(msg), 5);
    if (ctx == NULL || cmac == NULL
        || !EVP_MAC_init(ctx, key, sizeof(key), NULL)
        || !EVP_MAC_init(cmac, key, 16, NULL))
        return tu_fail("init");
    for (i = 0; i < count; i++) {
        if (!mac_again(ctx, key, sizeof(key), msg, sizeof(msg))
            || !EVP_MAC_init(cmac, NULL, 0, NULL)
            || !EVP_MAC_update(cmac, msg, sizeof(msg))
            || !EVP_MAC_final(cmac, out, &out_len, sizeof(out)))
            return tu_fail("one-shot");
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_CTX_free(cmac);
    printf("ok: %d HMACs and %d CMACs\n", count, count);
    return 1;
}

/* A step that must fail, leaving an error whose text contains `want`. */
static int check_error(const char *name, int step_ok, const char *want)
{
    const char *data = NULL;
    unsigned long e;
    int flags = 0, found = 0;

    if (step_ok) {
        printf("FAIL: %s: succeeded\n", name);
        return 0;
    }
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char reason[256];

        ERR_error_string_n(e, reason, sizeof(reason));
        if (strstr(reason, want) != NULL
            || ((flags & ERR_TXT_STRING) && strstr(data, want) != NULL))
            found = 1;
        printf("  %s: %s%s%s\n", name, reason,
               (flags & ERR_TXT_STRING) ? ": " : "",
               (flags & ERR_TXT_STRING) ? data : "");
    }
    printf("%s: %s says \"%s\"\n", found ? "ok" : "FAIL", name, want);
    return found;
}

static int run_errors(void)
{
    static const unsigned char key[40] = {1, 2, 3};
    unsigned char out[64];
    size_t out_len = 0;
    EVP_MAC_CTX *ctx;
    OSSL_PARAM params[2];
    int ok = 1;

    ctx = mac_new(P11, "HMAC", "NO-SUCH-DIGEST", NULL);
    ok &= check_error("unknown digest", ctx != NULL, "NO-SUCH-DIGEST");
    EVP_MAC_CTX_free(ctx);

    ctx = mac_new(P11, "HMAC", "SHA3-256", NULL);
    ok &= check_error("digest the token lacks", ctx != NULL,
                      "not offered by pkcs11be");
    EVP_MAC_CTX_free(ctx);

    ctx = mac_new(P11, "HMAC", "SHA2-256", NULL);
    ok &= check_error("missing key", EVP_MAC_init(ctx, NULL, 0, NULL),
                      "no key set");
    ok &= check_error("update without init",
                      EVP_MAC_update(ctx, key, sizeof(key)), "without init");
    ok &= check_error("final before init",
                      EVP_MAC_final(ctx, out, &out_len, sizeof(out)),
                      "without init");
    params[0] =
        OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, &out_len);
    params[1] = OSSL_PARAM_construct_end();
    out_len = 100;
    ok &= check_error("tls-data-size", EVP_MAC_CTX_set_params(ctx, params),
                      "tls-data-size");
    ok = ok && EVP_MAC_init(ctx, key, 20, NULL) && EVP_MAC_update(ctx, key, 3);
    ok &= check_error("output buffer too small",
                      EVP_MAC_final(ctx, out, &out_len, 16), "too small");
    ok = ok && EVP_MAC_final(ctx, out, &out_len, sizeof(out));
    ok &=
        check_error("final twice",
                    EVP_MAC_final(ctx, out, &out_len, sizeof(out)), "or twice");
    params[0] =
        OSSL_PARAM_construct_utf8_string("pkcs11-hmac-method", "fastest", 0);
    ok &= check_error("unknown pkcs11-hmac-method",
                      EVP_MAC_CTX_set_params(ctx, params), "fastest");
    EVP_MAC_CTX_free(ctx);

    {
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", P11);

        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
        ok &= check_error("HMAC without a digest",
                          EVP_MAC_init(ctx, key, 20, NULL), "digest");
        EVP_MAC_CTX_free(ctx);
        mac = EVP_MAC_fetch(NULL, "CMAC", P11);
        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
        ok &= check_error("CMAC without a cipher",
                          EVP_MAC_init(ctx, key, 16, NULL), "cipher");
        EVP_MAC_CTX_free(ctx);
    }

    ctx = mac_new(P11, "CMAC", "AES-128-CBC", NULL);
    ok &= check_error("CMAC key of the wrong size",
                      EVP_MAC_init(ctx, key, 20, NULL),
                      "needs a 16-byte key, got 20 bytes");
    ok &= check_error("CMAC with no key", EVP_MAC_init(ctx, NULL, 0, NULL),
                      "no key set");
    EVP_MAC_CTX_free(ctx);
    ctx = mac_new(P11, "CMAC", "AES-256-CBC", NULL);
    ok &= check_error("CMAC AES-256 with a 16-byte key",
                      EVP_MAC_init(ctx, key, 16, NULL), "needs a 32-byte key");
    EVP_MAC_CTX_free(ctx);
    ctx = mac_new(P11, "CMAC", "CAMELLIA-128-CBC", NULL);
    ok &= check_error("CMAC with a cipher pkcs11be lacks", ctx != NULL,
                      "CAMELLIA-128-CBC");
    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* size and block-size once keyed (OpenSSL's HMAC says 0 before). */
static int check_size(const char *alg, const char *sub)
{
    static const unsigned char key[32];
    size_t key_len = strstr(sub, "128") ? 16 : strstr(sub, "192") ? 24 : 32;
    EVP_MAC_CTX *p = mac_new(P11, alg, sub, NULL);
    EVP_MAC_CTX *d = mac_new(DEF, alg, sub, NULL);
    int ok = p != NULL && d != NULL && EVP_MAC_init(p, key, key_len, NULL)
             && EVP_MAC_init(d, key, key_len, NULL)
             && EVP_MAC_CTX_get_mac_size(p) == EVP_MAC_CTX_get_mac_size(d)
             && EVP_MAC_CTX_get_block_size(p) == EVP_MAC_CTX_get_block_size(d)
             && EVP_MAC_CTX_get_mac_size(p) > 0;

    printf("%s: %s-%s size %zu, block-size %zu\n", ok ? "ok" : "FAIL", alg, sub,
           p ? EVP_MAC_CTX_get_mac_size(p) : 0,
           p ? EVP_MAC_CTX_get_block_size(p) : 0);
    EVP_MAC_CTX_free(p);
    EVP_MAC_CTX_free(d);
    return ok;
}

static int has_param(const OSSL_PARAM *list, const char *key)
{
    return list != NULL && OSSL_PARAM_locate_const(list, key) != NULL;
}

static int run_params(void)
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", P11);
    EVP_MAC *cmac = EVP_MAC_fetch(NULL, "CMAC", P11);
    const OSSL_PARAM *hs = EVP_MAC_settable_ctx_params(hmac);
    const OSSL_PARAM *cs = EVP_MAC_settable_ctx_params(cmac);
    const OSSL_PARAM *hg = EVP_MAC_gettable_ctx_params(hmac);
    size_t i;
    int ok = hmac != NULL && cmac != NULL;

    for (i = 0; i < COUNT(digests); i++)
        ok &= check_size("HMAC", digests[i]);
    for (i = 0; i < COUNT(ciphers); i++)
        ok &= check_size("CMAC", ciphers[i]);
    ok &= check_size("HMAC", "sha256") & check_size("HMAC", "SHA-384");
    if (ok && has_param(hs, OSSL_MAC_PARAM_DIGEST)
        && has_param(hs, OSSL_MAC_PARAM_PROPERTIES)
        && has_param(hs, OSSL_MAC_PARAM_KEY)
        && has_param(cs, OSSL_MAC_PARAM_CIPHER)
        && has_param(cs, OSSL_MAC_PARAM_KEY)
        && has_param(hg, OSSL_MAC_PARAM_SIZE)
        && has_param(hg, OSSL_MAC_PARAM_BLOCK_SIZE))
        printf("ok: settable and gettable names as OpenSSL's HMAC/CMAC\n");
    else
        ok = 0;
    EVP_MAC_free(hmac);
    EVP_MAC_free(cmac);
    return ok ? 1 : tu_fail("params");
}

/* A MAC EVP_PKEY ("HMAC" or "CMAC") of `props`' keymgmt. */
static EVP_PKEY *sig_key(const char *props, const char *alg,
                         const unsigned char *key, size_t key_len)
{
    OSSL_PARAM params[3], *p = params;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, alg, props);
    EVP_PKEY *pkey = NULL;

    *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                             (void *)key, key_len);
    if (is_cmac(alg))
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_CIPHER,
                                                "AES-128-CBC", 0);
    *p = OSSL_PARAM_construct_end();
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

/* A signing context for the MAC key: SHA-256 for HMAC, none for CMAC. */
static EVP_MD_CTX *sig_start(const char *props, const char *alg, EVP_PKEY *pkey)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx != NULL
        && EVP_DigestSignInit_ex(ctx, NULL, is_cmac(alg) ? NULL : "SHA256",
                                 NULL, props, pkey, NULL)
               > 0)
        return ctx;
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* The default provider's MAC signature of msg, in want/want_len. */
static int sig_reference(const char *alg, const unsigned char *key,
                         size_t key_len, const unsigned char *msg,
                         size_t msg_len, unsigned char *want, size_t *want_len)
{
    EVP_PKEY *pkey = sig_key(DEF, alg, key, key_len);
    EVP_MD_CTX *ctx = pkey != NULL ? sig_start(DEF, alg, pkey) : NULL;
    int ok = ctx != NULL && EVP_DigestSignUpdate(ctx, msg, msg_len) > 0
             && EVP_DigestSignFinal(ctx, want, want_len) > 0;

    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

static int sig_same(const char *name, const unsigned char *got, size_t got_len,
                    const unsigned char *want, size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, want_len) == 0) {
        printf("ok: %s matches the default provider\n", name);
        return 1;
    }
    printf("FAIL: %s differs from the default provider\n", name);
    return 0;
}

static int sigmove_one(const char *alg, const unsigned char *msg,
                       size_t msg_len)
{
    static const unsigned char key[16] = "sixteen byte key";
    unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    size_t want_len = sizeof(want), got_len = sizeof(got);
    size_t half = msg_len / 2;
    EVP_PKEY *pkey = sig_key(P11, alg, key, sizeof(key));
    EVP_MD_CTX *ctx = pkey != NULL ? sig_start(P11, alg, pkey) : NULL;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    int ok;

    ok = ctx != NULL && copy != NULL
         && sig_reference(alg, key, sizeof(key), msg, msg_len, want, &want_len);
    if (!ok) {
        tu_fail(alg);
        goto out;
    }
    /* EVP_DigestSignFinal() finishes a copy: the common case. */
    ok = EVP_DigestSignUpdate(ctx, msg, msg_len) > 0
         && EVP_DigestSignFinal(ctx, got, &got_len) > 0
         && sig_same(alg, got, got_len, want, want_len);
    /* Again: another copy, of a MAC already finished; the same answer. */
    got_len = sizeof(got);
    ok = ok && EVP_DigestSignFinal(ctx, got, &got_len) > 0
         && sig_same("a second final", got, got_len, want, want_len);
    /* An explicit copy mid-stream takes the running MAC with it. */
    got_len = sizeof(got);
    EVP_MD_CTX_free(ctx);
    ctx = sig_start(P11, alg, pkey);
    ok = ok && ctx != NULL && EVP_DigestSignUpdate(ctx, msg, half) > 0
         && EVP_MD_CTX_copy_ex(copy, ctx)
         && EVP_DigestSignUpdate(copy, msg + half, msg_len - half) > 0
         && EVP_DigestSignFinal(copy, got, &got_len) > 0
         && sig_same("the copy", got, got_len, want, want_len);
    ok = ok
         && check_error("an update of the original",
                        EVP_DigestSignUpdate(ctx, msg, 1) > 0,
                        "a copy has continued or finished the MAC");
    /* Init again: the original starts a new MAC. */
    got_len = sizeof(got);
    ok = ok
         && EVP_DigestSignInit_ex(ctx, NULL, is_cmac(alg) ? NULL : "SHA256",
                                  NULL, P11, pkey, NULL)
                > 0
         && EVP_DigestSignUpdate(ctx, msg, msg_len) > 0
         && EVP_DigestSignFinal(ctx, got, &got_len) > 0
         && sig_same("the original after init", got, got_len, want, want_len);
    if (!ok)
        tu_fail(alg);
out:
    EVP_MD_CTX_free(copy);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

static int run_sigmove(void)
{
    size_t len = 100 * 1024 + 3;
    unsigned char *msg = malloc(len);
    int ok;

    if (msg == NULL)
        return tu_fail("malloc");
    tu_fill(msg, len, 7);
    ok = sigmove_one("HMAC", msg, len) & sigmove_one("CMAC", msg, len);
    free(msg);
    return ok;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    int ok;

    if (strcmp(mode, "errors") == 0)
        setenv("P11BE_DELEGATE", "no", 0);
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading pkcs11be and default") ? 0 : 1;
    if (strcmp(mode, "kat") == 0)
        ok = run_kat();
    else if (strcmp(mode, "agree") == 0)
        ok = run_agree(argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL,
                       argc > 4 ? (size_t)atoi(argv[4]) : 0);
    else if (strcmp(mode, "random") == 0)
        ok = run_random(argc > 2 ? argv[2] : NULL);
    else if (strcmp(mode, "dup") == 0)
        ok = run_dup((size_t)strtoul(argc > 2 ? argv[2] : "0", NULL, 10));
    else if (strcmp(mode, "threads") == 0)
        ok = run_threads(n);
    else if (strcmp(mode, "fork") == 0)
        ok = run_fork();
    else if (strcmp(mode, "reinit") == 0)
        ok = run_reinit(n);
    else if (strcmp(mode, "rekey") == 0)
        ok = run_rekey(n);
    else if (strcmp(mode, "oneshot") == 0)
        ok = run_oneshot(n);
    else if (strcmp(mode, "errors") == 0)
        ok = run_errors();
    else if (strcmp(mode, "params") == 0)
        ok = run_params();
    else if (strcmp(mode, "sigmove") == 0)
        ok = run_sigmove();
    else
        ok =
            tu_fail("usage: mac_check kat|agree|random|dup|threads|fork|reinit|"
                    "rekey|oneshot|errors|params|sigmove");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
