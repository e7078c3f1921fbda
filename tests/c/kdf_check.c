/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KDF checks (tests/21-kdf.t). pkcs11be's KDFs are fetched with
 * "provider=pkcs11be", the reference with "provider=default". Each mode
 * prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and exits 1.
 *
 *   kdf_check vectors      RFC 6070 PBKDF2-HMAC-SHA1, RFC 5869 HKDF,
 *                          RFC 7914 scrypt known answers
 *   kdf_check random N     N random parameter sets for each of the 12
 *                          KDFs, output equal to the default provider's;
 *                          copying works where the default's does; the
 *                          settable and gettable tables are the default's
 *   kdf_check pbkdf2 ITER  one PBKDF2-HMAC-SHA256 of ITER iterations
 *   kdf_check counter      "pkcs11-delegated" counts each derivation
 *   kdf_check errors       bad input: an error in the queue, no crash
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "testutil.h"

#define P11        "provider=pkcs11be"
#define DEF        "provider=default"
#define MAX_PARAMS 12

static OSSL_PROVIDER *p11be, *deflt;

/* Derives with one provider's KDF; 0 (and an error queue) on failure. */
static int derive(const char *name, const char *propq, const OSSL_PARAM *params,
                  unsigned char *out, size_t len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, propq);
    EVP_KDF_CTX *ctx = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
    int ok = ctx != NULL && EVP_KDF_derive(ctx, out, len, params) > 0;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

