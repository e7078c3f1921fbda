/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digests fetched from pkcs11be compared with OpenSSL's default provider,
 * whatever serves them (the token, or the default provider inside
 * pkcs11be when the token lacks them: tests/24-digest-delegate.t). Each
 * check prints "ok: ..." or "FAIL: ..."; the exit code is 0 when all
 * passed. The provider parameter "pkcs11-delegated" is printed at the end
 * ("delegated: N") for the test to compare with what it expects.
 *
 *   digest_delegate compare ALG...  one-shot (EVP_Digest, 0 bytes to
 *                                   2 MiB), streamed, copied mid-stream,
 *                                   re-initialised, params
 *   digest_delegate compare-big ALG...  the same after a 2 MiB one-shot
 *                                   (streamed on the token: its first
 *                                   C_DigestInit comes from an update)
 *   digest_delegate fail ALG        EVP_Digest must fail: prints the errors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "testutil.h"

#define BIG ((size_t)2 << 20) /* past pkcs11-digest-buffer-max's 1 MiB */

static OSSL_PROVIDER *p11be, *deflt;

static int report(int ok, const char *alg, const char *what, size_t len)
{
    printf("%s: %s %s, %zu bytes\n", ok ? "ok" : "FAIL", alg, what, len);
    if (!ok)
        ERR_print_errors_fp(stdout);
    return ok;
}

static int reference(const char *alg, const unsigned char *in, size_t len,
                     unsigned char *out, unsigned int *out_len)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, "provider=default");
    int ok = md != NULL && EVP_Digest(in, len, out, out_len, md, NULL);

    EVP_MD_free(md);
    return ok;
}

static int same(const char *alg, const unsigned char *in, size_t len,
                const unsigned char *got, unsigned int got_len)
{
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int want_len = 0;

    return reference(alg, in, len, want, &want_len) && got_len == want_len
           && memcmp(got, want, want_len) == 0;
}

/* EVP_Digest, the one-shot every `openssl dgst` and libssl use. */
static int check_oneshot(EVP_MD *md, const char *alg, const unsigned char *msg,
                         size_t len)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;

    return report(EVP_Digest(msg, len, out, &out_len, md, NULL)
                      && same(alg, msg, len, out, out_len),
                  alg, "EVP_Digest", len);
}

/* Updates of 1000 bytes at most, one context reused (re-init) twice. */
static int check_stream_reinit(EVP_MD *md, const char *alg,
                               const unsigned char *msg, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    int round, ok = ctx != NULL;
    size_t off, n;

    for (round = 0; round < 2 && ok; round++) {
        ok = round == 0 ? EVP_DigestInit_ex2(ctx, md, NULL)
                        : EVP_DigestInit_ex2(ctx, NULL, NULL);
        /* Half a message first: re-init must forget it. */
        if (ok && round == 1)
            ok = EVP_DigestUpdate(ctx, msg, len / 2)
                 && EVP_DigestInit_ex2(ctx, NULL, NULL);
        for (off = 0; ok && off < len; off += n) {
            n = len - off < 1000 ? len - off : 1000;
            ok = EVP_DigestUpdate(ctx, msg + off, n);
        }
        ok = ok && EVP_DigestFinal_ex(ctx, out, &out_len)
             && same(alg, msg, len, out, out_len);
    }
    EVP_MD_CTX_free(ctx);
    return report(ok, alg, "streamed, re-initialised", len);
}

