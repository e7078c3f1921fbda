/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TLS RSA key exchange's decryption (pad-mode 7,
 * RSA_PKCS1_WITH_TLS_PADDING) through pkcs11be, against OpenSSL's default
 * provider (tests/55-rsa-tls-kex.t). Each case encrypts a hand-made
 * PKCS#1 block raw with the public key and decrypts it as libssl does
 * (tls-client-version, sometimes tls-negotiated-version, a 48-byte
 * buffer):
 *
 *   accepted  both providers give the 48 bytes the block carries;
 *   rejected  both succeed with 48 bytes, nothing on the error queue, and
 *             bytes that are neither the block's nor the same twice
 *             (OpenSSL 3.0's random premaster, RFC 5246 7.4.7.1);
 *   refused   both fail with an error on the queue (a publicly wrong
 *             call: no client version, a short buffer, a ciphertext
 *             longer than the modulus).
 *
 *   rsa_tls_check PEM      the PEM key imported into pkcs11be, each case
 *                          also run by the default provider on the same key
 *   rsa_tls_check token    an RSA key generated on the token with a label
 *                          (no default-provider copy: outcomes only)
 *
 * Prints "ok: ..." lines and "N decryptions by pkcs11be" (those that
 * reach the token), exits 0; or
 * prints "FAIL: ..." and exits 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "testutil.h"

#define P11    "provider=pkcs11be"
#define DEF    "provider=default"
#define PMS    48 /* premaster secret */
#define MAXLEN 1024

enum outcome { ACCEPTED, REJECTED, REFUSED };

/* One ClientKeyExchange, as the client (or an attacker) made it. */
struct tls_case {
    const char *name;
    unsigned client, alt; /* what libssl sets; 0: not set */
    unsigned char v0, v1; /* the version in the block */
    int secret_len;       /* the secret after the separator */
    int first, second;    /* em[0], em[1] */
    int zero_in_padding;  /* a zero byte inside the padding */
    int extra_byte;       /* ciphertext one byte longer than the modulus */
    size_t outsize;       /* the caller's buffer */
    enum outcome expect;
};

static const struct tls_case cases[] = {
    {"TLS 1.2 premaster", 0x0303, 0, 3, 3, PMS, 0, 2, 0, 0, PMS, ACCEPTED},
    {"TLS 1.0 premaster", 0x0301, 0, 3, 1, PMS, 0, 2, 0, 0, PMS, ACCEPTED},
    {"larger buffer", 0x0303, 0, 3, 3, PMS, 0, 2, 0, 0, 512, ACCEPTED},
    {"version below the client's", 0x0303, 0, 3, 2, PMS, 0, 2, 0, 0, PMS,
     REJECTED},
    {"negotiated version, tolerated", 0x0303, 0x0302, 3, 2, PMS, 0, 2, 0, 0,
     PMS, ACCEPTED},
    {"neither version", 0x0303, 0x0302, 3, 1, PMS, 0, 2, 0, 0, PMS, REJECTED},
    {"SSL 3.0 version in the block", 0x0303, 0, 3, 0, PMS, 0, 2, 0, 0, PMS,
     REJECTED},
    {"first byte 01", 0x0303, 0, 3, 3, PMS, 1, 2, 0, 0, PMS, REJECTED},
    {"block type 1", 0x0303, 0, 3, 3, PMS, 0, 1, 0, 0, PMS, REJECTED},
    {"zero inside the padding", 0x0303, 0, 3, 3, PMS, 0, 2, 1, 0, PMS,
     REJECTED},
    {"47-byte secret", 0x0303, 0, 3, 3, PMS - 1, 0, 2, 0, 0, PMS, REJECTED},
    {"49-byte secret", 0x0303, 0, 3, 3, PMS + 1, 0, 2, 0, 0, PMS, REJECTED},
    {"no separator", 0x0303, 0, 3, 3, 0, 0, 2, 0, 0, PMS, REJECTED},
    {"no client version", 0, 0, 3, 3, PMS, 0, 2, 0, 0, PMS, REFUSED},
    {"47-byte buffer", 0x0303, 0, 3, 3, PMS, 0, 2, 0, 0, PMS - 1, REFUSED},
    {"ciphertext longer than the modulus", 0x0303, 0, 3, 3, PMS, 0, 2, 0, 1,
     PMS, REFUSED},
};

static int p11_decrypts;

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int failf(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tu_fail(msg);
}

/* The k-byte block of case c: 00 02 padding 00 secret, per the case. */
static void make_block(const struct tls_case *c, unsigned char *em, size_t k,
                       unsigned seed)
{
    size_t secret_at = k - (c->secret_len > 0 ? c->secret_len : 0), i;

    tu_fill(em, k, seed);
    for (i = 2; i < k; i++)
        if (em[i] == 0)
            em[i] = 0x5a; /* padding is non-zero; so is a missing separator */
    em[0] = (unsigned char)c->first;
    em[1] = (unsigned char)c->second;
    if (c->zero_in_padding)
        em[10] = 0;
    if (c->secret_len > 0) {
        em[secret_at - 1] = 0;
        em[secret_at] = c->v0;
        em[secret_at + 1] = c->v1;
    }
}

/* Raw RSA with the public key (pkcs11be runs it on the host). */
static int encrypt_raw(EVP_PKEY *key, const char *propq,
                       const unsigned char *em, size_t k, unsigned char *ct)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, propq);
    size_t len = k;
    int ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1
             && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1
             && EVP_PKEY_encrypt(ctx, ct, &len, em, k) == 1 && len == k;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* What libssl's tls_process_cke_rsa() does; 1 success, 0 failure. */
