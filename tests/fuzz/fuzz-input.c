/*
 * Fuzz target for the NDJSON / JSON array splitter (input_open_string and
 * input_next).  The first byte picks max_item (small limits reach the
 * "too long" path); the rest is the source text, cut at its first NUL as a
 * C string would be.  Properties: items are
 * NUL-terminated after len, lines never go backwards, after -2 or 0
 * the caller stops, and after -3 the next call returns 0.
 */
#include <string.h>

#include "fuzz.h"
#include "input.h"
#include "record.h"
#include "util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 limits[4] = { 0, 1, 16, 256 };
	static struct schema	*s;
	struct input		*in;
	struct record		*rec;
	const char		*item;
	char			*text, *err = NULL;
	size_t			 len, n = 0;
	unsigned long		 line, last = 0;
	int			 r;

	if (size == 0)
		return (0);
	if (s == NULL)
		s = fuzz_users_schema();
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	in = input_open_string("fuzz", text, limits[data[0] & 3]);
	FUZZ_CHECK(in != NULL);
	for (;;) {
		r = input_next(in, &item, &len, &line, &err);
		FUZZ_CHECK(r >= -3 && r <= 1);
		if (r == 0)
			break;
		if (r == -2) {
			FUZZ_CHECK(err != NULL);
			free(err);
			break;
		}
		if (r == -3) {
			FUZZ_CHECK(err != NULL);
			free(err);
			err = NULL;
			FUZZ_CHECK(input_next(in, &item, &len, &line, &err) == 0);
			break;
		}
		FUZZ_CHECK(line >= 1 && line >= last);
		last = line;
		if (r == -1) {
			FUZZ_CHECK(err != NULL);
			free(err);
			err = NULL;
			continue;
		}
		FUZZ_CHECK(item != NULL && item[len] == '\0');
		/* What put does with each item. */
		if (record_parse(item, len, s, &rec, &err) == 0)
			record_free(rec);
		else
			free(err);
		err = NULL;
		FUZZ_CHECK(++n <= size);
	}
	input_free(in);
	free(text);
	return (0);
}
