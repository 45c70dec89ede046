/*
 * The HTTP server: routing, bodies, answers and metrics on top of
 * libmicrohttpd.  I/O threads only parse and route; everything that talks
 * to Redis, MySQL or the spool runs in a worker thread while the
 * connection is suspended, so a slow fsync never stalls other clients.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cache.h"
#include "db.h"
#include "drain.h"
#include "http.h"
#include "ingest.h"
#include "input.h"
#include "record.h"
#include "spool.h"
#include "util.h"

#define HTTP_JSON		"application/json"
#define HTTP_PROMETHEUS		"text/plain; version=0.0.4; charset=utf-8"
#define HTTP_DISCARD_MAX	(64u * 1024 * 1024)	/* then drop the connection */
#define HTTP_SCHEMAS_MAX	256
#define HTTP_ABSENT_MS		5000	/* how long "no such table" is believed */
#define HTTP_STAT_MS		1000	/* spool_stat cache lifetime */
#define HTTP_LOOP_MS		100	/* an idle I/O thread looks at "stop" this often */
#define HTTP_ACCEPT_RETRY_MS	100	/* after accept ran out of descriptors */
/*
 * Each connection's libmicrohttpd memory: the request head (a longer one
 * is answered 431) and the read buffer, which a body passes through.  The
 * library clears it for every request on a kept-alive connection: at the
 * default of 32 KiB that memset was 4.5% of serve's CPU time under wrk.
 */
#define HTTP_CONN_MEMORY	(16u * 1024)
/* Status names changed across libmicrohttpd versions; the numbers did not. */
#define HTTP_UNPROCESSABLE	422
#define HTTP_TOO_LARGE		413

enum http_route {
	HTTP_ROUTE_NONE = 0,
	HTTP_ROUTE_WRITE,
	HTTP_ROUTE_RECORD,
	HTTP_ROUTE_HEALTH,
	HTTP_ROUTE_METRICS
};

enum http_body {
	HTTP_BODY_JSON = 0,
	HTTP_BODY_NDJSON
};

/* One request, from its first callback to its completion notice. */
struct http_req {
	struct http_req		*next;		/* job queue */
	struct MHD_Connection	*conn;
	struct http_loop	*loop;		/* whose daemon holds conn */
	enum http_route		 route;
	enum http_body		 kind;
	char			*path;
	const char		*method;	/* static string */
	uint64_t		 start_us;
	struct buf		 body;
	size_t			 discarded;
	int			 too_big;
	int			 has_body;	/* Content-Length > 0 or chunked */
	int			 check_only;	/* POST /validate: write nothing */
	int			 all_or_none;	/* ?on-error=abort */
	int			 answered;
	unsigned		 early;		/* an answer decided from the headers */
	char			*early_msg;
	const char		*early_hdr[4];
	struct MHD_Response	*resp;		/* prepared by a worker */
	unsigned		 status;
	size_t			 resp_len;
	char			 addr[INET6_ADDRSTRLEN];
};

struct http_schema {
	char		*table;
	struct schema	*schema;	/* NULL: no such table */
	uint64_t	 loaded_ms;
};

struct http_worker {
	struct http	*h;
	pthread_t	 thread;
	int		 started;
	struct cache	*cache;		/* for reads and health; connected lazily */
	struct db	*db;
	struct buf	 out;
	struct buf	 key;
	struct http_req	**batch;	/* writers: requests taken together */
	unsigned char	*wake;		/* writers: per loop, one resumed */
	struct record	**recs;
	struct http_req	**okreqs;
};

/*
 * A connection, for the deadline on request heads: libmicrohttpd's timeout
 * only closes connections idle that long, so a client sending a header
 * line now and then would hold its connection for ever.
 */
struct http_conn {
	struct http_conn	*prev;
	struct http_conn	*next;
	struct MHD_Connection	*conn;
	uint64_t		 since_ms;	/* its next request's head began */
	int			 in_request;	/* that head was read */
	int			 dispatched;	/* and its body: a worker has it */
};

/*
 * One I/O thread: its own libmicrohttpd daemon, run from our loop, so that
 * the single-object writes read in one pass over the ready connections
 * reach the writers together, with one wakeup, instead of one each.
 */
struct http_loop {
	struct http		*h;
	struct MHD_Daemon	*daemon;
	int			 epfd;		/* MHD's epoll fd, wakefd, listen_fd */
	int			 wakefd;	/* eventfd: connections resumed */
	/*
	 * The listening socket, copied before the thread starts: http_stop
	 * closes h->listen_fd once the loop has quiesced, while the loop
	 * still tells its events apart (a data race on h's).
	 */
	int			 listen_fd;
	int			 woken;		/* atomic: wakefd written, not yet read */
	pthread_t		 thread;
	int			 started;
	int			 quiesced;	/* atomic: 1 once it stopped accepting */
	unsigned		 share;		/* of --max-connections */
	unsigned		 nconn;		/* connections its daemon holds */
	int			 accepting;	/* the listening socket in epfd */
	uint64_t		 retry_ms;	/* accept again then (after EMFILE) */
	struct http_req		*pend_head;	/* writes read in this pass */
	struct http_req		*pend_tail;
	unsigned		 npend;
	struct http_conn	*conns;		/* its daemon's connections */
	uint64_t		 sweep_ms;	/* look for stalled heads then */
};

struct http {
	struct http_opts	 opts;
	const struct config	*cfg;
	struct ingest		*ing;
	const struct schema	*schema;	/* the ingest's */
	char			*prefix;
	char			*token;
	size_t			 token_len;
	struct redis_addr	 raddr;
	struct mysql_addr	 maddr;
	char			*url;
	char			*unix_path;	/* to unlink at stop */
	int			 listen_fd;
	struct http_loop	*loops;
	unsigned		 nloops;
	int			 loop_quit;	/* atomic */

	pthread_mutex_t		 lock;		/* guards the job queue and counters below */
	pthread_cond_t		 cond;		/* for workers: jobs_head filled */
	struct http_req		*jobs_head;
	struct http_req		*jobs_tail;
	pthread_cond_t		 wcond;		/* for writers: wq_head filled */
	struct http_req		*wq_head;	/* single-object writes */
	struct http_req		*wq_tail;
	unsigned		 jobs;		/* queued or running, both queues */
	pthread_cond_t		 idle;		/* jobs came down to 0 */
	int			 quit;
	struct http_worker	*workers;
	unsigned		 nworkers;

	int			 stopping;	/* atomic */
	unsigned		 active;	/* atomic: requests in progress */
	int			 drainer;	/* atomic: enum http_drainer */

	pthread_mutex_t		 schema_lock;
	struct http_schema	*schemas;
	size_t			 nschemas;

	pthread_mutex_t		 stat_lock;
	struct spool_stats	 stat;
	char			*stat_err;
	uint64_t		 stat_ms;	/* when stat was taken; 0: never */
	uint64_t		 stat_accepted;	/* h->accepted just before */
	int			 stat_busy;
	uint64_t		 bulk_inflight;	/* records of bulk bodies being written */

	uint64_t		 codes[600];	/* atomic: answers by status */
	uint64_t		 accepted;	/* atomic */
	uint64_t		 rejected;	/* atomic */
};

#define ATOMIC_ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_SUB(p, v)	__atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define ATOMIC_GET(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ATOMIC_SET(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void
http_log(struct http *h, const char *fmt, ...) WTC_PRINTF(2, 3);

static void
http_log(struct http *h, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (h->opts.log == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	h->opts.log(h->opts.log_arg, msg, strlen(msg));
	free(msg);
}

static void
http_mhd_log(void *arg, const char *fmt, va_list ap)
{
	struct http	*h = arg;
	char		*msg;
	size_t		 len;

	if (h->opts.log == NULL)
		return;
	msg = xvasprintf(fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '.'))
		msg[--len] = '\0';
	if (len > 0) {
		if (msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' &&
		    msg[1] <= 'z')
			msg[0] = (char)(msg[0] + 32);
		h->opts.log(h->opts.log_arg, msg, len);
	}
	free(msg);
}

/* --- listen addresses -------------------------------------------------- */

struct http_addr {
	char	*host;		/* NULL for unix */
	char	*port;
	char	*path;		/* unix socket */
};

static void
http_addr_release(struct http_addr *a)
{
	free(a->host);
	free(a->port);
	free(a->path);
	memset(a, 0, sizeof *a);
}

static int
http_addr_parse(const char *s, struct http_addr *a, char **err)
{
	const char		*colon, *p;
	struct sockaddr_un	 sun;
	unsigned long		 port;
	char			*end;

	memset(a, 0, sizeof *a);
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] == '\0')
			return (err_set(err, "listen address '%s' names no "
			    "socket path", s));
		if (strlen(s + 5) >= sizeof sun.sun_path)
			return (err_set(err, "socket path '%s' is too long",
			    s + 5));
		a->path = xstrdup(s + 5);
		return (0);
	}
	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL || p[1] != ':')
			return (err_set(err, "listen address '%s' is not "
			    "ADDR:PORT, [IPV6]:PORT or unix:/PATH", s));
		a->host = xstrndup(s + 1, (size_t)(p - s - 1));
		colon = p + 1;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		a->host = xstrdup("127.0.0.1");
		colon = s - 1;
	} else {
		if (colon == s) {
			http_addr_release(a);
			return (err_set(err, "listen address '%s' names no "
			    "address (use 0.0.0.0:PORT for every interface)", s));
		}
		a->host = xstrndup(s, (size_t)(colon - s));
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port > 65535) {
		http_addr_release(a);
		return (err_set(err, "listen address '%s' is not ADDR:PORT, "
		    "[IPV6]:PORT or unix:/PATH", s));
	}
	a->port = xasprintf("%lu", port);
	return (0);
}

int
http_listen_check(const char *listen, char **err)
{
	struct http_addr	a;

	if (http_addr_parse(listen, &a, err) != 0)
		return (-1);
	http_addr_release(&a);
	return (0);
}

static int
http_listen_unix(struct http *h, const struct http_addr *a,
    enum http_fail *fail, char **err)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*fail = HTTP_FAIL_LISTEN;
			return (err_set(err, "cannot listen on 'unix:%s': it "
			    "exists and is not a socket", a->path));
		}
		/* A socket nobody answers on is left over from a crash. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof sun) == 0) {
			close(probe);
			*fail = HTTP_FAIL_LISTEN;
			return (err_set(err, "cannot listen on 'unix:%s': %s",
			    a->path, strerror(EADDRINUSE)));
		}
		if (probe != -1)
			close(probe);
		unlink(a->path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    listen(fd, 1024) != 0) {
		*fail = HTTP_FAIL_LISTEN;
		err_set(err, "cannot listen on 'unix:%s': %s", a->path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	h->listen_fd = fd;
	h->unix_path = xstrdup(a->path);
	h->url = xasprintf("unix:%s", a->path);
	return (0);
}

static int
http_listen_tcp(struct http *h, const struct http_addr *a, const char *text,
    enum http_fail *fail, char **err)
{
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;
	char			 host[INET6_ADDRSTRLEN];
	int			 fd = -1, one = 1, r, rc = -1;
	unsigned		 port;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(a->host, a->port, &hints, &res)) != 0) {
		*fail = HTTP_FAIL_USAGE;
		err_set(err, "cannot resolve listen address '%s': %s", text,
		    gai_strerror(r));
		goto out;
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		*fail = HTTP_FAIL_LISTEN;
		err_set(err, "cannot listen on %s: %s", text, strerror(errno));
		goto out;
	}
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		h->url = xasprintf("http://[%s]:%u", host, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
		    sizeof host);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		h->url = xasprintf("http://%s:%u", host, port);
	}
	h->listen_fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	return (rc);
}

/* --- answers ------------------------------------------------------------- */

