//! The Go runtime's own symbol table (`.gopclntab`, format of Go 1.20+):
//! function names, entries and pc → file:line, for binaries built without
//! DWARF (`-ldflags=-w`). The runtime uses it for tracebacks, so it is
//! always there. Layout: `runtime.pcHeader`, the `functab` of (entry,
//! `_func` offset) pairs, and pc-value tables of zigzag varint deltas.

use anyhow::{bail, Context};
use object::{Object, ObjectSection, ObjectSymbol};

use super::dwarf::{LineTable, IS_STMT};
use super::Function;

const MAGIC_GO120: u32 = 0xffff_fff1;

struct Table<'a> {
    data: &'a [u8],
    min_lc: u64,
    text_start: u64,
    funcname: usize,
    cu: usize,
    filetab: usize,
    pctab: usize,
    pcln: usize,
    nfunc: usize,
}

impl<'a> Table<'a> {
    fn parse(data: &'a [u8]) -> anyhow::Result<Table<'a>> {
        let u32_at = |o: usize| -> anyhow::Result<u32> {
            Ok(u32::from_le_bytes(
                data.get(o..o + 4)
                    .context("truncated pclntab")?
                    .try_into()?,
            ))
        };
        let word = |i: usize| -> anyhow::Result<u64> {
            let o = 8 + i * 8;
            Ok(u64::from_le_bytes(
                data.get(o..o + 8)
                    .context("truncated pclntab")?
                    .try_into()?,
            ))
        };
        if u32_at(0)? != MAGIC_GO120 {
            bail!("unsupported pclntab (not the Go 1.20+ format)");
        }
        if data.get(7) != Some(&8) {
            bail!("pclntab of a non-64-bit program");
        }
        Ok(Table {
            data,
            min_lc: data[6].max(1) as u64,
            nfunc: word(0)? as usize,
            text_start: word(2)?,
            funcname: word(3)? as usize,
            cu: word(4)? as usize,
            filetab: word(5)? as usize,
            pctab: word(6)? as usize,
            pcln: word(7)? as usize,
        })
    }

    fn u32(&self, o: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.data.get(o..o + 4)?.try_into().ok()?,
        ))
    }

    fn cstr(&self, o: usize) -> Option<&'a str> {
        let rest = self.data.get(o..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// (entry, name, _func offset) of function `i`.
    fn func(&self, i: usize) -> Option<(u64, &'a str, usize)> {
        let ft = self.pcln + i * 8;
        let entry_off = self.u32(ft)? as u64;
        let func = self.pcln + self.u32(ft + 4)? as usize;
        let name_off = self.u32(func + 4)? as usize;
        Some((
            self.text_start + entry_off,
            self.cstr(self.funcname + name_off)?,
            func,
        ))
    }

    /// The (pc, value) steps of a pc-value table: value holds from pc on.
    fn steps(&self, off: u32, entry: u64, end: u64) -> Vec<(u64, i64)> {
        let mut out = Vec::new();
        let mut p = self.pctab + off as usize;
        let (mut val, mut pc) = (-1i64, entry);
        let mut first = true;
        while pc < end && out.len() < 1 << 20 {
            let Some(uv) = uvarint(self.data, &mut p) else {
                break;
            };
            if uv == 0 && !first {
                break;
            }
            first = false;
            val += if uv & 1 != 0 {
                !((uv >> 1) as i64)
            } else {
                (uv >> 1) as i64
            };
            let Some(d) = uvarint(self.data, &mut p) else {
                break;
            };
            out.push((pc, val));
            pc += d * self.min_lc;
        }
        out
    }
}

