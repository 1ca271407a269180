//! Context-window pressure per session.

use std::collections::HashMap;

use tether_proto::hooks::Pressure;

use crate::config::MemoryThresholds;

pub(crate) fn pressure(fraction: f64, thresholds: &MemoryThresholds) -> Pressure {
    if fraction >= thresholds.compact {
        Pressure::Compact
    } else if fraction >= thresholds.alert {
        Pressure::Alert
    } else if fraction >= thresholds.warn {
        Pressure::Warn
    } else {
        Pressure::Ok
    }
}

/// The last pressure of each session, to publish compaction only on entering it.
#[derive(Default)]
pub(crate) struct LastPressure(HashMap<String, Pressure>);

impl LastPressure {
    /// Records the new pressure; true when the session just entered `compact`.
    pub(crate) fn entered_compact(&mut self, session: &str, now: Pressure) -> bool {
        let before = self.0.insert(session.to_owned(), now);
        now == Pressure::Compact && before != Some(Pressure::Compact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thresholds() {
        let t = MemoryThresholds::default();
        assert_eq!(pressure(0.0, &t), Pressure::Ok);
        assert_eq!(pressure(0.69, &t), Pressure::Ok);
        assert_eq!(pressure(0.70, &t), Pressure::Warn);
        assert_eq!(pressure(0.85, &t), Pressure::Alert);
        assert_eq!(pressure(0.90, &t), Pressure::Compact);
        assert_eq!(pressure(1.5, &t), Pressure::Compact);
    }

    #[test]
    fn compaction_is_announced_once_per_entry() {
        let mut last = LastPressure::default();
        assert!(!last.entered_compact("s", Pressure::Alert));
        assert!(last.entered_compact("s", Pressure::Compact));
        assert!(!last.entered_compact("s", Pressure::Compact));
        assert!(!last.entered_compact("s", Pressure::Ok));
        assert!(last.entered_compact("s", Pressure::Compact));
    }
}
