/*
 * Tests for the input module: NDJSON splitting, the JSON array scanner,
 * gzip detection and inflating, limits on item size, and error reporting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "input.h"
#include "util.h"

#define MAX_RES 64

/* What one input_next call returned. */
struct res {
	int		 rc;
	char		*text;
	unsigned long	 line;
	char		*err;
};

struct run {
	struct res	 r[MAX_RES];
	int		 n;
};

static char	 tmpdir[] = "/tmp/test-input.XXXXXX";

/* Call input_next until 0 or -2 (or MAX_RES results). */
static void
run_input(struct input *in, struct run *run)
{
	const char	*text;
	size_t		 len;
	unsigned long	 line;
	char		*err = NULL;
	int		 rc;

	memset(run, 0, sizeof *run);
	while (run->n < MAX_RES) {
		line = 0;
		rc = input_next(in, &text, &len, &line, &err);
		run->r[run->n].rc = rc;
		run->r[run->n].line = line;
		if (rc == 1) {
			assert_non_null(text);
			assert_int_equal(strlen(text), len);
			run->r[run->n].text = xstrndup(text, len);
		} else if (rc < 0) {
			assert_non_null(err);
			run->r[run->n].err = err;
			err = NULL;
		}
		run->n++;
		if (rc == 0 || rc == -2 || rc == -3)
			break;
	}
	free(err);
}

static void
run_free(struct run *run)
{
	int	 i;

	for (i = 0; i < run->n; i++) {
		free(run->r[i].text);
		free(run->r[i].err);
	}
}

static void
run_string(const char *text, size_t max_item, struct run *run)
{
	struct input	*in;

	in = input_open_string("<argument 1>", text, max_item);
	assert_non_null(in);
	assert_string_equal(input_name(in), "<argument 1>");
	run_input(in, run);
	input_free(in);
}

static void
check_item(const struct run *run, int i, const char *text, unsigned long line)
{
	assert_true(i < run->n);
	assert_int_equal(run->r[i].rc, 1);
	assert_string_equal(run->r[i].text, text);
	assert_int_equal(run->r[i].line, line);
}

static void
check_error(const struct run *run, int i, int rc, const char *err,
    unsigned long line)
{
	assert_true(i < run->n);
	assert_int_equal(run->r[i].rc, rc);
	assert_string_equal(run->r[i].err, err);
	if (line != 0)
		assert_int_equal(run->r[i].line, line);
}

static void
check_end(const struct run *run, int i)
{
	assert_int_equal(run->n, i + 1);
	assert_int_equal(run->r[i].rc, 0);
}

static char *
tmp_path(const char *name)
{
	return (xasprintf("%s/%s", tmpdir, name));
}

static void
write_file(const char *path, const void *p, size_t n)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, p, n), 0);
	close(fd);
}

static void
write_gz(const char *path, const char *mode, const char *text)
{
	gzFile	 gz;

	gz = gzopen(path, mode);
	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)),
	    (int)strlen(text));
	assert_int_equal(gzclose(gz), Z_OK);
}

static char *
read_whole(const char *path, size_t *len)
{
	struct buf	 b = BUF_INIT;
	char		 tmp[4096];
	ssize_t		 r;
	int		 fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((r = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(&b, tmp, (size_t)r);
	close(fd);
	return (buf_detach(&b, len));
}

static void
run_file(const char *path, size_t max_item, struct run *run)
{
	struct input	*in;
	char		*err = NULL;

	in = input_open_file(path, max_item, &err);
	assert_non_null(in);
	assert_null(err);
	assert_string_equal(input_name(in), path);
	run_input(in, run);
	input_free(in);
}

static long
maxrss_kb(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_maxrss);
}

/*
 * A 64 MiB line arrives through a pipe with max_item 64 KiB: it is reported
 * once, the next line is read, and the process does not grow by the line.
 * First, so that the peak RSS is not already high from other tests.
 */
static void
test_long_line_bounded(void **state)
{
	struct input	*in;
	struct run	 run;
	char		*chunk, *err = NULL;
	long		 before;
	pid_t		 pid;
	int		 fds[2], i, status;

	before = maxrss_kb();
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		chunk = malloc(1024 * 1024);
		memset(chunk, 'x', 1024 * 1024);
		write_all(fds[1], "{\"a\":1}\n", 8);
		for (i = 0; i < 64; i++)
			write_all(fds[1], chunk, 1024 * 1024);
		write_all(fds[1], "\n{\"b\":2}\n", 9);
		_exit(0);
	}
	close(fds[1]);
	in = input_open_fd(fds[0], "<stdin>", 64 * 1024, &err);
	assert_non_null(in);
	run_input(in, &run);
	input_free(in);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	check_item(&run, 0, "{\"a\":1}", 1);
	check_error(&run, 1, -1, "line is longer than the 65536-byte limit", 2);
	check_item(&run, 2, "{\"b\":2}", 3);
	check_end(&run, 3);
	run_free(&run);
	assert_true(maxrss_kb() - before < 32 * 1024);
}

