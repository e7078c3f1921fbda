/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for provider/uri.c. Each input is parsed as it is and
 * with "pkcs11:" in front. A URI that parses is written out again from
 * its fields with p11be_uri_encode() and must parse to the same fields;
 * a refused one must leave a NUL-terminated message and a cleared
 * P11BE_URI. Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for the re-encoded URI: every byte may become %XX. */
struct fuzz_buf {
    char *text;  /* the URI being written */
    size_t len;  /* bytes in text */
    size_t room; /* allocated */
};

static void fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_uri: invariant broken: %s\n", what);
        abort();
    }
}

static void buf_add(struct fuzz_buf *b, const char *s)
{
    size_t n = strlen(s);

    fuzz_check(b->len + n < b->room, "re-encoded URI fits");
    memcpy(b->text + b->len, s, n + 1);
    b->len += n;
}

/*
 * Appends sep, name, "=" and the encoded value. p11be_uri_encode leaves
 * "&" as it is (fine in the path); in the query it must be %26.
 */
static void buf_attr(struct fuzz_buf *b, const char **sep, int query,
                     const char *name, const unsigned char *v, size_t len)
{
    char *enc;
    size_t need, i;

    if (v == NULL)
        return;
    buf_add(b, *sep);
    *sep = query ? "&" : ";";
    buf_add(b, name);
    buf_add(b, "=");
    need = p11be_uri_encode(v, len, NULL, 0);
    enc = malloc(need + 1);
    fuzz_check(enc != NULL, "malloc");
    fuzz_check(p11be_uri_encode(v, len, enc, need + 1) == need,
               "encode length is stable");
    fuzz_check(strlen(enc) == need, "encode writes what it counts");
    for (i = 0; i < need; i++) {
        char one[2] = {enc[i], '\0'};

        buf_add(b, query && enc[i] == '&' ? "%26" : one);
    }
    free(enc);
}

static void buf_text(struct fuzz_buf *b, const char **sep, int query,
                     const char *name, const char *v)
{
    if (v != NULL)
        buf_attr(b, sep, query, name, (const unsigned char *)v, strlen(v));
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL)
           || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_same(const P11BE_URI *a, const P11BE_URI *b)
{
    fuzz_check(same_text(a->token, b->token), "token");
    fuzz_check(same_text(a->manufacturer, b->manufacturer), "manufacturer");
    fuzz_check(same_text(a->serial, b->serial), "serial");
    fuzz_check(same_text(a->model, b->model), "model");
    fuzz_check(same_text(a->slot_description, b->slot_description),
               "slot-description");
    fuzz_check(same_text(a->slot_manufacturer, b->slot_manufacturer),
               "slot-manufacturer");
    fuzz_check(a->has_slot_id == b->has_slot_id && a->slot_id == b->slot_id,
               "slot-id");
    fuzz_check(same_text(a->library_manufacturer, b->library_manufacturer),
               "library-manufacturer");
    fuzz_check(same_text(a->library_description, b->library_description),
               "library-description");
    fuzz_check(a->has_library_version == b->has_library_version
                   && a->library_major == b->library_major
                   && a->library_minor == b->library_minor,
               "library-version");
    fuzz_check(same_text(a->object, b->object), "object");
    fuzz_check(a->has_id == b->has_id && a->id_len == b->id_len
                   && (a->id_len == 0 || memcmp(a->id, b->id, a->id_len) == 0),
               "id");
    fuzz_check(a->type == b->type, "type");
    fuzz_check(same_text(a->pin_value, b->pin_value), "pin-value");
    fuzz_check(same_text(a->pin_source, b->pin_source), "pin-source");
    fuzz_check(same_text(a->module_name, b->module_name), "module-name");
    fuzz_check(same_text(a->module_path, b->module_path), "module-path");
}

static void check_cleared(const P11BE_URI *uri)
{
    static const P11BE_URI zero;

    fuzz_check(memcmp(uri, &zero, sizeof(zero)) == 0, "URI cleared");
}

