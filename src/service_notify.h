/* Tells the service manager (systemd, through libsystemd's sd_notify) when the broker is ready and when it stops. */
#ifndef SERVICE_NOTIFY_H
#define SERVICE_NOTIFY_H

/* Each returns what sd_notify does: > 0 sent, 0 when no service manager listens
 * ($NOTIFY_SOCKET unset) or Warren was configured --without-systemd, < 0 a negative errno
 * (-ENOENT: libsystemd.so.0 is not there). */

/* READY=1, with status as STATUS=: once every listener is open. */
int service_notify_ready(const char *status);
/* STOPPING=1: shutdown has begun. */
int service_notify_stopping(void);

#endif
