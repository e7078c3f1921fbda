/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the settings parser, provider/config.c, built
 * together with provider/err.c behind a small fake core: its get_params
 * answers the provider parameters the input names, and its error upcalls
 * format every message (so a bad format argument shows under ASan).
 *
 * An input is text, one setting a line, "name=value", where name is a
 * provider parameter ("pkcs11-slot-id") or its environment variable
 * ("CRYPTOGRAPHY_PKCS11_SLOT_ID"); other lines are ignored. The target
 * then reads every setting the way the provider does (numbers with the
 * provider's ranges, choices, the PIN) and checks what it got back.
 *
 * A "file:" PIN source is pointed at one of a few files this target
 * writes (chosen by the rest of the value), so that no input can make it
 * read /dev/stdin or a FIFO. A number setting that accepts text which is
 * not plain decimal digits (" -1" read as ULONG_MAX by strtoul) aborts;
 * P11BE_FUZZ_STRICT=0 lets such inputs pass.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest value the target passes on (a config line is short). */
#define FUZZ_VALUE_MAX 2048

/*
 * The environment variable of each setting (config.c's table). A setting
 * added there and not here is fuzzed as a provider parameter only.
 */
static const char *const env_names[P11BE_SET_COUNT] = {
    [P11BE_SET_MODULE_PATH] = "CRYPTOGRAPHY_PKCS11_PATH",
    [P11BE_SET_SLOT_ID] = "CRYPTOGRAPHY_PKCS11_SLOT_ID",
    [P11BE_SET_TOKEN_LABEL] = NULL,
    [P11BE_SET_SESSION_FLAGS] = "CRYPTOGRAPHY_PKCS11_FLAGS",
    [P11BE_SET_USER_TYPE] = "CRYPTOGRAPHY_PKCS11_USER_TYPE",
    [P11BE_SET_PIN] = "CRYPTOGRAPHY_PKCS11_PASSWORD",
    [P11BE_SET_POOL_MAX] = "P11BE_SESSION_POOL_MAX",
    [P11BE_SET_LOGIN] = "P11BE_LOGIN",
    [P11BE_SET_FINALIZE] = "P11BE_FINALIZE",
    [P11BE_SET_DIGEST_BUFFER_MAX] = "P11BE_DIGEST_BUFFER_MAX",
    [P11BE_SET_KEYGEN_EXPORTABLE] = "P11BE_KEYGEN_EXPORTABLE",
    [P11BE_SET_MODULE_INIT_ARGS] = "P11BE_MODULE_INIT_ARGS",
};

/* One input's settings. */
struct fuzz_settings {
    char *param[P11BE_SET_COUNT]; /* as provider parameter, or NULL */
    char *env[P11BE_SET_COUNT];   /* as environment variable, or NULL */
};

/* "NAME=value" buffers handed to putenv(), reused for every input. */
static char env_buf[P11BE_SET_COUNT][64 + FUZZ_VALUE_MAX];

/* The PIN files "file:" sources are pointed at. */
static char pin_dir[64];
static const char *const pin_files[] = {
    "1234\n", "1234\r\n",     "",   "no-newline", "\n",
    "a\rb\n", "\xff\x00zz\n", NULL, /* filled with a line longer than config.c's
                                       buffer */
};
#define PIN_FILE_COUNT (sizeof(pin_files) / sizeof(pin_files[0]))

/* The settings of the input being run, for fake_get_params. */
static const struct fuzz_settings *current;

/* Messages raised; must be formatted and NUL-terminated. */
static char last_error[4096];
static unsigned long error_count;

static int strict;

static void fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
        abort();
    }
}

static void fake_new_error(const OSSL_CORE_HANDLE *handle)
{
    (void)handle;
    error_count++;
}

static void fake_set_error_debug(const OSSL_CORE_HANDLE *handle,
                                 const char *file, int line, const char *func)
{
    (void)handle;
    fuzz_check(file != NULL && func != NULL && line > 0, "error location");
}

__attribute__((format(printf, 3, 0))) static void
fake_vset_error(const OSSL_CORE_HANDLE *handle, uint32_t reason,
                const char *fmt, va_list args)
{
    (void)handle;
    fuzz_check(reason >= P11BE_R_MODULE_PATH_NOT_SET, "reason code");
    vsnprintf(last_error, sizeof(last_error), fmt, args);
}

/* The core's get_params: the params the input set, as utf8 pointers. */
static int fake_get_params(const OSSL_CORE_HANDLE *handle, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    int i;

    (void)handle;
    for (i = 0; i < P11BE_SET_COUNT; i++) {
        if (current->param[i] == NULL)
            continue;
        p = OSSL_PARAM_locate(params, p11be_config_param_name(i));
        if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, current->param[i]))
            return 0;
    }
    return 1;
}

