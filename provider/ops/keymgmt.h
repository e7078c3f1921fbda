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

/*
 * A host copy for `key` (of its kind) from params, as EVP_PKEY_fromdata()
 * with `evp_selection` in the fallback library context; raises on NULL.
 */
EVP_PKEY *p11be_keymgmt_host_from(P11BE_KEY *key, int evp_selection,
                                  OSSL_PARAM params[]);

/*
 * The same, given to the key as its public host copy (p11be_key_set_host):
 * 1, or 0 (raised, nothing kept).
 */
int p11be_keymgmt_set_public_from(P11BE_KEY *key, OSSL_PARAM params[]);

/*
 * CKA_EC_POINT's value: a DER OCTET STRING as PKCS#11 says, or the raw
 * point (key) that some tokens give. Points *point into `value`.
 */
void p11be_ec_point_of(const unsigned char *value, size_t len,
                       const unsigned char **point, size_t *point_len);

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
    const void *row;                     /* EC: its row in the type's table */
    EVP_PKEY *domain;  /* DH: domain parameters (host), or NULL */
    size_t bits;       /* RSA: modulus bits */
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

/* The dispatch entries every key type shares. */
#define P11BE_KEYMGMT_FUNCTIONS                                                \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))p11be_keymgmt_free},              \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p11be_keymgmt_has},            \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p11be_keymgmt_match},        \
        {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))p11be_keymgmt_validate},  \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p11be_keymgmt_export},      \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS,                                         \
         (void (*)(void))p11be_keymgmt_get_params},                            \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))p11be_keymgmt_dup},            \
        {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                     \
         (void (*)(void))p11be_keygen_set_params},                             \
        {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))p11be_keygen},                 \
    {                                                                          \
        OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))p11be_keygen_cleanup    \
    }

/*
 * How a key pair is made: the pkcs11-keygen-exportable setting for one
 * asked for without a label or id; a persistent key (label or id) is
 * always P11BE_KEYGEN_TOKEN. In pkcs11-offload = keys mode the default is
 * "yes" (only named keys go to the token).
 */
enum p11be_keygen_mode {
    P11BE_KEYGEN_TOKEN,      /* "no": on the token, never leaves it */
    P11BE_KEYGEN_EXPORTABLE, /* "auto" (default): a session pair on the
                                token that the application can write out
                                (keyobj.h); in memory where the token
                                refuses such a pair */
    P11BE_KEYGEN_HOST,       /* "yes": by OpenSSL's default provider, in
                                process memory */
};

#endif
