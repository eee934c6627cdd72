/* cli/cmd_budgets.c - `tollgate budgets set|list|delete`: budgets in the ledger database
 *
 * A running gateway polls the budgets table once a second, so a budget set here takes
 * effect within a second. `list` prints the gateway's live counters (spent, reserved by
 * calls in flight) when a gateway wrote them in the last 3 seconds, else the spend
 * rebuilt from the ledger exactly as a starting gateway does (nothing reserved). */
#include "cli/cli.h"

#include "accounting/budget.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/money.h"
#include "store/budgets.h"
#include "store/sqlite_store.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate budgets set --scope SCOPE:VALUE --period PERIOD --limit USD\n"
    "                            [--soft PCT] [--action block|warn]\n"
    "       tollgate budgets list [--format table|json]\n"
    "       tollgate budgets delete BUDGET_ID\n"
    "SCOPE: key, team, tenant, cost_center, feature, workflow, actor; VALUE * = each value\n"
    "separately (workflow:* caps every run). PERIOD: hour, day, week, month (UTC calendar),\n"
    "total, or minute (a spend-rate cap: USD per sliding minute).\n"
    "Every subcommand takes --config FILE and --ledger PATH like `serve`.\n";

struct opts {
    const char *config, *ledger, *format, *scope, *period, *limit, *soft, *action, *positional;
};

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o->positional = a;
            i--;
            continue;
        }
        const char **dst = strcmp(a, "--config") == 0   ? &o->config
                           : strcmp(a, "--ledger") == 0 ? &o->ledger
                           : strcmp(a, "--format") == 0 ? &o->format
                           : strcmp(a, "--scope") == 0  ? &o->scope
                           : strcmp(a, "--period") == 0 ? &o->period
                           : strcmp(a, "--limit") == 0  ? &o->limit
                           : strcmp(a, "--soft") == 0   ? &o->soft
                           : strcmp(a, "--action") == 0 ? &o->action
                                                        : NULL;
        if (dst == NULL) {
            fprintf(stderr, "tollgate budgets: unknown option '%s'\n%s", a, usage_text);
            return -1;
        }
        if (v == NULL) {
            fprintf(stderr, "tollgate budgets: %s needs a value\n", a);
            return -1;
        }
        *dst = v;
    }
    return 0;
}

static int build_def(const struct opts *o, struct tg_budget_def *d)
{
    struct tg_errbuf eb;
    memset(d, 0, sizeof *d);
    d->block = true;
    if (o->scope == NULL || o->period == NULL || o->limit == NULL) {
        fprintf(stderr, "tollgate budgets set: --scope, --period and --limit are required\n");
        return -1;
    }
    if (tg_budget_parse_scope(o->scope, d, &eb) != 0 ||
        tg_budget_parse_period(o->period, &d->period, &eb) != 0) {
        fprintf(stderr, "tollgate budgets set: %s\n", eb.msg);
        return -1;
    }
    if (tg_money_parse_decimal(o->limit, 9, &d->limit_nanos) != 0 || d->limit_nanos <= 0) {
        fprintf(stderr, "tollgate budgets set: --limit '%s' is not a positive USD amount\n",
                o->limit);
        return -1;
    }
    if (o->soft != NULL) {
        char *end = NULL;
        long pct = strtol(o->soft, &end, 10);
        if (end == o->soft || *end != '\0' || pct < 0 || pct > 100) {
            fprintf(stderr, "tollgate budgets set: --soft '%s' is not a percentage 0..100\n",
                    o->soft);
            return -1;
        }
        d->soft_pct = (int)pct;
    }
    if (o->action != NULL) {
        if (strcmp(o->action, "block") != 0 && strcmp(o->action, "warn") != 0) {
            fprintf(stderr, "tollgate budgets set: --action '%s' is not block or warn\n",
                    o->action);
            return -1;
        }
        d->block = o->action[0] == 'b';
    }
    return 0;
}

