/*
 * Input sources for "put".  Bytes come from an fd or a string, pass through
 * zlib's inflate when they start with the gzip magic, and land in one buffer
 * that grows only as far as the largest item allowed.  NDJSON is split with
 * memchr; a JSON array is walked by a small scanner that knows strings,
 * escapes and bracket depth well enough to find where each top-level element
 * ends, and leaves validating the element to the record parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "input.h"
#include "util.h"

#define INPUT_BUF_SIZE	(256u * 1024)	/* first buffer, and the read size */
#define INPUT_SLACK	64		/* room past max_item: CR, LF, NUL */
#define INPUT_ZBUF_SIZE	(64u * 1024)	/* compressed bytes read at a time */

enum input_format {
	INPUT_UNKNOWN,
	INPUT_NDJSON,
	INPUT_ARRAY
};

/* Where the array scanner is. */
enum input_astate {
	INPUT_A_FIRST,		/* after '[': an element or ']' */
	INPUT_A_VALUE,		/* after ',': an element */
	INPUT_A_ELEM,		/* inside an element */
	INPUT_A_AFTER,		/* after an element: ',' or ']' */
	INPUT_A_SKIP,		/* after an error: up to a top-level ',' or ']' */
	INPUT_A_DONE		/* after the closing ']': only blanks */
};

struct input {
	char		*name;
	int		 fd;		/* -1 for a string source */
	int		 own_fd;
	int		 limited;	/* read no more than limit bytes of fd */
	uint64_t	 limit;
	const char	*str;		/* string source, borrowed */
	size_t		 str_len;
	size_t		 str_off;

	size_t		 max_item;
	size_t		 max_cap;	/* the buffer never grows past this */
	char		*buf;
	size_t		 cap;
	size_t		 start;		/* first byte still needed */
	size_t		 pos;		/* scan position, start <= pos <= end */
	size_t		 end;		/* end of decoded bytes */
	int		 sniffed;	/* gzip magic checked */
	int		 eof;		/* no more decoded bytes */

	int		 gz;
	int		 gz_member;	/* inside a gzip member */
	int		 raw_eof;
	z_stream	 zs;
	unsigned char	*zbuf;
	size_t		 zcap;

	enum input_format format;
	unsigned long	 line;		/* line number of buf[pos] */
	int		 done;
	char		*fatal;		/* sticky -2 message */

	/* NDJSON: discarding the rest of a line that was too long. */
	int		 skip_line;

	/* Array scanner. */
	enum input_astate astate;
	size_t		 elem_start;
	unsigned long	 elem_line;
	unsigned long	 depth;
	int		 in_str;
	int		 esc;
	int		 scalar;
	int		 discard;	/* element reported bad; not buffered */
	int		 saved;		/* buf[saved_pos] was overwritten by NUL */
	size_t		 saved_pos;
	char		 saved_char;
};

static int
input_is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

static struct input *
input_new(const char *name, int fd, int own_fd, size_t max_item)
{
	struct input	*in;

	in = xcalloc(1, sizeof *in);
	in->name = xstrdup(name);
	in->fd = fd;
	in->own_fd = own_fd;
	if (max_item == 0)
		max_item = INPUT_DEFAULT_MAX_ITEM;
	in->max_item = max_item;
	if (max_item > SIZE_MAX / 2)
		in->max_cap = SIZE_MAX / 2;
	else
		in->max_cap = max_item + INPUT_SLACK;
	if (in->max_cap < INPUT_BUF_SIZE)
		in->max_cap = INPUT_BUF_SIZE;
	in->cap = INPUT_BUF_SIZE;
	in->buf = xmalloc(in->cap);
	in->line = 1;
	return (in);
}

struct input *
input_open_file(const char *path, size_t max_item, char **err)
{
	int	 fd;

	if (strcmp(path, "-") == 0)
		return (input_new("<stdin>", STDIN_FILENO, 0, max_item));
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		err_set(err, "cannot open '%s': %s", path, strerror(errno));
		return (NULL);
	}
	return (input_new(path, fd, 1, max_item));
}

struct input *
input_open_fd(int fd, const char *label, size_t max_item, char **err)
{
	if (fd < 0) {
		err_set(err, "cannot read '%s': bad file descriptor", label);
		return (NULL);
	}
	return (input_new(label, fd, 0, max_item));
}

