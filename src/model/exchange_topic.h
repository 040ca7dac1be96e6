/* The topic exchange's binding index: a trie of binding-key words matched against routing keys. */
#ifndef EXCHANGE_TOPIC_H
#define EXCHANGE_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct topic_node;
struct topic_scratch;

/* Keys and patterns are split on '.' as RabbitMQ splits them: "" is zero words, "a." is
 * "a" and "", "a..b" has an empty middle word. In a pattern, the word "*" matches exactly one
 * word and "#" zero or more; any other word (including "a*" or "") matches itself only.
 * A binding is an opaque pointer owned by the caller. */
struct topic_index {
    struct topic_node *root;
    /* Match-time working memory, behind a pointer so topic_match can take a const index. */
    struct topic_scratch *scratch;
    uint64_t seed; /* one hash seed for every node's word map: a word is hashed once per level */
    size_t count;  /* bound (pattern, binding) pairs */
    size_t nodes;  /* trie nodes, the root included: for statistics and tests */
};

void exchange_topic_init(struct topic_index *t);
/* Frees the trie; the bindings themselves are the caller's. */
void exchange_topic_free(struct topic_index *t);

/* Adds binding under pattern. Returns false (and changes nothing) if exactly this pattern and
 * binding pointer are bound already. */
bool exchange_topic_bind(struct topic_index *t, const char *pattern, size_t len, void *binding);
/* Removes that pair; returns false if it was not bound. Trie nodes left empty are freed. */
bool exchange_topic_unbind(struct topic_index *t, const char *pattern, size_t len, void *binding);
size_t exchange_topic_count(const struct topic_index *t);

/* Calls visit once for each (pattern, binding) pair whose pattern matches key, however many
 * ways the pattern matches (e.g. "#.#" or "a.#" against "a.a"). A binding pointer bound
 * under two matching patterns is visited twice: routing to a queue once is the exchange's
 * job. Cost grows with the key's words and the trie branches they reach, not with the number
 * of bindings; no allocation once the scratch memory has grown to fit.
 * visit must not bind, unbind or match on the same index (the scratch memory is in use). */
void exchange_topic_match(const struct topic_index *t, const char *key, size_t len,
                 void (*visit)(void *binding, void *ctx), void *ctx);

#endif
