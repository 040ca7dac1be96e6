/* Warren's entry point: rabbitmq.conf, the environment and the command line into a configuration, then the server. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core/information_unit.h"
#include "model/broker.h"
#include "server.h"
#include "store/data_dir.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: warren [OPTION]...\n"
            "An AMQP 0-9-1 message broker.\n\n"
            "      --config FILE          read a rabbitmq.conf (RabbitMQ's key = value format;\n"
            "                             or $RABBITMQ_CONFIG_FILE, with or without .conf);\n"
            "                             the options below win over it\n"
            "  -b, --bind ADDRESS         address to listen on (default 127.0.0.1)\n"
            "  -p, --port PORT            port to listen on (default 5672); --bind or --port\n"
            "                             replace the file's listeners.tcp.*; 0: a free port,\n"
            "                             and the management and Prometheus listeners left at\n"
            "                             their default ports take free ports too\n"
            "      --tls-port PORT        also listen for AMQP over TLS on PORT, on the bind\n"
            "                             address (rabbitmq.conf: listeners.ssl.default = 5671);\n"
            "                             replaces the file's listeners.ssl.*; certificates and\n"
            "                             key from ssl_options.*, reloaded on SIGHUP; 0: a free\n"
            "                             port\n"
            "      --management-port PORT the management HTTP API's port (default 15672; 0: none)\n"
            "      --management-bind ADDRESS  its address (default: the AMQP bind address)\n"
            "      --prometheus-port PORT Prometheus metrics port (default 15692; 0: none)\n"
            "      --prometheus-bind ADDRESS  its address (default: the AMQP bind address)\n"
            "      --data-dir DIR         where durable state lives (default $RABBITMQ_MNESIA_DIR,\n"
            "                             else $RABBITMQ_MNESIA_BASE/warren@HOST, else\n"
            "                             $XDG_STATE_HOME/warren/warren@HOST or\n"
            "                             ~/.local/state/warren/warren@HOST); one Warren each\n"
            "      --ephemeral            keep everything in memory: no data directory, no lock,\n"
            "                             no log file, nothing written to disk whatever the\n"
            "                             configuration says (a throwaway broker for tests)\n"
            "      --default-user NAME    the user created at start (default guest; or\n"
            "                             $RABBITMQ_DEFAULT_USER, which wins over default_user)\n"
            "      --default-pass PASS    its password (default guest; or $RABBITMQ_DEFAULT_PASS;\n"
            "                             file: default_pass)\n"
            "      --default-vhost NAME   the vhost created at start (default /; or\n"
            "                             $RABBITMQ_DEFAULT_VHOST; file: default_vhost)\n"
            "      --frame-max BYTES      largest frame offered to clients (default 131072;\n"
            "                             file: frame_max)\n"
            "      --channel-max N        most channels per connection (default 2047;\n"
            "                             file: channel_max)\n"
            "      --heartbeat SECONDS    heartbeat interval offered to clients (default 60;\n"
            "                             file: heartbeat)\n"
            "      --handshake-timeout MS time allowed to open a connection (default 10000;\n"
            "                             file: handshake_timeout)\n"
            "      --max-message-size BYTES  largest message body accepted (default 134217728;\n"
            "                             file: max_message_size)\n"
            "      --consumer-timeout MS  how long a delivery may stay unacknowledged before its\n"
            "                             channel is closed (default 1800000; 0: no limit;\n"
            "                             file: consumer_timeout)\n"
            "      --vm-memory-high-watermark LIMIT  memory use above which publishers are\n"
            "                             blocked: a fraction of RAM with a point (0.4, the\n"
            "                             default) or bytes with RabbitMQ's units (2GB, 1024MiB;\n"
            "                             file: vm_memory_high_watermark.relative/.absolute)\n"
            "      --disk-free-limit LIMIT  free disk space under which publishers are blocked:\n"
            "                             bytes with units (default 50MB) or a multiple of RAM\n"
            "                             with a point (1.5; file: disk_free_limit.absolute/\n"
            "                             .relative)\n"
            "      --rabbitmq-compat VERSION  behave as RabbitMQ VERSION by default does: 3.13\n"
            "                             (the default) or 4.3 (file: warren.rabbitmq_compat)\n"
            "      --enable-fault-injection  let administrators inject faults into clients'\n"
            "                             connections over the management API, for testing\n"
            "                             client libraries (/api/warren/faults; file:\n"
            "                             warren.fault_injection = true); never in production\n"
            "  -l, --log-level LEVEL      debug, info, warning, error or none (default info;\n"
            "                             file: log.console.level)\n"
            "Once every listener listens, one line goes to stdout naming each listener's\n"
            "address: WARREN_READY amqp=127.0.0.1:5672 management=127.0.0.1:15672 ... pid=N\n"
            "  -h, --help                 show this help and exit\n"
            "  -V, --version              show the version and exit\n");
}

static bool parse_number(const char *s, unsigned long long min, unsigned long long max,
                         unsigned long long *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

enum { OPT_DATA_DIR = 256, OPT_USER, OPT_PASS, OPT_VHOST, OPT_FRAME_MAX, OPT_CHANNEL_MAX,
       OPT_HEARTBEAT, OPT_HANDSHAKE_TIMEOUT, OPT_MAX_MESSAGE_SIZE, OPT_CONSUMER_TIMEOUT,
       OPT_CONFIG, OPT_MANAGEMENT_PORT, OPT_MANAGEMENT_BIND, OPT_PROMETHEUS_PORT,
       OPT_PROMETHEUS_BIND, OPT_MEMORY_WATERMARK, OPT_DISK_FREE_LIMIT, OPT_TLS_PORT,
       OPT_EPHEMERAL, OPT_RABBITMQ_COMPAT, OPT_FAULT_INJECTION };

static const struct option options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"bind", required_argument, NULL, 'b'},
    {"port", required_argument, NULL, 'p'},
    {"tls-port", required_argument, NULL, OPT_TLS_PORT},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"rabbitmq-compat", required_argument, NULL, OPT_RABBITMQ_COMPAT},
    {"management-port", required_argument, NULL, OPT_MANAGEMENT_PORT},
    {"management-bind", required_argument, NULL, OPT_MANAGEMENT_BIND},
    {"prometheus-port", required_argument, NULL, OPT_PROMETHEUS_PORT},
    {"prometheus-bind", required_argument, NULL, OPT_PROMETHEUS_BIND},
    {"default-user", required_argument, NULL, OPT_USER},
    {"default-pass", required_argument, NULL, OPT_PASS},
    {"default-vhost", required_argument, NULL, OPT_VHOST},
    {"frame-max", required_argument, NULL, OPT_FRAME_MAX},
    {"channel-max", required_argument, NULL, OPT_CHANNEL_MAX},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"max-message-size", required_argument, NULL, OPT_MAX_MESSAGE_SIZE},
    {"consumer-timeout", required_argument, NULL, OPT_CONSUMER_TIMEOUT},
    {"vm-memory-high-watermark", required_argument, NULL, OPT_MEMORY_WATERMARK},
    {"disk-free-limit", required_argument, NULL, OPT_DISK_FREE_LIMIT},
    {"enable-fault-injection", no_argument, NULL, OPT_FAULT_INJECTION},
    {"log-level", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* The --config option's file, found before the other options apply (they win over it). */
