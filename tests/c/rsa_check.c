/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RSA checks that need a C program (tests/5x-rsa*.t). Results are
 * compared with OpenSSL's default provider: PKCS#1 v1.5 and raw signatures
 * byte for byte, PSS signatures and OAEP ciphertexts by verifying and
 * decrypting on the other side. Each mode prints "ok: ..." lines and exits
 * 0, or prints "FAIL: ..." and exits 1.
 *
 *   rsa_check params PEM..     import into pkcs11be: params, export, eq,
 *                              dup, validate as the default provider
 *   rsa_check gen BITS [LABEL [IDHEX [PUBOUT]]]  generate on the token,
 *                              use it; persistent with a label/id; the
 *                              public key to PUBOUT (PEM)
 *   rsa_check find LABEL IDHEX MSG SIGOUT  find a persistent pair made by
 *                              another process ("-": no label or id), sign
 *                              MSG (PKCS#1 v1.5, SHA-256) into SIGOUT,
 *                              and decrypt (OAEP) with it
 *   rsa_check destroy LABEL    C_DestroyObject of every object labelled
 *                              LABEL, straight on the module
 *   rsa_check sign FULL PEM..  every padding and digest, both directions
 *                              (FULL=1: every PSS salt and MGF1)
 *   rsa_check decrypt PEM..    pkcs1, oaep (hashes, MGF1, label), none
 *   rsa_check pss-key PEM      a restricted RSA-PSS key, imported and
 *                              generated on the token
 *   rsa_check repeat N PEM     N pkcs1 SHA-256 signatures with one key
 *   rsa_check hygiene N PEM    import, sign once, free: N keys
 *   rsa_check hygiene-fromdata N PEM..  N keys, taking the PEM keys in
 *                              turn: each imported into pkcs11be with
 *                              EVP_PKEY_fromdata, signed with once (so
 *                              its token object is made), verified by
 *                              the default provider, freed; prints
 *                              "rss: start_kb=.. end_kb=.." (start after
 *                              the first tenth, a warm-up)
 *   rsa_check outlive PEM      sign, sign, sign (faults close sessions)
 *   rsa_check outlive-gen      the same with a generated key
 *   rsa_check dup PEM          EVP_MD_CTX_copy of a DigestSign mid-stream
 *   rsa_check threads N PEM    N threads sign with one key
 *   rsa_check fork PEM         sign in a parent and its child
 *   rsa_check gen-fork [persistent]  a generated key pair across fork
 *   rsa_check errors PEM SMALL bad input: clear errors, no crash
 *   rsa_check hashbench N MSGLEN  host hash + CKM_RSA_PKCS vs
 *                              CKM_SHA256_RSA_PKCS, ops/s (no pkcs11be)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
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
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const digests[] = {"SHA1", "SHA2-224", "SHA2-256",
                                      "SHA2-384", "SHA2-512"};

static int fail(const char *what)
{
    printf("FAIL: %s\n", what);
    ERR_print_errors_fp(stdout);
    return 0;
}

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int failf(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(msg);
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

static OSSL_PROVIDER *p11be, *deflt;
static int p11_signs, p11_decrypts; /* private-key operations by pkcs11be */

/* Counts one more when `yes`; the threads test counts from every thread. */
static void count_if(int *counter, int yes)
{
    if (yes)
        __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static int load_providers(void)
{
    const char *dir = getenv("P11BE_BUILD_DIR");

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    /*
     * Default first: OpenSSL's DRBG then takes its AES from it, not from
     * the token (the config template pins that; here nothing else would).
     */
    deflt = OSSL_PROVIDER_load(NULL, "default");
    p11be = OSSL_PROVIDER_load(NULL, "pkcs11be");
    return p11be != NULL && deflt != NULL;
}

/* A PEM private key, decoded by the default provider. */
static EVP_PKEY *load_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey;

    if (f == NULL)
        return NULL;
    pkey = PEM_read_PrivateKey_ex(f, NULL, NULL, NULL, NULL, DEF);
    fclose(f);
    return pkey;
}

/* Moves `from` into the keymgmt of `props` (selection: EVP_PKEY_*). */
static EVP_PKEY *convert(EVP_PKEY *from, const char *props, int selection)
{
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_name(NULL, EVP_PKEY_get0_type_name(from), props);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(from, selection, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, selection, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

/* ---- one signature -------------------------------------------------- */

struct sigcase {
    const char *pad;     /* "pkcs1", "pss", "none" */
    const char *md;      /* NULL: none */
    const char *mgf1;    /* NULL: as md */
    const char *saltlen; /* NULL: default */
};

static int sig_params(EVP_PKEY_CTX *ctx, const struct sigcase *c, int verify)
{
    OSSL_PARAM p[5];
    int n = 0;

    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                              (char *)c->pad, 0);
    if (c->md != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                  (char *)c->md, 0);
    if (c->mgf1 != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)c->mgf1, 0);
    if (c->saltlen != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
            (char *)(verify && strcmp(c->saltlen, "max") == 0 ? "auto"
                                                              : c->saltlen),
            0);
    p[n] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(ctx, p) > 0;
}

static int sign_with(EVP_PKEY *key, const char *props, const struct sigcase *c,
                     const unsigned char *tbs, size_t tbs_len,
                     unsigned char *sig, size_t *sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, props);
    size_t room = *sig_len;
    int ok;

    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0 && sig_params(ctx, c, 0)
         && EVP_PKEY_sign(ctx, NULL, sig_len, tbs, tbs_len) > 0
         && *sig_len <= room
         && EVP_PKEY_sign(ctx, sig, sig_len, tbs, tbs_len) > 0;
    EVP_PKEY_CTX_free(ctx);
    count_if(&p11_signs, ok && strcmp(props, P11) == 0);
    return ok;
}

static int verify_with(EVP_PKEY *key, const char *props,
                       const struct sigcase *c, const unsigned char *tbs,
                       size_t tbs_len, const unsigned char *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, props);
    int ok;

    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) > 0 && sig_params(ctx, c, 1)
         && EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* The input for a case: a digest of the right size, or k raw bytes. */
static size_t case_input(const struct sigcase *c, EVP_PKEY *key,
                         unsigned char *tbs, unsigned seed)
{
    size_t len = 20;

    if (c->md != NULL) {
        EVP_MD *md = EVP_MD_fetch(NULL, c->md, DEF);

        len = EVP_MD_get_size(md);
        EVP_MD_free(md);
    } else if (strcmp(c->pad, "none") == 0) {
        len = EVP_PKEY_get_size(key);
    }
    fill(tbs, len, seed);
    if (strcmp(c->pad, "none") == 0)
        tbs[0] = 0; /* below the modulus */
    return len;
}

