#include "core/import/funless_import.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/escape.h"
#include "common/hash.h"
#include "common/util.h"
#include "core/api/validate.h"
#include "core/app/app.h"
#include "core/catalogue.h"
#include "engine/engine.h"

/* ---- reading FunLess's databases ---- */

static PGresult *import_query(PGconn *conn, const char *sql, char *detail, size_t detail_len)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    fl_fail(FL_ERR_STORE, detail, detail_len, "FunLess's database: %.200s",
            PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

static bool import_has_table(PGconn *conn, const char *table)
{
    const char *params[] = {table};
    PGresult *res =
        PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
    bool has = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
               strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return has;
}

/* One line on stderr for something skipped. Names and reasons come from FunLess's database
 * (a reason can quote a module's bytes): escaped, so no byte of them moves the terminal. */
static void import_skipped(const char *what, const char *name, const char *why)
{
    char safe_name[400], safe_why[600];
    fl_escape_log(name, safe_name, sizeof(safe_name));
    fl_escape_log(why, safe_why, sizeof(safe_why));
    fprintf(stderr, "import-funless: %s \"%s\" skipped: %s\n", what, safe_name, safe_why);
}

/* ---- modules ---- */

static enum fl_err import_modules(PGconn *conn, struct db *db, struct import_report *r,
                                  char *detail, size_t detail_len)
{
    PGresult *res = import_query(conn, "SELECT name FROM modules ORDER BY id", detail, detail_len);
    if (!res)
        return FL_ERR_STORE;
    char now[32];
    fl_format_now_s(now);
    enum fl_err err = FL_OK;
    for (int i = 0; err == FL_OK && i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        if (!name_valid(name)) {
            import_skipped("module", name, "not a valid name");
            continue;
        }
        /* shared by everyone, as every FunLess module is */
        err = db_module_create(db, name, "", now, detail, detail_len);
        if (err == FL_ERR_EXISTS) {
            r->modules_kept++;
            err = FL_OK;
        } else if (err == FL_OK) {
            r->modules_added++;
        }
    }
    PQclear(res);
    return err;
}

/* ---- functions ---- */

/* Our functions' hashes by "module/name", to tell new, changed and unchanged apart. */
struct known_functions {
    cJSON *hashes; /* an object */
};

static void known_function(void *arg, const struct db_function *row)
{
    struct known_functions *k = arg;
    char key[2 * FL_NAME_MAX + 2];
    snprintf(key, sizeof(key), "%s/%s", row->module, row->name);
    cJSON_AddStringToObject(k->hashes, key, row->hash);
}

static bool import_hex(const char *hex, struct fl_buf *out)
{
    size_t len = strlen(hex);
    if (len >= 2 && hex[0] == '\\' && hex[1] == 'x') /* bytea's own hex output */
        hex += 2, len -= 2;
    if (len % 2)
        return false;
    for (size_t i = 0; i < len; i += 2) {
        unsigned v;
        if (sscanf(hex + i, "%2x", &v) != 1)
            return false;
        uint8_t byte = (uint8_t)v;
        if (!fl_buf_append(out, &byte, 1))
            return false;
    }
    return true;
}

/* FunLess's function_metadata (tag, capacity) over our defaults. */
static char *import_metadata(const char *tag, const char *capacity, struct fn_meta *meta)
{
    char detail[128];
    meta_parse(NULL, 0, meta, detail, sizeof(detail));
    if (tag && *tag && name_valid(tag))
        snprintf(meta->tag, sizeof(meta->tag), "%s", tag);
    long mb = capacity && *capacity ? strtol(capacity, NULL, 10) : 0;
    if (mb > 0 && mb <= 4096)
        meta->capacity_mb = (uint32_t)mb;
    return meta_to_json(meta);
}

static enum fl_err import_function(struct db *db, PGresult *res, int i, cJSON *known,
                                   struct import_report *r, char *detail, size_t detail_len)
{
    const char *module = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
    struct fl_buf code;
    fl_buf_init(&code, (size_t)256 << 20);
    struct fn_meta meta;
    char *metadata = import_metadata(PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
                                     PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4), &meta);
    char why[256] = "", hash[FL_HASH_HEX_BYTES];
    if (!name_valid(module) || !name_valid(name))
        snprintf(why, sizeof(why), "not a valid name");
    else if (!import_hex(PQgetvalue(res, i, 2), &code) || !metadata)
        snprintf(why, sizeof(why), "its code could not be read");
    else if (engine_check((const uint8_t *)code.data, code.len, (uint64_t)meta.capacity_mb << 20,
                          true, NULL, why, sizeof(why)) != FL_OK) {
        /* `why` says what our acceptance check refuses */
    }
    enum fl_err err = FL_OK;
    if (why[0]) {
        char qualified[2 * FL_NAME_MAX + 2];
        snprintf(qualified, sizeof(qualified), "%.160s/%.160s", module, name);
        import_skipped("function", qualified, why);
        r->functions_refused++;
    } else {
        const void *parts[] = {code.data};
        size_t lens[] = {code.len};
        fl_hash_hex(parts, lens, 1, hash);
        char key[2 * FL_NAME_MAX + 2], now[32];
        snprintf(key, sizeof(key), "%s/%s", module, name);
        fl_format_now_s(now);
        const char *ours = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(known, key));
        struct db_function row = {.module = module,
                                  .name = name,
                                  .code = (const uint8_t *)code.data,
                                  .size = code.len,
                                  .hash = hash,
                                  .metadata = metadata,
                                  .created_at = now,
                                  .updated_at = now,
                                  .owner = ""};
        if (ours && strcmp(ours, hash) == 0) {
            r->functions_kept++;
        } else if (ours) {
            err = db->ops->function_update(db, name, &row, detail, detail_len);
            r->functions_updated += err == FL_OK;
        } else {
            err = db->ops->function_create(db, &row, detail, detail_len);
            r->functions_added += err == FL_OK;
        }
    }
    free(metadata);
    fl_buf_deinit(&code);
    return err;
}