/// Go's unsigned varint (encoding/binary.Uvarint) at `*p`, advancing `*p`;
/// used by the pclntab, type names and build info alike.
pub fn uvarint(data: &[u8], p: &mut usize) -> Option<u64> {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = *data.get(*p)?;
        *p += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// `runtime.firstmoduledata.text` (runtime.text): found as the data word
/// that points at the pclntab (`moduledata.pcHeader`) followed by the
/// pointer to its function-name table; `text` is the 23rd word (Go
/// 1.20–1.27 share this layout, which binaries without symbols need).
fn module_text(file: &object::File, table: u64, funcname_off: usize) -> Option<u64> {
    const TEXT_WORD: usize = 22;
    for sec in file.sections() {
        // Go 1.27 gives the module data a section of its own.
        if !matches!(
            sec.name(),
            Ok(".go.module" | ".noptrdata" | ".data" | ".data.rel.ro")
        ) {
            continue;
        }
        let Ok(d) = sec.data() else { continue };
        let words: Vec<u64> = d
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        for i in 0..words.len().saturating_sub(TEXT_WORD + 1) {
            if words[i] == table && words[i + 1] == table + funcname_off as u64 {
                let text = words[i + TEXT_WORD];
                let code = file.sections().any(|s| {
                    s.kind() == object::SectionKind::Text
                        && s.address() <= text
                        && text < s.address() + s.size()
                });
                if code {
                    return Some(text);
                }
            }
        }
    }
    None
}

/// Functions and a line table from the pclntab of `file`.
pub fn load(file: &object::File) -> anyhow::Result<(Vec<Function>, LineTable)> {
    let table_addr;
    let data = match file.section_by_name(".gopclntab") {
        Some(s) => {
            table_addr = Some(s.address());
            s.data()?.to_vec()
        }
        None => {
            // Externally linked or PIE: the table sits in .data.rel.ro at runtime.pclntab.
            let sym = file
                .symbols()
                .find(|s| s.name() == Ok("runtime.pclntab"))
                .context("no .gopclntab section or runtime.pclntab symbol")?;
            let sec = file
                .sections()
                .find(|s| s.address() <= sym.address() && sym.address() < s.address() + s.size())
                .context("runtime.pclntab is in no section")?;
            table_addr = Some(sym.address());
            let d = sec.data()?;
            d.get((sym.address() - sec.address()) as usize..)
                .context("runtime.pclntab is outside its section")?
                .to_vec()
        }
    };
    let mut t = Table::parse(&data)?;
    if t.text_start == 0 {
        // Recent linkers leave pcHeader.textStart for the runtime to fill in
        // from the module data: entries are offsets from runtime.text. That
        // is the start of .text when Go links alone, not after a C linker's
        // own code (cgo, external linking), so read it where the runtime does.
        t.text_start = match table_addr.and_then(|a| module_text(file, a, t.funcname)) {
            Some(text) => text,
            None => file
                .section_by_name(".text")
                .map(|s| s.address())
                .context("no .text section")?,
        };
    }
    let mut functions = Vec::new();
    let mut rows: Vec<(u64, String, u64)> = Vec::new();
    for i in 0..t.nfunc.min(1 << 22) {
        let (Some((entry, name, func)), Some((end, _, _))) = (
            t.func(i),
            t.func(i + 1).or_else(|| {
                // The last function ends at the functab's terminal entry.
                let ft = t.pcln + t.nfunc * 8;
                t.u32(ft).map(|o| (t.text_start + o as u64, "", 0))
            }),
        ) else {
            continue;
        };
        functions.push(Function {
            name: name.trim_end_matches(".abi0").to_string(),
            entry,
            size: end.saturating_sub(entry),
        });
        let (Some(pcfile), Some(pcln), Some(cu)) =
            (t.u32(func + 20), t.u32(func + 24), t.u32(func + 32))
        else {
            continue;
        };
        let files = t.steps(pcfile, entry, end);
        for (pc, line) in t.steps(pcln, entry, end) {
            let fi = files
                .iter()
                .rev()
                .find(|(p, _)| *p <= pc)
                .map(|(_, f)| *f)
                .unwrap_or(-1);
            let file = (fi >= 0)
                .then(|| t.u32(t.cu + (cu as usize + fi as usize) * 4))
                .flatten()
                .and_then(|off| t.cstr(t.filetab + off as usize))
                .unwrap_or("?");
            rows.push((pc, file.to_string(), line.max(0) as u64));
        }
        rows.push((end, String::new(), 0));
    }
    Ok((functions, LineTable::from_rows(rows, IS_STMT)))
}
