/* Random bytes from the kernel (getrandom), for names, salts and ids: no library to initialise. */
#ifndef RANDOM_H
#define RANDOM_H

#include <stddef.h>

/* Fills out with len random bytes; aborts if the kernel cannot give them. */
void random_bytes(void *out, size_t len);

#endif
