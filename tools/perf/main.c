/* warren-perf: a PerfTest-shaped AMQP 0-9-1 benchmark client built to outrun the broker. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "report.h"
#include "run.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct options opts;
    switch (options_parse(argc, argv, &opts)) {
    case OPTIONS_HELP:
        options_usage(argv[0]);
        return 0;
    case OPTIONS_ERROR:
        return 1;
    case OPTIONS_OK:
        break;
    }
    install_signals();
    struct run *r = calloc(1, sizeof *r); /* histograms make it too big for the stack */
    if (!r)
        abort();
    run_init(r, &opts, &interrupted);
    struct summary summary;
    bool measured = run_setup(r) == 0 && run_measure(r, &summary) == 0;
    run_teardown(r);
    if (measured && opts.consumers > 0 && summary.totals.received == 0)
        errors_add(&r->errors, "nothing was received");
    if (!measured) {
        memset(&summary, 0, sizeof summary);
        summary.latency = &r->latency;
    }
    if (opts.json)
        report_json(stdout, &summary, &r->errors);
    else
        report_summary(stdout, &summary, &r->errors);
    int status = errors_any(&r->errors) ? 1 : 0;
    run_free(r);
    free(r);
    return status;
}
