/* Parsing and validation of the warren-perf command line. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URI "amqp://guest:guest@127.0.0.1:5672/%2F"
#define DEFAULT_TIME_S 10.0

enum { OPT_NO_DECLARE = 1000, OPT_PREDECLARED, OPT_JSON, OPT_CACERT, OPT_HELP };

static const struct option long_options[] = {
    {"uri", required_argument, NULL, 'h'},
    {"producers", required_argument, NULL, 'x'},
    {"consumers", required_argument, NULL, 'y'},
    {"size", required_argument, NULL, 's'},
    {"time", required_argument, NULL, 'z'},
    {"pmessages", required_argument, NULL, 'C'},
    {"cmessages", required_argument, NULL, 'D'},
    {"queue", required_argument, NULL, 'u'},
    {"queues", required_argument, NULL, 'Q'},
    {"exchange", required_argument, NULL, 'e'},
    {"type", required_argument, NULL, 't'},
    {"routing-key", required_argument, NULL, 'k'},
    {"autoack", no_argument, NULL, 'a'},
    {"multi-ack-every", required_argument, NULL, 'A'},
    {"qos", required_argument, NULL, 'q'},
    {"confirm", required_argument, NULL, 'c'},
    {"flag", required_argument, NULL, 'f'},
    {"rate", required_argument, NULL, 'r'},
    {"interval", required_argument, NULL, 'i'},
    {"no-declare", no_argument, NULL, OPT_NO_DECLARE},
    {"predeclared", no_argument, NULL, OPT_PREDECLARED},
    {"json", no_argument, NULL, OPT_JSON},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void options_usage(const char *program)
{
    printf("usage: %s [options]\n"
           "  -h, --uri URI            amqp://user:pass@host:port/vhost (default %s);\n"
           "                           amqps://... for TLS (port 5671 unless given)\n"
           "      --cacert FILE        with amqps: trust the CAs in this PEM file (default:\n"
           "                           the system's); the certificate must name the host\n"
           "  -x, --producers N        producer connections (default 1)\n"
           "  -y, --consumers N        consumer connections (default 1)\n"
           "  -s, --size BYTES         message body size (default 16, min %d)\n"
           "  -z, --time SECONDS       run duration (default 10 when no -C/-D)\n"
           "  -C, --pmessages N        messages per producer\n"
           "  -D, --cmessages N        messages per consumer\n"
           "  -u, --queue NAME         queue name (default: server-named)\n"
           "  -Q, --queues N           N queues named <queue or perf-test>-0..N-1\n"
           "  -e, --exchange NAME      exchange to publish to (default \"\")\n"
           "  -t, --type TYPE          exchange type to declare (default direct)\n"
           "  -k, --routing-key KEY    routing key (default: the queue name)\n"
           "  -a, --autoack            consumers use no-ack\n"
           "  -A, --multi-ack-every N  manual ack with multiple=true every N messages\n"
           "  -q, --qos N              basic.qos prefetch per consumer (0 = unlimited)\n"
           "  -c, --confirm N          publisher confirms, at most N outstanding\n"
           "  -f, --flag FLAG          persistent (delivery_mode 2) or mandatory\n"
           "  -r, --rate N             messages per second per producer\n"
           "  -i, --interval SECONDS   progress line interval (default 1)\n"
           "      --no-declare         declare nothing (queues and exchanges must exist)\n"
           "      --predeclared        queues may exist already; never delete them\n"
           "      --json               final summary as one JSON object on stdout\n",
           program, DEFAULT_URI, OPTIONS_MIN_SIZE);
}

static bool parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*text || *text == '-')
        return false;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !*text || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool copy_name(const char *text, char *out)
{
    size_t len = strlen(text);
    if (len > 255) /* AMQP shortstr */
        return false;
    memcpy(out, text, len + 1);
    return true;
}

static void set_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->uri_text, DEFAULT_URI);
    o->producers = 1;
    o->consumers = 1;
    o->size = 16;
    o->multi_ack_every = 1;
    o->interval_s = 1.0;
    strcpy(o->exchange_type, "direct");
}

static int bad(const char *option, const char *value, const char *why)
{
    fprintf(stderr, "warren-perf: bad value '%s' for %s: %s\n", value, option, why);
    return -1;
}

