/*
 * Unit tests for the schema module: COLUMN_TYPE parsing, primary keys, and
 * the cache text form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "util.h"

static const struct {
	const char		*sql;
	uint64_t		 max_chars;
	enum schema_type	 type;
	int			 is_unsigned;
	int64_t			 min;
	uint64_t		 max;
	uint64_t		 chars;
	unsigned		 precision;
	unsigned		 scale;
} types[] = {
	{ "tinyint(4)", 0, SCHEMA_INT, 0, -128, 127, 0, 0, 0 },
	{ "tinyint(3) unsigned", 0, SCHEMA_INT, 1, 0, 255, 0, 0, 0 },
	{ "tinyint", 0, SCHEMA_INT, 0, -128, 127, 0, 0, 0 },
	{ "smallint(6)", 0, SCHEMA_INT, 0, -32768, 32767, 0, 0, 0 },
	{ "smallint(5) unsigned", 0, SCHEMA_INT, 1, 0, 65535, 0, 0, 0 },
	{ "mediumint(9)", 0, SCHEMA_INT, 0, -8388608, 8388607, 0, 0, 0 },
	{ "mediumint(8) unsigned", 0, SCHEMA_INT, 1, 0, 16777215, 0, 0, 0 },
	{ "int(11)", 0, SCHEMA_INT, 0, INT32_MIN, INT32_MAX, 0, 0, 0 },
	{ "int", 0, SCHEMA_INT, 0, INT32_MIN, INT32_MAX, 0, 0, 0 },
	{ "int(10) unsigned", 0, SCHEMA_INT, 1, 0, UINT32_MAX, 0, 0, 0 },
	{ "int(10) unsigned zerofill", 0, SCHEMA_INT, 1, 0, UINT32_MAX, 0, 0, 0 },
	{ "int unsigned", 0, SCHEMA_INT, 1, 0, UINT32_MAX, 0, 0, 0 },
	{ "bigint(20)", 0, SCHEMA_INT, 0, INT64_MIN, INT64_MAX, 0, 0, 0 },
	{ "bigint(20) unsigned", 0, SCHEMA_INT, 1, 0, UINT64_MAX, 0, 0, 0 },
	{ "bigint unsigned", 0, SCHEMA_INT, 1, 0, UINT64_MAX, 0, 0, 0 },
	{ "tinyint(1)", 0, SCHEMA_BOOL, 0, -128, 127, 0, 0, 0 },
	{ "tinyint(1) unsigned", 0, SCHEMA_BOOL, 1, 0, 255, 0, 0, 0 },
	{ "bool", 0, SCHEMA_BOOL, 0, -128, 127, 0, 0, 0 },
	{ "boolean", 0, SCHEMA_BOOL, 0, -128, 127, 0, 0, 0 },
	{ "decimal(10,2)", 0, SCHEMA_DECIMAL, 0, 0, 0, 0, 10, 2 },
	{ "decimal(65,30) unsigned", 0, SCHEMA_DECIMAL, 1, 0, 0, 0, 65, 30 },
	{ "decimal", 0, SCHEMA_DECIMAL, 0, 0, 0, 0, 10, 0 },
	{ "decimal(5)", 0, SCHEMA_DECIMAL, 0, 0, 0, 0, 5, 0 },
	{ "numeric(8,3)", 0, SCHEMA_DECIMAL, 0, 0, 0, 0, 8, 3 },
	{ "float", 0, SCHEMA_FLOAT, 0, 0, 0, 0, 0, 0 },
	{ "float unsigned", 0, SCHEMA_FLOAT, 1, 0, 0, 0, 0, 0 },
	{ "double", 0, SCHEMA_FLOAT, 0, 0, 0, 0, 0, 0 },
	{ "double(8,2)", 0, SCHEMA_FLOAT, 0, 0, 0, 0, 8, 2 },
	{ "real", 0, SCHEMA_FLOAT, 0, 0, 0, 0, 0, 0 },
	{ "varchar(255)", 255, SCHEMA_STRING, 0, 0, 0, 255, 0, 0 },
	{ "varchar(64)", 0, SCHEMA_STRING, 0, 0, 0, 64, 0, 0 },
	{ "char(36)", 36, SCHEMA_STRING, 0, 0, 0, 36, 0, 0 },
	{ "tinytext", 255, SCHEMA_STRING, 0, 0, 0, 255, 0, 0 },
	{ "text", 65535, SCHEMA_STRING, 0, 0, 0, 65535, 0, 0 },
	{ "mediumtext", 0, SCHEMA_STRING, 0, 0, 0, 0, 0, 0 },
	{ "longtext", 0, SCHEMA_STRING, 0, 0, 0, 0, 0, 0 },
	{ "binary(16)", 16, SCHEMA_BINARY, 0, 0, 0, 16, 0, 0 },
	{ "varbinary(100)", 0, SCHEMA_BINARY, 0, 0, 0, 100, 0, 0 },
	{ "tinyblob", 255, SCHEMA_BINARY, 0, 0, 0, 255, 0, 0 },
	{ "blob", 65535, SCHEMA_BINARY, 0, 0, 0, 65535, 0, 0 },
	{ "mediumblob", 0, SCHEMA_BINARY, 0, 0, 0, 0, 0, 0 },
	{ "longblob", 0, SCHEMA_BINARY, 0, 0, 0, 0, 0, 0 },
	{ "date", 0, SCHEMA_DATE, 0, 0, 0, 0, 0, 0 },
	{ "datetime", 0, SCHEMA_DATETIME, 0, 0, 0, 0, 0, 0 },
	{ "datetime(6)", 0, SCHEMA_DATETIME, 0, 0, 0, 0, 6, 0 },
	{ "timestamp", 0, SCHEMA_DATETIME, 0, 0, 0, 0, 0, 0 },
	{ "timestamp(3)", 0, SCHEMA_DATETIME, 0, 0, 0, 0, 3, 0 },
	{ "time", 0, SCHEMA_TIME, 0, 0, 0, 0, 0, 0 },
	{ "time(2)", 0, SCHEMA_TIME, 0, 0, 0, 0, 2, 0 },
	{ "year", 0, SCHEMA_YEAR, 0, 1901, 2155, 0, 0, 0 },
	{ "year(4)", 0, SCHEMA_YEAR, 0, 1901, 2155, 0, 0, 0 },
	{ "json", 0, SCHEMA_JSON, 0, 0, 0, 0, 0, 0 },
	{ "bit(1)", 0, SCHEMA_BOOL, 1, 0, 1, 0, 0, 0 },
	{ "bit", 0, SCHEMA_BOOL, 1, 0, 1, 0, 0, 0 },
	{ "bit(12)", 0, SCHEMA_INT, 1, 0, 4095, 0, 0, 0 },
	{ "bit(64)", 0, SCHEMA_INT, 1, 0, UINT64_MAX, 0, 0, 0 },
	{ "geometry", 0, SCHEMA_OTHER, 0, 0, 0, 0, 0, 0 },
	{ "point", 0, SCHEMA_OTHER, 0, 0, 0, 0, 0, 0 },
	{ "uuid", 0, SCHEMA_OTHER, 0, 0, 0, 0, 0, 0 },
	{ "inet6", 0, SCHEMA_OTHER, 0, 0, 0, 0, 0, 0 },
	{ "vector(3)", 0, SCHEMA_OTHER, 0, 0, 0, 0, 0, 0 },
};

static void
test_types(void **state)
{
	struct schema		*s;
	struct schema_column	*c;
	char			*err = NULL, name[16];
	size_t			 i;

	s = schema_new("t");
	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		snprintf(name, sizeof name, "c%zu", i);
		c = schema_add_column(s, name, types[i].sql, types[i].max_chars,
		    1, 0, 0, &err);
		if (c == NULL)
			fail_msg("%s: %s", types[i].sql, err);
		if (c->type != types[i].type)
			fail_msg("%s: type %d, want %d", types[i].sql, c->type,
			    types[i].type);
		assert_string_equal(c->name, name);
		assert_string_equal(c->sql_type, types[i].sql);
		assert_int_equal(c->is_unsigned, types[i].is_unsigned);
		if (types[i].type == SCHEMA_INT || types[i].type == SCHEMA_BOOL ||
		    types[i].type == SCHEMA_YEAR) {
			if (c->int_min != types[i].min || c->int_max != types[i].max)
				fail_msg("%s: bounds %lld..%llu", types[i].sql,
				    (long long)c->int_min,
				    (unsigned long long)c->int_max);
		}
		if (c->max_chars != types[i].chars)
			fail_msg("%s: max_chars %llu", types[i].sql,
			    (unsigned long long)c->max_chars);
		assert_int_equal(c->precision, types[i].precision);
		assert_int_equal(c->scale, types[i].scale);
	}
	assert_int_equal(s->ncols, sizeof types / sizeof types[0]);
	assert_null(err);
	schema_free(s);
}

static void
test_enum_set(void **state)
{
	struct schema		*s;
	struct schema_column	*c;
	char			*err = NULL;

	s = schema_new("t");
	c = schema_add_column(s, "e", "enum('a','b''c','','x,y')", 0, 0, 0, 0,
	    &err);
	assert_non_null(c);
	assert_int_equal(c->type, SCHEMA_ENUM);
	assert_int_equal(c->nvalues, 4);
	assert_string_equal(c->values[0], "a");
	assert_string_equal(c->values[1], "b'c");
	assert_string_equal(c->values[2], "");
	assert_string_equal(c->values[3], "x,y");
	/* Members come escaped as in SQL text: a\b, a newline. */
	c = schema_add_column(s, "e2", "enum('a\\\\b','n\\nl','t\tab')", 0, 0,
	    0, 0, &err);
	assert_non_null(c);
	assert_int_equal(c->nvalues, 3);
	assert_string_equal(c->values[0], "a\\b");
	assert_string_equal(c->values[1], "n\nl");
	assert_string_equal(c->values[2], "t\tab");
	c = schema_add_column(s, "s", "set('red','green')", 0, 1, 1, 0, &err);
	assert_non_null(c);
	assert_int_equal(c->type, SCHEMA_SET);
	assert_int_equal(c->nvalues, 2);
	assert_string_equal(c->values[1], "green");
	assert_int_equal(c->nullable, 1);
	assert_int_equal(c->has_default, 1);
	assert_int_equal(c->auto_increment, 0);
	assert_null(err);
	schema_free(s);
}

