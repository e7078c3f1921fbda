/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for every operation's parameter handling. At start it
 * loads OpenSSL's default provider and pkcs11be into a library context of
 * its own (the SoftHSM2 token comes from the usual environment:
 * CRYPTOGRAPHY_PKCS11_PATH, _SLOT_ID, _PASSWORD, SOFTHSM2_CONF), fetches
 * pkcs11be's digests, MACs, ciphers, signatures, RSA encryption and ECDH,
 * and makes an RSA and an EC key (and an Ed25519 key when
 * P11BE_FUZZ_EDDSA=1; see LLVMFuzzerInitialize).
 *
 * Each input picks one of them and drives a small operation whose
 * OSSL_PARAM arrays are built from the input: names from the algorithm's
 * own settable/gettable tables, from a list of well-known names, or made
 * up; types and sizes at random (an integer of 3 bytes, a string where a
 * number belongs, ...), each value in a buffer of exactly its size so that
 * ASan sees any read past it (or a write past a get buffer, which is
 * sized from the input too). Parameters go in at init, through
 * set_ctx_params, and are read back through get_ctx_params with buffers
 * of random sizes; then comes a short operation on input bytes. Failures
 * are expected and fine; a crash, a sanitizer report or a leak is not.
 *
 * The provider is taken from $P11BE_FUZZ_PROVIDER_DIR, by default the
 * clang-instrumented copy tests/fuzz/CMakeLists.txt builds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef P11BE_FUZZ_PROVIDER_DIR
#define P11BE_FUZZ_PROVIDER_DIR "."
#endif

#define PROPQ "provider=pkcs11be"

/* Most parameters one array gets. */
#define FUZZ_PARAMS_MAX 6

/* Reads the fuzz input front to back; zeros once it runs out. */
struct reader {
    const uint8_t *data; /* the input */
    size_t size;         /* its length */
    size_t pos;          /* bytes used */
};

/* What one fuzz OSSL_PARAM array owns, to free it afterwards. */
struct fuzz_params {
    OSSL_PARAM params[FUZZ_PARAMS_MAX + 1]; /* the array, END-terminated */
    void *owned[3 * FUZZ_PARAMS_MAX];       /* name, data, holder each */
    size_t owned_count;                     /* entries in owned */
};

static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov_default, *prov_p11be;

static const char *const digest_names[] = {"SHA1",     "SHA2-224", "SHA2-256",
                                           "SHA2-384", "SHA2-512", "MD5"};
static const char *const cipher_names[] = {
    "AES-128-ECB", "AES-256-ECB",  "AES-128-CBC",  "AES-192-CBC",
    "AES-256-CBC", "AES-128-CTR",  "AES-256-CTR",  "AES-128-GCM",
    "AES-256-GCM", "DES-EDE3-CBC", "DES-EDE3-ECB",
};
#define DIGEST_COUNT (sizeof(digest_names) / sizeof(digest_names[0]))
#define CIPHER_COUNT (sizeof(cipher_names) / sizeof(cipher_names[0]))

static EVP_MD *digests[DIGEST_COUNT];
static EVP_CIPHER *ciphers[CIPHER_COUNT];
static EVP_MAC *mac_hmac, *mac_cmac;
static EVP_PKEY *key_rsa, *key_ec, *key_ed25519, *peer_ec;

