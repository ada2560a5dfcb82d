/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell-vmm: a minimal VMM that boots Linux with virtio-mmio devices
 * whose queues are served in the kernel (doorbell-blk, doorbell-net,
 * vhost-net) or by a VMM thread (the userspace backends).
 */
#ifndef DOORBELL_VMM_H
#define DOORBELL_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VMM_MAX_CPUS		8
#define VMM_MAX_DEVS		8
#define VMM_MAX_QUEUES		8
#define VMM_QUEUE_SIZE		256

/* Guest physical layout. */
#define VMM_GDT			0x500
#define VMM_ZERO_PAGE		0x7000
#define VMM_PML4		0x9000
#define VMM_CMDLINE		0x20000
#define VMM_CMDLINE_MAX		0x10000
#define VMM_ACPI		0xe0000
#define VMM_KERNEL		0x100000
#define VMM_MMIO_BASE		0xd0000000ULL
#define VMM_MMIO_SIZE		0x200
#define VMM_MEM_MAX		(3ULL << 30)

/* Port I/O the VMM emulates. */
#define VMM_COM1		0x3f8
#define VMM_COM1_IRQ		4
#define VMM_I8042_CMD		0x64
#define VMM_ACPI_PM1A_EVT	0x600	/* 4 bytes: status, enable */
#define VMM_ACPI_PM1A_CNT	0x604	/* 2 bytes */
#define VMM_ACPI_PM_TMR		0x608	/* 4 bytes, 3.579545 MHz, 24 bits */

/* Exit status of the VMM: how the guest ended. */
enum vmm_exit {
	VMM_EXIT_POWEROFF = 0,
	VMM_EXIT_ERROR = 1,
	VMM_EXIT_REBOOT = 2,
	VMM_EXIT_TRIPLE_FAULT = 3,
	VMM_EXIT_INTERNAL = 4,
};

struct vmm;
struct virtio_dev;

/* One virtqueue as the driver configured it through virtio-mmio. */
struct vmm_queue {
	struct virtio_dev *dev;
	uint32_t index;
	uint32_t num;
	bool ready;
	uint64_t desc, avail, used;	/* guest physical */
	int kick;			/* eventfd: ioeventfd on QueueNotify */
	int call;			/* eventfd: irqfd of the device's IRQ */
	/* userspace backends */
	uint16_t last_avail;
	pthread_t thread;
	bool thread_running;
};

struct virtio_ops {
	uint32_t device_id;
	const char *name;
	/* features the device offers, the backend's already folded in */
	uint64_t (*features)(struct virtio_dev *d);
	/* DRIVER_OK: start serving the ready queues; 0 or -errno */
	int (*start)(struct virtio_dev *d);
	/* device reset by the driver, or VMM exit */
	void (*stop)(struct virtio_dev *d);
};

struct virtio_dev {
	struct vmm *vmm;
	const struct virtio_ops *ops;
	uint64_t base;
	int irq;
	uint32_t nqueues;
	struct vmm_queue q[VMM_MAX_QUEUES];

	/* transport state */
	pthread_mutex_t lock;
	uint32_t status;
	uint32_t dfsel, drvsel, qsel;
	uint64_t driver_features;
	uint32_t config_gen;
	bool started;
	bool stopping;		/* user backend threads: return */

	/* the device's config space (read-only to the driver) */
	const void *config;
	uint32_t config_len;

	/* the backend: vhost fd (kernel) or -1 (user) */
	int vhost;
	bool user;
	void *priv;
};

struct vmm {
	int kvm, vm;
	uint8_t *mem;
	uint64_t mem_size;
	int ncpus;
	int ndevs;
	struct virtio_dev devs[VMM_MAX_DEVS];
	pthread_mutex_t exit_lock;
	bool exiting;
	enum vmm_exit exit_code;
	bool debug;
};

/* main.c */
void vmm_exit(struct vmm *v, enum vmm_exit code, const char *why);
__attribute__((format(printf, 1, 2)))
void vmm_die(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void vmm_warn(const char *fmt, ...);
void *gpa_range(struct vmm *v, uint64_t gpa, uint64_t len);

/* boot.c */
void boot_load(struct vmm *v, const char *kernel, const char *initrd,
	       const char *cmdline);
void boot_setup_cpu(struct vmm *v, int vcpu_fd, int id);

/* serial.c */
void serial_init(struct vmm *v);
void serial_io(struct vmm *v, uint16_t port, bool write, uint8_t *data);
void serial_restore_tty(void);

/* virtio_mmio.c */
struct virtio_dev *virtio_add(struct vmm *v, const struct virtio_ops *ops,
			      uint32_t nqueues, void *priv);
bool virtio_mmio(struct vmm *v, uint64_t addr, bool write, uint8_t *data,
		 uint32_t len);
void virtio_stop_all(struct vmm *v);
void vhost_open(struct virtio_dev *d, const char *dev, const char *module,
		const char *what, uint64_t *features);
int vhost_setup(struct virtio_dev *d, uint64_t features);
void vhost_teardown(struct virtio_dev *d);
int user_queues_start(struct virtio_dev *d, void *(*fn)(void *));
void user_queues_stop(struct virtio_dev *d);

/* Split ring access for the userspace backends (virtio_mmio.c). */
struct user_req {
	uint16_t head;
	int nout, nin;
	struct iovec out[VMM_QUEUE_SIZE];
	struct iovec in[VMM_QUEUE_SIZE];
};
int vq_pop(struct virtio_dev *d, struct vmm_queue *q, struct user_req *r);
void vq_push(struct virtio_dev *d, struct vmm_queue *q, uint16_t head,
	     uint32_t len);
void vq_signal(struct vmm_queue *q);
bool vq_wait_kick(struct vmm_queue *q);

/* blk.c, net.c: parse an option and add the device */
int blk_add(struct vmm *v, const char *opt);
int net_add(struct vmm *v, const char *opt);

#endif
