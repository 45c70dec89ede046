/*
 * The drainer: reads the spool in order, groups frames into batches, lands
 * each table's part of a batch with db_upsert, and moves the checkpoint only
 * once every part committed and every dead letter of the batch is fsync'd.
 * drain.h states the contract and the failure policy; drain_spawn starts a
 * detached "wtc drain --background" for put.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "drain.h"
#include "record.h"
#include "schema.h"
#include "spool.h"
#include "util.h"

#define DRAIN_BATCH_MAX		10000
/*
 * At the live end of the spool a batch is what came in DRAIN_BATCH_MS.
 * Short batches cut MySQL's work into short slices: beside serve at 35k
 * requests/s on two cores, 50 ms batches gave a p99 of 4.6-4.9 ms, 10 ms
 * batches 3.2-3.5 ms, for the same throughput.  A backlog fills whole
 * batches at once, whatever this says.
 */
#define DRAIN_BATCH_MS		10
#define DRAIN_TIMEOUT_S		5
#define DRAIN_POLL_MS		10	/* waiting for the rest of a batch */
#define DRAIN_IDLE_MAX_MS	50	/* longest nap with nothing to do */
#define DRAIN_BACKOFF_MIN_MS	100
#define DRAIN_BACKOFF_MAX_MS	30000
#define DRAIN_STATE_MS		500	/* state file rewritten at most this often */
#define DRAIN_HEARTBEAT_MS	2000	/* ... and at least this often */
#define DRAIN_RATE_MS		1000	/* window of the "rate" in the state */
#define DRAIN_IDLE_CHECK_MS	250	/* idle-exit checks at most this often */
#define DRAIN_DB_IDLE_MS	30000	/* reconnect a connection idle this long */
#define DRAIN_SLICE_MS		50	/* sleeps are cut up to notice *stop */
#define DRAIN_ER_BAD_FIELD	1054	/* unknown column: the table changed */
#define DRAIN_ER_NO_PARENT	1452	/* a foreign key's row is missing */
#define DRAIN_RESERVE_MS	10000	/* remade at most this often */

struct drain_table {
	char		*name;
	struct schema	*schema;	/* NULL until loaded */
	uint64_t	 checked_ms;	/* schema found current after a 1054/1146 */
	struct record	**recs;		/* this batch's records for the table */
	size_t		 n;
	size_t		 cap;

	/*
	 * While the table does not exist (or cannot take records), its
	 * records are held in DIR/held-NAME and the rest goes on.
	 */
	int		 missing;	/* hold its records without trying */
	int		 held;		/* DIR/held-NAME may hold records */
	struct spool_writer *hold;	/* open on DIR/held-NAME */
	struct record	**hq;		/* to hold once the batch has landed */
	size_t		 nhq;
	size_t		 hqcap;
	uint64_t	 check_ms;	/* when to look for the table again */
	char		*why;		/* why its held records wait, or NULL */
	uint64_t	 reload_ms;	/* schema last read for an unknown column */
	unsigned	 attempt;
	/* Older versions the batch's dedupe set aside, for drain_fk_retry. */
	struct record	**older;
	size_t		 nolder;
};

struct drain {
	struct drain_opts	 o;
	volatile sig_atomic_t	*stop;
	struct drain_stats	*st;
	const char		*dir;
	struct mysql_addr	 addr;
	int			 lockfd;
	struct spool_reader	*rd;
	struct db		*db;
	uint64_t		 db_used_ms;

	struct drain_table	*tables;
	size_t			 ntables;

	struct record		**batch;	/* decoded records, spool order */
	size_t			 nbatch;
	struct spool_pos	 pos;		/* the batch's last frame */
	int			 havepos;
	uint64_t		 oldest_ver;	/* smallest version not landed yet */
	uint64_t		 dead;		/* the batch's dead letters ... */
	uint64_t		 dead_raw;	/* ... of which undecodable */
	uint64_t		 held;		/* the batch's records held */
	size_t			*fk_tbl;	/* records whose foreign key's row */
	struct record		**fk_recs;	/* was missing, and their tables, */
	size_t			 nfk, capfk;	/* tried again after the batch */
	int			 fk_late;	/* that second try: no more waiting */
	struct buf		 dl;		/* their lines, written at commit */
	int			 dlfd;

	char			*fail_msg;	/* transient failure being retried */
	char			*save_msg;	/* why the checkpoint lags, or NULL */
	uint64_t		 save_ms;	/* when spool_save was last tried */
	uint64_t		 fail_count;
	uint64_t		 fail_since;
	unsigned		 attempt;
	int			 gave_up;

	uint64_t		 reserve_ms;	/* last try to make DIR/reserve */
	int			 pid_written;	/* DIR/drain.pid is ours */
	int			 pid_failed;	/* ... and once failed */
	const char		*state;
	const char		*state_written;
	uint64_t		 started;	/* unix seconds */
	uint64_t		 state_ms;
	uint64_t		 state_sum;	/* counters at the last write */
	uint64_t		 rate_ms;
	uint64_t		 rate_landed;
	double			 rate;
	uint32_t		 rng;
	struct buf		 tmp;
};

static void
drain_log(struct drain *d, const char *fmt, ...) WTC_PRINTF(2, 3);

