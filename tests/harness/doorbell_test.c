// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_test: the /dev/doorbell harness, exercised from userspace.
 *
 * Prints kselftest TAP.  Exit status: 0 all passed, 1 something failed,
 * 4 /dev/doorbell is absent (skip).  Run as root inside the test VM.
 * DOORBELL_TEST_KVM=0 skips the KVM ioeventfd cases (they create one VM).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/doorbell.h>
#include <linux/kvm.h>

#define DEV		"/dev/doorbell"
#define DEBUGFS		"/sys/kernel/debug/doorbell"
#define KSFT_SKIP	4
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int failed;
static int testno;

/* ---- TAP ---- */

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++testno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failed = 1;
}

static void skip(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d ", ++testno);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP\n");
	fflush(stdout);
}

/* A check inside a test: report the first failure, keep going. */
#define CHECK(ok, ...) do {						\
	if (!(ok)) {							\
		diag("%s:%d: %s", __FILE__, __LINE__, #ok);		\
		diag(__VA_ARGS__);					\
		pass = false;						\
	}								\
} while (0)

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- ioctl helpers: return 0 or -errno ---- */

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static int add_bell(int dfd, int efd, uint32_t flags, uint32_t *id)
{
	struct doorbell_bell b = { .size = sizeof(b), .fd = efd, .flags = flags };
	int ret = xioctl(dfd, DOORBELL_ADD_BELL, &b);

	if (!ret && id)
		*id = b.id;
	return ret;
}

static int ring(int dfd, uint32_t id, uint32_t count)
{
	struct doorbell_ring r = { .size = sizeof(r), .id = id, .count = count };

	return xioctl(dfd, DOORBELL_RING, &r);
}

static int get_stats(int dfd, uint32_t id, struct doorbell_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->id = id;
	return xioctl(dfd, DOORBELL_GET_STATS, st);
}

static int remove_bell(int dfd, uint32_t id)
{
	struct doorbell_id r = { .size = sizeof(r), .id = id };

	return xioctl(dfd, DOORBELL_REMOVE_BELL, &r);
}

static int open_dev(void)
{
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open " DEV);
	return fd;
}

static int new_eventfd(int flags)
{
	int fd = eventfd(0, EFD_CLOEXEC | flags);

	if (fd < 0)
		die("eventfd");
	return fd;
}

static void efd_write(int efd, uint64_t v)
{
	if (write(efd, &v, sizeof(v)) != sizeof(v))
		die("eventfd write");
}

/* Non-blocking read of an eventfd: its counter, 0 if nothing. */
static uint64_t efd_drain(int efd)
{
	int fl = fcntl(efd, F_GETFL);
	uint64_t v = 0;

	fcntl(efd, F_SETFL, fl | O_NONBLOCK);
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	fcntl(efd, F_SETFL, fl);
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Wait until a bell's counts reach what was rung (the worker counts
 * asynchronously), then a little longer to catch any overshoot.
 */
static int wait_counts(int dfd, uint32_t id, uint64_t ev, uint64_t io,
		       struct doorbell_stats *st)
{
	double end = now() + 30;
	int ret;

	for (;;) {
		ret = get_stats(dfd, id, st);
		if (ret)
			return ret;
		if ((st->rings_eventfd >= ev && st->rings_ioctl >= io &&
		     !st->pending) || now() > end)
			break;
		msleep(1);
	}
	msleep(20);
	return get_stats(dfd, id, st);
}

static const char *mode_name(uint32_t flags)
{
	return flags & DOORBELL_BELL_COUNT_IN_WORKER ? "COUNT_IN_WORKER" :
						       "COUNT_IN_WAKE";
}

/* ---- exact counts under concurrency ---- */

#define NBELLS		4
#define NTHREADS	8

struct ringer {
	pthread_t thread;
	int dfd;
	int *efds;
	uint32_t *ids;
	unsigned int iters;
	unsigned int seed;
	uint64_t ev[NBELLS];
	uint64_t io[NBELLS];
	int err;
};

static void *ringer_fn(void *arg)
{
	struct ringer *r = arg;
	unsigned int i;

	for (i = 0; i < r->iters; i++) {
		unsigned int b = rand_r(&r->seed) % NBELLS;
		uint32_t n = rand_r(&r->seed) % 5 + 1;

		if (rand_r(&r->seed) & 1) {
			efd_write(r->efds[b], n);
			r->ev[b] += n;
		} else {
			int ret = ring(r->dfd, r->ids[b], n);

			if (ret) {
				r->err = ret;
				break;
			}
			r->io[b] += n;
		}
	}
	return NULL;
}

