/* finops/audit_trace.c - `tollgate audit trace`: the hop of a trace where attribution breaks
 *
 * Input is what the OpenTelemetry Collector's file exporter writes: JSON lines, each one
 * OTLP/JSON ExportTraceServiceRequest {"resourceSpans":[{resource, scopeSpans:[{spans}]}]}
 * (SPECS.md §2.3: ids are hex strings, case-insensitive; attributes are {key, value:
 * {stringValue|intValue|boolValue|...}}; unknown fields are ignored).
 *
 * Every span is one hop; its service is the resource's `service.name`. Hops are linked by
 * parentSpanId into a tree per trace and walked depth first (children by start time, then
 * span id); a span whose parent is not in the file starts a chain of its own.
 *
 * For each of the nine attribution fields a hop carries it KEPT (attribute named exactly
 * like the baggage key, `tollgate.<key>` or `baggage.<key>`), RENAMED (an attribute whose
 * name, or last dot-separated segment, equals the field name, its canonical header or an
 * alias header of identity.c's table once case, '_', '-', '.' and a leading "x-" are
 * ignored: `tenantId`, `app.tenant`, `customer_id`), DROPPED (absent here although an
 * ancestor hop had it), or ABSENT. Span attributes come before resource attributes; an
 * exact name before a rename. A break is the hop where a field turns renamed (or renamed
 * to another name) or dropped. Pure: text in, report out. */
#include "finops/audit_trace.h"

#include "core/alloc.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF     9 /* TG_F_TENANT .. TG_F_SERVICE */
#define F0     TG_F_TENANT
#define VALLEN 128

enum status { ST_ABSENT, ST_KEPT, ST_RENAMED, ST_DROPPED };
static const char *const status_names[] = {"absent", "kept", "renamed", "dropped"};

struct hit {
    enum status st;
    char as[VALLEN], value[VALLEN];
};

struct span {
    char trace_id[33], span_id[17], parent[17];
    char service[VALLEN], name[VALLEN];
    char start[24]; /* startTimeUnixNano, decimal text */
    struct hit f[NF];
    long seq;                                /* position in the file */
    struct span *parent_s;                   /* NULL: a root of its chain */
    struct span *first_child, *next_sibling; /* children by start time */
    bool inherited[NF], visited;
    int hop;
};

struct spans {
    struct span *v;
    int n, cap;
};

/* Lowercase letters and digits only: "tenantId", "tenant_id", "Tenant.ID" -> "tenantid". */
static void norm(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s != '\0' && o + 1 < cap; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[o++] = c;
    }
    out[o] = '\0';
}

static bool norm_eq(const char *name, const char *nk)
{
    char a[VALLEN];
    norm(name, a, sizeof a);
    if (strcmp(a, nk) == 0)
        return true;
    if ((name[0] == 'x' || name[0] == 'X') && name[1] == '-') {
        norm(name + 2, a, sizeof a);
        return strcmp(a, nk) == 0;
    }
    return false;
}

/* The field a normalized name nk denotes, by field name, canonical header or alias. */
static int field_of(const struct tg_identity_config *ic, const char *nk, bool last_segment)
{
    for (int f = 0; f < NF; f++) {
        /* `peer.service`, `rpc.service` name other services: no last-segment guess there */
        if (last_segment && f + F0 == TG_F_SERVICE)
            continue;
        if (norm_eq(tg_field_name((enum tg_field)(f + F0)), nk) ||
            norm_eq(tg_field_header((enum tg_field)(f + F0)), nk))
            return f;
        for (int a = 0; a < ic->n_aliases; a++)
            if ((int)ic->aliases[a].field == f + F0 && norm_eq(ic->aliases[a].header, nk))
                return f;
    }
    return -1;
}

/* Which field the attribute key names, and whether exactly (the accepted spellings). */
static int match_key(const struct tg_identity_config *ic, const char *key, bool *exact)
{
    *exact = false;
    if (strcmp(key, "service.name") == 0) /* the hop's own name, not the caller's field */
        return -1;
    const char *rest = key;
    if (strncmp(rest, "tollgate.", 9) == 0)
        rest += 9;
    else if (strncmp(rest, "baggage.", 8) == 0)
        rest += 8;
    for (int f = 0; f < NF; f++)
        if (strcmp(rest, tg_field_name((enum tg_field)(f + F0))) == 0) {
            *exact = true;
            return f;
        }
    char nk[VALLEN];
    norm(rest, nk, sizeof nk);
    int f = nk[0] ? field_of(ic, nk, false) : -1;
    const char *dot = strrchr(rest, '.');
    if (f < 0 && dot != NULL && dot[1] != '\0') {
        norm(dot + 1, nk, sizeof nk);
        f = nk[0] ? field_of(ic, nk, true) : -1;
    }
    return f;
}

