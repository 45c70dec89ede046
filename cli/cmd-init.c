/*
 * wtc init: create the database, the default table and the version column
 * wtc needs, whatever of those is missing.  Idempotent.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "db.h"
#include "schema.h"

static const char init_usage[] =
"usage: wtc init [options]\n"
"\n"
"Create what wtc needs in MySQL, if it is missing: the database named in the\n"
"MySQL URL, the table (with the default users layout: id, name, age,\n"
"occupation) and, in an existing table, the _wtc_version column that the\n"
"drain's version guard uses.  Running it again changes nothing.\n"
"\n"
"Options:\n"
"  -n, --dry-run         print the SQL that would run, and run nothing\n";

enum { OPT_DRY_RUN = OPT_FIRST_LOCAL };

static int
init_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_init;
	struct mysql_addr	 addr, bare;
	struct db		*db = NULL;
	struct schema		*schema = NULL;
	struct buf		 sql = BUF_INIT;
	char			*err = NULL, *database;
	int			 ch, rc, dry_run = 0, db_exists = 1;
	int			 table_exists = 0, has_version = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:nqv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			dry_run = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_init, ch, optarg)) > 1)
				return (rc);
		}
	}
	if (optind != argc)
		return (cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
	if (config_mysql_addr(&cli->cfg, &addr, &err) != 0) {
		cli_error(cli, "%s", err);
		free(err);
		return (EXIT_USAGE);
	}
	if ((database = addr.database) == NULL) {
		err = config_url_redact(cli->cfg.mysql_url);
		cli_error(cli, "the mysql url '%s' names no database", err);
		free(err);
		err = NULL;
		config_mysql_addr_release(&addr);
		return (EXIT_USAGE);
	}

	/* What is there already? */
	if ((db = db_connect(&addr, 5, &err)) == NULL) {
		if (strstr(err, "(1049)") == NULL) {
			cli_error(cli, "%s", err);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
		free(err);
		err = NULL;
		db_exists = 0;
	} else {
		if (db_load_schema(db, cli->cfg.table, &schema, &err) != 0) {
			cli_error(cli, "%s", err);
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
		if (schema != NULL) {
			table_exists = 1;
			has_version = schema->version_col >= 0;
		}
		db_free(db);
		db = NULL;
	}
	if (db_exists && table_exists && has_version) {
		if (dry_run)
			printf("-- nothing to do: '%s.%s' is ready\n", database,
			    cli->cfg.table);
		else
			cli_info(cli, "nothing to do: table '%s.%s' is ready",
			    database, cli->cfg.table);
		rc = 0;
		goto out;
	}
	db_init_sql(database, cli->cfg.table, table_exists, has_version, &sql);
	if (dry_run) {
		fputs(sql.data, stdout);
		rc = 0;
		goto out;
	}

	bare = addr;
	bare.database = NULL;
	if ((db = db_connect(&bare, 5, &err)) == NULL) {
		cli_error(cli, "%s", err);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (db_exec(db, sql.data, &err) != 0) {
		cli_error(cli, "%s", err);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (!db_exists)
		cli_info(cli, "created database '%s'", database);
	if (!table_exists)
		cli_info(cli, "created table '%s.%s'", database, cli->cfg.table);
	else
		cli_info(cli, "added column '%s' to table '%s.%s'",
		    SCHEMA_VERSION_COLUMN, database, cli->cfg.table);
	rc = 0;
out:
	free(err);
	buf_release(&sql);
	schema_free(schema);
	db_free(db);
	config_mysql_addr_release(&addr);
	return (rc);
}

const struct cmd cmd_init = {
	"init",
	"create the database, table and version column if missing",
	init_usage,
	init_run
};
