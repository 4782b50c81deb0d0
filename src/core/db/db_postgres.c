/*
 * db_postgres — the store for clusters: one libpq connection, serialised by
 * a mutex, reset once when the server went away. Parameters always travel
 * separately from the SQL (PQexecParams), code as binary bytea.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db/db.h"

struct db_pg {
    struct db base;
    PGconn *conn;
    pthread_mutex_t lock;
};

#define PG(db) ((struct db_pg *)(db))

/* A server that cannot be reached (or is shutting down) is not the same failure as a full disk,
 * nor as anything else: 503, 507, 500. */
static enum fl_err pg_failure_kind(struct db_pg *p, const char *state)
{
    if (PQstatus(p->conn) == CONNECTION_BAD || (state && strncmp(state, "08", 2) == 0) ||
        (state && strncmp(state, "57P0", 4) == 0))
        return FL_ERR_STORE_DOWN;
    if (state && strcmp(state, "53100") == 0) /* disk_full */
        return FL_ERR_STORE_FULL;
    return FL_ERR_STORE;
}

static enum fl_err pg_fail(struct db_pg *p, PGresult *res, char *detail, size_t detail_len)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    enum fl_err err;
    if (state && strcmp(state, "23505") == 0)
        err = fl_fail(FL_ERR_EXISTS, detail, detail_len, "already exists");
    else if (state && strcmp(state, "23503") == 0)
        err = fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "module not found");
    else
        err = fl_fail(pg_failure_kind(p, state), detail, detail_len, "postgres: %.200s",
                      res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
    return err;
}

/* Lengths and formats for parameters: text unless a length is given (binary). */
struct pg_params {
    int n;
    const char *values[DB_ACTIVATION_FIELDS];
    int lengths[DB_ACTIVATION_FIELDS];
    int formats[DB_ACTIVATION_FIELDS];
};

static void pg_text(struct pg_params *pp, const char *value)
{
    pp->values[pp->n] = value;
    pp->lengths[pp->n] = 0;
    pp->formats[pp->n++] = 0;
}

static void pg_binary(struct pg_params *pp, const void *value, size_t len)
{
    pp->values[pp->n] = value;
    pp->lengths[pp->n] = (int)len;
    pp->formats[pp->n++] = 1;
}

static PGresult *pg_run(struct db_pg *p, const char *sql, const struct pg_params *pp,
                        int result_format)
{
    PGresult *res = PQexecParams(p->conn, sql, pp ? pp->n : 0, NULL, pp ? pp->values : NULL,
                                 pp ? pp->lengths : NULL, pp ? pp->formats : NULL, result_format);
    /* the server restarted: reconnect and retry, but only a read (a write belongs to a
     * transaction that died with the connection: it fails, and the client retries it) */
    if (PQstatus(p->conn) == CONNECTION_BAD && strncmp(sql, "SELECT", 6) == 0) {
        PQclear(res);
        PQreset(p->conn);
        res = PQexecParams(p->conn, sql, pp ? pp->n : 0, NULL, pp ? pp->values : NULL,
                           pp ? pp->lengths : NULL, pp ? pp->formats : NULL, result_format);
    }
    return res;
}

/* Parameterless SQL, possibly several statements (the simple query protocol). */
static enum fl_err pg_simple(struct db_pg *p, const char *sql, char *detail, size_t detail_len)
{
    PGresult *res = PQexec(p->conn, sql);
    /* the server restarted: reconnect and retry what starts a transaction or only reads */
    if (PQstatus(p->conn) == CONNECTION_BAD &&
        (strcmp(sql, "BEGIN") == 0 || strncmp(sql, "SELECT", 6) == 0)) {
        PQclear(res);
        PQreset(p->conn);
        res = PQexec(p->conn, sql);
    }
    enum fl_err err =
        PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
            ? FL_OK
            : pg_fail(p, res, detail, detail_len);
    PQclear(res);
    return err;
}

