/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11tlsbench: full TLS 1.3 handshakes per second with the server's key on
 * the token (through pkcs11be) against the same handshakes with the key in
 * OpenSSL's default provider, the bound the token's own signing rate sets,
 * and PKCS#11 calls per handshake counted through the test shim. See
 * usage(); scripts/bench runs it after p11bench.
 *
 * One library context holds the default provider (loaded first) and
 * pkcs11be. Only the server key differs between the two ways: it is
 * generated with "provider=pkcs11be" (a session key pair on the token,
 * with pkcs11-keygen-exportable = no) or
 * "provider=default", and a self-signed certificate is made with it. Both
 * SSL_CTXs (server and client) use the property query "?provider=default",
 * so everything else in the handshake (X25519, HKDF, AES-GCM, the
 * transcript hashes, the client's verification) is the default provider's,
 * as in a server that only keeps its key on the token. The server's
 * CertificateVerify signature then goes to pkcs11be, the key's provider
 * (OpenSSL falls back to it when the key cannot be exported): one C_Sign
 * per handshake.
 *
 * With --offload keys, pkcs11be is loaded in pkcs11-offload = keys mode
 * (as build/openssl-keys.cnf does) and the SSL_CTXs have no property query
 * at all: pkcs11be offers no digest, MAC or cipher then, and the default
 * provider wins every algorithm both offer, so this is a server configured
 * for keys mode. Its key is still a token key: generated without a label,
 * with pkcs11-keygen-exportable = no (a session key pair on the token,
 * nothing left on the token afterwards).
 *
 * A handshake: a fresh socketpair (non-blocking), a fresh server and client
 * SSL, both driven from one thread until both are done; no session
 * tickets, no resumption; then both are freed and the sockets closed. The
 * client verifies the server's certificate against itself as trust anchor.
 * With --threads N, N threads each make handshakes so, side by side.
 *
 * The bound. Two more ways run beside the handshakes, with the same
 * threads: "token", the token's own signing rate (direct PKCS#11,
 * C_SignInit + C_Sign with the mechanism pkcs11be uses, on a session key
 * pair of the same type made with C_GenerateKeyPair, one session per
 * thread), and "host sign", the default provider's signing rate with the
 * default way's key. A handshake with the key on the token is the host's
 * handshake work without its signature (1/default - 1/host sign seconds)
 * plus one token signature, so
 *   host bound   = 1 / (1/default - 1/host sign)   no faster than the host
 *   token bound  = token sign/s                    one C_Sign per handshake
 *   bound        = min(host bound, token bound)    with all waits overlapped
 *   serial bound = 1 / (1/host bound + 1/token)    one after the other
 * One thread waits for its signature, so at 1 thread the serial bound is
 * the limit; threads overlap one's token wait with another's host work,
 * up to the bound, unless the token's work takes the same CPUs (SoftHSM2).
 *
 * With --latency-us, the module is reached through p11shim.so, which
 * sleeps that long before every call (a network HSM's round trip), for
 * pkcs11be and for the token way alike. A fifth way, "default+waits",
 * then makes the default way's handshakes with the same sleeps a
 * pkcs11be handshake has (two calls' worth, as the shim sleeps): what the
 * delay alone costs a thread that also does the handshake's host work,
 * which on a busy machine is more than the sleep (a thread that sleeps
 * gives its CPU away and queues to get it back).
 *
 * Each measurement runs in a child process: the ways take turns in slices
 * of SLICE_SECONDS until each has had --seconds, so that a noisy machine
 * hits them alike; --repeat rounds give medians. Counting runs in further
 * children whose module is the counting shim (set before pkcs11be first
 * opens the token), over --count handshakes (or signatures) per way.
 *
 * --profile WAY is for profilers: one child makes --count operations of
 * that way alone, on one thread, inside profile_loop() (so that
 * `valgrind --tool=callgrind --toggle-collect=profile_loop` counts them
 * and nothing else), and prints their CPU and wall time per operation.
 */
#define _GNU_SOURCE /* SOCK_NONBLOCK */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "p11open.h"
#include "p11shim_counts.h"

#define SLICE_SECONDS 0.1
#define MAX_REPEAT    15
#define MAX_THREADS   64
/* Thread counts or delays in a list. */
#define MAX_LIST 8
#define WHY_LEN  256
/* A reason with a prefix in front. */
#define LONG_WHY_LEN (WHY_LEN + 64)
#define NAME_LEN     48
/* Handshake flights are few; this many steps without finishing is a hang. */
#define MAX_STEPS 64
/* A child that takes this much longer than asked is hung: kill it. */
#define WATCHDOG_SLACK_SECONDS 120
/* What each signature of the token and host ways signs: a SHA-256 size. */
#define TBS_LEN 32
/* pkcs11be's calls per handshake (C_SignInit, C_Sign; the table counts). */
#define CALLS_PER_HS 2

enum tls_way {
    WAY_PKCS11BE, /* handshakes, server key generated on the token */
    WAY_DEFAULT,  /* handshakes, server key generated by the default */
    WAY_TOKEN,    /* signatures, direct PKCS#11 on a session key */
    WAY_HOST,     /* signatures, the default provider with its key */
    WAY_WAITS,    /* default's handshakes, plus pkcs11be's calls' delays */
    WAY_INSITU,   /* default's handshakes, each then a token signature */
    WAY_COUNT
};

/* The ways that make handshakes (and have a tls_side). */
#define TLS_WAYS 2

static const char *const way_names[WAY_COUNT] = {
    "pkcs11be",  "default",       "token",
    "host sign", "default+waits", "default+token"};
static const char *const way_props[TLS_WAYS] = {"provider=pkcs11be",
                                                "provider=default"};

/* A row of the table: one kind of server key. */
struct tls_case {
    const char *name;         /* the "server key" column */
    const char *alg;          /* key type for EVP_PKEY_CTX_new_from_name */
    const char *tag;          /* what --case matches */
    CK_MECHANISM_TYPE keygen; /* the token way's key pair */
    CK_MECHANISM_TYPE sign;   /* and how it signs, as pkcs11be does */
};

static const struct tls_case tls_cases[] = {
    {"ECDSA P-256", "EC", "ec", CKM_EC_KEY_PAIR_GEN, CKM_ECDSA},
    {"RSA-2048", "RSA", "rsa", CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS_PSS},
    {NULL, NULL, NULL, 0, 0},
};

struct options {
    double seconds;                  /* per way, case and round */
    int repeat;                      /* rounds; the table shows medians */
    unsigned long count;             /* handshakes counted per way; 0: none */
    unsigned long threads[MAX_LIST]; /* --threads */
    int nthreads;                    /* entries in threads[] */
    unsigned long latency[MAX_LIST]; /* --latency-us, in us; 0: none */
    int nlatency;                    /* entries in latency[] */
    int markdown;                    /* print the table as Markdown */
    int verbose;                     /* every round's rates on stderr */
    const char *filter;              /* only the case whose tag this is */
    int profile;                     /* --profile: a way; -1: the table */
    int offload_keys;                /* --offload keys: see the top */
    const char *module;              /* the real PKCS#11 module */
    char provider_path[PATH_MAX];    /* directory holding pkcs11be.so */
    char shim[PATH_MAX];             /* the counting shim */
};

/* What a child hands back, in shared memory. */
struct tls_report {
    int ok;                                      /* the child got to the end */
    char why[LONG_WHY_LEN];                      /* if not: the reason */
    uint64_t ops[WAY_COUNT];                     /* timed: operations made */
    double seconds[WAY_COUNT];                   /* timed: time they took */
    double cpu[WAY_COUNT];                       /* timed: their threads' CPU */
    uint64_t calls[WAY_COUNT][P11SHIM_FN_COUNT]; /* count: C_* calls made */
    char sig_name[TLS_WAYS][NAME_LEN];           /* server's signature type */
};

/* One way's server and client, made once per child. */
struct tls_side {
    EVP_PKEY *key;   /* the server's key */
    X509 *cert;      /* self-signed with key */
    SSL_CTX *server; /* holds key and cert */
    SSL_CTX *client; /* trusts cert */
};

/* The token way: a session key pair and a session per thread. */
struct token_way {
    CK_FUNCTION_LIST *p11;                  /* as pkcs11be's module */
    CK_SLOT_ID slot;                        /* the token's */
    CK_SESSION_HANDLE key_session;          /* holds the key pair */
    CK_OBJECT_HANDLE key;                   /* its private half */
    CK_SESSION_HANDLE session[MAX_THREADS]; /* one per thread */
    unsigned sessions;                      /* open in session[] */
    CK_RSA_PKCS_PSS_PARAMS pss;             /* RSA: as TLS 1.3 signs */
    CK_MECHANISM mech;                      /* the case's sign mechanism */
};

/* Per case, delay and thread count: every round's rates, the calls. */
struct tls_cell {
    const struct tls_case *tc;          /* the row's key */
    unsigned long latency_us;           /* the row's delay per call */
    unsigned threads;                   /* the row's threads */
    double rate[WAY_COUNT][MAX_REPEAT]; /* ops/s per round */
    double cpu[WAY_COUNT][MAX_REPEAT];  /* CPU us per op, per round */
    double load[MAX_REPEAT];            /* 1-minute load at each round */
    int rounds;                         /* rounds measured */
    int counted;                        /* calls[] is filled */
    uint64_t calls[WAY_COUNT][P11SHIM_FN_COUNT]; /* over opts.count each */
    char sig_name[TLS_WAYS][NAME_LEN];           /* as the client saw it */
    char why[LONG_WHY_LEN];                      /* first failure, if any */
};

static void usage(FILE *out)
{
    fputs("usage: p11tlsbench [OPTION]...\n"
          "Full TLS 1.3 handshakes per second in one process, server key on\n"
          "the token (pkcs11be) and in OpenSSL's default provider, the\n"
          "token's and the host's own signing rates beside them, and\n"
          "PKCS#11 calls per handshake. The token comes from\n"
          "CRYPTOGRAPHY_PKCS11_PATH (or P11SHIM_MODULE, if set, when that\n"
          "is the shim), CRYPTOGRAPHY_PKCS11_SLOT_ID and\n"
          "CRYPTOGRAPHY_PKCS11_PASSWORD.\n"
          "\n"
          "  -s, --seconds S       time per way, row and round (3)\n"
          "  -r, --repeat N        N rounds; the table shows medians (1)\n"
          "  -n, --count N         count calls over N handshakes per way "
          "(100);\n"
          "                        0 skips counting\n"
          "  -c, --case ec|rsa     only this server key\n"
          "  -t, --threads LIST    threads making handshakes, e.g. 1,8 (1)\n"
          "  -L, --latency-us LIST every PKCS#11 call waits this long first\n"
          "                        (p11shim.so), e.g. 0,100 (0)\n"
          "  -o, --offload all|keys  pkcs11be's pkcs11-offload mode (all);\n"
          "                        keys: no property query in the SSL_CTXs\n"
          "  -P, --profile WAY     no table: --count operations of one way\n"
          "                        (pkcs11be, default, token, host), one\n"
          "                        thread, in profile_loop() for profilers;\n"
          "                        prints CPU and wall us per operation\n"
          "  -m, --markdown        print the table in Markdown\n"
          "  -v, --verbose         every round's rates\n"
          "      --provider-path DIR  where pkcs11be.so is (the build dir)\n"
          "      --shim PATH       the counting shim (tests/p11shim.so)\n"
          "  -h, --help            this text\n",
          out);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first OpenSSL error, after `what`, into why. */
static void why_openssl(char *why, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[200];

    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(why, WHY_LEN, "%s: %s", what, e != 0 ? buf : "failed");
    ERR_clear_error();
}

/* pkcs11be.so and p11shim.so sit where this program was built. */
static int default_paths(struct options *o)
{
    char exe[PATH_MAX - 32];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (len <= 0)
        return 0;
    exe[len] = '\0';
    slash = strrchr(exe, '/'); /* build/tests/p11tlsbench */
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(o->shim, sizeof(o->shim), "%s/p11shim.so", exe);
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(o->provider_path, sizeof(o->provider_path), "%s", exe);
    return 1;
}

/* ---- one way's server and client --------------------------------------- */

static EVP_PKEY *make_key(OSSL_LIB_CTX *libctx, const struct tls_case *tc,
                          enum tls_way way, char *why)
{
    EVP_PKEY_CTX *pctx;
    EVP_PKEY *key = NULL;

    pctx = EVP_PKEY_CTX_new_from_name(libctx, tc->alg, way_props[way]);
    if (pctx == NULL || EVP_PKEY_keygen_init(pctx) <= 0) {
        why_openssl(why, "key generation init");
        goto out_free_ctx;
    }
    if (strcmp(tc->alg, "EC") == 0
        && EVP_PKEY_CTX_set_group_name(pctx, "P-256") <= 0) {
        why_openssl(why, "EVP_PKEY_CTX_set_group_name");
        goto out_free_ctx;
    }
    if (strcmp(tc->alg, "RSA") == 0
        && EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, 2048) <= 0) {
        why_openssl(why, "EVP_PKEY_CTX_set_rsa_keygen_bits");
        goto out_free_ctx;
    }
    if (EVP_PKEY_generate(pctx, &key) <= 0) {
        why_openssl(why, "EVP_PKEY_generate");
        key = NULL;
    }
out_free_ctx:
    EVP_PKEY_CTX_free(pctx);
    return key;
}

/* A self-signed certificate for key, signed by key (so on the token). */
static X509 *make_cert(OSSL_LIB_CTX *libctx, EVP_PKEY *key, char *why)
{
    X509 *cert = X509_new_ex(libctx, NULL);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    X509_NAME *name;

    if (cert == NULL || mctx == NULL) {
        why_openssl(why, "X509_new_ex");
        goto out_free_cert;
    }
    name = X509_get_subject_name(cert);
    if (!X509_set_version(cert, X509_VERSION_3)
        || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1)
        || X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(cert), 86400) == NULL
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"p11tlsbench", -1,
                                       -1, 0)
        || !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key)) {
        why_openssl(why, "building the certificate");
        goto out_free_cert;
    }
    if (EVP_DigestSignInit_ex(mctx, NULL, "SHA256", libctx, NULL, key, NULL)
            <= 0
        || X509_sign_ctx(cert, mctx) <= 0) {
        why_openssl(why, "signing the certificate");
        goto out_free_cert;
    }
    EVP_MD_CTX_free(mctx);
    return cert;