static const OSSL_DISPATCH fake_core[] = {
    {OSSL_FUNC_CORE_NEW_ERROR, (void (*)(void))fake_new_error},
    {OSSL_FUNC_CORE_SET_ERROR_DEBUG, (void (*)(void))fake_set_error_debug},
    {OSSL_FUNC_CORE_VSET_ERROR, (void (*)(void))fake_vset_error},
    {0, NULL},
};

/* Any non-NULL pointer serves as the handle: the fake core ignores it. */
static const OSSL_CORE_HANDLE *const fake_handle =
    (const OSSL_CORE_HANDLE *)fake_core;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[128], long_line[3000];
    size_t i;

    (void)argc;
    (void)argv;
    strict = getenv("P11BE_FUZZ_STRICT") == NULL
             || strcmp(getenv("P11BE_FUZZ_STRICT"), "0") != 0;
    p11be_err_init(fake_handle, fake_core);
    snprintf(pin_dir, sizeof(pin_dir), "%s/p11be-fuzz-pin-XXXXXX",
             getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 30
                 ? getenv("TMPDIR")
                 : "/tmp");
    fuzz_check(mkdtemp(pin_dir) != NULL, "mkdtemp");
    memset(long_line, 'L', sizeof(long_line) - 2);
    long_line[sizeof(long_line) - 2] = '\n';
    long_line[sizeof(long_line) - 1] = '\0';
    for (i = 0; i < PIN_FILE_COUNT; i++) {
        const char *text = pin_files[i] != NULL ? pin_files[i] : long_line;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%zu", pin_dir, i);
        f = fopen(path, "w");
        fuzz_check(f != NULL, "writing a PIN file");
        fputs(text, f);
        fclose(f);
    }
    return 0;
}

/* Splits the input into its settings; returns 0 when it names none. */
static int read_input(const uint8_t *data, size_t size, struct fuzz_settings *s)
{
    const char *p = (const char *)data, *end = p + size;
    int any = 0;

    memset(s, 0, sizeof(*s));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(line_end - p));
        int i;

        for (i = 0; eq != NULL && i < P11BE_SET_COUNT; i++) {
            const char *pname = p11be_config_param_name(i);
            size_t n = (size_t)(eq - p);
            size_t vlen = (size_t)(line_end - eq - 1);
            char **slot = NULL;

            if (strlen(pname) == n && memcmp(p, pname, n) == 0)
                slot = &s->param[i];
            else if (env_names[i] != NULL && strlen(env_names[i]) == n
                     && memcmp(p, env_names[i], n) == 0)
                slot = &s->env[i];
            if (slot == NULL)
                continue;
            if (vlen > FUZZ_VALUE_MAX)
                vlen = FUZZ_VALUE_MAX;
            free(*slot);
            *slot = malloc(vlen + 1);
            fuzz_check(*slot != NULL, "malloc");
            memcpy(*slot, eq + 1, vlen);
            (*slot)[vlen] = '\0';
            any = 1;
            break;
        }
        p = line_end + 1;
    }
    return any;
}

static void free_settings(struct fuzz_settings *s)
{
    int i;

    for (i = 0; i < P11BE_SET_COUNT; i++) {
        free(s->param[i]);
        free(s->env[i]);
    }
}