static void
test_type_errors(void **state)
{
	struct schema	*s;
	char		*err = NULL;
	const char	*bad[] = { "", "(", "123", " int", "int(", "int(x)",
	    "int(11", "int(1,2)", "decimal(5,6)", "decimal(10,", "decimal(99)",
	    "varchar(", "enum", "enum('a", "enum('a'", "enum(a)",
	    "enum('a',)", "set('a'", "int(11) @", "datetime(6", NULL };
	size_t		 i;

	s = schema_new("t");
	for (i = 0; bad[i] != NULL; i++) {
		if (schema_add_column(s, "col", bad[i], 0, 0, 0, 0, &err) != NULL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(err);
		assert_non_null(strstr(err, "cannot understand type"));
		assert_non_null(strstr(err, "of column 'col'"));
		free(err);
		err = NULL;
	}
	assert_int_equal(s->ncols, 0);
	assert_int_equal(schema_add_column(s, "x", "", 0, 0, 0, 0, &err) == NULL,
	    1);
	assert_string_equal(err, "cannot understand type '' of column 'x'");
	free(err);
	schema_free(s);
}

static struct schema *
users(void)
{
	struct schema	*s;
	char		*err = NULL;

	s = schema_new("users");
	assert_non_null(schema_add_column(s, "id", "bigint(20)", 0, 0, 0, 1,
	    &err));
	assert_non_null(schema_add_column(s, "name", "varchar(255)", 255, 0, 0,
	    0, &err));
	assert_non_null(schema_add_column(s, "age", "int(11)", 0, 1, 1, 0,
	    &err));
	assert_non_null(schema_add_column(s, "occupation", "varchar(255)", 255,
	    1, 1, 0, &err));
	assert_non_null(schema_add_column(s, SCHEMA_VERSION_COLUMN,
	    "bigint(20) unsigned", 0, 0, 1, 0, &err));
	schema_add_pk(s, 0);
	return (s);
}

static void
test_pk(void **state)
{
	struct schema	*s;
	char		*err = NULL;

	s = users();
	assert_int_equal(s->id_col, 0);
	assert_int_equal(s->version_col, 4);
	assert_int_equal(s->npk, 1);
	assert_int_equal(s->pk[0], 0);
	assert_int_equal(s->cols[0].primary, 1);
	assert_int_equal(s->cols[1].primary, 0);
	assert_int_equal(schema_find(s, "age"), 2);
	assert_int_equal(schema_find(s, "nope"), -1);
	assert_int_equal(schema_find(s, "Age"), -1);

	/* A two-column key has no id column. */
	schema_add_pk(s, 1);
	assert_int_equal(s->npk, 2);
	assert_int_equal(s->id_col, -1);
	schema_free(s);

	/* A string key has no id column. */
	s = schema_new("k");
	assert_int_equal(s->id_col, -1);
	assert_int_equal(s->version_col, -1);
	assert_non_null(schema_add_column(s, "code", "char(2)", 2, 0, 0, 0,
	    &err));
	schema_add_pk(s, 0);
	assert_int_equal(s->id_col, -1);
	assert_int_equal(s->cols[0].primary, 1);
	schema_free(s);
}

/*
 * Keys are spelt as wtc writes them: 0 is, 01 and -0 are not (GET
 * /users/01 once cached users:01).  What a user types is taken as wtc would
 * write it (canon), or refused.
 */
static void
test_pk_check(void **state)
{
	static const struct {
		const char	*pk;
		int		 ok;
		const char	*canon;	/* NULL: refused */
	} cases[] = {
		{ "42", 1, "42" }, { "-7", 1, "-7" }, { "0", 1, "0" },
		{ "18446744073709551615", 1, "18446744073709551615" },
		{ "184467440737095516150", 0, NULL },	/* 21 digits */
		{ "", 0, NULL }, { "-", 0, NULL }, { "4x", 0, NULL },
		{ " 4", 0, NULL }, { "+4", 0, NULL },
		{ "01", 0, "1" }, { "007", 0, "7" }, { "000", 0, "0" },
		{ "-0", 0, "0" }, { "-00", 0, "0" }, { "-07", 0, NULL },
		{ "0000000000000000000000018446744073709551615", 0,
		    "18446744073709551615" },
	};
	struct schema	*s;
	const char	*pk[2];
	size_t		 i;

	(void)state;
	s = users();
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pk[0] = cases[i].pk;
		assert_int_equal(schema_pk_check(s, pk), cases[i].ok ? -1 : 0);
		if (cases[i].canon == NULL) {
			assert_int_equal(schema_pk_canon(s, pk), 0);
			continue;
		}
		assert_int_equal(schema_pk_canon(s, pk), -1);
		assert_string_equal(pk[0], cases[i].canon);
		assert_int_equal(schema_pk_check(s, pk), -1);
	}

	/* (id, name): only the integer part is checked; the bad index told. */
	schema_add_pk(s, 1);
	pk[0] = "1";
	pk[1] = "any text: 4x";
	assert_int_equal(schema_pk_check(s, pk), -1);
	pk[1] = "";
	assert_int_equal(schema_pk_check(s, pk), -1);
	pk[0] = "1.5";
	assert_int_equal(schema_pk_check(s, pk), 0);
	/* Text columns are left as they are. */
	pk[0] = "01";
	pk[1] = "007";
	assert_int_equal(schema_pk_canon(s, pk), -1);
	assert_string_equal(pk[0], "1");
	assert_string_equal(pk[1], "007");
	schema_free(s);
}

