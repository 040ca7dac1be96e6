/* Unit tests for the message log: written once per message, recovered in order, torn and corrupt records dropped, segments reclaimed and compacted, delayed messages held again, disk errors survived, large bodies paged out and read back. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "model/broker.h"
#include "model/exchange.h"
#include "model/exchange_delayed.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "store/message_log.h"
#include "test_sessions.h"

struct fixture {
    uv_loop_t loop;
    struct broker b;
    struct message_log log;
    struct session s;
    struct vhost *v;
};

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/warren-test-message-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char path[512];
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(path), 0);
}

static void open_fixture(struct fixture *f, uint64_t segment_bytes)
{
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.log_level = LOG_ERROR;
    broker_init(&f->b, &cfg);
    broker_create_defaults(&f->b);
    char why[256];
    char messages[300];
    snprintf(messages, sizeof messages, "%s/messages", dir);
    ck_assert_int_eq(message_log_open(&f->log, &f->b, &f->loop, messages, segment_bytes, why,
                                      sizeof why), 0);
    broker_use_store(&f->b, &f->log.store);
    f->v = broker_find_vhost(&f->b, (const uint8_t *)"/", 1);
    test_session_open(&f->s, f->v, "tester");
}

static struct queue *declare(struct fixture *f, const char *name, bool durable)
{
    struct queue_declare req = {.name = amqp_cstr(name), .durable = durable, .who = &f->s};
    struct outcome out;
    struct queue *q = vhost_declare_queue(f->v, &req, &out);
    ck_assert_ptr_nonnull(q);
    return q;
}

/* A message with delivery-mode 2 (persistent) or 1, and body `body`. */
static struct message *make_message(const char *body, bool persistent)
{
    uint8_t header[15] = {0, 60, 0, 0};
    size_t len = strlen(body);
    amqp_put_u64(header + 4, len);
    amqp_put_u16(header + 12, AMQP_BASIC_DELIVERY_MODE_FLAG);
    header[14] = persistent ? 2 : 1;
    struct message *m = message_new(amqp_cstr("x"), amqp_cstr("key"), amqp_bytes_of(header, 15),
                                    len, len);
    message_write_body(m, 0, amqp_bytes_of(body, len));
    return m;
}

static void publish(struct queue *q, const char *body, bool persistent)
{
    struct message *m = make_message(body, persistent);
    ck_assert_int_eq(queue_publish(q, m), QUEUE_ENQUEUED);
    message_unref(m);
}

struct sync_wait {
    struct store_waiter w;
    uint64_t ticket;
    bool done, ok;
};

static void on_settled(struct store_waiter *w, uint64_t through, bool ok)
{
    struct sync_wait *s = (struct sync_wait *)w;
    if (through >= s->ticket) {
        s->done = true;
        s->ok = ok;
        store_waiter_cancel(w);
    }
}

