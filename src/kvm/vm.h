/*
 * A virtual machine: the KVM VM fd, guest RAM, the two buses, the console,
 * the vCPUs and the machine's stop state.  Lifecycle:
 *   lvm_vm_create -> (devices register, a loader fills RAM and sets the
 *   boot vCPU) -> lvm_vm_start -> ... -> lvm_vm_halt (the owners free their
 *   devices) -> lvm_vm_destroy
 * Any thread may call lvm_vm_stop; the first reason wins.
 */
#ifndef LVM_KVM_VM_H
#define LVM_KVM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kvm/irq.h"

#include "kvm/bus.h"
#include "kvm/console_buffer.h"
#include "kvm/gsi_routes.h"
#include "kvm/hookq.h"
#include "kvm/memory.h"

enum lvm_stop_reason {
	LVM_RUNNING = 0,
	LVM_STOP_EXIT,     /* debug-exit port: code = (value << 1) | 1 */
	LVM_STOP_RESET,    /* the guest asked for a reset (i8042 0xfe) */
	LVM_STOP_SHUTDOWN, /* a vCPU entered shutdown (triple fault) */
	LVM_STOP_ERROR,    /* KVM could not run the guest; detail says why */
	LVM_STOP_HOST,     /* the host stopped the VM (teardown, kill) */
	LVM_STOP_HOOK_ERROR, /* a Lua hook raised an error; detail says which */
	LVM_STOP_POWEROFF, /* the guest entered ACPI S5 (soft off) */
};

struct lvm_vm;

/* Where the interrupt controllers live (api.rst KVM_CREATE_IRQCHIP, KVM_CAP_SPLIT_IRQCHIP). */
enum lvm_irqchip_mode {
	LVM_IRQCHIP_SPLIT = 0, /* LAPICs in KVM; PIC, IOAPIC (and PIT) in userspace */
	LVM_IRQCHIP_KERNEL,    /* PIC, IOAPIC and LAPICs (and PIT) in KVM */
};

/*
 * The userspace side of a split irqchip (arch/x86/interrupts.c fills it
 * in).  set_irq drives a GSI; eoi is the LAPIC's EOI broadcast for a
 * level-triggered vector (KVM_EXIT_IOAPIC_EOI); extint_pending/extint_ack
 * are the PIC's INT line and INTA cycle, which vCPU 0 offers to KVM
 * (KVM_INTERRUPT); free runs once the vCPU threads are gone.
 */
struct lvm_irqchip {
	void *ctx;
	void (*set_irq)(void *ctx, unsigned gsi, int level);
	void (*eoi)(void *ctx, uint8_t vector);
	bool (*extint_pending)(void *ctx);
	uint8_t (*extint_ack)(void *ctx);
	void (*free)(void *ctx);
};

struct lvm_vcpu_stats {
	uint64_t io;
	uint64_t mmio;
	uint64_t other;
};

/* General registers, in the order of struct kvm_regs (see lvm_reg_names). */
#define LVM_REG_COUNT 18u

/*
 * Register values a hook gave for the access its vCPU is waiting on: bit i
 * of `mask` sets register i.  Written by the control thread while the vCPU
 * waits for its answer (the hook queue's lock orders the two); applied by
 * the vCPU thread once the access has completed (kvm/vcpu.c).
 */
struct lvm_regs_patch {
	uint32_t mask;
	uint64_t value[LVM_REG_COUNT];
};

struct lvm_vcpu {
	struct lvm_vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started; /* atomic (vm.c, start_vcpu_thread) */
	/* Set before its thread starts (vm.c, lvm_vm_start): the thread of
	 * vCPU 1 starts the APs after it; theirs inherit its seccomp filter. */
	bool starts_aps;
	bool inherits_filter;
	/* The board's per-vCPU set-up (lvm_vcpu_setup): atomic, one of
	 * LVM_VCPU_SETUP_*; pending ones run on the vCPU's own thread. */
	int setup_state;
	struct lvm_vcpu_stats stats; /* written by its own thread only */
	struct lvm_regs_patch patch;
	/* Sleep (vm_pause.c), under the VM's state_lock: the generation of
	 * the last sleep this vCPU entered, and whether it has not left it. */
	uint64_t sleep_gen;
	bool asleep;
};

