/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's call-counter file, shared by p11shim.so and p11count.
 *
 * Layout (host byte order, 16 + 8 * P11SHIM_FN_COUNT bytes):
 *
 *   offset 0   8 bytes   magic "P11SHIM1" (no terminating NUL)
 *   offset 8   uint64    number of counters that follow (P11SHIM_FN_COUNT)
 *   offset 16  uint64[]  one counter per function, in CK_FUNCTION_LIST
 *                        order (enum p11shim_fn)
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

/* Flags for p11shim_counts_open(). */
#define P11SHIM_COUNTS_WRITE  0x1 /* map read-write, not read-only */
#define P11SHIM_COUNTS_CREATE 0x2 /* create and format a missing file */

struct p11shim_counts {
    void *map;         /* the whole file, MAP_SHARED; NULL if not open */
    uint64_t *counter; /* P11SHIM_FN_COUNT counters inside map */
};

/*
 * Maps the counter file at path.  Returns 1 on success, or 0 with a
 * reason in why (which may be NULL).  The file descriptor is closed before
 * returning: only the mapping is kept, so nothing leaks into exec'd
 * children while forked children keep counting into the same pages.
 */
int p11shim_counts_open(struct p11shim_counts *counts, const char *path,
                        int flags, char *why, size_t why_len);

/* Unmaps; accepts a counts that was never opened. */
void p11shim_counts_close(struct p11shim_counts *counts);

#endif /* P11SHIM_COUNTS_H */