static enum fl_err pg_begin(struct db_pg *p, char *detail, size_t detail_len)
{
    pthread_mutex_lock(&p->lock);
    enum fl_err err = pg_simple(p, "BEGIN", detail, detail_len);
    if (err != FL_OK)
        pthread_mutex_unlock(&p->lock);
    return err;
}

static enum fl_err pg_end(struct db_pg *p, enum fl_err err, char *detail, size_t detail_len)
{
    if (err == FL_OK)
        err = pg_simple(p, "COMMIT", detail, detail_len);
    if (err != FL_OK)
        PQclear(PQexec(p->conn, "ROLLBACK"));
    pthread_mutex_unlock(&p->lock);
    return err;
}

/* One changing statement inside a transaction; FL_ERR_NOT_FOUND when it changed nothing. */
static enum fl_err pg_change(struct db_pg *p, const char *sql, const struct pg_params *pp,
                             bool must_change, char *detail, size_t detail_len)
{
    PGresult *res = pg_run(p, sql, pp, 0);
    enum fl_err err = FL_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        err = pg_fail(p, res, detail, detail_len);
    else if (must_change && strcmp(PQcmdTuples(res), "0") == 0)
        err = fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "not found");
    PQclear(res);
    return err;
}

/* A write in its own transaction. */
static enum fl_err pg_write(struct db *db, const char *sql, const struct pg_params *pp,
                            bool must_change, char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    enum fl_err err = pg_begin(p, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = pg_change(p, sql, pp, must_change, detail, detail_len);
    return pg_end(p, err, detail, detail_len);
}

/* A read: calls row_cb for every row of the text-format result. */
static enum fl_err pg_read(struct db *db, const char *sql, const struct pg_params *pp,
                           void (*row_cb)(PGresult *res, int row, void *arg), void *arg,
                           char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    pthread_mutex_lock(&p->lock);
    PGresult *res = pg_run(p, sql, pp, 0);
    enum fl_err err = FL_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        err = pg_fail(p, res, detail, detail_len);
    for (int i = 0; err == FL_OK && i < PQntuples(res); i++)
        row_cb(res, i, arg);
    PQclear(res);
    pthread_mutex_unlock(&p->lock);
    return err;
}

static enum fl_err pg_migrate(struct db *db, char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    enum fl_err err = pg_begin(p, detail, detail_len);
    if (err != FL_OK)
        return err;
    /* one migrator at a time, even with several Cores starting together */
    err = pg_simple(p, "SELECT pg_advisory_xact_lock(7307)", detail, detail_len);
    if (err == FL_OK)
        err = pg_simple(p, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                        detail, detail_len);
    int version = 0;
    PGresult *res =
        err == FL_OK ? pg_run(p, "SELECT max(version) FROM schema_version", NULL, 0) : NULL;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
        version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int i = 0; err == FL_OK && i < db_migration_count; i++) {
        if (db_migrations[i].version <= version)
            continue;
        char *sql = NULL, number[16];
        if (asprintf(&sql, db_migrations[i].sql, "BYTEA") < 0)
            err = FL_ERR_NOMEM;
        if (err == FL_OK && sql[0]) /* "": a migration only SQLite needs */
            err = pg_simple(p, sql, detail, detail_len);
        free(sql);
        snprintf(number, sizeof(number), "%d", db_migrations[i].version);
        struct pg_params pp = {0};
        pg_text(&pp, number);
        if (err == FL_OK)
            err = pg_change(p, "INSERT INTO schema_version VALUES ($1::integer)", &pp, false,
                            detail, detail_len);
    }
    return pg_end(p, err, detail, detail_len);
}

static enum fl_err pg_ping(struct db *db, char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    pthread_mutex_lock(&p->lock);
    enum fl_err err = pg_simple(p, "SELECT 1", detail, detail_len);
    pthread_mutex_unlock(&p->lock);
    return err;
}

