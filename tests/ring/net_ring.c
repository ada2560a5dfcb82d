// SPDX-License-Identifier: GPL-2.0
/*
 * net_ring: doorbell-net (or vhost-net) driven from a fake guest.
 *
 * No KVM: the "guest memory" is an mmap of this process, declared to the
 * device as two regions at guest physical 0x100000 (so that every address
 * is translated and a buffer may cross a region boundary); the rings live
 * there too, kicks are eventfd writes, calls are eventfd reads.  The backend
 * is a tap made here (IFF_VNET_HDR, header size 12, IPv6 off); a packet
 * socket on the tap sees what the device transmits and injects what it
 * receives.
 *
 * Cases: the vhost ioctls and their errnos; TX and RX of frames with exact
 * content (chained, indirect, across regions, MRG_RXBUF merging); interrupt
 * suppression (NO_INTERRUPT, EVENT_IDX); TX sends the frames behind a chain
 * of 6 MiB, which the tap would refuse with ENOBUFS every time, and resumes
 * after the tap failed a send with ENOMEM once (failslab, on a kernel that
 * has it), each within a deadline; every malformed ring of the hostile
 * guest list, each of which must break only the queue (error eventfd
 * signalled, nothing served) until the VMM sets the base again; and with
 * -f N, N random rings (fuzzing): each is served or breaks the queue, and a
 * valid frame goes through afterwards.  Then (doorbell-net only) a TX and an
 * RX chain of more than 1024 iovecs: each completes with used length 0 and
 * the queue serves on.
 *
 * usage: net_ring [-d DEV] [-f N] [-s SEED]
 *   -d DEV   the device (default /dev/doorbell-net; /dev/vhost-net is the
 *            reference and must pass the same cases, except the ones that
 *            check doorbell's stricter validation and the two TX cases
 *            above, where vhost-net stalls or drops: skipped there, the
 *            reason in the TAP line)
 * Prints kselftest TAP.  Exit: 0 pass, 1 fail, 4 skip (no device or tun).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define ETH_TEST	0x88b5		/* IEEE local experimental ethertype */
#define HDR		12		/* struct virtio_net_hdr_mrg_rxbuf */
#define RX		0
#define TX		1
#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

static const char *devpath = "/dev/doorbell-net";
static bool doorbell;		/* the device is doorbell-net */

/* ------------------------------------------------------------ the guest */

static struct queue q[2];
static int tapfd = -1, pkt = -1, ifindex;
static char ifname[IFNAMSIZ];
static uint64_t features;

static int set_backend(int idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };

	return vioctl(VHOST_NET_SET_BACKEND, &f);
}

/* Fresh rings for both queues, the backend attached; false on failure. */
static bool restart(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		set_backend(i, -1);
		heap = GPA0 + (i ? 0x80000 : 0);
		queue_layout(&q[i]);
		if (vring_setup(&q[i], i, 0) || set_backend(i, tapfd)) {
			diag("restart: queue %d: %s", i, strerror(errno));
			return false;
		}
		efd_take(q[i].err, 0);
		efd_take(q[i].call, 0);
	}
	heap = GPA0 + 0x100000;	/* buffers after the rings */
	return true;
}

/* --------------------------------------------------------------- frames */

static void make_frame(uint8_t *f, size_t len, unsigned int seq)
{
	size_t i;

	memset(f, 0xff, 6);			/* broadcast */
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xff;
	f[14] = seq >> 8;
	f[15] = seq;
	for (i = 16; i < len; i++)
		f[i] = (uint8_t)(seq * 131 + i * 7);
}

/* Next test frame seen on the tap, in the direction asked; its length. */
static ssize_t capture(uint8_t *buf, size_t len, bool outgoing, int ms)
{
	struct pollfd p = { .fd = pkt, .events = POLLIN };
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	while (poll(&p, 1, ms) == 1) {
		sl = sizeof(sll);
		n = recvfrom(pkt, buf, len, MSG_DONTWAIT, (void *)&sll, &sl);
		if (n < 16 || buf[12] != ETH_TEST >> 8 || buf[13] != (ETH_TEST & 0xff))
			continue;
		if ((sll.sll_pkttype == PACKET_OUTGOING) != outgoing)
			continue;
		return n;
	}
	return -1;
}

