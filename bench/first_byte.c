/*
 * first_byte: run a command with its stdout on a pipe and time, with
 * CLOCK_MONOTONIC, from just before execve() to
 *   - the first byte it writes ("first"),
 *   - the first occurrence of each -m MARKER in its output ("m1", "m2", ...),
 *   - end of output and exit ("end").
 * With -s MARKER it also snapshots /proc/PID/status (VmRSS, RssAnon,
 * RssFile, RssShmem, VmHWM) and /proc/PID/smaps_rollup (Private_Clean +
 * Private_Dirty, Pss), all in KiB, when MARKER shows up, while the command
 * is still running.
 *
 * usage: first_byte [-t SECONDS] [-m MARKER]... [-s MARKER] [-k] [-e] -- CMD [ARG]...
 *   -t  give up (kill the command) after SECONDS (default 30)
 *   -k  kill the command as soon as everything asked for was seen
 *   -e  echo the command's output to stderr (debugging)
 *
 * Prints one line: "first=NS m1=NS ... end=NS reaped=NS status=S maxrss=KB rss=KB anon=KB file=KB
 * shmem=KB hwm=KB priv=KB pss=KB"; times are nanoseconds since exec, -1
 * when never seen.
 * The child's stdin is /dev/null; its stderr is inherited.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MARKERS 8
#define TAIL_MAX 4096

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* execve needs a path; resolve PATH here so the child does no searching. */
static const char *resolve(const char *cmd, char *buf, size_t len)
{
	if (strchr(cmd, '/'))
		return cmd;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		if (n > 0 && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, path, cmd) < len &&
		    access(buf, X_OK) == 0)
			return buf;
		path += n + (end ? 1 : 0);
	}
	return cmd;
}

struct status_snapshot {
	long rss, anon, file, shmem, hwm, priv, pss;
};

static void snapshot(pid_t pid, struct status_snapshot *s)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		long v;
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			s->rss = v;
		else if (sscanf(line, "RssAnon: %ld", &v) == 1)
			s->anon = v;
		else if (sscanf(line, "RssFile: %ld", &v) == 1)
			s->file = v;
		else if (sscanf(line, "RssShmem: %ld", &v) == 1)
			s->shmem = v;
		else if (sscanf(line, "VmHWM: %ld", &v) == 1)
			s->hwm = v;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	long priv_clean = -1, priv_dirty = -1;
	while (fgets(line, sizeof(line), f)) {
		long v;
		if (sscanf(line, "Private_Clean: %ld", &v) == 1)
			priv_clean = v;
		else if (sscanf(line, "Private_Dirty: %ld", &v) == 1)
			priv_dirty = v;
		else if (sscanf(line, "Pss: %ld", &v) == 1)
			s->pss = v;
	}
	fclose(f);
	if (priv_clean >= 0 && priv_dirty >= 0)
		s->priv = priv_clean + priv_dirty;
}

static void usage(void)
{
	fputs("usage: first_byte [-t SECONDS] [-m MARKER]... [-s MARKER] [-k] [-e] -- CMD [ARG]...\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *markers[MAX_MARKERS];
	int nmarkers = 0;
	const char *snap_marker = NULL;
	double timeout_s = 30;
	int kill_early = 0, echo = 0, opt;
	while ((opt = getopt(argc, argv, "+t:m:s:ke")) != -1) {
		switch (opt) {
		case 't': timeout_s = atof(optarg); break;
		case 'm':
			if (nmarkers == MAX_MARKERS)
				usage();
			markers[nmarkers++] = optarg;
			break;
		case 's': snap_marker = optarg; break;
		case 'k': kill_early = 1; break;
		case 'e': echo = 1; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	char **cmd = argv + optind;
	char pathbuf[4096];
	const char *exe = resolve(cmd[0], pathbuf, sizeof(pathbuf));

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe2");
	/* The child stores its pre-exec timestamp here. */
	long long *t_exec = mmap(NULL, sizeof(long long), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t_exec == MAP_FAILED)
		die("mmap");
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null");

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (dup2(pfd[1], STDOUT_FILENO) < 0 || dup2(devnull, STDIN_FILENO) < 0)
			_exit(127);
		*t_exec = now_ns();
		execv(exe, cmd);
		perror(exe);
		_exit(127);
	}
	close(pfd[1]);

	long long first = -1, end = -1, mark[MAX_MARKERS];
	for (int i = 0; i < MAX_MARKERS; i++)
		mark[i] = -1;
	struct status_snapshot snap = { -1, -1, -1, -1, -1, -1, -1 };
	int snapped = 0;
	/* Enough of the output to find markers that straddle reads. */
	static char tail[TAIL_MAX * 2];
	size_t tail_len = 0;
	const long long deadline = now_ns() + (long long)(timeout_s * 1e9);
	int timed_out = 0;

	for (;;) {
		long long left_ms = (deadline - now_ns()) / 1000000;
		if (left_ms <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int pr = poll(&p, 1, (int)left_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char buf[TAIL_MAX];
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		long long t = now_ns();
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			end = t;
			break;
		}
		if (first < 0)
			first = t;
		if (echo)
			fwrite(buf, 1, (size_t)n, stderr);
		if (tail_len + (size_t)n > sizeof(tail) - 1) {
			size_t keep = TAIL_MAX - 1 < tail_len ? TAIL_MAX - 1 : tail_len;
			memmove(tail, tail + tail_len - keep, keep);
			tail_len = keep;
		}
		memcpy(tail + tail_len, buf, (size_t)n);
		tail_len += (size_t)n;
		tail[tail_len] = 0;
		int pending = 0;
		for (int i = 0; i < nmarkers; i++) {
			if (mark[i] < 0 && strstr(tail, markers[i]))
				mark[i] = t;
			pending |= mark[i] < 0;
		}
		if (snap_marker && !snapped && strstr(tail, snap_marker)) {
			snapshot(pid, &snap);
			snapped = 1;
		}
		pending |= snap_marker && !snapped;
		if (kill_early && !pending) {
			kill(pid, SIGKILL);
			end = t;
			break;
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	int wstatus = 0;
	struct rusage usage = { 0 };
	while (wait4(pid, &wstatus, 0, &usage) < 0 && errno == EINTR)
		;
	long long reaped = now_ns(); /* the process is gone, its teardown included */
	long long t0 = *t_exec;
	int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (timed_out)
		status = -1;

	printf("first=%lld", first < 0 ? -1 : first - t0);
	for (int i = 0; i < nmarkers; i++)
		printf(" m%d=%lld", i + 1, mark[i] < 0 ? -1 : mark[i] - t0);
	printf(" end=%lld reaped=%lld status=%d maxrss=%ld", end < 0 ? -1 : end - t0, reaped - t0,
	       status, usage.ru_maxrss);
	if (snap_marker)
		printf(" rss=%ld anon=%ld file=%ld shmem=%ld hwm=%ld priv=%ld pss=%ld", snap.rss,
		       snap.anon, snap.file, snap.shmem, snap.hwm, snap.priv, snap.pss);
	printf("\n");
	return 0;
}
