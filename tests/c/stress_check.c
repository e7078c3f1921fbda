/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stress, fork and soak checks (tests/63-stress.t, tests/64-fork.t,
 * tests/66-soak.t, scripts/soak). Every result is checked against
 * OpenSSL's default provider: digests, MACs and ciphertexts byte for byte,
 * decryptions against the message, signatures made by pkcs11be verified by
 * the default provider, and pkcs11be's verifications of the default
 * provider's signatures (good ones and tampered ones).
 *
 *   stress_check run T N      T threads x N operations, taken in turn
 *                             from: sha256, hmac, cbc-enc, cbc-dec,
 *                             gcm-enc, gcm-dec, rsa-pkcs1, rsa-pss,
 *                             rsa-verify, ecdsa-sign, ecdsa-verify (one
 *                             RSA-2048 and one P-256 key for all
 *                             threads, made by the default provider and
 *                             imported by pkcs11be on first use); prints
 *                             "stress: threads=T ops=.. ok=.. failed=..
 *                             wrong=.. injected=.. recovered=.. ms=.."
 *   stress_check fork C I     one battery of every operation in the
 *                             parent, C children forked at once that each
 *                             run it three times (the parent's RSA key and
 *                             keyed HMAC context included) and exit(),
 *                             the parent running it meanwhile; then I
 *                             children that never use the provider and
 *                             exit() (half unload it first, so that its
 *                             teardown runs in them); the parent runs it
 *                             again. Every process unloads the providers
 *                             before exit() (see unload_providers). Prints
 *                             "fork: children=.. ok=.. failed=.. wrong=..
 *                             crashed=.. idle=.. idle_calls=..
 *                             parent=ok|FAILED"
 *   stress_check soak D K     D digests and K key imports (HMAC and
 *                             AES-128-CBC keys in turn, each in a new
 *                             context); prints "soak: ops=.. imports=..
 *                             failed=.. wrong=.. rss_start_kb=..
 *                             rss_mid_kb=.. (half-way) rss_end_kb=..
 *                             objects_start=..
 *                             objects_end=.. ms=.."
 *
 *   stress_check lost-pair 0 0
 *                             a P-256 pair generated on the token signs,
 *                             an HMAC key import follows (the caller's
 *                             P11SHIM_FAULTS make it lose the object
 *                             session), the pair signs again; prints
 *                             "lost-pair: first=ok|FAILED hmac=..
 *                             second=.." and "error: " the second's error
 *
 * With P11SHIM_COUNTS set (the tests' shim), "injected" and "recovered"
 * read the shim's fault counters (recovered: faults injected into
 * operations that still succeeded), "idle_calls" is the number of
 * PKCS#11 calls made while only the idle children ran, and the object
 * count is C_CreateObject - C_DestroyObject; without it they are -1.
 *
 * Exit status: 0 unless a result was WRONG or a child crashed (1), or the
 * program could not run (2). Failures are for the caller to judge.
 */
#define _GNU_SOURCE /* gettid() */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/* Compiled in: test programs link only OpenSSL (tests/CMakeLists.txt). */
#include "../shim/p11shim_counts.c"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define MAX_THREADS  64  /* run */
#define MAX_CHILDREN 256 /* fork */
#define MAX_MSG      300 /* bytes of a message */
#define HMAC_KEY_LEN 32  /* HMAC keys */
#define AAD_LEN      20  /* GCM additional data */
#define TAG_LEN      16  /* GCM tags */
#define IV_LEN       16  /* CBC IVs; GCM uses the first 12 bytes */
#define SIGS         8   /* signatures made ahead for rsa-verify */
#define SIG_MAX      512 /* bytes of an RSA signature */
#define EC_SIG_MAX   80  /* bytes of a DER P-256 ECDSA signature */

enum op_result {
    OP_OK,
    OP_FAILED, /* an error, with a reason in the queue */
    OP_WRONG,  /* a result that differs from the default provider's */
};

/* The operations of "run", in the order threads take them. */
enum op_kind {
    OPK_SHA256,
    OPK_HMAC,
    OPK_CBC_ENC,
    OPK_CBC_DEC,
    OPK_GCM_ENC,
    OPK_GCM_DEC,
    OPK_RSA_PKCS1,
    OPK_RSA_PSS,
    OPK_RSA_VERIFY,
    OPK_EC_SIGN,
    OPK_EC_VERIFY,
    OPK_COUNT
};

static const char *const op_names[OPK_COUNT] = {
    "sha256",     "hmac",       "cbc-enc",      "cbc-dec",
    "gcm-enc",    "gcm-dec",    "rsa-pkcs1",    "rsa-pss",
    "rsa-verify", "ecdsa-sign", "ecdsa-verify",
};

