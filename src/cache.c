/*
 * The Redis module: records as hashes, written by server-side Lua scripts so
 * that replacing a hash and stamping its version is atomic, and pipelined so
 * that a bulk load costs one round trip per call rather than per record.
 * Nothing outside this file sees hiredis.
 *
 * Scripts are loaded once per connection (SCRIPT LOAD) and run by sha; a
 * NOSCRIPT reply (the server restarted or SCRIPT FLUSH ran) reloads them and
 * runs the refused command again, which is safe because every script
 * replaces rather than modifies.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "util.h"

/* Records per EVALSHA: measured as the sweet spot for the put script. */
#define CACHE_CHUNK	128
/* Records below which a transaction's four extra commands do not pay. */
#define CACHE_TX_MIN	16
/* Chunks written ahead of the replies read, bounding client memory. */
#define CACHE_WINDOW	4096
/* Bytes of formatted commands that are sent before more are built. */
#define CACHE_SEND_AT	(64 * 1024)
/* Field/value pairs per HSET inside a script (Lua's unpack limit). */
#define CACHE_UNPACK	4000
#define CACHE_STR(x)	#x
#define CACHE_XSTR(x)	CACHE_STR(x)

/*
 * KEYS: record keys.  ARGV[1] tells how the records follow.  A field count
 * nf >= 0: every record has the same fields, named once in ARGV[2..nf+1],
 * and each record is its version (a decimal string) and its nf values;
 * naming them once saves Redis a string per field per record, and the
 * HSET's arguments are built in one table reused for every record.  -1:
 * each record is its version, its field count, then field/value pairs
 * (records with differing fields, or too many for one unpack).
 *
 * A key whose stored version is at least as new is left alone: Redis, like
 * MySQL, keeps the highest version.  Versions exceed 2^53, so they are
 * compared as decimal strings (length first), never as Lua numbers.  Every
 * hash wtc writes carries the version field, so a key without one is taken
 * as absent and not deleted first (a non-hash there still fails with
 * WRONGTYPE).  One EXISTS answers for the whole chunk when none of its keys
 * is there, as in a bulk load, sparing an HGET per record; but only when no
 * key comes twice, since a repeated key must see its first record's
 * version.  Returns how many of the keys were there already (EXISTS's
 * count), which tells the caller how much of its load is updates.
 */
static const char cache_put_lua[] =
	"local V = '" SCHEMA_VERSION_COLUMN "'\n"
	"local present = redis.call('EXISTS', unpack(KEYS))\n"
	"local absent = present == 0\n"
	"if absent then\n"
	"  local seen = {}\n"
	"  for i = 1, #KEYS do\n"
	"    if seen[KEYS[i]] then absent = false break end\n"
	"    seen[KEYS[i]] = true\n"
	"  end\n"
	"end\n"
	"local function newer(k, vs)\n"
	"  if absent then return true end\n"
	"  local old = redis.call('HGET', k, V)\n"
	"  if old and (#old > #vs or (#old == #vs and old >= vs)) then\n"
	"    return false\n"
	"  end\n"
	"  if old then redis.call('DEL', k) end\n"
	"  return true\n"
	"end\n"
	"local nf = tonumber(ARGV[1])\n"
	"if nf >= 0 then\n"
	"  local t = {V, ''}\n"
	"  for j = 1, nf do t[2 * j + 1] = ARGV[1 + j]; t[2 * j + 2] = '' end\n"
	"  local a = nf + 2\n"
	"  for i = 1, #KEYS do\n"
	"    if newer(KEYS[i], ARGV[a]) then\n"
	"      t[2] = ARGV[a]\n"
	"      for j = 1, nf do t[2 * j + 2] = ARGV[a + j] end\n"
	"      redis.call('HSET', KEYS[i], unpack(t))\n"
	"    end\n"
	"    a = a + nf + 1\n"
	"  end\n"
	"  return present\n"
	"end\n"
	"local a = 2\n"
	"for i = 1, #KEYS do\n"
	"  local k = KEYS[i]\n"
	"  local vs = ARGV[a]\n"
	"  local n = tonumber(ARGV[a + 1])\n"
	"  a = a + 2\n"
	"  local last = a + 2 * n - 1\n"
	"  if newer(k, vs) then\n"
	"    if n <= " CACHE_XSTR(CACHE_UNPACK) " then\n"
	"      redis.call('HSET', k, V, vs, unpack(ARGV, a, last))\n"
	"    else\n"
	"      redis.call('HSET', k, V, vs)\n"
	"      local s = a\n"
	"      while s <= last do\n"
	"        local e = s + 2 * " CACHE_XSTR(CACHE_UNPACK) " - 1\n"
	"        if e > last then e = last end\n"
	"        redis.call('HSET', k, unpack(ARGV, s, e))\n"
	"        s = e + 1\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  a = last + 1\n"
	"end\n"
	"return present\n";

/*
 * The transaction path (see cache_put): MULTI, this script, a plain HSET
 * per record, cache_tx_after_lua, EXEC.  KEYS: the records' keys, all
 * different; ARGV[1]: a scratch key prefix.  When none of the keys is
 * there, which one EXISTS tells, it is done.  Otherwise it moves each hash
 * that carries a version to ARGV[1]..i, out of the HSETs' way, so that
 * they build whole new hashes, and lists the moves at ARGV[1]..'moved'
 * (index, then key) for the after script.  A non-hash stays, for its HSET
 * to fail with WRONGTYPE; a hash without a version stays, to be added to,
 * as the put script treats it.  RENAME is not refused for memory, and once
 * it has written, neither is RPUSH: a move is always listed.  Returns how
 * many of the keys were there.
 */
static const char cache_tx_before_lua[] =
	"local present = redis.call('EXISTS', unpack(KEYS))\n"
	"if present == 0 then return 0 end\n"
	"local moved = {}\n"
	"for i = 1, #KEYS do\n"
	"  local old = redis.pcall('HGET', KEYS[i], '" SCHEMA_VERSION_COLUMN "')\n"
	"  if type(old) == 'string' then\n"
	"    redis.call('RENAME', KEYS[i], ARGV[1] .. i)\n"
	"    moved[#moved + 1] = i\n"
	"    moved[#moved + 1] = KEYS[i]\n"
	"  end\n"
	"end\n"
	"if #moved > 0 then\n"
	"  redis.call('DEL', ARGV[1] .. 'moved')\n"
	"  redis.call('RPUSH', ARGV[1] .. 'moved', unpack(moved))\n"
	"end\n"
	"return present\n";

/*
 * After the HSETs: each moved hash whose version is at least as new as
 * the record's goes back, replacing what the HSET built (or the nothing a
 * failed HSET left); the others are dropped.  No keys: the moves list
 * names them, so a bulk load's transaction does not carry its keys twice.
 */
