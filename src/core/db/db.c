#include "common/util.h"
#include "core/db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTIVATION_COLUMNS                                                                         \
    "id, module, fname, hash, trigger_kind, status, http_status, worker, start_text, start_ms, "   \
    "duration_ms, attempts, result, result_truncated, error, logs, logs_truncated, args, script"

/*
 * Append-only: a released migration is never edited; a change is a new entry.
 * Times are ISO-8601 UTC text written by the Core, the same in both backends.
 */
const struct db_migration db_migrations[] = {
    {1, "CREATE TABLE modules ("
        "  name TEXT PRIMARY KEY,"
        "  created_at TEXT NOT NULL,"
        "  updated_at TEXT NOT NULL);"
        "CREATE TABLE functions ("
        "  module TEXT NOT NULL REFERENCES modules(name) ON UPDATE CASCADE ON DELETE CASCADE,"
        "  name TEXT NOT NULL,"
        "  code %s NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  hash TEXT NOT NULL,"
        "  metadata TEXT NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  updated_at TEXT NOT NULL,"
        "  PRIMARY KEY (module, name));"
        "CREATE TABLE app_scripts ("
        "  name TEXT PRIMARY KEY,"
        "  source TEXT NOT NULL,"
        "  parsed TEXT NOT NULL,"
        "  created_at TEXT NOT NULL,"
        "  updated_at TEXT NOT NULL);"
        "CREATE TABLE subjects ("
        "  name TEXT PRIMARY KEY,"
        "  token_hash TEXT NOT NULL UNIQUE,"
        "  admin INTEGER NOT NULL,"
        "  created_at TEXT NOT NULL);"},
    /* activation records (docs/activations.md); times in ms since the epoch order them */
    {2, "CREATE TABLE activations ("
        "  id TEXT PRIMARY KEY,"
        "  module TEXT NOT NULL,"
        "  fname TEXT NOT NULL,"
        "  hash TEXT NOT NULL,"
        "  trigger_kind TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  http_status INTEGER NOT NULL,"
        "  worker TEXT NOT NULL,"
        "  start_text TEXT NOT NULL,"
        "  start_ms BIGINT NOT NULL,"
        "  duration_ms BIGINT NOT NULL,"
        "  attempts INTEGER NOT NULL,"
        "  result TEXT NOT NULL,"
        "  result_truncated INTEGER NOT NULL,"
        "  error TEXT NOT NULL,"
        "  logs TEXT NOT NULL,"
        "  logs_truncated INTEGER NOT NULL);"
        "CREATE INDEX activations_by_time ON activations (start_ms, id);"
        "CREATE INDEX activations_by_function ON activations (module, fname, start_ms, id);"},
    /* asynchronous calls: the store is their queue (docs/activations.md) */
    {3, "ALTER TABLE activations ADD COLUMN args TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE activations ADD COLUMN script TEXT NOT NULL DEFAULT '';"},
    /* ids sort by time (activation_new_id): the id orders records, one index less to write */
    {4, "DROP INDEX activations_by_time;"
        "DROP INDEX activations_by_function;"
        "CREATE INDEX activations_by_function ON activations (module, fname, id);"},
    /* a function's triggers (docs/triggers.md), kept with it through renames and deletes */
    {5, "ALTER TABLE functions ADD COLUMN events TEXT NOT NULL DEFAULT '[]';"},
    /* a function's sinks, and the outcome of sending a call's result to them (docs/sinks.md) */
    {6, "ALTER TABLE functions ADD COLUMN sinks TEXT NOT NULL DEFAULT '[]';"
        "ALTER TABLE activations ADD COLUMN sinks TEXT NOT NULL DEFAULT '';"},
    /* tenants (docs/tenants.md): a subject's token rotation, expiry and quota; a module's owner
     * ('' = shared by everyone, as every module before) and who else may use it; a function's
     * configuration and its secrets (sealed by core/secrets, never stored in the clear) */
    {7, "ALTER TABLE subjects ADD COLUMN previous_hash TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE subjects ADD COLUMN previous_until BIGINT NOT NULL DEFAULT 0;"
        "ALTER TABLE subjects ADD COLUMN token_expires BIGINT NOT NULL DEFAULT 0;"
        "ALTER TABLE subjects ADD COLUMN quota TEXT NOT NULL DEFAULT '{}';"
        "ALTER TABLE modules ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE modules ADD COLUMN access TEXT NOT NULL DEFAULT '[]';"
        "ALTER TABLE functions ADD COLUMN config TEXT NOT NULL DEFAULT '{}';"
        "ALTER TABLE functions ADD COLUMN secrets TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE functions ADD COLUMN owner TEXT NOT NULL DEFAULT '';"},
    /* FunLess's APP scripts carry a number (docs/funless.md): the existing ones by name */
    {8, "ALTER TABLE app_scripts ADD COLUMN id BIGINT NOT NULL DEFAULT 0;"
        "UPDATE app_scripts SET id = (SELECT COUNT(*) FROM app_scripts older "
        "WHERE older.name <= app_scripts.name);"},
    /* SQLite only (db_sqlite_migrations): PostgreSQL keeps its heap table */
    {9, ""},
    /* SQLite only: PostgreSQL plans each query for its filters and reads its function index */
    {10, ""},
};
const int db_migration_count = ARRAY_SIZE(db_migrations);

