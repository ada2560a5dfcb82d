// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: vhost-style devices and split virtqueues.
 * See doorbell_vq.h for the model; the ring layout is the virtio 1.x split
 * virtqueue (<linux/virtio_ring.h>).
 *
 * The ring and descriptor reads are ordinary user accesses: the handler runs
 * in the device's worker, which runs with the owner's mm.  Nothing read from
 * the ring is trusted: an index is checked before it is used, a length
 * before it is added, and each buffer must lie inside the memory table.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/ratelimit.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>

#include "doorbell_vq.h"

/* The ring features every doorbell_vdev handles. */
#define DOORBELL_VQ_FEATURES	(BIT_ULL(VIRTIO_F_VERSION_1) |		\
				 BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
				 BIT_ULL(VIRTIO_RING_F_EVENT_IDX))

static u16 vq16_to_cpu(const struct doorbell_vq *vq, __virtio16 v)
{
	return __virtio16_to_cpu(vq->le, v);
}

static __virtio16 cpu_to_vq16(const struct doorbell_vq *vq, u16 v)
{
	return __cpu_to_virtio16(vq->le, v);
}

static u32 vq32_to_cpu(const struct doorbell_vq *vq, __virtio32 v)
{
	return __virtio32_to_cpu(vq->le, v);
}

static __virtio32 cpu_to_vq32(const struct doorbell_vq *vq, u32 v)
{
	return __cpu_to_virtio32(vq->le, v);
}

static u64 vq64_to_cpu(const struct doorbell_vq *vq, __virtio64 v)
{
	return __virtio64_to_cpu(vq->le, v);
}

/**
 * doorbell_vq_break() - mark a queue broken by bad guest input
 * @vq: the queue, its mutex held
 * @why: what was wrong, for the log
 *
 * Logs one ratelimited line, signals the error eventfd if set.  The queue is
 * not served until the VMM sets its base again (VHOST_SET_VRING_BASE).
 */
void doorbell_vq_break(struct doorbell_vq *vq, const char *why)
{
	lockdep_assert_held(&vq->mutex);
	if (vq->broken)
		return;
	vq->broken = true;
	vq->stats.breaks++;
	pr_warn_ratelimited("doorbell: %s queue %u broken: %s\n",
			    vq->vdev->dev.name, vq->index, why);
	if (vq->err)
		doorbell_signal(vq->err);
}
EXPORT_SYMBOL_GPL(doorbell_vq_break);

/* The region of the memory table that holds @gpa, or NULL. */
static const struct doorbell_mem_region *
doorbell_vq_region(const struct doorbell_vq *vq, u64 gpa)
{
	const struct doorbell_mem *mem = vq->mem;
	unsigned int i;

	for (i = 0; mem && i < mem->nregions; i++) {
		if (gpa >= mem->regions[i].gpa &&
		    gpa - mem->regions[i].gpa < mem->regions[i].size)
			return &mem->regions[i];
	}
	return NULL;
}

/*
 * Translate [gpa, gpa + len) into owner addresses, appended to @iov.
 * Return: the iovecs used, -EFAULT outside the table, -E2BIG without room.
 */
static int doorbell_vq_translate(struct doorbell_vq *vq, u64 gpa, u64 len,
				 struct iovec *iov, unsigned int room)
{
	unsigned int used = 0;
	u64 end;

	/* The last byte must be addressable; it may be the last of all. */
	if (len && check_add_overflow(gpa, len - 1, &end))
		return -EFAULT;
	while (len) {
		const struct doorbell_mem_region *r = doorbell_vq_region(vq, gpa);
		u64 off, chunk;

		if (!r)
			return -EFAULT;
		if (used >= room)
			return -E2BIG;
		off = gpa - r->gpa;
		chunk = min(len, r->size - off);
		iov[used].iov_base = u64_to_user_ptr(r->uaddr + off);
		iov[used].iov_len = chunk;
		used++;
		gpa += chunk;
		len -= chunk;
	}
	return used;
}

/* Copy from guest memory that may span regions; 0 or -EFAULT. */
static int doorbell_vq_read_guest(struct doorbell_vq *vq, void *dst, u64 gpa,
				  unsigned int len)
{
	struct iovec iov[4];
	int n, i;

	n = doorbell_vq_translate(vq, gpa, len, iov, ARRAY_SIZE(iov));
	if (n < 0)
		return -EFAULT;
	for (i = 0; i < n; i++) {
		if (copy_from_user(dst, iov[i].iov_base, iov[i].iov_len))
			return -EFAULT;
		dst += iov[i].iov_len;
	}
	return 0;
}

/**
 * doorbell_vq_ready() - can the queue be served
 * @vq: the queue, its mutex held
 *
 * Return: true if its size and ring addresses are set and the rings lie in
 * the owner's address space.
 */
