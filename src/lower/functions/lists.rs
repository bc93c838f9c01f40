//! lower: what metricc's per-entity aggregates share: list-of-struct
//! states and results, specs carried as JSON inside the function value, and
//! interned tuples of breakdown values.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, exec_err};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

/// A spec as the JSON a function value carries.
pub(super) fn json<T: serde::Serialize>(spec: &T) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// The spec of function `name` from its JSON.
pub(super) fn parse<T: DeserializeOwned>(spec: &str, name: &str) -> Result<T> {
    serde_json::from_str::<T>(spec).or_else(|e| exec_err!("{name}: bad spec: {e}"))
}

/// Whether a group grew enough since its last compaction to compact again.
pub(super) fn due(len: usize, compacted: usize) -> bool {
    len >= 64 && len >= 2 * compacted
}

pub(super) fn list(
    fields: Fields,
    columns: Vec<ArrayRef>,
    lengths: Vec<usize>,
) -> Result<ArrayRef> {
    let structs = StructArray::try_new(fields.clone(), columns, None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        None,
    )?))
}

/// The state lists of a merge, one per row: each non-null list with the
/// group it merges into.
pub(super) fn merged<'a>(
    values: &'a [ArrayRef],
    group_indices: &'a [usize],
) -> impl Iterator<Item = (usize, ArrayRef)> + 'a {
    let lists = values[0].as_list::<i32>();
    group_indices
        .iter()
        .enumerate()
        .filter(move |(row, _)| lists.is_valid(*row))
        .map(move |(row, group)| (*group, lists.value(row)))
}

/// Tuples of optional strings, each kept once, as `u32` ids.
#[derive(Debug, Default)]
pub(super) struct Interner {
    ids: HashMap<String, u32>,
    pub(super) values: Vec<String>,
    /// Approximate heap bytes held.
    bytes: usize,
}

impl Interner {
    pub(super) fn id(&mut self, key: &str) -> u32 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(key.to_string());
        self.ids.insert(key.to_string(), id);
        self.bytes += 2 * key.len() + 64;
        id
    }

    /// Rank of each id in the order of the values (the engine's tie order).
    pub(super) fn ranks(&self) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        // By the values themselves (null first), not their encoded keys.
        let keys: Vec<Vec<Option<&str>>> = self.values.iter().map(|v| split_key(v)).collect();
        order.sort_by(|a, b| keys[*a as usize].cmp(&keys[*b as usize]));
        let mut rank = vec![0; order.len()];
        for (r, id) in order.iter().enumerate() {
            rank[*id as usize] = r as u32;
        }
        (rank, order)
    }

    pub(super) fn size(&self) -> usize {
        self.bytes
    }
}

/// Appends one value of a tuple key: `N` for null, `S<len>:<text>` otherwise,
/// so no text can be mistaken for another tuple.
pub(super) fn push_key(key: &mut String, v: Option<&str>) {
    match v {
        None => key.push('N'),
        Some(s) => {
            key.push('S');
            key.push_str(&s.len().to_string());
            key.push(':');
            key.push_str(s);
        }
    }
}

/// The values of a tuple key, in order.
pub(super) fn split_key(mut key: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    loop {
        if let Some(rest) = key.strip_prefix('N') {
            out.push(None);
            key = rest;
        } else if let Some(rest) = key.strip_prefix('S') {
            let Some((len, rest)) = rest.split_once(':') else {
                break;
            };
            let len = len.parse::<usize>().unwrap_or(0).min(rest.len());
            if !rest.is_char_boundary(len) {
                break;
            }
            out.push(Some(&rest[..len]));
            key = &rest[len..];
        } else {
            break;
        }
    }
    out
}