static void test_exact_counts(uint32_t mode, unsigned int iters)
{
	struct ringer r[NTHREADS];
	int efds[NBELLS], dfd = open_dev();
	uint32_t ids[NBELLS];
	bool pass = true;
	unsigned int b, t;
	double t0;

	for (b = 0; b < NBELLS; b++) {
		efds[b] = new_eventfd(0);
		CHECK(!add_bell(dfd, efds[b], mode, &ids[b]), "add bell %u", b);
	}
	t0 = now();
	for (t = 0; t < NTHREADS; t++) {
		memset(&r[t], 0, sizeof(r[t]));
		r[t].dfd = dfd;
		r[t].efds = efds;
		r[t].ids = ids;
		r[t].iters = iters;
		r[t].seed = 12345 + t;
		if (pthread_create(&r[t].thread, NULL, ringer_fn, &r[t]))
			die("pthread_create");
	}
	for (t = 0; t < NTHREADS; t++) {
		pthread_join(r[t].thread, NULL);
		CHECK(!r[t].err, "thread %u: ring: %s", t, strerror(-r[t].err));
	}
	for (b = 0; b < NBELLS; b++) {
		uint64_t ev = 0, io = 0;
		struct doorbell_stats st;

		for (t = 0; t < NTHREADS; t++) {
			ev += r[t].ev[b];
			io += r[t].io[b];
		}
		CHECK(!wait_counts(dfd, ids[b], ev, io, &st), "stats");
		CHECK(st.rings_eventfd == ev && st.rings_ioctl == io && !st.pending,
		      "bell %u: eventfd %llu/%llu ioctl %llu/%llu pending %llu",
		      b, (unsigned long long)st.rings_eventfd,
		      (unsigned long long)ev, (unsigned long long)st.rings_ioctl,
		      (unsigned long long)io, (unsigned long long)st.pending);
		CHECK(st.state == DOORBELL_BELL_ACTIVE && st.flags == mode,
		      "state %u flags %u", st.state, st.flags);
		CHECK(st.wakeups >= 1 && st.wakeups <= ev, "wakeups %llu",
		      (unsigned long long)st.wakeups);
		if (mode & DOORBELL_BELL_COUNT_IN_WORKER)
			CHECK(st.worker_runs >= 1, "worker_runs %llu",
			      (unsigned long long)st.worker_runs);
		else
			CHECK(st.worker_runs == 0, "worker_runs %llu",
			      (unsigned long long)st.worker_runs);
		CHECK(efd_drain(efds[b]) == 0, "eventfd %u not consumed", b);
	}
	diag("%s: %u threads x %u rings in %.2f s", mode_name(mode), NTHREADS,
	     iters, now() - t0);
	close(dfd);
	for (b = 0; b < NBELLS; b++)
		close(efds[b]);
	result(pass, "%s: exact counts, %u threads writing eventfds and ringing by ioctl",
	       mode_name(mode), NTHREADS);
}

/* ---- basic behaviour ---- */

static void test_pending_at_bind(uint32_t mode)
{
	int dfd = open_dev(), efd = new_eventfd(0);
	struct doorbell_stats st;
	bool pass = true;
	uint32_t id;

	efd_write(efd, 5);
	efd_write(efd, 6);
	CHECK(!add_bell(dfd, efd, mode, &id), "add");
	CHECK(!wait_counts(dfd, id, 11, 0, &st), "stats");
	CHECK(st.rings_eventfd == 11, "rings_eventfd %llu",
	      (unsigned long long)st.rings_eventfd);
	CHECK(efd_drain(efd) == 0, "eventfd not consumed");
	close(dfd);
	close(efd);
	result(pass, "%s: rings signalled before ADD_BELL are counted", mode_name(mode));
}

static void test_semaphore(uint32_t mode)
{
	int dfd = open_dev(), efd = new_eventfd(EFD_SEMAPHORE);
	struct doorbell_stats st;
	bool pass = true;
	uint32_t id;

	CHECK(!add_bell(dfd, efd, mode, &id), "add");
	efd_write(efd, 1000);
	efd_write(efd, 1);
	CHECK(!wait_counts(dfd, id, 1001, 0, &st), "stats");
	CHECK(st.rings_eventfd == 1001 && !st.pending,
	      "rings_eventfd %llu pending %llu",
	      (unsigned long long)st.rings_eventfd,
	      (unsigned long long)st.pending);
	CHECK(efd_drain(efd) == 0, "eventfd not consumed");
	close(dfd);
	close(efd);
	result(pass, "%s: EFD_SEMAPHORE eventfd, 1001 rings counted", mode_name(mode));
}

static void test_eventfd_closed(uint32_t mode)
{
	int dfd = open_dev(), efd = new_eventfd(0);
	struct doorbell_stats st;
	bool pass = true;
	uint32_t id;

	CHECK(!add_bell(dfd, efd, mode, &id), "add");
	efd_write(efd, 7);
	CHECK(!ring(dfd, id, 3), "ring");
	CHECK(!wait_counts(dfd, id, 7, 3, &st), "stats");
	CHECK(st.state == DOORBELL_BELL_ACTIVE, "state %u before close", st.state);
	close(efd);
	CHECK(!get_stats(dfd, id, &st), "stats after close");
	CHECK(st.state == DOORBELL_BELL_INACTIVE, "state %u after close", st.state);
	CHECK(st.rings_eventfd == 7 && st.rings_ioctl == 3,
	      "counts after close: %llu %llu",
	      (unsigned long long)st.rings_eventfd,
	      (unsigned long long)st.rings_ioctl);
	CHECK(!ring(dfd, id, 2), "ring an inactive bell");
	CHECK(!wait_counts(dfd, id, 7, 5, &st), "stats");
	CHECK(st.rings_ioctl == 5 && st.state == DOORBELL_BELL_INACTIVE,
	      "ring after close: %llu", (unsigned long long)st.rings_ioctl);
	CHECK(!remove_bell(dfd, id), "remove an inactive bell");
	CHECK(get_stats(dfd, id, &st) == -ENOENT, "removed");
	close(dfd);
	result(pass, "%s: eventfd closed while bound: INACTIVE, counts kept",
	       mode_name(mode));
}

