//! Multiboot1 header and the 32-bit entry: stack, SSE on, identity-map the first 1 GiB with
//! 2 MiB pages, long mode on, then `kmain(magic, info)` in 64-bit mode.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .multiboot, "a"
    .align 4
    .long 0x1BADB002              /* magic */
    .long 0x00000003              /* flags: page-aligned modules, memory map */
    .long -(0x1BADB002 + 0x00000003)

    .section .bss
    .align 4096
    .global boot_pml4
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4096
    .align 16
    .global boot_stack_top
boot_stack: .skip 65536
boot_stack_top:

    .section .rodata
    .align 16
gdt32to64:
    .quad 0
    .quad 0x00AF9A000000FFFF      /* 64-bit code */
    .quad 0x00CF92000000FFFF      /* data */
gdt32to64_ptr:
    .word gdt32to64_ptr - gdt32to64 - 1
    .long gdt32to64

    .section .text.boot, "ax"
    .code32
    .global _start32
_start32:
    cli
    mov esp, offset boot_stack_top
    mov edi, eax                  /* multiboot magic */
    mov esi, ebx                  /* multiboot info */

    /* SSE: CR0.EM=0, CR0.MP=1; CR4.OSFXSR|OSXMMEXCPT */
    mov eax, cr0
    and ax, 0xFFFB
    or ax, 0x2
    mov cr0, eax
    mov eax, cr4
    or eax, 0x620                 /* OSFXSR | OSXMMEXCPT | PAE */
    mov cr4, eax

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (present, writable, huge) */
    mov eax, offset boot_pdpt
    or eax, 0x3
    mov [boot_pml4], eax
    mov eax, offset boot_pd
    or eax, 0x3
    mov [boot_pdpt], eax
    xor ecx, ecx
1:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov [boot_pd + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jne 1b

    mov eax, offset boot_pml4
    mov cr3, eax
    /* EFER.LME | EFER.NXE | EFER.SCE */
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x901
    wrmsr
    /* paging + write protect */
    mov eax, cr0
    or eax, 0x80010000
    mov cr0, eax

    lgdt [gdt32to64_ptr]
    /* ljmp 0x08:long_mode, hand-encoded: EA <offset32> <selector16> */
    .byte 0xEA
    .long long_mode
    .word 0x08

    .code64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, offset boot_stack_top
    /* edi = magic, esi = info: already the first two SysV arguments */
    mov edi, edi
    mov esi, esi
    call kmain
2:
    hlt
    jmp 2b
"#
);
