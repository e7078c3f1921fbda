/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 7512 "pkcs11:" URI parser (uri.h), one row of uri_attrs[] per
 * standard attribute:
 *
 *   pk11-URI   = "pkcs11:" pk11-path [ "?" pk11-query ]
 *   pk11-path  = [ pk11-pattr *( ";" pk11-pattr ) ]
 *   pk11-query = [ pk11-qattr *( "&" pk11-qattr ) ]
 *
 * A path value may hold unreserved characters, ":[]@!$&'()*+,=" and
 * %XX escapes; a query value unreserved characters, ":[]@!$'()*+,=/?|"
 * and %XX escapes. Anything else (a space, a raw UTF-8 byte, "#") must
 * be percent-encoded, and is refused here with a hint saying so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uri.h"

/* Where an attribute may appear. */
enum uri_part {
    URI_PATH, /* before "?", separated by ";" */
    URI_QUERY /* after "?", separated by "&" */
};

/* How an attribute's value is kept. */
enum uri_kind {
    URI_TEXT,  /* a NUL-free string in P11BE_URI at `field` */
    URI_BYTES, /* the id's bytes */
    URI_VALUE  /* read by `check` into P11BE_URI, then dropped */
};

struct uri_parser;

/* One standard attribute. */
struct uri_attr {
    const char *name;   /* as written in the URI (case-sensitive) */
    enum uri_part part; /* path or query */
    enum uri_kind kind; /* how the value is kept */
    int secret;         /* never quoted, wiped when dropped (pin-value) */
    /* URI_VALUE: reads the value; URI_TEXT: checks it (or NULL). */
    int (*check)(struct uri_parser *p, const char *v, size_t len);
    size_t field; /* URI_TEXT: offsetof its char * in P11BE_URI */
};

static int uri_set_slot_id(struct uri_parser *p, const char *v, size_t len);
static int uri_set_lib_version(struct uri_parser *p, const char *v, size_t len);
static int uri_set_type(struct uri_parser *p, const char *v, size_t len);
static int uri_check_pin_source(struct uri_parser *p, const char *v,
                                size_t len);

#define URI_TEXT_AT(part, field)                                               \
    part, URI_TEXT, 0, NULL, offsetof(P11BE_URI, field)

static const struct uri_attr uri_attrs[] = {
    {"token", URI_TEXT_AT(URI_PATH, token)},
    {"manufacturer", URI_TEXT_AT(URI_PATH, manufacturer)},
    {"serial", URI_TEXT_AT(URI_PATH, serial)},
    {"model", URI_TEXT_AT(URI_PATH, model)},
    {"slot-description", URI_TEXT_AT(URI_PATH, slot_description)},
    {"slot-manufacturer", URI_TEXT_AT(URI_PATH, slot_manufacturer)},
    {"slot-id", URI_PATH, URI_VALUE, 0, uri_set_slot_id, 0},
    {"library-manufacturer", URI_TEXT_AT(URI_PATH, library_manufacturer)},
    {"library-description", URI_TEXT_AT(URI_PATH, library_description)},
    {"library-version", URI_PATH, URI_VALUE, 0, uri_set_lib_version, 0},
    {"object", URI_TEXT_AT(URI_PATH, object)},
    {"id", URI_PATH, URI_BYTES, 0, NULL, 0},
    {"type", URI_PATH, URI_VALUE, 0, uri_set_type, 0},
    {"pin-value", URI_QUERY, URI_TEXT, 1, NULL, offsetof(P11BE_URI, pin_value)},
    {"pin-source", URI_QUERY, URI_TEXT, 0, uri_check_pin_source,
     offsetof(P11BE_URI, pin_source)},
    {"module-name", URI_TEXT_AT(URI_QUERY, module_name)},
    {"module-path", URI_TEXT_AT(URI_QUERY, module_path)},
};

#define URI_ATTR_COUNT (sizeof(uri_attrs) / sizeof(uri_attrs[0]))

