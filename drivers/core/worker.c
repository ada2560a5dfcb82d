// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: the per-device worker.
 *
 * One thread per device runs the device's work items in queueing order.  The
 * queue is a lock-free llist: queueing is an atomic bit test plus an
 * llist_add() and a wakeup, so it can be done from a wait queue's wake
 * function.  The thread runs with the owner's mm (see compat.h).
 */
#include <linux/completion.h>
#include <linux/llist.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "compat.h"
#include "doorbell_core.h"
#include "internal.h"
#include "trace.h"

/**
 * struct doorbell_worker - a device's worker thread and its queue
 * @task: the thread
 * @dev: the device
 * @list: queued work items, newest first
 * @mutex: serializes flushes with the killed callback
 * @killed: the owner was killed and the thread is gone or going; set under
 *	@mutex, read under RCU by doorbell_work_queue()
 * @spin: the last run did work, so the next may busy-poll (worker only)
 * @polling: the worker is busy-polling @list: queueing needs no wakeup
 */
struct doorbell_worker {
	struct doorbell_task task;
	struct doorbell_dev *dev;
	struct llist_head list;
	struct mutex mutex; /* flushes vs. the killed callback */
	bool killed;
	bool spin;
	bool polling;
};

#define DOORBELL_POLL_US_MAX	1000
static unsigned int poll_us;
module_param(poll_us, uint, 0644);
MODULE_PARM_DESC(poll_us,
		 "after running work a worker busy-polls its queue up to this many microseconds (at most 1000) before it sleeps, so that kicks in quick succession need no wakeup; costs CPU time (default: 0, sleep at once)");

/*
 * Busy-poll the queue after a run that did work.  While @polling is set,
 * doorbell_work_queue() adds to the queue without waking the thread: the
 * wakeup is what a kick costs the vCPU that rings, and it is saved.  Both
 * sides order their write before their read with a full barrier (the
 * llist_add() cmpxchg there, smp_mb() here), so an item queued as the poll
 * ends is either seen by the final check or followed by a wakeup.
 */
static struct llist_node *doorbell_worker_poll(struct doorbell_worker *worker)
{
	unsigned int us = min_t(unsigned int, READ_ONCE(poll_us),
				DOORBELL_POLL_US_MAX);
	struct llist_node *node = NULL;
	u64 end;

	if (!us)
		return NULL;
	end = local_clock() + (u64)us * NSEC_PER_USEC;
	WRITE_ONCE(worker->polling, true);
	/* Set @polling before reading the queue; see above. */
	smp_mb();
	do {
		if (!llist_empty(&worker->list))
			break;
		cpu_relax();
	} while (local_clock() < end && !need_resched() &&
		 !signal_pending(current));
	WRITE_ONCE(worker->polling, false);
	/* Clear @polling before the final read: a queuer then wakes us. */
	smp_mb();
	if (!llist_empty(&worker->list))
		node = llist_del_all(&worker->list);
	return node;
}

/* Run the queued items, oldest first; false if there were none. */
static bool doorbell_worker_run(void *data)
{
	struct doorbell_worker *worker = data;
	struct doorbell_dev *dev = worker->dev;
	struct doorbell_work *work, *next;
	struct llist_node *node;

	node = llist_del_all(&worker->list);
	if (!node && worker->spin)
		node = doorbell_worker_poll(worker);
	worker->spin = false;
	if (!node)
		return false;

	__set_current_state(TASK_RUNNING);
	node = llist_reverse_order(node);
	llist_for_each_entry_safe(work, next, node, node) {
		doorbell_work_fn_t fn = work->fn;

		/* From here on the item may be queued again, even as it runs. */
		clear_bit(DOORBELL_WORK_QUEUED, &work->flags);
		/*
		 * Order the clear before everything fn() reads: a kick that
		 * finds the bit clear is seen by this run or the next one.
		 * Pairs with test_and_set_bit() in doorbell_work_queue().
		 */
		smp_mb__after_atomic();
		trace_doorbell_work_start(dev, work, fn);
		fn(work);
		trace_doorbell_work_done(dev, work, fn);
		atomic64_inc(&dev->stats.runs);
		cond_resched();
	}
	worker->spin = true;
	return true;
}

/*
 * The owner process was killed and the vhost_task exits: from now on nothing
 * is queued and nobody wakes the thread (a completion, a shared kick eventfd
 * or an ioctl from a process the device was passed to may still try); wait
 * until every queuer that did not see @killed is done, then run what is
 * queued (flushes waiting included).  Later flushes return at once.
 */
static void doorbell_worker_killed(void *data)
{
	struct doorbell_worker *worker = data;

	mutex_lock(&worker->mutex);
	WRITE_ONCE(worker->killed, true);
	synchronize_rcu();
	worker->spin = false;
	doorbell_worker_run(worker);
	mutex_unlock(&worker->mutex);
}