bool doorbell_vq_ready(struct doorbell_vq *vq)
{
	size_t n = vq->num;

	lockdep_assert_held(&vq->mutex);
	return n && vq->addr_set &&
	       access_ok(vq->desc, n * sizeof(struct vring_desc)) &&
	       access_ok(vq->avail, struct_size(vq->avail, ring, n) + 2) &&
	       access_ok(vq->used, struct_size(vq->used, ring, n) + 2);
}
EXPORT_SYMBOL_GPL(doorbell_vq_ready);

/**
 * doorbell_vq_start() - attach a backend to a queue
 * @vq: the queue, its mutex held
 * @backend: the device's backend, not NULL
 *
 * Checks the rings and reads the used idx the guest sees, so that serving
 * resumes where the ring is.
 *
 * Return: 0, or -EFAULT if the queue's size or rings are not set or not in
 * the owner's address space.
 */
int doorbell_vq_start(struct doorbell_vq *vq, void *backend)
{
	__virtio16 idx;

	lockdep_assert_held(&vq->mutex);
	if (!doorbell_vq_ready(vq) || !vq->mem)
		return -EFAULT;
	if (get_user(idx, &vq->used->idx))
		return -EFAULT;
	vq->last_used_idx = vq16_to_cpu(vq, idx);
	vq->signalled_used_valid = false;
	vq->used_added = false;
	vq->private_data = backend;
	return 0;
}
EXPORT_SYMBOL_GPL(doorbell_vq_start);

/**
 * doorbell_vq_stop() - detach a queue's backend
 * @vq: the queue, its mutex held
 *
 * Return: the backend that was attached, or NULL.
 */
void *doorbell_vq_stop(struct doorbell_vq *vq)
{
	void *old = vq->private_data;

	lockdep_assert_held(&vq->mutex);
	vq->private_data = NULL;
	return old;
}
EXPORT_SYMBOL_GPL(doorbell_vq_stop);

/* Read the guest's avail idx; false (queue broken) when it cannot be used. */
static bool doorbell_vq_fetch_avail(struct doorbell_vq *vq)
{
	__virtio16 idx;
	u16 v;

	if (get_user(idx, &vq->avail->idx)) {
		doorbell_vq_break(vq, "avail ring not readable");
		return false;
	}
	v = vq16_to_cpu(vq, idx);
	if ((u16)(v - vq->last_avail_idx) > vq->num) {
		doorbell_vq_break(vq, "avail idx moved by more than the ring size");
		return false;
	}
	vq->avail_idx = v;
	if (v != vq->last_avail_idx) {
		/*
		 * Whichever caller read the index, the ring entries it
		 * covers are read after it: pairs with the guest's write
		 * barrier between its avail ring entries and the index.
		 */
		smp_rmb();
	}
	return true;
}

/**
 * doorbell_vq_avail_empty() - is there nothing new in the avail ring
 * @vq: the queue, its mutex held
 *
 * Return: true if the guest made nothing available (or the ring is broken).
 */
bool doorbell_vq_avail_empty(struct doorbell_vq *vq)
{
	if (vq->broken)
		return true;
	if (vq->avail_idx != vq->last_avail_idx)
		return false;
	if (!doorbell_vq_fetch_avail(vq))
		return true;
	return vq->avail_idx == vq->last_avail_idx;
}
EXPORT_SYMBOL_GPL(doorbell_vq_avail_empty);

/* The chain does not fit in the room the caller gave. */
static const char doorbell_vq_nospace[] = "chain has too many buffers";

/*
 * Append one buffer of a chain to @iov, one entry per memory region it
 * spans.  When @iov is full and @iov_size is at least DOORBELL_VQ_IOV_MAX,
 * the chain is oversized: *@over is set, the buffer is still checked, and
 * each further entry overwrites the last one of @iov, which so ends up
 * holding the chain's last entry (writable once a writable one came).
 * Return: NULL, or a reason to break the queue.
 */
static const char *doorbell_vq_add_buf(struct doorbell_vq *vq,
				       const struct vring_desc *d,
				       struct iovec *iov, unsigned int iov_size,
				       unsigned int *out, unsigned int *in,
				       bool *over)
{
	u16 flags = vq16_to_cpu(vq, d->flags);
	u64 addr = vq64_to_cpu(vq, d->addr);
	u64 len = vq32_to_cpu(vq, d->len);
	bool write = flags & VRING_DESC_F_WRITE;
	const struct doorbell_mem_region *r;
	unsigned int slot;
	u64 end, off, chunk;

	if (!write && *in)
		return "readable descriptor after a writable one";
	/* The last byte must be addressable; it may be the last of all. */
	if (len && check_add_overflow(addr, len - 1, &end))
		return "buffer outside guest memory";
	while (len) {
		r = doorbell_vq_region(vq, addr);
		if (!r)
			return "buffer outside guest memory";
		slot = *out + *in;
		if (slot >= iov_size) {
			if (iov_size < DOORBELL_VQ_IOV_MAX)
				return doorbell_vq_nospace;
			*over = true;
			slot = iov_size - 1;
			if (write && !*in) {
				(*out)--;
				(*in)++;
			}
		} else if (write) {
			(*in)++;
		} else {
			(*out)++;
		}
		off = addr - r->gpa;
		chunk = min(len, r->size - off);
		iov[slot].iov_base = u64_to_user_ptr(r->uaddr + off);
		iov[slot].iov_len = chunk;
		addr += chunk;
		len -= chunk;
	}
	return NULL;
}