/* "type" values, indexed by enum p11be_uri_type. */
static const char *const uri_type_names[] = {
    NULL, "private", "public", "cert", "secret-key", "data",
};

#define URI_TYPE_COUNT (sizeof(uri_type_names) / sizeof(uri_type_names[0]))

/* Longest piece of input quoted in an error message. */
#define URI_QUOTE_MAX 48

/* Room for one quoted piece: quotes, \xNN escapes, "...", NUL. */
#define URI_QUOTE_ROOM (URI_QUOTE_MAX * 4 + 8)

/* Room for the whole URI (shortened, PIN hidden) in an error message. */
#define URI_CONTEXT_MAX 96

/* What the parser works with. */
struct uri_parser {
    const char *text; /* the whole URI, for error context */
    P11BE_URI *uri;   /* result */
    char *err;        /* caller's message buffer, or NULL */
    size_t err_len;   /* its room */
    unsigned seen;    /* bit i: uri_attrs[i] given */
};

static void uri_wipe(void *ptr, size_t len)
{
    volatile unsigned char *p = ptr;

    while (len-- > 0)
        *p++ = 0;
}

static void uri_free_secret(char *s)
{
    if (s == NULL)
        return;
    uri_wipe(s, strlen(s));
    free(s);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
uri_error(struct uri_parser *p, const char *fmt, ...)
{
    va_list ap;

    if (p->err == NULL || p->err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(p->err, p->err_len, fmt, ap);
    va_end(ap);
}

/*
 * Writes s[0..len) into buf as a double-quoted string that is safe to
 * print: bytes outside printable ASCII and '"' or '\' become \xNN, and
 * more than URI_QUOTE_MAX bytes end in "...". Returns buf.
 */
static const char *uri_quote(char *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;

    buf[o++] = '"';
    for (i = 0; i < len && i < URI_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    if (len > URI_QUOTE_MAX) {
        buf[o - 1] = '.';
        buf[o++] = '.';
        buf[o++] = '.';
        buf[o++] = '"';
    }
    buf[o] = '\0';
    return buf;
}

/*
 * The URI for "... in pkcs11:..." context: shortened to URI_CONTEXT_MAX
 * bytes, unprintable bytes as '?', and every pin-value's value as "***"
 * so that an error message never shows a PIN.
 */
static const char *uri_context(char *buf, size_t buf_len, const char *text)
{
    static const char pin[] = "pin-value=";
    size_t i = 0, o = 0;

    while (text[i] != '\0' && o + 4 < buf_len && i < URI_CONTEXT_MAX) {
        unsigned char c = (unsigned char)text[i];

        if (strncmp(text + i, pin, sizeof(pin) - 1) == 0
            && o + sizeof(pin) + 3 < buf_len) {
            memcpy(buf + o, pin, sizeof(pin) - 1);
            o += sizeof(pin) - 1;
            memcpy(buf + o, "***", 3);
            o += 3;
            i += sizeof(pin) - 1;
            while (text[i] != '\0' && text[i] != '&' && text[i] != ';'
                   && text[i] != '?')
                i++;
            continue;
        }
        buf[o++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
        i++;
    }
    if (text[i] != '\0' && o + 3 < buf_len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

#define URI_ALNUM                                                              \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* May c stand unencoded in a value of this part (RFC 7512 2.3)? */
static int uri_is_value_char(unsigned char c, enum uri_part part)
{
    const char *also = part == URI_PATH ? "&" : "/?|";

    return c != '\0'
           && (strchr(URI_ALNUM "-._~:[]@!$'()*+,=", c) != NULL
               || strchr(also, c) != NULL);
}

static int uri_hex_value(unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF0123456789abcdef";
    const char *at = c != '\0' ? strchr(hex, c) : NULL;

    return at != NULL ? (int)(at - hex) % 16 : -1;
}

/*
 * Checks and percent-decodes the value s[0..len) of attribute `name`
 * into a new NUL-terminated buffer (*out, *out_len bytes before the
 * NUL). A secret value is not quoted in errors.
 */
static int uri_decode(struct uri_parser *p, const char *name, int secret,
                      enum uri_part part, const char *s, size_t len,
                      unsigned char **out, size_t *out_len)
{
    char q[URI_QUOTE_ROOM];
    unsigned char *buf;
    size_t i, o = 0;

    buf = malloc(len + 1);
    if (buf == NULL) {
        uri_error(p, "out of memory reading \"%s\"", name);
        return 0;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (c != '%') {
            if (!uri_is_value_char(c, part)) {
                if (secret)
                    uri_error(p,
                              "\"%s\" holds a character that must be "
                              "percent-encoded",
                              name);
                else
                    uri_error(p,
                              "character %s in \"%s\" must be "
                              "percent-encoded (%%%02X)",
                              uri_quote(q, s + i, 1), name, c);
                goto out_free_buf;
            }
            buf[o++] = c;
            continue;
        }
        hi = i + 1 < len ? uri_hex_value((unsigned char)s[i + 1]) : -1;
        lo = i + 2 < len ? uri_hex_value((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            if (secret)
                uri_error(p, "bad percent escape in \"%s\"", name);
            else
                uri_error(p, "bad percent escape %s in \"%s\"",
                          uri_quote(q, s + i, len - i < 3 ? len - i : 3), name);
            goto out_free_buf;
        }
        buf[o++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 1;

out_free_buf:
    uri_wipe(buf, len + 1);
    free(buf);
    return 0;
}

/* A decimal number of at most `max`: 1; 0 when larger; -1 if s is not one. */
static int uri_decimal(const char *s, size_t len, unsigned long max,
                       unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (len == 0 || strspn(s, "0123456789") < len)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int uri_set_slot_id(struct uri_parser *p, const char *v, size_t len)
{
    char q[URI_QUOTE_ROOM];
    int r = uri_decimal(v, len, (unsigned long)-1, &p->uri->slot_id);

    if (r <= 0) {
        uri_error(p,
                  r < 0 ? "slot-id %s is not a decimal number"
                        : "slot-id %s is too large",
                  uri_quote(q, v, len));
        return 0;
    }
    p->uri->has_slot_id = 1;
    return 1;
}

static int uri_set_lib_version(struct uri_parser *p, const char *v, size_t len)
{
    char q[URI_QUOTE_ROOM];
    const char *dot = memchr(v, '.', len);
    size_t major_len = dot != NULL ? (size_t)(dot - v) : len;
    unsigned long major, minor = 0;

    if (uri_decimal(v, major_len, (unsigned)-1, &major) <= 0
        || (dot != NULL
            && uri_decimal(dot + 1, len - major_len - 1, (unsigned)-1, &minor)
                   <= 0)) {
        uri_error(p,
                  "library-version %s is not M or M.N (decimal numbers "
                  "that fit an unsigned int)",
                  uri_quote(q, v, len));
        return 0;
    }
    p->uri->has_library_version = 1;
    p->uri->library_major = (unsigned)major;
    p->uri->library_minor = (unsigned)minor;
    return 1;
}

static int uri_set_type(struct uri_parser *p, const char *v, size_t len)
{
    char q[URI_QUOTE_ROOM];
    size_t i;

    for (i = 1; i < URI_TYPE_COUNT; i++) {
        if (strlen(uri_type_names[i]) == len
            && memcmp(uri_type_names[i], v, len) == 0) {
            p->uri->type = (enum p11be_uri_type)i;
            return 1;
        }
    }
    uri_error(p,
              "type %s is not one of private, public, cert, secret-key, "
              "data",
              uri_quote(q, v, len));
    return 0;
}

/* pin-source is "file:PATH" or an absolute path; the store reads it. */
static int uri_check_pin_source(struct uri_parser *p, const char *v, size_t len)
{
    char q[URI_QUOTE_ROOM];

    if ((strncmp(v, "file:", 5) == 0 && v[5] != '\0') || v[0] == '/')
        return 1;
    uri_error(p,
              "pin-source %s is neither \"file:PATH\" nor an absolute "
              "path",
              uri_quote(q, v, len));
    return 0;
}

/*
 * Is the name s[0..len), which "=" ends, a vendor attribute's:
 * "x-" 1*(ALPHA / DIGIT / - / _)?
 */
static int uri_is_vendor_name(const char *s, size_t len)
{
    return len >= 3 && s[0] == 'x' && s[1] == '-'
           && strspn(s + 2, URI_ALNUM "-_") == len - 2;
}

static const struct uri_attr *uri_find_attr(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < URI_ATTR_COUNT; i++)
        if (strlen(uri_attrs[i].name) == len
            && memcmp(uri_attrs[i].name, s, len) == 0)
            return &uri_attrs[i];
    return NULL;
}

/* Handles one "name=value" (s[0..len), non-empty) of the given part. */
static int uri_attribute(struct uri_parser *p, enum uri_part part,
                         const char *s, size_t len)
{
    char q[URI_QUOTE_ROOM], ctx[URI_CONTEXT_MAX + 8];
    const char *eq = memchr(s, '=', len);
    size_t name_len = eq != NULL ? (size_t)(eq - s) : len;
    const char *v = eq != NULL ? eq + 1 : s + len;
    size_t v_len = eq != NULL ? len - name_len - 1 : 0;
    const struct uri_attr *attr;
    unsigned char *value;
    size_t value_len, bit;
    int ok;

    if (eq == NULL) {
        uri_error(p, "attribute %s has no \"=\" (name=value) in %s",
                  uri_quote(q, s, len), uri_context(ctx, sizeof(ctx), p->text));
        return 0;
    }
    attr = uri_find_attr(s, name_len);
    if (attr == NULL) {
        if (!uri_is_vendor_name(s, name_len)) {
            uri_error(p, "unknown attribute %s in %s",
                      uri_quote(q, s, name_len),
                      uri_context(ctx, sizeof(ctx), p->text));
            return 0;
        }
        /* Vendor attribute: checked, then ignored as RFC 7512 allows. */
        if (!uri_decode(p, "x-...", 0, part, v, v_len, &value, &value_len))
            return 0;
        free(value);
        return 1;
    }
    if (attr->part != part) {
        uri_error(p,
                  "\"%s\" is a %s attribute: it goes %s \"?\", separated "
                  "by \"%c\"",
                  attr->name, part == URI_PATH ? "query" : "path",
                  part == URI_PATH ? "after" : "before",
                  part == URI_PATH ? '&' : ';');
        return 0;
    }
    bit = 1u << (attr - uri_attrs);
    if (p->seen & bit) {
        uri_error(p, "\"%s\" given twice", attr->name);
        return 0;
    }
    p->seen |= bit;
    if (!uri_decode(p, attr->name, attr->secret, part, v, v_len, &value,
                    &value_len))
        return 0;
    if (attr->kind == URI_BYTES) {
        p->uri->id = value;
        p->uri->id_len = value_len;
        p->uri->has_id = 1;
        return 1;
    }
    /* Decoded first: "%31" is a valid slot-id digit, as RFC 3986 has. */
    ok = memchr(value, '\0', value_len) == NULL;
    if (!ok)
        uri_error(p, "\"%s\" may not hold %%00%s", attr->name,
                  attr->kind == URI_TEXT ? " (text attributes end at NUL)"
                                         : "");
    else if (attr->check != NULL)
        ok = attr->check(p, (char *)value, value_len);
    if (ok && attr->kind == URI_TEXT) {
        *(char **)((char *)p->uri + attr->field) = (char *)value;
        return 1;
    }
    if (attr->secret)
        uri_wipe(value, value_len);
    free(value);
    return ok;
}

/*
 * Handles the attributes of one part, s[0..len) separated by sep. An
 * empty part has none; an empty attribute between separators is an
 * error.
 */
static int uri_part_attrs(struct uri_parser *p, enum uri_part part, char sep,
                          const char *s, size_t len)
{
    const char *end = s + len;

    if (len == 0)
        return 1;
    for (;;) {
        const char *next = memchr(s, sep, (size_t)(end - s));
        size_t n = next != NULL ? (size_t)(next - s) : (size_t)(end - s);

        if (n == 0) {
            char ctx[URI_CONTEXT_MAX + 8];

            uri_error(p, "empty attribute (stray \"%c\") in the %s of %s", sep,
                      part == URI_PATH ? "path" : "query",
                      uri_context(ctx, sizeof(ctx), p->text));
            return 0;
        }
        if (!uri_attribute(p, part, s, n))
            return 0;
        if (next == NULL)
            return 1;
        s = next + 1;
    }
}

int p11be_uri_parse(const char *text, P11BE_URI *uri, char *err, size_t err_len)
{
    struct uri_parser p = {
        .text = text, .uri = uri, .err = err, .err_len = err_len};
    const char *path, *query;
    size_t path_len;

    memset(uri, 0, sizeof(*uri));
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (text == NULL || strncasecmp(text, "pkcs11:", 7) != 0) {
        char q[URI_QUOTE_ROOM];
        size_t n = text == NULL ? 0 : strlen(text);

        uri_error(&p, "%s is not a pkcs11: URI (RFC 7512)",
                  uri_quote(q, text == NULL ? "" : text, n < 16 ? n : 16));
        return 0;
    }
    path = text + 7;
    query = strchr(path, '?');
    path_len = query != NULL ? (size_t)(query - path) : strlen(path);
    if (!uri_part_attrs(&p, URI_PATH, ';', path, path_len))
        goto out_clear;
    if (query != NULL
        && !uri_part_attrs(&p, URI_QUERY, '&', query + 1, strlen(query + 1)))
        goto out_clear;
    if (uri->pin_value != NULL && uri->pin_source != NULL) {
        uri_error(&p, "\"pin-value\" and \"pin-source\" may not both be "
                      "given (RFC 7512 2.4)");
        goto out_clear;
    }
    return 1;

out_clear:
    p11be_uri_clear(uri);
    return 0;
}

void p11be_uri_clear(P11BE_URI *uri)
{
    size_t i;

    if (uri == NULL)
        return;
    for (i = 0; i < URI_ATTR_COUNT; i++) {
        char **field = (char **)((char *)uri + uri_attrs[i].field);

        if (uri_attrs[i].kind == URI_TEXT && uri_attrs[i].secret)
            uri_free_secret(*field);
        else if (uri_attrs[i].kind == URI_TEXT)
            free(*field);
    }
    free(uri->id);
    memset(uri, 0, sizeof(*uri));
}

const char *p11be_uri_type_name(enum p11be_uri_type type)
{
    if ((size_t)type >= URI_TYPE_COUNT)
        return NULL;
    return uri_type_names[type];
}

size_t p11be_uri_encode(const unsigned char *bytes, size_t len, char *out,
                        size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0, written = 0;

    /* Stops writing at the first character that does not fit whole. */
    for (i = 0; i < len; i++) {
        unsigned char c = bytes[i];
        size_t n = uri_is_value_char(c, URI_PATH) ? 1 : 3;

        if (written == o && o + n < out_len) {
            if (n == 1) {
                out[o] = (char)c;
            } else {
                out[o] = '%';
                out[o + 1] = hex[c >> 4];
                out[o + 2] = hex[c & 15];
            }
            written += n;
        }
        o += n;
    }
    if (out_len > 0)
        out[written] = '\0';
    return o;
}
