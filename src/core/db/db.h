/*
 * db — the Core's store: modules, functions (with their code), APP scripts
 * and subjects, behind one interface with two backends chosen by URL:
 * `sqlite:PATH` (db_sqlite.c, WAL mode) and `postgres://...` (db_postgres.c).
 *
 * Every write is one transaction: a failure leaves the store as it was.
 * Schema migrations are versioned and run by db_open. Errors are
 * FL_ERR_NOT_FOUND, FL_ERR_EXISTS, or FL_ERR_STORE with the database's
 * message in `detail`.
 *
 * Threading: a struct db serialises its own calls (one connection, one
 * lock); callers may use it from any thread. Strings passed in are copied
 * or used before the call returns; rows handed to callbacks live only for
 * the duration of the callback.
 */
#ifndef FL_CORE_DB_H
#define FL_CORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct db_function {
    const char *module;
    const char *name;
    const uint8_t *code; /* NULL in rows handed to db_function_cb (code is fetched apart) */
    size_t size;
    const char *hash;     /* hex SHA3-256 of the code */
    const char *metadata; /* normalised JSON text */
    const char *created_at;
    const char *updated_at;
    const char *events;  /* its triggers, a JSON array (core/triggers); NULL in an update: kept */
    const char *sinks;   /* where its results go, a JSON array (core/sinks); NULL: the same */
    const char *config;  /* read only: its configuration, a JSON object of strings */
    const char *secrets; /* read only: its sealed secrets (core/secrets), "" none */
    const char *owner;   /* the subject that created it (its quota counts it), "" none */
};

struct db_script {
    const char *name;
    const char *source; /* the YAML as uploaded */
    const char *parsed; /* the normalised JSON form */
    const char *created_at;
    const char *updated_at;
    const char *id; /* read only: a number given at creation, as FunLess's scripts have */
};

struct db_subject {
    const char *name;
    const char *token_hash; /* hex SHA3-256 of the token: the token itself is never stored */
    bool admin;
    const char *created_at;
    const char *previous_hash; /* the token before a rotation, "" none */
    int64_t previous_until_ms; /* ... accepted until then (ms since the epoch) */
    int64_t token_expires_ms;  /* 0: the token does not expire */
    const char *quota;         /* JSON object (core/quota), "{}" for the defaults */
};

struct db_module {
    const char *name;
    const char *owner;  /* the subject that created it; "" shared by everyone */
    const char *access; /* JSON array of {"subject","rights":[...]} */
};

/* One invocation's record (docs/activations.md). Every field is text, as stored; "" stands for
 * absent (no result, no error). */
struct db_activation {
    const char *id; /* 32 lower-case hex */
    const char *module, *function, *hash;
    const char *trigger; /* http, async, event, cron */
    const char
        *status; /* queued, running, success, error, trap, timeout, unavailable, busy, lost */
    const char *http_status;
    const char *worker;
    const char *start;    /* RFC 3339 UTC with milliseconds */
    const char *start_ms; /* the same in milliseconds since the epoch: order and retention */
    const char *duration_ms;
    const char *attempts;
    const char *result; /* JSON text, "" when none (or past its bound: result_truncated) */
    const char *result_truncated; /* "1" or "0" */
    const char *error;
    const char *logs; /* a JSON array of strings */
    const char *logs_truncated;
    const char *args;   /* an asynchronous call's arguments (JSON), "" for others */
    const char *script; /* the APP script it is placed with, "" for the default policy */
    const char *sinks;  /* read only: its sinks' outcomes, a JSON array, "" for none */
};
/* The fields a record is written with, and the columns a query reads (sinks too). */
enum { DB_ACTIVATION_FIELDS = 19, DB_ACTIVATION_COLUMNS = 20 };

/* Which records a query returns, newest first (start, then id): "" matches any. */
struct db_activation_query {
    const char *id;
    const char *module, *function, *status;
    const char *before; /* an id: only records older than it (a cursor) */
    /* only records of these modules, names joined by ','; "" any, "," none (a subject who may
     * read no module) */
    const char *modules;
    unsigned limit;
};
enum { DB_ACTIVATION_QUERY_ARGS = 7 };

