/* sluice tail: records in LSN order through the public tail API, as a downstream
 * consumer (or kafka-console-consumer) sees them; --follow keeps reading what another
 * process writes. Opens the directory read-only: never takes the writer's lock. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void print_tail_record(enum cli_format fmt, int rfc3339, int *header_done,
                              const sluice_tail_record *r)
{
    char ts[48];
    cli_format_ts(r->ts, rfc3339, ts);
    const char *kind = r->flags & SLUICE_TAIL_DELETE ? "delete" : "put";
    int late = (r->flags & SLUICE_TAIL_LATE) != 0;
    switch (fmt) {
    case CLI_JSON:
        fputc('{', stdout);
        cli_print_json_u64(stdout, 0, "lsn", r->lsn);
        printf(",\"type\":\"%s\",", kind);
        cli_print_json_bytes(stdout, 0, "key", r->key, r->klen);
        printf(",\"ts\":\"%s\",\"late\":%s", ts, late ? "true" : "false");
        cli_print_json_bytes(stdout, 1, "value", r->val, r->vlen);
        fputs("}\n", stdout);
        break;
    case CLI_CSV:
        if (!*header_done)
            fputs("lsn,type,key,ts,late,value\r\n", stdout);
        printf("%" PRIu64 ",%s,", r->lsn, kind);
        cli_print_csv_field(stdout, r->key, r->klen);
        printf(",%s,%d,", ts, late);
        cli_print_csv_field(stdout, r->val, r->vlen);
        fputs("\r\n", stdout);
        break;
    case CLI_TABLE:
        if (!*header_done)
            printf("%10s %-6s %-24s %*s  %s\n", "LSN", "TYPE", "KEY", rfc3339 ? 30 : 20, "TS", "VALUE");
        printf("%10" PRIu64 " %-6s ", r->lsn, late ? (r->flags & SLUICE_TAIL_DELETE ? "del*" : "put*") : kind);
        {
            char key[CLI_KEY_COLUMN];
            cli_key_column(key, r->key, r->klen);
            printf("%-24s %*s  ", key, rfc3339 ? 30 : 20, ts);
        }
        cli_print_bytes(stdout, r->val, r->vlen, 48);
        fputc('\n', stdout);
        break;
    }
    *header_done = 1;
}

int cli_tail(int argc, char **argv)
{
    const char *dir = NULL, *cursor = NULL, *v;
    uint64_t from = 0, max = UINT64_MAX;
    int from_end = 0, follow = 0, rfc3339 = 0, ack = SLUICE_ACK_WRITTEN, froms = 0;
    enum cli_format fmt = CLI_TABLE;
    for (int i = 2; i < argc; i++) {
        int m;
        if (!strcmp(argv[i], "--json")) {
            fmt = CLI_JSON;
        } else if (!strcmp(argv[i], "--csv")) {
            fmt = CLI_CSV;
        } else if (!strcmp(argv[i], "--follow") || !strcmp(argv[i], "-f")) {
            follow = 1;
        } else if (!strcmp(argv[i], "--from-end")) {
            from_end = 1;
            froms++;
        } else if ((m = cli_opt(argc, argv, &i, "--from-lsn", &v))) {
            if (m < 0 || cli_u64(v, &from) || from == 0)
                return cli_fail("tail", CLI_USAGE, "--from-lsn needs an LSN >= 1");
            froms++;
        } else if ((m = cli_opt(argc, argv, &i, "--from-cursor", &v))) {
            if (m < 0 || !*v)
                return cli_fail("tail", CLI_USAGE, "--from-cursor needs a name");
            cursor = v;
            froms++;
        } else if ((m = cli_opt(argc, argv, &i, "--max", &v))) {
            if (m < 0 || cli_u64(v, &max))
                return cli_fail("tail", CLI_USAGE, "--max needs a count");
        } else if ((m = cli_opt(argc, argv, &i, "--ack", &v))) {
            if (m < 0)
                return cli_fail("tail", CLI_USAGE, "--ack needs a level");
            if (!strcmp(v, "memory"))
                ack = SLUICE_ACK_MEMORY;
            else if (!strcmp(v, "written"))
                ack = SLUICE_ACK_WRITTEN;
            else if (!strcmp(v, "durable"))
                ack = SLUICE_ACK_DURABLE;
            else
                return cli_fail("tail", CLI_USAGE, "--ack: memory, written or durable, not %s", v);
        } else if ((m = cli_opt(argc, argv, &i, "--time-format", &v))) {
            if (m < 0 || (strcmp(v, "ns") && strcmp(v, "rfc3339")))
                return cli_fail("tail", CLI_USAGE, "--time-format: ns or rfc3339");
            rfc3339 = !strcmp(v, "rfc3339");
        } else if (argv[i][0] == '-') {
            return cli_fail("tail", CLI_USAGE, "unknown option %s", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return cli_fail("tail", CLI_USAGE, "one directory only");
        }
    }
    if (!dir)
        return cli_fail("tail", CLI_USAGE, "usage: sluice tail DIR [--from-lsn N | --from-cursor NAME | "
                                           "--from-end] [--follow] [--max N] [--json|--csv]");
    if (froms > 1)
        return cli_fail("tail", CLI_USAGE, "--from-lsn, --from-cursor and --from-end exclude each other");
    sluice_db *db;
    int code = cli_open("tail", dir, 1, &db);
    if (code)
        return code;
    int r = 0;
    if (cursor) {
        uint64_t at;
        int lagging = 0;
        r = sluice_cursor_get(db, cursor, &at, &lagging);
        if (r == SLUICE_NOTFOUND) {
            code = cli_fail("tail", CLI_ABSENT, "%s: no cursor named %s", dir, cursor);
            goto out;
        }
        from = at + 1;
    } else if (from_end) {
        from = SLUICE_TAIL_END;
    }
    sluice_tail *t = NULL;
    if (!r)
        r = sluice_tail_open(db, from, ack, &t);
    if (r == SLUICE_ETRIMMED) {
        uint64_t oldest = 0;
        if (sluice_tail_oldest(db, &oldest))
            oldest = 0;
        code = cli_fail("tail", CLI_ABSENT,
                        "%s: LSN %" PRIu64 " is no longer retained; the oldest is %" PRIu64
                        " (older records are in the cold tier: sluice scan)", dir, from, oldest);
        goto out;
    }
    if (r) {
        code = cli_fail("tail", cli_code(r), "%s: %s", dir, sluice_strerror(r));
        goto out;
    }
    int header_done = 0;
    for (uint64_t n = 0; n < max;) {
        sluice_tail_record rec;
        r = sluice_tail_next(t, &rec, follow ? 1000 : 0);
        if (r == SLUICE_ETIMEDOUT) {
            if (!follow)
                break;
            continue;
        }
        if (r) {
            code = cli_fail("tail", cli_code(r), "%s: at LSN %" PRIu64 ": %s", dir,
                            sluice_tail_position(t), sluice_strerror(r));
            break;
        }
        print_tail_record(fmt, rfc3339, &header_done, &rec);
        if (follow)
            fflush(stdout);
        n++;
    }
    fflush(stdout);
    sluice_tail_close(t);
out:
    (void)sluice_close(db);
    return code;
}