static const char cache_tx_after_lua[] =
	"local V = '" SCHEMA_VERSION_COLUMN "'\n"
	"local mk = ARGV[1] .. 'moved'\n"
	"local moved = redis.call('LRANGE', mk, 0, -1)\n"
	"if #moved == 0 then return 0 end\n"
	"redis.call('DEL', mk)\n"
	"for j = 1, #moved, 2 do\n"
	"  local s = ARGV[1] .. moved[j]\n"
	"  local k = moved[j + 1]\n"
	"  local old = redis.call('HGET', s, V)\n"
	"  local new = redis.call('HGET', k, V)\n"
	"  if not new or #old > #new or (#old == #new and old >= new) then\n"
	"    redis.call('RENAME', s, k)\n"
	"  else\n"
	"    redis.call('DEL', s)\n"
	"  end\n"
	"end\n"
	"return #moved / 2\n";

/*
 * Raise the counter at KEYS[1] to at least ARGV[1].  Compared as decimal
 * strings (length, then bytes) so ids beyond 2^53 stay exact.
 */
static const char cache_raise_lua[] =
	"local cur = redis.call('GET', KEYS[1])\n"
	"local at = ARGV[1]\n"
	"if not cur or #cur < #at or (#cur == #at and cur < at) then\n"
	"  redis.call('SET', KEYS[1], at)\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/*
 * KEYS[1]: key; ARGV: version, seconds to live (0: for good), then
 * field/value pairs.  A write of the key later (put's DEL and HSET) makes
 * it lasting again.
 */
static const char cache_fill_lua[] =
	"local old = redis.call('HGET', KEYS[1], '" SCHEMA_VERSION_COLUMN "')\n"
	"local v = ARGV[1]\n"
	"if old and (#old > #v or (#old == #v and old >= v)) then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"redis.call('HSET', KEYS[1], '" SCHEMA_VERSION_COLUMN "', v)\n"
	"if ARGV[2] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
	"local s = 3\n"
	"while s <= #ARGV do\n"
	"  local e = s + 2 * " CACHE_XSTR(CACHE_UNPACK) " - 1\n"
	"  if e > #ARGV then e = #ARGV end\n"
	"  redis.call('HSET', KEYS[1], unpack(ARGV, s, e))\n"
	"  s = e + 1\n"
	"end\n"
	"return 1\n";

/*
 * Delete each KEYS[i] whose version is still ARGV[i]; returns how many.  A
 * key that is not a hash is not ours to take back (pcall: no error).
 */
static const char cache_unput_lua[] =
	"local n = 0\n"
	"for i = 1, #KEYS do\n"
	"  if redis.pcall('HGET', KEYS[i], '" SCHEMA_VERSION_COLUMN "') == "
	"ARGV[i] then\n"
	"    redis.call('DEL', KEYS[i])\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n";

enum cache_script {
	CACHE_SCRIPT_PUT,
	CACHE_SCRIPT_RAISE,
	CACHE_SCRIPT_FILL,
	CACHE_SCRIPT_UNPUT,
	CACHE_NSCRIPTS
};

static const char *cache_scripts[CACHE_NSCRIPTS] = {
	cache_put_lua, cache_raise_lua, cache_fill_lua, cache_unput_lua
};

struct cache {
	redisContext	*ctx;
	char		*where;		/* "host:port" or the socket path, for messages */
	struct redis_addr addr;		/* a copy, to reconnect */
	int		 timeout_ms;
	char		 sha[CACHE_NSCRIPTS][41];

	/* cache_put's reusable argument storage. */
	struct buf	 keys;		/* the keys of one chunk, NUL-separated */
	struct buf	 nums;		/* field counts of one chunk, NUL-separated */
	size_t		*koff;		/* offsets into keys / nums, per record */
	size_t		*klen;		/* the keys' lengths: a key may hold NULs */
	size_t		*noff;
	size_t		 offcap;
	size_t		*cstart;	/* cache_put's chunk starts */
	size_t		*cnrep;		/* and the replies each chunk gets */
	size_t		 cstartcap;
	struct buf	 scratch;	/* the transaction path's scratch key prefix */
	int		 updating;	/* the last cache_put found many keys there */
	const char	**argv;
	size_t		*argvlen;
	size_t		 argcap;
};

static void
cache_addr_copy(struct redis_addr *dst, const struct redis_addr *src)
{
	memset(dst, 0, sizeof *dst);
	dst->host = src->host != NULL ? xstrdup(src->host) : NULL;
	dst->port = src->port;
	dst->path = src->path != NULL ? xstrdup(src->path) : NULL;
	dst->db = src->db;
	dst->user = src->user != NULL ? xstrdup(src->user) : NULL;
	dst->password = src->password != NULL ? xstrdup(src->password) : NULL;
}

static void
cache_addr_release(struct redis_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	if (a->password != NULL) {
		explicit_bzero(a->password, strlen(a->password));
		free(a->password);
	}
	memset(a, 0, sizeof *a);
}

static struct timeval
cache_tv(int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return (tv);
}

/* The context's I/O error as a message; the context is unusable afterwards. */
static int
cache_io_error(struct cache *c, char **err)
{
	const char	*why;

	why = c->ctx != NULL && c->ctx->errstr[0] != '\0' ? c->ctx->errstr :
	    "connection closed";
	if (strcmp(why, "Resource temporarily unavailable") == 0)
		why = "timed out";	/* hiredis reports a timeout as EAGAIN */
	return (err_set(err, "lost connection to redis '%s': %s", c->where, why));
}

/* Run one command; returns the reply (caller frees) or NULL with *err. */
static redisReply *
cache_command(struct cache *c, int argc, const char **argv, const size_t *argvlen,
    char **err)
{
	void	*reply = NULL;

	if (redisAppendCommandArgv(c->ctx, argc, argv, argvlen) != REDIS_OK ||
	    redisGetReply(c->ctx, &reply) != REDIS_OK) {
		if (reply != NULL)
			freeReplyObject(reply);
		cache_io_error(c, err);
		return (NULL);
	}
	return (reply);
}

static int
cache_load_scripts(struct cache *c, char **err)
{
	const char	*argv[3];
	size_t		 argvlen[3];
	redisReply	*r;
	int		 i;

	for (i = 0; i < CACHE_NSCRIPTS; i++) {
		argv[0] = "SCRIPT";
		argvlen[0] = 6;
		argv[1] = "LOAD";
		argvlen[1] = 4;
		argv[2] = cache_scripts[i];
		argvlen[2] = strlen(cache_scripts[i]);
		if ((r = cache_command(c, 3, argv, argvlen, err)) == NULL)
			return (-1);
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			err_set(err, "redis '%s' refused to load a script: %s",
			    c->where, r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply");
			freeReplyObject(r);
			return (-1);
		}
		memcpy(c->sha[i], r->str, 40);
		c->sha[i][40] = '\0';
		freeReplyObject(r);
	}
	return (0);
}

/* Open the connection in c->ctx: connect, AUTH, SELECT, load scripts. */
static int
cache_open(struct cache *c, char **err)
{
	struct timeval	 tv = cache_tv(c->timeout_ms);
	const char	*argv[3];
	size_t		 argvlen[3], n;
	char		 dbtext[32];
	redisReply	*r = NULL;
	int		 rc = -1;

	if (c->ctx != NULL) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	if (c->addr.path != NULL)
		c->ctx = c->timeout_ms > 0 ?
		    redisConnectUnixWithTimeout(c->addr.path, tv) :
		    redisConnectUnix(c->addr.path);
	else
		c->ctx = c->timeout_ms > 0 ?
		    redisConnectWithTimeout(c->addr.host, c->addr.port, tv) :
		    redisConnect(c->addr.host, c->addr.port);
	if (c->ctx == NULL) {
		err_set(err, "cannot connect to redis '%s': out of memory", c->where);
		goto out;
	}
	if (c->ctx->err != 0) {
		err_set(err, "cannot connect to redis '%s': %s", c->where,
		    c->ctx->errstr);
		goto out;
	}
	if (c->timeout_ms > 0 && redisSetTimeout(c->ctx, tv) != REDIS_OK) {
		err_set(err, "cannot connect to redis '%s': cannot set timeout",
		    c->where);
		goto out;
	}

	/* An ACL user authenticates even without a password (nopass). */
	if (c->addr.user != NULL || (c->addr.password != NULL &&
	    c->addr.password[0] != '\0')) {
		n = 0;
		argv[n] = "AUTH";
		argvlen[n++] = 4;
		if (c->addr.user != NULL) {
			argv[n] = c->addr.user;
			argvlen[n++] = strlen(c->addr.user);
		}
		argv[n] = c->addr.password != NULL ? c->addr.password : "";
		argvlen[n] = strlen(argv[n]);
		n++;
		if ((r = cache_command(c, (int)n, argv, argvlen, err)) == NULL)
			goto out;
		if (r->type == REDIS_REPLY_ERROR) {
			/* The server's text never echoes the password. */
			err_set(err, "cannot authenticate to redis '%s': %s",
			    c->where, r->str);
			goto out;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (c->addr.db != 0) {
		snprintf(dbtext, sizeof dbtext, "%d", c->addr.db);
		argv[0] = "SELECT";
		argvlen[0] = 6;
		argv[1] = dbtext;
		argvlen[1] = strlen(dbtext);
		if ((r = cache_command(c, 2, argv, argvlen, err)) == NULL)
			goto out;
		if (r->type == REDIS_REPLY_ERROR) {
			err_set(err, "cannot select database %d on redis '%s': %s",
			    c->addr.db, c->where, r->str);
			goto out;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (cache_load_scripts(c, err) != 0)
		goto out;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (rc != 0 && c->ctx != NULL) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	return (rc);
}

/*
 * Reconnect if the last command broke the connection, or Redis closed it
 * since: between commands Redis sends nothing, so a readable socket is
 * one it closed.
 */
int
cache_ready(struct cache *c, char **err)
{
	struct pollfd	 pfd;

	if (c->ctx != NULL && c->ctx->err == 0) {
		pfd.fd = c->ctx->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 0)
			return (0);
	}
	return (cache_open(c, err));
}

struct cache *
cache_connect(const struct redis_addr *addr, int timeout_ms, char **err)
{
	struct cache	*c;

	c = xcalloc(1, sizeof *c);
	cache_addr_copy(&c->addr, addr);
	if (c->addr.path != NULL)
		c->where = xstrdup(c->addr.path);
	else {
		if (c->addr.host == NULL)
			c->addr.host = xstrdup("127.0.0.1");
		if (c->addr.port == 0)
			c->addr.port = 6379;
		c->where = xasprintf("%s:%d", c->addr.host, c->addr.port);
	}
	c->timeout_ms = timeout_ms;
	buf_init(&c->keys);
	buf_init(&c->nums);
	buf_init(&c->scratch);
	if (cache_open(c, err) != 0) {
		cache_free(c);
		return (NULL);
	}
	return (c);
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c->argvlen);
	free(c->argv);
	free(c->noff);
	free(c->koff);
	free(c->klen);
	free(c->cstart);
	free(c->cnrep);
	buf_release(&c->scratch);
	buf_release(&c->nums);
	buf_release(&c->keys);
	free(c->where);
	cache_addr_release(&c->addr);
	free(c);
}

int
cache_ping(struct cache *c, char **err)
{
	const char	*argv[1] = { "PING" };
	size_t		 argvlen[1] = { 4 };
	redisReply	*r;
	int		 rc = -1;

	if (cache_ready(c, err) != 0)
		return (-1);
	if ((r = cache_command(c, 1, argv, argvlen, err)) == NULL)
		return (-1);
	if (r->type == REDIS_REPLY_ERROR)
		err_set(err, "redis '%s' refused ping: %s", c->where, r->str);
	else
		rc = 0;
	freeReplyObject(r);
	return (rc);
}

static int
cache_is_noscript(const redisReply *r)
{
	return (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0);
}

/*
 * EVALSHA the script with argv[0..1] left for "EVALSHA" and the sha;
 * reloads the scripts once on NOSCRIPT.  Returns the reply or NULL.
 */
static redisReply *
cache_eval(struct cache *c, enum cache_script s, int argc, const char **argv,
    size_t *argvlen, char **err)
{
	redisReply	*r;

	argv[0] = "EVALSHA";
	argvlen[0] = 7;
	argv[1] = c->sha[s];
	argvlen[1] = 40;
	if ((r = cache_command(c, argc, argv, argvlen, err)) == NULL)
		return (NULL);
	if (!cache_is_noscript(r))
		return (r);
	freeReplyObject(r);
	if (cache_load_scripts(c, err) != 0)
		return (NULL);
	argv[1] = c->sha[s];
	return (cache_command(c, argc, argv, argvlen, err));
}

static void
cache_counter_key(struct buf *b, const char *prefix, const char *table)
{
	buf_reset(b);
	buf_adds(b, prefix != NULL ? prefix : "");
	buf_adds(b, "wtc:next-id:");
	buf_adds(b, table);
}

int
cache_ids_exist(struct cache *c, const char *prefix, const char *table,
    char **err)
{
	struct buf	 key = BUF_INIT;
	const char	*argv[2];
	size_t		 argvlen[2];
	redisReply	*r = NULL;
	int		 rc = -1;

	if (cache_ready(c, err) != 0)
		goto out;
	cache_counter_key(&key, prefix, table);
	argv[0] = "EXISTS";
	argvlen[0] = 6;
	argv[1] = key.data;
	argvlen[1] = key.len;
	if ((r = cache_command(c, 2, argv, argvlen, err)) == NULL)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		err_set(err, "redis refused EXISTS '%s': %s", key.data,
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto out;
	}
	rc = r->integer > 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	buf_release(&key);
	return (rc);
}

/* Raise the id counter of table to at least at_least. */
int
cache_raise_ids(struct cache *c, const char *prefix, const char *table,
    uint64_t at_least, char **err)
{
	struct buf	 key = BUF_INIT;
	const char	*argv[5];
	size_t		 argvlen[5];
	char		 num[32];
	redisReply	*r = NULL;
	int		 rc = -1;

	cache_counter_key(&key, prefix, table);
	/* Redis counters are signed 64-bit: beyond that INCRBY would fail forever. */
	if (at_least > INT64_MAX) {
		err_set(err, "cannot raise '%s' to %" PRIu64 ": beyond the range of "
		    "redis counters", key.data, at_least);
		goto out;
	}
	if (cache_ready(c, err) != 0)
		goto out;
	snprintf(num, sizeof num, "%" PRIu64, at_least);
	argv[2] = "1";
	argvlen[2] = 1;
	argv[3] = key.data;
	argvlen[3] = key.len;
	argv[4] = num;
	argvlen[4] = strlen(num);
	if ((r = cache_eval(c, CACHE_SCRIPT_RAISE, 5, argv, argvlen, err)) == NULL)
		goto out;
	if (r->type == REDIS_REPLY_ERROR) {
		err_set(err, "redis refused to raise '%s': %s", key.data, r->str);
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	buf_release(&key);
	return (rc);
}

/*
 * Raise the counter to floor, then INCRBY count: INCRBY is atomic and the
 * counter only grows, so concurrent callers get disjoint blocks above floor.
 */
int
cache_alloc_ids(struct cache *c, const char *prefix, const char *table,
    uint64_t count, uint64_t floor, uint64_t *first, char **err)
{
	struct buf	 key = BUF_INIT;
	const char	*argv[3];
	size_t		 argvlen[3];
	char		 num[32];
	redisReply	*r = NULL;
	int		 rc = -1;

	if (count == 0 || count > INT64_MAX) {
		err_set(err, "cannot allocate %" PRIu64 " ids", count);
		goto out;
	}
	if (floor > 0 && cache_raise_ids(c, prefix, table, floor, err) != 0)
		goto out;
	if (cache_ready(c, err) != 0)
		goto out;
	cache_counter_key(&key, prefix, table);
	snprintf(num, sizeof num, "%" PRIu64, count);
	argv[0] = "INCRBY";
	argvlen[0] = 6;
	argv[1] = key.data;
	argvlen[1] = key.len;
	argv[2] = num;
	argvlen[2] = strlen(num);
	if ((r = cache_command(c, 3, argv, argvlen, err)) == NULL)
		goto out;
	/* Redis says "increment or decrement would overflow". */
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "overflow") != NULL) {
		err_set(err, "the id counter '%s' is used up: it is within "
		    "%" PRIu64 " of %" PRId64 ", the largest a redis counter "
		    "holds (did a record bring an id that high?)", key.data,
		    count, INT64_MAX);
		rc = -2;
		goto out;
	}
	if (r->type != REDIS_REPLY_INTEGER) {
		err_set(err, "redis refused to allocate ids at '%s': %s", key.data,
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto out;
	}
	*first = (uint64_t)r->integer - count + 1;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	buf_release(&key);
	return (rc);
}

static void
cache_reserve(struct cache *c, size_t nrec, size_t nargs)
{
	if (nrec > c->offcap) {
		c->koff = xreallocarray(c->koff, nrec, sizeof *c->koff);
		c->klen = xreallocarray(c->klen, nrec, sizeof *c->klen);
		c->noff = xreallocarray(c->noff, nrec, sizeof *c->noff);
		c->offcap = nrec;
	}
	if (nargs > c->argcap) {
		c->argv = xreallocarray(c->argv, nargs, sizeof *c->argv);
		c->argvlen = xreallocarray(c->argvlen, nargs, sizeof *c->argvlen);
		c->argcap = nargs;
	}
}

static int
cache_same_name(const struct rec_field *a, const struct rec_field *b)
{
	return ((a->col >= 0 && a->col == b->col) || strcmp(a->name, b->name) == 0);
}

/*
 * Whether recs[0..n-1] all have the same fields, NULLs left out, in the
 * same order, and few enough for the script's one unpack per record; *nf
 * is their count.
 */
static int
cache_same_fields(struct record **recs, size_t n, size_t *nf)
{
	const struct record	*first = recs[0], *rec;
	size_t			 i, j, k;

	*nf = 0;
	for (j = 0; j < first->nfields; j++)
		if (first->fields[j].type != REC_NULL)
			(*nf)++;
	if (*nf >= CACHE_UNPACK)
		return (0);
	for (i = 1; i < n; i++) {
		rec = recs[i];
		for (j = k = 0;; j++, k++) {
			while (j < first->nfields && first->fields[j].type == REC_NULL)
				j++;
			while (k < rec->nfields && rec->fields[k].type == REC_NULL)
				k++;
			if (j == first->nfields || k == rec->nfields) {
				if (j != first->nfields || k != rec->nfields)
					return (0);
				break;
			}
			if (!cache_same_name(&first->fields[j], &rec->fields[k]))
				return (0);
		}
	}
	return (1);
}

/* Whether the chunk's n keys (c->keys at c->koff, n <= CACHE_CHUNK) differ. */
static int
cache_keys_distinct(struct cache *c, size_t n)
{
	uint16_t	 slot[2 * CACHE_CHUNK];	/* a key's index + 1, or 0 */
	const char	*key;
	uint32_t	 h;
	size_t		 i, j, o;

	memset(slot, 0, sizeof slot);
	for (i = 0; i < n; i++) {
		h = 2166136261u;	/* FNV-1a */
		key = c->keys.data + c->koff[i];
		for (j = 0; j < c->klen[i]; j++)
			h = (h ^ (unsigned char)key[j]) * 16777619u;
		for (h %= 2 * CACHE_CHUNK; slot[h] != 0;
		    h = (h + 1) % (2 * CACHE_CHUNK)) {
			o = slot[h] - 1u;
			if (c->klen[o] == c->klen[i] &&
			    memcmp(c->keys.data + c->koff[o], key,
			    c->klen[i]) == 0)
				return (0);
		}
		slot[h] = (uint16_t)(i + 1);
	}
	return (1);
}

/*
 * A script's key arguments: argv[2] the count n (written to nkeys, 32
 * bytes), argv[3..n+2] the n keys in c->keys at c->koff.
 */
static void
cache_argv_keys(struct cache *c, char *nkeys, size_t n)
{
	size_t	 i;
	int	 len;

	len = snprintf(nkeys, 32, "%zu", n);
	c->argv[2] = nkeys;
	c->argvlen[2] = (size_t)len;
	for (i = 0; i < n; i++) {
		c->argv[3 + i] = c->keys.data + c->koff[i];
		c->argvlen[3 + i] = c->klen[i];
	}
}

/*
 * "HSET KEY _wtc_version VERSION" of record i (its key and version in
 * c->keys and c->nums) as argv[0..3]; returns 4, the next argument.
 */
static size_t
cache_argv_hset(struct cache *c, size_t i)
{
	c->argv[0] = "HSET";
	c->argvlen[0] = 4;
	c->argv[1] = c->keys.data + c->koff[i];
	c->argvlen[1] = c->klen[i];
	c->argv[2] = SCHEMA_VERSION_COLUMN;
	c->argvlen[2] = strlen(SCHEMA_VERSION_COLUMN);
	c->argv[3] = c->nums.data + c->noff[i];
	c->argvlen[3] = strlen(c->argv[3]);
	return (4);
}

/*
 * Record i's key into c->keys at c->koff[i] (c->klen[i] bytes) and its
 * version into c->nums at c->noff[i], each ending in a NUL.  The length
 * counts: a binary key may hold NULs, and cut at the first, keys that
 * differ after it were one in Redis.
 */
static int
cache_key_version(struct cache *c, const struct schema *s, const char *prefix,
    const struct record *rec, size_t i, char **err)
{
	char	 num[32];
	int	 len;

	c->koff[i] = c->keys.len;
	if (record_key(rec, s, prefix, &c->keys, err) != 0)
		return (-1);
	c->klen[i] = c->keys.len - c->koff[i];
	buf_addc(&c->keys, '\0');
	c->noff[i] = c->nums.len;
	len = snprintf(num, sizeof num, "%" PRIu64, rec->version);
	buf_add(&c->nums, num, (size_t)len + 1);
	return (0);
}

/*
 * Append recs[0..n-1] as one transaction (see cache_tx_before_lua), with
 * the keys and versions in c->keys and c->nums already.  EVAL, not
 * EVALSHA: a script missing at EXEC would fail alone, and the HSETs after
 * it would overwrite newer records unguarded.
 */
static int
cache_append_tx(struct cache *c, struct record **recs, size_t n)
{
	const struct rec_field	*f;
	const char		*word;
	char			 nkeys[32];
	size_t			 i, j, k;

	word = "MULTI";
	if (redisAppendCommandArgv(c->ctx, 1, &word, NULL) != REDIS_OK)
		return (-1);
	c->argv[0] = "EVAL";
	c->argvlen[0] = 4;
	c->argv[1] = cache_tx_before_lua;
	c->argvlen[1] = sizeof cache_tx_before_lua - 1;
	cache_argv_keys(c, nkeys, n);
	c->argv[3 + n] = c->scratch.data;
	c->argvlen[3 + n] = c->scratch.len;
	if (redisAppendCommandArgv(c->ctx, (int)(4 + n), c->argv,
	    c->argvlen) != REDIS_OK)
		return (-1);

	for (i = 0; i < n; i++) {
		k = cache_argv_hset(c, i);
		for (j = 0; j < recs[i]->nfields; j++) {
			f = &recs[i]->fields[j];
			if (f->type == REC_NULL)
				continue;
			c->argv[k] = f->name;
			c->argvlen[k++] = strlen(f->name);
			c->argv[k] = f->val;
			c->argvlen[k++] = f->len;
		}
		if (redisAppendCommandArgv(c->ctx, (int)k, c->argv,
		    c->argvlen) != REDIS_OK)
			return (-1);
	}

	c->argv[0] = "EVAL";
	c->argvlen[0] = 4;
	c->argv[1] = cache_tx_after_lua;
	c->argvlen[1] = sizeof cache_tx_after_lua - 1;
	c->argv[2] = "0";
	c->argvlen[2] = 1;
	c->argv[3] = c->scratch.data;
	c->argvlen[3] = c->scratch.len;
	if (redisAppendCommandArgv(c->ctx, 4, c->argv, c->argvlen) != REDIS_OK)
		return (-1);
	word = "EXEC";
	if (redisAppendCommandArgv(c->ctx, 1, &word, NULL) != REDIS_OK)
		return (-1);
	return (0);
}

/*
 * Append the commands for recs[0..n-1] to the output buffer, and set *nrep
 * to the replies they will get: for a fresh id (then n is 1) a plain
 * "HSET key _wtc_version v f1 v1 ..."; for a bulk load's chunk, a
 * transaction of plain HSETs (cache_append_tx); otherwise one EVALSHA of
 * the put script, in its shared-names layout when the records allow.  Keys
 * and numbers are built first (their buffers may move), then the argument
 * vector points into them and into the records; hiredis copies it all.
 */
static int
cache_append_chunk(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, int fresh, size_t *nrep, char **err)
{
	const struct record	*rec;
	const struct rec_field	*f;
	size_t			 i, j, k, nargs, nf, nfi;
	char			 num[32], nkeys[32], mode[32];
	int			 len, shared;

	buf_reset(&c->keys);
	buf_reset(&c->nums);
	cache_reserve(c, n, 0);
	shared = !fresh && cache_same_fields(recs, n, &nf);
	nargs = 4 + (shared ? nf : 0);
	for (i = 0; i < n; i++) {
		rec = recs[i];
		if (cache_key_version(c, s, prefix, rec, i, err) != 0)
			return (-1);
		nfi = 0;
		for (j = 0; j < rec->nfields; j++)
			if (rec->fields[j].type != REC_NULL)
				nfi++;
		if (!shared && !fresh) {
			len = snprintf(num, sizeof num, "%zu", nfi);
			buf_add(&c->nums, num, (size_t)len + 1);
		}
		nargs += shared ? 2 + nf : 3 + 2 * nfi;
	}
	cache_reserve(c, n, nargs);

	*nrep = 1;
	if (!fresh && !c->updating && n >= CACHE_TX_MIN &&
	    cache_keys_distinct(c, n)) {
		if (cache_append_tx(c, recs, n) != 0)
			return (cache_io_error(c, err));
		*nrep = n + 4;
		return (0);
	}
	if (fresh) {
		k = cache_argv_hset(c, 0);
		for (j = 0; j < recs[0]->nfields; j++) {
			f = &recs[0]->fields[j];
			if (f->type == REC_NULL)
				continue;
			c->argv[k] = f->name;
			c->argvlen[k++] = strlen(f->name);
			c->argv[k] = f->val;
			c->argvlen[k++] = f->len;
		}
		goto append;
	}

	c->argv[0] = "EVALSHA";
	c->argvlen[0] = 7;
	c->argv[1] = c->sha[CACHE_SCRIPT_PUT];
	c->argvlen[1] = 40;
	cache_argv_keys(c, nkeys, n);
	k = 3 + n;
	len = shared ? snprintf(mode, sizeof mode, "%zu", nf) :
	    snprintf(mode, sizeof mode, "-1");
	c->argv[k] = mode;
	c->argvlen[k++] = (size_t)len;
	if (shared) {
		for (j = 0; j < recs[0]->nfields; j++) {
			f = &recs[0]->fields[j];
			if (f->type == REC_NULL)
				continue;
			c->argv[k] = f->name;
			c->argvlen[k++] = strlen(f->name);
		}
	}
	for (i = 0; i < n; i++) {
		rec = recs[i];
		c->argv[k] = c->nums.data + c->noff[i];
		c->argvlen[k] = strlen(c->argv[k]);
		k++;
		if (!shared) {
			c->argv[k] = c->argv[k - 1] + c->argvlen[k - 1] + 1;
			c->argvlen[k] = strlen(c->argv[k]);
			k++;
		}
		for (j = 0; j < rec->nfields; j++) {
			f = &rec->fields[j];
			if (f->type == REC_NULL)
				continue;
			if (!shared) {
				c->argv[k] = f->name;
				c->argvlen[k++] = strlen(f->name);
			}
			c->argv[k] = f->val;
			c->argvlen[k++] = f->len;
		}
	}
append:
	if (redisAppendCommandArgv(c->ctx, (int)k, c->argv, c->argvlen) != REDIS_OK)
		return (cache_io_error(c, err));
	return (0);
}

/* Write out the commands buffered so far. */
static int
cache_send(struct cache *c, char **err)
{
	int	done = 0;

	while (!done) {
		if (redisBufferWrite(c->ctx, &done) != REDIS_OK)
			return (cache_io_error(c, err));
	}
	return (0);
}

/*
 * Redis refused the write of n records from rec on.  A script that stops at
 * one of its keys does not say which: with n > 1 the message names the
 * first and the count.
 */
static int
cache_refused(struct cache *c, const struct schema *s, const char *prefix,
    const struct record *rec, size_t n, const char *why, char **err)
{
	buf_reset(&c->keys);
	if (record_key(rec, s, prefix, &c->keys, NULL) != 0)
		buf_adds(&c->keys, "?");
	if (n > 1)
		return (err_set(err, "redis refused a write of %zu records "
		    "(the first is '%s'): %s", n, c->keys.data, why));
	return (err_set(err, "redis refused write to '%s': %s", c->keys.data, why));
}

/* Check a script chunk's reply, the count of keys found; -1 with *err. */
static int
cache_chunk_reply(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, redisReply *r, size_t *present, char **err)
{
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
	    (size_t)r->integer <= n) {
		*present += (size_t)r->integer;
		return (0);
	}
	return (cache_refused(c, s, prefix, recs[0], n,
	    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", err));
}

/*
 * Read and check the rest of a transaction's n + 4 replies, first (MULTI's)
 * in hand.  A command refused when queued voids the EXEC, and is the error
 * to report; a record's HSET can fail alone (WRONGTYPE).  All the replies
 * are read, error or not, unless the connection fails.
 */
static int
cache_tx_reply(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, redisReply *first, size_t *unread,
    size_t *present, char **err)
{
	redisReply	*r, *e;
	void		*reply;
	char		*why = NULL;
	size_t		 i, j;
	int		 rc = -1;

	if (first->type == REDIS_REPLY_ERROR)
		why = xstrdup(first->str);
	for (i = 0; i < n + 3; i++) {
		reply = NULL;
		if (redisGetReply(c->ctx, &reply) != REDIS_OK) {
			if (reply != NULL)
				freeReplyObject(reply);
			cache_io_error(c, err);
			goto out;
		}
		(*unread)--;
		r = reply;
		if (i < n + 2) {	/* QUEUED, or why not */
			if (r->type == REDIS_REPLY_ERROR && why == NULL)
				why = xstrdup(r->str);
			freeReplyObject(r);
			continue;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 2) {
			cache_refused(c, s, prefix, recs[0], n, why != NULL ?
			    why : r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply", err);
			freeReplyObject(r);
			goto out;
		}
		for (j = 0; j < n + 2; j++) {
			e = r->element[j];
			if (e->type == REDIS_REPLY_ERROR) {
				/* Element j is record j - 1's HSET, or a script's. */
				if (j > 0 && j <= n)
					cache_refused(c, s, prefix, recs[j - 1],
					    1, e->str, err);
				else
					cache_refused(c, s, prefix, recs[0], n,
					    e->str, err);
				freeReplyObject(r);
				goto out;
			}
		}
		e = r->element[0];
		if (e->type == REDIS_REPLY_INTEGER && e->integer > 0)
			*present += (size_t)e->integer;
		freeReplyObject(r);
	}
	rc = 0;
out:
	free(why);
	return (rc);
}

/*
 * The hot path: chunks of CACHE_CHUNK records, up to CACHE_WINDOW of them in
 * flight.  A chunk refused with NOSCRIPT did not run at all, so it is sent
 * again after the scripts are reloaded.
 *
 * A chunk goes as a transaction of plain HSETs between two scripts
 * (cache_tx_before_lua) rather than through the put script when it is
 * big enough and its keys differ, unless the last call found more than a
 * fifth of its keys there already.  For keys that are not there, as in a
 * bulk load, that costs Redis about a fifth less than the put script's
 * HSETs, since Redis runs a command from Lua at nearly twice the cost of
 * one from a client; for keys that are, the moves aside make it dearer.
 */
int
cache_put(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, char **err)
{
	return (cache_put_overlap(c, s, prefix, recs, n, NULL, NULL, err));
}

int
cache_put_overlap(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, void (*wait)(void *), void *arg,
    char **err)
{
	size_t		 sent, done, m, nchunks, chunk, i, unread, nrep;
	size_t		 present = 0, guarded = 0;
	redisReply	*r = NULL;
	int		 fresh;
	void		*reply;
	int		 rc = -1, retried = 0;

	if (n == 0)
		return (0);
	if (cache_ready(c, err) != 0)
		return (-1);
	buf_reset(&c->scratch);
	buf_adds(&c->scratch, prefix != NULL ? prefix : "");
	buf_adds(&c->scratch, "wtc:put-old:");

	/*
	 * Chunks: a record with a fresh id alone (a plain HSET), the others in
	 * runs of up to CACHE_CHUNK.
	 */
	nchunks = 0;
	for (i = 0; i < n; nchunks++) {
		if (nchunks + 1 >= c->cstartcap) {
			c->cstartcap = c->cstartcap * 2 + 64;
			c->cstart = xreallocarray(c->cstart, c->cstartcap,
			    sizeof *c->cstart);
			c->cnrep = xreallocarray(c->cnrep, c->cstartcap,
			    sizeof *c->cnrep);
		}
		c->cstart[nchunks] = i;
		fresh = (recs[i]->flags & RECORD_FRESH_ID) != 0;
		if (fresh) {
			i++;
			continue;
		}
		for (m = 0; i < n && m < CACHE_CHUNK &&
		    (recs[i]->flags & RECORD_FRESH_ID) == 0; m++)
			i++;
		guarded += m;
	}
	c->cstart[nchunks] = n;
	sent = done = unread = 0;
	while (done < nchunks) {
		while (sent < nchunks && sent - done < CACHE_WINDOW) {
			i = c->cstart[sent];
			m = c->cstart[sent + 1] - i;
			if (cache_append_chunk(c, s, prefix, recs + i, m,
			    (recs[i]->flags & RECORD_FRESH_ID) != 0, &nrep,
			    err) != 0)
				goto out;
			c->cnrep[sent++] = nrep;
			unread += nrep;
			/*
			 * Hand Redis what is formatted so far, so that it works
			 * while the next commands are built, instead of waiting
			 * for the whole window.
			 */
			if (sdslen(c->ctx->obuf) >= CACHE_SEND_AT &&
			    cache_send(c, err) != 0)
				goto out;
		}
		if (wait != NULL) {
			if (cache_send(c, err) != 0)
				goto out;
			wait(arg);
			wait = NULL;
		}
		reply = NULL;
		if (redisGetReply(c->ctx, &reply) != REDIS_OK) {
			if (reply != NULL)
				freeReplyObject(reply);
			cache_io_error(c, err);
			goto out;
		}
		unread--;
		r = reply;
		chunk = done++;
		i = c->cstart[chunk];
		m = c->cstart[chunk + 1] - i;
		if (c->cnrep[chunk] > 1) {
			if (cache_tx_reply(c, s, prefix, recs + i, m, r, &unread,
			    &present, err) != 0)
				goto out;
		} else if (cache_is_noscript(r)) {
			/* Drain what is in flight, reload, then resend from here. */
			freeReplyObject(r);
			r = NULL;
			while (unread > 0) {
				reply = NULL;
				if (redisGetReply(c->ctx, &reply) != REDIS_OK) {
					cache_io_error(c, err);
					goto out;
				}
				freeReplyObject(reply);
				unread--;
			}
			if (retried++ > 0) {
				err_set(err, "redis '%s' keeps forgetting scripts",
				    c->where);
				goto out;
			}
			if (cache_load_scripts(c, err) != 0)
				goto out;
			sent = done = chunk;
			continue;
		} else if ((recs[i]->flags & RECORD_FRESH_ID) != 0 &&
		    r->type == REDIS_REPLY_INTEGER)
			;	/* HSET answered with the count of new fields */
		else if (cache_chunk_reply(c, s, prefix, recs + i, m, r, &present,
		    err) != 0)
			goto out;
		freeReplyObject(r);
		r = NULL;
	}
	if (guarded > 0)
		c->updating = present * 5 > guarded;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (rc != 0 && c->ctx != NULL && c->ctx->err == 0) {
		/* Replies still in flight would be taken for the next command's. */
		while (unread > 0) {
			reply = NULL;
			if (redisGetReply(c->ctx, &reply) != REDIS_OK)
				break;
			freeReplyObject(reply);
			unread--;
		}
	}
	return (rc);
}

/* How a schema column's Redis text is typed when read back. */
static enum rec_type
cache_field_type(const struct schema *s, const char *name)
{
	int	 i;

	if (s == NULL || (i = schema_find(s, name)) < 0)
		return (REC_STR);
	switch (s->cols[i].type) {
	case SCHEMA_INT:
	case SCHEMA_YEAR:
		return (REC_INT);
	case SCHEMA_BOOL:
		return (REC_BOOL);
	case SCHEMA_DECIMAL:
	case SCHEMA_FLOAT:
		return (REC_NUM);
	case SCHEMA_JSON:
		return (REC_JSON);
	default:
		return (REC_STR);
	}
}

int
cache_get(struct cache *c, const struct schema *s, const char *key,
    size_t keylen, struct record **out, char **err)
{
	const char		*argv[2];
	size_t			 argvlen[2], i, j;
	redisReply		*r = NULL, *name, *val;
	struct record		*rec = NULL;
	char			*end;
	int			 rc = -1, idx;

	*out = NULL;
	if (cache_ready(c, err) != 0)
		goto out;
	argv[0] = "HGETALL";
	argvlen[0] = 7;
	argv[1] = key;
	argvlen[1] = keylen;	/* a binary key may hold NULs */
	if ((r = cache_command(c, 2, argv, argvlen, err)) == NULL)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY) {
		err_set(err, "redis refused to read '%s': %s", key,
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		/* The key holds something else: Redis itself is fine. */
		if (r->type == REDIS_REPLY_ERROR &&
		    strncmp(r->str, "WRONGTYPE", 9) == 0)
			rc = -2;
		goto out;
	}
	if (r->elements == 0) {
		rc = 0;
		goto out;
	}
	rec = record_new(s != NULL ? s->table : "");
	/* With a schema, fields come out in column order; unknown ones last. */
	if (s != NULL) {
		for (idx = 0; (size_t)idx < s->ncols; idx++) {
			for (j = 0; j + 1 < r->elements; j += 2) {
				name = r->element[j];
				if (strcmp(name->str, s->cols[idx].name) == 0)
					break;
			}
			if (j + 1 >= r->elements ||
			    strcmp(s->cols[idx].name, SCHEMA_VERSION_COLUMN) == 0)
				continue;
			val = r->element[j + 1];
			record_add(rec, name->str, cache_field_type(s, name->str),
			    val->str, val->len);
		}
	}
	for (i = 0; i + 1 < r->elements; i += 2) {
		name = r->element[i];
		val = r->element[i + 1];
		if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(name->str, SCHEMA_VERSION_COLUMN) == 0) {
			rec->version = strtoull(val->str, &end, 10);
			continue;
		}
		if (s != NULL && schema_find(s, name->str) >= 0)
			continue;
		record_add(rec, name->str, REC_STR, val->str, val->len);
	}
	if (s != NULL)
		record_bind(rec, s);
	*out = rec;
	rec = NULL;
	rc = 1;
out:
	record_free(rec);
	if (r != NULL)
		freeReplyObject(r);
	return (rc);
}

int
cache_fill(struct cache *c, const struct schema *s, const char *prefix,
    const struct record *rec, unsigned ttl_s, char **err)
{
	struct buf		 key = BUF_INIT;
	const char		**argv = NULL;
	size_t			 *argvlen = NULL, i, k, nargs;
	char			 ver[32], ttl[16];
	redisReply		*r = NULL;
	int			 rc = -1;

	if (cache_ready(c, err) != 0 ||
	    record_key(rec, s, prefix, &key, err) != 0)
		goto out;
	nargs = 6 + 2 * rec->nfields;
	argv = xreallocarray(NULL, nargs, sizeof *argv);
	argvlen = xreallocarray(NULL, nargs, sizeof *argvlen);
	snprintf(ver, sizeof ver, "%" PRIu64, rec->version);
	snprintf(ttl, sizeof ttl, "%u", ttl_s);
	argv[2] = "1";
	argvlen[2] = 1;
	argv[3] = key.data;
	argvlen[3] = key.len;
	argv[4] = ver;
	argvlen[4] = strlen(ver);
	argv[5] = ttl;
	argvlen[5] = strlen(ttl);
	k = 6;
	for (i = 0; i < rec->nfields; i++) {
		if (rec->fields[i].type == REC_NULL ||
		    strcmp(rec->fields[i].name, SCHEMA_VERSION_COLUMN) == 0)
			continue;
		argv[k] = rec->fields[i].name;
		argvlen[k++] = strlen(rec->fields[i].name);
		argv[k] = rec->fields[i].val;
		argvlen[k++] = rec->fields[i].len;
	}
	if ((r = cache_eval(c, CACHE_SCRIPT_FILL, (int)k, argv, argvlen, err)) == NULL)
		goto out;
	if (r->type == REDIS_REPLY_ERROR) {
		err_set(err, "redis refused write to '%s': %s", key.data, r->str);
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	buf_release(&key);
	free(argvlen);
	free(argv);
	return (rc);
}

int
cache_unput(struct cache *c, const struct schema *s, const char *prefix,
    struct record **recs, size_t n, size_t *left, char **err)
{
	redisReply	*r;
	size_t		 i, m, k, done = 0;
	char		 nkeys[32];
	int		 rc = -1;

	*left = n;
	if (cache_ready(c, err) != 0)
		return (-1);
	for (i = 0; i < n; i += m) {
		m = n - i < CACHE_CHUNK ? n - i : CACHE_CHUNK;
		buf_reset(&c->keys);
		buf_reset(&c->nums);
		cache_reserve(c, m, 3 + 2 * m);
		for (k = 0; k < m; k++) {
			if (cache_key_version(c, s, prefix, recs[i + k], k,
			    err) != 0)
				goto out;
		}
		cache_argv_keys(c, nkeys, m);
		for (k = 0; k < m; k++) {
			c->argv[3 + m + k] = c->nums.data + c->noff[k];
			c->argvlen[3 + m + k] = strlen(c->argv[3 + m + k]);
		}
		if ((r = cache_eval(c, CACHE_SCRIPT_UNPUT, (int)(3 + 2 * m),
		    c->argv, c->argvlen, err)) == NULL)
			goto out;
		if (r->type == REDIS_REPLY_ERROR) {
			err_set(err, "redis refused to take records back: %s",
			    r->str);
			freeReplyObject(r);
			goto out;
		}
		freeReplyObject(r);
		done += m;
	}
	rc = 0;
out:
	*left = n - done;
	return (rc);
}

int
cache_del(struct cache *c, const char *key, char **err)
{
	const char	*argv[2];
	size_t		 argvlen[2];
	redisReply	*r;
	int		 rc = -1;

	if (cache_ready(c, err) != 0)
		return (-1);
	argv[0] = "DEL";
	argvlen[0] = 3;
	argv[1] = key;
	argvlen[1] = strlen(key);
	if ((r = cache_command(c, 2, argv, argvlen, err)) == NULL)
		return (-1);
	if (r->type == REDIS_REPLY_ERROR)
		err_set(err, "redis refused to delete '%s': %s", key, r->str);
	else
		rc = 0;
	freeReplyObject(r);
	return (rc);
}

/* Append s to b with the glob characters of SCAN MATCH escaped. */
static void
cache_glob_quote(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr("*?[]\\", *s) != NULL)
			buf_addc(b, '\\');
		buf_addc(b, *s);
	}
}

int
cache_scan(struct cache *c, const char *prefix, const char *table,
    uint64_t *cursor, struct cache_key **keys, size_t *nkeys, char **err)
{
	struct buf	 pat = BUF_INIT;
	const char	*argv[6];
	size_t		 argvlen[6], i;
	char		 cur[32], *end;
	redisReply	*r = NULL, *list;
	struct cache_key *k;
	int		 rc = -1;

	if (cache_ready(c, err) != 0)
		goto out;
	cache_glob_quote(&pat, prefix != NULL ? prefix : "");
	cache_glob_quote(&pat, table);
	buf_adds(&pat, ":*");
	snprintf(cur, sizeof cur, "%" PRIu64, *cursor);
	argv[0] = "SCAN";
	argv[1] = cur;
	argv[2] = "MATCH";
	argv[3] = pat.data;
	argv[4] = "COUNT";
	argv[5] = "1000";
	for (i = 0; i < 6; i++)
		argvlen[i] = strlen(argv[i]);
	if ((r = cache_command(c, 6, argv, argvlen, err)) == NULL)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		err_set(err, "redis refused to scan '%s': %s", pat.data,
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto out;
	}
	*cursor = strtoull(r->element[0]->str, &end, 10);
	list = r->element[1];
	*keys = xreallocarray(*keys, *nkeys + list->elements + 1, sizeof **keys);
	for (i = 0; i < list->elements; i++) {
		if (list->element[i]->type != REDIS_REPLY_STRING)
			continue;
		k = &(*keys)[(*nkeys)++];
		k->len = list->element[i]->len;
		k->data = xmalloc(k->len + 1);
		memcpy(k->data, list->element[i]->str, k->len);
		k->data[k->len] = '\0';
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	buf_release(&pat);
	return (rc);
}
