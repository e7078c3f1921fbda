/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EC checks that need a C program (tests/7x-ec*.t), against OpenSSL's
 * default provider. Each mode prints "ok: ..." lines and exits 0, or
 * prints "FAIL: ..." and exits 1.
 *
 *   ec_check params         import into pkcs11be: params, export, eq, dup,
 *                           validate as the default provider, every curve
 *   ec_check sign           every curve and digest, both directions,
 *                           imported and token-generated keys
 *   ec_check ecdh           every curve, both sides, imported and generated
 *   ec_check gen LABEL IDHEX  a persistent key pair, found by its label
 *   ec_check hygiene N      import (EVP_PKEY_fromdata), sign once,
 *                           free: N software P-256 keys, each new; prints
 *                           "rss: start_kb=.. end_kb=.." (start after the
 *                           first tenth, a warm-up)
 *   ec_check errors         bad input: clear errors, no crash
 *   ec_check ed-vectors FILE N  the first N Ed25519 vectors of pyca's
 *                           sign.input, signed on the token: same bytes
 *   ec_check ed TYPE        ED25519/ED448 imported (same bytes as the
 *                           default) and generated (verified there)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const curves[] = {"P-256", "P-384", "P-521"};
static const char *const digests[] = {"SHA1", "SHA2-224", "SHA2-256",
                                      "SHA2-384", "SHA2-512"};

static OSSL_PROVIDER *p11be, *deflt;
static int p11_signs, p11_derives; /* private-key operations by pkcs11be */

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

static int load_providers(void)
{
    const char *dir = getenv("P11BE_BUILD_DIR");

    OSSL_PROVIDER_set_default_search_path(NULL, dir != NULL ? dir : "build");
    deflt = OSSL_PROVIDER_load(NULL, "default");
    p11be = OSSL_PROVIDER_load(NULL, "pkcs11be");
    return p11be != NULL && deflt != NULL;
}

/* Moves `from` into the `type` keymgmt of `props` (selection: EVP_PKEY_*). */
static EVP_PKEY *convert_as(EVP_PKEY *from, const char *type, const char *props,
                            int selection)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, props);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(from, selection, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, selection, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

static EVP_PKEY *convert(EVP_PKEY *from, const char *props, int selection)
{
    return convert_as(from, "EC", props, selection);
}

static const char *prov_of(const EVP_PKEY *pkey)
{
    return OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey));
}

/* The error queue as text (and cleared), for matching messages. */
static void errors_text(char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int len = 0;

    buf[0] = '\0';
    if (bio == NULL)
        return;
    ERR_print_errors(bio);
    len = BIO_read(bio, buf, (int)size - 1);
    buf[len > 0 ? len : 0] = '\0';
    BIO_free(bio);
}

/* DigestSign with `signer` (props), DigestVerify with `verifier`. */
static int sign_verify(EVP_PKEY *signer, const char *sprops, EVP_PKEY *verifier,
                       const char *vprops, const char *md,
                       const unsigned char *msg, size_t msg_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t sig_len = 0;
    int ok;

    ok = mctx != NULL
         && EVP_DigestSignInit_ex(mctx, NULL, md, NULL, sprops, signer, NULL)
                == 1
         && EVP_DigestSign(mctx, NULL, &sig_len, msg, msg_len) == 1
         && sig_len <= sizeof(sig)
         && EVP_DigestSign(mctx, sig, &sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mctx);
    if (!ok)
        return failf("sign with %s (%s)", sprops, md);
    if (strcmp(sprops, P11) == 0)
        p11_signs++;
    mctx = EVP_MD_CTX_new();
    ok =
        mctx != NULL
        && EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, vprops, verifier, NULL)
               == 1
        && EVP_DigestVerify(mctx, sig, sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mctx);
    if (!ok)
        return failf("verify with %s (%s)", vprops, md);
    /* The verifier must also reject a changed message. */
    mctx = EVP_MD_CTX_new();
    ok =
        mctx != NULL
        && EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, vprops, verifier, NULL)
               == 1
        && EVP_DigestVerify(mctx, sig, sig_len, msg, msg_len - 1) == 0;
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    if (!ok)
        return failf("a changed message verified (%s)", md);
    return 1;
}

