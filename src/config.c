/*
 * Configuration: the precedence chain (flags, environment, config file,
 * defaults) and the parsers for the Redis and MySQL URLs.
 */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

/* One settable key: its config-file name, environment variable and slot. */
struct config_key {
	const char	*name;
	const char	*env;
	size_t		 offset;
};

static const struct config_key config_keys[] = {
	{ "redis-url", "WTC_REDIS_URL", offsetof(struct config, redis_url) },
	{ "mysql-url", "WTC_MYSQL_URL", offsetof(struct config, mysql_url) },
	{ "spool", "WTC_SPOOL", offsetof(struct config, spool_dir) },
	{ "table", "WTC_TABLE", offsetof(struct config, table) },
	{ "prefix", "WTC_PREFIX", offsetof(struct config, prefix) },
	{ "redis-password", "WTC_REDIS_PASSWORD",
	    offsetof(struct config, redis_password) },
	{ "mysql-password", "WTC_MYSQL_PASSWORD",
	    offsetof(struct config, mysql_password) },
	{ "mysql-option-file", "WTC_MYSQL_OPTION_FILE",
	    offsetof(struct config, mysql_option_file) },
};
#define CONFIG_NKEYS (sizeof config_keys / sizeof config_keys[0])
_Static_assert(CONFIG_NKEYS <= sizeof ((struct config *)0)->from,
    "struct config's from[] has a slot per key");

/* Where the setting at offset came from. */
static int
config_from(const struct config *c, size_t offset)
{
	size_t	i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].offset == offset)
			return (c->from[i]);
	}
	return (CONFIG_FROM_DEFAULT);
}

static char **
config_slot(struct config *c, const struct config_key *k)
{
	return ((char **)((char *)c + k->offset));
}

void
config_init(struct config *c)
{
	memset(c, 0, sizeof *c);
}

void
config_release(struct config *c)
{
	size_t	i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		free(*config_slot(c, &config_keys[i]));
	free(c->config_file);
	memset(c, 0, sizeof *c);
}

static char *
config_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return (s);
}

/* Read "key = value" lines from path into the slots still NULL. */
static int
config_read_file(struct config *c, const char *path, char **err)
{
	FILE		*f;
	char		*line = NULL, *p, *key, *value, *eq;
	size_t		 cap = 0, i;
	ssize_t		 n;
	unsigned long	 lineno = 0;
	unsigned	 seen = 0;	/* keys read, by index */
	int		 rc = -1;

	if ((f = fopen(path, "re")) == NULL)
		return (err_set(err, "cannot open config file '%s': %s", path,
		    strerror(errno)));
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		p = config_trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			err_set(err, "%s:%lu: expected 'key = value'", path,
			    lineno);
			goto out;
		}
		*eq = '\0';
		key = config_trim(p);
		value = config_trim(eq + 1);
		if (value[0] == '"' && strlen(value) >= 2 &&
		    value[strlen(value) - 1] == '"') {
			value[strlen(value) - 1] = '\0';
			value++;
		}
		for (i = 0; i < CONFIG_NKEYS; i++) {
			if (strcmp(key, config_keys[i].name) == 0)
				break;
		}
		if (i == CONFIG_NKEYS) {
			err_set(err, "%s:%lu: unknown setting '%s'", path,
			    lineno, key);
			goto out;
		}
		/* Twice: which one counts would be a guess. */
		if ((seen & (1u << i)) != 0) {
			err_set(err, "%s:%lu: '%s' is set a second time", path,
			    lineno, key);
			goto out;
		}
		seen |= 1u << i;
		if (*config_slot(c, &config_keys[i]) == NULL) {
			*config_slot(c, &config_keys[i]) = xstrdup(value);
			c->from[i] = CONFIG_FROM_FILE;
		}
	}
	if (ferror(f)) {
		err_set(err, "cannot read config file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return (rc);
}

static char *
config_default_file(void)
{
	const char	*env;
	char		*path;

	if ((env = getenv("WTC_CONFIG")) != NULL && *env != '\0')
		return (xstrdup(env));
	if ((env = getenv("XDG_CONFIG_HOME")) != NULL && *env == '/')
		path = xasprintf("%s/wtc/config", env);
	else if ((env = getenv("HOME")) != NULL && *env != '\0')
		path = xasprintf("%s/.config/wtc/config", env);
	else
		return (NULL);
	if (access(path, F_OK) != 0) {
		free(path);
		return (NULL);
	}
	return (path);
}

int
config_resolve(struct config *c, char **err)
{
	const char	*env;
	char		**slot;
	size_t		 i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		slot = config_slot(c, &config_keys[i]);
		if (*slot != NULL)
			c->from[i] = CONFIG_FROM_FLAG;
		else if ((env = getenv(config_keys[i].env)) != NULL &&
		    *env != '\0') {
			*slot = xstrdup(env);
			c->from[i] = CONFIG_FROM_ENV;
		}
	}

	if (c->config_file == NULL)
		c->config_file = config_default_file();
	if (c->config_file != NULL &&
	    config_read_file(c, c->config_file, err) != 0)
		return (-1);

	if (c->redis_url == NULL)
		c->redis_url = xstrdup(CONFIG_DEFAULT_REDIS_URL);
	if (c->mysql_url == NULL)
		c->mysql_url = xstrdup(CONFIG_DEFAULT_MYSQL_URL);
	if (c->table == NULL)
		c->table = xstrdup(CONFIG_DEFAULT_TABLE);
	if (c->prefix == NULL)
		c->prefix = xstrdup("");
	if (c->spool_dir == NULL) {
		if ((c->spool_dir = config_default_spool()) == NULL)
			return (err_set(err, "cannot choose a spool directory: "
			    "HOME is not set (use --spool or WTC_SPOOL)"));
	}
	if (*c->table == '\0')
		return (err_set(err, "table name is empty"));
	/* Keys are PREFIXTABLE:KEY: a ':' would share another table's keys. */
	if (strchr(c->table, ':') != NULL)
		return (err_set(err, "table name '%s' has a ':', which would "
		    "mix its Redis keys with those of table '%.*s'", c->table,
		    (int)strcspn(c->table, ":"), c->table));
	return (0);
}

