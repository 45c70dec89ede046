/*
 * Fuzz target for the body of POST /write-through, the way http.c's
 * http_write and http_write_bulk handle it.  The pure pieces of the HTTP
 * module (Content-Type classification, the syntax-error test, the key
 * checks) are static in http.c, behind libmicrohttpd, so this target
 * replays the path instead: a body that is not an array (and not sent as
 * NDJSON) is one record_parse; otherwise the body is refused if it holds a
 * NUL, split with input_open_string and each item parsed, and the answer's
 * JSON is built (json_quote of each error, the record's id or key).
 *
 * First byte: bit 0 sends the body as application/x-ndjson, bit 1 picks
 * the schema with a composite key instead of the one with an id.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "input.h"
#include "record.h"
#include "util.h"

static struct schema	*schemas[2];

/* http_add_ident: "id": N, else "key": "..." or "key": null. */
static void
fuzz_ident(struct buf *out, const struct record *rec, const struct schema *s)
{
	const struct rec_field	*f;
	struct buf		 k = BUF_INIT;

	if (rec->id_field >= 0) {
		FUZZ_CHECK((size_t)rec->id_field < rec->nfields);
		f = &rec->fields[rec->id_field];
		buf_adds(out, "\"id\": ");
		buf_add(out, f->val, f->len);
		return;
	}
	if (record_key(rec, s, "wtc:", &k, NULL) == 0) {
		buf_adds(out, "\"key\": ");
		json_quote(out, k.data, k.len);
	} else
		buf_adds(out, "\"key\": null");
	buf_release(&k);
}

static void
fuzz_single(const char *body, size_t len, const struct schema *s)
{
	struct record	*rec;
	struct buf	 out = BUF_INIT;
	char		*err = NULL;

	if (record_parse(body, len, s, &rec, &err) != 0) {
		FUZZ_CHECK(err != NULL);
		buf_adds(&out, "{\"error\": ");
		json_quote(&out, err, strlen(err));
		buf_addc(&out, '}');
		free(err);
	} else {
		if (!record_has_id(rec))
			record_set_id(rec, 1);	/* what ingest_write does */
		buf_adds(&out, "{\"message\": \"Data write successful!\", ");
		fuzz_ident(&out, rec, s);
		buf_addc(&out, '}');
		record_free(rec);
	}
	buf_release(&out);
}

static void
fuzz_bulk(const char *body, size_t len, int ndjson, const struct schema *s)
{
	struct input	*in;
	struct record	*rec;
	struct buf	 out = BUF_INIT;
	const char	*text;
	size_t		 tlen, i = 0;
	unsigned long	 line;
	char		*err = NULL;
	int		 r;

	if (memchr(body, '\0', len) != NULL)
		return;		/* 400 "the body contains a NUL byte" */
	in = input_open_string("body", body, HTTP_DEFAULT_MAX_BODY);
	buf_adds(&out, "{\"results\": [");
	for (;;) {
		r = input_next(in, &text, &tlen, &line, &err);
		if (r == 0)
			break;
		if (r == -2 || r == -3) {
			FUZZ_CHECK(err != NULL);
			break;
		}
		buf_adds(&out, i == 0 ? "{" : ", {");
		if (r == -1 || record_parse(text, tlen, s, &rec, &err) != 0) {
			FUZZ_CHECK(err != NULL);
			buf_adds(&out, "\"error\": ");
			json_quote(&out, err, strlen(err));
			buf_printf(&out, ", \"index\": %zu", i);
			if (ndjson)
				buf_printf(&out, ", \"line\": %lu", line);
			free(err);
			err = NULL;
		} else {
			if (!record_has_id(rec))
				record_set_id(rec, 1);
			fuzz_ident(&out, rec, s);
			record_free(rec);
		}
		buf_addc(&out, '}');
		i++;
	}
	buf_adds(&out, "]}");
	free(err);
	input_free(in);
	buf_release(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct schema	*s;
	char			*body;
	const char		*p;
	int			 ndjson;

	if (size == 0)
		return (0);
	if (schemas[0] == NULL) {
		schemas[0] = fuzz_users_schema();
		schemas[1] = fuzz_types_schema();
	}
	ndjson = data[0] & 1;
	s = schemas[(data[0] >> 1) & 1];
	/* The body buffer is NUL-terminated after its length, as in http.c. */
	size--;
	body = xmalloc(size + 1);
	memcpy(body, data + 1, size);
	body[size] = '\0';
	p = body + strspn(body, " \t\r\n");
	if (!ndjson && *p != '[')
		fuzz_single(body, size, s);
	else
		fuzz_bulk(body, size, ndjson, s);
	free(body);
	return (0);
}
