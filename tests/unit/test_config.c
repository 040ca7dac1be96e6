/* Unit tests for rabbitmq.conf: the grammar, every key Warren honours, bad values, unknown and known-unused keys, includes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* One load: the configuration, the store behind it, the error and the warnings seen. */
struct loaded {
    struct broker_config cfg;
    struct config_store store;
    struct config_error err;
    char warnings[4096];
    int warning_count;
    int rc;
};

static struct loaded result;

static void collect_warning(void *ctx, const char *text)
{
    struct loaded *l = ctx;
    size_t n = strlen(l->warnings);
    snprintf(l->warnings + n, sizeof l->warnings - n, "%s\n", text);
    l->warning_count++;
}

static struct loaded *load(const char *text)
{
    config_store_free(&result.store);
    memset(&result, 0, sizeof result);
    broker_config_defaults(&result.cfg);
    result.rc = config_load_text(&result.store, "/etc/rabbitmq/rabbitmq.conf", text, strlen(text),
                                 &result.cfg, collect_warning, &result, &result.err);
    return &result;
}

static void teardown(void)
{
    config_store_free(&result.store);
}

/* The text loads without error. */
static struct broker_config *ok(const char *text)
{
    struct loaded *l = load(text);
    ck_assert_msg(l->rc == 0, "expected success, got: %s", l->err.text);
    return &l->cfg;
}

/* The text fails, and the first error contains every one of the strings given. */
static void fails(const char *text, const char *want1, const char *want2)
{
    struct loaded *l = load(text);
    ck_assert_msg(l->rc < 0, "expected an error for: %s", text);
    ck_assert_msg(strstr(l->err.text, want1), "error '%s' lacks '%s'", l->err.text, want1);
    if (want2)
        ck_assert_msg(strstr(l->err.text, want2), "error '%s' lacks '%s'", l->err.text, want2);
}

START_TEST(empty_and_comments)
{
    struct broker_config *c = ok("");
    ck_assert_int_eq(c->port, 5672);
    ck_assert_int_eq(result.warning_count, 0);
    c = ok("# only a comment\n\n   \t\n  # indented comment\r\n");
    ck_assert_str_eq(c->default_user, "guest");
}
END_TEST

START_TEST(whitespace_around_values)
{
    struct broker_config *c = ok("default_user=alice\n  default_pass \t=\t s3cret  \t\n");
    ck_assert_str_eq(c->default_user, "alice");
    ck_assert_str_eq(c->default_pass, "s3cret");
    c = ok("default_vhost = dev\r\n"); /* CRLF */
    ck_assert_str_eq(c->default_vhost, "dev");
    /* cuttlefish keeps blanks at the very end of a file without a final newline */
    c = ok("default_vhost = dev  ");
    ck_assert_str_eq(c->default_vhost, "dev  ");
    c = ok("default_vhost = a b c\n"); /* inner blanks stay */
    ck_assert_str_eq(c->default_vhost, "a b c");
}
END_TEST

START_TEST(comments_after_values_and_no_quoting)
{
    /* "#" ends a value anywhere (RabbitMQ 3.10.8 created user "p" for default_pass = p#w) */
    struct broker_config *c = ok("default_pass = p#w\ndefault_user = bob   # the admin\n");
    ck_assert_str_eq(c->default_pass, "p");
    ck_assert_str_eq(c->default_user, "bob");
    /* quotes are part of the value (RabbitMQ 3.10.8 created the user 'quoted', quotes and all) */
    c = ok("default_user = 'quoted'\n");
    ck_assert_str_eq(c->default_user, "'quoted'");
}
END_TEST

START_TEST(last_setting_wins)
{
    struct broker_config *c = ok("heartbeat = 10\nheartbeat = 20\n");
    ck_assert_int_eq(c->heartbeat, 20);
}
END_TEST

START_TEST(syntax_errors_name_file_and_line)
{
    fails("heartbeat = 10\n\nthis is not a setting\n", "/etc/rabbitmq/rabbitmq.conf:3: Syntax error",
          "parsing incomplete");
    fails("heartbeat =\n", "rabbitmq.conf:1: Syntax error", NULL);      /* an empty value */
    fails("heartbeat = # none\n", "rabbitmq.conf:1: Syntax error", NULL);
    fails("heart beat = 1\n", "rabbitmq.conf:1: Syntax error", NULL);   /* a blank in a key */
    fails("a..b = 1\n", "rabbitmq.conf:1: Syntax error", NULL);
    fails("log.file. = x\n", "rabbitmq.conf:1: Syntax error", NULL);
    fails("x\n", "rabbitmq.conf:1:", NULL);
    /* a syntax error stops the file: nothing of it applies */
    struct loaded *l = load("heartbeat = 5\n=\n");
    ck_assert_int_lt(l->rc, 0);
}
END_TEST

