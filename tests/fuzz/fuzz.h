/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the ioctl fuzzers share: the failure report (counted, one line
 * each, serialized between threads) and the xorshift64* generator.
 */
#ifndef DOORBELL_TESTS_FUZZ_H
#define DOORBELL_TESTS_FUZZ_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static int failures;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("# FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures++;
	pthread_mutex_unlock(&out_lock);
}

/* xorshift64* over the caller's state */
static uint64_t fuzz_rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

#endif
