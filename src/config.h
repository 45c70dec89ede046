/*
 * Configuration: where Redis, MySQL and the spool are, and what table and
 * key prefix to use.  Values come from, in order of precedence, command-line
 * flags (set by cli/ directly in the struct), the environment (WTC_*), a
 * config file ("key = value" lines, '#' comments), and built-in defaults.
 *
 * Passwords are never taken from URLs given on the command line; they come
 * from WTC_REDIS_PASSWORD / WTC_MYSQL_PASSWORD, the config file, or (MySQL)
 * the client option files (~/.my.cnf, groups [client] and [wtc]).
 *
 * A config owns all its strings; config_release frees them.
 */
#ifndef WTC_CONFIG_H
#define WTC_CONFIG_H

struct redis_addr {
	char	*host;		/* NULL when path is set */
	int	 port;
	char	*path;		/* unix socket, or NULL */
	int	 db;
	char	*user;		/* an ACL user, or NULL: the default user */
	char	*password;	/* or NULL */
};

struct mysql_addr {
	char	*user;		/* NULL: from option files, else the login name */
	char	*password;	/* NULL: from option files */
	char	*host;		/* NULL with socket set */
	int	 port;		/* 0: default */
	char	*socket;
	char	*database;
	char	*option_file;	/* extra option file to read, or NULL */
	int	 net_timeout_s;	/* ?net-timeout=: -1 default, 0 none */
};

struct config {
	char	*redis_url;
	char	*mysql_url;
	char	*spool_dir;
	char	*table;
	char	*prefix;	/* Redis key prefix, "" by default */
	char	*config_file;	/* the file read, if any */
	char	*redis_password;
	char	*mysql_password;
	char	*mysql_option_file;
	/* Where each setting came from (config.c's key order): CONFIG_FROM_*. */
	unsigned char	 from[8];
};

#define CONFIG_FROM_DEFAULT	0
#define CONFIG_FROM_FILE	1
#define CONFIG_FROM_ENV		2
#define CONFIG_FROM_FLAG	3

#define CONFIG_DEFAULT_REDIS_URL "redis://127.0.0.1:6379"
#define CONFIG_DEFAULT_MYSQL_URL "mysql://127.0.0.1:3306/wtc"
#define CONFIG_DEFAULT_TABLE "users"

void	 config_init(struct config *);
void	 config_release(struct config *);
/*
 * Fill every field still NULL from the environment, then the config file
 * (c->config_file if set, which must exist; else $WTC_CONFIG, else
 * $XDG_CONFIG_HOME/wtc/config or ~/.config/wtc/config if it exists), then
 * defaults.  Returns 0, or -1 with *err naming the file and line.
 */
int	 config_resolve(struct config *, char **err);

/*
 * "redis://[[user]:password@]host[:port][/db]", "unix:///path[?db=N]" (also
 * &user=, &password=) or a bare
 * "host:port".  Free with config_redis_addr_release.
 */
int	 config_parse_redis_url(const char *, struct redis_addr *, char **err);
void	 config_redis_addr_release(struct redis_addr *);
/*
 * "mysql://[user[:password]@]host[:port]/database" or
 * "mysql://[user@]localhost/database?socket=/path".
 */
int	 config_parse_mysql_url(const char *, struct mysql_addr *, char **err);
void	 config_mysql_addr_release(struct mysql_addr *);

/* Both parsed, with the passwords and option file applied from c. */
int	 config_redis_addr(const struct config *, struct redis_addr *, char **err);
int	 config_mysql_addr(const struct config *, struct mysql_addr *, char **err);

/* A copy of url with its password replaced by "***", for messages. */
char	*config_url_redact(const char *url);

/* True when url carries a password (cli refuses those on the command line). */
int	 config_url_has_password(const char *url);

/* The default spool directory: $WTC_SPOOL, else $XDG_STATE_HOME/wtc/spool, else ~/.local/state/wtc/spool. */
char	*config_default_spool(void);

#endif
