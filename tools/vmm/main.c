// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: options, the KVM VM and its vCPU threads, exits.
 *
 * usage: doorbell-vmm --kernel BZIMAGE [--initrd FILE] [--append CMDLINE]
 *            [--mem MIB] [--cpus N] [--disk FILE[,ro][,direct][,backend=kernel|user]]...
 *            [--net tap=NAME[,backend=kernel|vhost-net|user]]...
 *
 * Exit status: 0 the guest powered off, 2 it rebooted, 3 it triple-faulted,
 * 4 KVM could not run it, 1 the VMM could not start (the message says why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

static struct vmm vmm = {
	.exit_lock = PTHREAD_MUTEX_INITIALIZER,
};

void vmm_die(const char *fmt, ...)
{
	va_list ap;

	serial_restore_tty();
	fputs("doorbell-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(VMM_EXIT_ERROR);
}

void vmm_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("doorbell-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The first reason to stop wins; the main thread does the rest. */
void vmm_exit(struct vmm *v, enum vmm_exit code, const char *why)
{
	pthread_mutex_lock(&v->exit_lock);
	if (!v->exiting) {
		__atomic_store_n(&v->exiting, true, __ATOMIC_RELEASE);
		v->exit_code = code;
		if (v->debug || code != VMM_EXIT_POWEROFF)
			vmm_warn("%s", why);
	}
	pthread_mutex_unlock(&v->exit_lock);
}

/* Host address of guest range [gpa, gpa + len), or NULL if outside RAM. */
void *gpa_range(struct vmm *v, uint64_t gpa, uint64_t len)
{
	if (gpa > v->mem_size || len > v->mem_size - gpa)
		return NULL;
	return v->mem + gpa;
}

/* The ACPI PM timer: 3.579545 MHz, 24 bits. */
static uint32_t pm_timer(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(((unsigned __int128)(ts.tv_sec * 1000000000ULL +
						 ts.tv_nsec) * 3579545) /
			  1000000000ULL) & 0xffffff;
}

/* PM1a enable register: kept, so that ACPICA sees its write take. */
static uint16_t pm1_enable;

static void pio(struct vmm *v, uint16_t port, bool write, uint8_t *data,
		uint32_t size)
{
	uint32_t x = 0;

	if (port >= VMM_COM1 && port < VMM_COM1 + 8 && size == 1) {
		serial_io(v, port, write, data);
		return;
	}
	if (write) {
		memcpy(&x, data, size < 4 ? size : 4);
		if (port == VMM_ACPI_PM1A_EVT + 2 && size == 2)
			pm1_enable = x;
		if (port == VMM_I8042_CMD && size == 1 && x == 0xfe)
			vmm_exit(v, VMM_EXIT_REBOOT, "the guest rebooted");
		/* PM1a control: SLP_EN with SLP_TYP 5 (_S5) */
		if (port == VMM_ACPI_PM1A_CNT && size == 2 && (x & (1 << 13)) &&
		    ((x >> 10) & 7) == 5)
			vmm_exit(v, VMM_EXIT_POWEROFF, "the guest powered off");
		return;
	}
	if (port == VMM_ACPI_PM1A_CNT)
		x = 1;			/* SCI_EN: in ACPI mode */
	else if (port == VMM_ACPI_PM1A_EVT + 2 && size == 2)
		x = pm1_enable;		/* no event ever fires */
	else if (port == VMM_ACPI_PM_TMR && size == 4)
		x = pm_timer();
	else if (port >= VMM_ACPI_PM1A_EVT && port < VMM_ACPI_PM1A_EVT + 4)
		x = 0;
	else
		x = 0xffffffff;		/* nothing here: the bus floats high */
	memcpy(data, &x, size < 4 ? size : 4);
}

struct vcpu {
	struct vmm *v;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
};

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vmm *v = c->v;
	struct kvm_run *run = c->run;
	char why[128];

	for (;;) {
		/* Powered off, rebooted or failed: the guest runs no further. */
		if (__atomic_load_n(&v->exiting, __ATOMIC_ACQUIRE))
			return NULL;
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, sizeof(why), "vCPU %d: KVM_RUN: %s", c->id,
				 strerror(errno));
			vmm_exit(v, VMM_EXIT_INTERNAL, why);
			return NULL;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *p = (uint8_t *)run + run->io.data_offset;
			uint32_t i;

			for (i = 0; i < run->io.count; i++, p += run->io.size)
				pio(v, run->io.port,
				    run->io.direction == KVM_EXIT_IO_OUT, p,
				    run->io.size);
			break;
		}
		case KVM_EXIT_MMIO:
			if (!virtio_mmio(v, run->mmio.phys_addr,
					 run->mmio.is_write, run->mmio.data,
					 run->mmio.len) && !run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_SHUTDOWN:
			snprintf(why, sizeof(why),
				 "vCPU %d: the guest triple-faulted (KVM_EXIT_SHUTDOWN)",
				 c->id);
			vmm_exit(v, VMM_EXIT_TRIPLE_FAULT, why);
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
				vmm_exit(v, VMM_EXIT_REBOOT, "the guest rebooted");
			else
				vmm_exit(v, VMM_EXIT_POWEROFF, "the guest powered off");
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why),
				 "vCPU %d: KVM_EXIT_FAIL_ENTRY, reason 0x%llx",
				 c->id, (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
			vmm_exit(v, VMM_EXIT_INTERNAL, why);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			snprintf(why, sizeof(why),
				 "vCPU %d: KVM_EXIT_INTERNAL_ERROR, suberror %u",
				 c->id, run->internal.suberror);
			vmm_exit(v, VMM_EXIT_INTERNAL, why);
			return NULL;
		default:
			snprintf(why, sizeof(why), "vCPU %d: unhandled exit %u",
				 c->id, run->exit_reason);
			vmm_exit(v, VMM_EXIT_INTERNAL, why);
			return NULL;
		}
	}
}

