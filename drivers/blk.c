// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-blk: an in-kernel virtio-blk backend behind /dev/doorbell-blk.
 *
 * The VMM sets the device up with the vhost ioctls (doorbell core) and
 * attaches a regular file or a block device with DOORBELL_BLK_SET_BACKEND
 * (<linux/doorbell_blk.h>).  Each request queue has its own kick poller and
 * its own worker, so queues are served in parallel (VIRTIO_BLK_F_MQ).
 *
 * Reads and writes are submitted as asynchronous kiocbs on the backing file
 * over the guest's buffers (an iov_iter on the owner's addresses): with
 * O_DIRECT on a block device or a file system that supports it they
 * complete later, in any context, and many are in flight (one per ring
 * entry); buffered ones complete at once.  Completions go on a lock-free
 * list and the queue's worker writes the status bytes, fills the used ring
 * in batches and signals the call eventfd when EVENT_IDX says the guest
 * wants it.  Flush is vfs_fsync() and discard punches a hole (a block
 * device: a discard, its page cache dropped as BLKDISCARD does).  Write
 * zeroes uses fallocate(ZERO_RANGE), else writes the zero page (tmpfs), and
 * punches a hole when the guest sets VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP and
 * the backing store can, else zeroes as without it.  GET_ID answers a fixed
 * "doorbell-blk".
 *
 * Every request is checked: a readable header of 16 bytes first, a
 * writable status byte last, data a multiple of 512 bytes inside the
 * capacity, no more than MAX_RW_COUNT bytes and passing the VFS's checks of
 * a read or write (else VIRTIO_BLK_S_IOERR, as for a chain of more buffers
 * than DOORBELL_VQ_IOV_MAX), a known type (else VIRTIO_BLK_S_UNSUPP).  A
 * chain without header or status, or a head that is already in flight,
 * breaks the queue (doorbell core: error eventfd, ratelimited log); other
 * queues and the host carry on.
 */
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/blk_types.h>
#include <linux/blkdev.h>
#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/llist.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/wait.h>
#include <linux/doorbell_blk.h>

#include "core/compat.h"
#include "core/doorbell_core.h"
#include "core/doorbell_vq.h"

#define DBBLK_NQ		DOORBELL_BLK_MAX_QUEUES
/* Requests per handler run before the worker looks at other work. */
#define DBBLK_BUDGET		256
/* Completions batched before the used idx is published. */
#define DBBLK_BATCH		64
/* Most segments in one discard or write zeroes request. */
#define DBBLK_MAX_DISCARD_SEG	16

#define DBBLK_FEATURES	(BIT_ULL(VIRTIO_BLK_F_SEG_MAX) |		\
			 BIT_ULL(VIRTIO_BLK_F_RO) |			\
			 BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) |		\
			 BIT_ULL(VIRTIO_BLK_F_FLUSH) |			\
			 BIT_ULL(VIRTIO_BLK_F_MQ) |			\
			 BIT_ULL(VIRTIO_BLK_F_DISCARD) |		\
			 BIT_ULL(VIRTIO_BLK_F_WRITE_ZEROES))

struct dbblk_queue;

/*
 * struct dbblk_req - a read or write in flight (one per ring entry)
 * @iocb: the kiocb on the backing file
 * @q: its queue
 * @node: on the queue's completed list
 * @status: the guest's status byte (owner address)
 * @want: bytes the IO should move
 * @used: used length to report (data read + status byte)
 * @head: the chain's head
 * @ret: the IO's result
 * @busy: in flight
 */
struct dbblk_req {
	struct kiocb iocb;
	struct dbblk_queue *q;
	struct llist_node node;
	u8 __user *status;
	size_t want;
	u32 used;
	u16 head;
	long ret;
	bool busy;
};

/*
 * struct dbblk_queue - a request queue
 * @vq: the virtqueue; vq.private_data is the backing file while attached
 * @reqs: one per ring entry, allocated at attach
 * @nreqs: entries in @reqs
 * @done: completed IOs waiting for the worker
 * @done_work: the worker's completion work
 * @inflight: IOs submitted and not completed
 * @heads: completions not yet published
 * @nheads: entries in @heads
 */