int doorbell_worker_create(struct doorbell_dev *dev)
{
	struct doorbell_worker *worker;
	int ret;

	worker = kzalloc(sizeof(*worker), GFP_KERNEL);
	if (!worker)
		return -ENOMEM;
	worker->dev = dev;
	init_llist_head(&worker->list);
	mutex_init(&worker->mutex);

	ret = doorbell_task_create(&worker->task, doorbell_worker_run,
				   doorbell_worker_killed, worker, dev->mm,
				   dev->name);
	if (ret) {
		mutex_destroy(&worker->mutex);
		kfree(worker);
		return ret;
	}
	dev->worker = worker;
	doorbell_task_start(&worker->task);
	return 0;
}

void doorbell_worker_destroy(struct doorbell_dev *dev)
{
	struct doorbell_worker *worker = dev->worker;

	mutex_lock(&worker->mutex);
	/* Work queued after the last flush would never run: a device bug. */
	WARN_ON_ONCE(!worker->killed && !llist_empty(&worker->list));
	mutex_unlock(&worker->mutex);

	doorbell_task_stop(&worker->task);
	mutex_destroy(&worker->mutex);
	kfree(worker);
	dev->worker = NULL;
}

/**
 * doorbell_work_init() - initialize a work item
 * @work: the item
 * @fn: the function the device's worker calls for it
 */
void doorbell_work_init(struct doorbell_work *work, doorbell_work_fn_t fn)
{
	work->node.next = NULL;
	work->fn = fn;
	work->flags = 0;
}
EXPORT_SYMBOL_GPL(doorbell_work_init);

/**
 * doorbell_work_queue() - queue a work item on a device's worker
 * @dev: the device
 * @work: the item, initialized with doorbell_work_init()
 *
 * Any context.  If @work is queued already it is not queued twice: the one
 * run serves both callers, as it starts after this call.  Everything the
 * caller wrote before this call is visible to @work's function.  Once the
 * owner was killed (a vhost_task worker) nothing is queued any more.
 *
 * Return: true if @work was queued, false if it was queued already or the
 * worker is gone.
 */
bool doorbell_work_queue(struct doorbell_dev *dev, struct doorbell_work *work)
{
	struct doorbell_worker *worker = dev->worker;
	bool queued = false;

	/* The killed callback waits for us before the thread goes. */
	rcu_read_lock();
	if (READ_ONCE(worker->killed))
		goto out;
	/* Fully ordered; pairs with the barrier in doorbell_worker_run(). */
	if (test_and_set_bit(DOORBELL_WORK_QUEUED, &work->flags))
		goto out;

	trace_doorbell_work_queue(dev, work, work->fn);
	atomic64_inc(&dev->stats.queued);
	llist_add(&work->node, &worker->list);
	/* Fully ordered llist_add(); pairs with doorbell_worker_poll(). */
	if (!READ_ONCE(worker->polling))
		doorbell_task_wake(&worker->task);
	queued = true;
out:
	rcu_read_unlock();
	return queued;
}
EXPORT_SYMBOL_GPL(doorbell_work_queue);

struct doorbell_flush {
	struct doorbell_work work;
	struct completion done;
};

static void doorbell_flush_fn(struct doorbell_work *work)
{
	struct doorbell_flush *flush = container_of(work, struct doorbell_flush, work);

	complete(&flush->done);
}

/**
 * doorbell_dev_flush() - wait for the work queued on a device's worker
 * @dev: the device
 *
 * Process context; sleeps.  Every item queued before the call has run when
 * it returns (items queued again meanwhile may run once more).  Returns at
 * once if the owner process was killed: the worker is gone.
 */
void doorbell_dev_flush(struct doorbell_dev *dev)
{
	struct doorbell_worker *worker = dev->worker;
	struct doorbell_flush flush;

	might_sleep();
	atomic64_inc(&dev->stats.flushes);
	doorbell_work_init(&flush.work, doorbell_flush_fn);
	init_completion(&flush.done);

	mutex_lock(&worker->mutex);
	if (worker->killed) {
		mutex_unlock(&worker->mutex);
		return;
	}
	doorbell_work_queue(dev, &flush.work);
	/*
	 * Do not wait under the mutex: if the owner is killed now, the
	 * killed callback takes it to run the queue, our item included.
	 */
	mutex_unlock(&worker->mutex);
	wait_for_completion(&flush.done);
}
EXPORT_SYMBOL_GPL(doorbell_dev_flush);

/**
 * doorbell_dev_owner_dying() - is the owner of a device's worker exiting
 * @dev: the device; called from a work function in its worker
 *
 * A work function that may run long (a loop of synchronous IO, say) calls
 * this between steps and gives up when it says true, as a process's own IO
 * ends on a fatal signal: else the owner's exit waits for it (the vhost_task
 * is a thread of the owner; a kthread worker holds the queue that the
 * owner's release needs).
 *
 * Return: true if the owner process was killed or is exiting.
 */
bool doorbell_dev_owner_dying(struct doorbell_dev *dev)
{
	struct doorbell_worker *worker = dev->worker;

	/* The killed callback runs the queue with the signal taken. */
	return READ_ONCE(worker->killed) ||
	       doorbell_task_owner_dying(&worker->task);
}
EXPORT_SYMBOL_GPL(doorbell_dev_owner_dying);
