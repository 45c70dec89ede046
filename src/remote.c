/*
 * The remote client: POST /write-through to a "wtc serve", NDJSON bodies,
 * one libcurl easy handle (so one keep-alive connection) for the whole
 * run.  Builds bodies the server parses exactly as a local put would parse
 * the records, retries what is safe to retry, and reads the per-record
 * results back.  The only module that uses libcurl.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"
#include "record.h"
#include "remote.h"
#include "util.h"

#define REMOTE_MAX_ANSWER	(64u * 1024 * 1024)
#define REMOTE_BACKOFF_MIN_MS	100
#define REMOTE_BACKOFF_MAX_MS	2000
#define REMOTE_JSON_DEPTH	64

/* A 503 must mean "nothing of this request was written": see remote.h. */
_Static_assert(REMOTE_MAX_BATCH <= HTTP_CHUNK,
    "a remote batch must fit in one of the server's ingest_write chunks");
_Static_assert(REMOTE_MAX_BATCH < HTTP_REJECTS_MAX,
    "the server must read every record of a remote batch");

struct remote {
	CURL			*curl;
	struct curl_slist	*headers;
	char			*auth;		/* "Authorization: Bearer ..." */
	char			*url;		/* for messages, without credentials */
	char			*post_url;	/* .../write-through */
	char			*abort_url;	/* ...?on-error=abort */
	char			*check_url;	/* .../validate */
	enum remote_mode	 mode;
	char			*unix_path;
	unsigned		 retry_for_s;
	int			 verbose;
	void			(*log)(void *, const char *);
	void			*log_arg;
	char			 errbuf[CURL_ERROR_SIZE];

	struct buf		 body;
	size_t			*perm;		/* body line -> item index */
	struct buf		 answer;
	int			 answer_too_big;
	long			 retry_after;	/* seconds; -1: none */
	size_t			 upload_off;	/* of body, handed to libcurl */
	int			 resend_refused; /* libcurl wanted to send it again */
};

static int	curl_inited;

static void
remote_note(struct remote *r, const char *fmt, ...) WTC_PRINTF(2, 3);

static void
remote_note(struct remote *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (!r->verbose || r->log == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->log(r->log_arg, msg);
	free(msg);
}

/* --- answers: a small JSON reader (cJSON belongs to the record module) --- */

struct jp {
	const char	*p;
	const char	*end;
};

static void
jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* A string at j->p, decoded into out (if not NULL). */
static int
jp_string(struct jp *j, struct buf *out)
{
	unsigned	cp, lo;
	char		c;

	if (j->p >= j->end || *j->p != '"')
		return (-1);
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		c = *j->p++;
		if (c != '\\') {
			if (out != NULL)
				buf_addc(out, c);
			continue;
		}
		if (j->p >= j->end)
			return (-1);
		c = *j->p++;
		switch (c) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case '"': case '\\': case '/': break;
		case 'u':
			if (j->end - j->p < 4 || hex4_get(j->p, &cp) != 0)
				return (-1);
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 &&
			    j->p[0] == '\\' && j->p[1] == 'u' &&
			    hex4_get(j->p + 2, &lo) == 0 && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
			if (out != NULL)
				buf_add_utf8(out, cp);
			continue;
		default:
			return (-1);
		}
		if (out != NULL)
			buf_addc(out, c);
	}
	if (j->p >= j->end)
		return (-1);
	j->p++;
	return (0);
}

/* Skip any value. */
static int
jp_skip(struct jp *j, int depth)
{
	char	close;

	jp_ws(j);
	if (j->p >= j->end || depth > REMOTE_JSON_DEPTH)
		return (-1);
	if (*j->p == '"')
		return (jp_string(j, NULL));
	if (*j->p == '{' || *j->p == '[') {
		close = *j->p == '{' ? '}' : ']';
		j->p++;
		jp_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return (0);
		}
		for (;;) {
			if (close == '}') {
				jp_ws(j);
				if (jp_string(j, NULL) != 0)
					return (-1);
				jp_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return (-1);
			}
			if (jp_skip(j, depth + 1) != 0)
				return (-1);
			jp_ws(j);
			if (j->p >= j->end)
				return (-1);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return (-1);
			return (0);
		}
	}
	/* Numbers, true, false, null. */
	if (strchr("-0123456789tfn", *j->p) == NULL)
		return (-1);
	while (j->p < j->end && strchr(",}] \t\r\n", *j->p) == NULL)
		j->p++;
	return (0);
}

