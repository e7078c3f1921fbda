/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file form of a persistent token key (doc/token-keys.md, "Key
 * files"): what encoder.c writes for the private key of a key whose
 * private half lives on the token, and what decoder.c reads back into
 * that key. DER, under the PEM label below:
 *
 *   PKCS11KeyURI ::= SEQUENCE {
 *       uri UTF8String      -- "pkcs11:token=..;object=..;id=..;type=private"
 *   }
 *
 * It names the key and holds nothing secret (never a pin-value). Readers
 * take the first field and ignore any that a later version may append.
 */
#ifndef P11BE_KEYURI_H
#define P11BE_KEYURI_H

#define P11BE_KEYURI_PEM_LABEL "PKCS11 KEY URI"

/* The decoders' name for the DER structure ("structure=" property). */
#define P11BE_KEYURI_STRUCTURE "pkcs11-uri"

#endif
