/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: one job in a child process (see run.h).
 *
 * The child sets each way up once (a library context with the provider
 * and the algorithm fetched; or the module initialised, first, and the
 * case's key created), then starts the threads. Each thread makes its own
 * context or session for every way and warms them up; all meet at a
 * barrier, the main thread reads the shim's counters (count jobs), and a
 * second barrier starts them together.
 *
 * In a timed job the main thread then hands out time slices: it sets
 * `phase` to a way, sleeps BENCH_SLICE_SECONDS, moves on to the next way, and
 * so on round the ways until each has had job->seconds. The threads run
 * whichever way `phase` names and count each operation for the way it
 * started in. A count job runs its one way for count_ops operations per
 * thread, and the counters are read again.
 */
#include "run.h"
#include "p11open.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>

const char *const bench_way_names[WAY_COUNT] = {
    [WAY_PKCS11BE] = "pkcs11be",
    [WAY_DIRECT] = "direct",
    [WAY_DEFAULT] = "default",
};

/*
 * Set up direct first, so that it is the one that initialises the module
 * (pkcs11be takes CKR_CRYPTOKI_ALREADY_INITIALIZED in its stride, and
 * then leaves finalising to whoever initialised); tear down in reverse.
 */
static const enum bench_way setup_order[WAY_COUNT] = {
    WAY_DIRECT,
    WAY_PKCS11BE,
    WAY_DEFAULT,
};

/*
 * Warm-up per thread and way before the measured part, long enough for
 * the threads to overlap (so that pkcs11be's pool has grown to one
 * session per thread before a count job starts counting).
 */
#define WARM_UP_MAX_SECONDS 0.1

/* A child that takes this much longer than asked is hung: kill it. */
#define WATCHDOG_SLACK_SECONDS 120

/*
 * The key both sides get (its first key_len bytes, at most
 * BENCH_MAX_KEY_LEN; zeros after the text), and the all-zero IV.
 */
static const unsigned char run_key[BENCH_MAX_KEY_LEN] =
    "p11bench: a test key, not a secret";
static unsigned char run_iv[16];

/*
 * Room past in_len in the output buffer: a tag, a block of padding, an
 * RSA signature or plaintext of up to 4096 bits.
 */
#define OUT_SLACK 512

/* BENCH_PKEY: the key pair every way gets (bench.h). */
#define PKEY_BITS  2048
#define PKEY_CURVE "P-256"

/* BENCH_PKEY EC: the largest point made (P-256 uncompressed: 65). */
#define POINT_MAX 133

/* An EVP way's state for the whole process. */
struct evp_state {
    OSSL_LIB_CTX *libctx;    /* our own library context */
    OSSL_PROVIDER *provider; /* the one provider loaded in it */
    EVP_MD *md;              /* fetched once, if BENCH_DIGEST */
    EVP_MAC *mac;            /* fetched once, if BENCH_MAC */
    EVP_CIPHER *cipher;      /* fetched once, if BENCH_CIPHER */
    EVP_PKEY *pkey;          /* BENCH_PKEY: run's key, imported here */
    EVP_PKEY *peer;          /* BENCH_PKEY EC: run's peer, imported here */
};

struct run {
    const struct bench_job *job;     /* what to do */
    struct bench_report *report;     /* where the result goes */
    unsigned active;                 /* WAY_BIT()s of the ways set up */
    const char *module;              /* what direct loads: module or shim */
    struct evp_state evp[WAY_COUNT]; /* EVP ways, by way */
    CK_FUNCTION_LIST *p11;           /* direct: the module's functions */
    int p11_initialized;             /* direct: our C_Initialize succeeded */
    CK_SLOT_ID slot;                 /* direct: the token's slot */
    CK_SESSION_HANDLE key_session;   /* direct: holds the key object */
    CK_OBJECT_HANDLE key;            /* direct: CK_INVALID_HANDLE if none */
    CK_OBJECT_HANDLE token_key;      /* token_key rows: the token object */
    CK_OBJECT_HANDLE token_pub;      /* token_key EC rows: its public key */
    char token_label[32];            /* token_key rows: its CKA_LABEL */
    EVP_PKEY *soft_key;              /* BENCH_PKEY: made once, in software */
    EVP_PKEY *soft_peer;             /* BENCH_PKEY EC: the ECDH peer */
    unsigned char sig[OUT_SLACK];    /* BENCH_PKEY: signature of the input */
    size_t sig_len;                  /* bytes in sig */
    unsigned char raw[OUT_SLACK];    /* sig as the token makes it: r||s */
    size_t raw_len;                  /* bytes in raw */
    unsigned char point[POINT_MAX];  /* BENCH_PKEY EC: soft_peer's */
    size_t point_len;                /* bytes in point */
    unsigned char ct[OUT_SLACK];     /* BENCH_PKEY: OAEP of the input */
    size_t ct_len;                   /* bytes in ct */
    pthread_barrier_t ready;         /* threads set up and warm */
    pthread_barrier_t go;            /* counters read: start measuring */
    int phase;                       /* timed job: the way to run; -1: stop */
    unsigned failed;                 /* WAY_BIT()s of ways an op failed in */
};

struct worker {
    struct run *run;                         /* the job this thread is for */
    pthread_t tid;                           /* valid once started */
    struct bench_evp_thread evp[WAY_COUNT];  /* EVP ways' op state, by way */
    struct bench_p11_thread p11;             /* direct's op state */
    unsigned char *in;                       /* input buffer */
    unsigned char *out;                      /* output buffer */
    unsigned set_up;                         /* WAY_BIT()s set up here */
    uint64_t ops[WAY_COUNT];                 /* measured operations, by way */
    char why[WAY_COUNT][BENCH_WHY_LEN - 32]; /* first failure, by way */
};

/* One way of doing a case; ways[] below has one row per bench_way. */
struct way {
    /* Once per child; BENCH_OK, or why not in report->way[way].why. */
    enum bench_status (*setup)(struct run *r, enum bench_way way);
    /* Once per child, also after a failed setup. */
    void (*teardown)(struct run *r, enum bench_way way);
    /* Per thread; 0 on failure, with w->why[way] set. */
    int (*thread_setup)(struct worker *w, enum bench_way way);
    /* Per thread that was set up; from any thread. */
    void (*thread_teardown)(struct worker *w, enum bench_way way);
    /* The case's op, once; 0 on failure, with w->why[way] set. */
    int (*op)(struct worker *w, enum bench_way way);
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds)
{
    struct timespec ts;
    double whole = (double)(long)seconds;
    int rc;

    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((seconds - whole) * 1e9);
    do {
        rc = nanosleep(&ts, &ts); /* the rest, if interrupted */
    } while (rc != 0 && errno == EINTR);
}

/* "what: reason (detail)" from the oldest OpenSSL error, and clears. */
static void why_openssl(char *why, size_t len, const char *what)
{
    const char *data = NULL;
    unsigned long err;
    int flags = 0;
    char reason[160];

    err = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
    if (err == 0) {
        snprintf(why, len, "%s failed (no OpenSSL error)", what);
        return;
    }
    ERR_error_string_n(err, reason, sizeof(reason));
    if (data != NULL && (flags & ERR_TXT_STRING) != 0 && *data != '\0')
        snprintf(why, len, "%s: %s (%s)", what, reason, data);
    else
        snprintf(why, len, "%s: %s", what, reason);
    ERR_clear_error();
}

/* BENCH_PKEY: the key pair, and a signature and ciphertext of the input */

/* RSA: PKCS#1 v1.5 SHA-256 signature and OAEP (SHA-1) encryption of in. */
static int pkey_prepare_rsa(struct run *r, const unsigned char *in,
                            size_t in_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    int ok;

    r->soft_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)PKEY_BITS);
    if (r->soft_key == NULL)
        return 0;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, r->soft_key, NULL);
    r->sig_len = sizeof(r->sig);
    r->ct_len = sizeof(r->ct);
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
         && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0
         && EVP_PKEY_sign(ctx, r->sig, &r->sig_len, in, in_len) > 0
         && EVP_PKEY_encrypt_init(ctx) > 0
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0
         && EVP_PKEY_encrypt(ctx, r->ct, &r->ct_len, in, in_len) > 0;
    EVP_PKEY_CTX_free(ctx);
    memcpy(r->raw, r->sig, r->sig_len);
    r->raw_len = r->sig_len;
    return ok;
}

