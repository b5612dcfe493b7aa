//! Go values from DWARF: variables in scope, types, rendering as Delve does.
//! (Placeholder until the real module lands: same API, nothing resolved.)
#![allow(dead_code, unused_variables)]

use crate::debugger::api::Value;

pub trait Memory {
    fn read(&self, addr: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

impl Memory for crate::tracee::mem::ProcMem {
    fn read(&self, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
        crate::tracee::mem::ProcMem::read(self, trace_format::RemoteAddr(addr), len)
    }
}

#[derive(Debug, Clone)]
pub struct FrameRegs {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub cfa: u64,
    pub regs: Option<trace_format::Regs>,
}

pub struct DebugInfo;
pub struct Variable {
    pub name: String,
    pub is_arg: bool,
}
#[derive(Clone, Debug)]
pub struct Expand;
pub struct Var {
    pub value: Value,
    pub expand: Option<Expand>,
}

impl Var {
    pub fn as_bool(&self) -> Option<bool> {
        None
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.value.value.parse().ok()
    }
}

impl DebugInfo {
    pub fn load(path: &std::path::Path) -> anyhow::Result<DebugInfo> {
        Ok(DebugInfo)
    }
    pub fn cfa(&self, pc: u64, sp: u64) -> Option<u64> {
        None
    }
    pub fn unwind(&self, mem: &dyn Memory, pc: u64, sp: u64, bp: u64, max: usize) -> Vec<FrameRegs> {
        Vec::new()
    }
    pub fn variables(&self, lookup_pc: u64, depth: usize) -> Vec<Variable> {
        Vec::new()
    }
    pub fn globals(&self, package: &str) -> Vec<Variable> {
        Vec::new()
    }
    pub fn read_var(&self, mem: &dyn Memory, frame: &FrameRegs, v: &Variable) -> Var {
        Var { value: Value::default(), expand: None }
    }
    pub fn expand(&self, mem: &dyn Memory, e: &Expand, start: u64, count: u64) -> Vec<Var> {
        Vec::new()
    }
    pub fn evaluate(
        &self,
        mem: &dyn Memory,
        frame: &FrameRegs,
        lookup_pc: u64,
        depth: usize,
        expr: &str,
    ) -> anyhow::Result<Var> {
        anyhow::bail!("not implemented")
    }
}