/* Names any operation might be handed. */
static const char *const known_names[] = {
    OSSL_ALG_PARAM_DIGEST,
    OSSL_ALG_PARAM_CIPHER,
    OSSL_ALG_PARAM_PROPERTIES,
    OSSL_MAC_PARAM_KEY,
    OSSL_MAC_PARAM_IV,
    OSSL_MAC_PARAM_SIZE,
    OSSL_MAC_PARAM_DIGEST_NOINIT,
    OSSL_MAC_PARAM_DIGEST_ONESHOT,
    OSSL_MAC_PARAM_TLS_DATA_SIZE,
    OSSL_MAC_PARAM_BLOCK_SIZE,
    OSSL_DIGEST_PARAM_XOFLEN,
    OSSL_DIGEST_PARAM_SSL3_MS,
    OSSL_DIGEST_PARAM_PAD_TYPE,
    OSSL_DIGEST_PARAM_MICALG,
    OSSL_DIGEST_PARAM_BLOCK_SIZE,
    OSSL_DIGEST_PARAM_SIZE,
    OSSL_CIPHER_PARAM_PADDING,
    OSSL_CIPHER_PARAM_KEYLEN,
    OSSL_CIPHER_PARAM_IVLEN,
    OSSL_CIPHER_PARAM_IV,
    OSSL_CIPHER_PARAM_UPDATED_IV,
    OSSL_CIPHER_PARAM_NUM,
    OSSL_CIPHER_PARAM_AEAD_TAG,
    OSSL_CIPHER_PARAM_AEAD_TAGLEN,
    OSSL_CIPHER_PARAM_AEAD_IVLEN,
    OSSL_CIPHER_PARAM_AEAD_TLS1_AAD,
    OSSL_CIPHER_PARAM_AEAD_TLS1_AAD_PAD,
    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
    OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN,
    OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
    OSSL_CIPHER_PARAM_TLS_VERSION,
    OSSL_CIPHER_PARAM_TLS_MAC,
    OSSL_CIPHER_PARAM_TLS_MAC_SIZE,
    OSSL_CIPHER_PARAM_USE_BITS,
    OSSL_CIPHER_PARAM_CTS_MODE,
    OSSL_CIPHER_PARAM_BLOCK_SIZE,
    OSSL_CIPHER_PARAM_MODE,
    OSSL_SIGNATURE_PARAM_DIGEST,
    OSSL_SIGNATURE_PARAM_PROPERTIES,
    OSSL_SIGNATURE_PARAM_PAD_MODE,
    OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
    OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES,
    OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
    OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
    OSSL_SIGNATURE_PARAM_DIGEST_SIZE,
    OSSL_SIGNATURE_PARAM_KAT,
    OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
    OSSL_ASYM_CIPHER_PARAM_DIGEST,
    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
    OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION,
    OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION,
    OSSL_EXCHANGE_PARAM_PAD,
    OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE,
    OSSL_EXCHANGE_PARAM_KDF_TYPE,
    OSSL_EXCHANGE_PARAM_KDF_DIGEST,
    OSSL_EXCHANGE_PARAM_KDF_OUTLEN,
    OSSL_EXCHANGE_PARAM_KDF_UKM,
};
#define KNOWN_COUNT (sizeof(known_names) / sizeof(known_names[0]))

/* Values worth trying in a string parameter. */
static const char *const known_values[] = {
    "SHA256",
    "SHA2-256",
    "SHA1",
    "SHA512",
    "SHA2-384",
    "MD5",
    "SHA3-256",
    "AES-128-CBC",
    "AES-256-CBC",
    "AES-128-GCM",
    "pss",
    "oaep",
    "none",
    "pkcs1",
    "x931",
    "no",
    "digest",
    "max",
    "auto",
    "auto-digestmax",
    "20",
    "-1",
    "-2",
    "-3",
    "",
    "provider=default",
    "provider=pkcs11be",
    "X963KDF",
    "1",
    "0",
    "CS1",
    "CS3",
    "\xff",
};
#define VALUE_COUNT (sizeof(known_values) / sizeof(known_values[0]))

