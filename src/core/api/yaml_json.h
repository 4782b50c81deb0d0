/*
 * yaml_json — a YAML document (libyaml) as cJSON: mappings become objects,
 * sequences arrays, plain scalars numbers, booleans or null when they read
 * as such, everything else strings. Errors name the line.
 */
#ifndef FL_CORE_API_YAML_JSON_H
#define FL_CORE_API_YAML_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/err.h"

/* FL_ERR_INVALID_NAME (-> 422) with "line N: problem" for a malformed or empty document. */
enum fl_err yaml_to_json(const char *text, size_t len, cJSON **out, char *detail,
                         size_t detail_len);

#endif
