/*
 * Fuzz target for record_parse: one JSON text, validated against two
 * schemas (users with an auto-increment id; one column of every type with
 * a two-column key).  What it accepts must survive the spool payload
 * (encode, decode, encode gives the same bytes), and its JSON rendering
 * must parse again to the same record (record.h promises that binary data
 * round-trips through record_to_json).
 */
#include <string.h>

#include "fuzz.h"
#include "record.h"
#include "util.h"

static struct schema	*schemas[2];

/* A record's key splits back into its key values, NUL bytes and all. */
static void
fuzz_key_splits(const struct record *rec, const struct schema *s,
    const struct buf *key)
{
	const struct rec_field	*f = NULL;
	const char		*pk[8];
	char			*rest, *err = NULL;
	size_t			 head, k, i, n, pklen[8];

	head = strlen("fz:") + strlen(s->table) + 1;
	FUZZ_CHECK(key->len >= head && s->npk <= 8);
	n = key->len - head;
	rest = xmalloc(n + 1);
	memcpy(rest, key->data + head, n);
	rest[n] = '\0';
	FUZZ_CHECK(record_key_split(rest, n, s->npk, pk, pklen, &err) == 0);
	for (k = 0; k < s->npk; k++) {
		for (i = 0; i < rec->nfields; i++) {
			f = &rec->fields[i];
			if (f->col == (int)s->pk[k])
				break;
		}
		FUZZ_CHECK(i < rec->nfields);
		FUZZ_CHECK(pklen[k] == f->len &&
		    memcmp(pk[k], f->val, f->len) == 0);
	}
	free(rest);
}

static void
fuzz_one(const char *json, size_t len, const struct schema *s)
{
	struct record	*rec = NULL, *dec = NULL, *again = NULL;
	struct buf	 enc = BUF_INIT, enc2 = BUF_INIT, js = BUF_INIT,
			 js2 = BUF_INIT, key = BUF_INIT;
	char		*err = NULL;

	if (record_parse(json, len, s, &rec, &err) != 0) {
		FUZZ_CHECK(rec == NULL && err != NULL && *err != '\0');
		free(err);
		return;
	}
	FUZZ_CHECK(rec != NULL && err == NULL);
	FUZZ_CHECK(strcmp(rec->table, s->table) == 0);
	if (!record_has_id(rec) && s->id_col >= 0)
		record_set_id(rec, 42);
	if (record_key(rec, s, "fz:", &key, &err) != 0) {
		FUZZ_CHECK(err != NULL);
		free(err);
		err = NULL;
	} else
		fuzz_key_splits(rec, s, &key);

	/* The spool payload round-trips byte for byte. */
	record_encode(rec, &enc);
	FUZZ_CHECK(record_decode(enc.data, enc.len, &dec, &err) == 0);
	record_bind(dec, s);
	record_encode(dec, &enc2);
	FUZZ_CHECK(enc.len == enc2.len && memcmp(enc.data, enc2.data, enc.len) == 0);

	/* record_to_json's output parses back to the same record. */
	record_to_json(rec, &js);
	if (record_parse(js.data, js.len, s, &again, &err) != 0) {
		fprintf(stderr, "re-parse of %.*s failed: %s\n", (int)js.len,
		    js.data, err);
		FUZZ_CHECK(!"record_to_json output parses");
	}
	record_to_json(again, &js2);
	if (js.len != js2.len || memcmp(js.data, js2.data, js.len) != 0) {
		fprintf(stderr, "first:  %.*s\nsecond: %.*s\n", (int)js.len,
		    js.data, (int)js2.len, js2.data);
		FUZZ_CHECK(!"record_to_json is stable");
	}

	record_free(again);
	record_free(dec);
	record_free(rec);
	buf_release(&key);
	buf_release(&js2);
	buf_release(&js);
	buf_release(&enc2);
	buf_release(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*json;

	if (schemas[0] == NULL) {
		schemas[0] = fuzz_users_schema();
		schemas[1] = fuzz_types_schema();
	}
	/* record_parse takes a length but callers give NUL-terminated text. */
	json = xmalloc(size + 1);
	memcpy(json, data, size);
	json[size] = '\0';
	fuzz_one(json, size, schemas[0]);
	fuzz_one(json, size, schemas[1]);
	free(json);
	return (0);
}
