/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 7512 "pkcs11:" URIs, parsed strictly (the rules and messages:
 * doc/token-keys.md, "Syntax"). Plain C and malloc(), no OpenSSL, so that
 * the parser can be fuzzed on its own (tests/fuzz/). Every attribute left
 * out matches anything.
 */
#ifndef P11BE_URI_H
#define P11BE_URI_H

#include <stddef.h>

/* The "type" path attribute. */
enum p11be_uri_type {
    P11BE_URI_TYPE_ANY = 0, /* not given */
    P11BE_URI_TYPE_PRIVATE,
    P11BE_URI_TYPE_PUBLIC,
    P11BE_URI_TYPE_CERT,
    P11BE_URI_TYPE_SECRET_KEY,
    P11BE_URI_TYPE_DATA
};

/* A parsed URI; every string is NUL-terminated, NULL when not given. */
typedef struct p11be_uri_st {
    /* Path attributes: the token and its slot. */
    char *token;             /* "token": CK_TOKEN_INFO label */
    char *manufacturer;      /* "manufacturer": token manufacturerID */
    char *serial;            /* "serial": token serialNumber */
    char *model;             /* "model": token model */
    char *slot_description;  /* "slot-description" */
    char *slot_manufacturer; /* "slot-manufacturer" */
    int has_slot_id;         /* "slot-id" given */
    unsigned long slot_id;   /* its value (decimal) */
    /* Path attributes: the module (library). */
    char *library_manufacturer; /* "library-manufacturer" */
    char *library_description;  /* "library-description" */
    int has_library_version;    /* "library-version" given */
    unsigned library_major;     /* "M" of "M[.N]" */
    unsigned library_minor;     /* "N", 0 when left out */
    /* Path attributes: the object. */
    char *object;             /* "object": CKA_LABEL */
    unsigned char *id;        /* "id": CKA_ID bytes */
    size_t id_len;            /* bytes in id */
    int has_id;               /* "id" given (it may be empty) */
    enum p11be_uri_type type; /* "type" */
    /* Query attributes. */
    char *pin_value;   /* "pin-value"; wiped by p11be_uri_clear() */
    char *pin_source;  /* "pin-source": "file:PATH" or an absolute path */
    char *module_name; /* "module-name" */
    char *module_path; /* "module-path" */
} P11BE_URI;

/*
 * Parses `text` (which must start with "pkcs11:", case-insensitively)
 * into *uri, which it first zeroes. Returns 1, or 0 with a message in
 * err (room err_len, always NUL-terminated) that quotes the bad part, and
 * *uri cleared. Allocates with malloc(); free with p11be_uri_clear().
 */
int p11be_uri_parse(const char *text, P11BE_URI *uri, char *err,
                    size_t err_len);

/* Frees what the URI holds (wiping the PIN) and zeroes it. */
void p11be_uri_clear(P11BE_URI *uri);

/* The "type" value's name ("private" ..), or NULL for ANY. */
const char *p11be_uri_type_name(enum p11be_uri_type type);

/*
 * Writes `len` bytes percent-encoded as RFC 7512 wants for a path value
 * (unreserved characters and ":[]@!$'()*+,=&" as they are, the rest
 * %XX) into out (room out_len, NUL-terminated). Returns the length
 * written, or the length needed (not counting the NUL) when out is too
 * small, as snprintf does.
 */
size_t p11be_uri_encode(const unsigned char *bytes, size_t len, char *out,
                        size_t out_len);

#endif
