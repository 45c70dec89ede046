/*
 * wtc verify: compare what Redis and MySQL hold for a table, key by key,
 * field by field and version by version, and name every difference.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cmd.h"
#include "db.h"
#include "record.h"
#include "schema.h"
#include "spool.h"

static const char verify_usage[] =
"usage: wtc verify [options]\n"
"\n"
"Compare Redis and MySQL for the table: every MySQL row with the Redis hash\n"
"at its key, and every Redis key of the table with its row.  Each field is\n"
"compared as text after normalising what MySQL rewrites (numbers, dates,\n"
"sets, padding), and the versions must be equal.  Differences are printed\n"
"as:\n"
"    missing in redis: users:5\n"
"    missing in mysql: users:9\n"
"    differs: users:7 (age: redis '31', mysql '30')\n"
"followed by 'verified N keys: M differ'.  Records still waiting in the\n"
"spool make MySQL lag legitimately: verify warns when the spool is not\n"
"empty, and compares anyway.\n"
"\n"
"Options:\n"
"      --sample N        check N keys picked at random from both sides\n"
"      --ids ID,...      check only these ids (composite keys as 'a:b')\n"
"      --force           do not warn about records waiting in the spool\n"
"\n"
"Exit status: 0 Redis and MySQL agree; 1 they differ; 64 usage; 65 an id\n"
"does not fit the primary key; 69 Redis or MySQL is unreachable.\n";

enum {
	OPT_SAMPLE = OPT_FIRST_LOCAL,
	OPT_IDS,
	OPT_FORCE
};

/* Longest value shown in a report, in bytes. */
#define VERIFY_SHOW_MAX	60

struct verify {
	struct cli		*cli;
	struct cache		*cache;
	struct db		*db;
	struct schema		*s;
	const char		*prefix;
	struct buf		 keyhead;	/* "<prefix><table>:" */

	struct cache_key	*rkeys;		/* Redis keys of the table, sorted */
	size_t			 nrkeys;
	unsigned char		*seen;		/* rkeys also found in MySQL */

	struct cache_key	*sample;	/* --sample: the reservoir */
	size_t			 nsample, want;
	uint64_t		 streamed;
	uint64_t		 rng;

	uint64_t		 checked;
	uint64_t		 differ;
	char			*err;		/* a server failed: stop */
	int			 bad_id;
};

static uint64_t
verify_random(struct verify *v)
{
	/* xorshift64*: good enough to pick a sample. */
	v->rng ^= v->rng >> 12;
	v->rng ^= v->rng << 25;
	v->rng ^= v->rng >> 27;
	return (v->rng * 2685821657736338717ULL);
}

/* Order keys as bytes: a binary key may hold NUL. */
static int
verify_keycmp(const void *a, const void *b)
{
	const struct cache_key	*x = a, *y = b;
	int			 c;

	c = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
	if (c != 0)
		return (c);
	return (x->len < y->len ? -1 : x->len > y->len);
}

/* Print a key in a report: control bytes (NUL among them) as '?'. */
static void
verify_put_key(const char *key, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		putchar((unsigned char)key[i] < 0x20 ? '?' : key[i]);
}

static const struct rec_field *
verify_field(const struct record *rec, const char *name)
{
	size_t	i;

	for (i = 0; i < rec->nfields; i++) {
		if (strcmp(rec->fields[i].name, name) == 0)
			return (&rec->fields[i]);
	}
	return (NULL);
}

/* Copy s[0..len) into b without the characters in drop at its end. */
static void
verify_trim(struct buf *b, const char *s, size_t len, char drop)
{
	while (len > 0 && s[len - 1] == drop)
		len--;
	buf_add(b, s, len);
	buf_addc(b, '\0');
}

/* Date and time text as MySQL prints it: 'T' as ' ', no zero fraction. */
static void
verify_time(struct buf *b, const char *s, size_t len, int time)
{
	const char	*dot;
	size_t		 i, from = b->len;

	if (len > 0 && s[len - 1] == 'Z')
		len--;
	/* A fraction's trailing zeros, and the '.' if nothing else is left. */
	if ((dot = memchr(s, '.', len)) != NULL) {
		while (len > (size_t)(dot + 1 - s) && s[len - 1] == '0')
			len--;
		if (len == (size_t)(dot + 1 - s))
			len--;
	}
	/* A TIME's hour as MySQL writes it: 1:00:00 and 001:00:00 are 01. */
	if (time)
		record_time_hours(s, len, b);
	else
		buf_add(b, s, len);
	for (i = from; i < b->len; i++) {
		if (b->data[i] == 'T')
			b->data[i] = ' ';
	}
	buf_addc(b, '\0');
}