char *
config_default_spool(void)
{
	const char	*env;

	if ((env = getenv("WTC_SPOOL")) != NULL && *env != '\0')
		return (xstrdup(env));
	if ((env = getenv("XDG_STATE_HOME")) != NULL && *env == '/')
		return (xasprintf("%s/wtc/spool", env));
	if ((env = getenv("HOME")) != NULL && *env != '\0')
		return (xasprintf("%s/.local/state/wtc/spool", env));
	return (NULL);
}

/*
 * url with its password (user:PASSWORD@ and ?password=) replaced by "***",
 * for messages: a URL from the environment or the config file may carry one.
 */
char *
config_url_redact(const char *url)
{
	struct buf	 b = BUF_INIT;
	const char	*p, *q, *end, *at = NULL, *colon, *amp, *r;

	if ((p = strstr(url, "://")) == NULL)
		p = url;
	else
		p += 3;
	q = strchr(p, '?');
	end = q != NULL ? q : p + strlen(p);
	for (r = p; r < end; r++)
		if (*r == '@')
			at = r;
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon != NULL) {
		buf_add(&b, url, (size_t)(colon + 1 - url));
		buf_adds(&b, "***");
		buf_add(&b, at, (size_t)(end - at));
	} else
		buf_add(&b, url, (size_t)(end - url));
	for (r = q; r != NULL && *r != '\0'; r = amp) {
		amp = strchr(r + 1, '&');
		if (strncmp(r + 1, "password=", 9) == 0) {
			buf_add(&b, r, 10);
			buf_adds(&b, "***");
		} else
			buf_add(&b, r, amp != NULL ? (size_t)(amp - r) :
			    strlen(r));
	}
	buf_addc(&b, '\0');
	return (buf_detach(&b, NULL));
}

/* "invalid KIND url 'URL'WHY" in *err, the URL without its password; -1. */
static int
config_url_error(char **err, const char *kind, const char *url,
    const char *why)
{
	char	*safe;

	safe = config_url_redact(url);
	err_set(err, "invalid %s url '%s'%s", kind, safe, why);
	free(safe);
	return (-1);
}

/* Decode %XX escapes of s[0..len) into a new string. */
static char *
config_unescape(const char *s, size_t len)
{
	char		*out, *o;
	size_t		 i;
	unsigned int	 v;

	o = out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2]) &&
		    sscanf(s + i + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return (out);
}

static int
config_parse_port(const char *s, size_t len, int *port)
{
	size_t	i;
	long	v = 0;

	if (len == 0 || len > 5)
		return (-1);
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return (-1);
	*port = (int)v;
	return (0);
}

/*
 * Split "[user[:password]@]host[:port]" (host may be "[v6]").  Fills the
 * out parameters with new strings or NULL.
 */