struct dbblk_queue {
	struct doorbell_vq vq;
	struct dbblk_req *reqs;
	unsigned int nreqs;
	struct llist_head done;
	struct doorbell_work done_work;
	atomic_t inflight;
	struct vring_used_elem heads[DBBLK_BATCH];
	unsigned int nheads;
};

/*
 * struct dbblk - a doorbell-blk device: one open of /dev/doorbell-blk
 * @vdev: the vhost-style device
 * @vqs: its queues, for the core
 * @q: the request queues
 * @idle: dbblk_detach() waits here for every queue's @inflight to reach 0
 * @idle_lock: a completion that takes a queue's @inflight to 0 does so and
 *	wakes @idle under it, and dbblk_detach() reads the counts under it (see
 *	dbblk_inflight_dec())
 * @file: the backing file, or NULL
 * @capacity: its size in sectors
 * @ro: opened read-only
 */
struct dbblk {
	struct doorbell_vdev vdev;
	struct doorbell_vq *vqs[DBBLK_NQ];
	struct dbblk_queue q[DBBLK_NQ];
	wait_queue_head_t idle;
	spinlock_t idle_lock; /* last inflight decrement + wakeup vs. detach */
	struct file *file;
	u64 capacity;
	bool ro;
};

static struct dbblk *dbblk_of(struct dbblk_queue *q)
{
	return container_of(q->vq.vdev, struct dbblk, vdev);
}

/* -------------------------------------------------------- completions */

static void dbblk_publish(struct dbblk_queue *q)
{
	if (q->nheads) {
		doorbell_vq_add_used_n(&q->vq, q->heads, q->nheads);
		q->nheads = 0;
	}
	doorbell_vq_signal(&q->vq);
}

/* Write the status and queue the completion; queue mutex held. */
static void dbblk_complete(struct dbblk_queue *q, u16 head, u8 __user *status,
			   u8 st, u32 used)
{
	if (put_user(st, status)) {
		doorbell_vq_break(&q->vq, "status byte not writable");
		return;
	}
	q->heads[q->nheads].id = (__force __virtio32)head;
	q->heads[q->nheads].len = (__force __virtio32)used;
	if (++q->nheads == DBBLK_BATCH)
		dbblk_publish(q);
}

static void dbblk_finish(struct dbblk_queue *q, struct dbblk_req *req)
{
	bool ok = req->ret >= 0 && (size_t)req->ret == req->want;

	req->busy = false;
	dbblk_complete(q, req->head, req->status,
		       ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
		       ok ? req->used : 1);
}

/* Take the completed list, oldest first; queue mutex held. */
static void dbblk_reap(struct dbblk_queue *q)
{
	struct llist_node *list = llist_reverse_order(llist_del_all(&q->done));
	struct dbblk_req *req, *tmp;

	llist_for_each_entry_safe(req, tmp, list, node)
		dbblk_finish(q, req);
}

static void dbblk_done_work(struct doorbell_work *work)
{
	struct dbblk_queue *q = container_of(work, struct dbblk_queue, done_work);

	mutex_lock(&q->vq.mutex);
	dbblk_reap(q);
	dbblk_publish(q);
	mutex_unlock(&q->vq.mutex);
}

static void dbblk_end_write(struct kiocb *iocb)
{
	struct inode *inode = file_inode(iocb->ki_filp);

	if (!(iocb->ki_flags & IOCB_WRITE) || !S_ISREG(inode->i_mode))
		return;
	/* As aio: the freeze protection taken at submission, released here. */
	__sb_writers_acquired(inode->i_sb, SB_FREEZE_WRITE);
	sb_end_write(inode->i_sb);
}

/*
 * An IO of @q is over: take it off @q->inflight.  Any context.  The
 * decrement that reaches 0 and the wakeup of dbblk_detach() happen under
 * @idle_lock, and dbblk_detach() reads the counts under that lock too, so
 * once it sees them all 0 that completion has dropped the lock and touches
 * the device no more: the device may be freed from then on.  A decrement
 * that does not reach 0 takes no lock: the count it leaves keeps
 * dbblk_detach() waiting.  After this call the device may be gone, unless
 * the caller holds the queue mutex (dbblk_rw()).
 */
static void dbblk_inflight_dec(struct dbblk_queue *q)
{
	struct dbblk *b = dbblk_of(q);
	unsigned long flags;

	if (atomic_dec_and_lock_irqsave(&q->inflight, &b->idle_lock, flags)) {
		wake_up(&b->idle);
		spin_unlock_irqrestore(&b->idle_lock, flags);
	}
}