/* EVP_PKEY_sign over a digest given by the caller. */
static int sign_raw_digest(EVP_PKEY *p11key, EVP_PKEY *sw)
{
    unsigned char dgst[32], sig[256];
    size_t sig_len = sizeof(sig);
    EVP_PKEY_CTX *ctx;
    int ok;

    memset(dgst, 0x5a, sizeof(dgst));
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p11key, P11);
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
         && EVP_PKEY_sign(ctx, sig, &sig_len, dgst, sizeof(dgst)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return fail("EVP_PKEY_sign with pkcs11be");
    p11_signs++;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sw, DEF);
    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1
         && EVP_PKEY_verify(ctx, sig, sig_len, dgst, sizeof(dgst)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok || fail("EVP_PKEY_sign signature does not verify");
}

/* EVP_MD_CTX_copy_ex of a DigestSign mid-stream: both halves sign. */
static int sign_copy(EVP_PKEY *p11key, EVP_PKEY *sw)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char sa[256], sb[256];
    size_t la = sizeof(sa), lb = sizeof(sb);
    int ok;

    ok = a != NULL && b != NULL
         && EVP_DigestSignInit_ex(a, NULL, "SHA2-256", NULL, P11, p11key, NULL)
                == 1
         && EVP_DigestSignUpdate(a, "first half, ", 12) == 1
         && EVP_MD_CTX_copy_ex(b, a) == 1
         && EVP_DigestSignUpdate(a, "second", 6) == 1
         && EVP_DigestSignUpdate(b, "second", 6) == 1
         && EVP_DigestSignFinal(a, sa, &la) == 1
         && EVP_DigestSignFinal(b, sb, &lb) == 1;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    if (!ok)
        return fail("a copied DigestSign context");
    p11_signs += 2;
    a = EVP_MD_CTX_new();
    b = EVP_MD_CTX_new();
    ok = a != NULL && b != NULL
         && EVP_DigestVerifyInit_ex(a, NULL, "SHA2-256", NULL, DEF, sw, NULL)
                == 1
         && EVP_DigestVerify(a, sa, la,
                             (const unsigned char *)"first half, second", 18)
                == 1
         && EVP_DigestVerifyInit_ex(b, NULL, "SHA2-256", NULL, DEF, sw, NULL)
                == 1
         && EVP_DigestVerify(b, sb, lb,
                             (const unsigned char *)"first half, second", 18)
                == 1;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    return ok || fail("a copied DigestSign context's signatures");
}

static int run_sign(void)
{
    unsigned char msg[1000];
    size_t c, d;

    memset(msg, 'm', sizeof(msg));
    for (c = 0; c < COUNT(curves); c++) {
        EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, "EC", curves[c]);
        EVP_PKEY *imp = sw ? convert(sw, P11, EVP_PKEY_KEYPAIR) : NULL;
        EVP_PKEY *gen = EVP_PKEY_Q_keygen(NULL, P11, "EC", curves[c]);
        EVP_PKEY *genpub = gen ? convert(gen, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;

        if (imp == NULL || genpub == NULL || strcmp(prov_of(imp), "pkcs11be")
            || strcmp(prov_of(gen), "pkcs11be"))
            return failf("%s keys", curves[c]);
        for (d = 0; d < COUNT(digests); d++) {
            if (!sign_verify(imp, P11, sw, DEF, digests[d], msg, sizeof(msg))
                || !sign_verify(sw, DEF, imp, P11, digests[d], msg, sizeof(msg))
                || !sign_verify(gen, P11, genpub, DEF, digests[d], msg,
                                sizeof(msg))
                || !sign_verify(gen, P11, gen, P11, digests[d], msg, 7))
                return failf("%s with %s", curves[c], digests[d]);
        }
        if (!sign_raw_digest(imp, sw) || !sign_copy(imp, sw))
            return 0;
        printf("ok: %s, %zu digests, both directions\n", curves[c],
               COUNT(digests));
        EVP_PKEY_free(sw);
        EVP_PKEY_free(imp);
        EVP_PKEY_free(gen);
        EVP_PKEY_free(genpub);
    }
    printf("ok: %d signatures by pkcs11be\n", p11_signs);
    return 1;
}

