/*
 * Unit tests for the config module: URL parsing and precedence.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static void
test_redis_url_forms(void **state)
{
	struct redis_addr	 a;
	char			*err = NULL;

	assert_int_equal(config_parse_redis_url("redis://10.0.0.1:6380/3", &a,
	    &err), 0);
	assert_string_equal(a.host, "10.0.0.1");
	assert_int_equal(a.port, 6380);
	assert_int_equal(a.db, 3);
	assert_null(a.password);
	config_redis_addr_release(&a);

	assert_int_equal(config_parse_redis_url("redis://:s%40cret@h", &a,
	    &err), 0);
	assert_string_equal(a.host, "h");
	assert_int_equal(a.port, 6379);
	assert_string_equal(a.password, "s@cret");
	config_redis_addr_release(&a);

	assert_int_equal(config_parse_redis_url("unix:///tmp/r.sock?db=2", &a,
	    &err), 0);
	assert_null(a.host);
	assert_string_equal(a.path, "/tmp/r.sock");
	assert_int_equal(a.db, 2);
	config_redis_addr_release(&a);

	assert_int_equal(config_parse_redis_url("localhost:7000", &a, &err), 0);
	assert_string_equal(a.host, "localhost");
	assert_int_equal(a.port, 7000);
	config_redis_addr_release(&a);

	assert_int_equal(config_parse_redis_url("redis://[::1]:7001", &a,
	    &err), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 7001);
	assert_null(a.user);
	config_redis_addr_release(&a);

	/* An ACL user, with or without a password. */
	assert_int_equal(config_parse_redis_url("redis://al%40ice:pw@h:7000/1",
	    &a, &err), 0);
	assert_string_equal(a.user, "al@ice");
	assert_string_equal(a.password, "pw");
	assert_int_equal(a.db, 1);
	config_redis_addr_release(&a);
	assert_int_equal(config_parse_redis_url("redis://bob@h", &a, &err), 0);
	assert_string_equal(a.user, "bob");
	assert_null(a.password);
	config_redis_addr_release(&a);
	assert_int_equal(config_parse_redis_url(
	    "unix:///tmp/r.sock?user=carol&password=x", &a, &err), 0);
	assert_string_equal(a.user, "carol");
	assert_string_equal(a.password, "x");
	config_redis_addr_release(&a);
}

static void
test_redis_url_errors(void **state)
{
	struct redis_addr	 a;
	char			*err = NULL;
	const char		*bad[] = { "http://x", "redis://h:0", "redis://h:99999",
	    "redis://h:12x", "redis://h/abc", "unix://", "unix://rel/path",
	    NULL };
	int			 i;

	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(config_parse_redis_url(bad[i], &a, &err), -1);
		assert_non_null(strstr(err, "invalid redis url"));
		assert_non_null(strstr(err, bad[i]));
		free(err);
		err = NULL;
	}
}

static void
test_mysql_url_forms(void **state)
{
	struct mysql_addr	 a;
	char			*err = NULL;

	assert_int_equal(config_parse_mysql_url("mysql://app:pw@db.example:3307/"
	    "shop", &a, &err), 0);
	assert_string_equal(a.user, "app");
	assert_string_equal(a.password, "pw");
	assert_string_equal(a.host, "db.example");
	assert_int_equal(a.port, 3307);
	assert_string_equal(a.database, "shop");
	config_mysql_addr_release(&a);

	assert_int_equal(config_parse_mysql_url("mysql://localhost/wtc?socket="
	    "/run/my.sock", &a, &err), 0);
	assert_null(a.user);
	assert_null(a.password);
	assert_string_equal(a.host, "localhost");
	assert_string_equal(a.socket, "/run/my.sock");
	assert_string_equal(a.database, "wtc");
	config_mysql_addr_release(&a);

	assert_int_equal(config_parse_mysql_url("mysql://127.0.0.1", &a, &err),
	    0);
	assert_null(a.database);
	assert_int_equal(a.port, 0);
	assert_int_equal(a.net_timeout_s, -1);
	config_mysql_addr_release(&a);

	assert_int_equal(config_parse_mysql_url("mysql://h/db?net-timeout=30&"
	    "socket=/s", &a, &err), -1);	/* a socket needs localhost */
	free(err);
	err = NULL;
	assert_int_equal(config_parse_mysql_url("mysql://h/db?net-timeout=0",
	    &a, &err), 0);
	assert_int_equal(a.net_timeout_s, 0);
	config_mysql_addr_release(&a);
	assert_int_equal(config_parse_mysql_url("mysql://h/db?net-timeout=30",
	    &a, &err), 0);
	assert_int_equal(a.net_timeout_s, 30);
	config_mysql_addr_release(&a);
	assert_int_equal(config_parse_mysql_url("mysql://h/db?net-timeout=-1",
	    &a, &err), -1);
	assert_non_null(strstr(err, "net-timeout must be a number of seconds"));
	free(err);
	err = NULL;

	assert_int_equal(config_parse_mysql_url("redis://x/y", &a, &err), -1);
	assert_non_null(strstr(err, "invalid mysql url"));
	free(err);
	err = NULL;
	assert_int_equal(config_parse_mysql_url("mysql://h:port/x", &a, &err),
	    -1);
	free(err);
}