struct input *
input_open_string(const char *label, const char *text, size_t max_item)
{
	struct input	*in;

	in = input_new(label, -1, 0, max_item);
	in->str = text;
	in->str_len = strlen(text);
	/*
	 * Text is never gzip'd: a record (an HTTP body's first line) that
	 * starts with the gzip magic is a bad record, not bad gzip data.
	 */
	in->sniffed = 1;
	return (in);
}

void
input_set_limit(struct input *in, uint64_t bytes)
{
	in->limited = 1;
	in->limit = bytes;
}

const char *
input_name(const struct input *in)
{
	return (in->name);
}

void
input_free(struct input *in)
{
	if (in == NULL)
		return;
	if (in->gz)
		inflateEnd(&in->zs);
	if (in->own_fd && in->fd >= 0)
		close(in->fd);
	free(in->zbuf);
	free(in->buf);
	free(in->fatal);
	free(in->name);
	free(in);
}

/* Read raw bytes from the source; bytes read, 0 at the end, -1 with errno. */
static ssize_t
input_read_raw(struct input *in, void *p, size_t n)
{
	ssize_t	 r;

	if (in->fd < 0) {
		if (n > in->str_len - in->str_off)
			n = in->str_len - in->str_off;
		memcpy(p, in->str + in->str_off, n);
		in->str_off += n;
		return ((ssize_t)n);
	}
	if (in->limited && n > in->limit)
		n = (size_t)in->limit;
	if (n == 0)
		return (0);
	do
		r = read(in->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r > 0 && in->limited)
		in->limit -= (uint64_t)r;
	return (r);
}

static int
input_gz_error(struct input *in, char **err, const char *why)
{
	return (err_set(err, "cannot read '%s': invalid gzip data (%s)",
	    in->name, why));
}

/*
 * Inflate into buf[end, cap - 1).  Concatenated members are read as one
 * stream; the input may end only between members.
 */
static int
input_inflate(struct input *in, char **err)
{
	size_t	 room, got;
	ssize_t	 r;
	int	 zr;

	room = in->cap - 1 - in->end;
	for (;;) {
		if (in->zs.avail_in == 0 && !in->raw_eof) {
			r = input_read_raw(in, in->zbuf, in->zcap);
			if (r < 0)
				return (err_set(err, "cannot read '%s': %s",
				    in->name, strerror(errno)));
			if (r == 0)
				in->raw_eof = 1;
			in->zs.next_in = in->zbuf;
			in->zs.avail_in = (uInt)r;
		}
		if (!in->gz_member) {
			if (in->zs.avail_in == 0)
				return (0);	/* clean end between members */
			if (inflateReset(&in->zs) != Z_OK)
				return (input_gz_error(in, err, "cannot reset"));
			in->gz_member = 1;
		}
		if (in->zs.avail_in == 0 && in->raw_eof)
			return (input_gz_error(in, err, "unexpected end of file"));
		in->zs.next_out = (unsigned char *)in->buf + in->end;
		in->zs.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
		zr = inflate(&in->zs, Z_NO_FLUSH);
		got = (size_t)((char *)in->zs.next_out - (in->buf + in->end));
		in->end += got;
		if (zr == Z_STREAM_END)
			in->gz_member = 0;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return (input_gz_error(in, err, in->zs.msg != NULL ?
			    in->zs.msg : zError(zr)));
		if (got > 0)
			return (1);
	}
}

/* Switch to inflating if the first decoded bytes are the gzip magic. */
static int
input_sniff(struct input *in, char **err)
{
	ssize_t	 r;
	size_t	 n;

	in->sniffed = 1;
	while (in->end < 2) {
		r = input_read_raw(in, in->buf + in->end, in->cap - 1 - in->end);
		if (r < 0)
			return (err_set(err, "cannot read '%s': %s", in->name,
			    strerror(errno)));
		if (r == 0) {
			in->raw_eof = 1;
			break;
		}
		in->end += (size_t)r;
	}
	if (in->end < 2 || (unsigned char)in->buf[0] != 0x1f ||
	    (unsigned char)in->buf[1] != 0x8b)
		return (0);

	n = in->end;
	in->zcap = n > INPUT_ZBUF_SIZE ? n : INPUT_ZBUF_SIZE;
	in->zbuf = xmalloc(in->zcap);
	memcpy(in->zbuf, in->buf, n);
	in->end = 0;
	memset(&in->zs, 0, sizeof in->zs);
	if (inflateInit2(&in->zs, 16 + MAX_WBITS) != Z_OK)
		return (input_gz_error(in, err, in->zs.msg != NULL ?
		    in->zs.msg : "cannot initialise zlib"));
	in->gz = 1;
	in->gz_member = 1;
	in->zs.next_in = in->zbuf;
	in->zs.avail_in = (uInt)n;
	return (0);
}

