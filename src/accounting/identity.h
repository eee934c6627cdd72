/* accounting/identity.h - who caused a call: canonical headers, aliases, baggage, key
 * defaults; where each answer came from; the mandatory-attribution policy */
#ifndef TG_ACCOUNTING_IDENTITY_H
#define TG_ACCOUNTING_IDENTITY_H

#include "accounting/tracectx.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tg_field {
    TG_F_REQUEST_ID,
    TG_F_TENANT,
    TG_F_TEAM,
    TG_F_COST_CENTER,
    TG_F_FEATURE,
    TG_F_WORKFLOW,
    TG_F_ACTOR_ID,
    TG_F_ACTOR_TYPE,
    TG_F_ENVIRONMENT,
    TG_F_SERVICE,
    TG_F_CONVERSATION,
    TG_F_COUNT
};

/** Ledger column name of field ("tenant_id"), its canonical header ("x-tenant-id") and
 *  baggage key ("tenant_id"). */
const char *tg_field_name(enum tg_field f);
const char *tg_field_header(enum tg_field f);
/** The field called name (ledger column name, or "tenant", "feature", "workflow",
 *  "actor" as in budget scopes); -1 when none. */
int tg_field_by_name(const char *name);

/* A request header as received: name lowercased (h2o does), orig_name as sent. */
struct tg_header {
    const char *name, *orig_name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

enum tg_attr_mode { TG_ATTR_OFF, TG_ATTR_FLAG, TG_ATTR_ENFORCE };

#define TG_MAX_ALIASES 64

#define TG_NAME_FILTER_LEN 32

struct tg_identity_config {
    struct {
        char header[64];   /* lowercase */
        unsigned char len; /* strlen(header) */
        enum tg_field field;
    } aliases[TG_MAX_ALIASES];
    int n_aliases;
    uint64_t names[TG_NAME_FILTER_LEN]; /* a filter of every field's and alias's header
                                           name, by length (identity.c) */
    unsigned required;                  /* bit (1 << field) per mandatory field */
    enum tg_attr_mode mode;
    int64_t enforce_after_ms; /* flag turns into enforce at this time; 0 = never */
    bool forward_baggage;     /* send the caller's baggage to the provider */
};

/** The defaults: no required fields, mode off, and the shipped alias headers for common
 *  drift (tenant, tenantid, x-tenant, customer_id, x-customer-id, x-team-id, x-costcenter,
 *  x-workflow, x-actor, ...; docs/ATTRIBUTION.md lists them). */
void tg_identity_config_defaults(struct tg_identity_config *c);
/** Adds or replaces the alias header -> field (config). */
int tg_identity_add_alias(struct tg_identity_config *c, const char *header, const char *field,
                          struct tg_errbuf *eb);

/* Field values from a virtual key (or a route): "" = none. */
struct tg_identity_defaults {
    char v[TG_F_COUNT][128];
};

/* Mapping tables (CSV, docs/ATTRIBUTION.md): tenant -> cost_center, team -> cost_center,
 * workflow -> owner team. Immutable once loaded; a reload builds a new one. */
enum tg_map_kind {
    TG_MAP_TENANT_COST_CENTER,
    TG_MAP_TEAM_COST_CENTER,
    TG_MAP_WORKFLOW_TEAM,
    TG_MAP_COUNT
};
struct tg_mappings;

/** An empty set of tables. */
struct tg_mappings *tg_mappings_new(void);
/** Loads one table from CSV text with the header row "tenant_id,cost_center",
 *  "team,cost_center" or "workflow_id,team" (the kind is taken from the header). Errors
 *  name the file and line. */
int tg_mappings_load_csv(struct tg_mappings *m, const char *name, const char *text,
                         unsigned long len, struct tg_errbuf *eb);
int tg_mappings_load_file(struct tg_mappings *m, const char *path, struct tg_errbuf *eb);
/** The mapped value, or NULL; *has_table says whether that table was loaded at all. */
const char *tg_mappings_get(const struct tg_mappings *m, enum tg_map_kind kind, const char *key,
                            bool *has_table);
void tg_mappings_destroy(struct tg_mappings *m);

/** Fills rec's attribution fields, tags and attribution_sources from the headers, the
 *  parsed baggage, the key and route defaults and the mapping tables, by precedence:
 *  canonical header > alias header > baggage > key default > route default > mapping
 *  table (workflow -> team first, then tenant -> cost_center, then team -> cost_center).
 *  A mapping miss leaves the field NULL with source "unmapped" (never a guess).
 *  request_id falls back to generated_request_id (source "generated"). A value with control
 * characters, over 127 bytes, or an actor_type not in human|service|agent is rejected (field left
 * NULL, source "rejected:<where>"). Tags come from x-tollgate-tags ("k=v,k2=v2") and baggage keys
 * "tag.<k>". Pure. */
void tg_identity_resolve(const struct tg_identity_config *cfg, const struct tg_header *h, size_t nh,
                         const struct tg_baggage *bg, const struct tg_identity_defaults *key,
                         const struct tg_identity_defaults *route, const struct tg_mappings *maps,
                         const char *generated_request_id, struct tg_call_record *rec);

/** The mandatory fields rec lacks, as a bit set; *enforce says whether the call must be
 *  refused (mode enforce, or flag past enforce_after_ms at now_ms). */
unsigned tg_identity_missing(const struct tg_identity_config *cfg, const struct tg_call_record *rec,
                             int64_t now_ms, bool *enforce);
/** "missing required attribution: cost_center (set header x-cost-center or baggage
 *  cost_center), ..." into msg; and the comma list "cost_center,feature_id" into list. */
void tg_identity_missing_message(unsigned missing, struct tg_buf *msg, struct tg_buf *list);

/** True when a request header must not be forwarded to the provider: attribution headers
 *  (canonical and alias), x-tollgate-*, and baggage unless forward_baggage. */
bool tg_identity_is_internal_header(const struct tg_identity_config *cfg, const char *name,
                                    size_t n);

#endif
