/* SPDX-License-Identifier: Apache-2.0 */
/* A caller's secret key as a token session object: see secret_key.h. */
#include "secret_key.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "debug.h"
#include "err.h"
#include "mechs.h"
#include "reentry.h"

/* How a refused import is kept among the token's refusals (mechs.h). */
#define SECRET_KEY_IMPORT_SHAPE (CKM_VENDOR_DEFINED | 0x11be5ecUL)

int p11be_secret_key_refused(P11BE_TOKEN_CTX *tc, CK_KEY_TYPE type)
{
    const struct p11be_mech_shape shape = {SECRET_KEY_IMPORT_SHAPE, type, 0};

    return p11be_key_shape_refused(tc, &shape);
}

int p11be_secret_key_set(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key,
                         CK_KEY_TYPE type, const unsigned char *value,
                         size_t len)
{
    unsigned char *copy;

    if (key->value != NULL && key->type == type && key->len == len
        && CRYPTO_memcmp(key->value, value, len) == 0)
        return 1;
    /* One spare byte, so that an empty key still has a buffer. */
    copy = OPENSSL_malloc(len + 1);
    if (copy == NULL) {
        p11be_raise(tc->handle, P11BE_R_OUT_OF_MEMORY, "holding a %zu-byte key",
                    len);
        return 0;
    }
    if (len > 0)
        memcpy(copy, value, len);
    if (!p11be_reentered()) {
        p11be_object_destroy(tc, &key->ref);
    } else if (key->ref.handle != CK_INVALID_HANDLE) {
        /* Made outside re-entry, so no other can be pending. */
        key->stale = key->ref;
        key->ref.handle = CK_INVALID_HANDLE;
    }
    OPENSSL_clear_free(key->value, key->len + 1);
    key->value = copy;
    key->len = len;
    key->type = type;
    key->usage = 0;
    key->refused = CKR_OK;
    return 1;
}

int p11be_secret_key_copy(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *dst,
                          const P11BE_SECRET_KEY *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->ref.handle = CK_INVALID_HANDLE;
    dst->stale.handle = CK_INVALID_HANDLE;
    return src->value == NULL
           || p11be_secret_key_set(tc, dst, src->type, src->value, src->len);
}

/* Every usage attribute is given: all but the ones asked for false. */
static int secret_key_create(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key,
                             CK_FLAGS usage, const char *what)
{
    static const CK_ATTRIBUTE_TYPE usages[][2] = {
        {CKA_ENCRYPT, CKF_ENCRYPT}, {CKA_DECRYPT, CKF_DECRYPT},
        {CKA_SIGN, CKF_SIGN},       {CKA_VERIFY, CKF_VERIFY},
        {CKA_WRAP, CKF_WRAP},       {CKA_UNWRAP, CKF_UNWRAP},
        {CKA_DERIVE, CKF_DERIVE},
    };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BBOOL *hidden = key->derive_readable ? &no : &yes;
    CK_ATTRIBUTE tmpl[14] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key->type, sizeof(key->type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_SENSITIVE, hidden, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, key->derive_readable ? &yes : &no, sizeof(CK_BBOOL)},
        {CKA_VALUE, key->value, key->len},
    };
    struct p11be_object_call c = {.tmpl = tmpl, .count = 14, .ref = &key->ref};
    const struct p11be_mech_shape shape = {SECRET_KEY_IMPORT_SHAPE, key->type,
                                           0};
    CK_RV rv = CKR_OK;
    size_t i;

    for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
        tmpl[7 + i].type = usages[i][0];
        tmpl[7 + i].pValue = (usage & usages[i][1]) != 0 ? &yes : &no;
        tmpl[7 + i].ulValueLen = sizeof(CK_BBOOL);
    }
    if (!p11be_object_make(tc, 0, &c, &rv)) {
        key->refused = p11be_ckr_import_refused(rv) ? rv : CKR_OK;
        p11be_raise(tc->handle, P11BE_R_TOKEN_OP_FAILED,
                    "%s: importing the %zu-byte key as a session object: %s%s",
                    what, key->len, p11be_ckr_name(rv),
                    key->refused != CKR_OK
                        ? " (the token does not take such a key)"
                        : "");
        if (key->refused != CKR_OK) {
            P11BE_DEBUG("%s: the token refuses key type 0x%lx (%s): by the "
                        "default provider from now on, where allowed",
                        what, (unsigned long)key->type, p11be_ckr_name(rv));
            p11be_key_note_refused(tc, &shape);
        }
        return 0;
    }
    key->usage = usage;
    P11BE_DEBUG("%s: key imported as object %lu", what,
                (unsigned long)key->ref.handle);
    return 1;
}

int p11be_secret_key_object(struct p11be_run *run, P11BE_SESSION *sess,
                            P11BE_OBJECT_REF *ref)
{
    P11BE_SECRET_KEY *key = run->object_arg;
    CK_FLAGS usage = (CK_FLAGS)run->object_use;
    const char *what = run->what != NULL ? run->what : run->mech_name;
    int ok = 1;

    (void)sess; /* made on the object session */
    if (key->value == NULL) {
        p11be_raise(run->tc->handle, P11BE_R_NO_KEY, "%s: no key set", what);
        return 0;
    }
    if (key->lock != NULL)
        pthread_mutex_lock(key->lock);
    p11be_object_destroy(run->tc, &key->stale);
    if ((key->usage & usage) != usage
        || !p11be_object_alive(run->tc, &key->ref)) {
        p11be_object_destroy(run->tc, &key->ref);
        ok = secret_key_create(run->tc, key, usage, what);
    }
    *ref = key->ref;
    if (key->lock != NULL)
        pthread_mutex_unlock(key->lock);
    return ok ? P11BE_OBJECT_ON_SESSION : 0;
}

int p11be_secret_key_import(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key,
                            const char *what, CK_FLAGS usage)
{
    struct p11be_run run = {
        .tc = tc, .what = what, .object_arg = key, .object_use = (int)usage};
    P11BE_OBJECT_REF ref;
    int made;

    ERR_set_mark();
    made = p11be_secret_key_object(&run, NULL, &ref) != 0;
    if (!made && key->refused != CKR_OK) {
        ERR_pop_to_mark(); /* the caller says what happens instead */
        return -1;
    }
    ERR_clear_last_mark();
    return made;
}

void p11be_secret_key_clear(P11BE_TOKEN_CTX *tc, P11BE_SECRET_KEY *key)
{
    /* From inside a token call the objects are left to the object session. */
    if (!p11be_reentered()) {
        p11be_object_destroy(tc, &key->stale);
        p11be_object_destroy(tc, &key->ref);
    }
    key->ref.handle = CK_INVALID_HANDLE;
    key->stale.handle = CK_INVALID_HANDLE;
    OPENSSL_clear_free(key->value, key->len + 1);
    key->value = NULL;
    key->len = 0;
    key->usage = 0;
}
