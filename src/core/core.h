/*
 * core — `funless core`: the platform's entry point (REST API, store,
 * catalogue, tokens, metrics). Runs until SIGTERM or SIGINT, then finishes
 * the requests in flight and closes the store.
 */
#ifndef FL_CORE_CORE_H
#define FL_CORE_CORE_H

int core_main(int argc, char **argv);

#endif
