/*
 * Records: the strict JSON parser that validates one object against a table
 * schema, the binary spool payload, and JSON output.
 *
 * record_parse is on the bulk-load hot path, so it makes one pass over the
 * bytes and one allocation per record: a block holding the record, its
 * fields (one slot per schema column) and an arena sized from the input
 * length.  Every value's stored form is no longer than its JSON text, and
 * a field name is no longer than its key, so the arena cannot overflow.
 * Later additions (record_add, record_set_id, record_bind) take extra
 * chunks linked from the block.
 *
 * Nested JSON is walked with a depth counter and a bit stack, never by
 * recursion, so hostile nesting fails fast.  Byte offsets in error messages
 * are 0-based offsets into the text given to record_parse.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

#define RECORD_FORMAT	1	/* first byte of an encoded record */

struct rec_chunk {
	struct rec_chunk	*next;
};

struct rec_priv {
	char			*next;		/* free arena bytes */
	size_t			 left;
	struct rec_chunk	*chunks;	/* extra storage */
	size_t			 fcap;		/* capacity of fields */
	int			 fields_heap;	/* fields allocated apart from the block */
	int			 id_col;	/* schema id column from parse/bind, or -1 */
	const char		*id_name;	/* its name, owned by the record */
	char			 idbuf[24];	/* record_set_id's value */
};

struct rec_block {
	struct record		 rec;
	struct rec_priv		 priv;
	struct rec_field	 fields[];
};

static const char rec_empty[] = "";

/* Bytes a JSON string or json_quote cannot copy as they are. */
static const unsigned char rec_special[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1
};

static struct rec_block *
rec_block_new(size_t nfields, size_t arena)
{
	struct rec_block	*b;

	b = xmalloc(sizeof *b + nfields * sizeof b->fields[0] + arena);
	b->rec.table = NULL;
	b->rec.version = 0;
	b->rec.nfields = 0;
	b->rec.fields = b->fields;
	b->rec.id_field = -1;
	b->rec.flags = 0;
	b->rec.priv = &b->priv;
	b->priv.next = (char *)(b->fields + nfields);
	b->priv.left = arena;
	b->priv.chunks = NULL;
	b->priv.fcap = nfields;
	b->priv.fields_heap = 0;
	b->priv.id_col = -1;
	b->priv.id_name = NULL;
	return (b);
}

static char *
rec_alloc(struct record *rec, size_t n)
{
	struct rec_priv		*priv = rec->priv;
	struct rec_chunk	*c;
	size_t			 size;
	char			*p;

	if (n > priv->left) {
		size = n > 1024 ? n : 1024;
		c = xmalloc(sizeof *c + size);
		c->next = priv->chunks;
		priv->chunks = c;
		priv->next = (char *)(c + 1);
		priv->left = size;
	}
	p = priv->next;
	priv->next += n;
	priv->left -= n;
	return (p);
}