/* DER ECDSA-Sig-Value in r->sig as r||s (each `half` bytes) in r->raw. */
static int pkey_ecdsa_raw(struct run *r, size_t half)
{
    const unsigned char *p = r->sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)r->sig_len);
    int ok;

    ok = es != NULL && 2 * half <= sizeof(r->raw)
         && BN_bn2binpad(ECDSA_SIG_get0_r(es), r->raw, (int)half) == (int)half
         && BN_bn2binpad(ECDSA_SIG_get0_s(es), r->raw + half, (int)half)
                == (int)half;
    ECDSA_SIG_free(es);
    r->raw_len = 2 * half;
    return ok;
}

/* EC P-256: an ECDSA signature of the digest in, and the ECDH peer. */
static int pkey_prepare_ec(struct run *r, const unsigned char *in,
                           size_t in_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    int ok;

    r->soft_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", PKEY_CURVE);
    r->soft_peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", PKEY_CURVE);
    if (r->soft_key == NULL || r->soft_peer == NULL)
        return 0;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, r->soft_key, NULL);
    r->sig_len = sizeof(r->sig);
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0
         && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0
         && EVP_PKEY_sign(ctx, r->sig, &r->sig_len, in, in_len) > 0
         && pkey_ecdsa_raw(r, (EVP_PKEY_get_bits(r->soft_key) + 7) / 8)
         && EVP_PKEY_get_octet_string_param(
             r->soft_peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, r->point,
             sizeof(r->point), &r->point_len);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Ed25519: the signature of the message in. */
static int pkey_prepare_ed(struct run *r, const unsigned char *in,
                           size_t in_len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    r->soft_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    r->sig_len = sizeof(r->sig);
    ok = r->soft_key != NULL && mctx != NULL
         && EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, r->soft_key,
                                  NULL)
                == 1
         && EVP_DigestSign(mctx, r->sig, &r->sig_len, in, in_len) == 1;
    EVP_MD_CTX_free(mctx);
    memcpy(r->raw, r->sig, r->sig_len);
    r->raw_len = r->sig_len;
    return ok;
}

/*
 * Makes r->soft_key (of the case's `alg`) with OpenSSL's default provider
 * (in the process's default library context), and signs, encrypts or
 * makes a peer for the input that run_threads() gives every thread:
 * in_len bytes of 0x5a. 1, or 0 with the reason in `why`.
 */
