/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening, formatting and validating the counter file described in
 * p11shim_counts.h (with its optional fault region), plus the function
 * name strings.  Linked into both the
 * shim and p11count so that the two cannot disagree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11shim_counts.h"

/* clang-format cannot see the rows inside the macro. */
/* clang-format off */
#define P11SHIM_NAME_ROW(id, fn) [id] = #fn,
const char *const p11shim_fn_names[P11SHIM_FN_COUNT] = {
    P11SHIM_FUNCTIONS(P11SHIM_NAME_ROW)
};
#undef P11SHIM_NAME_ROW
/* clang-format on */

static void counts_why(char *why, size_t why_len, const char *path,
                       const char *what)
{
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s: %s", path, what);
}

static int counts_header_ok(const unsigned char *map)
{
    uint64_t fn_count;

    memcpy(&fn_count, map + P11SHIM_COUNTS_MAGIC_LEN, sizeof(fn_count));
    return memcmp(map, P11SHIM_COUNTS_MAGIC, P11SHIM_COUNTS_MAGIC_LEN) == 0
           && fn_count == P11SHIM_FN_COUNT;
}

static int faults_header_ok(const unsigned char *region)
{
    uint64_t slots;

    memcpy(&slots, region + P11SHIM_COUNTS_MAGIC_LEN, sizeof(slots));
    return memcmp(region, P11SHIM_FAULTS_MAGIC, P11SHIM_COUNTS_MAGIC_LEN) == 0
           && slots == P11SHIM_FAULT_SLOTS;
}

/* Writes a header: 8 magic bytes and a uint64 count, at offset. */
static int counts_write_header(int fd, const char *magic, uint64_t count,
                               off_t offset)
{
    return pwrite(fd, magic, P11SHIM_COUNTS_MAGIC_LEN, offset)
               == P11SHIM_COUNTS_MAGIC_LEN
           && pwrite(fd, &count, sizeof(count),
                     offset + P11SHIM_COUNTS_MAGIC_LEN)
                  == sizeof(count);
}

/*
 * Sizes and formats what the file lacks (called under the exclusive lock):
 * the counters of an empty file, and the fault region when asked for.
 * Returns the file's size afterwards, or -1.
 */
static off_t counts_format(int fd, off_t size, int want_faults)
{
    if (size == 0) {
        if (ftruncate(fd, P11SHIM_COUNTS_FILE_LEN) != 0
            || !counts_write_header(fd, P11SHIM_COUNTS_MAGIC, P11SHIM_FN_COUNT,
                                    0))
            return -1;
        size = P11SHIM_COUNTS_FILE_LEN;
    }
    if (want_faults && size == (off_t)P11SHIM_COUNTS_FILE_LEN) {
        if (ftruncate(fd, P11SHIM_COUNTS_FAULTS_FILE_LEN) != 0
            || !counts_write_header(fd, P11SHIM_FAULTS_MAGIC,
                                    P11SHIM_FAULT_SLOTS,
                                    P11SHIM_COUNTS_FILE_LEN))
            return -1;
        size = P11SHIM_COUNTS_FAULTS_FILE_LEN;
    }
    return size;
}

int p11shim_counts_open(struct p11shim_counts *counts, const char *path,
                        int flags, char *why, size_t why_len)
{
    int writable = (flags & P11SHIM_COUNTS_WRITE) != 0;
    int oflags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    unsigned char *map;
    struct stat st;
    off_t size;
    int ret = 0;
    int fd;

    counts->map = NULL;
    counts->map_len = 0;
    counts->counter = NULL;
    counts->faults = NULL;
    if (writable && (flags & P11SHIM_COUNTS_CREATE) != 0)
        oflags |= O_CREAT;
    fd = open(path, oflags, 0644);
    if (fd < 0) {
        counts_why(why, why_len, path, strerror(errno));
        return 0;
    }
    /*
     * Several processes may start at once on a missing file.  Whoever
     * holds the lock first sizes and formats it; the rest then see a full
     * file and only check it.
     */
    if (flock(fd, writable ? LOCK_EX : LOCK_SH) != 0) {
        counts_why(why, why_len, path, strerror(errno));
        goto out_close;
    }
    if (fstat(fd, &st) != 0) {
        counts_why(why, why_len, path, strerror(errno));
        goto out_close;
    }
    size = st.st_size;
    if (writable) {
        size = counts_format(fd, size, (flags & P11SHIM_COUNTS_FAULTS) != 0);
        if (size < 0) {
            counts_why(why, why_len, path, "cannot format the file");
            goto out_close;
        }
    }
    if (size != (off_t)P11SHIM_COUNTS_FILE_LEN
        && size != (off_t)P11SHIM_COUNTS_FAULTS_FILE_LEN) {
        counts_why(why, why_len, path,
                   "not a p11shim counter file (wrong size)");
        goto out_close;
    }
    map =
        mmap(NULL, (size_t)size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
             MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        counts_why(why, why_len, path, strerror(errno));
        goto out_close;
    }
    if (!counts_header_ok(map)
        || (size == (off_t)P11SHIM_COUNTS_FAULTS_FILE_LEN
            && !faults_header_ok(map + P11SHIM_COUNTS_FILE_LEN))) {
        counts_why(why, why_len, path,
                   "not a p11shim counter file (bad magic or count)");
        munmap(map, (size_t)size);
        goto out_close;
    }
    counts->map = map;
    counts->map_len = (size_t)size;
    counts->counter = (uint64_t *)(map + P11SHIM_COUNTS_HEADER_LEN);
    if (size == (off_t)P11SHIM_COUNTS_FAULTS_FILE_LEN)
        counts->faults =
            (struct p11shim_fault_stats *)(map + P11SHIM_COUNTS_FILE_LEN
                                           + P11SHIM_FAULTS_HEADER_LEN);
    ret = 1;
out_close:
    /*
     * Unlock explicitly: the mapping keeps the open file description, and
     * with it the lock, alive after close().
     */
    flock(fd, LOCK_UN);
    close(fd);
    return ret;
}

void p11shim_counts_close(struct p11shim_counts *counts)
{
    if (counts->map != NULL)
        munmap(counts->map, counts->map_len);
    counts->map = NULL;
    counts->map_len = 0;
    counts->counter = NULL;
    counts->faults = NULL;
}
