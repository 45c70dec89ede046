/*
 * The spool: append-only segment files written by any number of writers
 * and read back by one drainer.  spool.h describes the on-disk format.
 *
 * A writer buffers frames in memory and writes them out in large blocks;
 * a record is durable once an fdatasync covering it has returned, and
 * concurrent spool_sync calls share one fdatasync (group commit).  After a
 * failed write the writer abandons its segment and starts a fresh one, so
 * damage is always a torn tail of a sealed segment.
 *
 * A new segment is preallocated to its full size and frames are written in
 * place with pwrite: an fdatasync that does not have to change the file's
 * size is much cheaper.  Cheaper still is one that changes no metadata at
 * all, so small writes also fill the space ahead of them with real zeros,
 * a stretch at a time (fallocate's space is "unwritten", and the first write
 * into it is a change to the file's extents that fdatasync must journal).
 * A clean close cuts the segment back to its data, so only a writer that
 * died leaves a tail of zeros, which readers take as the end of the
 * segment.
 *
 * The reader walks the segments in name order.  When a live segment has
 * nothing new it moves on to the others and comes back later, so one busy
 * or idle writer never holds up the rest.  Because of that the checkpoint
 * records an offset per segment, not one position for the whole spool.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "spool.h"
#include "util.h"

#define SPOOL_FRAME_MAGIC	0x46435457u
#define SPOOL_FRAME_HDR		12
#define SPOOL_SEG_MAGIC		"WTCSPL01"
#define SPOOL_SEG_HDR		8
#define SPOOL_ZERO_AHEAD	(1024u * 1024)	/* zeros kept past small writes */
#define SPOOL_ZERO_STEP		(64u * 1024)	/* ...written this much at a time */
#define SPOOL_READ_CHUNK	(1024u * 1024)
#define SPOOL_READ_TAIL		(64u * 1024)	/* a read at a live segment's end */
#define SPOOL_CHECKPOINT	"checkpoint"
#define SPOOL_CHECKPOINT_TMP	"checkpoint.tmp"
#define SPOOL_HELD_PREFIX	"held-"
#define SPOOL_CHECKPOINT_MAX	(16u * 1024 * 1024)
#define SPOOL_DRAIN_LOCK	"drain.lock"
#define SPOOL_NAME_MAX		64

/* crc32c ---------------------------------------------------------------- */

static uint32_t		 crc32c_table[8][256];
static pthread_once_t	 crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t		(*crc32c_raw)(uint32_t, const uint8_t *, size_t);

static uint64_t
le64_get(const uint8_t *p)
{
	return ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56);
}

static uint32_t
le32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

static void
le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Slicing-by-8 on the inverted crc. */
static uint32_t
crc32c_sw_raw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t	 w;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		n--;
	}
	while (n >= 8) {
		w = le64_get(p) ^ c;
		c = crc32c_table[7][w & 0xff] ^
		    crc32c_table[6][(w >> 8) & 0xff] ^
		    crc32c_table[5][(w >> 16) & 0xff] ^
		    crc32c_table[4][(w >> 24) & 0xff] ^
		    crc32c_table[3][(w >> 32) & 0xff] ^
		    crc32c_table[2][(w >> 40) & 0xff] ^
		    crc32c_table[1][(w >> 48) & 0xff] ^
		    crc32c_table[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n > 0) {
		c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		n--;
	}
	return (c);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw_raw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t	 c64, w;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8(c, *p++);
		n--;
	}
	c64 = c;
	while (n >= 8) {
		memcpy(&w, p, sizeof w);
		c64 = _mm_crc32_u64(c64, w);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n > 0) {
		c = _mm_crc32_u8(c, *p++);
		n--;
	}
	return (c);
}
#endif

static void
crc32c_init(void)
{
	uint32_t	 c;
	int		 i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		for (k = 1; k < 8; k++) {
			c = crc32c_table[k - 1][i];
			crc32c_table[k][i] = (c >> 8) ^
			    crc32c_table[0][c & 0xff];
		}
	}
	crc32c_raw = crc32c_sw_raw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_raw = crc32c_hw_raw;
#endif
}

uint32_t
spool_crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc32c_once, crc32c_init);
	return (~crc32c_raw(~crc, p, n));
}

uint32_t
spool_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc32c_once, crc32c_init);
	return (~crc32c_sw_raw(~crc, p, n));
}

/* Frames ----------------------------------------------------------------- */

void
spool_frame_header(uint8_t hdr[12], const void *payload, size_t len)
{
	uint32_t	 crc;

	le32_put(hdr, SPOOL_FRAME_MAGIC);
	le32_put(hdr + 4, (uint32_t)len);
	crc = spool_crc32c(0, hdr + 4, 4);
	le32_put(hdr + 8, spool_crc32c(crc, payload, len));
}

int
spool_frame_parse(const uint8_t *p, size_t avail, const uint8_t **payload,
    size_t *plen, size_t *flen)
{
	static const uint8_t	 magic[4] = { 0x57, 0x54, 0x43, 0x46 };
	uint32_t		 len, crc;

	if (avail < 4)
		return (avail == 0 || memcmp(p, magic, avail) == 0 ? 0 : -1);
	if (memcmp(p, magic, 4) != 0)
		return (-1);
	if (avail < 8)
		return (0);
	len = le32_get(p + 4);
	if (len == 0 || len > SPOOL_FRAME_MAX)
		return (-1);
	if (avail < SPOOL_FRAME_HDR || avail - SPOOL_FRAME_HDR < len)
		return (0);
	crc = spool_crc32c(0, p + 4, 4);
	crc = spool_crc32c(crc, p + SPOOL_FRAME_HDR, len);
	if (crc != le32_get(p + 8))
		return (-1);
	*payload = p + SPOOL_FRAME_HDR;
	*plen = len;
	*flen = SPOOL_FRAME_HDR + (size_t)len;
	return (1);
}

/* Shared helpers --------------------------------------------------------- */

static int
name_is_segment(const char *name)
{
	size_t	 n = strlen(name);

	return (n > 8 && n < SPOOL_NAME_MAX && strncmp(name, "seg-", 4) == 0 &&
	    strcmp(name + n - 4, ".wtc") == 0 && strchr(name, '/') == NULL);
}

/* Creation time of a segment from its name, 0 if it does not parse. */
static uint64_t
name_time(const char *name)
{
	uint64_t	 v = 0;
	int		 i, c;

	for (i = 4; i < 20; i++) {
		c = (unsigned char)name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return (0);
	}
	return (v);
}

static int
sync_dir(int dirfd)
{
	return (fsync(dirfd));
}

static int
open_dir(const char *dir, int create, int *dirfd, char **err)
{
	if (create && mkdir_p(dir, 0700) != 0)
		return (err_set(err, "cannot create spool directory '%s': %s",
		    dir, strerror(errno)));
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd == -1)
		return (err_set(err, "cannot open spool directory '%s': %s",
		    dir, strerror(errno)));
	return (0);
}

/* pwrite all of buf at off, retrying on EINTR and short writes; 0 or -1. */
static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (-1);
		if (n == 0) {
			errno = EIO;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return (0);
}

/* Writer ----------------------------------------------------------------- */

#define SPOOL_FAIL_WRITE	1
#define SPOOL_FAIL_SYNC		2

/* Sequence numbers (from, to] that can never be acknowledged. */
struct spool_lost {
	uint64_t	 from;
	uint64_t	 to;
	char		*msg;
};

struct spool_writer {
	char		*dir;
	int		 dirfd;
	uint64_t	 seg_max;
	int		 prealloc;	/* try to preallocate new segments */

	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 fd;		/* -1 between segments */
	char		*path;		/* of the open segment */
	struct buf	 out;		/* frames not yet written */
	uint64_t	 seq;		/* last sequence number given */
	uint64_t	 written;	/* last one written to fd */
	uint64_t	 durable;	/* last one covered by an fdatasync */
	uint64_t	 size;		/* bytes of whole frames: the write offset */
	uint64_t	 synced_size;
	uint64_t	 published;	/* readers' limit: see writer_publish */
	int		 zero_tail;	/* the segment is preallocated past size */
	uint64_t	 zeroed;	/* bytes [0, zeroed) are written, not unwritten */
	int		 syncing;	/* a thread is in fdatasync */
	int		 failed;	/* SPOOL_FAIL_*: abandon segment */
	int		 start_errno;	/* why writer_start failed */
	int		 keep_reserve;	/* leave DIR/reserve to the drainer */
	int		 full;		/* a write found the disk full */
	struct spool_sync_times sync_times;	/* of its fdatasyncs */
	struct spool_lost *lost;
	size_t		 nlost;
};

