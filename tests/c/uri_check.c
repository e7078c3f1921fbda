/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider/base/uri.c on its own (no token): every example of RFC 7512
 * section 3.3 and edge cases with the fields they must give, malformed
 * URIs with the message they must give, and an encode/parse round trip
 * on deterministic random bytes. Prints TAP ("ok N - name" lines and a
 * plan); tests/80-uri.t runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "uri.h"

/* What a valid URI must parse to; NULL strings: not given. */
struct uri_valid {
    const char *name;         /* test name */
    const char *text;         /* the URI */
    const char *token;        /* expected fields ... */
    const char *manufacturer; /* ... */
    const char *serial;
    const char *model;
    const char *slot_description;
    const char *slot_manufacturer;
    const char *slot_id; /* decimal text; NULL: not given */
    const char *library_manufacturer;
    const char *library_description;
    int library_major; /* -1: not given */
    int library_minor;
    const char *object;
    const char *id; /* bytes, id_len of them; NULL: not given */
    size_t id_len;
    enum p11be_uri_type type;
    const char *pin_value;
    const char *pin_source;
    const char *module_name;
    const char *module_path;
};

/* A URI that must be refused with a message holding `want`. */
struct uri_invalid {
    const char *text;      /* the URI */
    const char *want;      /* substring of the message */
    const char *forbidden; /* must not appear in it (a PIN), or NULL */
};

/* Field defaults: slot-id and library-version not given. */
#define NO_SLOT     NULL
#define NO_LIB      -1, 0
#define FIELDS_NONE NULL, NULL, NULL, NULL, NULL, NULL, NO_SLOT, NULL, NULL
#define QUERY_NONE  NULL, NULL, NULL, NULL
#define OBJECT_NONE NULL, NULL, 0, P11BE_URI_TYPE_ANY

