/*
 * The MySQL module: connection set-up, schema discovery from
 * information_schema, and the batch upsert that lands spooled records.
 * Nothing outside this file sees MariaDB Connector/C.
 *
 * The upsert is INSERT ... ON DUPLICATE KEY UPDATE with a version guard,
 * sent one of two ways.  On a MariaDB server (10.2+) it is prepared once
 * with placeholders and run with column-wise array binding
 * (COM_STMT_BULK_EXECUTE): values go from the records to the wire without
 * quoting, and the server does not parse each row.  Measured on 1M rows
 * into an empty table this ran about 1.5x the multi-row text form, on par
 * with LOAD DATA.  Otherwise (MySQL, or built with DB_TEXT_ONLY) it is
 * multi-row SQL text built in one reused buffer.  Either way rows go in
 * pieces of up to stmt_max bytes, several pieces inside one transaction.
 *
 * Text escaping is our own (db_quote), valid for the utf8mb4 connection
 * this module opens with the backslash escapes of the default sql_mode, so
 * the SQL can be generated and tested without a server.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"
#include "util.h"

#if defined(MARIADB_CLIENT_STMT_BULK_OPERATIONS) && !defined(DB_TEXT_ONLY)
#define DB_HAVE_BULK 1
#endif

/* Largest statement db_upsert builds (kept under max_allowed_packet too). */
#define DB_STMT_MAX	(8u * 1024 * 1024)
/* Seconds a connection may stay silent in a read or write (?net-timeout=). */
#define DB_NET_TIMEOUT	120
/* Most rows per bulk execution: bounds the bind arrays. */
#define DB_BULK_ROWS	32768

struct db {
	MYSQL		*my;
	char		*where;		/* "host:port" or the socket, for messages */
	struct mysql_addr addr;		/* a copy, to reconnect */
	int		 timeout_s;
	int		 dead;		/* the connection broke: reopen first */
	int		 transient;	/* classification of the last failure */
	int		 bulk;		/* the server takes array binding */
	unsigned	 last_errno;
	size_t		 stmt_max;
	uint64_t	 packet;	/* the server's max_allowed_packet, or 0 */

	struct buf	 sql;		/* the statement being built */
	struct buf	 tail;		/* its ON DUPLICATE KEY UPDATE part */
	struct buf	 row;		/* a row carried over to the next statement */
	int		*map;		/* schema column -> record field */
	size_t		 mapcap;

	/* The bulk (array binding) variant. */
	MYSQL_STMT	*stmt;
	struct buf	 stmt_sql;	/* the text stmt was prepared from */
	struct buf	 bits;		/* BIT values as bytes, for binds */
	MYSQL_BIND	*binds;
	const char	**bptr;		/* ncols x rows, column-wise */
	unsigned long	*blen;
	char		*bind_ind;
	uint64_t	*bver;
	size_t		 bcap;		/* rows the arrays hold */
	size_t		 bcols;
};

/* Escapes of mysql_real_escape_string, for a connection without NO_BACKSLASH_ESCAPES. */
static const char db_esc[256] = {
	['\0'] = '0', ['\n'] = 'n', ['\r'] = 'r', ['\\'] = '\\',
	['\''] = '\'', ['"'] = '"', ['\032'] = 'Z'
};

static const char db_hex[] = "0123456789abcdef";

/*
 * Failures a later retry may cure.  Connection: CR_CONNECTION_ERROR,
 * CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
 * CR_SERVER_LOST_EXTENDED, CR_SERVER_HANDSHAKE_ERR, CR_ERR_NET_READ/WRITE.
 * Server state: ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS,
 * ER_SERVER_SHUTDOWN, ER_NORMAL_SHUTDOWN, ER_CONNECTION_KILLED,
 * ER_QUERY_INTERRUPTED, ER_STATEMENT_TIMEOUT, ER_CANT_CREATE_THREAD,
 * ER_OUT_OF_RESOURCES, ER_OUTOFMEMORY, ER_HOST_IS_BLOCKED.  Locks:
 * ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK, ER_CANT_LOCK, ER_LOCK_TABLE_FULL,
 * ER_TOO_MANY_CONCURRENT_TRXS.  Read-only: ER_OPTION_PREVENTS_STATEMENT
 * (--read-only), ER_READ_ONLY_MODE, ER_READ_ONLY_TRANSACTION,
 * ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION (tx_read_only).  Space:
 * ER_DISK_FULL, ER_RECORD_FILE_FULL (table full / tablespace out of space).
 * Operator fixes, kept as transient so that records stay spooled:
 * ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR,
 * ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR (an UPDATE
 * grant short of a column: the upsert needs every one), ER_BAD_DB_ERROR.
 * Everything else, including
 * ER_NO_SUCH_TABLE and ER_BAD_FIELD_ERROR, is "MySQL rejected the data"; the
 * caller can tell a missing table by db_last_errno() == DB_ER_NO_SUCH_TABLE.
 */
static int
db_is_transient(unsigned e)
{
	switch (e) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_SERVER_HANDSHAKE_ERR:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_SERVER_SHUTDOWN:
	case ER_NORMAL_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case ER_QUERY_INTERRUPTED:
	case ER_STATEMENT_TIMEOUT:
	case ER_CANT_CREATE_THREAD:
	case ER_OUT_OF_RESOURCES:
	case ER_OUTOFMEMORY:
	case ER_HOST_IS_BLOCKED:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_CANT_LOCK:
	case ER_LOCK_TABLE_FULL:
	case ER_TOO_MANY_CONCURRENT_TRXS:
	case ER_OPTION_PREVENTS_STATEMENT:
	case ER_READ_ONLY_MODE:
	case ER_READ_ONLY_TRANSACTION:
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
	case ER_DISK_FULL:
	case ER_RECORD_FILE_FULL:
	case ER_ACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
	case ER_BAD_DB_ERROR:
		return (1);
	default:
		return (0);
	}
}

/* Errors after which the connection cannot be used again. */
static int
db_is_broken(unsigned e)
{
	return (e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	    e == CR_SERVER_LOST_EXTENDED || e == CR_CONNECTION_ERROR ||
	    e == CR_CONN_HOST_ERROR || e == CR_ERR_NET_READ ||
	    e == CR_ERR_NET_WRITE || e == ER_CONNECTION_KILLED ||
	    e == ER_SERVER_SHUTDOWN || e == ER_NORMAL_SHUTDOWN);
}

/* Record the connection's last error; returns the classification. */
static int
db_note(struct db *db)
{
	db->last_errno = mysql_errno(db->my);
	db->transient = db_is_transient(db->last_errno);
	if (db_is_broken(db->last_errno))
		db->dead = 1;
	return (db->transient);
}

/* "... '<where>': <mysql_error> (<errno>)" with db_note done. */
static int
db_error(struct db *db, char **err, const char *what)
{
	db_note(db);
	return (err_set(err, "%s '%s': %s (%u)", what, db->where,
	    mysql_error(db->my), db->last_errno));
}

