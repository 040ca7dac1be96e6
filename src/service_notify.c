/* Tells the service manager (systemd, through libsystemd's sd_notify) when the broker is ready and when it stops. */
#include "service_notify.h"

#ifdef WITH_SERVICE_NOTIFY
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* libsystemd's sd_notify, opened only when a service manager listens ($NOTIFY_SOCKET): linked
 * in, libsystemd and what it brings (libgcrypt, liblzma, libzstd, liblz4, libcap) cost every
 * broker about 1 MiB resident, a throwaway one in a test suite too. */
static int notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return -ENOENT;
    int (*sd_notify)(int unset_environment, const char *state);
    *(void **)&sd_notify = dlsym(lib, "sd_notify"); /* POSIX's way to take a function */
    int rc = sd_notify ? sd_notify(0, text) : -ENOSYS;
    dlclose(lib);
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
