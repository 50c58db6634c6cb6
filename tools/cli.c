#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "sluice.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice <command> [options]\n"
               "\n"
               "commands:\n"
               "  demo [DIR] [--records N] [--producers N]\n"
               "                 ingest a synthetic sensor stream at DURABLE level, compact it\n"
               "                 into the cold tier, read it back, reopen, and report figures\n"
               "  stats DIR      positions, log segments and cold-tier size (read-only)\n"
               "  help           this text\n"
               "  version        the library version\n");
}

static int cmd_stats(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "sluice stats: usage: sluice stats DIR\n");
        return 2;
    }
    sluice_options o;
    sluice_options_init(&o);
    char err[512] = "";
    o.read_only = 1;
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    sluice_db *db;
    int r = sluice_open(argv[2], &o, &db);
    if (r) {
        fprintf(stderr, "sluice stats: %s: %s\n", argv[2], err[0] ? err : sluice_strerror(r));
        return r == SLUICE_ECORRUPT || r == SLUICE_NOTFOUND ? 1 : 2;
    }
    struct sluice_stats st;
    r = sluice_stats(db, &st);
    if (r == 0)
        printf("durable_lsn     %llu\n"
               "compacted_lsn   %llu   (records at or below it are in the cold tier)\n"
               "log segments    %llu\n"
               "cold tier       %.1f MB in use (LMDB map: %.0f MB of address space)\n"
               "(records still in a live writer's ring are not visible here)\n",
               (unsigned long long)st.durable_lsn, (unsigned long long)st.compacted_lsn,
               (unsigned long long)st.segments, st.cold_used_bytes / 1e6,
               st.cold_map_bytes / 1e6);
    sluice_close(db);
    return r ? 2 : 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("sluice 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "demo"))
        return cli_demo(argc, argv);
    if (!strcmp(cmd, "stats"))
        return cmd_stats(argc, argv);
    fprintf(stderr, "sluice: unknown command '%s' (try 'sluice help')\n", cmd);
    return 2;
}
