#include "common/util.h"
#include "core/db/db.h"

#include <string.h>

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
};
const int db_migration_count = ARRAY_SIZE(db_migrations);

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
