/* Unit tests: users' password hashes and tags, permission patterns as RabbitMQ matches them,
 * and the session's permission and topic checks. */
#include <check.h>
#include <string.h>

#include "amqp_spec.h"
#include "model/permission.h"
#include "model/session.h"
#include "model/user.h"
#include "model/vhost.h"

static bool matches(const char *pattern, const char *name)
{
    struct permission_regex r;
    char err[200];
    ck_assert_msg(permission_regex_compile(&r, pattern, err, sizeof err), "%s: %s", pattern, err);
    bool m = permission_regex_matches(&r, (const uint8_t *)name, strlen(name));
    permission_regex_free(&r);
    return m;
}

START_TEST(test_patterns_search_like_erlang_re)
{
    ck_assert(matches("q", "myqueue"));        /* a search, not a whole-name match */
    ck_assert(!matches("^q$", "myqueue"));
    ck_assert(matches("^q$", "q"));
    ck_assert(matches(".*", "anything"));
    ck_assert(matches(".*", ""));
    ck_assert(matches("", ""));                /* "" stands for "^$" */
    ck_assert(!matches("", "q"));
    ck_assert(matches("^amq\\.gen-", "amq.gen-abc"));
    ck_assert(!matches("^amq\\.gen-", "amqXgen-abc"));
    ck_assert(matches("^(a|b)$", "b"));
    ck_assert(matches("\xe9", "caf\xe9"));     /* bytes, not UTF-8 */
    struct permission_regex r;
    char err[200];
    ck_assert(!permission_regex_compile(&r, "(", err, sizeof err));
    ck_assert(strstr(err, "missing closing parenthesis") != NULL);
}
END_TEST

START_TEST(test_password_hashes)
{
    struct user *u = user_new("bob");
    ck_assert(!user_check_password(u, (const uint8_t *)"", 0)); /* no password: no login */
    user_set_password(u, (const uint8_t *)"secret", 6);
    ck_assert(user_check_password(u, (const uint8_t *)"secret", 6));
    ck_assert(!user_check_password(u, (const uint8_t *)"secreT", 6));
    ck_assert_int_eq(u->hash_len, 36);
    /* base64(salt 01020304 ++ H(salt ++ "secret")), as RabbitMQ's modules write them */
    static const struct { const char *hash; enum password_hashing h; } known[] = {
        {"AQIDBDB9kM21iEUzN1lZ+6VReCsdNqS0sERdAQTcY6Xs3PMz", PASSWORD_SHA256},
        {"AQIDBPhTH2L5HGYB1LWOrn+YpvuQmVOXKGqgsuiJRIZTILRoEvblSJo/WAsym3IZTfuaIaK5KR2o5KwFfTv6KsxfMIE=",
         PASSWORD_SHA512},
        {"AQIDBDgk9ci8Lfh6CKE9Y0AUfmU=", PASSWORD_MD5},
    };
    for (size_t i = 0; i < 3; i++) {
        ck_assert(user_set_password_hash(u, known[i].hash, known[i].h));
        ck_assert(user_check_password(u, (const uint8_t *)"secret", 6));
        ck_assert(!user_check_password(u, (const uint8_t *)"other", 5));
        char back[USER_HASH_BASE64_SIZE];
        user_password_hash_base64(u, back);
        ck_assert_str_eq(back, known[i].hash);
    }
    /* a digest of the wrong size for the algorithm, or not base64 */
    ck_assert(!user_set_password_hash(u, known[2].hash, PASSWORD_SHA256));
    ck_assert(!user_set_password_hash(u, "not base64!", PASSWORD_SHA256));
    enum password_hashing h;
    ck_assert(user_parse_hashing("rabbit_password_hashing_sha512", &h) && h == PASSWORD_SHA512);
    ck_assert(!user_parse_hashing("sha512", &h));
    ck_assert(user_set_password_hash(u, "", PASSWORD_SHA256));
    ck_assert(!user_check_password(u, (const uint8_t *)"", 0));
    user_free(u);
}
END_TEST

