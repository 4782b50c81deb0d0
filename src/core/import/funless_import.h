/*
 * funless_import — brings a FunLess installation into a funless store (docs/funless.md,
 * "Moving from FunLess"): its modules, functions (code and function_metadata), APP scripts,
 * subjects and admins, read from FunLess's PostgreSQL databases with libpq.
 *
 * Idempotent: what is already there unchanged is left alone, so a second import changes
 * nothing. Modules come in shared (FunLess has no owners); a function's code passes our
 * acceptance check first (one that fails is reported and skipped); subjects keep FunLess's
 * tokens, stored only as their SHA3-256 like ours, so clients keep working. Run it with the
 * Core stopped (a running Core reads the store at start).
 */
#ifndef FL_CORE_IMPORT_FUNLESS_IMPORT_H
#define FL_CORE_IMPORT_FUNLESS_IMPORT_H

#include <stddef.h>

#include "common/err.h"
#include "core/db/db.h"

struct import_report {
    unsigned modules_added, modules_kept;
    unsigned functions_added, functions_updated, functions_kept, functions_refused;
    unsigned scripts_added, scripts_kept, scripts_refused;
    unsigned subjects_added, subjects_updated, subjects_kept;
};

/* Imports from `source_url` (FunLess's main database); subjects and admins from the same
 * database when it has those tables, else from `subjects_url` (FunLess's SubjectsRepo; NULL:
 * the same server's database "subjects"). Refused items are named on stderr. */
enum fl_err funless_import(const char *source_url, const char *subjects_url, struct db *target,
                           struct import_report *report, char *detail, size_t detail_len);

#endif
