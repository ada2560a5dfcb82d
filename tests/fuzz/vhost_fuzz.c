// SPDX-License-Identifier: GPL-2.0
/*
 * Ioctl-sequence fuzzer for the vhost devices, /dev/doorbell-blk and
 * /dev/doorbell-net.
 *
 * Random sequences of every vhost call the devices answer (SET/RESET_OWNER,
 * GET/SET_FEATURES, GET/SET_BACKEND_FEATURES, SET_MEM_TABLE,
 * SET_VRING_NUM/BASE/ADDR/KICK/CALL/ERR, GET_VRING_BASE) and of the
 * device's SET_BACKEND, with random arguments: memory tables with zero,
 * one, a few and too many regions, overlapping, empty, unaligned,
 * wrapping past 2^64 and pointing at unmapped memory; queue indices in and
 * out of range; ring sizes and bases at and past the limits; unaligned and
 * unmapped ring addresses; unknown flags and features; descriptors that are
 * eventfds, -1, closed, a memfd, a tap, an O_WRONLY file.  Now and then a
 * valid set-up (every queue's rings inside the memory table, a backend
 * attached) whose rings hold random bytes, kicked: the device must serve or
 * break the queue.  Interleaved with kicks, closes and re-opens of the
 * device, from several threads, each with its own device.
 * Every call must return success or an errno the UAPI documents for it
 * (ENOMEM too with -m); the kernel must not splat (the VM runner checks).
 *
 * usage: vhost_fuzz -d DEVICE [-n ITERATIONS] [-t THREADS] [-s SEED] [-m] [-F]
 *   -m  tolerate ENOMEM everywhere (run under failslab/fail_page_alloc)
 *   -F  each thread sets its make-it-fail once set up, until it is done (the
 *       fault injection task filter then fails its allocations, and those
 *       of the worker it creates on a vhost_task kernel); implies -m
 * Prints kselftest TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
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

#include <linux/vhost.h>
#include <linux/doorbell_blk.h>

#include "fuzz.h"

#define MAX_THREADS	8
#define MEM_SIZE	(1 << 20)	/* the "guest memory" of a thread */
#define NQ		10		/* queue indices tried: beyond both devices' */
#define NFDS		8

static unsigned long iterations = 20000;
static unsigned int nthreads = 4;
static unsigned int seed = 1;
static bool enomem_ok, is_net;
static const char *dev;

enum op {
	OP_OWNER, OP_RESET, OP_GET_FEAT, OP_SET_FEAT, OP_BACKEND_FEAT, OP_MEM,
	OP_NUM, OP_BASE, OP_GET_BASE, OP_ADDR, OP_KICK, OP_CALL, OP_ERR,
	OP_BACKEND, OP_VALID, OP_RING_KICK, OP_REOPEN, OP_UNKNOWN, NR_OP
};

static const char *const op_name[NR_OP] = {
	"SET_OWNER", "RESET_OWNER", "GET_FEATURES", "SET_FEATURES",
	"BACKEND_FEATURES", "SET_MEM_TABLE", "SET_VRING_NUM", "SET_VRING_BASE",
	"GET_VRING_BASE", "SET_VRING_ADDR", "SET_VRING_KICK", "SET_VRING_CALL",
	"SET_VRING_ERR", "SET_BACKEND", "valid set-up", "kick", "reopen",
	"unknown ioctl",
};

/* The errnos each call may return (doorbell_vdev_ioctl()'s kernel-doc,
 * <linux/doorbell_blk.h>, doorbell-net's SET_BACKEND), ENOMEM with -m.
 */
static const int generic_err[] = {
	EPERM, EBUSY, ENOBUFS, EINVAL, EOPNOTSUPP, E2BIG, EFAULT, EBADF, 0
};
static const int blk_backend_err[] = {
	EPERM, EINVAL, EBADF, ENOTBLK, EBADFD, EFAULT, EBUSY, 0
};
static const int net_backend_err[] = {
	EPERM, ENOBUFS, EBADF, ENOTSOCK, EINVAL, EFAULT, EBUSY, 0
};
/* not the owner: EPERM first, as vhost does */
static const int unknown_err[] = { ENOTTY, EPERM, 0 };

struct thr {
	unsigned int n;
	uint64_t rnd;
	int dfd, backing, ro_file, tap;
	int fds[NFDS];
	uint8_t *mem;
	unsigned long calls[NR_OP], refused[NR_OP];
	unsigned long attached;	/* valid set-ups that got a backend */
	unsigned long enomem;	/* calls refused with ENOMEM (-m) */
};

static uint64_t rnd(struct thr *t)
{
	return fuzz_rnd(&t->rnd);
}

