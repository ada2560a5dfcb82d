# SPDX-License-Identifier: GPL-2.0
#
# doorbell top-level Makefile.
#
#   make                 modules for the running kernel, and tools
#   make check           set-up, build, the VM test suite on every kernel
#   make check-quick     the host checks and the default kernel's shared
#                        boot (the tests without a nested guest)
#   make demo            set-up, build, the demo on the default kernel
#   make soak            50-net, 55-vmm, 56-blk on the debug kernel (long)
#   make netbench        iperf3: doorbell-net vs vhost-net vs userspace
#   make blkbench        fio: doorbell-blk vs the VMM's userspace backend vs native
#   make trace-overhead  doorbell-bench with tracepoints off vs compiled out
#   make KDIR=DIR        modules for the kernel tree in DIR
#   make help            this list
#
# Invoked by kbuild (M=...), this file hands over to Kbuild.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

DOORBELL_CACHE ?= /var/cache/doorbell
export DOORBELL_CACHE
MATRIX := $(DOORBELL_CACHE)/matrix
PWD := $(shell pwd)
BUILD := $(PWD)/build

# Modules are built for the running kernel unless KDIR names another tree
# (the test kernels' trees are built by tests/build-matrix.sh).  Nothing is
# installed or downloaded by a plain make.
KDIR ?= /lib/modules/$(shell uname -r)/build

TOOLS := tools/doorbell-bench tools/doorbell-trace tools/vmm

.PHONY: all modules tools matrix check check-quick demo clean setup checkpatch sparse install \
	help kernel-patch kernel-patch-check debug-kernel fuzz soak netbench blkbench trace-overhead

all: modules tools

modules:
	$(MAKE) -C $(KDIR) M=$(PWD) W=$(or $(W),1) modules

install:
	$(MAKE) -C $(KDIR) M=$(PWD) modules_install

tools:
	@for t in $(TOOLS); do [ ! -f $$t/Makefile ] || $(MAKE) -C $$t || exit 1; done

# Modules for every kernel of the matrix, each in build/<release>/.
matrix: setup
	tests/build-matrix.sh

setup:
	tests/setup.sh >/dev/null

check: setup
	tests/check.sh

check-quick: setup
	tests/check.sh --quick

demo: setup
	tests/demo.sh

checkpatch:
	tests/checkpatch.sh

# Regenerate the in-tree series from the sources (commit the result).
kernel-patch:
	kernel-patch/gen.sh

kernel-patch-check: setup
	kernel-patch/check.sh

debug-kernel:
	tests/debug-kernel/build.sh

# Long fuzzing (1e6 iterations) on the default kernel, and on the debug
# kernel with fault injection (FUZZ_KERNELS to choose): the ioctl fuzzer,
# then the ring fuzz of net_ring and blk_ring (RING_FUZZ random chains each),
# then 10 minutes of doorbell-blk devices under load with SIGKILLs.
RING_FUZZ ?= 1000000
FUZZ_KERNELS ?= $(shell head -n1 $(MATRIX) 2>/dev/null) $(shell tests/debug-kernel/build.sh 2>/dev/null)
fuzz: setup
	$(MAKE) -C tests/fuzz
	for k in $(FUZZ_KERNELS); do \
		tests/build-matrix.sh $$k && \
		tests/vm/run --kernel $$k --timeout 3600 --results results/$$k/fuzz -- \
			tests/suite/40-fuzz.sh --long || exit 1; \
		tests/vm/run --kernel $$k --timeout 14400 --results results/$$k/ring-fuzz -- \
			env DOORBELL_RING_FUZZ=$(RING_FUZZ) tests/suite/45-ring.sh || exit 1; \
		tests/vm/run --kernel $$k --timeout 1800 --results results/$$k/load -- \
			tests/suite/47-load.sh --long || exit 1; \
	done

