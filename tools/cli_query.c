/* sluice get, scan, keys, stats and compact: thin layers on the public API. */
#include "cli.h"

#include <inttypes.h>
#include <jansson.h>
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
    case CLI_JSON: /* ts and lsn as strings: exact in every JSON reader (cli.h) */
        fputc('{', stdout);
        cli_print_json_bytes(stdout, 0, "key", r->key, r->klen);
        printf(",\"ts\":\"%s\"", ts);
        if (!o->no_lsn)
            cli_print_json_u64(stdout, 1, "lsn", r->lsn);
        cli_print_json_bytes(stdout, 1, "value", r->val, r->vlen);
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
            char key[CLI_KEY_COLUMN];
            cli_key_column(key, r->key, r->klen);
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

/* Several directories — one per machine of a Kafka consumer group (docs/kafka.md) — as
 * one: their iterators merged in (ts, key) order (ts order for one key), a (key, ts) that
 * several hold printed once. LSNs are each directory's own, so none is printed. */
#define SCAN_DIRS_MAX 64
static int rec_cmp(const sluice_record *a, const sluice_record *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

static int scan_merged(struct out *o, const char **dirs, int ndirs, const char *key, size_t klen,
                       uint64_t from, uint64_t to, uint64_t limit)
{
    sluice_db *db[SCAN_DIRS_MAX] = {0};
    sluice_iter *it[SCAN_DIRS_MAX] = {0};
    sluice_record cur[SCAN_DIRS_MAX];
    int live[SCAN_DIRS_MAX] = {0}, code = CLI_OK, r = 0, bad = -1;
    for (int i = 0; i < ndirs && code == CLI_OK; i++) {
        if ((code = cli_open("scan", dirs[i], 1, &db[i])))
            break;
        if ((r = sluice_iter_open(db[i], key, klen, from, to, &it[i])) ||
            ((r = sluice_iter_next(it[i], &cur[i])) && r != SLUICE_END)) {
            bad = i;
            break;
        }
        live[i] = r == 0;
        r = 0;
    }
    o->no_lsn = 1;
    for (uint64_t n = 0; code == CLI_OK && bad < 0 && n < limit; n++) {
        int best = -1;
        for (int i = 0; i < ndirs; i++)
            if (live[i] && (best < 0 || rec_cmp(&cur[i], &cur[best]) < 0))
                best = i;
        if (best < 0)
            break;
        print_record(o, &cur[best]);
        /* advance every directory holding this (key, ts), the printed one last: its
         * record's bytes stay valid until its own iterator moves */
        for (int pass = 0; pass < 2 && bad < 0; pass++)
            for (int i = 0; i < ndirs && bad < 0; i++) {
                if (!live[i] || (pass == 0) == (i == best) || (i != best && rec_cmp(&cur[i], &cur[best])))
                    continue;
                r = sluice_iter_next(it[i], &cur[i]);
                live[i] = r == 0;
                if (r && r != SLUICE_END)
                    bad = i;
            }
    }
    if (bad >= 0)
        code = cli_fail("scan", cli_code(r), "%s: %s", dirs[bad], sluice_strerror(r));
    for (int i = 0; i < ndirs; i++) {
        sluice_iter_close(it[i]);
        if (db[i])
            sluice_close(db[i]);
    }
    return code;
}

/* scan --latest: the newest record of every key starting with prefix, in key order. */
static int scan_latest(struct out *o, const char *dir, const char *prefix, uint64_t limit)
{
    sluice_db *db;
    int code = cli_open("scan", dir, 1, &db);
    if (code)
        return code;
    sluice_series *s;
    sluice_series_info info;
    int r = sluice_series_open(db, prefix, prefix ? strlen(prefix) : 0, SLUICE_SERIES_LATEST, &s);
    for (uint64_t n = 0; !r && n < limit && (r = sluice_series_next(s, &info)) == 0; n++) {
        sluice_record rec = {.key = info.key, .klen = info.klen, .ts = info.latest_ts,
                             .val = info.latest_val, .vlen = info.latest_vlen,
                             .lsn = info.latest_lsn};
        print_record(o, &rec);
    }
    code = r == 0 || r == SLUICE_END ? CLI_OK
                                     : cli_fail("scan", cli_code(r), "%s: %s", dir, sluice_strerror(r));
    sluice_series_close(s);
    sluice_close(db);
    return code;
}

static int usage_latest(void)
{
    return cli_fail("scan", CLI_USAGE, "--latest takes one DIR and --prefix, not --key, --from "
                                       "or --to (the newest record of every key)");
}

int cli_scan(int argc, char **argv)
{
    struct out o = {0};
    const char *dir = NULL, *key = NULL, *prefix = NULL, *v;
    int latest = 0;
    const char *dirs[SCAN_DIRS_MAX];
    int ndirs = 0;
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
        if (!m && (m = cli_opt(argc, argv, &i, "--prefix", &v)) > 0)
            prefix = v;
        if (!m && !strcmp(argv[i], "--latest"))
            m = latest = 1;
        if (m < 0)
            return cli_fail("scan", CLI_USAGE, "%s needs a valid value", argv[i]);
        if (m)
            continue;
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_fail("scan", CLI_USAGE, "unknown option %s", argv[i]);
        if (ndirs == SCAN_DIRS_MAX)
            return cli_fail("scan", CLI_USAGE, "at most %d directories", SCAN_DIRS_MAX);
        dirs[ndirs++] = argv[i];
        dir = dirs[0];
    }
    if (!dir)
        return cli_fail("scan", CLI_USAGE, "usage: sluice scan DIR [--key K] --from T --to T");
    if (prefix && strlen(prefix) > SLUICE_KEY_MAX)
        return cli_fail("scan", CLI_USAGE, "a prefix is at most %d bytes", SLUICE_KEY_MAX);
    if (latest && (key || have_from || have_to || ndirs > 1))
        return usage_latest();
    if (latest)
        return scan_latest(&o, dir, prefix, limit);
    if (prefix)
        return cli_fail("scan", CLI_USAGE, "--prefix goes with --latest (a time-range scan "
                                           "takes --key)");
    if (!have_from || !have_to)
        return cli_fail("scan", CLI_USAGE,
                        "the time range is required: --from T --to T selects records with "
                        "from <= ts < to (T in integer ns or RFC 3339; --from 0 --to "
                        "18446744073709551615 for everything)");
    if (from > to)
        return cli_fail("scan", CLI_USAGE, "--from is after --to");
    size_t klen = key ? strlen(key) : 0;
    if (key && (klen == 0 || klen > SLUICE_KEY_MAX))
        return cli_fail("scan", CLI_USAGE, "a key is 1 to %d bytes", SLUICE_KEY_MAX);
    if (ndirs > 1)
        return scan_merged(&o, dirs, ndirs, key, klen, from, to, limit);
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

static void print_series(struct out *o, const sluice_series_info *in)
{
    char first[48], last[48];
    cli_format_ts(in->first_ts, o->rfc3339, first);
    cli_format_ts(in->last_ts, o->rfc3339, last);
    switch (o->fmt) {
    case CLI_JSON: /* counts and ts as strings, as scan --json writes them (cli.h) */
        fputc('{', stdout);
        cli_print_json_bytes(stdout, 0, "key", in->key, in->klen);
        cli_print_json_u64(stdout, 1, "records", in->records);
        printf(",\"first_ts\":\"%s\",\"last_ts\":\"%s\"}\n", first, last);
        break;
    case CLI_CSV:
        if (!o->header_done)
            fputs("key,records,first_ts,last_ts\r\n", stdout);
        cli_print_csv_field(stdout, in->key, in->klen);
        printf(",%" PRIu64 ",%s,%s\r\n", in->records, first, last);
        break;
    case CLI_TABLE:
        if (!o->header_done)
            printf("%-24s %12s %*s %*s\n", "KEY", "RECORDS", o->rfc3339 ? 30 : 20, "FIRST",
                   o->rfc3339 ? 30 : 20, "LAST");
        {
            char key[CLI_KEY_COLUMN];
            cli_key_column(key, in->key, in->klen);
            printf("%-24s %12" PRIu64 " %*s %*s\n", key, in->records, o->rfc3339 ? 30 : 20, first,
                   o->rfc3339 ? 30 : 20, last);
        }
        break;
    }
    o->header_done = 1;
}

int cli_keys(int argc, char **argv)
{
    struct out o = {0};
    const char *dir = NULL, *prefix = NULL, *v;
    for (int i = 2; i < argc; i++) {
        int m = out_opt(&o, argc, argv, &i);
        if (!m && (m = cli_opt(argc, argv, &i, "--prefix", &v)) > 0)
            prefix = v;
        if (m < 0)
            return cli_fail("keys", CLI_USAGE, "%s needs a valid value", argv[i]);
        if (m)
            continue;
        if ((argv[i][0] == '-' && argv[i][1] == '-') || dir)
            return cli_fail("keys", CLI_USAGE, "usage: sluice keys DIR [--prefix P] [--json|--csv]");
        dir = argv[i];
    }
    if (!dir)
        return cli_fail("keys", CLI_USAGE, "usage: sluice keys DIR [--prefix P] [--json|--csv]");
    if (prefix && strlen(prefix) > SLUICE_KEY_MAX)
        return cli_fail("keys", CLI_USAGE, "a prefix is at most %d bytes", SLUICE_KEY_MAX);
    sluice_db *db;
    int code = cli_open("keys", dir, 1, &db);
    if (code)
        return code;
    sluice_series *s;
    sluice_series_info info;
    int r = sluice_series_open(db, prefix, prefix ? strlen(prefix) : 0, SLUICE_SERIES_STATS, &s);
    while (!r && (r = sluice_series_next(s, &info)) == 0)
        print_series(&o, &info);
    code = r == 0 || r == SLUICE_END ? CLI_OK
                                     : cli_fail("keys", cli_code(r), "%s: %s", dir, sluice_strerror(r));
    sluice_series_close(s);
    sluice_close(db);
    return code;
}

/* The JSON snapshot as a table: counters and gauges, then the histograms. */
static int print_table(const char *text, const char *source)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o)
        return cli_fail("stats", CLI_ABSENT, "bad snapshot: %s", je.text);
    printf("%s\n", source);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_integer(v))
            printf("  %-36s %20" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
        else if (json_is_real(v))
            printf("  %-36s %20.4f\n", k, json_real_value(v));
    }
    json_t *h = json_object_get(o, "histograms");
    printf("\n  %-28s %10s %12s %12s %12s %12s\n", "histogram", "count", "p50", "p99", "p99.9", "max");
    json_object_foreach(h, k, v) {
        printf("  %-28s %10" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT
               " %12" JSON_INTEGER_FORMAT " %12" JSON_INTEGER_FORMAT "\n",
               k, json_integer_value(json_object_get(v, "count")), json_integer_value(json_object_get(v, "p50")),
               json_integer_value(json_object_get(v, "p99")), json_integer_value(json_object_get(v, "p999")),
               json_integer_value(json_object_get(v, "max")));
    }
    json_decref(o);
    return CLI_OK;
}