/* ---- removal and close while ringing ---- */

struct hammer {
	pthread_t thread;
	int dfd;
	int efd;
	uint32_t id;
	volatile bool stop;
	int ring_err;
	unsigned long rings;
};

static void *hammer_ring_fn(void *arg)
{
	struct hammer *h = arg;
	int ret;

	while (!h->stop) {
		ret = ring(h->dfd, h->id, 1);
		if (ret) {
			h->ring_err = ret;
			break;
		}
		h->rings++;
	}
	return NULL;
}

static void *hammer_write_fn(void *arg)
{
	struct hammer *h = arg;

	while (!h->stop) {
		efd_write(h->efd, 1);
		h->rings++;
	}
	return NULL;
}

static void test_remove_while_ringing(uint32_t mode)
{
	struct hammer ioc = { 0 }, wr = { 0 };
	int dfd = open_dev(), efd = new_eventfd(0);
	struct doorbell_stats st;
	bool pass = true;
	uint32_t id;

	CHECK(!add_bell(dfd, efd, mode, &id), "add");
	ioc.dfd = dfd;
	ioc.id = id;
	wr.efd = efd;
	if (pthread_create(&ioc.thread, NULL, hammer_ring_fn, &ioc) ||
	    pthread_create(&wr.thread, NULL, hammer_write_fn, &wr))
		die("pthread_create");
	msleep(100);
	CHECK(!remove_bell(dfd, id), "remove while ringing");
	pthread_join(ioc.thread, NULL);
	CHECK(ioc.ring_err == -ENOENT, "ring after remove: %d", ioc.ring_err);
	wr.stop = true;
	pthread_join(wr.thread, NULL);
	CHECK(get_stats(dfd, id, &st) == -ENOENT, "stats after remove");
	CHECK(remove_bell(dfd, id) == -ENOENT, "second remove");
	/* Unhooked: the eventfd keeps what is written now. */
	efd_drain(efd);
	efd_write(efd, 9);
	CHECK(efd_drain(efd) == 9, "eventfd still polled after remove");
	/* The eventfd can be bound again. */
	CHECK(!add_bell(dfd, efd, mode, &id), "add again");
	efd_write(efd, 4);
	CHECK(!wait_counts(dfd, id, 4, 0, &st), "stats");
	CHECK(st.rings_eventfd == 4, "new bell counts %llu",
	      (unsigned long long)st.rings_eventfd);
	diag("%s: %lu ioctl rings, %lu eventfd writes before the remove",
	     mode_name(mode), ioc.rings, wr.rings);
	close(dfd);
	close(efd);
	result(pass, "%s: remove a bell while threads ring it", mode_name(mode));
}

static void test_close_while_ringing(void)
{
	struct hammer ioc[4], wr[4];
	int efds[4], dfd = open_dev();
	bool pass = true;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		uint32_t mode = i & 1 ? DOORBELL_BELL_COUNT_IN_WORKER : 0;

		memset(&ioc[i], 0, sizeof(ioc[i]));
		memset(&wr[i], 0, sizeof(wr[i]));
		efds[i] = new_eventfd(0);
		CHECK(!add_bell(dfd, efds[i], mode, &ioc[i].id), "add");
		ioc[i].dfd = dfd;
		wr[i].efd = efds[i];
		if (pthread_create(&ioc[i].thread, NULL, hammer_ring_fn, &ioc[i]) ||
		    pthread_create(&wr[i].thread, NULL, hammer_write_fn, &wr[i]))
			die("pthread_create");
	}
	msleep(100);
	/* In-flight ioctls keep the file; release runs after the last. */
	close(dfd);
	for (i = 0; i < 4; i++) {
		pthread_join(ioc[i].thread, NULL);
		CHECK(ioc[i].ring_err == -EBADF, "ring after close: %d",
		      ioc[i].ring_err);
	}
	msleep(50);
	for (i = 0; i < 4; i++) {
		wr[i].stop = true;
		pthread_join(wr[i].thread, NULL);
		efd_drain(efds[i]);
		efd_write(efds[i], 3);
		CHECK(efd_drain(efds[i]) == 3, "eventfd %u still polled", i);
		close(efds[i]);
	}
	result(pass, "close /dev/doorbell while rings are in flight");
}