/*
 * The shared secret of `mine` (props) with `peer`, through X9.63 KDF with
 * SHA-256 and a UKM when `kdf`; length in *len.
 */
static int derive_kdf(EVP_PKEY *mine, const char *props, EVP_PKEY *peer,
                      unsigned char *out, size_t *len, int kdf)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, props);
    size_t need = 0, kdf_len = 40;
    OSSL_PARAM params[5];
    int ok;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                                 OSSL_KDF_NAME_X963KDF, 0);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST,
                                                 "SHA2-256", 0);
    params[2] =
        OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, &kdf_len);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM,
                                                  "shared info", 11);
    params[4] = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
         && (!kdf || EVP_PKEY_CTX_set_params(ctx, params) == 1)
         && EVP_PKEY_derive_set_peer(ctx, peer) == 1
         && EVP_PKEY_derive(ctx, NULL, &need) == 1 && need <= *len
         && EVP_PKEY_derive(ctx, out, len) == 1 && *len == need;
    EVP_PKEY_CTX_free(ctx);
    if (ok && strcmp(props, P11) == 0)
        p11_derives++;
    return ok && (!kdf || *len == kdf_len);
}

static int derive(EVP_PKEY *mine, const char *props, EVP_PKEY *peer,
                  unsigned char *out, size_t *len)
{
    return derive_kdf(mine, props, peer, out, len, 0);
}

static int run_ecdh(void)
{
    size_t c;

    for (c = 0; c < COUNT(curves); c++) {
        unsigned char s1[80], s2[80], s3[80], s4[80];
        size_t l1 = sizeof(s1), l2 = sizeof(s2), l3 = sizeof(s3),
               l4 = sizeof(s4);
        EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, DEF, "EC", curves[c]);
        EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, DEF, "EC", curves[c]);
        EVP_PKEY *a_p11 = a ? convert(a, P11, EVP_PKEY_KEYPAIR) : NULL;
        EVP_PKEY *b_pub = b ? convert(b, P11, EVP_PKEY_PUBLIC_KEY) : NULL;
        EVP_PKEY *g = EVP_PKEY_Q_keygen(NULL, P11, "EC", curves[c]);
        EVP_PKEY *g_pub = g ? convert(g, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;

        if (a_p11 == NULL || b_pub == NULL || g_pub == NULL)
            return failf("%s keys", curves[c]);
        if (!derive(a_p11, P11, b_pub, s1, &l1) || !derive(b, DEF, a, s2, &l2))
            return failf("%s: imported key derive", curves[c]);
        if (l1 != l2 || memcmp(s1, s2, l1) != 0)
            return failf("%s: imported key: secrets differ", curves[c]);
        if (!derive(g, P11, b_pub, s3, &l3) || !derive(b, DEF, g_pub, s4, &l4))
            return failf("%s: generated key derive", curves[c]);
        if (l3 != l4 || memcmp(s3, s4, l3) != 0)
            return failf("%s: generated key: secrets differ", curves[c]);
        printf("ok: %s ECDH, %zu-byte secret, both sides agree\n", curves[c],
               l1);
        l1 = sizeof(s1);
        l2 = sizeof(s2);
        if (!derive_kdf(a_p11, P11, b_pub, s1, &l1, 1)
            || !derive_kdf(b, DEF, a, s2, &l2, 1) || l1 != l2
            || memcmp(s1, s2, l1) != 0)
            return failf("%s: ECDH with X9.63 KDF", curves[c]);
        printf("ok: %s ECDH with X9.63 KDF, both sides agree\n", curves[c]);
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
        EVP_PKEY_free(a_p11);
        EVP_PKEY_free(b_pub);
        EVP_PKEY_free(g);
        EVP_PKEY_free(g_pub);
    }
    printf("ok: %d derives by pkcs11be\n", p11_derives);
    return 1;
}

