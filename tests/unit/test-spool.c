/*
 * Unit tests for the spool: crc32c, frame encoding, writer and reader
 * round trips with rotation, recovery from damaged files, group commit,
 * write errors, a writer killed at a random moment, and preallocated
 * segments (their zero tails, and the fallback to plain appends).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#include "spool.h"
#include "util.h"

struct warns {
	int	 n;
	int	 torn;
	int	 damaged;
	int	 bad;
	int	 checkpoint;
	char	*last;
};

static void
warn_cb(void *arg, const char *msg)
{
	struct warns	*w = arg;

	w->n++;
	if (strstr(msg, "torn write at offset") != NULL)
		w->torn++;
	if (strstr(msg, "damaged data at offset") != NULL)
		w->damaged++;
	if (strstr(msg, "bad segment header") != NULL)
		w->bad++;
	if (strstr(msg, "spool checkpoint") != NULL)
		w->checkpoint++;
	free(w->last);
	w->last = xstrdup(msg);
}

static void
warns_release(struct warns *w)
{
	free(w->last);
	memset(w, 0, sizeof *w);
}

static char *
tmpdir(void)
{
	char	*d;

	d = xstrdup("/tmp/wtc-test-spool-XXXXXX");
	assert_non_null(mkdtemp(d));
	return (d);
}

static void
rmdir_all(char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

static int
cmpstr(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Sorted segment names in dir; caller frees. */
static char **
segments(const char *dir, size_t *n)
{
	struct dirent	*de;
	DIR		*d;
	char		**v = NULL;

	*n = 0;
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		v = xreallocarray(v, *n + 1, sizeof *v);
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof *v, cmpstr);
	return (v);
}

static void
segments_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static size_t
count_segments(const char *dir)
{
	char	**v;
	size_t	 n;

	v = segments(dir, &n);
	segments_free(v, n);
	return (n);
}

static char *
seg_path(const char *dir, size_t i)
{
	char	**v, *p;
	size_t	 n;

	v = segments(dir, &n);
	assert_true(i < n);
	p = xasprintf("%s/%s", dir, v[i]);
	segments_free(v, n);
	return (p);
}

/* Record i: "rec <i> " then filler, 1 to 300 bytes long in all. */
static size_t
make_record(char *buf, size_t cap, const char *tag, int i)
{
	size_t	 len, k;
	int	 n;

	n = snprintf(buf, cap, "%s %d ", tag, i);
	len = (size_t)n + (size_t)((i * 7919) % 280);
	assert_true(len < cap);
	for (k = (size_t)n; k < len; k++)
		buf[k] = (char)('a' + (i + (int)k) % 26);
	return (len);
}

static void
append_records(struct spool_writer *w, const char *tag, int from, int to,
    int sync_every)
{
	char		 rec[512];
	char		*err = NULL;
	uint64_t	 seq;
	size_t		 len;
	int		 i;

	for (i = from; i < to; i++) {
		len = make_record(rec, sizeof rec, tag, i);
		assert_int_equal(spool_append(w, rec, len, &seq, &err), 0);
		if (sync_every > 0 && (i + 1) % sync_every == 0)
			assert_int_equal(spool_sync(w, seq, &err), 0);
		/* -1: write each out (a segment rotates only between writes) */
		if (sync_every == -1)
			assert_int_equal(spool_flush(w, seq, &err), 0);
	}
	free(err);
}

static void
check_record(const void *p, size_t len, const char *tag, int i)
{
	char	 rec[512];
	size_t	 want;

	want = make_record(rec, sizeof rec, tag, i);
	assert_int_equal(len, want);
	assert_memory_equal(p, rec, len);
}

/* Index of record p if it is "tag N ...", else -1. */
static int
record_index(const void *p, size_t len, const char *tag)
{
	const char	*c = p;
	char		 s[64];
	size_t		 tl = strlen(tag), n;

	if (len < tl + 2 || memcmp(c, tag, tl) != 0 || c[tl] != ' ')
		return (-1);
	n = len - tl - 1 < 63 ? len - tl - 1 : 63;
	memcpy(s, c + tl + 1, n);
	s[n] = '\0';
	return (atoi(s));
}

/* Read until nothing is left; checks records tag from..to in order. */
static int
read_expect(struct spool_reader *r, const char *tag, int from, int to,
    struct spool_pos *last)
{
	const void		*p;
	struct spool_pos	 pos;
	size_t			 len;
	char			*err = NULL;
	int			 i = from, rv;

	while ((rv = spool_read(r, &p, &len, &pos, &err)) == 1) {
		assert_true(i < to);
		check_record(p, len, tag, i);
		i++;
		if (last != NULL)
			*last = pos;
	}
	assert_int_equal(rv, 0);
	free(err);
	return (i - from);
}

static void
flip_byte(const char *path, off_t off)
{
	unsigned char	 c;
	int		 fd;

	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0xff;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	assert_int_equal(stat(path, &sb), 0);
	return (sb.st_size);
}

/* Offset just past record k (0-based) in a segment holding records from 0. */
static off_t
frame_end(const char *tag, int k)
{
	char	 rec[512];
	off_t	 off = 8;
	int	 i;

	for (i = 0; i <= k; i++)
		off += 12 + (off_t)make_record(rec, sizeof rec, tag, i);
	return (off);
}

/* Tests ------------------------------------------------------------------ */

static void
test_crc32c(void **state)
{
	uint8_t		 buf[4099];
	uint32_t	 whole, part;
	size_t		 i, n, cut;

	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(spool_crc32c_sw(0, "123456789", 9), 0xE3069283);
	assert_int_equal(spool_crc32c(0, "", 0), 0);

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 3));
	for (n = 0; n < 200; n++) {
		/* Unaligned starts and odd lengths too. */
		whole = spool_crc32c(0, buf + n % 9, sizeof buf - 9 - n);
		assert_int_equal(whole,
		    spool_crc32c_sw(0, buf + n % 9, sizeof buf - 9 - n));
		cut = (n * 37) % (sizeof buf - 9 - n);
		part = spool_crc32c(0, buf + n % 9, cut);
		part = spool_crc32c(part, buf + n % 9 + cut,
		    sizeof buf - 9 - n - cut);
		assert_int_equal(whole, part);
	}
}

