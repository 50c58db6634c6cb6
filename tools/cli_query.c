/* sluice get, scan, stats and compact: thin layers on the public API. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct out {
    enum cli_format fmt;
    int rfc3339;
    int header_done;
    int no_lsn; /* get: the API does not return it */
};

/* Parses --json, --csv, --time-format; 1 if argv[*i] was one, -1 on a bad value. */
static int out_opt(struct out *o, int argc, char **argv, int *i)
{
    const char *v;
    if (!strcmp(argv[*i], "--json")) {
        o->fmt = CLI_JSON;
        return 1;
    }
    if (!strcmp(argv[*i], "--csv")) {
        o->fmt = CLI_CSV;
        return 1;
    }
    int m = cli_opt(argc, argv, i, "--time-format", &v);
    if (m <= 0)
        return m;
    if (!strcmp(v, "ns"))
        o->rfc3339 = 0;
    else if (!strcmp(v, "rfc3339"))
        o->rfc3339 = 1;
    else
        return -1;
    return 1;
}

static void print_record(struct out *o, const sluice_record *r)
{
    char ts[48];
    cli_format_ts(r->ts, o->rfc3339, ts);
    switch (o->fmt) {
    case CLI_JSON:
        fputs("{\"key\":", stdout);
        cli_print_json_string(stdout, r->key, r->klen);
        printf(",\"ts\":%s%s%s", o->rfc3339 ? "\"" : "", ts, o->rfc3339 ? "\"" : "");
        if (!o->no_lsn)
            printf(",\"lsn\":%" PRIu64, r->lsn);
        fputs(",\"value\":", stdout);
        cli_print_json_string(stdout, r->val, r->vlen);
        fputs("}\n", stdout);
        break;
    case CLI_CSV:
        if (!o->header_done)
            fputs(o->no_lsn ? "key,ts,value\r\n" : "key,ts,lsn,value\r\n", stdout);
        cli_print_csv_field(stdout, r->key, r->klen);
        printf(",%s,", ts);
        if (!o->no_lsn)
            printf("%" PRIu64 ",", r->lsn);
        cli_print_csv_field(stdout, r->val, r->vlen);
        fputs("\r\n", stdout);
        break;
    case CLI_TABLE:
        if (!o->header_done)
            printf("%-24s %*s %10s %7s  %s\n", "KEY", o->rfc3339 ? 30 : 20, "TS", "LSN", "BYTES",
                   "VALUE");
        {
            /* keys are padded to 24 printed bytes; a longer one pushes its row right */
            char key[128];
            FILE *m = fmemopen(key, sizeof key, "w");
            if (m) {
                cli_print_bytes(m, r->key, r->klen, 24);
                fclose(m);
            } else {
                key[0] = 0;
            }
            char lsn[24] = "-";
            if (!o->no_lsn)
                snprintf(lsn, sizeof lsn, "%" PRIu64, r->lsn);
            printf("%-24s %*s %10s %7zu  ", key, o->rfc3339 ? 30 : 20, ts, lsn, r->vlen);
            cli_print_bytes(stdout, r->val, r->vlen, 48);
            fputc('\n', stdout);
        }
        break;
    }
    o->header_done = 1;
}

int cli_get(int argc, char **argv)
{
    struct out o = {.no_lsn = 1};
    const char *pos[3];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        int m = out_opt(&o, argc, argv, &i);
        if (m < 0)
            return cli_fail("get", CLI_USAGE, "bad value for %s", argv[i]);
        if (m)
            continue;
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail("get", CLI_USAGE, "unknown option %s", argv[i]);
        if (npos == 3)
            return cli_fail("get", CLI_USAGE, "usage: sluice get DIR KEY [TS]");
        pos[npos++] = argv[i];
    }
    if (npos < 2)
        return cli_fail("get", CLI_USAGE, "usage: sluice get DIR KEY [TS]");
    size_t klen = strlen(pos[1]);
    if (klen == 0 || klen > SLUICE_KEY_MAX)
        return cli_fail("get", CLI_USAGE, "a key is 1 to %d bytes", SLUICE_KEY_MAX);
    uint64_t ts = 0;
    if (npos == 3 && cli_parse_ts(pos[2], &ts))
        return cli_fail("get", CLI_USAGE, "bad timestamp '%s' (integer ns or RFC 3339)", pos[2]);
    sluice_db *db;
    int code = cli_open("get", pos[0], 1, &db);
    if (code)
        return code;
    size_t cap = 4096, vlen = 0;
    void *buf = NULL;
    int r;
    for (;;) {
        void *nb = realloc(buf, cap);
        if (!nb) {
            r = SLUICE_ENOMEM;
            break;
        }
        buf = nb;
        r = npos == 3 ? sluice_get(db, pos[1], klen, ts, buf, cap, &vlen)
                      : sluice_get_latest(db, pos[1], klen, &ts, buf, cap, &vlen);
        if (r != SLUICE_ERANGE)
            break;
        cap = vlen;
    }
    if (!r) {
        sluice_record rec = {.key = pos[1], .klen = klen, .ts = ts, .val = buf, .vlen = vlen};
        print_record(&o, &rec);
        code = CLI_OK;
    } else if (r == SLUICE_NOTFOUND) {
        code = cli_fail("get", CLI_ABSENT, "%s%s%s: not found", pos[1], npos == 3 ? " at " : "",
                        npos == 3 ? pos[2] : "");
    } else {
        code = cli_fail("get", cli_code(r), "%s: %s", pos[0], sluice_strerror(r));
    }
    free(buf);
    sluice_close(db);
    return code;
}

