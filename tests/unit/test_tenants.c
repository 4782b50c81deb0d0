/*
 * Tests of the tenants' building blocks (docs/tenants.md): quotas (parsing, the rate's token
 * bucket, the concurrency count), sealed secrets (round trip, a changed byte, another key, the
 * key file), subjects' tokens over a real SQLite store (lookup among many, rotation with and
 * without grace, expiry, deletion, the last admin), the catalogue's rights and a function's
 * environment through renames, and the store's per-module activation queries and pruning;
 * also the activation store's upgrade and activation ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "core/activations.h"
#include "core/auth.h"
#include "core/catalogue.h"
#include "core/db/db.h"
#include "core/quota.h"
#include "core/secrets.h"
#include "scratch.h"

static struct db *open_store(const char *name)
{
    char url[256], detail[256];
    snprintf(url, sizeof(url), "sqlite:%s/%s.db", scratch_dir, name);
    struct db *db = NULL;
    assert_int_equal(db_open(url, &db, detail, sizeof(detail)), FL_OK);
    return db;
}

/* ---- quotas ---- */

static void test_quota_parse(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool ok;
    } rows[] = {
        {"{}", true},
        {"{\"rate\":10,\"functions\":null}", true},
        {"{\"functions\":0,\"code_mb\":5,\"concurrent\":2,\"keep_hours\":1}", true},
        {"{\"cpu\":1}", false},
        {"{\"rate\":-1}", false},
        {"{\"rate\":1.5}", false},
        {"{\"rate\":\"10\"}", false},
        {"{\"rate\":2000000000}", false},
        {"[1]", false},
        {"not json", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct quota_override o;
        char detail[200];
        enum fl_err err = quota_parse(rows[i].json, &o, detail, sizeof(detail));
        if ((err == FL_OK) != rows[i].ok)
            fail_msg("%s: %s", rows[i].json, err == FL_OK ? "accepted" : detail);
    }
    struct quota_override o;
    char detail[200];
    assert_int_equal(quota_parse("{\"rate\":10,\"functions\":null}", &o, detail, sizeof(detail)),
                     FL_OK);
    assert_true(o.rate == 10 && o.functions == -1 && o.code_mb == -1);
    char *json = quota_override_json(&o);
    assert_string_equal(json, "{\"rate\":10}");
    free(json);
}

static void test_quota_limits(void **state)
{
    (void)state;
    struct quota_limits defaults = {.rate = 0, .concurrent = 0, .functions = 7};
    struct quotas *q = quotas_new(&defaults);
    uint32_t retry = 0;
    for (int i = 0; i < 1000; i++) /* no limit by default */
        assert_int_equal(quota_admit(q, "a", true, &retry), QUOTA_OK);
    struct quota_override o = {-1, -1, 5, 2, -1};
    assert_true(quotas_set(q, "b", &o));
    assert_int_equal(quotas_limits(q, "b").functions, 7); /* the default where it set none */
    assert_int_equal(quotas_limits(q, "b").rate, 5);
    /* concurrency: two places, the third refused, one given back */
    assert_int_equal(quota_admit(q, "b", true, &retry), QUOTA_OK);
    assert_int_equal(quota_admit(q, "b", true, &retry), QUOTA_OK);
    assert_int_equal(quota_admit(q, "b", true, &retry), QUOTA_CONCURRENT);
    assert_int_equal(quota_running(q, "b"), 2);
    quota_release(q, "b");
    quota_release(q, "b");
    /* the rate: the bucket held 5, two are spent; three more, then refused with a retry */
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += quota_admit(q, "b", false, &retry) == QUOTA_OK;
    assert_int_equal(ok, 3);
    assert_int_equal(quota_admit(q, "b", false, &retry), QUOTA_RATE);
    assert_int_equal(retry, 1);
    usleep(450 * 1000); /* 5 a second: two more tokens by now */
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += quota_admit(q, "b", false, &retry) == QUOTA_OK;
    assert_true(ok == 2 || ok == 3);
    assert_int_equal(quota_admit(q, "a", true, &retry), QUOTA_OK); /* the others untouched */
    quotas_remove(q, "b");
    assert_int_equal(quotas_limits(q, "b").rate, 0);
    quotas_free(q);
}

/* ---- secrets ---- */

