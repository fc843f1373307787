/* x86-64 System V trampolines that know nothing of their function's
 * arguments: each saves every argument register (rdi rsi rdx rcx r8 r9,
 * xmm0-7, and rax, which holds the vector-register count of a variadic
 * call), calls a C function that logs the call and returns the real
 * function, restores the registers and jumps there with the stack as the
 * caller left it, so arguments passed on the stack and the return address
 * reach the real function unchanged and it returns straight to the caller.
 * r11 carries the stub's number; the ABI passes nothing in it. The C
 * function also gets the address of the saved rdi..r9 (its second argument).
 *
 * stubs.S (generated) holds one exported stub per untraced-by-type name:
 *     movl $index, %r11d ; jmp tr_generic_common
 * tr_slot_stubs below holds one stub per export-table slot (16 tables x 64). */

    .text

/* Save area: xmm0-7 at 0..127, then rdi rsi rdx rcx r8 r9 rax at 128..183.
 * On entry rsp = 8 mod 16 (the return address); 184 = 8 mod 16, so rsp is
 * 16-aligned at the call, as the ABI requires. */
.macro SAVE_AND_CALL target
    .cfi_startproc
    subq $184, %rsp
    .cfi_adjust_cfa_offset 184
    movups %xmm0, 0(%rsp)
    movups %xmm1, 16(%rsp)
    movups %xmm2, 32(%rsp)
    movups %xmm3, 48(%rsp)
    movups %xmm4, 64(%rsp)
    movups %xmm5, 80(%rsp)
    movups %xmm6, 96(%rsp)
    movups %xmm7, 112(%rsp)
    movq %rdi, 128(%rsp)
    movq %rsi, 136(%rsp)
    movq %rdx, 144(%rsp)
    movq %rcx, 152(%rsp)
    movq %r8, 160(%rsp)
    movq %r9, 168(%rsp)
    movq %rax, 176(%rsp)
    movl %r11d, %edi
    leaq 128(%rsp), %rsi
    call \target
    movq %rax, %r11
    movups 0(%rsp), %xmm0
    movups 16(%rsp), %xmm1
    movups 32(%rsp), %xmm2
    movups 48(%rsp), %xmm3
    movups 64(%rsp), %xmm4
    movups 80(%rsp), %xmm5
    movups 96(%rsp), %xmm6
    movups 112(%rsp), %xmm7
    movq 128(%rsp), %rdi
    movq 136(%rsp), %rsi
    movq 144(%rsp), %rdx
    movq 152(%rsp), %rcx
    movq 160(%rsp), %r8
    movq 168(%rsp), %r9
    movq 176(%rsp), %rax
    addq $184, %rsp
    .cfi_adjust_cfa_offset -184
    jmp *%r11
    .cfi_endproc
.endm

    .globl tr_generic_common
    .hidden tr_generic_common
    .type tr_generic_common, @function
    .p2align 4
tr_generic_common:
    SAVE_AND_CALL tr_enter_generic
    .size tr_generic_common, .-tr_generic_common

    .globl tr_slot_common
    .hidden tr_slot_common
    .type tr_slot_common, @function
    .p2align 4
tr_slot_common:
    SAVE_AND_CALL tr_slot_enter
    .size tr_slot_common, .-tr_slot_common

/* Stub n is at tr_slot_stubs + 16*n (lookup.c relies on it). */
    .globl tr_slot_stubs
    .hidden tr_slot_stubs
    .type tr_slot_stubs, @function
    .p2align 4
tr_slot_stubs:
    .set stub_n, 0
    .rept 16 * 64
    .p2align 4
    movl $stub_n, %r11d
    jmp tr_slot_common
    .set stub_n, stub_n + 1
    .endr
    .size tr_slot_stubs, .-tr_slot_stubs

    .section .note.GNU-stack, "", @progbits
