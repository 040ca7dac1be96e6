/* A virtual host: the namespace that holds exchanges, queues and bindings. */
#ifndef VHOST_H
#define VHOST_H

#include "core/list.h"

struct vhost {
    struct list link; /* in broker.vhosts */
    char *name;
};

struct vhost *vhost_new(const char *name);
void vhost_free(struct vhost *v);

#endif
