/* config/config.c - YAML -> struct tg_config through one declarative table of keys
 *
 * Every scalar key is a row of `keys` (dotted path, type, offset, bounds); maps of
 * named entries (upstreams) have a small handler. Unknown keys are errors, with the
 * line, so a typo never silently falls back to a default. */
#include "config/config.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/money.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum key_type { K_INT, K_STR, K_LISTEN, K_BOOL };

struct key {
    const char *path;
    enum key_type type;
    size_t offset;
    size_t size; /* K_STR: capacity */
    int64_t min, max;
};

#define INT_KEY(p, f, lo, hi)                                                                      \
    {                                                                                              \
        p, K_INT, offsetof(struct tg_config, f), 0, lo, hi                                         \
    }
#define STR_KEY(p, f)                                                                              \
    {                                                                                              \
        p, K_STR, offsetof(struct tg_config, f), sizeof(((struct tg_config *)0)->f), 0, 0          \
    }

static const struct key keys[] = {
    {"listen", K_LISTEN, 0, 0, 0, 0},
    {"require_virtual_key", K_BOOL, offsetof(struct tg_config, require_virtual_key), 0, 0, 0},
    INT_KEY("workers", workers, 0, 256),
    STR_KEY("ledger", ledger_path),
    {"ledger_writer_idle", K_BOOL, offsetof(struct tg_config, ledger_writer_idle), 0, 0, 0},
    STR_KEY("log_level", log_level),
    STR_KEY("admin.master_key_env", admin_key_env),
    INT_KEY("limits.max_body_bytes", max_body_bytes, 1024, INT64_C(1) << 34),
    INT_KEY("limits.max_header_bytes", max_header_bytes, 1024, 1 << 24),
    INT_KEY("limits.stream_buffer_bytes", stream_buffer_bytes, 4096, 1 << 30),
    INT_KEY("limits.max_response_bytes", max_response_bytes, 1024, INT64_C(1) << 32),
    INT_KEY("timeouts.connect_ms", connect_timeout_ms, 1, 3600000),
    INT_KEY("timeouts.first_byte_ms", first_byte_timeout_ms, 1, 86400000),
    INT_KEY("timeouts.idle_stream_ms", idle_stream_timeout_ms, 1, 86400000),
    INT_KEY("timeouts.total_ms", total_timeout_ms, 1, 86400000),
    INT_KEY("timeouts.client_idle_ms", client_idle_timeout_ms, 1, 86400000),
    INT_KEY("timeouts.shutdown_grace_ms", shutdown_grace_ms, 0, 3600000),
    INT_KEY("budgets.max_counters", budget_max_counters, 1, 100000000),
    INT_KEY("budgets.bytes_per_token", budget_bytes_per_token, 1, 16),
    INT_KEY("budgets.default_max_output_tokens", budget_default_max_output, 1, 10000000),
    {"telemetry.metrics.enabled", K_BOOL, offsetof(struct tg_config, metrics_enabled), 0, 0, 0},
    INT_KEY("telemetry.metrics.max_label_values", metrics_max_label_values, 1, 100000),
    STR_KEY("telemetry.service_name", otel_service_name),
    STR_KEY("telemetry.otlp.endpoint", otlp_endpoint),
    STR_KEY("telemetry.otlp.traces_endpoint", otlp_traces_endpoint),
    STR_KEY("telemetry.otlp.headers", otlp_headers),
    INT_KEY("telemetry.otlp.batch_spans", otlp_batch_spans, 2, 100000),
    INT_KEY("telemetry.otlp.queue_spans", otlp_queue_spans, 2, 10000000),
    INT_KEY("telemetry.otlp.flush_ms", otlp_flush_ms, 1, 3600000),
    INT_KEY("telemetry.otlp.timeout_ms", otlp_timeout_ms, 1, 600000),
    INT_KEY("telemetry.otlp.max_retries", otlp_max_retries, 0, 100),
};