static void
db_addr_copy(struct mysql_addr *dst, const struct mysql_addr *src)
{
	memset(dst, 0, sizeof *dst);
	dst->user = src->user != NULL ? xstrdup(src->user) : NULL;
	dst->password = src->password != NULL ? xstrdup(src->password) : NULL;
	dst->host = src->host != NULL ? xstrdup(src->host) : NULL;
	dst->port = src->port;
	dst->socket = src->socket != NULL ? xstrdup(src->socket) : NULL;
	dst->database = src->database != NULL ? xstrdup(src->database) : NULL;
	dst->option_file = src->option_file != NULL ? xstrdup(src->option_file) : NULL;
	dst->net_timeout_s = src->net_timeout_s;
}

static void
db_addr_release(struct mysql_addr *a)
{
	free(a->user);
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	free(a->host);
	free(a->socket);
	free(a->database);
	free(a->option_file);
	memset(a, 0, sizeof *a);
}

/* Run one statement that returns no rows. */
static int
db_query(struct db *db, const char *sql, size_t len)
{
	if (mysql_real_query(db->my, sql, len) != 0) {
		db_note(db);
		return (-1);
	}
	return (0);
}

/* True when the server is MariaDB with COM_STMT_BULK_EXECUTE. */
static int
db_server_bulk(MYSQL *my)
{
#ifdef DB_HAVE_BULK
	unsigned long	 caps = 0, ext = 0;

	if (mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) ||
	    mariadb_get_infov(my, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES,
	    &ext))
		return (0);
	return ((caps & CLIENT_MYSQL) == 0 &&
	    (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0);
#else
	(void)my;
	return (0);
#endif
}

/* Open db->my: options, connect, session settings, packet limit. */
static int
db_open(struct db *db, char **err)
{
	/*
	 * NO_AUTO_VALUE_ON_ZERO: a record's id 0 is the row 0 that Redis
	 * holds, not "the next AUTO_INCREMENT value", which could be an id
	 * that wtc hands out to another record later.  autocommit: a batch
	 * of one statement is committed by it, whatever the server's (or an
	 * option file's) default; with autocommit 0 it was rolled back when
	 * the connection closed, after the checkpoint had moved past it.
	 */
	static const char session[] = "SET SESSION sql_mode = "
	    "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO', "
	    "time_zone = '+00:00', autocommit = 1";
	const struct mysql_addr	*a = &db->addr;
	unsigned int		 timeout, infile = 0;
	my_bool			 reconnect = 0;
	MYSQL_RES		*res = NULL;
	MYSQL_ROW		 row;
	unsigned long long	 packet;
	int			 rc = -1;

	if (db->stmt != NULL) {
		mysql_stmt_close(db->stmt);
		db->stmt = NULL;
	}
	buf_reset(&db->stmt_sql);
	if (db->my != NULL)
		mysql_close(db->my);
	db->dead = 1;
	if ((db->my = mysql_init(NULL)) == NULL) {
		db->transient = 1;
		err_set(err, "cannot connect to mysql '%s': out of memory", db->where);
		goto out;
	}
	if (db->timeout_s > 0) {
		timeout = (unsigned)db->timeout_s;
		mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	}
	/*
	 * A connection gone silent (a failover, a firewall that forgot it)
	 * counts as lost after that long without a byte, and is opened
	 * again; without it a drainer waited for ever.
	 */
	timeout = a->net_timeout_s >= 0 ? (unsigned)a->net_timeout_s :
	    DB_NET_TIMEOUT;
	if (timeout > 0) {
		mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &timeout);
		mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	}
	mysql_options(db->my, MYSQL_READ_DEFAULT_GROUP, "wtc");
	if (a->option_file != NULL)
		mysql_options(db->my, MYSQL_READ_DEFAULT_FILE, a->option_file);
	mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db->my, MYSQL_OPT_LOCAL_INFILE, &infile);
	mysql_options(db->my, MYSQL_OPT_RECONNECT, &reconnect);
	if (mysql_real_connect(db->my, a->host, a->user, a->password, a->database,
	    (unsigned)a->port, a->socket, 0) == NULL) {
		db_error(db, err, "cannot connect to mysql");
		goto out;
	}
	if (db_query(db, session, sizeof session - 1) != 0 ||
	    db_query(db, "SELECT @@max_allowed_packet", 27) != 0 ||
	    (res = mysql_store_result(db->my)) == NULL ||
	    (row = mysql_fetch_row(res)) == NULL || row[0] == NULL) {
		db_error(db, err, "cannot set up session on mysql");
		goto out;
	}
	packet = strtoull(row[0], NULL, 10);
	db->packet = packet;
	/* Leave room for the packet header and the tail appended last. */
	db->stmt_max = DB_STMT_MAX;
	if (packet > 0 && packet - packet / 16 < db->stmt_max)
		db->stmt_max = packet - packet / 16;
	db->bulk = db_server_bulk(db->my);
	db->dead = 0;
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	return (rc);
}

/* Reopen a connection that broke; a failure is transient by nature. */
static int
db_ready(struct db *db, char **err)
{
	if (!db->dead)
		return (0);
	if (db_open(db, err) != 0) {
		db->transient = 1;
		return (-1);
	}
	return (0);
}

struct db *
db_connect(const struct mysql_addr *addr, int timeout_s, char **err)
{
	struct db	*db;

	db = xcalloc(1, sizeof *db);
	db_addr_copy(&db->addr, addr);
	db->timeout_s = timeout_s;
	/* As the client library does: "localhost" with a socket is the socket. */
	if (addr->socket != NULL && (addr->host == NULL ||
	    strcmp(addr->host, "localhost") == 0))
		db->where = xstrdup(addr->socket);
	else if (addr->host != NULL)
		db->where = xasprintf("%s:%d", addr->host,
		    addr->port != 0 ? addr->port : 3306);
	else
		db->where = xstrdup("localhost");
	buf_init(&db->sql);
	buf_init(&db->tail);
	buf_init(&db->row);
	if (db_open(db, err) != 0) {
		db_free(db);
		return (NULL);
	}
	return (db);
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->stmt != NULL)
		mysql_stmt_close(db->stmt);
	buf_release(&db->stmt_sql);
	buf_release(&db->bits);
	free(db->binds);
	free(db->bptr);
	free(db->blen);
	free(db->bind_ind);
	free(db->bver);
	if (db->my != NULL)
		mysql_close(db->my);
	free(db->map);
	buf_release(&db->row);
	buf_release(&db->tail);
	buf_release(&db->sql);
	free(db->where);
	db_addr_release(&db->addr);
	free(db);
}

int
db_ping(struct db *db, char **err)
{
	if (db_ready(db, err) != 0)
		return (-1);
	if (mysql_ping(db->my) != 0)
		return (db_error(db, err, "lost connection to mysql"));
	return (0);
}