static void
assert_same_schema(const struct schema *a, const struct schema *b)
{
	const struct schema_column	*x, *y;
	size_t				 i, j;

	assert_string_equal(a->table, b->table);
	assert_int_equal(a->ncols, b->ncols);
	assert_int_equal(a->npk, b->npk);
	assert_int_equal(a->id_col, b->id_col);
	assert_int_equal(a->version_col, b->version_col);
	for (i = 0; i < a->npk; i++)
		assert_int_equal(a->pk[i], b->pk[i]);
	for (i = 0; i < a->ncols; i++) {
		x = &a->cols[i];
		y = &b->cols[i];
		assert_string_equal(x->name, y->name);
		assert_string_equal(x->sql_type, y->sql_type);
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->is_unsigned, y->is_unsigned);
		assert_true(x->int_min == y->int_min);
		assert_true(x->int_max == y->int_max);
		assert_true(x->max_chars == y->max_chars);
		assert_int_equal(x->precision, y->precision);
		assert_int_equal(x->scale, y->scale);
		assert_int_equal(x->nullable, y->nullable);
		assert_int_equal(x->has_default, y->has_default);
		assert_int_equal(x->auto_increment, y->auto_increment);
		assert_int_equal(x->generated, y->generated);
		assert_int_equal(x->primary, y->primary);
		assert_int_equal(x->nvalues, y->nvalues);
		for (j = 0; j < x->nvalues; j++)
			assert_string_equal(x->values[j], y->values[j]);
	}
}