static void
test_ndjson_basic(void **state)
{
	struct run	 run;

	run_string("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 2);
	check_item(&run, 2, "{\"c\":3}", 3);
	check_end(&run, 3);
	run_free(&run);
}

static void
test_ndjson_crlf(void **state)
{
	struct run	 run;

	run_string("{\"a\":1}\r\n{\"b\":\"x\\r\"}\r\n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":\"x\\r\"}", 2);
	check_end(&run, 2);
	run_free(&run);
}

static void
test_ndjson_blank_lines(void **state)
{
	struct run	 run;

	run_string("\n  \n{\"a\":1}\n\t \r\n\r\n\n  {\"b\":2}  \n \n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 3);
	check_item(&run, 1, "  {\"b\":2}  ", 7);
	check_end(&run, 2);
	run_free(&run);

	run_string("", 0, &run);
	check_end(&run, 0);
	run_free(&run);

	run_string(" \n\t\r\n", 0, &run);
	check_end(&run, 0);
	run_free(&run);
}

static void
test_ndjson_no_final_newline(void **state)
{
	struct run	 run;

	run_string("{\"a\":1}\n{\"b\":2}", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 2);
	check_end(&run, 2);
	run_free(&run);

	run_string("{\"a\":1}\r", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_end(&run, 1);
	run_free(&run);

	run_string("1", 0, &run);
	check_item(&run, 0, "1", 1);
	check_end(&run, 1);
	run_free(&run);
}

static void
test_bom(void **state)
{
	struct run	 run;

	run_string("\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 2);
	check_end(&run, 2);
	run_free(&run);

	run_string("\xef\xbb\xbf\n [{\"a\":1}]", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 2);
	check_end(&run, 1);
	run_free(&run);

	/* Only at the very start. */
	run_string("{}\n\xef\xbb\xbf{}\n", 0, &run);
	check_item(&run, 0, "{}", 1);
	check_item(&run, 1, "\xef\xbb\xbf{}", 2);
	check_end(&run, 2);
	run_free(&run);
}

/* Lines at the limit pass, one byte more is skipped; CR is not counted. */
static void
test_ndjson_limit_edges(void **state)
{
	struct run	 run;

	run_string("12345678\r\n123456789\n1234567\n", 8, &run);
	check_item(&run, 0, "12345678", 1);
	check_error(&run, 1, -1, "line is longer than the 8-byte limit", 2);
	check_item(&run, 2, "1234567", 3);
	check_end(&run, 3);
	run_free(&run);

	run_string("{}\n123456789", 8, &run);
	check_item(&run, 0, "{}", 1);
	check_error(&run, 1, -1, "line is longer than the 8-byte limit", 2);
	check_end(&run, 2);
	run_free(&run);
}

/* A 2 MB line in a file with max_item 64 KiB, between short lines. */
static void
test_ndjson_long_line_file(void **state)
{
	struct buf	 b = BUF_INIT;
	struct run	 run;
	char		*path;
	size_t		 i;

	path = tmp_path("long.ndjson");
	buf_adds(&b, "{\"a\":1}\n{\"s\":\"");
	for (i = 0; i < 2 * 1024 * 1024; i++)
		buf_addc(&b, 'y');
	buf_adds(&b, "\"}\r\n\n{\"b\":2}\n");
	write_file(path, b.data, b.len);
	buf_release(&b);

	run_file(path, 64 * 1024, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_error(&run, 1, -1, "line is longer than the 65536-byte limit", 2);
	check_item(&run, 2, "{\"b\":2}", 4);
	check_end(&run, 3);
	run_free(&run);
	unlink(path);
	free(path);
}

/* Many lines through a file: every line arrives once, in order. */
static void
test_ndjson_many_lines(void **state)
{
	struct buf	 b = BUF_INIT;
	struct input	*in;
	const char	*text;
	size_t		 len, i, n = 200000;
	unsigned long	 line;
	char		*path, *err = NULL, want[64];
	int		 rc, w;
	gzFile		 gz;

	for (i = 1; i <= n; i++)
		buf_printf(&b, "{\"id\":%zu,\"pad\":\"%.*s\"}\n", i,
		    (int)(i % 37), "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");

	for (w = 0; w < 2; w++) {
		path = tmp_path(w == 0 ? "many.ndjson" : "many.ndjson.gz");
		if (w == 0)
			write_file(path, b.data, b.len);
		else {
			gz = gzopen(path, "wb");
			assert_non_null(gz);
			assert_int_equal(gzwrite(gz, b.data, (unsigned)b.len),
			    (int)b.len);
			assert_int_equal(gzclose(gz), Z_OK);
		}
		in = input_open_file(path, 0, &err);
		assert_non_null(in);
		for (i = 1; i <= n; i++) {
			rc = input_next(in, &text, &len, &line, &err);
			assert_int_equal(rc, 1);
			assert_int_equal(line, i);
			snprintf(want, sizeof want, "{\"id\":%zu,\"pad\":\"%.*s\"}",
			    i, (int)(i % 37),
			    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
			assert_string_equal(text, want);
		}
		assert_int_equal(input_next(in, &text, &len, &line, &err), 0);
		input_free(in);
		unlink(path);
		free(path);
	}
	buf_release(&b);
}

static void
test_array_simple(void **state)
{
	struct run	 run;

	run_string("[{\"a\":1},{\"b\":2}]", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 1);
	check_end(&run, 2);
	run_free(&run);

	run_string("  [ {\"a\":1} ,\t{\"b\":2} ]  \n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 1);
	check_end(&run, 2);
	run_free(&run);
}

static void
test_array_tricky_strings(void **state)
{
	struct run	 run;

	run_string("[{\"a\":\"],[\",\"b\":[1,[2,{}]],\"c\":\"say \\\"hi\\\" \\\\\"},"
	    "\"x\\\"],y\",12,-1.5e3,true,null,[[\"}\"]],{\"d\":\"\\\\\\\"]\"}]",
	    0, &run);
	check_item(&run, 0,
	    "{\"a\":\"],[\",\"b\":[1,[2,{}]],\"c\":\"say \\\"hi\\\" \\\\\"}", 1);
	check_item(&run, 1, "\"x\\\"],y\"", 1);
	check_item(&run, 2, "12", 1);
	check_item(&run, 3, "-1.5e3", 1);
	check_item(&run, 4, "true", 1);
	check_item(&run, 5, "null", 1);
	check_item(&run, 6, "[[\"}\"]]", 1);
	check_item(&run, 7, "{\"d\":\"\\\\\\\"]\"}", 1);
	check_end(&run, 8);
	run_free(&run);
}

static void
test_array_multiline(void **state)
{
	struct run	 run;

	run_string("\n[\n  {\n    \"a\": 1\n  },\n  {\"b\":\n2},\n\n"
	    "  {\"c\": \"line\\nbreak\"}\n]\n\n", 0, &run);
	check_item(&run, 0, "{\n    \"a\": 1\n  }", 3);
	check_item(&run, 1, "{\"b\":\n2}", 6);
	check_item(&run, 2, "{\"c\": \"line\\nbreak\"}", 9);
	check_end(&run, 3);
	run_free(&run);
}

static void
test_array_empty(void **state)
{
	struct run	 run;

	run_string("[]", 0, &run);
	check_end(&run, 0);
	run_free(&run);

	run_string(" \r\n[ \n ]\n", 0, &run);
	check_end(&run, 0);
	run_free(&run);
}

static void
test_array_missing_comma(void **state)
{
	struct run	 run;

	run_string("[{\"a\":1} {\"b\":\",\"}, {\"c\":3}]", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_error(&run, 1, -1,
	    "invalid JSON array: expected ',' or ']' at line 1", 1);
	check_item(&run, 2, "{\"c\":3}", 1);
	check_end(&run, 3);
	run_free(&run);

	run_string("[\n{\"a\":1}\n\n{\"b\":2}\n]", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 2);
	check_error(&run, 1, -1,
	    "invalid JSON array: expected ',' or ']' at line 4", 4);
	check_end(&run, 2);
	run_free(&run);

	/* A scalar glued to an object. */
	run_string("[1{\"a\":[1,2]},3]", 0, &run);
	check_item(&run, 0, "1", 1);
	check_error(&run, 1, -1,
	    "invalid JSON array: expected ',' or ']' at line 1", 1);
	check_item(&run, 2, "3", 1);
	check_end(&run, 3);
	run_free(&run);
}

static void
test_array_stray_commas(void **state)
{
	struct run	 run;

	run_string("[1,]", 0, &run);
	check_item(&run, 0, "1", 1);
	check_error(&run, 1, -1,
	    "invalid JSON array: expected a value at line 1", 1);
	check_end(&run, 2);
	run_free(&run);

	run_string("[,1]", 0, &run);
	check_error(&run, 0, -1,
	    "invalid JSON array: expected a value at line 1", 1);
	check_item(&run, 1, "1", 1);
	check_end(&run, 2);
	run_free(&run);
}

static void
check_fatal_end(const struct run *run, int i, const char *err)
{
	check_error(run, i, -2, err, 0);
	assert_int_equal(run->n, i + 1);
}

/* A malformed source: -3 once, the items before it stand. */
static void
check_syntax_end(const struct run *run, int i, const char *err)
{
	check_error(run, i, -3, err, 0);
	assert_int_equal(run->n, i + 1);
}

static void
test_array_unclosed(void **state)
{
	struct input	*in;
	struct run	 run;
	const char	*text;
	size_t		 len;
	unsigned long	 line;
	char		*err = NULL;

	run_string("[{\"a\":1},{\"b\":", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_syntax_end(&run, 1,
	    "JSON array is not closed (unexpected end of input)");
	run_free(&run);

	run_string("[{\"a\":1}\n", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_syntax_end(&run, 1,
	    "JSON array is not closed (unexpected end of input)");
	run_free(&run);

	run_string("[\"abc]", 0, &run);
	check_syntax_end(&run, 0,
	    "JSON array is not closed (unexpected end of input)");
	run_free(&run);

	/* Reported once, then the source is at its end. */
	in = input_open_string("<argument 1>", "[1,", 0);
	assert_int_equal(input_next(in, &text, &len, &line, &err), 1);
	assert_int_equal(input_next(in, &text, &len, &line, &err), -3);
	assert_string_equal(err,
	    "JSON array is not closed (unexpected end of input)");
	free(err);
	err = NULL;
	assert_int_equal(input_next(in, &text, &len, &line, &err), 0);
	input_free(in);
}

static void
test_array_trailing(void **state)
{
	struct run	 run;

	run_string("[{\"a\":1}]\n  x", 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_error(&run, 1, -3, "trailing characters after the JSON array", 2);
	assert_int_equal(run.n, 2);
	run_free(&run);

	run_string("[][]", 0, &run);
	check_syntax_end(&run, 0, "trailing characters after the JSON array");
	run_free(&run);
}

static void
test_array_too_long(void **state)
{
	struct buf	 b = BUF_INIT;
	struct run	 run;
	char		*path;
	size_t		 i;

	run_string("[{\"a\":\"0123456789\"},{\"b\":1},\"0123456789abcdef\",2]",
	    16, &run);
	check_error(&run, 0, -1,
	    "JSON array element is longer than the 16-byte limit", 1);
	check_item(&run, 1, "{\"b\":1}", 1);
	check_error(&run, 2, -1,
	    "JSON array element is longer than the 16-byte limit", 1);
	check_item(&run, 3, "2", 1);
	check_end(&run, 4);
	run_free(&run);

	/* 2 MB of element with brackets and quotes in its strings. */
	path = tmp_path("long.json");
	buf_adds(&b, "[{\"a\":1},\n{\"s\":[");
	for (i = 0; i < 100000; i++)
		buf_adds(&b, "\"],[\\\"}\",");
	buf_adds(&b, "1]},\n{\"b\":2}]\n");
	write_file(path, b.data, b.len);
	buf_release(&b);

	run_file(path, 64 * 1024, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_error(&run, 1, -1,
	    "JSON array element is longer than the 65536-byte limit", 2);
	check_item(&run, 2, "{\"b\":2}", 3);
	check_end(&run, 3);
	run_free(&run);
	unlink(path);
	free(path);
}

static void
test_array_too_deep(void **state)
{
	struct buf	 b = BUF_INIT;
	struct run	 run;
	int		 i;

	buf_adds(&b, "[1,");
	for (i = 0; i < INPUT_MAX_DEPTH + 1; i++)
		buf_addc(&b, '[');
	for (i = 0; i < INPUT_MAX_DEPTH + 1; i++)
		buf_addc(&b, ']');
	buf_adds(&b, ",\n2]");
	run_string(b.data, 0, &run);
	check_item(&run, 0, "1", 1);
	check_error(&run, 1, -1,
	    "JSON array element is nested more than 10000 levels deep", 1);
	check_item(&run, 2, "2", 2);
	check_end(&run, 3);
	run_free(&run);
	buf_release(&b);

	/* Exactly the limit is delimited as usual. */
	buf_reset(&b);
	buf_addc(&b, '[');
	for (i = 0; i < INPUT_MAX_DEPTH; i++)
		buf_addc(&b, '[');
	for (i = 0; i < INPUT_MAX_DEPTH; i++)
		buf_addc(&b, ']');
	buf_addc(&b, ']');
	run_string(b.data, 0, &run);
	assert_int_equal(run.r[0].rc, 1);
	assert_int_equal(strlen(run.r[0].text), 2 * INPUT_MAX_DEPTH);
	check_end(&run, 1);
	run_free(&run);
	buf_release(&b);
}

static void
test_gzip(void **state)
{
	struct run	 run;
	char		*path;

	path = tmp_path("x.ndjson.gz");
	write_gz(path, "wb", "{\"a\":1}\r\n\n{\"b\":2}");
	run_file(path, 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 3);
	check_end(&run, 2);
	run_free(&run);

	write_gz(path, "wb", "\xef\xbb\xbf[{\"a\":1},\n{\"b\":2}]");
	run_file(path, 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 2);
	check_end(&run, 2);
	run_free(&run);

	write_gz(path, "wb", "");
	run_file(path, 0, &run);
	check_end(&run, 0);
	run_free(&run);
	unlink(path);
	free(path);
}

/* gzopen "ab" appends a second member; a line spans the two. */
static void
test_gzip_concatenated(void **state)
{
	struct run	 run;
	char		*path;

	path = tmp_path("two.ndjson.gz");
	write_gz(path, "wb", "{\"a\":1}\n{\"b\":");
	write_gz(path, "ab", "2}\n{\"c\":3}\n");
	write_gz(path, "ab", "");
	write_gz(path, "ab", "{\"d\":4}\n");
	run_file(path, 0, &run);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "{\"b\":2}", 2);
	check_item(&run, 2, "{\"c\":3}", 3);
	check_item(&run, 3, "{\"d\":4}", 4);
	check_end(&run, 4);
	run_free(&run);
	unlink(path);
	free(path);
}

static void
test_gzip_corrupt(void **state)
{
	struct run	 run;
	char		*path, *data, *want;
	size_t		 len, i;

	path = tmp_path("bad.ndjson.gz");
	write_gz(path, "wb", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
	data = read_whole(path, &len);

	/* Damage the deflate data (after the 10-byte header). */
	for (i = 10; i < len - 8; i++)
		data[i] ^= 0x55;
	write_file(path, data, len);
	run_file(path, 0, &run);
	assert_true(run.n >= 1);
	assert_int_equal(run.r[run.n - 1].rc, -2);
	want = xasprintf("cannot read '%s': invalid gzip data (", path);
	assert_memory_equal(run.r[run.n - 1].err, want, strlen(want));
	run_free(&run);
	for (i = 10; i < len - 8; i++)
		data[i] ^= 0x55;

	/* A bad CRC. */
	data[len - 8] ^= 1;
	write_file(path, data, len);
	run_file(path, 0, &run);
	assert_int_equal(run.r[run.n - 1].rc, -2);
	assert_memory_equal(run.r[run.n - 1].err, want, strlen(want));
	run_free(&run);
	data[len - 8] ^= 1;

	/* Cut short. */
	write_file(path, data, len - 4);
	run_file(path, 0, &run);
	assert_int_equal(run.r[run.n - 1].rc, -2);
	free(want);
	want = xasprintf("cannot read '%s': invalid gzip data "
	    "(unexpected end of file)", path);
	assert_string_equal(run.r[run.n - 1].err, want);
	run_free(&run);

	/* Garbage after a whole member. */
	data = xrealloc(data, len + 4);
	memcpy(data + len, "junk", 4);
	write_file(path, data, len + 4);
	run_file(path, 0, &run);
	assert_int_equal(run.r[run.n - 1].rc, -2);
	free(want);
	want = xasprintf("cannot read '%s': invalid gzip data (", path);
	assert_memory_equal(run.r[run.n - 1].err, want, strlen(want));
	run_free(&run);

	free(want);
	free(data);
	unlink(path);
	free(path);
}

/* Standard input as a pipe, plain and gzip, read through input_open_fd. */
static void
test_pipe_fd(void **state)
{
	struct input	*in;
	struct run	 run;
	char		*path, *data, *err = NULL;
	size_t		 len;
	int		 fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write_all(fds[1], "{\"a\":1}\n[1]\n", 12), 0);
	close(fds[1]);
	in = input_open_fd(fds[0], "<stdin>", 0, &err);
	assert_non_null(in);
	assert_string_equal(input_name(in), "<stdin>");
	run_input(in, &run);
	input_free(in);
	/* Not owned: still open. */
	assert_int_equal(close(fds[0]), 0);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_item(&run, 1, "[1]", 2);
	check_end(&run, 2);
	run_free(&run);

	path = tmp_path("pipe.gz");
	write_gz(path, "wb", "[{\"a\":1}]");
	data = read_whole(path, &len);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write_all(fds[1], data, 1), 0);
	assert_int_equal(write_all(fds[1], data + 1, len - 1), 0);
	close(fds[1]);
	in = input_open_fd(fds[0], "<stdin>", 0, &err);
	run_input(in, &run);
	input_free(in);
	close(fds[0]);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_end(&run, 1);
	run_free(&run);
	free(data);
	unlink(path);
	free(path);
}

/* "-" reads standard input and is named "<stdin>". */
static void
test_stdin_dash(void **state)
{
	struct input	*in;
	struct run	 run;
	char		*err = NULL;
	int		 fds[2], saved;

	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write_all(fds[1], "{\"a\":1}", 7), 0);
	close(fds[1]);
	assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
	close(fds[0]);
	in = input_open_file("-", 0, &err);
	assert_non_null(in);
	assert_string_equal(input_name(in), "<stdin>");
	run_input(in, &run);
	input_free(in);
	assert_true(fcntl(STDIN_FILENO, F_GETFD) >= 0);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	check_item(&run, 0, "{\"a\":1}", 1);
	check_end(&run, 1);
	run_free(&run);
}

static void
test_open_errors(void **state)
{
	struct input	*in;
	struct run	 run;
	char		*err = NULL, *want;

	in = input_open_file("/nonexistent/x.ndjson", 0, &err);
	assert_null(in);
	assert_string_equal(err, "cannot open '/nonexistent/x.ndjson': "
	    "No such file or directory");
	free(err);

	/* A directory opens, then fails to read. */
	in = input_open_file(tmpdir, 0, &err);
	assert_non_null(in);
	run_input(in, &run);
	input_free(in);
	want = xasprintf("cannot read '%s': Is a directory", tmpdir);
	check_fatal_end(&run, 0, want);
	free(want);
	run_free(&run);
}

static int
setup(void **state)
{
	return (mkdtemp(tmpdir) == NULL ? -1 : 0);
}

static int
teardown(void **state)
{
	return (rmdir(tmpdir));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_line_bounded),
		cmocka_unit_test(test_ndjson_basic),
		cmocka_unit_test(test_ndjson_crlf),
		cmocka_unit_test(test_ndjson_blank_lines),
		cmocka_unit_test(test_ndjson_no_final_newline),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_ndjson_limit_edges),
		cmocka_unit_test(test_ndjson_long_line_file),
		cmocka_unit_test(test_ndjson_many_lines),
		cmocka_unit_test(test_array_simple),
		cmocka_unit_test(test_array_tricky_strings),
		cmocka_unit_test(test_array_multiline),
		cmocka_unit_test(test_array_empty),
		cmocka_unit_test(test_array_missing_comma),
		cmocka_unit_test(test_array_stray_commas),
		cmocka_unit_test(test_array_unclosed),
		cmocka_unit_test(test_array_trailing),
		cmocka_unit_test(test_array_too_long),
		cmocka_unit_test(test_array_too_deep),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_gzip_concatenated),
		cmocka_unit_test(test_gzip_corrupt),
		cmocka_unit_test(test_pipe_fd),
		cmocka_unit_test(test_stdin_dash),
		cmocka_unit_test(test_open_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, setup, teardown));
}