/* An int, string and octet parameter of both keys, compared. */
static int same_params(EVP_PKEY *a, EVP_PKEY *b, const char *curve)
{
    static const char *const ints[] = {OSSL_PKEY_PARAM_BITS,
                                       OSSL_PKEY_PARAM_SECURITY_BITS,
                                       OSSL_PKEY_PARAM_MAX_SIZE};
    static const char *const octets[] = {OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                         OSSL_PKEY_PARAM_PUB_KEY};
    char ga[64], gb[64];
    unsigned char oa[200], ob[200];
    size_t la, lb, i;
    int ia, ib;

    for (i = 0; i < COUNT(ints); i++)
        if (!EVP_PKEY_get_int_param(a, ints[i], &ia)
            || !EVP_PKEY_get_int_param(b, ints[i], &ib) || ia != ib)
            return failf("%s: %s differs", curve, ints[i]);
    if (!EVP_PKEY_get_utf8_string_param(a, OSSL_PKEY_PARAM_GROUP_NAME, ga,
                                        sizeof(ga), NULL)
        || !EVP_PKEY_get_utf8_string_param(b, OSSL_PKEY_PARAM_GROUP_NAME, gb,
                                           sizeof(gb), NULL)
        || strcmp(ga, gb) != 0)
        return failf("%s: group differs", curve);
    for (i = 0; i < COUNT(octets); i++)
        if (!EVP_PKEY_get_octet_string_param(a, octets[i], oa, sizeof(oa), &la)
            || !EVP_PKEY_get_octet_string_param(b, octets[i], ob, sizeof(ob),
                                                &lb)
            || la != lb || memcmp(oa, ob, la) != 0)
            return failf("%s: %s differs", curve, octets[i]);
    return 1;
}

static int run_params(void)
{
    size_t c;

    for (c = 0; c < COUNT(curves); c++) {
        EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, "EC", curves[c]);
        EVP_PKEY *imp = sw ? convert(sw, P11, EVP_PKEY_KEYPAIR) : NULL;
        EVP_PKEY *back = imp ? convert(imp, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;
        EVP_PKEY *gen = EVP_PKEY_Q_keygen(NULL, P11, "EC", curves[c]);
        EVP_PKEY *genpub = gen ? convert(gen, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;
        EVP_PKEY *dup = imp ? EVP_PKEY_dup(imp) : NULL;
        EVP_PKEY_CTX *vctx;
        int ok;

        if (back == NULL || genpub == NULL || dup == NULL)
            return failf("%s: import, export, generate or dup", curves[c]);
        if (!same_params(sw, imp, curves[c])
            || !same_params(genpub, gen, curves[c]))
            return 0;
        if (EVP_PKEY_eq(sw, imp) != 1 || EVP_PKEY_eq(back, sw) != 1
            || EVP_PKEY_eq(dup, imp) != 1 || EVP_PKEY_eq(gen, genpub) != 1
            || EVP_PKEY_eq(gen, imp) == 1)
            return failf("%s: match", curves[c]);
        vctx = EVP_PKEY_CTX_new_from_pkey(NULL, imp, P11);
        ok = vctx != NULL && EVP_PKEY_check(vctx) == 1
             && EVP_PKEY_public_check(vctx) == 1;
        EVP_PKEY_CTX_free(vctx);
        vctx = EVP_PKEY_CTX_new_from_pkey(NULL, gen, P11);
        ok = ok && vctx != NULL && EVP_PKEY_public_check(vctx) == 1;
        EVP_PKEY_CTX_free(vctx);
        if (!ok)
            return failf("%s: validate", curves[c]);
        printf("ok: %s params, export, match, dup, validate\n", curves[c]);
        EVP_PKEY_free(sw);
        EVP_PKEY_free(imp);
        EVP_PKEY_free(back);
        EVP_PKEY_free(gen);
        EVP_PKEY_free(genpub);
        EVP_PKEY_free(dup);
    }
    return 1;
}

/* A persistent pair: generated with a label and id, used, freed, kept. */
static int run_gen(const char *label, const char *idhex)
{
    OSSL_PARAM params[4];
    unsigned char id[32];
    long id_len = 0;
    unsigned char *idbuf = OPENSSL_hexstr2buf(idhex, &id_len);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", P11);
    EVP_PKEY *key = NULL, *pub;
    unsigned char msg[16] = "persistent";

    if (idbuf == NULL || id_len > (long)sizeof(id))
        return fail("the id");
    memcpy(id, idbuf, id_len);
    OPENSSL_free(idbuf);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 "P-256", 0);
    params[1] =
        OSSL_PARAM_construct_utf8_string("pkcs11-key-label", (char *)label, 0);
    params[2] = OSSL_PARAM_construct_octet_string("pkcs11-key-id", id, id_len);
    params[3] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
        || EVP_PKEY_CTX_set_params(ctx, params) != 1
        || EVP_PKEY_generate(ctx, &key) != 1)
        return fail("persistent generation");
    EVP_PKEY_CTX_free(ctx);
    pub = convert(key, DEF, EVP_PKEY_PUBLIC_KEY);
    if (pub == NULL
        || !sign_verify(key, P11, pub, DEF, "SHA2-256", msg, sizeof(msg)))
        return fail("persistent key use");
    printf("ok: persistent P-256 key pair \"%s\" generated and used\n", label);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
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

