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
 *     (bit 8: set by lvm_acpi_pm_power_button), WAK_STS (bit 15: never
 *     set, nothing sleeps and wakes).
 *   - PM1_EN: read/write; PWRBTN_EN gates the SCI for the power button.
 *     TMR_EN is stored but raises nothing (no thread watches the timer).
 *   - PM1_CNT: SCI_EN reads as 1 (no SMI_CMD: the machine is always in
 *     ACPI mode, §4.8.2.1), SLP_TYP (bits 10-12) stored, SLP_EN (bit 13)
 *     write-only: writing it with SLP_TYP = LVM_ACPI_PM_SLP_TYP_S5 calls
 *     on_poweroff; any other sleep type is ignored (the write returns as if
 *     the machine woke at once; the DSDT declares no other \_Sx).
 *   - PM_TMR: 3.579545 MHz, 32 bits (the FADT sets TMR_VAL_EXT), read from
 *     CLOCK_MONOTONIC on each access (plus an offset a loaded state sets, so
 *     the count goes on from the saved one), no thread.
 * The SCI is a level-triggered line, high while (PM1_STS & PM1_EN) has
 * PWRBTN set.  Accesses of any size at any offset work byte by byte.
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
/* The SLP_TYP value of S5 (soft off): what the DSDT's \_S5 package says. */
#define LVM_ACPI_PM_SLP_TYP_S5 5u

/* PM1 status/enable bits (§4.8.3.1, tables 4.16/4.17) and control bits (table 4.18). */
#define LVM_PM1_TMR (1u << 0)
#define LVM_PM1_PWRBTN (1u << 8)
#define LVM_PM1_WAK_STS (1u << 15)
#define LVM_PM1_CNT_SCI_EN (1u << 0)
#define LVM_PM1_CNT_SLP_TYP_SHIFT 10
#define LVM_PM1_CNT_SLP_EN (1u << 13)

struct lvm_acpi_pm {
	struct lvm_irq_line sci;
	/* Called on the writing vCPU's thread, without the lock held. */
	void (*on_poweroff)(void *opaque);
	void *opaque;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	uint64_t tmr_offset; /* guest ticks - host ticks (0 until a state is loaded) */
	uint64_t tmr_epoch;  /* (guest ticks >> 31) when TMR_STS was last cleared */
	bool sci_level;
};

void lvm_acpi_pm_init(struct lvm_acpi_pm *pm, struct lvm_irq_line sci,
		      void (*on_poweroff)(void *), void *opaque);
/* Initialises and registers the three blocks at `base` on `pio`; -1 + lvm_error. */
int lvm_acpi_pm_attach(struct lvm_acpi_pm *pm, struct lvm_bus *pio, uint16_t base,
		       struct lvm_irq_line sci, void (*on_poweroff)(void *), void *opaque);
/* Presses the fixed-feature power button: PWRBTN_STS, and the SCI if enabled. */
void lvm_acpi_pm_power_button(struct lvm_acpi_pm *pm);
/* The host's 32-bit count now (the guest's, until a state is loaded). */
uint32_t lvm_acpi_pm_timer(void);

struct lvm_state_reader;
struct lvm_state_writer;
/* Saved state (util/state.h; the caller opens the section): PM1_STS,
 * PM1_EN, PM1_CNT, the timer's 64-bit count and TMR_STS's epoch.  Load
 * continues the count from the saved one and re-derives the SCI; 0, or -1
 * through lvm_state_bad. */
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
