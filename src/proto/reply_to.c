/* The registry of direct reply-to consumers: names to channels and channels to their consumer. */
#include "proto/reply_to.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/map.h"
#include "proto/channel_internal.h"

struct reply_registry {
    struct map by_name;    /* reply_consumer.name -> struct reply_consumer */
    struct map by_channel; /* the channel's address, as bytes -> the same */
};

struct reply_consumer *reply_registry_add(struct reply_registry **home, struct channel *ch,
                                          struct amqp_bytes tag)
{
    if (!*home) {
        *home = xcalloc(1, sizeof **home);
        map_init(&(*home)->by_name);
        map_init(&(*home)->by_channel);
    }
    struct reply_consumer *rc = xcalloc(1, sizeof *rc);
    rc->ch = ch;
    shortname_set(&rc->tag, tag);
    /* 128 random bits: a name that cannot be guessed, so no one else's replies can be read. */
    token_generate(rc->name, REPLY_TO_PREFIX);
    map_put(&(*home)->by_name, rc->name, REPLY_TO_NAME_LEN, rc);
    map_put(&(*home)->by_channel, &rc->ch, sizeof rc->ch, rc);
    return rc;
}

void reply_registry_remove(struct reply_registry **home, struct reply_consumer *rc)
{
    struct reply_registry *reg = *home;
    map_remove(&reg->by_name, rc->name, REPLY_TO_NAME_LEN);
    map_remove(&reg->by_channel, &rc->ch, sizeof rc->ch);
    free(rc);
    if (map_count(&reg->by_name) == 0) {
        map_free(&reg->by_name);
        map_free(&reg->by_channel);
        free(reg);
        *home = NULL;
    }
}

struct reply_consumer *reply_registry_find(const struct reply_registry *reg, struct amqp_bytes name)
{
    return reg ? map_get(&reg->by_name, name.ptr, name.len) : NULL;
}

struct reply_consumer *reply_registry_of_channel(const struct reply_registry *reg,
                                                 const struct channel *ch)
{
    return reg ? map_get(&reg->by_channel, &ch, sizeof ch) : NULL;
}
