/* The broker: configuration, users and vhosts; the root every other object hangs off. */
#ifndef BROKER_H
#define BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/heap.h"
#include "core/list.h"
#include "core/log.h"
#include "model/definitions_ops.h"
#include "model/churn.h"
#include "model/compat.h"
#include "model/alarm.h"
#include "model/message_stats.h"
#include "model/user.h"
#include "model/vhost.h"

/* An address to listen on; host NULL: every interface (RabbitMQ's port-only form). */
struct broker_listener {
    const char *host;
    int port;
};

/* A port setting asking the kernel for a free port, where 0 already means "no listener"
 * (--port 0 for the HTTP listeners left at their defaults, --tls-port 0); once bound the
 * server writes the port it got back into the configuration. */
#define BROKER_PORT_FREE (-1)

/* connection_max = infinity, RabbitMQ's default. */
#define BROKER_NO_CONNECTION_MAX (-1)

/* TCP (or TLS) listeners one broker opens at most. */
#define BROKER_MAX_LISTENERS 16

/* rabbitmq.conf's ssl_options.*, for the TLS listeners (src/net/tls.c). */
struct broker_tls_options {
    const char *cacertfile;
    const char *certfile;
    const char *keyfile;
    const char *password;
    bool verify_peer;             /* verify = verify_peer (default verify_none) */
    bool fail_if_no_peer_cert;
    int depth;                    /* -1: the library's default */
    const char *const *versions;  /* e.g. "tlsv1.2"; none: the library's */
    size_t version_count;
    const char *const *ciphers;
    size_t cipher_count;
    bool honor_cipher_order;
};

/* How long an HTTP listener waits (management.tcp.request_timeout, .idle_timeout...): for a
 * whole request from its first byte or the connection's start, and for the next request
 * after a response. RabbitMQ's (cowboy's) 5 s and 60 s by default. */
struct broker_http_timeouts {
    uint32_t request_ms;
    uint32_t idle_ms;
};

/* management.ssl.* or prometheus.ssl.*: an HTTPS listener and its ssl options. */
struct broker_https {
    const char *bind;             /* .ip; NULL: the AMQP bind address */
    int port;                     /* 0: none */
    struct broker_tls_options tls;
    struct broker_http_timeouts timeouts;
};

/* ssl_cert_login_from: which part of a client certificate names the EXTERNAL user. */
enum broker_cert_login {
    BROKER_CERT_LOGIN_DN, /* distinguished_name (RabbitMQ's default), RFC 4514 as RabbitMQ writes it */
    BROKER_CERT_LOGIN_CN, /* common_name */
    BROKER_CERT_LOGIN_SAN, /* subject_alternative_name: ssl_cert_login_san_type's Nth */
};

/* ssl_cert_login_san_type (RabbitMQ's default dns). */
enum broker_san_type { BROKER_SAN_DNS, BROKER_SAN_EMAIL, BROKER_SAN_URI };

/* Limits default to RabbitMQ's. */
struct broker_config {
    const char *bind;
    int port;
    const char *management_bind; /* NULL: the AMQP bind address */
    int management_port;         /* 0: no management API */
    const char *prometheus_bind;
    int prometheus_port;         /* default 15692; 0: none */
    struct broker_http_timeouts management_timeouts, prometheus_timeouts; /* plain HTTP's */
    struct broker_https management_ssl; /* HTTPS for the management API (usually 15671) */
    struct broker_https prometheus_ssl; /* HTTPS for Prometheus (usually 15691) */
    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;          /* seconds */
    uint64_t max_message_size;   /* bytes */
    uint64_t handshake_timeout_ms;
    uint64_t ssl_handshake_timeout_ms; /* for the TLS handshake, before the AMQP one */
    uint64_t consumer_timeout_ms; /* an unacked delivery older than this closes its channel; 0: never */
    bool fault_injection; /* /api/warren/faults may harm clients (--enable-fault-injection) */
    const char *default_user;
    const char *default_pass;
    const char *default_vhost;
    const char *data_dir;
    enum log_level log_level;
    const struct compat *compat; /* --rabbitmq-compat, warren.rabbitmq_compat (default 3.13) */
    int64_t connection_max;      /* connections at once; BROKER_NO_CONNECTION_MAX: infinity */
    /* Fields read from rabbitmq.conf (src/config.c); the defaults are RabbitMQ's. */
    const struct broker_listener *tcp_listeners; /* listeners.tcp.*: when any, instead of bind/port */
    size_t tcp_listener_count;
    bool tcp_listeners_none;                     /* listeners.tcp = none */
    const struct broker_listener *ssl_listeners; /* listeners.ssl.* */
    int tls_port;                                /* --tls-port on bind, instead of them; 0: none */
    size_t ssl_listener_count;
    struct broker_tls_options tls;
    const char *const *auth_mechanisms;          /* auth_mechanisms.*; none: PLAIN, AMQPLAIN */
    size_t auth_mechanism_count;
    enum broker_cert_login ssl_cert_login_from;
    enum broker_san_type ssl_cert_login_san_type;
    unsigned ssl_cert_login_san_index;           /* 0: the first of that type */
    const char *load_definitions;                /* a JSON file (or directory) to import; NULL: none */
    const char *const *default_user_tags;        /* default {"administrator"} */
    size_t default_user_tag_count;
    const char *default_permission_configure;    /* default ".*" each */
    const char *default_permission_write;
    const char *default_permission_read;
    const char *const *loopback_users;           /* may log in from loopback only; default {"guest"} */
    size_t loopback_user_count;
    double vm_memory_high_watermark;             /* fraction of RAM (default 0.4) ... */
    uint64_t vm_memory_high_watermark_absolute;  /* ... unless this is set: bytes */
    uint64_t disk_free_limit;                    /* bytes (default 50 MB) ... */
    double disk_free_limit_relative;             /* ... unless this is set: a multiple of RAM */
    bool log_console;                            /* log.console (default true) */
    const char *log_file;                        /* log.file; NULL: none */
    enum log_level log_file_level;
};