/* Commits what the test did and waits for the writer; whether it was synced. */
static bool try_sync_log(struct fixture *f)
{
    struct sync_wait s = {.w.settled = on_settled};
    list_init(&s.w.link);
    s.ticket = f->log.store.ops->ticket(&f->log.store);
    f->log.store.ops->wait(&f->log.store, &s.w);
    message_log_commit(&f->log);
    while (!s.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return s.ok;
}

static void sync_log(struct fixture *f)
{
    ck_assert(try_sync_log(f));
}

static void close_fixture(struct fixture *f)
{
    message_log_close(&f->log);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    test_session_close(&f->s);
    broker_free(&f->b);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* The next ready body in q ("" when empty), acked, or kept unacked in *held. */
static const char *take_entry(struct queue *q, struct queue_entry *held, bool *redelivered)
{
    static char out[128];
    struct queue_entry e;
    if (!queue_get(q, &e))
        return "";
    struct message *m = queue_entry_message(&e);
    snprintf(out, sizeof out, "%.*s", (int)m->body_size, message_body(m));
    if (redelivered)
        *redelivered = e.redelivered;
    if (held)
        *held = e;
    else
        queue_settle(q, &e);
    return out;
}

static const char *take(struct queue *q, bool ack, bool *redelivered)
{
    ck_assert(ack);
    return take_entry(q, NULL, redelivered);
}

static int count_segments(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/messages", dir);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

/* The whole of segment 1, for tests that damage it. */
static uint8_t *read_segment(uint32_t number, size_t *size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/messages/%010u.seg", dir, number);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(*size);
    ck_assert_uint_eq(fread(data, 1, *size, f), *size);
    fclose(f);
    return data;
}

static void write_segment(uint32_t number, const uint8_t *data, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/messages/%010u.seg", dir, number);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

static size_t count_occurrences(const uint8_t *data, size_t size, const char *s)
{
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i + len <= size; i++)
        n += memcmp(data + i, s, len) == 0;
    return n;
}

static size_t find(const uint8_t *data, size_t size, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i + len <= size; i++)
        if (memcmp(data + i, s, len) == 0)
            return i;
    ck_abort_msg("%s not found", s);
    return 0;
}

/* A broker started again on the directory, with dq declared (as definitions would) and
 * recovered. */
static struct queue *reopen(struct fixture *f, uint64_t segment_bytes)
{
    open_fixture(f, segment_bytes);
    struct queue *q = declare(f, "dq", true);
    message_log_recover(&f->log);
    return q;
}

START_TEST(test_persistent_messages_survive_a_clean_stop)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 1 << 20);
    struct queue *dq = declare(&f, "dq", true), *tq = declare(&f, "tq", false);
    publish(dq, "first", true);
    publish(dq, "transient", false);
    publish(dq, "second", true);
    publish(dq, "third", true);
    publish(tq, "not durable", true);
    sync_log(&f);
    ck_assert_str_eq(take(dq, true, NULL), "first"); /* acked: gone for good */
    bool red;
    struct queue_entry held[2];
    ck_assert_str_eq(take_entry(dq, &held[0], &red), "transient");
    ck_assert_str_eq(take_entry(dq, &held[1], &red), "second");
    /* back unacked, as when their channel closes: now redelivered */
    queue_return(dq, &held[0]);
    queue_return(dq, &held[1]);
    sync_log(&f);
    close_fixture(&f);

    dq = reopen(&f, 1 << 20);
    ck_assert_uint_eq(queue_message_count(dq), 2);
    ck_assert_str_eq(take(dq, true, &red), "second");
    ck_assert(red); /* delivered once before the stop, as RabbitMQ keeps it */
    ck_assert_str_eq(take(dq, true, &red), "third");
    ck_assert(!red);
    ck_assert_ptr_null(vhost_find_queue(f.v, amqp_cstr("tq")));
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_crash_marks_all_redelivered)
{
    make_dir();
    pid_t child = fork();
    if (child == 0) {
        struct fixture f;
        open_fixture(&f, 1 << 20);
        struct queue *dq = declare(&f, "dq", true);
        publish(dq, "a", true);
        publish(dq, "b", true);
        sync_log(&f);
        _exit(0); /* no clean stop */
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct fixture f;
    struct queue *dq = reopen(&f, 1 << 20);
    bool red = false;
    ck_assert_str_eq(take(dq, true, &red), "a");
    ck_assert(red);
    ck_assert_str_eq(take(dq, true, &red), "b");
    ck_assert(red);
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_written_once_for_many_queues)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 1 << 20);
    struct queue *q1 = declare(&f, "dq", true), *q2 = declare(&f, "dq2", true);
    struct message *m = make_message("shared-body", true);
    queue_publish(q1, m);
    queue_publish(q2, m);
    message_unref(m);
    sync_log(&f);
    size_t size;
    uint8_t *data = read_segment(1, &size);
    ck_assert_uint_eq(count_occurrences(data, size, "shared-body"), 1);
    free(data);
    /* acked in one queue, it lives on in the other */
    ck_assert_str_eq(take(q2, true, NULL), "shared-body");
    sync_log(&f);
    close_fixture(&f);
    open_fixture(&f, 1 << 20);
    q1 = declare(&f, "dq", true);
    q2 = declare(&f, "dq2", true);
    message_log_recover(&f.log);
    ck_assert_uint_eq(queue_message_count(q1), 1);
    ck_assert_uint_eq(queue_message_count(q2), 0);
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_deleted_queue_takes_its_messages)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 1 << 20);
    struct queue *dq = declare(&f, "dq", true);
    publish(dq, "doomed", true);
    sync_log(&f);
    vhost_delete_queue(f.v, dq);
    sync_log(&f);
    close_fixture(&f);
    dq = reopen(&f, 1 << 20); /* a new queue of the same name inherits nothing */
    ck_assert_uint_eq(queue_message_count(dq), 0);
    close_fixture(&f);
    remove_dir();
}
END_TEST

