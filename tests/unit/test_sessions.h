/* Unit tests' sessions: a user with every permission in a vhost, as an open connection has. */
#ifndef TEST_SESSIONS_H
#define TEST_SESSIONS_H

#include "model/permission.h"
#include "model/session.h"
#include "model/user.h"
#include "model/vhost.h"

static inline void test_session_open(struct session *s, struct vhost *v, const char *user)
{
    char err[64];
    permission_set_put(&v->permissions, permission_new(user, ".*", ".*", ".*", err, sizeof err));
    vhost_transient_session(v, s, user_new(user));
}

static inline void test_session_close(struct session *s)
{
    user_free(s->user);
}

#endif