static int from_hex(const char *hex, unsigned char *out, size_t *len)
{
    long n;
    unsigned char *b = OPENSSL_hexstr2buf(hex, &n);

    if (b == NULL)
        return 0;
    memcpy(out, b, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(b);
    return 1;
}

static int expect(const char *what, const char *name, OSSL_PARAM *params,
                  const char *want_hex)
{
    unsigned char want[128], got[128];
    size_t want_len;

    if (!from_hex(want_hex, want, &want_len))
        return tu_fail("bad vector");
    if (!derive(name, P11, params, got, want_len))
        return tu_fail(what);
    if (memcmp(got, want, want_len) != 0) {
        printf("FAIL: %s: wrong output\n", what);
        return 0;
    }
    printf("ok: %s\n", what);
    return 1;
}

static int mode_vectors(void)
{
    OSSL_PARAM p[8];
    unsigned char ikm[22], salt[13], info[10];
    size_t ikm_len, salt_len, info_len;
    unsigned iter;
    uint64_t n = 1024;
    uint32_t r = 8, par = 16;
    int ok = 1;

    /* RFC 6070 test cases 2 and 5. */
    iter = 2;
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA1", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                             "password", 8);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, "salt", 4);
    p[3] = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter);
    p[4] = OSSL_PARAM_construct_end();
    ok &= expect("RFC 6070 case 2 (PBKDF2-HMAC-SHA1, 2 iterations)", "PBKDF2",
                 p, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
    iter = 4096;
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                             "passwordPASSWORDpassword", 24);
    p[2] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36);
    ok &= expect("RFC 6070 case 5 (4096 iterations, 25 bytes)", "PBKDF2", p,
                 "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");

    /* RFC 5869 A.1. */
    from_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", ikm, &ikm_len);
    from_hex("000102030405060708090a0b0c", salt, &salt_len);
    from_hex("f0f1f2f3f4f5f6f7f8f9", info, &info_len);
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, ikm_len);
    p[2] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, salt_len);
    p[3] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
    p[4] = OSSL_PARAM_construct_end();
    ok &= expect("RFC 5869 A.1 (HKDF-SHA256)", "HKDF", p,
                 "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4"
                 "c5bf34007208d5b887185865");

    /* RFC 7914 section 12, the second vector. */
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                             "password", 8);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, "NaCl", 4);
    p[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    p[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
    p[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par);
    p[5] = OSSL_PARAM_construct_end();
    ok &= expect("RFC 7914 N=1024 r=8 p=16 (scrypt)", "SCRYPT", p,
                 "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b37"
                 "31622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdf"
                 "a2cc0640");
    return ok;
}

/* Random inputs for one KDF, in buffers that live until the next call. */
struct random_case {
    unsigned char key[64], salt[32], info[48], extra[32];
    size_t key_len, salt_len, info_len;
    unsigned iter;
    int id;
    uint64_t n;
    uint32_t r, p;
    size_t out_len;
    OSSL_PARAM params[MAX_PARAMS];
};

static const char *const kdf_names[] = {
    "HKDF",    "TLS13-KDF", "SSKDF", "PBKDF2",  "PKCS12KDF",    "SSHKDF",
    "X963KDF", "TLS1-PRF",  "KBKDF", "KRB5KDF", "X942KDF-ASN1", "SCRYPT",
};

static const char *const some_digests[] = {"SHA1", "SHA256", "SHA384",
                                           "SHA512"};

static void random_params(const char *name, unsigned seed,
                          struct random_case *c)
{
    const char *md = some_digests[seed % 4];
    OSSL_PARAM *p = c->params;

    tu_fill(c->key, sizeof(c->key), seed);
    tu_fill(c->salt, sizeof(c->salt), seed + 1000);
    tu_fill(c->info, sizeof(c->info), seed + 2000);
    tu_fill(c->extra, sizeof(c->extra), seed + 3000);
    c->key_len = 1 + seed % sizeof(c->key);
    c->salt_len = 1 + seed * 7 % sizeof(c->salt);
    c->info_len = seed * 5 % sizeof(c->info);
    c->out_len = 1 + seed * 13 % 100;
    c->iter = 1 + seed * 37 % 3000;
    if (strcmp(name, "HKDF") == 0 || strcmp(name, "SSKDF") == 0
        || strcmp(name, "X963KDF") == 0) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        if (strcmp(name, "HKDF") == 0)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                     c->salt, c->salt_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, c->info,
                                                 c->info_len);
    } else if (strcmp(name, "TLS13-KDF") == 0) {
        int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;

        c->id = mode;
        c->key_len = EVP_MD_get_size(EVP_get_digestbyname(md));
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &c->id);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
                                                 "tls13 ", 6);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL,
                                                 "c hs traffic", 12);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, c->info,
                                                 c->info_len);
    } else if (strcmp(name, "PBKDF2") == 0 || strcmp(name, "PKCS12KDF") == 0) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                                 c->key, c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, c->salt,
                                                 c->salt_len);
        *p++ = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &c->iter);
        c->id = 1 + seed % 3;
        if (strcmp(name, "PKCS12KDF") == 0)
            *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS12_ID, &c->id);
    } else if (strcmp(name, "SSHKDF") == 0) {
        static char types[] = "ABCDEF";

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SSHKDF_XCGHASH,
                                                 c->salt, c->salt_len);
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SSHKDF_SESSION_ID, c->extra, 20);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_SSHKDF_TYPE,
                                                types + seed % 6, 1);
    } else if (strcmp(name, "TLS1-PRF") == 0) {
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_KDF_PARAM_DIGEST, seed % 5 == 0 ? "MD5-SHA1" : (char *)md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, c->info,
                                                 c->info_len + 1);
    } else if (strcmp(name, "KBKDF") == 0) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_KDF_PARAM_MODE, seed % 2 ? "counter" : "feedback", 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, c->salt,
                                                 c->salt_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, c->info,
                                                 c->info_len);
    } else if (strcmp(name, "KRB5KDF") == 0) {
        c->key_len = seed % 2 ? 16 : 32;
        c->out_len = c->key_len;
        c->info_len = seed % 16; /* the constant fits in a block */
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_KDF_PARAM_CIPHER, seed % 2 ? "AES-128-CBC" : "AES-256-CBC", 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_CONSTANT,
                                                 c->info, c->info_len + 1);
    } else if (strcmp(name, "X942KDF-ASN1") == 0) {
        c->out_len = 16;
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)md, 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, c->key,
                                                 c->key_len);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_CEK_ALG,
                                                "AES-128-WRAP", 0);
    } else if (strcmp(name, "SCRYPT") == 0) {
        c->n = (uint64_t)1 << (1 + seed % 10);
        c->r = 1 + seed % 8;
        c->p = 1 + seed % 3;
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                                 c->key, c->key_len);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, c->salt,
                                                 c->salt_len);
        *p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &c->n);
        *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &c->r);
        *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &c->p);
    }
    *p = OSSL_PARAM_construct_end();
}

