/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fork on a module that follows PKCS#11's fork rules (tests/69-fork-strict.t,
 * through p11-kit's proxy): a forked child must call C_Initialize again
 * before any other call, and no handle of the parent (session, session
 * object, token object) means anything in it.
 *
 *   fork_strict URI PUBPEM   URI: a private key on the token, PUBPEM: its
 *                            public key (read by the default provider)
 *
 * The parent runs a battery (SHA-256, HMAC-SHA256, AES-128-CBC, RSA
 * signatures with a key it imported and with the token key loaded by URI),
 * then forks children that each begin with something the parent never
 * asked the token (so its first PKCS#11 call is not a session: a mechanism
 * look-up for HMAC-SHA384 or AES-256-GCM, a slot query for a store look-up)
 * and then run the parent's battery with the parent's keys and contexts.
 * Results are checked against the default provider; signatures are
 * verified by it. Prints "fork-strict: children=N ok=.. parent=ok|FAILED";
 * exit 0 only when every process got every result right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

static const char *key_uri;
static EVP_PKEY *token_pub;

static int digest_ok(unsigned seed)
{
    unsigned char msg[200], got[32], want[32];
    unsigned int gl = 0;
    EVP_MD *p11 = EVP_MD_fetch(NULL, "SHA2-256", P11);
    int ok;

    tu_fill(msg, sizeof(msg), seed);
    ok = p11 != NULL && EVP_Digest(msg, sizeof(msg), got, &gl, p11, NULL)
         && EVP_Q_digest(NULL, "SHA2-256", DEF, msg, sizeof(msg), want, NULL)
         && gl == 32 && memcmp(got, want, 32) == 0;
    EVP_MD_free(p11);
    return ok || tu_fail("SHA-256");
}

static int hmac_ok(const char *digest, unsigned seed)
{
    unsigned char key[32], msg[150], got[64], want[64];
    size_t gl = 0, wl = 0;
    int ok;

    tu_fill(key, sizeof(key), seed);
    tu_fill(msg, sizeof(msg), seed + 1);
    ok = EVP_Q_mac(NULL, "HMAC", P11, NULL,
                   (OSSL_PARAM[]){OSSL_PARAM_construct_utf8_string(
                                      OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                                  OSSL_PARAM_construct_end()},
                   key, sizeof(key), msg, sizeof(msg), got, sizeof(got), &gl)
             != NULL
         && EVP_Q_mac(
                NULL, "HMAC", DEF, NULL,
                (OSSL_PARAM[]){OSSL_PARAM_construct_utf8_string(
                                   OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                               OSSL_PARAM_construct_end()},
                key, sizeof(key), msg, sizeof(msg), want, sizeof(want), &wl)
                != NULL
         && gl == wl && memcmp(got, want, gl) == 0;
    return ok || tu_fail(digest);
}

/* Encrypts with pkcs11be and with the default provider; same bytes? */
static int cipher_ok(const char *name, unsigned seed)
{
    unsigned char key[32], iv[16], msg[100], out[2][160], tag[2][16];
    int len[2] = {0, 0}, fin, i, aead = strstr(name, "GCM") != NULL;

    tu_fill(key, sizeof(key), seed);
    tu_fill(iv, sizeof(iv), seed + 1);
    tu_fill(msg, sizeof(msg), seed + 2);
    for (i = 0; i < 2; i++) {
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, i == 0 ? P11 : DEF);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int ok =
            c != NULL && ctx != NULL
            && EVP_EncryptInit_ex2(ctx, c, key, iv, NULL)
            && EVP_EncryptUpdate(ctx, out[i], &len[i], msg, sizeof(msg))
            && EVP_EncryptFinal_ex(ctx, out[i] + len[i], &fin)
            && (len[i] += fin, 1)
            && (!aead
                || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag[i]));

        EVP_CIPHER_CTX_free(ctx);
        EVP_CIPHER_free(c);
        if (!ok)
            return tu_fail(name);
    }
    if (len[0] != len[1] || memcmp(out[0], out[1], (size_t)len[0]) != 0
        || (aead && memcmp(tag[0], tag[1], 16) != 0))
        return tu_fail(name);
    return 1;
}