/* pkcs11be signs, default verifies (and matches, when deterministic). */
static int sign_case(EVP_PKEY *sw, const struct sigcase *c, unsigned seed)
{
    unsigned char tbs[1024], sig[1024], ref[1024];
    size_t tbs_len = case_input(c, sw, tbs, seed);
    size_t sig_len = sizeof(sig), ref_len = sizeof(ref);
    char what[160];

    snprintf(what, sizeof(what), "%d-bit %s %s mgf1=%s salt=%s",
             EVP_PKEY_get_bits(sw), c->pad, c->md ? c->md : "-",
             c->mgf1 ? c->mgf1 : "-", c->saltlen ? c->saltlen : "-");
    /* What the default provider refuses (a salt too long ..) is refused. */
    if (!sign_with(sw, DEF, c, tbs, tbs_len, ref, &ref_len)) {
        ERR_clear_error();
        if (sign_with(sw, P11, c, tbs, tbs_len, sig, &sig_len))
            return failf("pkcs11be signed what default refuses: %s", what);
        if (ERR_peek_error() == 0)
            return failf("refused without an error: %s", what);
        ERR_clear_error();
        return 1;
    }
    ref_len = sizeof(ref);
    if (!sign_with(sw, P11, c, tbs, tbs_len, sig, &sig_len))
        return failf("pkcs11be sign: %s", what);
    if (!verify_with(sw, DEF, c, tbs, tbs_len, sig, sig_len))
        return failf("default verify of pkcs11be's: %s", what);
    if (strcmp(c->pad, "pss") != 0
        && (!sign_with(sw, DEF, c, tbs, tbs_len, ref, &ref_len)
            || ref_len != sig_len || memcmp(ref, sig, sig_len) != 0))
        return failf("not the default provider's signature: %s", what);
    /* And the reverse: the default signs, pkcs11be verifies. */
    ref_len = sizeof(ref);
    if (!sign_with(sw, DEF, c, tbs, tbs_len, ref, &ref_len)
        || !verify_with(sw, P11, c, tbs, tbs_len, ref, ref_len))
        return failf("pkcs11be verify of default's: %s", what);
    sig[sig_len / 2] ^= 1;
    if (verify_with(sw, P11, c, tbs, tbs_len, sig, sig_len))
        return failf("pkcs11be verified a wrong signature: %s", what);
    ERR_clear_error();
    return 1;
}

/* EVP_DigestSign through pkcs11be, EVP_DigestVerify through default. */
static int digest_case(EVP_PKEY *sw, const struct sigcase *c, size_t msg_len)
{
    unsigned char *msg = malloc(msg_len + 1), sig[1024], ref[1024];
    size_t sig_len = sizeof(sig), ref_len = sizeof(ref);
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pa = NULL, *pb = NULL;
    int ok;

    fill(msg, msg_len, (unsigned)msg_len);
    ok =
        EVP_DigestSignInit_ex(a, &pa, c->md, NULL, P11, sw, NULL) > 0
        && sig_params(pa, c, 0) && EVP_DigestSignUpdate(a, msg, msg_len / 3) > 0
        && EVP_DigestSignUpdate(a, msg + msg_len / 3, msg_len - msg_len / 3) > 0
        && EVP_DigestSignFinal(a, NULL, &sig_len) > 0
        && EVP_DigestSignFinal(a, sig, &sig_len) > 0 && ++p11_signs
        && EVP_DigestVerifyInit_ex(b, &pb, c->md, NULL, DEF, sw, NULL) > 0
        && sig_params(pb, c, 1)
        && EVP_DigestVerify(b, sig, sig_len, msg, msg_len) == 1;
    if (ok && strcmp(c->pad, "pss") != 0) {
        EVP_MD_CTX_reset(b);
        ok = EVP_DigestSignInit_ex(b, &pb, c->md, NULL, DEF, sw, NULL) > 0
             && sig_params(pb, c, 0)
             && EVP_DigestSign(b, ref, &ref_len, msg, msg_len) > 0
             && ref_len == sig_len && memcmp(ref, sig, sig_len) == 0;
    }
    /* pkcs11be verifies, one shot. */
    EVP_MD_CTX_reset(a);
    ok = ok && EVP_DigestVerifyInit_ex(a, &pa, c->md, NULL, P11, sw, NULL) > 0
         && sig_params(pa, c, 1)
         && EVP_DigestVerify(a, sig, sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    free(msg);
    if (!ok)
        return failf("DigestSign %s %s", c->pad, c->md);
    return 1;
}

static int run_sign(int full, int n, char **paths)
{
    static const char *const salts_full[] = {"digest", "max", "auto", "0",
                                             "17"};
    static const char *const salts_short[] = {"digest", "max"};
    const char *const *salts = full ? salts_full : salts_short;
    size_t salt_count = full ? COUNT(salts_full) : COUNT(salts_short);
    int i, cases = 0;
    size_t d, m, s;

    for (i = 0; i < n; i++) {
        EVP_PKEY *sw = load_pem(paths[i]);
        struct sigcase c = {"pkcs1", NULL, NULL, NULL};

        if (sw == NULL)
            return failf("cannot load %s", paths[i]);
        if (!sign_case(sw, &c, 1))
            return 0;
        c.pad = "none";
        if (!sign_case(sw, &c, 2))
            return 0;
        cases += 2;
        for (d = 0; d < COUNT(digests); d++) {
            c.pad = "pkcs1";
            c.md = digests[d];
            c.mgf1 = c.saltlen = NULL;
            if (!sign_case(sw, &c, 3 + d))
                return 0;
            cases++;
            c.pad = "pss";
            for (m = 0; m < COUNT(digests); m++) {
                /* Every MGF1 when full, else the same and SHA-1. */
                if (!full && m != d && m != 0)
                    continue;
                c.mgf1 = digests[m];
                for (s = 0; s < salt_count; s++) {
                    c.saltlen = salts[s];
                    if (!sign_case(sw, &c, 100 + cases))
                        return 0;
                    cases++;
                }
            }
        }
        {
            struct sigcase k1 = {"pkcs1", "SHA2-256", NULL, NULL};
            struct sigcase k2 = {"pss", "SHA2-384", "SHA1", "digest"};
            struct sigcase k3 = {"pkcs1", "SHA3-256", NULL, NULL};
            struct sigcase k4 = {"pss", "SHA3-256", NULL, "digest"};

            if (!digest_case(sw, &k1, 10000) || !digest_case(sw, &k2, 3)
                || !digest_case(sw, &k3, 100) || !digest_case(sw, &k4, 0))
                return 0;
            cases += 4;
        }
        printf("ok: %d-bit key\n", EVP_PKEY_get_bits(sw));
        EVP_PKEY_free(sw);
    }
    printf("ok: %d signature cases, %d signatures by pkcs11be\n", cases,
           p11_signs);
    return 1;
}

/* ---- decryption ----------------------------------------------------- */

struct enccase {
    const char *pad;   /* "pkcs1", "oaep", "none" */
    const char *md;    /* OAEP */
    const char *mgf1;  /* OAEP; NULL: as md */
    const char *label; /* OAEP; NULL: none */
};

static int enc_params(EVP_PKEY_CTX *ctx, const struct enccase *c)
{
    OSSL_PARAM p[5];
    int n = 0;

    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                                              (char *)c->pad, 0);
    if (c->md != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)c->md, 0);
    if (c->mgf1 != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)c->mgf1, 0);
    if (c->label != NULL)
        p[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)c->label,
            strlen(c->label));
    p[n] = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(ctx, p) > 0;
}

