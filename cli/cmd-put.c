/*
 * wtc put: read JSON records from arguments, files or standard input and
 * write them through: Redis now, the fsync'd spool before we say so, MySQL
 * by the drainer.
 */
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
#ifdef HAVE_REMOTE
#include "remote.h"
#endif

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
"      --remote URL      send the records to a 'wtc serve' at URL instead\n";

enum {
	OPT_ON_ERROR = OPT_FIRST_LOCAL,
	OPT_BATCH,
	OPT_MAX_LINE,
	OPT_JSON,
	OPT_NO_DRAIN,
	OPT_REMOTE
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
	case INGEST_FAIL_SCHEMA:
		return (EXIT_UNAVAILABLE);
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
		if (r == -1) {
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
	char		 label[32];
};

static struct input *
put_open(struct put_state *ps, struct put_source_spec *s)
{
	struct input	*in;
	char		*err = NULL;

	if (!s->is_file)
		return (input_open_string(s->label, s->arg, ps->max_line));
	if ((in = input_open_file(s->arg, ps->max_line, &err)) == NULL) {
		cli_error(ps->cli, "%s", err);
		free(err);
	}
	return (in);
}

/* Copy standard input to an unlinked temporary file, for a second pass. */
static int
put_stdin_to_temp(struct put_state *ps, const char *dir)
{
	char	*path, chunk[65536];
	ssize_t	 n;
	int	 fd;

	path = xasprintf("%s/stdin.XXXXXX", dir);
	if ((fd = mkstemp(path)) == -1) {
		cli_error(ps->cli, "cannot create temporary file '%s': %s", path,
		    strerror(errno));
		free(path);
		return (-1);
	}
	unlink(path);
	free(path);
	while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || write_all(fd, chunk, (size_t)n) != 0) {
			cli_error(ps->cli, "cannot copy standard input: %s",
			    strerror(errno));
			close(fd);
			return (-1);
		}
	}
	if (lseek(fd, 0, SEEK_SET) == -1 || dup2(fd, STDIN_FILENO) == -1) {
		cli_error(ps->cli, "cannot rewind standard input copy: %s",
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
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
	const char		*remote = NULL;
	int			 ch, rc, no_drain = 0, pass, stdin_used = 0;
	unsigned long long	 v;

	memset(&ps, 0, sizeof ps);
	ps.cli = cli;
	ps.batch_max = 4096;
	ps.max_line = INPUT_DEFAULT_MAX_ITEM;
	specs = xcalloc((size_t)argc + 1, sizeof *specs);

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+f:qv", longopts, NULL)) != -1) {
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
		case '?':
			free(specs);
			return (cli_bad_option(cli, argv));
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
	if ((rc = cli_resolve(cli)) != 0) {
		free(specs);
		return (rc);
	}

	if (remote != NULL) {
#ifdef HAVE_REMOTE
		rc = remote_put_main(cli, remote, specs, nspecs);
#else
		cli_error(cli, "--remote is not available: wtc was built "
		    "without libcurl");
		rc = EXIT_USAGE;
#endif
		free(specs);
		return (rc);
	}

	memset(&iopts, 0, sizeof iopts);
	iopts.id_block = ps.batch_max > 1000 ? ps.batch_max : 1000;
	if ((ps.ing = ingest_open(&cli->cfg, &iopts, &fail, &err)) == NULL) {
		cli_error(cli, "%s", err);
		free(err);
		free(specs);
		return (put_fail_status(fail));
	}
	if (ingest_schema_cached(ps.ing))
		cli_info(cli, "mysql is unreachable: validating against the "
		    "schema cached in '%s'", ingest_spool_dir(ps.ing));
	if (ps.abort_mode && stdin_used &&
	    put_stdin_to_temp(&ps, ingest_spool_dir(ps.ing)) != 0) {
		ps.fatal = EXIT_IOERR;
		goto done;
	}
	ps.batch = xcalloc(ps.batch_max, sizeof *ps.batch);
	ps.progress = isatty(STDERR_FILENO);
	ps.start_ms = ps.last_progress_ms = now_ms();

	/* All or nothing: a first pass validates everything, writing nothing. */
	for (pass = ps.abort_mode ? 0 : 1; pass < 2 && ps.fatal == 0; pass++) {
		for (i = 0; i < nspecs && ps.fatal == 0; i++) {
			if ((in = put_open(&ps, &specs[i])) == NULL) {
				ps.fatal = EXIT_NOINPUT;
				break;
			}
			put_source(&ps, in, pass == 0);
			input_free(in);
			if (pass == 0 && stdin_used && specs[i].is_file &&
			    strcmp(specs[i].arg, "-") == 0)
				lseek(STDIN_FILENO, 0, SEEK_SET);
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
	if (ps.fatal == 0)
		put_flush(&ps);
	else
		for (i = 0; i < ps.nbatch; i++)
			record_free(ps.batch[i]);
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
