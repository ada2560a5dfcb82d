// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-bench: the 2009 ioeventfd table, measured, and extended.
 *
 * A guest rings a doorbell N times as fast as it can; each row is one way
 * for the ring to reach a consumer:
 *   qemu-*        the write exits to userspace and the VMM rings the
 *                 /dev/doorbell bell by ioctl (what a userspace device
 *                 model does);
 *   ioeventfd-*   KVM signals an eventfd from the lightweight exit and a
 *                 consumer takes it: /dev/doorbell counting in the worker
 *                 (the path a backend takes), in the wake function (-wake),
 *                 or a userspace thread reading the eventfd (-user);
 *   limit-*       the ioeventfd is registered and nobody consumes it: the
 *                 cost of the exit and the signal alone;
 *   *-hc          a Hyper-V HvSignalEvent hypercall (KVM_HYPERV_EVENTFD)
 *                 or, for qemu-hc, the same hypercall on an unbound
 *                 connection, which exits to userspace (KVM_EXIT_HYPERV);
 *   *-hc-xen      a Xen EVTCHNOP_send bound to an eventfd;
 *   *-2vcpu       two vCPUs ringing at once, each its own bell;
 *   *-samecpu, *-othercpu  the vCPU thread pinned to one CPU and the worker
 *                 to the same or another one (limit-pio-pinned: the vCPU
 *                 thread pinned, no consumer), to see where a worker's
 *                 wakeup costs the vCPU.
 * Every row gets its own VM and its own /dev/doorbell file (so its own
 * worker); neither is created inside the timed part.
 * Per row: the median of the repetitions of ops/s and us/op, the ratio to
 * qemu-mmio, and the rings written and delivered (a row whose counts differ
 * fails, and so does the whole run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/doorbell.h>
#include <linux/kvm.h>

#include "machine.h"
#include "vm.h"

#define DEV		"/dev/doorbell"
#define MATCH_VAL	0x5a
#define HV_CONN_ID	5
#define HV_CONN_UNBOUND	6
#define XEN_PORT	7
#define XEN_PORT_UNBOUND	8
#define POLL_PARAM	"/sys/module/doorbell_core/parameters/poll_us"
#define EVTCHNSTAT_interdomain	2
#define MAX_REPS	15

enum kind { K_PIO, K_MMIO, K_HV, K_XEN };
enum path { P_EXIT, P_EVENTFD };
enum consumer { C_WORKER, C_WAKE, C_USER, C_NONE };

#define F_LEN0		1
#define F_DATAMATCH	2
#define F_POLL		4	/* worker busy-polls (doorbell_core poll_us) */
#define F_PIN		8	/* the vCPU thread on the first CPU we may use */
#define F_WORKER_SAME	16	/* the worker on the vCPU thread's CPU */
#define F_WORKER_OTHER	32	/* the worker on another CPU */

struct rowdef {
	const char *name;
	enum kind kind;
	enum path path;
	enum consumer consumer;
	unsigned int flags;
	int nvcpus;
	const char *what;
};

static const struct rowdef rowdefs[] = {
	{ "qemu-mmio", K_MMIO, P_EXIT, C_WORKER, 0, 1,
	  "MMIO write exits to userspace, VMM rings by ioctl" },
	{ "qemu-pio", K_PIO, P_EXIT, C_WORKER, 0, 1,
	  "port write exits to userspace, VMM rings by ioctl" },
	{ "ioeventfd-mmio", K_MMIO, P_EVENTFD, C_WORKER, 0, 1,
	  "MMIO ioeventfd, /dev/doorbell counts in its worker" },
	{ "ioeventfd-mmio-wake", K_MMIO, P_EVENTFD, C_WAKE, 0, 1,
	  "MMIO ioeventfd, counted in the wake function" },
	{ "ioeventfd-mmio-user", K_MMIO, P_EVENTFD, C_USER, 0, 1,
	  "MMIO ioeventfd, a userspace thread reads the eventfd" },
	{ "ioeventfd-mmio-len0", K_MMIO, P_EVENTFD, C_WORKER, F_LEN0, 1,
	  "len 0 MMIO ioeventfd (fast MMIO bus where the CPU has it)" },
	{ "ioeventfd-mmio-datamatch", K_MMIO, P_EVENTFD, C_WORKER, F_DATAMATCH, 1,
	  "MMIO ioeventfd with datamatch" },
	{ "ioeventfd-mmio-poll", K_MMIO, P_EVENTFD, C_WORKER, F_POLL, 1,
	  "MMIO ioeventfd, worker busy-polls before sleeping (poll_us)" },
	{ "limit-mmio", K_MMIO, P_EVENTFD, C_NONE, 0, 1,
	  "MMIO ioeventfd, nobody consuming" },
	{ "ioeventfd-pio", K_PIO, P_EVENTFD, C_WORKER, 0, 1,
	  "PIO ioeventfd, /dev/doorbell counts in its worker" },
	{ "ioeventfd-pio-wake", K_PIO, P_EVENTFD, C_WAKE, 0, 1,
	  "PIO ioeventfd, counted in the wake function" },
	{ "ioeventfd-pio-user", K_PIO, P_EVENTFD, C_USER, 0, 1,
	  "PIO ioeventfd, a userspace thread reads the eventfd" },
	{ "ioeventfd-pio-datamatch", K_PIO, P_EVENTFD, C_WORKER, F_DATAMATCH, 1,
	  "PIO ioeventfd with datamatch" },
	{ "ioeventfd-pio-poll", K_PIO, P_EVENTFD, C_WORKER, F_POLL, 1,
	  "PIO ioeventfd, worker busy-polls before sleeping (poll_us)" },
	{ "limit-pio", K_PIO, P_EVENTFD, C_NONE, 0, 1,
	  "PIO ioeventfd, nobody consuming" },
	{ "qemu-hc", K_HV, P_EXIT, C_WORKER, 0, 1,
	  "Hyper-V HvSignalEvent exits to userspace (SynIC), VMM rings by ioctl" },
	{ "ioeventfd-hc", K_HV, P_EVENTFD, C_WORKER, 0, 1,
	  "Hyper-V HvSignalEvent -> KVM_HYPERV_EVENTFD -> worker" },
	{ "limit-hc", K_HV, P_EVENTFD, C_NONE, 0, 1,
	  "Hyper-V HvSignalEvent eventfd, nobody consuming" },
	{ "limit-pio-pinned", K_PIO, P_EVENTFD, C_NONE, F_PIN, 1,
	  "PIO ioeventfd, nobody consuming, vCPU thread pinned to a CPU" },
	{ "ioeventfd-pio-samecpu", K_PIO, P_EVENTFD, C_WORKER,
	  F_PIN | F_WORKER_SAME, 1,
	  "PIO ioeventfd, worker pinned to the vCPU thread's CPU" },
	{ "ioeventfd-pio-othercpu", K_PIO, P_EVENTFD, C_WORKER,
	  F_PIN | F_WORKER_OTHER, 1,
	  "PIO ioeventfd, worker pinned to another CPU than the vCPU thread's" },
	{ "qemu-pio-2vcpu", K_PIO, P_EXIT, C_WORKER, 0, 2,
	  "2 vCPUs, port writes exit to userspace" },
	{ "ioeventfd-pio-2vcpu", K_PIO, P_EVENTFD, C_WORKER, 0, 2,
	  "2 vCPUs, PIO ioeventfds, one worker" },
	{ "qemu-hc-xen", K_XEN, P_EXIT, C_WORKER, 0, 1,
	  "Xen EVTCHNOP_send, unbound port: exits to userspace, VMM rings by ioctl" },
	{ "ioeventfd-hc-xen", K_XEN, P_EVENTFD, C_WORKER, 0, 1,
	  "Xen EVTCHNOP_send bound to an eventfd -> worker" },
};

#define NROWS (sizeof(rowdefs) / sizeof(rowdefs[0]))

#define WHY_LEN		320

struct result {
	const struct rowdef *def;
	bool run, ok;
	char why[WHY_LEN];
	double ops[MAX_REPS];
	int reps;
	double ops_s, us_op;
	uint64_t written, delivered, user_exits;
	uint64_t wakeups, worker_runs;	/* the bells' counters, summed */
	uint64_t busy_ns, worker_ns;	/* CPU time, summed over the runs */
	uint64_t vcpu_ns, worker_slices;
};

static struct result results[NROWS];
static struct result *current;		/* the row running */
static unsigned int iters = 10000, reps = 5;
/*
 * A run of a row fails when its rings stop coming for stall_limit s (-t),
 * or when it has taken time_limit s (-T).  They detect hangs, they do not
 * check speed: nested under TCG a ring costs about 0.15 ms on an idle
 * host, and took 24 ms for minutes on end on a host whose 2 cores ran 9
 * VMs (so no fixed limit per ring fits).
 */
static double stall_limit = 30;
static double time_limit;
#define LIMIT_BASE_S		60.0
#define LIMIT_PER_RING_S	100e-3
static bool no_doorbell;		/* --no-doorbell */
static int dfd = -1;
static struct bench_vm vm;
static int cpu_a = -1, cpu_b = -1;	/* the first two CPUs we may use */
static pid_t worker_tid = -1;		/* the row's worker thread */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("doorbell-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SIGUSR1 only interrupts a blocking call (KVM_RUN, read) of its thread. */
static void on_kick(int sig)
{
	(void)sig;
}

/* Join @t by @deadline (CLOCK_MONOTONIC s): 0, or ETIMEDOUT. */
static int join_by(pthread_t t, double deadline)
{
	struct timespec ts;

	if (deadline < 0)
		deadline = 0;
	ts.tv_sec = (time_t)deadline;
	ts.tv_nsec = (long)((deadline - ts.tv_sec) * 1e9);
	return pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &ts);
}

/*
 * End thread @t whose time is up: set *@stop, make its vCPU's next KVM_RUN
 * return at once (@run's immediate_exit, if a vCPU thread) and interrupt
 * what it blocks in with SIGUSR1, again every 100 ms (a signal that came
 * just before the call blocked is lost), for at most 5 s.  Returns 0 once
 * joined, -1 if it would not end.
 */
static int stop_thread(pthread_t t, bool *stop, struct kvm_run *run)
{
	double end = now() + 5;

	__atomic_store_n(stop, true, __ATOMIC_SEQ_CST);
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	do {
		pthread_kill(t, SIGUSR1);
		if (!join_by(t, now() + 0.1))
			return 0;
	} while (now() < end);
	return -1;
}

static const char *exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_HYPERV] = "HYPERV",
		[KVM_EXIT_XEN] = "XEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "?";
}

