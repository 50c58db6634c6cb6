/* The sluice command-line tool. cli_main does all the work and never calls exit(), so
 * tests and fuzzers can run it in process. Exit codes: 0 success, 1 the thing asked for
 * is absent or damaged, 2 usage or environment error. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H
int cli_main(int argc, char **argv);
int cli_demo(int argc, char **argv);
#endif
