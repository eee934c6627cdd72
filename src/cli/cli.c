/* cli/cli.c - one table of commands; each command lives in cmd_<name>.c */
#include "cli/cli.h"

#include "providers/json_util.h"

#include "config/config.h"
#include "core/clock.h"
#include "store/sqlite_store.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Commands whose module has not landed yet are simply absent from the table. */
static const struct command commands[] = {
    {"serve", tg_cmd_serve, "run the gateway"},
    {"keys", tg_cmd_keys, "create, list and revoke virtual keys"},
    {"budgets", tg_cmd_budgets, "set, list and delete budgets and spend-rate caps"},
    {"export", tg_cmd_export, "the daily allocation table; the FOCUS 1.2 cost-and-usage CSV"},
    {"report", tg_cmd_report, "spend by team, cost center, model, day, ..."},
    {"audit", tg_cmd_audit, "attribution coverage, NULL buckets, drift; where a trace drops it"},
    {"reconcile", tg_cmd_reconcile,
     "compare ledger cost with a provider's invoice (simple or FOCUS CSV)"},
    {"pricing", tg_cmd_pricing, "validate rate cards and show the price of a model"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'tollgate <command> --help' describes a command. Version " TG_VERSION ".\n");
}

int tg_cli_ledger_path(const char *config, const char *ledger, char *out, unsigned long n)
{
    struct tg_config cfg;
    struct tg_errbuf eb;
    tg_config_defaults(&cfg);
    if (config != NULL && tg_config_load_file(&cfg, config, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return -1;
    }
    snprintf(out, n, "%s", ledger != NULL ? ledger : cfg.ledger_path);
    return 0;
}

int tg_cli_open_ledger(const char *config, const char *ledger, sqlite3 **db)
{
    char path[1024];
    struct tg_errbuf eb;
    if (tg_cli_ledger_path(config, ledger, path, sizeof path) != 0)
        return 1;
    if (tg_ledger_open_readonly(path, db, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    return 0;
}

int tg_cli_day(const char *v, char out[11])
{
    int64_t ms;
    if (strlen(v) != 10 || tg_parse_time(v, &ms) != 0)
        return -1;
    memcpy(out, v, 11);
    return 0;
}

int tg_cli_main(int argc, char **argv)
{
    /* before any SQLite use: no allocation statistics, so no global mutex around every
     * SQLite malloc (the ledger writer allocates for each row it binds) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    tg_json_hooks_install(); /* before any thread parses JSON */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tollgate " TG_VERSION "\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tollgate: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
