/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one table of digests: what digest.c offers, the digests HMAC takes
 * (mac.c) and the hashes of RSA-PSS and OAEP (rsa_pad.c).
 */
#ifndef P11BE_DIGESTS_H
#define P11BE_DIGESTS_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* A mechanism and its name, for the tables' messages. */
#define P11BE_MECH(m) m, #m

typedef struct p11be_digest_st {
    const char *name;            /* primary name, as OpenSSL fetches it */
    const char *names;           /* every name (names.h) */
    CK_MECHANISM_TYPE mech;      /* the token's digest */
    const char *mech_name;       /* for messages */
    CK_MECHANISM_TYPE hmac_mech; /* the token's HMAC; 0: none */
    const char *hmac_mech_name;  /* for messages; NULL: no HMAC */
    CK_RSA_PKCS_MGF_TYPE mgf;    /* MGF1 with it; 0: not for RSA */
    size_t size;                 /* L: output bytes */
    size_t block_size;           /* B: input block bytes */
    int algid_absent;            /* AlgorithmIdentifier without NULL */
} P11BE_DIGEST;

/* Every digest; the last row's name is NULL. */
extern const P11BE_DIGEST p11be_digests[];

/* Whether `name` is one of the colon-separated `names`, in any case. */
int p11be_name_in(const char *names, const char *name);

/* The row that has `name` among its names; NULL if none. */
const P11BE_DIGEST *p11be_digest_find(const char *name);

#endif
