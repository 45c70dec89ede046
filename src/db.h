/*
 * The MySQL side (the only module that uses libmysqlclient / MariaDB
 * Connector/C).
 *
 * db_upsert lands a batch of records in one transaction as multi-row
 * "INSERT ... ON DUPLICATE KEY UPDATE" statements with the version guard:
 * a row is changed only when the incoming version is at least the stored
 * one, so replays are harmless and an older write never overwrites a newer
 * one.  Columns a record does not carry are set to their DEFAULT: a record
 * replaces the whole row, as it replaces the whole Redis hash.
 *
 * Failures are classified: *transient is 1 for problems that a later retry
 * may cure (connection lost or refused, server restarting, too many
 * connections, lock wait timeout, deadlock, read-only, disk full), 0 when
 * MySQL rejected the data itself (the caller splits the batch to find the
 * culprit).  Errors carry MySQL's own message and number.
 */
#ifndef WTC_DB_H
#define WTC_DB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "record.h"
#include "schema.h"
#include "util.h"

struct db;

/* Connect; with create_db the database is created first if missing. */
struct db	*db_connect(const struct mysql_addr *, int timeout_s, char **err);
void		 db_free(struct db *);
int		 db_ping(struct db *, char **err);
/* 1 if the last failure on this connection was transient (see above). */
int		 db_last_transient(struct db *);
/* MySQL's number for the last failure, e.g. DB_ER_NO_SUCH_TABLE; 0 if none. */
unsigned	 db_last_errno(struct db *);
#define DB_ER_NO_SUCH_TABLE	1146

/*
 * Read a table's schema from information_schema; *out is NULL + 0 if no such
 * table.  -1 with *err when it cannot be read, -2 when wtc cannot use the
 * table (no primary key, a column type it does not know).
 */
int		 db_load_schema(struct db *, const char *table, struct schema **out,
		    char **err);

/* Largest value of the schema's id column, 0 for an empty table. */
int		 db_max_id(struct db *, const struct schema *, uint64_t *out, char **err);

/* Land n records (each bound to schema) in one transaction. */
int		 db_upsert(struct db *, const struct schema *, struct record **recs,
		    size_t n, int *transient, char **err);

/*
 * The SQL text of db_upsert, for tests: one statement for all n records.
 * db_upsert sends exactly this to servers without bulk array binding; on
 * MariaDB it runs the same statement prepared, with one row of "?".
 */
void		 db_upsert_sql(struct db *, const struct schema *, struct record **recs,
		    size_t n, struct buf *out);

/*
 * Read one row by primary key values (given as text, in key order; pklen[i]
 * bytes of each, which a binary value may hold NUL among, or C strings if
 * pklen is NULL).  Returns 1 with *out (typed fields, version set from the
 * version column), 0 when absent, -1 on error.
 */
int		 db_get(struct db *, const struct schema *, const char **pk,
		    const size_t *pklen, struct record **out, char **err);

/*
 * The SQL that creates database, the default users table, or adds the
 * version column to an existing table: what "wtc init" runs.
 */
void		 db_init_sql(const char *database, const char *table, int table_exists,
		    int has_version, struct buf *out);
/* Run "wtc init": create what is missing.  Connect with database NULL to create it. */
int		 db_exec(struct db *, const char *sql, char **err);

/*
 * Stream every row of a table in primary key order (verify); cb returns -1
 * to stop (db_scan then returns 0).  The record is borrowed for the call;
 * cb must not use this connection meanwhile.
 */
typedef int	 db_row_cb(void *arg, struct record *);
int		 db_scan(struct db *, const struct schema *, db_row_cb *, void *arg,
		    char **err);

#endif
