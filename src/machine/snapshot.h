/*
 * Snapshot, restore and fork of a machine.
 *
 * A saved state is the machine's parts, each in its own section
 * (util/state.h): the board (vCPUs, clock, interrupt controllers, legacy
 * devices: arch/x86/board.h) and every device of the recipe (its type's
 * save/load, devices/device.h), plus an opaque "recipe" blob the caller
 * stores to rebuild the same machine.  Guest RAM is not in it: it is a
 * file (a snapshot's `memory`) or a frozen memfd (a fork), which the new
 * machine maps copy-on-write (kvm/memory.h).
 *
 * On disk, DIR/state is
 *   "LUAVMMST", u32 format, u32 header bytes, char version[32] (luavmm's),
 *   u32 host CPU digest, u32 vCPUs, u64 RAM bytes, u64 body bytes,
 *   u32 CRC-32C of the body, then the body (the section list)
 * and DIR/memory is RAM, as a sparse file (pages of zeroes are holes).
 */
#ifndef LVM_MACHINE_SNAPSHOT_H
#define LVM_MACHINE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct lvm_machine;

/* A machine's state, from a snapshot directory or taken for a fork. */
struct lvm_saved_state;

struct lvm_snapshot_info {
	uint64_t state_bytes;  /* DIR/state */
	uint64_t memory_bytes; /* data written to DIR/memory (holes not counted) */
	uint64_t ram_bytes;    /* the guest's RAM */
	double seconds;        /* the whole call */
};

/*
 * Writes DIR/state and DIR/memory (created; DIR must exist).  The machine
 * must not be running (paused, or created and not started); its devices
 * finish their requests in flight first and the disks are flushed.  Each
 * file is written beside its final name and renamed, so a machine restored
 * from DIR (whose RAM maps DIR/memory) may snapshot into DIR again.
 * 0, or -1 + lvm_error; a failed snapshot leaves the machine as it was.
 */
int lvm_machine_snapshot(struct lvm_machine *m, const char *dir, const void *recipe,
			 size_t recipe_len, struct lvm_snapshot_info *info);

/*
 * The state of a paused machine for a fork, its RAM frozen (the machine
 * goes on copy-on-write: kvm/memory.h lvm_memory_freeze).  NULL + lvm_error.
 */
struct lvm_saved_state *lvm_machine_save(struct lvm_machine *m, const void *recipe,
					 size_t recipe_len);

/*
 * For a restart after a guest reset (machine.c): the machine's state as
 * it was created, before it ran, without RAM (the loader fills RAM
 * again); and loading it back into the stopped machine itself.
 */
struct lvm_saved_state *lvm_machine_save_power_on(struct lvm_machine *m);
int lvm_machine_reload(struct lvm_machine *m, const struct lvm_saved_state *s);

/* Reads and checks DIR/state and opens DIR/memory: NULL + lvm_error
 * ("snapshot DIR: why": missing, truncated, corrupt, other version...). */
struct lvm_saved_state *lvm_saved_state_open(const char *dir);
void lvm_saved_state_free(struct lvm_saved_state *s);

/* What the saver stored to rebuild the machine (see lvm_machine_snapshot). */
const void *lvm_saved_state_recipe(const struct lvm_saved_state *s, size_t *len);
uint64_t lvm_saved_state_ram(const struct lvm_saved_state *s);
unsigned lvm_saved_state_cpus(const struct lvm_saved_state *s);

/*
 * For lvm_machine_create (machine.c): checks the new machine matches the
 * state (RAM size, vCPUs, this host's CPU), maps its RAM and loads every
 * part.  Called after the devices are created and before they start.
 */
int lvm_machine_load_state(struct lvm_machine *m, const struct lvm_saved_state *s);

#endif