/* A response with a copied body and up to two extra headers. */
static struct MHD_Response *
http_response(const char *body, size_t len, const char *type, const char *h1,
    const char *v1, const char *h2, const char *v2)
{
	struct MHD_Response	*r;

	r = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		abort();
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (h1 != NULL)
		MHD_add_response_header(r, h1, v1);
	if (h2 != NULL)
		MHD_add_response_header(r, h2, v2);
	return (r);
}

static void
http_error_body(struct buf *out, const char *msg)
{
	buf_reset(out);
	buf_adds(out, "{\"error\": ");
	json_quote(out, msg, strlen(msg));
	buf_addc(out, '}');
}

/* Prepare (in a worker) the answer req gets when it is resumed. */
static void
http_prepare(struct http_req *req, unsigned status, const struct buf *body,
    const char *type, const char *h1, const char *v1, const char *h2,
    const char *v2)
{
	req->status = status;
	req->resp_len = body->len;
	req->resp = http_response(body->data != NULL ? body->data : "",
	    body->len, type, h1, v1, h2, v2);
}

static void
http_prepare_error(struct http_worker *w, struct http_req *req,
    unsigned status, const char *msg)
{
	http_error_body(&w->out, msg);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		http_prepare(req, status, &w->out, HTTP_JSON, "Retry-After", "1",
		    NULL, NULL);
	else
		http_prepare(req, status, &w->out, HTTP_JSON, NULL, NULL, NULL,
		    NULL);
}

/* Answer from an I/O thread; only small bodies. */
static enum MHD_Result
http_answer_now(struct http *h, struct http_req *req, unsigned status,
    const char *msg, const char *h1, const char *v1, const char *h2,
    const char *v2)
{
	struct MHD_Response	*r;
	struct buf		 b = BUF_INIT;
	enum MHD_Result		 ret;

	http_error_body(&b, msg);
	r = http_response(b.data, b.len, HTTP_JSON, h1, v1, h2, v2);
	req->status = status;
	req->resp_len = b.len;
	req->answered = 1;
	ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	buf_release(&b);
	return (ret);
}

/* --- spool and drain state --------------------------------------------- */

/* The spool's backlog, refreshed by one thread once per HTTP_STAT_MS. */
static int
http_spool_stat(struct http *h, struct spool_stats *st, char **err)
{
	struct spool_stats	 fresh;
	char			*e = NULL;
	uint64_t		 now = now_ms(), accepted;
	int			 refresh = 0, rc;

	pthread_mutex_lock(&h->stat_lock);
	if ((h->stat_ms == 0 || now - h->stat_ms >= HTTP_STAT_MS) &&
	    !h->stat_busy) {
		h->stat_busy = 1;
		refresh = 1;
	}
	pthread_mutex_unlock(&h->stat_lock);
	if (refresh) {
		memset(&fresh, 0, sizeof fresh);
		accepted = ATOMIC_GET(&h->accepted);
		rc = spool_stat(ingest_spool_dir(h->ing), &fresh,
		    record_written_us, &e);
		pthread_mutex_lock(&h->stat_lock);
		h->stat = fresh;
		h->stat_accepted = accepted;
		free(h->stat_err);
		h->stat_err = rc == 0 ? NULL : e;
		h->stat_ms = now_ms();
		h->stat_busy = 0;
		pthread_mutex_unlock(&h->stat_lock);
	}
	pthread_mutex_lock(&h->stat_lock);
	*st = h->stat;
	rc = 0;
	if (h->stat_err != NULL) {
		err_set(err, "%s", h->stat_err);
		rc = -1;
	}
	pthread_mutex_unlock(&h->stat_lock);
	return (rc);
}

/*
 * Whether the spool may hold records that MySQL does not have yet: some
 * at the last count, writes accepted since, or no count at all.
 */
static int
http_spool_pending(struct http *h)
{
	struct spool_stats	 st;
	char			*err = NULL;
	int			 pending;

	if (http_spool_stat(h, &st, &err) != 0) {
		free(err);
		return (1);
	}
	pthread_mutex_lock(&h->stat_lock);
	pending = st.records > 0 ||
	    ATOMIC_GET(&h->accepted) != h->stat_accepted;
	pthread_mutex_unlock(&h->stat_lock);
	return (pending);
}

/* Read a whole small file; NULL if it cannot be read. */
static char *
http_read_small(const char *path, size_t max)
{
	struct buf	 b = BUF_INIT;
	char		 chunk[4096];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	while (b.len < max && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	buf_addc(&b, '\0');
	return (buf_detach(&b, NULL));
}

/* The number after "key": in a flat JSON object; 0 if absent. */
static int
http_json_number(const char *text, const char *key, double *out)
{
	const char	*p = text;
	size_t		 klen = strlen(key);
	char		*end;
	double		 v;

	while ((p = strchr(p, '"')) != NULL) {
		p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '"') {
			p += klen + 1;
			p += strspn(p, " \t\r\n");
			if (*p != ':')
				continue;
			p++;
			p += strspn(p, " \t\r\n");
			v = strtod(p, &end);
			if (end == p)
				return (0);
			*out = v;
			return (1);
		}
		/* Skip the rest of this string. */
		while (*p != '\0' && *p != '"') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			p++;
		}
		if (*p == '"')
			p++;
	}
	return (0);
}

struct http_drain_state {
	double	landed, rate, lag, dead, retries;
	int	present;
};

static void
http_drain_state(struct http *h, struct http_drain_state *ds)
{
	char	*path, *text;

	memset(ds, 0, sizeof *ds);
	path = xasprintf("%s/%s", ingest_spool_dir(h->ing), DRAIN_STATE_FILE);
	text = http_read_small(path, 65536);
	free(path);
	if (text == NULL)
		return;
	ds->present = 1;
	http_json_number(text, "landed", &ds->landed);
	http_json_number(text, "rate", &ds->rate);
	if (http_json_number(text, "lag_ms", &ds->lag))
		ds->lag /= 1000.0;
	else
		http_json_number(text, "lag_seconds", &ds->lag);
	http_json_number(text, "dead", &ds->dead);
	http_json_number(text, "retries", &ds->retries);
	free(text);
}

/* --- workers: connections ------------------------------------------------ */

static struct cache *
http_worker_cache(struct http_worker *w, char **err)
{
	if (w->cache == NULL)
		w->cache = cache_connect(&w->h->raddr, 2000, err);
	return (w->cache);
}

static struct db *
http_worker_db(struct http_worker *w, char **err)
{
	if (w->db == NULL)
		w->db = db_connect(&w->h->maddr, 3, err);
	return (w->db);
}

static void
http_worker_drop_cache(struct http_worker *w)
{
	cache_free(w->cache);
	w->cache = NULL;
}

static void
http_worker_drop_db(struct http_worker *w)
{
	db_free(w->db);
	w->db = NULL;
}

/*
 * The schema of table: the ingest's own, or one loaded from MySQL and kept.
 * Returns 1 with *out (borrowed until http_stop), 0 when there is no such
 * table, -1 with *err when MySQL cannot tell, -2 with *err when wtc cannot
 * use the table (db_load_schema).
 */
static int
http_schema(struct http_worker *w, const char *table,
    const struct schema **out, char **err)
{
	struct http	*h = w->h;
	struct schema	*s = NULL;
	struct db	*db;
	size_t		 i;
	uint64_t	 now = now_ms();
	int		 r, attempt;

	if (strcmp(table, h->schema->table) == 0) {
		*out = h->schema;
		return (1);
	}
	pthread_mutex_lock(&h->schema_lock);
	for (i = 0; i < h->nschemas; i++) {
		if (strcmp(h->schemas[i].table, table) != 0)
			continue;
		if (h->schemas[i].schema != NULL ||
		    now - h->schemas[i].loaded_ms < HTTP_ABSENT_MS) {
			*out = h->schemas[i].schema;
			pthread_mutex_unlock(&h->schema_lock);
			return (*out != NULL);
		}
		break;
	}
	pthread_mutex_unlock(&h->schema_lock);

	for (attempt = 0;; attempt++) {
		if ((db = http_worker_db(w, err)) == NULL)
			return (-1);
		if ((r = db_load_schema(db, table, &s, err)) == 0)
			break;
		if (r == -2)
			return (-2);	/* the table is there, and unusable */
		http_worker_drop_db(w);
		if (attempt > 0)
			return (-1);
		free(*err);
		*err = NULL;
	}

	pthread_mutex_lock(&h->schema_lock);
	for (i = 0; i < h->nschemas; i++) {
		if (strcmp(h->schemas[i].table, table) == 0)
			break;
	}
	if (i < h->nschemas) {
		if (h->schemas[i].schema == NULL) {
			h->schemas[i].schema = s;
			h->schemas[i].loaded_ms = now_ms();
		} else
			schema_free(s);	/* another worker was quicker */
		*out = h->schemas[i].schema;
	} else if (s == NULL && h->nschemas >= HTTP_SCHEMAS_MAX)
		*out = NULL;	/* do not let probes for names fill memory */
	else {
		/* Schemas found are kept however many: they are borrowed. */
		h->schemas = xreallocarray(h->schemas, h->nschemas + 1,
		    sizeof *h->schemas);
		h->schemas[h->nschemas].table = xstrdup(table);
		h->schemas[h->nschemas].schema = s;
		h->schemas[h->nschemas].loaded_ms = now_ms();
		h->nschemas++;
		*out = s;
	}
	pthread_mutex_unlock(&h->schema_lock);
	return (*out != NULL);
}

/* --- workers: the routes ------------------------------------------------- */

/* record_parse's messages about the JSON text (400), not the schema (422). */
static int
http_is_syntax(const char *msg)
{
	static const char *const prefixes[] = {
		"invalid JSON", "unexpected end of JSON", "invalid UTF-8",
		"invalid \\u escape", "trailing characters", "duplicate field",
		"record must be a JSON object", NULL
	};
	size_t	i;

	for (i = 0; prefixes[i] != NULL; i++) {
		if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
			return (1);
	}
	return (0);
}

/* Append what names a written record: "id": N, else "key": "...". */
static void
http_add_ident(struct http *h, struct buf *out, const struct record *rec)
{
	const struct rec_field	*f;
	struct buf		 k = BUF_INIT;

	if (rec->id_field >= 0) {
		f = &rec->fields[rec->id_field];
		buf_adds(out, "\"id\": ");
		buf_add(out, f->val, f->len);
		return;
	}
	if (record_key(rec, h->schema, h->prefix, &k, NULL) == 0) {
		buf_adds(out, "\"key\": ");
		json_quote(out, k.data, k.len);
	} else
		buf_adds(out, "\"key\": null");
	buf_release(&k);
}

