/* finops/allocation.h - the daily allocation table: one row per call, every token type and USD */
#ifndef TG_FINOPS_ALLOCATION_H
#define TG_FINOPS_ALLOCATION_H

#include "core/buf.h"
#include "core/err.h"
#include "finops/report.h"

#include <sqlite3.h>

/** Writes every call of day (UTC, YYYY-MM-DD) as CSV or JSON (format TG_REPORT_CSV or
 *  TG_REPORT_JSON): call_id, request_id, started_at, provider, model, the attribution
 *  columns, outcome, every token type, cost_usd (empty / null when unpriced — never 0),
 *  usage_estimated, price_ref. Ordered by started_at, call_id. */
int tg_allocation_export(sqlite3 *db, const char *day, enum tg_report_format format,
                         struct tg_buf *out, struct tg_errbuf *eb);

/** The same table with unattributed spend allocated: a priced call whose field (team,
 *  cost_center, tenant_id, feature_id, workflow_id, actor_id or actor_type) is NULL and
 *  whose key_id had attributed spend that day is written as one row per value of field
 *  that key's spend went to, cost and every count split by those shares (largest
 *  remainder: each column of the parts sums to the call's), allocation_method
 *  "proportional"; every other call is one row, "direct". TG_ERR_INVALID for another
 *  field. Borrows everything. */
int tg_allocation_export_proportional(sqlite3 *db, const char *day, const char *field,
                                      enum tg_report_format format, struct tg_buf *out,
                                      struct tg_errbuf *eb);

#endif
