/* Tells the service manager (systemd, by sd_notify's protocol) when the broker is ready and when it stops. */
#include "service_notify.h"

#ifdef WITH_SERVICE_NOTIFY
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* sd_notify(3)'s protocol spoken directly, one datagram to the AF_UNIX socket $NOTIFY_SOCKET
 * names ("@name": the abstract namespace): linking libsystemd for it cost about 1 MiB of
 * resident pages (it brings libgcrypt, liblzma, libzstd, liblz4 and libcap along). */
static int notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (path[0] != '/' && path[0] != '@')
        return -EAFNOSUPPORT; /* vsock: and the like: systemd's services get a path */
    if (len >= sizeof sa.sun_path)
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t sent = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    int rc = sent < 0 ? -errno : 1;
    close(fd);
    return rc;
}

int service_notify_ready(const char *status)
{
    char text[4096];
    snprintf(text, sizeof text, "READY=1\nSTATUS=%s", status);
    return notify(text);
}

int service_notify_stopping(void)
{
    return notify("STOPPING=1\nSTATUS=Stopping: closing all connections");
}

#else /* configured --without-systemd: nobody to tell */

int service_notify_ready(const char *status)
{
    (void)status;
    return 0;
}

int service_notify_stopping(void)
{
    return 0;
}

#endif
