/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What signature_rsa.c and asym_cipher.c share: the parameters read back
 * from the host context, and the paddings done on the host, for parameter
 * sets the token refuses:
 * the raw private-key operation (CKM_RSA_X_509) then runs on the token,
 * so the key still never leaves it. OpenSSL's own (constant-time)
 * routines do the work; see rsa_pad.c for why they are the deprecated
 * ones.
 */
#ifndef P11BE_RSA_PAD_H
#define P11BE_RSA_PAD_H

#include <stddef.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "keyop.h"

/*
 * The RSA parameters an operation settled on, read back from its host
 * context (keyobj.h); digests fetched from the default provider.
 */
struct p11be_rsa_params {
    int pad;                    /* RSA_PKCS1_PADDING .. */
    EVP_MD *md;                 /* the digest (OAEP's hash); NULL: none */
    EVP_MD *mgf1;               /* MGF1's digest: md unless set apart */
    int saltlen;                /* signature: PSS saltlen, as set */
    const unsigned char *label; /* asym-cipher: OAEP label (the host's) */
    size_t label_len;           /* bytes in label */
    unsigned int tls_client;    /* asym-cipher: tls-client-version; 0 none */
    unsigned int tls_alt;       /* tls-negotiated-version; 0 none */
};

/*
 * Reads pad-mode, digest and mgf1-digest (the same names for signatures
 * and asym-ciphers), and saltlen (a signature) or oaep-label and the TLS
 * versions (an asym-cipher). Raises and returns 0 on failure.
 */
int p11be_rsa_params_read(P11BE_KEYOP *op, int signature,
                          struct p11be_rsa_params *rp);
void p11be_rsa_params_free(struct p11be_rsa_params *rp);

/*
 * Whether to ask the token for `mech` (CKM_RSA_PKCS_PSS or _OAEP) with
 * rp's digest and MGF1: it lists the mechanism for `flag` (CKF_SIGN,
 * CKF_DECRYPT), PKCS#11 names both digests (not SHA-3), and the token has
 * not refused that pair before (keyobj.h). Fills *shape (hashAlg, mgf).
 * Returns 1 yes, 0 no (pad on the host), -1 on failure (raised).
 */
int p11be_rsa_native_ok(P11BE_KEYOP *op, CK_MECHANISM_TYPE mech,
                        const char *mech_name, CK_FLAGS flag,
                        const struct p11be_rsa_params *rp,
                        struct p11be_mech_shape *shape);

/*
 * A len-byte big-endian result in buf made k bytes long, zeros in front:
 * some tokens drop the leading zero bytes of raw RSA results.
 */
void p11be_rsa_left_pad(unsigned char *buf, size_t len, size_t k);

/* Whether the big-endian number in[0..len) is below the key's modulus. */
int p11be_rsa_below_modulus(const EVP_PKEY *host, const unsigned char *in,
                            size_t len);

/*
 * EMSA-PSS of the digest `mhash` into em (EVP_PKEY_get_size(host) bytes)
 * with a salt of `salt_len` bytes. Raises through OpenSSL; 0 on failure.
 */
int p11be_rsa_pss_encode(const EVP_PKEY *host, unsigned char *em,
                         const unsigned char *mhash, const EVP_MD *md,
                         const EVP_MD *mgf1_md, int salt_len);

/*
 * EME-OAEP decoding of em (k bytes, the raw decryption) into to (room
 * tlen), in constant time. Returns the message length, or -1 (raised
 * through OpenSSL) when the padding is wrong.
 */
int p11be_rsa_oaep_decode(unsigned char *to, size_t tlen,
                          const unsigned char *em, size_t k,
                          const unsigned char *label, size_t label_len,
                          const EVP_MD *md, const EVP_MD *mgf1_md);

/* The TLS premaster secret's length (RFC 5246 7.4.7.1). */
#define P11BE_TLS_PREMASTER_LEN 48

/*
 * The premaster secret of a TLS RSA key exchange into out
 * (P11BE_TLS_PREMASTER_LEN bytes), from em (k bytes, the raw decryption of
 * the ClientKeyExchange): em's last 48 bytes when em is PKCS#1 v1.5 type 2
 * padding around exactly 48 bytes that start with rp->tls_client (or
 * rp->tls_alt when set), and `random` (48 bytes) otherwise. In constant
 * time: nothing about em shows in the time taken or the result's origin.
 * k must be at least 11 + 48.
 */
void p11be_rsa_tls_premaster(unsigned char *out, const unsigned char *em,
                             size_t k, const struct p11be_rsa_params *rp,
                             const unsigned char *random);

/*
 * The same after a token's own PKCS#1 v1.5 decryption (CKM_RSA_PKCS):
 * msg (at least 48 bytes readable) holds msg_len bytes when `decrypted`
 * is 1, and the result is msg's first 48 bytes only when both hold, the
 * length is 48 and the version is right.
 */
void p11be_rsa_tls_premaster_msg(unsigned char *out, const unsigned char *msg,
                                 size_t msg_len, int decrypted,
                                 const struct p11be_rsa_params *rp,
                                 const unsigned char *random);

#endif
