/*
 * err — the one error convention of funless.
 *
 * Every fallible function returns an `enum fl_err`; when a caller wants the
 * details it passes a `char *detail, size_t detail_len` buffer that the callee
 * fills with one human sentence (never with payloads or secrets).
 * The Core's HTTP layer maps these codes to statuses in one table (core/http/status.c).
 */
#ifndef FL_COMMON_ERR_H
#define FL_COMMON_ERR_H

#include <stddef.h>

enum fl_err {
    FL_OK = 0,
    FL_ERR_NOMEM,          /* allocation failed */
    FL_ERR_IO,             /* file system or process error on the host */
    FL_ERR_INVALID_ARG,    /* a caller passed something unusable */
    FL_ERR_NOT_WASM,       /* bytes are not a WebAssembly binary */
    FL_ERR_INVALID_WASM,   /* malformed or failing validation */
    FL_ERR_UNSUPPORTED,    /* valid Wasm using a feature we refuse (SIMD, threads...) */
    FL_ERR_UNKNOWN_IMPORT, /* an import the host does not provide with that signature */
    FL_ERR_NO_ENTRY,       /* neither __invoke nor _start exported */
    FL_ERR_MEMORY_LIMIT,   /* initial memory larger than the allowed cap */
    FL_ERR_COMPILE,        /* translation or C compilation failed */
    FL_ERR_FUNCTION,       /* the function reported an error (rc 1, non-zero exit) */
    FL_ERR_TRAP,           /* the function trapped */
    FL_ERR_TIMEOUT,        /* the function exceeded its time limit */
    FL_ERR_BAD_OUTPUT,     /* result not valid JSON, or too large */
    FL_ERR_BAD_REQUEST,    /* malformed JSON or multipart, a missing field */
    FL_ERR_INVALID_NAME,   /* a name outside ^[_a-zA-Z0-9]{1,160}$, or a bad field value */
    FL_ERR_NOT_FOUND,      /* no such module, function, script, subject or route */
    FL_ERR_EXISTS,         /* the name is taken */
    FL_ERR_FORBIDDEN_OP,   /* an operation that is never allowed (deleting module _) */
    FL_ERR_TOO_LARGE,      /* a body past its bound */
    FL_ERR_UNAUTHORIZED,   /* missing or unknown token */
    FL_ERR_FORBIDDEN,      /* a valid token without the right (admin) */
    FL_ERR_METHOD,         /* wrong method on a known route */
    FL_ERR_STORE,          /* the database failed */
    FL_ERR_UNAVAILABLE,    /* no worker, or the service is shutting down */
    FL_ERR_STORE_DOWN,     /* the database cannot be reached (PostgreSQL down) */
    FL_ERR_STORE_FULL,     /* the database's disk is full */
    FL_ERR_BUSY,           /* every Worker that could run the call is full */
    FL_ERR_WORKER_LOST,    /* the Worker died, disconnected or fell silent during the call */
    FL_ERR_CANCELLED,      /* the caller no longer wanted the outcome (its client went away) */
    FL_ERR__COUNT
};

/* The codes travel between Core and Worker (RESULT and ACK frames carry them): their values are
 * the protocol's. A new code goes last; none is ever renumbered. */
_Static_assert(FL_ERR_TIMEOUT == 13, "fl_err values are on the wire");
_Static_assert(FL_ERR_BAD_OUTPUT == 14, "fl_err values are on the wire");
_Static_assert(FL_ERR_UNAVAILABLE == 25, "fl_err values are on the wire");
_Static_assert(FL_ERR_STORE_FULL == 27, "fl_err values are on the wire");
_Static_assert(FL_ERR_CANCELLED == 30 && FL_ERR__COUNT == 31, "a new code goes last");

/* A stable, short English description of an error code. */
const char *fl_strerror(enum fl_err err);

/* Fills `detail` (if not NULL) with a printf-formatted sentence and returns `err`. */
enum fl_err fl_fail(enum fl_err err, char *detail, size_t detail_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