static enum fl_err import_functions(PGconn *conn, struct db *db, struct import_report *r,
                                    char *detail, size_t detail_len)
{
    bool metadata = import_has_table(conn, "function_metadata");
    PGresult *res = import_query(
        conn,
        metadata ? "SELECT m.name, f.name, encode(f.code, 'hex'), fm.tag, fm.capacity FROM "
                   "functions f JOIN modules m ON m.id = f.module_id LEFT JOIN function_metadata "
                   "fm ON fm.function_id = f.id ORDER BY f.id"
                 : "SELECT m.name, f.name, encode(f.code, 'hex'), NULL, NULL FROM functions f "
                   "JOIN modules m ON m.id = f.module_id ORDER BY f.id",
        detail, detail_len);
    if (!res)
        return FL_ERR_STORE;
    struct known_functions known = {cJSON_CreateObject()};
    enum fl_err err = db->ops->function_list(db, known_function, &known, detail, detail_len);
    for (int i = 0; err == FL_OK && i < PQntuples(res); i++)
        err = import_function(db, res, i, known.hashes, r, detail, detail_len);
    cJSON_Delete(known.hashes);
    PQclear(res);
    return err;
}

/* ---- APP scripts ---- */

/* One block of FunLess's parsed form (Parsers.APP.to_map) as the YAML it came from. */
static void import_block_yaml(const cJSON *block, struct fl_buf *out)
{
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(block, "workers"), *w;
    if (cJSON_IsString(workers)) {
        fl_buf_printf(out, "  - workers: \"%s\"\n", workers->valuestring);
    } else {
        fl_buf_printf(out, "  - workers: [");
        int n = 0;
        cJSON_ArrayForEach(w, workers)
        {
            if (cJSON_IsString(w))
                fl_buf_printf(out, "%s\"%s\"", n++ ? ", " : "", w->valuestring);
        }
        fl_buf_printf(out, "]\n");
    }
    const char *strategy =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "strategy"));
    if (strategy)
        fl_buf_printf(out, "    strategy: %s\n", strategy);
    const cJSON *invalidate = cJSON_GetObjectItemCaseSensitive(block, "invalidate"), *limit;
    cJSON_ArrayForEach(limit, invalidate)
    {
        if (cJSON_IsNumber(limit)) /* "infinity" is the default: left out */
            fl_buf_printf(out, "    invalidate: {%s: %g}\n", limit->string, limit->valuedouble);
    }
    const cJSON *affinity = cJSON_GetObjectItemCaseSensitive(block, "affinity");
    const cJSON *with = cJSON_GetObjectItemCaseSensitive(affinity, "affinity");
    const cJSON *without = cJSON_GetObjectItemCaseSensitive(affinity, "antiaffinity");
    if (cJSON_GetArraySize(with) + cJSON_GetArraySize(without) > 0) {
        fl_buf_printf(out, "    affinity: [");
        int n = 0;
        cJSON_ArrayForEach(w, with)
        {
            if (cJSON_IsString(w))
                fl_buf_printf(out, "%s\"%s\"", n++ ? ", " : "", w->valuestring);
        }
        cJSON_ArrayForEach(w, without)
        {
            if (cJSON_IsString(w))
                fl_buf_printf(out, "%s\"!%s\"", n++ ? ", " : "", w->valuestring);
        }
        fl_buf_printf(out, "]\n");
    }
}

