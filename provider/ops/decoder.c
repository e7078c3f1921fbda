/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoders for the PKCS11 KEY URI form (keyuri.h) that encoder.c writes
 * for a persistent token key: they read the URI back and give OpenSSL the
 * token key it names, by reference, so that a file written by
 *
 *   openssl genpkey -provider pkcs11be .. -pkeyopt pkcs11-key-label:NAME
 *
 * works wherever a key file does (openssl pkey/pkeyutl/req -key,
 * PEM_read_bio_PrivateKey, d2i_PrivateKey in an application).
 *
 * Two steps, as OpenSSL's decoders chain them:
 *
 *   "DER" (input=pem): the PEM block with our label, to its DER with the
 *       data structure "pkcs11-uri" and the key's type as data type. Any
 *       other PEM block is left alone (the default provider's pem2der
 *       takes it). It looks the key up, so that a URI naming no key fails
 *       here with the store's message (OpenSSL's file: store drops errors
 *       of the decoders it runs later), but never yields the key itself:
 *       the file: store hands a key reference to the keymgmt of the
 *       store's provider, so it must get data, which it decodes again
 *       with the key decoders, ours among them.
 *   "RSA", "EC", .. (input=der, structure=pkcs11-uri): the DER to the
 *       key, found with p11be_store_key_by_uri() (the store's search and
 *       login; the passphrase callback asks for a PIN the settings do not
 *       give). Without a data type (DER input) OpenSSL tries each key
 *       type's decoder until one yields a key: one whose type is not the
 *       key's leaves it to the next. A URI that names no key is an error.
 *
 * The reference (OSSL_OBJECT_PARAM_REFERENCE) is a P11BE_KEY *, which the
 * keymgmts' load takes with a reference of its own (keymgmt.h).
 * Inside a token call (reentry.h) nothing is decoded, so the module's own
 * OpenSSL use never reaches the token through here.
 */
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "algorithms.h"
#include "err.h"
#include "keymgmt.h"
#include "keyobj.h"
#include "keyuri.h"
#include "names.h"
#include "provider.h"
#include "reentry.h"
#include "store.h"
#include "uri.h"

/* The DER form is a few hundred bytes; anything this large is not ours. */
#define DEC_DER_MAX 65536

/*
 * OpenSSL tries the key decoders one type after another on the same
 * input, and each look-up costs the token a search. A look-up notes the
 * URI and the type of the key it found, on this thread; the decoders of
 * the other types then pass without a search, and the one of that type
 * searches again (the key may have changed since) and clears the note.
 * A URI longer than the note is simply searched each time.
 */
#define DEC_SEEN_MAX 512
static __thread char dec_seen_uri[DEC_SEEN_MAX];
static __thread const struct p11be_key_kind *dec_seen_kind; /* NULL: none */

static OSSL_FUNC_decoder_newctx_fn pem_newctx;
static OSSL_FUNC_decoder_freectx_fn dec_freectx;
static OSSL_FUNC_decoder_decode_fn pem_decode;
static OSSL_FUNC_decoder_decode_fn der_decode;

struct dec_ctx_st {
    P11BE_PROV_CTX *prov;              /* provider that made us */
    const struct p11be_key_kind *kind; /* what it yields; NULL for PEM */
};

typedef struct dec_ctx_st DEC_CTX;

static void *dec_newctx(void *provctx, const struct p11be_key_kind *kind)
{
    DEC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->prov = provctx;
    ctx->kind = kind;
    return ctx;
}

static void *pem_newctx(void *provctx)
{
    return dec_newctx(provctx, NULL);
}

static void dec_freectx(void *vctx)
{
    OPENSSL_clear_free(vctx, sizeof(DEC_CTX));
}

/*
 * What a key file may name: a private key on the token, and no PIN.
 * pkcs11be writes key files for token private keys only and never writes
 * a PIN into one; a file that names a PIN (pin-value) or a file to read
 * it from (pin-source) would spend a PIN try on whatever the process can
 * read, so it is refused before anything is read or tried (a URI the
 * application gives itself, as a command line's -inkey, may still carry
 * one: RFC 7512). A file naming a public key is refused with the reason
 * here: the file: store would drop it later with no word from pkcs11be.
 * A URI that does not parse is left to the store, which says why.
 */
