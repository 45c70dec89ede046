/*
 * The drainer: lands the spool in MySQL.
 *
 * One drainer per spool (the flock on DIR/drain.lock).  It reads frames in
 * spool order, decodes them into records, groups a batch (up to batch_max
 * records or batch_ms milliseconds of waiting) by table, and lands each
 * table's part with db_upsert (one transaction, multi-row upserts with the
 * version guard).  Only after every part committed does it advance the
 * checkpoint, so a crash at any point replays at most the batch in flight,
 * and replays are harmless.
 *
 * Failures:
 *  - transient (MySQL down, restarting, too many connections, deadlock...):
 *    rewind to the checkpoint, back off exponentially with jitter (100 ms
 *    doubling to 30 s), reconnect, retry; forever, keeping every record;
 *  - data (MySQL rejects a record itself): split the failing part in
 *    halves until the culprit is alone, append it with MySQL's reason to
 *    DIR/dead-letter.ndjson (fsync'd before the checkpoint moves), land
 *    the rest;
 *  - undecodable frame payload: dead-lettered as raw bytes (hex) too;
 *  - the table: when a table does not exist (or wtc cannot use it: no
 *    primary key, no usable _wtc_version), its records go, versions and
 *    all, to a spool of their own, DIR/held-TABLE (fsync'd before the
 *    checkpoint moves), and the other tables' records land as usual.  The
 *    drainer looks for the table again (back-off as above) and, once it
 *    can take records, lands the held ones and removes the directory.
 *    New records for the table are held meanwhile without trying MySQL.
 *  - an unknown column (1054) is taken as the table having changed: the
 *    schema is loaded again and the batch retried; if it comes again with
 *    a schema loaded for that very attempt (a trigger naming a column
 *    that is not there), it is MySQL rejecting the data.
 *
 * It writes its state for "wtc status" and /metrics to DIR/drain.state
 * (replaced atomically, a few times a second at most) and its pid to
 * DIR/drain.pid.  Log lines go to the log callback.
 *
 * drain_run returns when *stop becomes nonzero (checked between batches,
 * and during back-off sleeps), when once is set and nothing is left, or
 * when idle_exit_ms > 0 and the spool has stayed empty that long with no
 * live writer.
 */
#ifndef WTC_DRAIN_H
#define WTC_DRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef void	 drain_log_cb(void *arg, const char *msg);

struct drain_opts {
	unsigned	 batch_max;	/* records per batch; default 10000 */
	unsigned	 batch_ms;	/* max wait to fill a batch; default 10 */
	int		 once;		/* drain what is there and return */
	uint64_t	 idle_exit_ms;	/* 0: never exit when idle */
	int		 mysql_timeout_s; /* default 5 */
	uint64_t	 retry_for_ms;	/* with once: give up after transient failures
					   lasting this long; 0 = retry forever */
	drain_log_cb	*log;
	void		*log_arg;
};

/* Counters, also kept in DIR/drain.state. */
struct drain_stats {
	uint64_t	 landed;	/* records committed to MySQL */
	uint64_t	 batches;
	uint64_t	 dead;		/* records dead-lettered */
	uint64_t	 held;		/* records held for a missing table */
	uint64_t	 retries;	/* transient failures retried */
	uint64_t	 damaged;	/* damaged spool regions skipped */
	uint64_t	 left;		/* with once: records still waiting (0 = empty) */
	char		 last_error[512];
};

/*
 * Run the drainer on cfg->spool_dir.  Returns 0 when it stopped as asked,
 * 1 when another drainer holds the lock, -1 with *err for a fatal start-up
 * problem (cannot create the spool directory, bad configuration).
 */
int	 drain_run(const struct config *, const struct drain_opts *,
	    volatile sig_atomic_t *stop, struct drain_stats *, char **err);

#define DRAIN_DEAD_LETTER_FILE	"dead-letter.ndjson"
#define DRAIN_STATE_FILE	"drain.state"
#define DRAIN_PID_FILE		"drain.pid"
#define DRAIN_LOG_FILE		"drain.log"

/*
 * Start a detached background drainer for cfg's spool unless one is
 * running: fork, setsid, fork, close inherited descriptors, and exec
 * self_exe ("/proc/self/exe") as "wtc drain --background" with cfg's
 * settings (never passwords: those travel in the environment).  Returns 1
 * when one was started, 0 when one was already running, -1 with *err.
 */
int	 drain_spawn(const struct config *, char **err);

/*
 * For tests: the pure parts of the drainer.
 *
 * drain_dedupe keeps, for each primary key among recs[0..n) (bound to s,
 * every key present), only the record with the highest version (ties: the
 * later one); survivors stay in order of their key's first appearance.
 * Returns how many there are in recs[0..); the others are only dropped
 * from the array (the caller still owns every record) and, when older is
 * not NULL, appended to older[*nolder..] (room for n).
 *
 * drain_backoff_ms is the sleep before retry number attempt (0-based):
 * full jitter over min(30 s, 100 ms * 2^attempt), rnd a random number.
 */
struct schema;
struct record;
size_t	 drain_dedupe(struct record **recs, size_t n, const struct schema *s,
	    struct record **older, size_t *nolder);
unsigned drain_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
