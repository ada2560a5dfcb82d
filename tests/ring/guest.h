/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fake guest of the ring tests: guest memory in this process, split
 * virtqueues laid out in it, kicks and calls through eventfds, and the vhost
 * ioctls on the device under test.  No KVM.
 *
 * Guest memory is MEMSZ bytes at guest physical GPA0, declared to the device
 * as two regions (so that every address is translated and a buffer may
 * cross a region boundary).  Rings have NUM entries.
 */
#ifndef RING_GUEST_H
#define RING_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>

#define KSFT_SKIP	4
#define NUM		256		/* ring size */
#define GPA0		0x100000ULL	/* guest physical base */
#define MEMSZ		(16u << 20)	/* two regions of 8 MiB */

struct queue {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa;
	uint16_t avail_idx;	/* next avail idx we publish */
	uint16_t used_seen;	/* used entries consumed */
	uint16_t next_desc;	/* free-running descriptor allocator */
	int kick, call, err;
};

extern int failed, testno;
extern uint8_t *mem;		/* guest memory */
extern uint64_t heap;		/* bump allocator, guest physical */
extern int dev;			/* the device under test */

/* kselftest TAP */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void skip(const char *what, const char *why);

/* the guest */
void guest_init(void);
void queue_init(struct queue *vq);
void *g2h(uint64_t gpa);
uint64_t galloc(size_t len, size_t align);
uint64_t buf_at_boundary(size_t len);
void queue_layout(struct queue *vq);
uint16_t *used_event(struct queue *vq);
uint16_t put_desc(struct queue *vq, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next);
void publish(struct queue *vq, uint16_t head);
void kick(struct queue *vq);
bool wait_used(struct queue *vq, uint16_t want, int ms);
uint64_t efd_take(int fd, int ms);

/* the device */
int vioctl(unsigned long cmd, void *arg);
int set_mem(uint32_t n, const struct vhost_memory_region *r, uint32_t pad);
int default_mem(void);
int vring_setup(struct queue *vq, int i, uint16_t base);

#endif
