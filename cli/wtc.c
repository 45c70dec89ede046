/*
 * wtc: global options and dispatch to a subcommand.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "cmd.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct cli		 cli;
	const struct cmd	*cmd;
	int			 ch, rc;

	memset(&cli, 0, sizeof cli);
	config_init(&cli.cfg);
	/* A closed pipe is an error to report, not a reason to die silently. */
	signal(SIGPIPE, SIG_IGN);

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:qv", longopts, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return (cli_bad_option(&cli, argv, ch, longopts));
		if ((rc = cli_common_option(&cli, NULL, ch, optarg)) > 1)
			return (rc);
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		cli_help(NULL, stderr);
		return (EXIT_USAGE);
	}
	if (strcmp(argv[0], "help") == 0) {
		if (argc == 1) {
			cli_help(NULL, stdout);
			return (0);
		}
		if (argc > 2)
			return (cli_usage_error(&cli, "unexpected argument "
			    "'%s'", argv[2]));
		if (strcmp(argv[1], "help") == 0) {
			cli_help(NULL, stdout);	/* help is the overview's */
			return (0);
		}
		if ((cmd = cmd_find(argv[1])) == NULL)
			return (cli_usage_error(&cli, "no such command '%s'",
			    argv[1]));
		cli_help(cmd, stdout);
		return (0);
	}
	if ((cmd = cmd_find(argv[0])) == NULL)
		return (cli_usage_error(&cli, "no such command '%s'", argv[0]));
	cli.cmd = cmd->name;
	optind = 0;	/* glibc: full reinitialisation for the subcommand */
	rc = cmd->run(&cli, argc, argv);
	config_release(&cli.cfg);
	return (rc);
}