START_TEST(unknown_keys_stop_start_up)
{
    fails("heartbeat = 1\nfoo.bar = 1\n", "rabbitmq.conf:2: You've tried to set foo.bar, but there "
          "is no setting with that name", "did you mean");
    fails("Heartbeat = 1\n", "rabbitmq.conf:1: You've tried to set Heartbeat", "heartbeat");
    fails("listeners.tcp.default.x = 1\n", "listeners.tcp.default.x", NULL); /* one segment too many */
    /* every error is reported, not just the first */
    struct loaded *l = load("foo = 1\nbar = 2\n");
    ck_assert_ptr_nonnull(strstr(l->err.text, ":1: You've tried to set foo"));
    ck_assert_ptr_nonnull(strstr(l->err.text, ":2: You've tried to set bar"));
}
END_TEST

START_TEST(known_unused_keys_warn_once_each)
{
    struct loaded *l = load("cluster_formation.peer_discovery_backend = classic_config\n"
                            "cluster_formation.classic_config.nodes.1 = rabbit@host\n"
                            "queue_master_locator = min-masters\n"
                            "mqtt.listeners.tcp.default = 1883\n"
                            "web_stomp.port = 15674\n"
                            "heartbeat = 7\n");
    ck_assert_msg(l->rc == 0, "%s", l->err.text);
    ck_assert_int_eq(l->warning_count, 5);
    ck_assert_ptr_nonnull(strstr(l->warnings, "rabbitmq.conf:1: cluster_formation.peer_discovery_"
                                              "backend is a RabbitMQ setting Warren does not use"));
    ck_assert_ptr_nonnull(strstr(l->warnings, "rabbitmq.conf:3: queue_master_locator"));
    ck_assert_ptr_nonnull(strstr(l->warnings, ":4: mqtt.listeners.tcp.default"));
    ck_assert_int_eq(l->cfg.heartbeat, 7);
}
END_TEST

START_TEST(escaped_dots_in_keys)
{
    /* "\." is a dot inside one segment: a tag named "a.b" */
    struct broker_config *c = ok("default_user_tags.a\\.b = true\n");
    ck_assert_int_eq(c->default_user_tag_count, 1);
    ck_assert_str_eq(c->default_user_tags[0], "a.b");
}
END_TEST

START_TEST(tcp_listeners)
{
    struct broker_config *c = ok("listeners.tcp.default = 5673\n"
                                 "listeners.tcp.local = 127.0.0.1:5674\n"
                                 "listeners.tcp.v6 = ::1:5675\n");
    ck_assert_int_eq(c->tcp_listener_count, 3);
    ck_assert_ptr_null(c->tcp_listeners[0].host); /* port only: every interface */
    ck_assert_int_eq(c->tcp_listeners[0].port, 5673);
    ck_assert_str_eq(c->tcp_listeners[1].host, "127.0.0.1");
    ck_assert_int_eq(c->tcp_listeners[1].port, 5674);
    ck_assert_str_eq(c->tcp_listeners[2].host, "::1");
    ck_assert_int_eq(c->tcp_listeners[2].port, 5675);
    ck_assert(!c->tcp_listeners_none);
    c = ok("listeners.tcp = none\n");
    ck_assert(c->tcp_listeners_none);
    /* none wins over listeners given beside it, as in RabbitMQ's translation */
    c = ok("listeners.tcp.default = 5673\nlisteners.tcp = none\n");
    ck_assert(c->tcp_listeners_none);
    ck_assert_int_eq(c->tcp_listener_count, 0);
    /* RabbitMQ 3.10.8 refuses brackets: "[::1]:5721" cannot be converted to a(n) IP */
    fails("listeners.tcp.x = [::1]:5672\n", "rabbitmq.conf:1: Error transforming datatype for: "
          "listeners.tcp.x: \"[::1]:5672\" cannot be converted to a(n) integer", "IP");
    fails("listeners.tcp.x = localhost:5672\n", "listeners.tcp.x", "IP");
    fails("listeners.tcp.x = 127.0.0.1:\n", "listeners.tcp.x", NULL);
    fails("listeners.tcp.x = 70000\n", "rabbitmq.conf:1: listeners.tcp.x invalid", "65535");
    fails("listeners.tcp = all\n", "\"all\" is not a valid enum value, acceptable values are: none",
          NULL);
}
END_TEST

