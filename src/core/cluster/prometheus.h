/*
 * prometheus — the Workers' load data read from a Prometheus server, as
 * FunLess's Core does, instead of from their heartbeats: every second it asks
 * `/api/v1/query` for FunLess's memory and load gauges
 * (worker_prom_ex_os_mon_resources_*) and hands them to the cluster by the
 * `node` label, which is the Worker's name.
 */
#ifndef FL_CORE_CLUSTER_PROMETHEUS_H
#define FL_CORE_CLUSTER_PROMETHEUS_H

#include <stddef.h>

#include "common/err.h"
#include "core/cluster/cluster.h"

struct prometheus_source;

/* Starts polling `url` (http://HOST:PORT); the cluster stops using heartbeat load data. */
enum fl_err prometheus_start(const char *url, struct cluster *cluster,
                             struct prometheus_source **out, char *detail, size_t detail_len);
void prometheus_stop(struct prometheus_source *source);

#endif