void tg_config_defaults(struct tg_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    c->workers = 0;
    snprintf(c->ledger_path, sizeof c->ledger_path, "./tollgate.db");
    c->ledger_writer_idle = true;
    snprintf(c->log_level, sizeof c->log_level, "info");
    snprintf(c->attr_mode, sizeof c->attr_mode, "off");
    snprintf(c->admin_key_env, sizeof c->admin_key_env, "TOLLGATE_MASTER_KEY");
    c->max_body_bytes = 10 << 20;
    c->max_header_bytes = 64 << 10;
    c->stream_buffer_bytes = 256 << 10;
    c->max_response_bytes = 64 << 20;
    c->connect_timeout_ms = 10000;
    c->first_byte_timeout_ms = 600000; /* reasoning models think for minutes before byte 1 */
    c->idle_stream_timeout_ms = 300000;
    c->total_timeout_ms = 1800000;
    c->client_idle_timeout_ms = 60000;
    c->shutdown_grace_ms = 30000;
    c->budget_max_counters = 100000;
    c->budget_bytes_per_token = 1;
    c->budget_default_max_output = 4096;
    c->metrics_enabled = true;
    c->metrics_max_label_values = 100;
    snprintf(c->otel_service_name, sizeof c->otel_service_name, "tollgate");
    c->otlp_batch_spans = 512;
    c->otlp_queue_spans = 8192;
    c->otlp_flush_ms = 1000;
    c->otlp_timeout_ms = 10000;
    c->otlp_max_retries = 5;
    struct tg_errbuf eb;
    /* the shipped rate card and alias map; a config file's pricing.cards replaces them */
    snprintf(c->pricing_cards[0], sizeof c->pricing_cards[0], "%s/pricing/default.csv",
             TG_SOURCE_DIR);
    c->n_pricing_cards = 1;
    snprintf(c->pricing_aliases[0], sizeof c->pricing_aliases[0], "%s/pricing/aliases.csv",
             TG_SOURCE_DIR);
    c->n_pricing_aliases = 1;
    tg_config_set_upstream(c, "openai=https://api.openai.com", &eb);
    tg_config_set_upstream(c, "anthropic=https://api.anthropic.com", &eb);
}

const struct tg_upstream_conf *tg_config_upstream(const struct tg_config *c, const char *name,
                                                  unsigned long name_len)
{
    for (int i = 0; i < c->n_upstreams; i++)
        if (strlen(c->upstreams[i].name) == name_len &&
            memcmp(c->upstreams[i].name, name, name_len) == 0)
            return &c->upstreams[i];
    return NULL;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

static int valid_base_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* Finds or adds the upstream called name. */
static struct tg_upstream_conf *upstream_slot(struct tg_config *c, const char *name, size_t n)
{
    for (int i = 0; i < c->n_upstreams; i++)
        if (strlen(c->upstreams[i].name) == n && memcmp(c->upstreams[i].name, name, n) == 0)
            return &c->upstreams[i];
    if (c->n_upstreams == TG_MAX_UPSTREAMS)
        return NULL;
    struct tg_upstream_conf *u = &c->upstreams[c->n_upstreams++];
    memset(u, 0, sizeof *u);
    memcpy(u->name, name, n);
    u->name[n] = '\0';
    snprintf(u->type, sizeof u->type, "%s",
             strcmp(u->name, "anthropic") == 0 ? "anthropic" : "openai");
    snprintf(u->api_key_env, sizeof u->api_key_env, "%s",
             strcmp(u->name, "anthropic") == 0 ? "ANTHROPIC_API_KEY"
             : strcmp(u->name, "openai") == 0  ? "OPENAI_API_KEY"
                                               : "");
    return u;
}

static void set_base_url(struct tg_upstream_conf *u, const char *url)
{
    snprintf(u->base_url, sizeof u->base_url, "%s", url);
    size_t n = strlen(u->base_url);
    while (n > 0 && u->base_url[n - 1] == '/')
        u->base_url[--n] = '\0';
}

int tg_config_set_upstream(struct tg_config *c, const char *spec, struct tg_errbuf *eb)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || !valid_name(spec, (size_t)(eq - spec)))
        return tg_errf(eb, TG_ERR_INVALID,
                       "--upstream '%s': expected NAME=BASE_URL with NAME of [a-z0-9_-]", spec);
    if (!valid_base_url(eq + 1) || strlen(eq + 1) >= sizeof c->upstreams[0].base_url)
        return tg_errf(eb, TG_ERR_INVALID,
                       "--upstream '%s': base URL must start with http:// or https://", spec);
    struct tg_upstream_conf *u = upstream_slot(c, spec, (size_t)(eq - spec));
    if (u == NULL)
        return tg_errf(eb, TG_ERR_LIMIT, "--upstream '%s': at most %d upstreams", spec,
                       TG_MAX_UPSTREAMS);
    set_base_url(u, eq + 1);
    return 0;
}