/*
 * The kiocb's completion: any context.  Everything it touches (the request,
 * the queue's list and work, the worker) is touched before the inflight
 * decrement, after which dbblk_detach() may return and the device go.
 */
static void dbblk_rw_done(struct kiocb *iocb, long ret)
{
	struct dbblk_req *req = container_of(iocb, struct dbblk_req, iocb);
	struct dbblk_queue *q = req->q;

	dbblk_end_write(iocb);
	req->ret = ret;
	llist_add(&req->node, &q->done);
	doorbell_work_queue(doorbell_vq_dev(&q->vq), &q->done_work);
	dbblk_inflight_dec(q);
}

/* ------------------------------------------------------------ requests */

static void dbblk_rw(struct dbblk_queue *q, struct file *file,
		     struct dbblk_req *req, struct iov_iter *data, u64 sector,
		     bool write)
{
	struct inode *inode = file_inode(file);
	ssize_t ret;

	init_sync_kiocb(&req->iocb, file);
	req->iocb.ki_pos = sector << SECTOR_SHIFT;
	req->iocb.ki_complete = dbblk_rw_done;
	req->want = iov_iter_count(data);
	req->busy = true;
	atomic_inc(&q->inflight);
	if (write) {
		req->iocb.ki_flags |= IOCB_WRITE;
		if (S_ISREG(inode->i_mode)) {
			sb_start_write(inode->i_sb);
			__sb_writers_release(inode->i_sb, SB_FREEZE_WRITE);
		}
		ret = file->f_op->write_iter(&req->iocb, data);
	} else {
		ret = file->f_op->read_iter(&req->iocb, data);
	}
	if (ret != -EIOCBQUEUED) {
		/* Done already (buffered IO, or an error): finish it here. */
		dbblk_end_write(&req->iocb);
		req->ret = ret;
		/*
		 * dbblk_finish() comes after the decrement: dbblk_detach()
		 * stops this queue under its mutex, held here, so it cannot
		 * return meanwhile.
		 */
		dbblk_inflight_dec(q);
		dbblk_finish(q, req);
	}
}

#define DBBLK_ZERO_PAGES	16

/*
 * Write zeroes from the zero page, for a backing file whose fallocate()
 * cannot zero a range (tmpfs).  Synchronous; the caller checked the range.
 * A large range takes long: it stops with -EINTR when the owner of @q's
 * worker is being killed, whose exit waits for it.
 */
static int dbblk_zero_fill(struct dbblk_queue *q, struct file *file,
			   loff_t pos, u64 len)
{
	struct bio_vec bv[DBBLK_ZERO_PAGES];
	struct iov_iter it;
	struct kiocb kiocb;
	ssize_t ret;
	size_t n;
	int i;

	for (i = 0; i < DBBLK_ZERO_PAGES; i++)
		bv[i] = (struct bio_vec){ .bv_page = ZERO_PAGE(0),
					  .bv_len = PAGE_SIZE };
	while (len) {
		if (doorbell_dev_owner_dying(doorbell_vq_dev(&q->vq)))
			return -EINTR;
		n = min_t(u64, len, DBBLK_ZERO_PAGES * PAGE_SIZE);
		iov_iter_bvec(&it, ITER_SOURCE, bv, DIV_ROUND_UP(n, PAGE_SIZE), n);
		init_sync_kiocb(&kiocb, file);
		kiocb.ki_pos = pos;
		file_start_write(file);
		ret = file->f_op->write_iter(&kiocb, &it);
		file_end_write(file);
		if (ret <= 0)
			return ret ? ret : -EIO;
		pos += ret;
		len -= ret;
		cond_resched();
	}
	return 0;
}

/*
 * Discard on a block device: fallocate(PUNCH_HOLE) of a block device zeroes
 * (and refuses without write-zeroes support), so issue a real discard, as
 * BLKDISCARD does.  The range's cached pages go first, under the mapping's
 * invalidate lock, so that no read brings stale data back before the
 * discard is done.  Truncating them would pull them from under whoever holds
 * the device exclusively (a mounted file system, whose buffers live there,
 * or an O_EXCL opener with unwritten data): as the kernel's
 * truncate_bdev_range(), truncate only while the device is claimed (by us
 * for the moment, or by our own O_EXCL file), else invalidate, which fails
 * with -EBUSY on pages in use or dirty: then nothing is discarded.
 */
