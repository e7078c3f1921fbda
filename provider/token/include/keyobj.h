/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one key object behind every asymmetric key type (RSA, EC, EdDSA):
 * the keydata that pkcs11be's keymgmts hand to OpenSSL, and
 * that its signature, asym-cipher and key-exchange operations receive.
 *
 * A key has two halves that are kept apart:
 *
 *   host   an EVP_PKEY in the fallback library context (OpenSSL's default
 *          provider only, see reentry.h). It always holds the public parts:
 *          public-key operations (verify, encrypt), parameter checks,
 *          export and get_params run on it. For a key imported from
 *          software it holds the private parts too, which never leave the
 *          process: they re-create the token objects after a fork or a
 *          token re-insertion, and serve a call that re-enters from the
 *          module (which must not touch the token).
 *
 *   token  private-key objects. An imported key gets one session object
 *          per use (CKA_SIGN, CKA_DECRYPT or CKA_DERIVE, the only usage
 *          set), created on the object session (objects.h) the first time
 *          an operation needs it and destroyed when the key is freed. A
 *          generated key has the pair the token made; a persistent one
 *          (CKA_TOKEN, with a label and/or id) is kept on the token when
 *          freed and found again by its id or label after a fork. A key
 *          the store found by pkcs11: URI (store.c) is such a persistent
 *          key too, possibly without a public object (p11be_key_attach).
 *
 * Keys are immutable once imported or generated, and reference counted:
 * every operation context holds a reference while it uses one.
 */
#ifndef P11BE_KEYOBJ_H
#define P11BE_KEYOBJ_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "mechs.h"
#include "objects.h"
#include "token_ctx.h"
#include "runner.h"
#include "session.h"

typedef struct p11be_key_st P11BE_KEY;

/*
 * The head of what the operations keep per key (ops/pkey_op.c: host
 * contexts made ready once): freed with the key by its own function.
 */
struct p11be_key_ext {
    void (*free)(struct p11be_key_ext *ext);
};

/* What a private-key object is for: its one usage attribute. */
enum p11be_key_use {
    P11BE_USE_SIGN,    /* CKA_SIGN */
    P11BE_USE_DECRYPT, /* CKA_DECRYPT */
    P11BE_USE_DERIVE,  /* CKA_DERIVE */
    P11BE_USE_COUNT
};

/* A PKCS#11 template whose values the list owns (and wipes when freed). */
#define P11BE_ATTRS_MAX 24
typedef struct p11be_attrs_st {
    CK_ATTRIBUTE list[P11BE_ATTRS_MAX]; /* the template */
    CK_ULONG count;                     /* entries in list */
    int failed;                         /* an add ran out of room or memory */
} P11BE_ATTRS;

void p11be_attrs_add(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                     const void *value, size_t len);
void p11be_attrs_add_bool(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                          int value);
void p11be_attrs_add_ulong(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                           CK_ULONG value);
/* The BIGNUM parameter `name` of `pkey`, big-endian; 0 if pkey lacks it. */
int p11be_attrs_add_bn(P11BE_ATTRS *attrs, CK_ATTRIBUTE_TYPE type,
                       const EVP_PKEY *pkey, const char *name);
void p11be_attrs_free(P11BE_ATTRS *attrs);

/* What differs between key types: one row per type, in its keymgmt file. */
struct p11be_key_kind {
    const char *name;          /* the default provider's keymgmt name: "RSA" */
    CK_KEY_TYPE key_type;      /* CKK_* of the token objects */
    const char *private_param; /* the OSSL_PARAM only a private key has */
    /* Adds the private value attributes (CKA_MODULUS ..) from key->host. */
    int (*private_attrs)(const P11BE_KEY *key, P11BE_ATTRS *attrs);
    /*
     * Makes the host copy (public parts only) from the token object `obj`
     * read on `sess`: its public key, or a private key that carries the
     * public values (RSA: CKA_MODULUS, CKA_PUBLIC_EXPONENT). `extra` (may
     * be NULL) adds parameters to the host key (RSA-PSS restrictions).
     * The one place per type that turns token attributes into a public
     * key: generation, pkcs11-key-existing and the store all use it.
     * 1, or 0 (raised).
     */
    int (*public_from_token)(P11BE_KEY *key, P11BE_SESSION *sess,
                             CK_OBJECT_HANDLE obj, const OSSL_PARAM *extra);
    /*
     * The private values (OpenSSL's parameter names) read from the private
     * object `obj` of an exportable key, as a fresh OSSL_PARAM array the
     * caller wipes and frees; NULL (raised).
     */
    OSSL_PARAM *(*private_from_token)(P11BE_KEY *key, P11BE_SESSION *sess,
                                      CK_OBJECT_HANDLE obj);
};

