/* Prometheus's text exposition format (0.0.4): families, labelled samples, and their sums. */
#ifndef METRICS_TEXT_H
#define METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The exposition being written: a growing NUL-terminated buffer. */
struct metrics_text {
    char *p;
    size_t len, cap;
};

struct metrics_label {
    const char *name;
    const char *value; /* len bytes, any content: escaped as the format says */
    size_t len;
};

/* One family being written. Per object, each sample is written with its labels; otherwise
 * (RabbitMQ's /metrics) the samples are summed into one unlabelled sample at the end. */
struct metrics_family {
    struct metrics_text *text;
    const char *name;
    bool per_object;
    double sum;
};

void metrics_text_free(struct metrics_text *t);
/* Writes "# TYPE" then "# HELP", RabbitMQ's order. */
void metrics_family_begin(struct metrics_family *f, struct metrics_text *t, const char *name,
                          const char *type, const char *help, bool per_object);
void metrics_family_add(struct metrics_family *f, const struct metrics_label *labels,
                        size_t nlabels, double value);
/* In the summed form, the one sample (0 when nothing was added). */
void metrics_family_end(struct metrics_family *f);
/* A sample written as it is, labels kept, whatever the form (rabbitmq_global_*, *_info). */
void metrics_sample(struct metrics_text *t, const char *name, const struct metrics_label *labels,
                    size_t nlabels, double value);

#endif