static int dbblk_bdev_discard(struct file *file, loff_t pos, u64 len)
{
	struct address_space *mapping = file->f_mapping;
	struct inode *inode = mapping->host;
	struct block_device *bdev = I_BDEV(inode);
	loff_t end = pos + len - 1;
	bool excl, claimed = false;
	int ret = 0;

	if (!bdev_max_discard_sectors(bdev))
		return -EOPNOTSUPP;
	inode_lock(inode);
	filemap_invalidate_lock(mapping);
	excl = doorbell_bdev_file_excl(file);
	if (!excl)
		claimed = !doorbell_bd_prepare_to_claim(bdev, dbblk_bdev_discard);
	if (excl || claimed)
		truncate_inode_pages_range(mapping, pos, end);
	else
		ret = invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
						    end >> PAGE_SHIFT);
	if (claimed)
		bd_abort_claiming(bdev, dbblk_bdev_discard);
	if (!ret)
		ret = blkdev_issue_discard(bdev, pos >> SECTOR_SHIFT,
					   len >> SECTOR_SHIFT, GFP_KERNEL);
	filemap_invalidate_unlock(mapping);
	inode_unlock(inode);
	return ret;
}

/* Discard or write zeroes: the segments are in @data. */
static u8 dbblk_discard(struct dbblk_queue *q, struct file *file,
			struct iov_iter *data, u32 type)
{
	struct virtio_blk_discard_write_zeroes seg;
	struct dbblk *b = dbblk_of(q);
	size_t n = iov_iter_count(data);
	u64 sector, end;
	u32 num, flags;
	int mode, ret;