static int crypt_with(EVP_PKEY *key, const char *props, const struct enccase *c,
                      int decrypt, const unsigned char *in, size_t in_len,
                      unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, props);
    size_t room = *out_len;
    int ok;

    ok = ctx != NULL
         && (decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx))
                > 0
         && enc_params(ctx, c);
    if (ok && decrypt)
        ok = EVP_PKEY_decrypt(ctx, NULL, out_len, in, in_len) > 0
             && *out_len <= room
             && EVP_PKEY_decrypt(ctx, out, out_len, in, in_len) > 0;
    count_if(&p11_decrypts, ok && decrypt && strcmp(props, P11) == 0);
    if (ok && !decrypt)
        ok = EVP_PKEY_encrypt(ctx, NULL, out_len, in, in_len) > 0
             && *out_len <= room
             && EVP_PKEY_encrypt(ctx, out, out_len, in, in_len) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int decrypt_case(EVP_PKEY *sw, const struct enccase *c, size_t len)
{
    unsigned char msg[1024], ct[1024], pt[1024];
    size_t ct_len = sizeof(ct), pt_len = sizeof(pt);
    char what[160];

    snprintf(what, sizeof(what), "%d-bit %s %s mgf1=%s label=%s",
             EVP_PKEY_get_bits(sw), c->pad, c->md ? c->md : "-",
             c->mgf1 ? c->mgf1 : "-", c->label ? c->label : "-");
    if (strcmp(c->pad, "none") == 0)
        len = EVP_PKEY_get_size(sw);
    fill(msg, len, (unsigned)len);
    if (strcmp(c->pad, "none") == 0)
        msg[0] = msg[1] = 0; /* below the modulus; leading zeros kept */
    if (!crypt_with(sw, DEF, c, 0, msg, len, ct, &ct_len))
        return failf("default encrypt: %s", what);
    if (!crypt_with(sw, P11, c, 1, ct, ct_len, pt, &pt_len) || pt_len != len
        || memcmp(pt, msg, len) != 0)
        return failf("pkcs11be decrypt: %s", what);
    /* pkcs11be encrypts (on the host), the default decrypts. */
    ct_len = sizeof(ct);
    pt_len = sizeof(pt);
    if (!crypt_with(sw, P11, c, 0, msg, len, ct, &ct_len)
        || !crypt_with(sw, DEF, c, 1, ct, ct_len, pt, &pt_len) || pt_len != len
        || memcmp(pt, msg, len) != 0)
        return failf("pkcs11be encrypt: %s", what);
    return 1;
}

static int run_decrypt(int n, char **paths)
{
    static const char *const labels[] = {NULL, "a label"};
    int i, cases = 0;
    size_t d, m, l;

    for (i = 0; i < n; i++) {
        EVP_PKEY *sw = load_pem(paths[i]);
        struct enccase c = {"pkcs1", NULL, NULL, NULL};

        if (sw == NULL)
            return failf("cannot load %s", paths[i]);
        if (!decrypt_case(sw, &c, 0) || !decrypt_case(sw, &c, 1)
            || !decrypt_case(sw, &c, 33))
            return 0;
        c.pad = "none";
        if (!decrypt_case(sw, &c, 0))
            return 0;
        cases += 4;
        c.pad = "oaep";
        for (d = 0; d < COUNT(digests); d++) {
            for (m = 0; m < COUNT(digests); m++) {
                if (m != d && m != 0 && m != 2)
                    continue;
                for (l = 0; l < COUNT(labels); l++) {
                    EVP_MD *md = EVP_MD_fetch(NULL, digests[d], DEF);
                    int room =
                        EVP_PKEY_get_size(sw) - 2 * EVP_MD_get_size(md) - 2;

                    EVP_MD_free(md);
                    c.md = digests[d];
                    c.mgf1 = digests[m];
                    c.label = labels[l];
                    if (room < 0)
                        continue;
                    if (!decrypt_case(sw, &c, room < 32 ? room : 32))
                        return 0;
                    cases++;
                }
            }
        }
        printf("ok: %d-bit key\n", EVP_PKEY_get_bits(sw));
        EVP_PKEY_free(sw);
    }
    printf("ok: %d decryption cases, %d decryptions by pkcs11be\n", cases,
           p11_decrypts);
    return 1;
}

/* ---- keymgmt -------------------------------------------------------- */

static int same_int_param(EVP_PKEY *a, EVP_PKEY *b, const char *name)
{
    int x = -1, y = -2;

    return EVP_PKEY_get_int_param(a, name, &x)
           && EVP_PKEY_get_int_param(b, name, &y) && x == y;
}

static int same_bn_param(EVP_PKEY *a, EVP_PKEY *b, const char *name)
{
    BIGNUM *x = NULL, *y = NULL;
    int ok;

    ok = EVP_PKEY_get_bn_param(a, name, &x)
         && EVP_PKEY_get_bn_param(b, name, &y) && BN_cmp(x, y) == 0;
    BN_free(x);
    BN_free(y);
    return ok;
}

/* Everything keymgmt answers, against the default provider's key. */
static int check_params(EVP_PKEY *p11, EVP_PKEY *sw, int with_private)
{
    char a[64] = "", b[64] = "";
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pub, *dup;
    int ok;

    if (!same_int_param(p11, sw, OSSL_PKEY_PARAM_BITS)
        || !same_int_param(p11, sw, OSSL_PKEY_PARAM_SECURITY_BITS)
        || !same_int_param(p11, sw, OSSL_PKEY_PARAM_MAX_SIZE)
        || EVP_PKEY_get_size(p11) != EVP_PKEY_get_size(sw)
        || !same_bn_param(p11, sw, OSSL_PKEY_PARAM_RSA_N)
        || !same_bn_param(p11, sw, OSSL_PKEY_PARAM_RSA_E))
        return fail("bits, security-bits, max-size, n or e differ");
    if (EVP_PKEY_get_default_digest_name(p11, a, sizeof(a)) <= 0
        || EVP_PKEY_get_default_digest_name(sw, b, sizeof(b)) <= 0
        || strcmp(a, b) != 0)
        return failf("default digest %s, not %s", a, b);
    if (EVP_PKEY_eq(p11, sw) != 1 || EVP_PKEY_eq(sw, p11) != 1)
        return fail("EVP_PKEY_eq across providers");
    if (with_private != (same_bn_param(p11, sw, OSSL_PKEY_PARAM_RSA_D) ? 1 : 0))
        return fail("d exported when it should not be, or not when it should");
    ERR_clear_error();
    /* The public half, exported to the default provider. */
    pub = convert(p11, DEF, EVP_PKEY_PUBLIC_KEY);
    if (pub == NULL || EVP_PKEY_eq(pub, sw) != 1)
        return fail("public export");
    EVP_PKEY_free(pub);
    dup = EVP_PKEY_dup(p11);
    if (dup == NULL || EVP_PKEY_eq(dup, p11) != 1)
        return fail("EVP_PKEY_dup");
    EVP_PKEY_free(dup);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p11, P11);
    ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1
         && EVP_PKEY_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return fail("validate");
    return 1;
}