/*
 * What the board does to each vCPU around a sleep (lvm_vm_suspend), on
 * that vCPU's own thread while it is out of KVM_RUN: `enter` as it parks
 * for the sleep (a PC puts it in its power-on state), `leave` once the
 * sleep is over and before it runs guest code again (a PC points the boot
 * vCPU at the OS's waking vector).  Either may stop the VM.
 */
struct lvm_sleep_ops {
	void (*enter)(void *ctx, struct lvm_vcpu *vcpu);
	void (*leave)(void *ctx, struct lvm_vcpu *vcpu);
	void *ctx;
};

/*
 * What the board does to each vCPU before it first runs (the x86 board: its
 * CPUID and MSR defaults).  A vCPU's own thread does it just before its
 * first KVM_RUN unless it was done already (the board does some at once,
 * lvm_vm_set_up_vcpus all of them): 64 vCPUs set up one after the other on
 * the control thread cost ~4 ms before the boot vCPU could start.
 */
struct lvm_vcpu_setup {
	int (*fn)(void *ctx, struct lvm_vcpu *vcpu); /* -1 + lvm_error */
	void *ctx;
};
enum {
	LVM_VCPU_SETUP_PENDING = 0,
	LVM_VCPU_SETUP_RUNNING,
	LVM_VCPU_SETUP_DONE,
	LVM_VCPU_SETUP_FAILED,
};

struct lvm_vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	struct lvm_memory mem;
	struct lvm_bus pio;
	struct lvm_bus mmio;
	struct lvm_console console;
	unsigned ncpus;
	struct lvm_vcpu *vcpus;

	pthread_mutex_t state_lock;
	int stop_fd; /* eventfd, readable once the VM has stopped */
	int stopping; /* atomic: vCPU loops leave when set */
	bool started;
	bool joined;
	enum lvm_stop_reason reason;
	int64_t code;
	char detail[256];
	/* Starting the APs (vm.c): under state_lock, signalled on park_cond. */
	bool aps_starting;
	char aps_error[256]; /* why an AP's thread could not start, or "" */
	struct timespec start_time;

	/* Pausing (vm_pause.c): vCPUs park at the top of their loop. */
	pthread_cond_t park_cond;
	int paused;       /* atomic: the host's pause (lvm_vm_pause) */
	unsigned parked;  /* under state_lock */

	/* Sleep (vm_pause.c): the vCPUs park from a suspend until its wake. */
	struct lvm_sleep_ops sleep_ops;
	int sleeping;          /* atomic */
	uint64_t sleep_gen;    /* under state_lock: +1 per suspend */
	unsigned asleep;       /* under state_lock: vCPUs that entered this sleep */
	bool wake_pending;     /* under state_lock: a wake waits for the rest to enter */
	uint64_t suspends, wakes; /* atomic: how many so far */
	const char *wake_reason;  /* of the last wake (a static string), under state_lock */

	struct lvm_vcpu_setup vcpu_setup; /* before any vCPU runs; none: nothing to do */

	/* Accesses to ranges the control thread (Lua) serves. */
	struct lvm_hookq hooks;

	enum lvm_irqchip_mode irqchip_mode;
	bool pit;
	struct lvm_irqchip irqchip; /* split mode only, once attached */
	/* KVM's GSI routing table, shared by the IOAPIC and MSI-X (gsi_routes.h). */
	struct lvm_gsi_routes gsi_routes;
};

struct lvm_vm_options {
	uint64_t mem_size;
	unsigned ncpus;
	enum lvm_irqchip_mode irqchip; /* zero: split */
	bool pit;                      /* an 8254 PIT (in KVM or userspace, per irqchip) */
};


/* Returns NULL (see lvm_error) and leaves nothing behind on failure. */
struct lvm_vm *lvm_vm_create(const struct lvm_vm_options *opts);
/*
 * Stops the vCPUs if they run and joins them (idempotent): after it no
 * vCPU thread touches a device, so their owners may free them.
 */
void lvm_vm_halt(struct lvm_vm *vm);
/* Halts the VM and releases every resource (devices must be gone already). */
void lvm_vm_destroy(struct lvm_vm *vm);
/* Installs the per-vCPU set-up (before lvm_vm_start; vCPUs set up already
 * stay so). */