/* FunLess's script column: a parsed map (main) made YAML again, or the YAML text (v0.9.0). */
static char *import_script_yaml(const char *stored)
{
    cJSON *map = cJSON_Parse(stored);
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(map, "tags"), *tag;
    if (!cJSON_IsObject(tags)) { /* text; or text kept as a JSON string */
        char *text = strdup(cJSON_IsString(map) ? map->valuestring : stored);
        cJSON_Delete(map);
        return text;
    }
    struct fl_buf yaml;
    fl_buf_init(&yaml, (size_t)1 << 20);
    cJSON_ArrayForEach(tag, tags)
    {
        fl_buf_printf(&yaml, "- %s:\n", tag->string);
        const cJSON *block;
        cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(tag, "blocks"))
        {
            import_block_yaml(block, &yaml);
        }
        const char *followup =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tag, "followup"));
        if (followup)
            fl_buf_printf(&yaml, "  followup: %s\n", followup);
    }
    cJSON_Delete(map);
    char *text = yaml.data ? strndup(yaml.data, yaml.len) : strdup("");
    fl_buf_deinit(&yaml);
    return text;
}

struct known_scripts {
    cJSON *names;
};

static void known_script(void *arg, const struct db_script *row)
{
    struct known_scripts *k = arg;
    cJSON_AddTrueToObject(k->names, row->name);
}

static enum fl_err import_script(struct db *db, const char *name, const char *stored,
                                 struct import_report *r, char *detail, size_t detail_len)
{
    char *yaml = import_script_yaml(stored);
    struct app_script *parsed = NULL;
    char why[256] = "";
    if (!name_valid(name))
        snprintf(why, sizeof(why), "not a valid name");
    else if (!yaml)
        snprintf(why, sizeof(why), "out of memory");
    else if (app_parse(yaml, strlen(yaml), &parsed, why, sizeof(why)) != FL_OK && !why[0])
        snprintf(why, sizeof(why), "not an APP script");
    enum fl_err err = FL_OK;
    if (why[0]) {
        import_skipped("APP script", name, why);
        r->scripts_refused++;
    } else {
        cJSON *json = app_to_json(parsed);
        char *parsed_text = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
        char now[32];
        fl_format_now_s(now);
        struct db_script row = {name, yaml, parsed_text, now, now, NULL};
        err = parsed_text ? db_script_put(db, &row, true, detail, detail_len) : FL_ERR_NOMEM;
        r->scripts_added += err == FL_OK;
        free(parsed_text);
    }
    app_release(parsed);
    free(yaml);
    return err;
}

static enum fl_err import_scripts(PGconn *conn, struct db *db, struct import_report *r,
                                  char *detail, size_t detail_len)
{
    if (!import_has_table(conn, "app_scripts"))
        return FL_OK; /* before FunLess had APP scripts */
    PGresult *res = import_query(conn, "SELECT name, script::text FROM app_scripts ORDER BY id",
                                 detail, detail_len);
    if (!res)
        return FL_ERR_STORE;
    struct known_scripts known = {cJSON_CreateObject()};
    enum fl_err err = db_script_list(db, known_script, &known, detail, detail_len);
    for (int i = 0; err == FL_OK && i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        if (cJSON_GetObjectItemCaseSensitive(known.names, name))
            r->scripts_kept++; /* ours stays, as it is */
        else
            err = import_script(db, name, PQgetvalue(res, i, 1), r, detail, detail_len);
    }
    cJSON_Delete(known.names);
    PQclear(res);
    return err;
}

/* ---- subjects and admins ---- */

struct known_subjects {
    cJSON *rows; /* name -> [hash, admin, created_at] */
};

static void known_subject(void *arg, const struct db_subject *row)
{
    struct known_subjects *k = arg;
    cJSON *entry = cJSON_CreateArray();
    cJSON_AddItemToArray(entry, cJSON_CreateString(row->token_hash));
    cJSON_AddItemToArray(entry, cJSON_CreateBool(row->admin));
    cJSON_AddItemToArray(entry, cJSON_CreateString(row->created_at));
    cJSON_AddItemToObject(k->rows, row->name, entry);
}

