/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 modules, shared by every provider instance in the process: one
 * dlopen and one C_Initialize per module path, reference counted, so that
 * one instance's teardown never finalises a module another still uses.
 */
#ifndef P11BE_MODULE_H
#define P11BE_MODULE_H

#include <sys/types.h>

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

#include "p11call.h"

enum p11be_finalize_mode {
    P11BE_FINALIZE_AUTO,   /* at unload; at exit too except on SoftHSM2 */
    P11BE_FINALIZE_ALWAYS, /* also at process exit */
    P11BE_FINALIZE_NEVER,
};

/* The pkcs11-finalize values, in enum order, NULL-terminated. */
extern const char *const p11be_finalize_choices[];

typedef struct p11be_module_st P11BE_MODULE;

/*
 * Load (or share) the module at `path`, initialised with `init_args` (the
 * pkcs11-module-init-args setting, passed in CK_C_INITIALIZE_ARGS.pReserved;
 * NULL for none). A module already in use with other init args is refused:
 * it is initialised once per process. Raises and returns NULL on error;
 * the *_setting names are for the messages.
 */
P11BE_MODULE *p11be_module_get(const char *path, const char *path_setting,
                               const char *init_args,
                               const char *init_args_setting,
                               const OSSL_CORE_HANDLE *handle);
CK_FUNCTION_LIST *p11be_module_functions(const P11BE_MODULE *module);
const char *p11be_module_path(const P11BE_MODULE *module);

/*
 * Called in a forked child before it takes a session, to raise an error
 * naming the module when C_Initialize fails there. Every call into a module
 * (P11BE_CALL) initialises the modules again first in a new child anyway:
 * PKCS#11 wants the child to call C_Initialize before anything else, and
 * never to use the parent's handles.
 */
int p11be_module_reinit_in_child(P11BE_MODULE *module,
                                 const OSSL_CORE_HANDLE *handle);

/*
 * Whether calls into the module are still safe now: not after exit() began
 * (SoftHSM2 and others crash when called during OpenSSL's atexit clean-up)
 * and not in a child that never re-initialised it.
 */
int p11be_module_usable_now(const P11BE_MODULE *module);

/*
 * Drops a reference; the last one finalises the module (as `mode` says)
 * under the registry lock, so a concurrent p11be_module_get waits for it.
 */
void p11be_module_put(P11BE_MODULE *module, enum p11be_finalize_mode mode);

/*
 * pkcs11-finalize=always (and auto but on SoftHSM2): C_Finalize at process
 * exit, from the exit hook that runs before the module's own exit-time
 * destructors (OpenSSL's clean-up runs after them, too late to call the
 * module).
 */
void p11be_module_finalize_at_exit(P11BE_MODULE *module);

/* Marks the process as exiting: no call into any module after this. */
void p11be_module_note_exit(void);

/*
 * Keeps pkcs11be.so mapped for the life of the process, so that exit hooks
 * registered from it stay valid after an unload, then registers
 * p11be_module_note_exit with OPENSSL_atexit (and, at each module load,
 * with atexit). Called once from provider init.
 */
void p11be_module_pin_self(void);

#endif
