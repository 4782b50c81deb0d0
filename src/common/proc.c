#include "common/proc.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In the child, between fork and exec: async-signal-safe calls only. */
static void proc_child(const char *const argv[], int stdin_fd, int out_fd,
                       const struct proc_limits *limits)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a compiler outliving its Worker is wasted work */
    int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(127);
    if (limits && limits->memory_bytes) {
        struct rlimit rl = {limits->memory_bytes, limits->memory_bytes};
        setrlimit(RLIMIT_AS, &rl);
    }
    if (limits && limits->cpu_s) {
        struct rlimit rl = {limits->cpu_s, limits->cpu_s};
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (limits && limits->nice)
        setpriority(PRIO_PROCESS, 0, limits->nice);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

/* Reads the child's output until EOF or the deadline; false on timeout. */
static bool proc_drain(int fd, int64_t deadline_ms, struct fl_buf *output)
{
    char chunk[4096];
    for (;;) {
        int wait_ms = -1;
        if (deadline_ms) {
            int64_t left = deadline_ms - (int64_t)fl_now_ms();
            if (left <= 0)
                return false;
            wait_ms = (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? false : true;
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return true;
        if (output && output->len < output->max) {
            size_t room = output->max - output->len;
            fl_buf_append(output, chunk, (size_t)got < room ? (size_t)got : room);
        }
    }
}

/* Process groups of the helpers running now (0: a free slot), for proc_kill_running. */
enum { MAX_RUNNING = 64 };
static _Atomic pid_t running[MAX_RUNNING];

static void proc_track(pid_t pid, pid_t previous)
{
    for (int i = 0; i < MAX_RUNNING; i++) {
        pid_t expected = previous;
        if (atomic_compare_exchange_strong(&running[i], &expected, pid))
            return;
    }
}

void proc_kill_running(void)
{
    for (int i = 0; i < MAX_RUNNING; i++) {
        pid_t pgid = atomic_load(&running[i]);
        if (pgid > 0)
            kill(-pgid, SIGKILL);
    }
}

enum fl_err proc_run(const char *const argv[], int stdin_fd, const struct proc_limits *limits,
                     struct fl_buf *output, int *exit_status)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return FL_ERR_IO;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return FL_ERR_IO;
    }
    if (pid == 0)
        proc_child(argv, stdin_fd, pipefd[1], limits);
    proc_track(pid, 0);
    close(pipefd[1]);
    int64_t deadline = limits && limits->timeout_ms ? (int64_t)fl_now_ms() + limits->timeout_ms : 0;
    bool finished = proc_drain(pipefd[0], deadline, output);
    close(pipefd[0]);
    if (!finished)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    proc_track(0, pid);
    *exit_status = finished && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return FL_OK;
}