static void
http_write_failed(struct http_worker *w, struct http_req *req,
    enum ingest_fail fail, const char *err, uint64_t before, int quiet)
{
	struct http	*h = w->h;
	struct buf	 msg = BUF_INIT;
	unsigned	 status = MHD_HTTP_SERVICE_UNAVAILABLE;

	switch (fail) {
	case INGEST_FAIL_REDIS:
		buf_printf(&msg, "redis is unavailable: %s", err);
		break;
	case INGEST_FAIL_SPOOL:
		buf_printf(&msg, "the spool cannot be written (disk full or "
		    "not writable?): %s", err);
		break;
	default:
		/*
		 * Also when Redis failed after the spool took the records:
		 * not 503, as sent again, records without ids would land twice.
		 */
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		buf_printf(&msg, "%s", err);
		break;
	}
	if (before > 0) {
		/* Not 503 either: sent again, those would land twice. */
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		buf_printf(&msg, "; the %llu records before the failed chunk "
		    "were written", (unsigned long long)before);
	}
	else if (fail != INGEST_FAIL_REDIS_LATE)
		buf_adds(&msg, "; nothing was written");
	if (!quiet)
		http_log(h, "write failed: %s", msg.data);
	http_prepare_error(w, req, status, msg.data);
	buf_release(&msg);
}

/*
 * Refuse writes while the spool holds more than --max-backlog records:
 * those its last count found (at most HTTP_STAT_MS old), plus what was
 * accepted since, plus the taken records of the batch at hand (pending)
 * that are not acknowledged yet.  What the drainer landed since is not
 * taken off until the next count, so the bound errs on the safe side.
 */
static int
http_backlog_full(struct http_worker *w, struct http_req *req, size_t pending,
    size_t reserve)
{
	struct http		*h = w->h;
	struct spool_stats	 st;
	char			*err = NULL, *msg;
	uint64_t		 n;

	if (h->opts.max_backlog == 0)
		return (0);
	if (http_spool_stat(h, &st, &err) != 0) {
		/* Not counted: let it through, reserved all the same. */
		free(err);
		pthread_mutex_lock(&h->stat_lock);
		h->bulk_inflight += reserve;
		pthread_mutex_unlock(&h->stat_lock);
		return (0);
	}
	/*
	 * What bulk bodies being written will add counts too, or a burst of
	 * them all got past the check (the body itself does not count: one
	 * larger than the limit would never be taken).
	 */
	pthread_mutex_lock(&h->stat_lock);
	n = st.records + (ATOMIC_GET(&h->accepted) - h->stat_accepted) +
	    h->bulk_inflight + pending;
	if (n <= h->opts.max_backlog)
		h->bulk_inflight += reserve;
	pthread_mutex_unlock(&h->stat_lock);
	if (n <= h->opts.max_backlog)
		return (0);
	msg = xasprintf("the spool holds %llu records waiting for mysql, more "
	    "than --max-backlog %llu; try again later",
	    (unsigned long long)n, (unsigned long long)h->opts.max_backlog);
	http_prepare_error(w, req, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	free(msg);
	return (1);
}

/* The items of a bulk body, good and bad (for --max-backlog). */
static size_t
http_bulk_items(struct http *h, struct http_req *req)
{
	struct input	*in;
	const char	*text;
	size_t		 len, n = 0;
	unsigned long	 line;
	char		*err = NULL;
	int		 r;

	in = input_open_string("body", req->body.data, h->opts.max_body);
	while ((r = input_next(in, &text, &len, &line, &err)) == 1 || r == -1) {
		free(err);
		err = NULL;
		n++;
	}
	free(err);
	input_free(in);
	return (n);
}

/*
 * Single-object writes are coalesced: a writer thread takes every such
 * request queued (up to HTTP_CHUNK) and lands their records with one
 * ingest_write, so one spool sync and one Redis round trip serve them all.
 * Each request is answered 200 only when that call returned 0; if it
 * failed, none of them is acknowledged and all get the same 503.
 */
static void
http_write_batch(struct http_worker *w, struct http_req **reqs, size_t n)
{
	struct http		*h = w->h;
	struct record		*rec;
	enum ingest_fail	 fail;
	char			*err = NULL;
	size_t			 i, nok = 0;
	uint64_t		 rejected = 0;

	for (i = 0; i < n; i++) {
		if (http_backlog_full(w, reqs[i], nok, 0))
			continue;
		if (ingest_parse(h->ing, reqs[i]->body.data,
		    reqs[i]->body.len, &rec, &err) != 0) {
			rejected++;
			http_prepare_error(w, reqs[i], http_is_syntax(err) ?
			    MHD_HTTP_BAD_REQUEST : HTTP_UNPROCESSABLE, err);
			free(err);
			err = NULL;
			continue;
		}
		w->recs[nok] = rec;
		w->okreqs[nok++] = reqs[i];
	}
	if (rejected > 0)
		ATOMIC_ADD(&h->rejected, rejected);
	if (nok > 0 && ingest_write(h->ing, w->recs, nok, &fail, &err) != 0) {
		for (i = 0; i < nok; i++)
			http_write_failed(w, w->okreqs[i], fail, err, 0, i > 0);
	} else if (nok > 0) {
		ATOMIC_ADD(&h->accepted, nok);
		for (i = 0; i < nok; i++) {
			buf_reset(&w->out);
			buf_adds(&w->out, "{\"message\": \"Data write "
			    "successful!\", ");
			http_add_ident(h, &w->out, w->recs[i]);
			buf_addc(&w->out, '}');
			http_prepare(w->okreqs[i], MHD_HTTP_OK, &w->out,
			    HTTP_JSON, NULL, NULL, NULL, NULL);
		}
	}
	for (i = 0; i < nok; i++)
		record_free(w->recs[i]);
	free(err);
}

/*
 * Whether the body is an array or NDJSON to its end (bad records aside):
 * one cut short or with text after its array is refused whole, before any
 * of its chunks is written, so that a 400 means nothing was.  Returns 0, or
 * -1 with *err.
 */
static int
http_bulk_check(struct http *h, struct http_req *req, char **err)
{
	struct input	*in;
	const char	*text;
	size_t		 len;
	unsigned long	 line;
	int		 r;

	/* Fewer than HTTP_CHUNK items (2 bytes each at least): one write. */
	if (req->body.len < 2 * HTTP_CHUNK)
		return (0);
	in = input_open_string("body", req->body.data, h->opts.max_body);
	while ((r = input_next(in, &text, &len, &line, err)) != 0) {
		if (r == -2 || r == -3)
			break;
		free(*err);	/* a bad record: the writing pass reports it */
		*err = NULL;
	}
	input_free(in);
	return (r == 0 ? 0 : -1);
}

/* One bulk item's outcome. */
struct http_item {
	char		*ident;		/* "\"id\": 42" once written */
	char		*error;
	unsigned long	 line;
};

static int
http_bulk_flush(struct http_worker *w, struct record **recs, size_t *idx,
    size_t *n, struct http_item *items, enum ingest_fail *fail, char **err)
{
	struct http	*h = w->h;
	struct buf	 b = BUF_INIT;
	size_t		 i;
	int		 rc = 0;

	if (*n == 0)
		return (0);
	if (ingest_write(h->ing, recs, *n, fail, err) != 0)
		rc = -1;
	for (i = 0; i < *n; i++) {
		if (rc == 0) {
			buf_reset(&b);
			http_add_ident(h, &b, recs[i]);
			items[idx[i]].ident = xstrndup(b.data, b.len);
		}
		record_free(recs[i]);
	}
	*n = 0;
	buf_release(&b);
	return (rc);
}

/*
 * The answer to a body of records: a result per record (its id once
 * written, why it was refused, or nothing when it was only checked), after
 * the counts, named as they are for a write or a check.
 */
static void
http_bulk_answer(struct http_worker *w, struct http_req *req,
    struct input *in, const struct http_item *items, size_t nitems,
    unsigned status, const char *message, const char *good_name,
    uint64_t good, uint64_t rejected)
{
	const char	*text;
	size_t		 len, i;
	unsigned long	 line;
	char		*err = NULL;

	buf_reset(&w->out);
	buf_printf(&w->out, "{\"message\": \"%s\", \"%s\": %llu, "
	    "\"rejected\": %llu, \"results\": [", message, good_name,
	    (unsigned long long)good, (unsigned long long)rejected);
	for (i = 0; i < nitems; i++) {
		buf_adds(&w->out, i == 0 ? "{" : ", {");
		if (items[i].ident != NULL)
			buf_adds(&w->out, items[i].ident);
		else if (items[i].error != NULL) {
			buf_adds(&w->out, "\"error\": ");
			json_quote(&w->out, items[i].error,
			    strlen(items[i].error));
			buf_printf(&w->out, ", \"index\": %zu", i);
			if (req->kind == HTTP_BODY_NDJSON)
				buf_printf(&w->out, ", \"line\": %lu",
				    items[i].line);
		}
		buf_addc(&w->out, '}');
	}
	buf_addc(&w->out, ']');
	if (rejected == HTTP_REJECTS_MAX && in != NULL &&
	    input_next(in, &text, &len, &line, &err) != 0)
		buf_printf(&w->out, ", \"error\": \"%u records were "
		    "rejected: the body was not read past the last of "
		    "them (index %zu)\"", HTTP_REJECTS_MAX, nitems - 1);
	free(err);
	buf_addc(&w->out, '}');
	http_prepare(req, status, &w->out, HTTP_JSON, NULL, NULL, NULL, NULL);
}

static void
http_items_free(struct http_item *items, size_t nitems)
{
	size_t	i;

	for (i = 0; i < nitems; i++) {
		free(items[i].ident);
		free(items[i].error);
	}
	free(items);
}

/* An array or NDJSON body being read, with each item's outcome. */
struct http_bulk {
	struct input		*in;
	struct http_item	*items;
	size_t			 nitems, capitems;
	uint64_t		 rejected;
};

static void
http_bulk_open(struct http *h, struct http_req *req, struct http_bulk *b)
{
	memset(b, 0, sizeof *b);
	b->in = input_open_string("body", req->body.data, h->opts.max_body);
}

static void
http_bulk_close(struct http_bulk *b)
{
	http_items_free(b->items, b->nitems);
	input_free(b->in);
	memset(b, 0, sizeof *b);
}

/*
 * The next item of the body, added to b->items: 1 with its record in *rec,
 * 2 for one refused (why is in the item), 0 at the end or after the
 * HTTP_REJECTS_MAX-th refusal (not a body of records: its answer would
 * dwarf it), -1 with *err when the body is not an array or NDJSON.
 */
static int
http_bulk_next(struct http *h, struct http_bulk *b, struct record **rec,
    char **err)
{
	const char	*text;
	size_t		 len;
	unsigned long	 line;
	int		 r;

	if (b->rejected == HTTP_REJECTS_MAX)
		return (0);
	if ((r = input_next(b->in, &text, &len, &line, err)) == 0)
		return (0);
	if (r == -2 || r == -3)
		return (-1);
	if (b->nitems == b->capitems) {
		b->capitems = b->capitems == 0 ? 16 : b->capitems * 2;
		b->items = xreallocarray(b->items, b->capitems,
		    sizeof *b->items);
	}
	memset(&b->items[b->nitems], 0, sizeof b->items[b->nitems]);
	b->items[b->nitems].line = line;
	if (r == -1 || ingest_parse(h->ing, text, len, rec, err) != 0) {
		b->items[b->nitems++].error = *err;
		*err = NULL;
		b->rejected++;
		return (2);
	}
	b->nitems++;
	return (1);
}

/*
 * Check every record of the body against the schema, writing none: each
 * item gets its refusal, if any.  Returns 0, or -1 after answering a body
 * that is not records at all.
 */
static int
http_bulk_validate(struct http_worker *w, struct http_req *req,
    struct http_bulk *b)
{
	struct record	*rec;
	char		*err = NULL;
	int		 r;

	http_bulk_open(w->h, req, b);
	while ((r = http_bulk_next(w->h, b, &rec, &err)) > 0)
		if (r == 1)
			record_free(rec);
	if (r < 0) {
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST, err);
		free(err);
		http_bulk_close(b);
		return (-1);
	}
	return (0);
}

