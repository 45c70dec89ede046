/*
 * wtc put: read JSON records from arguments, files or standard input and
 * write them through: Redis now, the fsync'd spool before we say so, MySQL
 * by the drainer.
 */
#include "autoconfig.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "drain.h"
#include "ingest.h"
#include "input.h"
#include "record.h"
#include "remote.h"	/* its constants; the client itself needs HAVE_CURL */

static const char put_usage[] =
"usage: wtc put [options] [JSON...]\n"
"       wtc put [options] -f FILE...\n"
"       command | wtc put [options]\n"
"\n"
"Write JSON records through to Redis and, by way of the spool, MySQL.  Each\n"
"JSON argument, each file and standard input hold one object, NDJSON (one\n"
"object per line) or a JSON array of objects; gzip'd files are read as such.\n"
"Exit status 0 means every record is in Redis and fsync'd in the spool.\n"
"\n"
"Options:\n"
"  -f, --file FILE       read records from FILE ('-' for standard input);\n"
"                        may be given several times\n"
"      --on-error MODE   skip: write the good records, report the bad ones\n"
"                        (default); abort: write nothing if any record is bad\n"
"      --batch N         records per Redis and spool round (default 4096)\n"
"      --max-line BYTES  longest record accepted (default 16777216)\n"
"      --json            print a JSON summary on standard output\n"
"      --no-drain        do not start a background drainer\n"
"      --remote URL      send the records to a 'wtc serve' at URL instead\n"
"                        (http://HOST:PORT, https://..., or unix:/PATH)\n"
"      --token-file FILE  with --remote: send the token on FILE's first line\n"
"                        as 'Authorization: Bearer' (FILE must be private)\n"
"      --retry-for SECONDS  with --remote: keep trying while the server is\n"
"                        unreachable or answers 503 (default 30; 0: once)\n"
"\n"
"With --remote, records go in NDJSON requests of up to 4096 records or\n"
"4 MiB over one connection; bad records are reported by file and line as\n"
"without it, and the exit status means the same.  The server's own\n"
"configuration (Redis, MySQL, table) applies.  --on-error=abort has the\n"
"server check every record first (POST /validate), then sends them.  A\n"
"request is sent again only if nothing of it can have been written (503,\n"
"connection refused, or cut before the whole request was sent); a\n"
"connection lost after that ends the run with status 69, and records of\n"
"that request may have been written or not: sending them again is\n"
"harmless for records with ids, but writes records without one twice.\n"
"\n"
"Exit status: 0 all written; 64 usage; 65 some records refused; 66 a file\n"
"cannot be opened; 69 Redis, MySQL's schema or the --remote server\n"
"unavailable (or refusing the token); 73 the spool cannot be created; 74 an\n"
"input or the spool failed.\n";

enum {
	OPT_ON_ERROR = OPT_FIRST_LOCAL,
	OPT_BATCH,
	OPT_MAX_LINE,
	OPT_JSON,
	OPT_NO_DRAIN,
	OPT_REMOTE,
	OPT_TOKEN_FILE,
	OPT_RETRY_FOR
};

struct put_state {
	struct cli	*cli;
	struct ingest	*ing;
	int		 abort_mode;
	int		 json;
	size_t		 batch_max;
	size_t		 max_line;
	int		 progress;	/* stderr is a terminal */

	struct record	**batch;
	size_t		 nbatch;

	uint64_t	 accepted;
	uint64_t	 rejected;
	uint64_t	 seen;
	uint64_t	 start_ms;
	uint64_t	 last_progress_ms;
	int		 fatal;		/* exit status of a fatal error, or 0 */
};

static void
put_progress(struct put_state *ps, int final)
{
	uint64_t	now = now_ms(), ms;

	if (!ps->progress || ps->cli->quiet)
		return;
	if (!final && now - ps->last_progress_ms < 250)
		return;
	ps->last_progress_ms = now;
	ms = now - ps->start_ms;
	fprintf(stderr, "\r\033[Kwtc put: %llu records, %llu rejected, %.0f/s",
	    (unsigned long long)ps->accepted, (unsigned long long)ps->rejected,
	    ms > 0 ? (double)ps->accepted * 1000.0 / (double)ms : 0.0);
	if (final)
		fputs("\r\033[K", stderr);
}