/* A signature made by the default provider, for rsa-verify. */
struct ref_sig {
    unsigned char tbs[32];      /* SHA-256 of some message */
    unsigned char sig[SIG_MAX]; /* its signature */
    size_t sig_len;             /* bytes in sig */
    int pss;                    /* PSS, else PKCS#1 v1.5 */
};

/* An ECDSA P-256 signature made by the default provider, for ecdsa-verify. */
struct ref_ec_sig {
    unsigned char tbs[32];         /* SHA-256 of some message */
    unsigned char sig[EC_SIG_MAX]; /* its DER signature */
    size_t sig_len;                /* bytes in sig */
};

/* One thread of "run". */
struct worker {
    unsigned seed;                      /* varies messages and keys */
    unsigned long first;                /* where in the mix it starts */
    unsigned long ops;                  /* operations to run */
    unsigned long ok;                   /* results */
    unsigned long failed;               /* ... */
    unsigned long wrong;                /* ... */
    unsigned long wrong_by[OPK_COUNT];  /* wrong results by operation */
    unsigned long failed_by[OPK_COUNT]; /* failures by operation */
    uint64_t charged;                   /* faults injected into failures */
    char last_error[512];               /* of the last failure */
    pthread_t tid;                      /* valid when started */
};

static OSSL_PROVIDER *prov_p11, *prov_def;
static EVP_MD *md_p11, *md_def;
static EVP_MAC *mac_p11, *mac_def;
static EVP_CIPHER *cbc_p11, *cbc_def, *gcm_p11, *gcm_def;
static EVP_PKEY *rsa_key;                   /* made by default, used by both */
static struct ref_sig ref_sigs[SIGS];       /* for rsa-verify */
static EVP_PKEY *ec_key;                    /* made by default, used by both */
static struct ref_ec_sig ref_ec_sigs[SIGS]; /* for ecdsa-verify */
static struct p11shim_counts counts; /* the shim's counter file, if any */
static int have_counts;              /* counts is open */

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
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

/* ---- the shim's counters ------------------------------------------- */

static void counts_open(void)
{
    const char *path = getenv("P11SHIM_COUNTS");
    char why[256];

    have_counts =
        path != NULL
        && p11shim_counts_open(&counts, path,
                               P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE
                                   | P11SHIM_COUNTS_FAULTS,
                               why, sizeof(why));
}

static uint64_t counter(enum p11shim_fn fn)
{
    return __atomic_load_n(&counts.counter[fn], __ATOMIC_RELAXED);
}

/* Faults injected into this thread so far (0 without counters). */
static uint64_t injected_now(void)
{
    if (!have_counts || counts.faults == NULL)
        return 0;
    return __atomic_load_n(
        &counts.faults->by_thread[(unsigned)gettid() % P11SHIM_THREAD_SLOTS],
        __ATOMIC_RELAXED);
}

static long long injected_total(void)
{
    if (!have_counts || counts.faults == NULL)
        return -1;
    return (long long)__atomic_load_n(&counts.faults->injected_total,
                                      __ATOMIC_RELAXED);
}

/*
 * Token objects alive: C_CreateObject calls that reached the token less
 * C_DestroyObject calls; -1 unknown. Objects a lost session took with it
 * still count.
 */
static long long objects_now(void)
{
    long long made;

    if (!have_counts)
        return -1;
    made = (long long)counter(P11SHIM_C_CreateObject);
    /* Calls answered by an injected fault or refused made nothing. */
    if (counts.faults != NULL)
        made -= (long long)(counts.faults->injected[P11SHIM_C_CreateObject]
                            + counts.faults->refused[P11SHIM_C_CreateObject]);
    return made - (long long)counter(P11SHIM_C_DestroyObject);
}

/* Every PKCS#11 call counted so far; -1 unknown. */
static long long calls_now(void)
{
    uint64_t sum = 0;
    int i;

    if (!have_counts)
        return -1;
    for (i = 0; i < P11SHIM_FN_COUNT; i++)
        sum += counter((enum p11shim_fn)i);
    return (long long)sum;
}

/* ---- set-up --------------------------------------------------------- */