static int run_params(int n, char **paths)
{
    int i;

    for (i = 0; i < n; i++) {
        EVP_PKEY *sw = load_pem(paths[i]), *p11, *pub, *other;
        struct sigcase c = {"pkcs1", "SHA2-256", NULL, NULL};
        unsigned char tbs[32] = {0}, sig[1024];
        size_t sig_len = sizeof(sig);

        if (sw == NULL)
            return failf("cannot load %s", paths[i]);
        p11 = convert(sw, P11, EVP_PKEY_KEYPAIR);
        if (p11 == NULL
            || strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(p11)),
                      "pkcs11be")
                   != 0)
            return fail("EVP_PKEY_fromdata into pkcs11be");
        if (!check_params(p11, sw, 1))
            return 0;
        /* A public key: imported, compared, never able to sign. */
        pub = convert(sw, P11, EVP_PKEY_PUBLIC_KEY);
        if (pub == NULL || !check_params(pub, sw, 0))
            return fail("public key import");
        if (sign_with(pub, P11, &c, tbs, sizeof(tbs), sig, &sig_len))
            return fail("signed with a public key");
        ERR_clear_error();
        other = EVP_PKEY_Q_keygen(NULL, DEF, "RSA", (size_t)1024);
        if (other == NULL || EVP_PKEY_eq(p11, other) == 1)
            return fail("a different key compares equal");
        printf("ok: %d-bit key: params, export, eq, dup, validate\n",
               EVP_PKEY_get_bits(sw));
        EVP_PKEY_free(other);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(p11);
        EVP_PKEY_free(sw);
    }
    return 1;
}

static int hex_to_bin(const char *hex, unsigned char *out, size_t room)
{
    long len = 0;
    unsigned char *bin = OPENSSL_hexstr2buf(hex, &len);

    if (bin == NULL || (size_t)len > room) {
        OPENSSL_free(bin);
        return -1;
    }
    memcpy(out, bin, len);
    OPENSSL_free(bin);
    return (int)len;
}

/* The public half of `key` as PEM in `path`. */
static int write_pub(EVP_PKEY *key, const char *path)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && PEM_write_PUBKEY(f, key);

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok;
}

static int run_gen(size_t bits, const char *label, const char *id_hex,
                   const char *pub_path)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
    struct sigcase c = {"pss", "SHA2-256", NULL, "digest"};
    unsigned char id[64], tbs[32] = {0}, sig[1024];
    size_t sig_len = sizeof(sig);
    OSSL_PARAM p[4];
    EVP_PKEY *key = NULL, *pub;
    int n = 0, id_len = id_hex ? hex_to_bin(id_hex, id, sizeof(id)) : 0;

    if (id_len < 0)
        return fail("bad id");
    p[n++] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    if (label != NULL)
        p[n++] = OSSL_PARAM_construct_utf8_string("pkcs11-key-label",
                                                  (char *)label, 0);
    if (id_len > 0)
        p[n++] = OSSL_PARAM_construct_octet_string("pkcs11-key-id", id,
                                                   (size_t)id_len);
    p[n] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0
        || !EVP_PKEY_CTX_set_params(ctx, p)
        || EVP_PKEY_generate(ctx, &key) <= 0)
        return fail("generating on the token");
    EVP_PKEY_CTX_free(ctx);
    if (EVP_PKEY_get_bits(key) != (int)bits)
        return fail("wrong size");
    /*
     * Its public half goes to the default provider, nothing more: a
     * key-pair export is refused (not answered with the public half).
     */
    pub = convert(key, DEF, EVP_PKEY_KEYPAIR);
    if (pub != NULL)
        return fail("key-pair export of a token key succeeded");
    ERR_clear_error();
    pub = convert(key, DEF, EVP_PKEY_PUBLIC_KEY);
    if (pub == NULL || EVP_PKEY_eq(pub, key) != 1)
        return fail("public export of a generated key");
    {
        BIGNUM *d = NULL;

        if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_D, &d)
            || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, &d))
            return fail("the private exponent left the token");
        ERR_clear_error();
    }
    fill(tbs, sizeof(tbs), 7);
    if (!sign_with(key, P11, &c, tbs, sizeof(tbs), sig, &sig_len)
        || !verify_with(pub, DEF, &c, tbs, sizeof(tbs), sig, sig_len))
        return fail("sign with the generated key");
    if (pub_path != NULL && !write_pub(pub, pub_path))
        return fail("writing the public key");
    printf("ok: generated %zu-bit key%s%s, signed\n", bits,
           label ? " labelled " : "", label ? label : "");
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return 1;
}

/*
 * A persistent pair made by another process, found with the keygen
 * parameter pkcs11-key-existing by label and/or id ("-": not given).
 */
