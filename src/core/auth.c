#include "core/auth.h"

#include <fcntl.h>
#include <nettle/memops.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/util.h"

struct subject {
    char *name;
    char hash[FL_HASH_HEX_BYTES];
    char previous[FL_HASH_HEX_BYTES]; /* "" none */
    int64_t previous_until_ms;
    int64_t expires_ms;
    bool admin;
    char created_at[32];
    char *quota;
};

/* A token hash's place in the lookup table: open addressing on its first 64 bits. */
struct slot {
    uint64_t key;
    struct subject *subject; /* NULL: empty */
    bool previous;           /* the subject's previous token */
};

struct auth {
    struct db *db;
    pthread_rwlock_t lock;   /* readers check tokens; a change swaps the table */
    pthread_mutex_t changes; /* one change at a time: the store, then memory */
    struct subject **subjects;
    size_t count;
    struct slot *table;
    size_t table_size; /* a power of two, at least twice the tokens */
};

static void auth_token_hash(const char *token, char hash[FL_HASH_HEX_BYTES])
{
    const void *parts[] = {token};
    size_t lens[] = {strlen(token)};
    fl_hash_hex(parts, lens, 1, hash);
}

static uint64_t auth_key(const char *hash)
{
    uint64_t key = 0;
    for (int i = 0; i < 16 && hash[i]; i++)
        key = key << 4 | (uint64_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return key;
}

static void auth_table_put(struct slot *table, size_t size, const char *hash, struct subject *s,
                           bool previous)
{
    uint64_t key = auth_key(hash);
    size_t i = (size_t)key & (size - 1);
    while (table[i].subject)
        i = (i + 1) & (size - 1);
    table[i] = (struct slot){key, s, previous};
}

/* Under the write lock: the table anew from the subjects (changes are rare). */
static bool auth_rebuild(struct auth *auth)
{
    size_t size = 16;
    while (size < 4 * (auth->count + 1))
        size *= 2;
    struct slot *table = calloc(size, sizeof(*table));
    if (!table)
        return false;
    for (size_t i = 0; i < auth->count; i++) {
        struct subject *s = auth->subjects[i];
        auth_table_put(table, size, s->hash, s, false);
        if (s->previous[0])
            auth_table_put(table, size, s->previous, s, true);
    }
    free(auth->table);
    auth->table = table;
    auth->table_size = size;
    return true;
}

static void subject_free(struct subject *s)
{
    if (s) {
        free(s->name);
        free(s->quota);
        free(s);
    }
}

static struct subject *subject_from_row(const struct db_subject *row)
{
    struct subject *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = strdup(row->name);
    s->quota = strdup(row->quota && *row->quota ? row->quota : "{}");
    if (!s->name || !s->quota) {
        subject_free(s);
        return NULL;
    }
    snprintf(s->hash, sizeof(s->hash), "%s", row->token_hash);
    snprintf(s->previous, sizeof(s->previous), "%s", row->previous_hash ? row->previous_hash : "");
    s->previous_until_ms = row->previous_until_ms;
    s->expires_ms = row->token_expires_ms;
    s->admin = row->admin;
    snprintf(s->created_at, sizeof(s->created_at), "%s", row->created_at);
    return s;
}

static struct db_subject subject_row(const struct subject *s)
{
    return (struct db_subject){s->name,       s->hash,     s->admin,
                               s->created_at, s->previous, s->previous_until_ms,
                               s->expires_ms, s->quota};
}

static ssize_t auth_find(struct auth *auth, const char *name)
{
    for (size_t i = 0; i < auth->count; i++)
        if (strcmp(auth->subjects[i]->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Adds or replaces (by name) under the write lock; takes `s`. */
static bool auth_install(struct auth *auth, struct subject *s)
{
    pthread_rwlock_wrlock(&auth->lock);
    ssize_t at = auth_find(auth, s->name);
    struct subject *old = NULL;
    bool ok = true;
    if (at >= 0) {
        old = auth->subjects[at];
        auth->subjects[at] = s;
    } else {
        struct subject **grown =
            realloc(auth->subjects, (auth->count + 1) * sizeof(*auth->subjects));
        ok = grown != NULL;
        if (ok) {
            auth->subjects = grown;
            auth->subjects[auth->count++] = s;
        }
    }
    if (ok && !auth_rebuild(auth)) { /* out of memory: refuse every token, never a stale one */
        memset(auth->table, 0, auth->table_size * sizeof(*auth->table));
        ok = false;
    }
    pthread_rwlock_unlock(&auth->lock);
    subject_free(old);
    if (!ok && at < 0)
        subject_free(s);
    return ok;
}

static void auth_load_row(void *arg, const struct db_subject *row)
{
    struct subject *s = subject_from_row(row);
    if (s)
        auth_install(arg, s);
}

static bool auth_new_token(char token[AUTH_TOKEN_CHARS + 1])
{
    unsigned char bytes[AUTH_TOKEN_CHARS / 2];
    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
        return false;
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(token + 2 * i, 3, "%02x", bytes[i]);
    return true;
}

/* First start: the admin and guest subjects, their tokens printed and saved. */
static enum fl_err auth_seed(struct auth *auth, const char *tokens_path, char *detail,
                             size_t detail_len)
{
    char admin[AUTH_TOKEN_CHARS + 1], guest[AUTH_TOKEN_CHARS + 1], now[32];
    fl_format_now_s(now);
    enum fl_err err = auth_create_subject(auth, "admin", true, 0, now, admin, detail, detail_len);
    if (err == FL_OK)
        err = auth_create_subject(auth, "guest", false, 0, now, guest, detail, detail_len);
    if (err != FL_OK)
        return err;
    int fd = open(tokens_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot write %s", tokens_path);
    }
    fprintf(f, "Admin=%s\nGuest=%s\n", admin, guest);
    fclose(f);
    printf("funless core: first start: created subjects admin and guest (tokens in %s)\n"
           "  Admin=%s\n  Guest=%s\n",
           tokens_path, admin, guest);
    fflush(stdout);
    return FL_OK;
}

enum fl_err auth_open(struct db *db, const char *tokens_path, struct auth **out, char *detail,
                      size_t detail_len)
{
    struct auth *auth = calloc(1, sizeof(*auth));
    if (!auth)
        return FL_ERR_NOMEM;
    auth->db = db;
    pthread_rwlock_init(&auth->lock, NULL);
    pthread_mutex_init(&auth->changes, NULL);
    enum fl_err err = auth_rebuild(auth) ? FL_OK : FL_ERR_NOMEM;
    if (err == FL_OK)
        err = db_subject_list(db, auth_load_row, auth, detail, detail_len);
    if (err == FL_OK && auth->count == 0)
        err = auth_seed(auth, tokens_path, detail, detail_len);
    if (err != FL_OK) {
        auth_free(auth);
        return err;
    }
    *out = auth;
    return FL_OK;
}

void auth_free(struct auth *auth)
{
    if (!auth)
        return;
    for (size_t i = 0; i < auth->count; i++)
        subject_free(auth->subjects[i]);
    free(auth->subjects);
    free(auth->table);
    pthread_rwlock_destroy(&auth->lock);
    pthread_mutex_destroy(&auth->changes);
    free(auth);
}

struct auth_identity auth_check(struct auth *auth, const char *token)
{
    struct auth_identity who = {AUTH_NONE, ""};
    if (!token || !*token)
        return who;
    char hash[FL_HASH_HEX_BYTES];
    auth_token_hash(token, hash);
    uint64_t key = auth_key(hash);
    int64_t now = fl_wall_ms();
    pthread_rwlock_rdlock(&auth->lock);
    size_t mask = auth->table_size - 1;
    for (size_t i = (size_t)key & mask; auth->table[i].subject; i = (i + 1) & mask) {
        const struct slot *slot = &auth->table[i];
        const struct subject *s = slot->subject;
        const char *stored = slot->previous ? s->previous : s->hash;
        if (slot->key != key || !memeql_sec(hash, stored, FL_HASH_HEX_BYTES - 1))
            continue;
        bool live =
            slot->previous ? now < s->previous_until_ms : s->expires_ms == 0 || now < s->expires_ms;
        if (live) {
            who.role = s->admin ? AUTH_ADMIN : AUTH_USER;
            snprintf(who.subject, sizeof(who.subject), "%s", s->name);
        }
        break;
    }
    pthread_rwlock_unlock(&auth->lock);
    return who;
}

enum fl_err auth_create_subject(struct auth *auth, const char *name, bool admin, int64_t expires_ms,
                                const char *now, char *token, char *detail, size_t detail_len)
{
    char hash[FL_HASH_HEX_BYTES];
    if (!auth_new_token(token))
        return fl_fail(FL_ERR_IO, detail, detail_len, "no randomness for a token");
    auth_token_hash(token, hash);
    struct db_subject row = {name, hash, admin, now, "", 0, expires_ms, "{}"};
    struct subject *s = subject_from_row(&row);
    if (!s)
        return FL_ERR_NOMEM;
    /* The store first, without the read lock: checking a token (on the Core's event loop)
     * never waits for a store's write. The store refuses a second subject of the same name. */
    pthread_mutex_lock(&auth->changes);
    enum fl_err err = db_subject_put(auth->db, &row, true, detail, detail_len);
    if (err == FL_OK && !auth_install(auth, s))
        err = FL_ERR_NOMEM;
    else if (err != FL_OK)
        subject_free(s);
    pthread_mutex_unlock(&auth->changes);
    return err;
}

/* A copy of subject `name` to change (under `changes`); NULL when there is none. */
static struct subject *auth_copy(struct auth *auth, const char *name)
{
    pthread_rwlock_rdlock(&auth->lock);
    ssize_t at = auth_find(auth, name);
    struct subject *copy = NULL;
    if (at >= 0) {
        struct db_subject row = subject_row(auth->subjects[at]);
        copy = subject_from_row(&row);
    }
    pthread_rwlock_unlock(&auth->lock);
    return copy;
}

/* Writes the changed copy `s` to the store, then to memory; takes `s`. */
static enum fl_err auth_commit(struct auth *auth, struct subject *s, char *detail,
                               size_t detail_len)
{
    struct db_subject row = subject_row(s);
    enum fl_err err = db_subject_put(auth->db, &row, false, detail, detail_len);
    if (err != FL_OK) {
        subject_free(s);
        return err;
    }
    return auth_install(auth, s) ? FL_OK : FL_ERR_NOMEM;
}

enum fl_err auth_rotate(struct auth *auth, const char *name, uint32_t grace_s, int64_t expires_ms,
                        char *token, char *detail, size_t detail_len)
{
    if (!auth_new_token(token))
        return fl_fail(FL_ERR_IO, detail, detail_len, "no randomness for a token");
    pthread_mutex_lock(&auth->changes);
    struct subject *s = auth_copy(auth, name);
    enum fl_err err = FL_OK;
    if (!s) {
        err = fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "no subject %s", name);
    } else {
        if (grace_s > 0) {
            memcpy(s->previous, s->hash, sizeof(s->previous));
            s->previous_until_ms = fl_wall_ms() + (int64_t)grace_s * 1000;
        } else {
            s->previous[0] = '\0';
            s->previous_until_ms = 0;
        }
        auth_token_hash(token, s->hash);
        s->expires_ms = expires_ms;
        err = auth_commit(auth, s, detail, detail_len);
    }
    pthread_mutex_unlock(&auth->changes);
    return err;
}

enum fl_err auth_set_quota(struct auth *auth, const char *name, const char *quota, char *detail,
                           size_t detail_len)
{
    pthread_mutex_lock(&auth->changes);
    struct subject *s = auth_copy(auth, name);
    char *copy = strdup(quota);
    enum fl_err err = FL_OK;
    if (!s || !copy) {
        free(copy);
        subject_free(s);
        err =
            s ? FL_ERR_NOMEM : fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "no subject %s", name);
    } else {
        free(s->quota);
        s->quota = copy;
        err = auth_commit(auth, s, detail, detail_len);
    }
    pthread_mutex_unlock(&auth->changes);
    return err;
}

static size_t auth_admins(struct auth *auth)
{
    size_t admins = 0;
    for (size_t i = 0; i < auth->count; i++)
        admins += auth->subjects[i]->admin;
    return admins;
}

enum fl_err auth_delete_subject(struct auth *auth, const char *name, char *detail,
                                size_t detail_len)
{
    pthread_mutex_lock(&auth->changes);
    pthread_rwlock_rdlock(&auth->lock);
    ssize_t at = auth_find(auth, name);
    bool last_admin = at >= 0 && auth->subjects[at]->admin && auth_admins(auth) == 1;
    pthread_rwlock_unlock(&auth->lock);
    enum fl_err err;
    if (at < 0)
        err = fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "no subject %s", name);
    else if (last_admin)
        err = fl_fail(FL_ERR_FORBIDDEN_OP, detail, detail_len,
                      "%s is the last admin: it cannot be deleted", name);
    else
        err = db_subject_delete(auth->db, name, detail, detail_len);
    if (err == FL_OK) {
        pthread_rwlock_wrlock(&auth->lock);
        at = auth_find(auth, name);
        struct subject *gone = auth->subjects[at];
        auth->subjects[at] = auth->subjects[--auth->count];
        if (!auth_rebuild(auth)) /* out of memory: refuse every token, never a stale one */
            memset(auth->table, 0, auth->table_size * sizeof(*auth->table));
        pthread_rwlock_unlock(&auth->lock);
        subject_free(gone);
    }
    pthread_mutex_unlock(&auth->changes);
    return err;
}

bool auth_subject_info(struct auth *auth, const char *name, struct auth_subject_info *out)
{
    pthread_rwlock_rdlock(&auth->lock);
    ssize_t at = auth_find(auth, name);
    if (at >= 0) {
        const struct subject *s = auth->subjects[at];
        out->admin = s->admin;
        snprintf(out->created_at, sizeof(out->created_at), "%s", s->created_at);
        out->token_expires_ms = s->expires_ms;
        out->previous_until_ms = s->previous[0] ? s->previous_until_ms : 0;
        out->quota = strdup(s->quota);
    }
    pthread_rwlock_unlock(&auth->lock);
    return at >= 0 && out->quota;
}

static int auth_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **auth_subjects(struct auth *auth, size_t *count)
{
    pthread_rwlock_rdlock(&auth->lock);
    char **names = calloc(auth->count + 1, sizeof(char *));
    *count = 0;
    for (size_t i = 0; names && i < auth->count; i++)
        if ((names[*count] = strdup(auth->subjects[i]->name)) != NULL)
            (*count)++;
    pthread_rwlock_unlock(&auth->lock);
    if (names)
        qsort(names, *count, sizeof(char *), auth_cmp);
    return names;
}
