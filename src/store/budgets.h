/* store/budgets.h - budgets in the ledger database: the definitions set from the CLI or the
 * admin API, the spend read back from the `calls` table, the live-counter snapshot */
#ifndef TG_STORE_BUDGETS_H
#define TG_STORE_BUDGETS_H

#include "accounting/budget.h"
#include "core/buf.h"
#include "core/err.h"

#include <sqlite3.h>
#include <stdint.h>

/** Creates or updates the budget of (scope, value, period): limit, soft_pct and action
 *  change, the id stays. d->id and d->created_at_ms are filled in. The database must be
 *  migrated (tg_ledger_migrate). */
int tg_budgets_set(sqlite3 *db, struct tg_budget_def *d, int64_t now_ms, struct tg_errbuf *eb);
/** Deletes the budget with this id. TG_ERR_NOTFOUND when none. */
int tg_budgets_delete(sqlite3 *db, const char *id, struct tg_errbuf *eb);
/** Appends the stored budgets (oldest first) to the n_cfg definitions of the config file:
 *  *out (tg_malloc'ed, caller frees) holds config ones first. */
int tg_budgets_load(sqlite3 *db, const struct tg_budget_def *cfg, int n_cfg,
                    struct tg_budget_def **out, int *n, struct tg_errbuf *eb);
/** A short text that changes whenever the budgets table does. */
int tg_budgets_fingerprint(sqlite3 *db, char *out, unsigned outlen, struct tg_errbuf *eb);
/** Seeds store with what the ledger says each of defs[0..n) has spent in its current
 *  period: sum(budget_charge_nanos) by scope value (by second for minute budgets). */
int tg_budgets_rebuild(sqlite3 *db, struct tg_budget_store *store, const struct tg_budget_def *defs,
                       int n, int64_t now_ms, struct tg_errbuf *eb);
/** Writes the running gateway's counters (a JSON array) for `budgets list`. */
int tg_budgets_save_state(sqlite3 *db, const char *json, int64_t now_ms, struct tg_errbuf *eb);
/** Reads the snapshot when it is at most max_age_ms old; TG_ERR_NOTFOUND otherwise. */
int tg_budgets_load_state(sqlite3 *db, int64_t now_ms, int64_t max_age_ms, struct tg_buf *json,
                          struct tg_errbuf *eb);

#endif
