/* Prometheus's text format: escaping, sample lines, and the summed form of a family. */
#include "admin/metrics_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static void reserve(struct metrics_text *t, size_t n)
{
    if (t->len + n + 1 <= t->cap)
        return;
    t->cap = (t->len + n + 1) * 2;
    t->p = xrealloc(t->p, t->cap);
}

static void append(struct metrics_text *t, const char *s, size_t n)
{
    reserve(t, n);
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void append_str(struct metrics_text *t, const char *s)
{
    append(t, s, strlen(s));
}

/* A label value: backslash, double quote and newline escaped, as the format requires. */
static void append_escaped(struct metrics_text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"')
            append(t, "\\", 1), append(t, s + i, 1);
        else if (s[i] == '\n')
            append(t, "\\n", 2);
        else
            append(t, s + i, 1);
    }
}

/* Integral values (nearly all) as integers, so large counters keep every digit. */
static void append_value(struct metrics_text *t, double value)
{
    char buf[64];
    if (value > -9.0e15 && value < 9.0e15 && (double)(int64_t)value == value)
        snprintf(buf, sizeof buf, "%lld", (long long)value);
    else
        snprintf(buf, sizeof buf, "%.17g", value);
    append_str(t, buf);
}

void metrics_text_free(struct metrics_text *t)
{
    free(t->p);
    *t = (struct metrics_text){0};
}

void metrics_sample(struct metrics_text *t, const char *name, const struct metrics_label *labels,
                    size_t nlabels, double value)
{
    append_str(t, name);
    for (size_t i = 0; i < nlabels; i++) {
        append_str(t, i ? "," : "{");
        append_str(t, labels[i].name);
        append(t, "=\"", 2);
        append_escaped(t, labels[i].value, labels[i].len);
        append(t, "\"", 1);
    }
    if (nlabels)
        append(t, "}", 1);
    append(t, " ", 1);
    append_value(t, value);
    append(t, "\n", 1);
}

void metrics_family_begin(struct metrics_family *f, struct metrics_text *t, const char *name,
                          const char *type, const char *help, bool per_object)
{
    *f = (struct metrics_family){.text = t, .name = name, .per_object = per_object};
    append_str(t, "# TYPE ");
    append_str(t, name);
    append(t, " ", 1);
    append_str(t, type);
    append_str(t, "\n# HELP ");
    append_str(t, name);
    append(t, " ", 1);
    append_str(t, help);
    append(t, "\n", 1);
}

void metrics_family_add(struct metrics_family *f, const struct metrics_label *labels,
                        size_t nlabels, double value)
{
    if (f->per_object)
        metrics_sample(f->text, f->name, labels, nlabels, value);
    else
        f->sum += value;
}

void metrics_family_end(struct metrics_family *f)
{
    if (!f->per_object)
        metrics_sample(f->text, f->name, NULL, 0, f->sum);
}
