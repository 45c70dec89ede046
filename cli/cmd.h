/*
 * The command-line side of wtc: global state shared by the subcommands,
 * the command table, and helpers for messages and exit statuses.  Only
 * cli/ prints for the user and chooses exit statuses; src/ returns errors.
 */
#ifndef WTC_CMD_H
#define WTC_CMD_H

#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "util.h"

/* Exit statuses (documented in wtc(1); sysexits.h where it fits). */
#define EXIT_DIFFERENT	1	/* verify found differences; status: backlog not empty */
#define EXIT_USAGE	64
#define EXIT_DATA	65
#define EXIT_NOINPUT	66
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE	70
#define EXIT_CANTCREAT	73
#define EXIT_IOERR	74
#define EXIT_TEMPFAIL	75

struct cli {
	struct config	 cfg;
	int		 quiet;
	int		 verbose;
	const char	*cmd;		/* name of the running subcommand */
};

struct cmd {
	const char	*name;
	const char	*summary;	/* one line, for "wtc --help" */
	const char	*usage;		/* full help text: "usage: wtc put ..." */
	int		(*run)(struct cli *, int argc, char **argv);
};

extern const struct cmd *const cmd_table[];
const struct cmd *cmd_find(const char *name);

/*
 * Options every subcommand accepts (also before the subcommand name).  Put
 * CLI_COMMON_OPTIONS in a getopt_long table and hand unknown option values
 * to cli_common_option.
 */
enum {
	OPT_REDIS = 1000,
	OPT_MYSQL,
	OPT_SPOOL,
	OPT_TABLE,
	OPT_PREFIX,
	OPT_CONFIG,
	OPT_HELP,
	OPT_VERSION,
	OPT_FIRST_LOCAL		/* subcommands number their own options from here */
};
#define CLI_COMMON_OPTIONS \
	{ "redis", required_argument, NULL, OPT_REDIS }, \
	{ "mysql", required_argument, NULL, OPT_MYSQL }, \
	{ "spool", required_argument, NULL, OPT_SPOOL }, \
	{ "table", required_argument, NULL, OPT_TABLE }, \
	{ "prefix", required_argument, NULL, OPT_PREFIX }, \
	{ "config", required_argument, NULL, OPT_CONFIG }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, OPT_HELP }, \
	{ "version", no_argument, NULL, OPT_VERSION }

/* The common options' help text, shown under each command's own. */
#define CLI_COMMON_HELP \
"Connection options (any command; also before the command name):\n" \
"      --redis URL       Redis: redis://host:port/db or unix:///path (WTC_REDIS_URL)\n" \
"      --mysql URL       MySQL: mysql://user@host:port/db or\n" \
"                        mysql://user@localhost/db?socket=/path (WTC_MYSQL_URL)\n" \
"      --spool DIR       spool directory (WTC_SPOOL)\n" \
"      --table NAME      target table (WTC_TABLE; default users)\n" \
"      --prefix PREFIX   Redis key prefix (WTC_PREFIX; default none)\n" \
"      --config FILE     config file (WTC_CONFIG; default ~/.config/wtc/config)\n" \
"  -q, --quiet           print only errors\n" \
"  -v, --verbose         print more about what happens\n" \
"      --help            show this help\n" \
"      --version         print the version and exit\n"

/*
 * Handle a common option.  Returns 1 if handled, 0 if ch is not a common
 * option, or an exit status > 1 (after printing) for a bad value or --help.
 */
int	 cli_common_option(struct cli *, const struct cmd *, int ch, const char *arg);

/* Resolve the configuration (env, file, defaults); prints and returns an exit status or 0. */
int	 cli_resolve(struct cli *);

/* "wtc put: <msg>" on stderr. */
void	 cli_error(struct cli *, const char *, ...) WTC_PRINTF(2, 3);
void	 cli_info(struct cli *, const char *, ...) WTC_PRINTF(2, 3);
/* "wtc put: warning: <msg>": a callback for the library, arg a struct cli. */
void	 cli_warn_cb(void *arg, const char *msg);
/* Print "wtc CMD: <msg>" and "Try 'wtc help CMD'."; returns EXIT_USAGE. */
int	 cli_usage_error(struct cli *, const char *, ...) WTC_PRINTF(2, 3);
/* Print an unknown/bad option message produced by getopt; returns EXIT_USAGE. */
int	 cli_bad_option(struct cli *, char **argv, int ch,
	    const struct option *longopts);

/*
 * Read a bearer token: the first line of path, without CR/LF; the file must
 * not be readable or writable by others.  0 with *out (caller frees), or
 * an exit status after printing.  The token itself is never printed.
 */
int	 cli_read_token(struct cli *, const char *path, char **out);

/* Print the help of a command, or the overview when cmd is NULL. */
void	 cli_help(const struct cmd *, FILE *);

#endif
