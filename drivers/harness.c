// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell: /dev/doorbell, the ring-counting harness of the 2009 KVM
 * ioeventfd commit, on top of the doorbell core.
 *
 * Every open file is a doorbell device (a worker with the opener's mm) and a
 * set of bells.  A bell is a kick poller bound to an eventfd, with counters.
 * Rings arrive by the eventfd or by the DOORBELL_RING ioctl; the bell's mode
 * says who counts them: the eventfd's wake function itself, or the worker (so
 * both paths do the same consumer work there).  The UAPI is
 * include/uapi/linux/doorbell.h.
 *
 * Lifetime: bells live in an xarray.  Lookups for RING and GET_STATS run
 * under RCU without locks; ADD and REMOVE serialize on the file's mutex.
 * REMOVE erases the bell, waits for the lookups that may still see it
 * (synchronize_rcu()), stops the poller (which flushes the worker) and frees
 * it.  Release needs no grace period: no ioctl runs any more.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include <linux/doorbell.h>

#include "core/doorbell_core.h"

static unsigned int max_bells = DOORBELL_MAX_BELLS;
module_param(max_bells, uint, 0444);
MODULE_PARM_DESC(max_bells,
		 "bells per open file, 1.." __stringify(DOORBELL_MAX_BELLS)
		 " (default: " __stringify(DOORBELL_MAX_BELLS) ")");

/**
 * struct harness_bell - a bell
 * @poll: the kick poller bound to the bell's eventfd
 * @id: the bell's id in its file
 * @flags: DOORBELL_BELL_COUNT_IN_* mode
 * @rings_eventfd: rings counted that came through the eventfd
 * @rings_ioctl: rings counted that came through DOORBELL_RING
 * @ioctl_pending: DOORBELL_RING rings not yet counted by the worker
 * @wakeups: kick callbacks, i.e. wakeups that consumed rings
 * @worker_runs: runs of the bell's work
 */
struct harness_bell {
	struct doorbell_poll poll;
	u32 id;
	u32 flags;
	atomic64_t rings_eventfd;
	atomic64_t rings_ioctl;
	atomic64_t ioctl_pending;
	atomic64_t wakeups;
	atomic64_t worker_runs;
};

/**
 * struct harness_file - an open /dev/doorbell
 * @dev: the core device: worker, counters, debugfs
 * @bells: the bells by id; lookups under RCU
 * @lock: serializes adding and removing bells
 */
struct harness_file {
	struct doorbell_dev dev;
	struct xarray bells;
	struct mutex lock; /* adding and removing bells */
};

/* COUNT_IN_WAKE: count in the wake function, atomic context. */
static bool harness_kick_count(struct doorbell_poll *poll, u64 count)
{
	struct harness_bell *bell = container_of(poll, struct harness_bell, poll);

	atomic64_inc(&bell->wakeups);
	atomic64_add(count, &bell->rings_eventfd);
	return false;
}

/* COUNT_IN_WORKER: the wake function hands the rings to the worker. */
static bool harness_kick_defer(struct doorbell_poll *poll, u64 count)
{
	struct harness_bell *bell = container_of(poll, struct harness_bell, poll);

	atomic64_inc(&bell->wakeups);
	return true;
}

/* COUNT_IN_WORKER: the worker counts both paths' rings. */
static void harness_bell_work(struct doorbell_work *work)
{
	struct doorbell_poll *poll = doorbell_poll_from_work(work);
	struct harness_bell *bell = container_of(poll, struct harness_bell, poll);

	atomic64_inc(&bell->worker_runs);
	atomic64_add(doorbell_poll_take(poll), &bell->rings_eventfd);
	atomic64_add(atomic64_xchg(&bell->ioctl_pending, 0), &bell->rings_ioctl);
}

/*
 * Read a size-prefixed argument: @ver0 is the size of the first published
 * version, @ksize what this kernel knows.  Smaller than @ver0: -EINVAL;
 * larger than DOORBELL_MAX_ARG_SIZE, or larger than @ksize with non-zero
 * bytes beyond it: -E2BIG.  Fields this kernel knows and the caller did not
 * pass read as zero.  *@usize is set to the caller's size.
 */