/* JSON text without the whitespace between tokens. */
static void
verify_json(struct buf *b, const char *s, size_t len)
{
	size_t	i;
	int	in_str = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			buf_addc(b, s[i]);
			if (s[i] == '\\' && i + 1 < len)
				buf_addc(b, s[++i]);
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
			buf_addc(b, s[i]);
		} else if (strchr(" \t\r\n", s[i]) == NULL)
			buf_addc(b, s[i]);
	}
	buf_addc(b, '\0');
}

/* True when the comma-separated sets a and b hold the same members. */
static int
verify_same_set(const char *a, size_t alen, const char *b, size_t blen)
{
	const char	*p, *e, *q, *f;
	size_t		 na = 0, nb = 0;
	int		 found;

	for (p = a; p < a + alen; p = e + 1) {
		if ((e = memchr(p, ',', (size_t)(a + alen - p))) == NULL)
			e = a + alen;
		na++;
		found = 0;
		for (q = b; q < b + blen && !found; q = f + 1) {
			if ((f = memchr(q, ',', (size_t)(b + blen - q))) == NULL)
				f = b + blen;
			found = f - q == e - p && memcmp(p, q, (size_t)(e - p)) == 0;
		}
		if (!found)
			return (0);
	}
	for (q = b; q < b + blen; q = f + 1) {
		if ((f = memchr(q, ',', (size_t)(b + blen - q))) == NULL)
			f = b + blen;
		nb++;
	}
	return (na == nb);
}

/* Numbers: equal values, within float's precision for float columns. */
static int
verify_same_number(const struct schema_column *c, const char *a, const char *b)
{
	long double	x, y, d, m;
	char		*ea, *eb;

	errno = 0;
	x = strtold(a, &ea);
	y = strtold(b, &eb);
	if (*ea != '\0' || *eb != '\0' || ea == a || eb == b)
		return (0);
	if (x == y)
		return (1);
	if (c->type != SCHEMA_FLOAT)
		return (0);
	d = x > y ? x - y : y - x;
	m = x < 0 ? -x : x;
	if ((y < 0 ? -y : y) > m)
		m = y < 0 ? -y : y;
	/*
	 * MySQL prints a FLOAT with 6 significant digits: half a unit of
	 * the 6th is up to 5e-6 of the value, plus the float's own rounding.
	 */
	return (d <= m * (strncmp(c->sql_type, "float", 5) == 0 ? 6e-6L :
	    1e-14L));
}

static int
verify_same(const struct schema_column *c, const char *a, size_t alen,
    const char *b, size_t blen)
{
	struct buf	x = BUF_INIT, y = BUF_INIT;
	int		same;

	if (alen == blen && memcmp(a, b, alen) == 0)
		return (1);
	switch (c->type) {
	case SCHEMA_INT:
	case SCHEMA_YEAR:
	case SCHEMA_DECIMAL:
	case SCHEMA_FLOAT:
		verify_trim(&x, a, alen, '\0');
		verify_trim(&y, b, blen, '\0');
		same = verify_same_number(c, x.data, y.data);
		break;
	case SCHEMA_BOOL:
		same = (alen == 1 && *a == '0') == (blen == 1 && *b == '0') &&
		    (alen == 0) == (blen == 0);
		break;
	case SCHEMA_DATE:
	case SCHEMA_DATETIME:
	case SCHEMA_TIME:
		verify_time(&x, a, alen, c->type == SCHEMA_TIME);
		verify_time(&y, b, blen, c->type == SCHEMA_TIME);
		same = strcmp(x.data, y.data) == 0;
		break;
	case SCHEMA_SET:
		same = verify_same_set(a, alen, b, blen);
		break;
	case SCHEMA_STRING:
	case SCHEMA_BINARY:
		/* char(n) loses trailing spaces, binary(n) gains NUL padding. */
		if (strncmp(c->sql_type, "char(", 5) != 0 &&
		    strncmp(c->sql_type, "binary(", 7) != 0) {
			same = 0;
			break;
		}
		verify_trim(&x, a, alen, c->type == SCHEMA_STRING ? ' ' : '\0');
		verify_trim(&y, b, blen, c->type == SCHEMA_STRING ? ' ' : '\0');
		same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
		break;
	case SCHEMA_JSON:
		verify_json(&x, a, alen);
		verify_json(&y, b, blen);
		same = strcmp(x.data, y.data) == 0;
		break;
	case SCHEMA_OTHER:
		/* INET6: MariaDB writes '0:0::1' back as '::1'. */
		same = strcmp(c->sql_type, "inet6") == 0 &&
		    record_inet6_canon(a, alen, &x) == 0 &&
		    record_inet6_canon(b, blen, &y) == 0 &&
		    strcmp(x.data, y.data) == 0;
		break;
	default:
		same = 0;
		break;
	}
	buf_release(&x);
	buf_release(&y);
	return (same);
}

