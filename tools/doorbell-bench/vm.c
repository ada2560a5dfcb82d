// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-bench: the VM.  Long mode set up from the host (no firmware, no
 * boot code): identity-mapped first GiB with 2 MiB pages, a GDT with flat
 * 64-bit code and data segments and a TSS, an IDT whose every vector leads
 * to a stub that reports it on GUEST_TRAP_PORT (so an exception or an
 * interrupt that reaches the guest is named, with where it hit, instead of
 * ending in a triple fault), a stack per vCPU, one guest loop per doorbell
 * kind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm.h"

#define HV_X64_MSR_GUEST_OS_ID	0x40000000
#define HV_CPUID_FIRST		0x40000000
#define HV_CPUID_LAST		0x400000ff
#define XEN_HCALL_MSR		0x40000200	/* where QEMU puts it */
#define HV_HCALL_FAST		(1ULL << 16)
#define HVCALL_SIGNAL_EVENT	0x5d
#define XEN_HCALL_EVENT_CHANNEL_OP	32
#define XEN_EVTCHNOP_SEND	4

/*
 * The guest loops; each rings N times then writes to GUEST_DONE_PORT (with
 * an in-kernel LAPIC a HLT would not come back to us).  Assembled from:
 *   pio:  1: out %al,%dx; dec %ecx; jnz 1b; out %al,$0xf4
 *   mmio: 1: mov %eax,(%rdi); dec %ecx; jnz 1b; out %al,$0xf4
 *   hv:   1: mov %r8,%rcx; mov %r9,%rdx; vmmcall; dec %r10d; jnz 1b; ...
 *   xen:  1: mov %r8,%rax; mov %r9,%rdi; mov %r11,%rsi; vmmcall;
 *            dec %r10d; jnz 1b; ...
 * On Intel vmmcall (0f 01 d9) becomes vmcall (0f 01 c1).
 */
static const uint8_t loop_pio[] = {
	0xee, 0xff, 0xc9, 0x75, 0xfb, 0xe6, GUEST_DONE_PORT,
};
static const uint8_t loop_mmio[] = {
	0x89, 0x07, 0xff, 0xc9, 0x75, 0xfa, 0xe6, GUEST_DONE_PORT,
};
static const uint8_t loop_hv[] = {
	0x4c, 0x89, 0xc1, 0x4c, 0x89, 0xca, 0x0f, 0x01, 0xd9,
	0x41, 0xff, 0xca, 0x75, 0xf2, 0xe6, GUEST_DONE_PORT,
};
static const uint8_t loop_xen[] = {
	0x4c, 0x89, 0xc0, 0x4c, 0x89, 0xcf, 0x4c, 0x89, 0xde, 0x0f, 0x01, 0xd9,
	0x41, 0xff, 0xca, 0x75, 0xef, 0xe6, GUEST_DONE_PORT,
};

static const struct {
	const uint8_t *code;
	size_t len;
	size_t vmmcall;		/* offset of the vmmcall's last byte, or 0 */
	size_t dec;		/* offset of the dec after the ring */
} loops[NR_LOOPS] = {
	[LOOP_PIO] = { loop_pio, sizeof(loop_pio), 0, 1 },
	[LOOP_MMIO] = { loop_mmio, sizeof(loop_mmio), 0, 2 },
	[LOOP_HV] = { loop_hv, sizeof(loop_hv), 8, 9 },
	[LOOP_XEN] = { loop_xen, sizeof(loop_xen), 11, 12 },
};

#define LOOP_SLOT	0x100	/* bytes per loop in guest memory */

static bool cpu_is_amd(void)
{
	char line[256];
	bool amd = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "vendor_id", 9)) {
			amd = strstr(line, "AuthenticAMD") || strstr(line, "HygonGenuine");
			break;
		}
	}
	if (f)
		fclose(f);
	return amd;
}

static void page_tables(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + GUEST_PML4);
	uint64_t *pdpt = (uint64_t *)(mem + GUEST_PDPT);
	uint64_t *pd = (uint64_t *)(mem + GUEST_PD);
	int i;

	pml4[0] = GUEST_PDPT | 3;			/* present, writable */
	pdpt[0] = GUEST_PD | 3;
	for (i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* 2 MiB page */
}

#define SEL_CODE	8
#define SEL_DATA	16
#define SEL_TSS		24
#define TSS_LIMIT	0x67

