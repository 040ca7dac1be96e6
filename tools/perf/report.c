/* Formatting of progress lines, the human summary and the JSON summary. */
#include "report.h"

static double per_second(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

void report_progress(FILE *out, double elapsed_s, double interval_s, const struct totals *delta,
                     const struct histogram *latency)
{
    fprintf(out,
            "time %.3fs, sent %.0f msg/s, received %.0f msg/s, confirmed %.0f msg/s, "
            "latency p50 %.0f us p99 %.0f us\n",
            elapsed_s, per_second(delta->sent, interval_s), per_second(delta->received, interval_s),
            per_second(delta->confirmed, interval_s), us(histogram_percentile(latency, 50)),
            us(histogram_percentile(latency, 99)));
    fflush(out);
}

void report_summary(FILE *out, const struct summary *s, struct errors *e)
{
    const struct totals *t = &s->totals;
    double d = s->duration_s;
    fprintf(out, "summary: duration %.3fs\n", d);
    fprintf(out, "  sent      %llu (%.0f msg/s)\n", (unsigned long long)t->sent,
            per_second(t->sent, d));
    fprintf(out, "  received  %llu (%.0f msg/s, %.1f MB/s of bodies)\n",
            (unsigned long long)t->received, per_second(t->received, d),
            per_second(t->bytes, d) / 1e6);
    fprintf(out, "  confirmed %llu (%.0f msg/s), nacked %llu, returned %llu\n",
            (unsigned long long)t->confirmed, per_second(t->confirmed, d),
            (unsigned long long)t->nacked, (unsigned long long)t->returned);
    fprintf(out, "  latency   p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
            us(histogram_percentile(s->latency, 50)), us(histogram_percentile(s->latency, 99)),
            us(histogram_percentile(s->latency, 99.9)), us(histogram_max(s->latency)));
    fprintf(out, "  cpu       user %.2fs, sys %.2fs (warren-perf itself)\n", s->cpu_user_s,
            s->cpu_sys_s);
    if (s->tls[0])
        fprintf(out, "  tls       %s\n", s->tls);
    size_t n = errors_kept(e);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  error     %s\n", errors_text(e, i));
}

static void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void report_json(FILE *out, const struct summary *s, struct errors *e)
{
    const struct totals *t = &s->totals;
    double d = s->duration_s;
    fprintf(out,
            "{\"sent\": %llu, \"received\": %llu, \"confirmed\": %llu, \"returned\": %llu, "
            "\"duration_s\": %.3f, \"send_rate\": %.1f, \"receive_rate\": %.1f, "
            "\"confirm_rate\": %.1f, \"bytes_per_s\": %.1f, "
            "\"latency_us\": {\"p50\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f}, "
            "\"cpu_user_s\": %.3f, \"cpu_sys_s\": %.3f, ",
            (unsigned long long)t->sent, (unsigned long long)t->received,
            (unsigned long long)t->confirmed, (unsigned long long)t->returned, d,
            per_second(t->sent, d), per_second(t->received, d), per_second(t->confirmed, d),
            per_second(t->bytes, d), us(histogram_percentile(s->latency, 50)),
            us(histogram_percentile(s->latency, 99)), us(histogram_percentile(s->latency, 99.9)),
            us(histogram_max(s->latency)), s->cpu_user_s, s->cpu_sys_s);
    if (s->tls[0]) {
        fputs("\"tls\": ", out);
        json_string(out, s->tls);
        fputs(", ", out);
    }
    fputs("\"errors\": [", out);
    size_t n = errors_kept(e);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", out);
        json_string(out, errors_text(e, i));
    }
    fputs("]}\n", out);
    fflush(out);
}
