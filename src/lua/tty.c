/*
 * The interactive console: when a recipe forwards stdin to the guest
 * (stdin = true) and stdin is a terminal, the terminal goes into raw mode
 * while the machine runs, so every key (Ctrl-C included) reaches the guest
 * as typed.  Ctrl-A is the escape key, as with QEMU -nographic:
 *   Ctrl-A x         quit: the machine stops with reason "killed"
 *   Ctrl-A Ctrl-A    send one Ctrl-A to the guest
 *   Ctrl-A h         print this help on stderr
 * any other key after Ctrl-A is sent with it.
 *
 * The saved settings come back when the last such machine stops or is
 * closed, at exit() (a script error ends that way) and on the fatal
 * signals a terminal user or a supervisor sends (the handler restores the
 * terminal, then re-raises the signal with its default action).  A stdin
 * that is not a terminal is forwarded untouched, escapes included.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lua/binding.h"

#define ESCAPE_KEY 0x01 /* Ctrl-A */

static struct termios saved;
static volatile sig_atomic_t raw_active;
static unsigned holders;
static bool escape_pending;
static bool handlers_installed;

static const int fatal_signals[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };

static void restore_terminal(void)
{
	if (raw_active) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved); /* async-signal-safe */
		raw_active = 0;
	}
}

static void on_fatal_signal(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Once per process: only for signals nobody else handles. */
static void install_handlers(void)
{
	if (handlers_installed)
		return;
	handlers_installed = true;
	atexit(restore_terminal);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
			struct sigaction sa = { .sa_handler = on_fatal_signal };
			sigemptyset(&sa.sa_mask);
			sigaction(fatal_signals[i], &sa, NULL);
		}
	}
}

/* cfmakeraw(), but output keeps OPOST so luavmm's own messages stay readable. */
static bool enter_raw(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
		return false;
	install_handlers();
	struct termios t = saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	raw_active = 1; /* before tcsetattr: a signal in between must restore */
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) < 0) {
		raw_active = 0;
		return false;
	}
	return true;
}

void lvm_lua_tty_hold(struct lvm_lua_machine *m)
{
	if (m->tty_held || !m->stdin_input)
		return;
	if (holders == 0 && !enter_raw())
		return;
	holders++;
	m->tty_held = true;
	escape_pending = false;
}

void lvm_lua_tty_drop(struct lvm_lua_machine *m)
{
	if (!m->tty_held)
		return;
	m->tty_held = false;
	if (--holders == 0)
		restore_terminal();
}

static void print_help(void)
{
	static const char help[] = "\nluavmm console: C-a x  quit   C-a C-a  send C-a   C-a h  this help\n";
	if (write(STDERR_FILENO, help, sizeof(help) - 1) < 0) {
		/* nowhere to report it */
	}
}

/* Handles the key after Ctrl-A; returns how many bytes it left at out. */
static size_t escaped_key(struct lvm_lua_machine *m, char key, char *out)
{
	switch (key) {
	case 'x':
	case 'X':
		lvm_vm_stop(m->vm, LVM_STOP_HOST, 0, "quit from the console (Ctrl-A x)");
		return 0;
	case 'h':
	case 'H':
	case '?':
		print_help();
		return 0;
	case ESCAPE_KEY:
		out[0] = ESCAPE_KEY;
		return 1;
	default:
		out[0] = ESCAPE_KEY;
		out[1] = key;
		return 2;
	}
}

size_t lvm_lua_tty_filter(struct lvm_lua_machine *m, const char *buf, size_t n, char *out)
{
	if (!m->tty_held) {
		memcpy(out, buf, n);
		return n;
	}
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (escape_pending) {
			escape_pending = false;
			len += escaped_key(m, buf[i], out + len);
		} else if (buf[i] == ESCAPE_KEY) {
			escape_pending = true;
		} else {
			out[len++] = buf[i];
		}
	}
	return len;
}