START_TEST(ssl_listeners)
{
    struct broker_config *c = ok("listeners.ssl.default = 5671\nlisteners.ssl.2 = 127.0.0.1:5681\n");
    ck_assert_int_eq(c->ssl_listener_count, 2);
    ck_assert_int_eq(c->ssl_listeners[0].port, 5671);
    ck_assert_str_eq(c->ssl_listeners[1].host, "127.0.0.1");
    c = ok("listeners.ssl.default = 5671\nlisteners.ssl = none\n");
    ck_assert_int_eq(c->ssl_listener_count, 0);
    fails("listeners.ssl.default = x\n", "listeners.ssl.default", NULL);
}
END_TEST

START_TEST(default_user_vhost_tags_permissions)
{
    struct broker_config *c = ok("");
    ck_assert_int_eq(c->default_user_tag_count, 1);
    ck_assert_str_eq(c->default_user_tags[0], "administrator");
    ck_assert_str_eq(c->default_permission_configure, ".*");
    c = ok("default_user = alice\ndefault_pass = pw\ndefault_vhost = dev\n"
           "default_user_tags.monitoring = true\ndefault_user_tags.administrator = false\n"
           "default_user_tags.management = true\n"
           "default_permissions.configure = ^alice-.*\ndefault_permissions.read = .*\n"
           "default_permissions.write = ^$\n");
    ck_assert_str_eq(c->default_user, "alice");
    ck_assert_str_eq(c->default_pass, "pw");
    ck_assert_str_eq(c->default_vhost, "dev");
    ck_assert_int_eq(c->default_user_tag_count, 2);
    ck_assert_str_eq(c->default_user_tags[0], "monitoring");
    ck_assert_str_eq(c->default_user_tags[1], "management");
    ck_assert_str_eq(c->default_permission_configure, "^alice-.*");
    ck_assert_str_eq(c->default_permission_read, ".*");
    ck_assert_str_eq(c->default_permission_write, "^$");
    c = ok("default_user_tags.administrator = false\n"); /* no tags at all */
    ck_assert_int_eq(c->default_user_tag_count, 0);
    fails("default_user_tags.administrator = yes\n",
          "\"yes\" is not a valid enum value, acceptable values are: true, false", NULL);
    fails("default_permissions.configure = .*\n", "default_permissions", ".write");
}
END_TEST

START_TEST(loopback_users)
{
    struct broker_config *c = ok("");
    ck_assert_int_eq(c->loopback_user_count, 1);
    ck_assert_str_eq(c->loopback_users[0], "guest");
    c = ok("loopback_users = none\n");
    ck_assert_int_eq(c->loopback_user_count, 0);
    c = ok("loopback_users.guest = false\n");
    ck_assert_int_eq(c->loopback_user_count, 0);
    c = ok("loopback_users.alice = true\nloopback_users.bob = false\n");
    ck_assert_int_eq(c->loopback_user_count, 1);
    ck_assert_str_eq(c->loopback_users[0], "alice");
    c = ok("loopback_users.alice = true\nloopback_users = none\n");
    ck_assert_int_eq(c->loopback_user_count, 0);
    fails("loopback_users = all\n", "loopback_users", "none");
}
END_TEST

