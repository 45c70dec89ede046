/*
 * The remote client of "wtc put --remote": sends records to a "wtc serve"
 * (POST /write-through, NDJSON bodies) over one keep-alive connection, and
 * hands back each record's outcome.  The only module that uses libcurl;
 * built only when wtc is configured with it (HAVE_CURL).
 *
 * Contract of remote_write: the caller gives at most REMOTE_MAX_BATCH
 * records; each is sent as one NDJSON line (CR and LF are rewritten so that
 * the server parses exactly what a local put would, with the same
 * messages).  A batch never holds more records than the server writes with
 * one ingest_write, so a 503 means that nothing of the request was
 * acknowledged, and the request is sent again (after Retry-After) until
 * retry_for_s has passed.  A connection that cannot be made, or that fails
 * before the whole body was sent, is retried with back-off likewise; one
 * that fails after the body was sent is not (the records may have been
 * written: sent again, records without an id would be written twice).
 *
 * Ownership: the token is copied and wiped at remote_free; it never
 * appears in messages.  Messages are allocated, caller frees.
 */
#ifndef WTC_REMOTE_H
#define WTC_REMOTE_H

#include <stddef.h>

#define REMOTE_MAX_BATCH	4096		/* records per request (the server's HTTP_CHUNK) */
#define REMOTE_MAX_BODY		(4u * 1024 * 1024) /* bytes per request, unless one record is larger */
#define REMOTE_DEFAULT_RETRY_FOR 30		/* seconds */
#define REMOTE_CONNECT_TIMEOUT	5		/* seconds */
#define REMOTE_REQUEST_TIMEOUT	60		/* seconds, a whole request */

/* Why remote_new or remote_write failed: decides the exit status. */
enum remote_fail {
	REMOTE_OK = 0,
	REMOTE_FAIL_USAGE,	/* bad URL or option */
	REMOTE_FAIL_UNAVAILABLE, /* unreachable, 503 for too long, other answers */
	REMOTE_FAIL_AUTH,	/* 401: no token, or the wrong one */
	REMOTE_FAIL_INTERNAL
};

/* What remote_write asks of the server. */
enum remote_mode {
	REMOTE_WRITE = 0,	/* POST /write-through */
	REMOTE_WRITE_ALL,	/* ... ?on-error=abort: a request all or nothing */
	REMOTE_CHECK		/* POST /validate: check the records, write none */
};

struct remote_opts {
	const char	*url;		/* http://HOST[:PORT][/PATH], https://..., or unix:/PATH */
	const char	*token;		/* bearer token, or NULL */
	const char	*user_agent;	/* e.g. "wtc/0.1.0" */
	unsigned	 retry_for_s;	/* how long to keep trying; 0: once */
	int		 verbose;	/* retry notes through the log callback */
	void		(*log)(void *arg, const char *msg);
	void		*log_arg;
};

/* One record to send: text borrowed for the call. */
struct remote_item {
	const char	*text;
	size_t		 len;
};

struct remote;

/* Check the URL and set up the client (no connection yet). */
struct remote	*remote_new(const struct remote_opts *, enum remote_fail *,
		    char **err);

/*
 * Send n records (n <= REMOTE_MAX_BATCH).  Returns 0 with errors[i] NULL
 * for each record written and an allocated message for each refused.
 * Returns -1 with *fail and *err when the server could not be made to
 * answer; records [0, *ndone) have outcomes in errors all the same (a
 * body the server finds too large is split, so part may have gone).
 */
int		 remote_write(struct remote *, const struct remote_item *items,
		    size_t n, char **errors, size_t *ndone,
		    enum remote_fail *fail, char **err);

/*
 * Switch what later remote_write calls ask (REMOTE_WRITE at first).  In
 * REMOTE_CHECK, errors[i] NULL means the record is good, and nothing is
 * written: any failed request is safe to send again.
 */
void		 remote_set_mode(struct remote *, enum remote_mode);

/* The URL records go to, for messages (borrowed). */
const char	*remote_url(const struct remote *);

void		 remote_free(struct remote *);

#endif