static pthread_mutex_t	 segment_name_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t		 segment_name_last;

/*
 * Readers land a live segment only up to its last fdatasync: what was
 * written past it is not durable yet, and if the sync fails the write is
 * reported failed and taken out of Redis, so MySQL must not get it either.
 * The writer holds an open-file-description write lock over the segment
 * from the synced size on (F_OFD_SETLK: closing another descriptor of the
 * file does not drop it, as it would a POSIX lock), and moves its start up
 * after each sync; readers ask where it starts (segment_synced).  A writer
 * that died holds no lock, and what it wrote is read to its end as before.
 * Without OFD locks readers read everything, as before.  start: lock from
 * scratch (a new segment), else give up [published, synced_size).
 */
static void
writer_publish(struct spool_writer *w, int start)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof fl);
	fl.l_whence = SEEK_SET;
	if (start) {
		fl.l_type = F_WRLCK;
		fl.l_start = (off_t)w->synced_size;
		fl.l_len = 0;
	} else {
		if (w->synced_size <= w->published)
			return;
		fl.l_type = F_UNLCK;
		fl.l_start = (off_t)w->published;
		fl.l_len = (off_t)(w->synced_size - w->published);
	}
	if (fcntl(w->fd, F_OFD_SETLK, &fl) == 0)
		w->published = w->synced_size;
}

/* A new segment name; times are kept increasing within the process. */
static char *
segment_name(void)
{
	uint64_t	 us;
	uint32_t	 rnd;

	pthread_mutex_lock(&segment_name_lock);
	us = now_us_real();
	if (us <= segment_name_last)
		us = segment_name_last + 1;
	segment_name_last = us;
	pthread_mutex_unlock(&segment_name_lock);

	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)(us * 2654435761u) ^ (uint32_t)getpid();
	return (xasprintf("seg-%016" PRIx64 "-%ld-%08" PRIx32 ".wtc", us,
	    (long)getpid(), rnd));
}

static void
writer_lose(struct spool_writer *w, uint64_t from, uint64_t to, char *msg)
{
	struct spool_lost	*l;

	if (to <= from) {
		free(msg);
		return;
	}
	w->lost = xreallocarray(w->lost, w->nlost + 1, sizeof *w->lost);
	l = &w->lost[w->nlost++];
	l->from = from;
	l->to = to;
	l->msg = msg;
}

static const char *
writer_lost(struct spool_writer *w, uint64_t seq)
{
	size_t	 i;

	for (i = 0; i < w->nlost; i++) {
		if (seq > w->lost[i].from && seq <= w->lost[i].to)
			return (w->lost[i].msg);
	}
	return (NULL);
}

/*
 * Preallocate a new, empty segment to its full size; 1 if done.  Any
 * failure (no support, a full disk, a file size limit) falls back to
 * appending: the writes themselves report a disk that is really full.
 */
static int
writer_prealloc(struct spool_writer *w, int fd)
{
	struct rlimit	 rl;

	/* Past a file size limit fallocate would raise SIGXFSZ. */
	if (w->seg_max > (uint64_t)INT64_MAX || (getrlimit(RLIMIT_FSIZE,
	    &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)rl.rlim_cur < w->seg_max))
		return (0);
	if (fallocate(fd, 0, 0, (off_t)w->seg_max) == 0)
		return (1);
	/* A failed fallocate may have allocated part of the space. */
	if (ftruncate(fd, 0) != 0) {
		/* The header write below reports a real problem. */
	}
	return (0);
}

/*
 * Create a new segment under a temporary name, lock it, write its header,
 * then give it its real name, so a reader never sees a segment that is
 * unlocked only because its writer has not locked it yet.
 */
