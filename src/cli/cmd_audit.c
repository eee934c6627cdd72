/* cli/cmd_audit.c - `tollgate audit` (coverage, NULL buckets, drift, price fallbacks, the
 * five questions) and `tollgate audit trace FILE` (where attribution breaks on a trace) */
#include "cli/cli.h"
#include "core/clock.h"

#include "accounting/identity.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "finops/audit.h"
#include "finops/audit_trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes (docs/AUDIT.md): 0 ok, 1 failure, 2 usage error, 3 findings that fail the
 * run: a --min-coverage check not met, or a trace whose attribution breaks. */
#define EXIT_FINDINGS 3

static const char usage_text[] =
    "usage: tollgate audit [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--top N]\n"
    "                      [--min-coverage PCT|FIELD=PCT]... [--format table|json]\n"
    "                      [--config FILE] [--ledger PATH]\n"
    "       tollgate audit trace FILE|- [--format table|json] [--config FILE]\n"
    "\n"
    "audit: coverage of each attribution field (calls and priced dollars), NULL buckets by\n"
    "  the join step that failed, alias drift by key and service, price joins that fell back\n"
    "  to an alias or a pattern, and the five questions (owner, cost center, model and price,\n"
    "  workflow, human or agent) for the N most expensive calls (default 10). Dates are UTC\n"
    "  days, inclusive; the default is the current month.\n"
    "  --min-coverage PCT: the dollar coverage of cost_center and of team must each be at\n"
    "  least PCT; FIELD=PCT checks one field. Repeatable.\n"
    "trace: OTLP/JSON lines (the Collector's file exporter); per hop, which identity fields\n"
    "  were kept, renamed or dropped, and where each one broke.\n"
    "\n"
    "exit: 0 ok, 1 failure, 2 usage error, 3 a --min-coverage check failed (audit) or\n"
    "      attribution breaks in a trace (trace).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tollgate audit: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage_text);
    va_end(ap);
    return 2;
}

static int parse_format(const char *v, enum tg_audit_format *f)
{
    if (strcmp(v, "table") == 0)
        *f = TG_AUDIT_TABLE;
    else if (strcmp(v, "json") == 0)
        *f = TG_AUDIT_JSON;
    else
        return -1;
    return 0;
}

static int read_file(const char *path, char **text, size_t *len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 0, got;
    *text = NULL;
    *len = 0;
    do {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            *text = tg_realloc(*text, cap);
        }
        got = fread(*text + *len, 1, cap - *len, f);
        *len += got;
    } while (got > 0);
    int bad = ferror(f);
    if (!is_stdin)
        fclose(f);
    return bad ? -1 : 0;
}

static int cmd_trace(int argc, char **argv)
{
    const char *file = NULL, *config = NULL;
    enum tg_audit_format format = TG_AUDIT_TABLE;
    struct tg_identity_config ic;
    struct tg_config cfg;
    struct tg_errbuf eb;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool is_format = strcmp(a, "--format") == 0, is_config = strcmp(a, "--config") == 0;
        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (is_format || is_config) {
            if (v == NULL)
                return usage_error("%s needs a value", a);
            if (is_format && parse_format(v, &format) != 0)
                return usage_error("--format '%s': table or json", v);
            if (is_config)
                config = v;
            i++;
        } else if ((a[0] == '-' && a[1] != '\0') || file != NULL) {
            return usage_error("trace: unexpected argument '%s'", a);
        } else {
            file = a;
        }
    }
    if (file == NULL)
        return usage_error("trace needs a FILE of OTLP/JSON lines");
    tg_config_defaults(&cfg);
    if (config != NULL && tg_config_load_file(&cfg, config, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    /* the gateway's own alias table: shipped aliases, then the config's (server.c) */
    tg_identity_config_defaults(&ic);
    for (int i = 0; i < cfg.n_attr_aliases; i++)
        if (tg_identity_add_alias(&ic, cfg.attr_aliases[i].header, cfg.attr_aliases[i].field,
                                  &eb) != 0) {
            fprintf(stderr, "tollgate: %s: %s\n", config, eb.msg);
            return 1;
        }
    char *text = NULL;
    size_t len = 0;
    if (read_file(file, &text, &len) != 0) {
        fprintf(stderr, "tollgate: %s: cannot read: %s\n", file, strerror(errno));
        free(text);
        return 1;
    }
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    struct tg_buf out = {0};
    int n_breaks = 0;
    int rc = tg_audit_trace_run(base, text ? text : "", len, &ic, format, &out, &n_breaks, &eb);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        tg_buf_free(&out);
        return 1;
    }
    fwrite(out.base ? out.base : "", 1, out.len, stdout);
    tg_buf_free(&out);
    return n_breaks > 0 ? EXIT_FINDINGS : 0;
}

int tg_cmd_audit(int argc, char **argv)
{
    struct tg_audit_query q;
    struct tg_errbuf eb;
    const char *config = NULL, *ledger = NULL;
    if (argc >= 2 && strcmp(argv[1], "trace") == 0)
        return cmd_trace(argc - 1, argv + 1);
    memset(&q, 0, sizeof q);
    q.top_n = TG_AUDIT_DEFAULT_TOP;
    tg_month_to_date(q.from, q.to);
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (v == NULL)
            return usage_error("%s needs a value", a);
        if (strcmp(a, "--config") == 0) {
            config = v;
        } else if (strcmp(a, "--ledger") == 0) {
            ledger = v;
        } else if (strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (tg_cli_day(v, strcmp(a, "--from") == 0 ? q.from : q.to) != 0)
                return usage_error("%s '%s': expected YYYY-MM-DD", a, v);
        } else if (strcmp(a, "--format") == 0) {
            if (parse_format(v, &q.format) != 0)
                return usage_error("--format '%s': table or json", v);
        } else if (strcmp(a, "--top") == 0) {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (end == v || *end != '\0' || n < 1 || n > 1000)
                return usage_error("--top '%s': a number from 1 to 1000", v);
            q.top_n = (int)n;
        } else if (strcmp(a, "--min-coverage") == 0) {
            if (tg_audit_parse_min_coverage(v, &q, &eb) != 0)
                return usage_error("%s", eb.msg);
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (strcmp(q.from, q.to) > 0)
        return usage_error("--from %s is after --to %s", q.from, q.to);
    sqlite3 *db = NULL;
    if (tg_cli_open_ledger(config, ledger, &db) != 0)
        return 1;
    struct tg_buf out = {0};
    int n_failed = 0;
    int rc = tg_audit_run(db, &q, &out, &n_failed, &eb);
    sqlite3_close(db);
    if (rc != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        tg_buf_free(&out);
        return 1;
    }
    fwrite(out.base ? out.base : "", 1, out.len, stdout);
    tg_buf_free(&out);
    if (n_failed > 0) {
        fprintf(stderr, "tollgate audit: %d coverage check%s not met\n", n_failed,
                n_failed == 1 ? "" : "s");
        return EXIT_FINDINGS;
    }
    return 0;
}
