/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_check: the "pkcs11" store from a program (tests/82-store-pin.t).
 *
 *   store_check URI TIMES [PIN]
 *
 * Loads the first private key URI names, TIMES times in one process
 * (OSSL_STORE_open_ex with "provider=pkcs11be"), giving PIN to the
 * store's passphrase callback when one is given, and prints one line per
 * attempt: "load N: ok" (after a signature with the key) or
 * "load N: failed" with the error queue. Exits 0 when every attempt
 * succeeded, 1 otherwise. With STORE_CHECK_FORK=1 in the environment, a
 * forked child signs with each loaded key too (it must find the token
 * objects again), and the parent signs after it ("parent: signed" or
 * "parent: failed"). With
 * STORE_CHECK_LOGOUT=1, the program signs once, then logs the token out
 * itself (C_Logout through the module CRYPTOGRAPHY_PKCS11_PATH names,
 * which hands this process the function list pkcs11be has), and signs
 * again: the key must be found again after the provider's new login.
 * STORE_CHECK_SIGNS=N makes each signature N signatures with the key.
 * Every signature is verified by OpenSSL's default provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <openssl/ui.h>
#include <p11-kit/pkcs11.h>

#include "testutil.h"

/* The PIN for the passphrase callback, or NULL. */
static const char *given_pin;

static int check_pw(char *buf, int size, int rwflag, void *u)
{
    size_t len;

    (void)rwflag;
    (void)u;
    if (given_pin == NULL)
        return -1;
    len = strlen(given_pin);
    if (len >= (size_t)size)
        return -1;
    memcpy(buf, given_pin, len + 1);
    return (int)len;
}

/*
 * One signature with pkey on the token (STORE_CHECK_SIGNS of them when
 * set), each verified by OpenSSL's default provider; 1 when all worked.
 */
static int check_sign(EVP_PKEY *pkey)
{
    static const unsigned char msg[32] = {1, 2, 3};
    const char *signs = getenv("STORE_CHECK_SIGNS");
    int times = signs != NULL ? atoi(signs) : 1, i, ok = 1;
    unsigned char *der = NULL;
    const unsigned char *p;
    int der_len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub = NULL;

    /* The public key as the default provider's own key. */
    p = der;
    if (der_len <= 0
        || (pub = d2i_PUBKEY_ex(NULL, &p, der_len, NULL, "provider=default"))
               == NULL)
        ok = tu_fail("the public key for the default provider");
    OPENSSL_free(der);

    for (i = 0; i < times && ok; i++) {
        EVP_PKEY_CTX *ctx, *vctx = NULL;
        unsigned char sig[1024];
        size_t sig_len = sizeof(sig);

        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, "provider=pkcs11be");
        if (ctx == NULL || EVP_PKEY_sign_init(ctx) <= 0
            || EVP_PKEY_sign(ctx, sig, &sig_len, msg, sizeof(msg)) <= 0)
            ok = tu_fail("EVP_PKEY_sign");
        else if ((vctx =
                      EVP_PKEY_CTX_new_from_pkey(NULL, pub, "provider=default"))
                     == NULL
                 || EVP_PKEY_verify_init(vctx) <= 0
                 || EVP_PKEY_verify(vctx, sig, sig_len, msg, sizeof(msg)) != 1)
            ok = tu_fail("EVP_PKEY_verify (default provider)");
        EVP_PKEY_CTX_free(vctx);
        EVP_PKEY_CTX_free(ctx);
    }
    EVP_PKEY_free(pub);
    return ok;
}