static int
writer_start(struct spool_writer *w, char **err)
{
	char	*name = NULL, *tmp = NULL, *path = NULL;
	int	 fd = -1, rc = -1, tries, e, zero_tail = 0;

	for (tries = 0;; tries++) {
		free(name);
		free(tmp);
		free(path);
		name = segment_name();
		tmp = xasprintf("tmp-%s", name);
		path = xasprintf("%s/%s", w->dir, name);
		fd = openat(w->dirfd, tmp,
		    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd == -1) {
			if (errno == EEXIST && tries < 10)
				continue;
			w->start_errno = errno;
			err_set(err, "cannot create spool segment '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			w->start_errno = errno;
			err_set(err, "cannot lock spool segment '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		zero_tail = w->prealloc && writer_prealloc(w, fd);
		if (pwrite_all(fd, SPOOL_SEG_MAGIC, SPOOL_SEG_HDR, 0) != 0) {
			w->start_errno = errno;
			err_set(err, "cannot write spool segment '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (renameat2(w->dirfd, tmp, w->dirfd, name,
		    RENAME_NOREPLACE) == 0)
			break;
		e = errno;
		if (e == EINVAL || e == ENOSYS) {
			/* No RENAME_NOREPLACE here: link refuses to replace. */
			if (linkat(w->dirfd, tmp, w->dirfd, name, 0) == 0) {
				unlinkat(w->dirfd, tmp, 0);
				break;
			}
			e = errno;
		}
		if (e != EEXIST || tries >= 10) {
			w->start_errno = e;
			err_set(err, "cannot create spool segment '%s': %s",
			    path, strerror(e));
			goto out;
		}
		unlinkat(w->dirfd, tmp, 0);
		close(fd);
		fd = -1;
	}
	free(tmp);
	tmp = NULL;
	if (sync_dir(w->dirfd) != 0) {
		w->start_errno = errno;
		err_set(err, "cannot sync spool directory '%s': %s", w->dir,
		    strerror(errno));
		unlinkat(w->dirfd, name, 0);
		goto out;
	}
	w->fd = fd;
	fd = -1;
	free(w->path);
	w->path = path;
	path = NULL;
	w->size = w->synced_size = w->zeroed = SPOOL_SEG_HDR;
	w->zero_tail = zero_tail;
	w->failed = 0;
	writer_publish(w, 1);
	rc = 0;
out:
	if (fd != -1) {
		if (tmp != NULL)
			unlinkat(w->dirfd, tmp, 0);
		close(fd);
	}
	free(path);
	free(tmp);
	free(name);
	return (rc);
}

/*
 * Past the end of a small write, turn the next stretch of preallocated
 * space into written zeros (lock held), so that the fdatasyncs of the writes
 * that follow have no extent change to journal.  The zeros are synced along
 * with the write that follows them here.  The stretch grows with the
 * segment, from 64 KiB to 1 MiB, so a short-lived writer of a few records
 * syncs little more than them.  Bigger writes skip this: they come from bulk
 * loads, which sync seldom, and zeroing ahead of them would write it all
 * twice.  A failure only costs speed: the data is written either way.
 */
static void
writer_zero_ahead(struct spool_writer *w)
{
	static const uint8_t	 zeros[SPOOL_ZERO_STEP];
	uint64_t		 end = w->size + w->out.len, ahead, to, off;
	size_t			 n;

	if (end > w->zeroed)
		w->zeroed = end;
	if (!w->zero_tail || w->out.len > SPOOL_ZERO_STEP)
		return;
	ahead = end < SPOOL_ZERO_STEP ? SPOOL_ZERO_STEP : end;
	if (ahead > SPOOL_ZERO_AHEAD)
		ahead = SPOOL_ZERO_AHEAD;
	if (w->zeroed - end >= ahead / 2)
		return;
	to = (end + ahead + SPOOL_ZERO_STEP - 1) / SPOOL_ZERO_STEP *
	    SPOOL_ZERO_STEP;
	if (to > w->seg_max)
		to = w->seg_max;
	for (off = w->zeroed; off < to; off += n) {
		n = to - off < sizeof zeros ? (size_t)(to - off) : sizeof zeros;
		if (pwrite_all(w->fd, zeros, n, off) != 0)
			break;
		w->zeroed = off + n;
	}
}

/*
 * Write out the buffer (lock held).  On failure cut the segment back to its
 * last whole frame if we can, count the buffered records as lost and mark
 * the segment abandoned.
 */
static int
writer_flush(struct spool_writer *w, char **err)
{
	uint64_t	 from, end;
	char		*msg;

	if (w->out.len == 0)
		return (0);
	writer_zero_ahead(w);
	/*
	 * The space first, then the write: a write that a full disk cuts
	 * short has whole frames at its start, which the drainer may read
	 * from this live segment and land before we cut them off again.
	 * A preallocated segment has its space; past it (no preallocation,
	 * or a write beyond the size limit) it is allocated here, or the
	 * write fails with nothing written.
	 */
	end = w->size + w->out.len;
	from = w->zero_tail && w->seg_max > w->size ? w->seg_max : w->size;
	if ((end > from && fallocate(w->fd, FALLOC_FL_KEEP_SIZE, (off_t)from,
	    (off_t)(end - from)) != 0 && errno != EOPNOTSUPP &&
	    errno != ENOSYS) ||
	    pwrite_all(w->fd, w->out.data, w->out.len, w->size) != 0) {
		w->full = errno == ENOSPC || errno == EDQUOT;
		msg = xasprintf("cannot write spool segment '%s': %s", w->path,
		    strerror(errno));
		if (ftruncate(w->fd, (off_t)w->size) != 0) {
			/* Left as a torn tail: the segment is abandoned. */
		}
		err_set(err, "%s", msg);
		writer_lose(w, w->written, w->seq, msg);
		buf_reset(&w->out);
		w->failed = SPOOL_FAIL_WRITE;
		return (-1);
	}
	w->size += w->out.len;
	w->written = w->seq;
	w->full = 0;
	buf_reset(&w->out);
	return (0);
}

const uint64_t spool_sync_bounds_us[SPOOL_SYNC_BUCKETS] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000
};

/* Count an fdatasync that took us microseconds (lock held). */
static void
writer_note_sync(struct spool_writer *w, uint64_t us)
{
	struct spool_sync_times	*t = &w->sync_times;
	size_t			 i;

	for (i = 0; i < SPOOL_SYNC_BUCKETS; i++) {
		if (us <= spool_sync_bounds_us[i])
			break;
	}
	t->count++;
	t->sum_us += us;
	t->bucket[i]++;
}

/* Record an fdatasync failure (lock held). */
static void
writer_sync_failed(struct spool_writer *w, int e, char **err)
{
	char	*msg;

	msg = xasprintf("cannot sync spool segment '%s': %s", w->path,
	    strerror(e));
	err_set(err, "%s", msg);
	/* What was written since the last good sync may not be on disk. */
	writer_lose(w, w->durable, w->written, msg);
	if (ftruncate(w->fd, (off_t)w->synced_size) != 0) {
		/* Left as a torn tail: the segment is abandoned. */
	}
	w->failed = SPOOL_FAIL_SYNC;
}

/*
 * Make everything written durable and close the segment, which releases
 * its lock and seals it (lock held, no sync running).  A segment that never
 * got a frame is removed.  Frames still buffered after a failure stay for
 * the next segment.
 */
static int
writer_seal(struct spool_writer *w, char **err)
{
	const char	*name;
	uint64_t	 start;
	int		 rc = 0, cut;

	if (w->fd == -1)
		return (0);
	if (!w->failed && writer_flush(w, err) != 0)
		rc = -1;
	/*
	 * Cut the preallocated tail off while the lock is still held, so a
	 * sealed segment normally ends with its last frame; fsync makes the
	 * new size durable along with the data.  If the cut fails the zeros
	 * stay, and readers take them as the end.  (After a failure the
	 * segment was cut back already.)
	 */
	cut = w->zero_tail && !w->failed && w->size > SPOOL_SEG_HDR &&
	    ftruncate(w->fd, (off_t)w->size) == 0;
	if (w->failed != SPOOL_FAIL_SYNC && (w->written > w->durable || cut)) {
		start = now_us();
		if ((cut ? fsync(w->fd) : fdatasync(w->fd)) != 0) {
			writer_sync_failed(w, errno, err);
			rc = -1;
		} else
			w->durable = w->written;
		writer_note_sync(w, now_us() - start);
	}
	close(w->fd);
	w->fd = -1;
	w->zero_tail = 0;
	if (w->size == SPOOL_SEG_HDR) {
		name = strrchr(w->path, '/') + 1;
		unlinkat(w->dirfd, name, 0);
	}
	w->failed = 0;
	return (rc);
}

/* Make sure a usable segment is open (lock held, no sync running). */
static int
writer_ready(struct spool_writer *w, char **err)
{
	if (w->fd != -1 && !w->failed)
		return (0);
	if (w->fd != -1)
		writer_seal(w, NULL);
	return (writer_start(w, err));
}

struct spool_writer *
spool_writer_open(const char *dir, char **err)
{
	struct spool_writer	*w;
	const char		*s;
	char			*end;
	unsigned long long	 v;

	w = xcalloc(1, sizeof *w);
	w->dir = xstrdup(dir);
	w->fd = -1;
	w->dirfd = -1;
	buf_init(&w->out);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);

	w->seg_max = SPOOL_SEGMENT_MAX;
	if ((s = getenv("WTC_SPOOL_SEGMENT_MAX")) != NULL && *s != '\0') {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0)
			w->seg_max = v;
	}

	/* WTC_SPOOL_PREALLOC=0 turns preallocation off (for tests). */
	w->prealloc = (s = getenv("WTC_SPOOL_PREALLOC")) == NULL ||
	    strcmp(s, "0") != 0;

	if (open_dir(dir, 1, &w->dirfd, err) != 0) {
		spool_writer_close(w, NULL);
		return (NULL);
	}
	if (writer_start(w, err) != 0) {
		/*
		 * A full disk may clear: open all the same, and let each
		 * append try again (and fail) until it does.  Anything else
		 * (permissions, say) is for the caller to know now.
		 */
		if (w->start_errno == ENOSPC || w->start_errno == EDQUOT) {
			if (err != NULL) {
				free(*err);
				*err = NULL;
			}
			return (w);
		}
		spool_writer_close(w, NULL);
		return (NULL);
	}
	return (w);
}

int
spool_appendv(struct spool_writer *w, const void *const *p, const size_t *len,
    size_t n, uint64_t *seqp, char **err)
{
	uint8_t		 hdr[SPOOL_FRAME_HDR];
	size_t		 i;
	int		 rc = -1;

	if (n == 0)
		return (err_set(err, "cannot append to spool '%s': no records",
		    w->dir));
	for (i = 0; i < n; i++) {
		if (len[i] == 0 || len[i] > SPOOL_FRAME_MAX)
			return (err_set(err, "cannot append to spool '%s': "
			    "record of %zu bytes (must be 1 to %u)", w->dir,
			    len[i], SPOOL_FRAME_MAX));
	}

	pthread_mutex_lock(&w->lock);
	while ((w->fd == -1 || w->failed) && w->syncing)
		pthread_cond_wait(&w->cond, &w->lock);
	/*
	 * Once the disk was found full, the space that frees up goes to the
	 * drainer's reserve first: else writers that keep trying take it as
	 * soon as the drainer frees it, and the drainer cannot write what it
	 * must (dead letters, held records) to free more.
	 */
	if (w->full && w->keep_reserve && !spool_reserve(w->dir)) {
		err_set(err, "cannot write to spool '%s': %s (the space kept "
		    "for the drainer is not free yet)", w->dir,
		    strerror(ENOSPC));
		goto out;
	}
	/*
	 * A full segment is sealed only while nothing waits to be written,
	 * and the frames of one call are written by one flush: a write that
	 * fails then loses all of them, never the end of a batch whose start
	 * a sync or a seal made durable.
	 */
	if (w->fd != -1 && !w->failed && w->out.len == 0 &&
	    w->size >= w->seg_max) {
		while (w->syncing)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->fd != -1 && !w->failed && w->out.len == 0 &&
		    w->size >= w->seg_max && writer_seal(w, err) != 0)
			goto out;
	}
	if (writer_ready(w, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		spool_frame_header(hdr, p[i], len[i]);
		buf_add(&w->out, hdr, sizeof hdr);
		buf_add(&w->out, p[i], len[i]);
	}
	w->seq += n;
	if (seqp != NULL)
		*seqp = w->seq;
	rc = 0;
out:
	pthread_mutex_unlock(&w->lock);
	return (rc);
}

