# rrgo's page: code the patched program jumps to, to make calls without a
# ptrace stop. Assembled by scripts/clockpage-asm.sh into the bytes in
# src/tracee/clockpage.rs. The data pages follow the code page.
#
#  - clock_gettime: the patched vDSO jumps here. Answers the system clocks
#    from a buffer of timespecs (recording: filled by untraced syscalls).
#  - sys6: Go's internal Syscall6 jumps here (patched entry). Runs a few
#    calls that never block (read/write on non-blocking fds, epoll_pwait
#    with a zero timeout, setsockopt, epoll_ctl) untraced and keeps their
#    results and output bytes in a second buffer; everything else, and any
#    call rrgo decides to trace, is an ordinary recorded syscall. A write
#    keeps a digest (CRC-32C) of the bytes it sent, which replay computes
#    again from the program's buffer and compares: a difference stops the
#    thread at a syscall no kernel has (SENT_DIFFERS), which rrgo reports
#    as the divergence it is.
#
# Both buffers are filled by the untraced syscalls when recording and by
# rrgo when replaying; the code leaves the same registers and flags on both
# paths. Untraced syscalls sit in one window the seccomp filter lets through.
    .intel_syntax noprefix
    .text
    .set DATA,     page + 0x1000  # the first data page
    .set MODE,     DATA + 0       # 0: recording, 1: replaying
    .set IDX,      DATA + 8       # clock entries used since rrgo last emptied the buffer
    .set LIMIT,    DATA + 16      # recording: capacity; replaying: entries provided
    .set SYS_POS,  DATA + 24      # bytes of call records used
    .set SYS_LIM,  DATA + 32      # recording: capacity; replaying: bytes provided
    .set ENTRIES,  DATA + 64      # struct timespec[capacity]
    .set SYSBUF,   DATA + 0x10000 # call records: u16 nr, u16 done, u32 len, i64 result, len bytes (8-aligned)
    .set SYSBUF_LEN, 0x100000
    .set SENT_DIFFERS, 0x72726701 # replaying: a write sent other bytes than recorded

page:
clock_gettime:                  # rdi = clockid, rsi = struct timespec *
    cmp rdi, 7
    ja clock_slow
    mov eax, 0xf3               # REALTIME MONOTONIC MONOTONIC_RAW REALTIME_COARSE MONOTONIC_COARSE BOOTTIME
    bt eax, edi
    jnc clock_slow
clock_again:
    mov rdx, [rip + IDX]
    cmp rdx, [rip + LIMIT]
    jae clock_full
    shl rdx, 4
    lea rcx, [rip + ENTRIES]
    add rdx, rcx                # rdx = &entries[idx]
    cmp qword ptr [rip + MODE], 0
    jne clock_copy              # replaying: rrgo put the recorded time there
    mov r8, rsi
    mov rsi, rdx
    mov eax, 228                # clock_gettime(clockid, &entries[idx])
    jmp u_clock
clock_back:
    mov rsi, r8
clock_copy:
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
clock_full:
    mov eax, 24                 # sched_yield: a stop at which rrgo empties the buffer
clock_flush:
    syscall
    jmp clock_again
clock_slow:
    mov eax, 228                # other clocks: an ordinary recorded syscall
clock_traced:
    syscall
    ret

# Go ABIInternal in: rax nr, rbx rcx rdi rsi r8 r9 args; out: rax r1, rbx r2,
# rcx errno (as internal/runtime/syscall Syscall6). r10-r13 are scratch.
sys6:
    mov r10, rsi
    mov rdx, rdi
    mov rsi, rcx
    mov rdi, rbx                # kernel order: rdi rsi rdx r10 r8 r9
    cmp rax, 0
    je c_read
    cmp rax, 1
    je c_write
    cmp rax, 281
    je c_epoll
    cmp rax, 54
    je c_plain                  # setsockopt
    cmp rax, 233
    je c_plain                  # epoll_ctl
    jmp sys_traced
c_read:
    cmp rdi, 2
    jbe sys_traced              # stdin/stdout/stderr: recorded (output, terminals)
    mov r12, rax
    mov r13, rdx                # at most count bytes out
    jmp candidate
c_epoll:
    test r10, r10
    jnz sys_traced              # a timeout: it may block
    mov r12, rax
    lea r13, [rdx + rdx * 2]
    shl r13, 2                  # maxevents * 12 bytes out
    jmp candidate
c_write:
    cmp rdi, 2
    jbe sys_traced
    mov r12, rax
    mov r13d, 8                 # out: the digest of the bytes sent
    jmp candidate
c_plain:
    mov r12, rax
    xor r13d, r13d
candidate:                      # r12 = nr, r13 = most bytes out
    lea rcx, [r13 + 23]
    and rcx, -8                 # record size
    mov r11, [rip + SYS_POS]
    cmp qword ptr [rip + MODE], 0
    jne replay_candidate
    cmp rcx, SYSBUF_LEN
    ja rec_big
    lea rbx, [r11 + rcx]
    cmp rbx, [rip + SYS_LIM]
    ja sys_full
    cmp r12, 1
    ja rec_call                 # read and write need a non-blocking fd
    mov rbx, rsi
    mov esi, 3                  # F_GETFL
    mov eax, 72                 # fcntl
    jmp u_fcntl
fcntl_back:
    mov rsi, rbx
    test rax, rax
    js rec_traced
    test eax, 0x800             # O_NONBLOCK
    jz rec_traced
rec_call:
    mov rax, r12
    jmp u_call