static int load_providers(void)
{
    const char *dir = getenv("P11BE_BUILD_DIR");

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    prov_p11 = OSSL_PROVIDER_load(NULL, "pkcs11be");
    prov_def = OSSL_PROVIDER_load(NULL, "default");
    if (prov_p11 == NULL || prov_def == NULL)
        return 0;
    md_p11 = EVP_MD_fetch(NULL, "SHA2-256", P11);
    md_def = EVP_MD_fetch(NULL, "SHA2-256", DEF);
    mac_p11 = EVP_MAC_fetch(NULL, "HMAC", P11);
    mac_def = EVP_MAC_fetch(NULL, "HMAC", DEF);
    cbc_p11 = EVP_CIPHER_fetch(NULL, "AES-128-CBC", P11);
    cbc_def = EVP_CIPHER_fetch(NULL, "AES-128-CBC", DEF);
    gcm_p11 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", P11);
    gcm_def = EVP_CIPHER_fetch(NULL, "AES-256-GCM", DEF);
    return md_p11 != NULL && md_def != NULL && mac_p11 != NULL
           && mac_def != NULL && cbc_p11 != NULL && cbc_def != NULL
           && gcm_p11 != NULL && gcm_def != NULL;
}

static void free_algorithms(void)
{
    EVP_MD_free(md_p11);
    EVP_MD_free(md_def);
    EVP_MAC_free(mac_p11);
    EVP_MAC_free(mac_def);
    EVP_CIPHER_free(cbc_p11);
    EVP_CIPHER_free(cbc_def);
    EVP_CIPHER_free(gcm_p11);
    EVP_CIPHER_free(gcm_def);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    md_p11 = md_def = NULL;
    mac_p11 = mac_def = NULL;
    cbc_p11 = cbc_def = gcm_p11 = gcm_def = NULL;
    rsa_key = NULL;
    ec_key = NULL;
}

/*
 * Frees every algorithm and unloads both providers, as a tidy program
 * does before it exits: the provider's teardown then runs during
 * OpenSSL's exit clean-up (which is where pkcs11-finalize applies).
 */
static void unload_providers(void)
{
    free_algorithms();
    if (prov_p11 != NULL)
        OSSL_PROVIDER_unload(prov_p11);
    if (prov_def != NULL)
        OSSL_PROVIDER_unload(prov_def);
    prov_p11 = prov_def = NULL;
}

/* ---- RSA ------------------------------------------------------------ */

static int rsa_params(EVP_PKEY_CTX *ctx, int pss)
{
    OSSL_PARAM p[4];
    int n = 0;

    p[n++] = OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)(pss ? "pss" : "pkcs1"), 0);
    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                              (char *)"SHA2-256", 0);
    if (pss)
        p[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)"digest", 0);
    p[n] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(ctx, p) > 0;
}

static int rsa_sign(const char *props, int pss, const unsigned char *tbs,
                    unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa_key, props);
    size_t room = *sig_len;
    int ok;

    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0 && rsa_params(ctx, pss)
         && EVP_PKEY_sign(ctx, NULL, sig_len, tbs, 32) > 0 && *sig_len <= room
         && EVP_PKEY_sign(ctx, sig, sig_len, tbs, 32) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* 1 valid, 0 invalid, -1 error. */
static int rsa_verify(const char *props, int pss, const unsigned char *tbs,
                      const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa_key, props);
    int r = -1;

    if (ctx != NULL && EVP_PKEY_verify_init(ctx) > 0 && rsa_params(ctx, pss))
        r = EVP_PKEY_verify(ctx, sig, sig_len, tbs, 32);
    EVP_PKEY_CTX_free(ctx);
    return r < 0 ? -1 : r;
}

/* The key, and SIGS signatures by the default provider for rsa-verify. */
static int make_rsa(void)
{
    int i;

    rsa_key = EVP_PKEY_Q_keygen(NULL, DEF, "RSA", (size_t)2048);
    if (rsa_key == NULL)
        return 0;
    for (i = 0; i < SIGS; i++) {
        struct ref_sig *r = &ref_sigs[i];
        unsigned char msg[64];
        unsigned int len = 0;

        fill(msg, sizeof(msg), 900u + (unsigned)i);
        r->pss = i % 2;
        r->sig_len = sizeof(r->sig);
        if (!EVP_Digest(msg, sizeof(msg), r->tbs, &len, md_def, NULL)
            || !rsa_sign(DEF, r->pss, r->tbs, r->sig, &r->sig_len))
            return 0;
    }
    return 1;
}

static enum op_result op_rsa_sign(unsigned seed, int pss)
{
    unsigned char tbs[32], sig[SIG_MAX];
    size_t sig_len = sizeof(sig);
    int v;

    fill(tbs, sizeof(tbs), seed);
    if (!rsa_sign(P11, pss, tbs, sig, &sig_len))
        return OP_FAILED;
    v = rsa_verify(DEF, pss, tbs, sig, sig_len);
    if (v < 0)
        return OP_FAILED;
    return v == 1 ? OP_OK : OP_WRONG;
}

static enum op_result op_rsa_verify(unsigned seed)
{
    const struct ref_sig *r = &ref_sigs[seed % SIGS];
    unsigned char bad[SIG_MAX];
    int good, tampered;