static int
config_parse_authority(const char *s, size_t len, char **user, char **password,
    char **host, int *port)
{
	const char	*at = NULL, *colon, *end = s + len, *hs, *he;
	size_t		 i;

	for (i = len; i > 0; i--) {
		if (s[i - 1] == '@') {
			at = s + i - 1;
			break;
		}
	}
	if (at != NULL) {
		colon = memchr(s, ':', (size_t)(at - s));
		if (colon != NULL) {
			*user = colon > s ? config_unescape(s, (size_t)(colon - s)) :
			    NULL;
			*password = config_unescape(colon + 1,
			    (size_t)(at - colon - 1));
		} else if (at > s)
			*user = config_unescape(s, (size_t)(at - s));
		s = at + 1;
	}
	if (s < end && *s == '[') {
		hs = s + 1;
		if ((he = memchr(hs, ']', (size_t)(end - hs))) == NULL)
			return (-1);
		s = he + 1;
	} else {
		hs = s;
		he = s < end ? memchr(s, ':', (size_t)(end - s)) : NULL;
		if (he == NULL)
			he = end;
		s = he;
	}
	if (he > hs)
		*host = xstrndup(hs, (size_t)(he - hs));
	if (s < end) {
		if (*s != ':' || config_parse_port(s + 1,
		    (size_t)(end - s - 1), port) != 0)
			return (-1);
	}
	return (0);
}

/* Find "name=value" in a query string; returns a new string or NULL. */
/* Whether the query parameter p[0..len) is "name=...". */
static int
config_param_is(const char *p, size_t len, const char *name)
{
	size_t	nlen = strlen(name);

	return (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=');
}

static char *
config_query(const char *q, const char *name)
{
	size_t		 nlen = strlen(name), len;
	const char	*p = q, *amp;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (config_param_is(p, len, name))
			return (config_unescape(p + nlen + 1, len - nlen - 1));
		p = amp != NULL ? amp + 1 : NULL;
	}
	return (NULL);
}

/*
 * The first parameter of query q not in names (a NULL-terminated list), as
 * *bad and *badlen; 0 when all are known.  A typo ("bd" for "db") was
 * silently ignored, and the default used.
 */
static int
config_query_unknown(const char *q, const char *const *names,
    const char **bad, size_t *badlen)
{
	const char	*p, *amp;
	size_t		 len, i;

	for (p = q; p != NULL && *p != '\0'; p = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		for (i = 0; names[i] != NULL; i++) {
			if (config_param_is(p, len, names[i]))
				break;
		}
		if (names[i] == NULL) {
			*bad = p;
			*badlen = strcspn(p, "=&");
			return (1);
		}
	}
	return (0);
}

static int
config_parse_db_number(const char *s, int *db)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > INT_MAX)
		return (-1);
	*db = (int)v;
	return (0);
}

int
config_parse_redis_url(const char *url, struct redis_addr *a, char **err)
{
	static const char *const redis_params[] = { "db", "user", "password",
			    NULL };
	const char	*p, *slash, *q, *bp;
	char		*user = NULL, *path, *dbs;
	size_t		 len, blen;

	memset(a, 0, sizeof *a);
	a->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		q = strchr(p, '?');
		len = q != NULL ? (size_t)(q - p) : strlen(p);
		if (len == 0 || *p != '/')
			goto bad;
		a->path = config_unescape(p, len);
		if (q != NULL && config_query_unknown(q + 1, redis_params, &bp,
		    &blen)) {
			config_redis_addr_release(a);
			return (err_set(err, "redis url: unknown parameter "
			    "'%.*s' (known: db, user, password)", (int)blen, bp));
		}
		if (q != NULL && (dbs = config_query(q + 1, "db")) != NULL) {
			if (config_parse_db_number(dbs, &a->db) != 0) {
				free(dbs);
				goto bad;
			}
			free(dbs);
		}
		if (q != NULL) {
			a->user = config_query(q + 1, "user");
			a->password = config_query(q + 1, "password");
		}
		return (0);
	}
	if (strncmp(url, "redis://", 8) == 0)
		p = url + 8;
	else if (strstr(url, "://") != NULL)
		goto bad;
	else
		p = url;
	slash = strchr(p, '/');
	len = slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (config_parse_authority(p, len, &user, &a->password, &a->host,
	    &a->port) != 0)
		goto bad;
	if (user != NULL && user[0] != '\0')
		a->user = user;
	else
		free(user);
	if (a->host == NULL)
		a->host = xstrdup("127.0.0.1");
	if (slash != NULL && slash[1] != '\0') {
		path = xstrdup(slash + 1);
		if (config_parse_db_number(path, &a->db) != 0) {
			free(path);
			goto bad;
		}
		free(path);
	}
	return (0);
bad:
	config_redis_addr_release(a);
	return (config_url_error(err, "redis", url, " (expected "
	    "redis://host:port/db or unix:///path)"));
}

void
config_redis_addr_release(struct redis_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	free(a->password);
	memset(a, 0, sizeof *a);
}

