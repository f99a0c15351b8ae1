/*
 * Real KVM: a VM can be created and destroyed 1000 times in one process
 * without leaking fds, mappings or threads, and a started VM that runs a
 * test guest tears down completely too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "check.h"
#include "kvm/reaper.h"
#include "util/error.h"
#include "luavmm_config.h"

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Threads, less luavmm's one background teardown thread (kvm/reaper.h),
 * which lives for the rest of the process once a machine that ran is gone. */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		n += strcmp(comm, LVM_REAPER_THREAD_NAME "\n") != 0;
	}
	closedir(d);
	return n;
}

/*
 * Mappings a VM makes: guest RAM (the "luavmm-ram" memfd) and each vCPU's
 * kvm_run page ("anon_inode:kvm-vcpu").  Counting just these keeps the test
 * meaningful under ASan, whose allocator maps memory of its own.
 */
static int count_vm_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "luavmm-ram") || strstr(line, "kvm");
	fclose(f);
	return n;
}

static void test_create_destroy_1000_times(void)
{
	int fds = count_dir("/proc/self/fd");
	int maps = count_vm_mappings();
	for (int i = 0; i < 1000; i++) {
		struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = 2 };
		struct lvm_vm *vm = lvm_vm_create(&opts);
		if (!vm) {
			fprintf(stderr, "iteration %d: %s\n", i, lvm_error());
			check_failures++;
			return;
		}
		lvm_vm_destroy(vm); /* never started: torn down at once */
	}
	CHECK_EQ_U64(count_dir("/proc/self/fd"), fds);
	CHECK_EQ_U64(count_vm_mappings(), maps);
}

static void test_run_guest_and_tear_down_100_times(void)
{
	char kernel[512];
	const char *dir = getenv("LUAVMM_GUEST_DIR");
	snprintf(kernel, sizeof(kernel), "%s/exitcode.elf", dir ? dir : LUAVMM_BUILD_GUEST_DIR);
	int fds = count_dir("/proc/self/fd");
	int maps = count_vm_mappings();
	int threads = count_threads();
	for (int i = 0; i < 100; i++) {
		struct lvm_machine_config config = {
			.mem_size = 16u << 20, .ncpus = 1 + i % 2, .kernel = kernel,
			.cmdline = "7", .console_fd = -1,
		};
		struct lvm_machine *machine = lvm_machine_create(&config);
		struct lvm_vm *vm = machine ? lvm_machine_vm(machine) : NULL;
		if (!vm) {
			fprintf(stderr, "iteration %d: %s\n", i, lvm_error());
			check_failures++;
			return;
		}
		CHECK(lvm_machine_start(machine) == 0);
		/* Half the time, tear down while the guest may still run. */
		if (i % 2 == 0) {
			while (!lvm_vm_stopped(vm))
				usleep(1000);
			CHECK_EQ_U64(vm->reason, LVM_STOP_EXIT);
			CHECK_EQ_U64(vm->code, (7 << 1) | 1);
		}
		lvm_machine_destroy(machine);
	}
	lvm_reaper_drain(); /* machines that ran leave the kernel's share to the reaper */
	CHECK_EQ_U64(count_dir("/proc/self/fd"), fds);
	CHECK_EQ_U64(count_vm_mappings(), maps);
	CHECK_EQ_U64(count_threads(), threads);
}

static void test_bad_options_leave_nothing(void)
{
	int fds = count_dir("/proc/self/fd");
	struct lvm_vm_options zero_cpus = { .mem_size = 16u << 20, .ncpus = 0 };
	CHECK(lvm_vm_create(&zero_cpus) == NULL);
	CHECK(strstr(lvm_error(), "cpus") != NULL);
	struct lvm_vm_options huge = { .mem_size = 1ull << 50, .ncpus = 1 };
	CHECK(lvm_vm_create(&huge) == NULL);
	CHECK(strstr(lvm_error(), "memory") != NULL);
	CHECK_EQ_U64(count_dir("/proc/self/fd"), fds);
}

int main(void)
{
	RUN_TEST(test_bad_options_leave_nothing);
	RUN_TEST(test_create_destroy_1000_times);
	RUN_TEST(test_run_guest_and_tear_down_100_times);
	return CHECK_DONE();
}
