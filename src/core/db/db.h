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
};

struct db_script {
    const char *name;
    const char *source; /* the YAML as uploaded */
    const char *parsed; /* the normalised JSON form */
    const char *created_at;
    const char *updated_at;
};

struct db_subject {
    const char *name;
    const char *token_hash; /* hex SHA3-256 of the token: the token itself is never stored */
    bool admin;
    const char *created_at;
};

typedef void (*db_name_cb)(void *arg, const char *name);
typedef void (*db_function_cb)(void *arg, const struct db_function *row);
typedef void (*db_script_cb)(void *arg, const struct db_script *row);
typedef void (*db_subject_cb)(void *arg, const struct db_subject *row);

struct db;

struct db_ops {
    enum fl_err (*migrate)(struct db *db, char *detail, size_t detail_len);
    enum fl_err (*ping)(struct db *db, char *detail, size_t detail_len);
    void (*close)(struct db *db);

    enum fl_err (*module_create)(struct db *db, const char *name, const char *now, char *detail,
                                 size_t detail_len);
    enum fl_err (*module_rename)(struct db *db, const char *name, const char *new_name,
                                 const char *now, char *detail, size_t detail_len);
    /* Deletes the module and its functions. */
    enum fl_err (*module_delete)(struct db *db, const char *name, char *detail, size_t detail_len);
    enum fl_err (*module_list)(struct db *db, db_name_cb cb, void *arg, char *detail,
                               size_t detail_len);

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

    enum fl_err (*script_put)(struct db *db, const struct db_script *s, bool create, char *detail,
                              size_t detail_len);
    enum fl_err (*script_delete)(struct db *db, const char *name, char *detail, size_t detail_len);
    enum fl_err (*script_list)(struct db *db, db_script_cb cb, void *arg, char *detail,
                               size_t detail_len);

    enum fl_err (*subject_create)(struct db *db, const struct db_subject *s, char *detail,
                                  size_t detail_len);
    enum fl_err (*subject_list)(struct db *db, db_subject_cb cb, void *arg, char *detail,
                                size_t detail_len);
};

struct db {
    const struct db_ops *ops;
};

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
    const char *sql; /* %s stands for the bytes type (BLOB / BYTEA) */
};
extern const struct db_migration db_migrations[];
extern const int db_migration_count;

#endif
