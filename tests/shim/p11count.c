/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11count: read or reset the counter file written by p11shim.so.
 *
 *   p11count [FILE]          print "C_Name N" for every N > 0, then the
 *                            fault lines below that are > 0
 *   p11count --all [FILE]    print every function, zeros too (and every
 *                            fault line, if the file has a fault region)
 *   p11count --faults [FILE] print only the fault lines, zeros too
 *   p11count --reset [FILE]  zero the counters, creating FILE if missing
 *   p11count --remove [FILE] ask every shim running with P11SHIM_FAULTS
 *                            to remove the token (see p11shim.c)
 *
 * FILE defaults to $P11SHIM_COUNTS.  Lines come in CK_FUNCTION_LIST order.
 * Fault lines (only in a file with a fault region, see p11shim_counts.h):
 *
 *   fault.injected N         errors returned by P11SHIM_FAULTS rules
 *   fault.delayed N          calls a latency rule slowed down
 *   fault.removals N         simulated token removals
 *   fault.stale N            calls refused: their session had died
 *   fault.absent N           C_OpenSession refused: token still out
 *   fault.remove_requests N  p11count --remove so far (never reset)
 *   fault.C_Name.injected N  errors injected into that function
 *   fault.C_Name.refused N   its calls refused by a removed token
 *   fault.ruleK.calls N      calls rule K (1-based) matched
 *   fault.ruleK.fired N      times rule K fired
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11shim_counts.h"
#include "p11shim_names.h"

enum count_mode {
    COUNT_PRINT,  /* nonzero counters */
    COUNT_ALL,    /* every counter */
    COUNT_FAULTS, /* every fault counter */
    COUNT_RESET,  /* zero them */
    COUNT_REMOVE, /* request a removal */
};

static void count_usage(FILE *out)
{
    fputs("usage: p11count [--all | --faults | --reset | --remove] [FILE]\n"
          "Print the per-function call counts that p11shim.so wrote to\n"
          "FILE (default: $P11SHIM_COUNTS), one \"C_Name N\" line each,\n"
          "then its fault counters as \"fault.NAME N\" lines.\n"
          "  --all     also print counters that are zero\n"
          "  --faults  print only the fault counters, zeros too\n"
          "  --reset   set every counter to zero (creates FILE if missing)\n"
          "  --remove  make every shim running with P11SHIM_FAULTS remove\n"
          "            the token before its next call\n",
          out);
}

static uint64_t count_get(const uint64_t *counter)
{
    /* Shims in other processes may still be counting. */
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void count_line(const char *name, const char *suffix, uint64_t n,
                       int show_zero)
{
    if (n > 0 || show_zero)
        printf("%s%s %" PRIu64 "\n", name, suffix, n);
}

static void count_print_faults(const struct p11shim_fault_stats *f,
                               int show_zero)
{
    char name[64];
    int i;

    count_line("fault.injected", "", count_get(&f->injected_total), show_zero);
    count_line("fault.delayed", "", count_get(&f->delayed), show_zero);
    count_line("fault.removals", "", count_get(&f->removals), show_zero);
    count_line("fault.stale", "", count_get(&f->stale), show_zero);
    count_line("fault.absent", "", count_get(&f->absent), show_zero);
    count_line("fault.remove_requests", "", count_get(&f->remove_requests),
               show_zero);
    for (i = 0; i < P11SHIM_FN_COUNT; i++) {
        snprintf(name, sizeof(name), "fault.%s", p11shim_fn_names[i]);
        count_line(name, ".injected", count_get(&f->injected[i]), 0);
        count_line(name, ".refused", count_get(&f->refused[i]), 0);
    }
    for (i = 0; i < P11SHIM_MAX_RULES; i++) {
        snprintf(name, sizeof(name), "fault.rule%d", i + 1);
        count_line(name, ".calls", count_get(&f->rule_calls[i]), 0);
        count_line(name, ".fired", count_get(&f->rule_fired[i]), 0);
    }
}

/* Zeroes everything but remove_requests, which shims compare with. */
static void count_reset(struct p11shim_counts *counts)
{
    struct p11shim_fault_stats *f = counts->faults;
    uint64_t *slot;
    int i;

    for (i = 0; i < P11SHIM_FN_COUNT; i++)
        __atomic_store_n(&counts->counter[i], 0, __ATOMIC_RELAXED);
    if (f == NULL)
        return;
    for (slot = (uint64_t *)f; slot < (uint64_t *)(f + 1); slot++)
        if (slot != &f->remove_requests)
            __atomic_store_n(slot, 0, __ATOMIC_RELAXED);
}

static int count_parse(int argc, char **argv, enum count_mode *mode,
                       const char **path)
{
    static const struct {
        const char *flag;
        enum count_mode mode;
    } flags[] = {
        {"--all", COUNT_ALL},
        {"--faults", COUNT_FAULTS},
        {"--reset", COUNT_RESET},
        {"--remove", COUNT_REMOVE},
    };
    size_t f;
    int i;

    for (i = 1; i < argc; i++) {
        for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
            if (strcmp(argv[i], flags[f].flag) == 0)
                break;
        if (f < sizeof(flags) / sizeof(flags[0])) {
            if (*mode != COUNT_PRINT)
                return 0; /* one mode at a time */
            *mode = flags[f].mode;
        } else if (argv[i][0] == '-' || *path != NULL) {
            return 0;
        } else {
            *path = argv[i];
        }
    }
    if (*path == NULL)
        *path = getenv("P11SHIM_COUNTS");
    return *path != NULL && **path != '\0';
}

int main(int argc, char **argv)
{
    enum count_mode mode = COUNT_PRINT;
    struct p11shim_counts counts;
    const char *path = NULL;
    int open_flags = 0;
    char why[512];
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            count_usage(stdout);
            return 0;
        }
    }
    if (!count_parse(argc, argv, &mode, &path)) {
        count_usage(stderr);
        return 2;
    }
    if (mode == COUNT_RESET)
        open_flags = P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE;
    else if (mode == COUNT_REMOVE)
        open_flags = P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE
                     | P11SHIM_COUNTS_FAULTS;
    if (!p11shim_counts_open(&counts, path, open_flags, why, sizeof(why))) {
        fprintf(stderr, "p11count: %s\n", why);
        return 1;
    }
    switch (mode) {
    case COUNT_RESET:
        count_reset(&counts);
        break;
    case COUNT_REMOVE:
        __atomic_fetch_add(&counts.faults->remove_requests, 1,
                           __ATOMIC_RELEASE);
        break;
    case COUNT_FAULTS:
        if (counts.faults != NULL)
            count_print_faults(counts.faults, 1);
        break;
    case COUNT_PRINT:
    case COUNT_ALL:
        for (i = 0; i < P11SHIM_FN_COUNT; i++)
            count_line(p11shim_fn_names[i], "", count_get(&counts.counter[i]),
                       mode == COUNT_ALL);
        if (counts.faults != NULL)
            count_print_faults(counts.faults, mode == COUNT_ALL);
        break;
    }
    p11shim_counts_close(&counts);
    if (fflush(stdout) != 0) {
        perror("p11count: stdout");
        return 1;
    }
    return 0;
}