/* GDT: null, 64-bit code, data, and the 64-bit TSS (busy), 2 slots. */
static void descriptor_tables(uint8_t *mem)
{
	uint64_t *gdt = (uint64_t *)(mem + GUEST_GDT);
	uint64_t *idt = (uint64_t *)(mem + GUEST_IDT);
	int v;

	gdt[SEL_CODE / 8] = 0x00af9b000000ffffULL;	/* P S code RA, L G */
	gdt[SEL_DATA / 8] = 0x00cf93000000ffffULL;	/* P S data WA, DB G */
	gdt[SEL_TSS / 8] = TSS_LIMIT | (uint64_t)GUEST_TSS << 16 |
			   0x8bULL << 40;		/* P, 64-bit TSS busy */
	gdt[SEL_TSS / 8 + 1] = 0;
	for (v = 0; v < 256; v++) {
		uint64_t off = GUEST_TRAPS + v * TRAP_STUB;
		uint8_t *stub = mem + off;

		/* P, DPL 0, 64-bit interrupt gate (IF cleared), IST 0 */
		idt[2 * v] = (off & 0xffff) | SEL_CODE << 16 | 0x8eULL << 40 |
			     (off >> 16 & 0xffff) << 48;
		idt[2 * v + 1] = off >> 32;
		/* mov $v,%al; out %al,$GUEST_TRAP_PORT; 1: jmp 1b */
		stub[0] = 0xb0;
		stub[1] = v;
		stub[2] = 0xe6;
		stub[3] = GUEST_TRAP_PORT;
		stub[4] = 0xeb;
		stub[5] = 0xfe;
	}
}

static void load_loops(struct bench_vm *vm)
{
	uint8_t *mem = vm->mem;
	int l;

	for (l = 0; l < NR_LOOPS; l++) {
		uint8_t *p = mem + GUEST_CODE + l * LOOP_SLOT;

		memcpy(p, loops[l].code, loops[l].len);
		if (loops[l].vmmcall && !vm->amd)
			p[loops[l].vmmcall] = 0xc1;	/* vmcall */
	}
}

static int long_mode(int fd)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_CODE, .type = 11,
		.present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_DATA, .type = 3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_segment tr = {
		.base = GUEST_TSS, .limit = TSS_LIMIT, .selector = SEL_TSS,
		.type = 11, .present = 1,
	};
	struct kvm_sregs s;

	if (ioctl(fd, KVM_GET_SREGS, &s))
		return -1;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = tr;
	s.gdt.base = GUEST_GDT;
	s.gdt.limit = (SEL_TSS + 16) - 1;
	s.idt.base = GUEST_IDT;
	s.idt.limit = 256 * 16 - 1;
	s.cr3 = GUEST_PML4;
	s.cr4 = 0x20;			/* PAE */
	s.cr0 = 0x80050033;		/* PG WP NE ET MP PE */
	s.efer = 0x500;			/* LMA LME */
	return ioctl(fd, KVM_SET_SREGS, &s);
}

/*
 * The vCPU's CPUID: what KVM supports (long mode among it: KVM refuses
 * EFER.LME for a vCPU whose CPUID lacks it).  With @hyperv, KVM's leaves at
 * 0x40000000 are replaced by the Hyper-V ones, and a guest OS id and an
 * active SynIC are set, so that HvSignalEvent hypercalls reach KVM's
 * Hyper-V code; vm->hyperv is cleared if KVM has no Hyper-V.  Returns -1
 * if the CPUID could not be set.
 */
