/* finops/report.h - spend by any combination of attribution fields, model, provider, day */
#ifndef TG_FINOPS_REPORT_H
#define TG_FINOPS_REPORT_H

#include "core/buf.h"
#include "core/err.h"

#include <sqlite3.h>
#include <stdbool.h>

enum tg_report_format { TG_REPORT_TABLE, TG_REPORT_CSV, TG_REPORT_JSON };

#define TG_REPORT_MAX_DIMS 6

struct tg_report_query {
    char from[11], to[11]; /* inclusive UTC days, YYYY-MM-DD */
    const char *dims[TG_REPORT_MAX_DIMS];
    int n_dims;
    enum tg_report_format format;
    /* spread unattributed spend by the attributed shares of its key (docs/REPORTS.md);
     * needs exactly one attribution dimension in dims; adds allocation_method */
    bool allocate_proportional;
};

/** Parses "team,model" into q->dims (names must be on the whitelist: tenant_id, team,
 *  cost_center, feature_id, workflow_id, actor_id, actor_type, environment, service,
 *  key_id, provider, model, day; "tenant", "feature", "workflow", "actor" also accepted).
 *  dims points into a static table. */
int tg_report_parse_dims(const char *list, struct tg_report_query *q, struct tg_errbuf *eb);

/** The ledger column a short attribution name stands for, as budget scopes and the
 *  identity module spell them (tg_field_by_name: "tenant" -> "tenant_id", "feature",
 *  "workflow", "actor"); name itself otherwise. name is n bytes, not NUL-terminated; *n
 *  becomes the length of the result. Used by report --by and audit --min-coverage. */
const char *tg_report_field_name(const char *name, size_t *n);

/** Appends s as one CSV field (RFC 4180 quoting when it holds a comma, quote or line end). */
void tg_report_csv_field(struct tg_buf *out, const char *s);

/** Runs the report on an open ledger and writes it to out: one row per group (NULL
 *  values are the "(unattributed)" bucket), ordered by cost, then a total row that equals
 *  the ledger's total for the range exactly. Money columns are exact decimal USD from the
 *  integer nano-dollar sums. With q->allocate_proportional every row also says
 *  allocation_method (direct | proportional): the unattributed cost of each key moves to
 *  proportional rows of the groups its attributed spend went to (finops/proportional.h);
 *  the (unattributed) row keeps its calls and tokens and the cost that had no basis.
 *  TG_ERR_INVALID when allocating without exactly one attribution dimension. */
int tg_report_run(sqlite3 *db, const struct tg_report_query *q, struct tg_buf *out,
                  struct tg_errbuf *eb);

#endif
