/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The login state across what the application (or the token) does to it
 * (tests/85-login.t). Keys are imported from the default provider and
 * generated on the token through pkcs11be, with the PIN configured, so
 * that on a token with CKF_LOGIN_REQUIRED they are CKA_PRIVATE and need
 * the login; every signature is verified by the default provider.
 *
 *   login_check logout      import, generate, sign; then the application
 *   login_check closeall    calls C_Logout (or C_CloseAllSessions) on the
 *                           module itself, through the function list
 *                           C_GetFunctionList gives it (the same the
 *                           provider uses, in this process); then import,
 *                           generate and sign again, and sign with the
 *                           keys made before. Prints one line per step.
 *                           The key pair generated before may fail (with
 *                           an error): it was a session object.
 *   login_check threads T N T threads, each N times: import a new key and
 *                           sign; prints "threads: ops=.. ok=.. failed=.."
 *                           and then "after: ok=.. failed=.." for one more
 *                           round per thread once all are done.
 *   login_check libctx N    N library contexts, each loading pkcs11be,
 *                           each generating a key (a login); prints
 *                           "ctx I: ok" or "ctx I: failed: <errors>".
 *
 * Exit status: 0 when every step that must succeed did (threads and
 * libctx: always 0 unless the program could not run), 1 otherwise.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <p11-kit/pkcs11.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

#define MAX_THREADS 64
#define MAX_CTX     16

/* The errors in the queue on one line (emptied). */
static void errors_line(char *buf, size_t room)
{
    unsigned long e;
    const char *data;
    int flags;
    size_t used = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        if (used < room)
            used += (size_t)snprintf(buf + used, room - used, "%s%s%s%s",
                                     used > 0 ? " | " : "", one,
                                     (flags & ERR_TXT_STRING) ? ": " : "",
                                     (flags & ERR_TXT_STRING) ? data : "");
    }
    if (used == 0)
        snprintf(buf, room, "(empty error queue)");
}

