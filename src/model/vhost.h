/* A virtual host: the namespace of exchanges, queues and bindings, and the one operation per
 * verb (declare, delete, bind, unbind, purge, consume, publish) that every front end calls. */
#ifndef VHOST_H
#define VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "core/clock.h"
#include "core/heap.h"
#include "core/list.h"
#include "core/map.h"
#include "core/string_list.h"
#include "model/definitions_ops.h"
#include "model/message.h"
#include "model/outcome.h"
#include "model/permission.h"
#include "model/policy.h"
#include "model/queue.h"

struct consumer;
struct exchange;
struct message_store;
struct queue;
struct queue_entry;
struct session;
struct session_ops;
struct user;

#define VHOST_NO_LIMIT INT64_MIN /* as USER_NO_LIMIT */

struct broker_churn;

/* One queue's count in a publisher's tally. */
struct publish_tally_entry {
    struct publish_tally_entry *next;  /* in the order routing met them; NULL: the last */
    struct publish_tally_entry *after; /* the one routing meets next: next, the last's the first */
    struct queue *queue;               /* NULL only in the tally's stand-in */
    uint64_t count;
};

/* What a publisher last found by name, good while the vhost's exchanges (queues) have not
 * changed since: the exchange of the tally's name, and the queue a routing key named. */
struct publish_hints {
    struct exchange *exchange;
    uint64_t exchanges_version;
    struct queue *queue;
    uint64_t queues_version;
};

/* A publisher's count of the messages each queue took, kept for one exchange name. Routing
 * meets the same queues in the same order message after message, so the entry expected next
 * is at hand (one compare per queue routed to, fanouts included); miss counts for any other
 * and sets what comes next. An empty tally expects its stand-in, which matches no queue. */
struct publish_tally {
    struct publish_tally_entry *first, *expected;
    struct publish_tally_entry stand_in;
    void (*miss)(struct publish_tally *t, struct queue *q);
    struct publish_hints hints;
};

/* An empty tally (it must not move afterwards: it expects its own stand-in). */
void publish_tally_init(struct publish_tally *t, void (*miss)(struct publish_tally *t, struct queue *q));

struct vhost {
    struct list link; /* in broker.vhosts */
    char *name;
    struct map exchanges; /* name -> struct exchange */
    struct map queues;    /* name -> struct queue */
    struct exchange *default_exchange;
    uint64_t route_stamp; /* bumped per routed message, see queue.route_stamp */
    /* bumped whenever an exchange (a queue) comes or goes: what publish_hints hold is stale */
    uint64_t exchanges_version, queues_version;
    struct publish_tally untallied; /* counts for publishers that keep no tally: nothing */
    struct deadline_heap *deadlines; /* the broker's, for queue expiry; NULL: nothing timed */
    const struct clock *clock;
    struct queue_host queue_host;    /* what its queues need: the timers, and dead-lettering */
    struct dead_letter_job *dead_letters, **dead_letters_tail; /* waiting to be republished */
    bool dead_lettering;             /* republishing them now: more only join the list */
    uint32_t routing;                /* routings (and holds) under way: dead letters wait */
    const char *node;                /* the broker's node name, for texts that show it */
    const struct compat *compat;     /* the broker's RabbitMQ profile; NULL: the default */
    struct broker_churn *churn;      /* the broker's queue counts; NULL: nothing counts them */
    /* Where changes of its durable definitions are reported (the broker's); NULL: nowhere,
     * as while it is emptied. */
    const struct definitions_hook *definitions;

    char *description;               /* metadata, as the management API shows it */
    struct string_list tags;
    char *default_queue_type;        /* NULL: classic */
    int64_t max_connections;         /* VHOST_NO_LIMIT, or the most sessions at once */
    int64_t max_queues;
    struct permission_set permissions;
    struct list policies[2];         /* struct policy, by enum policy_kind */
    struct list sessions;            /* struct session.in_vhost */
    uint32_t session_count;
    uint32_t refs;                   /* the broker's while it is listed, and each session's */
    bool deleted;
};

/* Creates the vhost with its standard exchanges: "" (direct), amq.direct, amq.fanout,
 * amq.topic, amq.headers and amq.match; the caller holds its one reference. */
