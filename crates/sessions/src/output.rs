//! Reading a session's output log: from an offset, or its last lines.

use std::io::{Read, Seek, SeekFrom};

use tether_proto::sessions::{OutputParams, OutputResult};

use crate::error::{SessionsError, invalid};
use crate::manager::Sessions;

impl Sessions {
    pub async fn output(&self, params: OutputParams) -> Result<OutputResult, SessionsError> {
        Ok(self.read_log(params).await?.1)
    }

    /// The text asked for and the offset it starts at: later than asked when the log's
    /// head was released (`sessions.max_log_bytes`).
    pub(crate) async fn read_log(&self, params: OutputParams) -> Result<(u64, OutputResult), SessionsError> {
        self.get(&params.session_id)?;
        let path = self.store.log_path(&params.session_id);
        let max = self.config.max_output_bytes as u64;
        if params.tail_lines.is_some() && params.since_offset.is_some() {
            return Err(invalid("tail_lines", "give tail_lines or since_offset, not both"));
        }
        tokio::task::spawn_blocking(move || -> Result<(u64, OutputResult), SessionsError> {
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok((0, OutputResult { text: String::new(), next_offset: 0 }));
                }
                Err(e) => return Err(e.into()),
            };
            let len = file.metadata()?.len();
            // Before it, the log's head was released (`sessions.max_log_bytes`): text starts here.
            let held = crate::logbound::first_held(&file, len)?;
            let (start, end) = match (params.tail_lines, params.since_offset) {
                (Some(_), _) => (len.saturating_sub(max).max(held), len),
                (None, since) => {
                    let start = since.unwrap_or(0).clamp(held, len);
                    (start, len.min(start + max))
                }
            };
            file.seek(SeekFrom::Start(start))?;
            let mut bytes = vec![0; (end - start) as usize];
            file.read_exact(&mut bytes)?;
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some(n) = params.tail_lines {
                text = last_lines(&text, n).to_owned();
            }
            Ok((start, OutputResult { text, next_offset: end }))
        })
        .await
        .map_err(|e| SessionsError::Io(e.to_string()))?
    }
}

/// The last `n` lines of `text` (a trailing newline does not start a new line).
fn last_lines(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n - 1) {
        Some((at, _)) => &text[at + 1..],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn tails() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 1), "c");
        assert_eq!(last_lines("a\nb\n", 5), "a\nb\n");
        assert_eq!(last_lines("a\n", 0), "");
    }
}