# The nested-guest tests (50-net, 55-vmm, 56-blk) on the debug kernel
# (KASAN, lockdep, kmemleak), with 2 CPUs and long time limits: outside
# make check's budget (a KASAN host runs a nested guest several times
# slower).  SOAK_KERNELS to choose; SOAK_TESTS to narrow.
SOAK_KERNELS ?= $(shell tests/debug-kernel/build.sh 2>/dev/null)
SOAK_TESTS ?= 50-net 55-vmm 56-blk
soak: setup tools
	$(MAKE) -C tests/ring
	@rc=0; for k in $(SOAK_KERNELS); do \
		tests/build-matrix.sh $$k || exit 1; \
		for t in $(SOAK_TESTS); do \
			t0=$$(date +%s); \
			tests/vm/run --kernel $$k --smp 2 --timeout 5400 \
				--results results/$$k/soak-$$t -- tests/suite/$$t.sh; \
			r=$$?; [ $$r = 0 ] || rc=1; \
			echo "soak: $$k $$t: exit $$r, $$(( $$(date +%s) - t0 )) s"; \
		done; \
	done; exit $$rc

# iperf3 through doorbell-net, vhost-net and QEMU's userspace virtio-net
# (a benchmark, not a test; NETBENCH_KERNEL to choose the kernel).
NETBENCH_KERNEL ?= $(shell head -n1 $(MATRIX) 2>/dev/null)
netbench: setup
	tests/build-matrix.sh $(NETBENCH_KERNEL)
	ip3=$$(tools/netbench/fetch-iperf3) && \
	tests/vm/run --kernel $(NETBENCH_KERNEL) --timeout 1800 --results results/netbench -- \
		env DOORBELL_IPERF3=$$ip3 tools/netbench/doorbell-netbench

# fio in a tools/vmm guest: doorbell-blk vs the VMM's userspace backend vs
# native (a benchmark, not a test; BLKBENCH_KERNEL to choose the kernel).
BLKBENCH_KERNEL ?= $(shell head -n1 $(MATRIX) 2>/dev/null)
blkbench: setup tools
	tests/build-matrix.sh $(BLKBENCH_KERNEL)
	tests/vm/run --kernel $(BLKBENCH_KERNEL) --timeout 3600 --results results/blkbench -- \
		tools/blkbench/doorbell-blkbench

# What doorbell's tracepoints cost while tracing is off: doorbell-bench on
# the modules as built against the same sources built with -DNOTRACE (no
# tracepoint at all), alternated in one boot (a benchmark, not a test).
TRACE_OVERHEAD_KERNEL ?= $(shell head -n1 $(MATRIX) 2>/dev/null)
NOTRACE := $(BUILD)/$(TRACE_OVERHEAD_KERNEL)-notrace
TRACE_OVERHEAD_ROUNDS ?= 5
trace-overhead: setup tools
	tests/build-matrix.sh $(TRACE_OVERHEAD_KERNEL)
	rm -rf $(NOTRACE) && mkdir -p $(NOTRACE) && \
	tar -C $(PWD) --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod*' \
		-cf - Kbuild Makefile drivers include | tar -C $(NOTRACE) -xf - && \
	$(MAKE) -s -C $(DOORBELL_CACHE)/kernels/$(TRACE_OVERHEAD_KERNEL)/build M=$(NOTRACE) \
		KCFLAGS=-DNOTRACE W=1 modules
	tests/vm/run --kernel $(TRACE_OVERHEAD_KERNEL) --timeout 1800 \
		--results results/trace-overhead -- tools/doorbell-trace/trace-overhead $(NOTRACE)/drivers $(TRACE_OVERHEAD_ROUNDS)

sparse:
	tests/sparse.sh

clean:
	$(MAKE) -C $(KDIR) M=$(PWD) clean 2>/dev/null || true
	@for t in $(TOOLS); do [ ! -f $$t/Makefile ] || $(MAKE) -C $$t clean; done
	rm -rf $(BUILD) results

help:
	@sed -n '3,13p' Makefile
endif
