/*
 * The write path: schema loading (and its cache in the spool directory),
 * id allocation, version stamping, spool append + group commit, Redis.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "db.h"
#include "ingest.h"
#include "record.h"
#include "spool.h"
#include "util.h"

#define INGEST_CACHE_MAGIC "wtc-schema-cache 1\n"

/* Writes of at least this many records fsync on a thread of their own. */
#define INGEST_THREAD_MIN 1024

struct ingest {
	char			*dir;
	char			*table;
	char			*prefix;
	struct redis_addr	 raddr;
	struct ingest_opts	 opts;

	struct schema		*schema;
	int			 schema_cached;
	struct spool_writer	*spool;

	pthread_mutex_t		 lock;		/* guards everything below */
	struct cache		**pool;		/* idle Redis connections */
	size_t			 npool;
	uint64_t		 id_next;	/* reserved ids [id_next, id_end) */
	uint64_t		 id_end;
	uint64_t		 id_floor;	/* MySQL's max id when we started */
	uint64_t		 id_given;	/* the largest id a record brought */
	uint64_t		 version_last;
	unsigned		 version_tag;
	int			 ids_fd;	/* this process's ids-* file, or -1 */
	char			*ids_path;
	int			 ver_fd;	/* SPOOL/versions, or -1 */
	uint64_t		 ver_saved_ms;
};

#define INGEST_VERSIONS_FILE	"versions"
#define INGEST_VERSIONS_MS	1000	/* save the highest version this often */

uint64_t
ingest_version_next(uint64_t now_us, uint64_t last, unsigned tag)
{
	uint64_t	v;

	v = (now_us << 12) | (tag & 0xfff);
	return (v > last ? v : last + 1);
}

/* "KIND-TABLE" with the table name kept tame (it may hold any character). */
static void
ingest_table_name(struct buf *b, const char *kind, const char *table)
{
	buf_printf(b, "%s-", kind);
	buf_add_tame(b, table);
}

char *
ingest_schema_cache_path(const char *dir, const char *table)
{
	struct buf	 b = BUF_INIT;

	buf_printf(&b, "%s/", dir);
	ingest_table_name(&b, "schema", table);
	buf_adds(&b, ".cache");
	return (buf_detach(&b, NULL));
}

static void
ingest_warn(struct ingest *ing, const char *fmt, ...) WTC_PRINTF(2, 3);

