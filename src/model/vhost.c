/* A virtual host: the namespace that holds exchanges, queues and bindings. */
#include "model/vhost.h"

#include <stdlib.h>
#include <string.h>

struct vhost *vhost_new(const char *name)
{
    struct vhost *v = calloc(1, sizeof *v);
    if (!v || !(v->name = strdup(name)))
        abort();
    list_init(&v->link);
    return v;
}

void vhost_free(struct vhost *v)
{
    if (!v)
        return;
    free(v->name);
    free(v);
}
