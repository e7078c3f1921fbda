/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: what the runner collects (struct cell) and the report made of
 * it (report.c).
 */
#ifndef P11BENCH_REPORT_H
#define P11BENCH_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "p11shim_names.h"
#include "run.h"

#define MAX_REPEAT        15
#define MAX_THREAD_COUNTS 8

struct options {
    double seconds;                      /* per way and cell in a round */
    int repeat;                          /* rounds */
    unsigned threads[MAX_THREAD_COUNTS]; /* thread counts to run */
    size_t thread_counts;                /* entries in threads[] */
    const char *filter;                  /* case name substring, or NULL */
    int only_way;                        /* a bench_way, or -1 for all */
    unsigned long only_size;             /* an input size, or 0 for all */
    unsigned long count_ops;             /* per thread; 0: no counting */
    unsigned long latency_us;            /* per PKCS#11 call; 0: none */
    int markdown;                        /* print a Markdown table */
    int verbose;                         /* progress and call breakdown */
    const char *module;                  /* the real PKCS#11 module */
    const char *slot_id;                 /* direct's slot, or NULL */
    char provider_path[PATH_MAX];        /* directory of pkcs11be.so */
    char shim[PATH_MAX];                 /* p11shim.so */
};

/* One line of the result: a case at one size and thread count. */
struct cell {
    const struct bench_case *bc;         /* the row in bench_cases[] */
    const struct bench_size *size;       /* input size and its target */
    unsigned threads;                    /* threads running at once */
    enum bench_status status[WAY_COUNT]; /* BENCH_OK while all is well */
    char why[WAY_COUNT][BENCH_WHY_LEN];  /* unless BENCH_OK */
    double rate[WAY_COUNT][MAX_REPEAT];  /* ops/s, one per round */
    int rate_count[WAY_COUNT];           /* entries in rate[way] */
    uint64_t calls[WAY_COUNT][P11SHIM_FN_COUNT]; /* C_* calls of ... */
    uint64_t counted_ops[WAY_COUNT]; /* ... this many ops; 0: none */
};

/* "64 B", "16 KiB". */
void format_size(char *buf, size_t len, size_t in_len);

/* The table (text or Markdown), its legend, and notes, on stdout. */
void print_report(const struct options *o, const struct cell *cells,
                  size_t count);

#endif
