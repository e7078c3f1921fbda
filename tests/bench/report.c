/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: the report. Each cell's ops/s is the median of its rounds;
 * pkcs11be/direct is the median of the rounds' own ratios (both measured
 * side by side in one process, see run.h); the scaling and calls columns
 * compare against the targets.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scaling target: T threads at least 0.85 * T times one. */
#define SCALING_PER_THREAD 0.85

/* With --latency-us, the target for every cell. */
#define LATENCY_MIN_RATIO 0.95

/* Calls per op may exceed direct's by this much (rounding) and pass. */
#define CALLS_SLACK 0.005

void format_size(char *buf, size_t len, size_t in_len)
{
    if (in_len >= 1024 && in_len % 1024 == 0)
        snprintf(buf, len, "%zu KiB", in_len / 1024);
    else
        snprintf(buf, len, "%zu B", in_len);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(v[0]), compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median ops/s of a way in a cell, or -1 if it has none. */
static double cell_rate(const struct cell *c, enum bench_way way)
{
    double v[MAX_REPEAT];
    int n = c->rate_count[way];

    if (c->status[way] != BENCH_OK || n == 0)
        return -1;
    memcpy(v, c->rate[way], n * sizeof(v[0]));
    return median(v, n);
}

/* The median of the rounds' pkcs11be/direct ratios, or -1. */
static double cell_ratio(const struct cell *c)
{
    double v[MAX_REPEAT];
    int n = c->rate_count[WAY_PKCS11BE];
    int i;

    if (cell_rate(c, WAY_PKCS11BE) <= 0 || cell_rate(c, WAY_DIRECT) <= 0
        || n != c->rate_count[WAY_DIRECT])
        return -1;
    for (i = 0; i < n; i++)
        v[i] = c->rate[WAY_PKCS11BE][i] / c->rate[WAY_DIRECT][i];
    return median(v, n);
}

/* How far apart a way's fastest and slowest rounds are, over the median. */
static double cell_spread(const struct cell *c, enum bench_way way)
{
    double mid = cell_rate(c, way);
    double lo = mid, hi = mid;
    int i;

    if (mid <= 0)
        return 0;
    for (i = 0; i < c->rate_count[way]; i++) {
        if (c->rate[way][i] < lo)
            lo = c->rate[way][i];
        if (c->rate[way][i] > hi)
            hi = c->rate[way][i];
    }
    return (hi - lo) / mid;
}

static double cell_calls_per_op(const struct cell *c, enum bench_way way)
{
    uint64_t total = 0;
    int i;

    if (c->counted_ops[way] == 0)
        return -1;
    for (i = 0; i < P11SHIM_FN_COUNT; i++)
        total += c->calls[way][i];
    return (double)total / (double)c->counted_ops[way];
}

/* The same case and size with one thread, or NULL. */
static const struct cell *base_cell(const struct cell *cells, size_t count,
                                    const struct cell *c)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (cells[i].bc == c->bc && cells[i].size == c->size
            && cells[i].threads == 1)
            return &cells[i];
    return NULL;
}

/* The table */

enum column {
    COL_OP,
    COL_SIZE,
    COL_THREADS,
    COL_P11BE,
    COL_DIRECT,
    COL_DEFAULT,
    COL_RATIO,
    COL_RATIO_OK,
    COL_P11BE_X,
    COL_DIRECT_X,
    COL_SCALE_OK,
    COL_CALLS_P11BE,
    COL_CALLS_DIRECT,
    COL_CALLS_OK,
    COL_COUNT
};

#define CELL_LEN 48

static const struct {
    const char *head; /* column heading */
    int left;         /* left-aligned (text) rather than right (numbers) */
} columns[COL_COUNT] = {
    [COL_OP] = {"operation", 1},
    [COL_SIZE] = {"size", 0},
    [COL_THREADS] = {"thr", 0},
    [COL_P11BE] = {"pkcs11be/s", 0},
    [COL_DIRECT] = {"direct/s", 0},
    [COL_DEFAULT] = {"default/s", 0},
    [COL_RATIO] = {"p11be/direct", 0},
    [COL_RATIO_OK] = {"target", 1},
    [COL_P11BE_X] = {"p11be xT/1t", 0},
    [COL_DIRECT_X] = {"direct xT/1t", 0},
    [COL_SCALE_OK] = {"scaling", 1},
    [COL_CALLS_P11BE] = {"calls/op p11be", 0},
    [COL_CALLS_DIRECT] = {"calls/op direct", 0},
    [COL_CALLS_OK] = {"calls", 1},
};

typedef char table_row[COL_COUNT][CELL_LEN];

static void format_rate(char *buf, const struct cell *c, enum bench_way way)
{
    double rate = cell_rate(c, way);

    if (rate >= 0)
        snprintf(buf, CELL_LEN, "%.0f", rate);
    else
        snprintf(buf, CELL_LEN, "%s",
                 c->status[way] == BENCH_NA        ? "n/a"
                 : c->status[way] == BENCH_SKIPPED ? "-"
                                                   : "FAIL");
}

