// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-trace: the signalling path of every kick, hop by hop.
 *
 * Runs a command (a doorbell-bench row, a guest workload, ...) while it
 * records KVM's tracepoints (exit, pio/mmio/fast mmio/hypercall, irq
 * injection, entry) and doorbell's (kick woken, work queued, worker start
 * and done, call signalled) system-wide through perf_event_open(), with
 * nanosecond CLOCK_MONOTONIC timestamps.  Then it correlates the events per
 * kick and prints the hop sequence of one kick as a timeline and, for each
 * hop, the latency distribution over the run; --json and --svg for programs
 * and charts.  Needs root (system-wide tracepoints).
 *
 * Correlation, per doorbell_kick event K on thread T:
 *   the last kvm_exit on T before K and the access (kvm_pio, kvm_mmio,
 *   kvm_fast_mmio, a hypercall) between them make K a guest kick; the first
 *   kvm_entry on T after K is the vCPU back in the guest; the
 *   doorbell_work_queue on T right after K (same device) is the work it
 *   queued, followed to its doorbell_work_start and doorbell_work_done by
 *   the work pointer.  A kick that finds the work already queued is
 *   "coalesced" into the pending run.  A doorbell_call by the worker during
 *   that run is the completion; the first KVM irq event after it (the irqfd
 *   firing: kvm_set_irq or kvm_msi_set_irq), the kvm_apic_accept_irq and
 *   kvm_inj_virq of its vector (the MSI's data, or the IOAPIC entry that
 *   kvm_ioapic_set_irq shows for the GSI's pin: a timer interrupt accepted
 *   in between is not the completion) and the kvm_entry on the injecting
 *   thread follow it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"

#define MAX_FIELDS	3
#define MAX_CPUS	256
#define RING_PAGES	1024	/* per CPU, a power of two */

/* The events, in the order the enum below names them. */
enum ev {
	E_EXIT, E_PIO, E_MMIO, E_FAST_MMIO, E_HV_HCALL, E_XEN_HCALL,
	E_USER_EXIT, E_ENTRY, E_SET_IRQ, E_MSI_IRQ, E_IOAPIC_IRQ, E_ACCEPT,
	E_INJ, E_KICK, E_HUP, E_QUEUE, E_START, E_DONE, E_CALL, NR_EV
};

struct evdesc {
	const char *sys, *name;
	const char *fields[MAX_FIELDS];
	bool required;
	/* from tracefs */
	int id;
	struct { int off, size; } f[MAX_FIELDS];
	bool present;
};

static struct evdesc evs[NR_EV] = {
	[E_EXIT]	= { "kvm", "kvm_exit", { "exit_reason", "isa", "vcpu_id" } },
	[E_PIO]		= { "kvm", "kvm_pio", { "rw", "port", "val" } },
	[E_MMIO]	= { "kvm", "kvm_mmio", { "type", "gpa", "len" } },
	[E_FAST_MMIO]	= { "kvm", "kvm_fast_mmio", { "gpa" } },
	[E_HV_HCALL]	= { "kvm", "kvm_hv_hypercall", { "code" } },
	[E_XEN_HCALL]	= { "kvm", "kvm_xen_hypercall", { "nr", "a0" } },
	[E_USER_EXIT]	= { "kvm", "kvm_userspace_exit", { "reason" } },
	[E_ENTRY]	= { "kvm", "kvm_entry", { "vcpu_id" } },
	[E_SET_IRQ]	= { "kvm", "kvm_set_irq", { "gsi", "level" } },
	[E_MSI_IRQ]	= { "kvm", "kvm_msi_set_irq", { "address", "data" } },
	[E_IOAPIC_IRQ]	= { "kvm", "kvm_ioapic_set_irq", { "pin", "e" } },
	[E_ACCEPT]	= { "kvm", "kvm_apic_accept_irq", { "apicid", "vec" } },
	[E_INJ]		= { "kvm", "kvm_inj_virq", { "vector" } },
	[E_KICK]	= { "doorbell", "doorbell_kick", { "dev", "poll", "count" }, true },
	[E_HUP]		= { "doorbell", "doorbell_hup", { "dev", "poll" } },
	[E_QUEUE]	= { "doorbell", "doorbell_work_queue", { "dev", "work" }, true },
	[E_START]	= { "doorbell", "doorbell_work_start", { "dev", "work" }, true },
	[E_DONE]	= { "doorbell", "doorbell_work_done", { "dev", "work" }, true },
	[E_CALL]	= { "doorbell", "doorbell_call", { "ctx" } },
};

