/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * doorbell-blk: an in-kernel virtio-blk backend (/dev/doorbell-blk).
 *
 * The device speaks the vhost UAPI of <linux/vhost.h>: SET_OWNER,
 * GET/SET_FEATURES, SET_MEM_TABLE, SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR,
 * GET_VRING_BASE, RESET_OWNER, one virtqueue per request queue (up to
 * DOORBELL_BLK_MAX_QUEUES; VIRTIO_BLK_F_MQ).  The VMM keeps the virtio-blk
 * configuration space (capacity, seg_max, blk_size, discard limits...) and
 * the feature negotiation; GET_FEATURES says which virtio-blk features the
 * backend serves.
 *
 * DOORBELL_BLK_SET_BACKEND attaches the backing store to every queue: .fd
 * is a regular file or a block device, open for reading (a read-only
 * backend: writes, discards and write zeroes complete with
 * VIRTIO_BLK_S_IOERR) or reading and writing; .fd = -1 detaches (in-flight
 * requests complete first).  .index must be 0.  The rings must be set up
 * before; the capacity the backend enforces is the size of the file or
 * device at that moment, in 512-byte sectors.  The descriptor must not be
 * open with O_APPEND (writes would land at the end of the file, not at the
 * guest's sector); a write made while it has O_APPEND (set later with
 * fcntl()) completes with VIRTIO_BLK_S_IOERR.
 *
 * A read or write of more than MAX_RW_COUNT bytes (INT_MAX rounded down to a
 * page: 2147479552 with 4 KiB pages) completes with VIRTIO_BLK_S_IOERR, as
 * does one that the kernel's checks of a read or write refuse (an LSM, a
 * fanotify permission event).  So does a request whose chain scatters over
 * more than 1024 buffers (each region of the memory table that a buffer spans
 * counts).  VIRTIO_BLK_T_GET_ID answers "doorbell-blk", NUL-padded to 20
 * bytes.
 *
 * The number and the argument are those of VHOST_BLK_SET_BACKEND in the
 * 2022 vhost-blk RFC (Virtuozzo, QEMU side: _IOW(VHOST_VIRTIO, 0xFF,
 * struct vhost_vring_file), called with index 0); no in-tree vhost ioctl
 * uses 0xFF.
 *
 * Errors of DOORBELL_BLK_SET_BACKEND:
 *   -EPERM    not the owner (no VHOST_SET_OWNER, or another process)
 *   -EINVAL   .index is not 0
 *   -EBADF    .fd is not an open descriptor
 *   -ENOTBLK  .fd is neither a regular file nor a block device
 *   -EBADFD   .fd is not open for reading
 *   -ESPIPE   .fd is open with O_APPEND
 *   -EFAULT   a queue's rings are not set up (num, addresses, memory table)
 *   -ENOMEM
 */
#ifndef _UAPI_LINUX_DOORBELL_BLK_H
#define _UAPI_LINUX_DOORBELL_BLK_H

#include <linux/vhost.h>

#define DOORBELL_BLK_MAX_QUEUES		8

#define DOORBELL_BLK_SET_BACKEND	_IOW(VHOST_VIRTIO, 0xFF, struct vhost_vring_file)

#endif /* _UAPI_LINUX_DOORBELL_BLK_H */
