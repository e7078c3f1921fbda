/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoders for the PKCS11 KEY URI form (keyuri.h) that encoder.c writes
 * for a persistent token key: they read the URI back and give OpenSSL the
 * token key it names, by reference, wherever OpenSSL reads a key file
 * (doc/token-keys.md, "Key files"). Two steps, as OpenSSL chains them:
 *
 *   "DER" (input=pem): our PEM block to its DER, with the data structure
 *       "pkcs11-uri" and the key's type as data type; any other PEM block
 *       is left to the default provider's pem2der. It looks the key up,
 *       so that a URI naming no key fails here with the store's message
 *       (OpenSSL's file: store drops errors of the decoders it runs
 *       later), but never yields the key itself: the file: store hands a
 *       key reference to the keymgmt of the store's provider, so it must
 *       get data, which it decodes again with the key decoders.
 *   "RSA", "EC", .. (input=der, structure=pkcs11-uri): the DER to the
 *       key, found with p11be_store_key_by_uri() (the passphrase callback
 *       asks for a PIN the settings do not give). Without a data type
 *       OpenSSL tries each key type's decoder until one yields a key: one
 *       whose type is not the key's leaves it to the next.
 *
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

static OSSL_FUNC_decoder_freectx_fn dec_freectx;
static OSSL_FUNC_decoder_decode_fn dec_decode;

typedef struct dec_ctx_st {
    P11BE_PROV_CTX *prov;              /* provider that made us */
    const struct p11be_key_kind *kind; /* what it yields; NULL for PEM */
} DEC_CTX;

static void *dec_newctx(void *provctx, const struct p11be_key_kind *kind)
{
    DEC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx != NULL)
        *ctx = (DEC_CTX){provctx, kind};
    return ctx;
}

static void dec_freectx(void *vctx)
{
    OPENSSL_clear_free(vctx, sizeof(DEC_CTX));
}

/*
 * A key file names a private key and no PIN (doc/token-keys.md): a
 * pin-source would spend a PIN try on whatever file the process can read,
 * so it is refused before anything is read or tried, and a public key is
 * refused here with the reason, which the file: store would drop. A URI
 * that does not parse is left to the store, which says why.
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

/*
 * The DER the decoder reads: the PEM step's block with our label, or the
 * DER step's whole input, up to DEC_DER_MAX bytes. 1 with *der NULL when
 * the input is not ours; 0 when it cannot be read.
 */