/* Walk an indirect table; NULL or a reason to break the queue. */
static const char *doorbell_vq_indirect(struct doorbell_vq *vq,
					const struct vring_desc *ind,
					struct iovec *iov,
					unsigned int iov_size,
					unsigned int *out, unsigned int *in,
					bool *over)
{
	u64 base = vq64_to_cpu(vq, ind->addr);
	u32 len = vq32_to_cpu(vq, ind->len);
	unsigned int count, i = 0, seen = 0;
	struct vring_desc d;
	const char *why;
	u16 flags;

	if (!doorbell_vq_has_feature(vq, VIRTIO_RING_F_INDIRECT_DESC))
		return "indirect descriptor without INDIRECT_DESC";
	/*
	 * Its WRITE flag is ignored, as virtio 1.x (2.7.5.3.2) tells the
	 * device; the table's own descriptors say which buffers are writable.
	 */
	if (vq16_to_cpu(vq, ind->flags) & VRING_DESC_F_NEXT)
		return "indirect descriptor with NEXT";
	if (!len || len % sizeof(d))
		return "indirect table length not a multiple of 16";
	count = len / sizeof(d);
	if (count > DOORBELL_VQ_IOV_MAX)
		return "indirect table too long";

	for (;;) {
		if (seen++ >= count)
			return "loop in indirect table";
		if (doorbell_vq_read_guest(vq, &d, base + (u64)i * sizeof(d),
					   sizeof(d)))
			return "indirect table outside guest memory";
		flags = vq16_to_cpu(vq, d.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			return "nested indirect table";
		why = doorbell_vq_add_buf(vq, &d, iov, iov_size, out, in, over);
		if (why)
			return why;
		if (!(flags & VRING_DESC_F_NEXT))
			return NULL;
		i = vq16_to_cpu(vq, d.next);
		if (i >= count)
			return "indirect next index out of the table";
	}
}

/**
 * doorbell_vq_get_desc() - take the next descriptor chain from the avail ring
 * @vq: the queue, its mutex held, ready (doorbell_vq_ready())
 * @iov: filled with the chain's buffers as owner addresses: first the
 *	device-readable ones, then the device-writable ones
 * @iov_size: entries in @iov
 * @out: set to the number of readable buffers
 * @in: set to the number of writable buffers
 *
 * A buffer that spans several regions of the memory table takes one entry
 * of @iov per region, so a valid chain may need more entries than its
 * descriptors.  If it needs more than @iov_size:
 *  - with @iov_size less than DOORBELL_VQ_IOV_MAX (room left after other
 *    chains, say), it is not taken and the return is -ENOSPC;
 *  - else it is checked to its end and taken all the same, and the return
 *    is its head with DOORBELL_VQ_OVERSIZED set.  The caller completes it
 *    without using its data (an error, or a drop with used length 0).
 *    @iov then holds the chain's first @iov_size - 1 entries and, last, the
 *    chain's last entry, *@out and *@in counting them: the header at the
 *    start and the last writable byte at the end are where they would be.
 *
 * Return: the chain's head index (< @vq->num), with DOORBELL_VQ_OVERSIZED
 * set if it is oversized (see above); @vq->num if the avail ring has nothing
 * new; -ENOSPC (see above); -EIO if the queue is broken (now or before).
 */
int doorbell_vq_get_desc(struct doorbell_vq *vq, struct iovec *iov,
			 unsigned int iov_size, unsigned int *out,
			 unsigned int *in)
{
	unsigned int head, i, seen = 0;
	const char *why = NULL;
	struct vring_desc d;
	bool over = false;
	__virtio16 h;
	u16 flags;

	lockdep_assert_held(&vq->mutex);
	*out = 0;
	*in = 0;
	if (vq->broken)
		return -EIO;
	if (vq->avail_idx == vq->last_avail_idx) {
		if (!doorbell_vq_fetch_avail(vq))
			return -EIO;
		if (vq->avail_idx == vq->last_avail_idx)
			return vq->num;
	}

	if (get_user(h, &vq->avail->ring[vq->last_avail_idx & (vq->num - 1)])) {
		doorbell_vq_break(vq, "avail ring not readable");
		return -EIO;
	}
	head = vq16_to_cpu(vq, h);
	if (head >= vq->num) {
		doorbell_vq_break(vq, "avail ring entry out of the table");
		return -EIO;
	}

	i = head;
	for (;;) {
		if (seen++ >= vq->num) {
			why = "loop in descriptor chain";
			break;
		}
		if (copy_from_user(&d, vq->desc + i, sizeof(d))) {
			why = "descriptor table not readable";
			break;
		}
		flags = vq16_to_cpu(vq, d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			why = doorbell_vq_indirect(vq, &d, iov, iov_size, out, in,
						   &over);
			break;
		}
		why = doorbell_vq_add_buf(vq, &d, iov, iov_size, out, in, &over);
		if (why || !(flags & VRING_DESC_F_NEXT))
			break;
		i = vq16_to_cpu(vq, d.next);
		if (i >= vq->num) {
			why = "next index out of the table";
			break;
		}
	}
	if (why == doorbell_vq_nospace)
		return -ENOSPC;
	if (why) {
		doorbell_vq_break(vq, why);
		return -EIO;
	}
	vq->last_avail_idx++;
	vq->stats.requests++;
	return over ? head | DOORBELL_VQ_OVERSIZED : head;
}
EXPORT_SYMBOL_GPL(doorbell_vq_get_desc);

/**
 * doorbell_vq_discard() - give back chains taken and not used
 * @vq: the queue, its mutex held
 * @n: the number of chains, most recent first, to take again later
 */
void doorbell_vq_discard(struct doorbell_vq *vq, unsigned int n)
{
	lockdep_assert_held(&vq->mutex);
	vq->last_avail_idx -= n;
	vq->stats.requests -= n;
}
EXPORT_SYMBOL_GPL(doorbell_vq_discard);

/**
 * doorbell_vq_add_used_n() - complete chains in the used ring
 * @vq: the queue, its mutex held
 * @elems: the completions, with id and len in CPU order
 * @count: entries in @elems
 *
 * Fills the used entries, then publishes them with one used idx update.
 * Does not signal: see doorbell_vq_signal().
 *
 * Return: 0, or -EIO if the used ring is not writable (the queue breaks).
 */
int doorbell_vq_add_used_n(struct doorbell_vq *vq,
			   const struct vring_used_elem *elems,
			   unsigned int count)
{
	struct vring_used_elem __user *slot;
	struct vring_used_elem e;
	unsigned int i;

	lockdep_assert_held(&vq->mutex);
	for (i = 0; i < count; i++) {
		slot = &vq->used->ring[(u16)(vq->last_used_idx + i) & (vq->num - 1)];
		e.id = cpu_to_vq32(vq, (__force u32)elems[i].id);
		e.len = cpu_to_vq32(vq, (__force u32)elems[i].len);
		if (copy_to_user(slot, &e, sizeof(e)))
			goto fault;
	}
	/* The entries are visible before the index that publishes them. */
	smp_wmb();
	if (put_user(cpu_to_vq16(vq, vq->last_used_idx + count), &vq->used->idx))
		goto fault;
	vq->last_used_idx += count;
	if (count)
		vq->used_added = true;
	/* A wrap past the last signalled index makes it useless. */
	if (unlikely((u16)(vq->last_used_idx - vq->signalled_used) < count))
		vq->signalled_used_valid = false;
	return 0;
fault:
	doorbell_vq_break(vq, "used ring not writable");
	return -EIO;
}
EXPORT_SYMBOL_GPL(doorbell_vq_add_used_n);

/**
 * doorbell_vq_add_used() - complete one chain in the used ring
 * @vq: the queue, its mutex held
 * @head: the chain's head, as doorbell_vq_get_desc() returned it
 * @len: bytes the device wrote into the chain's writable buffers
 *
 * Return: 0, or -EIO (the queue breaks).
 */
int doorbell_vq_add_used(struct doorbell_vq *vq, unsigned int head, u32 len)
{
	struct vring_used_elem e = {
		.id = (__force __virtio32)head,
		.len = (__force __virtio32)len,
	};

	return doorbell_vq_add_used_n(vq, &e, 1);
}
EXPORT_SYMBOL_GPL(doorbell_vq_add_used);

/* Does the guest want an interrupt for what was added since the last one? */
static bool doorbell_vq_need_signal(struct doorbell_vq *vq)
{
	__virtio16 v;
	u16 old, new;
	bool valid;

	/* Our used idx store is ordered before the guest's flag or event. */
	smp_mb();
	if (!doorbell_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX)) {
		if (get_user(v, &vq->avail->flags))
			return true;
		return !(vq16_to_cpu(vq, v) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new = vq->last_used_idx;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (unlikely(!valid))
		return true;
	/* used_event lives after the avail ring's entries. */
	if (get_user(v, &vq->avail->ring[vq->num]))
		return true;
	return vring_need_event(vq16_to_cpu(vq, v), new, old);
}

/**
 * doorbell_vq_signal() - signal the call eventfd if the guest wants it
 * @vq: the queue, its mutex held
 *
 * Signals only for used entries added since the last call, and honours
 * VIRTIO_RING_F_EVENT_IDX (used_event) or VRING_AVAIL_F_NO_INTERRUPT.
 * Without anything new there is nothing for the guest to see; a signal
 * then would only cost an interrupt, and with the call eventfd also bound
 * as a kick it would wake this queue again for nothing, without end.
 */
void doorbell_vq_signal(struct doorbell_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	if (!vq->used_added)
		return;
	vq->used_added = false;
	if (vq->call && doorbell_vq_need_signal(vq)) {
		vq->stats.signals++;
		doorbell_signal(vq->call);
	}
}
EXPORT_SYMBOL_GPL(doorbell_vq_signal);

static void doorbell_vq_set_used_flags(struct doorbell_vq *vq, u16 flags)
{
	if (vq->used_flags == flags)
		return;
	if (put_user(cpu_to_vq16(vq, flags), &vq->used->flags)) {
		doorbell_vq_break(vq, "used ring not writable");
		return;
	}
	vq->used_flags = flags;
}

/**
 * doorbell_vq_disable_notify() - ask the guest not to kick
 * @vq: the queue, its mutex held
 *
 * A hint: with EVENT_IDX the guest kicks only when avail passes avail_event,
 * which is left where it is.
 */
void doorbell_vq_disable_notify(struct doorbell_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	if (!doorbell_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX))
		doorbell_vq_set_used_flags(vq, VRING_USED_F_NO_NOTIFY);
}
EXPORT_SYMBOL_GPL(doorbell_vq_disable_notify);

/**
 * doorbell_vq_enable_notify() - ask the guest to kick for new requests
 * @vq: the queue, its mutex held
 *
 * Return: true if the guest made requests available since the queue last
 * read the avail idx: the caller serves them (the guest may not kick for
 * them).  Requests seen before do not count: a handler that left them there
 * (waiting for more, say) is not sent round again.
 */
bool doorbell_vq_enable_notify(struct doorbell_vq *vq)
{
	u16 seen = vq->avail_idx;

	lockdep_assert_held(&vq->mutex);
	if (vq->broken)
		return false;
	if (doorbell_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX)) {
		/* avail_event lives after the used ring's entries. */
		if (put_user(cpu_to_vq16(vq, vq->avail_idx),
			     (__virtio16 __user *)&vq->used->ring[vq->num])) {
			doorbell_vq_break(vq, "used ring not writable");
			return false;
		}
	} else {
		doorbell_vq_set_used_flags(vq, 0);
	}
	/* The guest sees our request before we look at its index again. */
	smp_mb();
	if (!doorbell_vq_fetch_avail(vq))
		return false;
	return vq->avail_idx != seen;
}
EXPORT_SYMBOL_GPL(doorbell_vq_enable_notify);