static const char *verdict(int pass)
{
    return pass ? "PASS" : "MISS";
}

static void format_scaling(table_row row, const struct cell *cells,
                           size_t count, const struct cell *c)
{
    const struct cell *base = base_cell(cells, count, c);
    double want = SCALING_PER_THREAD * c->threads;
    double p11be_x, direct_x;

    strcpy(row[COL_P11BE_X], "-");
    strcpy(row[COL_DIRECT_X], "-");
    strcpy(row[COL_SCALE_OK], "-");
    if (c->threads == 1 || base == NULL)
        return;
    p11be_x = cell_rate(c, WAY_PKCS11BE) / cell_rate(base, WAY_PKCS11BE);
    direct_x = cell_rate(c, WAY_DIRECT) / cell_rate(base, WAY_DIRECT);
    if (cell_rate(c, WAY_PKCS11BE) > 0 && cell_rate(base, WAY_PKCS11BE) > 0)
        snprintf(row[COL_P11BE_X], CELL_LEN, "%.2f", p11be_x);
    if (cell_rate(c, WAY_DIRECT) > 0 && cell_rate(base, WAY_DIRECT) > 0)
        snprintf(row[COL_DIRECT_X], CELL_LEN, "%.2f", direct_x);
    if (strcmp(row[COL_P11BE_X], "-") == 0
        || strcmp(row[COL_DIRECT_X], "-") == 0)
        return;
    /* The target holds only where the token itself scales that well. */
    if (direct_x < want)
        snprintf(row[COL_SCALE_OK], CELL_LEN, "n/a (direct < %.2f)", want);
    else
        snprintf(row[COL_SCALE_OK], CELL_LEN, ">=%.2f %s", want,
                 verdict(p11be_x >= want));
}

static void format_row(const struct options *o, table_row row,
                       const struct cell *cells, size_t count,
                       const struct cell *c)
{
    double target = o->latency_us > 0 ? LATENCY_MIN_RATIO : c->size->min_ratio;
    double ratio = cell_ratio(c);
    double p11be_calls = cell_calls_per_op(c, WAY_PKCS11BE);
    double direct_calls = cell_calls_per_op(c, WAY_DIRECT);
    int col;

    for (col = 0; col < COL_COUNT; col++)
        strcpy(row[col], "-");
    snprintf(row[COL_OP], CELL_LEN, "%s", c->bc->name);
    format_size(row[COL_SIZE], CELL_LEN, c->size->in_len);
    snprintf(row[COL_THREADS], CELL_LEN, "%u", c->threads);
    format_rate(row[COL_P11BE], c, WAY_PKCS11BE);
    format_rate(row[COL_DIRECT], c, WAY_DIRECT);
    format_rate(row[COL_DEFAULT], c, WAY_DEFAULT);
    if (ratio > 0) {
        snprintf(row[COL_RATIO], CELL_LEN, "%.2f", ratio);
        /* A min_ratio of 0: the issue sets no target for the cell. */
        if (target > 0)
            snprintf(row[COL_RATIO_OK], CELL_LEN, ">=%.2f %s", target,
                     verdict(ratio >= target));
        else
            snprintf(row[COL_RATIO_OK], CELL_LEN, "none");
    }
    format_scaling(row, cells, count, c);
    if (p11be_calls >= 0)
        snprintf(row[COL_CALLS_P11BE], CELL_LEN, "%.2f", p11be_calls);
    if (direct_calls >= 0)
        snprintf(row[COL_CALLS_DIRECT], CELL_LEN, "%.2f", direct_calls);
    if (p11be_calls >= 0 && direct_calls >= 0)
        snprintf(row[COL_CALLS_OK], CELL_LEN, "<=%.2f %s", direct_calls,
                 verdict(p11be_calls <= direct_calls + CALLS_SLACK));
}

static void print_text(const table_row *rows, size_t count)
{
    size_t width[COL_COUNT];
    size_t i;
    int col;

    for (col = 0; col < COL_COUNT; col++) {
        width[col] = strlen(columns[col].head);
        for (i = 0; i < count; i++)
            if (strlen(rows[i][col]) > width[col])
                width[col] = strlen(rows[i][col]);
    }
    for (col = 0; col < COL_COUNT; col++)
        printf("%s%*s", col > 0 ? "  " : "",
               columns[col].left ? -(int)width[col] : (int)width[col],
               columns[col].head);
    putchar('\n');
    for (i = 0; i < count; i++) {
        for (col = 0; col < COL_COUNT; col++)
            printf("%s%*s", col > 0 ? "  " : "",
                   columns[col].left ? -(int)width[col] : (int)width[col],
                   rows[i][col]);
        putchar('\n');
    }
}

static void print_markdown(const table_row *rows, size_t count)
{
    size_t i;
    int col;

    for (col = 0; col < COL_COUNT; col++)
        printf("| %s ", columns[col].head);
    puts("|");
    for (col = 0; col < COL_COUNT; col++)
        printf("|%s", columns[col].left ? ":---" : "---:");
    puts("|");
    for (i = 0; i < count; i++) {
        for (col = 0; col < COL_COUNT; col++)
            printf("| %s ", rows[i][col]);
        puts("|");
    }
}