int
db_last_transient(struct db *db)
{
	return (db->transient);
}

unsigned
db_last_errno(struct db *db)
{
	return (db->last_errno);
}

/* Append `name` with backticks doubled. */
static void
db_ident(struct buf *b, const char *name)
{
	const char	*p;

	buf_addc(b, '`');
	for (p = name; *p != '\0'; p++) {
		if (*p == '`')
			buf_addc(b, '`');
		buf_addc(b, *p);
	}
	buf_addc(b, '`');
}

/* Append s as a quoted string literal. */
static void
db_quote(struct buf *b, const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	char			*p;
	size_t			 i;

	buf_grow(b, 2 * len + 2);
	p = b->data + b->len;
	*p++ = '\'';
	for (i = 0; i < len; i++) {
		if (db_esc[u[i]] != 0) {
			*p++ = '\\';
			*p++ = db_esc[u[i]];
		} else
			*p++ = (char)u[i];
	}
	*p++ = '\'';
	b->len = (size_t)(p - b->data);
	b->data[b->len] = '\0';
}

/* Append s as X'hex'. */
static void
db_quote_hex(struct buf *b, const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	char			*p;
	size_t			 i;

	buf_grow(b, 2 * len + 3);
	p = b->data + b->len;
	*p++ = 'X';
	*p++ = '\'';
	for (i = 0; i < len; i++) {
		*p++ = db_hex[u[i] >> 4];
		*p++ = db_hex[u[i] & 15];
	}
	*p++ = '\'';
	b->len = (size_t)(p - b->data);
	b->data[b->len] = '\0';
}

static void
db_u64(struct buf *b, uint64_t v)
{
	char	 tmp[24], *p = tmp + sizeof tmp;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* True when s is plausible numeric text that is safe to send unquoted. */
static int
db_numeric(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++)
		if (strchr("-+0123456789.eE", s[i]) == NULL || s[i] == '\0')
			return (0);
	return (1);
}

static void
db_value(struct buf *b, const struct schema_column *col, const struct rec_field *f)
{
	if (f == NULL) {
		buf_add(b, "DEFAULT", 7);
		return;
	}
	switch (f->type) {
	case REC_NULL:
		buf_add(b, "NULL", 4);
		return;
	case REC_INT:
	case REC_NUM:
	case REC_BOOL:
		/* Bare only into numeric columns: a string column keeps the text. */
		if ((col->type == SCHEMA_INT || col->type == SCHEMA_BOOL ||
		    col->type == SCHEMA_DECIMAL || col->type == SCHEMA_FLOAT ||
		    col->type == SCHEMA_YEAR) && db_numeric(f->val, f->len)) {
			buf_add(b, f->val, f->len);
			return;
		}
		break;
	default:
		break;
	}
	if (col->type == SCHEMA_BINARY)
		db_quote_hex(b, f->val, f->len);
	else
		db_quote(b, f->val, f->len);
}

/*
 * Whether the upsert writes column i: not the version (it goes last, from
 * the record's), nor a generated column, which MySQL computes and refuses
 * a value for (1906), even DEFAULT in ON DUPLICATE KEY UPDATE.
 */
static int
db_written(const struct schema *s, size_t i, int omit)
{
	return ((int)i != s->version_col && !s->cols[i].generated &&
	    (int)i != omit);
}

/*
 * An AUTO_INCREMENT column other than the key, or -1.  An upsert of records
 * that do not give it leaves it out: MySQL then numbers a new row and
 * keeps an old row's number (bound as DEFAULT it gave 0 under
 * NO_AUTO_VALUE_ON_ZERO, and NULL would renumber the row on each update).
 */
static int
db_auto_col(const struct schema *s)
{
	size_t	 i;

	for (i = 0; i < s->ncols; i++) {
		if (s->cols[i].auto_increment && !s->cols[i].primary &&
		    !s->cols[i].generated && (int)i != s->version_col)
			return ((int)i);
	}
	return (-1);
}

/* Whether rec gives column col a value (NULL is none). */
static int
db_gives(const struct record *rec, int col)
{
	size_t	 j;

	for (j = 0; j < rec->nfields; j++) {
		if (rec->fields[j].col == col &&
		    rec->fields[j].type != REC_NULL)
			return (1);
	}
	return (0);
}

/* The column to leave out of an upsert of recs (db_auto_col), or -1. */
static int
db_omit(const struct schema *s, struct record **recs, size_t n)
{
	size_t	 i;
	int	 ai = db_auto_col(s);

	for (i = 0; i < n && ai >= 0; i++) {
		if (db_gives(recs[i], ai))
			return (-1);
	}
	return (ai);
}

/* "INSERT INTO `t` (`c1`,...,`_wtc_version`) VALUES " into b, tail into t. */
static void
db_upsert_parts(const struct schema *s, int omit, struct buf *b, struct buf *t)
{
	const struct schema_column	*c;
	size_t			 i;

	buf_add(b, "INSERT INTO ", 12);
	db_ident(b, s->table);
	buf_add(b, " (", 2);
	for (i = 0; i < s->ncols; i++) {
		if (!db_written(s, i, omit))
			continue;
		db_ident(b, s->cols[i].name);
		buf_addc(b, ',');
	}
	db_ident(b, SCHEMA_VERSION_COLUMN);
	buf_add(b, ") VALUES ", 9);

	/*
	 * A column takes the record's value when the record is at least as
	 * new as the row (the version is assigned last, so these see the
	 * row's own).  The version's assignment also checks that the row that
	 * collided has the record's primary key, byte for byte: if not, the
	 * collision was on another unique key, or on a key that the column's
	 * collation holds equal ('abc' and 'ABC', 'x' and 'x '), and updating
	 * that row would silently drop this record.  Then the IF evaluates a
	 * subquery that returns two rows, which fails the statement with
	 * ER_SUBQUERY_NO_1_ROW (1242; IF is lazy, so it costs nothing
	 * otherwise): the record is rejected and dead-lettered instead.
	 * (Assigning NULL is not enough: MariaDB turns it into 0.)  The IF
	 * is on the version, an integer, so that its branches agree in type
	 * whatever the key's (UUID or INET6 would not mix with 1).
	 */
	buf_adds(t, " ON DUPLICATE KEY UPDATE ");
	for (i = 0; i < s->ncols; i++) {
		if (!db_written(s, i, omit) || s->cols[i].primary)
			continue;
		db_ident(t, s->cols[i].name);
		buf_adds(t, "=IF(VALUES(");
		db_ident(t, SCHEMA_VERSION_COLUMN);
		buf_adds(t, ")>=");
		db_ident(t, SCHEMA_VERSION_COLUMN);
		buf_adds(t, ",VALUES(");
		db_ident(t, s->cols[i].name);
		buf_adds(t, "),");
		db_ident(t, s->cols[i].name);
		buf_adds(t, "),");
	}
	db_ident(t, SCHEMA_VERSION_COLUMN);
	buf_adds(t, "=IF(");
	for (i = 0; i < s->npk; i++) {
		c = &s->cols[s->pk[i]];
		if (i > 0)
			buf_adds(t, " AND ");
		if (c->type == SCHEMA_STRING) {
			buf_adds(t, "CAST(");
			db_ident(t, c->name);
			buf_adds(t, " AS BINARY)<=>CAST(VALUES(");
			db_ident(t, c->name);
			buf_adds(t, ") AS BINARY)");
		} else {
			db_ident(t, c->name);
			buf_adds(t, "<=>VALUES(");
			db_ident(t, c->name);
			buf_addc(t, ')');
		}
	}
	if (s->npk == 0)
		buf_addc(t, '0');	/* any collision is on another key */
	buf_adds(t, ",GREATEST(");
	db_ident(t, SCHEMA_VERSION_COLUMN);
	buf_adds(t, ",VALUES(");
	db_ident(t, SCHEMA_VERSION_COLUMN);
	buf_adds(t, ")),(SELECT 1 UNION SELECT 2))");
}

