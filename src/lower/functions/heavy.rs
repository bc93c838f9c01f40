//! lower: the events of one entity and sequence too many to hold (a bot, a
//! load test, one customer's production traffic), in a run whose rows come
//! grouped by entity but in no order of time. DataFusion sorts them by the
//! entity alone (`engine::one_phase`): a sort by one column sorts runs of
//! 8 MB in memory and merges few of them, where a sort by entity and time
//! merges one run per batch (with the 512-row batches that runs under a
//! limit had then: 42 s against 7 s for one entity of 10M events under
//! 1 GB).
//!
//! The events fill a buffer; a full buffer is sorted by time and written to
//! a temporary file; at the end the runs are merged in time order into a
//! [`sweep::Stream`], which holds only what an `ordered` or `strict`
//! sequence can still use. What stays in memory is the buffer (4 MB), a
//! read buffer per run, and the stream. More than [`MAX_RUNS`] runs are
//! first merged into one, so no entity holds more files open than that.
//!
//! Our own, not DataFusion's sort: its sort works on record batches inside
//! a plan, and these events exist only inside the aggregate.

use super::sweep::{self, Event, Outcome, Spec, ValueOrder};
use datafusion::common::{Result, exec_err};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

/// Events a buffer holds before it is written: 4 MB.
const BUFFER: usize = 1 << 17;

/// Runs one entity may have on disk before they are merged into one.
const MAX_RUNS: usize = 64;

/// Bytes of one event on disk.
const EVENT_BYTES: usize = 32;

/// Read and write buffer of one run's file.
const IO_BUFFER: usize = 1 << 16;

/// One heavy entity's events of one sequence.
#[derive(Debug, Default)]
pub(super) struct Heavy {
    buffer: Vec<Event>,
    runs: Vec<Run>,
}

/// Events in time order in a temporary file, removed when dropped.
#[derive(Debug)]
struct Run {
    path: tempfile::TempPath,
    events: usize,
}

impl Heavy {
    pub(super) fn push(&mut self, e: Event) -> Result<()> {
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(BUFFER);
        }
        self.buffer.push(e);
        if self.buffer.len() >= BUFFER {
            self.buffer.sort_unstable_by_key(|e| e.ts);
            let run = write(self.buffer.drain(..).map(Ok))?;
            self.runs.push(run);
            if self.runs.len() >= MAX_RUNS {
                let runs = std::mem::take(&mut self.runs);
                let run = write(Merge::new(&runs, &[])?)?;
                self.runs.push(run);
            }
        }
        Ok(())
    }

    /// The sequence's answer over every event, merged in time order.
    pub(super) fn finish(mut self, spec: &Spec, order: &impl ValueOrder) -> Result<Vec<Outcome>> {
        self.buffer.sort_unstable_by_key(|e| e.ts);
        let mut stream = sweep::Stream::new(spec);
        for e in Merge::new(&self.runs, &self.buffer)? {
            if stream.push(e?, order).is_err() {
                return exec_err!("internal: a merge of sorted runs out of time order");
            }
        }
        Ok(stream.finish(order))
    }

    /// About the heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.buffer.capacity() * std::mem::size_of::<Event>()
    }
}

/// Writes events in time order to a new temporary file.
fn write(events: impl Iterator<Item = Result<Event>>) -> Result<Run> {
    let (file, path) = tempfile::NamedTempFile::new_in(crate::spill::dir()?)?.into_parts();
    let mut out = BufWriter::with_capacity(IO_BUFFER, file);
    let mut n = 0;
    for e in events {
        out.write_all(&encode(&e?))?;
        n += 1;
    }
    out.flush()?;
    Ok(Run { path, events: n })
}

fn encode(e: &Event) -> [u8; EVENT_BYTES] {
    let mut b = [0u8; EVENT_BYTES];
    b[0..8].copy_from_slice(&e.ts.to_le_bytes());
    b[8..16].copy_from_slice(&e.bucket.to_le_bytes());
    b[16..20].copy_from_slice(&e.steps.to_le_bytes());
    b[20..24].copy_from_slice(&e.excl.to_le_bytes());
    b[24..28].copy_from_slice(&e.hold.to_le_bytes());
    b[28..32].copy_from_slice(&e.prop.to_le_bytes());
    b
}

fn decode(b: &[u8; EVENT_BYTES]) -> Event {
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    Event {
        ts: i64::from_le_bytes(b[0..8].try_into().unwrap()),
        bucket: i64::from_le_bytes(b[8..16].try_into().unwrap()),
        steps: u32_at(16),
        excl: u32_at(20),
        hold: u32_at(24),
        prop: u32_at(28),
    }
}

/// One source of a merge: a run's file, or the buffer.
enum Source<'a> {
    File(BufReader<File>, usize),
    Memory(std::slice::Iter<'a, Event>),
}