static void
http_write_bulk(struct http_worker *w, struct http_req *req)
{
	struct http		*h = w->h;
	struct http_bulk	 b;
	struct record		**recs, *rec;
	size_t			*idx, n = 0, i;
	uint64_t		 accepted = 0;
	enum ingest_fail	 fail = INGEST_OK;
	char			*err = NULL, *msg;
	int			 r, failed = 0;

	if (memchr(req->body.data, '\0', req->body.len) != NULL) {
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST,
		    "the body contains a NUL byte");
		return;
	}
	if (http_bulk_check(h, req, &err) != 0) {
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST, err);
		free(err);
		return;
	}
	/* All or nothing: a first pass checks every record. */
	if (req->all_or_none) {
		if (http_bulk_validate(w, req, &b) != 0)
			return;
		if (b.rejected > 0) {
			ATOMIC_ADD(&h->rejected, b.rejected);
			msg = xasprintf("No records were written: %llu %s bad "
			    "(on-error=abort)", (unsigned long long)b.rejected,
			    b.rejected == 1 ? "is" : "are");
			http_bulk_answer(w, req, b.in, b.items, b.nitems,
			    HTTP_UNPROCESSABLE, msg, "accepted", 0, b.rejected);
			free(msg);
		} else if (b.nitems == 0)
			http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST,
			    "the body holds no records");
		r = b.rejected > 0 || b.nitems == 0;
		http_bulk_close(&b);
		if (r)
			return;
	}
	recs = xcalloc(HTTP_CHUNK, sizeof *recs);
	idx = xcalloc(HTTP_CHUNK, sizeof *idx);
	http_bulk_open(h, req, &b);
	while ((r = http_bulk_next(h, &b, &rec, &err)) > 0) {
		if (r == 2)
			continue;
		idx[n] = b.nitems - 1;
		recs[n++] = rec;
		if (n == HTTP_CHUNK) {
			if (http_bulk_flush(w, recs, idx, &n, b.items, &fail,
			    &err) != 0) {
				http_write_failed(w, req, fail, err, accepted, 0);
				failed = 1;
				goto out;
			}
			accepted += HTTP_CHUNK;
		}
	}
	if (r < 0) {		/* the body is not an array or NDJSON */
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST, err);
		failed = 1;
		goto out;
	}
	i = n;
	if (http_bulk_flush(w, recs, idx, &n, b.items, &fail, &err) != 0) {
		http_write_failed(w, req, fail, err, accepted, 0);
		failed = 1;
		goto out;
	}
	accepted += i;
out:
	ATOMIC_ADD(&h->accepted, accepted);
	ATOMIC_ADD(&h->rejected, b.rejected);
	for (i = 0; i < n; i++)
		record_free(recs[i]);
	if (!failed && b.nitems == 0)
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST,
		    "the body holds no records");
	else if (!failed)
		http_bulk_answer(w, req, b.in, b.items, b.nitems, accepted > 0 ?
		    MHD_HTTP_OK : HTTP_UNPROCESSABLE, accepted > 0 ?
		    "Data write successful!" : "No records were written",
		    "accepted", accepted, b.rejected);
	http_bulk_close(&b);
	free(err);
	free(recs);
	free(idx);
}

/*
 * POST /validate: every record checked as a write would check it, none
 * written (put --remote --on-error=abort asks this first).  200 when all
 * are good, 422 with the refusals otherwise.
 */
static void
http_validate(struct http_worker *w, struct http_req *req, int single)
{
	struct http_bulk	 b;
	struct record		*rec;
	char			*err = NULL;

	if (memchr(req->body.data, '\0', req->body.len) != NULL) {
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST,
		    "the body contains a NUL byte");
		return;
	}
	if (single) {
		memset(&b, 0, sizeof b);
		b.items = xcalloc(1, sizeof *b.items);
		b.nitems = 1;
		b.items[0].line = 1;
		if (ingest_parse(w->h->ing, req->body.data, req->body.len,
		    &rec, &err) != 0) {
			b.items[0].error = err;
			b.rejected = 1;
		} else
			record_free(rec);
	} else if (http_bulk_validate(w, req, &b) != 0)
		return;
	if (b.nitems == 0)
		http_prepare_error(w, req, MHD_HTTP_BAD_REQUEST,
		    "the body holds no records");
	else
		http_bulk_answer(w, req, b.in, b.items, b.nitems, b.rejected > 0 ?
		    HTTP_UNPROCESSABLE : MHD_HTTP_OK, b.rejected > 0 ?
		    "Some records are not valid; none was written" :
		    "All records are valid; none was written", "valid",
		    b.nitems - b.rejected, b.rejected);
	http_bulk_close(&b);
}

/*
 * Where a body's JSON begins, past a BOM and blanks, as the input and the
 * record parser skip them: its first byte tells an array from an object.
 */
static const char *
http_body_lead(const char *p)
{
	if (p[0] == '\xef' && p[1] == '\xbb' && p[2] == '\xbf')
		p += 3;
	return (p + strspn(p, " \t\r\n"));
}

static void
http_write(struct http_worker *w, struct http_req *req)
{
	struct http	*h = w->h;
	const char	*p = req->body.data != NULL ? req->body.data : "";
	size_t		 n;

	p = http_body_lead(p);
	if (req->check_only)
		http_validate(w, req, req->kind != HTTP_BODY_NDJSON && *p != '[');
	else if (req->kind != HTTP_BODY_NDJSON && *p != '[')
		http_write_batch(w, &req, 1);	/* checks the backlog itself */
	else {
		n = h->opts.max_backlog > 0 ? http_bulk_items(h, req) : 0;
		if (!http_backlog_full(w, req, 0, n)) {
			http_write_bulk(w, req);
			pthread_mutex_lock(&h->stat_lock);
			h->bulk_inflight -= n;
			pthread_mutex_unlock(&h->stat_lock);
		}
	}
}

/*
 * Decode %XX in place; with keep, leave %2F, %25 and %00 as they are, so
 * that a '/' inside a key's value does not split the path and a NUL does
 * not cut it short (http_read decodes each segment of the path itself).
 */
static size_t
http_unescape(char *s, int keep)
{
	char	*r = s, *w = s;
	int	 hi, lo, v;

	while (*r != '\0') {
		if (r[0] == '%' && (hi = hex_value((unsigned char)r[1])) >= 0 &&
		    (lo = hex_value((unsigned char)r[2])) >= 0) {
			v = hi * 16 + lo;
			if (!keep || (v != '/' && v != '%' && v != 0)) {
				*w++ = (char)v;
				r += 3;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
	return ((size_t)(w - s));
}

/* MHD_OPTION_UNESCAPE_CALLBACK: the path and the query arguments. */
static size_t
http_unescape_cb(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return (http_unescape(s, 1));
}

static int
http_table_name_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > 64)
		return (0);
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '$'))
			return (0);
	}
	return (1);
}

static void
http_read(struct http_worker *w, struct http_req *req)
{
	struct http		*h = w->h;
	const struct schema	*s = NULL;
	struct record		*rec = NULL;
	struct cache		*c;
	struct db		*db;
	const char		*pk[16], *slash;
	char			*table = NULL, *rest = NULL, *p, *err = NULL, *msg;
	size_t			 npk = 0, i;
	unsigned		 ttl;
	int			 r, attempt;

	slash = strchr(req->path + 1, '/');
	table = xstrndup(req->path + 1, (size_t)(slash - req->path - 1));
	rest = xstrdup(slash + 1);
	if ((r = http_schema(w, table, &s, &err)) < 0) {
		msg = xasprintf("cannot read the schema of table '%s': %s",
		    table, err);
		/* No sense in trying again later when wtc cannot use it. */
		http_prepare_error(w, req, r == -2 ? MHD_HTTP_NOT_FOUND :
		    MHD_HTTP_SERVICE_UNAVAILABLE, msg);
		free(msg);
		goto out;
	}
	if (r == 0) {
		msg = xasprintf("no such table '%s'", table);
		http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, msg);
		free(msg);
		goto out;
	}
	for (p = rest; npk < 16; ) {
		pk[npk++] = p;
		if ((p = strchr(p, '/')) == NULL)
			break;
		*p++ = '\0';
	}
	/* Each value's %2F and %25, left encoded by http_unescape_cb. */
	for (i = 0; i < npk; i++) {
		if (strchr(pk[i], '%') == NULL)
			continue;
		if (strstr(pk[i], "%00") != NULL) {
			http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, "not found");
			goto out;
		}
		http_unescape((char *)pk[i], 0);	/* in rest */
	}
	/* A composite key also as wtc get takes it: eu:42, as in Redis. */
	if (npk == 1 && s->npk > 1 && s->npk <= 16) {
		if (record_key_split(rest, strlen(rest), s->npk, pk, NULL, &err) == 0)
			npk = s->npk;
		free(err);
		err = NULL;
	}
	if (s->npk == 0 || npk != s->npk || p != NULL) {
		http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, "not found");
		goto out;
	}
	for (i = 0; i < npk; i++) {
		if (*pk[i] == '\0')
			break;
	}
	if (i < npk || schema_pk_canon(s, pk) >= 0) {
		http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, "not found");
		goto out;
	}
	buf_reset(&w->key);
	buf_adds(&w->key, h->prefix);
	buf_adds(&w->key, s->table);
	buf_addc(&w->key, ':');
	record_key_values(&w->key, s, pk, NULL);

	/* Redis first; if it fails, MySQL still answers. */
	if ((c = http_worker_cache(w, &err)) != NULL &&
	    (r = cache_get(c, s, w->key.data, w->key.len, &rec,
	    &err)) == 1) {
		buf_reset(&w->out);
		record_to_json(rec, &w->out);
		http_prepare(req, MHD_HTTP_OK, &w->out, HTTP_JSON, "X-Cache",
		    "hit", NULL, NULL);
		goto out;
	}
	if (c == NULL || r < 0) {
		http_log(h, "read of '%s' from redis failed: %s", w->key.data,
		    err);
		http_worker_drop_cache(w);
		c = NULL;
		free(err);
		err = NULL;
	}
	/* Counted before MySQL is read: see cache_fill. */
	ttl = http_spool_pending(h) ? CACHE_FILL_TTL : 0;
	for (attempt = 0;; attempt++) {
		if ((db = http_worker_db(w, &err)) != NULL &&
		    (r = db_get(db, s, pk, NULL, &rec, &err)) >= 0)
			break;
		http_worker_drop_db(w);
		if (attempt > 0) {
			msg = xasprintf("not in redis, and mysql cannot be "
			    "read: %s", err);
			http_prepare_error(w, req, MHD_HTTP_SERVICE_UNAVAILABLE,
			    msg);
			free(msg);
			goto out;
		}
		free(err);
		err = NULL;
	}
	if (r == 0) {
		http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, "not found");
		goto out;
	}
	if (c != NULL && cache_fill(c, s, h->prefix, rec, ttl, &err) != 0) {
		http_log(h, "cannot fill '%s' in redis: %s", w->key.data, err);
		http_worker_drop_cache(w);
		free(err);
		err = NULL;
	}
	buf_reset(&w->out);
	record_to_json(rec, &w->out);
	http_prepare(req, MHD_HTTP_OK, &w->out, HTTP_JSON, "X-Cache", "miss",
	    NULL, NULL);
