/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A workload for tests/68-secrets.t: every kind of key pkcs11be makes on
 * the token (imported RSA, EC and Ed25519 private keys, HMAC, CMAC and AES
 * secret keys, key pairs generated on the token, ECDH secrets) and some
 * operations that fail on purpose (a wrong GCM tag, bad RSA padding). The
 * test reads the shim's log of the objects made, counts C_Login, and greps
 * everything printed for the PIN.
 *
 *   secrets_check work ROUNDS [scan]
 *
 * Prints "op NAME: ok" or "op NAME: failed" and the error queue for each
 * operation, then "ops N failed F". With "scan", then searches the
 * process's writable memory (but its stack, where argv and the environment
 * live, this program's own scratch buffer and mappings beyond 1 GiB: a
 * sanitizer's shadow memory) for the PIN given in
 * $SECRETS_SCAN_PIN and prints "scan: N hits" and a line per hit naming
 * the mapping. A hit that is "NAME=PIN" of an environment variable with
 * that value is a copy of the environment (the ASan runtime keeps one)
 * and is not counted. Exits 0 unless the program itself could not run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "testutil.h"

#define P11 "provider=pkcs11be"
#define DEF "provider=default"

static int ops, failed;

/* ASan's own report on an address (where it was allocated and freed). */
void __asan_describe_address(void *addr) __attribute__((weak));

static const unsigned char key32[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char iv16[16] = "fedcba9876543210";
static const unsigned char msg[48] =
    "a message for the secrets workload, 48 bytes..";

/* Counts and reports one operation; `expect_fail` for the planned ones. */
static void report(const char *name, int ok, int expect_fail)
{
    ops++;
    if (!ok && !expect_fail)
        failed++;
    printf("op %s: %s%s\n", name, ok ? "ok" : "failed",
           expect_fail ? " (a failure was expected)" : "");
    if (!ok)
        ERR_print_errors_fp(stdout);
    ERR_clear_error();
}

static int do_digest(void)
{
    unsigned char out[64];
    unsigned int len = 0;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", P11);
    int ok = md != NULL && EVP_Digest(msg, sizeof(msg), out, &len, md, NULL);

    EVP_MD_free(md);
    return ok;
}

static int do_mac(const char *name, const char *pname, const char *pval,
                  size_t key_len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, name, P11);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_utf8_string(pname, (char *)pval, 0),
                            OSSL_PARAM_END};
    unsigned char out[64];
    size_t len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, key32, key_len, params)
             && EVP_MAC_update(ctx, msg, sizeof(msg))
             && EVP_MAC_final(ctx, out, &len, sizeof(out));

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/* Encrypts msg, decrypts it again; for GCM with a tag, wrong if asked. */
static int do_cipher(const char *name, int gcm, int wrong_tag)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, P11);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char ct[128], pt[128], tag[16];
    int n1 = 0, n2 = 0, m1 = 0, m2 = 0;
    int ok;

    ok = c != NULL && ctx != NULL
         && EVP_EncryptInit_ex2(ctx, c, key32, iv16, NULL)
         && EVP_EncryptUpdate(ctx, ct, &n1, msg, sizeof(msg))
         && EVP_EncryptFinal_ex(ctx, ct + n1, &n2)
         && (!gcm
             || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) > 0);
    if (ok && wrong_tag)
        tag[0] ^= 1;
    ok = ok && EVP_DecryptInit_ex2(ctx, c, key32, iv16, NULL)
         && (!gcm
             || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) > 0)
         && EVP_DecryptUpdate(ctx, pt, &m1, ct, n1 + n2)
         && EVP_DecryptFinal_ex(ctx, pt + m1, &m2)
         && (size_t)(m1 + m2) == sizeof(msg)
         && memcmp(pt, msg, sizeof(msg)) == 0;
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    return ok;
}

/* Moves a key made by the default provider into pkcs11be. */
static EVP_PKEY *to_p11(EVP_PKEY *from)
{
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_name(NULL, EVP_PKEY_get0_type_name(from), P11);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *to = NULL;

    if (ctx != NULL && EVP_PKEY_todata(from, EVP_PKEY_KEYPAIR, &params) == 1
        && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &to, EVP_PKEY_KEYPAIR, params);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return to;
}

static int do_sign(EVP_PKEY *key, const char *md)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[600];
    size_t len = sizeof(sig);
    int ok = key != NULL && mctx != NULL
             && EVP_DigestSignInit_ex(mctx, NULL, md, NULL, P11, key, NULL) == 1
             && EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(mctx);
    return ok;
}