int
spool_append(struct spool_writer *w, const void *p, size_t len, uint64_t *seqp,
    char **err)
{
	return (spool_appendv(w, &p, &len, 1, seqp, err));
}

int
spool_sync(struct spool_writer *w, uint64_t seq, char **err)
{
	const char	*msg;
	uint64_t	 target, tsize, start, us;
	int		 fd, r, e, rc;

	pthread_mutex_lock(&w->lock);
	if (seq > w->seq)
		seq = w->seq;
	for (;;) {
		if ((msg = writer_lost(w, seq)) != NULL) {
			rc = err_set(err, "%s", msg);
			break;
		}
		if (seq <= w->durable) {
			rc = 0;
			break;
		}
		if (w->syncing) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}

		/* Become the syncer for everything appended so far. */
		if (w->fd != -1 && w->failed) {
			/* Frames written before the error can still sync. */
			writer_seal(w, NULL);
			continue;
		}
		if (writer_ready(w, err) != 0) {
			rc = -1;
			break;
		}
		if (writer_flush(w, NULL) != 0)
			continue;
		if (w->written < seq) {
			rc = err_set(err, "cannot sync spool '%s': record "
			    "%" PRIu64 " was never written", w->dir, seq);
			break;
		}
		w->syncing = 1;
		target = w->written;
		tsize = w->size;
		fd = w->fd;
		pthread_mutex_unlock(&w->lock);
		start = now_us();
		r = fdatasync(fd);
		e = errno;
		us = now_us() - start;
		pthread_mutex_lock(&w->lock);
		writer_note_sync(w, us);
		if (r == 0) {
			if (target > w->durable)
				w->durable = target;
			if (tsize > w->synced_size)
				w->synced_size = tsize;
			writer_publish(w, 0);
		} else
			writer_sync_failed(w, e, NULL);
		w->syncing = 0;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return (rc);
}

int
spool_flush(struct spool_writer *w, uint64_t seq, char **err)
{
	const char	*msg;
	int		 rc;

	pthread_mutex_lock(&w->lock);
	if (seq > w->seq)
		seq = w->seq;
	for (;;) {
		if ((msg = writer_lost(w, seq)) != NULL) {
			rc = err_set(err, "%s", msg);
			break;
		}
		if (seq <= w->written) {
			rc = 0;
			break;
		}
		if (w->fd != -1 && w->failed) {
			writer_seal(w, NULL);
			continue;
		}
		if (writer_ready(w, err) != 0) {
			rc = -1;
			break;
		}
		if (writer_flush(w, NULL) != 0)
			continue;
		if (w->written < seq) {
			rc = err_set(err, "cannot write spool '%s': record "
			    "%" PRIu64 " was never written", w->dir, seq);
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return (rc);
}

uint64_t
spool_writer_syncs(struct spool_writer *w)
{
	uint64_t	 n;

	pthread_mutex_lock(&w->lock);
	n = w->sync_times.count;
	pthread_mutex_unlock(&w->lock);
	return (n);
}

void
spool_writer_sync_times(struct spool_writer *w, struct spool_sync_times *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->sync_times;
	pthread_mutex_unlock(&w->lock);
}

int
spool_writer_close(struct spool_writer *w, char **err)
{
	uint64_t	 last;
	size_t		 i;
	int		 rc = 0;

	if (w == NULL)
		return (0);
	/*
	 * Sync the last record that can still be made durable: those lost to
	 * a failed write or sync were refused when they were, not now.
	 */
	pthread_mutex_lock(&w->lock);
	last = w->seq;
	for (i = 0; i < w->nlost; i++) {
		if (last > w->lost[i].from && last <= w->lost[i].to) {
			last = w->lost[i].from;
			i = (size_t)-1;		/* look again from the start */
		}
	}
	pthread_mutex_unlock(&w->lock);
	if (w->dirfd != -1 && last > 0 && spool_sync(w, last, err) != 0)
		rc = -1;
	pthread_mutex_lock(&w->lock);
	if (writer_seal(w, rc == 0 ? err : NULL) != 0)
		rc = -1;
	pthread_mutex_unlock(&w->lock);

	for (i = 0; i < w->nlost; i++)
		free(w->lost[i].msg);
	free(w->lost);
	buf_release(&w->out);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	if (w->dirfd != -1)
		close(w->dirfd);
	free(w->path);
	free(w->dir);
	free(w);
	return (rc);
}

/* Reader ----------------------------------------------------------------- */

struct spool_seg {
	char		 name[SPOOL_NAME_MAX];
	uint64_t	 committed;	/* landed up to here (checkpoint) */
	uint64_t	 off;		/* where reading resumes */
	uint64_t	 damage;	/* start of damage skipped, or 0 */
	uint64_t	 damage_end;	/* where the frame it began with would end, or 0 */
	uint64_t	 nz_end;	/* just past its last nonzero byte so far */
	int		 done;		/* sealed and read to off */
	int		 bad;		/* bad header: left alone */
	int		 gone;		/* gone from the directory */
};

/*
 * One stretch of reading in one segment since the last commit: frames
 * handed out end at frames_end, and bytes up to end were consumed (the
 * rest is damage or a torn tail that was skipped).
 */
struct spool_visit {
	char		 name[SPOOL_NAME_MAX];
	uint64_t	 start;
	uint64_t	 frames_end;
	uint64_t	 end;
};

struct spool_reader {
	char		*dir;
	int		 dirfd;
	spool_warn_cb	*warn;
	void		*arg;
	int		 stat_mode;	/* for spool_stat: no visits, tails not torn */
	uint64_t	 damaged;	/* damaged regions reported */
	int		 idle;		/* last read found nothing */
	int		 tail;		/* a live segment's end was met, and no
					   frame has been read since */
	uint64_t	 lists;		/* directory listings, for tests */

	struct spool_seg *segs;		/* sorted by name */
	size_t		 nsegs;
	size_t		 cur;

	int		 fd;		/* open on segs[cur], or -1 */
	int		 sealed;	/* segs[cur] was seen unlocked */
	int		 eof;		/* ... and read to its end */
	uint8_t		*buf;
	size_t		 cap;
	size_t		 start;
	size_t		 end;
	uint64_t	 boff;		/* file offset of buf[0] */
	size_t		 want;		/* most bytes the next fill reads */

	struct spool_visit *visits;
	size_t		 nvisits;
	struct spool_pos last;		/* last committed */
	int		 unsaved;	/* the checkpoint file lags behind */
};

static void
reader_warn(struct spool_reader *r, const char *fmt, ...) WTC_PRINTF(2, 3);

static void
reader_warn(struct spool_reader *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (r->warn == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->warn(r->arg, msg);
	free(msg);
}

static struct spool_seg *
reader_find(struct spool_reader *r, const char *name, size_t *at)
{
	size_t	 lo = 0, hi = r->nsegs, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(r->segs[mid].name, name);
		if (c == 0) {
			if (at != NULL)
				*at = mid;
			return (&r->segs[mid]);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at != NULL)
		*at = lo;
	return (NULL);
}

static struct spool_seg *
reader_add(struct spool_reader *r, const char *name)
{
	struct spool_seg	*s;
	size_t			 at;

	if ((s = reader_find(r, name, &at)) != NULL)
		return (s);
	r->segs = xreallocarray(r->segs, r->nsegs + 1, sizeof *r->segs);
	memmove(&r->segs[at + 1], &r->segs[at],
	    (r->nsegs - at) * sizeof *r->segs);
	r->nsegs++;
	if (at < r->cur)
		r->cur++;
	s = &r->segs[at];
	memset(s, 0, sizeof *s);
	memcpy(s->name, name, strlen(name) + 1);
	s->committed = s->off = SPOOL_SEG_HDR;
	return (s);
}

static void
reader_remove(struct spool_reader *r, size_t at)
{
	memmove(&r->segs[at], &r->segs[at + 1],
	    (r->nsegs - at - 1) * sizeof *r->segs);
	r->nsegs--;
	if (at < r->cur)
		r->cur--;
}

/* Add segments that appeared since the last look. */
static int
reader_list(struct spool_reader *r, char **err)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return (err_set(err, "cannot read spool directory '%s': %s",
		    r->dir, strerror(errno)));
	}
	r->lists++;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (name_is_segment(de->d_name))
			reader_add(r, de->d_name);
	}
	if (errno != 0) {
		err_set(err, "cannot read spool directory '%s': %s", r->dir,
		    strerror(errno));
		closedir(d);
		return (-1);
	}
	closedir(d);
	return (0);
}

