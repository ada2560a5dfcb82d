// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: per-device counters in debugfs,
 * /sys/kernel/debug/doorbell/<device>/<counter>, one value per file.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>

#include "doorbell_core.h"
#include "internal.h"

static struct dentry *doorbell_debugfs_root;

static int doorbell_counter_get(void *data, u64 *val)
{
	*val = atomic64_read(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(doorbell_counter_fops, doorbell_counter_get, NULL,
			 "%llu\n");

static void doorbell_debugfs_counter(struct doorbell_dev *dev, const char *name,
				     atomic64_t *counter)
{
	debugfs_create_file_unsafe(name, 0444, dev->debugfs, counter,
				   &doorbell_counter_fops);
}

void doorbell_debugfs_add(struct doorbell_dev *dev)
{
	struct doorbell_dev_stats *s = &dev->stats;

	/* Without debugfs every call below is a no-op on the error pointer. */
	dev->debugfs = debugfs_create_dir(dev->name, doorbell_debugfs_root);
	doorbell_debugfs_counter(dev, "kicks", &s->kicks);
	doorbell_debugfs_counter(dev, "rings", &s->rings);
	doorbell_debugfs_counter(dev, "hups", &s->hups);
	doorbell_debugfs_counter(dev, "queued", &s->queued);
	doorbell_debugfs_counter(dev, "runs", &s->runs);
	doorbell_debugfs_counter(dev, "flushes", &s->flushes);
}

void doorbell_debugfs_remove(struct doorbell_dev *dev)
{
	/* Waits for readers of the device's files. */
	debugfs_remove_recursive(dev->debugfs);
	dev->debugfs = NULL;
}

void doorbell_debugfs_init(void)
{
	doorbell_debugfs_root = debugfs_create_dir("doorbell", NULL);
}

void doorbell_debugfs_exit(void)
{
	debugfs_remove_recursive(doorbell_debugfs_root);
}