int tg_config_set_listen(struct tg_config *c, const char *hostport, struct tg_errbuf *eb)
{
    const char *colon = strrchr(hostport, ':');
    char *end = NULL;
    if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof c->listen_host)
        return tg_errf(eb, TG_ERR_INVALID, "listen '%s': expected HOST:PORT", hostport);
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
        return tg_errf(eb, TG_ERR_INVALID, "listen '%s': port must be 0..65535", hostport);
    const char *h = hostport;
    size_t hn = (size_t)(colon - hostport);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') { /* [::1]:8080 */
        h++;
        hn -= 2;
    }
    memcpy(c->listen_host, h, hn);
    c->listen_host[hn] = '\0';
    c->listen_port = (int)port;
    return 0;
}

/* --- YAML walking ------------------------------------------------------------------- */

struct loader {
    struct tg_config *c;
    yaml_document_t *doc;
    const char *name;
    struct tg_errbuf *eb;
};

static int node_err(struct loader *L, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int node_err(struct loader *L, yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_errf(L->eb, TG_ERR_INVALID, "%s:%lu: %s", L->name,
                   (unsigned long)n->start_mark.line + 1, msg);
}

static const char *scalar(yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int set_key(struct loader *L, const struct key *k, const char *path, yaml_node_t *v)
{
    const char *s = scalar(v);
    if (s == NULL)
        return node_err(L, v, "key '%s' must be a scalar value", path);
    char *base = (char *)L->c;
    switch (k->type) {
    case K_INT: {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            return node_err(L, v, "key '%s': '%s' is not an integer", path, s);
        if (x < k->min || x > k->max) {
            char range[96];
            snprintf(range, sizeof range, "%s: %lld out of range %lld..%lld", s, x,
                     (long long)k->min, (long long)k->max);
            return node_err(L, v, "key '%s': %s", path, range);
        }
        if (k->offset == offsetof(struct tg_config, workers) ||
            k->offset == offsetof(struct tg_config, listen_port))
            *(int *)(base + k->offset) = (int)x;
        else
            *(int64_t *)(base + k->offset) = x;
        return 0;
    }
    case K_STR:
        if (strlen(s) >= k->size)
            return node_err(L, v, "key '%s': value too long", path);
        memcpy(base + k->offset, s, strlen(s) + 1);
        return 0;
    case K_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *(bool *)(base + k->offset) = s[0] == 't';
            return 0;
        }
        return node_err(L, v, "key '%s': '%s' is not true or false", path, s);
    case K_LISTEN: {
        struct tg_errbuf eb2;
        if (tg_config_set_listen(L->c, s, &eb2) != 0)
            return node_err(L, v, "key '%s': %s", path, eb2.msg);
        return 0;
    }
    }
    return 0;
}

static int load_upstreams(struct loader *L, yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return node_err(L, map, "key '%s' must be a map of NAME: {type, base_url}", "upstreams");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        const char *name = scalar(kn);
        if (name == NULL || !valid_name(name, strlen(name)))
            return node_err(L, kn, "upstreams: name '%s' must be [a-z0-9_-]{1,31}",
                            name ? name : "?");
        if (vn->type != YAML_MAPPING_NODE)
            return node_err(L, vn, "upstreams.%s must be a map with base_url and type", name);
        struct tg_upstream_conf *u = upstream_slot(L->c, name, strlen(name));
        if (u == NULL)
            return node_err(L, kn, "upstreams: more than 16 upstreams at '%s'", name);
        for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
             q++) {
            yaml_node_t *fk = yaml_document_get_node(L->doc, q->key);
            yaml_node_t *fv = yaml_document_get_node(L->doc, q->value);
            const char *f = scalar(fk), *val = scalar(fv);
            if (f != NULL && strcmp(f, "defaults") == 0)
                fv = NULL; /* a map, handled below */
            if (f == NULL || (val == NULL && fv != NULL))
                return node_err(L, fk, "upstreams.%s: expected scalar fields", name);
            if (strcmp(f, "base_url") == 0) {
                if (!valid_base_url(val) || strlen(val) >= sizeof u->base_url)
                    return node_err(
                        L, fv, "upstreams.%s.base_url: '%s' must start with http:// or https://",
                        name, val);
                set_base_url(u, val);
            } else if (strcmp(f, "type") == 0) {
                if (strcmp(val, "openai") != 0 && strcmp(val, "anthropic") != 0)
                    return node_err(L, fv, "upstreams.%s.type: '%s' is not openai or anthropic",
                                    name, val);
                snprintf(u->type, sizeof u->type, "%s", val);
            } else if (strcmp(f, "defaults") == 0 && fv == NULL) {
                yaml_node_t *dm = yaml_document_get_node(L->doc, q->value);
                if (dm->type != YAML_MAPPING_NODE)
                    return node_err(
                        L, dm, "upstreams.%s.defaults must map attribution fields to values", name);
                for (yaml_node_pair_t *d = dm->data.mapping.pairs.start;
                     d < dm->data.mapping.pairs.top; d++) {
                    const char *dk = scalar(yaml_document_get_node(L->doc, d->key));
                    const char *dv = scalar(yaml_document_get_node(L->doc, d->value));
                    if (dk == NULL || dv == NULL || strlen(dk) >= 32 || strlen(dv) >= 128 ||
                        u->n_defaults == 8)
                        return node_err(
                            L, dm, "upstreams.%s.defaults: at most 8 'field: value' pairs", name);
                    snprintf(u->defaults[u->n_defaults].field, 32, "%s", dk);
                    snprintf(u->defaults[u->n_defaults++].value, 128, "%s", dv);
                }
                continue;
            } else if (strcmp(f, "client") == 0) {
                if (strcmp(val, "auto") != 0 && strcmp(val, "libcurl") != 0)
                    return node_err(L, fv, "upstreams.%s.client: '%s' is not auto or libcurl", name,
                                    val);
                u->use_libcurl = strcmp(val, "libcurl") == 0;
            } else if (strcmp(f, "api_key_env") == 0) {
                if (strlen(val) >= sizeof u->api_key_env)
                    return node_err(L, fv, "upstreams.%s.api_key_env: too long", name);
                snprintf(u->api_key_env, sizeof u->api_key_env, "%s", val);
            } else {
                char path[128];
                snprintf(path, sizeof path, "upstreams.%s.%s", name, f);
                return node_err(L, fk, "unknown key '%s'", path);
            }
        }
        if (u->base_url[0] == '\0')
            return node_err(L, vn, "upstreams.%s: base_url is required", name);
    }
    return 0;
}

