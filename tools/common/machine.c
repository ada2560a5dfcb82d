// SPDX-License-Identifier: GPL-2.0
/*
 * What the doorbell tools say about the machine they ran on (kernel, CPU
 * model, the hypervisor under KVM), and JSON string output.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "machine.h"

char kernel[256], cpu_model[256], accel[160], hv_sig[13];

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(0));
}

/*
 * What runs the machine the tools run on.  Their own guests always run on
 * KVM; when CPUID says there is a hypervisor under this kernel
 * (leaf 1 ECX bit 31), its signature at leaf 0x40000000 names it
 * ("TCGTCGTCGTCG" is QEMU's TCG).  DOORBELL_ACCEL, set by tests/vm/run,
 * stands in when the signature names nothing we know.
 */
void machine(void)
{
	static const struct {
		const char *sig, *name;
	} sigs[] = {
		{ "TCGTCGTCGTCG", "tcg" }, { "KVMKVMKVM", "kvm" },
		{ "Microsoft Hv", "hyperv" }, { "VMwareVMware", "vmware" },
		{ "XenVMMXenVMM", "xen" }, { "VBoxVBoxVBox", "virtualbox" },
	};
	const char *env = getenv("DOORBELL_ACCEL"), *outer = NULL;
	struct utsname u;
	char line[512];
	uint32_t r[4];
	unsigned int i;
	FILE *f;

	if (!uname(&u))
		snprintf(kernel, sizeof(kernel), "%.200s", u.release);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');

			snprintf(cpu_model, sizeof(cpu_model), "%.200s", c ? c + 2 : line);
			cpu_model[strcspn(cpu_model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	if (!env || !*env)
		env = getenv("DOORBELL_OUTER_ACCEL");
	cpuid(1, r);
	if (!(r[2] & (1U << 31))) {
		snprintf(accel, sizeof(accel), "kvm (no hypervisor below)");
		return;
	}
	cpuid(0x40000000, r);
	memcpy(hv_sig, &r[1], 4);
	memcpy(hv_sig + 4, &r[2], 4);
	memcpy(hv_sig + 8, &r[3], 4);
	for (i = 0; i < 12; i++)
		if (hv_sig[i] && (hv_sig[i] < 0x20 || hv_sig[i] > 0x7e))
			hv_sig[i] = '?';
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(hv_sig, sigs[i].sig))
			outer = sigs[i].name;
	if (outer && env && *env && strcmp(outer, env))
		snprintf(accel, sizeof(accel),
			 "kvm, nested under %s (CPUID; DOORBELL_ACCEL says %.16s)",
			 outer, env);
	else if (outer)
		snprintf(accel, sizeof(accel), "kvm, nested under %s", outer);
	else if (env && *env)
		snprintf(accel, sizeof(accel), "kvm, nested under %.16s", env);
	else
		snprintf(accel, sizeof(accel),
			 "kvm, nested under an unknown hypervisor (\"%s\")", hv_sig);
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}
