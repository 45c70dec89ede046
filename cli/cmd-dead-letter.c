/*
 * wtc dead-letter: look at the records MySQL rejected (SPOOL/
 * dead-letter.ndjson), send them through the write path again once the
 * cause is fixed, or throw them away.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "deadletter.h"
#include "drain.h"
#include "ingest.h"
#include "record.h"
#include "spool.h"

static const char dead_letter_usage[] =
"usage: wtc dead-letter [options] list\n"
"       wtc dead-letter [options] show N\n"
"       wtc dead-letter [options] retry [N...]\n"
"       wtc dead-letter [options] purge --yes [N...]\n"
"\n"
"Records that MySQL rejected (a constraint, a value out of range) are kept\n"
"in SPOOL/dead-letter.ndjson with MySQL's reason; N is a dead letter's\n"
"number in 'list'.\n"
"  list    one line per dead letter: number, time, table, error, record\n"
"  show N  the whole dead letter, indented\n"
"  retry   write the records (all, or those numbered) again through Redis\n"
"          and the spool, with the versions they had, and remove them from\n"
"          the file (a key written again since keeps its newer record);\n"
"          records that no longer pass validation stay\n"
"  purge   remove the dead letters (all, or those numbered)\n"
"retry and purge wait up to --wait seconds for a running drainer to stop.\n"
"\n"
"Options:\n"
"      --yes             purge without asking\n"
"      --no-drain        retry: do not start a background drainer\n"
"      --wait SECONDS    how long to wait for a running drainer (default 10)\n"
"\n"
"Exit status: 0 done; 64 usage; 65 some records could not be retried;\n"
"69 Redis or the schema is unavailable; 74 the file cannot be rewritten;\n"
"75 a drainer kept running.\n";

enum {
	OPT_YES = OPT_FIRST_LOCAL,
	OPT_NO_DRAIN,
	OPT_WAIT
};

/* Longest error and record shown by list, in bytes. */
#define DL_LIST_ERROR	100
#define DL_LIST_RECORD	60

struct dl {
	struct cli		*cli;
	struct deadletter_file	 f;
	int			 yes;
	int			 no_drain;
	unsigned		 wait_s;
	int			 lockfd;
	uint64_t		 requeued;	/* records retry wrote */
};

/* Append at most max bytes of s (cut on a UTF-8 boundary, '...' if cut). */
static void
dl_short(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t	n = len > max ? max : len, i;

	while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	for (i = 0; i < n; i++)
		buf_addc(b, (unsigned char)s[i] < 0x20 ? ' ' : s[i]);
	if (n < len)
		buf_adds(b, "...");
}

static int
dl_list(struct dl *d)
{
	struct buf		 b = BUF_INIT;
	const struct deadletter	*e;
	size_t			 i;

	for (i = 0; i < d->f.n; i++) {
		e = &d->f.v[i];
		buf_printf(&b, "%zu  %s  %s  ", i + 1,
		    e->time != NULL ? e->time : "-",
		    e->table != NULL ? e->table : e->raw ? "(raw frame)" : "-");
		if (e->error != NULL)
			dl_short(&b, e->error, strlen(e->error), DL_LIST_ERROR);
		else
			buf_adds(&b, "(unreadable line)");
		if (e->record != NULL) {
			buf_adds(&b, "  ");
			dl_short(&b, e->record, e->record_len, DL_LIST_RECORD);
		}
		buf_addc(&b, '\n');
	}
	if (d->f.n == 0 && !d->cli->quiet)
		cli_info(d->cli, "no dead letters in '%s'", d->f.path);
	if (b.len > 0)
		fwrite(b.data, 1, b.len, stdout);
	buf_release(&b);
	return (0);
}

/* Parse the numbers in argv into marks (1-based); EXIT_USAGE when one is bad. */
static int
dl_marks(struct dl *d, int argc, char **argv, unsigned char *marks)
{
	unsigned long long	 n;
	char			*end;
	int			 i;

	for (i = 0; i < argc; i++) {
		errno = 0;
		n = strtoull(argv[i], &end, 10);
		if (errno != 0 || *end != '\0' || *argv[i] == '-' ||
		    *argv[i] == '\0' || n == 0)
			return (cli_usage_error(d->cli, "'%s' is not a dead "
			    "letter number", argv[i]));
		if (n > d->f.n)
			return (cli_usage_error(d->cli, "no dead letter %s "
			    "(there %s %zu)", argv[i], d->f.n == 1 ? "is" : "are",
			    d->f.n));
		marks[n - 1] = 1;
	}
	return (0);
}