int tg_config_add_pricing_card(struct tg_config *c, const char *path, struct tg_errbuf *eb)
{
    if (c->n_pricing_cards == TG_MAX_PRICING_FILES)
        return tg_errf(eb, TG_ERR_LIMIT, "at most %d rate cards", TG_MAX_PRICING_FILES);
    if (strlen(path) >= sizeof c->pricing_cards[0])
        return tg_errf(eb, TG_ERR_INVALID, "rate card path too long");
    snprintf(c->pricing_cards[c->n_pricing_cards++], sizeof c->pricing_cards[0], "%s", path);
    return 0;
}

/* attribution: {required: [FIELD...], mode: off|flag|enforce, enforce_after: DATE,
 *               forward_baggage: BOOL, aliases: {HEADER: FIELD}} */
static int load_attribution(struct loader *L, yaml_node_t *map)
{
    struct tg_config *c = L->c;
    if (map->type != YAML_MAPPING_NODE)
        return node_err(L, map, "key 'attribution' must be a map");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        const char *k = scalar(kn), *v = scalar(vn);
        if (k != NULL && strcmp(k, "required") == 0) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return node_err(L, vn, "attribution.required must be a list of field names");
            c->n_attr_required = 0;
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                const char *f = scalar(yaml_document_get_node(L->doc, *it));
                if (f == NULL || strlen(f) >= 32 || c->n_attr_required == 16)
                    return node_err(L, vn, "attribution.required: expected at most 16 field names");
                snprintf(c->attr_required[c->n_attr_required++], 32, "%s", f);
            }
        } else if (k != NULL && strcmp(k, "mode") == 0 && v != NULL) {
            if (strcmp(v, "off") != 0 && strcmp(v, "flag") != 0 && strcmp(v, "enforce") != 0)
                return node_err(L, vn, "attribution.mode: '%s' is not off, flag or enforce", v);
            snprintf(c->attr_mode, sizeof c->attr_mode, "%s", v);
        } else if (k != NULL && strcmp(k, "enforce_after") == 0 && v != NULL) {
            if (tg_parse_time(v, &c->attr_enforce_after_ms) != 0)
                return node_err(L, vn, "attribution.enforce_after: '%s' is not a date (YYYY-MM-DD)",
                                v);
        } else if (k != NULL && strcmp(k, "forward_baggage") == 0 && v != NULL) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
                return node_err(L, vn, "attribution.forward_baggage: '%s' is not true or false", v);
            c->attr_forward_baggage = v[0] == 't';
        } else if (k != NULL && strcmp(k, "mappings") == 0) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return node_err(L, vn, "attribution.mappings must be a list of CSV files");
            c->n_attr_mappings = 0;
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                const char *f = scalar(yaml_document_get_node(L->doc, *it));
                if (f == NULL || strlen(f) >= 1024 || c->n_attr_mappings == 4)
                    return node_err(L, vn, "attribution.mappings: expected at most 4 file paths");
                snprintf(c->attr_mappings[c->n_attr_mappings++], 1024, "%s", f);
            }
        } else if (k != NULL && strcmp(k, "aliases") == 0 && vn->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                const char *h = scalar(yaml_document_get_node(L->doc, q->key));
                const char *f = scalar(yaml_document_get_node(L->doc, q->value));
                if (h == NULL || f == NULL || strlen(h) >= 64 || strlen(f) >= 32 ||
                    c->n_attr_aliases == 32)
                    return node_err(
                        L, vn, "attribution.aliases: expected at most 32 'header: field' pairs");
                snprintf(c->attr_aliases[c->n_attr_aliases].header, 64, "%s", h);
                snprintf(c->attr_aliases[c->n_attr_aliases++].field, 32, "%s", f);
            }
        } else {
            return node_err(L, kn, "unknown key 'attribution.%s'", k ? k : "?");
        }
    }
    return 0;
}