/*
 * Get more decoded bytes after end, first dropping everything before start
 * (pos and, inside an array element, elem_start move with the data).
 * Returns 1, 0 at the end, -1 with *err.
 */
static int
input_more(struct input *in, char **err)
{
	size_t	 shift, ncap;
	ssize_t	 r;

	if (in->eof)
		return (0);
	if (!in->sniffed) {
		if (input_sniff(in, err) != 0)
			return (-1);
		if (in->end > 0)
			return (1);
		if (in->raw_eof && !in->gz) {
			in->eof = 1;
			return (0);
		}
	}

	if (in->start > 0) {
		shift = in->start;
		memmove(in->buf, in->buf + shift, in->end - shift);
		in->end -= shift;
		in->pos -= shift;
		if (in->format == INPUT_ARRAY && in->astate == INPUT_A_ELEM &&
		    !in->discard)
			in->elem_start -= shift;
		in->start = 0;
	}
	if (in->cap - 1 - in->end < in->cap / 2 && in->cap < in->max_cap) {
		ncap = in->cap > in->max_cap / 2 ? in->max_cap : in->cap * 2;
		in->buf = xrealloc(in->buf, ncap);
		in->cap = ncap;
	}
	if (in->cap - 1 - in->end == 0)
		return (err_set(err, "cannot read '%s': item buffer is full",
		    in->name));

	if (in->gz) {
		switch (input_inflate(in, err)) {
		case -1:
			return (-1);
		case 0:
			in->eof = 1;
			return (0);
		}
		return (1);
	}
	r = input_read_raw(in, in->buf + in->end, in->cap - 1 - in->end);
	if (r < 0)
		return (err_set(err, "cannot read '%s': %s", in->name,
		    strerror(errno)));
	if (r == 0) {
		in->eof = 1;
		return (0);
	}
	in->end += (size_t)r;
	return (1);
}

/* Record a fatal error: this and every later call returns -2. */
static int
input_fail(struct input *in, unsigned long *line, char **err)
{
	free(in->fatal);
	in->fatal = xstrdup(err != NULL && *err != NULL ? *err :
	    "input failed");
	*line = in->line;
	return (-2);
}

/*
 * The source is malformed from here on (an array cut short, text after
 * it): report it once with -3, then behave as at the end.
 */
static int
input_fail_syntax(struct input *in, unsigned long *line)
{
	in->done = 1;
	*line = in->line;
	return (-3);
}

/* Skip a BOM and blanks, then pick the format from the next byte. */
static int
input_detect(struct input *in, char **err)
{
	int	 r, bom_checked = 0;
	char	 c;

	for (;;) {
		if (!bom_checked && (in->end - in->pos >= 3 || in->eof)) {
			bom_checked = 1;
			if (in->end - in->pos >= 3 &&
			    memcmp(in->buf + in->pos, "\xef\xbb\xbf", 3) == 0)
				in->pos += 3;
		}
		while (bom_checked && in->pos < in->end) {
			c = in->buf[in->pos];
			if (!input_is_blank(c)) {
				in->start = in->pos;
				if (c == '[') {
					in->format = INPUT_ARRAY;
					in->astate = INPUT_A_FIRST;
					in->start = ++in->pos;
				} else
					in->format = INPUT_NDJSON;
				return (1);
			}
			if (c == '\n')
				in->line++;
			in->pos++;
		}
		if (bom_checked)
			in->start = in->pos;
		if (in->eof)
			return (0);
		if ((r = input_more(in, err)) < 0)
			return (r);
	}
}