/*
 * Walk an object's members: for each, member(j, key, arg) reads the value
 * (or returns 1 to have it skipped).
 */
static int
jp_object(struct jp *j, int (*member)(struct jp *, const char *, void *),
    void *arg)
{
	struct buf	key = BUF_INIT;
	int		r, rc = -1;

	jp_ws(j);
	if (j->p >= j->end || *j->p++ != '{')
		return (-1);
	jp_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return (0);
	}
	for (;;) {
		jp_ws(j);
		buf_reset(&key);
		if (jp_string(j, &key) != 0)
			goto out;
		buf_addc(&key, '\0');
		jp_ws(j);
		if (j->p >= j->end || *j->p++ != ':')
			goto out;
		jp_ws(j);
		if ((r = member(j, key.data, arg)) < 0)
			goto out;
		if (r == 1 && jp_skip(j, 1) != 0)
			goto out;
		jp_ws(j);
		if (j->p >= j->end)
			goto out;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != '}')
			goto out;
		break;
	}
	rc = 0;
out:
	buf_release(&key);
	return (rc);
}

static int
jp_error_member(struct jp *j, const char *key, void *arg)
{
	struct buf	*msg = arg;

	if (strcmp(key, "error") != 0 || *j->p != '"')
		return (1);
	buf_reset(msg);
	if (jp_string(j, msg) != 0)
		return (-1);
	buf_addc(msg, '\0');
	return (0);
}

/* The "error" of an answer's top object, allocated; NULL if none. */
static char *
remote_answer_error(const char *text, size_t len)
{
	struct jp	j = { text, text + len };
	struct buf	msg = BUF_INIT;

	if (jp_object(&j, jp_error_member, &msg) != 0 || msg.len == 0) {
		buf_release(&msg);
		return (NULL);
	}
	return (buf_detach(&msg, NULL));
}

struct remote_results {
	char		**errors;	/* by body line */
	size_t		  n;
	size_t		  count;
	int		  seen;
};

static int
jp_result_member(struct jp *j, const char *key, void *arg)
{
	struct remote_results	*rr = arg;
	struct buf		 msg = BUF_INIT;

	if (strcmp(key, "error") != 0)
		return (1);
	if (jp_string(j, &msg) != 0) {
		buf_release(&msg);
		return (-1);
	}
	buf_addc(&msg, '\0');
	free(rr->errors[rr->count]);
	rr->errors[rr->count] = buf_detach(&msg, NULL);
	return (0);
}

static int
jp_top_member(struct jp *j, const char *key, void *arg)
{
	struct remote_results	*rr = arg;

	if (strcmp(key, "results") != 0)
		return (1);
	rr->seen = 1;
	if (j->p >= j->end || *j->p++ != '[')
		return (-1);
	jp_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return (0);
	}
	for (;;) {
		if (rr->count >= rr->n)
			return (-1);
		if (jp_object(j, jp_result_member, rr) != 0)
			return (-1);
		rr->count++;
		jp_ws(j);
		if (j->p >= j->end)
			return (-1);
		if (*j->p == ',') {
			j->p++;
			jp_ws(j);
			continue;
		}
		if (*j->p++ != ']')
			return (-1);
		return (0);
	}
}

/* A bulk answer's results, one per body line, into errors (NULL: written). */
static int
remote_parse_results(const char *text, size_t len, size_t n, char **errors)
{
	struct jp		j = { text, text + len };
	struct remote_results	rr;
	size_t			i;

	memset(&rr, 0, sizeof rr);
	rr.errors = errors;
	rr.n = n;
	for (i = 0; i < n; i++)
		errors[i] = NULL;
	if (jp_object(&j, jp_top_member, &rr) != 0 || !rr.seen ||
	    rr.count != n) {
		for (i = 0; i < n; i++) {
			free(errors[i]);
			errors[i] = NULL;
		}
		return (-1);
	}
	return (0);
}

/* --- bodies -------------------------------------------------------------- */

/*
 * What the server's input skips at the start of a body (a BOM, then
 * blanks) before it looks at the first byte, which decides between NDJSON
 * and an array.  Returns that offset into the item.
 */
