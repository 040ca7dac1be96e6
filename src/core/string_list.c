/* A small owned list of strings (tags, listeners, mechanisms), kept in the order given. */
#include "core/string_list.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void string_list_free(struct string_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

void string_list_add(struct string_list *l, const char *item)
{
    l->items = xrealloc_array(l->items, l->count + 1, sizeof *l->items);
    l->items[l->count++] = xstrdup(item);
}

void string_list_set(struct string_list *l, const char *const *items, size_t count)
{
    string_list_free(l);
    for (size_t i = 0; i < count; i++)
        if (*items[i])
            string_list_add(l, items[i]);
}