static void pg_close(struct db *db)
{
    struct db_pg *p = PG(db);
    PQfinish(p->conn);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- modules ---- */

static enum fl_err pg_module_rename(struct db *db, const char *name, const char *new_name,
                                    const char *now, char *detail, size_t detail_len)
{
    struct pg_params pp = {0};
    pg_text(&pp, new_name);
    pg_text(&pp, now);
    pg_text(&pp, name);
    return pg_write(db, "UPDATE modules SET name = $1, updated_at = $2 WHERE name = $3", &pp, true,
                    detail, detail_len);
}

static enum fl_err pg_module_delete(struct db *db, const char *name, char *detail,
                                    size_t detail_len)
{
    struct pg_params pp = {0};
    pg_text(&pp, name);
    return pg_write(db, "DELETE FROM modules WHERE name = $1", &pp, true, detail, detail_len);
}

/* ---- functions ---- */

static void pg_function_params(struct pg_params *pp, const struct db_function *f, char *size)
{
    snprintf(size, 24, "%zu", f->size);
    pg_text(pp, f->module);
    pg_text(pp, f->name);
    pg_binary(pp, f->code ? (const void *)f->code : "", f->size);
    pg_text(pp, size);
    pg_text(pp, f->hash);
    pg_text(pp, f->metadata);
    pg_text(pp, f->created_at);
    pg_text(pp, f->updated_at);
}

static enum fl_err pg_function_create(struct db *db, const struct db_function *f, char *detail,
                                      size_t detail_len)
{
    struct pg_params pp = {0};
    char size[24];
    pg_function_params(&pp, f, size);
    pg_text(&pp, f->events); /* NULL: none */
    pg_text(&pp, f->sinks);
    pg_text(&pp, f->owner ? f->owner : "");
    return pg_write(db,
                    "INSERT INTO functions (module, name, code, size, hash, metadata, created_at, "
                    "updated_at, events, sinks, owner) VALUES ($1, $2, $3, $4::bigint, $5, $6, $7, "
                    "$8, COALESCE($9::text, '[]'), COALESCE($10::text, '[]'), $11)",
                    &pp, false, detail, detail_len);
}

static enum fl_err pg_function_update(struct db *db, const char *name, const struct db_function *f,
                                      char *detail, size_t detail_len)
{
    struct pg_params pp = {0};
    char size[24];
    pg_function_params(&pp, f, size);
    pg_text(&pp, name);
    pg_text(&pp, f->events); /* NULL: kept */
    pg_text(&pp, f->sinks);
    return pg_write(db,
                    "UPDATE functions SET name = $2, code = $3, size = $4::bigint, hash = $5, "
                    "metadata = $6, updated_at = $8, events = COALESCE($10::text, events), "
                    "sinks = COALESCE($11::text, sinks) "
                    "WHERE module = $1 AND name = $9 AND $7::text IS NOT NULL",
                    &pp, true, detail, detail_len);
}

static enum fl_err pg_function_delete(struct db *db, const char *module, const char *name,
                                      char *detail, size_t detail_len)
{
    struct pg_params pp = {0};
    pg_text(&pp, module);
    pg_text(&pp, name);
    return pg_write(db, "DELETE FROM functions WHERE module = $1 AND name = $2", &pp, true, detail,
                    detail_len);
}

struct pg_function_arg {
    db_function_cb cb;
    void *arg;
};

static void pg_function_row(PGresult *res, int row, void *arg)
{
    struct pg_function_arg *a = arg;
    struct db_function f = {
        .module = PQgetvalue(res, row, 0),
        .name = PQgetvalue(res, row, 1),
        .size = (size_t)strtoull(PQgetvalue(res, row, 2), NULL, 10),
        .hash = PQgetvalue(res, row, 3),
        .metadata = PQgetvalue(res, row, 4),
        .created_at = PQgetvalue(res, row, 5),
        .updated_at = PQgetvalue(res, row, 6),
        .events = PQgetvalue(res, row, 7),
        .sinks = PQgetvalue(res, row, 8),
        .config = PQgetvalue(res, row, 9),
        .secrets = PQgetvalue(res, row, 10),
        .owner = PQgetvalue(res, row, 11),
    };
    a->cb(a->arg, &f);
}

static enum fl_err pg_function_list(struct db *db, db_function_cb cb, void *arg, char *detail,
                                    size_t detail_len)
{
    struct pg_function_arg a = {cb, arg};
    return pg_read(
        db,
        "SELECT module, name, size, hash, metadata, created_at, updated_at, events, sinks, "
        "config, secrets, owner "
        "FROM functions ORDER BY module, name",
        NULL, pg_function_row, &a, detail, detail_len);
}

static enum fl_err pg_function_code(struct db *db, const char *module, const char *name,
                                    struct fl_buf *code, char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    struct pg_params pp = {0};
    pg_text(&pp, module);
    pg_text(&pp, name);
    pthread_mutex_lock(&p->lock);
    PGresult *res = pg_run(p, "SELECT code FROM functions WHERE module = $1 AND name = $2", &pp, 1);
    enum fl_err err = FL_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        err = pg_fail(p, res, detail, detail_len);
    else if (PQntuples(res) == 0)
        err = fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "not found");
    else if (!fl_buf_set(code, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)))
        err = fl_fail(FL_ERR_NOMEM, detail, detail_len, "code too large");
    PQclear(res);
    pthread_mutex_unlock(&p->lock);
    return err;
}

