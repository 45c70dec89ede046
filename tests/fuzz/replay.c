/*
 * Replays inputs through a fuzz target built without libFuzzer: each
 * argument is a file, or a directory whose regular files are all fed in
 * name order.  A crash or a failed property aborts; otherwise it prints
 * how many inputs ran and exits 0.  Used by make check
 * (tests/integration/095-fuzz-regressions.sh).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
replay_file(const char *path)
{
	FILE		*f;
	uint8_t		*data = NULL, *p;
	size_t		 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return (-1);
	}
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if ((p = realloc(data, cap)) == NULL)
				abort();
			data = p;
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(path);
		fclose(f);
		free(data);
		return (-1);
	}
	fclose(f);
	/* An exact-size copy, so that ASan sees reads past the input. */
	p = malloc(len > 0 ? len : 1);
	if (p == NULL)
		abort();
	if (len > 0)
		memcpy(p, data, len);
	free(data);
	LLVMFuzzerTestOneInput(p, len);
	free(p);
	return (0);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
main(int argc, char **argv)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		**names, *path;
	size_t		 n, cap, i, plen;
	unsigned long	 count = 0;
	int		 a, rc = 0;

	for (a = 1; a < argc; a++) {
		if (stat(argv[a], &st) != 0) {
			perror(argv[a]);
			rc = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[a]) != 0)
				rc = 1;
			else
				count++;
			continue;
		}
		if ((d = opendir(argv[a])) == NULL) {
			perror(argv[a]);
			rc = 1;
			continue;
		}
		names = NULL;
		n = cap = 0;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				if ((names = realloc(names, cap * sizeof *names)) == NULL)
					abort();
			}
			if ((names[n++] = strdup(de->d_name)) == NULL)
				abort();
		}
		closedir(d);
		if (n > 0)
			qsort(names, n, sizeof *names, name_cmp);
		for (i = 0; i < n; i++) {
			plen = strlen(argv[a]) + strlen(names[i]) + 2;
			if ((path = malloc(plen)) == NULL)
				abort();
			snprintf(path, plen, "%s/%s", argv[a], names[i]);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(path) != 0)
					rc = 1;
				else
					count++;
			}
			free(path);
			free(names[i]);
		}
		free(names);
	}
	printf("%lu inputs replayed\n", count);
	return (rc);
}
