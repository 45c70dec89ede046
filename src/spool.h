/*
 * The spool: a directory of segment files, each written front to back, that
 * hold every accepted record until the drainer has landed it in MySQL.
 *
 * Layout (DIR is created 0700, files 0600):
 *   DIR/seg-<16 hex µs>-<pid>-<8 hex random>.wtc   segments
 *   DIR/checkpoint                                   drainer's progress (replaced atomically)
 *   DIR/drain.lock                                   flock'd by the one drainer
 *   DIR/held-<table>/                                a spool of its own: records the
 *                                                    drainer holds while their table
 *                                                    does not exist (see drain.h)
 *
 * A segment starts with an 8-byte magic "WTCSPL01" and holds frames:
 *   u32 magic 0x46435457 ("WTCF") | u32 payload length | u32 crc32c(length bytes + payload) | payload
 * (little endian).  A frame is either whole and CRC-valid, or it is damage:
 * the reader never hands out damaged bytes.
 *
 * A writer preallocates each new segment to the size limit (fallocate; where
 * that fails it simply appends) and writes frames in place, so the file may
 * hold zeros past its data.  On a clean close the writer cuts the segment
 * back to its data before it lets go of it.  So where a frame should start
 * but does not (zeros, a short or bad frame), the reader:
 *  - on a live segment, waits: the writer has not written it yet.  (Damage
 *    in a live segment is therefore only handled once it is sealed.)
 *  - on a sealed segment: zeros up to the end are its end, not damage (a
 *    writer that died); a frame cut short by the end of the file or by such
 *    zeros is a torn write (reported, skipped); anything else is damage,
 *    reported and skipped by scanning for the next valid frame.
 * A segment's data ends where its zero tail begins; that, not the file
 * size, is where the drainer must have landed to remove it.
 *
 * Each writer (a put process or a serve) owns one open segment, holds an
 * exclusive flock on it while it is open, and rotates to a new segment when
 * it passes the size limit, so any number of writers share one spool with
 * no coordination.  A segment whose lock is free is sealed.
 *
 * Each write of buffered frames has its space allocated first (where the
 * segment was not preallocated), so a full disk fails it before any of it
 * is written: a reader never sees, and lands, the start of a write that
 * fails halfway and is cut off.
 *
 * Durability: spool_append only buffers (until spool_flush or spool_sync:
 * a segment is rotated only between writes, so one may pass the size
 * limit by a write); a record is acknowledged only after
 * spool_sync has returned 0 for its sequence number.  spool_append and
 * spool_sync are thread-safe: concurrent syncs share one fdatasync (group
 * commit).  After a write or sync error the records that could not be made
 * durable are never acknowledged (spool_sync on them keeps failing) and the
 * writer moves to a fresh segment on its next append.
 *
 * The reader does not wait on a live segment that has nothing new: it reads
 * the others meanwhile, so the checkpoint holds an offset per segment (text:
 * "wtc-checkpoint 1", "<segment> <offset>" lines, "crc <crc32c hex>").
 */
#ifndef WTC_SPOOL_H
#define WTC_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_SEGMENT_MAX	(64u * 1024 * 1024)
#define SPOOL_FRAME_MAX		(256u * 1024 * 1024)

/* crc32c (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t	 spool_crc32c(uint32_t crc, const void *, size_t);
/* The same without SSE4.2, exposed for tests. */
uint32_t	 spool_crc32c_sw(uint32_t crc, const void *, size_t);

/* Frame encoding, exposed for tests and fuzzers. */
void		 spool_frame_header(uint8_t hdr[12], const void *payload, size_t len);
/*
 * Look for a whole frame at p[0..avail).  Returns 1 with *payload, *plen and
 * *flen (whole frame length); 0 when more bytes are needed (avail too short
 * for the length the header announces); -1 when p does not start a valid
 * frame (bad magic, bad length or bad crc).
 */
int		 spool_frame_parse(const uint8_t *p, size_t avail,
		    const uint8_t **payload, size_t *plen, size_t *flen);

/* Writing. */
struct spool_writer;
struct spool_writer *spool_writer_open(const char *dir, char **err);
int		 spool_append(struct spool_writer *, const void *, size_t,
		    uint64_t *seq, char **err);
/*
 * Append n records at once; *seq: the last one's.  Their frames go out in
 * one write, never split by another thread's sync or a segment's end: if
 * that write fails, none of them is durable (all or nothing).
 */
int		 spool_appendv(struct spool_writer *, const void *const *p,
		    const size_t *len, size_t n, uint64_t *seq, char **err);
int		 spool_sync(struct spool_writer *, uint64_t seq, char **err);
/*
 * Write (not sync) everything up to seq to the segment, so that a full
 * disk is known now; spool_sync must still follow before acknowledging.
 */
int		 spool_flush(struct spool_writer *, uint64_t seq, char **err);
/* Sync, seal and free; returns -1 with *err if the final sync failed. */
int		 spool_writer_close(struct spool_writer *, char **err);
/* How many fdatasyncs the writer has done (for tests of group commit). */
uint64_t	 spool_writer_syncs(struct spool_writer *);