/* ------------------------------------------------------------- ioctls */

static void doorbell_vq_reset(struct doorbell_vq *vq)
{
	vq->num = 0;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->addr_set = false;
	vq->broken = false;
	vq->last_avail_idx = 0;
	vq->avail_idx = 0;
	vq->last_used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->used_added = false;
	vq->used_flags = 0;
	vq->features = 0;
	vq->le = virtio_legacy_is_little_endian();
	vq->mem = NULL;
}

/**
 * doorbell_vdev_init() - set up a vhost-style device at open
 * @vdev: the device, zeroed
 * @vqs: its queues, each zeroed
 * @nvqs: entries in @vqs
 * @features: device features offered; the core adds VERSION_1,
 *	INDIRECT_DESC and EVENT_IDX
 * @prefix: name prefix for the worker and debugfs directory (kept)
 * @stop: detaches every backend, for RESET_OWNER
 * @handler: every queue's kick handler, run in the device's worker
 *
 * The worker is created by VHOST_SET_OWNER, in the owner's context.
 */
void doorbell_vdev_init(struct doorbell_vdev *vdev, struct doorbell_vq **vqs,
			unsigned int nvqs, u64 features, const char *prefix,
			doorbell_vdev_stop_fn_t stop, doorbell_work_fn_t handler)
{
	unsigned int i;

	mutex_init(&vdev->mutex);
	vdev->vqs = vqs;
	vdev->nvqs = nvqs;
	vdev->features = features | DOORBELL_VQ_FEATURES;
	vdev->prefix = prefix;
	vdev->stop = stop;
	for (i = 0; i < nvqs; i++) {
		struct doorbell_vq *vq = vqs[i];

		mutex_init(&vq->mutex);
		vq->vdev = vdev;
		vq->index = i;
		doorbell_poll_init(&vq->poll, &vdev->dev, NULL, handler);
		doorbell_vq_reset(vq);
	}
}
EXPORT_SYMBOL_GPL(doorbell_vdev_init);