/*
 * Load DIR/checkpoint: "wtc-checkpoint 1", then "<segment> <offset>" lines,
 * then "crc <8 hex>" over everything before it.  A damaged file is reported
 * and ignored: reading again from the oldest segment is safe because
 * landing records is idempotent.
 */
static int
reader_load_checkpoint(struct spool_reader *r, char **err)
{
	struct buf		 b = BUF_INIT;
	struct spool_seg	*s;
	char			*line, *nl, *sp, *end, *crcpos;
	const char		*why = NULL;
	unsigned long long	 off;
	unsigned long		 crc;
	ssize_t			 n;
	int			 fd, rc = -1;

	if ((fd = openat(r->dirfd, SPOOL_CHECKPOINT, O_RDONLY | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT)
			return (0);
		return (err_set(err, "cannot open spool checkpoint '%s/%s': %s",
		    r->dir, SPOOL_CHECKPOINT, strerror(errno)));
	}
	for (;;) {
		buf_grow(&b, 4096);
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, "cannot read spool checkpoint '%s/%s': %s",
			    r->dir, SPOOL_CHECKPOINT, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
		if (b.len > SPOOL_CHECKPOINT_MAX) {
			why = "too large";
			goto corrupt;
		}
	}
	if (b.len == 0 || memchr(b.data, '\0', b.len) != NULL) {
		why = "not text";
		goto corrupt;
	}
	crcpos = NULL;
	for (line = b.data; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		crcpos = line;
	}
	if (crcpos == NULL || strncmp(crcpos, "crc ", 4) != 0 ||
	    (size_t)(crcpos - b.data) + 13 != b.len) {
		why = "no check line";
		goto corrupt;
	}
	errno = 0;
	crc = strtoul(crcpos + 4, &end, 16);
	if (errno != 0 || end != crcpos + 12 || *end != '\n' ||
	    crc != spool_crc32c(0, b.data, (size_t)(crcpos - b.data))) {
		why = "check failed";
		goto corrupt;
	}
	if (strncmp(b.data, "wtc-checkpoint 1\n", 17) != 0) {
		why = "unknown version";
		goto corrupt;
	}
	/* The check passed, so the lines were written by us. */
	for (line = b.data + 17; line < crcpos; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		if ((sp = strchr(line, ' ')) == NULL) {
			why = "bad line";
			goto corrupt;
		}
		*sp = '\0';
		errno = 0;
		off = strtoull(sp + 1, &end, 10);
		if (!name_is_segment(line) || errno != 0 || *end != '\0') {
			why = "bad line";
			goto corrupt;
		}
		s = reader_add(r, line);
		if (off < SPOOL_SEG_HDR)
			off = SPOOL_SEG_HDR;
		s->committed = s->off = off;
	}
	rc = 0;
	goto out;

corrupt:
	reader_warn(r, "spool checkpoint '%s/%s': %s, reading from the oldest "
	    "segment", r->dir, SPOOL_CHECKPOINT, why);
	r->nsegs = 0;
	rc = 0;
out:
	close(fd);
	buf_release(&b);
	return (rc);
}

static struct spool_reader *
reader_new(const char *dir, int stat_mode, spool_warn_cb *warn, void *arg)
{
	struct spool_reader	*r;

	r = xcalloc(1, sizeof *r);
	r->dir = xstrdup(dir);
	r->dirfd = -1;
	r->fd = -1;
	r->warn = warn;
	r->arg = arg;
	r->stat_mode = stat_mode;
	r->want = SPOOL_READ_CHUNK;
	return (r);
}

struct spool_reader *
spool_reader_open(const char *dir, spool_warn_cb *warn, void *arg, char **err)
{
	struct spool_reader	*r;

	r = reader_new(dir, 0, warn, arg);
	if (open_dir(dir, 1, &r->dirfd, err) != 0 ||
	    reader_load_checkpoint(r, err) != 0 || reader_list(r, err) != 0) {
		spool_reader_free(r);
		return (NULL);
	}
	return (r);
}

void
spool_reader_free(struct spool_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	if (r->dirfd != -1)
		close(r->dirfd);
	free(r->visits);
	free(r->segs);
	free(r->buf);
	free(r->dir);
	free(r);
}

/* Note that reading segment s advanced from prev to s->off. */
static void
reader_note(struct spool_reader *r, struct spool_seg *s, uint64_t prev,
    int frame)
{
	struct spool_visit	*v;

	if (r->stat_mode || s->off == prev)
		return;
	v = r->nvisits > 0 ? &r->visits[r->nvisits - 1] : NULL;
	if (v == NULL || strcmp(v->name, s->name) != 0) {
		r->visits = xreallocarray(r->visits, r->nvisits + 1,
		    sizeof *r->visits);
		v = &r->visits[r->nvisits++];
		memcpy(v->name, s->name, sizeof v->name);
		v->start = v->frames_end = prev;
	}
	v->end = s->off;
	if (frame)
		v->frames_end = s->off;
}

static void
reader_close_seg(struct spool_reader *r)
{
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	r->start = r->end = 0;
}

/*
 * Open segs[cur] and check its header.  Returns 1 when open, 0 when it is
 * to be skipped (vanished or bad), -1 on error.
 */
static int
reader_open_seg(struct spool_reader *r, char **err)
{
	struct spool_seg	*s = &r->segs[r->cur];
	char			 hdr[SPOOL_SEG_HDR];
	ssize_t			 n;
	int			 fd;

	if ((fd = openat(r->dirfd, s->name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			s->gone = s->done = 1;
			return (0);
		}
		return (err_set(err, "cannot open spool segment '%s/%s': %s",
		    r->dir, s->name, strerror(errno)));
	}
	while ((n = pread(fd, hdr, sizeof hdr, 0)) < 0 && errno == EINTR)
		/* nothing */;
	if (n < 0) {
		err_set(err, "cannot read spool segment '%s/%s': %s", r->dir,
		    s->name, strerror(errno));
		close(fd);
		return (-1);
	}
	if (n != (ssize_t)sizeof hdr || memcmp(hdr, SPOOL_SEG_MAGIC,
	    sizeof hdr) != 0) {
		/* Live segments always have a header: see writer_start. */
		reader_warn(r, "spool segment '%s/%s': bad segment header, "
		    "skipped", r->dir, s->name);
		r->damaged++;
		s->bad = 1;
		close(fd);
		return (0);
	}
	if (r->buf == NULL || r->cap > SPOOL_READ_CHUNK) {
		free(r->buf);
		r->cap = SPOOL_READ_CHUNK;
		r->buf = xmalloc(r->cap);
	}
	r->fd = fd;
	r->sealed = r->eof = 0;
	s->damage = 0;		/* s->off is where a frame starts */
	r->boff = s->off;
	r->start = r->end = 0;
	return (1);
}

/*
 * Where the synced part of a live segment ends (see writer_publish): 1 and
 * *limit, or 0 when no writer says (it is gone, or has no OFD locks).
 */
static int
segment_synced(int fd, uint64_t *limit)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
		return (0);
	*limit = (uint64_t)fl.l_start;
	return (1);
}

/* Read more of the segment into the window: 1 got some, 0 at end, -1. */
static int
reader_fill(struct spool_reader *r, char **err)
{
	struct spool_seg	*s = &r->segs[r->cur];
	size_t			 ncap, want;
	uint64_t		 limit, at;
	ssize_t			 n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->boff += r->start;
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		/* A frame bigger than the window; bounded by the max. */
		ncap = r->cap * 2;
		if (ncap > SPOOL_FRAME_MAX + SPOOL_FRAME_HDR)
			ncap = SPOOL_FRAME_MAX + SPOOL_FRAME_HDR;
		r->buf = xrealloc(r->buf, ncap);
		r->cap = ncap;
	}
	/*
	 * A preallocated segment reads as zeros past its last frame, so a
	 * read at the end of a live one copies only what it must; the reads
	 * grow again while frames keep coming.
	 */
	want = r->cap - r->end;
	if (want > r->want)
		want = r->want;
	if (r->want < SPOOL_READ_CHUNK)
		r->want *= 2;
	/* Not past a live segment's last sync. */
	if (!r->sealed && segment_synced(r->fd, &limit)) {
		at = r->boff + r->end;
		if (at >= limit)
			return (0);
		if (want > limit - at)
			want = (size_t)(limit - at);
	}
	do
		n = pread(r->fd, r->buf + r->end, want,
		    (off_t)(r->boff + r->end));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return (err_set(err, "cannot read spool segment '%s/%s': %s",
		    r->dir, s->name, strerror(errno)));
	r->end += (size_t)n;
	return (n > 0);
}

