#include "imgtrust/cli.h"

#include <stdio.h>
#include <string.h>

#include "imgtrust/version.h"

int it_cli_bool(const char *arg, int *out)
{
        if (!arg || !strcmp(arg, "true"))
                *out = 1;
        else if (!strcmp(arg, "false"))
                *out = 0;
        else
                return -1;
        return 0;
}

void it_cli_version(const char *prog)
{
        printf("%s (imgtrust) %s\n", prog, IMGTRUST_VERSION);
}

int it_cli_take_option(int *argc, char **argv, const char *const *names, const char **value,
                       const char *prog)
{
        int out = 1;
        for (int i = 1; i < *argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0) {
                        while (i < *argc)
                                argv[out++] = argv[i++];
                        break;
                }
                bool taken = false;
                for (const char *const *n = names; *n; n++) {
                        size_t l = strlen(*n);
                        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, *n, l) != 0)
                                continue;
                        if (a[2 + l] == '=') {
                                *value = a + 3 + l;
                                taken = true;
                        } else if (a[2 + l] == '\0') {
                                if (i + 1 >= *argc) {
                                        fprintf(stderr, "%s: option --%s needs a value\n", prog,
                                                *n);
                                        return -1;
                                }
                                *value = argv[++i];
                                taken = true;
                        }
                        if (taken)
                                break;
                }
                if (!taken)
                        argv[out++] = argv[i];
        }
        argv[out] = NULL;
        *argc = out;
        return 0;
}

int it_cli_fail(const char *prog, const it_error *err)
{
        it_error_print(prog, err);
        return it_error_exit_code(err->code);
}

int it_cli_usage(const char *prog, const char *cmd, const char *msg)
{
        fprintf(stderr, "%s: %s: %s (see '%s %s --help')\n", prog, cmd, msg, prog, cmd);
        return IT_EXIT_INPUT;
}