/* An AnyValue as text: strings as they are, other scalars as their JSON. */
static bool value_text(const cJSON *v, char *out, size_t cap)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "stringValue");
    out[0] = '\0';
    if (cJSON_IsString(s)) {
        snprintf(out, cap, "%s", s->valuestring);
        return out[0] != '\0';
    }
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(v, "intValue");
    if (cJSON_IsString(i)) {
        snprintf(out, cap, "%s", i->valuestring);
        return out[0] != '\0';
    }
    const cJSON *any = i != NULL ? i : cJSON_GetObjectItemCaseSensitive(v, "boolValue");
    if (any == NULL)
        any = cJSON_GetObjectItemCaseSensitive(v, "doubleValue");
    if (any == NULL)
        return false;
    char *p = cJSON_PrintUnformatted(any);
    snprintf(out, cap, "%s", p ? p : "");
    cJSON_free(p);
    return out[0] != '\0';
}

static void take_attrs(const struct tg_identity_config *ic, const cJSON *attrs, struct hit *f)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, attrs)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
        char val[VALLEN];
        bool exact;
        if (!cJSON_IsString(k) ||
            !value_text(cJSON_GetObjectItemCaseSensitive(kv, "value"), val, sizeof val))
            continue;
        int i = match_key(ic, k->valuestring, &exact);
        if (i < 0 || f[i].st == ST_KEPT || (f[i].st == ST_RENAMED && !exact))
            continue;
        f[i].st = exact ? ST_KEPT : ST_RENAMED;
        snprintf(f[i].as, sizeof f[i].as, "%s", k->valuestring);
        snprintf(f[i].value, sizeof f[i].value, "%s", val);
    }
}

/* A hex id of n digits into out, lowercased; "" (or absent) when allow_empty. */
static bool hex_id(const cJSON *v, size_t n, char *out, bool allow_empty)
{
    out[0] = '\0';
    if (v == NULL || (cJSON_IsString(v) && v->valuestring[0] == '\0'))
        return allow_empty;
    if (!cJSON_IsString(v) || strlen(v->valuestring) != n)
        return false;
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = v->valuestring[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c + 32);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero |= c != '0';
        out[i] = c;
    }
    out[n] = '\0';
    if (!nonzero) /* all-zero ids are invalid (trace.proto); a zero parent is no parent */
        out[0] = '\0';
    return nonzero || allow_empty;
}

static int add_span(struct spans *S, const cJSON *sp, const char *service, const struct hit *res,
                    const struct tg_identity_config *ic, const char *name, long line,
                    struct tg_errbuf *eb)
{
    if (S->n == S->cap) {
        S->cap = S->cap ? S->cap * 2 : 64;
        S->v = tg_realloc(S->v, (size_t)S->cap * sizeof *S->v);
    }
    struct span *s = &S->v[S->n];
    memset(s, 0, sizeof *s);
    if (!hex_id(cJSON_GetObjectItemCaseSensitive(sp, "traceId"), 32, s->trace_id, false) ||
        !hex_id(cJSON_GetObjectItemCaseSensitive(sp, "spanId"), 16, s->span_id, false) ||
        !hex_id(cJSON_GetObjectItemCaseSensitive(sp, "parentSpanId"), 16, s->parent, true))
        return tg_errf(eb, TG_ERR_INVALID,
                       "%s:%ld: a span without a valid hex traceId (32), spanId (16) or "
                       "parentSpanId",
                       name, line);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(sp, "name");
    if (cJSON_IsString(nm))
        snprintf(s->name, sizeof s->name, "%s", nm->valuestring);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(sp, "startTimeUnixNano");
    if (cJSON_IsString(st) && strlen(st->valuestring) < sizeof s->start)
        snprintf(s->start, sizeof s->start, "%s", st->valuestring);
    else if (cJSON_IsNumber(st)) {
        char *p = cJSON_PrintUnformatted(st);
        snprintf(s->start, sizeof s->start, "%s", p ? p : "");
        cJSON_free(p);
    }
    snprintf(s->service, sizeof s->service, "%s", service);
    take_attrs(ic, cJSON_GetObjectItemCaseSensitive(sp, "attributes"), s->f);
    for (int f = 0; f < NF; f++)
        if (s->f[f].st == ST_ABSENT)
            s->f[f] = res[f];
    S->n++;
    return 0;
}