static void
test_frame_roundtrip(void **state)
{
	static const size_t	 sizes[] = { 1, 2, 7, 100, 4096, 100000 };
	const uint8_t		*pl;
	uint8_t			*f;
	size_t			 i, k, len, plen, flen;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		len = sizes[i];
		f = xmalloc(12 + len + 5);
		for (k = 0; k < len; k++)
			f[12 + k] = (uint8_t)(k * 7 + i);
		spool_frame_header(f, f + 12, len);
		assert_memory_equal(f, "WTCF", 4);
		memset(f + 12 + len, 0xaa, 5);
		/* Trailing bytes do not matter. */
		assert_int_equal(spool_frame_parse(f, 12 + len + 5, &pl, &plen,
		    &flen), 1);
		assert_ptr_equal(pl, f + 12);
		assert_int_equal(plen, len);
		assert_int_equal(flen, 12 + len);
		free(f);
	}
}

static void
test_frame_truncation_and_flips(void **state)
{
	const uint8_t	*pl;
	uint8_t		 f[12 + 40], g[sizeof f];
	uint32_t	 olen, nlen;
	size_t		 i, plen, flen;
	int		 bit, rv;

	for (i = 0; i < 40; i++)
		f[12 + i] = (uint8_t)('A' + i);
	spool_frame_header(f, f + 12, 40);

	for (i = 0; i < sizeof f; i++)
		assert_int_equal(spool_frame_parse(f, i, &pl, &plen, &flen), 0);
	assert_int_equal(spool_frame_parse(f, sizeof f, &pl, &plen, &flen), 1);

	olen = 40;
	for (i = 0; i < sizeof f; i++) {
		for (bit = -1; bit < 8; bit++) {
			memcpy(g, f, sizeof f);
			g[i] ^= bit < 0 ? 0xff : (uint8_t)(1u << bit);
			rv = spool_frame_parse(g, sizeof g, &pl, &plen, &flen);
			nlen = (uint32_t)g[4] | (uint32_t)g[5] << 8 |
			    (uint32_t)g[6] << 16 | (uint32_t)g[7] << 24;
			if (i >= 4 && i < 8 && nlen > olen &&
			    nlen <= SPOOL_FRAME_MAX)
				assert_int_equal(rv, 0);
			else
				assert_int_equal(rv, -1);
		}
	}

	/* Length 0 and too long are invalid even with a good crc. */
	memset(g, 0, sizeof g);
	spool_frame_header(g, g + 12, 0);
	assert_int_equal(spool_frame_parse(g, sizeof g, &pl, &plen, &flen), -1);
	memcpy(g, "WTCF", 4);
	g[4] = 1; g[5] = 0; g[6] = 0; g[7] = 0x10 + 1;
	assert_int_equal(spool_frame_parse(g, sizeof g, &pl, &plen, &flen), -1);
}

static void
test_roundtrip_rotation(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos, half;
	struct warns		 wn = { 0 };
	const void		*p;
	size_t			 len, nseg;
	char			*dir = tmpdir(), *err = NULL;
	int			 i;

	setenv("WTC_SPOOL_SEGMENT_MAX", "65536", 1);
	assert_non_null(w = spool_writer_open(dir, &err));
	append_records(w, "rec", 0, 100000, 100);
	assert_int_equal(spool_writer_close(w, &err), 0);
	unsetenv("WTC_SPOOL_SEGMENT_MAX");
	nseg = count_segments(dir);
	assert_true(nseg > 50);

	/* Read half, commit, and start again from there. */
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	for (i = 0; i < 50000; i++) {
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		check_record(p, len, "rec", i);
	}
	half = pos;
	assert_int_equal(spool_commit(r, &half, &err), 0);
	assert_true(count_segments(dir) < nseg / 2 + 2);
	assert_true(count_segments(dir) > nseg / 2 - 2);
	spool_reader_free(r);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "rec", 50000, 100000, &pos), 50000);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	/* Everything landed and sealed: all segments removed. */
	assert_int_equal(count_segments(dir), 0);
	/* Committing an older position again is harmless. */
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	spool_reader_free(r);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	spool_reader_free(r);
	assert_int_equal(wn.n, 0);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

/* Whether fallocate works in dir (the spool then preallocates). */
static int
can_prealloc(const char *dir)
{
	char	*p;
	int	 fd, ok;

	p = xasprintf("%s/probe", dir);
	assert_true((fd = open(p, O_CREAT | O_RDWR, 0600)) != -1);
	ok = fallocate(fd, 0, 0, 4096) == 0;
	close(fd);
	unlink(p);
	free(p);
	return (ok);
}

/*
 * A segment "being written" by the test itself: header, flock held,
 * preallocated to 64 KiB if prealloc.  Sorts before real segments.
 */
static int
fake_live_segment(const char *dir, int prealloc, char **path)
{
	int	 fd;

	*path = xasprintf("%s/seg-0000000000000001-1-00000000.wtc", dir);
	assert_true((fd = open(*path, O_CREAT | O_EXCL | O_RDWR, 0600)) != -1);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	if (prealloc)
		assert_int_equal(fallocate(fd, 0, 0, 65536), 0);
	assert_int_equal(pwrite(fd, "WTCSPL01", 8, 0), 8);
	return (fd);
}

static void
live_reader(int prealloc)
{
	struct spool_writer	*w, *w2;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	const void		*p;
	uint8_t			 frame[12 + 5], frame2[12 + 6];
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *path;
	uint64_t		 seq;
	int			 fd;

	if (prealloc && !can_prealloc(dir)) {
		print_message("no fallocate here: skipped\n");
		rmdir_all(dir);
		return;
	}
	setenv("WTC_SPOOL_PREALLOC", prealloc ? "1" : "0", 1);
	assert_non_null(w = spool_writer_open(dir, &err));
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);

	/* Zeros past the data of a live segment: more comes later. */
	append_records(w, "a", 0, 10, 10);
	path = seg_path(dir, 0);
	if (prealloc)
		assert_int_equal(file_size(path), SPOOL_SEGMENT_MAX);
	else
		assert_int_equal(file_size(path), frame_end("a", 9));
	free(path);
	assert_int_equal(read_expect(r, "a", 0, 10, NULL), 10);
	append_records(w, "a", 10, 15, 5);
	assert_int_equal(read_expect(r, "a", 10, 15, NULL), 5);

	/* Half a frame on a live segment is "not yet", not damage. */
	memcpy(frame + 12, "hello", 5);
	spool_frame_header(frame, frame + 12, 5);
	fd = fake_live_segment(dir, prealloc, &path);
	assert_int_equal(pwrite(fd, frame, 7, 8), 7);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(pwrite(fd, frame + 7, sizeof frame - 7, 15),
	    sizeof frame - 7);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "hello", 5);
	if (prealloc) {
		/*
		 * Zeros then a frame, while live: a write still being copied
		 * in, not damage.  Once the gap is written both are read.
		 */
		memcpy(frame2 + 12, "world!", 6);
		spool_frame_header(frame2, frame2 + 12, 6);
		assert_int_equal(pwrite(fd, frame2, sizeof frame2,
		    8 + sizeof frame + sizeof frame), sizeof frame2);
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
		assert_int_equal(pwrite(fd, frame, sizeof frame,
		    8 + sizeof frame), sizeof frame);
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		assert_memory_equal(p, "hello", 5);
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		assert_int_equal(len, 6);
		assert_memory_equal(p, "world!", 6);
	}
	/* Its writer gone, the zeros left are a clean end. */
	close(fd);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	free(path);

	/* A segment created after the reader opened is seen. */
	assert_non_null(w2 = spool_writer_open(dir, &err));
	append_records(w2, "b", 0, 3, 3);
	assert_int_equal(read_expect(r, "b", 0, 3, NULL), 3);
	/* Meanwhile the first writer goes on. */
	assert_int_equal(spool_append(w, "x", 1, &seq, &err), 0);
	assert_int_equal(spool_sync(w, seq, &err), 0);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	assert_int_equal(len, 1);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);

	assert_int_equal(spool_writer_close(w, &err), 0);
	assert_int_equal(spool_writer_close(w2, &err), 0);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(wn.n, 0);
	spool_reader_free(r);
	unsetenv("WTC_SPOOL_PREALLOC");
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