static int pkey_prepare(struct run *r, char *why)
{
    const char *alg = r->job->bc->alg;
    unsigned char in[64];
    int ok;

    if (r->job->in_len > sizeof(in)) {
        snprintf(why, BENCH_WHY_LEN, "input of %zu bytes: at most %zu",
                 r->job->in_len, sizeof(in));
        return 0;
    }
    memset(in, 0x5a, r->job->in_len);
    if (strcmp(alg, "RSA") == 0) {
        ok = pkey_prepare_rsa(r, in, r->job->in_len);
    } else if (strcmp(alg, "EC") == 0) {
        ok = pkey_prepare_ec(r, in, r->job->in_len);
    } else if (strcmp(alg, "ED25519") == 0) {
        ok = pkey_prepare_ed(r, in, r->job->in_len);
    } else {
        snprintf(why, BENCH_WHY_LEN, "no key pair for %s", alg);
        return 0;
    }
    if (!ok)
        why_openssl(why, BENCH_WHY_LEN, "making the key and signing the input");
    return ok;
}

/* `from` through `props`' keymgmt in libctx (EVP_PKEY_fromdata). */
static EVP_PKEY *pkey_import(const struct run *r, EVP_PKEY *from, int selection,
                             OSSL_LIB_CTX *libctx, const char *props)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (EVP_PKEY_todata(from, selection, &params) <= 0)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_name(libctx, r->job->bc->alg, props);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, selection, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* a throw-away key: 3.0 has no clear_free */
    return pkey;
}

/* EVP ways: pkcs11be and default */

/* token_key rows: the key direct put on the token, by pkcs11: URI. */
static enum bench_status evp_load_token_key(struct run *r, struct evp_state *e,
                                            const char *props)
{
    char *why = r->report->way[WAY_PKCS11BE].why;
    OSSL_STORE_CTX *store = NULL;
    char uri[64];

    if (r->token_label[0] == '\0') {
        snprintf(why, BENCH_WHY_LEN,
                 "a token-key row needs the direct way, "
                 "which puts the key on the token");
        return BENCH_FAILED;
    }
    snprintf(uri, sizeof(uri), "pkcs11:object=%s;type=private", r->token_label);
    store =
        OSSL_STORE_open_ex(uri, e->libctx, props, NULL, NULL, NULL, NULL, NULL);
    while (store != NULL && e->pkey == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info == NULL)
            break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            e->pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    if (e->pkey == NULL) {
        why_openssl(why, BENCH_WHY_LEN, uri);
        return BENCH_FAILED;
    }
    return BENCH_OK;
}

static enum bench_status evp_setup(struct run *r, enum bench_way way)
{
    const struct bench_case *bc = r->job->bc;
    const char *name = bench_way_names[way];
    char *why = r->report->way[way].why;
    struct evp_state *e = &r->evp[way];
    char props[64];

    e->libctx = OSSL_LIB_CTX_new();
    if (e->libctx == NULL) {
        why_openssl(why, BENCH_WHY_LEN, "OSSL_LIB_CTX_new");
        return BENCH_FAILED;
    }
    if (way == WAY_PKCS11BE
        && !OSSL_PROVIDER_set_default_search_path(e->libctx,
                                                  r->job->provider_path)) {
        why_openssl(why, BENCH_WHY_LEN,
                    "OSSL_PROVIDER_set_default_search_path");
        return BENCH_FAILED;
    }
    e->provider = OSSL_PROVIDER_load(e->libctx, name);
    if (e->provider == NULL) {
        why_openssl(why, BENCH_WHY_LEN, "OSSL_PROVIDER_load");
        return BENCH_FAILED;
    }
    snprintf(props, sizeof(props), "provider=%s", name);
    switch (bc->kind) {
    case BENCH_DIGEST:
        e->md = EVP_MD_fetch(e->libctx, bc->alg, props);
        if (e->md != NULL)
            return BENCH_OK;
        break;
    case BENCH_MAC:
        e->mac = EVP_MAC_fetch(e->libctx, bc->alg, props);
        if (e->mac != NULL)
            return BENCH_OK;
        break;
    case BENCH_CIPHER:
        e->cipher = EVP_CIPHER_fetch(e->libctx, bc->alg, props);
        if (e->cipher != NULL)
            return BENCH_OK;
        break;
    case BENCH_PKEY:
        if (bc->token_key && way == WAY_PKCS11BE)
            return evp_load_token_key(r, e, props);
        e->pkey =
            pkey_import(r, r->soft_key, EVP_PKEY_KEYPAIR, e->libctx, props);
        if (r->soft_peer != NULL && e->pkey != NULL)
            e->peer = pkey_import(r, r->soft_peer, EVP_PKEY_PUBLIC_KEY,
                                  e->libctx, props);
        if (e->pkey != NULL && (r->soft_peer == NULL || e->peer != NULL))
            return BENCH_OK;
        break;
    }
    ERR_clear_error();
    snprintf(why, BENCH_WHY_LEN, "%s does not offer %s", name, bc->alg);
    return BENCH_NA;
}