static size_t
remote_lead(const char *text, size_t len)
{
	size_t	k = 0;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		k = 3;
	while (k < len && (text[k] == ' ' || text[k] == '\t' ||
	    text[k] == '\r' || text[k] == '\n'))
		k++;
	return (k);
}

/*
 * Append one record as one line.  LF and CR outside strings become spaces
 * (whitespace either way); LF, CR and NUL inside strings and NUL outside
 * become 0x01, which the record parser refuses at the same byte with the
 * same message.  So the line has the item's length, no LF, no final CR
 * (which the server would strip) and no NUL (which fails a whole body).
 */
static void
remote_add_line(struct buf *body, const char *text, size_t len)
{
	size_t	i, at;
	int	in_str = 0, esc = 0;
	char	c;

	at = body->len;
	buf_add(body, text, len);
	for (i = 0; i < len; i++) {
		c = body->data[at + i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			if (c == '\n' || c == '\r' || c == '\0')
				body->data[at + i] = '\001';
		} else if (c == '"')
			in_str = 1;
		else if (c == '\n' || c == '\r')
			body->data[at + i] = ' ';
		else if (c == '\0')
			body->data[at + i] = '\001';
	}
	buf_addc(body, '\n');
}

/* Add k to the N of every "at byte N" in msg (allocated; replaced). */
static char *
remote_shift_bytes(char *msg, size_t k)
{
	struct buf		 b = BUF_INIT;
	const char		*p = msg, *q;
	char			*end;
	unsigned long long	 v;

	if (k == 0)
		return (msg);
	while ((q = strstr(p, "at byte ")) != NULL) {
		q += 8;
		buf_add(&b, p, (size_t)(q - p));
		errno = 0;
		v = strtoull(q, &end, 10);
		if (end == q || errno != 0) {
			p = q;
			continue;
		}
		buf_printf(&b, "%llu", v + (unsigned long long)k);
		p = end;
	}
	buf_adds(&b, p);
	free(msg);
	return (buf_detach(&b, NULL));
}

/* --- requests ------------------------------------------------------------ */

static size_t
remote_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct remote	*r = arg;
	size_t		 len = size * nmemb;

	if (r->answer.len + len > REMOTE_MAX_ANSWER) {
		r->answer_too_big = 1;
		return (0);
	}
	buf_add(&r->answer, data, len);
	return (len);
}

/* The body, handed to libcurl as it asks for it. */
static size_t
remote_read_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct remote	*r = arg;
	size_t		 len = size * nitems;

	if (len > r->body.len - r->upload_off)
		len = r->body.len - r->upload_off;
	if (len > 0)
		memcpy(data, r->body.data + r->upload_off, len);
	r->upload_off += len;
	return (len);
}

/*
 * libcurl rewinds the body to send it again on a new connection when a
 * reused one died without an answer, even after the whole request went
 * out: the records may have been written, so a write is not sent again
 * (a check is harmless to repeat).
 */
static int
remote_seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct remote	*r = arg;

	if (origin != SEEK_SET || offset < 0 ||
	    (size_t)offset > r->body.len)
		return (CURL_SEEKFUNC_CANTSEEK);
	/* Only seeks move a write back: at its end, all of it went out. */
	if (r->upload_off == r->body.len && r->mode != REMOTE_CHECK) {
		r->resend_refused = 1;
		return (CURL_SEEKFUNC_FAIL);
	}
	r->upload_off = (size_t)offset;
	return (CURL_SEEKFUNC_OK);
}

static size_t
remote_header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct remote	*r = arg;
	size_t		 len = size * nitems;
	char		*end;
	long		 v;

	/* A new status line (after 100 Continue, say) starts afresh. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		r->retry_after = -1;
	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		errno = 0;
		v = strtol(data + 12, &end, 10);
		/* An HTTP-date is not worth parsing: the default then. */
		if (end != data + 12 && errno == 0 && v >= 0)
			r->retry_after = v > 3600 ? 3600 : v;
	}
	return (len);
}