int cli_stats(int argc, char **argv)
{
    int fmt = 0; /* 0 table, else SLUICE_FMT_* */
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            fmt = SLUICE_FMT_JSON;
        else if (!strcmp(argv[i], "--prometheus"))
            fmt = SLUICE_FMT_PROMETHEUS;
        else if (argv[i][0] == '-' || dir)
            return cli_fail("stats", CLI_USAGE, "usage: sluice stats DIR [--json|--prometheus]");
        else
            dir = argv[i];
    }
    if (!dir)
        return cli_fail("stats", CLI_USAGE, "usage: sluice stats DIR [--json|--prometheus]");
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    sluice_live_stats live;
    if (cli_lock_held(lock) && sluice_stats_read_live(dir, &live) == 0) {
        /* a process writes DIR: its own figures, published to DIR/stats.live */
        int code = CLI_OK;
        if (fmt == SLUICE_FMT_JSON)
            fputs(live.json, stdout);
        else if (fmt == SLUICE_FMT_PROMETHEUS)
            fputs(live.prometheus, stdout);
        else {
            char when[48], src[160];
            cli_format_ts(live.time_ns, 1, when);
            snprintf(src, sizeof src, "live: process %u, snapshot of %s", live.pid, when);
            code = print_table(live.json, src);
        }
        sluice_live_stats_free(&live);
        return code;
    }
    sluice_db *db;
    int code = cli_open("stats", dir, 1, &db);
    if (code)
        return code;
    size_t len = 0, cap = 1u << 16;
    char *buf = NULL;
    int r = SLUICE_ERANGE;
    while (r == SLUICE_ERANGE && (buf = realloc(buf, cap)))
        if ((r = sluice_stats_format(db, fmt ? fmt : SLUICE_FMT_JSON, buf, cap, &len)) == SLUICE_ERANGE)
            cap = len + 1;
    sluice_close(db);
    if (!buf || r) {
        free(buf);
        return cli_fail("stats", cli_code(r ? r : SLUICE_ENOMEM), "%s: %s", dir, sluice_strerror(r ? r : SLUICE_ENOMEM));
    }
    if (fmt)
        fputs(buf, stdout);
    else
        code = print_table(buf, "no process writes this directory: a read-only view (its "
                                "counters start at zero; positions and the cold tier are real)");
    free(buf);
    return code;
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
