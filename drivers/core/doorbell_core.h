/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell core: the in-kernel API shared by the doorbell devices.
 *
 * The core turns an eventfd signal (typically a KVM ioeventfd, i.e. a guest's
 * doorbell write) into work for a kernel consumer without any userspace hop.
 * vhost is the model; this is a small library, not a copy of it.
 *
 * Objects
 *  - struct doorbell_dev: one device instance (the harness makes one per open
 *    file).  It owns one worker thread that runs with the owner's mm (the
 *    process that called doorbell_dev_init()), a debugfs directory
 *    /sys/kernel/debug/doorbell/<name>/ with the device's counters, and the
 *    ids its tracepoints print.
 *  - struct doorbell_work: an item for the device's worker.  Queueing an item
 *    that is already queued is a no-op, so one run may serve many kicks.
 *  - struct doorbell_poll: a kick poller.  It waits on an eventfd's wait queue
 *    with its own wake function.  A counting poller (one with a kick
 *    callback) consumes the eventfd counter on every signal (no ring is lost:
 *    the counts are added up), then calls its kick callback in atomic
 *    context and/or queues its work.  A poller without a kick callback
 *    queues its work on every signal and never reads the counter, as vhost's
 *    pollers do: several of them may share one eventfd (one kick eventfd for
 *    two queues) and each is served.  Of several counting pollers on one
 *    eventfd, the one that runs first takes the rings.  When the eventfd is
 *    released the poller detaches itself and becomes inactive.
 *
 * Contexts
 *  - doorbell_dev_init() in the owner's process context (it creates the
 *    worker with the caller's mm); doorbell_dev_cleanup(), doorbell_dev_flush(),
 *    doorbell_poll_start() and doorbell_poll_stop() in process context, may
 *    sleep.
 *  - doorbell_work_queue() and doorbell_poll_queue() in any context.
 *  - A kick callback runs in atomic context with the eventfd's wait queue
 *    lock held and interrupts off: it must not sleep, must not signal an
 *    eventfd (signal from the worker with doorbell_signal()), and should be
 *    short.
 *  - A work function runs in the device's worker thread, may sleep, and may
 *    access the owner's user memory.  Where the worker is a vhost_task (6.12)
 *    it is a thread of the owner process and dies with it: queued work is
 *    then never run and flushes return at once.  A kthread worker (6.1)
 *    lives until doorbell_dev_cleanup().
 *
 * Teardown: stop every poller (doorbell_poll_stop() unhooks it from the
 * eventfd, flushes the worker and drops the eventfd reference), make sure
 * nothing else queues work, then doorbell_dev_cleanup().
 *
 * Counting (pollers with a kick callback): doorbell_poll_take() returns the
 * rings the wake function handed to the worker and not yet taken; a kick
 * callback that returns false keeps its count for itself.  An EFD_SEMAPHORE
 * eventfd is read one ring at a time up to the drain_batch module parameter
 * per wakeup, the rest is drained by the worker; no ring is lost either way.
 *
 * Observability: tracepoints doorbell:doorbell_kick (with the count, 0 for
 * a poller that does not count),
 * doorbell_hup, doorbell_work_queue, doorbell_work_start, doorbell_work_done;
 * per-device counters kicks, rings, hups, queued, runs and flushes in debugfs.
 *
 * API (kernel-doc at the definitions; all EXPORT_SYMBOL_GPL)
 *	int doorbell_dev_init(struct doorbell_dev *dev, const char *prefix);
 *	void doorbell_dev_cleanup(struct doorbell_dev *dev);
 *	void doorbell_dev_flush(struct doorbell_dev *dev);
 *	bool doorbell_dev_owner_dying(struct doorbell_dev *dev);
 *	void doorbell_work_init(struct doorbell_work *work, doorbell_work_fn_t fn);
 *	bool doorbell_work_queue(struct doorbell_dev *dev, struct doorbell_work *work);
 *	struct file *doorbell_eventfd_fget(int fd);
 *	void doorbell_poll_init(struct doorbell_poll *poll, struct doorbell_dev *dev,
 *				doorbell_kick_fn_t kick, doorbell_work_fn_t fn);
 *	int doorbell_poll_start(struct doorbell_poll *poll, struct file *file);
 *	void doorbell_poll_stop(struct doorbell_poll *poll);
 *	void doorbell_poll_flush(struct doorbell_poll *poll);
 *	bool doorbell_poll_queue(struct doorbell_poll *poll);
 *	u64 doorbell_poll_take(struct doorbell_poll *poll);
 *	u64 doorbell_poll_pending(const struct doorbell_poll *poll);
 *	bool doorbell_poll_active(const struct doorbell_poll *poll);
 *	bool doorbell_poll_match(const struct doorbell_poll *poll, struct file *file);
 *	void doorbell_signal(struct eventfd_ctx *ctx);
 *
 * Typical use (see drivers/harness.c):
 *	open:	doorbell_dev_init(&d->dev, "mydev");
 *	bind:	file = doorbell_eventfd_fget(fd);
 *		doorbell_poll_init(&q->poll, &d->dev, NULL, my_handle_kick);
 *		doorbell_poll_start(&q->poll, file); fput(file);
 *	work:	my_handle_kick(work) { poll = doorbell_poll_from_work(work); ... }
 *	close:	doorbell_poll_stop(&q->poll); doorbell_dev_cleanup(&d->dev);
 */
#ifndef _DOORBELL_CORE_H
#define _DOORBELL_CORE_H

#include <linux/atomic.h>
#include <linux/llist.h>
#include <linux/poll.h>
#include <linux/types.h>
#include <linux/wait.h>

struct dentry;
struct doorbell_dev;
struct doorbell_poll;
struct doorbell_work;
struct doorbell_worker;
struct eventfd_ctx;
struct file;
struct mm_struct;