static int same_names(const OSSL_PARAM *a, const OSSL_PARAM *b)
{
    for (; a != NULL && a->key != NULL; a++)
        if (OSSL_PARAM_locate_const(b, a->key) == NULL)
            return 0;
    return 1;
}

/*
 * The tables, the size, and copying agree with the default: OpenSSL 3.0's
 * KDFs cannot be copied (an error), later ones derive the same.
 */
static int check_kdf_shape(const char *name, struct random_case *c)
{
    EVP_KDF *mine = EVP_KDF_fetch(NULL, name, P11);
    EVP_KDF *ref = EVP_KDF_fetch(NULL, name, DEF);
    EVP_KDF_CTX *ctx = NULL, *dup = NULL, *ref_ctx = NULL, *ref_dup = NULL;
    unsigned char a[100], b[100];
    int ok = 0;

    if (mine == NULL || ref == NULL || EVP_KDF_get0_provider(mine) != p11be) {
        tu_fail("fetch");
        goto out;
    }
    if (!same_names(EVP_KDF_settable_ctx_params(mine),
                    EVP_KDF_settable_ctx_params(ref))
        || !same_names(EVP_KDF_settable_ctx_params(ref),
                       EVP_KDF_settable_ctx_params(mine))
        || !same_names(EVP_KDF_gettable_ctx_params(ref),
                       EVP_KDF_gettable_ctx_params(mine))) {
        printf("FAIL: %s: parameter tables differ from the default's\n", name);
        goto out;
    }
    ctx = EVP_KDF_CTX_new(mine);
    ref_ctx = EVP_KDF_CTX_new(ref);
    if (ctx == NULL || ref_ctx == NULL
        || !EVP_KDF_CTX_set_params(ctx, c->params)) {
        tu_fail("new context");
        goto out;
    }
    ref_dup = EVP_KDF_CTX_dup(ref_ctx);
    ERR_clear_error();
    dup = EVP_KDF_CTX_dup(ctx);
    if (ref_dup == NULL && (dup != NULL || ERR_peek_error() == 0)) {
        tu_fail("a copy the default provider refuses fails with an error");
        goto out;
    }
    ERR_clear_error();
    if (ref_dup != NULL
        && (dup == NULL || EVP_KDF_derive(ctx, a, c->out_len, NULL) <= 0
            || EVP_KDF_derive(dup, b, c->out_len, NULL) <= 0
            || memcmp(a, b, c->out_len) != 0)) {
        tu_fail("a copied context derives the same");
        goto out;
    }
    if (EVP_KDF_CTX_get_kdf_size(ctx) == 0) {
        tu_fail("kdf size");
        goto out;
    }
    EVP_KDF_CTX_reset(ctx);
    ok = 1;
out:
    EVP_KDF_CTX_free(ref_dup);
    EVP_KDF_CTX_free(ref_ctx);
    EVP_KDF_CTX_free(dup);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(mine);
    EVP_KDF_free(ref);
    return ok;
}

