/*
 * cli — the `funless` command: one binary, one subcommand per role.
 */
#ifndef FL_CLI_CLI_H
#define FL_CLI_CLI_H

/* Exit codes of `funless run` (documented in `funless run --help`). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FUNCTION_ERROR = 1, /* the function reported an error */
    CLI_EXIT_TRAP = 2,           /* trapped, broke a limit, or returned invalid output */
    CLI_EXIT_TIMEOUT = 3,        /* exceeded its time limit */
    CLI_EXIT_REFUSED = 4,        /* the module was refused */
    CLI_EXIT_USAGE = 64,         /* bad command line or input */
    CLI_EXIT_INTERNAL = 70,      /* the host failed (I/O, compiler) */
};

int cmd_run(int argc, char **argv);
int cmd_dev(int argc, char **argv);
int cmd_import_funless(int argc, char **argv);

#endif