static const struct uri_valid valid[] = {
    /* RFC 7512 section 3.3, in order (line breaks there are layout). */
    {"RFC 3.3: empty URI", "pkcs11:", FIELDS_NONE, NO_LIB, OBJECT_NONE,
     QUERY_NONE},
    {"RFC 3.3: public key by label", "pkcs11:object=my-pubkey;type=public",
     FIELDS_NONE, NO_LIB, "my-pubkey", NULL, 0, P11BE_URI_TYPE_PUBLIC,
     QUERY_NONE},
    {"RFC 3.3: private key with pin-source",
     "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
     FIELDS_NONE, NO_LIB, "my-key", NULL, 0, P11BE_URI_TYPE_PRIVATE, NULL,
     "file:/etc/token", NULL, NULL},
    {"RFC 3.3: certificate, every token attribute",
     "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
     "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
     "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
     "?pin-source=file:/etc/token_pin",
     "The Software PKCS#11 Softtoken",
     "Snake Oil, Inc.",
     "",
     "1.0",
     NULL,
     NULL,
     NO_SLOT,
     NULL,
     NULL,
     NO_LIB,
     "my-certificate",
     "\x69\x95\x3e\x5c\xf4\xbd\xec\x91",
     8,
     P11BE_URI_TYPE_CERT,
     NULL,
     "file:/etc/token_pin",
     NULL,
     NULL},
    {"RFC 3.3: module-name",
     "pkcs11:object=my-sign-key;type=private"
     "?module-name=mypkcs11",
     FIELDS_NONE, NO_LIB, "my-sign-key", NULL, 0, P11BE_URI_TYPE_PRIVATE, NULL,
     NULL, "mypkcs11", NULL},
    {"RFC 3.3: module-path",
     "pkcs11:object=my-sign-key;type=private"
     "?module-path=/mnt/libmypkcs11.so.1",
     FIELDS_NONE, NO_LIB, "my-sign-key", NULL, 0, P11BE_URI_TYPE_PRIVATE, NULL,
     NULL, NULL, "/mnt/libmypkcs11.so.1"},
    {"RFC 3.3: pin-value",
     "pkcs11:token=Software%20PKCS%2311%20softtoken;"
     "manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
     "Software PKCS#11 softtoken", "Snake Oil, Inc.", NULL, NULL, NULL, NULL,
     NO_SLOT, NULL, NULL, NO_LIB, OBJECT_NONE, "the-pin", NULL, NULL, NULL},
    {"RFC 3.3: slot-description", "pkcs11:slot-description=Sun%20Metaslot",
     NULL, NULL, NULL, NULL, "Sun Metaslot", NULL, NO_SLOT, NULL, NULL, NO_LIB,
     OBJECT_NONE, QUERY_NONE},
    {"RFC 3.3: library attributes",
     "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
     "library-description=Soft%20Token%20Library;library-version=1.23",
     NULL, NULL, NULL, NULL, NULL, NULL, NO_SLOT, "Snake Oil, Inc.",
     "Soft Token Library", 1, 23, OBJECT_NONE, QUERY_NONE},
    {"RFC 3.3: %25 in a label, lower-case hex in id",
     "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
     "id=%01%02%03%Ba%dd%Ef%fe%ed",
     "My token% created by Joe", NULL, NULL, NULL, NULL, NULL, NO_SLOT, NULL,
     NULL, 3, 0, NULL, "\x01\x02\x03\xba\xdd\xef\xfe\xed", 8,
     P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"RFC 3.3: %25%3B in a label",
     "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
     "object=my-certificate;type=cert",
     "A name with a substring %;", NULL, NULL, NULL, NULL, NULL, NO_SLOT, NULL,
     NULL, NO_LIB, "my-certificate", NULL, 0, P11BE_URI_TYPE_CERT, QUERY_NONE},
    {"RFC 3.3: UTF-8 label (a with acute)",
     "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
     "object=my-certificate;type=cert",
     "Name with a small A with acute: \xc3\xa1", NULL, NULL, NULL, NULL, NULL,
     NO_SLOT, NULL, NULL, NO_LIB, "my-certificate", NULL, 0,
     P11BE_URI_TYPE_CERT, QUERY_NONE},
    /*
     * RFC 3.3's last example with its vendor attributes spelled "x-...":
     * as written there ("vendor-aaa") it is refused below, since this
     * parser accepts only "x-" names as vendor attributes.
     */
    {"RFC 3.3: vendor attributes (as x-aaa, x-bbb)",
     "pkcs11:token=my-token;object=my-certificate;type=cert;x-aaa=value-a"
     "?pin-source=file:/etc/token_pin&x-bbb=value-b",
     "my-token",
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     NO_SLOT,
     NULL,
     NULL,
     NO_LIB,
     "my-certificate",
     NULL,
     0,
     P11BE_URI_TYPE_CERT,
     NULL,
     "file:/etc/token_pin",
     NULL,
     NULL},
    /* Edge cases. */
    {"scheme in upper case", "PKCS11:object=a", FIELDS_NONE, NO_LIB, "a", NULL,
     0, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"scheme in mixed case", "Pkcs11:", FIELDS_NONE, NO_LIB, OBJECT_NONE,
     QUERY_NONE},
    {"id %00", "pkcs11:id=%00", FIELDS_NONE, NO_LIB, NULL, "\0", 1,
     P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"id with NULs inside", "pkcs11:id=%00%41%00", FIELDS_NONE, NO_LIB, NULL,
     "\0A\0", 3, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"empty id is given", "pkcs11:id=", FIELDS_NONE, NO_LIB, NULL, "", 0,
     P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"unencoded id characters", "pkcs11:id=ab:[]@!$&'()*+,=~._-", FIELDS_NONE,
     NO_LIB, NULL, "ab:[]@!$&'()*+,=~._-", 20, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"query only", "pkcs11:?pin-value=1234", FIELDS_NONE, NO_LIB, OBJECT_NONE,
     "1234", NULL, NULL, NULL},
    {"empty query", "pkcs11:?", FIELDS_NONE, NO_LIB, OBJECT_NONE, QUERY_NONE},
    {"path then empty query", "pkcs11:object=a?", FIELDS_NONE, NO_LIB, "a",
     NULL, 0, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"UTF-8 label (euro sign)", "pkcs11:object=%E2%82%AC%20key", FIELDS_NONE,
     NO_LIB, "\xe2\x82\xac key", NULL, 0, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"slot-id 0 and slot attributes",
     "pkcs11:slot-manufacturer=SoftHSM%20project;slot-id=0", NULL, NULL, NULL,
     NULL, NULL, "SoftHSM project", "0", NULL, NULL, NO_LIB, OBJECT_NONE,
     QUERY_NONE},
    {"largest slot-id", "pkcs11:slot-id=18446744073709551615", NULL, NULL, NULL,
     NULL, NULL, NULL, "18446744073709551615", NULL, NULL, NO_LIB, OBJECT_NONE,
     QUERY_NONE},
    {"percent-encoded slot-id digits", "pkcs11:slot-id=%31%32", NULL, NULL,
     NULL, NULL, NULL, NULL, "12", NULL, NULL, NO_LIB, OBJECT_NONE, QUERY_NONE},
    {"library-version 0", "pkcs11:library-version=0", FIELDS_NONE, 0, 0,
     OBJECT_NONE, QUERY_NONE},
    {"'&' and '=' in a path value", "pkcs11:object=a&b=c", FIELDS_NONE, NO_LIB,
     "a&b=c", NULL, 0, P11BE_URI_TYPE_ANY, QUERY_NONE},
    {"'/', '?', '|' in a query value",
     "pkcs11:?module-path=/usr/lib/x?y|z&module-name=m", FIELDS_NONE, NO_LIB,
     OBJECT_NONE, NULL, NULL, "m", "/usr/lib/x?y|z"},
    {"absolute pin-source", "pkcs11:?pin-source=/run/pin", FIELDS_NONE, NO_LIB,
     OBJECT_NONE, NULL, "/run/pin", NULL, NULL},
    {"types secret-key", "pkcs11:type=secret-key", FIELDS_NONE, NO_LIB, NULL,
     NULL, 0, P11BE_URI_TYPE_SECRET_KEY, QUERY_NONE},
    {"types data", "pkcs11:type=data", FIELDS_NONE, NO_LIB, NULL, NULL, 0,
     P11BE_URI_TYPE_DATA, QUERY_NONE},
    {"vendor attributes anywhere, even twice",
     "pkcs11:x-a=1;object=o;x-a=%41?x-Q_9=/&pin-value=%26", FIELDS_NONE, NO_LIB,
     "o", NULL, 0, P11BE_URI_TYPE_ANY, "&", NULL, NULL, NULL},
};