struct vhost *vhost_new(const char *name);
void vhost_ref(struct vhost *v);
/* The last reference frees it, and everything still in it. */
void vhost_unref(struct vhost *v);
/* Deleting a vhost (RabbitMQ's delete_vhost): every queue and exchange goes, and every session
 * is told to close (session_ops.force_close) with `reason`; the sessions' references keep the
 * struct until the last one closes. */
void vhost_shut(struct vhost *v, const char *reason);

/* connection.open's checks, in RabbitMQ's order: the user may use the vhost, then the vhost's
 * and the user's connection limits (530 NOT_ALLOWED with RabbitMQ's texts). Once open the
 * session counts against those limits, and holds a reference, until vhost_close_session. */
bool vhost_open_session(struct vhost *v, struct session *s, const struct session_ops *ops,
                        struct user *u, struct outcome *out);
void vhost_close_session(struct session *s);
/* A session for one request, checked like a connection's and counted nowhere; nothing to
 * close. */
void vhost_transient_session(struct vhost *v, struct session *s, struct user *u);
/* Durable queues keep persistent messages in `store` (NULL: nowhere) from now on. */
void vhost_use_store(struct vhost *v, struct message_store *store);
/* Timed rules (x-expires, TTLs) run on the broker's deadline heap and clock. */
void vhost_use_timers(struct vhost *v, struct deadline_heap *deadlines, const struct clock *clock);

struct exchange *vhost_find_exchange(struct vhost *v, struct amqp_bytes name);
/* Recovery: the x-delayed-message exchange x holds m (a new reference) again, due in delay_ms
 * (0: at once), to be routed by keys; false when x holds no messages or there are no timers. */
bool vhost_restore_held(struct vhost *v, struct exchange *x, struct message *m, uint64_t delay_ms,
                        const struct amqp_bytes *keys, size_t nkeys);
struct queue *vhost_find_queue(struct vhost *v, struct amqp_bytes name);
/* A fresh "amq.gen-..." name (RabbitMQ's form: 22 url-safe base64 characters). */
void vhost_generate_queue_name(struct vhost *v, char out[32]);

/* Policies (RabbitMQ's set_policy, clear_policy and their operator forms): adds the policy
 * of its kind, taking it and replacing any of its name (true then), or deletes the one named
 * (false when there is none); either way every queue and exchange then works by the policies
 * that now apply to it. */
bool vhost_set_policy(struct vhost *v, enum policy_kind kind, struct policy *p);
bool vhost_delete_policy(struct vhost *v, enum policy_kind kind, const char *name);

/* ---- the verbs: each checks RabbitMQ's rules and reports them in `out` ---- */

/* Every verb takes the session performing it (see model/session.h: NULL is the broker
 * itself), whose permissions it checks at RabbitMQ's point, and which owns exclusive queues. */

struct exchange_declare {
    struct amqp_bytes name, type, arguments; /* arguments: a checked table body */
    bool passive, durable, auto_delete, internal;
    struct session *who;
};
/* Finds or creates the exchange; NULL after a failure. */
struct exchange *vhost_declare_exchange(struct vhost *v, const struct exchange_declare *req,
                                        struct outcome *out);
/* A missing exchange is deleted successfully, as in RabbitMQ. */
bool vhost_delete_exchange(struct vhost *v, struct session *who, struct amqp_bytes name,
                           bool if_unused, struct outcome *out);

struct queue_declare {
    struct amqp_bytes name; /* empty: a server-named queue */
    struct amqp_bytes arguments;
    bool passive, durable, exclusive, auto_delete;
    struct session *who; /* exclusive queues are its own */
};
struct queue *vhost_declare_queue(struct vhost *v, const struct queue_declare *req,
                                  struct outcome *out);

/* The queue a verb names, as the session `owner` may use it: 404 when missing, 405 when
 * it is another connection's exclusive queue. Checks no permission. */
struct queue *vhost_queue_for(struct vhost *v, struct amqp_bytes name,
                              const struct session *owner, struct outcome *out);

/* queue.delete, in two steps because RabbitMQ answers delete-ok before its consumers hear
 * of it: the checks, which give the queue to delete (NULL with a success outcome when there
 * is none, which RabbitMQ accepts), then vhost_delete_queue once the reply is out. */
struct queue *vhost_queue_to_delete(struct vhost *v, struct amqp_bytes name, struct session *who,
                                    bool if_unused, bool if_empty, struct outcome *out);
