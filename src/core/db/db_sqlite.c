/*
 * db_sqlite — the embedded default store: one connection in WAL mode with
 * foreign keys on and synchronous=FULL (an acknowledged write survives a
 * crash of the Core), serialised by a mutex.
 *
 * A full disk: writes fail with FL_ERR_STORE_FULL (507), and a reserve file
 * kept beside the database (DB.reserve, 4 MiB) is removed at the first such
 * failure, so that deleting — which SQLite needs room to journal — still
 * works and frees space. The reserve comes back once there is room again.
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/db/db.h"
#include "core/db/spans.h"

enum { RESERVE_BYTES = 4 << 20, RESERVE_RETRY_S = 30 };

struct db_sqlite {
    struct db base;
    sqlite3 *conn;
    pthread_mutex_t lock;
    char reserve_path[4200];
    time_t reserve_missing_since; /* 0: the reserve is in place */
    /* prepared once: records are written many times a second */
    sqlite3_stmt *activation_insert, *activation_update;
    sqlite3_stmt *span_upsert; /* the same for their spans (core/db/spans.h) */
    /* The records in the store, counted as they are inserted and deleted, so that keeping the
     * newest --activation-max reads only what it deletes (finding the newest N was a walk of the
     * whole table every minute). -1: not counted yet. Once a delete was not counted (a tenant's
     * shorter retention) it is only a bound from above, and counted again when past the max. */
    int64_t activation_count, count_at_begin; /* count_at_begin: what a rollback restores */
    bool count_exact, exact_at_begin;
};

/* Puts the reserve back (or in place at start): false when there is no room for it. */
static bool sq_reserve_restore(struct db_sqlite *s)
{
    int fd = open(s->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && posix_fallocate(fd, 0, RESERVE_BYTES) == 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        unlink(s->reserve_path);
    s->reserve_missing_since = ok ? 0 : time(NULL);
    return ok;
}

/* The disk is full: the reserve goes, so that a delete has room. */
static void sq_reserve_release(struct db_sqlite *s)
{
    if (s->reserve_missing_since)
        return;
    unlink(s->reserve_path);
    s->reserve_missing_since = time(NULL);
    fl_log(FL_LOG_ERROR, "store_full", "detail=%s",
           "the disk holding the database is full; the reserve was released so that deleting "
           "works");
}

/* After a successful write: the reserve returns when there is room (tried now and then). */
static void sq_reserve_check(struct db_sqlite *s)
{
    if (s->reserve_missing_since && time(NULL) - s->reserve_missing_since >= RESERVE_RETRY_S)
        sq_reserve_restore(s);
}

#define SQ(db) ((struct db_sqlite *)(db))

/* SQLite's result code as ours: a full disk (or a file past its size limit) is 507. */
static enum fl_err sq_kind(struct db_sqlite *s, int code)
{
    if ((code & 0xff) == SQLITE_FULL || code == SQLITE_IOERR_WRITE || code == SQLITE_IOERR_FSYNC) {
        sq_reserve_release(s);
        return FL_ERR_STORE_FULL;
    }
    return FL_ERR_STORE;
}

static enum fl_err sq_fail(struct db_sqlite *s, char *detail, size_t detail_len)
{
    int code = sqlite3_extended_errcode(s->conn);
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE)
        return fl_fail(FL_ERR_EXISTS, detail, detail_len, "already exists");
    if (code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "module not found");
    return fl_fail(sq_kind(s, code), detail, detail_len, "sqlite: %s", sqlite3_errmsg(s->conn));
}

/* Runs statements with no results (BEGIN, COMMIT, schema). */
static enum fl_err sq_exec(struct db_sqlite *s, const char *sql, char *detail, size_t detail_len)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->conn, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        if (strncmp(sql, "COMMIT", 6) == 0)
            sq_reserve_check(s);
        return FL_OK;
    }
    enum fl_err err = fl_fail(sq_kind(s, sqlite3_extended_errcode(s->conn)), detail, detail_len,
                              "sqlite: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return err;
}

