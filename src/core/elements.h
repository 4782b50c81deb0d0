/*
 * elements — FunLess's lists of {"type": ..., "params": {...}} in a function upload (its
 * `events` and its `sinks`): every element is checked on its own, the good ones are kept
 * (normalised), and the reply says how each went, with a summary (docs/triggers.md).
 */
#ifndef FL_CORE_ELEMENTS_H
#define FL_CORE_ELEMENTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/err.h"

/* One element: its normalised copy to keep, or NULL with the reason in `why`. */
typedef cJSON *(*element_check_fn)(const cJSON *element, char *why, size_t why_len);

/* `json` must be an array (else FL_ERR_BAD_REQUEST: "<field> must be a JSON array ..."). Then
 * *stored is the array of the elements `check` kept, *results one {"status":"success"} or
 * {"status":"error","message":...} per element in order, *failed how many failed. */
enum fl_err elements_check(const char *json, size_t len, const char *field, element_check_fn check,
                           char **stored, cJSON **results, unsigned *failed, char *detail,
                           size_t detail_len);

/* The reply's `<field>_metadata`: {"successful","failed","total"}. */
cJSON *elements_metadata(const cJSON *results, unsigned failed);

/* A copy of a kept element as GET shows it: a `params.password` reads "***". */
cJSON *elements_shown(const cJSON *element);

#endif