START_TEST(limits)
{
    struct broker_config *c = ok("heartbeat = 0\nframe_max = 8192\nchannel_max = 16\n"
                                 "max_message_size = 1048576\nhandshake_timeout = 5000\n"
                                 "consumer_timeout = 900000\n");
    ck_assert_int_eq(c->heartbeat, 0);
    ck_assert_uint_eq(c->frame_max, 8192);
    ck_assert_uint_eq(c->channel_max, 16);
    ck_assert_uint_eq(c->max_message_size, 1048576);
    ck_assert_uint_eq(c->handshake_timeout_ms, 5000);
    ck_assert_uint_eq(c->consumer_timeout_ms, 900000);
    c = ok("frame_max = 64KB\n"); /* cuttlefish's bytesize: KB is 1024 */
    ck_assert_uint_eq(c->frame_max, 65536);
    c = ok("frame_max = 1mb\n");
    ck_assert_uint_eq(c->frame_max, 1048576);
    c = ok("heartbeat = +30\n"); /* Erlang's list_to_integer takes a sign */
    ck_assert_int_eq(c->heartbeat, 30);
    c = ok("handshake_timeout = infinity\n");
    ck_assert_uint_gt(c->handshake_timeout_ms, 1000ull * 3600 * 24 * 365);
    fails("heartbeat = abc\n", "rabbitmq.conf:1: Error transforming datatype for: heartbeat: "
          "\"abc\" cannot be converted to a(n) integer", NULL);
    fails("heartbeat = 1.5\n", "cannot be converted to a(n) integer", NULL);
    fails("heartbeat = 70000\n", "heartbeat invalid", "65535");
    fails("heartbeat = -1\n", "heartbeat invalid", NULL);
    fails("channel_max = 0\n", "channel_max invalid", NULL);
    fails("frame_max = 100\n", "frame_max invalid", NULL);
    fails("frame_max = 64 KB\n", "Error converting value \"64 KB\" to a number of bytes", NULL);
    fails("max_message_size = 536870913\n", "max_message_size invalid, Max message size should be "
          "between 0 and 512MB", NULL);
    fails("max_message_size = 0\n", "max_message_size invalid", NULL);
    fails("max_message_size = 1MB\n", "cannot be converted to a(n) integer", NULL);
    fails("consumer_timeout = 0\n", "consumer_timeout invalid, number should be greater or equal "
          "to one", NULL);
    fails("handshake_timeout = never\n", "handshake_timeout", "infinity");
}
END_TEST

START_TEST(connection_max_and_compat)
{
    struct broker_config *c = ok("");
    ck_assert_int_eq(c->connection_max, BROKER_NO_CONNECTION_MAX);
    ck_assert_str_eq(c->compat->name, "3.13");
    ck_assert_str_eq(c->compat->product, "Warren");
    c = ok("connection_max = 0\nwarren.rabbitmq_compat = 4.3\n");
    ck_assert_int_eq(c->connection_max, 0);
    ck_assert_str_eq(c->compat->name, "4.3");
    ck_assert(c->compat->transient_nonexcl_denied && c->compat->global_qos_per_consumer);
    ck_assert_uint_eq(c->compat->frame_min_size, 8192);
    c = ok("connection_max = 100\nconnection_max = infinity\n");
    ck_assert_int_eq(c->connection_max, BROKER_NO_CONNECTION_MAX);
    fails("connection_max = -1\n", "connection_max invalid, should be a non-negative integer", NULL);
    fails("connection_max = lots\n", "cannot be converted to a(n) integer", NULL);
    fails("warren.rabbitmq_compat = 4.0\n", "warren.rabbitmq_compat: \"4.0\" is not a valid enum "
          "value, acceptable values are: 3.13, 4.3", NULL);
    struct loaded *l = load("connection_max = 5\n");
    ck_assert_int_eq(l->warning_count, 0); /* honoured now, not "known but unused" */
    ck_assert_ptr_eq(compat_find("4.3"), compat_find("4.3"));
    ck_assert_ptr_null(compat_find("4"));
}
END_TEST

