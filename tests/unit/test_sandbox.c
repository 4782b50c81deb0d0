/*
 * The Worker's sandbox (src/worker/sandbox.h), applied exactly as `funless worker` applies it,
 * in a child process of this test binary (it cannot be undone): files can be created, written
 * and removed under the cache dir and the temp dir, nowhere else — not by the process, not by
 * a program it runs (as a compiler would be), not by a rename out of the cache dir — and no
 * program it runs can gain privileges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/sandbox.h"

static char root[] = "/tmp/funless-test-sandbox-XXXXXX";
static char cache_dir[PATH_MAX], tmp_dir[PATH_MAX], outside[PATH_MAX];

static bool can_create(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* What the child found, one bit per check, as its exit status. */
enum {
    CHILD_SANDBOX_FAILED = 1,
    CHILD_NO_NEW_PRIVS_OFF = 2,
    CHILD_CACHE_NOT_WRITABLE = 4,
    CHILD_TMP_NOT_WRITABLE = 8,
    CHILD_WROTE_OUTSIDE = 16,
    CHILD_PROGRAM_WROTE_OUTSIDE = 32,
    CHILD_RENAMED_OUTSIDE = 64,
    CHILD_NO_LANDLOCK = 128,
};

static int child_checks(void)
{
    struct sandbox_report report;
    char detail[256], path[PATH_MAX + 64], moved[PATH_MAX + 64], command[3 * PATH_MAX];
    setenv("TMPDIR", tmp_dir, 1);
    if (sandbox_worker(cache_dir, &report, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "sandbox_worker: %s\n", detail);
        return CHILD_SANDBOX_FAILED;
    }
    if (!report.landlock_active)
        return CHILD_NO_LANDLOCK;
    int status = 0;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        status |= CHILD_NO_NEW_PRIVS_OFF;
    if (!can_create(cache_dir, "artifact"))
        status |= CHILD_CACHE_NOT_WRITABLE;
    if (!can_create(tmp_dir, "scratch"))
        status |= CHILD_TMP_NOT_WRITABLE;
    if (can_create(outside, "escaped") || errno != EACCES)
        status |= CHILD_WROTE_OUTSIDE;
    snprintf(command, sizeof(command), "touch %s/by-program 2>/dev/null", outside);
    if (system(command) == 0)
        status |= CHILD_PROGRAM_WROTE_OUTSIDE;
    snprintf(path, sizeof(path), "%s/artifact", cache_dir);
    snprintf(moved, sizeof(moved), "%s/moved", outside);
    if (rename(path, moved) == 0)
        status |= CHILD_RENAMED_OUTSIDE;
    return status;
}

static void test_worker_writes_only_under_its_dirs(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_checks());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int found = WEXITSTATUS(status);
    if (found == CHILD_NO_LANDLOCK)
        skip(); /* a kernel without Landlock: only no_new_privs applies (the Worker logs it) */
    assert_int_equal(found, 0);
    /* and outside, seen from here: nothing */
    char path[PATH_MAX + 64];
    static const char *const never[] = {"escaped", "by-program", "moved"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", outside, never[i]);
        assert_int_equal(access(path, F_OK), -1);
    }
    snprintf(path, sizeof(path), "%s/artifact", cache_dir);
    assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
    if (!mkdtemp(root))
        return 1;
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", root);
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    if (mkdir(cache_dir, 0700) != 0 || mkdir(tmp_dir, 0700) != 0 || mkdir(outside, 0700) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_writes_only_under_its_dirs),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf %s", root);
    if (system(command) != 0)
        return 1;
    return failed;
}
