/*
 * libFuzzer target over the sluice tool (built with clang and -DSLUICE_FUZZ=ON; CI runs
 * it for a bounded time). The first input byte picks what is fuzzed:
 *   even: the rest is a segment file — log/0000000000000001.seg of an otherwise empty
 *         directory — read by `dump log`, `verify` and `info`, which must answer with a
 *         message and an exit code, never a crash, a hang or a write;
 *   odd:  the rest is NUL-separated arguments to a read-only command (get, scan, dump,
 *         info, verify, stats, help) run on a small fixed directory.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static char fixture[64] = "/tmp/sluice-fuzz-fixture-XXXXXX";
static char segdir[64] = "/tmp/sluice-fuzz-seg-XXXXXX";
static char segpath[128];

static void setup(void)
{
    if (!mkdtemp(fixture) || !mkdtemp(segdir))
        abort();
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    if (sluice_open(fixture, &o, &db))
        abort();
    char v[32];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(v, sizeof v, "value-%d", i);
        if (sluice_put(db, i % 3 ? "alpha" : "beta", i % 3 ? 5 : 4, (uint64_t)i * 10, v, (size_t)n,
                       SLUICE_ACK_MEMORY, NULL))
            abort();
        if (i == 120 && sluice_compact(db))
            abort();
    }
    if (sluice_close(db))
        abort();
    char log[96];
    snprintf(log, sizeof log, "%s/log", segdir);
    mkdir(log, 0755);
    snprintf(segpath, sizeof segpath, "%s/0000000000000001.seg", log);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1); /* the commands' output is not the point (run with -close_fd_mask=2
                       * to silence their messages; libFuzzer keeps its own report) */
    close(devnull);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0) {
        int fd = open(segpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
            abort();
        close(fd);
        char *dump[] = {"sluice", "dump", "log", segdir, NULL};
        char *verify[] = {"sluice", "verify", segdir, NULL};
        char *info[] = {"sluice", "info", segdir, NULL};
        cli_main(4, dump);
        cli_main(3, verify);
        cli_main(3, info);
        return 0;
    }
    static const char *commands[] = {"get", "scan", "dump", "info", "verify", "stats", "help"};
    char *argv[34] = {"sluice", (char *)commands[data[0] / 2 % 7], fixture};
    int argc = 3;
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    for (size_t i = 0; i + 1 < size && argc < 33;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    if (!strcmp(argv[1], "dump") && argc > 3) { /* dump takes its kind first */
        char *t = argv[2];
        argv[2] = argv[3];
        argv[3] = t;
    }
    argv[argc] = NULL;
    cli_main(argc, argv);
    free(copy);
    return 0;
}