static int parse_line(struct spans *S, const char *name, long line, const char *p, size_t n,
                      const struct tg_identity_config *ic, struct tg_errbuf *eb)
{
    cJSON *doc = cJSON_ParseWithLength(p, n);
    int rc = 0;
    if (!cJSON_IsObject(doc)) {
        rc = tg_errf(eb, TG_ERR_INVALID, "%s:%ld: not a JSON object", name, line);
        goto out;
    }
    const cJSON *rs_list = cJSON_GetObjectItemCaseSensitive(doc, "resourceSpans"), *rs;
    cJSON_ArrayForEach(rs, rs_list)
    {
        const cJSON *resource = cJSON_GetObjectItemCaseSensitive(rs, "resource");
        const cJSON *rattrs = cJSON_GetObjectItemCaseSensitive(resource, "attributes"), *kv;
        char service[VALLEN] = "";
        struct hit res[NF];
        memset(res, 0, sizeof res);
        cJSON_ArrayForEach(kv, rattrs)
        {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
            if (cJSON_IsString(k) && strcmp(k->valuestring, "service.name") == 0)
                value_text(cJSON_GetObjectItemCaseSensitive(kv, "value"), service, sizeof service);
        }
        take_attrs(ic, rattrs, res);
        const cJSON *ss_list = cJSON_GetObjectItemCaseSensitive(rs, "scopeSpans"), *ss;
        cJSON_ArrayForEach(ss, ss_list)
        {
            const cJSON *sp;
            cJSON_ArrayForEach(sp, cJSON_GetObjectItemCaseSensitive(ss, "spans"))
            {
                rc = add_span(S, sp, service, res, ic, name, line, eb);
                if (rc != 0)
                    goto out;
            }
        }
    }
out:
    cJSON_Delete(doc);
    return rc;
}

/* Start times are decimal text of unsigned nanoseconds: shorter is earlier. */
static int cmp_start(const struct span *a, const struct span *b)
{
    size_t la = strlen(a->start), lb = strlen(b->start);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a->start, b->start);
    return c != 0 ? c : strcmp(a->span_id, b->span_id);
}

struct walk {
    struct span **order; /* the trace's spans, by start time */
    int n_order;
    int next_hop;
    struct tg_buf *out;
    enum tg_audit_format format;
    int n_breaks; /* in this trace */
    struct tg_buf breaks;
};

static void emit_break(struct walk *w, const struct span *s, int f)
{
    const struct hit *h = &s->f[f];
    if (w->format == TG_AUDIT_JSON) {
        tg_buf_appendf(&w->breaks, "%s{\"field\":\"%s\",\"hop\":%d,\"span_id\":\"%s\",\"service\":",
                       w->n_breaks ? "," : "", tg_field_name((enum tg_field)(f + F0)), s->hop,
                       s->span_id);
        if (s->service[0])
            tg_buf_append_json_str(&w->breaks, s->service, strlen(s->service));
        else
            tg_buf_appends(&w->breaks, "null");
        tg_buf_appendf(&w->breaks, ",\"change\":\"%s\"", status_names[h->st]);
        if (h->st == ST_RENAMED) {
            tg_buf_appends(&w->breaks, ",\"as\":");
            tg_buf_append_json_str(&w->breaks, h->as, strlen(h->as));
        }
        tg_buf_appends(&w->breaks, "}");
    } else {
        tg_buf_appendf(&w->breaks, "      %s %s at hop %d (%s)",
                       tg_field_name((enum tg_field)(f + F0)), status_names[h->st], s->hop,
                       s->service[0] ? s->service : "?");
        if (h->st == ST_RENAMED)
            tg_buf_appendf(&w->breaks, " as %s", h->as);
        tg_buf_appends(&w->breaks, "\n");
    }
    w->n_breaks++;
}

