/* Definitions in RabbitMQ's JSON format (what a 3.10 export writes): export, and import
 * through the model's verbs, all or nothing per file. */
#ifndef DEFINITIONS_H
#define DEFINITIONS_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

struct broker;
struct vhost;

/* Everything, or one vhost's part (RabbitMQ's /api/definitions/VHOST shape: no users,
 * vhosts or permissions, no "vhost" fields); a new reference. */
json_t *definitions_export(struct broker *b, struct vhost *only);
/* Checks the whole file first and changes nothing unless all of it can be applied; false with
 * the reason. With `only`, the file is one vhost's part and goes into that vhost. */
bool definitions_import(struct broker *b, const char *text, size_t len, struct vhost *only,
                        char *err, size_t err_size);
/* The same, of a parsed document. */
bool definitions_import_json(struct broker *b, json_t *root, struct vhost *only, char *err,
                             size_t err_size);
/* The objects as exports (and the management API) show them. */
struct user;
struct permission;
struct topic_permission;
json_t *definitions_user_json(const struct user *u);
json_t *definitions_permission_json(const struct permission *p, const char *vhost);
json_t *definitions_topic_permission_json(const struct topic_permission *t, const char *vhost);

/* Tags as RabbitMQ takes them: a list of strings, or its older "a,b" string; false for
 * anything else. */
struct string_list;
bool definitions_tags(const json_t *v, struct string_list *out);

/* The settings part of the definitions (users, vhosts, permissions, topic permissions, limits,
 * policies, parameters: all but queues, exchanges and bindings) as compact JSON text, which
 * the store's journal keeps; malloc'd. */
char *definitions_settings_text(struct broker *b, size_t *len);
/* Makes the settings exactly what the text says: vhosts (with everything in them) and users
 * it does not name are deleted, the rest replaced. The journal's replay, at boot. */
bool definitions_settings_replace(struct broker *b, const char *text, size_t len, char *err,
                                  size_t err_size);

/* load_definitions: a file, or a directory whose *.json files load in name order. */
bool definitions_load(struct broker *b, const char *path, char *err, size_t err_size);

#endif
