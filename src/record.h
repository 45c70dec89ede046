/*
 * Records: one row's worth of named scalar values.
 *
 * record_parse validates one JSON object against a schema with wtc's own
 * strict parser (exact 64-bit integers, no silent truncation at \u0000,
 * duplicate keys and invalid UTF-8 rejected) and yields fields in schema
 * column order.  record_encode / record_decode are the spool payload, a
 * compact binary form that keeps table, version and fields by name.
 * record_to_json renders a record as a JSON object.  None of these do I/O.
 *
 * A record owns all its memory; record_free accepts NULL.  Error messages
 * say what is wrong with the record, not where it came from: callers prefix
 * FILE:LINE.  Where a message gives "at byte N", N is the 0-based offset in
 * the text passed to record_parse (a BOM included).  The first problem met
 * in one left-to-right pass is reported; missing fields come after syntax.
 *
 * Stored forms: integers in canonical decimal ("-0" becomes "0"); other
 * numbers as written; datetimes with 'T' turned into ' ' (the form the
 * server returns).  In a binary column a \u0000..\u00ff escape stands for
 * that single byte, so that record_to_json's output of binary data (bytes
 * that are not valid UTF-8 become \u00XX, valid UTF-8 is kept) parses back
 * to the same bytes.  Duplicate keys inside a JSON column's value are not
 * checked.
 */
#ifndef WTC_RECORD_H
#define WTC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "util.h"

enum rec_type {
	REC_NULL = 0,	/* JSON null: val is "" */
	REC_INT = 1,	/* canonical decimal integer text, e.g. "-42" */
	REC_NUM = 2,	/* any other JSON number, as written */
	REC_STR = 3,	/* unescaped UTF-8 (or bytes for binary columns); may hold NUL: use len */
	REC_BOOL = 4,	/* "1" or "0" */
	REC_JSON = 5	/* a JSON object or array, as compact JSON text */
};

struct rec_field {
	const char	*name;	/* NUL-terminated, owned by the record */
	const char	*val;	/* NUL-terminated after len bytes, owned by the record */
	size_t		 len;
	enum rec_type	 type;
	int		 col;	/* schema column index, or -1 when not bound */
};

struct record {
	char		*table;
	uint64_t	 version;	/* 0 until the cache stamps it */
	size_t		 nfields;
	struct rec_field *fields;
	int		 id_field;	/* index in fields of the schema's id column, or -1 */
	unsigned	 flags;		/* RECORD_* */
	void		*priv;		/* storage; do not touch */
};

/*
 * The id was just allocated from the Redis counter: no other writer can
 * hold this key, so the cache may write it without checking versions.
 */
#define RECORD_FRESH_ID	0x1
#define RECORD_REJECTED	0x2	/* the drain dead-lettered it */
#define RECORD_OWN_VERSION 0x4	/* ingest keeps its version (a retry) */

/* Maximum depth of nested JSON accepted in a JSON column. */
#define RECORD_MAX_DEPTH 64

/*
 * Parse and validate one JSON object.  On success *out is a record bound to
 * the schema (fields in column order, col set).  If the schema has an
 * integer id column that the object does not carry, the record still gets a
 * field for it, of type REC_NULL, at id_field: the caller must give it an id
 * with record_set_id before the record is stored.  Returns 0, or -1 with *err
 * (e.g. "field 'age' must be an integer, not a string").
 */
int		 record_parse(const char *json, size_t len, const struct schema *,
		    struct record **out, char **err);

/*
 * Whether the text starts as a record does (a BOM, blanks, then '{'):
 * returns 0, or -1 with *err, the error record_parse gives it whatever the
 * schema.
 */
int		 record_lead_check(const char *json, size_t len, char **err);

/*
 * Set the id column's value (an integer) in place.  A bound record that
 * lacks the field gets it, in column order; without a known id column
 * (never bound, or the schema has none) this does nothing.
 */