static const char *config_option(int argc, char **argv)
{
    const char *file = NULL;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "b:p:l:hV", options, NULL)) != -1)
        if (opt == OPT_CONFIG)
            file = optarg;
    opterr = 1;
    optind = 0; /* glibc: start over, fully */
    return file;
}

/* RabbitMQ's precedence: its environment variables win over the file (rabbit.erl's
 * get_default_data_param), the command line over both. */
static void apply_environment(struct broker_config *cfg)
{
    const char *env;
    if ((env = getenv("RABBITMQ_DEFAULT_USER")) && *env)
        cfg->default_user = env;
    if ((env = getenv("RABBITMQ_DEFAULT_PASS")))
        cfg->default_pass = env;
    if ((env = getenv("RABBITMQ_DEFAULT_VHOST")) && *env)
        cfg->default_vhost = env;
}

/* A limit as the two flags take it: "0.4" (with a point) is a fraction, in [0, max];
 * anything else is bytes with RabbitMQ's units. */
static bool parse_limit(const char *s, double max, double *fraction, uint64_t *bytes)
{
    if (strchr(s, '.')) {
        char *end;
        double f = strtod(s, &end);
        if (*end || !(f >= 0 && f <= max))
            return false;
        *fraction = f;
        *bytes = 0;
        return true;
    }
    *fraction = 0;
    return information_unit_parse(s, bytes);
}