START_TEST(memory_and_disk_watermarks)
{
    struct broker_config *c = ok("");
    ck_assert(c->vm_memory_high_watermark == 0.4);
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 0);
    ck_assert_uint_eq(c->disk_free_limit, 50000000);
    c = ok("vm_memory_high_watermark.relative = 0.6\n");
    ck_assert(c->vm_memory_high_watermark == 0.6);
    c = ok("vm_memory_high_watermark.absolute = 1073741824\n");
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 1073741824);
    /* RabbitMQ's information units: MiB/M/m are 1024-based, MB/mb 1000-based */
    c = ok("vm_memory_high_watermark.absolute = 512MiB\n");
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 512u << 20);
    c = ok("vm_memory_high_watermark.absolute = 1GB\n");
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 1000000000);
    c = ok("vm_memory_high_watermark.absolute = 2g\n");
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 2ull << 30);
    /* both: the relative one wins */
    c = ok("vm_memory_high_watermark.relative = 0.5\nvm_memory_high_watermark.absolute = 1GB\n");
    ck_assert(c->vm_memory_high_watermark == 0.5);
    ck_assert_uint_eq(c->vm_memory_high_watermark_absolute, 0);
    /* RabbitMQ logs an unparsable absolute value and keeps its default (seen on 3.10.8) */
    struct loaded *l = load("vm_memory_high_watermark.absolute = 3foo\n");
    ck_assert_int_eq(l->rc, 0);
    ck_assert_int_eq(l->warning_count, 1);
    ck_assert_ptr_nonnull(strstr(l->warnings, "Unable to parse vm_memory_high_watermark value"));
    ck_assert(l->cfg.vm_memory_high_watermark == 0.4);
    l = load("vm_memory_high_watermark.relative = 1.5\n");
    ck_assert_int_eq(l->warning_count, 1);
    ck_assert(l->cfg.vm_memory_high_watermark == 1.0);
    /* a float must look like one to Erlang */
    fails("vm_memory_high_watermark.relative = 1\n", "cannot be converted to a(n) float", NULL);
    fails("vm_memory_high_watermark.relative = .5\n", "cannot be converted to a(n) float", NULL);
    c = ok("disk_free_limit.absolute = 2GB\n");
    ck_assert_uint_eq(c->disk_free_limit, 2000000000);
    c = ok("disk_free_limit.absolute = 1000000\n");
    ck_assert_uint_eq(c->disk_free_limit, 1000000);
    c = ok("disk_free_limit.relative = 1.5\n");
    ck_assert(c->disk_free_limit_relative == 1.5);
    l = load("disk_free_limit.absolute = lots\n");
    ck_assert_int_eq(l->rc, 0);
    ck_assert_ptr_nonnull(strstr(l->warnings, "Unable to parse disk_free_limit value"));
    ck_assert_uint_eq(l->cfg.disk_free_limit, 50000000);
}
END_TEST

START_TEST(http_listeners_and_definitions)
{
    struct broker_config *c = ok("");
    ck_assert_int_eq(c->management_port, 15672);
    ck_assert_int_eq(c->prometheus_port, 15692);
    ck_assert_ptr_null(c->load_definitions);
    c = ok("management.tcp.port = 15673\nmanagement.tcp.ip = 127.0.0.1\n"
           "prometheus.tcp.port = 0\nprometheus.tcp.ip = ::1\n");
    ck_assert_int_eq(c->management_port, 15673);
    ck_assert_str_eq(c->management_bind, "127.0.0.1");
    ck_assert_int_eq(c->prometheus_port, 0);
    ck_assert_str_eq(c->prometheus_bind, "::1");
    fails("management.tcp.ip = localhost\n", "management.tcp.ip invalid, value should be a valid "
          "IP address", NULL);
    fails("prometheus.tcp.port = http\n", "prometheus.tcp.port", "integer");
    char path[] = "/tmp/test_config_defs_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char text[100];
    snprintf(text, sizeof text, "load_definitions = %s\n", path);
    c = ok(text);
    ck_assert_str_eq(c->load_definitions, path);
    unlink(path);
    fails(text, "load_definitions invalid, file does not exist or cannot be read by the node", NULL);
}
END_TEST

START_TEST(logging)
{
    struct broker_config *c = ok("log.console.level = debug\nlog.file = /tmp/warren.log\n"
                                 "log.file.level = warning\n");
    ck_assert_int_eq(c->log_level, LOG_DEBUG);
    ck_assert_str_eq(c->log_file, "/tmp/warren.log");
    ck_assert_int_eq(c->log_file_level, LOG_WARNING);
    ck_assert(c->log_console);
    c = ok("log.console = false\nlog.file = false\n");
    ck_assert(!c->log_console);
    ck_assert_ptr_null(c->log_file);
    c = ok("log.console.level = critical\n");
    ck_assert_int_eq(c->log_level, LOG_ERROR);
    c = ok("log.console.level = notice\n"); /* above info: info lines stay out */
    ck_assert_int_eq(c->log_level, LOG_WARNING);
    c = ok("log.console.level = none\n");
    ck_assert_int_eq(c->log_level, LOG_NONE);
    fails("log.console.level = verbose\n", "log.console.level", "acceptable values are: debug");
    fails("log.console = maybe\n", "log.console", "true, false");
    fails("log.file.level = <warning\n", "log.file.level = <warning", NULL);
}
END_TEST

