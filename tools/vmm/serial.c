// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell-vmm: a 16550A UART at COM1 (0x3f8, IRQ 4), enough for Linux's
 * 8250 driver and console: output goes to stdout at once (the transmitter
 * is always empty), input comes from stdin; receive and transmit-empty
 * interrupts through the in-kernel irqchip (KVM_IRQ_LINE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "vmm.h"

#define UART_IER_RDI	0x01
#define UART_IER_THRI	0x02
#define UART_IIR_NO_INT	0x01
#define UART_IIR_THRI	0x02
#define UART_IIR_RDI	0x04
#define UART_IIR_FIFO	0xc0
#define UART_LCR_DLAB	0x80
#define UART_MCR_LOOP	0x10
#define UART_LSR_DR	0x01
#define UART_LSR_THRE	0x20
#define UART_LSR_TEMT	0x40

static struct {
	pthread_mutex_t lock;
	struct vmm *v;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;
	bool line;
	uint8_t rx[4096];
	unsigned int rx_head, rx_len;
	bool tty_raw;
	struct termios tty;
} uart = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.dll = 12,	/* 9600 baud */
	.lcr = 3,
};

static uint8_t uart_iir(void)
{
	uint8_t fifo = (uart.fcr & 1) ? UART_IIR_FIFO : 0;

	if ((uart.ier & UART_IER_RDI) && uart.rx_len)
		return fifo | UART_IIR_RDI;
	if ((uart.ier & UART_IER_THRI) && uart.thri_pending)
		return fifo | UART_IIR_THRI;
	return fifo | UART_IIR_NO_INT;
}

/* Called with uart.lock held: the IRQ line follows IIR. */
static void uart_update_irq(void)
{
	struct kvm_irq_level irq = { .irq = VMM_COM1_IRQ };
	bool level = !(uart_iir() & UART_IIR_NO_INT);

	if (level == uart.line)
		return;
	uart.line = level;
	irq.level = level;
	ioctl(uart.v->vm, KVM_IRQ_LINE, &irq);
}

void serial_io(struct vmm *v, uint16_t port, bool is_write, uint8_t *data)
{
	unsigned int reg = port - VMM_COM1;
	bool dlab;
	uint8_t x = *data;

	(void)v;
	pthread_mutex_lock(&uart.lock);
	dlab = uart.lcr & UART_LCR_DLAB;
	if (is_write) {
		switch (reg) {
		case 0:
			if (dlab) {
				uart.dll = x;
			} else if (uart.mcr & UART_MCR_LOOP) {
				if (uart.rx_len < sizeof(uart.rx)) {
					uart.rx[(uart.rx_head + uart.rx_len++) %
						sizeof(uart.rx)] = x;
				}
				uart.thri_pending = true;
			} else {
				if (write(STDOUT_FILENO, &x, 1) < 0 && errno != EAGAIN)
					break;
				uart.thri_pending = true;
			}
			break;
		case 1:
			if (dlab) {
				uart.dlm = x;
			} else {
				/* enabling THRI with an empty THR interrupts */
				if ((x & UART_IER_THRI) && !(uart.ier & UART_IER_THRI))
					uart.thri_pending = true;
				uart.ier = x & 0x0f;
			}
			break;
		case 2:
			uart.fcr = x;
			if (x & 2) {		/* clear the receive FIFO */
				uart.rx_head = 0;
				uart.rx_len = 0;
			}
			break;
		case 3:
			uart.lcr = x;
			break;
		case 4:
			uart.mcr = x & 0x1f;
			break;
		case 7:
			uart.scr = x;
			break;
		}
	} else {
		switch (reg) {
		case 0:
			if (dlab) {
				x = uart.dll;
			} else if (uart.rx_len) {
				x = uart.rx[uart.rx_head];
				uart.rx_head = (uart.rx_head + 1) % sizeof(uart.rx);
				uart.rx_len--;
			} else {
				x = 0;
			}
			break;
		case 1:
			x = dlab ? uart.dlm : uart.ier;
			break;
		case 2:
			x = uart_iir();
			if ((x & 0x0f) == UART_IIR_THRI)
				uart.thri_pending = false;
			break;
		case 3:
			x = uart.lcr;
			break;
		case 4:
			x = uart.mcr;
			break;
		case 5:
			x = UART_LSR_THRE | UART_LSR_TEMT |
			    (uart.rx_len ? UART_LSR_DR : 0);
			break;
		case 6:
			if (uart.mcr & UART_MCR_LOOP)	/* DTR,RTS,OUT1,OUT2 */
				x = ((uart.mcr & 1) << 5) | ((uart.mcr & 2) << 3) |
				    ((uart.mcr & 4) << 4) | ((uart.mcr & 8) << 4);
			else
				x = 0xb0;		/* DCD, DSR, CTS */
			break;
		default:
			x = uart.scr;
			break;
		}
		*data = x;
	}
	uart_update_irq();
	pthread_mutex_unlock(&uart.lock);
}

static void *stdin_thread(void *arg)
{
	uint8_t buf[256];
	ssize_t n, i;

	(void)arg;
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;	/* end of input: the guest reads nothing */
		pthread_mutex_lock(&uart.lock);
		for (i = 0; i < n && uart.rx_len < sizeof(uart.rx); i++)
			uart.rx[(uart.rx_head + uart.rx_len++) % sizeof(uart.rx)] =
				buf[i];
		uart_update_irq();
		pthread_mutex_unlock(&uart.lock);
	}
}

void serial_restore_tty(void)
{
	if (uart.tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &uart.tty);
		uart.tty_raw = false;
	}
}

void serial_init(struct vmm *v)
{
	struct termios raw;
	pthread_attr_t attr;
	pthread_t t;

	uart.v = v;
	/* A terminal gives its keys to the guest; ^C still stops the VMM. */
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &uart.tty)) {
		raw = uart.tty;
		cfmakeraw(&raw);
		raw.c_lflag |= ISIG;
		raw.c_oflag |= OPOST;
		if (!tcsetattr(STDIN_FILENO, TCSANOW, &raw))
			uart.tty_raw = true;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, stdin_thread, NULL))
		vmm_warn("no console input: cannot start its thread");
	pthread_attr_destroy(&attr);
}