/* What the command line said beyond the settings themselves. */
struct command_line {
    bool ephemeral;
    bool management_port_given, prometheus_port_given;
};

/* --port 0: the HTTP listeners still at their default ports would clash between two brokers
 * of one test suite, so they take free ports as well. */
static void free_default_http_ports(struct broker_config *cfg, const struct command_line *cl)
{
    struct broker_config defaults;
    broker_config_defaults(&defaults);
    if (!cl->management_port_given && cfg->management_port == defaults.management_port)
        cfg->management_port = BROKER_PORT_FREE;
    if (!cl->prometheus_port_given && cfg->prometheus_port == defaults.prometheus_port)
        cfg->prometheus_port = BROKER_PORT_FREE;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct broker_config *cfg, struct command_line *cl)
{
    int opt;
    unsigned long long n;
    bool address_given = false, free_port = false;
    int index = -1;
    while ((opt = getopt_long(argc, argv, "b:p:l:hV", options, &index)) != -1) {
        switch (opt) {
        case OPT_CONFIG: break;
        case 'b': cfg->bind = optarg; address_given = true; break;
        case 'p':
            if (!parse_number(optarg, 0, 65535, &n))
                goto bad;
            cfg->port = (int)n;
            address_given = true;
            free_port = n == 0;
            break;
        case OPT_TLS_PORT:
            if (!parse_number(optarg, 0, 65535, &n))
                goto bad;
            cfg->tls_port = n ? (int)n : BROKER_PORT_FREE;
            break;
        case OPT_DATA_DIR: cfg->data_dir = optarg; break;
        case OPT_EPHEMERAL: cl->ephemeral = true; break;
        case OPT_RABBITMQ_COMPAT:
            if (!(cfg->compat = compat_find(optarg)))
                goto bad;
            break;
        case OPT_MANAGEMENT_PORT:
        case OPT_PROMETHEUS_PORT:
            if (!parse_number(optarg, 0, 65535, &n))
                goto bad;
            *(opt == OPT_MANAGEMENT_PORT ? &cfg->management_port : &cfg->prometheus_port) = (int)n;
            *(opt == OPT_MANAGEMENT_PORT ? &cl->management_port_given
                                         : &cl->prometheus_port_given) = true;
            break;
        case OPT_MANAGEMENT_BIND: cfg->management_bind = optarg; break;
        case OPT_PROMETHEUS_BIND: cfg->prometheus_bind = optarg; break;
        case OPT_USER: cfg->default_user = optarg; break;
        case OPT_PASS: cfg->default_pass = optarg; break;
        case OPT_VHOST: cfg->default_vhost = optarg; break;
        case OPT_FRAME_MAX:
            if (!parse_number(optarg, 4096, UINT32_MAX, &n))
                goto bad;
            cfg->frame_max = (uint32_t)n;
            break;
        case OPT_CHANNEL_MAX:
            if (!parse_number(optarg, 1, 65535, &n))
                goto bad;
            cfg->channel_max = (uint16_t)n;
            break;
        case OPT_HEARTBEAT:
            if (!parse_number(optarg, 0, 65535, &n))
                goto bad;
            cfg->heartbeat = (uint16_t)n;
            break;
        case OPT_HANDSHAKE_TIMEOUT:
            if (!parse_number(optarg, 1, 3600000, &n))
                goto bad;
            cfg->handshake_timeout_ms = n;
            break;
        case OPT_MAX_MESSAGE_SIZE:
            /* RabbitMQ caps max_message_size at 512 MiB. */
            if (!parse_number(optarg, 1, 512u << 20, &n))
                goto bad;
            cfg->max_message_size = n;
            break;
        case OPT_FAULT_INJECTION: cfg->fault_injection = true; break;
        case OPT_CONSUMER_TIMEOUT:
            if (!parse_number(optarg, 0, INT64_MAX, &n))
                goto bad;
            cfg->consumer_timeout_ms = n;
            break;
        case OPT_MEMORY_WATERMARK: {
            double f;
            uint64_t bytes;
            if (!parse_limit(optarg, 1.0, &f, &bytes) || (!bytes && f == 0 && !strchr(optarg, '.')))
                goto bad;
            cfg->vm_memory_high_watermark = bytes ? cfg->vm_memory_high_watermark : f;
            cfg->vm_memory_high_watermark_absolute = bytes;
            break;
        }
        case OPT_DISK_FREE_LIMIT: {
            double f;
            uint64_t bytes;
            if (!parse_limit(optarg, 1e9, &f, &bytes))
                goto bad;
            cfg->disk_free_limit = bytes;
            cfg->disk_free_limit_relative = strchr(optarg, '.') ? f : 0;
            break;
        }
        case 'l': {
            int level = log_level_parse(optarg);
            if (level < 0)
                goto bad;
            cfg->log_level = (enum log_level)level;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("warren %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "warren: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (address_given) { /* the command line's one listener replaces the file's */
        cfg->tcp_listener_count = 0;
        cfg->tcp_listeners_none = false;
    }
    if (free_port)
        free_default_http_ports(cfg, cl);
    return -1;
bad:
    /* the long option's name when it was given as one (index is left alone for -p and -b) */
    if (index >= 0 && options[index].val == opt)
        fprintf(stderr, "warren: invalid value '%s' for option --%s\n", optarg, options[index].name);
    else
        fprintf(stderr, "warren: invalid value '%s' for option -%c\n", optarg, opt);
    return 2;
}

static void print_warning(void *ctx, const char *text)
{
    (void)ctx;
    struct log stderr_log = {.level = LOG_WARNING};
    log_warning(&stderr_log, "%s", text);
}

/* --config, else $RABBITMQ_CONFIG_FILE as RabbitMQ looks it up. Returns -1 to go on, or the
 * exit status. */
static int load_config_file(const char *file, struct config_store *store,
                            struct broker_config *cfg)
{
    char found[4096];
    const char *env = getenv("RABBITMQ_CONFIG_FILE");
    if (!file && env && *env) {
        int erlang_format;
        file = config_find_rabbitmq_file(env, found, sizeof found, &erlang_format);
        if (!file) {
            /* RabbitMQ starts without a file then */
            fprintf(stderr, "warren: RABBITMQ_CONFIG_FILE=%s: neither it nor %s.conf exists; "
                    "no configuration file read\n", env, env);
            return -1;
        }
        if (erlang_format) {
            fprintf(stderr, "warren: %s: RabbitMQ's older Erlang-term format (.config) is not "
                    "read by Warren; use the rabbitmq.conf format\n", file);
            return 1;
        }
    }
    if (!file)
        return -1;
    struct config_error err;
    if (config_load_file(store, file, cfg, print_warning, NULL, &err) < 0) {
        fprintf(stderr, "warren: error in the configuration file:\n%s\n", err.text);
        return 1;
    }
    return -1;
}

/* What no single setting can say on its own. */
static int check_config(const struct broker_config *cfg)
{
    if (cfg->tcp_listeners_none && !cfg->tls_port && !cfg->ssl_listener_count) {
        fprintf(stderr, "warren: listeners.tcp = none and no TLS listener (listeners.ssl.* or "
                "--tls-port) leave no AMQP listener\n");
        return 1;
    }
    return -1;
}

/* --ephemeral: whatever the file, the environment or --data-dir said, nothing goes to disk. */
static void make_ephemeral(struct broker_config *cfg)
{
    if (cfg->log_file) {
        struct log stderr_log = {.level = LOG_WARNING};
        log_warning(&stderr_log, "--ephemeral: log.file = %s not written; the log goes to "
                    "stderr only", cfg->log_file);
    }
    cfg->data_dir = NULL;
    cfg->log_file = NULL;
}

int main(int argc, char **argv)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    struct config_store store = {0};
    struct command_line cl = {.ephemeral = false};
    int status = load_config_file(config_option(argc, argv), &store, &cfg);
    if (status < 0) {
        apply_environment(&cfg);
        status = parse_args(argc, argv, &cfg, &cl);
    }
    if (status < 0)
        status = check_config(&cfg);
    if (status < 0 && cl.ephemeral)
        make_ephemeral(&cfg);
    char default_data_dir[4096];
    if (status < 0 && !cfg.data_dir && !cl.ephemeral) {
        if (data_dir_default(default_data_dir, sizeof default_data_dir)) {
            cfg.data_dir = default_data_dir;
        } else {
            fprintf(stderr, "warren: no data directory: give --data-dir (HOME is not set)\n");
            status = 1;
        }
    }
    if (status < 0)
        status = server_run(&cfg);
    config_store_free(&store);
    return status;
}