static unsigned int pick(struct thr *t, unsigned int n)
{
	return rnd(t) % n;
}

/* Check a call's result against the errnos allowed for it. */
static void check(struct thr *t, enum op op, int ret, const int *allowed)
{
	int e = errno, i;

	t->calls[op]++;
	if (ret >= 0)
		return;
	t->refused[op]++;
	if (e == ENOMEM && enomem_ok) {
		t->enomem++;
		return;
	}
	for (i = 0; allowed[i]; i++)
		if (allowed[i] == e)
			return;
	fail("thread %u: %s: errno %d (%s) is not documented for it",
	     t->n, op_name[op], e, strerror(e));
}

/* Open the device again; on ENOMEM (-m) the next iteration tries again. */
static void reopen(struct thr *t)
{
	t->dfd = open(dev, O_RDWR | O_CLOEXEC);
	if (t->dfd < 0 && !(enomem_ok && errno == ENOMEM))
		fail("thread %u: reopen %s: %s", t->n, dev, strerror(errno));
}

/* A descriptor of any kind, valid or not. */
static int any_fd(struct thr *t)
{
	switch (pick(t, 8)) {
	case 0: return -1;
	case 1: return 1000 + pick(t, 1000);	/* not open */
	case 2: return t->backing;
	case 3: return t->ro_file;
	case 4: return t->tap >= 0 ? t->tap : -1;
	case 5: return t->dfd;			/* the device itself */
	default: return t->fds[pick(t, NFDS)];	/* an eventfd */
	}
}

/* A guest address: inside the table's memory, at its edges, or wild. */
static uint64_t any_uaddr(struct thr *t)
{
	uint64_t base = (uintptr_t)t->mem;

	switch (pick(t, 6)) {
	case 0: return base + (pick(t, MEM_SIZE) & ~63ULL);
	case 1: return base + pick(t, MEM_SIZE);	/* unaligned */
	case 2: return base + MEM_SIZE - 8;
	case 3: return 0;
	case 4: return ~0ULL - pick(t, 4096);
	default: return rnd(t);
	}
}

static uint64_t any_u64(struct thr *t)
{
	static const uint64_t edge[] = {
		0, 1, 4096, MEM_SIZE, 1ULL << 32, 1ULL << 47, ~0ULL, ~0ULL - 4095,
	};

	return pick(t, 3) ? edge[pick(t, 8)] : rnd(t);
}

static void set_mem(struct thr *t, bool valid)
{
	struct vhost_memory *m;
	unsigned int n = valid ? 1 : pick(t, 6), i, alloc;

	if (!valid && !pick(t, 20))
		n = 65 + pick(t, 100000);		/* too many regions */
	alloc = n < 8 ? n : 8;
	m = calloc(1, sizeof(*m) + alloc * sizeof(m->regions[0]));
	if (!m)
		return;
	m->nregions = n;
	for (i = 0; i < alloc; i++) {
		struct vhost_memory_region *r = &m->regions[i];

		if (valid || !pick(t, 3)) {
			r->guest_phys_addr = 0;
			r->memory_size = MEM_SIZE;
			r->userspace_addr = (uintptr_t)t->mem;
		} else {
			r->guest_phys_addr = any_u64(t);
			r->memory_size = any_u64(t);
			r->userspace_addr = any_uaddr(t);
		}
	}
	/* More regions than the buffer holds: the kernel reads past it. */
	check(t, OP_MEM, ioctl(t->dfd, VHOST_SET_MEM_TABLE, m), generic_err);
	free(m);
}

static unsigned int nq(void)
{
	return is_net ? 2 : DOORBELL_BLK_MAX_QUEUES;
}

/* Every queue's rings inside the memory, a backend attached, the rings
 * full of random bytes.
 */
