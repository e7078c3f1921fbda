/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One context for every operation on a P11BE_KEY (keyobj.h): signatures
 * (signature.c), asym-ciphers (asym_cipher.c) and key exchanges
 * (exchange.c). What differs per algorithm is a row, struct p11be_pkey_alg,
 * in the algorithm's file: the key types it takes, the token mechanism
 * init checks, and the hooks that do the private-key work on the token.
 * Everything else (new, free, dup, init, parameters) is written once, in
 * pkey_op.c: parameters go to a context of OpenSSL's default provider on
 * the key's host copy, which checks, defaults and reports them as OpenSSL
 * does and runs the public-key side.
 */
#ifndef P11BE_PKEY_OP_H
#define P11BE_PKEY_OP_H

#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "algorithms.h"
#include "keyop.h"

typedef struct p11be_pkey_ctx_st P11BE_PKEY_CTX;

/* What an algorithm adds to the shared skeleton: one row per algorithm. */
struct p11be_pkey_alg {
    const char *what;         /* "RSA signature": messages */
    const char *key_type;     /* the host key type it needs: "RSA" */
    const char *key_type_alt; /* another one it takes ("RSA-PSS"), or NULL */
    /* A key type the default provider refuses with its own reason. */
    const char *host_refuses;
    CK_MECHANISM_TYPE mech; /* checked at a private-key init on the token */
    const char *mech_name;  /* "CKM_RSA_PKCS"; NULL: nothing to check */
    /*
     * The host context's init when the private-key work runs on the token
     * (its parameters are read back from it): EVP_PKEY_OP_VERIFY,
     * _SIGN, _ENCRYPT or _DERIVE; 0: the host context is never
     * initialised (EdDSA works on the host key directly).
     */
    int token_host_op;
    /* Signatures with a digest: the keymgmt's default; NULL: one-shot. */
    const char *default_md;
    /*
     * The private-key operation on the token, after the size checks:
     * sign (tbs, a digest when one is set, into sig of sigsize >= the
     * key's size), decrypt, or derive (into out, of outlen bytes, or
     * the size when out is NULL). 1, or 0 (raised).
     */
    int (*token_op)(P11BE_PKEY_CTX *ctx, unsigned char *out, size_t *out_len,
                    size_t out_size, const unsigned char *in, size_t in_len);
    /* Signing on the host copy when it is not EVP_PKEY_sign (EdDSA). */
    int (*host_sign)(P11BE_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen,
                     const unsigned char *tbs, size_t tbslen);
    /* Parameters the host context does not report back (DH's pad). */
    int (*set_params)(P11BE_PKEY_CTX *ctx, const OSSL_PARAM params[]);
};

struct p11be_pkey_ctx_st {
    P11BE_KEYOP op;                   /* the key and its host context */
    const struct p11be_pkey_alg *alg; /* the algorithm's row */
    EVP_MD_CTX *mdctx;                /* DigestSign/DigestVerify: host hash */
    P11BE_KEY *peer;                  /* key exchange: a reference, or NULL */
    unsigned char *peer_pub;          /* the peer's encoded public key */
    size_t peer_pub_len;              /* bytes in peer_pub */
    int pad;                          /* DH: pad the secret to the prime */
};

/* For an algorithm's newctx. */
P11BE_PKEY_CTX *p11be_pkey_ctx_new(void *provctx,
                                   const struct p11be_pkey_alg *alg);
void p11be_pkey_ctx_free(void *vctx);
void *p11be_pkey_ctx_dup(void *vctx);

/*
 * Takes provkey (NULL keeps the key set before), checks its type, makes
 * and initialises the host context for `operation` (EVP_PKEY_OP_*) with
 * params applied, and for a private-key operation on the token checks
 * the algorithm's mechanism. 1, or 0 (raised).
 */
int p11be_pkey_ctx_init(P11BE_PKEY_CTX *ctx, void *provkey,
                        const OSSL_PARAM params[], int operation);

/*
 * The same, then for a signature over a digest (md_name not NULL) the
 * digest set on the host context after params, and its hash on the host
 * started in ctx->mdctx. An init without params dups a host context made
 * ready once per key instead of making one. 1, or 0 (raised).
 */