/* Signs with `key` on the token, verifies with `pub` in software. */
static int sign_verify(OSSL_LIB_CTX *libctx, EVP_PKEY *key, EVP_PKEY *pub)
{
    unsigned char dgst[32], sig[256];
    size_t sig_len = sizeof(sig);
    EVP_PKEY_CTX *ctx;
    int ok;

    memset(dgst, 0x3c, sizeof(dgst));
    ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, P11);
    ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
         && EVP_PKEY_sign(ctx, sig, &sig_len, dgst, sizeof(dgst)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return 0;
    ctx = EVP_PKEY_CTX_new_from_pkey(libctx, pub, DEF);
    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1
         && EVP_PKEY_verify(ctx, sig, sig_len, dgst, sizeof(dgst)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A software key moved into pkcs11be (imported on the first use). */
static EVP_PKEY *import_key(EVP_PKEY *sw)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", P11);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(sw, EVP_PKEY_KEYPAIR, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, EVP_PKEY_KEYPAIR, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

/* The public half of a token key, in the default provider. */
static EVP_PKEY *public_copy(EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", DEF);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(key, EVP_PKEY_PUBLIC_KEY, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

/* A key generated on the token signs: 1 when the signature verifies. */
static int generated_signs(EVP_PKEY *key)
{
    EVP_PKEY *pub = key != NULL ? public_copy(key) : NULL;
    int ok = pub != NULL && sign_verify(NULL, key, pub);

    EVP_PKEY_free(pub);
    return ok;
}

/* A new software key, imported, signs: 1 when the signature verifies. */
static int import_and_sign(void)
{
    EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    EVP_PKEY *p11 = sw != NULL ? import_key(sw) : NULL;
    int ok = p11 != NULL && sign_verify(NULL, p11, sw);

    EVP_PKEY_free(p11);
    EVP_PKEY_free(sw);
    return ok;
}

static int step(const char *what, int ok)
{
    char errs[2048];

    if (ok) {
        printf("%s: ok\n", what);
        return 1;
    }
    errors_line(errs, sizeof(errs));
    printf("%s: failed: %s\n", what, errs);
    return 0;
}

/* What the application does to the token behind pkcs11be's back. */
static int application_logs_out(int close_all)
{
    const char *path = getenv("CRYPTOGRAPHY_PKCS11_PATH");
    const char *slot_text = getenv("CRYPTOGRAPHY_PKCS11_SLOT_ID");
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST *fns;
    CK_SESSION_HANDLE session;
    CK_SLOT_ID slot;
    void *module;
    CK_RV rv;

    if (path == NULL || slot_text == NULL)
        return 0;
    slot = strtoul(slot_text, NULL, 10);
    module = dlopen(path, RTLD_NOW);
    if (module == NULL)
        return 0;
    get_list = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
    if (get_list == NULL || get_list(&fns) != CKR_OK)
        return 0;
    if (close_all) {
        rv = fns->C_CloseAllSessions(slot);
        printf("application: C_CloseAllSessions: 0x%lx\n", (unsigned long)rv);
        return rv == CKR_OK;
    }
    rv = fns->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session);
    if (rv == CKR_OK) {
        rv = fns->C_Logout(session);
        fns->C_CloseSession(session);
    }
    printf("application: C_Logout: 0x%lx\n", (unsigned long)rv);
    return rv == CKR_OK;
    /* The module stays open: pkcs11be holds it too. */
}

static int run_logout(int close_all)
{
    EVP_PKEY *sw = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    EVP_PKEY *imported = sw != NULL ? import_key(sw) : NULL;
    EVP_PKEY *generated = EVP_PKEY_Q_keygen(NULL, P11, "EC", "P-256");
    int ok = 1;

    ok &= step("before: import and sign",
               imported != NULL && sign_verify(NULL, imported, sw));
    ok &= step("before: generate and sign", generated_signs(generated));
    if (!ok || !application_logs_out(close_all)) {
        ok = 0;
        goto out_free;
    }
    ok &= step("after: sign with the imported key",
               sign_verify(NULL, imported, sw));
    /* A session pair dies with the login (C_Logout destroys private
     * session objects) and cannot come back: a clear error is expected. */
    step("after: sign with the generated key", generated_signs(generated));
    ok &= step("after: import and sign", import_and_sign());
    EVP_PKEY_free(generated);
    generated = EVP_PKEY_Q_keygen(NULL, P11, "EC", "P-256");
    ok &= step("after: generate and sign", generated_signs(generated));
    ok &= step("after: import and sign again", import_and_sign());
out_free:
    EVP_PKEY_free(generated);
    EVP_PKEY_free(imported);
    EVP_PKEY_free(sw);
    return ok;
}

struct worker {
    pthread_t thread;
    int rounds;
    int ok, failed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int i;

    for (i = 0; i < w->rounds; i++) {
        if (import_and_sign())
            w->ok++;
        else
            w->failed++;
        ERR_clear_error();
    }
    return NULL;
}

static int run_threads(int n_threads, int rounds)
{
    struct worker w[MAX_THREADS];
    int i, ok = 0, failed = 0;

    if (n_threads < 1 || n_threads > MAX_THREADS)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        memset(w, 0, sizeof(w));
        ok = failed = 0;
        for (i = 0; i < n_threads; i++) {
            w[i].rounds = pass == 0 ? rounds : 1;
            pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
        }
        for (i = 0; i < n_threads; i++) {
            pthread_join(w[i].thread, NULL);
            ok += w[i].ok;
            failed += w[i].failed;
        }
        if (pass == 0)
            printf("threads: ops=%d ok=%d failed=%d\n", ok + failed, ok,
                   failed);
        else
            printf("after: ok=%d failed=%d\n", ok, failed);
    }
    return 1;
}

static int run_libctx(int n)
{
    const char *dir = getenv("P11BE_BUILD_DIR");
    OSSL_LIB_CTX *ctx[MAX_CTX] = {NULL};
    OSSL_PROVIDER *prov[MAX_CTX][2] = {{NULL}};
    int i;

    if (n < 1 || n > MAX_CTX)
        return 0;
    for (i = 0; i < n; i++) {
        EVP_PKEY *key;
        char what[32];

        ctx[i] = OSSL_LIB_CTX_new();
        if (ctx[i] == NULL
            || !OSSL_PROVIDER_set_default_search_path(
                ctx[i], dir != NULL ? dir : "build")
            || (prov[i][0] = OSSL_PROVIDER_load(ctx[i], "default")) == NULL
            || (prov[i][1] = OSSL_PROVIDER_load(ctx[i], "pkcs11be")) == NULL)
            return 0;
        key = EVP_PKEY_Q_keygen(ctx[i], P11, "EC", "P-256");
        snprintf(what, sizeof(what), "ctx %d", i);
        step(what, key != NULL);
        EVP_PKEY_free(key);
    }
    for (i = 0; i < n; i++) {
        OSSL_PROVIDER_unload(prov[i][1]);
        OSSL_PROVIDER_unload(prov[i][0]);
        OSSL_LIB_CTX_free(ctx[i]);
    }
    return 1;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    int status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "libctx") == 0)
        return argc == 3 && run_libctx(atoi(argv[2])) ? 0 : 2;
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading the providers"), 2;
    if (argc == 2 && strcmp(argv[1], "logout") == 0)
        status = run_logout(0) ? 0 : 1;
    else if (argc == 2 && strcmp(argv[1], "closeall") == 0)
        status = run_logout(1) ? 0 : 1;
    else if (argc == 4 && strcmp(argv[1], "threads") == 0)
        status = run_threads(atoi(argv[2]), atoi(argv[3])) ? 0 : 2;
    else {
        fprintf(stderr, "usage: see the top of login_check.c\n");
        status = 2;
    }
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return status;
}
