/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11mechs MODULE SLOT_ID: print the mechanisms the token in SLOT_ID
 * reports, one per line, as CKM_* names (0x... for ones not in the table
 * below), in the order the token gives them.  The tests use it to skip
 * what the token cannot do.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

/*
 * PKCS#11 3.0 mechanisms that p11-kit's 2.40 header may lack; the values
 * are the ones the 3.0 specification assigns.
 */
#ifndef CKM_SHA3_256
#define CKM_SHA3_256      0x2b0UL
#define CKM_SHA3_256_HMAC 0x2b1UL
#define CKM_SHA3_224      0x2b5UL
#define CKM_SHA3_224_HMAC 0x2b6UL
#define CKM_SHA3_384      0x2c0UL
#define CKM_SHA3_384_HMAC 0x2c1UL
#define CKM_SHA3_512      0x2d0UL
#define CKM_SHA3_512_HMAC 0x2d1UL
#endif
#ifndef CKM_SHA3_256_RSA_PKCS
#define CKM_SHA3_256_RSA_PKCS     0x60UL
#define CKM_SHA3_384_RSA_PKCS     0x61UL
#define CKM_SHA3_512_RSA_PKCS     0x62UL
#define CKM_SHA3_256_RSA_PKCS_PSS 0x63UL
#define CKM_SHA3_384_RSA_PKCS_PSS 0x64UL
#define CKM_SHA3_512_RSA_PKCS_PSS 0x65UL
#define CKM_SHA3_224_RSA_PKCS     0x66UL
#define CKM_SHA3_224_RSA_PKCS_PSS 0x67UL
#endif
#ifndef CKM_ECDSA_SHA3_224
#define CKM_ECDSA_SHA3_224 0x1047UL
#define CKM_ECDSA_SHA3_256 0x1048UL
#define CKM_ECDSA_SHA3_384 0x1049UL
#define CKM_ECDSA_SHA3_512 0x104aUL
#endif
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif
#ifndef CKM_EC_MONTGOMERY_KEY_PAIR_GEN
#define CKM_EC_MONTGOMERY_KEY_PAIR_GEN 0x1056UL
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x210bUL
#endif
#ifndef CKM_HKDF_DERIVE
#define CKM_HKDF_DERIVE  0x402aUL
#define CKM_HKDF_DATA    0x402bUL
#define CKM_HKDF_KEY_GEN 0x402cUL
#endif

struct mech_name {
    CK_MECHANISM_TYPE type;
    const char *name;
};

/*
 * Stringifies the constant so that each name is written once.  Kept on one
 * line by hand: clang-format would spread it over four.
 */
/* clang-format off */
#define MECH(m) { m, #m }
/* clang-format on */