static const struct uri_invalid invalid[] = {
    {"pkcs11:tokn=x", "unknown attribute \"tokn\" in pkcs11:tokn=x", NULL},
    {"pkcs11:Token=x", "unknown attribute \"Token\"", NULL},
    {"pkcs11:token=my-token;object=my-certificate;type=cert;"
     "vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
     "unknown attribute \"vendor-aaa\"", NULL},
    {"pkcs11:x-=1", "unknown attribute \"x-\"", NULL},
    {"pkcs11:x-a.b=1", "unknown attribute \"x-a.b\"", NULL},
    {"pkcs11:id=%G1", "bad percent escape \"%G1\"", NULL},
    {"pkcs11:id=%4", "bad percent escape \"%4\"", NULL},
    {"pkcs11:id=0%", "bad percent escape \"%\"", NULL},
    {"pkcs11:object=%0g", "bad percent escape \"%0g\" in \"object\"", NULL},
    {"pkcs11:id=01;id=02", "\"id\" given twice", NULL},
    {"pkcs11:object=a;type=cert;object=a", "\"object\" given twice", NULL},
    {"pkcs11:?module-name=a&module-name=a", "\"module-name\" given twice",
     NULL},
    {"pkcs11:slot-id=12a", "slot-id \"12a\" is not a decimal number", NULL},
    {"pkcs11:slot-id=", "slot-id \"\" is not a decimal number", NULL},
    {"pkcs11:slot-id=-1", "slot-id \"-1\" is not a decimal number", NULL},
    {"pkcs11:slot-id=%2B1", "slot-id \"+1\" is not a decimal number", NULL},
    {"pkcs11:slot-id=18446744073709551616",
     "slot-id \"18446744073709551616\" is too large", NULL},
    {"pkcs11:slot-id=1%002", "\"slot-id\" may not hold %00", NULL},
    {"pkcs11:type=foo",
     "type \"foo\" is not one of private, public, cert, secret-key, data",
     NULL},
    {"pkcs11:type=Private", "type \"Private\" is not one of", NULL},
    {"pkcs11:type=", "type \"\" is not one of", NULL},
    {"pkcs11:library-version=1.", "library-version \"1.\" is not M or M.N",
     NULL},
    {"pkcs11:library-version=.1", "library-version \".1\" is not M or M.N",
     NULL},
    {"pkcs11:library-version=1.x", "library-version \"1.x\"", NULL},
    {"pkcs11:library-version=1.2.3", "library-version \"1.2.3\"", NULL},
    {"pkcs11:library-version=4294967296", "library-version \"4294967296\"",
     NULL},
    {"pkcs11:object=a b",
     "character \" \" in \"object\" must be "
     "percent-encoded (%20)",
     NULL},
    {"pkcs11:object=caf\xc3\xa9",
     "character \"\\xC3\" in \"object\" must "
     "be percent-encoded (%C3)",
     NULL},
    {"pkcs11:object=a/b", "character \"/\" in \"object\"", NULL},
    {"pkcs11:object=a#b", "character \"#\" in \"object\"", NULL},
    {"pkcs11:object=a\"b", "character \"\\x22\" in \"object\"", NULL},
    {"pkcs11:?module-name=a;b", "character \";\" in \"module-name\"", NULL},
    {"pkcs11:?module-name=a&b", "attribute \"b\" has no \"=\"", NULL},
    {"pkcs11:object=%00", "\"object\" may not hold %00", NULL},
    {"pkcs11:token=a%00b", "\"token\" may not hold %00", NULL},
    {"pkcs11:object", "attribute \"object\" has no \"=\"", NULL},
    {"pkcs11:;object=a", "empty attribute (stray \";\") in the path", NULL},
    {"pkcs11:object=a;", "empty attribute (stray \";\") in the path", NULL},
    {"pkcs11:object=a;;type=cert", "empty attribute", NULL},
    {"pkcs11:?pin-source=/p&", "empty attribute (stray \"&\") in the query",
     NULL},
    {"pkcs11:?&pin-source=/p", "empty attribute", NULL},
    {"pkcs11:=x", "unknown attribute \"\"", NULL},
    {"pkcs11:pin-value=1234", "\"pin-value\" is a query attribute", NULL},
    {"pkcs11:module-path=/x", "\"module-path\" is a query attribute", NULL},
    {"pkcs11:?token=x", "\"token\" is a path attribute", NULL},
    {"pkcs11:?id=%01", "\"id\" is a path attribute", NULL},
    {"pkcs11:?pin-value=1234&pin-source=file:/x",
     "\"pin-value\" and \"pin-source\" may not both be given", NULL},
    {"pkcs11:?pin-source=relative/pin",
     "pin-source \"relative/pin\" is neither \"file:PATH\" nor an absolute "
     "path",
     NULL},
    {"pkcs11:?pin-source=file:", "pin-source \"file:\" is neither", NULL},
    {"pkcs11:?pin-source=", "pin-source \"\" is neither", NULL},
    {"pkcs11x:object=a", "\"pkcs11x:object=a\" is not a pkcs11: URI", NULL},
    {"pkcs11", "\"pkcs11\" is not a pkcs11: URI", NULL},
    {"", "\"\" is not a pkcs11: URI", NULL},
    {" pkcs11:", "is not a pkcs11: URI", NULL},
    {"pkcs11:object=a ", "character \" \" in \"object\"", NULL},
    /* The PIN never shows in a message. */
    {"pkcs11:?pin-value=s3cr3t%zz", "bad percent escape in \"pin-value\"",
     "s3cr3t"},
    {"pkcs11:?pin-value=s3cr3t x",
     "\"pin-value\" holds a character that must be percent-encoded", "s3cr3t"},
    {"pkcs11:tokn=1?pin-value=s3cr3t&module-name=m",
     "in pkcs11:tokn=1?pin-value=***&module-name=m", "s3cr3t"},
    {"pkcs11:object=o?pin-value=s3cr3t&&x", "pin-value=***&&x", "s3cr3t"},
};