/* Writes three messages and stops cleanly; returns segment 1's bytes. */
static uint8_t *three_messages(size_t *size)
{
    struct fixture f;
    open_fixture(&f, 1 << 16);
    struct queue *dq = declare(&f, "dq", true);
    publish(dq, "message-one", true);
    publish(dq, "message-two", true);
    publish(dq, "message-three", true);
    sync_log(&f);
    close_fixture(&f);
    return read_segment(1, size);
}

START_TEST(test_torn_last_record_dropped)
{
    make_dir();
    size_t size;
    uint8_t *data = three_messages(&size);
    /* a crash while the last message was written: the file ends inside its record */
    write_segment(1, data, find(data, size, "message-three") + 4);
    free(data);
    struct fixture f;
    struct queue *dq = reopen(&f, 1 << 16);
    ck_assert_uint_eq(queue_message_count(dq), 2);
    ck_assert_str_eq(take(dq, true, NULL), "message-one");
    ck_assert_str_eq(take(dq, true, NULL), "message-two");
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_flipped_byte_drops_that_message_only)
{
    make_dir();
    size_t size;
    uint8_t *data = three_messages(&size);
    data[find(data, size, "message-two") + 8] ^= 1; /* "message-tvo": its CRC fails */
    write_segment(1, data, size);
    free(data);
    struct fixture f;
    struct queue *dq = reopen(&f, 1 << 16);
    ck_assert_uint_eq(queue_message_count(dq), 2);
    ck_assert_str_eq(take(dq, true, NULL), "message-one");
    ck_assert_str_eq(take(dq, true, NULL), "message-three");
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_steady_traffic_reclaims_segments)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 8192);
    struct queue *dq = declare(&f, "dq", true);
    char body[200];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = 0;
    int most = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 10; i++)
            publish(dq, body, true);
        sync_log(&f);
        while (queue_message_count(dq))
            take(dq, true, NULL);
        sync_log(&f);
        int n = count_segments();
        most = n > most ? n : most;
    }
    /* 200 rounds of 10 x 200 B wrote 400 KiB into 8 KiB segments: only a few remain */
    struct message_log_figures fig;
    message_log_figures(&f.log, &fig);
    ck_assert_uint_gt(fig.deleted_segments, 40);
    ck_assert_int_le(most, 3);
    ck_assert_uint_eq(fig.live_messages, 0);
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_stuck_message_is_compacted)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 8192);
    struct queue *stuck = declare(&f, "dq", true), *dq = declare(&f, "busy", true);
    publish(stuck, "stuck-message", true); /* nobody ever consumes it */
    char body[200];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = 0;
    int most = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 10; i++)
            publish(dq, body, true);
        sync_log(&f);
        while (queue_message_count(dq))
            take(dq, true, NULL);
        sync_log(&f);
        int n = count_segments();
        most = n > most ? n : most;
    }
    struct message_log_figures fig;
    message_log_figures(&f.log, &fig);
    ck_assert_uint_gt(fig.compacted_messages, 0);
    ck_assert_int_le(most, 4);
    ck_assert_uint_eq(fig.live_messages, 1);
    close_fixture(&f);
    /* the compacted copy is the one recovered, once */
    stuck = reopen(&f, 8192);
    ck_assert_uint_eq(queue_message_count(stuck), 1);
    ck_assert_str_eq(take(stuck, true, NULL), "stuck-message");
    close_fixture(&f);
    remove_dir();
}
END_TEST

