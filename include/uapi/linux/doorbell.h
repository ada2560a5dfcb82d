/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * doorbell: in-kernel consumers of KVM ioeventfd kicks.
 *
 * /dev/doorbell is the test harness of the 2009 ioeventfd commit, made real:
 * every open file is a set of "bells".  A bell counts rings.  A ring arrives
 * either through an eventfd (typically a KVM ioeventfd, so a guest write is
 * counted without any exit to userspace) or through the DOORBELL_RING ioctl
 * (the path a userspace VMM takes after a heavy-weight exit).
 *
 * Every ioctl argument is a structure whose first field is its size in
 * bytes, so the structures can grow:
 *  - size smaller than the first published version: -EINVAL;
 *  - size larger than the kernel knows, with non-zero bytes past the known
 *    part: -E2BIG (zero bytes past it are accepted);
 *  - size larger than DOORBELL_MAX_ARG_SIZE: -E2BIG.
 * Reserved fields and unknown flags must be zero (-EINVAL otherwise).
 *
 * Errors:
 *  DOORBELL_ADD_BELL:     -EBADF  fd is not an open file descriptor
 *                         -EINVAL fd is not an eventfd, or unknown flags
 *                         -EBUSY  this eventfd already has a bell in this file
 *                         -ENOSPC DOORBELL_MAX_BELLS bells already exist
 *  DOORBELL_RING:         -ENOENT no bell with that id; -EINVAL count == 0
 *  DOORBELL_GET_STATS:    -ENOENT no bell with that id
 *  DOORBELL_REMOVE_BELL:  -ENOENT no bell with that id
 *  unknown command:       -ENOTTY (also a known number with another
 *                         direction; the size bits of a command are not
 *                         checked: each argument's first field is its size)
 *  bad user pointer:      -EFAULT
 */
#ifndef _UAPI_LINUX_DOORBELL_H
#define _UAPI_LINUX_DOORBELL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* 0xB9: no other user in Documentation/userspace-api/ioctl/ioctl-number.rst (6.12) */
#define DOORBELL_IOCTL_MAGIC	0xB9

#define DOORBELL_MAX_BELLS	1024
#define DOORBELL_MAX_ARG_SIZE	4096

/*
 * Consumer modes of a bell (struct doorbell_bell.flags):
 * DOORBELL_BELL_COUNT_IN_WAKE: rings are counted in the eventfd wait queue's
 *	wake function itself (the cheapest consumer possible).
 * DOORBELL_BELL_COUNT_IN_WORKER: the wake function only queues work; the
 *	device's worker thread (running with the opener's mm) counts the rings,
 *	as a real virtio backend serves its queue.
 */
#define DOORBELL_BELL_COUNT_IN_WAKE	0x0
#define DOORBELL_BELL_COUNT_IN_WORKER	0x1
#define DOORBELL_BELL_FLAGS_ALL		DOORBELL_BELL_COUNT_IN_WORKER

/**
 * struct doorbell_bell - argument of DOORBELL_ADD_BELL
 * @size: sizeof(struct doorbell_bell)
 * @fd: an eventfd; its signals ring the bell
 * @flags: DOORBELL_BELL_COUNT_IN_* consumer mode
 * @id: out: the bell's id, used by the other ioctls
 * @reserved: must be zero
 */
struct doorbell_bell {
	__u32 size;
	__s32 fd;
	__u32 flags;
	__u32 id;
	__u64 reserved;
};

/**
 * struct doorbell_ring - argument of DOORBELL_RING
 * @size: sizeof(struct doorbell_ring)
 * @id: the bell to ring
 * @count: how many rings (at least 1)
 * @reserved: must be zero
 */
struct doorbell_ring {
	__u32 size;
	__u32 id;
	__u32 count;
	__u32 reserved;
};

/* struct doorbell_stats.state */
#define DOORBELL_BELL_ACTIVE	0	/* bound to its eventfd */
#define DOORBELL_BELL_INACTIVE	1	/* its eventfd was released */

/**
 * struct doorbell_stats - argument of DOORBELL_GET_STATS
 * @size: sizeof(struct doorbell_stats)
 * @id: in: the bell
 * @flags: out: the bell's consumer mode
 * @state: out: DOORBELL_BELL_ACTIVE or DOORBELL_BELL_INACTIVE
 * @rings_eventfd: out: rings counted that arrived through the eventfd
 *	(the eventfd counter's value, summed: one eventfd_signal() is one ring)
 * @rings_ioctl: out: rings counted that arrived through DOORBELL_RING
 * @wakeups: out: calls of the wake function that found the eventfd readable
 * @worker_runs: out: runs of this bell's work in the worker
 * @pending: out: rings handed to the worker (from the eventfd or by
 *	DOORBELL_RING) and not yet counted by it; always 0 in COUNT_IN_WAKE
 *	mode.  The worker belongs to the process that opened the file: once
 *	that process is gone, rings may stay pending.
 */
struct doorbell_stats {
	__u32 size;
	__u32 id;
	__u32 flags;
	__u32 state;
	__u64 rings_eventfd;
	__u64 rings_ioctl;
	__u64 wakeups;
	__u64 worker_runs;
	__u64 pending;
};

/**
 * struct doorbell_id - argument of DOORBELL_REMOVE_BELL
 * @size: sizeof(struct doorbell_id)
 * @id: the bell to remove
 */
struct doorbell_id {
	__u32 size;
	__u32 id;
};

/* Sizes of the first published versions; smaller arguments get -EINVAL. */
#define DOORBELL_BELL_SIZE_VER0		24
#define DOORBELL_RING_SIZE_VER0		16
#define DOORBELL_STATS_SIZE_VER0	56
#define DOORBELL_ID_SIZE_VER0		8

#define DOORBELL_ADD_BELL	_IOWR(DOORBELL_IOCTL_MAGIC, 0x00, struct doorbell_bell)
#define DOORBELL_RING		_IOW(DOORBELL_IOCTL_MAGIC, 0x01, struct doorbell_ring)
#define DOORBELL_GET_STATS	_IOWR(DOORBELL_IOCTL_MAGIC, 0x02, struct doorbell_stats)
#define DOORBELL_REMOVE_BELL	_IOW(DOORBELL_IOCTL_MAGIC, 0x03, struct doorbell_id)

#endif /* _UAPI_LINUX_DOORBELL_H */
