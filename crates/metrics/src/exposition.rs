//! The two text formats `/metrics` serves. `prometheus-client` writes OpenMetrics; a
//! scraper that does not ask for it (no `application/openmetrics-text` in `Accept`) gets
//! the Prometheus text format 0.0.4, which names a counter's family with its `_total`,
//! has no `info` type, no `# UNIT` and no `# EOF`.

/// OpenMetrics text → Prometheus text format 0.0.4.
pub fn prometheus_text(openmetrics: &str) -> String {
    // Families by type, from the `# TYPE` lines (HELP comes first, so two passes).
    let mut renamed: Vec<(String, String, &str)> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            match kind {
                "counter" if !name.ends_with("_total") => {
                    renamed.push((name.into(), format!("{name}_total"), "counter"))
                }
                "info" => renamed.push((name.into(), format!("{name}_info"), "gauge")),
                _ => {}
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            let (_, new, kind) = renamed.iter().find(|(old, _, _)| old == name)?;
            Some(if *prefix == "# TYPE " { format!("{prefix}{new} {kind}") } else { format!("{prefix}{new} {tail}") })
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// The content types of the two forms.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_total_and_eof_and_units_go() {
        let om = "# HELP tether_requests Requests.\n# TYPE tether_requests counter\n\
                  tether_requests_total{method=\"a\"} 3\n# HELP up_seconds Up.\n# TYPE up_seconds gauge\n\
                  # UNIT up_seconds seconds\nup_seconds 1.5\n# HELP x_total Already.\n# TYPE x_total counter\nx_total 1\n# EOF\n";
        let text = prometheus_text(om);
        assert_eq!(
            text,
            "# HELP tether_requests_total Requests.\n# TYPE tether_requests_total counter\n\
             tether_requests_total{method=\"a\"} 3\n# HELP up_seconds Up.\n# TYPE up_seconds gauge\nup_seconds 1.5\n\
             # HELP x_total Already.\n# TYPE x_total counter\nx_total 1\n"
        );
    }
}