/* pricing: {cards: [FILE...], aliases: [FILE...], discounts: {PROVIDER: PERCENT}} */
static int load_pricing(struct loader *L, yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE)
        return node_err(L, map, "key 'pricing' must be a map of cards, aliases, discounts");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        const char *k = scalar(kn);
        bool cards = k != NULL && strcmp(k, "cards") == 0,
             aliases = k != NULL && strcmp(k, "aliases") == 0;
        if (cards || aliases) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return node_err(L, vn, "pricing.%s must be a list of file paths", k);
            int *n = cards ? &L->c->n_pricing_cards : &L->c->n_pricing_aliases;
            char(*dst)[1024] = cards ? L->c->pricing_cards : L->c->pricing_aliases;
            *n = 0; /* the file's list replaces the shipped default */
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(L->doc, *it);
                const char *path = scalar(item);
                if (path == NULL || strlen(path) >= 1024 || *n == TG_MAX_PRICING_FILES)
                    return node_err(L, item, "pricing.%s: expected at most %d paths", k,
                                    TG_MAX_PRICING_FILES);
                snprintf(dst[(*n)++], 1024, "%s", path);
            }
        } else if (k != NULL && strcmp(k, "fallback") == 0) {
            if (vn->type != YAML_MAPPING_NODE)
                return node_err(L, vn,
                                "pricing.fallback must be {input_per_mtok, output_per_mtok}");
            int seen = 0;
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *fk = yaml_document_get_node(L->doc, q->key);
                yaml_node_t *fv = yaml_document_get_node(L->doc, q->value);
                const char *f = scalar(fk), *v = scalar(fv);
                int64_t *dst = f && strcmp(f, "input_per_mtok") == 0 ? &L->c->pricing_fallback_input
                               : f && strcmp(f, "output_per_mtok") == 0
                                   ? &L->c->pricing_fallback_output
                                   : NULL;
                if (dst == NULL)
                    return node_err(L, fk, "unknown key 'pricing.fallback.%s'", f ? f : "?");
                if (v == NULL || tg_money_parse_decimal(v, 6, dst) != 0)
                    return node_err(L, fv,
                                    "pricing.fallback.%s: '%s' is not a USD price per million "
                                    "tokens with at most "
                                    "6 decimals",
                                    f, v ? v : "?");
                seen++;
            }
            if (seen != 2)
                return node_err(L, vn,
                                "pricing.fallback needs both input_per_mtok and output_per_mtok");
            L->c->has_pricing_fallback = true;
        } else if (k != NULL && strcmp(k, "discounts") == 0) {
            if (vn->type != YAML_MAPPING_NODE)
                return node_err(L, vn, "pricing.discounts must map provider names to percentages");
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *dk = yaml_document_get_node(L->doc, q->key);
                yaml_node_t *dv = yaml_document_get_node(L->doc, q->value);
                const char *prov = scalar(dk), *pct = scalar(dv);
                int64_t bps = 0;
                if (prov == NULL || pct == NULL || strlen(prov) >= 32 ||
                    tg_money_parse_decimal(pct, 2, &bps) != 0 || bps > 10000 ||
                    L->c->n_discounts == TG_MAX_UPSTREAMS)
                    return node_err(L, dv,
                                    "pricing.discounts.%s: expected a percentage 0..100 with at "
                                    "most 2 decimals",
                                    prov ? prov : "?");
                snprintf(L->c->discounts[L->c->n_discounts].provider, 32, "%s", prov);
                L->c->discounts[L->c->n_discounts++].bps = bps;
            }
        } else {
            return node_err(L, kn, "unknown key 'pricing.%s'", k ? k : "?");
        }
    }
    return 0;
}

