/*
 * DIR/stats.live: the writer process's latest stats, for other processes (`sluice top`,
 * `sluice stats DIR`). Written by the publisher thread (engine/observe.c) under a
 * sequence lock; docs/observability.md.
 *
 * Reading: s1 = seq (acquire); if odd, retry; copy the lengths and the areas; fence;
 * s2 = seq; retry unless s1 == s2 and the CRC32C of the copied JSON then Prometheus text
 * equals crc. The areas hold the text of sluice_stats_format, not NUL-terminated.
 */
#ifndef SLUICE_STATS_FILE_H
#define SLUICE_STATS_FILE_H
#include <stdatomic.h>
#include <stdint.h>

#define STATS_FILE_NAME "stats.live"
#define STATS_MAGIC "SLUISTAT"
#define STATS_VERSION 1u
#define STATS_AREA (64u * 1024u)

struct stats_file {
    char magic[8];
    uint32_t version;
    uint32_t interval_ms;  /* how often the writer publishes */
    _Atomic uint64_t seq;  /* odd while a snapshot is being written */
    uint64_t time_ns;      /* CLOCK_REALTIME of the snapshot */
    uint32_t pid;          /* the writer process */
    uint32_t json_len, prometheus_len;
    uint32_t crc;          /* CRC32C of json[0..json_len) then prometheus[0..prometheus_len) */
    uint8_t pad[4096 - 48];
    char json[STATS_AREA];
    char prometheus[STATS_AREA];
};
_Static_assert(sizeof(struct stats_file) == 4096 + 2 * STATS_AREA, "header is one page");
#endif