static void test_secrets_seal(void **state)
{
    (void)state;
    char path[256], detail[256];
    snprintf(path, sizeof(path), "%s/secret.key", scratch_dir);
    struct secrets_key key, again, other;
    assert_int_equal(secrets_key_load(path, &key, detail, sizeof(detail)), FL_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* made private */
    assert_int_equal(secrets_key_load(path, &again, detail, sizeof(detail)), FL_OK);
    assert_memory_equal(key.bytes, again.bytes, sizeof(key.bytes)); /* read back, not remade */
    const char plain[] = "{\"DB_PASSWORD\":\"hunter2\"}";
    char *sealed = secrets_seal(&key, plain, strlen(plain));
    char *sealed2 = secrets_seal(&key, plain, strlen(plain));
    assert_non_null(sealed);
    assert_null(strstr(sealed, "hunter2"));
    assert_string_not_equal(sealed, sealed2); /* a fresh nonce each time */
    size_t len = 0;
    char *opened = secrets_open(&key, sealed, &len);
    assert_non_null(opened);
    assert_string_equal(opened, plain);
    assert_int_equal(len, strlen(plain));
    free(opened);
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A'; /* one changed character */
    assert_null(secrets_open(&key, sealed, &len));
    memset(other.bytes, 7, sizeof(other.bytes));
    assert_null(secrets_open(&other, sealed2, &len)); /* another key */
    assert_null(secrets_open(&key, "v1:", &len));
    assert_null(secrets_open(&key, "v2:AAAA", &len));
    assert_null(secrets_open(&key, "v1:!!!!", &len));
    free(sealed);
    free(sealed2);
    chmod(path, 0644); /* readable by others: refused */
    assert_int_not_equal(secrets_key_load(path, &again, detail, sizeof(detail)), FL_OK);
    assert_non_null(strstr(detail, "readable by others"));
    FILE *f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_not_equal(secrets_key_load(path, &again, detail, sizeof(detail)), FL_OK);
    assert_non_null(strstr(detail, "64 hexadecimal"));
}

/* ---- subjects and tokens ---- */

static void test_tokens(void **state)
{
    (void)state;
    struct db *db = open_store("auth");
    char tokens[256], detail[256];
    snprintf(tokens, sizeof(tokens), "%s/tokens", scratch_dir);
    struct auth *auth = NULL;
    assert_int_equal(auth_open(db, tokens, &auth, detail, sizeof(detail)), FL_OK);
    /* many subjects: each token finds its own */
    enum { MANY = 300 };
    static char many[MANY][AUTH_TOKEN_CHARS + 1];
    for (int i = 0; i < MANY; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(
            auth_create_subject(auth, name, false, 0, "now", many[i], detail, sizeof(detail)),
            FL_OK);
    }
    for (int i = 0; i < MANY; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d", i);
        struct auth_identity who = auth_check(auth, many[i]);
        assert_int_equal(who.role, AUTH_USER);
        assert_string_equal(who.subject, name);
    }
    assert_int_equal(auth_check(auth, "0123456789abcdef0123456789abcdef0123456789abcdef").role,
                     AUTH_NONE);
    assert_int_equal(auth_check(auth, "").role, AUTH_NONE);
    assert_int_equal(auth_check(auth, NULL).role, AUTH_NONE);
    /* rotation: at once, then with a grace */
    char fresh[AUTH_TOKEN_CHARS + 1], fresher[AUTH_TOKEN_CHARS + 1];
    assert_int_equal(auth_rotate(auth, "s1", 0, 0, fresh, detail, sizeof(detail)), FL_OK);
    assert_int_equal(auth_check(auth, many[1]).role, AUTH_NONE);
    assert_int_equal(auth_check(auth, fresh).role, AUTH_USER);
    assert_int_equal(auth_rotate(auth, "s1", 1, 0, fresher, detail, sizeof(detail)), FL_OK);
    assert_int_equal(auth_check(auth, fresh).role, AUTH_USER); /* in its grace */
    assert_int_equal(auth_check(auth, fresher).role, AUTH_USER);
    usleep(1100 * 1000);
    assert_int_equal(auth_check(auth, fresh).role, AUTH_NONE);
    assert_int_equal(auth_rotate(auth, "nobody", 0, 0, fresh, detail, sizeof(detail)),
                     FL_ERR_NOT_FOUND);
    /* expiry */
    char soon[AUTH_TOKEN_CHARS + 1];
    assert_int_equal(auth_create_subject(auth, "brief", false, fl_wall_ms() + 300, "now", soon,
                                         detail, sizeof(detail)),
                     FL_OK);
    assert_int_equal(auth_check(auth, soon).role, AUTH_USER);
    usleep(400 * 1000);
    assert_int_equal(auth_check(auth, soon).role, AUTH_NONE);
    /* deletion, and the last admin */
    assert_int_equal(auth_delete_subject(auth, "s2", detail, sizeof(detail)), FL_OK);
    assert_int_equal(auth_check(auth, many[2]).role, AUTH_NONE);
    assert_int_equal(auth_check(auth, many[3]).role, AUTH_USER); /* the others unchanged */
    assert_int_equal(auth_delete_subject(auth, "admin", detail, sizeof(detail)),
                     FL_ERR_FORBIDDEN_OP);
    assert_int_equal(auth_create_subject(auth, "s3", false, 0, "now", soon, detail, sizeof(detail)),
                     FL_ERR_EXISTS);
    /* all of it survives a restart */
    auth_free(auth);
    assert_int_equal(auth_open(db, tokens, &auth, detail, sizeof(detail)), FL_OK);
    assert_int_equal(auth_check(auth, fresher).role, AUTH_USER);
    assert_int_equal(auth_check(auth, fresh).role, AUTH_NONE);
    assert_int_equal(auth_check(auth, many[2]).role, AUTH_NONE);
    assert_string_equal(auth_check(auth, many[MANY - 1]).subject, "s299");
    struct auth_subject_info info;
    assert_true(auth_subject_info(auth, "s1", &info));
    assert_false(info.admin);
    free(info.quota);
    auth_free(auth);
    db_close(db);
}

/* ---- the catalogue: rights and environments ---- */

static void add_function(struct catalogue *cat, const char *module, const char *name,
                         const char *owner)
{
    struct fn_def def = {0};
    snprintf(def.module, sizeof(def.module), "%s", module);
    snprintf(def.name, sizeof(def.name), "%s", name);
    snprintf(def.owner, sizeof(def.owner), "%s", owner);
    def.size = 1000;
    catalogue_put(cat, &def, NULL);
}

static void test_catalogue_rights(void **state)
{
    (void)state;
    struct catalogue *cat = catalogue_new();
    catalogue_add_module(cat, "_", "");
    catalogue_add_module(cat, "am", "alice");
    add_function(cat, "am", "f", "alice");
    add_function(cat, "_", "g", "bob");
    assert_int_equal(catalogue_rights(cat, "_", "bob", false), RIGHTS_ALL); /* shared */
    assert_int_equal(catalogue_rights(cat, "am", "alice", false), RIGHTS_ALL);
    assert_int_equal(catalogue_rights(cat, "am", "bob", false), 0);
    assert_int_equal(catalogue_rights(cat, "am", "root", true), RIGHTS_ALL);
    assert_int_equal(catalogue_rights(cat, "nowhere", "alice", true), 0);
    struct module_access access[] = {{"bob", RIGHT_READ | RIGHT_OWN}, {"*", RIGHT_INVOKE}};
    assert_true(catalogue_set_access(cat, "am", access, 2));
    /* an access list never grants ownership; "*" is everyone */
    assert_int_equal(catalogue_rights(cat, "am", "bob", false), RIGHT_READ | RIGHT_INVOKE);
    assert_int_equal(catalogue_rights(cat, "am", "carol", false), RIGHT_INVOKE);
    size_t count;
    char **names = catalogue_modules(cat, "carol", false, RIGHT_READ, &count);
    assert_int_equal(count, 1); /* _ only: carol may not read am */
    assert_string_equal(names[0], "_");
    free(names[0]);
    free(names);
    /* use is counted by creator, wherever the function is */
    size_t functions;
    uint64_t bytes;
    catalogue_owned(cat, "bob", &functions, &bytes);
    assert_true(functions == 1 && bytes == 1000);
    /* the environment follows renames of the function and of its module */
    assert_true(catalogue_set_env(cat, "am", "f", "A=1\0", 4, "{\"config\":{\"A\":\"1\"}}"));
    struct fn_def def;
    unsigned rights;
    assert_true(catalogue_get_as(cat, "am", "f", "bob", false, &def, &rights));
    assert_true(def.has_env);
    struct fn_def renamed = def;
    snprintf(renamed.name, sizeof(renamed.name), "f2");
    renamed.has_env = false; /* as an upload's definition would say */
    catalogue_put(cat, &renamed, "f");
    catalogue_rename_module(cat, "am", "bm");
    struct fl_buf env;
    fl_buf_init(&env, 1 << 20);
    assert_true(catalogue_get(cat, "bm", "f2", &def));
    assert_true(def.has_env);
    assert_true(catalogue_env(cat, "bm", "f2", &env));
    assert_int_equal(env.len, 4);
    assert_memory_equal(env.data, "A=1\0", 4);
    char *shown = catalogue_env_shown(cat, "bm", "f2");
    assert_string_equal(shown, "{\"config\":{\"A\":\"1\"}}");
    free(shown);
    assert_int_equal(catalogue_rights(cat, "bm", "carol", false), RIGHT_INVOKE); /* kept */
    assert_true(catalogue_set_env(cat, "bm", "f2", NULL, 0, NULL));
    assert_true(catalogue_get(cat, "bm", "f2", &def));
    assert_false(def.has_env);
    fl_buf_deinit(&env);
    catalogue_free(cat);
}

/* ---- the store: activations by module ---- */

static void put_record(struct db *db, const char *id, const char *module, int64_t start_ms)
{
    char start[24], detail[256];
    snprintf(start, sizeof(start), "%lld", (long long)start_ms);
    struct db_activation row = {.id = id,
                                .module = module,
                                .function = "f",
                                .hash = "h",
                                .trigger = "http",
                                .status = "success",
                                .http_status = "200",
                                .worker = "w",
                                .start = "t",
                                .start_ms = start,
                                .duration_ms = "1",
                                .attempts = "1",
                                .result_truncated = "0",
                                .logs = "[]",
                                .logs_truncated = "0"};
    assert_int_equal(db->ops->activation_write(db, &row, 1, detail, sizeof(detail)), FL_OK);
}

static void count_row(void *arg, const struct db_activation *row)
{
    (void)row;
    (*(int *)arg)++;
}

/* Keeps the id, status and sinks of the one row asked for (copies, freed by free_row). */
static void keep_row(void *arg, const struct db_activation *row)
{
    struct db_activation *kept = arg;
    kept->id = strdup(row->id);
    kept->status = strdup(row->status);
    kept->sinks = strdup(row->sinks);
}

static void free_row(struct db_activation *row)
{
    free((char *)row->id);
    free((char *)row->status);
    free((char *)row->sinks);
}

static int count_records(struct db *db, const char *modules)
{
    int n = 0;
    char detail[256];
    struct db_activation_query q = {.modules = modules, .limit = 1000};
    assert_int_equal(db->ops->activation_query(db, &q, count_row, &n, detail, sizeof(detail)),
                     FL_OK);
    return n;
}

static void test_store_by_module(void **state)
{
    (void)state;
    struct db *db = open_store("records");
    /* ids: 12 hex digits of ms, then 20 more; "a_b" checks that _ is no wildcard */
    put_record(db, "00000000000100000000000000000001", "am", 1);
    put_record(db, "00000000000200000000000000000002", "a_b", 2);
    put_record(db, "00000000000300000000000000000003", "axb", 3);
    put_record(db, "00000000000400000000000000000004", "_", 4);
    put_record(db, "00000000100000000000000000000005", "am", 0x100000);
    assert_int_equal(count_records(db, ""), 5);
    assert_int_equal(count_records(db, ","), 0);
    assert_int_equal(count_records(db, "am"), 2);
    assert_int_equal(count_records(db, "a_b"), 1);
    assert_int_equal(count_records(db, "_"), 1);
    assert_int_equal(count_records(db, "_,axb"), 2);
    char detail[256];
    /* prune am's and a_b's records from before 10 ms: axb, _ and the later am stay */
    assert_int_equal(db_activation_prune_modules(db, "am,a_b", 10, detail, sizeof(detail)), FL_OK);
    assert_int_equal(count_records(db, ""), 3);
    assert_int_equal(count_records(db, "am"), 1);
    assert_int_equal(count_records(db, "axb"), 1);
    db_close(db);
}

/* A store made before migration 9 (activations in a rowid table) keeps its records, their
 * sinks and their order, and is written again after the upgrade (migrations 9 and 10). */
static void test_store_upgrade(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/v8.db", scratch_dir);
    sqlite3 *old = NULL;
    assert_int_equal(sqlite3_open(path, &old), SQLITE_OK);
    for (int i = 0; i < db_migration_count && db_migrations[i].version <= 8; i++) {
        char *sql = sqlite3_mprintf(db_migrations[i].sql, "BLOB");
        assert_int_equal(sqlite3_exec(old, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(sql);
    }
    assert_int_equal(
        sqlite3_exec(old,
                     "PRAGMA user_version = 8;"
                     "INSERT INTO activations (id, module, fname, hash, trigger_kind,"
                     " status, http_status, worker, start_text, start_ms, duration_ms,"
                     " attempts, result, result_truncated, error, logs, logs_truncated,"
                     " sinks) VALUES"
                     " ('00000000000100000000000000000001', 'm', 'f', 'h', 'http',"
                     " 'success', 200, 'w', 't', 1, 1, 1, '{}', 0, '', '[]', 0, '[1]'),"
                     " ('00000000000200000000000000000002', 'm', 'f', 'h', 'http',"
                     " 'trap', 500, 'w', 't', 2, 1, 1, '', 0, 'x', '[]', 0, '');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(old);

    struct db *db = open_store("v8");
    put_record(db, "00000000000300000000000000000003", "m", 3);
    assert_int_equal(count_records(db, ""), 3);
    char detail[256];
    struct db_activation_query q = {.id = "00000000000100000000000000000001", .limit = 1};
    struct db_activation first = {0};
    assert_int_equal(db->ops->activation_query(db, &q, keep_row, &first, detail, sizeof(detail)),
                     FL_OK);
    assert_string_equal(first.status, "success");
    assert_string_equal(first.sinks, "[1]");
    free_row(&first);
    /* the function filter finds the records from before (a span each) and the new one */
    int by_function = 0;
    struct db_activation_query f = {.module = "m", .function = "f", .limit = 10};
    assert_int_equal(
        db->ops->activation_query(db, &f, count_row, &by_function, detail, sizeof(detail)), FL_OK);
    assert_int_equal(by_function, 3);
    db_close(db);

    assert_int_equal(sqlite3_open(path, &old), SQLITE_OK); /* clustered by id now */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(old,
                                        "SELECT sql FROM sqlite_master WHERE name = 'activations'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), "WITHOUT ROWID"));
    sqlite3_finalize(st);
    /* and without the index by function that no SQLite query read, but with a span for each
     * record from before (migration 10), and the new one's */
    assert_int_equal(sqlite3_prepare_v2(old,
                                        "SELECT (SELECT count(*) FROM sqlite_master WHERE type = "
                                        "'index' AND tbl_name = 'activations' AND sql IS NOT "
                                        "NULL), (SELECT count(*) FROM activation_spans)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    assert_int_equal(sqlite3_column_int(st, 1), 3);
    sqlite3_finalize(st);
    sqlite3_close(old);
}

/* Ids made in a row, in another thread, in a forked child and in its parent after the fork are
 * all different, well formed, and start with the time they were made at (ids come from a pool
 * of random bytes, which fork copies). */
enum { IDS_EACH = 1000 };

static void make_ids(char (*ids)[ACTIVATION_ID_CHARS + 1], int64_t ms)
{
    for (int i = 0; i < IDS_EACH; i++)
        assert_true(activation_new_id(ids[i], ms));
}

static void *make_ids_thread(void *arg)
{
    make_ids(arg, 0x123456789abcLL);
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_activation_ids(void **state)
{
    (void)state;
    static char ids[4 * IDS_EACH][ACTIVATION_ID_CHARS + 1];
    make_ids(ids, 0x123456789abcLL);
    pthread_t other;
    assert_int_equal(pthread_create(&other, NULL, make_ids_thread, ids + IDS_EACH), 0);
    pthread_join(other, NULL);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* the parent's pool was copied: the child must not reuse it */
        char mine[IDS_EACH][ACTIVATION_ID_CHARS + 1];
        make_ids(mine, 0x123456789abcLL);
        _exit(write(pipe_fds[1], mine, sizeof(mine)) == (ssize_t)sizeof(mine) ? 0 : 1);
    }
    close(pipe_fds[1]);
    make_ids(ids + 3 * IDS_EACH, 0x123456789abcLL); /* where the child's pool copy would go on */
    size_t got = 0, want = IDS_EACH * sizeof(ids[0]);
    for (ssize_t n = 1; n > 0 && got<want; got += n> 0 ? (size_t)n : 0)
        n = read(pipe_fds[0], (char *)(ids + 2 * IDS_EACH) + got, want - got);
    close(pipe_fds[0]);
    int status;
    waitpid(child, &status, 0);
    assert_int_equal(got, want);
    for (int i = 0; i < 4 * IDS_EACH; i++) {
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), ACTIVATION_ID_CHARS);
        assert_memory_equal(ids[i], "123456789abc", 12);
    }
    qsort(ids, 4 * IDS_EACH, sizeof(ids[0]), compare_ids);
    for (int i = 1; i < 4 * IDS_EACH; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quota_parse),      cmocka_unit_test(test_quota_limits),
        cmocka_unit_test(test_secrets_seal),     cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_catalogue_rights), cmocka_unit_test(test_store_by_module),
        cmocka_unit_test(test_store_upgrade),    cmocka_unit_test(test_activation_ids),
    };
    return cmocka_run_group_tests(tests, scratch_make, scratch_remove);
}