/* EVP_MD_CTX_copy_ex after len/2 bytes: each finishes its own tail. */
static int check_copy(EVP_MD *md, const char *alg, unsigned char *msg,
                      size_t len)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char ra[EVP_MAX_MD_SIZE], rb[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    size_t head = len / 2, tail = len - head;
    int ok = a != NULL && b != NULL && EVP_DigestInit_ex2(a, md, NULL)
             && EVP_DigestUpdate(a, msg, head) && EVP_MD_CTX_copy_ex(b, a)
             && EVP_DigestUpdate(a, msg + head, tail)
             && EVP_DigestFinal_ex(a, ra, &la) && same(alg, msg, len, ra, la);

    /* b goes on with a different tail: the message with it reversed. */
    if (ok) {
        size_t i;

        for (i = 0; i < tail / 2; i++) {
            unsigned char t = msg[head + i];

            msg[head + i] = msg[len - 1 - i];
            msg[len - 1 - i] = t;
        }
        ok = EVP_DigestUpdate(b, msg + head, tail)
             && EVP_DigestFinal_ex(b, rb, &lb) && same(alg, msg, len, rb, lb);
        tu_fill(msg, BIG, 5);
    }
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    return report(ok, alg, "EVP_MD_CTX_copy_ex mid-stream", len);
}

/* Sizes and flags: the same answers as the default provider's. */
static int check_params(EVP_MD *md, const char *alg)
{
    EVP_MD *ref = EVP_MD_fetch(NULL, alg, "provider=default");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ref != NULL && ctx != NULL
             && EVP_MD_get_size(md) == EVP_MD_get_size(ref)
             && EVP_MD_get_block_size(md) == EVP_MD_get_block_size(ref)
             && EVP_MD_get_flags(md) == EVP_MD_get_flags(ref)
             && EVP_DigestInit_ex2(ctx, md, NULL)
             && EVP_MD_CTX_get_size(ctx) == EVP_MD_get_size(ref);

    EVP_MD_CTX_free(ctx);
    EVP_MD_free(ref);
    return report(ok, alg, "size, block size, flags", 0);
}

static int compare(const char *alg, unsigned char *msg, int big_first)
{
    static const size_t lens[] = {0, 3, 1000, 70000, BIG};
    EVP_MD *md = EVP_MD_fetch(NULL, alg, "provider=pkcs11be");
    size_t i;
    int ok = md != NULL;

    if (!ok)
        return report(0, alg, "fetched from pkcs11be", 0);
    if (big_first)
        ok = check_oneshot(md, alg, msg, BIG);
    ok &= check_params(md, alg);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        ok &= check_oneshot(md, alg, msg, lens[i])
              & check_stream_reinit(md, alg, msg,
                                    lens[i] > 70000 ? 70000 : lens[i])
              & check_copy(md, alg, msg, lens[i]);
    EVP_MD_free(md);
    return ok;
}

static int expect_failure(const char *alg)
{
    EVP_MD *md = EVP_MD_fetch(NULL, alg, "provider=pkcs11be");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    int ok = md != NULL && !EVP_Digest("abc", 3, out, &out_len, md, NULL)
             && ERR_peek_error() != 0;

    printf("%s: %s fails\n", ok ? "ok" : "FAIL", alg);
    ERR_print_errors_fp(stdout);
    EVP_MD_free(md);
    return ok;
}

static void print_delegated(void)
{
    uint64_t count = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_uint64("pkcs11-delegated", &count),
        OSSL_PARAM_END,
    };

    if (OSSL_PROVIDER_get_params(p11be, params))
        printf("delegated: %llu\n", (unsigned long long)count);
    else
        printf("FAIL: pkcs11-delegated not readable\n");
}

int main(int argc, char **argv)
{
    unsigned char *msg = malloc(BIG);
    int i, ok = 1;

    if (argc < 3 || msg == NULL || !tu_load_providers(&p11be, &deflt)) {
        fprintf(stderr, "usage: digest_delegate compare|fail ALG...\n");
        ERR_print_errors_fp(stderr);
        return 2;
    }
    tu_fill(msg, BIG, 5);
    for (i = 2; i < argc; i++)
        ok &= strcmp(argv[1], "fail") == 0
                  ? expect_failure(argv[i])
                  : compare(argv[i], msg, strcmp(argv[1], "compare-big") == 0);
    print_delegated();
    free(msg);
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