/* Close the eventfds while their bells are being rung, then the file. */
static void test_close_eventfd_while_ringing(void)
{
	struct hammer ioc[4], wr[4];
	int dfd = open_dev();
	struct doorbell_stats st;
	bool pass = true;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		uint32_t mode = i & 1 ? DOORBELL_BELL_COUNT_IN_WORKER : 0;
		int efd = new_eventfd(0);

		memset(&ioc[i], 0, sizeof(ioc[i]));
		memset(&wr[i], 0, sizeof(wr[i]));
		CHECK(!add_bell(dfd, efd, mode, &ioc[i].id), "add");
		ioc[i].dfd = dfd;
		/* Only the writer uses the eventfd; it is closed below. */
		wr[i].efd = efd;
		if (pthread_create(&ioc[i].thread, NULL, hammer_ring_fn, &ioc[i]) ||
		    pthread_create(&wr[i].thread, NULL, hammer_write_fn, &wr[i]))
			die("pthread_create");
	}
	msleep(50);
	for (i = 0; i < 4; i++) {
		wr[i].stop = true;
		pthread_join(wr[i].thread, NULL);
		close(wr[i].efd);
	}
	for (i = 0; i < 4; i++) {
		CHECK(!get_stats(dfd, ioc[i].id, &st), "stats");
		CHECK(st.state == DOORBELL_BELL_INACTIVE, "bell %u state %u",
		      i, st.state);
		CHECK(!wait_counts(dfd, ioc[i].id, wr[i].rings, 0, &st), "stats");
		CHECK(st.rings_eventfd == wr[i].rings, "bell %u: %llu of %lu",
		      i, (unsigned long long)st.rings_eventfd, wr[i].rings);
	}
	for (i = 0; i < 4; i++) {
		ioc[i].stop = true;
		pthread_join(ioc[i].thread, NULL);
		CHECK(!ioc[i].ring_err, "ring: %d", ioc[i].ring_err);
	}
	close(dfd);
	result(pass, "eventfds closed while rung: INACTIVE, eventfd counts exact");
}

/* ---- owners ---- */

static void *open_in_thread(void *arg)
{
	*(int *)arg = open_dev();
	return NULL;
}

static void test_opener_thread_exits(void)
{
	int dfd, efd = new_eventfd(0);
	struct doorbell_stats st;
	bool pass = true;
	pthread_t th;
	uint32_t id;

	if (pthread_create(&th, NULL, open_in_thread, &dfd))
		die("pthread_create");
	pthread_join(th, NULL);
	CHECK(!add_bell(dfd, efd, DOORBELL_BELL_COUNT_IN_WORKER, &id), "add");
	efd_write(efd, 10);
	CHECK(!ring(dfd, id, 20), "ring");
	CHECK(!wait_counts(dfd, id, 10, 20, &st), "stats");
	CHECK(st.rings_eventfd == 10 && st.rings_ioctl == 20,
	      "counts %llu %llu", (unsigned long long)st.rings_eventfd,
	      (unsigned long long)st.rings_ioctl);
	close(dfd);
	close(efd);
	result(pass, "the worker outlives the thread that opened the file");
}

static int send_fds(int sock, const int *fds, unsigned int n)
{
	char buf[CMSG_SPACE(sizeof(int) * 4)] = { 0 };
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fds(int sock, int *fds, unsigned int n)
{
	char buf[CMSG_SPACE(sizeof(int) * 4)];
	char x;
	struct iovec iov = { .iov_base = &x, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *c;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int) * n))
		return -1;
	memcpy(fds, CMSG_DATA(c), sizeof(int) * n);
	return 0;
}

/*
 * The owner (opener) process dies, by SIGKILL, while another process holds
 * the file.  A vhost_task worker dies with its owner: rings for the worker
 * then stay pending; a kthread worker goes on.  Either way nothing is lost
 * or counted twice, and the file closes cleanly.
 */
