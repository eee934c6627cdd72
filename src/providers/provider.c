/* providers/provider.c - what every API family shares: operation names, error bodies */
#include "providers/provider.h"

#include "providers/json_util.h"

#include <cjson/cJSON.h>

const char *tg_op_name(enum tg_op op)
{
    switch (op) {
    case TG_OP_CHAT: return "chat";
    case TG_OP_COMPLETION: return "text_completion";
    case TG_OP_EMBEDDINGS: return "embeddings";
    case TG_OP_RESPONSES: return "responses";
    case TG_OP_MODELS: return "models";
    case TG_OP_MESSAGES: return "chat";
    }
    return "unknown";
}

int tg_provider_parse_body(const char *body, size_t len, const struct tg_json_keep *keep,
                           const struct tg_json_take *take, void *target, cJSON **out,
                           struct tg_errbuf *eb)
{
    cJSON *j = tg_json_parse_into(body, len, keep, take, target);
    if (j == NULL)
        return tg_errf(eb, TG_ERR_INVALID, "request body is not valid JSON");
    if (!cJSON_IsObject(j)) {
        tg_json_delete(j);
        return tg_errf(eb, TG_ERR_INVALID, "request body must be a JSON object");
    }
    *out = j;
    return 0;
}

void tg_provider_close_error(struct tg_buf *out, const char *tollgate_json)
{
    if (tollgate_json != NULL) {
        tg_buf_appends(out, ",\"tollgate\":");
        tg_buf_appends(out, tollgate_json);
    }
    tg_buf_appends(out, "}");
}