static int test_count;

static void report(int ok, const char *prefix, const char *name)
{
    printf("%s %d - %s%s\n", ok ? "ok" : "not ok", ++test_count, prefix, name);
}

static int same_str(const char *what, const char *got, const char *want)
{
    if (got == NULL && want == NULL)
        return 1;
    if (got != NULL && want != NULL && strcmp(got, want) == 0)
        return 1;
    printf("# %s: got %s%s%s, want %s%s%s\n", what, got ? "\"" : "",
           got ? got : "(not given)", got ? "\"" : "", want ? "\"" : "",
           want ? want : "(not given)", want ? "\"" : "");
    return 0;
}

static int check_valid(const struct uri_valid *t)
{
    P11BE_URI uri;
    char err[256], slot[32];
    int ok = 1;

    if (!p11be_uri_parse(t->text, &uri, err, sizeof(err))) {
        printf("# refused: %s\n", err);
        return 0;
    }
    ok &= same_str("token", uri.token, t->token);
    ok &= same_str("manufacturer", uri.manufacturer, t->manufacturer);
    ok &= same_str("serial", uri.serial, t->serial);
    ok &= same_str("model", uri.model, t->model);
    ok &=
        same_str("slot-description", uri.slot_description, t->slot_description);
    ok &= same_str("slot-manufacturer", uri.slot_manufacturer,
                   t->slot_manufacturer);
    ok &= same_str("library-manufacturer", uri.library_manufacturer,
                   t->library_manufacturer);
    ok &= same_str("library-description", uri.library_description,
                   t->library_description);
    ok &= same_str("object", uri.object, t->object);
    ok &= same_str("pin-value", uri.pin_value, t->pin_value);
    ok &= same_str("pin-source", uri.pin_source, t->pin_source);
    ok &= same_str("module-name", uri.module_name, t->module_name);
    ok &= same_str("module-path", uri.module_path, t->module_path);
    if (uri.has_slot_id)
        snprintf(slot, sizeof(slot), "%lu", uri.slot_id);
    ok &= same_str("slot-id", uri.has_slot_id ? slot : NULL, t->slot_id);
    if (t->library_major < 0
            ? uri.has_library_version
            : (!uri.has_library_version
               || uri.library_major != (unsigned)t->library_major
               || uri.library_minor != (unsigned)t->library_minor)) {
        printf("# library-version: got %d/%u.%u\n", uri.has_library_version,
               uri.library_major, uri.library_minor);
        ok = 0;
    }
    if (t->id == NULL
            ? uri.has_id
            : (!uri.has_id || uri.id == NULL || uri.id_len != t->id_len
               || memcmp(uri.id, t->id, t->id_len) != 0)) {
        printf("# id: got has_id %d, %zu bytes\n", uri.has_id, uri.id_len);
        ok = 0;
    }
    if (uri.type != t->type) {
        printf("# type: got %d, want %d\n", (int)uri.type, (int)t->type);
        ok = 0;
    }
    p11be_uri_clear(&uri);
    if (uri.token != NULL || uri.id != NULL || uri.has_id) {
        printf("# p11be_uri_clear left something behind\n");
        ok = 0;
    }
    return ok;
}

