/* What the API's resource files share: the request being answered and the replies. */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "admin/api.h"
#include "amqp_buf.h"
#include "amqp_types.h"
#include "admin/http.h"
#include "model/outcome.h"
#include "model/session.h"

#define API_MAX_SEGMENTS 10

/* The RabbitMQ release whose management API (and Prometheus plugin) these follow. */
#define API_RABBITMQ_VERSION "3.10.8"

struct api_request {
    struct api *api;
    const struct http_request *http;
    struct http_response *res;
    char *seg[API_MAX_SEGMENTS]; /* the URL-decoded path segments after /api */
    size_t seglen[API_MAX_SEGMENTS];
    int nseg;
    const char *user;
    struct user *auth;       /* the user the request authenticated as */
    struct session session;  /* who the model's verbs run as; see api_session */
};

/* A route's handler; seg[0] is the resource ("queues"), wildcards follow. */
typedef void (*api_handler)(struct api_request *r);

/* Replies. Each sets r->res; json variants take the reference to body. */
void api_reply_json(struct api_request *r, int status, json_t *body);
/* A list, with RabbitMQ's ?columns=, and ?page=&page_size=&name= pagination. */
void api_reply_list(struct api_request *r, json_t *items);
/* One object, with ?columns=. */
void api_reply_object(struct api_request *r, json_t *object);
void api_reply_empty(struct api_request *r, int status);
void api_reply_error(struct api_request *r, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_not_found(struct api_request *r);
/* A model operation's failure, as RabbitMQ's API reports that AMQP code. */
void api_reply_outcome(struct api_request *r, const struct outcome *out);

/* The request body as a JSON object; NULL after replying 400 not_json. An empty body is {}. */
json_t *api_body_object(struct api_request *r);
/* A body's "arguments" (absent or null: none) as a table body into out; false after
 * replying 400. */
bool api_body_arguments(struct api_request *r, const json_t *body, struct amqp_buf *out);
/* A body's boolean member, given as true/false or "true"/"false"; dflt when absent. */
bool api_body_bool(const json_t *body, const char *key, bool dflt);
/* A query parameter's value, or NULL; the caller frees it. */
char *api_query(const struct api_request *r, const char *key);
bool api_query_true(const struct api_request *r, const char *key);
/* The vhost the segment names; NULL after replying 404. */
struct vhost *api_vhost(struct api_request *r, int seg);
/* Every vhost's objects (seg < 0), or those of the vhost segment seg names: add appends one
 * vhost's to the list. NULL after replying 404. */
typedef void (*api_vhost_adder)(struct api_request *r, json_t *list, struct vhost *v);
json_t *api_collect(struct api_request *r, int seg, api_vhost_adder add);
/* RabbitMQ's visibility: administrators and monitoring users see every vhost and
 * connection, management users the vhosts they have permissions in and their own connections. */
bool api_sees_everything(const struct api_request *r);
bool api_may_see_vhost(const struct api_request *r, const struct vhost *v);
/* The request's user in vhost v, for the model's verbs: AMQP's permission rules apply. */
struct session *api_session(struct api_request *r, struct vhost *v);

/* message_stats (api_stats.c): set on o only once something was counted. */
struct message_stats;
struct message_rates;
json_t *api_rate_details(double rate);
void api_put_queue_stats(struct api *a, json_t *o, const struct message_stats *s,
                         struct message_rates *rates);
void api_put_channel_stats(struct api *a, json_t *o, const struct message_stats *s,
                           struct message_rates *rates);
json_t *api_overview_stats(struct api *a, const struct message_stats *s,
                           struct message_rates *rates);
/* The broker's totals: closed channels' and the API's, plus every open channel's. */
void api_message_totals(struct api *a, struct message_stats *out);

/* consumer_details: every consumer of q, as /api/consumers shows them. */
json_t *api_queue_consumers(struct api_request *r, const struct queue *q);

/* JSON helpers */
void api_sort(json_t *array); /* by vhost, then name, as RabbitMQ lists */

/* base64 (RFC 4648) into out; false when malformed. */
bool api_base64_decode(const char *in, size_t len, struct amqp_buf *out);
json_t *api_base64_encode(const void *p, size_t len);

struct vhost;
struct binding;
struct queue;
/* A binding as RabbitMQ shows it, and the one the default exchange implies for a queue. */
json_t *api_binding_object(const struct vhost *v, const struct binding *b);
json_t *api_default_binding(const struct vhost *v, const struct queue *q);
/* The name an exchange has in paths: "amq.default" is the default exchange "". */
struct amqp_bytes api_exchange_name(const struct api_request *r, int seg);

/* The policy fields RabbitMQ shows: a queue's policy, operator_policy (names or null) and
 * effective_policy_definition; an exchange's policy, only when one applies. */
struct exchange;
void api_queue_policy_fields(json_t *o, const struct queue *q);
void api_exchange_policy_field(json_t *o, const struct exchange *x);

/* RabbitMQ's "[{key_missing,K},...]" for the keys a body lacks; false after replying 400. */
bool api_require_keys(struct api_request *r, json_t *body, const char *const *keys, size_t n);

/* Resources */
void api_overview(struct api_request *r);
void api_whoami(struct api_request *r);
void api_nodes(struct api_request *r);
void api_node(struct api_request *r);
void api_vhosts(struct api_request *r);
void api_vhost_one(struct api_request *r);
void api_aliveness(struct api_request *r);
void api_health_alarms(struct api_request *r);
void api_memory_watermark(struct api_request *r);
void api_disk_free_limit_route(struct api_request *r);
/* api_traces.c: GET /api/warren/traces, and one trace per connection or vhost */
void api_traces(struct api_request *r);
void api_trace(struct api_request *r);
/* Connections gathered for a request (api_connections.c); the caller frees items. */
struct api_conn_list {
    struct connection **items;
    size_t len, cap;
};
void api_all_connections(struct api *a, struct api_conn_list *l);
void api_conn_list_push(struct api_conn_list *l, struct connection *c);
/* api_faults.c: fault injection, refused unless enabled */
void api_faults(struct api_request *r);
void api_fault_alarms(struct api_request *r);
void api_fault_connection(struct api_request *r);
void api_health_port_listener(struct api_request *r);
void api_health_virtual_hosts(struct api_request *r);
void api_health_protocol_listener(struct api_request *r);
void api_global_parameters(struct api_request *r);


void api_users(struct api_request *r);
void api_user(struct api_request *r);
void api_user_permissions(struct api_request *r);
void api_user_limits(struct api_request *r);
void api_vhost_limits(struct api_request *r);
void api_permission_lists(struct api_request *r);
void api_permission(struct api_request *r);
void api_topic_permission(struct api_request *r);
void api_definitions(struct api_request *r);
void api_policies(struct api_request *r);
void api_parameters(struct api_request *r);

void api_exchanges(struct api_request *r);
void api_exchange(struct api_request *r);
void api_exchange_bindings(struct api_request *r);
void api_exchange_publish(struct api_request *r);

void api_queues(struct api_request *r);
void api_queue(struct api_request *r);
void api_queue_contents(struct api_request *r);
void api_queue_get(struct api_request *r);
void api_queue_peek(struct api_request *r);
void api_queue_bindings(struct api_request *r);

void api_bindings(struct api_request *r);
void api_bindings_between(struct api_request *r);
void api_binding(struct api_request *r);

void api_connections(struct api_request *r);
void api_connection(struct api_request *r);
void api_connection_channels(struct api_request *r);
void api_channels(struct api_request *r);
void api_channel(struct api_request *r);
void api_consumers(struct api_request *r);

#endif
