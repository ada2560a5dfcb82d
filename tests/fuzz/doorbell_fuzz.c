// SPDX-License-Identifier: GPL-2.0
/*
 * Ioctl-sequence fuzzer for /dev/doorbell.
 *
 * Random sequences of every UAPI call with random arguments (valid, closed,
 * negative and non-eventfd fds; unknown flags; sizes below, at and above the
 * published ones, with and without non-zero tail bytes; unknown ids; zero
 * and huge counts; bad pointers; unknown commands), interleaved with eventfd
 * writes, eventfd closes and file re-opens, from several threads at once,
 * each on its own file.  Checks that every call returns success or one of the errnos the
 * UAPI header documents for it (plus ENOMEM, which fault injection may
 * cause), and that each bell's counters equal the rings this program made
 * once nothing is pending.  The kernel must not splat (the VM runner checks).
 *
 * usage: doorbell_fuzz [-n ITERATIONS] [-t THREADS] [-s SEED] [-m] [-F]
 *   -m  tolerate ENOMEM everywhere (run under failslab/fail_page_alloc)
 *   -F  each fuzzing thread sets its make-it-fail while it fuzzes (the
 *       fault injection task filter then fails its allocations); implies -m
 * Prints kselftest TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/doorbell.h>

#include "fuzz.h"

#define DEV		"/dev/doorbell"
#define SLOTS		16	/* bells tracked per thread */
#define MAX_THREADS	8
/* A command without its size bits */
#define NOSIZE(c)	((unsigned long)(c) & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT))

static unsigned long iterations = 20000;
static unsigned int nthreads = 4;
static unsigned int seed = 1;
static bool enomem_ok;
static void *bad_ptr;

struct slot {
	int efd;		/* -1: unused */
	uint32_t id;
	bool bound;		/* has a bell in the thread's file */
	uint64_t rings_efd;	/* rings written to the eventfd while bound */
	uint64_t rings_ioctl;
	uint64_t backlog;	/* written while unbound: counted at the next bind */
	bool closed_efd;	/* eventfd closed while bound: counts frozen */
};

struct thr {
	unsigned int n;
	uint64_t rnd;
	int dfd;
	struct slot slot[SLOTS];
	unsigned long calls, errors_expected;
};

static uint64_t rnd(struct thr *t)
{
	return fuzz_rnd(&t->rnd);
}

static unsigned int pick(struct thr *t, unsigned int n)
{
	return rnd(t) % n;
}

/* Is @err allowed for this call?  @allowed is a 0-terminated list. */
static void check(struct thr *t, const char *call, int ret, const int *allowed)
{
	int i, e = errno;

	t->calls++;
	if (ret == 0)
		return;
	if (ret != -1) {
		fail("%s returned %d", call, ret);
		return;
	}
	if (e == ENOMEM && enomem_ok)
		return;
	for (i = 0; allowed[i]; i++)
		if (allowed[i] == e) {
			t->errors_expected++;
			return;
		}
	fail("%s: unexpected errno %d (%s)", call, e, strerror(e));
}

static const int add_errs[] = { EBADF, EINVAL, EBUSY, ENOSPC, E2BIG, EFAULT, 0 };
static const int id_errs[] = { ENOENT, EINVAL, E2BIG, EFAULT, 0 };

/* A size: mostly right, sometimes short, long, or absurd. */
static uint32_t fuzz_size(struct thr *t, uint32_t ver0)
{
	switch (pick(t, 8)) {
	case 0: return pick(t, ver0);
	case 1: return ver0 + 8 * (1 + pick(t, 4));
	case 2: return 1u << pick(t, 32);
	default: return ver0;
	}
}

/* Arguments live in a buffer with room for a long tail. */
struct argbuf {
	union {
		struct doorbell_bell bell;
		struct doorbell_ring ring;
		struct doorbell_stats stats;
		struct doorbell_id id;
		unsigned char raw[256];
	};
};

static void tail(struct thr *t, struct argbuf *a, uint32_t size, uint32_t ver0)
{
	if (size > ver0 && size <= sizeof(a->raw) && pick(t, 2))
		a->raw[ver0 + pick(t, size - ver0)] = 1 + pick(t, 255);
}

static struct slot *find_slot(struct thr *t, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < SLOTS; i++)
		if (t->slot[i].bound && t->slot[i].id == id)
			return &t->slot[i];
	return NULL;
}