/* Append a value for a report: quoted, shortened, control bytes as '?'. */
static void
verify_show(struct buf *b, const struct rec_field *f)
{
	size_t	i, n;

	if (f == NULL) {
		buf_adds(b, "(none)");
		return;
	}
	if (f->type == REC_NULL) {
		buf_adds(b, "NULL");
		return;
	}
	n = f->len > VERIFY_SHOW_MAX ? VERIFY_SHOW_MAX : f->len;
	/* Do not cut a UTF-8 sequence in two. */
	while (n < f->len && n > 0 && ((unsigned char)f->val[n] & 0xc0) == 0x80)
		n--;
	buf_addc(b, '\'');
	for (i = 0; i < n; i++)
		buf_addc(b, (unsigned char)f->val[i] < 0x20 ? '?' : f->val[i]);
	buf_adds(b, n < f->len ? "...'" : "'");
}

/*
 * A key of the table that holds no hash (a stray SET, say): a difference,
 * not a reason to stop (it was exit 69, and the keys after it unchecked).
 */
static void
verify_not_hash(struct verify *v, const char *key, size_t keylen)
{
	v->checked++;
	v->differ++;
	if (!v->cli->quiet) {
		printf("not a hash in redis: ");
		verify_put_key(key, keylen);
		putchar('\n');
	}
	free(v->err);
	v->err = NULL;
}

/* Compare one key's two sides (either may be NULL) and report. */
static void
verify_compare(struct verify *v, const char *key, size_t keylen,
    const struct record *r, const struct record *m)
{
	const struct schema_column	*c;
	const struct rec_field		*rf, *mf;
	struct buf			 d = BUF_INIT;
	size_t				 i;
	int				 rnull, mnull;

	if (r == NULL && m == NULL)
		return;
	v->checked++;
	if (r == NULL || m == NULL) {
		v->differ++;
		if (!v->cli->quiet) {
			printf("missing in %s: ", r == NULL ? "redis" : "mysql");
			verify_put_key(key, keylen);
			putchar('\n');
		}
		return;
	}
	for (i = 0; i < v->s->ncols; i++) {
		c = &v->s->cols[i];
		if ((int)i == v->s->version_col)
			continue;
		rf = verify_field(r, c->name);
		mf = verify_field(m, c->name);
		rnull = rf == NULL || rf->type == REC_NULL;
		mnull = mf == NULL || mf->type == REC_NULL;
		if (rnull && mnull)
			continue;
		/*
		 * Redis leaves out the fields a record did not carry, MySQL
		 * gives them their default (nullable columns too: DEFAULT
		 * 'new', CURRENT_TIMESTAMP), which the schema does not tell.
		 */
		if (rf == NULL && !mnull && (c->has_default || c->generated ||
		    c->auto_increment))
			continue;
		if (!rnull && !mnull &&
		    verify_same(c, rf->val, rf->len, mf->val, mf->len))
			continue;
		buf_adds(&d, d.len > 0 ? "; " : "");
		buf_printf(&d, "%s: redis ", c->name);
		verify_show(&d, rf);
		buf_adds(&d, ", mysql ");
		verify_show(&d, mf);
	}
	if (r->version != m->version) {
		buf_adds(&d, d.len > 0 ? "; " : "");
		buf_printf(&d, "%s: redis '%llu', mysql '%llu'",
		    SCHEMA_VERSION_COLUMN, (unsigned long long)r->version,
		    (unsigned long long)m->version);
	}
	if (d.len > 0) {
		v->differ++;
		if (!v->cli->quiet) {
			fputs("differs: ", stdout);
			verify_put_key(key, keylen);
			printf(" (%s)\n", d.data);
		}
	}
	buf_release(&d);
}