    memcpy(bad, r->sig, r->sig_len);
    bad[seed % r->sig_len] ^= 0x01;
    good = rsa_verify(P11, r->pss, r->tbs, r->sig, r->sig_len);
    tampered = rsa_verify(P11, r->pss, r->tbs, bad, r->sig_len);
    ERR_clear_error(); /* a tampered signature may leave an error */
    if (good == 1 && tampered == 0)
        return OP_OK;
    if (good == 0 || tampered == 1)
        return OP_WRONG;
    return OP_FAILED;
}

/* ---- ECDSA P-256 ---------------------------------------------------- */

/* A context on ec_key for `props`, initialised to sign or verify SHA-256. */
static EVP_PKEY_CTX *ec_ctx(const char *props, int sign)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ec_key, props);
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                            (char *)"SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL
        || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0
        || EVP_PKEY_CTX_set_params(ctx, p) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int ec_sign(const char *props, const unsigned char *tbs,
                   unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = ec_ctx(props, 1);
    int ok;

    ok = ctx != NULL && EVP_PKEY_sign(ctx, sig, sig_len, tbs, 32) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* 1 valid, 0 invalid, -1 error. */
static int ec_verify(const char *props, const unsigned char *tbs,
                     const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = ec_ctx(props, 0);
    int r = -1;

    if (ctx != NULL)
        r = EVP_PKEY_verify(ctx, sig, sig_len, tbs, 32);
    EVP_PKEY_CTX_free(ctx);
    return r < 0 ? -1 : r;
}

/* The key, and SIGS signatures by the default provider for ecdsa-verify. */
static int make_ec(void)
{
    int i;

    ec_key = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    if (ec_key == NULL)
        return 0;
    for (i = 0; i < SIGS; i++) {
        struct ref_ec_sig *r = &ref_ec_sigs[i];
        unsigned char msg[64];
        unsigned int len = 0;

        fill(msg, sizeof(msg), 700u + (unsigned)i);
        r->sig_len = sizeof(r->sig);
        if (!EVP_Digest(msg, sizeof(msg), r->tbs, &len, md_def, NULL)
            || !ec_sign(DEF, r->tbs, r->sig, &r->sig_len))
            return 0;
    }
    return 1;
}

/* Signed by pkcs11be (on the token), verified by the default provider. */
static enum op_result op_ec_sign(unsigned seed)
{
    unsigned char tbs[32], sig[EC_SIG_MAX];
    size_t sig_len = sizeof(sig);
    int v;

    fill(tbs, sizeof(tbs), seed);
    if (!ec_sign(P11, tbs, sig, &sig_len))
        return OP_FAILED;
    v = ec_verify(DEF, tbs, sig, sig_len);
    if (v < 0)
        return OP_FAILED;
    return v == 1 ? OP_OK : OP_WRONG;
}

/* The default provider's signature, good and tampered, by pkcs11be. */
static enum op_result op_ec_verify(unsigned seed)
{
    const struct ref_ec_sig *r = &ref_ec_sigs[seed % SIGS];
    unsigned char tbs[32];
    int good, tampered;

    /* A changed digest: the signature must not verify. */
    memcpy(tbs, r->tbs, sizeof(tbs));
    tbs[seed % sizeof(tbs)] ^= 0x01;
    good = ec_verify(P11, r->tbs, r->sig, r->sig_len);
    tampered = ec_verify(P11, tbs, r->sig, r->sig_len);
    ERR_clear_error(); /* a bad signature may leave an error */
    if (good == 1 && tampered == 0)
        return OP_OK;
    if (good == 0 || tampered == 1)
        return OP_WRONG;
    return OP_FAILED;
}

/* ---- digests and MACs ----------------------------------------------- */

static enum op_result op_sha256(unsigned seed)
{
    unsigned char msg[MAX_MSG], got[32], want[32];
    size_t len = (seed * 37u) % sizeof(msg);
    unsigned int got_len = 0, want_len = 0;

    fill(msg, len, seed);
    if (!EVP_Digest(msg, len, want, &want_len, md_def, NULL))
        return OP_FAILED;
    memset(got, 0, sizeof(got));
    if (!EVP_Digest(msg, len, got, &got_len, md_p11, NULL))
        return OP_FAILED;
    return got_len == 32 && memcmp(got, want, 32) == 0 ? OP_OK : OP_WRONG;
}

static int hmac_once(EVP_MAC *mac, const char *props, const unsigned char *key,
                     const unsigned char *msg, size_t len, unsigned char *out)
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[3];
    size_t out_len = 0;
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA2-256", 0);
    /* The default provider's HMAC must not fetch its hash from pkcs11be. */
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES,
                                                 (char *)props, 0);
    params[2] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_MAC_init(ctx, key, HMAC_KEY_LEN, params)
         && EVP_MAC_update(ctx, msg, len)
         && EVP_MAC_final(ctx, out, &out_len, 32) && out_len == 32;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* HMAC-SHA256 with a new key in a new context: one key import. */
