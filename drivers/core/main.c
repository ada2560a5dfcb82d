// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell core: kick polling and per-device workers shared by the
 * doorbell devices.
 */
#include <linux/module.h>

static int __init doorbell_core_init(void)
{
	return 0;
}

static void __exit doorbell_core_exit(void)
{
}

module_init(doorbell_core_init);
module_exit(doorbell_core_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("doorbell core: in-kernel consumers of KVM ioeventfd kicks");
