/* config/config.h - the gateway's configuration: YAML file, then command-line overrides */
#ifndef TG_CONFIG_CONFIG_H
#define TG_CONFIG_CONFIG_H

#include "accounting/budget.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

#define TG_MAX_UPSTREAMS     16
#define TG_MAX_PRICING_FILES 8

/* One provider endpoint. Routes /v1/... go to the upstream named "openai" or
 * "anthropic" by API family; /NAME/v1/... goes to upstream NAME. */
struct tg_upstream_conf {
    char name[32];
    char type[16];        /* openai | anthropic: the API family (wire format) */
    char base_url[512];   /* scheme://host[:port][/prefix], no trailing slash */
    char api_key_env[64]; /* env var holding the provider key used when the caller sends none */
    bool use_libcurl;     /* client: libcurl — never tollgate's own HTTP/1.1 client */
    struct {
        char field[32], value[128];
    } defaults[8]; /* route defaults for attribution (docs/ATTRIBUTION.md) */
    int n_defaults;
};

/* Immutable after tg_config_finish; shared read-only by every worker. */
struct tg_config {
    char source[1024]; /* config file path, "" when none */
    char listen_host[64];
    int listen_port;
    char port_file[1024]; /* write the bound port here once listening ("" = no) */
    int workers;          /* 0 = one per core */
    char ledger_path[1024];
    bool ledger_writer_idle; /* the ledger writer on the cores' idle time while it keeps up */
    struct tg_upstream_conf upstreams[TG_MAX_UPSTREAMS];
    int n_upstreams;
    /* limits */
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t stream_buffer_bytes; /* per stream: pause the upstream beyond this */
    int64_t max_response_bytes;  /* a non-streaming answer longer than this is refused */
    /* timeouts, milliseconds */
    int64_t connect_timeout_ms;
    int64_t first_byte_timeout_ms;  /* request sent -> first response byte */
    int64_t idle_stream_timeout_ms; /* gap between two upstream body reads */
    int64_t total_timeout_ms;
    int64_t client_idle_timeout_ms; /* keep-alive idle on the listener */
    int64_t shutdown_grace_ms;      /* SIGTERM: wait this long for in-flight calls */
    char log_level[8];
    bool require_virtual_key; /* refuse calls that do not present a tollgate virtual key */
    char admin_key_env[64];   /* env var with the admin API's master key; unset = API off */
    /* pricing: rate-card layers (later files win), alias maps, discounts per provider */
    char pricing_cards[TG_MAX_PRICING_FILES][1024];
    int n_pricing_cards;
    char pricing_aliases[TG_MAX_PRICING_FILES][1024];
    int n_pricing_aliases;
    struct {
        char provider[32];
        int64_t bps;
    } discounts[TG_MAX_UPSTREAMS];
    int n_discounts;
    bool has_pricing_fallback; /* budget estimate prices for unpriced models */
    int64_t pricing_fallback_input, pricing_fallback_output; /* micro-dollars per million */
    /* attribution (docs/ATTRIBUTION.md); validated against the field list at start-up */
    char attr_required[16][32];
    int n_attr_required;
    char attr_mode[8]; /* off | flag | enforce */
    int64_t attr_enforce_after_ms;
    bool attr_forward_baggage;
    struct {
        char header[64], field[32];
    } attr_aliases[32];
    int n_attr_aliases;
    char attr_mappings[4][1024]; /* mapping-table CSV files, reloaded on SIGHUP */
    int n_attr_mappings;
    /* budgets (docs/BUDGETS.md): the config file's own, next to those set from the CLI */
    struct tg_budget_def budgets[32];
    int n_budgets;
    bool budget_fail_closed;           /* the store cannot answer: refuse (else allow, flagged) */
    int64_t budget_max_counters;       /* live counters the in-process store keeps */
    int64_t budget_bytes_per_token;    /* request bytes per estimated input token (1 = bound) */
    int64_t budget_default_max_output; /* output tokens assumed when a request sets no limit */
    struct {
        char model[128]; /* glob pattern */
        int64_t tokens;
    } budget_model_output[16]; /* per-model defaults, first match wins, before the default */
    int n_budget_model_output;
    char budget_webhooks[4][512];
    int n_budget_webhooks;
    /* telemetry (docs/TELEMETRY.md) */
    bool metrics_enabled;             /* GET /metrics */
    int64_t metrics_max_label_values; /* distinct model/team/cost_center values, then "other" */
    char otlp_endpoint[512];          /* base URL: /v1/traces is appended */
    char otlp_traces_endpoint[512];   /* the traces URL, used as is (wins over the base) */
    char otlp_headers[1024];          /* "k=v,k2=v2" sent with every export */
    char otel_service_name[64];       /* resource service.name */
    int64_t otlp_batch_spans, otlp_queue_spans, otlp_flush_ms, otlp_timeout_ms, otlp_max_retries;
};

/** Appends a rate-card layer (--pricing FILE). */
int tg_config_add_pricing_card(struct tg_config *c, const char *path, struct tg_errbuf *eb);

/** Fills c with the defaults (127.0.0.1:8080, ./tollgate.db, api.openai.com,
 *  api.anthropic.com, 10 MiB bodies, ...). */
void tg_config_defaults(struct tg_config *c);

/** Loads the YAML file at path over c. Errors name the file, line and key:
 *  "tollgate.yaml:7: unknown key 'timeouts.conect_ms'". */
int tg_config_load_file(struct tg_config *c, const char *path, struct tg_errbuf *eb);

/** Same, from a string (name is used in messages). */
int tg_config_load_string(struct tg_config *c, const char *name, const char *yaml,
                          unsigned long len, struct tg_errbuf *eb);

/** Adds or replaces an upstream from "NAME=BASE_URL" (type: NAME when it is openai or
 *  anthropic, else openai, the compatible API most servers speak). */
int tg_config_set_upstream(struct tg_config *c, const char *spec, struct tg_errbuf *eb);

/** Parses "HOST:PORT" into listen_host/listen_port. */
int tg_config_set_listen(struct tg_config *c, const char *hostport, struct tg_errbuf *eb);

/** Validates cross-field rules after all sources are applied. */
int tg_config_finish(struct tg_config *c, struct tg_errbuf *eb);

/** The upstream called name, or NULL. */
const struct tg_upstream_conf *tg_config_upstream(const struct tg_config *c, const char *name,
                                                  unsigned long name_len);

#endif