/* Binds text parameters 1..n ("" for NULL). */
static sqlite3_stmt *sq_prepare(struct db_sqlite *s, const char *sql, int n,
                                const char *const *args)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    for (int i = 0; i < n; i++)
        sqlite3_bind_text(st, i + 1, args[i] ? args[i] : "", -1, SQLITE_TRANSIENT);
    return st;
}

/* One statement that changes rows; FL_ERR_NOT_FOUND when it changed none and `must_change`. */
static enum fl_err sq_change(struct db_sqlite *s, sqlite3_stmt *st, bool must_change, char *detail,
                             size_t detail_len)
{
    if (!st)
        return sq_fail(s, detail, detail_len);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sq_fail(s, detail, detail_len);
    if (must_change && sqlite3_changes(s->conn) == 0)
        return fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "not found");
    return FL_OK;
}

static enum fl_err sq_begin(struct db_sqlite *s, char *detail, size_t detail_len)
{
    pthread_mutex_lock(&s->lock);
    s->count_at_begin = s->activation_count;
    s->exact_at_begin = s->count_exact;
    enum fl_err err = sq_exec(s, "BEGIN IMMEDIATE", detail, detail_len);
    if (err != FL_OK)
        pthread_mutex_unlock(&s->lock);
    return err;
}

/* Commits on FL_OK, else rolls back; returns `err` (or the commit's error). */
static enum fl_err sq_end(struct db_sqlite *s, enum fl_err err, char *detail, size_t detail_len)
{
    if (err == FL_OK)
        err = sq_exec(s, "COMMIT", detail, detail_len);
    if (err != FL_OK) {
        sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
        s->activation_count = s->count_at_begin; /* what the transaction counted is undone */
        s->count_exact = s->exact_at_begin;
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* One statement with text parameters in its own transaction (most writes). */
static enum fl_err sq_write(struct db *db, const char *sql, int n, const char *const *args,
                            bool must_change, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = sq_change(s, sq_prepare(s, sql, n, args), must_change, detail, detail_len);
    return sq_end(s, err, detail, detail_len);
}

static int sq_user_version(struct db_sqlite *s)
{
    sqlite3_stmt *st = sq_prepare(s, "PRAGMA user_version", 0, NULL);
    int version = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

/* SQLite's own text for migration `m`, when it has one. */
static const struct db_migration *sq_own_migration(const struct db_migration *m)
{
    for (int i = 0; i < db_sqlite_migration_count; i++)
        if (db_sqlite_migrations[i].version == m->version)
            return &db_sqlite_migrations[i];
    return m;
}

static enum fl_err sq_migrate(struct db *db, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    int version = sq_user_version(s);
    for (int i = 0; err == FL_OK && i < db_migration_count; i++) {
        if (db_migrations[i].version <= version)
            continue;
        const struct db_migration *m = sq_own_migration(&db_migrations[i]);
        char *sql = sqlite3_mprintf(m->sql, "BLOB");
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
        err = sq_exec(s, sql, detail, detail_len);
        if (err == FL_OK)
            err = sq_exec(s, pragma, detail, detail_len);
        sqlite3_free(sql);
    }
    err = sq_end(s, err, detail, detail_len);
    /* the pages a migration touched (a table rebuilt) would otherwise stay in the cache, and
     * their memory with the heap: a few hundred KiB of a Core's idle RSS */
    sqlite3_db_release_memory(s->conn);
    malloc_trim(0);
    return err;
}

static enum fl_err sq_ping(struct db *db, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    pthread_mutex_lock(&s->lock);
    enum fl_err err = sq_exec(s, "SELECT 1", detail, detail_len);
    pthread_mutex_unlock(&s->lock);
    return err;
}

static void sq_close(struct db *db)
{
    struct db_sqlite *s = SQ(db);
    sqlite3_finalize(s->activation_insert);
    sqlite3_finalize(s->activation_update);
    sqlite3_finalize(s->span_upsert);
    sqlite3_close_v2(s->conn);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- modules ---- */

static enum fl_err sq_module_rename(struct db *db, const char *name, const char *new_name,
                                    const char *now, char *detail, size_t detail_len)
{
    const char *args[] = {new_name, now, name};
    return sq_write(db, "UPDATE modules SET name = ?, updated_at = ? WHERE name = ?", 3, args, true,
                    detail, detail_len);
}

static enum fl_err sq_module_delete(struct db *db, const char *name, char *detail,
                                    size_t detail_len)
{
    const char *args[] = {name};
    return sq_write(db, "DELETE FROM modules WHERE name = ?", 1, args, true, detail, detail_len);
}

static const char *sq_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

/* ---- functions ---- */

static sqlite3_stmt *sq_bind_function(struct db_sqlite *s, const char *sql,
                                      const struct db_function *f)
{
    const char *args[] = {f->module, f->name};
    sqlite3_stmt *st = sq_prepare(s, sql, 2, args);
    if (!st)
        return NULL;
    sqlite3_bind_blob64(st, 3, f->code ? (const void *)f->code : "", f->size, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)f->size);
    sqlite3_bind_text(st, 5, f->hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, f->metadata, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, f->created_at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, f->updated_at, -1, SQLITE_TRANSIENT);
    if (f->events) /* else NULL: an update keeps what is there */
        sqlite3_bind_text(st, 10, f->events, -1, SQLITE_TRANSIENT);
    if (f->sinks)
        sqlite3_bind_text(st, 11, f->sinks, -1, SQLITE_TRANSIENT);
    if (f->owner && sqlite3_bind_parameter_index(st, "?12") > 0)
        sqlite3_bind_text(st, 12, f->owner, -1, SQLITE_TRANSIENT);
    return st;
}

static enum fl_err sq_function_create(struct db *db, const struct db_function *f, char *detail,
                                      size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = sq_change(s,
                    sq_bind_function(s,
                                     "INSERT INTO functions (module, name, code, size, hash, "
                                     "metadata, created_at, updated_at, events, sinks, owner) "
                                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(?10, '[]'), "
                                     "COALESCE(?11, '[]'), COALESCE(?12, ''))",
                                     f),
                    false, detail, detail_len);
    return sq_end(s, err, detail, detail_len);
}

static enum fl_err sq_function_update(struct db *db, const char *name, const struct db_function *f,
                                      char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    sqlite3_stmt *st = sq_bind_function(
        s,
        "UPDATE functions SET module = ?1, name = ?2, code = ?3, size = ?4, hash = ?5, "
        "metadata = ?6, updated_at = ?8, events = COALESCE(?10, events), "
        "sinks = COALESCE(?11, sinks) "
        "WHERE module = ?1 AND name = ?9",
        f);
    if (st)
        sqlite3_bind_text(st, 9, name, -1, SQLITE_TRANSIENT);
    err = sq_change(s, st, true, detail, detail_len);
    return sq_end(s, err, detail, detail_len);
}

static enum fl_err sq_function_delete(struct db *db, const char *module, const char *name,
                                      char *detail, size_t detail_len)
{
    const char *args[] = {module, name};
    return sq_write(db, "DELETE FROM functions WHERE module = ? AND name = ?", 2, args, true,
                    detail, detail_len);
}

static enum fl_err sq_function_list(struct db *db, db_function_cb cb, void *arg, char *detail,
                                    size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st =
        sq_prepare(s,
                   "SELECT module, name, size, hash, metadata, created_at, "
                   "updated_at, events, sinks, config, secrets, owner FROM functions "
                   "ORDER BY module, name",
                   0, NULL);
    int rc = SQLITE_ERROR;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_function row = {
            .module = sq_text(st, 0),
            .name = sq_text(st, 1),
            .size = (size_t)sqlite3_column_int64(st, 2),
            .hash = sq_text(st, 3),
            .metadata = sq_text(st, 4),
            .created_at = sq_text(st, 5),
            .updated_at = sq_text(st, 6),
            .events = sq_text(st, 7),
            .sinks = sq_text(st, 8),
            .config = sq_text(st, 9),
            .secrets = sq_text(st, 10),
            .owner = sq_text(st, 11),
        };
        cb(arg, &row);
    }
    sqlite3_finalize(st);
    enum fl_err err = rc == SQLITE_DONE ? FL_OK : sq_fail(s, detail, detail_len);
    pthread_mutex_unlock(&s->lock);
    return err;
}

static enum fl_err sq_function_code(struct db *db, const char *module, const char *name,
                                    struct fl_buf *code, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    pthread_mutex_lock(&s->lock);
    const char *args[] = {module, name};
    sqlite3_stmt *st =
        sq_prepare(s, "SELECT code FROM functions WHERE module = ? AND name = ?", 2, args);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    enum fl_err err = FL_OK;
    if (rc == SQLITE_ROW) {
        const void *bytes = sqlite3_column_blob(st, 0);
        if (!fl_buf_set(code, bytes ? bytes : "", (size_t)sqlite3_column_bytes(st, 0)))
            err = fl_fail(FL_ERR_NOMEM, detail, detail_len, "code too large");
    } else {
        err = rc == SQLITE_DONE ? fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "not found")
                                : sq_fail(s, detail, detail_len);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* ---- APP scripts ---- */

static enum fl_err sq_script_delete(struct db *db, const char *name, char *detail,
                                    size_t detail_len)
{
    const char *args[] = {name};
    return sq_write(db, "DELETE FROM app_scripts WHERE name = ?", 1, args, true, detail,
                    detail_len);
}

/* ---- portable statements (db.c) ---- */

/* Binds args[i] to "$<i+1>" wherever it appears (SQLite numbers "$N" by first appearance, not
 * by N); a parameter the statement does not name is skipped. */
static sqlite3_stmt *sq_prepare_numbered(struct db_sqlite *s, const char *sql, int n,
                                         const char *const *args)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "$%d", i + 1);
        int index = sqlite3_bind_parameter_index(st, name);
        if (index > 0)
            sqlite3_bind_text(st, index, args[i] ? args[i] : "", -1, SQLITE_TRANSIENT);
    }
    return st;
}

