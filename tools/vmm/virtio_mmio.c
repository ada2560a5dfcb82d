// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: the virtio-mmio transport (virtio 1.x, "modern", version 2
 * registers) and the two ways its queues are served.
 *
 * Every queue has a kick eventfd that KVM signals when the guest writes the
 * queue's index to QueueNotify (KVM_IOEVENTFD with datamatch: no exit to
 * the VMM), and a call eventfd that KVM turns into the device's interrupt
 * (KVM_IRQFD).  A kernel backend gets both through the vhost UAPI; a
 * userspace backend waits on the kick in a VMM thread per queue and writes
 * the call itself.  Either way the VMM sees no per-request exit.
 *
 * InterruptStatus always reads "used buffer": the VMM does not see the
 * backend's interrupts (they go from the call eventfd straight to KVM), and
 * Linux's virtio_mmio only looks at its queues when that bit is set; a look
 * at a queue with nothing new costs the guest a read of the used index.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm.h"

static const int vmm_irqs[VMM_MAX_DEVS] = { 5, 6, 7, 9, 10, 11, 12, 14 };

struct virtio_dev *virtio_add(struct vmm *v, const struct virtio_ops *ops,
			      uint32_t nqueues, void *priv)
{
	struct virtio_dev *d = &v->devs[v->ndevs];
	uint32_t i;

	if (v->ndevs == VMM_MAX_DEVS)
		vmm_die("at most %d devices", VMM_MAX_DEVS);
	memset(d, 0, sizeof(*d));
	d->vmm = v;
	d->ops = ops;
	d->base = VMM_MMIO_BASE + (uint64_t)v->ndevs * VMM_MMIO_SIZE;
	d->irq = vmm_irqs[v->ndevs];
	d->nqueues = nqueues;
	d->priv = priv;
	d->vhost = -1;
	pthread_mutex_init(&d->lock, NULL);
	for (i = 0; i < nqueues; i++) {
		struct vmm_queue *q = &d->q[i];
		struct kvm_ioeventfd io = {
			.datamatch = i,
			.addr = d->base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		struct kvm_irqfd irqfd = { .gsi = d->irq };

		q->dev = d;
		q->index = i;
		q->kick = eventfd(0, EFD_CLOEXEC);
		q->call = eventfd(0, EFD_CLOEXEC);
		if (q->kick < 0 || q->call < 0)
			vmm_die("eventfd: %s", strerror(errno));
		io.fd = q->kick;
		if (ioctl(v->vm, KVM_IOEVENTFD, &io) < 0)
			vmm_die("KVM_IOEVENTFD: %s", strerror(errno));
		irqfd.fd = q->call;
		if (ioctl(v->vm, KVM_IRQFD, &irqfd) < 0)
			vmm_die("KVM_IRQFD: %s", strerror(errno));
	}
	v->ndevs++;
	return d;
}

static void device_stop(struct virtio_dev *d)
{
	uint32_t i;

	if (d->started)
		d->ops->stop(d);
	d->started = false;
	for (i = 0; i < d->nqueues; i++) {
		struct vmm_queue *q = &d->q[i];

		q->num = 0;
		q->ready = false;
		q->desc = q->avail = q->used = 0;
		q->last_avail = 0;
	}
}

static void device_reset(struct virtio_dev *d)
{
	device_stop(d);
	d->status = 0;
	d->driver_features = 0;
	d->dfsel = d->drvsel = d->qsel = 0;
}

void virtio_stop_all(struct vmm *v)
{
	int i;

	for (i = 0; i < v->ndevs; i++) {
		pthread_mutex_lock(&v->devs[i].lock);
		device_stop(&v->devs[i]);
		pthread_mutex_unlock(&v->devs[i].lock);
	}
}

static void status_write(struct virtio_dev *d, uint32_t status)
{
	uint64_t offered = d->ops->features(d);
	int err;

	if (!status) {
		device_reset(d);
		return;
	}
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(d->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((d->driver_features & ~offered) ||
	     !(d->driver_features & (1ULL << VIRTIO_F_VERSION_1)))) {
		vmm_warn("%s: the driver accepted features %#llx, offered %#llx",
			 d->ops->name, (unsigned long long)d->driver_features,
			 (unsigned long long)offered);
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !d->started) {
		err = d->ops->start(d);
		if (err) {
			vmm_warn("%s: cannot start: %s", d->ops->name,
				 strerror(-err));
			status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		} else {
			d->started = true;
		}
	}
	d->status = status;
}

static uint32_t reg_read(struct virtio_dev *d, uint32_t off)
{
	struct vmm_queue *q = d->qsel < d->nqueues ? &d->q[d->qsel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return 0x74726976;	/* "virt" */
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return 0x4c425244;	/* "DRBL" */
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (d->dfsel > 1)
			return 0;
		return d->ops->features(d) >> (32 * d->dfsel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? VMM_QUEUE_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->started ? VIRTIO_MMIO_INT_VRING : 0;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_gen;
	}
	return 0;
}

static void set_lo(uint64_t *x, uint32_t v)
{
	*x = (*x & ~0xffffffffULL) | v;
}

static void set_hi(uint64_t *x, uint32_t v)
{
	*x = (*x & 0xffffffffULL) | ((uint64_t)v << 32);
}

static void reg_write(struct virtio_dev *d, uint32_t off, uint32_t val)
{
	struct vmm_queue *q = d->qsel < d->nqueues ? &d->q[d->qsel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dfsel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (d->status & VIRTIO_CONFIG_S_FEATURES_OK)
			return;
		if (d->drvsel == 0)
			set_lo(&d->driver_features, val);
		else if (d->drvsel == 1)
			set_hi(&d->driver_features, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->drvsel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->qsel = val;
		return;
	case VIRTIO_MMIO_STATUS:
		status_write(d, val);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
	case VIRTIO_MMIO_INTERRUPT_ACK:
		/* a notify KVM did not match: no such queue */
		return;
	}
	/* Queue registers: only for a queue that exists and is not live. */
	if (!q || (q->ready && off != VIRTIO_MMIO_QUEUE_READY))
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!val) {
			q->ready = false;
			break;
		}
		if (!q->num || q->num > VMM_QUEUE_SIZE || (q->num & (q->num - 1)) ||
		    !gpa_range(d->vmm, q->desc, 16ULL * q->num) ||
		    !gpa_range(d->vmm, q->avail, 6 + 2ULL * q->num) ||
		    !gpa_range(d->vmm, q->used, 6 + 8ULL * q->num)) {
			vmm_warn("%s: queue %u: size %u or rings outside memory",
				 d->ops->name, d->qsel, q->num);
			d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
			break;
		}
		q->ready = true;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_lo(&q->desc, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_hi(&q->desc, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_lo(&q->avail, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_hi(&q->avail, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_lo(&q->used, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_hi(&q->used, val);
		break;
	}
}

bool virtio_mmio(struct vmm *v, uint64_t addr, bool write, uint8_t *data,
		 uint32_t len)
{
	struct virtio_dev *d;
	uint32_t off, val = 0;
	int i;

	for (i = 0; i < v->ndevs; i++) {
		d = &v->devs[i];
		if (addr < d->base || addr - d->base >= VMM_MMIO_SIZE)
			continue;
		off = addr - d->base;
		pthread_mutex_lock(&d->lock);
		if (off >= VIRTIO_MMIO_CONFIG) {
			/* config space: read-only here */
			if (write)
				;
			else if (len > 8 || off - VIRTIO_MMIO_CONFIG + len > d->config_len)
				memset(data, 0, len);
			else
				memcpy(data, (const uint8_t *)d->config +
				       off - VIRTIO_MMIO_CONFIG, len);
		} else if (len != 4 || (off & 3)) {
			if (!write)
				memset(data, 0, len);
		} else if (write) {
			memcpy(&val, data, 4);
			reg_write(d, off, val);
		} else {
			val = reg_read(d, off);
			memcpy(data, &val, 4);
		}
		pthread_mutex_unlock(&d->lock);
		return true;
	}
	return false;
}

/*
 * A kernel backend's device: open it and take ownership (the VMM's memory
 * becomes the backend's), and read the features it serves.  Exits with a
 * message naming the module when the device is missing.
 */
void vhost_open(struct virtio_dev *d, const char *dev, const char *module,
		const char *what, uint64_t *features)
{
	d->vhost = open(dev, O_RDWR | O_CLOEXEC);
	if (d->vhost < 0)
		vmm_die("%s: open %s: %s (is %s loaded?)", what, dev,
			strerror(errno), module);
	if (ioctl(d->vhost, VHOST_SET_OWNER) < 0 ||
	    ioctl(d->vhost, VHOST_GET_FEATURES, features) < 0)
		vmm_die("%s: %s: %s", what, dev, strerror(errno));
}

/*
 * A kernel backend: the memory table, the features and each ready queue's
 * rings and eventfds through the vhost UAPI.  The device's own ioctl (its
 * backend) follows in the caller.
 */
int vhost_setup(struct virtio_dev *d, uint64_t features)
{
	struct vmm *v = d->vmm;
	struct {
		struct vhost_memory mem;
		struct vhost_memory_region region;
	} table = {
		.mem.nregions = 1,
		.region = {
			.guest_phys_addr = 0,
			.memory_size = v->mem_size,
			.userspace_addr = (uintptr_t)v->mem,
		},
	};
	uint32_t i;

	if (ioctl(d->vhost, VHOST_SET_MEM_TABLE, &table) < 0 ||
	    ioctl(d->vhost, VHOST_SET_FEATURES, &features) < 0)
		return -errno;
	for (i = 0; i < d->nqueues; i++) {
		struct vmm_queue *q = &d->q[i];
		struct vhost_vring_state num = { .index = i, .num = q->num };
		struct vhost_vring_state base = { .index = i, .num = 0 };
		struct vhost_vring_addr addr = {
			.index = i,
			.desc_user_addr = (uintptr_t)(v->mem + q->desc),
			.avail_user_addr = (uintptr_t)(v->mem + q->avail),
			.used_user_addr = (uintptr_t)(v->mem + q->used),
		};
		struct vhost_vring_file kick = { .index = i, .fd = q->kick };
		struct vhost_vring_file call = { .index = i, .fd = q->call };

		if (!q->ready)
			continue;
		if (ioctl(d->vhost, VHOST_SET_VRING_NUM, &num) < 0 ||
		    ioctl(d->vhost, VHOST_SET_VRING_BASE, &base) < 0 ||
		    ioctl(d->vhost, VHOST_SET_VRING_ADDR, &addr) < 0 ||
		    ioctl(d->vhost, VHOST_SET_VRING_KICK, &kick) < 0 ||
		    ioctl(d->vhost, VHOST_SET_VRING_CALL, &call) < 0)
			return -errno;
	}
	return 0;
}

/* After the backend is detached: stop each queue (its base comes back). */
void vhost_teardown(struct virtio_dev *d)
{
	uint32_t i;

	for (i = 0; i < d->nqueues; i++) {
		struct vhost_vring_state base = { .index = i };

		if (d->q[i].ready)
			ioctl(d->vhost, VHOST_GET_VRING_BASE, &base);
	}
}

/* --- userspace backends: a thread per ready queue --- */

int user_queues_start(struct virtio_dev *d, void *(*fn)(void *))
{
	uint32_t i;

	d->stopping = false;
	for (i = 0; i < d->nqueues; i++) {
		struct vmm_queue *q = &d->q[i];

		if (!q->ready)
			continue;
		q->last_avail = 0;
		if (pthread_create(&q->thread, NULL, fn, q)) {
			user_queues_stop(d);
			return -EAGAIN;
		}
		q->thread_running = true;
	}
	return 0;
}

void user_queues_stop(struct virtio_dev *d)
{
	uint64_t one = 1;
	uint32_t i;

	__atomic_store_n(&d->stopping, true, __ATOMIC_RELEASE);
	for (i = 0; i < d->nqueues; i++) {
		struct vmm_queue *q = &d->q[i];

		if (!q->thread_running)
			continue;
		if (write(q->kick, &one, sizeof(one)) != sizeof(one))
			vmm_warn("%s: cannot wake queue %u", d->ops->name, i);
		pthread_join(q->thread, NULL);
		q->thread_running = false;
	}
}

/* Block until the queue is kicked; false when the device stops. */
bool vq_wait_kick(struct vmm_queue *q)
{
	uint64_t n;

	while (read(q->kick, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	return !__atomic_load_n(&q->dev->stopping, __ATOMIC_ACQUIRE);
}

/*
 * A descriptor is copied out of guest memory once and only the copy is
 * used: the guest can rewrite the table at any time.
 */
static struct vring_desc desc_read(const struct vring_desc *p)
{
	struct vring_desc d;

	memcpy(&d, (const void *)p, sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return d;
}

static int vq_add_desc(struct vmm *v, struct user_req *r,
		       const struct vring_desc *desc)
{
	void *p = gpa_range(v, desc->addr, desc->len);

	if (!p || r->nout + r->nin == VMM_QUEUE_SIZE)
		return -1;
	if (desc->flags & VRING_DESC_F_WRITE) {
		r->in[r->nin].iov_base = p;
		r->in[r->nin++].iov_len = desc->len;
	} else {
		if (r->nin)	/* a readable buffer after a writable one */
			return -1;
		r->out[r->nout].iov_base = p;
		r->out[r->nout++].iov_len = desc->len;
	}
	return 0;
}

/* The chain of an indirect table; 1, or -1 when it is malformed. */
static int vq_indirect(struct vmm *v, struct user_req *r,
		       const struct vring_desc *desc)
{
	const struct vring_desc *table;
	struct vring_desc d;
	uint32_t max, n, i = 0;

	if (desc->len % sizeof(d) || !desc->len ||
	    desc->len / sizeof(d) > VMM_QUEUE_SIZE ||
	    (desc->flags & VRING_DESC_F_NEXT))
		return -1;
	table = gpa_range(v, desc->addr, desc->len);
	if (!table)
		return -1;
	max = desc->len / sizeof(d);
	for (n = 0; n < max; n++) {
		d = desc_read(&table[i]);
		if ((d.flags & VRING_DESC_F_INDIRECT) || vq_add_desc(v, r, &d))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		i = d.next;
		if (i >= max)
			return -1;
	}
	return -1;		/* a loop */
}

/*
 * The next available chain: 1 and r filled, 0 when there is none, -1 when
 * the guest's ring is malformed (the caller stops serving the queue).
 */
int vq_pop(struct virtio_dev *d, struct vmm_queue *q, struct user_req *r)
{
	struct vmm *v = d->vmm;
	struct vring_desc *table = (struct vring_desc *)(v->mem + q->desc);
	struct vring_avail *avail = (struct vring_avail *)(v->mem + q->avail);
	struct vring_desc desc;
	uint16_t idx, head, i;
	uint32_t count;

	idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	if (idx == q->last_avail)
		return 0;
	if ((uint16_t)(idx - q->last_avail) > q->num)
		return -1;
	head = __atomic_load_n(&avail->ring[q->last_avail % q->num],
			       __ATOMIC_RELAXED);
	q->last_avail++;
	if (head >= q->num)
		return -1;
	r->head = head;
	r->nout = r->nin = 0;
	for (i = head, count = 0; count < q->num; count++) {
		desc = desc_read(&table[i]);
		if (desc.flags & VRING_DESC_F_INDIRECT)
			return vq_indirect(v, r, &desc);	/* ends the chain */
		if (vq_add_desc(v, r, &desc))
			return -1;
		if (!(desc.flags & VRING_DESC_F_NEXT))
			return 1;
		i = desc.next;
		if (i >= q->num)
			return -1;
	}
	return -1;		/* a loop */
}

void vq_push(struct virtio_dev *d, struct vmm_queue *q, uint16_t head,
	     uint32_t len)
{
	struct vring_used *used = (struct vring_used *)(d->vmm->mem + q->used);
	uint16_t idx = used->idx;

	used->ring[idx % q->num].id = head;
	used->ring[idx % q->num].len = len;
	__atomic_store_n(&used->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* Interrupt the guest unless it asked not to be (no EVENT_IDX here). */
void vq_signal(struct vmm_queue *q)
{
	struct vring_avail *avail =
		(struct vring_avail *)(q->dev->vmm->mem + q->avail);
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (avail->flags & VRING_AVAIL_F_NO_INTERRUPT)
		return;
	if (write(q->call, &one, sizeof(one)) != sizeof(one))
		vmm_warn("%s: queue %u: cannot signal", q->dev->ops->name,
			 q->index);
}