static void evp_teardown(struct run *r, enum bench_way way)
{
    struct evp_state *e = &r->evp[way];

    EVP_MD_free(e->md);
    EVP_MAC_free(e->mac);
    EVP_CIPHER_free(e->cipher);
    EVP_PKEY_free(e->pkey);
    EVP_PKEY_free(e->peer);
    if (e->provider != NULL)
        OSSL_PROVIDER_unload(e->provider);
    OSSL_LIB_CTX_free(e->libctx);
}

static int evp_thread_setup(struct worker *w, enum bench_way way)
{
    struct bench_evp_thread *t = &w->evp[way];
    const struct evp_state *e = &w->run->evp[way];
    const struct bench_job *job = w->run->job;
    char props[64];

    t->md = e->md;
    t->mac = e->mac;
    t->cipher = e->cipher;
    t->key = run_key;
    t->key_len = job->bc->key_len;
    t->iv = run_iv;
    t->in = w->in;
    t->in_len = job->in_len;
    t->out = w->out;
    t->out_cap = job->in_len + OUT_SLACK;
    t->sig = w->run->sig;
    t->sig_len = w->run->sig_len;
    t->ct = w->run->ct;
    t->ct_len = w->run->ct_len;
    t->libctx = e->libctx;
    t->pkey = e->pkey;
    t->peer = e->peer;
    switch (job->bc->kind) {
    case BENCH_DIGEST:
        t->md_ctx = EVP_MD_CTX_new();
        return t->md_ctx != NULL;
    case BENCH_MAC:
        t->mac_ctx = EVP_MAC_CTX_new(t->mac);
        return t->mac_ctx != NULL;
    case BENCH_CIPHER:
        t->cipher_ctx = EVP_CIPHER_CTX_new();
        return t->cipher_ctx != NULL;
    case BENCH_PKEY:
        snprintf(props, sizeof(props), "provider=%s", bench_way_names[way]);
        t->pkey_ctx = EVP_PKEY_CTX_new_from_pkey(e->libctx, e->pkey, props);
        return t->pkey_ctx != NULL;
    }
    return 0;
}

static void evp_thread_teardown(struct worker *w, enum bench_way way)
{
    EVP_MD_CTX_free(w->evp[way].md_ctx);
    EVP_MAC_CTX_free(w->evp[way].mac_ctx);
    EVP_CIPHER_CTX_free(w->evp[way].cipher_ctx);
    EVP_PKEY_CTX_free(w->evp[way].pkey_ctx);
}

static int evp_op(struct worker *w, enum bench_way way)
{
    if (w->run->job->bc->evp_op(&w->evp[way]))
        return 1;
    why_openssl(w->why[way], sizeof(w->why[way]), w->run->job->bc->name);
    return 0;
}

/* Direct PKCS#11 */

/*
 * Whether a private key object is made CKA_PRIVATE, after a login on the
 * key session: as pkcs11be decides for its own (keyobj.c), when the token
 * reports CKF_LOGIN_REQUIRED and a PIN is configured. Both ways then use
 * the same kind of object: SoftHSM2 keeps a private object's values
 * encrypted and decrypts them on every use, a few percent of an RSA-2048
 * signature. 1 or 0; *rv is set on failure.
 */
static int p11_login_for_key(struct run *r, CK_RV *rv)
{
    return bench_p11_login(r->p11, r->slot, r->key_session, rv);
}

/* DER OBJECT IDENTIFIERs of the curves, as CKA_EC_PARAMS. */
static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/*
 * BENCH_PKEY "EC" or "ED25519": as p11_create_pkey() below, with
 * CKA_EC_PARAMS and the private value (CKA_VALUE: the scalar padded to the
 * order, or the raw Ed25519 key), or the public point (CKA_EC_POINT, a DER
 * OCTET STRING), as pkcs11be's keymgmts make them.
 */
static CK_RV p11_create_ec(struct run *r, int public, CK_OBJECT_HANDLE *out)
{
    const struct bench_case *bc = r->job->bc;
    int ed = strcmp(bc->alg, "ED25519") == 0;
    CK_OBJECT_CLASS cls = public ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY;
    CK_KEY_TYPE key_type = bc->key_type;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_BBOOL priv = CK_FALSE;
    unsigned char value[2 + POINT_MAX];
    size_t value_len = 0;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &priv, sizeof(priv)},
        {public ? CKA_VERIFY : bc->key_use, &yes, sizeof(yes)},
        {CKA_EC_PARAMS, (void *)(ed ? oid_ed25519 : oid_p256),
         ed ? sizeof(oid_ed25519) : sizeof(oid_p256)},
        {public ? CKA_EC_POINT : CKA_VALUE, value, 0},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
    };
    CK_ULONG count = public ? 7 : 9;
    BIGNUM *d = NULL;
    int half = (EVP_PKEY_get_bits(r->soft_key) + 7) / 8;
    int ok;
    CK_RV rv = CKR_OK;

    if (!public)
        priv = p11_login_for_key(r, &rv) ? CK_TRUE : CK_FALSE;
    if (rv != CKR_OK)
        return rv;
    if (public) {
        /* Ed25519 keys have no encoded form in 3.0: the raw key is it. */
        ok = EVP_PKEY_get_octet_string_param(
            r->soft_key,
            ed ? OSSL_PKEY_PARAM_PUB_KEY : OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
            value + 2, sizeof(value) - 2, &value_len);
        value[0] = 0x04; /* OCTET STRING, short length */
        value[1] = (unsigned char)value_len;
        value_len += 2;
    } else if (ed) {
        ok = EVP_PKEY_get_octet_string_param(r->soft_key,
                                             OSSL_PKEY_PARAM_PRIV_KEY, value,
                                             sizeof(value), &value_len);
    } else {
        ok = EVP_PKEY_get_bn_param(r->soft_key, OSSL_PKEY_PARAM_PRIV_KEY, &d)
             && half <= (int)sizeof(value)
             && BN_bn2binpad(d, value, half) == half;
        value_len = (size_t)half;
    }
    BN_clear_free(d);
    if (ok) {
        tmpl[6].ulValueLen = value_len;
        rv = r->p11->C_CreateObject(r->key_session, tmpl, count, out);
    } else {
        rv = CKR_HOST_MEMORY;
    }
    OPENSSL_cleanse(value, sizeof(value));
    return rv;
}