static int dec_uri_acceptable(DEC_CTX *ctx, const char *uri)
{
    P11BE_URI parsed;
    char why[256];
    int has_pin, type;

    if (!p11be_uri_parse(uri, &parsed, why, sizeof(why)))
        return 1;
    has_pin = parsed.pin_value != NULL || parsed.pin_source != NULL;
    type = parsed.type;
    p11be_uri_clear(&parsed);
    if (has_pin) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "a %s file must not carry a PIN (pin-value or "
                    "pin-source): %.*s?... refused; give the PIN with "
                    "pkcs11-pin, CRYPTOGRAPHY_PKCS11_PASSWORD or a "
                    "passphrase (-passin)",
                    P11BE_KEYURI_PEM_LABEL, (int)strcspn(uri, "?"), uri);
        return 0;
    }
    if (type != P11BE_URI_TYPE_ANY && type != P11BE_URI_TYPE_PRIVATE) {
        p11be_raise(ctx->prov->handle, P11BE_R_NO_KEY,
                    "a %s file names a private key on the token, and %.*s "
                    "names type=%s: name the private key (type=private); a "
                    "public key is kept as its PEM (openssl pkey -pubout)",
                    P11BE_KEYURI_PEM_LABEL, (int)strcspn(uri, "?"), uri,
                    p11be_uri_type_name(type));
        return 0;
    }
    return 1;
}

/*
 * The key `uri` names, as a new reference; NULL (raised) when none. Notes
 * its type for the decoders that follow on this thread (see dec_seen_*).
 */
static P11BE_KEY *dec_lookup(DEC_CTX *ctx, const char *uri,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    size_t len = strlen(uri);
    P11BE_KEY *key;

    if (!dec_uri_acceptable(ctx, uri))
        return NULL;
    key = p11be_store_key_by_uri(ctx->prov, uri, pw_cb, pw_cbarg);
    if (key != NULL && len < DEC_SEEN_MAX) {
        memcpy(dec_seen_uri, uri, len + 1);
        dec_seen_kind = key->kind;
    }
    return key;
}

/* All of `in`, up to DEC_DER_MAX bytes; NULL when longer or on error. */
static unsigned char *dec_read_all(BIO *in, size_t *len)
{
    unsigned char *buf;
    size_t used = 0, got;

    buf = OPENSSL_malloc(DEC_DER_MAX + 1);
    if (buf == NULL)
        return NULL;
    while (used <= DEC_DER_MAX
           && BIO_read_ex(in, buf + used, DEC_DER_MAX + 1 - used, &got)
           && got > 0)
        used += got;
    if (used == 0 || used > DEC_DER_MAX) {
        OPENSSL_free(buf);
        return NULL;
    }
    *len = used;
    return buf;
}

/*
 * The URI in a PKCS11KeyURI (keyuri.h), as a fresh string; NULL when the
 * DER is something else. Fields after the first are ignored.
 */
static char *dec_uri_of(const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    ASN1_SEQUENCE_ANY *seq;
    const ASN1_TYPE *field;
    const ASN1_STRING *str;
    char *uri = NULL;
    int len;

    if (der_len > DEC_DER_MAX)
        return NULL;
    seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)der_len);
    if (seq == NULL)
        return NULL;
    if (p != der + der_len || sk_ASN1_TYPE_num(seq) < 1)
        goto out_free_seq;
    field = sk_ASN1_TYPE_value(seq, 0);
    if (field->type != V_ASN1_UTF8STRING)
        goto out_free_seq;
    str = field->value.utf8string;
    len = ASN1_STRING_length(str);
    if (len < 7
        || strncasecmp((const char *)ASN1_STRING_get0_data(str), "pkcs11:", 7)
               != 0
        || memchr(ASN1_STRING_get0_data(str), '\0', (size_t)len) != NULL)
        goto out_free_seq;
    uri =
        OPENSSL_strndup((const char *)ASN1_STRING_get0_data(str), (size_t)len);
out_free_seq:
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return uri;
}

/*
 * The PEM step. "Not ours" is not an error: a decoder that recognises
 * nothing returns 1 without calling data_cb, and OpenSSL tries the next.
 */