/* One of FunLess's subjects (or admins): its token, stored as our hash, keeps working. */
static enum fl_err import_subject(struct db *db, const char *name, const char *token, bool admin,
                                  cJSON *known, struct import_report *r, char *detail,
                                  size_t detail_len)
{
    if (!name_valid(name) || !*token) {
        import_skipped("subject", name, "no valid name or token");
        return FL_OK;
    }
    char hash[FL_HASH_HEX_BYTES], now[32];
    const void *parts[] = {token};
    size_t lens[] = {strlen(token)};
    fl_hash_hex(parts, lens, 1, hash);
    fl_format_now_s(now);
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(known, name);
    const char *our_hash = cJSON_GetStringValue(cJSON_GetArrayItem(ours, 0));
    bool our_admin = cJSON_IsTrue(cJSON_GetArrayItem(ours, 1));
    if (ours && strcmp(our_hash, hash) == 0 && our_admin == admin) {
        r->subjects_kept++;
        return FL_OK;
    }
    struct db_subject row = {
        .name = name,
        .token_hash = hash,
        .admin = admin || our_admin,
        .created_at = ours ? cJSON_GetStringValue(cJSON_GetArrayItem(ours, 2)) : now,
        .previous_hash = "",
        .quota = "{}",
    };
    enum fl_err err = db_subject_put(db, &row, !ours, detail, detail_len);
    if (err != FL_OK)
        return err;
    if (ours)
        r->subjects_updated++;
    else
        r->subjects_added++;
    /* a later row of the same name (an admin who is a subject too) sees this one */
    cJSON *entry = cJSON_CreateArray();
    cJSON_AddItemToArray(entry, cJSON_CreateString(hash));
    cJSON_AddItemToArray(entry, cJSON_CreateBool(row.admin));
    cJSON_AddItemToArray(entry, cJSON_CreateString(row.created_at));
    cJSON_DeleteItemFromObjectCaseSensitive(known, name);
    cJSON_AddItemToObject(known, name, entry);
    return FL_OK;
}

/* FunLess keeps subjects and admins in a database of their own ("subjects"), unless a test or
 * an operator put them beside the rest. */
static PGconn *import_subjects_conn(PGconn *main, const char *source_url, const char *subjects_url)
{
    if (import_has_table(main, "subjects"))
        return main;
    if (subjects_url)
        return PQconnectdb(subjects_url);
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *values[] = {source_url, "subjects", NULL};
    return PQconnectdbParams(keys, values, 1); /* the same server, database "subjects" */
}

static enum fl_err import_subjects(PGconn *conn, struct db *db, struct import_report *r,
                                   char *detail, size_t detail_len)
{
    struct known_subjects known = {cJSON_CreateObject()};
    enum fl_err err = db_subject_list(db, known_subject, &known, detail, detail_len);
    static const char *const tables[] = {"subjects", "admins"};
    for (int t = 0; err == FL_OK && t < 2; t++) {
        if (t == 1 && !import_has_table(conn, "admins"))
            break;
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT name, token FROM %s ORDER BY id", tables[t]);
        PGresult *res = import_query(conn, sql, detail, detail_len);
        if (!res) {
            err = FL_ERR_STORE;
            break;
        }
        for (int i = 0; err == FL_OK && i < PQntuples(res); i++)
            err = import_subject(db, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), t == 1,
                                 known.rows, r, detail, detail_len);
        PQclear(res);
    }
    cJSON_Delete(known.rows);
    return err;
}

enum fl_err funless_import(const char *source_url, const char *subjects_url, struct db *target,
                           struct import_report *report, char *detail, size_t detail_len)
{
    *report = (struct import_report){0};
    PGconn *conn = PQconnectdb(source_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fl_fail(FL_ERR_STORE_DOWN, detail, detail_len, "cannot reach FunLess's database: %.200s",
                PQerrorMessage(conn));
        PQfinish(conn);
        return FL_ERR_STORE_DOWN;
    }
    enum fl_err err = import_modules(conn, target, report, detail, detail_len);
    if (err == FL_OK)
        err = import_functions(conn, target, report, detail, detail_len);
    if (err == FL_OK)
        err = import_scripts(conn, target, report, detail, detail_len);
    if (err == FL_OK) {
        PGconn *subjects = import_subjects_conn(conn, source_url, subjects_url);
        if (PQstatus(subjects) != CONNECTION_OK)
            err = fl_fail(FL_ERR_STORE_DOWN, detail, detail_len,
                          "cannot reach FunLess's subjects database: %.200s",
                          PQerrorMessage(subjects));
        else
            err = import_subjects(subjects, target, report, detail, detail_len);
        if (subjects != conn)
            PQfinish(subjects);
    }
    PQfinish(conn);
    return err;
}