static enum fl_err sq_sql_write(struct db *db, const char *sql, int n, const char *const *args,
                                bool must_change, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = sq_change(s, sq_prepare_numbered(s, sql, n, args), must_change, detail, detail_len);
    /* records deleted here (a tenant's retention) are not counted out: from now on the count
     * is a bound from above */
    if (strstr(sql, "activations"))
        s->count_exact = false;
    return sq_end(s, err, detail, detail_len);
}

enum { SQ_READ_COLUMNS_MAX = 16 };

static enum fl_err sq_sql_read(struct db *db, const char *sql, int n, const char *const *args,
                               int columns, db_row_cb row, void *arg, char *detail,
                               size_t detail_len)
{
    if (columns > SQ_READ_COLUMNS_MAX)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len, "too many columns");
    struct db_sqlite *s = SQ(db);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = sq_prepare_numbered(s, sql, n, args);
    int rc = SQLITE_ERROR;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *values[SQ_READ_COLUMNS_MAX];
        for (int c = 0; c < columns; c++)
            values[c] = sq_text(st, c);
        row(arg, values);
    }
    sqlite3_finalize(st);
    enum fl_err err = rc == SQLITE_DONE ? FL_OK : sq_fail(s, detail, detail_len);
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* ---- activations ---- */

/* A batch's spans, in its transaction (SQLite only: a span is two ids per function per batch,
 * where an index would be an entry per record; spans.h). A span met again (an asynchronous
 * call's later record, alone in its batch) widens. */
