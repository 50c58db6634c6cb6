/*
 * The simulated disk: an I/O backend for tests that runs every operation on real files
 * (so the engine, LMDB and the checkers see an ordinary directory) while it remembers
 * what a power cut could still take away:
 *   - for every write not yet covered by a completed fdatasync (or made durable by
 *     RWF_DSYNC), the bytes and file size it replaced;
 *   - for every create, rename and unlink not yet covered by an fsync of its directory,
 *     how to revert it (unlinked and overwritten files are kept aside in a stash
 *     directory until the directory sync makes their removal durable).
 * sim_power_cut() then rewrites the files as a disk could have left them: each unsynced
 * write independently kept, dropped, torn at 512-byte sectors, zero-filled or replaced by
 * garbage; per directory, a random prefix of the unsynced entry changes kept and the
 * rest reverted (a journal commits them in order). No real fsync is ever issued: the
 * page cache of a live process stands in for the platter.
 *
 * Asynchronous operations are queued and executed at reap() time, a random non-empty
 * subset in random order (a linked write+fdatasync stays a pair), as io_uring may: an
 * fdatasync covers exactly the writes that had executed before it ran.
 *
 * Faults: fail the nth call of one operation (optionally only from one call site, the
 * engine's call site and its two callers; asynchronous calls are counted as they run) with -EIO, -ENOSPC, -ECANCELED or a short write, once or
 * from then on. A failed fdatasync dooms the file's unsynced writes (Linux marks the
 * dirty pages clean: they are lost at the cut even if a later fdatasync succeeds).
 *
 * Every decision comes from one xorshift stream seeded at creation, under one mutex, so
 * a seed replays the same choices for the same sequence of calls.
 */
#ifndef SLUICE_TEST_SIM_DISK_H
#define SLUICE_TEST_SIM_DISK_H
#include <stdint.h>

#include "io.h"

enum sim_op {
    SIM_OPEN, SIM_PREAD, SIM_PWRITE, SIM_FDATASYNC, SIM_FALLOCATE, SIM_RENAME, SIM_UNLINK,
    SIM_FSYNC_DIR, SIM_WRITE_ASYNC, SIM_FDATASYNC_ASYNC, SIM_TRUNCATE, SIM_OPS
};
extern const char *const sim_op_names[SIM_OPS];

#define SIM_SHORT_WRITE 1 /* as `err`: a write completes with half its bytes */

struct sim_fault {
    int op;          /* enum sim_op */
    uintptr_t site;  /* 0: any caller; else only calls from this site (sim_site.site) */
    uint64_t nth;    /* 1-based, counted over matching calls */
    int err;         /* -EIO, -ENOSPC, -ECANCELED or SIM_SHORT_WRITE */
    int sticky;      /* 0: only the nth call fails; 1: every matching call from the nth */
};

#define SIM_CHAIN 3
struct sim_site {
    int op;
    uintptr_t site;             /* a hash of chain */
    uintptr_t chain[SIM_CHAIN]; /* the return addresses: the call, its caller, theirs */
    uint64_t calls;
};

struct sim_disk;

/* What a cut did : unsynced writes kept, dropped, torn, zeroed, garbled, and
 * directory changes reverted. */
struct sim_cut_stats {
    uint64_t kept, dropped, torn, zeroed, garbled, doomed, dir_reverted, dir_kept;
};
typedef void sim_on_cut(const struct sim_cut_stats *what_it_did);

/* stash_dir: an empty directory on the same filesystem as the files. allow_direct = 0
 * makes O_DIRECT opens fail with EINVAL, as on tmpfs (the engine's buffered path). */
int sim_disk_create(const char *stash_dir, uint64_t seed, int allow_direct,
                    struct sim_disk **out);
void sim_disk_destroy(struct sim_disk *d);

/* A backend over the disk; the engine owns and destroys it, the disk lives on (a
 * workload can close and reopen on the same disk). */
struct io *sim_io_create(struct sim_disk *d);

#define SIM_MAX_FAULTS 2
/* Arms a fault (at most SIM_MAX_FAULTS: an error path's own I/O can fail too). */
void sim_fault_add(struct sim_disk *d, const struct sim_fault *f);
uint64_t sim_fault_fired(struct sim_disk *d);

/* Cuts the power when the k-th sync point is reached (an fdatasync, a directory fsync,
 * an RWF_DSYNC write), before or after it takes effect; then calls on_cut, which must
 * not return (it _exits the process: the cut froze the files). 0 = never. on_cut runs
 * inside the disk's lock: it must not call the disk. */
void sim_cut_at_sync(struct sim_disk *d, uint64_t k, int after, sim_on_cut *on_cut);
/* The same, at the k-th call of any operation. */
void sim_cut_at_call(struct sim_disk *d, uint64_t k, sim_on_cut *on_cut);
/* Cuts now. Later calls fail with -EIO and change nothing. */
void sim_power_cut(struct sim_disk *d);

uint64_t sim_sync_points(struct sim_disk *d);
uint64_t sim_calls(struct sim_disk *d);
/* What the cut did (all zero before one). */
void sim_cut_stats(struct sim_disk *d, struct sim_cut_stats *out);
/* The distinct (operation, call site) pairs seen; returns how many (up to max stored). */
int sim_sites(struct sim_disk *d, struct sim_site *out, int max);
#endif
