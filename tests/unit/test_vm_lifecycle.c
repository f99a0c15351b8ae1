/*
 * Real KVM: a VM can be created and destroyed 1000 times in one process
 * without leaking fds, mappings or threads, and a started VM that runs a
 * test guest tears down completely too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arch/x86/pc.h"
#include "check.h"
#include "core/error.h"

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

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;
	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_create_destroy_1000_times(void)
{
	int fds = count_dir("/proc/self/fd");
	int maps = count_lines("/proc/self/maps");
	for (int i = 0; i < 1000; i++) {
		struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = 2 };
		struct lvm_vm *vm = lvm_vm_create(&opts);
		if (!vm) {
			fprintf(stderr, "iteration %d: %s\n", i, lvm_error());
			check_failures++;
			return;
		}
		lvm_vm_destroy(vm);
	}
	CHECK_EQ_U64(count_dir("/proc/self/fd"), fds);
	CHECK_EQ_U64(count_lines("/proc/self/maps"), maps);
}

static void test_run_guest_and_tear_down_100_times(void)
{
	char kernel[512];
	const char *dir = getenv("LUAVMM_GUEST_DIR");
	snprintf(kernel, sizeof(kernel), "%s/exitcode.elf", dir ? dir : "guests");
	int fds = 0, maps = 0, threads = 0;
	/* The first rounds fill glibc's cache of thread stacks; count after them. */
	const int warm_up = 4;
	for (int i = 0; i < 100 + warm_up; i++) {
		if (i == warm_up) {
			fds = count_dir("/proc/self/fd");
			maps = count_lines("/proc/self/maps");
			threads = count_dir("/proc/self/task");
		}
		struct lvm_machine_config config = {
			.mem_size = 16u << 20, .ncpus = 1 + i % 2, .kernel = kernel,
			.cmdline = "7", .console_fd = -1,
		};
		struct lvm_vm *vm = lvm_pc_create(&config);
		if (!vm) {
			fprintf(stderr, "iteration %d: %s\n", i, lvm_error());
			check_failures++;
			return;
		}
		CHECK(lvm_vm_start(vm) == 0);
		/* Half the time, tear down while the guest may still run. */
		if (i % 2 == 0) {
			while (!lvm_vm_stopped(vm))
				usleep(1000);
			CHECK_EQ_U64(vm->reason, LVM_STOP_EXIT);
			CHECK_EQ_U64(vm->code, (7 << 1) | 1);
		}
		lvm_vm_destroy(vm);
	}
	CHECK_EQ_U64(count_dir("/proc/self/fd"), fds);
	CHECK_EQ_U64(count_lines("/proc/self/maps"), maps);
	CHECK_EQ_U64(count_dir("/proc/self/task"), threads);
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
