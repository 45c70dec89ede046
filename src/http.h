/*
 * The HTTP server of "wtc serve" (the only module that uses libmicrohttpd).
 *
 * Routes: POST /write-through (one JSON object, a JSON array, or NDJSON),
 * GET /{table}/{key...} (read-through: Redis, then MySQL, then fill Redis),
 * GET /healthz and GET /metrics (Prometheus text).  Answers are JSON;
 * errors are {"error": "..."} with a status that says who should act
 * (4xx: the client; 503 + Retry-After: try again later).
 *
 * Threads: a small pool of I/O threads, each running a libmicrohttpd
 * daemon of its own (external epoll), accepting from the shared listening
 * socket while it holds less than its share of --max-connections, reads
 * requests and writes answers and never blocks on Redis, MySQL or the
 * spool; a request that needs them is suspended and handed over:
 *  - single-object writes to HTTP_WRITERS writer threads, all those one
 *    pass of an I/O thread read at once; a writer takes every such
 *    request waiting (up to HTTP_CHUNK) and lands them with one
 *    ingest_write: one spool group commit and one pipelined Redis round
 *    trip for all of them (one writer measured best: the longer it
 *    works, the bigger its next batch);
 *  - bulk writes (one ingest_write per HTTP_CHUNK records of the body),
 *    reads, /healthz and /metrics to worker threads, each with its own
 *    Redis and MySQL connections, made when first needed.
 * A write is answered 200 only after the ingest_write that carried it
 * returned 0; when it fails, none of the requests it carried is.
 *
 * Ownership: the server borrows the ingest and the configuration until
 * http_stop.  The token is copied.  Log callbacks are called from any
 * thread, one whole line (no newline) per call; the token and request
 * headers never appear in them.
 */
#ifndef WTC_HTTP_H
#define WTC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ingest.h"

#define HTTP_DEFAULT_LISTEN	"127.0.0.1:8080"
#define HTTP_DEFAULT_MAX_BODY	(16u * 1024 * 1024)
#define HTTP_DEFAULT_WORKERS	16
#define HTTP_WRITERS		1	/* threads coalescing single-object writes */
#define HTTP_DEFAULT_MAX_CONN	1024
#define HTTP_DEFAULT_TIMEOUT	30
#define HTTP_CHUNK		4096
/* A bulk body is read no further once this many of its records were refused. */
#define HTTP_REJECTS_MAX	10000

typedef void	 http_log_cb(void *arg, const char *line, size_t len);

struct http_opts {
	const char	*listen;	/* "ADDR:PORT", "[V6]:PORT", "PORT" or "unix:/path" */
	unsigned	 threads;	/* I/O threads; 0: number of CPUs, at least 2 */
	unsigned	 workers;	/* worker threads; 0: HTTP_DEFAULT_WORKERS */
	size_t		 max_body;	/* bytes; 0: HTTP_DEFAULT_MAX_BODY */
	unsigned	 max_connections; /* 0: HTTP_DEFAULT_MAX_CONN */
	unsigned	 timeout_s;	/* idle / slow client timeout; 0: HTTP_DEFAULT_TIMEOUT */
	const char	*token;		/* bearer token required, or NULL */
	uint64_t	 max_backlog;	/* spool records before writes get 503; 0: no limit */
	http_log_cb	*access_log;	/* one line per request, or NULL */
	void		*access_arg;
	http_log_cb	*log;		/* problems worth an operator's eye, or NULL */
	void		*log_arg;
};

/* What http_start failed at: decides the exit status. */
enum http_fail {
	HTTP_OK = 0,
	HTTP_FAIL_USAGE,	/* bad listen address or option */
	HTTP_FAIL_LISTEN,	/* cannot bind or listen */
	HTTP_FAIL_INTERNAL
};

/* What the supervisor says about the drainer, for /healthz. */
enum http_drainer {
	HTTP_DRAINER_NONE = 0,	/* --no-drainer: an external one, if any */
	HTTP_DRAINER_RUNNING,
	HTTP_DRAINER_RESTARTING
};

struct http;

/* Check a listen address's syntax without binding; 0 or -1 with *err. */
int		 http_listen_check(const char *listen, char **err);

/* Bind, listen and start serving.  NULL with *fail and *err on failure. */
struct http	*http_start(const struct http_opts *, const struct config *,
		    struct ingest *, enum http_fail *fail, char **err);

/* Where the server listens, e.g. "http://127.0.0.1:8080" (borrowed). */
const char	*http_url(const struct http *);

void		 http_set_drainer(struct http *, enum http_drainer);

/*
 * Stop accepting, let the requests in flight finish (writes are always
 * answered), stop the threads and free everything.  Accepts NULL.
 */
void		 http_stop(struct http *);

#endif