static uint32_t some_id(struct thr *t, struct slot **sp)
{
	struct slot *s = &t->slot[pick(t, SLOTS)];

	*sp = s;
	if (s->bound && pick(t, 8))
		return s->id;
	*sp = NULL;
	return pick(t, 2) ? (uint32_t)rnd(t) : pick(t, DOORBELL_MAX_BELLS + 2);
}

static void op_add(struct thr *t)
{
	struct slot *s = &t->slot[pick(t, SLOTS)];
	struct argbuf a;
	uint32_t size;
	int fd, ret;

	memset(&a, 0, sizeof(a));
	size = fuzz_size(t, DOORBELL_BELL_SIZE_VER0);
	if (s->efd < 0 && !s->closed_efd) {
		s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK |
				 (pick(t, 4) ? 0 : EFD_SEMAPHORE));
		if (s->efd < 0) {
			if (!(errno == ENOMEM && enomem_ok))
				fail("eventfd: %s", strerror(errno));
			return;
		}
		s->backlog = 0;
	}
	switch (pick(t, 8)) {
	case 0: fd = -1 - pick(t, 100); break;
	case 1: fd = t->dfd; break;			/* not an eventfd */
	case 2: fd = 100000 + pick(t, 1000); break;	/* not open */
	default: fd = s->efd;
	}
	a.bell.size = size;
	a.bell.fd = fd;
	a.bell.flags = pick(t, 8) ? pick(t, 2) : (uint32_t)rnd(t);
	tail(t, &a, size, DOORBELL_BELL_SIZE_VER0);
	ret = ioctl(t->dfd, DOORBELL_ADD_BELL, pick(t, 50) ? (void *)&a : bad_ptr);
	check(t, "ADD_BELL", ret, add_errs);
	if (ret == 0) {
		if (fd != s->efd || s->efd < 0 || s->bound) {
			fail("ADD_BELL accepted fd %d (slot efd %d, bound %d)",
			     fd, s->efd, s->bound);
			return;
		}
		s->bound = true;
		s->id = a.bell.id;
		s->rings_efd = s->backlog;
		s->backlog = 0;
		s->rings_ioctl = 0;
	} else if (errno == EBUSY && !(s->bound && fd == s->efd)) {
		fail("ADD_BELL: EBUSY for an eventfd without a bell");
	}
}

static void op_ring(struct thr *t)
{
	struct argbuf a;
	struct slot *s;
	uint32_t size = fuzz_size(t, DOORBELL_RING_SIZE_VER0);
	int ret;

	memset(&a, 0, sizeof(a));
	a.ring.size = size;
	a.ring.id = some_id(t, &s);
	a.ring.count = pick(t, 10) ? 1 + pick(t, 3) : (pick(t, 2) ? 0 : (uint32_t)rnd(t));
	tail(t, &a, size, DOORBELL_RING_SIZE_VER0);
	ret = ioctl(t->dfd, DOORBELL_RING, pick(t, 50) ? (void *)&a : bad_ptr);
	check(t, "RING", ret, id_errs);
	if (ret == 0) {
		/* A random id may be any bell of this thread's file. */
		s = find_slot(t, a.ring.id);
		if (!s)
			fail("RING accepted unknown id %u", a.ring.id);
		else
			s->rings_ioctl += a.ring.count;
	}
}

static void op_write(struct thr *t)
{
	struct slot *s = &t->slot[pick(t, SLOTS)];
	uint64_t v = 1 + pick(t, 4);

	if (s->efd < 0)
		return;
	if (write(s->efd, &v, sizeof(v)) != sizeof(v)) {
		fail("eventfd write: %s", strerror(errno));
		return;
	}
	if (s->bound)
		s->rings_efd += v;
	else
		s->backlog += v;
}

static int get_stats(struct thr *t, uint32_t id, struct doorbell_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->id = id;
	return ioctl(t->dfd, DOORBELL_GET_STATS, st);
}

