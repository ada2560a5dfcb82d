/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DOORBELL_TOOLS_MACHINE_H
#define DOORBELL_TOOLS_MACHINE_H

#include <stdio.h>

/* Filled in by machine(): uname's release, /proc/cpuinfo's model name,
 * "kvm, nested under tcg" and the like, the CPUID hypervisor signature.
 */
extern char kernel[256], cpu_model[256], accel[160], hv_sig[13];

void machine(void);

/* @s as a JSON string, quoted and escaped. */
void json_str(FILE *f, const char *s);

#endif