/* Drop the queues' own workers (their pollers are stopped). */
static void doorbell_vdev_put_workers(struct doorbell_vdev *vdev)
{
	unsigned int i;

	for (i = 0; i < vdev->nvqs; i++) {
		struct doorbell_vq *vq = vdev->vqs[i];

		if (!vq->wdev)
			continue;
		doorbell_dev_cleanup(vq->wdev);
		kfree(vq->wdev);
		vq->wdev = NULL;
		vq->poll.dev = &vdev->dev;
	}
}

/* Tear the queues down and drop the owner; vdev mutex held, backends gone. */
static void doorbell_vdev_reset(struct doorbell_vdev *vdev)
{
	unsigned int i;

	for (i = 0; i < vdev->nvqs; i++) {
		struct doorbell_vq *vq = vdev->vqs[i];

		/* Flushes the worker: no handler runs after this. */
		doorbell_poll_stop(&vq->poll);
		mutex_lock(&vq->mutex);
		if (vq->call)
			eventfd_ctx_put(vq->call);
		if (vq->err)
			eventfd_ctx_put(vq->err);
		vq->call = NULL;
		vq->err = NULL;
		vq->private_data = NULL;
		doorbell_vq_reset(vq);
		mutex_unlock(&vq->mutex);
	}
	kvfree(vdev->mem);
	vdev->mem = NULL;
	vdev->acked = 0;
	doorbell_vdev_put_workers(vdev);
	if (vdev->owned)
		doorbell_dev_cleanup(&vdev->dev);
	vdev->owned = false;
}