	if (!n || n % sizeof(seg) || n / sizeof(seg) > DBBLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	while (iov_iter_count(data)) {
		if (copy_from_iter(&seg, sizeof(seg), data) != sizeof(seg))
			return VIRTIO_BLK_S_IOERR;
		sector = le64_to_cpu(seg.sector);
		num = le32_to_cpu(seg.num_sectors);
		flags = le32_to_cpu(seg.flags);
		if (check_add_overflow(sector, (u64)num, &end) || end > b->capacity)
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_DISCARD) {
			if (flags)
				return VIRTIO_BLK_S_UNSUPP;
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		} else {
			if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
				return VIRTIO_BLK_S_UNSUPP;
			mode = flags ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
			mode |= FALLOC_FL_KEEP_SIZE;
		}
		if (!num)
			continue;
		if (type == VIRTIO_BLK_T_DISCARD && S_ISBLK(file_inode(file)->i_mode))
			ret = dbblk_bdev_discard(file, sector << SECTOR_SHIFT,
						 (u64)num << SECTOR_SHIFT);
		else
			ret = vfs_fallocate(file, mode, sector << SECTOR_SHIFT,
					    (u64)num << SECTOR_SHIFT);
		/* UNMAP allows deallocating, it does not require it. */
		if (ret == -EOPNOTSUPP && type == VIRTIO_BLK_T_WRITE_ZEROES &&
		    (mode & FALLOC_FL_PUNCH_HOLE)) {
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
			ret = vfs_fallocate(file, mode, sector << SECTOR_SHIFT,
					    (u64)num << SECTOR_SHIFT);
		}
		if (ret == -EOPNOTSUPP && (mode & FALLOC_FL_ZERO_RANGE))
			ret = dbblk_zero_fill(q, file, sector << SECTOR_SHIFT,
					      (u64)num << SECTOR_SHIFT);
		if (ret == -EOPNOTSUPP)
			return VIRTIO_BLK_S_UNSUPP;
		if (ret)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/*
 * The checks the VFS makes on a read or write from a system call, which the
 * kiocb path skips: rw_verify_area() (the offset range, the LSM and
 * fanotify permission hooks), no more than MAX_RW_COUNT bytes (the VFS
 * shortens to it; refused here, and it keeps a used length, data and
 * status byte, inside a u32), and no O_APPEND, with which the write would
 * land at the end of the file: SET_BACKEND refuses such a file, but the VMM
 * may set the flag later with fcntl(F_SETFL).
 */
static int dbblk_rw_check(struct file *file, u64 sector, size_t len,
			  bool write)
{
	loff_t pos = sector << SECTOR_SHIFT;

	if (len > MAX_RW_COUNT)
		return -EINVAL;
	if (write && (READ_ONCE(file->f_flags) & O_APPEND))
		return -EINVAL;
	return rw_verify_area(write ? WRITE : READ, file, &pos, len);
}

/* Locate the status byte: the last byte of the writable buffers. */
static u8 __user *dbblk_status_byte(const struct iovec *iov, unsigned int in)
{
	while (in--) {
		if (iov[in].iov_len)
			return (u8 __user *)iov[in].iov_base + iov[in].iov_len - 1;
	}
	return NULL;
}

/*
 * The GET_ID answer: a fixed serial, NUL-padded to VIRTIO_BLK_ID_BYTES, the
 * same for every device (nothing of the host's shows through).
 */
static const char dbblk_id[VIRTIO_BLK_ID_BYTES] = "doorbell-blk";

/*
 * Serve one chain, @desc as doorbell_vq_get_desc() returned it: queue
 * mutex held.  Return: 0, or -EIO if the queue broke.
 */
static int dbblk_request(struct dbblk_queue *q, struct file *file, int desc,
			 unsigned int out, unsigned int in)
{
	bool oversized = desc & DOORBELL_VQ_OVERSIZED;
	u16 head = desc & ~DOORBELL_VQ_OVERSIZED;
	struct dbblk *b = dbblk_of(q);
	struct doorbell_vq *vq = &q->vq;
	struct virtio_blk_outhdr hdr;
	struct iov_iter oiter, iiter;
	struct dbblk_req *req;
	size_t in_len, len, n;
	u8 __user *status;
	u64 sector, end;
	u32 type;

	iov_iter_init(&oiter, ITER_SOURCE, vq->iov, out, iov_length(vq->iov, out));
	in_len = iov_length(vq->iov + out, in);
	status = dbblk_status_byte(vq->iov + out, in);
	if (copy_from_iter(&hdr, sizeof(hdr), &oiter) != sizeof(hdr)) {
		doorbell_vq_break(vq, "request without a 16-byte header");
		return -EIO;
	}
	if (!status) {
		doorbell_vq_break(vq, "request without a status byte");
		return -EIO;
	}
	req = &q->reqs[head];
	if (req->busy) {
		doorbell_vq_break(vq, "request head already in flight");
		return -EIO;
	}
	if (oversized) {
		/* Its buffers are not all in vq->iov: fail it alone. */
		dbblk_complete(q, head, status, VIRTIO_BLK_S_IOERR, 1);
		return vq->broken ? -EIO : 0;
	}
	iov_iter_init(&iiter, ITER_DEST, vq->iov + out, in, in_len - 1);
	type = __virtio32_to_cpu(vq->le, hdr.type);
	sector = __virtio64_to_cpu(vq->le, hdr.sector);
	req->head = head;
	req->status = status;

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		len = iov_iter_count(type == VIRTIO_BLK_T_IN ? &iiter : &oiter);
		if (len % SECTOR_SIZE ||
		    check_add_overflow(sector, (u64)(len >> SECTOR_SHIFT), &end) ||
		    end > b->capacity || (type == VIRTIO_BLK_T_OUT && b->ro)) {
			dbblk_complete(q, head, status, VIRTIO_BLK_S_IOERR, 1);
			break;
		}
		if (!len) {
			dbblk_complete(q, head, status, VIRTIO_BLK_S_OK, 1);
			break;
		}
		if (dbblk_rw_check(file, sector, len, type == VIRTIO_BLK_T_OUT)) {
			dbblk_complete(q, head, status, VIRTIO_BLK_S_IOERR, 1);
			break;
		}
		req->used = type == VIRTIO_BLK_T_IN ? len + 1 : 1;
		dbblk_rw(q, file, req, type == VIRTIO_BLK_T_IN ? &iiter : &oiter,
			 sector, type == VIRTIO_BLK_T_OUT);
		break;
	case VIRTIO_BLK_T_FLUSH:
		dbblk_complete(q, head, status,
			       vfs_fsync(file, 0) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 1);
		break;
	case VIRTIO_BLK_T_GET_ID:
		n = min(sizeof(dbblk_id), iov_iter_count(&iiter));
		if (copy_to_iter(dbblk_id, n, &iiter) != n)
			dbblk_complete(q, head, status, VIRTIO_BLK_S_IOERR, 1);
		else
			dbblk_complete(q, head, status, VIRTIO_BLK_S_OK, n + 1);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		dbblk_complete(q, head, status, dbblk_discard(q, file, &oiter, type), 1);
		break;
	default:
		dbblk_complete(q, head, status, VIRTIO_BLK_S_UNSUPP, 1);
	}
	return vq->broken ? -EIO : 0;
}

/* The kick handler of every queue. */
static void dbblk_handle(struct doorbell_work *work)
{
	struct doorbell_vq *vq = doorbell_vq_from_work(work);
	struct dbblk_queue *q = container_of(vq, struct dbblk_queue, vq);
	unsigned int out, in, n = 0;
	struct file *file;
	int head;

	doorbell_poll_take(&vq->poll);
	mutex_lock(&vq->mutex);
	file = vq->private_data;
	if (!file || vq->broken)
		goto out;
	vq->stats.kicks++;
	/* Completions first: they free ring entries and requests. */
	dbblk_reap(q);
	doorbell_vq_disable_notify(vq);
	while (n++ < DBBLK_BUDGET) {
		head = doorbell_vq_get_desc(vq, vq->iov, ARRAY_SIZE(vq->iov),
					    &out, &in);
		if (head < 0)
			break;
		if (head == vq->num) {
			if (doorbell_vq_enable_notify(vq)) {
				doorbell_vq_disable_notify(vq);
				continue;
			}
			break;
		}
		if (dbblk_request(q, file, head, out, in))
			break;
	}
	dbblk_publish(q);
	if (n > DBBLK_BUDGET)
		doorbell_poll_queue(&vq->poll);
out:
	mutex_unlock(&vq->mutex);
}

/* ------------------------------------------------------------ backend */

/* No IO in flight on any queue; @idle_lock held. */
static bool dbblk_idle(struct dbblk *b)
{
	int i;

	lockdep_assert_held(&b->idle_lock);
	for (i = 0; i < DBBLK_NQ; i++)
		if (atomic_read(&b->q[i].inflight))
			return false;
	return true;
}

/*
 * Detach every queue: no new requests, the in-flight ones complete (their
 * status written if the owner's memory is still there).  On return no
 * completion touches @b any more (see dbblk_inflight_dec()): the caller may
 * free it.  vdev mutex held.
 */
static void dbblk_detach(struct dbblk *b)
{
	int i;

	for (i = 0; i < DBBLK_NQ; i++) {
		mutex_lock(&b->q[i].vq.mutex);
		doorbell_vq_stop(&b->q[i].vq);
		mutex_unlock(&b->q[i].vq.mutex);
	}
	/*
	 * Read the counts under @idle_lock: the completion that took the last
	 * one to 0 has then left its critical section, wakeup included.
	 */
	spin_lock_irq(&b->idle_lock);
	wait_event_lock_irq(b->idle, dbblk_idle(b), b->idle_lock);
	spin_unlock_irq(&b->idle_lock);
	for (i = 0; i < DBBLK_NQ; i++) {
		struct dbblk_queue *q = &b->q[i];

		if (!b->vdev.owned)
			break;
		/* Runs the completion work if the worker still runs. */
		doorbell_dev_flush(doorbell_vq_dev(&q->vq));
		mutex_lock(&q->vq.mutex);
		if (current->mm == b->vdev.dev.mm) {
			dbblk_reap(q);
			dbblk_publish(q);
		}
		llist_del_all(&q->done);
		q->nheads = 0;
		kvfree(q->reqs);
		q->reqs = NULL;
		q->nreqs = 0;
		mutex_unlock(&q->vq.mutex);
	}
	if (b->file)
		fput(b->file);
	b->file = NULL;
}

static long dbblk_set_backend(struct dbblk *b, struct vhost_vring_file __user *argp)
{
	struct vhost_vring_file f;
	struct file *file;
	struct inode *inode;
	int i, j;
	long ret;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	mutex_lock(&b->vdev.mutex);
	ret = doorbell_vdev_check_owner(&b->vdev);
	if (ret)
		goto out;
	if (f.index) {
		ret = -EINVAL;
		goto out;
	}
	if (f.fd == -1) {
		dbblk_detach(b);
		goto out;
	}
	file = fget(f.fd);
	if (!file) {
		ret = -EBADF;
		goto out;
	}
	inode = file->f_mapping->host;
	if (!S_ISREG(inode->i_mode) && !S_ISBLK(inode->i_mode)) {
		ret = -ENOTBLK;
	} else if (!(file->f_mode & FMODE_READ) || !file->f_op->read_iter ||
		   !file->f_op->write_iter) {
		ret = -EBADFD;
	} else if (file->f_flags & O_APPEND) {
		/* Its writes would land at the end, not at their sector. */
		ret = -ESPIPE;
	}
	if (ret) {
		fput(file);
		goto out;
	}
	dbblk_detach(b);
	b->file = file;
	b->ro = !(file->f_mode & FMODE_WRITE);
	b->capacity = i_size_read(inode) >> SECTOR_SHIFT;

	for (i = 0; i < DBBLK_NQ; i++) {
		struct dbblk_queue *q = &b->q[i];

		mutex_lock(&q->vq.mutex);
		/* Queues the VMM did not set up stay off. */
		if (q->vq.num && q->vq.addr_set) {
			q->reqs = kvcalloc(q->vq.num, sizeof(*q->reqs), GFP_KERNEL_ACCOUNT);
			if (!q->reqs)
				ret = -ENOMEM;
			else
				ret = doorbell_vq_start(&q->vq, file);
			if (!ret) {
				q->nreqs = q->vq.num;
				for (j = 0; j < q->nreqs; j++)
					q->reqs[j].q = q;
			}
		}
		mutex_unlock(&q->vq.mutex);
		if (ret)
			break;
	}
	if (!ret && !b->q[0].nreqs)
		ret = -EFAULT;
	if (ret) {
		dbblk_detach(b);
		goto out;
	}
	/* Serve what the guest queued before the backend came. */
	for (i = 0; i < DBBLK_NQ; i++)
		if (b->q[i].nreqs)
			doorbell_poll_queue(&b->q[i].vq.poll);
out:
	mutex_unlock(&b->vdev.mutex);
	return ret;
}

static void dbblk_stop(struct doorbell_vdev *vdev)
{
	dbblk_detach(container_of(vdev, struct dbblk, vdev));
}

static long dbblk_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct dbblk *b = f->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	if (ioctl == DOORBELL_BLK_SET_BACKEND)
		return dbblk_set_backend(b, argp);
	ret = doorbell_vdev_ioctl(&b->vdev, ioctl, argp);
	return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
}