static int
dl_show(struct dl *d, int argc, char **argv)
{
	struct buf	 b = BUF_INIT;
	unsigned char	*marks;
	size_t		 i;
	int		 rc;

	if (argc != 1)
		return (cli_usage_error(d->cli, "show needs one dead letter "
		    "number"));
	marks = xcalloc(d->f.n + 1, 1);
	if ((rc = dl_marks(d, argc, argv, marks)) != 0)
		goto out;
	for (i = 0; i < d->f.n; i++) {
		if (!marks[i])
			continue;
		deadletter_pretty(d->f.v[i].line, d->f.v[i].len, &b);
		buf_addc(&b, '\n');
	}
	fwrite(b.data, 1, b.len, stdout);
out:
	free(marks);
	buf_release(&b);
	return (rc);
}

/* Take the drainer lock, waiting for a running drainer up to wait_s. */
static int
dl_lock(struct dl *d)
{
	uint64_t	 deadline = now_ms() + (uint64_t)d->wait_s * 1000;
	char		*err = NULL;
	int		 r;

	for (;;) {
		r = spool_lock_drainer(d->cli->cfg.spool_dir, &d->lockfd, &err);
		if (r == 1)
			return (0);
		if (r == -1) {
			cli_error(d->cli, "%s", err);
			free(err);
			return (EXIT_IOERR);
		}
		if (now_ms() >= deadline)
			break;
		usleep(100000);
	}
	cli_error(d->cli, "a drainer is running on '%s'; stop it (or let it go "
	    "idle) and try again", d->cli->cfg.spool_dir);
	return (EXIT_TEMPFAIL);
}

static int
dl_fail_status(enum ingest_fail fail)
{
	switch (fail) {
	case INGEST_FAIL_CONFIG:
		return (EXIT_USAGE);
	case INGEST_FAIL_REDIS:
	case INGEST_FAIL_REDIS_LATE:
	case INGEST_FAIL_IDS:
	case INGEST_FAIL_SCHEMA:
		return (EXIT_UNAVAILABLE);
	case INGEST_FAIL_SPOOL_DIR:
		return (EXIT_CANTCREAT);
	case INGEST_FAIL_SPOOL:
		return (EXIT_IOERR);
	default:
		return (EXIT_SOFTWARE);
	}
}

/*
 * Retry the marked entries of one table: parse each record against the
 * current schema, write those that pass in one ingest_write, and clear
 * their keep flags.  Returns 0 or an exit status (the worst seen).
 */
static int
dl_retry_table(struct dl *d, const char *table, unsigned char *marks,
    uint64_t *requeued)
{
	struct config		 cfg = d->cli->cfg;
	struct ingest_opts	 iopts;
	struct ingest		*ing = NULL;
	struct record		**recs = NULL;
	size_t			*idx = NULL, n = 0, nmarked = 0, i, j;
	enum ingest_fail	 fail;
	char			*err = NULL, *tname = NULL;
	int			 rc = 0;

	/* This table's marked entries, unmarked so that the caller moves on. */
	idx = xcalloc(d->f.n, sizeof *idx);
	for (i = 0; i < d->f.n; i++) {
		if (!marks[i] || d->f.v[i].table == NULL ||
		    strcmp(d->f.v[i].table, table) != 0)
			continue;
		marks[i] = 0;
		idx[nmarked++] = i;
	}
	/* A shallow copy with another table: ingest_open copies what it keeps. */
	cfg.table = tname = xstrdup(table);
	memset(&iopts, 0, sizeof iopts);
	iopts.warn = cli_warn_cb;
	iopts.warn_arg = d->cli;
	if ((ing = ingest_open(&cfg, &iopts, &fail, &err)) == NULL) {
		cli_error(d->cli, "table '%s': %s (its %zu dead letter%s kept)",
		    table, err, nmarked, nmarked == 1 ? "" : "s");
		rc = dl_fail_status(fail);
		goto out;
	}
	recs = xcalloc(nmarked, sizeof *recs);
	for (j = 0; j < nmarked; j++) {
		i = idx[j];
		if (ingest_parse(ing, d->f.v[i].record, d->f.v[i].record_len,
		    &recs[n], &err) != 0) {
			cli_error(d->cli, "dead letter %zu: %s (kept)", i + 1, err);
			free(err);
			err = NULL;
			rc = EXIT_DATA;
			continue;
		}
		recs[n]->version = d->f.v[i].version;
		recs[n]->flags |= RECORD_OWN_VERSION;
		idx[n++] = i;	/* n <= j: compacting in place is safe */
	}
	if (n > 0 && ingest_write(ing, recs, n, &fail, &err) != 0) {
		cli_error(d->cli, "table '%s': %s; none of its %zu dead letters "
		    "was retried", table, err, n);
		rc = dl_fail_status(fail);
		goto out;
	}
	for (i = 0; i < n; i++)
		d->f.v[idx[i]].keep = 0;
	*requeued += n;
out:
	/* ingest_write made them durable: a failing close loses nothing. */
	if (ing != NULL && ingest_close(ing, &err) != 0) {
		cli_error(d->cli, "%s", err);
		rc = EXIT_IOERR;
	}
	for (i = 0; i < n; i++)
		record_free(recs[i]);
	free(recs);
	free(idx);
	free(err);
	free(tname);
	return (rc);
}

