/*
 * Shared declarations of the Lua binding files (the only place in luavmm
 * that includes Lua headers).  The bindings reach the rest of luavmm only
 * through machine/ (the machine facade), kvm/ and util/.
 *
 * Stack contracts are written as in the Lua manual (§4.6): [-o, +p, x]
 * pops o values, pushes p, and x is "e" when the function may raise an
 * error, "-" when it never does.  A `machine_index` argument is the stack
 * index (absolute or relative) of the machine's userdata, and the `m`
 * passed beside it is that userdata's struct; functions convert relative
 * indices themselves before pushing anything.
 */
#ifndef LVM_LUA_BINDING_H
#define LVM_LUA_BINDING_H

#include <lauxlib.h>
#include <lua.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "kvm/vm.h"
#include "util/clock.h"
#include "util/value.h"

struct lvm_machine;

#define LVM_MACHINE_MT "luavmm.machine"
#define LVM_HOOK_ERRORS_SHOWN 10 /* printed in full per machine; then powers of two */
#define LVM_CONSOLE_MT "luavmm.console"

/* Guest output as the control thread sees it. */
struct lvm_output {
	char *pending; /* not yet consumed by expect() */
	size_t pending_len, pending_cap;
	char tail[1024]; /* the newest output, for error messages */
	size_t tail_len;
	/* console:log(): everything the guest printed, the newest LVM_LOG_MAX
	 * bytes, kept in a ring once full (log_start is its oldest byte) */
	char *log;
	size_t log_len, log_cap, log_start;
	unsigned long long log_dropped; /* bytes that fell out of the ring */
};
#define LVM_LOG_MAX (4u << 20)

/* timers.c: vm:after / vm:every, in a binary heap ordered by (due, id). */
struct lvm_timer {
	double due;      /* CLOCK_MONOTONIC seconds */
	double interval; /* 0: one-shot */
	int fn_ref;      /* LUA_NOREF once cancelled or fired (the slot is free) */
	unsigned id;
	unsigned heap_pos; /* index in the machine's heap while pending */
};

/* A machine's timers: slots (reused through a free list) and the heap of
 * the pending ones' slot numbers. */
struct lvm_timers {
	struct lvm_timer *slots;
	unsigned nslots, slots_cap;
	unsigned *heap, nheap;   /* heap has room for slots_cap entries */
	unsigned *free, nfree;   /* free slot numbers, room for slots_cap */
	unsigned next_id;
	double turn;             /* the time the running turn started (< 0: none) */
};

struct lvm_control; /* control.c: the control socket; serve answers clients' chunks [-0, +0, e]. */

/* The machine object's userdata (machine.c). */
struct lvm_lua_machine {
	struct lvm_machine *machine; /* machine/machine.h; NULL once closed */
	struct lvm_vm *vm;           /* lvm_machine_vm(machine), for kvm-level calls */
	char name[64];               /* the recipe's name key ("" if none) */
	/* hooks.c: how hooks run */
	int hook_limit;          /* Lua VM instructions per hook call */
	double hook_timeout;     /* seconds per hook call (limits.c) */
	bool continue_on_error;  /* on_hook_error = "continue" */
	bool in_hook;            /* a hook is running (no waiting inside one) */
	bool stop_fired;         /* the stop event has been delivered */
	int hook_error_ref;      /* registry: the last hook error with traceback */
	uint64_t hook_errors;    /* how many hooks failed (only the first few are printed) */
	struct lvm_timers timers; /* timers.c */
	/* pump.c: console lines for on_line */
	char line[1024];
	size_t line_len;
	struct lvm_control *control;
	int sink_ref;   /* registry ref of a Lua console function, or LUA_NOREF */
	bool stdin_input;
	bool stdin_eof;
	bool tty_held; /* tty.c: this machine keeps the terminal in raw mode */
	int stop_signal; /* pump.c: the signal that stopped it (0: none) */
	bool power_button; /* runtime.c: the recipe pressed it: a power-off is success */
	bool restart_on_reset; /* on_reset = "restart" */
	uint64_t restarts;     /* how many times it restarted after a guest reset */
	double last_output, last_status; /* pump.c: `luavmm run -v` status lines */
	struct lvm_output out;
};

/*
 * Process exit statuses (README, "Exit status"): what `luavmm run` exits
 * with when a recipe returns a wait() result, which carries it as `code`.
 * A debug-exit value V != 0 gives V clamped to 1..99; a signal N 128 + N.
 */
