/*
 * lsan_off.h -- LSAN_OFF() and LSAN_ON(): LeakSanitizer's detection turned
 * off and on again around what leaks by no fault of the project's, in a
 * sanitized build (AA_SANITIZE); nothing otherwise.
 *
 * What it is for: importing uvloop (0.17) leaks about 3.5 KB once per
 * process, objects its Cython module makes and never frees, there with
 * `import uvloop` alone.  No LeakSanitizer suppression can name them, as
 * the unwinder does not get through libpython to uvloop's frames; the first
 * import is made with leak detection off instead, and everything else stays
 * checked.  (valgrind's memcheck cannot attribute them either:
 * tests/memcheck/memcheck.sh.)
 */
#ifndef AA_TESTS_LSAN_OFF_H
#define AA_TESTS_LSAN_OFF_H

#if defined(__SANITIZE_ADDRESS__)
#define AA_TESTS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AA_TESTS_LSAN 1
#endif
#endif

#ifdef AA_TESTS_LSAN
#include <sanitizer/lsan_interface.h>
#define LSAN_OFF() __lsan_disable()
#define LSAN_ON() __lsan_enable()
#else
#define LSAN_OFF() ((void)0)
#define LSAN_ON() ((void)0)
#endif

#endif /* AA_TESTS_LSAN_OFF_H */
