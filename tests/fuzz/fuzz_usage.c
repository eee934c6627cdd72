/* tests/fuzz/fuzz_usage.c - every provider's body and stream parsers on arbitrary input */
#include <stdint.h>
#include <string.h>

#include "providers/provider.h"
#include "upstream/sse.h"

struct ctx {
    const struct tg_provider *prov;
    struct tg_stream_state st;
    struct tg_usage u;
};

static int on_event(void *ud, const struct tg_sse_event *ev)
{
    struct ctx *c = ud;
    c->prov->stream_event(&c->st, ev, &c->u);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const struct tg_provider *p;
        enum tg_op op;
    } targets[] = {{&tg_provider_openai, TG_OP_CHAT},
                   {&tg_provider_openai, TG_OP_COMPLETION},
                   {&tg_provider_openai, TG_OP_EMBEDDINGS},
                   {&tg_provider_openai, TG_OP_RESPONSES},
                   {&tg_provider_anthropic, TG_OP_MESSAGES}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        struct ctx c;
        struct tg_sse_parser p;
        struct tg_request_info info;
        struct tg_buf rewritten = {0};
        struct tg_errbuf eb;
        memset(&c, 0, sizeof c);
        c.prov = targets[i].p;
        c.st.op = targets[i].op;
        c.st.injected_usage = true;
        c.prov->parse_response(targets[i].op, (const char *)data, size, &c.u);
        c.prov->inspect_request(targets[i].op, (const char *)data, size, &info, &rewritten, &eb);
        tg_buf_free(&rewritten);
        memset(&c.u, 0, sizeof c.u);
        tg_sse_init(&p, 1 << 16);
        tg_sse_feed(&p, (const char *)data, size, on_event, &c);
        tg_sse_free(&p);
        if (c.u.cached_input_tokens < 0 || c.u.input_tokens < 0 || c.u.output_tokens < 0)
            __builtin_trap(); /* counts are never negative */
    }
    return 0;
}
