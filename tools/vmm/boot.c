// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: loading a bzImage through the x86 boot protocol (64-bit
 * entry, Documentation/arch/x86/boot.rst), the zero page with its e820
 * map, identity page tables and a GDT for long mode, ACPI tables (MADT for
 * the vCPUs and the IOAPIC; a FADT whose sleep control register is how the
 * guest powers off and whose reset register is how it reboots) and each
 * vCPU's CPUID.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

/* Offsets in the zero page (struct boot_params) and its setup header. */
#define BP_ACPI_RSDP		0x070
#define BP_EXT_CMDLINE		0x0c8
#define BP_E820_ENTRIES		0x1e8
#define BP_SETUP_SECTS		0x1f1
#define BP_VID_MODE		0x1fa
#define BP_HEADER_MAGIC		0x202
#define BP_VERSION		0x206
#define BP_TYPE_OF_LOADER	0x210
#define BP_LOADFLAGS		0x211
#define BP_RAMDISK_IMAGE	0x218
#define BP_RAMDISK_SIZE		0x21c
#define BP_CMDLINE_PTR		0x228
#define BP_INITRD_ADDR_MAX	0x22c
#define BP_XLOADFLAGS		0x236
#define BP_CMDLINE_SIZE		0x238
#define BP_E820_TABLE		0x2d0
#define XLF_KERNEL_64		0x1
#define LOADED_HIGH		0x1

#define E820_RAM		1
#define E820_RESERVED		2