static void
test_password_detection(void **state)
{
	assert_true(config_url_has_password("redis://:pw@h:1"));
	assert_true(config_url_has_password("mysql://u:pw@h/db"));
	assert_true(config_url_has_password("unix:///s?password=x"));
	assert_false(config_url_has_password("mysql://u@h/db"));
	assert_false(config_url_has_password("redis://h:6379/0"));
	assert_false(config_url_has_password("mysql://h/db?socket=/a:b@c"));
}

/* A config file of text at path is refused, with want in the message. */
static void
file_refused(const char *path, const char *text, const char *want)
{
	struct config	 c;
	char		*err = NULL;
	int		 fd;

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
	config_init(&c);
	c.config_file = xstrdup(path);
	assert_int_equal(config_resolve(&c, &err), -1);
	assert_non_null(strstr(err, want));
	free(err);
	config_release(&c);
}

static void
test_precedence(void **state)
{
	struct config	 c;
	char		 path[] = "/tmp/wtc-test-config-XXXXXX";
	char		*err = NULL;
	int		 fd;
	const char	*text = "# comment\n"
	    "redis-url = redis://file:1\n"
	    "table = \"from_file\"\n"
	    "prefix = app:\n";

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);

	setenv("WTC_TABLE", "from_env", 1);
	unsetenv("WTC_REDIS_URL");
	unsetenv("WTC_MYSQL_URL");
	unsetenv("WTC_PREFIX");
	setenv("WTC_SPOOL", "/tmp/spool-env", 1);
	config_init(&c);
	c.config_file = xstrdup(path);
	c.mysql_url = xstrdup("mysql://flag/db");
	assert_int_equal(config_resolve(&c, &err), 0);
	assert_string_equal(c.mysql_url, "mysql://flag/db");	/* flag */
	assert_string_equal(c.table, "from_env");		/* env over file */
	assert_string_equal(c.redis_url, "redis://file:1");	/* file */
	assert_string_equal(c.prefix, "app:");
	assert_string_equal(c.spool_dir, "/tmp/spool-env");
	config_release(&c);
	unsetenv("WTC_TABLE");

	config_init(&c);
	c.config_file = xstrdup("/nonexistent/wtc.conf");
	assert_int_equal(config_resolve(&c, &err), -1);
	assert_non_null(strstr(err, "cannot open config file "
	    "'/nonexistent/wtc.conf'"));
	free(err);
	err = NULL;
	config_release(&c);

	file_refused(path, "table = t\ncolour = blue\n",
	    ":2: unknown setting 'colour'");
	/* A key set twice: which one counts would be a guess. */
	file_refused(path, "table = t\ntable = u\n",
	    ":2: 'table' is set a second time");
	unlink(path);
	unsetenv("WTC_SPOOL");
}

static void
test_defaults(void **state)
{
	struct config	 c;
	char		*err = NULL;

	unsetenv("WTC_REDIS_URL");
	unsetenv("WTC_MYSQL_URL");
	unsetenv("WTC_TABLE");
	unsetenv("WTC_SPOOL");
	setenv("WTC_CONFIG", "", 1);
	setenv("XDG_STATE_HOME", "/tmp/state", 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
	config_init(&c);
	assert_int_equal(config_resolve(&c, &err), 0);
	assert_string_equal(c.redis_url, CONFIG_DEFAULT_REDIS_URL);
	assert_string_equal(c.mysql_url, CONFIG_DEFAULT_MYSQL_URL);
	assert_string_equal(c.table, "users");
	assert_string_equal(c.prefix, "");
	assert_string_equal(c.spool_dir, "/tmp/state/wtc/spool");
	config_release(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_url_forms),
		cmocka_unit_test(test_redis_url_errors),
		cmocka_unit_test(test_mysql_url_forms),
		cmocka_unit_test(test_password_detection),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_defaults),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