out:
	record_free(rec);
	free(err);
	free(table);
	free(rest);
}

static const char *
http_drainer_text(struct http *h)
{
	char	*path, *text;
	long	 pid;

	switch (ATOMIC_GET(&h->drainer)) {
	case HTTP_DRAINER_RUNNING:
		return ("running");
	case HTTP_DRAINER_RESTARTING:
		return ("restarting");
	default:
		break;
	}
	path = xasprintf("%s/%s", ingest_spool_dir(h->ing), DRAIN_PID_FILE);
	text = http_read_small(path, 64);
	free(path);
	pid = text != NULL ? strtol(text, NULL, 10) : 0;
	free(text);
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return ("external");
	return ("not running");
}

static void
http_health(struct http_worker *w, struct http_req *req)
{
	struct http	*h = w->h;
	struct cache	*c;
	struct db	*db;
	struct statvfs	 sv;
	const char	*dir = ingest_spool_dir(h->ing), *drainer;
	char		*err = NULL, *redis = NULL, *mysql = NULL, *spool = NULL;
	int		 bad = 0, degraded = 0;

	if ((c = http_worker_cache(w, &err)) == NULL || cache_ping(c, &err) != 0) {
		/* A connection left from before a Redis restart gets one more try. */
		http_worker_drop_cache(w);
		free(err);
		err = NULL;
		if ((c = http_worker_cache(w, &err)) == NULL ||
		    cache_ping(c, &err) != 0) {
			redis = xasprintf("down: %s", err);
			http_worker_drop_cache(w);
			bad = 1;
		}
	}
	free(err);
	err = NULL;
	if ((db = http_worker_db(w, &err)) == NULL || db_ping(db, &err) != 0) {
		http_worker_drop_db(w);
		free(err);
		err = NULL;
		if ((db = http_worker_db(w, &err)) == NULL ||
		    db_ping(db, &err) != 0) {
			mysql = xasprintf("down: %s", err);
			http_worker_drop_db(w);
			degraded = 1;
		}
	}
	free(err);
	err = NULL;
	if (access(dir, W_OK) != 0) {
		spool = xasprintf("down: cannot write '%s': %s", dir,
		    strerror(errno));
		bad = 1;
	} else if (statvfs(dir, &sv) == 0 && sv.f_bavail == 0) {
		spool = xasprintf("down: the file system of '%s' is full", dir);
		bad = 1;
	}
	drainer = http_drainer_text(h);

	buf_reset(&w->out);
	buf_printf(&w->out, "{\"status\": \"%s\", \"redis\": ", bad ? "down" :
	    degraded ? "degraded" : "ok");
	json_quote(&w->out, redis != NULL ? redis : "ok",
	    strlen(redis != NULL ? redis : "ok"));
	buf_adds(&w->out, ", \"mysql\": ");
	json_quote(&w->out, mysql != NULL ? mysql : "ok",
	    strlen(mysql != NULL ? mysql : "ok"));
	buf_adds(&w->out, ", \"spool\": ");
	json_quote(&w->out, spool != NULL ? spool : "ok",
	    strlen(spool != NULL ? spool : "ok"));
	buf_printf(&w->out, ", \"drainer\": \"%s\"}", drainer);
	if (bad)
		http_prepare(req, MHD_HTTP_SERVICE_UNAVAILABLE, &w->out,
		    HTTP_JSON, "Retry-After", "1", NULL, NULL);
	else
		http_prepare(req, MHD_HTTP_OK, &w->out, HTTP_JSON, NULL, NULL,
		    NULL, NULL);
	free(redis);
	free(mysql);
	free(spool);
}

static void
http_metric(struct buf *out, const char *name, const char *type,
    const char *help, double v)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help,
	    name, type, name, v);
}

/* The spool's fdatasync times, as a Prometheus histogram. */
static void
http_metric_syncs(struct http *h, struct buf *out)
{
	struct spool_sync_times	 t;
	uint64_t		 n = 0;
	size_t			 i;

	ingest_spool_sync_times(h->ing, &t);
	buf_adds(out, "# HELP wtc_spool_sync_seconds How long the spool's "
	    "fdatasyncs took: each write waits for one.\n"
	    "# TYPE wtc_spool_sync_seconds histogram\n");
	for (i = 0; i < SPOOL_SYNC_BUCKETS; i++) {
		n += t.bucket[i];
		buf_printf(out, "wtc_spool_sync_seconds_bucket{le=\"%g\"} "
		    "%llu\n", (double)spool_sync_bounds_us[i] / 1e6,
		    (unsigned long long)n);
	}
	buf_printf(out, "wtc_spool_sync_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "wtc_spool_sync_seconds_sum %.6f\n"
	    "wtc_spool_sync_seconds_count %llu\n", (unsigned long long)t.count,
	    (double)t.sum_us / 1e6, (unsigned long long)t.count);
}

static void
http_metrics(struct http_worker *w, struct http_req *req)
{
	struct http		*h = w->h;
	struct spool_stats	 st;
	struct http_drain_state	 ds;
	char			*err = NULL;
	uint64_t		 v, now;
	unsigned		 i;
	double			 age = 0;

	buf_reset(&w->out);
	buf_adds(&w->out, "# HELP wtc_http_requests_total HTTP requests "
	    "answered, by status code.\n# TYPE wtc_http_requests_total "
	    "counter\n");
	for (i = 100; i < 600; i++) {
		if ((v = ATOMIC_GET(&h->codes[i])) != 0)
			buf_printf(&w->out, "wtc_http_requests_total{code=\"%u\"} "
			    "%llu\n", i, (unsigned long long)v);
	}
	http_metric(&w->out, "wtc_records_accepted_total", "counter",
	    "Records written to the spool and Redis and acknowledged.",
	    (double)ATOMIC_GET(&h->accepted));
	http_metric(&w->out, "wtc_records_rejected_total", "counter",
	    "Records refused as malformed or not matching the schema.",
	    (double)ATOMIC_GET(&h->rejected));
	http_metric(&w->out, "wtc_spool_syncs_total", "counter",
	    "Spool fdatasyncs: concurrent writes share one (group commit).",
	    (double)ingest_spool_syncs(h->ing));
	http_metric_syncs(h, &w->out);
	memset(&st, 0, sizeof st);
	if (http_spool_stat(h, &st, &err) != 0) {
		http_log(h, "cannot read the spool's backlog: %s", err);
		free(err);
	}
	now = now_us_real();
	if (st.oldest_us != 0 && now > st.oldest_us)
		age = (double)(now - st.oldest_us) / 1e6;
	http_metric(&w->out, "wtc_spool_backlog_records", "gauge",
	    "Records in the spool not yet landed in MySQL.", (double)st.records);
	http_metric(&w->out, "wtc_spool_backlog_bytes", "gauge",
	    "Payload bytes of those records.", (double)st.bytes);
	http_metric(&w->out, "wtc_spool_held_records", "gauge",
	    "Of those, records held while their table cannot take them.",
	    (double)st.held);
	http_metric(&w->out, "wtc_spool_oldest_age_seconds", "gauge",
	    "Age of the oldest record waiting in the spool.", age);
	http_drain_state(h, &ds);
	http_metric(&w->out, "wtc_drain_landed_total", "counter",
	    "Records the drainer landed in MySQL.", ds.landed);
	http_metric(&w->out, "wtc_drain_rate", "gauge",
	    "Records per second the drainer lands lately.", ds.rate);
	http_metric(&w->out, "wtc_drain_lag_seconds", "gauge",
	    "How far behind the writes the drainer is.", ds.lag);
	http_metric(&w->out, "wtc_dead_letters_total", "counter",
	    "Records MySQL refused, kept in the dead-letter file.", ds.dead);
	http_metric(&w->out, "wtc_drain_retries_total", "counter",
	    "Transient MySQL failures the drainer retried.", ds.retries);
	http_prepare(req, MHD_HTTP_OK, &w->out, HTTP_PROMETHEUS, NULL, NULL,
	    NULL, NULL);
}

static void
http_exec(struct http_worker *w, struct http_req *req)
{
	switch (req->route) {
	case HTTP_ROUTE_WRITE:
		http_write(w, req);
		break;
	case HTTP_ROUTE_RECORD:
		http_read(w, req);
		break;
	case HTTP_ROUTE_HEALTH:
		http_health(w, req);
		break;
	case HTTP_ROUTE_METRICS:
		http_metrics(w, req);
		break;
	default:
		http_prepare_error(w, req, MHD_HTTP_NOT_FOUND, "not found");
		break;
	}
}

/*
 * Tell a loop that connections of its daemon were resumed.  MHD's own
 * signal does not end a wait in external epoll mode, so the loop waits
 * on this eventfd too; one write per wait is enough.
 */
static void
http_loop_wake(struct http_loop *lp)
{
	uint64_t	one = 1;

	if (__atomic_exchange_n(&lp->woken, 1, __ATOMIC_ACQ_REL) == 0 &&
	    write(lp->wakefd, &one, sizeof one) == -1) {
		/* Only EAGAIN is possible: the counter is full, so readable. */
	}
}

static void *
http_worker_main(void *arg)
{
	struct http_worker	*w = arg;
	struct http		*h = w->h;
	struct http_req		*req;
	struct MHD_Connection	*conn;
	struct http_loop	*lp;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->jobs_head == NULL && !h->quit)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->jobs_head == NULL)
			break;
		req = h->jobs_head;
		if ((h->jobs_head = req->next) == NULL)
			h->jobs_tail = NULL;
		pthread_mutex_unlock(&h->lock);

		http_exec(w, req);
		/* req belongs to the I/O thread again after this. */
		conn = req->conn;
		lp = req->loop;
		MHD_resume_connection(conn);
		http_loop_wake(lp);

		pthread_mutex_lock(&h->lock);
		h->jobs--;
		if (h->jobs == 0)
			pthread_cond_broadcast(&h->idle);
	}
	pthread_mutex_unlock(&h->lock);
	return (NULL);
}

