/*
 * ACPI fixed hardware for a PC-like board (ACPI 6.5 §4.8): the PM1a event
 * block (PM1_STS + PM1_EN, 4 bytes), the PM1a control block (PM1_CNT, 2
 * bytes) and the power-management timer (PM_TMR, 4 bytes), laid out as
 * PIIX4 lays them out: EVT at base, CNT at base + 4, TMR at base + 8.  The
 * FADT says where (fw/acpi.c).
 *
 * Modelled:
 *   - PM1_STS (write 1 to clear): TMR_STS (bit 0: the timer's bit 31
 *     changed since it was last cleared, computed when read), PWRBTN_STS
 *     (bit 8: set by lvm_acpi_pm_power_button), RTC_STS (bit 10: set by
 *     lvm_acpi_pm_rtc_alarm, the RTC's alarm with AIE), WAK_STS (bit 15:
 *     set when the machine wakes from S3).
 *   - PM1_EN: read/write; PWRBTN_EN and RTC_EN gate the SCI for their
 *     events; RTC_EN also lets the alarm wake the machine from S3
 *     (§4.8.3.1.2).  TMR_EN is stored but raises nothing (no thread watches
 *     the timer).
 *   - PM1_CNT: SCI_EN reads as 1 (no SMI_CMD: the machine is always in
 *     ACPI mode, §4.8.2.1), SLP_TYP (bits 10-12) stored, SLP_EN (bit 13)
 *     write-only: writing it with SLP_TYP = LVM_ACPI_PM_SLP_TYP_S5 calls
 *     on_poweroff; with LVM_ACPI_PM_SLP_TYP_S3 the machine sleeps (on_sleep)
 *     until a wake event: the power button (whatever PWRBTN_EN says,
 *     §4.8.3.1.1), the RTC alarm when RTC_EN is set, or the host
 *     (lvm_acpi_pm_wake); WAK_STS and the event's own status bit are then
 *     set and on_wake is called.  Other sleep types are ignored (the write
 *     returns as if the machine woke at once; the DSDT declares only \_S3
 *     and \_S5).
 *   - PM_TMR: 3.579545 MHz, 32 bits (the FADT sets TMR_VAL_EXT), read from
 *     CLOCK_MONOTONIC on each access (plus an offset a loaded state sets, so
 *     the count goes on from the saved one), no thread.
 * The SCI is a level-triggered line, high while (PM1_STS & PM1_EN) has
 * PWRBTN or RTC set.  Accesses of any size at any offset work byte by byte.
 */
#ifndef LVM_DEVICES_ACPI_PM_H
#define LVM_DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/bus.h"
#include "kvm/irq.h"

#define LVM_ACPI_PM_EVT_LEN 4
#define LVM_ACPI_PM_CNT_OFFSET 4
#define LVM_ACPI_PM_CNT_LEN 2
#define LVM_ACPI_PM_TMR_OFFSET 8
#define LVM_ACPI_PM_TMR_LEN 4
#define LVM_ACPI_PM_TMR_HZ 3579545u
/* The SLP_TYP values the DSDT's \_S3 and \_S5 packages give: S3 (suspend
 * to RAM) is 1 as on QEMU's PIIX4 (kvm-unit-tests writes 1 without reading
 * \_S3); S5 (soft off) is luavmm's own 5. */
#define LVM_ACPI_PM_SLP_TYP_S3 1u
#define LVM_ACPI_PM_SLP_TYP_S5 5u

/* PM1 status/enable bits (§4.8.3.1, tables 4.16/4.17) and control bits (table 4.18). */
#define LVM_PM1_TMR (1u << 0)
#define LVM_PM1_PWRBTN (1u << 8)
#define LVM_PM1_RTC (1u << 10)
#define LVM_PM1_WAK_STS (1u << 15)
#define LVM_PM1_CNT_SCI_EN (1u << 0)
#define LVM_PM1_CNT_SLP_TYP_SHIFT 10
#define LVM_PM1_CNT_SLP_EN (1u << 13)

struct lvm_acpi_pm {
	struct lvm_irq_line sci;
	/* Called on the writing vCPU's thread, without the lock held. */
	void (*on_poweroff)(void *opaque);
	void *opaque;
	/* S3 (lvm_acpi_pm_on_sleep): called with the lock held, on_sleep on the
	 * writing vCPU's thread, on_wake on the thread of the wake event; they
	 * must not call back into this device.  NULL: S3 is ignored. */
	void (*on_sleep)(void *opaque);
	void (*on_wake)(void *opaque, const char *reason);
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint64_t tmr_offset; /* guest ticks - host ticks (0 until a state is loaded) */
	uint64_t tmr_epoch;  /* (guest ticks >> 31) when TMR_STS was last cleared */
	bool sci_level;
	bool sleeping;       /* in S3, from SLP_EN until a wake event */
};

void lvm_acpi_pm_init(struct lvm_acpi_pm *pm, struct lvm_irq_line sci,
		      void (*on_poweroff)(void *), void *opaque);
/* Initialises and registers the three blocks at `base` on `pio`; -1 + lvm_error. */
int lvm_acpi_pm_attach(struct lvm_acpi_pm *pm, struct lvm_bus *pio, uint16_t base,
		       struct lvm_irq_line sci, void (*on_poweroff)(void *), void *opaque);
/* S3 support: the calls that put the machine to sleep and wake it (same
 * opaque as on_poweroff).  on_wake's reason: "power_button", "rtc" or
 * whatever lvm_acpi_pm_wake was given. */
void lvm_acpi_pm_on_sleep(struct lvm_acpi_pm *pm, void (*on_sleep)(void *),
			  void (*on_wake)(void *, const char *));
/* Presses the fixed-feature power button: PWRBTN_STS, and the SCI if
 * enabled; in S3 it wakes the machine. */
void lvm_acpi_pm_power_button(struct lvm_acpi_pm *pm);
/* The RTC's alarm interrupt (AIE set): RTC_STS, and the SCI if RTC_EN is
 * set; in S3 with RTC_EN set it wakes the machine. */
void lvm_acpi_pm_rtc_alarm(struct lvm_acpi_pm *pm);
/* A wake event from the host (`reason`: a static string): in S3, WAK_STS
 * and on_wake; returns false (and changes nothing) when awake. */
bool lvm_acpi_pm_wake(struct lvm_acpi_pm *pm, const char *reason);
/* Whether the machine is in S3. */
bool lvm_acpi_pm_sleeping(struct lvm_acpi_pm *pm);
/* The host's 32-bit count now (the guest's, until a state is loaded). */
uint32_t lvm_acpi_pm_timer(void);

struct lvm_state_reader;
struct lvm_state_writer;
/* Saved state (util/state.h; the caller opens the section): PM1_STS,
 * PM1_EN, PM1_CNT, the timer's 64-bit count, TMR_STS's epoch and (bool)
 * whether the machine is in S3.  Load continues the count from the saved
 * one and re-derives the SCI (the caller puts the VM to sleep to match
 * lvm_acpi_pm_sleeping); 0, or -1 through lvm_state_bad. */
void lvm_acpi_pm_save(const struct lvm_acpi_pm *pm, struct lvm_state_writer *w);
int lvm_acpi_pm_load(struct lvm_acpi_pm *pm, struct lvm_state_reader *r);

/* Bus handlers; opaque = struct lvm_acpi_pm *. */
void lvm_acpi_pm_evt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write);
void lvm_acpi_pm_cnt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write);
void lvm_acpi_pm_tmr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write);

#endif
