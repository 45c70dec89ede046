/*
 * Table schemas: turning the server's COLUMN_TYPE text into the limits the
 * record parser checks, and the line-based text form cached in the spool
 * directory.
 *
 * The cache form is:
 *
 *	wtc-schema 1
 *	table NAME
 *	column<TAB>NAME<TAB>SQL_TYPE<TAB>TYPE<TAB>UNSIGNED<TAB>INT_MIN<TAB>
 *	    INT_MAX<TAB>MAX_CHARS<TAB>PRECISION<TAB>SCALE<TAB>NULLABLE<TAB>
 *	    HAS_DEFAULT<TAB>AUTO_INCREMENT<TAB>NVALUES[<TAB>VALUE...]
 *	pk I J ...
 *	end
 *
 * with one column line per column (one line, wrapped here).  Names, types
 * and values escape backslash, tab, newline and carriage return as \\, \t,
 * \n and \r.  The final "end" line tells a whole file from a cut one.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define SCHEMA_TEXT_MAGIC "wtc-schema 1"

static const char *schema_type_names[] = {
	"int", "bool", "decimal", "float", "string", "binary", "enum", "set",
	"date", "datetime", "time", "year", "json", "other"
};
#define SCHEMA_NTYPES (sizeof schema_type_names / sizeof schema_type_names[0])

struct schema *
schema_new(const char *table)
{
	struct schema	*s;

	s = xcalloc(1, sizeof *s);
	s->table = xstrdup(table);
	s->id_col = -1;
	s->version_col = -1;
	return (s);
}

static void
schema_column_release(struct schema_column *c)
{
	size_t	 i;

	free(c->name);
	free(c->sql_type);
	for (i = 0; i < c->nvalues; i++)
		free(c->values[i]);
	free(c->values);
}

void
schema_free(struct schema *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncols; i++)
		schema_column_release(&s->cols[i]);
	free(s->cols);
	free(s->pk);
	free(s->table);
	free(s);
}

/* Integer types and their signed bounds; unsigned is 0..2*max+1. */
static const struct {
	const char	*name;
	int64_t		 min;
	uint64_t	 max;
} schema_ints[] = {
	{ "tinyint", INT8_MIN, INT8_MAX },
	{ "smallint", INT16_MIN, INT16_MAX },
	{ "mediumint", -8388608, 8388607 },
	{ "int", INT32_MIN, INT32_MAX },
	{ "integer", INT32_MIN, INT32_MAX },
	{ "bigint", INT64_MIN, INT64_MAX },
};

/* Parse a decimal unsigned number of at most 9 digits at *pp. */
static int
schema_parse_small(const char **pp, unsigned *out)
{
	const char	*p = *pp;
	unsigned	 v = 0;
	int		 n = 0;

	while (*p >= '0' && *p <= '9') {
		if (++n > 9)
			return (-1);
		v = v * 10 + (unsigned)(*p++ - '0');
	}
	if (n == 0)
		return (-1);
	*pp = p;
	*out = v;
	return (0);
}

/* The character that \c stands for: \\, \n, \r, \t; -1 for others. */
static int
schema_escaped(int c)
{
	switch (c) {
	case '\\':
		return ('\\');
	case 'n':
		return ('\n');
	case 'r':
		return ('\r');
	case 't':
		return ('\t');
	default:
		return (-1);
	}
}

/* Parse "('a','b''c','d\\e')" at *pp into values. */
static int
schema_parse_values(const char **pp, struct schema_column *c)
{
	const char	*p = *pp;
	struct buf	 b = BUF_INIT;
	int		 ch;

	if (*p++ != '(')
		return (-1);
	if (*p == ')') {
		*pp = p + 1;
		return (0);
	}
	for (;;) {
		if (*p++ != '\'')
			goto fail;
		buf_reset(&b);
		buf_grow(&b, 0);
		for (;;) {
			if (*p == '\0')
				goto fail;
			if (*p == '\'') {
				if (p[1] != '\'')
					break;
				p++;
			} else if (*p == '\\' && p[1] != '\0') {
				/* The server escapes members as in SQL text. */
				if ((ch = schema_escaped(*++p)) == -1)
					ch = *p == 'Z' ? '\032' : *p;
				buf_addc(&b, (char)ch);
				p++;
				continue;
			}
			buf_addc(&b, *p++);
		}
		p++;
		c->values = xreallocarray(c->values, c->nvalues + 1,
		    sizeof *c->values);
		c->values[c->nvalues++] = xstrndup(b.data, b.len);
		if (*p == ')')
			break;
		if (*p++ != ',')
			goto fail;
	}
	buf_release(&b);
	*pp = p + 1;
	return (0);

fail:
	buf_release(&b);
	return (-1);
}

