//! A harness that rides through daemon restarts: tools, one run, proposals.
//!
//! [`Harness`] connects with `runs.reattach.v1`, answers `tools.execute` by `call_id`
//! (a redelivered call joins its first run, so each tool body runs once), and when the
//! connection drops under a call it reconnects with backoff, registers its tools again,
//! reclaims its run with the resume token, and submits the proposal again with the
//! same id: the daemon answers what it journalled and runs only the rest.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tether_proto::ErrorObject;
use tether_proto::proposal::{Proposal, SubmitResult};
use tether_proto::runs::{REATTACH_CAPABILITY, RESUME_CAPABILITY};
use tether_proto::tools::{EXECUTE, ExecuteParams, ToolDefinition};
use tokio::sync::watch;

use crate::{Client, ClientBuilder, ClientError};

type ToolFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorObject>> + Send>>;
/// A tool body: its name and parameters in, its output (or an error) out.
pub type ToolFn = Arc<dyn Fn(String, Value) -> ToolFuture + Send + Sync>;

/// How a harness reconnects.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Stop retrying after this long without a connection.
    pub give_up_after: Duration,
    /// Finished tool calls remembered for redeliveries.
    pub max_finished_calls: usize,
    /// Submit a proposal again after a reconnect; `false` returns `ClientError::Closed`
    /// (the outcome unknown) to the caller instead.
    pub ride_through: bool,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            give_up_after: Duration::from_secs(120),
            max_finished_calls: 4096,
            ride_through: true,
        }
    }
}

type Outcome = Option<Result<Value, ErrorObject>>;

/// Tool calls by `call_id`: running ones are joined, finished ones answered again.
struct Calls {
    by_id: HashMap<String, watch::Receiver<Outcome>>,
    finished: VecDeque<String>,
    max: usize,
}

struct Run {
    id: String,
    token: Option<String>,
}

struct Shared {
    builder: ClientBuilder,
    tools: Vec<ToolDefinition>,
    options: HarnessOptions,
    client: tokio::sync::Mutex<Client>,
    run: Mutex<Option<Run>>,
    reconnects: std::sync::atomic::AtomicU64,
    /// Proposal ids: this process, this harness's birth, a counter (unique, and stable
    /// across the re-submissions of one proposal).
    born: u128,
    proposals: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct Harness(Arc<Shared>);

impl Harness {
    /// Connects `builder` (with its token and agent) as a harness offering `tools`,
    /// each call handled by `body`.
    pub async fn connect(
        builder: ClientBuilder,
        tools: Vec<ToolDefinition>,
        body: ToolFn,
        options: HarnessOptions,
    ) -> Result<Harness, ClientError> {
        let calls = Arc::new(Mutex::new(Calls {
            by_id: HashMap::new(),
            finished: VecDeque::new(),
            max: options.max_finished_calls,
        }));
        let builder = builder
            .optional_capability(RESUME_CAPABILITY)
            .optional_capability(REATTACH_CAPABILITY)
            .on_request(EXECUTE, move |params| answer(calls.clone(), body.clone(), params));
        let client = open(&builder, &tools).await?;
        Ok(Harness(Arc::new(Shared {
            builder,
            tools,
            options,
            client: tokio::sync::Mutex::new(client),
            run: Mutex::new(None),
            reconnects: Default::default(),
            born: nanos(),
            proposals: Default::default(),
        })))
    }