static void
test_text_round_trip(void **state)
{
	struct schema		*s, *t;
	struct schema_column	*c;
	struct buf		 b = BUF_INIT, b2 = BUF_INIT;
	char			*err = NULL;

	s = users();
	schema_to_text(s, &b);
	assert_true(strncmp(b.data, "wtc-schema 1\ntable users\n", 25) == 0);
	t = schema_from_text(b.data, b.len, &err);
	if (t == NULL)
		fail_msg("%s", err);
	assert_same_schema(s, t);
	schema_to_text(t, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	schema_free(t);
	schema_free(s);
	buf_release(&b);
	buf_release(&b2);

	/* Odd names and values, every type, a composite key. */
	s = schema_new("we\tird\\ta\nble\r ");
	assert_non_null(schema_add_column(s, "a b\tc\\d\ne", "int(10) unsigned",
	    0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "\\t", "enum('x\ty','a\\\\b','',"
	    "'n\nl','q''q')", 0, 1, 0, 0, &err));
	assert_non_null(schema_add_column(s, "\xc3\xa9t\xc3\xa9", "decimal(12,4)",
	    0, 1, 1, 0, &err));
	assert_non_null(schema_add_column(s, "big", "bigint(20)", 0, 0, 0, 1,
	    &err));
	assert_non_null(schema_add_column(s, "s", "set('a','b')", 0, 1, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "y", "year", 0, 1, 0, 0, &err));
	assert_non_null(schema_add_column(s, "j", "json", 0, 1, 0, 0, &err));
	assert_non_null(schema_add_column(s, "g", "geometry", 0, 1, 0, 0, &err));
	assert_non_null(c = schema_add_column(s, "", "varchar(3)", 3, 1, 0, 0,
	    &err));
	c->generated = 1;	/* written only when some column is */
	assert_non_null(schema_add_column(s, SCHEMA_VERSION_COLUMN,
	    "bigint(20) unsigned", 0, 0, 1, 0, &err));
	schema_add_pk(s, 3);
	schema_add_pk(s, 0);
	schema_to_text(s, &b);
	t = schema_from_text(b.data, b.len, &err);
	if (t == NULL)
		fail_msg("%s", err);
	assert_same_schema(s, t);
	assert_int_equal(t->id_col, -1);
	assert_int_equal(t->version_col, 9);
	assert_string_equal(t->cols[1].values[0], "x\ty");
	assert_string_equal(t->cols[1].values[3], "n\nl");
	assert_non_null(strstr(b.data, "\ngenerated 8\nend\n"));
	schema_free(t);
	schema_free(s);
	buf_release(&b);

	/* A cache from before the fsp was kept: read from the type. */
	{
		static const char old[] = "wtc-schema 1\ntable t\n"
		    "column\tid\tint(11)\tint\t0\t-2147483648\t2147483647\t0\t0"
		    "\t0\t0\t0\t0\t0\n"
		    "column\tt\tdatetime(6)\tdatetime\t0\t0\t0\t0\t0\t0\t1\t1"
		    "\t0\t0\npk 0\nend\n";

		t = schema_from_text(old, sizeof old - 1, &err);
		if (t == NULL)
			fail_msg("%s", err);
		assert_int_equal(t->cols[1].precision, 6);
		schema_free(t);
	}

	/* No columns, no key. */
	s = schema_new("empty");
	schema_to_text(s, &b);
	t = schema_from_text(b.data, b.len, &err);
	assert_non_null(t);
	assert_same_schema(s, t);
	schema_free(t);
	schema_free(s);
	buf_release(&b);
	assert_null(err);
}

static void
test_text_errors(void **state)
{
	struct schema	*s;
	struct buf	 b = BUF_INIT;
	char		*err = NULL, *text;
	size_t		 i, cut;
	static const struct {
		const char	*text;
		const char	*err;
	} bad[] = {
		{ "", "schema cache: line 1: unexpected end" },
		{ "wtc-schema 2\n", "schema cache: line 1: not a wtc schema cache" },
		{ "wtc-schema 1\ntabel x\n", "schema cache: line 2: expected 'table" },
		{ "wtc-schema 1\ntable x\nfoo\n",
		    "schema cache: line 3: expected a column or pk line" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tint\t0\n",
		    "schema cache: line 3: column line has too few fields" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tnumber\t0\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\n", "schema cache: line 3: unknown column type" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tint\t2\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\n", "schema cache: line 3: bad column field" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tint\t0\t-0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\n", "schema cache: line 3: bad column field" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tint\t0\t0\t99999999999"
		    "999999999\t0\t0\t0\t0\t0\t0\t0\n",
		    "schema cache: line 3: bad column field" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tenum\t0\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t2\ta\n",
		    "schema cache: line 3: column value count does not match" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\\q\tint\tint\t0\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\n", "schema cache: line 3: bad escape" },
		{ "wtc-schema 1\ntable x\ncolumn\ta\tint\tint\t0\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\ncolumn\ta\tint\tint\t0\t0\t0\t0\t0"
		    "\t0\t0\t0\t0\t0\n", "schema cache: line 4: duplicate column" },
		{ "wtc-schema 1\ntable x\npk 0\nend\n",
		    "schema cache: line 3: primary key column index out of range" },
		{ "wtc-schema 1\ntable x\npk\n",
		    "schema cache: line 4: unexpected end" },
		{ "wtc-schema 1\ntable x\npk\nend",
		    "schema cache: line 4: line is not terminated" },
		{ "wtc-schema 1\ntable x\npk\nend\nmore\n",
		    "schema cache: line 5: text after 'end'" },
		{ "wtc-schema 1\ntable x\npk\nfin\n",
		    "schema cache: line 4: expected 'end'" },
	};

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		s = schema_from_text(bad[i].text, strlen(bad[i].text), &err);
		if (s != NULL)
			fail_msg("case %zu accepted", i);
		if (err == NULL || strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i,
			    err == NULL ? "(null)" : err, bad[i].err);
		free(err);
		err = NULL;
	}

	/* Every cut of a good text but the whole one is refused. */
	s = users();
	schema_to_text(s, &b);
	schema_free(s);
	for (cut = 0; cut < b.len; cut++) {
		text = xstrndup(b.data, cut);
		s = schema_from_text(text, cut, &err);
		if (s != NULL)
			fail_msg("text cut at %zu accepted", cut);
		assert_true(strncmp(err, "schema cache: line ", 19) == 0);
		free(err);
		err = NULL;
		free(text);
	}

	/* A NUL byte. */
	b.data[5] = '\0';
	assert_null(schema_from_text(b.data, b.len, &err));
	assert_non_null(strstr(err, "NUL"));
	free(err);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_enum_set),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_pk),
		cmocka_unit_test(test_pk_check),
		cmocka_unit_test(test_text_round_trip),
		cmocka_unit_test(test_text_errors),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