static const char sq_span_upsert_sql[] =
    "INSERT INTO activation_spans (fname, last_id, module, first_id) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (fname, last_id, module) DO UPDATE SET first_id = MIN(first_id, "
    "excluded.first_id)";

/* A function's spans newest first, none wholly at or after the cursor ?3 ("": none). */
static const char sq_spans_sql[] =
    "SELECT first_id, last_id FROM activation_spans WHERE fname = ?1 AND (?2 = '' OR module = "
    "?2) AND (?3 = '' OR first_id < ?3) ORDER BY last_id DESC";

/* Spans older than every record cover none: pruned with the records. */
static const char sq_spans_prune_sql[] =
    "DELETE FROM activation_spans WHERE last_id < (SELECT COALESCE(MIN(id), '~') FROM "
    "activations)";

static sqlite3_stmt *sq_persistent(struct db_sqlite *s, sqlite3_stmt **st, const char *sql)
{
    if (!*st &&
        sqlite3_prepare_v3(s->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        *st = NULL;
    return *st;
}

static bool sq_span_write(void *arg, const struct span *span)
{
    struct db_sqlite *s = arg;
    sqlite3_stmt *st = sq_persistent(s, &s->span_upsert, sq_span_upsert_sql);
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, span->function, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, span->last_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, span->module, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, span->first_id, -1, SQLITE_STATIC);
    bool done = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* the span is the caller's: no pointer outlives it */
    return done;
}

/* A later record of a call already stored (the upsert's update, numbered as the fields). */
static const char sq_activation_update_sql[] =
    "UPDATE activations SET status = ?6, http_status = ?7, worker = ?8, duration_ms = ?11, "
    "attempts = ?12, result = ?13, result_truncated = ?14, error = ?15, logs = ?16, "
    "logs_truncated = ?17 WHERE id = ?1";

/* A record's fields as `st`'s parameters ?1..?N, numbers as the column's own type. */
static void sq_bind_record(sqlite3_stmt *st, const char *const args[DB_ACTIVATION_FIELDS])
{
    int n = sqlite3_bind_parameter_count(st);
    for (int k = 0; k < DB_ACTIVATION_FIELDS && k < n; k++) {
        if (db_activation_field_is_number(k)) /* no text conversion */
            sqlite3_bind_int64(st, k + 1, strtoll(args[k], NULL, 10));
        else
            sqlite3_bind_text(st, k + 1, args[k], -1, SQLITE_STATIC);
    }
}

/* Inserts the record, or updates it when its call has one already; false when SQLite failed
 * (its message is the connection's). */
static bool sq_record_write(struct db_sqlite *s, sqlite3_stmt *insert, sqlite3_stmt *update,
                            const char *const args[DB_ACTIVATION_FIELDS], bool *inserted)
{
    sq_bind_record(insert, args);
    bool done = sqlite3_step(insert) == SQLITE_DONE;
    *inserted = done && sqlite3_changes(s->conn) == 1;
    if (done && !*inserted) {
        sq_bind_record(update, args);
        done = sqlite3_step(update) == SQLITE_DONE;
    }
    return done;
}

/* The records, then their spans, in one transaction. */
static enum fl_err sq_activation_write(struct db *db, const struct db_activation *rows,
                                       size_t count, char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    sqlite3_stmt *insert = sq_persistent(s, &s->activation_insert, db_activation_insert_sql);
    sqlite3_stmt *update = sq_persistent(s, &s->activation_update, sq_activation_update_sql);
    if (!insert || !update)
        err = sq_fail(s, detail, detail_len);
    struct span_builder spans;
    span_builder_init(&spans, sq_span_write, s);
    int64_t inserted = 0;
    for (size_t i = 0; err == FL_OK && i < count; i++) {
        const char *args[DB_ACTIVATION_FIELDS];
        db_activation_args(&rows[i], args);
        bool new_record;
        if (!sq_record_write(s, insert, update, args, &new_record))
            err = sq_fail(s, detail, detail_len);
        sqlite3_reset(insert);
        sqlite3_reset(update);
        inserted += new_record;
        span_builder_add(&spans, args[1], args[2], args[0]); /* module, function, id */
    }
    if (insert) /* the rows are the caller's: no pointer outlives them */
        sqlite3_clear_bindings(insert);
    if (update)
        sqlite3_clear_bindings(update);
    if (!span_builder_finish(&spans) && err == FL_OK)
        err = sq_fail(s, detail, detail_len);
    if (s->activation_count >= 0) /* a rollback puts it back */
        s->activation_count += inserted;
    return sq_end(s, err, detail, detail_len);
}

/* Runs `st` (a records query) and hands each row to `add`; false when SQLite failed. */
static bool sq_rows(sqlite3_stmt *st, bool (*add)(void *arg, const struct db_activation *row),
                    void *arg)
{
    int rc;
    bool ok = true;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *columns[DB_ACTIVATION_COLUMNS];
        for (int i = 0; i < DB_ACTIVATION_COLUMNS; i++)
            columns[i] = sq_text(st, i);
        struct db_activation row = db_activation_from(columns);
        ok = add(arg, &row);
    }
    return ok && rc == SQLITE_DONE;
}

