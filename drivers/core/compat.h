/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell core: every kernel-version difference lives here, nowhere else.
 *
 *  - The worker thread: a vhost_task (a user worker thread cloned from the
 *    owner, so it has the owner's mm and is accounted to it) on kernels with
 *    the 6.12 vhost_task API; else a kthread that adopts the owner's mm with
 *    kthread_use_mm() and joins the owner's cgroups.
 *  - eventfd_signal() lost its count argument in 6.8.
 *  - Block device claims: bd_prepare_to_claim() takes holder ops since 6.5,
 *    and an O_EXCL opener of a device file is told apart differently.
 */
#ifndef _DOORBELL_COMPAT_H
#define _DOORBELL_COMPAT_H

#include <linux/blkdev.h>
#include <linux/err.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/version.h>

/*
 * Kernel feature levels by release.  Out-of-tree compatibility is this
 * header's only job; an in-tree copy would lose the #if blocks below.
 */
#define DOORBELL_KERNEL(major, minor)	((major) * 256 + (minor))
#define DOORBELL_KERNEL_AT_LEAST(major, minor)				\
	(DOORBELL_KERNEL(LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL) >=	\
	 DOORBELL_KERNEL(major, minor))

/*
 * vhost_task_create(fn, handle_sigkill, arg, name) with fn returning bool is
 * the 6.12 signature; older kernels take the kthread path, as do kernels
 * without CONFIG_VHOST_TASK (it is selected by VHOST only).
 */
#if IS_ENABLED(CONFIG_VHOST_TASK) && DOORBELL_KERNEL_AT_LEAST(6, 12)
#define DOORBELL_HAVE_VHOST_TASK	1
#else
#define DOORBELL_HAVE_VHOST_TASK	0
#endif

/**
 * struct doorbell_task - the thread of a worker
 * @vtsk: the vhost_task (vhost_task kernels)
 * @task: the kthread (other kernels)
 * @fn: the loop body; returns true if it did work
 * @data: @fn's argument
 * @mm: the owner's mm, adopted by the kthread
 * @owner: the thread that created the kthread (referenced), whose process
 *	is the owner
 *
 * The thread calls the function given to doorbell_task_create() in a loop,
 * with the task state set to TASK_INTERRUPTIBLE, and sleeps when it did no
 * work, until doorbell_task_stop().  A vhost_task dies with its owner
 * process; then the killed callback given to doorbell_task_create() runs in
 * the thread.
 */
struct doorbell_task {
#if DOORBELL_HAVE_VHOST_TASK
	struct vhost_task *vtsk;
#else
	struct task_struct *task;
	bool (*fn)(void *data);
	void *data;
	struct mm_struct *mm;
	struct task_struct *owner;
#endif
};

#if DOORBELL_HAVE_VHOST_TASK

#include <linux/sched/vhost_task.h>

static inline int doorbell_task_create(struct doorbell_task *t,
				       bool (*fn)(void *data),
				       void (*killed)(void *data), void *data,
				       struct mm_struct *mm, const char *name)
{
	struct vhost_task *vtsk;

	/* 6.12.0 returns NULL on failure, later stable releases an ERR_PTR. */
	vtsk = vhost_task_create(fn, killed, data, name);
	if (IS_ERR_OR_NULL(vtsk))
		return vtsk ? PTR_ERR(vtsk) : -ENOMEM;
	t->vtsk = vtsk;
	return 0;
}

static inline void doorbell_task_start(struct doorbell_task *t)
{
	vhost_task_start(t->vtsk);
}

static inline void doorbell_task_wake(struct doorbell_task *t)
{
	vhost_task_wake(t->vtsk);
}

static inline void doorbell_task_stop(struct doorbell_task *t)
{
	vhost_task_stop(t->vtsk);
}

/* In the thread: the vhost_task gets the owner's fatal signals. */
static inline bool doorbell_task_owner_dying(struct doorbell_task *t)
{
	return fatal_signal_pending(current);
}

#else /* !DOORBELL_HAVE_VHOST_TASK */

#include <linux/cgroup.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>

static inline int doorbell_task_kthread(void *arg)
{
	struct doorbell_task *t = arg;

	kthread_use_mm(t->mm);
	for (;;) {
		/* Pairs with the barrier in kthread_stop()'s wakeup. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		if (!t->fn(t->data))
			schedule();
	}
	kthread_unuse_mm(t->mm);
	return 0;
}

static inline int doorbell_task_create(struct doorbell_task *t,
				       bool (*fn)(void *data),
				       void (*killed)(void *data), void *data,
				       struct mm_struct *mm, const char *name)
{
	struct task_struct *task;
	int ret;

	t->fn = fn;
	t->data = data;
	t->mm = mm;
	task = kthread_create(doorbell_task_kthread, t, "%s", name);
	if (IS_ERR(task))
		return PTR_ERR(task);
	/* Account the worker's CPU time to the owner, as a vhost_task is. */
	ret = cgroup_attach_task_all(current, task);
	if (ret) {
		kthread_stop(task);
		return ret;
	}
	t->task = task;
	t->owner = get_task_struct(current);
	return 0;
}

static inline void doorbell_task_start(struct doorbell_task *t)
{
	wake_up_process(t->task);
}

static inline void doorbell_task_wake(struct doorbell_task *t)
{
	wake_up_process(t->task);
}

static inline void doorbell_task_stop(struct doorbell_task *t)
{
	kthread_stop(t->task);
	put_task_struct(t->owner);
}

/*
 * A kthread gets no signal of the owner's: it looks at the owner process
 * instead, which a fatal signal or exit_group() marks as exiting.
 */
static inline bool doorbell_task_owner_dying(struct doorbell_task *t)
{
	return READ_ONCE(t->owner->signal->flags) & SIGNAL_GROUP_EXIT;
}

#endif /* DOORBELL_HAVE_VHOST_TASK */

static inline void doorbell_eventfd_signal(struct eventfd_ctx *ctx)
{
/* 6.8 dropped the count: it always adds one. */
#if DOORBELL_KERNEL_AT_LEAST(6, 8)
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * Claim a block device for a moment (bd_abort_claiming() ends it), as the
 * kernel's truncate_bdev_range() does around a truncation of its pages.
 */
static inline int doorbell_bd_prepare_to_claim(struct block_device *bdev,
					       void *holder)
{
/* 6.5 added the holder ops: none here. */
#if DOORBELL_KERNEL_AT_LEAST(6, 5)
	return bd_prepare_to_claim(bdev, holder, NULL);
#else
	return bd_prepare_to_claim(bdev, holder);
#endif
}

/*
 * Is @file, a block device file, an O_EXCL opener (it holds the device
 * exclusively)?  Before 6.5 its f_mode has FMODE_EXCL; since 6.9 its
 * private_data is the holder, set for O_EXCL opens only.  In between (where
 * private_data may be set for every open) it is not told: false, so the
 * caller does what it does for a device someone else holds, the safe side.
 */
static inline bool doorbell_bdev_file_excl(struct file *file)
{
#if DOORBELL_KERNEL_AT_LEAST(6, 9)
	return file->private_data;
#else
#if DOORBELL_KERNEL_AT_LEAST(6, 5)
	return false;
#else
	return file->f_mode & FMODE_EXCL;
#endif
#endif
}

#endif /* _DOORBELL_COMPAT_H */
