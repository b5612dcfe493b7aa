# rrgo's clock page: the code the patched vDSO's clock_gettime jumps to.
# Assembled by scripts/clockpage-asm.sh into the bytes in
# src/tracee/clockpage.rs. The data pages follow the code page.
    .intel_syntax noprefix
    .text
    .set DATA,    clock_gettime + 0x1000  # the first data page
    .set MODE,    DATA + 0      # 0: recording, 1: replaying
    .set IDX,     DATA + 8      # entries used since rrgo last emptied the buffer
    .set LIMIT,   DATA + 16     # recording: capacity; replaying: entries provided
    .set ENTRIES, DATA + 64     # struct timespec[capacity]

clock_gettime:                  # rdi = clockid, rsi = struct timespec *
    cmp rdi, 7
    ja slow
    mov eax, 0xf3               # REALTIME MONOTONIC MONOTONIC_RAW REALTIME_COARSE MONOTONIC_COARSE BOOTTIME
    bt eax, edi
    jnc slow
again:
    mov rdx, [rip + IDX]
    cmp rdx, [rip + LIMIT]
    jae full
    shl rdx, 4
    lea rcx, [rip + ENTRIES]
    add rdx, rcx                # rdx = &entries[idx]
    cmp qword ptr [rip + MODE], 0
    jne copy                    # replaying: rrgo put the recorded time there
    mov r8, rsi
    mov rsi, rdx
    mov eax, 228                # clock_gettime(clockid, &entries[idx])
untraced:
    syscall                     # the seccomp filter lets this one call through
    mov rsi, r8
copy:
    mov rax, [rdx]
    mov rcx, [rdx + 8]
    mov [rsi], rax
    mov [rsi + 8], rcx
    inc qword ptr [rip + IDX]
    xor eax, eax                # same registers and flags on both paths
    xor ecx, ecx
    xor edx, edx
    xor r8d, r8d
    xor r11d, r11d
    ret
full:
    mov eax, 24                 # sched_yield: a stop at which rrgo empties the buffer
flush:
    syscall
    jmp again
slow:
    mov eax, 228                # other clocks: an ordinary recorded syscall
traced:
    syscall
    ret
end:
