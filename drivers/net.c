// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-net: an in-kernel virtio-net backend behind /dev/doorbell-net.
 *
 * It answers what a VMM sends to a vhost-net descriptor (<linux/vhost.h>):
 * the generic vhost ioctls (doorbell core) and VHOST_NET_SET_BACKEND with a
 * tun/tap or macvtap descriptor, or -1 to detach.  QEMU uses it as it uses
 * vhost-net: -netdev tap,...,vhost=on,vhostfd=N with N open on this device.
 *
 * Queue 0 is RX, queue 1 TX.  The guest's kick on a queue (its ioeventfd)
 * and the tap socket's readiness (a wait queue entry on the socket, EPOLLIN
 * for RX, EPOLLOUT for TX) both queue the queue's handler in the device's
 * worker.  Packets move between the guest's buffers and the socket with the
 * socket's own sendmsg/recvmsg on iov_iters over the guest memory (one copy
 * each way, as the tap does for any writer).  The virtio-net header is the
 * tap's vnet header: the VMM sets the tap's header size to the guest's, so
 * offloads negotiated by the VMM work through the tap.
 */
#include <linux/file.h>
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/if_vlan.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <linux/vhost.h>
#include <linux/virtio_net.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "core/doorbell_core.h"
#include "core/doorbell_vq.h"

enum {
	DBNET_RX,
	DBNET_TX,
	DBNET_NVQS,
};

/* Packets per handler run before the other queue gets the worker. */
#define DBNET_BUDGET		256
/* Completions batched before the used idx is published. */
#define DBNET_BATCH		64
/* Completions one packet and the unpublished ones may take. */
#define DBNET_HEADS		256
/*
 * The longest frame a guest may transmit, the virtio-net header apart: an
 * IPv6 packet of the largest size without a jumbo option (larger than any
 * IPv4 one, and as large as virtio-net's GSO packets get) behind an
 * Ethernet header with two VLAN tags.  A longer chain is dropped unsent.
 * Sent, it would make tun or macvtap build an skb whose linear part holds
 * what its page fragments cannot: a multi-MiB allocation that fails (past
 * 4 MiB, always) with -ENOBUFS, which is otherwise a transient error, so
 * the chain would be retried for ever and block the queue.
 */
#define DBNET_TX_MAX_FRAME	(VLAN_ETH_HLEN + VLAN_HLEN + \
				 sizeof(struct ipv6hdr) + IPV6_MAXPLEN)

/*
 * struct dbnet_sockpoll - a wait on the backend socket's readiness
 * @wait: our entry in the socket's wait queue
 * @table: hooks @wait in through vfs_poll()
 * @wqh: the queue we are on, NULL when not hooked
 * @mask: the events that queue the handler
 * @vq: the queue whose handler they queue
 */
struct dbnet_sockpoll {
	wait_queue_entry_t wait;
	poll_table table;
	wait_queue_head_t *wqh;
	__poll_t mask;
	struct doorbell_vq *vq;
};

/*
 * struct dbnet_queue - one queue and its backend
 * @vq: the virtqueue
 * @file: the backend's file, referenced while attached (vq.private_data is
 *	its socket)
 * @sp: the wait on the socket
 * @heads: completions not yet published, then those staged for a packet
 * @nheads: entries in @heads
 */
struct dbnet_queue {
	struct doorbell_vq vq;
	struct file *file;
	struct dbnet_sockpoll sp;
	struct vring_used_elem heads[DBNET_HEADS];
	unsigned int nheads;
};

struct dbnet {
	struct doorbell_vdev vdev;
	struct doorbell_vq *vqs[DBNET_NVQS];
	struct dbnet_queue q[DBNET_NVQS];
};

static struct dbnet_queue *dbnet_queue(struct doorbell_vq *vq)
{
	return container_of(vq, struct dbnet_queue, vq);
}

/* ---------------------------------------------------- socket readiness */

static int dbnet_sock_wake(wait_queue_entry_t *wait, unsigned int mode,
			   int sync, void *key)
{
	struct dbnet_sockpoll *sp = container_of(wait, struct dbnet_sockpoll, wait);
	__poll_t mask = key ? key_to_poll(key) : sp->mask;

	if (mask & sp->mask)
		doorbell_poll_queue(&sp->vq->poll);
	return 0;
}