static void
test_live_reader(void **state)
{
	live_reader(1);
	live_reader(0);
}

/*
 * A reader that has caught up with a live writer says so at once, without
 * listing the directory and reading again: its caller naps, and its next
 * call lists.  After reading frames past a live end it does list, since
 * that segment may have been sealed meanwhile.
 */
static void
test_reader_caught_up(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	const void		*p;
	size_t			 len;
	uint64_t		 n;
	char			*dir = tmpdir(), *err = NULL;
	int			 i;

	(void)state;
	assert_non_null(w = spool_writer_open(dir, &err));
	append_records(w, "c", 0, 3, 3);
	assert_non_null(r = spool_reader_open(dir, NULL, NULL, &err));
	for (i = 0; i < 3; i++) {
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		check_record(p, len, "c", i);
	}
	n = spool_reader_lists(r);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_reader_lists(r), n);
	/* The next call lists once, finds the new frames, and goes on. */
	append_records(w, "c", 3, 5, 1);
	for (i = 3; i < 5; i++) {
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		check_record(p, len, "c", i);
	}
	assert_int_equal(spool_reader_lists(r), n + 1);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_reader_lists(r), n + 1);
	/* Sealed meanwhile: the end is no longer live, so it lists. */
	assert_int_equal(spool_writer_close(w, &err), 0);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_reader_lists(r), n + 2);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	assert_int_equal(count_segments(dir), 0);
	spool_reader_free(r);
	free(err);
	rmdir_all(dir);
}

static void
write_segment(const char *dir, const char *tag, int n)
{
	struct spool_writer	*w;
	char			*err = NULL;

	assert_non_null(w = spool_writer_open(dir, &err));
	append_records(w, tag, 0, n, -1);
	assert_int_equal(spool_writer_close(w, &err), 0);
	free(err);
}

static void
test_torn_tail(void **state)
{
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *path;
	off_t			 size;
	int			 na = 0, nc = 0;

	write_segment(dir, "a", 10);
	write_segment(dir, "b", 10);
	write_segment(dir, "c", 10);
	/* a: cut in the middle of its last frame; b: cut to 4 bytes. */
	path = seg_path(dir, 0);
	size = file_size(path);
	assert_int_equal(truncate(path, size - 5), 0);
	free(path);
	path = seg_path(dir, 1);
	assert_int_equal(truncate(path, 4), 0);
	free(path);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	while (spool_read(r, &p, &len, &pos, &err) == 1) {
		if (record_index(p, len, "a") >= 0) {
			assert_int_equal(nc, 0);
			check_record(p, len, "a", na++);
		} else
			check_record(p, len, "c", nc++);
	}
	assert_int_equal(na, 9);
	assert_int_equal(nc, 10);
	assert_int_equal(wn.torn, 1);
	assert_int_equal(wn.bad, 1);
	assert_int_equal(wn.n, 2);
	spool_reader_free(r);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

static void
test_torn_message(void **state)
{
	struct spool_reader	*r;
	struct warns		 wn = { 0 };
	struct spool_pos	 pos, last;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *path, *want;
	off_t			 end4;

	write_segment(dir, "a", 5);
	path = seg_path(dir, 0);
	end4 = frame_end("a", 3);
	assert_int_equal(truncate(path, end4 + 20), 0);
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "a", 0, 4, &last), 4);
	want = xasprintf("spool segment '%s': torn write at offset %lld "
	    "(20 bytes ignored)", path, (long long)end4);
	assert_string_equal(wn.last, want);
	free(want);
	/* Landing the last whole frame lands the torn tail too. */
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_commit(r, &last, &err), 0);
	assert_int_equal(count_segments(dir), 0);
	spool_reader_free(r);
	free(path);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

static void
test_damage_middle(void **state)
{
	struct spool_reader	*r;
	struct warns		 wn = { 0 };
	const void		*p;
	struct spool_pos	 pos;
	size_t			 len;
	char			*dir, *err = NULL, *path;
	int			 seen[100], i, idx, which, rv;
	/* Damage record 50: payload, magic, crc, length (longer, other). */
	off_t			 where[5];

	for (which = 0; which < 5; which++) {
		dir = tmpdir();
		write_segment(dir, "m", 100);
		write_segment(dir, "n", 3);
		path = seg_path(dir, 0);
		where[0] = frame_end("m", 49) + 12 + 3;
		where[1] = frame_end("m", 49) + 1;
		where[2] = frame_end("m", 49) + 9;
		where[3] = frame_end("m", 49) + 6;	/* len ^= 0xff0000 */
		where[4] = frame_end("m", 49) + 4;	/* low byte flipped */
		flip_byte(path, where[which]);

		memset(seen, 0, sizeof seen);
		memset(&wn, 0, sizeof wn);
		assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
		while ((rv = spool_read(r, &p, &len, &pos, &err)) == 1) {
			idx = record_index(p, len, "m");
			if (idx >= 0) {
				check_record(p, len, "m", idx);
				seen[idx]++;
			} else
				assert_true(record_index(p, len, "n") >= 0);
		}
		assert_int_equal(rv, 0);
		for (i = 0; i < 100; i++)
			assert_int_equal(seen[i], i == 50 ? 0 : 1);
		assert_int_equal(wn.n, 1);
		assert_int_equal(wn.damaged, 1);
		assert_non_null(strstr(wn.last, "damaged data at offset"));
		spool_reader_free(r);
		warns_release(&wn);
		free(path);
		rmdir_all(dir);
	}
	free(err);
}

