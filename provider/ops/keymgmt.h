/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keymgmt that is the same for every key type, all working on
 * P11BE_KEY (keyobj.h) and its host copy, generation included: a type's
 * keymgmt file (keymgmt_rsa.c ..) gives a row, struct p11be_keymgmt_kind,
 * with its hooks, and its dispatch table holds its own import/export
 * types, gettable params and the one-line wrappers that name its row.
 *
 * Export gives what may leave: the public parts, the private parts of a
 * key that came from software (they are the caller's own) or of an
 * exportable pair generated on the token (read from it when first asked).
 * An export that asks for any other private half is refused, never
 * answered with the public half alone (see p11be_keymgmt_export).
 */
#ifndef P11BE_KEYMGMT_H
#define P11BE_KEYMGMT_H

#include <openssl/core_dispatch.h>

#include "keyobj.h"
#include "pkey_op.h"

/*
 * A host copy for `key` (of its kind) from params, as EVP_PKEY_fromdata()
 * with `evp_selection` in the fallback library context; raises on NULL.
 */
EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[]);

/* Domain parameters alone as the key's host copy: 1, or 0 (raised). */
int p11be_keymgmt_import_params(P11BE_KEY *key, const OSSL_PARAM params[]);

/*
 * The same, given to the key as its public host copy (p11be_key_set_host):
 * 1, or 0 (raised, nothing kept).
 */
int p11be_keymgmt_set_public_from(P11BE_KEY *key, OSSL_PARAM params[]);

/*
 * The big-endian attributes `types` of the token object `obj` (read on
 * `sess`) as the BIGNUM parameters `names`, `count` of each (at most 6):
 * a fresh array the caller wipes and frees, or NULL (raised, naming
 * `what`). For the kinds' private_from_token().
 */
OSSL_PARAM *p11be_keymgmt_bn_params(P11BE_KEY *key, P11BE_SESSION *sess,
                                    CK_OBJECT_HANDLE obj,
                                    const CK_ATTRIBUTE_TYPE *types,
                                    const char *const *names, size_t count,
                                    const char *what);

/*
 * The same, with `extra` (may be NULL) added, given to the key as its
 * public host copy: a kind's public_from_token(). 1, or 0 (raised).
 */
int p11be_keymgmt_public_bn(P11BE_KEY *key, P11BE_SESSION *sess,
                            CK_OBJECT_HANDLE obj,
                            const CK_ATTRIBUTE_TYPE *types,
                            const char *const *names, size_t count,
                            const OSSL_PARAM *extra, const char *what);

/*
 * CKA_EC_POINT's value: a DER OCTET STRING as PKCS#11 says, or the raw
 * point (key) that some tokens give. Points *point into `value`.
 */
void p11be_ec_point_of(const unsigned char *value, size_t len,
                       const unsigned char **point, size_t *point_len);

/*
 * Whether the token can use a key (P11BE_KEY.fit): a key it cannot hold
 * (a type, curve or size its mechanisms lack, explicit EC parameters)
 * stays a host key, and every operation on it runs in OpenSSL's default
 * provider in the fallback library context, counted as delegated
 * (keyop.c), unless pkcs11-delegate = no. Decided once per key: at
 * generation, and for an imported key at import when pkcs11be alone
 * knows (a curve it never puts on a token), else at its first
 * private-key operation, since import never touches the token (decoding
 * a key file must not need it). A key the token refuses when its private
 * object is made at that first operation's init (keyobj.h
 * p11be_key_import_private) becomes a host key then (keyop.c).
 */
#define P11BE_FIT_UNKNOWN 0 /* not decided yet */
#define P11BE_FIT_TOKEN   1 /* the token takes it */
#define P11BE_FIT_HOST    2 /* the token lacks what it needs */

/*
 * A key type's check: whether the token behind tc takes its keys on
 * `group` (EC: the curve's name, NULL for explicit parameters; others
 * NULL) of `bits` (0: no size to check). 1 yes; 0 no, with what the token
 * lacks written to why (why_len bytes); -1 the token could not be asked
 * (raised). With tc NULL, only what pkcs11be knows alone: 1 or 0.
 */
typedef int p11be_token_fit_fn(P11BE_TOKEN_CTX *tc, const char *group,
                               size_t bits, char *why, size_t why_len);