static void *
http_writer_main(void *arg)
{
	struct http_worker	*w = arg;
	struct http		*h = w->h;
	struct http_req		*req;
	size_t			 n, i;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->wq_head == NULL && !h->quit)
			pthread_cond_wait(&h->wcond, &h->lock);
		if (h->wq_head == NULL)
			break;
		for (n = 0; h->wq_head != NULL && n < HTTP_CHUNK; n++) {
			req = h->wq_head;
			if ((h->wq_head = req->next) == NULL)
				h->wq_tail = NULL;
			w->batch[n] = req;
		}
		pthread_mutex_unlock(&h->lock);

		http_write_batch(w, w->batch, n);
		for (i = 0; i < n; i++) {
			/* The loop may free the request once it is resumed. */
			w->wake[w->batch[i]->loop - h->loops] = 1;
			MHD_resume_connection(w->batch[i]->conn);
		}
		for (i = 0; i < h->nloops; i++) {
			if (w->wake[i]) {
				w->wake[i] = 0;
				http_loop_wake(&h->loops[i]);
			}
		}

		pthread_mutex_lock(&h->lock);
		h->jobs -= (unsigned)n;
		if (h->jobs == 0)
			pthread_cond_broadcast(&h->idle);
	}
	pthread_mutex_unlock(&h->lock);
	return (NULL);
}

/* The connection's entry (deadlines, a peer gone), or NULL. */
static struct http_conn *
http_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return (ci != NULL ? ci->socket_context : NULL);
}

/*
 * Suspend the connection and queue its request: a single-object write on
 * the loop's own list, which http_loop_flush hands to the writers after
 * this pass; anything else to a worker at once.
 */
static enum MHD_Result
http_dispatch(struct http_loop *lp, struct http_req *req)
{
	struct http		*h = lp->h;
	struct http_conn	*hc;
	const char		*p;
	int			 single = 0;

	if (req->route == HTTP_ROUTE_WRITE && req->kind == HTTP_BODY_JSON &&
	    !req->check_only) {
		p = http_body_lead(req->body.data);
		single = *p != '[';
	}
	if ((hc = http_conn_of(req->conn)) != NULL)
		hc->dispatched = 1;
	MHD_suspend_connection(req->conn);
	req->next = NULL;
	if (single) {
		if (lp->pend_tail != NULL)
			lp->pend_tail->next = req;
		else
			lp->pend_head = req;
		lp->pend_tail = req;
		lp->npend++;
		return (MHD_YES);
	}
	pthread_mutex_lock(&h->lock);
	if (h->jobs_tail != NULL)
		h->jobs_tail->next = req;
	else
		h->jobs_head = req;
	h->jobs_tail = req;
	pthread_cond_signal(&h->cond);
	h->jobs++;
	pthread_mutex_unlock(&h->lock);
	return (MHD_YES);
}

/* Hand the writes this pass read to the writers: one lock, one wakeup. */
static void
http_loop_flush(struct http_loop *lp)
{
	struct http	*h = lp->h;

	if (lp->pend_head == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->wq_tail != NULL)
		h->wq_tail->next = lp->pend_head;
	else
		h->wq_head = lp->pend_head;
	h->wq_tail = lp->pend_tail;
	h->jobs += lp->npend;
	pthread_cond_signal(&h->wcond);
	pthread_mutex_unlock(&h->lock);
	lp->pend_head = lp->pend_tail = NULL;
	lp->npend = 0;
}

/* Watch the listening socket, or stop watching it (loop thread). */
static void
http_loop_listen(struct http_loop *lp, int on)
{
	struct epoll_event	 ev;

	if (lp->accepting == on)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = lp->listen_fd;
	if (epoll_ctl(lp->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
	    lp->listen_fd, &ev) == 0)
		lp->accepting = on;
}

/*
 * Accept what the loop has room for and hand it to its daemon.  The loops
 * accept themselves, not MHD: a daemon at its limit would still accept
 * from the shared socket and close the connection at once, where another
 * loop had room; a full loop just leaves the socket to the others, and a
 * client waits in the listen queue while all are full.
 */
static void
http_loop_accept(struct http_loop *lp)
{
	struct http		*h = lp->h;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd;

	while (lp->nconn < lp->share) {
		len = sizeof ss;
		fd = accept4(lp->listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: pause, not spin. */
			http_log(h, "cannot accept a connection: %s",
			    strerror(errno));
			http_loop_listen(lp, 0);
			lp->retry_ms = now_ms() + HTTP_ACCEPT_RETRY_MS;
			return;
		}
		/* On failure MHD closed it, and said why to its logger. */
		if (MHD_add_connection(lp->daemon, fd, (struct sockaddr *)&ss,
		    len) == MHD_YES)
			lp->nconn++;
	}
	http_loop_listen(lp, 0);
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection of the loop's daemon began or ended. */
static void
http_notify_conn(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct http_loop	*lp = cls;
	struct http_conn	*hc;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		hc = xcalloc(1, sizeof *hc);
		hc->conn = conn;
		hc->since_ms = now_ms();
		if ((hc->next = lp->conns) != NULL)
			hc->next->prev = hc;
		lp->conns = hc;
		*ctx = hc;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	if ((hc = *ctx) != NULL) {
		if (hc->prev != NULL)
			hc->prev->next = hc->next;
		else
			lp->conns = hc->next;
		if (hc->next != NULL)
			hc->next->prev = hc->prev;
		free(hc);
		*ctx = NULL;
	}
	if (lp->nconn == 0)
		return;
	lp->nconn--;
	if (!ATOMIC_GET(&lp->h->stopping) && lp->retry_ms == 0)
		http_loop_listen(lp, 1);
}

/*
 * Close the connections whose request head has been coming for longer
 * than --timeout (an idle one too, as libmicrohttpd would), and those whose
 * client went away before its request was whole: shut down, the socket
 * reads as closed, and the daemon drops it in its next pass.
 */
static void
http_loop_sweep(struct http_loop *lp)
{
	const union MHD_ConnectionInfo	*ci;
	struct http_conn		*hc;
	uint64_t			 now = now_ms();
	char				 peek;

	if (now < lp->sweep_ms)
		return;
	lp->sweep_ms = now + 1000;
	for (hc = lp->conns; hc != NULL; hc = hc->next) {
		if (hc->dispatched)
			continue;
		ci = MHD_get_connection_info(hc->conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			continue;
		/*
		 * A client gone before its request was whole: when its FIN
		 * came with the last of its data, libmicrohttpd (edge
		 * triggered) did not see it, and the connection held its
		 * slot until --timeout.  Nothing left to read and the end of
		 * the stream: shut it, so that the loop closes it.
		 */
		if (recv(ci->connect_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			shutdown(ci->connect_fd, SHUT_RDWR);
			hc->dispatched = 1;	/* once */
			continue;
		}
		if (hc->in_request ||
		    now - hc->since_ms <= (uint64_t)lp->h->opts.timeout_s * 1000)
			continue;
		shutdown(ci->connect_fd, SHUT_RDWR);
		hc->in_request = hc->dispatched = 1;	/* once */
	}
}

/*
 * An I/O thread.  When the server stops, the loop itself stops accepting
 * and goes on answering the requests in flight until told to quit.
 */
static void *
http_loop_main(void *arg)
{
	struct http_loop	*lp = arg;
	struct http		*h = lp->h;
	struct epoll_event	 ev[3];
	MHD_UNSIGNED_LONG_LONG	 to;
	uint64_t		 count;
	int			 ms, n, i;

	while (!ATOMIC_GET(&h->loop_quit)) {
		if (ATOMIC_GET(&h->stopping) && ATOMIC_GET(&lp->quiesced) == 0) {
			http_loop_listen(lp, 0);
			lp->retry_ms = 0;
			ATOMIC_SET(&lp->quiesced, 1);
		}
		if (lp->retry_ms != 0 && now_ms() >= lp->retry_ms) {
			lp->retry_ms = 0;
			if (lp->nconn < lp->share)
				http_loop_listen(lp, 1);
		}
		MHD_run(lp->daemon);
		http_loop_flush(lp);
		http_loop_sweep(lp);

		ms = HTTP_LOOP_MS;
		if (MHD_get_timeout(lp->daemon, &to) == MHD_YES && to < (unsigned)ms)
			ms = (int)to;
		if (lp->retry_ms != 0 && ms > HTTP_ACCEPT_RETRY_MS)
			ms = HTTP_ACCEPT_RETRY_MS;
		n = epoll_wait(lp->epfd, ev, 3, ms);
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == lp->listen_fd) {
				if (lp->accepting)
					http_loop_accept(lp);
				continue;
			}
			if (ev[i].data.fd != lp->wakefd)
				continue;
			/*
			 * Read, then cleared: a waker that found the flag set
			 * resumed before it looked, so the MHD_run after this
			 * sees its connection; cleared first, a write landing
			 * between would be read here and leave the flag set
			 * with nothing to read, and every later wake would be
			 * skipped.
			 */
			if (read(lp->wakefd, &count, sizeof count) == -1) {
				/* EAGAIN: nothing more was written. */
			}
			ATOMIC_SET(&lp->woken, 0);
		}
	}
	return (NULL);
}

/* --- I/O threads ------------------------------------------------------- */

static int
http_token_ok(struct http *h, struct MHD_Connection *conn)
{
	const char	*v;
	size_t		 len, i;
	unsigned char	 diff;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return (0);
	v += 7;
	v += strspn(v, " ");
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	/* Constant time in the token: every byte of it is compared. */
	diff = len != h->token_len;
	for (i = 0; i < h->token_len; i++)
		diff |= (unsigned char)h->token[i] ^
		    (unsigned char)(i < len ? v[i] : 0);
	return (diff == 0);
}

/* Classify a POST's Content-Type; -1 when it is not one we take. */
static int
http_content_type(const char *ct, enum http_body *kind)
{
	size_t	len;

	if (ct == NULL)
		return (-1);
	ct += strspn(ct, " \t");
	len = strcspn(ct, "; \t");
	if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
		*kind = HTTP_BODY_JSON;
	else if ((len == 20 && strncasecmp(ct, "application/x-ndjson", 20) == 0) ||
	    (len == 18 && strncasecmp(ct, "application/ndjson", 18) == 0) ||
	    (len == 17 && strncasecmp(ct, "application/jsonl", 17) == 0))
		*kind = HTTP_BODY_NDJSON;
	else
		return (-1);
	return (0);
}

static void
http_client_addr(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr		*sa;

	snprintf(out, size, "-");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    out, (socklen_t)size);
	else if (sa->sa_family == AF_UNIX)
		snprintf(out, size, "unix");
}

static const char *
http_method_name(const char *m)
{
	static const char *const known[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
		"TRACE", "CONNECT", NULL
	};
	size_t	i;

	for (i = 0; known[i] != NULL; i++) {
		if (strcmp(m, known[i]) == 0)
			return (known[i]);
	}
	return ("OTHER");
}

/*
 * Remember an answer decided from the headers alone.  It goes out at once
 * when a body is coming (we will not read it; MHD closes the connection),
 * else once MHD has the whole request, so that keep-alive survives.
 */
static enum MHD_Result
http_early(struct http *h, struct http_req *req, unsigned status,
    const char *msg, const char *h1, const char *v1, const char *h2,
    const char *v2)
{
	req->early = status;
	req->early_msg = xstrdup(msg);
	req->early_hdr[0] = h1;
	req->early_hdr[1] = v1;
	req->early_hdr[2] = h2;
	req->early_hdr[3] = v2;
	if (!req->has_body)
		return (MHD_YES);
	return (http_answer_now(h, req, status, msg, h1, v1, h2, v2));
}

