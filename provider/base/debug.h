/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run-time tracing, switched on by the environment variable P11BE_DEBUG
 * ("1" or "stderr" for standard error, anything else is a file to append
 * to). Lines carry file, line and function. Never pass key bytes, PINs or
 * plaintext.
 */
#ifndef P11BE_DEBUG_H
#define P11BE_DEBUG_H

extern int p11be_debug_on;

void p11be_debug_init(void);
void p11be_debug_at(const char *file, int line, const char *func,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define P11BE_DEBUG(...)                                                       \
    do {                                                                       \
        if (p11be_debug_on)                                                    \
            p11be_debug_at(__FILE__, __LINE__, __func__, __VA_ARGS__);         \
    } while (0)

#endif
