/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* secure_getenv */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include <openssl/crypto.h>
#include <openssl/params.h>

#include "err.h"

static const struct {
    const char *param; /* provider parameter in the config section */
    const char *env;   /* environment fallback, NULL for none */
} setting_names[P11BE_SET_COUNT] = {
#define P11BE_SET_NAMES(id, param, env) {param, env},
    P11BE_SETTINGS(P11BE_SET_NAMES)};

const char *p11be_getenv(const char *name)
{
    return secure_getenv(name);
}

int p11be_env_ignored(void)
{
    return getauxval(AT_SECURE) != 0;
}

int p11be_config_load(P11BE_CONFIG *cfg, const OSSL_CORE_HANDLE *handle,
                      OSSL_FUNC_core_get_params_fn *core_get_params)
{
    OSSL_PARAM params[P11BE_SET_COUNT + 1];
    char *found[P11BE_SET_COUNT] = {NULL};
    int i;

    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < P11BE_SET_COUNT; i++)
        params[i] = OSSL_PARAM_construct_utf8_ptr(
            (char *)setting_names[i].param, &found[i], 0);
    params[P11BE_SET_COUNT] = OSSL_PARAM_construct_end();
    if (core_get_params != NULL && !core_get_params(handle, params))
        return 0;

    for (i = 0; i < P11BE_SET_COUNT; i++) {
        const char *value = found[i];

        if (value == NULL && setting_names[i].env != NULL) {
            value = p11be_getenv(setting_names[i].env);
            cfg->from_env[i] = value != NULL;
        }
        if (value == NULL)
            continue;
        cfg->value[i] = OPENSSL_strdup(value);
        if (cfg->value[i] == NULL) {
            p11be_config_free(cfg);
            return 0;
        }
    }
    return 1;
}

void p11be_config_free(P11BE_CONFIG *cfg)
{
    int i;

    for (i = 0; i < P11BE_SET_COUNT; i++) {
        if (cfg->value[i] != NULL)
            OPENSSL_clear_free(cfg->value[i], strlen(cfg->value[i]));
        cfg->value[i] = NULL;
    }
}

const char *p11be_config_get(const P11BE_CONFIG *cfg, enum p11be_setting id)
{
    return cfg->value[id];
}

const char *p11be_config_source(const P11BE_CONFIG *cfg, enum p11be_setting id)
{
    return cfg->from_env[id] ? setting_names[id].env : setting_names[id].param;
}

const char *p11be_config_param_name(enum p11be_setting id)
{
    return setting_names[id].param;
}

int p11be_config_ulong(const P11BE_CONFIG *cfg, enum p11be_setting id,
                       const OSSL_CORE_HANDLE *handle, unsigned long fallback,
                       unsigned long min, unsigned long max, unsigned long *out)
{
    const char *text = cfg->value[id];
    char *end;
    unsigned long v;

    if (text == NULL || *text == '\0') {
        *out = fallback;
        return 1;
    }
    /* Digits only: strtoul() would take " -1" (as ULONG_MAX) and "+6". */
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || strspn(text, "0123456789") != strlen(text)
        || text[0] == '\0' || v < min || v > max) {
        p11be_raise(handle, P11BE_R_BAD_SETTING,
                    "%s=\"%s\": expected a decimal number from %lu to %lu",
                    p11be_config_source(cfg, id), text, min, max);
        return 0;
    }
    *out = v;
    return 1;
}

int p11be_config_choice(const P11BE_CONFIG *cfg, enum p11be_setting id,
                        const OSSL_CORE_HANDLE *handle, int fallback,
                        const char *const *choices)
{
    const char *text = cfg->value[id];
    int i;

    if (text == NULL || *text == '\0')
        return fallback;
    for (i = 0; choices[i] != NULL; i++)
        if (strcmp(text, choices[i]) == 0)
            return i;
    p11be_raise(handle, P11BE_R_BAD_SETTING, "%s=\"%s\": not a known value",
                p11be_config_source(cfg, id), text);
    return -1;
}

int p11be_pin_from_file(const OSSL_CORE_HANDLE *handle, const char *who,
                        const char *kind, const char *path, char **pin,
                        size_t *pin_len)
{
    char line[1024] = "";
    FILE *f = fopen(path, "re");
    int err = errno, failed = f == NULL;
    size_t len;

    if (f != NULL) {
        /* Unbuffered: stdio's buffer would keep a copy of the PIN. */
        setvbuf(f, NULL, _IONBF, 0);
        if (fgets(line, sizeof(line), f) == NULL)
            line[0] = '\0';
        /* A directory opens, and its read fails (EISDIR). */
        failed = ferror(f);
        err = errno;
        fclose(f);
    }
    if (failed) {
        p11be_raise(handle, P11BE_R_BAD_SETTING,
                    "%s: cannot read the %s file %s: %s", who, kind, path,
                    strerror(err));
        OPENSSL_cleanse(line, sizeof(line));
        return 0;
    }
    len = strcspn(line, "\r\n");
    *pin = OPENSSL_strndup(line, len);
    *pin_len = len;
    OPENSSL_cleanse(line, sizeof(line));
    return *pin != NULL;
}

void p11be_config_pin_origin(const P11BE_CONFIG *cfg, char *out, size_t room)
{
    const char *spec = cfg->value[P11BE_SET_PIN];
    const char *name = p11be_config_source(cfg, P11BE_SET_PIN);

    /* Only a path or a variable's name: a literal value is the PIN. */
    if (spec != NULL && strncmp(spec, "file:", 5) == 0)
        snprintf(out, room, "%s (the first line of %s)", name, spec + 5);
    else if (spec != NULL && strncmp(spec, "env:", 4) == 0)
        snprintf(out, room, "%s (the environment variable %s)", name, spec + 4);
    else
        snprintf(out, room, "%s", name);
}

int p11be_config_read_pin(const P11BE_CONFIG *cfg,
                          const OSSL_CORE_HANDLE *handle, char **pin,
                          size_t *pin_len)
{
    const char *spec = cfg->value[P11BE_SET_PIN];
    const char *value = spec;

    if (spec == NULL)
        return -1;
    if (strncmp(spec, "file:", 5) == 0)
        return p11be_pin_from_file(handle,
                                   p11be_config_source(cfg, P11BE_SET_PIN),
                                   "PIN", spec + 5, pin, pin_len);
    if (strncmp(spec, "env:", 4) == 0) {
        value = p11be_getenv(spec + 4);
        if (value == NULL) {
            p11be_raise(handle, P11BE_R_BAD_SETTING,
                        "%s names the environment variable %s, which is "
                        "not set",
                        p11be_config_source(cfg, P11BE_SET_PIN), spec + 4);
            return 0;
        }
    }
    *pin_len = strlen(value);
    *pin = OPENSSL_strndup(value, *pin_len);
    return *pin != NULL;
}
