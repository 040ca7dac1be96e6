/* Unit tests for SHA-256: FIPS 180-4's examples, and agreement with OpenSSL on every length across block edges and split updates. */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/sha256.h"

static void hex_of(const uint8_t *d, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_digest(const char *msg, size_t len, const char *expected)
{
    struct sha256 h;
    uint8_t d[SHA256_DIGEST_SIZE];
    char hex[65];
    sha256_init(&h);
    sha256_update(&h, msg, len);
    sha256_final(&h, d);
    hex_of(d, hex);
    ck_assert_str_eq(hex, expected);
}

START_TEST(test_fips_examples)
{
    check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_agrees_with_openssl)
{
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof msg; len++) {
        uint8_t ours[32], theirs[32];
        unsigned n = 0;
        ck_assert(EVP_Digest(msg, len, theirs, &n, EVP_sha256(), NULL) == 1);
        struct sha256 h;
        sha256_init(&h);
        size_t split = len / 3; /* in two pieces: the salt and the password are */
        sha256_update(&h, msg, split);
        sha256_update(&h, msg + split, len - split);
        sha256_final(&h, ours);
        ck_assert_msg(memcmp(ours, theirs, 32) == 0, "length %zu differs", len);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sha256");
    TCase *tc = tcase_create("sha256");
    tcase_add_test(tc, test_fips_examples);
    tcase_add_test(tc, test_agrees_with_openssl);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