/* The checks of keymgmt_ec.c, keymgmt_rsa.c, keymgmt_ed.c, keymgmt_dh.c. */
p11be_token_fit_fn p11be_ec_token_fit;
p11be_token_fit_fn p11be_rsa_token_fit;
p11be_token_fit_fn p11be_ed25519_token_fit;
p11be_token_fit_fn p11be_ed448_token_fit;
p11be_token_fit_fn p11be_dh_token_fit;

/*
 * For a type's check: the first of `count` mechanisms (`names` for
 * messages) the token has decides by its key-size range (bits 0: any); 1,
 * 0 (why: none of them, or the range), or -1 (raised).
 */
int p11be_keymgmt_mech_fit(P11BE_TOKEN_CTX *tc, const CK_MECHANISM_TYPE *mechs,
                           const char *const *names, size_t count, size_t bits,
                           const char *what, char *why, size_t why_len);

/*
 * P11BE_FIT_TOKEN or P11BE_FIT_HOST for `key` (its host copy decides),
 * decided and kept the first time; with why non-NULL, what the token
 * lacks is written there for a host key. -1 when the token could not be
 * asked (raised; nothing kept).
 */
int p11be_keymgmt_fit(P11BE_KEY *key, char *why, size_t why_len);

OSSL_FUNC_keymgmt_free_fn p11be_keymgmt_free;
OSSL_FUNC_keymgmt_import_fn p11be_keymgmt_import;
OSSL_FUNC_keymgmt_has_fn p11be_keymgmt_has;
OSSL_FUNC_keymgmt_match_fn p11be_keymgmt_match;
OSSL_FUNC_keymgmt_validate_fn p11be_keymgmt_validate;
OSSL_FUNC_keymgmt_export_fn p11be_keymgmt_export;
OSSL_FUNC_keymgmt_get_params_fn p11be_keymgmt_get_params;
OSSL_FUNC_keymgmt_dup_fn p11be_keymgmt_dup;

/*
 * OSSL_FUNC_keymgmt_load for a key of `kind`: the reference is a
 * P11BE_KEY * that the store (store.c) passes by address
 * (OSSL_OBJECT_PARAM_REFERENCE, sizeof(P11BE_KEY *) bytes) and keeps its
 * own reference to; returns a new reference, or NULL when the reference
 * is malformed or of another kind.
 */
void *p11be_keymgmt_load(const void *reference, size_t reference_sz,
                         const struct p11be_key_kind *kind);

/* The key types, one row each in its keymgmt file. */
extern const struct p11be_key_kind p11be_kind_rsa;     /* keymgmt_rsa.c */
extern const struct p11be_key_kind p11be_kind_rsa_pss; /* keymgmt_rsa.c */
extern const struct p11be_key_kind p11be_kind_ec;      /* keymgmt_ec.c */
extern const struct p11be_key_kind p11be_kind_ed25519; /* keymgmt_ed.c */
extern const struct p11be_key_kind p11be_kind_ed448;   /* keymgmt_ed.c */
extern const struct p11be_key_kind p11be_kind_dh;      /* keymgmt_dh.c */

/*
 * The Ed25519 or Ed448 kind for a CKK_EC_EDWARDS object's CKA_EC_PARAMS
 * (the curve's OID, or the PrintableString "edwards25519" / "edwards448"
 * some tools write), or NULL.
 */
const struct p11be_key_kind *p11be_ed_kind_of(const unsigned char *params,
                                              size_t len);

/*
 * Key generation parameters every key type takes: a label and/or an id
 * make the generated pair a persistent token key.
 */
#define P11BE_KEYGEN_PARAM_LABEL "pkcs11-key-label"
#define P11BE_KEYGEN_PARAM_ID    "pkcs11-key-id"

/* The settable entries for them, in every type's gen_settable table. */
#define P11BE_KEYGEN_SETTABLE                                                  \
    OSSL_PARAM_utf8_string(P11BE_KEYGEN_PARAM_LABEL, NULL, 0),                 \
        OSSL_PARAM_octet_string(P11BE_KEYGEN_PARAM_ID, NULL, 0)

typedef struct p11be_gen_ctx_st P11BE_GEN_CTX;

/*
 * Usage flags of a generated pair (struct p11be_keymgmt_kind); a flag in
 * neither gen_use nor gen_deny is left to the token.
 */