static void test_owner_killed(void)
{
	struct doorbell_stats st;
	int sv[2], fds[3], status;
	bool pass = true;
	unsigned int i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		fds[0] = open_dev();
		fds[1] = new_eventfd(0);
		fds[2] = new_eventfd(0);
		if (add_bell(fds[0], fds[1], 0, NULL) ||
		    add_bell(fds[0], fds[2], DOORBELL_BELL_COUNT_IN_WORKER, NULL) ||
		    send_fds(sv[1], fds, 3))
			_exit(1);
		/* Ring in flight as we die. */
		for (i = 0; i < 1000; i++) {
			efd_write(fds[1], 1);
			efd_write(fds[2], 1);
		}
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	close(sv[1]);
	CHECK(!recv_fds(sv[0], fds, 3), "receive the child's fds");
	close(sv[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "child status %#x", status);
	if (!pass) {
		result(pass, "the owner process is killed while another holds the file");
		return;
	}
	for (i = 0; i < 100; i++) {
		efd_write(fds[1], 2);
		efd_write(fds[2], 2);
		CHECK(!ring(fds[0], 0, 1) && !ring(fds[0], 1, 1), "ring");
	}
	/* Bell 0 counts in the wake function: exact. */
	CHECK(!get_stats(fds[0], 0, &st), "stats 0");
	CHECK(st.rings_eventfd == 1200 && st.rings_ioctl == 100,
	      "bell 0: %llu %llu", (unsigned long long)st.rings_eventfd,
	      (unsigned long long)st.rings_ioctl);
	/* Bell 1: counted or pending, never lost. */
	wait_counts(fds[0], 1, 1200, 100, &st);
	CHECK(st.rings_eventfd + st.rings_ioctl + st.pending == 1300,
	      "bell 1: %llu + %llu + pending %llu",
	      (unsigned long long)st.rings_eventfd,
	      (unsigned long long)st.rings_ioctl,
	      (unsigned long long)st.pending);
	diag("worker after its owner died: %s",
	     st.pending ? "gone (vhost_task)" : "running (kthread)");
	CHECK(!remove_bell(fds[0], 1), "remove");
	for (i = 0; i < 3; i++)
		close(fds[i]);
	result(pass, "the owner process is killed while another holds the file");
}

/* ---- limits ---- */

static void test_enospc(void)
{
	int dfd = open_dev(), efd;
	bool pass = true;
	unsigned int i;
	uint32_t id;
	int ret = 0;

	/* Bells whose eventfds are closed stay (inactive) and use a slot. */
	for (i = 0; i < DOORBELL_MAX_BELLS && !ret; i++) {
		efd = new_eventfd(0);
		ret = add_bell(dfd, efd, i & 1, &id);
		close(efd);
	}
	CHECK(!ret && i == DOORBELL_MAX_BELLS, "bell %u: %s", i, strerror(-ret));
	efd = new_eventfd(0);
	ret = add_bell(dfd, efd, 0, &id);
	CHECK(ret == -ENOSPC, "bell %u: %s", DOORBELL_MAX_BELLS + 1,
	      strerror(-ret));
	CHECK(!remove_bell(dfd, 17), "remove 17");
	CHECK(!add_bell(dfd, efd, 0, &id) && id == 17, "add after remove: id %u", id);
	close(efd);
	close(dfd);
	result(pass, "DOORBELL_MAX_BELLS bells, then ENOSPC; closing frees them");
}

/* ---- bad arguments ---- */

static void expect(bool *pass, int got, int want, const char *what)
{
	if (got != want) {
		diag("%s: got %d (%s), want %d (%s)", what, got,
		     strerror(-got), want, strerror(-want));
		*pass = false;
	}
}

static void test_errnos(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int dfd = open_dev(), efd = new_eventfd(0), nullfd, pfd[2], closed;
	struct doorbell_bell b;
	struct doorbell_ring r;
	struct doorbell_stats st;
	bool pass = true;
	uint32_t id;
	char *map;
	struct {
		struct doorbell_ring r;
		uint64_t tail[2];
	} big;
	struct {
		struct doorbell_stats st;
		uint64_t tail;
	} bigst;

	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0 || pipe2(pfd, O_CLOEXEC))
		die("open");
	closed = dup(nullfd);
	close(closed);

	/* ADD_BELL */
	expect(&pass, add_bell(dfd, -1, 0, &id), -EBADF, "add fd -1");
	expect(&pass, add_bell(dfd, closed, 0, &id), -EBADF, "add closed fd");
	expect(&pass, add_bell(dfd, 1 << 30, 0, &id), -EBADF, "add fd 1<<30");
	expect(&pass, add_bell(dfd, nullfd, 0, &id), -EINVAL, "add /dev/null");
	expect(&pass, add_bell(dfd, pfd[0], 0, &id), -EINVAL, "add a pipe");
	expect(&pass, add_bell(dfd, dfd, 0, &id), -EINVAL, "add /dev/doorbell");
	expect(&pass, add_bell(dfd, efd, 2, &id), -EINVAL, "add flags 2");
	expect(&pass, add_bell(dfd, efd, 1u << 31, &id), -EINVAL, "add flags 1<<31");
	b = (struct doorbell_bell){ .size = sizeof(b), .fd = efd, .reserved = 1 };
	expect(&pass, xioctl(dfd, DOORBELL_ADD_BELL, &b), -EINVAL, "add reserved");
	expect(&pass, add_bell(dfd, efd, 0, &id), 0, "add");
	expect(&pass, add_bell(dfd, efd, 0, NULL), -EBUSY, "add duplicate");
	expect(&pass, add_bell(dfd, efd, 1, NULL), -EBUSY,
	       "add duplicate, other mode");
	closed = dup(efd);
	expect(&pass, add_bell(dfd, closed, 0, NULL), -EBUSY, "add a dup");
	close(closed);

	/* RING */
	expect(&pass, ring(dfd, id, 0), -EINVAL, "ring count 0");
	expect(&pass, ring(dfd, id + 1, 1), -ENOENT, "ring unknown id");
	expect(&pass, ring(dfd, 0xffffffff, 1), -ENOENT, "ring id ~0");
	r = (struct doorbell_ring){ .size = sizeof(r), .id = id, .count = 1,
				    .reserved = 1 };
	expect(&pass, xioctl(dfd, DOORBELL_RING, &r), -EINVAL, "ring reserved");

	/* sizes */
	r = (struct doorbell_ring){ .size = sizeof(r) - 1, .id = id, .count = 1 };
	expect(&pass, xioctl(dfd, DOORBELL_RING, &r), -EINVAL, "ring undersize");
	r.size = 0;
	expect(&pass, xioctl(dfd, DOORBELL_RING, &r), -EINVAL, "ring size 0");
	memset(&big, 0, sizeof(big));
	big.r = (struct doorbell_ring){ .size = sizeof(big), .id = id, .count = 1 };
	expect(&pass, xioctl(dfd, DOORBELL_RING, &big), 0, "ring oversize, zero tail");
	big.tail[1] = 1;
	expect(&pass, xioctl(dfd, DOORBELL_RING, &big), -E2BIG,
	       "ring oversize, non-zero tail");
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		die("mmap");
	r = (struct doorbell_ring){ .size = DOORBELL_MAX_ARG_SIZE + 1, .id = id,
				    .count = 1 };
	memcpy(map, &r, sizeof(r));
	expect(&pass, xioctl(dfd, DOORBELL_RING, map), -E2BIG,
	       "ring size > DOORBELL_MAX_ARG_SIZE");
	((struct doorbell_ring *)map)->size = DOORBELL_MAX_ARG_SIZE;
	expect(&pass, xioctl(dfd, DOORBELL_RING, map), 0,
	       "ring size DOORBELL_MAX_ARG_SIZE, zero tail");
	memset(&bigst, 0xa5, sizeof(bigst));
	bigst.st.size = sizeof(bigst.st) - 8;
	bigst.st.id = id;
	expect(&pass, xioctl(dfd, DOORBELL_GET_STATS, &bigst), -EINVAL,
	       "stats undersize");
	memset(&bigst, 0, sizeof(bigst));
	bigst.st.size = sizeof(bigst);
	bigst.st.id = id;
	bigst.tail = 0;
	expect(&pass, xioctl(dfd, DOORBELL_GET_STATS, &bigst), 0,
	       "stats oversize, zero tail");
	if (bigst.st.rings_ioctl != 1 + 1 || bigst.tail) {
		diag("stats oversize: rings_ioctl %llu tail %llu",
		     (unsigned long long)bigst.st.rings_ioctl,
		     (unsigned long long)bigst.tail);
		pass = false;
	}

	/* bad pointers */
	expect(&pass, xioctl(dfd, DOORBELL_RING, NULL), -EFAULT, "ring NULL");
	expect(&pass, xioctl(dfd, DOORBELL_ADD_BELL, (void *)8), -EFAULT,
	       "add pointer 8");
	/* The size is readable, the rest is not. */
	munmap(map + page, page);
	b = (struct doorbell_bell){ .size = sizeof(b), .fd = efd };
	memcpy(map + page - 8, &b, 8);
	expect(&pass, xioctl(dfd, DOORBELL_ADD_BELL, map + page - 8), -EFAULT,
	       "add struct across an unmapped page");
	/* Readable, not writable: the copy back faults. */
	st = (struct doorbell_stats){ .size = sizeof(st), .id = id };
	memcpy(map, &st, sizeof(st));
	closed = new_eventfd(0);
	b = (struct doorbell_bell){ .size = sizeof(b), .fd = closed };
	memcpy(map + 64, &b, sizeof(b));
	if (mprotect(map, page, PROT_READ))
		die("mprotect");
	expect(&pass, xioctl(dfd, DOORBELL_GET_STATS, map), -EFAULT,
	       "stats into read-only memory");
	expect(&pass, xioctl(dfd, DOORBELL_ADD_BELL, map + 64), -EFAULT,
	       "add into read-only memory");
	/* ... and left nothing behind: the eventfd is free. */
	efd_write(closed, 1);
	expect(&pass, add_bell(dfd, closed, 0, &id), 0, "add after the fault");
	expect(&pass, get_stats(dfd, id, &st), 0, "stats");
	if (st.rings_eventfd != 1) {
		diag("rings %llu", (unsigned long long)st.rings_eventfd);
		pass = false;
	}
	close(closed);
	munmap(map, page);

	/* commands */
	expect(&pass, xioctl(dfd, _IO(DOORBELL_IOCTL_MAGIC, 0x04), &r), -ENOTTY,
	       "nr 4");
	expect(&pass, xioctl(dfd, _IOWR(DOORBELL_IOCTL_MAGIC, 0xff, struct doorbell_ring), &r),
	       -ENOTTY, "nr 0xff");
	expect(&pass, xioctl(dfd, _IOW('x', 0x01, struct doorbell_ring), &r),
	       -ENOTTY, "other type");
	expect(&pass, xioctl(dfd, TCGETS, &r), -ENOTTY, "TCGETS");
	/* The size in the command is not looked at. */
	r = (struct doorbell_ring){ .size = sizeof(r), .id = id, .count = 1 };
	expect(&pass, xioctl(dfd, _IOW(DOORBELL_IOCTL_MAGIC, 0x01, char[100]), &r),
	       0, "ring, other size in cmd");

	/* ids */
	st = (struct doorbell_stats){ .size = sizeof(st), .id = 999 };
	expect(&pass, xioctl(dfd, DOORBELL_GET_STATS, &st), -ENOENT,
	       "stats unknown id");
	expect(&pass, remove_bell(dfd, 999), -ENOENT, "remove unknown id");
	expect(&pass, remove_bell(dfd, id), 0, "remove");
	expect(&pass, remove_bell(dfd, id), -ENOENT, "remove twice");

	/* The same eventfd in another file is fine. */
	closed = open_dev();
	expect(&pass, add_bell(closed, efd, 0, NULL), 0, "add in another file");
	close(closed);

	close(pfd[0]);
	close(pfd[1]);
	close(nullfd);
	close(efd);
	close(dfd);
	result(pass, "every bad argument gets its errno (EBADF EINVAL ENOENT ENOTTY E2BIG EFAULT EBUSY)");
}

