/* Publisher confirms as a ring of runs: appended per publish, replied from the oldest. */
#include "proto/confirms.h"

#include <stdlib.h>

#include "core/alloc.h"

enum { RUNS_MIN_CAP = 8 };

void confirms_init(struct confirms *c)
{
    *c = (struct confirms){.next_seq = 1};
}

void confirms_free(struct confirms *c)
{
    free(c->runs);
    c->runs = NULL;
    c->head = c->len = c->cap = 0;
}

static struct confirm_run *run_at(const struct confirms *c, uint32_t i)
{
    return &c->runs[(c->head + i) & (c->cap - 1)];
}

static void grow(struct confirms *c)
{
    uint32_t cap = c->cap ? c->cap * 2 : RUNS_MIN_CAP;
    struct confirm_run *runs = xmalloc(cap * sizeof *runs);
    for (uint32_t i = 0; i < c->len; i++)
        runs[i] = *run_at(c, i);
    free(c->runs);
    c->runs = runs;
    c->cap = cap;
    c->head = 0;
}

static void push_run(struct confirms *c, uint64_t first, uint64_t last, enum confirm_outcome outcome)
{
    if (c->len == c->cap)
        grow(c);
    *run_at(c, c->len++) = (struct confirm_run){first, last, outcome};
}

void confirms_push_run(struct confirms *c, uint64_t seq, enum confirm_outcome outcome)
{
    push_run(c, seq, seq, outcome);
}

/* The index of the run holding seq, or c->len. */
static uint32_t find_run(const struct confirms *c, uint64_t seq)
{
    uint32_t lo = 0, hi = c->len;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (run_at(c, mid)->last < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->len && run_at(c, lo)->first <= seq ? lo : c->len;
}

/* Makes room for two more runs after index i, shifting the rest toward the tail. */
static void open_gap(struct confirms *c, uint32_t i, uint32_t count)
{
    while (c->len + count > c->cap)
        grow(c);
    for (uint32_t j = c->len; j-- > i + 1;)
        *run_at(c, j + count) = *run_at(c, j);
    c->len += count;
}

void confirms_settle(struct confirms *c, uint64_t seq, enum confirm_outcome outcome)
{
    uint32_t i = find_run(c, seq);
    if (i == c->len || run_at(c, i)->outcome != CONFIRM_WAITING)
        return;
    struct confirm_run r = *run_at(c, i);
    /* split the waiting run into before, seq itself, and after */
    uint32_t extra = (r.first < seq) + (seq < r.last);
    open_gap(c, i, extra);
    uint32_t at = i;
    if (r.first < seq)
        *run_at(c, at++) = (struct confirm_run){r.first, seq - 1, CONFIRM_WAITING};
    *run_at(c, at++) = (struct confirm_run){seq, seq, outcome};
    if (seq < r.last)
        *run_at(c, at) = (struct confirm_run){seq + 1, r.last, CONFIRM_WAITING};
}

void confirms_settle_through(struct confirms *c, uint64_t seq, enum confirm_outcome outcome)
{
    for (uint32_t i = 0; i < c->len; i++) {
        struct confirm_run *r = run_at(c, i);
        if (r->first > seq)
            break;
        if (r->outcome != CONFIRM_WAITING)
            continue;
        if (r->last > seq) {
            /* split: the part after seq still waits */
            struct confirm_run rest = {seq + 1, r->last, CONFIRM_WAITING};
            open_gap(c, i, 1);
            r = run_at(c, i);
            r->last = seq;
            *run_at(c, i + 1) = rest;
        }
        r->outcome = outcome;
    }
}

bool confirms_next(struct confirms *c, struct confirm_reply *out)
{
    if (c->len == 0 || run_at(c, 0)->outcome == CONFIRM_WAITING)
        return false;
    struct confirm_run first = *run_at(c, 0);
    c->head = (c->head + 1) & (c->cap - 1);
    c->len--;
    /* later runs of the same outcome join this reply (a settled waiting run splits them) */
    while (c->len && run_at(c, 0)->outcome == first.outcome) {
        first.last = run_at(c, 0)->last;
        c->head = (c->head + 1) & (c->cap - 1);
        c->len--;
    }
    *out = (struct confirm_reply){first.last, first.last > first.first, first.outcome == CONFIRM_NACK};
    return true;
}