/* Whether a writer still holds the segment open. */
static int
segment_live(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return (0);
	}
	/* Any other failure: assume live, never call live data torn. */
	return (1);
}

/*
 * segs[cur] was seen unlocked.  Bytes read before that may have been
 * written since (a preallocated segment is written in place), so the window
 * past the current position is read again.
 */
static void
reader_sealed(struct spool_reader *r)
{
	r->sealed = 1;
	r->end = r->start;
}

/* Index of the first nonzero byte of p[0..n), n if none. */
static size_t
first_nonzero(const uint8_t *p, size_t n)
{
	uint64_t	 w[4];
	size_t		 i = 0;

	while (i + sizeof w <= n) {
		memcpy(w, p + i, sizeof w);
		if ((w[0] | w[1] | w[2] | w[3]) != 0)
			break;
		i += sizeof w;
	}
	while (i < n && p[i] == 0)
		i++;
	return (i);
}

/* Length of p[0..n) without its trailing zero bytes. */
static size_t
nonzero_len(const uint8_t *p, size_t n)
{
	uint64_t	 w;

	while (n >= sizeof w) {
		memcpy(&w, p + n - sizeof w, sizeof w);
		if (w != 0)
			break;
		n -= sizeof w;
	}
	while (n > 0 && p[n - 1] == 0)
		n--;
	return (n);
}

/*
 * How long the frame that p starts would be, judged from as much of its
 * header as is there (zeros past a tear included); 0 if p does not start
 * like a frame at all.
 */
static uint64_t
frame_extent(const uint8_t *p, size_t avail)
{
	static const uint8_t	 magic[4] = { 0x57, 0x54, 0x43, 0x46 };
	uint32_t		 len;
	size_t			 i;

	for (i = 0; i < sizeof magic && i < avail; i++) {
		if (p[i] != magic[i])
			return (i > 0 && p[i] == 0 ? SPOOL_FRAME_HDR : 0);
	}
	if (avail < 8)
		return (SPOOL_FRAME_HDR);
	len = le32_get(p + 4);
	if (len == 0 || len > SPOOL_FRAME_MAX)
		return (SPOOL_FRAME_HDR);
	return (SPOOL_FRAME_HDR + (uint64_t)len);
}

/* Move the window's start past zero bytes: 1 at a nonzero byte, 0 at the end, -1. */
static int
reader_skip_zeros(struct spool_reader *r, char **err)
{
	int	 rv;

	for (;;) {
		r->start += first_nonzero(r->buf + r->start, r->end - r->start);
		if (r->start < r->end)
			return (1);
		if ((rv = reader_fill(r, err)) != 1)
			return (rv);
	}
}

/* Skipping damaged bytes buf[from..to): note where the last nonzero one ends. */
static void
reader_skip(struct spool_reader *r, struct spool_seg *s, size_t from, size_t to)
{
	size_t	 n;

	if ((n = nonzero_len(r->buf + from, to - from)) > 0)
		s->nz_end = r->boff + from + n;
	r->start = to;
}

/* Scan for the next valid frame: 1 found at start, 0 need more or none. */
static int
reader_resync(struct spool_reader *r, struct spool_seg *s)
{
	const uint8_t	*p, *pl;
	size_t		 plen, flen, at;
	int		 rv;

	while (r->start < r->end) {
		p = memchr(r->buf + r->start, 0x57, r->end - r->start);
		at = p == NULL ? r->end : (size_t)(p - r->buf);
		reader_skip(r, s, r->start, at);
		if (p == NULL)
			break;
		rv = spool_frame_parse(p, r->end - r->start, &pl, &plen, &flen);
		if (rv == 1)
			return (1);
		if (rv == 0 && !r->eof)
			return (0);
		reader_skip(r, s, r->start, r->start + 1);
	}
	return (0);
}

/*
 * Next frame from segs[cur]: 1 with the frame, 0 when the segment has
 * nothing more for now (or ever: then it is marked done), -1 on error.
 *
 * Where a frame should start but does not, a live segment is still being
 * written (a preallocated one holds zeros there until then): wait.  Only a
 * sealed segment has damage.  In a sealed segment zeros up to the end are
 * the preallocated tail of a writer that died, not damage; zeros with data
 * after them are damage.  A frame cut short by the end of the file or by
 * that tail of zeros is a torn write.
 */
static int
reader_read_seg(struct spool_reader *r, const void **payload, size_t *len,
    struct spool_pos *pos, char **err)
{
	struct spool_seg	*s = &r->segs[r->cur];
	const uint8_t		*p, *pl;
	size_t			 avail, plen, flen;
	uint64_t		 prev, here, ext;
	int			 rv;

	if (r->fd == -1 && (rv = reader_open_seg(r, err)) != 1)
		return (rv);
	for (;;) {
		avail = r->end - r->start;
		if (s->damage == 0 && avail > 0) {
			p = r->buf + r->start;
			rv = p[0] == 0 ? -1 :
			    spool_frame_parse(p, avail, &pl, &plen, &flen);
			if (rv == 1) {
				prev = s->off;
				r->start += flen;
				s->off = r->boff + r->start;
				reader_note(r, s, prev, 1);
				*payload = pl;
				*len = plen;
				if (pos != NULL) {
					memcpy(pos->segment, s->name,
					    sizeof pos->segment);
					pos->offset = s->off;
				}
				return (1);
			}
			if (rv == -1 || r->eof) {
				if (!r->sealed) {
					if (segment_live(r->fd)) {
						/* Not written yet. */
						s->off = r->boff + r->start;
						r->want = SPOOL_READ_TAIL;
						r->tail = 1;
						return (0);
					}
					reader_sealed(r);
					continue;
				}
				here = r->boff + r->start;
				if (p[0] != 0) {
					ext = frame_extent(p, avail);
					s->damage = here;
					s->damage_end = ext == 0 ? 0 : here + ext;
					reader_skip(r, s, r->start, r->start + 1);
					continue;
				}
				if ((rv = reader_skip_zeros(r, err)) == -1)
					return (-1);
				if (rv == 0) {
					/* Zeros to the end: the end. */
					prev = s->off;
					s->off = here;
					s->done = 1;
					reader_note(r, s, prev, 0);
					return (0);
				}
				s->damage = here;
				s->damage_end = 0;
				s->nz_end = here;
				continue;
			}
		} else if (s->damage != 0) {
			if (reader_resync(r, s)) {
				here = r->boff + r->start;
				reader_warn(r, "spool segment '%s/%s': damaged "
				    "data at offset %" PRIu64 ", skipped "
				    "%" PRIu64 " bytes", r->dir, s->name,
				    s->damage, here - s->damage);
				r->damaged++;
				prev = s->damage;
				s->damage = 0;
				s->off = here;
				reader_note(r, s, prev, 0);
				continue;
			}
			if (r->eof) {
				/* Damage to the end, then maybe zeros. */
				here = s->nz_end;
				if (s->damage_end != 0 && here < s->damage_end)
					reader_warn(r, "spool segment '%s/%s': "
					    "torn write at offset %" PRIu64
					    " (%" PRIu64 " bytes ignored)",
					    r->dir, s->name, s->damage,
					    here - s->damage);
				else {
					reader_warn(r, "spool segment '%s/%s': "
					    "damaged data at offset %" PRIu64
					    ", skipped %" PRIu64 " bytes",
					    r->dir, s->name, s->damage,
					    here - s->damage);
					r->damaged++;
				}
				prev = s->off;
				s->off = here;
				s->damage = 0;
				s->done = 1;
				reader_note(r, s, prev, 0);
				return (0);
			}
		}
		if (r->eof) {
			prev = s->off;
			s->off = r->boff + r->end;
			s->done = 1;
			reader_note(r, s, prev, 0);
			return (0);
		}

		if ((rv = reader_fill(r, err)) != 0) {
			if (rv == -1)
				return (-1);
			continue;
		}
		if (!r->sealed) {
			if (r->stat_mode || segment_live(r->fd)) {
				/* Nothing more for now; resume here later. */
				s->off = r->boff + r->start;
				r->tail = 1;
				return (0);
			}
			/* Read again: it may have grown before it let go. */
			reader_sealed(r);
			continue;
		}
		r->eof = 1;
	}
}