/* Append "(v1,...,version)"; map is scratch space for s->ncols ints. */
static void
db_upsert_row(const struct schema *s, int omit, const struct record *rec,
    int *map, struct buf *b)
{
	const struct rec_field	*f;
	size_t			 i;
	int			 c;

	for (i = 0; i < s->ncols; i++)
		map[i] = -1;
	for (i = 0; i < rec->nfields; i++) {
		c = rec->fields[i].col;
		if (c >= 0 && (size_t)c < s->ncols)
			map[c] = (int)i;
	}
	buf_addc(b, '(');
	for (i = 0; i < s->ncols; i++) {
		if (!db_written(s, i, omit))
			continue;
		f = map[i] >= 0 ? &rec->fields[map[i]] : NULL;
		db_value(b, &s->cols[i], f);
		buf_addc(b, ',');
	}
	db_u64(b, rec->version);
	buf_addc(b, ')');
}

static int *
db_map(struct db *db, size_t ncols)
{
	if (ncols > db->mapcap) {
		db->map = xreallocarray(db->map, ncols, sizeof *db->map);
		db->mapcap = ncols;
	}
	return (db->map);
}

void
db_upsert_sql(struct db *db, const struct schema *s, struct record **recs,
    size_t n, struct buf *out)
{
	struct buf	 tail = BUF_INIT;
	int		*map, omit = db_omit(s, recs, n);
	size_t		 i;

	map = db != NULL ? db_map(db, s->ncols) :
	    xreallocarray(NULL, s->ncols, sizeof *map);
	db_upsert_parts(s, omit, out, &tail);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(out, ',');
		db_upsert_row(s, omit, recs[i], map, out);
	}
	buf_add(out, tail.data, tail.len);
	buf_release(&tail);
	if (db == NULL)
		free(map);
}

/*
 * A data error, or one that passes (a lock, read-only, privileges), which
 * must not read as a refusal.  ER_SUBQUERY_NO_1_ROW comes from the
 * unique-key guard in db_upsert_parts: say what really happened.
 */
static int
db_rejected(const struct schema *s, const char *msg, unsigned e, char **err)
{
	if (db_is_transient(e))
		return (err_set(err, "mysql cannot take batch for table '%s' "
		    "now: %s (%u)", s->table, msg, e));
	if (e == 1242)
		return (err_set(err, "mysql rejected batch for table '%s': a "
		    "record collides with another row on a unique key: one "
		    "other than the primary key, or a primary key that differs "
		    "from the record's but that the column's collation holds "
		    "equal (letter case, trailing spaces)", s->table));
	return (err_set(err, "mysql rejected batch for table '%s': %s (%u)",
	    s->table, msg, e));
}

static int
db_upsert_error(struct db *db, const struct schema *s, int *transient, char **err)
{
	unsigned	 e = mysql_errno(db->my);
	const char	*msg = mysql_error(db->my);

	db_note(db);
	*transient = db->transient;
	if (db_is_broken(e))
		return (err_set(err, "cannot write batch for table '%s' to mysql "
		    "'%s': %s (%u)", s->table, db->where, msg, e));
	return (db_rejected(s, msg, e, err));
}


#ifdef DB_HAVE_BULK
static int
db_stmt_error(struct db *db, const struct schema *s, int *transient, char **err)
{
	unsigned	 e = mysql_stmt_errno(db->stmt);

	db->last_errno = e;
	db->transient = *transient = db_is_transient(e);
	if (db_is_broken(e)) {
		db->dead = 1;
		return (err_set(err, "cannot write batch for table '%s' to mysql "
		    "'%s': %s (%u)", s->table, db->where,
		    mysql_stmt_error(db->stmt), e));
	}
	return (db_rejected(s, mysql_stmt_error(db->stmt), e, err));
}

static size_t
db_bit_cols(const struct schema *s)
{
	size_t	i, n = 0;

	for (i = 0; i < s->ncols; i++)
		n += schema_is_bit(&s->cols[i]) != 0;
	return (n);
}

/*
 * A BIT value (its number's digits, or a boolean's 0 or 1) as the bytes
 * MySQL takes for it: big-endian, as many as the column's bits need.
 * Bound as text, BIT(8) got 5 as the byte '5' (53).  The bytes go in
 * db->bits, which has room for them.
 */
