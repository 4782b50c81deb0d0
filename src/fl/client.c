/*
 * client — fl's REST calls (libcurl) and the mapping of replies to exit
 * codes and one-line errors.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl/fl.h"

enum { PROGRESS_MIN_BYTES = 1 << 20 }; /* smaller uploads finish before a bar helps */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct fl_reply *reply = arg;
    char *grown = realloc(reply->body, reply->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + reply->len, data, size * n);
    reply->body = grown;
    reply->len += size * n;
    grown[reply->len] = '\0';
    return size * n;
}

static int upload_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)arg, (void)dltotal, (void)dlnow;
    if (ultotal >= PROGRESS_MIN_BYTES)
        fprintf(stderr, "\rfl: uploading %3d%% of %.1f MB", (int)(ulnow * 100 / ultotal),
                (double)ultotal / 1e6);
    return 0;
}

static curl_mime *make_mime(CURL *curl, const struct fl_part *parts)
{
    curl_mime *mime = curl_mime_init(curl);
    for (const struct fl_part *p = parts; p->data; p++) {
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, p->name);
        curl_mime_data(part, p->data, p->len);
        if (p->filename) {
            curl_mime_filename(part, p->filename);
            curl_mime_type(part, "application/octet-stream");
        }
    }
    return mime;
}

int fl_call(const struct fl_ctx *ctx, const struct fl_request *req, struct fl_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "fl: cannot start the HTTP client\n");
        return FLX_NETWORK;
    }
    char url[1536], auth[300];
    size_t host_len = strlen(ctx->api_host);
    while (host_len > 0 && ctx->api_host[host_len - 1] == '/')
        host_len--;
    snprintf(url, sizeof(url), "%s%.*s%s", strstr(ctx->api_host, "://") ? "" : "http://",
             (int)host_len, ctx->api_host, req->path);
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    const char *token = req->admin ? ctx->admin_token : ctx->api_token;
    if (token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    curl_mime *mime = NULL;
    if (req->json) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->json);
    } else if (req->parts) {
        curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime = make_mime(curl, req->parts));
    }
    bool progress = req->progress && isatty(2);
    if (progress) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, upload_progress);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    if (progress)
        fprintf(stderr, "\r\033[K");
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    else
        fprintf(stderr, "fl: cannot reach the Core at %s: %s\n", ctx->api_host,
                curl_easy_strerror(rc));
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        fl_reply_free(reply);
        return FLX_NETWORK;
    }
    reply->json = reply->body ? cJSON_ParseWithLength(reply->body, reply->len) : NULL;
    if (reply->status == 401 || reply->status == 403)
        reply->hint = req->admin
                          ? "admin commands use the admin token: fl cfg set admin_token TOKEN, "
                            "FL_ADMIN_TOKEN or --admin-token"
                          : "set the token with fl cfg set api_token TOKEN, FL_API_TOKEN or "
                            "--api-token (funless dev does it for you)";
    return FLX_OK;
}

void fl_reply_free(struct fl_reply *reply)
{
    free(reply->body);
    cJSON_Delete(reply->json);
    memset(reply, 0, sizeof(*reply));
}

cJSON *fl_reply_data(const struct fl_reply *reply)
{
    return reply->status / 100 == 2 ? cJSON_GetObjectItemCaseSensitive(reply->json, "data") : NULL;
}

static int exit_code_of(long status, bool invoke)
{
    switch (status) {
    case 400:
    case 413:
        return FLX_REFUSED;
    case 401:
    case 403:
        return FLX_AUTH;
    case 404:
        return FLX_NOT_FOUND;
    case 409:
        return FLX_CONFLICT;
    case 422:
        return invoke ? FLX_FUNCTION : FLX_REFUSED;
    case 429:
    case 502:
    case 503:
        return FLX_UNAVAILABLE;
    case 500:
    case 504:
        return invoke ? FLX_FUNCTION : FLX_SERVER;
    default:
        return FLX_SERVER;
    }
}

/* FunLess's summary of an error body: its `detail`, or a changeset's first field and message
 * ("name has already been taken"); NULL when there is neither. */
static const char *funless_summary(const cJSON *errors, char *out, size_t len)
{
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(errors, "detail"));
    if (detail)
        return detail;
    const cJSON *field;
    cJSON_ArrayForEach(field, errors)
    {
        const char *message = cJSON_GetStringValue(cJSON_GetArrayItem(field, 0));
        if (message && strcmp(field->string, "reason") != 0) {
            snprintf(out, len, "%s %s", field->string, message);
            return out;
        }
    }
    return NULL;
}

int fl_reply_error(const struct fl_reply *reply, bool invoke)
{
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(reply->json, "errors");
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(errors, "reason"));
    char buf[256];
    const char *summary = funless_summary(errors, buf, sizeof(buf));
    /* the Core's own words first, with what to do when it is about the token; the last line
     * is FunLess's fl's ("fl: error: Not Found"), for scripts that read it */
    if (reason && (!summary || strcmp(reason, summary) != 0 || reply->hint)) {
        fprintf(stderr, "fl: %s", reason);
        if (reply->hint)
            fprintf(stderr, " (%s)", reply->hint);
        fputc('\n', stderr);
    }
    if (summary)
        fprintf(stderr, "fl: error: %s\n", summary);
    else if (!reason)
        fprintf(stderr, "fl: error: the Core answered HTTP %ld%s%.200s\n", reply->status,
                reply->len ? ": " : "", reply->len ? reply->body : "");
    if (reply->status == 422 && summary && strstr(summary, "has already been taken"))
        return FLX_CONFLICT; /* a taken name, in FunLess's changeset shape */
    return exit_code_of(reply->status, invoke);
}

int fl_expect(const struct fl_ctx *ctx, const struct fl_request *req, long want_status,
              struct fl_reply *reply)
{
    int rc = fl_call(ctx, req, reply);
    if (rc != FLX_OK)
        return rc;
    if (reply->status == want_status)
        return FLX_OK;
    rc = fl_reply_error(reply, false);
    fl_reply_free(reply);
    return rc;
}

void fl_escape(const char *segment, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)segment; *p && n + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '-' || *p == '.' || *p == '~') {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}
