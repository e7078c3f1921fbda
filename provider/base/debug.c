/* SPDX-License-Identifier: Apache-2.0 */
#include "debug.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int p11be_debug_on;
static FILE *debug_out;
static pthread_once_t debug_once = PTHREAD_ONCE_INIT;

static void debug_open(void)
{
    const char *where = p11be_getenv("P11BE_DEBUG");

    if (where == NULL || *where == '\0' || strcmp(where, "0") == 0)
        return;
    if (strcmp(where, "1") == 0 || strcmp(where, "stderr") == 0)
        debug_out = stderr;
    else
        debug_out = fopen(where, "ae");
    p11be_debug_on = debug_out != NULL;
}

void p11be_debug_init(void)
{
    pthread_once(&debug_once, debug_open);
}

void p11be_debug_at(const char *file, int line, const char *func,
                    const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    const char *base = strrchr(file, '/');

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines from threads whole. */
    fprintf(debug_out, "pkcs11be[%ld] %s:%d %s: %s\n", (long)getpid(),
            base != NULL ? base + 1 : file, line, func, msg);
    fflush(debug_out);
}