static int harness_copy_arg(void *karg, size_t ksize, size_t ver0,
			    const void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > DOORBELL_MAX_ARG_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/* Write back what both sides know; the caller's tail stays as it was. */
static int harness_copy_out(void __user *uarg, const void *karg, size_t ksize,
			    u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

/* Is this eventfd bound to a bell of the file already?  Under hf->lock. */
static bool harness_eventfd_bound(struct harness_file *hf, struct file *efile)
{
	struct harness_bell *bell;
	unsigned long id;

	xa_for_each(&hf->bells, id, bell)
		if (doorbell_poll_match(&bell->poll, efile))
			return true;
	return false;
}

static long harness_add_bell(struct harness_file *hf, void __user *uarg)
{
	struct doorbell_bell arg;
	struct harness_bell *bell;
	struct file *efile;
	u32 usize, id;
	int ret;

	ret = harness_copy_arg(&arg, sizeof(arg), DOORBELL_BELL_SIZE_VER0, uarg,
			       &usize);
	if (ret)
		return ret;
	if (arg.flags & ~DOORBELL_BELL_FLAGS_ALL || arg.reserved)
		return -EINVAL;

	efile = doorbell_eventfd_fget(arg.fd);
	if (IS_ERR(efile))
		return PTR_ERR(efile);

	bell = kzalloc(sizeof(*bell), GFP_KERNEL_ACCOUNT);
	if (!bell) {
		ret = -ENOMEM;
		goto put_file;
	}
	bell->flags = arg.flags;
	if (arg.flags & DOORBELL_BELL_COUNT_IN_WORKER)
		doorbell_poll_init(&bell->poll, &hf->dev, harness_kick_defer,
				   harness_bell_work);
	else
		doorbell_poll_init(&bell->poll, &hf->dev, harness_kick_count,
				   NULL);

	mutex_lock(&hf->lock);
	if (harness_eventfd_bound(hf, efile)) {
		ret = -EBUSY;
		goto unlock;
	}
	/* Reserve the id: lookups see nothing there until the store below. */
	ret = xa_alloc(&hf->bells, &id, NULL, XA_LIMIT(0, max_bells - 1),
		       GFP_KERNEL_ACCOUNT);
	if (ret) {
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto unlock;
	}
	bell->id = id;

	/* Before the poller consumes any ring: a fault must leave no trace. */
	arg.id = id;
	ret = harness_copy_out(uarg, &arg, sizeof(arg), usize);
	if (ret)
		goto release_id;

	ret = doorbell_poll_start(&bell->poll, efile);
	if (ret)
		goto release_id;

	/* A reserved slot needs no memory: this cannot fail. */
	xa_store(&hf->bells, id, bell, GFP_KERNEL);
	mutex_unlock(&hf->lock);
	fput(efile);
	return 0;

release_id:
	xa_release(&hf->bells, id);
unlock:
	mutex_unlock(&hf->lock);
	kfree(bell);
put_file:
	fput(efile);
	return ret;
}

static long harness_ring(struct harness_file *hf, void __user *uarg)
{
	struct doorbell_ring arg;
	struct harness_bell *bell;
	u32 usize;
	int ret;

	ret = harness_copy_arg(&arg, sizeof(arg), DOORBELL_RING_SIZE_VER0, uarg,
			       &usize);
	if (ret)
		return ret;
	if (arg.reserved || !arg.count)
		return -EINVAL;

	rcu_read_lock();
	bell = xa_load(&hf->bells, arg.id);
	if (!bell) {
		rcu_read_unlock();
		return -ENOENT;
	}
	if (bell->flags & DOORBELL_BELL_COUNT_IN_WORKER) {
		atomic64_add(arg.count, &bell->ioctl_pending);
		doorbell_poll_queue(&bell->poll);
	} else {
		atomic64_add(arg.count, &bell->rings_ioctl);
	}
	rcu_read_unlock();
	return 0;
}

static long harness_get_stats(struct harness_file *hf, void __user *uarg)
{
	struct doorbell_stats arg;
	struct harness_bell *bell;
	u32 usize;
	int ret;

	ret = harness_copy_arg(&arg, sizeof(arg), DOORBELL_STATS_SIZE_VER0, uarg,
			       &usize);
	if (ret)
		return ret;

	rcu_read_lock();
	bell = xa_load(&hf->bells, arg.id);
	if (!bell) {
		rcu_read_unlock();
		return -ENOENT;
	}
	arg.flags = bell->flags;
	arg.state = doorbell_poll_active(&bell->poll) ?
		    DOORBELL_BELL_ACTIVE : DOORBELL_BELL_INACTIVE;
	/* Pending first: a ring moves from pending to counted, not back. */
	arg.pending = doorbell_poll_pending(&bell->poll) +
		      atomic64_read(&bell->ioctl_pending);
	arg.rings_eventfd = atomic64_read(&bell->rings_eventfd);
	arg.rings_ioctl = atomic64_read(&bell->rings_ioctl);
	arg.wakeups = atomic64_read(&bell->wakeups);
	arg.worker_runs = atomic64_read(&bell->worker_runs);
	rcu_read_unlock();

	return harness_copy_out(uarg, &arg, sizeof(arg), usize);
}

static long harness_remove_bell(struct harness_file *hf, void __user *uarg)
{
	struct harness_bell *bell;
	struct doorbell_id arg;
	u32 usize;
	int ret;

	ret = harness_copy_arg(&arg, sizeof(arg), DOORBELL_ID_SIZE_VER0, uarg,
			       &usize);
	if (ret)
		return ret;

	mutex_lock(&hf->lock);
	bell = xa_erase(&hf->bells, arg.id);
	mutex_unlock(&hf->lock);
	if (!bell)
		return -ENOENT;

	/* RING may still queue the bell's work until its lookup ends. */
	synchronize_rcu();
	doorbell_poll_stop(&bell->poll);
	kfree(bell);
	return 0;
}

/*
 * Dispatch on type, number and direction, not on the size encoded in @cmd:
 * the argument's size is its first field, so that a later, larger version
 * of a structure keeps its command working.
 */
#define DOORBELL_NR_CMDS	4

/* The direction of each command, by number. */
static const unsigned int harness_cmd_dir[DOORBELL_NR_CMDS] = {
	[_IOC_NR(DOORBELL_ADD_BELL)] = _IOC_DIR(DOORBELL_ADD_BELL),
	[_IOC_NR(DOORBELL_RING)] = _IOC_DIR(DOORBELL_RING),
	[_IOC_NR(DOORBELL_GET_STATS)] = _IOC_DIR(DOORBELL_GET_STATS),
	[_IOC_NR(DOORBELL_REMOVE_BELL)] = _IOC_DIR(DOORBELL_REMOVE_BELL),
};

static long harness_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct harness_file *hf = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (_IOC_TYPE(cmd) != DOORBELL_IOCTL_MAGIC)
		return -ENOTTY;
	if (_IOC_NR(cmd) >= DOORBELL_NR_CMDS ||
	    _IOC_DIR(cmd) != harness_cmd_dir[_IOC_NR(cmd)])
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(DOORBELL_ADD_BELL):
		return harness_add_bell(hf, uarg);
	case _IOC_NR(DOORBELL_RING):
		return harness_ring(hf, uarg);
	case _IOC_NR(DOORBELL_GET_STATS):
		return harness_get_stats(hf, uarg);
	case _IOC_NR(DOORBELL_REMOVE_BELL):
		return harness_remove_bell(hf, uarg);
	default:
		return -ENOTTY;
	}
}

