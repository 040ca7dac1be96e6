/* Permissions: a user's configure, write and read patterns in a vhost, and topic permissions
 * on an exchange's routing keys, matched as RabbitMQ matches them (PCRE2 for Erlang's re). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/permission.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

bool permission_regex_compile(struct permission_regex *r, const char *source, char *err,
                              size_t err_size)
{
    *r = (struct permission_regex){0};
    const char *pattern = *source ? source : "^$";
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &offset,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR reason[160];
        pcre2_get_error_message(code, reason, sizeof reason);
        snprintf(err, err_size, "%s at position %zu", (const char *)reason, (size_t)offset);
        return false;
    }
    r->code = re;
    r->match = pcre2_match_data_create(1, NULL);
    if (!r->match)
        abort();
    r->source = xstrdup(source);
    r->matches_all = strcmp(source, ".*") == 0;
    return true;
}

void permission_regex_free(struct permission_regex *r)
{
    pcre2_match_data_free(r->match);
    pcre2_code_free(r->code);
    free(r->source);
    *r = (struct permission_regex){0};
}

bool permission_regex_matches(const struct permission_regex *r, const uint8_t *s, size_t len)
{
    if (r->matches_all)
        return true;
    if (!r->code)
        return false;
    return pcre2_match(r->code, (PCRE2_SPTR)(s ? s : (const uint8_t *)""), len, 0, 0, r->match,
                       NULL) >= 0;
}

struct permission *permission_new(const char *user, const char *configure, const char *write,
                                  const char *read, char *err, size_t err_size)
{
    struct permission *p = xcalloc(1, sizeof *p);
    if (!permission_regex_compile(&p->patterns[PERMISSION_CONFIGURE], configure, err, err_size) ||
        !permission_regex_compile(&p->patterns[PERMISSION_WRITE], write, err, err_size) ||
        !permission_regex_compile(&p->patterns[PERMISSION_READ], read, err, err_size)) {
        permission_free(p);
        return NULL;
    }
    p->user = xstrdup(user);
    return p;
}

void permission_free(struct permission *p)
{
    if (!p)
        return;
    for (int i = 0; i < 3; i++)
        permission_regex_free(&p->patterns[i]);
    free(p->user);
    free(p);
}

/* Replaces every "{username}" and "{vhost}"; other braces stay as they are. */
static char *expand_variables(const char *pattern, const char *user, const char *vhost)
{
    size_t cap = strlen(pattern) + 1, len = 0;
    char *out = xmalloc(cap);
    for (const char *p = pattern; *p;) {
        const char *value = NULL;
        size_t skip = 1;
        if (strncmp(p, "{username}", 10) == 0)
            value = user, skip = 10;
        else if (strncmp(p, "{vhost}", 7) == 0)
            value = vhost, skip = 7;
        size_t add = value ? strlen(value) : 1;
        if (len + add + 1 > cap)
            out = xrealloc(out, cap = (len + add + 1) * 2);
        memcpy(out + len, value ? value : p, add);
        len += add;
        p += skip;
    }
    out[len] = '\0';
    return out;
}

static bool compile_topic(struct permission_regex *r, const char *pattern, const char *user,
                          const char *vhost, char *err, size_t err_size)
{
    char *expanded = expand_variables(pattern, user, vhost);
    bool ok = permission_regex_compile(r, expanded, err, err_size);
    free(expanded);
    return ok;
}

struct topic_permission *topic_permission_new(const char *user, const char *vhost,
                                              const char *exchange, const char *write,
                                              const char *read, char *err, size_t err_size)
{
    struct topic_permission *t = xcalloc(1, sizeof *t);
    list_init(&t->link);
    if (!compile_topic(&t->write, write, user, vhost, err, err_size) ||
        !compile_topic(&t->read, read, user, vhost, err, err_size)) {
        topic_permission_free(t);
        return NULL;
    }
    t->user = xstrdup(user);
    t->exchange = xstrdup(exchange);
    t->write_source = xstrdup(write);
    t->read_source = xstrdup(read);
    return t;
}

void topic_permission_free(struct topic_permission *t)
{
    if (!t)
        return;
    permission_regex_free(&t->write);
    permission_regex_free(&t->read);
    free(t->user);
    free(t->exchange);
    free(t->write_source);
    free(t->read_source);
    free(t);
}

void permission_set_init(struct permission_set *s)
{
    map_init(&s->by_user);
    list_init(&s->topics);
    s->epoch = 1;
}

void permission_set_free(struct permission_set *s)
{
    struct map_iter it;
    void *value;
    map_iter_init(&it, &s->by_user);
    while (map_iter_next(&it, NULL, NULL, &value))
        permission_free(value);
    map_free(&s->by_user);
    while (!list_empty(&s->topics)) {
        struct topic_permission *t = list_entry(s->topics.next, struct topic_permission, link);
        list_remove(&t->link);
        topic_permission_free(t);
    }
}

const struct permission *permission_set_find(const struct permission_set *s, const char *user)
{
    return map_get(&s->by_user, user, strlen(user));
}

void permission_set_put(struct permission_set *s, struct permission *p)
{
    permission_free(map_get(&s->by_user, p->user, strlen(p->user)));
    map_put(&s->by_user, p->user, strlen(p->user), p);
    s->epoch++;
}

bool permission_set_remove(struct permission_set *s, const char *user)
{
    struct permission *p = map_remove(&s->by_user, user, strlen(user));
    permission_free(p);
    s->epoch++;
    return p != NULL;
}

void permission_set_put_topic(struct permission_set *s, struct topic_permission *t)
{
    permission_set_remove_topic(s, t->user, t->exchange);
    list_push_back(&s->topics, &t->link);
    s->epoch++;
}

bool permission_set_remove_topic(struct permission_set *s, const char *user, const char *exchange)
{
    bool found = false;
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &s->topics) {
        struct topic_permission *t = list_entry(pos, struct topic_permission, link);
        if (strcmp(t->user, user) == 0 && (!exchange || strcmp(t->exchange, exchange) == 0)) {
            list_remove(&t->link);
            topic_permission_free(t);
            found = true;
        }
    }
    s->epoch++;
    return found;
}

const struct topic_permission *permission_set_find_topic(const struct permission_set *s,
                                                         const char *user, const uint8_t *exchange,
                                                         size_t len)
{
    struct list *pos;
    list_for_each(pos, &s->topics) {
        struct topic_permission *t = list_entry(pos, struct topic_permission, link);
        if (strcmp(t->user, user) == 0 && strlen(t->exchange) == len &&
            memcmp(t->exchange, exchange, len) == 0)
            return t;
    }
    return NULL;
}
