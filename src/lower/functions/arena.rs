//! lower: the event store of metricc's per-entity aggregates. Every group's
//! events live in one buffer, in arrival order, each with its group; a group
//! is made contiguous only when it is evaluated, by one counting sort over
//! all of them.
//!
//! Our own, not a crate's: DataFusion's own accumulators keep one value per
//! group, and a `Vec` per group (what these aggregates had before) costs an
//! allocation and a few reallocations per entity. With a million entities of
//! eight events each, those allocations were a quarter of a retention run.

use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::EmitTo;

/// Events per chunk: the store grows a chunk at a time, never copying what
/// it holds (a doubling `Vec` of tens of millions of events spent a tenth of
/// a funnel run in copies and fresh pages).
const CHUNK: usize = 1 << 16;

/// [`Arena::compact_when_grown`] compacts once the store holds this many
/// events and twice what the last compaction left: an entity with millions
/// of events keeps what its compaction keeps, at an amortized cost per event.
const COMPACT_AT: usize = 1 << 20;

/// Events of many groups in one store.
#[derive(Debug)]
pub(super) struct Arena<E> {
    /// Every event with its group, in arrival order.
    chunks: Vec<Vec<(u32, E)>>,
    len: usize,
    /// Per group, one more than the index of its latest event (0: none).
    last: Vec<u32>,
    /// Events held after the last compaction.
    compacted: usize,
}

impl<E> Default for Arena<E> {
    fn default() -> Self {
        Arena {
            chunks: Vec::new(),
            len: 0,
            last: Vec::new(),
            compacted: 0,
        }
    }
}

/// The events of the groups an [`Arena::take`] emitted, by group.
#[derive(Debug)]
pub(super) struct Taken<E> {
    /// Group `g`'s events are `order[offsets[g]..offsets[g + 1]]`.
    offsets: Vec<usize>,
    /// Indices into `chunks`, in group order (a counting sort's output).
    order: Vec<u32>,
    chunks: Vec<Vec<(u32, E)>>,
}

impl<E: Copy> Taken<E> {
    pub(super) fn groups(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Events taken.
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    fn at(&self, i: u32) -> E {
        let i = i as usize;
        self.chunks[i / CHUNK][i % CHUNK].1
    }

    /// Group `g`'s events, in arrival order, into `out` (cleared first).
    pub(super) fn group_into(&self, g: usize, out: &mut Vec<E>) {
        out.clear();
        out.extend(
            self.order[self.offsets[g]..self.offsets[g + 1]]
                .iter()
                .map(|&i| self.at(i)),
        );
    }
}

impl<E: Copy> Arena<E> {
    /// Makes room for `groups` groups.
    pub(super) fn resize(&mut self, groups: usize) -> Result<()> {
        if groups > u32::MAX as usize {
            return exec_err!("more than {} entities in one aggregate", u32::MAX);
        }
        self.last.resize(groups, 0);
        Ok(())
    }