static enum op_result op_hmac(unsigned seed)
{
    unsigned char key[HMAC_KEY_LEN], msg[MAX_MSG], got[32], want[32];
    size_t len = (seed * 13u) % sizeof(msg);

    fill(key, sizeof(key), seed + 5000u);
    fill(msg, len, seed);
    if (!hmac_once(mac_def, DEF, key, msg, len, want))
        return OP_FAILED;
    memset(got, 0, sizeof(got));
    if (!hmac_once(mac_p11, P11, key, msg, len, got))
        return OP_FAILED;
    return memcmp(got, want, 32) == 0 ? OP_OK : OP_WRONG;
}

/* ---- ciphers -------------------------------------------------------- */

/*
 * One encryption or decryption in a new context. GCM: aad and tag (set
 * before the data when tag_first, else before final; filled on
 * encryption). Returns the output length, or -1.
 */
static int crypt_once(EVP_CIPHER *cipher, int enc, const unsigned char *key,
                      const unsigned char *iv, const unsigned char *aad,
                      unsigned char *tag, int tag_first,
                      const unsigned char *in, int in_len, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int gcm = aad != NULL, len = 0, fin = 0, ok;

    ok = ctx != NULL && EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, NULL);
    if (ok && gcm && !enc && tag_first)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag);
    if (ok && gcm)
        ok = EVP_CipherUpdate(ctx, NULL, &len, aad, AAD_LEN);
    ok = ok && EVP_CipherUpdate(ctx, out, &len, in, in_len);
    if (ok && gcm && !enc && !tag_first)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag);
    ok = ok && EVP_CipherFinal_ex(ctx, out + len, &fin);
    if (ok && gcm && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? len + fin : -1;
}

/* dec: encrypt with default, decrypt with pkcs11be; else the reverse. */
static enum op_result op_cipher(unsigned seed, int gcm, int dec)
{
    unsigned char key[32], iv[IV_LEN], aad[AAD_LEN], msg[MAX_MSG];
    unsigned char want[MAX_MSG + 32], got[MAX_MSG + 32];
    unsigned char tag_want[TAG_LEN], tag_got[TAG_LEN];
    EVP_CIPHER *p11 = gcm ? gcm_p11 : cbc_p11, *def = gcm ? gcm_def : cbc_def;
    int len = (int)((seed * 29u) % sizeof(msg)), want_len, got_len;
    int tag_first = (seed / 7u) % 2;

    fill(key, sizeof(key), seed + 77u);
    fill(iv, sizeof(iv), seed + 78u);
    fill(aad, sizeof(aad), seed + 79u);
    fill(msg, (size_t)len, seed);
    want_len = crypt_once(def, 1, key, iv, gcm ? aad : NULL, tag_want, 0, msg,
                          len, want);
    if (want_len < 0)
        return OP_FAILED;
    memset(got, 0, sizeof(got));
    if (dec) {
        memcpy(tag_got, tag_want, sizeof(tag_got));
        got_len = crypt_once(p11, 0, key, iv, gcm ? aad : NULL, tag_got,
                             tag_first, want, want_len, got);
        if (got_len < 0)
            return OP_FAILED;
        return got_len == len && memcmp(got, msg, (size_t)len) == 0 ? OP_OK
                                                                    : OP_WRONG;
    }
    got_len = crypt_once(p11, 1, key, iv, gcm ? aad : NULL, tag_got, 0, msg,
                         len, got);
    if (got_len < 0)
        return OP_FAILED;
    if (got_len != want_len || memcmp(got, want, (size_t)want_len) != 0
        || (gcm && memcmp(tag_got, tag_want, TAG_LEN) != 0))
        return OP_WRONG;
    return OP_OK;
}

static enum op_result op_run(enum op_kind kind, unsigned seed)
{
    switch (kind) {
    case OPK_SHA256:
        return op_sha256(seed);
    case OPK_HMAC:
        return op_hmac(seed);
    case OPK_CBC_ENC:
        return op_cipher(seed, 0, 0);
    case OPK_CBC_DEC:
        return op_cipher(seed, 0, 1);
    case OPK_GCM_ENC:
        return op_cipher(seed, 1, 0);
    case OPK_GCM_DEC:
        return op_cipher(seed, 1, 1);
    case OPK_RSA_PKCS1:
        return op_rsa_sign(seed, 0);
    case OPK_RSA_PSS:
        return op_rsa_sign(seed, 1);
    case OPK_RSA_VERIFY:
        return op_rsa_verify(seed);
    case OPK_EC_SIGN:
        return op_ec_sign(seed);
    case OPK_EC_VERIFY:
        return op_ec_verify(seed);
    case OPK_COUNT:
        break;
    }
    return OP_FAILED;
}

