/*
 * The database handle: the engine wires the tiers together and owns everything. No
 * state lives outside this struct, so two handles in one process share nothing mutable.
 */
#ifndef SLUICE_DB_H
#define SLUICE_DB_H
#include <stdatomic.h>
#include <stdint.h>

#include "hot_index.h"
#include "io.h"
#include "log.h"
#include "ring.h"
#include "sluice.h"

struct sluice_db {
    char *dir;
    sluice_options opts;
    int read_only;
    int lock_fd;
    int doorbell_fd;
    size_t value_max;
    struct io *io;
    struct ring ring;
    struct hot_index index;
    struct log log;
    _Atomic int open_iters;
    /* slow-path counters: touched only by a put that found the ring full */
    _Atomic uint64_t ring_full_waits, ring_full_rejections, ring_full_wait_ns;
};

/* sluice_open with a caller-made I/O backend (tests substitute fault-injecting ones).
 * The handle takes ownership of io, also when the open fails. */
int db_open_with_io(const char *dir, const sluice_options *opts, struct io *io, sluice_db **db);

/* Resolves SLUICE_ACK_DEFAULT; -1 for an unknown level. */
int db_resolve_ack(const sluice_db *db, int ack);

/* The LSN a read must see: everything claimed when it started, once indexed. */
uint64_t db_read_snapshot(sluice_db *db);

/*
 * Copies the value (or the whole record when whole != 0) of entry e into dst.
 * Called with the index read lock held; releases it on every path (file reads happen
 * outside the lock). Returns 0 or SLUICE_ECORRUPT / -errno.
 */
int db_fetch_unlock(sluice_db *db, const struct hot_entry *e, const uint8_t *key, size_t klen,
                    void *dst);
#endif