out_free_cert:
    EVP_MD_CTX_free(mctx);
    X509_free(cert);
    return NULL;
}

/* TLS 1.3 only, no tickets, no session cache: every handshake is full. */
static SSL_CTX *make_ssl_ctx(OSSL_LIB_CTX *libctx, const SSL_METHOD *method,
                             int offload_keys)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(
        libctx, offload_keys ? NULL : "?provider=default", method);

    if (ctx == NULL)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set_num_tickets(ctx, 0)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

static void side_free(struct tls_side *s)
{
    SSL_CTX_free(s->client);
    SSL_CTX_free(s->server);
    X509_free(s->cert);
    EVP_PKEY_free(s->key);
    memset(s, 0, sizeof(*s));
}

static int side_setup(struct tls_side *s, OSSL_LIB_CTX *libctx,
                      const struct tls_case *tc, enum tls_way way,
                      int offload_keys, char *why)
{
    memset(s, 0, sizeof(*s));
    s->key = make_key(libctx, tc, way, why);
    if (s->key == NULL)
        return 0;
    s->cert = make_cert(libctx, s->key, why);
    if (s->cert == NULL)
        goto out_free_side;
    s->server = make_ssl_ctx(libctx, TLS_server_method(), offload_keys);
    s->client = make_ssl_ctx(libctx, TLS_client_method(), offload_keys);
    if (s->server == NULL || s->client == NULL) {
        why_openssl(why, "SSL_CTX_new_ex");
        goto out_free_side;
    }
    if (!SSL_CTX_use_certificate(s->server, s->cert)
        || !SSL_CTX_use_PrivateKey(s->server, s->key)
        || !SSL_CTX_check_private_key(s->server)) {
        why_openssl(why, "server certificate and key");
        goto out_free_side;
    }
    if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(s->client), s->cert)) {
        why_openssl(why, "client trust store");
        goto out_free_side;
    }
    SSL_CTX_set_verify(s->client, SSL_VERIFY_PEER, NULL);
    return 1;

