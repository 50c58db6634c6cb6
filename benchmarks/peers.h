/*
 * The engines users would otherwise pick, behind one small interface, for the put-path
 * workloads of sluice-bench: RocksDB, LevelDB, LMDB and SQLite (WAL), each compiled in
 * when CMake finds its development package (tools/bootstrap.sh --bench-peers).
 *
 * Keys use the peers' natural layout for time series, key || be64(ts). A commit is
 * durable when sync is set, using the peer's own setting, named in `durability`.
 */
#ifndef SLUICE_BENCH_PEERS_H
#define SLUICE_BENCH_PEERS_H
#include <stddef.h>
#include <stdint.h>

struct peer {
    const char *name;
    const char *durability; /* what "sync" means for it */
    void *(*store_open)(const char *dir);
    void (*store_close)(void *store);
    /* one per writing thread: a write batch, a transaction or a connection */
    void *(*thread_open)(void *store);
    void (*thread_close)(void *t);
    void (*begin)(void *t);
    void (*put)(void *t, const void *key, size_t klen, const void *val, size_t vlen);
    void (*commit)(void *t, int sync); /* sync: durable when it returns */
};

/* The peers compiled in, NULL-terminated. */
extern const struct peer *const bench_peers[];
#endif