static EVP_PKEY *find_key(const char *label, const char *id_hex)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
    unsigned char id[64];
    int existing = 1, n = 0, id_len = 0;
    EVP_PKEY *key = NULL;
    OSSL_PARAM p[4];

    if (strcmp(id_hex, "-") != 0
        && (id_len = hex_to_bin(id_hex, id, sizeof(id))) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        fail("bad id");
        return NULL;
    }
    if (strcmp(label, "-") != 0)
        p[n++] = OSSL_PARAM_construct_utf8_string("pkcs11-key-label",
                                                  (char *)label, 0);
    if (id_len > 0)
        p[n++] = OSSL_PARAM_construct_octet_string("pkcs11-key-id", id,
                                                   (size_t)id_len);
    p[n++] = OSSL_PARAM_construct_int("pkcs11-key-existing", &existing);
    p[n] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0
        || !EVP_PKEY_CTX_set_params(ctx, p)
        || EVP_PKEY_generate(ctx, &key) <= 0) {
        fail("finding the key pair on the token");
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* OAEP: encrypted by the default provider, decrypted on the token. */
static int find_decrypts(EVP_PKEY *key, EVP_PKEY *pub)
{
    static const unsigned char secret[] = "a secret for the found key";
    unsigned char ct[1024], pt[1024];
    size_t ct_len = sizeof(ct), pt_len = sizeof(pt);
    EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, DEF);
    EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new_from_pkey(NULL, key, P11);
    int ok = enc != NULL && dec != NULL && EVP_PKEY_encrypt_init(enc) > 0
             && EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_encrypt(enc, ct, &ct_len, secret, sizeof(secret)) > 0
             && EVP_PKEY_decrypt_init(dec) > 0
             && EVP_PKEY_CTX_set_rsa_padding(dec, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_decrypt(dec, pt, &pt_len, ct, ct_len) > 0
             && pt_len == sizeof(secret) && memcmp(pt, secret, pt_len) == 0;

    EVP_PKEY_CTX_free(enc);
    EVP_PKEY_CTX_free(dec);
    return ok || fail("OAEP decryption with the key found");
}

static int run_find(const char *label, const char *id_hex, const char *msg_path,
                    const char *sig_path)
{
    unsigned char msg[4096], sig[1024];
    size_t msg_len, sig_len = sizeof(sig);
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *key, *pub = NULL;
    FILE *f;
    int ok = 0;

    f = fopen(msg_path, "rb");
    if (f == NULL)
        return fail("reading the message");
    msg_len = fread(msg, 1, sizeof(msg), f);
    fclose(f);
    key = find_key(label, id_hex);
    if (key == NULL)
        return 0;
    if (EVP_PKEY_get_bits(key) <= 0 || !EVP_PKEY_can_sign(key)) {
        fail("the key found has no size or cannot sign");
        goto out_free;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL
        || !EVP_DigestSignInit_ex(md, NULL, "SHA2-256", NULL, P11, key, NULL)
        || !EVP_DigestSign(md, sig, &sig_len, msg, msg_len)) {
        fail("signing with the key found");
        goto out_free;
    }
    /* Its public half, as the default provider sees it, checks it here. */
    pub = convert(key, DEF, EVP_PKEY_PUBLIC_KEY);
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    if (pub == NULL || md == NULL
        || !EVP_DigestVerifyInit_ex(md, NULL, "SHA2-256", NULL, DEF, pub, NULL)
        || EVP_DigestVerify(md, sig, sig_len, msg, msg_len) != 1) {
        fail("verifying with the public key read from the token");
        goto out_free;
    }
    if (!find_decrypts(key, pub))
        goto out_free;
    f = fopen(sig_path, "wb");
    if (f == NULL || fwrite(sig, 1, sig_len, f) != sig_len) {
        if (f != NULL)
            fclose(f);
        fail("writing the signature");
        goto out_free;
    }
    if (fclose(f) != 0) {
        fail("writing the signature");
        goto out_free;
    }
    printf("ok: found the %d-bit key pair, signed %zu bytes, decrypted\n",
           EVP_PKEY_get_bits(key), msg_len);
    ok = 1;
out_free:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return ok;
}

/* A restricted RSA-PSS key: imported, and generated on the token. */
static int run_pss_key(const char *path)
{
    EVP_PKEY *sw = load_pem(path), *gen = NULL, *pub;
    struct sigcase wrong = {"pss", "SHA2-384", NULL, NULL};
    unsigned char tbs[48] = {0}, sig[1024];
    char a[32] = "", b[32] = "";
    size_t sig_len = sizeof(sig);
    EVP_PKEY_CTX *ctx;
    OSSL_PARAM p[2];

    if (sw == NULL || !EVP_PKEY_is_a(sw, "RSA-PSS"))
        return fail("cannot load the RSA-PSS key");
    {
        struct sigcase c = {"pss", "SHA2-256", NULL, NULL};

        if (!digest_case(sw, &c, 1000))
            return 0;
    }
    pub = convert(sw, P11, EVP_PKEY_KEYPAIR);
    if (pub == NULL
        || !EVP_PKEY_get_utf8_string_param(
            pub, OSSL_PKEY_PARAM_MANDATORY_DIGEST, a, sizeof(a), NULL)
        || !EVP_PKEY_get_utf8_string_param(sw, OSSL_PKEY_PARAM_MANDATORY_DIGEST,
                                           b, sizeof(b), NULL)
        || strcmp(a, b) != 0)
        return failf("mandatory-digest %s, not %s", a, b);
    EVP_PKEY_free(pub);
    if (sign_with(sw, P11, &wrong, tbs, sizeof(tbs), sig, &sig_len))
        return fail("signed with a digest the key forbids");
    ERR_clear_error();
    printf("ok: imported RSA-PSS key: mandatory-digest %s, enforced\n", a);

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", P11);
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST,
                                            (char *)"SHA2-256", 0);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0
        || !EVP_PKEY_CTX_set_params(ctx, p) || EVP_PKEY_generate(ctx, &gen) <= 0
        || !EVP_PKEY_is_a(gen, "RSA-PSS"))
        return fail("generating an RSA-PSS key on the token");
    EVP_PKEY_CTX_free(ctx);
    a[0] = '\0';
    pub = convert(gen, DEF, EVP_PKEY_PUBLIC_KEY);
    if (!EVP_PKEY_get_utf8_string_param(gen, OSSL_PKEY_PARAM_MANDATORY_DIGEST,
                                        a, sizeof(a), NULL)
        || strcmp(a, "SHA2-256") != 0)
        return failf("generated: mandatory-digest \"%s\"", a);
    {
        struct sigcase c = {"pss", "SHA2-256", NULL, NULL};

        sig_len = sizeof(sig);
        if (!sign_with(gen, P11, &c, tbs, 32, sig, &sig_len)
            || !verify_with(pub, DEF, &c, tbs, 32, sig, sig_len))
            return fail("signing with the generated RSA-PSS key");
    }
    printf("ok: generated RSA-PSS key, signed\n");
    EVP_PKEY_free(pub);
    EVP_PKEY_free(gen);
    EVP_PKEY_free(sw);
    return 1;
}

/* ---- lifecycles ----------------------------------------------------- */

static int sign_verify_once(EVP_PKEY *key, EVP_PKEY *check, unsigned seed)
{
    struct sigcase c = {"pkcs1", "SHA2-256", NULL, NULL};
    unsigned char tbs[32], sig[1024];
    size_t sig_len = sizeof(sig);

    fill(tbs, sizeof(tbs), seed);
    return sign_with(key, P11, &c, tbs, sizeof(tbs), sig, &sig_len)
           && verify_with(check, DEF, &c, tbs, sizeof(tbs), sig, sig_len);
}

static int run_repeat(int n, const char *path)
{
    EVP_PKEY *sw = load_pem(path);
    int i;

    if (sw == NULL)
        return fail("cannot load the key");
    for (i = 0; i < n; i++)
        if (!sign_verify_once(sw, sw, (unsigned)i))
            return fail("signature");
    printf("ok: %d signatures\n", n);
    EVP_PKEY_free(sw);
    return 1;
}

/* Resident set size in kB, from /proc/self/statm. */
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

/* Each key: decoded, imported into the token by its first use, freed. */
static int run_hygiene(int n, const char *path)
{
    FILE *f = fopen(path, "r");
    long rss_early = 0;
    char *pem;
    long len;
    int i;

    if (f == NULL)
        return fail("cannot open the key");
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    pem = malloc(len + 1);
    if (pem == NULL || fread(pem, 1, len, f) != (size_t)len) {
        fclose(f);
        free(pem);
        return fail("cannot read the key");
    }
    fclose(f);
    for (i = 0; i < n; i++) {
        BIO *bio = BIO_new_mem_buf(pem, (int)len);
        EVP_PKEY *sw =
            PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL, NULL, DEF);

        BIO_free(bio);
        if (sw == NULL || !sign_verify_once(sw, sw, (unsigned)i))
            return fail("import and sign");
        EVP_PKEY_free(sw);
        if (i == n / 4)
            rss_early = rss_kb();
    }
    free(pem);
    printf("ok: %d keys imported, used and freed\n", n);
    printf("rss: %ld kB after %d keys, %ld kB after %d\n", rss_early, n / 4 + 1,
           rss_kb(), n);
    return 1;
}