/* ---- run ------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned long i;

    for (i = 0; i < w->ops; i++) {
        enum op_kind kind = (enum op_kind)((i + w->first) % OPK_COUNT);
        uint64_t before = injected_now();
        enum op_result res = op_run(kind, w->seed++);

        if (res == OP_OK) {
            w->ok++;
        } else if (res == OP_WRONG) {
            w->wrong++;
            w->wrong_by[kind]++;
        } else {
            w->failed++;
            w->failed_by[kind]++;
            w->charged += injected_now() - before;
            take_errors(w->last_error, sizeof(w->last_error));
        }
        ERR_clear_error();
    }
    return NULL;
}

static int run_stress(unsigned long threads, unsigned long ops)
{
    static struct worker workers[MAX_THREADS];
    unsigned long i, ok = 0, failed = 0, wrong = 0, by[OPK_COUNT] = {0};
    unsigned long fby[OPK_COUNT] = {0};
    long long start, injected;
    uint64_t charged = 0;
    long t0;
    int k;

    if (threads == 0 || threads > MAX_THREADS) {
        fprintf(stderr, "stress_check: 1..%d threads\n", MAX_THREADS);
        return 2;
    }
    if (!make_rsa() || !make_ec()) {
        printf("FAIL: cannot make the RSA and EC keys\n");
        ERR_print_errors_fp(stdout);
        return 2;
    }
    start = injected_total();
    t0 = now_ms();
    for (i = 0; i < threads; i++) {
        workers[i].seed = (unsigned)(i * 7919u + 1u);
        workers[i].first = i;
        workers[i].ops = ops;
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])
            != 0) {
            fprintf(stderr, "stress_check: pthread_create failed\n");
            return 2;
        }
    }
    for (i = 0; i < threads; i++)
        pthread_join(workers[i].tid, NULL);
    injected = start < 0 ? -1 : injected_total() - start;
    for (i = 0; i < threads; i++) {
        ok += workers[i].ok;
        failed += workers[i].failed;
        wrong += workers[i].wrong;
        charged += workers[i].charged;
        for (k = 0; k < OPK_COUNT; k++) {
            by[k] += workers[i].wrong_by[k];
            fby[k] += workers[i].failed_by[k];
        }
        if (workers[i].failed > 0)
            printf("last error of thread %lu: %s\n", i, workers[i].last_error);
    }
    for (k = 0; k < OPK_COUNT; k++)
        if (by[k] > 0 || fby[k] > 0)
            printf("%s: failed=%lu wrong=%lu\n", op_names[k], fby[k], by[k]);
    printf("stress: threads=%lu ops=%lu ok=%lu failed=%lu wrong=%lu "
           "injected=%lld recovered=%lld ms=%ld\n",
           threads, threads * ops, ok, failed, wrong, injected,
           injected < 0 ? -1LL
                        : (long long)((uint64_t)injected > charged
                                          ? (uint64_t)injected - charged
                                          : 0),
           now_ms() - t0);
    return wrong > 0;
}

/* ---- fork ----------------------------------------------------------- */

/* The worse of two results: WRONG over FAILED over OK. */
static enum op_result worse(enum op_result a, enum op_result b)
{
    if (a == OP_WRONG || b == OP_WRONG)
        return OP_WRONG;
    return a == OP_FAILED || b == OP_FAILED ? OP_FAILED : OP_OK;
}

/* Every operation once, with the kept HMAC context too; the worst result. */
static enum op_result battery(EVP_MAC_CTX *kept, const unsigned char *key,
                              unsigned seed)
{
    unsigned char msg[100], got[32], want[32];
    enum op_result res = OP_OK;
    size_t got_len = 0;
    int k;

    for (k = 0; k < OPK_COUNT; k++)
        res = worse(res, op_run((enum op_kind)k, seed + (unsigned)k));
    fill(msg, sizeof(msg), seed);
    if (!hmac_once(mac_def, DEF, key, msg, sizeof(msg), want))
        return OP_FAILED;
    /* Re-initialised with the key it holds (NULL key). */
    if (!EVP_MAC_init(kept, NULL, 0, NULL)
        || !EVP_MAC_update(kept, msg, sizeof(msg))
        || !EVP_MAC_final(kept, got, &got_len, sizeof(got)))
        return res == OP_WRONG ? OP_WRONG : OP_FAILED;
    if (got_len != 32 || memcmp(got, want, 32) != 0)
        return OP_WRONG;
    return res;
}