static void
ingest_warn(struct ingest *ing, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (ing->opts.warn == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	ing->opts.warn(ing->opts.warn_arg, msg);
	free(msg);
}

/* Write the schema and the id floor to the cache file, atomically. */
static int
ingest_cache_save(const struct ingest *ing, char **err)
{
	struct buf	 b = BUF_INIT;
	char		*path, *tmp;
	int		 fd = -1, rc = -1;

	path = ingest_schema_cache_path(ing->dir, ing->table);
	tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	buf_adds(&b, INGEST_CACHE_MAGIC);
	buf_printf(&b, "floor %llu\n", (unsigned long long)ing->id_floor);
	schema_to_text(ing->schema, &b);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
		err_set(err, "cannot write schema cache '%s': %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		err_set(err, "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	free(path);
	buf_release(&b);
	return (rc);
}

/* Read the schema cache; 0, or -1 with *err (ENOENT: errno set). */
static int
ingest_cache_load(struct ingest *ing, char **err)
{
	struct buf		 b = BUF_INIT;
	char			*path, chunk[8192], *p, *e;
	ssize_t			 n;
	int			 fd, rc = -1;
	unsigned long long	 floor;

	path = ingest_schema_cache_path(ing->dir, ing->table);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err_set(err, "cannot open schema cache '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err_set(err, "cannot read schema cache '%s': %s", path,
			    strerror(errno));
			goto out;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	p = b.data;
	if (b.len < strlen(INGEST_CACHE_MAGIC) ||
	    strncmp(p, INGEST_CACHE_MAGIC, strlen(INGEST_CACHE_MAGIC)) != 0) {
		err_set(err, "schema cache '%s' is not in a known format", path);
		goto out;
	}
	p += strlen(INGEST_CACHE_MAGIC);
	if (sscanf(p, "floor %llu", &floor) != 1 ||
	    (e = strchr(p, '\n')) == NULL) {
		err_set(err, "schema cache '%s' is damaged", path);
		goto out;
	}
	e++;
	if ((ing->schema = schema_from_text(e, b.len - (size_t)(e - b.data),
	    err)) == NULL)
		goto out;
	ing->id_floor = floor;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(path);
	buf_release(&b);
	return (rc);
}

/*
 * The schema, from MySQL when it answers (refreshing the cache), else from
 * the cache.  A table MySQL says does not exist is an error even if a cache
 * exists: the cache is only for outages.
 */
static int
ingest_load_schema(struct ingest *ing, const struct config *cfg,
    enum ingest_fail *fail, char **err)
{
	struct mysql_addr	 maddr;
	struct db		*db = NULL;
	char			*dberr = NULL, *cerr = NULL;
	uint64_t		 maxid = 0;
	int			 rc = -1;

	if (config_mysql_addr(cfg, &maddr, err) != 0) {
		*fail = INGEST_FAIL_CONFIG;
		return (-1);
	}
	if ((db = db_connect(&maddr, ing->opts.mysql_timeout_s, &dberr)) != NULL &&
	    db_load_schema(db, ing->table, &ing->schema, &dberr) == 0) {
		if (ing->schema == NULL) {
			*fail = INGEST_FAIL_SCHEMA;
			err_set(err, "table '%s' does not exist in database '%s' "
			    "(run 'wtc init' to create it)", ing->table,
			    maddr.database != NULL ? maddr.database : "?");
			goto out;
		}
		if (ing->schema->id_col >= 0 &&
		    db_max_id(db, ing->schema, &maxid, &dberr) != 0)
			goto fallback;
		ing->id_floor = maxid;
		/*
		 * Only a later start with MySQL down needs the cache: a full
		 * disk must not stop this one (a serve's drainer is what
		 * gives the space back).
		 */
		if (ingest_cache_save(ing, &cerr) != 0) {
			ingest_warn(ing, "%s", cerr);
			free(cerr);
			cerr = NULL;
		}
		rc = 0;
		goto out;
	}
fallback:
	schema_free(ing->schema);
	ing->schema = NULL;
	if (ingest_cache_load(ing, &cerr) != 0) {
		*fail = INGEST_FAIL_SCHEMA;
		err_set(err, "cannot read the schema of table '%s': %s; and no "
		    "usable cached copy (%s)", ing->table, dberr, cerr);
		goto out;
	}
	ing->schema_cached = 1;
	rc = 0;
out:
	if (rc == 0 && ing->schema->version_col < 0) {
		*fail = INGEST_FAIL_SCHEMA;
		err_set(err, "table '%s' has no column '%s' for wtc's versions "
		    "(run 'wtc init' to add it)", ing->table,
		    SCHEMA_VERSION_COLUMN);
		rc = -1;
	}
	free(dberr);
	free(cerr);
	db_free(db);
	config_mysql_addr_release(&maddr);
	return (rc);
}

/*
 * Versions come from the real time clock, which can be stepped back (NTP,
 * a VM moved): a process started after that would stamp its writes below
 * those of the process before it, and lose to them.  So the highest
 * version handed out is kept in SPOOL/versions (the highest of every
 * process's, at most INGEST_VERSIONS_MS old), and a process starts above
 * it.
 */

/* The number a small file of ours (versions, ids-*) holds, or 0. */
static uint64_t
ingest_number_read(int fd)
{
	char	text[32];
	ssize_t	n;

	if ((n = pread(fd, text, sizeof text - 1, 0)) <= 0)
		return (0);
	text[n] = '\0';
	return (strtoull(text, NULL, 10));
}

/* Write v as the number the file holds (fixed width: no ftruncate). */
static int
ingest_number_write(int fd, uint64_t v)
{
	char	text[32];
	int	n;

	n = snprintf(text, sizeof text, "%020" PRIu64 "\n", v);
	return (pwrite(fd, text, (size_t)n, 0) == n ? 0 : -1);
}

/* Raise the file to version_last (lock held); a failure only narrows the guard. */
static void
ingest_versions_save(struct ingest *ing)
{
	if (ing->ver_fd == -1)
		return;
	ing->ver_saved_ms = now_ms();
	if (flock(ing->ver_fd, LOCK_EX) != 0)
		return;
	if (ing->version_last > ingest_number_read(ing->ver_fd) &&
	    ingest_number_write(ing->ver_fd, ing->version_last) == 0)
		fdatasync(ing->ver_fd);
	flock(ing->ver_fd, LOCK_UN);
}

struct ingest *
ingest_open(const struct config *cfg, const struct ingest_opts *opts,
    enum ingest_fail *fail, char **err)
{
	struct ingest	*ing;
	struct cache	*c;
	char		*path;

	*fail = INGEST_OK;
	ing = xcalloc(1, sizeof *ing);
	pthread_mutex_init(&ing->lock, NULL);
	ing->dir = xstrdup(cfg->spool_dir);
	ing->table = xstrdup(cfg->table);
	ing->prefix = xstrdup(cfg->prefix != NULL ? cfg->prefix : "");
	ing->version_tag = (unsigned)getpid();
	ing->ids_fd = ing->ver_fd = -1;
	if (opts != NULL)
		ing->opts = *opts;
	if (ing->opts.redis_timeout_ms <= 0)
		ing->opts.redis_timeout_ms = 5000;
	if (ing->opts.mysql_timeout_s <= 0)
		ing->opts.mysql_timeout_s = 3;
	if (ing->opts.id_block == 0)
		ing->opts.id_block = 1000;
	if (ing->opts.pool_size <= 0)
		ing->opts.pool_size = 1;
	ing->pool = xcalloc((size_t)ing->opts.pool_size, sizeof *ing->pool);

	if (mkdir_p(ing->dir, 0700) != 0) {
		*fail = INGEST_FAIL_SPOOL_DIR;
		err_set(err, "cannot create spool directory '%s': %s", ing->dir,
		    strerror(errno));
		goto fail;
	}
	if (config_redis_addr(cfg, &ing->raddr, err) != 0) {
		*fail = INGEST_FAIL_CONFIG;
		goto fail;
	}
	if ((c = cache_connect(&ing->raddr, ing->opts.redis_timeout_ms,
	    err)) == NULL) {
		*fail = INGEST_FAIL_REDIS;
		goto fail;
	}
	ing->pool[ing->npool++] = c;
	if (ingest_load_schema(ing, cfg, fail, err) != 0)
		goto fail;
	if ((ing->spool = spool_writer_open(ing->dir, err)) == NULL) {
		*fail = INGEST_FAIL_SPOOL;
		goto fail;
	}
	/* Before the spool can fill the disk, not when it has. */
	spool_writer_keep_reserve(ing->spool);
	path = xasprintf("%s/%s", ing->dir, INGEST_VERSIONS_FILE);
	if ((ing->ver_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		*fail = INGEST_FAIL_SPOOL;
		err_set(err, "cannot open '%s': %s", path, strerror(errno));
		free(path);
		goto fail;
	}
	free(path);
	/* Under the lock: a value half rewritten could be any number. */
	if (flock(ing->ver_fd, LOCK_SH) == 0) {
		ing->version_last = ingest_number_read(ing->ver_fd);
		flock(ing->ver_fd, LOCK_UN);
	}
	ing->ver_saved_ms = now_ms();
	return (ing);
fail:
	ingest_close(ing, NULL);
	return (NULL);
}

int
ingest_close(struct ingest *ing, char **err)
{
	size_t	i;
	int	rc = 0;

	if (ing == NULL)
		return (0);
	if (ing->spool != NULL)
		rc = spool_writer_close(ing->spool, err);
	if (ing->ver_fd != -1) {
		ingest_versions_save(ing);
		close(ing->ver_fd);
	}
	if (ing->ids_fd != -1) {
		close(ing->ids_fd);
		unlink(ing->ids_path);
	}
	free(ing->ids_path);
	for (i = 0; i < ing->npool; i++)
		cache_free(ing->pool[i]);
	free(ing->pool);
	schema_free(ing->schema);
	config_redis_addr_release(&ing->raddr);
	pthread_mutex_destroy(&ing->lock);
	free(ing->dir);
	free(ing->table);
	free(ing->prefix);
	free(ing);
	return (rc);
}

const struct schema *
ingest_schema(const struct ingest *ing)
{
	return (ing->schema);
}

int
ingest_schema_cached(const struct ingest *ing)
{
	return (ing->schema_cached);
}

const char *
ingest_spool_dir(const struct ingest *ing)
{
	return (ing->dir);
}

uint64_t
ingest_spool_syncs(struct ingest *ing)
{
	return (spool_writer_syncs(ing->spool));
}

void
ingest_spool_sync_times(struct ingest *ing, struct spool_sync_times *out)
{
	spool_writer_sync_times(ing->spool, out);
}

int
ingest_parse(struct ingest *ing, const char *json, size_t len,
    struct record **out, char **err)
{
	return (record_parse(json, len, ing->schema, out, err));
}

/* Borrow a Redis connection from the pool, connecting a new one if none is idle. */
static struct cache *
ingest_borrow(struct ingest *ing, char **err)
{
	struct cache	*c = NULL;

	pthread_mutex_lock(&ing->lock);
	if (ing->npool > 0)
		c = ing->pool[--ing->npool];
	pthread_mutex_unlock(&ing->lock);
	if (c == NULL)
		c = cache_connect(&ing->raddr, ing->opts.redis_timeout_ms, err);
	return (c);
}

static void
ingest_return(struct ingest *ing, struct cache *c)
{
	pthread_mutex_lock(&ing->lock);
	if (ing->npool < (size_t)ing->opts.pool_size) {
		ing->pool[ing->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&ing->lock);
	cache_free(c);
}

/*
 * Ids and a Redis that lost its counter (restarted without persistence,
 * failed over to a replica that was behind): MySQL's largest id does not
 * count the records still in the spool, nor the blocks that running
 * processes reserved and are handing out.  So each process notes the end
 * of its block in a file of its own in the spool directory
 * (ids-TABLE.PID, removed when it closes), and an allocation that finds
 * the counter gone starts past both.
 */

/* Note the end of the block just reserved (lock held). */
static int
ingest_ids_note(struct ingest *ing, uint64_t end, char **err)
{
	struct buf	 b = BUF_INIT;

	if (ing->ids_path == NULL) {
		buf_printf(&b, "%s/", ing->dir);
		ingest_table_name(&b, "ids", ing->table);
		buf_printf(&b, ".%ld", (long)getpid());
		ing->ids_path = buf_detach(&b, NULL);
	}
	/* No fsync: only running processes' blocks matter. */
	if (ing->ids_fd == -1 && (ing->ids_fd = open(ing->ids_path,
	    O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return (err_set(err, "cannot create '%s': %s", ing->ids_path,
		    strerror(errno)));
	if (ingest_number_write(ing->ids_fd, end) != 0)
		return (err_set(err, "cannot write '%s': %s", ing->ids_path,
		    strerror(errno)));
	return (0);
}

/*
 * The largest id among the table's records still in the spool and the
 * blocks noted by running processes (lock held); a gone process's note is
 * removed, its records being in the spool.
 */
static int
ingest_ids_lost_floor(struct ingest *ing, uint64_t *floor, char **err)
{
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct record		*rec;
	struct buf		 b = BUF_INIT;
	struct dirent		*de;
	DIR			*d;
	const void		*p;
	char			*e = NULL, *end;
	size_t			 len;
	uint64_t		 v;
	long			 pid;
	int			 n, fd;

	*floor = 0;
	if ((r = spool_reader_open(ing->dir, NULL, NULL, err)) == NULL)
		return (-1);
	while ((n = spool_read(r, &p, &len, &pos, err)) == 1) {
		if (record_decode(p, len, &rec, &e) != 0) {
			free(e);	/* the drainer reports it */
			e = NULL;
			continue;
		}
		if (strcmp(rec->table, ing->table) == 0) {
			/* A decoded record has no flags: fresh ids count too. */
			record_bind(rec, ing->schema);
			if ((v = record_max_id(&rec, 1)) > *floor)
				*floor = v;
		}
		record_free(rec);
	}
	spool_reader_free(r);
	if (n < 0)
		return (-1);

	if ((d = opendir(ing->dir)) == NULL)
		return (err_set(err, "cannot list spool '%s': %s", ing->dir,
		    strerror(errno)));
	ingest_table_name(&b, "ids", ing->table);
	buf_addc(&b, '.');
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, b.data, b.len) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + b.len, &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0)
			continue;
		if (pid != (long)getpid() && kill((pid_t)pid, 0) == -1 &&
		    errno == ESRCH) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if ((fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		v = ingest_number_read(fd);
		close(fd);
		if (v > *floor && v <= INT64_MAX)
			*floor = v;
	}
	closedir(d);
	buf_release(&b);
	return (0);
}

/*
 * Give ids to the records that lack one, and versions to all.  On failure
 * *fail says whether Redis failed or the ids are used up.
 */
static int
ingest_stamp(struct ingest *ing, struct cache *c, struct record **recs,
    size_t n, enum ingest_fail *fail, char **err)
{
	size_t		 i, need = 0;
	uint64_t	 first, count, now, floor, lost, given = 0;
	int		 rc = -1, raised = 0, r;

	if (ing->schema->id_col >= 0) {
		for (i = 0; i < n; i++) {
			if (!record_has_id(recs[i]))
				need++;
		}
		given = record_max_id(recs, n);
	}
	now = now_us_real();
	pthread_mutex_lock(&ing->lock);
	/*
	 * As with MySQL's AUTO_INCREMENT, ids handed out come after every id
	 * a record brought itself, in this write or an earlier one, so the
	 * reserved block resumes past such an id.  Else a record without an
	 * id could get the id of one beside it, and one of the two would
	 * silently replace the other.
	 */
	if (given > ing->id_given)
		ing->id_given = given;
	if (ing->id_given >= ing->id_next)
		ing->id_next = ing->id_given < ing->id_end ?
		    ing->id_given + 1 : ing->id_end;
	if (need > ing->id_end - ing->id_next) {
		/* Whatever is left of the old block is dropped: ids need not be dense. */
		count = need > ing->opts.id_block ? need : ing->opts.id_block;
		/*
		 * Above every id handed out so far too: a Redis that lost its
		 * counter (restarted without persistence) must not give them
		 * again.
		 */
		floor = ing->id_floor;
		if (ing->id_next > 0 && ing->id_next - 1 > floor)
			floor = ing->id_next - 1;
		if (ing->id_given > floor)
			floor = ing->id_given;
		if ((r = cache_ids_exist(c, ing->prefix, ing->table, err)) < 0) {
			*fail = INGEST_FAIL_REDIS;
			goto out;
		}
		if (r == 0) {
			/* Redis lost the counter, or never had it. */
			if (ingest_ids_lost_floor(ing, &lost, err) != 0) {
				*fail = INGEST_FAIL_SPOOL;
				goto out;
			}
			if (lost > floor)
				floor = lost;
		}
		r = cache_alloc_ids(c, ing->prefix, ing->table, count, floor,
		    &first, err);
		if (r == -2 && count > need) {
			/* Near the end of the counter: just what this write needs. */
			if (err != NULL) {
				free(*err);
				*err = NULL;
			}
			count = need;
			r = cache_alloc_ids(c, ing->prefix, ing->table, count,
			    floor, &first, err);
		}
		if (r != 0) {
			*fail = r == -2 ? INGEST_FAIL_IDS : INGEST_FAIL_REDIS;
			goto out;
		}
		if (ingest_ids_note(ing, first + count - 1, err) != 0) {
			*fail = INGEST_FAIL_SPOOL;
			goto out;
		}
		raised = 1;	/* to floor, past every id given */
		ing->id_next = first;
		ing->id_end = first + count;
	}
	for (i = 0; i < n; i++) {
		if (ing->schema->id_col >= 0 && !record_has_id(recs[i])) {
			record_set_id(recs[i], ing->id_next++);
			recs[i]->flags |= RECORD_FRESH_ID;
		}
		/*
		 * A dead letter retried keeps the version it was written
		 * with: Redis and MySQL take it only where they hold nothing
		 * newer of its key, so that it cannot undo a later write.
		 */
		if ((recs[i]->flags & RECORD_OWN_VERSION) != 0 &&
		    recs[i]->version != 0)
			continue;
		ing->version_last = ingest_version_next(now, ing->version_last,
		    ing->version_tag);
		recs[i]->version = ing->version_last;
	}
	if (now_ms() - ing->ver_saved_ms >= INGEST_VERSIONS_MS)
		ingest_versions_save(ing);
	rc = 0;
out:
	pthread_mutex_unlock(&ing->lock);
	/*
	 * The counter goes past the ids the records brought before Redis
	 * holds them, so that no process hands those ids out afterwards.
	 */
	if (rc == 0 && given > 0 && !raised &&
	    cache_raise_ids(c, ing->prefix, ing->table, given, err) != 0) {
		*fail = INGEST_FAIL_REDIS;
		rc = -1;
	}
	return (rc);
}

/* Append the records to the spool and write them out; *seq: the last one's. */
static int
ingest_spool(struct ingest *ing, struct record **recs, size_t n,
    uint64_t *seq, char **err)
{
	struct buf	 b = BUF_INIT;
	const void	**p;
	size_t		*len;
	int		 rc = -1;

	if (n == 0)
		return (0);
	p = xreallocarray(NULL, n, sizeof *p);
	len = xreallocarray(NULL, n, sizeof *len);
	record_encode_all(recs, n, &b, p, len);
	/* All or nothing: a failed write leaves none of them in the spool. */
	if (spool_appendv(ing->spool, p, len, n, seq, err) == 0)
		rc = spool_flush(ing->spool, *seq, err);
	free(len);
	free(p);
	buf_release(&b);
	return (rc);
}

/*
 * The write failed (why says how) and its records will not reach MySQL:
 * take them back out of Redis where they are still the newest, so that
 * Redis does not keep what MySQL will never get.  Sets *err to why and
 * the outcome.
 */
static void
ingest_unput(struct cache *c, struct ingest *ing, struct record **recs,
    size_t n, const char *why, char **err)
{
	char	*back = NULL;
	size_t	 left;

	if (cache_unput(c, ing->schema, ing->prefix, recs, n, &left,
	    &back) == 0)
		err_set(err, "%s; the records were taken back out of redis",
		    why);
	else
		err_set(err, "%s; %zu of the records may stay in redis without "
		    "reaching mysql: %s", why, left, back);
	free(back);
}

/*
 * The spool failed to sync records that Redis took (why says how).  The
 * spool cut the segment back to its last good sync and starts a new one:
 * write the records there once more.  If that fails too, take them back
 * out of Redis where they are still the newest, so that Redis does not
 * keep records that MySQL will never get.  Returns 0 when the records are
 * durable after all, else -1 with *err.
 */
static int
ingest_respool(struct ingest *ing, struct cache *c, struct record **recs,
    size_t n, const char *why, char **err)
{
	char		*again = NULL, *both;
	uint64_t	 seq = 0;

	if (ingest_spool(ing, recs, n, &seq, &again) == 0 &&
	    spool_sync(ing->spool, seq, &again) == 0) {
		ingest_warn(ing, "%s; the write's %zu record%s went to a new "
		    "segment and synced there", why, n, n == 1 ? "" : "s");
		return (0);
	}
	both = xasprintf("%s, and again in a new segment: %s", why, again);
	ingest_unput(c, ing, recs, n, both, err);
	free(both);
	free(again);
	return (-1);
}

/* The fdatasync of a write, run while Redis works on it. */
struct ingest_syncer {
	struct spool_writer	*spool;
	uint64_t		 seq;
	int			 done;
	int			 rc;
	char			*err;
};

static void
ingest_syncer_run(void *arg)
{
	struct ingest_syncer	*sy = arg;

	sy->rc = spool_sync(sy->spool, sy->seq, &sy->err);
	sy->done = 1;
}

static void *
ingest_syncer_main(void *arg)
{
	ingest_syncer_run(arg);
	return (NULL);
}

/*
 * The records are written to the spool already; sync them while Redis
 * takes them, and succeed only when both did.  The fsync and the Redis
 * round trips each take about as long as the other, so this nearly halves
 * the time of a write.  A big write syncs on a thread of its own from the
 * start, beside the building of its commands; a small one, whose commands
 * take no time to build, in this thread once they are sent
 * (cache_put_overlap), sparing a thread's start and join per write: a
 * tenth of serve's CPU time per request.
 */
static int
ingest_sync_and_put(struct ingest *ing, struct cache *c, struct record **recs,
    size_t n, uint64_t seq, enum ingest_fail *fail, char **err)
{
	struct ingest_syncer	 sy;
	pthread_t		 t;
	char			*both;
	int			 rc, threaded = 0;

	memset(&sy, 0, sizeof sy);
	sy.spool = ing->spool;
	sy.seq = seq;
	if (n >= INGEST_THREAD_MIN &&
	    pthread_create(&t, NULL, ingest_syncer_main, &sy) == 0)
		threaded = 1;
	rc = cache_put_overlap(c, ing->schema, ing->prefix, recs, n,
	    threaded ? NULL : ingest_syncer_run, &sy, err);
	if (threaded)
		pthread_join(t, NULL);
	else if (!sy.done)	/* Redis failed first; the spool may fail too */
		ingest_syncer_run(&sy);
	if (sy.rc != 0 && rc == 0) {
		/* Redis holds them all: give the spool one more chance. */
		rc = ingest_respool(ing, c, recs, n, sy.err, err);
		free(sy.err);
		if (rc != 0)
			*fail = INGEST_FAIL_SPOOL;
		return (rc);
	}
	if (sy.rc != 0) {
		/*
		 * Redis failed too, maybe partway through: what it took will
		 * not reach MySQL either.  The spool's failure leads the
		 * message: it decides the exit.
		 */
		both = xasprintf("%s; redis failed too: %s", sy.err,
		    err != NULL && *err != NULL ? *err : "unknown error");
		ingest_unput(c, ing, recs, n, both, err);
		free(both);
		free(sy.err);
		*fail = INGEST_FAIL_SPOOL;
		return (-1);
	}
	if (rc != 0) {
		/*
		 * The spool has them: they will reach MySQL.  Saying "nothing
		 * was written" would have a client send them again, as new
		 * records when they have no id.
		 */
		both = xasprintf("redis failed after the spool took the "
		    "records, so they will reach mysql but redis may not hold "
		    "them: %s", err != NULL && *err != NULL ? *err :
		    "unknown error");
		if (err != NULL) {
			free(*err);
			*err = both;
		} else
			free(both);
		*fail = INGEST_FAIL_REDIS_LATE;
		return (-1);
	}
	return (0);
}

int
ingest_write(struct ingest *ing, struct record **recs, size_t n,
    enum ingest_fail *fail, char **err)
{
	struct cache	*c;
	uint64_t	 seq = 0;
	int		 rc = -1;

	*fail = INGEST_OK;
	if (n == 0)
		return (0);
	if ((c = ingest_borrow(ing, err)) == NULL) {
		*fail = INGEST_FAIL_REDIS;
		return (-1);
	}
	/*
	 * A pooled connection Redis closed (it restarted, or is gone) would
	 * fail only after the spool took the records.
	 */
	if (cache_ready(c, err) != 0) {
		*fail = INGEST_FAIL_REDIS;
		goto out;
	}
	if (ingest_stamp(ing, c, recs, n, fail, err) != 0)
		goto out;
	/* A full disk shows here, before Redis has seen anything. */
	if (ingest_spool(ing, recs, n, &seq, err) != 0) {
		*fail = INGEST_FAIL_SPOOL;
		goto out;
	}
	if (ingest_sync_and_put(ing, c, recs, n, seq, fail, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc == 0 || (*fail != INGEST_FAIL_REDIS &&
	    *fail != INGEST_FAIL_REDIS_LATE))
		ingest_return(ing, c);
	else
		cache_free(c);	/* its state is unknown after an error */
	return (rc);
}
