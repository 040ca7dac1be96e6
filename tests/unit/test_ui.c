/* Unit tests for the web UI's file server: the embedded table, content types, 404 and 405. */
#include <check.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ui.h"

/* The answer to method on path, as the API's handler would pass it on. */
static struct http_response serve(int method, const char *path)
{
    struct http_request req = {.method = method, .path = path, .query = ""};
    struct http_response res = {.status = 500};
    ui_serve(&req, &res);
    return res;
}

static bool has_header(const struct http_response *res, const char *line)
{
    return strstr(res->headers, line) != NULL;
}

START_TEST(test_every_file_is_named_from_the_root_and_not_empty)
{
    size_t n = 0;
    for (const struct ui_file *f = ui_files; f->path; f++, n++) {
        ck_assert_msg(f->path[0] == '/' && !strstr(f->path, ".."), "%s", f->path);
        ck_assert_msg(f->len > 0, "%s is empty", f->path);
    }
    ck_assert_uint_ge(n, 10);
}
END_TEST

START_TEST(test_root_is_the_index_as_html)
{
    struct http_response root = serve(HTTP_GET, "/"), index = serve(HTTP_GET, "/index.html");
    ck_assert_int_eq(root.status, 200);
    ck_assert(!root.json);
    ck_assert(has_header(&root, "content-type: text/html; charset=utf-8\r\n"));
    ck_assert(has_header(&root, "cache-control: no-cache\r\n"));
    ck_assert_uint_eq(root.body_len, index.body_len);
    ck_assert(memcmp(root.body, index.body, root.body_len) == 0);
    ck_assert(memmem(root.body, root.body_len, "js/main.js", 10) != NULL);
    free(root.body);
    free(index.body);
}
END_TEST

START_TEST(test_scripts_and_styles_have_their_types)
{
    struct http_response js = serve(HTTP_GET, "/js/main.js"), css = serve(HTTP_GET, "/css/main.css");
    ck_assert_int_eq(js.status, 200);
    ck_assert(has_header(&js, "content-type: text/javascript; charset=utf-8\r\n"));
    ck_assert_int_eq(css.status, 200);
    ck_assert(has_header(&css, "content-type: text/css; charset=utf-8\r\n"));
    free(js.body);
    free(css.body);
}
END_TEST

START_TEST(test_unknown_names_and_tricks_are_404)
{
    static const char *const paths[] = {"/nope", "/js/../index.html", "/../index.html", "/%2e%2e/index.html",
                                        "//index.html", "/index.html/", "/js", "/js/", "", "/JS/MAIN.JS"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct http_response res = serve(HTTP_GET, paths[i]);
        ck_assert_msg(res.status == 404, "%s: %d", paths[i], res.status);
        ck_assert(has_header(&res, "content-type: text/plain; charset=utf-8\r\n"));
        free(res.body);
    }
}
END_TEST

START_TEST(test_writes_are_405_with_allow)
{
    static const int methods[] = {HTTP_POST, HTTP_PUT, HTTP_DELETE};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct http_response res = serve(methods[i], "/");
        ck_assert_int_eq(res.status, 405);
        ck_assert(has_header(&res, "allow: HEAD, GET, OPTIONS\r\n"));
        free(res.body);
    }
    struct http_response options = serve(HTTP_OPTIONS, "/js/main.js");
    ck_assert_int_eq(options.status, 200);
    ck_assert_uint_eq(options.body_len, 0);
    free(options.body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("serve");
    tcase_add_test(tc, test_every_file_is_named_from_the_root_and_not_empty);
    tcase_add_test(tc, test_root_is_the_index_as_html);
    tcase_add_test(tc, test_scripts_and_styles_have_their_types);
    tcase_add_test(tc, test_unknown_names_and_tricks_are_404);
    tcase_add_test(tc, test_writes_are_405_with_allow);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