static void dbnet_sock_queue_proc(struct file *file, wait_queue_head_t *wqh,
				  poll_table *pt)
{
	struct dbnet_sockpoll *sp = container_of(pt, struct dbnet_sockpoll, table);

	if (WARN_ON_ONCE(sp->wqh))
		return;
	sp->wqh = wqh;
	add_wait_queue(wqh, &sp->wait);
}

static void dbnet_sock_start(struct dbnet_sockpoll *sp, struct file *file)
{
	__poll_t mask;

	init_waitqueue_func_entry(&sp->wait, dbnet_sock_wake);
	init_poll_funcptr(&sp->table, dbnet_sock_queue_proc);
	sp->wqh = NULL;
	mask = vfs_poll(file, &sp->table);
	if (mask & sp->mask)
		doorbell_poll_queue(&sp->vq->poll);
}

/*
 * The socket refused a packet for now (see dbnet_handle_tx()): make sure the
 * handler runs again.  Our entry stays on the socket's wait queue, but tun
 * and macvtap wake it only when their send buffer drains after a send or a
 * poll found it full (their NOSPACE bit set).  If the socket is writable, as
 * it is when the send failed for want of memory, no wake is coming: queue
 * the handler now.  If it is not, this poll sets the NOSPACE bit, so that
 * the wake comes even if the packets in flight were freed since the send.
 */
static void dbnet_sock_repoll(struct dbnet_sockpoll *sp, struct file *file)
{
	if (vfs_poll(file, NULL) & sp->mask)
		doorbell_poll_queue(&sp->vq->poll);
}

/* Unhook; the caller flushes the worker afterwards. */
static void dbnet_sock_stop(struct dbnet_sockpoll *sp)
{
	if (sp->wqh) {
		remove_wait_queue(sp->wqh, &sp->wait);
		sp->wqh = NULL;
	}
}

/* ------------------------------------------------------------- queues */

/* The virtio-net header as the guest and the tap both see it. */
static size_t dbnet_hdr_len(struct doorbell_vq *vq)
{
	if (doorbell_vq_has_feature(vq, VIRTIO_NET_F_MRG_RXBUF) ||
	    doorbell_vq_has_feature(vq, VIRTIO_F_VERSION_1))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

static void dbnet_complete(struct dbnet_queue *q, unsigned int head, u32 len)
{
	q->heads[q->nheads].id = (__force __virtio32)head;
	q->heads[q->nheads].len = (__force __virtio32)len;
	q->nheads++;
}

static void dbnet_flush(struct dbnet_queue *q)
{
	if (q->nheads) {
		doorbell_vq_add_used_n(&q->vq, q->heads, q->nheads);
		q->nheads = 0;
	}
	doorbell_vq_signal(&q->vq);
}

/* Send the packet in vq->iov[0..@out). Return: sendmsg's result. */
static int dbnet_tx_send(struct socket *sock, struct doorbell_vq *vq,
			 unsigned int out, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };

	iov_iter_init(&msg.msg_iter, ITER_SOURCE, vq->iov, out, len);
	return sock->ops->sendmsg(sock, &msg, len);
}

