/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the ioctl fuzzers share: the failure report (counted, one line
 * each, serialized between threads), the xorshift64* generator, and -F:
 * fault injection's task filter set by the fuzzing threads.
 */
#ifndef DOORBELL_TESTS_FUZZ_H
#define DOORBELL_TESTS_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static bool fuzz_inject;	/* -F: the fuzzing threads set make-it-fail */

/*
 * -F: only the fuzzing threads fail allocations, while they run (their
 * children, a vhost_task worker included, inherit it): no page of ours may
 * need reading in then, and nothing is written out before they are done.
 */
static void fuzz_inject_start(void)
{
	static char outbuf[1 << 20];

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall (continuing)");
	fuzz_inject = true;
}

/* Fault injection's task filter: fail this thread's allocations or not. */
static void make_it_fail(bool on)
{
	int fd = -1, tries;

	if (!fuzz_inject)
		return;
	/* Turning it off may itself meet an injected failure: retry. */
	for (tries = 0; tries < 1000; tries++) {
		fd = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && write(fd, on ? "1" : "0", 1) == 1)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (errno != ENOMEM)
			break;
	}
	if (fd < 0)
		fail("/proc/thread-self/make-it-fail: %s", strerror(errno));
	else
		close(fd);
}

#endif