/* MHD_KeyValueIterator: whether the Content-Length headers disagree. */
static enum MHD_Result
http_scan_lengths(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	const char	**first = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0 ||
	    value == NULL)
		return (MHD_YES);
	if (*first == NULL) {
		*first = value;
		return (MHD_YES);
	}
	if (strcmp(*first, value) == 0)
		return (MHD_YES);
	*first = "";		/* they differ */
	return (MHD_NO);
}

/*
 * Where the body ends must be beyond doubt: libmicrohttpd takes the first
 * of several Content-Lengths (behind a proxy that takes another, a request
 * could be smuggled in the body), and reads no Transfer-Encoding other than
 * chunked (it waited for a body it could not delimit, then timed out).
 */
static enum MHD_Result
http_check_framing(struct http *h, struct http_req *req)
{
	const char	*first = NULL, *te;
	char		*msg;
	enum MHD_Result	 ret;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_scan_lengths,
	    (void *)&first);
	if (first != NULL && *first == '\0')
		return (http_answer_now(h, req, MHD_HTTP_BAD_REQUEST,
		    "the Content-Length headers disagree",
		    MHD_HTTP_HEADER_CONNECTION, "close", NULL, NULL));
	te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (te == NULL)
		return (MHD_YES);
	te += strspn(te, " \t");
	if (strncasecmp(te, "chunked", 7) == 0 && te[7 + strspn(te + 7, " \t")] ==
	    '\0') {
		/*
		 * With a Content-Length as well, a proxy before us may have
		 * framed the body by the other one: what is left of it would
		 * be read here as a request of its own (RFC 9112 6.3).
		 */
		if (first == NULL)
			return (MHD_YES);
		return (http_answer_now(h, req, MHD_HTTP_BAD_REQUEST,
		    "a request must not have both Transfer-Encoding and "
		    "Content-Length", MHD_HTTP_HEADER_CONNECTION, "close",
		    NULL, NULL));
	}
	msg = xasprintf("Transfer-Encoding '%.64s' is not supported (only "
	    "chunked)", te);
	ret = http_answer_now(h, req, MHD_HTTP_NOT_IMPLEMENTED, msg,
	    MHD_HTTP_HEADER_CONNECTION, "close", NULL, NULL);
	free(msg);
	return (ret);
}

/* Route, authenticate and check headers. */
/* The request's on-error arguments: how many, and what the last said. */
struct http_on_error {
	unsigned	count;
	int		skip;
	int		abort;
};

static enum MHD_Result
http_scan_on_error(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_on_error	*oe = cls;

	(void)kind;
	if (strcmp(key, "on-error") != 0)
		return (MHD_YES);
	oe->count++;
	oe->skip = value != NULL && strcmp(value, "skip") == 0;
	oe->abort = value != NULL && strcmp(value, "abort") == 0;
	return (MHD_YES);
}

static enum MHD_Result
http_begin(struct http *h, struct http_req *req, const char *url,
    const char *method)
{
	const char		*cl, *slash;
	struct http_on_error	 oe;
	unsigned long long	 len = 0;
	char			*end, *msg;
	int			 is_get, is_post, cl_ok = 0;
	enum MHD_Result		 ret;

	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		errno = 0;
		len = strtoull(cl, &end, 10);
		cl_ok = errno == 0 && *end == '\0';
	}
	req->has_body = (cl_ok && len > 0) ||
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	if ((ret = http_check_framing(h, req)) != MHD_YES || req->answered)
		return (ret);

	is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	is_post = strcmp(method, "POST") == 0;
	if (strcmp(url, "/write-through") == 0)
		req->route = HTTP_ROUTE_WRITE;
	else if (strcmp(url, "/validate") == 0) {
		req->route = HTTP_ROUTE_WRITE;
		req->check_only = 1;
	}
	else if (strcmp(url, "/healthz") == 0)
		req->route = HTTP_ROUTE_HEALTH;
	else if (strcmp(url, "/metrics") == 0)
		req->route = HTTP_ROUTE_METRICS;
	else if (url[0] == '/' && (slash = strchr(url + 1, '/')) != NULL &&
	    http_table_name_ok(url + 1, (size_t)(slash - url - 1)))
		req->route = HTTP_ROUTE_RECORD;

	if (ATOMIC_GET(&h->stopping))
		return (http_early(h, req, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the server is shutting down", "Retry-After", "1",
		    MHD_HTTP_HEADER_CONNECTION, "close"));
	/* Health probes need no token; everything else does when one is set. */
	if (h->token != NULL && req->route != HTTP_ROUTE_HEALTH &&
	    !http_token_ok(h, req->conn))
		return (http_early(h, req, MHD_HTTP_UNAUTHORIZED,
		    "missing or wrong bearer token",
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"wtc\"",
		    NULL, NULL));
	if (req->route == HTTP_ROUTE_NONE)
		return (http_early(h, req, MHD_HTTP_NOT_FOUND, "not found",
		    NULL, NULL, NULL, NULL));
	if (req->route == HTTP_ROUTE_WRITE && !is_post)
		return (http_early(h, req, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "use POST", MHD_HTTP_HEADER_ALLOW, "POST", NULL, NULL));
	if (req->route != HTTP_ROUTE_WRITE && !is_get)
		return (http_early(h, req, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "use GET", MHD_HTTP_HEADER_ALLOW, "GET, HEAD", NULL, NULL));
	if (req->route != HTTP_ROUTE_WRITE)
		return (MHD_YES);

	memset(&oe, 0, sizeof oe);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
	    http_scan_on_error, &oe);
	if (oe.count > 1)
		return (http_early(h, req, MHD_HTTP_BAD_REQUEST,
		    "on-error is given more than once", NULL, NULL, NULL, NULL));
	if (oe.count == 1 && !oe.skip && !oe.abort)
		return (http_early(h, req, MHD_HTTP_BAD_REQUEST,
		    "on-error must be skip or abort", NULL, NULL, NULL, NULL));
	req->all_or_none = oe.abort;
	if (http_content_type(MHD_lookup_connection_value(req->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), &req->kind) != 0)
		return (http_early(h, req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "Content-Type must be application/json or "
		    "application/x-ndjson", NULL, NULL, NULL, NULL));
	if (cl_ok && len > h->opts.max_body) {
		msg = xasprintf("the body is larger than %zu bytes (--max-body)",
		    h->opts.max_body);
		ret = http_early(h, req, HTTP_TOO_LARGE, msg,
		    MHD_HTTP_HEADER_CONNECTION, "close", NULL, NULL);
		free(msg);
		return (ret);
	}
	/* One allocation for the usual body; a claim alone gets at most 1 MiB. */
	if (cl_ok && len > 0)
		buf_grow(&req->body, len < (1u << 20) ? (size_t)len : 1u << 20);
	return (MHD_YES);
}

/*
 * The path of a request target in absolute form ("http://host/healthz"),
 * which a server must take as well as the path alone (RFC 9112 3.2.2).
 */
static const char *
http_origin_form(const char *url)
{
	const char	*p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return (url);
	p += strcspn(p, "/");
	return (*p != '\0' ? p : "/");
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_loop	*lp = cls;
	struct http		*h = lp->h;
	struct http_req		*req = *con_cls;
	struct http_conn	*hc;
	enum MHD_Result		 ret;
	char			*msg;

	if (req == NULL) {
		if ((hc = http_conn_of(conn)) != NULL) {
			hc->in_request = 1;
			hc->dispatched = 0;
		}
		url = http_origin_form(url);
		req = xcalloc(1, sizeof *req);
		req->conn = conn;
		req->loop = lp;
		req->start_us = now_us_real();
		req->method = http_method_name(method);
		req->path = xstrdup(url);
		http_client_addr(conn, req->addr, sizeof req->addr);
		*con_cls = req;
		ATOMIC_ADD(&h->active, 1);
		return (http_begin(h, req, url, method));
	}
	if (req->answered) {
		*upload_data_size = 0;	/* an early answer: ignore the body */
		return (MHD_YES);
	}
	if (req->resp != NULL) {
		/* Resumed: a worker prepared the answer. */
		ret = MHD_queue_response(conn, req->status, req->resp);
		MHD_destroy_response(req->resp);
		req->resp = NULL;
		req->answered = 1;
		return (ret);
	}
	if (*upload_data_size > 0) {
		if (!req->too_big && req->early == 0 &&
		    req->route == HTTP_ROUTE_WRITE &&
		    req->body.len + *upload_data_size > h->opts.max_body) {
			req->too_big = 1;
			buf_release(&req->body);
		}
		if (req->too_big || req->early != 0 ||
		    req->route != HTTP_ROUTE_WRITE) {
			req->discarded += *upload_data_size;
			*upload_data_size = 0;
			/* Swallow a little to send a 413, not forever. */
			return (req->discarded > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES);
		}
		buf_add(&req->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return (MHD_YES);
	}
	if (req->early != 0)
		return (http_answer_now(h, req, req->early, req->early_msg,
		    req->early_hdr[0], req->early_hdr[1], req->early_hdr[2],
		    req->early_hdr[3]));
	if (req->too_big) {
		msg = xasprintf("the body is larger than %zu bytes (--max-body)",
		    h->opts.max_body);
		ret = http_answer_now(h, req, HTTP_TOO_LARGE, msg,
		    MHD_HTTP_HEADER_CONNECTION, "close", NULL, NULL);
		free(msg);
		return (ret);
	}
	/* NUL-terminated, even when empty (buf_grow alone leaves no NUL). */
	if (req->body.data == NULL)
		buf_grow(&req->body, 0);
	req->body.data[req->body.len] = '\0';
	return (http_dispatch(lp, req));
}

/* Escape what must not reach a log line raw: quotes, controls, non-ASCII. */
static void
http_log_escape(struct buf *b, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			buf_printf(b, "\\x%02x", *p);
		else
			buf_addc(b, (char)*p);
	}
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http	*h = cls;
	struct http_req	*req = *con_cls;
	struct http_conn	*hc;
	struct buf	 line = BUF_INIT;
	struct tm	 tm;
	time_t		 t;
	char		 when[32];
	uint64_t	 us;

	if (req == NULL)
		return;
	*con_cls = NULL;
	if ((hc = http_conn_of(conn)) != NULL) {
		/* The next request's head begins. */
		hc->in_request = hc->dispatched = 0;
		hc->since_ms = now_ms();
	}
	if (req->resp != NULL)
		MHD_destroy_response(req->resp);
	if (req->answered && req->status < 600)
		ATOMIC_ADD(&h->codes[req->status], 1);
	if (h->opts.access_log != NULL) {
		t = (time_t)(req->start_us / 1000000);
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		us = now_us_real() - req->start_us;
		buf_printf(&line, "%s - [%s] \"%s ", req->addr, when, req->method);
		http_log_escape(&line, req->path);
		if (req->answered && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
			buf_printf(&line, "\" %u %zu %.2fms", req->status,
			    req->resp_len, (double)us / 1000.0);
		else
			buf_printf(&line, "\" %u - %.2fms (connection closed "
			    "early)", req->answered ? req->status : 0,
			    (double)us / 1000.0);
		h->opts.access_log(h->opts.access_arg, line.data, line.len);
		buf_release(&line);
	}
	buf_release(&req->body);
	free(req->early_msg);
	free(req->path);
	free(req);
	ATOMIC_SUB(&h->active, 1);
}

/* --- life cycle ---------------------------------------------------------- */

/* The loop's own epoll set: MHD's epoll fd and the wake eventfd. */
static int
http_loop_setup(struct http_loop *lp, char **err)
{
	const union MHD_DaemonInfo	*di;
	struct epoll_event		 ev;

	di = MHD_get_daemon_info(lp->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL)
		return (err_set(err, "cannot get the http server's epoll fd"));
	lp->listen_fd = lp->h->listen_fd;
	if ((lp->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (lp->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return (err_set(err, "cannot set up an i/o thread: %s",
		    strerror(errno)));
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = di->epoll_fd;
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev) == -1)
		return (err_set(err, "cannot set up an i/o thread: %s",
		    strerror(errno)));
	ev.data.fd = lp->wakefd;
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->wakefd, &ev) == -1)
		return (err_set(err, "cannot set up an i/o thread: %s",
		    strerror(errno)));
	http_loop_listen(lp, 1);
	if (!lp->accepting)
		return (err_set(err, "cannot set up an i/o thread: %s",
		    strerror(errno)));
	return (0);
}

