/*
 * The drainer's pure logic: keeping one record per key in a batch, and the
 * retry back-off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "drain.h"
#include "record.h"
#include "schema.h"

static struct schema *
users_schema(void)
{
	struct schema	*s;
	char		*err = NULL;

	s = schema_new("users");
	assert_non_null(schema_add_column(s, "id", "bigint(20) unsigned", 0, 0,
	    0, 1, &err));
	assert_non_null(schema_add_column(s, "name", "varchar(255)", 255, 0, 0,
	    0, &err));
	schema_add_pk(s, 0);
	return (s);
}

/* A table keyed by two columns. */
static struct schema *
pair_schema(void)
{
	struct schema	*s;
	char		*err = NULL;

	s = schema_new("pairs");
	assert_non_null(schema_add_column(s, "a", "varchar(10)", 10, 0, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "b", "varchar(10)", 10, 0, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "v", "int(11)", 0, 1, 1, 0, &err));
	schema_add_pk(s, 0);
	schema_add_pk(s, 1);
	return (s);
}

static struct record *
user(const struct schema *s, const char *id, const char *name, uint64_t version)
{
	struct record	*r;

	r = record_new("users");
	record_add(r, "id", REC_INT, id, strlen(id));
	record_add(r, "name", REC_STR, name, strlen(name));
	r->version = version;
	record_bind(r, s);
	return (r);
}

static struct record *
pair(const struct schema *s, const char *a, const char *b, uint64_t version)
{
	struct record	*r;

	r = record_new("pairs");
	record_add(r, "a", REC_INT, a, strlen(a));
	record_add(r, "b", REC_STR, b, strlen(b));
	r->version = version;
	record_bind(r, s);
	return (r);
}

static const char *
name_of(const struct record *r)
{
	return (r->fields[1].val);
}

static void
free_all(struct record **all, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		record_free(all[i]);
}

static void
test_dedupe_no_duplicates(void **state)
{
	struct schema	*s = users_schema();
	struct record	*all[3], *recs[3];

	(void)state;
	all[0] = user(s, "1", "a", 10);
	all[1] = user(s, "2", "b", 10);
	all[2] = user(s, "3", "c", 10);
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 3, s, NULL, NULL), 3);
	assert_ptr_equal(recs[0], all[0]);
	assert_ptr_equal(recs[1], all[1]);
	assert_ptr_equal(recs[2], all[2]);
	assert_int_equal(drain_dedupe(recs, 1, s, NULL, NULL), 1);
	assert_int_equal(drain_dedupe(recs, 0, s, NULL, NULL), 0);
	free_all(all, 3);
	schema_free(s);
}

static void
test_dedupe_keeps_highest_version(void **state)
{
	struct schema	*s = users_schema();
	struct record	*all[5], *recs[5], *older[5];
	size_t		 nolder = 0;

	(void)state;
	all[0] = user(s, "1", "old", 10);
	all[1] = user(s, "2", "two", 10);
	all[2] = user(s, "1", "new", 30);
	all[3] = user(s, "1", "older", 20);	/* later in the spool, lower version */
	all[4] = user(s, "3", "three", 5);
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 5, s, NULL, NULL), 3);
	assert_string_equal(name_of(recs[0]), "new");
	assert_string_equal(name_of(recs[1]), "two");
	assert_string_equal(name_of(recs[2]), "three");
	/* The dropped ones are handed back, for when the newest is rejected. */
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 5, s, older, &nolder), 3);
	assert_int_equal(nolder, 2);
	assert_string_equal(name_of(older[0]), "old");
	assert_string_equal(name_of(older[1]), "older");
	free_all(all, 5);
	schema_free(s);
}

static void
test_dedupe_tie_later_wins(void **state)
{
	struct schema	*s = users_schema();
	struct record	*all[3], *recs[3];

	(void)state;
	all[0] = user(s, "7", "first", 10);
	all[1] = user(s, "7", "second", 10);
	all[2] = user(s, "7", "third", 10);
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 3, s, NULL, NULL), 1);
	assert_string_equal(name_of(recs[0]), "third");
	free_all(all, 3);
	schema_free(s);
}

