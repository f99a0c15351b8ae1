/*
 * The PC's interrupt controllers for the VM's irqchip mode, as one call
 * for the board.
 *
 * Kernel mode: KVM has them all (and its PIT if asked); nothing to attach.
 *
 * Split mode (the default): KVM keeps the LAPICs; this attaches the 8259A
 * pair (0x20, 0xa0, ELCR 0x4d0), the IOAPIC (LVM_IOAPIC_ADDR), and, with
 * the `pit` option, the 8254 (0x40-0x43, 0x61) with its timer thread.  GSI
 * n < 16 drives PIC input n and IOAPIC pin n; n < 24 the IOAPIC pin (the
 * MADT/MP table wire ISA IRQ n to pin n, no overrides).
 *   - IOAPIC interrupts reach the LAPICs as KVM_SIGNAL_MSI.
 *   - The PIC's INT goes to vCPU 0's LINT0 as ExtINT (KVM_INTERRUPT from the
 *     vCPU loop, kvm/vcpu.c); INT rising kicks vCPU 0 out of a halt.  APs
 *     never see the PIC (their LINT0 is masked after reset anyway).
 *   - irqfds (virtio): KVM routes GSI n as the MSI of IOAPIC pin n's
 *     redirection entry, kept in step by KVM_SET_GSI_ROUTING whenever the
 *     guest reprograms the pin (routed while unmasked or awaiting EOI), so
 *     irqfd interrupts never leave the kernel.  Consequences: irqfds reach
 *     IOAPIC guests only, not a PIC-only guest; a level-triggered entry
 *     receives irqfd interrupts as edge messages with the level bit, whose
 *     EOI then finds no remote IRR to clear (harmless).
 *   - ExtINT delivery mode in a redirection entry (virtual wire through the
 *     IOAPIC) is dropped by KVM; guests use LINT0 for that.
 */
#ifndef LVM_ARCH_X86_INTERRUPTS_H
#define LVM_ARCH_X86_INTERRUPTS_H

#include "kvm/vm.h"

/*
 * Creates and registers the userspace controllers the VM's mode needs and
 * hooks them into lvm_vm_set_irq; they are freed with the VM.  Call once,
 * after lvm_vm_create and before lvm_vm_start.  -1 + lvm_error on failure
 * (the VM still owns what was created).
 */
int lvm_x86_interrupts_attach(struct lvm_vm *vm);

/*
 * Programs the PIC pair the way a PC BIOS leaves it for the OS it boots:
 * vector bases 0x08 (master) and 0x70 (slave), every line masked but the
 * cascade.  For entries that come from a BIOS world (multiboot): guests
 * such as kvm-unit-tests' realmode test expect it.  Other entries leave
 * the PICs in their reset state.
 */
int lvm_x86_pic_bios_state(struct lvm_vm *vm);

/*
 * With pit = "bios", for the same entries: the timer tick a PC BIOS leaves
 * running.  PIT channel 0 in mode 2 (rate generator) with the full count,
 * 18.2 Hz, on IRQ 0, unmasked; and, for code that runs in real mode on the
 * BIOS's interrupt vector table, vector 8 pointing at a handler in the BIOS
 * area (LVM_BIOS_TICK_HANDLER) that acknowledges the interrupt (EOI) and
 * returns.  kvm-unit-tests' realmode test waits in `sti; hlt` for whatever
 * interrupt comes: under QEMU, SeaBIOS's tick.  0 or -1 + lvm_error.
 */
int lvm_x86_bios_tick(struct lvm_vm *vm);

struct lvm_state_writer;
/*
 * Saved state (util/state.h): the controllers this file attached, each in a
 * section of its own that this opens: split mode "i8259", "ioapic" and,
 * with a PIT, "i8254" (the devices' headers say what each holds); kernel mode
 * "kvm_irqchip" (KVM_GET_IRQCHIP of the PIC master, PIC slave and IOAPIC)
 * and, with a PIT, "kvm_pit" (KVM_GET_PIT2).  Control thread, VM paused.
 * 0, or -1 + lvm_error (a KVM ioctl failed).
 */
int lvm_x86_interrupts_save(struct lvm_vm *vm, struct lvm_state_writer *w);
/*
 * Loads those sections from the whole (checked) section list into a VM
 * made from the same recipe, before it starts: refuses a state saved in
 * the other irqchip mode or with a PIT this machine lacks, checks every
 * value, then sets the controllers (KVM_SET_IRQCHIP / KVM_SET_PIT2 in
 * kernel mode) and re-derives their outputs.  Load the devices that drive
 * interrupt lines before this, so that in kernel mode their
 * lvm_vm_set_irq levels are in place when KVM's state is set.  In kernel
 * mode KVM restarts the PIT's counters from their reload values (the
 * phase within a period is lost); in split mode it is kept.  0, or -1 +
 * lvm_error.
 */
int lvm_x86_interrupts_load(struct lvm_vm *vm, const void *state, size_t len);

#endif