/* A line about vCPU exit @run, for the reasons of a failed row. */
static void describe_exit(const struct kvm_run *run, char *buf, size_t len)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		snprintf(buf, len, "IO %s port %#x size %u",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size);
		break;
	case KVM_EXIT_MMIO:
		snprintf(buf, len, "MMIO %s %#llx len %u",
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(buf, len, "FAIL_ENTRY reason %#llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, len, "INTERNAL_ERROR suberror %u",
			 run->internal.suberror);
		break;
	default:
		snprintf(buf, len, "%s (%u)", exit_name(run->exit_reason),
			 run->exit_reason);
	}
}

/* ---------------------------------------------------------------- one rep */

struct rep {
	const struct rowdef *def;
	int efd[BENCH_MAX_VCPUS];
	uint32_t bell[BENCH_MAX_VCPUS];
	bool has_bell[BENCH_MAX_VCPUS];
	uint64_t arg[BENCH_MAX_VCPUS];
	uint64_t user_exits;
	uint64_t wakeups, worker_runs;
	uint64_t busy_ns, worker_ns, vcpu_ns, worker_slices;
	double deadline;	/* CLOCK_MONOTONIC s: the end of the run's time */
	uint64_t seen;		/* rings seen so far (a sum, for progress) */
	double seen_at;		/* when that sum last grew */
	uint64_t early[BENCH_MAX_VCPUS];	/* eventfd counts read so far */
	char why[WHY_LEN];
	bool failed;
};

struct vcpu_job {
	struct rep *rep;
	int i;
	int err;
	char why[WHY_LEN];
	uint64_t exits;
	uint64_t cpu_ns;	/* the vCPU thread's CPU time */
	bool stop;		/* set (atomically) when the run's time is up */
	bool stopped;		/* it was, and @rang says how far the guest got */
	uint64_t rang;
	char last[80];		/* the last exit to userspace */
};

static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int ring_ioctl(uint32_t id)
{
	struct doorbell_ring r = {
		.size = sizeof(r), .id = id, .count = 1,
	};

	return ioctl(dfd, DOORBELL_RING, &r);
}

static void *vcpu_loop(struct vcpu_job *j);
static enum guest_loop loop_of(enum kind k);

/* The vCPU thread: the loop below, and its CPU time. */
static void *vcpu_thread(void *arg)
{
	struct vcpu_job *j = arg;
	uint64_t t0 = thread_ns();

	vcpu_loop(j);
	j->cpu_ns = thread_ns() - t0;
	return NULL;
}