static void
remote_sleep_ms(uint64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

enum remote_post {
	REMOTE_POST_OK = 0,
	REMOTE_POST_FAIL = -1,
	REMOTE_POST_TOO_LARGE = 1
};

/*
 * POST r->body until an answer that is not 503 (or the time is up), and
 * read its results into errors (by item, through r->perm).  On 413,
 * REMOTE_POST_TOO_LARGE with the server's message in *err.
 */
static enum remote_post
remote_post(struct remote *r, size_t nlines, size_t first_shift,
    char **errors, enum remote_fail *fail, char **err)
{
	CURLcode	 res;
	curl_off_t	 sent;
	uint64_t	 deadline, now, wait;
	uint64_t	 backoff = REMOTE_BACKOFF_MIN_MS;
	long		 status;
	char		**lines = NULL, *msg = NULL;
	size_t		 i;
	enum remote_post rc = REMOTE_POST_FAIL;

	*fail = REMOTE_FAIL_UNAVAILABLE;
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)r->body.len);
	deadline = now_ms() + (uint64_t)r->retry_for_s * 1000;
	for (;;) {
		buf_reset(&r->answer);
		r->answer_too_big = 0;
		r->retry_after = -1;
		r->errbuf[0] = '\0';
		r->upload_off = 0;
		r->resend_refused = 0;
		res = curl_easy_perform(r->curl);
		now = now_ms();
		if (res != CURLE_OK) {
			sent = 0;
			curl_easy_getinfo(r->curl, CURLINFO_SIZE_UPLOAD_T, &sent);
			free(msg);
			if (r->unix_path != NULL && res == CURLE_COULDNT_CONNECT)
				msg = xasprintf("cannot connect to socket '%s'",
				    r->unix_path);
			else
				msg = xstrdup(r->errbuf[0] != '\0' ? r->errbuf :
				    curl_easy_strerror(res));
			/*
			 * Refused, or cut before the server had the whole
			 * body: nothing was written, so sending again is safe.
			 * Otherwise it may have been, and is not sent again.
			 * Failures that time will not mend are not retried.
			 */
			if (res == CURLE_UNSUPPORTED_PROTOCOL ||
			    res == CURLE_URL_MALFORMAT) {
				*fail = REMOTE_FAIL_USAGE;
				err_set(err, "cannot write to '%s': %s", r->url,
				    msg);
				goto out;
			}
			if (res == CURLE_COULDNT_RESOLVE_HOST ||
			    res == CURLE_COULDNT_RESOLVE_PROXY ||
			    res == CURLE_PEER_FAILED_VERIFICATION ||
			    res == CURLE_SSL_CONNECT_ERROR ||
			    res == CURLE_SSL_CERTPROBLEM ||
			    res == CURLE_SSL_CACERT_BADFILE) {
				err_set(err, "cannot write to '%s': %s", r->url,
				    msg);
				goto out;
			}
			if (r->resend_refused || (res != CURLE_COULDNT_CONNECT &&
			    r->mode != REMOTE_CHECK &&
			    sent >= (curl_off_t)r->body.len)) {
				if (r->resend_refused) {
					free(msg);
					msg = xstrdup("the connection was "
					    "closed without an answer");
				}
				err_set(err, "cannot write to '%s': %s (after "
				    "the whole request was sent: its records "
				    "may have been written; not sending it "
				    "again)", r->url, msg);
				goto out;
			}
			wait = backoff;
			backoff = backoff * 2 > REMOTE_BACKOFF_MAX_MS ?
			    REMOTE_BACKOFF_MAX_MS : backoff * 2;
		} else {
			status = 0;
			curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE,
			    &status);
			free(msg);
			msg = remote_answer_error(r->answer.data != NULL ?
			    r->answer.data : "", r->answer.len);
			if (status == 200 || status == 422) {
				lines = xcalloc(nlines, sizeof *lines);
				if (r->answer_too_big || remote_parse_results(
				    r->answer.data, r->answer.len, nlines,
				    lines) != 0) {
					*fail = REMOTE_FAIL_UNAVAILABLE;
					err_set(err, "cannot write to '%s': the "
					    "answer (status %ld) is not the "
					    "results of %zu records: is this a "
					    "'wtc serve'?", r->url, status,
					    nlines);
					goto out;
				}
				/* All or nothing: a 422 wrote none of them. */
				for (i = 0; i < nlines; i++)
					if (lines[i] == NULL && status == 422 &&
					    r->mode == REMOTE_WRITE_ALL)
						lines[i] = xstrdup("not written: "
						    "another record of its request "
						    "was refused (on-error=abort)");
				for (i = 0; i < nlines; i++)
					errors[r->perm[i]] = lines[i];
				if (first_shift > 0 && errors[r->perm[0]] != NULL)
					errors[r->perm[0]] = remote_shift_bytes(
					    errors[r->perm[0]], first_shift);
				rc = REMOTE_POST_OK;
				goto out;
			}
			if (status == 401) {
				*fail = REMOTE_FAIL_AUTH;
				if (r->auth != NULL)
					err_set(err, "cannot write to '%s': the "
					    "server refused the token (%s)",
					    r->url, msg != NULL ? msg :
					    "401 Unauthorized");
				else
					err_set(err, "cannot write to '%s': the "
					    "server requires a bearer token "
					    "(give --token-file)", r->url);
				goto out;
			}
			if (status == 404 && r->mode == REMOTE_CHECK) {
				err_set(err, "cannot check records at '%s': the "
				    "server has no /validate (it is older than "
				    "--on-error=abort with --remote)", r->url);
				goto out;
			}
			if (status == 413) {
				err_set(err, "%s", msg != NULL ? msg :
				    "the request is too large for the server");
				rc = REMOTE_POST_TOO_LARGE;
				goto out;
			}
			if (status != 503) {
				if (status >= 300 && status < 400)
					err_set(err, "cannot write to '%s': the "
					    "server answered %ld (redirects are "
					    "not followed: give the server's own "
					    "URL)", r->url, status);
				else
					err_set(err, "cannot write to '%s': the "
					    "server answered %ld%s%s", r->url,
					    status, msg != NULL ? ": " : "",
					    msg != NULL ? msg : "");
				goto out;
			}
			wait = r->retry_after >= 0 ?
			    (uint64_t)r->retry_after * 1000 : 1000;
			if (wait < REMOTE_BACKOFF_MIN_MS)
				wait = REMOTE_BACKOFF_MIN_MS;
			if (msg == NULL)
				msg = xstrdup("503 Service Unavailable");
		}
		/* The last try is made when the time is up. */
		if (now >= deadline) {
			err_set(err, "cannot write to '%s': %s (gave up after "
			    "%u s; see --retry-for)", r->url, msg,
			    r->retry_for_s);
			goto out;
		}
		if (now + wait > deadline)
			wait = deadline - now;
		remote_note(r, "'%s': %s; trying again in %.1f s", r->url, msg,
		    (double)wait / 1000.0);
		remote_sleep_ms(wait);
	}
