/*
 * Unit tests for the SQL text the db module generates: the batch upsert
 * (quoting, escaping, DEFAULT for missing columns, the version guard) and
 * the "wtc init" statements.  No server is involved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"
#include "schema.h"
#include "util.h"

static struct schema *
test_schema(void)
{
	struct schema	*s;
	char		*err = NULL;

	s = schema_new("users");
	assert_non_null(schema_add_column(s, "id", "bigint(20) unsigned", 0, 0, 0, 1,
	    &err));
	assert_non_null(schema_add_column(s, "name", "varchar(255)", 255, 0, 0, 0,
	    &err));
	assert_non_null(schema_add_column(s, "age", "int(11)", 0, 1, 1, 0, &err));
	assert_non_null(schema_add_column(s, "occupation", "varchar(255)", 255, 1, 1,
	    0, &err));
	assert_non_null(schema_add_column(s, "we`ird", "varchar(10)", 10, 1, 1, 0,
	    &err));
	assert_non_null(schema_add_column(s, "bin", "varbinary(16)", 16, 1, 1, 0,
	    &err));
	assert_non_null(schema_add_column(s, SCHEMA_VERSION_COLUMN,
	    "bigint(20) unsigned", 0, 0, 1, 0, &err));
	schema_add_pk(s, 0);
	assert_int_equal(s->version_col, 6);
	return (s);
}

#define TEST_TAIL \
	" ON DUPLICATE KEY UPDATE " \
	"`name`=IF(VALUES(`_wtc_version`)>=`_wtc_version`,VALUES(`name`),`name`)," \
	"`age`=IF(VALUES(`_wtc_version`)>=`_wtc_version`,VALUES(`age`),`age`)," \
	"`occupation`=IF(VALUES(`_wtc_version`)>=`_wtc_version`," \
	"VALUES(`occupation`),`occupation`)," \
	"`we``ird`=IF(VALUES(`_wtc_version`)>=`_wtc_version`,VALUES(`we``ird`)," \
	"`we``ird`)," \
	"`bin`=IF(VALUES(`_wtc_version`)>=`_wtc_version`,VALUES(`bin`),`bin`)," \
	"`_wtc_version`=IF(`id`<=>VALUES(`id`),GREATEST(`_wtc_version`," \
	"VALUES(`_wtc_version`)),(SELECT 1 UNION SELECT 2))"

#define TEST_HEAD \
	"INSERT INTO `users` (`id`,`name`,`age`,`occupation`,`we``ird`,`bin`," \
	"`_wtc_version`) VALUES "

static void
test_upsert_two_records(void **state)
{
	static const char name1[] = "O'B\\r\0\r\n\032\"";
	struct schema	*s = test_schema();
	struct record	*r[2];
	struct buf	 out = BUF_INIT;

	/* age and we`ird missing: DEFAULT; occupation null: NULL. */
	r[0] = record_new("users");
	record_add(r[0], "id", REC_INT, "1", 1);
	record_add(r[0], "name", REC_STR, name1, sizeof name1 - 1);
	record_add(r[0], "occupation", REC_NULL, "", 0);
	record_add(r[0], "bin", REC_STR, "\0\377'", 3);
	r[0]->version = 5;
	record_bind(r[0], s);

	/* Fields out of column order; an empty binary value. */
	r[1] = record_new("users");
	record_add(r[1], "we`ird", REC_STR, "x", 1);
	record_add(r[1], "age", REC_INT, "-42", 3);
	record_add(r[1], "name", REC_STR, "b", 1);
	record_add(r[1], "id", REC_INT, "2", 1);
	record_add(r[1], "occupation", REC_STR, "dev", 3);
	record_add(r[1], "bin", REC_STR, "", 0);
	r[1]->version = 1732527000123456ULL;
	record_bind(r[1], s);

	db_upsert_sql(NULL, s, r, 2, &out);
	assert_string_equal(out.data, TEST_HEAD
	    "(1,'O\\'B\\\\r\\0\\r\\n\\Z\\\"',DEFAULT,NULL,DEFAULT,X'00ff27',5),"
	    "(2,'b',-42,'dev','x',X'',1732527000123456)"
	    TEST_TAIL);

	record_free(r[1]);
	record_free(r[0]);
	buf_release(&out);
	schema_free(s);
}

