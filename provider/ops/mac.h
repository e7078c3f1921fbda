/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mac.c's EVP_MAC "HMAC" and "CMAC", for the signature of MAC keys
 * (mac_pkey.c) that runs them behind EVP_DigestSign.
 */
#ifndef P11BE_MAC_H
#define P11BE_MAC_H

#include <stddef.h>

#include <openssl/core.h>

#include "provider.h"

/* A params-table getter of OpenSSL's (ctx, provctx) shape. */
#define P11BE_PARAMS_FN(fn, table)                                             \
    static const OSSL_PARAM *fn(void *ctx, void *provctx)                      \
    {                                                                          \
        (void)ctx;                                                             \
        (void)provctx;                                                         \
        return table;                                                          \
    }

void *p11be_mac_newctx(void *provctx, int is_cmac);
void *p11be_mac_dupctx(void *ctx);
void p11be_mac_freectx(void *ctx);
int p11be_mac_init(void *ctx, const unsigned char *key, size_t keylen,
                   const OSSL_PARAM params[]);
int p11be_mac_update(void *ctx, const unsigned char *in, size_t inl);
int p11be_mac_final(void *ctx, unsigned char *out, size_t *outl,
                    size_t outsize);
int p11be_mac_set_ctx_params(void *ctx, const OSSL_PARAM params[]);
int p11be_mac_get_ctx_params(void *ctx, OSSL_PARAM params[]);

#endif