/* ---- the kernel side: worker thread, debugfs ---- */

/* Tasks whose name starts with "doorbell-", in all processes. */
static int count_workers(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *p, *t;
	char path[600], comm[64];
	int n = 0;

	if (!proc)
		return -1;
	while ((p = readdir(proc))) {
		DIR *task;

		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		task = opendir(path);
		if (!task)
			continue;
		while ((t = readdir(task))) {
			FILE *f;

			if (t->d_name[0] < '0' || t->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/comm",
				 p->d_name, t->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(comm, sizeof(comm), f) &&
			    !strncmp(comm, "doorbell-", 9))
				n++;
			fclose(f);
		}
		closedir(task);
	}
	closedir(proc);
	return n;
}

static int wait_workers(int want)
{
	double end = now() + 5;
	int n;

	while ((n = count_workers()) != want && now() < end)
		msleep(10);
	return n;
}

static void test_worker_thread(void)
{
	int before = count_workers(), dfd, n;
	bool pass = true;

	dfd = open_dev();
	n = wait_workers(before + 1);
	CHECK(n == before + 1, "workers %d -> %d after open", before, n);
	close(dfd);
	n = wait_workers(before);
	CHECK(n == before, "workers %d after close, %d before", n, before);
	result(pass, "one worker thread per open file, gone after close");
}