/*
 * One pass reads every known segment from where it stopped.  At the end of
 * the list the directory is listed again, for segments begun meanwhile, and
 * read once more; but not when the last thing the pass met was a live
 * segment's end: the caller has caught up with a writer, and its next call,
 * after a nap, lists anyway.  Listing and reading again at once kept a
 * drainer beside a busy writer chasing each of its batches, at a dozen
 * system calls each.  A pass that read frames after meeting a live end
 * still lists and reads again, since that segment may be sealed by now.
 */
int
spool_read(struct spool_reader *r, const void **payload, size_t *len,
    struct spool_pos *pos, char **err)
{
	struct spool_seg	*s;
	int			 wrapped = 0, rv;

	if (r->idle) {
		if (reader_list(r, err) != 0)
			return (-1);
		r->cur = 0;
		wrapped = 1;
	}
	for (;;) {
		while (r->cur < r->nsegs) {
			s = &r->segs[r->cur];
			if (!s->done && !s->bad) {
				rv = reader_read_seg(r, payload, len, pos, err);
				if (rv != 0) {
					r->idle = r->tail = 0;
					return (rv);
				}
			}
			reader_close_seg(r);
			r->cur++;
		}
		r->cur = 0;
		if (wrapped || r->tail) {
			r->idle = 1;
			return (0);
		}
		if (reader_list(r, err) != 0)
			return (-1);
		wrapped = 1;
	}
}

uint64_t
spool_reader_lists(struct spool_reader *r)
{
	return (r->lists);
}

void
spool_rewind(struct spool_reader *r)
{
	struct spool_seg	*s;
	size_t			 i;

	reader_close_seg(r);
	for (i = 0; i < r->nsegs; i++) {
		s = &r->segs[i];
		s->off = s->committed;
		s->damage = 0;
		if (!s->gone)
			s->done = 0;
	}
	r->nvisits = 0;
	r->cur = 0;
	r->idle = r->tail = 0;
}