/* Signs with `key` on the token; the default provider verifies with `pub`. */
static int sign_ok(EVP_PKEY *key, EVP_PKEY *pub, unsigned seed)
{
    unsigned char msg[300], sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    int ok;

    tu_fill(msg, sizeof(msg), seed);
    ok = s != NULL && v != NULL
         && EVP_DigestSignInit_ex(s, NULL, "SHA256", NULL, P11, key, NULL)
         && EVP_DigestSign(s, sig, &sig_len, msg, sizeof(msg))
         && EVP_DigestVerifyInit_ex(v, NULL, "SHA256", NULL, DEF, pub, NULL)
         && EVP_DigestVerify(v, sig, sig_len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
    return ok || tu_fail("RSA signature");
}

static EVP_PKEY *load_token_key(void)
{
    OSSL_STORE_CTX *store =
        OSSL_STORE_open_ex(key_uri, NULL, P11, NULL, NULL, NULL, NULL, NULL);
    EVP_PKEY *key = NULL;

    while (store != NULL && key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL
            && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
        if (info == NULL)
            break;
    }
    OSSL_STORE_close(store);
    if (key == NULL)
        tu_fail("loading the token key by URI");
    return key;
}

/* What the parent does, and each child after its first steps. */
static int battery(EVP_PKEY *imported, EVP_PKEY *token_key, unsigned seed)
{
    return digest_ok(seed) && hmac_ok("SHA2-256", seed + 1)
           && cipher_ok("AES-128-CBC", seed + 2)
           && sign_ok(imported, imported, seed + 3)
           && sign_ok(token_key, token_pub, seed + 4);
}

/*
 * A child's first step: each begins with a different call the parent
 * never made, so that it, not a session, meets the module first.
 */
static int first_step(int child, unsigned seed)
{
    EVP_PKEY *key;
    int ok;

    switch (child % 3) {
    case 0:
        return hmac_ok("SHA2-384", seed);
    case 1:
        return cipher_ok("AES-256-GCM", seed);
    default:
        key = load_token_key();
        ok = key != NULL && sign_ok(key, token_pub, seed);
        EVP_PKEY_free(key);
        return ok;
    }
}

int main(int argc, char **argv)
{
    EVP_PKEY *imported = NULL, *token_key = NULL;
    int children = 6, i, ok = 0, parent_ok;
    FILE *f;

    if (argc != 3) {
        fputs("usage: fork_strict URI PUBPEM\n", stderr);
        return 2;
    }
    key_uri = argv[1];
    f = fopen(argv[2], "r");
    token_pub = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (token_pub == NULL || !tu_load_providers(NULL, NULL))
        return tu_fail("setting up"), 2;
    imported = EVP_PKEY_Q_keygen(NULL, DEF, "RSA", (size_t)2048);
    token_key = load_token_key();
    if (imported == NULL || token_key == NULL
        || !battery(imported, token_key, 1)) {
        tu_fail("the parent, before forking");
        return 2;
    }
    for (i = 0; i < children; i++) {
        pid_t pid;
        int status;

        fflush(stdout);
        pid = fork();

        if (pid == 0) {
            int r = first_step(i, 100u * (unsigned)i)
                    && battery(imported, token_key, 100u * (unsigned)i + 10);

            fflush(stdout);
            _exit(r ? 0 : 1);
        }
        if (pid < 0)
            return tu_fail("fork"), 2;
        /* One at a time: each child's first call is its own first step. */
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)
            && WEXITSTATUS(status) == 0)
            ok++;
        else
            printf("child %d failed\n", i);
    }
    parent_ok = battery(imported, token_key, 9000);
    printf("fork-strict: children=%d ok=%d parent=%s\n", children, ok,
           parent_ok ? "ok" : "FAILED");
    EVP_PKEY_free(imported);
    EVP_PKEY_free(token_key);
    EVP_PKEY_free(token_pub);
    return ok == children && parent_ok ? 0 : 1;
}
