/* SPDX-License-Identifier: Apache-2.0 */
#include "spare.h"

#include <openssl/crypto.h>

/* Spares larger than this are freed: they would pin too much memory. */
#define SPARE_CAP_MAX (256 * 1024)

unsigned char *p11be_spare_take(P11BE_PROV_CTX *prov, size_t need, size_t *cap)
{
    unsigned char *buf = NULL;
    size_t i;

    pthread_mutex_lock(&prov->spare_lock);
    for (i = 0; i < prov->spare_count; i++) {
        if (prov->spare_cap[i] >= need) {
            buf = prov->spare[i];
            *cap = prov->spare_cap[i];
            prov->spare_count--;
            prov->spare[i] = prov->spare[prov->spare_count];
            prov->spare_cap[i] = prov->spare_cap[prov->spare_count];
            break;
        }
    }
    pthread_mutex_unlock(&prov->spare_lock);
    return buf;
}

void p11be_spare_give(P11BE_PROV_CTX *prov, unsigned char *buf, size_t cap)
{
    if (buf == NULL)
        return;
    if (cap <= SPARE_CAP_MAX) {
        pthread_mutex_lock(&prov->spare_lock);
        if (prov->spare_count < P11BE_SPARES) {
            prov->spare[prov->spare_count] = buf;
            prov->spare_cap[prov->spare_count] = cap;
            prov->spare_count++;
            buf = NULL;
        }
        pthread_mutex_unlock(&prov->spare_lock);
    }
    OPENSSL_free(buf);
}

void p11be_spare_free_all(P11BE_PROV_CTX *prov)
{
    while (prov->spare_count > 0) {
        prov->spare_count--;
        OPENSSL_free(prov->spare[prov->spare_count]);
    }
}
