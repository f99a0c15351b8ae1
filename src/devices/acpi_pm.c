#include "devices/acpi_pm.h"

#include "util/clock.h"
#include "util/state.h"

#define NS_PER_S 1000000000ull
#define PM1_STS_W1C (LVM_PM1_TMR | LVM_PM1_PWRBTN | LVM_PM1_RTC | LVM_PM1_WAK_STS)
#define PM1_EN_BITS (LVM_PM1_TMR | 1u << 5 /* GBL_EN: ACPICA checks it sticks */ | LVM_PM1_PWRBTN | LVM_PM1_RTC)
#define PM1_SCI_EVENTS (LVM_PM1_PWRBTN | LVM_PM1_RTC) /* the events that raise the SCI */
#define PM1_CNT_STORED (0x7u << LVM_PM1_CNT_SLP_TYP_SHIFT | 1u << 1 /* BM_RLD */)

/* Timer ticks since the monotonic clock's origin (64 bits: no wrap to worry about). */
static uint64_t ticks_now(void)
{
	uint64_t ns = lvm_monotonic_ns();
	return ns / NS_PER_S * LVM_ACPI_PM_TMR_HZ + ns % NS_PER_S * LVM_ACPI_PM_TMR_HZ / NS_PER_S;
}

uint32_t lvm_acpi_pm_timer(void)
{
	return (uint32_t)ticks_now();
}

/* The guest's count: the host's plus what a loaded state moved it by. */
static uint64_t guest_ticks(const struct lvm_acpi_pm *pm)
{
	return ticks_now() + pm->tmr_offset;
}

void lvm_acpi_pm_init(struct lvm_acpi_pm *pm, struct lvm_irq_line sci,
		      void (*on_poweroff)(void *), void *opaque)
{
	*pm = (struct lvm_acpi_pm){ .sci = sci, .on_poweroff = on_poweroff, .opaque = opaque };
	pthread_mutex_init(&pm->lock, NULL);
	pm->tmr_epoch = guest_ticks(pm) >> 31;
}

int lvm_acpi_pm_attach(struct lvm_acpi_pm *pm, struct lvm_bus *pio, uint16_t base,
		       struct lvm_irq_line sci, void (*on_poweroff)(void *), void *opaque)
{
	lvm_acpi_pm_init(pm, sci, on_poweroff, opaque);
	if (lvm_bus_register(pio, base, LVM_ACPI_PM_EVT_LEN, lvm_acpi_pm_evt_io, pm,
			     "acpi-pm1-evt") < 0 ||
	    lvm_bus_register(pio, base + LVM_ACPI_PM_CNT_OFFSET, LVM_ACPI_PM_CNT_LEN,
			     lvm_acpi_pm_cnt_io, pm, "acpi-pm1-cnt") < 0)
		return -1;
	return lvm_bus_register(pio, base + LVM_ACPI_PM_TMR_OFFSET, LVM_ACPI_PM_TMR_LEN,
				lvm_acpi_pm_tmr_io, pm, "acpi-pm-timer");
}

void lvm_acpi_pm_on_sleep(struct lvm_acpi_pm *pm, void (*on_sleep)(void *),
			  void (*on_wake)(void *, const char *))
{
	pthread_mutex_lock(&pm->lock);
	pm->on_sleep = on_sleep;
	pm->on_wake = on_wake;
	pthread_mutex_unlock(&pm->lock);
}

/* The SCI follows the enabled status bits; called with the lock held. */
static void update_sci(struct lvm_acpi_pm *pm)
{
	bool level = (pm->sts & pm->en & PM1_SCI_EVENTS) != 0;
	if (level != pm->sci_level) {
		pm->sci_level = level;
		lvm_irq_set(&pm->sci, level);
	}
}

/* A wake event in S3 (§4.8.3.1, WAK_STS): with the lock held. */
static bool wake(struct lvm_acpi_pm *pm, const char *reason)
{
	if (!pm->sleeping)
		return false;
	pm->sleeping = false;
	pm->sts |= LVM_PM1_WAK_STS;
	if (pm->on_wake)
		pm->on_wake(pm->opaque, reason);
	return true;
}

void lvm_acpi_pm_power_button(struct lvm_acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= LVM_PM1_PWRBTN;
	wake(pm, "power_button"); /* §4.8.3.1.1: whatever PWRBTN_EN says */
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void lvm_acpi_pm_rtc_alarm(struct lvm_acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= LVM_PM1_RTC;
	if (pm->en & LVM_PM1_RTC) /* §4.8.3.1.2: RTC_EN enables the wake */
		wake(pm, "rtc");
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

bool lvm_acpi_pm_wake(struct lvm_acpi_pm *pm, const char *reason)
{
	pthread_mutex_lock(&pm->lock);
	bool woke = wake(pm, reason);
	pthread_mutex_unlock(&pm->lock);
	return woke;
}

bool lvm_acpi_pm_sleeping(struct lvm_acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	bool sleeping = pm->sleeping;
	pthread_mutex_unlock(&pm->lock);
	return sleeping;
}

static uint16_t read_sts(struct lvm_acpi_pm *pm)
{
	uint16_t sts = pm->sts;
	if ((guest_ticks(pm) >> 31) != pm->tmr_epoch)
		sts |= LVM_PM1_TMR;
	return sts;
}

/* Bytes [offset, offset + size) of a little-endian register file of 16-bit registers. */
static void read_bytes(const uint16_t *regs, unsigned nregs, uint64_t offset, uint8_t *data,
		       uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;
		data[i] = at / 2 < nregs ? (uint8_t)(regs[at / 2] >> (8 * (at % 2))) : 0xff;
	}
}

/* A write of `size` bytes as 16-bit values and byte masks per register. */
static void split_write(uint64_t offset, const uint8_t *data, uint32_t size, unsigned reg,
			uint16_t *value, uint16_t *mask)
{
	*value = *mask = 0;
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;
		if (at / 2 == reg) {
			*value |= (uint16_t)(data[i] << (8 * (at % 2)));
			*mask |= (uint16_t)(0xff << (8 * (at % 2)));
		}
	}
}

