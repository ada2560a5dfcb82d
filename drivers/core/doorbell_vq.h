/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell core: vhost-style devices and split virtqueues.
 *
 * A struct doorbell_vdev answers the generic ioctls of <linux/vhost.h> for a
 * doorbell device (doorbell_vdev_ioctl()): SET_OWNER and RESET_OWNER,
 * GET/SET_FEATURES, GET/SET_BACKEND_FEATURES, SET_MEM_TABLE, and per queue
 * SET_VRING_NUM/ADDR/BASE, GET_VRING_BASE, SET_VRING_KICK/CALL/ERR.  The
 * device adds its own (e.g. a SET_BACKEND) and passes the rest on.
 *
 * A struct doorbell_vq is one split virtqueue in the owner's memory: the ring
 * addresses are the owner's (VMM) virtual addresses, the descriptors carry
 * guest physical addresses that the memory table translates.  Its kick
 * eventfd wakes a doorbell_poll whose work function is the device's handler;
 * the handler runs in the device's worker with the owner's mm, takes the
 * queue's mutex, and walks the ring with doorbell_vq_get_desc(), completes
 * with doorbell_vq_add_used*() and signals the call eventfd with
 * doorbell_vq_signal() (EVENT_IDX aware).
 *
 * Everything the guest or the VMM writes is checked: ring indices, descriptor
 * indices, chain length (a loop ends the walk), indirect tables, address and
 * length overflow, addresses outside the memory table, writable descriptors
 * before readable ones.  A violation breaks that queue only: it is marked
 * broken, one ratelimited line is logged, the error eventfd is signalled and
 * the queue is not served until the VMM sets its base again.
 *
 * Locking: the vdev mutex serializes the ioctls; each queue's mutex protects
 * its state and is held by the handler while it serves the queue.  Order:
 * vdev mutex, then queue mutex.
 */
#ifndef _DOORBELL_VQ_H
#define _DOORBELL_VQ_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/virtio_ring.h>

#include "doorbell_core.h"

/* Most regions in a memory table (vhost's max_mem_regions default). */
#define DOORBELL_VQ_MAX_REGIONS	64
/* Most buffers one request may scatter over. */
#define DOORBELL_VQ_IOV_MAX	1024
/* Largest ring (the split ring's limit). */
#define DOORBELL_VQ_MAX_NUM	32768
/*
 * Set in the head doorbell_vq_get_desc() returns for a chain with more
 * buffers than DOORBELL_VQ_IOV_MAX (above any head: heads are below
 * DOORBELL_VQ_MAX_NUM).
 */
#define DOORBELL_VQ_OVERSIZED	0x10000

/**
 * struct doorbell_mem_region - one guest memory range
 * @gpa: guest physical address of its start
 * @size: length in bytes, not 0
 * @uaddr: the owner's virtual address of its start
 */
struct doorbell_mem_region {
	u64 gpa;
	u64 size;
	u64 uaddr;
};

/**
 * struct doorbell_mem - a memory table, immutable once set
 * @nregions: entries in @regions
 * @regions: non-overlapping guest ranges
 */
struct doorbell_mem {
	u32 nregions;
	struct doorbell_mem_region regions[];
};

/**
 * struct doorbell_vq_stats - per-queue counters
 * @kicks: runs of the handler for kicks
 * @requests: descriptor chains taken from the avail ring
 * @signals: call eventfd signals
 * @breaks: times the queue broke on bad guest input
 * @drops: requests completed without being served (e.g. a TX packet the
 *	backend cannot take)
 */
struct doorbell_vq_stats {
	u64 kicks;
	u64 requests;
	u64 signals;
	u64 breaks;
	u64 drops;
};

struct doorbell_vdev;

/**
 * struct doorbell_vq - a split virtqueue served by a doorbell device
 * @mutex: protects the fields below; held by the handler while serving
 * @vdev: the device
 * @index: the queue's index in the device
 * @poll: the kick poller; its work function is the device's handler
 * @wdev: the queue's own worker, when the device has one per queue
 * @call: the call eventfd (completions), or NULL
 * @err: the error eventfd (queue broken), or NULL
 * @mem: the device's memory table as this queue sees it
 * @features: the features the VMM acked
 * @num: ring size, 0 until set
 * @desc: descriptor table (owner's address)
 * @avail: avail ring
 * @used: used ring
 * @addr_set: SET_VRING_ADDR was done
 * @broken: bad guest input seen; not served until the base is set again
 * @le: ring fields are little endian
 * @last_avail_idx: next avail entry to take
 * @avail_idx: the guest's avail idx as last read
 * @last_used_idx: next used entry to fill
 * @signalled_used: used idx at the last signal (EVENT_IDX)
 * @signalled_used_valid: @signalled_used is meaningful
 * @used_added: used entries were added since the last doorbell_vq_signal()
 * @used_flags: our used->flags as last written
 * @private_data: the device's backend for this queue, NULL when stopped
 * @stats: counters
 * @iov: scratch for the handler's doorbell_vq_get_desc() calls
 */