static int
input_next_ndjson(struct input *in, const char **text, size_t *len,
    unsigned long *line, char **err)
{
	char	*p, *nl;
	size_t	 n, i;
	int	 r;

	for (;;) {
		if (in->skip_line) {
			nl = memchr(in->buf + in->pos, '\n', in->end - in->pos);
			if (nl == NULL) {
				in->start = in->pos = in->end;
				if ((r = input_more(in, err)) < 0)
					return (input_fail(in, line, err));
				if (r == 0) {
					in->skip_line = 0;
					in->done = 1;
					return (0);
				}
				continue;
			}
			in->start = in->pos = (size_t)(nl - in->buf) + 1;
			in->line++;
			in->skip_line = 0;
		}

		nl = memchr(in->buf + in->pos, '\n', in->end - in->pos);
		if (nl != NULL) {
			n = (size_t)(nl - in->buf) - in->start;
			in->pos = (size_t)(nl - in->buf) + 1;
		} else {
			in->pos = in->end;
			if (in->end - in->start > in->max_item + 1) {
				*line = in->line;
				in->skip_line = 1;
				in->start = in->pos;
				return (err_set(err, "line is longer than the "
				    "%zu-byte limit", in->max_item));
			}
			if ((r = input_more(in, err)) < 0)
				return (input_fail(in, line, err));
			if (r > 0)
				continue;
			if (in->start == in->end) {
				in->done = 1;
				return (0);
			}
			n = in->end - in->start;	/* last line, no LF */
		}

		p = in->buf + in->start;
		in->start = in->pos;
		*line = in->line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		for (i = 0; i < n && input_is_blank(p[i]); i++)
			;
		if (i == n)
			continue;
		if (n > in->max_item)
			return (err_set(err, "line is longer than the "
			    "%zu-byte limit", in->max_item));
		p[n] = '\0';
		*text = p;
		*len = n;
		return (1);
	}
}

/* An error in the array's punctuation: report it, then skip to a ',' or ']'. */
static int
input_array_punct(struct input *in, unsigned long *line, char **err,
    const char *what)
{
	*line = in->line;
	in->astate = INPUT_A_SKIP;
	in->depth = 0;
	in->in_str = 0;
	in->esc = 0;
	return (err_set(err, "invalid JSON array: expected %s at line %lu",
	    what, in->line));
}

/*
 * Scan the current element from pos; 1 when it ends (pos just past it,
 * state INPUT_A_AFTER), 0 when the buffer ran out, -1 when it turned out
 * bad (reported once; the rest is scanned without being buffered).
 */
static int
input_scan_elem(struct input *in, unsigned long *line, char **err)
{
	const char	*b = in->buf;
	size_t		 p = in->pos, end = in->end;
	int		 ended = 0;
	char		 c;

	while (p < end) {
		c = b[p];
		if (in->scalar) {
			if (input_is_blank(c) || c == ',' || c == ']' ||
			    c == '[' || c == '{' || c == '}' || c == '"' ||
			    c == ':') {
				ended = 1;
				break;
			}
			p++;
			continue;
		}
		p++;
		if (in->in_str) {
			/* Most of a string is plain bytes: pass them quickly. */
			while (!in->esc && c != '"' && c != '\\' &&
			    c != '\n' && p < end)
				c = b[p++];
			if (in->esc)
				in->esc = 0;
			else if (c == '\\')
				in->esc = 1;
			else if (c == '"') {
				in->in_str = 0;
				if (in->depth == 0) {
					ended = 1;
					break;
				}
			} else if (c == '\n')
				in->line++;
			continue;
		}
		switch (c) {
		case '"':
			in->in_str = 1;
			break;
		case '{':
		case '[':
			if (++in->depth > INPUT_MAX_DEPTH && !in->discard) {
				in->discard = 1;
				in->pos = p;
				in->start = p;
				*line = in->elem_line;
				return (err_set(err, "JSON array element is "
				    "nested more than %d levels deep",
				    INPUT_MAX_DEPTH));
			}
			break;
		case '}':
		case ']':
			if (in->depth > 0 && --in->depth == 0)
				ended = 1;
			break;
		case '\n':
			in->line++;
			break;
		}
		if (ended)
			break;
	}
	in->pos = p;
	if (ended)
		in->astate = INPUT_A_AFTER;
	if (!in->discard && p - in->elem_start > in->max_item) {
		in->discard = 1;
		in->start = p;
		*line = in->elem_line;
		return (err_set(err, "JSON array element is longer than the "
		    "%zu-byte limit", in->max_item));
	}
	if (!ended && in->discard)
		in->start = p;
	return (ended);
}

/* Skip after a punctuation error, up to and past a top-level ',' or ']'. */
static void
input_scan_skip(struct input *in)
{
	char	c;

	while (in->pos < in->end) {
		c = in->buf[in->pos++];
		if (in->in_str) {
			if (in->esc)
				in->esc = 0;
			else if (c == '\\')
				in->esc = 1;
			else if (c == '"')
				in->in_str = 0;
			else if (c == '\n')
				in->line++;
			continue;
		}
		switch (c) {
		case '"':
			in->in_str = 1;
			break;
		case '{':
		case '[':
			in->depth++;
			break;
		case '}':
			if (in->depth > 0)
				in->depth--;
			break;
		case ']':
			if (in->depth > 0)
				in->depth--;
			else {
				in->astate = INPUT_A_DONE;
				return;
			}
			break;
		case ',':
			if (in->depth == 0) {
				in->astate = INPUT_A_VALUE;
				return;
			}
			break;
		case '\n':
			in->line++;
			break;
		}
	}
	in->start = in->pos;
}

