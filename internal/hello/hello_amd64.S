/* The program of berth's built-in "hello" image: it writes the greeting
 * to standard output with one write(2) and exits 0. No libc, no dynamic
 * linking: a few hundred bytes of static ELF. Built by `go generate`. */
	.globl	_start
	.text
_start:
	mov	$1, %eax		/* write */
	mov	$1, %edi		/* stdout */
	lea	greeting(%rip), %rsi
	mov	$greeting_len, %edx
	syscall
	test	%rax, %rax
	mov	$0, %edi
	jns	1f
	mov	$1, %edi		/* the write failed: exit 1 */
1:	mov	$60, %eax		/* exit */
	syscall

	.section .rodata
greeting:
	.ascii	"\n"
	.ascii	"Hello from berth!\n"
	.ascii	"This message shows that your installation appears to be working correctly.\n"
	.ascii	"\n"
	.ascii	"To generate this message, berth took the following steps:\n"
	.ascii	" 1. The berth CLI asked the berth daemon to run \"hello\" (starting the\n"
	.ascii	"    daemon when none answered).\n"
	.ascii	" 2. The daemon found the \"hello\" image, which is built into berth:\n"
	.ascii	"    nothing was downloaded.\n"
	.ascii	" 3. The daemon created a container from that image and ran the program\n"
	.ascii	"    that wrote the message you are reading.\n"
	.ascii	" 4. The daemon streamed that output to the berth CLI, which sent it to\n"
	.ascii	"    your terminal.\n"
	.ascii	"\n"
	.ascii	"Try something more ambitious, a shell in a busybox container:\n"
	.ascii	" $ berth run -it --rm busybox sh\n"
	.ascii	"\n"
	.set	greeting_len, . - greeting

	.section .note.GNU-stack,"",@progbits