static void valid_setup(struct thr *t)
{
	uint64_t f = 0;
	unsigned int i, num = 1u << (1 + pick(t, 8));
	int ret;

	t->calls[OP_VALID]++;

	check(t, OP_OWNER, ioctl(t->dfd, VHOST_SET_OWNER), generic_err);
	check(t, OP_GET_FEAT, ioctl(t->dfd, VHOST_GET_FEATURES, &f), generic_err);
	f &= rnd(t) | (1ULL << 32);
	check(t, OP_SET_FEAT, ioctl(t->dfd, VHOST_SET_FEATURES, &f), generic_err);
	set_mem(t, true);
	for (i = 0; i < nq(); i++) {
		uint64_t q = (uintptr_t)t->mem + i * (MEM_SIZE / 16);
		struct vhost_vring_state s = { .index = i, .num = num };
		struct vhost_vring_addr a = {
			.index = i, .desc_user_addr = q,
			.avail_user_addr = q + 16 * num,
			.used_user_addr = (q + 16 * num + 6 + 2 * num + 4095) & ~4095ULL,
		};
		struct vhost_vring_file k = { .index = i, .fd = t->fds[i % NFDS] };

		check(t, OP_NUM, ioctl(t->dfd, VHOST_SET_VRING_NUM, &s), generic_err);
		s.num = pick(t, 2) ? 0 : pick(t, 65536);
		check(t, OP_BASE, ioctl(t->dfd, VHOST_SET_VRING_BASE, &s), generic_err);
		check(t, OP_ADDR, ioctl(t->dfd, VHOST_SET_VRING_ADDR, &a), generic_err);
		check(t, OP_KICK, ioctl(t->dfd, VHOST_SET_VRING_KICK, &k), generic_err);
		k.fd = t->fds[(i + 1) % NFDS];
		check(t, OP_CALL, ioctl(t->dfd, VHOST_SET_VRING_CALL, &k), generic_err);
	}
	for (i = 0; i < MEM_SIZE / 8; i += 1 + pick(t, 64))
		((uint64_t *)t->mem)[i] = pick(t, 4) ? rnd(t) : pick(t, 8);
	if (is_net) {
		for (i = 0; i < 2; i++) {
			struct vhost_vring_file b = { .index = i, .fd = t->tap };

			ret = ioctl(t->dfd, VHOST_NET_SET_BACKEND, &b);
			check(t, OP_BACKEND, ret, net_backend_err);
			t->attached += !ret && i == 1;
		}
	} else {
		struct vhost_vring_file b = { .index = 0, .fd = t->backing };

		ret = ioctl(t->dfd, DOORBELL_BLK_SET_BACKEND, &b);
		check(t, OP_BACKEND, ret, blk_backend_err);
		t->attached += !ret;
	}
	for (i = 0; i < NFDS; i++)
		eventfd_write(t->fds[i], 1);
}

static void one(struct thr *t)
{
	enum op op = pick(t, NR_OP);
	struct vhost_vring_state s = { .index = pick(t, 4) ? pick(t, nq()) : pick(t, NQ * 100) };
	struct vhost_vring_file f = { .index = s.index };
	struct vhost_vring_addr a = { .index = s.index };
	uint64_t v = 0;

	switch (op) {
	case OP_OWNER:
		check(t, op, ioctl(t->dfd, VHOST_SET_OWNER), generic_err);
		break;
	case OP_RESET:
		check(t, op, ioctl(t->dfd, VHOST_RESET_OWNER), generic_err);
		break;
	case OP_GET_FEAT:
		check(t, op, ioctl(t->dfd, VHOST_GET_FEATURES, pick(t, 8) ? &v : (void *)8),
		      generic_err);
		break;
	case OP_SET_FEAT:
		v = pick(t, 2) ? rnd(t) : (1ULL << 32) | (1ULL << pick(t, 64));
		check(t, op, ioctl(t->dfd, VHOST_SET_FEATURES, &v), generic_err);
		break;
	case OP_BACKEND_FEAT:
		v = pick(t, 2) ? 0 : rnd(t);
		check(t, op, ioctl(t->dfd, pick(t, 2) ? VHOST_SET_BACKEND_FEATURES :
				   VHOST_GET_BACKEND_FEATURES, &v), generic_err);
		break;
	case OP_MEM:
		set_mem(t, !pick(t, 4));
		break;
	case OP_NUM:
		s.num = pick(t, 2) ? 1u << pick(t, 17) : (unsigned int)rnd(t);
		check(t, op, ioctl(t->dfd, VHOST_SET_VRING_NUM, &s), generic_err);
		break;
	case OP_BASE:
		s.num = pick(t, 2) ? pick(t, 65536) : (unsigned int)rnd(t);
		check(t, op, ioctl(t->dfd, VHOST_SET_VRING_BASE, &s), generic_err);
		break;
	case OP_GET_BASE:
		check(t, op, ioctl(t->dfd, VHOST_GET_VRING_BASE, &s), generic_err);
		break;
	case OP_ADDR:
		a.flags = pick(t, 4) ? 0 : (unsigned int)rnd(t);
		a.desc_user_addr = any_uaddr(t);
		a.avail_user_addr = any_uaddr(t);
		a.used_user_addr = any_uaddr(t);
		a.log_guest_addr = any_u64(t);
		check(t, op, ioctl(t->dfd, VHOST_SET_VRING_ADDR, &a), generic_err);
		break;
	case OP_KICK:
	case OP_CALL:
	case OP_ERR:
		f.fd = any_fd(t);
		check(t, op, ioctl(t->dfd, op == OP_KICK ? VHOST_SET_VRING_KICK :
				   op == OP_CALL ? VHOST_SET_VRING_CALL :
				   VHOST_SET_VRING_ERR, &f), generic_err);
		break;
	case OP_BACKEND:
		f.fd = any_fd(t);
		if (is_net)
			check(t, op, ioctl(t->dfd, VHOST_NET_SET_BACKEND, &f),
			      net_backend_err);
		else
			check(t, op, ioctl(t->dfd, DOORBELL_BLK_SET_BACKEND, &f),
			      blk_backend_err);
		break;
	case OP_VALID:
		valid_setup(t);
		break;
	case OP_RING_KICK:
		t->calls[op]++;
		eventfd_write(t->fds[pick(t, NFDS)], 1 + pick(t, 3));
		break;
	case OP_REOPEN:
		t->calls[op]++;
		if (pick(t, 4))
			break;
		close(t->dfd);
		reopen(t);
		break;
	case OP_UNKNOWN:
		check(t, op, ioctl(t->dfd, _IOW(VHOST_VIRTIO, 0x80 + pick(t, 0x7f), uint64_t),
				   &v), unknown_err);
		break;
	case NR_OP:
		break;
	}
}