static int run_hygiene(int n)
{
    unsigned char msg[8] = "hygiene";
    long rss_start = 0;
    int i;

    for (i = 0; i < n; i++) {
        EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
        EVP_PKEY *imp = sw ? convert(sw, P11, EVP_PKEY_KEYPAIR) : NULL;

        if (imp == NULL
            || !sign_verify(imp, P11, sw, DEF, "SHA2-256", msg, sizeof(msg)))
            return fail("import and sign");
        EVP_PKEY_free(imp);
        EVP_PKEY_free(sw);
        if (i + 1 == n / 10)
            rss_start = rss_kb();
    }
    printf("ok: %d keys imported, used and freed\n", n);
    printf("rss: start_kb=%ld end_kb=%ld (after %d and %d keys)\n", rss_start,
           rss_kb(), n / 10, n);
    return 1;
}

/* One-shot EdDSA signature of msg with `key` (props); length in *len. */
static int ed_sign(EVP_PKEY *key, const char *props, const unsigned char *msg,
                   size_t msg_len, unsigned char *sig, size_t *len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    ok = mctx != NULL
         && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, props, key, NULL) == 1
         && EVP_DigestSign(mctx, sig, len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mctx);
    if (ok && strcmp(props, P11) == 0)
        p11_signs++;
    return ok;
}