/*
 * The primary key values in the len bytes of key (which must start with
 * keyhead), split in place in copy, with their lengths.  Returns 0, or -1
 * with *err when key does not fit.
 */
static int
verify_key_pk(struct verify *v, const char *key, size_t len, char **copy,
    const char ***pk, size_t **pklen, char **err)
{
	char	*why = NULL;
	size_t	 i, n;
	int	 bad;

	*copy = NULL;
	*pk = NULL;
	*pklen = NULL;
	if (len < v->keyhead.len ||
	    memcmp(key, v->keyhead.data, v->keyhead.len) != 0)
		return (err_set(err, "key '%s' is not in table '%s'", key,
		    v->s->table));
	n = len - v->keyhead.len;
	*copy = xmalloc(n + 1);
	memcpy(*copy, key + v->keyhead.len, n);
	(*copy)[n] = '\0';
	*pk = xcalloc(v->s->npk + 1, sizeof **pk);
	*pklen = xcalloc(v->s->npk + 1, sizeof **pklen);
	if (record_key_split(*copy, n, v->s->npk, *pk, *pklen, &why) != 0) {
		err_set(err, "key '%s' %s", key, why);
		free(why);
		return (-1);
	}
	/* Only a binary value can hold a NUL. */
	for (i = 0; i < v->s->npk; i++) {
		if (v->s->cols[v->s->pk[i]].type != SCHEMA_BINARY &&
		    strlen((*pk)[i]) != (*pklen)[i])
			return (err_set(err, "key '%s' has a NUL byte in its "
			    "value for column '%s'", key,
			    v->s->cols[v->s->pk[i]].name));
	}
	if ((bad = schema_pk_check(v->s, *pk)) >= 0)
		return (err_set(err, "key '%s': '%s' is not %s as wtc writes it "
		    "for column '%s'", key, (*pk)[bad],
		    v->s->cols[v->s->pk[bad]].type == SCHEMA_BOOL ? "0 or 1" :
		    "an integer", v->s->cols[v->s->pk[bad]].name));
	return (0);
}

/*
 * Append the key of an id given by the user: its values as wtc writes them,
 * whatever escapes the id spelt; the id as it is when it does not split.
 */
static void
verify_id_key(struct verify *v, const char *id, size_t len, struct buf *key)
{
	const char	**pk;
	char		*copy, *err = NULL;

	copy = xstrndup(id, len);
	pk = xcalloc(v->s->npk + 1, sizeof *pk);
	if (record_key_split(copy, strlen(copy), v->s->npk, pk, NULL,
	    &err) != 0 || schema_pk_canon(v->s, pk) >= 0) {
		buf_add(key, id, len);	/* verify_key says what is wrong */
		free(err);
	} else
		record_key_values(key, v->s, pk, NULL);
	free(pk);
	free(copy);
}

/* Check one key by reading both sides.  0, or -1 with v->err set. */
static int
verify_key(struct verify *v, const char *key, size_t len, int from_user)
{
	struct record	*r = NULL, *m = NULL;
	const char	**pk = NULL;
	size_t		*pklen = NULL;
	char		*copy = NULL, *err = NULL;
	int		 rc = -1, got;

	if ((got = cache_get(v->cache, v->s, key, len, &r, &v->err)) == -2) {
		verify_not_hash(v, key, len);
		rc = 0;
		goto out;
	}
	if (got == -1)
		goto out;
	if (verify_key_pk(v, key, len, &copy, &pk, &pklen, &err) != 0) {
		/* Not a key wtc could have written: MySQL cannot hold it. */
		if (from_user) {
			cli_error(v->cli, "%s", err);
			v->bad_id = 1;
			rc = 0;
			goto out;
		}
	} else if (db_get(v->db, v->s, pk, pklen, &m, &v->err) == -1)
		goto out;
	if (r == NULL && m == NULL && from_user)
		cli_error(v->cli, "warning: no record at '%s' in redis or mysql",
		    key);
	verify_compare(v, key, len, r, m);
	rc = 0;
out:
	free(err);
	free(copy);
	free(pk);
	free(pklen);
	record_free(r);
	record_free(m);
	return (rc);
}

/* Add a key to the --sample reservoir (copying it). */
static void
verify_reservoir(struct verify *v, const char *key, size_t len)
{
	struct cache_key	*k;
	uint64_t		 j;

	v->streamed++;
	if (v->nsample < v->want)
		k = &v->sample[v->nsample++];
	else if ((j = verify_random(v) % v->streamed) < v->want) {
		k = &v->sample[j];
		free(k->data);
	} else
		return;
	k->data = xmalloc(len + 1);
	memcpy(k->data, key, len);
	k->data[len] = '\0';
	k->len = len;
}