/* Numbers go bare only into numeric columns and only when they look numeric. */
static void
test_upsert_numeric_guard(void **state)
{
	struct schema	*s = test_schema();
	struct record	*r;
	struct buf	 out = BUF_INIT;

	r = record_new("users");
	record_add(r, "id", REC_INT, "7", 1);
	record_add(r, "name", REC_NUM, "1.5e+3", 6);
	record_add(r, "age", REC_INT, "1 OR 1", 6);
	record_add(r, "occupation", REC_BOOL, "1", 1);
	record_add(r, "bin", REC_INT, "12", 2);
	record_bind(r, s);
	db_upsert_sql(NULL, s, &r, 1, &out);
	assert_string_equal(out.data, TEST_HEAD
	    "(7,'1.5e+3','1 OR 1','1',DEFAULT,X'3132',0)" TEST_TAIL);
	record_free(r);
	buf_release(&out);
	schema_free(s);
}

/*
 * A table with only key columns still gets the version guard.  An
 * AUTO_INCREMENT column other than the key that the records do not give
 * is left out, so that MySQL numbers new rows and keeps old rows' numbers:
 * the statement is the same.
 */
static void
test_upsert_key_only(void **state)
{
	struct schema	*s;
	struct record	*r;
	struct buf	 out = BUF_INIT;
	char		*err = NULL;

	s = schema_new("t`x");
	assert_non_null(schema_add_column(s, "k", "varchar(8)", 8, 0, 0, 0, &err));
	assert_non_null(schema_add_column(s, "seq", "bigint(20)", 0, 0, 0, 1,
	    &err));
	assert_non_null(schema_add_column(s, SCHEMA_VERSION_COLUMN,
	    "bigint(20) unsigned", 0, 0, 1, 0, &err));
	schema_add_pk(s, 0);
	r = record_new("t`x");
	record_add(r, "k", REC_STR, "a", 1);
	r->version = 9;
	record_bind(r, s);
	db_upsert_sql(NULL, s, &r, 1, &out);
	assert_string_equal(out.data,
	    "INSERT INTO `t``x` (`k`,`_wtc_version`) VALUES ('a',9)"
	    " ON DUPLICATE KEY UPDATE "
	    "`_wtc_version`=IF(CAST(`k` AS BINARY)<=>CAST(VALUES(`k`) AS "
	    "BINARY),GREATEST(`_wtc_version`,VALUES(`_wtc_version`)),"
	    "(SELECT 1 UNION SELECT 2))");
	record_free(r);
	buf_release(&out);
	schema_free(s);
}

static void
test_init_sql(void **state)
{
	struct buf	 out = BUF_INIT;

	db_init_sql("wtc", "users", 0, 0, &out);
	assert_string_equal(out.data,
	    "CREATE DATABASE IF NOT EXISTS `wtc` CHARACTER SET utf8mb4;\n"
	    "CREATE TABLE IF NOT EXISTS `wtc`.`users` (\n"
	    "  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
	    "  `name` VARCHAR(255) NOT NULL,\n"
	    "  `age` INT NULL,\n"
	    "  `occupation` VARCHAR(255) NULL,\n"
	    "  `_wtc_version` BIGINT UNSIGNED NOT NULL DEFAULT 0\n"
	    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n");

	buf_reset(&out);
	db_init_sql("w`tc", "pe`ople", 1, 0, &out);
	assert_string_equal(out.data,
	    "CREATE DATABASE IF NOT EXISTS `w``tc` CHARACTER SET utf8mb4;\n"
	    "ALTER TABLE `w``tc`.`pe``ople` ADD COLUMN `_wtc_version`"
	    " BIGINT UNSIGNED NOT NULL DEFAULT 0;\n");

	buf_reset(&out);
	db_init_sql(NULL, "users", 1, 0, &out);
	assert_string_equal(out.data, "ALTER TABLE `users` ADD COLUMN"
	    " `_wtc_version` BIGINT UNSIGNED NOT NULL DEFAULT 0;\n");

	buf_reset(&out);
	db_init_sql(NULL, "users", 1, 1, &out);
	assert_int_equal(out.len, 0);
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsert_two_records),
		cmocka_unit_test(test_upsert_numeric_guard),
		cmocka_unit_test(test_upsert_key_only),
		cmocka_unit_test(test_init_sql),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
