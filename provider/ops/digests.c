/* SPDX-License-Identifier: Apache-2.0 */
/* The one table of digests: see digests.h. */
#include "digests.h"

#include <string.h>
#include <strings.h>

#include "names.h"

/* clang-format off */
const P11BE_DIGEST p11be_digests[] = {
    {"SHA1", P11BE_NAMES_SHA1, P11BE_MECH(CKM_SHA_1),
     P11BE_MECH(CKM_SHA_1_HMAC), CKG_MGF1_SHA1, 20, 64, 1},
    {"SHA2-224", P11BE_NAMES_SHA2_224, P11BE_MECH(CKM_SHA224),
     P11BE_MECH(CKM_SHA224_HMAC), CKG_MGF1_SHA224, 28, 64, 1},
    {"SHA2-256", P11BE_NAMES_SHA2_256, P11BE_MECH(CKM_SHA256),
     P11BE_MECH(CKM_SHA256_HMAC), CKG_MGF1_SHA256, 32, 64, 1},
    {"SHA2-384", P11BE_NAMES_SHA2_384, P11BE_MECH(CKM_SHA384),
     P11BE_MECH(CKM_SHA384_HMAC), CKG_MGF1_SHA384, 48, 128, 1},
    {"SHA2-512", P11BE_NAMES_SHA2_512, P11BE_MECH(CKM_SHA512),
     P11BE_MECH(CKM_SHA512_HMAC), CKG_MGF1_SHA512, 64, 128, 1},
    {"MD5", P11BE_NAMES_MD5, P11BE_MECH(CKM_MD5),
     P11BE_MECH(CKM_MD5_HMAC), 0, 16, 64, 0},
    {NULL, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0},
};
/* clang-format on */

int p11be_name_in(const char *names, const char *name)
{
    size_t len = strlen(name);

    while (*names != '\0') {
        size_t seg = strcspn(names, ":");

        if (seg == len && strncasecmp(names, name, len) == 0)
            return 1;
        names += seg;
        if (*names == ':')
            names++;
    }
    return 0;
}

const P11BE_DIGEST *p11be_digest_find(const char *name)
{
    const P11BE_DIGEST *d;

    for (d = p11be_digests; d->name != NULL; d++)
        if (p11be_name_in(d->names, name))
            return d;
    return NULL;
}
