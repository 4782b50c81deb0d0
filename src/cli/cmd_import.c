/*
 * cmd_import — `funless import-funless`: a FunLess installation's modules, functions, APP
 * scripts, subjects and admins into a funless store (core/import, docs/funless.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/options.h"
#include "common/util.h"
#include "core/import/funless_import.h"

int cmd_import_funless(int argc, char **argv)
{
    const char *db_url = NULL, *data_dir = NULL, *subjects_url = NULL;
    const struct fl_option options[] = {
        {"--db", "FUNLESS_DB", FL_OPT_STRING, &db_url, NULL, 0, 0,
         "the funless store to import into (default sqlite:DATA_DIR/funless.db)"},
        {"--data-dir", "FUNLESS_DATA_DIR", FL_OPT_STRING, &data_dir, "./funless-data", 0, 0,
         "where the SQLite store lives"},
        {"--subjects-db", NULL, FL_OPT_STRING, &subjects_url, NULL, 0, 0,
         "FunLess's subjects database (default: the tables beside the rest, else the same "
         "server's database \"subjects\")"},
    };
    char err[256], *positional[1];
    size_t count;
    bool help;
    if (!fl_options_parse(options, ARRAY_SIZE(options), argc, argv, positional, 1, &count, &help,
                          err, sizeof(err))) {
        fprintf(stderr, "funless import-funless: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (help || count != 1) {
        fl_options_print_help(help ? stdout : stderr,
                              "usage: funless import-funless postgres://USER:PASS@HOST/funless "
                              "[OPTIONS]\n\nBrings a FunLess installation's modules, functions, "
                              "APP scripts, subjects and admins (their tokens keep working) into "
                              "funless's store. Run it with the Core stopped; running it again "
                              "changes nothing that did not change.",
                              options, ARRAY_SIZE(options));
        return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    char url[4200], detail[512];
    snprintf(url, sizeof(url), "%s", db_url ? db_url : "");
    if (!db_url) { /* the Core's default store, its folder made as the Core makes it */
        snprintf(url, sizeof(url), "sqlite:%s/funless.db", data_dir);
        if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "funless import-funless: cannot make %s: %s\n", data_dir,
                    strerror(errno));
            return CLI_EXIT_INTERNAL;
        }
    }
    struct db *db = NULL;
    if (db_open(url, &db, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "funless import-funless: cannot open the funless store: %s\n", detail);
        return CLI_EXIT_INTERNAL;
    }
    struct import_report r;
    enum fl_err status =
        funless_import(positional[0], subjects_url, db, &r, detail, sizeof(detail));
    db_close(db);
    printf("modules: %u added, %u already there\n"
           "functions: %u added, %u updated, %u already there, %u refused\n"
           "APP scripts: %u added, %u already there, %u refused\n"
           "subjects: %u added, %u updated (their FunLess token now), %u already there\n",
           r.modules_added, r.modules_kept, r.functions_added, r.functions_updated,
           r.functions_kept, r.functions_refused, r.scripts_added, r.scripts_kept,
           r.scripts_refused, r.subjects_added, r.subjects_updated, r.subjects_kept);
    if (status != FL_OK) {
        fprintf(stderr, "funless import-funless: stopped: %s\n", detail);
        return CLI_EXIT_INTERNAL;
    }
    return CLI_EXIT_OK;
}
