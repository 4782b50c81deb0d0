/*
 * validate — the API's input rules: names and function metadata.
 */
#ifndef FL_CORE_API_VALIDATE_H
#define FL_CORE_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "core/catalogue.h"

#define META_DEFAULT_CAPACITY_MB 64
#define META_DEFAULT_TIMEOUT_MS 60000
#define META_MAX_TIMEOUT_MS 300000
#define META_MAX_CAPACITY_MB 4096

/* ^[_a-zA-Z0-9]{1,160}$ */
bool name_valid(const char *name);

/*
 * Parses the multipart `metadata` text ({"tag","capacity","timeout_ms"}):
 * FL_ERR_BAD_REQUEST if it is not a JSON object, FL_ERR_INVALID_NAME for a
 * field of the wrong type or out of range. NULL or empty text: the defaults.
 */
enum fl_err meta_parse(const char *text, size_t len, struct fn_meta *out, char *detail,
                       size_t detail_len);

/* The normalised JSON form (caller frees). */
char *meta_to_json(const struct fn_meta *meta);

#endif
