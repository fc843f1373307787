//! Streams and events on the simulator (work runs at submission).

use super::*;
use crate::cuda::options::{EventFlags, StreamFlags, WaitFlags};

impl StreamBackend for SimBackend {
    fn stream_create(&mut self, ctx: u64, _flags: StreamFlags, _priority: i32) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        let h = self.handle(KIND_STREAM);
        self.streams.insert(h, ctx);
        Ok(h)
    }
    fn stream_destroy(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.graphs.forget_stream(stream);
        self.streams
            .remove(&stream)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }
    fn stream_synchronize(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.refuse_in_capture(stream)
    }
    fn stream_query(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.refuse_in_capture(stream)
    }
    fn stream_driver_value(&mut self, ctx: u64, stream: u64) -> CuResult<u64> {
        // A value only NVIDIA's driver knows: the handles are checked so a
        // bad one still gets its own error.
        self.stream(ctx, stream)?;
        Err(result::NOT_SUPPORTED)
    }
    fn stream_wait_event(
        &mut self,
        ctx: u64,
        stream: u64,
        event: u64,
        _flags: WaitFlags,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.events.get(&event).ok_or(result::INVALID_HANDLE)?;
        self.graphs.wait_event(stream, event).map(drop)
    }
    fn event_create(&mut self, ctx: u64, _flags: EventFlags) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        let h = self.handle(KIND_EVENT);
        self.events.insert(
            h,
            SimEvent {
                ctx,
                recorded: None,
            },
        );
        Ok(h)
    }
    fn event_destroy(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.events
            .remove(&event)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }
    fn event_record(&mut self, ctx: u64, event: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        let capturing = self.graphs.is_capturing(stream);
        let e = self.events.get_mut(&event).ok_or(result::INVALID_HANDLE)?;
        if !capturing {
            e.recorded = Some(Instant::now());
        }
        self.graphs.event_recorded(event, stream);
        Ok(())
    }
    fn event_query(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.events
            .get(&event)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }
    fn event_synchronize(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.event_query(ctx, event)
    }
    fn event_elapsed_time(&mut self, ctx: u64, start: u64, end: u64) -> CuResult<f32> {
        self.ctx(ctx)?;
        let at = |e: u64| {
            self.events
                .get(&e)
                .ok_or(result::INVALID_HANDLE)?
                .recorded
                .ok_or(result::INVALID_HANDLE)
        };
        let (s, e) = (at(start)?, at(end)?);
        let ms = if e >= s {
            e.duration_since(s).as_secs_f64() * 1e3
        } else {
            -(s.duration_since(e).as_secs_f64() * 1e3)
        };
        Ok(ms as f32)
    }
}
