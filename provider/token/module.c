/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* dladdr */
#include "module.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "debug.h"
#include "err.h"
#include "p11call.h"
#include "reentry.h"

struct p11be_module_st {
    char *path;            /* as configured: the registry's key */
    char *init_args;       /* CK_C_INITIALIZE_ARGS.pReserved, or NULL */
    void *dl;              /* dlopen handle */
    CK_FUNCTION_LIST *fns; /* from C_GetFunctionList */
    unsigned refs;         /* provider instances using it */
    pid_t init_pid;        /* process that last called C_Initialize */
    int we_initialized;    /* C_Initialize returned CKR_OK to us */
    int finalize_at_exit;  /* pkcs11-finalize=always: see module.h */
    int fork_unsafe;       /* keeps a device connection across fork */
    struct p11be_module_st *next;
};

/*
 * Guards the registry and every module's C_Initialize and C_Finalize, so
 * that an instance loading a module never sees another's finalisation of
 * it half done. Taken after the session pools' locks (fork, P11BE_CALL).
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int registry_held; /* this thread holds registry_lock */
static int registry_locked_for_fork;
static P11BE_MODULE *registry;
static volatile int process_exiting;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void registry_take(void)
{
    pthread_mutex_lock(&registry_lock);
    registry_held = 1;
}

static void registry_give(void)
{
    registry_held = 0;
    pthread_mutex_unlock(&registry_lock);
}

unsigned p11be_forks;
unsigned p11be_forks_initialized;
const CK_FUNCTION_LIST *p11be_fork_refused_fns;

static int self_pinned;

/*
 * How long exit waits for other threads' calls into a module to end (see
 * p11be_module_note_exit): a token call takes microseconds to a few
 * seconds (a network HSM generating a key).
 */
#define EXIT_WAIT_MS 1000

const char *const p11be_finalize_choices[] = {"auto", "always", "never", NULL};

/*
 * Runs twice at exit: first from atexit() (registered after each module's
 * C_Initialize, so before the module's own destructors), then from
 * OpenSSL's clean-up. The first run closes the modules to the other
 * threads and waits for their calls under way to end, so that the
 * module's destructors do not free what a call is using (an application
 * that calls exit() with busy threads crashed there in 24 of 60 runs,
 * tests/c/exit_check.c), and finalises what pkcs11-finalize=always asks
 * for; after it no module is called.
 */
void p11be_module_note_exit(void)
{
    P11BE_MODULE *module;
    int quiet = p11be_reentry_close(EXIT_WAIT_MS);

    registry_take();
    if (!process_exiting)
        for (module = registry; module != NULL; module = module->next)
            if (module->finalize_at_exit && module->we_initialized
                && module->init_pid == getpid()) {
                if (!quiet) {
                    P11BE_DEBUG("not finalising %s at exit: another thread "
                                "is still inside a call",
                                module->path);
                    continue;
                }
                P11BE_CALL_AS_IS(module->fns, C_Finalize, NULL);
                module->we_initialized = 0;
                P11BE_DEBUG("finalised %s at exit", module->path);
            }
    process_exiting = 1;
    registry_give();
}

void p11be_module_finalize_at_exit(P11BE_MODULE *module)
{
    registry_take();
    module->finalize_at_exit = 1;
    registry_give();
}

void p11be_module_pin_self(void)
{
    Dl_info self;

    if (dladdr((void *)p11be_module_pin_self, &self) != 0
        && self.dli_fname != NULL
        && dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)
               != NULL) {
        self_pinned = 1;
        p11be_reentry_track_callers();
        OPENSSL_atexit(p11be_module_note_exit);
    }
}

/*
 * Held across fork() (registered before the session pools' handlers, so
 * taken after their locks), so that a child never inherits it locked.
 */
static void atfork_prepare(void)
{
    /*
     * Not when this thread holds it: a module may fork inside C_Initialize
     * (p11-kit's remote modules start their helper so); the child then
     * returns through our code and gives it back itself.
     */
    registry_locked_for_fork = !registry_held;
    if (registry_locked_for_fork)
        registry_take();
}

static void atfork_parent(void)
{
    if (registry_locked_for_fork)
        registry_give();
}

