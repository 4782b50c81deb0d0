#include "engine/http_out.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"

enum { NAME_MAX_LEN = 253, REDIRECTS_MAX = 5, HEADER_LINE_MAX = 8192 };

enum entry_kind { ENTRY_NAME, ENTRY_NAME_PORT, ENTRY_SUFFIX, ENTRY_NET };

struct entry {
    enum entry_kind kind;
    char name[NAME_MAX_LEN + 2]; /* ENTRY_SUFFIX: ".example.com" */
    unsigned port;
    int family; /* ENTRY_NET: AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct http_allow {
    size_t count;
    struct entry entries[];
};

/* ---- the allow-list ---- */

static bool name_ok(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= NAME_MAX_LEN &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") == len && name[0] != '.';
}

/* An address (no brackets) into family and bytes. */
static bool parse_address(const char *text, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

static bool parse_entry(char *item, struct entry *e)
{
    memset(e, 0, sizeof(*e));
    for (char *p = item; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    char *slash = strchr(item, '/');
    if (slash) { /* a network */
        *slash = '\0';
        char *end;
        unsigned long prefix = strtoul(slash + 1, &end, 10);
        e->kind = ENTRY_NET;
        e->prefix = (unsigned)prefix;
        return slash[1] && !*end && parse_address(item, &e->family, e->addr) &&
               prefix <= (e->family == AF_INET ? 32u : 128u);
    }
    if (item[0] == '[') { /* [v6] */
        size_t len = strlen(item);
        if (len < 3 || item[len - 1] != ']')
            return false;
        item[len - 1] = '\0';
        e->kind = ENTRY_NET;
        return parse_address(item + 1, &e->family, e->addr) && e->family == AF_INET6 &&
               (e->prefix = 128);
    }
    if (parse_address(item, &e->family, e->addr)) {
        e->kind = ENTRY_NET;
        e->prefix = e->family == AF_INET ? 32 : 128;
        return true;
    }
    if (strncmp(item, "*.", 2) == 0) {
        e->kind = ENTRY_SUFFIX;
        snprintf(e->name, sizeof(e->name), "%s", item + 1);
        return name_ok(item + 2);
    }
    char *colon = strchr(item, ':');
    if (colon) {
        *colon = '\0';
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        e->kind = ENTRY_NAME_PORT;
        e->port = (unsigned)port;
        if (!colon[1] || *end || port < 1 || port > 65535)
            return false;
    }
    snprintf(e->name, sizeof(e->name), "%s", item);
    return name_ok(item);
}

enum fl_err http_allow_parse(const char *list, struct http_allow **out, char *detail,
                             size_t detail_len)
{
    *out = NULL;
    size_t n = 0;
    for (const char *p = list ? list : ""; *p; p++)
        n += *p == ',';
    struct http_allow *allow = calloc(1, sizeof(*allow) + (n + 1) * sizeof(struct entry));
    char *copy = strdup(list ? list : "");
    if (!allow || !copy) {
        free(allow);
        free(copy);
        return FL_ERR_NOMEM;
    }
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t len = strlen(item);
        while (len && item[len - 1] == ' ')
            item[--len] = '\0';
        if (!len)
            continue;
        char shown[64];
        snprintf(shown, sizeof(shown), "%s", item);
        if (!parse_entry(item, &allow->entries[allow->count])) {
            free(copy);
            free(allow);
            return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                           "--http-allow: '%s' is not a host, host:port, *.domain, an address or "
                           "a network (a.b.c.d/n)",
                           shown);
        }
        allow->count++;
    }
    free(copy);
    *out = allow;
    return FL_OK;
}

void http_allow_free(struct http_allow *allow)
{
    free(allow);
}

static bool net_contains(const struct entry *e, int family, const uint8_t addr[16])
{
    if (e->kind != ENTRY_NET || e->family != family)
        return false;
    unsigned full = e->prefix / 8, rest = e->prefix % 8;
    if (memcmp(e->addr, addr, full) != 0)
        return false;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (e->addr[full] & mask) == (addr[full] & mask);
}

/* Is the address listed by an address or network entry? */
static bool address_listed(const struct http_allow *allow, int family, const uint8_t addr[16])
{
    for (size_t i = 0; i < allow->count; i++)
        if (net_contains(&allow->entries[i], family, addr))
            return true;
    return false;
}

/* May a URL name this host (and port)? A literal address must be listed as one. */
static bool host_allowed(const struct http_allow *allow, const char *host, unsigned port)
{
    char bare[NAME_MAX_LEN + 2];
    size_t len = strlen(host);
    if (host[0] == '[' && len > 2 && host[len - 1] == ']')
        snprintf(bare, sizeof(bare), "%.*s", (int)(len - 2), host + 1);
    else
        snprintf(bare, sizeof(bare), "%s", host);
    int family;
    uint8_t addr[16];
    if (parse_address(bare, &family, addr))
        return address_listed(allow, family, addr);
    for (size_t i = 0; i < allow->count; i++) {
        const struct entry *e = &allow->entries[i];
        size_t suffix = strlen(e->name), n = strlen(bare);
        if ((e->kind == ENTRY_NAME && strcmp(e->name, bare) == 0) ||
            (e->kind == ENTRY_NAME_PORT && strcmp(e->name, bare) == 0 && e->port == port) ||
            (e->kind == ENTRY_SUFFIX && n > suffix && strcmp(bare + n - suffix, e->name) == 0))
            return true;
    }
    return false;
}

/* ---- addresses a name may not lead to ---- */

static bool in_net(int family, const uint8_t *addr, const char *net, unsigned prefix)
{
    struct entry e = {.kind = ENTRY_NET, .prefix = prefix};
    return parse_address(net, &e.family, e.addr) && net_contains(&e, family, addr);
}

/* Loopback, private, link-local, unspecified, multicast, broadcast, shared (CGNAT), IPv6 ULA
 * and site-local, and IPv4 behind an IPv4-mapped IPv6 address. */
static bool address_special(int family, const uint8_t addr[16])
{
    static const struct {
        const char *net;
        unsigned prefix;
    } v4[] = {{"0.0.0.0", 8},      {"10.0.0.0", 8},    {"100.64.0.0", 10}, {"127.0.0.0", 8},
              {"169.254.0.0", 16}, {"172.16.0.0", 12}, {"192.0.0.0", 24},  {"192.168.0.0", 16},
              {"198.18.0.0", 15},  {"224.0.0.0", 4},   {"240.0.0.0", 4}},
      v6[] = {{"::", 128},    {"::1", 128},  {"fc00::", 7},    {"fe80::", 10},
              {"fec0::", 10}, {"ff00::", 8}, {"64:ff9b::", 96}};
    if (family == AF_INET6 && in_net(AF_INET6, addr, "::ffff:0.0.0.0", 96)) {
        uint8_t mapped[16] = {0};
        memcpy(mapped, addr + 12, 4);
        return address_special(AF_INET, mapped);
    }
    if (family == AF_INET) {
        for (size_t i = 0; i < ARRAY_SIZE(v4); i++)
            if (in_net(AF_INET, addr, v4[i].net, v4[i].prefix))
                return true;
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(v6); i++)
        if (in_net(AF_INET6, addr, v6[i].net, v6[i].prefix))
            return true;
    return false;
}

/* One of this machine's own addresses. */
static bool address_own(int family, const uint8_t addr[16])
{
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0)
        return true; /* cannot tell: treated as own (refused unless listed) */
    bool own = false;
    for (struct ifaddrs *i = list; i && !own; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family)
            continue;
        const void *a = family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)i->ifa_addr)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
        own = memcmp(a, addr, family == AF_INET ? 4 : 16) == 0;
    }
    freeifaddrs(list);
    return own;
}

