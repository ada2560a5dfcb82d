/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell-bench: a tiny VMM.  One VM, up to BENCH_MAX_VCPUS vCPUs in 64-bit
 * long mode on an identity map of the first GiB, and guest loops that ring a
 * doorbell as fast as they can (port write, MMIO write, Hyper-V
 * HvSignalEvent or Xen EVTCHNOP_send hypercall), then write to
 * GUEST_DONE_PORT.
 */
#ifndef DOORBELL_BENCH_VM_H
#define DOORBELL_BENCH_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define BENCH_MAX_VCPUS	2

/* Guest-physical layout: every area its own page (or pages) */
#define GUEST_MEM_SIZE	0x200000UL	/* 2 MiB of RAM at 0 */
#define GUEST_PML4	0x1000
#define GUEST_PDPT	0x2000
#define GUEST_PD	0x3000
#define GUEST_GDT	0x4000		/* null, code, data, the TSS's 2 slots */
#define GUEST_TSS	0x4800
#define GUEST_XEN_SEND	0x5000		/* struct evtchn_send, one per vCPU */
#define GUEST_IDT	0x6000		/* 256 gates */
#define GUEST_TRAPS	0x7000		/* 256 stubs of TRAP_STUB bytes */
#define TRAP_STUB	16
#define GUEST_CODE	0x10000
#define GUEST_STACK	0x20000		/* vCPU i's stack: its page, from
					 * GUEST_STACK + (i + 1) * 0x1000 down
					 */
#define GUEST_MMIO	0x10000000UL	/* not RAM: every access exits */
#define GUEST_PORT	0x1000
#define GUEST_DONE_PORT	0xf4		/* the guest writes here when done */
#define GUEST_TRAP_PORT	0xf5		/* a trap stub writes its vector here */

enum guest_loop { LOOP_PIO, LOOP_MMIO, LOOP_HV, LOOP_XEN, NR_LOOPS };

struct bench_vcpu {
	int fd;
	struct kvm_run *run;
};

struct bench_vm {
	int kvm, fd;
	void *mem;
	long run_size;
	bool amd;
	bool hyperv;		/* Hyper-V CPUID and guest OS id set */
	bool xen;		/* Xen hypercall interception on */
	int nvcpus;
	struct bench_vcpu vcpu[BENCH_MAX_VCPUS];
};

/*
 * Create a VM with @nvcpus vCPUs in long mode; with @hyperv, give them the
 * Hyper-V CPUID leaves, a guest OS id and an active SynIC (vm->hyperv says
 * whether KVM took them).  Returns 0, or -1 with @why filled in.
 */
int bench_vm_create(struct bench_vm *vm, int nvcpus, bool hyperv, char *why,
		    size_t len);
void bench_vm_destroy(struct bench_vm *vm);

/* Set vCPU @i up to run @loop @n times; @arg is the port, MMIO address,
 * Hyper-V connection id or Xen port; @val the value written.
 */
int bench_vcpu_prepare(struct bench_vm *vm, int i, enum guest_loop loop,
		       uint64_t arg, uint32_t val, uint32_t n);

/* The rings @loop has left to do, from its counter and rip in @r. */
uint64_t bench_rings_left(enum guest_loop loop, const struct kvm_regs *r);

/*
 * vCPU @i wrote @vector to GUEST_TRAP_PORT: say in @why which exception or
 * interrupt the guest took, where (from the frame on its stack) and its
 * registers.  Call from the vCPU's thread, after that exit.
 */
void bench_vcpu_trap(struct bench_vm *vm, int i, unsigned int vector,
		     char *why, size_t len);

/* Turn on Xen hypercall interception (EVTCHNOP_send to eventfds): from
 * then on the VM's hypercalls are Xen's.
 */
int bench_vm_enable_xen(struct bench_vm *vm, char *why, size_t len);

#endif
