/* finops/reconcile.h - ledger cost per (day, provider, model) against a provider's usage export */
#ifndef TG_FINOPS_RECONCILE_H
#define TG_FINOPS_RECONCILE_H

#include "core/buf.h"
#include "core/err.h"
#include "finops/report.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

enum tg_invoice_format {
    TG_INVOICE_SIMPLE, /* date,provider,model,cost_usd (extra columns ignored) */
    TG_INVOICE_FOCUS,  /* FOCUS 1.2 / 1.3 cost-and-usage CSV (docs/REPORTS.md has the mapping) */
};

/** One usage charge of the invoice, keyed like the ledger: UTC day, lower-case provider,
 *  model; cost in nano-dollars (may be negative: a correction). */
struct tg_invoice_line {
    char day[11];
    char provider[64];
    char model[160];
    int64_t cost_nanos;
};

/** A parsed invoice; zero-initialised is empty. */
struct tg_invoice {
    struct tg_invoice_line *lines;
    int n, cap;
    int skipped; /* FOCUS rows that are not Usage charges (tax, credits, purchases) */
};

/** Parses an invoice CSV (libcsv) held in text[0..len) and appends its lines to inv.
 *  name is used in messages ("invoice.csv:7: cost_usd '0.0000000001' has more than 9
 *  decimals"). All or nothing: on error inv is unchanged and eb says file and line.
 *  TG_ERR_INVALID for a missing column, a bad date or amount, a non-USD currency. */
int tg_invoice_parse(struct tg_invoice *inv, const char *name, const char *text, size_t len,
                     enum tg_invoice_format format, struct tg_errbuf *eb);

/** Reads path and parses it as tg_invoice_parse does (messages name the file's base name). */
int tg_invoice_load(struct tg_invoice *inv, const char *path, enum tg_invoice_format format,
                    struct tg_errbuf *eb);

/** Frees the lines; inv is empty and reusable afterwards. */
void tg_invoice_free(struct tg_invoice *inv);

struct tg_reconcile_query {
    char from[11], to[11];   /* inclusive UTC days; empty: the invoice's first / last day */
    int64_t tolerance_nanos; /* |invoice - ledger| at most this is a match */
    enum tg_report_format format;
};

struct tg_reconcile_summary {
    int matches, variances, invoice_only, ledger_only, unpriced;
    int64_t ledger_nanos, invoice_nanos; /* priced ledger spend and invoice spend in range */
};

/** Compares the ledger's forwarded calls (attempt > 0) per (day, provider, model) with the
 *  invoice lines of the same range and writes one row per key to out: status (variance,
 *  invoice_only, ledger_only, unpriced, match — in that order), ledger and invoice USD,
 *  difference (invoice - ledger) and its basis points of the invoice amount. A key with
 *  unpriced ledger calls is `unpriced`, never a $0 match. Fills *sum (may be NULL).
 *  TG_ERR_INVALID when no range is given and the invoice is empty; TG_ERR_IO on SQLite
 *  errors. Borrows everything. */
int tg_reconcile_run(sqlite3 *db, const struct tg_invoice *inv, const struct tg_reconcile_query *q,
                     struct tg_buf *out, struct tg_reconcile_summary *sum, struct tg_errbuf *eb);

#endif
