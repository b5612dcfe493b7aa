//! Randomness from the kernel: recorded bytes, replayed as they were.

use super::{emu_blocking, Out::*, Spec};
use libc::*;

pub(crate) const ROWS: &[Spec] = &[emu_blocking(SYS_getrandom, &[ResultLen(0)])];