/* Once nothing is pending, the counters equal what this thread did. */
static void verify(struct thr *t, struct slot *s)
{
	struct doorbell_stats st;
	int tries;

	for (tries = 0; tries < 100000; tries++) {
		if (get_stats(t, s->id, &st)) {
			fail("GET_STATS of a live bell: %s", strerror(errno));
			return;
		}
		if (!st.pending && st.rings_eventfd == s->rings_efd &&
		    st.rings_ioctl == s->rings_ioctl)
			return;
		if (!st.pending && st.rings_eventfd + st.rings_ioctl >=
		    s->rings_efd + s->rings_ioctl)
			break;
		sched_yield();
	}
	fail("bell %u: counted %llu by eventfd + %llu by ioctl, made %llu + %llu",
	     s->id, (unsigned long long)st.rings_eventfd,
	     (unsigned long long)st.rings_ioctl,
	     (unsigned long long)s->rings_efd, (unsigned long long)s->rings_ioctl);
}

static void op_stats(struct thr *t)
{
	struct argbuf a;
	struct slot *s;
	uint32_t size = fuzz_size(t, DOORBELL_STATS_SIZE_VER0);
	int ret;

	memset(&a, 0, sizeof(a));
	a.stats.size = size;
	a.stats.id = some_id(t, &s);
	tail(t, &a, size, DOORBELL_STATS_SIZE_VER0);
	ret = ioctl(t->dfd, DOORBELL_GET_STATS, pick(t, 50) ? (void *)&a : bad_ptr);
	check(t, "GET_STATS", ret, id_errs);
	if (s && s->bound && !s->closed_efd && pick(t, 4) == 0)
		verify(t, s);
}

static void op_remove(struct thr *t)
{
	struct argbuf a;
	struct slot *s;
	uint32_t size = fuzz_size(t, DOORBELL_ID_SIZE_VER0);
	int ret;

	memset(&a, 0, sizeof(a));
	a.id.size = size;
	a.id.id = some_id(t, &s);
	tail(t, &a, size, DOORBELL_ID_SIZE_VER0);
	if (s && s->bound && !s->closed_efd)
		verify(t, s);
	ret = ioctl(t->dfd, DOORBELL_REMOVE_BELL, pick(t, 50) ? (void *)&a : bad_ptr);
	check(t, "REMOVE_BELL", ret, id_errs);
	if (ret == 0) {
		/* A random id may have hit any bell of this file. */
		s = find_slot(t, a.id.id);
		if (!s) {
			fail("REMOVE_BELL removed unknown id %u", a.id.id);
			return;
		}
		s->bound = false;
		s->closed_efd = false;
	}
}

static void op_close_efd(struct thr *t)
{
	struct slot *s = &t->slot[pick(t, SLOTS)];

	if (s->efd < 0)
		return;
	if (s->bound && !s->closed_efd)
		verify(t, s);
	close(s->efd);
	if (s->bound) {
		/* The bell goes inactive and keeps its counts. */
		s->closed_efd = true;
	}
	s->efd = -1;
}

static void op_bad_cmd(struct thr *t)
{
	unsigned long cmd;
	struct argbuf a;

	memset(&a, 0, sizeof(a));
	switch (pick(t, 4)) {
	case 0:
		cmd = _IOC(pick(t, 4), DOORBELL_IOCTL_MAGIC, 4 + pick(t, 250), pick(t, 64));
		break;
	case 1:
		/* A known number with the wrong direction or size. */
		cmd = _IOC(pick(t, 4), DOORBELL_IOCTL_MAGIC, pick(t, 4), pick(t, 64));
		break;
	case 2: cmd = _IOC(pick(t, 4), pick(t, 256), pick(t, 256), pick(t, 64)); break;
	default: cmd = rnd(t) & 0xffffffff;
	}
	/* Skip the real commands. */
	if (cmd == DOORBELL_ADD_BELL || cmd == DOORBELL_RING ||
	    cmd == DOORBELL_GET_STATS || cmd == DOORBELL_REMOVE_BELL)
		return;
	/*
	 * Other types may be the VFS's own (FIOCLEX, FICLONE, ...), which
	 * it answers before the driver sees them: only ours must be ENOTTY.
	 */
	if (_IOC_TYPE(cmd) != DOORBELL_IOCTL_MAGIC) {
		t->calls++;
		(void)ioctl(t->dfd, cmd, &a);
		return;
	}
	/*
	 * A real command's number and direction with another size is that
	 * command (the size is the argument's first field): here a zero
	 * size, so EINVAL.
	 */
	if (NOSIZE(cmd) == NOSIZE(DOORBELL_ADD_BELL) ||
	    NOSIZE(cmd) == NOSIZE(DOORBELL_RING) ||
	    NOSIZE(cmd) == NOSIZE(DOORBELL_GET_STATS) ||
	    NOSIZE(cmd) == NOSIZE(DOORBELL_REMOVE_BELL)) {
		static const int einval[] = { EINVAL, 0 };

		check(t, "known cmd, other size", ioctl(t->dfd, cmd, &a), einval);
		return;
	}
	t->calls++;
	if (!ioctl(t->dfd, cmd, &a)) {
		fail("unknown cmd 0x%lx succeeded", cmd);
		return;
	}
	if (errno == ENOTTY || (errno == ENOMEM && enomem_ok)) {
		t->errors_expected++;
		return;
	}
	fail("unknown cmd 0x%lx: errno %d (%s), want ENOTTY", cmd, errno,
	     strerror(errno));
}