/* Writes the URI out again from its fields and parses that. */
static void check_round_trip(const P11BE_URI *uri, size_t in_len)
{
    struct fuzz_buf b = {NULL, 0, 64 + 3 * in_len + 256};
    const char *sep = "";
    char num[64], err[256];
    P11BE_URI again;

    b.text = malloc(b.room);
    fuzz_check(b.text != NULL, "malloc");
    b.text[0] = '\0';
    buf_add(&b, "pkcs11:");
    buf_text(&b, &sep, 0, "token", uri->token);
    buf_text(&b, &sep, 0, "manufacturer", uri->manufacturer);
    buf_text(&b, &sep, 0, "serial", uri->serial);
    buf_text(&b, &sep, 0, "model", uri->model);
    buf_text(&b, &sep, 0, "slot-description", uri->slot_description);
    buf_text(&b, &sep, 0, "slot-manufacturer", uri->slot_manufacturer);
    if (uri->has_slot_id) {
        snprintf(num, sizeof(num), "%lu", uri->slot_id);
        buf_text(&b, &sep, 0, "slot-id", num);
    }
    buf_text(&b, &sep, 0, "library-manufacturer", uri->library_manufacturer);
    buf_text(&b, &sep, 0, "library-description", uri->library_description);
    if (uri->has_library_version) {
        snprintf(num, sizeof(num), "%u.%u", uri->library_major,
                 uri->library_minor);
        buf_text(&b, &sep, 0, "library-version", num);
    }
    buf_text(&b, &sep, 0, "object", uri->object);
    if (uri->has_id)
        buf_attr(&b, &sep, 0, "id", uri->id, uri->id_len);
    fuzz_check((uri->type == P11BE_URI_TYPE_ANY)
                   == (p11be_uri_type_name(uri->type) == NULL),
               "type name exists exactly for a given type");
    buf_text(&b, &sep, 0, "type", p11be_uri_type_name(uri->type));
    buf_add(&b, "?");
    sep = "";
    buf_text(&b, &sep, 1, "pin-value", uri->pin_value);
    buf_text(&b, &sep, 1, "pin-source", uri->pin_source);
    buf_text(&b, &sep, 1, "module-name", uri->module_name);
    buf_text(&b, &sep, 1, "module-path", uri->module_path);

    if (!p11be_uri_parse(b.text, &again, err, sizeof(err))) {
        fprintf(stderr, "fuzz_uri: re-encoded URI refused: %s\n", err);
        fuzz_check(0, "re-encoded URI parses");
    }
    check_same(uri, &again);
    p11be_uri_clear(&again);
    check_cleared(&again);
    free(b.text);
}

static void fuzz_one(const char *text, size_t err_len)
{
    char err[300];
    P11BE_URI uri;

    memset(err, 'z', sizeof(err));
    if (p11be_uri_parse(text, &uri, err, err_len)) {
        fuzz_check(err_len == 0 || err[0] == '\0', "no message on success");
        check_round_trip(&uri, strlen(text));
    } else {
        check_cleared(&uri);
        if (err_len > 0)
            fuzz_check(memchr(err, '\0', err_len) != NULL,
                       "message is NUL-terminated within err_len");
        fuzz_check(err_len == sizeof(err) || err[err_len] == 'z',
                   "nothing written beyond err_len");
    }
    p11be_uri_clear(&uri);
    check_cleared(&uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 8);
    size_t err_len = 256;

    if (text == NULL)
        return 0;
    /* The last byte, when it is not text, picks a small message buffer. */
    if (size > 0 && data[size - 1] >= 0xf0)
        err_len = data[size - 1] & 0x0f;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_one(text, err_len);
    memcpy(text, "pkcs11:", 7);
    memcpy(text + 7, data, size);
    text[size + 7] = '\0';
    fuzz_one(text, err_len);
    free(text);
    return 0;
}
