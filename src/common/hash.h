/*
 * hash — SHA3-256, the content hash of funless (stored code, cache keys).
 */
#ifndef FL_COMMON_HASH_H
#define FL_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FL_HASH_BYTES 32
#define FL_HASH_HEX_BYTES 65 /* 64 hex digits and the NUL */

/* SHA3-256 over the concatenation of `count` byte ranges, as lowercase hex. */
void fl_hash_hex(const void *const parts[], const size_t lens[], size_t count,
                 char hex[FL_HASH_HEX_BYTES]);

#endif