static int run_fork(int children, int idle)
{
    static pid_t pids[MAX_CHILDREN];
    unsigned char key[HMAC_KEY_LEN];
    EVP_MAC_CTX *kept = NULL;
    OSSL_PARAM params[2];
    char err[512];
    int i, status, ok = 0, failed = 0, wrong = 0, crashed = 0;
    int parent_ok = 1;
    long long before, idle_calls;

    if (children < 0 || children > MAX_CHILDREN || idle < 0
        || idle > MAX_CHILDREN) {
        fprintf(stderr, "stress_check: 0..%d children\n", MAX_CHILDREN);
        return 2;
    }
    fill(key, sizeof(key), 4242);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA2-256", 0);
    params[1] = OSSL_PARAM_construct_end();
    kept = EVP_MAC_CTX_new(mac_p11);
    if (!make_rsa() || !make_ec() || kept == NULL
        || !EVP_MAC_init(kept, key, sizeof(key), params)
        || battery(kept, key, 1) != OP_OK) {
        take_errors(err, sizeof(err));
        printf("FAIL: the parent, before forking: %s\n", err);
        EVP_MAC_CTX_free(kept);
        return 2;
    }
    fflush(stdout);
    for (i = 0; i < children; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            enum op_result r = OP_OK;
            int j;

            for (j = 0; j < 3; j++)
                r = worse(r,
                          battery(kept, key, 100u * (unsigned)i + (unsigned)j));
            if (r == OP_FAILED) {
                take_errors(err, sizeof(err));
                printf("child %d: %s\n", i, err);
            }
            fflush(stdout);
            EVP_MAC_CTX_free(kept);
            unload_providers();
            /* exit(), not _exit(): OpenSSL's exit clean-up runs. */
            exit(r == OP_OK ? 0 : r == OP_WRONG ? 1 : 3);
        }
        if (pids[i] < 0) {
            printf("FAIL: fork\n");
            return 2;
        }
    }
    /* The parent keeps working while the children do. */
    for (i = 0; i < 10; i++)
        if (battery(kept, key, 7000u + (unsigned)i) != OP_OK)
            parent_ok = 0;
    for (i = 0; i < children; i++) {
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status))
            crashed++;
        else if (WEXITSTATUS(status) == 0)
            ok++;
        else if (WEXITSTATUS(status) == 1)
            wrong++;
        else
            failed++;
    }
    /* Nothing else runs now: every call counted comes from an idle child. */
    before = calls_now();
    fflush(stdout);
    for (i = 0; i < idle; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            /*
             * Half free what they inherited, so that the provider's
             * teardown runs in them; half just exit.
             */
            if (i % 2 == 0) {
                EVP_MAC_CTX_free(kept);
                unload_providers();
            }
            exit(0);
        }
        if (pids[i] < 0) {
            printf("FAIL: fork\n");
            return 2;
        }
    }
    for (i = 0; i < idle; i++)
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            crashed++;
    idle_calls = before < 0 ? -1 : calls_now() - before;
    for (i = 0; i < 10; i++)
        if (battery(kept, key, 8000u + (unsigned)i) != OP_OK)
            parent_ok = 0;
    if (!parent_ok) {
        take_errors(err, sizeof(err));
        printf("parent: %s\n", err);
    }
    EVP_MAC_CTX_free(kept);
    printf("fork: children=%d ok=%d failed=%d wrong=%d crashed=%d idle=%d "
           "idle_calls=%lld parent=%s\n",
           children, ok, failed, wrong, crashed, idle, idle_calls,
           parent_ok ? "ok" : "FAILED");
    return wrong > 0 || crashed > 0;
}

/* ---- soak ----------------------------------------------------------- */

/* An HMAC or AES-128-CBC key in a new context: one import. */
static enum op_result soak_import(unsigned long i)
{
    return i % 2 == 0 ? op_hmac((unsigned)i) : op_cipher((unsigned)i, 0, 0);
}

