/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: what a benchmark case is.
 *
 * Every case is one row of bench_cases[] (cases.c) and runs three ways:
 * through EVP on pkcs11be, through EVP on OpenSSL's default provider, and
 * straight on the PKCS#11 module ("direct", one session per thread kept
 * open: the token's limit). A case brings two functions that each do ONE
 * operation on state the runner has prepared:
 *
 *     bench_evp_op_fn  for both EVP ways, on struct bench_evp_thread
 *     bench_p11_op_fn  for direct,        on struct bench_p11_thread
 *
 * The runner fetches the case's algorithm (digest, MAC or cipher by
 * `kind`) once per process, makes the matching EVP context per thread and
 * reuses it, and for direct opens a session per thread and, when the case
 * has a key, creates it once as a session object. It then calls the op
 * over and over, the three ways taking turns (run.h), and once more in a
 * separate short run through the counting shim to get PKCS#11 calls per
 * operation. An op must leave its context ready for the next call.
 *
 * Adding, say, HMAC-SHA256 is a row { "HMAC-SHA256", BENCH_MAC, "HMAC",
 * CKM_SHA256_HMAC, CKK_GENERIC_SECRET, CKA_SIGN, 32, ... } plus an
 * hmac_evp_op() (EVP_MAC_init with the digest param, update, final) and a
 * hmac_p11_op() (C_SignInit on t->key, C_Sign). Whether the EVP op passes
 * t->key to every EVP_MAC_init or only sets it once is part of what the
 * row measures: pkcs11be may import the key on each call that passes it.
 *
 * BENCH_PKEY rows work on one key pair that the child makes in software
 * once and gives to all three ways; `alg` names its type: "RSA"
 * (RSA-2048), "EC" (P-256) or "ED25519". EVP ways get it through
 * EVP_PKEY_fromdata in their own library context (so pkcs11be imports it
 * with its own keymgmt and makes its token object on first use), direct
 * as a session object (CKO_PRIVATE_KEY with the private values, or
 * CKO_PUBLIC_KEY when key_use is CKA_VERIFY or CKA_ENCRYPT). `in` is then
 * a SHA-256 digest (in_len 32; the message itself for Ed25519), and the
 * runner adds `sig`, its signature (RSA: PKCS#1 v1.5 SHA-256; EC: ECDSA,
 * DER for the EVP ways and r||s for direct; Ed25519: pure EdDSA), and for
 * RSA `ct`, its OAEP (SHA-1) encryption, all made in software with the
 * same key, for verify and decrypt rows. EC rows also get a peer: a
 * second P-256 key made in software, as an EVP_PKEY of the way's library
 * context (`peer`) and as its uncompressed point for direct (`peer_point`),
 * for ECDH.
 */
#ifndef P11BENCH_H
#define P11BENCH_H

#include <stddef.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

/* Which EVP family the runner fetches `alg` from and makes contexts of. */
enum bench_kind {
    BENCH_DIGEST, /* EVP_MD, EVP_MD_CTX */
    BENCH_MAC,    /* EVP_MAC, EVP_MAC_CTX */
    BENCH_CIPHER, /* EVP_CIPHER, EVP_CIPHER_CTX */
    BENCH_PKEY,   /* the key pair above, EVP_PKEY_CTX */
};