static int check_invalid(const struct uri_invalid *t)
{
    P11BE_URI uri;
    char err[256];

    memset(&uri, 0x5a, sizeof(uri));
    if (p11be_uri_parse(t->text, &uri, err, sizeof(err))) {
        printf("# accepted, want \"%s\"\n", t->want);
        p11be_uri_clear(&uri);
        return 0;
    }
    if (uri.token != NULL || uri.object != NULL || uri.id != NULL
        || uri.pin_value != NULL || uri.has_id || uri.has_slot_id) {
        printf("# the URI was not left cleared\n");
        return 0;
    }
    if (strstr(err, t->want) == NULL) {
        printf("# got \"%s\"\n# want \"%s\"\n", err, t->want);
        return 0;
    }
    if (t->forbidden != NULL && strstr(err, t->forbidden) != NULL) {
        printf("# \"%s\" shows \"%s\"\n", err, t->forbidden);
        return 0;
    }
    return 1;
}

/* A message that does not fit is cut short, and NULL err is allowed. */
static int check_err_buffer(void)
{
    P11BE_URI uri;
    char err[8];

    memset(err, 'z', sizeof(err));
    if (p11be_uri_parse("pkcs11:tokn=x", &uri, err, sizeof(err))
        || err[sizeof(err) - 1] != '\0' || strlen(err) != sizeof(err) - 1)
        return 0;
    if (p11be_uri_parse("pkcs11:tokn=x", &uri, NULL, 0))
        return 0;
    err[0] = 'z';
    if (p11be_uri_parse("pkcs11:tokn=x", &uri, err, 0) || err[0] != 'z')
        return 0;
    return 1;
}