START_TEST(https_listeners)
{
    char cert[] = "/tmp/test_config_https_XXXXXX";
    int fd = mkstemp(cert);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char text[1024];
    snprintf(text, sizeof text,
             "management.ssl.port = 15671\nmanagement.ssl.ip = 127.0.0.1\n"
             "management.ssl.certfile = %s\nmanagement.ssl.keyfile = %s\n"
             "management.ssl.verify = verify_peer\nmanagement.ssl.depth = 2\n"
             "management.ssl.versions.1 = tlsv1.3\nmanagement.ssl.ciphers.1 = TLS_AES_128_GCM_SHA256\n"
             "prometheus.ssl.port = 15691\nprometheus.ssl.cacertfile = %s\n"
             "prometheus.ssl.fail_if_no_peer_cert = true\nprometheus.ssl.password = pw\n",
             cert, cert, cert);
    struct broker_config *c = ok(text);
    /* only the ssl keys: no plain HTTP listener, as RabbitMQ */
    ck_assert_int_eq(c->management_port, 0);
    ck_assert_int_eq(c->prometheus_port, 0);
    ck_assert_int_eq(c->management_ssl.port, 15671);
    ck_assert_str_eq(c->management_ssl.bind, "127.0.0.1");
    ck_assert_str_eq(c->management_ssl.tls.certfile, cert);
    ck_assert(c->management_ssl.tls.verify_peer);
    ck_assert_int_eq(c->management_ssl.tls.depth, 2);
    ck_assert_int_eq(c->management_ssl.tls.version_count, 1);
    ck_assert_str_eq(c->management_ssl.tls.ciphers[0], "TLS_AES_128_GCM_SHA256");
    ck_assert_int_eq(c->prometheus_ssl.port, 15691);
    ck_assert_str_eq(c->prometheus_ssl.tls.cacertfile, cert);
    ck_assert(c->prometheus_ssl.tls.fail_if_no_peer_cert);
    ck_assert_str_eq(c->prometheus_ssl.tls.password, "pw");
    ck_assert_int_eq(c->prometheus_ssl.tls.depth, -1);
    /* each set of options is its own */
    ck_assert_ptr_null(c->tls.certfile);
    ck_assert(!c->tls.verify_peer);
    ck_assert_int_eq(c->tls.version_count, 0);
    ck_assert_ptr_null(c->prometheus_ssl.tls.certfile);
    c = ok("management.ssl.port = 15671\nmanagement.tcp.port = 15672\n"
           "prometheus.ssl.port = 15691\nprometheus.tcp.ip = 127.0.0.1\n");
    ck_assert_int_eq(c->management_port, 15672); /* both set: both */
    ck_assert_int_eq(c->prometheus_port, 15692);
    unlink(cert);
    fails(text, "management.ssl.certfile invalid, file does not exist", NULL);
    fails("prometheus.ssl.verify = maybe\n", "verify_peer, verify_none", NULL);
    fails("management.ssl.ip = localhost\n", "management.ssl.ip invalid", NULL);
}
END_TEST

