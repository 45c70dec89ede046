/*
 * wtc serve: the HTTP front end.  Opens the write path, starts the server
 * (src/http.c), supervises a drainer child ("wtc drain --wait", restarted
 * a second after it dies), and on SIGTERM or SIGINT stops accepting,
 * answers what is in flight, syncs the spool and stops the drainer.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "http.h"
#include "ingest.h"

extern char **environ;

static const char serve_usage[] =
"usage: wtc serve [options]\n"
"\n"
"Serve HTTP: POST /write-through takes one JSON object, a JSON array or\n"
"NDJSON (Content-Type application/x-ndjson) and answers 200 only once the\n"
"records are fsync'd in the spool and in Redis (?on-error=abort: an array\n"
"or NDJSON body all or nothing); POST /validate checks records the same\n"
"way and writes none; GET /TABLE/ID reads through Redis to MySQL; GET\n"
"/healthz and GET /metrics (Prometheus) report health.\n"
"A drainer child lands the spool in MySQL and is restarted if it dies.\n"
"SIGTERM or SIGINT stop the server cleanly: requests in flight are answered.\n"
"\n"
"Options:\n"
"      --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; port 0\n"
"                        picks a free one), [IPV6]:PORT, or unix:/PATH\n"
"      --threads N       I/O threads (default: number of CPUs, at least 2)\n"
"      --workers N       threads doing reads and bulk writes (default 16)\n"
"      --max-body BYTES  largest request body (default 16777216)\n"
"      --max-connections N  connections served at once (default 1024)\n"
"      --timeout SECONDS  close idle or stalled connections (default 30)\n"
"      --token-file FILE  require 'Authorization: Bearer TOKEN' (the file's\n"
"                        first line; it must not be readable by others);\n"
"                        /healthz stays open\n"
"      --access-log FILE  one line per request to FILE ('-': standard\n"
"                        output; default standard error)\n"
"      --no-access-log   do not log requests\n"
"      --max-backlog N   answer writes 503 while the spool holds more than\n"
"                        N records (default 0: no limit)\n"
"      --no-drainer      do not run a drainer (an external 'wtc drain' does)\n"
"\n"
"SIGHUP reopens the access log file.\n"
"\n"
"Exit status: 0 stopped by a signal; 64 usage; 66 the token file cannot be\n"
"opened; 69 Redis, MySQL's schema or the listen address unavailable; 73 the\n"
"spool or the access log cannot be created; 74 the spool cannot be written\n"
"or the token file read.\n";

enum {
	OPT_LISTEN = OPT_FIRST_LOCAL,
	OPT_THREADS,
	OPT_WORKERS,
	OPT_MAX_BODY,
	OPT_MAX_CONN,
	OPT_TIMEOUT,
	OPT_TOKEN_FILE,
	OPT_ACCESS_LOG,
	OPT_NO_ACCESS_LOG,
	OPT_MAX_BACKLOG,
	OPT_NO_DRAINER
};

struct serve_drainer {
	char		**argv;
	char		**envp;
	pid_t		  pid;		/* 0: not running */
	uint64_t	  restart_ms;	/* when to start it again; 0: not pending */
	int		  last_status;
};

static void
serve_log(void *arg, const char *line, size_t len)
{
	struct iovec	iov[3];

	(void)arg;
	iov[0].iov_base = (void *)"wtc serve: ";
	iov[0].iov_len = 11;
	iov[1].iov_base = (void *)line;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)"\n";
	iov[2].iov_len = 1;
	(void)writev(STDERR_FILENO, iov, 3);
}

static void
serve_access_log(void *arg, const char *line, size_t len)
{
	struct iovec	iov[2];
	int		fd = *(int *)arg;

	iov[0].iov_base = (void *)line;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)"\n";
	iov[1].iov_len = 1;
	(void)writev(fd, iov, 2);
}

