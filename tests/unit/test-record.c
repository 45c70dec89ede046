/*
 * Unit tests for the record module: strict JSON parsing and validation
 * against a schema, the spool payload, JSON output and keys.
 *
 * "test-record bench [N]" instead times record_parse on a typical record
 * and prints nanoseconds per record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "schema.h"
#include "util.h"

static struct schema *
users_schema(void)
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

/* One nullable column of every kind, keyed by k. */
static struct schema *
types_schema(void)
{
	static const char *cols[][2] = {
		{ "k", "int(11)" },
		{ "i64", "bigint(20)" },
		{ "u64", "bigint(20) unsigned" },
		{ "ti", "tinyint(4)" },
		{ "flag", "tinyint(1)" },
		{ "price", "decimal(10,2)" },
		{ "qty", "decimal(5,0)" },
		{ "ud", "decimal(4,2) unsigned" },
		{ "f", "double" },
		{ "code", "char(3)" },
		{ "bin", "varbinary(4)" },
		{ "color", "enum('red','green','it''s')" },
		{ "tags", "set('a','b','c')" },
		{ "born", "date" },
		{ "at", "datetime(6)" },
		{ "dur", "time" },
		{ "yr", "year(4)" },
		{ "doc", "json" },
		{ "geo", "geometry" },
		{ "txt", "text" },
	};
	struct schema	*s;
	char		*err = NULL;
	size_t		 i;

	s = schema_new("types");
	for (i = 0; i < sizeof cols / sizeof cols[0]; i++) {
		if (schema_add_column(s, cols[i][0], cols[i][1], 0, 1, 0, 0,
		    &err) == NULL)
			fail_msg("%s", err);
	}
	schema_add_pk(s, 0);
	return (s);
}

static struct record *
parse_ok(const struct schema *s, const char *json, size_t len)
{
	struct record	*rec = NULL;
	char		*err = NULL;

	if (record_parse(json, len, s, &rec, &err) != 0)
		fail_msg("'%s' refused: %s", json, err);
	assert_non_null(rec);
	assert_null(err);
	return (rec);
}

#define PARSE_OK(s, j) parse_ok(s, j, strlen(j))

static void
parse_err(const struct schema *s, const char *json, size_t len,
    const char *want)
{
	struct record	*rec = (struct record *)1;
	char		*err = NULL;

	if (record_parse(json, len, s, &rec, &err) == 0)
		fail_msg("'%s' accepted", json);
	assert_null(rec);
	if (err == NULL || strcmp(err, want) != 0)
		fail_msg("'%s': got \"%s\", want \"%s\"", json,
		    err == NULL ? "(null)" : err, want);
	free(err);
}

#define PARSE_ERR(s, j, w) parse_err(s, j, strlen(j), w)

/* record_decode must refuse the payload with exactly the message want. */
static void
decode_err(const void *data, size_t len, const char *want)
{
	struct record	*rec = (struct record *)1;
	char		*err = NULL;

	assert_int_equal(record_decode(data, len, &rec, &err), -1);
	assert_null(rec);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
}

/* The field named name, which must exist. */
static const struct rec_field *
field(const struct record *rec, const char *name)
{
	size_t	 i;

	for (i = 0; i < rec->nfields; i++) {
		if (strcmp(rec->fields[i].name, name) == 0)
			return (&rec->fields[i]);
	}
	fail_msg("no field '%s'", name);
	return (NULL);
}

/* Parse {"col":value} against the types schema; check type and value. */
static void
one_ok(const struct schema *s, const char *col, const char *value,
    enum rec_type type, const char *want, size_t wantlen)
{
	struct record		*rec;
	const struct rec_field	*f;
	char			*json;

	json = xasprintf("{\"k\":1,\"%s\":%s}", col, value);
	rec = PARSE_OK(s, json);
	f = field(rec, col);
	if (f->type != type)
		fail_msg("%s: type %d, want %d", json, f->type, type);
	if (f->len != wantlen || memcmp(f->val, want, wantlen) != 0)
		fail_msg("%s: value '%s', want '%s'", json, f->val, want);
	assert_int_equal(f->val[f->len], '\0');
	assert_int_equal(f->col, schema_find(s, col));
	record_free(rec);
	free(json);
}

#define ONE_OK(s, c, v, t, w) one_ok(s, c, v, t, w, strlen(w))

static void
one_err(const struct schema *s, const char *col, const char *value,
    const char *want)
{
	char	*json;

	json = xasprintf("{\"k\":1,\"%s\":%s}", col, value);
	PARSE_ERR(s, json, want);
	free(json);
}

/* FLOAT(M,D) rounds past D places: refused as DECIMAL(M,D) refuses them. */
static void
test_float_places(void **state)
{
	struct schema	*s;
	char		*err = NULL;

	(void)state;
	s = schema_new("fl");
	assert_non_null(schema_add_column(s, "k", "int", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "f", "float(5,2)", 0, 1, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "d", "double", 0, 1, 0, 0, &err));
	assert_non_null(schema_add_column(s, "w", "double(100,3)", 0, 1, 0, 0,
	    &err));
	schema_add_pk(s, 0);
	ONE_OK(s, "f", "1.23", REC_NUM, "1.23");
	ONE_OK(s, "f", "-999.99", REC_NUM, "-999.99");
	one_err(s, "f", "1.234", "field 'f' has more than 2 decimal places");
	one_err(s, "f", "1000", "field 'f' is out of range for float(5,2)");
	/* An exponent is no reason to refuse: what counts is the value. */
	ONE_OK(s, "f", "1e-2", REC_NUM, "1e-2");
	ONE_OK(s, "f", "1.5E+2", REC_NUM, "1.5E+2");
	ONE_OK(s, "f", "0.50", REC_NUM, "0.50");
	ONE_OK(s, "f", "0", REC_NUM, "0");
	one_err(s, "f", "1e-3", "field 'f' has more than 2 decimal places");
	one_err(s, "f", "1.5e3", "field 'f' is out of range for float(5,2)");
	one_err(s, "f", "0.001", "field 'f' has more than 2 decimal places");
	ONE_OK(s, "d", "1.2345e300", REC_NUM, "1.2345e300");
	/* M past DECIMAL's 65 is still FLOAT(M,D)'s. */
	ONE_OK(s, "w", "-1.5e90", REC_NUM, "-1.5e90");
	one_err(s, "w", "0.0005", "field 'w' has more than 3 decimal places");
	one_err(s, "w", "1e97", "field 'w' is out of range for double(100,3)");
	schema_free(s);
}

/* MariaDB's UUID: the standard form, in lower case as the server gives it. */
static void
test_uuid(void **state)
{
	struct schema	*s;
	char		*err = NULL;

	(void)state;
	s = schema_new("u");
	assert_non_null(schema_add_column(s, "k", "int", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "u", "uuid", 0, 1, 0, 0, &err));
	schema_add_pk(s, 0);
	ONE_OK(s, "u", "\"123E4567-E89B-12D3-A456-42661417400F\"", REC_STR,
	    "123e4567-e89b-12d3-a456-42661417400f");
	one_err(s, "u", "\"123e4567e89b12d3a456426614174000\"",
	    "field 'u' must be a UUID like 123e4567-e89b-12d3-a456-426614174000");
	one_err(s, "u", "\"123e4567-e89b-12d3-a456-42661417400g\"",
	    "field 'u' must be a UUID like 123e4567-e89b-12d3-a456-426614174000");
	schema_free(s);
}