/*
 * How long the writer's fdatasyncs took: a histogram with the upper bounds
 * of spool_sync_bounds_us, and a last bucket past all of them.
 */
#define SPOOL_SYNC_BUCKETS	11
extern const uint64_t spool_sync_bounds_us[SPOOL_SYNC_BUCKETS];
struct spool_sync_times {
	uint64_t	 count;
	uint64_t	 sum_us;
	uint64_t	 bucket[SPOOL_SYNC_BUCKETS + 1];	/* not cumulative */
};
void		 spool_writer_sync_times(struct spool_writer *,
		    struct spool_sync_times *);

/* Reading (the drainer; one reader per spool, see spool_lock_drainer). */
struct spool_pos {
	char		 segment[64];	/* segment file name */
	uint64_t	 offset;	/* byte offset just past the frame */
};

typedef void	 spool_warn_cb(void *arg, const char *msg);

struct spool_reader;
struct spool_reader *spool_reader_open(const char *dir, spool_warn_cb *, void *arg,
		    char **err);
/*
 * Next frame after the last one read.  Returns 1 with *payload (borrowed
 * until the next call), *len and *pos; 0 when there is nothing more to read
 * now; -1 with *err on an I/O error.
 */
int		 spool_read(struct spool_reader *, const void **payload, size_t *len,
		    struct spool_pos *pos, char **err);
/* How many times the reader listed the directory (for tests). */
uint64_t	 spool_reader_lists(struct spool_reader *);
/* Go back to just after the last committed position. */
void		 spool_rewind(struct spool_reader *);
/*
 * Durably record that every frame up to and including pos has landed, and
 * remove sealed segments that are now wholly landed.  Returns 0; -1 with
 * *err when pos cannot be committed; 1 with *err when it is committed in
 * memory and the segments are removed, but the checkpoint file could not
 * be written (a full disk): reading goes on from pos, and spool_save (or
 * the next commit) writes the file later.
 */
int		 spool_commit(struct spool_reader *, const struct spool_pos *, char **err);
/* Write the checkpoint file if a commit could not: 0, or 1 with *err. */
int		 spool_save(struct spool_reader *, char **err);
void		 spool_reader_free(struct spool_reader *);

/*
 * Take the drainer lock (non-blocking).  Returns 1 with *fd holding the
 * lock (close it to release), 0 if another process holds it, -1 with *err.
 */
int		 spool_lock_drainer(const char *dir, int *fd, char **err);

/*
 * What is waiting in a spool, without holding any lock (it only tests a
 * segment's lock where it has to tell "not written yet" from an end).
 * Damaged regions count; the torn tail of a writer that died does not.
 */
struct spool_stats {
	uint64_t	 segments;
	uint64_t	 records;	/* whole frames past the checkpoint */
	uint64_t	 bytes;		/* their payload bytes */
	uint64_t	 oldest_us;	/* when the oldest waiting record was written, 0 if none */
	uint64_t	 damaged;	/* damaged regions seen */
	uint64_t	 held;		/* of records, those in DIR/held-* */
};
/* Counts DIR's own segments and those of its held-<table> spools. */
/*
 * The time a record's payload was written (µs since the epoch), or 0 if it
 * does not say: lets spool_stat date the oldest record rather than its
 * segment (record_written_us).  NULL: segments' times only.
 */
typedef uint64_t spool_time_fn(const void *payload, size_t len);
int		 spool_stat(const char *dir, struct spool_stats *,
		    spool_time_fn *when, char **err);

/*
 * Held spools.  spool_held_dir: the path of table's (caller frees; the
 * name is made fit for a file name, see buf_add_tame).  spool_held_tables:
 * the tables that have one (caller frees each and the array).
 * spool_destroy: remove a spool directory whose records have all landed
 * (its segments, its checkpoint, the directory).
 */
/*
 * DIR/reserve: space kept for the drainer.  When the spool has filled the
 * disk, it is what lets the drainer write the dead letters and held records
 * of a batch, commit it, and so remove the segments that give the space
 * back.  spool_reserve makes it if it is missing and there is room (at most
 * SPOOL_RESERVE_MAX, and 1% of a small filesystem): 1 if it is there after;
 * spool_reserve_release removes it: 1 if it was there.
 */
#define SPOOL_RESERVE_FILE	"reserve"
#define SPOOL_RESERVE_MAX	(4u * 1024 * 1024)
int		 spool_reserve(const char *dir);
int		 spool_reserve_release(const char *dir);
/*
 * For put and serve: make the reserve now, and once a write has found the
 * disk full, write only while the reserve is there (or can be made again),
 * so that the space freed by the drainer goes to the reserve first.
 */
void		 spool_writer_keep_reserve(struct spool_writer *);

char		*spool_held_dir(const char *dir, const char *table);
int		 spool_held_tables(const char *dir, char ***tables, size_t *n,
		    char **err);
int		 spool_destroy(const char *dir, char **err);

#endif
