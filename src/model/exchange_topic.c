/* Topic binding trie: one node per pattern prefix, matched level by level like an NFA. */
#include "model/exchange_topic.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/map.h"

/* A node's bindings get a pointer -> position map beyond this many, so unbinding one of
 * thousands of queues bound with the same pattern stays O(1). */
enum { POSITIONS_THRESHOLD = 32 };

struct topic_node {
    struct map words;          /* literal word -> child node */
    struct topic_node *star;   /* child through "*" */
    struct topic_node *hash;   /* child through "#" */
    bool is_hash;              /* reached through "#": can absorb further words itself */
    void **bindings;           /* bindings whose pattern ends here */
    size_t nbindings, cap;
    struct map *positions;     /* binding pointer -> index + 1, when nbindings is large */
    uint64_t mark;             /* the match level this node was last added to */
};

/* A set of nodes for one match level; membership is node->mark == the level's mark. */
struct node_set {
    struct topic_node **nodes;
    size_t count, cap;
};

struct topic_scratch {
    struct node_set sets[2];
    uint64_t mark; /* advanced once per level of every match; never wraps in practice */
};

/* Splits as RabbitMQ does: an empty string has no words, otherwise dots + 1 words. */
struct word_cursor {
    const char *p, *end;
    bool done;
};

static void cursor_init(struct word_cursor *c, const char *s, size_t len)
{
    c->p = s;
    c->end = s + len;
    c->done = len == 0;
}

static bool cursor_next(struct word_cursor *c, const char **word, size_t *len)
{
    if (c->done)
        return false;
    const char *dot = memchr(c->p, '.', (size_t)(c->end - c->p));
    const char *stop = dot ? dot : c->end;
    *word = c->p;
    *len = (size_t)(stop - c->p);
    if (dot)
        c->p = dot + 1;
    else
        c->done = true;
    return true;
}

static bool is_word(const char *w, size_t len, char c)
{
    return len == 1 && w[0] == c;
}

static struct topic_node *node_new(struct topic_index *t, bool is_hash)
{
    struct topic_node *n = xmalloc(sizeof *n);
    t->nodes++;
    *n = (struct topic_node){.is_hash = is_hash};
    map_init_seeded(&n->words, t->seed);
    return n;
}

static void node_free(struct topic_index *t, struct topic_node *n)
{
    t->nodes--;
    map_free(&n->words);
    if (n->positions) {
        map_free(n->positions);
        free(n->positions);
    }
    free(n->bindings);
    free(n);
}

static bool node_unused(const struct topic_node *n)
{
    return n->nbindings == 0 && map_count(&n->words) == 0 && !n->star && !n->hash;
}

static void set_push(struct node_set *s, struct topic_node *n)
{
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->nodes = xrealloc_array(s->nodes, s->cap, sizeof *s->nodes);
    }
    s->nodes[s->count++] = n;
}

static uint64_t random_seed(const struct topic_index *t)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    return map_hash((uint64_t)(uintptr_t)t, &t, sizeof t); /* no entropy yet: still varies */
}

void exchange_topic_init(struct topic_index *t)
{
    t->seed = random_seed(t);
    t->count = 0;
    t->nodes = 0;
    t->root = node_new(t, false);
    t->scratch = xmalloc(sizeof *t->scratch);
    *t->scratch = (struct topic_scratch){0};
}

void exchange_topic_free(struct topic_index *t)
{
    /* Depth-first with an explicit stack: patterns may have hundreds of words. */
    struct node_set stack = {0};
    set_push(&stack, t->root);
    while (stack.count) {
        struct topic_node *n = stack.nodes[--stack.count];
        struct map_iter it;
        void *child;
        map_iter_init(&it, &n->words);
        while (map_iter_next(&it, NULL, NULL, &child))
            set_push(&stack, child);
        if (n->star)
            set_push(&stack, n->star);
        if (n->hash)
            set_push(&stack, n->hash);
        node_free(t, n);
    }
    free(stack.nodes);
    free(t->scratch->sets[0].nodes);
    free(t->scratch->sets[1].nodes);
    free(t->scratch);
    t->root = NULL;
    t->scratch = NULL;
    t->count = 0;
}

/* ---- bindings stored at a node ---- */

static size_t find_binding(const struct topic_node *n, void *binding)
{
    if (n->positions) {
        uintptr_t pos = (uintptr_t)map_get(n->positions, &binding, sizeof binding);
        return pos ? pos - 1 : SIZE_MAX;
    }
    for (size_t i = 0; i < n->nbindings; i++)
        if (n->bindings[i] == binding)
            return i;
    return SIZE_MAX;
}

static void remember_position(struct topic_node *n, size_t i)
{
    map_put(n->positions, &n->bindings[i], sizeof n->bindings[i], (void *)(uintptr_t)(i + 1));
}

static void add_binding(struct topic_node *n, void *binding)
{
    if (n->nbindings == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 2;
        n->bindings = xrealloc_array(n->bindings, n->cap, sizeof *n->bindings);
    }
    n->bindings[n->nbindings++] = binding;
    if (n->positions) {
        remember_position(n, n->nbindings - 1);
    } else if (n->nbindings > POSITIONS_THRESHOLD) {
        n->positions = xmalloc(sizeof *n->positions);
        map_init(n->positions);
        for (size_t i = 0; i < n->nbindings; i++)
            remember_position(n, i);
    }
}

/* Swaps the last binding into slot i. */
static void remove_binding_at(struct topic_node *n, size_t i)
{
    void *gone = n->bindings[i];
    size_t last = --n->nbindings;
    n->bindings[i] = n->bindings[last];
    if (!n->positions)
        return;
    map_remove(n->positions, &gone, sizeof gone);
    if (i != last)
        remember_position(n, i);
    if (n->nbindings == 0) {
        map_free(n->positions);
        free(n->positions);
        n->positions = NULL;
    }
}