/* One entry of budgets.limits: {scope, period, limit_usd, soft_pct, action}. */
static int load_budget(struct loader *L, yaml_node_t *item)
{
    struct tg_config *c = L->c;
    struct tg_errbuf eb;
    if (item->type != YAML_MAPPING_NODE || c->n_budgets == 32)
        return node_err(L, item,
                        "budgets.limits: expected at most 32 maps of scope, period, "
                        "limit_usd, soft_pct, action");
    struct tg_budget_def *d = &c->budgets[c->n_budgets];
    memset(d, 0, sizeof *d);
    d->block = true;
    d->period = TG_BP_N;
    d->from_config = true;
    snprintf(d->id, sizeof d->id, "config:%d", c->n_budgets + 1);
    bool has_scope = false, has_limit = false;
    for (yaml_node_pair_t *q = item->data.mapping.pairs.start; q < item->data.mapping.pairs.top;
         q++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, q->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, q->value);
        const char *k = scalar(kn), *v = scalar(vn);
        if (k == NULL || v == NULL)
            return node_err(L, kn, "budgets.limits: keys and values must be scalars%s", "");
        if (strcmp(k, "scope") == 0) {
            if (tg_budget_parse_scope(v, d, &eb) != 0)
                return node_err(L, vn, "%s", eb.msg);
            has_scope = true;
        } else if (strcmp(k, "period") == 0) {
            if (tg_budget_parse_period(v, &d->period, &eb) != 0)
                return node_err(L, vn, "%s", eb.msg);
        } else if (strcmp(k, "limit_usd") == 0) {
            if (tg_money_parse_decimal(v, 9, &d->limit_nanos) != 0 || d->limit_nanos <= 0)
                return node_err(L, vn,
                                "budgets.limits.limit_usd: '%s' is not a positive USD amount", v);
            has_limit = true;
        } else if (strcmp(k, "soft_pct") == 0) {
            char *end = NULL;
            long pct = strtol(v, &end, 10);
            if (end == v || *end != '\0' || pct < 0 || pct > 100)
                return node_err(L, vn, "budgets.limits.soft_pct: '%s' is not 0..100", v);
            d->soft_pct = (int)pct;
        } else if (strcmp(k, "action") == 0) {
            if (strcmp(v, "block") != 0 && strcmp(v, "warn") != 0)
                return node_err(L, vn, "budgets.limits.action: '%s' is not block or warn", v);
            d->block = v[0] == 'b';
        } else {
            return node_err(L, kn, "unknown key 'budgets.limits.%s'", k);
        }
    }
    if (!has_scope || !has_limit || d->period == TG_BP_N)
        return node_err(L, item, "budgets.limits: every budget needs scope, period and limit_usd%s",
                        "");
    c->n_budgets++;
    return 0;
}

