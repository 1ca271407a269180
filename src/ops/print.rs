//! Output: aligned tables for people, one JSON object per line for scripts.

use serde_json::Value;

use crate::cli::Conn;

/// A value as a table cell: strings bare, nothing as `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows collected, then printed aligned (or as JSON lines: the whole objects).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    objects: Vec<Value>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new(), objects: Vec::new() }
    }

    pub fn row<'a>(&mut self, object: &Value, cells: impl IntoIterator<Item = &'a Value>) {
        self.rows.push(cells.into_iter().map(text).collect());
        self.objects.push(object.clone());
    }

    pub fn print(&self, conn: &Conn) {
        if conn.json() {
            for object in &self.objects {
                println!("{object}");
            }
            return;
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            println!("{}", padded.join("  ").trim_end());
        };
        line(self.headers.iter().map(|h| h.to_string()).collect());
        for row in &self.rows {
            line(row.clone());
        }
    }
}

impl Table {
    /// The JSON lines of rows new or changed since `printed` (keyed by the first
    /// column); `printed` then holds exactly this table's rows, so it never outgrows it.
    pub fn print_changes(&self, printed: &mut std::collections::HashMap<String, String>) {
        let mut now = std::collections::HashMap::with_capacity(self.rows.len());
        for (row, object) in self.rows.iter().zip(&self.objects) {
            let key = row.first().cloned().unwrap_or_default();
            let line = object.to_string();
            if printed.get(&key) != Some(&line) {
                println!("{line}");
            }
            now.insert(key, line);
        }
        *printed = now;
    }
}

/// One object: as JSON, or as the line `human` makes of it.
pub fn one(conn: &Conn, value: &Value, human: impl Fn(&Value) -> String) {
    if conn.json() {
        println!("{value}");
    } else {
        println!("{}", human(value));
    }
}

/// One event, as it arrives.
pub fn event(conn: &Conn, event: &Value) {
    one(conn, event, |e| {
        let scope: Vec<String> = [("run", &e["run_id"]), ("session", &e["session_id"]), ("agent", &e["agent_id"])]
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect();
        format!("{}  {:<26}  {:<24}  {}", text(&e["timestamp"]), text(&e["family"]), text(&e["kind"]), scope.join(" "))
    });
}

/// One run record as a trace line: when, what, the tool, how it went.
pub fn record(conn: &Conn, record: &Value) {
    one(conn, record, |r| match r["record"].as_str().unwrap_or_default() {
        "started" => format!("{}  started   {}", text(&r["started_at"]), text(&r["intent"])),
        "turn" => format!(
            "{}  turn {:<4} {:<20} {:<10} {} ms{}",
            text(&r["recorded_at"]),
            text(&r["index"]),
            text(&r["tool"]),
            text(&r["status"]),
            text(&r["duration_ms"]),
            r["error"].as_str().map(|e| format!("  error: {e}")).unwrap_or_default()
        ),
        "ended" => {
            let termination = &r["termination"];
            let how = match termination["kind"].as_str() {
                Some("outcome") => format!(
                    "{}{}",
                    text(&termination["status"]),
                    termination["outcome"]["summary"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
                Some(kind) => kind.to_owned(),
                None => "-".into(),
            };
            format!("{}  ended     {how}", text(&r["ended_at"]))
        }
        other => format!("{other}: {r}"),
    });
}