static void
test_dedupe_composite_key(void **state)
{
	struct schema	*s = pair_schema();
	struct record	*all[6], *recs[6];

	(void)state;
	all[0] = pair(s, "1", "x", 1);
	all[1] = pair(s, "1", "y", 1);
	all[2] = pair(s, "1", "x", 2);
	all[3] = pair(s, "2", "x", 1);
	/* ("1","2:x") and ("1:2","x") must not collide on a joined key text. */
	all[4] = pair(s, "1", "2:x", 1);
	all[5] = pair(s, "1:2", "x", 1);
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 6, s, NULL, NULL), 5);
	assert_ptr_equal(recs[0], all[2]);
	assert_ptr_equal(recs[1], all[1]);
	assert_ptr_equal(recs[2], all[3]);
	assert_ptr_equal(recs[3], all[4]);
	assert_ptr_equal(recs[4], all[5]);
	free_all(all, 6);
	schema_free(s);
}

static void
test_dedupe_many(void **state)
{
	struct schema	*s = users_schema();
	struct record	**all, **recs;
	char		 id[32];
	size_t		 n = 20000, i, kept;

	(void)state;
	all = calloc(n, sizeof *all);
	recs = calloc(n, sizeof *recs);
	/* Every id three times; the highest version is the middle copy. */
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof id, "%zu", i % (n / 4));
		all[i] = user(s, id, "x", i / (n / 4) == 1 ? 100 : i / (n / 4));
	}
	memcpy(recs, all, n * sizeof *recs);
	kept = drain_dedupe(recs, n, s, NULL, NULL);
	assert_int_equal(kept, n / 4);
	for (i = 0; i < kept; i++) {
		assert_ptr_equal(recs[i], all[n / 4 + i]);
		assert_int_equal(recs[i]->version, 100);
	}
	free_all(all, n);
	free(recs);
	free(all);
	schema_free(s);
}

static void
test_dedupe_keyless_kept(void **state)
{
	struct schema	*s = users_schema();
	struct record	*all[3], *recs[3];

	(void)state;
	all[0] = record_new("users");
	record_add(all[0], "name", REC_STR, "nokey", 5);
	record_bind(all[0], s);
	all[1] = user(s, "1", "a", 1);
	all[2] = user(s, "1", "b", 2);
	memcpy(recs, all, sizeof all);
	assert_int_equal(drain_dedupe(recs, 3, s, NULL, NULL), 2);
	assert_ptr_equal(recs[0], all[0]);
	assert_ptr_equal(recs[1], all[2]);
	free_all(all, 3);
	schema_free(s);
}

static void
test_backoff(void **state)
{
	unsigned	a;

	(void)state;
	/* Full jitter: anywhere in [0, cap]. */
	assert_int_equal(drain_backoff_ms(0, 0), 0);
	assert_int_equal(drain_backoff_ms(0, 100), 100);
	assert_int_equal(drain_backoff_ms(0, 101), 0);
	assert_int_equal(drain_backoff_ms(0, UINT32_MAX), UINT32_MAX % 101);
	assert_int_equal(drain_backoff_ms(1, 200), 200);
	assert_int_equal(drain_backoff_ms(2, 400), 400);
	assert_int_equal(drain_backoff_ms(3, 800), 800);
	assert_int_equal(drain_backoff_ms(8, 25600), 25600);
	assert_int_equal(drain_backoff_ms(8, 25601), 0);
	/* Capped at 30 s, whatever the attempt. */
	for (a = 9; a < 200; a += 7) {
		assert_true(drain_backoff_ms(a, UINT32_MAX) <= 30000);
		assert_int_equal(drain_backoff_ms(a, 30000), 30000);
		assert_int_equal(drain_backoff_ms(a, 30001), 0);
	}
	assert_int_equal(drain_backoff_ms(UINT32_MAX, 12345), 12345);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedupe_no_duplicates),
		cmocka_unit_test(test_dedupe_keeps_highest_version),
		cmocka_unit_test(test_dedupe_tie_later_wins),
		cmocka_unit_test(test_dedupe_composite_key),
		cmocka_unit_test(test_dedupe_many),
		cmocka_unit_test(test_dedupe_keyless_kept),
		cmocka_unit_test(test_backoff),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