int cli_scan(int argc, char **argv)
{
    struct out o = {0};
    const char *dir = NULL, *key = NULL, *v;
    uint64_t from = 0, to = 0, limit = UINT64_MAX;
    int have_from = 0, have_to = 0;
    for (int i = 2; i < argc; i++) {
        int m = out_opt(&o, argc, argv, &i);
        if (!m && (m = cli_opt(argc, argv, &i, "--key", &v)) > 0)
            key = v;
        if (!m && (m = cli_opt(argc, argv, &i, "--from", &v)) > 0 && !(have_from = !cli_parse_ts(v, &from)))
            return cli_fail("scan", CLI_USAGE, "bad timestamp '%s' (integer ns or RFC 3339)", v);
        if (!m && (m = cli_opt(argc, argv, &i, "--to", &v)) > 0 && !(have_to = !cli_parse_ts(v, &to)))
            return cli_fail("scan", CLI_USAGE, "bad timestamp '%s' (integer ns or RFC 3339)", v);
        if (!m && (m = cli_opt(argc, argv, &i, "--limit", &v)) > 0 && cli_u64(v, &limit))
            return cli_fail("scan", CLI_USAGE, "bad --limit '%s'", v);
        if (m < 0)
            return cli_fail("scan", CLI_USAGE, "%s needs a valid value", argv[i]);
        if (m)
            continue;
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail("scan", CLI_USAGE, "unknown option %s", argv[i]);
        if (dir)
            return cli_fail("scan", CLI_USAGE, "usage: sluice scan DIR [--key K] --from T --to T");
        dir = argv[i];
    }
    if (!dir || !have_from || !have_to)
        return cli_fail("scan", CLI_USAGE, "usage: sluice scan DIR [--key K] --from T --to T");
    if (from > to)
        return cli_fail("scan", CLI_USAGE, "--from is after --to");
    size_t klen = key ? strlen(key) : 0;
    if (key && (klen == 0 || klen > SLUICE_KEY_MAX))
        return cli_fail("scan", CLI_USAGE, "a key is 1 to %d bytes", SLUICE_KEY_MAX);
    sluice_db *db;
    int code = cli_open("scan", dir, 1, &db);
    if (code)
        return code;
    sluice_iter *it;
    int r = sluice_iter_open(db, key, klen, from, to, &it);
    uint64_t n = 0;
    sluice_record rec;
    while (!r && n < limit && (r = sluice_iter_next(it, &rec)) == 0) {
        print_record(&o, &rec);
        n++;
    }
    if (r == 0 || r == SLUICE_END)
        code = CLI_OK;
    else
        code = cli_fail("scan", cli_code(r), "%s: %s", dir, sluice_strerror(r));
    sluice_iter_close(it);
    sluice_close(db);
    return code;
}

/* One row of stats in every format; a name carries its unit (Prometheus style). */
struct stat_row {
    const char *name, *help;
    uint64_t v;
};

int cli_stats(int argc, char **argv)
{
    int json = 0, prom = 0;
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--prometheus"))
            prom = 1;
        else if (argv[i][0] == '-' || dir)
            return cli_fail("stats", CLI_USAGE, "usage: sluice stats DIR [--json|--prometheus]");
        else
            dir = argv[i];
    }
    if (!dir)
        return cli_fail("stats", CLI_USAGE, "usage: sluice stats DIR [--json|--prometheus]");
    sluice_db *db;
    int code = cli_open("stats", dir, 1, &db);
    if (code)
        return code;
    struct sluice_stats s;
    int r = sluice_stats(db, &s);
    sluice_close(db);
    if (r)
        return cli_fail("stats", cli_code(r), "%s: %s", dir, sluice_strerror(r));
    const struct stat_row rows[] = {
        {"durable_lsn", "every record at or below it survived fdatasync", s.durable_lsn},
        {"compacted_lsn", "every record at or below it is in the cold tier", s.compacted_lsn},
        {"log_segments", "live log segments", s.segments},
        {"cold_map_bytes", "LMDB map size", s.cold_map_bytes},
        {"cold_used_bytes", "LMDB pages in use", s.cold_used_bytes},
    };
    size_t n = sizeof rows / sizeof rows[0];
    if (json) {
        fputs("{", stdout);
        for (size_t i = 0; i < n; i++)
            printf("%s\"%s\":%" PRIu64, i ? "," : "", rows[i].name, rows[i].v);
        fputs("}\n", stdout);
    } else if (prom) {
        for (size_t i = 0; i < n; i++)
            printf("# HELP sluice_%s %s\n# TYPE sluice_%s gauge\nsluice_%s %" PRIu64 "\n",
                   rows[i].name, rows[i].help, rows[i].name, rows[i].name, rows[i].v);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%-16s %20" PRIu64 "  %s\n", rows[i].name, rows[i].v, rows[i].help);
        printf("(a read-only view: records still only in a live writer's ring are not "
               "counted, and the writer's own counters are its own)\n");
    }
    return CLI_OK;
}

int cli_compact(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-')
        return cli_fail("compact", CLI_USAGE, "usage: sluice compact DIR");
    sluice_db *db;
    int code = cli_open("compact", argv[2], 0, &db);
    if (code)
        return code;
    struct sluice_stats before, after;
    int r = sluice_stats(db, &before);
    if (!r)
        r = sluice_compact(db);
    if (!r)
        r = sluice_stats(db, &after);
    int rc = sluice_close(db);
    if (r || rc)
        return cli_fail("compact", cli_code(r ? r : rc), "%s: %s", argv[2],
                        sluice_strerror(r ? r : rc));
    printf("compacted_lsn %" PRIu64 " -> %" PRIu64 "; %" PRIu64 " records moved, %" PRIu64
           " segments deleted; cold tier %.1f MB in use\n",
           before.compacted_lsn, after.compacted_lsn, after.compacted_records,
           after.segments_deleted, after.cold_used_bytes / 1e6);
    return CLI_OK;
}