static void put16(uint8_t *p, uint16_t x) { memcpy(p, &x, 2); }
static void put32(uint8_t *p, uint32_t x) { memcpy(p, &x, 4); }
static void put64(uint8_t *p, uint64_t x) { memcpy(p, &x, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t x; memcpy(&x, p, 2); return x; }
static uint32_t get32(const uint8_t *p) { uint32_t x; memcpy(&x, p, 4); return x; }

static uint8_t *read_file(const char *what, const char *path, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		vmm_die("%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		vmm_die("%s %s: not a regular file", what, path);
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		vmm_die("%s %s: out of memory", what, path);
	while (done < (size_t)st.st_size) {
		n = read(fd, buf + done, st.st_size - done);
		if (n <= 0)
			vmm_die("%s %s: read: %s", what, path,
				n ? strerror(errno) : "short file");
		done += n;
	}
	close(fd);
	*size = done;
	return buf;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = zp + BP_E820_TABLE + 20 * zp[BP_E820_ENTRIES]++;

	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
}

static void acpi_sum(uint8_t *t, uint32_t len, uint8_t *sum)
{
	uint8_t s = 0;
	uint32_t i;

	*sum = 0;
	for (i = 0; i < len; i++)
		s += t[i];
	*sum = -s;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "DRBELL", 6);
	memcpy(t + 16, "DOORBELL", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "DBVM", 4);
	put32(t + 32, 1);
}

/* AML package length of a body of len bytes (the length bytes included). */
static uint8_t *aml_pkglen(uint8_t *p, uint32_t len)
{
	if (len + 1 < 64) {
		*p++ = len + 1;
	} else {
		len += 2;
		*p++ = 0x40 | (len & 0xf);
		*p++ = len >> 4;
	}
	return p;
}

/*
 * One virtio-mmio device for Linux's virtio_mmio ACPI match:
 *   Device (VRnn) { Name (_HID, "LNRO0005") Name (_UID, nn)
 *     Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
 *       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { irq } }) }
 */
static uint8_t *aml_virtio(uint8_t *p, int n, uint64_t base, int irq)
{
	uint8_t body[64], *b = body, crs[23] = {
		0x86, 0x09, 0x00, 0x01,			/* Memory32Fixed, RW */
		0, 0, 0, 0, 0, 0, 0, 0,			/* base, length */
		0x89, 0x06, 0x00, 0x03, 0x01,		/* Interrupt: consumer, edge */
		0, 0, 0, 0,				/* the GSI */
		0x79, 0x00,				/* end tag */
	};

	put32(crs + 4, base);
	put32(crs + 8, VMM_MMIO_SIZE);
	put32(crs + 17, irq);
	memcpy(b, "\x08_HID\x0dLNRO0005", 15);
	b += 15;
	memcpy(b, "\x08_UID\x0a", 6);
	b[6] = n;
	b += 7;
	memcpy(b, "\x08_CRS\x11", 6);
	b = aml_pkglen(b + 6, 2 + sizeof(crs));
	*b++ = 0x0a;
	*b++ = sizeof(crs);
	memcpy(b, crs, sizeof(crs));
	b += sizeof(crs);

	*p++ = 0x5b;					/* DeviceOp */
	*p++ = 0x82;
	p = aml_pkglen(p, 4 + (b - body));
	*p++ = 'V';
	*p++ = 'R';
	*p++ = '0' + n / 10;
	*p++ = '0' + n % 10;
	memcpy(p, body, b - body);
	return p + (b - body);
}

/*
 * RSDP -> XSDT -> {FADT -> DSDT, FACS; MADT}, in the BIOS area at VMM_ACPI
 * (the guest also finds the RSDP through boot_params.acpi_rsdp_addr).
 *
 * The DSDT declares the virtio-mmio devices (Debian's kernels do not take
 * them from the command line: VIRTIO_MMIO_CMDLINE_DEVICES is off) and _S5.
 * The FADT is a full (not hardware-reduced) one: Linux gives a
 * hardware-reduced platform no legacy PIC and so no ISA IRQs, and the
 * serial port uses IRQ 4.  Its PM1a event and control blocks and PM timer
 * are ports the VMM serves (main.c); SLP_TYP 5 with SLP_EN in PM1a control
 * is _S5, power off.
 */
static void acpi_build(struct vmm *v, uint8_t *zp)
{
	/* Name (_S5, Package () { 5, 5 }) */
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x05,
	};
	uint64_t rsdp = VMM_ACPI, xsdt = rsdp + 0x40, fadt = xsdt + 0x40;
	uint64_t dsdt = fadt + 0x120, madt = VMM_ACPI + 0x800;
	uint64_t facs = VMM_ACPI + 0xa00;
	uint8_t devs[VMM_MAX_DEVS * 64], *p = devs;
	uint32_t len, i;
	uint8_t *t;

	for (i = 0; i < (uint32_t)v->ndevs; i++)
		p = aml_virtio(p, i, v->devs[i].base, v->devs[i].irq);

	t = v->mem + dsdt;
	memcpy(t + 36, s5, sizeof(s5));
	len = 36 + sizeof(s5);
	if (v->ndevs) {
		uint8_t *q = t + len;

		*q++ = 0x10;				/* Scope (\_SB) */
		q = aml_pkglen(q, 5 + (p - devs));
		memcpy(q, "\\_SB_", 5);
		memcpy(q + 5, devs, p - devs);
		len = q + 5 + (p - devs) - t;
	}
	acpi_header(t, "DSDT", len, 2);
	acpi_sum(t, len, t + 9);

	t = v->mem + facs;
	memcpy(t, "FACS", 4);
	put32(t + 4, 64);
	t[32] = 2;				/* version */

	t = v->mem + fadt;
	len = 276;
	acpi_header(t, "FACP", len, 6);
	put32(t + 36, facs);
	put32(t + 40, dsdt);
	put16(t + 46, 9);			/* SCI: never raised */
	put32(t + 56, VMM_ACPI_PM1A_EVT);
	put32(t + 64, VMM_ACPI_PM1A_CNT);
	put32(t + 76, VMM_ACPI_PM_TMR);
	t[88] = 4;				/* PM1 event block length */
	t[89] = 2;				/* PM1 control block length */
	t[91] = 4;				/* PM timer length */
	/* IA-PC boot arch: no VGA, no CMOS RTC (8042 not announced) */
	put16(t + 109, (1 << 2) | (1 << 5));
	/* flags: WBINVD, C1 on all CPUs, PWR_BUTTON, SLP_BUTTON, RESET_REG_SUP */
	put32(t + 112, (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 10));
	/*
	 * Reset register: 0xfe to the 8042's command port, byte access in
	 * system I/O space.  Linux reboots through it first, with one write;
	 * without it, its keyboard-controller method polls port 0x64 (which
	 * reads 0xff here, "input buffer full") 65536 times before each of
	 * its ten writes, hundreds of thousands of exits.
	 */
	t[116] = 1;				/* system I/O */
	t[117] = 8;				/* bit width */
	t[119] = 1;				/* byte access */
	put64(t + 120, VMM_I8042_CMD);
	t[128] = 0xfe;				/* reset value */
	t[131] = 0;				/* minor version */
	put64(t + 132, facs);
	put64(t + 140, dsdt);
	memcpy(t + 268, "DOORBELL", 8);
	acpi_sum(t, len, t + 9);

	t = v->mem + madt;
	len = 44 + 8 * v->ncpus + 12;
	acpi_header(t, "APIC", len, 4);
	put32(t + 36, 0xfee00000);
	put32(t + 40, 1);			/* PCAT_COMPAT: there are 8259s */
	for (i = 0; i < (uint32_t)v->ncpus; i++) {
		uint8_t *e = t + 44 + 8 * i;

		e[0] = 0;			/* processor local APIC */
		e[1] = 8;
		e[2] = i;
		e[3] = i;
		put32(e + 4, 1);		/* enabled */
	}
	t += 44 + 8 * v->ncpus;
	t[0] = 1;				/* IOAPIC */
	t[1] = 12;
	t[2] = v->ncpus;			/* its id, after the CPUs' */
	put32(t + 4, 0xfec00000);
	put32(t + 8, 0);
	t = v->mem + madt;
	acpi_sum(t, len, t + 9);

	t = v->mem + xsdt;
	len = 36 + 16;
	acpi_header(t, "XSDT", len, 1);
	put64(t + 36, fadt);
	put64(t + 44, madt);
	acpi_sum(t, len, t + 9);

	t = v->mem + rsdp;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, "DRBELL", 6);
	t[15] = 2;				/* revision: XSDT */
	put32(t + 20, 36);
	put64(t + 24, xsdt);
	acpi_sum(t, 20, t + 8);
	acpi_sum(t, 36, t + 32);

	put64(zp + BP_ACPI_RSDP, rsdp);
}