static int
dl_retry(struct dl *d, int argc, char **argv)
{
	unsigned char	*marks;
	char		*err = NULL;
	size_t		 i;
	int		 rc, r;

	marks = xcalloc(d->f.n + 1, 1);
	if ((rc = dl_marks(d, argc, argv, marks)) != 0)
		goto out;
	if (argc == 0)
		memset(marks, 1, d->f.n);
	for (i = 0; i < d->f.n; i++) {
		if (marks[i] && (d->f.v[i].record == NULL ||
		    d->f.v[i].table == NULL)) {
			cli_error(d->cli, "dead letter %zu: %s (kept)", i + 1,
			    d->f.v[i].record == NULL ? (d->f.v[i].raw ?
			    "an undecodable spool frame cannot be retried" :
			    "no record in it") : "no table in it");
			marks[i] = 0;
			rc = EXIT_DATA;
		}
	}
	/* One ingest per table, in the order the tables first appear. */
	for (i = 0; i < d->f.n; i++) {
		if (!marks[i])
			continue;
		/* It clears the marks of every entry of that table. */
		if ((r = dl_retry_table(d, d->f.v[i].table, marks,
		    &d->requeued)) > rc)
			rc = r;
	}
	if (d->requeued > 0 && deadletter_rewrite(&d->f, &err) != 0) {
		cli_error(d->cli, "%s (the %llu records retried may be retried "
		    "again later: harmless, they carry the same versions)", err,
		    (unsigned long long)d->requeued);
		free(err);
		rc = EXIT_IOERR;
	}
	cli_info(d->cli, "%llu of %zu dead letter%s retried",
	    (unsigned long long)d->requeued, argc == 0 ? d->f.n : (size_t)argc,
	    (argc == 0 ? d->f.n : (size_t)argc) == 1 ? "" : "s");
out:
	free(marks);
	return (rc);
}

/* Ask on the terminal; 1 for yes. */
static int
dl_confirm(struct dl *d, size_t n)
{
	char	answer[16];

	if (!isatty(STDIN_FILENO))
		return (0);
	fprintf(stderr, "wtc dead-letter: remove %zu dead letter%s from '%s'? "
	    "[y/N] ", n, n == 1 ? "" : "s", d->f.path);
	fflush(stderr);
	if (fgets(answer, sizeof answer, stdin) == NULL)
		return (0);
	return (answer[0] == 'y' || answer[0] == 'Y');
}