static void
test_corrupt_checkpoint(void **state)
{
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *cp;
	int			 i, fd;

	write_segment(dir, "a", 20);
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	for (i = 0; i < 5; i++)
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	spool_reader_free(r);

	/* Good checkpoint: resumes. */
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "a", 5, 20, NULL), 15);
	spool_reader_free(r);
	assert_int_equal(wn.n, 0);

	/* Flipped byte: warned, read from the oldest. */
	cp = xasprintf("%s/checkpoint", dir);
	flip_byte(cp, 20);
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "a", 0, 20, NULL), 20);
	spool_reader_free(r);
	assert_int_equal(wn.checkpoint, 1);

	/* Garbage and empty files too. */
	assert_true((fd = open(cp, O_WRONLY | O_TRUNC)) != -1);
	assert_int_equal(write(fd, "junk\n", 5), 5);
	close(fd);
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "a", 0, 20, NULL), 20);
	spool_reader_free(r);
	assert_int_equal(truncate(cp, 0), 0);
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "a", 0, 20, NULL), 20);
	spool_reader_free(r);
	assert_int_equal(wn.checkpoint, 3);
	assert_int_equal(wn.n, 3);

	free(cp);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

#define GC_THREADS	50

struct gc_arg {
	struct spool_writer	*w;
	pthread_barrier_t	*barrier;
	int			 id;
	int			 rounds;
	int			 failed;
};

static void *
gc_thread(void *arg)
{
	struct gc_arg	*a = arg;
	char		 rec[64], *err = NULL;
	uint64_t	 seq;
	int		 i, n;

	for (i = 0; i < a->rounds; i++) {
		n = snprintf(rec, sizeof rec, "t%d-%d", a->id, i);
		if (spool_append(a->w, rec, (size_t)n, &seq, &err) != 0)
			a->failed++;
		if (i == 0)
			pthread_barrier_wait(a->barrier);
		if (spool_sync(a->w, seq, &err) != 0)
			a->failed++;
	}
	free(err);
	return (NULL);
}

static void
test_group_commit(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct gc_arg		 args[GC_THREADS];
	pthread_t		 th[GC_THREADS];
	pthread_barrier_t	 barrier;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL;
	struct spool_sync_times	 times;
	uint64_t		 syncs, timed;
	int			 i, n, rounds;

	for (rounds = 1; rounds <= 20; rounds += 19) {
		assert_non_null(w = spool_writer_open(dir, &err));
		pthread_barrier_init(&barrier, NULL, GC_THREADS);
		for (i = 0; i < GC_THREADS; i++) {
			args[i].w = w;
			args[i].barrier = &barrier;
			args[i].id = i;
			args[i].rounds = rounds;
			args[i].failed = 0;
			pthread_create(&th[i], NULL, gc_thread, &args[i]);
		}
		for (i = 0; i < GC_THREADS; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(args[i].failed, 0);
		}
		pthread_barrier_destroy(&barrier);
		syncs = spool_writer_syncs(w);
		print_message("group commit: %d syncs requested, %llu done\n",
		    GC_THREADS * rounds, (unsigned long long)syncs);
		/* Each of them is timed once, in one bucket. */
		spool_writer_sync_times(w, &times);
		assert_int_equal(times.count, syncs);
		for (i = 0, timed = 0; i <= SPOOL_SYNC_BUCKETS; i++)
			timed += times.bucket[i];
		assert_int_equal(timed, syncs);
		assert_true(times.sum_us > 0);
		if (rounds == 1)
			assert_true(syncs <= 2);
		else
			assert_true(syncs < (uint64_t)GC_THREADS * rounds);
		assert_int_equal(spool_writer_close(w, &err), 0);
	}

	assert_non_null(r = spool_reader_open(dir, NULL, NULL, &err));
	n = 0;
	while (spool_read(r, &p, &len, &pos, &err) == 1)
		n++;
	assert_int_equal(n, GC_THREADS * 21);
	spool_reader_free(r);
	free(err);
	rmdir_all(dir);
}

struct tw_arg {
	struct spool_writer	*w;
	const char		*tag;
};

static void *
tw_thread(void *arg)
{
	struct tw_arg	*a = arg;

	append_records(a->w, a->tag, 0, 20000, 500);
	return (NULL);
}

