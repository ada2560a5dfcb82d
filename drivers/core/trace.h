/* SPDX-License-Identifier: GPL-2.0 */
/*
 * doorbell core tracepoints, one per hop of a kick:
 *   doorbell_kick         the eventfd's wake function consumed rings
 *   doorbell_work_queue   a work item was put on a device's worker queue
 *   doorbell_work_start   the worker is about to run a work item
 *   doorbell_work_done    the worker ran it
 *   doorbell_hup          a bound eventfd was released
 *   doorbell_call         a device signalled an eventfd back (the guest's
 *                         call eventfd, normally a KVM irqfd)
 *
 * Enable with: echo 1 > /sys/kernel/tracing/events/doorbell/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM doorbell

#if !defined(_DOORBELL_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _DOORBELL_TRACE_H

#include <linux/tracepoint.h>
#include "doorbell_core.h"

TRACE_EVENT(doorbell_kick,
	    TP_PROTO(const struct doorbell_poll *poll, u64 count),
	    TP_ARGS(poll, count),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(const void *, poll)
			     __field(u64, count)),
	    TP_fast_assign(__entry->dev = poll->dev->id;
			   __entry->poll = poll;
			   __entry->count = count;),
	    TP_printk("dev=%u poll=%p count=%llu",
		      __entry->dev, __entry->poll, __entry->count)
);

TRACE_EVENT(doorbell_hup,
	    TP_PROTO(const struct doorbell_poll *poll),
	    TP_ARGS(poll),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(const void *, poll)),
	    TP_fast_assign(__entry->dev = poll->dev->id;
			   __entry->poll = poll;),
	    TP_printk("dev=%u poll=%p", __entry->dev, __entry->poll)
);

TRACE_EVENT(doorbell_call,
	    TP_PROTO(const struct eventfd_ctx *ctx),
	    TP_ARGS(ctx),
	    TP_STRUCT__entry(__field(const void *, ctx)),
	    TP_fast_assign(__entry->ctx = ctx;),
	    TP_printk("ctx=%p", __entry->ctx)
);

/* The item may be gone once it ran: @fn is passed, @work not dereferenced. */
DECLARE_EVENT_CLASS(doorbell_work_class,
		    TP_PROTO(const struct doorbell_dev *dev,
			     const struct doorbell_work *work,
			     doorbell_work_fn_t fn),
		    TP_ARGS(dev, work, fn),
		    TP_STRUCT__entry(__field(unsigned int, dev)
				     __field(const void *, work)
				     __field(void *, fn)),
		    TP_fast_assign(__entry->dev = dev->id;
				   __entry->work = work;
				   __entry->fn = fn;),
		    TP_printk("dev=%u work=%p fn=%ps",
			      __entry->dev, __entry->work, __entry->fn)
);

DEFINE_EVENT(doorbell_work_class, doorbell_work_queue,
	     TP_PROTO(const struct doorbell_dev *dev,
		      const struct doorbell_work *work, doorbell_work_fn_t fn),
	     TP_ARGS(dev, work, fn)
);

DEFINE_EVENT(doorbell_work_class, doorbell_work_start,
	     TP_PROTO(const struct doorbell_dev *dev,
		      const struct doorbell_work *work, doorbell_work_fn_t fn),
	     TP_ARGS(dev, work, fn)
);

DEFINE_EVENT(doorbell_work_class, doorbell_work_done,
	     TP_PROTO(const struct doorbell_dev *dev,
		      const struct doorbell_work *work, doorbell_work_fn_t fn),
	     TP_ARGS(dev, work, fn)
);

#endif /* _DOORBELL_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src)/core. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