struct p11be_key_st {
    P11BE_TOKEN_CTX *tc;               /* whose token holds the objects */
    const struct p11be_key_kind *kind; /* key type */
    int refs;                          /* holders; freed at 0 */
    pthread_mutex_t lock;              /* guards priv[] and pub */
    EVP_PKEY *host;                    /* see above; NULL while empty */
    int host_private;                  /* host holds the private parts */
    int params_only;                   /* host holds domain parameters only */
    int token_private;                 /* private half only on the token */
    int exportable;                    /* token pair that may be read out */
    EVP_PKEY *host_full;               /* exportable: host + private parts */
    int persistent;                    /* CKA_TOKEN objects, kept at free */
    int need_login;                    /* objects are CKA_PRIVATE */
    /*
     * Imported keys: one object per use, on the object session (objects.h).
     * Token keys: [0] for every use, and pub; their generation and forks
     * are those of the session they were made or found on.
     */
    P11BE_OBJECT_REF priv[P11BE_USE_COUNT];
    P11BE_OBJECT_REF pub; /* the token's public object, if any */
    /*
     * Token keys (pkcs11-key-cache): a session copy of priv[0] on the
     * object session, made at first use and used for every operation
     * (SoftHSM2 unwraps a token object's private value at every use, a
     * session object's once); made again when it went with its object
     * session, destroyed at free.
     */
    P11BE_OBJECT_REF copy;
    int copy_off;      /* no copy: pkcs11-key-cache = no or the token refused */
    int copy_decided;  /* copy_off read from the setting */
    unsigned char *id; /* CKA_ID of a persistent key */
    size_t id_len;     /* bytes in id */
    char *label;       /* CKA_LABEL of a persistent key */
    /*
     * Whether the token can use it (ops/keymgmt.h, P11BE_FIT_*): decided
     * once, by the keymgmt, and read and set with __atomic builtins.
     */
    int fit;
    /*
     * A key from software: what the token answered when it refused to
     * take its private half (p11be_key_import_private), set once under
     * lock; CKR_OK while it has not.
     */
    CK_RV import_refused;
    /* The operations' own; set once with an atomic store, or NULL. */
    struct p11be_key_ext *ext;
};

P11BE_KEY *p11be_key_new(P11BE_TOKEN_CTX *tc,
                         const struct p11be_key_kind *kind);
int p11be_key_up_ref(P11BE_KEY *key);
/* Drops a reference; the last one destroys the session objects. */
void p11be_key_free(P11BE_KEY *key);

/* Gives the key its host copy (taking it over); once, on import. */
int p11be_key_set_host(P11BE_KEY *key, EVP_PKEY *host, int has_private);

/*
 * Gives a key domain parameters only (EC parameter generation: libssl's
 * ECDHE peer keys); p11be_key_set_public() may complete it once.
 */
int p11be_key_set_params_host(P11BE_KEY *key, EVP_PKEY *params);
/*
 * Turns a parameters-only key into a public key: `host` (taken over)
 * replaces the parameters. Raises and returns 0 for any other key.
 */
int p11be_key_set_public(P11BE_KEY *key, EVP_PKEY *host);

/* Whether a private half exists (in the host copy or on the token). */
int p11be_key_has_private(const P11BE_KEY *key);

/*
 * The key with its private parts, for export and encoders: the host copy
 * of a key from software, or for an exportable generated pair (see
 * p11be_key_generate) a copy with the private values read from the token
 * with C_GetAttributeValue, once, when first asked. Borrowed: it lives as
 * long as the key. NULL (raised) for a key whose private half must stay
 * on the token, or when the token cannot give it.
 */
EVP_PKEY *p11be_key_private_host(P11BE_KEY *key);

/* A context on the host copy (fallback library context); raises on NULL. */
EVP_PKEY_CTX *p11be_key_host_ctx(const P11BE_KEY *key);

/*
 * Runs `run` (runner.h) on the key's private object for `use`: fills
 * run->tc, the login and the object hooks (the object created, created
 * again or found again as needed; a persistent key whose handle the token
 * dropped finds it again on a new try), so the caller sets only
 * .req.mech, .fn, .mech_name, .step and .arg. The step's `obj` is the
 * key's object. 1, or 0 (raised unless run->quiet or run->refused).
 */
int p11be_key_run(P11BE_KEY *key, enum p11be_key_use use,
                  struct p11be_run *run);

/*
 * One private-key operation on the token: C_SignInit + C_Sign (for
 * P11BE_USE_SIGN) or C_DecryptInit + C_Decrypt (P11BE_USE_DECRYPT) of `in`
 * into out (room *out_len), retried once on a lost session. Returns 1, or
 * 0 (raised). With `refused` non-NULL, a C_*Init that rejects the
 * mechanism or its parameters (CKR_MECHANISM_INVALID,
 * CKR_MECHANISM_PARAM_INVALID, CKR_ARGUMENTS_BAD) sets *refused and
 * raises nothing, so that the caller can go another way.
 */
