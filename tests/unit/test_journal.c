/* Unit tests: the definitions journal (append, replay, torn and corrupt records, compaction) and
 * durable definitions recorded from the model and replayed into a fresh broker. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/definitions.h"
#include "amqp_wire.h"
#include "core/crc32c.h"
#include "amqp_table.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/session.h"
#include "model/vhost.h"
#include "store/data_dir.h"
#include "store/definitions_store.h"
#include "store/journal.h"

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/test_journal.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *file_path(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* What a replay saw, as "type:payload;" */
struct seen {
    char text[1024];
    int stop_at; /* return 1 from this record on (0: never) */
    int count;
};

static int collect(void *ctx, uint8_t type, const uint8_t *p, size_t len)
{
    struct seen *s = ctx;
    if (s->stop_at && ++s->count >= s->stop_at)
        return 7;
    size_t at = strlen(s->text);
    snprintf(s->text + at, sizeof s->text - at, "%u:%.*s;", type, (int)len, (const char *)p);
    return 0;
}

static void append_three(void)
{
    struct journal j;
    struct journal_replay r;
    ck_assert_int_eq(journal_open(&j, dir, collect, &(struct seen){0}, &r), 0);
    ck_assert(!r.existed);
    ck_assert_int_eq(journal_append(&j, 1, "alpha", 5), 0);
    ck_assert_int_eq(journal_append(&j, 2, "", 0), 0);
    ck_assert_int_eq(journal_append(&j, 3, "gamma", 5), 0);
    ck_assert(j.unsynced);
    ck_assert_int_eq(journal_sync(&j), 0);
    ck_assert(!j.unsynced);
    journal_close(&j);
}

static off_t file_size(const char *name)
{
    struct stat st;
    ck_assert_int_eq(stat(file_path(name), &st), 0);
    return st.st_size;
}

START_TEST(test_append_and_replay)
{
    make_dir();
    append_three();
    struct journal j;
    struct journal_replay r;
    struct seen s = {0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert(r.existed);
    ck_assert_int_eq(r.records, 3);
    ck_assert_int_eq(r.dropped_bytes, 0);
    ck_assert_str_eq(s.text, "1:alpha;2:;3:gamma;");
    ck_assert_int_eq(journal_append(&j, 4, "delta", 5), 0); /* appends after what was there */
    journal_close(&j);
    s = (struct seen){0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "1:alpha;2:;3:gamma;4:delta;");
    journal_close(&j);
    /* a replay callback's refusal stops it and is returned */
    s = (struct seen){.stop_at = 2};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 7);
    ck_assert_int_eq(j.fd, -1);
    remove_dir();
}
END_TEST

START_TEST(test_torn_tail_dropped)
{
    make_dir();
    append_three();
    off_t size = file_size(JOURNAL_FILE);
    ck_assert_int_eq(truncate(file_path(JOURNAL_FILE), size - 2), 0); /* mid "gamma" */
    struct journal j;
    struct journal_replay r;
    struct seen s = {0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "1:alpha;2:;");
    ck_assert_int_eq(r.records, 2);
    ck_assert_int_eq(r.dropped_bytes, 8 + 1 + 5 - 2);
    ck_assert_int_eq(r.dropped_at, size - (8 + 1 + 5));
    ck_assert_int_eq(file_size(JOURNAL_FILE), size - (8 + 1 + 5)); /* cut off the file */
    ck_assert_int_eq(journal_append(&j, 5, "epsilon", 7), 0);
    journal_close(&j);
    s = (struct seen){0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "1:alpha;2:;5:epsilon;");
    ck_assert_int_eq(r.dropped_bytes, 0);
    journal_close(&j);
    remove_dir();
}
END_TEST

START_TEST(test_bad_crc_ends_the_replay)
{
    make_dir();
    append_three();
    /* flip a byte of "alpha": it and what follows are dropped, later records depending on it */
    int fd = open(file_path(JOURNAL_FILE), O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "A", 1, 8 + 8 + 1), 1);
    close(fd);
    struct journal j;
    struct journal_replay r;
    struct seen s = {0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "");
    ck_assert_int_eq(r.dropped_at, 8);
    ck_assert_int_gt(r.dropped_bytes, 0);
    journal_close(&j);
    /* a length beyond the end is damage too */
    fd = open(file_path(JOURNAL_FILE), O_RDWR | O_APPEND);
    ck_assert_int_eq(write(fd, "\x7f\0\0\0\0\0\0\0\1", 9), 9);
    close(fd);
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_int_eq(r.dropped_bytes, 9);
    journal_close(&j);
    remove_dir();
}
END_TEST