START_TEST(test_tags)
{
    struct user *u = user_new("bob");
    const char *tags[] = {"monitoring", "", "custom", "policymaker"};
    user_set_tags(u, tags, 4);
    ck_assert_uint_eq(u->tags.count, 3);
    ck_assert_str_eq(u->tags.items[1], "custom");
    ck_assert(user_has_tag(u, USER_TAG_MONITORING) && user_has_tag(u, USER_TAG_POLICYMAKER));
    ck_assert(!user_has_tag(u, USER_TAG_ADMINISTRATOR));
    user_set_tags(u, NULL, 0);
    ck_assert(!user_has_tag(u, USER_TAG_MONITORING));
    user_free(u);
}
END_TEST

START_TEST(test_session_checks)
{
    struct vhost *v = vhost_new("/");
    struct user *u = user_new("u");
    char err[200];
    permission_set_put(&v->permissions, permission_new("u", "^mine", "", ".*", err, sizeof err));
    struct session s;
    vhost_transient_session(v, &s, u);
    struct outcome out;
    ck_assert(session_may(NULL, PERMISSION_WRITE, RESOURCE_QUEUE, amqp_cstr("x"), &out));
    ck_assert(session_may(&s, PERMISSION_CONFIGURE, RESOURCE_QUEUE, amqp_cstr("mine.1"), &out));
    ck_assert(!session_may(&s, PERMISSION_CONFIGURE, RESOURCE_QUEUE, amqp_cstr("q"), &out));
    ck_assert_uint_eq(out.code, AMQP_ACCESS_REFUSED);
    ck_assert_str_eq(out.text, "access to queue 'q' in vhost '/' refused for user 'u'");
    ck_assert(!session_may(&s, PERMISSION_WRITE, RESOURCE_EXCHANGE, amqp_cstr(""), &out));
    ck_assert_str_eq(out.text, "access to exchange 'amq.default' in vhost '/' refused for user 'u'");
    /* a change is seen at the next check */
    permission_set_put(&v->permissions, permission_new("u", "", ".*", "", err, sizeof err));
    ck_assert(session_may(&s, PERMISSION_WRITE, RESOURCE_EXCHANGE, amqp_cstr(""), &out));
    ck_assert(!session_may(&s, PERMISSION_READ, RESOURCE_QUEUE, amqp_cstr("q"), &out));
    permission_set_remove(&v->permissions, "u");
    ck_assert(!session_may(&s, PERMISSION_WRITE, RESOURCE_EXCHANGE, amqp_cstr(""), &out));
    /* topic permissions: none for an exchange allows every key; variables are expanded */
    ck_assert(session_may_topic(&s, PERMISSION_WRITE, amqp_cstr("t"), amqp_cstr("any"), &out));
    permission_set_put_topic(&v->permissions,
                             topic_permission_new("u", "/", "t", "^{username}\\.", "^{vhost}$",
                                                  err, sizeof err));
    ck_assert(session_may_topic(&s, PERMISSION_WRITE, amqp_cstr("t"), amqp_cstr("u.x"), &out));
    ck_assert(!session_may_topic(&s, PERMISSION_WRITE, amqp_cstr("t"), amqp_cstr("w.x"), &out));
    ck_assert_str_eq(out.text, "access to topic 'w.x' in exchange 't' in vhost '/' refused for "
                               "user 'u'");
    ck_assert(session_may_topic(&s, PERMISSION_READ, amqp_cstr("t"), amqp_cstr("/"), &out));
    ck_assert(session_may_topic(&s, PERMISSION_WRITE, amqp_cstr("other"), amqp_cstr("w"), &out));
    ck_assert(permission_set_remove_topic(&v->permissions, "u", NULL));
    ck_assert(session_may_topic(&s, PERMISSION_WRITE, amqp_cstr("t"), amqp_cstr("w.x"), &out));
    vhost_unref(v);
    user_free(u);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("permission");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_patterns_search_like_erlang_re);
    tcase_add_test(tc, test_password_hashes);
    tcase_add_test(tc, test_tags);
    tcase_add_test(tc, test_session_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
