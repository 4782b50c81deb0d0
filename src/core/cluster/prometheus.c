#include "core/cluster/prometheus.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"

enum { POLL_MS = 1000, REPLY_MAX = 4 << 20, TIMEOUT_MS = 2000 };

struct prometheus_source {
    char url[512];
    struct cluster *cluster;
    pthread_t thread;
    atomic_bool stopping;
    char last_error[256]; /* logged when it changes, not every second */
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    return fl_buf_append(arg, data, size * n) ? size * n : 0;
}

/* GET /api/v1/query?query=METRIC; the `result` array of a successful vector answer, or NULL. */
static cJSON *query(struct prometheus_source *p, const char *metric, char *error, size_t len)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/api/v1/query?query=%s", p->url, metric);
    struct fl_buf body;
    fl_buf_init(&body, REPLY_MAX);
    CURL *curl = curl_easy_init();
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(curl);
    }
    cJSON *reply = rc == CURLE_OK && status == 200 && body.data
                       ? cJSON_ParseWithLength(body.data, body.len)
                       : NULL;
    fl_buf_deinit(&body);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(reply, "status");
    cJSON *result =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reply, "data"), "result");
    if (!cJSON_IsString(state) || strcmp(state->valuestring, "success") != 0 ||
        !cJSON_IsArray(result)) {
        snprintf(error, len, "%s", rc != CURLE_OK ? curl_easy_strerror(rc) : "not a vector answer");
        cJSON_Delete(reply);
        return NULL;
    }
    cJSON *detached =
        cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(reply, "data"), result);
    cJSON_Delete(reply);
    return detached;
}

/* The sample of `node` in a result vector, or a negative number. */
static double sample_of(const cJSON *result, const char *node)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, result)
    {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(item, "metric"), "node");
        const cJSON *value = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(item, "value"), 1);
        if (cJSON_IsString(label) && strcmp(label->valuestring, node) == 0 && cJSON_IsString(value))
            return strtod(value->valuestring, NULL);
    }
    return -1;
}

static void poll_once(struct prometheus_source *p)
{
    char error[256] = "";
    cJSON *available =
        query(p, "worker_prom_ex_os_mon_resources_available_mem", error, sizeof(error));
    cJSON *total = available
                       ? query(p, "worker_prom_ex_os_mon_resources_total_mem", error, sizeof(error))
                       : NULL;
    cJSON *load =
        total ? query(p, "worker_prom_ex_os_mon_resources_load_avg1", error, sizeof(error)) : NULL;
    if (strcmp(error, p->last_error) != 0)
        fl_log(error[0] ? FL_LOG_WARN : FL_LOG_INFO,
               error[0] ? "prometheus_failed" : "prometheus_ok", "url=%s error=%s", p->url, error);
    snprintf(p->last_error, sizeof(p->last_error), "%s", error);
    if (load) {
        const cJSON *item;
        cJSON_ArrayForEach(item, available)
        {
            const cJSON *node = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(item, "metric"), "node");
            if (!cJSON_IsString(node))
                continue;
            double free_mem = sample_of(available, node->valuestring);
            double total_mem = sample_of(total, node->valuestring);
            double load1 = sample_of(load, node->valuestring);
            if (free_mem >= 0 && total_mem > 0)
                cluster_set_load(p->cluster, node->valuestring, (uint64_t)free_mem,
                                 (uint64_t)total_mem, load1 >= 0 ? load1 : 0);
        }
    }
    cJSON_Delete(available);
    cJSON_Delete(total);
    cJSON_Delete(load);
}

static void *prometheus_thread(void *arg)
{
    struct prometheus_source *p = arg;
    while (!atomic_load(&p->stopping)) {
        poll_once(p);
        for (int slept = 0; slept < POLL_MS && !atomic_load(&p->stopping); slept += 50)
            usleep(50 * 1000);
    }
    return NULL;
}

enum fl_err prometheus_start(const char *url, struct cluster *cluster,
                             struct prometheus_source **out, char *detail, size_t detail_len)
{
    *out = NULL;
    if (!url || !url[0])
        return FL_OK;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                       "--prometheus-url takes http://HOST:PORT, not '%s'", url);
    struct prometheus_source *p = calloc(1, sizeof(*p));
    if (!p)
        return FL_ERR_NOMEM;
    snprintf(p->url, sizeof(p->url), "%s", url);
    size_t n = strlen(p->url);
    while (n > 0 && p->url[n - 1] == '/')
        p->url[--n] = '\0';
    p->cluster = cluster;
    snprintf(p->last_error, sizeof(p->last_error), "(not asked yet)");
    cluster_load_from_heartbeats(cluster, false);
    if (pthread_create(&p->thread, NULL, prometheus_thread, p) != 0) {
        free(p);
        return FL_ERR_NOMEM;
    }
    *out = p;
    return FL_OK;
}

void prometheus_stop(struct prometheus_source *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    pthread_join(p->thread, NULL);
    free(p);
}