static char *
rec_strdup(struct record *rec, const char *s, size_t len)
{
	char	*p;

	p = rec_alloc(rec, len + 1);
	if (len != 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

/* Make room for one more field. */
static void
rec_reserve(struct record *rec)
{
	struct rec_priv		*priv = rec->priv;
	struct rec_field	*f;
	size_t			 cap;

	if (rec->nfields < priv->fcap)
		return;
	cap = priv->fcap < 4 ? 8 : priv->fcap * 2;
	if (priv->fields_heap)
		f = xreallocarray(rec->fields, cap, sizeof *f);
	else {
		f = xreallocarray(NULL, cap, sizeof *f);
		if (rec->nfields != 0)
			memcpy(f, rec->fields, rec->nfields * sizeof *f);
	}
	rec->fields = f;
	priv->fcap = cap;
	priv->fields_heap = 1;
}

struct record *
record_new(const char *table)
{
	struct rec_block	*b;
	size_t			 tlen = strlen(table);

	b = rec_block_new(0, tlen + 1 + 256);
	b->rec.table = rec_strdup(&b->rec, table, tlen);
	return (&b->rec);
}

void
record_add(struct record *rec, const char *name, enum rec_type type,
    const char *val, size_t len)
{
	struct rec_field	*f;

	rec_reserve(rec);
	f = &rec->fields[rec->nfields++];
	f->name = rec_strdup(rec, name, strlen(name));
	f->val = rec_strdup(rec, val == NULL ? "" : val, val == NULL ? 0 : len);
	f->len = val == NULL ? 0 : len;
	f->type = type;
	f->col = -1;
}

void
record_free(struct record *rec)
{
	struct rec_priv		*priv;
	struct rec_chunk	*c, *next;

	if (rec == NULL)
		return;
	priv = rec->priv;
	for (c = priv->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (priv->fields_heap)
		free(rec->fields);
	free(rec);	/* the block starts with the record */
}

/*
 * Length of the valid UTF-8 sequence at p, whose lead byte is >= 0x80:
 * 0 if it is invalid (overlong, surrogate, above U+10FFFF, bad
 * continuation), -1 if end cuts it short.
 */
static int
rec_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t		 avail = (size_t)(end - p);
	unsigned	 c = p[0], lo = 0x80, hi = 0xbf;
	int		 n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return (0);
	if (avail < 2)
		return (-1);
	if (p[1] < lo || p[1] > hi)
		return (0);
	for (i = 2; i < n; i++) {
		if (avail <= (size_t)i)
			return (-1);
		if ((p[i] & 0xc0) != 0x80)
			return (0);
	}
	return (n);
}

struct rec_parser {
	const unsigned char	*start;
	const unsigned char	*p;
	const unsigned char	*end;
	const struct schema	*schema;
	char			*out;	/* arena write position */
	char			**err;
};

static int
rec_syntax(struct rec_parser *ps, const unsigned char *at, const char *what)
{
	return (err_set(ps->err, "invalid JSON at byte %zu: %s",
	    (size_t)(at - ps->start), what));
}

static int
rec_eof(struct rec_parser *ps)
{
	return (err_set(ps->err, "unexpected end of JSON at byte %zu",
	    (size_t)(ps->end - ps->start)));
}

static inline void
rec_skip_ws(struct rec_parser *ps)
{
	const unsigned char	*p = ps->p, *end = ps->end;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

enum rec_str_mode {
	REC_STR_TEXT,	/* write the unescaped UTF-8 value */
	REC_STR_BYTES,	/* same, but \u0000..\u00ff stand for single bytes */
	REC_STR_RAW	/* write the literal JSON text, quotes included */
};

/*
 * Scan the JSON string whose opening quote is at ps->p, leaving ps->p after
 * the closing quote.  Writes to o as mode says; *len is what was written,
 * *nul whether the value holds U+0000.
 */
static int
rec_scan_string(struct rec_parser *ps, enum rec_str_mode mode, char *o,
    size_t *len, int *nul)
{
	const unsigned char	*p = ps->p + 1, *end = ps->end, *run, *esc;
	char			*o0 = o;
	unsigned		 cp, lo;
	int			 n, write = mode != REC_STR_RAW;

	*nul = 0;
	for (;;) {
		run = p;
		while (p < end && !rec_special[*p])
			p++;
		if (write && p != run) {
			memcpy(o, run, (size_t)(p - run));
			o += p - run;
		}
		if (p == end)
			return (rec_eof(ps));
		if (*p == '"')
			break;
		if (*p >= 0x80) {
			if ((n = rec_utf8_seq(p, end)) < 0)
				return (rec_eof(ps));
			if (n == 0)
				return (err_set(ps->err,
				    "invalid UTF-8 in string at byte %zu",
				    (size_t)(p - ps->start)));
			if (write) {
				memcpy(o, p, (size_t)n);
				o += n;
			}
			p += n;
			continue;
		}
		if (*p < 0x20)
			return (rec_syntax(ps, p,
			    "control character in string (must be escaped)"));

		esc = p;
		if (end - p < 2)
			return (rec_eof(ps));
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
			cp = p[1];
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (end - p < 6)
				return (rec_eof(ps));
			if (hex4_get((const char *)p + 2, &cp) != 0)
				return (rec_syntax(ps, esc,
				    "invalid \\u escape (expected 4 hex digits)"));
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto lone;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p > 7 && p[6] == '\\' && p[7] == 'u' &&
				    end - p < 12)
					return (rec_eof(ps));
				if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
				    hex4_get((const char *)p + 8, &lo) != 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto lone;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			p += 6;
			if (cp == 0)
				*nul = 1;
			if (mode == REC_STR_BYTES && cp <= 0xff)
				*o++ = (char)cp;
			else if (write)
				o = utf8_put(o, cp);
			continue;
		default:
			return (rec_syntax(ps, esc, "invalid escape in string"));
		}
		if (write)
			*o++ = (char)cp;
		p += 2;
	}
	p++;
	if (!write) {
		memcpy(o, ps->p, (size_t)(p - ps->p));
		o += p - ps->p;
	}
	ps->p = p;
	*len = (size_t)(o - o0);
	return (0);

lone:
	return (err_set(ps->err, "invalid \\u escape (lone surrogate) at byte %zu",
	    (size_t)(esc - ps->start)));
}

struct rec_num {
	const char	*s;		/* the number's text */
	size_t		 len;
	int		 neg;
	int		 frac;		/* has a fraction */
	int		 exp;		/* has an exponent */
};

/* Scan a JSON number at ps->p (RFC 8259 grammar). */
static int
rec_scan_number(struct rec_parser *ps, struct rec_num *n)
{
	const unsigned char	*p = ps->p, *end = ps->end;

	n->s = (const char *)p;
	n->neg = n->frac = n->exp = 0;
	if (*p == '-') {
		n->neg = 1;
		p++;
	}
	if (p == end)
		return (rec_eof(ps));
	if (*p == '0') {
		p++;
		if (p < end && *p >= '0' && *p <= '9')
			return (rec_syntax(ps, p - 1,
			    "number with a leading zero"));
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else
		return (rec_syntax(ps, p, "expected a digit"));
	if (p < end && *p == '.') {
		n->frac = 1;
		if (++p == end)
			return (rec_eof(ps));
		if (*p < '0' || *p > '9')
			return (rec_syntax(ps, p, "expected a digit after '.'"));
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		n->exp = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end)
			return (rec_eof(ps));
		if (*p < '0' || *p > '9')
			return (rec_syntax(ps, p, "expected a digit in exponent"));
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	n->len = (size_t)((const char *)p - n->s);
	ps->p = p;
	return (0);
}

/* Match one of the literals true, false, null at ps->p. */
static int
rec_scan_literal(struct rec_parser *ps, const char *word)
{
	size_t	 n = strlen(word), avail = (size_t)(ps->end - ps->p);

	if (avail >= n && memcmp(ps->p, word, n) == 0) {
		ps->p += n;
		return (0);
	}
	if (avail < n && memcmp(ps->p, word, avail) == 0)
		return (rec_eof(ps));
	return (rec_syntax(ps, ps->p, "expected a value"));
}

/* A JSON value's kind, for "must be X, not Y" messages. */
static const char *
rec_kind(unsigned char c)
{
	switch (c) {
	case '{':
		return ("an object");
	case '[':
		return ("an array");
	case '"':
		return ("a string");
	case 't':
	case 'f':
		return ("a boolean");
	case 'n':
		return ("null");
	default:
		return ("a number");
	}
}

static const char *
rec_expected(const struct schema_column *c)
{
	switch (c->type) {
	case SCHEMA_INT:
		return ("an integer");
	case SCHEMA_BOOL:
		return ("a boolean");
	case SCHEMA_DECIMAL:
	case SCHEMA_FLOAT:
		return ("a number");
	case SCHEMA_YEAR:
		return ("a year");
	default:
		return ("a string");
	}
}

static int
rec_wrong_kind(struct rec_parser *ps, const struct schema_column *c,
    unsigned char first)
{
	return (err_set(ps->err, "field '%s' must be %s, not %s", c->name,
	    rec_expected(c), rec_kind(first)));
}

/* Is the sign and magnitude within the column's integer bounds? */
static int
rec_int_fits(const struct schema_column *c, int neg, uint64_t mag)
{
	if (neg && mag != 0) {
		if (c->int_min >= 0)
			return (0);
		return (mag - 1 <= (uint64_t)(-(c->int_min + 1)));
	}
	if (c->int_min > 0 && mag < (uint64_t)c->int_min)
		return (0);
	return (mag <= c->int_max);
}

/* The magnitude of an integer's digits; -1 on overflow. */
static int
rec_int_mag(const char *s, size_t len, uint64_t *out)
{
	uint64_t	 v = 0, d;
	size_t		 i;

	for (i = 0; i < len; i++) {
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return (-1);
		v = v * 10 + d;
	}
	*out = v;
	return (0);
}

static int
rec_out_of_range(struct rec_parser *ps, const struct schema_column *c)
{
	size_t	 n = strcspn(c->sql_type, "( ");
	int	 bit = schema_is_bit(c);

	/* bit(12), whose size is the point; int unsigned, whose is not. */
	if (bit)
		n = strcspn(c->sql_type, " ");
	return (err_set(ps->err, "field '%s' is out of range for %.*s%s "
	    "(%lld..%llu)", c->name, (int)n, c->sql_type,
	    c->is_unsigned && !bit ? " unsigned" : "", (long long)c->int_min,
	    (unsigned long long)c->int_max));
}

/*
 * Check a decimal's text (a JSON number, or a string's value) against
 * decimal(p,s): an optional '-', digits without a leading zero, an optional
 * fraction, no exponent.  Too many places are refused, never rounded.
 */
static int
rec_check_decimal(struct rec_parser *ps, const struct schema_column *c,
    const char *s, size_t len)
{
	const char	*p = s, *end = s + len, *digits;
	size_t		 ndig, nfrac = 0;
	int		 neg = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	digits = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	ndig = (size_t)(p - digits);
	if (ndig == 0 || (ndig > 1 && digits[0] == '0'))
		goto bad;
	if (ndig == 1 && digits[0] == '0')
		ndig = 0;
	if (p < end && *p == '.') {
		digits = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if ((nfrac = (size_t)(p - digits)) == 0)
			goto bad;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
		return (err_set(ps->err, "field '%s' must be a decimal number "
		    "without an exponent, not %.*s", c->name, (int)len, s));
	if (p != end)
		goto bad;
	if (nfrac > c->scale) {
		if (c->scale == 0)
			return (err_set(ps->err, "field '%s' cannot have decimal "
			    "places", c->name));
		return (err_set(ps->err, "field '%s' has more than %u decimal "
		    "places", c->name, c->scale));
	}
	if (ndig > c->precision - c->scale || (neg && c->is_unsigned))
		return (err_set(ps->err, "field '%s' is out of range for "
		    "decimal(%u,%u)%s", c->name, c->precision, c->scale,
		    c->is_unsigned ? " unsigned" : ""));
	return (0);

bad:
	return (err_set(ps->err, "field '%s' must be a decimal number like "
	    "12.34", c->name));
}

/*
 * strtod of s[0..len), which need not be NUL-terminated; 1 when all of it
 * is the number.
 */
static int
rec_strtod(const char *s, size_t len, double *d)
{
	char	 small[64], *t = small, *end;
	int	 whole;

	if (len >= sizeof small)
		t = xmalloc(len + 1);
	memcpy(t, s, len);
	t[len] = '\0';
	*d = strtod(t, &end);
	whole = len > 0 && *end == '\0';
	if (t != small)
		free(t);
	return (whole);
}

/* Whether a JSON number's digits before any exponent are not all zero. */
static int
rec_mantissa_nonzero(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
		if (s[i] >= '1' && s[i] <= '9')
			return (1);
	}
	return (0);
}

/*
 * A FLOAT or DOUBLE takes what fits: MySQL refuses a number past its range
 * (1264, a dead letter after Redis took it) and turns one too close to
 * zero into 0 or a denormal, which Redis would keep as it was.
 */
static int
rec_check_float_range(struct rec_parser *ps, const struct schema_column *c,
    const char *s, size_t len)
{
	int	 isfloat = strncmp(c->sql_type, "float", 5) == 0;
	double	 d, max = isfloat ? FLT_MAX : DBL_MAX;
	double	 min = isfloat ? FLT_MIN : DBL_MIN;

	(void)rec_strtod(s, len, &d);	/* a JSON number, checked already */
	if (isinf(d) || fabs(d) > max || (c->is_unsigned && d < 0))
		return (err_set(ps->err, "field '%s' is out of range for %s",
		    c->name, c->sql_type));
	if (d != 0 ? fabs(d) < min : rec_mantissa_nonzero(s, len))
		return (err_set(ps->err, "field '%s' is too close to zero for "
		    "%s: MySQL would store another number", c->name,
		    c->sql_type));
	return (0);
}

/*
 * FLOAT(M,D) rounds to D places: a JSON number (exponent and all) with
 * more places than D, or more than M-D whole digits, is refused.
 */
static int
rec_check_float_md(struct rec_parser *ps, const struct schema_column *c,
    const char *s, size_t len)
{
	const char	*p = s, *end = s + len, *d0, *d1;
	size_t		 nd = 0, nint, lead = 0, trail = 0, i;
	long		 e = 0, pt;
	int		 neg = 0, eneg = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	d0 = p;
	while (p < end && ((*p >= '0' && *p <= '9') || *p == '.'))
		p++;
	d1 = p;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
	}
	if (eneg)
		e = -e;
	/* The digits, the point after nint of them, moved by e. */
	for (nint = 0; d0 + nint < d1 && d0[nint] != '.'; nint++)
		;
	for (i = 0; d0 + i < d1; i++) {
		if (d0[i] == '.')
			continue;
		if (nd == lead && d0[i] == '0')
			lead++;
		trail = d0[i] == '0' ? trail + 1 : 0;
		nd++;
	}
	if (lead == nd)
		return (0);	/* zero */
	pt = (long)nint + e - (long)lead;
	nd -= lead + trail;
	if ((long)nd - pt > (long)c->scale) {
		if (c->scale == 0)
			return (err_set(ps->err, "field '%s' cannot have decimal "
			    "places", c->name));
		return (err_set(ps->err, "field '%s' has more than %u decimal "
		    "places", c->name, c->scale));
	}
	if (pt > (long)(c->precision - c->scale) || (neg && c->is_unsigned))
		return (err_set(ps->err, "field '%s' is out of range for %s",
		    c->name, c->sql_type));
	return (0);
}

static int
rec_digits(const char *s, size_t n, unsigned *out)
{
	unsigned	 v = 0;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return (0);
}

static int
rec_valid_date(const char *s)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	unsigned	 y, m, d, max;

	if (s[4] != '-' || s[7] != '-' || rec_digits(s, 4, &y) != 0 ||
	    rec_digits(s + 5, 2, &m) != 0 || rec_digits(s + 8, 2, &d) != 0)
		return (0);
	if (m < 1 || m > 12 || d < 1)
		return (0);
	max = mdays[m - 1];
	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		max = 29;
	return (d <= max);
}

