/*
 * sluice ingest and the formats it reads back: CSV (RFC 4180, strict), JSON lines, and
 * the round trip scan --json | [jq -c .] | ingest, byte for byte. Every malformed input is
 * a reported bad line with its number, never data silently merged, trimmed or dropped.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static void fresh(void) { dir = tu_mkdtemp(); }
static void cleanup(void) { tu_rmdir(dir); }
TestSuite(ingest, .init = fresh, .fini = cleanup);

static char *put_file(const char *name, const char *text)
{
    return tc_write_file(dir, name, text, strlen(text));
}

/* The records of the whole directory as CSV (scan over all time). */
static const char *scan_csv(void)
{
    cr_assert_eq(tc_run("scan", dir, "--from", "0", "--to", "18446744073709551615", "--csv", NULL), 0,
                 "%s", tc_err);
    return tc_out;
}

Test(ingest, csv_reports_bad_lines_by_number_and_loads_the_rest)
{
    char *csv = put_file("in.csv", "ts,extra,key,value\n"
                                   "500,x,a,plain\n"
                                   "501,x,a,\"quoted, with comma and \"\"quotes\"\"\"\n"
                                   "not-a-ts,x,a,bad\n"
                                   "502,x,a,\"two\nlines\"\n"
                                   "503,x\n"
                                   "1970-01-01T00:00:00.000000504Z,x,b,rfc\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "in.csv:4: bad ts 'not-a-ts'"), "%s", tc_err);
    cr_expect(strstr(tc_err, "in.csv:7: 2 fields"), "%s", tc_err);
    cr_expect(strstr(tc_out, "ingested 4 records") && strstr(tc_out, "2 bad lines"), "%s", tc_out);
    cr_assert_eq(tc_run("get", dir, "a", "501", "--csv", NULL), 0);
    cr_expect_str_eq(tc_out, "key,ts,value\r\na,501,\"quoted, with comma and \"\"quotes\"\"\"\r\n");
    cr_assert_eq(tc_run("get", dir, "a", "502", "--json", NULL), 0);
    cr_expect(strstr(tc_out, "\"two\\nlines\""), "%s", tc_out);
    cr_expect_eq(tc_run("get", dir, "b", "504", NULL), 0);
    /* a header without the needed columns is refused before anything is loaded */
    char *bad = put_file("bad.csv", "key,time,value\nz,1,v\n");
    cr_expect_eq(tc_run("ingest", dir, bad, NULL), 1);
    cr_expect(strstr(tc_err, "must name the columns"), "%s", tc_err);
    cr_expect_eq(tc_run("get", dir, "z", "1", NULL), 1);
    /* --max-errors stops early */
    char *many = put_file("many.csv", "key,ts,value\nq,x,1\nq,y,2\nq,z,3\nq,7,4\n");
    cr_expect_eq(tc_run("ingest", dir, "--max-errors", "2", many, NULL), 1);
    cr_expect(strstr(tc_err, "stopping after 2 bad lines"), "%s", tc_err);
    cr_expect_eq(tc_run("get", dir, "q", "7", NULL), 1, "nothing after the stop was loaded");
    free(csv);
    free(bad);
    free(many);
}

/* The first user's finding: an unterminated quote swallowed the rest of the file into
 * one value, with 0 bad lines and exit 0. */
Test(ingest, csv_unterminated_quote_is_a_bad_line_not_a_value)
{
    char *csv = put_file("open.csv", "key,ts,value\nk1,1,\"unterminated\nk2,2,v2\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "open.csv:2: a quoted field is not closed"), "%s", tc_err);
    cr_expect(strstr(tc_err, "lines 2-3"), "the stretch it covers is named: %s", tc_err);
    cr_expect(strstr(tc_out, "ingested 0 records") && strstr(tc_out, "1 bad line"), "%s", tc_out);
    cr_expect_str_eq(scan_csv(), "", "nothing was stored");
    free(csv);
}

Test(ingest, csv_stray_quotes_extra_fields_and_spaces)
{
    char *csv = put_file("odd.csv", "key,ts,value\n"
                                    "k1,1, padded \n"            /* spaces are data */
                                    "k2,2,a,b\n"                 /* an unquoted comma */
                                    "k3,3,ab\"c\n"               /* a quote mid-field */
                                    "k4,4,\"closed\"tail\n"      /* text after the quote */
                                    "k5,5,\"spans\nlines\"x\n"   /* the same, a line later */
                                    "k6,6,\tok\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:3: 4 fields; the header has 3"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:4: a quote inside an unquoted field"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:5: a quote inside"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:6:") && strstr(tc_err, "lines 6-7"), "%s", tc_err);
    cr_expect(strstr(tc_out, "ingested 2 records") && strstr(tc_out, "4 bad lines"), "%s", tc_out);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nk1,1,1, padded \r\nk6,6,2,\tok\r\n");
    free(csv);
}

Test(ingest, csv_from_stdin_and_a_malformed_header)
{
    const char *in = "key,ts,value\r\nk,7,crlf\r\n";
    cr_expect_eq(tc_run_stdin(in, strlen(in), "ingest", dir, "-", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nk,7,1,crlf\r\n");
    const char *hdr = "key,\"ts,value\nk,8,x\n";
    cr_expect_eq(tc_run_stdin(hdr, strlen(hdr), "ingest", dir, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "malformed header"), "%s", tc_err);
}

Test(ingest, jsonl_strings_numbers_and_objects)
{
    char *jl = put_file("in.jsonl", "{\"key\":\"j\",\"ts\":10,\"value\":\"text\"}\n"
                                    "{\"key\":\"j\",\"ts\":\"1970-01-01T00:00:00.000000011Z\",\"value\":{\"t\":21.5}}\n"
                                    "\n"
                                    "{\"key\":\"j\",\"ts\":-1,\"value\":\"neg\"}\n"
                                    "not json\n"
                                    "{\"key\":\"j\",\"ts\":12,\"value\":[1,2]}\n");
    cr_expect_eq(tc_run("ingest", dir, "--ack", "durable", jl, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "in.jsonl:4:") && strstr(tc_err, "in.jsonl:5: not JSON"), "%s", tc_err);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nj,10,1,text\r\nj,11,2,\"{\"\"t\"\":21.5}\"\r\nj,12,3,\"[1,2]\"\r\n");
    free(jl);
}