out_free_side:
    side_free(s);
    return 0;
}

/* ---- one handshake ------------------------------------------------------ */

/* One step of one side; 0 if it failed. */
static int hs_step(SSL *ssl, int *done)
{
    int r = SSL_do_handshake(ssl);

    if (r == 1) {
        *done = 1;
        return 1;
    }
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 1;
    default:
        return 0;
    }
}

/* The server's signature as the client saw it: "RSA-PSS+SHA256". */
static void peer_sig_name(SSL *cli, char *sig_name)
{
    int type = NID_undef, md = NID_undef;
    const char *kind = "?";

    SSL_get_peer_signature_type_nid(cli, &type);
    SSL_get_peer_signature_nid(cli, &md);
    if (type == EVP_PKEY_EC)
        kind = "ECDSA";
    else if (type == EVP_PKEY_RSA_PSS)
        kind = "RSA-PSS";
    else if (type == EVP_PKEY_RSA)
        kind = "RSA-PKCS1";
    else if (type != NID_undef)
        kind = OBJ_nid2sn(type);
    snprintf(sig_name, NAME_LEN, "%s+%s", kind,
             md != NID_undef ? OBJ_nid2sn(md) : "?");
}

/*
 * A full handshake over a fresh socketpair. sig_name, if not NULL, gets the
 * server's signature type as the client saw it.
 */
static int handshake(const struct tls_side *s, char *sig_name, char *why)
{
    SSL *srv = NULL, *cli = NULL;
    int srv_done = 0, cli_done = 0;
    int fds[2];
    int step, ok = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) {
        snprintf(why, WHY_LEN, "socketpair: %s", strerror(errno));
        return 0;
    }
    srv = SSL_new(s->server);
    cli = SSL_new(s->client);
    if (srv == NULL || cli == NULL || !SSL_set_fd(srv, fds[0])
        || !SSL_set_fd(cli, fds[1])) {
        why_openssl(why, "SSL_new");
        goto out_free_ssl;
    }
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    for (step = 0; step < MAX_STEPS && !(srv_done && cli_done); step++) {
        if (!cli_done && !hs_step(cli, &cli_done)) {
            why_openssl(why, "client handshake");
            goto out_free_ssl;
        }
        if (!srv_done && !hs_step(srv, &srv_done)) {
            why_openssl(why, "server handshake");
            goto out_free_ssl;
        }
    }
    if (!(srv_done && cli_done)) {
        snprintf(why, WHY_LEN, "handshake not done after %d steps", step);
        goto out_free_ssl;
    }
    if (SSL_get_verify_result(cli) != X509_V_OK) {
        snprintf(why, WHY_LEN, "client: certificate not verified: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(cli)));
        goto out_free_ssl;
    }
    if (sig_name != NULL)
        peer_sig_name(cli, sig_name);
    ok = 1;
out_free_ssl:
    SSL_free(cli);
    SSL_free(srv);
    close(fds[0]);
    close(fds[1]);
    return ok;
}

/* ---- the token way ------------------------------------------------------ */

/* A session key pair of the case's type (as pkcs11be's keygen makes). */
static CK_RV token_keygen(struct token_way *tw, const struct tls_case *tc)
{
    static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char e65537[] = {0x01, 0x00, 0x01};
    CK_MECHANISM mech = {tc->keygen, NULL, 0};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE, priv;
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pub_ec[] = {
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)},
    };
    CK_ATTRIBUTE pub_rsa[] = {
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_MODULUS_BITS, &bits, sizeof(bits)},
        {CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof(e65537)},
    };
    CK_ATTRIBUTE priv_tmpl[] = {
        {CKA_TOKEN, &no, sizeof(no)},       {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_PRIVATE, &priv, sizeof(priv)},
    };
    int rsa = tc->keygen == CKM_RSA_PKCS_KEY_PAIR_GEN;
    CK_OBJECT_HANDLE pub;
    CK_RV rv;

    /* pkcs11be has logged in by now: the login is the application's. */
    priv = bench_p11_login(tw->p11, tw->slot, tw->key_session, &rv);
    if (rv != CKR_OK)
        return rv;
    return tw->p11->C_GenerateKeyPair(
        tw->key_session, &mech, rsa ? pub_rsa : pub_ec,
        rsa ? sizeof(pub_rsa) / sizeof(pub_rsa[0])
            : sizeof(pub_ec) / sizeof(pub_ec[0]),
        priv_tmpl, sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), &pub, &tw->key);
}

/*
 * After pkcs11be has opened the module: the same module (the shim, with
 * --latency-us) through its own function list, a key pair and `threads`
 * sessions. Never C_Finalize'd: pkcs11be shares the module.
 */
static int token_setup(struct token_way *tw, const struct tls_case *tc,
                       unsigned threads, char *why)
{
    int ours;
    CK_RV rv;

    memset(tw, 0, sizeof(*tw));
    tw->p11 =
        bench_p11_load(getenv("CRYPTOGRAPHY_PKCS11_PATH"), &ours, why, WHY_LEN);
    if (tw->p11 == NULL
        || !bench_p11_slot(tw->p11, getenv("CRYPTOGRAPHY_PKCS11_SLOT_ID"),
                           &tw->slot, why, WHY_LEN))
        return 0;
    rv = tw->p11->C_OpenSession(tw->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                NULL, NULL, &tw->key_session);
    if (rv == CKR_OK)
        rv = token_keygen(tw, tc);
    while (rv == CKR_OK && tw->sessions < threads) {
        rv = tw->p11->C_OpenSession(tw->slot, CKF_SERIAL_SESSION, NULL, NULL,
                                    &tw->session[tw->sessions]);
        if (rv == CKR_OK)
            tw->sessions++;
    }
    if (rv != CKR_OK) {
        snprintf(why, WHY_LEN, "token key and sessions: CKR 0x%08lx", rv);
        return 0;
    }
    tw->pss.hashAlg = CKM_SHA256;
    tw->pss.mgf = CKG_MGF1_SHA256;
    tw->pss.sLen = TBS_LEN;
    tw->mech.mechanism = tc->sign;
    if (tc->sign == CKM_RSA_PKCS_PSS) {
        tw->mech.pParameter = &tw->pss;
        tw->mech.ulParameterLen = sizeof(tw->pss);
    }
    return 1;
}

static void token_teardown(struct token_way *tw)
{
    unsigned i;

    if (tw->p11 == NULL)
        return;
    for (i = 0; i < tw->sessions; i++)
        tw->p11->C_CloseSession(tw->session[i]);
    /* Its session objects (the key pair) go with it. */
    if (tw->key_session != CK_INVALID_HANDLE)
        tw->p11->C_CloseSession(tw->key_session);
}

/* One signature on the token: C_SignInit + C_Sign, as pkcs11be makes it. */
static int token_sign(const struct token_way *tw, CK_SESSION_HANDLE session,
                      char *why)
{
    static const unsigned char tbs[TBS_LEN] = {1};
    CK_MECHANISM mech = tw->mech;
    unsigned char sig[512];
    CK_ULONG len = sizeof(sig);
    CK_RV rv = tw->p11->C_SignInit(session, &mech, tw->key);

    if (rv == CKR_OK)
        rv = tw->p11->C_Sign(session, (CK_BYTE_PTR)tbs, TBS_LEN, sig, &len);
    if (rv == CKR_OK)
        return 1;
    snprintf(why, WHY_LEN, "token: C_SignInit/C_Sign: CKR 0x%08lx", rv);
    return 0;
}

