/* cli/cmd_export.c - `tollgate export allocation|focus`: the per-call table and FOCUS 1.2 */
#include "cli/cli.h"

#include "accounting/pricing.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/money.h"
#include "finops/allocation.h"
#include "finops/focus.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate export allocation --day YYYY-MM-DD [--format csv|json] [--config FILE] "
    "[--ledger PATH]\n"
    "                                  [--allocate-unattributed proportional [--by FIELD]]\n"
    "       tollgate export focus [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                             [--granularity call|hour|day] [-o FILE] [--pricing FILE]...\n"
    "                             [--config FILE] [--ledger PATH]\n"
    "\n"
    "allocation: one row per call of that UTC day: request_id, tenant, team, cost center,\n"
    "feature, workflow, actor, model, every token type and the cost in USD (empty when\n"
    "unpriced, never 0). --allocate-unattributed proportional: a call whose FIELD (default\n"
    "team) is empty is split over the FIELD values of its virtual key's attributed spend that\n"
    "day (allocation_method=proportional); docs/REPORTS.md.\n"
    "focus: the FOCUS 1.2 cost-and-usage CSV of the UTC days [from, to] (default: the current\n"
    "month), one row per charge period (default day), owner, model and token type; unpriced\n"
    "calls have empty cost columns and are counted on stderr; unit prices come from the rate\n"
    "cards serve loads (config, shipped, --pricing) by each row's price_ref (docs/FOCUS.md).\n";

/* The rate cards `serve` would load (the config's pricing.cards and aliases, or the
 * shipped ones, then every --pricing FILE), for the rows' unit prices. NULL, with a
 * warning, when one fails to load: the export then leaves ListUnitPrice empty. */
static struct tg_ratecard *load_cards(const char *config, const char *const *extra, int n_extra)
{
    struct tg_config cfg;
    struct tg_errbuf eb;
    struct tg_ratecard *rc = tg_pricing_new();
    int err = 0;
    tg_config_defaults(&cfg);
    if (config != NULL)
        err = tg_config_load_file(&cfg, config, &eb);
    for (int i = 0; err == 0 && i < n_extra; i++)
        err = tg_config_add_pricing_card(&cfg, extra[i], &eb);
    for (int i = 0; err == 0 && i < cfg.n_pricing_cards; i++)
        err = tg_pricing_load_file(rc, cfg.pricing_cards[i], &eb);
    for (int i = 0; err == 0 && i < cfg.n_pricing_aliases; i++)
        err = tg_pricing_load_aliases_file(rc, cfg.pricing_aliases[i], &eb);
    if (err != 0) {
        fprintf(stderr, "tollgate export focus: %s (ListUnitPrice left empty)\n", eb.msg);
        tg_pricing_destroy(rc);
        return NULL;
    }
    return rc;
}

static int export_focus(int argc, char **argv)
{
    const char *pricing[16];
    int n_pricing = 0;
    struct tg_ratecard *card = NULL;
    const char *config = NULL, *ledger = NULL, *file = NULL;
    struct tg_focus_query q;
    struct tg_focus_summary sum;
    struct tg_errbuf eb;
    sqlite3 *db = NULL;
    FILE *out = stdout;
    int rc = 1;
    memset(&q, 0, sizeof q);
    q.granularity = TG_FOCUS_DAY;
    tg_month_to_date(q.from, q.to);
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "tollgate export focus: %s needs a value\n%s", a, usage_text);
            return 2;
        }
        if (strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (tg_cli_day(v, a[2] == 'f' ? q.from : q.to) != 0) {
                fprintf(stderr, "tollgate export focus: %s '%s': expected YYYY-MM-DD\n", a, v);
                return 2;
            }
        } else if (strcmp(a, "--granularity") == 0) {
            if (tg_focus_parse_granularity(v, &q.granularity) != 0) {
                fprintf(stderr, "tollgate export focus: --granularity '%s': call, hour or day\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            file = v;
        } else if (strcmp(a, "--config") == 0) {
            config = v;
        } else if (strcmp(a, "--ledger") == 0) {
            ledger = v;
        } else if (strcmp(a, "--pricing") == 0 && n_pricing < 16) {
            pricing[n_pricing++] = v;
        } else {
            fprintf(stderr, "tollgate export focus: bad option '%s %s'\n%s", a, v, usage_text);
            return 2;
        }
    }
    if (strcmp(q.from, q.to) > 0) {
        fprintf(stderr, "tollgate export focus: --from %s is after --to %s\n", q.from, q.to);
        return 2;
    }
    if (tg_cli_open_ledger(config, ledger, &db) != 0)
        return 1;
    card = load_cards(config, pricing, n_pricing);
    q.card = card;
    if (file != NULL) {
        out = fopen(file, "w");
        if (out == NULL) {
            fprintf(stderr, "tollgate export focus: cannot write '%s'\n", file);
            goto out;
        }
    }
    if (tg_focus_export(db, &q, out, &sum, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        goto out;
    }
    if (fflush(out) != 0) {
        fprintf(stderr, "tollgate export focus: write failed\n");
        goto out;
    }
    char usd[40];
    tg_money_format_usd(sum.billed_nanos, usd, sizeof usd);
    fprintf(stderr,
            "focus: %s..%s: %lld rows, %lld calls, BilledCost %s USD; %lld unpriced calls "
            "(%lld rows, %lld tokens) with empty cost columns (x_CostStatus=unpriced)\n",
            q.from, q.to, (long long)sum.rows, (long long)sum.calls, usd,
            (long long)sum.unpriced_calls, (long long)sum.unpriced_rows,
            (long long)sum.unpriced_tokens);
    rc = 0;
out:
    if (out != stdout && out != NULL && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "tollgate export focus: write failed\n");
        rc = 1;
    }
    sqlite3_close(db);
    tg_pricing_destroy(card);
    return rc;
}

int tg_cmd_export(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "focus") == 0)
        return export_focus(argc, argv);
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
        fprintf(stderr, "tollgate export: unknown export '%s' (available: allocation, focus)\n%s",
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
