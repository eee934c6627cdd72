/* cli/cmd_report.c - `tollgate report`: spend by any combination of dimensions */
#include "cli/cli.h"
#include "core/clock.h"

#include "core/buf.h"
#include "finops/report.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate report --by DIM[,DIM...] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                       [--format table|csv|json] [--allocate-unattributed proportional]\n"
    "                       [--config FILE] [--ledger PATH]\n"
    "\n"
    "Cost, tokens by type, calls, unpriced calls, cache savings and tool-call share per group;\n"
    "NULL attribution is its own '(unattributed)' row; the TOTAL equals the ledger's total.\n"
    "DIM: tenant_id team cost_center feature_id workflow_id actor_id actor_type environment\n"
    "     service key_id provider model day. Dates are UTC days, inclusive; the default is\n"
    "     the current month.\n"
    "--allocate-unattributed proportional: with exactly one attribution DIM, spreads each\n"
    "     virtual key's unattributed cost over that DIM's values by the key's attributed\n"
    "     spend (an estimate: allocation_method=proportional); docs/REPORTS.md.\n";

int tg_cmd_report(int argc, char **argv)
{
    struct tg_report_query q;
    struct tg_errbuf eb;
    const char *config = NULL, *ledger = NULL, *by = NULL;
    memset(&q, 0, sizeof q);
    tg_month_to_date(q.from, q.to);
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "tollgate report: %s needs a value\n%s", a, usage_text);
            return 2;
        }
        if (strcmp(a, "--by") == 0)
            by = v;
        else if (strcmp(a, "--config") == 0)
            config = v;
        else if (strcmp(a, "--ledger") == 0)
            ledger = v;
        else if (strcmp(a, "--allocate-unattributed") == 0) {
            if (strcmp(v, "proportional") != 0) {
                fprintf(stderr, "tollgate report: --allocate-unattributed '%s': proportional\n", v);
                return 2;
            }
            q.allocate_proportional = true;
        } else if (strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (tg_cli_day(v, strcmp(a, "--from") == 0 ? q.from : q.to) != 0) {
                fprintf(stderr, "tollgate report: %s '%s': expected YYYY-MM-DD\n", a, v);
                return 2;
            }
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "table") == 0)
                q.format = TG_REPORT_TABLE;
            else if (strcmp(v, "csv") == 0)
                q.format = TG_REPORT_CSV;
            else if (strcmp(v, "json") == 0)
                q.format = TG_REPORT_JSON;
            else {
                fprintf(stderr, "tollgate report: --format '%s': table, csv or json\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "tollgate report: unknown option '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    if (by == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (tg_report_parse_dims(by, &q, &eb) != 0) {
        fprintf(stderr, "tollgate report: %s\n", eb.msg);
        return 2;
    }
    sqlite3 *db = NULL;
    if (tg_cli_open_ledger(config, ledger, &db) != 0)
        return 1;
    struct tg_buf out = {0};
    int rc = tg_report_run(db, &q, &out, &eb);
    sqlite3_close(db);
    if (rc != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        tg_buf_free(&out);
        return rc == TG_ERR_INVALID ? 2 : 1;
    }
    fwrite(out.base, 1, out.len, stdout);
    tg_buf_free(&out);
    return 0;
}
