//! execute: metricc's function values as bytes and back, for plans sent to
//! another process (a Ballista scheduler or executor). DataFusion's plan
//! codecs write a function's name, and its bytes only when a codec writes
//! some; a function sent by name alone is rebuilt from the receiver's
//! registry, with that instance's settings, or as DataFusion's function of
//! the same name (metricc's exact `sum` and `avg`, its NaN-aware `min` and
//! `max`, its checked `sum`, its `count_distinct` of string views and its
//! `round` all share DataFusion's names). So every metricc function is
//! written whole: a tag naming it, then its settings.
//!
//! The bytes are `metricc1:` and a JSON object `{"f": tag, ...settings}`.

use super::{checked, distinct, exact};
use crate::lower::functions::portable as lower;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use serde_json::{Value, json};
use std::sync::Arc;

const MAGIC: &[u8] = b"metricc1:";

fn frame(tag: &str, settings: Value) -> Vec<u8> {
    let mut v = match settings {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    v["f"] = Value::from(tag);
    let mut out = MAGIC.to_vec();
    out.extend(v.to_string().into_bytes());
    out
}

/// The tag and settings of metricc's bytes; `None` for bytes not
/// metricc's (a function of DataFusion or of another codec).
fn unframe(bytes: &[u8]) -> Option<Result<(String, Value)>> {
    let body = bytes.strip_prefix(MAGIC)?;
    Some(match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("f").and_then(Value::as_str) {
            Some(tag) => Ok((tag.to_string(), v.clone())),
            None => plan_err!("a metricc function without a tag: {v}"),
        },
        Err(e) => plan_err!("a metricc function that cannot be read: {e}"),
    })
}

/// What `bytes` hold, built by `build` from their tag and settings; `None`
/// for bytes not metricc's.
fn decode<T>(bytes: &[u8], build: impl FnOnce(&str, &Value) -> Result<T>) -> Option<Result<T>> {
    unframe(bytes).map(|framed| framed.and_then(|(tag, settings)| build(&tag, &settings)))
}

/// `u` as bytes, when it is one of metricc's aggregates.
pub fn encode_udaf(u: &AggregateUDF) -> Option<Vec<u8>> {
    if let Some((tag, settings)) = lower::udaf_parts(u) {
        return Some(frame(tag, settings));
    }
    let tag = exact::tag_of(u)
        .or_else(|| checked::aggregate_tag(u))
        .or_else(|| distinct::is_views(u).then_some(COUNT_DISTINCT_VIEWS))?;
    Some(frame(tag, Value::Null))
}

const COUNT_DISTINCT_VIEWS: &str = "metricc_count_distinct_views";

/// The aggregate `bytes` hold; `None` for bytes not metricc's.
pub fn decode_udaf(bytes: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    decode(bytes, |tag, settings| {
        if let Some(u) = lower::udaf_of(tag, settings) {
            return u;
        }
        match tag {
            "metricc_exact_sum" => Ok(exact::EXACT_SUM.clone()),
            "metricc_exact_avg" => Ok(exact::EXACT_AVG.clone()),
            "metricc_nan_min" => Ok(exact::NAN_MIN.clone()),
            "metricc_nan_max" => Ok(exact::NAN_MAX.clone()),
            "metricc_checked_sum" => Ok(checked::CHECKED_SUM.clone()),
            COUNT_DISTINCT_VIEWS => Ok(distinct::COUNT_DISTINCT_VIEWS.clone()),
            other => plan_err!("`{other}` is not an aggregate of this metricc"),
        }
    })
}

/// `u` as bytes, when it is one of metricc's scalar functions.
pub fn encode_udf(u: &ScalarUDF) -> Option<Vec<u8>> {
    if let Some((tag, settings)) = lower::udf_parts(u) {
        return Some(frame(tag, settings));
    }
    checked::scalar_tag(u).map(|tag| frame(tag, Value::Null))
}

/// The scalar function `bytes` hold; `None` for bytes not metricc's.
pub fn decode_udf(bytes: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    decode(bytes, |tag, settings| {
        if let Some(u) = lower::udf_of(tag, settings) {
            return u;
        }
        match tag {
            "metricc_checked_add" => Ok(checked::CHECKED_ADD.clone()),
            "metricc_checked_sub" => Ok(checked::CHECKED_SUB.clone()),
            "metricc_checked_mul" => Ok(checked::CHECKED_MUL.clone()),
            other => plan_err!("`{other}` is not a scalar function of this metricc"),
        }
    })
}

/// `u` as bytes, when it is one of metricc's window functions.
pub fn encode_udwf(u: &WindowUDF) -> Option<Vec<u8>> {
    lower::udwf_parts(u).map(|(tag, settings)| frame(tag, settings))
}

/// The window function `bytes` hold; `None` for bytes not metricc's.
pub fn decode_udwf(bytes: &[u8]) -> Option<Result<Arc<WindowUDF>>> {
    decode(bytes, |tag, settings| match lower::udwf_of(tag, settings) {
        Some(u) => u,
        None => plan_err!("`{tag}` is not a window function of this metricc"),
    })
}