/* INET6 as MariaDB writes it back (pairs checked against MariaDB 10.11). */
static void
test_inet6(void **state)
{
	static const char *const pairs[][2] = {
		{ "0:0::1", "::1" },
		{ "2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "1:0:1:1:1:1:1:1", "1::1:1:1:1:1:1" },
		{ "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
		{ "::1.2.3.4", "::1.2.3.4" },
		{ "fe80::0:0:0:1", "fe80::1" },
		{ "::", "::" },
		{ "1::", "1::" },
		{ "::ffff:a0a:a0a", "::ffff:10.10.10.10" },
		{ "1:0:0:2:0:0:3:4", "1::2:0:0:3:4" },
		{ "0:0:1::", "0:0:1::" },
		{ "::ffff:0:0", "::ffff:0.0.0.0" },
		{ "1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7::" },
	};
	struct buf	 b = BUF_INIT;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		buf_reset(&b);
		assert_int_equal(record_inet6_canon(pairs[i][0],
		    strlen(pairs[i][0]), &b), 0);
		assert_string_equal(b.data, pairs[i][1]);
	}
	assert_int_equal(record_inet6_canon("1.2.3.4", 7, &b), -1);
	assert_int_equal(record_inet6_canon("1:::2", 5, &b), -1);
	/* MariaDB takes leading zeros in a dotted tail, not a NUL. */
	buf_reset(&b);
	assert_int_equal(record_inet6_canon("::ffff:01.002.3.4", 17, &b), 0);
	assert_string_equal(b.data, "::ffff:1.2.3.4");
	assert_int_equal(record_inet6_canon("::7\0zz", 6, &b), -1);
	assert_int_equal(record_inet6_canon("::ffff:1.2.3.0004", 17, &b), -1);
	buf_release(&b);
}

/* Ids given by a user are spelt as put spells its keys, as MySQL does. */
static void
test_key_values(void **state)
{
	struct schema	*s;
	struct buf	 b = BUF_INIT;
	char		*err = NULL;
	const char	*pk[] = { "ab  ", "123E4567-E89B-12D3-A456-42661417400F",
	    "1:00:00.5", "2024-01-01T10:00:00", "1.5", "0:0::1" };

	(void)state;
	s = schema_new("k");
	assert_non_null(schema_add_column(s, "c", "char(4)", 4, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "u", "uuid", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "t", "time(2)", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "d", "datetime", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "p", "decimal(4,2)", 0, 0, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "i", "inet6", 0, 0, 0, 0, &err));
	for (size_t i = 0; i < 6; i++)
		schema_add_pk(s, i);
	record_key_values(&b, s, pk, NULL);
	assert_string_equal(b.data, "ab:123e4567-e89b-12d3-a456-42661417400f:"
	    "01%3A00%3A00.50:2024-01-01 10%3A00%3A00:1.50:%3A%3A1");
	buf_release(&b);
	schema_free(s);
}

/* A TIME's hour as MySQL writes it. */
static void
test_time_hours(void **state)
{
	static const char *const pairs[][2] = {
		{ "1:00:00", "01:00:00" }, { "001:00:00", "01:00:00" },
		{ "010:00:00", "10:00:00" }, { "100:00:00", "100:00:00" },
		{ "-1:00:00.5", "-01:00:00.5" }, { "-0:00:00", "00:00:00" },
		{ "-00:00:00.000", "00:00:00.000" }, { "12:30:00", "12:30:00" },
	};
	struct buf	 b = BUF_INIT;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		buf_reset(&b);
		record_time_hours(pairs[i][0], strlen(pairs[i][0]), &b);
		assert_string_equal(b.data, pairs[i][1]);
	}
	buf_release(&b);
}

static void
test_users_valid(void **state)
{
	struct schema	*s = users_schema();
	struct record	*rec;
	const char	*j;

	rec = PARSE_OK(s, "{\"name\":\"Ann Lee\",\"age\":30,"
	    "\"occupation\":\"Engineer\"}");
	assert_string_equal(rec->table, "users");
	assert_int_equal(rec->version, 0);
	assert_int_equal(rec->nfields, 4);
	assert_int_equal(rec->id_field, 0);
	assert_false(record_has_id(rec));
	assert_string_equal(rec->fields[0].name, "id");
	assert_int_equal(rec->fields[0].type, REC_NULL);
	assert_int_equal(rec->fields[0].col, 0);
	assert_string_equal(rec->fields[1].name, "name");
	assert_string_equal(rec->fields[1].val, "Ann Lee");
	assert_int_equal(rec->fields[1].len, 7);
	assert_int_equal(rec->fields[1].type, REC_STR);
	assert_int_equal(rec->fields[1].col, 1);
	assert_string_equal(rec->fields[2].name, "age");
	assert_string_equal(rec->fields[2].val, "30");
	assert_int_equal(rec->fields[2].type, REC_INT);
	assert_string_equal(rec->fields[3].name, "occupation");
	assert_int_equal(rec->fields[3].col, 3);
	record_set_id(rec, 18446744073709551615ull);
	assert_true(record_has_id(rec));
	assert_int_equal(rec->fields[0].type, REC_INT);
	assert_string_equal(rec->fields[0].val, "18446744073709551615");
	assert_int_equal(rec->fields[0].len, 20);
	record_set_id(rec, 0);
	assert_string_equal(rec->fields[0].val, "0");
	record_free(rec);

	/* Keys out of order, an id, whitespace everywhere, a BOM. */
	j = "\xef\xbb\xbf \r\n\t{ \"occupation\" : null ,\"age\":-0, \"name\" :"
	    " \"\", \"id\":42 }\n ";
	rec = PARSE_OK(s, j);
	assert_int_equal(rec->nfields, 4);
	assert_int_equal(rec->id_field, 0);
	assert_true(record_has_id(rec));
	assert_string_equal(rec->fields[0].val, "42");
	assert_int_equal(rec->fields[0].type, REC_INT);
	assert_string_equal(rec->fields[1].name, "name");
	assert_int_equal(rec->fields[1].len, 0);
	assert_string_equal(rec->fields[2].val, "0");
	assert_int_equal(rec->fields[3].type, REC_NULL);
	assert_int_equal(rec->fields[3].len, 0);
	record_free(rec);

	/* An explicit null id counts as absent. */
	rec = PARSE_OK(s, "{\"id\":null,\"name\":\"x\"}");
	assert_int_equal(rec->nfields, 2);
	assert_int_equal(rec->id_field, 0);
	assert_false(record_has_id(rec));
	record_set_id(rec, 7);
	assert_string_equal(rec->fields[0].val, "7");
	record_free(rec);

	/* Escaped keys still name columns. */
	rec = PARSE_OK(s, "{\"n\\u0061me\":\"x\",\"\\u0061ge\":1}");
	assert_string_equal(field(rec, "name")->val, "x");
	assert_string_equal(field(rec, "age")->val, "1");
	record_free(rec);

	/* Characters, not bytes, count against varchar(255). */
	{
		struct buf	 b = BUF_INIT;
		int		 i;

		buf_adds(&b, "{\"name\":\"");
		for (i = 0; i < 255; i++)
			buf_adds(&b, "\xf0\x9f\x98\x80");
		buf_adds(&b, "\"}");
		rec = parse_ok(s, b.data, b.len);
		assert_int_equal(field(rec, "name")->len, 255 * 4);
		record_free(rec);
		buf_reset(&b);
		buf_adds(&b, "{\"name\":\"");
		for (i = 0; i < 256; i++)
			buf_addc(&b, 'x');
		buf_adds(&b, "\"}");
		parse_err(s, b.data, b.len,
		    "field 'name' is longer than 255 characters (256)");
		buf_release(&b);
	}
	schema_free(s);
}

