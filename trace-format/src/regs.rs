//! The x86-64 general-purpose register file as ptrace reports it.

use serde::{Deserialize, Serialize};

macro_rules! regs_struct {
    ($($field:ident),* $(,)?) => {
        /// The kernel's `struct user_regs_struct` for x86-64 (as returned by
        /// `PTRACE_GETREGS`), field for field in kernel order so it can be
        /// converted from `libc::user_regs_struct` one name at a time.
        #[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
        #[allow(missing_docs)]
        pub struct Regs {
            $(pub $field: u64,)*
        }

        impl Regs {
            /// Field names in kernel order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The fields whose values differ, as `(name, self's, other's)`,
            /// in kernel order. Empty when equal. Used for divergence reports.
            pub fn diff(&self, other: &Regs) -> Vec<(&'static str, u64, u64)> {
                let mut out = Vec::new();
                $(
                    if self.$field != other.$field {
                        out.push((stringify!($field), self.$field, other.$field));
                    }
                )*
                out
            }

            /// All fields as `(name, value)` in kernel order (for dumps).
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field)),*]
            }
        }
    };
}

regs_struct!(
    r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs,
    eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_changed_fields_in_order() {
        let a = Regs {
            rip: 1,
            rax: 2,
            ..Regs::default()
        };
        let b = Regs {
            rip: 3,
            rax: 2,
            gs: 9,
            ..Regs::default()
        };
        assert_eq!(a.diff(&b), vec![("rip", 1, 3), ("gs", 0, 9)]);
        assert!(a.diff(&a).is_empty());
        assert_eq!(Regs::NAMES.len(), 27);
        assert_eq!(Regs::NAMES[0], "r15");
        assert_eq!(Regs::NAMES[26], "gs");
        assert_eq!(a.fields().len(), 27);
    }
}