static uint8_t get_u8(struct reader *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static size_t get_size(struct reader *r, size_t max)
{
    size_t v = get_u8(r);

    v |= (size_t)get_u8(r) << 8;
    return max == 0 ? 0 : v % (max + 1);
}

/* Up to `want` input bytes, or fewer when the input runs out. */
static const uint8_t *get_bytes(struct reader *r, size_t want, size_t *got)
{
    const uint8_t *p = r->data + r->pos;

    if (want > r->size - r->pos)
        want = r->size - r->pos;
    r->pos += want;
    *got = want;
    return p;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        abort();
    return p;
}

static void *own(struct fuzz_params *fp, void *p)
{
    fp->owned[fp->owned_count++] = p;
    return p;
}

/* An allocation of exactly `len` bytes (plus a NUL when `nul`). */
static void *input_copy(struct fuzz_params *fp, struct reader *r, size_t len,
                        int nul)
{
    size_t got;
    const uint8_t *src = get_bytes(r, len, &got);
    unsigned char *p = own(fp, xmalloc(len + (nul ? 1 : 0)));

    memset(p, 0xa5, len);
    memcpy(p, src, got);
    if (nul)
        p[len] = '\0';
    return p;
}

static size_t table_count(const OSSL_PARAM *table)
{
    size_t n = 0;

    for (; table != NULL && table[n].key != NULL; n++)
        continue;
    return n;
}

/*
 * One parameter for a set (or, with `get`, an empty slot for a get):
 * name, type and size from the input.
 */
static void make_param(struct fuzz_params *fp, struct reader *r,
                       const OSSL_PARAM *table, int get, OSSL_PARAM *out)
{
    static const unsigned types[] = {
        OSSL_PARAM_INTEGER,      OSSL_PARAM_UNSIGNED_INTEGER,
        OSSL_PARAM_REAL,         OSSL_PARAM_UTF8_STRING,
        OSSL_PARAM_OCTET_STRING, OSSL_PARAM_UTF8_PTR,
        OSSL_PARAM_OCTET_PTR,
    };
    static const size_t int_sizes[] = {4, 8, 1, 2, 3, 16, 0, 5};
    size_t n = table_count(table), len;
    uint8_t sel = get_u8(r), tsel = get_u8(r);
    const OSSL_PARAM *decl;
    const char *name;
    unsigned type;
    void *data;

    if ((sel & 3) < 2 && n > 0)
        name = table[get_u8(r) % n].key;
    else if ((sel & 3) == 2)
        name = known_names[get_u8(r) % KNOWN_COUNT];
    else
        name = input_copy(fp, r, get_u8(r) % 24, 1);
    /* Mostly the type the table declares for the name, else any. */
    decl = n > 0 && (tsel & 1) ? OSSL_PARAM_locate_const(table, name) : NULL;
    type = decl != NULL
               ? decl->data_type
               : types[(tsel >> 1) % (sizeof(types) / sizeof(types[0]))];

    /*
     * A "randkey" get is written whole whatever its type and data_size
     * say: OpenSSL's EVP_CIPHER_CTX_rand_key() asks with data_size 0, and
     * OpenSSL's own DES ciphers write the key length regardless. So it
     * gets an octet buffer with room for any key.
     */
    if (get && strcmp(name, OSSL_CIPHER_PARAM_RANDOM_KEY) == 0) {
        type = OSSL_PARAM_OCTET_STRING;
        len = get_size(r, 64);
        out->key = name;
        out->data_type = type;
        out->data = input_copy(fp, r, 64, 0);
        out->data_size = len;
        out->return_size = OSSL_PARAM_UNMODIFIED;
        return;
    }
    switch (type) {
    case OSSL_PARAM_INTEGER:
    case OSSL_PARAM_UNSIGNED_INTEGER:
        len =
            int_sizes[(sel >> 2) % (sizeof(int_sizes) / sizeof(int_sizes[0]))];
        data = input_copy(fp, r, len, 0);
        if (len == 4 && (sel & 0x40)) { /* small values are the useful ones */
            int small = (int)(int8_t)get_u8(r);

            memcpy(data, &small, sizeof(small));
        }
        break;
    case OSSL_PARAM_REAL:
        len = (sel & 4) ? sizeof(double) : (size_t)(sel >> 5);
        data = input_copy(fp, r, len, 0);
        break;
    case OSSL_PARAM_UTF8_STRING:
    case OSSL_PARAM_UTF8_PTR:
        if (get) {
            len = get_size(r, 80);
            data = input_copy(fp, r, len, 0);
        } else if (sel & 0x10) {
            const char *v = known_values[get_u8(r) % VALUE_COUNT];

            len = strlen(v);
            data = own(fp, xmalloc(len + 1));
            memcpy(data, v, len + 1);
        } else {
            len = get_size(r, 64);
            data = input_copy(fp, r, len, 1);
        }
        break;
    default: /* octet string or pointer */
        len = get_size(r, get ? 80 : 300);
        data = input_copy(fp, r, len, 0);
        break;
    }
    if (type == OSSL_PARAM_UTF8_PTR || type == OSSL_PARAM_OCTET_PTR) {
        void **holder = own(fp, xmalloc(sizeof(void *)));

        *holder = get ? NULL : data;
        data = holder;
    }
    out->key = name;
    out->data_type = type;
    out->data = data;
    out->data_size = len;
    out->return_size = OSSL_PARAM_UNMODIFIED;
}

/* An array of up to FUZZ_PARAMS_MAX parameters, or NULL (none). */
static OSSL_PARAM *make_params(struct fuzz_params *fp, struct reader *r,
                               const OSSL_PARAM *table, int get)
{
    size_t count = get_u8(r) % (FUZZ_PARAMS_MAX + 2), i;

    memset(fp, 0, sizeof(*fp));
    if (count > FUZZ_PARAMS_MAX)
        return NULL;
    for (i = 0; i < count; i++)
        make_param(fp, r, table, get, &fp->params[i]);
    fp->params[count] = OSSL_PARAM_construct_end();
    return fp->params;
}

static void free_params(struct fuzz_params *fp)
{
    size_t i;

    for (i = 0; i < fp->owned_count; i++)
        free(fp->owned[i]);
    fp->owned_count = 0;
}

static void fuzz_digest(struct reader *r)
{
    EVP_MD *md = digests[get_u8(r) % DIGEST_COUNT];
    EVP_MD_CTX *ctx, *copy;
    struct fuzz_params fp;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len;
    const uint8_t *msg;
    size_t msg_len;

    if (md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
        return;
    EVP_DigestInit_ex2(ctx, md,
                       make_params(&fp, r, EVP_MD_settable_ctx_params(md), 0));
    free_params(&fp);
    EVP_MD_CTX_set_params(
        ctx, make_params(&fp, r, EVP_MD_CTX_settable_params(ctx), 0));
    free_params(&fp);
    msg = get_bytes(r, get_size(r, 200), &msg_len);
    EVP_DigestUpdate(ctx, msg, msg_len);
    EVP_MD_CTX_get_params(
        ctx, make_params(&fp, r, EVP_MD_CTX_gettable_params(ctx), 1));
    free_params(&fp);
    copy = EVP_MD_CTX_new();
    if (copy != NULL && (get_u8(r) & 1) && EVP_MD_CTX_copy_ex(copy, ctx))
        EVP_DigestFinal_ex(copy, out, &out_len);
    EVP_MD_CTX_free(copy);
    if (get_u8(r) & 1)
        EVP_DigestFinal_ex(ctx, out, &out_len);
    EVP_MD_CTX_free(ctx);
}

static void fuzz_mac(struct reader *r)
{
    EVP_MAC *mac = (get_u8(r) & 1) ? mac_cmac : mac_hmac;
    OSSL_PARAM base[2], *params;
    struct fuzz_params fp;
    unsigned char out[128];
    const uint8_t *key, *msg;
    size_t key_len, msg_len, out_len;
    EVP_MAC_CTX *ctx, *dup;

    if (mac == NULL || (ctx = EVP_MAC_CTX_new(mac)) == NULL)
        return;
    /* Usually a sound algorithm first, so that the fuzz reaches further. */
    if (get_u8(r) & 3) {
        base[0] = OSSL_PARAM_construct_utf8_string(
            mac == mac_hmac ? OSSL_MAC_PARAM_DIGEST : OSSL_MAC_PARAM_CIPHER,
            (char *)(mac == mac_hmac ? digest_names[get_u8(r) % DIGEST_COUNT]
                                     : cipher_names[2 + get_u8(r) % 3]),
            0);
        base[1] = OSSL_PARAM_construct_end();
        EVP_MAC_CTX_set_params(ctx, base);
    }
    key = get_bytes(r, get_size(r, 64), &key_len);
    params = make_params(&fp, r, EVP_MAC_settable_ctx_params(mac), 0);
    EVP_MAC_init(ctx, key_len > 0 ? key : NULL, key_len, params);
    free_params(&fp);
    EVP_MAC_CTX_set_params(
        ctx, make_params(&fp, r, EVP_MAC_CTX_settable_params(ctx), 0));
    free_params(&fp);
    msg = get_bytes(r, get_size(r, 200), &msg_len);
    EVP_MAC_update(ctx, msg, msg_len);
    EVP_MAC_CTX_get_params(
        ctx, make_params(&fp, r, EVP_MAC_CTX_gettable_params(ctx), 1));
    free_params(&fp);
    dup = (get_u8(r) & 1) ? EVP_MAC_CTX_dup(ctx) : NULL;
    if (dup != NULL)
        EVP_MAC_final(dup, out, &out_len, get_size(r, sizeof(out)));
    EVP_MAC_CTX_free(dup);
    EVP_MAC_final(ctx, (get_u8(r) & 7) ? out : NULL, &out_len,
                  get_size(r, sizeof(out)));
    EVP_MAC_CTX_free(ctx);
}

static void fuzz_cipher(struct reader *r)
{
    EVP_CIPHER *cipher = ciphers[get_u8(r) % CIPHER_COUNT];
    /*
     * Room for any key or IV length the params may ask for: EVP hands the
     * provider as many bytes as the context's (fuzzed) keylen and ivlen
     * say, so a caller's buffer must hold them; OpenSSL's own GCM reads
     * 63 bytes of IV after "ivlen"=63 as well. GCM takes up to 128.
     */
    unsigned char key[512], iv[512], *out;
    struct fuzz_params fp;
    const uint8_t *src, *msg;
    size_t got, msg_len;
    int enc = get_u8(r) & 1, out_len, key_len, iv_len;
    EVP_CIPHER_CTX *ctx;

    if (cipher == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
        return;
    key_len = EVP_CIPHER_get_key_length(cipher);
    iv_len = EVP_CIPHER_get_iv_length(cipher);
    memset(key, 0x11, sizeof(key));
    memset(iv, 0x22, sizeof(iv));
    src = get_bytes(r, (size_t)key_len, &got);
    memcpy(key, src, got);
    src = get_bytes(r, iv_len > 0 ? (size_t)iv_len : 0, &got);
    memcpy(iv, src, got);
    EVP_CipherInit_ex2(
        ctx, cipher, key, iv_len > 0 ? iv : NULL, enc,
        make_params(&fp, r, EVP_CIPHER_settable_ctx_params(cipher), 0));
    free_params(&fp);
    EVP_CIPHER_CTX_set_params(
        ctx, make_params(&fp, r, EVP_CIPHER_CTX_settable_params(ctx), 0));
    free_params(&fp);
    msg = get_bytes(r, get_size(r, 300), &msg_len);
    out = xmalloc(msg_len + 64);
    /* AAD: out == NULL only for GCM (elsewhere OpenSSL writes to it). */
    if ((get_u8(r) & 1) && EVP_CIPHER_get_mode(cipher) == EVP_CIPH_GCM_MODE)
        EVP_CipherUpdate(ctx, NULL, &out_len, msg, (int)(msg_len / 2));
    EVP_CipherUpdate(ctx, out, &out_len, msg, (int)msg_len);
    EVP_CIPHER_CTX_set_params(
        ctx, make_params(&fp, r, EVP_CIPHER_CTX_settable_params(ctx), 0));
    free_params(&fp);
    EVP_CIPHER_CTX_get_params(
        ctx, make_params(&fp, r, EVP_CIPHER_CTX_gettable_params(ctx), 1));
    free_params(&fp);
    EVP_CipherFinal_ex(ctx, out, &out_len);
    EVP_CIPHER_CTX_get_params(
        ctx, make_params(&fp, r, EVP_CIPHER_CTX_gettable_params(ctx), 1));
    free_params(&fp);
    free(out);
    EVP_CIPHER_CTX_free(ctx);
}

/* A signature, verification or RSA en/decryption with fuzz params. */
static void fuzz_pkey(struct reader *r)
{
    uint8_t op = get_u8(r);
    EVP_PKEY *keys[3] = {key_rsa, key_ec, key_ed25519};
    EVP_PKEY *key = keys[(op >> 3) % 3] != NULL ? keys[(op >> 3) % 3] : key_rsa;
    unsigned char *out = NULL;
    size_t out_len = 0, in_len;
    struct fuzz_params fp;
    const uint8_t *in;
    EVP_PKEY_CTX *ctx;
    int ok = 0;

    if (key == NULL)
        return;
    ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, PROPQ);
    if (ctx == NULL)
        return;
    /* The init-time table is not known before init: use the known names. */
    switch (op % 6) {
    case 0:
        ok = EVP_PKEY_sign_init_ex(ctx, make_params(&fp, r, NULL, 0)) > 0;
        break;
    case 1:
        ok = EVP_PKEY_verify_init_ex(ctx, make_params(&fp, r, NULL, 0)) > 0;
        break;
    case 2:
    case 3:
        ok = EVP_PKEY_encrypt_init_ex(ctx, make_params(&fp, r, NULL, 0)) > 0;
        break;
    case 4:
        ok = EVP_PKEY_decrypt_init_ex(ctx, make_params(&fp, r, NULL, 0)) > 0;
        break;
    default:
        ok = EVP_PKEY_derive_init_ex(ctx, make_params(&fp, r, NULL, 0)) > 0;
        break;
    }
    free_params(&fp);
    if (!ok)
        goto out_free_ctx;
    EVP_PKEY_CTX_set_params(
        ctx, make_params(&fp, r, EVP_PKEY_CTX_settable_params(ctx), 0));
    free_params(&fp);
    EVP_PKEY_CTX_get_params(
        ctx, make_params(&fp, r, EVP_PKEY_CTX_gettable_params(ctx), 1));
    free_params(&fp);
    in = get_bytes(r, get_size(r, 300), &in_len);
    switch (op % 6) {
    case 0:
        if (EVP_PKEY_sign(ctx, NULL, &out_len, in, in_len) > 0
            && out_len < 100000) {
            /* Sometimes a buffer that is too small, on purpose. */
            if (get_u8(r) & 1)
                out_len = get_size(r, out_len);
            out = xmalloc(out_len);
            EVP_PKEY_sign(ctx, out, &out_len, in, in_len);
        }
        break;
    case 1:
        EVP_PKEY_verify(ctx, in, in_len / 2, in + in_len / 2,
                        in_len - in_len / 2);
        break;
    case 2:
    case 3:
        if (EVP_PKEY_encrypt(ctx, NULL, &out_len, in, in_len) > 0
            && out_len < 100000) {
            if (get_u8(r) & 1)
                out_len = get_size(r, out_len);
            out = xmalloc(out_len);
            EVP_PKEY_encrypt(ctx, out, &out_len, in, in_len);
        }
        break;
    case 4:
        if (EVP_PKEY_decrypt(ctx, NULL, &out_len, in, in_len) > 0
            && out_len < 100000) {
            out = xmalloc(out_len);
            EVP_PKEY_decrypt(ctx, out, &out_len, in, in_len);
        }
        break;
    default:
        if (peer_ec != NULL && EVP_PKEY_derive_set_peer(ctx, peer_ec) > 0
            && EVP_PKEY_derive(ctx, NULL, &out_len) > 0 && out_len < 100000) {
            if (get_u8(r) & 1)
                out_len = get_size(r, out_len);
            out = xmalloc(out_len);
            EVP_PKEY_derive(ctx, out, &out_len);
        }
        break;
    }
    free(out);
out_free_ctx:
    EVP_PKEY_CTX_free(ctx);
}

/* EVP_DigestSign/Verify: the digest name itself comes from the input. */
static void fuzz_digest_sign(struct reader *r)
{
    EVP_PKEY *keys[3] = {key_rsa, key_ec, key_ed25519};
    uint8_t which = get_u8(r);
    EVP_PKEY *key = keys[which % 3] != NULL ? keys[which % 3] : key_ec;
    uint8_t mode = get_u8(r);
    const char *md = (mode & 2) ? NULL : digest_names[mode % DIGEST_COUNT];
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig), in_len;
    struct fuzz_params fp;
    const uint8_t *in;
    EVP_MD_CTX *ctx;
    int ok;

    if (key == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
        return;
    if (mode & 1)
        ok = EVP_DigestSignInit_ex(ctx, NULL, md, libctx, PROPQ, key,
                                   make_params(&fp, r, NULL, 0));
    else
        ok = EVP_DigestVerifyInit_ex(ctx, NULL, md, libctx, PROPQ, key,
                                     make_params(&fp, r, NULL, 0));
    free_params(&fp);
    if (ok > 0) {
        in = get_bytes(r, get_size(r, 300), &in_len);
        if (mode & 1)
            EVP_DigestSign(ctx, sig, &sig_len, in, in_len);
        else
            EVP_DigestVerify(ctx, in, in_len / 2, in + in_len / 2,
                             in_len - in_len / 2);
    }
    EVP_MD_CTX_free(ctx);
}

static EVP_PKEY *make_key(const char *alg, const char *group, int bits)
{
    static const char *const props[] = {PROPQ, "provider=default"};
    EVP_PKEY *key = NULL;
    size_t i;

    for (i = 0; i < 2 && key == NULL; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(libctx, alg, props[i]);
        OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
        size_t size = (size_t)bits;

        if (group != NULL)
            params[0] = OSSL_PARAM_construct_utf8_string(
                OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
        else if (bits > 0)
            params[0] =
                OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &size);
        if (ctx != NULL && EVP_PKEY_keygen_init(ctx) > 0
            && EVP_PKEY_CTX_set_params(ctx, params) > 0)
            EVP_PKEY_generate(ctx, &key);
        EVP_PKEY_CTX_free(ctx);
        if (key != NULL)
            fprintf(stderr, "fuzz_params: %s key from %s\n", alg, props[i]);
    }
    ERR_clear_error();
    return key;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("P11BE_FUZZ_PROVIDER_DIR");
    size_t i;

    (void)argc;
    (void)argv;
    if (getenv("CRYPTOGRAPHY_PKCS11_PATH") == NULL) {
        fprintf(stderr, "fuzz_params: set CRYPTOGRAPHY_PKCS11_PATH (and "
                        "_SLOT_ID, _PASSWORD, SOFTHSM2_CONF) to a token; "
                        "scripts/fuzz does\n");
        exit(2);
    }
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL
        || !OSSL_PROVIDER_set_default_search_path(
            libctx, dir != NULL ? dir : P11BE_FUZZ_PROVIDER_DIR)
        || (prov_default = OSSL_PROVIDER_load(libctx, "default")) == NULL
        || (prov_p11be = OSSL_PROVIDER_load(libctx, "pkcs11be")) == NULL) {
        fprintf(stderr, "fuzz_params: cannot load the providers from %s\n",
                dir != NULL ? dir : P11BE_FUZZ_PROVIDER_DIR);
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    for (i = 0; i < DIGEST_COUNT; i++)
        digests[i] = EVP_MD_fetch(libctx, digest_names[i], PROPQ);
    for (i = 0; i < CIPHER_COUNT; i++)
        ciphers[i] = EVP_CIPHER_fetch(libctx, cipher_names[i], PROPQ);
    mac_hmac = EVP_MAC_fetch(libctx, "HMAC", PROPQ);
    mac_cmac = EVP_MAC_fetch(libctx, "CMAC", PROPQ);
    key_rsa = make_key("RSA", NULL, 2048);
    key_ec = make_key("EC", "P-256", 0);
    /*
     * SoftHSM 2.6.1 leaks in every C_SignInit on an EdDSA key (see
     * lsan.supp); its stack shows the module only with the slow unwinder
     * (ASAN_OPTIONS=fast_unwind_on_malloc=0), which costs 10x the speed.
     * So Ed25519 is fuzzed only when asked for.
     */
    if (getenv("P11BE_FUZZ_EDDSA") != NULL
        && strcmp(getenv("P11BE_FUZZ_EDDSA"), "1") == 0)
        key_ed25519 = make_key("ED25519", NULL, 0);
    peer_ec = make_key("EC", "P-256", 0);
    ERR_clear_error();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size, 0};

    switch (get_u8(&r) % 5) {
    case 0:
        fuzz_digest(&r);
        break;
    case 1:
        fuzz_mac(&r);
        break;
    case 2:
        fuzz_cipher(&r);
        break;
    case 3:
        fuzz_pkey(&r);
        break;
    default:
        fuzz_digest_sign(&r);
        break;
    }
    ERR_clear_error();
    return 0;
}