static int run_hygiene_fromdata(int n, int count, char **paths)
{
    EVP_PKEY *keys[8];
    OSSL_PARAM *params[8];
    long rss_start = 0;
    int i, k, ok = 1;

    if (count < 1 || count > 8)
        return fail("hygiene-fromdata: 1 to 8 PEM keys");
    for (k = 0; k < count; k++) {
        keys[k] = load_pem(paths[k]);
        params[k] = NULL;
        if (keys[k] == NULL
            || EVP_PKEY_todata(keys[k], EVP_PKEY_KEYPAIR, &params[k]) != 1)
            return fail("cannot load the keys");
    }
    for (i = 0; ok && i < n; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
        EVP_PKEY *imp = NULL;

        k = i % count;
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
            || EVP_PKEY_fromdata(ctx, &imp, EVP_PKEY_KEYPAIR, params[k]) != 1
            || !sign_verify_once(imp, keys[k], (unsigned)i))
            ok = fail("import and sign");
        EVP_PKEY_free(imp);
        EVP_PKEY_CTX_free(ctx);
        if (i + 1 == n / 10)
            rss_start = rss_kb();
    }
    for (k = 0; k < count; k++) {
        OSSL_PARAM_free(params[k]); /* test keys: no clear_free in 3.0 */
        EVP_PKEY_free(keys[k]);
    }
    if (!ok)
        return 0;
    printf("ok: %d keys imported with EVP_PKEY_fromdata, used and freed\n", n);
    printf("rss: start_kb=%ld end_kb=%ld (after %d and %d keys)\n", rss_start,
           rss_kb(), n / 10, n);
    return 1;
}

