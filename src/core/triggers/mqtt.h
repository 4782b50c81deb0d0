/*
 * mqtt — the subscription of one mqtt event (docs/triggers.md): a libmosquitto client on a
 * thread of its own that connects, subscribes, and reconnects forever after a loss (1 s, then
 * twice as long each time, at most 30 s). Each message is handed to `deliver`, and the next one
 * is not read until mqtt_delivered says this one is taken: a platform that cannot take more
 * calls holds the subscription back (the broker keeps what follows), it drops nothing.
 *
 * A client is shared by reference: its thread, whoever holds a message of it, and its owner.
 * `owner` is the owner's to read and write on the Core's event loop only.
 */
#ifndef FL_CORE_TRIGGERS_MQTT_H
#define FL_CORE_TRIGGERS_MQTT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum { MQTT_HOST_MAX = 253, MQTT_TOPIC_MAX = 1024, MQTT_CREDENTIAL_MAX = 256 };

struct mqtt_params {
    char host[MQTT_HOST_MAX + 1];
    int port;
    char topic[MQTT_TOPIC_MAX + 1];
    int qos; /* 0 or 1 */
    char username[MQTT_CREDENTIAL_MAX + 1], password[MQTT_CREDENTIAL_MAX + 1];
    char client_id[MQTT_CREDENTIAL_MAX + 1]; /* "": made from the function's name */
};

/* FunLess's params of an mqtt event: host, port (a string or a number), topic; optional qos
 * (0 or 1), username, password, client_id. False with the reason. */
bool mqtt_params_check(const cJSON *params, struct mqtt_params *out, char *why, size_t why_len);

struct mqtt_client;
/* On the client's thread: a message (`payload` is valid during the call only). */
typedef void (*mqtt_deliver_fn)(void *arg, struct mqtt_client *client, const void *payload,
                                size_t len);

/* Starts the client (its thread); NULL when out of memory or threads. */
struct mqtt_client *mqtt_start(const struct mqtt_params *params, mqtt_deliver_fn deliver,
                               void *arg);
/* The message handed to `deliver` is taken (queued, refused, or its function is gone): the
 * client reads the next one. */
void mqtt_delivered(struct mqtt_client *client);
/* Stops the client: its thread ends (waited for up to `wait_ms`, 0: not at all) and it is freed
 * with its last reference. */
void mqtt_stop(struct mqtt_client *client, unsigned wait_ms);
void mqtt_ref(struct mqtt_client *client);
void mqtt_unref(struct mqtt_client *client);
/* The loop's: what the client feeds (NULL once that is gone). */
void *mqtt_owner(const struct mqtt_client *client);
void mqtt_set_owner(struct mqtt_client *client, void *owner);
/* "connected", "connecting" or "error", with the last problem in `detail` ("" if none). */
const char *mqtt_state(struct mqtt_client *client, char *detail, size_t detail_len);

#endif
