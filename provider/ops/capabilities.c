/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider's "TLS-GROUP" capability: the named curves whose keys
 * pkcs11be's EC keymgmt handles, and the RFC 7919 groups of its DH one.
 *
 * libssl builds its list of TLS groups from every provider's TLS-GROUP
 * rows and keeps a row only when EVP_KEYMGMT_fetch() of the row's
 * algorithm ("EC") returns a keymgmt of the provider that announced it.
 * With pkcs11be preferred (default_properties, or loaded before the
 * default provider) that fetch returns our EC keymgmt, so the default
 * provider's P-256/P-384/P-521 rows are dropped: a TLS 1.2 server with an
 * ECDSA certificate then finds no usable cipher, and a client offering
 * only NIST curves cannot connect. Announcing the curves here keeps them;
 * an ECDHE share on them is then made and used by pkcs11be (an ephemeral
 * key pair on the token and CKM_ECDH1_DERIVE), as preferring pkcs11be
 * asks. The same holds for the ffdhe groups and the DH keymgmt (TLS 1.3
 * only, as OpenSSL's default provider offers them).
 */
#include "capabilities.h"

#include <string.h>
#include <strings.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>

/* One TLS group: IANA id, names, strength (RFC 8422 / RFC 8446). */
struct tls_group {
    const char *iana_name;      /* "secp256r1" */
    const char *openssl_name;   /* the keymgmt's group name: "prime256v1" */
    unsigned int iana_id;       /* TLS NamedGroup code point */
    unsigned int security_bits; /* as OpenSSL rates the curve */
    const char *alg;            /* the keymgmt: "EC" or "DH" */
    int min_tls;                /* the first TLS version that has it */
};

/* The NIST names are rows of their own, as OpenSSL's providers have them. */
static const struct tls_group tls_groups[] = {
    {"secp256r1", "prime256v1", 23, 128, "EC", TLS1_VERSION},
    {"P-256", "prime256v1", 23, 128, "EC", TLS1_VERSION},
    {"secp384r1", "secp384r1", 24, 192, "EC", TLS1_VERSION},
    {"P-384", "secp384r1", 24, 192, "EC", TLS1_VERSION},
    {"secp521r1", "secp521r1", 25, 256, "EC", TLS1_VERSION},
    {"P-521", "secp521r1", 25, 256, "EC", TLS1_VERSION},
    {"ffdhe2048", "ffdhe2048", 256, 112, "DH", TLS1_3_VERSION},
    {"ffdhe3072", "ffdhe3072", 257, 128, "DH", TLS1_3_VERSION},
    {"ffdhe4096", "ffdhe4096", 258, 128, "DH", TLS1_3_VERSION},
    {"ffdhe6144", "ffdhe6144", 259, 128, "DH", TLS1_3_VERSION},
    {"ffdhe8192", "ffdhe8192", 260, 192, "DH", TLS1_3_VERSION},
};

static int tls_group_report(const struct tls_group *group, OSSL_CALLBACK *cb,
                            void *arg)
{
    unsigned int id = group->iana_id, bits = group->security_bits;
    int min_tls = group->min_tls, max_tls = 0;
    /* No DTLS for the ffdhe groups, as in OpenSSL's default provider. */
    int min_dtls = group->min_tls == TLS1_VERSION ? DTLS1_VERSION : -1;
    int max_dtls = group->min_tls == TLS1_VERSION ? 0 : -1;
    OSSL_PARAM row[] = {
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME,
                               (char *)group->iana_name, 0),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,
                               (char *)group->openssl_name, 0),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG,
                               (char *)group->alg, 0),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &id),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &bits),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &min_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &max_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &min_dtls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &max_dtls),
        OSSL_PARAM_END,
    };

    /* The lengths of the strings: OSSL_PARAM_utf8_string() leaves 0. */
    row[0].data_size = strlen(group->iana_name);
    row[1].data_size = strlen(group->openssl_name);
    row[2].data_size = strlen(group->alg);
    return cb(row, arg);
}

int p11be_get_capabilities(void *provctx, const char *capability,
                           OSSL_CALLBACK *cb, void *arg)
{
    size_t i;

    (void)provctx;
    if (strcasecmp(capability, "TLS-GROUP") != 0)
        return 0;
    for (i = 0; i < sizeof(tls_groups) / sizeof(tls_groups[0]); i++)
        if (!tls_group_report(&tls_groups[i], cb, arg))
            return 0;
    return 1;
}
