/* A small owned list of strings (tags, listeners, mechanisms), kept in the order given. */
#ifndef STRING_LIST_H
#define STRING_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct string_list {
    char **items;
    size_t count;
};

/* Replaces the contents with copies of items, skipping empty strings. */
void string_list_set(struct string_list *l, const char *const *items, size_t count);
void string_list_add(struct string_list *l, const char *item);
void string_list_free(struct string_list *l);

#endif