void lvm_acpi_pm_evt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	struct lvm_acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	if (!is_write) {
		uint16_t regs[2] = { read_sts(pm), pm->en };
		read_bytes(regs, 2, offset, data, size);
	} else {
		uint16_t v, mask;
		split_write(offset, data, size, 0, &v, &mask);
		v &= mask & PM1_STS_W1C;
		pm->sts &= (uint16_t)~v;
		if (v & LVM_PM1_TMR)
			pm->tmr_epoch = guest_ticks(pm) >> 31;
		split_write(offset, data, size, 1, &v, &mask);
		pm->en = (uint16_t)((pm->en & ~mask) | (v & mask & PM1_EN_BITS));
		update_sci(pm);
	}
	pthread_mutex_unlock(&pm->lock);
}

void lvm_acpi_pm_cnt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	struct lvm_acpi_pm *pm = opaque;
	bool poweroff = false;
	pthread_mutex_lock(&pm->lock);
	if (!is_write) {
		uint16_t cnt = pm->cnt | LVM_PM1_CNT_SCI_EN;
		read_bytes(&cnt, 1, offset, data, size);
	} else {
		uint16_t v, mask;
		split_write(offset, data, size, 0, &v, &mask);
		pm->cnt = (uint16_t)((pm->cnt & ~mask) | (v & mask & PM1_CNT_STORED));
		uint16_t typ = (pm->cnt >> LVM_PM1_CNT_SLP_TYP_SHIFT) & 7;
		bool slp_en = (v & mask & LVM_PM1_CNT_SLP_EN) != 0;
		poweroff = slp_en && typ == LVM_ACPI_PM_SLP_TYP_S5;
		if (slp_en && typ == LVM_ACPI_PM_SLP_TYP_S3 && pm->on_sleep && !pm->sleeping) {
			pm->sleeping = true;
			pm->on_sleep(pm->opaque);
		}
	}
	pthread_mutex_unlock(&pm->lock);
	if (poweroff && pm->on_poweroff)
		pm->on_poweroff(pm->opaque);
}

void lvm_acpi_pm_tmr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	const struct lvm_acpi_pm *pm = opaque;
	if (is_write) /* PM_TMR is read-only */
		return;
	uint32_t now = (uint32_t)guest_ticks(pm); /* no lock: the offset changes only on load */
	uint16_t regs[2] = { (uint16_t)now, (uint16_t)(now >> 16) };
	read_bytes(regs, 2, offset, data, size);
}

void lvm_acpi_pm_save(const struct lvm_acpi_pm *cpm, struct lvm_state_writer *w)
{
	struct lvm_acpi_pm *pm = (struct lvm_acpi_pm *)cpm; /* only for the lock */
	pthread_mutex_lock(&pm->lock);
	lvm_state_put_u16(w, pm->sts);
	lvm_state_put_u16(w, pm->en);
	lvm_state_put_u16(w, pm->cnt);
	lvm_state_put_u64(w, guest_ticks(pm));
	lvm_state_put_u64(w, pm->tmr_epoch);
	lvm_state_put_bool(w, pm->sleeping);
	pthread_mutex_unlock(&pm->lock);
}

int lvm_acpi_pm_load(struct lvm_acpi_pm *pm, struct lvm_state_reader *r)
{
	uint16_t sts = lvm_state_get_u16(r), en = lvm_state_get_u16(r), cnt = lvm_state_get_u16(r);
	uint64_t ticks = lvm_state_get_u64(r), epoch = lvm_state_get_u64(r);
	bool sleeping = lvm_state_get_bool(r);
	if (r->failed)
		return -1;
	if (sts & ~PM1_STS_W1C)
		return lvm_state_bad(r, "PM1_STS 0x%04x has bits outside 0x%04x", sts, PM1_STS_W1C);
	if (en & ~PM1_EN_BITS)
		return lvm_state_bad(r, "PM1_EN 0x%04x has bits outside 0x%04x", en, PM1_EN_BITS);
	if (cnt & ~PM1_CNT_STORED)
		return lvm_state_bad(r, "PM1_CNT 0x%04x has bits outside 0x%04x", cnt,
				     PM1_CNT_STORED);
	if (epoch > ticks >> 31)
		return lvm_state_bad(r, "PM timer epoch %llu is after the count %llu",
				     (unsigned long long)epoch, (unsigned long long)ticks);
	pthread_mutex_lock(&pm->lock);
	pm->sts = sts;
	pm->en = en;
	pm->cnt = cnt;
	/* The count goes on from the saved value (unsigned wrap-around is the
	 * difference either way); the time the state spent saved never passed. */
	pm->tmr_offset = ticks - ticks_now();
	pm->tmr_epoch = epoch;
	pm->sleeping = sleeping;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}