START_TEST(test_disk_error_fails_the_batch_and_goes_on)
{
    make_dir();
    pid_t child = fork();
    if (child == 0) {
        /* files may not grow past 64 KiB: preallocating a 1 MiB segment fails (EFBIG), as a
         * full disk would (ENOSPC) */
        struct rlimit small = {65536, 65536};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &small);
        struct fixture f;
        open_fixture(&f, 1 << 20);
        struct queue *dq = declare(&f, "dq", true);
        publish(dq, "cannot-be-stored", true);
        bool first = try_sync_log(&f);
        publish(dq, "neither", true);
        bool second = try_sync_log(&f);
        /* the broker goes on serving from memory */
        bool served = strcmp(take(dq, true, NULL), "cannot-be-stored") == 0;
        close_fixture(&f);
        _exit(!first && !second && served ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    remove_dir();
}
END_TEST

/* The time is now_ms: what is due by then runs. */
static void advance_to(struct fixture *f, uint64_t now_ms)
{
    clock_set_manual(&f->b.clock, now_ms);
    deadline_heap_run_due(&f->b.deadlines, now_ms);
}

/* Runs the loop until the log's try of a new segment has come back. */
static void wait_for_try(struct fixture *f)
{
    while (f->log.retry_ticket)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* How many of the child's checks failed (each is named on stderr). */
static int disk_error_episode(void)
{
    int failed = 0;
#define EXPECT(cond) \
    ((cond) ? (void)0 : (void)(failed++, fprintf(stderr, "line %d: %s failed\n", __LINE__, #cond)))
    /* a 64 KiB file size limit (which the test raises again later): preallocating a 1 MiB
     * segment fails with EFBIG, as a full disk fails it with ENOSPC */
    struct rlimit small = {65536, RLIM_INFINITY}, unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    struct fixture f;
    open_fixture(&f, 1 << 20);
    clock_set_manual(&f.b.clock, 1000);
    struct queue *dq = declare(&f, "dq", true);
    publish(dq, "cannot-be-stored", true);
    EXPECT(!try_sync_log(&f));
    EXPECT(alarms_disk_alarm(&f.b.alarms)); /* publishers block */
    EXPECT(count_segments() == 0);           /* the segment that failed is gone */
    /* meanwhile nothing is tried: the commit is nacked, the message waits */
    publish(dq, "waits", true);
    EXPECT(!try_sync_log(&f));
    EXPECT(count_segments() == 0);
    advance_to(&f, 1999);
    EXPECT(f.log.retry_ticket == 0);
    /* after 1 s a new segment alone is tried; it fails too, the next try is 2 s later */
    advance_to(&f, 2000);
    EXPECT(f.log.retry_ticket != 0);
    wait_for_try(&f);
    EXPECT(f.log.disk_error == EFBIG && f.log.retry_interval_ms == 2000);
    EXPECT(count_segments() == 0 && alarms_disk_alarm(&f.b.alarms));
    /* the disk has room again: the next try succeeds, what waited follows it */
    setrlimit(RLIMIT_FSIZE, &unlimited);
    advance_to(&f, 3999);
    EXPECT(f.log.retry_ticket == 0);
    advance_to(&f, 4000);
    wait_for_try(&f);
    EXPECT(f.log.disk_error == 0 && !alarms_disk_alarm(&f.b.alarms));
    EXPECT(count_segments() == 1);
    publish(dq, "after", true);
    EXPECT(try_sync_log(&f));
    EXPECT(queue_message_count(dq) == 3); /* served from memory all along */
    close_fixture(&f);
    /* the nacked message that was in the failed write stayed in the queue: it was written
     * again once the disk had room, with the others */
    dq = reopen(&f, 1 << 20);
    EXPECT(queue_message_count(dq) == 3);
    EXPECT(strcmp(take(dq, true, NULL), "cannot-be-stored") == 0);
    EXPECT(strcmp(take(dq, true, NULL), "waits") == 0);
    EXPECT(strcmp(take(dq, true, NULL), "after") == 0);
    close_fixture(&f);
#undef EXPECT
    return failed;
}

START_TEST(test_disk_error_tries_once_per_interval_then_recovers)
{
    make_dir();
    pid_t child = fork();
    if (child == 0)
        _exit(disk_error_episode() ? 1 : 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    remove_dir();
}
END_TEST

/* A commit that fails holds acks' forget records and the deletion of segments emptied or
 * compacted: once the disk takes writes again both still happen, so acked messages do not
 * come back after a restart and no segment file is left behind. */
/* publish and take without check's asserts, which a forked child may not make by the
 * thousand (their buffered reports reach check's pipe torn) */
static void offer(struct queue *q, const char *body)
{
    struct message *m = make_message(body, true);
    queue_publish(q, m);
    message_unref(m);
}

static void drain(struct queue *q)
{
    struct queue_entry e;
    while (queue_get(q, &e))
        queue_settle(q, &e);
}

static int failed_commit_episode(void)
{
    int failed = 0;
#define EXPECT(cond) \
    ((cond) ? (void)0 : (void)(failed++, fprintf(stderr, "line %d: %s failed\n", __LINE__, #cond)))
    /* 8 KiB segments fit under the limit; a forget record of 1000 acks (12 KiB) does not */
    struct rlimit small = {10000, RLIM_INFINITY}, unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    struct fixture f;
    open_fixture(&f, 8192);
    clock_set_manual(&f.b.clock, 1000);
    struct queue *keep = declare(&f, "keep", true), *dq = declare(&f, "dq", true);
    struct queue *churn = declare(&f, "churn", true);
    publish(keep, "pinned", true); /* segment 1 is compacted rather than deleted */
    for (int i = 0; i < 1000; i++)
        offer(dq, "acked");
    EXPECT(try_sync_log(&f));
    int written = count_segments();
    EXPECT(written > 5);
    drain(dq);
    EXPECT(!try_sync_log(&f)); /* the forgets' new segment cannot be made */
    EXPECT(f.log.disk_error != 0);
    setrlimit(RLIMIT_FSIZE, &unlimited);
    advance_to(&f, 2000);
    wait_for_try(&f);
    EXPECT(f.log.disk_error == 0);
    /* steady traffic afterwards: whatever segment holds the forgets is reclaimed */
    char body[200];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 10; i++)
            offer(churn, body);
        EXPECT(try_sync_log(&f));
        drain(churn);
        EXPECT(try_sync_log(&f));
    }
    EXPECT(count_segments() <= 4);
    EXPECT(queue_message_count(keep) == 1);
    close_fixture(&f);
    dq = reopen(&f, 8192);
    EXPECT(queue_message_count(dq) == 0); /* acked before the failure: acked still */
    close_fixture(&f);
#undef EXPECT
    return failed;
}

START_TEST(test_failed_commit_forgets_and_deletes_later)
{
    make_dir();
    pid_t child = fork();
    if (child == 0)
        _exit(failed_commit_episode() ? 1 : 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    remove_dir();
}
END_TEST

START_TEST(test_durability_off_without_store)
{
    /* no store: a durable queue takes persistent messages as before, m->stored stays NULL */
    struct broker b;
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    broker_init(&b, &cfg);
    broker_create_defaults(&b);
    struct vhost *v = broker_find_vhost(&b, (const uint8_t *)"/", 1);
    struct session s;
    test_session_open(&s, v, "tester");
    struct queue_declare req = {.name = amqp_cstr("dq"), .durable = true, .who = &s};
    struct outcome out;
    struct queue *q = vhost_declare_queue(v, &req, &out);
    ck_assert_uint_eq(q->persist_mask, 0);
    struct message *m = make_message("x", true);
    ck_assert(m->flags & MESSAGE_PERSISTENT);
    queue_publish(q, m);
    ck_assert_ptr_null(m->stored);
    message_unref(m);
    test_session_close(&s);
    broker_free(&b);
}
END_TEST

/* A durable x-delayed-message exchange "dx" routing as direct, declared (again) as definitions
 * would. */
static struct exchange *declare_delayed(struct fixture *f)
{
    static const uint8_t args[] = {14, 'x', '-', 'd', 'e', 'l', 'a', 'y', 'e', 'd', '-', 't', 'y',
                                   'p', 'e', 'S', 0, 0, 0, 6, 'd', 'i', 'r', 'e', 'c', 't'};
    struct exchange_declare req = {.name = amqp_cstr("dx"), .type = amqp_cstr("x-delayed-message"),
                                   .arguments = amqp_bytes_of(args, sizeof args), .durable = true,
                                   .who = &f->s};
    struct outcome out;
    struct exchange *x = vhost_declare_exchange(f->v, &req, &out);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* Publishes `body` through dx by "key" with x-delay delay_ms (a signed 32-bit integer). */
static void publish_delayed(struct fixture *f, const char *body, bool persistent, int32_t delay_ms)
{
    uint8_t header[14 + 4 + 13 + 1] = {0, 60, 0, 0};
    size_t len = strlen(body);
    amqp_put_u64(header + 4, len);
    amqp_put_u16(header + 12, AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG);
    amqp_put_u32(header + 14, 13);
    memcpy(header + 18, "\007x-delayI", 9);
    amqp_put_u32(header + 27, (uint32_t)delay_ms);
    header[31] = persistent ? 2 : 1;
    struct message *m = message_new(amqp_cstr("dx"), amqp_cstr("key"),
                                    amqp_bytes_of(header, sizeof header), len, len);
    message_write_body(m, 0, amqp_bytes_of(body, len));
    struct publish_result result;
    struct outcome out;
    ck_assert(vhost_publish(f->v, &m, &f->s, &result, &out));
    ck_assert_uint_eq(result.routed, 0); /* held */
    message_unref(m);
}

static void bind_to_delayed(struct fixture *f, const char *queue)
{
    struct queue_binding b = {.exchange = amqp_cstr("dx"), .queue = amqp_cstr(queue),
                              .routing_key = amqp_cstr("key"), .who = &f->s};
    struct outcome out;
    ck_assert(vhost_bind_queue(f->v, &b, &out));
}

START_TEST(test_held_messages_come_back_to_their_exchange)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 8192);
    struct exchange *dx = declare_delayed(&f);
    struct queue *dq = declare(&f, "dq", true), *busy = declare(&f, "busy", true);
    bind_to_delayed(&f, "dq");
    publish_delayed(&f, "held-long", true, 600000);
    publish_delayed(&f, "held-short", true, 1);
    publish_delayed(&f, "held-transient", false, 600000);
    ck_assert_uint_eq(queue_message_count(dq), 0);
    ck_assert_uint_eq(exchange_delayed_count(dx->delayed), 3);
    sync_log(&f);
    /* traffic elsewhere compacts the segment they were written to: the trailer goes along */
    char body[200];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 10; i++)
            publish(busy, body, true);
        sync_log(&f);
        while (queue_message_count(busy))
            take(busy, true, NULL);
        sync_log(&f);
    }
    struct message_log_figures fig;
    message_log_figures(&f.log, &fig);
    ck_assert_uint_ge(fig.compacted_messages, 2);
    ck_assert_uint_eq(fig.live_messages, 2);
    close_fixture(&f);

    /* the persistent ones are held again: the overdue one due now, the other still later */
    open_fixture(&f, 8192);
    dx = declare_delayed(&f);
    dq = declare(&f, "dq", true);
    bind_to_delayed(&f, "dq");
    message_log_recover(&f.log);
    ck_assert_uint_eq(exchange_delayed_count(dx->delayed), 2);
    uint64_t now = clock_now_ms(&f.b.clock);
    ck_assert_uint_le(delay_heap_next_ms(&dx->delayed->held), now);
    deadline_heap_run_due(&f.b.deadlines, now);
    ck_assert_uint_eq(exchange_delayed_count(dx->delayed), 1);
    ck_assert_uint_gt(delay_heap_next_ms(&dx->delayed->held), now + 500000);
    ck_assert_uint_eq(queue_message_count(dq), 1);
    sync_log(&f);
    close_fixture(&f);

    /* the routed one is in its queue only; deleting the exchange takes the other */
    open_fixture(&f, 8192);
    dx = declare_delayed(&f);
    dq = declare(&f, "dq", true);
    message_log_recover(&f.log);
    ck_assert_uint_eq(exchange_delayed_count(dx->delayed), 1);
    ck_assert_str_eq(take(dq, true, NULL), "held-short");
    struct outcome out;
    ck_assert(vhost_delete_exchange(f.v, &f.s, amqp_cstr("dx"), false, &out));
    sync_log(&f);
    message_log_figures(&f.log, &fig);
    ck_assert_uint_eq(fig.live_messages, 0);
    close_fixture(&f);

    open_fixture(&f, 8192);
    dx = declare_delayed(&f);
    message_log_recover(&f.log);
    ck_assert_uint_eq(exchange_delayed_count(dx->delayed), 0);
    close_fixture(&f);
    remove_dir();
}
END_TEST

/* ---- large bodies paged out behind a queue's resident window ---- */

#define LARGE (1u << 20)

static void fill_large(uint8_t *to, int i)
{
    for (size_t k = 0; k < LARGE; k++)
        to[k] = (uint8_t)(i * 31 + k % 251);
}

static void publish_large(struct queue *q, int i, bool persistent)
{
    uint8_t header[15] = {0, 60, 0, 0};
    amqp_put_u64(header + 4, LARGE);
    amqp_put_u16(header + 12, AMQP_BASIC_DELIVERY_MODE_FLAG);
    header[14] = persistent ? 2 : 1;
    struct message *m = message_new(amqp_cstr("x"), amqp_cstr("key"), amqp_bytes_of(header, 15),
                                    LARGE, LARGE);
    ck_assert(m->flags & MESSAGE_APART);
    uint8_t *body = malloc(LARGE);
    fill_large(body, i);
    message_write_body(m, 0, amqp_bytes_of(body, LARGE));
    free(body);
    ck_assert_int_eq(queue_publish(q, m), QUEUE_ENQUEUED);
    message_unref(m);
}

/* Takes the next ready message and checks it is message i, whole and in memory; false when
 * the queue is empty. */
static bool take_large(struct queue *q, int i)
{
    struct queue_entry e;
    if (!queue_get(q, &e))
        return false;
    struct message *m = queue_entry_message(&e);
    ck_assert_uint_eq(m->body_size, LARGE);
    ck_assert(!message_paged(m));
    uint8_t *want = malloc(LARGE);
    fill_large(want, i);
    ck_assert(memcmp(message_body(m), want, LARGE) == 0);
    free(want);
    queue_settle(q, &e);
    return true;
}

static size_t count_paged(struct queue *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->ready.len; i++)
        n += message_paged(queue_entry_message(queue_ring_at(&q->ready, i)));
    return n;
}

START_TEST(test_large_bodies_paged_out_and_read_back)
{
    for (int persistent = 0; persistent < 2; persistent++) {
        make_dir();
        struct fixture f;
        open_fixture(&f, 4u << 20);
        struct queue *q = declare(&f, "big", persistent);
        for (int i = 0; i < 12; i++)
            publish_large(q, i, persistent);
        sync_log(&f); /* the records are written */
        sync_log(&f); /* and the requests answered */
        /* the first 8 MiB stay; what came behind them waits on disk */
        ck_assert_uint_eq(count_paged(q), 4);
        ck_assert_uint_eq(f.log.figures.paged_out, 4);
        for (int i = 0; i < 12; i++)
            ck_assert(take_large(q, i));
        ck_assert_uint_eq(f.log.figures.paged_in, 4);
        sync_log(&f);
        struct message_log_figures fig;
        message_log_figures(&f.log, &fig);
        ck_assert_uint_eq(fig.live_messages, 0); /* spill records are forgotten once read */
        close_fixture(&f);
        remove_dir();
    }
}
END_TEST

START_TEST(test_damaged_paged_body_loses_that_message_only)
{
    make_dir();
    struct fixture f;
    open_fixture(&f, 64u << 20);
    struct queue *q = declare(&f, "big", true);
    for (int i = 0; i < 12; i++)
        publish_large(q, i, true);
    sync_log(&f);
    sync_log(&f);
    ck_assert_uint_eq(count_paged(q), 4);
    size_t size;
    uint8_t *data = read_segment(1, &size);
    data[f.log.segments[0]->used - 100] ^= 0x55; /* in the last body */
    write_segment(1, data, size);
    free(data);
    for (int i = 0; i < 11; i++)
        ck_assert(take_large(q, i));
    struct queue_entry e;
    ck_assert(!queue_get(q, &e)); /* the damaged one is dropped, not delivered */
    ck_assert_uint_eq(q->ready_len, 0);
    close_fixture(&f);
    remove_dir();
}
END_TEST

/* Publishes large message i (persistent) to every queue given, as a fanout would. */
static void publish_large_to(struct queue **qs, int n, int i)
{
    uint8_t header[15] = {0, 60, 0, 0};
    amqp_put_u64(header + 4, LARGE);
    amqp_put_u16(header + 12, AMQP_BASIC_DELIVERY_MODE_FLAG);
    header[14] = 2;
    struct message *m = message_new(amqp_cstr("x"), amqp_cstr("key"), amqp_bytes_of(header, 15),
                                    LARGE, LARGE);
    uint8_t *body = malloc(LARGE);
    fill_large(body, i);
    message_write_body(m, 0, amqp_bytes_of(body, LARGE));
    free(body);
    for (int k = 0; k < n; k++)
        ck_assert_int_eq(queue_publish(qs[k], m), QUEUE_ENQUEUED);
    message_unref(m);
}

/* One message in a durable and a transient queue: the durable queue's holder goes (purged,
 * deleted) while the bodies are paged out, or the transient queue goes while the page requests
 * wait; what is left reads its bodies back whole, and nothing stays on disk for them. */
START_TEST(test_paged_bodies_shared_by_durable_and_transient_queues)
{
    for (int variant = 0; variant < 4; variant++) {
        make_dir();
        struct fixture f;
        open_fixture(&f, variant == 2 ? 16u << 20 : 4u << 20);
        struct queue *d = declare(&f, "d", true), *t = declare(&f, "t", false);
        struct queue *qs[2] = {variant & 1 ? t : d, variant & 1 ? d : t};
        struct queue *busy = declare(&f, "busy", true);
        for (int i = 0; i < 12; i++) {
            publish_large_to(qs, 2, i);
            for (int k = 0; variant == 2 && k < 4; k++) /* to be acked: the segments thin out */
                publish_large(busy, 100 + k, true);
        }
        struct queue *left = t;
        if (variant == 3) { /* the transient queue goes while the requests wait */
            struct outcome out;
            struct queue *gone = vhost_queue_to_delete(f.v, amqp_cstr("t"), &f.s, false, false, &out);
            vhost_delete_queue(f.v, gone);
            left = d;
        }
        sync_log(&f);
        sync_log(&f);
        ck_assert_uint_eq(count_paged(left), 4);
        if (variant == 0) {
            ck_assert_uint_eq(queue_purge(d), 12);
        } else if (variant == 1 || variant == 2) {
            struct outcome out;
            struct queue *gone = vhost_queue_to_delete(f.v, amqp_cstr("d"), &f.s, false, false, &out);
            vhost_delete_queue(f.v, gone);
        }
        sync_log(&f);
        if (variant == 2) { /* acked: what the paged bodies pin is compacted */
            for (int i = 0; i < 12 * 4; i++)
                ck_assert(take_large(busy, 100 + i % 4));
            for (int round = 0; round < 3; round++) { /* and new segments come */
                for (int i = 0; i < 16; i++)
                    publish_large(busy, 200 + i, true);
                sync_log(&f);
                for (int i = 0; i < 16; i++)
                    ck_assert(take_large(busy, 200 + i));
                sync_log(&f);
            }
            ck_assert_uint_gt(f.log.figures.compacted_messages, 0);
        }
        for (int i = 0; i < 12; i++)
            ck_assert(take_large(left, i));
        sync_log(&f);
        struct message_log_figures fig;
        message_log_figures(&f.log, &fig);
        ck_assert_uint_eq(fig.live_messages, 0);
        close_fixture(&f);
        remove_dir();
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("message_log");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_persistent_messages_survive_a_clean_stop);
    tcase_add_test(tc, test_crash_marks_all_redelivered);
    tcase_add_test(tc, test_written_once_for_many_queues);
    tcase_add_test(tc, test_deleted_queue_takes_its_messages);
    tcase_add_test(tc, test_torn_last_record_dropped);
    tcase_add_test(tc, test_flipped_byte_drops_that_message_only);
    tcase_add_test(tc, test_steady_traffic_reclaims_segments);
    tcase_add_test(tc, test_stuck_message_is_compacted);
    tcase_add_test(tc, test_disk_error_fails_the_batch_and_goes_on);
    tcase_add_test(tc, test_disk_error_tries_once_per_interval_then_recovers);
    tcase_add_test(tc, test_failed_commit_forgets_and_deletes_later);
    tcase_add_test(tc, test_durability_off_without_store);
    tcase_add_test(tc, test_held_messages_come_back_to_their_exchange);
    tcase_add_test(tc, test_large_bodies_paged_out_and_read_back);
    tcase_add_test(tc, test_damaged_paged_body_loses_that_message_only);
    tcase_add_test(tc, test_paged_bodies_shared_by_durable_and_transient_queues);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
