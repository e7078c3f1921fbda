/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11marker.so (tests/17-setuid.t): a library that, once loaded, appends
 * its process's effective uid to the file $P11MARKER names, and offers no
 * C_GetFunctionList. It stands for a library an unprivileged user would
 * have a setuid program load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void mark_loaded(void)
{
    const char *path = getenv("P11MARKER");
    FILE *f = path != NULL ? fopen(path, "a") : NULL;

    if (f != NULL) {
        fprintf(f, "loaded with euid %ld\n", (long)geteuid());
        fclose(f);
    }
}