/* Where SQLite runs SQL of its own instead of a migration above (same rules). */
const struct db_migration db_sqlite_migrations[] = {
    /* the records kept in id order (WITHOUT ROWID): the id is not written a second time, in an
     * index of its own, for each record (docs/activations.md, "Cost") */
    {9, "CREATE TABLE activations_by_id ("
        "  id TEXT PRIMARY KEY, module TEXT NOT NULL, fname TEXT NOT NULL, hash TEXT NOT NULL,"
        "  trigger_kind TEXT NOT NULL, status TEXT NOT NULL, http_status INTEGER NOT NULL,"
        "  worker TEXT NOT NULL, start_text TEXT NOT NULL, start_ms BIGINT NOT NULL,"
        "  duration_ms BIGINT NOT NULL, attempts INTEGER NOT NULL, result TEXT NOT NULL,"
        "  result_truncated INTEGER NOT NULL, error TEXT NOT NULL, logs TEXT NOT NULL,"
        "  logs_truncated INTEGER NOT NULL, args TEXT NOT NULL DEFAULT '',"
        "  script TEXT NOT NULL DEFAULT '', sinks TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
        "INSERT INTO activations_by_id (" ACTIVATION_COLUMNS ", sinks) "
        "SELECT " ACTIVATION_COLUMNS ", sinks FROM activations;"
        "DROP TABLE activations;"
        "ALTER TABLE activations_by_id RENAME TO activations;"
        "CREATE INDEX activations_by_function ON activations (module, fname, id);"},
    /* SQLite plans db_activation_query_sql once, for every filter at once ("$3 = '' OR fname =
     * $3"), and that plan walks the records in id order: the index by module and function
     * served no query, and was a quarter of what writing a record cost. In its place, a span
     * for each function in each batch (its first and last id there): the function filter reads
     * the records of its spans (docs/activations.md, "Cost"); the records of before get a span
     * each */
    {10, "DROP INDEX IF EXISTS activations_by_function;"
         "CREATE TABLE activation_spans ("
         "  fname TEXT NOT NULL, last_id TEXT NOT NULL, module TEXT NOT NULL,"
         "  first_id TEXT NOT NULL, PRIMARY KEY (fname, last_id, module)) WITHOUT ROWID;"
         "CREATE INDEX activation_spans_by_last_id ON activation_spans (last_id);"
         "INSERT INTO activation_spans (fname, last_id, module, first_id) "
         "SELECT fname, id, module, id FROM activations;"},
};
const int db_sqlite_migration_count = ARRAY_SIZE(db_sqlite_migrations);

/* SQLite reads $N as the N-th parameter when they appear in order, as PostgreSQL does. */
const char db_activation_upsert_sql[] =
    "INSERT INTO activations (" ACTIVATION_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (id) DO UPDATE SET "
    "status = excluded.status, http_status = excluded.http_status, worker = excluded.worker, "
    "duration_ms = excluded.duration_ms, attempts = excluded.attempts, result = excluded.result, "
    "result_truncated = excluded.result_truncated, error = excluded.error, logs = excluded.logs, "
    "logs_truncated = excluded.logs_truncated";

#define ACTIVATION_QUERY_FILTER                                                                    \
    "($1 = '' OR id = $1) AND ($2 = '' OR module = $2) AND ($3 = '' OR fname = $3) AND "           \
    "($4 = '' OR status = $4) AND ($5 = '' OR id < $5) AND ($6 = '' OR (',' || $6 || ',') LIKE "   \
    "('%,' || REPLACE(module, '_', '\\_') || ',%') ESCAPE '\\') "

