/* tests/fuzz/fuzz_json.c - tg_json_parse against cJSON on any bytes: never a crash; what it
 * accepts cJSON accepts too, as the same tree (printed the same, prev links as cJSON's) */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cJSON's list shape: the first child's prev is the last child, a child's next ends it */
static void check_links(const cJSON *j)
{
    const cJSON *last = NULL;
    for (const cJSON *c = j->child; c != NULL; c = c->next) {
        if (c != j->child && c->prev != last)
            abort();
        check_links(c);
        last = c;
    }
    if (j->child != NULL && j->child->prev != last)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *ours = tg_json_parse((const char *)data, size);
    if (ours == NULL)
        return 0;
    check_links(ours);
    /* cJSON skips a BOM too, but then misreads a number that ends the text */
    size_t bom = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    cJSON *theirs = cJSON_ParseWithLength((const char *)data + bom, size - bom);
    if (theirs == NULL)
        abort();
    char *a = cJSON_PrintUnformatted(ours), *b = cJSON_PrintUnformatted(theirs);
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        abort();
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(ours);
    cJSON_Delete(theirs);
    return 0;
}
