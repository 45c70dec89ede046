/*
 * Preloaded into wtc by 063-sync-fail.sh: the fdatasync calls whose numbers
 * (counted from 1 in each process) WTC_FAIL_FDATASYNC lists, as in "1" or
 * "1,2", fail with EIO without syncing, as on a failing disk; after
 * WTC_FAIL_FDATASYNC_DELAY_MS milliseconds, if that is set, as a disk that
 * gives up slowly does.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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