/*
 * Fill c's type fields from sql_type.  Returns -1 when the text cannot be
 * parsed at all; types wtc does not know become SCHEMA_OTHER.
 */
static int
schema_parse_type(struct schema_column *c, const char *sql_type,
    uint64_t max_chars)
{
	char		 word[32];
	const char	*p = sql_type;
	unsigned	 args[2] = { 0, 0 };
	size_t		 n = 0, i;
	int		 nargs = 0, known = 1, is_int = -1;

	while (isalpha((unsigned char)*p) || *p == '_') {
		if (n == sizeof word - 1)
			break;
		word[n++] = (char)tolower((unsigned char)*p++);
	}
	word[n] = '\0';
	if (n == 0)
		return (-1);
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;	/* a longer unknown word */

	c->max_chars = max_chars;
	for (i = 0; i < sizeof schema_ints / sizeof schema_ints[0]; i++) {
		if (strcmp(word, schema_ints[i].name) == 0)
			is_int = (int)i;
	}
	if (strcmp(word, "enum") == 0 || strcmp(word, "set") == 0) {
		c->type = word[0] == 'e' ? SCHEMA_ENUM : SCHEMA_SET;
		if (schema_parse_values(&p, c) != 0)
			return (-1);
	} else if (*p == '(') {
		p++;
		while (*p == ' ')
			p++;
		if (schema_parse_small(&p, &args[0]) == 0) {
			nargs = 1;
			while (*p == ' ')
				p++;
			if (*p == ',') {
				p++;
				while (*p == ' ')
					p++;
				if (schema_parse_small(&p, &args[1]) != 0)
					nargs = -1;
				else
					nargs = 2;
			}
		} else
			nargs = -1;
		while (*p == ' ')
			p++;
		if (*p == ')')
			p++;
		else
			nargs = -1;
	}

	if (is_int != -1) {
		if (nargs > 1)
			return (-1);
		c->type = SCHEMA_INT;
		if (is_int == 0 && nargs == 1 && args[0] == 1)
			c->type = SCHEMA_BOOL;
	} else if (strcmp(word, "bool") == 0 || strcmp(word, "boolean") == 0) {
		c->type = SCHEMA_BOOL;
		is_int = 0;
	} else if (strcmp(word, "decimal") == 0 ||
	    strcmp(word, "numeric") == 0 || strcmp(word, "dec") == 0 ||
	    strcmp(word, "fixed") == 0) {
		c->type = SCHEMA_DECIMAL;
		c->precision = nargs >= 1 ? args[0] : 10;
		c->scale = nargs == 2 ? args[1] : 0;
		if (c->precision == 0 || c->precision > 65 ||
		    c->scale > 38 || c->scale > c->precision)
			return (-1);
	} else if (strcmp(word, "float") == 0 || strcmp(word, "double") == 0 ||
	    strcmp(word, "real") == 0) {
		c->type = SCHEMA_FLOAT;
		/*
		 * FLOAT(M,D) rounds to D places, as DECIMAL(M,D) would refuse;
		 * M goes up to 255 there.
		 */
		if (nargs == 2 && args[0] <= 255 && args[1] <= 30 &&
		    args[1] <= args[0]) {
			c->precision = args[0];
			c->scale = args[1];
		}
	}
	else if (strcmp(word, "char") == 0 || strcmp(word, "varchar") == 0 ||
	    strcmp(word, "binary") == 0 || strcmp(word, "varbinary") == 0) {
		if (nargs > 1)
			return (-1);
		c->type = strstr(word, "binary") != NULL ? SCHEMA_BINARY :
		    SCHEMA_STRING;
		if (c->max_chars == 0 && nargs == 1)
			c->max_chars = args[0];
		if (c->max_chars == 0 && nargs == 0 &&
		    (word[0] == 'c' || word[0] == 'b'))
			c->max_chars = 1;	/* char == char(1) */
	} else if (strcmp(word, "tinytext") == 0 || strcmp(word, "text") == 0 ||
	    strcmp(word, "mediumtext") == 0 || strcmp(word, "longtext") == 0)
		c->type = SCHEMA_STRING;
	else if (strcmp(word, "tinyblob") == 0 || strcmp(word, "blob") == 0 ||
	    strcmp(word, "mediumblob") == 0 || strcmp(word, "longblob") == 0)
		c->type = SCHEMA_BINARY;
	else if (strcmp(word, "enum") == 0 || strcmp(word, "set") == 0)
		;	/* done above */
	else if (strcmp(word, "date") == 0)
		c->type = SCHEMA_DATE;
	else if (strcmp(word, "datetime") == 0 || strcmp(word, "timestamp") == 0 ||
	    strcmp(word, "time") == 0) {
		c->type = word[1] == 'i' && word[4] == '\0' ? SCHEMA_TIME :
		    SCHEMA_DATETIME;
		/* Digits of a second's fraction kept (fsp), as DATETIME_PRECISION. */
		c->precision = nargs == 1 && args[0] <= 6 ? args[0] : 0;
	}
	else if (strcmp(word, "year") == 0) {
		c->type = SCHEMA_YEAR;
		c->int_min = 1901;
		c->int_max = 2155;
	} else if (strcmp(word, "json") == 0)
		c->type = SCHEMA_JSON;
	else if (strcmp(word, "bit") == 0) {
		/* BIT(1) is a boolean; BIT(M) a number of M bits. */
		if (nargs > 1 || (nargs == 1 && (args[0] < 1 || args[0] > 64)))
			return (-1);
		c->type = nargs == 0 || args[0] == 1 ? SCHEMA_BOOL : SCHEMA_INT;
		c->is_unsigned = 1;
		c->int_min = 0;
		c->int_max = nargs == 0 ? 1 : args[0] == 64 ? UINT64_MAX :
		    ((uint64_t)1 << args[0]) - 1;
	} else {
		c->type = SCHEMA_OTHER;
		known = 0;
	}
	if (!known)
		return (0);	/* passed through: the rest is the server's business */
	if (nargs < 0)
		return (-1);

	/* Trailing attribute words: unsigned, signed, zerofill. */
	while (*p != '\0') {
		if (*p++ != ' ')
			return (-1);
		if (*p == '\0')
			break;
		if (strncmp(p, "unsigned", 8) == 0 &&
		    (p[8] == ' ' || p[8] == '\0')) {
			c->is_unsigned = 1;
			p += 8;
		} else if (isalpha((unsigned char)*p)) {
			while (isalpha((unsigned char)*p))
				p++;
		} else
			return (-1);
	}
	if (is_int != -1) {
		if (c->is_unsigned) {
			c->int_min = 0;
			c->int_max = schema_ints[is_int].max * 2 + 1;
		} else {
			c->int_min = schema_ints[is_int].min;
			c->int_max = schema_ints[is_int].max;
		}
	}
	return (0);
}

