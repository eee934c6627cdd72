/* cli/cmd_export.c - `tollgate export allocation`: the daily per-call table for finance */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/clock.h"
#include "finops/allocation.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate export allocation --day YYYY-MM-DD [--format csv|json] [--config FILE] "
    "[--ledger PATH]\n"
    "                                  [--allocate-unattributed proportional [--by FIELD]]\n"
    "\n"
    "One row per call of that UTC day: request_id, tenant, team, cost center, feature, workflow,\n"
    "actor, model, every token type and the cost in USD (empty when unpriced, never 0).\n"
    "--allocate-unattributed proportional: a call whose FIELD (default team) is empty is split\n"
    "over the FIELD values of its virtual key's attributed spend that day\n"
    "(allocation_method=proportional); docs/REPORTS.md.\n";

int tg_cmd_export(int argc, char **argv)
{
    const char *config = NULL, *ledger = NULL, *day = NULL, *by = NULL;
    bool proportional = false;
    enum tg_report_format format = TG_REPORT_CSV;
    struct tg_errbuf eb;
    int64_t ms;
    if (argc < 2 || strcmp(argv[1], "allocation") != 0) {
        if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        fprintf(stderr, "tollgate export: unknown export '%s' (available: allocation)\n%s",
                argc >= 2 ? argv[1] : "", usage_text);
        return 2;
    }
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "tollgate export: %s needs a value\n%s", a, usage_text);
            return 2;
        }
        if (strcmp(a, "--day") == 0)
            day = v;
        else if (strcmp(a, "--config") == 0)
            config = v;
        else if (strcmp(a, "--ledger") == 0)
            ledger = v;
        else if (strcmp(a, "--by") == 0)
            by = v;
        else if (strcmp(a, "--allocate-unattributed") == 0 && strcmp(v, "proportional") == 0)
            proportional = true;
        else if (strcmp(a, "--format") == 0 && (strcmp(v, "csv") == 0 || strcmp(v, "json") == 0))
            format = v[0] == 'j' ? TG_REPORT_JSON : TG_REPORT_CSV;
        else {
            fprintf(stderr, "tollgate export: bad option '%s %s'\n%s", a, v, usage_text);
            return 2;
        }
    }
    if (day == NULL || strlen(day) != 10 || tg_parse_time(day, &ms) != 0) {
        fprintf(stderr, "tollgate export allocation: --day YYYY-MM-DD is required\n");
        return 2;
    }
    if (by != NULL && !proportional) {
        fprintf(stderr, "tollgate export allocation: --by needs --allocate-unattributed\n");
        return 2;
    }
    sqlite3 *db = NULL;
    if (tg_cli_open_ledger(config, ledger, &db) != 0)
        return 1;
    struct tg_buf out = {0};
    int rc = proportional
                 ? tg_allocation_export_proportional(db, day, by ? by : "team", format, &out, &eb)
                 : tg_allocation_export(db, day, format, &out, &eb);
    sqlite3_close(db);
    if (rc != 0)
        fprintf(stderr, "tollgate: %s\n", eb.msg);
    else
        fwrite(out.base ? out.base : "", 1, out.len, stdout);
    tg_buf_free(&out);
    return rc == 0 ? 0 : rc == TG_ERR_INVALID ? 2 : 1;
}
