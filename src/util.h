/*
 * Small helpers shared by every module: allocation that never returns NULL
 * (it aborts on exhaustion), a growable byte buffer, error messages handed
 * back through "char **err", and clocks.
 *
 * Ownership: a struct buf owns its data; buf_release frees it and leaves the
 * buffer empty and reusable.  err_set frees any message already in *err.
 */
#ifndef WTC_UTIL_H
#define WTC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define WTC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WTC_PRINTF(a, b)
#endif

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) WTC_PRINTF(1, 2);
char	*xvasprintf(const char *, va_list);

/* Set *err (if err is not NULL) to a formatted message; returns -1. */
int	 err_set(char **err, const char *, ...) WTC_PRINTF(2, 3);

struct buf {
	char	*data;	/* always NUL-terminated when len > 0 or after any append */
	size_t	 len;
	size_t	 cap;
};
#define BUF_INIT { NULL, 0, 0 }

void	 buf_init(struct buf *);
void	 buf_release(struct buf *);
void	 buf_reset(struct buf *);		/* len = 0, keeps storage */
void	 buf_grow(struct buf *, size_t extra);	/* room for extra more bytes + NUL */
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addc(struct buf *, char);
void	 buf_adds(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...) WTC_PRINTF(2, 3);
char	*buf_detach(struct buf *, size_t *len);	/* caller owns; buffer left empty */
void	 buf_add_utf8(struct buf *, unsigned cp);	/* cp <= 0x10ffff */
/*
 * Name (a table's, which may hold any byte) made fit for a file name:
 * [A-Za-z0-9_-] as they are, any other byte as %xx.  name_untame reverses
 * it; NULL when s is not such an encoding.  Caller frees.
 */
void	 buf_add_tame(struct buf *, const char *name);
char	*name_untame(const char *s);

/* Code point cp as UTF-8 at o (1 to 4 bytes); returns the end. */
char	*utf8_put(char *o, unsigned cp);

/* The value of hex digit c (either case), or -1. */
int	 hex_value(int c);
/* The value of the 4 hex digits at p (a JSON \u escape's); 0 or -1. */
int	 hex4_get(const char *p, unsigned *out);

uint64_t now_ms(void);		/* CLOCK_MONOTONIC, milliseconds */
uint64_t now_us(void);		/* CLOCK_MONOTONIC, microseconds */
uint64_t now_us_real(void);	/* CLOCK_REALTIME, microseconds since the epoch */

/* Write all of buf to fd, retrying on EINTR and short writes; 0 or -1/errno. */
int	 write_all(int fd, const void *, size_t);

/*
 * The path of the running program, for re-executing it: readlink of
 * /proc/self/exe (which names the real program even under valgrind, where
 * exec'ing /proc/self/exe itself would start valgrind's tool), else
 * "/proc/self/exe".  Caller frees.
 */
char	*self_exe(void);

/* Create dir and missing parents with mode; 0 or -1/errno. */
int	 mkdir_p(const char *path, int mode);

#endif