START_TEST(test_not_a_journal)
{
    make_dir();
    /* empty, or part of the magic: a first boot that died at once; a new journal then */
    for (int part = 0; part < 2; part++) {
        int fd = open(file_path(JOURNAL_FILE), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_int_eq(write(fd, "WRN", part ? 3 : 0), part ? 3 : 0);
        close(fd);
        struct journal j;
        struct journal_replay r;
        ck_assert_int_eq(journal_open(&j, dir, collect, &(struct seen){0}, &r), 0);
        ck_assert(!r.existed);
        ck_assert_int_eq(file_size(JOURNAL_FILE), 8);
        journal_close(&j);
    }
    int fd = open(file_path(JOURNAL_FILE), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, "{\"users\":[]}", 12), 12);
    close(fd);
    struct journal j;
    struct journal_replay r;
    ck_assert_int_eq(journal_open(&j, dir, collect, &(struct seen){0}, &r), -EILSEQ);
    remove_dir();
}
END_TEST

START_TEST(test_older_format_refused)
{
    make_dir();
    /* format 1: the same framing, zlib's CRC-32; refused whole, the file left as it was */
    static const char v1[] = "WRNDEFS1\0\0\0\x05\x12\x34\x56\x78\x01user";
    int fd = open(file_path(JOURNAL_FILE), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, v1, sizeof v1 - 1), (ssize_t)sizeof v1 - 1);
    close(fd);
    struct journal j;
    struct journal_replay r;
    ck_assert_int_eq(journal_open(&j, dir, collect, &(struct seen){0}, &r), -EPROTONOSUPPORT);
    ck_assert_int_eq(file_size(JOURNAL_FILE), (off_t)sizeof v1 - 1);
    remove_dir();
}
END_TEST

START_TEST(test_records_carry_crc32c)
{
    make_dir();
    struct journal j;
    struct journal_replay r;
    ck_assert_int_eq(journal_open(&j, dir, NULL, NULL, &r), 0);
    ck_assert_int_eq(journal_append(&j, 3, "queue", 5), 0);
    journal_close(&j);
    uint8_t bytes[32];
    int fd = open(file_path(JOURNAL_FILE), O_RDONLY);
    ck_assert_int_eq(read(fd, bytes, sizeof bytes), 8 + 8 + 6);
    close(fd);
    ck_assert_mem_eq(bytes, "WRNDEFS2", 8);
    ck_assert_uint_eq(amqp_get_u32(bytes + 8), 6);
    ck_assert_uint_eq(amqp_get_u32(bytes + 12), crc32c(0, "\x03queue", 6));
    remove_dir();
}
END_TEST

START_TEST(test_compaction)
{
    make_dir();
    append_three();
    struct journal j;
    struct journal_replay r;
    ck_assert_int_eq(journal_open(&j, dir, NULL, NULL, &r), 0);
    struct journal_rewrite w;
    ck_assert_int_eq(journal_rewrite_begin(&j, &w), 0);
    journal_rewrite_append(&w, 9, "live", 4);
    ck_assert_int_eq(journal_rewrite_commit(&j, &w), 0);
    ck_assert_int_eq(access(file_path(JOURNAL_REWRITE_FILE), F_OK), -1);
    ck_assert_int_eq(journal_append(&j, 4, "after", 5), 0); /* goes on in the new file */
    journal_close(&j);
    struct seen s = {0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "9:live;4:after;");
    /* an abandoned rewrite leaves the journal as it was */
    ck_assert_int_eq(journal_rewrite_begin(&j, &w), 0);
    journal_rewrite_append(&w, 1, "lost", 4);
    journal_rewrite_abort(&j, &w);
    journal_close(&j);
    s = (struct seen){0};
    ck_assert_int_eq(journal_open(&j, dir, collect, &s, &r), 0);
    ck_assert_str_eq(s.text, "9:live;4:after;");
    journal_close(&j);
    remove_dir();
}
END_TEST

