/* Serves the web UI's embedded files at RabbitMQ's paths: "/" (the index), /js/..., /css/.... */
#include "admin/ui.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *content_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Only names in the table are served, compared whole: "..", "%2e" and the like never match. */
static const struct ui_file *find_file(const char *path)
{
    if (!strcmp(path, "/"))
        path = "/index.html";
    for (const struct ui_file *f = ui_files; f->path; f++)
        if (!strcmp(f->path, path))
            return f;
    return NULL;
}

static void reply_text(struct http_response *res, int status, const char *text)
{
    res->status = status;
    res->body_len = strlen(text);
    res->body = xmalloc(res->body_len);
    memcpy(res->body, text, res->body_len);
    res->json = false;
    snprintf(res->headers + strlen(res->headers), sizeof res->headers - strlen(res->headers),
             "content-type: text/plain; charset=utf-8\r\n");
}

void ui_serve(const struct http_request *req, struct http_response *res)
{
    free(res->body);
    res->body = NULL;
    res->headers[0] = '\0';
    const struct ui_file *f = find_file(req->path);
    if (!f) {
        reply_text(res, 404, "Not Found\n");
        return;
    }
    if (req->method != HTTP_GET) { /* http.c has made HEAD a GET already */
        snprintf(res->headers, sizeof res->headers, "allow: HEAD, GET, OPTIONS\r\n");
        if (req->method == HTTP_OPTIONS) {
            res->status = 200;
            res->body_len = 0;
            return;
        }
        reply_text(res, 405, "Method Not Allowed\n");
        return;
    }
    /* The files change only with the binary: the browser asks again each time (no-cache),
     * and the page may run nothing but its own scripts. */
    snprintf(res->headers, sizeof res->headers,
             "content-type: %s\r\ncache-control: no-cache\r\nx-content-type-options: nosniff\r\n"
             "content-security-policy: default-src 'self'; img-src 'self' data:; "
             "frame-ancestors 'none'\r\n",
             content_type(f->path));
    res->status = 200;
    res->body_len = f->len;
    res->body = xmalloc(f->len ? f->len : 1);
    memcpy(res->body, f->data, f->len);
}
