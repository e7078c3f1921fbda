/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way the provider calls into a PKCS#11 module:
 *
 *     rv = P11BE_CALL(fns, C_DigestInit, sess->handle, &mech);
 *
 * marks the thread as inside the module (see reentry.h) for the duration
 * of the call, then traces the function and its result in one place. The
 * function's name stays written out at every call site, so a grep for
 * C_DigestInit finds them all.
 */
#ifndef P11BE_P11CALL_H
#define P11BE_P11CALL_H

#include <p11-kit/pkcs11.h>

#include "debug.h"
#include "reentry.h"

/*
 * The fork generation: bumped in every forked child, and the generation the
 * modules were last initialised for. They differ in a child that has not
 * called C_Initialize yet, which PKCS#11 wants before any other call, so
 * the first call there, whichever it is (a slot query, a mechanism look-up,
 * a session), initialises every module again first (P11BE_CALL).
 */
extern unsigned p11be_forks;
extern unsigned p11be_forks_initialized;
void p11be_module_after_fork(void);

/* The fork generation this process is in (bumped in each child). */
static inline unsigned p11be_fork_generation(void)
{
    return __atomic_load_n(&p11be_forks, __ATOMIC_RELAXED);
}

void p11be_call_trace(const char *file, int line, const char *name, CK_RV rv);

/* In a child that has not initialised the modules yet: do it now. */
static inline void p11be_call_ready(void)
{
    if (__builtin_expect(
            __atomic_load_n(&p11be_forks, __ATOMIC_RELAXED)
                != __atomic_load_n(&p11be_forks_initialized, __ATOMIC_ACQUIRE),
            0))
        p11be_module_after_fork();
}

/* A call refused because exit closed the modules (reentry.h): traced. */
CK_RV p11be_call_refused(const char *file, int line, const char *name);

/*
 * Traces the call when tracing is on, leaves the module, returns rv. The
 * line is written before leaving, so exit waits for it too.
 */
static inline CK_RV p11be_call_done(const char *file, int line,
                                    const char *name, CK_RV rv)
{
    if (p11be_debug_on)
        p11be_call_trace(file, line, name, rv);
    p11be_reentry_leave();
    return rv;
}

/*
 * The function list of a module that this forked child must not call (it
 * kept the parent's state and device connection: module.c), or NULL; and
 * the answer such a call gets instead, traced.
 */
extern const CK_FUNCTION_LIST *p11be_fork_refused_fns;
CK_RV p11be_call_refused_fork(const char *file, int line, const char *name);

#define P11BE_CALL(fns, fn, ...)                                               \
    (p11be_call_ready(),                                                       \
     __builtin_expect((fns) == p11be_fork_refused_fns, 0)                      \
         ? p11be_call_refused_fork(__FILE__, __LINE__, #fn)                    \
         : P11BE_CALL_AS_IS(fns, fn, __VA_ARGS__))

/* Without the fork check: module.c's own C_Initialize and C_Finalize. */
#define P11BE_CALL_AS_IS(fns, fn, ...)                                         \
    (p11be_reentry_enter()                                                     \
         ? p11be_call_done(__FILE__, __LINE__, #fn, (fns)->fn(__VA_ARGS__))    \
         : p11be_call_refused(__FILE__, __LINE__, #fn))

#endif