/* ---- APP scripts ---- */

static enum fl_err pg_script_delete(struct db *db, const char *name, char *detail,
                                    size_t detail_len)
{
    struct pg_params pp = {0};
    pg_text(&pp, name);
    return pg_write(db, "DELETE FROM app_scripts WHERE name = $1", &pp, true, detail, detail_len);
}

/* ---- portable statements (db.c) ---- */

enum { PG_PARAMS_MAX = DB_ACTIVATION_FIELDS };

static bool pg_params_of(struct pg_params *pp, int n, const char *const *args)
{
    if (n > PG_PARAMS_MAX)
        return false;
    for (int i = 0; i < n; i++)
        pg_text(pp, args[i] ? args[i] : "");
    return true;
}

static enum fl_err pg_sql_write(struct db *db, const char *sql, int n, const char *const *args,
                                bool must_change, char *detail, size_t detail_len)
{
    struct pg_params pp = {0};
    if (!pg_params_of(&pp, n, args))
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len, "too many parameters");
    return pg_write(db, sql, &pp, must_change, detail, detail_len);
}

struct pg_rows_arg {
    int columns;
    db_row_cb row;
    void *arg;
};

static void pg_generic_row(PGresult *res, int row, void *arg)
{
    struct pg_rows_arg *a = arg;
    const char *values[PG_PARAMS_MAX];
    for (int c = 0; c < a->columns; c++)
        values[c] = PQgetvalue(res, row, c);
    a->row(a->arg, values);
}

static enum fl_err pg_sql_read(struct db *db, const char *sql, int n, const char *const *args,
                               int columns, db_row_cb row, void *arg, char *detail,
                               size_t detail_len)
{
    struct pg_params pp = {0};
    if (!pg_params_of(&pp, n, args) || columns > PG_PARAMS_MAX)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len, "too many parameters");
    struct pg_rows_arg a = {columns, row, arg};
    return pg_read(db, sql, &pp, pg_generic_row, &a, detail, detail_len);
}

/* ---- activations ---- */

static enum fl_err pg_activation_write(struct db *db, const struct db_activation *rows,
                                       size_t count, char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    enum fl_err err = pg_begin(p, detail, detail_len);
    if (err != FL_OK)
        return err;
    for (size_t i = 0; err == FL_OK && i < count; i++) {
        const char *args[DB_ACTIVATION_FIELDS];
        struct pg_params pp = {0};
        db_activation_args(&rows[i], args);
        for (int k = 0; k < DB_ACTIVATION_FIELDS; k++)
            pg_text(&pp, args[k]);
        err = pg_change(p, db_activation_upsert_sql, &pp, false, detail, detail_len);
    }
    return pg_end(p, err, detail, detail_len);
}

