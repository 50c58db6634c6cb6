/*
 * The engines users would otherwise pick, behind one small interface, for the
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
    /* Reads, each from a thread's handle, seeing every commit made before the call:
     * get copies the value of key into buf (1 found, 0 not found); scan reads every
     * record in [lo, hi) (keys of klen bytes) and touches its value, returning how many. */
    int (*get)(void *t, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen);
    uint64_t (*scan)(void *t, const void *lo, const void *hi, size_t klen);
    /* Brings the store to its at-rest form (a full compaction), or NULL if it has none. */
    void (*settle)(void *store);
};

/* The peers compiled in, NULL-terminated. */
extern const struct peer *const bench_peers[];

/* sluice behind the same interface, for the workloads that run every engine the same way
 * (soak, reads, mixed): a key is split into the series key and its be64 timestamp; put is
 * a MEMORY put, commit with sync waits for DURABLE, settle is sluice_compact. */
extern const struct peer bench_sluice_engine;
/* Options of the next bench_sluice_engine.store_open: 1 = manual compaction (the records
 * stay in the log and the hot index until settle). */
extern int bench_sluice_manual_compaction;

/* Warm-up: right after open the preparer zeroes the first spare segment (64 MiB), which
 * competes with durable writes for the device; timed runs start once it is ready (10 s
 * at most). */
struct sluice_db;
void bench_wait_spare(struct sluice_db *db);
/* The log in its steady state, for the durable-latency workloads: a new directory
 * starts with 2 MiB segments and a 2 MiB spare (its footprint), and grows them to full
 * size once busy. Writes warm-up records until the segment being appended to is full
 * size, compacts them, waits for a full-size spare and lets the disk settle (2 s);
 * excluded from measurements like any warm-up (docs/benchmarks.md shows the cold start
 * separately). */
void bench_warm_log(struct sluice_db *db);
#endif
