/*
 * auth — subjects and their bearer tokens (docs/tenants.md).
 *
 * Tokens are 192 random bits (hex), shown once at creation or rotation and stored only as their
 * SHA3-256. A presented token is hashed and looked up in a hash table keyed by that hash (O(1)
 * whatever the number of subjects); the one candidate found is compared in full in constant
 * time. The lookup's timing depends only on the hash of the token presented, which an attacker
 * already knows, never on a stored token.
 *
 * A subject has one token, and after a rotation with a grace period its previous token too,
 * until the grace ends; a token may expire. The in-memory table mirrors the store, which is
 * written first. Threading: a reader-writer lock inside.
 */
#ifndef FL_CORE_AUTH_H
#define FL_CORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/catalogue.h"
#include "core/db/db.h"

#define AUTH_TOKEN_CHARS 48

struct auth;

/* Loads the subjects; on a first start creates `admin` and `guest`, prints their
 * tokens and writes them to `tokens_path` (mode 0600, FunLess's Admin=/Guest= lines). */
enum fl_err auth_open(struct db *db, const char *tokens_path, struct auth **out, char *detail,
                      size_t detail_len);
void auth_free(struct auth *auth);

enum auth_role { AUTH_NONE = 0, AUTH_USER, AUTH_ADMIN };

/* Who presents a token. */
struct auth_identity {
    enum auth_role role;
    char subject[FL_NAME_MAX + 1]; /* "" for AUTH_NONE */
};

/* The bearer of `token` (NULL, unknown, expired or past its grace: AUTH_NONE). */
struct auth_identity auth_check(struct auth *auth, const char *token);

/* Creates a subject; `token` receives its token (AUTH_TOKEN_CHARS + 1 bytes). `expires_ms`: 0
 * for a token that does not expire, else when it stops (ms since the epoch). */
enum fl_err auth_create_subject(struct auth *auth, const char *name, bool admin, int64_t expires_ms,
                                const char *now, char *token, char *detail, size_t detail_len);

/* A new token for `name`; the previous one keeps working for `grace_s` seconds (0: stops at
 * once). FL_ERR_NOT_FOUND for an unknown subject. */
enum fl_err auth_rotate(struct auth *auth, const char *name, uint32_t grace_s, int64_t expires_ms,
                        char *token, char *detail, size_t detail_len);

/* Deletes a subject: its tokens stop at once. The last admin cannot be deleted
 * (FL_ERR_FORBIDDEN_OP). */
enum fl_err auth_delete_subject(struct auth *auth, const char *name, char *detail,
                                size_t detail_len);

/* Replaces a subject's quota (a JSON object, core/quota). */
enum fl_err auth_set_quota(struct auth *auth, const char *name, const char *quota, char *detail,
                           size_t detail_len);

/* What GET /v1/admin/subjects/{name} shows (never a token or its hash). */
struct auth_subject_info {
    bool admin;
    char created_at[32];
    int64_t token_expires_ms;  /* 0: never */
    int64_t previous_until_ms; /* 0: no previous token */
    char *quota;               /* JSON object; the caller frees it */
};
bool auth_subject_info(struct auth *auth, const char *name, struct auth_subject_info *out);

/* Sorted subject names (caller frees the array and the strings). */
char **auth_subjects(struct auth *auth, size_t *count);

#endif
