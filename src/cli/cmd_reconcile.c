/* cli/cmd_reconcile.c - `tollgate reconcile`: ledger cost against a provider's usage export */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/money.h"
#include "finops/reconcile.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate reconcile --invoice FILE [--format simple|focus] [--from YYYY-MM-DD]\n"
    "                          [--to YYYY-MM-DD] [--tolerance-usd X] [--output table|csv|json]\n"
    "                          [--config FILE] [--ledger PATH]\n"
    "\n"
    "Compares the ledger's cost per (day, provider, model) with the invoice: match, variance,\n"
    "invoice_only (spend the gateway never saw), ledger_only (absent from the invoice) and\n"
    "unpriced (ledger calls without a price). simple: CSV date,provider,model,cost_usd;\n"
    "focus: a FOCUS 1.2 CSV (ChargePeriodStart, ProviderName, SkuId, BilledCost ...).\n"
    "The range defaults to the invoice's first and last day.\n"
    "Exit: 0 everything matches, 3 anything else, 2 usage or invoice errors, 1 failure.\n";

#define EXIT_MISMATCH 3

int tg_cmd_reconcile(int argc, char **argv)
{
    struct tg_reconcile_query q;
    struct tg_reconcile_summary sum;
    struct tg_invoice inv = {0};
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    sqlite3 *db = NULL;
    const char *config = NULL, *ledger = NULL, *invoice = NULL;
    enum tg_invoice_format format = TG_INVOICE_SIMPLE;
    int status = 0;
    memset(&q, 0, sizeof q);
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "tollgate reconcile: %s needs a value\n%s", a, usage_text);
            return 2;
        }
        if (strcmp(a, "--invoice") == 0)
            invoice = v;
        else if (strcmp(a, "--config") == 0)
            config = v;
        else if (strcmp(a, "--ledger") == 0)
            ledger = v;
        else if (strcmp(a, "--format") == 0 && strcmp(v, "simple") == 0)
            format = TG_INVOICE_SIMPLE;
        else if (strcmp(a, "--format") == 0 && strcmp(v, "focus") == 0)
            format = TG_INVOICE_FOCUS;
        else if (strcmp(a, "--output") == 0 && strcmp(v, "table") == 0)
            q.format = TG_REPORT_TABLE;
        else if (strcmp(a, "--output") == 0 && strcmp(v, "csv") == 0)
            q.format = TG_REPORT_CSV;
        else if (strcmp(a, "--output") == 0 && strcmp(v, "json") == 0)
            q.format = TG_REPORT_JSON;
        else if (strcmp(a, "--tolerance-usd") == 0) {
            if (tg_money_parse_decimal(v, 9, &q.tolerance_nanos) != 0) {
                fprintf(stderr, "tollgate reconcile: --tolerance-usd '%s': a USD amount\n", v);
                return 2;
            }
        } else if (strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (tg_cli_day(v, strcmp(a, "--from") == 0 ? q.from : q.to) != 0) {
                fprintf(stderr, "tollgate reconcile: %s '%s': expected YYYY-MM-DD\n", a, v);
                return 2;
            }
        } else {
            fprintf(stderr, "tollgate reconcile: bad option '%s %s'\n%s", a, v, usage_text);
            return 2;
        }
    }
    if (invoice == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (tg_invoice_load(&inv, invoice, format, &eb) != 0) {
        fprintf(stderr, "tollgate reconcile: %s\n", eb.msg);
        status = 2;
        goto out;
    }
    status = tg_cli_open_ledger(config, ledger, &db);
    if (status != 0)
        goto out;
    int rc = tg_reconcile_run(db, &inv, &q, &out, &sum, &eb);
    if (rc != 0) {
        fprintf(stderr, "tollgate reconcile: %s\n", eb.msg);
        status = rc == TG_ERR_INVALID ? 2 : 1;
        goto out;
    }
    fwrite(out.base ? out.base : "", 1, out.len, stdout);
    if (sum.variances + sum.invoice_only + sum.ledger_only + sum.unpriced > 0)
        status = EXIT_MISMATCH;
out:
    sqlite3_close(db);
    tg_buf_free(&out);
    tg_invoice_free(&inv);
    return status;
}
