/*
 * wtc get: read records by id the way a read-through cache does: from
 * Redis, and on a miss from MySQL, filling Redis with what MySQL held.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cmd.h"
#include "db.h"
#include "record.h"
#include "schema.h"
#include "spool.h"

static const char get_usage[] =
"usage: wtc get [options] ID...\n"
"\n"
"Print the records with the given ids, reading through the cache: each one\n"
"comes from Redis, or when Redis does not hold it from MySQL, and is then\n"
"stored in Redis.  A composite primary key is given as its values joined by\n"
"':' (e.g. 'eu:42'), a ':' or '%' inside a value written %3A or %25.\n"
"Records are printed as 'field: value' lines with a blank line between\n"
"them; NULL fields are left out.  When Redis is unreachable, the records\n"
"are read from MySQL with a warning (MySQL may lag behind the spool).\n"
"\n"
"Options:\n"
"      --json            print each record as one JSON object per line\n"
"\n"
"Exit status: 0 every record was found; 1 some id has no record; 64 usage;\n"
"65 an id does not fit the primary key; 69 a server is unreachable.\n";

enum { OPT_JSON = OPT_FIRST_LOCAL };

struct get_state {
	struct cli	*cli;
	struct cache	*cache;		/* NULL when Redis is unreachable */
	struct db	*db;		/* NULL when MySQL is unreachable */
	struct schema	*schema;	/* NULL when MySQL is unreachable */
	char		*db_err;	/* why db is NULL */
	int		 json;
	int		 printed;
	unsigned	 fill_ttl;	/* for copies of MySQL's rows, 0: none */
};

/*
 * Split id into the schema's primary key values (in place: id is a copy).
 * Returns 0, or -1 with *err.
 */
static int
get_split_id(const struct schema *s, const char *id, char *copy,
    const char **pk, char **err)
{
	char	*why = NULL;
	int	 i;

	if (record_key_split(copy, strlen(copy), s->npk, pk, NULL, &why) != 0) {
		err_set(err, "id '%s' %s for table '%s'", id, why, s->table);
		free(why);
		return (-1);
	}
	if ((i = schema_pk_canon(s, pk)) >= 0)
		return (err_set(err, "id value '%s' for column '%s' is not %s",
		    pk[i], s->cols[s->pk[i]].name,
		    s->cols[s->pk[i]].type == SCHEMA_BOOL ? "0, 1, true or false" :
		    "an integer of 1 to 20 digits"));
	return (0);
}

/* A copy of rec without its NULL fields, so that both sources print alike. */
static struct record *
get_visible(const struct record *rec)
{
	struct record	*out;
	size_t		 i;

	out = record_new(rec->table);
	out->version = rec->version;
	for (i = 0; i < rec->nfields; i++) {
		if (rec->fields[i].type == REC_NULL)
			continue;
		record_add(out, rec->fields[i].name, rec->fields[i].type,
		    rec->fields[i].val, rec->fields[i].len);
	}
	return (out);
}

static void
get_print(struct get_state *gs, const struct record *rec)
{
	struct buf	 b = BUF_INIT;
	struct record	*vis;
	size_t		 i;

	vis = get_visible(rec);
	if (gs->json) {
		record_to_json(vis, &b);
		buf_addc(&b, '\n');
	} else {
		if (gs->printed)
			buf_addc(&b, '\n');
		for (i = 0; i < vis->nfields; i++) {
			buf_printf(&b, "%s: ", vis->fields[i].name);
			buf_add(&b, vis->fields[i].val, vis->fields[i].len);
			buf_addc(&b, '\n');
		}
	}
	fwrite(b.data, 1, b.len, stdout);
	gs->printed = 1;
	buf_release(&b);
	record_free(vis);
}