static void dbnet_handle_tx(struct dbnet_queue *q, struct socket *sock)
{
	struct doorbell_vq *vq = &q->vq;
	size_t max_len = dbnet_hdr_len(vq) + DBNET_TX_MAX_FRAME;
	unsigned int out, in, sent = 0;
	size_t len;
	int head, err;

	doorbell_vq_disable_notify(vq);
	while (sent < DBNET_BUDGET) {
		head = doorbell_vq_get_desc(vq, vq->iov, ARRAY_SIZE(vq->iov),
					    &out, &in);
		if (head < 0)
			break;
		if (head == vq->num) {
			if (doorbell_vq_enable_notify(vq)) {
				doorbell_vq_disable_notify(vq);
				continue;
			}
			break;
		}
		if (head & DOORBELL_VQ_OVERSIZED) {
			/* More buffers than a packet is sent from: dropped. */
			dbnet_complete(q, head & ~DOORBELL_VQ_OVERSIZED, 0);
			if (q->nheads >= DBNET_BATCH)
				dbnet_flush(q);
			sent++;
			continue;
		}
		if (in) {
			doorbell_vq_break(vq, "TX request with writable buffers");
			break;
		}
		/* The guest's length: checked before a msghdr is built. */
		len = iov_length(vq->iov, out);
		if (len > max_len) {
			/*
			 * Longer than any frame (DBNET_TX_MAX_FRAME): sent,
			 * it could fail with a "not now" error every time.
			 * Complete it unsent, so that the packets after it
			 * go out.
			 */
			vq->stats.drops++;
			pr_warn_ratelimited("doorbell: %s queue %u: dropped a %zu-byte TX packet (at most %zu)\n",
					    vq->vdev->dev.name, vq->index, len,
					    max_len);
			err = 0;
		} else {
			err = dbnet_tx_send(sock, vq, out, len);
		}
		if (err == -EAGAIN || err == -ENOBUFS || err == -ENOMEM) {
			/*
			 * Not now: -EAGAIN, the socket's send buffer is full
			 * (its packets in flight are not freed yet);
			 * -ENOBUFS or -ENOMEM, building the skb failed for
			 * want of memory, whatever the send buffer holds.
			 * Give the chain back, it is the first one taken the
			 * next time, and poll the socket again: that runs
			 * the handler again at once if the socket is
			 * writable, else on its next EPOLLOUT.
			 */
			doorbell_vq_discard(vq, 1);
			dbnet_sock_repoll(&q->sp, sock->file);
			break;
		}
		/* Any other error drops the packet, as a NIC would. */
		if (err < 0)
			vq->stats.drops++;
		dbnet_complete(q, head, 0);
		if (q->nheads >= DBNET_BATCH)
			dbnet_flush(q);
		sent++;
	}
	dbnet_flush(q);
	if (sent == DBNET_BUDGET)
		doorbell_poll_queue(&vq->poll);
}

/*
 * Take enough RX chains for @want bytes into vq->iov, their completions
 * staged in q->heads after the unpublished ones.  Return: the iovecs used
 * (> 0) with *nbufs the chains; 0 if the guest has not posted enough;
 * -ENOSPC if the staging area is full, or if an oversized chain was dropped
 * (publish, then try again); -E2BIG if the packet cannot be placed at all
 * (drop it); -EIO if the queue broke.  The chains taken are given back
 * unless the return is > 0 or an oversized chain was dropped.
 */
static int dbnet_get_rx_bufs(struct dbnet_queue *q, size_t want,
			     bool mergeable, unsigned int *nbufs)
{
	struct doorbell_vq *vq = &q->vq;
	unsigned int used = 0, out, in, n = 0;
	size_t have = 0, chain;
	int head, ret;

	while (have < want) {
		if (n && !mergeable) {
			/* One buffer is all it may have. */
			ret = -E2BIG;
			goto give_back;
		}
		if (q->nheads + n >= ARRAY_SIZE(q->heads)) {
			ret = q->nheads ? -ENOSPC : -E2BIG;
			goto give_back;
		}
		head = doorbell_vq_get_desc(vq, vq->iov + used,
					    ARRAY_SIZE(vq->iov) - used, &out, &in);
		if (head == -ENOSPC) {
			ret = q->nheads ? -ENOSPC : -E2BIG;
			goto give_back;
		}
		if (head < 0)
			return -EIO;
		if (head == vq->num) {
			ret = 0;
			goto give_back;
		}
		if (head & DOORBELL_VQ_OVERSIZED) {
			/*
			 * More buffers than a packet is received into: it
			 * goes back unused (used length 0), and so do the
			 * chains taken before it for this packet, which
			 * cannot be given back past it.
			 */
			q->heads[q->nheads + n].id =
				(__force __virtio32)(head & ~DOORBELL_VQ_OVERSIZED);
			for (n++; n; n--)
				q->heads[q->nheads++].len = 0;
			return -ENOSPC;
		}
		if (out) {
			doorbell_vq_break(vq, "RX request with readable buffers");
			return -EIO;
		}
		chain = iov_length(vq->iov + used, in);
		used += in;
		q->heads[q->nheads + n].id = (__force __virtio32)head;
		q->heads[q->nheads + n].len =
			(__force __virtio32)(u32)min(chain, want - have);
		have += chain;
		n++;
	}
	*nbufs = n;
	return used;
give_back:
	doorbell_vq_discard(vq, n);
	return ret;
}