struct rec {
	uint64_t t;		/* ns, CLOCK_MONOTONIC */
	uint64_t f[MAX_FIELDS];
	uint32_t tid;
	uint16_t cpu;
	uint16_t ev;
};

static struct rec *recs;
static size_t nrecs, caprecs;
static uint64_t lost, unknown;
static int id2ev[65536];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("doorbell-trace: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---------------------------------------------------------------- tracefs */

static const char *tracefs;

static void find_tracefs(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char p[PATH_MAX];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/events", dirs[i]);
		if (access(p, R_OK) == 0) {
			tracefs = dirs[i];
			return;
		}
	}
	/* Not mounted yet: mount it where it belongs. */
	if (mount("nodev", dirs[0], "tracefs", 0, NULL) == 0) {
		tracefs = dirs[0];
		return;
	}
	die("no tracefs at %s (%s); run as root with tracing in the kernel",
	    dirs[0], strerror(errno));
}

/* Parse one event's format file: its id and the fields we keep. */
static void read_format(struct evdesc *e)
{
	char p[PATH_MAX], line[512];
	FILE *f;
	int i;

	snprintf(p, sizeof(p), "%s/events/%s/%s/format", tracefs, e->sys, e->name);
	f = fopen(p, "r");
	if (!f) {
		if (e->required)
			die("%s:%s missing (%s): is doorbell_core loaded?",
			    e->sys, e->name, strerror(errno));
		return;
	}
	for (i = 0; i < MAX_FIELDS; i++)
		e->f[i].off = -1;
	e->id = -1;
	while (fgets(line, sizeof(line), f)) {
		char decl[256], *name;
		int off, size;

		if (sscanf(line, "ID: %d", &e->id) == 1)
			continue;
		if (sscanf(line, " field:%255[^;]; offset:%d; size:%d;",
			   decl, &off, &size) != 3)
			continue;
		name = strrchr(decl, ' ');
		name = name ? name + 1 : decl;
		name[strcspn(name, "[")] = '\0';
		for (i = 0; i < MAX_FIELDS; i++) {
			if (e->fields[i] && !strcmp(e->fields[i], name)) {
				e->f[i].off = off;
				e->f[i].size = size;
			}
		}
	}
	fclose(f);
	if (e->id < 0 || e->id > 65535)
		die("%s:%s: no usable ID in %s", e->sys, e->name, p);
	for (i = 0; i < MAX_FIELDS; i++)
		if (e->fields[i] && e->f[i].off < 0)
			die("%s:%s: no field %s in %s", e->sys, e->name,
			    e->fields[i], p);
	e->present = true;
}

/* ---------------------------------------------------------------- perf */

struct ring {
	int fd;
	void *base;
	size_t size;	/* data area */
	struct perf_event_mmap_page *meta;
};

static struct ring rings[MAX_CPUS];
static int *evfds;
static int nevfds, ncpus;

static int perf_open(struct perf_event_attr *a, int cpu)
{
	return syscall(SYS_perf_event_open, a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static void open_events(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int cpu, e;

	ncpus = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpus > MAX_CPUS)
		die("%d CPUs, at most %d supported", ncpus, MAX_CPUS);
	evfds = calloc((size_t)ncpus * NR_EV, sizeof(*evfds));
	if (!evfds)
		die("out of memory");
	for (cpu = 0; cpu < ncpus; cpu++) {
		rings[cpu].fd = -1;
		for (e = 0; e < NR_EV; e++) {
			struct perf_event_attr a = {
				.size = sizeof(a),
				.type = PERF_TYPE_TRACEPOINT,
				.config = evs[e].id,
				.sample_period = 1,
				.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
					       PERF_SAMPLE_CPU | PERF_SAMPLE_RAW,
				.disabled = 1,
				.use_clockid = 1,
				.clockid = CLOCK_MONOTONIC,
				.watermark = 1,
				.wakeup_watermark = RING_PAGES * pg / 4,
			};
			int fd;

			if (!evs[e].present)
				continue;
			fd = perf_open(&a, cpu);
			if (fd < 0) {
				/* An offline CPU has no events. */
				if (errno == ENODEV || errno == EINVAL)
					break;
				die("perf_event_open %s on CPU %d: %s (root? perf_event_paranoid?)",
				    evs[e].name, cpu, strerror(errno));
			}
			evfds[nevfds++] = fd;
			if (rings[cpu].fd < 0) {
				size_t len = (RING_PAGES + 1) * pg;
				void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
					       MAP_SHARED, fd, 0);

				if (m == MAP_FAILED)
					die("mmap perf ring: %s", strerror(errno));
				rings[cpu].fd = fd;
				rings[cpu].meta = m;
				rings[cpu].base = (char *)m + pg;
				rings[cpu].size = RING_PAGES * pg;
			} else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, rings[cpu].fd)) {
				die("PERF_EVENT_IOC_SET_OUTPUT: %s", strerror(errno));
			}
		}
	}
}

