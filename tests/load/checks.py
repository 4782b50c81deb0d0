"""What the hostile-client scripts share: named checks that end in "N passed, N failed", and a
process's figures from /proc."""
import resource
import sys

_counts = {"passed": 0, "failed": 0}


def check(name, ok, why=""):
    if ok:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print(f"FAIL {name}{': ' + why if why else ''}", flush=True)


def finish():
    """Prints the closing line and exits non-zero on any failure."""
    print(f"{_counts['passed']} passed, {_counts['failed']} failed")
    sys.exit(1 if _counts["failed"] else 0)


def proc_status(pid, key):
    """A /proc/PID/status figure: VmRSS (KiB), Threads, ..."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def raise_fd_limit(want=16384):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