static int
input_next_array(struct input *in, const char **text, size_t *len,
    unsigned long *line, char **err)
{
	size_t	 n;
	char	 c;
	int	 r, trailing_comma;

	for (;;) {
		if (in->pos == in->end) {
			if (in->astate == INPUT_A_ELEM && !in->discard)
				in->start = in->elem_start;
			else
				in->start = in->pos;
			if ((r = input_more(in, err)) < 0)
				return (input_fail(in, line, err));
			if (r > 0)
				continue;
			if (in->astate == INPUT_A_DONE) {
				in->done = 1;
				return (0);
			}
			err_set(err, "JSON array is not closed "
			    "(unexpected end of input)");
			return (input_fail_syntax(in, line));
		}

		switch (in->astate) {
		case INPUT_A_FIRST:
		case INPUT_A_VALUE:
		case INPUT_A_AFTER:
		case INPUT_A_DONE:
			c = in->buf[in->pos];
			if (input_is_blank(c)) {
				if (c == '\n')
					in->line++;
				in->pos++;
				continue;
			}
			break;
		case INPUT_A_ELEM:
			if ((r = input_scan_elem(in, line, err)) < 0)
				return (-1);
			if (r == 0 || in->discard)
				continue;
			n = in->pos - in->elem_start;
			in->saved = 1;
			in->saved_pos = in->pos;
			in->saved_char = in->buf[in->pos];
			in->buf[in->pos] = '\0';
			*text = in->buf + in->elem_start;
			*len = n;
			*line = in->elem_line;
			return (1);
		case INPUT_A_SKIP:
			input_scan_skip(in);
			continue;
		}

		c = in->buf[in->pos];
		switch (in->astate) {
		case INPUT_A_DONE:
			*line = in->line;
			err_set(err, "trailing characters after the JSON array");
			return (input_fail_syntax(in, line));
		case INPUT_A_AFTER:
			if (c == ',') {
				in->astate = INPUT_A_VALUE;
				in->pos++;
			} else if (c == ']') {
				in->astate = INPUT_A_DONE;
				in->pos++;
			} else
				return (input_array_punct(in, line, err,
				    "',' or ']'"));
			continue;
		default:
			break;
		}

		/* INPUT_A_FIRST or INPUT_A_VALUE. */
		if (c == ']') {
			in->pos++;
			trailing_comma = in->astate == INPUT_A_VALUE;
			in->astate = INPUT_A_DONE;
			if (trailing_comma) {
				*line = in->line;
				return (err_set(err, "invalid JSON array: "
				    "expected a value at line %lu", in->line));
			}
			continue;
		}
		if (c == ',' || c == '}' || c == ':')
			return (input_array_punct(in, line, err, "a value"));
		in->astate = INPUT_A_ELEM;
		in->elem_start = in->pos;
		in->elem_line = in->line;
		in->depth = 0;
		in->in_str = 0;
		in->esc = 0;
		in->discard = 0;
		in->scalar = c != '{' && c != '[' && c != '"';
		if (c == '"') {
			in->in_str = 1;
			in->pos++;
		}
	}
}

int
input_next(struct input *in, const char **text, size_t *len,
    unsigned long *line, char **err)
{
	int	 r;

	*text = NULL;
	*len = 0;
	if (in->saved) {
		in->buf[in->saved_pos] = in->saved_char;
		in->saved = 0;
	}
	if (in->fatal != NULL) {
		*line = in->line;
		err_set(err, "%s", in->fatal);
		return (-2);
	}
	if (in->done) {
		*line = in->line;
		return (0);
	}
	if (in->format == INPUT_UNKNOWN) {
		if ((r = input_detect(in, err)) < 0)
			return (input_fail(in, line, err));
		if (r == 0) {
			in->done = 1;
			*line = in->line;
			return (0);
		}
	}
	if (in->format == INPUT_NDJSON)
		return (input_next_ndjson(in, text, len, line, err));
	return (input_next_array(in, text, len, line, err));
}
