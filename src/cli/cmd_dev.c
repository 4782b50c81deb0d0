/*
 * funless dev — a Core and one Worker on loopback, SQLite in a data dir:
 * the whole platform on a laptop with one command. Both run as child
 * processes of this one (the same binary), which prints the API URL and the
 * guest token, writes them to ~/.fl/config for `fl`, and stops both on
 * SIGINT or SIGTERM (or when either dies). With --detach it returns once the
 * platform is ready and keeps running in the background (log and pid file in
 * the data dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "common/options.h"
#include "common/util.h"
#include "fl/config.h"

enum { READY_WAIT_MS = 10000 };

struct dev_options {
    const char *listen, *data_dir, *cache_dir, *worker_listen;
    uint64_t threads;
    bool detach, no_fl_config;
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

/* The token after "Guest=" or "Admin=" in the Core's tokens file. */
static bool dev_token(const char *data_dir, const char *prefix, char *token, size_t len)
{
    char path[4200], line[256];
    snprintf(path, sizeof(path), "%s/tokens", data_dir);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            found = (size_t)snprintf(token, len, "%s", line + strlen(prefix)) < len;
        }
    if (f)
        fclose(f);
    return found;
}

static size_t dev_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data, (void)arg;
    return size * n;
}

/* Ready = the Core's /readyz says the store answers and the Worker has joined (it dials
 * the Worker just after it starts listening); at most READY_WAIT_MS. */
static bool dev_wait_ready(const char *api)
{
    char url[200];
    snprintf(url, sizeof(url), "%s/readyz", api);
    CURL *curl = curl_easy_init();
    long status = 0;
    for (int waited = 0; curl && waited < READY_WAIT_MS && status != 200; waited += 50) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dev_discard);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
        if (curl_easy_perform(curl) != CURLE_OK ||
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
            status = 0;
        if (status != 200)
            usleep(50 * 1000);
    }
    curl_easy_cleanup(curl);
    return status == 200;
}

/* Points `fl` at this platform: api_host and both tokens in ~/.fl/config. */
static void dev_write_fl_config(const char *api, const char *guest, const char *admin)
{
    char path[4096];
    if (!fl_config_path(path, sizeof(path)))
        return;
    if (fl_config_set(path, "api_host", api) && fl_config_set(path, "api_token", guest) &&
        fl_config_set(path, "admin_token", admin))
        printf("funless dev: fl is set up to use it (%s)\n", path);
    else
        fprintf(stderr, "funless dev: cannot write %s: %s\n", path, strerror(errno));
}

static void dev_announce(const struct dev_options *opt, const char *api)
{
    char guest[128] = "?", admin[128] = "";
    dev_token(opt->data_dir, "Guest=", guest, sizeof(guest));
    dev_token(opt->data_dir, "Admin=", admin, sizeof(admin));
    printf("funless dev: API %s  guest token %s\n", api, guest);
    if (!opt->no_fl_config && admin[0])
        dev_write_fl_config(api, guest, admin);
    if (opt->detach)
        printf("funless dev: running in the background (log %s/dev.log); stop it with: "
               "kill $(cat %s/dev.pid)\n",
               opt->data_dir, opt->data_dir);
    else
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
    if (!dev_wait_ready(api))
        fprintf(stderr, "funless dev: the Worker has not joined yet (see /readyz)\n");
    dev_announce(opt, api);
    if (opt->detach) /* ready: the rest goes to the log, and the caller's pipe closes */
        dup2(2, 1);
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

/*
 * --detach: a child runs the platform with its stderr in <data-dir>/dev.log and its stdout on
 * a pipe to us until it is ready (dev_run then points stdout at the log too); we relay what
 * it says, write <data-dir>/dev.pid and return. EOF before the "running" line: it failed.
 */
static int dev_detach(const struct dev_options *opt)
{
    char log_path[4200], pid_path[4200], line[1024];
    snprintf(log_path, sizeof(log_path), "%s/dev.log", opt->data_dir);
    snprintf(pid_path, sizeof(pid_path), "%s/dev.pid", opt->data_dir);
    int pipefd[2];
    if ((mkdir(opt->data_dir, 0700) != 0 && errno != EEXIST) || pipe(pipefd) != 0) {
        fprintf(stderr, "funless dev: cannot use %s: %s\n", opt->data_dir, strerror(errno));
        return 70;
    }
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid = log_fd >= 0 ? fork() : -1;
    if (pid == 0) {
        setsid(); /* no longer part of the caller's terminal session */
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(log_fd, 2);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        _exit(dev_run(opt));
    }
    close(pipefd[1]);
    if (pid < 0) {
        fprintf(stderr, "funless dev: cannot start: %s\n", strerror(errno));
        return 70;
    }
    FILE *from_child = fdopen(pipefd[0], "r");
    bool ready = false;
    while (from_child && fgets(line, sizeof(line), from_child)) {
        fputs(line, stdout);
        ready |= strstr(line, "running in the background") != NULL;
    }
    if (from_child)
        fclose(from_child);
    close(log_fd);
    FILE *pid_file = ready ? fopen(pid_path, "w") : NULL;
    if (pid_file) {
        fprintf(pid_file, "%d\n", (int)pid);
        fclose(pid_file);
    }
    if (!ready)
        fprintf(stderr, "funless dev: it did not start; see %s\n", log_path);
    return ready ? 0 : 70;
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
        {"--detach", NULL, FL_OPT_FLAG, &opt.detach, NULL, 0, 0,
         "return once ready, keep running in the background"},
        {"--no-fl-config", NULL, FL_OPT_FLAG, &opt.no_fl_config, NULL, 0, 0,
         "do not write the API URL and tokens to ~/.fl/config"},
    };
    const size_t count = ARRAY_SIZE(options);
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
    return opt.detach ? dev_detach(&opt) : dev_run(&opt);
}
