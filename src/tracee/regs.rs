//! Conversion between the kernel's `user_regs_struct` and the trace's `Regs`.

use trace_format::Regs;

macro_rules! convert {
    ($($f:ident),*) => {
        pub fn from_user(r: &libc::user_regs_struct) -> Regs {
            Regs { $($f: r.$f),* }
        }
        pub fn to_user(r: &Regs) -> libc::user_regs_struct {
            libc::user_regs_struct { $($f: r.$f),* }
        }
    };
}

convert!(
    r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs,
    eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs
);

/// Syscall arguments in ABI order.
pub fn syscall_args(r: &Regs) -> [u64; 6] {
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
}

/// Sets syscall argument `i` (ABI order, as `syscall_args` reads them).
pub fn set_syscall_arg(r: &mut Regs, i: usize, value: u64) {
    match i {
        0 => r.rdi = value,
        1 => r.rsi = value,
        2 => r.rdx = value,
        3 => r.r10 = value,
        4 => r.r8 = value,
        _ => r.r9 = value,
    }
}