static void kvm_init(struct vmm *v)
{
	struct kvm_pit_config pit = { 0 };	/* port 0x61 in KVM too */
	struct kvm_userspace_memory_region region;
	int ver;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		vmm_die("open /dev/kvm: %s (KVM is not available here)",
			strerror(errno));
	ver = ioctl(v->kvm, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		vmm_die("KVM API version %d, not %d", ver, KVM_API_VERSION);
	if (ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) <= 0 ||
	    ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0)
		vmm_die("KVM lacks irqfd or ioeventfd");
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		vmm_die("KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(v->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		vmm_die("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(v->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		vmm_die("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(v->vm, KVM_CREATE_PIT2, &pit) < 0)
		vmm_die("KVM_CREATE_PIT2: %s", strerror(errno));

	v->mem = mmap(NULL, v->mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->mem == MAP_FAILED)
		vmm_die("guest memory (%llu MiB): %s",
			(unsigned long long)(v->mem_size >> 20), strerror(errno));
	madvise(v->mem, v->mem_size, MADV_MERGEABLE);
	region = (struct kvm_userspace_memory_region) {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = v->mem_size,
		.userspace_addr = (uintptr_t)v->mem,
	};
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		vmm_die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
}

static void usage(FILE *f)
{
	fputs("usage: doorbell-vmm --kernel BZIMAGE [--initrd FILE] [--append CMDLINE]\n"
	      "           [--mem MIB] [--cpus N] [--debug]\n"
	      "           [--disk FILE[,ro][,direct][,queues=N][,backend=kernel|user]]...\n"
	      "           [--net tap=NAME[,mac=XX:..][,backend=kernel|vhost-net|user]]...\n"
	      "Boots a 64-bit Linux bzImage with an 8250 console on stdin/stdout and\n"
	      "virtio-mmio devices.  backend=kernel serves a queue in the kernel\n"
	      "(/dev/doorbell-blk, /dev/doorbell-net), backend=vhost-net in in-tree\n"
	      "vhost-net, backend=user in a VMM thread.  Exit status: 0 powered off,\n"
	      "2 rebooted, 3 triple fault, 4 KVM could not run the guest, 1 error.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kernel = NULL, *initrd = NULL, *append = "console=ttyS0";
	const char *disks[VMM_MAX_DEVS], *nets[VMM_MAX_DEVS];
	int ndisks = 0, nnets = 0, opt, i;
	struct vcpu cpus[VMM_MAX_CPUS];
	struct vmm *v = &vmm;
	unsigned long n;
	char *end;
	int run_size;
	sigset_t set;

	v->mem_size = 256ULL << 20;
	v->ncpus = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'a':
			append = optarg;
			break;
		case 'm':
			n = strtoul(optarg, &end, 0);
			if (*end || n < 32 || n > (VMM_MEM_MAX >> 20))
				vmm_die("--mem %s: MiB from 32 to %llu", optarg,
					VMM_MEM_MAX >> 20);
			v->mem_size = (uint64_t)n << 20;
			break;
		case 'c':
			n = strtoul(optarg, &end, 0);
			if (*end || n < 1 || n > VMM_MAX_CPUS)
				vmm_die("--cpus %s: from 1 to %d", optarg,
					VMM_MAX_CPUS);
			v->ncpus = n;
			break;
		case 'd':
		case 'n':
			if (ndisks + nnets == VMM_MAX_DEVS)
				vmm_die("at most %d devices", VMM_MAX_DEVS);
			if (opt == 'd')
				disks[ndisks++] = optarg;
			else
				nets[nnets++] = optarg;
			break;
		case 'D':
			v->debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return VMM_EXIT_ERROR;
		}
	}
	if (optind != argc || !kernel) {
		usage(stderr);
		return VMM_EXIT_ERROR;
	}

	kvm_init(v);
	for (i = 0; i < ndisks; i++)
		if (blk_add(v, disks[i]) < 0)
			return VMM_EXIT_ERROR;
	for (i = 0; i < nnets; i++)
		if (net_add(v, nets[i]) < 0)
			return VMM_EXIT_ERROR;

	boot_load(v, kernel, initrd, append);

	run_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		vmm_die("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	for (i = 0; i < v->ncpus; i++) {
		cpus[i].v = v;
		cpus[i].id = i;
		cpus[i].fd = ioctl(v->vm, KVM_CREATE_VCPU, i);
		if (cpus[i].fd < 0)
			vmm_die("KVM_CREATE_VCPU %d: %s", i, strerror(errno));
		cpus[i].run = mmap(NULL, run_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, cpus[i].fd, 0);
		if (cpus[i].run == MAP_FAILED)
			vmm_die("mmap of vCPU %d: %s", i, strerror(errno));
		boot_setup_cpu(v, cpus[i].fd, i);
	}

	/* Signals go to this thread; every other thread blocks them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	serial_init(v);
	for (i = 0; i < v->ncpus; i++)
		if (pthread_create(&cpus[i].thread, NULL, vcpu_thread, &cpus[i]))
			vmm_die("cannot start vCPU %d's thread", i);

	pthread_mutex_lock(&v->exit_lock);
	while (!v->exiting) {
		struct timespec ts = { 0 };

		/* Poll for SIGINT/SIGTERM: stop like a power-off request. */
		pthread_mutex_unlock(&v->exit_lock);
		ts.tv_nsec = 100 * 1000 * 1000;
		if (sigtimedwait(&set, NULL, &ts) > 0)
			vmm_exit(v, VMM_EXIT_ERROR, "stopped by a signal");
		pthread_mutex_lock(&v->exit_lock);
	}
	pthread_mutex_unlock(&v->exit_lock);

	virtio_stop_all(v);
	serial_restore_tty();
	fflush(stdout);
	/* The vCPU threads end with the process; KVM frees the VM on close. */
	_exit(v->exit_code);
}
