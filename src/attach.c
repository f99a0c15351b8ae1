/*
 * luavmm attach SOCKET [-e CHUNK]: a Lua prompt on a running VM's control
 * socket (see src/lua/control.c).  With -e it runs one chunk, prints the
 * results and exits 0 (1 if the chunk failed).  Line editing comes from
 * readline when the build found it.  No Lua here: the VM evaluates.
 */
#include "attach.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/control_proto.h"

#ifdef LUAVMM_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "luavmm: attach: %s: path too long for a unix socket\n", path);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "luavmm: attach: cannot connect to %s: %s (is the VM running with control = that path?)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends one chunk and prints the reply; 0 ok, 1 chunk error, -1 connection lost. */
static int roundtrip(int fd, const char *chunk)
{
	char *answer = NULL;
	long n;
	size_t len = strlen(chunk);
	if (len > LVM_CONTROL_MAX_MESSAGE) {
		fprintf(stderr, "luavmm: attach: the chunk (%zu bytes) is over the control socket's frame limit of %u bytes\n",
			len, LVM_CONTROL_MAX_MESSAGE);
		return 1;
	}
	/* A refusal may already be waiting: read the answer even if sending failed. */
	(void)lvm_control_send(fd, chunk, len);
	if ((n = lvm_control_recv(fd, &answer)) < 1) {
		if (n < 0 && errno == EMSGSIZE)
			fprintf(stderr, "luavmm: attach: the VM's reply is over the control socket's frame limit of %u bytes\n",
				LVM_CONTROL_MAX_MESSAGE);
		else
			fprintf(stderr, "luavmm: attach: the VM closed the connection (it stopped, or refused us)\n");
		free(answer);
		return -1;
	}
	bool ok = answer[0] == '0';
	FILE *out = ok ? stdout : stderr;
	fputs(answer + 1, out);
	if (n > 1 && answer[n - 1] != '\n')
		fputc('\n', out);
	fflush(out);
	free(answer);
	return ok ? 0 : 1;
}

static char *read_line(const char *prompt)
{
#ifdef LUAVMM_HAVE_READLINE
	char *line = readline(prompt);
	if (line && *line)
		add_history(line);
	return line;
#else
	fputs(prompt, stdout);
	fflush(stdout);
	size_t cap = 0;
	char *line = NULL;
	if (getline(&line, &cap, stdin) < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\n")] = '\0';
	return line;
#endif
}

/* `help` at the prompt: answered here, the VM never sees it. */
static void print_help(void)
{
	fputs("Lua chunks run inside the VMM with `vm` (this machine) and the recipe's globals;\n"
	      "`return x` prints x (tables nested, addresses in hex).  Useful calls:\n"
	      "  return vm:stats()                 exits, devices, unclaimed ports, hooks, uptime\n"
	      "  vm:pause()  vm:resume()           park and release the vCPUs\n"
	      "  return vm:regs(0)                 vCPU 0's registers (paused)\n"
	      "  return vm:read(0x1000, 16)        guest RAM\n"
	      "  return vm.console:output()        guest output not yet consumed\n"
	      "  vm.console:send('text\\n')         type into the guest's console\n"
	      "  return vm.disks, vm.nets          the devices; :stats(), :set_rate_limit{...}\n"
	      "  vm:irq(5)  vm:power_button()  vm:stop()\n"
	      "Ctrl-D leaves the prompt; the VM goes on.\n",
	      stdout);
}

static int interactive(int fd)
{
	char *line;
	while ((line = read_line("luavmm> ")) != NULL) {
		if (strcmp(line, "help") == 0 || strcmp(line, "?") == 0) {
			print_help();
			free(line);
			continue;
		}
		int rc = *line ? roundtrip(fd, line) : 0;
		free(line);
		if (rc < 0)
			return 1;
	}
	return 0;
}

int lvm_attach_main(int argc, char **argv)
{
	const char *path = NULL, *chunk = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-e") == 0 && i + 1 < argc)
			chunk = argv[++i];
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "luavmm: attach: unexpected argument '%s' (usage: luavmm attach SOCKET [-e CHUNK])\n",
				argv[i]);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "luavmm: attach needs a socket path (usage: luavmm attach SOCKET [-e CHUNK])\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a closed socket is an error reply, not death */
	int fd = connect_to(path);
	if (fd < 0)
		return 1;
	int rc = chunk ? roundtrip(fd, chunk) : interactive(fd);
	close(fd);
	return rc < 0 ? 1 : rc;
}