static void print_legend(const struct options *o)
{
    const char *bullet = o->markdown ? "- " : "  ";

    printf("\n%sops/s: median of %d round(s); in a round each cell runs "
           "in a process of its own, where the three ways take turns in "
           "%.0f ms slices until each has had %.2g s\n",
           bullet, o->repeat, BENCH_SLICE_SECONDS * 1000, o->seconds);
    printf("%sdirect: the case's PKCS#11 calls on one session per thread, "
           "kept open (the token's limit)\n",
           bullet);
    if (o->latency_us > 0)
        printf("%slatency: every PKCS#11 call of pkcs11be and direct (and "
               "of the calls/op runs) sleeps %lu us first in p11shim.so, as "
               "a network HSM's round trip; target p11be/direct >= %.2f "
               "everywhere; the default provider is not run\n",
               bullet, o->latency_us, LATENCY_MIN_RATIO);
    printf("%sp11be/direct: median of the rounds' own ratios; target: at "
           "least this\n",
           bullet);
    printf("%sxT/1t: ops/s with T threads over ops/s with 1; target "
           "%.2f*T, applicable where direct reaches it\n",
           bullet, SCALING_PER_THREAD);
    if (o->count_ops > 0)
        printf("%scalls/op: PKCS#11 calls per operation, counted through "
               "p11shim.so over %lu ops per thread in a separate run; "
               "target: no more than direct\n",
               bullet, o->count_ops);
}

/* The rounds of a cell differ this much only on a busy machine. */
#define NOISY_SPREAD 0.20

static void print_noise(const struct options *o, const struct cell *cells,
                        size_t count)
{
    const struct cell *worst = NULL;
    double spread = 0;
    int worst_way = 0;
    char size[32];
    size_t i;
    int k;

    for (i = 0; i < count; i++)
        for (k = 0; k < WAY_COUNT; k++)
            if (cell_spread(&cells[i], k) > spread) {
                spread = cell_spread(&cells[i], k);
                worst = &cells[i];
                worst_way = k;
            }
    if (worst == NULL || spread < NOISY_SPREAD)
        return;
    format_size(size, sizeof(size), worst->size->in_len);
    printf("%snote: the machine was busy: the ops/s of one cell varied by up "
           "to %.0f%% between rounds (%s, %s, %u thread(s), %s); p11be/direct "
           "is measured side by side and holds up, xT/1t may not\n",
           o->markdown ? "- " : "  ", spread * 100, worst->bc->name, size,
           worst->threads, bench_way_names[worst_way]);
}

/* Why a way did not run, once per distinct reason. */
static void print_reasons(const struct options *o, const struct cell *cells,
                          size_t count)
{
    size_t i, j;
    int k;

    for (i = 0; i < count; i++)
        for (k = 0; k < WAY_COUNT; k++) {
            int seen = 0;

            if (cells[i].status[k] == BENCH_OK
                || cells[i].status[k] == BENCH_SKIPPED)
                continue;
            for (j = 0; j < i && !seen; j++)
                seen = cells[j].status[k] != BENCH_OK
                       && strcmp(cells[j].why[k], cells[i].why[k]) == 0;
            if (!seen)
                printf("%s%s, %s: %s\n", o->markdown ? "- " : "  ",
                       cells[i].bc->name, bench_way_names[k], cells[i].why[k]);
        }
}

/* Per function, which C_* calls an operation costs (verbose). */
static void print_breakdown(const struct cell *cells, size_t count)
{
    char size[32];
    size_t i;
    int k, fn;

    for (i = 0; i < count; i++)
        for (k = 0; k < WAY_COUNT; k++) {
            const struct cell *c = &cells[i];

            if (c->counted_ops[k] == 0)
                continue;
            format_size(size, sizeof(size), c->size->in_len);
            printf("  %s, %s, %u thread(s), %s:", c->bc->name, size, c->threads,
                   bench_way_names[k]);
            for (fn = 0; fn < P11SHIM_FN_COUNT; fn++)
                if (c->calls[k][fn] > 0)
                    printf(" %s %.3f", p11shim_fn_names[fn],
                           (double)c->calls[k][fn] / (double)c->counted_ops[k]);
            putchar('\n');
        }
}

void print_report(const struct options *o, const struct cell *cells,
                  size_t count)
{
    table_row *rows = calloc(count > 0 ? count : 1, sizeof(*rows));
    size_t i;

    if (rows == NULL) {
        fprintf(stderr, "p11bench: out of memory\n");
        return;
    }
    for (i = 0; i < count; i++)
        format_row(o, rows[i], cells, count, &cells[i]);
    if (o->markdown)
        print_markdown((const table_row *)rows, count);
    else
        print_text((const table_row *)rows, count);
    print_legend(o);
    print_noise(o, cells, count);
    print_reasons(o, cells, count);
    if (o->verbose)
        print_breakdown(cells, count);
    free(rows);
}