int
schema_is_bit(const struct schema_column *c)
{
	return (strncmp(c->sql_type, "bit", 3) == 0 &&
	    (c->sql_type[3] == '(' || c->sql_type[3] == '\0'));
}

struct schema_column *
schema_add_column(struct schema *s, const char *name, const char *sql_type,
    uint64_t max_chars, int nullable, int has_default, int auto_increment,
    char **err)
{
	struct schema_column	 c;

	memset(&c, 0, sizeof c);
	if (schema_parse_type(&c, sql_type, max_chars) != 0) {
		schema_column_release(&c);
		err_set(err, "cannot understand type '%s' of column '%s'",
		    sql_type, name);
		return (NULL);
	}
	c.name = xstrdup(name);
	c.sql_type = xstrdup(sql_type);
	c.nullable = nullable != 0;
	c.has_default = has_default != 0;
	c.auto_increment = auto_increment != 0;

	if (strcmp(name, SCHEMA_VERSION_COLUMN) == 0)
		s->version_col = (int)s->ncols;
	s->cols = xreallocarray(s->cols, s->ncols + 1, sizeof *s->cols);
	s->cols[s->ncols] = c;
	return (&s->cols[s->ncols++]);
}

void
schema_add_pk(struct schema *s, size_t col)
{
	if (col >= s->ncols)
		return;
	s->cols[col].primary = 1;
	s->pk = xreallocarray(s->pk, s->npk + 1, sizeof *s->pk);
	s->pk[s->npk++] = col;
	if (s->npk == 1 && s->cols[s->pk[0]].type == SCHEMA_INT)
		s->id_col = (int)s->pk[0];
	else
		s->id_col = -1;
}

int
schema_find(const struct schema *s, const char *name)
{
	size_t	 i;

	for (i = 0; i < s->ncols; i++) {
		if (strcmp(s->cols[i].name, name) == 0)
			return ((int)i);
	}
	return (-1);
}