/* The host way's context: what libssl signs TLS 1.3 with, in software. */
static EVP_PKEY_CTX *host_sign_ctx(OSSL_LIB_CTX *libctx, EVP_PKEY *key,
                                   char *why)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, NULL);
    int rsa = EVP_PKEY_is_a(key, "RSA");

    if (pctx == NULL || EVP_PKEY_sign_init(pctx) <= 0
        || EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) <= 0
        || (rsa
            && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, TBS_LEN) <= 0))) {
        why_openssl(why, "host sign: set-up");
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

static int host_sign(EVP_PKEY_CTX *pctx, char *why)
{
    static const unsigned char tbs[TBS_LEN] = {1};
    unsigned char sig[512];
    size_t len = sizeof(sig);

    if (EVP_PKEY_sign(pctx, sig, &len, tbs, TBS_LEN) > 0)
        return 1;
    why_openssl(why, "host sign");
    return 0;
}

/* ---- children ----------------------------------------------------------- */

struct child_env {
    const struct options *o;             /* the options */
    const struct tls_case *tc;           /* the case */
    unsigned threads;                    /* timed: threads per way */
    unsigned long latency_us;            /* timed: delay per call */
    struct tls_report *rep;              /* where results go */
    const struct p11shim_counts *counts; /* count job: the counters */
    const char *counts_path;             /* count job: their file */
};

/* What the ways work on in a child. */
struct bench {
    unsigned long latency_us; /* the default+waits way's sleeps */
    OSSL_LIB_CTX *libctx;
    struct tls_side sides[TLS_WAYS];
    struct token_way token;
};

/* One thread of one way's slice. */
struct worker {
    const struct bench *b;
    enum tls_way way;
    unsigned index; /* this thread's token session */
    double end;     /* stop starting operations at this time */
    uint64_t ops;   /* operations done */
    double cpu;     /* this thread's CPU seconds over them */
    int failed;     /* one failed: why says how */
    char why[WHY_LEN];
};

static void counts_read(const struct p11shim_counts *counts, uint64_t *out)
{
    int i;

    for (i = 0; i < P11SHIM_FN_COUNT; i++)
        out[i] = __atomic_load_n(&counts->counter[i], __ATOMIC_RELAXED);
}

/* As p11shim.so sleeps for a call's round trip (its timer slack too). */
static void sleep_us(unsigned long us)
{
    static __thread int slack_set;
    struct timespec left = {(time_t)(us / 1000000),
                            (long)(us % 1000000) * 1000};

    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* nanoseconds */
        slack_set = 1;
    }
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
}

/* One operation of a way: a handshake or a signature. */
static int one_op(const struct bench *b, enum tls_way way, unsigned index,
                  EVP_PKEY_CTX *pctx, char *why)
{
    int i;

    switch (way) {
    case WAY_TOKEN:
        return token_sign(&b->token, b->token.session[index], why);
    case WAY_HOST:
        return host_sign(pctx, why);
    case WAY_WAITS:
        for (i = 0; i < CALLS_PER_HS; i++)
            sleep_us(b->latency_us);
        return handshake(&b->sides[WAY_DEFAULT], NULL, why);
    case WAY_INSITU:
        return handshake(&b->sides[WAY_DEFAULT], NULL, why)
               && token_sign(&b->token, b->token.session[index], why);
    default:
        return handshake(&b->sides[way], NULL, why);
    }
}

/* CPU time of the calling thread (the token's too: it runs in-process). */
static double thread_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    EVP_PKEY_CTX *pctx = NULL;

    if (w->way == WAY_HOST) {
        pctx =
            host_sign_ctx(w->b->libctx, w->b->sides[WAY_DEFAULT].key, w->why);
        w->failed = pctx == NULL;
    }
    w->cpu = -thread_cpu_seconds();
    while (!w->failed) {
        if (!one_op(w->b, w->way, w->index, pctx, w->why)) {
            w->failed = 1;
            break;
        }
        w->ops++;
        if (now_seconds() >= w->end)
            break;
    }
    w->cpu += thread_cpu_seconds();
    EVP_PKEY_CTX_free(pctx);
    return NULL;
}

