/* Random names in RabbitMQ's form: a prefix and 22 url-safe base64 characters (128 bits). */
#ifndef TOKEN_H
#define TOKEN_H

#define TOKEN_CHARS 22

/* Writes prefix + TOKEN_CHARS characters + NUL; out needs strlen(prefix) + 23 bytes. */
void token_generate(char *out, const char *prefix);

#endif
