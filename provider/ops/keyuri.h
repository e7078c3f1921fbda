/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file form of a persistent token key: what encoder.c writes when
 * asked for the private key of a key whose private half lives on the
 * token, and what decoder.c reads back into that key, by reference.
 *
 * DER: the URI that p11be_store_key_uri() gives, in a one-field SEQUENCE
 *
 *   PKCS11KeyURI ::= SEQUENCE {
 *       uri UTF8String      -- "pkcs11:token=..;object=..;id=..;type=private"
 *   }
 *
 * PEM: that DER under the label below:
 *
 *   -----BEGIN PKCS11 KEY URI-----
 *   MDcMNXBrY3MxMTp0b2tlbj1wa2NzMTFiZS10ZXN0O29iamVjdD1zaWduZXI7dHlw
 *   ZT1wcml2YXRl
 *   -----END PKCS11 KEY URI-----
 *
 * It names the key and holds nothing secret (the encoder never puts a
 * pin-value in it). Readers take the first field and ignore any that a
 * later version may append.
 */
#ifndef P11BE_KEYURI_H
#define P11BE_KEYURI_H

/* The PEM label. */
#define P11BE_KEYURI_PEM_LABEL "PKCS11 KEY URI"

/* The decoders' name for the DER structure ("structure=" property). */
#define P11BE_KEYURI_STRUCTURE "pkcs11-uri"

#endif
