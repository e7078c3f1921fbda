/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every algorithm pkcs11be offers, in one place (as OpenSSL's
 * implementations.h and defltprov.c): each operation file defines the
 * dispatch tables declared here, named p11be_<op>_<alg>_functions, and
 * algorithms.c assembles them into the OSSL_ALGORITHM tables that
 * query_operation answers with. An algorithm is one dispatch table in its
 * operation file, one line here and one row in algorithms.c; a key type is
 * one row of p11be_key_types[] besides.
 */
#ifndef P11BE_ALGORITHMS_H
#define P11BE_ALGORITHMS_H

#include <openssl/core.h>

struct p11be_key_kind;

/* One row of a dispatch table: the function, cast as OSSL_DISPATCH wants. */
#define P11BE_FN(id, fn)                                                       \
    {                                                                          \
        (id), (void (*)(void))(fn)                                             \
    }

/*
 * Defines `fn`, a gettable/settable_ctx_params function that answers
 * `table` whatever the context (OpenSSL may pass none).
 */
#define P11BE_PARAMS_TABLE_FN(fn, table)                                       \
    static const OSSL_PARAM *fn(void *vctx, void *provctx)                     \
    {                                                                          \
        (void)vctx;                                                            \
        (void)provctx;                                                         \
        return table;                                                          \
    }

/* digest.c */
extern const OSSL_DISPATCH p11be_digest_md5_functions[];
extern const OSSL_DISPATCH p11be_digest_sha1_functions[];
extern const OSSL_DISPATCH p11be_digest_sha224_functions[];
extern const OSSL_DISPATCH p11be_digest_sha256_functions[];
extern const OSSL_DISPATCH p11be_digest_sha384_functions[];
extern const OSSL_DISPATCH p11be_digest_sha512_functions[];

/* mac.c: the MACs, and the same as keys and EVP_DigestSign */
extern const OSSL_DISPATCH p11be_mac_hmac_functions[];
extern const OSSL_DISPATCH p11be_mac_cmac_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_hmac_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_cmac_functions[];
extern const OSSL_DISPATCH p11be_signature_hmac_functions[];
extern const OSSL_DISPATCH p11be_signature_cmac_functions[];

/* cipher_block.c, cipher_gcm.c */
extern const OSSL_DISPATCH p11be_cipher_aes_128_ecb_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_192_ecb_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_256_ecb_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_128_cbc_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_192_cbc_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_256_cbc_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_128_ctr_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_192_ctr_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_256_ctr_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_128_gcm_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_192_gcm_functions[];
extern const OSSL_DISPATCH p11be_cipher_aes_256_gcm_functions[];
extern const OSSL_DISPATCH p11be_cipher_des_ede3_ecb_functions[];
extern const OSSL_DISPATCH p11be_cipher_des_ede3_cbc_functions[];

/* kdf.c */
extern const OSSL_DISPATCH p11be_kdf_hkdf_functions[];
extern const OSSL_DISPATCH p11be_kdf_tls13_functions[];
extern const OSSL_DISPATCH p11be_kdf_sskdf_functions[];
extern const OSSL_DISPATCH p11be_kdf_pbkdf2_functions[];
extern const OSSL_DISPATCH p11be_kdf_pkcs12_functions[];
extern const OSSL_DISPATCH p11be_kdf_sshkdf_functions[];
extern const OSSL_DISPATCH p11be_kdf_x963_functions[];
extern const OSSL_DISPATCH p11be_kdf_tls1_prf_functions[];
extern const OSSL_DISPATCH p11be_kdf_kbkdf_functions[];
extern const OSSL_DISPATCH p11be_kdf_krb5_functions[];
extern const OSSL_DISPATCH p11be_kdf_x942_asn1_functions[];
extern const OSSL_DISPATCH p11be_kdf_scrypt_functions[];
extern const OSSL_DISPATCH p11be_kdf_pbkdf1_functions[];

/* keymgmt_rsa.c, keymgmt_ec.c, keymgmt_ed.c, keymgmt_dh.c */
extern const OSSL_DISPATCH p11be_keymgmt_rsa_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_rsa_pss_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_ec_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_ed25519_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_ed448_functions[];
extern const OSSL_DISPATCH p11be_keymgmt_dh_functions[];