/*
 * Where the digits of an integer value start, past its '-' and leading
 * zeros (the last zero of "0" stays), or NULL when it is not an optional
 * '-' and 1 to 20 digits that way.
 */
static const char *
schema_int_digits(const char *v)
{
	const char	*q = v + (v[0] == '-');
	size_t		 n = strlen(q);

	if (n == 0 || strspn(q, "0123456789") != n)
		return (NULL);
	while (q[0] == '0' && q[1] != '\0')
		q++;
	return (strlen(q) > 20 ? NULL : q);
}

int
schema_pk_check(const struct schema *s, const char *const *pk)
{
	const char	*q;
	size_t		 i;

	for (i = 0; i < s->npk; i++) {
		/* A BIT(1) key is 0 or 1. */
		if (s->cols[s->pk[i]].type == SCHEMA_BOOL &&
		    strcmp(pk[i], "0") != 0 && strcmp(pk[i], "1") != 0)
			return ((int)i);
		if (s->cols[s->pk[i]].type != SCHEMA_INT)
			continue;
		/* Spelt as wtc writes it: no leading zeros, no "-0". */
		if ((q = schema_int_digits(pk[i])) == NULL ||
		    q != pk[i] + (pk[i][0] == '-') ||
		    (pk[i][0] == '-' && strcmp(q, "0") == 0))
			return ((int)i);
	}
	return (-1);
}

int
schema_pk_canon(const struct schema *s, const char **pk)
{
	const char	*q;
	size_t		 i;

	for (i = 0; i < s->npk; i++) {
		if (s->cols[s->pk[i]].type == SCHEMA_BOOL) {
			/* A BIT(1) key: 0 or 1, true or false. */
			if (strcmp(pk[i], "true") == 0)
				pk[i] = "1";
			else if (strcmp(pk[i], "false") == 0)
				pk[i] = "0";
			else if (strcmp(pk[i], "0") != 0 &&
			    strcmp(pk[i], "1") != 0)
				return ((int)i);
			continue;
		}
		if (s->cols[s->pk[i]].type != SCHEMA_INT)
			continue;
		if ((q = schema_int_digits(pk[i])) == NULL)
			return ((int)i);
		if (pk[i][0] != '-' || strcmp(q, "0") == 0)
			pk[i] = q;
		else if (q != pk[i] + 1)
			return ((int)i);	/* "-007": no row is spelt so */
	}
	return (-1);
}

static void
schema_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\':
			buf_add(out, "\\\\", 2);
			break;
		case '\t':
			buf_add(out, "\\t", 2);
			break;
		case '\n':
			buf_add(out, "\\n", 2);
			break;
		case '\r':
			buf_add(out, "\\r", 2);
			break;
		default:
			buf_addc(out, *s);
			break;
		}
	}
}

void
schema_to_text(const struct schema *s, struct buf *out)
{
	const struct schema_column	*c;
	size_t				 i, j;

	buf_adds(out, SCHEMA_TEXT_MAGIC "\ntable ");
	schema_escape(out, s->table);
	buf_addc(out, '\n');
	for (i = 0; i < s->ncols; i++) {
		c = &s->cols[i];
		buf_adds(out, "column\t");
		schema_escape(out, c->name);
		buf_addc(out, '\t');
		schema_escape(out, c->sql_type);
		buf_printf(out, "\t%s\t%d\t%lld\t%llu\t%llu\t%u\t%u\t%d\t%d\t%d\t%zu",
		    schema_type_names[c->type], c->is_unsigned,
		    (long long)c->int_min, (unsigned long long)c->int_max,
		    (unsigned long long)c->max_chars, c->precision, c->scale,
		    c->nullable, c->has_default, c->auto_increment, c->nvalues);
		for (j = 0; j < c->nvalues; j++) {
			buf_addc(out, '\t');
			schema_escape(out, c->values[j]);
		}
		buf_addc(out, '\n');
	}
	buf_adds(out, "pk");
	for (i = 0; i < s->npk; i++)
		buf_printf(out, " %zu", s->pk[i]);
	buf_addc(out, '\n');
	/*
	 * Only when there are any, so that other caches stay as they were:
	 * an older wtc cannot read this line (it then reads the schema from
	 * MySQL), and a cache written by one has no generated columns.
	 */
	for (i = 0, j = 0; i < s->ncols; i++) {
		if (s->cols[i].generated)
			buf_printf(out, "%s %zu", j++ == 0 ? "generated" : "", i);
	}
	buf_adds(out, j > 0 ? "\nend\n" : "end\n");
}