/* RSA decryption of a ciphertext made on the host; garbage if asked. */
static int do_rsa_decrypt(EVP_PKEY *host, EVP_PKEY *key, int garbage)
{
    EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(NULL, host, DEF);
    EVP_PKEY_CTX *dec =
        key != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, key, P11) : NULL;
    unsigned char ct[512], pt[512];
    size_t ct_len = sizeof(ct), pt_len = sizeof(pt);
    int ok;

    ok = enc != NULL && dec != NULL && EVP_PKEY_encrypt_init(enc) == 1
         && EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING) == 1
         && EVP_PKEY_encrypt(enc, ct, &ct_len, msg, 20) == 1;
    if (ok && garbage)
        ct[ct_len / 2] ^= 0x55;
    ok = ok && EVP_PKEY_decrypt_init(dec) == 1
         && EVP_PKEY_CTX_set_rsa_padding(dec, RSA_PKCS1_OAEP_PADDING) == 1
         && EVP_PKEY_decrypt(dec, pt, &pt_len, ct, ct_len) == 1;
    EVP_PKEY_CTX_free(enc);
    EVP_PKEY_CTX_free(dec);
    return ok;
}

static int do_ecdh(EVP_PKEY *key, EVP_PKEY *peer)
{
    EVP_PKEY_CTX *ctx =
        key != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, key, P11) : NULL;
    unsigned char z[128];
    size_t len = sizeof(z);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, peer) == 1
             && EVP_PKEY_derive(ctx, z, &len) == 1;

    OPENSSL_cleanse(z, sizeof(z));
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static void round_once(void)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, DEF, "RSA", (size_t)1024);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, DEF, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, DEF, "ED25519");
    EVP_PKEY *rsa_p = rsa != NULL ? to_p11(rsa) : NULL;
    EVP_PKEY *ec_p = ec != NULL ? to_p11(ec) : NULL;
    EVP_PKEY *ed_p = ed != NULL ? to_p11(ed) : NULL;
    EVP_PKEY *gen;

    report("SHA-256", do_digest(), 0);
    report("HMAC-SHA256", do_mac("HMAC", "digest", "SHA2-256", 32), 0);
    report("CMAC-AES-128", do_mac("CMAC", "cipher", "AES-128-CBC", 16), 0);
    report("AES-128-CBC", do_cipher("AES-128-CBC", 0, 0), 0);
    report("AES-256-CTR", do_cipher("AES-256-CTR", 0, 0), 0);
    report("AES-256-GCM", do_cipher("AES-256-GCM", 1, 0), 0);
    report("AES-256-GCM wrong tag", do_cipher("AES-256-GCM", 1, 1), 1);
    report("RSA import + sign", do_sign(rsa_p, "SHA256"), 0);
    report("RSA import + decrypt", do_rsa_decrypt(rsa, rsa_p, 0), 0);
    report("RSA decrypt garbage", do_rsa_decrypt(rsa, rsa_p, 1), 1);
    report("EC import + sign", do_sign(ec_p, "SHA256"), 0);
    report("EC import + ECDH", do_ecdh(ec_p, peer), 0);
    report("Ed25519 import + sign", do_sign(ed_p, NULL), 0);
    gen = EVP_PKEY_Q_keygen(NULL, P11, "RSA", (size_t)1024);
    report("RSA generate + sign", do_sign(gen, "SHA256"), 0);
    EVP_PKEY_free(gen);
    gen = EVP_PKEY_Q_keygen(NULL, P11, "EC", "P-256");
    report("EC generate + sign", do_sign(gen, "SHA256"), 0);
    report("EC generate + ECDH", do_ecdh(gen, peer), 0);
    EVP_PKEY_free(gen);
    gen = EVP_PKEY_Q_keygen(NULL, P11, "ED25519");
    report("Ed25519 generate + sign", do_sign(gen, NULL), 0);
    EVP_PKEY_free(gen);
    EVP_PKEY_free(rsa_p);
    EVP_PKEY_free(ec_p);
    EVP_PKEY_free(ed_p);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(ed);
}

/*
 * Whether the hit at buf[at] is "NAME=PIN" of a variable of the process's
 * environment that holds the PIN: a copy of the environment (the ASan
 * runtime keeps one, read from /proc/self/environ), not pkcs11be's.
 */