static void atfork_child(void)
{
    p11be_forks++;
    atfork_parent();
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Locked by the caller. */
static CK_RV module_initialize(P11BE_MODULE *module)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = module->init_args;
    /* Modules that use OpenSSL leave their start-up noise on our queue. */
    ERR_set_mark();
    rv = P11BE_CALL_AS_IS(module->fns, C_Initialize, &args);
    ERR_pop_to_mark();
    /*
     * A forked child (init_pid is the parent's) of a module that kept its
     * state: tpm2-pkcs11 keeps its TPM connection and sessions, so any use
     * here, C_Finalize included, puts the parent's sessions out of step
     * with the TPM (each failure of the parent's then counts towards the
     * TPM's dictionary-attack lockout). The child leaves it alone.
     */
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && module->init_pid != 0
        && module->fork_unsafe) {
        p11be_fork_refused_fns = module->fns;
        return rv;
    }
    module->we_initialized = rv == CKR_OK;
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* The application (or another library) uses the module too. */
        P11BE_DEBUG("%s was already initialised: sharing it", module->path);
        rv = CKR_OK;
    }
    if (rv == CKR_OK)
        module->init_pid = getpid();
    return rv;
}

static P11BE_MODULE *module_load(const char *path, const char *path_setting,
                                 const char *init_args,
                                 const OSSL_CORE_HANDLE *handle)
{
    P11BE_MODULE *module = OPENSSL_zalloc(sizeof(*module));
    CK_C_GetFunctionList get_function_list;
    CK_INFO info;
    CK_RV rv;

    if (module == NULL || (module->path = OPENSSL_strdup(path)) == NULL
        || (init_args != NULL
            && (module->init_args = OPENSSL_strdup(init_args)) == NULL)) {
        p11be_raise(handle, P11BE_R_OUT_OF_MEMORY, "loading %s", path);
        goto out_free;
    }
    module->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (module->dl == NULL) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED, "%s=%s: %s",
                    path_setting, path, dlerror());
        goto out_free;
    }
    get_function_list =
        (CK_C_GetFunctionList)dlsym(module->dl, "C_GetFunctionList");
    if (get_function_list == NULL) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s=%s is not a PKCS#11 module (no C_GetFunctionList)",
                    path_setting, path);
        goto out_close;
    }
    rv = CKR_CRYPTOKI_NOT_INITIALIZED; /* refused: exit has begun */
    if (p11be_reentry_enter()) {
        rv = get_function_list(&module->fns);
        p11be_reentry_leave();
    }
    if (rv != CKR_OK || module->fns == NULL) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s=%s: C_GetFunctionList failed: %s", path_setting, path,
                    p11be_ckr_name(rv));
        goto out_close;
    }
    if (module->fns->version.major < 2) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s=%s: PKCS#11 version %u.%u is too old", path_setting,
                    path, module->fns->version.major,
                    module->fns->version.minor);
        goto out_close;
    }
    rv = module_initialize(module);
    if (rv != CKR_OK) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s=%s: C_Initialize failed: %s", path_setting, path,
                    p11be_ckr_name(rv));
        goto out_close;
    }
    module->fork_unsafe =
        P11BE_CALL_AS_IS(module->fns, C_GetInfo, &info) == CKR_OK
        && memcmp(info.manufacturerID, "tpm2-software.github.io", 23) == 0;
    /*
     * Registered after the module's own exit-time destructors (C++
     * statics in SoftHSM2), so it runs before them: from then on nothing
     * calls into the module, not even OpenSSL's clean-up freeing a
     * context that holds a token object.
     */
    if (self_pinned)
        atexit(p11be_module_note_exit);
    P11BE_DEBUG("loaded %s (cryptoki %u.%u)", path, module->fns->version.major,
                module->fns->version.minor);
    return module;

out_close:
    dlclose(module->dl);
out_free:
    if (module != NULL) {
        OPENSSL_free(module->path);
        OPENSSL_free(module->init_args);
    }
    OPENSSL_free(module);
    return NULL;
}

