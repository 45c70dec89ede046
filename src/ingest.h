/*
 * The write path shared by "wtc put" and "wtc serve": validate records
 * against the table's schema, give them ids and versions, and make them
 * safe and visible.
 *
 * Order of a write, and why:
 *   1. ids: records without a primary key get one from the Redis counter
 *      (blocks of ids, never below MySQL's max id);
 *   2. versions: a hybrid clock (µs of CLOCK_REALTIME, shifted, strictly
 *      increasing in the process, low bits from the pid) stamps each record;
 *   3. spool: the records are appended and written to the segment, so a
 *      full disk stops the write before Redis sees it;
 *   4. fsync of the spool (concurrent writers share one fdatasync: group
 *      commit) and, at the same time for big writes, Redis: pipelined
 *      scripts replace each hash unless Redis already holds a newer
 *      version of that key (freshly allocated ids: plain HSETs).
 * If the fsync fails after Redis took the records, they are written once
 * more, to a new segment; if that fails too, they are taken back out of
 * Redis where it still holds their versions (cache_unput), and the write
 * fails.
 * Only after both parts of 4 succeeded is a record acknowledged.  Redis and MySQL both keep the
 * highest version of a key (last writer wins by version), so they
 * converge whatever order the drain lands records in.  A crash during 4
 * can leave an unacknowledged record in MySQL but not Redis, or in Redis
 * while its spool frame was written but not yet synced; "wtc verify"
 * reports such keys.
 *
 * Thread safety: ingest_write may be called from many
 * threads (serve); each call borrows a Redis connection from a pool.
 */
#ifndef WTC_INGEST_H
#define WTC_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "record.h"
#include "schema.h"

struct ingest;
struct spool_sync_times;

/* How an ingest_open or ingest_write failed: decides exit status / HTTP status. */
enum ingest_fail {
	INGEST_OK = 0,
	INGEST_FAIL_CONFIG,	/* bad configuration (usage) */
	INGEST_FAIL_REDIS,	/* Redis unreachable or refused: nothing written */
	INGEST_FAIL_REDIS_LATE,	/* Redis failed after the spool synced the records */
	INGEST_FAIL_SCHEMA,	/* no schema: MySQL down and nothing cached, or no table */
	INGEST_FAIL_SPOOL,	/* spool cannot be written (disk full, permissions) */
	INGEST_FAIL_SPOOL_DIR,	/* the spool directory cannot be created */
	INGEST_FAIL_IDS,	/* the table's id counter is used up */
	INGEST_FAIL_INTERNAL
};

struct ingest_opts {
	int		 redis_timeout_ms;	/* default 5000 */
	int		 mysql_timeout_s;	/* default 3 */
	uint64_t	 id_block;		/* ids reserved per Redis round trip; default 1000 */
	int		 pool_size;		/* Redis connections kept; default 1 */
	/*
	 * Told of trouble a write got over (a spool sync that failed, then
	 * worked in a new segment); called from the writing thread.  NULL:
	 * nobody is told.
	 */
	void		(*warn)(void *arg, const char *msg);
	void		*warn_arg;
};

/*
 * Connect to Redis, load the schema of cfg->table (from MySQL, caching it
 * in the spool directory; from that cache when MySQL is down) and open a
 * spool writer.  NULL with *err and *fail on failure.
 */
struct ingest	*ingest_open(const struct config *, const struct ingest_opts *,
		    enum ingest_fail *fail, char **err);
/* Sync and close the spool writer; -1 with *err if the final sync failed. */
int		 ingest_close(struct ingest *, char **err);

/* Borrowed; valid until ingest_close. */
const struct schema *ingest_schema(const struct ingest *);
/* 1 when the schema came from the spool's cache because MySQL was down. */
int		 ingest_schema_cached(const struct ingest *);

/* Validate one JSON object: record_parse with the ingest's schema. */
int		 ingest_parse(struct ingest *, const char *json, size_t len,
		    struct record **out, char **err);

/*
 * Steps 1 to 4 above for n parsed records.  Returns 0 when all n are
 * durable and in Redis (acknowledge them), or -1 with *err and *fail: then
 * none of them may be acknowledged.
 */
int		 ingest_write(struct ingest *, struct record **recs, size_t n,
		    enum ingest_fail *fail, char **err);

/* Spool directory in use (borrowed). */
const char	*ingest_spool_dir(const struct ingest *);

/* How many fdatasyncs the spool writer has done: writes share them. */
uint64_t	 ingest_spool_syncs(struct ingest *);
/* And how long they took. */
void		 ingest_spool_sync_times(struct ingest *,
		    struct spool_sync_times *);

/* The version clock, exposed for tests: max(now_us << 12 | tag, last + 1). */
uint64_t	 ingest_version_next(uint64_t now_us, uint64_t last, unsigned tag);

/* Path of the schema cache of table in spool dir (caller frees). */
char		*ingest_schema_cache_path(const char *dir, const char *table);

#endif
