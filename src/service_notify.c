/* Tells the service manager (systemd, through sd_notify) when the broker is ready and when it stops. */
#include "service_notify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

int service_notify_ready(const char *status)
{
    return sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

int service_notify_stopping(void)
{
    return sd_notify(0, "STOPPING=1\nSTATUS=Stopping: closing all connections");
}

#else /* built without libsystemd: nobody to tell */

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