/* signature_rsa.c, signature_ecdsa.c, signature_eddsa.c */
extern const OSSL_DISPATCH p11be_signature_rsa_functions[];
extern const OSSL_DISPATCH p11be_signature_ecdsa_functions[];
extern const OSSL_DISPATCH p11be_signature_ed25519_functions[];
extern const OSSL_DISPATCH p11be_signature_ed448_functions[];

/* asym_cipher.c, exchange_ecdh.c, exchange_dh.c, store.c */
extern const OSSL_DISPATCH p11be_asym_cipher_rsa_functions[];
extern const OSSL_DISPATCH p11be_keyexch_ecdh_functions[];
extern const OSSL_DISPATCH p11be_keyexch_dh_functions[];
extern const OSSL_DISPATCH p11be_store_pkcs11_functions[];

/* decoder.c: the PEM step, then one DER step per key type */
extern const OSSL_DISPATCH p11be_decoder_pem_functions[];
extern const OSSL_DISPATCH p11be_decoder_rsa_functions[];
extern const OSSL_DISPATCH p11be_decoder_rsa_pss_functions[];
extern const OSSL_DISPATCH p11be_decoder_ec_functions[];
extern const OSSL_DISPATCH p11be_decoder_ed25519_functions[];
extern const OSSL_DISPATCH p11be_decoder_ed448_functions[];

/* rand.c */
extern const OSSL_DISPATCH p11be_rand_pkcs11_functions[];
extern const OSSL_DISPATCH p11be_drbg_ctr_functions[];
extern const OSSL_DISPATCH p11be_drbg_hash_functions[];
extern const OSSL_DISPATCH p11be_drbg_hmac_functions[];

/*
 * One encoder (encoder.c): the properties that name its output and
 * structure, and which key types it takes (P11BE_ENC_* bits, matched
 * against p11be_key_type.encoders).
 */
struct p11be_encoder {
    const char *props;             /* "provider=..,output=..,structure=.." */
    unsigned types;                /* P11BE_ENC_*: the key types it takes */
    const OSSL_DISPATCH *dispatch; /* its functions */
};

#define P11BE_ENC_ANY   1u /* every key type: SPKI, PKCS#8, text */
#define P11BE_ENC_RSA   2u /* RSAPrivateKey / RSAPublicKey structures */
#define P11BE_ENC_PKCS1 4u /* "pkcs1" (RSA and RSA-PSS) */
#define P11BE_ENC_EC    8u /* ECPrivateKey / ECParameters structures */

/* encoder.c: every encoder, in the order offered; ends with NULL. */
extern const struct p11be_encoder *const p11be_encoders[];

/*
 * The key types, one row each: what the store, the encoders and the
 * decoders need to know of a type. Key management keeps its own row
 * (`kind`, keyobj.h: the keymgmt name, CKK_ and the hooks that turn token
 * attributes into keys) and reaches the rest through it; a new key type
 * is a kind in its keymgmt file and a row here (algorithms.c), which
 * gives it encoders, a key-file decoder and, if store_yields, the store.
 */
struct p11be_key_type {
    const struct p11be_key_kind *kind; /* keymgmt row: name, CKK_, hooks */
    const char *names;                 /* every name OpenSSL knows it by */
    unsigned encoders;                 /* P11BE_ENC_*: which encoders */
    /*
     * The store yields token objects of kind->key_type as this type:
     * RSA, not RSA-PSS (both CKK_RSA); the Edwards curves by their
     * CKA_EC_PARAMS (p11be_ed_kind_of).
     */
    int store_yields;
    const OSSL_DISPATCH *decoder; /* decoder.c: its PKCS11 KEY URI step */
};

/* Ends with a NULL kind. */
extern const struct p11be_key_type p11be_key_types[];

/* The row of `kind`, or NULL. */
const struct p11be_key_type *p11be_key_type_of(const struct p11be_key_kind *k);

/*
 * The algorithms for OSSL_OP_* `operation_id`, or NULL. `offload_keys`
 * (pkcs11-offload = keys): no digest, MAC, cipher or KDF, and no MAC keys
 * (see query_operation).
 */
const OSSL_ALGORITHM *p11be_algorithms(int operation_id, int offload_keys);

#endif
