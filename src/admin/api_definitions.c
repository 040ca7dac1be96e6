/* The management API's definitions: GET exports, POST imports, of everything or one vhost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_internal.h"
#include "admin/definitions.h"
#include "model/broker.h"

void api_definitions(struct api_request *r)
{
    struct vhost *only = NULL;
    if (r->nseg == 2 && !(only = api_vhost(r, 1)))
        return;
    if (r->http->method == HTTP_POST) {
        json_t *parsed = json_loadb(r->http->body, r->http->body_len, 0, NULL);
        char why[512];
        if (!json_is_object(parsed))
            api_reply_error(r, 400, "bad_request", "failed_to_parse_json");
        else if (definitions_import_json(r->api->broker, parsed, only, why, sizeof why))
            api_reply_empty(r, 204);
        else
            api_reply_error(r, 400, "bad_request", "%s", why);
        json_decref(parsed);
        return;
    }
    json_t *body = definitions_export(r->api->broker, only);
    char *download = api_query(r, "download");
    if (download) {
        snprintf(r->res->headers, sizeof r->res->headers,
                 "content-disposition: attachment; filename=%s\r\n", download);
        free(download);
    }
    api_reply_json(r, 200, body);
}
