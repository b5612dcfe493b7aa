//! Decoding the tracee's instructions (iced-x86), for the few places where
//! the engines must know what the instruction at a point does.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};

/// A `rep movs`/`rep stos` instruction: one instruction that runs many
/// iterations with rip unchanged, advancing rcx, rsi and rdi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepString {
    /// Bytes per iteration.
    pub elem: u64,
    /// Whether it reads from rsi (movs) as well as writing to rdi.
    pub reads: bool,
}

fn decode(bytes: &[u8], rip: u64) -> Instruction {
    Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE).decode()
}

/// The rep string instruction at the start of `bytes`, if it is one.
pub fn rep_string(bytes: &[u8], rip: u64) -> Option<RepString> {
    let insn = decode(bytes, rip);
    if insn.is_invalid() || !insn.has_rep_prefix() {
        return None;
    }
    let (elem, reads) = match insn.mnemonic() {
        Mnemonic::Movsb => (1, true),
        Mnemonic::Movsw => (2, true),
        Mnemonic::Movsd => (4, true),
        Mnemonic::Movsq => (8, true),
        Mnemonic::Stosb => (1, false),
        Mnemonic::Stosw => (2, false),
        Mnemonic::Stosd => (4, false),
        Mnemonic::Stosq => (8, false),
        _ => return None,
    };
    Some(RepString { elem, reads })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_memmove_string_instructions_are_recognised() {
        assert_eq!(
            rep_string(&[0xf3, 0x48, 0xa5], 0x1000),
            Some(RepString {
                elem: 8,
                reads: true
            })
        );
        assert_eq!(
            rep_string(&[0xf3, 0xa4], 0x1000),
            Some(RepString {
                elem: 1,
                reads: true
            })
        );
        assert_eq!(
            rep_string(&[0xf3, 0x48, 0xab], 0x1000),
            Some(RepString {
                elem: 8,
                reads: false
            })
        );
        assert_eq!(rep_string(&[0x48, 0xa5], 0x1000), None);
        assert_eq!(rep_string(&[0x90], 0x1000), None);
    }
}
