// SPDX-License-Identifier: GPL-2.0
/*
 * The fake guest of the ring tests: see guest.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

int failed, testno;
uint8_t *mem;
uint64_t heap;
int dev = -1;

void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

bool result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++testno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failed = 1;
	return ok;
}

void skip(const char *what, const char *why)
{
	printf("ok %d %s # SKIP %s\n", ++testno, what, why);
	fflush(stdout);
}

/* ------------------------------------------------------------ the guest */

void *g2h(uint64_t gpa)
{
	return mem + (gpa - GPA0);
}

uint64_t galloc(size_t len, size_t align)
{
	uint64_t a = (heap + align - 1) & ~(uint64_t)(align - 1);

	heap = a + len;
	if (heap > GPA0 + MEMSZ) {
		fprintf(stderr, "net_ring: guest heap exhausted\n");
		exit(1);
	}
	return a;
}

/* Buffers come from the second half when they should cross regions. */
uint64_t buf_at_boundary(size_t len)
{
	return GPA0 + MEMSZ / 2 - len / 2;
}

void queue_layout(struct queue *vq)
{
	uint64_t d = galloc(16 * NUM, 16);
	uint64_t a = galloc(6 + 2 * NUM, 2);
	uint64_t u = galloc(6 + 8 * NUM, 4);

	memset(g2h(d), 0, 16 * NUM);
	memset(g2h(a), 0, 6 + 2 * NUM);
	memset(g2h(u), 0, 6 + 8 * NUM);
	vq->desc = g2h(d);
	vq->avail = g2h(a);
	vq->used = g2h(u);
	vq->desc_gpa = d;
	vq->avail_idx = 0;
	vq->used_seen = 0;
	vq->next_desc = 0;
}

uint16_t *used_event(struct queue *vq)
{
	return &vq->avail->ring[NUM];
}

/* Write a descriptor; returns its index. */
uint16_t put_desc(struct queue *vq, uint64_t addr, uint32_t len,
			 uint16_t flags, uint16_t next)
{
	uint16_t i = vq->next_desc++ % NUM;

	vq->desc[i].addr = addr;
	vq->desc[i].len = len;
	vq->desc[i].flags = flags;
	vq->desc[i].next = next;
	return i;
}

void publish(struct queue *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % NUM] = head;
	__atomic_store_n(&vq->avail->idx, ++vq->avail_idx, __ATOMIC_RELEASE);
}

void kick(struct queue *vq)
{
	uint64_t one = 1;

	if (write(vq->kick, &one, 8) != 8)
		perror("kick");
}

/* Wait until the used idx reaches @want; false on timeout (ms). */
bool wait_used(struct queue *vq, uint16_t want, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);

		if ((uint16_t)(idx - want) < 0x8000)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
		usleep(200);
	}
}

/* Drain an eventfd; returns its count (0 if not signalled in @ms). */
uint64_t efd_take(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, ms) == 1 && read(fd, &v, 8) != 8)
		v = 0;
	return v;
}

void guest_init(void)
{
	mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
}

void queue_init(struct queue *vq)
{
	vq->kick = eventfd(0, 0);
	vq->call = eventfd(0, EFD_NONBLOCK);
	vq->err = eventfd(0, EFD_NONBLOCK);
}

/* ---------------------------------------------------------- the device */

int vioctl(unsigned long cmd, void *arg)
{
	return ioctl(dev, cmd, arg) ? -errno : 0;
}

int set_mem(uint32_t n, const struct vhost_memory_region *r, uint32_t pad)
{
	struct vhost_memory *m = calloc(1, sizeof(*m) + n * sizeof(*r));
	int ret;

	m->nregions = n;
	m->padding = pad;
	if (n && r)
		memcpy(m->regions, r, n * sizeof(*r));
	ret = vioctl(VHOST_SET_MEM_TABLE, m);
	free(m);
	return ret;
}

int default_mem(void)
{
	struct vhost_memory_region r[2] = {
		{ .guest_phys_addr = GPA0, .memory_size = MEMSZ / 2,
		  .userspace_addr = (uintptr_t)mem },
		{ .guest_phys_addr = GPA0 + MEMSZ / 2, .memory_size = MEMSZ / 2,
		  .userspace_addr = (uintptr_t)mem + MEMSZ / 2 },
	};

	return set_mem(2, r, 0);
}

/* Ring set-up of one queue at base @base; 0 or -errno. */
int vring_setup(struct queue *vq, int i, uint16_t base)
{
	struct vhost_vring_state s = { .index = i, .num = NUM };
	struct vhost_vring_addr a = {
		.index = i,
		.desc_user_addr = (uintptr_t)vq->desc,
		.avail_user_addr = (uintptr_t)vq->avail,
		.used_user_addr = (uintptr_t)vq->used,
	};
	struct vhost_vring_file f = { .index = i };
	int ret;

	ret = vioctl(VHOST_SET_VRING_NUM, &s);
	s.num = base;
	ret = ret ?: vioctl(VHOST_SET_VRING_BASE, &s);
	ret = ret ?: vioctl(VHOST_SET_VRING_ADDR, &a);
	f.fd = vq->kick;
	ret = ret ?: vioctl(VHOST_SET_VRING_KICK, &f);
	f.fd = vq->call;
	ret = ret ?: vioctl(VHOST_SET_VRING_CALL, &f);
	f.fd = vq->err;
	ret = ret ?: vioctl(VHOST_SET_VRING_ERR, &f);
	return ret;
}
