/* finops/audit_trace.h - `tollgate audit trace`: where attribution breaks along a trace's
 * hops, from OTLP/JSON spans as the OpenTelemetry Collector's file exporter writes them */
#ifndef TG_FINOPS_AUDIT_TRACE_H
#define TG_FINOPS_AUDIT_TRACE_H

#include "accounting/identity.h"
#include "core/buf.h"
#include "core/err.h"
#include "finops/audit.h"

#include <stddef.h>

/** Reads text (JSON lines, one {"resourceSpans":[...]} object per line; blank lines
 *  skipped), rebuilds each trace's hops (spans linked by parentSpanId, depth first, by
 *  start time), and writes per hop which identity fields were kept, renamed or dropped,
 *  and the hops where a field broke (docs/AUDIT.md). Renames are recognised against the
 *  field names, the canonical headers and ic's alias headers (shipped and configured),
 *  case-, '_', '-' and '.'-insensitively. name is used in error messages
 *  ("traces.jsonl:3: ..."). *n_breaks receives the number of breaks found. Pure. */
int tg_audit_trace_run(const char *name, const char *text, size_t len,
                       const struct tg_identity_config *ic, enum tg_audit_format format,
                       struct tg_buf *out, int *n_breaks, struct tg_errbuf *eb);

#endif
