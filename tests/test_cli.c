#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>

#include "cli.h"
#include "util.h"

static int run(int argc, char **argv) { return cli_main(argc, argv); }

Test(cli, usage_errors_exit_2)
{
    char *none[] = {"sluice"};
    char *bogus[] = {"sluice", "frobnicate"};
    char *demo_bad[] = {"sluice", "demo", "--producers", "0"};
    char *stats_usage[] = {"sluice", "stats"};
    cr_expect_eq(run(1, none), 2);
    cr_expect_eq(run(2, bogus), 2);
    cr_expect_eq(run(4, demo_bad), 2);
    cr_expect_eq(run(2, stats_usage), 2);
}

Test(cli, help_and_version_exit_0)
{
    char *help[] = {"sluice", "help"};
    char *version[] = {"sluice", "version"};
    cr_expect_eq(run(2, help), 0);
    cr_expect_eq(run(2, version), 0);
}

Test(cli, demo_runs_end_to_end_and_stats_reads_its_directory)
{
    char *dir = tu_mkdtemp();
    char *demo[] = {"sluice", "demo", dir, "--records", "20000", "--producers", "2"};
    cr_assert_eq(run(7, demo), 0);
    char *stats[] = {"sluice", "stats", dir};
    cr_expect_eq(run(3, stats), 0);
    tu_rmdir(dir);
}

Test(cli, stats_on_a_non_sluice_directory_exits_1)
{
    char *dir = tu_mkdtemp();
    char *stats[] = {"sluice", "stats", dir};
    cr_expect_eq(run(3, stats), 1);
    tu_rmdir(dir);
}