static void
test_two_writers(void **state)
{
	struct spool_writer	*w1, *w2;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct tw_arg		 a1, a2;
	struct warns		 wn = { 0 };
	pthread_t		 t1, t2;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL;
	int			 next_a = 0, next_b = 0, i, rv, reads = 0;

	setenv("WTC_SPOOL_SEGMENT_MAX", "100000", 1);
	assert_non_null(w1 = spool_writer_open(dir, &err));
	assert_non_null(w2 = spool_writer_open(dir, &err));
	unsetenv("WTC_SPOOL_SEGMENT_MAX");
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	a1.w = w1;
	a1.tag = "A";
	a2.w = w2;
	a2.tag = "B";
	pthread_create(&t1, NULL, tw_thread, &a1);
	pthread_create(&t2, NULL, tw_thread, &a2);

	/* Read while they write: each writer's records arrive in order. */
	for (;;) {
		rv = spool_read(r, &p, &len, &pos, &err);
		assert_int_not_equal(rv, -1);
		if (rv == 0) {
			if (next_a == 20000 && next_b == 20000)
				break;
			usleep(1000);
			continue;
		}
		if ((i = record_index(p, len, "A")) >= 0) {
			assert_int_equal(i, next_a);
			check_record(p, len, "A", next_a++);
		} else {
			i = record_index(p, len, "B");
			assert_int_equal(i, next_b);
			check_record(p, len, "B", next_b++);
		}
		if (++reads % 3000 == 0)
			assert_int_equal(spool_commit(r, &pos, &err), 0);
		if (next_a == 20000 && next_b == 20000)
			break;
	}
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(spool_writer_close(w1, &err), 0);
	assert_int_equal(spool_writer_close(w2, &err), 0);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	assert_int_equal(count_segments(dir), 0);
	assert_int_equal(wn.n, 0);
	spool_reader_free(r);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

static void
test_stat(void **state)
{
	struct spool_stats	 st;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *missing;
	char			*path;
	char			 rec[512];
	uint64_t		 bytes = 0, t0, half_bytes = 0;
	int			 i;

	missing = xasprintf("%s/none", dir);
	assert_int_equal(spool_stat(missing, &st, NULL, &err), 0);
	assert_int_equal(st.records, 0);
	free(missing);

	t0 = now_us_real();
	write_segment(dir, "a", 300);
	write_segment(dir, "b", 200);
	for (i = 0; i < 300; i++)
		bytes += make_record(rec, sizeof rec, "a", i);
	for (i = 0; i < 200; i++)
		bytes += make_record(rec, sizeof rec, "b", i);
	assert_int_equal(spool_stat(dir, &st, NULL, &err), 0);
	assert_int_equal(st.segments, 2);
	assert_int_equal(st.records, 500);
	assert_int_equal(st.bytes, bytes);
	assert_true(st.oldest_us >= t0 && st.oldest_us <= now_us_real());
	assert_int_equal(st.damaged, 0);

	/* After landing 350: only the rest of b counts. */
	assert_non_null(r = spool_reader_open(dir, NULL, NULL, &err));
	for (i = 0; i < 350; i++) {
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		half_bytes += len;
	}
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	spool_rewind(r);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	check_record(p, len, "a", 0);
	for (i = 1; i < 350; i++)
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	spool_reader_free(r);
	assert_int_equal(spool_stat(dir, &st, NULL, &err), 0);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.records, 150);
	assert_int_equal(st.bytes, bytes - half_bytes);

	/* A damaged frame is not counted, the region is. */
	path = seg_path(dir, 0);
	flip_byte(path, file_size(path) - 3);
	assert_int_equal(spool_stat(dir, &st, NULL, &err), 0);
	assert_int_equal(st.records, 149);
	assert_int_equal(st.damaged, 1);
	free(path);
	free(err);
	rmdir_all(dir);
}

static void
test_modes(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct stat		 sb;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *sub, *err = NULL, *path;
	mode_t			 old;
	int			 fd, fd2;

	old = umask(0);
	sub = xasprintf("%s/a/b", dir);
	assert_non_null(w = spool_writer_open(sub, &err));
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	append_records(w, "a", 0, 3, 3);
	path = seg_path(sub, 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(path);
	assert_int_equal(spool_writer_close(w, &err), 0);

	assert_non_null(r = spool_reader_open(sub, NULL, NULL, &err));
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	spool_reader_free(r);
	path = xasprintf("%s/checkpoint", sub);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(path);

	assert_int_equal(spool_lock_drainer(sub, &fd, &err), 1);
	assert_int_equal(spool_lock_drainer(sub, &fd2, &err), 0);
	path = xasprintf("%s/drain.lock", sub);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(path);
	close(fd);
	assert_int_equal(spool_lock_drainer(sub, &fd2, &err), 1);
	close(fd2);

	/* An existing directory keeps its mode. */
	free(sub);
	sub = xasprintf("%s/a", dir);
	assert_int_equal(chmod(sub, 0755), 0);
	assert_non_null(w = spool_writer_open(sub, &err));
	assert_int_equal(spool_writer_close(w, &err), 0);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	/* A writer that wrote nothing leaves no segment behind. */
	assert_int_equal(count_segments(sub), 0);
	umask(old);

	path = xasprintf("%s/a/b", dir);
	rmdir_all(path);
	rmdir_all(sub);
	free(err);
	rmdir_all(dir);
}

static void
test_rewind(void **state)
{
	struct spool_reader	*r;
	struct spool_pos	 pos;
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL;
	int			 i;

	setenv("WTC_SPOOL_SEGMENT_MAX", "2000", 1);
	write_segment(dir, "r", 100);	/* rotates many times */
	unsetenv("WTC_SPOOL_SEGMENT_MAX");
	assert_true(count_segments(dir) > 3);

	assert_non_null(r = spool_reader_open(dir, NULL, NULL, &err));
	/* Rewind before any commit goes back to the start. */
	for (i = 0; i < 30; i++)
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	spool_rewind(r);
	for (i = 0; i < 40; i++) {
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
		check_record(p, len, "r", i);
	}
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	for (i = 40; i < 77; i++)
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 1);
	spool_rewind(r);
	assert_int_equal(read_expect(r, "r", 40, 100, &pos), 60);
	spool_rewind(r);
	assert_int_equal(read_expect(r, "r", 40, 100, &pos), 60);
	/* An unknown position is refused. */
	memcpy(pos.segment, "seg-nope.wtc", 13);
	assert_int_equal(spool_commit(r, &pos, &err), -1);
	assert_non_null(strstr(err, "cannot commit spool position"));
	spool_reader_free(r);
	free(err);
	rmdir_all(dir);
}

/*
 * A writer on the append path (a preallocated segment has room already,
 * so a file size limit would not bite) with 100 records "e" in its first
 * segment, *path; SIGXFSZ ignored, so a write past the limit fails.
 */
static struct spool_writer *
open_appending(const char *dir, char **path)
{
	struct spool_writer	*w;
	char			*err = NULL;

	setenv("WTC_SPOOL_PREALLOC", "0", 1);
	signal(SIGXFSZ, SIG_IGN);
	assert_non_null(w = spool_writer_open(dir, &err));
	unsetenv("WTC_SPOOL_PREALLOC");
	append_records(w, "e", 0, 100, 100);
	*path = seg_path(dir, 0);
	return (w);
}

/*
 * A batch bigger than any write chunk whose write fails: none of it may
 * stay in the spool, not even its start (that used to be written and
 * synced with the segment, and landed although never acknowledged).
 */