static int pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                      OSSL_CALLBACK *data_cb, void *data_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    static int object_type = OSSL_OBJECT_PKEY;
    (void)selection;
    DEC_CTX *ctx = vctx;
    char *name = NULL, *header = NULL, *uri = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    OSSL_PARAM params[5];
    P11BE_KEY *key;
    BIO *in;
    int ok = 1;

    if (p11be_reentered())
        return 1;
    in = BIO_new_from_core_bio(ctx->prov->corebio_libctx, cin);
    if (in == NULL)
        return 0;
    /* PEM_read_bio() raises "no start line" on other input: not ours. */
    ERR_set_mark();
    if (PEM_read_bio(in, &name, &header, &der, &der_len) <= 0
        || strcmp(name, P11BE_KEYURI_PEM_LABEL) != 0) {
        ERR_pop_to_mark();
        goto out_free;
    }
    ERR_pop_to_mark();
    uri = dec_uri_of(der, (size_t)der_len);
    if (uri == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the %s block holds no pkcs11: URI",
                    P11BE_KEYURI_PEM_LABEL);
        ok = 0;
        goto out_free;
    }
    key = dec_lookup(ctx, uri, pw_cb, pw_cbarg);
    if (key == NULL) {
        ok = 0; /* raised: the URI names no key, or the token failed */
        goto out_free;
    }
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)key->kind->name, 0);
    params[2] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_STRUCTURE, P11BE_KEYURI_STRUCTURE, 0);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der,
                                                  (size_t)der_len);
    params[4] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
    p11be_key_free(key);
out_free:
    OPENSSL_free(uri);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(in);
    return ok;
}

/* The DER step: the key, by reference, if it is of this decoder's type. */
static int der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                      OSSL_CALLBACK *data_cb, void *data_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    static int object_type = OSSL_OBJECT_PKEY;
    (void)selection;
    DEC_CTX *ctx = vctx;
    unsigned char *der;
    size_t der_len = 0;
    OSSL_PARAM params[4];
    P11BE_KEY *key;
    char *uri = NULL;
    BIO *in;
    int ok = 1;

    if (p11be_reentered())
        return 1;
    in = BIO_new_from_core_bio(ctx->prov->corebio_libctx, cin);
    if (in == NULL)
        return 0;
    der = dec_read_all(in, &der_len);
    BIO_free(in);
    if (der != NULL)
        uri = dec_uri_of(der, der_len);
    OPENSSL_free(der);
    if (uri == NULL)
        return 1; /* not ours */
    if (dec_seen_kind != NULL && strcmp(dec_seen_uri, uri) == 0) {
        if (dec_seen_kind != ctx->kind)
            goto out_free_uri; /* another type's decoder takes it */
        dec_seen_kind = NULL;
    }
    key = dec_lookup(ctx, uri, pw_cb, pw_cbarg);
    if (key == NULL) {
        ok = 0; /* raised: the URI names no key, or the token failed */
        goto out_free_uri;
    }
    if (key->kind != ctx->kind)
        goto out_free_key; /* another type's decoder takes it */
    dec_seen_kind = NULL;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)ctx->kind->name, 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                                  &key, sizeof(key));
    params[3] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
out_free_key:
    p11be_key_free(key); /* load took its own reference */
out_free_uri:
    OPENSSL_free(uri);
    return ok;
}

const OSSL_DISPATCH p11be_decoder_pem_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))pem_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))pem_decode},
    {0, NULL},
};

/* The DER step of one key type: its newctx and dispatch table. */
#define DEC_KIND(newctx, functions, kind)                                      \
    static void *newctx(void *provctx)                                         \
    {                                                                          \
        return dec_newctx(provctx, kind);                                      \
    }                                                                          \
    const OSSL_DISPATCH functions[] = {                                        \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))newctx},                    \
        {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx},              \
        {OSSL_FUNC_DECODER_DECODE, (void (*)(void))der_decode},                \
        {0, NULL},                                                             \
    }

/* clang-format off */
DEC_KIND(rsa_newctx, p11be_decoder_rsa_functions, &p11be_kind_rsa);
DEC_KIND(rsa_pss_newctx, p11be_decoder_rsa_pss_functions, &p11be_kind_rsa_pss);
DEC_KIND(ec_newctx, p11be_decoder_ec_functions, &p11be_kind_ec);
DEC_KIND(ed25519_newctx, p11be_decoder_ed25519_functions, &p11be_kind_ed25519);
DEC_KIND(ed448_newctx, p11be_decoder_ed448_functions, &p11be_kind_ed448);
/* clang-format on */
