// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-hold: hold KVM's static keys in their "in use" state until killed.
 *
 * The test VM's init starts it before each job, while the other CPUs are
 * still offline.  KVM flips static keys (patching kernel text on every CPU)
 * when the first VM of the system is created and the last destroyed, when
 * the first vCPU without an in-kernel local APIC comes and the last goes
 * (kvm_has_noapic_vcpu), and when the count of software- or
 * hardware-disabled local APICs goes from 0 to 1 (apic_sw_disabled,
 * apic_hw_disabled: every vCPU reset, e.g. a guest's triple fault).  Under
 * TCG, patching text while another CPU runs it ended in "Oops: int3" in
 * __schedule, and once in "corrupted stack end detected inside scheduler"
 * after kvm_lapic_reset's static_key_slow_inc when a nested guest
 * triple-faulted.  This program keeps each count above zero:
 *  - a VM (first VM);
 *  - in it an in-kernel irqchip and a vCPU that never runs: its local APIC
 *    stays software-disabled as at reset, and hardware-disabled by its
 *    APIC base MSR;
 *  - a second VM without irqchip and a vCPU (no in-kernel local APIC).
 * It prints "ready" once all exist.  Exits 0 at once if there is no
 * /dev/kvm.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE	0x1b

static void hold_failed(const char *what)
{
	perror(what);
	exit(1);
}

int main(void)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = {
		.hdr.nmsrs = 1,
		/* the BSP flag, the default base, the enable bit (11) clear */
		.entry = { .index = MSR_IA32_APICBASE, .data = 0xfee00000 | (1 << 8) },
	};
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm, vcpu, vm2;

	if (kvm < 0)
		return 0;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		hold_failed("kvm-hold: KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		hold_failed("kvm-hold: KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		hold_failed("kvm-hold: KVM_CREATE_VCPU");
	if (ioctl(vcpu, KVM_SET_MSRS, &msrs) != 1)
		hold_failed("kvm-hold: KVM_SET_MSRS (APIC base)");
	vm2 = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm2 < 0)
		hold_failed("kvm-hold: KVM_CREATE_VM (no irqchip)");
	if (ioctl(vm2, KVM_CREATE_VCPU, 0) < 0)
		hold_failed("kvm-hold: KVM_CREATE_VCPU (no irqchip)");
	/* init waits for this line before it runs the job. */
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