/* db_scan callback: a MySQL row. */
static int
verify_row(void *arg, struct record *m)
{
	struct verify	*v = arg;
	struct record	*r = NULL;
	struct buf		 key = BUF_INIT;
	struct cache_key	 look, *hit;
	int			 rc = -1, got;

	if (record_key(m, v->s, v->prefix, &key, &v->err) != 0)
		goto out;
	look.data = key.data;
	look.len = key.len;
	hit = bsearch(&look, v->rkeys, v->nrkeys, sizeof *v->rkeys,
	    verify_keycmp);
	if (v->want > 0) {
		/* A key Redis also holds is in the reservoir's stream already. */
		if (hit == NULL)
			verify_reservoir(v, key.data, key.len);
		rc = 0;
		goto out;
	}
	if (hit != NULL)
		v->seen[hit - v->rkeys] = 1;
	if ((got = cache_get(v->cache, v->s, key.data, key.len, &r,
	    &v->err)) == -2) {
		verify_not_hash(v, key.data, key.len);
		rc = 0;
		goto out;
	}
	if (got == -1)
		goto out;
	verify_compare(v, key.data, key.len, r, m);
	rc = 0;
out:
	record_free(r);
	buf_release(&key);
	return (rc);
}

/* Every Redis key of the table, sorted and without duplicates. */
static int
verify_scan_redis(struct verify *v)
{
	struct buf	counter = BUF_INIT;
	uint64_t	cursor = 0;
	size_t		i, n;
	int		rc = -1;

	do {
		if (cache_scan(v->cache, v->prefix, v->s->table, &cursor,
		    &v->rkeys, &v->nrkeys, &v->err) != 0)
			goto out;
	} while (cursor != 0);
	if (v->nrkeys > 0)
		qsort(v->rkeys, v->nrkeys, sizeof *v->rkeys, verify_keycmp);
	/* SCAN may return a key twice; the id counter is not a record. */
	buf_printf(&counter, "%swtc:next-id:", v->prefix);
	for (i = n = 0; i < v->nrkeys; i++) {
		if ((n > 0 && verify_keycmp(&v->rkeys[i],
		    &v->rkeys[n - 1]) == 0) || (v->rkeys[i].len >= counter.len &&
		    memcmp(v->rkeys[i].data, counter.data, counter.len) == 0)) {
			free(v->rkeys[i].data);
			continue;
		}
		v->rkeys[n++] = v->rkeys[i];
	}
	v->nrkeys = n;
	v->seen = xcalloc(n + 1, 1);
	rc = 0;
out:
	buf_release(&counter);
	return (rc);
}

static int
verify_all(struct verify *v)
{
	size_t	i;

	if (verify_scan_redis(v) != 0)
		return (-1);
	if (v->want > 0) {
		v->sample = xcalloc(v->want, sizeof *v->sample);
		for (i = 0; i < v->nrkeys; i++)
			verify_reservoir(v, v->rkeys[i].data, v->rkeys[i].len);
	}
	if (db_scan(v->db, v->s, verify_row, v, &v->err) != 0 || v->err != NULL)
		return (-1);
	if (v->want > 0) {
		/* Both sides streamed: dedupe the reservoir, check it. */
		if (v->nsample > 0)
			qsort(v->sample, v->nsample, sizeof *v->sample,
			    verify_keycmp);
		for (i = 0; i < v->nsample; i++) {
			if (i > 0 && verify_keycmp(&v->sample[i],
			    &v->sample[i - 1]) == 0)
				continue;
			if (verify_key(v, v->sample[i].data, v->sample[i].len,
			    0) != 0)
				return (-1);
		}
		return (0);
	}
	/* Redis keys MySQL did not have during its scan: look again. */
	for (i = 0; i < v->nrkeys; i++) {
		if (!v->seen[i] && verify_key(v, v->rkeys[i].data,
		    v->rkeys[i].len, 0) != 0)
			return (-1);
	}
	return (0);
}

static int
verify_ids(struct verify *v, const char *list)
{
	struct buf	 key = BUF_INIT;
	const char	*p, *e;
	int		 rc = 0;

	for (p = list; rc == 0 && *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (e == p)
			continue;
		buf_reset(&key);
		buf_add(&key, v->keyhead.data, v->keyhead.len);
		verify_id_key(v, p, (size_t)(e - p), &key);
		rc = verify_key(v, key.data, key.len, 1);
	}
	buf_release(&key);
	return (rc);
}