const char db_activation_query_sql[] =
    "SELECT " ACTIVATION_COLUMNS ", sinks FROM activations WHERE " ACTIVATION_QUERY_FILTER
    "ORDER BY id DESC LIMIT CAST($7 AS INTEGER)";

const char db_activation_range_query_sql[] =
    "SELECT " ACTIVATION_COLUMNS ", sinks FROM activations WHERE " ACTIVATION_QUERY_FILTER
    "AND id BETWEEN $7 AND $8 ORDER BY id DESC LIMIT CAST($9 AS INTEGER)";

/* A record met for the first time (db.h). */
const char db_activation_insert_sql[] =
    "INSERT INTO activations (" ACTIVATION_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (id) DO NOTHING";

/* $1: the smallest id made at the cutoff (db_activation_id_floor), $2 the cutoff in ms: the id
 * finds the rows, the time keeps a record from before migration 4 (a random id) until it is due */
const char db_activation_prune_age_sql[] =
    "DELETE FROM activations WHERE id < $1 AND start_ms < CAST($2 AS BIGINT)";

/* All but the newest $1 (nothing when there are not that many). */
const char db_activation_prune_count_sql[] =
    "DELETE FROM activations WHERE id < (SELECT id FROM activations "
    "ORDER BY id DESC LIMIT 1 OFFSET CAST($1 AS INTEGER) - 1)";

/* $1 the sinks' outcomes, $2 the id (in order: see above) */
const char db_activation_sinks_sql[] = "UPDATE activations SET sinks = $1 WHERE id = $2";

void db_activation_prune_args(int64_t before_ms, char id_floor[33], char ms[24])
{
    snprintf(id_floor, 33, "%012llx%020d", (unsigned long long)before_ms & 0xffffffffffffULL, 0);
    snprintf(ms, 24, "%lld", (long long)before_ms);
}

void db_activation_query_args(const struct db_activation_query *q, char limit[16],
                              const char *args[DB_ACTIVATION_QUERY_ARGS])
{
    snprintf(limit, 16, "%u", q->limit);
    const char *values[] = {q->id, q->module, q->function, q->status, q->before, q->modules, limit};
    for (int i = 0; i < DB_ACTIVATION_QUERY_ARGS; i++)
        args[i] = values[i] ? values[i] : "";
}

void db_activation_args(const struct db_activation *r, const char *args[DB_ACTIVATION_FIELDS])
{
    const char *values[DB_ACTIVATION_FIELDS] = {r->id,          r->module,           r->function,
                                                r->hash,        r->trigger,          r->status,
                                                r->http_status, r->worker,           r->start,
                                                r->start_ms,    r->duration_ms,      r->attempts,
                                                r->result,      r->result_truncated, r->error,
                                                r->logs,        r->logs_truncated,   r->args,
                                                r->script};
    for (int i = 0; i < DB_ACTIVATION_FIELDS; i++)
        args[i] = values[i] ? values[i] : "";
}

bool db_activation_field_is_number(int k)
{
    return k == 6 || k == 9 || k == 10 || k == 11 || k == 13 || k == 16;
}

struct db_activation db_activation_from(const char *const c[DB_ACTIVATION_COLUMNS])
{
    return (struct db_activation){
        .id = c[0],
        .module = c[1],
        .function = c[2],
        .hash = c[3],
        .trigger = c[4],
        .status = c[5],
        .http_status = c[6],
        .worker = c[7],
        .start = c[8],
        .start_ms = c[9],
        .duration_ms = c[10],
        .attempts = c[11],
        .result = c[12],
        .result_truncated = c[13],
        .error = c[14],
        .logs = c[15],
        .logs_truncated = c[16],
        .args = c[17],
        .script = c[18],
        .sinks = c[19],
    };
}

/* ---- statements both backends run through sql_write and sql_read ---- */

static const char db_subject_columns_sql[] =
    "SELECT name, token_hash, admin, created_at, previous_hash, previous_until, token_expires, "
    "quota FROM subjects ORDER BY name";

struct db_subject_read {
    db_subject_cb cb;
    void *arg;
};