static void enable_events(int req)
{
	int i;

	for (i = 0; i < nevfds; i++)
		if (ioctl(evfds[i], req, 0))
			die("perf ioctl: %s", strerror(errno));
}

static uint64_t field(const unsigned char *raw, uint32_t rawlen,
		      const struct evdesc *e, int i)
{
	uint64_t v = 0;
	int off = e->f[i].off, size = e->f[i].size;

	if (off < 0 || size > 8 || (uint32_t)(off + size) > rawlen)
		return 0;
	memcpy(&v, raw + off, size);	/* little endian */
	return v;
}

static void add_sample(const unsigned char *p, size_t len)
{
	const unsigned char *raw;
	uint32_t tid, cpu, rawlen;
	uint16_t type;
	struct rec *r;
	uint64_t t;
	int e, i;

	/* TID: pid, tid; TIME; CPU: cpu, res; RAW: size, data */
	if (len < 8 + 8 + 8 + 4)
		return;
	memcpy(&tid, p + 4, 4);
	memcpy(&t, p + 8, 8);
	memcpy(&cpu, p + 16, 4);
	memcpy(&rawlen, p + 24, 4);
	raw = p + 28;
	if (rawlen < 8 || 28 + (size_t)rawlen > len)
		return;
	memcpy(&type, raw, 2);
	e = id2ev[type];
	if (e < 0) {
		unknown++;
		return;
	}
	if (nrecs == caprecs) {
		caprecs = caprecs ? caprecs * 2 : 1 << 16;
		recs = realloc(recs, caprecs * sizeof(*recs));
		if (!recs)
			die("out of memory for %zu events", caprecs);
	}
	r = &recs[nrecs++];
	r->t = t;
	r->tid = tid;
	r->cpu = cpu;
	r->ev = e;
	for (i = 0; i < MAX_FIELDS; i++)
		r->f[i] = evs[e].fields[i] ? field(raw, rawlen, &evs[e], i) : 0;
}

