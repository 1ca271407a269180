//! The ceiling of a durable turn: per proposal, the `tools.execute` callback to the
//! same connection, one record written and `fdatasync`ed through a group-commit
//! writer thread (every waiting record in one write and one sync), then the reply.
//! No validation, no index, no events: only what a durable turn cannot skip. Like
//! tether's journal, it keeps 256 KiB of zeros written ahead of its records, so a
//! sync need not change the file's length (the cheaper `fdatasync`).
//! And `turns`, the client both servers are driven by.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Commit = (Vec<u8>, oneshot::Sender<()>);

/// A `call_id` as tether makes one: run id, proposal id, action id, attempt.
const CALL_ID: &str = "01M94989NK6P70Z1FJECKT0QV2:01M94989NNP2NZSHP99YB3GQ6W:a1:1";

/// `car_frames`: the callback and the reply carry every field tether's do (a call's
/// `timeout_ms`, `attempt`, `request_id` and a `call_id` of tether's length; a ULID
/// proposal id and `duration_ms`), so that the JSON both ends write and parse is the
/// protocol's, not the least a turn needs. Measures what the wire contract costs.
pub async fn serve(dir: &str, car_frames: bool) {
    const AHEAD: u64 = 256 << 10;
    let file = OpenOptions::new().create(true).truncate(true).write(true).open(format!("{dir}/ceiling.log")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Commit>();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let (mut end, mut allocated) = (0u64, 0u64);
        while let Ok(first) = rx.recv() {
            let batch: Vec<Commit> = std::iter::once(first).chain(rx.try_iter()).collect();
            buf.clear();
            for (record, _) in &batch {
                buf.extend_from_slice(record);
            }
            file.write_all_at(&buf, end).unwrap();
            end += buf.len() as u64;
            if end > allocated {
                file.write_all_at(&vec![0; AHEAD as usize], end).unwrap();
                allocated = end + AHEAD;
            }
            file.sync_data().unwrap();
            for (_, done) in batch {
                let _ = done.send(());
            }
        }
    });
    let listener = crate::listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = crate::accept(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else { continue };
                let request: Value = serde_json::from_str(&text).unwrap();
                let id = request["id"].clone();
                if request["method"] != "proposal.submit" {
                    let reply = json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string();
                    if ws.send(Message::Text(reply.into())).await.is_err() {
                        return;
                    }
                    continue;
                }
                let action = &request["params"]["proposal"]["actions"][0];
                let mut call = json!({"jsonrpc": "2.0", "id": "s1", "method": "tools.execute",
                    "params": {"action_id": "a1", "tool": action["tool"], "parameters": action["parameters"]}});
                if car_frames {
                    let params = call["params"].as_object_mut().unwrap();
                    params.insert("timeout_ms".into(), json!(300_000));
                    params.insert("attempt".into(), json!(1));
                    params.insert("request_id".into(), json!("cb-1"));
                    params.insert("call_id".into(), json!(CALL_ID));
                }
                if ws.send(Message::Text(call.to_string().into())).await.is_err() {
                    return;
                }
                let output = loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(text))) => {
                            let reply: Value = serde_json::from_str(&text).unwrap();
                            if reply["id"] == "s1" {
                                break reply["result"].clone();
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                };
                let mut record = serde_json::to_vec(&json!({"record": "turn", "tool": action["tool"],
                    "parameters": action["parameters"], "output": output, "status": "succeeded"}))
                .unwrap();
                record.push(b'\n');
                let (done, synced) = oneshot::channel();
                tx.send((record, done)).unwrap();
                synced.await.unwrap();
                let mut reply = json!({"jsonrpc": "2.0", "id": id, "result": {"proposal_id": "p",
                    "results": [{"action_id": "a1", "status": "succeeded", "output": output}]}});
                if car_frames {
                    reply["result"]["proposal_id"] = json!(&CALL_ID[27..53]);
                    reply["result"]["results"][0]["duration_ms"] = json!(0);
                }
                if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// `turns URL RUNS SECONDS [--token T] [--count N]`: RUNS connections, each registering
/// a tool, starting a run (tether) and then submitting one-action proposals in a loop,
/// answering every `tools.execute` with its parameters. Prints `rate=… p50_us=… p99_us=…`.
/// With `--count`, each run submits exactly N proposals, all counted, and SECONDS is
/// ignored (for instruction counts, which must not depend on the machine's speed).
/// A second line, `turns_all=…`, counts every turn, warm-up included (for CPU per turn,
/// read from the server's `/proc` around the whole run).
pub async fn turns(args: &[String]) {
    let url = &args[0];
    let runs: usize = args[1].parse().unwrap();
    let seconds: f64 = args[2].parse().unwrap();
    let token = args.iter().position(|a| a == "--token").map(|i| args[i + 1].clone());
    let count: Option<u64> = args.iter().position(|a| a == "--count").map(|i| args[i + 1].parse().unwrap());
    // Counted from the first proposal when their number is fixed.
    let counting = Arc::new(AtomicBool::new(count.is_some()));
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let all = Arc::new(AtomicU64::new(0));
    // A counted turn's two halves: proposal sent to `tools.execute` read, and reply
    // sent to answer read (the client's own work between them left out), so a gap to
    // the ceiling shows which side of the callback it is on.
    let halves = Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let mut tasks = Vec::new();
    for r in 0..runs {
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(token) = &token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(crate::config()), true).await.unwrap();
        let setup = [
            json!({"jsonrpc": "2.0", "id": 0, "method": "server.handshake", "params": {"protocol_version": 3}}),
            json!({"jsonrpc": "2.0", "id": 0, "method": "tools.register", "params": [{"name": "echo"}]}),
            json!({"jsonrpc": "2.0", "id": 0, "method": "runs.start",
                "params": {"intent": "bench", "agent_id": format!("turns-{}-{r}", std::process::id())}}),
        ];
        for call in setup {
            ws.send(Message::Text(call.to_string().into())).await.unwrap();
            loop {
                if let Message::Text(text) = ws.next().await.unwrap().unwrap() {
                    assert!(!text.contains("\"error\""), "{text}");
                    break;
                }
            }
        }
        let (counting, stop, counted, all) = (counting.clone(), stop.clone(), counted.clone(), all.clone());
        let halves = halves.clone();
        tasks.push(tokio::spawn(async move {
            let proposal = json!({"jsonrpc": "2.0", "id": 1, "method": "proposal.submit", "params":
                {"proposal": {"actions": [{"type": "tool_call", "tool": "echo", "parameters": {"x": 1}}]}}})
            .to_string();
            let mut latencies = Vec::new();
            let (mut to_call, mut to_answer) = (Vec::new(), Vec::new());
            let mut submitted = 0u64;
            while !stop.load(Ordering::Relaxed) && count.is_none_or(|count| submitted < count) {
                submitted += 1;
                let sent = Instant::now();
                let (mut called, mut replied) = (sent, sent);
                ws.send(Message::Text(proposal.as_str().into())).await.unwrap();
                loop {
                    let Message::Text(text) = ws.next().await.unwrap().unwrap() else { continue };
                    let read = Instant::now();
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if frame["method"] == "tools.execute" {
                        called = read;
                        let reply =
                            json!({"jsonrpc": "2.0", "id": frame["id"], "result": frame["params"]["parameters"]});
                        ws.send(Message::Text(reply.to_string().into())).await.unwrap();
                        replied = Instant::now();
                        continue;
                    }
                    assert!(frame.get("result").is_some(), "{text}");
                    break;
                }
                all.fetch_add(1, Ordering::Relaxed);
                if counting.load(Ordering::Relaxed) {
                    counted.fetch_add(1, Ordering::Relaxed);
                    latencies.push(sent.elapsed().as_secs_f64() * 1e6);
                    to_call.push((called - sent).as_secs_f64() * 1e6);
                    to_answer.push(replied.elapsed().as_secs_f64() * 1e6);
                }
            }
            let mut halves = halves.lock().unwrap();
            halves.0.append(&mut to_call);
            halves.1.append(&mut to_answer);
            latencies
        }));
    }
    let (n, elapsed, latencies) = if count.is_some() {
        let start = Instant::now();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.append(&mut task.await.unwrap());
        }
        (counted.load(Ordering::Relaxed), start.elapsed().as_secs_f64(), latencies)
    } else {
        crate::load::timed(&counting, &stop, &counted, seconds, tasks).await
    };
    crate::load::report(n, elapsed, latencies);
    let (mut to_call, mut to_answer) = std::mem::take(&mut *halves.lock().unwrap());
    let p50 = |v: &mut Vec<f64>| {
        crate::load::sort(v);
        crate::load::quantile(v, 0.5)
    };
    println!(
        "turns_all={} call_p50_us={:.1} answer_p50_us={:.1}",
        all.load(Ordering::Relaxed),
        p50(&mut to_call),
        p50(&mut to_answer)
    );
}
