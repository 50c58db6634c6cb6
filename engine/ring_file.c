/*
 * The ring in a shared-memory file: SLUICE_ACK_WRITTEN at the speed of a MEMORY put.
 *
 * DESIGN. WRITTEN promises that a record survives a crash of the process, not of the
 * machine. A log write that reached the OS page cache keeps that promise, but waiting
 * for one costs the writer's wake-up and a device write (with O_DIRECT and RWF_DSYNC,
 * the same as DURABLE). Memory that outlives the process keeps it too: the ring's buffer
 * is a file in /dev/shm (tmpfs: RAM, gone at a reboot like unsynced page cache), mapped
 * shared, so a record a producer has published there — its bytes and CRC written, its
 * LSN word stored last — is complete whatever then happens to the process. WRITTEN
 * returns once the record is published.
 *
 * Replay. The next writable open of the directory lists the ring files a crashed writer
 * left (named for the directory), finds in them the record with the LSN that follows
 * the recovered log (a published record with that LSN and a valid CRC; released ring
 * memory is zeroed, so nothing stale can match), and puts every record that follows it,
 * in order and CRC-checked, back through the new ring: the new ring starts where the
 * log ends, so each record gets its old LSN again. A record whose producer died between
 * claiming it and publishing it (never acknowledged) leaves a gap: it is skipped, and
 * the LSNs after it move down to close it (only the dead process ever saw them). Then
 * everything is made durable and the old files are deleted. While it replays, the new
 * ring's header says so (RING_FILE_REPLAYING): a crash then leaves the old files, which
 * hold all of it, and the next open ignores the interrupted copy instead of replaying
 * its records twice.
 *
 * Files: /dev/shm/sluice-<st_dev>-<st_ino of DIR>-<pid>-<n>: a 4 KiB header
 * (ring_file_hdr: magic, version, database UUID, directory identity, ring size, first
 * LSN, CRC), then the ring. A clean close deletes its file once everything in it is
 * durable; a close after the log was poisoned keeps it for the next open to replay.
 * Where /dev/shm cannot be used (or options.ring_private asks), the ring is private
 * memory and WRITTEN waits for the log write, as before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "db.h"
#include "record.h"

#define RING_FILE_DIR "/dev/shm"
#define RING_FILE_MAGIC "SLUICRNG"
#define RING_FILE_VERSION 1u
#define RING_FILE_HEADER 4096u
#define RING_FILE_REPLAYING 1u /* flags: a copy being replayed into, not a source */

/* struct ring_file_hdr (db.h): magic, version, header_bytes, uuid, dir_dev, dir_ino,
 * ring_bytes, first_lsn, flags, then the masked CRC32C of the fields before it. */
_Static_assert(sizeof(struct ring_file_hdr) == 72, "ring file header is 72 bytes");

static uint32_t hdr_crc(const struct ring_file_hdr *h)
{
    return crc32c_mask(crc32c(h, offsetof(struct ring_file_hdr, crc)));
}

/* "sluice-<dev>-<ino>-": every ring file of this directory starts with it. */
static int dir_prefix(const sluice_db *db, char *out, size_t cap, struct stat *st)
{
    if (stat(db->dir, st) < 0)
        return -errno;
    snprintf(out, cap, "sluice-%" PRIx64 "-%" PRIx64 "-", (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    return 0;
}

int ring_file_create(sluice_db *db, int *fd_out)
{
    *fd_out = -1;
    char prefix[64];
    struct stat st;
    int r = dir_prefix(db, prefix, sizeof prefix, &st);
    if (r)
        return r;
    /* the pid and the handle's address: unique among the live writers of a directory */
    snprintf(db->ring_path, sizeof db->ring_path, RING_FILE_DIR "/%s%x-%" PRIxPTR, prefix,
             (unsigned)getpid(), (uintptr_t)db);
    int fd = open(db->ring_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        db->ring_path[0] = 0;
        return -errno;
    }
    struct ring_file_hdr h = {.version = RING_FILE_VERSION, .header_bytes = RING_FILE_HEADER,
                              .dir_dev = (uint64_t)st.st_dev, .dir_ino = (uint64_t)st.st_ino,
                              .ring_bytes = db->opts.ring_bytes,
                              .first_lsn = log_next_lsn(db->log)};
    memcpy(h.magic, RING_FILE_MAGIC, 8);
    memcpy(h.uuid, log_uuid(db->log), 16);
    h.crc = hdr_crc(&h);
    db->ring_hdr = h;
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        r = errno ? -errno : -EIO;
        close(fd);
        unlink(db->ring_path);
        db->ring_path[0] = 0;
        return r;
    }
    *fd_out = fd;
    return 0;
}

void ring_file_close(sluice_db *db, int keep)
{
    if (db->ring_fd >= 0)
        close(db->ring_fd);
    db->ring_fd = -1;
    if (db->ring_path[0] && !keep)
        unlink(db->ring_path);
    db->ring_path[0] = 0;
}

/* A crashed writer's ring file of this database, mapped read-only; NULL if it is not
 * one (another database once at this inode, a torn header, a size that does not add up). */
static const uint8_t *map_old(const sluice_db *db, const char *path, const struct stat *dir,
                              size_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    struct ring_file_hdr h;
    const uint8_t *map = NULL;
    if (fstat(fd, &st) == 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
        !memcmp(h.magic, RING_FILE_MAGIC, 8) && h.version == RING_FILE_VERSION &&
        h.header_bytes == RING_FILE_HEADER && h.crc == hdr_crc(&h) && !(h.flags & RING_FILE_REPLAYING) &&
        !memcmp(h.uuid, log_uuid(db->log), 16) && h.dir_dev == (uint64_t)dir->st_dev &&
        h.dir_ino == (uint64_t)dir->st_ino && h.ring_bytes >= 65536 &&
        !(h.ring_bytes & (h.ring_bytes - 1)) && (uint64_t)st.st_size == RING_FILE_HEADER + h.ring_bytes) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            map = p;
            *bytes = (size_t)st.st_size;
        }
    }
    close(fd);
    return map;
}

