//! lower: `metricc_local_time(t)`, an instant (a timestamp in a named zone)
//! as its wall-clock time there: DataFusion's `to_local_time`, answered
//! from a table of the zone's offset changes instead of a time-zone library
//! call per row.
//!
//! Ours, not DataFusion's: `to_local_time` asks chrono-tz for each row's
//! offset, which made a per-day aggregate in Europe/Paris 1.65x as slow as
//! in UTC. The table holds every offset change from 1900 to 2200, found by
//! sampling the offset at every day start and searching each changed day
//! to the second; instants outside it, and zones whose offset changes twice
//! within one day (none in the database), take the library's answer. The
//! table is built once per zone and process.

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The function's name in plans.
pub const LOCAL_TIME: &str = "metricc_local_time";

const MICROS: i64 = 1_000_000;
const DAY: i64 = 86_400;
/// The table's span, seconds since the epoch: 1900-01-01 to 2200-01-01.
const FIRST: i64 = -2_208_988_800;
const LAST: i64 = 7_258_118_400;

/// The offset changes of a zone: from `starts[i]` (microseconds since the
/// epoch, UTC) the offset is `offsets[i]` microseconds.
#[derive(Debug)]
pub struct Offsets {
    tz: Tz,
    starts: Vec<i64>,
    offsets: Vec<i64>,
}

fn offset_at(tz: Tz, secs: i64) -> i64 {
    match tz.timestamp_opt(secs, 0) {
        chrono::LocalResult::Single(t) => i64::from(t.offset().fix().local_minus_utc()),
        _ => 0,
    }
}

impl Offsets {
    /// The table of `tz`, built once per process.
    pub fn of(tz: Tz) -> Arc<Offsets> {
        static TABLES: OnceLock<Mutex<HashMap<Tz, Arc<Offsets>>>> = OnceLock::new();
        let tables = TABLES.get_or_init(Default::default);
        let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            tables
                .entry(tz)
                .or_insert_with(|| Arc::new(Offsets::build(tz))),
        )
    }

    fn build(tz: Tz) -> Offsets {
        let mut starts = vec![FIRST * MICROS];
        let mut offsets = vec![offset_at(tz, FIRST) * MICROS];
        let mut day = FIRST;
        let mut current = offset_at(tz, FIRST);
        while day < LAST {
            let next = day + DAY;
            let o = offset_at(tz, next);
            if o != current {
                // The first second of (day, next] with the new offset.
                let (mut lo, mut hi) = (day, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(tz, mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                starts.push(hi * MICROS);
                offsets.push(o * MICROS);
                current = o;
            }
            day = next;
        }
        Offsets {
            tz,
            starts,
            offsets,
        }
    }

    /// The wall-clock time of instant `us` (microseconds since the epoch).
    pub fn wall(&self, us: i64) -> i64 {
        if !(FIRST * MICROS..LAST * MICROS).contains(&us) {
            let secs = us.div_euclid(MICROS);
            return us.saturating_add(offset_at(self.tz, secs) * MICROS);
        }
        let i = self.starts.partition_point(|s| *s <= us) - 1;
        us + self.offsets[i]
    }
}

/// `metricc_local_time(t)` for `t` in zone `tz`.
pub fn local_time(tz: Tz, t: datafusion::logical_expr::Expr) -> datafusion::logical_expr::Expr {
    local_time_udf(tz).call(vec![t])
}

/// The function `metricc_local_time` of zone `tz`.
pub fn local_time_udf(tz: Tz) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(LocalTime {
        offsets: Offsets::of(tz),
        signature: Signature::any(1, Volatility::Immutable),
    }))
}

/// The zone of `u`, when it is `metricc_local_time`.
pub fn zone_of(u: &ScalarUDF) -> Option<Tz> {
    (u.inner().as_ref() as &dyn std::any::Any)
        .downcast_ref::<LocalTime>()
        .map(|l| l.offsets.tz)
}

#[derive(Debug)]
struct LocalTime {
    offsets: Arc<Offsets>,
    signature: Signature,
}

impl PartialEq for LocalTime {
    fn eq(&self, other: &Self) -> bool {
        self.offsets.tz == other.offsets.tz
    }
}

impl Eq for LocalTime {}

impl std::hash::Hash for LocalTime {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.offsets.tz.name().hash(state);
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        LOCAL_TIME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(arg) = args.args.first() else {
            return exec_err!("{LOCAL_TIME} takes one timestamp");
        };
        match arg {
            ColumnarValue::Array(a) => {
                let DataType::Timestamp(TimeUnit::Microsecond, _) = a.data_type() else {
                    return exec_err!("{LOCAL_TIME} takes microseconds, not {}", a.data_type());
                };
                let t = a.as_primitive::<TimestampMicrosecondType>();
                let out: TimestampMicrosecondArray = t.unary(|us| self.offsets.wall(us));
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, _)) => {
                Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
                    v.map(|us| self.offsets.wall(us)),
                    None,
                )))
            }
            ColumnarValue::Scalar(other) => {
                exec_err!("{LOCAL_TIME} takes microseconds, not {}", other.data_type())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn library(tz: Tz, us: i64) -> i64 {
        us + offset_at(tz, us.div_euclid(MICROS)) * MICROS
    }

    #[test]
    fn dst_edges_in_paris_and_new_york() {
        // 2026-03-29 01:00 UTC: Paris goes from +1 to +2.
        let paris = Offsets::of(chrono_tz::Europe::Paris);
        let edge = 1_774_746_000 * MICROS;
        assert_eq!(paris.wall(edge - 1), edge - 1 + 3_600 * MICROS);
        assert_eq!(paris.wall(edge), edge + 7_200 * MICROS);
        // 2026-11-01 06:00 UTC: New York goes from -4 to -5.
        let ny = Offsets::of(chrono_tz::America::New_York);
        let edge = 1_793_512_800 * MICROS;
        assert_eq!(ny.wall(edge - 1), edge - 1 - 4 * 3_600 * MICROS);
        assert_eq!(ny.wall(edge), edge - 5 * 3_600 * MICROS);
    }

    #[test]
    fn every_offset_change_answers_as_the_library() {
        for zone in [
            chrono_tz::Europe::Paris,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Africa::Casablanca,
            chrono_tz::Pacific::Apia,
        ] {
            let table = Offsets::of(zone);
            assert!(
                table.starts.len() > 10,
                "{zone}: {} changes",
                table.starts.len()
            );
            for &s in &table.starts {
                for us in [s - 1, s, s + 1] {
                    assert_eq!(table.wall(us), library(zone, us), "{zone} at {us}");
                }
            }
        }
    }

    proptest! {
        /// The table answers as the time-zone library, across zones with
        /// odd offsets and history, in and out of the table's span.
        #[test]
        fn table_answers_as_the_library(
            zone in prop::sample::select(vec![
                chrono_tz::Europe::Paris, chrono_tz::America::New_York,
                chrono_tz::Asia::Kolkata, chrono_tz::Australia::Lord_Howe,
                chrono_tz::Pacific::Chatham, chrono_tz::America::Sao_Paulo,
                chrono_tz::Africa::Casablanca, chrono_tz::Asia::Kathmandu,
                chrono_tz::Europe::Moscow, chrono_tz::UTC,
            ]),
            us in -4_000_000_000_000_000i64..10_000_000_000_000_000,
        ) {
            prop_assert_eq!(Offsets::of(zone).wall(us), library(zone, us));
        }
    }
}