/* SIGHUP: reopen the access log (after logrotate moved it), in place. */
static void
serve_reopen_log(struct cli *cli, const char *path, int fd)
{
	int	nfd;

	if (path == NULL || strcmp(path, "-") == 0)
		return;
	if ((nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		cli_error(cli, "cannot reopen access log '%s': %s", path,
		    strerror(errno));
		return;
	}
	/* dup2 swaps the file under the same descriptor atomically. */
	if (dup3(nfd, fd, O_CLOEXEC) == -1)
		cli_error(cli, "cannot reopen access log '%s': %s", path,
		    strerror(errno));
	close(nfd);
}

static int
serve_number(struct cli *cli, const char *opt, const char *arg,
    unsigned long long min, unsigned long long max, unsigned long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoull(arg, &end, 10);
	if (errno != 0 || *end != '\0' || *arg == '-' || *arg == '\0' ||
	    *out < min || *out > max)
		return (cli_usage_error(cli, "invalid value '%s' for --%s", arg,
		    opt));
	return (0);
}

static int
serve_fail_status(enum ingest_fail fail, const char *err)
{
	switch (fail) {
	case INGEST_FAIL_CONFIG:
		return (EXIT_USAGE);
	case INGEST_FAIL_REDIS:
	case INGEST_FAIL_REDIS_LATE:
	case INGEST_FAIL_SCHEMA:
		return (EXIT_UNAVAILABLE);
	case INGEST_FAIL_SPOOL_DIR:
		return (EXIT_CANTCREAT);
	case INGEST_FAIL_SPOOL:
		return (strncmp(err, "cannot create", 13) == 0 ? EXIT_CANTCREAT :
		    EXIT_IOERR);
	default:
		return (EXIT_SOFTWARE);
	}
}

static void
serve_env_add(char ***envp, size_t *n, const char *name, const char *value)
{
	if (value == NULL)
		return;
	*envp = xreallocarray(*envp, *n + 2, sizeof **envp);
	(*envp)[(*n)++] = xasprintf("%s=%s", name, value);
	(*envp)[*n] = NULL;
}

/*
 * The drainer's environment, made before any fork: ours without WTC_*,
 * plus the configuration as resolved, so the child sees what we see.
 */
static char **
serve_drainer_env(const struct config *cfg)
{
	char	**envp = NULL, **e, *spool, *conf = NULL;
	size_t	  n = 0;

	envp = xcalloc(1, sizeof *envp);
	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, "WTC_", 4) == 0)
			continue;
		envp = xreallocarray(envp, n + 2, sizeof *envp);
		envp[n++] = xstrdup(*e);
		envp[n] = NULL;
	}
	if ((spool = realpath(cfg->spool_dir, NULL)) == NULL)
		spool = xstrdup(cfg->spool_dir);
	if (cfg->config_file != NULL &&
	    (conf = realpath(cfg->config_file, NULL)) == NULL)
		conf = xstrdup(cfg->config_file);
	serve_env_add(&envp, &n, "WTC_REDIS_URL", cfg->redis_url);
	serve_env_add(&envp, &n, "WTC_MYSQL_URL", cfg->mysql_url);
	serve_env_add(&envp, &n, "WTC_SPOOL", spool);
	serve_env_add(&envp, &n, "WTC_TABLE", cfg->table);
	serve_env_add(&envp, &n, "WTC_PREFIX", cfg->prefix);
	serve_env_add(&envp, &n, "WTC_CONFIG", conf);
	serve_env_add(&envp, &n, "WTC_REDIS_PASSWORD", cfg->redis_password);
	serve_env_add(&envp, &n, "WTC_MYSQL_PASSWORD", cfg->mysql_password);
	serve_env_add(&envp, &n, "WTC_MYSQL_OPTION_FILE", cfg->mysql_option_file);
	free(spool);
	free(conf);
	return (envp);
}

/*
 * fork + exec "/proc/self/exe drain --wait": a fresh process, so nothing
 * of ours (threads, sockets, connections) leaks into it.  Only
 * async-signal-safe calls between fork and exec.
 */
static int
serve_drainer_start(struct cli *cli, struct serve_drainer *d)
{
	sigset_t	none;
	pid_t		pid, parent;
	int		fd;
	char		*exe;

	parent = getpid();
	exe = self_exe();
	if ((pid = fork()) == -1) {
		cli_error(cli, "cannot start the drainer: %s", strerror(errno));
		free(exe);
		return (-1);
	}
	if (pid == 0) {
		sigemptyset(&none);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Out of serve's process group: a terminal's ^C reaches us, not it. */
		setpgid(0, 0);
		/*
		 * If serve dies (kill -9), stop too: a restarted serve starts
		 * its own drainer, which would wait behind an orphan for the
		 * lock.  The drainer stops cleanly on SIGTERM.
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, STDIN_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
		close_range(3, ~0U, 0);
		execve(exe, d->argv, d->envp);
		_exit(127);
	}
	free(exe);
	d->pid = pid;
	d->restart_ms = 0;
	if (cli->verbose)
		cli_info(cli, "started the drainer (pid %ld)", (long)pid);
	return (0);
}

/* Reap the drainer if it died, and plan its restart. */
static void
serve_drainer_reap(struct cli *cli, struct serve_drainer *d, struct http *h)
{
	int	status;
	pid_t	pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != d->pid)
			continue;
		d->pid = 0;
		d->restart_ms = now_ms() + 1000;
		http_set_drainer(h, HTTP_DRAINER_RESTARTING);
		/* Say it once per kind of failure, not every second. */
		if (status != d->last_status) {
			if (WIFEXITED(status))
				cli_error(cli, "the drainer exited with status "
				    "%d; restarting it in 1 s", WEXITSTATUS(status));
			else if (WIFSIGNALED(status))
				cli_error(cli, "the drainer was killed by signal "
				    "%d; restarting it in 1 s", WTERMSIG(status));
		}
		d->last_status = status;
	}
}