static int env_copy(const unsigned char *buf, size_t at, const char *pin)
{
    char name[64];
    size_t end = at, begin;
    const char *value;

    if (end == 0 || buf[end - 1] != '=')
        return 0;
    begin = --end;
    while (begin > 0 && begin > end - (sizeof(name) - 1)
           && (buf[begin - 1] == '_'
               || (buf[begin - 1] >= 'A' && buf[begin - 1] <= 'Z')
               || (buf[begin - 1] >= '0' && buf[begin - 1] <= '9')))
        begin--;
    if (begin == end || (begin > 0 && buf[begin - 1] != '\0'))
        return 0;
    memcpy(name, buf + begin, end - begin);
    name[end - begin] = '\0';
    value = getenv(name);
    return value != NULL && strcmp(value, pin) == 0;
}

/*
 * Searches the writable private mappings but the stack (argv and the
 * environment hold the PIN by the test's own doing) for `pin`, chunk by
 * chunk through /proc/self/mem, which reads unmapped-in-between pages
 * without faulting. The chunk buffer is static, and its mapping skipped.
 */
static int scan(const char *pin)
{
    static unsigned char chunk[1 << 16];
    size_t pin_len = strlen(pin);
    FILE *maps = fopen("/proc/self/maps", "re");
    FILE *mem = fopen("/proc/self/mem", "re");
    char line[512];
    int hits = 0;

    if (maps == NULL || mem == NULL || pin_len == 0) {
        printf("scan: cannot read /proc/self/{maps,mem}\n");
        if (maps != NULL)
            fclose(maps);
        if (mem != NULL)
            fclose(mem);
        return -1;
    }
    setvbuf(mem, NULL, _IONBF, 0);
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long start, end, at;
        char perms[8], path[256] = "";

        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end, perms,
                   path)
                < 3
            || perms[0] != 'r' || perms[1] != 'w')
            continue;
        /* Beyond 1 GiB: a sanitizer's shadow memory, not ours. */
        if (end - start > (1ul << 30))
            continue;
        if (strcmp(path, "[stack]") == 0 || strcmp(path, "[vvar]") == 0
            || ((unsigned long)chunk < end
                && (unsigned long)chunk + sizeof(chunk) > start))
            continue;
        /* Overlap chunks by pin_len - 1 so no hit straddles two. */
        for (at = start; at < end; at += sizeof(chunk) - (pin_len - 1)) {
            size_t want = end - at < sizeof(chunk) ? end - at : sizeof(chunk);
            size_t got, i;

            if (fseek(mem, (long)at, SEEK_SET) != 0)
                break;
            got = fread(chunk, 1, want, mem);
            for (i = 0; got >= pin_len && i <= got - pin_len; i++) {
                if (chunk[i] == (unsigned char)pin[0]
                    && memcmp(chunk + i, pin, pin_len) == 0
                    && env_copy(chunk, i, pin)) {
                    printf("scan: a copy of the environment at %#lx "
                           "(not counted)\n",
                           (unsigned long)(at + i));
                } else if (chunk[i] == (unsigned char)pin[0]
                           && memcmp(chunk + i, pin, pin_len) == 0) {
                    hits++;
                    printf("scan hit: %#lx in %s (mapping %lx-%lx)\n",
                           (unsigned long)(at + i),
                           path[0] != '\0' ? path : "[anonymous]", start, end);
                    fflush(stdout);
                    if (__asan_describe_address != NULL)
                        __asan_describe_address((void *)(at + i));
                }
            }
            if (got < want || want < sizeof(chunk))
                break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
    fclose(maps);
    fclose(mem);
    printf("scan: %d hits\n", hits);
    return hits;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *p11be = NULL, *deflt = NULL;
    int rounds, i;

    if (argc < 3 || strcmp(argv[1], "work") != 0) {
        fprintf(stderr, "usage: secrets_check work ROUNDS [scan]\n");
        return 2;
    }
    rounds = atoi(argv[2]);
    /* A config file (OPENSSL_CONF) may bring pkcs11be with its params. */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    if (!tu_load_providers(&p11be, &deflt))
        return tu_fail("loading the providers"), 2;
    for (i = 0; i < rounds; i++)
        round_once();
    printf("ops %d failed %d\n", ops, failed);
    if (argc > 3 && strcmp(argv[3], "scan") == 0) {
        const char *pin = getenv("SECRETS_SCAN_PIN");

        scan(pin != NULL ? pin : "");
    }
    OSSL_PROVIDER_unload(p11be);
    OSSL_PROVIDER_unload(deflt);
    return 0;
}
