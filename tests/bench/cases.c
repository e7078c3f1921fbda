/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmark cases: one row each in bench_cases[] at the end of the
 * file, and the op functions the rows name. See bench.h for what an op
 * gets and what the runner does around it.
 */
#include "bench.h"

/* Digests: the targets (#2, section 11). */
/* clang-format off */
#define DIGEST_SIZES {{64, 0.90}, {16384, 0.97}, {0, 0}}
/* clang-format on */

/* What an application hashing many messages does: reuse one EVP_MD_CTX. */
static int digest_evp_op(struct bench_evp_thread *t)
{
    unsigned int len;

    return EVP_DigestInit_ex(t->md_ctx, t->md, NULL)
           && EVP_DigestUpdate(t->md_ctx, t->in, t->in_len)
           && EVP_DigestFinal_ex(t->md_ctx, t->out, &len);
}

/* EVP_Digest() makes and frees an EVP_MD_CTX (and the provider's) per call. */
static int digest_oneshot_evp_op(struct bench_evp_thread *t)
{
    return EVP_Digest(t->in, t->in_len, t->out, NULL, t->md, NULL);
}

/* The least a PKCS#11 application can do: C_DigestInit + C_Digest. */
static CK_RV digest_p11_op(struct bench_p11_thread *t)
{
    CK_MECHANISM mech = {t->mech, NULL, 0};
    CK_ULONG out_len = t->out_cap;
    CK_RV rv;

    rv = t->p11->C_DigestInit(t->session, &mech);
    if (rv != CKR_OK)
        return rv;
    return t->p11->C_Digest(t->session, t->in, t->in_len, t->out, &out_len);
}

/* clang-format off */
const struct bench_case bench_cases[] = {
    {.name = "SHA-256 Init+Update+Final", .kind = BENCH_DIGEST,
     .alg = "SHA2-256", .mech = CKM_SHA256, .sizes = DIGEST_SIZES,
     .evp_op = digest_evp_op, .p11_op = digest_p11_op},
    {.name = "SHA-256 EVP_Digest", .kind = BENCH_DIGEST,
     .alg = "SHA2-256", .mech = CKM_SHA256, .sizes = DIGEST_SIZES,
     .evp_op = digest_oneshot_evp_op, .p11_op = digest_p11_op},
    {.name = NULL},
};
/* clang-format on */