static void
test_users_errors(void **state)
{
	struct schema	*s = users_schema();
	static const char *cases[][2] = {
		{ "{\"name\":\"A\",\"foo\":1}",
		    "unknown field 'foo' (table 'users' has id, name, age, "
		    "occupation)" },
		{ "{\"Name\":\"A\"}",
		    "unknown field 'Name' (table 'users' has id, name, age, "
		    "occupation)" },
		{ "{\"name\":\"A\",\"_wtc_version\":3}",
		    "field '_wtc_version' is managed by wtc and cannot be set" },
		{ "{\"age\":3}", "missing required field 'name'" },
		{ "{}", "missing required field 'name'" },
		{ "{\"name\":null}", "field 'name' cannot be null" },
		{ "{\"name\":\"A\",\"age\":30.5}",
		    "field 'age' must be an integer, not a number with a fraction" },
		{ "{\"name\":\"A\",\"age\":1e3}",
		    "field 'age' must be an integer, not 1e3" },
		{ "{\"name\":\"A\",\"age\":1.5E+3}",
		    "field 'age' must be an integer, not 1.5E+3" },
		{ "{\"name\":\"A\",\"age\":\"30\"}",
		    "field 'age' must be an integer, not a string" },
		{ "{\"name\":\"A\",\"age\":true}",
		    "field 'age' must be an integer, not a boolean" },
		{ "{\"name\":\"A\",\"age\":{}}",
		    "field 'age' must be an integer, not an object" },
		{ "{\"name\":\"A\",\"age\":2147483648}",
		    "field 'age' is out of range for int (-2147483648..2147483647)" },
		{ "{\"name\":\"A\",\"age\":-2147483649}",
		    "field 'age' is out of range for int (-2147483648..2147483647)" },
		{ "{\"name\":5}", "field 'name' must be a string, not a number" },
		{ "{\"name\":false}",
		    "field 'name' must be a string, not a boolean" },
		{ "{\"name\":{\"a\":1}}",
		    "field 'name' must be a string, not an object" },
		{ "{\"name\":[1]}", "field 'name' must be a string, not an array" },
		{ "{\"name\":\"A\",\"name\":\"B\"}", "duplicate field 'name'" },
		{ "{\"id\":1,\"name\":\"A\",\"id\":1}", "duplicate field 'id'" },
		{ "{\"name\":\"a\\u0000b\"}",
		    "field 'name' contains a NUL character" },
		{ "[1]", "record must be a JSON object, not an array" },
		{ "\"x\"", "record must be a JSON object, not a string" },
		{ "42", "record must be a JSON object, not a number" },
		{ "-1", "record must be a JSON object, not a number" },
		{ "null", "record must be a JSON object, not null" },
		{ " true", "record must be a JSON object, not a boolean" },
		{ "x", "invalid JSON at byte 0: expected '{'" },
		{ "", "unexpected end of JSON at byte 0" },
		{ " \n ", "unexpected end of JSON at byte 3" },
		{ "{", "unexpected end of JSON at byte 1" },
		{ "{\"name\":\"A\"", "unexpected end of JSON at byte 11" },
		{ "{\"name\":\"A", "unexpected end of JSON at byte 10" },
		{ "{\"name\":", "unexpected end of JSON at byte 8" },
		{ "{\"name\":\"A\",\"age\":tr", "unexpected end of JSON at byte 20" },
		{ "{\"name\":\"A\",\"age\":-", "unexpected end of JSON at byte 19" },
		{ "{\"name\":\"\\u12", "unexpected end of JSON at byte 13" },
		{ "{\"name\":\"A\"} x",
		    "trailing characters after the JSON object at byte 13" },
		{ "{\"name\":\"A\"}{}",
		    "trailing characters after the JSON object at byte 12" },
		{ "{\"name\":NaN}", "invalid JSON at byte 8: expected a value" },
		{ "{\"name\":\"A\",\"age\":Infinity}",
		    "invalid JSON at byte 18: expected a value" },
		{ "{\"name\":\"A\",\"age\":-Infinity}",
		    "invalid JSON at byte 19: expected a digit" },
		{ "{\"name\":\"A\",\"age\":012}",
		    "invalid JSON at byte 18: number with a leading zero" },
		{ "{\"name\":\"A\",\"age\":-01}",
		    "invalid JSON at byte 19: number with a leading zero" },
		{ "{\"name\":\"A\",\"age\":+1}",
		    "invalid JSON at byte 18: expected a value" },
		{ "{\"name\":\"A\",\"age\":.5}",
		    "invalid JSON at byte 18: expected a value" },
		{ "{\"name\":\"A\",\"age\":1.}",
		    "invalid JSON at byte 20: expected a digit after '.'" },
		{ "{\"name\":\"A\",\"age\":1e}",
		    "invalid JSON at byte 20: expected a digit in exponent" },
		{ "{\"name\":\"A\",\"age\":tru}",
		    "invalid JSON at byte 18: expected a value" },
		{ "{\"name\":\"A\",\"age\":1x}",
		    "invalid JSON at byte 19: expected ',' or '}' after a value" },
		{ "{'name':\"A\"}",
		    "invalid JSON at byte 1: expected '\"' to start a field name" },
		{ "{name:\"A\"}",
		    "invalid JSON at byte 1: expected '\"' to start a field name" },
		{ "{\"name\":'A'}", "invalid JSON at byte 8: expected a value" },
		{ "{\"name\":\"A\"/*c*/}",
		    "invalid JSON at byte 11: expected ',' or '}' after a value" },
		{ "//c\n{\"name\":\"A\"}", "invalid JSON at byte 0: expected '{'" },
		{ "{\"name\":\"A\",}",
		    "invalid JSON at byte 12: expected '\"' to start a field name" },
		{ "{\"name\" \"A\"}",
		    "invalid JSON at byte 8: expected ':' after field name" },
		{ "{\"name\":\"A\x01\"}",
		    "invalid JSON at byte 10: control character in string (must "
		    "be escaped)" },
		{ "{\"name\":\"A\nB\"}",
		    "invalid JSON at byte 10: control character in string (must "
		    "be escaped)" },
		{ "{\"name\":\"\\q\"}",
		    "invalid JSON at byte 9: invalid escape in string" },
		{ "{\"name\":\"\\x41\"}",
		    "invalid JSON at byte 9: invalid escape in string" },
		{ "{\"name\":\"\\u12G4\"}",
		    "invalid JSON at byte 9: invalid \\u escape (expected 4 hex "
		    "digits)" },
	};
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		PARSE_ERR(s, cases[i][0], cases[i][1]);

	/* A NUL byte in the text itself is a control character. */
	parse_err(s, "{\"name\":\"A\0\"}", 13,
	    "invalid JSON at byte 10: control character in string (must be "
	    "escaped)");
	parse_err(s, "{\"name\":\"A\"}\0", 13,
	    "trailing characters after the JSON object at byte 12");
	schema_free(s);
}

static void
test_ints(void **state)
{
	struct schema	*s = types_schema();

	ONE_OK(s, "i64", "-9223372036854775808", REC_INT,
	    "-9223372036854775808");
	ONE_OK(s, "i64", "9223372036854775807", REC_INT, "9223372036854775807");
	ONE_OK(s, "i64", "-0", REC_INT, "0");
	ONE_OK(s, "i64", "0", REC_INT, "0");
	one_err(s, "i64", "-9223372036854775809", "field 'i64' is out of range "
	    "for bigint (-9223372036854775808..9223372036854775807)");
	one_err(s, "i64", "9223372036854775808", "field 'i64' is out of range "
	    "for bigint (-9223372036854775808..9223372036854775807)");
	ONE_OK(s, "u64", "18446744073709551615", REC_INT,
	    "18446744073709551615");
	ONE_OK(s, "u64", "0", REC_INT, "0");
	ONE_OK(s, "u64", "-0", REC_INT, "0");
	one_err(s, "u64", "18446744073709551616", "field 'u64' is out of range "
	    "for bigint unsigned (0..18446744073709551615)");
	one_err(s, "u64", "184467440737095516150", "field 'u64' is out of "
	    "range for bigint unsigned (0..18446744073709551615)");
	one_err(s, "u64", "99999999999999999999999999999999", "field 'u64' is "
	    "out of range for bigint unsigned (0..18446744073709551615)");
	one_err(s, "u64", "-1", "field 'u64' is out of range for bigint "
	    "unsigned (0..18446744073709551615)");
	ONE_OK(s, "ti", "127", REC_INT, "127");
	ONE_OK(s, "ti", "-128", REC_INT, "-128");
	one_err(s, "ti", "128", "field 'ti' is out of range for tinyint "
	    "(-128..127)");
	one_err(s, "ti", "-129", "field 'ti' is out of range for tinyint "
	    "(-128..127)");
	one_err(s, "ti", "1.0", "field 'ti' must be an integer, not a number "
	    "with a fraction");
	schema_free(s);
}