out:
	free(lines);
	free(msg);
	return (rc);
}

/*
 * Send items in one request, the first line chosen among them (see below);
 * its results are mapped back through r->perm.
 */
static enum remote_post
remote_request(struct remote *r, const struct remote_item *items, size_t n,
    char **errors, enum remote_fail *fail, char **err)
{
	size_t	i, j, first = n, shift;

	/*
	 * The first line leads: one that starts as a record does (a BOM,
	 * blanks, '{'), so that the server takes the body as NDJSON and,
	 * past what it skips, parses that line as a local put parses it.
	 */
	for (i = 0; i < n && first == n; i++) {
		if (record_lead_check(items[i].text, items[i].len, NULL) == 0)
			first = i;
	}
	if (first == n) {
		/*
		 * None does: the record parser refuses each before it looks
		 * at the schema, so no request is needed.
		 */
		for (i = 0; i < n; i++)
			record_lead_check(items[i].text, items[i].len,
			    &errors[i]);
		return (REMOTE_POST_OK);
	}
	shift = remote_lead(items[first].text, items[first].len);
	buf_reset(&r->body);
	r->perm[0] = first;
	remote_add_line(&r->body, items[first].text, items[first].len);
	for (i = 0, j = 1; i < n; i++) {
		if (i == first)
			continue;
		r->perm[j++] = i;
		remote_add_line(&r->body, items[i].text, items[i].len);
	}
	/*
	 * No LF after the last line (NDJSON does not need it): a record of
	 * --max-line bytes, the server's --max-body by default, fits in a
	 * body of its own as a local put takes it.
	 */
	r->body.data[--r->body.len] = '\0';
	return (remote_post(r, n, shift, errors, fail, err));
}

