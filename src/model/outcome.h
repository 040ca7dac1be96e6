/* What a model operation did: done, or the AMQP error every front end reports the same way. */
#ifndef OUTCOME_H
#define OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

struct outcome {
    uint16_t code;   /* 0 when the operation was done; else an AMQP reply code */
    bool connection; /* a connection exception (e.g. 503 for an unknown exchange type) */
    char text[256];  /* RabbitMQ's detail, without the "NAME - " that front ends put first */
};

static inline bool outcome_ok(const struct outcome *o)
{
    return o->code == 0;
}

static inline bool outcome_done(struct outcome *o)
{
    o->code = 0;
    return true;
}

/* A channel exception; returns false so that checks read `return outcome_fail(...)`. */
bool outcome_fail(struct outcome *o, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A connection exception. */
bool outcome_fail_connection(struct outcome *o, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For "%.*s" with a (pointer, length) name. */
#define NAME_FMT "%.*s"
#define NAME_ARG(b) (int)(b).len, (const char *)(b).ptr

#endif