/* One id: 0 printed, EXIT_DIFFERENT missing, or another exit status. */
static int
get_one(struct get_state *gs, const char *id)
{
	struct buf	 key = BUF_INIT;
	struct record	*rec = NULL;
	const char	**pk = NULL;
	char		*err = NULL, *copy = NULL;
	const char	*table = gs->cli->cfg.table;
	int		 rc, r;

	buf_printf(&key, "%s%s:", gs->cli->cfg.prefix != NULL ?
	    gs->cli->cfg.prefix : "", table);
	if (gs->schema != NULL) {
		copy = xstrdup(id);
		pk = xcalloc(gs->schema->npk + 1, sizeof *pk);
		if (get_split_id(gs->schema, id, copy, pk, &err) != 0) {
			cli_error(gs->cli, "%s", err);
			rc = EXIT_DATA;
			goto out;
		}
		/* The key as wtc writes it, whatever escapes id spelt. */
		record_key_values(&key, gs->schema, pk, NULL);
	} else
		buf_adds(&key, id);
	if (gs->cache != NULL) {
		r = cache_get(gs->cache, gs->schema, key.data, key.len, &rec,
		    &err);
		if (r == 1) {
			get_print(gs, rec);
			rc = 0;
			goto out;
		}
		if (r < 0) {
			cli_error(gs->cli, "%s", err);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
	}
	if (gs->db == NULL) {
		cli_error(gs->cli, "cannot read '%s' from mysql: %s", key.data,
		    gs->db_err);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if ((r = db_get(gs->db, gs->schema, pk, NULL, &rec, &err)) == -1) {
		cli_error(gs->cli, "%s", err);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (r == 0) {
		cli_error(gs->cli, "no record with id %s in '%s'", id, table);
		rc = EXIT_DIFFERENT;
		goto out;
	}
	get_print(gs, rec);
	if (gs->cache != NULL && cache_fill(gs->cache, gs->schema,
	    gs->cli->cfg.prefix != NULL ? gs->cli->cfg.prefix : "", rec,
	    gs->fill_ttl, &err) != 0) {
		cli_error(gs->cli, "warning: cannot fill '%s' in redis: %s",
		    key.data, err);
		free(err);
		err = NULL;
	}
	rc = 0;
out:
	free(err);
	free(pk);
	free(copy);
	record_free(rec);
	buf_release(&key);
	return (rc);
}

static int
get_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_get;
	struct get_state	 gs;
	struct spool_stats	 st;
	struct redis_addr	 raddr;
	struct mysql_addr	 maddr;
	char			*err = NULL;
	int			 ch, rc, r, i, have_r = 0, have_m = 0;

	memset(&gs, 0, sizeof gs);
	gs.cli = cli;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":qv", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			gs.json = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_get, ch, optarg)) > 1)
				return (rc);
		}
	}
	if (optind == argc)
		return (cli_usage_error(cli, "no ids given"));
	for (i = optind; i < argc; i++) {
		if (argv[i][0] == '\0')
			return (cli_usage_error(cli, "empty id"));
	}
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
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

	if ((gs.db = db_connect(&maddr, 5, &gs.db_err)) != NULL) {
		if (db_load_schema(gs.db, cli->cfg.table, &gs.schema, &err) != 0) {
			cli_error(cli, "%s", err);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
		if (gs.schema == NULL) {
			cli_error(cli, "no table '%s' in mysql (run 'wtc init')",
			    cli->cfg.table);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
	}
	if ((gs.cache = cache_connect(&raddr, 5000, &err)) == NULL) {
		if (gs.db == NULL) {
			cli_error(cli, "%s", err);
			cli_error(cli, "%s", gs.db_err);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
		cli_error(cli, "warning: %s; reading from mysql, which may lag "
		    "behind the spool", err);
		free(err);
		err = NULL;
	}

	/*
	 * Counted before MySQL is read: a row read while the spool holds
	 * records may be older than one of them, and is filled into Redis
	 * for CACHE_FILL_TTL seconds only (see cache_fill).
	 */
	memset(&st, 0, sizeof st);
	if (spool_stat(cli->cfg.spool_dir, &st, NULL, &err) != 0 || st.records > 0)
		gs.fill_ttl = CACHE_FILL_TTL;
	free(err);
	err = NULL;

	rc = 0;
	for (i = optind; i < argc; i++) {
		r = get_one(&gs, argv[i]);
		/* The worst outcome wins: unavailable or bad id over missing. */
		if (r > rc)
			rc = r;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error(cli, "cannot write to standard output");
		rc = EXIT_IOERR;
	}
out:
	free(err);
	free(gs.db_err);
	cache_free(gs.cache);
	schema_free(gs.schema);
	db_free(gs.db);
	if (have_m)
		config_mysql_addr_release(&maddr);
	if (have_r)
		config_redis_addr_release(&raddr);
	return (rc);
}

const struct cmd cmd_get = {
	"get",
	"print records by id, from Redis or else MySQL (read-through)",
	get_usage,
	get_run
};