static void db_subject_row(void *arg, const char *const *c)
{
    struct db_subject_read *read = arg;
    struct db_subject row = {
        .name = c[0],
        .token_hash = c[1],
        .admin = strcmp(c[2], "0") != 0,
        .created_at = c[3],
        .previous_hash = c[4],
        .previous_until_ms = strtoll(c[5], NULL, 10),
        .token_expires_ms = strtoll(c[6], NULL, 10),
        .quota = c[7],
    };
    read->cb(read->arg, &row);
}

enum fl_err db_subject_list(struct db *db, db_subject_cb cb, void *arg, char *detail,
                            size_t detail_len)
{
    struct db_subject_read read = {cb, arg};
    return db->ops->sql_read(db, db_subject_columns_sql, 0, NULL, 8, db_subject_row, &read, detail,
                             detail_len);
}

enum fl_err db_subject_put(struct db *db, const struct db_subject *s, bool create, char *detail,
                           size_t detail_len)
{
    char until[24], expires[24];
    snprintf(until, sizeof(until), "%lld", (long long)s->previous_until_ms);
    snprintf(expires, sizeof(expires), "%lld", (long long)s->token_expires_ms);
    const char *quota = s->quota && *s->quota ? s->quota : "{}";
    const char *previous = s->previous_hash ? s->previous_hash : "";
    const char *admin = s->admin ? "1" : "0";
    if (create) {
        const char *args[] = {s->name,  s->token_hash, admin,   s->created_at,
                              previous, until,         expires, quota};
        return db->ops->sql_write(db,
                                  "INSERT INTO subjects (name, token_hash, admin, created_at, "
                                  "previous_hash, previous_until, token_expires, quota) VALUES "
                                  "($1, $2, CAST($3 AS INTEGER), $4, $5, CAST($6 AS BIGINT), "
                                  "CAST($7 AS BIGINT), $8)",
                                  8, args, false, detail, detail_len);
    }
    const char *args[] = {s->name, s->token_hash, admin, previous, until, expires, quota};
    return db->ops->sql_write(db,
                              "UPDATE subjects SET token_hash = $2, admin = CAST($3 AS INTEGER), "
                              "previous_hash = $4, previous_until = CAST($5 AS BIGINT), "
                              "token_expires = CAST($6 AS BIGINT), quota = $7 WHERE name = $1",
                              7, args, true, detail, detail_len);
}

enum fl_err db_subject_delete(struct db *db, const char *name, char *detail, size_t detail_len)
{
    const char *args[] = {name};
    return db->ops->sql_write(db, "DELETE FROM subjects WHERE name = $1", 1, args, true, detail,
                              detail_len);
}

enum fl_err db_subject_transfer(struct db *db, const char *from, const char *to, char *detail,
                                size_t detail_len)
{
    const char *args[] = {to, from};
    enum fl_err err = db->ops->sql_write(db, "UPDATE modules SET owner = $1 WHERE owner = $2", 2,
                                         args, false, detail, detail_len);
    if (err == FL_OK)
        err = db->ops->sql_write(db, "UPDATE functions SET owner = $1 WHERE owner = $2", 2, args,
                                 false, detail, detail_len);
    return err;
}

enum fl_err db_module_create(struct db *db, const char *name, const char *owner, const char *now,
                             char *detail, size_t detail_len)
{
    const char *args[] = {name, now, owner ? owner : ""};
    return db->ops->sql_write(db,
                              "INSERT INTO modules (name, created_at, updated_at, owner) VALUES "
                              "($1, $2, $2, $3)",
                              3, args, false, detail, detail_len);
}

enum fl_err db_module_set_access(struct db *db, const char *name, const char *access,
                                 const char *now, char *detail, size_t detail_len)
{
    const char *args[] = {access, now, name};
    return db->ops->sql_write(db, "UPDATE modules SET access = $1, updated_at = $2 WHERE name = $3",
                              3, args, true, detail, detail_len);
}

struct db_module_read {
    db_module_cb cb;
    void *arg;
};

static void db_module_row(void *arg, const char *const *c)
{
    struct db_module_read *read = arg;
    struct db_module row = {.name = c[0], .owner = c[1], .access = c[2]};
    read->cb(read->arg, &row);
}

enum fl_err db_module_list(struct db *db, db_module_cb cb, void *arg, char *detail,
                           size_t detail_len)
{
    struct db_module_read read = {cb, arg};
    return db->ops->sql_read(db, "SELECT name, owner, access FROM modules ORDER BY name", 0, NULL,
                             3, db_module_row, &read, detail, detail_len);
}