#define P11BE_GEN_VERIFY  0x01 /* public: CKA_VERIFY */
#define P11BE_GEN_ENCRYPT 0x02 /* public: CKA_ENCRYPT */
#define P11BE_GEN_SIGN    0x04 /* private: CKA_SIGN */
#define P11BE_GEN_DECRYPT 0x08 /* private: CKA_DECRYPT */
#define P11BE_GEN_DERIVE  0x10 /* private: CKA_DERIVE */

/* What a key type adds to the shared keymgmt: one row, in its file. */
struct p11be_keymgmt_kind {
    const struct p11be_key_kind *kind; /* the token side (keyobj.h) */
    CK_MECHANISM_TYPE gen_mech;        /* CKM_*_KEY_PAIR_GEN */
    const char *gen_mech_name;         /* for messages */
    unsigned int gen_use;              /* P11BE_GEN_* set true in the pair */
    unsigned int gen_deny;             /* P11BE_GEN_* set false */
    /*
     * Usage said only where the token has gen_if_mech (0: none): EC pairs
     * get CKA_DERIVE true and CKA_ENCRYPT/CKA_DECRYPT false only on a token
     * with ECDH, as tpm2-pkcs11 (no ECDH) refuses a template saying them.
     */
    CK_MECHANISM_TYPE gen_if_mech;
    unsigned int gen_if_use;  /* P11BE_GEN_* set true with gen_if_mech */
    unsigned int gen_if_deny; /* P11BE_GEN_* set false with gen_if_mech */
    /* Generation asked from inside a token call: 1 on the host, 0 refused. */
    int host_when_reentered;
    /* The group name parameter (EC, DH); NULL: not taken. 1, 0 (raised). */
    int (*gen_group)(P11BE_GEN_CTX *gctx, const char *name);
    /* gen_set_template: the group of a key made before; NULL: none. */
    int (*gen_template_key)(P11BE_GEN_CTX *gctx, const P11BE_KEY *templ);
    /* The type's other generation parameters; NULL: none. 1, 0 (raised). */
    int (*gen_set_params)(P11BE_GEN_CTX *gctx, const OSSL_PARAM params[]);
    /*
     * Before a pair is made: checks; 1 go on, 0 failed (raised), 2 the
     * key is done (RSA's pkcs11-key-existing found it). NULL: none.
     */
    int (*gen_prepare)(P11BE_GEN_CTX *gctx, P11BE_KEY *key);
    /* The type's attributes of the public template (CKA_EC_PARAMS ..). */
    int (*gen_template)(P11BE_GEN_CTX *gctx, P11BE_ATTRS *pub);
    /* Host generation: the type's parameters on ctx; NULL: none. */
    int (*gen_host_params)(const P11BE_GEN_CTX *gctx, EVP_PKEY_CTX *ctx);
    /* Whether the token takes the key asked for (above); NULL: always. */
    p11be_token_fit_fn *token_fit;
};

/* A generation context: what every type keeps, and what some do. */
struct p11be_gen_ctx_st {
    P11BE_PROV_CTX *prov;                /* provider that made us */
    const struct p11be_keymgmt_kind *km; /* the key type's row */
    int selection;                       /* what to generate */
    char *label;                         /* pkcs11-key-label, or NULL */
    unsigned char *id;                   /* pkcs11-key-id, or NULL */
    size_t id_len;                       /* bytes in id */
    const char *group;                   /* EC: the curve's name, or NULL */
    const void *row;                     /* EC: its row in the type's table,
                                            NULL for a curve not in it */
    char group_name[32];                 /* EC: group, when not in the table */
    int explicit_ec;                     /* EC: explicit parameters asked */
    EVP_PKEY *domain;  /* DH: domain parameters (host), or NULL */
    size_t bits;       /* RSA: modulus bits; EC: the curve's, or 0 */
    BIGNUM *e;         /* RSA: public exponent */
    int existing;      /* RSA: find the pair, do not generate */
    OSSL_PARAM *extra; /* RSA-PSS restrictions for the host copy */
};

/* For a type's gen_init wrapper; the rest goes straight in its table. */
void *p11be_keygen_init(void *provctx, int selection, const OSSL_PARAM params[],
                        const struct p11be_keymgmt_kind *km);
OSSL_FUNC_keymgmt_gen_set_params_fn p11be_keygen_set_params;
OSSL_FUNC_keymgmt_gen_set_template_fn p11be_keygen_set_template;
OSSL_FUNC_keymgmt_gen_fn p11be_keygen;
OSSL_FUNC_keymgmt_gen_cleanup_fn p11be_keygen_cleanup;