    /// Reconnections so far.
    pub fn reconnects(&self) -> u64 {
        self.0.reconnects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connection in use (for raw calls).
    pub async fn client(&self) -> Client {
        self.0.client.lock().await.clone()
    }

    /// Starts the harness's run (it becomes the connection's current run).
    pub async fn start_run(&self, intent: &str) -> Result<String, ClientError> {
        let client = self.live().await?;
        let started = client.call_raw("runs.start", json!({ "intent": intent })).await?;
        let id = started["run_id"].as_str().unwrap_or_default().to_owned();
        let token = started["resume_token"].as_str().map(str::to_owned);
        *self.0.run.lock() = Some(Run { id: id.clone(), token });
        Ok(id)
    }

    /// Submits `proposal` (given an id if it has none, and ids for its actions), riding
    /// through dropped connections and daemon restarts.
    pub async fn submit(&self, mut proposal: Proposal) -> Result<SubmitResult, ClientError> {
        if proposal.id.is_none() {
            let n = self.0.proposals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            proposal.id = Some(format!("p-{}-{}-{n}", std::process::id(), self.0.born));
        }
        for (n, action) in proposal.actions.iter_mut().enumerate() {
            action.id.get_or_insert_with(|| format!("a{}", n + 1));
        }
        let params = json!({ "proposal": proposal });
        loop {
            let client = self.live().await?;
            match client.call_raw("proposal.submit", params.clone()).await {
                Ok(reply) => return Ok(serde_json::from_value(reply)?),
                Err(ClientError::Closed)
                    if self.0.options.ride_through && self.0.run.lock().as_ref().is_some_and(|r| r.token.is_some()) =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Ends the run with an outcome.
    pub async fn complete(&self, status: &str, summary: &str) -> Result<(), ClientError> {
        let run_id = self.0.run.lock().as_ref().map(|r| r.id.clone()).unwrap_or_default();
        let outcome = json!({ "run_id": run_id, "outcome": { "status": status, "summary": summary } });
        self.live().await?.call_raw("runs.complete", outcome).await?;
        Ok(())
    }

    /// The current connection, or a new one (tools registered, run reclaimed) when it
    /// dropped; retries with backoff until `give_up_after`. The lock is held across the
    /// reconnect on purpose: concurrent callers wait for one reconnect instead of racing.
    async fn live(&self) -> Result<Client, ClientError> {
        let mut client = self.0.client.lock().await;
        if !client.is_closed() {
            return Ok(client.clone());
        }
        let started = tokio::time::Instant::now();
        let mut delay = self.0.options.initial_backoff;
        loop {
            tokio::time::sleep(delay + jitter(delay)).await;
            match self.reopen().await {
                Ok(fresh) => {
                    *client = fresh.clone();
                    self.0.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(fresh);
                }
                Err(ClientError::Rpc(error)) if error.code != tether_proto::codes::AUTH_REQUIRED => {
                    return Err(ClientError::Rpc(error)); // e.g. the run cannot be resumed
                }
                Err(error) if started.elapsed() >= self.0.options.give_up_after => return Err(error),
                Err(_) => delay = (delay * 2).min(self.0.options.max_backoff),
            }
        }
    }

    async fn reopen(&self) -> Result<Client, ClientError> {
        let client = open(&self.0.builder, &self.0.tools).await?;
        let run = self.0.run.lock().as_ref().map(|r| (r.id.clone(), r.token.clone()));
        if let Some((run_id, token)) = run {
            match client.call_raw("runs.resume", json!({ "run_id": run_id, "resume_token": token })).await {
                Ok(_) => {}
                Err(ClientError::Closed) => return Err(ClientError::Closed),
                Err(error) => {
                    *self.0.run.lock() = None; // ended meanwhile, or taken over: lost
                    return Err(error);
                }
            }
        }
        Ok(client)
    }
}

async fn open(builder: &ClientBuilder, tools: &[ToolDefinition]) -> Result<Client, ClientError> {
    let client = builder.clone().connect().await?;
    if !tools.is_empty() {
        client.call_raw("tools.register", serde_json::to_value(tools)?).await?;
    }
    Ok(client)
}

/// Answers one `tools.execute`: a call already seen (same `call_id`) is joined.
fn answer(calls: Arc<Mutex<Calls>>, body: ToolFn, params: Value) -> ToolFuture {
    Box::pin(async move {
        let call: ExecuteParams = serde_json::from_value(params)
            .map_err(|e| ErrorObject::new(tether_proto::codes::INVALID_PARAMS, e.to_string()))?;
        let known = (!call.call_id.is_empty()).then(|| calls.lock().by_id.get(&call.call_id).cloned()).flatten();
        let mut outcome = match known {
            Some(running_or_done) => running_or_done,
            None => {
                let (tx, rx) = watch::channel(None);
                let key = call.call_id.clone();
                if !key.is_empty() {
                    calls.lock().by_id.insert(key.clone(), rx.clone());
                }
                let registry = calls.clone();
                // Its own task: the body finishes (and is remembered) even if the
                // connection that asked for it is gone.
                tokio::spawn(async move {
                    let result = body(call.tool, call.parameters).await;
                    tx.send_replace(Some(result));
                    if !key.is_empty() {
                        registry.lock().finished(key);
                    }
                });
                rx
            }
        };
        let done = outcome.wait_for(Option::is_some).await.map_err(|_| {
            ErrorObject::new(tether_proto::codes::INTERNAL_ERROR, "the tool call ended without an answer")
        })?;
        done.clone().expect("waited for Some")
    })
}

impl Calls {
    /// A call finished: remember it, forgetting the oldest finished beyond the bound.
    fn finished(&mut self, key: String) {
        self.finished.push_back(key);
        while self.finished.len() > self.max {
            if let Some(old) = self.finished.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

/// Up to a quarter of `delay`, so restarted daemons are not met by every harness at once.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64((nanos() % 1000) as f64 / 4000.0)
}
