/* server/server.h - listeners, worker threads, signals and graceful shutdown */
#ifndef TG_SERVER_SERVER_H
#define TG_SERVER_SERVER_H

#include "config/config.h"
#include "core/err.h"

/** Runs the gateway until SIGTERM/SIGINT: binds the listener, starts the workers, and on
 *  a signal stops accepting, waits up to shutdown_grace_ms for in-flight calls, flushes
 *  the ledger and returns 0. Returns an error (eb filled) when start-up fails. Main
 *  thread; blocks. cfg must outlive the call. */
int tg_server_run(const struct tg_config *cfg, struct tg_errbuf *eb);

#endif