static void emit_hop(struct walk *w, const struct span *s, const struct span *p)
{
    struct tg_buf *out = w->out;
    if (w->format == TG_AUDIT_JSON) {
        tg_buf_appendf(out, "%s{\"hop\":%d,\"span_id\":\"%s\",\"parent_span_id\":",
                       s->hop > 1 ? "," : "", s->hop, s->span_id);
        if (s->parent[0])
            tg_buf_appendf(out, "\"%s\"", s->parent);
        else
            tg_buf_appends(out, "null");
        tg_buf_appendf(out, ",\"parent_hop\":");
        if (p != NULL)
            tg_buf_appendf(out, "%d", p->hop);
        else
            tg_buf_appends(out, "null");
        tg_buf_appends(out, ",\"service\":");
        if (s->service[0])
            tg_buf_append_json_str(out, s->service, strlen(s->service));
        else
            tg_buf_appends(out, "null");
        tg_buf_appends(out, ",\"name\":");
        tg_buf_append_json_str(out, s->name, strlen(s->name));
        tg_buf_appends(out, ",\"fields\":{");
        bool first = true;
        for (int f = 0; f < NF; f++) {
            const struct hit *h = &s->f[f];
            if (h->st == ST_ABSENT)
                continue;
            tg_buf_appendf(out, "%s\"%s\":{\"status\":\"%s\"", first ? "" : ",",
                           tg_field_name((enum tg_field)(f + F0)), status_names[h->st]);
            if (h->st != ST_DROPPED) {
                tg_buf_appends(out, ",\"as\":");
                tg_buf_append_json_str(out, h->as, strlen(h->as));
                tg_buf_appends(out, ",\"value\":");
                tg_buf_append_json_str(out, h->value, strlen(h->value));
            }
            tg_buf_appends(out, "}");
            first = false;
        }
        tg_buf_appends(out, "}}");
        return;
    }
    tg_buf_appendf(out, "  hop %d  %s  %s  span %s", s->hop, s->service[0] ? s->service : "?",
                   s->name, s->span_id);
    if (p != NULL)
        tg_buf_appendf(out, " (parent hop %d)", p->hop);
    tg_buf_appends(out, "\n");
    for (int st = ST_KEPT; st <= ST_DROPPED; st++) {
        bool any = false;
        for (int f = 0; f < NF; f++) {
            if ((int)s->f[f].st != st)
                continue;
            if (any)
                tg_buf_appends(out, ", ");
            else
                tg_buf_appendf(out, "      %-8s ", status_names[st]);
            tg_buf_appends(out, tg_field_name((enum tg_field)(f + F0)));
            if (st == ST_RENAMED)
                tg_buf_appendf(out, " as %s", s->f[f].as);
            any = true;
        }
        if (any)
            tg_buf_appends(out, "\n");
    }
}

static void visit_one(struct walk *w, struct span *s)
{
    const struct span *p = s->parent_s;
    s->hop = ++w->next_hop;
    for (int f = 0; f < NF; f++) {
        s->inherited[f] =
            p != NULL && (p->inherited[f] || p->f[f].st == ST_KEPT || p->f[f].st == ST_RENAMED);
        if (s->f[f].st == ST_ABSENT && s->inherited[f])
            s->f[f].st = ST_DROPPED;
        enum status pst = p != NULL ? p->f[f].st : ST_ABSENT;
        if ((s->f[f].st == ST_RENAMED && (pst != ST_RENAMED || strcmp(s->f[f].as, p->f[f].as))) ||
            (s->f[f].st == ST_DROPPED && pst != ST_DROPPED))
            emit_break(w, s, f);
    }
    emit_hop(w, s, p);
}

/* Depth first from root, children by start time, with an explicit stack (a trace may be
 * deep); stack has room for every span of the trace. A span is pushed once: it is marked
 * visited when pushed. */
static void walk_from(struct walk *w, struct span *root, struct span **stack)
{
    int top = 0;
    root->visited = true;
    stack[top++] = root;
    while (top > 0) {
        struct span *s = stack[--top];
        visit_one(w, s);
        int from = top;
        for (struct span *c = s->first_child; c != NULL; c = c->next_sibling)
            if (!c->visited) {
                c->visited = true;
                stack[top++] = c;
            }
        for (int i = from, j = top - 1; i < j; i++, j--) { /* the earliest child pops first */
            struct span *t = stack[i];
            stack[i] = stack[j];
            stack[j] = t;
        }
    }
}

static int by_start(const void *a, const void *b)
{
    return cmp_start(*(struct span *const *)a, *(struct span *const *)b);
}

static int by_ids(const void *a, const void *b)
{
    const struct span *x = *(struct span *const *)a, *y = *(struct span *const *)b;
    int c = strcmp(x->trace_id, y->trace_id);
    if (c == 0)
        c = strcmp(x->span_id, y->span_id);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts ids by (trace, span, file order) and links every span to its parent in the same
 * trace (the first span with that id). */
static void link_parents(struct span **ids, int n)
{
    qsort(ids, (size_t)n, sizeof *ids, by_ids);
    for (int i = 0; i < n; i++) {
        struct span *s = ids[i];
        s->parent_s = NULL;
        if (s->parent[0] == '\0')
            continue;
        int lo = 0, hi = n - 1, found = -1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            int c = strcmp(ids[mid]->trace_id, s->trace_id);
            if (c == 0)
                c = strcmp(ids[mid]->span_id, s->parent);
            if (c == 0)
                found = mid;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid - 1; /* on a match keep looking left: the first of equal ids */
        }
        if (found >= 0 && ids[found] != s)
            s->parent_s = ids[found];
    }
}