START_TEST(test_data_dir_lock)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/a/b", dir);
    struct data_dir d1, d2;
    char err[300];
    ck_assert(data_dir_open(&d1, path, err, sizeof err));
    ck_assert(!data_dir_open(&d2, path, err, sizeof err)); /* flock: per open file, so here too */
    ck_assert_ptr_nonnull(strstr(err, "in use by another Warren (pid "));
    data_dir_close(&d1);
    ck_assert(data_dir_open(&d2, path, err, sizeof err));
    char sub[256];
    ck_assert(data_dir_subdir(&d2, "definitions", sub, sizeof sub, err, sizeof err));
    ck_assert_int_eq(access(sub, W_OK), 0);
    data_dir_close(&d2);
    remove_dir();
}
END_TEST

START_TEST(test_default_data_dir)
{
    char out[512];
    setenv("RABBITMQ_MNESIA_DIR", "/srv/mnesia/here", 1);
    ck_assert(data_dir_default(out, sizeof out));
    ck_assert_str_eq(out, "/srv/mnesia/here");
    unsetenv("RABBITMQ_MNESIA_DIR");
    setenv("RABBITMQ_MNESIA_BASE", "/srv/base", 1);
    ck_assert(data_dir_default(out, sizeof out));
    ck_assert_int_eq(strncmp(out, "/srv/base/warren@", 17), 0);
    unsetenv("RABBITMQ_MNESIA_BASE");
    setenv("XDG_STATE_HOME", "/x/state", 1);
    ck_assert(data_dir_default(out, sizeof out));
    ck_assert_int_eq(strncmp(out, "/x/state/warren/warren@", 23), 0);
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    ck_assert(data_dir_default(out, sizeof out));
    ck_assert_int_eq(strncmp(out, "/home/u/.local/state/warren/warren@", 35), 0);
}
END_TEST

/* ---- durable definitions through the model ---- */

static struct broker *new_broker(void)
{
    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.log_level = LOG_NONE;
    struct broker *b = calloc(1, sizeof *b);
    broker_init(b, &cfg);
    return b;
}

static const struct definitions_settings_codec codec = {definitions_settings_text,
                                                        definitions_settings_replace};

static struct broker *open_store(struct definitions_store *s, struct definitions_recovery *rec)
{
    struct broker *b = new_broker();
    char err[300];
    ck_assert_msg(definitions_store_open(s, b, dir, codec, rec, err, sizeof err), "%s", err);
    definitions_store_install(s);
    return b;
}

static void close_store(struct definitions_store *s, struct broker *b)
{
    definitions_store_close(s);
    broker_free(b);
    free(b);
}

static struct amqp_bytes table_with_ttl(struct amqp_buf *buf)
{
    amqp_buf_init(buf);
    amqp_table_put_i32(buf, "x-message-ttl", 5000);
    return amqp_bytes_of(buf->data, buf->len);
}

static struct outcome out;
static struct broker *b_of_owner;

static struct exchange *declare_exchange(struct vhost *v, const char *name, bool durable)
{
    return vhost_declare_exchange(v, &(struct exchange_declare){.name = amqp_cstr(name),
                                                                .type = amqp_cstr("topic"),
                                                                .durable = durable},
                                  &out);
}

static struct queue *declare_queue(struct vhost *v, const char *name, bool durable, bool exclusive,
                                   struct amqp_bytes args)
{
    static struct session owner; /* an exclusive queue's connection, as guest */
    if (exclusive)
        vhost_transient_session(v, &owner, broker_find_user(b_of_owner, (const uint8_t *)"guest", 5));
    return vhost_declare_queue(v, &(struct queue_declare){.name = amqp_cstr(name), .arguments = args,
                                                          .durable = durable, .exclusive = exclusive,
                                                          .who = exclusive ? &owner : NULL},
                               &out);
}

static void bind(struct vhost *v, const char *x, const char *q, const char *key)
{
    ck_assert(vhost_bind_queue(v, &(struct queue_binding){amqp_cstr(x), amqp_cstr(q), amqp_cstr(key),
                                                          {NULL, 0}, NULL}, &out));
}

static size_t binding_count(struct exchange *x)
{
    return x ? x->binding_count : 0;
}

