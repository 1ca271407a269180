//! `tether runs fork | diff`, and the origin, usage and budget lines of `runs show`.

use std::io::IsTerminal;

use serde_json::{Value, json};

use super::print;
use super::{Failure, Outcome};
use crate::cli::Conn;

pub async fn fork(run: String, turns: Option<u32>, intent: Option<String>, conn: Conn) -> Outcome {
    // Reattachable: the fork outlives this command, detached, for a harness to resume.
    let client = crate::connect::connect_with(&conn.target, &[tether_proto::runs::REATTACH_CAPABILITY])
        .await
        .map_err(Failure::Usage)?;
    let run = super::ids::run(&client, &run).await?;
    let forked = client.call_raw("runs.fork", json!({"run_id": run, "turns": turns, "intent": intent})).await?;
    print::one(&conn, &forked, |f| {
        format!(
            "forked {} ({} turns) as {}\nresume it with runs.resume {{\"run_id\": \"{}\", \"resume_token\": \"{}\"}}",
            print::text(&f["forked_from"]["run_id"]),
            f["forked_from"]["turns"],
            print::text(&f["run_id"]),
            print::text(&f["run_id"]),
            print::text(&f["resume_token"]),
        )
    });
    Ok(())
}

pub async fn diff(a: String, b: String, conn: Conn) -> Outcome {
    let client = super::client(&conn).await?;
    let a = super::ids::run(&client, &a).await?;
    let b = super::ids::run(&client, &b).await?;
    let diff = client.call_raw("runs.diff", json!({"run_id": a, "other_run_id": b})).await?;
    if conn.json() {
        println!("{diff}");
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", unified(&diff, colour));
    }
    Ok(())
}

/// A diff as people read it: `---`/`+++` headers, one line per pair (` ` same, `~`
/// changed, `-` only in a, `+` only in b), each changed path with its two values.
pub fn unified(diff: &Value, colour: bool) -> String {
    let paint = |code: &str, text: String| if colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text };
    let mut out = String::new();
    out.push_str(&paint("1", format!("--- a {}\n", print::text(&diff["run_id"]))));
    out.push_str(&paint("1", format!("+++ b {}\n", print::text(&diff["other_run_id"]))));
    for pair in diff["pairs"].as_array().into_iter().flatten() {
        let at = |side: &str| pair[side].as_u64().map_or("-".to_owned(), |n| n.to_string());
        let what = format!("{} {}", print::text(&pair["action_id"]), print::text(&pair["tool"]));
        match pair["verdict"].as_str().unwrap_or_default() {
            "same" => out.push_str(&format!("  [{}|{}] {what}\n", at("a_index"), at("b_index"))),
            "only_in_a" => out.push_str(&paint("31", format!("- [{}|-] {what}  only in a\n", at("a_index")))),
            "only_in_b" => out.push_str(&paint("32", format!("+ [-|{}] {what}  only in b\n", at("b_index")))),
            _ => {
                out.push_str(&paint("33", format!("~ [{}|{}] {what}  changed\n", at("a_index"), at("b_index"))));
                for change in pair["changes"].as_array().into_iter().flatten() {
                    out.push_str(&format!("    {}\n", print::text(&change["path"])));
                    out.push_str(&paint("31", format!("-     {}\n", shown(&change["a"]))));
                    out.push_str(&paint("32", format!("+     {}\n", shown(&change["b"]))));
                }
            }
        }
    }
    let c = &diff["counts"];
    out.push_str(&format!(
        "{} same, {} changed, {} only in a, {} only in b{}\n",
        c["same"],
        c["changed"],
        c["only_in_a"],
        c["only_in_b"],
        if diff["truncated"] == true { " (some changed pairs list only their first paths)" } else { "" }
    ));
    out
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

/// `runs show`'s lines for a fork's or replay's origin, the usage and the budget.
pub fn origin_and_budget(s: &Value) -> String {
    let mut text = format!("\nstatus: {}", print::text(&s["status"]));
    if let Some(from) = s["forked_from"].as_object() {
        text.push_str(&format!("\nforked from {} after {} turns", print::text(&from["run_id"]), from["turns"]));
    }
    if let Some(of) = s["replay_of"].as_str() {
        text.push_str(&format!("\nreplay of {of}"));
    }
    let u = &s["usage"];
    text.push_str(&format!(
        "\nusage: {} tool calls, {} input + {} output tokens, ${}, {} ms",
        u["tool_calls"], u["input_tokens"], u["output_tokens"], u["cost_usd"], u["duration_ms"]
    ));
    if let Some(budget) = s["budget"].as_object() {
        let limits: Vec<String> = budget.iter().map(|(k, v)| format!("{k} {v}")).collect();
        text.push_str(&format!("\nbudget: {}", limits.join(", ")));
    }
    if let Some(breach) = s["budget_exceeded"].as_object() {
        text.push_str(&format!(
            "\nbudget exceeded: {} = {} (would be {})",
            print::text(&breach["limit"]),
            breach["max"],
            breach["used"]
        ));
    }
    text
}
