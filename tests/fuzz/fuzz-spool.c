/*
 * Fuzz target for the spool's read path without files: spool_frame_parse
 * over the bytes as the reader scans a segment (a frame, else skip one
 * byte), and record_decode on every payload it hands out.  Random bytes
 * rarely carry a valid crc32c, so when the first byte is odd the target
 * first rewrites each header it meets with the right crc (spool_frame_header):
 * that way decoding gets fuzzed too.  Properties: a frame lies within the
 * bytes given, its payload re-encodes to the same header, and a decoded
 * record re-encodes to the same payload.
 */
#include <string.h>

#include "fuzz.h"
#include "record.h"
#include "spool.h"
#include "util.h"

#define HDR	12

static void
fuzz_payload(const uint8_t *pl, size_t plen)
{
	struct record	*rec = NULL;
	struct buf	 enc = BUF_INIT, js = BUF_INIT;
	char		*err = NULL;
	static struct schema *s;

	if (record_decode(pl, plen, &rec, &err) != 0) {
		FUZZ_CHECK(rec == NULL && err != NULL);
		free(err);
		return;
	}
	FUZZ_CHECK(rec != NULL);
	record_encode(rec, &enc);
	FUZZ_CHECK(enc.len == plen && memcmp(enc.data, pl, plen) == 0);
	/* What the drainer and "get" do with a decoded record. */
	if (s == NULL)
		s = fuzz_users_schema();
	record_bind(rec, s);
	record_to_json(rec, &js);
	record_set_id(rec, 7);
	buf_release(&js);
	buf_release(&enc);
	record_free(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*pl;
	uint8_t		*buf, hdr[HDR];
	size_t		 off, plen, flen, len;
	int		 fix, rv;

	if (size == 0)
		return (0);
	fix = data[0] & 1;
	buf = xmalloc(size - 1 > 0 ? size - 1 : 1);
	memcpy(buf, data + 1, size - 1);
	size--;
	off = 0;
	while (off < size) {
		if (fix && size - off >= HDR && memcmp(buf + off, "WTCF", 4) == 0) {
			len = (size_t)buf[off + 4] | (size_t)buf[off + 5] << 8 |
			    (size_t)buf[off + 6] << 16 | (size_t)buf[off + 7] << 24;
			if (len > 0 && len <= size - off - HDR) {
				spool_frame_header(hdr, buf + off + HDR, len);
				memcpy(buf + off, hdr, HDR);
			}
		}
		rv = spool_frame_parse(buf + off, size - off, &pl, &plen, &flen);
		FUZZ_CHECK(rv >= -1 && rv <= 1);
		if (rv != 1) {
			off++;
			continue;
		}
		FUZZ_CHECK(pl == buf + off + HDR && flen == plen + HDR);
		FUZZ_CHECK(plen > 0 && flen <= size - off);
		spool_frame_header(hdr, pl, plen);
		FUZZ_CHECK(memcmp(hdr, buf + off, HDR) == 0);
		fuzz_payload(pl, plen);
		off += flen;
	}
	free(buf);
	return (0);
}