static void drain(struct ring *rg)
{
	uint64_t head = __atomic_load_n(&rg->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = rg->meta->data_tail;
	unsigned char buf[65536];

	while (tail < head) {
		struct perf_event_header h;
		size_t off = tail & (rg->size - 1), n;
		const unsigned char *p;

		memcpy(&h, (char *)rg->base + off,
		       off + sizeof(h) <= rg->size ? sizeof(h) : 0);
		if (off + sizeof(h) > rg->size) {
			n = rg->size - off;
			memcpy(&h, (char *)rg->base + off, n);
			memcpy((char *)&h + n, rg->base, sizeof(h) - n);
		}
		if (h.size < sizeof(h))
			die("corrupt perf ring");
		if (off + h.size <= rg->size) {
			p = (unsigned char *)rg->base + off;
		} else {
			n = rg->size - off;
			memcpy(buf, (char *)rg->base + off, n);
			memcpy(buf + n, rg->base, h.size - n);
			p = buf;
		}
		if (h.type == PERF_RECORD_SAMPLE) {
			add_sample(p + sizeof(h), h.size - sizeof(h));
		} else if (h.type == PERF_RECORD_LOST) {
			uint64_t l;

			memcpy(&l, p + sizeof(h) + 8, 8);
			lost += l;
		}
		tail += h.size;
	}
	__atomic_store_n(&rg->meta->data_tail, tail, __ATOMIC_RELEASE);
}

static void drain_all(void)
{
	int c;

	for (c = 0; c < ncpus; c++)
		if (rings[c].fd >= 0)
			drain(&rings[c]);
}

/* Run the command, draining the rings while it runs. */
static int run(char **argv)
{
	struct pollfd pfd[MAX_CPUS];
	int status, n = 0, c;
	pid_t pid;

	for (c = 0; c < ncpus; c++) {
		if (rings[c].fd < 0)
			continue;
		pfd[n].fd = rings[c].fd;
		pfd[n].events = POLLIN;
		n++;
	}
	enable_events(PERF_EVENT_IOC_ENABLE);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "doorbell-trace: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			die("waitpid: %s", strerror(errno));
		poll(pfd, n, 20);
		drain_all();
	}
	enable_events(PERF_EVENT_IOC_DISABLE);
	drain_all();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* ---------------------------------------------------------------- analysis */

enum hop {
	H_EXIT_ACCESS, H_ACCESS_KICK, H_KICK_QUEUE, H_QUEUE_START, H_START_DONE,
	H_KICK_ENTRY, H_EXIT_ENTRY, H_START_CALL, H_CALL_IRQ, H_IRQ_ACCEPT,
	H_ACCEPT_INJ, H_INJ_ENTRY, H_EXIT_DONE, H_EXIT_INJ, NR_HOP
};

static const char *const hop_name[NR_HOP] = {
	[H_EXIT_ACCESS]	= "exit -> pio/mmio decoded",
	[H_ACCESS_KICK]	= "decoded -> kick woken",
	[H_KICK_QUEUE]	= "kick -> work queued",
	[H_QUEUE_START]	= "queued -> worker start",
	[H_START_DONE]	= "worker start -> done",
	[H_KICK_ENTRY]	= "kick -> vCPU entry",
	[H_EXIT_ENTRY]	= "exit -> entry (vCPU cost)",
	[H_START_CALL]	= "worker start -> call signalled",
	[H_CALL_IRQ]	= "call -> irqfd injects",
	[H_IRQ_ACCEPT]	= "irq -> APIC accepts",
	[H_ACCEPT_INJ]	= "APIC accepts -> injected",
	[H_INJ_ENTRY]	= "injected -> vCPU entry",
	[H_EXIT_DONE]	= "total: exit -> worker done",
	[H_EXIT_INJ]	= "total: exit -> interrupt injected",
};

static const char *const hop_key[NR_HOP] = {
	"exit_access", "access_kick", "kick_queue", "queue_start", "start_done",
	"kick_entry", "exit_entry", "start_call", "call_irq", "irq_accept",
	"accept_inj", "inj_entry", "exit_done", "exit_inj",
};

struct series {
	uint64_t *v;
	size_t n, cap;
};

static struct series hops[NR_HOP];

/* Per kick: the indices of its events (or -1). */
struct kick {
	long exit, access, kick, queue, start, done, entry;
	long call, irq, accept, inj, inj_entry;
};

static struct kick *kicks;
static size_t nkicks, guest_kicks, coalesced, complete_kicks, ordered_bad;

static void push(enum hop h, uint64_t a, uint64_t b)
{
	struct series *s = &hops[h];

	if (b < a)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = b - a;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool is_access(int ev)
{
	return ev == E_PIO || ev == E_MMIO || ev == E_FAST_MMIO ||
	       ev == E_HV_HCALL || ev == E_XEN_HCALL;
}

static bool is_irq(int ev)
{
	return ev == E_SET_IRQ || ev == E_MSI_IRQ;
}

/* The next event of kind @ev after index @i, on @tid if nonzero. */
static long next_ev(long i, int ev, uint32_t tid, size_t limit)
{
	size_t j;

	for (j = i + 1; j < nrecs && j < (size_t)i + 1 + limit; j++)
		if (recs[j].ev == ev && (!tid || recs[j].tid == tid))
			return j;
	return -1;
}

/* The next event of kind @ev after @i whose field @f is @val (any if -1). */
static long next_ev_val(long i, int ev, int f, int64_t val, size_t limit)
{
	size_t j;

	for (j = i + 1; j < nrecs && j < (size_t)i + 1 + limit; j++)
		if (recs[j].ev == ev && (val < 0 || recs[j].f[f] == (uint64_t)val))
			return j;
	return -1;
}

/*
 * The vector an irqfd's injection delivers: an MSI's data, or the vector of
 * the IOAPIC redirection entry of the GSI's pin (kvm_ioapic_set_irq's
 * entry, low 8 bits).  -1 when the trace does not say.
 */
static int64_t irq_vector(long irq)
{
	long io;

	if (recs[irq].ev == E_MSI_IRQ)
		return recs[irq].f[1] & 0xff;
	io = next_ev_val(irq, E_IOAPIC_IRQ, 0, recs[irq].f[0], 4096);
	return io < 0 ? -1 : (int64_t)(recs[io].f[1] & 0xff);
}

static void correlate(void)
{
	size_t i;

	qsort(recs, nrecs, sizeof(*recs), cmp_rec);
	kicks = calloc(nrecs ? nrecs : 1, sizeof(*kicks));
	if (!kicks)
		die("out of memory");
	for (i = 0; i < nrecs; i++) {
		struct kick k = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
		uint32_t tid = recs[i].tid;
		long j;

		if (recs[i].ev != E_KICK)
			continue;
		k.kick = i;
		/* Back on this thread: the access and the exit before it. */
		for (j = (long)i - 1; j >= 0 && (size_t)j + 4096 > i; j--) {
			if (recs[j].tid != tid)
				continue;
			if (recs[j].ev == E_ENTRY || recs[j].ev == E_KICK)
				break;
			if (is_access(recs[j].ev) && k.access < 0)
				k.access = j;
			if (recs[j].ev == E_EXIT) {
				k.exit = j;
				break;
			}
		}
		if (k.exit >= 0) {
			guest_kicks++;
			k.entry = next_ev(i, E_ENTRY, tid, 1 << 16);
		}
		/* The work this kick queued: the wake function queues it
		 * right after the kick, so it is the thread's next event.
		 */
		for (j = i + 1; (size_t)j < nrecs && (size_t)j < i + 4096; j++) {
			if (recs[j].tid != tid)
				continue;
			if (recs[j].ev == E_QUEUE && recs[j].f[0] == recs[i].f[0])
				k.queue = j;
			break;
		}
		if (k.queue < 0) {
			coalesced++;
		} else {
			uint64_t work = recs[k.queue].f[1];

			for (j = k.queue + 1; (size_t)j < nrecs; j++) {
				if (recs[j].f[1] != work)
					continue;
				if (recs[j].ev == E_START && k.start < 0)
					k.start = j;
				else if (recs[j].ev == E_DONE && k.start >= 0) {
					k.done = j;
					break;
				}
			}
		}
		/* Completion: a call by the worker during its run. */
		if (k.start >= 0 && k.done >= 0) {
			uint32_t wt = recs[k.start].tid;

			for (j = k.start + 1; j < k.done; j++)
				if (recs[j].ev == E_CALL && recs[j].tid == wt) {
					k.call = j;
					break;
				}
		}
		if (k.call >= 0) {
			for (j = k.call + 1; (size_t)j < nrecs && (size_t)j < (size_t)k.call + 4096; j++)
				if (is_irq(recs[j].ev)) {
					k.irq = j;
					break;
				}
			/* The APIC accepting and the vCPU injecting that
			 * irq's vector, not another interrupt (a timer).
			 */
			if (k.irq >= 0) {
				int64_t vec = irq_vector(k.irq);

				k.accept = next_ev_val(k.irq, E_ACCEPT, 1, vec, 4096);
				if (k.accept >= 0)
					k.inj = next_ev_val(k.accept, E_INJ, 0,
							    recs[k.accept].f[1], 1 << 16);
			}
			if (k.inj >= 0)
				k.inj_entry = next_ev(k.inj, E_ENTRY,
						      recs[k.inj].tid, 4096);
		}
		kicks[nkicks++] = k;
	}
}

#define T(x) (recs[x].t)

static void collect(void)
{
	size_t i;

	for (i = 0; i < nkicks; i++) {
		const struct kick *k = &kicks[i];

		if (k->exit >= 0 && k->access >= 0)
			push(H_EXIT_ACCESS, T(k->exit), T(k->access));
		if (k->access >= 0)
			push(H_ACCESS_KICK, T(k->access), T(k->kick));
		if (k->queue >= 0)
			push(H_KICK_QUEUE, T(k->kick), T(k->queue));
		if (k->start >= 0)
			push(H_QUEUE_START, T(k->queue), T(k->start));
		if (k->done >= 0)
			push(H_START_DONE, T(k->start), T(k->done));
		if (k->entry >= 0) {
			push(H_KICK_ENTRY, T(k->kick), T(k->entry));
			push(H_EXIT_ENTRY, T(k->exit), T(k->entry));
		}
		if (k->exit >= 0 && k->done >= 0)
			push(H_EXIT_DONE, T(k->exit), T(k->done));
		if (k->call >= 0)
			push(H_START_CALL, T(k->start), T(k->call));
		if (k->irq >= 0)
			push(H_CALL_IRQ, T(k->call), T(k->irq));
		if (k->accept >= 0)
			push(H_IRQ_ACCEPT, T(k->irq), T(k->accept));
		if (k->inj >= 0)
			push(H_ACCEPT_INJ, T(k->accept), T(k->inj));
		if (k->inj_entry >= 0)
			push(H_INJ_ENTRY, T(k->inj), T(k->inj_entry));
		if (k->exit >= 0 && k->inj >= 0)
			push(H_EXIT_INJ, T(k->exit), T(k->inj));
	}
	for (i = 0; i < NR_HOP; i++)
		qsort(hops[i].v, hops[i].n, sizeof(uint64_t), cmp_u64);
}

/* The events of a kick, in hop order. */
static int kick_events(const struct kick *k, long *out)
{
	const long seq[] = {
		k->exit, k->access, k->kick, k->queue, k->entry, k->start,
		k->call, k->irq, k->accept, k->inj, k->inj_entry, k->done,
	};
	int n = 0;
	unsigned int i;

	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		if (seq[i] >= 0)
			out[n++] = seq[i];
	return n;
}

static int cmp_idx(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* A kick is complete when the whole guest -> worker path is there (and
 * the completion path when the run signalled calls at all); its events
 * must then be in causal order.
 */
static bool kick_complete(const struct kick *k, bool want_call)
{
	if (k->exit < 0 || k->access < 0 || k->queue < 0 || k->start < 0 ||
	    k->done < 0 || k->entry < 0)
		return false;
	if (want_call && (k->call < 0 || k->irq < 0 || k->inj < 0))
		return false;
	return true;
}

static bool kick_ordered(const struct kick *k)
{
	if (!(k->exit < k->access && k->access < k->kick &&
	      k->kick < k->queue && k->queue < k->start &&
	      k->start < k->done && k->kick < k->entry))
		return false;
	if (k->call >= 0 && !(k->start < k->call && k->call < k->done))
		return false;
	if (k->irq >= 0 && !(k->call < k->irq))
		return false;
	if (k->inj >= 0 && !(k->irq < k->inj))
		return false;
	return true;
}

/* ---------------------------------------------------------------- output */

static const char *exit_reason(uint64_t reason, uint64_t isa)
{
	static char buf[32];

	if (isa == 2) {		/* SVM */
		switch (reason) {
		case 0x7b: return "io";
		case 0x400: return "npf";
		case 0x81: return "vmmcall";
		case 0x78: return "hlt";
		}
	} else if (isa == 1) {	/* VMX */
		switch (reason & 0xffff) {
		case 30: return "IO_INSTRUCTION";
		case 48: return "EPT_VIOLATION";
		case 49: return "EPT_MISCONFIG";
		case 18: return "VMCALL";
		case 12: return "HLT";
		}
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, reason);
	return buf;
}

static void describe(const struct rec *r, char *buf, size_t len)
{
	switch (r->ev) {
	case E_EXIT:
		snprintf(buf, len, "vcpu %" PRIu64 " reason %s", r->f[2],
			 exit_reason(r->f[0], r->f[1]));
		break;
	case E_PIO:
		snprintf(buf, len, "%s port 0x%" PRIx64 " val 0x%" PRIx64,
			 r->f[0] ? "write" : "read", r->f[1], r->f[2]);
		break;
	case E_MMIO:
		snprintf(buf, len, "type %" PRIu64 " gpa 0x%" PRIx64 " len %" PRIu64,
			 r->f[0], r->f[1], r->f[2]);
		break;
	case E_FAST_MMIO:
		snprintf(buf, len, "gpa 0x%" PRIx64, r->f[0]);
		break;
	case E_ENTRY:
		snprintf(buf, len, "vcpu %" PRIu64, r->f[0]);
		break;
	case E_KICK:
		snprintf(buf, len, "dev %" PRIu64 " count %" PRIu64, r->f[0], r->f[2]);
		break;
	case E_QUEUE: case E_START: case E_DONE:
		snprintf(buf, len, "dev %" PRIu64, r->f[0]);
		break;
	case E_SET_IRQ:
		snprintf(buf, len, "gsi %" PRIu64 " level %" PRId64, r->f[0],
			 (int64_t)(int32_t)r->f[1]);
		break;
	case E_ACCEPT:
		snprintf(buf, len, "apicid %" PRIu64 " vec %" PRIu64, r->f[0], r->f[1]);
		break;
	case E_INJ:
		snprintf(buf, len, "vector 0x%" PRIx64, r->f[0]);
		break;
	default:
		buf[0] = '\0';
	}
}

static uint64_t pct(const struct series *s, int p)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (s->n * (size_t)p + 99) / 100;
	if (i)
		i--;
	return s->v[i < s->n ? i : s->n - 1];
}

static long pick_timeline(bool want_call)
{
	size_t i, n = 0;
	long best = -1;
	uint64_t *tot, med;

	/* The complete kick whose exit -> done time is the median one. */
	tot = malloc((nkicks + 1) * sizeof(*tot));
	if (!tot)
		die("out of memory");
	for (i = 0; i < nkicks; i++)
		if (kick_complete(&kicks[i], want_call) && kick_ordered(&kicks[i]))
			tot[n++] = T(kicks[i].done) - T(kicks[i].exit);
	if (n) {
		qsort(tot, n, sizeof(*tot), cmp_u64);
		med = tot[n / 2];
		for (i = 0; i < nkicks; i++)
			if (kick_complete(&kicks[i], want_call) &&
			    kick_ordered(&kicks[i]) &&
			    T(kicks[i].done) - T(kicks[i].exit) == med) {
				best = i;
				break;
			}
	}
	free(tot);
	return best;
}

static void print_table(long tl, int cmd_rc)
{
	long ev[16];
	int i, n;

	printf("doorbell-trace: kernel %s, CPU %s, accelerator: %s\n", kernel,
	       cpu_model, accel);
	printf("events: %zu recorded, %" PRIu64 " lost; kicks: %zu (%zu from a vCPU exit, %zu coalesced into a pending run, %zu complete)\n",
	       nrecs, lost, nkicks, guest_kicks, coalesced, complete_kicks);
	if (ordered_bad)
		printf("kicks out of order: %zu\n", ordered_bad);
	printf("command exit status: %d\n\n", cmd_rc);
	if (tl >= 0) {
		uint64_t t0;

		n = kick_events(&kicks[tl], ev);
		qsort(ev, n, sizeof(long), cmp_idx);
		t0 = recs[ev[0]].t;
		printf("one kick (median exit -> worker done), in time order:\n");
		printf("  %10s  %-4s %-8s %-22s %s\n", "+us", "cpu", "tid", "event", "");
		for (i = 0; i < n; i++) {
			char d[96];

			describe(&recs[ev[i]], d, sizeof(d));
			printf("  %10.3f  %-4u %-8u %-22s %s\n",
			       (recs[ev[i]].t - t0) / 1000.0, recs[ev[i]].cpu,
			       recs[ev[i]].tid, evs[recs[ev[i]].ev].name, d);
		}
		printf("\n");
	} else {
		printf("no complete kick to show\n\n");
	}
	printf("%-34s %8s %10s %10s %10s %10s\n", "hop (us)", "count", "p50",
	       "p90", "p99", "max");
	for (i = 0; i < NR_HOP; i++) {
		const struct series *s = &hops[i];

		if (!s->n)
			continue;
		printf("%-34s %8zu %10.3f %10.3f %10.3f %10.3f\n", hop_name[i],
		       s->n, pct(s, 50) / 1e3, pct(s, 90) / 1e3, pct(s, 99) / 1e3,
		       s->v[s->n - 1] / 1e3);
	}
}

static void print_json(FILE *f, long tl, int cmd_rc)
{
	long ev[16];
	int i, n;

	fprintf(f, "{\"tool\":\"doorbell-trace\",\"kernel\":");
	json_str(f, kernel);
	fprintf(f, ",\"cpu\":");
	json_str(f, cpu_model);
	fprintf(f, ",\"accel\":");
	json_str(f, accel);
	fprintf(f, ",\"events\":%zu,\"lost\":%" PRIu64 ",\"kicks\":%zu,\"guest_kicks\":%zu,\"coalesced\":%zu,\"complete\":%zu,\"out_of_order\":%zu,\"command_status\":%d,\"hops\":[",
		nrecs, lost, nkicks, guest_kicks, coalesced, complete_kicks,
		ordered_bad, cmd_rc);
	for (i = 0, n = 0; i < NR_HOP; i++) {
		const struct series *s = &hops[i];

		if (!s->n)
			continue;
		fprintf(f, "%s{\"hop\":\"%s\",\"name\":", n++ ? "," : "", hop_key[i]);
		json_str(f, hop_name[i]);
		fprintf(f, ",\"count\":%zu,\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 "}",
			s->n, pct(s, 50), pct(s, 90), pct(s, 99), s->v[s->n - 1]);
	}
	fprintf(f, "],\"timeline\":[");
	if (tl >= 0) {
		n = kick_events(&kicks[tl], ev);
		qsort(ev, n, sizeof(long), cmp_idx);
		for (i = 0; i < n; i++) {
			char d[96];

			describe(&recs[ev[i]], d, sizeof(d));
			fprintf(f, "%s{\"t_ns\":%" PRIu64 ",\"cpu\":%u,\"tid\":%u,\"event\":\"%s\",\"detail\":",
				i ? "," : "", recs[ev[i]].t - recs[ev[0]].t,
				recs[ev[i]].cpu, recs[ev[i]].tid,
				evs[recs[ev[i]].ev].name);
			json_str(f, d);
			fputc('}', f);
		}
	}
	fprintf(f, "]}\n");
}

static double pow10_floor(double v)
{
	return pow(10, floor(log10(v)));
}

/* A bar per hop: p50 bar, p90 and p99 ticks, on a log scale. */
static void print_svg(FILE *f)
{
	const int w = 900, left = 280, right = 40, bar = 18, gap = 10;
	double lo = 1e9, hi = 0, span;
	int i, rows = 0, y, h;

	for (i = 0; i < NR_HOP; i++) {
		if (!hops[i].n)
			continue;
		rows++;
		if (pct(&hops[i], 50) > 0 && pct(&hops[i], 50) < lo)
			lo = pct(&hops[i], 50);
		if (pct(&hops[i], 99) > hi)
			hi = pct(&hops[i], 99);
	}
	if (lo > hi)
		lo = 1, hi = 10;
	lo = pow10_floor(lo);
	span = log10(hi / lo) > 0.5 ? log10(hi / lo) : 0.5;
	h = 60 + rows * (bar + gap) + 40;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n",
		w, h);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">doorbell-trace: per-hop latency (bar p50, ticks p90/p99), log scale, %s</text>\n",
		kernel);
	y = 40;
	for (i = 0; i < NR_HOP; i++) {
		const struct series *s = &hops[i];
		double x50, x90, x99;

		if (!s->n)
			continue;
#define X(v) (left + ((v) > lo ? log10((v) / lo) / span : 0) * (w - left - right))
		x50 = X((double)pct(s, 50));
		x90 = X((double)pct(s, 90));
		x99 = X((double)pct(s, 99));
#undef X
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
			left - 6, y + bar - 5, hop_name[i]);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#4a7ab5\"/>\n",
			left, y, x50 - left, bar);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#d08020\" stroke-width=\"2\"/>\n",
			x90, x90, y, y + bar);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#b02020\" stroke-width=\"2\"/>\n",
			x99, x99, y, y + bar);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.2f us</text>\n", x99 + 4,
			y + bar - 5, pct(s, 50) / 1e3);
		y += bar + gap;
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\">scale: %.3g us .. %.3g us</text>\n",
		left, y + 20, lo / 1e3, lo * pow(10, span) / 1e3);
	fprintf(f, "</svg>\n");
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: doorbell-trace [options] -- CMD [ARG...]\n"
		"Runs CMD while recording KVM's and doorbell's tracepoints system-wide,\n"
		"then prints one kick's hop sequence and per-hop latencies.\n"
		"  --json FILE     also write JSON (- for stdout, then no table)\n"
		"  --svg FILE      write a per-hop latency chart\n"
		"  --check N       exit 1 unless at least N kicks are complete and in\n"
		"                  order, none is out of order and no event was lost\n"
		"  --want-call     a complete kick includes the call -> irq -> inject\n"
		"                  path (backends); default: when the run had calls\n"
		"Exit: CMD's status if it failed, else 0 (1 when --check fails).\n");
	exit(status);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", required_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "check", required_argument, NULL, 'c' },
		{ "want-call", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	const char *json = NULL, *svg = NULL;
	long check = -1, tl;
	bool want_call = false, calls = false;
	int c, rc, e;
	size_t i;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = optarg; break;
		case 's': svg = optarg; break;
		case 'c': check = strtol(optarg, NULL, 0); break;
		case 'w': want_call = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind >= argc)
		usage(2);
	machine();
	find_tracefs();
	for (i = 0; i < 65536; i++)
		id2ev[i] = -1;
	for (e = 0; e < NR_EV; e++) {
		read_format(&evs[e]);
		if (evs[e].present)
			id2ev[evs[e].id] = e;
	}
	open_events();
	rc = run(argv + optind);
	correlate();
	for (i = 0; i < nrecs; i++)
		if (recs[i].ev == E_CALL)
			calls = true;
	want_call = want_call || calls;
	for (i = 0; i < nkicks; i++) {
		if (!kick_complete(&kicks[i], want_call))
			continue;
		if (kick_ordered(&kicks[i]))
			complete_kicks++;
		else
			ordered_bad++;
	}
	collect();
	tl = pick_timeline(want_call);
	if (!json || strcmp(json, "-"))
		print_table(tl, rc);
	if (json) {
		FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;

		if (!f)
			die("%s: %s", json, strerror(errno));
		print_json(f, tl, rc);
		if (f != stdout)
			fclose(f);
	}
	if (svg) {
		FILE *f = fopen(svg, "w");

		if (!f)
			die("%s: %s", svg, strerror(errno));
		print_svg(f);
		fclose(f);
	}
	if (rc)
		return rc;
	if (check >= 0) {
		if (lost || ordered_bad || complete_kicks < (size_t)check) {
			fprintf(stderr, "doorbell-trace: check failed: %zu complete kicks (want >= %ld), %zu out of order, %" PRIu64 " events lost\n",
				complete_kicks, check, ordered_bad, lost);
			return 1;
		}
	}
	return 0;
}
