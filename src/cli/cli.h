/* cli/cli.h - the command table and the entry point of every subcommand */
#ifndef TG_CLI_CLI_H
#define TG_CLI_CLI_H

#include <sqlite3.h>

/** Dispatches argv[1] to its subcommand; returns the process exit code. */
int tg_cli_main(int argc, char **argv);

/** The ledger path a command uses: --ledger when given, else the config file's `ledger`
 *  (or the default). Prints the config error and returns -1 when the file is bad. */
int tg_cli_ledger_path(const char *config, const char *ledger, char *out, unsigned long n);

/** Opens the ledger tg_cli_ledger_path names read-only into *db (the caller closes it).
 *  Returns 0, or the exit code 1 after printing the error. */
int tg_cli_open_ledger(const char *config, const char *ledger, sqlite3 **db);

/** Copies v into out when it is a UTC day "YYYY-MM-DD"; -1 (out untouched) otherwise. */
int tg_cli_day(const char *v, char out[11]);

/* One function per subcommand, argv starting at the subcommand name. Exit codes:
 * 0 ok, 1 failure (message on stderr), 2 usage error. */
int tg_cmd_serve(int argc, char **argv);
int tg_cmd_pricing(int argc, char **argv);
int tg_cmd_keys(int argc, char **argv);
int tg_cmd_budgets(int argc, char **argv);
int tg_cmd_report(int argc, char **argv);
int tg_cmd_export(int argc, char **argv);
int tg_cmd_audit(int argc, char **argv);
int tg_cmd_reconcile(int argc, char **argv);

#endif