static void
test_appendv_all_or_nothing(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct rlimit		 rl, old;
	const void		*p, **pp;
	size_t			*lens, len, i, n = 3000;
	char			*dir = tmpdir(), *err = NULL, *path, *big;
	uint64_t		 seq;
	int			 ne = 0, nbig = 0;

	w = open_appending(dir, &path);

	big = xcalloc(n, 1000);
	pp = xcalloc(n, sizeof *pp);
	lens = xcalloc(n, sizeof *lens);
	for (i = 0; i < n; i++) {
		memset(big + i * 1000, 'x', 1000);
		snprintf(big + i * 1000, 16, "big-%05zu", i);
		pp[i] = big + i * 1000;
		lens[i] = 1000;
	}
	/* Room for about half of the batch's 3 MB. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)file_size(path) + 1500000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	assert_int_equal(spool_appendv(w, pp, lens, n, &seq, &err), 0);
	assert_int_equal(spool_sync(w, seq, &err), -1);
	assert_int_equal(spool_sync(w, seq - n + 1, &err), -1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(file_size(path), frame_end("e", 99));
	spool_writer_close(w, NULL);

	assert_non_null(r = spool_reader_open(dir, NULL, NULL, &err));
	while (spool_read(r, &p, &len, &pos, &err) == 1) {
		if (len == 1000 && memcmp(p, "big-", 4) == 0)
			nbig++;
		else
			check_record(p, len, "e", ne++);
	}
	assert_int_equal(ne, 100);
	assert_int_equal(nbig, 0);
	spool_reader_free(r);
	free(lens);
	free(pp);
	free(big);
	free(path);
	signal(SIGXFSZ, SIG_DFL);
	free(err);
	rmdir_all(dir);
	(void)state;
}

static void
test_write_error(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct warns		 wn = { 0 };
	struct rlimit		 rl, old;
	char			 rec[512];
	char			*dir = tmpdir(), *err = NULL, *path;
	uint64_t		 seq, first_lost = 0;
	size_t			 len;
	int			 i, failed = 0;

	w = open_appending(dir, &path);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)file_size(path) + 5000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 100; i < 200; i++) {
		len = make_record(rec, sizeof rec, "e", i);
		assert_int_equal(spool_append(w, rec, len, &seq, &err), 0);
		if (first_lost == 0)
			first_lost = seq;
	}
	assert_int_equal(spool_sync(w, seq, &err), -1);
	assert_non_null(strstr(err, "cannot write spool segment '"));
	assert_non_null(strstr(err, "File too large"));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* Cut back to the last whole frame. */
	assert_int_equal(file_size(path), frame_end("e", 99));

	/* The next append moves to a fresh segment. */
	append_records(w, "f", 0, 100, 100);
	assert_int_equal(count_segments(dir), 2);
	/* Lost records stay unacknowledged. */
	assert_int_equal(spool_sync(w, first_lost, &err), -1);
	assert_int_equal(spool_sync(w, seq, &err), -1);
	failed = spool_writer_close(w, &err);
	assert_int_equal(failed, 0);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	{
		const void		*p;
		struct spool_pos	 pos;
		int			 ne = 0, nf = 0;

		while (spool_read(r, &p, &len, &pos, &err) == 1) {
			if (record_index(p, len, "e") >= 0)
				check_record(p, len, "e", ne++);
			else
				check_record(p, len, "f", nf++);
		}
		assert_int_equal(ne, 100);
		assert_int_equal(nf, 100);
	}
	assert_int_equal(wn.n, 0);
	spool_reader_free(r);
	signal(SIGXFSZ, SIG_DFL);
	free(path);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

static void
test_kill9(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	const void		*p;
	size_t			 len;
	char			*dir, *err = NULL;
	int			 fds[2], acked, got, round, n, status;
	pid_t			 pid;

	for (round = 0; round < 3; round++) {
		dir = tmpdir();
		assert_int_equal(pipe(fds), 0);
		if ((pid = fork()) == 0) {
			setenv("WTC_SPOOL_SEGMENT_MAX", "200000", 1);
			close(fds[0]);
			w = spool_writer_open(dir, &err);
			for (n = 0; w != NULL; n++) {
				char	 rec[512];
				uint64_t seq;

				len = make_record(rec, sizeof rec, "k", n);
				if (spool_append(w, rec, len, &seq, &err) != 0)
					_exit(1);
				if (n % 97 == 96) {
					if (spool_sync(w, seq, &err) != 0)
						_exit(1);
					acked = n + 1;
					if (write(fds[1], &acked,
					    sizeof acked) != sizeof acked)
						_exit(1);
				}
			}
			_exit(1);
		}
		close(fds[1]);
		acked = 0;
		while (acked < 3000 + round * 2000) {
			assert_int_equal(read(fds[0], &got, sizeof got),
			    sizeof got);
			acked = got;
		}
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		while (read(fds[0], &got, sizeof got) == sizeof got)
			acked = got;
		close(fds[0]);

		assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
		n = 0;
		while (spool_read(r, &p, &len, &pos, &err) == 1)
			check_record(p, len, "k", n++);
		assert_true(n >= acked);
		/* At most a torn tail. */
		assert_true(wn.n == wn.torn && wn.torn <= 1);
		spool_reader_free(r);
		warns_release(&wn);
		rmdir_all(dir);
	}
	free(err);
}

/* The last byte of a file, which the zero tail of a segment would zero. */
static int
last_byte(const char *path)
{
	unsigned char	 c;
	int		 fd;

	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(pread(fd, &c, 1, file_size(path) - 1), 1);
	close(fd);
	return (c);
}

static void
test_prealloc_roundtrip(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	char			**v, *dir = tmpdir(), *err = NULL, *path;
	size_t			 i, n;
	int			 pre;

	pre = can_prealloc(dir);
	setenv("WTC_SPOOL_SEGMENT_MAX", "65536", 1);
	assert_non_null(w = spool_writer_open(dir, &err));
	unsetenv("WTC_SPOOL_SEGMENT_MAX");
	append_records(w, "p", 0, 100, 100);
	path = seg_path(dir, 0);
	/* Live: the whole segment is allocated, the data at its start. */
	assert_int_equal(file_size(path), pre ? 65536 : frame_end("p", 99));
	free(path);
	append_records(w, "p", 100, 5000, -1);
	assert_int_equal(spool_writer_close(w, &err), 0);

	/* Sealed cleanly: each segment ends with its last frame. */
	v = segments(dir, &n);
	assert_true(n > 10);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, v[i]);
		assert_true(file_size(path) < 65536 + 512);
		assert_int_not_equal(last_byte(path), 0);
		free(path);
	}
	segments_free(v, n);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	assert_int_equal(read_expect(r, "p", 0, 5000, &pos), 5000);
	assert_int_equal(spool_commit(r, &pos, &err), 0);
	assert_int_equal(count_segments(dir), 0);
	assert_int_equal(wn.n, 0);
	spool_reader_free(r);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

/*
 * Of the bytes [off, off + len) of fd, how many lie in extents that are
 * allocated but unwritten; -1 if the file system cannot tell (no FIEMAP).
 */