enum {
	LVM_STATUS_OK = 0,
	LVM_STATUS_SHUTDOWN = 101,   /* a vCPU triple-faulted */
	LVM_STATUS_RESET = 102,      /* the guest pulsed reset */
	LVM_STATUS_ERROR = 103,      /* KVM could not run the guest */
	LVM_STATUS_HOOK_ERROR = 104, /* a Lua hook, policy or console function raised */
	LVM_STATUS_KILLED = 105,     /* vm:stop(), the watchdog, Ctrl-A x */
	LVM_STATUS_POWEROFF = 106,   /* the guest powered off unasked (no power button) */
	LVM_STATUS_TIMEOUT = 124,    /* wait(timeout) passed (as timeout(1)) */
};
/* machine.c: the status the stopped machine's result stands for. */
int lvm_lua_exit_status(const struct lvm_lua_machine *m);

/* machine_config.c: builds a machine from the table at `index`
 * [-0, +0, e]: raises "machine: ..." on any bad key or failure. */
struct lvm_saved_state;
struct lvm_machine *lvm_lua_create_machine(lua_State *L, int index, struct lvm_lua_machine *m,
					   const struct lvm_saved_state *restore);

/* machine.c: a new machine object from the recipe table at `index`, or
 * (restore non-NULL) continuing a saved state [-0, +1, e]. */
int lvm_lua_machine_build(lua_State *L, int index, const struct lvm_saved_state *restore);

/* recipe.c: the data of the recipe table at `index` as a string [-0, +1, e]
 * (functions left out); decode pushes the table back, or returns false
 * (nothing pushed) if the bytes are not an encoded recipe. */
void lvm_lua_recipe_encode(lua_State *L, int index);
bool lvm_lua_recipe_decode(lua_State *L, const void *bytes, size_t len);

/* snapshot.c: vm:snapshot(dir), vm:fork([overrides]); luavmm.restore(dir [, overrides]). */
void lvm_lua_register_snapshot(lua_State *L);
int lvm_lua_restore(lua_State *L);

/* value.c: the value at `index` as a util/value.h tree [-0, +1, e]: pushes
 * the anchor that keeps the tree's memory alive; pop it when done. */
struct lvm_value *lvm_lua_to_value(lua_State *L, int index);

/* devices.c: vm.KEY for every named device kind (vm.disks, vm.nets), whose
 * objects have :stats() and, as the kind offers them, a filter method
 * (:on_request, :on_packet) and :set_rate_limit{}. */
void lvm_lua_register_devices(lua_State *L);
/* Pushes the table of `key`'s devices, or nothing if `key` names no
 * device kind; returns the count pushed [-0, +(0|1), e]. */
int lvm_lua_push_devices(lua_State *L, int machine_index, const char *key);
/* vsock.c: vm.vsock:connect/listen/on_connect: method pushes the function
 * for `name` and returns true, or pushes nothing and returns false
 * [-0, +(0|1), -]; decide answers the device's question about a new
 * connection (filter.c passes the vsock requests on); register: the
 * metatables of streams and listeners. */
struct lvm_filter_request;
struct lvm_filter_result;
bool lvm_lua_vsock_method(lua_State *L, const char *name);
void lvm_lua_vsock_decide(lua_State *L, struct lvm_lua_machine *m, int fn_ref,
			  const struct lvm_filter_request *req, struct lvm_filter_result *result);
void lvm_lua_register_vsock(lua_State *L);

/* device_tree.c: vm:dtb(), vm:device_tree() */
int lvm_lua_machine_dtb(lua_State *L);
int lvm_lua_machine_device_tree(lua_State *L);

/* filter.c: request filters written in Lua (disk:on_request, net:on_packet),
 * served on the control thread.  set_filter [-0, +0, e]: the function (or
 * nil) at `fn_index` becomes the filter of the device `name` of the
 * machine at `machine_index`; `net` selects the frame verdicts; returns
 * what the device should hold (NULL: none). */
struct lvm_filter;
struct lvm_hook_call;
const struct lvm_filter *lvm_lua_set_filter(lua_State *L, int machine_index, int fn_index,
					    const char *method, const char *object,
					    const char *name, bool net);
void lvm_lua_serve_call(lua_State *L, struct lvm_lua_machine *m, struct lvm_hook_call *call);
void lvm_lua_filters_release(lua_State *L, int machine_index);

/* machine.c: luavmm.machine{} [-0, +1, e]; the machine at `index`, raising
 * "machine: already closed" for a closed one [-0, +0, e]. */
int lvm_lua_machine_new(lua_State *L);
void lvm_lua_register_machine(lua_State *L);
struct lvm_lua_machine *lvm_lua_check_machine(lua_State *L, int index);

