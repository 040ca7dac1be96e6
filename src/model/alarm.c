/* Resource alarms: limits as RabbitMQ interprets them, sampling on the deadline heap, and the texts clients and operators see. */
#include "model/alarm.h"

#include <stdio.h>

#include "core/container.h"
#include "core/process.h"

#define MIB (1024.0 * 1024.0)

/* ---- the default probe: the operating system ---- */

/* RSS is what the OS charges the broker and what RabbitMQ's default strategy (rss) reads.
 * It counts memory glibc keeps after free, though, so a broker that looks above its limit
 * hands that back first and looks again (see sample_memory): otherwise an alarm could stay
 * on after every queue drained. */
static uint64_t os_memory_used(void *ctx)
{
    (void)ctx;
    return process_resident_bytes();
}

static void os_release_free_memory(void *ctx)
{
    (void)ctx;
    process_release_free_memory();
}

static uint64_t os_disk_free(void *ctx, const char *path)
{
    (void)ctx;
    return system_disk_free_bytes(path);
}

static uint64_t os_total_memory(void *ctx)
{
    (void)ctx;
    return system_memory_bytes();
}

static const struct alarm_probe os_probe = {
    .memory_used = os_memory_used,
    .release_free_memory = os_release_free_memory,
    .disk_free = os_disk_free,
    .total_memory = os_total_memory,
};

/* ---- raising and clearing ---- */

const char *alarm_resource_name(enum alarm_resource r)
{
    return r == ALARM_MEMORY ? "memory" : "disk space";
}

static void set_active(struct alarms *a, enum alarm_resource r, bool on)
{
    if (!!(a->active & r) == on)
        return;
    const char *source = r == ALARM_MEMORY ? "memory" : "disk";
    if (on) {
        a->active |= r;
        a->raised_last = r;
        log_warning(a->host.log, "%s resource limit alarm set on node %s. Publishers will be "
                    "blocked until this alarm clears", source, a->host.node);
    } else {
        a->active &= ~(unsigned)r;
        log_warning(a->host.log, "%s resource limit alarm cleared on node %s", source,
                    a->host.node);
    }
}

/* The disk alarm's causes: little space, a store that cannot write or reserve, a test. */
static bool disk_wanted(const struct alarms *a)
{
    return a->disk_short || a->store_failed || a->store_unreserved || (a->simulated & ALARM_DISK);
}

static void sample_memory(struct alarms *a)
{
    uint64_t used = a->probe.memory_used(a->probe.ctx);
    if (used > a->memory_limit && a->probe.release_free_memory) {
        /* the trim walks the heap: worth it only when the answer may change */
        a->probe.release_free_memory(a->probe.ctx);
        used = a->probe.memory_used(a->probe.ctx);
    }
    a->memory_used = used;
    bool over = used > a->memory_limit; /* RabbitMQ: strictly above */
    if (over != !!(a->active & ALARM_MEMORY))
        log_info(a->host.log, "vm_memory_high_watermark %s. Memory used:%llu allowed:%llu",
                 over ? "set" : "clear", (unsigned long long)used,
                 (unsigned long long)a->memory_limit);
    set_active(a, ALARM_MEMORY, over || (a->simulated & ALARM_MEMORY));
}

static void sample_disk(struct alarms *a)
{
    uint64_t free_bytes = a->probe.disk_free(a->probe.ctx, a->host.disk_path);
    a->disk_free = free_bytes;
    bool short_of = free_bytes < a->disk_free_limit; /* RabbitMQ: strictly below */
    if (short_of != a->disk_short)
        log_info(a->host.log, "Free disk space is %s. Free bytes: %llu. Limit: %llu",
                 short_of ? "insufficient" : "sufficient", (unsigned long long)free_bytes,
                 (unsigned long long)a->disk_free_limit);
    a->disk_short = short_of;
    set_active(a, ALARM_DISK, disk_wanted(a));
}

void alarms_set_store_failed(struct alarms *a, bool failed)
{
    if (a->store_failed == failed)
        return;
    a->store_failed = failed;
    if (failed)
        log_warning(a->host.log, "The message store cannot write to disk: the disk alarm stays "
                    "set until a write succeeds again");
    else
        log_info(a->host.log, "The message store writes to disk again");
    set_active(a, ALARM_DISK, disk_wanted(a));
}

void alarms_set_store_unreserved(struct alarms *a, bool unreserved)
{
    if (a->store_unreserved == unreserved)
        return;
    a->store_unreserved = unreserved;
    if (unreserved)
        log_warning(a->host.log, "The message store cannot reserve disk space for its next "
                    "segment: the disk alarm stays set until it can");
    else
        log_info(a->host.log, "The message store has reserved disk space again");
    set_active(a, ALARM_DISK, disk_wanted(a));
}

void alarms_simulate(struct alarms *a, enum alarm_resource r, bool on)
{
    if (on)
        a->simulated |= r;
    else
        a->simulated &= ~(unsigned)r;
    if (r == ALARM_DISK)
        set_active(a, ALARM_DISK, disk_wanted(a));
    else
        set_active(a, ALARM_MEMORY, on || a->memory_used > a->memory_limit);
}

void alarms_sample(struct alarms *a)
{
    sample_memory(a);
    sample_disk(a);
}

/* ---- limits ---- */

static uint64_t memory_limit_of(const struct alarms *a, double relative, uint64_t absolute)
{
    uint64_t total = a->probe.total_memory(a->probe.ctx);
    if (absolute)
        return absolute < total ? absolute : total;
    return (uint64_t)(relative * (double)total);
}