/* One thread's state for the EVP ways (pkcs11be and default). */
struct bench_evp_thread {
    EVP_MD *md;                 /* BENCH_DIGEST: fetched once, borrowed */
    EVP_MAC *mac;               /* BENCH_MAC: fetched once, borrowed */
    EVP_CIPHER *cipher;         /* BENCH_CIPHER: fetched once, borrowed */
    EVP_MD_CTX *md_ctx;         /* BENCH_DIGEST: this thread's, reused */
    EVP_MAC_CTX *mac_ctx;       /* BENCH_MAC: this thread's, reused */
    EVP_CIPHER_CTX *cipher_ctx; /* BENCH_CIPHER: this thread's, reused */
    EVP_PKEY_CTX *pkey_ctx;     /* BENCH_PKEY: this thread's, reused */
    int pkey_ready;             /* BENCH_PKEY: the op initialised pkey_ctx */
    OSSL_LIB_CTX *libctx;       /* BENCH_PKEY: the way's, borrowed */
    EVP_PKEY *pkey;             /* BENCH_PKEY: the key, borrowed */
    EVP_PKEY *peer;             /* BENCH_PKEY EC: the peer key, borrowed */
    const unsigned char *sig;   /* BENCH_PKEY: signature of in */
    size_t sig_len;             /* bytes in sig */
    const unsigned char *ct;    /* BENCH_PKEY: OAEP encryption of in */
    size_t ct_len;              /* bytes in ct */
    const unsigned char *key;   /* the case's key (same bytes as direct's) */
    size_t key_len;             /* the case's key_len */
    const unsigned char *iv;    /* 16 zero bytes, for ciphers */
    const unsigned char *in;    /* input, in_len bytes */
    size_t in_len;              /* the cell's input size */
    unsigned char *out;         /* output, out_cap bytes */
    size_t out_cap;             /* in_len plus room for a tag or padding */
};

/* One thread's state for the direct way. */
struct bench_p11_thread {
    CK_FUNCTION_LIST *p11;     /* the module (or the counting shim) */
    CK_SESSION_HANDLE session; /* this thread's, open for the whole run */
    CK_OBJECT_HANDLE key;      /* the case's key object, if it has one */
    CK_MECHANISM_TYPE mech;    /* the case's mechanism */
    unsigned char *iv;         /* 16 zero bytes, for ciphers */
    unsigned char *sig;        /* BENCH_PKEY: signature of in */
    CK_ULONG sig_len;          /* bytes in sig */
    unsigned char *ct;         /* BENCH_PKEY: OAEP encryption of in */
    CK_ULONG ct_len;           /* bytes in ct */
    unsigned char *peer_point; /* BENCH_PKEY EC: the peer's point */
    CK_ULONG peer_point_len;   /* bytes in peer_point */
    unsigned char *in;         /* input, in_len bytes */
    CK_ULONG in_len;           /* the cell's input size */
    unsigned char *out;        /* output, out_cap bytes */
    CK_ULONG out_cap;          /* in_len plus room for a tag or padding */
};

/* One operation; 1 on success, 0 (with the OpenSSL error queue) if not. */
typedef int bench_evp_op_fn(struct bench_evp_thread *t);

/* One operation; the first CK_RV that is not CKR_OK, or CKR_OK. */
typedef CK_RV bench_p11_op_fn(struct bench_p11_thread *t);

/* An input size a case runs at, with the pkcs11be/direct target. */
struct bench_size {
    size_t in_len;    /* bytes of input per operation; 0 ends the list */
    double min_ratio; /* pkcs11be ops/s at least this times direct's; 0: none */
};

#define BENCH_MAX_SIZES   4
#define BENCH_MAX_KEY_LEN 64

struct bench_case {
    const char *name;          /* the "operation" column */
    enum bench_kind kind;      /* what `alg` is */
    const char *alg;           /* fetched by this name from each provider */
    CK_MECHANISM_TYPE mech;    /* what direct uses; checked on the token */
    CK_KEY_TYPE key_type;      /* direct's key object (key_len > 0, PKEY) */
    CK_ATTRIBUTE_TYPE key_use; /* CKA_SIGN, CKA_ENCRYPT, ...: set TRUE */
    size_t key_len;            /* 0: no key; at most BENCH_MAX_KEY_LEN */
    struct bench_size sizes[BENCH_MAX_SIZES]; /* ends at in_len 0 */
    bench_evp_op_fn *evp_op;                  /* one operation through EVP */
    bench_p11_op_fn *p11_op; /* one operation straight on the module */
    /*
     * BENCH_PKEY: the key lives on the token. Direct makes it a token
     * object (CKA_TOKEN, labelled "p11bench-PID") and works on a session
     * copy of it (C_CopyObject); pkcs11be loads it by pkcs11: URI through
     * its store; default imports the same key pair from software.
     */
    int token_key;
};

/* The table, ending with a row whose name is NULL (cases.c). */
extern const struct bench_case bench_cases[];

#endif