START_TEST(test_durable_definitions_replayed)
{
    make_dir();
    struct definitions_store s;
    struct definitions_recovery rec;
    struct broker *b = open_store(&s, &rec);
    ck_assert(!rec.recovered);
    broker_create_defaults(b);
    b_of_owner = b;
    struct vhost *v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    struct amqp_buf args;
    uint64_t syncs = s.syncs;
    ck_assert_ptr_nonnull(declare_exchange(v, "dx", true));
    /* on disk by the time the verb returns, so before any declare-ok is sent */
    ck_assert(!s.journal.unsynced);
    ck_assert_int_eq(s.syncs, syncs + 1);
    ck_assert_ptr_nonnull(declare_exchange(v, "tx", false));
    ck_assert_int_eq(s.syncs, syncs + 1); /* nothing for a transient one */
    ck_assert_ptr_nonnull(declare_queue(v, "dq", true, false, table_with_ttl(&args)));
    ck_assert_ptr_nonnull(declare_queue(v, "tq", false, false, (struct amqp_bytes){NULL, 0}));
    ck_assert_ptr_nonnull(declare_queue(v, "xq", true, true, (struct amqp_bytes){NULL, 0}));
    ck_assert_ptr_nonnull(declare_queue(v, "gone", true, false, (struct amqp_bytes){NULL, 0}));
    bind(v, "dx", "dq", "a.#");
    bind(v, "dx", "tq", "b.#");
    bind(v, "amq.direct", "dq", "k");
    bind(v, "dx", "gone", "c");
    vhost_delete_queue(v, vhost_find_queue(v, amqp_cstr("gone")));
    struct vhost *v2 = broker_add_vhost(b, "v2");
    ck_assert_ptr_nonnull(declare_queue(v2, "q2", true, false, (struct amqp_bytes){NULL, 0}));
    broker_add_user(b, "alice");
    ck_assert(s.syncs > 0); /* outside a batch, each change was synced at once */
    close_store(&s, b);

    for (int round = 0; round < 2; round++) { /* as replayed, then after a compaction */
        b = open_store(&s, &rec);
        ck_assert(rec.recovered);
        ck_assert_int_eq(rec.queues, 2);
        ck_assert_int_eq(rec.exchanges, 1);
        ck_assert_int_eq(rec.bindings, 2);
        v = broker_find_vhost(b, (const uint8_t *)"/", 1);
        ck_assert_ptr_nonnull(v);
        ck_assert_ptr_nonnull(broker_find_user(b, (const uint8_t *)"guest", 5));
        ck_assert_ptr_nonnull(broker_find_user(b, (const uint8_t *)"alice", 5));
        struct exchange *dx = vhost_find_exchange(v, amqp_cstr("dx"));
        ck_assert_ptr_nonnull(dx);
        ck_assert_int_eq(dx->type, EXCHANGE_TOPIC);
        ck_assert_ptr_null(vhost_find_exchange(v, amqp_cstr("tx")));
        struct queue *dq = vhost_find_queue(v, amqp_cstr("dq"));
        ck_assert_ptr_nonnull(dq);
        ck_assert_int_eq(dq->args.message_ttl_ms, 5000);
        ck_assert_ptr_null(vhost_find_queue(v, amqp_cstr("tq")));
        ck_assert_ptr_null(vhost_find_queue(v, amqp_cstr("xq")));
        ck_assert_ptr_null(vhost_find_queue(v, amqp_cstr("gone")));
        ck_assert_int_eq(binding_count(dx), 1);
        ck_assert_int_eq(binding_count(vhost_find_exchange(v, amqp_cstr("amq.direct"))), 1);
        v2 = broker_find_vhost(b, (const uint8_t *)"v2", 2);
        ck_assert_ptr_nonnull(v2);
        ck_assert_ptr_nonnull(vhost_find_queue(v2, amqp_cstr("q2")));
        if (round == 0)
            ck_assert_int_eq(definitions_store_compact(&s), 0);
        close_store(&s, b);
    }

    /* deleting the vhost takes its queues; deleting the user stays done */
    b = open_store(&s, &rec);
    broker_delete_vhost(b, broker_find_vhost(b, (const uint8_t *)"v2", 2));
    broker_delete_user(b, broker_find_user(b, (const uint8_t *)"alice", 5));
    broker_definitions_begin(b); /* a batch: one sync at its end */
    syncs = s.syncs;
    v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    /* by the binding's own key, as the API's DELETE does: unbinding frees it before the
     * record is written (ASan checks that nothing reads it then) */
    struct exchange *dx = vhost_find_exchange(v, amqp_cstr("dx"));
    const struct binding *own = list_entry(dx->bindings.next, struct binding, exchange_link);
    ck_assert(amqp_bytes_eq_cstr(own->routing_key, "a.#"));
    ck_assert(vhost_unbind_queue(v, &(struct queue_binding){amqp_cstr("dx"), amqp_cstr("dq"),
                                                            own->routing_key, own->arguments,
                                                            NULL}, &out));
    ck_assert_ptr_nonnull(declare_exchange(v, "dx2", true));
    ck_assert_int_eq(s.syncs, syncs);
    broker_definitions_end(b);
    ck_assert_int_eq(s.syncs, syncs + 1);
    close_store(&s, b);
    b = open_store(&s, &rec);
    ck_assert_ptr_null(broker_find_vhost(b, (const uint8_t *)"v2", 2));
    ck_assert_ptr_null(broker_find_user(b, (const uint8_t *)"alice", 5));
    v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    ck_assert_int_eq(binding_count(vhost_find_exchange(v, amqp_cstr("dx"))), 0);
    ck_assert_ptr_nonnull(vhost_find_exchange(v, amqp_cstr("dx2")));
    ck_assert_int_eq(rec.queues, 1);
    close_store(&s, b);
    amqp_buf_free(&args);
    remove_dir();
}
END_TEST