/* One option; -1 (message printed) when its value is invalid. */
static int apply(struct options *o, int opt, const char *arg, bool *time_given)
{
    uint64_t n;
    switch (opt) {
    case 'h':
        if (strlen(arg) >= sizeof o->uri_text)
            return bad("-h", arg, "too long");
        strcpy(o->uri_text, arg);
        return 0;
    case 'x':
    case 'y':
        if (!parse_u64(arg, 10000, &n))
            return bad(opt == 'x' ? "-x" : "-y", arg, "expected 0..10000");
        *(opt == 'x' ? &o->producers : &o->consumers) = (unsigned)n;
        return 0;
    case 's':
        if (!parse_u64(arg, 512u << 20, &n) || n < OPTIONS_MIN_SIZE)
            return bad("-s", arg, "expected 12..536870912");
        o->size = (uint32_t)n;
        return 0;
    case 'z':
        if (!parse_seconds(arg, &o->time_s) || o->time_s <= 0)
            return bad("-z", arg, "expected seconds > 0");
        *time_given = true;
        return 0;
    case 'C':
    case 'D':
        if (!parse_u64(arg, UINT64_MAX, &n) || n == 0)
            return bad(opt == 'C' ? "-C" : "-D", arg, "expected a count > 0");
        *(opt == 'C' ? &o->pmessages : &o->cmessages) = n;
        return 0;
    case 'u':
        return copy_name(arg, o->queue) ? 0 : bad("-u", arg, "longer than 255");
    case 'Q':
        if (!parse_u64(arg, 10000, &n) || n == 0)
            return bad("-Q", arg, "expected 1..10000");
        o->queues = (unsigned)n;
        return 0;
    case 'e':
        return copy_name(arg, o->exchange) ? 0 : bad("-e", arg, "longer than 255");
    case 't':
        return copy_name(arg, o->exchange_type) ? 0 : bad("-t", arg, "longer than 255");
    case 'k':
        o->routing_key_given = true;
        return copy_name(arg, o->routing_key) ? 0 : bad("-k", arg, "longer than 255");
    case 'a':
        o->autoack = true;
        return 0;
    case 'A':
        if (!parse_u64(arg, UINT32_MAX, &n) || n == 0)
            return bad("-A", arg, "expected a count > 0");
        o->multi_ack_every = (uint32_t)n;
        return 0;
    case 'q':
        if (!parse_u64(arg, UINT16_MAX, &n))
            return bad("-q", arg, "expected 0..65535");
        o->qos = (uint16_t)n;
        return 0;
    case 'c':
        if (!parse_u64(arg, 1u << 24, &n))
            return bad("-c", arg, "expected 0..16777216");
        o->confirm = (uint32_t)n;
        return 0;
    case 'f':
        if (strcmp(arg, "persistent") == 0)
            o->persistent = true;
        else if (strcmp(arg, "mandatory") == 0)
            o->mandatory = true;
        else
            return bad("-f", arg, "expected persistent or mandatory");
        return 0;
    case 'r':
        if (!parse_seconds(arg, &o->rate))
            return bad("-r", arg, "expected messages per second >= 0");
        return 0;
    case 'i':
        if (!parse_seconds(arg, &o->interval_s) || o->interval_s < 0.01)
            return bad("-i", arg, "expected seconds >= 0.01");
        return 0;
    case OPT_NO_DECLARE:
        o->no_declare = true;
        return 0;
    case OPT_PREDECLARED:
        o->predeclared = true;
        return 0;
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_CACERT:
        if (strlen(arg) >= sizeof o->cacert)
            return bad("--cacert", arg, "too long");
        strcpy(o->cacert, arg);
        return 0;
    default:
        return -1;
    }
}

static int check_combination(struct options *o)
{
    char err[256];
    if (uri_parse(o->uri_text, &o->uri, err, sizeof err) < 0) {
        fprintf(stderr, "warren-perf: %s\n", err);
        return -1;
    }
    if (o->cacert[0] && !o->uri.tls) {
        fprintf(stderr, "warren-perf: --cacert needs an amqps:// URI\n");
        return -1;
    }
    if (o->producers == 0 && o->consumers == 0) {
        fprintf(stderr, "warren-perf: nothing to do with -x 0 -y 0\n");
        return -1;
    }
    if (o->no_declare && o->consumers > 0 && !o->queue[0] && !o->queues) {
        fprintf(stderr, "warren-perf: --no-declare needs -u or -Q to know what to consume\n");
        return -1;
    }
    if (!o->autoack && o->qos && o->multi_ack_every > o->qos)
        fprintf(stderr, "warren-perf: warning: -A %u exceeds -q %u: consumers will stall\n",
                o->multi_ack_every, o->qos);
    return 0;
}

enum options_result options_parse(int argc, char **argv, struct options *o)
{
    set_defaults(o);
    bool time_given = false;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h:x:y:s:z:C:D:u:Q:e:t:k:aA:q:c:f:r:i:", long_options,
                              NULL)) != -1) {
        if (opt == OPT_HELP)
            return OPTIONS_HELP;
        if (opt == '?' || apply(o, opt, optarg, &time_given) < 0)
            return OPTIONS_ERROR;
    }
    if (optind < argc) {
        fprintf(stderr, "warren-perf: unexpected argument '%s'\n", argv[optind]);
        return OPTIONS_ERROR;
    }
    if (!time_given && !o->pmessages && !o->cmessages)
        o->time_s = DEFAULT_TIME_S;
    return check_combination(o) < 0 ? OPTIONS_ERROR : OPTIONS_OK;
}