static int
dl_purge(struct dl *d, int argc, char **argv)
{
	unsigned char	*marks;
	char		*err = NULL;
	size_t		 i, n = 0;
	int		 rc;

	marks = xcalloc(d->f.n + 1, 1);
	if ((rc = dl_marks(d, argc, argv, marks)) != 0)
		goto out;
	if (argc == 0)
		memset(marks, 1, d->f.n);
	for (i = 0; i < d->f.n; i++)
		n += marks[i];
	if (n == 0) {
		cli_info(d->cli, "no dead letters in '%s'", d->f.path);
		goto out;
	}
	if (!d->yes && !dl_confirm(d, n)) {
		rc = isatty(STDIN_FILENO) ? 0 : cli_usage_error(d->cli,
		    "purge removes dead letters for good: give --yes");
		if (rc == 0)
			cli_info(d->cli, "nothing removed");
		goto out;
	}
	for (i = 0; i < d->f.n; i++) {
		if (marks[i])
			d->f.v[i].keep = 0;
	}
	if (deadletter_rewrite(&d->f, &err) != 0) {
		cli_error(d->cli, "%s", err);
		free(err);
		rc = EXIT_IOERR;
		goto out;
	}
	cli_info(d->cli, "removed %zu dead letter%s", n, n == 1 ? "" : "s");
out:
	free(marks);
	return (rc);
}

static int
dead_letter_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "yes", no_argument, NULL, OPT_YES },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_dead_letter;
	struct dl		 d;
	const char		*verb;
	char			*err = NULL, *path = NULL, *end;
	unsigned long		 w;
	int			 ch, rc, writes;

	memset(&d, 0, sizeof d);
	d.cli = cli;
	d.lockfd = -1;
	d.wait_s = 10;
	opterr = 0;
	/* Options may follow the verb ("purge --yes"): permute. */
	while ((ch = getopt_long(argc, argv, ":qv", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_YES:
			d.yes = 1;
			break;
		case OPT_NO_DRAIN:
			d.no_drain = 1;
			break;
		case OPT_WAIT:
			errno = 0;
			w = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '-' ||
			    *optarg == '\0' || w > 3600)
				return (cli_usage_error(cli, "invalid value '%s' "
				    "for --wait", optarg));
			d.wait_s = (unsigned)w;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_dead_letter, ch,
			    optarg)) > 1)
				return (rc);
		}
	}
	if (optind == argc)
		return (cli_usage_error(cli, "give list, show, retry or purge"));
	verb = argv[optind++];
	argc -= optind;
	argv += optind;
	if (strcmp(verb, "list") == 0) {
		if (argc != 0)
			return (cli_usage_error(cli, "unexpected argument '%s'",
			    argv[0]));
	} else if (strcmp(verb, "show") != 0 && strcmp(verb, "retry") != 0 &&
	    strcmp(verb, "purge") != 0)
		return (cli_usage_error(cli, "unknown action '%s': give list, "
		    "show, retry or purge", verb));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);

	/* The drainer appends to the file: no rewrite while one runs. */
	writes = strcmp(verb, "retry") == 0 || strcmp(verb, "purge") == 0;
	if (writes && (rc = dl_lock(&d)) != 0)
		return (rc);
	path = xasprintf("%s/%s", cli->cfg.spool_dir, DRAIN_DEAD_LETTER_FILE);
	if (deadletter_load(path, &d.f, &err) != 0) {
		cli_error(cli, "%s", err);
		rc = EXIT_IOERR;
		goto out;
	}
	if (strcmp(verb, "list") == 0)
		rc = dl_list(&d);
	else if (strcmp(verb, "show") == 0)
		rc = dl_show(&d, argc, argv);
	else if (strcmp(verb, "retry") == 0) {
		if (d.f.n == 0 && argc == 0)
			cli_info(cli, "no dead letters in '%s'", path);
		else
			rc = dl_retry(&d, argc, argv);
	} else
		rc = dl_purge(&d, argc, argv);
	if (fflush(stdout) != 0) {
		cli_error(cli, "cannot write to standard output");
		rc = EXIT_IOERR;
	}
out:
	if (d.lockfd != -1)
		close(d.lockfd);
	/* Retried records are in the spool: have them drained. */
	if (d.requeued > 0 && !d.no_drain && drain_spawn(&cli->cfg, &err) < 0) {
		cli_error(cli, "warning: cannot start the drainer: %s (run "
		    "'wtc drain')", err);
	}
	free(err);
	free(path);
	deadletter_release(&d.f);
	return (rc);
}

const struct cmd cmd_dead_letter = {
	"dead-letter",
	"list, show, retry or purge the records MySQL rejected",
	dead_letter_usage,
	dead_letter_run
};