static int dec_read(DEC_CTX *ctx, OSSL_CORE_BIO *cin, unsigned char **der,
                    size_t *len)
{
    BIO *in = BIO_new_from_core_bio(ctx->prov->corebio_libctx, cin);
    char *name = NULL, *header = NULL;
    size_t got;
    long pem_len;

    *der = NULL;
    *len = 0;
    if (in == NULL)
        return 0;
    if (ctx->kind == NULL) {
        /* PEM_read_bio() raises "no start line" on other input: not ours. */
        ERR_set_mark();
        if (PEM_read_bio(in, &name, &header, der, &pem_len) > 0
            && strcmp(name, P11BE_KEYURI_PEM_LABEL) == 0) {
            *len = (size_t)pem_len;
        } else {
            OPENSSL_free(*der);
            *der = NULL;
        }
        ERR_pop_to_mark();
    } else if ((*der = OPENSSL_malloc(DEC_DER_MAX + 1)) != NULL) {
        /* More than DEC_DER_MAX: not ours (dec_uri_of). */
        while (*len <= DEC_DER_MAX
               && BIO_read_ex(in, *der + *len, DEC_DER_MAX + 1 - *len, &got)
               && got > 0)
            *len += got;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(in);
    return 1;
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

/* Gives OpenSSL the key object: its DER and structure, or a reference. */
static int dec_yield(OSSL_CALLBACK *data_cb, void *data_cbarg, const char *type,
                     const char *structure, const void *data, size_t len)
{
    int object_type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[5], *p = params;

    *p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                            (char *)type, 0);
    if (structure != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_OBJECT_PARAM_DATA_STRUCTURE, (char *)structure, 0);
    *p++ = OSSL_PARAM_construct_octet_string(structure != NULL
                                                 ? OSSL_OBJECT_PARAM_DATA
                                                 : OSSL_OBJECT_PARAM_REFERENCE,
                                             (void *)data, len);
    *p = OSSL_PARAM_construct_end();
    return data_cb(params, data_cbarg);
}

/*
 * Both steps (see the top of the file): the PEM step yields the DER with
 * the key's type, the DER step the key by reference, if it is of this
 * decoder's type. "Not ours" is not an error: a decoder that recognises
 * nothing returns 1 without calling data_cb, and OpenSSL tries the next.
 */
static int dec_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                      OSSL_CALLBACK *data_cb, void *data_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    DEC_CTX *ctx = vctx;
    unsigned char *der = NULL;
    size_t der_len = 0;
    P11BE_KEY *key = NULL;
    char *uri = NULL;
    int ok = 1;

    (void)selection;
    if (p11be_reentered())
        return 1;
    if (!dec_read(ctx, cin, &der, &der_len))
        return 0;
    if (der != NULL)
        uri = dec_uri_of(der, der_len);
    if (uri == NULL && der != NULL && ctx->kind == NULL) {
        p11be_raise(ctx->prov->handle, P11BE_R_INVALID_ARGUMENT,
                    "the %s block holds no pkcs11: URI",
                    P11BE_KEYURI_PEM_LABEL);
        ok = 0;
    }
    if (uri == NULL)
        goto out_free;
    if (ctx->kind != NULL && dec_seen_kind != NULL
        && strcmp(dec_seen_uri, uri) == 0) {
        if (dec_seen_kind != ctx->kind)
            goto out_free; /* another type's decoder takes it */
        dec_seen_kind = NULL;
    }
    key = dec_lookup(ctx, uri, pw_cb, pw_cbarg);
    if (key == NULL)
        ok = 0; /* raised: the URI names no key, or the token failed */
    else if (ctx->kind == NULL)
        ok = dec_yield(data_cb, data_cbarg, key->kind->name,
                       P11BE_KEYURI_STRUCTURE, der, der_len);
    else if (key->kind == ctx->kind) { /* else another type's decoder's */
        dec_seen_kind = NULL;
        ok = dec_yield(data_cb, data_cbarg, ctx->kind->name, NULL, &key,
                       sizeof(key));
    }
    p11be_key_free(key); /* load took its own reference */
out_free:
    OPENSSL_free(uri);
    OPENSSL_free(der);
    return ok;
}

/* One decoder (kind NULL: the PEM step): its newctx and dispatch table. */
#define DEC_KIND(newctx, functions, kind)                                      \
    static void *newctx(void *provctx)                                         \
    {                                                                          \
        return dec_newctx(provctx, kind);                                      \
    }                                                                          \
    const OSSL_DISPATCH functions[] = {                                        \
        P11BE_FN(OSSL_FUNC_DECODER_NEWCTX, newctx),                            \
        P11BE_FN(OSSL_FUNC_DECODER_FREECTX, dec_freectx),                      \
        P11BE_FN(OSSL_FUNC_DECODER_DECODE, dec_decode),                        \
        {0, NULL},                                                             \
    }

/* clang-format off */
DEC_KIND(pem_newctx, p11be_decoder_pem_functions, NULL);
DEC_KIND(rsa_newctx, p11be_decoder_rsa_functions, &p11be_kind_rsa);
DEC_KIND(rsa_pss_newctx, p11be_decoder_rsa_pss_functions, &p11be_kind_rsa_pss);
DEC_KIND(ec_newctx, p11be_decoder_ec_functions, &p11be_kind_ec);
DEC_KIND(ed25519_newctx, p11be_decoder_ed25519_functions, &p11be_kind_ed25519);
DEC_KIND(ed448_newctx, p11be_decoder_ed448_functions, &p11be_kind_ed448);
/* clang-format on */