int p11be_pkey_ctx_init_md(P11BE_PKEY_CTX *ctx, void *provkey,
                           const OSSL_PARAM params[], int operation,
                           const char *md_name);

/* get_ctx_params / set_ctx_params (after init): the host context's. */
int p11be_pkey_ctx_get_params(void *vctx, OSSL_PARAM params[]);
int p11be_pkey_ctx_set_params(void *vctx, const OSSL_PARAM params[]);

/* The dispatch entries a context on a key shares, for `op` (SIGNATURE ..). */
#define P11BE_PKEY_CTX_FUNCTIONS(FREECTX, DUPCTX, GET, SET)                    \
    P11BE_FN(FREECTX, p11be_pkey_ctx_free),                                    \
        P11BE_FN(DUPCTX, p11be_pkey_ctx_dup),                                  \
        P11BE_FN(GET, p11be_pkey_ctx_get_params),                              \
        P11BE_FN(SET, p11be_pkey_ctx_set_params)

/* ---- signatures (signature.c) -------------------------------------------- */

OSSL_FUNC_signature_sign_init_fn p11be_sig_sign_init;
OSSL_FUNC_signature_sign_fn p11be_sig_sign;
OSSL_FUNC_signature_verify_init_fn p11be_sig_verify_init;
OSSL_FUNC_signature_verify_fn p11be_sig_verify;
OSSL_FUNC_signature_verify_recover_init_fn p11be_sig_verify_recover_init;
OSSL_FUNC_signature_verify_recover_fn p11be_sig_verify_recover;
OSSL_FUNC_signature_digest_sign_init_fn p11be_sig_digest_sign_init;
OSSL_FUNC_signature_digest_verify_init_fn p11be_sig_digest_verify_init;
OSSL_FUNC_signature_digest_sign_update_fn p11be_sig_digest_update;
OSSL_FUNC_signature_digest_sign_final_fn p11be_sig_digest_sign_final;
OSSL_FUNC_signature_digest_verify_final_fn p11be_sig_digest_verify_final;
OSSL_FUNC_signature_digest_verify_fn p11be_sig_digest_verify;
OSSL_FUNC_signature_get_ctx_md_params_fn p11be_sig_get_ctx_md_params;
OSSL_FUNC_signature_gettable_ctx_md_params_fn p11be_sig_gettable_ctx_md_params;
OSSL_FUNC_signature_set_ctx_md_params_fn p11be_sig_set_ctx_md_params;
OSSL_FUNC_signature_settable_ctx_md_params_fn p11be_sig_settable_ctx_md_params;

/*
 * Defines an algorithm's newctx `fn` (a context on the row `alg`) for a
 * signature (propq unused: digests come from the default provider) or
 * another key operation.
 */
#define P11BE_SIG_NEWCTX_FN(fn, alg)                                           \
    static void *fn(void *provctx, const char *propq)                          \
    {                                                                          \
        (void)propq;                                                           \
        return p11be_pkey_ctx_new(provctx, &alg);                              \
    }
#define P11BE_PKEY_NEWCTX_FN(fn, alg)                                          \
    static void *fn(void *provctx)                                             \
    {                                                                          \
        return p11be_pkey_ctx_new(provctx, &alg);                              \
    }

/*
 * A signature over a digest (RSA, ECDSA): its table with its own newctx
 * and gettable/settable_ctx_params, then every skeleton entry.
 */
#define P11BE_SIG_DIGEST_FUNCTIONS(newctx, gettable, settable)                 \
    P11BE_FN(OSSL_FUNC_SIGNATURE_NEWCTX, newctx),                              \
        P11BE_FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, gettable),           \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, settable),           \
        P11BE_PKEY_CTX_FUNCTIONS(OSSL_FUNC_SIGNATURE_FREECTX,                  \
                                 OSSL_FUNC_SIGNATURE_DUPCTX,                   \
                                 OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,           \
                                 OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS),          \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, p11be_sig_sign_init),          \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SIGN, p11be_sig_sign),                    \
        P11BE_FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, p11be_sig_verify_init),      \
        P11BE_FN(OSSL_FUNC_SIGNATURE_VERIFY, p11be_sig_verify),                \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,                         \
                 p11be_sig_digest_sign_init),                                  \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,                       \
                 p11be_sig_digest_update),                                     \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,                        \
                 p11be_sig_digest_sign_final),                                 \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,                       \
                 p11be_sig_digest_verify_init),                                \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,                     \
                 p11be_sig_digest_update),                                     \
        P11BE_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,                      \
                 p11be_sig_digest_verify_final),                               \
        P11BE_FN(OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS,                        \
                 p11be_sig_get_ctx_md_params),                                 \
        P11BE_FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,                   \
                 p11be_sig_gettable_ctx_md_params),                            \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS,                        \
                 p11be_sig_set_ctx_md_params),                                 \
        P11BE_FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS,                   \
                 p11be_sig_settable_ctx_md_params)