/**
 * doorbell_vdev_cleanup() - tear a device down at release
 * @vdev: the device; its backends detached, nothing queues work any more
 *
 * Process context; sleeps.
 */
void doorbell_vdev_cleanup(struct doorbell_vdev *vdev)
{
	mutex_lock(&vdev->mutex);
	doorbell_vdev_reset(vdev);
	mutex_unlock(&vdev->mutex);
}
EXPORT_SYMBOL_GPL(doorbell_vdev_cleanup);

/**
 * doorbell_vdev_check_owner() - is the caller the device's owner
 * @vdev: the device, its mutex held
 *
 * Return: 0 if the caller runs in the owner's mm, -EPERM if not or if the
 * device has no owner yet.
 */
int doorbell_vdev_check_owner(struct doorbell_vdev *vdev)
{
	lockdep_assert_held(&vdev->mutex);
	return vdev->owned && vdev->dev.mm == current->mm ? 0 : -EPERM;
}
EXPORT_SYMBOL_GPL(doorbell_vdev_check_owner);

static int doorbell_vdev_set_owner(struct doorbell_vdev *vdev)
{
	unsigned int i;
	int ret;

	if (vdev->owned)
		return -EBUSY;
	ret = doorbell_dev_init(&vdev->dev, vdev->prefix);
	if (ret)
		return ret;
	for (i = 0; vdev->queue_workers && i < vdev->nvqs; i++) {
		struct doorbell_vq *vq = vdev->vqs[i];

		vq->wdev = kzalloc(sizeof(*vq->wdev), GFP_KERNEL_ACCOUNT);
		ret = vq->wdev ? doorbell_dev_init(vq->wdev, vdev->prefix) : -ENOMEM;
		if (ret) {
			kfree(vq->wdev);
			vq->wdev = NULL;
			doorbell_vdev_put_workers(vdev);
			doorbell_dev_cleanup(&vdev->dev);
			return ret;
		}
		vq->poll.dev = vq->wdev;
	}
	vdev->owned = true;
	return 0;
}

static int doorbell_vdev_set_features(struct doorbell_vdev *vdev, u64 features)
{
	unsigned int i;

	if (features & ~vdev->features)
		return -EOPNOTSUPP;
	vdev->acked = features;
	for (i = 0; i < vdev->nvqs; i++) {
		struct doorbell_vq *vq = vdev->vqs[i];

		mutex_lock(&vq->mutex);
		vq->features = features;
		vq->le = (features & BIT_ULL(VIRTIO_F_VERSION_1)) ||
			 virtio_legacy_is_little_endian();
		mutex_unlock(&vq->mutex);
	}
	return 0;
}