/* One line of the cache text, split into fields. */
struct schema_line {
	char	**f;
	size_t	  n;
};

static void
schema_line_release(struct schema_line *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->f[i]);
	free(l->f);
	l->f = NULL;
	l->n = 0;
}

/* Split [p, end) at sep, unescaping each field; -1 on a bad escape. */
static int
schema_split(const char *p, const char *end, char sep, struct schema_line *l)
{
	struct buf	 b = BUF_INIT;
	int		 ch;

	for (;;) {
		buf_reset(&b);
		buf_grow(&b, 0);
		while (p < end && *p != sep) {
			if (*p != '\\') {
				buf_addc(&b, *p++);
				continue;
			}
			if (++p == end || (ch = schema_escaped(*p++)) == -1)
				goto fail;
			buf_addc(&b, (char)ch);
		}
		l->f = xreallocarray(l->f, l->n + 1, sizeof *l->f);
		l->f[l->n++] = xstrndup(b.data, b.len);
		if (p == end)
			break;
		p++;
	}
	buf_release(&b);
	return (0);

fail:
	buf_release(&b);
	return (-1);
}

static int
schema_parse_u64(const char *s, uint64_t *out)
{
	uint64_t	 v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (-1);
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return (-1);
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return (0);
}

static int
schema_parse_i64(const char *s, int64_t *out)
{
	uint64_t	 v;

	if (*s == '-') {
		if (schema_parse_u64(s + 1, &v) != 0 || v == 0 ||
		    v > (uint64_t)INT64_MAX + 1)
			return (-1);
		*out = (int64_t)(0 - v);
		return (0);
	}
	if (schema_parse_u64(s, &v) != 0 || v > INT64_MAX)
		return (-1);
	*out = (int64_t)v;
	return (0);
}

static int
schema_parse_flag(const char *s, int *out)
{
	if ((s[0] != '0' && s[0] != '1') || s[1] != '\0')
		return (-1);
	*out = s[0] == '1';
	return (0);
}

/* Build a column from a "column" line's fields; returns an error or NULL. */
static const char *
schema_parse_column(struct schema *s, struct schema_line *l)
{
	struct schema_column	 c;
	uint64_t		 prec, scale, nvalues;
	const char		*p;
	size_t			 i;

	if (l->n < 14)
		return ("column line has too few fields");
	memset(&c, 0, sizeof c);
	for (i = 0; i < SCHEMA_NTYPES; i++) {
		if (strcmp(l->f[3], schema_type_names[i]) == 0)
			break;
	}
	if (i == SCHEMA_NTYPES)
		return ("unknown column type");
	c.type = (enum schema_type)i;
	if (schema_parse_flag(l->f[4], &c.is_unsigned) != 0 ||
	    schema_parse_i64(l->f[5], &c.int_min) != 0 ||
	    schema_parse_u64(l->f[6], &c.int_max) != 0 ||
	    schema_parse_u64(l->f[7], &c.max_chars) != 0 ||
	    schema_parse_u64(l->f[8], &prec) != 0 ||
	    prec > (c.type == SCHEMA_FLOAT ? 255 : 65) ||
	    schema_parse_u64(l->f[9], &scale) != 0 || scale > prec ||
	    schema_parse_flag(l->f[10], &c.nullable) != 0 ||
	    schema_parse_flag(l->f[11], &c.has_default) != 0 ||
	    schema_parse_flag(l->f[12], &c.auto_increment) != 0 ||
	    schema_parse_u64(l->f[13], &nvalues) != 0)
		return ("bad column field");
	c.precision = (unsigned)prec;
	c.scale = (unsigned)scale;
	/*
	 * A cache from before wtc kept a column's fsp has 0 here: read it
	 * from the type, or fractions would be refused while MySQL is down.
	 */
	if ((c.type == SCHEMA_DATETIME || c.type == SCHEMA_TIME) &&
	    (p = strchr(l->f[2], '(')) != NULL && p[1] >= '1' && p[1] <= '6' &&
	    p[2] == ')')
		c.precision = (unsigned)(p[1] - '0');
	if (nvalues != l->n - 14)
		return ("column value count does not match");
	if (schema_find(s, l->f[1]) != -1)
		return ("duplicate column");

	/* Take the strings over from the line. */
	c.name = l->f[1];
	c.sql_type = l->f[2];
	l->f[1] = l->f[2] = NULL;
	c.nvalues = (size_t)nvalues;
	if (c.nvalues != 0) {
		c.values = xreallocarray(NULL, c.nvalues, sizeof *c.values);
		for (i = 0; i < c.nvalues; i++) {
			c.values[i] = l->f[14 + i];
			l->f[14 + i] = NULL;
		}
	}
	if (strcmp(c.name, SCHEMA_VERSION_COLUMN) == 0)
		s->version_col = (int)s->ncols;
	s->cols = xreallocarray(s->cols, s->ncols + 1, sizeof *s->cols);
	s->cols[s->ncols++] = c;
	return (NULL);
}

