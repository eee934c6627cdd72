/* server/server.c - listeners, worker threads, signals, graceful shutdown
 *
 * DESIGN. One worker thread per core (configurable), each with its own h2o evloop, h2o
 * context, listening socket (SO_REUSEPORT on one port, so the kernel spreads
 * connections) and libcurl multi handle: nothing on the request path is shared between
 * workers except the read-only config and the ledger queue. Signals are blocked in
 * every thread and taken synchronously by the main thread with sigwait(2): h2o's loop
 * returns -1 on EINTR and must never see them. SIGTERM/SIGINT: the main thread posts a
 * shutdown message to each worker, which closes its listener (stop accepting), asks h2o
 * to close idle keep-alive connections, and leaves its loop once its in-flight calls
 * have ended (or shutdown_grace_ms passed). Then the main thread joins the workers and
 * closes the ledger, which commits everything still queued. */
#include "server/server.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "server/worker.h"
#include "store/budgets.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum ctl_kind { CTL_SHUTDOWN, CTL_KEYS, CTL_MAPS };

struct ctl_msg {
    h2o_multithread_message_t super;
    enum ctl_kind kind;
    struct tg_shared_keyset *keys;
    struct tg_shared_maps *maps;
};

static void maps_release(struct tg_shared_maps *sm)
{
    if (sm != NULL && __atomic_sub_fetch(&sm->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        tg_mappings_destroy(sm->m);
        free(sm);
    }
}

/* Loads every configured mapping table into a new snapshot and hands it to the workers
 * (start-up: installed directly). On SIGHUP a table with an error keeps the old ones. */
static int load_maps(struct tg_server *srv, bool startup, struct tg_errbuf *eb)
{
    struct tg_mappings *m = tg_mappings_new();
    for (int i = 0; i < srv->cfg->n_attr_mappings; i++) {
        int rc = tg_mappings_load_file(m, srv->cfg->attr_mappings[i], eb);
        if (rc != 0) {
            tg_mappings_destroy(m);
            return rc;
        }
    }
    struct tg_shared_maps *sm = tg_calloc(1, sizeof *sm);
    sm->m = m;
    sm->refs = srv->n_workers;
    for (int i = 0; i < srv->n_workers; i++) {
        if (startup) {
            srv->workers[i].maps = sm;
            continue;
        }
        struct ctl_msg *msg = tg_calloc(1, sizeof *msg);
        msg->kind = CTL_MAPS;
        msg->maps = sm;
        h2o_multithread_send_message(&srv->workers[i].ctl_rx, &msg->super);
    }
    return 0;
}

static void keyset_release(struct tg_shared_keyset *sk)
{
    if (sk != NULL && __atomic_sub_fetch(&sk->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        tg_keyset_destroy(sk->ks);
        free(sk);
    }
}

/* Main thread: the budgets of the config file and of the budgets table, re-read when the
 * table changed (checked once a second). A budget seen for the first time — every one at
 * start-up — gets its spend rebuilt from the ledger, so a restart never resets a budget.
 * Then the live counters are written for `tollgate budgets list`. */
static void reload_budgets(struct tg_server *srv, bool force)
{
    struct tg_errbuf eb;
    char fp[96];
    int64_t now = tg_now_ms();
    if (tg_budgets_fingerprint(srv->admin_db, fp, sizeof fp, &eb) != 0) {
        tg_warn("event=budgets_reload_failed error=\"%s\"", eb.msg);
        return;
    }
    if (force || strcmp(fp, srv->budgets_fingerprint) != 0) {
        struct tg_budget_def *defs = NULL;
        int n = 0, n_old = __atomic_load_n(&srv->n_budgets, __ATOMIC_RELAXED), n_new = 0;
        if (tg_budgets_load(srv->admin_db, srv->cfg->budgets, srv->cfg->n_budgets, &defs, &n,
                            &eb) != 0) {
            tg_warn("event=budgets_reload_failed error=\"%s\"", eb.msg);
            return;
        }
        struct tg_budget_def *fresh = tg_malloc(sizeof *fresh * (size_t)(n + 1));
        for (int i = 0; i < n; i++) {
            bool known = false;
            for (int j = 0; j < n_old && !known; j++)
                known = strcmp(srv->budget_defs[j].id, defs[i].id) == 0;
            if (!known)
                fresh[n_new++] = defs[i];
        }
        srv->budgets->ops->set_defs(srv->budgets, defs, n);
        if (tg_budgets_rebuild(srv->admin_db, srv->budgets, fresh, n_new, now, &eb) != 0)
            tg_error("event=budgets_rebuild_failed error=\"%s\"", eb.msg);
        free(fresh);
        free(srv->budget_defs);
        srv->budget_defs = defs;
        __atomic_store_n(&srv->n_budgets, n, __ATOMIC_RELEASE);
        snprintf(srv->budgets_fingerprint, sizeof srv->budgets_fingerprint, "%s", fp);
        tg_info("event=budgets_loaded budgets=%d rebuilt=%d", n, n_new);
    }
    if (__atomic_load_n(&srv->n_budgets, __ATOMIC_RELAXED) > 0) {
        struct tg_buf js = {0};
        srv->budgets->ops->list_json(srv->budgets, now, &js);
        if (tg_budgets_save_state(srv->admin_db, js.base, now, &eb) != 0)
            tg_warn("event=budget_state_failed error=\"%s\"", eb.msg);
        tg_buf_free(&js);
    }
}

/* Main thread: reloads the virtual keys when the table changed (checked once a second,
 * so a key created or revoked from the CLI takes effect within a second) and hands the
 * new snapshot to every worker. */
static void reload_keys(struct tg_server *srv, bool force /* start-up */)
{
    struct tg_errbuf eb;
    sqlite3_stmt *st = NULL;
    char fp[128] = "";
    if (tg_keys_migrate(srv->admin_db, &eb) != 0 ||
        sqlite3_prepare_v2(
            srv->admin_db,
            "SELECT count(*), coalesce(max(created_at_ms),0), coalesce(sum(revoked_at_ms),0) "
            "FROM virtual_keys",
            -1, &st, NULL) != SQLITE_OK) {
        tg_warn("event=keys_reload_failed error=\"%s\"", sqlite3_errmsg(srv->admin_db));
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(fp, sizeof fp, "%lld/%lld/%lld", (long long)sqlite3_column_int64(st, 0),
                 (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
    if (!force && strcmp(fp, srv->keys_fingerprint) == 0)
        goto out;
    struct tg_keyset *ks = NULL;
    if (tg_keyset_load(srv->admin_db, &ks, &eb) != 0) {
        tg_warn("event=keys_reload_failed error=\"%s\"", eb.msg);
        goto out;
    }
    snprintf(srv->keys_fingerprint, sizeof srv->keys_fingerprint, "%s", fp);
    struct tg_shared_keyset *sk = tg_calloc(1, sizeof *sk);
    sk->ks = ks;
    sk->refs = srv->n_workers;
    for (int i = 0; i < srv->n_workers; i++) {
        struct tg_worker *w = &srv->workers[i];
        if (force) { /* start-up, before the workers run: install directly */
            w->keys = sk;
            continue;
        }
        struct ctl_msg *m = tg_calloc(1, sizeof *m);
        m->kind = CTL_KEYS;
        m->keys = sk;
        h2o_multithread_send_message(&w->ctl_rx, &m->super);
    }
    if (!force)
        tg_info("event=keys_reloaded fingerprint=%s", fp);
out:
    sqlite3_finalize(st);
}

/* Every response says `server: tollgate`. h2o 2.2.5 would write globalconf.server_name
 * itself, with a sprintf of its own on every response (~1.2k instructions, 2% of a
 * proxied call's); a header added here is a copy. The answers h2o makes before any
 * handler runs (a malformed request line, an oversized head) go without it. */
static void server_header(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SERVER, NULL, H2O_STRLIT("tollgate"));
    h2o_setup_next_ostream(req, slot);
}

static int bind_listener(const char *host, int port, int *fd_out, int *bound_port,
                         struct tg_errbuf *eb)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    int fd = -1, rc = 0, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        rc = tg_errf(eb, TG_ERR_INVALID, "listen %s:%d: %s", host, port, gai_strerror(gai));
        goto out;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        rc = tg_errf(eb, TG_ERR_IO, "listen %s:%d: %s", host, port, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    if (res != NULL)
        freeaddrinfo(res);
    return rc;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct tg_worker *w = listener->data;
    if (err != NULL)
        return;
    /* accept a batch per wake-up; the listener is non-blocking */
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void maybe_exit(struct tg_worker *w)
{
    if (w->draining && w->active_calls == 0)
        w->exit_loop = true;
}

void tg_worker_call_ended(struct tg_worker *w)
{
    w->active_calls--;
    maybe_exit(w);
}

static void on_grace_expired(h2o_timeout_entry_t *e)
{
    struct tg_worker *w = (struct tg_worker *)((char *)e - offsetof(struct tg_worker, grace_entry));
    tg_warn("event=shutdown_grace_expired worker=%d in_flight=%d", w->index, w->active_calls);
    w->exit_loop = true;
}

static void on_ctl_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct tg_worker *w = (struct tg_worker *)((char *)rx - offsetof(struct tg_worker, ctl_rx));
    while (!h2o_linklist_is_empty(messages)) {
        struct ctl_msg *m = H2O_STRUCT_FROM_MEMBER(struct ctl_msg, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        enum ctl_kind kind = m->kind;
        struct tg_shared_keyset *keys = m->keys;
        struct tg_shared_maps *maps = m->maps;
        free(m);
        if (kind == CTL_KEYS) {
            keyset_release(w->keys);
            w->keys = keys;
            continue;
        }
        if (kind == CTL_MAPS) {
            maps_release(w->maps);
            w->maps = maps;
            continue;
        }
        if (w->draining)
            continue;
        w->draining = true;
        if (w->listener != NULL) {
            h2o_socket_read_stop(w->listener);
            h2o_socket_close(w->listener);
            w->listener = NULL;
        }
        h2o_context_request_shutdown(&w->ctx);
        h2o_timeout_link(w->loop, &w->grace_timeout, &w->grace_entry);
        maybe_exit(w);
    }
}

static void *worker_main(void *arg)
{
    struct tg_worker *w = arg;
    char name[16]; /* what top -H and /proc/PID/task/TID/comm show */
    snprintf(name, sizeof name, "tg-worker-%d", w->index);
    pthread_setname_np(pthread_self(), name);
    while (!w->exit_loop)
        h2o_evloop_run(w->loop, 1000); /* -1 on EINTR is harmless: we just loop */
    return NULL;
}

/* Pooled plain-HTTP connections idle longer are not reused: under the idle timeouts of
 * common load balancers (60 s on AWS ALB), as libcurl's own limit is (118 s). */
#define H1_MAX_IDLE_MS 30000

static void worker_init(struct tg_server *srv, struct tg_worker *w, int index, int fd)
{
    const struct tg_config *cfg = srv->cfg;
    w->srv = srv;
    w->index = index;
    w->listen_fd = fd;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &srv->globalconf);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = srv->globalconf.hosts;
    w->curl = tg_curlloop_new(w->loop, &w->ctx);
    w->h1 = tg_h1client_new(w->loop, (uint64_t)cfg->connect_timeout_ms, H1_MAX_IDLE_MS);
    w->queue = h2o_multithread_create_queue(w->loop);
    struct tg_errbuf eb;
    if (tg_ledger_add_journal(srv->ledger, &w->journal, &eb) != 0)
        tg_warn("event=journal_unavailable worker=%d error=\"%s\" note=\"responses wait for "
                "their ledger commit\"",
                index, eb.msg);
    h2o_multithread_register_receiver(w->queue, &w->ledger_rx, tg_proxy_on_ledger_messages);
    h2o_multithread_register_receiver(w->queue, &w->ctl_rx, on_ctl_messages);
    h2o_timeout_init(w->loop, &w->first_byte_timeout, (uint64_t)cfg->first_byte_timeout_ms);
    h2o_timeout_init(w->loop, &w->idle_timeout, (uint64_t)cfg->idle_stream_timeout_ms);
    h2o_timeout_init(w->loop, &w->total_timeout, (uint64_t)cfg->total_timeout_ms);
    h2o_timeout_init(w->loop, &w->client_check_timeout, 250);
    h2o_timeout_init(w->loop, &w->begin_row_timeout, 50);
    h2o_timeout_init(w->loop, &w->grace_timeout, (uint64_t)cfg->shutdown_grace_ms);
    w->grace_entry.cb = on_grace_expired;
    w->listener = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);
}

static void worker_dispose(struct tg_worker *w)
{
    if (w->listener != NULL) {
        h2o_socket_read_stop(w->listener);
        h2o_socket_close(w->listener);
    }
    if (h2o_timeout_is_linked(&w->grace_entry))
        h2o_timeout_unlink(&w->grace_entry);
    tg_curlloop_destroy(w->curl);
    tg_h1client_destroy(w->h1);
    tg_proxy_worker_free(w);
    keyset_release(w->keys);
    w->keys = NULL;
    maps_release(w->maps);
    w->maps = NULL;
    sqlite3_close(w->admin_db);
    /* h2o 2.2.5 cannot fully tear down a context with live connections; the process is
     * about to exit, so the loop and context are left to the OS. */
}

static int write_port_file(const char *path, int port, struct tg_errbuf *eb)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return tg_errf(eb, TG_ERR_IO, "port file %s: %s", path, strerror(errno));
    fprintf(f, "%d\n", port);
    fclose(f);
    if (rename(tmp, path) != 0) /* atomic: a reader never sees a half-written file */
        return tg_errf(eb, TG_ERR_IO, "port file %s: %s", path, strerror(errno));
    return 0;
}

_Static_assert(TG_H1_MAX_ORIGINS >= TG_MAX_UPSTREAMS, "an upstream's index names its pool");

/* The host and port of a base URL (the scheme's default port when it names none), and
 * whether tollgate's own HTTP/1.1 client can carry it: plain http:// to an IP literal or
 * localhost (a name that DNS may move goes through libcurl, which resolves it again). */
static void upstream_addr(struct tg_server *srv, int i)
{
    const struct tg_upstream_conf *uc = &srv->cfg->upstreams[i];
    CURLU *u = curl_url();
    char *h = NULL, *p = NULL, *path = NULL, *scheme = NULL;
    struct tg_h1_origin *o = &srv->upstream_addr[i].origin;
    srv->upstream_addr[i].host[0] = '\0';
    srv->upstream_addr[i].port = 0;
    if (curl_url_set(u, CURLUPART_URL, uc->base_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    snprintf(srv->upstream_addr[i].host, sizeof srv->upstream_addr[i].host, "%s", h);
    int port = srv->upstream_addr[i].port = (int)strtol(p, NULL, 10);
    if (uc->use_libcurl || srv->env_proxy || strcmp(scheme, "http") != 0)
        goto out;
    memset(o, 0, sizeof *o);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->addr;
    char bare[256];
    size_t hl = strlen(h);
    snprintf(bare, sizeof bare, "%.*s", (int)(hl >= 2 && h[0] == '[' ? hl - 2 : hl),
             h[0] == '[' ? h + 1 : h);
    if (strcmp(bare, "localhost") == 0)
        snprintf(bare, sizeof bare, "127.0.0.1");
    if (inet_pton(AF_INET, bare, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        o->addrlen = sizeof *v4;
    } else if (inet_pton(AF_INET6, bare, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        o->addrlen = sizeof *v6;
    } else {
        goto out;
    }
    o->id = i;
    snprintf(o->name, sizeof o->name, "%s:%d", h, port);
    char *given = NULL; /* the Host header names the port only when the URL did */
    bool has_port = curl_url_get(u, CURLUPART_PORT, &given, 0) == CURLUE_OK;
    curl_free(given);
    snprintf(srv->upstream_addr[i].host_header, sizeof srv->upstream_addr[i].host_header,
             has_port ? "%s:%d" : "%s", h, port);
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    snprintf(srv->upstream_addr[i].path_prefix, sizeof srv->upstream_addr[i].path_prefix, "%.*s",
             (int)pl, path);
    srv->upstream_addr[i].is_native = true;
out:
    curl_free(h);
    curl_free(p);
    curl_free(path);
    curl_free(scheme);
    curl_url_cleanup(u);
}

/* The OTLP traces URL (SPECS.md §2.1): telemetry.otlp.traces_endpoint or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is; else the base telemetry.otlp.endpoint or
 * OTEL_EXPORTER_OTLP_ENDPOINT with v1/traces appended. No URL: no exporter. */
static void start_otel(struct tg_server *srv)
{
    const struct tg_config *cfg = srv->cfg;
    struct tg_otel_config oc;
    memset(&oc, 0, sizeof oc);
    const char *traces = cfg->otlp_traces_endpoint, *base = cfg->otlp_endpoint;
    const char *env_headers = getenv("OTEL_EXPORTER_OTLP_HEADERS");
    if (traces[0] == '\0' && base[0] == '\0') {
        traces = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    }
    if (traces != NULL && traces[0] != '\0')
        snprintf(oc.url, sizeof oc.url, "%s", traces);
    else if (base != NULL && base[0] != '\0' && strlen(base) < sizeof oc.url - 11)
        snprintf(oc.url, sizeof oc.url, "%.500s%sv1/traces", base,
                 base[strlen(base) - 1] == '/' ? "" : "/");
    else
        return;
    snprintf(oc.headers, sizeof oc.headers, "%s",
             cfg->otlp_headers[0] != '\0' || env_headers == NULL ? cfg->otlp_headers : env_headers);
    snprintf(oc.service_name, sizeof oc.service_name, "%s", cfg->otel_service_name);
    oc.batch_spans = (int)cfg->otlp_batch_spans;
    oc.queue_spans = (int)cfg->otlp_queue_spans;
    oc.flush_ms = (int)cfg->otlp_flush_ms;
    oc.timeout_ms = (int)cfg->otlp_timeout_ms;
    oc.max_retries = (int)cfg->otlp_max_retries;
    srv->otel = tg_otel_new(&oc);
    tg_info("event=otlp_exporter url=%s batch_spans=%d", oc.url, oc.batch_spans);
}

int tg_server_run(const struct tg_config *cfg, struct tg_errbuf *eb)
{
    struct tg_server srv;
    int rc = 0, port = cfg->listen_port, n = cfg->workers;
    sigset_t sigs;
    memset(&srv, 0, sizeof srv);
    srv.cfg = cfg;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by the workers */

    tg_identity_config_defaults(&srv.identity);
    for (int i = 0; rc == 0 && i < cfg->n_attr_aliases; i++)
        rc = tg_identity_add_alias(&srv.identity, cfg->attr_aliases[i].header,
                                   cfg->attr_aliases[i].field, eb);
    for (int i = 0; rc == 0 && i < cfg->n_attr_required; i++) {
        int f = tg_field_by_name(cfg->attr_required[i]);
        if (f < 0)
            rc = tg_errf(eb, TG_ERR_INVALID, "attribution.required: unknown field '%s'",
                         cfg->attr_required[i]);
        else
            srv.identity.required |= 1u << f;
    }
    srv.identity.mode = strcmp(cfg->attr_mode, "enforce") == 0 ? TG_ATTR_ENFORCE
                        : strcmp(cfg->attr_mode, "flag") == 0  ? TG_ATTR_FLAG
                                                               : TG_ATTR_OFF;
    srv.identity.enforce_after_ms = cfg->attr_enforce_after_ms;
    srv.identity.forward_baggage = cfg->attr_forward_baggage;
    for (int u = 0; rc == 0 && u < cfg->n_upstreams; u++)
        for (int i = 0; rc == 0 && i < cfg->upstreams[u].n_defaults; i++) {
            int f = tg_field_by_name(cfg->upstreams[u].defaults[i].field);
            if (f < 0 || f == TG_F_REQUEST_ID)
                rc = tg_errf(eb, TG_ERR_INVALID, "upstreams.%s.defaults: unknown field '%s'",
                             cfg->upstreams[u].name, cfg->upstreams[u].defaults[i].field);
            else
                snprintf(srv.route_defaults[u].v[f], sizeof srv.route_defaults[u].v[f], "%s",
                         cfg->upstreams[u].defaults[i].value);
        }
    if (rc != 0)
        goto out;
    srv.card = tg_pricing_new();
    for (int i = 0; rc == 0 && i < cfg->n_pricing_cards; i++)
        rc = tg_pricing_load_file(srv.card, cfg->pricing_cards[i], eb);
    for (int i = 0; rc == 0 && i < cfg->n_pricing_aliases; i++)
        rc = tg_pricing_load_aliases_file(srv.card, cfg->pricing_aliases[i], eb);
    for (int i = 0; rc == 0 && i < cfg->n_discounts; i++)
        rc = tg_pricing_set_discount(srv.card, cfg->discounts[i].provider, cfg->discounts[i].bps,
                                     eb);
    if (rc == 0 && cfg->has_pricing_fallback)
        rc = tg_pricing_set_fallback(srv.card, cfg->pricing_fallback_input,
                                     cfg->pricing_fallback_output, eb);
    if (rc != 0)
        goto out;
    static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                             "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++) {
        const char *v = getenv(proxy_vars[i]);
        srv.env_proxy = srv.env_proxy || (v != NULL && v[0] != '\0');
    }
    for (int u = 0; u < cfg->n_upstreams; u++)
        upstream_addr(&srv, u);
    rc = tg_ledger_open(cfg->ledger_path, &srv.ledger, eb);
    if (rc != 0)
        goto out;
    if (!cfg->ledger_writer_idle)
        tg_ledger_writer_normal(srv.ledger);
    if (sqlite3_open_v2(cfg->ledger_path, &srv.admin_db, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "%s: %s", cfg->ledger_path, sqlite3_errmsg(srv.admin_db));
        goto out;
    }
    sqlite3_busy_timeout(srv.admin_db, 1000);

    h2o_config_init(&srv.globalconf);
    /* h2o answers a body above its own cap with a bare 413 before any handler runs, so its
     * cap sits above ours: the handler sees bodies up to 4x the limit and answers those
     * with a ledger row and a 413 in the caller's dialect. */
    int64_t cap = cfg->max_body_bytes * 4 < cfg->max_body_bytes + (1 << 20)
                      ? cfg->max_body_bytes + (1 << 20)
                      : cfg->max_body_bytes * 4;
    srv.globalconf.max_request_entity_size = (size_t)cap;
    srv.globalconf.http1.req_timeout = (uint64_t)cfg->client_idle_timeout_ms;
    srv.globalconf.http2.idle_timeout = (uint64_t)cfg->client_idle_timeout_ms;
    srv.globalconf.server_name = h2o_iovec_init("", 0); /* said by server_header instead */
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_create_filter(pc, sizeof(h2o_filter_t))->on_setup_ostream = server_header;
    h2o_handler_t *h = h2o_create_handler(pc, sizeof *h);
    h->on_req = tg_proxy_on_req;

    srv.n_workers = n;
    srv.workers = tg_calloc((size_t)n, sizeof *srv.workers);
    for (int i = 0; i < n; i++) {
        int fd = -1, bound = 0;
        rc = bind_listener(cfg->listen_host, port, &fd, &bound, eb);
        if (rc != 0)
            goto out;
        port = bound; /* port 0: the first bind picks the port, the rest share it */
        worker_init(&srv, &srv.workers[i], i, fd);
    }
    reload_keys(&srv, true);
    srv.budgets = tg_budget_local_new((int)cfg->budget_max_counters);
    srv.webhooks = tg_webhooks_new(cfg->budget_webhooks, cfg->n_budget_webhooks);
    if (cfg->metrics_enabled)
        srv.metrics = tg_metrics_new((int)cfg->metrics_max_label_values);
    start_otel(&srv);
    reload_budgets(&srv, true);
    rc = load_maps(&srv, true, eb);
    if (rc != 0)
        goto out;
    if (cfg->port_file[0] != '\0') {
        rc = write_port_file(cfg->port_file, port, eb);
        if (rc != 0)
            goto out;
    }
    for (int i = 0; i < n; i++)
        pthread_create(&srv.workers[i].tid, NULL, worker_main, &srv.workers[i]);
    tg_info("event=listening addr=%s:%d workers=%d ledger=%s rate_card_rows=%d ledger_writer=%s",
            cfg->listen_host, port, n, cfg->ledger_path, tg_pricing_rows(srv.card),
            tg_ledger_writer_idles(srv.ledger) ? "idle_while_caught_up" : "normal");

    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig < 0) { /* a second passed: pick up CLI changes */
            reload_keys(&srv, false);
            reload_budgets(&srv, false);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP) {
            struct tg_errbuf reb;
            if (load_maps(&srv, false, &reb) == 0)
                tg_info("event=mappings_reloaded files=%d", cfg->n_attr_mappings);
            else
                tg_error("event=mappings_reload_failed error=\"%s\" note=the previous tables stay "
                         "in force",
                         reb.msg);
        }
    }
    tg_info("event=shutdown_start");
    for (int i = 0; i < n; i++) {
        struct ctl_msg *m = tg_calloc(1, sizeof *m);
        m->kind = CTL_SHUTDOWN;
        h2o_multithread_send_message(&srv.workers[i].ctl_rx, &m->super);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(srv.workers[i].tid, NULL);
        worker_dispose(&srv.workers[i]);
    }
    tg_info("event=shutdown_done");
out:
    tg_ledger_close(srv.ledger); /* commits everything still queued */
    tg_webhooks_destroy(srv.webhooks);
    tg_otel_destroy(srv.otel); /* one last export of the queued spans */
    tg_metrics_destroy(srv.metrics);
    if (srv.budgets != NULL)
        srv.budgets->ops->destroy(srv.budgets);
    free(srv.budget_defs);
    sqlite3_close(srv.admin_db);
    tg_pricing_destroy(srv.card);
    free(srv.workers);
    return rc;
}
