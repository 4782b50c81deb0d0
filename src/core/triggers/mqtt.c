#include "core/triggers/mqtt.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

enum {
    KEEPALIVE_S = 30,
    RETRY_FIRST_MS = 1000, /* after a failed connect, then twice as long, at most: */
    RETRY_MAX_MS = 30000,
};

enum mqtt_state_kind { STATE_CONNECTING, STATE_CONNECTED, STATE_ERROR };

struct mqtt_client {
    struct mqtt_params params;
    mqtt_deliver_fn deliver;
    void *arg;
    void *owner; /* the loop's */
    struct mosquitto *mosq;
    pthread_t thread;
    atomic_int refs;
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t changed;
    bool stopping, thread_done, waiting; /* waiting: a message handed over, not yet taken */
    enum mqtt_state_kind state;
    char detail[160];
};

/* ---- params ---- */

static bool copy_string(const cJSON *item, char *out, size_t max, bool required)
{
    if (!item)
        return !required;
    if (!cJSON_IsString(item) || strlen(item->valuestring) > max ||
        (required && !item->valuestring[0]))
        return false;
    snprintf(out, max + 1, "%s", item->valuestring);
    return true;
}

static bool host_ok(const char *host)
{
    for (const char *p = host; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_'))
            return false;
    return host[0] != '\0';
}

bool mqtt_params_check(const cJSON *params, struct mqtt_params *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(params, "port");
    const cJSON *qos = cJSON_GetObjectItemCaseSensitive(params, "qos");
    char port_text[16] = "";
    if (cJSON_IsNumber(port))
        snprintf(port_text, sizeof(port_text), "%.0f", port->valuedouble);
    else if (cJSON_IsString(port) && strlen(port->valuestring) < sizeof(port_text))
        snprintf(port_text, sizeof(port_text), "%s", port->valuestring);
    char *end;
    long port_number = strtol(port_text, &end, 10);
    if (!copy_string(cJSON_GetObjectItemCaseSensitive(params, "host"), out->host, MQTT_HOST_MAX,
                     true) ||
        !host_ok(out->host)) {
        snprintf(why, why_len, "mqtt: params.host must be a host name or an address");
        return false;
    }
    if (!port_text[0] || *end || port_number < 1 || port_number > 65535 ||
        (cJSON_IsNumber(port) && port->valuedouble != (double)port_number)) {
        snprintf(why, why_len, "mqtt: params.port must be a port number, 1 to 65535");
        return false;
    }
    out->port = (int)port_number;
    if (!copy_string(cJSON_GetObjectItemCaseSensitive(params, "topic"), out->topic, MQTT_TOPIC_MAX,
                     true) ||
        mosquitto_sub_topic_check(out->topic) != MOSQ_ERR_SUCCESS) {
        snprintf(why, why_len, "mqtt: params.topic must be a topic filter of at most %d bytes",
                 MQTT_TOPIC_MAX);
        return false;
    }
    if (qos && !(cJSON_IsNumber(qos) && (qos->valuedouble == 0 || qos->valuedouble == 1))) {
        snprintf(why, why_len, "mqtt: params.qos must be 0 or 1");
        return false;
    }
    out->qos = qos ? (int)qos->valuedouble : 0;
    if (!copy_string(cJSON_GetObjectItemCaseSensitive(params, "username"), out->username,
                     MQTT_CREDENTIAL_MAX, false) ||
        !copy_string(cJSON_GetObjectItemCaseSensitive(params, "password"), out->password,
                     MQTT_CREDENTIAL_MAX, false) ||
        !copy_string(cJSON_GetObjectItemCaseSensitive(params, "client_id"), out->client_id,
                     MQTT_CREDENTIAL_MAX, false)) {
        snprintf(why, why_len,
                 "mqtt: params.username, password and client_id are strings of at "
                 "most %d bytes",
                 MQTT_CREDENTIAL_MAX);
        return false;
    }
    return true;
}

/* ---- the client's thread ---- */

static void set_state(struct mqtt_client *c, enum mqtt_state_kind state, const char *detail)
{
    pthread_mutex_lock(&c->lock);
    c->state = state;
    if (detail)
        snprintf(c->detail, sizeof(c->detail), "%s", detail);
    pthread_mutex_unlock(&c->lock);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    struct mqtt_client *c = arg;
    if (rc != 0) {
        set_state(c, STATE_ERROR, mosquitto_connack_string(rc));
        return;
    }
    int sub = mosquitto_subscribe(mosq, NULL, c->params.topic, c->params.qos);
    set_state(c, sub == MOSQ_ERR_SUCCESS ? STATE_CONNECTED : STATE_ERROR,
              sub == MOSQ_ERR_SUCCESS ? "" : mosquitto_strerror(sub));
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    struct mqtt_client *c = arg;
    if (rc != 0)
        set_state(c, STATE_CONNECTING, "the broker went away: reconnecting");
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m)
{
    (void)mosq;
    struct mqtt_client *c = arg;
    pthread_mutex_lock(&c->lock);
    bool stopping = c->stopping;
    c->waiting = !stopping;
    pthread_mutex_unlock(&c->lock);
    if (stopping)
        return;
    c->deliver(c->arg, c, m->payload ? m->payload : "",
               m->payloadlen > 0 ? (size_t)m->payloadlen : 0);
    /* the next message is not read until this one is taken: back-pressure, not drops */
    pthread_mutex_lock(&c->lock);
    while (c->waiting && !c->stopping)
        pthread_cond_wait(&c->changed, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

/* Sleeps `ms` or until the client stops; true when it stops. */
static bool pause_unless_stopped(struct mqtt_client *c, unsigned ms)
{
    struct timespec until = fl_deadline_in(ms);
    pthread_mutex_lock(&c->lock);
    while (!c->stopping &&
           pthread_cond_clockwait(&c->changed, &c->lock, CLOCK_MONOTONIC, &until) == 0)
        ;
    bool stopping = c->stopping;
    pthread_mutex_unlock(&c->lock);
    return stopping;
}

static bool stopping(struct mqtt_client *c)
{
    pthread_mutex_lock(&c->lock);
    bool s = c->stopping;
    pthread_mutex_unlock(&c->lock);
    return s;
}

static void *client_main(void *arg)
{
    struct mqtt_client *c = arg;
    unsigned retry_ms = RETRY_FIRST_MS;
    while (!stopping(c)) {
        int rc = mosquitto_connect(c->mosq, c->params.host, c->params.port, KEEPALIVE_S);
        if (rc == MOSQ_ERR_SUCCESS && !stopping(c)) {
            retry_ms = RETRY_FIRST_MS;
            /* reconnects by itself after a loss (mosquitto_reconnect_delay_set); returns once
             * mqtt_stop disconnects it, or on an error it cannot get past */
            rc = mosquitto_loop_forever(c->mosq, 1000, 1);
        }
        if (stopping(c))
            break;
        char detail[sizeof(c->detail)];
        snprintf(
            detail, sizeof(detail), "cannot reach %.64s:%d: %s", c->params.host, c->params.port,
            rc == MOSQ_ERR_ERRNO ? "connection refused or unreachable" : mosquitto_strerror(rc));
        set_state(c, STATE_ERROR, detail);
        if (pause_unless_stopped(c, retry_ms))
            break;
        retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
        set_state(c, STATE_CONNECTING, NULL);
    }
    pthread_mutex_lock(&c->lock);
    c->thread_done = true;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- from any thread ---- */

struct mqtt_client *mqtt_start(const struct mqtt_params *params, mqtt_deliver_fn deliver, void *arg)
{
    struct mqtt_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->params = *params;
    c->deliver = deliver;
    c->arg = arg;
    atomic_init(&c->refs, 2); /* its thread's and the caller's */
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    /* a session the broker keeps (clean_session false) under a stable id: QoS 1 messages sent
     * while the Core reconnects are delivered when it is back */
    c->mosq = mosquitto_new(params->client_id, false, c);
    if (!c->mosq) {
        mqtt_unref(c);
        mqtt_unref(c);
        return NULL;
    }
    mosquitto_threaded_set(c->mosq, true);
    mosquitto_reconnect_delay_set(c->mosq, RETRY_FIRST_MS / 1000, RETRY_MAX_MS / 1000, true);
    if (params->username[0])
        mosquitto_username_pw_set(c->mosq, params->username,
                                  params->password[0] ? params->password : NULL);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_message_callback_set(c->mosq, on_message);
    if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
        mqtt_unref(c);
        mqtt_unref(c);
        return NULL;
    }
    pthread_detach(c->thread); /* mqtt_stop waits on thread_done, for a bounded time */
    return c;
}

void mqtt_delivered(struct mqtt_client *c)
{
    pthread_mutex_lock(&c->lock);
    c->waiting = false;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* Waits up to `ms` (0: for ever) for the client's thread to end, telling it to disconnect every
 * 100 ms: a request that came while it was still connecting is not lost. */
static bool wait_thread_done(struct mqtt_client *c, unsigned ms)
{
    uint64_t deadline = fl_now_ms() + ms;
    for (;;) {
        mosquitto_disconnect(c->mosq); /* mosquitto_loop_forever returns */
        struct timespec slice = fl_deadline_in(100);
        pthread_mutex_lock(&c->lock);
        if (!c->thread_done)
            pthread_cond_clockwait(&c->changed, &c->lock, CLOCK_MONOTONIC, &slice);
        bool done = c->thread_done;
        pthread_mutex_unlock(&c->lock);
        if (done || (ms && fl_now_ms() >= deadline))
            return done;
    }
}

static void *reaper_main(void *arg)
{
    struct mqtt_client *c = arg;
    wait_thread_done(c, 0);
    mqtt_unref(c); /* the thread's reference */
    return NULL;
}

void mqtt_stop(struct mqtt_client *c, unsigned wait_ms)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    bool done = wait_ms ? wait_thread_done(c, wait_ms) : false;
    pthread_t reaper;
    if (done)
        mqtt_unref(c); /* the thread's reference: it has ended */
    else if (pthread_create(&reaper, NULL, reaper_main, c) == 0)
        pthread_detach(reaper); /* a connect may take the kernel's time to fail */
    mqtt_unref(c);              /* the caller's */
}

void mqtt_ref(struct mqtt_client *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void mqtt_unref(struct mqtt_client *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->mosq)
        mosquitto_destroy(c->mosq);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void *mqtt_owner(const struct mqtt_client *c)
{
    return c->owner;
}

void mqtt_set_owner(struct mqtt_client *c, void *owner)
{
    c->owner = owner;
}

const char *mqtt_state(struct mqtt_client *c, char *detail, size_t detail_len)
{
    pthread_mutex_lock(&c->lock);
    enum mqtt_state_kind state = c->state;
    snprintf(detail, detail_len, "%s", c->detail);
    pthread_mutex_unlock(&c->lock);
    return state == STATE_CONNECTED ? "connected" : state == STATE_ERROR ? "error" : "connecting";
}