struct group {
    int at, n;  /* a run of one trace in the sorted ids */
    long first; /* file position of its first span */
};

static int by_first(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

int tg_audit_trace_run(const char *name, const char *text, size_t len,
                       const struct tg_identity_config *ic, enum tg_audit_format format,
                       struct tg_buf *out, int *n_breaks, struct tg_errbuf *eb)
{
    struct spans S = {0};
    struct span **ids = NULL, **order = NULL, **stack = NULL;
    struct group *groups = NULL;
    int rc = 0, n_groups = 0;
    long line = 0;
    *n_breaks = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        line++;
        size_t k = 0;
        while (k < n && (text[pos + k] == ' ' || text[pos + k] == '\t' || text[pos + k] == '\r'))
            k++;
        if (k < n) {
            rc = parse_line(&S, name, line, text + pos, n, ic, eb);
            if (rc != 0)
                goto out;
        }
        pos += n + 1;
    }
    ids = tg_malloc((size_t)(S.n ? S.n : 1) * sizeof *ids);
    order = tg_malloc((size_t)(S.n ? S.n : 1) * sizeof *order);
    stack = tg_malloc((size_t)(S.n ? S.n : 1) * sizeof *stack);
    groups = tg_malloc((size_t)(S.n ? S.n : 1) * sizeof *groups);
    for (int i = 0; i < S.n; i++) {
        S.v[i].seq = i;
        ids[i] = &S.v[i];
    }
    link_parents(ids, S.n);
    for (int i = 0; i < S.n; i++) {
        if (i == 0 || strcmp(ids[i]->trace_id, ids[i - 1]->trace_id) != 0)
            groups[n_groups++] = (struct group){.at = i, .n = 0, .first = ids[i]->seq};
        struct group *g = &groups[n_groups - 1];
        g->n++;
        if (ids[i]->seq < g->first)
            g->first = ids[i]->seq;
    }
    qsort(groups, (size_t)n_groups, sizeof *groups, by_first); /* traces in file order */
    if (format == TG_AUDIT_JSON)
        tg_buf_appends(out, "{\"traces\":[");
    for (int gi = 0; gi < n_groups; gi++) {
        struct walk w = {.order = order, .n_order = groups[gi].n, .out = out, .format = format};
        memcpy(order, ids + groups[gi].at, (size_t)groups[gi].n * sizeof *order);
        qsort(order, (size_t)w.n_order, sizeof *order, by_start);
        for (int k = w.n_order - 1; k >= 0; k--) { /* sibling lists in start order */
            struct span *p = order[k]->parent_s;
            if (p != NULL) {
                order[k]->next_sibling = p->first_child;
                p->first_child = order[k];
            }
        }
        const char *tid = order[0]->trace_id;
        if (format == TG_AUDIT_JSON)
            tg_buf_appendf(out, "%s{\"trace_id\":\"%s\",\"hops\":[", gi ? "," : "", tid);
        else
            tg_buf_appendf(out, "%strace %s: %d hop%s\n", gi ? "\n" : "", tid, w.n_order,
                           w.n_order == 1 ? "" : "s");
        /* roots first (no parent in the file), then anything left over (a parent cycle) */
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < w.n_order; k++)
                if (!order[k]->visited && (pass == 1 || order[k]->parent_s == NULL)) {
                    order[k]->parent_s = NULL; /* in a cycle: its earliest span is the root */
                    walk_from(&w, order[k], stack);
                }
        if (format == TG_AUDIT_JSON) {
            tg_buf_appends(out, "],\"breaks\":[");
            if (w.breaks.len)
                tg_buf_append(out, w.breaks.base, w.breaks.len);
            tg_buf_appends(out, "]}");
        } else {
            tg_buf_appendf(out, "  breaks:%s\n", w.n_breaks ? "" : " none");
            if (w.breaks.len)
                tg_buf_append(out, w.breaks.base, w.breaks.len);
        }
        tg_buf_free(&w.breaks);
        *n_breaks += w.n_breaks;
    }
    if (format == TG_AUDIT_JSON)
        tg_buf_appendf(out, "],\"breaks\":%d}\n", *n_breaks);
    else if (n_groups == 0)
        tg_buf_appends(out, "no spans\n");
out:
    free(groups);
    free(stack);
    free(order);
    free(ids);
    free(S.v);
    return rc;
}