/* console.c: pushes a new vm.console object for the machine [-0, +1, e]. */
void lvm_lua_register_console(lua_State *L);
void lvm_lua_push_console(lua_State *L, int machine_index);

/* pump.c.  register_live [-0, +0, e]: remembers the machine at `index`
 * (weakly) so every wait serves its hooks.  pump [-0, +0, e]: moves guest
 * output to Lua and stdin to the guest until the machine stops or
 * `deadline` (CLOCK_MONOTONIC seconds; < 0 = none) passes; with
 * `until_output`, returns as soon as new output arrived; returns true if
 * new output arrived.  drain [-0, +0, e]: takes the output already
 * captured.  push_tail [-0, +1, e]: the newest output as one printable
 * line (control characters escaped). */
void lvm_lua_register_live(lua_State *L, int index);
bool lvm_lua_pump(lua_State *L, struct lvm_lua_machine *m, int machine_index, double deadline,
		  bool until_output);
void lvm_lua_drain(lua_State *L, struct lvm_lua_machine *m, int machine_index);
void lvm_lua_push_tail(lua_State *L, const struct lvm_lua_machine *m);
/* output_free: the expect() buffer (at close); log_free: the console log
 * (at __gc, so console:log() outlives close()).  push_log [-0, +1, e]: the
 * console log, oldest byte first. */
void lvm_lua_output_free(struct lvm_output *out);
void lvm_lua_log_free(struct lvm_output *out);
void lvm_lua_push_log(lua_State *L, const struct lvm_output *out);
/* serve_round [-0, +0, e]: one round of serving every started machine,
 * waiting at most until `deadline` (luavmm.wait_until). */
void lvm_lua_serve_round(lua_State *L, double deadline);
/* `luavmm run` only: SIGINT/SIGTERM stop every machine with reason
 * "killed" (the wait in progress returns; a second signal ends the
 * process); signal_caught is the first one received (0: none). */