typedef void (*db_name_cb)(void *arg, const char *name);
typedef void (*db_function_cb)(void *arg, const struct db_function *row);
typedef void (*db_script_cb)(void *arg, const struct db_script *row);
typedef void (*db_subject_cb)(void *arg, const struct db_subject *row);
typedef void (*db_activation_cb)(void *arg, const struct db_activation *row);
typedef void (*db_module_cb)(void *arg, const struct db_module *row);
/* A row of sql_read: `columns` text values ("" for NULL). */
typedef void (*db_row_cb)(void *arg, const char *const *values);

struct db;

struct db_ops {
    enum fl_err (*migrate)(struct db *db, char *detail, size_t detail_len);
    enum fl_err (*ping)(struct db *db, char *detail, size_t detail_len);
    void (*close)(struct db *db);

    /* One statement with text parameters ($1 is args[0], ...; a backend casts with CAST), in
     * a transaction of its own; FL_ERR_NOT_FOUND when it changed no row and `must_change`. The
     * portable statements of db.c run through these two. */
    enum fl_err (*sql_write)(struct db *db, const char *sql, int n, const char *const *args,
                             bool must_change, char *detail, size_t detail_len);
    /* A query: `row` for each row of its `columns` columns. */
    enum fl_err (*sql_read)(struct db *db, const char *sql, int n, const char *const *args,
                            int columns, db_row_cb row, void *arg, char *detail, size_t detail_len);

    enum fl_err (*module_rename)(struct db *db, const char *name, const char *new_name,
                                 const char *now, char *detail, size_t detail_len);
    /* Deletes the module and its functions. */
    enum fl_err (*module_delete)(struct db *db, const char *name, char *detail, size_t detail_len);

    /* Inserts (FL_ERR_EXISTS if taken; FL_ERR_NOT_FOUND without the module). */
    enum fl_err (*function_create)(struct db *db, const struct db_function *f, char *detail,
                                   size_t detail_len);
    /* Replaces function `name` by `f` (whose name may differ: a rename). */
    enum fl_err (*function_update)(struct db *db, const char *name, const struct db_function *f,
                                   char *detail, size_t detail_len);
    enum fl_err (*function_delete)(struct db *db, const char *module, const char *name,
                                   char *detail, size_t detail_len);
    /* Every function without its code, for the in-memory catalogue. */
    enum fl_err (*function_list)(struct db *db, db_function_cb cb, void *arg, char *detail,
                                 size_t detail_len);
    enum fl_err (*function_code)(struct db *db, const char *module, const char *name,
                                 struct fl_buf *code, char *detail, size_t detail_len);

    enum fl_err (*script_delete)(struct db *db, const char *name, char *detail, size_t detail_len);

    /* Inserts or replaces `count` records in one transaction (group commit). */
    enum fl_err (*activation_write)(struct db *db, const struct db_activation *rows, size_t count,
                                    char *detail, size_t detail_len);
    enum fl_err (*activation_query)(struct db *db, const struct db_activation_query *query,
                                    db_activation_cb cb, void *arg, char *detail,
                                    size_t detail_len);
    /* Deletes records that started before `before_ms`, and all but the newest `keep`. */
    enum fl_err (*activation_prune)(struct db *db, int64_t before_ms, uint64_t keep, char *detail,
                                    size_t detail_len);
    /* Sets a written record's sinks' outcomes (a JSON array); FL_ERR_NOT_FOUND when it is not
     * there (pruned). */
    enum fl_err (*activation_sinks)(struct db *db, const char *id, const char *sinks, char *detail,
                                    size_t detail_len);
};

struct db {
    const struct db_ops *ops;
};

/* Subjects: every one, by name; created (FL_ERR_EXISTS when the name or token is taken) or
 * replaced by name (FL_ERR_NOT_FOUND); deleted. */
enum fl_err db_subject_list(struct db *db, db_subject_cb cb, void *arg, char *detail,
                            size_t detail_len);
enum fl_err db_subject_put(struct db *db, const struct db_subject *s, bool create, char *detail,
                           size_t detail_len);
enum fl_err db_subject_delete(struct db *db, const char *name, char *detail, size_t detail_len);

/* What `from` owns (modules, and the functions its quota counts) passes to `to`. */
enum fl_err db_subject_transfer(struct db *db, const char *from, const char *to, char *detail,
                                size_t detail_len);

