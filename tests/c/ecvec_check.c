/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NIST CAVS ECDSA vectors (FIPS 186-3, from python3-cryptography-vectors)
 * through pkcs11be (tests/74-ec-vectors.t), for the curves pkcs11be
 * offers: P-256, P-384 and P-521, with SHA-1 and SHA-2.
 *
 *   ecvec_check verify SigVer.rsp   every vector's public key imported
 *                                   into pkcs11be, its (R, S) verified
 *                                   there over Msg hashed with the
 *                                   section's digest; the verdict must be
 *                                   the file's Result (P or F), and the
 *                                   default provider's
 *   ecvec_check sign SigGen.txt     every vector's key pair (d, Qx, Qy)
 *                                   imported into pkcs11be; Msg signed on
 *                                   the token and the signature verified
 *                                   by the default provider; the file's
 *                                   (R, S) verified by pkcs11be (valid)
 *
 * Prints "ok: ..." per section and a last line "vectors: total=..
 * checked=.. valid=.. invalid=.. signed=.. refused=.. mismatched=.."
 * (valid/invalid: SigVer verdicts that matched); exits 0 when nothing
 * mismatched, 1 otherwise. A key pkcs11be refuses to import counts as an F
 * verdict (OpenSSL refuses such keys too), and is reported.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define LINE_MAX_LEN 4096
#define MSG_MAX      1024 /* bytes of a vector's message */
#define NUM_MAX      68   /* bytes of a P-521 number (66) and slack */
#define SIG_MAX      160  /* DER ECDSA-Sig-Value for P-521 */

/* A curve pkcs11be offers, by the name the files use. */
struct curve {
    const char *file_name; /* "P-256" */
    const char *group;     /* OpenSSL's group name */
    size_t field_len;      /* bytes of a coordinate */
};

static const struct curve curves[] = {
    {"P-256", "P-256", 32},
    {"P-384", "P-384", 48},
    {"P-521", "P-521", 66},
};

/* A digest, by the name the files use. */
struct digest {
    const char *file_name; /* "SHA-256" */
    const char *md;        /* OpenSSL's name */
};

static const struct digest digests[] = {
    {"SHA-1", "SHA1"},       {"SHA-224", "SHA2-224"}, {"SHA-256", "SHA2-256"},
    {"SHA-384", "SHA2-384"}, {"SHA-512", "SHA2-512"},
};

/* One vector as read from the file. */
struct vector {
    unsigned char msg[MSG_MAX]; /* Msg */
    size_t msg_len;             /* bytes in msg */
    unsigned char d[NUM_MAX];   /* d (SigGen only) */
    size_t d_len;               /* bytes in d; 0 if none */
    unsigned char qx[NUM_MAX];  /* Qx */
    size_t qx_len;              /* bytes in qx */
    unsigned char qy[NUM_MAX];  /* Qy */
    size_t qy_len;              /* bytes in qy */
    unsigned char r[NUM_MAX];   /* R */
    size_t r_len;               /* bytes in r */
    unsigned char s[NUM_MAX];   /* S */
    size_t s_len;               /* bytes in s */
    int result;                 /* 'P', 'F', or 0 (SigGen) */
    char result_text[64];       /* the Result line, for messages */
};

/* Figures over the whole file. */
struct tally {
    int total;      /* vectors of the curves and digests above */
    int checked;    /* verdicts compared */
    int signed_ok;  /* signatures made on the token and verified */
    int mismatched; /* anything that differs */
    int refused;    /* keys pkcs11be refused to import */
    int valid;      /* SigVer: pkcs11be said valid (and so did the file) */
    int invalid;    /* SigVer: pkcs11be said invalid (and so did the file) */
};

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Hex text into out (room cap); an odd digit count gets a leading 0. */
static int unhex(const char *hex, unsigned char *out, size_t cap, size_t *len)
{
    size_t digits = 0, i, n;
    int odd;

    while (isxdigit((unsigned char)hex[digits]))
        digits++;
    odd = (int)(digits % 2);
    n = (digits + 1) / 2;
    if (n > cap)
        return 0;
    for (i = 0; i < n; i++) {
        int hi = (i == 0 && odd) ? 0 : hex_value(*hex++);
        int lo = hex_value(*hex++);

        out[i] = (unsigned char)(hi * 16 + lo);
    }
    *len = n;
    return 1;
}

/* Left-pads a big-endian number to `len` bytes into out; 0 if longer. */
static int pad_to(const unsigned char *in, size_t in_len, unsigned char *out,
                  size_t len)
{
    while (in_len > len && *in == 0) {
        in++;
        in_len--;
    }
    if (in_len > len)
        return 0;
    memset(out, 0, len - in_len);
    memcpy(out + (len - in_len), in, in_len);
    return 1;
}

