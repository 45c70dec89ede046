/*
 * A table's shape as wtc needs it to validate records and build SQL: its
 * columns in table order, their types and limits, and which columns form the
 * primary key.  The db module fills a schema from information_schema; the
 * text form (schema_to_text / schema_from_text) is what the spool directory
 * caches so that "put" can validate while MySQL is down.
 *
 * A schema owns all its strings.  schema_free accepts NULL.
 */
#ifndef WTC_SCHEMA_H
#define WTC_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The column wtc keeps each row's version in, in MySQL and in Redis. */
#define SCHEMA_VERSION_COLUMN "_wtc_version"

enum schema_type {
	SCHEMA_INT,		/* tinyint .. bigint, signed or unsigned */
	SCHEMA_BOOL,		/* tinyint(1) / boolean: accepts true, false, 0, 1 */
	SCHEMA_DECIMAL,		/* decimal(p,s) */
	SCHEMA_FLOAT,		/* float, double */
	SCHEMA_STRING,		/* char, varchar, *text: max_chars characters */
	SCHEMA_BINARY,		/* binary, varbinary, *blob: max_chars bytes */
	SCHEMA_ENUM,		/* enum('a','b'): one of values */
	SCHEMA_SET,		/* set('a','b'): comma-separated subset of values */
	SCHEMA_DATE,		/* date: 'YYYY-MM-DD' */
	SCHEMA_DATETIME,	/* datetime, timestamp: 'YYYY-MM-DD HH:MM:SS[.frac]' */
	SCHEMA_TIME,		/* time: '[-]HHH:MM:SS[.frac]' */
	SCHEMA_YEAR,		/* year: integer 1901..2155 or 0 */
	SCHEMA_JSON,		/* json: any JSON value, stored as its text */
	SCHEMA_OTHER		/* anything else: strings passed through */
};

struct schema_column {
	char		*name;
	char		*sql_type;	/* COLUMN_TYPE as the server reports it, e.g. "varchar(255)" */
	enum schema_type type;
	int		 is_unsigned;
	int64_t		 int_min;	/* SCHEMA_INT / SCHEMA_YEAR bounds */
	uint64_t	 int_max;
	uint64_t	 max_chars;	/* strings: characters; binary: bytes; 0 = unlimited */
	unsigned	 precision;	/* decimal(p,s), float(p,s); datetime(fsp), time(fsp) */
	unsigned	 scale;
	char		**values;	/* SCHEMA_ENUM / SCHEMA_SET allowed values */
	size_t		 nvalues;
	int		 nullable;
	int		 has_default;	/* a default other than NULL */
	int		 generated;	/* computed by MySQL (AS ...): never written */
	int		 auto_increment;
	int		 primary;	/* part of the primary key */
};

struct schema {
	char			*table;
	size_t			 ncols;
	struct schema_column	*cols;
	size_t			 npk;		/* primary key columns, in key order */
	size_t			*pk;		/* indexes into cols */
	int			 id_col;	/* the single integer primary key column, or -1 */
	int			 version_col;	/* index of SCHEMA_VERSION_COLUMN, or -1 */
};

struct schema	*schema_new(const char *table);
void		 schema_free(struct schema *);

/*
 * Append a column described by the server's COLUMN_TYPE text (e.g. "int(10)
 * unsigned", "enum('a','b')", "varchar(64)").  max_chars is
 * CHARACTER_MAXIMUM_LENGTH (0 if NULL).  Returns the new column or NULL
 * with *err set when the type text cannot be understood.
 */
struct schema_column *schema_add_column(struct schema *, const char *name,
		    const char *sql_type, uint64_t max_chars, int nullable,
		    int has_default, int auto_increment, char **err);

/* Mark column index as the next primary key part; recomputes id_col. */
void		 schema_add_pk(struct schema *, size_t col);

/* Index of the column named name, or -1. */
int		 schema_find(const struct schema *, const char *name);

/*
 * Whether the primary key values pk[0..npk-1] (as split from a key) can be
 * those of a row as wtc writes them: each value of an integer column an
 * optional '-' and 1 to 20 digits, without leading zeros or "-0".  Returns
 * -1 when they can, else the index of the first value that cannot.
 */
int		 schema_pk_check(const struct schema *, const char *const *pk);

/*
 * The same for values a user typed (an id, a URL), taken the way wtc
 * writes them: pk[i] is moved past the zeros of "007" (7) and the '-' of
 * "-0" (0).  A negative value with leading zeros is refused.  Returns -1
 * when they can be those of a row, else the index of the first that
 * cannot.
 */
int		 schema_pk_canon(const struct schema *, const char **pk);

/* A BIT column: its values go to and come from MySQL as numbers. */
int		 schema_is_bit(const struct schema_column *);

/* Serialise to / from the cache text form (line based, versioned). */
void		 schema_to_text(const struct schema *, struct buf *);
struct schema	*schema_from_text(const char *text, size_t len, char **err);

#endif
