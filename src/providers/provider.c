/* providers/provider.c - what every API family shares: operation names, error bodies */
#include "providers/provider.h"

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