static int
put_fail_status(enum ingest_fail fail)
{
	switch (fail) {
	case INGEST_FAIL_CONFIG:
		return (EXIT_USAGE);
	case INGEST_FAIL_REDIS:
	case INGEST_FAIL_REDIS_LATE:
	case INGEST_FAIL_SCHEMA:
	case INGEST_FAIL_IDS:
		return (EXIT_UNAVAILABLE);
	case INGEST_FAIL_SPOOL_DIR:
		return (EXIT_CANTCREAT);
	case INGEST_FAIL_SPOOL:
		return (EXIT_IOERR);
	default:
		return (EXIT_SOFTWARE);
	}
}

static int
put_flush(struct put_state *ps)
{
	enum ingest_fail	 fail;
	char			*err = NULL;
	size_t			 i;
	int			 rc = 0;

	if (ps->nbatch == 0)
		return (0);
	if (ingest_write(ps->ing, ps->batch, ps->nbatch, &fail, &err) != 0) {
		cli_error(ps->cli, "%s", err);
		cli_error(ps->cli, "%llu records before this batch of %zu were "
		    "written; none of this batch was acknowledged",
		    (unsigned long long)ps->accepted, ps->nbatch);
		free(err);
		ps->fatal = put_fail_status(fail);
		rc = -1;
	} else
		ps->accepted += ps->nbatch;
	for (i = 0; i < ps->nbatch; i++)
		record_free(ps->batch[i]);
	ps->nbatch = 0;
	put_progress(ps, 0);
	return (rc);
}

/*
 * Read one source.  With validate_only, records are checked and counted
 * but not written.  Returns 0, or -1 after a fatal error (ps->fatal set).
 */
static int
put_source(struct put_state *ps, struct input *in, int validate_only)
{
	const char	*text;
	size_t		 len;
	unsigned long	 line;
	char		*err = NULL;
	struct record	*rec;
	int		 r;

	for (;;) {
		r = input_next(in, &text, &len, &line, &err);
		if (r == 0)
			break;
		if (r == -2) {
			cli_error(ps->cli, "%s", err);
			free(err);
			ps->fatal = EXIT_IOERR;
			return (-1);
		}
		if (r == -1 || r == -3) {	/* -3: and the source ends here */
			cli_error(ps->cli, "%s:%lu: %s", input_name(in), line, err);
			free(err);
			err = NULL;
			ps->rejected++;
			continue;
		}
		ps->seen++;
		if (ingest_parse(ps->ing, text, len, &rec, &err) != 0) {
			cli_error(ps->cli, "%s:%lu: %s", input_name(in), line, err);
			free(err);
			err = NULL;
			ps->rejected++;
			continue;
		}
		if (validate_only) {
			record_free(rec);
			continue;
		}
		ps->batch[ps->nbatch++] = rec;
		if (ps->nbatch == ps->batch_max && put_flush(ps) != 0)
			return (-1);
	}
	return (0);
}

struct put_source_spec {
	const char	*arg;		/* JSON text or file name */
	int		 is_file;
	int		 copied;	/* read from fd (--on-error=abort) */
	int		 fd;
	int		 limited;	/* read no more than limit bytes of it */
	uint64_t	 limit;
	char		 label[32];
};

static const char *
put_spec_name(const struct put_source_spec *s)
{
	return (strcmp(s->arg, "-") == 0 ? "<stdin>" : s->arg);
}

static struct input *
put_open(struct put_state *ps, struct put_source_spec *s, char **err)
{
	struct input	*in;

	if (!s->is_file)
		return (input_open_string(s->label, s->arg, ps->max_line));
	if (s->copied) {
		if (lseek(s->fd, 0, SEEK_SET) == -1) {
			err_set(err, "cannot rewind the copy of '%s': %s",
			    put_spec_name(s), strerror(errno));
			return (NULL);
		}
		in = input_open_fd(s->fd, put_spec_name(s), ps->max_line, err);
	} else
		in = input_open_file(s->arg, ps->max_line, err);
	if (in != NULL && s->limited)
		input_set_limit(in, s->limit);
	return (in);
}