/* Check a region table from userspace; 0 or the errno for it. */
static int doorbell_mem_check(const struct doorbell_mem *mem)
{
	u32 i, j;

	for (i = 0; i < mem->nregions; i++) {
		const struct doorbell_mem_region *r = &mem->regions[i];
		u64 end;

		if (!r->size)
			return -EINVAL;
		if (check_add_overflow(r->gpa, r->size - 1, &end))
			return -EINVAL;
		if ((unsigned long)r->uaddr != r->uaddr ||
		    (unsigned long)r->size != r->size ||
		    check_add_overflow(r->uaddr, r->size - 1, &end) ||
		    !access_ok(u64_to_user_ptr(r->uaddr), r->size))
			return -EFAULT;
		for (j = 0; j < i; j++) {
			const struct doorbell_mem_region *o = &mem->regions[j];

			if (r->gpa <= o->gpa + (o->size - 1) &&
			    o->gpa <= r->gpa + (r->size - 1))
				return -EINVAL;
		}
	}
	return 0;
}

static int doorbell_vdev_set_mem(struct doorbell_vdev *vdev,
				 struct vhost_memory __user *argp)
{
	struct vhost_memory hdr;
	struct vhost_memory_region r;
	struct doorbell_mem *mem;
	unsigned int i;
	int ret;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.padding)
		return -EOPNOTSUPP;
	if (hdr.nregions > DOORBELL_VQ_MAX_REGIONS)
		return -E2BIG;
	mem = kvzalloc(struct_size(mem, regions, hdr.nregions), GFP_KERNEL_ACCOUNT);
	if (!mem)
		return -ENOMEM;
	mem->nregions = hdr.nregions;
	for (i = 0; i < hdr.nregions; i++) {
		if (copy_from_user(&r, &argp->regions[i], sizeof(r))) {
			ret = -EFAULT;
			goto err;
		}
		if (r.flags_padding) {
			ret = -EOPNOTSUPP;
			goto err;
		}
		mem->regions[i].gpa = r.guest_phys_addr;
		mem->regions[i].size = r.memory_size;
		mem->regions[i].uaddr = r.userspace_addr;
	}
	ret = doorbell_mem_check(mem);
	if (ret)
		goto err;

	/* Each queue switches under its mutex: no handler sees a freed table. */
	for (i = 0; i < vdev->nvqs; i++) {
		mutex_lock(&vdev->vqs[i]->mutex);
		vdev->vqs[i]->mem = mem;
		mutex_unlock(&vdev->vqs[i]->mutex);
	}
	kvfree(vdev->mem);
	vdev->mem = mem;
	return 0;
err:
	kvfree(mem);
	return ret;
}

/* Replace an eventfd context from a descriptor (-1: none). */
static int doorbell_vq_set_ctx(struct eventfd_ctx **slot, int fd)
{
	struct eventfd_ctx *ctx = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx) == -EBADF ? -EBADF : -EINVAL;
	}
	if (*slot)
		eventfd_ctx_put(*slot);
	*slot = ctx;
	return 0;
}

static int doorbell_vq_set_kick(struct doorbell_vq *vq, int fd)
{
	struct file *file;
	int ret;

	if (fd == VHOST_FILE_UNBIND) {
		doorbell_poll_stop(&vq->poll);
		return 0;
	}
	file = doorbell_eventfd_fget(fd);
	if (IS_ERR(file))
		return PTR_ERR(file);
	if (doorbell_poll_match(&vq->poll, file)) {
		fput(file);
		return 0;
	}
	doorbell_poll_stop(&vq->poll);
	ret = doorbell_poll_start(&vq->poll, file);
	fput(file);
	/* Requests made before the kick was bound are served now. */
	if (!ret)
		doorbell_poll_queue(&vq->poll);
	return ret;
}

