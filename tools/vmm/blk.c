// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: virtio-blk.  --disk FILE[,ro][,queues=N][,backend=kernel|user]
 *
 * backend=kernel (the default): /dev/doorbell-blk serves the queues; the
 * VMM keeps the config space and the feature negotiation and hands the
 * rings over through the vhost UAPI and DOORBELL_BLK_SET_BACKEND.
 * backend=user: one VMM thread per queue serves the same rings with
 * preadv/pwritev/fdatasync/fallocate, as a userspace VMM does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/doorbell_blk.h>
#include "vmm.h"

#define BLK_MAX_SEG		16	/* discard / write zeroes ranges */
#define BLK_MAX_SECTORS		(1U << 22)	/* per discard / write zeroes */

struct blk {
	const char *path;
	int fd;
	bool ro, bdev;
	uint64_t sectors;
	uint64_t backend_features;
	struct virtio_blk_config config;
};

static uint64_t blk_features(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
		     (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) |
		     (1ULL << VIRTIO_BLK_F_DISCARD) |
		     (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);

	if (b->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (d->nqueues > 1)
		f |= 1ULL << VIRTIO_BLK_F_MQ;
	if (!d->user)
		f = (f | (1ULL << VIRTIO_RING_F_EVENT_IDX)) & b->backend_features;
	return f;
}

static int blk_start_kernel(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	struct vhost_vring_file backend = { .index = 0, .fd = b->fd };
	int err;

	err = vhost_setup(d, d->driver_features);
	if (err)
		return err;
	if (ioctl(d->vhost, DOORBELL_BLK_SET_BACKEND, &backend) < 0)
		return -errno;
	return 0;
}

/* Copy len bytes at offset off of an iovec array into buf. */
static bool iov_get(const struct iovec *iov, int n, size_t off, void *buf,
		    size_t len)
{
	uint8_t *p = buf;
	size_t c;
	int i;

	for (i = 0; i < n && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		c = iov[i].iov_len - off;
		if (c > len)
			c = len;
		memcpy(p, (uint8_t *)iov[i].iov_base + off, c);
		p += c;
		len -= c;
		off = 0;
	}
	return !len;
}

/* The part of iov from byte off to byte end, as a new array in out. */
static int iov_slice(const struct iovec *iov, int n, size_t off, size_t end,
		     struct iovec *out)
{
	size_t pos = 0, a, z;
	int i, k = 0;

	for (i = 0; i < n; pos += iov[i].iov_len, i++) {
		a = pos > off ? pos : off;
		z = pos + iov[i].iov_len < end ? pos + iov[i].iov_len : end;
		if (a >= z)
			continue;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + (a - pos);
		out[k++].iov_len = z - a;
	}
	return k;
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

static int blk_range(struct blk *b, uint64_t sector, uint64_t bytes)
{
	if (bytes % 512 || sector > b->sectors || bytes / 512 > b->sectors - sector)
		return -1;
	return 0;
}

static uint8_t blk_rw(struct blk *b, struct user_req *r, uint32_t type,
		      uint64_t sector, uint32_t *written)
{
	struct iovec io[VMM_QUEUE_SIZE], rest[VMM_QUEUE_SIZE];
	size_t len, done = 0;
	off_t pos = sector * 512;
	ssize_t n;
	int k;

	if (type == VIRTIO_BLK_T_IN) {
		len = iov_len(r->in, r->nin) - 1;
		k = iov_slice(r->in, r->nin, 0, len, io);
	} else {
		len = iov_len(r->out, r->nout) - 16;
		k = iov_slice(r->out, r->nout, 16, 16 + len, io);
	}
	if (blk_range(b, sector, len) || (type == VIRTIO_BLK_T_OUT && b->ro))
		return VIRTIO_BLK_S_IOERR;
	while (done < len) {
		n = type == VIRTIO_BLK_T_IN ? preadv(b->fd, io, k, pos + done) :
					      pwritev(b->fd, io, k, pos + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VIRTIO_BLK_S_IOERR;
		done += n;
		/* a short transfer: go on after what was done */
		memcpy(rest, io, k * sizeof(io[0]));
		k = iov_slice(rest, k, n, len - done + n, io);
	}
	if (type == VIRTIO_BLK_T_IN)
		*written = len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_zero(struct blk *b, uint64_t off, uint64_t len, bool discard)
{
	static const uint8_t zeroes[65536] __attribute__((aligned(4096)));
	uint64_t range[2] = { off, len };
	size_t c;

	if (b->bdev)
		return ioctl(b->fd, discard ? BLKDISCARD : BLKZEROOUT, range) ?
		       VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	if (!fallocate(b->fd, discard ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
			      FALLOC_FL_ZERO_RANGE, off, len))
		return VIRTIO_BLK_S_OK;
	if (discard)
		return VIRTIO_BLK_S_IOERR;
	for (; len; off += c, len -= c) {
		c = len < sizeof(zeroes) ? len : sizeof(zeroes);
		if (pwrite(b->fd, zeroes, c, off) != (ssize_t)c)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_discard(struct blk *b, struct user_req *r, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg;
	size_t len = iov_len(r->out, r->nout) - 16, i;
	uint8_t st;

	if (!len || len % sizeof(seg) || len / sizeof(seg) > BLK_MAX_SEG)
		return VIRTIO_BLK_S_IOERR;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	for (i = 0; i < len / sizeof(seg); i++) {
		iov_get(r->out, r->nout, 16 + i * sizeof(seg), &seg, sizeof(seg));
		if (seg.flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (seg.num_sectors > BLK_MAX_SECTORS ||
		    blk_range(b, seg.sector, (uint64_t)seg.num_sectors * 512))
			return VIRTIO_BLK_S_IOERR;
		st = blk_zero(b, seg.sector * 512, (uint64_t)seg.num_sectors * 512,
			      type == VIRTIO_BLK_T_DISCARD);
		if (st != VIRTIO_BLK_S_OK)
			return st;
	}
	return VIRTIO_BLK_S_OK;
}

static void *blk_user_queue(void *arg)
{
	struct vmm_queue *q = arg;
	struct virtio_dev *d = q->dev;
	struct blk *b = d->priv;
	struct virtio_blk_outhdr hdr;
	struct user_req *r;
	uint32_t written;
	bool broken = false;
	uint8_t st;
	int got;

	r = malloc(sizeof(*r));
	if (!r) {
		vmm_warn("disk %s: queue %u: out of memory", b->path, q->index);
		return NULL;
	}
	while (vq_wait_kick(q)) {
		while (!broken && (got = vq_pop(d, q, r)) != 0) {
			if (got < 0 || !r->nin ||
			    !iov_get(r->out, r->nout, 0, &hdr, sizeof(hdr))) {
				vmm_warn("disk %s: queue %u: malformed request, queue stopped",
					 b->path, q->index);
				broken = true;
				break;
			}
			written = 0;
			switch (hdr.type) {
			case VIRTIO_BLK_T_IN:
			case VIRTIO_BLK_T_OUT:
				st = blk_rw(b, r, hdr.type, hdr.sector, &written);
				break;
			case VIRTIO_BLK_T_FLUSH:
				st = fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR :
							VIRTIO_BLK_S_OK;
				break;
			case VIRTIO_BLK_T_GET_ID: {
				struct iovec io[VMM_QUEUE_SIZE];
				char id[VIRTIO_BLK_ID_BYTES] = "doorbell-vmm";
				size_t len = iov_len(r->in, r->nin) - 1;
				int k = iov_slice(r->in, r->nin, 0,
						  len < sizeof(id) ? len : sizeof(id), io);

				written = 0;
				for (int i = 0; i < k; written += io[i].iov_len, i++)
					memcpy(io[i].iov_base, id + written, io[i].iov_len);
				st = VIRTIO_BLK_S_OK;
				break;
			}
			case VIRTIO_BLK_T_DISCARD:
			case VIRTIO_BLK_T_WRITE_ZEROES:
				st = blk_discard(b, r, hdr.type);
				break;
			default:
				st = VIRTIO_BLK_S_UNSUPP;
			}
			{
				struct iovec *last = &r->in[r->nin - 1];

				*((uint8_t *)last->iov_base + last->iov_len - 1) = st;
			}
			vq_push(d, q, r->head, written + 1);
		}
		vq_signal(q);
	}
	free(r);
	return NULL;
}

static int blk_start(struct virtio_dev *d)
{
	if (d->user)
		return user_queues_start(d, blk_user_queue);
	return blk_start_kernel(d);
}

static void blk_stop(struct virtio_dev *d)
{
	struct vhost_vring_file none = { .index = 0, .fd = -1 };

	if (d->user) {
		user_queues_stop(d);
		return;
	}
	if (ioctl(d->vhost, DOORBELL_BLK_SET_BACKEND, &none) < 0)
		vmm_warn("doorbell-blk: detach: %s", strerror(errno));
	vhost_teardown(d);
}

static const struct virtio_ops blk_ops = {
	.device_id = 2,
	.name = "virtio-blk",
	.features = blk_features,
	.start = blk_start,
	.stop = blk_stop,
};

int blk_add(struct vmm *v, const char *opt)
{
	char *s = strdup(opt), *tok, *save = NULL;
	unsigned long queues = 1;
	bool user = false, direct = false;
	struct virtio_dev *d;
	int ssz = 512;
	struct stat st;
	struct blk *b;
	char *end;

	b = calloc(1, sizeof(*b));
	if (!s || !b)
		vmm_die("out of memory");
	b->path = strtok_r(s, ",", &save);
	if (!b->path)
		vmm_die("--disk: no file");
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strcmp(tok, "ro")) {
			b->ro = true;
		} else if (!strcmp(tok, "direct")) {
			direct = true;
		} else if (!strcmp(tok, "backend=kernel")) {
			user = false;
		} else if (!strcmp(tok, "backend=user")) {
			user = true;
		} else if (!strncmp(tok, "queues=", 7)) {
			queues = strtoul(tok + 7, &end, 0);
			if (*end || !queues || queues > VMM_MAX_QUEUES)
				vmm_die("--disk %s: queues from 1 to %d", opt,
					VMM_MAX_QUEUES);
		} else {
			vmm_die("--disk %s: unknown option %s", opt, tok);
		}
	}
	/* direct: O_DIRECT, the page cache bypassed by both backends (for
	 * doorbell-blk on a block device, the kiocbs become bios that complete
	 * asynchronously, many in flight).
	 */
	b->fd = open(b->path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC |
		     (direct ? O_DIRECT : 0));
	if (b->fd < 0)
		vmm_die("disk %s: %s", b->path, strerror(errno));
	if (fstat(b->fd, &st) < 0)
		vmm_die("disk %s: %s", b->path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;

		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0)
			vmm_die("disk %s: BLKGETSIZE64: %s", b->path, strerror(errno));
		b->bdev = true;
		b->sectors = bytes / 512;
		/* The guest's block size: the device's, so O_DIRECT IO fits. */
		if (ioctl(b->fd, BLKSSZGET, &ssz) < 0 || ssz < 512 || ssz > 4096)
			ssz = 512;
	} else if (S_ISREG(st.st_mode)) {
		b->sectors = st.st_size / 512;
	} else {
		vmm_die("disk %s: neither a file nor a block device", b->path);
	}

	d = virtio_add(v, &blk_ops, queues, b);
	d->user = user;
	if (!user) {
		char what[256];

		snprintf(what, sizeof(what), "disk %s", b->path);
		vhost_open(d, "/dev/doorbell-blk", "doorbell_blk", what,
			   &b->backend_features);
	}

	b->config.capacity = b->sectors;
	b->config.seg_max = VMM_QUEUE_SIZE - 2;
	b->config.blk_size = ssz;
	b->config.num_queues = queues;
	b->config.max_discard_sectors = BLK_MAX_SECTORS;
	b->config.max_discard_seg = BLK_MAX_SEG;
	b->config.discard_sector_alignment = 8;
	b->config.max_write_zeroes_sectors = BLK_MAX_SECTORS;
	b->config.max_write_zeroes_seg = BLK_MAX_SEG;
	b->config.write_zeroes_may_unmap = 1;
	d->config = &b->config;
	d->config_len = sizeof(b->config);
	return 0;
}
