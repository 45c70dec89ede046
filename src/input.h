/*
 * Input sources for "put": a file (plain or gzip, detected by its magic
 * bytes), standard input, or a string given on the command line.  A source
 * holds either NDJSON (one JSON text per line; blank lines skipped; CRLF
 * accepted) or a single JSON array, whose elements are the items.  The
 * choice is made by the first non-blank byte: '[' means an array.
 *
 * Items are streamed: memory stays bounded by the largest item, which may
 * not exceed the limit given at open (the item is then reported and skipped,
 * and reading goes on).  The item text is borrowed until the next call and
 * is NUL-terminated after len bytes.  An NDJSON item is its line without the
 * LF and a final CR; an array item is the element's text.  Array elements
 * are only delimited here (strings, escapes, bracket depth), not validated:
 * the record parser does that.  A UTF-8 BOM at the start is skipped.
 *
 * Ownership: input_open_file closes the file it opened (never stdin);
 * input_open_fd does not take the fd, the caller closes it after
 * input_free.  input_open_string borrows text, which must outlive the
 * input.  Messages of -1 errors do not name the source (callers prefix
 * NAME:LINE); -2 messages about the source itself name it.
 */
#ifndef WTC_INPUT_H
#define WTC_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input;

#define INPUT_DEFAULT_MAX_ITEM (16u * 1024 * 1024)
#define INPUT_MAX_DEPTH 10000	/* deeper array elements are skipped */

/*
 * path "-" is standard input, named "<stdin>".  label is the name used in
 * messages.  max_item 0 means INPUT_DEFAULT_MAX_ITEM.  input_open_file
 * fails with "cannot open 'PATH': REASON".
 */
struct input	*input_open_file(const char *path, size_t max_item, char **err);
struct input	*input_open_fd(int fd, const char *label, size_t max_item, char **err);
struct input	*input_open_string(const char *label, const char *text, size_t max_item);
/* Read no more than bytes of an fd source (a file as it was at a moment). */
void		 input_set_limit(struct input *, uint64_t bytes);

/*
 * Next item.  Returns 1 with *text, *len and *line (1-based line on which
 * the item starts); 0 at the end; -1 with *err for a bad item that was
 * skipped (too long, or an array element that is not well-formed) with
 * *line set: the caller reports it and calls again; -2 with *err for a fatal
 * error (I/O, bad gzip data): stop reading this source; -3 with *err and
 * *line when the source is malformed from there on (an array cut short,
 * text after the array): the items already returned stand, the caller
 * reports it as bad input, and later calls return 0.
 */
int		 input_next(struct input *, const char **text, size_t *len,
		    unsigned long *line, char **err);

const char	*input_name(const struct input *);
void		 input_free(struct input *);

#endif
