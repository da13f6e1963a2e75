/* SPDX-License-Identifier: MIT */
/*
 * backend-probe - which backend kio_ctx_create() picks in this process.
 *
 *   backend-probe            a context with the default options: prints
 *                            "backend=io_uring" or "backend=epoll", exit 0
 *   backend-probe --strict   the same with KIO_CTX_NO_FALLBACK: prints the
 *                            backend and exits 0, or prints
 *                            "error=EPERM" (ENOSYS, EACCES, or the number)
 *                            and exits 1
 *   backend-probe --syscalls prints what the three io_uring system calls
 *                            answer when made directly with bad
 *                            arguments: "io_uring_setup=EPERM
 *                            io_uring_enter=EPERM io_uring_register=EPERM"
 *                            under kio-no-uring, the kernel's complaint
 *                            about the arguments (EFAULT, EBADF, EINVAL)
 *                            where io_uring is there and nothing blocks it
 *
 * With or without --strict, the context also runs one kio_nop() to the end, so a backend
 * that was chosen but cannot run a loop is caught here and not later.
 * Exit 3 for anything else that goes wrong, 2 for bad arguments.
 */
#define _GNU_SOURCE /* syscall() */
#include <kio/kio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The same on every architecture (see tests/tools/no-uring.c). */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

static const char *errno_name(int err)
{
	switch (err) {
	case EPERM:
		return "EPERM";
	case ENOSYS:
		return "ENOSYS";
	case EACCES:
		return "EACCES";
	case EBADF:
		return "EBADF";
	case EFAULT:
		return "EFAULT";
	case EINVAL:
		return "EINVAL";
	default:
		return NULL;
	}
}

static void print_result(const char *call, long rc, int err)
{
	const char *name = errno_name(err);

	if (rc >= 0)
		printf("%s=ok", call); /* cannot happen with these arguments */
	else if (name)
		printf("%s=%s", call, name);
	else
		printf("%s=%d", call, err);
}

/*
 * Each call with arguments no kernel accepts (a NULL params pointer, fd -1),
 * so none of them can set anything up: the answer is the filter's errno, or
 * the kernel's complaint about the arguments.
 */
static int probe_syscalls(void)
{
	long rc = syscall(__NR_io_uring_setup, 1, NULL);
	print_result("io_uring_setup", rc, errno);
	rc = syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0);
	int err = errno; /* before printf, which may change it */
	printf(" ");
	print_result("io_uring_enter", rc, err);
	rc = syscall(__NR_io_uring_register, -1, 0, NULL, 0);
	err = errno;
	printf(" ");
	print_result("io_uring_register", rc, err);
	printf("\n");
	return 0;
}

static void on_nop(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	*(int32_t *)user_data = res;
}

int main(int argc, char **argv)
{
	kio_ctx_opts opts;
	kio_ctx *ctx;
	int strict = argc == 2 && strcmp(argv[1], "--strict") == 0;

	if (argc == 2 && strcmp(argv[1], "--syscalls") == 0)
		return probe_syscalls();
	if (argc > 2 || (argc == 2 && !strict)) {
		fprintf(stderr, "usage: backend-probe [--strict | --syscalls]\n");
		return 2;
	}
	kio_ctx_opts_init(&opts, sizeof(opts));
	if (strict)
		opts.flags |= KIO_CTX_NO_FALLBACK;

	int err = kio_ctx_create(&ctx, &opts, sizeof(opts));
	if (err < 0) {
		const char *name = errno_name(-err);
		if (name)
			printf("error=%s\n", name);
		else
			printf("error=%d\n", -err);
		fprintf(stderr, "backend-probe: kio_ctx_create: %s\n", kio_strerror(err));
		return strict ? 1 : 3;
	}

	int32_t nop_res = 1;
	int64_t op = kio_nop(ctx, on_nop, &nop_res);
	int run = op < 0 ? 0 : kio_ctx_run(ctx);
	int backend = kio_ctx_backend(ctx);
	kio_ctx_destroy(ctx);
	if (op < 0 || run < 0 || nop_res != 0) {
		fprintf(stderr, "backend-probe: kio_nop: %s, run: %s, callback res %d\n",
			kio_strerror(op < 0 ? (int)op : 0), kio_strerror(run), nop_res);
		return 3;
	}

	switch (backend) {
	case KIO_BACKEND_IO_URING:
		printf("backend=io_uring\n");
		return 0;
	case KIO_BACKEND_EPOLL:
		printf("backend=epoll\n");
		return 0;
	default:
		fprintf(stderr, "backend-probe: kio_ctx_backend: %d\n", backend);
		return 3;
	}
}
