/* cli/cmd_serve.c - `tollgate serve`: the YAML file first, then flags over it, then run */
#include "cli/cli.h"

#include "config/config.h"
#include "core/log.h"
#include "server/server.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate serve [--config FILE] [--listen HOST:PORT] [--workers N] [--ledger PATH]\n"
    "                      [--upstream NAME=BASE_URL]... [--pricing FILE]... [--port-file FILE]\n"
    "                      [--log-level LEVEL]\n"
    "\n"
    "Runs the gateway. Flags override the YAML file (docs/CONFIG.md). --listen with port 0\n"
    "picks a free port; --port-file writes the bound port there once listening.\n";

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int tg_cmd_serve(int argc, char **argv)
{
    static struct tg_config cfg; /* lives as long as the server */
    struct tg_errbuf eb;
    const char *config_path = NULL;
    tg_config_defaults(&cfg);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[i + 1];
    }
    if (config_path != NULL && tg_config_load_file(&cfg, config_path, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    for (int i = 1; i < argc; i += 2) { /* every option takes one value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (v == NULL) {
            fprintf(stderr, "tollgate serve: %s needs a value\n%s", a, usage_text);
            return 2;
        }
        if (strcmp(a, "--config") == 0) {
            /* loaded above */
        } else if (strcmp(a, "--listen") == 0) {
            rc = tg_config_set_listen(&cfg, v, &eb);
        } else if (strcmp(a, "--workers") == 0) {
            if (parse_int(v, 0, 256, &cfg.workers) != 0)
                rc = tg_errf(&eb, TG_ERR_INVALID, "--workers '%s': expected 0..256", v);
        } else if (strcmp(a, "--ledger") == 0) {
            snprintf(cfg.ledger_path, sizeof cfg.ledger_path, "%s", v);
        } else if (strcmp(a, "--upstream") == 0) {
            rc = tg_config_set_upstream(&cfg, v, &eb);
        } else if (strcmp(a, "--pricing") == 0) {
            rc = tg_config_add_pricing_card(&cfg, v, &eb);
        } else if (strcmp(a, "--port-file") == 0) {
            snprintf(cfg.port_file, sizeof cfg.port_file, "%s", v);
        } else if (strcmp(a, "--log-level") == 0) {
            snprintf(cfg.log_level, sizeof cfg.log_level, "%s", v);
        } else {
            fprintf(stderr, "tollgate serve: unknown option '%s'\n%s", a, usage_text);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            return 2;
        }
    }
    if (tg_config_finish(&cfg, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    if (strcmp(cfg.log_level, "debug") == 0)
        tg_log_set_level(TG_LOG_DEBUG);
    else if (strcmp(cfg.log_level, "warn") == 0)
        tg_log_set_level(TG_LOG_WARN);
    else if (strcmp(cfg.log_level, "error") == 0)
        tg_log_set_level(TG_LOG_ERROR);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = tg_server_run(&cfg, &eb);
    curl_global_cleanup();
    if (rc != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    return 0;
}