static const char *
schema_parse_pk(struct schema *s, struct schema_line *l)
{
	uint64_t	 v;
	size_t		 i, j;

	for (i = 1; i < l->n; i++) {
		if (schema_parse_u64(l->f[i], &v) != 0)
			return ("bad primary key column index");
		if (v >= s->ncols)
			return ("primary key column index out of range");
		for (j = 0; j < s->npk; j++) {
			if (s->pk[j] == v)
				return ("primary key column repeated");
		}
		schema_add_pk(s, (size_t)v);
	}
	return (NULL);
}

/* "generated I J ...": the columns MySQL computes. */
static const char *
schema_parse_generated(struct schema *s, struct schema_line *l)
{
	uint64_t	 v;
	size_t		 i;

	for (i = 1; i < l->n; i++) {
		if (schema_parse_u64(l->f[i], &v) != 0)
			return ("bad generated column index");
		if (v >= s->ncols)
			return ("generated column index out of range");
		s->cols[v].generated = 1;
	}
	return (NULL);
}

struct schema *
schema_from_text(const char *text, size_t len, char **err)
{
	struct schema		*s = NULL;
	struct schema_line	 l = { NULL, 0 };
	const char		*p = text, *end = text + len, *eol, *why;
	size_t			 lineno = 0;
	int			 state = 0;	/* 0 magic, 1 table, 2 columns, 3 end or
					   generated, 5 end, 4 done */

	if (memchr(text, '\0', len) != NULL) {
		err_set(err, "schema cache: contains a NUL byte");
		return (NULL);
	}
	while (p < end) {
		lineno++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			why = "line is not terminated (file cut short?)";
			goto fail;
		}
		schema_line_release(&l);
		why = NULL;
		switch (state) {
		case 0:
			if ((size_t)(eol - p) != strlen(SCHEMA_TEXT_MAGIC) ||
			    memcmp(p, SCHEMA_TEXT_MAGIC, (size_t)(eol - p)) != 0)
				why = "not a wtc schema cache (expected '"
				    SCHEMA_TEXT_MAGIC "')";
			state = 1;
			break;
		case 1:
			if (eol - p < 7 || memcmp(p, "table ", 6) != 0 ||
			    schema_split(p + 6, eol, '\0', &l) != 0)
				why = "expected 'table NAME'";
			else
				s = schema_new(l.f[0]);
			state = 2;
			break;
		case 2:
			if (eol - p >= 7 && memcmp(p, "column\t", 7) == 0) {
				if (schema_split(p, eol, '\t', &l) != 0)
					why = "bad escape";
				else
					why = schema_parse_column(s, &l);
			} else if (eol - p >= 2 && memcmp(p, "pk", 2) == 0 &&
			    (eol - p == 2 || p[2] == ' ')) {
				if (eol - p == 2)
					;
				else if (schema_split(p, eol, ' ', &l) != 0)
					why = "bad primary key line";
				else
					why = schema_parse_pk(s, &l);
				state = 3;
			} else
				why = "expected a column or pk line";
			break;
		case 3:
		case 5:
			if (state == 3 && eol - p > 10 &&
			    memcmp(p, "generated ", 10) == 0) {
				if (schema_split(p, eol, ' ', &l) != 0)
					why = "bad generated line";
				else
					why = schema_parse_generated(s, &l);
				state = 5;
				break;
			}
			if (eol - p != 3 || memcmp(p, "end", 3) != 0)
				why = "expected 'end'";
			state = 4;
			break;
		default:
			why = "text after 'end'";
			break;
		}
		if (why != NULL)
			goto fail;
		p = eol + 1;
	}
	if (state != 4) {
		lineno++;
		why = "unexpected end (file cut short?)";
		goto fail;
	}
	schema_line_release(&l);
	return (s);

fail:
	err_set(err, "schema cache: line %zu: %s", lineno, why);
	schema_line_release(&l);
	schema_free(s);
	return (NULL);
}
