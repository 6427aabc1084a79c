/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core: the pieces every other module of cdnopt stands on.
 *
 * - Error codes: a function that can fail returns int, 0 (CDNOPT_OK) or a negative
 *   CDNOPT_E* code; cdnopt_strerror() and cdnopt_err_name() turn a code into text.
 * - Logging: one stderr line per record (UTC time, level, module, rank, message),
 *   replaceable through cdnopt_log_set(). Leaf modules never log.
 * - Allocation: every heap allocation goes through cdnopt_malloc/calloc/realloc/free,
 *   so tests can count live blocks and fail the Nth allocation on purpose.
 * - RNG: a seeded xoshiro256** generator; the same seed gives the same stream on
 *   every platform.
 * - Durations: "30s", "5m", "1h", "1d" (and plain seconds) to seconds.
 *
 * Limitations:
 * - The allocation counters and the failure injector are process-global and not
 *   thread-safe to reconfigure while other threads allocate.
 */
#ifndef CDNOPT_CORE_H
#define CDNOPT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

/* One list generates the enum, the names and the messages. Values are
 * append-only because they reach model files, the database and exit paths. */
#define CDNOPT_ERRNO_MAP(X)                                                    \
    X(ENOMEM, -1, "out of memory")                                             \
    X(EINVAL, -2, "invalid argument")                                          \
    X(EIO, -3, "input/output error")                                           \
    X(EPARSE, -4, "parse error")                                               \
    X(ESHAPE, -5, "shape mismatch")                                            \
    X(ENUMERIC, -6, "numeric error (NaN or Inf)")                              \
    X(EDB, -7, "database error")                                               \
    X(EDIST, -8, "distributed (MPI) error")                                    \
    X(ENOTFOUND, -9, "not found")                                              \
    X(ENOTSUP, -10, "not supported")                                           \
    X(EBUSY, -11, "resource busy")                                             \
    X(ETIMEDOUT, -12, "timed out")

enum cdnopt_err {
    CDNOPT_OK = 0,
#define CDNOPT_ERR_ENUM_(name, value, text) CDNOPT_##name = value,
    CDNOPT_ERRNO_MAP(CDNOPT_ERR_ENUM_)
#undef CDNOPT_ERR_ENUM_
};

/** Return a static, lowercase description of an error code ("out of memory"). */
const char *cdnopt_strerror(int code);

/** Return the static symbolic name of an error code ("CDNOPT_ENOMEM"). */
const char *cdnopt_err_name(int code);

#if defined(__GNUC__)
#define CDNOPT_FORMAT(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define CDNOPT_NORETURN __attribute__((noreturn))
#else
#define CDNOPT_FORMAT(fmt_index, first_arg)
#define CDNOPT_NORETURN
#endif

/** Size of the error text buffers that parsing and I/O objects keep. */
#define CDNOPT_ERRMSG_MAX 512

/**
 * Format an error message into buf (CDNOPT_ERRMSG_MAX bytes) and return code,
 * so that a failing path can be written `return cdnopt_fail(err, CDNOPT_EINVAL, "...")`.
 * buf may be NULL, in which case only code is returned.
 */
int cdnopt_fail(char *buf, int code, const char *fmt, ...) CDNOPT_FORMAT(3, 4);

/* Assertions guard programmer errors only, never data from files or the network.
 * They stay on in release builds. */
typedef void (*cdnopt_abort_hook)(const char *file, int line, const char *expr);

/** Replace the function called on a failed CDNOPT_ASSERT (NULL restores the default). */
void cdnopt_set_abort_hook(cdnopt_abort_hook hook);

CDNOPT_NORETURN void cdnopt__assert_fail(const char *file, int line, const char *expr);

