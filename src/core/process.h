/* What the operating system says about this process and its machine, for the API and metrics. */
#ifndef PROCESS_H
#define PROCESS_H

#include <stdint.h>

uint64_t process_resident_bytes(void);   /* RSS; 0 when unknown */
/* Returns what malloc holds free to the system, so RSS shows what is in use. */
void process_release_free_memory(void);
uint64_t process_open_fds(void);         /* descriptors open now */
uint64_t process_fd_limit(void);         /* RLIMIT_NOFILE's soft limit */
uint64_t system_memory_bytes(void);      /* physical RAM */
uint64_t system_disk_free_bytes(const char *path); /* free to unprivileged users; 0 when unknown */
unsigned system_processors(void);

#endif