/* Modules: created with an owner ("" shared); their access list replaced; every one. */
enum fl_err db_module_create(struct db *db, const char *name, const char *owner, const char *now,
                             char *detail, size_t detail_len);
enum fl_err db_module_set_access(struct db *db, const char *name, const char *access,
                                 const char *now, char *detail, size_t detail_len);
enum fl_err db_module_list(struct db *db, db_module_cb cb, void *arg, char *detail,
                           size_t detail_len);

/* A function's configuration (JSON) and sealed secrets, replaced together. */
enum fl_err db_function_set_config(struct db *db, const char *module, const char *name,
                                   const char *config, const char *secrets, const char *now,
                                   char *detail, size_t detail_len);

/* Deletes the records of `modules` (names joined by ',') that started before `before_ms`. */
enum fl_err db_activation_prune_modules(struct db *db, const char *modules, int64_t before_ms,
                                        char *detail, size_t detail_len);

/* APP scripts: created (FL_ERR_EXISTS; numbered one past the highest) or replaced by name
 * (FL_ERR_NOT_FOUND); every one, by name. */
enum fl_err db_script_put(struct db *db, const struct db_script *s, bool create, char *detail,
                          size_t detail_len);
enum fl_err db_script_list(struct db *db, db_script_cb cb, void *arg, char *detail,
                           size_t detail_len);

/* A function's stored configuration and sealed secrets (the caller frees both). */
enum fl_err db_function_config(struct db *db, const char *module, const char *name, char **config,
                               char **secrets, char *detail, size_t detail_len);

/* Opens the store named by `url` and migrates it to the current schema. */
enum fl_err db_open(const char *url, struct db **out, char *detail, size_t detail_len);
void db_close(struct db *db);

/* Backends (db_open picks one). */
enum fl_err db_sqlite_open(const char *path, struct db **out, char *detail, size_t detail_len);
enum fl_err db_postgres_open(const char *url, struct db **out, char *detail, size_t detail_len);

/*
 * The schema, shared by both backends: migration N is the SQL that takes a
 * store from version N-1 to N. `binary` is the backend's type for bytes.
 */
struct db_migration {
    int version;
    const char *sql; /* %s stands for the bytes type (BLOB / BYTEA); "": nothing to do */
};
extern const struct db_migration db_migrations[];
extern const int db_migration_count;
/* The migrations SQLite runs in its own words (by version, in place of the shared text). */
extern const struct db_migration db_sqlite_migrations[];
extern const int db_sqlite_migration_count;

/* Activation statements, run as they are ($N parameters, all text); by both backends unless
 * said. */
/* PostgreSQL's write of a record (SQLite inserts, then updates, to count what it inserts). */
extern const char db_activation_upsert_sql[];
/* SQLite's first write of a record (it then updates: it counts the records it inserts). */
extern const char db_activation_insert_sql[];
extern const char db_activation_query_sql[];
/* The same within an id range: $1..$6 as above, $7 <= id <= $8, and $9 the limit (SQLite's
 * function filter reads the records span by span). */
extern const char db_activation_range_query_sql[];
extern const char db_activation_prune_age_sql[];
/* PostgreSQL's: all but the newest $1 (SQLite counts its records instead). */
extern const char db_activation_prune_count_sql[];
extern const char db_activation_sinks_sql[];
/* The age prune's two parameters for records that started before `before_ms`. */
void db_activation_prune_args(int64_t before_ms, char id_floor[33], char ms[24]);
/* The query's parameters, in the order the query SQL numbers them ($1..$7). */
void db_activation_query_args(const struct db_activation_query *query, char limit[16],
                              const char *args[DB_ACTIVATION_QUERY_ARGS]);
/* A record's fields in the order of the upsert's parameters ($1..$19). */
void db_activation_args(const struct db_activation *row, const char *args[DB_ACTIVATION_FIELDS]);
/* Whether field `k` of db_activation_args is a number (http_status, start_ms, duration_ms,
 * attempts and the two truncated flags): a backend may bind it as one. */
bool db_activation_field_is_number(int k);
/* The record from the query's columns (in the same order). */
struct db_activation db_activation_from(const char *const columns[DB_ACTIVATION_COLUMNS]);

#endif
