/* finops/audit.h - `tollgate audit`: attribution coverage, NULL buckets, drift, price
 * fallbacks and the five questions on the most expensive calls (docs/AUDIT.md) */
#ifndef TG_FINOPS_AUDIT_H
#define TG_FINOPS_AUDIT_H

#include "core/buf.h"
#include "core/err.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

enum tg_audit_format { TG_AUDIT_TABLE, TG_AUDIT_JSON };

#define TG_AUDIT_MAX_THRESHOLDS 16
#define TG_AUDIT_DEFAULT_TOP    10

/* A --min-coverage check: the dollar coverage of field (basis points of priced spend that
 * has the field) must be at least min_bp. */
struct tg_audit_threshold {
    const char *field; /* points into a static table */
    int64_t min_bp;    /* 0..10000 */
};

struct tg_audit_query {
    char from[11], to[11]; /* inclusive UTC days, YYYY-MM-DD */
    int top_n;             /* most expensive calls checked against the five questions */
    enum tg_audit_format format;
    struct tg_audit_threshold min[TG_AUDIT_MAX_THRESHOLDS];
    int n_min;
};

/** The coverage fields, in output order: tenant_id, team, cost_center, feature_id,
 *  workflow_id, actor_id, actor_type, environment, service. */
extern const char *const tg_audit_fields[];
extern const int tg_audit_n_fields;

/** Parses one --min-coverage argument into q->min: "PCT" (two checks: cost_center and
 *  team) or "FIELD=PCT" (FIELD one of tg_audit_fields; "tenant", "feature", "workflow",
 *  "actor" accepted). PCT is a decimal 0..100 with at most two decimals ("97.5").
 *  TG_ERR_INVALID / TG_ERR_LIMIT with a message. */
int tg_audit_parse_min_coverage(const char *arg, struct tg_audit_query *q, struct tg_errbuf *eb);

/** Audits the calls of the range on an open ledger and writes the findings (table or
 *  JSON, docs/AUDIT.md) to out. *n_failed receives the number of --min-coverage checks
 *  not met. Money is summed as integer nano-dollars; shares are integer basis points,
 *  rounded down (so a threshold never passes by rounding). */
int tg_audit_run(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out, int *n_failed,
                 struct tg_errbuf *eb);

#endif