/*
 * "MM:SS[.ffffff]" at s, to end; minutes and seconds below 60.  *nfrac: the
 * fraction's digits.
 */
static int
rec_valid_mmss(const char *s, const char *end, size_t *nfrac)
{
	unsigned	 m, sec;

	*nfrac = 0;
	if (end - s < 5 || s[2] != ':' || rec_digits(s, 2, &m) != 0 ||
	    rec_digits(s + 3, 2, &sec) != 0 || m > 59 || sec > 59)
		return (0);
	s += 5;
	if (s == end)
		return (1);
	if (*s++ != '.' || end - s < 1 || end - s > 6)
		return (0);
	*nfrac = (size_t)(end - s);
	return (rec_digits(s, (size_t)(end - s), &m) == 0);
}

/*
 * More digits of a second than the column keeps would be cut off by MySQL
 * while Redis keeps them: refused, as DECIMAL's extra places are.  Extra
 * zeros change nothing: they are dropped from f's value (which ends in
 * the nfrac digits), so that Redis holds what MySQL will.
 */
static int
rec_check_fsp(struct rec_parser *ps, const struct schema_column *c,
    struct rec_field *f, size_t nfrac)
{
	char	*frac = (char *)f->val + f->len - nfrac;
	size_t	 i;

	if (nfrac <= c->precision)
		return (0);
	for (i = c->precision; i < nfrac && frac[i] == '0'; i++)
		;
	if (i == nfrac) {
		/* Cut the zeros, and the '.' with them if none is kept. */
		f->len -= nfrac - c->precision + (c->precision == 0);
		((char *)f->val)[f->len] = '\0';
		return (0);
	}
	if (c->precision == 0)
		return (err_set(ps->err, "field '%s' has a fraction of a second, "
		    "which column type %s does not keep", c->name,
		    c->sql_type));
	return (err_set(ps->err, "field '%s' has %zu digits of a second, more "
	    "than column type %s keeps (%u)", c->name, nfrac, c->sql_type,
	    c->precision));
}

/* Validate a string value (already unescaped at f->val) for column c. */
static int
rec_check_string(struct rec_parser *ps, const struct schema_column *c,
    struct rec_field *f)
{
	char		*s = (char *)f->val, *sep;
	const char	*p, *end = s + f->len;
	struct buf	 b;
	uint64_t	 chars, seen = 0;
	unsigned	 h, y;
	size_t		 i, n;
	int		 r;

	switch (c->type) {
	case SCHEMA_STRING:
		/*
		 * MySQL drops a CHAR's trailing spaces: 'x ' is 'x' there, and
		 * must be in Redis too (as a key above all: two keys, one row).
		 */
		if (strncmp(c->sql_type, "char", 4) == 0) {
			while (f->len > 0 && s[f->len - 1] == ' ')
				f->len--;
			s[f->len] = '\0';
			end = s + f->len;
		}
		if (c->max_chars == 0 || f->len <= c->max_chars)
			break;
		if (strstr(c->sql_type, "text") != NULL)	/* *text limits are bytes */
			return (err_set(ps->err, "field '%s' is longer than %llu "
			    "bytes (%zu)", c->name,
			    (unsigned long long)c->max_chars, f->len));
		for (chars = 0, p = s; p < end; p++)
			chars += ((unsigned char)*p & 0xc0) != 0x80;
		if (chars > c->max_chars)
			return (err_set(ps->err, "field '%s' is longer than %llu "
			    "characters (%llu)", c->name,
			    (unsigned long long)c->max_chars,
			    (unsigned long long)chars));
		break;
	case SCHEMA_BINARY:
		if (c->max_chars != 0 && f->len > c->max_chars)
			return (err_set(ps->err, "field '%s' is longer than %llu "
			    "bytes (%zu)", c->name,
			    (unsigned long long)c->max_chars, f->len));
		break;
	case SCHEMA_ENUM:
	case SCHEMA_SET:
		for (p = s; p <= end; p = sep + 1) {
			if (c->type == SCHEMA_SET) {
				if (f->len == 0)
					break;
				if ((sep = memchr(p, ',', (size_t)(end - p))) ==
				    NULL)
					sep = (char *)end;
			} else
				sep = (char *)end;
			n = (size_t)(sep - p);
			for (i = 0; i < c->nvalues; i++) {
				if (strlen(c->values[i]) == n &&
				    memcmp(c->values[i], p, n) == 0)
					break;
			}
			if (i == c->nvalues)
				goto bad_member;
			/* MySQL keeps a member once: 'a,a' would land as 'a'. */
			if (c->type == SCHEMA_SET && i < 64) {
				if (seen & (uint64_t)1 << i)
					return (err_set(ps->err, "field '%s' "
					    "names '%s' twice", c->name,
					    c->values[i]));
				seen |= (uint64_t)1 << i;
			}
		}
		break;
	case SCHEMA_DATE:
		if (f->len != 10 || !rec_valid_date(s))
			return (err_set(ps->err, "field '%s' must be a date like "
			    "2024-01-31", c->name));
		break;
	case SCHEMA_DATETIME:
		if (f->len < 19 || !rec_valid_date(s) ||
		    (s[10] != ' ' && s[10] != 'T') ||
		    rec_digits(s + 11, 2, &h) != 0 || h > 23 || s[13] != ':' ||
		    !rec_valid_mmss(s + 14, end, &n))
			return (err_set(ps->err, "field '%s' must be a date and "
			    "time like 2024-01-31 12:30:00", c->name));
		if (rec_check_fsp(ps, c, f, n) != 0)
			return (-1);
		s[10] = ' ';	/* the form the server hands back */
		break;
	case SCHEMA_TIME:
		p = s;
		if (p < end && *p == '-')
			p++;
		for (n = 0; p + n < end && p[n] >= '0' && p[n] <= '9'; n++)
			;
		if (n == 0 || n > 3 || p[n] != ':' ||
		    rec_digits(p, n, &h) != 0 || h > 838 ||
		    !rec_valid_mmss(p + n + 1, end, &n))
			return (err_set(ps->err, "field '%s' must be a time like "
			    "12:30:00", c->name));
		if (rec_check_fsp(ps, c, f, n) != 0)
			return (-1);
		break;
	case SCHEMA_YEAR:
		if (f->len == 0 || f->len > 4 || rec_digits(s, f->len, &y) != 0 ||
		    !(y == 0 || rec_int_fits(c, 0, y)))
			goto bad_year;
		/* Canonical text: no leading zeros. */
		n = 0;
		if (y >= 1000)
			s[n++] = (char)('0' + y / 1000);
		if (y >= 100)
			s[n++] = (char)('0' + y / 100 % 10);
		if (y >= 10)
			s[n++] = (char)('0' + y / 10 % 10);
		s[n++] = (char)('0' + y % 10);
		s[n] = '\0';
		f->len = n;
		f->type = REC_INT;
		break;
	case SCHEMA_DECIMAL:
		if (rec_check_decimal(ps, c, s, f->len) != 0)
			return (-1);
		f->type = REC_NUM;
		break;
	case SCHEMA_OTHER:
		if (strcmp(c->sql_type, "inet6") == 0) {
			b = (struct buf)BUF_INIT;
			r = record_inet6_canon(s, f->len, &b);
			buf_release(&b);
			if (r != 0)
				return (err_set(ps->err, "field '%s' must be an "
				    "IPv6 address like 2001:db8::1 (or "
				    "::ffff:192.0.2.1)", c->name));
			break;
		}
		/*
		 * MariaDB's UUID hands values back in lower case: so must
		 * Redis hold them, a key above all (one row, two keys).
		 */
		if (strcmp(c->sql_type, "uuid") != 0)
			break;
		for (i = 0; i < f->len && f->len == 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				if (s[i] != '-')
					break;
			} else if (hex_value((unsigned char)s[i]) < 0)
				break;
			else
				s[i] = (char)tolower((unsigned char)s[i]);
		}
		if (f->len != 36 || i < 36)
			return (err_set(ps->err, "field '%s' must be a UUID like "
			    "123e4567-e89b-12d3-a456-426614174000", c->name));
		break;
	default:
		return (rec_wrong_kind(ps, c, '"'));
	}
	return (0);