static int open_tap(unsigned int n)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "dbfz%u", n);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *run(void *arg)
{
	struct thr *t = arg;
	char path[64];
	unsigned long i;

	t->rnd = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + t->n + 1;
	t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->dfd = open(dev, O_RDWR | O_CLOEXEC);
	t->backing = memfd_create("vhost_fuzz", MFD_CLOEXEC);
	snprintf(path, sizeof(path), "/tmp/vhost_fuzz.%d.%u", getpid(), t->n);
	t->ro_file = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	unlink(path);
	t->tap = is_net ? open_tap(t->n) : -1;
	if (t->mem == MAP_FAILED || t->dfd < 0 || t->backing < 0 || t->ro_file < 0 ||
	    (is_net && t->tap < 0) || ftruncate(t->backing, MEM_SIZE)) {
		fail("thread %u: set-up: %s", t->n, strerror(errno));
		return NULL;
	}
	for (i = 0; i < NFDS; i++)
		t->fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	make_it_fail(true);
	for (i = 0; i < iterations && !failures; i++) {
		if (t->dfd < 0)
			reopen(t);
		else
			one(t);
	}
	make_it_fail(false);
	if (t->dfd >= 0)
		close(t->dfd);
	for (i = 0; i < NFDS; i++)
		close(t->fds[i]);
	close(t->backing);
	close(t->ro_file);
	if (t->tap >= 0)
		close(t->tap);
	munmap(t->mem, MEM_SIZE);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct thr thr[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned long calls = 0, refused = 0, attached = 0, enomem = 0;
	unsigned int i, o;
	bool inject = false;
	int c;

	while ((c = getopt(argc, argv, "d:n:t:s:mF")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'n': iterations = strtoul(optarg, NULL, 0); break;
		case 't': nthreads = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'm': enomem_ok = true; break;
		case 'F': enomem_ok = inject = true; break;
		default:
			fprintf(stderr, "usage: %s -d DEVICE [-n ITERATIONS] [-t THREADS] [-s SEED] [-m] [-F]\n",
				argv[0]);
			return 2;
		}
	}
	if (!dev || !nthreads || nthreads > MAX_THREADS) {
		fprintf(stderr, "vhost_fuzz: -d DEVICE, 1 to %d threads\n", MAX_THREADS);
		return 2;
	}
	is_net = strstr(dev, "net") != NULL;
	if (inject)
		fuzz_inject_start();
	printf("TAP version 13\n1..1\n");
	printf("# %s: %u threads x %lu iterations, seed %u\n", dev, nthreads,
	       iterations, seed);
	fflush(stdout);
	for (i = 0; i < nthreads; i++) {
		thr[i].n = i;
		if (pthread_create(&tid[i], NULL, run, &thr[i])) {
			fail("pthread_create");
			nthreads = i;
			break;
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		attached += thr[i].attached;
		enomem += thr[i].enomem;
	}
	for (o = 0; o < NR_OP; o++) {
		unsigned long n = 0, r = 0;

		for (i = 0; i < nthreads; i++) {
			n += thr[i].calls[o];
			r += thr[i].refused[o];
		}
		printf("# %-16s %8lu calls, %8lu refused\n", op_name[o], n, r);
		calls += n;
		refused += r;
	}
	printf("# %lu valid set-ups ended with a backend attached to random rings\n",
	       attached);
	if (enomem_ok)
		printf("# %lu calls refused with ENOMEM\n", enomem);
	printf("%s 1 %s: %lu calls, %lu refused, each with a documented errno\n",
	       failures ? "not ok" : "ok", dev, calls, refused);
	return failures ? 1 : 0;
}