static const struct mech_name mech_names[] = {
    /* RSA */
    MECH(CKM_RSA_PKCS_KEY_PAIR_GEN),
    MECH(CKM_RSA_PKCS),
    MECH(CKM_RSA_9796),
    MECH(CKM_RSA_X_509),
    MECH(CKM_MD5_RSA_PKCS),
    MECH(CKM_SHA1_RSA_PKCS),
    MECH(CKM_RIPEMD160_RSA_PKCS),
    MECH(CKM_RSA_PKCS_OAEP),
    MECH(CKM_RSA_X9_31_KEY_PAIR_GEN),
    MECH(CKM_RSA_X9_31),
    MECH(CKM_RSA_PKCS_PSS),
    MECH(CKM_SHA1_RSA_PKCS_PSS),
    MECH(CKM_SHA224_RSA_PKCS),
    MECH(CKM_SHA256_RSA_PKCS),
    MECH(CKM_SHA384_RSA_PKCS),
    MECH(CKM_SHA512_RSA_PKCS),
    MECH(CKM_SHA224_RSA_PKCS_PSS),
    MECH(CKM_SHA256_RSA_PKCS_PSS),
    MECH(CKM_SHA384_RSA_PKCS_PSS),
    MECH(CKM_SHA512_RSA_PKCS_PSS),
    MECH(CKM_SHA3_224_RSA_PKCS),
    MECH(CKM_SHA3_256_RSA_PKCS),
    MECH(CKM_SHA3_384_RSA_PKCS),
    MECH(CKM_SHA3_512_RSA_PKCS),
    MECH(CKM_SHA3_224_RSA_PKCS_PSS),
    MECH(CKM_SHA3_256_RSA_PKCS_PSS),
    MECH(CKM_SHA3_384_RSA_PKCS_PSS),
    MECH(CKM_SHA3_512_RSA_PKCS_PSS),
    MECH(CKM_RSA_AES_KEY_WRAP),
    /* DSA and DH */
    MECH(CKM_DSA_KEY_PAIR_GEN),
    MECH(CKM_DSA),
    MECH(CKM_DSA_SHA1),
    MECH(CKM_DSA_SHA224),
    MECH(CKM_DSA_SHA256),
    MECH(CKM_DSA_SHA384),
    MECH(CKM_DSA_SHA512),
    MECH(CKM_DSA_PARAMETER_GEN),
    MECH(CKM_DH_PKCS_KEY_PAIR_GEN),
    MECH(CKM_DH_PKCS_DERIVE),
    MECH(CKM_DH_PKCS_PARAMETER_GEN),
    /* Digests and HMACs */
    MECH(CKM_MD5),
    MECH(CKM_MD5_HMAC),
    MECH(CKM_RIPEMD160),
    MECH(CKM_RIPEMD160_HMAC),
    MECH(CKM_SHA_1),
    MECH(CKM_SHA_1_HMAC),
    MECH(CKM_SHA224),
    MECH(CKM_SHA224_HMAC),
    MECH(CKM_SHA256),
    MECH(CKM_SHA256_HMAC),
    MECH(CKM_SHA384),
    MECH(CKM_SHA384_HMAC),
    MECH(CKM_SHA512),
    MECH(CKM_SHA512_HMAC),
    MECH(CKM_SHA512_224),
    MECH(CKM_SHA512_224_HMAC),
    MECH(CKM_SHA512_256),
    MECH(CKM_SHA512_256_HMAC),
    MECH(CKM_SHA3_224),
    MECH(CKM_SHA3_224_HMAC),
    MECH(CKM_SHA3_256),
    MECH(CKM_SHA3_256_HMAC),
    MECH(CKM_SHA3_384),
    MECH(CKM_SHA3_384_HMAC),
    MECH(CKM_SHA3_512),
    MECH(CKM_SHA3_512_HMAC),
    MECH(CKM_GENERIC_SECRET_KEY_GEN),
    /* Key derivation */
    MECH(CKM_CONCATENATE_BASE_AND_KEY),
    MECH(CKM_CONCATENATE_BASE_AND_DATA),
    MECH(CKM_CONCATENATE_DATA_AND_BASE),
    MECH(CKM_XOR_BASE_AND_DATA),
    MECH(CKM_PKCS5_PBKD2),
    MECH(CKM_HKDF_DERIVE),
    MECH(CKM_HKDF_DATA),
    MECH(CKM_HKDF_KEY_GEN),
    /* DES and triple DES */
    MECH(CKM_DES_KEY_GEN),
    MECH(CKM_DES_ECB),
    MECH(CKM_DES_CBC),
    MECH(CKM_DES_MAC),
    MECH(CKM_DES_CBC_PAD),
    MECH(CKM_DES2_KEY_GEN),
    MECH(CKM_DES3_KEY_GEN),
    MECH(CKM_DES3_ECB),
    MECH(CKM_DES3_CBC),
    MECH(CKM_DES3_MAC),
    MECH(CKM_DES3_CBC_PAD),
    MECH(CKM_DES3_CMAC_GENERAL),
    MECH(CKM_DES3_CMAC),
    MECH(CKM_DES_ECB_ENCRYPT_DATA),
    MECH(CKM_DES_CBC_ENCRYPT_DATA),
    MECH(CKM_DES3_ECB_ENCRYPT_DATA),
    MECH(CKM_DES3_CBC_ENCRYPT_DATA),
    /* EC */
    MECH(CKM_EC_KEY_PAIR_GEN),
    MECH(CKM_ECDSA),
    MECH(CKM_ECDSA_SHA1),
    MECH(CKM_ECDSA_SHA224),
    MECH(CKM_ECDSA_SHA256),
    MECH(CKM_ECDSA_SHA384),
    MECH(CKM_ECDSA_SHA512),
    MECH(CKM_ECDSA_SHA3_224),
    MECH(CKM_ECDSA_SHA3_256),
    MECH(CKM_ECDSA_SHA3_384),
    MECH(CKM_ECDSA_SHA3_512),
    MECH(CKM_ECDH1_DERIVE),
    MECH(CKM_ECDH1_COFACTOR_DERIVE),
    MECH(CKM_EC_EDWARDS_KEY_PAIR_GEN),
    MECH(CKM_EC_MONTGOMERY_KEY_PAIR_GEN),
    MECH(CKM_EDDSA),
    /* AES */
    MECH(CKM_AES_KEY_GEN),
    MECH(CKM_AES_ECB),
    MECH(CKM_AES_CBC),
    MECH(CKM_AES_MAC),
    MECH(CKM_AES_MAC_GENERAL),
    MECH(CKM_AES_CBC_PAD),
    MECH(CKM_AES_CTR),
    MECH(CKM_AES_GCM),
    MECH(CKM_AES_CCM),
    MECH(CKM_AES_CTS),
    MECH(CKM_AES_CMAC),
    MECH(CKM_AES_CMAC_GENERAL),
    MECH(CKM_AES_XCBC_MAC),
    MECH(CKM_AES_GMAC),
    MECH(CKM_AES_OFB),
    MECH(CKM_AES_CFB8),
    MECH(CKM_AES_CFB64),
    MECH(CKM_AES_CFB128),
    MECH(CKM_AES_KEY_WRAP),
    MECH(CKM_AES_KEY_WRAP_PAD),
    MECH(CKM_AES_KEY_WRAP_KWP),
    MECH(CKM_AES_ECB_ENCRYPT_DATA),
    MECH(CKM_AES_CBC_ENCRYPT_DATA),
};

