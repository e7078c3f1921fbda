/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_shim: drives a PKCS#11 module (p11shim.so with P11SHIM_FAULTS, for
 * tests/60-faults-shim.t) directly, one step per argument, and prints
 * one line per call: "STEP CKR_NAME [detail]".
 *
 *   fault_shim MODULE SLOT STEP...
 *
 * STEP (any may end in xCOUNT, e.g. infox100):
 *   open        C_OpenSession; the session becomes the current one
 *   close       C_CloseSession of the current session
 *   info        C_GetSessionInfo; detail: "public" or "user" (logged in)
 *   digest      C_DigestInit + C_Digest of "abc" (SHA-256); detail:
 *               "good" or "bad" when C_Digest says CKR_OK
 *   init        C_DigestInit only (leaves a digest running)
 *   login       C_Login as the user with $FAULT_SHIM_PIN (default 1234)
 *   getinfo     C_GetInfo (no session)
 *   pick=N      make the Nth session opened the current one
 *   remove      run `$P11COUNT --remove` (not printed)
 *
 * A failed C_Digest whose output buffer came back filled with 0xa5 (an
 * `after` rule) has the detail "overwritten".
 *
 * Calls C_Initialize first and C_Finalize last (not printed). Exit status
 * 0, or 2 for a usage error or a module that does not load.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "../shim/p11shim_ckr.h"

#define MAX_SESSIONS 64

static const unsigned char sha256_abc[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};

/* The state of a run. */
struct drive {
    CK_FUNCTION_LIST_PTR p11;                 /* the module */
    CK_SLOT_ID slot;                          /* its slot */
    CK_SESSION_HANDLE sessions[MAX_SESSIONS]; /* opened, in order */
    int session_count;                        /* entries in sessions */
    CK_SESSION_HANDLE cur;                    /* the current session */
};

static const char *ckr_name(CK_RV rv)
{
    static char unknown[32];
    const char *name = p11shim_ckr_name(rv);

    if (name != NULL)
        return name;
    snprintf(unknown, sizeof(unknown), "CKR_0x%lx", (unsigned long)rv);
    return unknown;
}

static CK_FUNCTION_LIST_PTR drive_load(const char *path)
{
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR p11 = NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);

    /* Never dlclosed: the process exits soon after. */
    if (handle == NULL) {
        fprintf(stderr, "fault_shim: %s\n", dlerror());
        return NULL;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL || get_list(&p11) != CKR_OK)
        return NULL;
    return p11;
}

static void step_digest(struct drive *d, int init_only)
{
    CK_MECHANISM mech = {CKM_SHA256, NULL, 0};
    unsigned char in[3] = {'a', 'b', 'c'};
    unsigned char out[32];
    CK_ULONG out_len = sizeof(out);
    CK_RV rv = d->p11->C_DigestInit(d->cur, &mech);

    if (rv != CKR_OK || init_only) {
        printf("%s %s\n", init_only ? "init" : "digest", ckr_name(rv));
        return;
    }
    memset(out, 0, sizeof(out));
    rv = d->p11->C_Digest(d->cur, in, sizeof(in), out, &out_len);
    if (rv != CKR_OK)
        printf("digest %s%s\n", ckr_name(rv),
               out[0] == 0xa5 && out[31] == 0xa5 ? " overwritten" : "");
    else
        printf("digest CKR_OK %s\n",
               out_len == 32 && memcmp(out, sha256_abc, 32) == 0 ? "good"
                                                                 : "bad");
}

/* `$P11COUNT --remove`; 0 if it could not run. */
static int step_remove(void)
{
    const char *p11count = getenv("P11COUNT");
    pid_t pid;
    int status;

    if (p11count == NULL)
        return 0;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execl(p11count, p11count, "--remove", (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}

/* One step; 0 if it is not one. */
static int drive_step(struct drive *d, const char *step)
{
    const char *pin = getenv("FAULT_SHIM_PIN");
    CK_SESSION_INFO info;
    CK_INFO ginfo;
    CK_RV rv;
    int n;

    if (pin == NULL)
        pin = "1234";
    if (strcmp(step, "open") == 0) {
        rv = d->p11->C_OpenSession(d->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                   NULL, NULL, &d->cur);
        if (rv == CKR_OK && d->session_count < MAX_SESSIONS)
            d->sessions[d->session_count++] = d->cur;
        printf("open %s\n", ckr_name(rv));
    } else if (strcmp(step, "close") == 0) {
        printf("close %s\n", ckr_name(d->p11->C_CloseSession(d->cur)));
    } else if (strcmp(step, "info") == 0) {
        rv = d->p11->C_GetSessionInfo(d->cur, &info);
        printf("info %s%s\n", ckr_name(rv),
               rv != CKR_OK                          ? ""
               : info.state == CKS_RW_USER_FUNCTIONS ? " user"
                                                     : " public");
    } else if (strcmp(step, "digest") == 0 || strcmp(step, "init") == 0) {
        step_digest(d, strcmp(step, "init") == 0);
    } else if (strcmp(step, "login") == 0) {
        rv = d->p11->C_Login(d->cur, CKU_USER, (CK_UTF8CHAR *)pin,
                             (CK_ULONG)strlen(pin));
        printf("login %s\n", ckr_name(rv));
    } else if (strcmp(step, "getinfo") == 0) {
        printf("getinfo %s\n", ckr_name(d->p11->C_GetInfo(&ginfo)));
    } else if (strcmp(step, "remove") == 0) {
        return step_remove();
    } else if (sscanf(step, "pick=%d", &n) == 1 && n >= 1
               && n <= d->session_count) {
        d->cur = d->sessions[n - 1];
    } else {
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    struct drive d = {0};
    /* pkcs11be's setting: NSS's softokn needs its configuration string. */
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK,
                                      .pReserved =
                                          getenv("P11BE_MODULE_INIT_ARGS")};
    int a;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fputs("usage: fault_shim MODULE SLOT STEP...\n", stderr);
        return 2;
    }
    d.slot = strtoul(argv[2], NULL, 10);
    d.p11 = drive_load(argv[1]);
    if (d.p11 == NULL || d.p11->C_Initialize(&init_args) != CKR_OK) {
        fputs("fault_shim: the module does not load\n", stderr);
        return 2;
    }
    for (a = 3; a < argc; a++) {
        char step[64];
        const char *x = strrchr(argv[a], 'x');
        unsigned long count = 1, i;

        snprintf(step, sizeof(step), "%s", argv[a]);
        if (x != NULL && sscanf(x, "x%lu", &count) == 1)
            step[x - argv[a]] = '\0';
        for (i = 0; i < count; i++) {
            if (!drive_step(&d, step)) {
                fprintf(stderr, "fault_shim: unknown step %s\n", step);
                return 2;
            }
        }
    }
    d.p11->C_Finalize(NULL);
    return 0;
}