void		 record_set_id(struct record *, uint64_t id);

/* True when the record's id field is present and not REC_NULL. */
int		 record_has_id(const struct record *);

/*
 * The largest id that recs[0..n-1] bring themselves (not those wtc gave
 * them: RECORD_FRESH_ID, which the counter is past already), or 0 when
 * none does.  Ids above INT64_MAX do not count: wtc never hands them out
 * (Redis counters are signed), so no counter needs to pass them.
 */
uint64_t	 record_max_id(struct record *const *recs, size_t n);

/*
 * Append the record's key to out: prefix, table, ':', then the primary key
 * values joined by ':'.  Returns -1 with *err when a key column is missing
 * or NULL.
 *
 * The one value of a single-column key goes as it is.  The values of a
 * composite key have their '%' and ':' written as %25 and %3A, so that
 * ("a:b", "c") and ("a", "b:c") do not share a key.
 */
int		 record_key(const struct record *, const struct schema *,
		    const char *prefix, struct buf *out, char **err);

/*
 * Append the INET6 address in [s, s+len) to out as MariaDB writes it back
 * (lower case, the first longest run of zero groups as "::", IPv4-mapped
 * and -compatible addresses dotted); 0, or -1 if it is not an address.
 */
int		 record_inet6_canon(const char *s, size_t len, struct buf *out);

/*
 * Append the TIME in [s, s+len) with its hour as MySQL writes it: two
 * digits at least, no more leading zeros, no '-' on a time of zero.
 */
void		 record_time_hours(const char *s, size_t len, struct buf *out);

/*
 * Append the primary key values pk as record_key writes them: pklen[i]
 * bytes of each (a binary value may hold NUL), or C strings if pklen is
 * NULL.
 */
void		 record_key_values(struct buf *out, const struct schema *,
		    const char **pk, const size_t *pklen);

/*
 * Split the key values part of a key (what follows "<prefix><table>:"),
 * len bytes at s, into its npk values, in place, undoing record_key_values;
 * pk gets npk pointers, each value NUL-terminated, and pklen (unless NULL)
 * their lengths.  %HH escapes are read in any case.  Returns 0, or -1 with
 * *err when there are not npk values or an escape is malformed.
 */
int		 record_key_split(char *s, size_t len, size_t npk,
		    const char **pk, size_t *pklen, char **err);

/* Spool payload form. */
void		 record_encode(const struct record *, struct buf *out);
/*
 * Encode n records one after the other into out (reset first); p[i] and
 * len[i] locate each, valid until out changes (for spool_appendv).
 */
void		 record_encode_all(struct record *const *, size_t n,
		    struct buf *out, const void **p, size_t *len);
int		 record_decode(const void *, size_t, struct record **out, char **err);
/*
 * The time in a version (µs since the epoch: put stamps µs << 12 | tag, a
 * row from MySQL may hold plain µs), 0 when it is neither.
 */
uint64_t	 record_version_us(uint64_t version);
/* The time of an encoded record's version, 0 if unknown (a spool_time_fn). */
uint64_t	 record_written_us(const void *, size_t);

/* Bind a decoded record's fields to schema columns by name (sets col; -1 if absent). */
void		 record_bind(struct record *, const struct schema *);

/* Render as a compact JSON object (fields in record order; no version). */
void		 record_to_json(const struct record *, struct buf *out);

/* Build a record from already-typed fields (the cache and db modules use it). */
struct record	*record_new(const char *table);
void		 record_add(struct record *, const char *name, enum rec_type,
		    const char *val, size_t len);

void		 record_free(struct record *);

/*
 * Append s as a JSON string literal (quotes included, escaped) to out:
 * '"' and '\\' escaped, control characters as \n \r \t \b \f or \u00XX
 * (NUL as \u0000), valid UTF-8 kept as is, any other byte as \u00XX.
 */
void		 json_quote(struct buf *out, const char *s, size_t len);

#endif
