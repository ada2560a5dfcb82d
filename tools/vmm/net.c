// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: virtio-net on a tap device.
 * --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,backend=kernel|vhost-net|user]
 *
 * The tap is opened with a 12-byte virtio-net header (IFF_VNET_HDR,
 * TUNSETVNETHDRSZ), no offloads.  backend=kernel (the default) hands both
 * queues to /dev/doorbell-net, backend=vhost-net to in-tree vhost-net, both
 * with VHOST_NET_SET_BACKEND; backend=user moves the packets in two VMM
 * threads (receive: tap -> queue 0, transmit: queue 1 -> tap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm.h"

#define NET_HDR_LEN	12	/* struct virtio_net_hdr_v1 */
#define NET_PKT_MAX	(NET_HDR_LEN + 65536)

enum net_backend { NET_KERNEL, NET_VHOST_NET, NET_USER };

struct net {
	char ifname[IFNAMSIZ];
	int tap;
	enum net_backend backend;
	uint64_t backend_features;
	struct virtio_net_config config;
};

static const char *const net_dev[] = {
	[NET_KERNEL] = "/dev/doorbell-net",
	[NET_VHOST_NET] = "/dev/vhost-net",
};

static uint64_t net_features(struct virtio_dev *d)
{
	struct net *n = d->priv;
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC);

	if (n->backend == NET_USER)
		return f;
	f |= (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
	     (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	     (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	/* MAC is the VMM's: the backend need not know it. */
	return f & (n->backend_features | (1ULL << VIRTIO_NET_F_MAC));
}

static int net_set_backend(struct virtio_dev *d, int fd)
{
	uint32_t i;

	for (i = 0; i < 2; i++) {
		struct vhost_vring_file f = { .index = i, .fd = fd };

		if (ioctl(d->vhost, VHOST_NET_SET_BACKEND, &f) < 0)
			return -errno;
	}
	return 0;
}

/* Receive: one packet from the tap into the next chain of queue 0. */
static void *net_rx(void *arg)
{
	struct vmm_queue *q = arg;
	struct virtio_dev *d = q->dev;
	struct net *n = d->priv;
	struct pollfd p[2] = {
		{ .fd = n->tap, .events = POLLIN },
		{ .fd = q->kick, .events = POLLIN },
	};
	struct user_req *r = malloc(sizeof(*r));
	uint8_t *pkt = malloc(NET_PKT_MAX);
	ssize_t len = 0, off;
	uint64_t cnt;
	int got, i;

	if (!r || !pkt) {
		vmm_warn("net %s: out of memory", n->ifname);
		goto out;
	}
	while (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
		/* Wait for a packet, and for buffers when one is pending. */
		p[0].events = len ? 0 : POLLIN;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN &&
		    read(q->kick, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			break;
		if (!len) {
			len = read(n->tap, pkt, NET_PKT_MAX);
			if (len < 0) {
				len = 0;
				continue;
			}
		}
		got = vq_pop(d, q, r);
		if (got < 0) {
			vmm_warn("net %s: receive queue malformed, stopped", n->ifname);
			break;
		}
		if (!got)
			continue;	/* no buffer: wait for a kick */
		/* The header's num_buffers is 1 (it is 0 from the tap). */
		pkt[10] = 1;
		pkt[11] = 0;
		for (off = 0, i = 0; i < r->nin && off < len; i++) {
			size_t c = r->in[i].iov_len;

			if (c > (size_t)(len - off))
				c = len - off;
			memcpy(r->in[i].iov_base, pkt + off, c);
			off += c;
		}
		/* a packet larger than the buffers is cut, as a NIC would */
		vq_push(d, q, r->head, off);
		vq_signal(q);
		len = 0;
	}
	/* Stopped: wait for user_queues_stop's wake-up, then end. */
	while (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE))
		vq_wait_kick(q);
out:
	free(pkt);
	free(r);
	return NULL;
}

/* Transmit: each chain of queue 1 to the tap, header included. */
static void *net_tx(void *arg)
{
	struct vmm_queue *q = arg;
	struct virtio_dev *d = q->dev;
	struct net *n = d->priv;
	struct user_req *r = malloc(sizeof(*r));
	bool broken = false;
	uint32_t sent;
	int got;

	if (!r) {
		vmm_warn("net %s: out of memory", n->ifname);
		return NULL;
	}
	while (vq_wait_kick(q)) {
		sent = 0;
		while (!broken && (got = vq_pop(d, q, r)) != 0) {
			if (got < 0 || r->nin) {
				vmm_warn("net %s: transmit queue malformed, stopped",
					 n->ifname);
				broken = true;
				break;
			}
			if (writev(n->tap, r->out, r->nout) < 0 && errno != EAGAIN)
				vmm_warn("net %s: tap write: %s", n->ifname,
					 strerror(errno));
			vq_push(d, q, r->head, 0);
			sent++;
		}
		if (sent)
			vq_signal(q);
	}
	free(r);
	return NULL;
}

static void *net_user_queue(void *arg)
{
	struct vmm_queue *q = arg;

	return q->index == 0 ? net_rx(arg) : net_tx(arg);
}

static int net_start(struct virtio_dev *d)
{
	struct net *n = d->priv;
	int err;

	if (n->backend == NET_USER)
		return user_queues_start(d, net_user_queue);
	if (!d->q[0].ready || !d->q[1].ready)
		return -EINVAL;
	err = vhost_setup(d, d->driver_features & ~(1ULL << VIRTIO_NET_F_MAC));
	if (err)
		return err;
	return net_set_backend(d, n->tap);
}

static void net_stop(struct virtio_dev *d)
{
	struct net *n = d->priv;

	if (n->backend == NET_USER) {
		user_queues_stop(d);
		return;
	}
	net_set_backend(d, -1);
	vhost_teardown(d);
}

static const struct virtio_ops net_ops = {
	.device_id = 1,
	.name = "virtio-net",
	.features = net_features,
	.start = net_start,
	.stop = net_stop,
};

static int tap_open(struct net *n)
{
	struct ifreq ifr = { 0 };
	int hdr = NET_HDR_LEN, fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		vmm_die("net %s: open /dev/net/tun: %s", n->ifname, strerror(errno));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, n->ifname, IFNAMSIZ);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		vmm_die("net %s: TUNSETIFF: %s", n->ifname, strerror(errno));
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, 0) < 0)
		vmm_die("net %s: vnet header: %s", n->ifname, strerror(errno));
	if (n->backend == NET_USER &&
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		vmm_die("net %s: O_NONBLOCK: %s", n->ifname, strerror(errno));
	return fd;
}

int net_add(struct vmm *v, const char *opt)
{
	char *s = strdup(opt), *tok, *save = NULL;
	unsigned int mac[6] = { 0x52, 0x54, 0x00, 0xdb, 0x00, v->ndevs };
	struct virtio_dev *d;
	struct net *n;
	int i;

	n = calloc(1, sizeof(*n));
	if (!s || !n)
		vmm_die("out of memory");
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tap=", 4) && strlen(tok + 4) &&
		    strlen(tok + 4) < IFNAMSIZ) {
			strcpy(n->ifname, tok + 4);
		} else if (!strcmp(tok, "backend=kernel")) {
			n->backend = NET_KERNEL;
		} else if (!strcmp(tok, "backend=vhost-net")) {
			n->backend = NET_VHOST_NET;
		} else if (!strcmp(tok, "backend=user")) {
			n->backend = NET_USER;
		} else if (!strncmp(tok, "mac=", 4)) {
			if (sscanf(tok + 4, "%2x:%2x:%2x:%2x:%2x:%2x", &mac[0], &mac[1],
				   &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
				vmm_die("--net %s: mac=XX:XX:XX:XX:XX:XX", opt);
		} else {
			vmm_die("--net %s: unknown option %s", opt, tok);
		}
	}
	if (!n->ifname[0])
		vmm_die("--net %s: tap=NAME is needed", opt);
	n->tap = tap_open(n);
	for (i = 0; i < 6; i++)
		n->config.mac[i] = mac[i];

	d = virtio_add(v, &net_ops, 2, n);
	d->user = n->backend == NET_USER;
	d->config = &n->config;
	d->config_len = sizeof(n->config);
	if (!d->user) {
		char what[64];

		snprintf(what, sizeof(what), "net %s", n->ifname);
		vhost_open(d, net_dev[n->backend],
			   n->backend == NET_KERNEL ? "doorbell_net" : "vhost_net",
			   what, &n->backend_features);
	}
	free(s);
	return 0;
}