static int check_type_names(void)
{
    static const char *const want[] = {NULL,   "private",    "public",
                                       "cert", "secret-key", "data"};
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *got = p11be_uri_type_name((enum p11be_uri_type)i);

        if (!same_str("type name", got, want[i]))
            return 0;
    }
    return p11be_uri_type_name((enum p11be_uri_type)99) == NULL;
}

/* Only unreserved, ":[]@!$'()*+,=&" and %XX with upper-case hex. */
static int encoded_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '%') {
            if (strchr("0123456789ABCDEF", s[1]) == NULL || s[1] == '\0'
                || strchr("0123456789ABCDEF", s[2]) == NULL || s[2] == '\0')
                return 0;
            s += 2;
        } else if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                          "VWXYZ0123456789-._~:[]@!$'()*+,=&",
                          *s)
                   == NULL) {
            return 0;
        }
    }
    return 1;
}

/*
 * Random bytes encoded as id and (NULs replaced) as object, then parsed
 * back; the size protocol of p11be_uri_encode on every prefix of the
 * buffer.
 */
static int check_round_trip(unsigned seed)
{
    unsigned char bytes[96], text_bytes[96];
    char enc_id[96 * 3 + 1], enc_obj[96 * 3 + 1], small[16];
    char text[2 * sizeof(enc_id) + 32], err[256];
    size_t len, i, need;
    P11BE_URI uri;
    int ok = 1;

    tu_fill(bytes, sizeof(bytes), seed);
    len = bytes[0] % (sizeof(bytes) + 1);
    tu_fill(bytes, len, seed + 1);
    for (i = 0; i < len; i++)
        text_bytes[i] = bytes[i] == 0 ? 1 : bytes[i];
    need = p11be_uri_encode(bytes, len, NULL, 0);
    if (p11be_uri_encode(bytes, len, enc_id, sizeof(enc_id)) != need
        || strlen(enc_id) != need || !encoded_ok(enc_id)) {
        printf("# seed %u: bad encoding \"%s\"\n", seed, enc_id);
        return 0;
    }
    for (i = 0; i <= sizeof(small); i++) {
        memset(small, 'z', sizeof(small));
        if (p11be_uri_encode(bytes, len, small, i) != need
            || (i > 0 && strlen(small) >= i)
            || (i > 0 && strncmp(small, enc_id, strlen(small)) != 0)) {
            printf("# seed %u: encode into %zu bytes is wrong\n", seed, i);
            return 0;
        }
    }
    p11be_uri_encode(text_bytes, len, enc_obj, sizeof(enc_obj));
    snprintf(text, sizeof(text), "pkcs11:id=%s;object=%s", enc_id, enc_obj);
    if (!p11be_uri_parse(text, &uri, err, sizeof(err))) {
        printf("# seed %u: %s refused: %s\n", seed, text, err);
        return 0;
    }
    if (!uri.has_id || uri.id_len != len
        || (len > 0 && memcmp(uri.id, bytes, len) != 0)
        || strlen(uri.object) != len
        || memcmp(uri.object, text_bytes, len) != 0) {
        printf("# seed %u: %s did not come back\n", seed, text);
        ok = 0;
    }
    p11be_uri_clear(&uri);
    return ok;
}

int main(void)
{
    size_t i;
    int failed = 0, ok;
    unsigned seed;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ok = check_valid(&valid[i]);
        failed += !ok;
        report(ok, "valid: ", valid[i].name);
    }
    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ok = check_invalid(&invalid[i]);
        failed += !ok;
        report(ok, "invalid: ", invalid[i].want);
    }
    ok = check_err_buffer();
    failed += !ok;
    report(ok, "", "a short error buffer is cut and NUL-terminated");
    ok = check_type_names();
    failed += !ok;
    report(ok, "", "p11be_uri_type_name");
    ok = 1;
    for (seed = 1; seed <= 2000 && ok; seed++)
        ok = check_round_trip(seed);
    failed += !ok;
    report(ok, "", "encode/parse round trip on 2000 random byte strings");
    printf("1..%d\n", test_count);
    return failed != 0;
}
