#include "core_process.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Reads lines of the child's stdout until the "listening on" line gives the port. */
static bool core_read_port(struct core_process *core, FILE *out)
{
    char line[512];
    while (fgets(line, sizeof(line), out)) {
        const char *at = strstr(line, "listening on http://");
        if (at) {
            const char *colon = strchr(at + 20, ':');
            core->port = colon ? (unsigned)atoi(colon + 1) : 0;
            return core->port != 0;
        }
    }
    return false;
}

static void core_read_tokens(struct core_process *core)
{
    char path[300], line[60];
    snprintf(path, sizeof(path), "%s/tokens", core->data_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "Admin=", 6) == 0)
            snprintf(core->admin_token, sizeof(core->admin_token), "%s", line + 6);
        if (strncmp(line, "Guest=", 6) == 0)
            snprintf(core->guest_token, sizeof(core->guest_token), "%s", line + 6);
    }
    if (f)
        fclose(f);
}

bool core_start(struct core_process *core, const char *funless, const char *data_dir,
                const char *db_url)
{
    return core_start_with(core, funless, data_dir, db_url, NULL);
}

bool core_start_with(struct core_process *core, const char *funless, const char *data_dir,
                     const char *db_url, const char *workers)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return false;
    snprintf(core->data_dir, sizeof(core->data_dir), "%s", data_dir);
    core->pid = fork();
    if (core->pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        const char *argv[12] = {funless, "core", "--listen", "127.0.0.1:0", "--data-dir", data_dir};
        int n = 6;
        if (db_url) {
            argv[n++] = "--db";
            argv[n++] = db_url;
        }
        if (workers) {
            argv[n++] = "--workers";
            argv[n++] = workers;
        }
        argv[n] = NULL;
        execv(funless, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *out = fdopen(pipefd[0], "r");
    bool ok = out && core_read_port(core, out);
    if (out)
        fclose(out); /* the core's later output goes to a closed pipe: it ignores SIGPIPE */
    snprintf(core->url, sizeof(core->url), "http://127.0.0.1:%u", core->port);
    core_read_tokens(core);
    if (!ok)
        core_stop(core, true);
    return ok;
}

int core_stop(struct core_process *core, bool kill9)
{
    int status = -1;
    if (core->pid <= 0)
        return status;
    kill(core->pid, kill9 ? SIGKILL : SIGTERM);
    waitpid(core->pid, &status, 0);
    core->pid = 0;
    return status;
}

static size_t http_collect(char *data, size_t size, size_t n, void *arg)
{
    struct http_reply *reply = arg;
    char *grown = realloc(reply->body, reply->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + reply->len, data, size * n);
    reply->body = grown;
    reply->len += size * n;
    reply->body[reply->len] = '\0';
    return size * n;
}

bool http_expect_continue;

static struct http_reply http_perform(CURL *curl, const struct core_process *core,
                                      const char *method, const char *path, const char *token,
                                      struct curl_slist *headers)
{
    struct http_reply reply = {0};
    char url[512], auth[128];
    snprintf(url, sizeof(url), "%s%s", core->url, path);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    headers = curl_slist_append(headers, http_expect_continue ? "Expect: 100-continue" : "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    /* with http_expect_continue, a body waits for "100 Continue" (or the early refusal that
     * replaces it) this long before it is sent anyway: a slow Core (ThreadSanitizer) must not
     * make curl race its own upload against the 413 that closes the connection */
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    struct curl_header *worker;
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
        if (curl_easy_header(curl, "X-Funless-Worker", 0, CURLH_HEADER, -1, &worker) == CURLHE_OK)
            snprintf(reply.worker, sizeof(reply.worker), "%s", worker->value);
    }
    if (!reply.body)
        reply.body = calloc(1, 1);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return reply;
}

struct http_reply http_call(const struct core_process *core, const char *method, const char *path,
                            const char *token, const char *json)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (json) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    }
    return http_perform(curl, core, method, path, token, headers);
}

struct http_reply http_form(const struct core_process *core, const char *method, const char *path,
                            const char *token, const struct form_field *fields)
{
    CURL *curl = curl_easy_init();
    curl_mime *mime = curl_mime_init(curl);
    for (const struct form_field *f = fields; f->name; f++) {
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, f->name);
        curl_mime_data(part, f->data, f->len);
        if (f->is_file)
            curl_mime_filename(part, "function.wasm");
    }
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    struct http_reply reply = http_perform(curl, core, method, path, token, NULL);
    curl_mime_free(mime);
    return reply;
}

struct http_reply http_raw(const struct core_process *core, const char *method, const char *path,
                           const char *token, const char *content_type, const void *body,
                           size_t len)
{
    CURL *curl = curl_easy_init();
    char header[256];
    snprintf(header, sizeof(header), "Content-Type: %s", content_type);
    struct curl_slist *headers = curl_slist_append(NULL, header);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    return http_perform(curl, core, method, path, token, headers);
}

void http_reply_free(struct http_reply *reply)
{
    free(reply->body);
    reply->body = NULL;
}

bool worker_start(struct worker_process *w, const char *funless, const char *name,
                  const char *cache_dir, unsigned port, unsigned threads, unsigned queue)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return false;
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->cache_dir, sizeof(w->cache_dir), "%s", cache_dir);
    char listen[64], threads_text[16], queue_text[16];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(threads_text, sizeof(threads_text), "%u", threads);
    snprintf(queue_text, sizeof(queue_text), "%u", queue);
    w->pid = fork();
    if (w->pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(funless, funless, "worker", "--name", name, "--listen", listen, "--metrics",
              "127.0.0.1:0", "--cache-dir", cache_dir, "--threads", threads_text, "--queue",
              queue_text, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *out = fdopen(pipefd[0], "r");
    char line[512];
    bool ok = false;
    while (out && !ok && fgets(line, sizeof(line), out)) {
        const char *at = strstr(line, "listening on 127.0.0.1:");
        const char *metrics = strstr(line, "metrics on port ");
        if (at && metrics) {
            w->port = (unsigned)atoi(at + 23);
            w->metrics_port = (unsigned)atoi(metrics + 16);
            ok = true;
        }
    }
    if (out)
        fclose(out);
    if (!ok)
        worker_stop(w, true);
    return ok;
}

void worker_stop(struct worker_process *w, bool kill9)
{
    if (w->pid <= 0)
        return;
    kill(w->pid, kill9 ? SIGKILL : SIGTERM);
    waitpid(w->pid, NULL, 0);
    w->pid = 0;
}

char *worker_metrics(const struct worker_process *w)
{
    struct core_process fake = {0};
    snprintf(fake.url, sizeof(fake.url), "http://127.0.0.1:%u", w->metrics_port);
    struct http_reply r = http_call(&fake, "GET", "/metrics", NULL, NULL);
    return r.body;
}

bool http_reply_is(struct http_reply r, long status, const char *needle)
{
    bool ok = r.status == status && (!needle || strstr(r.body, needle));
    if (!ok)
        fprintf(stderr, "got %ld %s\nwant %ld with %s\n", r.status, r.body, status,
                needle ? needle : "-");
    http_reply_free(&r);
    return ok;
}
