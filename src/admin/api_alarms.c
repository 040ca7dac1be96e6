/* /api/warren/vm-memory-high-watermark and /api/warren/disk-free-limit: rabbitmqctl's runtime limit changes, which RabbitMQ offers over its CLI only. */
#include <stdio.h>
#include <string.h>

#include "admin/api_internal.h"
#include "core/information_unit.h"
#include "model/broker.h"

/* A byte count as RabbitMQ's commands take it: an integer, or a string with units ("2GB"). */
static bool byte_count(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    return json_is_string(v) && information_unit_parse(json_string_value(v), out);
}

static bool fraction(const json_t *v, double max, double *out)
{
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return *out >= 0.0 && *out <= max;
}

static json_t *memory_state(const struct alarms *a)
{
    return json_pack("{s:I,s:I,s:b}", "limit", (json_int_t)a->memory_limit, "used",
                     (json_int_t)a->memory_used, "alarm", alarms_memory_alarm(a));
}

static json_t *disk_state(const struct alarms *a)
{
    return json_pack("{s:I,s:I,s:b}", "limit", (json_int_t)a->disk_free_limit, "free",
                     (json_int_t)a->disk_free, "alarm", alarms_disk_alarm(a));
}

/* GET: the limit, the last sample and the alarm. PUT {"relative": 0.4} or {"absolute": "1GB"}. */
void api_memory_watermark(struct api_request *r)
{
    struct alarms *a = &r->api->broker->alarms;
    if (r->http->method == HTTP_GET) {
        api_reply_json(r, 200, memory_state(a));
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const json_t *relative = json_object_get(body, "relative");
    const json_t *absolute = json_object_get(body, "absolute");
    double f = 0;
    uint64_t bytes = 0;
    if (!relative == !absolute) {
        api_reply_error(r, 400, "bad_request", "give one of relative or absolute");
    } else if (relative && !fraction(relative, 1.0, &f)) {
        api_reply_error(r, 400, "bad_request",
                        "The threshold should be a fraction between 0.0 and 1.0");
    } else if (absolute && (!byte_count(absolute, &bytes) || bytes == 0)) {
        api_reply_error(r, 400, "bad_request", "Invalid units.");
    } else {
        alarms_set_memory_watermark(a, f, bytes);
        api_reply_json(r, 200, memory_state(a));
    }
    json_decref(body);
}

/* GET as above. PUT {"absolute": "50MB"} or {"mem_relative": 1.5}. */
void api_disk_free_limit_route(struct api_request *r)
{
    struct alarms *a = &r->api->broker->alarms;
    if (r->http->method == HTTP_GET) {
        api_reply_json(r, 200, disk_state(a));
        return;
    }
    json_t *body = api_body_object(r);
    if (!body)
        return;
    const json_t *relative = json_object_get(body, "mem_relative");
    const json_t *absolute = json_object_get(body, "absolute");
    double f = 0;
    uint64_t bytes = 0;
    if (!relative == !absolute) {
        api_reply_error(r, 400, "bad_request", "give one of mem_relative or absolute");
    } else if (relative && !fraction(relative, 1e9, &f)) {
        api_reply_error(r, 400, "bad_request", "mem_relative should be a number of 0 or more");
    } else if (absolute && !byte_count(absolute, &bytes)) {
        api_reply_error(r, 400, "bad_request", "Invalid units.");
    } else {
        alarms_set_disk_free_limit(a, f, bytes);
        api_reply_json(r, 200, disk_state(a));
    }
    json_decref(body);
}