/*
 * BENCH_PKEY: r->soft_key as a session object for key_use only: the
 * private key (sensitive, not extractable; CKA_PRIVATE as pkcs11be makes
 * it), or the public one for CKA_VERIFY and CKA_ENCRYPT.
 */
static CK_RV p11_create_pkey(struct run *r)
{
    static const char *const names[] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    static const CK_ATTRIBUTE_TYPE types[] = {
        CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
        CKA_PRIME_2, CKA_EXPONENT_1,      CKA_EXPONENT_2,       CKA_COEFFICIENT,
    };
    const struct bench_case *bc = r->job->bc;
    int public = bc->key_use == CKA_VERIFY || bc->key_use == CKA_ENCRYPT;
    CK_OBJECT_CLASS cls = public ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY;
    CK_KEY_TYPE key_type = bc->key_type;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_BBOOL priv = CK_FALSE;
    CK_ATTRIBUTE tmpl[7 + 8] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &priv, sizeof(priv)},
        {bc->key_use, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
    };
    CK_ULONG count = public ? 5 : 7;
    size_t i, values = public ? 2 : 8;
    CK_RV rv = CKR_OK;

    if (strcmp(bc->alg, "RSA") != 0)
        return p11_create_ec(r, bc->key_use == CKA_VERIFY, &r->key);
    if (!public)
        priv = p11_login_for_key(r, &rv) ? CK_TRUE : CK_FALSE;
    if (rv != CKR_OK)
        return rv;
    rv = CKR_HOST_MEMORY;
    for (i = 0; i < values; i++) {
        BIGNUM *bn = NULL;
        int len;

        if (!EVP_PKEY_get_bn_param(r->soft_key, names[i], &bn))
            goto out_free_values;
        len = BN_num_bytes(bn);
        tmpl[count].type = types[i];
        tmpl[count].pValue = OPENSSL_malloc(len > 0 ? len : 1);
        tmpl[count].ulValueLen = len;
        if (tmpl[count].pValue != NULL)
            BN_bn2bin(bn, tmpl[count].pValue);
        BN_clear_free(bn);
        if (tmpl[count++].pValue == NULL)
            goto out_free_values;
    }
    rv = r->p11->C_CreateObject(r->key_session, tmpl, count, &r->key);
out_free_values:
    for (i = public ? 5 : 7; i < count; i++)
        OPENSSL_clear_free(tmpl[i].pValue, tmpl[i].ulValueLen);
    return rv;
}

/*
 * `*obj` (a session object) becomes a token object labelled
 * r->token_label: C_CopyObject, then the session one destroyed.
 */
static CK_RV p11_to_token(struct run *r, CK_OBJECT_HANDLE *obj)
{
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE to_token[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_LABEL, r->token_label, strlen(r->token_label)},
    };
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    CK_RV rv;

    rv = r->p11->C_CopyObject(r->key_session, *obj, to_token, 2, &made);
    r->p11->C_DestroyObject(r->key_session, *obj);
    *obj = made;
    return rv;
}

/*
 * token_key rows: the session key r->key becomes a token object (with its
 * public key for EC and Ed25519, which the store reads the point from),
 * and r->key a session copy of that token object, as an application that
 * copies its token key once would use.
 */
static CK_RV p11_token_key(struct run *r)
{
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE to_session[] = {{CKA_TOKEN, &no, sizeof(no)}};
    CK_RV rv;

    snprintf(r->token_label, sizeof(r->token_label), "p11bench-%ld",
             (long)getpid());
    if (strcmp(r->job->bc->alg, "RSA") != 0) {
        rv = p11_create_ec(r, 1, &r->token_pub);
        if (rv == CKR_OK)
            rv = p11_to_token(r, &r->token_pub);
        if (rv != CKR_OK)
            return rv;
    }
    r->token_key = r->key;
    rv = p11_to_token(r, &r->token_key);
    r->key = CK_INVALID_HANDLE;
    if (rv != CKR_OK)
        return rv;
    return r->p11->C_CopyObject(r->key_session, r->token_key, to_session, 1,
                                &r->key);
}

/* A session object holding the case's key, usable for key_use only. */
static CK_RV p11_create_key(struct run *r)
{
    const struct bench_case *bc = r->job->bc;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = bc->key_type;
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {bc->key_use, &yes, sizeof(yes)},
        {CKA_VALUE, (void *)run_key, bc->key_len},
    };
    CK_RV rv;

    rv = r->p11->C_OpenSession(r->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                               NULL, NULL, &r->key_session);
    if (rv != CKR_OK) {
        r->key_session = CK_INVALID_HANDLE;
        return rv;
    }
    if (bc->kind == BENCH_PKEY) {
        rv = p11_create_pkey(r);
        if (rv == CKR_OK && bc->token_key)
            rv = p11_token_key(r);
        return rv;
    }
    return r->p11->C_CreateObject(r->key_session, tmpl,
                                  sizeof(tmpl) / sizeof(tmpl[0]), &r->key);
}

