/* The web UI's static files, embedded at build time and served beside the management API. */
#ifndef UI_H
#define UI_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/http.h"

/* One embedded file; path as served ("/js/main.js"). */
struct ui_file {
    const char *path;
    const unsigned char *data;
    size_t len;
};

/* Every file, ended by one with a NULL path (generated: ui_files.c). */
extern const struct ui_file ui_files[];

/* Answers a request for a path outside /api: the file, or 404, or 405 for other methods. */
void ui_serve(const struct http_request *req, struct http_response *res);

#endif
