/*
 * The dead-letter file, SPOOL/dead-letter.ndjson: the drainer appends each
 * record MySQL rejected as one JSON object per line,
 *   {"time":"...","table":"...","version":N,"error":"...","record":{...}}
 * and each undecodable spool frame as {"time":..,"error":..,"raw":"<hex>"}.
 *
 * deadletter_load reads the whole file; every entry owns a copy of its line
 * and the fields found in it.  A line that cannot be understood (a torn
 * write) is still an entry, with table and error NULL, so that nothing is
 * lost when the file is rewritten.  deadletter_rewrite replaces the file
 * atomically (temporary file, fsync, rename, fsync of the directory) with
 * the entries whose keep flag is set.
 *
 * The drainer appends through a descriptor it keeps open, so a caller must
 * hold the drainer lock (spool_lock_drainer) while it rewrites: otherwise a
 * running drainer would go on appending to the replaced file.
 *
 * deadletter_field, deadletter_string and deadletter_pretty are the small
 * JSON scanner this needs; they find and copy, they do not validate, and
 * they do no I/O.  "wtc status" uses them on drain.state, which has the
 * same flat shape.
 */
#ifndef WTC_DEADLETTER_H
#define WTC_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct deadletter {
	char		*line;		/* the line without its newline */
	size_t		 len;
	char		*time;		/* NULL when absent */
	char		*table;		/* NULL for a raw frame or a bad line */
	char		*error;		/* NULL for a bad line */
	uint64_t	 version;
	const char	*record;	/* the "record" value's JSON text, in line, or NULL */
	size_t		 record_len;
	int		 raw;		/* an undecodable spool frame */
	int		 keep;		/* deadletter_rewrite keeps it when set; load sets 1 */
};

struct deadletter_file {
	char			*path;
	struct deadletter	*v;
	size_t			 n;
};

/* Read path; a missing file has no entries.  Returns 0, or -1 with *err. */
int	 deadletter_load(const char *path, struct deadletter_file *, char **err);
void	 deadletter_release(struct deadletter_file *);

/* Replace the file with the entries that have keep set; 0 or -1 with *err. */
int	 deadletter_rewrite(const struct deadletter_file *, char **err);

/* Count the lines of path (0 when it does not exist); 0 or -1 with *err. */
int	 deadletter_count(const char *path, uint64_t *n, char **err);

/*
 * Find the top-level key in the JSON object json[0..len).  Returns 1 with
 * *val and *vlen spanning its value's text, 0 when the key is absent, -1
 * when the text is not an object the scanner can walk.
 */
int	 deadletter_field(const char *json, size_t len, const char *key,
	    const char **val, size_t *vlen);

/* The string value val[0..len) unescaped (caller frees), or NULL if not a string. */
char	*deadletter_string(const char *val, size_t len);

/* Append json[0..len) to out indented by two spaces per level. */
void	 deadletter_pretty(const char *json, size_t len, struct buf *out);

#endif
