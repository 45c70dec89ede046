/*
 * Preloaded into wtc by 063-sync-fail.sh: the fdatasync calls whose numbers
 * (counted from 1 in each process) WTC_FAIL_FDATASYNC lists, as in "1" or
 * "1,2", fail with EIO without syncing, as on a failing disk; after
 * WTC_FAIL_FDATASYNC_DELAY_MS milliseconds, if that is set, as a disk that
 * gives up slowly does.
 *
 * With WTC_FAIL_SEGMENT_BYTES=N, spool segments (files named seg-*) take N
 * bytes of pwrite in all in each process, then the disk is full: a write
 * that goes past that writes what fits and the next one fails with ENOSPC
 * (and allocating space past it fails at once),
 * after WTC_FAIL_SEGMENT_DELAY_MS milliseconds if that is set (time for a
 * drainer to read what was written).
 *
 * With WTC_FAIL_CHECKPOINT=FILE, creating a spool checkpoint fails with
 * ENOSPC while FILE exists (remove it to give the disk space back).
 *
 * With WTC_FAIL_DEAD_LETTER=FILE, while FILE exists, a write to the
 * dead-letter file writes half of its bytes and the next one fails with
 * ENOSPC.  With WTC_FAIL_WRITE_PATH=PART, writes to files whose path
 * holds PART fail with ENOSPC.
 */
#define _GNU_SOURCE
#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long	 segment_used;	/* bytes written to segments */

static int
failsync_fd_is(int fd, const char *part)
{
	char	 link[64], path[PATH_MAX];
	ssize_t	 n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof path - 1)) <= 0)
		return (0);
	path[n] = '\0';
	return (strstr(path, part) != NULL);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t	(*real)(int, const void *, size_t);
	static int	 torn;
	const char	*p;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	if ((p = getenv("WTC_FAIL_WRITE_PATH")) != NULL && *p != '\0' &&
	    failsync_fd_is(fd, p)) {
		errno = ENOSPC;
		return (-1);
	}
	if ((p = getenv("WTC_FAIL_DEAD_LETTER")) == NULL || access(p, F_OK) != 0 ||
	    !failsync_fd_is(fd, "dead-letter.ndjson"))
		return (real(fd, buf, len));
	if (torn || len < 2) {
		torn = 0;
		errno = ENOSPC;
		return (-1);
	}
	torn = 1;
	return (real(fd, buf, len / 2));
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t		(*real)(int, const void *, size_t, off_t);
	struct timespec		 ts;
	const char		*p;
	unsigned long		 budget;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
		    RTLD_NEXT, "pwrite64");
	if ((p = getenv("WTC_FAIL_SEGMENT_BYTES")) == NULL ||
	    !failsync_fd_is(fd, "/seg-"))
		return (real(fd, buf, len, off));
	budget = strtoul(p, NULL, 10);
	if (segment_used >= budget) {
		if ((p = getenv("WTC_FAIL_SEGMENT_DELAY_MS")) != NULL) {
			ts.tv_sec = (time_t)(strtoul(p, NULL, 10) / 1000);
			ts.tv_nsec = (long)(strtoul(p, NULL, 10) % 1000) *
			    1000000;
			while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
				/* nothing */;
		}
		errno = ENOSPC;
		return (-1);
	}
	if (len > budget - segment_used)
		len = budget - segment_used;
	segment_used += len;
	return (real(fd, buf, len, off));
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	static int	(*real)(int, const char *, int, ...);
	const char	*p;
	va_list		 ap;
	mode_t		 mode = 0;

	if (real == NULL)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT,
		    "openat");
	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & O_CREAT) && strstr(path, "checkpoint") != NULL &&
	    (p = getenv("WTC_FAIL_CHECKPOINT")) != NULL &&
	    access(p, F_OK) == 0) {
		errno = ENOSPC;
		return (-1);
	}
	return (real(dirfd, path, flags, mode));
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list	 ap;
	mode_t	 mode = 0;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return (openat(dirfd, path, flags, mode));
}

/* Allocating space on a segment fails too once the budget cannot hold it. */
int
fallocate64(int fd, int mode, off_t off, off_t len)
{
	static int	(*real)(int, int, off_t, off_t);
	const char	*p;

	if (real == NULL)
		real = (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT,
		    "fallocate64");
	/* "seg-": a new segment is preallocated under "tmp-seg-...". */
	if ((p = getenv("WTC_FAIL_SEGMENT_BYTES")) != NULL &&
	    failsync_fd_is(fd, "seg-") &&
	    segment_used + (unsigned long)len > strtoul(p, NULL, 10)) {
		errno = ENOSPC;
		return (-1);
	}
	return (real(fd, mode, off, len));
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	return (fallocate64(fd, mode, off, len));
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return (pwrite64(fd, buf, len, off));
}

static void
failsync_delay(void)
{
	struct timespec	 ts;
	const char	*p;
	unsigned long	 ms;

	if ((p = getenv("WTC_FAIL_FDATASYNC_DELAY_MS")) == NULL)
		return;
	ms = strtoul(p, NULL, 10);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		/* nothing */;
}

int
fdatasync(int fd)
{
	static int		(*real)(int);
	static unsigned long	 calls;
	const char		*p;
	char			*end;
	unsigned long		 n, k;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
	if ((p = getenv("WTC_FAIL_FDATASYNC")) != NULL) {
		for (;;) {
			k = strtoul(p, &end, 10);
			if (end == p)
				break;
			if (k == n) {
				failsync_delay();
				errno = EIO;
				return (-1);
			}
			if (*end != ',')
				break;
			p = end + 1;
		}
	}
	return (real(fd));
}
