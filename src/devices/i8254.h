/*
 * The PC's Intel 8254 programmable interval timer: three 16-bit counters at
 * ports 0x40-0x42, the control word at 0x43, and the NMI status and control
 * port 0x61 (bit 0 channel 2 gate, bit 1 speaker data, bit 4 refresh
 * toggle, bit 5 channel 2 output, which TSC calibration loops poll).
 *
 * Modelled (8254 datasheet): modes 0-5 (6 and 7 alias 2 and 3), lobyte /
 * hibyte / lobyte-then-hibyte access, counter latch and read-back commands,
 * the status byte, and channel 2's gate.  Counters are not clocked: their
 * value and OUT are computed from a monotonic clock at 1.193182 MHz, so
 * reads cost nothing while the guest does not look.  BCD counting is
 * accepted and reported in the status byte but counts in binary.
 *
 * Channel 0's OUT drives IRQ0.  The model does not keep time itself: it asks
 * its clock to `arm` a host timer (periodic for modes 2 and 3, one-shot for
 * modes 0 and 4) and expects lvm_i8254_timer_fired when it expires
 * (i8254_timer.h runs one on a thread of its own).  Modes 2 and 3 pulse the
 * line once per expiry (missed periods coalesce, as with any lost tick);
 * mode 0 raises it at terminal count and keeps it high until the channel is
 * reprogrammed.
 *
 * Threading: every entry point takes the device's mutex; the IRQ setter and
 * `arm` run with it held and must not call back into the device.
 */
#ifndef LVM_DEVICES_I8254_H
#define LVM_DEVICES_I8254_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/irq.h"

#define LVM_I8254_HZ 1193182u

struct lvm_i8254_clock {
	uint64_t (*now_ns)(void *ctx);
	/* Fire at `deadline_ns` (now_ns's clock), then every `period_ns` if
	 * non-zero; deadline 0 disarms. */
	void (*arm)(void *ctx, uint64_t deadline_ns, uint64_t period_ns);
	void *ctx;
};

struct lvm_i8254;
struct lvm_state_reader;
struct lvm_state_writer;

/* NULL + lvm_fail on error. */
struct lvm_i8254 *lvm_i8254_new(struct lvm_irq_line irq0, const struct lvm_i8254_clock *clock);
void lvm_i8254_free(struct lvm_i8254 *pit);
/* The armed deadline passed: raise IRQ0 as channel 0's mode says. */
void lvm_i8254_timer_fired(struct lvm_i8254 *pit);
/* Bus handlers, opaque = the PIT: 4 ports at 0x40, 1 port at 0x61. */
void lvm_i8254_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
void lvm_i8254_port61_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			 bool is_write);
/*
 * Saved state (util/state.h; the caller opens the section): each channel's
 * mode, access mode, reload value, latches, read/write flip-flops, status,
 * gate and the ticks it has counted; port 0x61's speaker and refresh bits.
 * Load checks them and goes on counting from the saved ticks (the time
 * the state spent saved does not pass), re-arms channel 0's timer at the
 * same phase of its period and drives IRQ0 as the loaded count says.  0,
 * or -1 through lvm_state_bad (the device is then unchanged).
 */
void lvm_i8254_save(const struct lvm_i8254 *pit, struct lvm_state_writer *w);
int lvm_i8254_load(struct lvm_i8254 *pit, struct lvm_state_reader *r);

#endif