/* The counters as JSON: the gateway's live snapshot, or rebuilt from the ledger. */
static int counters_json(sqlite3 *db, const struct tg_config *cfg, struct tg_buf *out, bool *live)
{
    struct tg_errbuf eb;
    int64_t now = tg_now_ms();
    struct tg_budget_def *defs = NULL;
    int n = 0;
    if (tg_budgets_load_state(db, now, 3000, out, &eb) == 0) {
        *live = true;
        return 0;
    }
    *live = false;
    if (tg_budgets_load(db, cfg->budgets, cfg->n_budgets, &defs, &n, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return -1;
    }
    struct tg_budget_store *s = tg_budget_local_new((int)cfg->budget_max_counters);
    s->ops->set_defs(s, defs, n);
    int rc = tg_budgets_rebuild(db, s, defs, n, now, &eb);
    if (rc == 0)
        s->ops->list_json(s, now, out);
    else
        fprintf(stderr, "tollgate: %s\n", eb.msg);
    s->ops->destroy(s);
    free(defs);
    return rc == 0 ? 0 : -1;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static int do_list(sqlite3 *db, const struct tg_config *cfg, const struct opts *o)
{
    struct tg_buf js = {0};
    bool live = false;
    if (counters_json(db, cfg, &js, &live) != 0)
        return 1;
    if (o->format != NULL && strcmp(o->format, "json") == 0) {
        printf("%s\n", js.base);
        tg_buf_free(&js);
        return 0;
    }
    cJSON *arr = cJSON_Parse(js.base);
    printf("%-20s %-28s %-7s %12s %14s %14s %14s %5s %-6s %s\n", "ID", "SCOPE", "PERIOD",
           "LIMIT_USD", "SPENT_USD", "RESERVED_USD", "REMAINING_USD", "SOFT", "ACTION", "RESETS");
    const cJSON *b;
    cJSON_ArrayForEach(b, arr)
    {
        const cJSON *soft = cJSON_GetObjectItemCaseSensitive(b, "soft_pct");
        char scope[300];
        const char *value = str(b, "value"), *sc = str(b, "scope");
        const char *colon = strchr(sc, ':');
        snprintf(scope, sizeof scope, "%.*s:%s", colon ? (int)(colon - sc) : 0, sc, value);
        printf("%-20s %-28s %-7s %12s %14s %14s %14s %4d%% %-6s %s\n", str(b, "id"), scope,
               str(b, "period"), str(b, "limit_usd"), str(b, "spent_usd"), str(b, "reserved_usd"),
               str(b, "remaining_usd"), cJSON_IsNumber(soft) ? soft->valueint : 0, str(b, "action"),
               str(b, "reset_at"));
    }
    if (cJSON_GetArraySize(arr) == 0)
        printf("(no budgets)\n");
    fprintf(stderr, "%s\n",
            live ? "live counters of the running gateway"
                 : "spend rebuilt from the ledger (no gateway wrote live counters in the last 3 s; "
                   "reserved is 0)");
    cJSON_Delete(arr);
    tg_buf_free(&js);
    return 0;
}

int tg_cmd_budgets(int argc, char **argv)
{
    struct opts o;
    struct tg_config *cfg = tg_calloc(1, sizeof *cfg);
    struct tg_errbuf eb;
    sqlite3 *db = NULL;
    int rc = 1, version = 0;
    memset(&o, 0, sizeof o);
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        free(cfg);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    struct tg_budget_def d;
    if (parse(argc, argv, &o) != 0 ||
        (strcmp(sub, "set") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "delete") != 0) ||
        (strcmp(sub, "delete") == 0 && o.positional == NULL) ||
        (strcmp(sub, "set") == 0 && build_def(&o, &d) != 0)) {
        if (strcmp(sub, "set") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "delete") != 0)
            fprintf(stderr, "tollgate budgets: unknown subcommand '%s'\n%s", sub, usage_text);
        else if (strcmp(sub, "delete") == 0 && o.positional == NULL)
            fprintf(stderr, "tollgate budgets delete: BUDGET_ID is required\n");
        free(cfg);
        return 2;
    }
    tg_config_defaults(cfg);
    if (o.config != NULL && tg_config_load_file(cfg, o.config, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        goto out;
    }
    const char *path = o.ledger != NULL ? o.ledger : cfg->ledger_path;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "tollgate: %s: %s\n", path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    if (tg_ledger_migrate(db, &version, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        goto out;
    }
    if (strcmp(sub, "set") == 0) {
        if (tg_budgets_set(db, &d, tg_now_ms(), &eb) != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            goto out;
        }
        char lim[32];
        tg_money_format_usd(d.limit_nanos, lim, sizeof lim);
        printf("%s\n", d.id);
        fprintf(stderr, "budget %s: %s:%s %s limit $%s%s, soft %d%%, action %s\n", d.id,
                tg_budget_scope_name(d.scope), d.value, tg_budget_period_name(d.period), lim,
                d.period == TG_BP_MINUTE ? " per minute" : "", d.soft_pct,
                d.block ? "block" : "warn");
        rc = 0;
    } else if (strcmp(sub, "list") == 0) {
        rc = do_list(db, cfg, &o);
    } else {
        if (tg_budgets_delete(db, o.positional, &eb) != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            goto out;
        }
        printf("deleted %s\n", o.positional);
        rc = 0;
    }
out:
    sqlite3_close(db);
    free(cfg);
    return rc;
}