struct sq_hits {
    struct span_hits hits;
    bool out_of_memory;
};

static bool sq_add_hit(void *arg, const struct db_activation *row)
{
    struct sq_hits *h = arg;
    h->out_of_memory = !span_hits_add(&h->hits, row);
    return !h->out_of_memory;
}

/* A function's records: the records of its spans, newest span first, until no span can add
 * one (spans.h). The rows reach `cb` after the lock is released. */
static enum fl_err sq_activation_query_spans(struct db_sqlite *s,
                                             const struct db_activation_query *query,
                                             db_activation_cb cb, void *arg, char *detail,
                                             size_t detail_len)
{
    char limit[16];
    const char *args[9] = {0};                    /* $7 and $8, the range: bound per span */
    db_activation_query_args(query, limit, args); /* $1..$7 */
    args[8] = limit;                              /* the range query's limit is $9 */
    const char *span_args[] = {args[2], args[1], args[4]};
    struct sq_hits h;
    h.out_of_memory = !span_hits_init(&h.hits, query->limit);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *spans = sq_prepare(s, sq_spans_sql, 3, span_args);
    sqlite3_stmt *range = sq_prepare(s, db_activation_range_query_sql, 9, args);
    bool ok = spans && range && !h.out_of_memory;
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(spans)) == SQLITE_ROW) {
        const char *first = sq_text(spans, 0), *last = sq_text(spans, 1);
        if (!span_hits_wants(&h.hits, last)) {
            rc = SQLITE_DONE; /* no older span can add a record */
            break;
        }
        sqlite3_bind_text(range, 7, first, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(range, 8, last, -1, SQLITE_TRANSIENT);
        ok = sq_rows(range, sq_add_hit, &h);
        sqlite3_reset(range);
    }
    enum fl_err err = h.out_of_memory ? fl_fail(FL_ERR_NOMEM, detail, detail_len, "out of memory")
                      : ok && rc == SQLITE_DONE ? FL_OK
                                                : sq_fail(s, detail, detail_len);
    sqlite3_finalize(spans);
    sqlite3_finalize(range);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; err == FL_OK && i < h.hits.count; i++)
        cb(arg, &h.hits.rows[i]);
    span_hits_deinit(&h.hits);
    return err;
}