impl Source<'_> {
    fn next(&mut self) -> Result<Option<Event>> {
        match self {
            Source::File(_, 0) => Ok(None),
            Source::File(input, left) => {
                *left -= 1;
                let mut b = [0u8; EVENT_BYTES];
                input.read_exact(&mut b)?;
                Ok(Some(decode(&b)))
            }
            Source::Memory(it) => Ok(it.next().copied()),
        }
    }
}

/// Runs and a sorted buffer merged in time order (ties by source, so runs
/// written earlier come first).
struct Merge<'a> {
    sources: Vec<Source<'a>>,
    heads: Vec<Option<Event>>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
}

impl<'a> Merge<'a> {
    fn new(runs: &[Run], buffer: &'a [Event]) -> Result<Merge<'a>> {
        let mut sources = Vec::with_capacity(runs.len() + 1);
        for r in runs {
            let input = BufReader::with_capacity(IO_BUFFER, File::open(&r.path)?);
            sources.push(Source::File(input, r.events));
        }
        sources.push(Source::Memory(buffer.iter()));
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            let head = s.next()?;
            if let Some(e) = &head {
                heap.push(Reverse((e.ts, i)));
            }
            heads.push(head);
        }
        Ok(Merge {
            sources,
            heads,
            heap,
        })
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        let Reverse((_, i)) = self.heap.pop()?;
        let e = self.heads[i].take()?;
        match self.sources[i].next() {
            Ok(next) => {
                if let Some(n) = &next {
                    self.heap.push(Reverse((n.ts, i)));
                }
                self.heads[i] = next;
                Some(Ok(e))
            }
            Err(err) => Some(Err(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::functions::sweep::{Attribution, Order};

    struct Ids;

    impl ValueOrder for Ids {
        fn hold(&self, a: u32, b: u32) -> std::cmp::Ordering {
            a.cmp(&b)
        }
        fn prop(&self, a: u32, b: u32) -> std::cmp::Ordering {
            a.cmp(&b)
        }
    }

    #[test]
    fn an_event_survives_its_file() {
        let e = Event {
            ts: -5,
            bucket: i64::MAX,
            steps: 7,
            excl: u32::MAX,
            hold: 3,
            prop: sweep::NO_PROP,
        };
        assert_eq!(decode(&encode(&e)), e);
    }

    /// Events in no order of time, in more runs than `MAX_RUNS` (so runs
    /// are merged on disk too), answer as the engine over all of them.
    #[test]
    fn runs_merged_in_time_order_give_the_engines_answer() {
        let spec = Spec {
            attribution: Attribution::LastStep,
            ..Spec::ordered(3, 700)
        };
        let n = BUFFER * (MAX_RUNS + 3) / 64;
        // A scattered order of times: a multiplicative permutation.
        let events: Vec<Event> = (0..n as i64)
            .map(|i| {
                let ts = (i * 7_919) % n as i64;
                Event {
                    ts,
                    bucket: ts / (n as i64 / 5),
                    steps: [1, 2, 4, 2, 4, 0][(ts % 6) as usize] | u32::from(ts % 1_001 == 0),
                    excl: 0,
                    hold: 0,
                    prop: (ts % 3) as u32,
                }
            })
            .filter(|e| e.steps != 0)
            .collect();
        // Small runs for the test: pushed through `write` directly.
        let mut heavy = Heavy::default();
        for chunk in events.chunks(BUFFER / 64) {
            let mut sorted = chunk.to_vec();
            sorted.sort_unstable_by_key(|e| e.ts);
            heavy.runs.push(write(sorted.into_iter().map(Ok)).unwrap());
            if heavy.runs.len() >= MAX_RUNS {
                let runs = std::mem::take(&mut heavy.runs);
                heavy
                    .runs
                    .push(write(Merge::new(&runs, &[]).unwrap()).unwrap());
            }
        }
        assert!(heavy.runs.len() < MAX_RUNS);
        let got = heavy.finish(&spec, &Ids).unwrap();
        let want = sweep::evaluate(&spec, &mut events.clone());
        assert!(want.len() >= 5);
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_buffer_is_written_and_read_back() {
        let spec = Spec {
            order: Order::Strict,
            ..Spec::ordered(2, 10)
        };
        let mut heavy = Heavy::default();
        let mut all = Vec::new();
        for i in (0..BUFFER as i64 + 10).rev() {
            let e = Event {
                ts: i,
                bucket: i / 100_000,
                steps: 1 << (i % 2),
                excl: 0,
                hold: 0,
                prop: 0,
            };
            all.push(e);
            heavy.push(e).unwrap();
        }
        assert_eq!(heavy.runs.len(), 1);
        assert_eq!(heavy.buffer.len(), 10);
        let got = heavy.finish(&spec, &Ids).unwrap();
        assert_eq!(got, sweep::evaluate(&spec, &mut all));
    }
}
