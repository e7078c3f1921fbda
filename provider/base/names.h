/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Algorithm names as OpenSSL's default provider spells them, for those
 * written in more than one place (a name used once is in its row of
 * ops/algorithms.c).
 */
#ifndef P11BE_NAMES_H
#define P11BE_NAMES_H

#define P11BE_PROPS "provider=pkcs11be"

#define P11BE_NAMES_MD5      "MD5:SSL3-MD5:1.2.840.113549.2.5"
#define P11BE_NAMES_SHA1     "SHA1:SHA-1:SSL3-SHA1:1.3.14.3.2.26"
#define P11BE_NAMES_SHA2_224 "SHA2-224:SHA-224:SHA224:2.16.840.1.101.3.4.2.4"
#define P11BE_NAMES_SHA2_256 "SHA2-256:SHA-256:SHA256:2.16.840.1.101.3.4.2.1"
#define P11BE_NAMES_SHA2_384 "SHA2-384:SHA-384:SHA384:2.16.840.1.101.3.4.2.2"
#define P11BE_NAMES_SHA2_512 "SHA2-512:SHA-512:SHA512:2.16.840.1.101.3.4.2.3"
#define P11BE_NAMES_RSA      "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define P11BE_NAMES_RSA_PSS  "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10"
#define P11BE_NAMES_EC       "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define P11BE_NAMES_DH       "DH:dhKeyAgreement:1.2.840.113549.1.3.1"
#define P11BE_NAMES_ED25519  "ED25519:1.3.101.112"
#define P11BE_NAMES_ED448    "ED448:1.3.101.113"

#endif
