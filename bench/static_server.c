/*
 * The baseline for the Core's HTTP benchmarks: the same HTTP library in its
 * fastest mode (an epoll thread pool; the Core uses a thread per connection
 * because its handlers block), answering every request with a fixed JSON
 * body. usage: static_server PORT
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] =
    "{\"data\":{\"name\":\"hello\",\"module\":\"_\",\"hash\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\",\"size\":28993}}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    static int started;
    /* like the Core: answer on the second call, once MHD has read the whole request
     * (answering on the first makes MHD close the connection after the reply) */
    if (!*con_cls) {
        *con_cls = &started;
        return MHD_YES;
    }
    *upload_data_size = 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)atoi(argv[1]), NULL, NULL, answer,
                                            NULL, MHD_OPTION_THREAD_POOL_SIZE, 8, MHD_OPTION_END);
    if (!d)
        return 1;
    pause();
    return 0;
}
