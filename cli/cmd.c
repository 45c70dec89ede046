/*
 * The command table and the helpers every subcommand shares: common
 * options, configuration, messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoconfig.h"
#include "cmd.h"

extern const struct cmd cmd_put, cmd_drain, cmd_serve, cmd_get, cmd_status,
    cmd_init, cmd_verify, cmd_dead_letter;

const struct cmd *const cmd_table[] = {
	&cmd_put,
	&cmd_drain,
	&cmd_serve,
	&cmd_get,
	&cmd_status,
	&cmd_init,
	&cmd_verify,
	&cmd_dead_letter,
	NULL
};

const struct cmd *
cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; cmd_table[i] != NULL; i++) {
		if (strcmp(cmd_table[i]->name, name) == 0)
			return (cmd_table[i]);
	}
	return (NULL);
}

static void
cli_vmessage(struct cli *cli, const char *fmt, va_list ap)
{
	flockfile(stderr);	/* serve's threads print too: whole lines */
	if (cli->cmd != NULL)
		fprintf(stderr, "wtc %s: ", cli->cmd);
	else
		fputs("wtc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void
cli_error(struct cli *cli, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_vmessage(cli, fmt, ap);
	va_end(ap);
}

void
cli_warn_cb(void *arg, const char *msg)
{
	cli_error(arg, "warning: %s", msg);
}

void
cli_info(struct cli *cli, const char *fmt, ...)
{
	va_list	ap;

	if (cli->quiet)
		return;
	va_start(ap, fmt);
	cli_vmessage(cli, fmt, ap);
	va_end(ap);
}

int
cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_vmessage(cli, fmt, ap);
	va_end(ap);
	if (cli->cmd != NULL)
		fprintf(stderr, "Try 'wtc help %s'.\n", cli->cmd);
	else
		fputs("Try 'wtc --help'.\n", stderr);
	return (EXIT_USAGE);
}

int
cli_bad_option(struct cli *cli, char **argv, int ch,
    const struct option *longopts)
{
	struct buf	 b = BUF_INIT;
	const char	*arg;
	size_t		 len, n = 0, i;
	int		 is_long;

	arg = optind > 0 ? argv[optind - 1] : "?";
	is_long = strncmp(arg, "--", 2) == 0;
	/* getopt_long returns ':' for a missing value: optstrings start "+:". */
	if (ch == ':') {
		if (is_long)
			return (cli_usage_error(cli, "option '%s' needs a value",
			    arg));
		return (cli_usage_error(cli, "option '-%c' needs a value",
		    optopt));
	}
	if (is_long && optopt != 0)
		return (cli_usage_error(cli, "option '%.*s' takes no value",
		    (int)strcspn(arg, "="), arg));
	if (!is_long && optopt >= '0' && optopt <= '9')
		return (cli_usage_error(cli, "unknown option '-%c' (put '--' "
		    "before a negative id)", optopt));
	if (!is_long && optopt != 0)
		return (cli_usage_error(cli, "unknown option '-%c'", optopt));
	/* getopt_long says '?' for an abbreviation of several options too. */
	len = strcspn(arg + 2, "=");
	for (i = 0; is_long && len > 0 && longopts[i].name != NULL; i++) {
		if (strncmp(longopts[i].name, arg + 2, len) != 0)
			continue;
		buf_printf(&b, "%s--%s", n++ == 0 ? "" : ", ",
		    longopts[i].name);
	}
	if (n > 1) {
		cli_usage_error(cli, "option '%.*s' is ambiguous: %s",
		    (int)len + 2, arg, b.data);
		buf_release(&b);
		return (EXIT_USAGE);
	}
	buf_release(&b);
	return (cli_usage_error(cli, "unknown option '%s'", arg));
}

static void
cli_set(char **slot, const char *arg)
{
	free(*slot);
	*slot = xstrdup(arg);
}

