/* Resource alarms: the memory high watermark and the disk free limit, sampled, and what they tell publishers. */
#ifndef ALARM_H
#define ALARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/heap.h"
#include "core/log.h"

enum alarm_resource { ALARM_MEMORY = 1u, ALARM_DISK = 2u };

/* RabbitMQ's sampling: memory every second; disk as often as space filling at 250 MB/s could
 * reach the limit, between 100 ms and 10 s (10 s while the alarm is on). */
#define ALARM_MEMORY_INTERVAL_MS 1000
#define ALARM_DISK_MIN_INTERVAL_MS 100
#define ALARM_DISK_MAX_INTERVAL_MS 10000
#define ALARM_DISK_FAST_BYTES_PER_MS 250000

/* What the operating system is asked; tests put their own figures here. */
struct alarm_probe {
    uint64_t (*memory_used)(void *ctx);
    /* Hands memory the allocator holds free back to the system (before a second look). */
    void (*release_free_memory)(void *ctx);
    uint64_t (*disk_free)(void *ctx, const char *path);
    uint64_t (*total_memory)(void *ctx);
    void *ctx;
};

/* The limits as configured (rabbitmq.conf, the command line): absolute bytes win when set. */
struct alarm_limits {
    double memory_relative;   /* of RAM */
    uint64_t memory_absolute;
    double disk_relative;     /* a multiple of RAM */
    uint64_t disk_absolute;
};

/* What the alarms use of their owner (the broker): where to log, what to schedule on. */
struct alarm_host {
    struct log *log;
    struct deadline_heap *deadlines;
    struct clock *clock;
    const char *node;       /* for the log lines */
    const char *disk_path;  /* the data directory, or "." */
};

struct alarms {
    struct alarm_host host;
    struct alarm_limits configured;
    struct alarm_probe probe;
    unsigned active;        /* ALARM_* bits in effect */
    unsigned raised_last;   /* the one raised most recently: RabbitMQ lists it first */
    uint64_t memory_limit;  /* bytes */
    uint64_t memory_used;   /* the last sample */
    uint64_t disk_free_limit;
    uint64_t disk_free;     /* the last sample */
    bool disk_short;        /* the last sample was below the limit */
    bool store_failed;      /* the message store cannot write (ENOSPC, EIO) */
    bool store_unreserved;  /* it cannot reserve the space of its next segment */
    unsigned simulated;     /* ALARM_* bits set by fault injection, whatever the samples say */
    struct deadline memory_tick, disk_tick;
};

/* Limits from the broker's configuration, the first samples taken, nothing scheduled. */
void alarms_init(struct alarms *a, const struct alarm_host *host, const struct alarm_limits *limits);
/* Replaces the probe (before alarms_start) and samples again. */
void alarms_set_probe(struct alarms *a, const struct alarm_probe *probe);
/* Schedules the periodic sampling on the broker's deadline heap. */
void alarms_start(struct alarms *a);
void alarms_stop(struct alarms *a);

/* rabbitmqctl set_vm_memory_high_watermark: a fraction of RAM (0 to 1), or bytes when
 * absolute is nonzero; memory is sampled at once, as RabbitMQ does. */
void alarms_set_memory_watermark(struct alarms *a, double relative, uint64_t absolute);
/* rabbitmqctl set_disk_free_limit: bytes, or a multiple of RAM when absolute is 0. */
void alarms_set_disk_free_limit(struct alarms *a, double mem_relative, uint64_t absolute);
/* When the disk is looked at next, by RabbitMQ's rule above. */
uint64_t alarms_disk_interval_ms(const struct alarms *a);
/* Takes both samples now. */
void alarms_sample(struct alarms *a);
/* The message store could not write (failed) or writes again: while it cannot, the disk alarm
 * is in effect whatever the free space looks like, so publishers block as RabbitMQ's disk
 * alarm blocks them. */
void alarms_set_store_failed(struct alarms *a, bool failed);
/* The same when the store cannot reserve the space its next records will need: publishers
 * block while what is already reserved still takes what they sent. */
void alarms_set_store_unreserved(struct alarms *a, bool unreserved);

/* Fault injection: the alarm r is in effect (on) whatever the samples say, or again only when
 * they say so. */
void alarms_simulate(struct alarms *a, enum alarm_resource r, bool on);

/* Publishing connections must block: some alarm is in effect. */
static inline bool alarms_block_publishers(const struct alarms *a)
{
    return a->active != 0;
}
/* connection.blocked's reason: "low on memory", "low on disk", "low on disk & memory". */
void alarms_block_reason(const struct alarms *a, char *buf, size_t size);
/* The alarms in effect, in RabbitMQ's order (the latest raised first); returns how many. */
size_t alarms_list(const struct alarms *a, enum alarm_resource out[2]);
/* The health checks' and Prometheus' names: "memory" and "disk space". */
const char *alarm_resource_name(enum alarm_resource r);

/* For the Prometheus families rabbitmq_alarms_memory_used_watermark and
 * rabbitmq_alarms_free_disk_space_watermark: 1 while in effect. */
static inline bool alarms_memory_alarm(const struct alarms *a) { return a->active & ALARM_MEMORY; }
static inline bool alarms_disk_alarm(const struct alarms *a) { return a->active & ALARM_DISK; }

#endif