bad_year:
	return (err_set(ps->err, "field '%s' must be a year between %lld and "
	    "%llu (or 0)", c->name, (long long)c->int_min,
	    (unsigned long long)c->int_max));

bad_member:
	buf_init(&b);
	buf_printf(&b, "field '%s' must be %s ", c->name,
	    c->type == SCHEMA_SET ? "a comma-separated list of" : "one of");
	for (i = 0; i < c->nvalues; i++)
		buf_printf(&b, "%s'%s'", i == 0 ? "" : ", ", c->values[i]);
	err_set(ps->err, "%s", b.data);
	buf_release(&b);
	return (-1);
}

/* A number for column c, its text n. */
static int
rec_number(struct rec_parser *ps, const struct schema_column *c,
    const struct rec_num *n, struct rec_field *f)
{
	uint64_t	 mag;
	int		 over;

	f->type = REC_NUM;
	switch (c->type) {
	case SCHEMA_INT:
	case SCHEMA_YEAR:
		if (n->exp || n->frac) {
			if (c->type == SCHEMA_YEAR)
				goto bad_year;
			if (n->exp)
				return (err_set(ps->err, "field '%s' must be an "
				    "integer, not %.*s", c->name, (int)n->len,
				    n->s));
			return (err_set(ps->err, "field '%s' must be an integer, "
			    "not a number with a fraction", c->name));
		}
		over = rec_int_mag(n->s + n->neg, n->len - (size_t)n->neg,
		    &mag) != 0;
		if (c->type == SCHEMA_YEAR) {
			if (over || !(mag == 0 || rec_int_fits(c, n->neg, mag)))
				goto bad_year;
		} else if (over || !rec_int_fits(c, n->neg, mag))
			return (rec_out_of_range(ps, c));
		f->type = REC_INT;
		if (mag == 0) {
			memcpy(ps->out, "0", 2);
			f->val = ps->out;
			f->len = 1;
			ps->out += 2;
			return (0);
		}
		break;
	case SCHEMA_BOOL:
		if (n->len != 1 || (n->s[0] != '0' && n->s[0] != '1'))
			return (err_set(ps->err, "field '%s' must be true, false, "
			    "0 or 1, not %.*s", c->name, (int)n->len, n->s));
		f->type = REC_BOOL;
		break;
	case SCHEMA_DECIMAL:
		if (rec_check_decimal(ps, c, n->s, n->len) != 0)
			return (-1);
		break;
	case SCHEMA_FLOAT:
		if (rec_check_float_range(ps, c, n->s, n->len) != 0)
			return (-1);
		if (c->precision > 0 &&
		    rec_check_float_md(ps, c, n->s, n->len) != 0)
			return (-1);
		break;
	case SCHEMA_OTHER:
		break;
	case SCHEMA_JSON:
		f->type = REC_JSON;
		break;
	default:
		return (rec_wrong_kind(ps, c, '0'));
	}
	memcpy(ps->out, n->s, n->len);
	ps->out[n->len] = '\0';
	f->val = ps->out;
	f->len = n->len;
	ps->out += n->len + 1;
	return (0);

bad_year:
	return (err_set(ps->err, "field '%s' must be a year between %lld and "
	    "%llu (or 0)", c->name, (long long)c->int_min,
	    (unsigned long long)c->int_max));
}

/*
 * Copy the object or array at ps->p to the arena as compact JSON, checking
 * its syntax and depth without recursion.  objs has bit d set when level d
 * is an object.
 */
static int
rec_nested(struct rec_parser *ps, const struct schema_column *c,
    struct rec_field *f)
{
	char		*o = ps->out;
	uint64_t	 objs = 0;
	unsigned	 depth = 0;
	size_t		 len;
	int		 nul, want_key = 0;
	unsigned char	 ch, close;
	struct rec_num	 n;

	for (;;) {
		rec_skip_ws(ps);
		if (ps->p == ps->end)
			return (rec_eof(ps));
		ch = *ps->p;
		if (want_key) {
			if (ch != '"')
				return (rec_syntax(ps, ps->p,
				    "expected '\"' to start a field name"));
			if (rec_scan_string(ps, REC_STR_RAW, o, &len, &nul) != 0)
				return (-1);
			o += len;
			rec_skip_ws(ps);
			if (ps->p == ps->end)
				return (rec_eof(ps));
			if (*ps->p != ':')
				return (rec_syntax(ps, ps->p,
				    "expected ':' after field name"));
			*o++ = ':';
			ps->p++;
			want_key = 0;
			continue;
		}

		/* A value. */
		if (ch == '{' || ch == '[') {
			if (depth == RECORD_MAX_DEPTH)
				return (err_set(ps->err, "field '%s' has JSON "
				    "nested deeper than %d levels", c->name,
				    RECORD_MAX_DEPTH));
			if (ch == '{')
				objs |= (uint64_t)1 << depth;
			else
				objs &= ~((uint64_t)1 << depth);
			depth++;
			*o++ = (char)ch;
			ps->p++;
			rec_skip_ws(ps);
			if (ps->p == ps->end)
				return (rec_eof(ps));
			if (*ps->p != (ch == '{' ? '}' : ']')) {
				want_key = ch == '{';
				continue;
			}
			*o++ = (char)*ps->p++;
			depth--;
		} else if (ch == '"') {
			if (rec_scan_string(ps, REC_STR_RAW, o, &len, &nul) != 0)
				return (-1);
			o += len;
		} else if (ch == '-' || (ch >= '0' && ch <= '9')) {
			if (rec_scan_number(ps, &n) != 0)
				return (-1);
			memcpy(o, n.s, n.len);
			o += n.len;
		} else {
			if (rec_scan_literal(ps, ch == 't' ? "true" :
			    ch == 'f' ? "false" : "null") != 0)
				return (-1);
			len = ch == 'f' ? 5 : 4;
			memcpy(o, ps->p - len, len);
			o += len;
		}

		/* After a value: close containers or move to the next item. */
		for (;;) {
			if (depth == 0)
				goto done;
			rec_skip_ws(ps);
			if (ps->p == ps->end)
				return (rec_eof(ps));
			close = (objs >> (depth - 1) & 1) ? '}' : ']';
			if (*ps->p == close) {
				*o++ = (char)close;
				ps->p++;
				depth--;
				continue;
			}
			if (*ps->p != ',')
				return (rec_syntax(ps, ps->p, close == '}' ?
				    "expected ',' or '}'" : "expected ',' or ']'"));
			*o++ = ',';
			ps->p++;
			want_key = close == '}';
			break;
		}
	}

done:
	*o = '\0';
	f->type = REC_JSON;
	f->val = ps->out;
	f->len = (size_t)(o - ps->out);
	ps->out = o + 1;
	return (0);
}