/*
 * The vector's key in `props`' EC keymgmt: the public point, and the
 * private scalar when `with_private`. NULL if refused.
 */
static EVP_PKEY *vector_key(const struct curve *c, const struct vector *v,
                            int with_private, const char *props)
{
    unsigned char point[1 + 2 * NUM_MAX];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *d = NULL;
    int selection = with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;

    point[0] = 0x04;
    if (bld == NULL || !pad_to(v->qx, v->qx_len, point + 1, c->field_len)
        || !pad_to(v->qy, v->qy_len, point + 1 + c->field_len, c->field_len))
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         c->group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * c->field_len))
        goto out;
    if (with_private
        && ((d = BN_bin2bn(v->d, (int)v->d_len, NULL)) == NULL
            || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", props);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    return pkey;
}

/* (R, S) as DER into sig; its length, or 0. */
static size_t vector_sig(const struct vector *v, unsigned char *sig)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(v->r, (int)v->r_len, NULL);
    BIGNUM *s = BN_bin2bn(v->s, (int)v->s_len, NULL);
    unsigned char *p = sig;
    int len = 0;

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
    } else if (i2d_ECDSA_SIG(es, NULL) <= SIG_MAX) {
        len = i2d_ECDSA_SIG(es, &p);
    }
    ECDSA_SIG_free(es);
    return len > 0 ? (size_t)len : 0;
}

/* EVP_DigestVerify with `props`: 1 valid, 0 invalid, -1 error. */
static int verify(EVP_PKEY *key, const char *props, const char *md,
                  const unsigned char *msg, size_t msg_len,
                  const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int r = -1;

    if (mctx != NULL
        && EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, props, key, NULL) == 1)
        r = EVP_DigestVerify(mctx, sig, sig_len, msg, msg_len);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error(); /* an invalid signature may leave an error */
    return r < 0 ? -1 : r;
}

/* EVP_DigestSign with `props` into sig (room SIG_MAX); length or 0. */
static size_t sign(EVP_PKEY *key, const char *props, const char *md,
                   const unsigned char *msg, size_t msg_len, unsigned char *sig)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t len = SIG_MAX;
    int ok;

    ok = mctx != NULL
         && EVP_DigestSignInit_ex(mctx, NULL, md, NULL, props, key, NULL) == 1
         && EVP_DigestSign(mctx, sig, &len, msg, msg_len) == 1;
    EVP_MD_CTX_free(mctx);
    return ok ? len : 0;
}

/* SigVer: pkcs11be's and the default's verdicts against Result. */
static void check_verify(const struct curve *c, const struct digest *dg,
                         const struct vector *v, int index, struct tally *t)
{
    unsigned char sig[SIG_MAX];
    size_t sig_len = vector_sig(v, sig);
    EVP_PKEY *p11 = vector_key(c, v, 0, P11);
    EVP_PKEY *def = vector_key(c, v, 0, DEF);
    int want = v->result == 'P';
    int got_p11, got_def;

    if (p11 == NULL)
        t->refused++;
    got_p11 = p11 == NULL
                  ? 0
                  : verify(p11, P11, dg->md, v->msg, v->msg_len, sig, sig_len);
    got_def = def == NULL
                  ? 0
                  : verify(def, DEF, dg->md, v->msg, v->msg_len, sig, sig_len);
    t->checked++;
    if (sig_len != 0 && got_p11 == want && got_def == want) {
        t->valid += want;
        t->invalid += !want;
    } else {
        t->mismatched++;
        printf("MISMATCH: [%s,%s] #%d: Result = %s; pkcs11be %d%s, "
               "default %d\n",
               c->file_name, dg->file_name, index, v->result_text, got_p11,
               p11 == NULL ? " (key refused)" : "", got_def);
        ERR_print_errors_fp(stdout);
    }
    EVP_PKEY_free(p11);
    EVP_PKEY_free(def);
    ERR_clear_error();
}