void boot_load(struct vmm *v, const char *kernel, const char *initrd,
	       const char *cmdline)
{
	uint8_t *img, *zp = v->mem + VMM_ZERO_PAGE, *rd;
	size_t size, setup_size, hdr_end, rd_size, len;
	uint64_t *pml4, *pdpt, *pd, rd_addr, rd_max;
	unsigned int setup_sects, i;
	uint16_t version;

	img = read_file("kernel", kernel, &size);
	if (size < 0x300 || memcmp(img + BP_HEADER_MAGIC, "HdrS", 4))
		vmm_die("kernel %s: not a bzImage (no HdrS boot header)", kernel);
	version = get16(img + BP_VERSION);
	if (version < 0x20c || !(get16(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
		vmm_die("kernel %s: boot protocol %x.%02x without a 64-bit entry",
			kernel, version >> 8, version & 0xff);
	setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	setup_size = (setup_sects + 1) * 512;
	if (size <= setup_size)
		vmm_die("kernel %s: truncated", kernel);
	if (size - setup_size > v->mem_size / 2)
		vmm_die("kernel %s: too large for %llu MiB of memory", kernel,
			(unsigned long long)(v->mem_size >> 20));
	memcpy(v->mem + VMM_KERNEL, img + setup_size, size - setup_size);

	/* The zero page: the kernel's setup header, then what a loader sets. */
	memset(zp, 0, 4096);
	hdr_end = 0x202 + img[0x201];
	memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	put16(zp + BP_VID_MODE, 0xffff);
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= LOADED_HIGH;

	len = strlen(cmdline);
	if (len >= get32(img + BP_CMDLINE_SIZE) || len >= VMM_CMDLINE_MAX)
		vmm_die("command line of %zu bytes: the kernel takes %u", len,
			get32(img + BP_CMDLINE_SIZE));
	memcpy(v->mem + VMM_CMDLINE, cmdline, len + 1);
	put32(zp + BP_CMDLINE_PTR, VMM_CMDLINE);
	put32(zp + BP_EXT_CMDLINE, 0);

	if (initrd) {
		rd = read_file("initrd", initrd, &rd_size);
		rd_max = (uint64_t)get32(img + BP_INITRD_ADDR_MAX) + 1;
		if (rd_max > v->mem_size)
			rd_max = v->mem_size;
		rd_addr = (rd_max - rd_size) & ~0xfffULL;
		if (rd_size > rd_max ||
		    rd_addr < VMM_KERNEL + 2 * (size - setup_size) + (16 << 20))
			vmm_die("initrd %s: %zu bytes do not fit in %llu MiB with the kernel",
				initrd, rd_size,
				(unsigned long long)(v->mem_size >> 20));
		memcpy(v->mem + rd_addr, rd, rd_size);
		put32(zp + BP_RAMDISK_IMAGE, rd_addr);
		put32(zp + BP_RAMDISK_SIZE, rd_size);
		free(rd);
	}
	free(img);

	e820_add(zp, 0, 0x9fc00, E820_RAM);
	e820_add(zp, 0x9fc00, 0x400, E820_RESERVED);
	e820_add(zp, 0xe0000, 0x20000, E820_RESERVED);
	e820_add(zp, VMM_KERNEL, v->mem_size - VMM_KERNEL, E820_RAM);
	acpi_build(v, zp);

	/* Identity map of the low 4 GiB with 2 MiB pages. */
	pml4 = (uint64_t *)(v->mem + VMM_PML4);
	pdpt = pml4 + 512;
	pd = pdpt + 512;
	memset(pml4, 0, 6 * 4096);
	pml4[0] = (VMM_PML4 + 0x1000) | 3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (VMM_PML4 + 0x2000 + i * 0x1000) | 3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;

	/* GDT: 0x10 64-bit code, 0x18 data. */
	put64(v->mem + VMM_GDT, 0);
	put64(v->mem + VMM_GDT + 8, 0);
	put64(v->mem + VMM_GDT + 16, 0x00af9b000000ffffULL);
	put64(v->mem + VMM_GDT + 24, 0x00cf93000000ffffULL);
}

static void setup_cpuid(struct vmm *v, int fd, int id)
{
	struct kvm_cpuid2 *cpuid;
	unsigned int i, n = 256;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		vmm_die("out of memory");
	cpuid->nent = n;
	if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		vmm_die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/*
			 * initial APIC id; no monitor/mwait to idle in; "a
			 * hypervisor": the guest then finds KVM's leaves
			 * (kvm-clock, PV features).
			 */
			e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)id << 24);
			e->ecx &= ~(1u << 3);
			e->ecx |= 1u << 31;
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			break;
		}
	}
	if (ioctl(fd, KVM_SET_CPUID2, cpuid) < 0)
		vmm_die("KVM_SET_CPUID2: %s", strerror(errno));
	free(cpuid);
}

void boot_setup_cpu(struct vmm *v, int fd, int id)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 3,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	setup_cpuid(v, fd, id);
	if (id)
		return;		/* the others wait for INIT/SIPI */

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		vmm_die("KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs = code;
	sregs.ds = data;
	sregs.es = data;
	sregs.fs = data;
	sregs.gs = data;
	sregs.ss = data;
	sregs.gdt.base = VMM_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr3 = VMM_PML4;
	sregs.cr4 = 1 << 5;				/* PAE */
	sregs.cr0 = (1u << 31) | (1 << 4) | 1;		/* PG, ET, PE */
	sregs.efer = (1 << 8) | (1 << 10);		/* LME, LMA */
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		vmm_die("KVM_SET_SREGS: %s", strerror(errno));

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = VMM_KERNEL + 0x200;		/* startup_64 */
	regs.rsi = VMM_ZERO_PAGE;
	regs.rsp = VMM_ZERO_PAGE;		/* any usable stack */
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		vmm_die("KVM_SET_REGS: %s", strerror(errno));
}