/* The published record with the smallest LSN >= from in a ring's buffer: its LSN, and its
 * position in *at; UINT64_MAX if there is none. Released ring memory is zeroed, so what
 * is found was published and not yet released; each carries its CRC. */
static uint64_t lowest_from(const uint8_t *buf, size_t size, uint64_t from, uint64_t *at)
{
    uint64_t best = UINT64_MAX;
    for (uint64_t pos = 0; pos + REC_HDR_BYTES <= size; pos += REC_ALIGN) {
        const struct rec_hdr *h = (const void *)(buf + pos);
        size_t got;
        if (h->lsn >= from && h->lsn < best && h->type != REC_PAD &&
            rec_check(h, size - pos, &got) == REC_VALID) {
            best = h->lsn;
            *at = pos;
        }
    }
    return best;
}

struct old_ring {
    struct ring view;   /* over the old file's buffer, for ring_next */
    const uint8_t *map;
    size_t bytes;
};

static void view_init(struct old_ring *o)
{
    memset(&o->view, 0, sizeof o->view);
    o->view.buf = (uint8_t *)o->map + RING_FILE_HEADER;
    o->view.size = o->bytes - RING_FILE_HEADER;
    o->view.mask = o->view.size - 1;
    atomic_store(&o->view.claim[0], UINT64_MAX); /* every position may hold a record */
}

/* Puts back, in LSN order, every record of the old rings from `next` on: each run of
 * consecutive LSNs is walked as the writer would (ring_next); between runs, the lowest
 * LSN left anywhere is looked for. A gap is a record whose producer died between its
 * claim and its publication: never acknowledged, skipped (the LSNs after it close the
 * gap in the new log: no other process saw them). *n counts what was put back. */
static int replay_rings(sluice_db *db, struct old_ring *old, int nold, uint64_t *n, uint64_t *gaps)
{
    uint64_t next = ring_claimed_lsn(&db->ring) + 1;
    for (;;) {
        uint64_t lowest = UINT64_MAX, pos = 0;
        int in = -1;
        for (int i = 0; i < nold; i++) {
            uint64_t at = 0, l = old[i].map ? lowest_from(old[i].view.buf, old[i].view.size, next, &at)
                                        : UINT64_MAX;
            if (l < lowest)
                lowest = l, pos = at, in = i;
        }
        if (in < 0)
            return 0;
        *gaps += lowest > next;
        next = lowest;
        struct ring *v = &old[in].view;
        uint64_t cursor = pos, rec_pos;
        const struct rec_hdr *h;
        while ((h = ring_next(v, &cursor, next, &rec_pos))) {
            size_t got;
            if (rec_check(h, v->size - (rec_pos & v->mask), &got) != REC_VALID)
                break; /* published records carry their CRC: this one did not finish */
            uint64_t lsn = 0;
            int r = db_append(db, h->type, rec_key(h), h->klen, h->ts, rec_val(h), h->vlen, &lsn);
            if (r)
                return r;
            next++;
            ++*n;
        }
    }
}

/* Sets or clears RING_FILE_REPLAYING in our ring's header. */
static int mark_replaying(sluice_db *db, int on)
{
    if (db->ring_fd < 0)
        return 0;
    struct ring_file_hdr h = db->ring_hdr;
    h.flags = on ? RING_FILE_REPLAYING : 0;
    h.crc = hdr_crc(&h);
    return pwrite(db->ring_fd, &h, sizeof h, 0) == (ssize_t)sizeof h ? 0 : errno ? -errno : -EIO;
}

int ring_file_replay(sluice_db *db)
{
    char prefix[64];
    struct stat dir;
    int r = dir_prefix(db, prefix, sizeof prefix, &dir);
    if (r)
        return r;
    DIR *d = opendir(RING_FILE_DIR);
    if (!d)
        return 0;
    enum { MAX_OLD = 64 };
    char paths[MAX_OLD][300];
    struct old_ring old[MAX_OLD];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_OLD) {
        if (strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(paths[n], sizeof paths[n], RING_FILE_DIR "/%s", e->d_name);
        if (!strcmp(paths[n], db->ring_path))
            continue; /* our own */
        old[n].map = map_old(db, paths[n], &dir, &old[n].bytes);
        if (old[n].map)
            view_init(&old[n]);
        n++;
    }
    closedir(d);
    uint64_t first = ring_claimed_lsn(&db->ring) + 1, replayed = 0, gaps = 0;
    if (n)
        r = mark_replaying(db, 1);
    if (!r)
        r = replay_rings(db, old, n, &replayed, &gaps);
    if (!r && replayed)
        r = sluice_flush(db); /* durable before the old copies go */
    for (int i = 0; i < n; i++) {
        if (old[i].map)
            munmap((void *)old[i].map, old[i].bytes);
        if (!r) /* (a failed replay keeps them for the next open) */
            unlink(paths[i]);
    }
    if (!r && n)
        r = mark_replaying(db, 0); /* from now on our ring holds what puts publish */
    if (!r && replayed) {
        db->ring_replayed = replayed;
        db->ring_replay_gaps = gaps;
        obs_event(db, SLUICE_EVENT_RING_REPLAYED, first, first + replayed - 1);
    }
    return r;
}
