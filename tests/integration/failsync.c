/*
 * Preloaded into wtc by 063-sync-fail.sh: the fdatasync calls whose numbers
 * (counted from 1 in each process) WTC_FAIL_FDATASYNC lists, as in "1" or
 * "1,2", fail with EIO without syncing, as on a failing disk.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

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