static int ed_verify(EVP_PKEY *key, const char *props, const unsigned char *msg,
                     size_t msg_len, const unsigned char *sig, size_t len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    ok = mctx != NULL
         && EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, props, key, NULL)
                == 1
         && EVP_DigestVerify(mctx, sig, len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/* The first n vectors of pyca's sign.input (RFC 8032 first): same bytes. */
static int run_ed_vectors(const char *path, int n)
{
    FILE *f = fopen(path, "r");
    static char line[8192];
    int done = 0;

    if (f == NULL)
        return fail("cannot open the vectors");
    while (done < n && fgets(line, sizeof(line), f) != NULL) {
        char *field[4], *at = line;
        unsigned char *sk, *msg = NULL, *want, sig[64];
        long sk_len = 0, msg_len = 0, want_len = 0;
        size_t sig_len = sizeof(sig);
        EVP_PKEY *key;
        int i, ok;

        /* sk||pk : pk : msg : sig||msg : */
        for (i = 0; i < 4; i++) {
            field[i] = at;
            at = at != NULL ? strchr(at, ':') : NULL;
            if (at != NULL)
                *at++ = '\0';
        }
        if (field[3] == NULL)
            return failf("vector %d: not sk:pk:msg:sig", done);
        sk = OPENSSL_hexstr2buf(field[0], &sk_len);
        if (field[2] != NULL && strlen(field[2]) > 0)
            msg = OPENSSL_hexstr2buf(field[2], &msg_len);
        want = OPENSSL_hexstr2buf(field[3], &want_len);
        if (sk == NULL || want == NULL || want_len < 64)
            return failf("vector %d", done);
        key = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", P11, sk, 32);
        ok = key != NULL
             && ed_sign(key, P11, msg != NULL ? msg : (unsigned char *)"",
                        (size_t)msg_len, sig, &sig_len)
             && sig_len == 64 && memcmp(sig, want, 64) == 0
             && ed_verify(key, P11, msg != NULL ? msg : (unsigned char *)"",
                          (size_t)msg_len, sig, sig_len);
        EVP_PKEY_free(key);
        OPENSSL_free(sk);
        OPENSSL_free(msg);
        OPENSSL_free(want);
        if (!ok)
            return failf("vector %d: not the known signature", done);
        done++;
    }
    fclose(f);
    printf("ok: %d Ed25519 vectors, byte for byte\n", done);
    printf("ok: %d signatures by pkcs11be\n", p11_signs);
    return done == n;
}

/* Imported and generated keys against the default provider. */
static int run_ed(const char *type)
{
    unsigned char msg[300], s1[114], s2[114];
    size_t l1 = sizeof(s1), l2 = sizeof(s2);
    EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, type);
    EVP_PKEY *imp = sw ? convert_as(sw, type, P11, EVP_PKEY_KEYPAIR) : NULL;
    EVP_PKEY *gen = EVP_PKEY_Q_keygen(NULL, P11, type);
    EVP_PKEY *genpub =
        gen ? convert_as(gen, type, DEF, EVP_PKEY_PUBLIC_KEY) : NULL;

    memset(msg, 'e', sizeof(msg));
    if (imp == NULL || genpub == NULL)
        return failf("%s keys", type);
    if (!ed_sign(imp, P11, msg, sizeof(msg), s1, &l1)
        || !ed_sign(sw, DEF, msg, sizeof(msg), s2, &l2) || l1 != l2
        || memcmp(s1, s2, l1) != 0)
        return failf("%s: an imported key signs as the default", type);
    l1 = sizeof(s1);
    if (!ed_sign(gen, P11, msg, sizeof(msg), s1, &l1)
        || !ed_verify(genpub, DEF, msg, sizeof(msg), s1, l1)
        || !ed_verify(gen, P11, msg, sizeof(msg), s1, l1)
        || ed_verify(genpub, DEF, msg, sizeof(msg) - 1, s1, l1))
        return failf("%s: a generated key's signature", type);
    ERR_clear_error();
    printf("ok: %s imported (same bytes) and generated (verified)\n", type);
    printf("ok: %d signatures by pkcs11be\n", p11_signs);
    EVP_PKEY_free(sw);
    EVP_PKEY_free(imp);
    EVP_PKEY_free(gen);
    EVP_PKEY_free(genpub);
    return 1;
}

/* Expects failure with `want` in the error text. */
static int expect_error(int failed, const char *what, const char *want)
{
    char text[4096];

    errors_text(text, sizeof(text));
    if (!failed)
        return failf("%s was accepted", what);
    if (want != NULL && strstr(text, want) == NULL) {
        printf("errors were: %s\n", text);
        return failf("%s: no \"%s\" in the error", what, want);
    }
    printf("ok: %s refused\n", what);
    return 1;
}