static int decrypt_tls(EVP_PKEY *key, const char *propq,
                       const struct tls_case *c, const unsigned char *ct,
                       size_t ct_len, unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, propq);
    unsigned client = c->client, alt = c->alt;
    OSSL_PARAM params[3], *p = params;
    size_t size_query = 0;
    int ok;

    if (client != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client);
    if (alt != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &alt);
    *p = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_WITH_TLS_PADDING) == 1
         && EVP_PKEY_CTX_set_params(ctx, params) == 1;
    /* The size query answers 48, as the default provider's does. */
    if (ok
        && (EVP_PKEY_decrypt(ctx, NULL, &size_query, ct, ct_len) != 1
            || size_query != PMS)) {
        failf("%s: size query gave %zu, not 48", c->name, size_query);
        EVP_PKEY_CTX_free(ctx);
        return -1;
    }
    *out_len = c->outsize;
    ok = ok && EVP_PKEY_decrypt(ctx, out, out_len, ct, ct_len) == 1;
    if (strcmp(propq, P11) == 0 && c->expect != REFUSED)
        p11_decrypts++;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* One provider's run of case c; 1 if it behaved as expected. */
static int check_one(EVP_PKEY *key, const char *propq, const struct tls_case *c,
                     const unsigned char *ct, size_t ct_len,
                     const unsigned char *secret)
{
    unsigned char out[2][MAXLEN];
    size_t out_len[2];
    int i, ok[2];

    for (i = 0; i < 2; i++) {
        ERR_clear_error();
        ok[i] = decrypt_tls(key, propq, c, ct, ct_len, out[i], &out_len[i]);
        if (ok[i] < 0)
            return 0;
        if (c->expect == REFUSED) {
            if (ok[i])
                return failf("%s (%s): succeeded", c->name, propq);
            if (ERR_peek_error() == 0)
                return failf("%s (%s): failed with nothing on the error "
                             "queue",
                             c->name, propq);
            return 1;
        }
        if (!ok[i] || out_len[i] != PMS)
            return failf("%s (%s): ok=%d, %zu bytes", c->name, propq, ok[i],
                         out_len[i]);
        if (ERR_peek_error() != 0)
            return failf("%s (%s): succeeded with an error on the queue",
                         c->name, propq);
    }
    if (c->expect == ACCEPTED) {
        if (memcmp(out[0], secret, PMS) != 0 || memcmp(out[1], secret, PMS))
            return failf("%s (%s): not the client's premaster", c->name, propq);
        return 1;
    }
    if (memcmp(out[0], secret, PMS) == 0 || memcmp(out[1], secret, PMS) == 0)
        return failf("%s (%s): the block's bytes came out", c->name, propq);
    if (memcmp(out[0], out[1], PMS) == 0)
        return failf("%s (%s): the same bytes twice, not random", c->name,
                     propq);
    return 1;
}

/*
 * Every case with `key` through pkcs11be, and through the default
 * provider as well when `with_default`.
 */
static int run_cases(EVP_PKEY *key, int with_default, const char *what)
{
    unsigned char em[MAXLEN], ct[MAXLEN + 1];
    size_t k = (size_t)EVP_PKEY_get_size(key), i;

    if (k > MAXLEN)
        return failf("%zu-byte key", k);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tls_case *c = &cases[i];
        size_t ct_len = k;

        make_block(c, em, k, (unsigned)(i + 1));
        if (!encrypt_raw(key, with_default ? DEF : P11, em, k, ct))
            return failf("%s: raw encryption", c->name);
        if (c->extra_byte) {
            memmove(ct + 1, ct, k);
            ct[0] = 0;
            ct_len = k + 1;
        }
        if (!check_one(key, P11, c, ct, ct_len, em + k - PMS))
            return 0;
        if (with_default && !check_one(key, DEF, c, ct, ct_len, em + k - PMS))
            return 0;
        printf("ok: %s, %s: %s%s\n", what, c->name,
               c->expect == ACCEPTED   ? "accepted"
               : c->expect == REJECTED ? "random premaster"
                                       : "refused",
               with_default ? ", as the default provider" : "");
    }
    return 1;
}

static EVP_PKEY *load_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (f == NULL)
        return NULL;
    key = PEM_read_PrivateKey_ex(f, NULL, NULL, NULL, NULL, DEF);
    fclose(f);
    return key;
}

static EVP_PKEY *generate_on_token(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
    char label[] = "tls-kex";
    size_t bits = 2048;
    OSSL_PARAM params[] = {
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits),
        OSSL_PARAM_utf8_string("pkcs11-key-label", label, sizeof(label) - 1),
        OSSL_PARAM_END,
    };
    EVP_PKEY *key = NULL;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
        || EVP_PKEY_CTX_set_params(ctx, params) != 1
        || EVP_PKEY_generate(ctx, &key) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    return key;
}

int main(int argc, char **argv)
{
    EVP_PKEY *key;
    int token, ok;

    if (argc != 2) {
        fprintf(stderr, "usage: rsa_tls_check PEM | token\n");
        return 2;
    }
    if (!tu_load_providers(NULL, NULL))
        return !tu_fail("loading the providers");
    token = strcmp(argv[1], "token") == 0;
    key = token ? generate_on_token() : load_pem(argv[1]);
    if (key == NULL)
        return !tu_fail(token ? "generating a key on the token"
                              : "reading the PEM key");
    ok = run_cases(key, !token, token ? "token key" : "imported key");
    EVP_PKEY_free(key);
    printf("%d decryptions by pkcs11be\n", p11_decrypts);
    return ok ? 0 : 1;
}
