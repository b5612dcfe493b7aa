//! `DebugTarget` for the engine: the front ends' requests, dispatched to
//! the motions and inspections.

use super::api::*;
use super::engine::Engine;

impl DebugTarget for Engine {
    fn position(&self) -> Position {
        Position {
            event: self.session.next_event().0,
            total_events: self.session.event_count(),
        }
    }

    fn source_files(&self) -> Vec<String> {
        self.bin.source_files().to_vec()
    }

    fn set_line_breakpoints(
        &mut self,
        file: &str,
        bps: &[LineBreakpoint],
    ) -> Vec<BreakpointStatus> {
        let out = self.bps.set_lines(&self.bin, file, bps);
        if let Err(e) = self.sync_breakpoints(&[]) {
            tracing::warn!("cannot place breakpoints: {e:#}");
        }
        out
    }

    fn set_function_breakpoints(&mut self, bps: &[FunctionBreakpoint]) -> Vec<BreakpointStatus> {
        let out = self.bps.set_functions(&self.bin, bps);
        if let Err(e) = self.sync_breakpoints(&[]) {
            tracing::warn!("cannot place breakpoints: {e:#}");
        }
        out
    }

    fn set_exception_filters(&mut self, panics: bool, fatal: bool) {
        self.stop_panics = panics;
        self.stop_fatal = fatal;
        if let Err(e) = self.sync_breakpoints(&[]) {
            tracing::warn!("cannot place exception breakpoints: {e:#}");
        }
    }

    fn resume(
        &mut self,
        motion: Motion,
        goid: Option<Goid>,
        granularity: Granularity,
    ) -> EResult<Stop> {
        let goid = goid.or(self.selected);
        let stop = match (motion, granularity) {
            (Motion::Continue, _) => self.run_continue()?,
            (Motion::ReverseContinue, _) => self.reverse_continue()?,
            (Motion::Next | Motion::StepIn, Granularity::Instruction) => self.run_instruction()?,
            (
                Motion::Next
                | Motion::StepIn
                | Motion::StepOut
                | Motion::StepBack
                | Motion::ReverseStepOut,
                _,
            ) => {
                let goid = goid.ok_or_else(|| EngineError("no goroutine to step".into()))?;
                let f = self.step_frame(goid)?;
                match motion {
                    Motion::Next => self.run_next(&f, false)?,
                    Motion::StepOut => self.run_next(&f, true)?,
                    Motion::StepIn => self.run_step_in(&f)?,
                    Motion::StepBack => self.step_back(&f)?,
                    _ => self.reverse_step_out(&f)?,
                }
            }
        };
        self.cache.clear();
        self.last_reason = Some(stop.reason.clone());
        if stop.goid.is_some() {
            self.selected = stop.goid;
        }
        Ok(stop)
    }

    fn goroutines(&mut self) -> EResult<Vec<GoroutineSummary>> {
        self.summaries()
    }

    fn selected_goroutine(&self) -> Option<Goid> {
        self.selected
    }

    fn stack(
        &mut self,
        goid: Goid,
        start: usize,
        levels: usize,
    ) -> EResult<(Vec<FrameInfo>, bool)> {
        self.stack_frames(goid, start, levels)
    }

    fn scope(&mut self, goid: Goid, frame: usize, kind: ScopeKind) -> EResult<Vec<Value>> {
        self.scope_values(goid, frame, kind)
    }

    fn children(&mut self, of: ChildrenRef, start: u64, count: u64) -> EResult<Vec<Value>> {
        self.child_values(of, start, count)
    }

    fn evaluate(&mut self, expr: &str, goid: Option<Goid>, frame: usize) -> EResult<Value> {
        self.eval_value(expr, goid, frame)
    }

    fn exception(&mut self, goid: Goid) -> EResult<ExceptionDetails> {
        self.exception_details(goid)
    }

    fn take_output(&mut self) -> Vec<OutputChunk> {
        std::mem::take(&mut self.output)
    }
}