static void
test_utf8(void **state)
{
	struct schema	*s = users_schema();
	struct record	*rec;

	/* Valid 2-, 3- and 4-byte sequences, raw and escaped. */
	rec = PARSE_OK(s, "{\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	    "\xf4\x8f\xbf\xbf\"}");
	assert_string_equal(field(rec, "name")->val,
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	record_free(rec);
	rec = PARSE_OK(s, "{\"name\":\"\\u00e9\\u20AC\\ud83d\\ude00\\uDBFF\\uDFFF"
	    "\\u0041\\\"\\\\\\/\\b\\f\\n\\r\\t\"}");
	assert_string_equal(field(rec, "name")->val,
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
	    "A\"\\/\b\f\n\r\t");
	record_free(rec);

	/* Overlong, surrogates, beyond U+10FFFF, stray and cut sequences. */
	PARSE_ERR(s, "{\"name\":\"\xc0\xaf\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xc1\xbf\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"ab\xe0\x80\xaf\"}",
	    "invalid UTF-8 in string at byte 11");
	PARSE_ERR(s, "{\"name\":\"\xf0\x8f\xbf\xbf\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xed\xa0\x80\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xed\xbf\xbf\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xf4\x90\x80\x80\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xf5\x80\x80\x80\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xff\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\x80\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xe2\x82\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xf0\x9f\x98\"}",
	    "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"name\":\"\xc3\"}", "invalid UTF-8 in string at byte 9");
	PARSE_ERR(s, "{\"na\xffme\":\"x\"}", "invalid UTF-8 in string at byte 4");
	PARSE_ERR(s, "{\"name\":\"\xe2\x82", "unexpected end of JSON at byte 11");

	/* Lone and mispaired surrogate escapes. */
	PARSE_ERR(s, "{\"name\":\"\\ud800\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"x\\udc00\"}",
	    "invalid \\u escape (lone surrogate) at byte 10");
	PARSE_ERR(s, "{\"name\":\"\\ud800\\u0041\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"\\ud800\\ud800\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"\\ud800\\ue000\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"\\ude00\\ud83d\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"\\ud800x\"}",
	    "invalid \\u escape (lone surrogate) at byte 9");
	PARSE_ERR(s, "{\"name\":\"\\ud83d\\ude", "unexpected end of JSON at byte 19");
	schema_free(s);
}

static void
test_types(void **state)
{
	struct schema	*s = types_schema();
	struct record	*rec;

	/* bool */
	ONE_OK(s, "flag", "true", REC_BOOL, "1");
	ONE_OK(s, "flag", "false", REC_BOOL, "0");
	ONE_OK(s, "flag", "1", REC_BOOL, "1");
	ONE_OK(s, "flag", "0", REC_BOOL, "0");
	ONE_OK(s, "flag", "null", REC_NULL, "");
	one_err(s, "flag", "2", "field 'flag' must be true, false, 0 or 1, not 2");
	one_err(s, "flag", "1.0",
	    "field 'flag' must be true, false, 0 or 1, not 1.0");
	one_err(s, "flag", "\"true\"",
	    "field 'flag' must be a boolean, not a string");

	/* decimal */
	ONE_OK(s, "price", "12.34", REC_NUM, "12.34");
	ONE_OK(s, "price", "-12.3", REC_NUM, "-12.3");
	ONE_OK(s, "price", "12345678.99", REC_NUM, "12345678.99");
	ONE_OK(s, "price", "0.5", REC_NUM, "0.5");
	ONE_OK(s, "price", "\"12.34\"", REC_NUM, "12.34");
	one_err(s, "price", "12.345",
	    "field 'price' has more than 2 decimal places");
	one_err(s, "price", "123456789.1",
	    "field 'price' is out of range for decimal(10,2)");
	one_err(s, "price", "1e3", "field 'price' must be a decimal number "
	    "without an exponent, not 1e3");
	one_err(s, "price", "\"abc\"",
	    "field 'price' must be a decimal number like 12.34");
	one_err(s, "price", "\"1.\"",
	    "field 'price' must be a decimal number like 12.34");
	one_err(s, "price", "\"01.5\"",
	    "field 'price' must be a decimal number like 12.34");
	one_err(s, "price", "\"\"",
	    "field 'price' must be a decimal number like 12.34");
	one_err(s, "price", "true", "field 'price' must be a number, not a "
	    "boolean");
	ONE_OK(s, "qty", "99999", REC_NUM, "99999");
	one_err(s, "qty", "100000", "field 'qty' is out of range for "
	    "decimal(5,0)");
	one_err(s, "qty", "5.0", "field 'qty' cannot have decimal places");
	ONE_OK(s, "ud", "99.99", REC_NUM, "99.99");
	one_err(s, "ud", "-1.5", "field 'ud' is out of range for decimal(4,2) "
	    "unsigned");

	/* float */
	ONE_OK(s, "f", "1.5e-3", REC_NUM, "1.5e-3");
	ONE_OK(s, "f", "-0", REC_NUM, "-0");
	ONE_OK(s, "f", "123456789012345678901234567890", REC_NUM,
	    "123456789012345678901234567890");
	one_err(s, "f", "\"1.5\"", "field 'f' must be a number, not a string");

	/* strings and binary */
	ONE_OK(s, "code", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", REC_STR,
	    "\xc3\xa9\xc3\xa9\xc3\xa9");
	one_err(s, "code", "\"abcd\"",
	    "field 'code' is longer than 3 characters (4)");
	/* A CHAR's trailing spaces go, as MySQL drops them. */
	ONE_OK(s, "code", "\"ab  \"", REC_STR, "ab");
	ONE_OK(s, "code", "\"   \"", REC_STR, "");
	ONE_OK(s, "code", "\" a\"", REC_STR, " a");
	one_err(s, "code", "12", "field 'code' must be a string, not a number");
	one_ok(s, "bin", "\"\\u00ff\\u0000ab\"", REC_STR, "\xff\0ab", 4);
	one_ok(s, "bin", "\"\xc3\xa9\"", REC_STR, "\xc3\xa9", 2);
	one_err(s, "bin", "\"abcde\"",
	    "field 'bin' is longer than 4 bytes (5)");
	one_err(s, "bin", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"",
	    "field 'bin' is longer than 4 bytes (6)");
	one_ok(s, "txt", "\"a\\u0041\"", REC_STR, "aA", 2);
	one_err(s, "txt", "\"a\\u0000\"", "field 'txt' contains a NUL "
	    "character");

	/* enum and set */
	ONE_OK(s, "color", "\"red\"", REC_STR, "red");
	ONE_OK(s, "color", "\"it's\"", REC_STR, "it's");
	one_err(s, "color", "\"blue\"",
	    "field 'color' must be one of 'red', 'green', 'it's'");
	one_err(s, "color", "\"Red\"",
	    "field 'color' must be one of 'red', 'green', 'it's'");
	one_err(s, "color", "\"\"",
	    "field 'color' must be one of 'red', 'green', 'it's'");
	one_err(s, "color", "1", "field 'color' must be a string, not a number");
	ONE_OK(s, "tags", "\"a,c\"", REC_STR, "a,c");
	ONE_OK(s, "tags", "\"b\"", REC_STR, "b");
	ONE_OK(s, "tags", "\"\"", REC_STR, "");
	one_err(s, "tags", "\"c,a,c\"", "field 'tags' names 'c' twice");
	one_err(s, "tags", "\"a,d\"",
	    "field 'tags' must be a comma-separated list of 'a', 'b', 'c'");
	one_err(s, "tags", "\"a,\"",
	    "field 'tags' must be a comma-separated list of 'a', 'b', 'c'");

	/* dates and times */
	ONE_OK(s, "born", "\"2024-02-29\"", REC_STR, "2024-02-29");
	ONE_OK(s, "born", "\"2000-02-29\"", REC_STR, "2000-02-29");
	ONE_OK(s, "born", "\"1999-12-31\"", REC_STR, "1999-12-31");
	one_err(s, "born", "\"2023-02-29\"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "\"1900-02-29\"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "\"2024-04-31\"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "\"2024-1-31\"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "\"0000-00-00\"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "\"2024-01-31 \"",
	    "field 'born' must be a date like 2024-01-31");
	one_err(s, "born", "20240131",
	    "field 'born' must be a string, not a number");
	ONE_OK(s, "at", "\"2024-01-31 12:30:00\"", REC_STR,
	    "2024-01-31 12:30:00");
	ONE_OK(s, "at", "\"2024-01-31T23:59:59.123456\"", REC_STR,
	    "2024-01-31 23:59:59.123456");
	one_err(s, "at", "\"2024-01-31 24:00:00\"", "field 'at' must be a date "
	    "and time like 2024-01-31 12:30:00");
	one_err(s, "at", "\"2024-01-31 12:30:00.1234567\"", "field 'at' must be "
	    "a date and time like 2024-01-31 12:30:00");
	one_err(s, "at", "\"2024-01-31 12:30:00.\"", "field 'at' must be "
	    "a date and time like 2024-01-31 12:30:00");
	one_err(s, "at", "\"2024-01-31\"", "field 'at' must be a date "
	    "and time like 2024-01-31 12:30:00");
	one_err(s, "at", "\"2024-01-31 12:30:00Z\"", "field 'at' must be a date "
	    "and time like 2024-01-31 12:30:00");
	ONE_OK(s, "dur", "\"12:30:00\"", REC_STR, "12:30:00");
	ONE_OK(s, "dur", "\"-838:59:59\"", REC_STR, "-838:59:59");
	/* A fraction of a second that the column does not keep: MySQL cuts it. */
	one_err(s, "dur", "\"0:00:00.5\"", "field 'dur' has a fraction of a "
	    "second, which column type time does not keep");
	/* Zeros past the column's digits change nothing: dropped. */
	ONE_OK(s, "dur", "\"1:00:00.000\"", REC_STR, "1:00:00");
	one_err(s, "dur", "\"839:00:00\"",
	    "field 'dur' must be a time like 12:30:00");
	one_err(s, "dur", "\"12:60:00\"",
	    "field 'dur' must be a time like 12:30:00");
	one_err(s, "dur", "\"12:30\"",
	    "field 'dur' must be a time like 12:30:00");
	one_err(s, "dur", "\":30:00\"",
	    "field 'dur' must be a time like 12:30:00");

	/* year */
	ONE_OK(s, "yr", "2024", REC_INT, "2024");
	ONE_OK(s, "yr", "1901", REC_INT, "1901");
	ONE_OK(s, "yr", "2155", REC_INT, "2155");
	ONE_OK(s, "yr", "0", REC_INT, "0");
	ONE_OK(s, "yr", "\"2024\"", REC_INT, "2024");
	ONE_OK(s, "yr", "\"0000\"", REC_INT, "0");
	one_err(s, "yr", "1900",
	    "field 'yr' must be a year between 1901 and 2155 (or 0)");
	one_err(s, "yr", "2156",
	    "field 'yr' must be a year between 1901 and 2155 (or 0)");
	one_err(s, "yr", "-2024",
	    "field 'yr' must be a year between 1901 and 2155 (or 0)");
	one_err(s, "yr", "2024.5",
	    "field 'yr' must be a year between 1901 and 2155 (or 0)");
	one_err(s, "yr", "\"20x4\"",
	    "field 'yr' must be a year between 1901 and 2155 (or 0)");
	one_err(s, "yr", "true", "field 'yr' must be a year, not a boolean");

	/* json */
	ONE_OK(s, "doc", " { \"a\" : [ 1, 2.5e3 , {\"b\":null,\"\":true} ],\n"
	    "\"c\\u0000\":\"x\\\"y\", \"d\":{}, \"e\":[ ] } ", REC_JSON,
	    "{\"a\":[1,2.5e3,{\"b\":null,\"\":true}],\"c\\u0000\":\"x\\\"y\","
	    "\"d\":{},\"e\":[]}");
	ONE_OK(s, "doc", "\"str\\n\"", REC_JSON, "\"str\\n\"");
	ONE_OK(s, "doc", "-1.5", REC_JSON, "-1.5");
	ONE_OK(s, "doc", "true", REC_JSON, "true");
	ONE_OK(s, "doc", "false", REC_JSON, "false");
	ONE_OK(s, "doc", "null", REC_NULL, "");
	ONE_OK(s, "doc", "[]", REC_JSON, "[]");
	one_err(s, "doc", "[1,]", "invalid JSON at byte 16: expected a value");
	one_err(s, "doc", "[1}", "invalid JSON at byte 15: expected ',' or ']'");
	one_err(s, "doc", "{\"a\":1]",
	    "invalid JSON at byte 19: expected ',' or '}'");
	one_err(s, "doc", "{\"a\" 1}",
	    "invalid JSON at byte 18: expected ':' after field name");
	one_err(s, "doc", "{1:1}",
	    "invalid JSON at byte 14: expected '\"' to start a field name");
	one_err(s, "doc", "{\"a\":1,}",
	    "invalid JSON at byte 20: expected '\"' to start a field name");
	one_err(s, "doc", "[01]",
	    "invalid JSON at byte 14: number with a leading zero");
	one_err(s, "doc", "[\"\\ud800\"]",
	    "invalid \\u escape (lone surrogate) at byte 15");
	one_err(s, "doc", "[\"\xc0\x80\"]",
	    "invalid UTF-8 in string at byte 15");
	one_err(s, "doc", "[nul]", "invalid JSON at byte 14: expected a value");
	PARSE_ERR(s, "{\"k\":1,\"doc\":[1,{\"a\":[", "unexpected end of JSON at "
	    "byte 22");

	/* other */
	ONE_OK(s, "geo", "\"POINT(1 2)\"", REC_STR, "POINT(1 2)");
	ONE_OK(s, "geo", "5e1", REC_NUM, "5e1");
	one_ok(s, "geo", "\"\\u0000\"", REC_STR, "\0", 1);
	one_err(s, "geo", "true", "field 'geo' must be a string, not a boolean");
	one_err(s, "geo", "[1]", "field 'geo' must be a string, not an array");

	/* All of them at once, keys in reverse order. */
	rec = PARSE_OK(s, "{\"txt\":\"t\",\"geo\":null,\"doc\":[1],\"yr\":2000,"
	    "\"dur\":\"1:00:00\",\"at\":\"2024-01-01 00:00:00\",\"born\":"
	    "\"2024-01-01\",\"tags\":\"a\",\"color\":\"red\",\"bin\":\"b\","
	    "\"code\":\"c\",\"f\":1.5,\"ud\":1,\"qty\":2,\"price\":3,\"flag\":"
	    "true,\"ti\":4,\"u64\":5,\"i64\":6,\"k\":7}");
	assert_int_equal(rec->nfields, 20);
	assert_int_equal(rec->id_field, 0);
	assert_string_equal(rec->fields[0].val, "7");
	assert_string_equal(rec->fields[19].val, "t");
	for (size_t i = 0; i < rec->nfields; i++) {
		assert_int_equal(rec->fields[i].col, (int)i);
		assert_string_equal(rec->fields[i].name, s->cols[i].name);
	}
	record_free(rec);
	schema_free(s);
}

static void
test_text_limits(void **state)
{
	struct schema	*t = schema_new("t");
	struct buf	 j = BUF_INIT;
	char		*err = NULL;
	int		 i;

	/* tinytext holds 255 bytes, varchar(3) 3 characters. */
	assert_non_null(schema_add_column(t, "tt", "tinytext", 255, 1, 0,
	    0, &err));
	assert_non_null(schema_add_column(t, "v", "varchar(3)", 3, 1, 0,
	    0, &err));
	buf_adds(&j, "{\"tt\":\"");
	for (i = 0; i < 85; i++)
		buf_adds(&j, "\xe2\x82\xac");
	buf_adds(&j, "\"}");
	record_free(parse_ok(t, j.data, j.len));
	buf_reset(&j);
	buf_adds(&j, "{\"tt\":\"");
	for (i = 0; i < 86; i++)
		buf_adds(&j, "\xe2\x82\xac");
	buf_adds(&j, "\"}");
	parse_err(t, j.data, j.len,
	    "field 'tt' is longer than 255 bytes (258)");
	buf_release(&j);
	record_free(PARSE_OK(t, "{\"v\":\"\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\"}"));
	schema_free(t);
}

static void
test_nesting(void **state)
{
	struct schema	*s = types_schema(), *u = users_schema();
	struct buf	 b = BUF_INIT;
	char		*deep;
	size_t		 n = 1000000, i;
	uint64_t	 t0;

	deep = xmalloc(n + 32);
	memset(deep, '[', n + 32);

	/* A million '[' at the top, in a string column and in a JSON column. */
	t0 = now_ms();
	parse_err(s, deep, n, "record must be a JSON object, not an array");
	memcpy(deep, "{\"name\":", 8);
	parse_err(u, deep, n, "field 'name' must be a string, not an array");
	memcpy(deep, "{\"k\":1,\"doc\":", 13);
	parse_err(s, deep, n, "field 'doc' has JSON nested deeper than 64 levels");
	assert_true(now_ms() - t0 < 1000);
	free(deep);

	/* 64 levels are fine, 65 are not, arrays and objects alike. */
	buf_adds(&b, "{\"k\":1,\"doc\":");
	for (i = 0; i < 63; i++)
		buf_adds(&b, i % 2 ? "[" : "{\"x\":");
	buf_adds(&b, "[1]");
	for (i = 63; i-- > 0;)
		buf_adds(&b, i % 2 ? "]" : "}");
	buf_adds(&b, "}");
	record_free(parse_ok(s, b.data, b.len));
	buf_reset(&b);
	buf_adds(&b, "{\"k\":1,\"doc\":");
	for (i = 0; i < 64; i++)
		buf_adds(&b, "{\"x\":");
	buf_adds(&b, "[]");
	for (i = 0; i < 64; i++)
		buf_adds(&b, "}");
	buf_adds(&b, "}");
	parse_err(s, b.data, b.len,
	    "field 'doc' has JSON nested deeper than 64 levels");
	buf_release(&b);
	schema_free(s);
	schema_free(u);
}

/* Check that two records hold the same fields, byte for byte. */
static void
assert_same_record(const struct record *a, const struct record *b)
{
	size_t	 i;

	assert_string_equal(a->table, b->table);
	assert_true(a->version == b->version);
	assert_int_equal(a->nfields, b->nfields);
	for (i = 0; i < a->nfields; i++) {
		assert_string_equal(a->fields[i].name, b->fields[i].name);
		assert_int_equal(a->fields[i].type, b->fields[i].type);
		assert_int_equal(a->fields[i].len, b->fields[i].len);
		assert_memory_equal(a->fields[i].val, b->fields[i].val,
		    a->fields[i].len + 1);
	}
}

static void
test_round_trip(void **state)
{
	struct schema	*s = users_schema(), *t = types_schema();
	struct record	*rec, *rec2;
	struct buf	 j = BUF_INIT, e = BUF_INIT, e2 = BUF_INIT;
	char		*err = NULL;
	const char	*in;

	in = "{\"name\":\"q\\\"b\\\\s\\/ CR\\r LF\\n *3\\r\\n$5\\r\\nhello\\r\\n "
	    "\\u0001\\u001f\\b\\f\\t\x7f \xc3\xa9\xf0\x9f\x98\x80\","
	    "\"age\":-7,\"occupation\":null,\"id\":9}";
	rec = PARSE_OK(s, in);
	assert_string_equal(field(rec, "name")->val, "q\"b\\s/ CR\r LF\n "
	    "*3\r\n$5\r\nhello\r\n \x01\x1f\b\f\t\x7f \xc3\xa9\xf0\x9f\x98\x80");
	record_to_json(rec, &j);
	assert_string_equal(j.data, "{\"id\":9,\"name\":\"q\\\"b\\\\s/ CR\\r LF\\n "
	    "*3\\r\\n$5\\r\\nhello\\r\\n \\u0001\\u001f\\b\\f\\t\x7f "
	    "\xc3\xa9\xf0\x9f\x98\x80\",\"age\":-7,\"occupation\":null}");
	rec2 = parse_ok(s, j.data, j.len);
	assert_same_record(rec, rec2);
	record_free(rec2);

	/* Encode, decode, encode: identical bytes and fields. */
	rec->version = 0x0102030405060708ull;
	record_encode(rec, &e);
	assert_int_equal((unsigned char)e.data[0], 1);
	assert_int_equal((unsigned char)e.data[1], 0x08);
	assert_int_equal((unsigned char)e.data[8], 0x01);
	if (record_decode(e.data, e.len, &rec2, &err) != 0)
		fail_msg("%s", err);
	assert_same_record(rec, rec2);
	assert_int_equal(rec2->id_field, -1);
	assert_int_equal(rec2->fields[0].col, -1);
	record_encode(rec2, &e2);
	assert_int_equal(e.len, e2.len);
	assert_memory_equal(e.data, e2.data, e.len);
	record_bind(rec2, s);
	assert_int_equal(rec2->id_field, 0);
	assert_int_equal(rec2->fields[2].col, 2);
	assert_true(record_has_id(rec2));
	record_free(rec2);
	record_free(rec);
	buf_reset(&j);
	buf_reset(&e);
	buf_reset(&e2);

	/* Binary bytes, NUL included, and JSON; \u00XX bytes come back. */
	rec = PARSE_OK(t, "{\"k\":1,\"bin\":\"\\u0000\\u00ff\xc3\xa9\","
	    "\"doc\":{\"a\":[\"\\r\\n\"]},\"flag\":true,\"price\":1.25,"
	    "\"geo\":\"\\u0000x\"}");
	assert_int_equal(field(rec, "bin")->len, 4);
	record_to_json(rec, &j);
	assert_string_equal(j.data, "{\"k\":1,\"flag\":true,\"price\":1.25,"
	    "\"bin\":\"\\u0000\\u00ff\xc3\xa9\",\"doc\":{\"a\":[\"\\r\\n\"]},"
	    "\"geo\":\"\\u0000x\"}");
	rec2 = parse_ok(t, j.data, j.len);
	assert_same_record(rec, rec2);
	record_free(rec2);
	record_encode(rec, &e);
	assert_int_equal(record_decode(e.data, e.len, &rec2, &err), 0);
	assert_same_record(rec, rec2);
	record_bind(rec2, t);
	assert_int_equal(field(rec2, "doc")->col, 17);
	record_free(rec2);
	record_free(rec);
	buf_release(&j);
	buf_release(&e);
	buf_release(&e2);
	schema_free(s);
	schema_free(t);
}

static void
test_decode_corrupt(void **state)
{
	struct schema	*s = users_schema();
	struct record	*rec, *rec2;
	struct buf	 e = BUF_INIT, e2 = BUF_INIT;
	unsigned char	 junk[64];
	char		*err = NULL;
	size_t		 cut, i, n;
	int		 r;

	rec = PARSE_OK(s, "{\"id\":5,\"name\":\"Ann\",\"age\":null}");
	record_encode(rec, &e);
	for (cut = 0; cut < e.len; cut++) {
		rec2 = (struct record *)1;
		assert_int_equal(record_decode(e.data, cut, &rec2, &err), -1);
		assert_null(rec2);
		if (strncmp(err, "corrupt record payload: ", 24) != 0)
			fail_msg("cut %zu: %s", cut, err);
		free(err);
		err = NULL;
	}

	/* One byte more, a wrong format, a wrong type, a huge count. */
	buf_add(&e2, e.data, e.len);
	buf_addc(&e2, 0);
	decode_err(e2.data, e2.len, "corrupt record payload: trailing bytes");
	e2.data[0] = 2;
	decode_err(e2.data, e2.len, "corrupt record payload: unknown format 2");
	buf_reset(&e2);
	buf_add(&e2, e.data, e.len);
	e2.data[16] = 9;	/* 9 header, 1 + 5 table, 1 count: first type */
	decode_err(e2.data, e2.len, "corrupt record payload: bad field type 9");
	decode_err("\x01\0\0\0\0\0\0\0\0\x01t\xff\xff\xff\xff\xff\xff\xff\xff"
	    "\xff\x01", 22, "corrupt record payload: bad field count");
	decode_err("\x01\0\0\0\0\0\0\0\0\x01t\x80\x80\x80\x80\x80\x80\x80\x80"
	    "\x80\x80\x01", 23, "corrupt record payload: bad field count");

	/* A length in more bytes than it needs (1 as 0x81 0x00, 0 as 0x80 0x00). */
	decode_err("\x01\0\0\0\0\0\0\0\0\x81\x00t\x00", 13,
	    "corrupt record payload: bad table name");
	decode_err("\x01\0\0\0\0\0\0\0\0\x01t\x80\x00", 13,
	    "corrupt record payload: bad field count");

	/* Random bytes and random damage: decode or fail, never crash. */
	srand(12345);
	for (i = 0; i < 20000; i++) {
		n = (size_t)rand() % sizeof junk;
		for (cut = 0; cut < n; cut++)
			junk[cut] = (unsigned char)rand();
		if (i % 2 == 0 && n > 0)
			junk[0] = 1;
		rec2 = NULL;
		r = record_decode(junk, n, &rec2, &err);
		if (r == 0)
			record_free(rec2);
		else {
			assert_true(strncmp(err, "corrupt record payload: ",
			    24) == 0);
			free(err);
			err = NULL;
		}

		buf_reset(&e2);
		buf_add(&e2, e.data, e.len);
		e2.data[(size_t)rand() % e2.len] = (char)rand();
		e2.data[(size_t)rand() % e2.len] = (char)rand();
		r = record_decode(e2.data, e2.len, &rec2, &err);
		if (r == 0)
			record_free(rec2);
		else {
			assert_true(strncmp(err, "corrupt record payload: ",
			    24) == 0);
			free(err);
			err = NULL;
		}
	}
	record_free(rec);
	buf_release(&e);
	buf_release(&e2);
	schema_free(s);
}

static void
test_key(void **state)
{
	struct schema	*s = users_schema(), *c, *t;
	struct record	*rec;
	struct buf	 b = BUF_INIT;
	char		*err = NULL;

	rec = PARSE_OK(s, "{\"name\":\"Ann\"}");
	buf_adds(&b, "keep");
	assert_int_equal(record_key(rec, s, "wtc:", &b, &err), -1);
	assert_string_equal(err, "record has no value for key column 'id'");
	assert_string_equal(b.data, "keep");
	free(err);
	err = NULL;
	record_set_id(rec, 42);
	buf_reset(&b);
	assert_int_equal(record_key(rec, s, "", &b, &err), 0);
	assert_string_equal(b.data, "users:42");
	buf_reset(&b);
	assert_int_equal(record_key(rec, s, "wtc:", &b, &err), 0);
	assert_string_equal(b.data, "wtc:users:42");
	record_free(rec);

	/* A two-column key, one of them a string. */
	c = schema_new("pairs");
	assert_non_null(schema_add_column(c, "a", "varchar(10)", 10, 0, 0, 0,
	    &err));
	assert_non_null(schema_add_column(c, "b", "int(11)", 0, 0, 0, 0, &err));
	assert_non_null(schema_add_column(c, "v", "text", 0, 1, 0, 0, &err));
	schema_add_pk(c, 1);
	schema_add_pk(c, 0);
	assert_int_equal(c->id_col, -1);
	rec = PARSE_OK(c, "{\"v\":\"x\",\"a\":\"left\",\"b\":-3}");
	assert_int_equal(rec->id_field, -1);
	assert_false(record_has_id(rec));
	record_set_id(rec, 5);	/* no id column: nothing happens */
	assert_int_equal(rec->nfields, 3);
	buf_reset(&b);
	assert_int_equal(record_key(rec, c, NULL, &b, &err), 0);
	assert_string_equal(b.data, "pairs:-3:left");
	record_free(rec);
	PARSE_ERR(c, "{\"a\":\"x\"}", "missing required field 'b'");

	/* Unbound records (decoded, or built) find key fields by name. */
	rec = record_new("pairs");
	record_add(rec, "a", REC_STR, "l", 1);
	buf_reset(&b);
	assert_int_equal(record_key(rec, c, "p/", &b, &err), -1);
	assert_string_equal(err, "record has no value for key column 'b'");
	assert_int_equal(b.len, 0);
	free(err);
	err = NULL;
	record_add(rec, "b", REC_INT, "8", 1);
	assert_int_equal(record_key(rec, c, "p/", &b, &err), 0);
	assert_string_equal(b.data, "p/pairs:8:l");
	record_free(rec);

	/* Composite values with ':' or '%' cannot make the same key. */
	rec = PARSE_OK(c, "{\"a\":\"x:y\",\"b\":1}");
	buf_reset(&b);
	assert_int_equal(record_key(rec, c, NULL, &b, &err), 0);
	assert_string_equal(b.data, "pairs:1:x%3Ay");
	record_free(rec);
	rec = PARSE_OK(c, "{\"a\":\"5%3Ay%\",\"b\":1}");
	buf_reset(&b);
	assert_int_equal(record_key(rec, c, NULL, &b, &err), 0);
	assert_string_equal(b.data, "pairs:1:5%253Ay%25");
	record_free(rec);
	/* The value of a single-column key stays as it is. */
	t = schema_new("tags");
	assert_non_null(schema_add_column(t, "t", "varchar(10)", 10, 0, 0, 0,
	    &err));
	schema_add_pk(t, 0);
	rec = PARSE_OK(t, "{\"t\":\"a:b%\"}");
	buf_reset(&b);
	assert_int_equal(record_key(rec, t, NULL, &b, &err), 0);
	assert_string_equal(b.data, "tags:a:b%");
	record_free(rec);
	schema_free(t);
	buf_release(&b);
	schema_free(c);
	schema_free(s);
}

static void
test_key_split(void **state)
{
	const char	*pk[3];
	char		 s1[] = "a:b", s2[] = "1:5%253Ay%25", s3[] = "x%3a:%41",
			 s4[] = "a:b:c", s5[] = "ab", s6[] = "a:%4", s7[] = "a:%00",
			 s8[] = "a:b%zz", s9[] = "\0a\0:b%3A", s10[] = "\0:\0x";
	size_t		 len[3];
	char		*err = NULL;

	(void)state;
	/* One value: everything, as it is. */
	assert_int_equal(record_key_split(s1, strlen(s1), 1, pk, NULL, &err), 0);
	assert_string_equal(pk[0], "a:b");
	assert_int_equal(record_key_split(s2, strlen(s2), 2, pk, NULL, &err), 0);
	assert_string_equal(pk[0], "1");
	assert_string_equal(pk[1], "5%3Ay%");
	assert_int_equal(record_key_split(s3, strlen(s3), 2, pk, NULL, &err), 0);
	assert_string_equal(pk[0], "x:");
	assert_string_equal(pk[1], "A");

	assert_int_equal(record_key_split(s4, strlen(s4), 2, pk, NULL, &err), -1);
	assert_string_equal(err, "has more than 2 values joined by ':'");
	free(err);
	err = NULL;
	assert_int_equal(record_key_split(s5, strlen(s5), 2, pk, NULL, &err), -1);
	assert_string_equal(err, "needs 2 values joined by ':'");
	free(err);
	err = NULL;
	assert_int_equal(record_key_split(s6, strlen(s6), 2, pk, NULL, &err), -1);
	assert_string_equal(err,
	    "has a '%' not followed by two hex digits (not 00)");
	free(err);
	err = NULL;
	assert_int_equal(record_key_split(s7, strlen(s7), 2, pk, NULL, &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(record_key_split(s8, strlen(s8), 2, pk, NULL, &err), -1);
	free(err);
	err = NULL;
	/* A binary value's NUL bytes are its own, the lengths say where. */
	assert_int_equal(record_key_split(s9, sizeof s9 - 1, 2, pk, len, &err),
	    0);
	assert_int_equal(len[0], 3);
	assert_memory_equal(pk[0], "\0a\0", 3);
	assert_int_equal(len[1], 2);
	assert_memory_equal(pk[1], "b:", 2);
	assert_int_equal(record_key_split(s10, sizeof s10 - 1, 1, pk, len,
	    &err), 0);
	assert_int_equal(len[0], 4);
	assert_memory_equal(pk[0], "\0:\0x", 4);
}

static void
test_build(void **state)
{
	struct schema	*s = users_schema();
	struct record	*rec;
	struct buf	 b = BUF_INIT;
	char		 big[3000];
	int		 i;

	record_free(NULL);
	rec = record_new("users");
	assert_string_equal(rec->table, "users");
	assert_int_equal(rec->nfields, 0);
	assert_int_equal(rec->id_field, -1);
	record_to_json(rec, &b);
	assert_string_equal(b.data, "{}");
	buf_reset(&b);
	record_add(rec, "name", REC_STR, "Bo", 2);
	record_add(rec, "age", REC_INT, "3", 1);
	record_add(rec, "occupation", REC_NULL, NULL, 0);
	assert_int_equal(rec->fields[0].col, -1);
	record_set_id(rec, 1);	/* not bound: no id column known */
	assert_int_equal(rec->nfields, 3);
	record_bind(rec, s);
	assert_int_equal(rec->fields[0].col, 1);
	assert_int_equal(rec->fields[2].col, 3);
	assert_int_equal(rec->id_field, -1);
	assert_false(record_has_id(rec));
	record_set_id(rec, 77);
	assert_int_equal(rec->nfields, 4);
	assert_int_equal(rec->id_field, 0);
	assert_true(record_has_id(rec));
	record_to_json(rec, &b);
	assert_string_equal(b.data,
	    "{\"id\":77,\"name\":\"Bo\",\"age\":3,\"occupation\":null}");
	buf_reset(&b);

	/* Many and large fields spill into extra storage. */
	memset(big, 'z', sizeof big);
	for (i = 0; i < 100; i++)
		record_add(rec, "x", REC_STR, big, sizeof big);
	assert_int_equal(rec->nfields, 104);
	assert_int_equal(rec->fields[103].len, sizeof big);
	assert_int_equal(rec->fields[103].val[sizeof big], '\0');
	assert_string_equal(rec->fields[1].val, "Bo");
	record_add(rec, "bool", REC_BOOL, "0", 1);
	record_add(rec, "j", REC_JSON, "[1]", 3);
	record_add(rec, "n", REC_NUM, "1.5", 3);
	record_add(rec, "raw", REC_STR, "\xff\x00\"", 3);
	for (i = 0; i < 4; i++)	/* drop the big ones */
		rec->fields[4 + i] = rec->fields[104 + i];
	rec->nfields = 8;
	record_to_json(rec, &b);
	assert_string_equal(b.data, "{\"id\":77,\"name\":\"Bo\",\"age\":3,"
	    "\"occupation\":null,\"bool\":false,\"j\":[1],\"n\":1.5,"
	    "\"raw\":\"\\u00ff\\u0000\\\"\"}");
	record_free(rec);

	buf_reset(&b);
	json_quote(&b, "\x1f\xe2\x82\xac\xe2\x82", 6);
	assert_string_equal(b.data, "\"\\u001f\xe2\x82\xac\\u00e2\\u0082\"");
	buf_release(&b);
	schema_free(s);
}

static int
bench(int n)
{
	static const char	 json[] =
	    "{\"name\":\"Ann Lee\",\"age\":30,\"occupation\":\"Engineer\"}";
	struct schema		*s;
	struct record		*rec;
	struct timespec		 a, b;
	char			*err = NULL;
	double			 ns;
	int			 i;

	s = schema_new("users");
	schema_add_column(s, "id", "bigint(20)", 0, 0, 0, 1, &err);
	schema_add_column(s, "name", "varchar(255)", 255, 0, 0, 0, &err);
	schema_add_column(s, "age", "int(11)", 0, 1, 1, 0, &err);
	schema_add_column(s, "occupation", "varchar(255)", 255, 1, 1, 0, &err);
	schema_add_column(s, SCHEMA_VERSION_COLUMN, "bigint(20) unsigned", 0,
	    0, 1, 0, &err);
	schema_add_pk(s, 0);

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		if (record_parse(json, sizeof json - 1, s, &rec, &err) != 0) {
			fprintf(stderr, "bench: %s\n", err);
			return (1);
		}
		record_set_id(rec, (uint64_t)i + 1);
		record_free(rec);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
	    (double)(b.tv_nsec - a.tv_nsec)) / n;
	printf("record_parse: %d records, %.0f ns/record\n", n, ns);
	schema_free(s);
	return (0);
}

/*
 * record_lead_check says what record_parse says of a text that does not
 * start as a record, and passes one that does (put --remote leans on it).
 */
static void
test_lead_check(void **state)
{
	static const char *const texts[] = {
		"{\"name\": \"a\"}", " \t{}", "\xef\xbb\xbf {}", "",
		"  ", "\xef\xbb\xbf", " \xef\xbb\xbf{}",
		"\xef\xbb\xbf\xef\xbb\xbf{}", "[1]", "\x1f\x8b\x08 junk",
		"null", "x", "{\"name\": 4x}",
	};
	struct schema	*s = users_schema();
	struct record	*rec;
	char		*perr = NULL, *lerr = NULL;
	size_t		 i;
	int		 pr, lr;

	(void)state;
	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		pr = record_parse(texts[i], strlen(texts[i]), s, &rec, &perr);
		lr = record_lead_check(texts[i], strlen(texts[i]), &lerr);
		if (lr == 0) {
			/* Parsing may still fail, past the '{'. */
			assert_null(lerr);
		} else {
			assert_int_equal(pr, -1);
			assert_string_equal(lerr, perr);
		}
		record_free(rec);
		free(perr);
		free(lerr);
		perr = lerr = NULL;
	}
	assert_int_equal(record_lead_check("{", 1, NULL), 0);
	assert_int_equal(record_lead_check("[", 1, NULL), -1);
	schema_free(s);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_users_valid),
		cmocka_unit_test(test_lead_check),
		cmocka_unit_test(test_users_errors),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_float_places),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_inet6),
		cmocka_unit_test(test_key_values),
		cmocka_unit_test(test_time_hours),
		cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_corrupt),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_key_split),
		cmocka_unit_test(test_build),
	};

	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return (bench(argc > 2 ? atoi(argv[2]) : 1000000));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