static int count_dirs(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_debugfs(void)
{
	int before = count_dirs(DEBUGFS), dfd, efd, n;
	char path[600], name[256] = "";
	unsigned long long rings = 0;
	bool pass = true;
	struct dirent *e;
	FILE *f;
	DIR *d;

	if (before < 0) {
		skip("debugfs counters (no %s)", DEBUGFS);
		return;
	}
	dfd = open_dev();
	efd = new_eventfd(0);
	n = count_dirs(DEBUGFS);
	CHECK(n == before + 1, "debugfs dirs %d -> %d", before, n);
	CHECK(!add_bell(dfd, efd, 0, NULL), "add");
	efd_write(efd, 42);
	/* Our device is the one that counted 42 rings. */
	d = opendir(DEBUGFS);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), DEBUGFS "/%s/rings", e->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &rings) == 1 && rings == 42)
			snprintf(name, sizeof(name), "%s", e->d_name);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	CHECK(name[0], "no device dir with rings == 42");
	close(dfd);
	close(efd);
	n = count_dirs(DEBUGFS);
	CHECK(n == before, "debugfs dirs %d after close, %d before", n, before);
	result(pass, "debugfs: a counter dir per device (%s), removed on close",
	       name[0] ? name : "?");
}

/* ---- the real path: a guest's port writes through KVM ioeventfds ---- */

#define KVM_PORT	0x1000
#define KVM_WRITES	5000

/*
 * A real-mode guest that writes KVM_WRITES times to each of two ports:
 *	1: out %al, %dx; inc %dx; out %al, %dx; dec %dx; dec %ecx; jnz 1b; hlt
 * with dx = KVM_PORT and ecx = KVM_WRITES.  Every out is a KVM ioeventfd
 * signal: a lightweight exit, no return to userspace until the hlt.
 */
static const uint8_t guest_code[] = {
	0xee, 0x42, 0xee, 0x4a, 0x66, 0x49, 0x75, 0xf8, 0xf4,
};

/*
 * One VM for both bells: under TCG, creating and destroying VMs patches
 * kernel text (static keys) and that is not always safe there.
 * Returns 0, 1 if KVM is unusable (@why says why), -1 on failure.
 */