struct doorbell_vq {
	struct mutex mutex;	/* the queue's state; held while serving */
	struct doorbell_vdev *vdev;
	unsigned int index;
	struct doorbell_poll poll;
	struct doorbell_dev *wdev;
	struct eventfd_ctx *call;
	struct eventfd_ctx *err;
	const struct doorbell_mem *mem;
	u64 features;
	unsigned int num;
	struct vring_desc __user *desc;
	struct vring_avail __user *avail;
	struct vring_used __user *used;
	bool addr_set;
	bool broken;
	bool le;
	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 signalled_used;
	bool signalled_used_valid;
	bool used_added;
	u16 used_flags;
	void *private_data;
	struct doorbell_vq_stats stats;
	struct iovec iov[DOORBELL_VQ_IOV_MAX];
};

/**
 * typedef doorbell_vdev_stop_fn_t - detach every backend of a device
 * @vdev: the device
 *
 * Called with the vdev mutex held before RESET_OWNER tears the queues down.
 */
typedef void (*doorbell_vdev_stop_fn_t)(struct doorbell_vdev *vdev);

/**
 * struct doorbell_vdev - a vhost-style doorbell device
 * @dev: the doorbell device (worker, counters); set up by SET_OWNER
 * @mutex: serializes the ioctls
 * @vqs: the queues
 * @nvqs: entries in @vqs
 * @features: the features offered (GET_FEATURES)
 * @acked: the features set by SET_FEATURES
 * @mem: the memory table, NULL until set
 * @owned: SET_OWNER was done (and @dev is set up)
 * @queue_workers: each queue gets its own worker at SET_OWNER, so that
 *	queues are served in parallel (set before SET_OWNER)
 * @prefix: name prefix of the device's worker and debugfs directory
 * @stop: the device's callback for RESET_OWNER
 */
struct doorbell_vdev {
	struct doorbell_dev dev;
	struct mutex mutex;	/* serializes the ioctls */
	struct doorbell_vq **vqs;
	unsigned int nvqs;
	u64 features;
	u64 acked;
	const struct doorbell_mem *mem;
	bool owned;
	bool queue_workers;
	const char *prefix;
	doorbell_vdev_stop_fn_t stop;
};

void doorbell_vdev_init(struct doorbell_vdev *vdev, struct doorbell_vq **vqs,
			unsigned int nvqs, u64 features, const char *prefix,
			doorbell_vdev_stop_fn_t stop, doorbell_work_fn_t handler);
void doorbell_vdev_cleanup(struct doorbell_vdev *vdev);
long doorbell_vdev_ioctl(struct doorbell_vdev *vdev, unsigned int ioctl,
			 void __user *argp);
int doorbell_vdev_check_owner(struct doorbell_vdev *vdev);

bool doorbell_vq_ready(struct doorbell_vq *vq);
int doorbell_vq_start(struct doorbell_vq *vq, void *backend);
void *doorbell_vq_stop(struct doorbell_vq *vq);
int doorbell_vq_get_desc(struct doorbell_vq *vq, struct iovec *iov,
			 unsigned int iov_size, unsigned int *out,
			 unsigned int *in);
void doorbell_vq_discard(struct doorbell_vq *vq, unsigned int n);
int doorbell_vq_add_used(struct doorbell_vq *vq, unsigned int head, u32 len);
int doorbell_vq_add_used_n(struct doorbell_vq *vq,
			   const struct vring_used_elem *elems,
			   unsigned int count);
void doorbell_vq_signal(struct doorbell_vq *vq);
bool doorbell_vq_enable_notify(struct doorbell_vq *vq);
void doorbell_vq_disable_notify(struct doorbell_vq *vq);
bool doorbell_vq_avail_empty(struct doorbell_vq *vq);
void doorbell_vq_break(struct doorbell_vq *vq, const char *why);

/**
 * doorbell_vq_dev - the doorbell device whose worker serves a queue
 * @vq: the queue of a device that has an owner
 *
 * Return: the queue's own worker's device, or the vdev's.
 */
static inline struct doorbell_dev *doorbell_vq_dev(struct doorbell_vq *vq)
{
	return vq->poll.dev;
}

/**
 * doorbell_vq_from_work - the queue a handler was queued for
 * @work: the work passed to the handler given to doorbell_vdev_init()
 *
 * Return: the queue.
 */
static inline struct doorbell_vq *doorbell_vq_from_work(struct doorbell_work *work)
{
	return container_of(doorbell_poll_from_work(work), struct doorbell_vq, poll);
}

/**
 * doorbell_vq_has_feature - did the VMM ack a feature for this queue
 * @vq: the queue, its mutex held
 * @bit: a feature bit number
 *
 * Return: true if acked.
 */
static inline bool doorbell_vq_has_feature(const struct doorbell_vq *vq,
					   unsigned int bit)
{
	return vq->features & BIT_ULL(bit);
}

#endif /* _DOORBELL_VQ_H */