static int
reader_write_checkpoint(struct spool_reader *r, const uint64_t *committed,
    char **err)
{
	struct buf	 b = BUF_INIT;
	size_t		 i;
	int		 fd = -1, rc = -1;

	buf_adds(&b, "wtc-checkpoint 1\n");
	for (i = 0; i < r->nsegs; i++) {
		if (r->segs[i].gone || r->segs[i].bad ||
		    committed[i] <= SPOOL_SEG_HDR)
			continue;
		buf_printf(&b, "%s %" PRIu64 "\n", r->segs[i].name,
		    committed[i]);
	}
	buf_printf(&b, "crc %08" PRIx32 "\n", spool_crc32c(0, b.data, b.len));

	fd = openat(r->dirfd, SPOOL_CHECKPOINT_TMP,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
		err_set(err, "cannot write spool checkpoint '%s/%s': %s",
		    r->dir, SPOOL_CHECKPOINT_TMP, strerror(errno));
		goto out;
	}
	if (renameat(r->dirfd, SPOOL_CHECKPOINT_TMP, r->dirfd,
	    SPOOL_CHECKPOINT) != 0) {
		err_set(err, "cannot rename spool checkpoint '%s/%s': %s",
		    r->dir, SPOOL_CHECKPOINT_TMP, strerror(errno));
		goto out;
	}
	if (sync_dir(r->dirfd) != 0) {
		err_set(err, "cannot sync spool directory '%s': %s", r->dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	return (rc);
}

/* Remove the sealed segments read to the end and wholly landed. */
static void
reader_gc(struct spool_reader *r)
{
	struct spool_seg	*s;
	size_t			 i;

	for (i = r->nsegs; i-- > 0;) {
		s = &r->segs[i];
		if (s->gone) {
			reader_remove(r, i);
			continue;
		}
		if (!s->done || s->bad || s->committed < s->off ||
		    (i == r->cur && r->fd != -1))
			continue;
		if (unlinkat(r->dirfd, s->name, 0) != 0 && errno != ENOENT) {
			reader_warn(r, "cannot remove spool segment "
			    "'%s/%s': %s", r->dir, s->name, strerror(errno));
			continue;
		}
		reader_remove(r, i);
	}
}

int
spool_commit(struct spool_reader *r, const struct spool_pos *pos, char **err)
{
	struct spool_visit	*v;
	struct spool_seg	*s;
	uint64_t		*committed = NULL;
	int			*applied = NULL;
	size_t			 i, j, k, at;
	int			 rc = -1;

	for (k = 0; k < r->nvisits; k++) {
		v = &r->visits[k];
		if (strncmp(v->name, pos->segment, sizeof v->name) == 0 &&
		    pos->offset > v->start && pos->offset <= v->frames_end)
			break;
	}
	if (k == r->nvisits) {
		/* Committing the same position again is fine. */
		s = reader_find(r, pos->segment, NULL);
		if ((s != NULL && s->committed >= pos->offset) ||
		    (strncmp(r->last.segment, pos->segment,
		    sizeof pos->segment) == 0 && r->last.offset == pos->offset))
			return (0);
		return (err_set(err, "cannot commit spool position '%.*s' "
		    "offset %" PRIu64 ": not read since the last commit",
		    (int)strnlen(pos->segment, sizeof pos->segment),
		    pos->segment, pos->offset));
	}

	committed = xreallocarray(NULL, r->nsegs == 0 ? 1 : r->nsegs,
	    sizeof *committed);
	applied = xcalloc(r->nvisits, sizeof *applied);
	for (i = 0; i < r->nsegs; i++)
		committed[i] = r->segs[i].committed;
	for (j = 0; j < r->nvisits; j++) {
		v = &r->visits[j];
		if (reader_find(r, v->name, &at) == NULL) {
			applied[j] = j <= k;
			continue;
		}
		if (j < k || (j == k && pos->offset == v->frames_end)) {
			committed[at] = v->end;
			applied[j] = 1;
		} else if (j == k)
			committed[at] = pos->offset;
		else if (v->frames_end == v->start &&
		    committed[at] == v->start) {
			/*
			 * Later reading that only skipped bytes (damage, a
			 * torn tail, the end of a sealed segment) right after
			 * what is now landed: landed too.
			 */
			committed[at] = v->end;
			applied[j] = 1;
		}
	}
	/*
	 * If the checkpoint cannot be written (a full disk, most likely),
	 * carry on all the same: the records are in MySQL, and a crash
	 * would only land some of them again.  Removing the segments that
	 * are wholly landed is what frees the space to write it.
	 */
	r->unsaved = reader_write_checkpoint(r, committed, err) != 0;
	for (i = 0; i < r->nsegs; i++)
		r->segs[i].committed = committed[i];
	r->last = *pos;

	r->visits[k].start = pos->offset;
	for (i = j = 0; j < r->nvisits; j++) {
		if (!applied[j])
			r->visits[i++] = r->visits[j];
	}
	r->nvisits = i;

	reader_gc(r);
	rc = 0;
	if (r->unsaved) {
		free(*err);
		*err = NULL;
		rc = spool_save(r, err);
	}
	free(applied);
	free(committed);
	return (rc);
}

int
spool_save(struct spool_reader *r, char **err)
{
	uint64_t	*committed;
	size_t		 i;
	int		 rc;

	if (!r->unsaved)
		return (0);
	/* The segment being read may be wholly landed too: free its space. */
	if (r->fd != -1 && r->cur < r->nsegs && r->segs[r->cur].done &&
	    r->segs[r->cur].committed >= r->segs[r->cur].off)
		reader_close_seg(r);
	reader_gc(r);
	committed = xreallocarray(NULL, r->nsegs == 0 ? 1 : r->nsegs,
	    sizeof *committed);
	for (i = 0; i < r->nsegs; i++)
		committed[i] = r->segs[i].committed;
	rc = reader_write_checkpoint(r, committed, err) == 0 ? 0 : 1;
	if (rc == 0)
		r->unsaved = 0;
	free(committed);
	return (rc);
}

int
spool_lock_drainer(const char *dir, int *fdp, char **err)
{
	char	*path;
	int	 fd, rc = -1;

	if (mkdir_p(dir, 0700) != 0)
		return (err_set(err, "cannot create spool directory '%s': %s",
		    dir, strerror(errno)));
	path = xasprintf("%s/%s", dir, SPOOL_DRAIN_LOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		err_set(err, "cannot open drainer lock '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			rc = 0;
		else
			err_set(err, "cannot lock drainer lock '%s': %s", path,
			    strerror(errno));
		close(fd);
		goto out;
	}
	*fdp = fd;
	rc = 1;
out:
	free(path);
	return (rc);
}

static int
spool_stat_one(const char *dir, struct spool_stats *st, spool_time_fn *when,
    int held, char **err)
{
	struct spool_reader	*r;
	const void		*p;
	size_t			 len;
	uint64_t		 seg, t;
	int			 rv, rc = -1;

	r = reader_new(dir, 1, NULL, NULL);
	if ((r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			rc = 0;	/* no spool yet: nothing waiting */
		else
			err_set(err, "cannot open spool directory '%s': %s",
			    dir, strerror(errno));
		goto out;
	}
	if (reader_load_checkpoint(r, err) != 0 || reader_list(r, err) != 0)
		goto out;
	for (r->cur = 0; r->cur < r->nsegs; r->cur++) {
		seg = name_time(r->segs[r->cur].name);
		while ((rv = reader_read_seg(r, &p, &len, NULL, err)) == 1) {
			/*
			 * A record waits from when it was written: not before
			 * its segment began (a retried dead letter keeps an old
			 * time), but a held one from its first write.
			 */
			t = when != NULL ? when(p, len) : 0;
			if (t == 0 || (!held && t < seg))
				t = seg;
			if (st->records++ == 0 || t < st->oldest_us)
				st->oldest_us = t;
			st->bytes += len;
		}
		reader_close_seg(r);
		if (rv == -1)
			goto out;
		if (!r->segs[r->cur].gone)
			st->segments++;
	}
	st->damaged = r->damaged;
	rc = 0;
out:
	spool_reader_free(r);
	return (rc);
}

int
spool_reserve(const char *dir)
{
	struct statvfs	 vfs;
	struct stat	 sb;
	char		*path, *tmp;
	uint64_t	 size = SPOOL_RESERVE_MAX;
	int		 fd, made = 0;

	path = xasprintf("%s/%s", dir, SPOOL_RESERVE_FILE);
	if (stat(path, &sb) == 0 && sb.st_size > 0) {
		free(path);
		return (1);
	}
	if (statvfs(dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_blocks * vfs.f_frsize / 100 < size)
		size = (uint64_t)vfs.f_blocks * vfs.f_frsize / 100;
	tmp = xasprintf("%s.tmp", path);
	if (size > 0 && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) != -1) {
		if (posix_fallocate(fd, 0, (off_t)size) == 0 &&
		    close(fd) == 0 && rename(tmp, path) == 0)
			made = 1;
		else
			unlink(tmp);
	}
	free(tmp);
	free(path);
	return (made);
}

void
spool_writer_keep_reserve(struct spool_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->keep_reserve = 1;
	pthread_mutex_unlock(&w->lock);
	spool_reserve(w->dir);
}

int
spool_reserve_release(const char *dir)
{
	char	*path;
	int	 rc;

	path = xasprintf("%s/%s", dir, SPOOL_RESERVE_FILE);
	rc = unlink(path) == 0;
	free(path);
	return (rc);
}

char *
spool_held_dir(const char *dir, const char *table)
{
	struct buf	 b = BUF_INIT;

	buf_printf(&b, "%s/%s", dir, SPOOL_HELD_PREFIX);
	buf_add_tame(&b, table);
	return (buf_detach(&b, NULL));
}

int
spool_held_tables(const char *dir, char ***tables, size_t *n, char **err)
{
	struct dirent	*de;
	DIR		*dp;
	char		*name;
	size_t		 plen = strlen(SPOOL_HELD_PREFIX);

	*tables = NULL;
	*n = 0;
	if ((dp = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return (0);
		return (err_set(err, "cannot open spool directory '%s': %s",
		    dir, strerror(errno)));
	}
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, SPOOL_HELD_PREFIX, plen) != 0 ||
		    (name = name_untame(de->d_name + plen)) == NULL)
			continue;
		*tables = xreallocarray(*tables, *n + 1, sizeof **tables);
		(*tables)[(*n)++] = name;
	}
	closedir(dp);
	return (0);
}

int
spool_destroy(const char *dir, char **err)
{
	struct dirent	*de;
	DIR		*dp;
	int		 fd, rc = -1;

	if ((dp = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return (0);
		return (err_set(err, "cannot open spool directory '%s': %s",
		    dir, strerror(errno)));
	}
	fd = dirfd(dp);
	while ((de = readdir(dp)) != NULL) {
		/* tmp-seg-*: a writer killed while creating a segment */
		if ((strncmp(de->d_name, "seg-", 4) == 0 ||
		    strncmp(de->d_name, "tmp-seg-", 8) == 0 ||
		    strncmp(de->d_name, SPOOL_CHECKPOINT,
		    strlen(SPOOL_CHECKPOINT)) == 0) &&
		    unlinkat(fd, de->d_name, 0) != 0 && errno != ENOENT) {
			err_set(err, "cannot remove '%s/%s': %s", dir,
			    de->d_name, strerror(errno));
			goto out;
		}
	}
	if (rmdir(dir) != 0 && errno != ENOENT) {
		err_set(err, "cannot remove spool directory '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	closedir(dp);
	return (rc);
}

int
spool_stat(const char *dir, struct spool_stats *st, spool_time_fn *when,
    char **err)
{
	struct spool_stats	 hs;
	char			**tables, *path;
	size_t			 i, n;
	int			 rc = 0;

	memset(st, 0, sizeof *st);
	if (spool_stat_one(dir, st, when, 0, err) != 0 ||
	    spool_held_tables(dir, &tables, &n, err) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		memset(&hs, 0, sizeof hs);
		path = spool_held_dir(dir, tables[i]);
		if (rc == 0 &&
		    (rc = spool_stat_one(path, &hs, when, 1, err)) == 0) {
			st->segments += hs.segments;
			st->records += hs.records;
			st->bytes += hs.bytes;
			st->damaged += hs.damaged;
			st->held += hs.records;
			if (hs.oldest_us != 0 && (st->oldest_us == 0 ||
			    hs.oldest_us < st->oldest_us))
				st->oldest_us = hs.oldest_us;
		}
		free(path);
		free(tables[i]);
	}
	free(tables);
	return (rc);
}