static void apply_memory_watermark(struct alarms *a, double relative, uint64_t absolute)
{
    uint64_t total = a->probe.total_memory(a->probe.ctx);
    a->memory_limit = memory_limit_of(a, relative, absolute);
    log_info(a->host.log, "Memory high watermark set to %llu MiB (%llu bytes) of %llu MiB "
             "(%llu bytes) total", (unsigned long long)(a->memory_limit / MIB),
             (unsigned long long)a->memory_limit, (unsigned long long)(total / MIB),
             (unsigned long long)total);
}

static void apply_disk_free_limit(struct alarms *a, double mem_relative, uint64_t absolute)
{
    if (absolute || mem_relative <= 0) {
        a->disk_free_limit = absolute;
    } else {
        double bytes = mem_relative * (double)a->probe.total_memory(a->probe.ctx);
        a->disk_free_limit = (uint64_t)(bytes + 0.5); /* RabbitMQ rounds */
    }
    log_info(a->host.log, "Disk free limit set to %lluMB",
             (unsigned long long)(a->disk_free_limit / 1000000));
}

uint64_t alarms_disk_interval_ms(const struct alarms *a)
{
    if (a->active & ALARM_DISK || a->disk_free <= a->disk_free_limit)
        return ALARM_DISK_MAX_INTERVAL_MS;
    uint64_t ideal = 2 * (a->disk_free - a->disk_free_limit) / ALARM_DISK_FAST_BYTES_PER_MS;
    if (ideal < ALARM_DISK_MIN_INTERVAL_MS)
        return ALARM_DISK_MIN_INTERVAL_MS;
    return ideal > ALARM_DISK_MAX_INTERVAL_MS ? ALARM_DISK_MAX_INTERVAL_MS : ideal;
}

void alarms_set_memory_watermark(struct alarms *a, double relative, uint64_t absolute)
{
    apply_memory_watermark(a, relative, absolute);
    sample_memory(a);
}

void alarms_set_disk_free_limit(struct alarms *a, double mem_relative, uint64_t absolute)
{
    apply_disk_free_limit(a, mem_relative, absolute);
    sample_disk(a);
    if (deadline_pending(&a->disk_tick)) /* the interval depends on the new distance */
        deadline_heap_reschedule(a->host.deadlines, &a->disk_tick,
                                 clock_now_ms(a->host.clock) + alarms_disk_interval_ms(a));
}

/* ---- sampling on the deadline heap ---- */


static void on_memory_tick(struct deadline *d, uint64_t now_ms)
{
    struct alarms *a = container_of(d, struct alarms, memory_tick);
    sample_memory(a);
    deadline_heap_add(a->host.deadlines, d, now_ms + ALARM_MEMORY_INTERVAL_MS);
}

static void on_disk_tick(struct deadline *d, uint64_t now_ms)
{
    struct alarms *a = container_of(d, struct alarms, disk_tick);
    sample_disk(a);
    deadline_heap_add(a->host.deadlines, d, now_ms + alarms_disk_interval_ms(a));
}

static void apply_limits(struct alarms *a)
{
    const struct alarm_limits *l = &a->configured;
    apply_memory_watermark(a, l->memory_relative, l->memory_absolute);
    apply_disk_free_limit(a, l->disk_relative, l->disk_relative > 0 ? 0 : l->disk_absolute);
}

void alarms_init(struct alarms *a, const struct alarm_host *host, const struct alarm_limits *limits)
{
    *a = (struct alarms){.host = *host, .configured = *limits, .probe = os_probe};
    deadline_init(&a->memory_tick, on_memory_tick);
    deadline_init(&a->disk_tick, on_disk_tick);
    apply_limits(a);
    alarms_sample(a);
}

void alarms_set_probe(struct alarms *a, const struct alarm_probe *probe)
{
    a->probe = *probe;
    apply_limits(a);
    alarms_sample(a);
}

void alarms_start(struct alarms *a)
{
    uint64_t now = clock_now_ms(a->host.clock);
    deadline_heap_add(a->host.deadlines, &a->memory_tick, now + ALARM_MEMORY_INTERVAL_MS);
    deadline_heap_add(a->host.deadlines, &a->disk_tick, now + alarms_disk_interval_ms(a));
}

void alarms_stop(struct alarms *a)
{
    deadline_heap_remove(a->host.deadlines, &a->memory_tick);
    deadline_heap_remove(a->host.deadlines, &a->disk_tick);
}

/* ---- what others are told ---- */

void alarms_block_reason(const struct alarms *a, char *buf, size_t size)
{
    /* RabbitMQ joins its set of reasons, which Erlang lists disk first */
    bool disk = a->active & ALARM_DISK, memory = a->active & ALARM_MEMORY;
    snprintf(buf, size, "low on %s%s%s", disk ? "disk" : "", disk && memory ? " & " : "",
             memory ? "memory" : "");
}

size_t alarms_list(const struct alarms *a, enum alarm_resource out[2])
{
    size_t n = 0;
    if (a->active & a->raised_last)
        out[n++] = (enum alarm_resource)a->raised_last;
    for (unsigned r = ALARM_MEMORY; r <= ALARM_DISK; r <<= 1)
        if (a->active & r && r != a->raised_last)
            out[n++] = (enum alarm_resource)r;
    return n;
}