/* ---- the request ---- */

struct transfer {
    const struct http_allow *allow, *narrow;
    size_t max;
    char *body;
    size_t len;
    bool too_large, refused_address;
    char refused[INET6_ADDRSTRLEN];
};

/* At connect time, for every address tried: a listed name may still not lead to a special
 * address (DNS rebinding, or a name someone points at 127.0.0.1). */
static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct transfer *t = arg;
    (void)purpose;
    uint8_t addr[16] = {0};
    int family = a->family;
    if (family == AF_INET)
        memcpy(addr, &((struct sockaddr_in *)&a->addr)->sin_addr, 4);
    else if (family == AF_INET6)
        memcpy(addr, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, 16);
    else
        return CURL_SOCKET_BAD;
    if ((address_special(family, addr) || address_own(family, addr)) &&
        (!address_listed(t->allow, family, addr) ||
         (t->narrow && !address_listed(t->narrow, family, addr)))) {
        t->refused_address = true;
        inet_ntop(family, addr, t->refused, sizeof(t->refused));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t keep_body(char *data, size_t size, size_t count, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * count;
    if (t->len + n > t->max) {
        t->too_large = true;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(t->body, t->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + t->len, data, n);
    t->body = grown;
    t->len += n;
    return n;
}

/* "K:V\nK2:V2" as curl's header list; false when a line is not a header. */
static bool headers_of(const char *text, size_t len, struct curl_slist **out)
{
    *out = NULL;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        at += n + 1;
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line || n > HEADER_LINE_MAX || memchr(line, '\r', n) ||
            memchr(line, '\0', n))
            return false;
        char header[HEADER_LINE_MAX + 3];
        size_t name_len = (size_t)(colon - line);
        const char *value = colon + 1;
        while (value < line + n && *value == ' ')
            value++;
        snprintf(header, sizeof(header), "%.*s: %.*s", (int)name_len, line, (int)(line + n - value),
                 value);
        struct curl_slist *grown = curl_slist_append(*out, header);
        if (!grown)
            return false;
        *out = grown;
    }
    return true;
}

static void refuse(struct http_out_response *r, const char *fmt, const char *what)
{
    r->status = 0;
    snprintf(r->why, sizeof(r->why), fmt, what);
}

/* The URL's host and port, when it is http(s) and its host may be named (by the Worker's list
 * and the function's, if it has one). */
