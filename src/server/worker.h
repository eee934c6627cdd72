/* server/worker.h - per-thread state shared by server.c and proxy.c (internal to server/) */
#ifndef TG_SERVER_WORKER_H
#define TG_SERVER_WORKER_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/multithread.h>
#include <pthread.h>
#include <stdbool.h>

#include "accounting/budget.h"
#include "accounting/identity.h"
#include "accounting/pricing.h"
#include "config/config.h"
#include "store/keys.h"
#include "store/ledger.h"
#include "telemetry/metrics.h"
#include "telemetry/otel.h"
#include "upstream/curlloop.h"
#include "upstream/h1client.h"
#include "upstream/webhook.h"

struct tg_server;

/* One worker: its own loop, h2o context, listener, curl multi. Fields are touched only by
 * the worker's own thread except where noted. ctx must stay the first member: handlers
 * find the worker from req->conn->ctx. */
struct tg_worker {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    struct tg_server *srv;
    int index;
    int listen_fd;
    h2o_socket_t *listener;
    struct tg_curlloop *curl;
    struct tg_h1client *h1; /* plain-HTTP upstreams at a fixed address (h1client.h) */
    h2o_multithread_queue_t *queue;
    struct tg_journal *journal;           /* this worker's crash journal; NULL: none */
    h2o_multithread_receiver_t ledger_rx; /* ledger commits (posted by the writer thread) */
    h2o_multithread_receiver_t ctl_rx;    /* shutdown request (posted by the main thread) */
    h2o_timeout_t first_byte_timeout, idle_timeout, total_timeout;
    h2o_timeout_t client_check_timeout; /* peeks at waiting clients' sockets for a hang-up */
    h2o_timeout_t begin_row_timeout;    /* a call running this long gets its 'incomplete' row */
    h2o_timeout_entry_t grace_entry;
    h2o_timeout_t grace_timeout;
    struct tg_shared_keyset *keys; /* this worker's current virtual-key snapshot */
    struct tg_shared_maps *maps;   /* this worker's current mapping tables */
    sqlite3 *admin_db;             /* admin API's connection to the ledger, opened on first use */
    void *call_cache[32]; /* finished calls' memory, reused by the next requests (proxy.c) */
    int n_call_cache;
    int active_calls;
    bool draining; /* stop accepting; exit when active_calls reaches 0 */
    bool exit_loop;
    pthread_t tid;
};

/* A virtual-key snapshot shared by the workers: each holds one reference and drops it
 * when it swaps in a newer one; the last reference frees it. */
struct tg_shared_keyset {
    struct tg_keyset *ks;
    int refs; /* atomic */
};

/* Mapping tables shared the same way, swapped on SIGHUP. */
struct tg_shared_maps {
    struct tg_mappings *m;
    int refs; /* atomic */
};

struct tg_server {
    const struct tg_config *cfg;
    struct tg_ledger *ledger;
    sqlite3 *admin_db;                  /* main thread only: polls virtual keys for changes */
    struct tg_ratecard *card;           /* immutable after start-up; read by every worker */
    struct tg_identity_config identity; /* immutable after start-up */
    struct tg_identity_defaults route_defaults[TG_MAX_UPSTREAMS]; /* by upstream index */
    struct {
        char host[256];
        int port;
        /* tollgate's own HTTP/1.1 client carries this upstream (http://, an IP literal or
         * localhost, no egress proxy, client not libcurl): where to connect, the Host
         * header and the base URL's path prefix */
        bool is_native;
        struct tg_h1_origin origin;
        char host_header[300];
        char path_prefix[512];
    } upstream_addr[TG_MAX_UPSTREAMS]; /* from base_url, for spans' server.address/port */
    bool env_proxy;                    /* a proxy variable was set at start: libcurl reads them */
    long unpriced_calls;               /* atomic: calls whose model no rate-card row prices */
    struct tg_budget_store *budgets;   /* counters; thread-safe */
    int n_budgets;                     /* atomic: budgets defined (0 skips admission) */
    struct tg_budget_def *budget_defs; /* main thread: the definitions in force */
    char budgets_fingerprint[96];
    struct tg_webhooks *webhooks; /* budget events; NULL when none configured */
    struct tg_metrics *metrics;   /* GET /metrics; NULL when disabled */
    struct tg_otel *otel;         /* span exporter; NULL without an OTLP endpoint */
    char keys_fingerprint[128];
    h2o_globalconf_t globalconf;
    struct tg_worker *workers;
    int n_workers;
};

/** The request handler (proxy.c): registered on "/" for every host. */
int tg_proxy_on_req(h2o_handler_t *self, h2o_req_t *req);
/** Frees the worker's cached call memory (proxy.c). Worker shutdown. */
void tg_proxy_worker_free(struct tg_worker *w);
/** Receives ledger-commit messages on the worker thread (proxy.c). */
void tg_proxy_on_ledger_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages);
/** Serves /admin/... (admin.c); returns 0 when it answered the request. */
int tg_admin_handle(struct tg_worker *w, h2o_req_t *req);
/** Serves GET /metrics in the Prometheus text format (metrics_page.c). */
int tg_metrics_page(struct tg_worker *w, h2o_req_t *req);
/** Called by proxy.c when a call ends; lets a draining worker exit (server.c). */
void tg_worker_call_ended(struct tg_worker *w);

#endif