/* ---- key exchange (exchange.c) ------------------------------------------- */

OSSL_FUNC_keyexch_init_fn p11be_exch_init;
OSSL_FUNC_keyexch_set_peer_fn p11be_exch_set_peer;
OSSL_FUNC_keyexch_derive_fn p11be_exch_derive;

/* A key exchange's table: its newctx and param tables, then these. */
#define P11BE_EXCH_FUNCTIONS(newctx, gettable, settable)                       \
    P11BE_FN(OSSL_FUNC_KEYEXCH_NEWCTX, newctx),                                \
        P11BE_FN(OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, gettable),             \
        P11BE_FN(OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, settable),             \
        P11BE_PKEY_CTX_FUNCTIONS(OSSL_FUNC_KEYEXCH_FREECTX,                    \
                                 OSSL_FUNC_KEYEXCH_DUPCTX,                     \
                                 OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS,             \
                                 OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS),            \
        P11BE_FN(OSSL_FUNC_KEYEXCH_INIT, p11be_exch_init),                     \
        P11BE_FN(OSSL_FUNC_KEYEXCH_SET_PEER, p11be_exch_set_peer),             \
        P11BE_FN(OSSL_FUNC_KEYEXCH_DERIVE, p11be_exch_derive)

/* One derivation: the mechanism, and the secret's room and length. */
struct p11be_derive_read {
    CK_MECHANISM *mech; /* ECDH, DH: names the peer's public key */
    unsigned char *out; /* the secret */
    CK_ULONG len;       /* room in out, then the secret's length */
};

/*
 * The runner's step (run->arg a struct p11be_derive_read): C_DeriveKey of
 * an extractable secret from `base`, usable for nothing else,
 * C_GetAttributeValue of its CKA_VALUE and C_DestroyObject on one session;
 * returns the last CK_RV. A failed C_DeriveKey made nothing: it counts as
 * the init (run->at_init) for a .refusable run.
 */
CK_RV p11be_derive_read_step(struct p11be_run *run, P11BE_SESSION *sess,
                             CK_OBJECT_HANDLE base);

/*
 * The token's shared secret for `mech` (its parameter naming the peer's
 * public key) into z, *z_len bytes of room (the secret's size): C_DeriveKey
 * of an extractable session secret, C_GetAttributeValue of its CKA_VALUE,
 * C_DestroyObject. Left-padded to *z_len when the token gives it shorter.
 * 1, or 0 (raised).
 */
int p11be_exch_token_secret(P11BE_PKEY_CTX *ctx, CK_MECHANISM *mech,
                            unsigned char *z, size_t z_len);

/*
 * With a kdf-type set on the host context (ECDH's X963KDF, DH's
 * X942KDF-ASN1), derives as OpenSSL does: the token's secret for `mech`
 * (z_len bytes, padded) through the KDF with kdf-digest, kdf-ukm,
 * kdf-outlen and (X9.42) cekalg, run by the default provider (counted as
 * delegated); into secret (NULL: the size in *secretlen). 1, or 0
 * (raised); -1 when no KDF is set: the caller gives the plain secret.
 */
/* The KDF params a key exchange reports, and those it only takes. */
#define P11BE_EXCH_KDF_PARAMS                                                  \
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),             \
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),       \
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),               \
        OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0)
#define P11BE_EXCH_KDF_SETTABLE                                                \
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0)

int p11be_exch_kdf_derive(P11BE_PKEY_CTX *ctx, CK_MECHANISM *mech, size_t z_len,
                          unsigned char *secret, size_t *secretlen,
                          size_t outlen);

#endif