void lvm_vm_set_vcpu_setup(struct lvm_vm *vm, const struct lvm_vcpu_setup *setup);
/* Runs the set-up of every vCPU not set up yet, on the calling thread (the
 * control thread, while no vCPU runs: before a save or a load of their
 * state); 0, or -1 + lvm_error from the first that fails. */
int lvm_vm_set_up_vcpus(struct lvm_vm *vm);
/* Starts one thread per vCPU; returns once all are started (or the VM
 * stopped meanwhile). */
int lvm_vm_start(struct lvm_vm *vm);
/* On the thread of vCPU 1, once it is filtered (`filtered`: else it starts
 * none): starts the threads of vCPUs 2 and on, which inherit its seccomp
 * filter, and tells lvm_vm_start it is done. */
void lvm_vm_start_aps(struct lvm_vm *vm, bool filtered);
void lvm_vm_stop(struct lvm_vm *vm, enum lvm_stop_reason reason, int64_t code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool lvm_vm_stopped(struct lvm_vm *vm);
/* Joins the vCPU threads once the VM has stopped (idempotent). */
void lvm_vm_join(struct lvm_vm *vm);
/* After a stop (the vCPU threads joined): forgets the stop, so that the
 * VM can be started again (a machine restarting after a guest reset). */
void lvm_vm_rearm(struct lvm_vm *vm);
const char *lvm_stop_reason_name(enum lvm_stop_reason reason);
/*
 * Drives GSI `gsi` (an lvm_irq_line setter): KVM_IRQ_LINE with the kernel
 * irqchip, the userspace PIC and IOAPIC with the split one (a no-op until
 * they are attached).
 */
void lvm_vm_set_irq(void *vm, unsigned gsi, int level);
/*
 * Pause: every vCPU leaves KVM_RUN and waits; returns once all of them
 * are parked (or blocked on the control thread, which then cannot serve
 * them) or the VM stopped.  Resume lets them go on (a sleeping VM's vCPUs
 * stay parked until its wake).  Control thread only.
 */
void lvm_vm_pause(struct lvm_vm *vm);
void lvm_vm_resume(struct lvm_vm *vm);
/* Whether the vCPUs are held: by the host's pause or by a sleep.  (The
 * snapshot code asks this: a sleeping VM can be saved without a pause.) */
bool lvm_vm_paused(const struct lvm_vm *vm);
/* Whether the host paused the VM (lvm_vm_pause), sleeping or not. */
bool lvm_vm_host_paused(const struct lvm_vm *vm);
/* vCPU threads: park while the VM is paused or sleeping (returns when
 * resumed and awake, or stopping); runs the sleep ops (lvm_sleep_ops). */
void lvm_vm_park(struct lvm_vm *vm);

/*
 * Sleep: the guest's platform suspended itself (ACPI S3).  Any thread may
 * call these; they never wait for the vCPUs.
 *   suspend: every vCPU leaves KVM_RUN, parks and runs sleep_ops.enter;
 *     false if the VM sleeps already or has stopped.
 *   wake: the sleep ends once every vCPU has entered it (at once if they
 *     all have); each then runs sleep_ops.leave and goes on.  `reason` (a
 *     static string) is kept for lvm_vm_wake_reason.  False if the VM is
 *     not sleeping (or a wake is already under way).
 * Both wake the control thread's wait (through the hook queue's eventfd),
 * which compares lvm_vm_sleep_counts with what it saw last.
 */
void lvm_vm_set_sleep_ops(struct lvm_vm *vm, const struct lvm_sleep_ops *ops);
bool lvm_vm_suspend(struct lvm_vm *vm);
bool lvm_vm_wake(struct lvm_vm *vm, const char *reason);
/* True from a suspend until its wake has let the vCPUs go. */
bool lvm_vm_sleeping(const struct lvm_vm *vm);
/* Suspends and wakes so far, and the reason of the last wake ("" if none). */
void lvm_vm_sleep_counts(struct lvm_vm *vm, uint64_t *suspends, uint64_t *wakes,
			 const char **wake_reason);
/* Loading a saved state, while no vCPU thread runs: the VM sleeps (its
 * vCPUs enter the sleep when they start; this counts as a suspend) or is
 * awake. */
void lvm_vm_sleep_restore(struct lvm_vm *vm, bool sleeping);
/* Sums of every vCPU's exit counters. */
struct lvm_vcpu_stats lvm_vm_exit_stats(const struct lvm_vm *vm);

#endif
