/*
 * funless dev — a Core and one Worker on loopback, SQLite in a data dir:
 * the whole platform on a laptop with one command. Both run as child
 * processes of this one (the same binary), which prints the API URL and the
 * guest token, and stops both on SIGINT or SIGTERM (or when either dies).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/options.h"

struct dev_options {
    const char *listen, *data_dir, *cache_dir, *worker_listen;
    uint64_t threads;
};

/* Starts `funless ARGS...` with its stdout on a pipe; reads lines until one contains `marker`. */
static pid_t dev_spawn(char *const argv[], const char *marker, char *line, size_t line_len)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the parent blocks them for sigwait */
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *out = fdopen(pipefd[0], "r");
    bool found = false;
    while (out && !found && fgets(line, (int)line_len, out)) {
        fputs(line, stdout);
        found = strstr(line, marker) != NULL;
    }
    if (out)
        fclose(out); /* the child ignores SIGPIPE; its later output goes nowhere */
    if (!found && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

static void dev_print_token(const char *data_dir, const char *api)
{
    char path[4200], line[128];
    snprintf(path, sizeof(path), "%s/tokens", data_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "Guest=", 6) == 0)
            printf("funless dev: API %s  guest token %s", api, line + 6);
    if (f)
        fclose(f);
    printf("funless dev: Ctrl-C stops the Core and the Worker\n");
    fflush(stdout);
}

static int dev_run(const struct dev_options *opt)
{
    char line[512], threads[16], workers[128], port[16];
    snprintf(threads, sizeof(threads), "%lu", (unsigned long)opt->threads);
    char *worker_argv[] = {"funless",     "worker",
                           "--name",      "dev-worker",
                           "--listen",    (char *)opt->worker_listen,
                           "--metrics",   "127.0.0.1:0",
                           "--cache-dir", (char *)opt->cache_dir,
                           "--threads",   threads,
                           NULL};
    pid_t worker = dev_spawn(worker_argv, "listening on", line, sizeof(line));
    const char *at = strstr(line, "listening on ");
    const char *colon = at ? strchr(at + 13, ':') : NULL;
    if (worker < 0 || !colon) {
        fprintf(stderr, "funless dev: the Worker did not start\n");
        return 70;
    }
    snprintf(port, sizeof(port), "%d", atoi(colon + 1));
    snprintf(workers, sizeof(workers), "127.0.0.1:%s", port);
    char *core_argv[] = {"funless",           "core",       "--listen",
                         (char *)opt->listen, "--data-dir", (char *)opt->data_dir,
                         "--workers",         workers,      NULL};
    pid_t core = dev_spawn(core_argv, "listening on", line, sizeof(line));
    if (core < 0) {
        fprintf(stderr, "funless dev: the Core did not start\n");
        kill(worker, SIGTERM);
        return 70;
    }
    const char *url = strstr(line, "http://");
    char api[128];
    snprintf(api, sizeof(api), "%.*s", url ? (int)strcspn(url, " \n") : 0, url ? url : "");
    dev_print_token(opt->data_dir, api);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGCHLD);
    int sig = 0;
    sigwait(&signals, &sig); /* a stop request, or one of the children died */
    kill(core, SIGTERM);
    kill(worker, SIGTERM);
    waitpid(core, NULL, 0);
    waitpid(worker, NULL, 0);
    return sig == SIGCHLD ? 70 : 0;
}

int cmd_dev(int argc, char **argv)
{
    struct dev_options opt;
    const struct fl_option options[] = {
        {"--listen", "FUNLESS_LISTEN", FL_OPT_STRING, &opt.listen, "127.0.0.1:4000", 0, 0,
         "the Core's REST API"},
        {"--data-dir", "FUNLESS_DATA_DIR", FL_OPT_STRING, &opt.data_dir, "./funless-data", 0, 0,
         "the Core's SQLite store and tokens"},
        {"--cache-dir", "FUNLESS_CACHE_DIR", FL_OPT_STRING, &opt.cache_dir, "./funless-cache", 0, 0,
         "the Worker's code cache"},
        {"--worker-listen", NULL, FL_OPT_STRING, &opt.worker_listen, "127.0.0.1:0", 0, 0,
         "where the Worker listens for the Core"},
        {"--threads", NULL, FL_OPT_UINT, &opt.threads, "2", 1, 256,
         "the Worker's executor threads"},
    };
    const size_t count = sizeof(options) / sizeof(options[0]);
    char err[256], *positional[1];
    size_t npositional;
    bool help;
    if (!fl_options_parse(options, count, argc, argv, positional, 0, &npositional, &help, err,
                          sizeof(err))) {
        fprintf(stderr, "funless dev: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (help) {
        fl_options_print_help(
            stdout,
            "usage: funless dev [OPTIONS]\n\nRuns a Core and one Worker on loopback, with SQLite.",
            options, count);
        return CLI_EXIT_OK;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGCHLD);
    sigprocmask(SIG_BLOCK, &signals, NULL); /* children unblock what they need themselves */
    signal(SIGPIPE, SIG_IGN);
    return dev_run(&opt);
}