    pub(super) fn push(&mut self, group: usize, e: E) -> Result<()> {
        if self.len >= u32::MAX as usize - 1 {
            return exec_err!("more than {} events in one aggregate", u32::MAX - 1);
        }
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push((group as u32, e)),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push((group as u32, e));
                self.chunks.push(c);
            }
        }
        self.len += 1;
        self.last[group] = self.len as u32;
        Ok(())
    }

    /// Takes `group`'s events out, in arrival order; the others stay, in
    /// theirs. It rewrites the store: for a group that is to be held
    /// elsewhere from now on, once.
    pub(super) fn remove(&mut self, group: usize) -> Result<Vec<E>> {
        let chunks = std::mem::take(&mut self.chunks);
        self.len = 0;
        self.last.iter_mut().for_each(|l| *l = 0);
        let mut out = Vec::new();
        for (g, e) in chunks.into_iter().flatten() {
            if g as usize == group {
                out.push(e);
            } else {
                self.push(g as usize, e)?;
            }
        }
        self.compacted = self.compacted.min(self.len);
        Ok(out)
    }

    /// The latest event of `group`, to fold a new one into.
    pub(super) fn last_mut(&mut self, group: usize) -> Option<&mut E> {
        match self.last[group] as usize {
            0 => None,
            i => Some(&mut self.chunks[(i - 1) / CHUNK][(i - 1) % CHUNK].1),
        }
    }

    /// Heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<(u32, E)>() + self.last.capacity() * 4
    }

    /// Takes the events of the groups `emit_to` names; the groups left are
    /// renumbered from 0, as DataFusion renumbers them.
    pub(super) fn take(&mut self, emit_to: EmitTo) -> Result<Taken<E>> {
        let groups = match emit_to {
            EmitTo::All => self.last.len(),
            EmitTo::First(n) => n.min(self.last.len()),
        };
        let chunks = std::mem::take(&mut self.chunks);
        self.len = 0;
        let mut offsets = vec![0usize; groups + 1];
        let all = chunks.iter().flatten();
        for &(o, _) in all.clone() {
            if (o as usize) < groups {
                offsets[o as usize + 1] += 1;
            }
        }
        for g in 0..groups {
            offsets[g + 1] += offsets[g];
        }
        let mut next = offsets.clone();
        let mut order = vec![0u32; offsets[groups]];
        let rest = self.last.len() - groups;
        self.last.clear();
        self.last.resize(rest, 0);
        for (i, &(o, e)) in all.enumerate() {
            let g = o as usize;
            if g < groups {
                order[next[g]] = i as u32;
                next[g] += 1;
            } else {
                // The groups left keep their events, renumbered.
                self.push(g - groups, e)?;
            }
        }
        if self.last.capacity() > 2 * self.last.len() + 1024 {
            self.last.shrink_to_fit();
        }
        self.compacted = self.compacted.min(self.len);
        Ok(Taken {
            offsets,
            order,
            chunks,
        })
    }

    /// Compacts every group with `f` (see [`Arena::rewrite`]) when the
    /// store has grown enough since the last compaction.
    pub(super) fn compact_when_grown(&mut self, f: impl FnMut(&mut Vec<E>)) -> Result<()> {
        if self.len >= COMPACT_AT && self.len >= 2 * self.compacted {
            self.rewrite(f)?;
            self.compacted = self.len;
        }
        Ok(())
    }

    /// Replaces every group's events by what `f` makes of them (a
    /// compaction), keeping the groups' numbers.
    pub(super) fn rewrite(&mut self, mut f: impl FnMut(&mut Vec<E>)) -> Result<()> {
        let groups = self.last.len();
        let taken = self.take(EmitTo::All)?;
        self.last.resize(groups, 0);
        let mut scratch = Vec::new();
        for g in 0..taken.groups() {
            taken.group_into(g, &mut scratch);
            f(&mut scratch);
            for &e in &scratch {
                self.push(g, e)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(events: &[(usize, i32)], groups: usize) -> Arena<i32> {
        let mut a = Arena::default();
        a.resize(groups).unwrap();
        for &(g, e) in events {
            a.push(g, e).unwrap();
        }
        a
    }

    fn group(t: &Taken<i32>, g: usize) -> Vec<i32> {
        let mut out = Vec::new();
        t.group_into(g, &mut out);
        out
    }

    #[test]
    fn take_all_groups_events_in_arrival_order() {
        let mut a = arena(&[(2, 1), (0, 2), (2, 3), (1, 4), (0, 5)], 4);
        let t = a.take(EmitTo::All).unwrap();
        assert_eq!(t.groups(), 4);
        assert_eq!(group(&t, 0), [2, 5]);
        assert_eq!(group(&t, 1), [4]);
        assert_eq!(group(&t, 2), [1, 3]);
        assert_eq!(group(&t, 3), [] as [i32; 0]);
        assert_eq!(t.len(), 5);
        assert_eq!(a.take(EmitTo::All).unwrap().len(), 0);
    }

    #[test]
    fn take_first_renumbers_the_rest() {
        let mut a = arena(&[(2, 1), (0, 2), (2, 3), (1, 4), (3, 5)], 4);
        let t = a.take(EmitTo::First(2)).unwrap();
        assert_eq!((t.groups(), t.len()), (2, 2));
        assert_eq!(group(&t, 0), [2]);
        assert_eq!(group(&t, 1), [4]);
        // Groups 2 and 3 are now 0 and 1, and their latest events known.
        assert_eq!(a.last_mut(0).copied(), Some(3));
        assert_eq!(a.last_mut(1).copied(), Some(5));
        a.resize(3).unwrap();
        a.push(2, 9).unwrap();
        let t = a.take(EmitTo::All).unwrap();
        assert_eq!(group(&t, 0), [1, 3]);
        assert_eq!(group(&t, 1), [5]);
        assert_eq!(group(&t, 2), [9]);
    }

    #[test]
    fn remove_takes_one_groups_events_and_keeps_the_rest() {
        let mut a = arena(&[(1, 5), (0, 2), (1, 3), (2, 7), (0, 4)], 3);
        assert_eq!(a.remove(1).unwrap(), [5, 3]);
        assert_eq!(a.last_mut(1).copied(), None);
        assert_eq!(a.last_mut(0).copied(), Some(4));
        let t = a.take(EmitTo::All).unwrap();
        assert_eq!(group(&t, 0), [2, 4]);
        assert_eq!(group(&t, 1), [] as [i32; 0]);
        assert_eq!(group(&t, 2), [7]);
    }

    #[test]
    fn rewrite_keeps_group_numbers() {
        let mut a = arena(&[(1, 5), (0, 2), (1, 3), (1, 5)], 3);
        a.rewrite(|v| {
            v.sort();
            v.dedup();
        })
        .unwrap();
        assert_eq!(a.last_mut(1).copied(), Some(5));
        let t = a.take(EmitTo::All).unwrap();
        assert_eq!(group(&t, 0), [2]);
        assert_eq!(group(&t, 1), [3, 5]);
        assert_eq!(t.groups(), 3);
    }

    #[test]
    fn compaction_waits_until_the_store_has_grown() {
        let mut a = Arena::default();
        a.resize(2).unwrap();
        let dedup = |v: &mut Vec<i32>| {
            v.sort();
            v.dedup();
        };
        // Below COMPACT_AT events nothing is compacted.
        for i in 0..COMPACT_AT - 1 {
            a.push(i % 2, (i % 3) as i32).unwrap();
            a.compact_when_grown(dedup).unwrap();
        }
        assert_eq!(a.len, COMPACT_AT - 1);
        // The next event compacts both groups to their distinct values ...
        a.push(0, 7).unwrap();
        a.compact_when_grown(dedup).unwrap();
        assert_eq!(a.len, 7);
        // ... and the next compaction waits for twice that.
        for _ in 0..6 {
            a.push(1, 9).unwrap();
            a.compact_when_grown(dedup).unwrap();
        }
        assert_eq!(a.len, 13);
        let t = a.take(EmitTo::All).unwrap();
        assert_eq!(group(&t, 0), [0, 1, 2, 7]);
        assert_eq!(group(&t, 1), [0, 1, 2, 9, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn events_span_chunks() {
        let n = 2 * CHUNK + 7;
        let mut a = Arena::default();
        a.resize(3).unwrap();
        for i in 0..n {
            a.push(i % 3, i as i32).unwrap();
        }
        let want = (0..n).rev().find(|i| i % 3 == 2).unwrap() as i32;
        assert_eq!(a.last_mut(2).copied(), Some(want));
        let t = a.take(EmitTo::All).unwrap();
        let ones = group(&t, 1);
        assert_eq!(ones.len(), (n + 1) / 3);
        assert!(ones.iter().all(|v| v % 3 == 1));
        assert!(ones.windows(2).all(|w| w[0] < w[1]));
    }
}