enum fl_err db_function_set_config(struct db *db, const char *module, const char *name,
                                   const char *config, const char *secrets, const char *now,
                                   char *detail, size_t detail_len)
{
    const char *args[] = {config, secrets, now, module, name};
    return db->ops->sql_write(db,
                              "UPDATE functions SET config = $1, secrets = $2, updated_at = $3 "
                              "WHERE module = $4 AND name = $5",
                              5, args, true, detail, detail_len);
}

enum fl_err db_activation_prune_modules(struct db *db, const char *modules, int64_t before_ms,
                                        char *detail, size_t detail_len)
{
    char id_floor[33], ms[24];
    db_activation_prune_args(before_ms, id_floor, ms);
    const char *args[] = {id_floor, ms, modules};
    return db->ops->sql_write(db,
                              "DELETE FROM activations WHERE id < $1 AND start_ms < CAST($2 AS "
                              "BIGINT) AND (',' || $3 || ',') LIKE ('%,' || REPLACE(module, '_', "
                              "'\\_') || ',%') ESCAPE '\\'",
                              3, args, false, detail, detail_len);
}

enum fl_err db_script_put(struct db *db, const struct db_script *s, bool create, char *detail,
                          size_t detail_len)
{
    if (create) {
        const char *args[] = {s->name, s->source, s->parsed, s->created_at, s->updated_at};
        return db->ops->sql_write(db,
                                  "INSERT INTO app_scripts (name, source, parsed, created_at, "
                                  "updated_at, id) VALUES ($1, $2, $3, $4, $5, (SELECT "
                                  "COALESCE(MAX(id), 0) + 1 FROM app_scripts))",
                                  5, args, false, detail, detail_len);
    }
    const char *args[] = {s->name, s->source, s->parsed, s->updated_at};
    return db->ops->sql_write(
        db, "UPDATE app_scripts SET source = $2, parsed = $3, updated_at = $4 WHERE name = $1", 4,
        args, true, detail, detail_len);
}

struct db_script_read {
    db_script_cb cb;
    void *arg;
};

static void db_script_row(void *arg, const char *const *c)
{
    struct db_script_read *read = arg;
    struct db_script row = {c[0], c[1], c[2], c[3], c[4], c[5]};
    read->cb(read->arg, &row);
}

enum fl_err db_script_list(struct db *db, db_script_cb cb, void *arg, char *detail,
                           size_t detail_len)
{
    struct db_script_read read = {cb, arg};
    return db->ops->sql_read(db,
                             "SELECT name, source, parsed, created_at, updated_at, id FROM "
                             "app_scripts ORDER BY name",
                             0, NULL, 6, db_script_row, &read, detail, detail_len);
}

struct db_config_read {
    char *config, *secrets;
};

static void db_config_row(void *arg, const char *const *c)
{
    struct db_config_read *read = arg;
    read->config = strdup(c[0]);
    read->secrets = strdup(c[1]);
}

enum fl_err db_function_config(struct db *db, const char *module, const char *name, char **config,
                               char **secrets, char *detail, size_t detail_len)
{
    const char *args[] = {module, name};
    struct db_config_read read = {NULL, NULL};
    enum fl_err err = db->ops->sql_read(
        db, "SELECT config, secrets FROM functions WHERE module = $1 AND name = $2", 2, args, 2,
        db_config_row, &read, detail, detail_len);
    if (err == FL_OK && (!read.config || !read.secrets))
        err = read.config || read.secrets
                  ? FL_ERR_NOMEM
                  : fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "function not found");
    if (err != FL_OK) {
        free(read.config);
        free(read.secrets);
        read.config = read.secrets = NULL;
    }
    *config = read.config;
    *secrets = read.secrets;
    return err;
}

enum fl_err db_open(const char *url, struct db **out, char *detail, size_t detail_len)
{
    enum fl_err err;
    *out = NULL;
    if (strncmp(url, "sqlite:", 7) == 0)
        err = db_sqlite_open(url + 7, out, detail, detail_len);
    else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        err = db_postgres_open(url, out, detail, detail_len);
    else
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                       "unknown database URL (use sqlite:PATH or postgres://...)");
    if (err != FL_OK)
        return err;
    err = (*out)->ops->migrate(*out, detail, detail_len);
    if (err != FL_OK) {
        db_close(*out);
        *out = NULL;
    }
    return err;
}

void db_close(struct db *db)
{
    if (db)
        db->ops->close(db);
}
