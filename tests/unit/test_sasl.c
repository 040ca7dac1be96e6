/* Unit tests for SASL: what connection.start offers, and start-ok responses into credentials. */
#include <check.h>
#include <string.h>

#include "proto/sasl.h"

static const char *offer(const struct broker_config *cfg, bool tls)
{
    static char out[64];
    sasl_offer(cfg, tls, out, sizeof out);
    return out;
}

START_TEST(test_offer_follows_rabbitmq)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    ck_assert_str_eq(offer(&cfg, false), "PLAIN AMQPLAIN");
    ck_assert_str_eq(offer(&cfg, true), "PLAIN AMQPLAIN"); /* EXTERNAL only when configured */
    /* RabbitMQ lists in its registry's order, not auth_mechanisms.N's */
    static const char *const all[] = {"EXTERNAL", "AMQPLAIN", "PLAIN"};
    cfg.auth_mechanisms = all;
    cfg.auth_mechanism_count = 3;
    ck_assert_str_eq(offer(&cfg, true), "PLAIN AMQPLAIN EXTERNAL");
    ck_assert_str_eq(offer(&cfg, false), "PLAIN AMQPLAIN");
    ck_assert(sasl_offered(&cfg, true, amqp_cstr("EXTERNAL")));
    ck_assert(!sasl_offered(&cfg, false, amqp_cstr("EXTERNAL")));
    static const char *const external_only[] = {"EXTERNAL", "ANONYMOUS"};
    cfg.auth_mechanisms = external_only;
    cfg.auth_mechanism_count = 2;
    ck_assert_str_eq(offer(&cfg, true), "EXTERNAL");
    ck_assert_str_eq(offer(&cfg, false), "");
    ck_assert(!sasl_offered(&cfg, true, amqp_cstr("PLAIN")));
    ck_assert(!sasl_offered(&cfg, true, amqp_cstr("ANONYMOUS")));
}
END_TEST

START_TEST(test_parse)
{
    struct sasl_credentials c;
    static const uint8_t plain[] = "\0guest\0secret";
    ck_assert_int_eq(sasl_parse(amqp_cstr("PLAIN"), amqp_bytes_of(plain, sizeof plain - 1), &c),
                     SASL_OK);
    ck_assert(amqp_bytes_eq_cstr(c.user, "guest") && amqp_bytes_eq_cstr(c.password, "secret"));
    ck_assert(!c.external);
    ck_assert_int_eq(sasl_parse(amqp_cstr("EXTERNAL"), amqp_cstr("ignored"), &c), SASL_OK);
    ck_assert(c.external && c.user.len == 0);
    ck_assert_int_eq(sasl_parse(amqp_cstr("CRAM-MD5"), amqp_cstr(""), &c), SASL_UNKNOWN_MECHANISM);
    ck_assert_int_eq(sasl_parse(amqp_cstr("PLAIN"), amqp_cstr("guest"), &c), SASL_MALFORMED);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sasl");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_offer_follows_rabbitmq);
    tcase_add_test(tc, test_parse);
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
