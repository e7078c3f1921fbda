/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Settings: provider parameters from the OpenSSL config file win over the
 * environment. Values are read once, at provider load, and checked only
 * when the token is first needed, so that a wrong setting fails the
 * operation that needs it (with an error naming the setting) and never the
 * application's start-up.
 */
#ifndef P11BE_CONFIG_H
#define P11BE_CONFIG_H

#include <stddef.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <p11-kit/pkcs11.h>

/* Every setting: its id, provider parameter and environment fallback. */
#define P11BE_SETTINGS(X)                                                      \
    X(MODULE_PATH, "pkcs11-module-path", "CRYPTOGRAPHY_PKCS11_PATH")           \
    X(SLOT_ID, "pkcs11-slot-id", "CRYPTOGRAPHY_PKCS11_SLOT_ID")                \
    X(TOKEN_LABEL, "pkcs11-token-label", NULL)                                 \
    X(SESSION_FLAGS, "pkcs11-session-flags", "CRYPTOGRAPHY_PKCS11_FLAGS")      \
    X(USER_TYPE, "pkcs11-user-type", "CRYPTOGRAPHY_PKCS11_USER_TYPE")          \
    X(PIN, "pkcs11-pin", "CRYPTOGRAPHY_PKCS11_PASSWORD")                       \
    X(POOL_MAX, "pkcs11-session-pool-max", "P11BE_SESSION_POOL_MAX")           \
    X(LOGIN, "pkcs11-login", "P11BE_LOGIN")                                    \
    X(FINALIZE, "pkcs11-finalize", "P11BE_FINALIZE")                           \
    X(DIGEST_BUFFER_MAX, "pkcs11-digest-buffer-max",                           \
      "P11BE_DIGEST_BUFFER_MAX")                                               \
    X(KEYGEN_EXPORTABLE, "pkcs11-keygen-exportable",                           \
      "P11BE_KEYGEN_EXPORTABLE")                                               \
    X(MODULE_INIT_ARGS, "pkcs11-module-init-args", "P11BE_MODULE_INIT_ARGS")   \
    X(OFFLOAD, "pkcs11-offload", "P11BE_OFFLOAD")                              \
    X(HELD_MAX, "pkcs11-session-held-max", "P11BE_SESSION_HELD_MAX")           \
    X(GCM_DECRYPT_MAX, "pkcs11-gcm-decrypt-max", "P11BE_GCM_DECRYPT_MAX")      \
    X(KEY_CACHE, "pkcs11-key-cache", "P11BE_KEY_CACHE")

#define P11BE_SET_ID(id, param, env) P11BE_SET_##id,
enum p11be_setting { P11BE_SETTINGS(P11BE_SET_ID) P11BE_SET_COUNT };

typedef struct p11be_config_st {
    char *value[P11BE_SET_COUNT];            /* NULL: not set anywhere */
    unsigned char from_env[P11BE_SET_COUNT]; /* 1: taken from environment */
} P11BE_CONFIG;

/*
 * getenv, except in a process running with privileges its caller lacks
 * (setuid, setgid, file capabilities): there NULL, as OpenSSL reads its
 * own settings. Otherwise an unprivileged user would choose the library a
 * setuid program loads (CRYPTOGRAPHY_PKCS11_PATH) or the file it writes
 * (P11BE_DEBUG). Every environment setting is read through it.
 */
const char *p11be_getenv(const char *name);

/* Whether p11be_getenv ignores the environment in this process. */
int p11be_env_ignored(void);

/* Read every setting from the provider's config section, then the env. */
int p11be_config_load(P11BE_CONFIG *cfg, const OSSL_CORE_HANDLE *handle,
                      OSSL_FUNC_core_get_params_fn *core_get_params);
void p11be_config_free(P11BE_CONFIG *cfg);

/* The raw value, or NULL. */
const char *p11be_config_get(const P11BE_CONFIG *cfg, enum p11be_setting id);

/* The name the user set it by: "pkcs11-slot-id" or "CRYPTOGRAPHY_..."  */
const char *p11be_config_source(const P11BE_CONFIG *cfg, enum p11be_setting id);

/* The parameter name, for gettable params and documentation. */
const char *p11be_config_param_name(enum p11be_setting id);

/*
 * A decimal number; `fallback` when unset. Raises an error that names the
 * setting when the value is not a number in [min, max].
 */
int p11be_config_ulong(const P11BE_CONFIG *cfg, enum p11be_setting id,
                       const OSSL_CORE_HANDLE *handle, unsigned long fallback,
                       unsigned long min, unsigned long max,
                       unsigned long *out);

/* One of `choices` (NULL-terminated); returns its index or -1 (raised). */
int p11be_config_choice(const P11BE_CONFIG *cfg, enum p11be_setting id,
                        const OSSL_CORE_HANDLE *handle, int fallback,
                        const char *const *choices);

/*
 * The PIN: a literal, "file:PATH" (first line) or "env:NAME". On success
 * *pin is a fresh buffer the caller wipes with OPENSSL_clear_free(*pin,
 * *pin_len). Returns 0 (raised) on failure, and -1 when no PIN is set.
 */
int p11be_config_read_pin(const P11BE_CONFIG *cfg,
                          const OSSL_CORE_HANDLE *handle, char **pin,
                          size_t *pin_len);

/*
 * The first line of the file at `path`, without its line ending, read
 * unbuffered (stdio keeps no copy): the only PIN file reader, for the
 * setting and for a URI's pin-source. *pin as for p11be_config_read_pin;
 * 0 (raised: "<who>: cannot read the <kind> file <path>: <why>") on
 * failure. An empty first line gives an empty PIN: the login refuses it.
 */
int p11be_pin_from_file(const OSSL_CORE_HANDLE *handle, const char *who,
                        const char *kind, const char *path, char **pin,
                        size_t *pin_len);

/*
 * Where the configured PIN comes from, for messages: the setting's name
 * and, for "file:" and "env:", the file or the variable (never a literal
 * PIN).
 */
void p11be_config_pin_origin(const P11BE_CONFIG *cfg, char *out, size_t room);

#endif
