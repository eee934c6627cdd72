/* telemetry/metrics.h - Prometheus metrics: calls, tokens by type, cost, latency histograms */
#ifndef TG_TELEMETRY_METRICS_H
#define TG_TELEMETRY_METRICS_H

#include "core/buf.h"
#include "core/record.h"

#include <stdint.h>

struct tg_metrics;

/* The latency histograms (seconds in the exposition, microseconds when observed). */
enum tg_hist {
    TG_HIST_OVERHEAD, /* what the gateway itself added to a call */
    TG_HIST_UPSTREAM, /* request sent to the provider -> its answer ended */
    TG_HIST_TTFT,     /* request sent -> first byte of a streamed answer */
    TG_HIST_N
};

/** A registry whose model, team and cost_center label values are capped at
 *  max_label_values distinct values each (later values are counted as "other"), so a
 *  caller cannot explode the cardinality. Returns owned; free with tg_metrics_destroy. */
struct tg_metrics *tg_metrics_new(int max_label_values);
void tg_metrics_destroy(struct tg_metrics *m);

/** Counts one finished call (its ledger row): calls by provider/model/outcome, tokens by
 *  type, server tools, cost and cache savings in USD by owner, unpriced calls. Any thread;
 *  m may be NULL. */
void tg_metrics_call(struct tg_metrics *m, const struct tg_call_record *r);

/** Adds one observation of micros to histogram h under the provider label. Any thread;
 *  m may be NULL. */
void tg_metrics_observe(struct tg_metrics *m, enum tg_hist h, const char *provider, int64_t micros);

/** Appends the text exposition (format 0.0.4) of every series, families and series in a
 *  stable order. Any thread. */
void tg_metrics_render(struct tg_metrics *m, struct tg_buf *out);

/** "# HELP" and "# TYPE" lines of a family the caller renders itself. */
void tg_prom_family(struct tg_buf *out, const char *name, const char *type, const char *help);
/** Appends v as a label value, escaped (backslash, double quote, newline), quotes included. */
void tg_prom_label(struct tg_buf *out, const char *v);
/** Appends nanos as exact decimal USD (no float ever touches it). */
void tg_prom_usd(struct tg_buf *out, int64_t nanos);

#endif