int
cli_common_option(struct cli *cli, const struct cmd *cmd, int ch,
    const char *arg)
{
	switch (ch) {
	case OPT_REDIS:
	case OPT_MYSQL:
		if (config_url_has_password(arg))
			return (cli_usage_error(cli, "a password in '--%s' would "
			    "be visible to every user in ps; use %s", ch ==
			    OPT_REDIS ? "redis" : "mysql", ch == OPT_REDIS ?
			    "WTC_REDIS_PASSWORD or the config file" :
			    "WTC_MYSQL_PASSWORD, the config file or ~/.my.cnf"));
		cli_set(ch == OPT_REDIS ? &cli->cfg.redis_url :
		    &cli->cfg.mysql_url, arg);
		return (1);
	case OPT_SPOOL:
		cli_set(&cli->cfg.spool_dir, arg);
		return (1);
	case OPT_TABLE:
		if (*arg == '\0')
			return (cli_usage_error(cli, "table name is empty"));
		cli_set(&cli->cfg.table, arg);
		return (1);
	case OPT_PREFIX:
		cli_set(&cli->cfg.prefix, arg);
		return (1);
	case OPT_CONFIG:
		cli_set(&cli->cfg.config_file, arg);
		return (1);
	case 'q':
		cli->quiet = 1;
		return (1);
	case 'v':
		cli->verbose++;
		return (1);
	case OPT_HELP:
		cli_help(cmd, stdout);
		exit(0);
	case OPT_VERSION:
		printf("wtc %s\n", PACKAGE_VERSION);
		exit(0);
	}
	return (0);
}

int
cli_resolve(struct cli *cli)
{
	char	*err = NULL;

	if (config_resolve(&cli->cfg, &err) != 0) {
		cli_error(cli, "%s", err);
		free(err);
		return (EXIT_USAGE);
	}
	return (0);
}

void
cli_help(const struct cmd *cmd, FILE *f)
{
	size_t	i;

	if (cmd != NULL) {
		fputs(cmd->usage, f);
		fputc('\n', f);
		fputs(CLI_COMMON_HELP, f);
		return;
	}
	fputs("usage: wtc [options] <command> [<args>]\n"
	    "\n"
	    "wtc writes JSON records to Redis at once and to MySQL for sure: each\n"
	    "record goes to Redis and an fsync'd local spool before it is\n"
	    "acknowledged, and a background drainer lands the spool in MySQL.\n"
	    "\n"
	    "Commands:\n", f);
	for (i = 0; cmd_table[i] != NULL; i++)
		fprintf(f, "  %-12s %s\n", cmd_table[i]->name,
		    cmd_table[i]->summary);
	fputs("  help         show the help of a command\n"
	    "\n", f);
	fputs(CLI_COMMON_HELP, f);
	fputs("\nSee 'wtc help <command>' or wtc(1) for more.\n", f);
}

int
cli_read_token(struct cli *cli, const char *path, char **out)
{
	struct stat	 st;
	struct buf	 b = BUF_INIT;
	char		 chunk[1024];
	ssize_t		 n;
	size_t		 len, skip;
	int		 fd, rc = EXIT_USAGE;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cli_error(cli, "cannot open token file '%s': %s", path,
		    strerror(errno));
		return (EXIT_NOINPUT);
	}
	if (fstat(fd, &st) != 0) {
		cli_error(cli, "cannot stat token file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_error(cli, "cannot open token file '%s': %s", path,
		    strerror(EISDIR));
		rc = EXIT_NOINPUT;
		goto out;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		cli_error(cli, "token file '%s' is readable or writable by every "
		    "user (mode %04o); run 'chmod 600 %s'", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cli_error(cli, "cannot read token file '%s': %s", path,
			    strerror(errno));
			rc = EXIT_IOERR;
			goto out;
		}
		buf_add(&b, chunk, (size_t)n);
		if (b.len > 4096)
			break;
	}
	buf_addc(&b, '\0');
	b.data[strcspn(b.data, "\r\n")] = '\0';
	/*
	 * Blanks around it are not the token's: the server trims them off
	 * the Authorization header, so a token with them would never match.
	 */
	len = strlen(b.data);
	while (len > 0 && (b.data[len - 1] == ' ' || b.data[len - 1] == '\t'))
		b.data[--len] = '\0';
	skip = strspn(b.data, " \t");
	memmove(b.data, b.data + skip, len - skip + 1);
	if (b.data[0] == '\0' || strlen(b.data) > 4096) {
		cli_error(cli, "token file '%s' holds no token on its first line "
		    "(or one longer than 4096 bytes)", path);
		goto out;
	}
	*out = buf_detach(&b, NULL);
	rc = 0;
out:
	if (b.data != NULL) {
		memset(b.data, 0, b.cap);
		buf_release(&b);
	}
	close(fd);
	return (rc);
}