/* SigGen: sign on the token, verify by default; file's (R, S) valid. */
static void check_sign(const struct curve *c, const struct digest *dg,
                       const struct vector *v, int index, struct tally *t)
{
    unsigned char sig[SIG_MAX], file_sig[SIG_MAX];
    size_t file_len = vector_sig(v, file_sig), sig_len = 0;
    EVP_PKEY *p11 = vector_key(c, v, 1, P11);
    EVP_PKEY *def = vector_key(c, v, 0, DEF);
    int good = -2, file_ok = -2;

    if (p11 != NULL && def != NULL) {
        sig_len = sign(p11, P11, dg->md, v->msg, v->msg_len, sig);
        if (sig_len > 0)
            good = verify(def, DEF, dg->md, v->msg, v->msg_len, sig, sig_len);
        file_ok =
            verify(p11, P11, dg->md, v->msg, v->msg_len, file_sig, file_len);
    }
    t->checked++;
    if (good == 1)
        t->signed_ok++;
    if (good != 1 || file_ok != 1) {
        t->mismatched++;
        printf("MISMATCH: [%s,%s] #%d: key %s, token signature %d, "
               "file's signature %d\n",
               c->file_name, dg->file_name, index,
               p11 == NULL ? "refused" : "imported", good, file_ok);
        ERR_print_errors_fp(stdout);
    }
    EVP_PKEY_free(p11);
    EVP_PKEY_free(def);
    ERR_clear_error();
}

/* "[P-256,SHA-1]": the curve and digest, or NULLs for others. */
static void parse_section(const char *line, const struct curve **c,
                          const struct digest **dg)
{
    char name[32], hash[32];
    size_t i;

    *c = NULL;
    *dg = NULL;
    if (sscanf(line, "[%31[^,],%31[^]]]", name, hash) != 2)
        return;
    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (strcmp(name, curves[i].file_name) == 0)
            *c = &curves[i];
    for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (strcmp(hash, digests[i].file_name) == 0)
            *dg = &digests[i];
}

/* One "Key = value" line into v; 1 when it ends a vector. */
static int parse_field(const char *line, struct vector *v, int sign_mode)
{
    const char *eq = strstr(line, " = ");
    const char *val = eq != NULL ? eq + 3 : "";

    if (strncmp(line, "Msg = ", 6) == 0) {
        memset(v, 0, sizeof(*v));
        unhex(val, v->msg, sizeof(v->msg), &v->msg_len);
    } else if (strncmp(line, "d = ", 4) == 0) {
        unhex(val, v->d, sizeof(v->d), &v->d_len);
    } else if (strncmp(line, "Qx = ", 5) == 0) {
        unhex(val, v->qx, sizeof(v->qx), &v->qx_len);
    } else if (strncmp(line, "Qy = ", 5) == 0) {
        unhex(val, v->qy, sizeof(v->qy), &v->qy_len);
    } else if (strncmp(line, "R = ", 4) == 0) {
        unhex(val, v->r, sizeof(v->r), &v->r_len);
    } else if (strncmp(line, "S = ", 4) == 0) {
        unhex(val, v->s, sizeof(v->s), &v->s_len);
        return sign_mode; /* SigGen: S is the last field */
    } else if (strncmp(line, "Result = ", 9) == 0) {
        v->result = val[0];
        snprintf(v->result_text, sizeof(v->result_text), "%s", val);
        return 1;
    }
    return 0;
}

static int run(const char *path, int sign_mode)
{
    static struct vector v;
    char line[LINE_MAX_LEN];
    const struct curve *c = NULL;
    const struct digest *dg = NULL;
    struct tally t = {0};
    int index = 0, section_checked = 0, section_bad = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        printf("FAIL: cannot open %s\n", path);
        return 0;
    }
    for (;;) {
        int more = fgets(line, sizeof(line), f) != NULL;

        line[strcspn(line, "\r\n")] = '\0';
        if (!more || line[0] == '[') {
            if (c != NULL && dg != NULL)
                printf("ok: [%s,%s] %d vectors, %d mismatched\n", c->file_name,
                       dg->file_name, section_checked, section_bad);
            if (!more)
                break;
            parse_section(line, &c, &dg);
            index = section_checked = section_bad = 0;
            continue;
        }
        if (c == NULL || dg == NULL || !parse_field(line, &v, sign_mode))
            continue;
        if (sign_mode && v.d_len == 0)
            continue;
        t.total++;
        section_checked++;
        index++;
        {
            int before = t.mismatched;

            if (sign_mode)
                check_sign(c, dg, &v, index, &t);
            else
                check_verify(c, dg, &v, index, &t);
            section_bad += t.mismatched - before;
        }
    }
    fclose(f);
    printf("vectors: total=%d checked=%d valid=%d invalid=%d signed=%d "
           "refused=%d mismatched=%d\n",
           t.total, t.checked, t.valid, t.invalid, t.signed_ok, t.refused,
           t.mismatched);
    return t.total > 0 && t.mismatched == 0;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    int ok = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading the providers") ? 0 : 1;
    if (argc == 3 && strcmp(argv[1], "verify") == 0)
        ok = run(argv[2], 0);
    else if (argc == 3 && strcmp(argv[1], "sign") == 0)
        ok = run(argv[2], 1);
    else
        fprintf(stderr, "usage: ecvec_check verify SigVer.rsp | "
                        "sign SigGen.txt\n");
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