struct sq_pass {
    db_activation_cb cb;
    void *arg;
};

static bool sq_pass_row(void *arg, const struct db_activation *row)
{
    struct sq_pass *pass = arg;
    pass->cb(pass->arg, row);
    return true;
}

static enum fl_err sq_activation_query(struct db *db, const struct db_activation_query *query,
                                       db_activation_cb cb, void *arg, char *detail,
                                       size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    if (query->function && *query->function && !(query->id && *query->id))
        return sq_activation_query_spans(s, query, cb, arg, detail, detail_len);
    char limit[16];
    const char *args[DB_ACTIVATION_QUERY_ARGS];
    db_activation_query_args(query, limit, args);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = sq_prepare(s, db_activation_query_sql, DB_ACTIVATION_QUERY_ARGS, args);
    struct sq_pass pass = {cb, arg};
    enum fl_err err =
        st && sq_rows(st, sq_pass_row, &pass) ? FL_OK : sq_fail(s, detail, detail_len);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* The oldest $1 records: a walk of those alone, from the first id. */
static const char sq_prune_oldest_sql[] =
    "DELETE FROM activations WHERE id < (SELECT id FROM activations ORDER BY id LIMIT 1 OFFSET "
    "CAST($1 AS INTEGER))";

/* After a delete of records: they are counted out. */
static void sq_count_deleted(struct db_sqlite *s)
{
    if (s->activation_count >= 0)
        s->activation_count -= sqlite3_changes64(s->conn);
}

/* In a prune's transaction: all but the newest `keep` records go. The store is counted when its
 * count is not known, or is a bound past `keep`; then only the records past it are read. */
static enum fl_err sq_keep_newest(struct db_sqlite *s, uint64_t keep, char *detail,
                                  size_t detail_len)
{
    if (s->activation_count < 0 || (!s->count_exact && (uint64_t)s->activation_count > keep)) {
        sqlite3_stmt *st = sq_prepare(s, "SELECT COUNT(*) FROM activations", 0, NULL);
        int64_t count = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_finalize(st);
        if (count < 0)
            return sq_fail(s, detail, detail_len);
        s->activation_count = count;
        s->count_exact = true;
    }
    if ((uint64_t)s->activation_count <= keep)
        return FL_OK;
    char excess[32];
    snprintf(excess, sizeof(excess), "%lld", (long long)(s->activation_count - (int64_t)keep));
    const char *args[] = {excess};
    enum fl_err err =
        sq_change(s, sq_prepare(s, sq_prune_oldest_sql, 1, args), false, detail, detail_len);
    if (err == FL_OK)
        sq_count_deleted(s);
    return err;
}

static enum fl_err sq_activation_prune(struct db *db, int64_t before_ms, uint64_t keep,
                                       char *detail, size_t detail_len)
{
    struct db_sqlite *s = SQ(db);
    char id_floor[33], ms[24];
    db_activation_prune_args(before_ms, id_floor, ms);
    const char *age_args[] = {id_floor, ms};
    enum fl_err err = sq_begin(s, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = sq_change(s, sq_prepare(s, db_activation_prune_age_sql, 2, age_args), false, detail,
                    detail_len);
    if (err == FL_OK)
        sq_count_deleted(s);
    if (err == FL_OK && keep)
        err = sq_keep_newest(s, keep, detail, detail_len);
    if (err == FL_OK)
        err = sq_change(s, sq_prepare(s, sq_spans_prune_sql, 0, NULL), false, detail, detail_len);
    return sq_end(s, err, detail, detail_len);
}

static enum fl_err sq_activation_sinks(struct db *db, const char *id, const char *sinks,
                                       char *detail, size_t detail_len)
{
    const char *args[] = {sinks, id};
    return sq_write(db, db_activation_sinks_sql, 2, args, true, detail, detail_len);
}

static const struct db_ops sq_ops = {
    .migrate = sq_migrate,
    .ping = sq_ping,
    .close = sq_close,
    .sql_write = sq_sql_write,
    .sql_read = sq_sql_read,
    .module_rename = sq_module_rename,
    .module_delete = sq_module_delete,
    .function_create = sq_function_create,
    .function_update = sq_function_update,
    .function_delete = sq_function_delete,
    .function_list = sq_function_list,
    .function_code = sq_function_code,
    .script_delete = sq_script_delete,
    .activation_write = sq_activation_write,
    .activation_query = sq_activation_query,
    .activation_prune = sq_activation_prune,
    .activation_sinks = sq_activation_sinks,
};

/* SQLite's allocation statistics take a global mutex around every malloc: nothing here reads
 * them. Settable only before the library starts (else the call fails, and nothing changes). */
static void sq_configure_library(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

enum fl_err db_sqlite_open(const char *path, struct db **out, char *detail, size_t detail_len)
{
    static pthread_once_t library_configured = PTHREAD_ONCE_INIT;
    pthread_once(&library_configured, sq_configure_library);
    struct db_sqlite *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ERR_NOMEM;
    s->base.ops = &sq_ops;
    s->activation_count = -1; /* counted at the first prune */
    pthread_mutex_init(&s->lock, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->conn, flags, NULL) != SQLITE_OK) {
        enum fl_err err = fl_fail(FL_ERR_STORE, detail, detail_len, "cannot open %s: %s", path,
                                  s->conn ? sqlite3_errmsg(s->conn) : "out of memory");
        sq_close(&s->base);
        return err;
    }
    sqlite3_busy_timeout(s->conn, 5000);
    snprintf(s->reserve_path, sizeof(s->reserve_path), "%s.reserve", path);
    if (!sq_reserve_restore(s))
        fl_log(FL_LOG_ERROR, "store_full", "detail=%s",
               "no room for the 4 MiB reserve beside the database");
    /* 16 KiB pages (for a new file; an existing one keeps its own): a quarter of the writer's
     * per-page work for each activation record, measured in bench/README.md */
    enum fl_err err = sq_exec(s,
                              "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; "
                              "PRAGMA synchronous = FULL; "
                              "PRAGMA foreign_keys = ON;",
                              detail, detail_len);
    if (err != FL_OK) {
        sq_close(&s->base);
        return err;
    }
    *out = &s->base;
    return FL_OK;
}