/* The vCPU loop: runs the guest until it is done, doing the VMM's part. */
static void *vcpu_loop(struct vcpu_job *j)
{
	const struct rowdef *d = j->rep->def;
	struct kvm_run *run = vm.vcpu[j->i].run;
	int fd = vm.vcpu[j->i].fd;

	if (d->flags & F_PIN) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu_a, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			snprintf(j->why, sizeof(j->why), "pinning the vCPU thread: %s",
				 strerror(errno));
			j->err = -1;
			return NULL;
		}
	}
	for (;;) {
		bool ours = false;
		int ret;

		/*
		 * The run's time is up: say how far the guest got.  With
		 * immediate_exit set, KVM_RUN completes the exit handled last
		 * (skips its port write) and returns EINTR without entering
		 * the guest, so the registers count every ring handled.
		 */
		if (__atomic_load_n(&j->stop, __ATOMIC_SEQ_CST)) {
			struct kvm_regs r;
			uint64_t left;

			j->err = -1;
			if (!ioctl(fd, KVM_RUN, 0) || errno != EINTR)
				snprintf(j->last, sizeof(j->last),
					 "(KVM_RUN with immediate_exit did not return EINTR)");
			if (ioctl(fd, KVM_GET_REGS, &r)) {
				snprintf(j->why, sizeof(j->why),
					 "stopped: %" PRIu64 " exits to userspace, last %s; KVM_GET_REGS: %s",
					 j->exits, j->last[0] ? j->last : "none",
					 strerror(errno));
				return NULL;
			}
			left = bench_rings_left(loop_of(d->kind), &r);
			j->rang = left <= iters ? iters - left : 0;
			j->stopped = true;
			snprintf(j->why, sizeof(j->why),
				 "stopped: the guest rang %" PRIu64 " of %u times (rip %#llx), %" PRIu64 " exits to userspace, the last %s",
				 j->rang, iters, (unsigned long long)r.rip,
				 j->exits, j->last[0] ? j->last : "none");
			return NULL;
		}
		ret = ioctl(fd, KVM_RUN, 0);
		if (ret && errno != EINTR) {
			snprintf(j->why, sizeof(j->why), "KVM_RUN: %s", strerror(errno));
			j->err = -1;
			return NULL;
		}
		if (ret)
			continue;	/* EINTR: the time limit's signal */
		describe_exit(run, j->last, sizeof(j->last));
		switch (run->exit_reason) {
		case KVM_EXIT_INTR:
			continue;
		case KVM_EXIT_IO:
			if (run->io.port == GUEST_DONE_PORT &&
			    run->io.direction == KVM_EXIT_IO_OUT)
				return NULL;
			if (run->io.port == GUEST_TRAP_PORT &&
			    run->io.direction == KVM_EXIT_IO_OUT) {
				bench_vcpu_trap(&vm, j->i,
						*((uint8_t *)run + run->io.data_offset),
						j->why, sizeof(j->why));
				j->err = -1;
				return NULL;
			}
			ours = d->kind == K_PIO &&
			       run->io.direction == KVM_EXIT_IO_OUT &&
			       run->io.port == j->rep->arg[j->i];
			break;
		case KVM_EXIT_MMIO:
			ours = d->kind == K_MMIO && run->mmio.is_write &&
			       run->mmio.phys_addr == j->rep->arg[j->i];
			break;
		case KVM_EXIT_HYPERV:
			ours = d->kind == K_HV &&
			       run->hyperv.type == KVM_EXIT_HYPERV_HCALL;
			if (ours)
				run->hyperv.u.hcall.result = 0;	/* success */
			break;
		case KVM_EXIT_XEN:
			ours = d->kind == K_XEN &&
			       run->xen.type == KVM_EXIT_XEN_HCALL;
			if (ours)
				run->xen.u.hcall.result = 0;
			break;
		case KVM_EXIT_SHUTDOWN:
			snprintf(j->why, sizeof(j->why),
				 "guest triple fault after %" PRIu64 " exits to userspace",
				 j->exits);
			j->err = -1;
			return NULL;
		}
		if (!ours) {
			snprintf(j->why, sizeof(j->why),
				 "unexpected exit %s after %" PRIu64 " exits to userspace",
				 j->last, j->exits);
			j->err = -1;
			return NULL;
		}
		__atomic_store_n(&j->exits, j->exits + 1, __ATOMIC_RELAXED);
		if (d->path != P_EXIT) {
			snprintf(j->why, sizeof(j->why),
				 "exit to userspace on an ioeventfd row (not matched)");
			j->err = -1;
			return NULL;
		}
		if (no_doorbell) {
			uint64_t one = 1;

			/* What DOORBELL_RING does to the bell, from here. */
			if (write(j->rep->efd[j->i], &one, sizeof(one)) != sizeof(one)) {
				snprintf(j->why, sizeof(j->why), "eventfd write: %s",
					 strerror(errno));
				j->err = -1;
				return NULL;
			}
		} else if (ring_ioctl(j->rep->bell[j->i])) {
			snprintf(j->why, sizeof(j->why), "DOORBELL_RING: %s",
				 strerror(errno));
			j->err = -1;
			return NULL;
		}
	}
}

struct reader {
	int efd;
	uint64_t want, got;
	bool stop;		/* set (atomically) when the run's time is up */
	int err;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	uint64_t v;

	while (r->got < r->want && !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		if (read(r->efd, &v, sizeof(v)) == sizeof(v)) {
			__atomic_store_n(&r->got, r->got + v, __ATOMIC_RELAXED);
		} else if (errno != EINTR) {
			r->err = errno;
			break;
		}
	}
	return NULL;
}

static int kvm_ioeventfd(const struct rowdef *d, int i, int efd, uint64_t addr,
			 bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .fd = efd,
		.len = d->kind == K_PIO ? 1 : 4,
	};

	if (d->kind == K_PIO)
		io.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (d->flags & F_LEN0)
		io.len = 0;
	if (d->flags & F_DATAMATCH) {
		io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		io.datamatch = MATCH_VAL;
	}
	if (deassign)
		io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	(void)i;
	return ioctl(vm.fd, KVM_IOEVENTFD, &io);
}

static int hv_eventfd(int efd, bool deassign)
{
	struct kvm_hyperv_eventfd hv = {
		.conn_id = HV_CONN_ID, .fd = efd,
		.flags = deassign ? KVM_HYPERV_EVENTFD_DEASSIGN : 0,
	};

	return ioctl(vm.fd, KVM_HYPERV_EVENTFD, &hv);
}

static int xen_evtchn(int efd, bool deassign)
{
	struct kvm_xen_hvm_attr a = { .type = KVM_XEN_ATTR_TYPE_EVTCHN };

	a.u.evtchn.send_port = XEN_PORT;
	a.u.evtchn.type = EVTCHNSTAT_interdomain;
	a.u.evtchn.flags = deassign ? KVM_XEN_EVTCHN_DEASSIGN : 0;
	a.u.evtchn.deliver.eventfd.port = 0;
	a.u.evtchn.deliver.eventfd.fd = efd;
	return ioctl(vm.fd, KVM_XEN_HVM_SET_ATTR, &a);
}

/* Bind (or unbind) vCPU @i's doorbell to its eventfd in KVM. */
static int bind_kvm(struct rep *rp, int i, bool unbind)
{
	const struct rowdef *d = rp->def;

	if (d->path != P_EVENTFD)
		return 0;
	switch (d->kind) {
	case K_PIO:
	case K_MMIO:
		return kvm_ioeventfd(d, i, rp->efd[i], rp->arg[i], unbind);
	case K_HV:
		return hv_eventfd(rp->efd[i], unbind);
	case K_XEN:
		return xen_evtchn(rp->efd[i], unbind);
	}
	return -1;
}

