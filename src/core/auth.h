/*
 * auth — subjects and their bearer tokens.
 *
 * Tokens are 192 random bits (hex), shown once at creation and stored only
 * as their SHA3-256; a presented token is hashed and compared, in constant
 * time, with every known hash. The in-memory table mirrors the store.
 * Threading: a reader-writer lock inside.
 */
#ifndef FL_CORE_AUTH_H
#define FL_CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "core/db/db.h"

#define AUTH_TOKEN_CHARS 48

struct auth;

/* Loads the subjects; on a first start creates `admin` and `guest`, prints their
 * tokens and writes them to `tokens_path` (mode 0600, FunLess's Admin=/Guest= lines). */
enum fl_err auth_open(struct db *db, const char *tokens_path, struct auth **out, char *detail,
                      size_t detail_len);
void auth_free(struct auth *auth);

enum auth_role { AUTH_NONE = 0, AUTH_USER, AUTH_ADMIN };
/* The role of the bearer of `token` (NULL or unknown: AUTH_NONE). */
enum auth_role auth_check(struct auth *auth, const char *token);

/* Creates a user subject; `token` receives its token (AUTH_TOKEN_CHARS + 1 bytes). */
enum fl_err auth_create_subject(struct auth *auth, const char *name, bool admin, const char *now,
                                char *token, char *detail, size_t detail_len);
/* Sorted subject names (caller frees the array and the strings). */
char **auth_subjects(struct auth *auth, size_t *count);

#endif