static int setup_cpuid(struct bench_vm *vm, int fd, bool hyperv)
{
	struct kvm_cpuid2 *base, *hv = NULL, *all;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} msrs = { .hdr.nmsrs = 1, .e.index = HV_X64_MSR_GUEST_OS_ID,
		   .e.data = 0x8100000000000000ULL };
	struct kvm_enable_cap synic = { .cap = KVM_CAP_HYPERV_SYNIC };
	const int max = 256;
	unsigned int i;
	int n = 0, ret = -1;

	base = calloc(1, sizeof(*base) + max * sizeof(base->entries[0]));
	all = calloc(1, sizeof(*all) + 2 * max * sizeof(all->entries[0]));
	if (!base || !all)
		goto out;
	base->nent = max;
	if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, base))
		goto out;
	if (hyperv) {
		hv = calloc(1, sizeof(*hv) + max * sizeof(hv->entries[0]));
		if (hv)
			hv->nent = max;
		if (!hv || ioctl(fd, KVM_GET_SUPPORTED_HV_CPUID, hv))
			hyperv = false;
	}
	for (i = 0; i < base->nent; i++) {
		if (hyperv && base->entries[i].function >= HV_CPUID_FIRST &&
		    base->entries[i].function <= HV_CPUID_LAST)
			continue;
		all->entries[n++] = base->entries[i];
	}
	for (i = 0; hyperv && i < hv->nent; i++)
		all->entries[n++] = hv->entries[i];
	all->nent = n;
	if (ioctl(fd, KVM_SET_CPUID2, all))
		goto out;
	ret = 0;
	/*
	 * An active SynIC lets an HvSignalEvent on a connection with no
	 * eventfd exit to userspace (KVM_EXIT_HYPERV) instead of failing.
	 */
	if (hyperv && (ioctl(fd, KVM_SET_MSRS, &msrs) != 1 ||
		       ioctl(fd, KVM_ENABLE_CAP, &synic)))
		hyperv = false;
	if (!hyperv)
		vm->hyperv = false;
out:
	free(base);
	free(hv);
	free(all);
	return ret;
}

