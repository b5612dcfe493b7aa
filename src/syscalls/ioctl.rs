//! ioctl requests: what each one writes through its pointer argument.
//! Requests built with `_IOR`/`_IOWR` carry their direction and size in
//! their number; the old terminal and socket ones (0x54xx, 0x89xx) do not,
//! so they are listed, with those that write nothing, so that any other
//! request is reported as unknown at record time instead of silently
//! losing what the kernel wrote.

use trace_format::RemoteAddr;

use crate::tracee::mem::MemRead;

/// `struct ifreq`'s size.
const IFREQ: usize = 40;

/// Legacy requests the kernel answers through the pointer, with the size.
const OUTPUTS: &[(u64, usize)] = &[
    (0x5401, 36),    // TCGETS: struct termios (kernel layout)
    (0x5405, 18),    // TCGETA: struct termio
    (0x540f, 4),     // TIOCGPGRP
    (0x5411, 4),     // TIOCOUTQ (SIOCOUTQ)
    (0x5413, 8),     // TIOCGWINSZ: struct winsize
    (0x5415, 4),     // TIOCMGET
    (0x541b, 4),     // FIONREAD (SIOCINQ)
    (0x5424, 4),     // TIOCGETD
    (0x5429, 4),     // TIOCGSID
    (0x5456, 36),    // TIOCGLCKTRMIOS
    (0x8903, 4),     // FIOGETOWN
    (0x8904, 4),     // SIOCGPGRP
    (0x8905, 4),     // SIOCATMARK
    (0x8906, 16),    // SIOCGSTAMP: struct timeval
    (0x8907, 16),    // SIOCGSTAMPNS: struct timespec
    (0x8910, IFREQ), // SIOCGIFNAME
    (0x8913, IFREQ), // SIOCGIFFLAGS
    (0x8915, IFREQ), // SIOCGIFADDR
    (0x8917, IFREQ), // SIOCGIFDSTADDR
    (0x8919, IFREQ), // SIOCGIFBRDADDR
    (0x891b, IFREQ), // SIOCGIFNETMASK
    (0x891d, IFREQ), // SIOCGIFMETRIC
    (0x891f, IFREQ), // SIOCGIFMEM
    (0x8921, IFREQ), // SIOCGIFMTU
    (0x8927, IFREQ), // SIOCGIFHWADDR
    (0x8929, IFREQ), // SIOCGIFSLAVE
    (0x8933, IFREQ), // SIOCGIFINDEX
    (0x8935, IFREQ), // SIOCGIFPFLAGS
    (0x8942, IFREQ), // SIOCGIFTXQLEN
    (0x8970, IFREQ), // SIOCGIFMAP
    (2, 4),          // FIGETBSZ: the block size
];

/// Legacy requests that write nothing through their argument: settings
/// and actions.
const NO_OUTPUT: &[u64] = &[
    0x5402, 0x5403, 0x5404, // TCSETS, TCSETSW, TCSETSF
    0x5406, 0x5407, 0x5408, // TCSETA, TCSETAW, TCSETAF
    0x5409, 0x540a, 0x540b, // TCSBRK, TCXONC, TCFLSH
    0x540c, 0x540d, 0x540e, // TIOCEXCL, TIOCNXCL, TIOCSCTTY
    0x5410, 0x5412, 0x5414, // TIOCSPGRP, TIOCSTI, TIOCSWINSZ
    0x5416, 0x5417, 0x5418, // TIOCMBIS, TIOCMBIC, TIOCMSET
    0x5421, 0x5422, 0x5423, // FIONBIO, TIOCNOTTY, TIOCSETD
    0x5425, 0x5427, 0x5428, // TCSBRKP, TIOCSBRK, TIOCCBRK
    0x5450, 0x5451, 0x5452, // FIONCLEX, FIOCLEX, FIOASYNC
    0x5457, // TIOCSLCKTRMIOS
    0x8901, 0x8902, // FIOSETOWN, SIOCSPGRP
    0x8911, 0x8914, 0x8916, 0x8918, 0x891a, 0x891c, // SIOCSIF* (name … netmask)
    0x891e, 0x8920, 0x8922, 0x8924, 0x8936,
    0x8943, // … metric, mem, mtu, hwaddr, pflags, txqlen
];

/// SIOCGIFCONF: `struct ifconf` { int len; char *buf } — the kernel fills
/// `buf` with `len` bytes of `struct ifreq`s and writes the new `len`.
const SIOCGIFCONF: u64 = 0x8912;
/// FS_IOC_FIEMAP: `struct fiemap` (32 bytes) followed by its
/// `fm_extent_count` extents of 56 bytes.
const FS_IOC_FIEMAP: u64 = 0xc020_660b;

/// `_IOC_READ` in a request's direction bits: the kernel writes the
/// argument (`_IOR`, `_IOWR`), as many bytes as the size bits say.
fn encoded_read(req: u64) -> Option<u64> {
    let (dir, size) = ((req >> 30) & 3, (req >> 16) & 0x3fff);
    (dir & 2 != 0 && size != 0).then_some(size)
}

/// Whether rrgo knows what request `req` writes (possibly nothing).
pub fn known(req: u64) -> bool {
    let req = req & 0xffff_ffff;
    (req >> 30) & 3 != 0
        || req == SIOCGIFCONF
        || OUTPUTS.iter().any(|(r, _)| *r == req)
        || NO_OUTPUT.contains(&req)
}

/// The ranges request `req` with argument `arg` makes the kernel write.
pub fn outputs(req: u64, arg: u64, mem: &dyn MemRead) -> Vec<(u64, u64)> {
    let req = req & 0xffff_ffff;
    let u32_at = |a: u64| mem.read_u32(RemoteAddr(a)).ok().map(u64::from);
    match req {
        SIOCGIFCONF => {
            let len = u32_at(arg).unwrap_or(0);
            let buf = mem.read_u64(RemoteAddr(arg + 8)).unwrap_or(0);
            vec![(arg, 4), (buf, len)]
        }
        FS_IOC_FIEMAP => {
            let extents = u32_at(arg + 24).unwrap_or(0);
            vec![(arg, 32 + extents * 56)]
        }
        _ => OUTPUTS
            .iter()
            .find(|(r, _)| *r == req)
            .map(|&(_, size)| size as u64)
            .or_else(|| encoded_read(req))
            .map(|size| vec![(arg, size)])
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_say_what_they_write() {
        // TIOCGPTN = _IOR('T', 0x30, unsigned int); UFFDIO_API = _IOWR(0xaa, 0x3f, 24 bytes).
        assert_eq!(super::encoded_read(0x8004_5430), Some(4));
        assert_eq!(super::encoded_read(0xc018_aa3f), Some(24));
        // TIOCSPTLCK = _IOW: the kernel only reads.
        assert_eq!(super::encoded_read(0x4004_5431), None);
        assert!(super::known(0x4004_5431) && super::known(0x8913) && super::known(0x5421));
        assert!(!super::known(0x5499));
    }
}