int p11be_key_private_op(P11BE_KEY *key, enum p11be_key_use use,
                         CK_MECHANISM *mech, const char *mech_name,
                         const unsigned char *in, size_t in_len,
                         unsigned char *out, size_t *out_len, int *refused);

/*
 * For an operation's init on a key from software: its private object for
 * `use` made now (C_CreateObject through the runner, as the operation
 * would, unless it is alive), so that a token that refuses the key
 * (p11be_ckr_import_refused: its template, curve or domain parameters,
 * or imports at all) is known before the operation chooses where to run. 1 made
 * (or nothing to make: a token key), 0 failed otherwise (raised), -1 refused:
 * nothing raised, the code kept in key->import_refused and answered from there
 * for every later call, so a key costs the token one refused C_CreateObject.
 */
int p11be_key_import_private(P11BE_KEY *key, enum p11be_key_use use);

/* Key-pair generation on the token: what the keymgmt adds to the objects. */
struct p11be_keygen {
    CK_MECHANISM_TYPE mech;  /* CKM_RSA_PKCS_KEY_PAIR_GEN .. */
    const char *mech_name;   /* for messages */
    P11BE_ATTRS *pub;        /* type attributes and usage of the public key */
    P11BE_ATTRS *priv;       /* usage of the private key */
    const char *label;       /* CKA_LABEL; with id, makes a persistent pair */
    const unsigned char *id; /* CKA_ID */
    size_t id_len;           /* bytes in id */
    const OSSL_PARAM *extra; /* for the host copy: RSA-PSS restrictions */
    int exportable;          /* a session pair whose private half may leave */
};

/*
 * Generates the pair (session objects, or token objects when a label or
 * id is given), points the key at it and gives it its host copy from the
 * public object (p11be_key_load_public() with gen->extra). The private key
 * is CKA_SENSITIVE and not CKA_EXTRACTABLE, unless gen->exportable (a
 * session pair only): then it is the other way round, and
 * p11be_key_private_host() reads it out on request. Returns 1, or 0
 * (raised) on failure, also when building gen->pub or gen->priv failed;
 * -1 (nothing raised) when gen->exportable and the token refuses such a
 * template, for the caller to make the key another way.
 */
int p11be_key_generate(P11BE_KEY *key, const struct p11be_keygen *gen);

/*
 * Points the key at a persistent pair already on the token (made by an
 * earlier process): one private and one public object of the key's type,
 * found after a login by `id` when id_len > 0, else by `label`. The keymgmt
 * then reads the public parts as after generation. 1, or 0 (raised).
 */
int p11be_key_find(P11BE_KEY *key, const char *label, const unsigned char *id,
                   size_t id_len);

/*
 * Points the key at token objects found on `sess` (the store): `priv`
 * (CK_INVALID_HANDLE for a public key) and `pub` (CK_INVALID_HANDLE when
 * the token has no public object for it). The key is then a persistent
 * token key, kept on the token when freed and found again by `id` (when
 * id_len > 0) or `label` after a fork or re-insertion. `need_login`: the
 * private object is CKA_PRIVATE. 1, or 0 (out of memory).
 */
int p11be_key_attach(P11BE_KEY *key, const P11BE_SESSION *sess,
                     CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub,
                     int need_login, const char *label, const unsigned char *id,
                     size_t id_len);

/*
 * Sets the key's host copy from its token objects with the kind's
 * public_from_token(): from the public object when it has one, else from
 * the private one. `sess` may be NULL (one is borrowed). 1, or 0 (raised).
 */
int p11be_key_load_public(P11BE_KEY *key, P11BE_SESSION *sess,
                          const OSSL_PARAM *extra);

/*
 * C_GetAttributeValue of `count` (at most P11BE_ATTRS_MAX) attributes of
 * `obj` into fresh, zero-terminated buffers (tmpl[i].pValue, free with
 * p11be_token_free_attrs(), or p11be_token_free_secret() for private key
 * values). Returns the token's CK_RV, raising nothing; on failure the
 * buffers are wiped and freed.
 */
CK_RV p11be_token_get_attrs(P11BE_SESSION *sess, CK_OBJECT_HANDLE obj,
                            CK_ATTRIBUTE *tmpl, CK_ULONG count);
/*
 * The same, raising "C_GetAttributeValue of <what>: CKR_..." on failure;
 * returns 1 or 0.
 */
int p11be_token_read_attrs(P11BE_TOKEN_CTX *tc, P11BE_SESSION *sess,
                           CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *tmpl,
                           CK_ULONG count, const char *what);
void p11be_token_free_attrs(CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* p11be_token_free_attrs() of secret values: wiped first. */
void p11be_token_free_secret(CK_ATTRIBUTE *tmpl, CK_ULONG count);

#endif
