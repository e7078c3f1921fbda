/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shimfork: drive a PKCS#11 module from several processes and threads so
 * that tests/00-shim.t can check that p11shim.so's counters add up.
 *
 *   shimfork [--preload REAL] MODULE PROCS THREADS CALLS
 *
 * Loads MODULE and calls C_GetFunctionList once, then forks PROCS - 1
 * children.  Each of the PROCS processes calls C_Initialize, runs THREADS
 * threads that each call C_GetInfo CALLS times, and calls C_Finalize.
 * Through the shim that should count 1 C_GetFunctionList, PROCS
 * C_Initialize and C_Finalize, and PROCS * THREADS * CALLS C_GetInfo.
 *
 * --preload REAL first dlopens REAL and fetches its function list
 * directly (uncounted), so the shim finds the real module already loaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

struct fork_worker {
    CK_FUNCTION_LIST_PTR p11; /* module under test */
    unsigned long calls;      /* C_GetInfo calls to make */
    pthread_t tid;            /* valid if started */
    int started;              /* pthread_create succeeded */
    int failed;               /* set if any call did not return CKR_OK */
};

static void fork_usage(void)
{
    fputs("usage: shimfork [--preload REAL] MODULE PROCS THREADS CALLS\n",
          stderr);
}

static int fork_parse(const char *s, unsigned long *v)
{
    char *end;

    errno = 0;
    *v = strtoul(s, &end, 10);
    return *s >= '0' && *s <= '9' && errno == 0 && *end == '\0' && *v > 0;
}

static CK_FUNCTION_LIST_PTR fork_load(const char *path, int flags)
{
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR p11 = NULL;
    void *handle;
    CK_RV rv;

    /* Never dlclosed: the process exits soon after. */
    handle = dlopen(path, flags);
    if (handle == NULL) {
        fprintf(stderr, "shimfork: %s\n", dlerror());
        return NULL;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL) {
        fprintf(stderr, "shimfork: %s: no C_GetFunctionList\n", path);
        return NULL;
    }
    rv = get_list(&p11);
    if (rv != CKR_OK) {
        fprintf(stderr, "shimfork: %s: C_GetFunctionList: CKR 0x%08lx\n", path,
                rv);
        return NULL;
    }
    return p11;
}

static void *fork_thread(void *arg)
{
    struct fork_worker *w = arg;
    CK_INFO info;
    unsigned long i;

    for (i = 0; i < w->calls; i++)
        if (w->p11->C_GetInfo(&info) != CKR_OK)
            w->failed = 1;
    return NULL;
}

/* One process's share of the work; returns 0 on success. */
static int fork_run(CK_FUNCTION_LIST_PTR p11, unsigned long threads,
                    unsigned long calls)
{
    /* pkcs11be's setting: NSS's softokn needs its configuration string. */
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK,
                                      .pReserved =
                                          getenv("P11BE_MODULE_INIT_ARGS")};
    struct fork_worker *workers;
    unsigned long i;
    int ret = 0;
    CK_RV rv;

    rv = p11->C_Initialize(&init_args);
    if (rv != CKR_OK) {
        fprintf(stderr, "shimfork[%ld]: C_Initialize: CKR 0x%08lx\n",
                (long)getpid(), rv);
        return 1;
    }
    workers = calloc(threads, sizeof(*workers));
    if (workers == NULL) {
        ret = 1;
        goto out_finalize;
    }
    for (i = 0; i < threads; i++) {
        workers[i].p11 = p11;
        workers[i].calls = calls;
        workers[i].started =
            pthread_create(&workers[i].tid, NULL, fork_thread, &workers[i])
            == 0;
        /* Do the work inline so the expected count still holds. */
        if (!workers[i].started)
            fork_thread(&workers[i]);
    }
    for (i = 0; i < threads; i++) {
        if (workers[i].started)
            pthread_join(workers[i].tid, NULL);
        if (workers[i].failed) {
            fprintf(stderr, "shimfork[%ld]: C_GetInfo failed\n",
                    (long)getpid());
            ret = 1;
        }
    }
    free(workers);
out_finalize:
    rv = p11->C_Finalize(NULL);
    if (rv != CKR_OK) {
        fprintf(stderr, "shimfork[%ld]: C_Finalize: CKR 0x%08lx\n",
                (long)getpid(), rv);
        ret = 1;
    }
    return ret;
}

int main(int argc, char **argv)
{
    unsigned long procs, threads, calls, i;
    CK_FUNCTION_LIST_PTR real = NULL;
    CK_FUNCTION_LIST_PTR p11;
    int argi = 1;
    int ret = 0;

    if (argc == 7 && strcmp(argv[1], "--preload") == 0) {
        real = fork_load(argv[2], RTLD_NOW | RTLD_GLOBAL);
        if (real == NULL)
            return 1;
        argi = 3;
    }
    if (argc - argi != 4 || !fork_parse(argv[argi + 1], &procs)
        || !fork_parse(argv[argi + 2], &threads)
        || !fork_parse(argv[argi + 3], &calls)) {
        fork_usage();
        return 2;
    }
    p11 = fork_load(argv[argi], RTLD_NOW | RTLD_LOCAL);
    if (p11 == NULL)
        return 1;
    if (real != NULL && real == p11) {
        fputs("shimfork: MODULE handed out the preloaded list\n", stderr);
        return 1;
    }
    /*
     * Children are forked before anyone calls C_Initialize: PKCS#11 does
     * not promise that a module initialised in the parent works in a child.
     */
    fflush(stdout);
    fflush(stderr);
    for (i = 1; i < procs; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            perror("shimfork: fork");
            ret = 1;
            break;
        }
        if (pid == 0)
            _exit(fork_run(p11, threads, calls));
    }
    if (fork_run(p11, threads, calls) != 0)
        ret = 1;
    for (;;) {
        int status;
        pid_t pid = wait(&status);

        if (pid < 0)
            break;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "shimfork: child %ld failed\n", (long)pid);
            ret = 1;
        }
    }
    return ret;
}