static int run_outlive(const char *path)
{
    EVP_PKEY *key = NULL, *check;
    int i;

    if (path != NULL) {
        key = load_pem(path);
        check = key;
        if (key != NULL)
            EVP_PKEY_up_ref(check);
    } else {
        key = EVP_PKEY_Q_keygen(NULL, P11, "RSA", (size_t)2048);
        check = key != NULL ? convert(key, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;
    }
    if (key == NULL || check == NULL)
        return fail("making the key");
    for (i = 0; i < 4; i++)
        if (!sign_verify_once(key, check, (unsigned)i))
            return fail("a signature after a session was closed");
    printf("ok: 4 signatures with one key\n");
    EVP_PKEY_free(check);
    EVP_PKEY_free(key);
    return 1;
}

/* EVP_MD_CTX_copy after part of the message, then different tails. */
static int run_dup(const char *path)
{
    EVP_PKEY *sw = load_pem(path);
    unsigned char msg[300], sig[1024];
    size_t sig_len;
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    int ok;

    fill(msg, sizeof(msg), 5);
    ok = sw != NULL
         && EVP_DigestSignInit_ex(a, NULL, "SHA2-256", NULL, P11, sw, NULL) > 0
         && EVP_DigestSignUpdate(a, msg, 100) > 0
         && EVP_MD_CTX_copy_ex(b, a) > 0
         && EVP_DigestSignUpdate(a, msg + 100, 200) > 0
         && EVP_DigestSignUpdate(b, msg + 100, 100) > 0;
    sig_len = sizeof(sig);
    ok = ok && EVP_DigestSignFinal(a, sig, &sig_len) > 0;
    EVP_MD_CTX_reset(a);
    ok =
        ok
        && EVP_DigestVerifyInit_ex(a, NULL, "SHA2-256", NULL, DEF, sw, NULL) > 0
        && EVP_DigestVerify(a, sig, sig_len, msg, 300) == 1;
    sig_len = sizeof(sig);
    ok = ok && EVP_DigestSignFinal(b, sig, &sig_len) > 0;
    EVP_MD_CTX_reset(a);
    ok =
        ok
        && EVP_DigestVerifyInit_ex(a, NULL, "SHA2-256", NULL, DEF, sw, NULL) > 0
        && EVP_DigestVerify(a, sig, sig_len, msg, 200) == 1;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    EVP_PKEY_free(sw);
    if (!ok)
        return fail("EVP_MD_CTX_copy_ex of a DigestSign");
    printf("ok: DigestSign copied mid-stream\n");
    return 1;
}

struct thread_arg {
    EVP_PKEY *key; /* shared */
    int rounds;    /* signatures each */
    int ok;        /* result */
};

static void *thread_main(void *varg)
{
    struct thread_arg *arg = varg;
    int i;

    arg->ok = 1;
    for (i = 0; i < arg->rounds && arg->ok; i++)
        arg->ok = sign_verify_once(arg->key, arg->key, (unsigned)i);
    return NULL;
}

static int run_threads(int n, const char *path)
{
    EVP_PKEY *sw = load_pem(path);
    struct thread_arg args[16];
    pthread_t tids[16];
    int i, ok = sw != NULL;

    if (n > 16)
        n = 16;
    for (i = 0; i < n; i++) {
        args[i].key = sw;
        args[i].rounds = 20;
        pthread_create(&tids[i], NULL, thread_main, &args[i]);
    }
    for (i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
        ok = ok && args[i].ok;
    }
    EVP_PKEY_free(sw);
    if (!ok)
        return fail("threads signing with one key");
    printf("ok: %d threads, one key\n", n);
    return 1;
}

static int run_fork(const char *path)
{
    EVP_PKEY *sw = load_pem(path);
    int status = -1;
    pid_t pid;

    if (sw == NULL || !sign_verify_once(sw, sw, 1))
        return fail("parent, before fork");
    pid = fork();
    if (pid == 0) {
        int ok = sign_verify_once(sw, sw, 2) && sign_verify_once(sw, sw, 3);

        ERR_print_errors_fp(stdout);
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("child signing with the parent's key");
    if (!sign_verify_once(sw, sw, 4))
        return fail("parent, after fork");
    EVP_PKEY_free(sw);
    printf("ok: parent and child signed\n");
    return 1;
}

/*
 * A generated key across fork: a persistent one (LABEL given) is found
 * again in the child; a session one is gone there, with a clear error.
 */
static int run_gen_fork(const char *label)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
    unsigned char id[] = {0x5f, 0x01};
    EVP_PKEY *key = NULL, *pub;
    int status = -1;
    OSSL_PARAM p[3];
    size_t bits = 1024;
    pid_t pid;

    p[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    p[1] = label != NULL ? OSSL_PARAM_construct_octet_string("pkcs11-key-id",
                                                             id, sizeof(id))
                         : OSSL_PARAM_construct_end();
    p[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0
        || !EVP_PKEY_CTX_set_params(ctx, p) || EVP_PKEY_generate(ctx, &key) <= 0
        || (pub = convert(key, DEF, EVP_PKEY_PUBLIC_KEY)) == NULL
        || !sign_verify_once(key, pub, 1))
        return fail("generating and signing");
    EVP_PKEY_CTX_free(ctx);
    pid = fork();
    if (pid == 0) {
        int ok = sign_verify_once(key, pub, 2);
        unsigned long err = ERR_peek_error();

        if (!ok)
            printf("child: %s\n", err ? ERR_reason_error_string(err) : "?");
        ERR_print_errors_fp(stdout);
        fflush(stdout);
        _exit(ok ? 0 : 3);
    }
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != (label != NULL ? 0 : 3))
        return fail(label != NULL ? "the child could not use the persistent key"
                                  : "the child used a session key pair");
    if (!sign_verify_once(key, pub, 3))
        return fail("parent, after fork");
    printf("ok: %s key pair across fork\n",
           label != NULL ? "persistent" : "session");
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return 1;
}

/* ---- bad input ------------------------------------------------------ */

/* Expects failure with an error queued, then clears it. */
static int refused(int result, const char *what)
{
    unsigned long err = ERR_peek_error();

    if (result > 0)
        return failf("accepted: %s", what);
    if (err == 0)
        return failf("refused without an error: %s", what);
    printf("ok: refused %s: %s\n", what,
           ERR_reason_error_string(err) ? ERR_reason_error_string(err)
                                        : "(no reason string)");
    ERR_clear_error();
    return 1;
}

static int run_errors(const char *path, const char *small_path)
{
    EVP_PKEY *sw = load_pem(path), *small = load_pem(small_path);
    struct sigcase pkcs1 = {"pkcs1", "SHA2-256", NULL, NULL};
    struct sigcase big = {"pkcs1", "SHA2-512", NULL, NULL};
    struct sigcase x931 = {"x931", "SHA2-256", NULL, NULL};
    struct sigcase raw = {"none", NULL, NULL, NULL};
    struct sigcase nomd = {"pkcs1", NULL, NULL, NULL};
    struct sigcase pss = {"pss", "SHA2-512", NULL, "max"};
    struct enccase oaep = {"oaep", "SHA2-256", NULL, NULL};
    struct enccase pk1 = {"pkcs1", NULL, NULL, NULL};
    unsigned char buf[1024], out[1024];
    size_t out_len, k;
    EVP_PKEY_CTX *ctx;
    int ok = 1, r;

    if (sw == NULL || small == NULL)
        return fail("cannot load the keys");
    k = EVP_PKEY_get_size(sw);
    fill(buf, sizeof(buf), 9);
    out_len = sizeof(out);
    ok = ok
         && refused(sign_with(sw, P11, &pkcs1, buf, 31, out, &out_len),
                    "a 31-byte SHA-256 digest");
    out_len = sizeof(out);
    ok = ok
         && refused(sign_with(small, P11, &big, buf, 64, out, &out_len),
                    "a SHA-512 DigestInfo for a 512-bit key");
    out_len = sizeof(out);
    ok = ok
         && refused(sign_with(small, P11, &pss, buf, 64, out, &out_len),
                    "PSS with SHA-512 on a 512-bit key");
    out_len = sizeof(out);
    ok = ok
         && refused(sign_with(sw, P11, &x931, buf, 32, out, &out_len),
                    "X9.31 padding");
    out_len = sizeof(out);
    memset(buf + 512, 0xff, k);
    ok = ok
         && refused(sign_with(sw, P11, &raw, buf + 512, k, out, &out_len),
                    "raw input above the modulus");
    out_len = sizeof(out);
    ok = ok
         && refused(sign_with(sw, P11, &nomd, buf, k - 10, out, &out_len),
                    "PKCS#1 input longer than k - 11");
    /* A size query answers, a short buffer is refused. */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, P11);
    out_len = 0;
    r = EVP_PKEY_sign_init(ctx) > 0 && sig_params(ctx, &pkcs1, 0)
        && EVP_PKEY_sign(ctx, NULL, &out_len, buf, 32) > 0 && out_len == k;
    if (!r)
        return fail("size query");
    out_len = k - 1;
    ok = ok
         && refused(EVP_PKEY_sign(ctx, out, &out_len, buf, 32),
                    "a signature buffer one byte short");
    EVP_PKEY_CTX_free(ctx);
    /* A wrong signature: 0, not an error storm. */
    out_len = sizeof(out);
    if (!sign_with(sw, P11, &pkcs1, buf, 32, out, &out_len))
        return fail("sign");
    out[3] ^= 0x40;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, P11);
    r = EVP_PKEY_verify_init(ctx) > 0 && sig_params(ctx, &pkcs1, 1)
            ? EVP_PKEY_verify(ctx, out, out_len, buf, 32)
            : -99;
    EVP_PKEY_CTX_free(ctx);
    if (r != 0)
        return fail("a wrong signature did not verify as 0");
    printf("ok: a wrong signature verifies as 0\n");
    ERR_clear_error();
    /* Ciphertexts: random bytes, too long, a short output buffer. */
    out_len = sizeof(out);
    ok = ok
         && refused(crypt_with(sw, P11, &oaep, 1, buf, k, out, &out_len),
                    "a random OAEP ciphertext");
    out_len = sizeof(out);
    ok = ok
         && refused(crypt_with(sw, P11, &pk1, 1, buf, k, out, &out_len),
                    "a random PKCS#1 ciphertext");
    out_len = sizeof(out);
    ok = ok
         && refused(crypt_with(sw, P11, &pk1, 1, buf, k + 1, out, &out_len),
                    "a ciphertext longer than the modulus");
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, P11);
    out_len = sizeof(out);
    r = EVP_PKEY_encrypt_init(ctx) > 0 && enc_params(ctx, &pk1)
        && EVP_PKEY_encrypt(ctx, out, &out_len, buf, 16) > 0;
    EVP_PKEY_CTX_free(ctx);
    if (!r)
        return fail("encrypt");
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, P11);
    k = 15;
    ok = ok
         && refused(EVP_PKEY_decrypt_init(ctx) > 0 && enc_params(ctx, &pk1)
                        ? EVP_PKEY_decrypt(ctx, buf + 512, &k, out, out_len)
                        : 1,
                    "a 15-byte buffer for 16 bytes");
    EVP_PKEY_CTX_free(ctx);
    /* Parameters OpenSSL refuses are refused the same way. */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, P11);
    ok = ok
         && refused(EVP_PKEY_sign_init(ctx) > 0
                        ? EVP_PKEY_CTX_set_rsa_padding(ctx, 12345)
                        : 1,
                    "an unknown padding mode");
    EVP_PKEY_CTX_free(ctx);
    /* Key generation below the minimum, and with three primes. */
    ok = ok
         && refused(EVP_PKEY_Q_keygen(NULL, P11, "RSA", (size_t)256) != NULL,
                    "a 256-bit key");
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", P11);
    ok = ok
         && refused(EVP_PKEY_keygen_init(ctx) > 0
                        ? EVP_PKEY_CTX_set_rsa_keygen_primes(ctx, 3)
                        : 1,
                    "three primes");
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(sw);
    EVP_PKEY_free(small);
    return ok;
}

/* ---- host hashing vs the token's combined mechanism ------------------ */