/* Drop the packet at the head of the socket (the tap frees it). */
static void dbnet_rx_drop(struct socket *sock)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_TRUNC };
	char byte;
	struct kvec kv = { .iov_base = &byte, .iov_len = 1 };

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, 1);
	sock->ops->recvmsg(sock, &msg, 1, MSG_DONTWAIT | MSG_TRUNC);
}

static void dbnet_handle_rx(struct dbnet_queue *q, struct socket *sock)
{
	bool mergeable = doorbell_vq_has_feature(&q->vq, VIRTIO_NET_F_MRG_RXBUF);
	struct doorbell_vq *vq = &q->vq;
	size_t hdr_len = dbnet_hdr_len(vq);
	unsigned int nbufs = 0, rounds = 0;
	struct msghdr msg = {};
	struct iov_iter fix;
	int peek, niov, err;
	__virtio16 num;
	size_t want;

	doorbell_vq_disable_notify(vq);
	/* Drops and retries count against the budget too. */
	while (rounds++ < DBNET_BUDGET) {
		peek = sock->ops->peek_len(sock);
		if (peek <= 0)
			break;
		want = peek + hdr_len;
		niov = dbnet_get_rx_bufs(q, want, mergeable, &nbufs);
		if (niov == -ENOSPC) {
			dbnet_flush(q);
			continue;
		}
		if (niov == -E2BIG) {
			dbnet_rx_drop(sock);
			continue;
		}
		if (niov < 0)
			break;
		if (!niov) {
			/* Wait for buffers: the guest kicks when it adds. */
			if (doorbell_vq_enable_notify(vq)) {
				doorbell_vq_disable_notify(vq);
				continue;
			}
			break;
		}
		msg.msg_flags = MSG_DONTWAIT | MSG_TRUNC;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		iov_iter_init(&msg.msg_iter, ITER_DEST, vq->iov, niov, want);
		fix = msg.msg_iter;
		err = sock->ops->recvmsg(sock, &msg, want,
					 MSG_DONTWAIT | MSG_TRUNC);
		if (err < 0 || (size_t)err != want) {
			/* Gone or changed under us: give the buffers back. */
			doorbell_vq_discard(vq, nbufs);
			if (err < 0)
				break;
			continue;
		}
		if (hdr_len == sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
			/* Without MRG_RXBUF a VERSION_1 header says 1. */
			num = __cpu_to_virtio16(vq->le, nbufs);
			iov_iter_advance(&fix, offsetof(struct virtio_net_hdr_mrg_rxbuf,
							num_buffers));
			if (copy_to_iter(&num, sizeof(num), &fix) != sizeof(num)) {
				doorbell_vq_break(vq, "RX header not writable");
				break;
			}
		}
		/* The staged completions become unpublished ones. */
		q->nheads += nbufs;
		if (q->nheads >= DBNET_BATCH)
			dbnet_flush(q);
	}
	dbnet_flush(q);
	if (rounds > DBNET_BUDGET)
		doorbell_poll_queue(&vq->poll);
}

/* The handler of both queues: guest kicks and socket readiness. */
static void dbnet_handle(struct doorbell_work *work)
{
	struct doorbell_vq *vq = doorbell_vq_from_work(work);
	struct dbnet_queue *q = dbnet_queue(vq);
	struct socket *sock;

	doorbell_poll_take(&vq->poll);
	mutex_lock(&vq->mutex);
	sock = vq->private_data;
	if (sock && !vq->broken) {
		vq->stats.kicks++;
		if (vq->index == DBNET_TX)
			dbnet_handle_tx(q, sock);
		else
			dbnet_handle_rx(q, sock);
	}
	mutex_unlock(&vq->mutex);
}

/* ------------------------------------------------------------ backend */

static struct socket *dbnet_get_socket(struct file *file)
{
	struct socket *sock;

	sock = tun_get_socket(file);
	if (!IS_ERR(sock))
		return sock;
	sock = tap_get_socket(file);
	if (!IS_ERR(sock))
		return sock;
	return ERR_PTR(-ENOTSOCK);
}

