/*
 * The dead-letter file: load it, rewrite it atomically, count it, and the
 * few JSON scanning helpers that needs (see deadletter.h).  The lines are
 * the drainer's own output, so a scanner that finds keys and copies values
 * is enough; records are validated again by record_parse when retried.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"

/* Read all of path into b; 0 (ENOENT: 0 and b empty) or -1 with *err. */
static int
deadletter_read(const char *path, struct buf *b, char **err)
{
	char	chunk[65536];
	ssize_t	n;
	int	fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		return (err_set(err, "cannot open dead letter file '%s': %s",
		    path, strerror(errno)));
	}
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(err, "cannot read dead letter file '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		buf_add(b, chunk, (size_t)n);
	}
	rc = 0;
out:
	close(fd);
	return (rc);
}

static const char *
deadletter_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return (p);
}

/* Past the JSON value starting at p, or NULL when it does not end before end. */
static const char *
deadletter_skip(const char *p, const char *end)
{
	int	depth = 0, in_str = 0;

	if (p >= end)
		return (NULL);
	if (*p != '"' && *p != '{' && *p != '[') {
		while (p < end && strchr(",}] \t\r\n", *p) == NULL)
			p++;
		return (p);
	}
	for (; p < end; p++) {
		if (in_str) {
			if (*p == '\\')
				p++;
			else if (*p == '"') {
				in_str = 0;
				if (depth == 0)
					return (p + 1);
			}
			continue;
		}
		if (*p == '"')
			in_str = 1;
		else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return (p + 1);
	}
	return (NULL);
}

int
deadletter_field(const char *json, size_t len, const char *key,
    const char **val, size_t *vlen)
{
	const char	*p = json, *end = json + len, *k, *v;
	size_t		 klen = strlen(key);
	char		*name;
	int		 match;

	p = deadletter_ws(p, end);
	if (p >= end || *p != '{')
		return (-1);
	p = deadletter_ws(p + 1, end);
	if (p < end && *p == '}')
		return (0);
	while (p < end) {
		if (*p != '"' || (v = deadletter_skip(p, end)) == NULL)
			return (-1);
		k = p;
		if (memchr(k, '\\', (size_t)(v - k)) == NULL)
			match = (size_t)(v - k) == klen + 2 &&
			    memcmp(k + 1, key, klen) == 0;
		else {
			name = deadletter_string(k, (size_t)(v - k));
			match = name != NULL && strcmp(name, key) == 0;
			free(name);
		}
		p = deadletter_ws(v, end);
		if (p >= end || *p != ':')
			return (-1);
		p = deadletter_ws(p + 1, end);
		if ((v = deadletter_skip(p, end)) == NULL || v == p)
			return (-1);
		if (match) {
			*val = p;
			*vlen = (size_t)(v - p);
			return (1);
		}
		p = deadletter_ws(v, end);
		if (p < end && *p == '}')
			return (0);
		if (p >= end || *p != ',')
			return (-1);
		p = deadletter_ws(p + 1, end);
	}
	return (-1);
}