struct http *
http_start(const struct http_opts *opts, const struct config *cfg,
    struct ingest *ing, enum http_fail *fail, char **err)
{
	struct http		*h;
	struct http_loop	*lp;
	struct http_addr	 a;
	unsigned		 i, conns;
	long			 ncpu;
	int			 e;

	*fail = HTTP_OK;
	h = xcalloc(1, sizeof *h);
	h->opts = *opts;
	h->cfg = cfg;
	h->ing = ing;
	h->schema = ingest_schema(ing);
	h->prefix = xstrdup(cfg->prefix != NULL ? cfg->prefix : "");
	h->listen_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	pthread_cond_init(&h->idle, NULL);
	pthread_cond_init(&h->wcond, NULL);
	pthread_mutex_init(&h->schema_lock, NULL);
	pthread_mutex_init(&h->stat_lock, NULL);
	if (opts->token != NULL) {
		h->token = xstrdup(opts->token);
		h->token_len = strlen(h->token);
	}
	h->opts.token = NULL;
	if (h->opts.listen == NULL)
		h->opts.listen = HTTP_DEFAULT_LISTEN;
	if (h->opts.threads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		h->opts.threads = ncpu < 2 ? 2 : (unsigned)ncpu;
	}
	if (h->opts.workers == 0)
		h->opts.workers = HTTP_DEFAULT_WORKERS;
	if (h->opts.max_body == 0)
		h->opts.max_body = HTTP_DEFAULT_MAX_BODY;
	if (h->opts.max_connections == 0)
		h->opts.max_connections = HTTP_DEFAULT_MAX_CONN;
	if (h->opts.timeout_s == 0)
		h->opts.timeout_s = HTTP_DEFAULT_TIMEOUT;

	if (config_redis_addr(cfg, &h->raddr, err) != 0 ||
	    config_mysql_addr(cfg, &h->maddr, err) != 0) {
		*fail = HTTP_FAIL_USAGE;
		goto fail;
	}
	if (http_addr_parse(h->opts.listen, &a, err) != 0) {
		*fail = HTTP_FAIL_USAGE;
		goto fail;
	}
	e = a.path != NULL ? http_listen_unix(h, &a, fail, err) :
	    http_listen_tcp(h, &a, h->opts.listen, fail, err);
	http_addr_release(&a);
	if (e != 0)
		goto fail;

	h->nloops = h->opts.threads;
	if (h->nloops > h->opts.max_connections)	/* each takes at least one */
		h->nloops = h->opts.max_connections;
	h->nworkers = h->opts.workers + HTTP_WRITERS;
	h->workers = xcalloc(h->nworkers, sizeof *h->workers);
	for (i = 0; i < h->nworkers; i++) {
		h->workers[i].h = h;
		if (i < HTTP_WRITERS) {
			h->workers[i].batch = xcalloc(HTTP_CHUNK,
			    sizeof *h->workers[i].batch);
			h->workers[i].recs = xcalloc(HTTP_CHUNK,
			    sizeof *h->workers[i].recs);
			h->workers[i].okreqs = xcalloc(HTTP_CHUNK,
			    sizeof *h->workers[i].okreqs);
			h->workers[i].wake = xcalloc(h->nloops, 1);
		} else {
			h->workers[i].recs = xcalloc(1,
			    sizeof *h->workers[i].recs);
			h->workers[i].okreqs = xcalloc(1,
			    sizeof *h->workers[i].okreqs);
		}
		if ((e = pthread_create(&h->workers[i].thread, NULL,
		    i < HTTP_WRITERS ? http_writer_main : http_worker_main,
		    &h->workers[i])) != 0) {
			*fail = HTTP_FAIL_INTERNAL;
			err_set(err, "cannot start worker thread: %s",
			    strerror(e));
			goto fail;
		}
		h->workers[i].started = 1;
	}

	/*
	 * Each I/O thread runs a daemon of its own, without a listening
	 * socket: the thread accepts from the shared one while it holds less
	 * than its share of the connection limit (http_loop_accept).
	 */
	h->loops = xcalloc(h->nloops, sizeof *h->loops);
	for (i = 0; i < h->nloops; i++)
		h->loops[i].epfd = h->loops[i].wakefd = -1;
	for (i = 0; i < h->nloops; i++) {
		lp = &h->loops[i];
		lp->h = h;
		conns = h->opts.max_connections / h->nloops +
		    (i < h->opts.max_connections % h->nloops);
		lp->share = conns;
		lp->daemon = MHD_start_daemon(MHD_USE_EPOLL |
		    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG |
		    MHD_USE_NO_LISTEN_SOCKET,
		    0, NULL, NULL, http_handler, lp,
		    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
		    MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, lp,
		    MHD_OPTION_CONNECTION_LIMIT, conns,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)h->opts.timeout_s,
		    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
		    MHD_OPTION_UNESCAPE_CALLBACK, http_unescape_cb, NULL,
		    MHD_OPTION_END);
		if (lp->daemon == NULL) {
			*fail = HTTP_FAIL_INTERNAL;
			err_set(err, "cannot start the http server on %s",
			    h->url);
			goto fail;
		}
		if (http_loop_setup(lp, err) != 0) {
			*fail = HTTP_FAIL_INTERNAL;
			goto fail;
		}
	}
	for (i = 0; i < h->nloops; i++) {
		lp = &h->loops[i];
		if ((e = pthread_create(&lp->thread, NULL, http_loop_main,
		    lp)) != 0) {
			*fail = HTTP_FAIL_INTERNAL;
			err_set(err, "cannot start i/o thread: %s", strerror(e));
			goto fail;
		}
		lp->started = 1;
	}
	return (h);
fail:
	http_stop(h);
	return (NULL);
}

const char *
http_url(const struct http *h)
{
	return (h->url);
}

void
http_set_drainer(struct http *h, enum http_drainer state)
{
	ATOMIC_SET(&h->drainer, (int)state);
}

void
http_stop(struct http *h)
{
	uint64_t	deadline;
	unsigned	i, running = 0;
	size_t		j;

	if (h == NULL)
		return;
	for (i = 0; i < h->nloops; i++) {
		if (h->loops[i].daemon != NULL && h->loops[i].started)
			running++;
	}
	ATOMIC_SET(&h->stopping, 1);
	if (running > 0) {
		/* The loops stop accepting themselves. */
		for (i = 0; i < h->nloops; i++) {
			if (!h->loops[i].started)
				continue;
			while (ATOMIC_GET(&h->loops[i].quiesced) == 0)
				usleep(1000);
		}
		/*
		 * No loop watches the socket now: close it, so that new
		 * clients are refused at once instead of waiting in its queue
		 * to be reset when we exit.
		 */
		close(h->listen_fd);
		h->listen_fd = -1;
		if (h->unix_path != NULL) {
			unlink(h->unix_path);
			free(h->unix_path);
			h->unix_path = NULL;
		}
		/*
		 * Requests in flight get their answers: a write a worker
		 * holds always finishes (suspended connections must be
		 * resumed before MHD stops); a slow client gets until its
		 * timeout.
		 */
		deadline = now_ms() + (uint64_t)h->opts.timeout_s * 1000;
		for (;;) {
			pthread_mutex_lock(&h->lock);
			while (h->jobs > 0)
				pthread_cond_wait(&h->idle, &h->lock);
			pthread_mutex_unlock(&h->lock);
			if (ATOMIC_GET(&h->active) == 0 || now_ms() > deadline)
				break;
			usleep(10000);
		}
		pthread_mutex_lock(&h->lock);
		while (h->jobs > 0)
			pthread_cond_wait(&h->idle, &h->lock);
		pthread_mutex_unlock(&h->lock);
	}
	ATOMIC_SET(&h->loop_quit, 1);
	for (i = 0; i < h->nloops; i++) {
		if (h->loops[i].started)
			pthread_join(h->loops[i].thread, NULL);
	}
	/*
	 * Writes read in the loops' last passes still go to the writers:
	 * MHD must not be stopped with a connection suspended.
	 */
	for (i = 0; i < h->nloops; i++)
		http_loop_flush(&h->loops[i]);
	pthread_mutex_lock(&h->lock);
	while (h->jobs > 0)
		pthread_cond_wait(&h->idle, &h->lock);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nloops; i++) {
		if (h->loops[i].daemon != NULL)
			MHD_stop_daemon(h->loops[i].daemon);
		if (h->loops[i].epfd != -1)
			close(h->loops[i].epfd);
		if (h->loops[i].wakefd != -1)
			close(h->loops[i].wakefd);
	}
	free(h->loops);
	pthread_mutex_lock(&h->lock);
	h->quit = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_cond_broadcast(&h->wcond);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nworkers && h->workers != NULL; i++) {
		if (h->workers[i].started)
			pthread_join(h->workers[i].thread, NULL);
		cache_free(h->workers[i].cache);
		db_free(h->workers[i].db);
		buf_release(&h->workers[i].out);
		buf_release(&h->workers[i].key);
		free(h->workers[i].batch);
		free(h->workers[i].wake);
		free(h->workers[i].recs);
		free(h->workers[i].okreqs);
	}
	free(h->workers);
	if (h->listen_fd != -1)
		close(h->listen_fd);
	if (h->unix_path != NULL)
		unlink(h->unix_path);
	for (j = 0; j < h->nschemas; j++) {
		free(h->schemas[j].table);
		schema_free(h->schemas[j].schema);
	}
	free(h->schemas);
	free(h->stat_err);
	config_redis_addr_release(&h->raddr);
	config_mysql_addr_release(&h->maddr);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	pthread_cond_destroy(&h->idle);
	pthread_cond_destroy(&h->wcond);
	pthread_mutex_destroy(&h->schema_lock);
	pthread_mutex_destroy(&h->stat_lock);
	free(h->token);
	free(h->prefix);
	free(h->unix_path);
	free(h->url);
	free(h);
}