static enum bench_status p11_setup(struct run *r, enum bench_way way)
{
    const struct bench_case *bc = r->job->bc;
    char *why = r->report->way[way].why;
    CK_MECHANISM_INFO info;
    CK_RV rv;

    r->p11 = bench_p11_load(r->module, &r->p11_initialized, why, BENCH_WHY_LEN);
    if (r->p11 == NULL
        || !bench_p11_slot(r->p11, r->job->slot_id, &r->slot, why,
                           BENCH_WHY_LEN))
        return BENCH_FAILED;
    rv = r->p11->C_GetMechanismInfo(r->slot, bc->mech, &info);
    if (rv == CKR_MECHANISM_INVALID) {
        snprintf(why, BENCH_WHY_LEN, "the token lacks mechanism 0x%lx",
                 bc->mech);
        return BENCH_NA;
    }
    if (rv != CKR_OK) {
        snprintf(why, BENCH_WHY_LEN, "C_GetMechanismInfo: CKR 0x%08lx", rv);
        return BENCH_FAILED;
    }
    if (bc->key_len > 0 || bc->kind == BENCH_PKEY) {
        rv = p11_create_key(r);
        if (rv != CKR_OK) {
            snprintf(why, BENCH_WHY_LEN,
                     "C_OpenSession/C_CreateObject (key): CKR 0x%08lx", rv);
            return BENCH_FAILED;
        }
    }
    return BENCH_OK;
}

static void p11_teardown(struct run *r, enum bench_way way)
{
    (void)way;
    if (r->p11 == NULL)
        return;
    /* Closing the session destroys the session key object too. */
    if (r->key_session != CK_INVALID_HANDLE) {
        if (r->token_key != CK_INVALID_HANDLE)
            r->p11->C_DestroyObject(r->key_session, r->token_key);
        if (r->token_pub != CK_INVALID_HANDLE)
            r->p11->C_DestroyObject(r->key_session, r->token_pub);
        r->p11->C_CloseSession(r->key_session);
    }
    if (r->p11_initialized)
        r->p11->C_Finalize(NULL);
}

static int p11_thread_setup(struct worker *w, enum bench_way way)
{
    struct bench_p11_thread *t = &w->p11;
    struct run *r = w->run;
    CK_RV rv;

    t->p11 = r->p11;
    t->key = r->key;
    t->mech = r->job->bc->mech;
    t->iv = run_iv;
    t->sig = r->raw;
    t->sig_len = r->raw_len;
    t->ct = r->ct;
    t->ct_len = r->ct_len;
    t->peer_point = r->point;
    t->peer_point_len = r->point_len;
    t->in = w->in;
    t->in_len = r->job->in_len;
    t->out = w->out;
    t->out_cap = r->job->in_len + OUT_SLACK;
    rv = r->p11->C_OpenSession(r->slot, CKF_SERIAL_SESSION, NULL, NULL,
                               &t->session);
    if (rv == CKR_OK)
        return 1;
    snprintf(w->why[way], sizeof(w->why[way]), "C_OpenSession: CKR 0x%08lx",
             rv);
    return 0;
}

static void p11_thread_teardown(struct worker *w, enum bench_way way)
{
    (void)way;
    w->run->p11->C_CloseSession(w->p11.session);
}

static int p11_op(struct worker *w, enum bench_way way)
{
    CK_RV rv = w->run->job->bc->p11_op(&w->p11);

    if (rv == CKR_OK)
        return 1;
    snprintf(w->why[way], sizeof(w->why[way]), "%s: CKR 0x%08lx",
             w->run->job->bc->name, rv);
    return 0;
}

static const struct way ways[WAY_COUNT] = {
    [WAY_PKCS11BE] = {evp_setup, evp_teardown, evp_thread_setup,
                      evp_thread_teardown, evp_op},
    [WAY_DIRECT] = {p11_setup, p11_teardown, p11_thread_setup,
                    p11_thread_teardown, p11_op},
    [WAY_DEFAULT] = {evp_setup, evp_teardown, evp_thread_setup,
                     evp_thread_teardown, evp_op},
};

/* Threads */

/* Marks a way failed for everyone; the first reason stays in w->why. */
static void way_failed(struct worker *w, enum bench_way way)
{
    __atomic_fetch_or(&w->run->failed, WAY_BIT(way), __ATOMIC_RELAXED);
}

static int way_has_failed(const struct run *r, enum bench_way way)
{
    return (__atomic_load_n(&r->failed, __ATOMIC_RELAXED) & WAY_BIT(way)) != 0;
}

/* Sets up and warms up every active way in this thread. */
static void worker_prepare(struct worker *w)
{
    const struct bench_job *job = w->run->job;
    double warm = job->seconds / 10;
    int k;

    if (warm > WARM_UP_MAX_SECONDS)
        warm = WARM_UP_MAX_SECONDS;
    for (k = 0; k < WAY_COUNT; k++) {
        const struct way *way = &ways[k];
        double until = now_seconds() + warm;

        if ((w->run->active & WAY_BIT(k)) == 0)
            continue;
        if (!way->thread_setup(w, k)) {
            way_failed(w, k);
            continue;
        }
        w->set_up |= WAY_BIT(k);
        do {
            if (!way->op(w, k)) {
                way_failed(w, k);
                break;
            }
        } while (now_seconds() < until);
    }
}