void lvm_lua_catch_signals(void);
int lvm_lua_signal_caught(void);
/* `luavmm run -v`: note prints "luavmm: NAME: ..." on stderr when set. */
extern int lvm_lua_verbose;
void lvm_lua_note(const struct lvm_lua_machine *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* tty.c: the interactive console (raw terminal, Ctrl-A escapes) for
 * stdin = true.  hold: on start (raw mode if stdin is a terminal); drop: on
 * stop and close (the last one restores the terminal).  filter: copies the
 * `n` bytes read from stdin to `out` (room for n + 1) minus escape
 * sequences, acting on them (Ctrl-A x stops the VM); returns the count. */
void lvm_lua_tty_hold(struct lvm_lua_machine *m);
void lvm_lua_tty_drop(struct lvm_lua_machine *m);
size_t lvm_lua_tty_filter(struct lvm_lua_machine *m, const char *buf, size_t n, char *out);

/* hooks.c: on_pio/on_mmio/on/on_line and running hooks safely. */
#define LVM_MACHINE_STATE 2 /* user value: a table of the machine's Lua hooks */
#define LVM_MACHINE_RECIPE 3 /* user value: the recipe's data (recipe.c), for snapshot and fork */
#define LVM_MACHINE_USER_VALUES 3
void lvm_lua_register_hooks(lua_State *L);
void lvm_lua_hooks_init(struct lvm_lua_machine *m);
/* Pushes the machine's state table field `key` (a table, created on demand)
 * [-0, +1, e]. */
void lvm_lua_push_state(lua_State *L, int machine_index, const char *key);
/* Calls the function below `nargs` arguments on the stack as a hook:
 * protected, instruction-limited; an error is reported and (unless the
 * recipe asked to continue) stops the VM with "hook_error".  Leaves
 * `nresults` values on success; returns false (nothing left) on error
 * [-(nargs+1), +(nresults|0), -]. */
bool lvm_lua_call_hook(lua_State *L, struct lvm_lua_machine *m, int nargs, int nresults,
		       const char *what);
/* The same protection without the reporting: returns the lua_pcall status,
 * leaving the error message (with traceback) on the stack
 * [-(nargs+1), +(nresults|1), -]. */
int lvm_lua_pcall_limited(lua_State *L, struct lvm_lua_machine *m, int nargs, int nresults);
/* serve_hooks, fire_event (pops its `nargs` event arguments), deliver_line:
 * run the machine's hooks [-0 (fire_event: -nargs), +0, e]. */
void lvm_lua_serve_hooks(lua_State *L, struct lvm_lua_machine *m, int machine_index);
void lvm_lua_fire_event(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			const char *event, int nargs);
void lvm_lua_deliver_line(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			  const char *line, size_t len);
/* {{kind=, base=, len=, accesses=, removed=}, ...} for vm:stats().hooks */
void lvm_lua_push_hook_stats(lua_State *L, struct lvm_lua_machine *m);
void lvm_lua_hooks_release(lua_State *L, struct lvm_lua_machine *m);
void lvm_lua_check_not_in_hook(lua_State *L, struct lvm_lua_machine *m, const char *what);
/* Hooks running / waits in progress on this thread (hooks.c). */
extern _Thread_local int lvm_lua_hook_depth;
extern _Thread_local int lvm_lua_pump_depth;

/* limits.c: the budget of one hook call (instructions and seconds, shared
 * by every coroutine it runs; see limits.c).  begin arms it unless one is
 * running already (a nested call shares it) and returns whether it did;
 * pass that to end.  install [-0, +0, e]: hooks coroutine.resume/wrap and
 * bounds string.find/match/gmatch/gsub while a budget runs (once per state). */
enum { LVM_BUDGET_INSTRUCTIONS = 1, LVM_BUDGET_TIME = 2 };
struct lvm_lua_budget {
	lua_Integer left, limit; /* instructions */
	double deadline, seconds;
	int tick; /* instructions between two checks */
	int spent; /* 0, or why it is spent (LVM_BUDGET_*) */
	lua_State *root; /* the thread that began the call */
	int base;        /* its stack top below the call's results */
};
bool lvm_lua_budget_begin(lua_State *L, struct lvm_lua_budget *b, lua_Integer limit,
			  double seconds);
/* Returns `status`, or LUA_ERRRUN with the overrun message replacing the
 * results above b->base when the call caught its overrun and returned. */
int lvm_lua_budget_end(lua_State *L, struct lvm_lua_budget *b, bool began, int status);
bool lvm_lua_budget_active(void);
void lvm_lua_limits_install(lua_State *L);

/* timers.c: run_timers calls the ones due when it starts as hooks (ones
 * they add wait for the next call) [-0, +0, e]; init before any other. */
#define LVM_TIMERS_MAX 100000u /* pending timers per machine */
void lvm_lua_register_timers(lua_State *L);
void lvm_lua_timers_init(struct lvm_lua_machine *m);
double lvm_lua_next_timer(const struct lvm_lua_machine *m); /* < 0: none */
void lvm_lua_run_timers(lua_State *L, struct lvm_lua_machine *m, int machine_index);
void lvm_lua_timers_free(lua_State *L, struct lvm_lua_machine *m);

/* runtime.c: pause/resume/read/write/regs/set_regs/irq/power_button/shutdown */
void lvm_lua_register_runtime(lua_State *L);

/* control.c: the control socket; serve answers clients' chunks [-0, +0, e]. */
int lvm_lua_control_open(lua_State *L, struct lvm_lua_machine *m, const char *path);
/* pollfds the control socket needs; returns how many were added (at most max). */
unsigned lvm_lua_control_pollfds(struct lvm_lua_machine *m, struct pollfd *fds, unsigned max);
void lvm_lua_control_serve(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			   const struct pollfd *fds, unsigned n);
void lvm_lua_control_close(lua_State *L, struct lvm_lua_machine *m);
/* A default control path set by `luavmm run --control PATH` (NULL: none). */
extern const char *lvm_lua_default_control;

/* sandbox.c: removes os (but time/clock/date), io, debug, dofile/loadfile,
 * binary chunks and C module loading from the state's globals. */
void lvm_lua_sandbox(lua_State *L);

/* allow.c: the host files and taps a sandboxed recipe's machines may open
 * (`luavmm run --allow`).  check is a struct lvm_machine_config allow
 * callback: 0 when allowed or not enforced, else -1 + lvm_error. */
extern bool lvm_lua_allow_enforced;
int lvm_lua_allow_check(void *opaque, const char *what, const char *path, bool write);

/* ratelimit.c: luavmm.ratelimiter{...} */
void lvm_lua_register_ratelimit(lua_State *L);
int lvm_lua_ratelimiter_new(lua_State *L);

/* Adds a method table to the machine's methods (used by the files above). */
void lvm_lua_add_methods(lua_State *L, const luaL_Reg *methods);

/* module.c: durations (README, "Durations").  opt_duration: seconds from a
 * number or a string with a unit ("250ms", "2s"), `def` for none/nil
 * [-0, +0, e].  timer_ms: the delay of vm:after/every in ms (a bare number
 * is deprecated milliseconds) [-0, +0, e]. */
double lvm_lua_opt_duration(lua_State *L, int index, double def);
double lvm_lua_timer_ms(lua_State *L, int index, const char *method);

int luaopen_luavmm(lua_State *L);

#endif
