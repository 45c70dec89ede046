/*
 * The Redis side (the only module that uses hiredis).
 *
 * A record lives in Redis as a hash at its key (record_key), holding its
 * fields as strings plus SCHEMA_VERSION_COLUMN.  cache_put replaces the whole
 * hash with the record and its version (stamped by the caller) atomically,
 * unless Redis already holds that key at a version as new or newer: per
 * chunk of records a server-side script, or a transaction of plain HSETs
 * between two scripts, chunks pipelined.  Redis thus keeps the highest
 * version of each key, as MySQL's upsert guard does.  The transactions
 * use scratch keys "wtc:put-old:*" (under the prefix), which never outlive
 * one.
 *
 * Ids: the counter "wtc:next-id:<table>" (under the prefix) hands out blocks;
 * it is raised to at least the floor given (MySQL's max id) and to any id a
 * record carries, so an allocated id never collides with one already used.
 *
 * Errors: -1 with *err ("cannot connect to redis '127.0.0.1:6379':
 * Connection refused").  cache_free accepts NULL.
 */
#ifndef WTC_CACHE_H
#define WTC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "record.h"
#include "schema.h"

struct cache;

struct cache	*cache_connect(const struct redis_addr *, int timeout_ms, char **err);
void		 cache_free(struct cache *);
int		 cache_ping(struct cache *, char **err);

/*
 * Connect unless the connection is open and Redis has not closed it, so
 * that a caller learns of a gone Redis before it does anything else.
 */
int		 cache_ready(struct cache *, char **err);

/*
 * Reserve count consecutive ids, none below floor + 1; *first is the first
 * one.  Returns -2 with *err when the counter has fewer than count ids
 * left below INT64_MAX (the largest a Redis counter holds), else -1 on
 * failure.
 */
int		 cache_alloc_ids(struct cache *, const char *prefix, const char *table,
		    uint64_t count, uint64_t floor, uint64_t *first, char **err);

/* Whether the id counter of table exists: 1 or 0, or -1 with *err. */
int		 cache_ids_exist(struct cache *, const char *prefix,
		    const char *table, char **err);

/*
 * Raise the id counter to at least at_least.  Before cache_put writes
 * records that carry their own ids, the counter must be past them (ingest
 * raises it when it stamps them).
 */
int		 cache_raise_ids(struct cache *, const char *prefix, const char *table,
		    uint64_t at_least, char **err);

/*
 * Write n records (each must have its key columns and version set).  All
 * or nothing per record; on -1 some may be written.
 */
int		 cache_put(struct cache *, const struct schema *, const char *prefix,
		    struct record **recs, size_t n, char **err);

/*
 * cache_put, calling wait(arg) once while Redis works: after the commands
 * of the first window (all of them, for up to CACHE_WINDOW chunks of
 * records) are sent and before a reply is read.  It is not called when
 * cache_put fails before then.  The caller's fsync goes there: it then
 * costs no thread and no time of its own.
 */
int		 cache_put_overlap(struct cache *, const struct schema *,
		    const char *prefix, struct record **recs, size_t n,
		    void (*wait)(void *), void *arg, char **err);

/*
 * Read the record at key (the whole key, prefix included).  Returns 1 with
 * *out (fields as REC_STR, version set, bound to the schema when one is
 * given), 0 when absent, -1 on error, -2 (with *err) when the key holds
 * something other than a hash.
 */
int		 cache_get(struct cache *, const struct schema *, const char *key,
		    size_t keylen, struct record **out, char **err);

/*
 * Read-through fill: store rec (read from MySQL, version set, bound to s)
 * at its key, as put writes it, unless Redis already holds that key with a
 * version >= rec->version.  Not at the key an id was looked up by: MySQL
 * finds a row by spellings of its key that put never writes (01:00 for
 * 01:00:00, a UUID without dashes), and a key so spelt would be filled once
 * and left stale by every later write.  ttl_s: seconds the copy lives (0:
 * for good), for a row that a record still in the spool may be newer than:
 * filled for good, it would outlive that record's landing in MySQL.
 */
#define CACHE_FILL_TTL	30	/* seconds */
int		 cache_fill(struct cache *, const struct schema *s,
		    const char *prefix, const struct record *, unsigned ttl_s,
		    char **err);

/*
 * Undo a cache_put whose records could not be made durable: delete each
 * record's key where Redis still holds that record's version (a newer
 * write since stays).  *left is the count of records not yet looked at
 * when it fails.
 */
int		 cache_unput(struct cache *, const struct schema *,
		    const char *prefix, struct record **recs, size_t n,
		    size_t *left, char **err);

/* Delete key (tests and verify use it). */
int		 cache_del(struct cache *, const char *key, char **err);

/* A key as Redis has it: binary keys may hold NUL bytes. */
struct cache_key {
	char		*data;		/* allocated, NUL after len bytes */
	size_t		 len;
};

/*
 * Iterate the keys of a table with SCAN (pattern "<prefix><table>:*").
 * cursor starts at 0 and is 0 again when the scan is complete.  The keys
 * are appended to *keys (each copied), *nkeys counting them.
 */
int		 cache_scan(struct cache *, const char *prefix, const char *table,
		    uint64_t *cursor, struct cache_key **keys, size_t *nkeys,
		    char **err);

#endif
