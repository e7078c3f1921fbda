/* SPDX-License-Identifier: Apache-2.0 */
#include "delegate.h"

#include "debug.h"

static const char *const delegate_choices[] = {"yes", "no", NULL};

void p11be_delegated_note(P11BE_PROV_CTX *prov, const char *what)
{
    uint64_t count =
        __atomic_add_fetch(&prov->delegated_count, 1, __ATOMIC_RELAXED);

    P11BE_DEBUG("%s delegated to the default provider (%llu so far)", what,
                (unsigned long long)count);
}

uint64_t p11be_delegated_count(const P11BE_PROV_CTX *prov)
{
    return __atomic_load_n(&prov->delegated_count, __ATOMIC_RELAXED);
}

int p11be_delegate_allowed(P11BE_PROV_CTX *prov)
{
    int choice = p11be_config_choice(&prov->config, P11BE_SET_DELEGATE,
                                     prov->handle, 0, delegate_choices);

    return choice < 0 ? -1 : choice == 0;
}