/* A count job: its one way, count_ops times. */
static void worker_count(struct worker *w)
{
    const struct bench_job *job = w->run->job;
    int k;

    for (k = 0; k < WAY_COUNT; k++) {
        if ((job->ways & WAY_BIT(k)) == 0 || way_has_failed(w->run, k))
            continue;
        while (w->ops[k] < job->count_ops && ways[k].op(w, k))
            w->ops[k]++;
        if (w->ops[k] < job->count_ops)
            way_failed(w, k);
    }
}

/* A timed job: whatever way the main thread says, until it says stop. */
static void worker_follow(struct worker *w)
{
    struct run *r = w->run;
    int k;

    while ((k = __atomic_load_n(&r->phase, __ATOMIC_RELAXED)) >= 0) {
        if (way_has_failed(r, k)) {
            sleep_seconds(0.001); /* until the main thread moves on */
            continue;
        }
        if (ways[k].op(w, k))
            w->ops[k]++;
        else
            way_failed(w, k);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    worker_prepare(w);
    /* Even a failed thread meets the others, or they would wait forever. */
    pthread_barrier_wait(&w->run->ready);
    pthread_barrier_wait(&w->run->go);
    if (w->run->job->counts != NULL)
        worker_count(w);
    else
        worker_follow(w);
    /* The main thread tears down, once it has read the counters. */
    return NULL;
}

/*
 * Hands out time slices round the active ways until each has had its
 * seconds, and records how long each really had. The threads wait at the
 * `go` barrier until the first slice's way is set.
 */
static void run_slices(struct run *r, double *spent)
{
    double want = r->job->seconds;
    int released = 0;
    int k = 0;
    int idle;

    for (idle = 0; idle < WAY_COUNT; k = (k + 1) % WAY_COUNT) {
        double slice = want - spent[k];
        double start;

        if ((r->active & WAY_BIT(k)) == 0 || way_has_failed(r, k)
            || slice <= 0) {
            idle++;
            continue;
        }
        idle = 0;
        if (slice > BENCH_SLICE_SECONDS)
            slice = BENCH_SLICE_SECONDS;
        __atomic_store_n(&r->phase, k, __ATOMIC_RELAXED);
        if (!released) {
            pthread_barrier_wait(&r->go);
            released = 1;
        }
        start = now_seconds();
        sleep_seconds(slice);
        spent[k] += now_seconds() - start;
    }
    __atomic_store_n(&r->phase, -1, __ATOMIC_RELAXED);
    if (!released)
        pthread_barrier_wait(&r->go); /* every way failed in warm-up */
}

static void counts_read(const struct run *r, uint64_t *out)
{
    int i;

    for (i = 0; i < P11SHIM_FN_COUNT; i++)
        out[i] = __atomic_load_n(&r->job->counts->counter[i], __ATOMIC_RELAXED);
}

/* Fills the report from the threads, for every way asked for. */
static void run_collect(struct run *r, const struct worker *workers,
                        const double *spent)
{
    unsigned i;
    int k;

    for (k = 0; k < WAY_COUNT; k++) {
        struct bench_way_report *rep = &r->report->way[k];

        if ((r->active & WAY_BIT(k)) == 0)
            continue; /* not asked for, or its setup said why not */
        rep->seconds = spent[k];
        for (i = 0; i < r->job->threads; i++) {
            rep->ops += workers[i].ops[k];
            if (workers[i].why[k][0] != '\0' && rep->status == BENCH_OK) {
                rep->status = BENCH_FAILED;
                snprintf(rep->why, sizeof(rep->why), "thread %u: %s", i,
                         workers[i].why[k]);
            }
        }
        if (way_has_failed(r, k) && rep->status == BENCH_OK) {
            rep->status = BENCH_FAILED;
            snprintf(rep->why, sizeof(rep->why), "failed");
        }
    }
}

/* Starts the threads, measures, fills the report; 0 if it cannot. */
static int run_threads(struct run *r)
{
    unsigned n = r->job->threads;
    double spent[WAY_COUNT] = {0};
    uint64_t before[P11SHIM_FN_COUNT] = {0};
    uint64_t after[P11SHIM_FN_COUNT] = {0};
    struct worker *workers;
    double start = 0;
    unsigned i;
    int k;

    workers = calloc(n, sizeof(*workers));
    if (workers == NULL)
        return 0;
    pthread_barrier_init(&r->ready, NULL, n + 1);
    pthread_barrier_init(&r->go, NULL, n + 1);
    for (i = 0; i < n; i++) {
        struct worker *w = &workers[i];

        w->run = r;
        w->in = malloc(r->job->in_len);
        w->out = malloc(r->job->in_len + OUT_SLACK);
        if (w->in == NULL || w->out == NULL)
            return 0; /* the barriers expect every thread: give up */
        memset(w->in, 0x5a, r->job->in_len);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
            return 0;
    }
    pthread_barrier_wait(&r->ready);
    if (r->job->counts != NULL) {
        counts_read(r, before);
        start = now_seconds();
        pthread_barrier_wait(&r->go);
    } else {
        run_slices(r, spent);
    }
    for (i = 0; i < n; i++)
        pthread_join(workers[i].tid, NULL);
    if (r->job->counts != NULL) {
        double wall = now_seconds() - start;

        counts_read(r, after);
        for (i = 0; i < P11SHIM_FN_COUNT; i++)
            r->report->calls[i] = after[i] - before[i];
        for (k = 0; k < WAY_COUNT; k++)
            spent[k] = wall;
    }
    run_collect(r, workers, spent);
    for (i = 0; i < n; i++) {
        for (k = 0; k < WAY_COUNT; k++)
            if (workers[i].set_up & WAY_BIT(k))
                ways[k].thread_teardown(&workers[i], k);
        free(workers[i].in);
        free(workers[i].out);
    }
    pthread_barrier_destroy(&r->ready);
    pthread_barrier_destroy(&r->go);
    free(workers);
    return 1;
}

/*
 * In the child. A count job, or any job with latency, routes the module
 * through the shim: pkcs11be finds it in CRYPTOGRAPHY_PKCS11_PATH when it
 * loads, direct dlopens it. Without P11SHIM_COUNTS the shim counts nothing.
 */
static void run_child(const struct bench_job *job, struct bench_report *report)
{
    struct run r = {
        .job = job,
        .report = report,
        .module = job->module,
        .key_session = CK_INVALID_HANDLE,
        .key = CK_INVALID_HANDLE,
        .token_key = CK_INVALID_HANDLE,
        .token_pub = CK_INVALID_HANDLE,
    };
    char why[BENCH_WHY_LEN] = "";
    unsigned set_up;
    int prepared;
    int i;

    alarm((unsigned)(job->seconds * WAY_COUNT) + WATCHDOG_SLACK_SECONDS);
    if (job->counts != NULL || job->latency_us > 0) {
        char latency[32];

        snprintf(latency, sizeof(latency), "%lu", job->latency_us);
        setenv("P11SHIM_MODULE", job->module, 1);
        setenv("P11SHIM_LATENCY_US", latency, 1);
        if (job->counts != NULL)
            setenv("P11SHIM_COUNTS", job->counts_path, 1);
        setenv("CRYPTOGRAPHY_PKCS11_PATH", job->shim, 1);
        r.module = job->shim;
    } else {
        setenv("CRYPTOGRAPHY_PKCS11_PATH", job->module, 1);
    }
    /* A key pair for all ways, or the reason every way fails. */
    prepared = job->bc->kind != BENCH_PKEY || pkey_prepare(&r, why);
    /* Token-key rows: direct puts the key on the token, even unmeasured. */
    set_up = job->ways | (job->bc->token_key ? WAY_BIT(WAY_DIRECT) : 0);
    for (i = 0; i < WAY_COUNT; i++) {
        enum bench_way k = setup_order[i];
        enum bench_status status;

        if ((set_up & WAY_BIT(k)) == 0)
            continue;
        if (!prepared && (job->ways & WAY_BIT(k)) != 0) {
            report->way[k].status = BENCH_FAILED;
            snprintf(report->way[k].why, BENCH_WHY_LEN, "%s", why);
        }
        if (!prepared)
            continue;
        status = ways[k].setup(&r, k);
        if ((job->ways & WAY_BIT(k)) == 0)
            continue;
        report->way[k].status = status;
        if (status == BENCH_OK)
            r.active |= WAY_BIT(k);
    }
    if (r.active != 0 && !run_threads(&r)) {
        fprintf(stderr, "p11bench: cannot start the threads\n");
        exit(1);
    }
    for (i = WAY_COUNT - 1; i >= 0; i--)
        if (set_up & WAY_BIT(setup_order[i]))
            ways[setup_order[i]].teardown(&r, setup_order[i]);
    EVP_PKEY_free(r.soft_key);
    EVP_PKEY_free(r.soft_peer);
    report->done = 1;
}

int bench_run_job(const struct bench_job *job, struct bench_report *report)
{
    char why[BENCH_WHY_LEN] = "";
    int wstatus;
    pid_t pid;
    int k;

    memset(report, 0, sizeof(*report));
    /* Or the child's exit flushes our buffered output a second time. */
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        snprintf(why, sizeof(why), "fork: %s", strerror(errno));
    } else if (pid == 0) {
        run_child(job, report);
        exit(0);
    } else {
        pid_t got;

        do {
            got = waitpid(pid, &wstatus, 0);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            snprintf(why, sizeof(why), "waitpid: %s", strerror(errno));
        else if (WIFSIGNALED(wstatus))
            snprintf(why, sizeof(why), "child killed by signal %d%s",
                     WTERMSIG(wstatus),
                     WTERMSIG(wstatus) == SIGALRM ? " (watchdog: hung)" : "");
        else if (!report->done)
            snprintf(why, sizeof(why), "child exited with %d",
                     WEXITSTATUS(wstatus));
    }
    if (why[0] == '\0')
        return 1;
    /* A crash, even after the report was written, spoils the job. */
    for (k = 0; k < WAY_COUNT; k++)
        if (job->ways & WAY_BIT(k)) {
            report->way[k].status = BENCH_FAILED;
            snprintf(report->way[k].why, BENCH_WHY_LEN, "%s", why);
        }
    return 0;
}
