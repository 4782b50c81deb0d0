/*
 * funless — entry point: dispatches to the subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "common/util.h"
#include "worker/worker.h"

#ifndef FUNLESS_VERSION
#define FUNLESS_VERSION "dev"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"dev", cmd_dev, "run a Core and a Worker on loopback (SQLite): the platform on a laptop"},
    {"core", core_main, "run the Core: REST API, function store, tokens"},
    {"worker", worker_main, "run a Worker: executes the functions a Core sends"},
    {"run", cmd_run, "run one function locally through the engine (no Core)"},
    {"import-funless", cmd_import_funless,
     "bring a FunLess installation's functions, scripts and tokens into funless's store"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: funless COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n`funless COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("funless %s\n", FUNLESS_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "funless: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