static void
db_bit_bytes(struct db *db, const struct schema_column *c,
    const struct rec_field *f, const char **p, unsigned long *len)
{
	uint64_t	 v = 0, max = c->int_max;
	size_t		 i, n = 1;

	for (i = 0; i < f->len && f->val[i] >= '0' && f->val[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(f->val[i] - '0');
	while (n < 8 && (max >> (8 * n)) != 0)
		n++;
	*p = db->bits.data + db->bits.len;
	*len = n;
	for (i = n; i > 0; i--)
		buf_addc(&db->bits, (char)(v >> (8 * (i - 1)) & 0xff));
}

/* Bulk array binding (COM_STMT_BULK_EXECUTE): one prepared statement, column-wise arrays. */
static int
db_upsert_bulk(struct db *db, const struct schema *s, int omit,
    struct record **recs, size_t n, int *transient, char **err)
{
	struct buf		 head = BUF_INIT, tail = BUF_INIT;
	const struct record	*rec;
	const struct rec_field	*f;
	size_t			 i, j, k, c, nc, start, rows, bytes, est;
	unsigned int		 asize;
	int			*map, in_trx = 0, rc = -1, col;

	nc = 0;
	for (c = 0; c < s->ncols; c++)
		if (db_written(s, c, omit))
			nc++;
	db_upsert_parts(s, omit, &head, &tail);
	buf_addc(&head, '(');
	for (c = 0; c <= nc; c++)
		buf_adds(&head, c == 0 ? "?" : ",?");
	buf_addc(&head, ')');
	buf_add(&head, tail.data, tail.len);
	if (db->stmt == NULL || db->stmt_sql.len != head.len ||
	    memcmp(db->stmt_sql.data, head.data, head.len) != 0) {
		if (db->stmt != NULL)
			mysql_stmt_close(db->stmt);
		if ((db->stmt = mysql_stmt_init(db->my)) == NULL) {
			db_upsert_error(db, s, transient, err);
			goto out;
		}
		if (mysql_stmt_prepare(db->stmt, head.data, head.len) != 0) {
			db_stmt_error(db, s, transient, err);
			mysql_stmt_close(db->stmt);
			db->stmt = NULL;
			goto out;
		}
		buf_reset(&db->stmt_sql);
		buf_add(&db->stmt_sql, head.data, head.len);
	}
	rows = n < DB_BULK_ROWS ? n : DB_BULK_ROWS;
	if (rows > db->bcap || nc + 1 > db->bcols) {
		db->bcap = rows > db->bcap ? rows : db->bcap;
		db->bcols = nc + 1;
		db->binds = xreallocarray(db->binds, db->bcols, sizeof *db->binds);
		db->bptr = xreallocarray(db->bptr, db->bcols * db->bcap, sizeof *db->bptr);
		db->blen = xreallocarray(db->blen, db->bcols * db->bcap, sizeof *db->blen);
		db->bind_ind = xreallocarray(db->bind_ind, db->bcols * db->bcap, 1);
		db->bver = xreallocarray(db->bver, db->bcap, sizeof *db->bver);
	}
	map = db_map(db, s->ncols);
	start = 0;
	while (start < n) {
		/*
		 * Fill rows while the packet, with the next row in it, stays
		 * within stmt_max (at most 10 bytes of framing per value).  A
		 * row past it would take the packet over max_allowed_packet:
		 * the server drops the connection, which looks like an outage,
		 * and the batch was retried for ever.
		 */
		bytes = 0;
		/* Room for every BIT value of the packet: bptr points in. */
		buf_reset(&db->bits);
		buf_grow(&db->bits, db->bcap * db_bit_cols(s) * 8);
		for (rows = 0; start + rows < n && rows < db->bcap; rows++) {
			rec = recs[start + rows];
			for (c = 0; c < s->ncols; c++)
				map[c] = -1;
			est = 10 * (nc + 1);
			for (j = 0; j < rec->nfields; j++) {
				col = rec->fields[j].col;
				if (col >= 0 && (size_t)col < s->ncols) {
					map[col] = (int)j;
					est += rec->fields[j].len;
				}
			}
			if (rows > 0 && bytes + est > db->stmt_max)
				break;
			bytes += est;
			for (c = 0, k = 0; c < s->ncols; c++) {
				if (!db_written(s, c, omit))
					continue;
				i = k * db->bcap + rows;
				f = map[c] >= 0 ? &rec->fields[map[c]] : NULL;
				if (f == NULL)
					db->bind_ind[i] = STMT_INDICATOR_DEFAULT;
				else if (f->type == REC_NULL)
					db->bind_ind[i] = STMT_INDICATOR_NULL;
				else {
					db->bind_ind[i] = STMT_INDICATOR_NONE;
					db->bptr[i] = f->val;
					db->blen[i] = f->len;
					/*
					 * Bound as a string, YEAR's 0 would be
					 * read as a two-digit year: 2000.
					 */
					if (s->cols[c].type == SCHEMA_YEAR &&
					    f->len == 1 && f->val[0] == '0') {
						db->bptr[i] = "0000";
						db->blen[i] = 4;
					}
					if (schema_is_bit(&s->cols[c]))
						db_bit_bytes(db, &s->cols[c],
						    f, &db->bptr[i], &db->blen[i]);
				}
				k++;
			}
			db->bver[rows] = rec->version;
		}
		memset(db->binds, 0, (nc + 1) * sizeof *db->binds);
		for (c = 0, k = 0; c < s->ncols; c++) {
			if (!db_written(s, c, omit))
				continue;
			db->binds[k].buffer_type = s->cols[c].type == SCHEMA_BINARY ||
			    schema_is_bit(&s->cols[c]) ? MYSQL_TYPE_BLOB :
			    MYSQL_TYPE_STRING;
			db->binds[k].buffer = (void *)(db->bptr + k * db->bcap);
			db->binds[k].length = db->blen + k * db->bcap;
			db->binds[k].u.indicator = db->bind_ind + k * db->bcap;
			k++;
		}
		db->binds[k].buffer_type = MYSQL_TYPE_LONGLONG;
		db->binds[k].is_unsigned = 1;
		db->binds[k].buffer = db->bver;
		asize = (unsigned int)rows;
		if (start == 0 && rows < n) {
			if (db_query(db, "START TRANSACTION", 17) != 0) {
				db_upsert_error(db, s, transient, err);
				goto out;
			}
			in_trx = 1;
		}
		if (mysql_stmt_attr_set(db->stmt, STMT_ATTR_ARRAY_SIZE, &asize) != 0 ||
		    mysql_stmt_bind_param(db->stmt, db->binds) != 0 ||
		    mysql_stmt_execute(db->stmt) != 0) {
			db_stmt_error(db, s, transient, err);
			goto fail;
		}
		start += rows;
	}
	if (in_trx && db_query(db, "COMMIT", 6) != 0) {
		db_upsert_error(db, s, transient, err);
		goto fail;
	}
	db->transient = 0;
	rc = 0;
	goto out;
fail:
	if (in_trx && !db->dead)
		(void)mysql_real_query(db->my, "ROLLBACK", 8);
out:
	buf_release(&tail);
	buf_release(&head);
	return (rc);
}
#endif

static int	 db_upsert_split(struct db *, const struct schema *, int,
		    struct record **, size_t, int *, char **);
static int	 db_upsert_group(struct db *, const struct schema *, int,
		    struct record **, size_t, int *, char **);

/*
 * Statements are filled up to stmt_max; a row that would overflow one goes
 * to the next, and once a second statement is needed the batch runs inside
 * START TRANSACTION ... COMMIT (a single statement is atomic on its own).
 */
int
db_upsert(struct db *db, const struct schema *s, struct record **recs, size_t n,
    int *transient, char **err)
{
	size_t		 i, j, size;
	int		 ai;

	*transient = 0;
	if (n == 0)
		return (0);
	if (db_ready(db, err) != 0) {
		*transient = 1;
		return (-1);
	}
	if (s->version_col < 0) {
		*transient = db->transient = 1;
		return (err_set(err, "table '%s' has no %s column; run wtc init",
		    s->table, SCHEMA_VERSION_COLUMN));
	}
	/*
	 * A record larger than the server takes in one packet is refused
	 * here, for what it is: sent in a bulk execution, the server dropped
	 * the connection, which looked like an outage, and the drain retried
	 * the whole batch for ever.
	 */
	for (i = 0; i < n && db->packet > 0; i++) {
		size = 64;
		for (j = 0; j < recs[i]->nfields; j++)
			size += recs[i]->fields[j].len + 16;
		if (size > db->packet)
			return (err_set(err, "a record of about %zu bytes is "
			    "larger than max_allowed_packet (%" PRIu64 ") of mysql "
			    "'%s'", size, db->packet, db->where));
	}
	if ((ai = db_auto_col(s)) >= 0 && db_omit(s, recs, n) < 0)
		return (db_upsert_split(db, s, ai, recs, n, transient, err));
	return (db_upsert_group(db, s, ai, recs, n, transient, err));
}

/*
 * A batch where some records give the AUTO_INCREMENT column ai and some do
 * not goes as two upserts, the second leaving it out.  Each is atomic; if
 * the second fails, the batch is landed again, and the first's rows land
 * as they are.
 */
static int
db_upsert_split(struct db *db, const struct schema *s, int ai,
    struct record **recs, size_t n, int *transient, char **err)
{
	struct record	**part;
	size_t		  i, ngive = 0, nleave;
	int		  rc;

	part = xreallocarray(NULL, n, sizeof *part);
	for (i = 0; i < n; i++) {
		if (db_gives(recs[i], ai))
			part[ngive++] = recs[i];
	}
	nleave = ngive;
	for (i = 0; i < n; i++) {
		if (!db_gives(recs[i], ai))
			part[nleave++] = recs[i];
	}
	rc = db_upsert_group(db, s, -1, part, ngive, transient, err);
	if (rc == 0 && ngive < n)
		rc = db_upsert_group(db, s, ai, part + ngive, n - ngive,
		    transient, err);
	free(part);
	return (rc);
}

/* Upsert recs, leaving out column omit (-1: none). */
static int
db_upsert_group(struct db *db, const struct schema *s, int omit,
    struct record **recs, size_t n, int *transient, char **err)
{
	size_t		 i, mark, head, rows = 0;
	int		*map, in_trx = 0, rc = -1;

#ifdef DB_HAVE_BULK
	if (db->bulk)
		return (db_upsert_bulk(db, s, omit, recs, n, transient, err));
#endif
	map = db_map(db, s->ncols);
	buf_reset(&db->sql);
	buf_reset(&db->tail);
	db_upsert_parts(s, omit, &db->sql, &db->tail);
	head = db->sql.len;
	for (i = 0; i < n; i++) {
		mark = db->sql.len;
		if (rows > 0)
			buf_addc(&db->sql, ',');
		db_upsert_row(s, omit, recs[i], map, &db->sql);
		if (rows > 0 && db->sql.len + db->tail.len > db->stmt_max) {
			buf_reset(&db->row);
			buf_add(&db->row, db->sql.data + mark + 1,
			    db->sql.len - mark - 1);
			db->sql.len = mark;
			buf_add(&db->sql, db->tail.data, db->tail.len);
			if (!in_trx) {
				if (db_query(db, "START TRANSACTION", 17) != 0)
					goto fail;
				in_trx = 1;
			}
			if (db_query(db, db->sql.data, db->sql.len) != 0)
				goto fail;
			db->sql.len = head;
			buf_add(&db->sql, db->row.data, db->row.len);
			rows = 0;
		}
		rows++;
	}
	buf_add(&db->sql, db->tail.data, db->tail.len);
	if (db_query(db, db->sql.data, db->sql.len) != 0)
		goto fail;
	if (in_trx && db_query(db, "COMMIT", 6) != 0)
		goto fail;
	db->transient = 0;
	rc = 0;
	goto out;
fail:
	db_upsert_error(db, s, transient, err);
	if (in_trx && !db->dead)
		(void)mysql_real_query(db->my, "ROLLBACK", 8);
out:
	/* A huge batch should not pin its memory until the next one. */
	if (db->sql.cap > 4 * (size_t)DB_STMT_MAX) {
		buf_release(&db->sql);
		buf_release(&db->row);
	}
	return (rc);
}

/* Run a query and store its result; NULL with *err on failure. */
static MYSQL_RES *
db_select(struct db *db, const struct buf *sql, const char *what, char **err)
{
	MYSQL_RES	*res;

	if (mysql_real_query(db->my, sql->data, sql->len) != 0 ||
	    (res = mysql_store_result(db->my)) == NULL) {
		db_note(db);
		err_set(err, "%s: %s (%u)", what, mysql_error(db->my),
		    db->last_errno);
		return (NULL);
	}
	return (res);
}

/* Names of columns with a json_valid(`col`) check: MariaDB's JSON type. */
static void
db_json_columns(struct db *db, const char *table, struct buf *names)
{
	struct buf	 sql = BUF_INIT;
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;
	unsigned long	*lens;
	const char	*p, *end;

	buf_adds(&sql, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
	    " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ");
	db_quote(&sql, table, strlen(table));
	/* MySQL has no TABLE_NAME there and a real JSON type: ignore failure. */
	if (mysql_real_query(db->my, sql.data, sql.len) != 0 ||
	    (res = mysql_store_result(db->my)) == NULL)
		goto out;
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		if (row[0] == NULL || lens[0] < 15 ||
		    strncmp(row[0], "json_valid(`", 12) != 0 ||
		    strcmp(row[0] + lens[0] - 2, "`)") != 0)
			continue;
		/* The name, with doubled backticks undone, NUL-terminated. */
		end = row[0] + lens[0] - 2;
		for (p = row[0] + 12; p < end; p++) {
			buf_addc(names, *p);
			if (*p == '`' && p + 1 < end && p[1] == '`')
				p++;
		}
		buf_addc(names, '\0');
	}
out:
	if (res != NULL)
		mysql_free_result(res);
	buf_release(&sql);
}

static int
db_in_list(const struct buf *names, const char *name)
{
	const char	*p;

	for (p = names->data; p != NULL && p < names->data + names->len;
	    p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return (1);
	return (0);
}

int
db_load_schema(struct db *db, const char *table, struct schema **out, char **err)
{
	struct buf		 sql = BUF_INIT, json = BUF_INIT;
	struct schema		*s = NULL;
	struct schema_column	*c;
	MYSQL_RES		*res = NULL;
	MYSQL_ROW		 row;
	const char		*type;
	char			*what = NULL, *e = NULL;
	int			 rc = -1, i, nullable;

	*out = NULL;
	if (db_ready(db, err) != 0)
		goto out;
	what = xasprintf("cannot read the schema of table '%s'", table);
	db_json_columns(db, table, &json);

	/*
	 * MariaDB shows a default of NULL as the word NULL (a string default
	 * is quoted), MySQL as NULL: either way there is no default to fill.
	 * A generated column's EXTRA is VIRTUAL or STORED GENERATED (VIRTUAL
	 * or PERSISTENT in older MariaDB); MySQL 8's DEFAULT_GENERATED is an
	 * expression default (DEFAULT CURRENT_TIMESTAMP), not one.
	 */
	buf_adds(&sql, "SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH,"
	    " IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL AND COLUMN_DEFAULT <> 'NULL',"
	    " EXTRA LIKE '%auto_increment%', COLUMN_KEY,"
	    " EXTRA LIKE '%VIRTUAL GENERATED%' OR EXTRA LIKE '%STORED GENERATED%'"
	    " OR EXTRA IN ('VIRTUAL', 'PERSISTENT')"
	    " FROM information_schema.COLUMNS"
	    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ");
	db_quote(&sql, table, strlen(table));
	buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
	if ((res = db_select(db, &sql, what, err)) == NULL)
		goto out;
	if (mysql_num_rows(res) == 0) {
		rc = 0;
		goto out;
	}
	s = schema_new(table);
	while ((row = mysql_fetch_row(res)) != NULL) {
		type = row[1];
		if (db_in_list(&json, row[0]) && strcmp(type, "longtext") == 0)
			type = "json";
		nullable = row[3] != NULL && strcmp(row[3], "YES") == 0;
		if ((c = schema_add_column(s, row[0], type,
		    row[2] != NULL ? strtoull(row[2], NULL, 10) : 0, nullable,
		    row[4] != NULL && strcmp(row[4], "1") == 0,
		    row[5] != NULL && strcmp(row[5], "1") == 0, &e)) == NULL) {
			err_set(err, "%s: %s", what, e);
			rc = -2;
			goto out;
		}
		c->generated = row[7] != NULL && strcmp(row[7], "1") == 0;
	}
	mysql_free_result(res);
	res = NULL;

	buf_reset(&sql);
	buf_adds(&sql, "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
	    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ");
	db_quote(&sql, table, strlen(table));
	buf_adds(&sql, " AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION");
	if ((res = db_select(db, &sql, what, err)) == NULL)
		goto out;
	while ((row = mysql_fetch_row(res)) != NULL)
		if ((i = schema_find(s, row[0])) >= 0)
			schema_add_pk(s, (size_t)i);
	if (s->npk == 0) {
		err_set(err, "table '%s' has no primary key; wtc needs one to upsert",
		    table);
		rc = -2;
		goto out;
	}
	/* The drain compares versions: a NULL, a string or a short int would not. */
	if (s->version_col >= 0 && (s->cols[s->version_col].type != SCHEMA_INT ||
	    !s->cols[s->version_col].is_unsigned ||
	    strncmp(s->cols[s->version_col].sql_type, "bigint", 6) != 0 ||
	    s->cols[s->version_col].nullable)) {
		err_set(err, "column '%s' of table '%s' is %s%s; wtc needs "
		    "BIGINT UNSIGNED NOT NULL DEFAULT 0 (ALTER TABLE `%s` MODIFY "
		    "`%s` BIGINT UNSIGNED NOT NULL DEFAULT 0)",
		    SCHEMA_VERSION_COLUMN, table,
		    s->cols[s->version_col].sql_type,
		    s->cols[s->version_col].nullable ? " NULL" : "", table,
		    SCHEMA_VERSION_COLUMN);
		rc = -2;
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	schema_free(s);
	free(e);
	free(what);
	buf_release(&json);
	buf_release(&sql);
	return (rc);
}

int
db_max_id(struct db *db, const struct schema *s, uint64_t *out, char **err)
{
	struct buf	 sql = BUF_INIT;
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;
	char		*what = NULL;
	int		 rc = -1;

	*out = 0;
	if (s->id_col < 0)
		return (0);
	if (db_ready(db, err) != 0)
		goto out;
	what = xasprintf("cannot read the largest id of table '%s'", s->table);
	/* Ids above INT64_MAX are beyond any that wtc hands out. */
	buf_adds(&sql, "SELECT MAX(");
	db_ident(&sql, s->cols[s->id_col].name);
	buf_adds(&sql, ") FROM ");
	db_ident(&sql, s->table);
	buf_adds(&sql, " WHERE ");
	db_ident(&sql, s->cols[s->id_col].name);
	buf_adds(&sql, " <= 9223372036854775807");
	if ((res = db_select(db, &sql, what, err)) == NULL)
		goto out;
	if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL &&
	    row[0][0] != '-')
		*out = strtoull(row[0], NULL, 10);
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	free(what);
	buf_release(&sql);
	return (rc);
}

/* "SELECT `c1`,...[,`_wtc_version`] FROM `t`": schema order, version last. */
static void
db_select_cols(const struct schema *s, struct buf *b)
{
	size_t	 i;
	int	 first = 1;

	buf_adds(b, "SELECT ");
	for (i = 0; i < s->ncols; i++) {
		if ((int)i == s->version_col)
			continue;
		if (!first)
			buf_addc(b, ',');
		first = 0;
		/* A BIT comes as bytes: as a number, as it was written. */
		if (schema_is_bit(&s->cols[i])) {
			buf_adds(b, "CAST(");
			db_ident(b, s->cols[i].name);
			buf_adds(b, " AS UNSIGNED)");
		} else
			db_ident(b, s->cols[i].name);
	}
	if (s->version_col >= 0) {
		if (!first)
			buf_addc(b, ',');
		db_ident(b, SCHEMA_VERSION_COLUMN);
	}
	buf_adds(b, " FROM ");
	db_ident(b, s->table);
}

/* A row selected by db_select_cols as a typed record bound to s. */
static struct record *
db_row_record(const struct schema *s, MYSQL_ROW row, unsigned long *lens)
{
	const struct schema_column	*c;
	struct record			*rec;
	enum rec_type			 t;
	const char			*v;
	size_t				 i, k = 0, len;

	rec = record_new(s->table);
	for (i = 0; i < s->ncols; i++) {
		if ((int)i == s->version_col)
			continue;
		c = &s->cols[i];
		if (row[k] == NULL) {
			record_add(rec, c->name, REC_NULL, "", 0);
			k++;
			continue;
		}
		switch (c->type) {
		case SCHEMA_INT:
		case SCHEMA_YEAR:
			t = REC_INT;
			break;
		case SCHEMA_BOOL:
			t = REC_BOOL;
			break;
		case SCHEMA_DECIMAL:
		case SCHEMA_FLOAT:
			t = REC_NUM;
			break;
		case SCHEMA_JSON:
			t = REC_JSON;
			break;
		default:
			t = REC_STR;
			break;
		}
		v = row[k];
		len = lens[k];
		/*
		 * ZEROFILL pads numbers with zeros (00042), which is not JSON
		 * and not the key wtc writes for 42.
		 */
		while ((t == REC_INT || t == REC_NUM) && len > 1 &&
		    v[0] == '0' && v[1] >= '0' && v[1] <= '9') {
			v++;
			len--;
		}
		if (t == REC_BOOL)
			record_add(rec, c->name, t,
			    strcmp(v, "0") == 0 ? "0" : "1", 1);
		else
			record_add(rec, c->name, t, v, len);
		k++;
	}
	if (s->version_col >= 0 && row[k] != NULL)
		rec->version = strtoull(row[k], NULL, 10);
	record_bind(rec, s);
	return (rec);
}

int
db_get(struct db *db, const struct schema *s, const char **pk,
    const size_t *pklen, struct record **out, char **err)
{
	struct buf	 sql = BUF_INIT;
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;
	char		*what = NULL;
	size_t		 i, len;
	int		 rc = -1;

	*out = NULL;
	if (db_ready(db, err) != 0)
		goto out;
	what = xasprintf("cannot read from table '%s'", s->table);
	db_select_cols(s, &sql);
	buf_adds(&sql, " WHERE ");
	for (i = 0; i < s->npk; i++) {
		len = pklen != NULL ? pklen[i] : strlen(pk[i]);
		if (i > 0)
			buf_adds(&sql, " AND ");
		db_ident(&sql, s->cols[s->pk[i]].name);
		buf_addc(&sql, '=');
		if (s->cols[s->pk[i]].type == SCHEMA_BINARY)
			db_quote_hex(&sql, pk[i], len);
		else if (schema_is_bit(&s->cols[s->pk[i]]) && len > 0 &&
		    len <= 20 && strspn(pk[i], "0123456789") == len)
			/* Against a BIT, '5' is the byte 53: the number. */
			buf_add(&sql, pk[i], len);
		else
			db_quote(&sql, pk[i], len);
	}
	if ((res = db_select(db, &sql, what, err)) == NULL)
		goto out;
	if ((row = mysql_fetch_row(res)) == NULL) {
		rc = 0;
		goto out;
	}
	*out = db_row_record(s, row, mysql_fetch_lengths(res));
	rc = 1;
out:
	if (res != NULL)
		mysql_free_result(res);
	free(what);
	buf_release(&sql);
	return (rc);
}

void
db_init_sql(const char *database, const char *table, int table_exists,
    int has_version, struct buf *out)
{
	struct buf	 name = BUF_INIT;

	if (database != NULL) {
		buf_adds(out, "CREATE DATABASE IF NOT EXISTS ");
		db_ident(out, database);
		buf_adds(out, " CHARACTER SET utf8mb4;\n");
		db_ident(&name, database);
		buf_addc(&name, '.');
	}
	db_ident(&name, table);
	if (!table_exists) {
		buf_adds(out, "CREATE TABLE IF NOT EXISTS ");
		buf_add(out, name.data, name.len);
		buf_adds(out, " (\n"
		    "  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
		    "  `name` VARCHAR(255) NOT NULL,\n"
		    "  `age` INT NULL,\n"
		    "  `occupation` VARCHAR(255) NULL,\n"
		    "  `" SCHEMA_VERSION_COLUMN "` BIGINT UNSIGNED NOT NULL DEFAULT 0\n"
		    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n");
	} else if (!has_version) {
		buf_adds(out, "ALTER TABLE ");
		buf_add(out, name.data, name.len);
		buf_adds(out, " ADD COLUMN `" SCHEMA_VERSION_COLUMN
		    "` BIGINT UNSIGNED NOT NULL DEFAULT 0;\n");
	}
	buf_release(&name);
}

/*
 * Length of the statement at sql, up to its terminating ';' at top level
 * (outside quotes, backticks and comments) or the end.
 */
static size_t
db_statement_len(const char *sql, size_t len)
{
	size_t	 i;
	char	 q = 0;

	for (i = 0; i < len; i++) {
		if (q != 0) {
			if (sql[i] == '\\' && q != '`' && i + 1 < len)
				i++;
			else if (sql[i] == q)
				q = 0;
			continue;
		}
		switch (sql[i]) {
		case '\'':
		case '"':
		case '`':
			q = sql[i];
			break;
		case ';':
			return (i);
		case '#':
			while (i < len && sql[i] != '\n')
				i++;
			break;
		case '-':
			if (i + 2 < len && sql[i + 1] == '-' &&
			    (sql[i + 2] == ' ' || sql[i + 2] == '\t')) {
				while (i < len && sql[i] != '\n')
					i++;
			}
			break;
		case '/':
			if (i + 1 < len && sql[i + 1] == '*') {
				for (i += 2; i + 1 < len; i++)
					if (sql[i] == '*' && sql[i + 1] == '/')
						break;
				i++;
			}
			break;
		}
	}
	return (len);
}

int
db_exec(struct db *db, const char *sql, char **err)
{
	MYSQL_RES	*res;
	size_t		 len = strlen(sql), n, i;
	int		 blank;

	if (db_ready(db, err) != 0)
		return (-1);
	while (len > 0) {
		n = db_statement_len(sql, len);
		for (blank = 1, i = 0; i < n && blank; i++)
			if (strchr(" \t\r\n", sql[i]) == NULL)
				blank = 0;
		if (!blank && mysql_real_query(db->my, sql, n) != 0) {
			db_note(db);
			return (err_set(err, "mysql rejected '%.*s': %s (%u)",
			    (int)(n > 60 ? 60 : n), sql, mysql_error(db->my),
			    db->last_errno));
		}
		/* A statement that returns rows: discard them. */
		if (!blank && mysql_field_count(db->my) > 0 &&
		    (res = mysql_store_result(db->my)) != NULL)
			mysql_free_result(res);
		if (n == len)
			break;
		sql += n + 1;
		len -= n + 1;
	}
	return (0);
}

int
db_scan(struct db *db, const struct schema *s, db_row_cb *cb, void *arg,
    char **err)
{
	struct buf	 sql = BUF_INIT;
	MYSQL_RES	*res = NULL;
	MYSQL_ROW	 row;
	struct record	*rec;
	size_t		 i;
	int		 rc = -1, stop = 0;

	if (db_ready(db, err) != 0)
		goto out;
	db_select_cols(s, &sql);
	buf_adds(&sql, " ORDER BY ");
	for (i = 0; i < s->npk; i++) {
		if (i > 0)
			buf_addc(&sql, ',');
		db_ident(&sql, s->cols[s->pk[i]].name);
	}
	if (mysql_real_query(db->my, sql.data, sql.len) != 0 ||
	    (res = mysql_use_result(db->my)) == NULL) {
		db_error(db, err, "cannot scan table on mysql");
		goto out;
	}
	while (!stop && (row = mysql_fetch_row(res)) != NULL) {
		rec = db_row_record(s, row, mysql_fetch_lengths(res));
		if (cb(arg, rec) != 0)
			stop = 1;
		record_free(rec);
	}
	if (!stop && mysql_errno(db->my) != 0) {
		db_error(db, err, "cannot scan table on mysql");
		goto out;
	}
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	buf_release(&sql);
	return (rc);
}