/* Sets the environment to exactly the variables the input gave. */
static void set_env(const struct fuzz_settings *s)
{
    int i;

    for (i = 0; i < P11BE_SET_COUNT; i++) {
        if (env_names[i] == NULL)
            continue;
        if (s->env[i] == NULL) {
            unsetenv(env_names[i]);
            continue;
        }
        snprintf(env_buf[i], sizeof(env_buf[i]), "%s=%s", env_names[i],
                 s->env[i]);
        putenv(env_buf[i]);
    }
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* A number setting read with the range the provider uses. */
static void read_number(const P11BE_CONFIG *cfg, enum p11be_setting id,
                        unsigned long fallback, unsigned long min,
                        unsigned long max)
{
    const char *text = p11be_config_get(cfg, id);
    unsigned long v = 0x5a5a;
    unsigned long before = error_count;

    if (p11be_config_ulong(cfg, id, fake_handle, fallback, min, max, &v)) {
        fuzz_check(error_count == before, "no error on success");
        if (text == NULL || *text == '\0') {
            fuzz_check(v == fallback, "unset number gives the fallback");
            return;
        }
        fuzz_check(v >= min && v <= max, "number within its range");
        if (!all_digits(text)) {
            if (strict) {
                fprintf(stderr,
                        "fuzz_config: %s=\"%s\" accepted as %lu, but it is "
                        "not a decimal number\n",
                        p11be_config_source(cfg, id), text, v);
                abort();
            }
        } else {
            fuzz_check(v == strtoul(text, NULL, 10),
                       "decimal digits read as their value");
        }
    } else {
        fuzz_check(error_count > before, "a refusal raises an error");
        fuzz_check(text != NULL && *text != '\0', "only a set value fails");
        fuzz_check(strstr(last_error, p11be_config_source(cfg, id)) != NULL,
                   "the error names the setting");
    }
}

static void read_choice(const P11BE_CONFIG *cfg, enum p11be_setting id,
                        const char *const *choices)
{
    const char *text = p11be_config_get(cfg, id);
    int r = p11be_config_choice(cfg, id, fake_handle, 0, choices);

    if (r < 0)
        fuzz_check(strstr(last_error, p11be_config_source(cfg, id)) != NULL,
                   "the error names the setting");
    else if (text != NULL && *text != '\0')
        fuzz_check(strcmp(choices[r], text) == 0, "the choice given");
}

/* The PIN, with any "file:" source pointed at one of our files. */
static void read_pin(P11BE_CONFIG *cfg)
{
    char *spec = cfg->value[P11BE_SET_PIN], *saved = NULL, *pin = NULL;
    char path[128];
    size_t pin_len = 0;
    int r;

    if (spec != NULL && strncmp(spec, "file:", 5) == 0) {
        unsigned h = 0;
        const char *c;

        for (c = spec + 5; *c != '\0'; c++)
            h = h * 31 + (unsigned char)*c;
        /* One more than the files written: a file that does not exist. */
        snprintf(path, sizeof(path), "file:%s/%u", pin_dir,
                 h % (unsigned)(PIN_FILE_COUNT + 1));
        saved = spec;
        cfg->value[P11BE_SET_PIN] = path;
    }
    r = p11be_config_read_pin(cfg, fake_handle, &pin, &pin_len);
    if (r == 1) {
        fuzz_check(pin != NULL && pin[pin_len] == '\0', "PIN terminated");
        fuzz_check(
            memchr(pin, '\n', pin_len) == NULL
                || strncmp(p11be_config_get(cfg, P11BE_SET_PIN), "file:", 5)
                       != 0,
            "a PIN file's line ending is not in the PIN");
        OPENSSL_clear_free(pin, pin_len);
    } else {
        fuzz_check(r == -1 ? spec == NULL : pin == NULL || r == 0,
                   "read_pin result");
    }
    if (saved != NULL)
        cfg->value[P11BE_SET_PIN] = saved;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const login_choices[] = {"on-demand", "at-first-use",
                                                NULL};
    static const char *const finalize_choices[] = {"auto", "always", "never",
                                                   NULL};
    static const char *const exportable_choices[] = {"no", "yes", NULL};
    struct fuzz_settings s;
    P11BE_CONFIG cfg;
    int i;

    if (!read_input(data, size, &s)) {
        free_settings(&s);
        return -1; /* not worth keeping in the corpus */
    }
    current = &s;
    set_env(&s);
    fuzz_check(p11be_config_load(&cfg, fake_handle, fake_get_params),
               "p11be_config_load");
    for (i = 0; i < P11BE_SET_COUNT; i++) {
        const char *want = s.param[i] != NULL ? s.param[i] : s.env[i];

        fuzz_check((want == NULL) == (p11be_config_get(&cfg, i) == NULL)
                       && (want == NULL
                           || strcmp(want, p11be_config_get(&cfg, i)) == 0),
                   "the parameter wins over the environment");
        fuzz_check(strcmp(p11be_config_source(&cfg, i),
                          s.param[i] == NULL && s.env[i] != NULL
                              ? env_names[i]
                              : p11be_config_param_name(i))
                       == 0,
                   "the source names where the value came from");
    }
    /* The ranges and choices provider.c, slot.c and keymgmt.c use. */
    read_number(&cfg, P11BE_SET_DIGEST_BUFFER_MAX, 1 << 20, 0,
                (unsigned long)1 << 30);
    read_number(&cfg, P11BE_SET_SLOT_ID, 0, 0, (unsigned long)-1);
    read_number(&cfg, P11BE_SET_SESSION_FLAGS, 6, 0, (unsigned long)-1);
    read_number(&cfg, P11BE_SET_USER_TYPE, 1, 0, (unsigned long)-1);
    read_number(&cfg, P11BE_SET_POOL_MAX, 8, 1, 65536);
    read_choice(&cfg, P11BE_SET_LOGIN, login_choices);
    read_choice(&cfg, P11BE_SET_FINALIZE, finalize_choices);
    read_choice(&cfg, P11BE_SET_KEYGEN_EXPORTABLE, exportable_choices);
    read_pin(&cfg);
    p11be_ckr_name((CK_RV)size * 0x1001);
    p11be_config_free(&cfg);
    for (i = 0; i < P11BE_SET_COUNT; i++)
        fuzz_check(cfg.value[i] == NULL, "p11be_config_free clears");
    current = NULL;
    free_settings(&s);
    return 0;
}