static int mode_random(unsigned rounds)
{
    struct random_case c = {0};
    unsigned char mine[100], ref[100];
    size_t k;
    unsigned seed;

    for (k = 0; k < sizeof(kdf_names) / sizeof(kdf_names[0]); k++) {
        for (seed = 1; seed <= rounds; seed++) {
            random_params(kdf_names[k], seed, &c);
            if (!derive(kdf_names[k], DEF, c.params, ref, c.out_len)) {
                printf("FAIL: %s seed %u: the default provider refused\n",
                       kdf_names[k], seed);
                return tu_fail("reference");
            }
            if (!derive(kdf_names[k], P11, c.params, mine, c.out_len)
                || memcmp(mine, ref, c.out_len) != 0) {
                printf("FAIL: %s seed %u differs\n", kdf_names[k], seed);
                return tu_fail(kdf_names[k]);
            }
        }
        if (!check_kdf_shape(kdf_names[k], &c))
            return 0;
        printf("ok: %s: %u random parameter sets match the default "
               "provider; copy, reset, size and tables\n",
               kdf_names[k], rounds);
    }
    return 1;
}

static int mode_pbkdf2(unsigned iter)
{
    unsigned char out[32];
    OSSL_PARAM p[5];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, "pw", 2);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                             "salt-for-pbkdf2!", 16);
    p[3] = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iter);
    p[4] = OSSL_PARAM_construct_end();
    if (!derive("PBKDF2", P11, p, out, sizeof(out)))
        return tu_fail("PBKDF2");
    printf("ok: PBKDF2-HMAC-SHA256, %u iterations\n", iter);
    return 1;
}

static uint64_t delegated(void)
{
    uint64_t n = UINT64_MAX;
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_uint64("pkcs11-delegated", &n);
    p[1] = OSSL_PARAM_construct_end();
    if (!OSSL_PROVIDER_get_params(p11be, p))
        return UINT64_MAX;
    return n;
}

static int mode_counter(void)
{
    uint64_t before = delegated(), after;

    if (before == UINT64_MAX)
        return tu_fail("pkcs11-delegated is not readable");
    if (!mode_pbkdf2(10) || !mode_pbkdf2(20) || !mode_pbkdf2(30))
        return 0;
    after = delegated();
    if (after != before + 3) {
        printf("FAIL: pkcs11-delegated went from %llu to %llu, not +3\n",
               (unsigned long long)before, (unsigned long long)after);
        return 0;
    }
    printf("ok: pkcs11-delegated %llu -> %llu after three derivations\n",
           (unsigned long long)before, (unsigned long long)after);
    return 1;
}

static int mode_errors(void)
{
    unsigned char out[32];
    OSSL_PARAM p[3];

    /* PBKDF2 with no password, HKDF with an unknown digest. */
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[1] = OSSL_PARAM_construct_end();
    ERR_clear_error();
    if (derive("PBKDF2", P11, p, out, sizeof(out)) || ERR_peek_error() == 0)
        return tu_fail("PBKDF2 without a password: no error");
    printf("ok: PBKDF2 without a password fails with an error\n");
    ERR_clear_error();
    p[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "NO-SUCH", 0);
    if (derive("HKDF", P11, p, out, sizeof(out)) || ERR_peek_error() == 0)
        return tu_fail("HKDF with an unknown digest: no error");
    printf("ok: HKDF with an unknown digest fails with an error\n");
    ERR_clear_error();
    return 1;
}

int main(int argc, char **argv)
{
    int ok;

    if (argc < 2 || !tu_load_providers(&p11be, &deflt))
        return tu_fail("usage, or loading the providers"), 1;
    if (strcmp(argv[1], "vectors") == 0)
        ok = mode_vectors();
    else if (strcmp(argv[1], "random") == 0 && argc == 3)
        ok = mode_random((unsigned)atoi(argv[2]));
    else if (strcmp(argv[1], "pbkdf2") == 0 && argc == 3)
        ok = mode_pbkdf2((unsigned)strtoul(argv[2], NULL, 10));
    else if (strcmp(argv[1], "counter") == 0)
        ok = mode_counter();
    else if (strcmp(argv[1], "errors") == 0)
        ok = mode_errors();
    else
        ok = tu_fail("unknown mode");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