/* Send, splitting a body the server finds too large. */
static int
remote_send(struct remote *r, const struct remote_item *items, size_t n,
    char **errors, size_t *ndone, enum remote_fail *fail, char **err)
{
	enum remote_post	rc;
	size_t			half;
	char			*msg = NULL;

	rc = remote_request(r, items, n, errors, fail, &msg);
	if (rc == REMOTE_POST_OK) {
		*ndone += n;
		return (0);
	}
	if (rc == REMOTE_POST_FAIL) {
		*err = msg;
		return (-1);
	}
	if (n == 1) {
		errors[0] = msg;	/* the server's "larger than" message */
		*ndone += 1;
		return (0);
	}
	free(msg);
	remote_note(r, "'%s': a request of %zu records is too large; "
	    "splitting it", r->url, n);
	half = n / 2;
	if (remote_send(r, items, half, errors, ndone, fail, err) != 0)
		return (-1);
	return (remote_send(r, items + half, n - half, errors + half, ndone,
	    fail, err));
}

int
remote_write(struct remote *r, const struct remote_item *items, size_t n,
    char **errors, size_t *ndone, enum remote_fail *fail, char **err)
{
	size_t	i;

	*ndone = 0;
	*fail = REMOTE_OK;
	for (i = 0; i < n; i++)
		errors[i] = NULL;
	if (n == 0)
		return (0);
	if (n > REMOTE_MAX_BATCH) {
		*fail = REMOTE_FAIL_INTERNAL;
		return (err_set(err, "%zu records in one request, more than "
		    "%u", n, (unsigned)REMOTE_MAX_BATCH));
	}
	return (remote_send(r, items, n, errors, ndone, fail, err));
}

/* --- set-up ---------------------------------------------------------------- */

/* The URL u with the path base[0..len) and then name; NULL if invalid. */
static char *
remote_endpoint(CURLU *u, const char *base, size_t len, const char *name)
{
	char	*path, *full = NULL, *out;

	path = xasprintf("%.*s%s", (int)len, base, name);
	if (curl_url_set(u, CURLUPART_PATH, path, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		free(path);
		return (NULL);
	}
	free(path);
	out = xstrdup(full);
	curl_free(full);
	return (out);
}

/*
 * Check the URL; fill post_url, abort_url, check_url, url (for messages)
 * and unix_path.
 */
static int
remote_parse_url(struct remote *r, const char *url, char **err)
{
	CURLU		*u = NULL;
	CURLUcode	 uc;
	char		*path = NULL, *shown = NULL, *full = NULL;
	size_t		 len;
	int		 rc = -1;

	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/')
			return (err_set(err, "remote URL '%s' names no absolute "
			    "socket path (unix:/PATH)", url));
		r->unix_path = xstrdup(url + 5);
		r->url = xstrdup(url);
		r->post_url = xstrdup("http://localhost/write-through");
		r->check_url = xstrdup("http://localhost/validate");
		r->abort_url = xasprintf("%s?on-error=abort", r->post_url);
		return (0);
	}
	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0)
		return (err_set(err, "remote URL '%s' must start with http://, "
		    "https:// or unix:/", url));
	if ((u = curl_url()) == NULL)
		return (err_set(err, "cannot parse remote URL: out of memory"));
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		err_set(err, "invalid remote URL '%s': %s", url,
		    curl_url_strerror(uc));
		goto out;
	}
	/* Not echoed: the URL would show the password. */
	if (curl_url_get(u, CURLUPART_PASSWORD, &full, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_USER, &full, 0) == CURLUE_OK) {
		err_set(err, "the remote URL must not carry a user or password "
		    "(any user can read it with ps; the server takes a bearer "
		    "token: --token-file)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &full, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &full, 0) == CURLUE_OK) {
		err_set(err, "remote URL '%s' must not have a query or fragment "
		    "(give the server's base URL)", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		err_set(err, "invalid remote URL '%s'", url);
		goto out;
	}
	/*
	 * A base URL (behind a proxy, say) gets /write-through appended; one
	 * that names the endpoint already is taken as it is.
	 */
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len >= 14 && strncmp(path + len - 14, "/write-through", 14) == 0)
		len -= 14;
	if ((r->post_url = remote_endpoint(u, path, len, "/write-through")) ==
	    NULL || (r->check_url = remote_endpoint(u, path, len,
	    "/validate")) == NULL) {
		err_set(err, "invalid remote URL '%s'", url);
		goto out;
	}
	r->abort_url = xasprintf("%s?on-error=abort", r->post_url);
	/* Messages show the URL without a password. */
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(u, CURLUPART_PATH, path, 0);
	if (curl_url_get(u, CURLUPART_URL, &shown, 0) != CURLUE_OK) {
		err_set(err, "invalid remote URL '%s'", url);
		goto out;
	}
	len = strlen(shown);
	if (len > 1 && shown[len - 1] == '/' && strcmp(path, "/") == 0)
		shown[len - 1] = '\0';
	r->url = xstrdup(shown);
	rc = 0;
out:
	curl_free(full);
	curl_free(path);
	curl_free(shown);
	curl_url_cleanup(u);
	return (rc);
}

