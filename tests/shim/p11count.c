/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11count: read or reset the counter file written by p11shim.so.
 *
 *   p11count [FILE]          print "C_Name N" for every N > 0
 *   p11count --all [FILE]    print every function, zeros too
 *   p11count --reset [FILE]  zero the counters, creating FILE if missing
 *
 * FILE defaults to $P11SHIM_COUNTS.  Lines come in CK_FUNCTION_LIST order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11shim_counts.h"
#include "p11shim_names.h"

static void count_usage(FILE *out)
{
    fputs("usage: p11count [--all | --reset] [FILE]\n"
          "Print the per-function call counts that p11shim.so wrote to\n"
          "FILE (default: $P11SHIM_COUNTS), one \"C_Name N\" line each.\n"
          "  --all    also print functions that were never called\n"
          "  --reset  set every counter to zero (creates FILE if missing)\n",
          out);
}

int main(int argc, char **argv)
{
    struct p11shim_counts counts;
    const char *path = NULL;
    int show_all = 0;
    int reset = 0;
    char why[512];
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) {
            show_all = 1;
        } else if (strcmp(argv[i], "--reset") == 0) {
            reset = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            count_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path != NULL) {
            count_usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (path == NULL)
        path = getenv("P11SHIM_COUNTS");
    if (path == NULL || *path == '\0' || (show_all && reset)) {
        count_usage(stderr);
        return 2;
    }

    if (!p11shim_counts_open(
            &counts, path,
            reset ? P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE : 0, why,
            sizeof(why))) {
        fprintf(stderr, "p11count: %s\n", why);
        return 1;
    }
    for (i = 0; i < P11SHIM_FN_COUNT; i++) {
        uint64_t n;

        /* Shims in other processes may still be counting. */
        if (reset) {
            __atomic_store_n(&counts.counter[i], 0, __ATOMIC_RELAXED);
            continue;
        }
        n = __atomic_load_n(&counts.counter[i], __ATOMIC_RELAXED);
        if (n > 0 || show_all)
            printf("%s %" PRIu64 "\n", p11shim_fn_names[i], n);
    }
    p11shim_counts_close(&counts);
    if (fflush(stdout) != 0) {
        perror("p11count: stdout");
        return 1;
    }
    return 0;
}