/* NULL and "" both mean none. */
static int same_init_args(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

P11BE_MODULE *p11be_module_get(const char *path, const char *path_setting,
                               const char *init_args,
                               const char *init_args_setting,
                               const OSSL_CORE_HANDLE *handle)
{
    P11BE_MODULE *module;

    /* Built before any call into a module, never from inside one. */
    if (!p11be_fallback_prepare()) {
        p11be_raise(handle, P11BE_R_FALLBACK_FAILED,
                    "cannot load OpenSSL's default provider into a private "
                    "library context");
        return NULL;
    }
    pthread_once(&atfork_once, atfork_register);
    registry_take();
    for (module = registry; module != NULL; module = module->next)
        if (strcmp(module->path, path) == 0)
            break;
    if (module != NULL && !same_init_args(module->init_args, init_args)) {
        /* One C_Initialize per module and process: it cannot take both. */
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s=\"%s\": %s is already in use in this process with "
                    "init args \"%s\" (a module is initialised once per "
                    "process)",
                    init_args_setting, init_args != NULL ? init_args : "", path,
                    module->init_args != NULL ? module->init_args : "");
        module = NULL;
    } else if (module == NULL) {
        module = module_load(path, path_setting, init_args, handle);
        if (module != NULL) {
            module->next = registry;
            registry = module;
        }
    }
    if (module != NULL)
        module->refs++;
    registry_give();
    if (module == NULL)
        p11be_fallback_release();
    return module;
}

CK_FUNCTION_LIST *p11be_module_functions(const P11BE_MODULE *module)
{
    return module->fns;
}

const char *p11be_module_path(const P11BE_MODULE *module)
{
    return module->path;
}

/* Locked by the caller. */
static CK_RV reinit_in_child_locked(P11BE_MODULE *module)
{
    if (module->init_pid == getpid() || process_exiting)
        return CKR_OK;
    P11BE_DEBUG("forked: initialising %s again in the child", module->path);
    return module_initialize(module);
}

void p11be_module_after_fork(void)
{
    P11BE_MODULE *module;
    unsigned forks;

    registry_take();
    /* Read first: a module that forks in C_Initialize bumps it in its child. */
    forks = p11be_forks;
    if (p11be_forks_initialized != forks) {
        /* A module that fails here is tried again by the next session. */
        for (module = registry; module != NULL; module = module->next)
            reinit_in_child_locked(module);
        __atomic_store_n(&p11be_forks_initialized, forks, __ATOMIC_RELEASE);
    }
    registry_give();
}

int p11be_module_reinit_in_child(P11BE_MODULE *module,
                                 const OSSL_CORE_HANDLE *handle)
{
    CK_RV rv;

    registry_take();
    rv = reinit_in_child_locked(module);
    registry_give();
    if (rv != CKR_OK && module->fns == p11be_fork_refused_fns) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "%s keeps its state and its TPM connection across fork "
                    "(C_Initialize in the child: %s): a forked child may not "
                    "use it, or the parent's TPM sessions would break",
                    module->path, p11be_ckr_name(rv));
        return 0;
    }
    if (rv != CKR_OK) {
        p11be_raise(handle, P11BE_R_MODULE_LOAD_FAILED,
                    "C_Initialize in a forked child of %s failed: %s",
                    module->path, p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

CK_RV p11be_call_refused_fork(const char *file, int line, const char *name)
{
    if (p11be_debug_on)
        p11be_debug_at(file, line, "token",
                       "%s not called: the module kept the parent's state "
                       "across fork",
                       name);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
}

int p11be_module_usable_now(const P11BE_MODULE *module)
{
    return !process_exiting && module->init_pid == getpid();
}

void p11be_module_put(P11BE_MODULE *module, enum p11be_finalize_mode mode)
{
    P11BE_MODULE **link;
    int finalize;

    if (module == NULL)
        return;
    registry_take();
    if (--module->refs > 0) {
        registry_give();
        p11be_fallback_release();
        return;
    }
    for (link = &registry; *link != NULL; link = &(*link)->next)
        if (*link == module) {
            *link = module->next;
            break;
        }

    /*
     * Finalise only what we initialised, only in the process that did it
     * (a child must not finalise its parent's token), and never once exit
     * began: SoftHSM2 crashes in C_Finalize once its own exit-time
     * destructors ran, which is before OpenSSL's clean-up frees us. At exit
     * "always" was done by p11be_module_note_exit().
     */
    finalize = module->we_initialized && module->init_pid == getpid()
               && mode != P11BE_FINALIZE_NEVER && !process_exiting;
    if (finalize) {
        /*
         * Still under the lock: an instance loading the module meanwhile
         * must not find it initialised (and take it as shared) only to
         * have it finalised under it.
         */
        P11BE_CALL_AS_IS(module->fns, C_Finalize, NULL);
        dlclose(module->dl);
    }
    registry_give();
    P11BE_DEBUG("released %s (%s)", module->path,
                finalize ? "finalised" : "left initialised");
    OPENSSL_free(module->path);
    OPENSSL_free(module->init_args);
    OPENSSL_free(module);
    p11be_fallback_release();
}