static int
verify_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "ids", required_argument, NULL, OPT_IDS },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_verify;
	struct verify		 v;
	struct redis_addr	 raddr;
	struct mysql_addr	 maddr;
	struct spool_stats	 st;
	const char		*ids = NULL;
	char			*err = NULL, *end;
	unsigned long long	 n;
	int			 ch, rc, force = 0, have_r = 0, have_m = 0;
	size_t			 i;

	memset(&v, 0, sizeof v);
	v.cli = cli;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:qv", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_SAMPLE:
			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '-' ||
			    n == 0 || n > 100000000ULL)
				return (cli_usage_error(cli, "invalid value '%s' "
				    "for --sample", optarg));
			v.want = (size_t)n;
			break;
		case OPT_IDS:
			if (optarg[strspn(optarg, ",")] == '\0')
				return (cli_usage_error(cli, "--ids needs at "
				    "least one id"));
			ids = optarg;
			break;
		case OPT_FORCE:
			force = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_verify, ch, optarg)) > 1)
				return (rc);
		}
	}
	if (optind != argc)
		return (cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]));
	if (ids != NULL && v.want > 0)
		return (cli_usage_error(cli, "--ids and --sample do not go "
		    "together"));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
	v.prefix = cli->cfg.prefix != NULL ? cli->cfg.prefix : "";
	v.rng = (now_us_real() ^ ((uint64_t)getpid() << 32)) | 1;
	buf_printf(&v.keyhead, "%s%s:", v.prefix, cli->cfg.table);

	/* Records still in the spool are not in MySQL yet. */
	if (!force && spool_stat(cli->cfg.spool_dir, &st, NULL, &err) == 0 &&
	    st.records > 0)
		cli_error(cli, "warning: %llu record%s still waiting to be "
		    "drained; run 'wtc drain --once' first (comparing anyway: "
		    "MySQL may lag behind)", (unsigned long long)st.records,
		    st.records == 1 ? " is" : "s are");
	free(err);
	err = NULL;

	if (config_redis_addr(&cli->cfg, &raddr, &err) != 0) {
		cli_error(cli, "%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	have_r = 1;
	if (config_mysql_addr(&cli->cfg, &maddr, &err) != 0) {
		cli_error(cli, "%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	have_m = 1;
	rc = EXIT_UNAVAILABLE;
	if ((v.cache = cache_connect(&raddr, 5000, &err)) == NULL ||
	    (v.db = db_connect(&maddr, 5, &err)) == NULL ||
	    db_load_schema(v.db, cli->cfg.table, &v.s, &err) != 0) {
		cli_error(cli, "%s", err);
		goto out;
	}
	if (v.s == NULL) {
		cli_error(cli, "no table '%s' in mysql (run 'wtc init')",
		    cli->cfg.table);
		goto out;
	}
	if ((ids != NULL ? verify_ids(&v, ids) : verify_all(&v)) != 0) {
		cli_error(cli, "%s", v.err != NULL ? v.err : "verify failed");
		goto out;
	}
	if (!cli->quiet)
		printf("verified %llu key%s: %llu differ\n",
		    (unsigned long long)v.checked, v.checked == 1 ? "" : "s",
		    (unsigned long long)v.differ);
	if (fflush(stdout) != 0) {
		cli_error(cli, "cannot write to standard output");
		rc = EXIT_IOERR;
		goto out;
	}
	rc = v.differ > 0 ? EXIT_DIFFERENT : v.bad_id ? EXIT_DATA : 0;
out:
	free(err);
	free(v.err);
	for (i = 0; i < v.nrkeys; i++)
		free(v.rkeys[i].data);
	free(v.rkeys);
	free(v.seen);
	for (i = 0; i < v.nsample; i++)
		free(v.sample[i].data);
	free(v.sample);
	buf_release(&v.keyhead);
	schema_free(v.s);
	db_free(v.db);
	cache_free(v.cache);
	if (have_m)
		config_mysql_addr_release(&maddr);
	if (have_r)
		config_redis_addr_release(&raddr);
	return (rc);
}

const struct cmd cmd_verify = {
	"verify",
	"compare Redis and MySQL for the table and report differences",
	verify_usage,
	verify_run
};
