// SPDX-License-Identifier: GPL-2.0
/*
 * A module that WARNs when loaded: the VM runner's own test loads it and
 * checks that the run is reported as failed.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init doorbell_warntest_init(void)
{
	WARN(1, "doorbell_warntest: deliberate warning for the runner's self-test\n");
	return 0;
}

static void __exit doorbell_warntest_exit(void)
{
}

module_init(doorbell_warntest_init);
module_exit(doorbell_warntest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("doorbell test runner self-test: WARNs on load");