/* Parse the value at ps->p for column ci into f. */
static int
rec_value(struct rec_parser *ps, int ci, struct rec_field *f)
{
	const struct schema_column	*c = &ps->schema->cols[ci];
	enum rec_str_mode		 mode;
	struct rec_num			 n;
	unsigned char			 ch = *ps->p;
	size_t				 len;
	int				 nul;

	switch (ch) {
	case '"':
		if (c->type == SCHEMA_JSON)
			mode = REC_STR_RAW;
		else if (c->type == SCHEMA_BINARY)
			mode = REC_STR_BYTES;
		else
			mode = REC_STR_TEXT;
		if (rec_scan_string(ps, mode, ps->out, &len, &nul) != 0)
			return (-1);
		f->val = ps->out;
		f->len = len;
		f->type = c->type == SCHEMA_JSON ? REC_JSON : REC_STR;
		ps->out[len] = '\0';
		ps->out += len + 1;
		if (c->type == SCHEMA_JSON)
			return (0);
		if (nul && c->type != SCHEMA_BINARY && c->type != SCHEMA_OTHER)
			return (err_set(ps->err, "field '%s' contains a NUL "
			    "character", c->name));
		if (c->type == SCHEMA_STRING && c->max_chars == 0)
			return (0);
		return (rec_check_string(ps, c, f));
	case '{':
	case '[':
		if (c->type != SCHEMA_JSON)
			return (rec_wrong_kind(ps, c, ch));
		return (rec_nested(ps, c, f));
	case 't':
	case 'f':
		if (rec_scan_literal(ps, ch == 't' ? "true" : "false") != 0)
			return (-1);
		if (c->type == SCHEMA_BOOL) {
			f->type = REC_BOOL;
			f->val = ch == 't' ? "1" : "0";
			f->len = 1;
		} else if (c->type == SCHEMA_JSON) {
			f->type = REC_JSON;
			f->val = ch == 't' ? "true" : "false";
			f->len = ch == 't' ? 4 : 5;
		} else
			return (rec_wrong_kind(ps, c, ch));
		return (0);
	case 'n':
		if (rec_scan_literal(ps, "null") != 0)
			return (-1);
		if (!c->nullable && !c->auto_increment && ci != ps->schema->id_col)
			return (err_set(ps->err, "field '%s' cannot be null",
			    c->name));
		f->type = REC_NULL;
		f->val = rec_empty;
		f->len = 0;
		return (0);
	default:
		if (ch != '-' && (ch < '0' || ch > '9'))
			return (rec_syntax(ps, ps->p, "expected a value"));
		if (rec_scan_number(ps, &n) != 0)
			return (-1);
		return (rec_number(ps, c, &n, f));
	}
}

/* Is the key k (n bytes, may hold NUL) the column name? */
static inline int
rec_name_is(const char *name, const char *k, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (name[i] != k[i] || name[i] == '\0')
			return (0);
	}
	return (name[n] == '\0');
}

static int
rec_unknown(struct rec_parser *ps, const char *key)
{
	const struct schema	*s = ps->schema;
	struct buf		 b = BUF_INIT;
	size_t			 i;
	int			 first = 1;

	buf_printf(&b, "unknown field '%s' (table '%s' has ", key, s->table);
	for (i = 0; i < s->ncols; i++) {
		if ((int)i == s->version_col)
			continue;
		buf_printf(&b, "%s%s", first ? "" : ", ", s->cols[i].name);
		first = 0;
	}
	buf_addc(&b, ')');
	err_set(ps->err, "%s", b.data);
	buf_release(&b);
	return (-1);
}

static int
rec_not_object(struct rec_parser *ps)
{
	const unsigned char	*p = ps->p;
	const char		*q;
	unsigned char	 c = *p;
	size_t		 left = (size_t)(ps->end - p);
	int		 whole = 0;

	/*
	 * Name the kind only when a whole value of that kind is there:
	 * "name=x" is not a JSON null, it is not JSON at all.
	 */
	if (c == '[' || c == '"')
		whole = 1;
	else if (c == 't' || c == 'f' || c == 'n') {
		q = c == 't' ? "true" : c == 'f' ? "false" : "null";
		if (left >= strlen(q) && memcmp(p, q, strlen(q)) == 0) {
			p += strlen(q);
			whole = 1;
		}
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		if (c == '-')
			p++;
		if (p < ps->end && *p >= '0' && *p <= '9') {
			while (p < ps->end && ((*p >= '0' && *p <= '9') ||
			    *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
			    *p == '-'))
				p++;
			whole = 1;
		}
	}
	if (whole && c != '[' && c != '"' && p < ps->end && *p != ' ' &&
	    *p != '\t' && *p != '\r' && *p != '\n')
		whole = 0;
	if (whole)
		return (err_set(ps->err, "record must be a JSON object, not %s",
		    rec_kind(c)));
	return (rec_syntax(ps, ps->p, "expected '{'"));
}

/* Past a BOM and blanks to the record's '{', or -1 with *ps->err. */
static int
rec_lead(struct rec_parser *ps)
{
	if (ps->end - ps->start >= 3 && memcmp(ps->start, "\xef\xbb\xbf", 3) == 0)
		ps->p += 3;
	rec_skip_ws(ps);
	if (ps->p == ps->end)
		return (rec_eof(ps));
	if (*ps->p != '{')
		return (rec_not_object(ps));
	return (0);
}

int
record_lead_check(const char *json, size_t len, char **err)
{
	struct rec_parser	ps;

	memset(&ps, 0, sizeof ps);
	ps.start = ps.p = (const unsigned char *)json;
	ps.end = ps.start + len;
	ps.err = err;
	return (rec_lead(&ps));
}

/*
 * The members of the record object, after its '{' up to and including its
 * '}'.  Each known key's field goes to fields[column]; its name is the key
 * unescaped in place in the arena.
 */
static int
rec_members(struct rec_parser *ps, struct rec_field *fields)
{
	const struct schema		*s = ps->schema;
	const struct schema_column	*c;
	struct rec_field		*f;
	size_t				 i, klen;
	int				 ci, expect = 0, nul;

	rec_skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return (0);
	}
	for (;;) {
		rec_skip_ws(ps);
		if (ps->p == ps->end)
			return (rec_eof(ps));
		if (*ps->p != '"')
			return (rec_syntax(ps, ps->p,
			    "expected '\"' to start a field name"));
		if (rec_scan_string(ps, REC_STR_TEXT, ps->out, &klen, &nul) != 0)
			return (-1);
		ps->out[klen] = '\0';

		/* Keys mostly come in column order: try the next column first. */
		ci = -1;
		if ((size_t)expect < s->ncols &&
		    rec_name_is(s->cols[expect].name, ps->out, klen))
			ci = expect;
		else {
			for (i = 0; i < s->ncols; i++) {
				if (s->cols[i].name[0] == ps->out[0] &&
				    rec_name_is(s->cols[i].name, ps->out, klen)) {
					ci = (int)i;
					break;
				}
			}
		}
		if (ci < 0)
			return (rec_unknown(ps, ps->out));
		c = &s->cols[ci];
		if (ci == s->version_col)
			return (err_set(ps->err, "field '%s' is managed by wtc "
			    "and cannot be set", c->name));
		if (c->generated)
			return (err_set(ps->err, "field '%s' is a generated "
			    "column: MySQL computes it and refuses a value",
			    c->name));
		f = &fields[ci];
		if (f->name != NULL)
			return (err_set(ps->err, "duplicate field '%s'", c->name));
		f->name = ps->out;
		f->col = ci;
		ps->out += klen + 1;

		rec_skip_ws(ps);
		if (ps->p == ps->end)
			return (rec_eof(ps));
		if (*ps->p != ':')
			return (rec_syntax(ps, ps->p,
			    "expected ':' after field name"));
		ps->p++;
		rec_skip_ws(ps);
		if (ps->p == ps->end)
			return (rec_eof(ps));
		if (rec_value(ps, ci, f) != 0)
			return (-1);

		expect = ci + 1;
		if (expect == s->version_col)
			expect++;
		rec_skip_ws(ps);
		if (ps->p == ps->end)
			return (rec_eof(ps));
		if (*ps->p == '}') {
			ps->p++;
			return (0);
		}
		if (*ps->p != ',')
			return (rec_syntax(ps, ps->p,
			    "expected ',' or '}' after a value"));
		ps->p++;
	}
}

int
record_parse(const char *json, size_t len, const struct schema *s,
    struct record **out, char **err)
{
	struct rec_block		*b;
	struct record			*rec;
	struct rec_field		*fields, *f;
	struct rec_parser		 ps;
	const struct schema_column	*c;
	size_t				 tlen, idlen = 0, i, n;