/*
 * set_params: the peer's encoded public key for a parameters-only key
 * (EVP_PKEY_set1_encoded_public_key: libssl's ECDHE and FFDHE key shares).
 * Keys are otherwise immutable.
 */
OSSL_FUNC_keymgmt_set_params_fn p11be_keymgmt_set_params;
OSSL_FUNC_keymgmt_settable_params_fn p11be_keymgmt_settable_params;

/* What every key type reports (the default provider answers). */
#define P11BE_KEYMGMT_GETTABLE_COMMON                                          \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),                                \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),                   \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL)

/* Defines `fn`, a keymgmt gettable_params answering `table`. */
#define P11BE_KEYMGMT_GETTABLE_FN(fn, table)                                   \
    static const OSSL_PARAM *fn(void *provctx)                                 \
    {                                                                          \
        (void)provctx;                                                         \
        return table;                                                          \
    }

/* Defines `fn`, import/export_types: `table` for a selection in `mask`. */
#define P11BE_KEY_TYPES_FN(fn, table, mask)                                    \
    static const OSSL_PARAM *fn(int selection)                                 \
    {                                                                          \
        return (selection & (mask)) != 0 ? table : NULL;                       \
    }

/*
 * Defines a key type's new_fn, load_fn (a token key from the store) and
 * gen_init_fn: the keymgmt functions that name its row `km`.
 */
#define P11BE_KEYMGMT_KIND_FNS(new_fn, load_fn, gen_init_fn, km)               \
    static void *new_fn(void *provctx)                                         \
    {                                                                          \
        return p11be_key_new(p11be_tc(provctx), (km).kind);                    \
    }                                                                          \
    static void *load_fn(const void *reference, size_t reference_sz)           \
    {                                                                          \
        return p11be_keymgmt_load(reference, reference_sz, (km).kind);         \
    }                                                                          \
    static void *gen_init_fn(void *provctx, int selection,                     \
                             const OSSL_PARAM params[])                        \
    {                                                                          \
        return p11be_keygen_init(provctx, selection, params, &(km));           \
    }

/*
 * A key type's dispatch table: its own functions (P11BE_KEYMGMT_KIND_FNS,
 * import, import/export types, gettable params, generation's settable
 * params), then those every type shares.
 */
#define P11BE_KEYMGMT_FUNCTIONS(new_fn, load_fn, gen_init_fn, import, types,   \
                                gettable, gen_settable)                        \
    P11BE_FN(OSSL_FUNC_KEYMGMT_NEW, new_fn),                                   \
        P11BE_FN(OSSL_FUNC_KEYMGMT_LOAD, load_fn),                             \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_INIT, gen_init_fn),                     \
        P11BE_FN(OSSL_FUNC_KEYMGMT_IMPORT, import),                            \
        P11BE_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, types),                       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, types),                       \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, gettable),                 \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, gen_settable),         \
        P11BE_FN(OSSL_FUNC_KEYMGMT_FREE, p11be_keymgmt_free),                  \
        P11BE_FN(OSSL_FUNC_KEYMGMT_HAS, p11be_keymgmt_has),                    \
        P11BE_FN(OSSL_FUNC_KEYMGMT_MATCH, p11be_keymgmt_match),                \
        P11BE_FN(OSSL_FUNC_KEYMGMT_VALIDATE, p11be_keymgmt_validate),          \
        P11BE_FN(OSSL_FUNC_KEYMGMT_EXPORT, p11be_keymgmt_export),              \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, p11be_keymgmt_get_params),      \
        P11BE_FN(OSSL_FUNC_KEYMGMT_DUP, p11be_keymgmt_dup),                    \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, p11be_keygen_set_params),   \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN, p11be_keygen),                         \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_CLEANUP, p11be_keygen_cleanup)

/* ... and for a type with groups (EC, DH): libssl's key shares. */
#define P11BE_KEYMGMT_GROUP_FUNCTIONS                                          \
    P11BE_FN(OSSL_FUNC_KEYMGMT_SET_PARAMS, p11be_keymgmt_set_params),          \
        P11BE_FN(OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,                            \
                 p11be_keymgmt_settable_params),                               \
        P11BE_FN(OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE,                           \
                 p11be_keygen_set_template)

#endif
