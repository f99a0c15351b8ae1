/*
 * The machine: the one object the Lua bindings build and drive.  It puts
 * together the board (arch/x86/board.h) and the devices of the recipe
 * (devices.h), and is the only way up from the bindings to either: console
 * input, finding a device by recipe key and name, the device tree, start
 * and teardown.  The KVM-level VM (kvm/vm.h: stop state, pause, memory,
 * the hook queue, buses) is reached with lvm_machine_vm.
 *
 * Creation validates everything first (no side effects), then builds; on
 * any failure nothing is left behind: no VM, no open file, no console file
 * created or truncated.
 */
#ifndef LVM_MACHINE_MACHINE_H
#define LVM_MACHINE_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "kvm/vm.h"
#include "util/value.h"

struct lvm_saved_state;

struct lvm_machine_config {
	uint64_t mem_size;
	unsigned ncpus;
	const char *kernel;  /* path of a kernel: ELF, bzImage or multiboot */
	const char *cmdline; /* may be NULL */
	const char *initrd;  /* path, or NULL */
	const char *boot;    /* "auto" (NULL), "elf64", "pvh", "bzimage", "multiboot" */
	/* The recipe table: the machine reads the keys it owns from it
	 * (cpuid and every device key of devices.c), borrowed for the call. */
	const struct lvm_value *recipe;
	/* Guest output: console_path (created/truncated once everything else
	 * succeeded) or console_fd (-1: none; closed on failure and with the
	 * machine when console_owns_fd). */
	const char *console_path;
	int console_fd;
	bool console_owns_fd;
	/*
	 * Optional: asked, after validation and before anything is opened,
	 * for every host resource the machine will open: `what` is the recipe
	 * key ("kernel", "initrd", "console", "disks.root.path",
	 * "nets.eth0.tap"), `path` a file path or "tap:NAME", `write` whether
	 * it is opened for writing (or created).  Returns 0 to allow, or -1
	 * with lvm_error saying why (creation then fails with
	 * "WHAT: PATH: why", nothing opened).
	 */
	int (*allow)(void *opaque, const char *what, const char *path, bool write);
	void *allow_opaque;
	/*
	 * Optional (machine/snapshot.h): the machine continues this saved
	 * state instead of booting `kernel` (which is then neither needed nor
	 * opened).  The recipe must describe the same machine (RAM, vCPUs,
	 * devices); borrowed for the call.
	 */
	const struct lvm_saved_state *restore;
	/* Keep what lvm_machine_restart needs (on_reset = "restart"). */
	bool restartable;
};

struct lvm_machine;

/* Whether `key` is a recipe key the machine reads (so the bindings accept it). */
bool lvm_machine_owns_key(const char *key);
/* NULL + lvm_error ("KEY...: why") on failure. */
struct lvm_machine *lvm_machine_create(const struct lvm_machine_config *config);
int lvm_machine_start(struct lvm_machine *m);
/*
 * After the guest asked for a reset (the VM stopped with reason "reset"):
 * the machine powers on again in place, as a real board's reset does:
 * RAM cleared, the kernel loaded again, the vCPUs, interrupt controllers
 * and every device back in their state at creation, and the vCPUs started.
 * What the host set up stays: hooks, the console, filters, rate limits.
 * Only for a machine created restartable; 0, or -1 + lvm_error.
 */
int lvm_machine_restart(struct lvm_machine *m);

/* Stops the guest if it runs, frees the devices, the board and the VM. */
void lvm_machine_destroy(struct lvm_machine *m);

/* Waits until the kernel has released every destroyed machine that ran
 * (their VM fds and guest RAM are freed in the background: kvm/reaper.h). */
void lvm_machine_settle(void);
struct lvm_vm *lvm_machine_vm(struct lvm_machine *m);

/*
 * Console input for the guest: to the UART and to a virtio console if
 * there is one, all or nothing per receiver.  Returns 0, or -1 and sets
 * *full to the receiver whose buffer could not take it all ("UART") with
 * *accepted its count.
 */
int lvm_machine_input(struct lvm_machine *m, const void *bytes, size_t n, const char **full,
		      size_t *accepted);
/* What the guest wrote to the debug-exit port (valid when it stopped with "exit"). */
uint32_t lvm_machine_exit_value(const struct lvm_machine *m);
/* Presses the board's power button (ACPI fixed-feature button: the guest
 * sees PWRBTN_STS and, if it enabled it, an SCI).  0, or -1 + lvm_error
 * once the machine has stopped. */
int lvm_machine_power_button(struct lvm_machine *m);
/* A wake event from outside (the board's, e.g. ACPI S3's WAK_STS): 1 if
 * the machine was asleep and now wakes, 0 if it was not asleep, -1 +
 * lvm_error once it has stopped. */
int lvm_machine_wake(struct lvm_machine *m);
/* The device tree blob; NULL if the board has none. */
const void *lvm_machine_dtb(const struct lvm_machine *m, size_t *size);

/* The devices, in slot order. */
struct lvm_machine_device {
	const struct lvm_device_type *type;
	const char *name; /* the recipe's name (named kinds) or the key */
	void *dev;
};
unsigned lvm_machine_device_count(const struct lvm_machine *m);
const struct lvm_machine_device *lvm_machine_device(const struct lvm_machine *m, unsigned i);
/* The device of kind `key` called `name`, or NULL. */
const struct lvm_machine_device *lvm_machine_find(const struct lvm_machine *m, const char *key,
						 const char *name);

#endif