static bool url_allowed(const struct http_allow *allow, const struct http_allow *narrow,
                        const char *url, struct http_out_response *r)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool parsed = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                  curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    bool ok = false;
    if (!parsed || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        refuse(r, "refused: %s", "only http:// and https:// URLs");
    else if (!(ok = host_allowed(allow, host, (unsigned)atoi(port))))
        refuse(r, "refused: %.120s is not in the Worker's --http-allow", host);
    else if (narrow && !(ok = host_allowed(narrow, host, (unsigned)atoi(port))))
        refuse(r, "refused: %.120s is not in the function's metadata.http_allow", host);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static long remaining_ms(uint64_t deadline_ns)
{
    if (!deadline_ns)
        return 0; /* no limit: curl's 0 */
    uint64_t now = fl_now_ns();
    /* past the limit by a little: the time limit, not curl, ends the call (rt_host_leave) */
    return now >= deadline_ns ? -1 : (long)((deadline_ns - now) / 1000000 + 20);
}

/* One request (no redirect followed); *location set when it answered one. */
static void perform_once(const struct http_allow *allow, const struct http_allow *narrow,
                         size_t max, enum http_out_method method, const char *url,
                         struct curl_slist *headers, const char *body, size_t body_len,
                         uint64_t deadline_ns, struct http_out_response *r, char **location)
{
    struct transfer t = {.allow = allow, .narrow = narrow, .max = max};
    long timeout = remaining_ms(deadline_ns);
    CURL *curl = curl_easy_init();
    *location = NULL;
    if (!curl || timeout < 0) {
        refuse(r, "refused: %s", curl ? "the call's time limit has passed" : "out of memory");
        curl_easy_cleanup(curl);
        return;
    }
    static const char *const verbs[] = {"GET", "POST", "PUT", "DELETE"};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    if (method != HTTP_OUT_GET || body_len) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_len ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verbs[method]);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    char *redirect = NULL;
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &redirect);
    if (t.refused_address) {
        refuse(r,
               "refused: the host leads to %s, a private, loopback or own address not listed "
               "in the Worker's --http-allow",
               t.refused);
    } else if (t.too_large) {
        refuse(r, "failed: %s", "the response is larger than the Worker's --http-max-kb");
    } else if (rc != CURLE_OK) {
        refuse(r, "failed: %s", curl_easy_strerror(rc));
    } else {
        r->status = (uint16_t)status;
        *location = status >= 300 && status < 400 && redirect ? strdup(redirect) : NULL;
        r->body = t.body;
        r->body_len = t.len;
        t.body = NULL;
    }
    free(t.body);
    curl_easy_cleanup(curl);
}

static struct http_allow *configured;
static size_t configured_max;

enum fl_err http_out_configure(const char *allow_list, size_t max_bytes, char *detail,
                               size_t detail_len)
{
    struct http_allow *allow;
    enum fl_err err = http_allow_parse(allow_list, &allow, detail, detail_len);
    if (err == FL_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) { /* once, here */
        http_allow_free(allow);
        err = fl_fail(FL_ERR_IO, detail, detail_len, "libcurl cannot start");
    }
    if (err == FL_OK) {
        http_allow_free(configured);
        configured = allow;
        configured_max = max_bytes;
    }
    return err;
}

void http_out_policy(const struct http_allow **allow, size_t *max_bytes)
{
    *allow = configured;
    *max_bytes = configured_max;
}

void http_out_perform(const struct http_allow *allow, const struct http_allow *narrow,
                      size_t max_bytes, const struct http_out_request *q,
                      struct http_out_response *r)
{
    memset(r, 0, sizeof(*r));
    struct curl_slist *headers = NULL;
    char *url = strndup(q->url, q->url_len);
    if (!allow || !allow->count) {
        refuse(r, "refused: %s", "outbound HTTP is off on this Worker (--http-allow)");
    } else if (!url || strlen(url) != q->url_len) {
        refuse(r, "refused: %s", "the URL is not text");
    } else if (q->body_len > max_bytes) {
        refuse(r, "refused: %s", "the request body is larger than the Worker's --http-max-kb");
    } else if (!headers_of(q->headers, q->headers_len, &headers)) {
        refuse(r, "refused: %s", "a header is not 'Name:value' on a line of its own");
    } else {
        enum http_out_method method = q->method;
        const char *body = q->body;
        size_t body_len = q->body_len;
        for (int redirects = 0; url_allowed(allow, narrow, url, r); redirects++) {
            char *location;
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
            perform_once(allow, narrow, max_bytes, method, url, headers, body, body_len,
                         q->deadline_ns, r, &location);
            if (!location)
                break;
            if (redirects == REDIRECTS_MAX) {
                free(location);
                break; /* the function gets the last redirect as it is */
            }
            if (r->status == 303 ||
                ((r->status == 301 || r->status == 302) && method == HTTP_OUT_POST)) {
                method = HTTP_OUT_GET; /* as browsers and curl do */
                body = NULL;
                body_len = 0;
            }
            free(url);
            url = location;
        }
        if (r->status == 0) { /* refused along the way: nothing of an earlier answer */
            free(r->body);
            r->body = NULL;
            r->body_len = 0;
        }
    }
    curl_slist_free_all(headers);
    free(url);
}