START_TEST(tls_options_and_mechanisms)
{
    char cert[] = "/tmp/test_config_cert_XXXXXX";
    int fd = mkstemp(cert);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char text[1024];
    snprintf(text, sizeof text,
             "ssl_options.cacertfile = %s\nssl_options.certfile = %s\nssl_options.keyfile = %s\n"
             "ssl_options.password = secret\nssl_options.verify = verify_peer\n"
             "ssl_options.fail_if_no_peer_cert = true\nssl_options.depth = 3\n"
             "ssl_options.versions.1 = tlsv1.3\nssl_options.versions.2 = tlsv1.2\n"
             "ssl_options.ciphers.1 = ECDHE-ECDSA-AES256-GCM-SHA384\n"
             "ssl_options.honor_cipher_order = true\n"
             "auth_mechanisms.1 = PLAIN\nauth_mechanisms.2 = AMQPLAIN\nauth_mechanisms.3 = EXTERNAL\n",
             cert, cert, cert);
    struct broker_config *c = ok(text);
    ck_assert_str_eq(c->tls.cacertfile, cert);
    ck_assert_str_eq(c->tls.certfile, cert);
    ck_assert_str_eq(c->tls.keyfile, cert);
    ck_assert_str_eq(c->tls.password, "secret");
    ck_assert(c->tls.verify_peer);
    ck_assert(c->tls.fail_if_no_peer_cert);
    ck_assert_int_eq(c->tls.depth, 3);
    ck_assert_int_eq(c->tls.version_count, 2);
    ck_assert_str_eq(c->tls.versions[0], "tlsv1.3");
    ck_assert_int_eq(c->tls.cipher_count, 1);
    ck_assert_str_eq(c->tls.ciphers[0], "ECDHE-ECDSA-AES256-GCM-SHA384");
    ck_assert(c->tls.honor_cipher_order);
    ck_assert_int_eq(c->auth_mechanism_count, 3);
    ck_assert_str_eq(c->auth_mechanisms[2], "EXTERNAL");
    unlink(cert);
    c = ok("");
    ck_assert_int_eq(c->tls.depth, -1);
    ck_assert(!c->tls.verify_peer);
    ck_assert_int_eq(c->auth_mechanism_count, 0);
    fails("ssl_options.certfile = /nonexistent/cert.pem\n", "ssl_options.certfile invalid, file "
          "does not exist or cannot be read by the node", NULL);
    fails("ssl_options.verify = yes\n", "verify_peer, verify_none", NULL);
    fails("ssl_options.depth = 256\n", "ssl_options.depth invalid, Integer must be in the range "
          "[0, 255]", NULL);
    fails("ssl_options.versions.1 = sslv3\n", "ssl_options.versions.1", "tlsv1.2");
    ck_assert_int_eq(ok("")->ssl_cert_login_from, BROKER_CERT_LOGIN_DN);
    ck_assert_int_eq(ok("ssl_cert_login_from = common_name\n")->ssl_cert_login_from,
                     BROKER_CERT_LOGIN_CN);
    ck_assert_int_eq(ok("ssl_cert_login_from = distinguished_name\n")->ssl_cert_login_from,
                     BROKER_CERT_LOGIN_DN);
    c = ok("ssl_cert_login_from = subject_alternative_name\nssl_cert_login_san_type = email\n"
           "ssl_cert_login_san_index = 2\n");
    ck_assert_int_eq(c->ssl_cert_login_from, BROKER_CERT_LOGIN_SAN);
    ck_assert_int_eq(c->ssl_cert_login_san_type, BROKER_SAN_EMAIL);
    ck_assert_uint_eq(c->ssl_cert_login_san_index, 2);
    ck_assert_int_eq(ok("ssl_cert_login_from = subject_alt_name\n")->ssl_cert_login_from,
                     BROKER_CERT_LOGIN_SAN);
    ck_assert_int_eq(ok("")->ssl_cert_login_san_type, BROKER_SAN_DNS);
    fails("ssl_cert_login_san_type = ip\n", "ssl_cert_login_san_type invalid",
          "not supported by Warren yet");
    fails("ssl_cert_login_san_index = -1\n", "ssl_cert_login_san_index", NULL);
    fails("ssl_cert_login_from = subject\n", "distinguished_name, common_name", NULL);
    ck_assert_uint_eq(ok("")->ssl_handshake_timeout_ms, 5000);
    ck_assert_uint_eq(ok("ssl_handshake_timeout = 750\n")->ssl_handshake_timeout_ms, 750);
    fails("ssl_handshake_timeout = soon\n", "ssl_handshake_timeout", "integer");
    /* a known ssl_options key Warren does not use: a warning */
    struct loaded *l = load("ssl_options.reuse_sessions = true\n");
    ck_assert_int_eq(l->rc, 0);
    ck_assert_int_eq(l->warning_count, 1);
}
END_TEST

/* A directory of files for include and $(<file) tests. */
static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int mkdir_p_conf_d(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/conf.d", dir);
    return mkdir(path, 0700);
}

static struct loaded *load_path(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    config_store_free(&result.store);
    memset(&result, 0, sizeof result);
    broker_config_defaults(&result.cfg);
    result.rc = config_load_file(&result.store, path, &result.cfg, collect_warning, &result,
                                 &result.err);
    return &result;
}

