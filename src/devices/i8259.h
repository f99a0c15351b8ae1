/*
 * The PC/AT's pair of Intel 8259A programmable interrupt controllers: the
 * master at ports 0x20-0x21 with the slave cascaded on its IR2, the slave at
 * 0xa0-0xa1, and the EISA edge/level control registers (ELCR) at
 * 0x4d0/0x4d1.  Used with a split irqchip, where KVM keeps only the LAPICs
 * and the PIC's INT output reaches the boot CPU's LINT0 (ExtINT) through
 * KVM_INTERRUPT.
 *
 * Modelled (8259A datasheet, "Programming the 8259A"): ICW1-ICW4 (vector
 * base, cascade, single mode, AEOI, special fully nested mode), OCW1 (IMR),
 * OCW2 (non-specific/specific EOI, rotation, set priority), OCW3 (IRR/ISR
 * reads, poll, special mask mode), edge or level inputs chosen by the ELCR
 * (ICW1's LTIM bit is ignored, as on EISA/PCI chipsets), and INTA.  Not
 * modelled: 8080/8085 call-address mode and buffered mode (ignored).
 *
 * Threading: every entry point takes the device's mutex.  The `notify`
 * callback runs with that mutex held when INT goes from low to high; it
 * must not call back into the device (kicking a vCPU is fine).
 */
#ifndef LVM_DEVICES_I8259_H
#define LVM_DEVICES_I8259_H

#include <stdbool.h>
#include <stdint.h>

struct lvm_i8259;
struct lvm_state_reader;
struct lvm_state_writer;

/* NULL + lvm_fail on error.  `notify` may be NULL. */
struct lvm_i8259 *lvm_i8259_new(void (*notify)(void *ctx), void *ctx);
void lvm_i8259_free(struct lvm_i8259 *pic);
/* Drives input `irq` (0-15; 2 is the cascade and ignored) to `level`. */
void lvm_i8259_set_irq(struct lvm_i8259 *pic, unsigned irq, int level);
/* The master's INT output: an unmasked request outranks what is in service. */
bool lvm_i8259_output(struct lvm_i8259 *pic);
/*
 * The CPU's interrupt acknowledge cycle: returns the vector to deliver and
 * moves the request from IRR to ISR (or a spurious IR7/IR15 vector when the
 * request went away, as the datasheet describes).
 */
uint8_t lvm_i8259_ack(struct lvm_i8259 *pic);
/* Bus handlers, opaque = the pair: 2 ports at 0x20, 2 at 0xa0, 2 at 0x4d0. */
void lvm_i8259_master_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			 bool is_write);
void lvm_i8259_slave_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write);
void lvm_i8259_elcr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		       bool is_write);
/*
 * Saved state (util/state.h; the caller opens the section): for each chip
 * IRR, ISR, IMR, its input levels, ELCR, vector base, rotation, where the
 * ICW sequence stands and the ICW4/OCW3 modes.  Load checks them,
 * recomputes the cascade and INT (`notify` runs if INT rises); 0, or -1
 * through lvm_state_bad (the device is then unchanged).
 */
void lvm_i8259_save(const struct lvm_i8259 *pic, struct lvm_state_writer *w);
int lvm_i8259_load(struct lvm_i8259 *pic, struct lvm_state_reader *r);

#endif