/* A public key of `curve` with the given point, into pkcs11be. */
static EVP_PKEY *import_pub(const char *curve, unsigned char *point, size_t len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", P11);
    OSSL_PARAM params[3];
    EVP_PKEY *key = NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)curve, 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, len);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static int run_errors(void)
{
    EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-384");
    EVP_PKEY *a_p11 = a ? convert(a, P11, EVP_PKEY_KEYPAIR) : NULL;
    EVP_PKEY *b_p11 = b ? convert(b, P11, EVP_PKEY_PUBLIC_KEY) : NULL;
    unsigned char point[65], sig[128], msg[4] = "abc";
    size_t len = 0, sig_len = sizeof(sig);
    EVP_PKEY_CTX *ctx;
    EVP_MD_CTX *mctx;
    EVP_PKEY *bad;
    int ok;

    if (a_p11 == NULL || b_p11 == NULL)
        return fail("keys");
    /* A point not on the curve: the last byte of y changed. */
    if (!EVP_PKEY_get_octet_string_param(a, OSSL_PKEY_PARAM_PUB_KEY, point,
                                         sizeof(point), &len))
        return fail("the point");
    point[len - 1] ^= 1;
    bad = import_pub("P-256", point, len);
    if (!expect_error(bad == NULL, "a point not on the curve",
                      "refuses this EC key"))
        return 0;
    /*
     * A curve the token does not take is a host key: the default provider
     * checks the point (one of P-256's is not on sect163k1).
     */
    bad = import_pub("sect163k1", point, len);
    if (!expect_error(bad == NULL, "a P-256 point on sect163k1",
                      "refuses this EC key"))
        return 0;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", P11);
    ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1
         && EVP_PKEY_CTX_set_group_name(ctx, "no-such-curve") == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!expect_error(!ok, "generation on an unknown curve", "not known"))
        return 0;
    /* Explicit curve parameters. */
    {
        EVP_PKEY_CTX *gctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", DEF);
        OSSL_PARAM params[3];
        EVP_PKEY *expl = NULL;

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     "P-256", 0);
        params[1] = OSSL_PARAM_construct_utf8_string(
            OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT, 0);
        params[2] = OSSL_PARAM_construct_end();
        if (gctx == NULL || EVP_PKEY_keygen_init(gctx) != 1
            || EVP_PKEY_CTX_set_params(gctx, params) != 1
            || EVP_PKEY_generate(gctx, &expl) != 1)
            return fail("an explicit-parameters key");
        EVP_PKEY_CTX_free(gctx);
        /* A host key: the default provider signs with it, in pkcs11be. */
        bad = convert(expl, P11, EVP_PKEY_KEYPAIR);
        EVP_PKEY_free(expl);
        mctx = EVP_MD_CTX_new();
        sig_len = sizeof(sig);
        ok =
            bad != NULL
            && EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, P11, bad, NULL)
                   == 1
            && EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)) == 1;
        EVP_MD_CTX_free(mctx);
        mctx = EVP_MD_CTX_new();
        ok = ok
             && EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", NULL, DEF, bad,
                                        NULL)
                    == 1
             && EVP_DigestVerify(mctx, sig, sig_len, msg, sizeof(msg)) == 1;
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_free(bad);
        if (!ok)
            return fail("explicit curve parameters: a host key that signs");
        printf("ok: explicit curve parameters: a host key, signed\n");
        sig_len = sizeof(sig);
    }
    /* A peer on another curve. */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, a_p11, P11);
    ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
         && EVP_PKEY_derive_set_peer(ctx, b_p11) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!expect_error(!ok, "an ECDH peer on another curve", "same curve"))
        return 0;
    /* A truncated signature. */
    mctx = EVP_MD_CTX_new();
    ok =
        EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, P11, a_p11, NULL) == 1
        && EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(mctx);
    if (!ok)
        return fail("a signature");
    mctx = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", NULL, P11, a_p11, NULL)
             == 1
         && EVP_DigestVerify(mctx, sig, sig_len - 1, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(mctx);
    if (!expect_error(!ok, "a truncated signature", NULL))
        return 0;
    /* Too small a buffer. */
    mctx = EVP_MD_CTX_new();
    sig_len = 10;
    ok =
        EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, P11, a_p11, NULL) == 1
        && EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(mctx);
    if (!expect_error(!ok, "a 10-byte signature buffer", "needs"))
        return 0;
    /* A public key cannot sign. */
    mctx = EVP_MD_CTX_new();
    sig_len = sizeof(sig);
    ok = EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, P11, b_p11, NULL)
         == 1;
    EVP_MD_CTX_free(mctx);
    if (!expect_error(!ok, "signing with a public key", "public key"))
        return 0;
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(a_p11);
    EVP_PKEY_free(b_p11);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int ok = 0;

    if (!load_providers())
        return fail("loading the providers") ? 0 : 1;
    if (strcmp(mode, "params") == 0)
        ok = run_params();
    else if (strcmp(mode, "sign") == 0)
        ok = run_sign();
    else if (strcmp(mode, "ecdh") == 0)
        ok = run_ecdh();
    else if (strcmp(mode, "gen") == 0 && argc > 3)
        ok = run_gen(argv[2], argv[3]);
    else if (strcmp(mode, "hygiene") == 0 && argc > 2)
        ok = run_hygiene(atoi(argv[2]));
    else if (strcmp(mode, "ed-vectors") == 0 && argc > 3)
        ok = run_ed_vectors(argv[2], atoi(argv[3]));
    else if (strcmp(mode, "ed") == 0 && argc > 2)
        ok = run_ed(argv[2]);
    else if (strcmp(mode, "errors") == 0)
        ok = run_errors();
    else
        fprintf(stderr, "usage: see the top of ec_check.c\n");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
