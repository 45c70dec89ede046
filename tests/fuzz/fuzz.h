/*
 * Shared by the fuzz targets: the libFuzzer entry point they define, the
 * schemas they validate against, and FUZZ_CHECK for the properties they
 * assert.  The same target files build two ways: with clang and
 * -fsanitize=fuzzer (tests/fuzz/run, FUZZING defined) and with the
 * project's compiler plus replay.c (make check), which feeds them the
 * corpus and the saved crash inputs.
 */
#ifndef WTC_FUZZ_H
#define WTC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "schema.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A property failed: say which and abort, so both builds report a crash. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: fuzz property failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* users(id bigint auto_increment pk, name, age, occupation, _wtc_version). */
static inline struct schema *
fuzz_users_schema(void)
{
	struct schema	*s = schema_new("users");
	char		*err = NULL;

	if (schema_add_column(s, "id", "bigint(20)", 0, 0, 0, 1, &err) == NULL ||
	    schema_add_column(s, "name", "varchar(255)", 255, 0, 0, 0,
	    &err) == NULL ||
	    schema_add_column(s, "age", "int(11)", 0, 1, 1, 0, &err) == NULL ||
	    schema_add_column(s, "occupation", "varchar(255)", 255, 1, 1, 0,
	    &err) == NULL ||
	    schema_add_column(s, SCHEMA_VERSION_COLUMN, "bigint(20) unsigned",
	    0, 0, 1, 0, &err) == NULL) {
		fprintf(stderr, "fuzz schema: %s\n", err);
		abort();
	}
	schema_add_pk(s, 0);
	return (s);
}

/* One nullable column of every kind; primary key (k, code). */
static inline struct schema *
fuzz_types_schema(void)
{
	static const char *const cols[][2] = {
		{ "k", "int(11)" }, { "i64", "bigint(20)" },
		{ "u64", "bigint(20) unsigned" }, { "ti", "tinyint(4)" },
		{ "flag", "tinyint(1)" }, { "price", "decimal(10,2)" },
		{ "qty", "decimal(5,0)" }, { "ud", "decimal(4,2) unsigned" },
		{ "f", "double" }, { "fl", "float" }, { "code", "char(3)" },
		{ "bin", "varbinary(4)" }, { "blob", "blob" },
		{ "color", "enum('red','green','it''s')" },
		{ "tags", "set('a','b','c')" }, { "born", "date" },
		{ "at", "datetime(6)" }, { "ts", "timestamp" },
		{ "dur", "time(3)" }, { "yr", "year(4)" }, { "doc", "json" },
		{ "geo", "geometry" }, { "txt", "text" },
		{ "vc", "varchar(8)" },
	};
	struct schema	*s = schema_new("types");
	char		*err = NULL;
	size_t		 i;

	for (i = 0; i < sizeof cols / sizeof cols[0]; i++) {
		if (schema_add_column(s, cols[i][0], cols[i][1],
		    cols[i][1][0] == 'v' || cols[i][1][0] == 'c' ? 8 : 0,
		    i != 0, 0, 0, &err) == NULL) {
			fprintf(stderr, "fuzz schema: %s\n", err);
			abort();
		}
	}
	schema_add_pk(s, 0);
	schema_add_pk(s, 10);
	return (s);
}

#endif