call_back:                      # rax = result: the bytes out
    cmp r12, 1
    je rec_write
    xor ecx, ecx
    test rax, rax
    jle rec_len
    cmp r12, 281
    je rec_epoll_len
    test r12, r12
    jnz rec_len
    mov rcx, rax                # read: result bytes at rsi
    jmp rec_len
rec_epoll_len:
    lea rcx, [rax + rax * 2]
    shl rcx, 2
rec_len:
    mov r11, [rip + SYS_POS]
    lea rbx, [rip + SYSBUF]
    add rbx, r11
    mov word ptr [rbx], r12w
    mov word ptr [rbx + 2], 1
    mov dword ptr [rbx + 4], ecx
    mov [rbx + 8], rax
    mov r13, rdi
    mov r11, rsi
    lea rdi, [rbx + 16]
    rep movsb
    mov rdi, r13
    mov rsi, r11
    mov ecx, dword ptr [rbx + 4]
    add rcx, 23
    and rcx, -8
    add [rip + SYS_POS], rcx
    jmp sys_done
rec_write:                      # write: a digest of the bytes it sent
    mov r11, rsi
    mov r13, rax
    lea rcx, [rip + rec_digest]
    jmp digest
rec_digest:
    mov r11, [rip + SYS_POS]
    lea rcx, [rip + SYSBUF]
    add rcx, r11
    mov word ptr [rcx], r12w
    mov word ptr [rcx + 2], 1
    mov dword ptr [rcx + 4], 8
    mov [rcx + 8], rax
    mov [rcx + 16], rbx
    add qword ptr [rip + SYS_POS], 24
    jmp sys_done
rec_big:                        # never fits: trace it (a 16-byte marker)
    lea rbx, [r11 + 16]
    cmp rbx, [rip + SYS_LIM]
    ja sys_full
rec_traced:
    mov r11, [rip + SYS_POS]
    lea rbx, [rip + SYSBUF]
    add rbx, r11
    mov word ptr [rbx], r12w
    mov word ptr [rbx + 2], 0
    mov dword ptr [rbx + 4], 0
    mov qword ptr [rbx + 8], 0
    add qword ptr [rip + SYS_POS], 16
    jmp go_traced
replay_candidate:
    cmp r11, [rip + SYS_LIM]
    jae sys_full                # nothing provided: the recording emptied the buffer here
    lea rbx, [rip + SYSBUF]
    add rbx, r11
    movzx ecx, word ptr [rbx]
    cmp rcx, r12
    jne go_traced               # not the recorded call: replay reports the divergence
    cmp word ptr [rbx + 2], 0
    je rep_traced
    cmp r12, 1
    je rep_write
    mov ecx, dword ptr [rbx + 4]
    mov r13, rdi
    mov r11, rsi
    mov rdi, rsi
    lea rsi, [rbx + 16]
    rep movsb
    mov rdi, r13
    mov rsi, r11
    mov rax, [rbx + 8]
    mov ecx, dword ptr [rbx + 4]
    add rcx, 23
    and rcx, -8
    add [rip + SYS_POS], rcx
    jmp sys_done
rep_write:                      # the bytes the program sends now, against the recorded digest
    mov r11, rsi
    mov r13, [rbx + 8]
    cmp r13, rdx
    cmovg r13, rdx              # never past the program's buffer (signed: an error sent nothing)
    mov rax, rbx
    lea rcx, [rip + rep_digest]
    jmp digest
rep_digest:
    cmp ebx, dword ptr [rax + 16]
    jne sent_differs
    mov rax, [rax + 8]
    add qword ptr [rip + SYS_POS], 24
    jmp sys_done
sent_differs:                   # r8: the recorded digest, r9: this one
    mov r8d, dword ptr [rax + 16]
    mov r9d, ebx
    mov r10, [rax + 8]          # the bytes the recording sent
    mov eax, SENT_DIFFERS
sent_stop:
    syscall
    jmp go_traced
rep_traced:
    add qword ptr [rip + SYS_POS], 16
go_traced:
    xor ebx, ebx
    xor ecx, ecx
    xor r11d, r11d
    xor r13d, r13d
    mov rax, r12
sys_traced:
    syscall                     # an ordinary recorded syscall
sys_convert:
    cmp rax, -4095
    jbe sys_ok
    neg rax
    mov rcx, rax
    mov rax, -1
    xor ebx, ebx
    ret
sys_ok:
    mov rbx, rdx
    xor ecx, ecx
    ret
sys_done:
    xor ebx, ebx
    xor ecx, ecx
    xor r11d, r11d
    xor r13d, r13d
    jmp sys_convert
sys_full:
    xor ebx, ebx
    xor ecx, ecx
    xor r11d, r11d
    mov eax, 24                 # sched_yield: a stop at which rrgo empties the buffer
sys_flush:
    syscall
    mov rax, r12
    jmp candidate

# CRC-32C (initial 0, no final xor) of r13 bytes at r11 (none if r13 <= 0)
# into ebx; clobbers r11 and r13, returns to rcx. No stack: the page runs
# on the goroutine's.
digest:
    xor ebx, ebx
    test r13, r13
    jle digest_done
digest8:
    cmp r13, 8
    jb digest1
    crc32 rbx, qword ptr [r11]
    add r11, 8
    sub r13, 8
    jmp digest8
digest1:
    test r13, r13
    jz digest_done
    crc32 ebx, byte ptr [r11]
    inc r11
    dec r13
    jmp digest1
digest_done:
    jmp rcx

    .org 0x400
untraced:                       # the window the seccomp filter lets through
u_clock:
    syscall
    jmp clock_back
u_fcntl:
    syscall
    jmp fcntl_back
u_call:
    syscall
    jmp call_back
untraced_end:
end:
