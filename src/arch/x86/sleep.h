/*
 * ACPI S3 (suspend to RAM) on the x86 board: what the firmware of a PC
 * does to the CPUs around a sleep, as the kvm/vm.h sleep ops.
 *
 *   - Entering (each vCPU, as it parks for the sleep): the vCPU finishes
 *     the exit it stopped on (so nothing of its last instruction is left
 *     in KVM), then is put back in its power-on state: the state KVM gave
 *     it at creation with luavmm's CPUID and MSR defaults (captured by
 *     lvm_x86_sleep_init before any loader ran): real mode at the reset
 *     vector, its LAPIC, FPU, debug registers, MSRs (kvmclock off) as
 *     after a reset.  Its TSC is kept (it goes on counting; on a real PC
 *     it restarts from 0), and the APs wait for a SIPI (KVM_MP_STATE_
 *     INIT_RECEIVED): an OS starts them again with INIT-SIPI-SIPI or SIPI.
 *   - Leaving (the boot vCPU, once the wake has let every vCPU go): it
 *     jumps to the OS's waking vector in the FACS (ACPI 6.5 §5.2.10):
 *       X_Firmware_Waking_Vector when it is non-zero (the FACS is version
 *       2): 32-bit protected mode, paging off, CS/DS/ES/FS/GS/SS flat
 *       4 GiB segments (selectors 0x08/0x10 with no GDT: the OS loads its
 *       own), EIP = the vector.  64BIT_WAKE_F is not honoured (the FACS
 *       does not offer 64-bit wake); a vector above 4 GiB stops the
 *       machine with reason "error".
 *       Otherwise Firmware_Waking_Vector in real mode, as a PC BIOS does:
 *       CS = vector >> 4, IP = vector & 0xf, the other segments 0.
 *     Both vectors 0 (the OS never set one): the machine stops with reason
 *     "reset" and a detail saying so, as a PC whose firmware finds nothing
 *     to resume reboots (on_reset = "restart" then restarts it).
 * RAM is kept, and so are the devices' states (a real platform powers
 * most of them down; an OS re-initialises its devices on resume).
 */
#ifndef LVM_ARCH_X86_SLEEP_H
#define LVM_ARCH_X86_SLEEP_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

struct lvm_x86_sleep {
	struct lvm_vm *vm;
	uint8_t *power_on; /* a saved-state list: section "cpu.N" per vCPU */
	size_t power_on_len;
};

/* Captures every vCPU's power-on state (once CPUID and MSRs are set,
 * before any loader) and installs the VM's sleep ops.  -1 + lvm_error. */
int lvm_x86_sleep_init(struct lvm_x86_sleep *s, struct lvm_vm *vm);
void lvm_x86_sleep_free(struct lvm_x86_sleep *s);

#endif