static void drain_capture(void)
{
	uint8_t b[2048];

	while (recv(pkt, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/*
 * Transmit one frame of @len bytes from the guest, laid out per @layout:
 * 0 one buffer, 1 header and frame apart, 2 three pieces, 3 indirect,
 * 4 one buffer across the region boundary.
 */
static void guest_tx(unsigned int seq, size_t len, int layout)
{
	struct queue *vq = &q[TX];
	uint8_t frame[2048];
	uint64_t b = galloc(HDR + len, 8);
	uint16_t h, d2, d3;

	make_frame(frame, len, seq);
	if (layout == 4)
		b = buf_at_boundary(HDR + len);
	memset(g2h(b), 0, HDR);
	memcpy(g2h(b) + HDR, frame, len);
	switch (layout) {
	case 1:
		d2 = put_desc(vq, b + HDR, len, 0, 0);
		h = put_desc(vq, b, HDR, VRING_DESC_F_NEXT, d2);
		break;
	case 2:
		d3 = put_desc(vq, b + HDR + 20, len - 20, 0, 0);
		d2 = put_desc(vq, b + HDR, 20, VRING_DESC_F_NEXT, d3);
		h = put_desc(vq, b, HDR, VRING_DESC_F_NEXT, d2);
		break;
	case 3: {
		uint64_t t = galloc(3 * 16, 16);
		struct vring_desc *it = g2h(t);

		/*
		 * Chained out of table order, as the spec allows; vhost-net
		 * reads indirect tables in table order, so not for it.
		 */
		int mid = doorbell ? 2 : 1, last = doorbell ? 1 : 2;

		it[0] = (struct vring_desc){ b, HDR, VRING_DESC_F_NEXT, mid };
		it[mid] = (struct vring_desc){ b + HDR, 30, VRING_DESC_F_NEXT, last };
		it[last] = (struct vring_desc){ b + HDR + 30, len - 30, 0, 0 };
		h = put_desc(vq, t, 3 * 16, VRING_DESC_F_INDIRECT, 0);
		break;
	}
	default:
		h = put_desc(vq, b, HDR + len, 0, 0);
	}
	publish(vq, h);
}

/*
 * Frames may reach the tap's packet socket out of order (the worker's
 * netif_rx goes to the backlog of whichever CPU it runs on): match by seq.
 */
static int check_tx_frames(int first, int n, int *lost)
{
	uint8_t got[2048], want[2048];
	char seen[256] = { 0 };
	int i, bad = 0;

	*lost = 0;
	for (i = 0; i < n; i++) {
		ssize_t m = capture(got, sizeof(got), false, 2000);
		int seq = (got[14] << 8) | got[15];
		size_t len = 60 + (seq * 97) % 1455;

		if (m < 0) {
			(*lost)++;
			continue;
		}
		make_frame(want, len, seq);
		if (seq >= first && seq < first + n && !seen[seq - first] &&
		    ((size_t)m != len || memcmp(got, want, len)))
			diag("tx frame %d: %zd bytes, want %zu", seq, m, len);
		if (seq < first || seq >= first + n || seen[seq - first]++ ||
		    (size_t)m != len || memcmp(got, want, len))
			bad++;
	}
	for (i = 0; *lost && i < n; i++)
		if (!seen[i])
			diag("tx frame %d (layout %d) not seen on the tap", first + i, (first + i) % 4);
	return bad;
}

static void test_tx(void)
{
	int i, bad, lost, n = 60;
	uint16_t start = q[TX].avail_idx;

	drain_capture();
	for (i = 0; i < n; i++)
		guest_tx(i, 60 + (i * 97) % 1455, i % 4);
	kick(&q[TX]);
	result(wait_used(&q[TX], start + n, 5000),
	       "tx: %d frames (one buffer, split, 3 pieces, indirect) completed", n);
	bad = check_tx_frames(0, n, &lost);
	result(!lost && !bad, "tx: frames on the tap exact (lost %d, wrong %d)", lost, bad);
	result(efd_take(q[TX].call, 1000) > 0, "tx: call eventfd signalled");
	result(q[TX].used->ring[(uint16_t)(start + n - 1) % NUM].len == 0,
	       "tx: used len 0");
	start = q[TX].avail_idx;
	guest_tx(100, 60 + (100 * 97) % 1455, 4);
	kick(&q[TX]);
	wait_used(&q[TX], start + 1, 5000);
	bad = check_tx_frames(100, 1, &lost);
	result(!lost && !bad, "tx: a buffer across two memory regions");
}

/* Post @count RX buffers of @size bytes each. */
static void post_rx(int count, size_t size)
{
	int i;

	for (i = 0; i < count; i++) {
		uint64_t b = galloc(size, 8);

		publish(&q[RX], put_desc(&q[RX], b, size, VRING_DESC_F_WRITE, 0));
	}
	kick(&q[RX]);
}

static void inject(unsigned int seq, size_t len)
{
	uint8_t f[2048];

	make_frame(f, len, seq);
	if (send(pkt, f, len, 0) != (ssize_t)len)
		perror("send");
}

/* Read one received frame from the used ring; its length or -1. */
static ssize_t guest_rx(uint8_t *out, size_t cap, int ms)
{
	struct queue *vq = &q[RX];
	struct virtio_net_hdr_mrg_rxbuf *hdr;
	uint16_t nb, k;
	size_t total = 0;

	if (!wait_used(vq, vq->used_seen + 1, ms))
		return -1;
	for (k = 0, nb = 1; k < nb; k++) {
		struct vring_used_elem *e;
		uint8_t *p;
		size_t l;

		if (!wait_used(vq, vq->used_seen + 1, ms))
			return -1;
		e = &vq->used->ring[vq->used_seen++ % NUM];
		p = g2h(vq->desc[e->id].addr);
		l = e->len;
		if (!k) {
			hdr = (void *)p;
			nb = (features & (1ULL << VIRTIO_NET_F_MRG_RXBUF)) ?
			     hdr->num_buffers : 1;
			if (!nb || l < HDR)
				return -1;
			p += HDR;
			l -= HDR;
		}
		if (total + l > cap)
			return -1;
		memcpy(out + total, p, l);
		total += l;
	}
	return total;
}

static void test_rx(size_t bufsize, const char *what)
{
	uint8_t got[4096], want[2048];
	int i, bad = 0, lost = 0, n = 40;

	post_rx(NUM - 8, bufsize);
	usleep(100000);
	for (i = 0; i < n; i++)
		inject(1000 + i, 60 + (i * 131) % 1455);
	for (i = 0; i < n; i++) {
		size_t len = 60 + (i * 131) % 1455;
		ssize_t m;

		/* Other traffic (none expected with IPv6 off) would be skipped. */
		do {
			m = guest_rx(got, sizeof(got), 5000);
		} while (m >= 16 && (got[12] != ETH_TEST >> 8));
		if (m < 0) {
			diag("rx: frame %d (%zu bytes) not received", i, len);
			lost++;
			break;
		}
		/* Give back as many buffers as the frame took. */
		post_rx((HDR + m + bufsize - 1) / bufsize, bufsize);
		make_frame(want, len, 1000 + i);
		if ((size_t)m != len || memcmp(got, want, len))
			bad++;
	}
	result(!lost && !bad, "rx %s: %d frames exact and in order (lost %d, wrong %d)",
	       what, n, lost, bad);
}

/* ---------------------------------------------------- notification tests */

static void test_suppression(void)
{
	uint16_t start;

	/* NO_INTERRUPT without EVENT_IDX: served, not signalled. */
	efd_take(q[TX].call, 0);
	q[TX].avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	start = q[TX].avail_idx;
	guest_tx(1, 100, 0);
	kick(&q[TX]);
	result(wait_used(&q[TX], start + 1, 5000) && !efd_take(q[TX].call, 300),
	       "tx: NO_INTERRUPT served without a call");
	q[TX].avail->flags = 0;
	capture((uint8_t[2048]){}, 2048, false, 100);
}

static void test_event_idx(void)
{
	uint16_t start;
	int i;

	efd_take(q[TX].call, 0);
	start = q[TX].avail_idx;
	/* Interrupt wanted when used passes start + 4. */
	*used_event(&q[TX]) = start + 4;
	for (i = 0; i < 3; i++) {
		guest_tx(i, 100, 0);
		kick(&q[TX]);
		wait_used(&q[TX], start + i + 1, 5000);
	}
	/* The first completion after (re)start may signal: take it. */
	efd_take(q[TX].call, 200);
	guest_tx(3, 100, 0);
	kick(&q[TX]);
	wait_used(&q[TX], start + 4, 5000);
	result(!efd_take(q[TX].call, 300), "event idx: no call before used_event is passed");
	guest_tx(4, 100, 0);
	kick(&q[TX]);
	wait_used(&q[TX], start + 5, 5000);
	result(efd_take(q[TX].call, 2000) > 0, "event idx: call once used_event is passed");
	drain_capture();
}

/* ------------------------------------------------- TX the tap refuses */

/* A valid frame through TX: the queue works. */
static bool tx_works(void)
{
	uint16_t start = q[TX].avail_idx;

	guest_tx(7, 100, 0);
	kick(&q[TX]);
	return wait_used(&q[TX], start + 1, 3000);
}

/*
 * A TX chain longer than any frame: more than the 4 MiB that tun can put in
 * an skb's linear part past its page fragments, so that tun would fail it
 * with ENOBUFS every time.
 */
#define BIG_CHAIN	(6u << 20)
#define BIG_PIECES	6

/* TX of the test frames @first.. (lengths as check_tx_frames() wants). */
static void tx_frames(int first, int n)
{
	int i;

	for (i = 0; i < n; i++)
		guest_tx(first + i, 60 + ((first + i) * 97) % 1455, i % 4);
}

/*
 * The guest queues one TX chain of BIG_CHAIN bytes (an indirect table: the
 * header, then BIG_PIECES descriptors), then normal frames, and kicks once.
 * doorbell-net completes the big one unsent (len 0) and sends the others;
 * before it did, it retried the big one on the tap's ENOBUFS only on an
 * EPOLLOUT that never came: TX stopped for good.
 */
static void test_tx_oversized(void)
{
	const char *what = "tx: frames behind a 6 MiB chain go out";
	struct queue *vq = &q[TX];
	int i, n = 8, bad, lost;
	struct vring_desc *it;
	bool done, err, head_ok;
	uint16_t start, h;
	uint64_t b, t;

	restart();
	drain_capture();
	start = vq->avail_idx;
	b = galloc(HDR + BIG_CHAIN, 8);
	memset(g2h(b), 0, HDR);
	/* A test frame's header: were it sent, the capture would see it. */
	make_frame(g2h(b) + HDR, 64, 250);
	t = galloc(16 * (BIG_PIECES + 1), 16);
	it = g2h(t);
	it[0] = (struct vring_desc){ b, HDR, VRING_DESC_F_NEXT, 1 };
	for (i = 1; i <= BIG_PIECES; i++)
		it[i] = (struct vring_desc){ b + HDR + (i - 1) * (BIG_CHAIN / BIG_PIECES),
					     BIG_CHAIN / BIG_PIECES,
					     i < BIG_PIECES ? VRING_DESC_F_NEXT : 0, i + 1 };
	h = put_desc(vq, t, 16 * (BIG_PIECES + 1), VRING_DESC_F_INDIRECT, 0);
	publish(vq, h);
	tx_frames(200, n);
	kick(vq);
	/* The deadline: a stalled queue is a failure, not a hang. */
	done = wait_used(vq, start + 1 + n, 5000);
	if (!doorbell && !done) {
		/* Its TX stays stuck until the backend goes: restart(). */
		skip(what, "vhost-net (the reference) retries a chain the tap refuses with ENOBUFS for ever");
		restart();
		drain_capture();
		return;
	}
	err = efd_take(vq->err, 0) > 0;
	head_ok = done && vq->used->ring[start % NUM].id == h &&
		  vq->used->ring[start % NUM].len == 0;
	bad = check_tx_frames(200, n, &lost);
	diag("tx oversized: used %u of %u in time, big chain completed %d, err %d",
	     (uint16_t)(vq->used->idx - start), n + 1, head_ok, err);
	result(done && head_ok, "%s: all %d completed in 5 s, the big one first with len 0",
	       what, n + 1);
	result(!lost && !bad, "%s: exact on the tap, the big one not (lost %d, wrong %d)",
	       what, lost, bad);
	result(!err && tx_works(), "tx: the queue is not broken and serves on");
	drain_capture();
}

/* ------------------------------------------------ fault injection files */

#define FAILSLAB	"/sys/kernel/debug/failslab"
#define SKB_CACHE	"/sys/kernel/slab/skbuff_head_cache/failslab"

static bool put_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* The file's first line, without its newline; "" if unreadable. */
static void get_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

static long long get_num(const char *path)
{
	char b[64];

	get_file(path, b, sizeof(b));
	return b[0] ? atoll(b) : -1;
}

/* Set make-it-fail of every thread of ours but this one: the worker's. */
static int worker_make_it_fail(int on)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char path[64];
	int n = 0, tid;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		tid = atoi(e->d_name);
		if (tid <= 0 || tid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/make-it-fail", tid);
		n += put_file(path, on ? "1" : "0");
	}
	closedir(d);
	return n;
}

static const char *const fs_knobs[] = {
	"task-filter", "cache-filter", "ignore-gfp-wait", "verbose", "space",
	"interval", "times", "probability",
};

/*
 * The tap fails one send with ENOMEM, once: failslab fails the first slab
 * allocation of the device's worker (of skbuff_head_cache only, where that
 * cache is not merged with others), which is the skb of the frame: tun
 * builds it around a page fragment (build_skb).  The socket is writable all
 * along, so no EPOLLOUT follows: the handler must run again on its own and
 * send the frame.  Needs failslab (the debug kernel) and a worker that is a
 * thread of ours (vhost_task kernels).
 */
static void test_tx_enomem(void)
{
	const char *what = "tx: resumes after the tap fails a send with ENOMEM";
	char saved[ARRAY_LEN(fs_knobs)][32], path[128], stats[128];
	long long times, drops0, drops1;
	bool done = false, cache;
	int lost = 0, bad = 0;
	uint16_t start;
	unsigned int i;

	if (!doorbell) {
		skip(what, "vhost-net sends small frames as XDP buffers, which tun drops when their skb cannot be allocated: no error, nothing to resume");
		return;
	}
	if (access(FAILSLAB, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (access(FAILSLAB, F_OK)) {
		skip(what, "no failslab in this kernel (the debug kernel has it)");
		return;
	}
	restart();
	drain_capture();
	for (i = 0; i < ARRAY_LEN(fs_knobs); i++) {
		snprintf(path, sizeof(path), FAILSLAB "/%s", fs_knobs[i]);
		get_file(path, saved[i], sizeof(saved[i]));
	}
	snprintf(stats, sizeof(stats), "/sys/class/net/%s/statistics/rx_dropped", ifname);
	drops0 = get_num(stats);
	/* A merged cache refuses the attribute: then any cache fails. */
	cache = put_file(SKB_CACHE, "1");
	if (!put_file(FAILSLAB "/task-filter", "Y") ||
	    !put_file(FAILSLAB "/cache-filter", cache ? "Y" : "N") ||
	    !put_file(FAILSLAB "/ignore-gfp-wait", "N") || !put_file(FAILSLAB "/verbose", "0") ||
	    !put_file(FAILSLAB "/space", "0") || !put_file(FAILSLAB "/interval", "1") ||
	    !put_file(FAILSLAB "/times", "1") || !put_file(FAILSLAB "/probability", "100")) {
		diag("failslab set-up: %s", strerror(errno));
		times = -1;
	} else if (worker_make_it_fail(1) != 1) {
		diag("not one worker thread in this process");
		times = -1;
	} else {
		start = q[TX].avail_idx;
		tx_frames(300, 1);
		kick(&q[TX]);
		/* The deadline: a stalled queue is a failure, not a hang. */
		done = wait_used(&q[TX], start + 1, 5000);
		times = get_num(FAILSLAB "/times");
	}
	worker_make_it_fail(0);
	put_file(FAILSLAB "/probability", "0");
	if (cache)
		put_file(SKB_CACHE, "0");
	for (i = 0; i < ARRAY_LEN(fs_knobs); i++) {
		snprintf(path, sizeof(path), FAILSLAB "/%s", fs_knobs[i]);
		put_file(path, saved[i]);
	}
	drops1 = get_num(stats);
	diag("tx enomem: failslab %s, %s, tap rx_dropped %lld -> %lld, completed %d",
	     cache ? "on skbuff_head_cache" : "on any cache",
	     times == 0 ? "one allocation failed" : "no allocation failed",
	     drops0, drops1, done);
	if (times != 0 || drops1 <= drops0) {
		/* Not the case under test: the tap saw no failed send. */
		skip(what, "failslab failed no send of the tap");
		restart();
		return;
	}
	if (done)
		bad = check_tx_frames(300, 1, &lost);
	result(done && !lost && !bad, "%s: the frame completed in 5 s and is on the tap exact",
	       what);
	result(!efd_take(q[TX].err, 0) && tx_works(), "tx: the queue serves on after ENOMEM");
	drain_capture();
}

/* --------------------------------------------------------- hostile rings */

/*
 * After a malformed request on @qi: the err eventfd fires, nothing more is
 * served, and setting the base again (as a VMM does) restores the queue.
 * Returns true if all of that held.
 */
static bool check_broken(int qi, uint16_t used_before, const char *what)
{
	bool err = efd_take(q[qi].err, 3000) > 0;
	bool still = q[qi].used->idx == used_before;
	bool ok;

	if (qi == TX) {
		/* A valid request after the bad one is not served either. */
		guest_tx(8, 100, 0);
		kick(&q[TX]);
		usleep(200000);
		still = still && q[TX].used->idx == used_before;
	}
	ok = restart() && tx_works();
	drain_capture();
	return result(err && still && ok, "hostile %s: %s (err %d, unserved %d, recovers %d)",
		      qi == TX ? "tx" : "rx", what, err, still, ok);
}

static void test_hostile(void)
{
	struct queue *vq = &q[TX];
	uint64_t b, t;
	struct vring_desc *it;
	uint16_t u, h, d;

	if (!doorbell) {
		skip("hostile rings", "checks doorbell's validation, not vhost-net's");
		return;
	}
#define BEGIN() do { restart(); drain_capture(); u = vq->used->idx; b = galloc(256, 8); memset(g2h(b), 0, 256); } while (0)
#define END(qi, what) do { kick(&q[qi]); check_broken(qi, u, what); } while (0)

	BEGIN();
	h = put_desc(vq, b, 100, VRING_DESC_F_NEXT, 0);
	vq->desc[h].next = h;
	publish(vq, h);
	END(TX, "descriptor loop");

	BEGIN();
	publish(vq, put_desc(vq, b, 100, VRING_DESC_F_NEXT, NUM + 5));
	END(TX, "next index out of the table");

	BEGIN();
	publish(vq, NUM + 1);
	END(TX, "avail entry out of the table");

	BEGIN();
	put_desc(vq, b, 100, 0, 0);
	vq->avail_idx += NUM + 1;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	END(TX, "avail idx jumps past the ring size");

	BEGIN();
	publish(vq, put_desc(vq, GPA0 + MEMSZ + 4096, 100, 0, 0));
	END(TX, "buffer outside guest memory");

	BEGIN();
	publish(vq, put_desc(vq, GPA0 - 64, 100, 0, 0));
	END(TX, "buffer starting below guest memory");

	BEGIN();
	publish(vq, put_desc(vq, ~0ULL - 10, 100, 0, 0));
	END(TX, "addr + len overflows");

	BEGIN();
	publish(vq, put_desc(vq, GPA0 + MEMSZ - 50, 100, 0, 0));
	END(TX, "buffer running past the end of memory");

	BEGIN();
	publish(vq, put_desc(vq, b, 100, VRING_DESC_F_WRITE, 0));
	END(TX, "writable buffer on TX");

	BEGIN();
	d = put_desc(vq, b, 50, 0, 0);
	publish(vq, put_desc(vq, b + 64, 50, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, d));
	END(TX, "readable after writable");

	BEGIN();
	t = galloc(64, 16);
	publish(vq, put_desc(vq, t, 40, VRING_DESC_F_INDIRECT, 0));
	END(TX, "indirect table length not a multiple of 16");

	BEGIN();
	t = galloc(64, 16);
	it = g2h(t);
	it[0] = (struct vring_desc){ t, 32, VRING_DESC_F_INDIRECT, 0 };
	publish(vq, put_desc(vq, t, 32, VRING_DESC_F_INDIRECT, 0));
	END(TX, "nested indirect table");

	BEGIN();
	t = galloc(64, 16);
	it = g2h(t);
	it[0] = (struct vring_desc){ b, 10, VRING_DESC_F_NEXT, 1 };
	it[1] = (struct vring_desc){ b, 10, VRING_DESC_F_NEXT, 0 };
	publish(vq, put_desc(vq, t, 32, VRING_DESC_F_INDIRECT, 0));
	END(TX, "loop in an indirect table");

	BEGIN();
	t = galloc(64, 16);
	it = g2h(t);
	it[0] = (struct vring_desc){ b, 10, VRING_DESC_F_NEXT, 9 };
	publish(vq, put_desc(vq, t, 32, VRING_DESC_F_INDIRECT, 0));
	END(TX, "indirect next out of the table");

	BEGIN();
	publish(vq, put_desc(vq, GPA0 + MEMSZ, 64, VRING_DESC_F_INDIRECT, 0));
	END(TX, "indirect table outside guest memory");

	BEGIN();
	publish(vq, put_desc(vq, b, 0x40000, VRING_DESC_F_INDIRECT, 0));
	END(TX, "indirect table too long");

	BEGIN();
	publish(&q[RX], put_desc(&q[RX], b, 2048, 0, 0));
	inject(1, 100);
	END(RX, "readable buffer on RX");
#undef BEGIN
#undef END
}

/* ----------------------------------------------------------- the fuzzer */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t fuzz_addr(void)
{
	switch (rnd() % 8) {
	case 0: return rnd();
	case 1: return GPA0 + MEMSZ - rnd() % 128;
	case 2: return GPA0 - rnd() % 128;
	case 3: return buf_at_boundary(rnd() % 256);
	default: return GPA0 + 0x100000 + rnd() % (MEMSZ - 0x200000);
	}
}

static void fuzz_one(void)
{
	int qi = rnd() % 2;
	struct queue *vq = &q[qi];
	int n = 1 + rnd() % 6, i;

	for (i = 0; i < n; i++) {
		uint16_t head = rnd() % (NUM + (rnd() % 16 == 0));
		struct vring_desc *dp = &vq->desc[head % NUM];

		dp->addr = fuzz_addr();
		dp->len = rnd() % 8 ? rnd() % 2048 : (uint32_t)rnd();
		dp->flags = rnd() % 4 ? (rnd() & 7) : (uint16_t)rnd();
		dp->next = rnd() % 8 ? rnd() % NUM : (uint16_t)rnd();
		if (dp->flags & VRING_DESC_F_INDIRECT) {
			struct vring_desc *it = g2h(GPA0 + 0x100000);
			int k;

			if (rnd() % 2)
				dp->addr = GPA0 + 0x100000;
			for (k = 0; k < 8; k++)
				it[k] = (struct vring_desc){ fuzz_addr(), rnd() % 512,
							    rnd() & 7, rnd() % 10 };
		}
		vq->avail->ring[vq->avail_idx % NUM] = head;
		vq->avail_idx++;
	}
	if (rnd() % 16 == 0)
		vq->avail_idx += rnd();
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	if (qi == RX)
		inject(5, 60 + rnd() % 1400);
	kick(vq);
}

static void test_fuzz(long iters)
{
	long i, broken = 0, served = 0, fails = 0;

	for (i = 0; i < iters; i++) {
		uint16_t u0[2] = { q[RX].used->idx, q[TX].used->idx };

		fuzz_one();
		if (i % 8 == 0)
			usleep(2000);
		if (efd_take(q[RX].err, 0) || efd_take(q[TX].err, 0))
			broken++;
		else if (q[RX].used->idx != u0[0] || q[TX].used->idx != u0[1])
			served++;
		if (i % 16 == 15 || (rnd() % 4 == 0)) {
			if (!restart() || !tx_works()) {
				fails++;
				diag("fuzz: queue did not recover at iteration %ld", i);
				restart();
			}
			drain_capture();
		}
	}
	restart();
	fails += !tx_works();
	result(!fails, "fuzz: %ld random rings (seed %llu): %ld broke the queue, %ld served, %ld unrecovered",
	       iters, (unsigned long long)rng, broken, served, fails);
}

/* ------------------------------------------------------------- ioctls */

static void test_ioctls(void)
{
	struct vhost_vring_state s = { .index = 2, .num = NUM };
	struct vhost_vring_addr a = { .index = 0 };
	struct vhost_vring_file f;
	struct vhost_memory_region r[65];
	uint64_t feat, bad;
	int ret, efd, i;

	ret = vioctl(VHOST_GET_FEATURES, &features);
	result(!ret && (features & (1ULL << VIRTIO_F_VERSION_1)) &&
	       (features & (1ULL << VIRTIO_NET_F_MRG_RXBUF)) &&
	       (features & (1ULL << VIRTIO_RING_F_EVENT_IDX)) &&
	       (features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC)),
	       "GET_FEATURES: VERSION_1, MRG_RXBUF, EVENT_IDX, INDIRECT_DESC (0x%llx)",
	       (unsigned long long)features);
	result(vioctl(VHOST_SET_MEM_TABLE, &(struct vhost_memory){ 0 }) == -EPERM,
	       "SET_MEM_TABLE before SET_OWNER: EPERM");
	result(!vioctl(VHOST_SET_OWNER, NULL), "SET_OWNER");
	result(vioctl(VHOST_SET_OWNER, NULL) == -EBUSY, "SET_OWNER twice: EBUSY");
	bad = 1ULL << 62;
	if (!(features & bad) && doorbell)
		result(vioctl(VHOST_SET_FEATURES, &bad) == -EOPNOTSUPP,
		       "SET_FEATURES with a feature not offered: EOPNOTSUPP");
	feat = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	result(!vioctl(VHOST_SET_FEATURES, &feat), "SET_FEATURES");
	features = feat;

	result(vioctl(VHOST_SET_VRING_NUM, &s) == -ENOBUFS, "vring index 2: ENOBUFS");
	s.index = 0;
	s.num = 3;
	result(vioctl(VHOST_SET_VRING_NUM, &s) == -EINVAL, "vring num 3: EINVAL");
	s.num = 0;
	result(vioctl(VHOST_SET_VRING_NUM, &s) == -EINVAL, "vring num 0: EINVAL");
	s.num = 0x10000;
	result(vioctl(VHOST_SET_VRING_BASE, &s) == -EINVAL, "vring base 0x10000: EINVAL");
	a.desc_user_addr = (uintptr_t)mem + 4;
	a.avail_user_addr = (uintptr_t)mem + 4096;
	a.used_user_addr = (uintptr_t)mem + 8192;
	if (doorbell)
		result(vioctl(VHOST_SET_VRING_ADDR, &a) == -EINVAL,
		       "misaligned descriptor table: EINVAL");
	efd = eventfd(0, 0);
	f.index = 0;
	f.fd = 999;
	result(vioctl(VHOST_SET_VRING_KICK, &f) == -EBADF, "kick fd not open: EBADF");
	f.fd = dev;
	result(vioctl(VHOST_SET_VRING_CALL, &f) == -EINVAL, "call fd not an eventfd: EINVAL");
	ret = set_backend(0, efd);
	if (doorbell)	/* vhost-net: EFAULT */
		result(ret == -ENOTSOCK, "SET_BACKEND with an eventfd: ENOTSOCK (%s)",
		       strerror(-ret));
	if (doorbell)	/* vhost-net says ENOTSOCK */
		result(set_backend(0, 999) == -EBADF, "SET_BACKEND with a closed fd: EBADF");
	result(set_backend(5, tapfd) == -ENOBUFS, "SET_BACKEND index 5: ENOBUFS");
	result(set_backend(0, tapfd) == -EFAULT, "SET_BACKEND before the rings are set: EFAULT");
	close(efd);

	/* Memory tables. */
	for (i = 0; i < 65; i++)
		r[i] = (struct vhost_memory_region){ .guest_phys_addr = GPA0 + i * 4096ULL,
			.memory_size = 4096, .userspace_addr = (uintptr_t)mem + i * 4096ULL };
	result(set_mem(65, r, 0) == -E2BIG, "memory table with 65 regions: E2BIG");
	result(!set_mem(64, r, 0), "memory table with 64 regions");
	result(!set_mem(0, NULL, 0), "empty memory table");
	result(set_mem(1, r, 1) == -EOPNOTSUPP, "memory table padding set: EOPNOTSUPP");
	if (doorbell) {
		r[1].guest_phys_addr = GPA0 + 2048;
		result(set_mem(2, r, 0) == -EINVAL, "overlapping regions: EINVAL");
		r[1].guest_phys_addr = GPA0 + 4096;
		r[0].memory_size = 0;
		result(set_mem(1, r, 0) == -EINVAL, "empty region: EINVAL");
		r[0].memory_size = 4096;
		r[0].guest_phys_addr = ~0ULL - 100;
		result(set_mem(1, r, 0) == -EINVAL, "region past the end of guest space: EINVAL");
		r[0].guest_phys_addr = GPA0;
		r[0].userspace_addr = 0xffff888000000000ULL;
		result(set_mem(1, r, 0) == -EFAULT, "region at a kernel address: EFAULT");
		r[0].userspace_addr = (uintptr_t)mem + 1;
		r[0].guest_phys_addr = GPA0 + 3;
		r[0].memory_size = 4095;
		result(!set_mem(1, r, 0), "unaligned region accepted");
	}
	result(!default_mem(), "memory table: two regions");
	ret = ioctl(dev, _IO(VHOST_VIRTIO, 0x7f)) ? errno : 0;
	if (doorbell)	/* vhost-net: EFAULT, it reads a queue index first */
		result(ret == ENOTTY, "unknown ioctl: ENOTTY (%s)", strerror(ret));
}

/*
 * A chain of more iovecs than doorbell's DOORBELL_VQ_IOV_MAX (1024): an
 * indirect table of 1024 entries whose last buffer crosses the boundary of
 * the two memory regions, 1025 iovecs.  TX: dropped (used len 0, nothing on
 * the tap), the queue not broken, the next frame sent.  RX: given back
 * unused (used len 0) when a frame comes, which lands in the next buffer.
 */
static void test_iov_oversized(void)
{
	enum { N = 1024 };
	const char *tx = "tx: a chain of 1025 iovecs dropped (used len 0)";
	const char *rx = "rx: a chain of 1025 iovecs given back (used len 0)";
	uint64_t bnd = buf_at_boundary(2), b, t;
	struct vring_used_elem e0, e1;
	struct vring_desc *it;
	uint8_t got[2048];
	bool done, err, sent;
	uint16_t start, h;
	int i;

	if (!doorbell) {
		skip(tx, "vhost-net (the reference) breaks the queue");
		skip(rx, "vhost-net (the reference) breaks the queue");
		return;
	}
	restart();
	drain_capture();
	start = q[TX].avail_idx;
	b = galloc(HDR + N, 8);
	memset(g2h(b), 0, HDR);
	/* A test frame's start: were it sent, the capture would see it. */
	make_frame(g2h(b) + HDR, N, 260);
	t = galloc(16 * N, 16);
	it = g2h(t);
	it[0] = (struct vring_desc){ b, HDR, VRING_DESC_F_NEXT, 1 };
	for (i = 1; i < N - 1; i++)
		it[i] = (struct vring_desc){ b + HDR + i - 1, 1, VRING_DESC_F_NEXT, i + 1 };
	it[N - 1] = (struct vring_desc){ bnd, 2, 0, 0 };
	h = put_desc(&q[TX], t, 16 * N, VRING_DESC_F_INDIRECT, 0);
	publish(&q[TX], h);
	kick(&q[TX]);
	done = wait_used(&q[TX], start + 1, 3000);
	err = efd_take(q[TX].err, 0) > 0;
	sent = capture(got, sizeof(got), false, 300) >= 0;
	result(done && q[TX].used->ring[start % NUM].id == h &&
	       q[TX].used->ring[start % NUM].len == 0 && !err && !sent && tx_works(),
	       "%s, not sent (%d), the queue serves on (err %d)", tx, sent, err);
	drain_capture();

	t = galloc(16 * N, 16);
	it = g2h(t);
	b = galloc(N, 8);
	for (i = 0; i < N - 1; i++)
		it[i] = (struct vring_desc){ b + i, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, i + 1 };
	it[N - 1] = (struct vring_desc){ bnd, 2, VRING_DESC_F_WRITE, 0 };
	start = q[RX].used->idx;
	h = put_desc(&q[RX], t, 16 * N, VRING_DESC_F_INDIRECT, 0);
	publish(&q[RX], h);
	post_rx(1, 2048);
	inject(261, 100);
	done = wait_used(&q[RX], start + 2, 3000);
	err = efd_take(q[RX].err, 0) > 0;
	e0 = q[RX].used->ring[start % NUM];
	e1 = q[RX].used->ring[(uint16_t)(start + 1) % NUM];
	/* Frames the fuzzing left in the tap may come before this one. */
	result(done && e0.id == h && e0.len == 0 && e1.len >= HDR + 60 && !err,
	       "%s, a frame in the next buffer (used len %u), not broken (err %d)",
	       rx, e1.len, err);
	restart();
	drain_capture();
}

/* ---------------------------------------------------------------- setup */

static int make_tap(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int hdr = HDR, s;
	char path[128];
	FILE *f;

	tapfd = open("/dev/net/tun", O_RDWR);
	if (tapfd < 0)
		return -1;
	strcpy(ifr.ifr_name, "dbring%d");
	if (ioctl(tapfd, TUNSETIFF, &ifr) || ioctl(tapfd, TUNSETVNETHDRSZ, &hdr))
		return -1;
	strcpy(ifname, ifr.ifr_name);
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		return -1;
	close(s);
	ifindex = if_nametoindex(ifname);
	pkt = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	if (pkt < 0 || bind(pkt, (void *)&sll, sizeof(sll)))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	long fuzz = 0;
	int opt, i;

	rng = time(NULL);
	while ((opt = getopt(argc, argv, "d:f:s:")) != -1) {
		switch (opt) {
		case 'd': devpath = optarg; break;
		case 'f': fuzz = atol(optarg); break;
		case 's': rng = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: net_ring [-d DEV] [-f N] [-s SEED]\n");
			return 2;
		}
	}
	if (!rng)
		rng = 1;
	doorbell = strstr(devpath, "doorbell") != NULL;
	printf("TAP version 13\n");
	dev = open(devpath, O_RDWR);
	if (dev < 0 || make_tap()) {
		printf("1..0 # SKIP %s or a tap: %s\n", dev < 0 ? devpath : "tun", strerror(errno));
		return KSFT_SKIP;
	}
	diag("device %s, tap %s", devpath, ifname);
	guest_init();
	for (i = 0; i < 2; i++)
		queue_init(&q[i]);

	test_ioctls();
	result(restart(), "rings set, backend attached");
	test_tx();
	test_rx(2048, "one buffer per frame");
	test_suppression();
	/* Small buffers: frames above 128 bytes are merged from several. */
	restart();
	test_rx(128, "MRG_RXBUF, 128-byte buffers");
	features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	result(!vioctl(VHOST_SET_FEATURES, &features), "SET_FEATURES with EVENT_IDX");
	restart();
	test_event_idx();
	test_tx_oversized();
	test_tx_enomem();
	test_hostile();
	if (fuzz)
		test_fuzz(fuzz);
	test_iov_oversized();
	{
		struct vhost_vring_state s = { .index = TX };

		set_backend(TX, -1);
		result(!vioctl(VHOST_GET_VRING_BASE, &s) && s.num == q[TX].avail_idx,
		       "GET_VRING_BASE after detach: %u == avail idx %u", s.num, q[TX].avail_idx);
	}
	result(!vioctl(VHOST_RESET_OWNER, NULL), "RESET_OWNER");
	result(!vioctl(VHOST_SET_OWNER, NULL), "SET_OWNER again after RESET_OWNER");
	close(dev);
	printf("1..%d\n", testno);
	return failed;
}
