/*
 * The PC's MC146818 real-time clock and its CMOS RAM at ports 0x70 (index;
 * bit 7 is the NMI mask, ignored) and 0x71 (data), so guests without
 * kvmclock (and kvm-unit-tests) can read the wall-clock time.
 *
 * Modelled (MC146818A datasheet; register numbers as on every PC):
 *   - 0x00-0x09 seconds, minutes, hours, day of week (1 = Sunday), day of
 *     month, month, year, and the alarm bytes (stored, no alarm fires):
 *     the host's CLOCK_REALTIME in UTC plus an offset the guest sets by
 *     writing a time register (the new time counts from the write).  BCD
 *     or binary (register B bit 2, DM) and 12- or 24-hour (bit 1) as
 *     register B says when read.
 *   - A (0x0a): UIP (bit 7) reads as 1 during the last 244 us of each
 *     second, when a real chip latches its update; the divider/rate bits
 *     are stored (reset value 0x26: 32.768 kHz, 1024 Hz).
 *   - B (0x0b): stored (reset value 0x02: 24-hour, BCD); SET (bit 7)
 *     freezes nothing here, the clock runs regardless.
 *   - C (0x0c): UF (bit 4) once per second since the last read, with IRQF
 *     when UIE is set; reading clears it.  No interrupt is raised on IRQ 8:
 *     no thread watches the clock, so periodic, alarm and update interrupts
 *     are not generated.
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

#define LVM_RTC_PORT 0x70
#define LVM_RTC_PORTS 2
#define LVM_RTC_CENTURY 0x32 /* the CMOS byte holding the century */

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
	int64_t last_uf;   /* the guest second register C last reported */
	/* The host clock, replaceable by tests (CLOCK_REALTIME by default). */
	void (*now)(struct timespec *ts);
};

void lvm_rtc_cmos_init(struct lvm_rtc_cmos *rtc, const struct lvm_rtc_cmos_info *info);
/* Initialises and registers ports 0x70-0x71 on `pio`; -1 + lvm_error. */
int lvm_rtc_cmos_attach(struct lvm_rtc_cmos *rtc, struct lvm_bus *pio,
			const struct lvm_rtc_cmos_info *info);
/* Bus handler for ports 0x70-0x71; opaque = struct lvm_rtc_cmos *. */
void lvm_rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);

struct lvm_state_reader;
struct lvm_state_writer;
/*
 * Saved state (util/state.h; the caller opens the section): the index, all
 * 128 CMOS bytes (registers A-D among them), the guest's offset from the
 * host's wall clock and the second UF last reported.  A restored clock
 * keeps its offset, so it shows the host's time now plus what the guest
 * set, like a real RTC that ran on its battery while the machine was
 * saved.  0, or -1 through lvm_state_bad.
 */
void lvm_rtc_cmos_save(const struct lvm_rtc_cmos *rtc, struct lvm_state_writer *w);
int lvm_rtc_cmos_load(struct lvm_rtc_cmos *rtc, struct lvm_state_reader *r);

#endif