static void add_why(struct rep *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_bell(int efd, uint32_t flags, uint32_t *id)
{
	struct doorbell_bell b = {
		.size = sizeof(b), .fd = efd, .flags = flags,
	};

	if (ioctl(dfd, DOORBELL_ADD_BELL, &b))
		return -1;
	*id = b.id;
	return 0;
}

static int get_stats(uint32_t id, struct doorbell_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->id = id;
	return ioctl(dfd, DOORBELL_GET_STATS, st);
}

/*
 * Wait until the bell has counted @want rings and has none pending, or its
 * count stops growing for the stall limit, or the run's time is up.
 */
static int wait_delivered(struct rep *rp, int i, uint64_t want, uint64_t *got)
{
	struct doorbell_stats st;
	double since = now();
	uint64_t last = 0;

	for (;;) {
		if (get_stats(rp->bell[i], &st))
			return -1;
		*got = rp->def->path == P_EXIT ? st.rings_ioctl : st.rings_eventfd;
		if (*got >= want && !st.pending)
			break;
		if (*got != last) {
			last = *got;
			since = now();
		}
		if (now() - since > stall_limit || now() > rp->deadline) {
			add_why(rp, "%s: the bell of vCPU %d counted %" PRIu64 " of %" PRIu64 " rings, %llu pending",
				now() > rp->deadline ? "time limit (-T)" :
				"no ring for the stall limit (-t)",
				i, *got, want, (unsigned long long)st.pending);
			break;
		}
		sched_yield();
	}
	rp->wakeups += st.wakeups;
	rp->worker_runs += st.worker_runs;
	return 0;
}

/*
 * CPU time of the whole machine in ns: the busy time of all CPUs from the
 * "cpu" line of /proc/stat (user, nice, system, irq, softirq, steal; guest
 * time is within user), in clock ticks, so approximate; 0 if unknown.
 */
static uint64_t busy_ns(void)
{
	unsigned long long v[8];
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t sum = 0;

	if (f && hz > 0 &&
	    fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
		sum = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000ULL / hz);
	if (f)
		fclose(f);
	return sum;
}

/*
 * Thread @tid's CPU time in ns and the times it got a CPU (its timeslices:
 * for a worker that sleeps when idle, its wakeups), from
 * /proc/<tid>/schedstat; zeros if unknown.
 */
static void task_sched(pid_t tid, uint64_t *ns, uint64_t *slices)
{
	unsigned long long v[3] = { 0, 0, 0 };
	char path[64];
	FILE *f;

	*ns = 0;
	*slices = 0;
	if (tid < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%llu %llu %llu", &v[0], &v[1], &v[2]) == 3) {
		*ns = v[0];
		*slices = v[2];
	}
	fclose(f);
}

static enum guest_loop loop_of(enum kind k)
{
	return k == K_PIO ? LOOP_PIO : k == K_MMIO ? LOOP_MMIO :
	       k == K_HV ? LOOP_HV : LOOP_XEN;
}

/* Add a reason to @rp's, after those there already. */
static void add_why(struct rep *rp, const char *fmt, ...)
{
	size_t len = strlen(rp->why);
	va_list ap;

	if (len && len + 2 < sizeof(rp->why)) {
		memcpy(rp->why + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(rp->why + len, sizeof(rp->why) - len, fmt, ap);
	va_end(ap);
	rp->failed = true;
}

static void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The rings of the run so far, summed over what can be seen from here
 * (exits to userspace, the readers' counts, the bells' counts, the
 * eventfds' counts, which are read and kept in rp->early), to see that
 * they still come: only whether the sum grows matters.
 */
static uint64_t rings_seen(struct rep *rp, const struct vcpu_job *jobs,
			   const struct reader *readers, bool count_at_end)
{
	uint64_t sum = 0, v;
	int i;

	for (i = 0; i < rp->def->nvcpus; i++) {
		struct doorbell_stats st;

		sum += __atomic_load_n(&jobs[i].exits, __ATOMIC_RELAXED);
		if (rp->def->consumer == C_USER) {
			sum += __atomic_load_n(&readers[i].got, __ATOMIC_RELAXED);
		} else if (count_at_end) {
			if (read(rp->efd[i], &v, sizeof(v)) == sizeof(v))
				rp->early[i] += v;
			sum += rp->early[i];
		} else if (rp->has_bell[i] && !get_stats(rp->bell[i], &st)) {
			sum += st.rings_eventfd + st.rings_ioctl;
		}
	}
	return sum;
}

/*
 * Join thread @t, checking every 0.5 s that rings still come.  Returns 0
 * once joined, or -1 with the reason in @why when they stopped for the
 * stall limit or the run's time is up.
 */
static int join_watching(pthread_t t, struct rep *rp, const struct vcpu_job *jobs,
			 const struct reader *readers, bool count_at_end,
			 char *why, size_t len)
{
	for (;;) {
		double next = now() + 0.5;
		uint64_t seen;

		if (!join_by(t, next < rp->deadline ? next : rp->deadline))
			return 0;
		seen = rings_seen(rp, jobs, readers, count_at_end);
		if (seen != rp->seen) {
			rp->seen = seen;
			rp->seen_at = now();
		}
		if (now() >= rp->deadline) {
			snprintf(why, len, "time limit: the run took %.0f s (-T)",
				 time_limit);
			return -1;
		}
		if (now() - rp->seen_at > stall_limit) {
			snprintf(why, len, "stalled: no ring for %.0f s (-t)",
				 stall_limit);
			return -1;
		}
	}
}

/*
 * One repetition of a row.  Returns the elapsed seconds from the first
 * KVM_RUN to the last ring delivered, or a negative value with rp->why.
 * Every wait ends at rp->deadline, the run's time limit: a thread still
 * running then is stopped and the run fails with what it had done; a
 * thread that will not stop ends the whole program (bail()).
 */
static double run_rep(struct rep *rp, uint64_t *written, uint64_t *delivered)
{
	const struct rowdef *d = rp->def;
	struct vcpu_job jobs[BENCH_MAX_VCPUS] = { 0 };
	struct reader readers[BENCH_MAX_VCPUS] = { 0 };
	pthread_t vt[BENCH_MAX_VCPUS], rt[BENCH_MAX_VCPUS];
	/* Without /dev/doorbell a bell is its eventfd, read at the end. */
	bool count_at_end = d->consumer == C_NONE ||
			    (no_doorbell && d->consumer != C_USER);
	uint64_t busy0, worker0, slices0;
	char limit[96] = "";	/* the limit the run hit */
	double t0, t1 = -1;
	int i, n = d->nvcpus;

	*written = 0;
	*delivered = 0;
	for (i = 0; i < n; i++) {
		rp->efd[i] = -1;
		rp->has_bell[i] = false;
	}
	for (i = 0; i < n; i++) {
		switch (d->kind) {
		case K_PIO: rp->arg[i] = GUEST_PORT + i; break;
		case K_MMIO: rp->arg[i] = GUEST_MMIO + 0x1000 * i; break;
		case K_HV:
			rp->arg[i] = d->path == P_EXIT ? HV_CONN_UNBOUND : HV_CONN_ID;
			break;
		case K_XEN:
			rp->arg[i] = d->path == P_EXIT ? XEN_PORT_UNBOUND : XEN_PORT;
			break;
		}
		rp->efd[i] = eventfd(0, EFD_CLOEXEC);
		if (rp->efd[i] < 0) {
			snprintf(rp->why, sizeof(rp->why), "eventfd: %s", strerror(errno));
			goto out;
		}
		if (!no_doorbell && (d->consumer == C_WORKER || d->consumer == C_WAKE)) {
			uint32_t fl = d->consumer == C_WORKER ?
				DOORBELL_BELL_COUNT_IN_WORKER : DOORBELL_BELL_COUNT_IN_WAKE;

			if (add_bell(rp->efd[i], fl, &rp->bell[i])) {
				snprintf(rp->why, sizeof(rp->why), "DOORBELL_ADD_BELL: %s",
					 strerror(errno));
				goto out;
			}
			rp->has_bell[i] = true;
		}
		if (bind_kvm(rp, i, false)) {
			snprintf(rp->why, sizeof(rp->why), "binding the eventfd in KVM: %s",
				 strerror(errno));
			close(rp->efd[i]);
			rp->efd[i] = -1;
			goto out;
		}
		if (bench_vcpu_prepare(&vm, i, loop_of(d->kind), rp->arg[i],
				       MATCH_VAL, iters)) {
			snprintf(rp->why, sizeof(rp->why), "vCPU registers: %s",
				 strerror(errno));
			goto out;
		}
		vm.vcpu[i].run->immediate_exit = 0;
	}
	for (i = 0; i < n && count_at_end; i++)
		if (fcntl(rp->efd[i], F_SETFL, O_NONBLOCK)) {
			snprintf(rp->why, sizeof(rp->why), "eventfd: %s", strerror(errno));
			goto out;
		}
	busy0 = busy_ns();
	task_sched(worker_tid, &worker0, &slices0);
	t0 = now();
	rp->deadline = t0 + time_limit;
	rp->seen_at = t0;
	for (i = 0; i < n; i++) {
		if (d->consumer == C_USER) {
			readers[i].efd = rp->efd[i];
			readers[i].want = iters;
			if (pthread_create(&rt[i], NULL, reader_thread, &readers[i]))
				die("pthread_create");
		}
		jobs[i].rep = rp;
		jobs[i].i = i;
		if (pthread_create(&vt[i], NULL, vcpu_thread, &jobs[i]))
			die("pthread_create");
	}
	for (i = 0; i < n; i++) {
		if (!limit[0] && !join_watching(vt[i], rp, jobs, readers,
						count_at_end, limit, sizeof(limit)))
			continue;
		/* Past a limit: this vCPU and those after it are stopped. */
		if (stop_thread(vt[i], &jobs[i].stop, vm.vcpu[i].run))
			bail("vCPU %d: its thread did not stop in 5 s after: %s (stuck in KVM_RUN?)",
			     i, limit);
	}
	if (limit[0])
		add_why(rp, "%s", limit);
	for (i = 0; i < n; i++) {
		rp->user_exits += jobs[i].exits;
		rp->vcpu_ns += jobs[i].cpu_ns;
		if (jobs[i].err)
			add_why(rp, "vCPU %d: %s", i, jobs[i].why);
	}
	for (i = 0; i < n; i++) {
		uint64_t got = 0;

		*written += jobs[i].stopped ? jobs[i].rang : iters;
		if (d->consumer == C_USER) {
			if (rp->failed || join_watching(rt[i], rp, jobs, readers,
							count_at_end, limit,
							sizeof(limit))) {
				if (stop_thread(rt[i], &readers[i].stop, NULL))
					bail("the eventfd reader of vCPU %d did not stop in 5 s",
					     i);
				if (!rp->failed)
					add_why(rp, "%s: the reader of vCPU %d read %" PRIu64 " of %u rings",
						limit, i, readers[i].got, iters);
			}
			if (readers[i].err)
				add_why(rp, "reader of vCPU %d: %s", i,
					strerror(readers[i].err));
			got = readers[i].got;
		} else if (count_at_end) {
			/* Nonblocking (set above): a count of 0 must not hang. */
			if (read(rp->efd[i], &got, sizeof(got)) != sizeof(got))
				got = 0;
			got += rp->early[i];
		} else if (!rp->failed) {
			if (wait_delivered(rp, i, iters, &got))
				add_why(rp, "DOORBELL_GET_STATS: %s", strerror(errno));
		}
		*delivered += got;
	}
	if (rp->failed)
		goto out;
	t1 = now() - t0;
	rp->busy_ns = busy_ns() - busy0;
	task_sched(worker_tid, &rp->worker_ns, &rp->worker_slices);
	rp->worker_ns -= worker0;
	rp->worker_slices -= slices0;
out:
	for (i = 0; i < n; i++) {
		if (rp->efd[i] < 0)
			continue;
		if (rp->has_bell[i]) {
			struct doorbell_id id = { .size = sizeof(id), .id = rp->bell[i] };

			if (ioctl(dfd, DOORBELL_REMOVE_BELL, &id))
				die("DOORBELL_REMOVE_BELL: %s", strerror(errno));
		}
		if (bind_kvm(rp, i, true))
			die("unbinding the eventfd in KVM: %s", strerror(errno));
		close(rp->efd[i]);
	}
	if (rp->failed)
		return -1;
	if (t1 < 0 && !rp->why[0])
		snprintf(rp->why, sizeof(rp->why), "setup failed");
	return t1;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static unsigned int bench_poll_us = 100;
static char poll_default[32];

static int write_param(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(val, f) < 0;
	if (fclose(f) || ret)
		return -1;
	return 0;
}

static void read_poll_default(void)
{
	FILE *f = fopen(POLL_PARAM, "r");

	if (f && fgets(poll_default, sizeof(poll_default), f))
		poll_default[strcspn(poll_default, "\n")] = '\0';
	if (f)
		fclose(f);
}

static void run_one(struct result *r);

/* The worker's thread id: "doorbell-<n>", the newest. */
static pid_t find_worker(void)
{
	static const char *const dirs[] = { "/proc/self/task", "/proc" };
	unsigned long best = 0;
	pid_t tid = -1;
	unsigned int k;

	/* A vhost_task is a thread of ours; else a kthread. */
	for (k = 0; k < 2 && tid < 0; k++) {
		DIR *dir = opendir(dirs[k]);
		struct dirent *e;

		while (dir && (e = readdir(dir))) {
			char path[300], comm[32], *end;
			unsigned long n;
			FILE *f;

			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%s/%s/comm", dirs[k], e->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
			if (strncmp(comm, "doorbell-", 9) || comm[9] < '0' || comm[9] > '9')
				continue;
			n = strtoul(comm + 9, &end, 10);
			if (*end != '\n' && *end)
				continue;
			if (tid < 0 || n > best) {
				best = n;
				tid = atoi(e->d_name);
			}
		}
		if (dir)
			closedir(dir);
	}
	return tid;
}

static int pin_worker(const struct rowdef *d, char *why, size_t len)
{
	int cpu = d->flags & F_WORKER_SAME ? cpu_a : cpu_b;
	cpu_set_t set;
	pid_t tid;

	if (cpu < 0) {
		snprintf(why, len, "n/a: needs 2 CPUs");
		return -1;
	}
	tid = worker_tid;
	if (tid < 0) {
		snprintf(why, len, "n/a: no doorbell-<n> worker thread found");
		return -1;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(tid, sizeof(set), &set)) {
		snprintf(why, len, "n/a: pinning the worker (tid %d): %s", tid,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* One run of a row, in a VM and a /dev/doorbell file (a worker) of its own. */
static void run_row(struct result *r)
{
	const struct rowdef *d = r->def;
	char val[32], why[128];

	current = r;
	if (bench_vm_create(&vm, d->nvcpus, d->kind == K_HV, why, sizeof(why))) {
		snprintf(r->why, sizeof(r->why), "VM: %s", why);
		goto fail;
	}
	if (d->kind == K_HV && !vm.hyperv) {
		snprintf(r->why, sizeof(r->why),
			 "n/a: KVM offers no Hyper-V CPUID/SynIC (KVM_GET_SUPPORTED_HV_CPUID)");
		goto fail;
	}
	if (d->kind == K_XEN && bench_vm_enable_xen(&vm, why, sizeof(why))) {
		snprintf(r->why, sizeof(r->why), "n/a: %s", why);
		goto fail;
	}
	if (no_doorbell) {
		if (d->flags & (F_POLL | F_WORKER_SAME | F_WORKER_OTHER)) {
			snprintf(r->why, sizeof(r->why),
				 "n/a: --no-doorbell (no doorbell worker)");
			goto fail;
		}
		run_one(r);
		goto out;
	}
	dfd = open(DEV, O_RDWR | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(r->why, sizeof(r->why), "%s: %s", DEV, strerror(errno));
		goto fail;
	}
	worker_tid = find_worker();
	if ((d->flags & (F_WORKER_SAME | F_WORKER_OTHER)) &&
	    pin_worker(d, r->why, sizeof(r->why)))
		goto fail;
	if (!(d->flags & F_POLL)) {
		run_one(r);
		goto out;
	}
	snprintf(val, sizeof(val), "%u", bench_poll_us);
	if (!poll_default[0] || write_param(POLL_PARAM, val)) {
		snprintf(r->why, sizeof(r->why), "n/a: cannot set %s", POLL_PARAM);
		goto fail;
	}
	run_one(r);
	if (write_param(POLL_PARAM, poll_default))
		die("cannot restore %s to %s", POLL_PARAM, poll_default);
	goto out;
fail:
	/* n/a, or the row failed before running: no more runs. */
	r->ok = false;
out:
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	worker_tid = -1;
	bench_vm_destroy(&vm);
}

/* One run of a row; a failure ends the row's runs. */
static void run_one(struct result *r)
{
	struct rep rp = { .def = r->def };
	uint64_t w, dl;
	double t = run_rep(&rp, &w, &dl);

	r->written += w;
	r->delivered += dl;
	r->user_exits += rp.user_exits;
	r->wakeups += rp.wakeups;
	r->worker_runs += rp.worker_runs;
	r->busy_ns += rp.busy_ns;
	r->worker_ns += rp.worker_ns;
	r->vcpu_ns += rp.vcpu_ns;
	r->worker_slices += rp.worker_slices;
	if (t < 0) {
		snprintf(r->why, sizeof(r->why), "%s", rp.why);
		r->ok = false;
		return;
	}
	if (w != dl) {
		snprintf(r->why, sizeof(r->why),
			 "written %" PRIu64 " != delivered %" PRIu64, w, dl);
		r->ok = false;
	}
	r->ops[r->reps++] = w / t;
}

static void row_median(struct result *r)
{
	if (!r->reps)
		return;
	qsort(r->ops, r->reps, sizeof(double), cmp_dbl);
	r->ops_s = r->ops[r->reps / 2];
	r->us_op = 1e6 / r->ops_s * r->def->nvcpus;
}

/* ---------------------------------------------------------------- output */

static const struct result *find(const char *name)
{
	unsigned int i;

	for (i = 0; i < NROWS; i++)
		if (results[i].run && results[i].ok && !strcmp(results[i].def->name, name))
			return &results[i];
	return NULL;
}

/* ops/s of @a over ops/s of @b, or 0 if either is missing */
static double ratio(const char *a, const char *b)
{
	const struct result *x = find(a), *y = find(b);

	return x && y ? x->ops_s / y->ops_s : 0;
}

static const struct {
	const char *key, *what, *num, *den;
	double seed, goal;
} ratios[] = {
	{ "ioeventfd_mmio_over_qemu_mmio", "qemu-mmio / ioeventfd-mmio (time per op; seed 1.82)",
	  "ioeventfd-mmio", "qemu-mmio", 1.82, 0 },
	{ "ioeventfd_pio_over_qemu_mmio", "qemu-mmio / ioeventfd-pio (seed 3.34)",
	  "ioeventfd-pio", "qemu-mmio", 3.34, 0 },
	{ "ioeventfd_hc_over_qemu_mmio", "qemu-mmio / ioeventfd-hc (seed extrapolated 3.75)",
	  "ioeventfd-hc", "qemu-mmio", 3.75, 0 },
	{ "limit_over_worker_pio", "worker overhead: limit-pio / ioeventfd-pio (goal <= 1.05)",
	  "limit-pio", "ioeventfd-pio", 0, 1.05 },
	{ "limit_over_wake_pio", "wake overhead: limit-pio / ioeventfd-pio-wake (goal <= 1.05)",
	  "limit-pio", "ioeventfd-pio-wake", 0, 1.05 },
	{ "limit_over_worker_mmio", "worker overhead: limit-mmio / ioeventfd-mmio (goal <= 1.05)",
	  "limit-mmio", "ioeventfd-mmio", 0, 1.05 },
	{ "limit_over_wake_mmio", "wake overhead: limit-mmio / ioeventfd-mmio-wake (goal <= 1.05)",
	  "limit-mmio", "ioeventfd-mmio-wake", 0, 1.05 },
	{ "limit_over_worker_hc", "worker overhead: limit-hc / ioeventfd-hc (goal <= 1.05)",
	  "limit-hc", "ioeventfd-hc", 0, 1.05 },
	{ "limit_over_poll_pio", "busy-poll worker: limit-pio / ioeventfd-pio-poll (goal <= 1.05)",
	  "limit-pio", "ioeventfd-pio-poll", 0, 1.05 },
	{ "limit_over_poll_mmio", "busy-poll worker: limit-mmio / ioeventfd-mmio-poll (goal <= 1.05)",
	  "limit-mmio", "ioeventfd-mmio-poll", 0, 1.05 },
	{ "limit_over_samecpu_pio",
	  "worker on the vCPU's CPU: limit-pio-pinned / ioeventfd-pio-samecpu",
	  "limit-pio-pinned", "ioeventfd-pio-samecpu", 0, 1.05 },
	{ "limit_over_othercpu_pio",
	  "worker on another CPU: limit-pio-pinned / ioeventfd-pio-othercpu",
	  "limit-pio-pinned", "ioeventfd-pio-othercpu", 0, 1.05 },
	{ "qemu_hc_over_ioeventfd_hc", "qemu-hc / ioeventfd-hc (hypercall: exit to userspace vs kernel)",
	  "ioeventfd-hc", "qemu-hc", 0, 0 },
	{ "user_over_worker_pio", "ioeventfd-pio / ioeventfd-pio-user (kernel vs userspace reader)",
	  "ioeventfd-pio", "ioeventfd-pio-user", 0, 0 },
	{ "two_vcpus_pio", "ioeventfd-pio-2vcpu / ioeventfd-pio (2 vCPUs vs 1)",
	  "ioeventfd-pio-2vcpu", "ioeventfd-pio", 0, 0 },
};

#define NRATIOS (sizeof(ratios) / sizeof(ratios[0]))

/*
 * The output is written as the run goes, each part flushed: the header
 * first, then each row as soon as it is done (its last run, or the run
 * that failed it), then the ratios; so a run that is killed shows how far
 * it got.  With --json the same parts make one JSON object.
 */
static bool json;
static unsigned int json_rows;		/* rows written so far */
static bool progress_tty;		/* a progress line on stderr's tty */
static bool progress_open;		/* a progress line waits for its \n */

/* End the progress line on stderr before anything else is written. */
static void progress_end(void)
{
	if (progress_tty)
		fprintf(stderr, "\r%-60s\r", "");
	else if (progress_open)
		fputc('\n', stderr);
	progress_open = false;
	fflush(stderr);
}

static void out_header(void)
{
	if (json) {
		printf("{\"tool\":\"doorbell-bench\",\"kernel\":");
		json_str(stdout, kernel);
		printf(",\"cpu\":");
		json_str(stdout, cpu_model);
		printf(",\"accel\":");
		json_str(stdout, accel);
		printf(",\"hypervisor_signature\":");
		json_str(stdout, hv_sig);
		printf(",\"iterations\":%u,\"reps\":%u,\"poll_us\":", iters, reps);
		json_str(stdout, poll_default);
		printf(",\"poll_rows_poll_us\":%u,\"stall_limit_s\":%.0f,\"run_time_limit_s\":%.0f,\"doorbell\":%s,\"rows\":[",
		       bench_poll_us, stall_limit, time_limit,
		       no_doorbell ? "false" : "true");
		fflush(stdout);
		return;
	}
	printf("doorbell-bench: %u rings per vCPU per run, median of %u runs\n",
	       iters, reps);
	printf("kernel %s, CPU %s, accelerator: %s\n", kernel, cpu_model, accel);
	printf("doorbell_core poll_us: %s (the -poll rows: %u); a run fails after %.0f s without a ring or %.0f s in all\n",
	       poll_default[0] ? poll_default : "?", bench_poll_us, stall_limit,
	       time_limit);
	if (no_doorbell)
		printf("--no-doorbell: no /dev/doorbell; each bell is a plain eventfd (rung by write(2) after an exit to userspace) counted at the end\n");
	printf("\n%-25s %7s %7s %5s %7s %9s %9s %8s %8s %9s %8s  %s\n", "row",
	       "ops/s", "us/op", "ratio", "written", "delivered", "runs/ring",
	       "sw/ring", "cpu/ring", "vcpu/ring", "wkr/ring", "status");
	fflush(stdout);
}

static void out_row_table(const struct result *r, const struct result *base)
{
	char runs[16] = "-", sw[16] = "-", cpu[16] = "-", vcpu[16] = "-";
	char wkr[16] = "-", rat[16] = "-";

	if (!r->ok && !r->reps) {
		printf("%-25s %7s %7s %5s %7" PRIu64 " %9" PRIu64 " %9s %8s %8s %9s %8s  %s\n",
		       r->def->name, "-", "-", "-", r->written,
		       r->delivered, "-", "-", "-", "-", "-",
		       r->why[0] ? r->why : "failed");
		return;
	}
	if (r->def->consumer == C_WORKER && r->delivered && !no_doorbell) {
		snprintf(runs, sizeof(runs), "%.3f",
			 (double)r->worker_runs / r->delivered);
		if (r->worker_ns) {
			snprintf(wkr, sizeof(wkr), "%.2f",
				 r->worker_ns / 1e3 / r->delivered);
			snprintf(sw, sizeof(sw), "%.3f",
				 (double)r->worker_slices / r->delivered);
		}
	}
	if (r->busy_ns && r->delivered)
		snprintf(cpu, sizeof(cpu), "%.2f", r->busy_ns / 1e3 / r->delivered);
	if (r->delivered)
		snprintf(vcpu, sizeof(vcpu), "%.2f", r->vcpu_ns / 1e3 / r->delivered);
	if (base)
		snprintf(rat, sizeof(rat), "%.2f", r->ops_s / base->ops_s);
	printf("%-25s %7.0f %7.2f %5s %7" PRIu64 " %9" PRIu64 " %9s %8s %8s %9s %8s  %s\n",
	       r->def->name, r->ops_s, r->us_op, rat, r->written,
	       r->delivered, runs, sw, cpu, vcpu, wkr,
	       r->ok ? "ok" : r->why);
}

static void out_row_json(const struct result *r, const struct result *base)
{
	const char *status = r->ok ? "ok" :
		!strncmp(r->why, "n/a", 3) ? "n/a" : "fail";

	printf("%s{\"row\":\"%s\",\"what\":", json_rows ? "," : "", r->def->name);
	json_str(stdout, r->def->what);
	printf(",\"vcpus\":%d,\"status\":\"%s\",\"reason\":", r->def->nvcpus,
	       status);
	json_str(stdout, r->why);
	printf(",\"written\":%" PRIu64 ",\"delivered\":%" PRIu64
	       ",\"exits_to_userspace\":%" PRIu64 ",\"wakeups\":%" PRIu64
	       ",\"worker_runs\":%" PRIu64 ",\"cpu_ns\":%" PRIu64
	       ",\"vcpu_cpu_ns\":%" PRIu64 ",\"worker_cpu_ns\":%" PRIu64
	       ",\"worker_timeslices\":%" PRIu64 ",\"runs\":%d",
	       r->written, r->delivered, r->user_exits, r->wakeups,
	       r->worker_runs, r->busy_ns, r->vcpu_ns, r->worker_ns,
	       r->worker_slices, r->reps);
	if (r->reps)
		printf(",\"ops_per_s\":%.1f,\"us_per_op\":%.4f", r->ops_s, r->us_op);
	if (r->reps && base)
		printf(",\"ratio_qemu_mmio\":%.4f", r->ops_s / base->ops_s);
	putchar('}');
}

/* Row @r is done: its median, its line (or JSON object), flushed. */
static void out_row(struct result *r)
{
	const struct result *base = find("qemu-mmio");

	row_median(r);
	if (base && base->ops_s <= 0)
		base = NULL;	/* its last run is still to come */
	progress_end();
	if (json) {
		out_row_json(r, base);
		json_rows++;
		if (!r->ok && strncmp(r->why, "n/a", 3))
			fprintf(stderr, "doorbell-bench: %s failed: %s\n",
				r->def->name, r->why);
	} else {
		out_row_table(r, base);
	}
	fflush(stdout);
	fflush(stderr);
}

static void out_footer(void)
{
	unsigned int i, n = 0;

	progress_end();
	if (json) {
		printf("],\"ratios\":{");
		for (i = 0; i < NRATIOS; i++) {
			double v = ratio(ratios[i].num, ratios[i].den);

			if (v > 0)
				printf("%s\"%s\":%.4f", n++ ? "," : "",
				       ratios[i].key, v);
		}
		printf("}}\n");
		fflush(stdout);
		return;
	}
	printf("\nratio = ops/s over qemu-mmio's; us/op is per vCPU; runs/ring = runs of\n"
	       "the bell's work per ring; sw/ring = times the worker thread got a CPU\n"
	       "per ring (1.000: every ring woke it); cpu/ring = CPU time of the whole\n"
	       "machine per ring in us (all CPUs, /proc/stat ticks, approximate),\n"
	       "vcpu/ring and wkr/ring = the vCPU threads' and the worker's shares\n");
	for (i = 0; i < NRATIOS; i++) {
		double v = ratio(ratios[i].num, ratios[i].den);

		if (v > 0)
			printf("  %-70s %6.2f\n", ratios[i].what, v);
	}
	fflush(stdout);
}

/*
 * A thread of the row running would not stop: the VM cannot be taken
 * down under it.  The row fails with @fmt, the output is ended, and so is
 * the program (exit status 1).
 */
static void bail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(current->why, sizeof(current->why), fmt, ap);
	va_end(ap);
	current->ok = false;
	out_row(current);
	out_footer();
	fprintf(stderr, "doorbell-bench: %s: %s; giving up\n", current->def->name,
		current->why);
	fflush(NULL);
	_exit(1);
}

/* Text from the machine (CPU model, signature) as SVG character data. */
static void xml_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
}

/* Bars of ops/s per row, like the seed's chart. */
static void print_svg(FILE *f)
{
	const int w = 900, left = 230, right = 90, bar = 20, gap = 8;
	double max = 0;
	unsigned int i, rows = 0;
	int y;

	for (i = 0; i < NROWS; i++) {
		if (!results[i].reps)
			continue;
		rows++;
		if (results[i].ops_s > max)
			max = results[i].ops_s;
	}
	if (max <= 0)
		max = 1;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%u\" font-family=\"sans-serif\" font-size=\"12\">\n",
		w, 70 + rows * (bar + gap) + 20);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">doorbell-bench: rings per second (higher is better)</text>\n");
	fprintf(f, "<text x=\"10\" y=\"38\">kernel ");
	xml_str(f, kernel);
	fputs(", ", f);
	xml_str(f, cpu_model);
	fputs(", ", f);
	xml_str(f, accel);
	fputs("</text>\n", f);
	y = 55;
	for (i = 0; i < NROWS; i++) {
		const struct result *r = &results[i];
		double bw;

		if (!r->reps)
			continue;
		bw = r->ops_s / max * (w - left - right);
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
			left - 6, y + bar - 6, r->def->name);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
			left, y, bw, bar,
			!strncmp(r->def->name, "qemu", 4) ? "#b05050" :
			!strncmp(r->def->name, "limit", 5) ? "#909090" : "#4a7ab5");
		fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.0f</text>\n", left + bw + 4,
			y + bar - 6, r->ops_s);
		y += bar + gap;
	}
	fprintf(f, "</svg>\n");
}

static void usage(int status)
{
	unsigned int i;

	fprintf(status ? stderr : stdout,
		"usage: doorbell-bench [-n N] [-R REPS] [-r ROW[,ROW...]] [-t SEC] [-T SEC]\n"
		"                      [--no-doorbell] [--json] [--svg FILE]\n"
		"  -n N        rings per vCPU per run (default %u)\n"
		"  -R REPS     runs per row, the median is reported (default %u, max %d)\n"
		"  -r ROWS     only these rows (comma-separated names, or prefix*)\n"
		"  -P US       doorbell_core poll_us for the -poll rows (default %u)\n"
		"  -t SEC      stall limit: a run of a row whose rings stop coming for\n"
		"              SEC s (default %.0f) fails its row, with where its vCPUs\n"
		"              were, and the next row runs\n"
		"  -T SEC      time limit of one run of a row (default %.0f s + %.0f ms\n"
		"              per ring), the same way\n"
		"  --no-doorbell  no /dev/doorbell: each bell is a plain eventfd (rung by\n"
		"              write(2) after an exit to userspace) counted at the end;\n"
		"              the same guest exits without the doorbell modules\n"
		"  --json      print JSON instead of the table\n"
		"  --svg FILE  write a bar chart of ops/s per row\n"
		"  -l          list the rows\n"
		"Each row is printed as soon as it is done.  Needs /dev/kvm and\n"
		"/dev/doorbell (doorbell.ko) unless --no-doorbell.  Exit status 1 if a\n"
		"row failed (rings written != delivered, time limit, guest fault), 2 on\n"
		"setup errors.\n",
		iters, reps, MAX_REPS, bench_poll_us, stall_limit, LIMIT_BASE_S,
		LIMIT_PER_RING_S * 1e3);
	if (!status)
		for (i = 0; i < NROWS; i++)
			printf("  %-25s %s\n", rowdefs[i].name, rowdefs[i].what);
	exit(status);
}

static bool selected(const char *filter, const char *name)
{
	char buf[512], *tok, *save;

	if (!filter)
		return true;
	snprintf(buf, sizeof(buf), "%s", filter);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, name) ||
		    (tok[strlen(tok) - 1] == '*' && !strncmp(tok, name, strlen(tok) - 1)))
			return true;
	return false;
}