char *
deadletter_string(const char *val, size_t len)
{
	struct buf	 b = BUF_INIT;
	const char	*p, *end = val + len;
	unsigned	 cp, lo;

	if (len < 2 || val[0] != '"' || val[len - 1] != '"')
		return (NULL);
	buf_grow(&b, len);
	for (p = val + 1; p < end - 1; p++) {
		if (*p != '\\') {
			buf_addc(&b, *p);
			continue;
		}
		if (++p >= end - 1)
			goto bad;
		switch (*p) {
		case 'b': buf_addc(&b, '\b'); break;
		case 'f': buf_addc(&b, '\f'); break;
		case 'n': buf_addc(&b, '\n'); break;
		case 'r': buf_addc(&b, '\r'); break;
		case 't': buf_addc(&b, '\t'); break;
		case 'u':
			if (end - 1 - p < 5 || hex4_get(p + 1, &cp) != 0)
				goto bad;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - 1 - p >= 7 &&
			    p[1] == '\\' && p[2] == 'u' &&
			    hex4_get(p + 3, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			buf_add_utf8(&b, cp);
			break;
		default:
			buf_addc(&b, *p);
			break;
		}
	}
	buf_add(&b, "", 0);	/* NUL-terminated even when empty */
	return (buf_detach(&b, NULL));
bad:
	buf_release(&b);
	return (NULL);
}

void
deadletter_pretty(const char *json, size_t len, struct buf *out)
{
	const char	*p, *end = json + len, *q;
	int		 depth = 0, i;

	for (p = json; p < end; p++) {
		switch (*p) {
		case '"':
			if ((q = deadletter_skip(p, end)) == NULL)
				q = end;
			buf_add(out, p, (size_t)(q - p));
			p = q - 1;
			break;
		case '{':
		case '[':
			q = deadletter_ws(p + 1, end);
			if (q < end && (*q == '}' || *q == ']')) {
				buf_addc(out, *p);
				buf_addc(out, *q);
				p = q;
				break;
			}
			buf_addc(out, *p);
			depth++;
			buf_addc(out, '\n');
			for (i = 0; i < depth; i++)
				buf_adds(out, "  ");
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			buf_addc(out, '\n');
			for (i = 0; i < depth; i++)
				buf_adds(out, "  ");
			buf_addc(out, *p);
			break;
		case ',':
			buf_adds(out, ",\n");
			for (i = 0; i < depth; i++)
				buf_adds(out, "  ");
			break;
		case ':':
			buf_adds(out, ": ");
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			buf_addc(out, *p);
			break;
		}
	}
}

/* Copy the string field key of line into *out (NULL when absent or not a string). */
static char *
deadletter_get_string(const char *line, size_t len, const char *key)
{
	const char	*v;
	size_t		 vlen;

	if (deadletter_field(line, len, key, &v, &vlen) != 1)
		return (NULL);
	return (deadletter_string(v, vlen));
}

static void
deadletter_parse(struct deadletter *d)
{
	const char	*v;
	size_t		 vlen;
	char		*num;

	d->keep = 1;
	d->time = deadletter_get_string(d->line, d->len, "time");
	d->error = deadletter_get_string(d->line, d->len, "error");
	d->table = deadletter_get_string(d->line, d->len, "table");
	if (deadletter_field(d->line, d->len, "version", &v, &vlen) == 1) {
		num = xstrndup(v, vlen);
		d->version = strtoull(num, NULL, 10);
		free(num);
	}
	if (deadletter_field(d->line, d->len, "record", &v, &vlen) == 1 &&
	    *v == '{') {
		d->record = v;
		d->record_len = vlen;
	}
	d->raw = deadletter_field(d->line, d->len, "raw", &v, &vlen) == 1;
}

int
deadletter_load(const char *path, struct deadletter_file *f, char **err)
{
	struct buf	 b = BUF_INIT;
	const char	*p, *end, *nl;
	struct deadletter *d;
	size_t		 cap = 0;
	int		 rc = -1;

	memset(f, 0, sizeof *f);
	f->path = xstrdup(path);
	if (deadletter_read(path, &b, err) != 0)
		goto out;
	p = b.data;
	end = b.data + b.len;
	while (p != NULL && p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl > p) {
			if (f->n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				f->v = xreallocarray(f->v, cap, sizeof *f->v);
			}
			d = &f->v[f->n++];
			memset(d, 0, sizeof *d);
			d->line = xstrndup(p, (size_t)(nl - p));
			d->len = (size_t)(nl - p);
			deadletter_parse(d);
		}
		p = nl + 1;
	}
	rc = 0;
out:
	buf_release(&b);
	return (rc);
}

void
deadletter_release(struct deadletter_file *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].line);
		free(f->v[i].time);
		free(f->v[i].table);
		free(f->v[i].error);
	}
	free(f->v);
	free(f->path);
	memset(f, 0, sizeof *f);
}

int
deadletter_rewrite(const struct deadletter_file *f, char **err)
{
	struct buf	 b = BUF_INIT;
	char		*tmp, *dir, *slash;
	size_t		 i;
	int		 fd = -1, dfd = -1, rc = -1;

	tmp = xasprintf("%s.XXXXXX", f->path);
	dir = xstrdup(f->path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else {
		free(dir);
		dir = xstrdup(".");
	}
	for (i = 0; i < f->n; i++) {
		if (!f->v[i].keep)
			continue;
		buf_add(&b, f->v[i].line, f->v[i].len);
		buf_addc(&b, '\n');
	}
	if ((fd = mkstemp(tmp)) == -1) {
		err_set(err, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
		err_set(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		err_set(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, f->path) != 0) {
		err_set(err, "cannot replace dead letter file '%s': %s", f->path,
		    strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename is durable only once the directory is. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) != 0) {
		err_set(err, "cannot sync directory '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (dfd != -1)
		close(dfd);
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	buf_release(&b);
	return (rc);
}

int
deadletter_count(const char *path, uint64_t *n, char **err)
{
	struct buf	 b = BUF_INIT;
	size_t		 i;
	int		 rc = -1;

	*n = 0;
	if (deadletter_read(path, &b, err) != 0)
		goto out;
	for (i = 0; i < b.len; i++) {
		if (b.data[i] == '\n' && i > 0 && b.data[i - 1] != '\n')
			(*n)++;
	}
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		(*n)++;
	rc = 0;
out:
	buf_release(&b);
	return (rc);
}
