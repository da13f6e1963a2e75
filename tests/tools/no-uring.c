/* SPDX-License-Identifier: MIT */
/*
 * kio-no-uring - run a program where io_uring is blocked, the way a
 * container runtime blocks it.
 *
 *   kio-no-uring [--errno EPERM|ENOSYS|EACCES] PROGRAM [ARGS...]
 *
 * Installs a seccomp filter that makes io_uring_setup, io_uring_enter and
 * io_uring_register fail with the given errno (default EPERM, what Docker's
 * default profile and Kubernetes' RuntimeDefault answer; ENOSYS is what a
 * kernel without io_uring answers) and allows every other system call, then
 * execs PROGRAM. A seccomp filter survives fork and exec, so wrapping a
 * shell script blocks io_uring for every process the script starts.
 *
 * Exit status: PROGRAM's; 2 for bad arguments; 125 when the filter cannot
 * be installed; 126/127 when PROGRAM cannot be run / is not found (the
 * numbers env(1) and the shells use).
 *
 * Raw BPF rather than libseccomp: the filter is a dozen instructions, and
 * the test should not need a library the machine may lack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The architectures whose system call numbers the filter knows. A filter
 * that compared numbers of one architecture against calls made through
 * another would allow io_uring under another number (or block an unrelated
 * call), so a call from any other architecture kills the process instead.
 * The compat entry is the 32-bit ABI the 64-bit kernel also runs.
 */
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define COMPAT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define COMPAT_ARCH AUDIT_ARCH_ARM
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#elif defined(__arm__)
#define NATIVE_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#else
#error "kio-no-uring: add this architecture's AUDIT_ARCH (and check its io_uring numbers)"
#endif

/*
 * io_uring came after Linux 5.1 unified the numbers of new system calls:
 * 425, 426 and 427 on every architecture listed above, native and compat
 * alike, which is what lets one comparison serve both. The checks make sure
 * the headers agree.
 */
#define NR_IO_URING_SETUP 425
#define NR_IO_URING_ENTER 426
#define NR_IO_URING_REGISTER 427
#if defined(__NR_io_uring_setup) && __NR_io_uring_setup != NR_IO_URING_SETUP
#error "io_uring_setup has another number here"
#endif
#if defined(__NR_io_uring_enter) && __NR_io_uring_enter != NR_IO_URING_ENTER
#error "io_uring_enter has another number here"
#endif
#if defined(__NR_io_uring_register) && __NR_io_uring_register != NR_IO_URING_REGISTER
#error "io_uring_register has another number here"
#endif

/*
 * x32 programs call through AUDIT_ARCH_X86_64 with this bit set in the
 * number (and the same 425..427 below it): clearing it before comparing
 * blocks them too. No native x86_64 number has the bit.
 */
#define X32_SYSCALL_BIT 0x40000000u

#ifndef SECCOMP_RET_KILL_PROCESS /* headers older than Linux 4.14 */
#define SECCOMP_RET_KILL_PROCESS 0x80000000u
#endif

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{"EPERM", EPERM},   /* Docker's default profile, RuntimeDefault, io_uring_disabled */
	{"ENOSYS", ENOSYS}, /* a kernel built without io_uring, or too old */
	{"EACCES", EACCES}, /* what some sandboxes answer; kio falls back on it too */
};

static int usage(FILE *to, int status)
{
	fprintf(to, "usage: kio-no-uring [--errno EPERM|ENOSYS|EACCES] PROGRAM [ARGS...]\n"
		    "Runs PROGRAM (and everything it starts) with io_uring_setup,\n"
		    "io_uring_enter and io_uring_register failing with the given errno\n"
		    "(default EPERM), as a container's seccomp profile makes them fail.\n");
	return status;
}

static int errno_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strcmp(name, errnos[i].name) == 0)
			return errnos[i].value;
	return -1;
}

static int install_filter(int err)
{
	const unsigned int fail = SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA);
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
#ifdef COMPAT_ARCH
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COMPAT_ARCH, 1, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_IO_URING_SETUP, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_IO_URING_ENTER, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_IO_URING_REGISTER, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, fail),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(code) / sizeof(code[0])),
		.filter = code,
	};

	/* Lets an unprivileged user install the filter, as runtimes do. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "kio-no-uring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
		fprintf(stderr, "kio-no-uring: installing the seccomp filter: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *errno_name = "EPERM";
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return usage(stdout, 0);
		if (strcmp(a, "--errno") == 0 && i + 1 < argc) {
			errno_name = argv[i + 1];
			i += 2;
		} else if (strncmp(a, "--errno=", 8) == 0) {
			errno_name = a + 8;
			i++;
		} else {
			fprintf(stderr, "kio-no-uring: bad option '%s'\n", a);
			return usage(stderr, 2);
		}
	}
	if (i >= argc) {
		fprintf(stderr, "kio-no-uring: no PROGRAM given\n");
		return usage(stderr, 2);
	}
	int err = errno_by_name(errno_name);
	if (err < 0) {
		fprintf(stderr, "kio-no-uring: unknown errno '%s'\n", errno_name);
		return usage(stderr, 2);
	}

	if (install_filter(err) != 0)
		return 125;
	execvp(argv[i], argv + i);
	int e = errno;
	fprintf(stderr, "kio-no-uring: %s: %s\n", argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}