int bench_vm_create(struct bench_vm *vm, int nvcpus, bool hyperv, char *why,
		    size_t len)
{
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_userspace_memory_region region = { 0 };
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	for (i = 0; i < BENCH_MAX_VCPUS; i++)
		vm->vcpu[i].fd = -1;
	vm->amd = cpu_is_amd();
	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		snprintf(why, len, "KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	/* As every VMM has: the LAPIC (and PIC, IOAPIC) in the kernel. */
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0)) {
		snprintf(why, len, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	vm->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		snprintf(why, len, "guest memory: %s", strerror(errno));
		return -1;
	}
	page_tables(vm->mem);
	descriptor_tables(vm->mem);
	load_loops(vm);
	region.memory_size = GUEST_MEM_SIZE;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region)) {
		snprintf(why, len, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	vm->run_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		snprintf(why, len, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	vm->hyperv = hyperv;
	for (i = 0; i < nvcpus && i < BENCH_MAX_VCPUS; i++) {
		struct bench_vcpu *v = &vm->vcpu[i];
		void *run;

		v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0) {
			snprintf(why, len, "KVM_CREATE_VCPU: %s", strerror(errno));
			return -1;
		}
		vm->nvcpus++;
		run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED, v->fd, 0);
		if (run == MAP_FAILED) {
			snprintf(why, len, "kvm_run: %s", strerror(errno));
			return -1;
		}
		v->run = run;
		if (setup_cpuid(vm, v->fd, hyperv)) {
			snprintf(why, len, "KVM_SET_CPUID2: %s", strerror(errno));
			return -1;
		}
		if (long_mode(v->fd)) {
			snprintf(why, len, "long mode sregs: %s", strerror(errno));
			return -1;
		}
		/* With an in-kernel LAPIC an AP waits for INIT/SIPI: start it. */
		if (ioctl(v->fd, KVM_SET_MP_STATE, &runnable)) {
			snprintf(why, len, "KVM_SET_MP_STATE: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

void bench_vm_destroy(struct bench_vm *vm)
{
	int i;

	for (i = 0; i < BENCH_MAX_VCPUS; i++) {
		if (vm->vcpu[i].run)
			munmap(vm->vcpu[i].run, vm->run_size);
		if (vm->vcpu[i].fd >= 0)
			close(vm->vcpu[i].fd);
	}
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->mem)
		munmap(vm->mem, GUEST_MEM_SIZE);
	if (vm->kvm >= 0)
		close(vm->kvm);
	memset(vm, 0, sizeof(*vm));
}

int bench_vcpu_prepare(struct bench_vm *vm, int i, enum guest_loop loop,
		       uint64_t arg, uint32_t val, uint32_t n)
{
	struct kvm_regs r = { 0 };

	r.rip = GUEST_CODE + loop * LOOP_SLOT;
	r.rflags = 2;
	r.rsp = GUEST_STACK + (i + 1) * 0x1000;
	switch (loop) {
	case LOOP_PIO:
		r.rdx = arg;
		r.rax = val;
		r.rcx = n;
		break;
	case LOOP_MMIO:
		r.rdi = arg;
		r.rax = val;
		r.rcx = n;
		break;
	case LOOP_HV:
		r.r8 = HVCALL_SIGNAL_EVENT | HV_HCALL_FAST;
		r.r9 = arg;		/* connection id */
		r.r10 = n;
		break;
	case LOOP_XEN: {
		uint32_t *send = (uint32_t *)((uint8_t *)vm->mem +
					      GUEST_XEN_SEND + 8 * i);

		*send = arg;		/* struct evtchn_send { port } */
		r.r8 = XEN_HCALL_EVENT_CHANNEL_OP;
		r.r9 = XEN_EVTCHNOP_SEND;
		r.r11 = GUEST_XEN_SEND + 8 * i;
		r.r10 = n;
		break;
	}
	default:
		errno = EINVAL;
		return -1;
	}
	return ioctl(vm->vcpu[i].fd, KVM_SET_REGS, &r);
}

int bench_vm_enable_xen(struct bench_vm *vm, char *why, size_t len)
{
	struct kvm_xen_hvm_config cfg = {
		.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL |
			 KVM_XEN_HVM_CONFIG_EVTCHN_SEND,
		.msr = XEN_HCALL_MSR,
	};
	int caps = ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM);

	if (caps <= 0) {
		snprintf(why, len, "no KVM_CAP_XEN_HVM (CONFIG_KVM_XEN off)");
		return -1;
	}
	if (!(caps & KVM_XEN_HVM_CONFIG_EVTCHN_SEND)) {
		snprintf(why, len, "KVM_CAP_XEN_HVM lacks EVTCHN_SEND");
		return -1;
	}
	if (ioctl(vm->fd, KVM_XEN_HVM_CONFIG, &cfg)) {
		snprintf(why, len, "KVM_XEN_HVM_CONFIG: %s", strerror(errno));
		return -1;
	}
	vm->xen = true;
	return 0;
}

uint64_t bench_rings_left(enum guest_loop loop, const struct kvm_regs *r)
{
	uint64_t left = loop == LOOP_PIO || loop == LOOP_MMIO ?
			(uint32_t)r->rcx : (uint32_t)r->r10;

	/* Between the ring and the dec of the count: one ring less to go. */
	if (r->rip == GUEST_CODE + loop * LOOP_SLOT + loops[loop].dec && left)
		left--;
	return left;
}

void bench_vcpu_trap(struct bench_vm *vm, int i, unsigned int vector,
		     char *why, size_t len)
{
	static const char *const names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF",
		"?", "#TS", "#NP", "#SS", "#GP", "#PF", "?", "#MF", "#AC", "#MC",
		"#XM", "#VE", "#CP", "?", "?", "?", "?", "?", "?", "#HV", "#VC",
		"#SX", "?",
	};
	/* the exceptions that push an error code */
	const uint32_t errcode = 1u << 8 | 1u << 10 | 1u << 11 | 1u << 12 |
				 1u << 13 | 1u << 14 | 1u << 17 | 1u << 21 |
				 1u << 29 | 1u << 30;
	bool has_err = vector < 32 && errcode & 1u << vector;
	const uint64_t *frame;
	struct kvm_sregs s;
	struct kvm_regs r;
	uint64_t sp;

	if (ioctl(vm->vcpu[i].fd, KVM_GET_REGS, &r) ||
	    ioctl(vm->vcpu[i].fd, KVM_GET_SREGS, &s)) {
		snprintf(why, len, "guest took vector %u (%s); registers: %s",
			 vector, vector < 32 ? names[vector] : "interrupt",
			 strerror(errno));
		return;
	}
	sp = r.rsp;
	if (sp < GUEST_STACK ||
	    sp + (5 + has_err) * 8 > GUEST_STACK + BENCH_MAX_VCPUS * 0x1000) {
		snprintf(why, len, "guest took vector %u (%s), its stack pointer %#llx is off its stack",
			 vector, vector < 32 ? names[vector] : "interrupt",
			 (unsigned long long)r.rsp);
		return;
	}
	frame = (const uint64_t *)((uint8_t *)vm->mem + sp);
	snprintf(why, len,
		 "guest took vector %u (%s) at rip %#llx (rflags %#llx, error code %#llx), cr2 %#llx, rcx %llu, r10 %llu",
		 vector, vector < 32 ? names[vector] : "interrupt",
		 (unsigned long long)frame[has_err],
		 (unsigned long long)frame[has_err + 2],
		 has_err ? (unsigned long long)frame[0] : 0ULL,
		 (unsigned long long)s.cr2, (unsigned long long)r.rcx,
		 (unsigned long long)r.r10);
}