static long long
unwritten_bytes(int fd, uint64_t off, uint64_t len)
{
	struct fiemap		*fm;
	struct fiemap_extent	*e;
	uint64_t		 from, to;
	long long		 n = 0;
	unsigned		 i;

	fm = xcalloc(1, sizeof *fm + 64 * sizeof *e);
	fm->fm_start = off;
	fm->fm_length = len;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = 64;
	if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
		free(fm);
		return (-1);
	}
	for (i = 0; i < fm->fm_mapped_extents; i++) {
		e = &fm->fm_extents[i];
		if ((e->fe_flags & FIEMAP_EXTENT_UNWRITTEN) == 0)
			continue;
		from = e->fe_logical > off ? e->fe_logical : off;
		to = e->fe_logical + e->fe_length;
		if (to > off + len)
			to = off + len;
		if (to > from)
			n += (long long)(to - from);
	}
	free(fm);
	return (n);
}

/*
 * Small synced writes to a preallocated segment fill the space just past
 * them with written zeros, so their fdatasyncs journal no extent changes;
 * a bulk write does not.  Readers still see only the frames.
 */
#define BIG	(2 * 1024 * 1024)
#define NZ	8000
#define SEG	(8 * 1024 * 1024)
static void
test_zero_ahead(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	const void		*p;
	char			*dir = tmpdir(), *err = NULL, *path, *big;
	uint64_t		 seq, end;
	size_t			 len;
	long long		 u;
	int			 fd, i;

	(void)state;
	if (!can_prealloc(dir)) {
		rmdir_all(dir);
		skip();
	}
	setenv("WTC_SPOOL_SEGMENT_MAX", "8388608", 1);	/* SEG */
	assert_non_null(w = spool_writer_open(dir, &err));
	unsetenv("WTC_SPOOL_SEGMENT_MAX");
	append_records(w, "z", 0, 50, 10);
	end = (uint64_t)frame_end("z", 49);
	path = seg_path(dir, 0);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	u = unwritten_bytes(fd, 0, SEG);
	if (u >= 0) {
		/* Written a stretch past the data, a short one at first... */
		assert_int_equal(unwritten_bytes(fd, 0, end + 32 * 1024), 0);
		assert_true(u >= SEG - 256 * 1024);
	}
	/* ...and half a MiB at least once the segment has grown. */
	append_records(w, "z", 50, NZ, 100);
	end = (uint64_t)frame_end("z", NZ - 1);
	assert_true(end > 1024 * 1024);
	u = unwritten_bytes(fd, 0, SEG);
	if (u >= 0) {
		assert_int_equal(unwritten_bytes(fd, 0, end + 512 * 1024), 0);
		assert_true(u >= 4 * 1024 * 1024);
	}

	/* A bulk write lands past the zeros and zeroes nothing ahead. */
	big = xmalloc(BIG);
	memset(big, 'b', BIG);
	assert_int_equal(spool_append(w, big, BIG, &seq, &err), 0);
	assert_int_equal(spool_sync(w, seq, &err), 0);
	end += 12 + BIG;
	end = (end + 4095) / 4096 * 4096;
	if (u >= 0)
		assert_int_equal(unwritten_bytes(fd, end, 512 * 1024),
		    512 * 1024);
	close(fd);
	free(path);
	append_records(w, "z", NZ, NZ + 10, 5);
	assert_int_equal(spool_writer_close(w, &err), 0);

	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	for (i = 0; spool_read(r, &p, &len, &pos, &err) == 1; i++) {
		if (i == NZ) {
			assert_int_equal(len, BIG);
			assert_memory_equal(p, big, BIG);
		} else
			check_record(p, len, "z", i < NZ ? i : i - 1);
	}
	assert_int_equal(i, NZ + 11);
	assert_int_equal(wn.n, 0);
	free(big);
	spool_reader_free(r);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

/*
 * Sealed segments with a tail of zeros, as a writer that died leaves them:
 * 0 nothing else, 1 a frame cut short, 2 cut inside its magic, 3 a whole
 * frame after some zeros (damage).
 */
static void
test_zero_tail(void **state)
{
	struct spool_reader	*r;
	struct spool_stats	 st;
	struct spool_pos	 pos, last;
	struct warns		 wn = { 0 };
	const void		*p;
	uint8_t			 frame[12 + 512];
	size_t			 len, flen;
	char			*dir, *err = NULL, *path, *want = NULL;
	off_t			 end;
	int			 which, fd, n;

	for (which = 0; which < 4; which++) {
		dir = tmpdir();
		write_segment(dir, "z", 10);
		path = seg_path(dir, 0);
		end = frame_end("z", 9);
		assert_int_equal(file_size(path), end);
		assert_true((fd = open(path, O_RDWR)) != -1);
		flen = make_record((char *)frame + 12, sizeof frame - 12, "z",
		    10);
		spool_frame_header(frame, frame + 12, flen);
		flen += 12;
		switch (which) {
		case 1:
			assert_int_equal(pwrite(fd, frame, 20, end), 20);
			want = xasprintf("spool segment '%s': torn write at "
			    "offset %lld (20 bytes ignored)", path,
			    (long long)end);
			break;
		case 2:
			assert_int_equal(pwrite(fd, frame, 2, end), 2);
			want = xasprintf("spool segment '%s': torn write at "
			    "offset %lld (2 bytes ignored)", path,
			    (long long)end);
			break;
		case 3:
			assert_int_equal(pwrite(fd, frame, flen, end + 4096),
			    (ssize_t)flen);
			want = xasprintf("spool segment '%s': damaged data at "
			    "offset %lld, skipped 4096 bytes", path,
			    (long long)end);
			break;
		}
		/* Zeros to 3 MiB, more than the reader's window. */
		assert_int_equal(ftruncate(fd, 3 << 20), 0);
		close(fd);

		assert_int_equal(spool_stat(dir, &st, NULL, &err), 0);
		assert_int_equal(st.segments, 1);
		assert_int_equal(st.records, which == 3 ? 11 : 10);
		assert_int_equal(st.damaged, which == 3 ? 1 : 0);

		memset(&wn, 0, sizeof wn);
		assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
		n = 0;
		while (spool_read(r, &p, &len, &pos, &err) == 1) {
			check_record(p, len, "z", n++);
			last = pos;
		}
		assert_int_equal(n, which == 3 ? 11 : 10);
		if (which == 0)
			assert_int_equal(wn.n, 0);
		else {
			assert_int_equal(wn.n, 1);
			assert_string_equal(wn.last, want);
		}
		/* Landing the last frame lands the segment: it goes. */
		assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
		assert_int_equal(spool_commit(r, &last, &err), 0);
		assert_int_equal(count_segments(dir), 0);
		spool_reader_free(r);
		free(want);
		want = NULL;
		warns_release(&wn);
		free(path);
		rmdir_all(dir);
	}
	free(err);
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/*
 * A writer of preallocated segments killed with -9: its segment keeps the
 * zero tail (tens of MiB), which is a clean end, read quickly; every
 * acknowledged record is there, and landing them removes the segment.
 */
static void
test_kill9_prealloc(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_stats	 st;
	struct spool_pos	 pos, last;
	struct warns		 wn = { 0 };
	const void		*p;
	size_t			 len;
	char			*dir = tmpdir(), *err = NULL, *path;
	double			 t0, t1;
	int			 fds[2], acked, got, n, status, pre;
	pid_t			 pid;

	pre = can_prealloc(dir);
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		w = spool_writer_open(dir, &err);
		for (n = 0; w != NULL; n++) {
			char	 rec[512];
			uint64_t seq;

			len = make_record(rec, sizeof rec, "k", n);
			if (spool_append(w, rec, len, &seq, &err) != 0)
				_exit(1);
			if (n % 97 == 96) {
				if (spool_sync(w, seq, &err) != 0)
					_exit(1);
				acked = n + 1;
				if (write(fds[1], &acked, sizeof acked) !=
				    sizeof acked)
					_exit(1);
			}
		}
		_exit(1);
	}
	close(fds[1]);
	acked = 0;
	while (acked < 4000) {
		assert_int_equal(read(fds[0], &got, sizeof got), sizeof got);
		acked = got;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while (read(fds[0], &got, sizeof got) == sizeof got)
		acked = got;
	close(fds[0]);

	assert_int_equal(count_segments(dir), 1);
	path = seg_path(dir, 0);
	if (pre) {
		assert_int_equal(file_size(path), SPOOL_SEGMENT_MAX);
		assert_int_equal(last_byte(path), 0);
	}

	t0 = now_s();
	assert_int_equal(spool_stat(dir, &st, NULL, &err), 0);
	t1 = now_s();
	assert_true(st.records >= (uint64_t)acked);
	assert_int_equal(st.damaged, 0);
	print_message("stat of a killed writer's segment (%lld bytes): "
	    "%.3f s\n", (long long)file_size(path), t1 - t0);

	t0 = now_s();
	assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
	n = 0;
	while (spool_read(r, &p, &len, &pos, &err) == 1) {
		check_record(p, len, "k", n++);
		last = pos;
	}
	t1 = now_s();
	print_message("read %d records (%d acknowledged): %.3f s\n", n, acked,
	    t1 - t0);
	assert_true(n >= acked);
	assert_int_equal((uint64_t)n, st.records);
	/* At most a torn tail. */
	assert_true(wn.n == wn.torn && wn.torn <= 1);
	assert_int_equal(spool_read(r, &p, &len, &pos, &err), 0);
	assert_int_equal(spool_commit(r, &last, &err), 0);
	assert_int_equal(count_segments(dir), 0);
	spool_reader_free(r);
	free(path);
	warns_release(&wn);
	free(err);
	rmdir_all(dir);
}

/* Segments that cannot be preallocated are appended to, as before. */
static void
test_prealloc_fallback(void **state)
{
	struct spool_writer	*w;
	struct spool_reader	*r;
	struct spool_pos	 pos;
	struct warns		 wn = { 0 };
	struct rlimit		 rl, old;
	char			*dir, *err = NULL, *path;
	int			 how;

	/* 0 turned off, 1 too big for the disk, 2 over the file size limit. */
	for (how = 0; how < 3; how++) {
		dir = tmpdir();
		if (how == 0)
			setenv("WTC_SPOOL_PREALLOC", "0", 1);
		if (how == 1)
			setenv("WTC_SPOOL_SEGMENT_MAX", "1125899906842624", 1);
		if (how == 2) {
			assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
			rl = old;
			rl.rlim_cur = 1 << 20;
			assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
		}
		assert_non_null(w = spool_writer_open(dir, &err));
		append_records(w, "f", 0, 100, 50);
		path = seg_path(dir, 0);
		assert_int_equal(file_size(path), frame_end("f", 99));
		append_records(w, "f", 100, 200, 50);
		assert_int_equal(file_size(path), frame_end("f", 199));
		assert_int_equal(spool_writer_close(w, &err), 0);
		if (how == 2)
			assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		unsetenv("WTC_SPOOL_PREALLOC");
		unsetenv("WTC_SPOOL_SEGMENT_MAX");
		assert_int_equal(file_size(path), frame_end("f", 199));

		assert_non_null(r = spool_reader_open(dir, warn_cb, &wn, &err));
		assert_int_equal(read_expect(r, "f", 0, 200, &pos), 200);
		assert_int_equal(spool_commit(r, &pos, &err), 0);
		assert_int_equal(count_segments(dir), 0);
		assert_int_equal(wn.n, 0);
		spool_reader_free(r);
		free(path);
		rmdir_all(dir);
	}
	warns_release(&wn);
	free(err);
}

static void
test_bad_args(void **state)
{
	struct spool_writer	*w;
	char			*dir = tmpdir(), *err = NULL, *sub;
	uint64_t		 seq;

	assert_non_null(w = spool_writer_open(dir, &err));
	assert_int_equal(spool_append(w, "", 0, &seq, &err), -1);
	assert_non_null(strstr(err, "cannot append to spool"));
	assert_int_equal(spool_writer_close(w, &err), 0);

	sub = xasprintf("%s/file", dir);
	assert_int_equal(close(open(sub, O_CREAT | O_WRONLY, 0600)), 0);
	assert_null(spool_writer_open(sub, &err));
	assert_non_null(strstr(err, "spool directory"));
	free(sub);
	free(err);
	rmdir_all(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_truncation_and_flips),
		cmocka_unit_test(test_roundtrip_rotation),
		cmocka_unit_test(test_live_reader),
		cmocka_unit_test(test_reader_caught_up),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_torn_message),
		cmocka_unit_test(test_damage_middle),
		cmocka_unit_test(test_corrupt_checkpoint),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_two_writers),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_rewind),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_appendv_all_or_nothing),
		cmocka_unit_test(test_kill9),
		cmocka_unit_test(test_prealloc_roundtrip),
		cmocka_unit_test(test_zero_ahead),
		cmocka_unit_test(test_zero_tail),
		cmocka_unit_test(test_kill9_prealloc),
		cmocka_unit_test(test_prealloc_fallback),
		cmocka_unit_test(test_bad_args),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