/* Signs in a forked child; 1 when the child did. */
static int check_child(EVP_PKEY *pkey)
{
    int status = 0;
    pid_t pid = fork();

    if (pid < 0)
        return tu_fail("fork");
    if (pid == 0) {
        int ok = check_sign(pkey);

        printf("child: %s\n", ok ? "signed" : "failed");
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}

/*
 * The application's own C_Logout on the token pkcs11be uses (the first
 * slot with a token); 1 when the token logged out.
 */
static int app_logout(void)
{
    const char *path = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST *fns;
    CK_SLOT_ID slots[16], slot = 0;
    CK_TOKEN_INFO info;
    CK_ULONG count = 16, i;
    CK_SESSION_HANDLE session;
    CK_RV rv;
    void *module;

    module = path != NULL ? dlopen(path, RTLD_NOW) : NULL;
    if (module == NULL)
        return tu_fail("dlopen of CRYPTOGRAPHY_PKCS11_PATH");
    get_list = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
    /* Already initialised by pkcs11be: the same library, the same state. */
    rv = get_list != NULL ? get_list(&fns) : CKR_GENERAL_ERROR;
    if (rv == CKR_OK)
        rv = fns->C_GetSlotList(CK_TRUE, slots, &count);
    /* SoftHSM2 adds an empty slot: take the initialised token. */
    for (i = 0; rv == CKR_OK && i < count; i++)
        if (fns->C_GetTokenInfo(slots[i], &info) == CKR_OK
            && (info.flags & CKF_TOKEN_INITIALIZED))
            break;
    if (rv == CKR_OK && i == count)
        rv = CKR_TOKEN_NOT_PRESENT;
    if (rv == CKR_OK)
        slot = slots[i];
    if (rv == CKR_OK)
        rv = fns->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session);
    if (rv == CKR_OK) {
        rv = fns->C_Logout(session);
        fns->C_CloseSession(session);
    }
    dlclose(module);
    printf("application C_Logout: 0x%lx\n", (unsigned long)rv);
    return rv == CKR_OK;
}

/* One load and one signature; 1 when both worked. */
static int check_once(const char *uri, UI_METHOD *ui)
{
    OSSL_STORE_CTX *store;
    OSSL_STORE_INFO *info;
    EVP_PKEY *pkey = NULL;
    int ok, signed_ok;

    store = OSSL_STORE_open_ex(uri, NULL, "provider=pkcs11be", ui, NULL, NULL,
                               NULL, NULL);
    if (store == NULL)
        return tu_fail("OSSL_STORE_open_ex");
    if (!OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY)) {
        OSSL_STORE_close(store);
        return tu_fail("OSSL_STORE_expect");
    }
    while (pkey == NULL && !OSSL_STORE_eof(store)) {
        info = OSSL_STORE_load(store);
        if (info == NULL)
            break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    if (pkey == NULL)
        return tu_fail("no private key loaded");
    ok = 1;
    if (getenv("STORE_CHECK_FORK") != NULL)
        ok = check_child(pkey);
    if (getenv("STORE_CHECK_LOGOUT") != NULL)
        ok = check_sign(pkey) && app_logout() && ok;
    signed_ok = check_sign(pkey);
    if (getenv("STORE_CHECK_FORK") != NULL) {
        printf("parent: %s\n", signed_ok ? "signed" : "failed");
        fflush(stdout);
    }
    EVP_PKEY_free(pkey);
    return signed_ok && ok;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    UI_METHOD *ui;
    int times, i, failed = 0;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: store_check URI TIMES [PIN]\n");
        return 2;
    }
    times = atoi(argv[2]);
    given_pin = argc == 4 ? argv[3] : NULL;
    if (!tu_load_providers(&p11be, &deflt)) {
        tu_fail("loading the providers");
        return 1;
    }
    ui = UI_UTIL_wrap_read_pem_callback(check_pw, 0);
    if (ui == NULL)
        return 1;
    for (i = 1; i <= times; i++) {
        int ok = check_once(argv[1], ui);

        printf("load %d: %s\n", i, ok ? "ok" : "failed");
        fflush(stdout);
        failed |= !ok;
        ERR_clear_error();
    }
    UI_destroy_method(ui);
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return failed;
}
