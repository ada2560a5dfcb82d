/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell core: declarations shared by the core's files only.
 */
#ifndef _DOORBELL_INTERNAL_H
#define _DOORBELL_INTERNAL_H

struct doorbell_dev;

int doorbell_worker_create(struct doorbell_dev *dev);
void doorbell_worker_destroy(struct doorbell_dev *dev);

void doorbell_debugfs_init(void);
void doorbell_debugfs_exit(void);
void doorbell_debugfs_add(struct doorbell_dev *dev);
void doorbell_debugfs_remove(struct doorbell_dev *dev);

#endif /* _DOORBELL_INTERNAL_H */