static CK_FUNCTION_LIST *bench_fns;
static CK_SESSION_HANDLE bench_sess;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The module (from the environment), a R/W session, logged in; or 0. */
static int direct_open(void)
{
    const char *path = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    const char *slot = getenv("CRYPTOGRAPHY_PKCS11_SLOT_ID");
    const char *pin = getenv("CRYPTOGRAPHY_PKCS11_PASSWORD");
    CK_C_GetFunctionList get;
    void *lib;

    return path != NULL && slot != NULL && pin != NULL
           && (lib = dlopen(path, RTLD_NOW)) != NULL
           && (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList"))
                  != NULL
           && get(&bench_fns) == CKR_OK
           && bench_fns->C_Initialize(NULL) == CKR_OK
           && bench_fns->C_OpenSession(strtoul(slot, NULL, 10),
                                       CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                       NULL, NULL, &bench_sess)
                  == CKR_OK
           && bench_fns->C_Login(bench_sess, CKU_USER, (CK_UTF8CHAR *)pin,
                                 strlen(pin))
                  == CKR_OK;
}

/* Test teardown: every object labelled `label` destroyed. */
static int run_destroy(const char *label)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[16];
    CK_ULONG count = 0, i;
    int ok;

    if (!direct_open())
        return fail("opening the token directly");
    ok = bench_fns->C_FindObjectsInit(bench_sess, tmpl, 1) == CKR_OK
         && bench_fns->C_FindObjects(bench_sess, found, 16, &count) == CKR_OK
         && bench_fns->C_FindObjectsFinal(bench_sess) == CKR_OK;
    for (i = 0; ok && i < count; i++)
        ok = bench_fns->C_DestroyObject(bench_sess, found[i]) == CKR_OK;
    bench_fns->C_Finalize(NULL);
    if (!ok)
        return fail("C_FindObjects/C_DestroyObject");
    printf("ok: destroyed %lu objects labelled %s\n", (unsigned long)count,
           label);
    return 1;
}

static int bench_open(CK_OBJECT_HANDLE *priv)
{
    CK_ULONG bits = 2048;
    CK_BYTE e[] = {1, 0, 1};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pub_t[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)},
                            {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
    CK_ATTRIBUTE priv_t[] = {{CKA_SIGN, &yes, sizeof(yes)}};
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub;

    if (!direct_open()
        || bench_fns->C_GenerateKeyPair(bench_sess, &gen, pub_t, 2, priv_t, 1,
                                        &pub, priv)
               != CKR_OK)
        return fail("opening the token directly");
    return 1;
}

static int bench_sign(CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key,
                      const unsigned char *in, size_t len)
{
    CK_MECHANISM mech = {type, NULL, 0};
    unsigned char sig[512];
    CK_ULONG sig_len = sizeof(sig);

    return bench_fns->C_SignInit(bench_sess, &mech, key) == CKR_OK
           && bench_fns->C_Sign(bench_sess, (CK_BYTE *)in, len, sig, &sig_len)
                  == CKR_OK;
}

static int run_hashbench(int n, size_t msg_len)
{
    static const unsigned char prefix[] = {
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    unsigned char *msg, info[sizeof(prefix) + 32];
    CK_OBJECT_HANDLE key;
    double t0, t_host, t_token;
    int i, ok = 1;

    if (!bench_open(&key) || (msg = malloc(msg_len + 1)) == NULL)
        return 0;
    fill(msg, msg_len, 1);
    memcpy(info, prefix, sizeof(prefix));
    t0 = now();
    for (i = 0; i < n && ok; i++)
        ok = EVP_Digest(msg, msg_len, info + sizeof(prefix), NULL, EVP_sha256(),
                        NULL)
             && bench_sign(CKM_RSA_PKCS, key, info, sizeof(info));
    t_host = now() - t0;
    t0 = now();
    for (i = 0; i < n && ok; i++)
        ok = bench_sign(CKM_SHA256_RSA_PKCS, key, msg, msg_len);
    t_token = now() - t0;
    free(msg);
    if (!ok)
        return fail("signing directly on the token");
    printf("ok: %zu-byte messages: host hash + CKM_RSA_PKCS %.0f/s, "
           "CKM_SHA256_RSA_PKCS %.0f/s\n",
           msg_len, n / t_host, n / t_token);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    int ok;

    if (strcmp(mode, "hashbench") == 0)
        return run_hashbench(n, argc > 3 ? strtoul(argv[3], NULL, 10) : 32) ? 0
                                                                            : 1;
    if (strcmp(mode, "destroy") == 0 && argc > 2)
        return run_destroy(argv[2]) ? 0 : 1;
    if (!load_providers())
        return fail("loading pkcs11be and default") ? 0 : 1;
    if (strcmp(mode, "params") == 0)
        ok = run_params(argc - 2, argv + 2);
    else if (strcmp(mode, "gen-fork") == 0)
        ok = run_gen_fork(argc > 2 ? argv[2] : NULL);
    else if (strcmp(mode, "pss-key") == 0 && argc > 2)
        ok = run_pss_key(argv[2]);
    else if (strcmp(mode, "gen") == 0)
        ok = run_gen((size_t)n, argc > 3 ? argv[3] : NULL,
                     argc > 4 ? argv[4] : NULL, argc > 5 ? argv[5] : NULL);
    else if (strcmp(mode, "find") == 0 && argc > 5)
        ok = run_find(argv[2], argv[3], argv[4], argv[5]);
    else if (strcmp(mode, "sign") == 0)
        ok = run_sign(n, argc - 3, argv + 3);
    else if (strcmp(mode, "decrypt") == 0)
        ok = run_decrypt(argc - 2, argv + 2);
    else if (strcmp(mode, "repeat") == 0 && argc > 3)
        ok = run_repeat(n, argv[3]);
    else if (strcmp(mode, "hygiene") == 0 && argc > 3)
        ok = run_hygiene(n, argv[3]);
    else if (strcmp(mode, "hygiene-fromdata") == 0 && argc > 3)
        ok = run_hygiene_fromdata(n, argc - 3, argv + 3);
    else if (strcmp(mode, "outlive") == 0 && argc > 2)
        ok = run_outlive(argv[2]);
    else if (strcmp(mode, "outlive-gen") == 0)
        ok = run_outlive(NULL);
    else if (strcmp(mode, "dup") == 0 && argc > 2)
        ok = run_dup(argv[2]);
    else if (strcmp(mode, "threads") == 0 && argc > 3)
        ok = run_threads(n, argv[3]);
    else if (strcmp(mode, "fork") == 0 && argc > 2)
        ok = run_fork(argv[2]);
    else if (strcmp(mode, "errors") == 0 && argc > 3)
        ok = run_errors(argv[2], argv[3]);
    else
        ok = fail("usage: rsa_check params|gen|find|destroy|sign|decrypt|"
                  "pss-key|repeat|hygiene|hygiene-fromdata|outlive|outlive-gen|"
                  "dup|threads|"
                  "fork|gen-fork|errors|hashbench");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