static int dbblk_open(struct inode *inode, struct file *f)
{
	struct dbblk *b;
	int i;

	b = kvzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	init_waitqueue_head(&b->idle);
	spin_lock_init(&b->idle_lock);
	for (i = 0; i < DBBLK_NQ; i++) {
		b->vqs[i] = &b->q[i].vq;
		init_llist_head(&b->q[i].done);
		doorbell_work_init(&b->q[i].done_work, dbblk_done_work);
	}
	b->vdev.queue_workers = true;
	doorbell_vdev_init(&b->vdev, b->vqs, DBBLK_NQ, DBBLK_FEATURES, "blk",
			   dbblk_stop, dbblk_handle);
	f->private_data = b;
	return 0;
}

static int dbblk_release(struct inode *inode, struct file *f)
{
	struct dbblk *b = f->private_data;

	mutex_lock(&b->vdev.mutex);
	dbblk_detach(b);
	mutex_unlock(&b->vdev.mutex);
	doorbell_vdev_cleanup(&b->vdev);
	kvfree(b);
	return 0;
}

static const struct file_operations dbblk_fops = {
	.owner = THIS_MODULE,
	.open = dbblk_open,
	.release = dbblk_release,
	.unlocked_ioctl = dbblk_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice dbblk_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "doorbell-blk",
	.fops = &dbblk_fops,
};
module_misc_device(dbblk_misc);

MODULE_DESCRIPTION("doorbell-blk: in-kernel virtio-blk backend with the vhost UAPI");
MODULE_LICENSE("GPL");
