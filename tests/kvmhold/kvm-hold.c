// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-hold: create one KVM VM and keep it until killed.
 *
 * The test VM's init starts it before each job.  KVM flips static keys
 * (patching kernel text on every CPU) when the first VM of the system is
 * created and when the last is destroyed; under nested TCG that patching
 * once ended in "Oops: int3" in __schedule while a benchmark created and
 * destroyed VMs in a row.  With this VM alive, the jobs' VMs come and go
 * without flipping them.  It prints "ready" once its VM exists, so that the
 * one flip happens before the job starts, not in the middle of it.  Exits 0
 * at once if there is no /dev/kvm.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm;

	if (kvm < 0)
		return 0;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		perror("kvm-hold: KVM_CREATE_VM");
		return 1;
	}
	/* init waits for this line before it runs the job. */
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
