/* SPDX-License-Identifier: Apache-2.0 */
#include "objects.h"

#include "err.h"
#include "p11call.h"
#include "token.h"

/* The object session, (re)opened when missing or stale. Locked by caller. */
static CK_RV object_session_locked(P11BE_TOKEN *token)
{
    unsigned generation, forks = p11be_fork_generation();
    CK_RV rv;

    pthread_mutex_lock(&token->lock);
    generation = token->generation;
    pthread_mutex_unlock(&token->lock);
    if (token->object_session_open && token->object_generation == generation
        && token->object_forks == forks)
        return CKR_OK;
    token->object_session_open = 0;
    rv = P11BE_CALL(token->fns, C_OpenSession, token->slot_id,
                    token->session_flags, NULL, NULL, &token->object_session);
    if (rv != CKR_OK)
        return rv;
    token->object_session_open = 1;
    token->object_generation = generation;
    token->object_forks = forks;
    return CKR_OK;
}

int p11be_object_create(P11BE_PROV_CTX *prov, CK_ATTRIBUTE *tmpl,
                        CK_ULONG count, int need_login, P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = p11be_prov_token(prov);
    int attempt;
    CK_RV rv = CKR_OK;

    ref->handle = CK_INVALID_HANDLE;
    if (token == NULL)
        return 0;
    pthread_mutex_lock(&token->object_lock);
    for (attempt = 0; attempt < 2; attempt++) {
        rv = object_session_locked(token);
        if (rv == CKR_OK && need_login
            && !p11be_token_login(token, token->object_session)) {
            pthread_mutex_unlock(&token->object_lock);
            return 0;
        }
        if (rv == CKR_OK)
            rv = P11BE_CALL(token->fns, C_CreateObject, token->object_session,
                            tmpl, count, &ref->handle);
        if (!p11be_ckr_session_lost(rv))
            break;
        token->object_session_open = 0;
    }
    ref->generation = token->object_generation;
    ref->forks = token->object_forks;
    pthread_mutex_unlock(&token->object_lock);
    if (rv != CKR_OK) {
        ref->handle = CK_INVALID_HANDLE;
        p11be_raise(prov->handle, P11BE_R_TOKEN_OP_FAILED,
                    "C_CreateObject on the token \"%s\": %s", token->label,
                    p11be_ckr_name(rv));
        return 0;
    }
    return 1;
}

int p11be_object_alive(P11BE_PROV_CTX *prov, const P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = __atomic_load_n(&prov->token, __ATOMIC_ACQUIRE);
    unsigned generation;

    if (token == NULL || ref->handle == CK_INVALID_HANDLE
        || ref->forks != p11be_fork_generation())
        return 0;
    pthread_mutex_lock(&token->lock);
    generation = token->generation;
    pthread_mutex_unlock(&token->lock);
    return ref->generation == generation;
}

void p11be_object_destroy(P11BE_PROV_CTX *prov, P11BE_OBJECT_REF *ref)
{
    P11BE_TOKEN *token = __atomic_load_n(&prov->token, __ATOMIC_ACQUIRE);

    if (ref->handle != CK_INVALID_HANDLE && p11be_object_alive(prov, ref)
        && p11be_module_usable_now(token->module)) {
        pthread_mutex_lock(&token->object_lock);
        if (token->object_session_open)
            P11BE_CALL(token->fns, C_DestroyObject, token->object_session,
                       ref->handle);
        pthread_mutex_unlock(&token->object_lock);
    }
    ref->handle = CK_INVALID_HANDLE;
}