#undef MECH

static const char *mech_name(CK_MECHANISM_TYPE type)
{
    size_t i;

    for (i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++)
        if (mech_names[i].type == type)
            return mech_names[i].name;
    return NULL;
}

static void mechs_usage(FILE *out)
{
    fputs("usage: p11mechs MODULE SLOT_ID\n"
          "Print the mechanisms of the token in SLOT_ID (decimal), one\n"
          "CKM_* name per line; mechanisms without a known name print as\n"
          "0x... hex.\n",
          out);
}

/* Reads a decimal slot ID, rejecting anything strtoul would skip. */
static int mechs_parse_slot(const char *s, CK_SLOT_ID *slot)
{
    unsigned long v;
    char *end;

    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    *slot = v;
    return 1;
}

static int mechs_print(CK_FUNCTION_LIST_PTR p11, CK_SLOT_ID slot)
{
    CK_MECHANISM_TYPE_PTR list = NULL;
    CK_ULONG count = 0;
    CK_ULONG i;
    CK_RV rv;

    /* The list can grow between the two calls on a live token; retry. */
    for (;;) {
        rv = p11->C_GetMechanismList(slot, NULL, &count);
        if (rv != CKR_OK)
            break;
        free(list);
        list = calloc(count ? count : 1, sizeof(*list));
        if (list == NULL) {
            fputs("p11mechs: out of memory\n", stderr);
            return 0;
        }
        rv = p11->C_GetMechanismList(slot, list, &count);
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (rv != CKR_OK) {
        fprintf(stderr, "p11mechs: C_GetMechanismList: CKR 0x%08lx\n", rv);
        free(list);
        return 0;
    }
    for (i = 0; i < count; i++) {
        const char *name = mech_name(list[i]);

        if (name != NULL)
            printf("%s\n", name);
        else
            printf("0x%08lx\n", list[i]);
    }
    free(list);
    return 1;
}

int main(int argc, char **argv)
{
    /* The provider's own setting, so that a module needing arguments
     * (NSS's softokn) is listed the way pkcs11be will see it. */
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK,
                                      .pReserved =
                                          getenv("P11BE_MODULE_INIT_ARGS")};
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR p11 = NULL;
    CK_SLOT_ID slot;
    int ret = 1;
    void *handle;
    CK_RV rv;

    if (argc == 2 && (argv[1][0] == '-' && argv[1][1] == 'h')) {
        mechs_usage(stdout);
        return 0;
    }
    if (argc != 3 || !mechs_parse_slot(argv[2], &slot)) {
        mechs_usage(stderr);
        return 2;
    }
    handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "p11mechs: %s\n", dlerror());
        return 1;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL) {
        fprintf(stderr, "p11mechs: %s: no C_GetFunctionList\n", argv[1]);
        goto out_close;
    }
    rv = get_list(&p11);
    if (rv != CKR_OK || p11 == NULL) {
        fprintf(stderr, "p11mechs: C_GetFunctionList: CKR 0x%08lx\n", rv);
        goto out_close;
    }
    rv = p11->C_Initialize(&init_args);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11mechs: C_Initialize: CKR 0x%08lx\n", rv);
        goto out_close;
    }
    if (mechs_print(p11, slot))
        ret = 0;
    rv = p11->C_Finalize(NULL);
    if (rv != CKR_OK) {
        fprintf(stderr, "p11mechs: C_Finalize: CKR 0x%08lx\n", rv);
        ret = 1;
    }
    if (fflush(stdout) != 0) {
        perror("p11mechs: stdout");
        ret = 1;
    }
out_close:
    dlclose(handle);
    return ret;
}