/* Removes the queue and its bindings (auto-delete exchanges left without bindings go too),
 * lets its consumers go, drops its ready messages and releases the vhost's reference. */
void vhost_delete_queue(struct vhost *v, struct queue *q);
/* Deletes every exclusive queue the session `owner` declared (it is closing). */
void vhost_delete_owned_queues(struct vhost *v, const struct session *owner);

bool vhost_purge_queue(struct vhost *v, struct amqp_bytes name, struct session *who,
                       uint32_t *purged, struct outcome *out);

struct queue_binding {
    struct amqp_bytes exchange, queue, routing_key, arguments;
    struct session *who;
};
bool vhost_bind_queue(struct vhost *v, const struct queue_binding *b, struct outcome *out);
/* RabbitMQ's unbind succeeds whatever is missing, locked or not bound. */
bool vhost_unbind_queue(struct vhost *v, const struct queue_binding *b, struct outcome *out);

/* exchange.bind: messages the source routes by this binding go on through the destination. */
struct exchange_binding {
    struct amqp_bytes destination, source, routing_key, arguments;
    struct session *who;
};
bool vhost_bind_exchange(struct vhost *v, const struct exchange_binding *b, struct outcome *out);
/* Succeeds whatever is missing, as queue.unbind does; an auto-delete source left without
 * bindings goes. */
bool vhost_unbind_exchange(struct vhost *v, const struct exchange_binding *b, struct outcome *out);

/* basic.get: the oldest ready message of the queue named (got false when it is empty), which
 * counts as a use of the queue (x-expires). */
struct queue *vhost_get(struct vhost *v, struct amqp_bytes name, struct session *who,
                        struct queue_entry *entry, bool *got, struct outcome *out);

/* The management API's peek: the queue named, for queue_peek, after the read permission and
 * exclusivity checks basic.get makes. Not a use of the queue (x-expires). */
struct queue *vhost_peek(struct vhost *v, struct amqp_bytes name, struct session *who,
                         struct outcome *out);

/* basic.consume's checks: the queue, which must not be in exclusive use (nor be taken
 * exclusively while it has consumers), and the consumer's arguments (x-priority, an integer,
 * into *priority). The caller then adds its consumer to the queue. */
struct queue *vhost_consume_target(struct vhost *v, struct amqp_bytes name, struct session *who,
                                   bool exclusive, struct amqp_bytes arguments, int64_t *priority,
                                   struct outcome *out);
/* Takes the consumer off its queue; an auto-delete queue left without consumers goes. */
void vhost_cancel_consumer(struct vhost *v, struct consumer *c);

/* Dead letters given up from now until the matching release wait for it: a batch of
 * requeues goes back whole before any of them is routed on. Pairs nest. */
void vhost_hold_dead_letters(struct vhost *v);
void vhost_release_dead_letters(struct vhost *v);

struct publish_result {
    uint32_t routed;         /* queues that took the message */
    uint32_t rejected;       /* queues that refused it (a length limit's reject-publish) */
    struct queue *congested; /* a queue it left congested, for publisher flow control */
    struct publish_tally *tally; /* what counts the queues it routes to; never NULL */
};
/* basic.publish's checks, which a transaction makes at publish time: the exchange exists and
 * is not internal, a user_id property names the publishing user, CC and BCC are arrays. */
bool vhost_check_publish(struct vhost *v, const struct message *m, struct session *who,
                         struct outcome *out);
/* Checks, routes (through exchange-to-exchange bindings and alternate exchanges, by the
 * routing key and the CC and BCC headers' keys, each destination once) and enqueues. A message
 * with BCC is routed without it: *m is then replaced by that copy, the caller's reference
 * moving to it, so that a basic.return shows what consumers would have seen. */
bool vhost_publish(struct vhost *v, struct message **m, struct session *who,
                   struct publish_result *result, struct outcome *out);
/* The same, telling tally (NULL: nobody) of each queue that took the message. A publisher
 * keeps a tally per exchange name and passes the one of the message's exchange: its hints
 * stand for lookups by that name. */
bool vhost_publish_tallied(struct vhost *v, struct message **m, struct session *who,
                           struct publish_tally *tally, struct publish_result *result,
                           struct outcome *out);

#endif