/* A torn last record loses only the change it held. */
START_TEST(test_torn_definition_dropped)
{
    make_dir();
    struct definitions_store s;
    struct definitions_recovery rec;
    struct broker *b = open_store(&s, &rec);
    broker_create_defaults(b);
    struct vhost *v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    ck_assert_ptr_nonnull(declare_queue(v, "first", true, false, (struct amqp_bytes){NULL, 0}));
    ck_assert_ptr_nonnull(declare_queue(v, "second", true, false, (struct amqp_bytes){NULL, 0}));
    close_store(&s, b);
    ck_assert_int_eq(truncate(file_path(JOURNAL_FILE), file_size(JOURNAL_FILE) - 3), 0);
    b = open_store(&s, &rec);
    ck_assert_int_gt(rec.replay.dropped_bytes, 0);
    v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    ck_assert_ptr_nonnull(vhost_find_queue(v, amqp_cstr("first")));
    ck_assert_ptr_null(vhost_find_queue(v, amqp_cstr("second")));
    close_store(&s, b);
    remove_dir();
}
END_TEST

/* A journal that grew well past its live set is rewritten as that set. */
START_TEST(test_compacted_when_grown)
{
    make_dir();
    struct definitions_store s;
    struct definitions_recovery rec;
    struct broker *b = open_store(&s, &rec);
    broker_create_defaults(b);
    struct vhost *v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    ck_assert_ptr_nonnull(declare_queue(v, "kept", true, false, (struct amqp_bytes){NULL, 0}));
    broker_definitions_begin(b);
    for (int i = 0; i < 50000; i++) {
        struct queue *q = declare_queue(v, "churn", true, false, (struct amqp_bytes){NULL, 0});
        ck_assert_ptr_nonnull(q);
        vhost_delete_queue(v, q);
    }
    ck_assert_int_gt(s.journal.size, 2u << 20);
    broker_definitions_end(b);
    ck_assert_int_lt(s.journal.size, 64u << 10);
    ck_assert_int_eq(file_size(JOURNAL_FILE), (off_t)s.journal.size);
    close_store(&s, b);
    b = open_store(&s, &rec);
    ck_assert_int_eq(rec.replay.records, 2); /* the settings, the one queue */
    v = broker_find_vhost(b, (const uint8_t *)"/", 1);
    ck_assert_ptr_nonnull(vhost_find_queue(v, amqp_cstr("kept")));
    ck_assert_ptr_null(vhost_find_queue(v, amqp_cstr("churn")));
    close_store(&s, b);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_add_test(tc, test_append_and_replay);
    tcase_add_test(tc, test_torn_tail_dropped);
    tcase_add_test(tc, test_bad_crc_ends_the_replay);
    tcase_add_test(tc, test_not_a_journal);
    tcase_add_test(tc, test_older_format_refused);
    tcase_add_test(tc, test_records_carry_crc32c);
    tcase_add_test(tc, test_compaction);
    tcase_add_test(tc, test_data_dir_lock);
    tcase_add_test(tc, test_default_data_dir);
    tcase_add_test(tc, test_durable_definitions_replayed);
    tcase_add_test(tc, test_torn_definition_dropped);
    tcase_add_test(tc, test_compacted_when_grown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