/* ---- the trie ---- */

/* The child pointer for a "#" or "*" word, or NULL for a literal word (those are in the map). */
static struct topic_node **wildcard_slot(struct topic_node *n, const char *w, size_t len)
{
    if (is_word(w, len, '#'))
        return &n->hash;
    if (is_word(w, len, '*'))
        return &n->star;
    return NULL;
}

static struct topic_node *child_of(const struct topic_node *n, const char *w, size_t len)
{
    if (is_word(w, len, '#'))
        return n->hash;
    if (is_word(w, len, '*'))
        return n->star;
    return map_get(&n->words, w, len);
}

bool exchange_topic_bind(struct topic_index *t, const char *pattern, size_t len, void *binding)
{
    struct topic_node *n = t->root;
    struct word_cursor c;
    const char *w;
    size_t wlen;
    cursor_init(&c, pattern, len);
    while (cursor_next(&c, &w, &wlen)) {
        struct topic_node *child = child_of(n, w, wlen);
        if (!child) {
            child = node_new(t, is_word(w, wlen, '#'));
            struct topic_node **slot = wildcard_slot(n, w, wlen);
            if (slot)
                *slot = child;
            else
                map_put(&n->words, w, wlen, child);
        }
        n = child;
    }
    if (find_binding(n, binding) != SIZE_MAX)
        return false;
    add_binding(n, binding);
    t->count++;
    return true;
}

/* One step of the path from the root to a pattern's node: the node and the word leading
 * into it, so an emptied node can be detached from its parent. */
struct path_step {
    struct topic_node *node;
    const char *word;
    size_t len;
};

/* Fills path[0..*depth] from the root along the pattern's words; false if a node is missing. */
static bool walk_path(const struct topic_index *t, const char *pattern, size_t len,
                      struct path_step *path, size_t *depth)
{
    struct word_cursor c;
    const char *w;
    size_t wlen;
    *depth = 0;
    path[0] = (struct path_step){t->root, NULL, 0};
    cursor_init(&c, pattern, len);
    while (cursor_next(&c, &w, &wlen)) {
        struct topic_node *child = child_of(path[*depth].node, w, wlen);
        if (!child)
            return false;
        path[++*depth] = (struct path_step){child, w, wlen};
    }
    return true;
}

/* Frees the nodes at the end of the path that hold nothing any more; the root stays. */
static void prune(struct topic_index *t, const struct path_step *path, size_t depth)
{
    for (; depth > 0 && node_unused(path[depth].node); depth--) {
        struct topic_node *parent = path[depth - 1].node;
        struct topic_node **slot = wildcard_slot(parent, path[depth].word, path[depth].len);
        if (slot)
            *slot = NULL;
        else
            map_remove(&parent->words, path[depth].word, path[depth].len);
        node_free(t, path[depth].node);
    }
}

bool exchange_topic_unbind(struct topic_index *t, const char *pattern, size_t len, void *binding)
{
    /* A pattern of k dots has k + 1 words; the path also holds the root. */
    size_t words = len ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        words += pattern[i] == '.';
    struct path_step path_small[16];
    struct path_step *path = path_small;
    if (words >= 16)
        path = xrealloc_array(NULL, words + 1, sizeof *path);
    bool removed = false;
    size_t depth;
    if (walk_path(t, pattern, len, path, &depth)) {
        struct topic_node *n = path[depth].node;
        size_t i = find_binding(n, binding);
        if (i != SIZE_MAX) {
            remove_binding_at(n, i);
            t->count--;
            prune(t, path, depth);
            removed = true;
        }
    }
    if (path != path_small)
        free(path);
    return removed;
}

size_t exchange_topic_count(const struct topic_index *t)
{
    return t->count;
}

/* ---- matching ---- */

/* Adds n to the level's set with its chain of "#" children, since "#" may match no words. */
static void add_with_hashes(struct node_set *s, struct topic_node *n, uint64_t mark)
{
    for (; n && n->mark != mark; n = n->hash) {
        n->mark = mark;
        set_push(s, n);
    }
}

/* Advances every node of `from` by one key word into `to`. */
static void step(const struct topic_index *t, const struct node_set *from, struct node_set *to,
                 const char *w, size_t wlen, uint64_t mark)
{
    uint64_t hash = map_hash(t->seed, w, wlen);
    to->count = 0;
    for (size_t i = 0; i < from->count; i++) {
        struct topic_node *n = from->nodes[i];
        add_with_hashes(to, map_get_hashed(&n->words, w, wlen, hash), mark);
        add_with_hashes(to, n->star, mark);
        if (n->is_hash)
            add_with_hashes(to, n, mark); /* the "#" swallows this word too */
    }
}

void exchange_topic_match(const struct topic_index *t, const char *key, size_t len,
                 void (*visit)(void *binding, void *ctx), void *ctx)
{
    struct topic_scratch *s = t->scratch;
    struct node_set *current = &s->sets[0], *next = &s->sets[1];
    current->count = 0;
    add_with_hashes(current, t->root, ++s->mark);
    struct word_cursor c;
    const char *w;
    size_t wlen;
    cursor_init(&c, key, len);
    while (current->count && cursor_next(&c, &w, &wlen)) {
        step(t, current, next, w, wlen, ++s->mark);
        struct node_set *swap = current;
        current = next;
        next = swap;
    }
    /* If the set emptied before the key ended, nothing is visited. Each node is in the
     * final set once, so each binding is visited once. */
    for (size_t i = 0; i < current->count; i++) {
        struct topic_node *n = current->nodes[i];
        for (size_t j = 0; j < n->nbindings; j++)
            visit(n->bindings[j], ctx);
    }
}