	*out = NULL;
	tlen = strlen(s->table);
	if (s->id_col >= 0)
		idlen = strlen(s->cols[s->id_col].name);
	b = rec_block_new(s->ncols, tlen + 1 + idlen + 1 + 2 * s->ncols + len + 8);
	rec = &b->rec;
	fields = rec->fields;
	for (i = 0; i < s->ncols; i++)
		fields[i].name = NULL;
	b->priv.id_col = s->id_col;

	ps.start = ps.p = (const unsigned char *)json;
	ps.end = ps.start + len;
	ps.schema = s;
	ps.err = err;
	ps.out = b->priv.next;
	memcpy(ps.out, s->table, tlen + 1);
	rec->table = ps.out;
	ps.out += tlen + 1;

	if (rec_lead(&ps) != 0)
		goto fail;
	ps.p++;
	if (rec_members(&ps, fields) != 0)
		goto fail;
	rec_skip_ws(&ps);
	if (ps.p != ps.end) {
		err_set(err, "trailing characters after the JSON object at byte %zu",
		    (size_t)(ps.p - ps.start));
		goto fail;
	}

	/* Required columns, the id slot, and fields packed in column order. */
	n = 0;
	for (i = 0; i < s->ncols; i++) {
		f = &fields[i];
		c = &s->cols[i];
		if (f->name == NULL) {
			if ((int)i != s->id_col) {
				if (!c->nullable && !c->has_default &&
				    !c->auto_increment && !c->generated &&
				    (int)i != s->version_col) {
					err_set(err, "missing required field '%s'",
					    c->name);
					goto fail;
				}
				continue;
			}
			memcpy(ps.out, c->name, idlen + 1);
			f->name = ps.out;
			ps.out += idlen + 1;
			f->val = rec_empty;
			f->len = 0;
			f->type = REC_NULL;
			f->col = (int)i;
		}
		if ((int)i == s->id_col) {
			rec->id_field = (int)n;
			b->priv.id_name = f->name;
		}
		if (n != i)
			fields[n] = *f;
		n++;
	}
	rec->nfields = n;
	b->priv.left -= (size_t)(ps.out - b->priv.next);
	b->priv.next = ps.out;
	*out = rec;
	return (0);

fail:
	record_free(rec);
	return (-1);
}

void
record_set_id(struct record *rec, uint64_t id)
{
	struct rec_priv		*priv = rec->priv;
	struct rec_field	*f;
	char			 tmp[24];
	size_t			 n = 0, i, pos;

	if (rec->id_field < 0) {
		if (priv->id_name == NULL)
			return;
		rec_reserve(rec);
		pos = rec->nfields;
		for (i = 0; i < rec->nfields; i++) {
			if (rec->fields[i].col > priv->id_col) {
				pos = i;
				break;
			}
		}
		memmove(&rec->fields[pos + 1], &rec->fields[pos],
		    (rec->nfields - pos) * sizeof rec->fields[0]);
		rec->nfields++;
		rec->fields[pos].name = priv->id_name;
		rec->fields[pos].col = priv->id_col;
		rec->id_field = (int)pos;
	}
	do {
		tmp[n++] = (char)('0' + id % 10);
		id /= 10;
	} while (id != 0);
	for (i = 0; i < n; i++)
		priv->idbuf[i] = tmp[n - 1 - i];
	priv->idbuf[n] = '\0';
	f = &rec->fields[rec->id_field];
	f->val = priv->idbuf;
	f->len = n;
	f->type = REC_INT;
}

int
record_has_id(const struct record *rec)
{
	return (rec->id_field >= 0 &&
	    rec->fields[rec->id_field].type != REC_NULL);
}

uint64_t
record_max_id(struct record *const *recs, size_t n)
{
	const struct rec_field	*f;
	uint64_t		 max = 0, v;
	char			*end;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (!record_has_id(recs[i]) ||
		    (recs[i]->flags & RECORD_FRESH_ID) != 0)
			continue;
		f = &recs[i]->fields[recs[i]->id_field];
		if (f->type != REC_INT || f->val[0] == '-')
			continue;
		errno = 0;
		v = strtoull(f->val, &end, 10);
		if (errno == 0 && *end == '\0' && v > max && v <= INT64_MAX)
			max = v;
	}
	return (max);
}

void
record_bind(struct record *rec, const struct schema *s)
{
	struct rec_priv	*priv = rec->priv;
	size_t		 i;

	rec->id_field = -1;
	for (i = 0; i < rec->nfields; i++) {
		rec->fields[i].col = schema_find(s, rec->fields[i].name);
		if (s->id_col >= 0 && rec->fields[i].col == s->id_col &&
		    rec->id_field < 0)
			rec->id_field = (int)i;
	}
	priv->id_col = s->id_col;
	priv->id_name = NULL;
	if (s->id_col >= 0) {
		if (rec->id_field >= 0)
			priv->id_name = rec->fields[rec->id_field].name;
		else
			priv->id_name = rec_strdup(rec, s->cols[s->id_col].name,
			    strlen(s->cols[s->id_col].name));
	}
}

/*
 * Append one primary key value as record_key writes it: as it is for a
 * single-column key, with '%' and ':' escaped for a composite one.
 */
static void
record_key_part(struct buf *out, const char *val, size_t len, int composite)
{
	size_t	 i;

	if (!composite) {
		buf_add(out, val, len);
		return;
	}
	for (i = 0; i < len; i++) {
		if (val[i] == '%')
			buf_adds(out, "%25");
		else if (val[i] == ':')
			buf_adds(out, "%3A");
		else
			buf_addc(out, val[i]);
	}
}

/*
 * MariaDB takes a dotted tail with leading zeros (::ffff:01.2.3.4) and
 * inet_pton does not: drop them, in place.  Anything odd is left for
 * inet_pton to refuse.
 */
static void
rec_ipv4_tail(char *text)
{
	char	 tail[64], *p, *q, *w = tail;
	size_t	 n;

	if ((p = strrchr(text, ':')) == NULL || strchr(++p, '.') == NULL ||
	    strlen(p) >= sizeof tail)
		return;
	for (q = p; *q != '\0'; ) {
		n = strspn(q, "0123456789");
		if (n == 0 || n > 3)
			return;
		while (n > 1 && *q == '0') {
			q++;
			n--;
		}
		while (n-- > 0)
			*w++ = *q++;
		if (*q == '.')
			*w++ = *q++;
		else if (*q != '\0')
			return;
	}
	*w = '\0';
	memcpy(p, tail, (size_t)(w - tail) + 1);
}

