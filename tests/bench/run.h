/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11bench: running one measurement (a "job") in a child process.
 *
 * A timed job measures one cell (a case at one input size and thread
 * count) every way at once: the child sets up pkcs11be, direct PKCS#11 and
 * the default provider side by side, and its threads switch together from
 * one way to the next every few milliseconds, so that all ways see the
 * same machine. On a shared or virtual machine whose speed drifts from
 * one moment to the next, that makes their ratio far steadier than runs
 * made one after another.
 *
 * A count job runs one way through the counting shim for a fixed number
 * of operations and reports the shim's counters' growth over them.
 *
 * With latency_us, every job loads the module through the shim, which
 * sleeps that long before each call (P11SHIM_LATENCY_US): a network HSM,
 * where every call is a round trip. pkcs11be and direct then see the same
 * module with the same delay.
 *
 * Each job gets a fresh process: no state carries over from an earlier
 * job, and a count job can point the module path at the shim before
 * anything loads the module.
 */
#ifndef P11BENCH_RUN_H
#define P11BENCH_RUN_H

#include <stdint.h>

#include "bench.h"
#include "p11shim_counts.h"

#define BENCH_MAX_THREADS 64
#define BENCH_WHY_LEN     240

/* A timed job's slice: short next to the drift, long next to an op. */
#define BENCH_SLICE_SECONDS 0.02

enum bench_way {
    WAY_PKCS11BE, /* EVP, fetched with provider=pkcs11be */
    WAY_DIRECT,   /* the case's p11_op on the module */
    WAY_DEFAULT,  /* EVP, fetched with provider=default */
    WAY_COUNT
};

#define WAY_BIT(way) (1u << (way))

extern const char *const bench_way_names[WAY_COUNT];

enum bench_status {
    BENCH_OK,      /* measured, or nothing wrong so far */
    BENCH_NA,      /* not offered (by pkcs11be, or by the token) */
    BENCH_FAILED,  /* set-up or an operation failed */
    BENCH_SKIPPED, /* not asked for (--way) */
};

/* What to measure; the parent fills it, the child only reads it. */
struct bench_job {
    const struct bench_case *bc;         /* the row */
    size_t in_len;                       /* input bytes per operation */
    unsigned threads;                    /* threads running ops at once */
    unsigned ways;                       /* WAY_BIT()s; count job: one */
    double seconds;                      /* timed job: time per way */
    const struct p11shim_counts *counts; /* count job: the counter file */
    const char *counts_path;             /* count job: its path */
    unsigned long count_ops;             /* count job: ops per thread */
    const char *module;                  /* the real PKCS#11 module */
    const char *shim;                    /* p11shim.so, for count jobs */
    const char *provider_path;           /* directory holding pkcs11be.so */
    const char *slot_id;                 /* direct's slot; NULL: first */
    unsigned long latency_us;            /* per PKCS#11 call (the shim) */
};

/* One way's result. */
struct bench_way_report {
    enum bench_status status; /* BENCH_OK, or why not */
    uint64_t ops;             /* operations measured, all threads */
    double seconds;           /* wall-clock time they had */
    char why[BENCH_WHY_LEN];  /* unless BENCH_OK: the reason */
};

/* What the child hands back (in shared memory). */
struct bench_report {
    struct bench_way_report way[WAY_COUNT]; /* by way; only job->ways set */
    uint64_t calls[P11SHIM_FN_COUNT];       /* count job: C_* calls made */
    int done;                               /* the child got to the end */
};

/*
 * Runs the job in a child process and waits for it. `report` must be in
 * memory the child can write (MAP_SHARED). Returns 1 if the child ran to
 * the end (each way's status says how it went), 0 if it did not (every
 * way asked for is then BENCH_FAILED with the reason).
 */
int bench_run_job(const struct bench_job *job, struct bench_report *report);

#endif
