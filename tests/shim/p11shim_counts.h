/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's call-counter file, shared by p11shim.so and p11count.
 *
 * Layout (host byte order):
 *
 *   offset 0   8 bytes   magic "P11SHIM1" (no terminating NUL)
 *   offset 8   uint64    number of counters that follow (P11SHIM_FN_COUNT)
 *   offset 16  uint64[]  one counter per function, in CK_FUNCTION_LIST
 *                        order (enum p11shim_fn)
 *
 * That is the whole file (16 + 8 * P11SHIM_FN_COUNT bytes) until fault
 * injection is used: a shim running with P11SHIM_FAULTS set, or
 * `p11count --remove`, appends the fault region right after it:
 *
 *   +0         8 bytes   magic "P11FLT01"
 *   +8         uint64    number of uint64 slots that follow
 *                        (P11SHIM_FAULT_SLOTS)
 *   +16        struct p11shim_fault_stats
 *
 * Readers that only know the first part (p11count --all, tests/00-shim.t)
 * see it unchanged in a file that has no fault region.
 *
 * Every process maps the file MAP_SHARED and bumps counters with atomic
 * adds, so forked children, threads and unrelated processes all add into
 * the same numbers, and the numbers outlive the processes.
 */
#ifndef P11SHIM_COUNTS_H
#define P11SHIM_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "p11shim_names.h"

#define P11SHIM_COUNTS_MAGIC      "P11SHIM1"
#define P11SHIM_COUNTS_MAGIC_LEN  8
#define P11SHIM_COUNTS_HEADER_LEN 16
#define P11SHIM_COUNTS_FILE_LEN                                                \
    (P11SHIM_COUNTS_HEADER_LEN + P11SHIM_FN_COUNT * sizeof(uint64_t))

/* Rules in P11SHIM_FAULTS that get shared counters. */
#define P11SHIM_MAX_RULES 16

/* Threads told apart in the fault counters (by Linux thread id). */
#define P11SHIM_THREAD_SLOTS 256

/*
 * The fault region after its header: only uint64_t fields, so there is no
 * padding and the slot count below is exact.
 */
struct p11shim_fault_stats {
    uint64_t injected[P11SHIM_FN_COUNT]; /* errors a rule returned, per fn */
    uint64_t refused[P11SHIM_FN_COUNT];  /* calls a removed token refused */
    uint64_t injected_total;             /* sum of injected[] */
    uint64_t delayed;                    /* calls a latency rule slowed */
    uint64_t removals;                   /* simulated token removals */
    uint64_t stale;           /* calls refused: their session had died */
    uint64_t absent;          /* C_OpenSession refused: token still out */
    uint64_t remove_requests; /* p11count --remove; never reset */
    uint64_t rule_calls[P11SHIM_MAX_RULES]; /* calls each rule matched */
    uint64_t rule_fired[P11SHIM_MAX_RULES]; /* times each rule fired */
    /* injected_total by thread: slot gettid() % P11SHIM_THREAD_SLOTS */
    uint64_t by_thread[P11SHIM_THREAD_SLOTS];
};

/*
 * So a call counted in the counter reached the real module unless it is
 * also counted in injected[] (not forwarded, or its answer replaced) or
 * refused[] (never forwarded).
 */

#define P11SHIM_FAULTS_MAGIC      "P11FLT01"
#define P11SHIM_FAULTS_HEADER_LEN 16
#define P11SHIM_FAULT_SLOTS                                                    \
    (sizeof(struct p11shim_fault_stats) / sizeof(uint64_t))
#define P11SHIM_COUNTS_FAULTS_FILE_LEN                                         \
    (P11SHIM_COUNTS_FILE_LEN + P11SHIM_FAULTS_HEADER_LEN                       \
     + sizeof(struct p11shim_fault_stats))

/* Flags for p11shim_counts_open(). */
#define P11SHIM_COUNTS_WRITE  0x1 /* map read-write, not read-only */
#define P11SHIM_COUNTS_CREATE 0x2 /* create and format a missing file */
#define P11SHIM_COUNTS_FAULTS 0x4 /* add the fault region if missing */

struct p11shim_counts {
    void *map;         /* the whole file, MAP_SHARED; NULL if not open */
    size_t map_len;    /* bytes mapped */
    uint64_t *counter; /* P11SHIM_FN_COUNT counters inside map */
    struct p11shim_fault_stats *faults; /* inside map; NULL: no region */
};

/*
 * Maps the counter file at path.  Returns 1 on success, or 0 with a
 * reason in why (which may be NULL).  The file descriptor is closed before
 * returning: only the mapping is kept, so nothing leaks into exec'd
 * children while forked children keep counting into the same pages.
 * counts->faults is set when the file has a fault region (always, with
 * P11SHIM_COUNTS_FAULTS and P11SHIM_COUNTS_WRITE).
 */
int p11shim_counts_open(struct p11shim_counts *counts, const char *path,
                        int flags, char *why, size_t why_len);

/* Unmaps; accepts a counts that was never opened. */
void p11shim_counts_close(struct p11shim_counts *counts);

#endif /* P11SHIM_COUNTS_H */
