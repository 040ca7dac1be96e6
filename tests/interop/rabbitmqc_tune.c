/* Interop test: rabbitmq-c (librabbitmq) negotiates tune limits, opens channels and logs in/out. */
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

enum { SERVER_CHANNEL_MAX = 2047, DEFAULT_FRAME_MAX = 131072 };

static const char *host;
static int port;
static int failures;

static bool check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok)
        failures++;
    return ok;
}

/* A TCP-connected state, or NULL (reported as a failed check). */
static amqp_connection_state_t connect_socket(void)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    struct timeval timeout = { .tv_sec = 5, .tv_usec = 0 };
    int status = socket ? amqp_socket_open_noblock(socket, host, port, &timeout) : -1;
    if (!check(status == AMQP_STATUS_OK, "TCP connect to %s:%d (%s)", host, port,
               amqp_error_string2(status))) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void describe_reply(amqp_rpc_reply_t reply, char *out, size_t size)
{
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        snprintf(out, size, "normal");
    } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(out, size, "library exception: %s", amqp_error_string2(reply.library_error));
    } else if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *close = reply.reply.decoded;
        snprintf(out, size, "connection.close %u %.*s", close->reply_code,
                 (int)close->reply_text.len, (const char *)close->reply_text.bytes);
    } else if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *close = reply.reply.decoded;
        snprintf(out, size, "channel.close %u %.*s", close->reply_code,
                 (int)close->reply_text.len, (const char *)close->reply_text.bytes);
    } else {
        snprintf(out, size, "reply type %d, method 0x%08x", (int)reply.reply_type,
                 (unsigned)reply.reply.id);
    }
}

static bool reply_ok(amqp_rpc_reply_t reply, const char *what)
{
    char text[512];
    describe_reply(reply, text, sizeof text);
    return check(reply.reply_type == AMQP_RESPONSE_NORMAL, "%s (%s)", what, text);
}

static amqp_connection_state_t login(int channel_max, int frame_max, int heartbeat,
                                     const char *password, amqp_rpc_reply_t *reply)
{
    amqp_connection_state_t conn = connect_socket();
    if (conn)
        *reply = amqp_login(conn, "/", channel_max, frame_max, heartbeat,
                            AMQP_SASL_METHOD_PLAIN, "guest", password);
    return conn;
}

static void close_connection(amqp_connection_state_t conn)
{
    reply_ok(amqp_connection_close(conn, AMQP_REPLY_SUCCESS), "connection.close -> close-ok");
    check(amqp_destroy_connection(conn) == AMQP_STATUS_OK, "connection destroyed cleanly");
}

static void small_frames_with_heartbeat(void)
{
    printf("-- login with channel_max 0, frame_max 4096, heartbeat 5\n");
    amqp_rpc_reply_t reply;
    amqp_connection_state_t conn = login(0, 4096, 5, "guest", &reply);
    if (!conn)
        return;
    if (reply_ok(reply, "login")) {
        check(amqp_get_frame_max(conn) == 4096, "frame_max negotiated to 4096 (got %d)",
              amqp_get_frame_max(conn));
        check(amqp_get_heartbeat(conn) == 5, "heartbeat negotiated to 5 (got %d)",
              amqp_get_heartbeat(conn));
        check(amqp_get_channel_max(conn) == SERVER_CHANNEL_MAX,
              "channel_max 0 takes the server's %d (got %d)", SERVER_CHANNEL_MAX,
              amqp_get_channel_max(conn));
        close_connection(conn);
    } else {
        amqp_destroy_connection(conn);
    }
}

static void open_and_close_channel(amqp_connection_state_t conn, amqp_channel_t channel)
{
    char what[64];
    amqp_channel_open_ok_t *open_ok = amqp_channel_open(conn, channel);
    snprintf(what, sizeof what, "channel.open %u -> open-ok", channel);
    if (!reply_ok(amqp_get_rpc_reply(conn), what) || !open_ok)
        return;
    snprintf(what, sizeof what, "channel.close %u -> close-ok", channel);
    reply_ok(amqp_channel_close(conn, channel, AMQP_REPLY_SUCCESS), what);
}

static void default_frames_no_heartbeat(void)
{
    printf("-- login with channel_max 0, frame_max 131072, heartbeat 0\n");
    amqp_rpc_reply_t reply;
    amqp_connection_state_t conn = login(0, DEFAULT_FRAME_MAX, 0, "guest", &reply);
    if (!conn)
        return;
    if (!reply_ok(reply, "login")) {
        amqp_destroy_connection(conn);
        return;
    }
    check(amqp_get_frame_max(conn) == DEFAULT_FRAME_MAX, "frame_max is %d (got %d)",
          DEFAULT_FRAME_MAX, amqp_get_frame_max(conn));
    check(amqp_get_heartbeat(conn) == 0, "heartbeat is 0 (got %d)", amqp_get_heartbeat(conn));
    check(amqp_get_channel_max(conn) == SERVER_CHANNEL_MAX, "channel_max is %d (got %d)",
          SERVER_CHANNEL_MAX, amqp_get_channel_max(conn));
    open_and_close_channel(conn, 1);
    open_and_close_channel(conn, SERVER_CHANNEL_MAX);
    close_connection(conn);
}

static void client_lowers_channel_max(void)
{
    printf("-- login with channel_max 10\n");
    amqp_rpc_reply_t reply;
    amqp_connection_state_t conn = login(10, DEFAULT_FRAME_MAX, 0, "guest", &reply);
    if (!conn)
        return;
    if (reply_ok(reply, "login")) {
        check(amqp_get_channel_max(conn) == 10, "channel_max lowered to 10 (got %d)",
              amqp_get_channel_max(conn));
        open_and_close_channel(conn, 10);
        close_connection(conn);
    } else {
        amqp_destroy_connection(conn);
    }
}

/* RabbitMQ answers a bad password with connection.close 403 ACCESS_REFUSED because
 * rabbitmq-c advertises the authentication_failure_close capability. */
static void wrong_password(void)
{
    printf("-- login with a wrong password\n");
    amqp_rpc_reply_t reply;
    amqp_connection_state_t conn = login(0, DEFAULT_FRAME_MAX, 0, "wrong-password", &reply);
    if (!conn)
        return;
    char text[512];
    describe_reply(reply, text, sizeof text);
    bool is_close = reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                    reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD;
    if (check(is_close, "login refused with a server connection.close (%s)", text)) {
        const amqp_connection_close_t *close = reply.reply.decoded;
        check(close->reply_code == AMQP_ACCESS_REFUSED, "reply code is 403 (got %u)",
              close->reply_code);
        check(close->reply_text.len >= 14 &&
                  memcmp(close->reply_text.bytes, "ACCESS_REFUSED", 14) == 0,
              "reply text starts with ACCESS_REFUSED");
    }
    amqp_destroy_connection(conn);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    small_frames_with_heartbeat();
    default_frames_no_heartbeat();
    client_lowers_channel_max();
    wrong_password();
    /* The broker must still serve after refusing a login. */
    default_frames_no_heartbeat();
    printf("%s: %d failed check(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