static void
drain_log(struct drain *d, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (d->o.log == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	d->o.log(d->o.log_arg, msg);
	free(msg);
}

static void
drain_warn(void *arg, const char *msg)
{
	struct drain	*d = arg;

	d->st->damaged++;
	drain_log(d, "%s", msg);
}

static uint32_t
drain_random(struct drain *d)
{
	uint32_t	x = d->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return (d->rng = x);
}

unsigned
drain_backoff_ms(unsigned attempt, uint32_t rnd)
{
	unsigned	cap = DRAIN_BACKOFF_MIN_MS;

	while (attempt-- > 0 && cap < DRAIN_BACKOFF_MAX_MS)
		cap *= 2;
	if (cap > DRAIN_BACKOFF_MAX_MS)
		cap = DRAIN_BACKOFF_MAX_MS;
	return (rnd % (cap + 1));
}

/* The next back-off of a series (*attempt counts them): milliseconds. */
static unsigned
drain_backoff_next(struct drain *d, unsigned *attempt)
{
	unsigned	ms;

	ms = drain_backoff_ms(*attempt, drain_random(d));
	if (*attempt < 32)
		(*attempt)++;
	return (ms);
}

static void
drain_nap(unsigned ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}


/* Replace DIR/name with data: tmp file, then rename. */
static int
drain_write_file(struct drain *d, const char *name, const char *data,
    size_t len)
{
	char	*path, *tmp;
	int	 fd, rc = -1;

	path = xasprintf("%s/%s", d->dir, name);
	tmp = xasprintf("%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		goto out;
	if (write_all(fd, data, len) != 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(path);
	return (rc);
}

static void
drain_write_pid(struct drain *d)
{
	char	line[32];
	int	n;

	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (drain_write_file(d, DRAIN_PID_FILE, line, (size_t)n) == 0) {
		d->pid_written = 1;
		return;
	}
	/* drain_state tries again: without it status finds no drainer. */
	if (!d->pid_failed)
		drain_log(d, "cannot write '%s/%s': %s", d->dir,
		    DRAIN_PID_FILE, strerror(errno));
	d->pid_failed = 1;
}

static void
drain_remove_pid(struct drain *d)
{
	char	*path;

	path = xasprintf("%s/%s", d->dir, DRAIN_PID_FILE);
	unlink(path);
	free(path);
	d->pid_written = 0;
}

/* Write DIR/drain.state if due (or force): see drain.h. */
static void
drain_state(struct drain *d, int force)
{
	struct drain_stats	*st = d->st;
	uint64_t		 now = now_ms(), sum, lag = 0, real, t;
	struct buf		*b = &d->tmp;

	sum = st->landed + st->batches + st->dead + st->retries + st->damaged;
	if (!force) {
		if (now - d->state_ms < DRAIN_STATE_MS)
			return;
		if (sum == d->state_sum && d->state == d->state_written &&
		    now - d->state_ms < DRAIN_HEARTBEAT_MS)
			return;
	}
	if (now - d->rate_ms >= DRAIN_RATE_MS) {
		d->rate = (double)(st->landed - d->rate_landed) * 1000.0 /
		    (double)(now - d->rate_ms);
		d->rate_ms = now;
		d->rate_landed = st->landed;
	}
	real = now_us_real();
	if ((t = record_version_us(d->oldest_ver)) != 0 &&
	    t < real)
		lag = (real - t) / 1000;

	buf_reset(b);
	buf_printf(b, "{\"pid\":%ld,\"state\":\"%s\",\"started\":%" PRIu64
	    ",\"updated\":%" PRIu64 ",\"landed\":%" PRIu64 ",\"batches\":%"
	    PRIu64 ",\"dead\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"damaged\":%"
	    PRIu64 ",\"rate\":%.0f,\"lag_ms\":%" PRIu64 ",\"last_error\":",
	    (long)getpid(), d->state, d->started, real / 1000000, st->landed,
	    st->batches, st->dead, st->retries, st->damaged, d->rate, lag);
	json_quote(b, st->last_error, strlen(st->last_error));
	buf_adds(b, "}\n");
	/* The state is advisory: a failure to write it is not worth a log line each time. */
	(void)drain_write_file(d, DRAIN_STATE_FILE, b->data, b->len);
	if (!d->pid_written && d->lockfd != -1)
		drain_write_pid(d);
	d->state_ms = now;
	d->state_sum = sum;
	d->state_written = d->state;
}

/* Sleep ms in slices, keeping the state fresh; 1 if *stop was set meanwhile. */
static int
drain_sleep(struct drain *d, unsigned ms)
{
	uint64_t	end = now_ms() + ms, now;

	while (!*d->stop && (now = now_ms()) < end) {
		drain_nap(end - now > DRAIN_SLICE_MS ? DRAIN_SLICE_MS :
		    (unsigned)(end - now));
		drain_state(d, 0);
	}
	return (*d->stop != 0);
}

/* Dead letters ------------------------------------------------------------ */

static void
drain_dead_head(struct buf *b)
{
	struct tm	tm;
	time_t		t = time(NULL);
	char		when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(b, "{\"time\":\"%s\"", when);
}

/* An undecodable frame payload: kept as hex with the reason. */
static void
drain_dead_raw(struct drain *d, const void *p, size_t len, const char *why)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*u = p;
	struct buf		*b = &d->dl;
	size_t			 i;

	drain_dead_head(b);
	buf_adds(b, ",\"error\":");
	json_quote(b, why, strlen(why));
	buf_adds(b, ",\"raw\":\"");
	buf_grow(b, 2 * len);
	for (i = 0; i < len; i++) {
		b->data[b->len++] = hex[u[i] >> 4];
		b->data[b->len++] = hex[u[i] & 15];
	}
	buf_adds(b, "\"}\n");
	d->dead++;
	d->dead_raw++;
	drain_log(d, "dead letter: spool segment '%s' frame ending at offset "
	    "%" PRIu64 ": %s", d->pos.segment, d->pos.offset, why);
}

static void
drain_dead_rec(struct drain *d, const struct record *rec, const char *why)
{
	struct buf	*b = &d->dl;

	drain_dead_head(b);
	buf_adds(b, ",\"table\":");
	json_quote(b, rec->table, strlen(rec->table));
	buf_printf(b, ",\"version\":%" PRIu64 ",\"error\":", rec->version);
	json_quote(b, why, strlen(why));
	buf_adds(b, ",\"record\":");
	record_to_json(rec, b);
	buf_adds(b, "}\n");
	d->dead++;
	drain_log(d, "dead letter: table '%s' version %" PRIu64 ": %s",
	    rec->table, rec->version, why);
}

/*
 * Append the batch's dead letters to DIR/dead-letter.ndjson, durably.  A
 * failed append (a full disk) is cut back off, so the next one does not
 * glue its first line to a torn one; a torn last line left by a crash gets
 * its line end first.
 */
static int
drain_dead_flush(struct drain *d, char **err)
{
	struct stat	 sb;
	char		*path, last;
	int		 rc = -1, e;

	if (d->dl.len == 0)
		return (0);
	path = xasprintf("%s/%s", d->dir, DRAIN_DEAD_LETTER_FILE);
	if (d->dlfd == -1 && (d->dlfd = open(path, O_RDWR | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0600)) == -1) {
		err_set(err, "cannot open dead letter file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (fstat(d->dlfd, &sb) != 0) {
		err_set(err, "cannot read dead letter file '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (sb.st_size > 0 && (pread(d->dlfd, &last, 1, sb.st_size - 1) != 1 ||
	    last != '\n') && write_all(d->dlfd, "\n", 1) != 0)
		goto write_fail;
	if (write_all(d->dlfd, d->dl.data, d->dl.len) != 0 ||
	    fsync(d->dlfd) != 0)
		goto write_fail;
	buf_reset(&d->dl);
	rc = 0;
	goto out;
write_fail:
	e = errno;
	err_set(err, "cannot write dead letter file '%s': %s", path,
	    strerror(e));
	if (ftruncate(d->dlfd, sb.st_size) != 0) {
		/* The next append starts a new line after the torn one. */
	}
fail:
	close(d->dlfd);
	d->dlfd = -1;
out:
	free(path);
	return (rc);
}

/* Dedupe -------------------------------------------------------------------- */

static uint64_t
drain_hash(const char *p, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/*
 * Append rec's primary key values to out, each prefixed by its length so
 * that ("a:b","c") and ("a","b:c") differ.  -1 when a value is missing.
 */
static int
drain_key(const struct record *rec, const struct schema *s, struct buf *out)
{
	const struct rec_field	*f;
	size_t			 k, i;

	for (k = 0; k < s->npk; k++) {
		f = NULL;
		for (i = 0; i < rec->nfields; i++) {
			if (rec->fields[i].col == (int)s->pk[k]) {
				f = &rec->fields[i];
				break;
			}
		}
		if (f == NULL || f->type == REC_NULL)
			return (-1);
		buf_add(out, &f->len, sizeof f->len);
		buf_add(out, f->val, f->len);
	}
	return (0);
}

size_t
drain_dedupe(struct record **recs, size_t n, const struct schema *s,
    struct record **older, size_t *nolder)
{
	struct buf	 keys = BUF_INIT;
	size_t		*off, *len, *slot, nslots, i, j, kept = 0, mask;
	uint64_t	 h;

	if (n < 2)
		return (n);
	for (nslots = 16; nslots < 2 * n; nslots *= 2)
		/* nothing */;
	mask = nslots - 1;
	slot = xcalloc(nslots, sizeof *slot);	/* survivor index + 1, or 0 */
	off = xreallocarray(NULL, n, sizeof *off);
	len = xreallocarray(NULL, n, sizeof *len);
	for (i = 0; i < n; i++) {
		off[kept] = keys.len;
		if (drain_key(recs[i], s, &keys) != 0) {
			/* No key: keep it as is, MySQL will say what is wrong. */
			keys.len = off[kept];
			len[kept] = 0;
			recs[kept++] = recs[i];
			continue;
		}
		len[kept] = keys.len - off[kept];
		h = drain_hash(keys.data + off[kept], len[kept]);
		for (j = (size_t)h & mask; slot[j] != 0; j = (j + 1) & mask) {
			if (len[slot[j] - 1] == len[kept] &&
			    memcmp(keys.data + off[slot[j] - 1], keys.data +
			    off[kept], len[kept]) == 0)
				break;
		}
		if (slot[j] == 0) {
			slot[j] = kept + 1;
			recs[kept++] = recs[i];
			continue;
		}
		/* Seen: the later one wins unless it is older. */
		keys.len = off[kept];
		if (recs[i]->version >= recs[slot[j] - 1]->version) {
			if (older != NULL)
				older[(*nolder)++] = recs[slot[j] - 1];
			recs[slot[j] - 1] = recs[i];
		} else if (older != NULL)
			older[(*nolder)++] = recs[i];
	}
	free(len);
	free(off);
	free(slot);
	buf_release(&keys);
	return (kept);
}

/* Landing ------------------------------------------------------------------- */

static void
drain_forget_schemas(struct drain *d)
{
	size_t	i;

	for (i = 0; i < d->ntables; i++) {
		schema_free(d->tables[i].schema);
		d->tables[i].schema = NULL;
	}
}

static void
drain_disconnect(struct drain *d)
{
	db_free(d->db);
	d->db = NULL;
	drain_forget_schemas(d);
}

static struct drain_table *
drain_table(struct drain *d, const char *name)
{
	struct drain_table	*t;
	size_t			 i;

	for (i = 0; i < d->ntables; i++) {
		if (strcmp(d->tables[i].name, name) == 0)
			return (&d->tables[i]);
	}
	d->tables = xreallocarray(d->tables, d->ntables + 1, sizeof *d->tables);
	t = &d->tables[d->ntables++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	return (t);
}

static int
drain_no_table(struct drain *d, const char *table, char **err)
{
	if (d->addr.database != NULL)
		return (err_set(err, "table '%s.%s' does not exist; run 'wtc "
		    "init'", d->addr.database, table));
	return (err_set(err, "table '%s' does not exist; run 'wtc init'",
	    table));
}

/*
 * The failure being retried is over: the last error is now why a table's
 * records are held, if any are, else nothing.
 */
static void
drain_error_clear(struct drain *d)
{
	size_t	i;

	for (i = 0; i < d->ntables; i++) {
		if (d->tables[i].why != NULL) {
			snprintf(d->st->last_error, sizeof d->st->last_error,
			    "%s", d->tables[i].why);
			return;
		}
	}
	d->st->last_error[0] = '\0';
}

/*
 * Read the table's schema from MySQL: 0; -1 (transient); -2 when the table
 * does not exist or wtc cannot use it (*err says which).
 */
static int
drain_load_schema(struct drain *d, struct drain_table *t, struct schema **out,
    char **err)
{
	int	r;

	if ((r = db_load_schema(d->db, t->name, out, err)) != 0)
		return (r == -2 ? -2 : -1);
	if (*out == NULL) {
		drain_no_table(d, t->name, err);
		return (-2);
	}
	if ((*out)->version_col < 0) {
		schema_free(*out);
		*out = NULL;
		err_set(err, "table '%s' has no %s column; run 'wtc init'",
		    t->name, SCHEMA_VERSION_COLUMN);
		return (-2);
	}
	return (0);
}

/*
 * MySQL said that a column (1054) or a table (1146) does not exist: did
 * the table change under us?  Returns 0 when it is as we have it (a
 * trigger's statement failed: MySQL rejects the data), -1 when it changed
 * (load it again and retry), -2 with *err when it is gone.
 */
static int
drain_check_schema(struct drain *d, struct drain_table *t, char **err)
{
	struct schema	*now = NULL;
	struct buf	 a = BUF_INIT, b = BUF_INIT;
	char		*e = NULL;
	int		 r, same;

	/* Checked a moment ago: a split's next failure is the same one. */
	if (t->checked_ms != 0 && now_ms() - t->checked_ms < 1000)
		return (0);
	if ((r = drain_load_schema(d, t, &now, &e)) != 0) {
		if (r == -2)
			*err = e;
		else
			free(e);
		return (r);
	}
	schema_to_text(t->schema, &a);
	schema_to_text(now, &b);
	same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
	buf_release(&a);
	buf_release(&b);
	schema_free(now);
	if (!same)
		return (-1);
	t->checked_ms = now_ms();
	return (0);
}

/*
 * Connect if needed and load the table's schema: 0; -1 (transient); -2
 * when the table does not exist or wtc cannot use it (*err says which).
 */
static int
drain_prepare(struct drain *d, struct drain_table *t, char **err)
{
	int	r;

	if (d->db != NULL && now_ms() - d->db_used_ms > DRAIN_DB_IDLE_MS)
		drain_disconnect(d);
	if (d->db == NULL && (d->db = db_connect(&d->addr,
	    d->o.mysql_timeout_s, err)) == NULL)
		return (-1);
	d->db_used_ms = now_ms();
	if (t->schema != NULL)
		return (0);
	if ((r = drain_load_schema(d, t, &t->schema, err)) != 0)
		return (r);
	t->checked_ms = 0;
	return (0);
}

/*
 * Upsert recs; when MySQL rejects the data, split in halves until each
 * culprit is alone and dead-letter it.  Returns 0; -1 with *err for a
 * transient failure (the caller rewinds the whole batch); -2 with *err
 * when the table is gone (the caller holds its records).
 */
static int
drain_upsert(struct drain *d, struct drain_table *t, struct record **recs,
    size_t n, char **err)
{
	char		*e = NULL;
	unsigned	 no;
	size_t		 half;
	int		 transient, rc;

	if (n == 0)
		return (0);
	if (db_upsert(d->db, t->schema, recs, n, &transient, &e) == 0)
		return (0);
	if (transient) {
		*err = e;
		return (-1);
	}
	no = db_last_errno(d->db);
	if (no == DB_ER_NO_SUCH_TABLE || no == DRAIN_ER_BAD_FIELD) {
		/*
		 * Gone, or changed under us (load it again and retry)?  If
		 * it is as we have it, a trigger's statement failed: MySQL
		 * rejects the data.
		 */
		if ((rc = drain_check_schema(d, t, err)) != 0) {
			schema_free(t->schema);
			t->schema = NULL;
			if (rc == -2)
				free(e);
			else
				*err = e;
			return (rc);
		}
	}
	if (n == 1 && no == DRAIN_ER_NO_PARENT && !d->fk_late) {
		/*
		 * The row its foreign key names may land later in this batch:
		 * in a table landed after this one, or in this one after the
		 * slot the dedupe gave it.  Try it again after the rest.
		 */
		if (d->nfk == d->capfk) {
			d->capfk = d->capfk == 0 ? 16 : d->capfk * 2;
			d->fk_tbl = xreallocarray(d->fk_tbl, d->capfk,
			    sizeof *d->fk_tbl);
			d->fk_recs = xreallocarray(d->fk_recs, d->capfk,
			    sizeof *d->fk_recs);
		}
		d->fk_tbl[d->nfk] = (size_t)(t - d->tables);
		d->fk_recs[d->nfk++] = recs[0];
		free(e);
		return (0);
	}
	if (n == 1) {
		recs[0]->flags |= RECORD_REJECTED;
		drain_dead_rec(d, recs[0], e);
		free(e);
		return (0);
	}
	free(e);
	half = n / 2;
	if ((rc = drain_upsert(d, t, recs, half, err)) != 0)
		return (rc);
	return (drain_upsert(d, t, recs + half, n - half, err));
}

/*
 * A record MySQL rejected (dead-lettered) leaves its key to the newest of
 * the older versions of it that the batch held, which lands as it would
 * have in a batch of its own (else it was lost with the newer one); if
 * MySQL rejects that one too, the next, and so on.  Returns as
 * drain_upsert.
 */
static int
drain_land_older(struct drain *d, struct drain_table *t, struct record **recs,
    size_t n, struct record **older, size_t *nolderp, char **err)
{
	size_t		 nolder = *nolderp;
	struct buf	 keys = BUF_INIT, key = BUF_INIT;
	struct record	**cand, **cur;
	size_t		*end, nkeys, ncand, kept, i, j, from;
	int		 rc = 0;

	if (nolder == 0)
		return (0);
	cand = xreallocarray(NULL, nolder, sizeof *cand);
	cur = xreallocarray(NULL, nolder, sizeof *cur);
	end = xreallocarray(NULL, n > nolder ? n : nolder, sizeof *end);
	for (;;) {
		/* The keys of this round's rejected records. */
		buf_reset(&keys);
		for (i = nkeys = 0; i < n; i++) {
			if ((recs[i]->flags & RECORD_REJECTED) == 0 ||
			    drain_key(recs[i], t->schema, &keys) != 0)
				continue;
			end[nkeys++] = keys.len;
		}
		for (i = ncand = kept = 0; i < nolder && nkeys > 0; i++) {
			buf_reset(&key);
			if (drain_key(older[i], t->schema, &key) == 0) {
				for (j = from = 0; j < nkeys; from = end[j++]) {
					if (end[j] - from == key.len &&
					    memcmp(keys.data + from, key.data,
					    key.len) == 0)
						break;
				}
				if (j < nkeys) {
					cand[ncand++] = older[i];
					continue;
				}
			}
			older[kept++] = older[i];
		}
		if (ncand == 0)
			break;
		nolder = kept;
		n = drain_dedupe(cand, ncand, t->schema, older, &nolder);
		if ((rc = drain_upsert(d, t, cand, n, err)) != 0)
			break;
		/* The next round looks at what this one rejected. */
		recs = cand;
		cand = cur;
		cur = recs;
	}
	*nolderp = nolder;
	free(end);
	free(cur);
	free(cand);
	buf_release(&key);
	buf_release(&keys);
	return (rc);
}

/*
 * Hold recs: they are written to the table's held spool once the rest of
 * the batch has landed (drain_hold_write), so that a batch read again
 * after a failure does not hold them twice.
 */
static void
drain_hold(struct drain_table *t, struct record **recs, size_t n)
{
	if (t->nhq + n > t->hqcap) {
		t->hqcap = t->nhq + n < 64 ? 64 : (t->nhq + n) * 2;
		t->hq = xreallocarray(t->hq, t->hqcap, sizeof *t->hq);
	}
	memcpy(t->hq + t->nhq, recs, n * sizeof *recs);
	t->nhq += n;
}

/* Write what the batch holds for t and sync it: 0, or -1 with *err. */
static int
drain_hold_write(struct drain *d, struct drain_table *t, char **err)
{
	struct buf	 b = BUF_INIT;
	uint64_t	 seq = 0;
	const void	**p;
	char		*path;
	size_t		*len, n = t->nhq;
	int		 rc = -1;

	if (n == 0)
		return (0);
	if (t->hold == NULL) {
		path = spool_held_dir(d->dir, t->name);
		t->hold = spool_writer_open(path, err);
		free(path);
		if (t->hold == NULL)
			return (-1);
	}
	t->held = 1;
	p = xreallocarray(NULL, n, sizeof *p);
	len = xreallocarray(NULL, n, sizeof *len);
	record_encode_all(t->hq, n, &b, p, len);
	if (spool_appendv(t->hold, p, len, n, &seq, err) != 0 ||
	    spool_sync(t->hold, seq, err) != 0)
		goto out;
	d->held += n;
	t->nhq = 0;
	rc = 0;
out:
	free(len);
	free(p);
	buf_release(&b);
	return (rc);
}

/*
 * The table does not exist or cannot take records (why, owned): hold recs
 * and look for it again later.
 */
static void
drain_missing(struct drain *d, struct drain_table *t, struct record **recs,
    size_t n, char *why)
{
	char	*path;

	if (!t->missing) {
		path = spool_held_dir(d->dir, t->name);
		drain_log(d, "%s: holding its records in '%s' until it can "
		    "take them; the other tables go on", why, path);
		free(path);
		t->missing = 1;
	}
	free(t->why);
	t->why = why;
	snprintf(d->st->last_error, sizeof d->st->last_error, "%s", why);
	t->check_ms = now_ms() + drain_backoff_next(d, &t->attempt);
	drain_hold(t, recs, n);
}

/* Bind rec to s: the index of a field s does not know, or -1. */
static int
drain_unbound(struct record *rec, const struct schema *s)
{
	size_t	j;

	record_bind(rec, s);
	for (j = 0; j < rec->nfields; j++) {
		if (rec->fields[j].col < 0)
			return ((int)j);
	}
	return (-1);
}

/*
 * The index of a field for a generated column, or -1.  put refuses them,
 * but one that validated against a schema cache from before wtc knew
 * generated columns may be in the spool, and the upsert leaves such a
 * column out: its value must not vanish unsaid.
 */
static int
drain_generated(const struct record *rec, const struct schema *s)
{
	size_t	j;

	for (j = 0; j < rec->nfields; j++) {
		if (rec->fields[j].col >= 0 &&
		    s->cols[rec->fields[j].col].generated)
			return ((int)j);
	}
	return (-1);
}

/* Land one table's part of the batch: 0, or -1 (transient). */
static int
drain_land_table(struct drain *d, struct drain_table *t, char **err)
{
	struct record	*rec, **older, **all;
	struct schema	*fresh = NULL;
	char		*why = NULL;
	size_t		 i, kept = 0, nolder = 0, nall;
	int		 rc, k;

	if (t->missing) {
		drain_hold(t, t->recs, t->n);
		return (0);
	}
	if ((rc = drain_prepare(d, t, &why)) == -2) {
		drain_missing(d, t, t->recs, t->n, why);
		return (0);
	}
	if (rc != 0) {
		*err = why;
		return (-1);
	}
	/*
	 * A column the schema we have does not know: the table may have
	 * gained it since we read it (put and serve read it afresh).  Read
	 * it again, at most once a second, before calling the record bad.
	 */
again:
	for (i = kept = 0; i < t->n; i++) {
		rec = t->recs[i];
		if ((k = drain_unbound(rec, t->schema)) >= 0 && fresh == NULL) {
			/*
			 * Read a moment ago: wait out the second rather than
			 * call a record bad whose column was added since.
			 */
			if (now_ms() - t->reload_ms < 1000 && drain_sleep(d,
			    (unsigned)(1000 - (now_ms() - t->reload_ms)))) {
				*err = xstrdup("stopping");
				return (-1);
			}
			t->reload_ms = now_ms();
			rc = drain_load_schema(d, t, &fresh, &why);
			if (rc == -2) {
				schema_free(t->schema);
				t->schema = NULL;
				drain_missing(d, t, t->recs, t->n, why);
				return (0);
			}
			if (rc != 0) {
				*err = why;
				return (-1);
			}
			schema_free(t->schema);
			t->schema = fresh;
			goto again;
		}
		if (k >= 0) {
			why = xasprintf("column '%s' is not in table '%s'",
			    rec->fields[k].name, t->name);
			drain_dead_rec(d, rec, why);
			free(why);
			continue;
		}
		if ((k = drain_generated(rec, t->schema)) >= 0) {
			why = xasprintf("column '%s' of table '%s' is generated: "
			    "mysql computes it and refuses a value for it",
			    rec->fields[k].name, t->name);
			drain_dead_rec(d, rec, why);
			free(why);
			continue;
		}
		t->recs[kept++] = rec;
	}
	older = xreallocarray(NULL, kept > 0 ? kept : 1, sizeof *older);
	t->n = drain_dedupe(t->recs, kept, t->schema, older, &nolder);
	if ((rc = drain_upsert(d, t, t->recs, t->n, &why)) == 0)
		rc = drain_land_older(d, t, t->recs, t->n, older, &nolder, &why);
	if (rc == -2) {
		/* Gone in the middle: hold all of the part not dead-lettered. */
		all = xreallocarray(NULL, t->n + nolder + 1, sizeof *all);
		for (i = nall = 0; i < t->n + nolder; i++) {
			rec = i < t->n ? t->recs[i] : older[i - t->n];
			if ((rec->flags & RECORD_REJECTED) == 0)
				all[nall++] = rec;
		}
		drain_missing(d, t, all, nall, why);
		free(all);
		rc = 0;
	} else if (rc != 0)
		*err = why;
	/* Kept for drain_fk_retry: a record it refuses leaves its key to these. */
	free(t->older);
	t->older = older;
	t->nolder = nolder;
	return (rc);
}

/*
 * After spool_commit or spool_save returned r (with *err): 1 means landed
 * but the checkpoint file is behind (a full disk): say so once per cause,
 * and carry on; records landed since may land again after a crash, which
 * is harmless.  Leaves *err set only for -1.
 */
static void
drain_saved(struct drain *d, int r, char **err)
{
	if (r == 1) {
		if (d->save_msg == NULL || strcmp(d->save_msg, *err) != 0) {
			drain_log(d, "%s; carrying on, the checkpoint is written "
			    "once it can be", *err);
			free(d->save_msg);
			d->save_msg = *err;
		} else
			free(*err);
		*err = NULL;
		snprintf(d->st->last_error, sizeof d->st->last_error, "%s",
		    d->save_msg);
		d->save_ms = now_ms();
		return;
	}
	if (r == 0 && d->save_msg != NULL) {
		drain_log(d, "spool checkpoint written again");
		free(d->save_msg);
		d->save_msg = NULL;
		drain_error_clear(d);
	}
}

/* Make DIR/reserve if there is room (see spool_reserve), now and then. */
static void
drain_reserve_make(struct drain *d)
{
	if (d->reserve_ms != 0 && now_ms() - d->reserve_ms < DRAIN_RESERVE_MS)
		return;
	d->reserve_ms = now_ms();
	spool_reserve(d->dir);
}

/*
 * A write of the batch failed (*err), a full disk most likely: if the
 * reserve is there, give it up and return 1 (try again), else 0.
 */
static int
drain_reserve_use(struct drain *d, char **err)
{
	if (!spool_reserve_release(d->dir))
		return (0);
	drain_log(d, "%s; gave up the spool's reserve (%s) to write it", *err,
	    SPOOL_RESERVE_FILE);
	free(*err);
	*err = NULL;
	d->reserve_ms = now_ms();
	return (1);
}

/* Land the batch and move the checkpoint past it: 0, or -1 (transient). */
/*
 * Land again, one at a time and in batch order, the records whose foreign
 * key's row was missing at their first try: refused now, they are dead
 * letters.  0, or -1 with *err (a transient failure: the batch goes again).
 */
static int
drain_fk_retry(struct drain *d, char **err)
{
	struct drain_table	*t;
	char			*why = NULL;
	size_t			 i;
	int			 rc = 0;

	d->fk_late = 1;
	for (i = 0; i < d->nfk && rc == 0; i++) {
		t = &d->tables[d->fk_tbl[i]];
		if (t->missing) {
			drain_hold(t, &d->fk_recs[i], 1);
			continue;
		}
		rc = drain_upsert(d, t, &d->fk_recs[i], 1, &why);
		/* Refused for good: its key goes to the newest older version. */
		if (rc == 0 && (d->fk_recs[i]->flags & RECORD_REJECTED) != 0)
			rc = drain_land_older(d, t, &d->fk_recs[i], 1, t->older,
			    &t->nolder, &why);
		if (rc == -2) {
			drain_missing(d, t, &d->fk_recs[i], 1, why);
			rc = 0;
		} else if (rc != 0)
			*err = why;
		why = NULL;
	}
	d->fk_late = 0;
	d->nfk = 0;
	return (rc == 0 ? 0 : -1);
}

static int
drain_land(struct drain *d, char **err)
{
	struct drain_table	*t = NULL;
	struct record		*rec;
	size_t			 i;

	for (i = 0; i < d->ntables; i++) {
		d->tables[i].n = d->tables[i].nhq = d->tables[i].nolder = 0;
		free(d->tables[i].older);
		d->tables[i].older = NULL;
	}
	d->nfk = 0;
	for (i = 0; i < d->nbatch; i++) {
		rec = d->batch[i];
		if (t == NULL || strcmp(t->name, rec->table) != 0)
			t = drain_table(d, rec->table);
		if (t->n == t->cap) {
			t->cap = t->cap == 0 ? 64 : t->cap * 2;
			t->recs = xreallocarray(t->recs, t->cap, sizeof *t->recs);
		}
		t->recs[t->n++] = rec;
	}
	for (i = 0; i < d->ntables; i++) {
		if (d->tables[i].n > 0 &&
		    drain_land_table(d, &d->tables[i], err) != 0)
			return (-1);
	}
	if (d->nfk > 0 && drain_fk_retry(d, err) != 0)
		return (-1);
	for (i = 0; i < d->ntables; i++) {
		if (drain_hold_write(d, &d->tables[i], err) != 0 &&
		    (!drain_reserve_use(d, err) ||
		    drain_hold_write(d, &d->tables[i], err) != 0))
			return (-1);
	}
	if (drain_dead_flush(d, err) != 0 && (!drain_reserve_use(d, err) ||
	    drain_dead_flush(d, err) != 0))
		return (-1);
	drain_saved(d, spool_commit(d->rd, &d->pos, err), err);
	return (*err == NULL ? 0 : -1);
}

/* Forget the batch in memory (landed, or to be read again). */
static void
drain_drop_batch(struct drain *d)
{
	size_t	i;

	for (i = 0; i < d->nbatch; i++)
		record_free(d->batch[i]);
	d->nbatch = 0;
	d->havepos = 0;
	d->dead = d->dead_raw = 0;
	d->held = 0;
	buf_reset(&d->dl);
}

static void
drain_landed(struct drain *d)
{
	struct drain_stats	*st = d->st;

	st->landed += d->nbatch - (d->dead - d->dead_raw) - d->held;
	st->dead += d->dead;
	st->held += d->held;
	st->batches++;
	if (d->fail_msg != NULL) {
		drain_log(d, "landing again after %" PRIu64 " failed attempt%s",
		    d->fail_count, d->fail_count == 1 ? "" : "s");
		free(d->fail_msg);
		d->fail_msg = NULL;
		drain_error_clear(d);
	}
	d->fail_count = 0;
	d->fail_since = 0;
	d->attempt = 0;
	d->oldest_ver = 0;
	drain_drop_batch(d);
}

/*
 * A transient failure (msg, owned): read the batch again later, from a
 * fresh connection.  Logs each distinct message once, then a count now
 * and then.  Returns 1 when it is time to give up (once with retry_for).
 */
static int
drain_failed(struct drain *d, char *msg)
{
	struct drain_stats	*st = d->st;
	uint64_t		 now = now_ms(), left;
	unsigned		 ms;

	spool_rewind(d->rd);
	drain_drop_batch(d);
	drain_disconnect(d);
	st->retries++;
	snprintf(st->last_error, sizeof st->last_error, "%s", msg);
	if (d->fail_since == 0)
		d->fail_since = now;
	d->fail_count++;
	if (d->fail_msg == NULL || strcmp(d->fail_msg, msg) != 0) {
		drain_log(d, "%s; will retry", msg);
		free(d->fail_msg);
		d->fail_msg = msg;
	} else {
		if (d->fail_count % 10 == 0 && (d->fail_count <= 100 ||
		    d->fail_count % 100 == 0))
			drain_log(d, "still failing after %" PRIu64 " attempts: "
			    "%s", d->fail_count, msg);
		free(msg);
	}
	d->state = "retrying";
	drain_state(d, 0);

	ms = drain_backoff_next(d, &d->attempt);
	if (d->o.once && d->o.retry_for_ms > 0) {
		if (now - d->fail_since >= d->o.retry_for_ms) {
			drain_log(d, "giving up after %" PRIu64 " failed "
			    "attempt%s", d->fail_count, d->fail_count == 1 ?
			    "" : "s");
			d->gave_up = 1;
			return (1);
		}
		left = d->o.retry_for_ms - (now - d->fail_since);
		if (ms > left)
			ms = (unsigned)left;
	}
	drain_sleep(d, ms);
	return (0);
}

/* Reading ------------------------------------------------------------------- */

static void
drain_frame(struct drain *d, const void *p, size_t len)
{
	struct record	*rec;
	char		*err = NULL;

	if (record_decode(p, len, &rec, &err) != 0) {
		drain_dead_raw(d, p, len, err);
		free(err);
		return;
	}
	if (rec->version != 0 && (d->oldest_ver == 0 ||
	    rec->version < d->oldest_ver))
		d->oldest_ver = rec->version;
	d->batch[d->nbatch++] = rec;
}

/*
 * Read a batch: up to batch_max records, or what came within batch_ms of
 * the first.  Returns 1 with a batch, 0 when there was nothing to read,
 * -1 with *err.
 */
static int
drain_fill(struct drain *d, char **err)
{
	const void		*p;
	struct spool_pos	 pos;
	uint64_t		 start = 0, waited;
	size_t			 len;
	int			 r;

	while (d->nbatch < d->o.batch_max) {
		if ((r = spool_read(d->rd, &p, &len, &pos, err)) == -1)
			return (-1);
		if (r == 1) {
			if (!d->havepos)
				start = now_ms();
			d->pos = pos;
			d->havepos = 1;
			drain_frame(d, p, len);
			continue;
		}
		if (!d->havepos)
			return (0);
		if (d->o.once || *d->stop)
			break;
		if ((waited = now_ms() - start) >= d->o.batch_ms)
			break;
		drain_nap(d->o.batch_ms - waited > DRAIN_POLL_MS ? DRAIN_POLL_MS :
		    (unsigned)(d->o.batch_ms - waited));
	}
	return (1);
}

/* Held tables --------------------------------------------------------------- */

/*
 * Land what DIR/held-NAME holds, the table being usable again: 0, or -1
 * (with *err unless the table went missing again, which was said).
 */
static int
drain_unhold(struct drain *d, struct drain_table *t, char **err)
{
	struct spool_reader	*rd, *main_rd = d->rd;
	struct spool_stats	 ss;
	char			*path;
	int			 once = d->o.once, r, rc = -1;

	path = spool_held_dir(d->dir, t->name);
	if (t->hold != NULL) {
		r = spool_writer_close(t->hold, err);
		t->hold = NULL;
		if (r != 0)
			goto out;	/* its records were synced: not lost */
	}
	if ((rd = spool_reader_open(path, drain_warn, d, err)) == NULL)
		goto out;
	d->rd = rd;
	d->o.once = 1;		/* nobody writes there: no waiting for more */
	while (!*d->stop && !t->missing) {
		if ((r = drain_fill(d, err)) == 0) {
			rc = 0;
			break;
		}
		if (r == -1 || drain_land(d, err) != 0) {
			spool_rewind(d->rd);
			drain_drop_batch(d);
			drain_disconnect(d);
			break;
		}
		drain_landed(d);
	}
	d->o.once = once;
	d->rd = main_rd;
	spool_reader_free(rd);
	if (rc == 0 && (spool_stat(path, &ss, NULL, err) != 0 ||
	    (ss.records == 0 && spool_destroy(path, err) != 0)))
		rc = -1;
	if (rc == 0 && ss.records > 0)
		rc = -1;
out:
	free(path);
	return (rc);
}

/*
 * Why t's held records cannot land (msg, owned), or NULL once they have:
 * logged once per cause, and kept as the last error (for status and the
 * exit of drain --once) while any table's records are held.
 */
static void
drain_held_error(struct drain *d, struct drain_table *t, char *msg)
{
	if (msg == NULL) {
		free(t->why);
		t->why = NULL;
		drain_error_clear(d);
		return;
	}
	if (t->why == NULL || strcmp(t->why, msg) != 0)
		drain_log(d, "%s: table '%s' keeps its records held", msg,
		    t->name);
	free(t->why);
	t->why = msg;
	snprintf(d->st->last_error, sizeof d->st->last_error, "%s", msg);
}

/*
 * Look again for the tables whose records are held, those that are due (or
 * all, with force), and land the records of those that can take them.
 */
static void
drain_held_poll(struct drain *d, int force)
{
	struct drain_table	*t;
	char			*err = NULL;
	size_t			 i;
	int			 r;

	for (i = 0; i < d->ntables && !*d->stop; i++) {
		t = &d->tables[i];
		if (!t->held || (!force && now_ms() < t->check_ms))
			continue;
		if ((r = drain_prepare(d, t, &err)) == 0) {
			if (t->missing)
				drain_log(d, "table '%s' can take records "
				    "again: landing the ones held", t->name);
			t->missing = 0;
			if (drain_unhold(d, t, &err) == 0) {
				t->held = 0;
				t->attempt = 0;
				drain_held_error(d, t, NULL);
				continue;
			}
			if (err != NULL)
				drain_held_error(d, t, err);
			err = NULL;
		} else {
			if (r == -2) {
				t->missing = 1;
				drain_held_error(d, t, err);
			} else
				free(err);
			err = NULL;
		}
		t->check_ms = now_ms() + drain_backoff_next(d, &t->attempt);
	}
}

/* Tables held by an earlier drainer: look for them first thing. */
static void
drain_held_load(struct drain *d)
{
	struct drain_table	*t;
	char			**names, *err = NULL;
	size_t			 i, n;

	if (spool_held_tables(d->dir, &names, &n, &err) != 0) {
		drain_log(d, "%s", err);
		free(err);
		return;
	}
	for (i = 0; i < n; i++) {
		t = drain_table(d, names[i]);
		t->held = t->missing = 1;
		free(names[i]);
	}
	free(names);
}

/* Idle exit ----------------------------------------------------------------- */

/* Whether a writer holds any segment open (its exclusive flock). */
static int
drain_live_writer(const char *dir)
{
	struct dirent	*de;
	DIR		*dp;
	size_t		 n;
	int		 fd, live = 0;

	if ((dp = opendir(dir)) == NULL)
		return (0);
	while (!live && (de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 9 || strncmp(de->d_name, "seg-", 4) != 0 ||
		    strcmp(de->d_name + n - 4, ".wtc") != 0)
			continue;
		if ((fd = openat(dirfd(dp), de->d_name, O_RDONLY | O_CLOEXEC)) ==
		    -1)
			continue;
		/* Closing fd drops our shared lock, if we got it. */
		if (flock(fd, LOCK_SH | LOCK_NB) != 0)
			live = 1;
		close(fd);
	}
	closedir(dp);
	return (live);
}

/*
 * Nothing to do for idle_exit_ms: leave if the spool is empty and nobody
 * writes.  To strand nothing, release the lock and look again: records
 * that arrived meanwhile are ours if we can take the lock back, else the
 * new drainer's.  Returns 1 to leave, 0 to carry on.
 */
static int
drain_idle_exit(struct drain *d)
{
	struct spool_stats	 ss;
	struct spool_reader	*rd;
	char			*err = NULL;
	int			 r;

	if (spool_stat(d->dir, &ss, NULL, &err) != 0) {
		drain_log(d, "%s", err);
		free(err);
		return (0);
	}
	if (ss.records > 0 || drain_live_writer(d->dir))
		return (0);

	d->state = "stopped";
	drain_state(d, 1);
	drain_remove_pid(d);
	close(d->lockfd);
	d->lockfd = -1;
	/* Whoever takes the lock may rewrite the dead-letter file: reopen it later. */
	if (d->dlfd != -1) {
		close(d->dlfd);
		d->dlfd = -1;
	}

	if (spool_stat(d->dir, &ss, NULL, &err) != 0) {
		drain_log(d, "%s", err);
		free(err);
		return (1);
	}
	if (ss.records == 0)
		return (1);
	if ((r = spool_lock_drainer(d->dir, &d->lockfd, &err)) != 1) {
		if (r == -1) {
			drain_log(d, "%s", err);
			free(err);
		}
		return (1);
	}
	/* Another drainer may have moved the checkpoint: read it again. */
	if ((rd = spool_reader_open(d->dir, drain_warn, d, &err)) == NULL) {
		drain_log(d, "%s", err);
		free(err);
		close(d->lockfd);
		d->lockfd = -1;
		return (1);
	}
	spool_reader_free(d->rd);
	d->rd = rd;
	drain_write_pid(d);
	d->state = "idle";
	return (0);
}

/* The loop ------------------------------------------------------------------ */

static void
drain_loop(struct drain *d)
{
	uint64_t	 last_read = now_ms(), last_check = 0, now;
	unsigned	 idle_ms = 1;
	char		*err = NULL;
	int		 r;

	while (!*d->stop) {
		drain_held_poll(d, 0);
		if ((r = drain_fill(d, &err)) == -1) {
			if (drain_failed(d, err))
				break;
			err = NULL;
			continue;
		}
		if (r == 0) {
			if (d->o.once) {
				drain_held_poll(d, 1);
				break;
			}
			d->oldest_ver = 0;
			d->state = "idle";
			drain_state(d, 0);
			now = now_ms();
			drain_reserve_make(d);
			if (d->save_msg != NULL && now - d->save_ms >= 1000) {
				d->save_ms = now;
				drain_saved(d, spool_save(d->rd, &err), &err);
			}
			if (d->o.idle_exit_ms > 0 &&
			    now - last_check >= DRAIN_IDLE_CHECK_MS) {
				last_check = now;
				/* The time runs from the last writer, too. */
				if (drain_live_writer(d->dir))
					last_read = now;
				else if (now - last_read >= d->o.idle_exit_ms &&
				    drain_idle_exit(d))
					break;
			}
			drain_nap(idle_ms);
			if ((idle_ms *= 2) > DRAIN_IDLE_MAX_MS)
				idle_ms = DRAIN_IDLE_MAX_MS;
			continue;
		}
		idle_ms = 1;
		last_read = now_ms();
		if (d->fail_msg == NULL)
			d->state = "draining";
		drain_state(d, 0);
		if (drain_land(d, &err) == 0) {
			d->state = "draining";
			drain_landed(d);
			continue;
		}
		if (drain_failed(d, err))
			break;
		err = NULL;
	}
}

int
drain_run(const struct config *cfg, const struct drain_opts *opts,
    volatile sig_atomic_t *stop, struct drain_stats *st, char **err)
{
	struct drain		 d;
	struct spool_stats	 ss;
	char			*e = NULL;
	size_t			 i;
	int			 r, rc = -1;

	memset(st, 0, sizeof *st);
	memset(&d, 0, sizeof d);
	d.o = *opts;
	if (d.o.batch_max == 0)
		d.o.batch_max = DRAIN_BATCH_MAX;
	if (d.o.batch_ms == 0)
		d.o.batch_ms = DRAIN_BATCH_MS;
	if (d.o.mysql_timeout_s <= 0)
		d.o.mysql_timeout_s = DRAIN_TIMEOUT_S;
	d.stop = stop;
	d.st = st;
	d.dir = cfg->spool_dir;
	d.lockfd = -1;
	d.dlfd = -1;
	d.state = "draining";
	d.started = now_us_real() / 1000000;
	d.rate_ms = now_ms();
	d.rng = (uint32_t)(now_us_real() ^ ((uint64_t)getpid() << 16)) | 1;
	buf_init(&d.dl);
	buf_init(&d.tmp);

	if (d.dir == NULL || *d.dir == '\0')
		return (err_set(err, "no spool directory configured"));
	if (config_mysql_addr(cfg, &d.addr, err) != 0)
		return (-1);
	if ((r = spool_lock_drainer(d.dir, &d.lockfd, err)) != 1) {
		config_mysql_addr_release(&d.addr);
		return (r == 0 ? 1 : -1);
	}
	drain_write_pid(&d);
	if ((d.rd = spool_reader_open(d.dir, drain_warn, &d, err)) == NULL)
		goto out;
	d.batch = xreallocarray(NULL, d.o.batch_max, sizeof *d.batch);
	drain_held_load(&d);
	drain_reserve_make(&d);
	drain_state(&d, 1);

	drain_loop(&d);

	drain_drop_batch(&d);
	if (d.save_msg != NULL) {
		drain_saved(&d, spool_save(d.rd, &e), &e);
		if (d.save_msg != NULL)
			drain_log(&d, "stopping with the spool checkpoint "
			    "behind: records landed since it may land again");
	}
	if (d.o.idle_exit_ms == 0 || d.lockfd != -1 || d.gave_up) {
		if (spool_stat(d.dir, &ss, NULL, &e) != 0) {
			drain_log(&d, "%s", e);
			free(e);
		} else
			st->left = ss.records;
	}
	rc = 0;
out:
	if (d.lockfd != -1) {
		d.state = "stopped";
		drain_state(&d, 1);
		drain_remove_pid(&d);
		close(d.lockfd);
	}
	drain_disconnect(&d);
	for (i = 0; i < d.ntables; i++) {
		if (d.tables[i].hold != NULL &&
		    spool_writer_close(d.tables[i].hold, &e) != 0) {
			drain_log(&d, "%s", e);
			free(e);
			e = NULL;
		}
		free(d.tables[i].name);
		free(d.tables[i].recs);
		free(d.tables[i].older);
		free(d.tables[i].hq);
		free(d.tables[i].why);
	}
	free(d.tables);
	free(d.batch);
	free(d.fk_tbl);
	free(d.fk_recs);
	spool_reader_free(d.rd);
	if (d.dlfd != -1)
		close(d.dlfd);
	free(d.fail_msg);
	free(d.save_msg);
	buf_release(&d.dl);
	buf_release(&d.tmp);
	config_mysql_addr_release(&d.addr);
	return (rc);
}

/* Spawning ------------------------------------------------------------------ */

/* Close every descriptor above 2 (an inherited segment fd would hold its writer's flock). */
static void
drain_close_fds(void)
{
	struct dirent	*de;
	DIR		*dp;
	long		 fd, max;
	int		 self;
	char		*end;

	if ((dp = opendir("/proc/self/fd")) != NULL) {
		self = dirfd(dp);
		while ((de = readdir(dp)) != NULL) {
			fd = strtol(de->d_name, &end, 10);
			if (*end == '\0' && end != de->d_name && fd > 2 &&
			    fd != self)
				close((int)fd);
		}
		closedir(dp);
		return;
	}
	if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		close((int)fd);
}

static void
drain_setenv(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
}

/* In the grandchild: become "wtc drain --background"; never returns. */
static void
drain_child(const struct config *cfg, const char *exe)
{
	static char	 arg0[] = "wtc", arg1[] = "drain",
			 arg2[] = "--background", arg3[] = "--idle-exit",
			 arg4[] = "2";
	char		*argv[] = { arg0, arg1, arg2, arg3, arg4, NULL };
	char		*spool, *conf = NULL, *optfile = NULL, *log;
	sigset_t	 none;
	int		 fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);

	/* We leave the working directory: relative paths must not change meaning. */
	if (mkdir_p(cfg->spool_dir, 0700) != 0 ||
	    (spool = realpath(cfg->spool_dir, NULL)) == NULL)
		_exit(73);
	if (cfg->config_file != NULL &&
	    (conf = realpath(cfg->config_file, NULL)) == NULL)
		conf = xstrdup(cfg->config_file);
	if (cfg->mysql_option_file != NULL &&
	    (optfile = realpath(cfg->mysql_option_file, NULL)) == NULL)
		optfile = xstrdup(cfg->mysql_option_file);
	drain_setenv("WTC_REDIS_URL", cfg->redis_url);
	drain_setenv("WTC_MYSQL_URL", cfg->mysql_url);
	drain_setenv("WTC_SPOOL", spool);
	drain_setenv("WTC_TABLE", cfg->table);
	drain_setenv("WTC_PREFIX", cfg->prefix);
	drain_setenv("WTC_CONFIG", conf);
	/* Absolute: the drainer works in '/'. */
	drain_setenv("WTC_MYSQL_OPTION_FILE", optfile);

	log = xasprintf("%s/%s", spool, DRAIN_LOG_FILE);
	if ((fd = open("/dev/null", O_RDWR)) == -1 || dup2(fd, 0) == -1)
		_exit(127);
	if (fd > 2)
		close(fd);
	if ((fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600)) == -1 ||
	    dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
		_exit(127);
	if (fd > 2)
		close(fd);
	drain_close_fds();
	if (chdir("/") != 0)
		_exit(127);
	execv(exe, argv);
	_exit(127);
}

int
drain_spawn(const struct config *cfg, char **err)
{
	pid_t	pid, w;
	int	status, fd, r;
	char	*exe;

	if (cfg->spool_dir == NULL || *cfg->spool_dir == '\0')
		return (err_set(err, "no spool directory configured"));
	/* A quick look; the drainer itself takes the lock for real. */
	if ((r = spool_lock_drainer(cfg->spool_dir, &fd, err)) != 1)
		return (r);
	close(fd);

	exe = self_exe();
	if ((pid = fork()) == -1) {
		free(exe);
		return (err_set(err, "cannot start the drainer: %s",
		    strerror(errno)));
	}
	if (pid == 0) {
		if (setsid() == -1 || (pid = fork()) != 0) {
			free(exe);	/* this middle process only exits */
			_exit(pid > 0 ? 0 : 1);
		}
		drain_child(cfg, exe);
	}
	free(exe);
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		/* nothing */;
	if (w == -1) {
		if (errno == ECHILD)	/* SIGCHLD ignored: reaped for us */
			return (1);
		return (err_set(err, "cannot start the drainer: %s",
		    strerror(errno)));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return (err_set(err, "cannot start the drainer: fork failed"));
	return (1);
}