static void reopen(struct thr *t)
{
	unsigned int i;

	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &t->slot[i];

		if (s->bound && !s->closed_efd)
			verify(t, s);
		if (s->efd >= 0)
			close(s->efd);
		memset(s, 0, sizeof(*s));
		s->efd = -1;
	}
	close(t->dfd);
	t->dfd = open(DEV, O_RDWR | O_CLOEXEC);
	if (t->dfd < 0 && !(errno == ENOMEM && enomem_ok))
		fail("open %s: %s", DEV, strerror(errno));
}

static void *fuzz_thread(void *arg)
{
	struct thr *t = arg;
	unsigned long i;

	make_it_fail(true);
	reopen(t);
	for (i = 0; i < iterations; i++) {
		if (t->dfd < 0) {
			reopen(t);
			continue;
		}
		switch (pick(t, 20)) {
		case 0 ... 3: op_add(t); break;
		case 4 ... 7: op_ring(t); break;
		case 8 ... 11: op_write(t); break;
		case 12 ... 13: op_stats(t); break;
		case 14 ... 15: op_remove(t); break;
		case 16: op_close_efd(t); break;
		case 17: op_bad_cmd(t); break;
		case 18:
			if (pick(t, 50) == 0)
				reopen(t);
			break;
		default: op_write(t);
		}
	}
	reopen(t);
	close(t->dfd);
	make_it_fail(false);
	return NULL;
}

int main(int argc, char **argv)
{
	struct thr thr[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned long calls = 0, expected = 0;
	unsigned int i;
	int c;

	bool inject = false;

	while ((c = getopt(argc, argv, "n:t:s:mF")) != -1) {
		switch (c) {
		case 'n': iterations = strtoul(optarg, NULL, 0); break;
		case 't': nthreads = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'm': enomem_ok = true; break;
		case 'F': enomem_ok = inject = true; break;
		default:
			fprintf(stderr, "usage: %s [-n ITER] [-t THREADS] [-s SEED] [-m] [-F]\n", argv[0]);
			return 2;
		}
	}
	if (!nthreads || nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	printf("TAP version 13\n1..1\n");
	if (access(DEV, F_OK)) {
		printf("ok 1 # SKIP %s absent\n", DEV);
		return 4;
	}
	/* An address that faults: a page mapped with no access. */
	bad_ptr = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad_ptr == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (inject)
		fuzz_inject_start();
	for (i = 0; i < nthreads; i++) {
		unsigned int j;

		memset(&thr[i], 0, sizeof(thr[i]));
		for (j = 0; j < SLOTS; j++)
			thr[i].slot[j].efd = -1;
		thr[i].dfd = -1;
		thr[i].n = i;
		thr[i].rnd = 0x9E3779B97F4A7C15ULL * (seed + i + 1);
		if (pthread_create(&tid[i], NULL, fuzz_thread, &thr[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		calls += thr[i].calls;
		expected += thr[i].errors_expected;
	}
	printf("# %u threads x %lu iterations, seed %u: %lu ioctls, %lu refused with a documented errno%s\n",
	       nthreads, iterations, seed, calls, expected,
	       enomem_ok ? " (ENOMEM tolerated)" : "");
	printf("%sok 1 ioctl-sequence fuzzing of /dev/doorbell: every errno documented, counts exact\n",
	       failures ? "not " : "");
	return failures ? 1 : 0;
}
