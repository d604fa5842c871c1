/* Small pieces every program shares: version/help printing and option values. */
#ifndef IMGTRUST_CLI_H
#define IMGTRUST_CLI_H

#include <stdbool.h>

#include "imgtrust/error.h"

/* Print the error as "PROG: outer: ...: message" (details indented below) and return the
 * documented exit code for it. */
int it_cli_fail(const char *prog, const it_error *err);
/* Print "PROG: CMD: MSG (see 'PROG CMD --help')" and return the usage exit code (2). */
int it_cli_usage(const char *prog, const char *cmd, const char *msg);

/* The value of a boolean option given as --NAME, --NAME=true or --NAME=false (arg NULL, "true"
 * or "false"): 1 or 0 in *out; -1 for anything else. */
int it_cli_bool(const char *arg, int *out);

/* "PROG (imgtrust) VERSION" on stdout. */
void it_cli_version(const char *prog);

/* Remove `--NAME VALUE` / `--NAME=VALUE` (for each of the names given, NULL-terminated) from
 * argv wherever it stands before a "--", so global options may follow the subcommand. Stores the
 * last value in *value (borrowed from argv). Returns -1 (and prints a usage error) when the value
 * is missing. */
int it_cli_take_option(int *argc, char **argv, const char *const *names, const char **value,
                       const char *prog);

#endif
