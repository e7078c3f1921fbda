/* SPDX-License-Identifier: Apache-2.0 */
#include "p11call.h"

#include "err.h"

void p11be_call_trace(const char *file, int line, const char *name, CK_RV rv)
{
    p11be_debug_at(file, line, "token", "%s -> %s", name, p11be_ckr_name(rv));
}

CK_RV p11be_call_refused(const char *file, int line, const char *name)
{
    if (p11be_debug_on)
        p11be_debug_at(file, line, "token", "%s not called: exit has begun",
                       name);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
}
