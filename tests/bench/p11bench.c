/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: operations per second through pkcs11be, straight on the
 * PKCS#11 module, and through OpenSSL's default provider, for every case
 * in bench_cases[] (cases.c) at each of its input sizes and each thread
 * count; plus PKCS#11 calls per operation, counted through p11shim.so in
 * a separate short run so that the shim costs the timed runs nothing.
 * See usage() for the options, scripts/bench for a ready-made run.
 *
 * A round measures every cell once, each in a child process of its own
 * where the ways take turns in short time slices (run.c); --repeat rounds
 * go round all cells before measuring one again, and report.c makes the
 * table of medians.
 */
#define _GNU_SOURCE /* strcasestr() */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "p11shim_counts.h"
#include "report.h"
#include "run.h"

static void usage(FILE *out)
{
    fputs("usage: p11bench [OPTION]...\n"
          "Operations per second through pkcs11be, direct PKCS#11 and\n"
          "OpenSSL's default provider, and PKCS#11 calls per operation.\n"
          "The token comes from CRYPTOGRAPHY_PKCS11_PATH and\n"
          "CRYPTOGRAPHY_PKCS11_SLOT_ID (see scripts/mktoken).\n"
          "\n"
          "  -s, --seconds S       time per way, cell and round (1)\n"
          "  -r, --repeat N        N rounds; each cell reports the median "
          "(5)\n"
          "  -t, --threads LIST    thread counts, comma-separated (1,2)\n"
          "  -c, --case TEXT       only cases whose name contains TEXT\n"
          "  -z, --size BYTES      only this input size\n"
          "  -w, --way WAY         only pkcs11be, direct or default (for "
          "profiling)\n"
          "  -n, --count-ops N     count calls over N ops per thread (1000);\n"
          "                        0 skips counting\n"
          "  -L, --latency-us N    a network HSM: every PKCS#11 call of\n"
          "                        pkcs11be and direct waits N us first\n"
          "                        (p11shim.so); skips the default way\n"
          "  -m, --markdown        print the table in Markdown\n"
          "  -v, --verbose         progress, every run's rate, call breakdown\n"
          "  -l, --list            list the cases and exit\n"
          "      --module PATH     PKCS#11 module (CRYPTOGRAPHY_PKCS11_PATH)\n"
          "      --provider-path DIR  where pkcs11be.so is (the build dir)\n"
          "      --shim PATH       the counting shim (tests/p11shim.so)\n"
          "  -h, --help            this text\n",
          out);
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
                       unsigned long *v)
{
    char *end;

    errno = 0;
    *v = strtoul(s, &end, 10);
    return isdigit((unsigned char)*s) && errno == 0 && *end == '\0' && *v >= min
           && *v <= max;
}

static int parse_threads(struct options *o, const char *list)
{
    char buf[128];
    char *save = NULL;
    char *item;

    if (strlen(list) >= sizeof(buf))
        return 0;
    strcpy(buf, list);
    o->thread_counts = 0;
    for (item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        unsigned long n;

        if (o->thread_counts == MAX_THREAD_COUNTS
            || !parse_ulong(item, 1, BENCH_MAX_THREADS, &n))
            return 0;
        o->threads[o->thread_counts++] = (unsigned)n;
    }
    return o->thread_counts > 0;
}

/* pkcs11be.so and p11shim.so sit where this program was built. */
static int default_paths(struct options *o)
{
    char exe[PATH_MAX - 32]; /* room for "/p11shim.so" */
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (len <= 0)
        return 0;
    exe[len] = '\0';
    slash = strrchr(exe, '/'); /* build/tests/p11bench */
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(o->shim, sizeof(o->shim), "%s/p11shim.so", exe);
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(o->provider_path, sizeof(o->provider_path), "%s", exe);
    return 1;
}

static void list_cases(void)
{
    const struct bench_case *bc;
    const struct bench_size *sz;

    for (bc = bench_cases; bc->name != NULL; bc++) {
        printf("%-36s %-12s", bc->name, bc->alg);
        for (sz = bc->sizes; sz->in_len > 0; sz++) {
            if (sz->min_ratio > 0)
                printf(" %zu B (>= %.2f of direct)", sz->in_len, sz->min_ratio);
            else
                printf(" %zu B (no target)", sz->in_len);
        }
        putchar('\n');
    }
}