struct remote *
remote_new(const struct remote_opts *opts, enum remote_fail *fail,
    char **err)
{
	struct remote	*r;
	CURLcode	 cc;

	*fail = REMOTE_OK;
	r = xcalloc(1, sizeof *r);
	r->retry_for_s = opts->retry_for_s;
	r->verbose = opts->verbose;
	r->log = opts->log;
	r->log_arg = opts->log_arg;
	r->perm = xcalloc(REMOTE_MAX_BATCH, sizeof *r->perm);
	if (remote_parse_url(r, opts->url, err) != 0) {
		*fail = REMOTE_FAIL_USAGE;
		goto fail;
	}
	if (opts->token != NULL && strpbrk(opts->token, "\r\n") != NULL) {
		*fail = REMOTE_FAIL_USAGE;
		err_set(err, "the token holds a line break");
		goto fail;
	}
	if (!curl_inited) {
		if ((cc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
			*fail = REMOTE_FAIL_INTERNAL;
			err_set(err, "cannot initialise libcurl: %s",
			    curl_easy_strerror(cc));
			goto fail;
		}
		curl_inited = 1;
	}
	if ((r->curl = curl_easy_init()) == NULL) {
		*fail = REMOTE_FAIL_INTERNAL;
		err_set(err, "cannot initialise libcurl");
		goto fail;
	}
	r->headers = curl_slist_append(NULL,
	    "Content-Type: application/x-ndjson");
	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	if (opts->token != NULL) {
		r->auth = xasprintf("Authorization: Bearer %s", opts->token);
		r->headers = curl_slist_append(r->headers, r->auth);
	}
	if (r->headers == NULL)
		abort();
	curl_easy_setopt(r->curl, CURLOPT_URL, r->post_url);
	if (r->unix_path != NULL)
		curl_easy_setopt(r->curl, CURLOPT_UNIX_SOCKET_PATH, r->unix_path);
	curl_easy_setopt(r->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(r->curl, CURLOPT_READFUNCTION, remote_read_cb);
	curl_easy_setopt(r->curl, CURLOPT_READDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_SEEKFUNCTION, remote_seek_cb);
	curl_easy_setopt(r->curl, CURLOPT_SEEKDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, opts->user_agent != NULL ?
	    opts->user_agent : "wtc");
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT,
	    (long)REMOTE_CONNECT_TIMEOUT);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, (long)REMOTE_REQUEST_TIMEOUT);
	curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, remote_write_cb);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, remote_header_cb);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, r);
	return (r);
fail:
	remote_free(r);
	return (NULL);
}

void
remote_set_mode(struct remote *r, enum remote_mode mode)
{
	r->mode = mode;
	curl_easy_setopt(r->curl, CURLOPT_URL, mode == REMOTE_CHECK ?
	    r->check_url : mode == REMOTE_WRITE_ALL ? r->abort_url :
	    r->post_url);
}

const char *
remote_url(const struct remote *r)
{
	return (r->url);
}

void
remote_free(struct remote *r)
{
	struct curl_slist	*h;

	if (r == NULL)
		return;
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	/* The slist holds its own copy of the token: wipe it too. */
	for (h = r->headers; h != NULL; h = h->next)
		memset(h->data, 0, strlen(h->data));
	curl_slist_free_all(r->headers);
	if (r->auth != NULL) {
		memset(r->auth, 0, strlen(r->auth));
		free(r->auth);
	}
	buf_release(&r->body);
	buf_release(&r->answer);
	free(r->perm);
	free(r->url);
	free(r->post_url);
	free(r->abort_url);
	free(r->check_url);
	free(r->unix_path);
	free(r);
}
