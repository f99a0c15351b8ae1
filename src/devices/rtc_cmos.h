/*
 * The PC's MC146818 real-time clock and its CMOS RAM at ports 0x70 (index;
 * bit 7 is the NMI mask, ignored) and 0x71 (data), so guests without
 * kvmclock (and kvm-unit-tests) can read the wall-clock time.
 *
 * Modelled (MC146818A datasheet; register numbers as on every PC):
 *   - 0x00-0x09 seconds, minutes, hours, day of week (1 = Sunday), day of
 *     month, month, year: the host's CLOCK_REALTIME in UTC plus an offset
 *     the guest sets by writing a time register (the new time counts from
 *     the write).  BCD or binary (register B bit 2, DM) and 12- or 24-hour
 *     (bit 1) as register B says when read.
 *   - 0x01, 0x03, 0x05: the seconds, minutes and hours alarm, compared
 *     byte for byte with the time registers at each second's update (so in
 *     the format register B says); a value with bits 7-6 set (0xc0-0xff)
 *     matches any value.
 *   - A (0x0a): UIP (bit 7) reads as 1 during the last 244 us of each
 *     second, when a real chip latches its update; the rate bits RS3-RS0
 *     select the periodic interrupt (3: 8192 Hz ... 15: 2 Hz, 1: 256 Hz,
 *     2: 128 Hz, 0: none) on the 32.768 kHz time base, aligned to the
 *     second; the divider bits are stored (reset value 0x26: 32.768 kHz,
 *     1024 Hz).
 *   - B (0x0b): stored (reset value 0x02: 24-hour, BCD); PIE, AIE and UIE
 *     (bits 6, 5, 4) enable the interrupt of PF, AF and UF; SET (bit 7)
 *     freezes nothing here, the clock runs regardless.
 *   - C (0x0c): PF (bit 6, a period of the rate passed), AF (bit 5, an
 *     update matched the alarm), UF (bit 4, an update happened), each
 *     since C was last read, and IRQF (bit 7) when one of them is enabled
 *     in B; reading C clears them.  IRQ 8 (`irq`, lvm_rtc_cmos_connect) is
 *     high while IRQF is set (an edge per read of C, as ISA expects).  An
 *     alarm match while AIE is set also calls on_alarm (the chipset's RTC
 *     wake event, devices/acpi_pm.h), even while IRQ 8 is already high.
 *     The flags follow the clock as it is read; something must call
 *     lvm_rtc_cmos_tick at the deadlines `arm` is given for the interrupts
 *     to come on time (devices/rtc_cmos_timer.h, a thread; without one,
 *     they come when the guest next touches the RTC).
 *   - D (0x0d): VRT (bit 7): the battery is good.
 *   - CMOS bytes: 0x32 the century (the FADT's CENTURY field points here),
 *     0x10 no floppy, 0x15/0x16 base memory (640 KiB), 0x17/0x18 and 0x30/0x31
 *     KiB above 1 MiB (at most 0xffff), 0x34/0x35 64-KiB units above
 *     16 MiB below the 4-GiB hole, 0x5b-0x5d 64-KiB units above 4 GiB, 0x5f
 *     the CPU count minus one, as SeaBIOS reads them from QEMU's CMOS.
 *     Others read as written (0 at reset).
 */
#ifndef LVM_DEVICES_RTC_CMOS_H
#define LVM_DEVICES_RTC_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kvm/bus.h"
#include "kvm/irq.h"

#define LVM_RTC_PORT 0x70
#define LVM_RTC_PORTS 2
#define LVM_RTC_CENTURY 0x32 /* the CMOS byte holding the century */
#define LVM_RTC_IRQ 8        /* ISA IRQ 8, as on every PC */

/* What the CMOS tells about the machine. */
struct lvm_rtc_cmos_info {
	uint64_t low_ram;  /* bytes of RAM below the 32-bit MMIO hole */
	uint64_t high_ram; /* bytes of RAM from 4 GiB */
	unsigned ncpus;
};

struct lvm_rtc_cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset;    /* guest time - host time, in seconds */
	/* Register C: the flags gathered up to last_sync (host time). */
	uint8_t c_flags;
	struct timespec last_sync;
	bool irq_level;
	struct lvm_irq_line irq;         /* IRQ 8 (none until connected) */
	void (*on_alarm)(void *opaque);  /* called with the lock held */
	void *opaque;
	/* The host clock, replaceable by tests (CLOCK_REALTIME by default). */
	void (*now)(struct timespec *ts);
	/* Asked, with the lock held, to call lvm_rtc_cmos_tick at the host
	 * CLOCK_REALTIME time `ns` (-1: no need); NULL: nobody to ask. */
	void (*arm)(void *ctx, int64_t ns);
	void *arm_ctx;
};

void lvm_rtc_cmos_init(struct lvm_rtc_cmos *rtc, const struct lvm_rtc_cmos_info *info);
/* Initialises and registers ports 0x70-0x71 on `pio`; -1 + lvm_error. */
int lvm_rtc_cmos_attach(struct lvm_rtc_cmos *rtc, struct lvm_bus *pio,
			const struct lvm_rtc_cmos_info *info);
/* IRQ 8 and the alarm's wake event (either may be empty / NULL). */
void lvm_rtc_cmos_connect(struct lvm_rtc_cmos *rtc, struct lvm_irq_line irq,
			  void (*on_alarm)(void *), void *opaque);
/* Who calls lvm_rtc_cmos_tick: `arm` is called at once with the next deadline. */
void lvm_rtc_cmos_set_arm(struct lvm_rtc_cmos *rtc, void (*arm)(void *, int64_t), void *ctx);
/* A deadline came: gathers the flags up to now, raises IRQ 8 / on_alarm as
 * due, and asks for the next deadline. */
void lvm_rtc_cmos_tick(struct lvm_rtc_cmos *rtc);
/* Bus handler for ports 0x70-0x71; opaque = struct lvm_rtc_cmos *. */
void lvm_rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);

struct lvm_state_reader;
struct lvm_state_writer;
/*
 * Saved state (util/state.h; the caller opens the section): the index, all
 * 128 CMOS bytes (registers A-D and the alarm among them), the guest's
 * offset from the host's wall clock, the host second the flags were last
 * gathered (u64, informative: a load gathers from its own time) and the
 * flags of register C not yet read (u8: PF, AF, UF).  A restored clock
 * keeps its offset, so it shows the host's time now plus what the guest
 * set, like a real RTC that ran on its battery while the machine was
 * saved; the updates, alarms and periods of the time the state spent
 * saved are not replayed.  Load sets IRQ 8 as the flags say and asks for
 * the next deadline.  0, or -1 through lvm_state_bad.
 */
void lvm_rtc_cmos_save(const struct lvm_rtc_cmos *rtc, struct lvm_state_writer *w);
int lvm_rtc_cmos_load(struct lvm_rtc_cmos *rtc, struct lvm_state_reader *r);

#endif
