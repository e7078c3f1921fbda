/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The algorithm tables (algorithms.h): every algorithm pkcs11be offers,
 * by operation, and the key types. Descriptions are what
 * `openssl list -verbose` shows.
 */
#include "algorithms.h"

#include <pthread.h>

#include <openssl/core_dispatch.h>

#include "keymgmt.h"
#include "keyuri.h"
#include "names.h"

#define ON_TOKEN(what)     what " on the PKCS#11 token"
#define WITH_KEY(what)     what " with the key on the PKCS#11 token"
#define MAC_KEY(mac, what) mac " " what ", the MAC made on the PKCS#11 token"

/* One row: the names, our property, the dispatch table, the description. */
#define ALG(names, functions, desc)                                            \
    {                                                                          \
        names, P11BE_PROPS, functions, desc                                    \
    }

/* clang-format off */
static const OSSL_ALGORITHM digest_algorithms[] = {
    ALG(P11BE_NAMES_SHA1, p11be_digest_sha1_functions, ON_TOKEN("SHA-1")),
    ALG(P11BE_NAMES_SHA2_224, p11be_digest_sha224_functions, ON_TOKEN("SHA-224")),
    ALG(P11BE_NAMES_SHA2_256, p11be_digest_sha256_functions, ON_TOKEN("SHA-256")),
    ALG(P11BE_NAMES_SHA2_384, p11be_digest_sha384_functions, ON_TOKEN("SHA-384")),
    ALG(P11BE_NAMES_SHA2_512, p11be_digest_sha512_functions, ON_TOKEN("SHA-512")),
    ALG(P11BE_NAMES_MD5, p11be_digest_md5_functions, ON_TOKEN("MD5")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM mac_algorithms[] = {
    ALG("HMAC", p11be_mac_hmac_functions, ON_TOKEN("HMAC")),
    ALG("CMAC", p11be_mac_cmac_functions, ON_TOKEN("CMAC")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM cipher_algorithms[] = {
    ALG("AES-256-ECB:2.16.840.1.101.3.4.1.41", p11be_cipher_aes_256_ecb_functions, ON_TOKEN("AES-256-ECB")),
    ALG("AES-192-ECB:2.16.840.1.101.3.4.1.21", p11be_cipher_aes_192_ecb_functions, ON_TOKEN("AES-192-ECB")),
    ALG("AES-128-ECB:2.16.840.1.101.3.4.1.1", p11be_cipher_aes_128_ecb_functions, ON_TOKEN("AES-128-ECB")),
    ALG("AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42", p11be_cipher_aes_256_cbc_functions, ON_TOKEN("AES-256-CBC")),
    ALG("AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22", p11be_cipher_aes_192_cbc_functions, ON_TOKEN("AES-192-CBC")),
    ALG("AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2", p11be_cipher_aes_128_cbc_functions, ON_TOKEN("AES-128-CBC")),
    ALG("AES-256-CTR", p11be_cipher_aes_256_ctr_functions, ON_TOKEN("AES-256-CTR")),
    ALG("AES-192-CTR", p11be_cipher_aes_192_ctr_functions, ON_TOKEN("AES-192-CTR")),
    ALG("AES-128-CTR", p11be_cipher_aes_128_ctr_functions, ON_TOKEN("AES-128-CTR")),
    ALG("AES-256-GCM:id-aes256-GCM:2.16.840.1.101.3.4.1.46", p11be_cipher_aes_256_gcm_functions, ON_TOKEN("AES-256-GCM")),
    ALG("AES-192-GCM:id-aes192-GCM:2.16.840.1.101.3.4.1.26", p11be_cipher_aes_192_gcm_functions, ON_TOKEN("AES-192-GCM")),
    ALG("AES-128-GCM:id-aes128-GCM:2.16.840.1.101.3.4.1.6", p11be_cipher_aes_128_gcm_functions, ON_TOKEN("AES-128-GCM")),
    ALG("DES-EDE3-ECB:DES-EDE3", p11be_cipher_des_ede3_ecb_functions, ON_TOKEN("DES-EDE3-ECB (Triple DES)")),
    ALG("DES-EDE3-CBC:DES3:1.2.840.113549.3.7", p11be_cipher_des_ede3_cbc_functions, ON_TOKEN("DES-EDE3-CBC (Triple DES)")),
    {NULL, NULL, NULL, NULL},
};

/*
 * The default provider's names and aliases, so that a fetch by any of them
 * finds pkcs11be where it is preferred. X942KDF-CONCAT is an alias of
 * X963KDF there, as here. PBKDF1 is the legacy provider's (kdf.c).
 */
static const OSSL_ALGORITHM kdf_algorithms[] = {
    ALG("HKDF", p11be_kdf_hkdf_functions, NULL),
    ALG("TLS13-KDF", p11be_kdf_tls13_functions, NULL),
    ALG("SSKDF", p11be_kdf_sskdf_functions, NULL),
    ALG("PBKDF2:1.2.840.113549.1.5.12", p11be_kdf_pbkdf2_functions, NULL),
    ALG("PKCS12KDF", p11be_kdf_pkcs12_functions, NULL),
    ALG("SSHKDF", p11be_kdf_sshkdf_functions, NULL),
    ALG("X963KDF:X942KDF-CONCAT", p11be_kdf_x963_functions, NULL),
    ALG("TLS1-PRF", p11be_kdf_tls1_prf_functions, NULL),
    ALG("KBKDF", p11be_kdf_kbkdf_functions, NULL),
    ALG("KRB5KDF", p11be_kdf_krb5_functions, NULL),
    ALG("X942KDF-ASN1:X942KDF", p11be_kdf_x942_asn1_functions, NULL),
    ALG("SCRYPT:id-scrypt:1.3.6.1.4.1.11591.4.11", p11be_kdf_scrypt_functions, NULL),
    ALG("PBKDF1", p11be_kdf_pbkdf1_functions, NULL),
    {NULL, NULL, NULL, NULL},
};

/*
 * The MAC rows come first: in pkcs11-offload = keys mode only the rows
 * from the first key row on are offered (MAC_ROWS).
 */
#define MAC_ROWS 2
static const OSSL_ALGORITHM keymgmt_algorithms[] = {
    ALG("HMAC", p11be_keymgmt_hmac_functions, MAC_KEY("HMAC", "keys for EVP_DigestSign")),
    ALG("CMAC", p11be_keymgmt_cmac_functions, MAC_KEY("CMAC", "keys for EVP_DigestSign")),
    ALG(P11BE_NAMES_RSA, p11be_keymgmt_rsa_functions, ON_TOKEN("RSA keys")),
    ALG(P11BE_NAMES_RSA_PSS, p11be_keymgmt_rsa_pss_functions, ON_TOKEN("RSA-PSS keys")),
    ALG(P11BE_NAMES_EC, p11be_keymgmt_ec_functions, ON_TOKEN("EC keys")),
    ALG(P11BE_NAMES_ED25519, p11be_keymgmt_ed25519_functions, ON_TOKEN("Ed25519 keys")),
    ALG(P11BE_NAMES_ED448, p11be_keymgmt_ed448_functions, ON_TOKEN("Ed448 keys")),
    ALG(P11BE_NAMES_DH, p11be_keymgmt_dh_functions, ON_TOKEN("finite-field Diffie-Hellman keys")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signature_algorithms[] = {
    ALG("HMAC", p11be_signature_hmac_functions, "HMAC through EVP_DigestSign, made" ON_TOKEN("")),
    ALG("CMAC", p11be_signature_cmac_functions, "CMAC through EVP_DigestSign, made" ON_TOKEN("")),
    ALG(P11BE_NAMES_RSA, p11be_signature_rsa_functions, WITH_KEY("RSA signatures")),
    ALG("ECDSA", p11be_signature_ecdsa_functions, WITH_KEY("ECDSA signatures")),
    ALG(P11BE_NAMES_ED25519, p11be_signature_ed25519_functions, WITH_KEY("Ed25519 signatures")),
    ALG(P11BE_NAMES_ED448, p11be_signature_ed448_functions, WITH_KEY("Ed448 signatures")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM asym_cipher_algorithms[] = {
    ALG(P11BE_NAMES_RSA, p11be_asym_cipher_rsa_functions, WITH_KEY("RSA decryption")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM keyexch_algorithms[] = {
    ALG("ECDH", p11be_keyexch_ecdh_functions, WITH_KEY("ECDH")),
    ALG(P11BE_NAMES_DH, p11be_keyexch_dh_functions, WITH_KEY("finite-field Diffie-Hellman")),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM store_algorithms[] = {
    ALG("pkcs11", p11be_store_pkcs11_functions, ON_TOKEN("keys and certificates") ", by pkcs11: URI"),
    {NULL, NULL, NULL, NULL},
};

#define BY_DEFAULT(drbg) "OpenSSL's " drbg ", run whole by the default provider"
static const OSSL_ALGORITHM rand_algorithms[] = {
    ALG("PKCS11-RAND", p11be_rand_pkcs11_functions, "random bytes from the token's C_GenerateRandom"),
    ALG("CTR-DRBG", p11be_drbg_ctr_functions, BY_DEFAULT("CTR-DRBG")),
    ALG("HASH-DRBG", p11be_drbg_hash_functions, BY_DEFAULT("HASH-DRBG")),
    ALG("HMAC-DRBG", p11be_drbg_hmac_functions, BY_DEFAULT("HMAC-DRBG")),
    {NULL, NULL, NULL, NULL},
};
/* clang-format on */

const struct p11be_key_type p11be_key_types[] = {
    {&p11be_kind_rsa, P11BE_NAMES_RSA,
     P11BE_ENC_ANY | P11BE_ENC_RSA | P11BE_ENC_PKCS1, 1,
     p11be_decoder_rsa_functions},
    {&p11be_kind_rsa_pss, P11BE_NAMES_RSA_PSS, P11BE_ENC_ANY | P11BE_ENC_PKCS1,
     0, p11be_decoder_rsa_pss_functions},
    {&p11be_kind_ec, P11BE_NAMES_EC, P11BE_ENC_ANY | P11BE_ENC_EC, 1,
     p11be_decoder_ec_functions},
    {&p11be_kind_ed25519, P11BE_NAMES_ED25519, P11BE_ENC_ANY, 1,
     p11be_decoder_ed25519_functions},
    {&p11be_kind_ed448, P11BE_NAMES_ED448, P11BE_ENC_ANY, 1,
     p11be_decoder_ed448_functions},
    {NULL, NULL, 0, 0, NULL},
};

const struct p11be_key_type *p11be_key_type_of(const struct p11be_key_kind *k)
{
    const struct p11be_key_type *type;

    for (type = p11be_key_types; type->kind != NULL; type++)
        if (type->kind == k)
            return type;
    return NULL;
}

/* Made once from p11be_key_types: each encoder for each type it takes. */
#define ENCODER_ROWS_MAX 64
#define KEY_TYPES_MAX    8
static OSSL_ALGORITHM encoder_algorithms[ENCODER_ROWS_MAX + 1];
static OSSL_ALGORITHM decoder_algorithms[KEY_TYPES_MAX + 2];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void make_tables(void)
{
    const struct p11be_key_type *type;
    const struct p11be_encoder *const *enc;
    size_t n = 0, types = 0;

    for (type = p11be_key_types; type->kind != NULL; type++, types++)
        for (enc = p11be_encoders; *enc != NULL; enc++)
            if (((*enc)->types & type->encoders) && n < ENCODER_ROWS_MAX)
                encoder_algorithms[n++] = (OSSL_ALGORITHM){
                    type->names, (*enc)->props, (*enc)->dispatch, NULL};
    decoder_algorithms[0] = (OSSL_ALGORITHM){"DER", P11BE_PROPS ",input=pem",
                                             p11be_decoder_pem_functions,
                                             "PKCS11 KEY URI PEM to DER"};
    /*
     * The last type first, RSA last, as always: OpenSSL tries them in this
     * order, and what a key file costs the token depends on it (decoder.c).
     */
    for (n = 1; types > 0 && n <= KEY_TYPES_MAX; n++, types--) {
        type = &p11be_key_types[types - 1];
        decoder_algorithms[n] = (OSSL_ALGORITHM){
            type->names,
            P11BE_PROPS ",input=der,structure=" P11BE_KEYURI_STRUCTURE,
            type->decoder, "a token key by its pkcs11: URI"};
    }
}

const OSSL_ALGORITHM *p11be_algorithms(int operation_id, int offload_keys)
{
    pthread_once(&tables_once, make_tables);
    switch (operation_id) {
    case OSSL_OP_DIGEST:
        return offload_keys ? NULL : digest_algorithms;
    case OSSL_OP_MAC:
        return offload_keys ? NULL : mac_algorithms;
    case OSSL_OP_CIPHER:
        return offload_keys ? NULL : cipher_algorithms;
    case OSSL_OP_KDF:
        return offload_keys ? NULL : kdf_algorithms;
    case OSSL_OP_KEYMGMT:
        return keymgmt_algorithms + (offload_keys ? MAC_ROWS : 0);
    case OSSL_OP_SIGNATURE:
        return signature_algorithms + (offload_keys ? MAC_ROWS : 0);
    case OSSL_OP_ASYM_CIPHER:
        return asym_cipher_algorithms;
    case OSSL_OP_KEYEXCH:
        return keyexch_algorithms;
    case OSSL_OP_STORE:
        return store_algorithms;
    case OSSL_OP_ENCODER:
        return encoder_algorithms;
    case OSSL_OP_DECODER:
        return decoder_algorithms;
    case OSSL_OP_RAND:
        return rand_algorithms;
    default:
        return NULL;
    }
}