/*
 * All or nothing reads every input twice: standard input, a pipe or a FIFO
 * is first copied to an unlinked temporary file in dir (it was read empty
 * the second time, and its records were checked but never written), and a
 * regular file is read both times up to the size it has now (lines
 * appended between the passes were written unchecked).  An input
 * that cannot be opened is left for put_open to report.  Returns 0, or -1
 * after saying why.
 */
static int
put_copy_inputs(struct put_state *ps, struct put_source_spec *specs,
    size_t nspecs, const char *dir)
{
	struct stat	 st;
	char		*path, chunk[65536];
	ssize_t		 n;
	size_t		 i;
	int		 in, fd;

	for (i = 0; i < nspecs; i++) {
		if (!specs[i].is_file)
			continue;
		if (strcmp(specs[i].arg, "-") == 0)
			in = STDIN_FILENO;
		else if (stat(specs[i].arg, &st) == 0 && S_ISREG(st.st_mode)) {
			specs[i].limited = 1;
			specs[i].limit = (uint64_t)st.st_size;
			continue;
		} else if ((in = open(specs[i].arg, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		path = xasprintf("%s/input.XXXXXX", dir);
		if ((fd = mkstemp(path)) == -1) {
			cli_error(ps->cli, "cannot create temporary file '%s': "
			    "%s", path, strerror(errno));
			free(path);
			if (in != STDIN_FILENO)
				close(in);
			return (-1);
		}
		unlink(path);
		free(path);
		while ((n = read(in, chunk, sizeof chunk)) != 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 || write_all(fd, chunk, (size_t)n) != 0) {
				cli_error(ps->cli, "cannot copy '%s' to a "
				    "temporary file: %s", put_spec_name(&specs[i]),
				    strerror(errno));
				close(fd);
				if (in != STDIN_FILENO)
					close(in);
				return (-1);
			}
		}
		if (in != STDIN_FILENO)
			close(in);
		specs[i].fd = fd;
		specs[i].copied = 1;
	}
	return (0);
}

static void
put_close_copies(struct put_source_spec *specs, size_t nspecs)
{
	size_t	i;

	for (i = 0; i < nspecs; i++) {
		if (specs[i].copied)
			close(specs[i].fd);
		specs[i].copied = specs[i].limited = 0;
	}
}

static void
put_summary(struct put_state *ps)
{
	uint64_t	ms = now_ms() - ps->start_ms;
	double		rate = ms > 0 ? (double)ps->accepted * 1000.0 / (double)ms :
			    (double)ps->accepted * 1000.0;

	put_progress(ps, 1);
	if (ps->json) {
		printf("{\"accepted\":%llu,\"rejected\":%llu,\"seconds\":%.3f,"
		    "\"rate\":%.0f,\"status\":%d}\n",
		    (unsigned long long)ps->accepted,
		    (unsigned long long)ps->rejected, (double)ms / 1000.0, rate,
		    ps->fatal != 0 ? ps->fatal : (ps->rejected > 0 ? EXIT_DATA : 0));
		fflush(stdout);
	}
	if (!ps->cli->quiet)
		fprintf(stderr, "wtc put: %llu accepted, %llu rejected in %.2f s "
		    "(%.0f records/s)\n", (unsigned long long)ps->accepted,
		    (unsigned long long)ps->rejected, (double)ms / 1000.0, rate);
}

#ifdef HAVE_CURL
/*
 * put --remote: the same sources read the same way, records sent to a
 * "wtc serve" in batches.  Each batch keeps, in reading order, the records
 * to send and the items the input refused, so that messages come out in
 * the order a local put prints them.
 */
struct put_remote_item {
	size_t		 off;		/* in text */
	size_t		 len;
	size_t		 src;		/* index in names */
	unsigned long	 line;
	char		*err;		/* refused by the input; not sent */
};

struct put_remote {
	struct put_state	*ps;
	struct remote		*remote;
	size_t			 max_records;	/* per request */
	char			**names;	/* source names, by source */
	size_t			 nnames;
	struct put_remote_item	*items;
	size_t			 nitems;
	size_t			 nrecords;	/* items to send */
	struct buf		 text;
	struct remote_item	*ritems;
	char			**errors;
	int			 checking;	/* --on-error=abort's first pass */
};

static void
put_remote_log(void *arg, const char *msg)
{
	cli_info(arg, "%s", msg);
}

static int
put_remote_status(enum remote_fail fail)
{
	switch (fail) {
	case REMOTE_FAIL_USAGE:
		return (EXIT_USAGE);
	case REMOTE_FAIL_UNAVAILABLE:
	case REMOTE_FAIL_AUTH:
		return (EXIT_UNAVAILABLE);
	default:
		return (EXIT_SOFTWARE);
	}
}

/* Send the batch and report each item; -1 after a fatal error. */
static int
put_remote_flush(struct put_remote *pr)
{
	struct put_state	*ps = pr->ps;
	struct put_remote_item	*it;
	enum remote_fail	 fail;
	char			*err = NULL;
	size_t			 i, k, ndone = 0, refused = 0;
	int			 rc;

	if (pr->nitems == 0)
		return (0);
	for (i = 0, k = 0; i < pr->nitems; i++) {
		if (pr->items[i].err != NULL)
			continue;
		pr->ritems[k].text = pr->text.data + pr->items[i].off;
		pr->ritems[k++].len = pr->items[i].len;
	}
	rc = remote_write(pr->remote, pr->ritems, k, pr->errors, &ndone,
	    &fail, &err);
	for (i = 0, k = 0; i < pr->nitems; i++) {
		it = &pr->items[i];
		if (it->err != NULL) {
			cli_error(ps->cli, "%s:%lu: %s", pr->names[it->src],
			    it->line, it->err);
			free(it->err);
			it->err = NULL;
			ps->rejected++;
			continue;
		}
		if (k >= ndone) {
			k++;
			continue;
		}
		if (pr->errors[k] == NULL) {
			if (!pr->checking)
				ps->accepted++;
		} else {
			cli_error(ps->cli, "%s:%lu: %s", pr->names[it->src],
			    it->line, pr->errors[k]);
			free(pr->errors[k]);
			pr->errors[k] = NULL;
			ps->rejected++;
			refused++;
		}
		k++;
	}
	if (rc != 0) {
		cli_error(ps->cli, "%s", err);
		if (pr->checking)
			cli_error(ps->cli, "nothing was written "
			    "(--on-error=abort checks every record first)");
		else if (ndone > 0)
			cli_error(ps->cli, "%llu records were written; of the "
			    "last %zu sent, none was acknowledged",
			    (unsigned long long)ps->accepted, k - ndone);
		else
			cli_error(ps->cli, "%llu records before this batch of "
			    "%zu were written; none of this batch was "
			    "acknowledged", (unsigned long long)ps->accepted, k);
		free(err);
		ps->fatal = put_remote_status(fail);
	} else if (refused > 0 && ps->abort_mode && !pr->checking) {
		/*
		 * All or nothing, but the server refused records it had found
		 * good (the table changed since?): what went before stays
		 * written, the rest is not sent.
		 */
		cli_error(ps->cli, "the server refused records it had checked "
		    "as good; %llu records before them were written, the rest "
		    "were not sent (--on-error=abort)",
		    (unsigned long long)ps->accepted);
		ps->fatal = EXIT_DATA;
		rc = -1;
	}
	pr->nitems = 0;
	pr->nrecords = 0;
	buf_reset(&pr->text);
	put_progress(ps, 0);
	return (rc);
}

static struct put_remote_item *
put_remote_add(struct put_remote *pr, size_t src, unsigned long line)
{
	struct put_remote_item	*it = &pr->items[pr->nitems++];

	memset(it, 0, sizeof *it);
	it->src = src;
	it->line = line;
	return (it);
}

/* Read one source into batches.  -1 after a fatal error (ps->fatal set). */
static int
put_remote_source(struct put_remote *pr, struct input *in, size_t src)
{
	struct put_state	*ps = pr->ps;
	struct put_remote_item	*it;
	const char		*text;
	size_t			 len;
	unsigned long		 line;
	char			*err = NULL;
	int			 r;

	for (;;) {
		r = input_next(in, &text, &len, &line, &err);
		if (r == 0)
			return (0);
		if (r == -2) {
			/* What was read before goes, as a local put's. */
			if (put_remote_flush(pr) == 0) {
				cli_error(ps->cli, "%s", err);
				ps->fatal = EXIT_IOERR;
			}
			free(err);
			return (-1);
		}
		/* Refused items wait in the batch too, but not for ever. */
		if (pr->nitems == 2 * pr->max_records ||
		    (r == 1 && (pr->nrecords == pr->max_records ||
		    (pr->nrecords > 0 && pr->text.len + len > REMOTE_MAX_BODY)))) {
			if (put_remote_flush(pr) != 0) {
				free(err);
				return (-1);
			}
		}
		it = put_remote_add(pr, src, line);
		if (r == -1 || r == -3) {	/* -3: and the source ends here */
			it->err = err;
			err = NULL;
			continue;
		}
		ps->seen++;
		it->off = pr->text.len;
		it->len = len;
		buf_add(&pr->text, text, len);
		pr->nrecords++;
	}
}

static int
put_remote_run(struct put_state *ps, const char *url, const char *token,
    unsigned retry_for, struct put_source_spec *specs, size_t nspecs)
{
	struct put_remote	 pr;
	struct remote_opts	 ropts;
	enum remote_fail	 fail;
	struct input		*in;
	const char		*tmp;
	char			*err = NULL;
	size_t			 i;
	int			 rc, pass;

	memset(&ropts, 0, sizeof ropts);
	ropts.url = url;
	ropts.token = token;
	ropts.user_agent = "wtc/" PACKAGE_VERSION;
	ropts.retry_for_s = retry_for;
	ropts.verbose = ps->cli->verbose;
	ropts.log = put_remote_log;
	ropts.log_arg = ps->cli;
	memset(&pr, 0, sizeof pr);
	pr.ps = ps;
	if ((pr.remote = remote_new(&ropts, &fail, &err)) == NULL) {
		if (fail == REMOTE_FAIL_USAGE)
			rc = cli_usage_error(ps->cli, "%s", err);
		else {
			cli_error(ps->cli, "%s", err);
			rc = put_remote_status(fail);
		}
		free(err);
		return (rc);
	}
	pr.max_records = ps->batch_max < REMOTE_MAX_BATCH ? ps->batch_max :
	    REMOTE_MAX_BATCH;
	pr.items = xcalloc(2 * pr.max_records, sizeof *pr.items);
	pr.ritems = xcalloc(pr.max_records, sizeof *pr.ritems);
	pr.errors = xcalloc(pr.max_records, sizeof *pr.errors);
	pr.names = xcalloc(nspecs, sizeof *pr.names);
	if (ps->cli->verbose)
		cli_info(ps->cli, "sending records to '%s'",
		    remote_url(pr.remote));
	ps->progress = isatty(STDERR_FILENO);
	ps->start_ms = ps->last_progress_ms = now_ms();
	if (ps->abort_mode) {
		tmp = getenv("TMPDIR");
		if (put_copy_inputs(ps, specs, nspecs, tmp != NULL &&
		    *tmp != '\0' ? tmp : "/tmp") != 0)
			ps->fatal = EXIT_IOERR;
	}

	/*
	 * All or nothing: a first pass has the server check every record
	 * (POST /validate), and only then are they sent, each request all
	 * or nothing as well.
	 */
	for (pass = ps->abort_mode ? 0 : 1; pass < 2 && ps->fatal == 0;
	    pass++) {
		pr.checking = pass == 0;
		remote_set_mode(pr.remote, pass == 0 ? REMOTE_CHECK :
		    ps->abort_mode ? REMOTE_WRITE_ALL : REMOTE_WRITE);
		for (i = 0; i < nspecs && ps->fatal == 0; i++) {
			if ((in = put_open(ps, &specs[i], &err)) == NULL) {
				/* What was read before goes first, as a local put's. */
				if (put_remote_flush(&pr) == 0) {
					cli_error(ps->cli, "%s", err);
					ps->fatal = EXIT_NOINPUT;
				}
				free(err);
				err = NULL;
				break;
			}
			free(pr.names[i]);
			pr.names[i] = xstrdup(input_name(in));
			if (pr.nnames < i + 1)
				pr.nnames = i + 1;
			put_remote_source(&pr, in, i);
			input_free(in);
		}
		if (ps->fatal == 0)
			put_remote_flush(&pr);
		if (pass == 0 && ps->rejected > 0) {
			cli_error(ps->cli, "%llu of %llu records are bad; nothing "
			    "was written (--on-error=abort)",
			    (unsigned long long)ps->rejected,
			    (unsigned long long)ps->seen);
			break;
		}
		if (pass == 0)
			ps->seen = 0;
	}
	put_summary(ps);

	for (i = 0; i < pr.nitems; i++)
		free(pr.items[i].err);
	for (i = 0; i < pr.nnames; i++)
		free(pr.names[i]);
	free(pr.names);
	free(pr.items);
	free(pr.ritems);
	free(pr.errors);
	buf_release(&pr.text);
	remote_free(pr.remote);
	if (ps->fatal != 0)
		return (ps->fatal);
	return (ps->rejected > 0 ? EXIT_DATA : 0);
}
#endif

static int
put_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "file", required_argument, NULL, 'f' },
		{ "on-error", required_argument, NULL, OPT_ON_ERROR },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "max-line", required_argument, NULL, OPT_MAX_LINE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_put;
	struct put_state	 ps;
	struct put_source_spec	*specs = NULL;
	size_t			 nspecs = 0, i;
	struct input		*in;
	struct ingest_opts	 iopts;
	enum ingest_fail	 fail;
	char			*err = NULL, *end;
	const char		*remote = NULL, *token_file = NULL;
	char			*token = NULL;
	unsigned		 retry_for = REMOTE_DEFAULT_RETRY_FOR;
	int			 ch, rc, no_drain = 0, pass, stdin_used = 0;
	unsigned long long	 v;

	memset(&ps, 0, sizeof ps);
	ps.cli = cli;
	ps.batch_max = 4096;
	ps.max_line = INPUT_DEFAULT_MAX_ITEM;
	specs = xcalloc((size_t)argc + 1, sizeof *specs);

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:qv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			specs[nspecs].arg = optarg;
			specs[nspecs].is_file = 1;
			if (strcmp(optarg, "-") == 0) {
				if (stdin_used++) {
					free(specs);
					return (cli_usage_error(cli, "standard "
					    "input given twice"));
				}
			}
			nspecs++;
			break;
		case OPT_ON_ERROR:
			if (strcmp(optarg, "skip") == 0)
				ps.abort_mode = 0;
			else if (strcmp(optarg, "abort") == 0)
				ps.abort_mode = 1;
			else {
				free(specs);
				return (cli_usage_error(cli, "--on-error must be "
				    "'skip' or 'abort', not '%s'", optarg));
			}
			break;
		case OPT_BATCH:
		case OPT_MAX_LINE:
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || *optarg == '-' ||
			    v > (ch == OPT_BATCH ? 1000000ULL : 1ULL << 30)) {
				free(specs);
				return (cli_usage_error(cli, "invalid value '%s' for "
				    "--%s", optarg, ch == OPT_BATCH ? "batch" :
				    "max-line"));
			}
			if (ch == OPT_BATCH)
				ps.batch_max = (size_t)v;
			else
				ps.max_line = (size_t)v;
			break;
		case OPT_JSON:
			ps.json = 1;
			break;
		case OPT_NO_DRAIN:
			no_drain = 1;
			break;
		case OPT_REMOTE:
			remote = optarg;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_RETRY_FOR:
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '-' ||
			    *optarg == '\0' || v > 86400) {
				free(specs);
				return (cli_usage_error(cli, "invalid value '%s' for "
				    "--retry-for", optarg));
			}
			retry_for = (unsigned)v;
			break;
		case '?':
		case ':':
			free(specs);
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_put, ch, optarg)) > 1) {
				free(specs);
				return (rc);
			}
		}
	}
	for (i = (size_t)optind; i < (size_t)argc; i++) {
		specs[nspecs].arg = argv[i];
		snprintf(specs[nspecs].label, sizeof specs[nspecs].label,
		    "<argument %zu>", i - (size_t)optind + 1);
		nspecs++;
	}
	if (nspecs == 0) {
		if (isatty(STDIN_FILENO)) {
			free(specs);
			return (cli_usage_error(cli, "no records: give JSON "
			    "arguments, -f FILE, or pipe NDJSON to standard input"));
		}
		specs[0].arg = "-";
		specs[0].is_file = 1;
		nspecs = 1;
		stdin_used = 1;
	}
	if (remote == NULL && token_file != NULL) {
		free(specs);
		return (cli_usage_error(cli, "--token-file needs --remote"));
	}
	if (remote != NULL) {
#ifdef HAVE_CURL
		if (token_file != NULL &&
		    (rc = cli_read_token(cli, token_file, &token)) != 0) {
			free(specs);
			return (rc);
		}
		rc = put_remote_run(&ps, remote, token, retry_for, specs, nspecs);
		put_close_copies(specs, nspecs);
		if (token != NULL) {
			memset(token, 0, strlen(token));
			free(token);
		}
#else
		(void)retry_for;
		(void)token;
		cli_error(cli, "--remote is not available: wtc was built "
		    "without libcurl");
		rc = EXIT_USAGE;
#endif
		free(specs);
		return (rc);
	}
	if ((rc = cli_resolve(cli)) != 0) {
		free(specs);
		return (rc);
	}

	memset(&iopts, 0, sizeof iopts);
	iopts.id_block = ps.batch_max > 1000 ? ps.batch_max : 1000;
	iopts.warn = cli_warn_cb;
	iopts.warn_arg = cli;
	if ((ps.ing = ingest_open(&cli->cfg, &iopts, &fail, &err)) == NULL) {
		cli_error(cli, "%s", err);
		free(err);
		free(specs);
		/* The summary all the same, as put --remote prints it. */
		ps.fatal = put_fail_status(fail);
		ps.start_ms = now_ms();
		put_summary(&ps);
		return (ps.fatal);
	}
	if (ingest_schema_cached(ps.ing))
		cli_info(cli, "mysql is unreachable: validating against the "
		    "schema cached in '%s'", ingest_spool_dir(ps.ing));
	ps.start_ms = ps.last_progress_ms = now_ms();
	if (ps.abort_mode && put_copy_inputs(&ps, specs, nspecs,
	    ingest_spool_dir(ps.ing)) != 0) {
		ps.fatal = EXIT_IOERR;
		goto done;
	}
	ps.batch = xcalloc(ps.batch_max, sizeof *ps.batch);
	ps.progress = isatty(STDERR_FILENO);

	/* All or nothing: a first pass validates everything, writing nothing. */
	for (pass = ps.abort_mode ? 0 : 1; pass < 2 && ps.fatal == 0; pass++) {
		for (i = 0; i < nspecs && ps.fatal == 0; i++) {
			if ((in = put_open(&ps, &specs[i], &err)) == NULL) {
				cli_error(cli, "%s", err);
				free(err);
				err = NULL;
				ps.fatal = EXIT_NOINPUT;
				break;
			}
			put_source(&ps, in, pass == 0);
			input_free(in);
		}
		if (pass == 0 && ps.rejected > 0) {
			cli_error(cli, "%llu of %llu records are bad; nothing was "
			    "written (--on-error=abort)",
			    (unsigned long long)ps.rejected,
			    (unsigned long long)ps.seen);
			break;
		}
		if (pass == 0)
			ps.seen = 0;
	}
	/*
	 * After an input that failed too: what was read before it goes, as
	 * it would have in smaller batches.  (A write that failed left no
	 * batch behind.)
	 */
	put_flush(&ps);
done:
	if (ingest_close(ps.ing, &err) != 0) {
		cli_error(cli, "%s", err);
		free(err);
		err = NULL;
		if (ps.fatal == 0)
			ps.fatal = EXIT_IOERR;
	}
	if (!no_drain && ps.accepted > 0) {
		if (drain_spawn(&cli->cfg, &err) < 0) {
			cli_error(cli, "warning: cannot start the drainer: %s "
			    "(records are safe in the spool; run 'wtc drain')",
			    err);
			free(err);
		}
	}
	put_summary(&ps);
	free(ps.batch);
	put_close_copies(specs, nspecs);
	free(specs);
	if (ps.fatal != 0)
		return (ps.fatal);
	return (ps.rejected > 0 ? EXIT_DATA : 0);
}

const struct cmd cmd_put = {
	"put",
	"write JSON records to Redis and the spool (then MySQL)",
	put_usage,
	put_run
};