static int harness_open(struct inode *inode, struct file *file)
{
	struct harness_file *hf;
	int ret;

	hf = kzalloc(sizeof(*hf), GFP_KERNEL_ACCOUNT);
	if (!hf)
		return -ENOMEM;

	/* The worker is created here, with the opener's mm. */
	ret = doorbell_dev_init(&hf->dev, "doorbell");
	if (ret) {
		kfree(hf);
		return ret;
	}
	xa_init_flags(&hf->bells, XA_FLAGS_ALLOC);
	mutex_init(&hf->lock);
	file->private_data = hf;
	return stream_open(inode, file);
}

static int harness_release(struct inode *inode, struct file *file)
{
	struct harness_file *hf = file->private_data;
	struct harness_bell *bell;
	unsigned long id;

	/* No ioctl runs: nothing else looks bells up or queues their work. */
	xa_for_each(&hf->bells, id, bell) {
		xa_erase(&hf->bells, id);
		doorbell_poll_stop(&bell->poll);
		kfree(bell);
	}
	xa_destroy(&hf->bells);
	mutex_destroy(&hf->lock);
	doorbell_dev_cleanup(&hf->dev);
	kfree(hf);
	return 0;
}

static const struct file_operations harness_fops = {
	.owner = THIS_MODULE,
	.open = harness_open,
	.release = harness_release,
	.unlocked_ioctl = harness_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice harness_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "doorbell",
	.fops = &harness_fops,
};

static int __init harness_init(void)
{
	if (!max_bells || max_bells > DOORBELL_MAX_BELLS)
		return -EINVAL;
	return misc_register(&harness_misc);
}

static void __exit harness_exit(void)
{
	misc_deregister(&harness_misc);
}

module_init(harness_init);
module_exit(harness_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("doorbell: /dev/doorbell, counts rings that arrive by eventfd or by ioctl");
