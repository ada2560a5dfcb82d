// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_delay: a test module that widens a race window on purpose.
 *
 * It holds the calls of a kernel function (func) that a given function
 * (caller) makes, busy-waiting ms milliseconds before each goes on, so that
 * a test can check that the code around such a call is safe when the call
 * is slow (tests/suite/45-ring.sh: the wakeup after doorbell-blk's last
 * inflight decrement against the release of the device).
 *
 * "Calls that caller makes": a kretprobe on caller notes, per CPU, the task
 * and the stack pointer at caller's entry, until caller returns; a kprobe on
 * func delays the call when this CPU's note is there for the current task
 * and func's stack pointer lies at most DELAY_DEPTH bytes below the noted
 * one.  Calls made by caller itself, by a function it tail-calls (its frame
 * is gone then, the stack pointer tells) or a frame deeper count; calls from
 * an interrupt, which runs on another stack, do not.  A hardirq that nests
 * in a softirq-context caller on the same stack may count too.
 *
 * Parameters: func (default __wake_up) and caller (default dbblk_rw_done),
 * set at load; ms (default 100), writable.  Counters, read-only, in
 * /sys/module/doorbell_delay/parameters/: active, the delays under way now;
 * fired, the delays done since load.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sysfs.h>

/* How far below caller's entry stack pointer a delayed call may be. */
#define DELAY_DEPTH	256

static char *func = "__wake_up";
module_param(func, charp, 0444);
MODULE_PARM_DESC(func, "the function whose calls are delayed (default __wake_up)");

static char *caller = "dbblk_rw_done";
module_param(caller, charp, 0444);
MODULE_PARM_DESC(caller, "delay only the calls this function makes (default dbblk_rw_done)");

static unsigned int delay_ms = 100;
module_param_named(ms, delay_ms, uint, 0644);
MODULE_PARM_DESC(ms, "the delay in milliseconds, busy-waited (default 100)");

static atomic_t delay_active = ATOMIC_INIT(0);
static atomic_t delay_fired = ATOMIC_INIT(0);

static int delay_get_count(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(kp->arg));
}

static const struct kernel_param_ops delay_count_ops = {
	.get = delay_get_count,
};

module_param_cb(active, &delay_count_ops, &delay_active, 0444);
MODULE_PARM_DESC(active, "delays under way now");
module_param_cb(fired, &delay_count_ops, &delay_fired, 0444);
MODULE_PARM_DESC(fired, "delays done since load");

/*
 * struct delay_note - a caller running on this CPU
 * @task: the current task at its entry
 * @sp: the stack pointer at its entry, 0 when none runs
 */
struct delay_note {
	struct task_struct *task;
	unsigned long sp;
};

static DEFINE_PER_CPU(struct delay_note, delay_note);

/* Caller's entry: note it (a note of an outer caller is lost). */
static int delay_caller_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct delay_note *n = this_cpu_ptr(&delay_note);
	struct delay_note *mine = (struct delay_note *)ri->data;

	mine->task = current;
	mine->sp = kernel_stack_pointer(regs);
	/* The delay hook may run in an interrupt meanwhile: sp last. */
	WRITE_ONCE(n->sp, 0);
	barrier();
	WRITE_ONCE(n->task, mine->task);
	barrier();
	WRITE_ONCE(n->sp, mine->sp);
	return 0;
}

/* Caller's return: drop its note if it is still there. */
static int delay_caller_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct delay_note *n = this_cpu_ptr(&delay_note);
	struct delay_note *mine = (struct delay_note *)ri->data;

	if (n->task == mine->task && n->sp == mine->sp)
		WRITE_ONCE(n->sp, 0);
	return 0;
}

static struct kretprobe delay_caller_probe = {
	.entry_handler = delay_caller_entry,
	.handler = delay_caller_return,
	.data_size = sizeof(struct delay_note),
};

/* Func's entry: delay the call if the noted caller makes it. */
static int delay_func_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct delay_note *n = this_cpu_ptr(&delay_note);
	unsigned long top = READ_ONCE(n->sp);
	unsigned long sp = kernel_stack_pointer(regs);

	if (!top || READ_ONCE(n->task) != current || sp > top ||
	    top - sp > DELAY_DEPTH)
		return 0;
	atomic_inc(&delay_active);
	mdelay(READ_ONCE(delay_ms));
	atomic_dec(&delay_active);
	atomic_inc(&delay_fired);
	return 0;
}

static struct kprobe delay_func_probe = {
	.pre_handler = delay_func_pre,
};

static int __init delay_init(void)
{
	int ret;

	delay_caller_probe.kp.symbol_name = caller;
	ret = register_kretprobe(&delay_caller_probe);
	if (ret) {
		pr_err("caller %s: cannot probe it (%d)\n", caller, ret);
		return ret;
	}
	delay_func_probe.symbol_name = func;
	ret = register_kprobe(&delay_func_probe);
	if (ret) {
		pr_err("func %s: cannot probe it (%d)\n", func, ret);
		unregister_kretprobe(&delay_caller_probe);
		return ret;
	}
	pr_info("calls of %s that %s makes wait %u ms\n", func, caller, delay_ms);
	return 0;
}

static void __exit delay_exit(void)
{
	unregister_kprobe(&delay_func_probe);
	unregister_kretprobe(&delay_caller_probe);
	pr_info("%d delays done\n", atomic_read(&delay_fired));
}

module_init(delay_init);
module_exit(delay_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("doorbell tests: delay a kernel function's calls from a given caller");