/* One way's operations on `threads` threads for `seconds`; 0 if one failed. */
static int run_slice(const struct bench *b, enum tls_way way, unsigned threads,
                     double seconds, struct tls_report *rep, char *why)
{
    struct worker workers[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    double start = now_seconds();
    unsigned i, started;
    int ok = 1;

    memset(workers, 0, sizeof(workers));
    for (started = 0; started < threads; started++) {
        workers[started].b = b;
        workers[started].way = way;
        workers[started].index = started;
        workers[started].end = start + seconds;
        if (pthread_create(&tids[started], NULL, worker_main, &workers[started])
            != 0) {
            snprintf(why, WHY_LEN, "pthread_create failed");
            ok = 0;
            break;
        }
    }
    for (i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        rep->ops[way] += workers[i].ops;
        rep->cpu[way] += workers[i].cpu;
        if (workers[i].failed && ok) {
            memcpy(why, workers[i].why, WHY_LEN);
            ok = 0;
        }
    }
    rep->seconds[way] += now_seconds() - start;
    return ok;
}

/* The count job: calls over o->count operations of each way, one thread. */
static int count_calls(const struct bench *b, const struct child_env *env)
{
    struct tls_report *rep = env->rep;
    int k;

    for (k = 0; k < WAY_WAITS; k++) {
        uint64_t before[P11SHIM_FN_COUNT], after[P11SHIM_FN_COUNT];
        EVP_PKEY_CTX *pctx = NULL;
        unsigned long i;
        int fn, ok = 1;

        if (k == WAY_HOST) {
            pctx =
                host_sign_ctx(b->libctx, b->sides[WAY_DEFAULT].key, rep->why);
            if (pctx == NULL)
                return 0;
        }
        counts_read(env->counts, before);
        for (i = 0; i < env->o->count && ok; i++)
            ok = one_op(b, k, 0, pctx, rep->why);
        counts_read(env->counts, after);
        EVP_PKEY_CTX_free(pctx);
        if (!ok)
            return 0;
        for (fn = 0; fn < P11SHIM_FN_COUNT; fn++)
            rep->calls[k][fn] = after[fn] - before[fn];
    }
    return 1;
}

/*
 * The profile job's operations, and nothing else: not inlined, so that a
 * profiler can select it by name (see the top).
 */
static __attribute__((noinline)) int profile_loop(const struct bench *b,
                                                  enum tls_way way,
                                                  unsigned long count,
                                                  EVP_PKEY_CTX *pctx, char *why)
{
    unsigned long i;

    for (i = 0; i < count; i++)
        if (!one_op(b, way, 0, pctx, why))
            return 0;
    return 1;
}

/* The profile job: o->count operations of o->profile on this thread. */
static int profile_way(const struct bench *b, const struct child_env *env)
{
    struct tls_report *rep = env->rep;
    enum tls_way way = (enum tls_way)env->o->profile;
    EVP_PKEY_CTX *pctx = NULL;
    double start, cpu;
    int ok;

    if (way == WAY_HOST
        && (pctx =
                host_sign_ctx(b->libctx, b->sides[WAY_DEFAULT].key, rep->why))
               == NULL)
        return 0;
    start = now_seconds();
    cpu = thread_cpu_seconds();
    ok = profile_loop(b, way, env->o->count, pctx, rep->why);
    rep->cpu[way] = thread_cpu_seconds() - cpu;
    rep->seconds[way] = now_seconds() - start;
    rep->ops[way] = ok ? env->o->count : 0;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* The timed job: the ways take turns in slices until each had its time. */
static int time_ways(const struct bench *b, const struct child_env *env)
{
    struct tls_report *rep = env->rep;
    int busy = 1, k;

    while (busy) {
        busy = 0;
        for (k = 0; k < WAY_COUNT; k++) {
            double left = env->o->seconds - rep->seconds[k];
            char why[WHY_LEN];

            /* Without a delay it would be the default way again. */
            if (left <= 0 || (k == WAY_WAITS && b->latency_us == 0))
                continue;
            busy = 1;
            if (!run_slice(b, k, env->threads,
                           left < SLICE_SECONDS ? left : SLICE_SECONDS, rep,
                           why)) {
                snprintf(rep->why, sizeof(rep->why), "%s: %s", way_names[k],
                         why);
                return 0;
            }
        }
    }
    return 1;
}

static int child_main(const struct child_env *env)
{
    const struct options *o = env->o;
    struct tls_report *rep = env->rep;
    struct bench b;
    OSSL_PROVIDER *deflt = NULL, *p11be = NULL;
    char why[WHY_LEN];
    int k, ret = 0;

    memset(&b, 0, sizeof(b));
    b.latency_us = env->latency_us;
    b.libctx = OSSL_LIB_CTX_new();
    if (b.libctx == NULL
        || !OSSL_PROVIDER_set_default_search_path(b.libctx, o->provider_path)) {
        why_openssl(rep->why, "OSSL_LIB_CTX_new");
        goto out_free_libctx;
    }
    /*
     * The server key must stay on the token: an exportable one (the
     * default for keys generated without a name) would be handed to the
     * default provider, which "?provider=default" prefers for signing.
     */
    setenv("P11BE_KEYGEN_EXPORTABLE", "no", 1);
    if (o->offload_keys)
        setenv("P11BE_OFFLOAD", "keys", 1);
    /* Default first: what nobody asks a property for stays there. */
    deflt = OSSL_PROVIDER_load(b.libctx, "default");
    p11be = OSSL_PROVIDER_load(b.libctx, "pkcs11be");
    if (deflt == NULL || p11be == NULL) {
        why_openssl(rep->why, "OSSL_PROVIDER_load");
        goto out_unload;
    }
    for (k = 0; k < TLS_WAYS; k++) {
        if (!side_setup(&b.sides[k], b.libctx, env->tc, k, o->offload_keys,
                        why)) {
            snprintf(rep->why, sizeof(rep->why), "%s: %s", way_names[k], why);
            goto out_free_sides;
        }
        /* Warm up: key objects made, session pool filled. */
        if (!handshake(&b.sides[k], rep->sig_name[k], why)
            || !handshake(&b.sides[k], NULL, why)) {
            snprintf(rep->why, sizeof(rep->why), "%s: %s", way_names[k], why);
            goto out_free_sides;
        }
    }
    /* pkcs11be has opened the module by now. */
    if (!token_setup(&b.token, env->tc, env->counts != NULL ? 1 : env->threads,
                     why)) {
        snprintf(rep->why, sizeof(rep->why), "token: %s", why);
        goto out_free_sides;
    }
    if (o->profile >= 0) {
        if (!profile_way(&b, env))
            goto out_free_sides;
    } else if (!(env->counts != NULL ? count_calls(&b, env)
                                     : time_ways(&b, env))) {
        goto out_free_sides;
    }
    rep->ok = 1;
    ret = 1;

out_free_sides:
    token_teardown(&b.token);
    for (k = 0; k < TLS_WAYS; k++)
        side_free(&b.sides[k]);
out_unload:
    /*
     * Keys first (above), then the providers; pkcs11be's teardown at exit
     * leaves the module alone, an explicit unload closes its sessions.
     */
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
out_free_libctx:
    OSSL_LIB_CTX_free(b.libctx);
    return ret;
}

/*
 * Runs child_main in a child process; 1 if the child got to the end. A
 * count job, or a timed one with a delay, reaches the module through the
 * shim; only a count job counts.
 */
static int run_child(const struct child_env *env)
{
    unsigned timeout =
        (unsigned)(env->o->seconds * WAY_COUNT) + WATCHDOG_SLACK_SECONDS;
    /* A profile runs --count operations, maybe under valgrind: 1 s each. */
    if (env->o->profile >= 0)
        timeout += (unsigned)env->o->count;
    pid_t pid;
    int status;

    memset(env->rep, 0, sizeof(*env->rep));
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(env->rep->why, WHY_LEN, "fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        char latency[32];

        alarm(timeout);
        snprintf(latency, sizeof(latency), "%lu", env->latency_us);
        unsetenv("P11SHIM_COUNTS");
        if (env->counts != NULL)
            setenv("P11SHIM_COUNTS", env->counts_path, 1);
        if (env->counts != NULL || env->latency_us > 0) {
            setenv("P11SHIM_MODULE", env->o->module, 1);
            setenv("P11SHIM_LATENCY_US", latency, 1);
            setenv("CRYPTOGRAPHY_PKCS11_PATH", env->o->shim, 1);
        } else {
            setenv("CRYPTOGRAPHY_PKCS11_PATH", env->o->module, 1);
        }
        _exit(child_main(env) ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(env->rep->why, WHY_LEN, "waitpid: %s", strerror(errno));
            return 0;
        }
    if (WIFSIGNALED(status) && env->rep->why[0] == '\0')
        snprintf(env->rep->why, WHY_LEN, "child killed by signal %d%s",
                 WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    return env->rep->ok;
}

/* ---- the table ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double tmp[MAX_REPEAT];

    if (n <= 0)
        return 0;
    memcpy(tmp, v, (size_t)n * sizeof(*v));
    qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static uint64_t calls_total(const uint64_t *calls)
{
    uint64_t sum = 0;
    int fn;

    for (fn = 0; fn < P11SHIM_FN_COUNT; fn++)
        sum += calls[fn];
    return sum;
}

/* The bounds of one round (see the top): handshakes/s. */
struct bounds {
    double host;   /* the host's handshakes/s if signing cost it nothing */
    double bound;  /* min(host, token signatures/s) */
    double serial; /* host work and token signature one after the other */
};

static struct bounds round_bounds(const struct tls_cell *c, int rnd)
{
    double hs = c->rate[WAY_DEFAULT][rnd], host_sign = c->rate[WAY_HOST][rnd];
    double token = c->rate[WAY_TOKEN][rnd];
    /* Seconds of host work per handshake, without its signature. */
    double host_work = 1 / hs - 1 / host_sign;
    struct bounds b;

    if (host_work <= 0) /* noise: cannot happen on a steady machine */
        host_work = 1 / hs;
    b.host = 1 / host_work;
    b.bound = token < b.host ? token : b.host;
    b.serial = 1 / (host_work + 1 / token);
    return b;
}

/*
 * The serial bound with the token's signature timed where it runs: in
 * the default way's handshakes, each followed by one (default+token),
 * less the host's signature those made (as the host bound). The token
 * way's rate is a tight loop, with the module's code and data hot in the
 * caches; in a handshake they are not, and a token that runs on the
 * host's CPUs (SoftHSM2) then takes longer per signature.
 */
static double in_situ_bound(const struct tls_cell *c, int rnd)
{
    double both = c->rate[WAY_INSITU][rnd], host_sign = c->rate[WAY_HOST][rnd];
    double t = 1 / both - 1 / host_sign;

    if (t <= 0) /* noise, as in round_bounds() */
        t = 1 / both;
    return 1 / t;
}

enum {
    COL_KEY,
    COL_SIG,
    COL_P11BE,
    COL_DEFAULT,
    COL_RATIO,
    COL_SIGN_P11BE,
    COL_CALLS_P11BE,
    COL_CALLS_DEFAULT,
    COL_DELAY,
    COL_THREADS,
    COL_LOAD,
    COL_TOKEN,
    COL_CALLS_TOKEN,
    COL_HOST_SIGN,
    COL_HOST,
    COL_BOUND,
    COL_SERIAL,
    COL_OF_BOUND,
    COL_OF_SERIAL,
    COL_WAITS,
    COL_OF_WAITS,
    COL_CPU_P11BE,
    COL_CPU_DEFAULT,
    COL_CPU_TOKEN,
    COL_CPU_HOST,
    COL_CPU_ADDED,
    COL_INSITU,
    COL_INSITU_BOUND,
    COL_OF_INSITU,
    COL_CPU_INSITU,
    COL_CPU_ADDED_INSITU,
    COL_COUNT
};

/* The first eight as before the bound came (tests read them by place). */
static const char *const col_heads[COL_COUNT] = {
    "server key",
    "signature",
    "pkcs11be hs/s",
    "default hs/s",
    "pkcs11be/default",
    "C_Sign/hs pkcs11be",
    "calls/hs pkcs11be",
    "calls/hs default",
    "delay us",
    "thr",
    "load",
    "token sign/s",
    "calls/sign token",
    "host sign/s",
    "host bound hs/s",
    "bound hs/s",
    "serial bound hs/s",
    "pkcs11be/bound",
    "pkcs11be/serial",
    "default+waits hs/s",
    "pkcs11be/default+waits",
    "cpu us/hs pkcs11be",
    "cpu us/hs default",
    "cpu us/sign token",
    "cpu us/sign host",
    "cpu us/hs added",
    "default+token hs/s",
    "in-situ bound hs/s",
    "pkcs11be/in-situ",
    "cpu us/hs default+token",
    "cpu us/hs added in-situ",
};

#define CELL_LEN 48

/* The columns that are medians over the rounds, and their decimals. */
static const struct {
    int col;
    int places;
} median_cols[] = {
    {COL_P11BE, 0},        {COL_DEFAULT, 0},
    {COL_RATIO, 2},        {COL_TOKEN, 0},
    {COL_HOST_SIGN, 0},    {COL_HOST, 0},
    {COL_BOUND, 0},        {COL_SERIAL, 0},
    {COL_OF_BOUND, 2},     {COL_OF_SERIAL, 2},
    {COL_WAITS, 0},        {COL_OF_WAITS, 2},
    {COL_CPU_P11BE, 0},    {COL_CPU_DEFAULT, 0},
    {COL_CPU_TOKEN, 0},    {COL_CPU_HOST, 0},
    {COL_CPU_ADDED, 0},    {COL_INSITU, 0},
    {COL_INSITU_BOUND, 0}, {COL_OF_INSITU, 2},
    {COL_CPU_INSITU, 0},   {COL_CPU_ADDED_INSITU, 0},
};

static void fill_rates(const struct tls_cell *c, char row[COL_COUNT][CELL_LEN])
{
    double v[COL_COUNT][MAX_REPEAT];
    size_t i;
    int rnd;

    for (rnd = 0; rnd < c->rounds; rnd++) {
        struct bounds b = round_bounds(c, rnd);
        double p11be = c->rate[WAY_PKCS11BE][rnd];
        double insitu = in_situ_bound(c, rnd);

        v[COL_P11BE][rnd] = p11be;
        v[COL_DEFAULT][rnd] = c->rate[WAY_DEFAULT][rnd];
        v[COL_RATIO][rnd] = p11be / c->rate[WAY_DEFAULT][rnd];
        v[COL_TOKEN][rnd] = c->rate[WAY_TOKEN][rnd];
        v[COL_HOST_SIGN][rnd] = c->rate[WAY_HOST][rnd];
        v[COL_HOST][rnd] = b.host;
        v[COL_BOUND][rnd] = b.bound;
        v[COL_SERIAL][rnd] = b.serial;
        v[COL_OF_BOUND][rnd] = p11be / b.bound;
        v[COL_OF_SERIAL][rnd] = p11be / b.serial;
        v[COL_WAITS][rnd] = c->rate[WAY_WAITS][rnd];
        v[COL_OF_WAITS][rnd] = p11be / c->rate[WAY_WAITS][rnd];
        v[COL_CPU_P11BE][rnd] = c->cpu[WAY_PKCS11BE][rnd];
        v[COL_CPU_DEFAULT][rnd] = c->cpu[WAY_DEFAULT][rnd];
        v[COL_CPU_TOKEN][rnd] = c->cpu[WAY_TOKEN][rnd];
        v[COL_CPU_HOST][rnd] = c->cpu[WAY_HOST][rnd];
        /* pkcs11be's handshake against default's with the token's signature */
        v[COL_CPU_ADDED][rnd] =
            c->cpu[WAY_PKCS11BE][rnd]
            - (c->cpu[WAY_DEFAULT][rnd] - c->cpu[WAY_HOST][rnd]
               + c->cpu[WAY_TOKEN][rnd]);
        v[COL_INSITU][rnd] = c->rate[WAY_INSITU][rnd];
        v[COL_INSITU_BOUND][rnd] = insitu;
        v[COL_OF_INSITU][rnd] = p11be / insitu;
        v[COL_CPU_INSITU][rnd] = c->cpu[WAY_INSITU][rnd];
        /* against the same handshake with the token's signature in place */
        v[COL_CPU_ADDED_INSITU][rnd] =
            c->cpu[WAY_PKCS11BE][rnd]
            - (c->cpu[WAY_INSITU][rnd] - c->cpu[WAY_HOST][rnd]);
    }
    for (i = 0; i < sizeof(median_cols) / sizeof(median_cols[0]); i++) {
        int col = median_cols[i].col;

        /* Without a delay there is no default+waits way. */
        if (c->latency_us == 0 && (col == COL_WAITS || col == COL_OF_WAITS))
            continue;
        snprintf(row[col], CELL_LEN, "%.*f", median_cols[i].places,
                 median(v[col], c->rounds));
    }
    snprintf(row[COL_LOAD], CELL_LEN, "%.1f", median(c->load, c->rounds));
}

static void fill_row(const struct options *o, const struct tls_cell *c,
                     char row[COL_COUNT][CELL_LEN])
{
    int col;

    for (col = 0; col < COL_COUNT; col++)
        snprintf(row[col], CELL_LEN, "-");
    snprintf(row[COL_KEY], CELL_LEN, "%s", c->tc->name);
    snprintf(row[COL_SIG], CELL_LEN, "%s", c->sig_name[WAY_PKCS11BE]);
    snprintf(row[COL_DELAY], CELL_LEN, "%lu", c->latency_us);
    snprintf(row[COL_THREADS], CELL_LEN, "%u", c->threads);
    if (c->rounds > 0)
        fill_rates(c, row);
    if (c->counted && o->count > 0) {
        double n = (double)o->count;

        snprintf(row[COL_SIGN_P11BE], CELL_LEN, "%.2f",
                 (double)c->calls[WAY_PKCS11BE][P11SHIM_C_Sign] / n);
        snprintf(row[COL_CALLS_P11BE], CELL_LEN, "%.2f",
                 (double)calls_total(c->calls[WAY_PKCS11BE]) / n);
        snprintf(row[COL_CALLS_DEFAULT], CELL_LEN, "%.2f",
                 (double)calls_total(c->calls[WAY_DEFAULT]) / n);
        snprintf(row[COL_CALLS_TOKEN], CELL_LEN, "%.2f",
                 (double)calls_total(c->calls[WAY_TOKEN]) / n);
    }
}

static void print_legend(const struct options *o, const struct tls_cell *cells,
                         int count)
{
    const char *bullet = o->markdown ? "- " : "  ";
    int i, fn;

    printf("\n%shs/s: full TLS 1.3 handshakes per second, median of %d "
           "round(s); in a round the ways take turns in %.1f s slices "
           "until each has had %.1f s, in one process; thr: threads, each "
           "making whole handshakes (client and server) over a socketpair\n",
           bullet, o->repeat, SLICE_SECONDS, o->seconds);
    printf("%sonly the server key differs: made by pkcs11be on the token, or "
           "by the default provider; the rest of the handshake (X25519, "
           "HKDF, AES-GCM, hashes, the client) is the default provider's\n",
           bullet);
    printf("%s%s\n", bullet,
           o->offload_keys
               ? "pkcs11be in pkcs11-offload = keys mode, no property query "
                 "(as with openssl-keys.cnf)"
               : "pkcs11be in pkcs11-offload = all mode; the SSL_CTXs prefer "
                 "the default provider (?provider=default)");
    printf("%sdelay us: every PKCS#11 call (pkcs11be's and the token "
           "way's) sleeps that long first in p11shim.so, as a network HSM's "
           "round trip; load: 1-minute load average as the row started "
           "(median)\n",
           bullet);
    printf("%sdefault+waits: the default way's handshakes, each with the "
           "sleeps of pkcs11be's %d calls per handshake (rows with a delay): "
           "what the delay alone costs a thread that also does the host "
           "work\n",
           bullet, CALLS_PER_HS);
    printf("%stoken sign/s: the token's own rate, direct PKCS#11 (C_SignInit "
           "+ C_Sign, CKM_ECDSA or CKM_RSA_PKCS_PSS SHA-256 as pkcs11be "
           "signs) on a session key pair, a session per thread, same "
           "threads and delay; host sign/s: the default provider signing "
           "the same way\n",
           bullet);
    printf("%shost bound = 1/(1/default - 1/host sign): the host's "
           "handshakes/s without its signature; bound = min(host bound, "
           "token sign/s) (one C_Sign per handshake, waits overlapped); "
           "serial bound = 1/(1/host bound + 1/token sign/s) (host work, "
           "then the signature: one thread's limit); ratios are medians of "
           "the rounds' own\n",
           bullet);
    printf("%scpu us: CPU time of the ways' threads per handshake or "
           "signature (the token's included: it runs in-process); added: "
           "pkcs11be's handshake less default's with the token's signature "
           "in place of the host's, what pkcs11be itself costs\n",
           bullet);
    printf("%sdefault+token: the default way's handshakes, each followed by "
           "one token signature as the token way makes them: the token's "
           "work timed inside handshakes rather than in a tight loop (a "
           "token on the host's CPUs runs slower there, with its code and "
           "data out of the caches); in-situ bound = 1/(1/default+token - "
           "1/host sign); added in-situ: pkcs11be's CPU per handshake less "
           "default+token's less host sign's\n",
           bullet);
    if (o->count > 0)
        printf("%scalls/hs, calls/sign: PKCS#11 calls per handshake (per "
               "signature) through p11shim.so over %lu per way, 1 thread\n",
               bullet, o->count);
    for (i = 0; i < count; i++) {
        if (cells[i].why[0] != '\0')
            printf("%s%s, %lu us, %u thread(s): %s\n", bullet,
                   cells[i].tc->name, cells[i].latency_us, cells[i].threads,
                   cells[i].why);
        /* Once per key: the calls do not depend on delay or threads. */
        if (!o->verbose || !cells[i].counted
            || (i > 0 && cells[i - 1].tc == cells[i].tc))
            continue;
        printf("%s%s, pkcs11be, calls per handshake:", bullet,
               cells[i].tc->name);
        for (fn = 0; fn < P11SHIM_FN_COUNT; fn++)
            if (cells[i].calls[WAY_PKCS11BE][fn] > 0)
                printf(" %s %.2f", p11shim_fn_names[fn],
                       (double)cells[i].calls[WAY_PKCS11BE][fn]
                           / (double)o->count);
        putchar('\n');
    }
}

static void print_table(const struct options *o, const struct tls_cell *cells,
                        int count)
{
    char row[COL_COUNT][CELL_LEN];
    int i, col;

    if (o->markdown) {
        for (col = 0; col < COL_COUNT; col++)
            printf("| %s ", col_heads[col]);
        printf("|\n");
        for (col = 0; col < COL_COUNT; col++)
            printf("|%s", col <= COL_SIG ? ":---" : "---:");
        printf("|\n");
    } else {
        for (col = 0; col < COL_COUNT; col++)
            printf("%s%-*s", col > 0 ? "  " : "", col <= COL_SIG ? 14 : 0,
                   col_heads[col]);
        putchar('\n');
    }
    for (i = 0; i < count; i++) {
        fill_row(o, &cells[i], row);
        for (col = 0; col < COL_COUNT; col++) {
            if (o->markdown)
                printf("| %s ", row[col]);
            else
                printf("%s%*s", col > 0 ? "  " : "",
                       col <= COL_SIG ? -14 : (int)strlen(col_heads[col]),
                       row[col]);
        }
        printf(o->markdown ? "|\n" : "\n");
    }
    print_legend(o, cells, count);
}

/* ---- main --------------------------------------------------------------- */

/* "1,8": up to MAX_LIST numbers from lo to hi; 0 if malformed. */
static int parse_list(const char *text, unsigned long lo, unsigned long hi,
                      unsigned long *out, int *n)
{
    const char *p = text;
    char *end;

    *n = 0;
    do {
        if (*n == MAX_LIST || *p < '0' || *p > '9')
            return 0;
        errno = 0;
        out[*n] = strtoul(p, &end, 10);
        if (errno != 0 || out[*n] < lo || out[*n] > hi
            || (*end != ',' && *end != '\0'))
            return 0;
        (*n)++;
        p = end + 1;
    } while (*end == ',');
    return 1;
}

/* --profile's name for a way (the first word of its name), or -1. */
static int profile_way_of(const char *name)
{
    int k;

    for (k = 0; k < WAY_COUNT; k++)
        if (strncmp(way_names[k], name, strlen(name)) == 0
            && (way_names[k][strlen(name)] == '\0'
                || way_names[k][strlen(name)] == ' '))
            return k;
    return -1;
}

/* --profile: each case's operations of one way, timed; 0 if one failed. */
static int profile_cases(const struct options *o, struct tls_report *rep)
{
    int i, failed = 0;

    for (i = 0; tls_cases[i].name != NULL; i++) {
        struct child_env env = {o,   &tls_cases[i], 1,   o->latency[0],
                                rep, NULL,          NULL};
        double n = (double)o->count;

        if (o->filter != NULL && strcmp(o->filter, tls_cases[i].tag) != 0)
            continue;
        if (!run_child(&env)) {
            fprintf(stderr, "p11tlsbench: %s: %s\n", tls_cases[i].name,
                    rep->why);
            failed = 1;
            continue;
        }
        printf("%s, %s, %lu us: %lu operations, %.1f us CPU and %.1f us "
               "wall per operation\n",
               tls_cases[i].name, way_names[o->profile], o->latency[0],
               o->count, rep->cpu[o->profile] * 1e6 / n,
               rep->seconds[o->profile] * 1e6 / n);
    }
    return !failed;
}

/* 2 on a usage error, 1 to exit successfully, 0 to go on. */
static int parse_options(struct options *o, int argc, char **argv)
{
    enum { OPT_PROVIDER_PATH = 256, OPT_SHIM };
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"repeat", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},
        {"case", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"latency-us", required_argument, NULL, 'L'},
        {"offload", required_argument, NULL, 'o'},
        {"profile", required_argument, NULL, 'P'},
        {"markdown", no_argument, NULL, 'm'},
        {"verbose", no_argument, NULL, 'v'},
        {"provider-path", required_argument, NULL, OPT_PROVIDER_PATH},
        {"shim", required_argument, NULL, OPT_SHIM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    long n;
    int c;

    while ((c = getopt_long(argc, argv, "s:r:n:c:t:L:o:P:mvh", longopts, NULL))
           != -1) {
        switch (c) {
        case 's':
            o->seconds = strtod(optarg, &end);
            if (*end != '\0' || !(o->seconds >= 0.01 && o->seconds <= 3600))
                goto out_bad;
            break;
        case 'r':
            n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > MAX_REPEAT)
                goto out_bad;
            o->repeat = (int)n;
            break;
        case 'n':
            n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 0 || n > 1000000)
                goto out_bad;
            o->count = (unsigned long)n;
            break;
        case 'c':
            o->filter = optarg;
            break;
        case 't':
            if (!parse_list(optarg, 1, MAX_THREADS, o->threads, &o->nthreads))
                goto out_bad;
            break;
        case 'L':
            if (!parse_list(optarg, 0, 10 * 1000 * 1000, o->latency,
                            &o->nlatency))
                goto out_bad;
            break;
        case 'o':
            if (strcmp(optarg, "keys") != 0 && strcmp(optarg, "all") != 0)
                goto out_bad;
            o->offload_keys = strcmp(optarg, "keys") == 0;
            break;
        case 'P':
            o->profile = profile_way_of(optarg);
            if (o->profile < 0)
                goto out_bad;
            break;
        case 'm':
            o->markdown = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case OPT_PROVIDER_PATH:
            snprintf(o->provider_path, sizeof(o->provider_path), "%s", optarg);
            break;
        case OPT_SHIM:
            snprintf(o->shim, sizeof(o->shim), "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind == argc)
        return 0;
    fprintf(stderr, "p11tlsbench: unexpected argument \"%s\"\n", argv[optind]);
    return 2;

out_bad:
    fprintf(stderr, "p11tlsbench: bad value for -%c: \"%s\"\n", c, optarg);
    return 2;
}

/* A fresh counter file for the shim, mapped; its path goes to path. */
static int open_counts(struct p11shim_counts *counts, char *path, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char why[512];
    int fd;

    snprintf(path, len, "%s/p11tlsbench-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "p11tlsbench: %s: %s\n", path, strerror(errno));
        return 0;
    }
    close(fd);
    if (!p11shim_counts_open(counts, path,
                             P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE, why,
                             sizeof(why))) {
        fprintf(stderr, "p11tlsbench: %s\n", why);
        unlink(path);
        return 0;
    }
    return 1;
}

/* The 1-minute load average, or -1. */
static double load_now(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double load = -1;

    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1;
        fclose(f);
    }
    return load;
}

/* One round of one row; records its rates, or its failure. */
static int time_cell(const struct options *o, struct tls_cell *c,
                     struct tls_report *rep, int rnd)
{
    struct child_env env = {o,   c->tc, c->threads, c->latency_us,
                            rep, NULL,  NULL};
    int k;

    c->load[c->rounds] = load_now();
    if (!run_child(&env)) {
        snprintf(c->why, sizeof(c->why), "%s", rep->why);
        return 0;
    }
    for (k = 0; k < WAY_COUNT; k++) {
        c->rate[k][c->rounds] =
            rep->seconds[k] > 0 ? (double)rep->ops[k] / rep->seconds[k] : 0;
        c->cpu[k][c->rounds] =
            rep->ops[k] > 0 ? rep->cpu[k] * 1e6 / (double)rep->ops[k] : 0;
    }
    memcpy(c->sig_name, rep->sig_name, sizeof(c->sig_name));
    if (o->verbose)
        fprintf(stderr,
                "p11tlsbench: round %d: %s, %lu us, %u thread(s): pkcs11be "
                "%.0f/s, default %.0f/s, token %.0f sign/s, host %.0f "
                "sign/s, load %.2f\n",
                rnd + 1, c->tc->name, c->latency_us, c->threads,
                c->rate[WAY_PKCS11BE][c->rounds],
                c->rate[WAY_DEFAULT][c->rounds], c->rate[WAY_TOKEN][c->rounds],
                c->rate[WAY_HOST][c->rounds], c->load[c->rounds]);
    c->rounds++;
    return 1;
}

/* Calls per operation for every row of the key at cells[first]. */
static int count_cells(const struct options *o, struct tls_cell *cells,
                       int ncells, int first, struct tls_report *rep,
                       const struct p11shim_counts *counts, const char *path)
{
    struct child_env env = {o, cells[first].tc, 1, 0, rep, counts, path};
    int i;

    if (!run_child(&env)) {
        snprintf(cells[first].why, sizeof(cells[first].why), "counting: %.*s",
                 WHY_LEN, rep->why);
        return 0;
    }
    for (i = first; i < ncells && cells[i].tc == cells[first].tc; i++) {
        memcpy(cells[i].calls, rep->calls, sizeof(cells[i].calls));
        cells[i].counted = 1;
    }
    return 1;
}

int main(int argc, char **argv)
{
    struct options o = {
        .seconds = 3.0,
        .repeat = 1,
        .count = 100,
        .threads = {1},
        .nthreads = 1,
        .latency = {0},
        .nlatency = 1,
        .profile = -1,
    };
    struct tls_cell cells[2 * MAX_LIST * MAX_LIST];
    struct p11shim_counts counts = {0};
    char counts_path[PATH_MAX] = "";
    struct tls_report *rep;
    int ncells = 0, i, l, t, rnd, failed = 0, need_shim = 0;

    if (!default_paths(&o)) {
        fprintf(stderr, "p11tlsbench: cannot find where I was built\n");
        return 1;
    }
    switch (parse_options(&o, argc, argv)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    /* Under the tests' use_shim(), the module path is the shim already. */
    o.module = getenv("P11SHIM_MODULE");
    if (o.module == NULL || *o.module == '\0')
        o.module = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    if (o.module == NULL || *o.module == '\0') {
        fprintf(stderr, "p11tlsbench: no PKCS#11 module: set "
                        "CRYPTOGRAPHY_PKCS11_PATH\n");
        return 2;
    }
    for (l = 0; l < o.nlatency; l++)
        need_shim |= o.latency[l] > 0;
    if (o.profile >= 0 && o.count == 0) {
        fprintf(stderr, "p11tlsbench: --profile needs --count above 0\n");
        return 2;
    }
    if (((o.count > 0 && o.profile < 0) || need_shim)
        && access(o.shim, R_OK) != 0) {
        fprintf(stderr, "p11tlsbench: %s: %s; %s\n", o.shim, strerror(errno),
                need_shim ? "no --latency-us" : "not counting calls");
        if (need_shim)
            return 2;
        o.count = 0;
    }
    memset(cells, 0, sizeof(cells));
    for (i = 0; tls_cases[i].name != NULL; i++) {
        if (o.filter != NULL && strcmp(o.filter, tls_cases[i].tag) != 0)
            continue;
        for (l = 0; l < o.nlatency; l++)
            for (t = 0; t < o.nthreads; t++) {
                cells[ncells].tc = &tls_cases[i];
                cells[ncells].latency_us = o.latency[l];
                cells[ncells++].threads = (unsigned)o.threads[t];
            }
    }
    if (ncells == 0) {
        fprintf(stderr, "p11tlsbench: no case \"%s\" (ec, rsa)\n", o.filter);
        return 2;
    }
    rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rep == MAP_FAILED) {
        fprintf(stderr, "p11tlsbench: mmap: %s\n", strerror(errno));
        return 1;
    }
    if (o.profile >= 0) {
        failed = !profile_cases(&o, rep);
        munmap(rep, sizeof(*rep));
        return failed || fflush(stdout) != 0;
    }
    if (o.count > 0 && !open_counts(&counts, counts_path, sizeof(counts_path)))
        o.count = 0;

    for (rnd = 0; rnd < o.repeat; rnd++)
        for (i = 0; i < ncells; i++)
            if (cells[i].why[0] == '\0' && !time_cell(&o, &cells[i], rep, rnd))
                failed = 1;
    for (i = 0; i < ncells && o.count > 0; i++)
        if ((i == 0 || cells[i - 1].tc != cells[i].tc)
            && !count_cells(&o, cells, ncells, i, rep, &counts, counts_path))
            failed = 1;
    print_table(&o, cells, ncells);

    p11shim_counts_close(&counts);
    if (counts_path[0] != '\0')
        unlink(counts_path);
    munmap(rep, sizeof(*rep));
    return failed || fflush(stdout) != 0;
}
