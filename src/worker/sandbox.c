#include "common/util.h"
#include "worker/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock ABI 3 (Linux 6.2); Debian 12's kernel headers (6.1) stop at ABI 2. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* glibc 2.36 has no wrappers for the Landlock system calls. */
static int sandbox_create_ruleset(const struct landlock_ruleset_attr *attr, size_t size,
                                  uint32_t flags)
{
    return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static int sandbox_add_rule(int ruleset, enum landlock_rule_type type, const void *attr)
{
    return (int)syscall(SYS_landlock_add_rule, ruleset, type, attr, 0);
}

static int sandbox_restrict_self(int ruleset)
{
    return (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
}

/* Every right that changes the file system, as far as the kernel's ABI knows them. */
static uint64_t sandbox_write_rights(int abi)
{
    uint64_t rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                      LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                      LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                      LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        rights |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    return rights;
}

static enum fl_err sandbox_landlock(const char *const writable[], size_t count, int abi,
                                    char *detail, size_t detail_len)
{
    uint64_t rights = sandbox_write_rights(abi);
    struct landlock_ruleset_attr attr = {.handled_access_fs = rights};
    int ruleset = sandbox_create_ruleset(&attr, sizeof(attr), 0);
    if (ruleset < 0)
        return fl_fail(FL_ERR_IO, detail, detail_len, "landlock_create_ruleset: %s",
                       strerror(errno));
    enum fl_err err = FL_OK;
    for (size_t i = 0; i < count && err == FL_OK; i++) {
        struct landlock_path_beneath_attr beneath = {.allowed_access = rights};
        beneath.parent_fd = open(writable[i], O_PATH | O_CLOEXEC);
        if (beneath.parent_fd < 0) {
            err = fl_fail(FL_ERR_IO, detail, detail_len, "sandbox: cannot open %s: %s", writable[i],
                          strerror(errno));
            break;
        }
        /* a file (/dev/null) takes only the rights that apply to files */
        struct stat st;
        if (fstat(beneath.parent_fd, &st) == 0 && !S_ISDIR(st.st_mode))
            beneath.allowed_access &=
                LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
        if (sandbox_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath) != 0)
            err = fl_fail(FL_ERR_IO, detail, detail_len, "landlock_add_rule %s: %s", writable[i],
                          strerror(errno));
        close(beneath.parent_fd);
    }
    if (err == FL_OK && sandbox_restrict_self(ruleset) != 0)
        err = fl_fail(FL_ERR_IO, detail, detail_len, "landlock_restrict_self: %s", strerror(errno));
    close(ruleset);
    return err;
}

enum fl_err sandbox_apply(const char *const writable[], size_t count, struct sandbox_report *report,
                          char *detail, size_t detail_len)
{
    *report = (struct sandbox_report){0};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fl_fail(FL_ERR_IO, detail, detail_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    report->no_new_privs = true;
    int abi = sandbox_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) /* ENOSYS or EOPNOTSUPP: this kernel has no Landlock, or it is off */
        return FL_OK;
    report->landlock_abi = abi;
    enum fl_err err = sandbox_landlock(writable, count, abi, detail, detail_len);
    report->landlock_active = err == FL_OK;
    return err;
}

enum fl_err sandbox_worker(const char *cache_dir, struct sandbox_report *report, char *detail,
                           size_t detail_len)
{
    const char *tmp = getenv("TMPDIR");
    const char *writable[] = {cache_dir, tmp && *tmp ? tmp : "/tmp", "/dev/null"};
    return sandbox_apply(writable, ARRAY_SIZE(writable), report, detail, detail_len);
}

void sandbox_describe(const struct sandbox_report *report, const char *cache_dir, char *out,
                      size_t out_len)
{
    const char *tmp = getenv("TMPDIR");
    if (report->landlock_active)
        snprintf(out, out_len,
                 "no_new_privs=%s landlock_abi=%d writes_only_under=\"%s\",\"%s\",/dev/null",
                 report->no_new_privs ? "on" : "off", report->landlock_abi, cache_dir,
                 tmp && *tmp ? tmp : "/tmp");
    else
        snprintf(out, out_len, "no_new_privs=%s landlock=unavailable (kernel without Landlock)",
                 report->no_new_privs ? "on" : "off");
}
