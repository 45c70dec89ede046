/*
 * Unit tests for the JSON escape helpers of util.c (hex4_get, utf8_put,
 * buf_add_utf8) and for deadletter_string, which decodes with them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "util.h"

static void
test_hex4(void **state)
{
	unsigned	 v = 7;

	(void)state;
	assert_int_equal(hex4_get("0000", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(hex4_get("00e9", &v), 0);
	assert_int_equal(v, 0xe9);
	assert_int_equal(hex4_get("D83D", &v), 0);
	assert_int_equal(v, 0xd83d);
	assert_int_equal(hex4_get("aBcDef", &v), 0);	/* only 4 are read */
	assert_int_equal(v, 0xabcd);
	assert_int_equal(hex4_get("ffff", &v), 0);
	assert_int_equal(v, 0xffff);

	v = 7;
	assert_int_equal(hex4_get("00g0", &v), -1);
	assert_int_equal(hex4_get("12 4", &v), -1);
	assert_int_equal(hex4_get("12\"", &v), -1);	/* stops at the NUL */
	assert_int_equal(hex4_get("-123", &v), -1);
	assert_int_equal(v, 7);				/* untouched on error */
}

/* utf8_put of cp must give exactly the bytes want. */
static void
check_utf8(unsigned cp, const char *want)
{
	struct buf	 b = BUF_INIT;
	char		 s[8], *end;

	end = utf8_put(s, cp);
	assert_int_equal(end - s, strlen(want));
	assert_memory_equal(s, want, strlen(want));
	buf_adds(&b, "<");
	buf_add_utf8(&b, cp);
	buf_adds(&b, ">");
	assert_int_equal(b.len, strlen(want) + 2);
	assert_memory_equal(b.data + 1, want, strlen(want));
	assert_int_equal(b.data[b.len - 1], '>');
	buf_release(&b);
}

static void
test_utf8(void **state)
{
	char	 s[4];

	(void)state;
	assert_ptr_equal(utf8_put(s, 0), s + 1);
	assert_int_equal(s[0], 0);
	check_utf8('A', "A");
	check_utf8(0x7f, "\x7f");
	check_utf8(0x80, "\xc2\x80");
	check_utf8(0xe9, "\xc3\xa9");
	check_utf8(0x7ff, "\xdf\xbf");
	check_utf8(0x800, "\xe0\xa0\x80");
	check_utf8(0x20ac, "\xe2\x82\xac");
	check_utf8(0xffff, "\xef\xbf\xbf");
	check_utf8(0x10000, "\xf0\x90\x80\x80");
	check_utf8(0x1f600, "\xf0\x9f\x98\x80");
	check_utf8(0x10ffff, "\xf4\x8f\xbf\xbf");
}

/* deadletter_string of the JSON string json gives want (NULL: refused). */
static void
check_string(const char *json, const char *want)
{
	char	*got;

	got = deadletter_string(json, strlen(json));
	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_deadletter_string(void **state)
{
	(void)state;
	check_string("\"\"", "");
	check_string("\"plain\"", "plain");
	check_string("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d");
	check_string("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t");
	check_string("\"caf\\u00e9\"", "caf\xc3\xa9");
	check_string("\"\\u20AC 5\"", "\xe2\x82\xac 5");
	/* A surrogate pair is one code point. */
	check_string("\"\\ud83d\\ude00!\"", "\xf0\x9f\x98\x80!");
	/* A high surrogate without its low half is kept as it is. */
	check_string("\"\\ud83dx\"", "\xed\xa0\xbdx");
	check_string("\"\\ud83d\\u0041\"", "\xed\xa0\xbd" "A");

	check_string("plain", NULL);		/* not a string */
	check_string("\"", NULL);
	check_string("\"open", NULL);
	check_string("\"\\\"", NULL);		/* escape eats the closing quote */
	check_string("\"\\u12\"", NULL);	/* too few digits */
	check_string("\"\\u12g4\"", NULL);
	check_string("\"\\u123\"x", NULL);
}

static void
check_tame(const char *name, const char *want)
{
	struct buf	 b = BUF_INIT;
	char		*back;

	buf_add_tame(&b, name);
	assert_string_equal(b.data, want);
	back = name_untame(b.data);
	assert_non_null(back);
	assert_string_equal(back, name);
	free(back);
	buf_release(&b);
}

static void
test_tame(void **state)
{
	(void)state;
	check_tame("users", "users");
	check_tame("my_table-2", "my_table-2");
	check_tame("db.t", "db%2et");
	check_tame("a/b", "a%2fb");
	check_tame("%", "%25");
	check_tame("caf\xc3\xa9", "caf%c3%a9");
	check_tame("..", "%2e%2e");

	/* Only what buf_add_tame writes decodes. */
	assert_null(name_untame(""));
	assert_null(name_untame("a.b"));
	assert_null(name_untame("%2"));
	assert_null(name_untame("%zz"));
	assert_null(name_untame("%2E"));	/* upper case: not ours */
	assert_null(name_untame("%61"));	/* 'a' is written as it is */
	assert_null(name_untame("%00"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex4),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_deadletter_string),
		cmocka_unit_test(test_tame),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