static int kvm_run_guest(const int efds[2], unsigned int *exits, char *why,
			 size_t whylen)
{
	struct kvm_userspace_memory_region region = { 0 };
	int kvm, vm = -1, vcpu = -1, ret = -1;
	struct kvm_run *run = MAP_FAILED;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	long run_size = 0;
	unsigned int i;
	void *mem;

	*exits = 0;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		snprintf(why, whylen, "/dev/kvm: %s", strerror(errno));
		return 1;
	}
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memcpy(mem, guest_code, sizeof(guest_code));

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		snprintf(why, whylen, "KVM_CREATE_VM: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	region.memory_size = 0x1000;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region)) {
		snprintf(why, whylen, "KVM memory: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < 2; i++) {
		struct kvm_ioeventfd ioev = {
			.addr = KVM_PORT + i, .len = 1, .fd = efds[i],
			.flags = KVM_IOEVENTFD_FLAG_PIO,
		};

		if (ioctl(vm, KVM_IOEVENTFD, &ioev)) {
			snprintf(why, whylen, "KVM_IOEVENTFD: %s", strerror(errno));
			goto out;
		}
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0) {
		snprintf(why, whylen, "KVM vcpu: %s", strerror(errno));
		goto out;
	}
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs)) {
		snprintf(why, whylen, "KVM vcpu state: %s", strerror(errno));
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0;
	regs.rdx = KVM_PORT;
	regs.rcx = KVM_WRITES;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) || ioctl(vcpu, KVM_SET_REGS, &regs)) {
		snprintf(why, whylen, "KVM vcpu state: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0)) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "KVM_RUN: %s", strerror(errno));
			goto out;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		/* An exit to userspace for a port would be a miss. */
		if (++*exits > 10 || run->exit_reason != KVM_EXIT_INTR) {
			snprintf(why, whylen, "guest exit reason %u",
				 run->exit_reason);
			goto out;
		}
	}
	ret = 0;
out:
	if (run != MAP_FAILED)
		munmap(run, run_size);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	munmap(mem, 0x1000);
	close(kvm);
	return ret;
}

static void test_kvm_ioeventfd(void)
{
	static const uint32_t modes[2] = {
		DOORBELL_BELL_COUNT_IN_WAKE, DOORBELL_BELL_COUNT_IN_WORKER,
	};
	int dfd, efds[2], ret;
	struct doorbell_stats st;
	unsigned int exits, i;
	uint32_t ids[2];
	char why[128];
	bool pass;
	double t0;

	if (access("/dev/kvm", R_OK | W_OK) ||
	    (getenv("DOORBELL_TEST_KVM") && !strcmp(getenv("DOORBELL_TEST_KVM"), "0"))) {
		for (i = 0; i < 2; i++)
			skip("%s: KVM ioeventfd (no /dev/kvm, or DOORBELL_TEST_KVM=0)",
			     mode_name(modes[i]));
		return;
	}
	dfd = open_dev();
	for (i = 0; i < 2; i++) {
		efds[i] = new_eventfd(0);
		if (add_bell(dfd, efds[i], modes[i], &ids[i]))
			die("add bell");
	}
	t0 = now();
	ret = kvm_run_guest(efds, &exits, why, sizeof(why));
	for (i = 0; i < 2; i++) {
		if (ret > 0) {
			skip("%s: KVM ioeventfd (%s)", mode_name(modes[i]), why);
			continue;
		}
		pass = true;
		CHECK(!ret, "%s", why);
		CHECK(!wait_counts(dfd, ids[i], KVM_WRITES, 0, &st), "stats");
		CHECK(st.rings_eventfd == KVM_WRITES && !st.pending,
		      "rings_eventfd %llu of %u, pending %llu",
		      (unsigned long long)st.rings_eventfd, KVM_WRITES,
		      (unsigned long long)st.pending);
		diag("%s: %u guest port writes in %.2f s, %llu wakeups, %llu worker runs, %u exits to userspace",
		     mode_name(modes[i]), KVM_WRITES, now() - t0,
		     (unsigned long long)st.wakeups,
		     (unsigned long long)st.worker_runs, exits);
		result(pass, "%s: KVM ioeventfd: %u guest port writes, as many rings",
		       mode_name(modes[i]), KVM_WRITES);
	}
	close(dfd);
	close(efds[0]);
	close(efds[1]);
}

int main(void)
{
	struct rlimit rl;

	printf("TAP version 13\n");
	if (access(DEV, F_OK)) {
		printf("1..0 # SKIP %s absent (load doorbell.ko)\n", DEV);
		return KSFT_SKIP;
	}
	/* A hung kernel path must fail the test, not hang it. */
	alarm(600);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	printf("1..20\n");
	test_exact_counts(DOORBELL_BELL_COUNT_IN_WAKE, 20000);
	test_exact_counts(DOORBELL_BELL_COUNT_IN_WORKER, 20000);
	test_pending_at_bind(DOORBELL_BELL_COUNT_IN_WAKE);
	test_pending_at_bind(DOORBELL_BELL_COUNT_IN_WORKER);
	test_semaphore(DOORBELL_BELL_COUNT_IN_WAKE);
	test_semaphore(DOORBELL_BELL_COUNT_IN_WORKER);
	test_eventfd_closed(DOORBELL_BELL_COUNT_IN_WAKE);
	test_eventfd_closed(DOORBELL_BELL_COUNT_IN_WORKER);
	test_remove_while_ringing(DOORBELL_BELL_COUNT_IN_WAKE);
	test_remove_while_ringing(DOORBELL_BELL_COUNT_IN_WORKER);
	test_close_while_ringing();
	test_close_eventfd_while_ringing();
	test_opener_thread_exits();
	test_owner_killed();
	test_enospc();
	test_errnos();
	test_worker_thread();
	test_debugfs();
	test_kvm_ioeventfd();
	return failed;
}
