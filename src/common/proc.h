/*
 * proc — runs a helper program (wasm2c, wasm-validate, gcc) with limits.
 *
 * The child gets /dev/null as stdin (unless `stdin_fd` >= 0), its stdout and
 * stderr go to one pipe whose first `output->max` bytes are kept, and it runs
 * under an address-space and CPU limit. Past `timeout_ms` of wall-clock time
 * its whole process group is killed. Safe to call from any thread.
 */
#ifndef FL_COMMON_PROC_H
#define FL_COMMON_PROC_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct proc_limits {
    uint64_t memory_bytes; /* RLIMIT_AS; 0: inherit */
    uint32_t cpu_s;        /* RLIMIT_CPU; 0: inherit */
    uint32_t timeout_ms;   /* wall clock; 0: none */
    int nice;              /* scheduling priority, 0..19 (19: yields the most); 0: inherit */
};

/*
 * Runs argv[0] (searched in PATH) and waits for it. Returns FL_OK with
 * *exit_status = its exit status, or -1 if it was killed (signal, timeout).
 */
enum fl_err proc_run(const char *const argv[], int stdin_fd, const struct proc_limits *limits,
                     struct fl_buf *output, int *exit_status);

/*
 * Kills the process groups of every helper running now. Async-signal-safe: for a SIGTERM
 * handler, because PR_SET_PDEATHSIG reaches only the direct child (gcc), not what it runs
 * (cc1), which would otherwise outlive a stopped Worker.
 */
void proc_kill_running(void);

#endif