static int way_by_name(const char *name)
{
    int k;

    for (k = 0; k < WAY_COUNT; k++)
        if (strcmp(name, bench_way_names[k]) == 0)
            return k;
    return -1;
}

/* 2 on a usage error, 1 to exit successfully, 0 to go on. */
static int parse_options(struct options *o, int argc, char **argv)
{
    enum { OPT_MODULE = 256, OPT_PROVIDER_PATH, OPT_SHIM };
    /* A round trip up to 1 s; the shim refuses more than 10 s. */
    const unsigned long latency_max = 1000 * 1000;
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"repeat", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"case", required_argument, NULL, 'c'},
        {"size", required_argument, NULL, 'z'},
        {"way", required_argument, NULL, 'w'},
        {"count-ops", required_argument, NULL, 'n'},
        {"latency-us", required_argument, NULL, 'L'},
        {"markdown", no_argument, NULL, 'm'},
        {"verbose", no_argument, NULL, 'v'},
        {"list", no_argument, NULL, 'l'},
        {"module", required_argument, NULL, OPT_MODULE},
        {"provider-path", required_argument, NULL, OPT_PROVIDER_PATH},
        {"shim", required_argument, NULL, OPT_SHIM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long n;
    char *end;
    int c;

    while ((c = getopt_long(argc, argv, "s:r:t:c:z:w:n:L:mvlh", longopts, NULL))
           != -1) {
        switch (c) {
        case 's':
            o->seconds = strtod(optarg, &end);
            if (*end != '\0' || !(o->seconds >= 0.01 && o->seconds <= 3600))
                goto out_bad;
            break;
        case 'r':
            if (!parse_ulong(optarg, 1, MAX_REPEAT, &n))
                goto out_bad;
            o->repeat = (int)n;
            break;
        case 't':
            if (!parse_threads(o, optarg))
                goto out_bad;
            break;
        case 'c':
            o->filter = optarg;
            break;
        case 'z':
            if (!parse_ulong(optarg, 1, ULONG_MAX, &o->only_size))
                goto out_bad;
            break;
        case 'w':
            o->only_way = way_by_name(optarg);
            if (o->only_way < 0)
                goto out_bad;
            break;
        case 'n':
            if (!parse_ulong(optarg, 0, 100000000, &o->count_ops))
                goto out_bad;
            break;
        case 'L':
            if (!parse_ulong(optarg, 0, latency_max, &o->latency_us))
                goto out_bad;
            break;
        case 'm':
            o->markdown = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'l':
            list_cases();
            return 1;
        case OPT_MODULE:
            o->module = optarg;
            break;
        case OPT_PROVIDER_PATH:
            snprintf(o->provider_path, sizeof(o->provider_path), "%s", optarg);
            break;
        case OPT_SHIM:
            snprintf(o->shim, sizeof(o->shim), "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind == argc)
        return 0;
    fprintf(stderr, "p11bench: unexpected argument \"%s\"\n", argv[optind]);
    return 2;

out_bad:
    fprintf(stderr, "p11bench: bad value for -%c: \"%s\"\n", c, optarg);
    return 2;
}

static int case_wanted(const struct options *o, const struct bench_case *bc)
{
    return o->filter == NULL || strcasestr(bc->name, o->filter) != NULL;
}

/* Appends a cell to *cells; 0 when out of memory. */
static int add_cell(const struct options *o, struct cell **cells, size_t *n,
                    const struct bench_case *bc, const struct bench_size *sz,
                    unsigned threads)
{
    struct cell *more = realloc(*cells, (*n + 1) * sizeof(**cells));
    struct cell *c;
    int k;

    if (more == NULL)
        return 0;
    *cells = more;
    c = &more[(*n)++];
    memset(c, 0, sizeof(*c));
    c->bc = bc;
    c->size = sz;
    c->threads = threads;
    for (k = 0; k < WAY_COUNT; k++)
        c->status[k] =
            o->only_way < 0 || o->only_way == k ? BENCH_OK : BENCH_SKIPPED;
    /* The default provider makes no PKCS#11 call: nothing to learn. */
    if (o->latency_us > 0 && o->only_way < 0)
        c->status[WAY_DEFAULT] = BENCH_SKIPPED;
    return 1;
}

/* Every case x size x thread count the options ask for; NULL if none. */
static struct cell *make_cells(const struct options *o, size_t *count)
{
    const struct bench_case *bc;
    const struct bench_size *sz;
    struct cell *cells = NULL;
    size_t n = 0, i;

    for (bc = bench_cases; bc->name != NULL; bc++) {
        if (bc->key_len > BENCH_MAX_KEY_LEN || bc->evp_op == NULL
            || bc->p11_op == NULL || bc->sizes[0].in_len == 0) {
            fprintf(stderr, "p11bench: case \"%s\" is malformed\n", bc->name);
            goto out_free_cells;
        }
        if (!case_wanted(o, bc))
            continue;
        for (sz = bc->sizes; sz->in_len > 0; sz++) {
            if (o->only_size != 0 && sz->in_len != o->only_size)
                continue;
            for (i = 0; i < o->thread_counts; i++)
                if (!add_cell(o, &cells, &n, bc, sz, o->threads[i])) {
                    fprintf(stderr, "p11bench: out of memory\n");
                    goto out_free_cells;
                }
        }
    }
    if (n == 0) {
        fprintf(stderr, "p11bench: no case matches\n");
        goto out_free_cells;
    }
    *count = n;
    return cells;

out_free_cells:
    free(cells);
    return NULL;
}

static void fill_job(struct bench_job *job, const struct options *o,
                     const struct cell *c, unsigned ways)
{
    memset(job, 0, sizeof(*job));
    job->bc = c->bc;
    job->in_len = c->size->in_len;
    job->threads = c->threads;
    job->ways = ways;
    job->seconds = o->seconds;
    job->module = o->module;
    job->shim = o->shim;
    job->provider_path = o->provider_path;
    job->slot_id = o->slot_id;
    job->latency_us = o->latency_us;
}

/* Remembers why a way could not run in this cell; it is not tried again. */
static void cell_fail(struct cell *c, int way,
                      const struct bench_way_report *wr)
{
    c->status[way] = wr->status == BENCH_OK ? BENCH_FAILED : wr->status;
    snprintf(c->why[way], BENCH_WHY_LEN, "%s",
             wr->why[0] != '\0' ? wr->why : "no time measured");
}

/* The ways still worth running in a cell. */
static unsigned cell_ways(const struct cell *c)
{
    unsigned ways = 0;
    int k;

    for (k = 0; k < WAY_COUNT; k++)
        if (c->status[k] == BENCH_OK)
            ways |= WAY_BIT(k);
    return ways;
}

static void print_progress(const struct cell *c, int rep)
{
    char size[32];
    int k;

    format_size(size, sizeof(size), c->size->in_len);
    fprintf(stderr, "p11bench: round %d: %s, %s, %u thread(s):", rep + 1,
            c->bc->name, size, c->threads);
    for (k = 0; k < WAY_COUNT; k++)
        if (c->status[k] == BENCH_OK)
            fprintf(stderr, " %s %.0f/s", bench_way_names[k],
                    c->rate[k][c->rate_count[k] - 1]);
    if (c->status[WAY_PKCS11BE] == BENCH_OK
        && c->status[WAY_DIRECT] == BENCH_OK)
        fprintf(stderr, " ratio %.3f",
                c->rate[WAY_PKCS11BE][c->rate_count[WAY_PKCS11BE] - 1]
                    / c->rate[WAY_DIRECT][c->rate_count[WAY_DIRECT] - 1]);
    fputc('\n', stderr);
}

/* One round: every cell measured once, all its ways in one job. */
static void run_timed(const struct options *o, struct cell *cells, size_t count,
                      int rep, struct bench_report *report)
{
    struct bench_job job;
    size_t i;
    int k;

    for (i = 0; i < count; i++) {
        struct cell *c = &cells[i];

        fill_job(&job, o, c, cell_ways(c));
        if (job.ways == 0)
            continue;
        bench_run_job(&job, report);
        for (k = 0; k < WAY_COUNT; k++) {
            const struct bench_way_report *wr = &report->way[k];

            if ((job.ways & WAY_BIT(k)) == 0)
                continue;
            if (wr->status != BENCH_OK || wr->seconds <= 0) {
                cell_fail(c, k, wr);
                continue;
            }
            c->rate[k][c->rate_count[k]++] = (double)wr->ops / wr->seconds;
        }
        if (o->verbose)
            print_progress(c, rep);
    }
}

/*
 * Calls per operation of pkcs11be and direct in every cell: a short run
 * through the shim, whose counter file the children read through the
 * mapping they inherit.
 */
static void run_counts(const struct options *o, struct cell *cells,
                       size_t count, const char *counts_path,
                       const struct p11shim_counts *counts,
                       struct bench_report *report)
{
    static const enum bench_way counted[] = {WAY_PKCS11BE, WAY_DIRECT};
    struct bench_job job;
    size_t i, k;

    for (i = 0; i < count; i++)
        for (k = 0; k < sizeof(counted) / sizeof(counted[0]); k++) {
            struct cell *c = &cells[i];
            enum bench_way way = counted[k];

            if (c->status[way] != BENCH_OK)
                continue;
            fill_job(&job, o, c, WAY_BIT(way));
            job.counts_path = counts_path;
            job.counts = counts;
            job.count_ops = o->count_ops;
            bench_run_job(&job, report);
            if (report->way[way].status != BENCH_OK) {
                fprintf(stderr, "p11bench: counting %s, %s: %s\n", c->bc->name,
                        bench_way_names[way], report->way[way].why);
                continue;
            }
            memcpy(c->calls[way], report->calls, sizeof(c->calls[way]));
            c->counted_ops[way] = report->way[way].ops;
        }
}

/* A fresh counter file for the shim, mapped; its path goes to counts_path. */
static int open_counts(struct p11shim_counts *counts, char *counts_path,
                       size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char why[512];
    int fd;

    snprintf(counts_path, len, "%s/p11bench-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    fd = mkstemp(counts_path);
    if (fd < 0) {
        fprintf(stderr, "p11bench: %s: %s\n", counts_path, strerror(errno));
        return 0;
    }
    close(fd);
    if (!p11shim_counts_open(counts, counts_path,
                             P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE, why,
                             sizeof(why))) {
        fprintf(stderr, "p11bench: %s\n", why);
        unlink(counts_path);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    struct options o = {
        .seconds = 1.0,
        .repeat = 5,
        .threads = {1, 2},
        .thread_counts = 2,
        .count_ops = 1000,
        .only_way = -1,
    };
    struct p11shim_counts counts = {0};
    struct bench_report *report;
    char counts_path[PATH_MAX] = "";
    struct cell *cells;
    size_t count;
    int ret = 1;
    int rep;

    if (!default_paths(&o)) {
        fprintf(stderr, "p11bench: cannot find where I was built\n");
        return 1;
    }
    switch (parse_options(&o, argc, argv)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    if (o.module == NULL)
        o.module = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    o.slot_id = getenv("CRYPTOGRAPHY_PKCS11_SLOT_ID");
    if (o.module == NULL || *o.module == '\0') {
        fprintf(stderr, "p11bench: no PKCS#11 module: set "
                        "CRYPTOGRAPHY_PKCS11_PATH or use --module\n");
        return 2;
    }
    if (o.latency_us > 0 && access(o.shim, R_OK) != 0) {
        fprintf(stderr, "p11bench: %s: %s; --latency-us needs it\n", o.shim,
                strerror(errno));
        return 2;
    }
    if (o.count_ops > 0 && access(o.shim, R_OK) != 0) {
        fprintf(stderr, "p11bench: %s: %s; not counting calls\n", o.shim,
                strerror(errno));
        o.count_ops = 0;
    }

    cells = make_cells(&o, &count);
    if (cells == NULL)
        return 1;
    /* Children write their reports here. */
    report = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (report == MAP_FAILED) {
        fprintf(stderr, "p11bench: mmap: %s\n", strerror(errno));
        goto out_free_cells;
    }
    if (o.count_ops > 0
        && !open_counts(&counts, counts_path, sizeof(counts_path)))
        o.count_ops = 0;

    for (rep = 0; rep < o.repeat; rep++) {
        if (!o.verbose)
            fprintf(stderr, "p11bench: round %d of %d\n", rep + 1, o.repeat);
        run_timed(&o, cells, count, rep, report);
    }
    if (o.count_ops > 0) {
        if (!o.verbose)
            fprintf(stderr, "p11bench: counting PKCS#11 calls\n");
        run_counts(&o, cells, count, counts_path, &counts, report);
    }
    print_report(&o, cells, count);
    ret = fflush(stdout) != 0;

    p11shim_counts_close(&counts);
    if (counts_path[0] != '\0')
        unlink(counts_path);
    munmap(report, sizeof(*report));
out_free_cells:
    free(cells);
    return ret;
}
