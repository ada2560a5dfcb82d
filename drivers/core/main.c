// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: kick polling and per-device workers shared by the
 * doorbell devices.  The API is described in doorbell_core.h.
 */
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/string.h>

#include "doorbell_core.h"
#include "internal.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

static DEFINE_IDA(doorbell_dev_ida);

/**
 * doorbell_dev_init() - set up a device: its worker, counters and debugfs
 * @dev: the device, zeroed or not
 * @prefix: the start of the device's name, "<prefix>-<id>"
 *
 * Process context, in the owner: the worker runs with the calling process's
 * mm, and the device keeps a reference to that mm until
 * doorbell_dev_cleanup().
 *
 * Return: 0, -EINVAL if the caller has no mm (a kernel thread), -ENOMEM, or
 * the error creating the worker thread.
 */
int doorbell_dev_init(struct doorbell_dev *dev, const char *prefix)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->mm = get_task_mm(current);
	if (!dev->mm)
		return -EINVAL;

	ret = ida_alloc(&doorbell_dev_ida, GFP_KERNEL);
	if (ret < 0)
		goto put_mm;
	dev->id = ret;
	snprintf(dev->name, sizeof(dev->name), "%s-%u", prefix, dev->id);

	ret = doorbell_worker_create(dev);
	if (ret)
		goto free_id;

	doorbell_debugfs_add(dev);
	return 0;

free_id:
	ida_free(&doorbell_dev_ida, dev->id);
put_mm:
	mmput(dev->mm);
	dev->mm = NULL;
	return ret;
}
EXPORT_SYMBOL_GPL(doorbell_dev_init);

/**
 * doorbell_dev_cleanup() - tear a device down
 * @dev: a device set up by doorbell_dev_init()
 *
 * Process context; sleeps.  Every poller of @dev must be stopped and nothing
 * may queue work on it any more.  Runs the work still queued, stops the
 * worker, removes the debugfs directory and drops the owner's mm.
 */
void doorbell_dev_cleanup(struct doorbell_dev *dev)
{
	doorbell_debugfs_remove(dev);
	doorbell_dev_flush(dev);
	doorbell_worker_destroy(dev);
	ida_free(&doorbell_dev_ida, dev->id);
	mmput(dev->mm);
	dev->mm = NULL;
}
EXPORT_SYMBOL_GPL(doorbell_dev_cleanup);

static int __init doorbell_core_init(void)
{
	doorbell_debugfs_init();
	return 0;
}

static void __exit doorbell_core_exit(void)
{
	doorbell_debugfs_exit();
	ida_destroy(&doorbell_dev_ida);
}

module_init(doorbell_core_init);
module_exit(doorbell_core_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("doorbell core: in-kernel consumers of KVM ioeventfd kicks");