/* Detach queue @q's backend; vdev mutex held.  Return: its file or NULL. */
static struct file *dbnet_detach(struct dbnet *n, struct dbnet_queue *q)
{
	struct file *file = q->file;

	mutex_lock(&q->vq.mutex);
	doorbell_vq_stop(&q->vq);
	q->file = NULL;
	mutex_unlock(&q->vq.mutex);
	dbnet_sock_stop(&q->sp);
	/* No handler runs on the old socket after this. */
	if (n->vdev.owned)
		doorbell_dev_flush(&n->vdev.dev);
	return file;
}

static long dbnet_set_backend(struct dbnet *n, struct vhost_vring_file __user *argp)
{
	struct vhost_vring_file f;
	struct dbnet_queue *q;
	struct socket *sock;
	struct file *file, *old;
	long ret;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	mutex_lock(&n->vdev.mutex);
	ret = doorbell_vdev_check_owner(&n->vdev);
	if (ret)
		goto out;
	if (f.index >= DBNET_NVQS) {
		ret = -ENOBUFS;
		goto out;
	}
	q = &n->q[array_index_nospec(f.index, DBNET_NVQS)];

	if (f.fd == -1) {
		old = dbnet_detach(n, q);
		if (old)
			fput(old);
		goto out;
	}
	file = fget(f.fd);
	if (!file) {
		ret = -EBADF;
		goto out;
	}
	sock = dbnet_get_socket(file);
	if (IS_ERR(sock)) {
		fput(file);
		ret = PTR_ERR(sock);
		goto out;
	}
	if (q->file == file) {
		fput(file);
		goto out;
	}
	old = dbnet_detach(n, q);

	mutex_lock(&q->vq.mutex);
	ret = doorbell_vq_start(&q->vq, sock);
	if (!ret)
		q->file = file;
	mutex_unlock(&q->vq.mutex);
	if (ret) {
		fput(file);
	} else {
		dbnet_sock_start(&q->sp, file);
		/* Serve what the guest queued before the backend came. */
		doorbell_poll_queue(&q->vq.poll);
	}
	if (old)
		fput(old);
out:
	mutex_unlock(&n->vdev.mutex);
	return ret;
}

/* RESET_OWNER and release: every queue's backend goes. */
static void dbnet_stop(struct doorbell_vdev *vdev)
{
	struct dbnet *n = container_of(vdev, struct dbnet, vdev);
	struct file *file;
	int i;

	for (i = 0; i < DBNET_NVQS; i++) {
		file = dbnet_detach(n, &n->q[i]);
		if (file)
			fput(file);
	}
}

static long dbnet_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct dbnet *n = f->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	if (ioctl == VHOST_NET_SET_BACKEND)
		return dbnet_set_backend(n, argp);
	ret = doorbell_vdev_ioctl(&n->vdev, ioctl, argp);
	return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
}

static int dbnet_open(struct inode *inode, struct file *f)
{
	struct dbnet *n;
	int i;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;
	for (i = 0; i < DBNET_NVQS; i++) {
		n->vqs[i] = &n->q[i].vq;
		n->q[i].sp.vq = &n->q[i].vq;
	}
	n->q[DBNET_RX].sp.mask = EPOLLIN;
	n->q[DBNET_TX].sp.mask = EPOLLOUT;
	doorbell_vdev_init(&n->vdev, n->vqs, DBNET_NVQS,
			   BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), "net", dbnet_stop,
			   dbnet_handle);
	f->private_data = n;
	return 0;
}

static int dbnet_release(struct inode *inode, struct file *f)
{
	struct dbnet *n = f->private_data;

	mutex_lock(&n->vdev.mutex);
	dbnet_stop(&n->vdev);
	mutex_unlock(&n->vdev.mutex);
	doorbell_vdev_cleanup(&n->vdev);
	kvfree(n);
	return 0;
}

static const struct file_operations dbnet_fops = {
	.owner = THIS_MODULE,
	.open = dbnet_open,
	.release = dbnet_release,
	.unlocked_ioctl = dbnet_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice dbnet_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "doorbell-net",
	.fops = &dbnet_fops,
};
module_misc_device(dbnet_misc);

MODULE_DESCRIPTION("doorbell-net: in-kernel virtio-net backend with the vhost-net UAPI");
MODULE_LICENSE("GPL");