int
record_inet6_canon(const char *s, size_t len, struct buf *out)
{
	unsigned char	 a[16];
	char		 text[64];
	unsigned	 w[8];
	int		 i, gap = -1, glen = 0, run = 0;

	if (len >= sizeof text || memchr(s, '\0', len) != NULL)
		return (-1);
	memcpy(text, s, len);
	text[len] = '\0';
	rec_ipv4_tail(text);
	if (inet_pton(AF_INET6, text, a) != 1)
		return (-1);
	for (i = 0; i < 8; i++)
		w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	/* The first longest run of zero groups, even of one, goes as "::". */
	for (i = 0; i <= 8; i++) {
		if (i < 8 && w[i] == 0) {
			run++;
			continue;
		}
		if (run > glen) {
			glen = run;
			gap = i - run;
		}
		run = 0;
	}
	for (i = 0; i < 8; i++) {
		if (i == gap) {
			buf_adds(out, i == 0 ? "::" : ":");
			i += glen - 1;
		} else if (i == 6 && gap == 0 && (glen == 6 ||
		    (glen == 5 && w[5] == 0xffff))) {
			/* IPv4-compatible or -mapped: its last 32 bits dotted. */
			buf_printf(out, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
			break;
		} else
			buf_printf(out, i < 7 ? "%x:" : "%x", w[i]);
	}
	return (0);
}

void
record_time_hours(const char *s, size_t len, struct buf *out)
{
	const char	*h = s + (len > 0 && s[0] == '-'), *colon, *p;
	int		 zero = 1;

	if ((colon = memchr(h, ':', len - (size_t)(h - s))) == NULL) {
		buf_add(out, s, len);
		return;
	}
	for (p = h; p < s + len; p++) {
		if (*p >= '1' && *p <= '9')
			zero = 0;
	}
	if (h > s && !zero)
		buf_addc(out, '-');	/* -00:00:00 is 00:00:00 */
	while (colon - h > 2 && *h == '0')
		h++;
	if (colon - h < 2)
		buf_addc(out, '0');
	buf_add(out, h, len - (size_t)(h - s));
}

/* Pad a number's fraction of have places (a '.' if none) to want places. */
static void
rec_pad_places(struct buf *b, int has_dot, size_t have, size_t want)
{
	if (want > 0 && !has_dot)
		buf_addc(b, '.');
	for (; have < want; have++)
		buf_addc(b, '0');
}

/*
 * A DOUBLE's value in the shortest spelling that reads back as the same
 * number, -0 as 0.  Returns 1, or 0 when val is not a number.
 */
static int
rec_double_canon(const char *val, size_t len, struct buf *canon)
{
	char	 out[40];
	double	 d;
	int	 prec;

	/* Longer than any spelling of a double: left as it is. */
	if (len >= 64 || !rec_strtod(val, len, &d) || !isfinite(d))
		return (0);
	if (d == 0)
		d = 0;	/* -0 is 0 */
	for (prec = 1; prec < 17; prec++) {
		snprintf(out, sizeof out, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(out, sizeof out, "%.17g", d);
	buf_adds(canon, out);
	return (1);
}

/*
 * A SET's members in the order of the column's definition, each once, as
 * MySQL hands them back.  Returns 1, or 0 when a member is not the
 * column's (the value then goes as it is).
 */
static int
rec_set_canon(const struct schema_column *c, const char *val, size_t len,
    struct buf *canon)
{
	const char	*p, *e, *end = val + len;
	size_t		 i, n, start = canon->len;
	uint64_t	 have = 0;

	if (len == 0 || c->nvalues > 64)
		return (0);
	for (p = val; p <= end; p = e + 1) {
		if ((e = memchr(p, ',', (size_t)(end - p))) == NULL)
			e = end;
		n = (size_t)(e - p);
		for (i = 0; i < c->nvalues; i++) {
			if (strlen(c->values[i]) == n &&
			    memcmp(p, c->values[i], n) == 0)
				break;
		}
		if (i == c->nvalues)
			return (0);
		have |= (uint64_t)1 << i;
	}
	for (i = 0; i < c->nvalues; i++) {
		if ((have & ((uint64_t)1 << i)) == 0)
			continue;
		if (canon->len > start)
			buf_addc(canon, ',');
		buf_adds(canon, c->values[i]);
	}
	return (1);
}

/*
 * A key value as MySQL hands it back, so that one row has one Redis key:
 * a DECIMAL with all of its scale's places (1.5 is 1.50 in DECIMAL(6,2),
 * -0 is 0), a DATETIME with ' ' for 'T', a TIME with a two-digit hour,
 * both with all of their fsp's digits, an INET6 in short form, a UUID in
 * lower case, a CHAR without trailing spaces, a BINARY(N) padded with NUL
 * bytes to N, a SET's members in the column's order.  put's values are most of
 * that already; ids given to get, verify and serve are not.  Appends to
 * canon and returns 1, or returns 0 when val goes as it is.
 */
static int
rec_key_canon(const struct schema_column *c, const char *val, size_t len,
    struct buf *canon)
{
	const char	*dot, *p;
	size_t		 nfrac, i, start = canon->len;
	int		 zero = 1;

	switch (c->type) {
	case SCHEMA_DECIMAL:
		dot = memchr(val, '.', len);
		nfrac = dot != NULL ? len - (size_t)(dot - val) - 1 : 0;
		for (p = val; p < val + len; p++) {
			if (*p >= '1' && *p <= '9')
				zero = 0;
		}
		if (zero && val[0] == '-') {
			val++;
			len--;
		}
		if (nfrac > c->scale || (nfrac == c->scale && !zero))
			return (0);
		buf_add(canon, val, len);
		rec_pad_places(canon, dot != NULL, nfrac, c->scale);
		return (1);
	case SCHEMA_DATETIME:
	case SCHEMA_TIME:
		/* Zeros past the fsp go, as put drops them. */
		dot = memchr(val, '.', len);
		nfrac = dot != NULL ? len - (size_t)(dot - val) - 1 : 0;
		while (nfrac > c->precision && val[len - 1] == '0') {
			len--;
			nfrac--;
		}
		if (dot != NULL && nfrac == 0) {
			len--;		/* the '.' */
			dot = NULL;
		}
		if (c->type == SCHEMA_TIME)
			record_time_hours(val, len, canon);
		else {
			buf_add(canon, val, len);
			if (len > 10 && canon->data[start + 10] == 'T')
				canon->data[start + 10] = ' ';
		}
		rec_pad_places(canon, dot != NULL, nfrac, c->precision);
		return (1);
	case SCHEMA_STRING:
		if (strncmp(c->sql_type, "char", 4) != 0)
			return (0);
		while (len > 0 && val[len - 1] == ' ')
			len--;
		buf_add(canon, val, len);
		return (1);
	case SCHEMA_BINARY:
		/* A BINARY(N) is padded with NUL bytes to N. */
		if (strncmp(c->sql_type, "binary", 6) != 0 || len >= c->max_chars)
			return (0);
		buf_add(canon, val, len);
		for (i = len; i < c->max_chars; i++)
			buf_addc(canon, '\0');
		return (1);
	case SCHEMA_FLOAT:
		/*
		 * A DOUBLE by its value: 1, 1.0 and 1e0 are one row, and so
		 * are 0 and -0.  (A FLOAT comes back from MySQL rounded to 6
		 * digits, so its keys are left as they are.)
		 */
		if (strncmp(c->sql_type, "double", 6) != 0)
			return (0);
		return (rec_double_canon(val, len, canon));
	case SCHEMA_SET:
		return (rec_set_canon(c, val, len, canon));
	case SCHEMA_OTHER:
		if (strcmp(c->sql_type, "inet6") == 0)
			return (record_inet6_canon(val, len, canon) == 0);
		if (strcmp(c->sql_type, "uuid") != 0)
			return (0);
		for (i = 0; i < len; i++)
			buf_addc(canon, (char)tolower((unsigned char)val[i]));
		return (1);
	default:
		return (0);
	}
}

/* Append key column k's value as the key spells it; canon is scratch. */
static void
rec_key_value(struct buf *out, const struct schema *s, size_t k,
    const char *val, size_t len, struct buf *canon)
{
	buf_reset(canon);
	if (rec_key_canon(&s->cols[s->pk[k]], val, len, canon))
		record_key_part(out, canon->data, canon->len, s->npk > 1);
	else
		record_key_part(out, val, len, s->npk > 1);
}

int
record_key(const struct record *rec, const struct schema *s,
    const char *prefix, struct buf *out, char **err)
{
	const struct rec_field	*f;
	const char		*name;
	struct buf		 canon = BUF_INIT;
	size_t			 start = out->len, k, i;

	if (prefix != NULL)
		buf_adds(out, prefix);
	buf_adds(out, rec->table);
	for (k = 0; k < s->npk; k++) {
		name = s->cols[s->pk[k]].name;
		f = NULL;
		for (i = 0; i < rec->nfields; i++) {
			if (rec->fields[i].col == (int)s->pk[k] ||
			    (rec->fields[i].col < 0 &&
			    strcmp(rec->fields[i].name, name) == 0)) {
				f = &rec->fields[i];
				break;
			}
		}
		if (f == NULL || f->type == REC_NULL) {
			out->len = start;
			if (out->data != NULL)
				out->data[start] = '\0';
			buf_release(&canon);
			return (err_set(err, "record has no value for key column "
			    "'%s'", name));
		}
		buf_addc(out, ':');
		rec_key_value(out, s, k, f->val, f->len, &canon);
	}
	buf_release(&canon);
	return (0);
}

void
record_key_values(struct buf *out, const struct schema *s, const char **pk,
    const size_t *pklen)
{
	struct buf	 canon = BUF_INIT;
	size_t		 i;

	for (i = 0; i < s->npk; i++) {
		if (i > 0)
			buf_addc(out, ':');
		rec_key_value(out, s, i, pk[i], pklen != NULL ? pklen[i] :
		    strlen(pk[i]), &canon);
	}
	buf_release(&canon);
}

int
record_key_split(char *s, size_t len, size_t npk, const char **pk,
    size_t *pklen, char **err)
{
	char	*p = s, *end = s + len, *colon, *stop, *r, *w;
	size_t	 i;
	int	 hi, lo;

	if (npk == 1) {
		pk[0] = s;
		if (pklen != NULL)
			pklen[0] = len;
		return (0);
	}
	for (i = 0; i < npk; i++) {
		pk[i] = p;
		colon = memchr(p, ':', (size_t)(end - p));
		if (i + 1 < npk) {
			if (colon == NULL)
				return (err_set(err, "needs %zu values joined "
				    "by ':'", npk));
		} else if (colon != NULL)
			return (err_set(err, "has more than %zu values joined "
			    "by ':'", npk));
		stop = colon != NULL ? colon : end;
		for (r = w = p; r < stop; r++) {
			if (*r != '%') {
				*w++ = *r;
				continue;
			}
			if (stop - r < 3 || (hi = hex_value(r[1])) < 0 ||
			    (lo = hex_value(r[2])) < 0 || hi + lo == 0)
				return (err_set(err, "has a '%%' not followed by "
				    "two hex digits (not 00)"));
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		}
		*w = '\0';
		if (pklen != NULL)
			pklen[i] = (size_t)(w - p);
		if (colon != NULL)
			p = colon + 1;
	}
	return (0);
}

static void
rec_put_varint(struct buf *out, uint64_t v)
{
	unsigned char	 tmp[10];
	size_t		 n = 0;

	while (v >= 0x80) {
		tmp[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (unsigned char)v;
	buf_add(out, tmp, n);
}

void
record_encode(const struct record *rec, struct buf *out)
{
	const struct rec_field	*f;
	unsigned char		 hdr[9];
	size_t			 i, tlen = strlen(rec->table), nlen;

	hdr[0] = RECORD_FORMAT;
	for (i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)(rec->version >> (8 * i));
	buf_add(out, hdr, sizeof hdr);
	rec_put_varint(out, tlen);
	buf_add(out, rec->table, tlen);
	rec_put_varint(out, rec->nfields);
	for (i = 0; i < rec->nfields; i++) {
		f = &rec->fields[i];
		nlen = strlen(f->name);
		buf_addc(out, (char)f->type);
		rec_put_varint(out, nlen);
		buf_add(out, f->name, nlen);
		rec_put_varint(out, f->len);
		buf_add(out, f->val, f->len);
	}
}

uint64_t
record_version_us(uint64_t v)
{
	const uint64_t	lo = 1000000000000000ULL, hi = 100000000000000000ULL;

	if ((v >> 12) >= lo && (v >> 12) < hi)
		return (v >> 12);
	if (v >= lo && v < hi)
		return (v);
	return (0);
}

uint64_t
record_written_us(const void *data, size_t size)
{
	const unsigned char	*b = data;
	uint64_t		 v = 0;
	int			 i;

	if (size < 9 || b[0] != RECORD_FORMAT)
		return (0);
	for (i = 7; i >= 0; i--)
		v = v << 8 | b[1 + i];
	return (record_version_us(v));
}

/*
 * Read a varint at *pp; -1 when cut short, longer than 64 bits, or not in
 * the shortest form (a last byte of 0 after others): record_encode writes
 * only that form, so a payload decodes to a record only if it re-encodes to
 * the same bytes.
 */
static int
rec_get_varint(const unsigned char **pp, const unsigned char *end,
    uint64_t *out)
{
	const unsigned char	*p = *pp;
	uint64_t		 v = 0;
	unsigned		 shift;

	for (shift = 0; shift < 64; shift += 7) {
		if (p == end)
			return (-1);
		if (shift == 63 && *p > 1)
			return (-1);
		if (shift > 0 && *p == 0)
			return (-1);
		v |= (uint64_t)(*p & 0x7f) << shift;
		if ((*p++ & 0x80) == 0) {
			*pp = p;
			*out = v;
			return (0);
		}
	}
	return (-1);
}

void
record_encode_all(struct record *const *recs, size_t n, struct buf *out,
    const void **p, size_t *len)
{
	size_t	i, off;

	buf_reset(out);
	for (i = 0; i < n; i++) {
		off = out->len;
		record_encode(recs[i], out);
		len[i] = out->len - off;
	}
	for (i = off = 0; i < n; i++) {
		p[i] = out->data + off;
		off += len[i];
	}
}

int
record_decode(const void *data, size_t size, struct record **out, char **err)
{
	const unsigned char	*p = data, *end = p + size, *table;
	struct rec_block	*b = NULL;
	struct rec_field	*f;
	const char		*why;
	uint64_t		 version = 0, tlen, nf, nlen, vlen, i;
	unsigned		 type;
	int			 j;

	*out = NULL;
	if (size < 9) {
		why = "too short";
		goto fail;
	}
	if (p[0] != RECORD_FORMAT) {
		err_set(err, "corrupt record payload: unknown format %u", p[0]);
		return (-1);
	}
	for (j = 7; j >= 0; j--)
		version = version << 8 | p[1 + j];
	p += 9;
	why = "bad table name";
	if (rec_get_varint(&p, end, &tlen) != 0 || tlen > (uint64_t)(end - p) ||
	    memchr(p, '\0', (size_t)tlen) != NULL)
		goto fail;
	table = p;
	p += tlen;
	why = "bad field count";
	if (rec_get_varint(&p, end, &nf) != 0 ||
	    nf > (uint64_t)(end - p) / 3)	/* a field takes 3 bytes or more */
		goto fail;

	b = rec_block_new((size_t)nf, size + 2 * (size_t)nf + 1);
	b->rec.version = version;
	b->rec.table = rec_strdup(&b->rec, (const char *)table, (size_t)tlen);
	for (i = 0; i < nf; i++) {
		why = "truncated field";
		if (p == end)
			goto fail;
		if ((type = *p++) > REC_JSON) {
			err_set(err, "corrupt record payload: bad field type %u",
			    type);
			why = NULL;
			goto fail;
		}
		why = "bad field name";
		if (rec_get_varint(&p, end, &nlen) != 0 ||
		    nlen > (uint64_t)(end - p) ||
		    memchr(p, '\0', (size_t)nlen) != NULL)
			goto fail;
		f = &b->fields[i];
		f->name = rec_strdup(&b->rec, (const char *)p, (size_t)nlen);
		p += nlen;
		why = "bad field value";
		if (rec_get_varint(&p, end, &vlen) != 0 ||
		    vlen > (uint64_t)(end - p))
			goto fail;
		f->val = rec_strdup(&b->rec, (const char *)p, (size_t)vlen);
		f->len = (size_t)vlen;
		f->type = (enum rec_type)type;
		f->col = -1;
		p += vlen;
		b->rec.nfields++;
	}
	if (p != end) {
		why = "trailing bytes";
		goto fail;
	}
	*out = &b->rec;
	return (0);

fail:
	if (why != NULL)
		err_set(err, "corrupt record payload: %s", why);
	if (b != NULL)
		record_free(&b->rec);
	return (-1);
}

void
json_quote(struct buf *out, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s, *end = p + len, *run;
	char			 esc[6] = { '\\', 'u', '0', '0', 0, 0 };
	int			 n;

	buf_grow(out, len + 2);
	buf_addc(out, '"');
	while (p < end) {
		run = p;
		while (p < end && !rec_special[*p])
			p++;
		if (p != run)
			buf_add(out, run, (size_t)(p - run));
		if (p == end)
			break;
		switch (*p) {
		case '"':
			buf_add(out, "\\\"", 2);
			break;
		case '\\':
			buf_add(out, "\\\\", 2);
			break;
		case '\n':
			buf_add(out, "\\n", 2);
			break;
		case '\r':
			buf_add(out, "\\r", 2);
			break;
		case '\t':
			buf_add(out, "\\t", 2);
			break;
		case '\b':
			buf_add(out, "\\b", 2);
			break;
		case '\f':
			buf_add(out, "\\f", 2);
			break;
		default:
			if (*p >= 0x80 && (n = rec_utf8_seq(p, end)) > 0) {
				buf_add(out, p, (size_t)n);
				p += n;
				continue;
			}
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			buf_add(out, esc, sizeof esc);
			break;
		}
		p++;
	}
	buf_addc(out, '"');
}

void
record_to_json(const struct record *rec, struct buf *out)
{
	const struct rec_field	*f;
	size_t			 i;

	buf_addc(out, '{');
	for (i = 0; i < rec->nfields; i++) {
		f = &rec->fields[i];
		if (i != 0)
			buf_addc(out, ',');
		json_quote(out, f->name, strlen(f->name));
		buf_addc(out, ':');
		switch (f->type) {
		case REC_INT:
		case REC_NUM:
		case REC_JSON:
			if (f->len == 0)
				buf_add(out, "null", 4);
			else
				buf_add(out, f->val, f->len);
			break;
		case REC_BOOL:
			if (f->len == 1 && f->val[0] == '1')
				buf_add(out, "true", 4);
			else
				buf_add(out, "false", 5);
			break;
		case REC_STR:
			json_quote(out, f->val, f->len);
			break;
		default:
			buf_add(out, "null", 4);
			break;
		}
	}
	buf_addc(out, '}');
}