int
config_parse_mysql_url(const char *url, struct mysql_addr *a, char **err)
{
	static const char *const mysql_params[] = { "socket", "option-file",
			    "net-timeout", NULL };
	const char	*p, *slash, *q, *bp;
	char		*nt, *end;
	unsigned long	 v;
	size_t		 len, blen;

	memset(a, 0, sizeof *a);
	a->net_timeout_s = -1;
	if (strncmp(url, "mysql://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "mariadb://", 10) == 0)
		p = url + 10;
	else
		goto bad;
	q = strchr(p, '?');
	slash = strchr(p, '/');
	if (slash != NULL && q != NULL && slash > q)
		slash = NULL;
	len = slash != NULL ? (size_t)(slash - p) :
	    (q != NULL ? (size_t)(q - p) : strlen(p));
	if (config_parse_authority(p, len, &a->user, &a->password, &a->host,
	    &a->port) != 0)
		goto bad;
	if (slash != NULL) {
		len = q != NULL ? (size_t)(q - slash - 1) : strlen(slash + 1);
		if (len > 0)
			a->database = config_unescape(slash + 1, len);
	}
	if (q != NULL && config_query_unknown(q + 1, mysql_params, &bp,
	    &blen)) {
		config_mysql_addr_release(a);
		return (err_set(err, "mysql url: unknown parameter '%.*s' "
		    "(known: socket, option-file, net-timeout)", (int)blen,
		    bp));
	}
	if (q != NULL) {
		a->socket = config_query(q + 1, "socket");
		a->option_file = config_query(q + 1, "option-file");
		/*
		 * The drainer put starts runs in '/', and the next put may
		 * start one from elsewhere: a relative path would name
		 * another file there.
		 */
		if ((a->socket != NULL && a->socket[0] != '/') ||
		    (a->option_file != NULL && a->option_file[0] != '/')) {
			config_mysql_addr_release(a);
			return (config_url_error(err, "mysql", url, ": socket "
			    "and option-file must be absolute paths"));
		}
		if ((nt = config_query(q + 1, "net-timeout")) != NULL) {
			errno = 0;
			v = strtoul(nt, &end, 10);
			if (*nt < '0' || *nt > '9' || *end != '\0' ||
			    errno != 0 || v > 86400) {
				free(nt);
				config_mysql_addr_release(a);
				return (config_url_error(err, "mysql", url,
				    ": net-timeout must be a number of seconds "
				    "from 0 to 86400"));
			}
			a->net_timeout_s = (int)v;
			free(nt);
		}
	}
	if (a->host != NULL && a->socket != NULL &&
	    strcmp(a->host, "localhost") != 0)
		goto bad;
	return (0);
bad:
	config_mysql_addr_release(a);
	return (config_url_error(err, "mysql", url, " (expected "
	    "mysql://[user@]host[:port]/database or "
	    "mysql://[user@]localhost/database?socket=/path)"));
}

void
config_mysql_addr_release(struct mysql_addr *a)
{
	free(a->user);
	free(a->password);
	free(a->host);
	free(a->socket);
	free(a->database);
	free(a->option_file);
	memset(a, 0, sizeof *a);
}

int
config_redis_addr(const struct config *c, struct redis_addr *a, char **err)
{
	if (config_parse_redis_url(c->redis_url, a, err) != 0)
		return (-1);
	/* A password in the URL stands against one from a weaker source. */
	if (c->redis_password != NULL && (a->password == NULL ||
	    config_from(c, offsetof(struct config, redis_password)) >=
	    config_from(c, offsetof(struct config, redis_url)))) {
		free(a->password);
		a->password = xstrdup(c->redis_password);
	}
	return (0);
}

int
config_mysql_addr(const struct config *c, struct mysql_addr *a, char **err)
{
	if (config_parse_mysql_url(c->mysql_url, a, err) != 0)
		return (-1);
	if (c->mysql_password != NULL && (a->password == NULL ||
	    config_from(c, offsetof(struct config, mysql_password)) >=
	    config_from(c, offsetof(struct config, mysql_url)))) {
		free(a->password);
		a->password = xstrdup(c->mysql_password);
	}
	if (c->mysql_option_file != NULL && (a->option_file == NULL ||
	    config_from(c, offsetof(struct config, mysql_option_file)) >=
	    config_from(c, offsetof(struct config, mysql_url)))) {
		free(a->option_file);
		a->option_file = xstrdup(c->mysql_option_file);
	}
	/* As the mysql client's --defaults-file: a missing file is an error. */
	if (a->option_file != NULL && access(a->option_file, R_OK) != 0) {
		err_set(err, "cannot read mysql option file '%s': %s",
		    a->option_file, strerror(errno));
		config_mysql_addr_release(a);
		return (-1);
	}
	return (0);
}

int
config_url_has_password(const char *url)
{
	const char	*p, *at, *slash;

	if ((p = strstr(url, "://")) == NULL)
		p = url;
	else
		p += 3;
	if (strstr(p, "password=") != NULL)
		return (1);
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at == NULL || (slash != NULL && slash < at))
		return (0);
	return (memchr(p, ':', (size_t)(at - p)) != NULL);
}