struct pg_activation_arg {
    db_activation_cb cb;
    void *arg;
};

static void pg_activation_row(PGresult *res, int row, void *arg)
{
    struct pg_activation_arg *a = arg;
    const char *columns[DB_ACTIVATION_COLUMNS];
    for (int i = 0; i < DB_ACTIVATION_COLUMNS; i++)
        columns[i] = PQgetvalue(res, row, i);
    struct db_activation record = db_activation_from(columns);
    a->cb(a->arg, &record);
}

static enum fl_err pg_activation_query(struct db *db, const struct db_activation_query *query,
                                       db_activation_cb cb, void *arg, char *detail,
                                       size_t detail_len)
{
    char limit[16];
    const char *args[DB_ACTIVATION_QUERY_ARGS];
    struct pg_params pp = {0};
    db_activation_query_args(query, limit, args);
    for (int i = 0; i < DB_ACTIVATION_QUERY_ARGS; i++)
        pg_text(&pp, args[i]);
    struct pg_activation_arg a = {cb, arg};
    return pg_read(db, db_activation_query_sql, &pp, pg_activation_row, &a, detail, detail_len);
}

static enum fl_err pg_activation_prune(struct db *db, int64_t before_ms, uint64_t keep,
                                       char *detail, size_t detail_len)
{
    struct db_pg *p = PG(db);
    char id_floor[33], ms[24], count[32];
    db_activation_prune_args(before_ms, id_floor, ms);
    snprintf(count, sizeof(count), "%llu", (unsigned long long)keep);
    struct pg_params age_params = {0}, count_params = {0};
    pg_text(&age_params, id_floor);
    pg_text(&age_params, ms);
    pg_text(&count_params, count);
    enum fl_err err = pg_begin(p, detail, detail_len);
    if (err != FL_OK)
        return err;
    err = pg_change(p, db_activation_prune_age_sql, &age_params, false, detail, detail_len);
    if (err == FL_OK && keep)
        err = pg_change(p, db_activation_prune_count_sql, &count_params, false, detail, detail_len);
    return pg_end(p, err, detail, detail_len);
}

static enum fl_err pg_activation_sinks(struct db *db, const char *id, const char *sinks,
                                       char *detail, size_t detail_len)
{
    struct pg_params pp = {0};
    pg_text(&pp, sinks);
    pg_text(&pp, id);
    return pg_write(db, db_activation_sinks_sql, &pp, true, detail, detail_len);
}

static const struct db_ops pg_ops = {
    .migrate = pg_migrate,
    .ping = pg_ping,
    .close = pg_close,
    .sql_write = pg_sql_write,
    .sql_read = pg_sql_read,
    .module_rename = pg_module_rename,
    .module_delete = pg_module_delete,
    .function_create = pg_function_create,
    .function_update = pg_function_update,
    .function_delete = pg_function_delete,
    .function_list = pg_function_list,
    .function_code = pg_function_code,
    .script_delete = pg_script_delete,
    .activation_write = pg_activation_write,
    .activation_query = pg_activation_query,
    .activation_prune = pg_activation_prune,
    .activation_sinks = pg_activation_sinks,
};

enum fl_err db_postgres_open(const char *url, struct db **out, char *detail, size_t detail_len)
{
    struct db_pg *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ERR_NOMEM;
    p->base.ops = &pg_ops;
    pthread_mutex_init(&p->lock, NULL);
    p->conn = PQconnectdb(url);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        /* the message may repeat the URL, password included: keep only the first line */
        const char *msg = PQerrorMessage(p->conn);
        enum fl_err err =
            fl_fail(FL_ERR_STORE, detail, detail_len, "cannot connect to PostgreSQL: %.*s",
                    (int)strcspn(msg, "\n"), msg);
        pg_close(&p->base);
        return err;
    }
    PQclear(PQexec(p->conn, "SET client_min_messages = warning"));
    *out = &p->base;
    return FL_OK;
}