static int
serve_drainer_stop(struct cli *cli, struct serve_drainer *d)
{
	int		status, i;
	pid_t		pid;

	if (d->pid == 0)
		return (0);
	kill(d->pid, SIGTERM);
	/* The drainer checks between batches and in back-off: give it 30 s. */
	for (i = 0; i < 3000; i++) {
		if ((pid = waitpid(d->pid, &status, WNOHANG)) == d->pid ||
		    (pid == -1 && errno != EINTR))
			break;
		usleep(10000);
	}
	if (i == 3000) {
		cli_error(cli, "the drainer (pid %ld) did not stop in 30 s; "
		    "killing it (the spool keeps its records)", (long)d->pid);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	d->pid = 0;
	return (0);
}

static int
serve_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "max-body", required_argument, NULL, OPT_MAX_BODY },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
		{ "no-access-log", no_argument, NULL, OPT_NO_ACCESS_LOG },
		{ "max-backlog", required_argument, NULL, OPT_MAX_BACKLOG },
		{ "no-drainer", no_argument, NULL, OPT_NO_DRAINER },
		{ NULL, 0, NULL, 0 }
	};
	static char		 arg0[] = "wtc", arg1[] = "drain",
				 arg2[] = "--wait";
	char			*dargv[] = { arg0, arg1, arg2, NULL };
	extern const struct cmd	 cmd_serve;
	struct http_opts	 hopts;
	struct ingest_opts	 iopts;
	struct serve_drainer	 d;
	struct ingest		*ing = NULL;
	struct http		*h = NULL;
	enum ingest_fail	 ifail;
	enum http_fail		 hfail;
	sigset_t		 sigs, old;
	siginfo_t		 si;
	struct timespec		 ts;
	const char		*token_file = NULL, *access_log = NULL;
	char			*err = NULL, *token = NULL, **e;
	unsigned long long	 v;
	uint64_t		 now;
	int			 ch, rc, no_drainer = 0, no_access_log = 0;
	int			 log_fd = STDERR_FILENO, sig, masked = 0;

	memset(&hopts, 0, sizeof hopts);
	memset(&iopts, 0, sizeof iopts);
	memset(&d, 0, sizeof d);
	d.last_status = -1;
	hopts.listen = HTTP_DEFAULT_LISTEN;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:qv", longopts, NULL)) != -1) {
		rc = 0;
		switch (ch) {
		case OPT_LISTEN:
			if (http_listen_check(optarg, &err) != 0) {
				rc = cli_usage_error(cli, "%s", err);
				free(err);
				return (rc);
			}
			hopts.listen = optarg;
			break;
		case OPT_THREADS:
			if ((rc = serve_number(cli, "threads", optarg, 1, 1024,
			    &v)) == 0)
				hopts.threads = (unsigned)v;
			break;
		case OPT_WORKERS:
			if ((rc = serve_number(cli, "workers", optarg, 1, 4096,
			    &v)) == 0)
				hopts.workers = (unsigned)v;
			break;
		case OPT_MAX_BODY:
			if ((rc = serve_number(cli, "max-body", optarg, 1,
			    1ULL << 30, &v)) == 0)
				hopts.max_body = (size_t)v;
			break;
		case OPT_MAX_CONN:
			if ((rc = serve_number(cli, "max-connections", optarg, 1,
			    1000000, &v)) == 0)
				hopts.max_connections = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if ((rc = serve_number(cli, "timeout", optarg, 1, 86400,
			    &v)) == 0)
				hopts.timeout_s = (unsigned)v;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_ACCESS_LOG:
			access_log = optarg;
			break;
		case OPT_NO_ACCESS_LOG:
			no_access_log = 1;
			break;
		case OPT_MAX_BACKLOG:
			if ((rc = serve_number(cli, "max-backlog", optarg, 0,
			    UINT64_MAX, &v)) == 0)
				hopts.max_backlog = v;
			break;
		case OPT_NO_DRAINER:
			no_drainer = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			rc = cli_common_option(cli, &cmd_serve, ch, optarg);
			if (rc == 1)
				rc = 0;
			break;
		}
		if (rc != 0)
			return (rc);
	}
	if (optind != argc)
		return (cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
	if (token_file != NULL &&
	    (rc = cli_read_token(cli, token_file, &token)) != 0)
		return (rc);
	if (access_log != NULL && strcmp(access_log, "-") == 0)
		log_fd = STDOUT_FILENO;
	else if (access_log != NULL && (log_fd = open(access_log, O_WRONLY |
	    O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		cli_error(cli, "cannot open access log '%s': %s", access_log,
		    strerror(errno));
		rc = EXIT_CANTCREAT;
		goto out;
	}

	/*
	 * Signals are taken synchronously by this thread (sigtimedwait); every
	 * thread started from here on inherits the mask.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	masked = 1;

	hopts.workers = hopts.workers != 0 ? hopts.workers : HTTP_DEFAULT_WORKERS;
	iopts.pool_size = (int)(hopts.workers + HTTP_WRITERS);
	iopts.warn = cli_warn_cb;
	iopts.warn_arg = cli;
	if ((ing = ingest_open(&cli->cfg, &iopts, &ifail, &err)) == NULL) {
		cli_error(cli, "%s", err);
		rc = serve_fail_status(ifail, err);
		goto out;
	}
	if (ingest_schema_cached(ing))
		cli_info(cli, "mysql is unreachable: validating against the "
		    "schema cached in '%s'", ingest_spool_dir(ing));

	hopts.token = token;
	if (!no_access_log) {
		hopts.access_log = serve_access_log;
		hopts.access_arg = &log_fd;
	}
	hopts.log = serve_log;
	if ((h = http_start(&hopts, &cli->cfg, ing, &hfail, &err)) == NULL) {
		cli_error(cli, "%s", err);
		rc = hfail == HTTP_FAIL_USAGE ? EXIT_USAGE :
		    hfail == HTTP_FAIL_LISTEN ? EXIT_UNAVAILABLE : EXIT_SOFTWARE;
		goto out;
	}
	if (!no_drainer) {
		d.argv = dargv;
		d.envp = serve_drainer_env(&cli->cfg);
		if (serve_drainer_start(cli, &d) == 0)
			http_set_drainer(h, HTTP_DRAINER_RUNNING);
		else
			d.restart_ms = now_ms() + 1000;
	}
	cli_info(cli, "listening on %s (spool %s, table %s)", http_url(h),
	    ingest_spool_dir(ing), cli->cfg.table);

	for (;;) {
		ts.tv_sec = 0;
		ts.tv_nsec = 250 * 1000000L;
		sig = sigtimedwait(&sigs, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			serve_reopen_log(cli, access_log, log_fd);
		if (!no_drainer) {
			serve_drainer_reap(cli, &d, h);
			now = now_ms();
			if (d.pid == 0 && d.restart_ms != 0 && now >= d.restart_ms &&
			    serve_drainer_start(cli, &d) == 0)
				http_set_drainer(h, HTTP_DRAINER_RUNNING);
			else if (d.pid == 0 && d.restart_ms != 0 &&
			    now >= d.restart_ms)
				d.restart_ms = now + 1000;
		}
	}

	cli_info(cli, "stopping: answering the requests in flight");
	http_stop(h);
	h = NULL;
	rc = 0;
	if (ingest_close(ing, &err) != 0) {
		cli_error(cli, "%s", err);
		rc = EXIT_IOERR;
	}
	ing = NULL;
	serve_drainer_stop(cli, &d);
	cli_info(cli, "stopped");
out:
	http_stop(h);
	if (ing != NULL)
		ingest_close(ing, NULL);
	serve_drainer_stop(cli, &d);
	if (d.envp != NULL) {
		for (e = d.envp; *e != NULL; e++)
			free(*e);
		free(d.envp);
	}
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	free(err);
	return (rc);
}

const struct cmd cmd_serve = {
	"serve",
	"serve HTTP: write-through, read-through, health and metrics",
	serve_usage,
	serve_run
};
