/*
 * common.h — what every file of libhetmem uses: base macros, the page size,
 * the error message of hm_last_error() (core/options.c).  Nothing here is public API.
 */
#ifndef HM_COMMON_H
#define HM_COMMON_H


#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "hetmem.h"


/* hetmem's threads must hold none of the program's locks when it forks: a
 * lock held then stays held in the child's copy for ever.  glibc's
 * strerror() translates through the locale under its _nl_state_lock (a
 * reclaimer formatting an error while bash forks a command substitution
 * left the child waiting in textdomain() at start), so the library's code
 * uses strerrordesc_np (glibc >= 2.32), which takes no lock and returns the
 * untranslated text. */
static inline const char *hm_strerror(int err)
{
	const char *s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}
#define strerror(err) hm_strerror(err)

#define HM_HIDDEN __attribute__((visibility("hidden")))

#define HM_PAGE_SHIFT 12
#define HM_PAGE_SIZE ((size_t)1 << HM_PAGE_SHIFT)
#define HM_MAX_FOLIO_PAGES 512

#ifdef HM_DEBUG
#include <assert.h>
#define HM_ASSERT(x) assert(x)
#else
#define HM_ASSERT(x) ((void)0)
#endif

#define hm_likely(x) __builtin_expect(!!(x), 1)
#define hm_unlikely(x) __builtin_expect(!!(x), 0)

/* True in hetmem's own threads (handler, reclaimer) and while the preload
 * library's interposers run hetmem code: the preload library's malloc then
 * serves from glibc, never from managed memory, so hetmem never faults on
 * its own data.  Unused (always false) outside the preload library.
 * initial-exec: malloc reads it, so reaching it must never allocate. */
extern HM_HIDDEN __thread bool hm_tls_internal __attribute__((tls_model("initial-exec")));

/* Record a message for hm_last_error() and return -err (err positive). */
HM_HIDDEN int hm_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
HM_HIDDEN void hm_error_clear(void);
HM_HIDDEN void hm_error_restore(const char *msg);
/* hm_error without the errno's text: for a message that says in words what
 * is wrong with a value the user gave. */
HM_HIDDEN int hm_error_msg(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message as a user of `hetmem run` should read it: without a
 * leading API function name ("hm_init: ") and without "(Invalid argument)". */
HM_HIDDEN void hm_error_for_user(void);

#endif