static int doorbell_vq_set_addr(struct doorbell_vq *vq,
				const struct vhost_vring_addr *a)
{
	if (a->flags & ~BIT(VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;
	if (a->flags & BIT(VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;	/* no dirty logging (no VHOST_F_LOG_ALL) */
	if ((unsigned long)a->desc_user_addr != a->desc_user_addr ||
	    (unsigned long)a->avail_user_addr != a->avail_user_addr ||
	    (unsigned long)a->used_user_addr != a->used_user_addr)
		return -EFAULT;
	if (a->desc_user_addr & (VRING_DESC_ALIGN_SIZE - 1) ||
	    a->avail_user_addr & (VRING_AVAIL_ALIGN_SIZE - 1) ||
	    a->used_user_addr & (VRING_USED_ALIGN_SIZE - 1))
		return -EINVAL;
	vq->desc = u64_to_user_ptr(a->desc_user_addr);
	vq->avail = u64_to_user_ptr(a->avail_user_addr);
	vq->used = u64_to_user_ptr(a->used_user_addr);
	vq->addr_set = true;
	return 0;
}

static long doorbell_vring_ioctl(struct doorbell_vdev *vdev, unsigned int ioctl,
				 void __user *argp)
{
	struct vhost_vring_state s;
	struct vhost_vring_file f;
	struct vhost_vring_addr a;
	struct doorbell_vq *vq;
	u32 idx;
	long ret = 0;

	if (get_user(idx, (u32 __user *)argp))
		return -EFAULT;
	if (idx >= vdev->nvqs)
		return -ENOBUFS;
	/* No speculative load past the array with the caller's index. */
	vq = vdev->vqs[array_index_nospec(idx, vdev->nvqs)];

	switch (ioctl) {
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
		if (copy_from_user(&s, argp, sizeof(s)))
			return -EFAULT;
		break;
	case VHOST_SET_VRING_ADDR:
		if (copy_from_user(&a, argp, sizeof(a)))
			return -EFAULT;
		break;
	default:
		if (copy_from_user(&f, argp, sizeof(f)))
			return -EFAULT;
		break;
	}

	/* The kick poller is stopped outside the queue mutex (it flushes). */
	if (ioctl == VHOST_SET_VRING_KICK)
		return doorbell_vq_set_kick(vq, f.fd);

	mutex_lock(&vq->mutex);
	switch (ioctl) {
	case VHOST_SET_VRING_NUM:
		if (vq->private_data)
			ret = -EBUSY;
		else if (!s.num || s.num > DOORBELL_VQ_MAX_NUM ||
			 (s.num & (s.num - 1)))
			ret = -EINVAL;
		else
			vq->num = s.num;
		break;
	case VHOST_SET_VRING_BASE:
		if (vq->private_data) {
			ret = -EBUSY;
		} else if (s.num > 0xffff) {
			ret = -EINVAL;
		} else {
			vq->last_avail_idx = s.num;
			vq->avail_idx = s.num;
			vq->last_used_idx = s.num;
			vq->signalled_used_valid = false;
			vq->broken = false;
		}
		break;
	case VHOST_GET_VRING_BASE:
		s.num = vq->last_avail_idx;
		if (copy_to_user(argp, &s, sizeof(s)))
			ret = -EFAULT;
		break;
	case VHOST_SET_VRING_ADDR:
		if (vq->private_data)
			ret = -EBUSY;
		else
			ret = doorbell_vq_set_addr(vq, &a);
		break;
	case VHOST_SET_VRING_CALL:
		ret = doorbell_vq_set_ctx(&vq->call, f.fd);
		break;
	case VHOST_SET_VRING_ERR:
		ret = doorbell_vq_set_ctx(&vq->err, f.fd);
		break;
	default:
		ret = -ENOIOCTLCMD;
	}
	mutex_unlock(&vq->mutex);
	return ret;
}

/**
 * doorbell_vdev_ioctl() - the generic vhost ioctls
 * @vdev: the device
 * @ioctl: the command
 * @argp: its argument
 *
 * Process context.  Takes the vdev mutex.  Every call but SET_OWNER and the
 * feature queries must come from the owner.
 *
 * Return: 0 or a positive value as the ioctl defines, -ENOIOCTLCMD for a
 * command that is not a generic one, else a negative errno: -EPERM (not the
 * owner), -EBUSY (owner set twice, or the queue has a backend), -ENOBUFS
 * (queue index), -EINVAL, -EOPNOTSUPP (a feature or flag not offered),
 * -E2BIG (too many regions), -EFAULT, -EBADF, -ENOMEM.
 */
long doorbell_vdev_ioctl(struct doorbell_vdev *vdev, unsigned int ioctl,
			 void __user *argp)
{
	u64 __user *featurep = argp;
	u64 features;
	long ret;

	mutex_lock(&vdev->mutex);
	switch (ioctl) {
	case VHOST_GET_FEATURES:
		ret = put_user(vdev->features, featurep);
		goto out;
	case VHOST_GET_BACKEND_FEATURES:
		/* No IOTLB: the VMM keeps the default message format. */
		ret = put_user(0ULL, featurep);
		goto out;
	case VHOST_SET_OWNER:
		ret = doorbell_vdev_set_owner(vdev);
		goto out;
	}

	ret = doorbell_vdev_check_owner(vdev);
	if (ret)
		goto out;

	switch (ioctl) {
	case VHOST_RESET_OWNER:
		if (vdev->stop)
			vdev->stop(vdev);
		doorbell_vdev_reset(vdev);
		break;
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, featurep, sizeof(features)))
			ret = -EFAULT;
		else
			ret = doorbell_vdev_set_features(vdev, features);
		break;
	case VHOST_SET_BACKEND_FEATURES:
		if (copy_from_user(&features, featurep, sizeof(features)))
			ret = -EFAULT;
		else if (features)
			ret = -EOPNOTSUPP;
		break;
	case VHOST_SET_MEM_TABLE:
		ret = doorbell_vdev_set_mem(vdev, argp);
		break;
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
	case VHOST_SET_VRING_ADDR:
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		ret = doorbell_vring_ioctl(vdev, ioctl, argp);
		break;
	default:
		ret = -ENOIOCTLCMD;
	}
out:
	mutex_unlock(&vdev->mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(doorbell_vdev_ioctl);
