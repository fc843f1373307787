//! Streams and events.

use super::*;
use crate::cuda::options::{EventFlags, StreamFlags, WaitFlags};
impl GpuClient {
    /// A stream of context `key` (default stream → NULL).
    pub(super) fn stream_in(&self, key: u64, stream: u64) -> CuResult<CUstream> {
        if is_default_stream(stream) {
            return Ok(std::ptr::null_mut());
        }
        match self.streams.get(stream) {
            Some(s) if s.ctx == key => Ok(s.raw),
            _ => Err(INVALID_HANDLE),
        }
    }
    /// Enters the context of a stream-only operation: the stream's own for
    /// a created stream, the request's for the default stream.
    pub(super) fn enter_stream(&mut self, ctx: u64, stream: u64) -> CuResult<CUstream> {
        if is_default_stream(stream) {
            self.enter(ctx)?;
            return Ok(std::ptr::null_mut());
        }
        let (raw, key) = self
            .streams
            .get(stream)
            .map(|s| (s.raw, s.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        Ok(raw)
    }
    /// Enters an event's context; returns the event.
    pub(super) fn enter_event(&mut self, event: u64) -> CuResult<(CUevent, u64)> {
        let (raw, key) = self
            .events
            .get(event)
            .map(|e| (e.raw, e.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        Ok((raw, key))
    }
}

impl StreamBackend for GpuClient {
    fn stream_create(&mut self, ctx: u64, flags: StreamFlags, priority: i32) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let mut raw: CUstream = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the context is current.
        check(unsafe {
            (self.driver.api().stream_create_with_priority)(&mut raw, flags.bits(), priority)
        })?;
        Ok(self.streams.insert(Stream { raw, ctx: key }))
    }
    fn stream_destroy(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let _ = ctx;
        if is_default_stream(stream) {
            return Err(INVALID_HANDLE);
        }
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: our live stream; pending work completes before release.
        check(unsafe { (self.driver.api().stream_destroy)(raw) })?;
        self.streams.remove(stream);
        Ok(())
    }
    fn stream_synchronize(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: stream of the current context (or NULL).
        check(unsafe { (self.driver.api().stream_synchronize)(raw) })
    }
    fn stream_query(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: as above.
        check(unsafe { (self.driver.api().stream_query)(raw) })
    }
    fn stream_driver_value(&mut self, ctx: u64, stream: u64) -> CuResult<u64> {
        let raw = self.enter_stream(ctx, stream)?;
        let current = self.current.map(|(_, c)| c).ok_or(INVALID_CONTEXT)?;
        super::super::dark::stream_driver_value(&self.driver, current, raw)
    }
    fn stream_wait_event(
        &mut self,
        ctx: u64,
        stream: u64,
        event: u64,
        flags: WaitFlags,
    ) -> CuResult<()> {
        let ev = self
            .events
            .get(event)
            .map(|e| e.raw)
            .ok_or(INVALID_HANDLE)?;
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: live stream and event of this client (events may cross contexts).
        check(unsafe { (self.driver.api().stream_wait_event)(raw, ev, flags.bits()) })
    }
    fn event_create(&mut self, ctx: u64, flags: EventFlags) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let mut raw: CUevent = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the context is current.
        check(unsafe { (self.driver.api().event_create)(&mut raw, flags.bits()) })?;
        Ok(self.events.insert(Event { raw, ctx: key }))
    }
    fn event_destroy(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_destroy)(raw) })?;
        self.events.remove(event);
        Ok(())
    }
    fn event_record(&mut self, ctx: u64, event: u64, stream: u64) -> CuResult<()> {
        let key = self.enter(ctx)?;
        let ev = match self.events.get(event) {
            Some(e) if e.ctx == key => e.raw,
            _ => return Err(INVALID_HANDLE),
        };
        let s = self.stream_in(key, stream)?;
        // SAFETY: event and stream of the current context.
        check(unsafe { (self.driver.api().event_record)(ev, s) })
    }
    fn event_query(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_query)(raw) })
    }
    fn event_synchronize(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_synchronize)(raw) })
    }
    fn event_elapsed_time(&mut self, ctx: u64, start: u64, end: u64) -> CuResult<f32> {
        let _ = ctx;
        let end_raw = self.events.get(end).map(|e| e.raw).ok_or(INVALID_HANDLE)?;
        let (start_raw, _) = self.enter_event(start)?;
        let mut ms = 0f32;
        // SAFETY: valid out-pointer; live events of this client.
        check(unsafe { (self.driver.api().event_elapsed_time)(&mut ms, start_raw, end_raw) })?;
        Ok(ms)
    }
}