START_TEST(includes_and_file_values)
{
    snprintf(dir, sizeof dir, "/tmp/test_config_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(mkdir_p_conf_d(), 0);
    write_file("rabbitmq.conf", "heartbeat = 5\ninclude conf.d/*.conf\ndefault_pass = $(<pass.txt)\n"
                                "channel_max = 9\n");
    write_file("conf.d/10-a.conf", "heartbeat = 6\ndefault_user = a\n");
    write_file("conf.d/20-b.conf", "default_user = b # later file wins\n");
    write_file("conf.d/ignored.txt", "garbage\n");
    write_file("pass.txt", "from-a-file\n");
    struct loaded *l = load_path("rabbitmq.conf");
    ck_assert_msg(l->rc == 0, "%s", l->err.text);
    ck_assert_int_eq(l->cfg.heartbeat, 6);
    ck_assert_str_eq(l->cfg.default_user, "b");
    ck_assert_str_eq(l->cfg.default_pass, "from-a-file"); /* one line end dropped */
    ck_assert_int_eq(l->cfg.channel_max, 9);
    /* an error inside an included file names that file and its line */
    write_file("conf.d/30-c.conf", "\nnope.nope = 1\n");
    l = load_path("rabbitmq.conf");
    ck_assert_int_lt(l->rc, 0);
    ck_assert_msg(strstr(l->err.text, "conf.d/30-c.conf:2: You've tried to set nope.nope"), "%s",
                  l->err.text);
    /* a $(<file) that cannot be read */
    write_file("conf.d/30-c.conf", "default_vhost = $(<missing.txt)\n");
    l = load_path("rabbitmq.conf");
    ck_assert_int_lt(l->rc, 0);
    ck_assert_msg(strstr(l->err.text, "30-c.conf:1: default_vhost: cannot read"), "%s", l->err.text);
    /* the file itself missing */
    l = load_path("absent.conf");
    ck_assert_int_lt(l->rc, 0);
    ck_assert_ptr_nonnull(strstr(l->err.text, "Could not open file"));
    remove_dir();
}
END_TEST

START_TEST(rabbitmq_config_file_lookup)
{
    snprintf(dir, sizeof dir, "/tmp/test_config_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char name[128], out[256];
    int erlang;
    snprintf(name, sizeof name, "%s/rabbitmq", dir);
    ck_assert_ptr_null(config_find_rabbitmq_file(name, out, sizeof out, &erlang));
    write_file("rabbitmq.conf", "heartbeat = 1\n");
    const char *found = config_find_rabbitmq_file(name, out, sizeof out, &erlang);
    ck_assert_ptr_nonnull(found); /* without the extension, as RabbitMQ accepts it */
    ck_assert(strstr(found, "/rabbitmq.conf") && !erlang);
    snprintf(name, sizeof name, "%s/rabbitmq.conf", dir);
    found = config_find_rabbitmq_file(name, out, sizeof out, &erlang);
    ck_assert_str_eq(found, name);
    write_file("rabbitmq.config", "[].\n");
    snprintf(name, sizeof name, "%s/rabbitmq", dir);
    found = config_find_rabbitmq_file(name, out, sizeof out, &erlang);
    ck_assert(found && erlang); /* RabbitMQ prefers the older format when both exist */
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, empty_and_comments);
    tcase_add_test(tc, whitespace_around_values);
    tcase_add_test(tc, comments_after_values_and_no_quoting);
    tcase_add_test(tc, last_setting_wins);
    tcase_add_test(tc, syntax_errors_name_file_and_line);
    tcase_add_test(tc, unknown_keys_stop_start_up);
    tcase_add_test(tc, known_unused_keys_warn_once_each);
    tcase_add_test(tc, escaped_dots_in_keys);
    tcase_add_test(tc, tcp_listeners);
    tcase_add_test(tc, ssl_listeners);
    tcase_add_test(tc, default_user_vhost_tags_permissions);
    tcase_add_test(tc, loopback_users);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, connection_max_and_compat);
    tcase_add_test(tc, memory_and_disk_watermarks);
    tcase_add_test(tc, http_listeners_and_definitions);
    tcase_add_test(tc, logging);
    tcase_add_test(tc, tls_options_and_mechanisms);
    tcase_add_test(tc, https_listeners);
    tcase_add_test(tc, includes_and_file_values);
    tcase_add_test(tc, rabbitmq_config_file_lookup);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