static int run_soak(unsigned long digests, unsigned long imports)
{
    unsigned long warm_d = digests / 100, warm_i = imports / 100, i, d = 0;
    unsigned long failed = 0, wrong = 0, done_i = 0;
    long long obj_start, obj_end;
    long rss_start, rss_mid = 0, rss_end, t0;
    char err[512] = "";
    enum op_result r;

    /* Warm-up: caches, the pool and the error tables reach their size. */
    for (i = 0; i < warm_d; i++)
        if (op_sha256((unsigned)i) != OP_OK)
            failed++;
    for (i = 0; i < warm_i; i++)
        if (soak_import(i) != OP_OK)
            failed++;
    ERR_clear_error();
    rss_start = rss_kb();
    obj_start = objects_now();
    t0 = now_ms();
    for (i = 0; i < digests || done_i < imports; i++) {
        if (d < digests) {
            r = op_sha256((unsigned)d++);
            if (r != OP_OK) {
                failed += r == OP_FAILED;
                wrong += r == OP_WRONG;
                take_errors(err, sizeof(err));
            }
        }
        /* Imports spread evenly among the digests. */
        if (done_i < imports
            && (digests == 0 || done_i * digests <= d * imports)) {
            r = soak_import(done_i++);
            if (r != OP_OK) {
                failed += r == OP_FAILED;
                wrong += r == OP_WRONG;
                take_errors(err, sizeof(err));
            }
        }
        ERR_clear_error();
        if (rss_mid == 0 && (d + done_i) * 2 >= digests + imports)
            rss_mid = rss_kb();
    }
    rss_end = rss_kb();
    obj_end = objects_now();
    if (failed > 0)
        printf("last error: %s\n", err);
    printf("soak: ops=%lu imports=%lu failed=%lu wrong=%lu rss_start_kb=%ld "
           "rss_mid_kb=%ld rss_end_kb=%ld objects_start=%lld objects_end=%lld "
           "ms=%ld\n",
           digests + imports, imports, failed, wrong, rss_start, rss_mid,
           rss_end, obj_start, obj_end, now_ms() - t0);
    return wrong > 0;
}

/* ---- lost pair -------------------------------------------------------- */

/* An ECDSA signature with `key` by pkcs11be over a fixed digest. */
static int lost_pair_sign(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, P11);
    unsigned char tbs[32], sig[80];
    size_t sig_len = sizeof(sig);
    int ok;

    fill(tbs, sizeof(tbs), 42u);
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0
         && EVP_PKEY_sign(ctx, sig, &sig_len, tbs, sizeof(tbs)) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/*
 * A P-256 pair generated on the token (session objects on the object
 * session), one signature, then an HMAC whose key import the caller's
 * P11SHIM_FAULTS makes lose the object session (and the pair with it),
 * then a second signature, which must fail saying what happened.
 */
static int run_lost_pair(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, P11, "EC", "P-256");
    unsigned char hkey[HMAC_KEY_LEN], msg[64], got[32], want[32];
    int first, hmac, second;
    char error[512] = "";

    if (key == NULL) {
        printf("FAIL: generating a P-256 pair on the token\n");
        ERR_print_errors_fp(stdout);
        return 2;
    }
    first = lost_pair_sign(key);
    fill(hkey, sizeof(hkey), 1u);
    fill(msg, sizeof(msg), 2u);
    hmac = hmac_once(mac_def, DEF, hkey, msg, sizeof(msg), want)
           && hmac_once(mac_p11, P11, hkey, msg, sizeof(msg), got)
           && memcmp(got, want, sizeof(got)) == 0;
    ERR_clear_error();
    second = lost_pair_sign(key);
    if (!second)
        take_errors(error, sizeof(error));
    EVP_PKEY_free(key);
    printf("lost-pair: first=%s hmac=%s second=%s\nerror: %s\n",
           first ? "ok" : "FAILED", hmac ? "ok" : "FAILED",
           second ? "ok" : "FAILED", error);
    return 0;
}

int main(int argc, char **argv)
{
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 4) {
        fputs("usage: stress_check run T N | fork C I | soak D K | "
              "lost-pair 0 0\n",
              stderr);
        return 2;
    }
    counts_open();
    /*
     * Without a config file the default provider's DRBG would fetch its
     * AES-256-CTR from pkcs11be (build/openssl.cnf prevents that with
     * [random_sect]): keep random numbers off the token, as the config
     * does, so that faults hit only the operations counted.
     */
    if (!RAND_set_DRBG_type(NULL, NULL, DEF, NULL, NULL) || !load_providers()) {
        printf("FAIL: cannot load pkcs11be and default\n");
        ERR_print_errors_fp(stdout);
        return 2;
    }
    if (strcmp(argv[1], "run") == 0)
        rc = run_stress(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    else if (strcmp(argv[1], "fork") == 0)
        rc = run_fork(atoi(argv[2]), atoi(argv[3]));
    else if (strcmp(argv[1], "soak") == 0)
        rc = run_soak(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    else if (strcmp(argv[1], "lost-pair") == 0)
        rc = run_lost_pair();
    else
        rc = 2;
    unload_providers();
    if (have_counts)
        p11shim_counts_close(&counts);
    return rc;
}