/* budgets: {limits: [...], webhooks: [URL...], on_store_error: fail_open|fail_closed,
 *           max_counters, bytes_per_token, default_max_output_tokens} */
static int load_budgets(struct loader *L, yaml_node_t *map)
{
    struct tg_config *c = L->c;
    if (map->type != YAML_MAPPING_NODE)
        return node_err(L, map, "key 'budgets' must be a map%s", "");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        const char *k = scalar(kn), *v = scalar(vn);
        if (k != NULL && (strcmp(k, "limits") == 0 || strcmp(k, "webhooks") == 0)) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return node_err(L, vn, "budgets.%s must be a list", k);
            bool limits = k[0] == 'l';
            if (limits)
                c->n_budgets = 0;
            else
                c->n_budget_webhooks = 0;
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(L->doc, *it);
                if (limits) {
                    int rc = load_budget(L, item);
                    if (rc != 0)
                        return rc;
                    continue;
                }
                const char *url = scalar(item);
                if (url == NULL || strlen(url) >= 512 || c->n_budget_webhooks == 4 ||
                    !valid_base_url(url))
                    return node_err(L, item, "budgets.webhooks: expected at most 4 http(s) URLs%s",
                                    "");
                snprintf(c->budget_webhooks[c->n_budget_webhooks++], 512, "%s", url);
            }
        } else if (k != NULL && strcmp(k, "max_output_tokens") == 0) {
            if (vn->type != YAML_MAPPING_NODE)
                return node_err(L, vn,
                                "budgets.max_output_tokens must map model patterns to "
                                "token counts%s",
                                "");
            c->n_budget_model_output = 0;
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *mk = yaml_document_get_node(L->doc, q->key);
                yaml_node_t *mv = yaml_document_get_node(L->doc, q->value);
                const char *m = scalar(mk), *t = scalar(mv);
                char *end = NULL;
                long long n = t ? strtoll(t, &end, 10) : 0;
                if (m == NULL || t == NULL || strlen(m) >= 128 || end == t || *end != '\0' ||
                    n < 1 || n > 10000000 || c->n_budget_model_output == 16)
                    return node_err(
                        L, mv,
                        "budgets.max_output_tokens: expected at most 16 'model-pattern: "
                        "tokens' pairs with tokens 1..10000000%s",
                        "");
                snprintf(c->budget_model_output[c->n_budget_model_output].model, 128, "%s", m);
                c->budget_model_output[c->n_budget_model_output++].tokens = n;
            }
        } else if (k != NULL && strcmp(k, "on_store_error") == 0 && v != NULL) {
            if (strcmp(v, "fail_open") != 0 && strcmp(v, "fail_closed") != 0)
                return node_err(L, vn,
                                "budgets.on_store_error: '%s' is not fail_open or fail_closed", v);
            c->budget_fail_closed = strcmp(v, "fail_closed") == 0;
        } else {
            if (k == NULL)
                return node_err(L, kn, "keys must be scalars%s", "");
            char path[128];
            snprintf(path, sizeof path, "budgets.%s", k);
            const struct key *found = NULL;
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (strcmp(keys[i].path, path) == 0)
                    found = &keys[i];
            int rc =
                found ? set_key(L, found, path, vn) : node_err(L, kn, "unknown key '%s'", path);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int walk(struct loader *L, yaml_node_t *map, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE)
        return node_err(L, map, "%s must be a map", prefix[0] ? prefix : "the document");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(L->doc, p->value);
        const char *k = scalar(kn);
        if (k == NULL)
            return node_err(L, kn, "keys must be scalars%s", "");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (prefix[0] == '\0' && strcmp(k, "attribution") == 0) {
            int rc = load_attribution(L, vn);
            if (rc != 0)
                return rc;
            continue;
        }
        if (prefix[0] == '\0' && strcmp(k, "budgets") == 0) {
            int rc = load_budgets(L, vn);
            if (rc != 0)
                return rc;
            continue;
        }
        if (prefix[0] == '\0' && strcmp(k, "pricing") == 0) {
            int rc = load_pricing(L, vn);
            if (rc != 0)
                return rc;
            continue;
        }
        if (prefix[0] == '\0' && strcmp(k, "upstreams") == 0) {
            int rc = load_upstreams(L, vn);
            if (rc != 0)
                return rc;
            continue;
        }
        const struct key *found = NULL;
        int is_section = 0;
        size_t pl = strlen(path);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (strcmp(keys[i].path, path) == 0)
                found = &keys[i];
            else if (strncmp(keys[i].path, path, pl) == 0 && keys[i].path[pl] == '.')
                is_section = 1;
        }
        int rc = 0;
        if (found != NULL)
            rc = set_key(L, found, path, vn);
        else if (is_section)
            rc = walk(L, vn, path);
        else
            rc = node_err(L, kn, "unknown key '%s'", path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tg_config_load_string(struct tg_config *c, const char *name, const char *yaml,
                          unsigned long len, struct tg_errbuf *eb)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0, have_doc = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = tg_errf(eb, TG_ERR_INVALID, "%s:%lu: %s", name,
                     (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "invalid YAML");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) /* empty file: all defaults */
        goto out;
    struct loader L = {c, &doc, name, eb};
    rc = walk(&L, root, "");
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int tg_config_load_file(struct tg_config *c, const char *path, struct tg_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    int rc = 0;
    if (f == NULL)
        return tg_errf(eb, TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    text = tg_malloc(cap);
    for (;;) {
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            cap *= 2;
            text = tg_realloc(text, cap);
        }
    }
    if (ferror(f)) {
        rc = tg_errf(eb, TG_ERR_IO, "%s: read error", path);
        goto out;
    }
    rc = tg_config_load_string(c, path, text, len, eb);
    if (rc == 0)
        snprintf(c->source, sizeof c->source, "%s", path);
out:
    free(text);
    fclose(f);
    return rc;
}

int tg_config_finish(struct tg_config *c, struct tg_errbuf *eb)
{
    if (tg_config_upstream(c, "openai", 6) == NULL || tg_config_upstream(c, "anthropic", 9) == NULL)
        return tg_errf(eb, TG_ERR_INVALID, "config: upstreams 'openai' and 'anthropic' must exist");
    if (c->ledger_path[0] == '\0')
        return tg_errf(eb, TG_ERR_INVALID, "config: ledger path is empty");
    const char *otlp[] = {c->otlp_endpoint, c->otlp_traces_endpoint};
    for (int i = 0; i < 2; i++)
        if (otlp[i][0] != '\0' && !valid_base_url(otlp[i]))
            return tg_errf(eb, TG_ERR_INVALID,
                           "config: telemetry.otlp.%s: '%s' must start with http:// or https://",
                           i == 0 ? "endpoint" : "traces_endpoint", otlp[i]);
    return 0;
}