#define CDNOPT_ASSERT(x)                                                        \
    do {                                                                       \
        if (!(x))                                                              \
            cdnopt__assert_fail(__FILE__, __LINE__, #x);                       \
    } while (0)

/* ------------------------------------------------------------------------- */
/* Logging                                                                   */
/* ------------------------------------------------------------------------- */

enum cdnopt_log_level {
    CDNOPT_LOG_LEVEL_ERROR = 0,
    CDNOPT_LOG_LEVEL_WARN = 1,
    CDNOPT_LOG_LEVEL_INFO = 2,
    CDNOPT_LOG_LEVEL_DEBUG = 3,
};

typedef void (*cdnopt_log_sink)(enum cdnopt_log_level level, const char *module,
                                const char *message, void *user);

/** Replace the log sink (NULL restores the default stderr sink). Not thread-safe. */
void cdnopt_log_set(cdnopt_log_sink sink, void *user);

/** Set the most verbose level that is still written (default INFO). */
void cdnopt_log_set_level(enum cdnopt_log_level level);

/** Return the current level. */
enum cdnopt_log_level cdnopt_log_get_level(void);

/** Set the MPI rank printed in each default log line (-1, the default, prints none). */
void cdnopt_log_set_rank(int rank);

/** Format one record and pass it to the sink. Use the CDNOPT_LOG_* macros instead. */
void cdnopt_log_write(enum cdnopt_log_level level, const char *module, const char *fmt, ...)
    CDNOPT_FORMAT(3, 4);

/* The level test comes first so that arguments are not evaluated for dropped records. */
#define CDNOPT_LOG_(level, module, ...)                                         \
    do {                                                                       \
        if ((level) <= cdnopt_log_get_level())                                 \
            cdnopt_log_write((level), (module), __VA_ARGS__);                  \
    } while (0)
#define CDNOPT_LOG_ERROR(module, ...) CDNOPT_LOG_(CDNOPT_LOG_LEVEL_ERROR, module, __VA_ARGS__)
#define CDNOPT_LOG_WARN(module, ...) CDNOPT_LOG_(CDNOPT_LOG_LEVEL_WARN, module, __VA_ARGS__)
#define CDNOPT_LOG_INFO(module, ...) CDNOPT_LOG_(CDNOPT_LOG_LEVEL_INFO, module, __VA_ARGS__)
#define CDNOPT_LOG_DEBUG(module, ...) CDNOPT_LOG_(CDNOPT_LOG_LEVEL_DEBUG, module, __VA_ARGS__)

/* ------------------------------------------------------------------------- */
/* Allocation                                                                */
/* ------------------------------------------------------------------------- */

/** malloc through the counting allocator; returns NULL on failure (or injected failure). */
void *cdnopt_malloc(size_t n_bytes);
/** calloc through the counting allocator. */
void *cdnopt_calloc(size_t count, size_t size);
/** realloc through the counting allocator; on failure the old block stays valid. */
void *cdnopt_realloc(void *ptr, size_t n_bytes);
/** free; NULL is a no-op. */
void cdnopt_free(void *ptr);
/** Duplicate a NUL-terminated string; the caller frees it with cdnopt_free(). */
char *cdnopt_strdup(const char *s);

/** Number of blocks allocated and not yet freed, for leak checks in tests. */
long cdnopt_alloc_live_blocks(void);

/**
 * Make the nth allocation from now fail (1 = the next one), and every one after it
 * while sticky is true. n = 0 disables injection. For fault tests only.
 */
void cdnopt_alloc_fail_after(long n, bool sticky);

/* ------------------------------------------------------------------------- */
/* Random numbers                                                            */
/* ------------------------------------------------------------------------- */

/** xoshiro256** state; plain struct so callers can embed one per thread or sample. */
typedef struct cdnopt_rng {
    uint64_t s[4];
} cdnopt_rng;

/** Seed the generator through splitmix64, so that nearby seeds give unrelated streams. */
void cdnopt_rng_seed(cdnopt_rng *rng, uint64_t seed);
/** Next 64 random bits. */
uint64_t cdnopt_rng_next(cdnopt_rng *rng);
/** Uniform double in [0, 1). */
double cdnopt_rng_uniform(cdnopt_rng *rng);
/** Standard normal variate (Box-Muller, one of the pair is discarded). */
double cdnopt_rng_normal(cdnopt_rng *rng);
/** Uniform integer in [0, n); n must be positive. */
uint64_t cdnopt_rng_below(cdnopt_rng *rng, uint64_t n);
/** Derive an independent generator for stream index k (for per-thread or per-sample streams). */
void cdnopt_rng_fork(const cdnopt_rng *parent, uint64_t k, cdnopt_rng *child);

/* ------------------------------------------------------------------------- */
/* Durations and clocks                                                      */
/* ------------------------------------------------------------------------- */

/**
 * Parse a duration such as "30s", "5m", "1h", "1d", "2w" or "300" (seconds) into
 * whole seconds. Returns CDNOPT_EINVAL with a message in err (may be NULL) that
 * names the text and the accepted forms.
 */
int cdnopt_duration_parse(const char *text, int64_t *seconds, char *err);

/** Write a duration in the largest unit that divides it ("5m", "1h", "90s"). */
void cdnopt_duration_format(int64_t seconds, char *buf, size_t buf_size);

/** Monotonic clock in seconds, for measuring elapsed time. */
double cdnopt_clock_s(void);

/* ------------------------------------------------------------------------- */
/* Text                                                                      */
/* ------------------------------------------------------------------------- */

/**
 * Return the length in bytes (1 to 4) of the well-formed UTF-8 sequence at p (RFC 3629),
 * or 0 when p does not start one: a stray continuation byte, an overlong form, a
 * surrogate, a byte 0xF5 to 0xFF, or a sequence cut short by a NUL. p[0] must be
 * readable, and the bytes after it up to the first NUL.
 */
size_t cdnopt_utf8_sequence_length(const unsigned char *p);

/**
 * Return whether the well-formed 3-byte UTF-8 sequence at p encodes a bidirectional
 * embedding, override or isolate (U+202A to U+202E, U+2066 to U+2069). A terminal or an
 * editor may show the text after one reordered, so a name that contains one can read as
 * another name. p must hold 3 readable bytes.
 */
bool cdnopt_utf8_is_bidi_control(const unsigned char *p);

/** Bytes of an input field that error messages quote before clipping it. */
#define CDNOPT_QUOTE_BYTES 40

/** Size of a buffer for cdnopt_text_quote() with max_bytes CDNOPT_QUOTE_BYTES. */
#define CDNOPT_QUOTE_SIZE (CDNOPT_QUOTE_BYTES + 4)

/**
 * Copy src_len bytes of an input field into dst as text that is safe to put in an error
 * message, a terminal line or a JSON string. Printable well-formed UTF-8 is copied as is.
 * Each control byte (0x00 to 0x1F, 0x7F), each byte of a C1 control character (U+0080 to
 * U+009F) and each byte that does not belong to a well-formed UTF-8 sequence is written as
 * the four characters \xNN (upper-case hex). A backslash is doubled, so that an escape is
 * never ambiguous, and the bidirectional embeddings, overrides and isolates (U+202A to
 * U+202E, U+2066 to U+2069), which can reorder what a terminal shows, are written as
 * \uXXXX. The copy stops before the first sequence or escape that would take it past
 * max_bytes bytes, so a multi-byte character is never cut, and a clipped field ends in
 * "...". A field that fits in max_bytes exactly gets no "...".
 *
 * @param dst       output buffer; always NUL-terminated when dst_size > 0
 * @param dst_size  size of dst in bytes. max_bytes + 4 leaves room for "..." and the NUL.
 *                  A smaller dst lowers the limit to dst_size - 4 bytes, and a dst of fewer
 *                  than 4 bytes gets an empty string.
 * @param src       field bytes, which may contain NUL bytes; may be NULL when src_len is 0
 * @param src_len   number of bytes of src to quote
 * @param max_bytes maximum number of bytes of quoted text, not counting "..." and the NUL
 * @return dst, so that the call can be a printf argument
 */
char *cdnopt_text_quote(char *dst, size_t dst_size, const char *src, size_t src_len,
                        size_t max_bytes);

#endif /* CDNOPT_CORE_H */
