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

struct subject {
    char *name;
    char hash[FL_HASH_HEX_BYTES];
    bool admin;
};

struct auth {
    struct db *db;
    pthread_rwlock_t lock;
    struct subject *subjects;
    size_t count;
};

static void auth_token_hash(const char *token, char hash[FL_HASH_HEX_BYTES])
{
    const void *parts[] = {token};
    size_t lens[] = {strlen(token)};
    fl_hash_hex(parts, lens, 1, hash);
}

static bool auth_add(struct auth *auth, const char *name, const char *hash, bool admin)
{
    struct subject *grown = realloc(auth->subjects, (auth->count + 1) * sizeof(*grown));
    if (!grown)
        return false;
    auth->subjects = grown;
    struct subject *s = &auth->subjects[auth->count];
    s->name = strdup(name);
    if (!s->name)
        return false;
    snprintf(s->hash, sizeof(s->hash), "%s", hash);
    s->admin = admin;
    auth->count++;
    return true;
}

static void auth_load_row(void *arg, const struct db_subject *row)
{
    auth_add(arg, row->name, row->token_hash, row->admin);
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

static void auth_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* First start: the admin and guest subjects, their tokens printed and saved. */
static enum fl_err auth_seed(struct auth *auth, const char *tokens_path, char *detail,
                             size_t detail_len)
{
    char admin[AUTH_TOKEN_CHARS + 1], guest[AUTH_TOKEN_CHARS + 1], now[32];
    auth_now(now);
    enum fl_err err = auth_create_subject(auth, "admin", true, now, admin, detail, detail_len);
    if (err == FL_OK)
        err = auth_create_subject(auth, "guest", false, now, guest, detail, detail_len);
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
    enum fl_err err = db->ops->subject_list(db, auth_load_row, auth, detail, detail_len);
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
        free(auth->subjects[i].name);
    free(auth->subjects);
    pthread_rwlock_destroy(&auth->lock);
    free(auth);
}

enum auth_role auth_check(struct auth *auth, const char *token)
{
    if (!token || !*token)
        return AUTH_NONE;
    char hash[FL_HASH_HEX_BYTES];
    auth_token_hash(token, hash);
    enum auth_role role = AUTH_NONE;
    pthread_rwlock_rdlock(&auth->lock);
    /* compare against every subject, each in constant time: no early exit */
    for (size_t i = 0; i < auth->count; i++)
        if (memeql_sec(hash, auth->subjects[i].hash, FL_HASH_HEX_BYTES - 1))
            role = auth->subjects[i].admin ? AUTH_ADMIN : AUTH_USER;
    pthread_rwlock_unlock(&auth->lock);
    return role;
}

enum fl_err auth_create_subject(struct auth *auth, const char *name, bool admin, const char *now,
                                char *token, char *detail, size_t detail_len)
{
    char hash[FL_HASH_HEX_BYTES];
    if (!auth_new_token(token))
        return fl_fail(FL_ERR_IO, detail, detail_len, "no randomness for a token");
    auth_token_hash(token, hash);
    struct db_subject row = {name, hash, admin, now};
    /* The store first, without the lock: checking a token (on the Core's event loop) must not
     * wait for a store's write. The store refuses a second subject of the same name. */
    enum fl_err err = auth->db->ops->subject_create(auth->db, &row, detail, detail_len);
    if (err != FL_OK)
        return err;
    pthread_rwlock_wrlock(&auth->lock);
    bool added = auth_add(auth, name, hash, admin);
    pthread_rwlock_unlock(&auth->lock);
    return added ? FL_OK : FL_ERR_NOMEM;
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
        if ((names[*count] = strdup(auth->subjects[i].name)) != NULL)
            (*count)++;
    pthread_rwlock_unlock(&auth->lock);
    if (names)
        qsort(names, *count, sizeof(char *), auth_cmp);
    return names;
}