struct reply_registry;
struct frame_traces;
struct message_store;

struct broker {
    struct broker_config config;
    struct log log;
    struct list users;
    struct list vhosts;
    struct clock clock;
    /* Everything timed (timeouts, heartbeats, later TTLs and expiries) is a deadline here;
     * the server fires them from one loop timer. */
    struct deadline_heap deadlines;
    char node[300]; /* the node's name as RabbitMQ's texts show it: "warren@HOST" */
    char cluster_id[32]; /* random at boot: RabbitMQ's internal_cluster_id after its prefix */
    /* The AMQP layer's direct reply-to consumers, reachable from every connection: created
     * with the first and freed with the last (src/proto/reply_to.c). */
    struct reply_registry *reply_to;
    /* The frame traces the management API asked for (src/proto/frame_trace.c); NULL: none. */
    struct frame_traces *frame_traces;
    /* What closed channels and the management API's publishes and gets counted: the
     * overview's totals are these plus every open channel's. */
    struct message_stats retired_stats;
    struct message_rates overview_rates;
    /* Where persistent messages of durable queues go; NULL: durability off (no data dir). */
    struct message_store *store;
    /* Where durable definitions are kept (src/store's journal, installed by the server);
     * ops NULL: nowhere. */
    struct definitions_hook definitions;
    struct broker_churn churn;
    struct broker_login_log {
        uint64_t logged_at_ms; /* the last failed login logged; 0: none yet */
        uint64_t left_out;     /* failed logins not logged since */
    } login_log;
    /* The memory and disk alarms: while one is in effect, publishing connections block. */
    struct alarms alarms;
};

void broker_config_defaults(struct broker_config *config);
void broker_init(struct broker *b, const struct broker_config *config);
void broker_free(struct broker *b);
/* RabbitMQ's first boot: the default user, with its tags and permissions in the default
 * vhost. The server calls it when there is nothing to recover and no definitions to load. */
void broker_create_defaults(struct broker *b);
struct user *broker_find_user(struct broker *b, const uint8_t *name, size_t len);
struct vhost *broker_find_vhost(struct broker *b, const uint8_t *name, size_t len);

/* Every vhost's durable queues keep persistent messages in `store` from now on (NULL: none). */
void broker_use_store(struct broker *b, struct message_store *store);

/* The administrative verbs, shared by every front end (HTTP API, definitions, config). */

/* A new user without password or tags; NULL when the name is taken. */
struct user *broker_add_user(struct broker *b, const char *name);
/* Closes its connections (320, RabbitMQ's text) and drops its permissions everywhere. */
void broker_delete_user(struct broker *b, struct user *u);
/* A new vhost with its standard exchanges; NULL when the name is taken. */
struct vhost *broker_add_vhost(struct broker *b, const char *name);
/* Closes its connections with 320 and removes everything in it. */
void broker_delete_vhost(struct broker *b, struct vhost *v);
/* Sets the user's permissions in the vhost; false (with PCRE2's reason) for a bad pattern. */
bool broker_set_permissions(struct broker *b, struct vhost *v, const char *user,
                            const char *configure, const char *write, const char *read,
                            char *err, size_t err_size);
bool broker_set_topic_permissions(struct broker *b, struct vhost *v, const char *user,
                                  const char *exchange, const char *write, const char *read,
                                  char *err, size_t err_size);

/* For front ends that change users, vhosts, permissions, limits or policies by hand (the
 * verbs above report their own changes): the settings changed. */
void broker_settings_changed(struct broker *b);
/* Changes from begin to end are kept together: end returns once they are on disk (an API
 * request's, a definitions import's). Pairs nest. */
void broker_definitions_begin(struct broker *b);
void broker_definitions_end(struct broker *b);

#endif