/**
 * typedef doorbell_work_fn_t - a work function, run by the device's worker
 * @work: the work item that was queued
 */
typedef void (*doorbell_work_fn_t)(struct doorbell_work *work);

/**
 * typedef doorbell_kick_fn_t - a kick callback, run by the wake function
 * @poll: the poller whose eventfd was signalled
 * @count: rings consumed from the eventfd (at least 1)
 *
 * Runs in atomic context under the eventfd's wait queue lock.
 *
 * Return: true to hand @count to the worker (it is added to the poller's
 * pending count and the poller's work is queued), false if the callback
 * consumed it.
 */
typedef bool (*doorbell_kick_fn_t)(struct doorbell_poll *poll, u64 count);

/* struct doorbell_work.flags bits */
#define DOORBELL_WORK_QUEUED	0

/**
 * struct doorbell_work - an item for a device's worker
 * @node: link in the worker's queue
 * @fn: the function the worker calls
 * @flags: DOORBELL_WORK_QUEUED while the item is on the queue
 */
struct doorbell_work {
	struct llist_node node;
	doorbell_work_fn_t fn;
	unsigned long flags;
};

/**
 * struct doorbell_dev_stats - per-device counters, shown in debugfs
 * @kicks: wakeups that consumed at least one ring from an eventfd
 * @rings: rings consumed from eventfds
 * @hups: eventfds released while bound
 * @queued: work items queued (not counting already-queued ones)
 * @runs: work items run by the worker
 * @flushes: worker flushes
 */
struct doorbell_dev_stats {
	atomic64_t kicks;
	atomic64_t rings;
	atomic64_t hups;
	atomic64_t queued;
	atomic64_t runs;
	atomic64_t flushes;
};

#define DOORBELL_DEV_NAME_LEN	32

/**
 * struct doorbell_dev - a doorbell device instance
 * @worker: the worker thread (private to the core)
 * @mm: the owner's mm, referenced for the device's lifetime
 * @debugfs: the device's debugfs directory; devices may add files to it
 * @stats: counters
 * @id: unique among live devices, printed by the tracepoints
 * @name: "<prefix>-<id>", the debugfs directory and the worker's name
 *
 * All fields are read-only for the device after doorbell_dev_init().
 */
struct doorbell_dev {
	struct doorbell_worker *worker;
	struct mm_struct *mm;
	struct dentry *debugfs;
	struct doorbell_dev_stats stats;
	unsigned int id;
	char name[DOORBELL_DEV_NAME_LEN];
};

/* struct doorbell_poll.flags bits */
#define DOORBELL_POLL_ACTIVE	0	/* hooked to a live eventfd */
#define DOORBELL_POLL_DRAIN	1	/* the worker must drain the eventfd */
#define DOORBELL_POLL_BOUND	2	/* between start and stop */

/**
 * struct doorbell_poll - a kick poller bound to an eventfd
 * @wait: our entry in the eventfd's wait queue
 * @table: the poll table that hooks @wait in through vfs_poll()
 * @wqh: the eventfd's wait queue head, valid while @ctx is held
 * @ctx: the eventfd, referenced between start and stop
 * @dev: the device whose worker runs @work
 * @work: queued on kicks that the kick callback hands to the worker
 * @fn: the owner's work function
 * @kick: the owner's kick callback, may be NULL
 * @pending: rings handed to the worker and not yet taken
 * @flags: DOORBELL_POLL_* bits
 *
 * Fields are private to the core; use the doorbell_poll_*() functions.
 */
struct doorbell_poll {
	wait_queue_entry_t wait;
	poll_table table;
	wait_queue_head_t *wqh;
	struct eventfd_ctx *ctx;
	struct doorbell_dev *dev;
	struct doorbell_work work;
	doorbell_work_fn_t fn;
	doorbell_kick_fn_t kick;
	atomic64_t pending;
	unsigned long flags;
};

/* Devices and their worker */
int doorbell_dev_init(struct doorbell_dev *dev, const char *prefix);
void doorbell_dev_cleanup(struct doorbell_dev *dev);
void doorbell_dev_flush(struct doorbell_dev *dev);
bool doorbell_dev_owner_dying(struct doorbell_dev *dev);

/* Work */
void doorbell_work_init(struct doorbell_work *work, doorbell_work_fn_t fn);
bool doorbell_work_queue(struct doorbell_dev *dev, struct doorbell_work *work);

/* Kick pollers */
struct file *doorbell_eventfd_fget(int fd);
void doorbell_poll_init(struct doorbell_poll *poll, struct doorbell_dev *dev,
			doorbell_kick_fn_t kick, doorbell_work_fn_t fn);
int doorbell_poll_start(struct doorbell_poll *poll, struct file *file);
void doorbell_poll_stop(struct doorbell_poll *poll);
void doorbell_poll_flush(struct doorbell_poll *poll);
bool doorbell_poll_queue(struct doorbell_poll *poll);
u64 doorbell_poll_take(struct doorbell_poll *poll);
u64 doorbell_poll_pending(const struct doorbell_poll *poll);
bool doorbell_poll_active(const struct doorbell_poll *poll);
bool doorbell_poll_match(const struct doorbell_poll *poll, struct file *file);

/* Calls back into the guest: signal an eventfd from any context */
void doorbell_signal(struct eventfd_ctx *ctx);

/**
 * doorbell_poll_from_work - the poller a poll work function was queued for
 * @work: the work passed to a work function given to doorbell_poll_init()
 *
 * Return: the poller.
 */
static inline struct doorbell_poll *doorbell_poll_from_work(struct doorbell_work *work)
{
	return container_of(work, struct doorbell_poll, work);
}

#endif /* _DOORBELL_CORE_H */
