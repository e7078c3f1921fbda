/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A secret key the caller gave us, as a session object on the token: one
 * lifecycle for every operation that keys the token with host bytes
 * (MACs, ciphers, HKDF).
 *
 * The bytes stay on the host, so that the object can be made again after
 * the token was removed, its object session was lost or the process
 * forked, and so that setting the same key again costs nothing. The
 * object is made on first use with the minimal template (objects.h: not
 * on the token, not private, sensitive, not extractable, and only the
 * usage asked for: SoftHSM2 among others defaults every usage of a secret
 * key to true). An object replaced while re-entered (no token call is
 * allowed then) is destroyed at the next chance.
 *
 * The runner (runner.h) makes and uses the object:
 *
 *     p11be_secret_key_set(tc, &key, CKK_AES, bytes, 16);
 *     struct p11be_run run = {..., .object = p11be_secret_key_object,
 *                             .object_arg = &key, .object_use = CKF_SIGN};
 *     p11be_run(&run); // the step gets the object's handle
 *     p11be_secret_key_clear(tc, &key);
 */
#ifndef P11BE_SECRET_KEY_H
#define P11BE_SECRET_KEY_H

#include <pthread.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "objects.h"
#include "runner.h"
#include "token_ctx.h"

typedef struct p11be_secret_key_st {
    CK_KEY_TYPE type;       /* CKK_AES, CKK_DES3, CKK_GENERIC_SECRET */
    unsigned char *value;   /* CKA_VALUE; NULL while no key is set */
    size_t len;             /* bytes in value */
    CK_FLAGS usage;         /* CKF_* the object was made for */
    int derive_readable;    /* made not sensitive and extractable: tokens
                               (NSS) pass both on to what is derived from
                               it, whose value the caller then reads */
    pthread_mutex_t *lock;  /* owner's lock when threads share the key */
    P11BE_OBJECT_REF ref;   /* the session object; none until first use */
    P11BE_OBJECT_REF stale; /* replaced during re-entry, to destroy */
    CK_RV refused;          /* the token's answer when it would not take
                               the key (p11be_ckr_import_refused); CKR_OK */
} P11BE_SECRET_KEY;

/*
 * Takes the bytes; drops the object when they differ from the ones it was
 * made from. 0 (raised) when out of memory. No token call while re-entered.
 */
int p11be_secret_key_set(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key,
                         CK_KEY_TYPE type, const unsigned char *value,
                         size_t len);

/*
 * The bytes only: the copy makes its own object when it needs one. dst is
 * overwritten (it may be a byte copy of src, as a memdup of a context).
 */
int p11be_secret_key_copy(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *dst,
                          const P11BE_SECRET_KEY *src);

/*
 * The runner's object maker (runner.h): run->object_arg is the key,
 * run->object_use the CKF_* usage. Makes the object (C_CreateObject) when
 * missing, gone or made for other usage; raises naming run->what or
 * run->mech_name when it cannot.
 */
int p11be_secret_key_object(struct p11be_run *run, P11BE_SESSION *sess,
                            P11BE_OBJECT_REF *ref);

/*
 * Makes the key's object now for `usage` (C_CreateObject when it has
 * none), so that an operation knows at init whether the token takes the
 * key: 1 made, 0 raised, or -1 when the token refused such a key
 * (key->refused; nothing raised): the caller hands the work to the
 * default provider, or fails with P11BE_SECRET_KEY_REFUSED.
 */
int p11be_secret_key_import(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key,
                            const char *what, CK_FLAGS usage);

/* The message (with the CKR_* name and the setting's source) for -1. */
#define P11BE_SECRET_KEY_REFUSED                                               \
    "%s: the token refused to import the key (C_CreateObject: %s), and "       \
    "%s=no keeps the default provider from doing it"

/*
 * Whether the token refused to import a key of `type` before (a template
 * or read-only refusal: key->refused), learned once per token (mechs.h),
 * so that later contexts go to the default provider without asking it.
 */
int p11be_secret_key_refused(P11BE_TOKEN_CTX *tc, CK_KEY_TYPE type);

/* Destroys the object (not while re-entered) and wipes the bytes. */
void p11be_secret_key_clear(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key);

#endif
