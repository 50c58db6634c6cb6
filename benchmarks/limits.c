/*
 * The machine's own limits, measured by the harness in the same run as the workloads so
 * that each sluice figure can be read as a ratio to its floor or ceiling:
 *   - 4 KiB write + fdatasync latency, buffered and O_DIRECT, overwriting a pre-zeroed
 *     file (the floor under one durable acknowledgement);
 *   - O_DIRECT + RWF_DSYNC 4 KiB writes per second at queue depths 1-8 through io_uring,
 *     as the log writes them (the bound on durable group commit);
 *   - 1 MiB write + fdatasync bandwidth (the ceiling of a log that streams);
 *   - one core's memcpy bandwidth (the ceiling of a put that copies its record).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "bench.h"
#include "report.h"
#include "clock.h"

#define FILE_BYTES (64u << 20)

static int prezeroed_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("limits file", -errno);
    uint8_t *zero = calloc(1, 1u << 20);
    for (size_t off = 0; off < FILE_BYTES; off += 1u << 20)
        if (pwrite(fd, zero, 1u << 20, (off_t)off) != 1 << 20)
            die("pre-zero", -errno);
    if (fsync(fd))
        die("pre-zero fsync", -errno);
    free(zero);
    return fd;
}

/* `n` writes of `bytes` at successive offsets, each followed by fdatasync. */
static void write_sync(const struct cfg *c, int fd, const void *buf, size_t bytes, uint64_t n,
                       const char *name, struct result *res)
{
    struct meter m;
    result_init(res, name);
    meter_start(&m);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = clock_now_ns();
        if (pwrite(fd, buf, bytes, (off_t)((i * bytes) % FILE_BYTES)) != (ssize_t)bytes || fdatasync(fd))
            die(name, -errno);
        hist_record(&res->lat, clock_now_ns() - a);
    }
    meter_stop(&m, res);
    res->records = n;
    (void)c;
}

static void disk_latency(const struct cfg *c, const char *path)
{
    struct result res;
    int fd = prezeroed_file(path);
    void *blk;
    if (posix_memalign(&blk, 4096, 1u << 20))
        die("memalign", -ENOMEM);
    memset(blk, 0xab, 1u << 20);
    uint64_t n = c->quick ? 500 : 3000;
    write_sync(c, fd, blk, 4096, n, "disk 4K write+fdatasync", &res);
    snprintf(res.note, sizeof res.note, "buffered, overwrite: the floor under one durable ack");
    report_row(c, &res);
    report_limit("disk 4K write+fdatasync p50 us", hist_percentile(&res.lat, 50) / 1e3, "us");
    close(fd);

    fd = open(path, O_RDWR | O_DIRECT);
    if (fd >= 0) {
        write_sync(c, fd, blk, 4096, n, "disk 4K O_DIRECT write+fdatasync", &res);
        snprintf(res.note, sizeof res.note, "overwrite");
        report_row(c, &res);
        close(fd);
    }

    fd = open(path, O_RDWR);
    n = c->quick ? 64 : 512;
    write_sync(c, fd, blk, 1u << 20, n, "disk 1 MiB write+fdatasync", &res);
    double mbs = n * (double)(1u << 20) / res.secs / 1e6;
    res.rate_override = mbs;
    snprintf(res.unit, sizeof res.unit, "MB/s");
    snprintf(res.note, sizeof res.note, "buffered, overwrite; latency per MiB: the ceiling of a streaming log");
    report_row(c, &res);
    report_limit("disk 1 MiB write+fdatasync MB/s", mbs, "MB/s");
    close(fd);
    free(blk);
}

/* O_DIRECT + RWF_DSYNC 4 KiB writes through io_uring at queue depths 1, 2, 4, 8. */
static void disk_qd(const struct cfg *c, const char *path)
{
    close(prezeroed_file(path));
    int fd = open(path, O_RDWR | O_DIRECT);
    void *blk;
    struct io_uring ring;
    if (fd < 0 || posix_memalign(&blk, 4096, 4096) || io_uring_queue_init(16, &ring, 0)) {
        fprintf(stderr, "sluice-bench: disk-qd skipped: no O_DIRECT or io_uring here\n");
        if (fd >= 0)
            close(fd);
        return;
    }
    memset(blk, 0xab, 4096);
    uint64_t n = c->quick ? 500 : 3000;
    static const int qds[] = {1, 2, 4, 8};
    for (int q = 0; q < 4; q++) {
        struct result res;
        struct meter m;
        char name[64];
        snprintf(name, sizeof name, "disk DSYNC 4K writes QD%d", qds[q]);
        result_init(&res, name);
        uint64_t sub = 0, done = 0, t_sub[16];
        meter_start(&m);
        while (done < n) {
            while (sub - done < (uint64_t)qds[q] && sub < n) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                io_uring_prep_write(sqe, fd, blk, 4096, (sub * 4096) % FILE_BYTES);
                sqe->rw_flags = RWF_DSYNC;
                t_sub[sub % 16] = clock_now_ns();
                io_uring_sqe_set_data64(sqe, sub);
                sub++;
            }
            io_uring_submit(&ring);
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != 4096)
                die("disk-qd write", -EIO);
            hist_record(&res.lat, clock_now_ns() - t_sub[io_uring_cqe_get_data64(cqe) % 16]);
            io_uring_cqe_seen(&ring, cqe);
            done++;
        }
        meter_stop(&m, &res);
        res.records = n;
        snprintf(res.note, sizeof res.note, "O_DIRECT+RWF_DSYNC via io_uring, as the log writes%s",
                 q == 3 ? ": the bound on durable group commit" : "");
        report_row(c, &res);
        char lname[48];
        snprintf(lname, sizeof lname, "durable 4K writes/s at QD%d", qds[q]);
        report_limit(lname, res.records / res.secs, "writes/s");
    }
    io_uring_queue_exit(&ring);
    close(fd);
    free(blk);
}

/* One core copying 64 MiB buffers (larger than any cache here) back and forth. */
static void memcpy_bandwidth(const struct cfg *c)
{
    size_t bytes = 64u << 20;
    uint8_t *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    int rounds = c->quick ? 8 : 32;
    struct result res;
    struct meter m;
    result_init(&res, "memcpy one core");
    meter_start(&m);
    for (int i = 0; i < rounds; i++) {
        uint64_t t = clock_now_ns();
        memcpy(i & 1 ? a : b, i & 1 ? b : a, bytes);
        hist_record(&res.lat, clock_now_ns() - t);
    }
    meter_stop(&m, &res);
    double gbs = rounds * (double)bytes / res.secs / 1e9;
    volatile uint8_t sink = a[bytes / 2] ^ b[bytes / 3];
    (void)sink;
    res.records = (uint64_t)rounds;
    res.rate_override = gbs;
    snprintf(res.unit, sizeof res.unit, "GB/s");
    snprintf(res.note, sizeof res.note, "64 MiB copies; latency per copy");
    report_row(c, &res);
    report_limit("memcpy one core GB/s", gbs, "GB/s");
    free(a);
    free(b);
}

void bench_limits(const struct cfg *c)
{
    char *path = fresh_dir(c, "limits.bin");
    if (selected(c, "limits") || selected(c, "disk") || selected(c, "put-durable") ||
        selected(c, "put-memory"))
        disk_latency(c, path);
    if (selected(c, "limits") || selected(c, "disk-qd") || selected(c, "put-durable-8"))
        disk_qd(c, path);
    if (selected(c, "limits") || selected(c, "memcpy") || selected(c, "put-memory"))
        memcpy_bandwidth(c);
    unlink(path);
    free(path);
}
