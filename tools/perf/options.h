/* The warren-perf command line (PerfTest-shaped; the contract tools/bench relies on). */
#ifndef PERF_OPTIONS_H
#define PERF_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "uri.h"

#define OPTIONS_MIN_SIZE 12 /* 8-byte send timestamp + 4-byte producer id */
#define OPTIONS_NAME_MAX 256

struct options {
    struct uri uri;
    char uri_text[1024];
    char cacert[1024];   /* "" = the system's CAs (amqps only) */
    unsigned producers;
    unsigned consumers;
    uint32_t size;
    double time_s;       /* 0 = no time limit */
    uint64_t pmessages;  /* 0 = unlimited */
    uint64_t cmessages;  /* 0 = unlimited */
    char queue[OPTIONS_NAME_MAX];   /* "" = server-named */
    unsigned queues;                /* 0 = not given (one queue) */
    char exchange[OPTIONS_NAME_MAX];
    char exchange_type[OPTIONS_NAME_MAX];
    char routing_key[OPTIONS_NAME_MAX];
    bool routing_key_given;
    bool autoack;
    uint32_t multi_ack_every;
    uint16_t qos;
    uint32_t confirm;    /* max outstanding; 0 = off */
    bool persistent;
    bool mandatory;
    double rate;         /* per producer; 0 = unlimited */
    double interval_s;
    bool no_declare;
    bool predeclared;
    bool json;
};

enum options_result { OPTIONS_OK, OPTIONS_HELP, OPTIONS_ERROR };

/* Fills opts from argv; on OPTIONS_ERROR a message is already printed to stderr. */
enum options_result options_parse(int argc, char **argv, struct options *opts);
void options_usage(const char *program);

#endif