/* Does a name in @filter match no row?  Says which. */
static bool unknown_rows(const char *filter)
{
	char buf[512], *tok, *save;
	bool bad = false;
	unsigned int i;

	snprintf(buf, sizeof(buf), "%s", filter);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NROWS; i++)
			if (selected(tok, rowdefs[i].name))
				break;
		if (i == NROWS) {
			fprintf(stderr, "doorbell-bench: no row %s (-l lists them)\n", tok);
			bad = true;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "no-doorbell", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	struct sigaction sa = { .sa_handler = on_kick };	/* no SA_RESTART */
	const char *filter = NULL, *svg = NULL;
	bool failed = false;
	int c, kvm, holder;
	unsigned int i, k;
	cpu_set_t cpus;
	char *end;

	while ((c = getopt_long(argc, argv, "n:R:r:P:t:T:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': iters = strtoul(optarg, NULL, 0); break;
		case 'R': reps = strtoul(optarg, NULL, 0); break;
		case 'r': filter = optarg; break;
		case 'P': bench_poll_us = strtoul(optarg, NULL, 0); break;
		case 't':
			stall_limit = strtod(optarg, &end);
			if (*end || !(stall_limit >= 1 && stall_limit <= 86400))
				usage(2);
			break;
		case 'T':
			time_limit = strtod(optarg, &end);
			if (*end || !(time_limit >= 1 && time_limit <= 86400))
				usage(2);
			break;
		case 'D': no_doorbell = true; break;
		case 'j': json = true; break;
		case 's': svg = optarg; break;
		case 'l':
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !iters || iters > 100000000 || !reps || reps > MAX_REPS)
		usage(2);
	if (filter && unknown_rows(filter))
		usage(2);
	if (!time_limit)
		time_limit = LIMIT_BASE_S + LIMIT_PER_RING_S * iters;
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction: %s", strerror(errno));
	machine();
	read_poll_default();
	progress_tty = isatty(STDERR_FILENO) && !json;
	/* Fail early and plainly when the devices are not there. */
	if (!no_doorbell) {
		c = open(DEV, O_RDWR | O_CLOEXEC);
		if (c < 0)
			die("%s: %s (load doorbell.ko, or --no-doorbell)", DEV,
			    strerror(errno));
		close(c);
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm: %s", strerror(errno));
	/*
	 * An idle VM held for the whole run: KVM flips static keys (the
	 * scheduler's preempt notifiers) when the first VM is created and the
	 * last destroyed, patching kernel text on every CPU.  Holding one keeps
	 * that out of the rows' VMs coming and going, and out of what is
	 * measured.  (Nested under TCG, such patching while other CPUs were
	 * scheduling once ended in an int3 Oops in __schedule.)
	 */
	holder = ioctl(kvm, KVM_CREATE_VM, 0);
	if (holder < 0)
		die("KVM_CREATE_VM: %s", strerror(errno));
	if (!sched_getaffinity(0, sizeof(cpus), &cpus)) {
		for (c = 0; c < CPU_SETSIZE && cpu_b < 0; c++) {
			if (!CPU_ISSET(c, &cpus))
				continue;
			if (cpu_a < 0)
				cpu_a = c;
			else
				cpu_b = c;
		}
	}
	for (i = 0; i < NROWS; i++) {
		results[i].def = &rowdefs[i];
		results[i].run = results[i].ok = selected(filter, rowdefs[i].name);
	}
	/*
	 * Round k runs every row once: a burst of load elsewhere on the
	 * machine then spreads over the rows instead of hitting all the runs
	 * of one, and the medians' ratios stay put.
	 */
	/*
	 * A row is written when it is done: when it fails (or is n/a), else
	 * after its run in the last round.  Before the last round, stderr
	 * gets a line per round naming each row as it starts (on a tty: one
	 * line that changes), so a run that hangs shows where.
	 */
	out_header();
	for (k = 0; k < reps; k++) {
		for (i = 0; i < NROWS; i++) {
			if (!results[i].ok)
				continue;
			if (progress_tty) {
				fprintf(stderr, "\r%u/%u %-50s", k + 1, reps,
					rowdefs[i].name);
			} else if (k + 1 < reps) {
				if (!progress_open)
					fprintf(stderr, "doorbell-bench: round %u/%u:",
						k + 1, reps);
				fprintf(stderr, " %s", rowdefs[i].name);
				progress_open = true;
			}
			fflush(stderr);
			run_row(&results[i]);
			if (!results[i].ok || k + 1 == reps)
				out_row(&results[i]);
		}
		progress_end();
	}
	for (i = 0; i < NROWS; i++)
		if (results[i].run && !results[i].ok && strncmp(results[i].why, "n/a", 3))
			failed = true;
	close(holder);
	close(kvm);
	out_footer();
	if (svg) {
		FILE *f = fopen(svg, "w");

		if (!f)
			die("%s: %s", svg, strerror(errno));
		print_svg(f);
		fclose(f);
	}
	return failed ? 1 : 0;
}
