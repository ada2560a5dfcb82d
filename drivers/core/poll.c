// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: the kick poller.
 *
 * A poller hooks its own wait queue entry into an eventfd's wait queue
 * through vfs_poll(), as vhost_poll and KVM's irqfd do.  Its wake function
 * runs in the signaller's context (for a KVM ioeventfd: the vCPU thread,
 * right in the guest's exit) with the wait queue lock held and interrupts
 * off.  On EPOLLIN a counting poller (one with a kick callback, the
 * harness's bells) consumes the eventfd counter, so no ring is lost and none
 * is counted twice; a poller without a kick callback (a virtqueue's) only
 * queues its work and leaves the counter alone, as vhost does, so that any
 * number of them can share one eventfd and each is served on every signal.
 * On EPOLLHUP (the eventfd file is released) it unhooks itself and the
 * poller goes inactive.  The eventfd context stays referenced until
 * doorbell_poll_stop(), from process context.
 *
 * Locking: the eventfd's wait queue lock (poll->wqh->lock) protects the
 * hooked state (poll->wait.entry) and DOORBELL_POLL_ACTIVE; it is held by
 * every reader of the eventfd counter here.  Queueing the poller's work from
 * the wake path happens under that lock too, so once doorbell_poll_stop()
 * has unhooked the entry one flush of the worker is enough.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "compat.h"
#include "doorbell_core.h"
#include "trace.h"

static unsigned int drain_batch = 64;
module_param(drain_batch, uint, 0644);
MODULE_PARM_DESC(drain_batch,
		 "EFD_SEMAPHORE eventfd reads per wakeup before the worker drains the rest (default: 64)");

/*
 * Consume the eventfd counter and hand the rings on.  Called with the wait
 * queue lock held, from the wake function (@nested: we are inside a wakeup of
 * this very queue) or from process context (bind, drain).
 */
static void doorbell_poll_consume(struct doorbell_poll *poll, bool nested)
{
	unsigned int batch = max(READ_ONCE(drain_batch), 1U);
	struct doorbell_dev *dev = poll->dev;
	unsigned int reads = 0;
	bool queue = false;
	u64 cnt, total = 0;

	lockdep_assert_held(&poll->wqh->lock);

	/*
	 * One read takes the whole counter; an EFD_SEMAPHORE eventfd gives
	 * one ring per read, and cannot be told apart when it gives exactly
	 * one.  Read again while we get 1, up to the batch.
	 */
	do {
		eventfd_ctx_do_read(poll->ctx, &cnt);
		total += cnt;
	} while (cnt == 1 && ++reads < batch);

	if (cnt == 1) {
		/* Maybe more: the worker goes on, in bounded steps. */
		set_bit(DOORBELL_POLL_DRAIN, &poll->flags);
		queue = true;
	}

	if (total) {
		atomic64_inc(&dev->stats.kicks);
		atomic64_add(total, &dev->stats.rings);
		trace_doorbell_kick(poll, total);
		if (!poll->kick || poll->kick(poll, total)) {
			atomic64_add(total, &poll->pending);
			queue = true;
		}
		/*
		 * As a read(2) does: writers may wait for room.  Not from the
		 * wake function, which runs inside a walk of this queue.
		 */
		if (!nested && waitqueue_active(poll->wqh))
			wake_up_locked_poll(poll->wqh, EPOLLOUT);
	}

	if (queue)
		doorbell_work_queue(dev, &poll->work);
}

/*
 * A signal for a poller without a kick callback: queue its work and leave
 * the eventfd counter alone, as vhost does, so that every poller of the
 * eventfd (the kicks of several queues, say) is woken by every signal.
 */
static void doorbell_poll_notify(struct doorbell_poll *poll)
{
	atomic64_inc(&poll->dev->stats.kicks);
	trace_doorbell_kick(poll, 0);
	doorbell_work_queue(poll->dev, &poll->work);
}

/* The wake function: the eventfd's wait queue lock is held, irqs are off. */
static int doorbell_poll_wake(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct doorbell_poll *poll = container_of(wait, struct doorbell_poll, wait);
	__poll_t mask = key_to_poll(key);

	if (mask & EPOLLIN) {
		if (poll->kick)
			doorbell_poll_consume(poll, true);
		else
			doorbell_poll_notify(poll);
	}

	if (mask & EPOLLHUP) {
		/*
		 * The eventfd file is being released.  Unhook under the lock
		 * we hold (removing the entry being woken is safe); the
		 * context reference is dropped by doorbell_poll_stop().
		 */
		list_del_init(&wait->entry);
		clear_bit(DOORBELL_POLL_ACTIVE, &poll->flags);
		atomic64_inc(&poll->dev->stats.hups);
		trace_doorbell_hup(poll);
	}
	return 0;
}

static void doorbell_poll_queue_proc(struct file *file, wait_queue_head_t *wqh,
				     poll_table *pt)
{
	struct doorbell_poll *poll = container_of(pt, struct doorbell_poll, table);

	/* An eventfd has one wait queue. */
	if (WARN_ON_ONCE(poll->wqh))
		return;
	poll->wqh = wqh;
	add_wait_queue(wqh, &poll->wait);
}

/* Drain an EFD_SEMAPHORE eventfd, one batch per run of the poller's work. */
static void doorbell_poll_drain(struct doorbell_poll *poll)
{
	unsigned long flags;

	spin_lock_irqsave(&poll->wqh->lock, flags);
	if (test_bit(DOORBELL_POLL_BOUND, &poll->flags))
		doorbell_poll_consume(poll, false);
	spin_unlock_irqrestore(&poll->wqh->lock, flags);
}

static void doorbell_poll_work(struct doorbell_work *work)
{
	struct doorbell_poll *poll = doorbell_poll_from_work(work);

	if (test_and_clear_bit(DOORBELL_POLL_DRAIN, &poll->flags))
		doorbell_poll_drain(poll);
	if (poll->fn)
		poll->fn(work);
}

/**
 * doorbell_eventfd_fget() - look up an eventfd by descriptor
 * @fd: a descriptor of the calling process
 *
 * Return: the eventfd's file, with a reference the caller drops with fput();
 * ERR_PTR(-EBADF) if @fd is not an open descriptor, ERR_PTR(-EINVAL) if it
 * is not an eventfd.
 */
struct file *doorbell_eventfd_fget(int fd)
{
	struct eventfd_ctx *ctx;
	struct file *file;

	if (fd < 0)
		return ERR_PTR(-EBADF);
	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	ctx = eventfd_ctx_fileget(file);
	if (IS_ERR(ctx)) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	eventfd_ctx_put(ctx);
	return file;
}
EXPORT_SYMBOL_GPL(doorbell_eventfd_fget);

/**
 * doorbell_poll_init() - initialize a kick poller
 * @poll: the poller
 * @dev: the device whose worker runs @fn
 * @kick: called in atomic context with the rings of each signal; or NULL
 *	for a poller that does not count: its work is queued on every signal,
 *	the eventfd counter is left alone and doorbell_poll_take() gives 0
 * @fn: the work function for rings handed to the worker (and for
 *	doorbell_poll_queue()), or NULL; it finds @poll with
 *	doorbell_poll_from_work() and the rings with doorbell_poll_take()
 */
void doorbell_poll_init(struct doorbell_poll *poll, struct doorbell_dev *dev,
			doorbell_kick_fn_t kick, doorbell_work_fn_t fn)
{
	init_waitqueue_func_entry(&poll->wait, doorbell_poll_wake);
	INIT_LIST_HEAD(&poll->wait.entry);
	init_poll_funcptr(&poll->table, doorbell_poll_queue_proc);
	poll->wqh = NULL;
	poll->ctx = NULL;
	poll->dev = dev;
	doorbell_work_init(&poll->work, doorbell_poll_work);
	poll->fn = fn;
	poll->kick = kick;
	atomic64_set(&poll->pending, 0);
	poll->flags = 0;
}
EXPORT_SYMBOL_GPL(doorbell_poll_init);

/**
 * doorbell_poll_start() - bind a poller to an eventfd and start polling
 * @poll: an initialized poller, not started
 * @file: the eventfd; the caller holds a reference for the duration of the
 *	call only (the poller keeps the eventfd context, not the file, so
 *	closing the eventfd detaches the poller)
 *
 * Process context.  Kicks may be delivered before this returns: the kick
 * callback and work function must be ready.  Rings signalled before the call
 * are consumed and delivered too.
 *
 * Return: 0, -EINVAL if @file is not an eventfd, -EBUSY if @poll is started.
 */
int doorbell_poll_start(struct doorbell_poll *poll, struct file *file)
{
	struct eventfd_ctx *ctx;
	unsigned long flags;
	__poll_t mask;

	if (poll->ctx)
		return -EBUSY;
	ctx = eventfd_ctx_fileget(file);
	if (IS_ERR(ctx))
		return -EINVAL;

	poll->ctx = ctx;
	poll->wqh = NULL;
	set_bit(DOORBELL_POLL_BOUND, &poll->flags);
	set_bit(DOORBELL_POLL_ACTIVE, &poll->flags);

	/* Hooks poll->wait in: from here on the wake function may run. */
	mask = vfs_poll(file, &poll->table);
	if (WARN_ON_ONCE(!poll->wqh)) {
		poll->flags = 0;
		poll->ctx = NULL;
		eventfd_ctx_put(ctx);
		return -EINVAL;
	}

	/* Signalled before we were hooked in: nobody woke us for that. */
	if (mask & EPOLLIN) {
		spin_lock_irqsave(&poll->wqh->lock, flags);
		/* Not if the eventfd was released meanwhile. */
		if (!list_empty(&poll->wait.entry)) {
			if (poll->kick)
				doorbell_poll_consume(poll, false);
			else
				doorbell_poll_notify(poll);
		}
		spin_unlock_irqrestore(&poll->wqh->lock, flags);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(doorbell_poll_start);

/**
 * doorbell_poll_stop() - stop a poller and unbind it from its eventfd
 * @poll: the poller; nothing is done if it is not started
 *
 * Process context; sleeps.  Unhooks the poller from the eventfd's wait queue
 * under its lock (no wake function runs on @poll once that is done), flushes
 * the worker so the poller's queued work has run, and drops the eventfd
 * reference.  The caller must not queue @poll's work meanwhile or later;
 * then @poll may be freed or started again.  Rings handed to the worker and
 * not taken stay in the pending count.
 */
void doorbell_poll_stop(struct doorbell_poll *poll)
{
	unsigned long flags;

	if (!poll->ctx)
		return;

	spin_lock_irqsave(&poll->wqh->lock, flags);
	if (!list_empty(&poll->wait.entry))
		list_del_init(&poll->wait.entry);
	clear_bit(DOORBELL_POLL_ACTIVE, &poll->flags);
	clear_bit(DOORBELL_POLL_BOUND, &poll->flags);
	spin_unlock_irqrestore(&poll->wqh->lock, flags);

	/* Anything the wake path queued was queued under the lock: before. */
	doorbell_dev_flush(poll->dev);

	clear_bit(DOORBELL_POLL_DRAIN, &poll->flags);
	eventfd_ctx_put(poll->ctx);
	poll->ctx = NULL;
	poll->wqh = NULL;
}
EXPORT_SYMBOL_GPL(doorbell_poll_stop);

/**
 * doorbell_poll_flush() - wait for a poller's queued work
 * @poll: the poller
 *
 * Process context; sleeps.  See doorbell_dev_flush().
 */
void doorbell_poll_flush(struct doorbell_poll *poll)
{
	doorbell_dev_flush(poll->dev);
}
EXPORT_SYMBOL_GPL(doorbell_poll_flush);

/**
 * doorbell_poll_queue() - queue a poller's work as a kick would
 * @poll: an initialized poller, started or not
 *
 * Any context.  For kicks that arrive by other means than the eventfd.
 *
 * Return: true if the work was queued, false if it was queued already.
 */
bool doorbell_poll_queue(struct doorbell_poll *poll)
{
	return doorbell_work_queue(poll->dev, &poll->work);
}
EXPORT_SYMBOL_GPL(doorbell_poll_queue);

/**
 * doorbell_poll_take() - take the rings handed to the worker
 * @poll: the poller
 *
 * Any context, normally the poller's work function.
 *
 * Return: the rings handed over since the last call.
 */
u64 doorbell_poll_take(struct doorbell_poll *poll)
{
	return atomic64_xchg(&poll->pending, 0);
}
EXPORT_SYMBOL_GPL(doorbell_poll_take);

/**
 * doorbell_poll_pending() - rings handed to the worker and not taken
 * @poll: the poller
 *
 * Return: the count, a snapshot.
 */
u64 doorbell_poll_pending(const struct doorbell_poll *poll)
{
	return atomic64_read(&poll->pending);
}
EXPORT_SYMBOL_GPL(doorbell_poll_pending);

/**
 * doorbell_poll_active() - is the poller hooked to a live eventfd
 * @poll: the poller
 *
 * Return: true between doorbell_poll_start() and either doorbell_poll_stop()
 * or the release of the eventfd file, a snapshot.
 */
bool doorbell_poll_active(const struct doorbell_poll *poll)
{
	return test_bit(DOORBELL_POLL_ACTIVE, &poll->flags);
}
EXPORT_SYMBOL_GPL(doorbell_poll_active);

/**
 * doorbell_poll_match() - is a poller bound to this eventfd
 * @poll: the poller
 * @file: any file
 *
 * Process context; the caller serializes against doorbell_poll_start() and
 * doorbell_poll_stop() on @poll.  The eventfd itself is compared, so a dup()
 * of the descriptor matches and a released eventfd cannot be mistaken for a
 * new one.
 *
 * Return: true if @file is the eventfd @poll is bound to.
 */
bool doorbell_poll_match(const struct doorbell_poll *poll, struct file *file)
{
	struct eventfd_ctx *ctx;
	bool match;

	if (!poll->ctx)
		return false;
	ctx = eventfd_ctx_fileget(file);
	if (IS_ERR(ctx))
		return false;
	match = ctx == poll->ctx;
	eventfd_ctx_put(ctx);
	return match;
}
EXPORT_SYMBOL_GPL(doorbell_poll_match);

/**
 * doorbell_signal() - signal an eventfd once
 * @ctx: the eventfd, e.g. a call eventfd wired to a KVM irqfd
 *
 * Any context except a kick callback (an eventfd wakeup must not signal an
 * eventfd: eventfd_signal() refuses with a warning).
 */
void doorbell_signal(struct eventfd_ctx *ctx)
{
	trace_doorbell_call(ctx);
	doorbell_eventfd_signal(ctx);
}
EXPORT_SYMBOL_GPL(doorbell_signal);
